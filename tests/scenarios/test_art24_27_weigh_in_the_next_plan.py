"""Art 24: O&M funds only for a system built and accepted; building or upgrading goes back to the
annual plan; Art 24 refusals and Art 27's 暂缓安排投资计划 are shown to the office when the
department's entries of the next annual plan are reviewed (the task page's findings).

第二十四条：……对未按要求共享数据资源或重复采集数据的信息化系统，不单独安排运行维护经费，项目建设单位不得新建、改建、扩建政务信息系统。
第二十七条：……领导小组办公室可以对其通报批评、暂缓安排投资计划、暂停项目建设直至终止项目。
"""
import pytest

from engine import projects
from engine.errors import ExecutionError
from scenario_support import (ENTRY, accepted_project, build_until_progress, declare_project, deploy_all, inbox,
                              offered, pass_stage, start, status, task_page, variables, work)

APPLICATION = {"unit": "edu", "system_name": "学籍管理系统", "requested_amount": 200000, "request_reason": "年度运维",
               "legal_ground_claimed": False}
COMPLIANT = {"shares_data": True, "duplicate_collection": False, "crypto_security_compliant": True,
             "major_hidden_danger": False, "compliance_note": "已核实"}


def test_om_funds_only_for_an_accepted_system(db, frozen_clock):
    deploy_all(db)
    with pytest.raises(ExecutionError, match="om_check_requested.*'P-2026-999'"):  # no such project
        start(db, "om_funding", "P-2026-999", user="edu", request_kind="om_funds", **APPLICATION)
    building = declare_project(db, "P-2026-241", in_plan=True)
    pass_stage(db, building)
    pass_stage(db, building)
    build_until_progress(db, building)
    oid = start(db, "om_funding", "P-2026-241", user="edu", request_kind="om_funds", **APPLICATION)
    assert status(db, oid) == "completed" and variables(db, oid)["system_accepted"] is False
    assert offered(db, oid) == []  # not built and accepted: nothing to fund, nothing for finance
    accepted_project(db, "P-2026-242")
    oid = start(db, "om_funding", "P-2026-242", user="edu", request_kind="om_funds", **APPLICATION)
    assert offered(db, oid) == [("verify_compliance", ["office"])]


def test_a_new_system_that_shares_goes_back_to_the_plan_not_to_finance(db, frozen_clock):
    deploy_all(db)
    oid = start(db, "om_funding", "OM-NEW-1", user="edu", request_kind="new", **{**APPLICATION, "requested_amount": 5000000})
    work(db, "office", "verify_compliance", COMPLIANT, oid)
    assert variables(db, oid)["om_decision"]["eligibility"] == "eligible"
    assert status(db, oid) == "completed"
    assert inbox(db, "finance", oid) == [] and "arranged_amount" not in variables(db, oid)


def test_refusals_and_deferrals_show_in_the_next_plans_review(db, frozen_clock):
    deploy_all(db)
    # Art 24: the education bureau's system does not share: refused
    oid = start(db, "om_funding", "OM-NEW-2", user="edu", request_kind="upgrade", **APPLICATION)
    work(db, "office", "verify_compliance", {**COMPLIANT, "shares_data": False}, oid)
    assert variables(db, oid)["om_decision"]["eligibility"] == "refused"
    # Art 27: the office defers the education bureau's investment plan until 2027
    pid = declare_project(db, "P-2026-243", in_plan=True)
    sid = start(db, "supervision", "SV-2026-243", user="finance", project_id="P-2026-243", project_name="智慧教育平台",
                unit="edu", issuer="finance", problem="资金使用不合规", article="第二十七条",
                rectification_deadline="2026-06-30")
    work(db, "unit:edu", "rectify_and_report", {"rectification_report": "未整改", "rectification_evidence": "说明.pdf"}, sid)
    work(db, "finance", "verify_rectification", {"verification_result": "not_done", "verification_opinion": "仍不合规"}, sid)
    work(db, "office", "decide_penalty", {"penalty": "defer_investment", "penalty_opinion": "暂缓安排投资计划"}, sid)
    work(db, "finance", "defer_investment_plan", {"deferral_note": "2027 年度不安排", "deferred_until_year": "2027"}, sid)
    assert status(db, sid) == "completed" and status(db, pid) == "running"
    # the 2027 plan: the education bureau proposes an upgrade of that system
    aid = start(db, "annual_plan", "PLAN-2027")
    work(db, "office", "open_call", {"plan_year": 2027, "department_codes": "edu,health",
                                     "submission_deadline": "2026-09-30"}, aid)
    work(db, "unit:edu", "submit_plan_entry", {**ENTRY, "entry_name": "学籍管理系统升级", "estimated_budget": 600000,
                                               "nature": "upgrade"})
    work(db, "unit:health", "submit_plan_entry", {**ENTRY, "entry_name": "健康档案", "estimated_budget": 300000})
    with db.read() as s:
        found = projects.plan_findings(s, ["edu", "health"], 2027)
        later = projects.plan_findings(s, ["edu", "health"], 2028)
    assert sorted((f.unit, f.kind, f.subject) for f in found) == [("edu", "investment_deferred", "P-2026-243"),
                                                                  ("edu", "om_refused", "学籍管理系统")]
    assert [(f.kind, f.subject) for f in later] == [("om_refused", "学籍管理系统")]  # the deferral ran out
    page = task_page(db, aid, "review_plan_entry")
    assert "暂缓安排投资计划（至 2027 年）：P-2026-243" in page
    assert "第二十四条不予安排（不得新建、改建、扩建）：学籍管理系统" in page
