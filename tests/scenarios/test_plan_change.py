"""Art 5, last sentence: the fixed annual plan changes only in special circumstances, with the
leading group's approval; finance then adjusts the special funds. Art 5 with Art 8: construction
funds go only to a project in the year's plan or added by an approved plan change."""
import pytest

from scenario_support import (FormRefused, add_by_plan_change, declare_project, deploy_all, inbox, pass_stage,
                              status, variables, work)

RELEASE = {"released_amount": 1800000, "release_doc_no": "达财预〔2026〕8号", "release_date": "2026-04-10"}


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_funds_only_for_a_project_in_the_plan_or_added_by_an_approved_change(db, frozen_clock, decision):
    """第五条：数字达拉特年度建设计划及投资概算一经确定，无特殊情况不再调整。旗财政局结合数字达拉特年度建设计划下达信息化项目专项资金。"""
    deploy_all(db)
    pid = declare_project(db, "P-2026-090", in_plan=True, planned=False)
    cid = add_by_plan_change(db, "P-2026-090", decision)
    assert status(db, cid) == "completed"
    assert ("plan_change_no" in variables(db, pid)) == (decision == "approve")
    pass_stage(db, pid)
    pass_stage(db, pid)
    assert inbox(db, "finance", pid) == ["release_construction_funds"]
    if decision == "approve":
        work(db, "finance", "release_construction_funds", RELEASE, pid)
        assert inbox(db, "unit:edu", pid) == ["appoint_implementing_body"]
    else:
        with pytest.raises(FormRefused) as refused:
            work(db, "finance", "release_construction_funds", RELEASE, pid)
        assert "未列入年度建设计划" in refused.value.errors["released_amount"][0]
        assert inbox(db, "finance", pid) == ["release_construction_funds"]
