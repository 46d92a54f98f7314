"""年度建设计划调整 (Art 5, last sentence): a fixed annual plan changes only in special circumstances,
with the leading group's approval."""
from common import Diagram, Field, enum, file, lanes, line, money, text


def build() -> Diagram:
    d = Diagram("plan_change", "年度建设计划调整", lanes("office", "leading_group", "finance"), starter_groups="office",
                doc="第五条：数字达拉特年度建设计划及投资概算一经确定，无特殊情况不再调整；确需调整的，报领导小组审定。")
    d.start("change_requested", "提出计划调整", "office", 0, doc="第五条：领导小组办公室说明特殊情况，提出调整意见。",
            form=[line("plan_year", "计划年度"),
                  Field("project_id", "列入计划的项目", "string", required=True, properties={"dalad:choices": "projects"}),
                  text("special_circumstances", "特殊情况说明"),
                  text("change_content", "调整内容"), money("budget_change", "投资概算调整额（元）", required=False)])
    d.user_task("decide_plan_change", "审定计划调整", "leading_group", 1, groups="leading_group",
                doc="第三条第（一）项、第五条：领导小组审定年度建设计划的调整。",
                form=[enum("change_decision", "审定结论", [("approve", "同意调整"), ("reject", "不予调整")]),
                      line("change_minutes_no", "会议纪要编号"), text("change_opinion", "意见")])
    d.gateway("change_outcome", "同意？", "leading_group", 2)
    d.user_task("adjust_special_funds", "调整专项资金安排", "finance", 3, groups="finance",
                doc="第三条第（五）项、第五条：计划调整后，财政局相应调整专项资金安排。",
                form=[money("adjusted_funds", "调整后专项资金（元）"), line("adjust_doc_no", "调整文号"),
                      file("adjust_document", "资金调整文件", required=False)])
    d.end("plan_changed", "计划已调整", "finance", 4, message="plan_changed",
          inputs={"businessKey": "${project_id}", "plan_change_no": "${change_minutes_no}",
                  "plan_change_year": "${plan_year}"},
          doc="第五条、第八条：调整后的年度建设计划执行；项目流程收到消息 plan_changed 后方可下达建设资金。")
    d.end("plan_unchanged", "计划不作调整", "leading_group", 3, doc="第五条：无特殊情况不再调整。")
    d.chain("change_requested", "decide_plan_change", "change_outcome")
    d.flow("change_outcome", "adjust_special_funds", "同意", cond="${change_decision == 'approve'}")
    d.flow("change_outcome", "plan_unchanged", "不予调整", default=True)
    d.chain("adjust_special_funds", "plan_changed")
    return d
