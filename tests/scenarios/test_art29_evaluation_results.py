"""Art 29: the office's evaluation result of a closed project weighs on the next year's investment
(the annual plan's review of the department's entries) and on its O&M funds (the O&M application's
review), where the reviewing official sees it.

第二十九条：领导小组办公室应当加强对绩效评价和项目后评价结果的应用……并按照项目审批管理要求将评价结果作为
下一年度安排政府投资和运行维护经费的重要依据。
"""
from datetime import datetime

from engine import projects
from scenario_support import ENTRY, accepted_project, deploy_all, move_to, start, status, task_page, work

COMPLIANT = {"shares_data": True, "duplicate_collection": False, "crypto_security_compliant": True,
             "major_hidden_danger": False, "compliance_note": "已核实"}


def _evaluated(db, project_id, weight) -> int:
    """A project accepted, in operation since 2026-12-01, self-evaluated after 12 months; the office
    applies the results without a third-party post-evaluation."""
    pid = accepted_project(db, project_id)
    work(db, "unit:edu", "register_assets", {"asset_type": "intangible", "asset_cost": 1700000,
                                             "asset_register_no": "ZC-1", "surplus_returned": 100000}, pid)
    work(db, "finance", "confirm_asset_registration", {"asset_registration_opinion": "同意"}, pid)
    move_to(db, datetime(2027, 12, 1, 9))
    work(db, "unit:edu", "self_evaluation", {"self_evaluation_report": "自评价报告.pdf", "budget_execution_rate": 61,
                                             "output_indicators": "未完成数据中台", "benefit_indicators": "一般",
                                             "satisfaction_rate": 70}, pid)
    work(db, "drc", "drc_reviews_self_evaluation", {"drc_self_evaluation_opinion": "阅", "drc_joins_post_evaluation": False}, pid)
    work(db, "finance", "finance_reviews_self_evaluation", {"finance_self_evaluation_opinion": "阅",
                                                            "finance_joins_post_evaluation": False}, pid)
    work(db, "office", "office_reviews_self_evaluation", {"office_self_evaluation_opinion": "阅",
                                                          "commission_post_evaluation": False}, pid)
    work(db, "office", "apply_evaluation_results", {"evaluation_assessment": "预算执行率低，应用效果一般",
                                                    "next_year_weight": weight}, pid)
    assert status(db, pid) == "completed"
    return pid


def test_the_evaluation_result_shows_when_the_next_plan_and_om_funds_are_reviewed(db, frozen_clock):
    deploy_all(db)
    pid = _evaluated(db, "P-2026-291", "reduce")
    with db.read() as s:
        assert [(f.kind, f.weight, f.instance_id) for f in projects.plan_findings(s, ["edu"], 2028)] == [
            ("evaluation", "reduce", pid)]
        assert projects.plan_findings(s, ["edu"], 2031) == []  # years later it no longer weighs
    aid = start(db, "annual_plan", "PLAN-2028")
    work(db, "office", "open_call", {"plan_year": 2028, "department_codes": "edu",
                                     "submission_deadline": "2027-12-31"}, aid)
    work(db, "unit:edu", "submit_plan_entry", {**ENTRY, "entry_name": "智慧教育平台二期", "estimated_budget": 900000})
    page = task_page(db, aid, "review_plan_entry")
    assert "第二十九条评价结果（压减）：智慧教育平台（P-2026-291）" in page
    assert "预算执行率低，应用效果一般" in page
    # the O&M funds of another system of the same bureau
    accepted_project(db, "P-2026-292")
    oid = start(db, "om_funding", "P-2026-292", user="edu", unit="edu", system_name="教育资源平台",
                request_kind="om_funds", requested_amount=200000, request_reason="2028 年度运维",
                legal_ground_claimed=False)
    work(db, "office", "verify_compliance", COMPLIANT, oid)
    assert "第二十九条评价结果（压减）：智慧教育平台（P-2026-291）" in task_page(db, oid, "review_application")
