"""Art 25-27, 30: the office's decisions reach the project at any stage, not only while it reports
progress; the order names an existing project (a mistyped 项目编号 is refused at once).

第二十七条：……逾期不整改或整改后仍不符合要求的，领导小组办公室可以对其通报批评、暂缓安排投资计划、暂停项目建设直至终止项目。
"""
from datetime import datetime

import pytest

from engine import replay
from engine.errors import ExecutionError
from scenario_support import (PROGRESS, SUBMISSION, FormRefused, apply_for_acceptance, complete_construction,
                              declare_project, deploy_all, move_to, offered, pass_stage, start, status,
                              under_construction,
                              variables, work)

ORDER = {"project_name": "智慧教育平台", "unit": "edu", "issuer": "finance", "problem": "资金使用不合规",
         "article": "第二十七条", "rectification_deadline": "2026-06-30"}


def _in_approval(db, key):
    pid = declare_project(db, key, in_plan=True)
    assert offered(db, pid) == [("submit_stage_document", ["unit:edu"])]  # inside the called stage review
    return pid, ("unit:edu", "submit_stage_document", SUBMISSION)


def _in_procurement(db, key):
    pid = declare_project(db, key, in_plan=True)
    pass_stage(db, pid)
    pass_stage(db, pid)
    work(db, "finance", "release_construction_funds", {"released_amount": 1800000, "release_doc_no": "达财预〔2026〕8号",
                                                       "release_date": "2026-04-10"}, pid)
    return pid, ("unit:edu", "appoint_implementing_body", {
        "implementing_body": "信息中心", "responsible_person": "王伟", "responsible_phone": "0477-1234567",
        "management_rules": True, "security_management": "制度", "crypto_sync": "同步", "cloud_usage": "政务云"})


def _in_construction(db, key):
    return under_construction(db, key), ("unit:edu", "report_progress", PROGRESS)


def _in_acceptance(db, key):
    pid = under_construction(db, key)
    complete_construction(db, pid)
    apply_for_acceptance(db, pid)
    return pid, ("archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"})


STAGES = {"approval": _in_approval, "procurement": _in_procurement, "construction": _in_construction,
          "acceptance": _in_acceptance}


def _penalty(db, key, penalty):
    sid = start(db, "supervision", f"SV-{key}", user="finance", project_id=key, **ORDER)
    work(db, "unit:edu", "rectify_and_report", {"rectification_report": "已整改", "rectification_evidence": "整改.pdf"}, sid)
    work(db, "finance", "verify_rectification", {"verification_result": "not_done", "verification_opinion": "仍不合规"}, sid)
    work(db, "office", "decide_penalty", {"penalty": penalty, "penalty_opinion": f"决定：{penalty}"}, sid)
    return sid


@pytest.mark.parametrize("stage", STAGES)
def test_termination_reaches_the_project_at_every_stage(db, frozen_clock, stage):
    deploy_all(db)
    pid, _ = STAGES[stage](db, f"P-2026-3{list(STAGES).index(stage)}1")
    sid = _penalty(db, f"P-2026-3{list(STAGES).index(stage)}1", "terminate")
    assert status(db, sid) == "completed"
    assert status(db, pid) == "completed" and offered(db, pid) == []
    assert variables(db, pid)["termination_reason"] == "决定：terminate"


@pytest.mark.parametrize("stage", STAGES)
def test_suspension_holds_the_project_at_every_stage_until_resumed(db, frozen_clock, stage):
    deploy_all(db)
    key = f"P-2026-3{list(STAGES).index(stage)}2"
    pid, (group, element, data) = STAGES[stage](db, key)
    sid = _penalty(db, key, "suspend")
    with pytest.raises(FormRefused) as refused:
        work(db, group, element, data, pid)
    assert "暂停建设" in refused.value.errors["suspended"][0]
    work(db, "unit:edu", "rectify_while_suspended", {"suspension_rectification": "已更换供应商"}, sid)
    work(db, "office", "decide_after_suspension", {"suspension_outcome": "resume", "suspension_opinion": "恢复"}, sid)
    assert variables(db, pid)["suspended"] is False
    work(db, group, element, data, pid)
    assert status(db, pid) == "running"


def test_termination_after_suspension_ends_the_project(db, frozen_clock):
    deploy_all(db)
    pid, _ = _in_procurement(db, "P-2026-340")
    sid = _penalty(db, "P-2026-340", "suspend")
    work(db, "unit:edu", "rectify_while_suspended", {"suspension_rectification": "未整改"}, sid)
    work(db, "office", "decide_after_suspension", {"suspension_outcome": "terminate", "suspension_opinion": "终止"}, sid)
    assert status(db, pid) == "completed" and offered(db, pid) == []
    assert variables(db, pid)["termination_reason"] == "终止"


def test_an_order_against_a_project_that_does_not_exist_is_refused(db, frozen_clock):
    deploy_all(db)
    declare_project(db, "P-2026-350", in_plan=True)
    with pytest.raises(ExecutionError, match="supervision_opened.*'P-2026-305'"):
        start(db, "supervision", "SV-P-2026-305", user="finance", project_id="P-2026-305", **ORDER)  # digits swapped
    sid = start(db, "supervision", "SV-P-2026-350", user="finance", project_id="P-2026-350", **ORDER)
    assert offered(db, sid) == [("rectify_and_report", ["unit:edu"])]


@pytest.mark.parametrize("decision, ended", [("terminate", True), ("resume", False)])
def test_drc_suspends_under_art18_but_termination_is_the_offices_under_art27(db, frozen_clock, decision, ended):
    """第十八条：……审批部门按照有关规定要求项目建设单位整改或暂停项目建设。(no termination by drc)"""
    deploy_all(db)
    pid = under_construction(db, "P-2026-360")
    work(db, "unit:edu", "report_progress", {**PROGRESS, "serious_problem": True, "progress_note": "投资重大损失"}, pid)
    work(db, "drc", "handle_serious_problem", {"problem_decision": "suspend", "problem_deadline": "2026-06-30",
                                               "problem_opinion": "暂停建设，限期整改"}, pid)
    work(db, "unit:edu", "rectify_serious_problem", {"problem_rectification": "未完成",
                                                     "problem_rectification_report": "整改报告.pdf"}, pid)
    with pytest.raises(FormRefused) as refused:  # 终止 is not among drc's choices
        work(db, "drc", "decide_resumption", {"resumption_decision": "terminate", "resumption_opinion": "终止"}, pid)
    assert list(refused.value.errors) == ["resumption_decision"]
    work(db, "drc", "decide_resumption", {"resumption_decision": "refer", "resumption_opinion": "提请办公室处理"}, pid)
    assert offered(db, pid) == [("decide_termination", ["office"])]
    work(db, "office", "decide_termination", {"termination_decision": decision, "termination_opinion": "第二十七条"}, pid)
    assert (status(db, pid) == "completed") is ended
    if not ended:
        assert offered(db, pid) == [("report_progress", ["unit:edu"])]


def test_the_history_of_a_project_reached_by_consequences_replays(db, frozen_clock):
    """Auditors re-execute the record: the messages the event subprocesses took (their variables set
    on the whole project) give the same states again."""
    deploy_all(db)
    pid, _ = _in_construction(db, "P-2026-370")
    sid = _penalty(db, "P-2026-370", "suspend")
    work(db, "unit:edu", "rectify_while_suspended", {"suspension_rectification": "已整改"}, sid)
    work(db, "office", "decide_after_suspension", {"suspension_outcome": "resume", "suspension_opinion": "恢复"}, sid)
    move_to(db, datetime(2026, 12, 1, 9))  # the year-end signal
    work(db, "unit:edu", "submit_annual_report", {"annual_report": "年度报告.pdf", "annual_summary": "正常"}, pid)
    with db.read() as s:
        chain, report = replay.verify(s, pid)
    assert chain.ok and report.ok, (chain, report)
