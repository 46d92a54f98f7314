"""Art 17: every project under construction on 1 December reports its year to drc, whatever step it
is at that day; a project still in approval does not. Art 26: the office assesses each year.

第十七条：……建设期内的项目建设单位每年年底前向项目审批部门提交项目绩效评价报告。
第二十六条：领导小组办公室对建设项目实施情况进行总体监督和应用效果评价，出具评价考核意见，评价考核意见纳入旗信息化考评体系当中。
"""
from datetime import datetime

from scenario_support import (PROGRESS, apply_for_acceptance, build_until_progress, complete_construction,
                              declare_project, deploy_all, inbox, move_to, pass_stage, variables, work)


def _funded(db, key):
    pid = declare_project(db, key, in_plan=True)
    pass_stage(db, pid)
    pass_stage(db, pid)
    return pid


def test_every_project_under_construction_gets_its_year_end_report(db, frozen_clock):
    deploy_all(db)
    approval = declare_project(db, "P-2026-171", in_plan=True)  # still in its feasibility review
    funding = _funded(db, "P-2026-172")  # approved, waiting for finance: not yet under construction
    procurement = _funded(db, "P-2026-173")
    work(db, "finance", "release_construction_funds", {"released_amount": 1800000, "release_doc_no": "达财预〔2026〕8号",
                                                       "release_date": "2026-04-10"}, procurement)
    progress = _funded(db, "P-2026-174")
    build_until_progress(db, progress)
    adjusting = _funded(db, "P-2026-175")
    build_until_progress(db, adjusting)
    work(db, "unit:edu", "report_progress", {**PROGRESS, "adjustment_needed": True}, adjusting)
    acceptance = _funded(db, "P-2026-176")
    build_until_progress(db, acceptance)
    complete_construction(db, acceptance)
    apply_for_acceptance(db, acceptance)
    move_to(db, datetime(2026, 11, 30, 23))
    assert all("submit_annual_report" not in inbox(db, "unit:edu", p) for p in
               (approval, funding, procurement, progress, adjusting, acceptance))
    move_to(db, datetime(2026, 12, 1, 9))
    for pid in (procurement, progress, adjusting, acceptance):
        assert inbox(db, "unit:edu", pid).count("submit_annual_report") == 1, pid
    for pid in (approval, funding):
        assert "submit_annual_report" not in inbox(db, "unit:edu", pid)
    # the report goes to drc, and the project's own step is still there
    work(db, "unit:edu", "submit_annual_report", {"annual_report": "年度绩效评价报告.pdf", "annual_summary": "进度正常"},
         adjusting)
    assert inbox(db, "drc", adjusting) == ["receive_annual_report"]
    assert inbox(db, "unit:edu", adjusting) == ["request_adjustment"]
    work(db, "drc", "receive_annual_report", {"annual_report_opinion": "已阅"}, adjusting)
    assert inbox(db, "drc", adjusting) == []
    # Art 26: the office's 评价考核意见 each year, not only when the project closes
    work(db, "office", "annual_assessment", {"annual_assessment_grade": "good",
                                             "annual_assessment_opinion": "进度正常，纳入考评"}, adjusting)
    assert "annual_assessment" not in inbox(db, "office", adjusting)


def test_the_report_is_asked_again_the_next_year(db, frozen_clock):
    deploy_all(db)
    pid = _funded(db, "P-2026-177")
    build_until_progress(db, pid)
    move_to(db, datetime(2026, 12, 1, 9))
    work(db, "unit:edu", "submit_annual_report", {"annual_report": "2026年度报告.pdf", "annual_summary": "进度正常"}, pid)
    work(db, "drc", "receive_annual_report", {"annual_report_opinion": "已阅"}, pid)
    work(db, "office", "annual_assessment", {"annual_assessment_grade": "pass", "annual_assessment_opinion": "合格"}, pid)
    move_to(db, datetime(2027, 11, 30, 9))
    assert "submit_annual_report" not in inbox(db, "unit:edu", pid)
    move_to(db, datetime(2027, 12, 1, 9))
    assert inbox(db, "unit:edu", pid).count("submit_annual_report") == 1


def test_the_years_assessment_stays_with_the_project_after_its_own_steps_go_on(db, frozen_clock):
    """The year-end report runs beside the project's own step and ends alone: what it recorded (Art 26's
    grade, kept for the 考评体系) is a variable of the project, as in Camunda, not lost at the next step."""
    deploy_all(db)
    pid = _funded(db, "P-2026-178")
    build_until_progress(db, pid)
    move_to(db, datetime(2026, 12, 1, 9))
    work(db, "unit:edu", "submit_annual_report", {"annual_report": "2026年度报告.pdf", "annual_summary": "进度正常"}, pid)
    work(db, "drc", "receive_annual_report", {"annual_report_opinion": "已阅"}, pid)
    work(db, "office", "annual_assessment", {"annual_assessment_grade": "good", "annual_assessment_opinion": "良好"}, pid)
    work(db, "unit:edu", "report_progress", PROGRESS, pid)  # the project's own step, open all along
    found = variables(db, pid)
    assert (found["annual_assessment_grade"], found["annual_summary"]) == ("good", "进度正常")
    assert found["progress_note"] == PROGRESS["progress_note"]
