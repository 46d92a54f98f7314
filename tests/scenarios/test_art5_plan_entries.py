"""Art 5: a department submits as many plan entries as it has, each reviewed on its own and, once
included, a project with a business key of its own; Art 5+: whether a project is 规划中已经明确的项目
(no 项目建议书) is the office's finding from the plan itself, not the entry's 依据规划建设.

第五条：旗直各部门每年向领导小组办公室提交下一年度项目计划……项目是否依据数字达拉特规划中的相关要求建设，
是纳入数字达拉特年度建设计划的重要因素。
第五条之二：经批准的发展规划、空间规划、区域规划、专项规划中已经明确的项目……可以不再审批项目建议书。
"""
import pytest

from engine.errors import InvalidInput
from scenario_support import (ENTRY, FormRefused, deploy_all, inbox, instance_by_key, offered, start, status,
                              variables, work)


def _plan_with_two_entries(db):
    aid = start(db, "annual_plan", "PLAN-2027")
    work(db, "office", "open_call", {"plan_year": 2027, "department_codes": "edu",
                                     "submission_deadline": "2026-03-31"}, aid)
    work(db, "unit:edu", "submit_plan_entry", {**ENTRY, "entry_name": "智慧教育平台", "estimated_budget": 1800000,
                                               "more_entries": True})
    work(db, "unit:edu", "submit_plan_entry", {**ENTRY, "entry_name": "教育城域网升级", "estimated_budget": 900000,
                                               "nature": "upgrade", "follows_plan": False, "plan_clause": ""})
    assert inbox(db, "office", aid) == ["review_plan_entry", "review_plan_entry"]
    for _ in range(2):
        work(db, "office", "review_plan_entry", {"plan_decision": "include", "plan_reason": "符合规划"}, aid)
    assert variables(db, aid)["plan_total"] == 2700000
    work(db, "leading_group", "approve_plan", {"plan_approval": "approve", "meeting_minutes_no": "2026-2",
                                               "plan_approval_opinion": "通过"}, aid)
    work(db, "finance", "issue_special_funds", {"special_funds_amount": 2700000, "special_funds_doc_no": "达财预〔2026〕1号"},
         aid)
    assert status(db, aid) == "completed"
    return aid


def test_a_department_submits_several_entries_each_a_project_of_its_own(db, frozen_clock):
    deploy_all(db)
    _plan_with_two_entries(db)
    first, second = instance_by_key(db, "project", "P-2027-edu-01"), instance_by_key(db, "project", "P-2027-edu-02")
    assert first and second and first != second
    assert (variables(db, first)["project_name"], variables(db, first)["estimated_budget"]) == ("智慧教育平台", 1800000)
    assert (variables(db, second)["project_name"], variables(db, second)["nature"]) == ("教育城域网升级", "upgrade")
    # a message on one key reaches that project only
    cid = start(db, "supervision", "SV-2027-1", user="office", project_id="P-2027-edu-02", project_name="教育城域网升级",
                unit="edu", issuer="office", problem="未接入政务云", article="第十四条",
                rectification_deadline="2027-06-30")
    assert variables(db, second)["supervision_problem"] == "未接入政务云"
    assert "supervision_problem" not in variables(db, first)
    assert offered(db, cid) == [("rectify_and_report", ["unit:edu"])]
    # and no second instance may take a key messages correlate on
    with pytest.raises(InvalidInput, match="'project' already has an instance .* business key 'P-2027-edu-01'"):
        start(db, "project", "P-2027-edu-01", user="edu", project_id="P-2027-edu-01", project_name="重复",
              unit="edu", category="software", nature="new", estimated_budget=1)


def test_following_the_plan_is_not_the_exemption_the_office_decides_it(db, frozen_clock):
    deploy_all(db)
    _plan_with_two_entries(db)
    pid = instance_by_key(db, "project", "P-2027-edu-01")
    v = variables(db, pid)
    assert (v["follows_plan"], v["plan_clause"]) == (True, "教育数字化")
    assert "in_plan" not in v  # the box starts unticked: nothing carries the unit's own claim into it
    with pytest.raises(FormRefused) as refused:  # ticking it means naming the plan and the item
        work(db, "office", "confirm_project_basis", {"in_plan": True, "basis_opinion": "规划已明确"}, pid)
    assert list(refused.value.errors) == ["plan_basis"]
    work(db, "office", "confirm_project_basis", {"basis_opinion": "规划未明确列出本项目"}, pid)
    assert variables(db, pid)["approval_path"] == "full"  # the 项目建议书 first
    assert offered(db, pid) == [("submit_stage_document", ["unit:edu"])]
    other = instance_by_key(db, "project", "P-2027-edu-02")
    work(db, "office", "confirm_project_basis", {"in_plan": True, "plan_basis": "数字达拉特规划 第三章第二节",
                                                 "basis_opinion": "规划已明确"}, other)
    assert (variables(db, other)["approval_path"], variables(db, other)["plan_basis"]) == \
        ("no_proposal", "数字达拉特规划 第三章第二节")
