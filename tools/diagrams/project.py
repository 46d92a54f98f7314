"""项目全生命周期 (Art 5+ to 23, 29): from approval to post-evaluation."""
from common import (UNIT, Diagram, Field, alert_inputs, day, due_in, enum, file, line, lanes, money,
                    overdue_after, project_key, text, units, yes_no)

REVIEW_OUTS = ["drc_decision", "reply_no", "reply_date", "project_code", "approved_amount",
               "approved_completion_date", "construction_mode"]


def _stage_outs(prefix: str) -> list:
    outs = [("drc_decision", f"{prefix}_decision"), ("reply_no", f"{prefix}_reply_no"),
            ("reply_date", f"{prefix}_reply_date"), ("approved_amount", f"{prefix}_approved_amount"),
            ("office_review_opinion", f"{prefix}_office_opinion"), ("cac_review_opinion", f"{prefix}_cac_opinion"),
            ("consultant_sharing_opinion", f"{prefix}_consultant_sharing_opinion"),
            ("consultant_security_opinion", f"{prefix}_consultant_security_opinion"),
            "project_code", "approved_completion_date"]
    if prefix in ("design", "combined"):
        outs += [("approved_amount", "approved_budget"), ("approved_amount", "original_budget"), "construction_mode"]
    return outs


def _stage_ins(stage: str, stage_name: str) -> list:
    return [("${'" + stage + "'}", "stage"), ("${'" + stage_name + "'}", "stage_name"), "project_id", "project_name",
            "unit", "classified", "estimated_budget", "project_code"]


FRAMEWORK_PARTS = """parts_total = 0
for confirmation in participant_confirmations:
    parts_total = parts_total + confirmation.get('part_budget')
framework_total_budget = estimated_budget
"""


def build() -> Diagram:
    d = Diagram("project", "项目全生命周期", lanes("unit", "office", "drc", "finance", "secrecy", "audit", "archives",
                                                "consultant"),
                doc="第五条之二至第二十三条、第二十九条：一个数字城市建设项目从审批、建设、验收到后评价。业务键为项目编号；"
                    "投资项目统一代码 project_code 自第一次批复起必填。")
    # --- start and approval path (Art 5+) ---------------------------------------------------------
    d.start("project_declared", "申报项目", "unit", 0, 1, doc="第五条之二：项目建设单位申报未纳入年度计划的项目（由领导小组办公室确认依据）。",
            form=[project_key("project_id"), line("project_name", "项目名称", maxlength=100),
                  units("unit", "项目建设单位"),
                  enum("category", "项目类别", [("infrastructure", "电子政务基础设施"), ("software", "软件开发及购买"),
                                            ("om", "运维服务")]),
                  enum("nature", "项目性质", [("new", "新建"), ("upgrade", "升级改造"), ("om", "运维")]),
                  money("estimated_budget", "投资估算（元）")])
    d.start("project_planned", "年度计划下达项目", "unit", 0, 2, message="project_planned",
            doc="第五条：纳入年度建设计划的项目由年度计划流程下达（消息 project_planned）。")
    d.gateway("start_merge", "", "unit", 1, 1)
    d.user_task("confirm_project_basis", "确认立项依据和审批条件", "office", 2, groups="office",
                due=due_in("periods.office_days"),
                doc="第五条之二：领导小组办公室确认项目是否已在经批准的发展规划、空间规划、区域规划或专项规划中明确（列入数字达拉特规划即是）、"
                    "是否紧急建设、是否属于《条例》第十三条可简化程序的项目，以及是否跨部门共建、是否涉密。",
                form=[yes_no("in_plan", "已在经批准的规划中明确（第五条之二，免项目建议书）",
                             help="由领导小组办公室对照规划本身确认；年度计划中的“依据数字达拉特规划建设”不等于已在规划中明确"),
                      line("plan_basis", "规划依据（规划名称及条目）", required=False),
                      yes_no("emergency", "应对突发事件需紧急建设"),
                      yes_no("simple", "建设内容单一、投资规模较小、建设标准明确、技术方案简单"),
                      yes_no("cross_department", "跨部门共建共享"),
                      yes_no("classified", "涉密信息系统"),
                      yes_no("bureau_audit_required", "年度计划或法律法规要求由旗审计局审计",
                             help="不勾选（默认）：竣工验收申请附中介机构出具的竣工决算审计报告（第二十一条）"),
                      text("basis_opinion", "确认意见")])
    d.rule_task("set_project_periods", "确定办理时限", "office", 1, 1, decision="review_periods", result="periods",
                inputs={"stage": "project"}, outputs={"construction_phase": "${false}", "suspended": "${false}", "adjusted_so_far": "${0}",
                         "accepted": "${false}"},
                doc="办理时限决策表（review_periods）的 project 行；项目尚未进入建设期、未被暂停。")
    d.rule_task("determine_approval_path", "确定审批路径", "office", 3, decision="approval_path", result="approval_path",
                mapping="singleEntry", doc="第五条之二：审批路径决策表 approval_path（FIRST）。")
    d.gateway("cross_department_check", "跨部门共建？", "office", 4)
    d.gateway("framework_draft_merge", "", "unit", 4.5, 3)
    d.user_task("draft_framework", "编制跨部门工程框架方案", "unit", 5, 3, groups=UNIT,
                doc="第五条之二：牵头部门会同参建部门开展跨部门工程框架设计，确定参建部门、建设目标、主体内容，"
                    "明确各部门项目与总体工程的业务流、数据流及系统接口，初步形成政务信息资源目录。",
                form=[Field("participants", "参建部门", "string", required=True,
                            help="参建部门代码，逗号分隔（例 health,transport）"),
                      text("framework_goals", "建设目标和主体内容"), text("framework_flows", "业务流、数据流及系统接口"),
                      text("resource_catalogue", "政务信息资源目录（初稿）"), file("framework_document", "框架方案")])
    d.user_task("confirm_participation", "确认本部门参建内容", "unit", 6, 3, groups="unit:${participant}",
                collection="${participants.split(',')}", element="participant", output_collection="participant_confirmations",
                doc="第五条之二：各参建部门确认本部门的参建内容，确保建设内容无重复交叉。",
                form=[text("part_content", "本部门参建内容"), money("part_budget", "本部门投资估算（元）"),
                      yes_no("part_agreed", "同意框架方案")])
    d.script_task("sum_framework_parts", "汇总各部门投资", "office", 6, 2, script=FRAMEWORK_PARTS,
                  doc="第五条之二：各参建部门本部门投资估算合计（parts_total）；工程总投资记为 framework_total_budget。")
    d.user_task("review_framework", "审核跨部门框架方案", "office", 7, 2, groups="office", due=due_in("periods.office_days"),
                doc="第五条之二：框架方案联合报领导小组办公室，审核各部门建设内容无重复交叉，实现共建共享。同意后牵头部门项目只保留"
                    "本部门部分的投资（总投资减去各参建部门部分），各参建部门的部分各自立项，不重复计算。",
                form=[enum("framework_conclusion", "审核结论", [("approve", "同意"), ("revise", "退回修改")]),
                      text("framework_opinion", "审核意见")],
                outputs={"estimated_budget": "${framework_conclusion == 'approve' ? framework_total_budget - parts_total "
                                             ": estimated_budget}"})
    d.gateway("framework_outcome", "框架方案审核", "office", 8, 2)
    d.call("launch_participant_projects", "下达各参建部门项目", "office", 9, 2, called="project_launch",
           ins=[("${project_id}-${participant}", "project_id"), ("${project_name}（${participant}参建部分）", "project_name"),
                ("${participant}", "unit"), "category", "nature",
                ("${participant_confirmations[loopCounter].part_budget}", "estimated_budget"),
                ("project_id", "framework_id"), ("${false}", "follows_plan"), ("${''}", "plan_clause"), "plan_year"],
           collection="${participants.split(',')}", element="participant",
           doc="第五条之二：框架方案确定后，各部门按照项目管理要求申请建设本部门参建内容：每个参建部门一个项目流程。")
    d.gateway("framework_merge", "", "office", 10)
    # --- approval stages (Art 8) -------------------------------------------------------------------
    d.gateway("approval_path_split", "审批路径", "drc", 11)
    d.call("review_proposal", "项目建议书审查", "drc", 12, 1, called="stage_review",
           ins=_stage_ins("proposal", "项目建议书"), outs=_stage_outs("proposal"),
           doc="第八条：项目建议书的审查和批复（阶段审查流程）。")
    d.gateway("proposal_outcome", "建议书批复", "drc", 13, 1)
    d.end("proposal_rejected", "项目建议书不予批复", "drc", 13, 2)
    d.gateway("feasibility_merge", "", "drc", 14)
    d.call("review_feasibility", "可行性研究报告审查", "drc", 15, called="stage_review",
           ins=_stage_ins("feasibility", "可行性研究报告"), outs=_stage_outs("feasibility"),
           doc="第八条：可行性研究报告的第三方评估、技术审查和批复。")
    d.gateway("feasibility_outcome", "可研批复", "drc", 16)
    d.end("feasibility_rejected", "可研不予批复", "drc", 16, 1)
    d.call("review_design", "初步设计和投资概算审查", "drc", 17, called="stage_review",
           ins=_stage_ins("design", "初步设计方案和投资概算"), outs=_stage_outs("design"),
           doc="第八条：初步设计方案和投资概算的审查和批复。")
    d.gateway("design_outcome", "初设批复", "drc", 18)
    d.end("design_rejected", "初设不予批复", "drc", 18, 1)
    d.call("review_combined", "可研和初设合并审查", "drc", 15, 3, called="stage_review",
           ins=_stage_ins("combined", "可行性研究报告和初步设计方案（合并）"), outs=_stage_outs("combined"),
           doc="《条例》第十三条：简化程序，可研和初设（含投资概算）合并一次审查和批复。")
    d.gateway("combined_outcome", "合并批复", "drc", 16, 3)
    d.end("combined_rejected", "不予批复", "drc", 16, 2)
    d.gateway("approval_merge", "", "drc", 19)
    # --- the gate: construction funds only after the design and budget are approved (Art 8, 5) -----
    d.user_task("release_construction_funds", "下达项目建设投资资金", "finance", 20, groups="finance",
                due=due_in("periods.finance_days"),
                doc="第五条、第八条第二款：初步设计方案和投资概算批复后，旗财政局从年度信息化项目专项资金中下达项目建设投资资金；"
                    "批复前不予下达，项目建设单位不得开工建设。",
                form=[money("released_amount", "下达资金（元）", help="不超过批复的投资概算"),
                      line("release_doc_no", "资金下达文号"), day("release_date", "下达日期")],
                outputs={"construction_phase": "${true}"})
    # --- construction (Art 10-16) -------------------------------------------------------------------
    d.user_task("appoint_implementing_body", "确定项目实施机构和项目责任人", "unit", 21, 1, groups=UNIT,
                doc="第十条至第十二条：确定项目实施机构和项目责任人，建立健全项目管理制度和网络安全管理制度，"
                    "同步规划、同步建设、同步运行密码保障系统。",
                form=[line("implementing_body", "项目实施机构"), line("responsible_person", "项目责任人"),
                      line("responsible_phone", "责任人联系电话"),
                      yes_no("management_rules", "已建立项目管理制度（招投标、政府采购、工程监理、合同管理）", required=True),
                      text("security_management", "网络安全管理制度和技术措施（第十一条）"),
                      text("crypto_sync", "密码保障系统同步建设安排（第十二条）"),
                      text("cloud_usage", "政务云资源使用和集约化建设（第十四条）"),
                      text("capacity_arrangement", "运行维护能力和外包安排（第十五条）", required=False)])
    d.gateway("classified_check", "涉密系统？", "unit", 22, 1)
    d.gateway("procurement_review_merge", "", "secrecy", 22.5)
    d.user_task("review_classified_procurement", "涉密采购保密审查", "secrecy", 23, groups="secrecy",
                due=due_in("periods.secrecy_days"),
                doc="第十条：招标采购涉密信息系统的，应当执行保密有关法律法规规定；不符合的不同意采购，项目建设单位调整采购方案后再审。",
                form=[text("procurement_secrecy_opinion", "保密审查意见"),
                      enum("procurement_secrecy_conclusion", "审查结论", [("pass", "同意采购"),
                                                                     ("refuse", "不同意，调整采购方案后再审")])])
    d.gateway("procurement_secrecy_outcome", "同意采购？", "secrecy", 23.6)
    d.user_task("revise_classified_procurement", "调整涉密采购方案", "unit", 22.5, 0, groups=UNIT,
                doc="第十条：按保密审查意见调整涉密信息系统的采购方案，重新报保密审查。",
                form=[text("procurement_revision", "调整情况")])
    d.gateway("classified_merge", "", "unit", 24, 1)
    d.user_task("procure_and_contract", "组织招标采购并签订合同", "unit", 25, 1, groups=UNIT,
                doc="第十条：严格执行招标投标、政府采购、合同管理制度。",
                form=[enum("procurement_method", "采购方式", [("open_tender", "公开招标"), ("invited_tender", "邀请招标"),
                                                          ("competitive", "竞争性磋商/谈判"), ("single_source", "单一来源"),
                                                          ("inquiry", "询价")]),
                      line("supplier", "中标（成交）单位"), line("contract_no", "合同编号"),
                      money("contract_amount", "合同金额（元）"), file("contract_file", "合同文本")])
    d.user_task("appoint_supervisor", "委托工程监理单位", "unit", 26, 1, groups=UNIT,
                doc="第十六条：项目实行工程监理制，委托工程监理单位对项目建设进行工程监理。",
                form=[line("supervisor_name", "工程监理单位"), line("supervision_contract_no", "监理合同编号"),
                      money("supervision_fee", "监理费用（元）"), file("supervision_contract", "监理合同")])
    d.gateway("progress_merge", "", "unit", 27, 1)
    d.user_task("report_progress", "报告建设进展", "unit", 28, 1, groups=UNIT,
                due="${add_months(today(), periods.progress_months)}",
                doc="第九条、第十八条至第二十条：项目建设单位按月报告建设进展和资金支出（同时在监管平台更新），"
                    "如实报告严重逾期、投资重大损失和需调整建设内容的情况；建设完成时申报完成日期。累计支出与批复概算比对。",
                form=[Field("progress_percent", "形象进度（%）", "long", required=True, min="0", max="100"),
                      money("spent_total", "累计支出（元）", help="与批复的投资概算比对，超出即报审批部门"),
                      yes_no("platform_updated", "已在投资项目在线审批监管平台更新进展", required=True),
                      text("progress_note", "本期进展"),
                      yes_no("serious_problem", "出现工程严重逾期或投资重大损失", required=True),
                      yes_no("adjustment_needed", "需调整主要建设内容", required=True),
                      yes_no("construction_completed", "建设内容已全部完成", required=True),
                      day("completion_date", "建成日期", required=False, help="建设完成时填写；竣工验收申请须在其后半年内提交")])
    d.boundary("progress_overdue", "进展逾期", "report_progress", interrupting=False, offset=0.12,
               timer=("timeDate", "${str(add_days(add_months(today(), periods.progress_months), 1))}"))
    d.boundary("approved_period_passed", "超过批复期", "report_progress", interrupting=False, offset=0.5,
               timer=("timeDate", "${str(add_days(date(approved_completion_date), 1))}"),
               doc="第二十一条：批复期内应完成建设并组织初验；超过批复期仍未初验，每次进展报告都提醒。")
    d.end("alert_progress_overdue", "提醒办公室和发改委", "unit", 28 - 38 / 170, 3, message="overdue_alert",
          inputs=alert_inputs("建设进展报告", drc=True))
    d.end("alert_period_passed", "提醒办公室和发改委", "unit", 28, 4, message="overdue_alert",
          inputs=alert_inputs("批复期内完成建设和初验", drc=True))
    d.gateway("construction_return", "", "unit", 27, 2)
    d.gateway("progress_outcome", "建设情况", "unit", 29, 1)
    # serious delay or loss, spending beyond the approved budget (Art 18, 19, 30)
    d.user_task("handle_serious_problem", "处理严重逾期或重大损失报告", "drc", 30, groups="drc", due=due_in("periods.drc_days"),
                doc="第十八条、第十九条、第三十条：项目出现工程严重逾期、投资重大损失或超概算，审批部门要求项目建设单位整改或暂停项目建设。",
                form=[enum("problem_decision", "处理决定", [("rectify", "限期整改"), ("suspend", "暂停项目建设")]),
                      day("problem_deadline", "整改期限"), text("problem_opinion", "处理意见")])
    d.user_task("rectify_serious_problem", "整改并报告", "unit", 31, 2, groups=UNIT, due="${problem_deadline}",
                doc="第十八条：项目建设单位按审批部门要求整改并报告。",
                form=[text("problem_rectification", "整改情况"), file("problem_rectification_report", "整改报告")])
    d.boundary("rectification_deadline_passed", "整改期限届满", "rectify_serious_problem", interrupting=False,
               side="top", offset=0.85, timer=("timeDate", "${str(add_days(date(problem_deadline), 1))}"),
               doc="第十八条：审批部门要求的整改期限届满仍未报告整改情况，提醒旗发展和改革委员会和领导小组办公室。")
    d.end("alert_rectification_overdue", "提醒发改委和办公室", "unit", 31.6, 1, message="overdue_alert",
          inputs=alert_inputs("严重逾期或重大损失的整改（第十八条）", drc=True))
    d.gateway("suspended_check", "已暂停？", "unit", 32, 2)
    d.user_task("decide_resumption", "决定恢复建设或提请处理", "drc", 33, 1, groups="drc", due=due_in("periods.drc_days"),
                doc="第十八条：暂停的项目整改后，审批部门决定恢复建设；第十八条只授权审批部门要求整改或暂停，"
                    "终止项目由领导小组办公室依第二十七条决定，故整改后仍不符合要求的提请领导小组办公室处理。",
                form=[enum("resumption_decision", "决定", [("resume", "恢复建设"),
                                                         ("refer", "提请领导小组办公室处理（第二十七条）")]),
                      text("resumption_opinion", "意见")])
    d.gateway("resumption_outcome", "恢复建设？", "drc", 34, 1)
    d.user_task("decide_termination", "决定恢复建设或终止项目", "office", 35, 0, groups="office",
                due=due_in("periods.office_days"),
                doc="第二十七条：整改后仍不符合要求的，领导小组办公室可以暂停项目建设直至终止项目。",
                form=[enum("termination_decision", "决定", [("resume", "恢复建设"), ("terminate", "终止项目")]),
                      text("termination_opinion", "意见")])
    d.gateway("termination_outcome", "终止？", "office", 36, 0)
    d.end("terminated_by_office", "项目终止", "office", 37, 0)
    # adjustment of the main content (Art 20)
    d.user_task("request_adjustment", "提出建设内容调整", "unit", 30, 3.0, groups=UNIT,
                doc="第二十条：项目建设目标和内容确需调整的，说明调整内容、金额和情形。",
                form=[text("adjustment_content", "调整内容"), money("adjustment_amount", "调整涉及金额（元）"),
                      yes_no("within_budget", "投资规模未超出概算批复", required=True),
                      yes_no("goal_unchanged", "建设目标不变", required=True),
                      enum("adjustment_ground", "调整情形", [("gov_approved", "（一）经旗委、旗政府批准确需改变建设内容"),
                                                          ("optimize_tech", "（二）确需完善优化原项目技术方案"),
                                                          ("business_need", "（三）业务发展需要，在已批复框架下调整内容及进度"),
                                                          ("none", "其他")])])
    d.rule_task("determine_adjustment_route", "确定调整方式", "unit", 31, 3.0, decision="adjustment_route",
                result="adjustment_route", mapping="singleEntry", doc="第二十条：调整方式决策表 adjustment_route（10% 界限）。")
    d.gateway("adjustment_route_split", "调整方式", "unit", 32, 3.0)
    d.gateway("adjustment_filing_split", "", "unit", 33, 3.0, kind="parallel")
    d.user_task("file_adjustment_with_drc", "登记调整备案", "drc", 34, 3, groups="drc",
                doc="第二十条：项目建设单位自行调整，同时向项目审批部门备案。",
                form=[text("drc_filing_note", "备案登记意见")],
                outputs={"adjusted_so_far": "${adjusted_so_far + adjustment_amount}"})
    d.user_task("file_adjustment_with_office", "登记调整备案", "office", 34, 1, groups="office",
                doc="第二十条：项目建设单位自行调整，同时向领导小组办公室备案。",
                form=[text("office_filing_note", "备案登记意见")])
    d.gateway("adjustment_filing_join", "", "unit", 35, 3.0, kind="parallel")
    d.user_task("approve_adjustment", "审批建设内容调整", "drc", 33, 4, groups="drc", due=due_in("periods.drc_days"),
                form=[enum("adjustment_decision", "审批结论", [("approve", "同意调整"), ("reject", "不同意调整")]),
                      money("adjusted_budget", "调整后批复概算（元）", required=False, help="同意调整时填写"),
                      line("adjustment_reply_no", "批复文号"), text("adjustment_opinion", "审批意见")],
                outputs={"approved_budget": "${adjustment_decision == 'approve' ? adjusted_budget : approved_budget}"},
                doc="第二十条、《条例》第二十一条、第二十三条：不符合自行调整条件的，报原审批部门审批；不同意调整的，概算不变。")
    # --- preliminary and final acceptance (Art 13, 21, 22) -------------------------------------------
    d.user_task("preliminary_acceptance", "组织完成初验", "unit", 37, 1, groups=UNIT,
                doc="第二十一条第一款：项目建设单位在批复期内完成建设内容，并组织完成初验。",
                form=[day("preliminary_acceptance_date", "初验日期"), file("preliminary_opinion", "初验意见"),
                      yes_no("preliminary_passed", "初验通过", required=True)])
    d.gateway("preliminary_outcome", "初验通过？", "unit", 38, 1)
    d.gateway("audit_route", "审计方式", "unit", 38.5, 1,
              doc="第二十一条：竣工验收申请附审计报告。默认由项目建设单位委托中介机构出具竣工决算审计报告并随申请上传；"
                  "年度计划或法律法规要求的（立项时由领导小组办公室勾选 bureau_audit_required），由旗审计局审计（第三条第（六）项、第二十八条）。")
    d.gateway("audit_merge", "", "unit", 39.5, 1)
    d.user_task("issue_audit_report", "出具项目审计报告", "audit", 39, groups="audit", due=due_in("periods.audit_days"),
                doc="第三条第（六）项、第二十一条、第二十八条：年度计划或法律法规要求时，旗审计局对项目进行审计，出具审计报告（竣工验收申请材料之一）。",
                form=[file("audit_report", "审计报告"), text("audit_opinion", "审计意见")])
    d.user_task("apply_final_acceptance", "提交竣工验收申请", "unit", 40, 1, groups=UNIT,
                due="${add_months(date(completion_date), 6)}",
                doc="第二十一条第二款：项目建成后半年内，项目建设单位向领导小组办公室提交竣工验收申请，并附十项材料。",
                form=[file("preliminary_acceptance_opinion", "项目初验意见"),
                      file("leadership_minutes", "单位领导班子集体研究同意验收的会议纪要"),
                      file("acceptance_report", "验收报告"), file("construction_summary", "建设总结"),
                      file("tender_contract_materials", "招投标及合同材料"), file("process_documents", "项目过程文档"),
                      file("financial_report", "财务报告"),
                      file("security_assessment_report", "安全风险评估报告（分级保护测评或等级保护测评报告）"),
                      file("crypto_assessment_report", "密码应用安全性评估报告"),
                      file("audit_report_copy", "审计报告（竣工决算审计报告或旗审计局审计报告）"),
                      day("application_date", "申请日期")])
    d.boundary("acceptance_application_overdue", "建成满半年", "apply_final_acceptance", interrupting=False,
               timer=("timeDate", "${str(add_days(add_months(date(completion_date), 6), 1))}"),
               doc="第二十一条：建成后半年内未提交竣工验收申请，提醒领导小组办公室。")
    d.end("alert_acceptance_application", "提醒办公室", "unit", 40, 2, message="overdue_alert",
          inputs=alert_inputs("竣工验收申请（建成后半年内）"))
    d.gateway("archive_merge", "", "archives", 40.5)
    d.user_task("archive_acceptance", "档案验收", "archives", 41, groups="archives", due=due_in("periods.archives_days"),
                doc="第二十二条：未进行档案验收或档案验收不合格的，不得通过项目验收。",
                form=[enum("archive_result", "档案验收结论", [("pass", "合格"), ("fail", "不合格")]),
                      text("archive_opinion", "档案验收意见")])
    d.gateway("archive_outcome", "档案合格？", "archives", 42)
    d.user_task("rectify_archives", "档案整改", "unit", 42, 2, groups=UNIT,
                doc="第二十二条：按照档案管理规定整改，并探索应用电子档案。",
                form=[text("archive_rectification", "档案整改情况")])
    d.gateway("joint_acceptance_merge", "", "office", 42.5)
    d.user_task("joint_acceptance", "组织联合验收", "office", 43, groups="office", due=due_in("periods.office_days"),
                doc="第三条第（二）项、第十三条、第二十一条：领导小组办公室按照国家有关规定组织联合验收；"
                    "安全可靠产品、密码应用和安全审查、硬件设备和新建数据中心能源利用效率是验收的重要内容。",
                form=[enum("secure_products_check", "软硬件产品安全可靠情况", [("ok", "符合"), ("not_ok", "不符合")]),
                      enum("crypto_security_check", "密码应用和安全审查情况", [("ok", "符合"), ("not_ok", "不符合")]),
                      enum("energy_efficiency_check", "硬件设备和新建数据中心能源利用效率", [("ok", "符合"), ("not_ok", "不符合"),
                                                                               ("na", "不涉及")]),
                      enum("joint_acceptance_result", "验收结论", [("pass", "通过"), ("fail", "不通过")]),
                      day("rectification_deadline", "整改期限（不通过时）", required=False),
                      text("joint_acceptance_opinion", "验收意见")])
    d.gateway("joint_acceptance_outcome", "验收通过？", "office", 44)
    d.gateway("acceptance_failed_split", "", "office", 45, 1, kind="parallel")
    d.user_task("explain_failed_acceptance", "提交未通过验收书面说明", "unit", 46, 2, groups=UNIT,
                doc="第二十一条第三款：未通过竣工验收的项目，项目建设单位向领导小组办公室提交书面说明材料。",
                form=[text("failure_explanation", "书面说明"), file("failure_explanation_file", "说明材料")])
    d.user_task("withhold_funds", "暂停拨付相关财政资金", "finance", 46, groups="finance",
                doc="第二十一条第三款：未通过竣工验收的项目，不得拨付相关财政资金。",
                form=[money("withheld_amount", "暂停拨付金额（元）"), text("withhold_note", "说明")])
    d.gateway("acceptance_failed_join", "", "office", 47, 1, kind="parallel")
    d.user_task("rectify_acceptance", "按期完成整改", "unit", 48, 2, groups=UNIT, due="${rectification_deadline}",
                doc="第二十一条第三款：项目建设单位应按期完成整改，由领导小组办公室再次组织开展竣工验收。",
                form=[text("acceptance_rectification", "整改情况"), file("acceptance_rectification_report", "整改报告")])
    d.user_task("file_acceptance_report", "验收报告备案", "unit", 46, 1, groups=UNIT,
                doc="第二十一条：验收完成后，项目建设单位将验收报告等材料报领导小组办公室备案。",
                form=[file("final_acceptance_report", "验收报告"), day("in_operation_on", "投入运行日期")],
                outputs={"construction_phase": "${false}", "accepted": "${true}"})
    d.user_task("register_assets", "办理资产登记", "unit", 47, 1, groups=UNIT,
                doc="第十九条、第二十三条：按照政府会计制度及时办理资产登记；形成无形资产的按成本初始计量；结余资金按规定退回。",
                form=[enum("asset_type", "资产类型", [("fixed", "固定资产"), ("intangible", "无形资产"), ("both", "固定资产和无形资产")]),
                      money("asset_cost", "资产初始计量成本（元）"), line("asset_register_no", "资产登记编号"),
                      money("surplus_returned", "退回结余资金（元）", help="项目建设目标和内容不变、总投资有结余的，按规定退回")])
    d.user_task("confirm_asset_registration", "审核资产登记和结余资金", "finance", 48, groups="finance",
                due=due_in("periods.finance_days"),
                doc="第三条第（五）项、第十九条、第二十一条、第二十三条：旗财政局负责项目资金管理；未通过竣工验收时暂停拨付的资金，"
                    "验收通过后拨付（规则 art21_withheld_funds_released_after_pass）。",
                form=[text("asset_registration_opinion", "审核意见"),
                      money("withheld_released", "拨付此前暂停拨付的资金（元）", required=False,
                            help="曾未通过竣工验收而暂停拨付的，验收通过后如数拨付")])
    # --- post-evaluation (Art 17, 26, 29) ----------------------------------------------------------
    d.catch("twelve_months_in_operation", "投入运行满12个月", "unit", 49, 1,
            timer=("timeDate", "${str(add_months(date(in_operation_on), 12))}"),
            doc="第十七条：通过验收并投入运行后 12 至 24 个月内开展自评价；满 12 个月开放自评价任务。")
    d.user_task("self_evaluation", "提交绩效自评价报告", "unit", 50, 1, groups=UNIT,
                due="${add_months(date(in_operation_on), 24)}",
                doc="第十七条：参照国家政务信息化建设管理绩效评价有关要求开展自评价，报送旗发展和改革委员会、旗财政局、旗大数据中心。",
                form=[Field("budget_execution_rate", "预算执行率（%）", "long", required=True, min="0", max="100"),
                      text("output_indicators", "产出指标（数量、质量、时效、成本）完成情况"),
                      text("benefit_indicators", "效益指标完成情况"),
                      Field("satisfaction_rate", "满意度（%）", "long", required=True, min="0", max="100"),
                      text("deviation_reasons", "偏差原因和改进措施", required=False),
                      file("self_evaluation_report", "自评价报告")])
    d.boundary("self_evaluation_overdue", "满24个月", "self_evaluation", interrupting=False,
               timer=("timeDate", "${str(add_days(add_months(date(in_operation_on), 24), 1))}"),
               doc="第十七条：投入运行满 24 个月仍未报送自评价报告，提醒领导小组办公室和旗发展和改革委员会。")
    d.end("alert_self_evaluation", "提醒办公室和发改委", "unit", 50, 2, message="overdue_alert",
          inputs=alert_inputs("绩效自评价（投入运行后24个月内）", drc=True))
    d.gateway("self_evaluation_split", "", "office", 51, kind="parallel")
    d.user_task("drc_reviews_self_evaluation", "审阅自评价报告", "drc", 52, groups="drc", due=due_in("periods.drc_days"),
                doc="第十七条：自评价报告报送旗发展和改革委员会；发改委联合决定是否委托第三方后评价。",
                form=[text("drc_self_evaluation_opinion", "审阅意见"),
                      yes_no("drc_joins_post_evaluation", "同意联合委托第三方后评价", required=True)])
    d.user_task("finance_reviews_self_evaluation", "审阅自评价报告", "finance", 52, groups="finance",
                due=due_in("periods.finance_days"), doc="第十七条：自评价报告报送旗财政局；财政局联合决定是否委托第三方后评价。",
                form=[text("finance_self_evaluation_opinion", "审阅意见"),
                      yes_no("finance_joins_post_evaluation", "同意联合委托第三方后评价", required=True)])
    d.user_task("office_reviews_self_evaluation", "审阅自评价并决定是否委托后评价", "office", 52, groups="office",
                due=due_in("periods.office_days"),
                doc="第十七条、第二十六条：旗大数据中心联合旗发展和改革委员会、旗财政局结合自评价情况，可以委托第三方咨询机构开展后评价"
                    "（三方都同意才委托）。",
                form=[text("office_self_evaluation_opinion", "审阅意见"),
                      yes_no("commission_post_evaluation", "委托第三方后评价", required=True)])
    d.gateway("self_evaluation_join", "", "office", 53, kind="parallel")
    d.gateway("post_evaluation_check", "委托后评价？", "office", 54)
    d.user_task("third_party_post_evaluation", "开展第三方后评价", "consultant", 55, groups="consultant",
                due=due_in("periods.consultant_days"), doc="第十七条：第三方咨询机构开展项目后评价。",
                form=[file("post_evaluation_report", "后评价报告"), text("post_evaluation_conclusion", "后评价结论"),
                      enum("post_evaluation_grade", "评价等级", [("excellent", "优"), ("good", "良"), ("fair", "中"), ("poor", "差")])])
    d.gateway("post_evaluation_merge", "", "office", 56)
    d.user_task("apply_evaluation_results", "应用评价结果", "office", 57, groups="office", due=due_in("periods.office_days"),
                doc="第二十六条、第二十九条：出具评价考核意见并纳入旗信息化考评体系；对存在的问题提出整改意见；"
                    "评价结果作为下一年度安排政府投资和运行维护经费的重要依据。",
                form=[text("evaluation_assessment", "评价考核意见"), text("improvement_opinions", "整改意见", required=False),
                      enum("next_year_weight", "对下一年度投资和运维经费安排的意见", [("priority", "优先安排"), ("normal", "正常安排"),
                                                                            ("reduce", "压减"), ("suspend", "暂缓安排")])])
    d.end("project_closed", "项目闭环", "office", 58, doc="第二十九条：评价结果存入项目档案。")
    _events_at_any_stage(d)
    # --- flows: start and approval ------------------------------------------------------------------
    d.flow("project_declared", "start_merge")
    d.flow("project_planned", "start_merge", route="hv")
    d.flow("start_merge", "set_project_periods", route="vh")
    d.flow("set_project_periods", "confirm_project_basis", route="z")
    d.flow("confirm_project_basis", "determine_approval_path")
    d.flow("determine_approval_path", "cross_department_check")
    d.flow("cross_department_check", "framework_merge", "否", default=True)
    d.flow("cross_department_check", "framework_draft_merge", "跨部门", cond="${cross_department}", route="vh")
    d.flow("framework_draft_merge", "draft_framework")
    d.flow("draft_framework", "confirm_participation")
    d.flow("confirm_participation", "sum_framework_parts")
    d.flow("sum_framework_parts", "review_framework")
    d.flow("review_framework", "framework_outcome")
    d.flow("framework_outcome", "framework_draft_merge", "退回修改", cond="${framework_conclusion == 'revise'}",
           route="below", channel=("unit", 3, 58), id="Flow_framework_returned")
    d.flow("framework_outcome", "launch_participant_projects", "同意", default=True)
    d.flow("launch_participant_projects", "framework_merge", route="hv")
    d.flow("framework_merge", "approval_path_split", route="z")
    d.flow("approval_path_split", "feasibility_merge", "免项目建议书", cond="${approval_path == 'no_proposal'}")
    d.flow("approval_path_split", "review_proposal", "项目建议书", cond="${approval_path == 'full'}", route="vh")
    d.flow("approval_path_split", "review_combined", "简化程序", cond="${approval_path == 'simplified'}", route="vh")
    d.flow("review_proposal", "proposal_outcome")
    d.flow("proposal_outcome", "feasibility_merge", "同意", cond="${proposal_decision == 'approve'}", route="hv")
    d.flow("proposal_outcome", "proposal_rejected", "不予批复", default=True)
    d.flow("feasibility_merge", "review_feasibility")
    d.flow("review_feasibility", "feasibility_outcome")
    d.flow("feasibility_outcome", "review_design", "同意", cond="${feasibility_decision == 'approve'}")
    d.flow("feasibility_outcome", "feasibility_rejected", "不予批复", default=True)
    d.flow("review_design", "design_outcome")
    d.flow("design_outcome", "approval_merge", "同意", cond="${design_decision == 'approve'}")
    d.flow("design_outcome", "design_rejected", "不予批复", default=True)
    d.flow("review_combined", "combined_outcome")
    d.flow("combined_outcome", "approval_merge", "同意", cond="${combined_decision == 'approve'}", route="hv")
    d.flow("combined_outcome", "combined_rejected", "不予批复", default=True)
    d.flow("approval_merge", "release_construction_funds", route="z")
    d.flow("release_construction_funds", "appoint_implementing_body", route="z")
    d.flow("appoint_implementing_body", "classified_check")
    d.flow("classified_check", "classified_merge", "否", default=True)
    d.flow("classified_check", "procurement_review_merge", "涉密", cond="${classified}", route="vh")
    d.flow("procurement_review_merge", "review_classified_procurement")
    d.flow("review_classified_procurement", "procurement_secrecy_outcome")
    d.flow("procurement_secrecy_outcome", "classified_merge", "同意", default=True, route="hv")
    d.flow("procurement_secrecy_outcome", "revise_classified_procurement", "不同意", route="above",
           cond="${procurement_secrecy_conclusion == 'refuse'}")
    d.flow("revise_classified_procurement", "procurement_review_merge")
    d.flow("classified_merge", "procure_and_contract")
    d.flow("procure_and_contract", "appoint_supervisor")
    d.flow("appoint_supervisor", "progress_merge")
    d.flow("progress_merge", "report_progress")
    d.flow("progress_overdue", "alert_progress_overdue")
    d.flow("approved_period_passed", "alert_period_passed")
    d.flow("construction_return", "progress_merge")
    d.flow("report_progress", "progress_outcome")
    d.flow("progress_outcome", "handle_serious_problem", "逾期、损失或超概算", route="vh",
           cond="serious_problem or spent_total > approved_budget")
    d.flow("progress_outcome", "request_adjustment", "调整", route="vh",
           cond="not (serious_problem or spent_total > approved_budget) and adjustment_needed")
    d.flow("progress_outcome", "construction_return", "按月继续", default=True, route="below",
           channel=("unit", 2), id="Flow_next_month")
    d.flow("handle_serious_problem", "rectify_serious_problem", route="hv")
    d.flow("rectify_serious_problem", "suspended_check")
    d.flow("rectification_deadline_passed", "alert_rectification_overdue")
    d.flow("suspended_check", "decide_resumption", "已暂停", cond="${problem_decision == 'suspend'}", route="vh")
    d.flow("suspended_check", "construction_return", "继续建设", default=True, route="below",
           channel=("unit", 2, 45), id="Flow_rectified")
    d.flow("decide_resumption", "resumption_outcome")
    d.flow("resumption_outcome", "decide_termination", "提请办公室", cond="${resumption_decision == 'refer'}", route="hv")
    d.flow("decide_termination", "termination_outcome")
    d.flow("termination_outcome", "terminated_by_office", "终止", cond="${termination_decision == 'terminate'}")
    d.flow("termination_outcome", "construction_return", "恢复建设", default=True, route="above",
           channel=("office", 0, -55), id="Flow_resumed_by_office")
    d.flow("resumption_outcome", "construction_return", "恢复建设", default=True, route="above",
           channel=("drc", 0, -55), id="Flow_resumed_by_drc")
    d.flow("request_adjustment", "determine_adjustment_route")
    d.flow("determine_adjustment_route", "adjustment_route_split")
    d.flow("adjustment_route_split", "adjustment_filing_split", "自行调整并备案", cond="${adjustment_route == 'self_adjust'}")
    d.flow("adjustment_route_split", "approve_adjustment", "报批", default=True, route="vh")
    d.flow("adjustment_filing_split", "file_adjustment_with_drc", route="vh")
    d.flow("adjustment_filing_split", "file_adjustment_with_office", route="vh")
    d.flow("file_adjustment_with_drc", "adjustment_filing_join", route="hv")
    d.flow("file_adjustment_with_office", "adjustment_filing_join", route="hv")
    d.flow("progress_outcome", "preliminary_acceptance", "建设完成", route="z",
           cond="not (serious_problem or spent_total > approved_budget) and not adjustment_needed and construction_completed")
    d.flow("preliminary_acceptance", "preliminary_outcome")
    d.flow("preliminary_outcome", "construction_return", "未通过", cond="${!preliminary_passed}", route="below",
           channel=("unit", 2, 30), id="Flow_preliminary_failed")
    d.flow("preliminary_outcome", "audit_route", "通过", default=True)
    d.flow("audit_route", "issue_audit_report", "审计局审计", cond="${bureau_audit_required}", route="vh")
    d.flow("audit_route", "audit_merge", "中介机构审计", default=True)
    d.flow("issue_audit_report", "audit_merge", route="hv")
    d.flow("audit_merge", "apply_final_acceptance")
    d.flow("acceptance_application_overdue", "alert_acceptance_application")
    d.flow("apply_final_acceptance", "archive_merge", route="z")
    d.flow("archive_merge", "archive_acceptance")
    d.flow("archive_acceptance", "archive_outcome")
    d.flow("archive_outcome", "rectify_archives", "不合格", cond="${archive_result == 'fail'}", route="vh")
    d.flow("rectify_archives", "archive_merge", route="below", channel=("unit", 3))
    d.flow("archive_outcome", "joint_acceptance_merge", "合格", default=True, route="z")
    d.flow("joint_acceptance_merge", "joint_acceptance")
    d.flow("joint_acceptance", "joint_acceptance_outcome")
    d.flow("joint_acceptance_outcome", "acceptance_failed_split", "不通过", cond="${joint_acceptance_result == 'fail'}",
           route="vh")
    d.flow("acceptance_failed_split", "explain_failed_acceptance", route="vh")
    d.flow("acceptance_failed_split", "withhold_funds", route="vh")
    d.flow("explain_failed_acceptance", "acceptance_failed_join", route="hv")
    d.flow("withhold_funds", "acceptance_failed_join", route="hv")
    d.flow("acceptance_failed_join", "rectify_acceptance", route="vh")
    d.flow("rectify_acceptance", "joint_acceptance_merge", route="below", channel=("unit", 3, 40))
    d.flow("joint_acceptance_outcome", "file_acceptance_report", "通过", default=True, route="vh")
    d.flow("file_acceptance_report", "register_assets")
    d.flow("register_assets", "confirm_asset_registration", route="z")
    d.flow("confirm_asset_registration", "twelve_months_in_operation", route="z")
    d.flow("twelve_months_in_operation", "self_evaluation")
    d.flow("self_evaluation_overdue", "alert_self_evaluation")
    d.flow("self_evaluation", "self_evaluation_split", route="z")
    d.flow("self_evaluation_split", "office_reviews_self_evaluation")
    d.flow("self_evaluation_split", "drc_reviews_self_evaluation", route="vh")
    d.flow("self_evaluation_split", "finance_reviews_self_evaluation", route="vh")
    d.flow("office_reviews_self_evaluation", "self_evaluation_join")
    d.flow("drc_reviews_self_evaluation", "self_evaluation_join", route="hv")
    d.flow("finance_reviews_self_evaluation", "self_evaluation_join", route="hv")
    d.flow("self_evaluation_join", "post_evaluation_check")
    d.flow("post_evaluation_check", "third_party_post_evaluation", "委托", route="vh",
           cond="${commission_post_evaluation && drc_joins_post_evaluation && finance_joins_post_evaluation}")
    d.flow("post_evaluation_check", "post_evaluation_merge", "不委托", default=True)
    d.flow("third_party_post_evaluation", "post_evaluation_merge", route="hv")
    d.flow("post_evaluation_merge", "apply_evaluation_results")
    d.flow("apply_evaluation_results", "project_closed")
    d.flow("adjustment_filing_join", "construction_return", route="below", channel=("unit", 3, 60),
           id="Flow_adjusted")
    d.flow("approve_adjustment", "construction_return", route="below", channel=("unit", 3, 70),
           id="Flow_adjustment_decided")
    return d


def _events_at_any_stage(d: Diagram) -> None:
    """Process-level event subprocesses: what reaches the project whatever step it is at."""
    d.event_subprocess("on_termination", "终止项目", "unit", 0, 5, cols=2,
                       doc="第十八条、第二十七条：监督整改流程决定终止项目（消息 project_terminated），项目在任何阶段结束。")
    d.start("termination_received", "收到终止决定", "unit", 0, 5, message="project_terminated", parent="on_termination")
    d.end("terminated_by_supervision", "项目终止", "unit", 1, 5, parent="on_termination")
    d.flow("termination_received", "terminated_by_supervision")
    d.event_subprocess("on_suspension", "暂停项目建设", "unit", 2, 5, cols=4,
                       doc="第二十七条：监督整改流程决定暂停项目建设（消息 project_suspended），在任何阶段；暂停期间项目的待办不能办结"
                           "（规则 art27_no_work_while_suspended；两个消息带 suspended 变量），直到处理决定恢复建设（消息 suspension_decided）；"
                           "终止另以消息 project_terminated 送达。")
    d.start("suspension_received", "收到暂停决定", "unit", 2, 5, message="project_suspended", interrupting=False,
            parent="on_suspension")
    d.catch("suspension_decided", "收到恢复建设决定", "unit", 3.5, 5, message="suspension_decided", parent="on_suspension")
    d.end("suspension_lifted", "恢复建设", "unit", 5, 5, parent="on_suspension")
    d.flow("suspension_received", "suspension_decided")
    d.flow("suspension_decided", "suspension_lifted")
    d.event_subprocess("on_year_end", "年度绩效评价报告", "unit", 6, 5, cols=6, rows=2,
                       doc="第十七条：建设期内的项目建设单位每年年底前向项目审批部门提交项目绩效评价报告。每年 12 月 1 日"
                           "（流程 year_end_reports 发出信号 year_end_report_due），在建设期的项目无论处于哪一步都生成报告任务。")
    d.start("year_end_signal", "12月1日", "unit", 6, 5, signal="year_end_report_due", interrupting=False,
            parent="on_year_end")
    d.gateway("in_construction_check", "在建设期？", "unit", 7, 5, parent="on_year_end")
    d.user_task("submit_annual_report", "提交年度绩效评价报告", "unit", 8, 5, groups=UNIT, parent="on_year_end",
                due="${today().year}-12-31",
                doc="第十七条：建设期内的项目建设单位每年年底前向项目审批部门提交项目绩效评价报告。",
                form=[file("annual_report", "年度绩效评价报告"), text("annual_summary", "年度绩效情况摘要")])
    d.user_task("receive_annual_report", "审阅年度绩效评价报告", "unit", 9, 5, groups="drc", parent="on_year_end",
                due=due_in("periods.drc_days"), doc="第十七条：项目审批部门（旗发展和改革委员会）接收年度绩效评价报告。",
                form=[text("annual_report_opinion", "审阅意见")])
    d.user_task("annual_assessment", "出具年度评价考核意见", "unit", 10, 5, groups="office", parent="on_year_end",
                due=due_in("periods.office_days"),
                doc="第二十六条：领导小组办公室对建设项目实施情况进行总体监督和应用效果评价，出具评价考核意见，纳入旗信息化考评体系；"
                    "建设期内每年结合年度绩效评价报告出具一次，不只在项目闭环时。",
                form=[enum("annual_assessment_grade", "年度评价考核等次", [("excellent", "优秀"), ("good", "良好"),
                                                                     ("pass", "合格"), ("fail", "不合格")]),
                      text("annual_assessment_opinion", "评价考核意见（纳入旗信息化考评体系）")])
    d.end("annual_report_done", "年度报告完成", "unit", 11, 5, parent="on_year_end")
    d.end("not_in_construction", "不在建设期", "unit", 8, 6, parent="on_year_end")
    d.flow("year_end_signal", "in_construction_check")
    d.flow("in_construction_check", "submit_annual_report", "建设期", cond="${construction_phase}")
    d.flow("in_construction_check", "not_in_construction", "否", default=True, route="vh")
    d.flow("submit_annual_report", "receive_annual_report")
    d.flow("receive_annual_report", "annual_assessment")
    d.flow("annual_assessment", "annual_report_done")
    _on_message(d, "on_supervision", "监督整改通知", 12, ("supervision_received", "收到整改通知", "supervision_opened"),
                ("supervision_noted", "已记录"),
                doc="第二十五条、第二十七条：有关部门对本项目下达限期整改通知（消息 supervision_opened），项目在任何阶段都收到，"
                    "通知不存在的项目编号则整改通知无法下达。")
    _on_message(d, "on_plan_change", "年度计划调整", 14, ("plan_change_received", "列入年度计划", "plan_changed"),
                ("plan_change_noted", "已列入计划"),
                doc="第五条：领导小组批准的年度建设计划调整把本项目列入计划（消息 plan_changed，带计划调整文号 plan_change_no）。")
    _on_message(d, "on_om_check", "运维经费申请查询", 16, ("om_check_received", "收到查询", "om_check_requested"),
                ("om_check_answered", "答复验收情况"), reply=("om_check_result", {"system_accepted": "${accepted}"}),
                doc="第二十四条：运维经费申请（om_funding，业务键为本项目编号）查询本项目是否已通过竣工验收（accepted）。")


def _on_message(d: Diagram, id: str, name: str, col: int, start: tuple, end: tuple, *, doc: str, reply=None) -> None:
    """A non-interrupting event subprocess of two events: a message arrives (its variables become the
    project's), and it ends, answering with a message of its own when `reply` is (name, inputs)."""
    d.event_subprocess(id, name, "unit", col, 5, cols=2, doc=doc)
    d.start(start[0], start[1], "unit", col, 5, message=start[2], interrupting=False, parent=id)
    message, inputs = reply or (None, None)
    d.end(end[0], end[1], "unit", col + 1, 5, parent=id, message=message, inputs=inputs)
    d.flow(start[0], end[0])
