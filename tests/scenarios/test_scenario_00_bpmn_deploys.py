"""Every process, decision and form of bpmn/ deploys as one bundle."""
from scenario_support import deploy_all


def test_the_processes_of_the_measures_deploy(db, frozen_clock):
    result = deploy_all(db)
    processes = {i.key for i in result.items if i.kind == "process"}
    decisions = {i.key for i in result.items if i.kind == "decision"}
    assert {"project", "stage_review", "overdue_alert", "project_launch", "supervision", "annual_plan",
            "plan_submission", "om_funding", "planning"} <= processes
    assert {"approval_path", "adjustment_route", "review_periods", "om_eligibility"} <= decisions
