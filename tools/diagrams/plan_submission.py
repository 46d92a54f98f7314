"""部门申报年度项目计划 (Art 5): one department's submission, called by the annual plan per department."""
from common import UNIT, Diagram, enum, lanes, line, money, text, yes_no

OPEN = """dept_entries = []
plan_clause = ''
"""
# Each entry keeps what the department typed and gets a business key of its own: P-<year>-<unit>-<NN>.
COLLECT = """n = len(dept_entries) + 1
dept_entries.append({'project_id': 'P-' + str(plan_year) + '-' + unit + '-' + ('0' + str(n) if n < 10 else str(n)),
                     'unit': unit, 'entry_name': entry_name, 'basis': basis, 'estimated_budget': estimated_budget,
                     'nature': nature, 'category': category, 'schedule': schedule, 'cloud_needs': cloud_needs,
                     'sharing': sharing, 'network_needs': network_needs, 'om_support': om_support,
                     'follows_plan': follows_plan, 'plan_clause': plan_clause})
plan_clause = ''
"""

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
    yes_no("more_entries", "本部门还有其他项目要申报"),
]


def build() -> Diagram:
    d = Diagram("plan_submission", "部门申报年度项目计划", lanes("unit", "office"),
                doc="第五条：旗直各部门每年向领导小组办公室提交下一年度项目计划。由年度建设计划流程按部门以多实例调用活动调用，"
                    "传入 unit、plan_year、submission_deadline；截止期限届满未提交的，本部门申报关闭并记为逾期。")
    d.start("call_received", "收到申报通知", "unit", 0, doc="第五条：领导小组办公室发布下一年度项目计划申报通知。")
    d.script_task("open_submission", "开始本部门申报", "unit", 1, script=OPEN, doc="第五条：本部门的项目计划清单。")
    d.gateway("entry_merge", "", "unit", 2)
    d.user_task("submit_plan_entry", "提交${plan_year}年度项目计划", "unit", 3, groups=UNIT, due="${submission_deadline}",
                doc="第五条：项目计划应包括建设依据、投资概算、项目性质、进度安排、政务云资源需求、信息资源共享、电子政务网络需求、"
                    "运维保障等情况；是否依据数字达拉特规划建设是纳入年度计划的重要因素；项目类别见第二条。"
                    "一个部门可以申报多个项目，每个项目一份计划、一个项目编号。",
                form=ENTRY_FORM)
    d.boundary("submission_deadline_passed", "申报截止", "submit_plan_entry",
               timer=("timeDate", "${str(add_days(date(submission_deadline), 1))}"),
               doc="第五条：截止期限届满仍未提交的，关闭本部门申报（已提交的项目计划保留）。")
    d.script_task("collect_entry", "登记项目计划", "unit", 4, script=COLLECT,
                  doc="第五条：每个项目计划一个项目编号 P-<年度>-<部门>-<序号>，不与其他项目共用。")
    d.gateway("more_check", "还有项目？", "unit", 5)
    d.end("submission_received", "计划已提交", "unit", 6, doc="第五条：项目计划提交领导小组办公室汇总。")
    d.end("submission_late", "逾期未报（关闭）", "office", 3, doc="第五条：逾期未提交，本年度不纳入汇总。")
    d.chain("call_received", "open_submission", "entry_merge", "submit_plan_entry", "collect_entry", "more_check")
    d.flow("more_check", "entry_merge", "继续申报", cond="${more_entries}", route="above")
    d.flow("more_check", "submission_received", "提交", default=True)
    d.flow("submission_deadline_passed", "submission_late")
    return d
