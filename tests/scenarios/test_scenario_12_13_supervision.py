"""Scenario 12: a serious delay leads to suspension and, after rectification, to resumption; scenario
13: a rectification order left overdue ends in termination, which reaches the project (Art 18, 27)."""
from datetime import datetime

import pytest

from scenario_support import (FormRefused, PROGRESS, build_until_progress, declare_project, deploy_all, inbox, move_to,
                              offered, pass_stage, start, status, variables, work)

ORDER = {"project_name": "智慧教育平台", "unit": "edu", "problem": "未按批复使用政务云，自建机房",
         "article": "第十四条、第二十七条", "rectification_deadline": "2026-06-30"}


def _under_construction(db, project_id):
    pid = declare_project(db, project_id, in_plan=True)
    pass_stage(db, pid)
    pass_stage(db, pid)
    build_until_progress(db, pid)
    assert inbox(db, "unit:edu", pid) == ["report_progress"]
    return pid


def test_12_serious_delay_suspension_then_resumption(db, frozen_clock):
    deploy_all(db)
    pid = _under_construction(db, "P-2026-120")
    work(db, "unit:edu", "report_progress", {**PROGRESS, "serious_problem": True,
                                             "progress_note": "工期严重滞后"}, pid)
    # drc, supervising the delay (Art 18), orders rectification through the supervision process
    work(db, "drc", "handle_serious_problem", {"problem_decision": "rectify", "problem_deadline": "2026-06-30",
                                               "problem_opinion": "限期整改"}, pid)
    sid = start(db, "supervision", "SV-2026-120", user="drc", project_id="P-2026-120", issuer="drc",
                **{**ORDER, "problem": "工程严重逾期", "article": "第十八条、第二十七条"})
    work(db, "unit:edu", "rectify_serious_problem", {"problem_rectification_report": "problem_rectification_report.pdf", "problem_rectification": "增派人员"}, pid)
    assert inbox(db, "unit:edu", pid) == ["report_progress"]
    work(db, "unit:edu", "rectify_and_report", {"rectification_evidence": "rectification_evidence.pdf", "rectification_report": "增派人员，调整计划"}, sid)
    assert offered(db, sid) == [("verify_rectification", ["drc"])]
    work(db, "drc", "verify_rectification", {"verification_result": "not_done", "verification_opinion": "仍滞后"}, sid)
    work(db, "office", "decide_penalty", {"penalty": "suspend", "penalty_opinion": "暂停建设，整改后再定"}, sid)
    with pytest.raises(FormRefused) as refused:  # the project waits for the decision (Art 27)
        work(db, "unit:edu", "report_progress", PROGRESS, pid)
    assert "暂停建设" in refused.value.errors["suspended"][0]
    work(db, "unit:edu", "rectify_while_suspended", {"suspension_rectification": "更换施工团队"}, sid)
    work(db, "office", "decide_after_suspension", {"suspension_outcome": "resume", "suspension_opinion": "恢复"}, sid)
    assert status(db, sid) == "completed"
    assert variables(db, pid)["suspension_outcome"] == "resume"
    assert inbox(db, "unit:edu", pid) == ["report_progress"]
    assert status(db, pid) != "completed"


def test_13_overdue_rectification_ends_in_termination(db, frozen_clock):
    deploy_all(db)
    pid = _under_construction(db, "P-2026-130")
    sid = start(db, "supervision", "SV-2026-130", user="cac", project_id="P-2026-130", issuer="cac",
                **{**ORDER, "problem": "未开展密码应用安全性评估", "article": "第十二条、第二十七条"})
    assert offered(db, sid) == [("rectify_and_report", ["unit:edu"])]
    move_to(db, datetime(2026, 6, 30, 12))
    assert offered(db, sid) == [("rectify_and_report", ["unit:edu"])]  # not yet overdue on the deadline day
    move_to(db, datetime(2026, 7, 2))
    assert offered(db, sid) == [("decide_penalty", ["office"])]
    work(db, "office", "decide_penalty", {"penalty": "terminate", "penalty_opinion": "逾期不整改，终止项目"}, sid)
    assert status(db, sid) == "completed"
    assert status(db, pid) == "completed"
    assert offered(db, pid) == []
    assert variables(db, pid)["termination_reason"] == "逾期不整改，终止项目"


def test_13_rectification_verified_closes_the_matter(db, frozen_clock):
    deploy_all(db)
    pid = _under_construction(db, "P-2026-131")
    sid = start(db, "supervision", "SV-2026-131", user="police", project_id="P-2026-131", issuer="police", **ORDER)
    work(db, "unit:edu", "rectify_and_report", {"rectification_evidence": "rectification_evidence.pdf", "rectification_report": "迁移至政务云"}, sid)
    assert offered(db, sid) == [("verify_rectification", ["police"])]
    work(db, "police", "verify_rectification", {"verification_result": "done", "verification_opinion": "到位"}, sid)
    assert status(db, sid) == "completed"
    assert inbox(db, "unit:edu", pid) == ["report_progress"]


def test_12_drc_suspends_a_seriously_delayed_project_then_resumes_it(db, frozen_clock):
    deploy_all(db)
    pid = _under_construction(db, "P-2026-121")
    work(db, "unit:edu", "report_progress", {**PROGRESS, "serious_problem": True, "progress_note": "工期严重滞后"}, pid)
    work(db, "drc", "handle_serious_problem", {"problem_decision": "suspend", "problem_deadline": "2026-06-30",
                                               "problem_opinion": "暂停建设，限期整改"}, pid)
    work(db, "unit:edu", "rectify_serious_problem", {"problem_rectification_report": "problem_rectification_report.pdf", "problem_rectification": "更换施工团队"}, pid)
    assert offered(db, pid) == [("decide_resumption", ["drc"])]
    work(db, "drc", "decide_resumption", {"resumption_decision": "resume", "resumption_opinion": "恢复建设"}, pid)
    assert inbox(db, "unit:edu", pid) == ["report_progress"]
