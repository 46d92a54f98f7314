"""Art 17: every project under construction on 1 December reports its year to drc, whatever step it
is at that day; a project still in approval does not.

第十七条：……建设期内的项目建设单位每年年底前向项目审批部门提交项目绩效评价报告。
"""
from datetime import datetime

from scenario_support import (PROGRESS, apply_for_acceptance, build_until_progress, complete_construction,
                              declare_project, deploy_all, inbox, move_to, pass_stage, work)


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


def test_the_report_is_asked_again_the_next_year(db, frozen_clock):
    deploy_all(db)
    pid = _funded(db, "P-2026-177")
    build_until_progress(db, pid)
    move_to(db, datetime(2026, 12, 1, 9))
    work(db, "unit:edu", "submit_annual_report", {"annual_report": "2026年度报告.pdf", "annual_summary": "进度正常"}, pid)
    work(db, "drc", "receive_annual_report", {"annual_report_opinion": "已阅"}, pid)
    move_to(db, datetime(2027, 11, 30, 9))
    assert "submit_annual_report" not in inbox(db, "unit:edu", pid)
    move_to(db, datetime(2027, 12, 1, 9))
    assert inbox(db, "unit:edu", pid).count("submit_annual_report") == 1
