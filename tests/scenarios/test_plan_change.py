"""Art 5, last sentence: the fixed annual plan changes only in special circumstances, with the
leading group's approval; finance then adjusts the special funds."""
import pytest

from scenario_support import deploy_all, inbox, start, status, variables, work

REQUEST = {"plan_year": 2026, "special_circumstances": "上级政策调整，须新增防汛预警系统",
           "change_content": "新增防汛预警系统一项", "budget_change": 600000}


@pytest.mark.parametrize("decision, steps", [("approve", ["adjust_special_funds"]), ("reject", [])])
def test_a_plan_change_needs_the_leading_group(db, frozen_clock, decision, steps):
    deploy_all(db)
    cid = start(db, "plan_change", "PLAN-2026-CHANGE-1", user="office", **REQUEST)
    assert inbox(db, "leading_group", cid) == ["decide_plan_change"]
    work(db, "leading_group", "decide_plan_change", {"change_decision": decision, "change_minutes_no": "2026-5",
                                                     "change_opinion": "同意" if decision == "approve" else "不予调整"}, cid)
    assert inbox(db, "finance", cid) == steps
    if steps:
        work(db, "finance", "adjust_special_funds", {"adjusted_funds": 2400000, "adjust_doc_no": "达财预〔2026〕9号"}, cid)
        assert variables(db, cid)["adjusted_funds"] == 2400000
    assert status(db, cid) == "completed"
