"""Scenario 1: a plan-listed project goes the whole way, from the annual plan to the third-party
post-evaluation (Art 5 to 29)."""
from datetime import datetime

import pytest

from scenario_support import (ACCEPTANCE_FILES, CODE, ENTRY, FormRefused, deploy_all, inbox, instance_by_key, move_to, offered, pass_stage, start,
                              status, variables, work)


def test_plan_listed_project_from_plan_to_post_evaluation(db, frozen_clock):
    deploy_all(db)
    # Art 5: the annual plan; the education bureau's entry is included, approved and funded
    aid = start(db, "annual_plan", "PLAN-2026")
    work(db, "office", "open_call", {"plan_year": 2026, "department_codes": "edu",
                                     "submission_deadline": "2026-03-20"}, aid)
    work(db, "unit:edu", "submit_plan_entry", {**ENTRY, "entry_name": "智慧教育平台", "estimated_budget": 1800000})
    work(db, "office", "review_plan_entry", {"plan_decision": "include", "plan_reason": "符合规划"}, aid)
    work(db, "leading_group", "approve_plan", {"plan_approval": "approve", "meeting_minutes_no": "2026-1",
                                               "plan_approval_opinion": "通过"}, aid)
    work(db, "finance", "issue_special_funds", {"special_funds_amount": 1800000,
                                                "special_funds_doc_no": "达财预〔2026〕1号"}, aid)
    assert status(db, aid) == "completed"
    pid = instance_by_key(db, "project", "P-2026-edu-01")  # the plan started the project (Art 5+)
    assert (variables(db, pid)["project_name"], variables(db, pid)["plan_year"]) == ("智慧教育平台", 2026)
    assert offered(db, pid) == [("confirm_project_basis", ["office"])]
    work(db, "office", "confirm_project_basis", {"in_plan": True, "plan_basis": "数字达拉特“十四五”规划",
                                                 "emergency": False, "simple": False, "cross_department": False,
                                                 "classified": False, "basis_opinion": "已列入规划"}, pid)
    assert variables(db, pid)["approval_path"] == "no_proposal"
    pass_stage(db, pid)  # feasibility study
    assert variables(db, pid)["feasibility_decision"] == "approve"
    assert variables(db, pid)["project_code"] == CODE
    pass_stage(db, pid)  # preliminary design and budget
    v = variables(db, pid)
    assert (v["design_decision"], v["approved_budget"]) == ("approve", 1800000)
    assert inbox(db, "finance", pid) == ["release_construction_funds"]
    work(db, "finance", "release_construction_funds", {"released_amount": 1800000, "release_doc_no": "达财预〔2026〕8号",
                                                       "release_date": "2026-04-10"}, pid)
    work(db, "unit:edu", "appoint_implementing_body", {
        "implementing_body": "信息中心", "responsible_person": "王伟", "responsible_phone": "0477-1234567",
        "management_rules": True, "security_management": "制度", "crypto_sync": "同步", "cloud_usage": "政务云"}, pid)
    work(db, "unit:edu", "procure_and_contract", {"procurement_method": "open_tender", "supplier": "某公司",
                                                  "contract_no": "HT-1", "contract_amount": 1750000,
                                                  "contract_file": "合同.pdf"}, pid)
    work(db, "unit:edu", "appoint_supervisor", {"supervisor_name": "某监理", "supervision_contract_no": "JL-1",
                                                "supervision_fee": 30000, "supervision_contract": "监理合同.pdf"}, pid)
    progress = {"progress_percent": 50, "spent_total": 800000, "platform_updated": True, "progress_note": "开发中",
                "serious_problem": False, "adjustment_needed": False, "construction_completed": False}
    work(db, "unit:edu", "report_progress", progress, pid)
    work(db, "unit:edu", "report_progress", {**progress, "progress_percent": 100, "spent_total": 1700000,
                                             "construction_completed": True, "completion_date": "2026-10-15"}, pid)
    work(db, "unit:edu", "preliminary_acceptance", {"preliminary_acceptance_date": "2026-10-20",
                                                    "preliminary_passed": True, "preliminary_opinion": "初验意见.pdf"}, pid)
    # Art 21: the audit report is the unit's 竣工决算审计报告 from an intermediary (no 审计局 step by default)
    assert inbox(db, "audit", pid) == [] and inbox(db, "unit:edu", pid) == ["apply_final_acceptance"]
    with pytest.raises(FormRefused) as refused:  # a material left out: the page refuses the application
        work(db, "unit:edu", "apply_final_acceptance", {"application_date": "2026-11-20",
                                                        **{k: v for k, v in ACCEPTANCE_FILES.items()
                                                           if k != "audit_report_copy"}}, pid)
    assert refused.value.missing == ["审计报告（竣工决算审计报告或旗审计局审计报告）"]
    work(db, "unit:edu", "apply_final_acceptance", {"application_date": "2026-11-20", **ACCEPTANCE_FILES}, pid)
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
    work(db, "office", "joint_acceptance", {"secure_products_check": "ok", "crypto_security_check": "ok",
                                            "energy_efficiency_check": "na", "joint_acceptance_result": "pass",
                                            "joint_acceptance_opinion": "通过"}, pid)
    work(db, "unit:edu", "file_acceptance_report", {"final_acceptance_report": "final_acceptance_report.pdf", "in_operation_on": "2026-12-01"}, pid)
    work(db, "unit:edu", "register_assets", {"asset_type": "intangible", "asset_cost": 1700000,
                                             "asset_register_no": "ZC-1", "surplus_returned": 100000}, pid)
    work(db, "finance", "confirm_asset_registration", {"asset_registration_opinion": "同意"}, pid)
    assert inbox(db, "unit:edu", pid) == []  # self-evaluation opens 12 months after going live
    move_to(db, datetime(2027, 11, 30, 9))
    assert inbox(db, "unit:edu", pid) == []
    move_to(db, datetime(2027, 12, 1, 9))
    assert inbox(db, "unit:edu", pid) == ["self_evaluation"]
    work(db, "unit:edu", "self_evaluation", {"self_evaluation_report": "self_evaluation_report.pdf", "budget_execution_rate": 94, "output_indicators": "完成",
                                             "benefit_indicators": "良好", "satisfaction_rate": 92}, pid)
    # Art 17: the office commissions the post-evaluation jointly with drc and finance
    work(db, "drc", "drc_reviews_self_evaluation", {"drc_self_evaluation_opinion": "同意",
                                                    "drc_joins_post_evaluation": True}, pid)
    work(db, "finance", "finance_reviews_self_evaluation", {"finance_self_evaluation_opinion": "同意",
                                                            "finance_joins_post_evaluation": True}, pid)
    work(db, "office", "office_reviews_self_evaluation", {"office_self_evaluation_opinion": "同意",
                                                          "commission_post_evaluation": True}, pid)
    work(db, "consultant", "third_party_post_evaluation", {"post_evaluation_report": "post_evaluation_report.pdf", "post_evaluation_conclusion": "达到预期",
                                                           "post_evaluation_grade": "good"}, pid)
    work(db, "office", "apply_evaluation_results", {"evaluation_assessment": "良好", "next_year_weight": "normal"}, pid)
    assert status(db, pid) == "completed"
    v = variables(db, pid)
    assert (v["post_evaluation_grade"], v["next_year_weight"]) == ("good", "normal")
