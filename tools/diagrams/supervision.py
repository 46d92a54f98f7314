"""监督整改 (Art 25-27, 30): a bureau orders a project to rectify; the office decides what follows."""
from common import UNIT, Diagram, due_in, Lane, day, enum, file, lanes, line, project_key, text, units

ISSUERS = [("office", "领导小组办公室（旗大数据中心）"), ("drc", "旗发展和改革委员会"), ("finance", "旗财政局"),
           ("cac", "旗委网信办"), ("secrecy", "旗委保密机要局"), ("police", "旗公安局"), ("audit", "旗审计局")]
STARTERS = ",".join(i for i, _ in ISSUERS)


def build() -> Diagram:
    d = Diagram("supervision", "监督整改",
                [Lane("issuer", "监督部门"),
                 *lanes("unit", "office", "finance")],
                starter_groups=STARTERS,
                doc="第二十五条至第二十七条、第三十条：有关部门按职责分工对项目的信息共享、招标采购、资金使用、密码应用、"
                    "网络安全等实施监督，发现违反规定或批复要求的，要求项目建设单位限期整改；逾期不整改或整改后仍不符合要求的，"
                    "领导小组办公室可以通报批评、暂缓安排投资计划、暂停项目建设直至终止项目。项目从项目列表中选择（project_id 为项目流程的业务键），"
                    "整改通知、暂停、恢复、终止以消息 supervision_opened、project_suspended、suspension_decided、project_terminated "
                    "送达项目流程，项目在任何阶段都能收到。整改通知流程有自己的业务键。")
    d.start("order_issued", "下达限期整改通知", "issuer", 0, doc="第二十七条：监督部门发现问题，下达限期整改通知（问题、依据条款、整改期限）。",
            form=[project_key("project_id", existing=True), line("project_name", "项目名称", maxlength=100),
                  units("unit", "项目建设单位"),
                  enum("issuer", "下达部门", ISSUERS),
                  text("problem", "发现的问题"),
                  line("article", "违反的规定或批复要求", help="例：第二十七条 密码应用"),
                  day("rectification_deadline", "整改期限")])
    d.rule_task("set_review_periods", "确定办理时限", "issuer", 1, decision="review_periods", result="periods",
                inputs={"stage": "supervision"}, doc="办理时限决策表（review_periods）的 supervision 行：各部门办理时限（工作日）。")
    d.throw("notify_project", "通知被监督项目", "issuer", 1.6, 0, message="supervision_opened",
            inputs={"businessKey": "${project_id}", "supervision_problem": "${problem}",
                    "supervision_deadline": "${rectification_deadline}"},
            doc="第二十五条：整改通知送达项目流程；项目编号不存在的，整改通知无法下达（没有接收的项目）。")
    d.user_task("rectify_and_report", "限期整改并报告", "unit", 2, groups=UNIT, due="${rectification_deadline}",
                doc="第二十五条、第二十七条：项目建设单位接受监督，如实提供资料，在期限内整改并报告整改情况。",
                form=[text("rectification_report", "整改情况"), file("rectification_evidence", "整改报告及佐证材料")])
    d.boundary("rectification_overdue", "整改逾期", "rectify_and_report",
               timer=("timeDate", "${str(add_days(date(rectification_deadline), 1))}"),
               doc="第二十七条：逾期不整改的，由领导小组办公室处理。")
    d.user_task("verify_rectification", "核查整改情况", "issuer", 3, groups="${issuer}",
                doc="第二十七条：下达整改通知的部门核查整改是否到位。",
                form=[enum("verification_result", "核查结论", [("done", "整改到位"), ("not_done", "整改后仍不符合要求")]),
                      text("verification_opinion", "核查意见")])
    d.gateway("verification_outcome", "整改到位？", "issuer", 4)
    d.end("rectification_closed", "整改完成", "issuer", 5, doc="第二十七条：整改到位，监督事项办结。")
    d.gateway("penalty_merge", "", "office", 4, doc="第二十七条：逾期不整改或整改后仍不符合要求。")
    d.user_task("decide_penalty", "作出处理决定", "office", 5, groups="office", due=due_in("periods.office_days"),
                doc="第二十六条、第二十七条、第三十条：领导小组办公室决定通报批评、暂缓安排投资计划、暂停项目建设或终止项目。",
                form=[enum("penalty", "处理决定", [("criticize", "通报批评"), ("defer_investment", "暂缓安排投资计划"),
                                               ("suspend", "暂停项目建设"), ("terminate", "终止项目")]),
                      text("penalty_opinion", "处理意见")])
    d.gateway("penalty_outcome", "处理决定", "office", 6)
    d.end("criticized", "通报批评", "office", 7, 0, doc="第二十七条、第三十条：通报批评，纳入信息化考评（第二十六条）。")
    d.throw("send_suspension", "通知项目暂停建设", "office", 7, 1, message="project_suspended",
            inputs={"businessKey": "${project_id}", "suspension_reason": "${penalty_opinion}", "suspended": "${true}"},
            doc="第二十七条：暂停项目建设；项目流程在建设期收到消息 project_suspended 后等待处理决定。")
    d.end("send_termination", "通知项目终止", "office", 7, 2, message="project_terminated",
          inputs={"businessKey": "${project_id}", "termination_reason": "${penalty_opinion}"},
          doc="第二十七条：终止项目；项目流程收到消息 project_terminated 后结束。")
    d.user_task("defer_investment_plan", "暂缓安排投资计划", "finance", 7, groups="finance", due=due_in("periods.finance_days"),
                doc="第五条、第二十七条：暂缓安排该单位的投资计划和资金；下一年度计划审核时，该单位的计划条目显示此决定（deferred_units）。",
                form=[text("deferral_note", "暂缓安排情况"), line("deferred_until_year", "暂缓至年度（含）")])
    d.end("investment_deferred", "已暂缓安排", "finance", 8, doc="第二十七条：暂缓安排投资计划。")
    d.user_task("rectify_while_suspended", "暂停期间整改", "unit", 8, groups=UNIT,
                doc="第二十七条：项目暂停期间，项目建设单位整改并报告。",
                form=[text("suspension_rectification", "整改情况")])
    d.user_task("decide_after_suspension", "决定恢复建设或终止项目", "office", 9, 1, groups="office", due=due_in("periods.office_days"),
                doc="第二十七条：领导小组办公室根据整改情况决定恢复建设或终止项目。",
                form=[enum("suspension_outcome", "决定", [("resume", "恢复建设"), ("terminate", "终止项目")]),
                      text("suspension_opinion", "意见")])
    d.gateway("after_suspension_outcome", "恢复建设？", "office", 10, 1)
    d.end("send_suspension_decision", "通知项目恢复建设", "office", 11, 1, message="suspension_decided",
          inputs={"businessKey": "${project_id}", "suspension_outcome": "${suspension_outcome}", "suspended": "${false}"},
          doc="第二十七条：以消息 suspension_decided 通知项目流程恢复建设。")
    d.end("send_termination_after_suspension", "通知项目终止", "office", 11, 2, message="project_terminated",
          inputs={"businessKey": "${project_id}", "suspension_outcome": "${suspension_outcome}",
                  "termination_reason": "${suspension_opinion}"},
          doc="第二十七条：暂停后仍不符合要求的，终止项目（消息 project_terminated）。")

    d.chain("order_issued", "set_review_periods", "notify_project", "rectify_and_report", "verify_rectification",
            "verification_outcome")
    d.flow("verification_outcome", "rectification_closed", "整改到位", cond="${verification_result == 'done'}")
    d.flow("verification_outcome", "penalty_merge", "仍不符合要求", default=True)
    d.flow("rectification_overdue", "penalty_merge")
    d.chain("penalty_merge", "decide_penalty", "penalty_outcome")
    d.flow("penalty_outcome", "criticized", "通报批评", cond="${penalty == 'criticize'}")
    d.flow("penalty_outcome", "send_suspension", "暂停建设", cond="${penalty == 'suspend'}")
    d.flow("penalty_outcome", "send_termination", "终止项目", cond="${penalty == 'terminate'}")
    d.flow("penalty_outcome", "defer_investment_plan", "暂缓安排投资计划", cond="${penalty == 'defer_investment'}")
    d.flow("defer_investment_plan", "investment_deferred")
    d.flow("send_suspension", "rectify_while_suspended")
    d.flow("rectify_while_suspended", "decide_after_suspension")
    d.flow("decide_after_suspension", "after_suspension_outcome")
    d.flow("after_suspension_outcome", "send_termination_after_suspension", "终止",
           cond="${suspension_outcome == 'terminate'}", route="vh")
    d.flow("after_suspension_outcome", "send_suspension_decision", "恢复建设", default=True)
    return d
