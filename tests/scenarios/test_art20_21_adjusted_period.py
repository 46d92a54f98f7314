"""Art 20 and 21: an adjustment drc approves may change the schedule; the approved period the unit
must complete within (and whose passing alerts the office and drc) is then the adjusted one.
An adjustment that leaves the schedule, or that drc rejects, leaves the period as it was.

第二十条：……（三）根据所建政务信息化项目业务发展需要，在已批复项目建设规划的框架下调整相关建设内容及进度的。
第二十一条：项目建设单位在批复期内完成建设内容，并组织完成初验。
"""
from datetime import datetime

from engine import services
from scenario_support import PROGRESS, deploy_all, inbox, move_to, under_construction, variables, work


def _period_alerts(db):
    """drc's follow-ups of the approved period passing (not of a monthly report not made)."""
    with db.read() as s:
        return [t for t in services.tasks(s, groups=["drc"]) if t.element_id == "drc_follow_up"
                and services.instance(s, t.instance_id).variables.get("alert_step") == PERIOD_STEP]

PERIOD_STEP = "批复期内完成建设和初验"  # project.bpmn's alert_period_passed


def _adjustment_to_approve(db, pid):
    """20 % of the approved 1,800,000: beyond the unit's own adjustment, drc decides."""
    work(db, "unit:edu", "report_progress", {**PROGRESS, "adjustment_needed": True}, pid)
    work(db, "unit:edu", "request_adjustment", {"adjustment_content": "增加数据中台模块，建设期延长半年",
                                                "adjustment_amount": 360000, "within_budget": False,
                                                "goal_unchanged": True, "adjustment_ground": "business_need"}, pid)
    assert inbox(db, "drc", pid) == ["approve_adjustment"]


def _decide(db, pid, decision, new_date=None):
    work(db, "drc", "approve_adjustment", {"adjustment_decision": decision, "adjusted_budget": 2160000,
                                           "adjusted_completion_date": new_date,
                                           "adjustment_reply_no": "达发改审批字〔2026〕30号",
                                           "adjustment_opinion": "同意" if decision == "approve" else "不同意"}, pid)
    return variables(db, pid)["approved_completion_date"]


def test_an_approved_adjustment_of_the_schedule_moves_the_approved_period(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-212")  # approved completion date 2026-12-31
    _adjustment_to_approve(db, pid)
    assert _decide(db, pid, "reject", "2027-06-30") == "2026-12-31"  # rejected: nothing changes
    _adjustment_to_approve(db, pid)
    assert _decide(db, pid, "approve") == "2026-12-31"  # approved, the schedule kept
    _adjustment_to_approve(db, pid)
    assert _decide(db, pid, "approve", "2027-06-30") == "2027-06-30"  # approved with a new schedule
    move_to(db, datetime(2027, 1, 1, 9))  # past the first period: no alert
    assert _period_alerts(db) == []
    move_to(db, datetime(2027, 7, 1, 9))  # past the adjusted one
    assert len(_period_alerts(db)) == 1
