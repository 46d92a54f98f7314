"""Scenario 6: revision loops at the office and at drc (Art 8); scenario 7: adjustments of 8 % and
12 % of the approved budget (Art 20, decision adjustment_route)."""
import pytest

from scenario_support import (PROGRESS, build_until_progress, declare_project, deploy_all, inbox,
                              offered, pass_stage, variables, work)



def test_06_office_and_drc_send_the_feasibility_study_back(db, frozen_clock):
    deploy_all(db)
    pid = declare_project(db, in_plan=True)
    pass_stage(db, pid, office="revise")  # the office's technical review returns it
    assert offered(db, pid) == [("submit_stage_document", ["unit:edu"])]
    pass_stage(db, pid, decision="revise")  # now drc returns it
    assert offered(db, pid) == [("submit_stage_document", ["unit:edu"])]
    pass_stage(db, pid, code="2026-150622-65-01-000123")  # a code outside Dalad Banner: drc fills it in again
    assert offered(db, pid) == [("drc_reply", ["drc"])]
    work(db, "drc", "drc_reply", {"drc_decision": "approve", "reply_no": "达发改审批字〔2026〕13号",
                                  "reply_date": "2026-04-02", "project_code": "2026-150621-65-01-000123",
                                  "approved_amount": 1800000, "approved_completion_date": "2026-12-31",
                                  "drc_opinion": "同意"}, pid)
    assert variables(db, pid)["feasibility_decision"] == "approve"
    assert offered(db, pid) == [("submit_stage_document", ["unit:edu"])]  # the design stage


def _under_construction(db, project_id):
    pid = declare_project(db, project_id, in_plan=True)
    pass_stage(db, pid)
    pass_stage(db, pid)
    build_until_progress(db, pid)
    return pid


@pytest.mark.parametrize("amount, route, bureaus", [
    (144000, "self_adjust", {"drc": ["file_adjustment_with_drc"], "office": ["file_adjustment_with_office"]}),
    (216000, "new_approval", {"drc": ["approve_adjustment"], "office": []}),
], ids=["8 percent, ground one: self-adjust and file", "12 percent: new approval"])
def test_07_adjustment_route_follows_the_ten_percent_rule(db, frozen_clock, amount, route, bureaus):
    deploy_all(db)
    pid = _under_construction(db, "P-2026-020")
    work(db, "unit:edu", "report_progress", {**PROGRESS, "adjustment_needed": True}, pid)
    work(db, "unit:edu", "request_adjustment", {"adjustment_content": "增加数据接口", "adjustment_amount": amount,
                                                "within_budget": True, "goal_unchanged": True,
                                                "adjustment_ground": "gov_approved"}, pid)
    assert variables(db, pid)["adjustment_route"] == route
    for group, tasks in bureaus.items():
        assert inbox(db, group, pid) == tasks
    if route == "self_adjust":
        work(db, "drc", "file_adjustment_with_drc", {"drc_filing_note": "已备案"}, pid)
        work(db, "office", "file_adjustment_with_office", {"office_filing_note": "已备案"}, pid)
    else:
        work(db, "drc", "approve_adjustment", {"adjustment_decision": "approve", "adjusted_budget": 1900000,
                                               "adjustment_reply_no": "达发改审批字〔2026〕30号",
                                               "adjustment_opinion": "同意"}, pid)
        assert variables(db, pid)["approved_budget"] == 1900000
    assert inbox(db, "unit:edu", pid) == ["report_progress"]
