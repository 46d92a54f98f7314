"""阶段审查 (Art 8): one stage of a project's approval, called by the project process."""
from common import (UNIT, CODE_OK, Diagram, alert_inputs, day, due_in, enum, file, line, lanes, money,
                    overdue_after, project_code_field, text)

STAGES = "stage: proposal 项目建议书 | feasibility 可行性研究报告 | design 初步设计方案和投资概算 | combined 可研和初设合并"


def build() -> Diagram:
    d = Diagram("stage_review", "阶段审查", lanes("unit", "consultant", "office", "cac", "secrecy", "drc"),
                doc="第八条：可行性研究报告、初步设计方案的审查和批复。项目审批流程的每一阶段调用本流程（" + STAGES +
                    "）。第三方咨询机构的评估时间单独计算，不计入审查部门的办理时限。")
    d.start("review_requested", "收到审查任务", "unit", 0, doc="第八条：项目审批流程调用本流程，传入阶段 stage 和阶段名称 stage_name。")
    d.rule_task("set_review_periods", "确定办理时限", "unit", 1, decision="review_periods", result="periods",
                doc="办理时限决策表（review_periods）按阶段给出各部门的工作日时限；管理员可在 Modeler 中修改。")
    d.gateway("submission_merge", "", "unit", 2, doc="第八条：退回修改后重新提交。")
    d.user_task("submit_stage_document", "提交${stage_name}", "unit", 3, groups=UNIT,
                doc="第五条之二、第八条、第十二至十四条：项目建设单位提交本阶段文件。可行性研究报告应包含建设必要性；"
                    "可研和初设应明确统一接入政务云资源服务、视图信息综合应用平台、数字达拉特城市集中运行指挥中心的技术路径和措施，"
                    "信息资源共享分析、网络安全保障措施、密码应用方案和安全可靠产品情况；初步设计含投资概算。",
                form=[line("document_title", "文件名称", maxlength=100),
                      text("necessity", "建设必要性"),
                      text("content_scale", "建设内容和规模"),
                      money("investment_amount", "投资金额（元）", help="项目建议书填投资匡算，可研填投资估算，初步设计填投资概算，保留两位小数"),
                      text("unified_access", "统一接入的技术路径和措施（政务云、视图信息综合应用平台、城市集中运行指挥中心）"),
                      text("sharing_analysis", "信息资源共享分析（政务信息资源管理及编目）"),
                      text("security_measures", "网络安全保障措施"),
                      text("crypto_plan", "密码应用方案（同步规划、同步建设、同步运行）"),
                      text("secure_products", "安全可靠软硬件产品情况说明"),
                      text("cloud_resources", "政务云资源需求", required=False),
                      file("stage_document", "申报文件（盖章扫描件）")])
    d.user_task("evaluate_by_consultant", "出具第三方评估报告", "consultant", 4, groups="consultant",
                due=due_in("periods.consultant_days"),
                doc="第八条：第三方咨询机构出具评估报告，须包括对信息资源共享分析和网络安全保障措施的评估意见。评估时间不计入审查部门时限。",
                form=[file("consultant_report", "评估报告"),
                      text("consultant_sharing_opinion", "对信息资源共享分析的评估意见"),
                      text("consultant_security_opinion", "对网络安全保障措施的评估意见"),
                      enum("consultant_conclusion", "评估结论", [("recommend", "建议批复"), ("revise", "建议修改后再报"),
                                                             ("not_recommend", "不建议批复")])])
    d.boundary("consultant_overdue", "评估逾期", "evaluate_by_consultant", timer=overdue_after("periods.consultant_days"),
               interrupting=False, doc="评估超过时限：提醒领导小组办公室督办。")
    d.end("alert_consultant_overdue", "提醒办公室", "consultant", 4, 1, message="overdue_alert",
          inputs=alert_inputs("第三方评估"), doc="第九条：领导小组办公室负责项目日常调度。")
    d.gateway("reviews_split", "并联审查", "office", 5, kind="inclusive",
              doc="第三条、第八条、第二十七条：技术审查、网络安全审查并联开展；涉密项目同时进行保密审查。")
    d.user_task("technical_review", "技术审查", "office", 6, groups="office", due=due_in("periods.office_days"),
                doc="第三条第（二）项、第八条：领导小组办公室会同相关部门分析论证、归类整合，确定统一建设或自行建设，出具技术审查意见。",
                form=[text("office_review_opinion", "技术审查意见"),
                      enum("construction_mode", "建设方式", [("unified", "统一建设"), ("self", "自行建设")]),
                      enum("office_conclusion", "审查结论", [("pass", "通过"), ("revise", "退回修改")])])
    d.boundary("technical_review_overdue", "审查逾期", "technical_review", timer=overdue_after("periods.office_days"),
               interrupting=False)
    d.end("alert_technical_review_overdue", "提醒办公室", "office", 6, 1, message="overdue_alert",
          inputs=alert_inputs("技术审查"))
    d.user_task("security_review", "网络安全审查", "cac", 6, groups="cac", due=due_in("periods.cac_days"),
                doc="第三条第（三）项、第二十七条：旗委网信办指导项目中涉及的网络安全内容。",
                form=[text("cac_review_opinion", "网络安全审查意见"),
                      enum("cac_conclusion", "审查结论", [("pass", "通过"), ("revise", "退回修改")])])
    d.boundary("security_review_overdue", "审查逾期", "security_review", timer=overdue_after("periods.cac_days"),
               interrupting=False)
    d.end("alert_security_review_overdue", "提醒办公室", "cac", 6, 1, message="overdue_alert",
          inputs=alert_inputs("网络安全审查"))
    d.user_task("secrecy_review", "保密审查", "secrecy", 6, groups="secrecy", due=due_in("periods.secrecy_days"),
                doc="第三条第（八）项、第十条、第二十七条：涉密信息系统由旗委保密机要局审查。",
                form=[text("secrecy_review_opinion", "保密审查意见"),
                      enum("secrecy_conclusion", "审查结论", [("pass", "通过"), ("revise", "退回修改")])])
    d.boundary("secrecy_review_overdue", "审查逾期", "secrecy_review", timer=overdue_after("periods.secrecy_days"),
               interrupting=False)
    d.end("alert_secrecy_review_overdue", "提醒办公室", "secrecy", 6, 1, message="overdue_alert",
          inputs=alert_inputs("保密审查"))
    d.gateway("reviews_join", "", "office", 7.4, kind="inclusive")
    d.gateway("review_outcome", "审查意见", "office", 8.4, doc="任一部门退回修改：项目建设单位修改后重新提交。")
    d.gateway("reply_merge", "", "drc", 9.4)
    d.user_task("drc_reply", "批复${stage_name}", "drc", 10.4, groups="drc", due=due_in("periods.drc_days"),
                doc="第三条第（四）项、第八条：旗发展和改革委员会出具批复意见（经投资项目在线审批监管平台）。"
                    "自第一次批复起须填写投资项目统一代码；批复初步设计时批复投资概算。",
                form=[enum("drc_decision", "批复结论", [("approve", "批复同意"), ("revise", "退回修改"), ("reject", "不予批复")]),
                      line("reply_no", "批复文号", maxlength=60, help="例：达发改审批字〔2026〕12号"),
                      day("reply_date", "批复日期"),
                      project_code_field(),
                      money("approved_amount", "批复投资金额（元）", help="建议书为匡算、可研为估算、初步设计为概算；不予批复填 0"),
                      day("approved_completion_date", "批复建设完成期限"),
                      text("drc_opinion", "批复意见")])
    d.boundary("drc_reply_overdue", "批复逾期", "drc_reply", timer=overdue_after("periods.drc_days"),
               interrupting=False)
    d.end("alert_drc_reply_overdue", "提醒办公室", "drc", 10.4, 1, message="overdue_alert",
          inputs=alert_inputs("批复"))
    d.gateway("reply_check", "批复信息完整", "drc", 11.4,
              doc="投资项目统一代码须为24位：年份-150621-行业-类型-流水号；批复同意时批复金额须大于零。")
    d.gateway("drc_outcome", "批复结论", "drc", 12.4)
    d.end("stage_approved", "批复同意", "drc", 13.4, doc="第八条：本阶段批复同意。")
    d.end("stage_rejected", "不予批复", "drc", 13.4, 1, doc="第八条：不予批复，项目终止。")

    d.chain("review_requested", "set_review_periods", "submission_merge", "submit_stage_document")
    d.flow("submit_stage_document", "evaluate_by_consultant")
    d.flow("consultant_overdue", "alert_consultant_overdue")
    d.flow("evaluate_by_consultant", "reviews_split")
    d.flow("reviews_split", "technical_review", "必经", cond="${true}")
    d.flow("reviews_split", "security_review", "必经", cond="${true}")
    d.flow("reviews_split", "secrecy_review", "涉密", cond="${classified}")
    d.flow("technical_review_overdue", "alert_technical_review_overdue")
    d.flow("security_review_overdue", "alert_security_review_overdue")
    d.flow("secrecy_review_overdue", "alert_secrecy_review_overdue")
    d.flow("technical_review", "reviews_join")
    d.flow("security_review", "reviews_join", route="hv")
    d.flow("secrecy_review", "reviews_join", route="hv")
    d.flow("reviews_join", "review_outcome")
    d.flow("review_outcome", "submission_merge", "退回修改", id="Flow_review_returned",
           cond="office_conclusion == 'revise' or cac_conclusion == 'revise' "
                "or (classified and secrecy_conclusion == 'revise')",
           route="above", channel=None)
    d.flow("review_outcome", "reply_merge", "通过", id="Flow_review_passed", default=True)
    d.flow("reply_merge", "drc_reply")
    d.flow("drc_reply_overdue", "alert_drc_reply_overdue")
    d.flow("drc_reply", "reply_check")
    d.flow("reply_check", "reply_merge", "信息有误", id="Flow_reply_incomplete",
           cond="not (" + CODE_OK + ") or (drc_decision == 'approve' and approved_amount <= 0)", route="below")
    d.flow("reply_check", "drc_outcome", "完整", id="Flow_reply_complete", default=True)
    d.flow("drc_outcome", "stage_approved", "同意", cond="${drc_decision == 'approve'}")
    d.flow("drc_outcome", "stage_rejected", "不予批复", cond="${drc_decision == 'reject'}")
    d.flow("drc_outcome", "submission_merge", "退回修改", id="Flow_drc_returned",
           cond="${drc_decision == 'revise'}", route="above")
    return d
