"""运维经费 (Art 24): O&M funds, or an upgrade or new system, only for systems that share data and are secure."""
from common import UNIT, Diagram, due_in, day, enum, file, lanes, line, money, text, units, yes_no


def build() -> Diagram:
    d = Diagram("om_funding", "运维经费和系统建设申请", lanes("unit", "office", "government", "finance"),
                doc="第二十四条：加强项目建设投资和运行维护经费协同联动，坚持“联网通办是原则，孤网是例外”。"
                    "部门申请已建系统的运维经费、升级改造或拟新建系统：能够按要求信息共享的，领导小组办公室会同有关部门审核；"
                    "认为依法不能共享但确有必要建设或保留的，领导小组办公室审核后报旗人民政府批准；"
                    "未按要求共享或重复采集数据、不符合密码应用和网络安全要求或存在重大安全隐患的，不单独安排运维经费，不得新建、改建、扩建。")
    d.start("om_applied", "提出申请", "unit", 0,
            doc="第二十四条：项目建设单位申请已建成并通过验收的系统的运维经费（或保留系统），或就升级改造、新建系统接受共享和安全审核"
                "（升级改造、新建的建设资金经年度建设计划和立项审批安排，不在本流程安排）。",
            form=[units("unit", "申请单位"), line("system_name", "信息系统名称", maxlength=100),
                  enum("request_kind", "申请事项", [("om_funds", "运行维护经费"), ("upgrade", "升级改造"), ("new", "新建系统"),
                                                 ("retain", "保留系统")]),
                  money("requested_amount", "申请金额（元）"), text("request_reason", "申请理由"),
                  yes_no("legal_ground_claimed", "主张依法律法规或旗委、旗政府要求不能信息共享", required=True),
                  text("legal_ground", "法定事由及依据", required=False),
                  file("application_document", "申请材料")])
    d.rule_task("set_review_periods", "确定办理时限", "unit", 1, decision="review_periods", result="periods",
                inputs={"stage": "om_funding"}, doc="办理时限决策表（review_periods）的 om_funding 行：各部门办理时限（工作日）。")
    d.user_task("verify_compliance", "核实共享和安全情况", "office", 5, groups="office",
                due=due_in("periods.office_days"),
                doc="第二十四条、第二十七条：领导小组办公室会同有关部门（网信办、保密机要局、公安局）核实系统是否按要求共享数据资源、"
                    "是否重复采集数据、是否符合密码应用和网络安全要求、是否存在重大安全隐患。",
                form=[yes_no("shares_data", "按要求共享数据资源", required=True),
                      yes_no("duplicate_collection", "重复采集数据", required=True),
                      yes_no("crypto_security_compliant", "符合密码应用和网络安全要求", required=True),
                      yes_no("major_hidden_danger", "存在重大安全隐患", required=True),
                      text("compliance_note", "核实情况")])
    d.rule_task("decide_eligibility", "判定申请资格", "office", 6, decision="om_eligibility", result="om_decision",
                doc="第二十四条：资格决策表 om_eligibility（命中策略 FIRST）。")
    d.gateway("eligibility_outcome", "资格", "office", 7)
    d.user_task("review_application", "审核申请", "office", 8, 0, groups="office", due=due_in("periods.office_days"),
                doc="第二十四条：能够按要求信息共享的，领导小组办公室会同有关部门审核。",
                form=[enum("office_om_decision", "审核结论", [("approve", "同意"), ("reject", "不同意")]),
                      money("approved_om_amount", "核定金额（元）"), text("office_om_opinion", "审核意见")])
    d.gateway("review_outcome", "审核结论", "office", 9, 0)
    d.end("rejected_by_office", "不予安排", "office", 10, 0.5, doc="第二十四条：领导小组办公室审核不同意。")
    d.user_task("review_legal_ground", "审核法定事由", "office", 8, 1, groups="office", due=due_in("periods.office_days"),
                doc="第二十四条：部门认为依法不能信息共享但确有必要建设或保留的，由领导小组办公室审核。",
                form=[enum("legal_ground_review", "审核结论", [("submit", "报旗人民政府批准"), ("reject", "不同意")]),
                      money("approved_om_amount", "拟核定金额（元）"), text("legal_ground_opinion", "审核意见")])
    d.gateway("legal_review_outcome", "审核结论", "office", 9, 1)
    d.end("legal_ground_rejected", "不予安排", "office", 10, 1, doc="第二十四条：法定事由不成立，按第（一）项处理。")
    d.end("refused_by_rule", "不予安排", "office", 8, 2,
          doc="第二十四条第（一）、（二）项：不单独安排运行维护经费，不得新建、改建、扩建；依据见 om_decision.eligibility_reason。")
    d.user_task("approve_exception", "批准例外", "government", 10, groups="government",
                due=due_in("periods.government_days"),
                doc="第二十四条：报旗人民政府批准后方可建设或保留。",
                form=[enum("government_decision", "批准结论", [("approve", "批准"), ("reject", "不批准")]),
                      line("government_doc_no", "批复文号"), text("government_opinion", "意见")])
    d.gateway("government_outcome", "批准？", "government", 11)
    d.end("rejected_by_government", "不予批准", "government", 11, 0.7, doc="第二十四条：旗人民政府不批准。")
    d.gateway("funding_merge", "", "finance", 12)
    d.user_task("arrange_funds", "安排经费", "finance", 13, groups="finance", due=due_in("periods.finance_days"),
                doc="第三条第（五）项、第二十四条：旗财政局安排运维经费或建设资金。",
                form=[money("arranged_amount", "安排金额（元）"), line("funds_doc_no", "资金文件文号"), day("funds_date", "安排日期")])
    d.end("funds_arranged", "经费已安排", "finance", 14, doc="第二十四条：经费安排完成。")

    d.gateway("kind_check", "申请事项", "unit", 2)
    d.throw("ask_project", "查询项目验收情况", "unit", 3, message="om_check_requested",
            doc="第二十四条：运维经费只安排给已建成并通过验收的系统。运维经费、保留系统的申请以系统所属项目的项目编号为业务键，"
                "向该项目流程查询（项目编号不存在的，申请无法提交）。")
    d.catch("project_answer", "项目答复", "unit", 4, message="om_check_result",
            doc="项目流程答复是否已通过竣工验收（system_accepted）。")
    d.gateway("accepted_check", "已通过验收？", "unit", 5)
    d.end("not_built", "系统未通过验收", "unit", 5, 1,
          doc="第二十一条、第二十四条：未建成或未通过竣工验收的系统不安排运维经费；建设资金经年度计划和项目流程安排。")
    d.gateway("work_merge", "", "unit", 6)
    d.gateway("eligible_kind", "申请事项", "office", 7.5, 0)
    d.end("to_annual_plan", "转入年度建设计划申报", "office", 7.5, 2,
          doc="第五条、第二十四条：升级改造、新建通过共享和安全审核的，经年度建设计划申报、立项审批后安排建设资金，不在本流程安排。")
    d.chain("om_applied", "set_review_periods", "kind_check")
    d.flow("kind_check", "ask_project", "运维经费、保留", cond="${request_kind == 'om_funds' || request_kind == 'retain'}")
    d.flow("kind_check", "work_merge", "升级改造、新建", default=True, route="below")
    d.chain("ask_project", "project_answer", "accepted_check")
    d.flow("accepted_check", "work_merge", "已验收", cond="${system_accepted}")
    d.flow("accepted_check", "not_built", "未验收", default=True)
    d.chain("work_merge", "verify_compliance", "decide_eligibility", "eligibility_outcome")
    d.flow("eligibility_outcome", "eligible_kind", "符合要求", cond="${om_decision.eligibility == 'eligible'}")
    d.flow("eligible_kind", "review_application", "运维经费、保留",
           cond="${request_kind == 'om_funds' || request_kind == 'retain'}")
    d.flow("eligible_kind", "to_annual_plan", "升级改造、新建", default=True)
    d.flow("eligibility_outcome", "review_legal_ground", "主张法定事由", cond="${om_decision.eligibility == 'legal_ground'}")
    d.flow("eligibility_outcome", "refused_by_rule", "不符合", default=True)
    d.flow("review_application", "review_outcome")
    d.flow("review_outcome", "funding_merge", "同意", cond="${office_om_decision == 'approve'}")
    d.flow("review_outcome", "rejected_by_office", "不同意", default=True, route="vh")
    d.flow("review_legal_ground", "legal_review_outcome")
    d.flow("legal_review_outcome", "approve_exception", "报政府", cond="${legal_ground_review == 'submit'}")
    d.flow("legal_review_outcome", "legal_ground_rejected", "不同意", default=True)
    d.flow("approve_exception", "government_outcome")
    d.flow("government_outcome", "funding_merge", "批准", cond="${government_decision == 'approve'}")
    d.flow("government_outcome", "rejected_by_government", "不批准", default=True)
    d.chain("funding_merge", "arrange_funds", "funds_arranged")
    return d
