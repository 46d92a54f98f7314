"""Money, dates and verdicts checked against each other (rule table engine/compliance.py, kind
`consistent`): refused at the form, refused on the engine's own door (REST, CLI), and reported on
/audit/compliance for what was recorded while a rule was off.

第八条：初步设计方案和投资概算未获批复前，不予下达项目建设投资资金。
第十三条：项目软硬件产品的安全可靠情况、项目密码应用和安全审查情况……是项目验收的重要内容。
第二十一条：未通过竣工验收的项目……不得拨付相关财政资金。……由领导小组办公室再次组织开展竣工验收。
"""
import json

import pytest

from engine import compliance, services
from scenario_support import (CODE, JOINT_PASS, SUBMISSION, FormRefused, apply_for_acceptance, build_until_progress,
                              complete_construction, declare_project, deploy_all, inbox, pass_stage, variables, work)

RELEASE = {"release_doc_no": "达财预〔2026〕8号", "release_date": "2026-04-10"}


def _approved(db, key):
    pid = declare_project(db, key, in_plan=True)
    pass_stage(db, pid)
    pass_stage(db, pid)  # the design and budget: 1,800,000
    return pid


def _refused(db, group, element, data, pid) -> dict:
    with pytest.raises(FormRefused) as refused:
        work(db, group, element, data, pid)
    return refused.value.errors


def test_funds_beyond_the_approved_budget_are_refused_on_every_door(db, frozen_clock):
    deploy_all(db)
    pid = _approved(db, "P-2026-401")
    errors = _refused(db, "finance", "release_construction_funds", {"released_amount": 9000000, **RELEASE}, pid)
    assert errors == {"released_amount": ["下达资金（含此前已下达）不得超过批复的投资概算"]}
    with db.read() as s:
        [task] = services.tasks(s, groups=["finance"], instance_id=pid)
    with pytest.raises(compliance.RuleViolation, match="field 'released_amount'.*art8_release_within_approved_budget"):
        with db.write() as s:  # the door of REST and the CLI: the engine itself refuses
            services.complete_task(s, task.id, user="finance", groups=["finance"],
                                   data={"released_amount": 9000000, **RELEASE})
    work(db, "finance", "release_construction_funds", {"released_amount": 1800000, **RELEASE}, pid)
    assert inbox(db, "unit:edu", pid) == ["appoint_implementing_body"]


def test_a_completion_date_before_the_reply_date_is_refused(db, frozen_clock):
    deploy_all(db)
    pid = declare_project(db, "P-2026-402", in_plan=True)
    work(db, "unit:edu", "submit_stage_document", SUBMISSION, pid)
    work(db, "consultant", "evaluate_by_consultant", {"consultant_report": "评估.pdf", "consultant_sharing_opinion": "充分",
                                                     "consultant_security_opinion": "可行", "consultant_conclusion": "recommend"}, pid)
    work(db, "office", "technical_review", {"office_review_opinion": "同意", "construction_mode": "self",
                                            "office_conclusion": "pass"}, pid)
    work(db, "cac", "security_review", {"cac_review_opinion": "同意", "cac_conclusion": "pass"}, pid)
    reply = {"drc_decision": "approve", "reply_no": "达发改审批字〔2026〕12号", "reply_date": "2026-04-01",
             "project_code": CODE, "approved_amount": 1800000, "approved_completion_date": "2026-03-31",
             "drc_opinion": "同意"}
    assert _refused(db, "drc", "drc_reply", reply, pid) == {"approved_completion_date": ["批复建设完成期限不得早于批复日期"]}
    work(db, "drc", "drc_reply", {**reply, "approved_completion_date": "2026-04-01"}, pid)  # the same day is fine


def _failed_then_passed(db, key):
    pid = _approved(db, key)
    build_until_progress(db, pid)
    complete_construction(db, pid)  # completed 2026-10-15
    apply_for_acceptance(db, pid)
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
    return pid


def test_acceptance_cannot_pass_with_non_conforming_checks_and_withheld_funds_are_released_after_the_pass(db, frozen_clock):
    deploy_all(db)
    pid = _failed_then_passed(db, "P-2026-403")
    errors = _refused(db, "office", "joint_acceptance", {**JOINT_PASS, "secure_products_check": "not_ok",
                                                         "crypto_security_check": "not_ok"}, pid)
    assert list(errors) == ["joint_acceptance_result"]
    assert list(_refused(db, "office", "joint_acceptance", {**JOINT_PASS, "joint_acceptance_result": "fail"}, pid)) == \
        ["rectification_deadline"]
    work(db, "office", "joint_acceptance", {**JOINT_PASS, "crypto_security_check": "not_ok", "joint_acceptance_result": "fail",
                                            "rectification_deadline": "2027-01-31"}, pid)
    work(db, "unit:edu", "explain_failed_acceptance", {"failure_explanation": "密评未完成", "failure_explanation_file": "说明.pdf"}, pid)
    work(db, "finance", "withhold_funds", {"withheld_amount": 100000, "withhold_note": "暂停拨付尾款"}, pid)
    work(db, "unit:edu", "rectify_acceptance", {"acceptance_rectification": "完成密评",
                                                "acceptance_rectification_report": "整改报告.pdf"}, pid)
    work(db, "office", "joint_acceptance", JOINT_PASS, pid)
    # 投入运行日期 before the project was built
    assert list(_refused(db, "unit:edu", "file_acceptance_report", {"final_acceptance_report": "验收报告.pdf",
                                                                    "in_operation_on": "2026-01-01"}, pid)) == ["in_operation_on"]
    work(db, "unit:edu", "file_acceptance_report", {"final_acceptance_report": "验收报告.pdf", "in_operation_on": "2026-12-01"}, pid)
    work(db, "unit:edu", "register_assets", {"asset_type": "intangible", "asset_cost": 1700000, "asset_register_no": "ZC-1",
                                             "surplus_returned": 0}, pid)
    assert list(_refused(db, "finance", "confirm_asset_registration", {"asset_registration_opinion": "同意"}, pid)) == \
        ["withheld_released"]
    work(db, "finance", "confirm_asset_registration", {"asset_registration_opinion": "同意", "withheld_released": 100000}, pid)
    assert variables(db, pid)["withheld_released"] == 100000


def test_a_rule_an_administrator_turned_off_lets_work_through_and_the_audit_reports_it(db, frozen_clock, tmp_path,
                                                                                       monkeypatch):
    rules = tmp_path / "compliance.json"
    rules.write_text(json.dumps({"rules": [{"id": "art8_release_within_approved_budget", "enabled": False}]}),
                     encoding="utf-8")
    monkeypatch.setenv("DALAD_COMPLIANCE_FILE", str(rules))
    deploy_all(db)
    pid = _approved(db, "P-2026-404")
    work(db, "finance", "release_construction_funds", {"released_amount": 9000000, **RELEASE}, pid)
    monkeypatch.delenv("DALAD_COMPLIANCE_FILE")
    with db.read() as s:
        [result] = compliance.check(s, [r for r in compliance.load_rules() if r.id == "art8_release_within_approved_budget"])
    assert [(b.instance_id, b.reason, b.params["field"]) for b in result.breaches] == [(pid, "inconsistent", "released_amount")]
