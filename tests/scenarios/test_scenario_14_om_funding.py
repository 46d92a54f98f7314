"""Scenario 14: O&M funding (Art 24, decision om_eligibility): a system that does not share is refused;
the legal-ground exception needs the office's review and the government's approval; security problems
have no exception; an eligible system is reviewed and funded."""
import pytest

from scenario_support import accepted_project, deploy_all, inbox, offered, start, status, variables, work

APPLICATION = {"unit": "edu", "system_name": "学籍管理系统", "request_kind": "om_funds", "requested_amount": 200000,
               "request_reason": "年度运维"}
COMPLIANT = {"shares_data": True, "duplicate_collection": False, "crypto_security_compliant": True,
             "major_hidden_danger": False, "compliance_note": "已核实"}


def _apply(db, legal=False, **facts):
    """O&M funds for the system a project built and had accepted: the application carries its 项目编号."""
    accepted_project(db, "P-2026-140")
    oid = start(db, "om_funding", "P-2026-140", user="edu", legal_ground_claimed=legal, **APPLICATION)
    work(db, "office", "verify_compliance", {**COMPLIANT, **facts}, oid)
    return oid


@pytest.mark.parametrize("facts, reason", [
    ({"shares_data": False}, "未按要求共享"),
    ({"duplicate_collection": True}, "重复采集"),
    ({"crypto_security_compliant": False}, "密码应用和网络安全"),
    ({"major_hidden_danger": True}, "重大安全隐患"),
], ids=["not sharing", "duplicate collection", "crypto or security", "major hidden danger"])
def test_14_refused_without_a_legal_ground(db, frozen_clock, facts, reason):
    deploy_all(db)
    oid = _apply(db, **facts)
    assert status(db, oid) == "completed"
    assert variables(db, oid)["om_decision"]["eligibility"] == "refused"
    assert reason in variables(db, oid)["om_decision"]["eligibility_reason"]
    assert inbox(db, "finance", oid) == []


def test_14_security_problems_have_no_legal_ground_exception(db, frozen_clock):
    deploy_all(db)
    oid = _apply(db, legal=True, shares_data=False, major_hidden_danger=True)
    assert variables(db, oid)["om_decision"]["eligibility"] == "refused"
    assert status(db, oid) == "completed"


@pytest.mark.parametrize("government, funded", [("approve", True), ("reject", False)])
def test_14_legal_ground_exception_needs_government_approval(db, frozen_clock, government, funded):
    deploy_all(db)
    oid = _apply(db, legal=True, shares_data=False)
    assert offered(db, oid) == [("review_legal_ground", ["office"])]
    work(db, "office", "review_legal_ground", {"legal_ground_review": "submit", "approved_om_amount": 150000,
                                               "legal_ground_opinion": "涉及未成年人信息，依法不共享"}, oid)
    work(db, "government", "approve_exception", {"government_decision": government, "government_doc_no": "达政字〔2026〕5号",
                                                 "government_opinion": "意见"}, oid)
    if funded:
        work(db, "finance", "arrange_funds", {"arranged_amount": 150000, "funds_doc_no": "达财〔2026〕9号",
                                              "funds_date": "2026-03-20"}, oid)
    assert status(db, oid) == "completed"
    assert ("arranged_amount" in variables(db, oid)) is funded


def test_14_eligible_system_is_reviewed_and_funded(db, frozen_clock):
    deploy_all(db)
    oid = _apply(db)
    assert offered(db, oid) == [("review_application", ["office"])]
    work(db, "office", "review_application", {"office_om_decision": "approve", "approved_om_amount": 180000,
                                              "office_om_opinion": "同意"}, oid)
    work(db, "finance", "arrange_funds", {"arranged_amount": 180000, "funds_doc_no": "达财〔2026〕10号",
                                          "funds_date": "2026-03-20"}, oid)
    assert status(db, oid) == "completed"
