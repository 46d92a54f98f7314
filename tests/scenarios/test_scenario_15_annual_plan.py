"""Scenario 15: the annual plan with three departments, one of them late (Art 5); the plan's included
entry starts its project (the first part of scenario 1)."""
from datetime import datetime

from scenario_support import (ENTRY, deploy_all, inbox, instance_by_key, move_to, offered, start, status,
                              variables, work)


def test_15_three_departments_one_late(db, frozen_clock):
    deploy_all(db)
    aid = start(db, "annual_plan", "PLAN-2027")
    work(db, "office", "open_call", {"plan_year": 2027, "department_codes": "edu,health,transport",
                                     "submission_deadline": "2026-03-31"}, aid)
    assert sorted(g for _, gs in offered(db) for g in gs) == ["unit:edu", "unit:health", "unit:transport"]
    work(db, "unit:edu", "submit_plan_entry", {**ENTRY, "entry_name": "智慧教育平台", "estimated_budget": 1800000})
    work(db, "unit:health", "submit_plan_entry", {**ENTRY, "entry_name": "卫生健康数据归集", "estimated_budget": 900000,
                                                  "follows_plan": False, "plan_clause": ""})
    move_to(db, datetime(2026, 3, 31, 18))
    assert inbox(db, "unit:transport") == ["submit_plan_entry"]  # still open on the deadline day
    move_to(db, datetime(2026, 4, 1, 9))
    assert inbox(db, "unit:transport") == []
    assert variables(db, aid)["late_departments"] == ["transport"]
    assert inbox(db, "office", aid) == ["review_plan_entry", "review_plan_entry"]
    work(db, "office", "review_plan_entry", {"plan_decision": "include", "plan_reason": "符合规划"}, aid)
    work(db, "office", "review_plan_entry", {"plan_decision": "exclude", "plan_reason": "未依据规划"}, aid)
    work(db, "leading_group", "approve_plan", {"plan_approval": "return", "meeting_minutes_no": "2026-1",
                                               "plan_approval_opinion": "再审"}, aid)
    assert inbox(db, "office", aid) == ["review_plan_entry", "review_plan_entry"]
    work(db, "office", "review_plan_entry", {"plan_decision": "include", "plan_reason": "符合规划"}, aid)
    work(db, "office", "review_plan_entry", {"plan_decision": "exclude", "plan_reason": "未依据规划"}, aid)
    assert variables(db, aid)["plan_total"] == 1800000
    work(db, "leading_group", "approve_plan", {"plan_approval": "approve", "meeting_minutes_no": "2026-2",
                                               "plan_approval_opinion": "通过"}, aid)
    work(db, "finance", "issue_special_funds", {"special_funds_amount": 1800000, "special_funds_doc_no": "达财预〔2026〕1号"}, aid)
    assert status(db, aid) == "completed"
    pid = instance_by_key(db, "project", "P-2027-edu-01")
    assert pid is not None
    assert instance_by_key(db, "project", "P-2027-health-01") is None
    project = variables(db, pid)
    assert (project["project_name"], project["unit"], project["estimated_budget"], project["plan_year"]) == \
        ("智慧教育平台", "edu", 1800000, 2027)
    assert inbox(db, "office", pid) == ["confirm_project_basis"]


def test_15_the_yearly_cycle_opens_the_call(db, frozen_clock):
    deploy_all(db)
    move_to(db, datetime(2026, 8, 31, 10))
    assert inbox(db, "office") == []
    move_to(db, datetime(2026, 9, 1, 10))
    assert inbox(db, "office") == ["open_call"]
