"""Art 20: a unit may adjust the main content itself only while the adjustments, added up, stay within
10 % of the originally approved 概算; a rejected adjustment changes nothing.

第二十条：项目投资规模未超出概算批复、建设目标不变，项目主要建设内容确需调整且资金调整数额不超过概算总投资10%，
并符合下列情形之一的，可以由项目建设单位调整，同时向项目审批部门、领导小组办公室备案。
"""
import pytest

from scenario_support import PROGRESS, FormRefused, deploy_all, inbox, under_construction, variables, work


def _adjust(db, pid, amount):
    work(db, "unit:edu", "report_progress", {**PROGRESS, "adjustment_needed": True}, pid)
    work(db, "unit:edu", "request_adjustment", {"adjustment_content": "优化技术方案", "adjustment_amount": amount,
                                                "within_budget": True, "goal_unchanged": True,
                                                "adjustment_ground": "optimize_tech"}, pid)
    route = variables(db, pid)["adjustment_route"]
    if route == "self_adjust":
        work(db, "drc", "file_adjustment_with_drc", {"drc_filing_note": "已备案"}, pid)
        work(db, "office", "file_adjustment_with_office", {"office_filing_note": "已备案"}, pid)
    return route


def test_three_adjustments_of_9_percent_are_added_up(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-201")
    assert _adjust(db, pid, 162000) == "self_adjust"  # 9 %
    assert _adjust(db, pid, 162000) == "new_approval"  # 18 % in all: drc decides
    assert inbox(db, "drc", pid) == ["approve_adjustment"]


@pytest.mark.parametrize("second, route", [(90000, "self_adjust"), (90001, "new_approval")],
                         ids=["exactly 10 percent in all", "10 percent plus 1 yuan in all"])
def test_the_edge_of_ten_percent_cumulative(db, frozen_clock, second, route):
    deploy_all(db)
    pid = under_construction(db, "P-2026-202")
    assert _adjust(db, pid, 90000) == "self_adjust"
    assert _adjust(db, pid, second) == route
    if route == "self_adjust":
        assert variables(db, pid)["adjusted_so_far"] == 180000


def test_a_rejected_adjustment_changes_nothing(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-203")
    assert _adjust(db, pid, 400000) == "new_approval"
    with pytest.raises(FormRefused) as refused:  # approving needs the adjusted budget
        work(db, "drc", "approve_adjustment", {"adjustment_decision": "approve", "adjustment_reply_no": "达发改〔2026〕31号",
                                               "adjustment_opinion": "同意"}, pid)
    assert list(refused.value.errors) == ["adjusted_budget"]
    work(db, "drc", "approve_adjustment", {"adjustment_decision": "reject", "adjusted_budget": 2200000,
                                           "adjustment_reply_no": "达发改〔2026〕31号", "adjustment_opinion": "不同意"}, pid)
    v = variables(db, pid)
    assert (v["approved_budget"], v["original_budget"], v["adjusted_so_far"]) == (1800000, 1800000, 0)
    # spending beyond the unchanged budget is still flagged (Art 18, 19)
    work(db, "unit:edu", "report_progress", {**PROGRESS, "spent_total": 2000000}, pid)
    assert inbox(db, "drc", pid) == ["handle_serious_problem"]


def test_an_approved_adjustment_sets_the_new_budget(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-204")
    assert _adjust(db, pid, 400000) == "new_approval"
    work(db, "drc", "approve_adjustment", {"adjustment_decision": "approve", "adjusted_budget": 2200000,
                                           "adjustment_reply_no": "达发改〔2026〕31号", "adjustment_opinion": "同意"}, pid)
    assert (variables(db, pid)["approved_budget"], variables(db, pid)["original_budget"]) == (2200000, 1800000)
