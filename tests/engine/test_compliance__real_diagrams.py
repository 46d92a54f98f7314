"""The compliance checks on the real 办法 diagrams: bpmn/ deployed and driven through the engine's
services as the officials would (tests/scenarios/scenario_support.py), one project that breaks a rule
and one that keeps it; the check lists exactly the breaking one, with the events as evidence.

Where project.bpmn's own gateways make a breach impossible the test says so and asserts that the
check reads the real projects (they count as checked) and stays clean."""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))

from scenario_support import (JOINT_PASS, PROGRESS, FormRefused, apply_for_acceptance, build_until_progress,  # noqa: E402
                              complete_construction, declare_project, deploy_all, inbox, move_to, pass_stage,
                              work)

from engine import compliance  # noqa: E402

SELF_EVALUATION = {"budget_execution_rate": 94, "output_indicators": "完成", "benefit_indicators": "良好",
                   "satisfaction_rate": 92, "self_evaluation_report": "自评价报告.pdf"}


def run(db, rule_id: str, rules=None):
    rules = rules if rules is not None else compliance.load_rules(path="/nonexistent/compliance.json")
    [rule] = [r for r in rules if r.id == rule_id]
    with db.read() as s:
        [result] = compliance.check(s, [rule])
    return result


def breached(result) -> dict:
    return {b.business_key: b for b in result.breaches}


def under_construction(db, key: str) -> int:
    """A plan-listed project: feasibility and design approved (stage_review twice), funds released,
    procured and contracted; its first progress report is due."""
    pid = declare_project(db, key, in_plan=True)
    pass_stage(db, pid)  # review_feasibility
    pass_stage(db, pid)  # review_design
    build_until_progress(db, pid)
    return pid


def applied(db, key: str, completion_date: str = "2026-10-15") -> int:
    pid = under_construction(db, key)
    complete_construction(db, pid, completion_date)
    apply_for_acceptance(db, pid)
    return pid


def in_operation(db, key: str, in_operation_on: str = "2026-12-01") -> int:
    pid = applied(db, key, completion_date="2024-01-05")
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
    work(db, "office", "joint_acceptance", JOINT_PASS, pid)
    work(db, "unit:edu", "file_acceptance_report", {"in_operation_on": in_operation_on,
                                                    "final_acceptance_report": "验收报告.pdf"}, pid)
    return pid


def elements(breach) -> list[str]:
    return [e["element_id"] for e in breach.evidence]


@pytest.fixture
def real(db, frozen_clock):
    deploy_all(db)
    return db


def test_art8_funds_and_procurement_follow_the_design_approval_on_the_real_diagrams(real):
    """A breach is impossible in project.bpmn: release_construction_funds follows approval_merge, which
    only review_design's or review_combined's approval reaches (and procure_and_contract comes later
    still). The check reads the real projects and stays clean; that it tells the stages apart (the
    drc_reply of review_design, not of review_feasibility) shows when the gate is set to a stage the
    project never ran."""
    db = real
    under_construction(db, "P-A8-1")
    stopped = declare_project(db, "P-A8-2", in_plan=True)
    pass_stage(db, stopped)  # feasibility approved, design not yet: no funds, nothing to check
    result = run(db, "art8_funds_before_design_approval")
    assert result.ok and result.checked == 1
    proposal_gate = [compliance.rule_from_dict({**spec, "gate": {**spec["gate"],
                                                                 "elements": ["review_proposal/drc_reply"]}}, "test")
                     for spec in compliance.DEFAULT_RULES if spec["id"] == "art8_funds_before_design_approval"]
    breaches = run(db, "art8_funds_before_design_approval", proposal_gate).breaches
    assert {b.business_key for b in breaches} == {"P-A8-1"}
    assert [elements(b) for b in breaches] == [["release_construction_funds"], ["procure_and_contract"]]
    assert all(b.params["gate_seq"] is None for b in breaches)


def _adjust(db, key, amount, ground="gov_approved") -> int:
    pid = under_construction(db, key)
    work(db, "unit:edu", "report_progress", {**PROGRESS, "adjustment_needed": True}, pid)
    work(db, "unit:edu", "request_adjustment", {"adjustment_content": "增加数据接口", "adjustment_amount": amount,
                                                "within_budget": True, "goal_unchanged": True,
                                                "adjustment_ground": ground}, pid)
    return pid


def test_art20_adjustments_beyond_the_limits_go_to_drc_on_the_real_diagrams(real):
    """A breach is impossible in project.bpmn: adjustment_route.dmn sends every adjustment that is not
    within budget, goal unchanged, at most 10 % and on one of the three grounds to approve_adjustment,
    the complement the rule flags. The check reads the adjustments (12 % and ground 'none' trigger it,
    8 % does not) and stays clean."""
    db = real
    twelve = _adjust(db, "P-A20-12", 216000)  # 12 % of the approved 1 800 000
    assert inbox(db, "drc", twelve) == ["approve_adjustment"]
    work(db, "drc", "approve_adjustment", {"adjustment_decision": "approve", "adjusted_budget": 1900000,
                                           "adjustment_reply_no": "达发改审批字〔2026〕30号", "adjustment_opinion": "同意"},
         twelve)
    other = _adjust(db, "P-A20-OTHER", 50000, ground="none")
    work(db, "drc", "approve_adjustment", {"adjustment_decision": "reject", "adjustment_reply_no": "达发改审批字〔2026〕31号",
                                           "adjustment_opinion": "不同意"}, other)
    eight = _adjust(db, "P-A20-8", 144000)
    work(db, "drc", "file_adjustment_with_drc", {"drc_filing_note": "已备案"}, eight)
    work(db, "office", "file_adjustment_with_office", {"office_filing_note": "已备案"}, eight)
    result = run(db, "art20_adjustment_without_approval")
    assert result.ok and result.checked == 2  # the 8 % self-adjustment needs no approval


def test_art21_an_acceptance_application_later_than_six_months_on_the_real_diagrams(real):
    """The six months run from the completion_date reported with the last progress report; the
    application is made today (2026-03-02)."""
    db = real
    applied(db, "P-A21-IN-TIME", completion_date="2025-10-15")  # due 2026-04-15
    applied(db, "P-A21-LATE", completion_date="2025-08-20")  # due 2026-02-20
    result = run(db, "art21_acceptance_application_late")
    found = breached(result)
    assert set(found) == {"P-A21-LATE"} and result.checked == 2
    breach = found["P-A21-LATE"]
    assert breach.reason == "late" and breach.params["due"].startswith("2026-02-20T23:59:59")
    assert elements(breach) == ["report_progress", "apply_final_acceptance"]
    assert breach.evidence[0]["data"]["values"]["completion_date"] == "2025-08-20"


def test_art21_the_ten_materials_of_the_acceptance_application_on_the_real_diagrams(real):
    """A breach is impossible through the task page (forms/submission.py): an application without one
    of the ten materials is refused, naming it. The check reads the application made with all ten
    and stays clean."""
    db = real
    pid = under_construction(db, "P-A21-ALL")
    complete_construction(db, pid)
    nine = {f: f"{f}.pdf" for f in compliance.ACCEPTANCE_MATERIALS if f != "crypto_assessment_report"}
    with pytest.raises(FormRefused) as refused:
        work(db, "unit:edu", "apply_final_acceptance", {"application_date": "2026-11-20", **nine}, pid)
    assert refused.value.missing == ["密码应用安全性评估报告"]
    apply_for_acceptance(db, pid)
    result = run(db, "art21_acceptance_materials")
    assert result.ok and result.checked == 1


def test_art22_no_acceptance_without_archive_acceptance_on_the_real_diagrams(real):
    """A breach is impossible in project.bpmn: joint_acceptance is reached only through archive_outcome's
    'pass' branch (a failed archive acceptance goes to rectify_archives and back). The check reads the
    passed acceptances, one after a failed and repeated archive acceptance, and stays clean."""
    db = real
    first_time = applied(db, "P-A22-1")
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, first_time)
    work(db, "office", "joint_acceptance", JOINT_PASS, first_time)
    repeated = applied(db, "P-A22-2")
    work(db, "archives", "archive_acceptance", {"archive_result": "fail", "archive_opinion": "缺少电子档案"}, repeated)
    assert inbox(db, "office", repeated) == []
    work(db, "unit:edu", "rectify_archives", {"archive_rectification": "补齐"}, repeated)
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, repeated)
    work(db, "office", "joint_acceptance", JOINT_PASS, repeated)
    result = run(db, "art22_acceptance_without_archive_acceptance")
    assert result.ok and result.checked == 2


def test_art17_self_evaluation_within_24_months_of_going_live_on_the_real_diagrams(real):
    """The 24 months run from in_operation_on as file_acceptance_report records it; the projects went
    live in the past, so twelve_months_in_operation is due at once and the self-evaluations are
    made today (2026-03-02)."""
    db = real
    clean = in_operation(db, "P-A17-ON-TIME", in_operation_on="2025-01-10")  # due 2027-01-10
    late = in_operation(db, "P-A17-LATE", in_operation_on="2024-02-20")  # due 2026-02-20
    still_open = in_operation(db, "P-A17-NOT-YET", in_operation_on="2025-12-01")  # opens 2026-12-01
    for pid in (clean, late, still_open):
        work(db, "unit:edu", "register_assets", {"asset_type": "intangible", "asset_cost": 1700000,
                                                 "asset_register_no": "ZC-1", "surplus_returned": 0}, pid)
        work(db, "finance", "confirm_asset_registration", {"asset_registration_opinion": "同意"}, pid)
    move_to(db, datetime(2026, 3, 2, 9))  # the same day: the timers that are due fire
    assert inbox(db, "unit:edu", still_open) == []
    for pid in (clean, late):
        work(db, "unit:edu", "self_evaluation", SELF_EVALUATION, pid)
    result = run(db, "art17_self_evaluation_24_months")
    found = breached(result)
    assert set(found) == {"P-A17-LATE"} and result.checked == 3
    breach = found["P-A17-LATE"]
    assert breach.reason == "late" and breach.params["due"].startswith("2026-02-20T23:59:59")
    assert elements(breach) == ["file_acceptance_report", "self_evaluation"]


def test_art27_rectification_deadlines_on_the_real_diagrams(real, tmp_path):
    """Supervision (Art 27) is not drawn in bpmn/ yet, so the built-in rule, on lifecycle.md's names
    (compliance.SUPERVISION), reads no real project. Mapping it is one entry in the rules file: here
    onto the rectification after a failed joint acceptance (joint_acceptance sets
    rectification_deadline, rectify_acceptance reports), which breaks and keeps the deadline."""
    db = real
    for key, deadline in (("P-A27-ON-TIME", "2026-03-31"), ("P-A27-LATE", "2026-02-27")):
        pid = applied(db, key)
        work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
        work(db, "office", "joint_acceptance", {**JOINT_PASS, "joint_acceptance_result": "fail",
                                                "rectification_deadline": deadline}, pid)
        work(db, "unit:edu", "explain_failed_acceptance", {"failure_explanation": "密码测评未完成",
                                                           "failure_explanation_file": "说明.pdf"}, pid)
        work(db, "finance", "withhold_funds", {"withheld_amount": 100000, "withhold_note": "暂停拨付"}, pid)
        work(db, "unit:edu", "rectify_acceptance", {"acceptance_rectification": "已完成",
                                                    "acceptance_rectification_report": "整改报告.pdf"}, pid)  # today
    assert run(db, "art27_rectification_overdue").checked == 0
    path = tmp_path / "compliance.json"
    path.write_text('{"rules": [{"id": "art27_rectification_overdue", '
                    '"start": {"elements": ["joint_acceptance"], "when": "${joint_acceptance_result == \'fail\'}"}, '
                    '"end": {"elements": ["rectify_acceptance"]}}]}', encoding="utf-8")
    result = run(db, "art27_rectification_overdue", compliance.load_rules(path))
    found = breached(result)
    assert set(found) == {"P-A27-LATE"} and result.checked == 2
    assert found["P-A27-LATE"].params["due"].startswith("2026-02-27T23:59:59")
    assert elements(found["P-A27-LATE"]) == ["joint_acceptance", "rectify_acceptance"]


def test_art27_rectification_orders_past_their_deadline_on_the_real_diagrams(real):
    """supervision.bpmn: the order's deadline (its start form) against the unit's report."""
    from scenario_support import start
    db = real
    order = {"project_name": "智慧教育平台", "unit": "edu", "problem": "未按批复使用政务云", "article": "第十四条"}
    declare_project(db, "P-A27-ON-TIME", in_plan=True)
    declare_project(db, "P-A27-LATE", in_plan=True)
    on_time = start(db, "supervision", "SV-A27-ON-TIME", user="office", project_id="P-A27-ON-TIME", issuer="office",
                    rectification_deadline="2026-03-20", **order)
    start(db, "supervision", "SV-A27-LATE", user="office", project_id="P-A27-LATE", issuer="office",
          rectification_deadline="2026-03-05", **order)
    move_to(db, datetime(2026, 3, 4, 10))
    work(db, "unit:edu", "rectify_and_report", {"rectification_report": "已迁移至政务云",
                                                "rectification_evidence": "整改报告.pdf"}, on_time)
    result = run(db, "art27_rectification_overdue")
    assert breached(result) == {} and result.checked == 2  # the late one is not due yet
    move_to(db, datetime(2026, 3, 6, 10))  # past the deadline, no report; the timer sends it to office
    found = breached(run(db, "art27_rectification_overdue"))
    assert set(found) == {"SV-A27-LATE"} and found["SV-A27-LATE"].reason == "overdue"
    assert elements(found["SV-A27-LATE"])[0] == "order_issued"
    ahead = run(db, "art27_rectification_deadline_ahead")  # each deadline was ahead on the day of its order
    assert ahead.checked == 2 and breached(ahead) == {}
