"""数字达拉特规划 (Art 4): the office drafts or revises the plan with the departments; the government approves."""
from common import Diagram, due_in, enum, file, lanes, line, text, units, yes_no


def build() -> Diagram:
    d = Diagram("planning", "数字达拉特规划编制和修订", lanes("office", "unit", "government"), starter_groups="office",
                doc="第四条：领导小组办公室会同有关部门统筹考虑并充分论证各部门建设需求，编制更新数字达拉特规划，报旗人民政府批准后实施；"
                    "内外部发展环境发生重大变化时，适时组织评估论证，提出调整意见报旗人民政府批准。各部门规划涉及数字达拉特建设的，应当与之衔接。")
    d.start("planning_started", "启动编制或修订", "office", 0, 0, doc="第四条：领导小组办公室启动规划编制或更新。",
            form=[line("plan_period", "规划期", help="例：2026—2030"),
                  enum("planning_kind", "事项", [("draft", "编制规划"), ("revise", "修订规划")]),
                  units("department_codes", "征求意见的部门", multiple=True)])
    d.start("major_change_reported", "发展环境重大变化", "office", 0, 1, message="planning_major_change",
            doc="第四条：内外部发展环境发生重大变化（消息 planning_major_change，变量 change_description、department_codes、plan_period），启动修订。")
    d.gateway("start_merge", "", "office", 1)
    d.rule_task("set_review_periods", "确定办理时限", "unit", 1, decision="review_periods", result="periods",
                inputs={"stage": "planning"}, doc="办理时限决策表（review_periods）的 planning 行：各部门办理时限（工作日）。")
    d.gateway("draft_merge", "", "office", 2, doc="第四条：旗人民政府退回后重新修改。")
    d.user_task("draft_plan", "编制规划草案或调整意见", "office", 3, groups="office",
                doc="第四条：领导小组办公室根据信息化发展规律和政务信息化建设特点编制规划草案；重大变化时组织评估论证，提出调整意见。",
                form=[file("plan_draft", "规划草案或调整意见"), text("draft_summary", "主要内容")])
    d.user_task("give_department_opinion", "提出建设需求和意见", "unit", 4, groups="unit:${unit}", due=due_in("periods.unit_days"),
                collection="${department_codes.split(',')}", element="unit", output_collection="department_opinions",
                doc="第四条：各有关部门提出建设需求和意见；部门规划涉及数字达拉特建设的，应当与数字达拉特规划衔接。",
                form=[text("department_needs", "建设需求和意见"),
                      yes_no("department_plan_aligned", "本部门规划已与数字达拉特规划衔接", required=True)])
    d.user_task("finalize_plan", "论证并形成报批稿", "office", 5, groups="office",
                doc="第四条：统筹考虑并充分论证各部门建设需求，形成报批稿。",
                form=[file("plan_final", "规划报批稿"), text("evaluation_opinion", "论证意见")])
    d.user_task("approve_planning", "审批数字达拉特规划", "government", 6, groups="government", due=due_in("periods.government_days"),
                doc="第四条：报旗人民政府批准后实施。",
                form=[enum("planning_decision", "审批结论", [("approve", "批准实施"), ("return", "退回修改")]),
                      line("planning_doc_no", "批准文号"), text("planning_opinion", "意见")])
    d.gateway("planning_outcome", "批准？", "government", 7)
    d.end("plan_in_force", "规划批准实施", "government", 8, doc="第四条：规划批准后实施，作为年度计划的依据（第五条）。")
    d.flow("planning_started", "start_merge")
    d.flow("major_change_reported", "start_merge")
    d.chain("start_merge", "set_review_periods", "draft_merge", "draft_plan", "give_department_opinion", "finalize_plan", "approve_planning",
            "planning_outcome")
    d.flow("planning_outcome", "plan_in_force", "批准", cond="${planning_decision == 'approve'}")
    d.flow("planning_outcome", "draft_merge", "退回", default=True, route="above")
    return d
