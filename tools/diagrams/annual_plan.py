"""年度建设计划 (Art 5): departments submit, the office reviews, the leading group approves, finance
issues the special funds, each included entry starts a project."""
from common import Diagram, Field, due_in, day, enum, file, lanes, line, money, text, units

SORT = """entries = []
late_departments = []
for s in submissions:
    if s.get('dept_entries'):
        entries.extend(s.get('dept_entries'))
    else:
        late_departments.append(s.get('unit'))
"""
INCLUDE = """included = []
plan_total = 0
i = 0
for e in entries:
    if reviewed_entries[i].get('plan_decision') == 'include':
        included.append(e)
        plan_total = plan_total + e.get('estimated_budget')
    i = i + 1
"""


def build() -> Diagram:
    d = Diagram("annual_plan", "年度建设计划", lanes("office", "unit", "leading_group", "finance"),
                starter_groups="office",
                doc="第五条：旗直各部门每年向领导小组办公室提交下一年度项目计划，经领导小组办公室汇总出具审核意见，"
                    "经领导小组会议通过后确定下一年度的数字达拉特年度建设计划；旗财政局安排专项资金（第三条第（五）项）。"
                    "年度建设计划及投资概算一经确定，无特殊情况不再调整。")
    d.start("yearly_cycle", "每年9月1日", "office", 0, 0, timer=("timeCycle", "R/2026-09-01T09:00:00+08:00/P1Y"),
            doc="第五条：每年启动下一年度项目计划的征集（周期在图中设定，管理员可在 Modeler 中修改）。")
    d.start("started_by_office", "办公室启动", "office", 0, 1, doc="第五条：领导小组办公室也可手动启动。")
    d.gateway("start_merge", "", "office", 1, doc="第五条：两种启动方式汇合。")
    d.user_task("open_call", "发布年度项目计划申报通知", "office", 2, groups="office",
                doc="第五条：领导小组办公室发布下一年度项目计划申报通知，确定申报部门和截止期限。",
                form=[Field("plan_year", "计划年度", "long", required=True),
                      units("department_codes", "申报部门", multiple=True),
                      day("submission_deadline", "申报截止日期"), text("call_note", "申报要求", required=False)])
    d.rule_task("set_review_periods", "确定办理时限", "unit", 2, decision="review_periods", result="periods",
                inputs={"stage": "annual_plan"}, doc="办理时限决策表（review_periods）的 annual_plan 行：各部门办理时限（工作日）。")
    d.call("collect_department_plans", "各部门提交项目计划", "unit", 3, called="plan_submission",
           ins=[("${department}", "unit"), "plan_year", "submission_deadline"], outs=["all"],
           collection="${department_codes.split(',')}", element="department", output_collection="submissions",
           doc="第五条：每个部门一个申报（并行多实例），截止期限届满未提交的部门申报关闭。")
    d.script_task("sort_submissions", "汇总各部门申报", "office", 4, script=SORT,
                  doc="第五条：领导小组办公室汇总项目计划，记录逾期未报的部门。")
    d.gateway("review_merge", "", "office", 5, doc="第五条：领导小组退回后重新审核。")
    d.user_task("review_plan_entry", "审核：${entry.entry_name}", "office", 6, groups="office", due=due_in("periods.office_days"),
                collection="${entries}", element="entry", output_collection="reviewed_entries",
                doc="第五条：领导小组办公室对每个项目计划出具审核意见（纳入或不纳入及理由）；"
                    "是否依据数字达拉特规划建设是纳入的重要因素；后评价结果作为安排的参考（第二十九条）。",
                form=[enum("plan_decision", "审核意见", [("include", "纳入年度计划"), ("exclude", "不纳入")]),
                      text("plan_reason", "理由")])
    d.script_task("summarize_plan", "形成年度计划草案", "office", 7, script=INCLUDE,
                  doc="第五条：汇总纳入计划的项目及投资概算。")
    d.user_task("approve_plan", "审议${plan_year}年度建设计划", "leading_group", 8, groups="leading_group",
                due=due_in("periods.leading_group_days"),
                doc="第三条第（一）项、第五条：领导小组会议审议通过年度建设计划，或退回领导小组办公室重新审核。",
                form=[enum("plan_approval", "会议结论", [("approve", "通过"), ("return", "退回重新审核")]),
                      line("meeting_minutes_no", "会议纪要编号"), text("plan_approval_opinion", "会议意见")])
    d.gateway("approval_outcome", "会议结论", "leading_group", 9)
    d.user_task("issue_special_funds", "安排专项资金", "finance", 10, groups="finance", due=due_in("periods.finance_days"),
                doc="第三条第（五）项、第五条、第八条：旗财政局按年度建设计划安排专项资金；初步设计和概算批复后方下达项目建设资金。",
                form=[money("special_funds_amount", "专项资金（元）"), line("special_funds_doc_no", "资金文件文号"),
                      file("special_funds_document", "资金文件", required=False)])
    d.call("launch_plan_projects", "下达纳入计划的项目", "office", 11, called="project_launch",
           ins=[("${entry.project_id}", "project_id"),
                ("${entry.entry_name}", "project_name"), ("${entry.unit}", "unit"), ("${entry.category}", "category"),
                ("${entry.nature}", "nature"), ("${entry.estimated_budget}", "estimated_budget"), "plan_year",
                ("${''}", "framework_id"), ("${entry.follows_plan}", "follows_plan"),
                ("${entry.plan_clause}", "plan_clause")],
           collection="${included}", element="entry",
           doc="第五条：每个纳入年度计划的项目以消息 project_planned 启动一个项目全生命周期流程（业务键为各自的项目编号）。"
               "“依据数字达拉特规划建设”是纳入计划的因素，不等于第五条之二的“规划中已经明确的项目”：后者由领导小组办公室在项目中确认。")
    d.end("plan_issued", "年度计划下达", "office", 12, doc="第五条：年度建设计划确定，无特殊情况不再调整。")

    d.chain("yearly_cycle", "start_merge")
    d.flow("started_by_office", "start_merge")
    d.chain("start_merge", "open_call", "set_review_periods", "collect_department_plans", "sort_submissions", "review_merge",
            "review_plan_entry", "summarize_plan", "approve_plan", "approval_outcome")
    d.flow("approval_outcome", "issue_special_funds", "通过", cond="${plan_approval == 'approve'}")
    d.flow("approval_outcome", "review_merge", "退回", default=True, route="above")
    d.chain("issue_special_funds", "launch_plan_projects", "plan_issued")
    return d

