"""部门申报年度项目计划 (Art 5): one department's submission, called by the annual plan per department."""
from common import UNIT, Diagram, enum, lanes, line, money, text, yes_no

ENTRY_FORM = [
    line("entry_name", "项目名称", maxlength=100),
    text("basis", "建设依据"),
    money("estimated_budget", "投资概算（元）"),
    enum("nature", "项目性质", [("new", "新建"), ("upgrade", "升级改造"), ("om", "运维")]),
    enum("category", "项目类别", [("infrastructure", "电子政务基础设施"), ("software", "软件开发及购买"), ("om", "运维服务")]),
    text("schedule", "进度安排"),
    text("cloud_needs", "政务云资源需求"),
    text("sharing", "信息资源共享"),
    text("network_needs", "电子政务网络需求"),
    text("om_support", "运维保障"),
    yes_no("follows_plan", "依据数字达拉特规划建设", required=True),
    text("plan_clause", "依据的规划相关要求", required=False),
]


def build() -> Diagram:
    d = Diagram("plan_submission", "部门申报年度项目计划", lanes("unit", "office"),
                doc="第五条：旗直各部门每年向领导小组办公室提交下一年度项目计划。由年度建设计划流程按部门以多实例调用活动调用，"
                    "传入 unit、plan_year、submission_deadline；截止期限届满未提交的，本部门申报关闭并记为逾期。")
    d.start("call_received", "收到申报通知", "unit", 0, doc="第五条：领导小组办公室发布下一年度项目计划申报通知。")
    d.user_task("submit_plan_entry", "提交${plan_year}年度项目计划", "unit", 1, groups=UNIT, due="${submission_deadline}",
                doc="第五条：项目计划应包括建设依据、投资概算、项目性质、进度安排、政务云资源需求、信息资源共享、电子政务网络需求、"
                    "运维保障等情况；是否依据数字达拉特规划建设是纳入年度计划的重要因素；项目类别见第二条。",
                form=ENTRY_FORM)
    d.boundary("submission_deadline_passed", "申报截止", "submit_plan_entry",
               timer=("timeDate", "${str(add_days(date(submission_deadline), 1))}"),
               doc="第五条：截止期限届满仍未提交的，关闭本部门申报。")
    d.end("submission_received", "计划已提交", "unit", 2, doc="第五条：项目计划提交领导小组办公室汇总。")
    d.end("submission_late", "逾期未报（关闭）", "office", 2, doc="第五条：逾期未提交，本年度不纳入汇总。")
    d.flow("call_received", "submit_plan_entry")
    d.flow("submit_plan_entry", "submission_received")
    d.flow("submission_deadline_passed", "submission_late")
    return d
