"""Officials decide with the whole case in front of them (issue 12).

No cross-task pre-fill: a form opens with its own draft, the variables its fields are bound to on
its own branch, and defaults; never a sibling's entry, never an earlier review's decision. The
办件 on every task page and the project page: earlier submissions and opinions by stage, labelled,
the figures side by side, the return reason on a returned task, a printable 审批表 per stage.
Fields with a choice source are lists checked on the server.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401

from conftest import deploy_files
from engine import documents, services, users
from engine.models import Document, ProcessInstance, UserTask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))
import scenario_support as real  # noqa: E402


def _ready(db, instance_id: int, element: str, group: str | None = None) -> UserTask:
    with db.read() as session:
        found = [t for t in session.scalars(select(UserTask).where(
            UserTask.instance_id == instance_id, UserTask.element_id == element, UserTask.state == "ready"))
            if group is None or group in t.candidate_groups]
    assert len(found) == 1, found
    return found[0]


def _as(app, name: str):
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def _field_value(page: str, name: str) -> str:
    """What an input, textarea or select of the form shows."""
    found = re.search(r'<input[^>]*name="%s"[^>]*value="([^"]*)"' % name, page)
    if found:
        return found.group(1)
    found = re.search(r'<textarea[^>]*name="%s"[^>]*>(.*?)</textarea>' % name, page, re.S)
    if found:
        return found.group(1)
    select_ = re.search(r'<select[^>]*name="%s".*?</select>' % name, page, re.S)
    assert select_, f"no field {name}"
    chosen = re.search(r'<option value="([^"]*)"\s*selected', select_.group(0))
    return chosen.group(1) if chosen else ""


def text_of_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _form(page: str) -> str:
    return page.split('id="form"')[1].split("</section>")[0]


# --- §2: no data crosses from one task to another's form ---------------------------------------

def test_a_department_does_not_open_its_form_with_another_departments_entry(app, db):
    deploy_files(db, "plan_entries.bpmn")
    with db.write() as session:
        pid = services.start_process(session, "plan_entries", variables={
            "departments": ["unit:edu", "unit:health"], "members": ["office"]}, user="office_chen").id
    edu = _ready(db, pid, "submit_entry", "unit:edu")
    assert post(_as(app, "edu_li"), f"/tasks/{edu.id}/complete",
                {"project_name": "教育数据中台（内部）", "amount": "900000"}).status_code == 302
    health = _ready(db, pid, "submit_entry", "unit:health")
    page = _as(app, "health_zhao").get(f"/tasks/{health.id}").get_data(as_text=True)
    assert _field_value(page, "project_name") == "" and _field_value(page, "amount") == ""
    assert "教育数据中台" not in page  # neither in the form nor in the 办件
    office = _as(app, "office_chen").get(f"/tasks/{health.id}").get_data(as_text=True)
    assert "教育数据中台（内部）" in office.split('id="casefile"')[1]  # the reviewing office sees both


def test_bound_fields_show_their_own_branch_and_a_draft_wins(app, db):
    deploy_files(db, "prefill_branches.bpmn")
    with db.write() as session:
        pid = services.start_process(session, "prefill_branches", variables={"entries": [
            {"unit": "edu", "title": "智慧课堂"}, {"unit": "health", "title": "健康档案"}]}, user="office_chen").id
    edu, health = _ready(db, pid, "check_entry", "unit:edu"), _ready(db, pid, "check_entry", "unit:health")
    edu_client = _as(app, "edu_li")
    page = edu_client.get(f"/tasks/{edu.id}").get_data(as_text=True)
    assert _field_value(page, "title") == "智慧课堂" and ">edu<" in _form(page) and "健康档案" not in page
    page = _as(app, "health_zhao").get(f"/tasks/{health.id}").get_data(as_text=True)
    assert _field_value(page, "title") == "健康档案" and ">health<" in _form(page) and "智慧课堂" not in _form(page)
    assert post(edu_client, f"/tasks/{edu.id}/draft", {"title": "智慧课堂二期", "note": "核对中"}).status_code == 302
    page = edu_client.get(f"/tasks/{edu.id}").get_data(as_text=True)
    assert _field_value(page, "title") == "智慧课堂二期" and _field_value(page, "note") == "核对中"


@pytest.fixture
def reviewers(app, db):
    """The real bpmn/ deployed, a consultant and a cac official; edu's project past the office's
    confirmation, its proposal submitted and evaluated, the office passed it and cac returned it."""
    with db.write() as session:
        users.add_user(session, "cac_ma", "correct-horse-7", bureaus=["cac"], roles=[],
                       profile=users.Profile(first_name="马科长（网信办）"))
        users.add_user(session, "consultant_wu", "correct-horse-7", bureaus=["consultant"], roles=[],
                       profile=users.Profile(first_name="吴工"))
    real.deploy_all(db)
    pid = real.declare_project(db, "P-2026-012")
    real.work(db, "unit:edu", "submit_stage_document", real.SUBMISSION, pid)
    real.work(db, "consultant", "evaluate_by_consultant", {"consultant_report": "评估报告.pdf",
        "consultant_sharing_opinion": "共享分析充分", "consultant_security_opinion": "缺少等保测评安排",
        "consultant_conclusion": "recommend"}, pid)
    real.work(db, "office", "technical_review", {"office_review_opinion": "技术路线可行", "construction_mode": "self",
                                                "office_conclusion": "pass"}, pid)
    real.work(db, "cac", "security_review", {"cac_review_opinion": "请补充等保三级测评方案", "cac_conclusion": "revise"},
              pid)
    return pid


def test_a_returned_task_says_why_at_the_top_and_opens_empty(app, db, reviewers):
    task = _ready(db, reviewers, "submit_stage_document")
    page = _as(app, "edu_li").get(f"/tasks/{task.id}").get_data(as_text=True)
    top = page.split('id="returned"')[1].split("</section>")[0]
    assert "本环节被退回" in top
    assert "请补充等保三级测评方案" in top and "网络安全审查" in top and "退回修改" in top
    assert page.index('id="returned"') < page.index('id="form"')
    assert _field_value(page, "necessity") == ""  # the unit's earlier text is in the 办件, not typed in for it
    assert "现有系统分散，需统一建设" in page.split('id="casefile"')[1]


def test_a_re_review_opens_without_its_earlier_decision(app, db, reviewers):
    real.work(db, "unit:edu", "submit_stage_document", {**real.SUBMISSION, "investment_amount": 1900000}, reviewers)
    real.work(db, "consultant", "evaluate_by_consultant", {"consultant_report": "评估报告.pdf",
        "consultant_sharing_opinion": "已补充", "consultant_security_opinion": "已补充", "consultant_conclusion": "recommend"},
        reviewers)
    cac = _as(app, "cac_ma").get(f"/tasks/{_ready(db, reviewers, 'security_review').id}").get_data(as_text=True)
    assert _field_value(cac, "cac_conclusion") == "" and _field_value(cac, "cac_review_opinion") == ""
    office = _as(app, "office_chen").get(f"/tasks/{_ready(db, reviewers, 'technical_review').id}").get_data(as_text=True)
    assert _field_value(office, "office_conclusion") == "" and _field_value(office, "construction_mode") == ""
    assert "技术路线可行" in office.split('id="casefile"')[1]  # its own earlier opinion: in the 办件


# --- §1: the 办件 -------------------------------------------------------------------------------

def test_each_reviewing_bureau_sees_the_submission_labelled_by_stage(app, db, reviewers):
    cac_text = text_of(_as(app, "cac_ma").get(f"/projects/{reviewers}"))
    with db.write() as session:
        documents.add(session, reviewers, filename="建议书（盖章）.pdf", content=b"%PDF-1.4\n%%EOF\n", user="edu_li",
                      task_id=_ready(db, reviewers, "submit_stage_document").id, field="stage_document")
    real.work(db, "unit:edu", "submit_stage_document", real.SUBMISSION, reviewers)
    task = _ready(db, reviewers, "evaluate_by_consultant")
    page = _as(app, "consultant_wu").get(f"/tasks/{task.id}").get_data(as_text=True)
    case = page.split('id="casefile"')[1].split('id="form"')[0]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", case))
    for shown in ("项目建议书", "提交项目建议书", "建设必要性", "现有系统分散，需统一建设", "网络安全保障措施", "等保三级",
                  "投资金额（元）", "¥1,800,000.00", "网络安全审查意见", "请补充等保三级测评方案", "审查结论", "退回修改",
                  "确认立项依据和审批条件", "申报信息", "项目名称", "智慧教育平台", "估算"):
        assert shown in text, shown
    for raw in ("necessity", "cac_conclusion", "investment_amount", "revise", "{"):
        assert raw not in text, raw
    assert "${" not in page and "提交项目建议书" in page.split('class="timeline"')[1]  # names as the tasks showed them
    documents_table = text_of_html(page.split('id="documents"')[1].split("</section>")[0])
    assert "建议书（盖章）.pdf" in documents_table and "申报文件（盖章扫描件）" in documents_table
    assert "stage_document" not in documents_table
    report = _as(app, "auditor_sun").get(f"/audit/instances/{reviewers}/report").get_data(as_text=True)
    assert "${" not in report
    assert "请补充等保三级测评方案" in cac_text  # the project page is the same 办件


def test_the_figures_stand_side_by_side_and_the_stage_prints(app, db, reviewers):
    # resubmitted at ¥1,950,000; the consultant, office and cac pass it on to drc
    real.work(db, "unit:edu", "submit_stage_document", {**real.SUBMISSION, "investment_amount": 1950000}, reviewers)
    real.work(db, "consultant", "evaluate_by_consultant", {"consultant_report": "评估报告.pdf",
        "consultant_sharing_opinion": "可", "consultant_security_opinion": "可", "consultant_conclusion": "recommend"},
        reviewers)
    real.work(db, "office", "technical_review", {"office_review_opinion": "同意", "construction_mode": "self",
                                                "office_conclusion": "pass"}, reviewers)
    real.work(db, "cac", "security_review", {"cac_review_opinion": "同意", "cac_conclusion": "pass"}, reviewers)
    drc = _ready(db, reviewers, "drc_reply")
    page = _as(app, "drc_zhang").get(f"/tasks/{drc.id}").get_data(as_text=True)
    figures = page.split('class="case-figures"')[1].split("</ol>")[0]
    labels = re.findall(r'class="figure-label">([^<]+)<', figures)
    assert labels == ["估算", "可研", "初设", "批复", "合同", "已支出"]
    assert "¥1,800,000.00" in figures
    office = _as(app, "office_chen")
    links = re.findall(r'href="(/projects/\d+/stages/\d+/approval-form)"[^>]*>打印审批表',
                       office.get(f"/projects/{reviewers}").get_data(as_text=True))
    assert len(links) == 1  # 项目建议书, from the confirmation of the project's basis (立项) on
    printed = office.get(links[0])
    assert printed.status_code == 200
    text = text_of(printed)
    for shown in ("项目建议书审批表", "智慧教育平台", "P-2026-012", "经办人（签字）", "请补充等保三级测评方案",
                  "确认立项依据和审批条件", "技术审查", "2026-03-02"):
        assert shown in text, shown
    assert "approval.css" in printed.get_data(as_text=True)
    pdf = office.get(links[0].replace("approval-form", "approval-form.pdf"))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    assert len(pdf.data) > 20000  # text and embedded fonts, not an empty page
    assert office.get(f"/projects/{reviewers}/stages/99/approval-form").status_code == 404
    assert _as(app, "health_zhao").get(f"/projects/{reviewers}/stages/1/approval-form").status_code == 403


# --- §3: choices from lists --------------------------------------------------------------------

def test_a_unit_is_chosen_from_the_list_and_checked_on_the_server(app, db):
    deploy_files(db, "prefill_branches.bpmn")
    with db.write() as session:
        pid = services.start_process(session, "prefill_branches", variables={"entries": [
            {"unit": "edu", "title": "智慧课堂"}]}, user="office_chen").id
    task = _ready(db, pid, "check_entry")
    edu = _as(app, "edu_li")
    page = edu.get(f"/tasks/{task.id}").get_data(as_text=True)
    options = re.search(r'<select[^>]*name="lead_unit".*?</select>', page, re.S).group(0)
    assert '<option value="edu"' in options and "旗教育体育局" in options and "旗卫生健康委员会" in options
    refused = post(edu, f"/tasks/{task.id}/complete", {"title": "智慧课堂", "lead_unit": "旗教育体育局"})
    assert refused.status_code == 422 and "请从列表中选择" in text_of(refused)
    assert post(edu, f"/tasks/{task.id}/complete", {"title": "智慧课堂", "lead_unit": "health"}).status_code == 302
    with db.read() as session:
        assert session.get(ProcessInstance, pid).status == "completed"


# --- §5: 转办 -----------------------------------------------------------------------------------

def test_a_claimed_task_is_handed_to_a_colleague_with_a_reason(app, db):
    from test_ui_fixtures import start_project
    from engine import history

    task_id = start_project(db)
    li = _as(app, "edu_li")
    assert post(li, f"/tasks/{task_id}/claim").status_code == 302
    page = li.get(f"/tasks/{task_id}").get_data(as_text=True)
    choices = re.search(r'<select name="assignee".*?</select>', page, re.S).group(0)
    assert 'value="edu_wang"' in choices and "health_zhao" not in choices and 'value="edu_li"' not in choices
    assert post(li, f"/tasks/{task_id}/reassign", {"assignee": "edu_wang", "reason": ""}).status_code == 302
    assert _task_assignee(db, task_id) == "edu_li"  # no reason, no handover
    assert post(li, f"/tasks/{task_id}/reassign", {"assignee": "health_zhao", "reason": "出差"}).status_code == 403
    assert post(li, f"/tasks/{task_id}/reassign", {"assignee": "edu_wang", "reason": "本人出差一周"}).status_code == 302
    assert _task_assignee(db, task_id) == "edu_wang"
    assert post(li, f"/tasks/{task_id}/reassign", {"assignee": "edu_li", "reason": "再转"}).status_code == 403
    with db.read() as session:
        event = history.events_of(session, _task_instance(db, task_id))[-1]
    assert (event["type"], event["actor"], event["data"]["from"], event["data"]["to"], event["data"]["reason"]) \
        == ("task_assigned", "edu_li", "edu_li", "edu_wang", "本人出差一周")
    text = text_of(_as(app, "edu_wang").get(f"/tasks/{task_id}"))
    assert "转办" in text and "本人出差一周" in text and "已签收：edu_wang（测试）" in text


def _task_assignee(db, task_id):
    with db.read() as session:
        return session.get(UserTask, task_id).assignee


def _task_instance(db, task_id):
    with db.read() as session:
        return session.get(UserTask, task_id).instance_id


# --- §5: landing where work is ------------------------------------------------------------------

def test_an_official_lands_on_the_bureau_inbox_when_nothing_is_assigned_to_them(app, db):
    from test_ui_fixtures import start_project

    task_id = start_project(db)
    li = _as(app, "edu_li")
    assert li.get("/").headers["Location"] == "/inbox/bureau"
    assert post(li, f"/tasks/{task_id}/claim").status_code == 302
    assert li.get("/").headers["Location"] == "/inbox/"


# --- §5: stage, project code and spending through the lifecycle --------------------------------

def test_the_stage_is_named_and_the_code_stays_through_construction(app, db):
    from engine import projects
    from engine.projects import Viewer

    real.deploy_all(db)
    pid = real.declare_project(db, "P-2026-050", in_plan=True)
    seen = []

    def look():
        with db.read() as session:
            found = projects.projects(session, Viewer("office_chen", ("office",), sees_all=True))
        project = next(p for p in found if p.instance_id == pid)
        seen.append((project.stage, project.code, project.unified_code, project.spend))

    real.pass_stage(db, pid)
    real.pass_stage(db, pid)
    look()
    real.build_until_progress(db, pid)
    real.work(db, "unit:edu", "report_progress", real.PROGRESS, pid)
    look()
    real.complete_construction(db, pid)
    look()
    assert [s[0] for s in seen] == ["construction", "construction", "acceptance"]
    assert {s[1] for s in seen} == {"P-2026-050"} and {s[2] for s in seen} == {real.CODE}
    assert [s[3] for s in seen] == [None, 800000, 1700000]
    office = _as(app, "office_chen")
    assert "P-2026-050" in text_of(office.get("/projects/", query_string={"q": real.CODE}))
    dashboard = text_of(office.get("/dashboard"))
    assert "¥1,700,000.00" in dashboard  # 已支出合计 from the progress reports


# --- §5: 撤回 -----------------------------------------------------------------------------------

def test_who_completed_a_task_takes_it_back_while_the_next_is_untouched(app, db, reviewers):
    from engine import audit, history, replay

    real.work(db, "unit:edu", "submit_stage_document", real.SUBMISSION, reviewers, user="edu_li")
    submit = max((t for t in _tasks(db, reviewers) if t.element_id == "submit_stage_document"), key=lambda t: t.id)
    assert submit.state == "completed"
    li = _as(app, "edu_li")
    assert f'action="/tasks/{submit.id}/withdraw"' in li.get(f"/tasks/{submit.id}").get_data(as_text=True)
    assert "撤回" not in text_of(_as(app, "edu_wang").get(f"/tasks/{submit.id}"))
    assert post(_as(app, "edu_wang"), f"/tasks/{submit.id}/withdraw").status_code == 403
    assert post(li, f"/tasks/{submit.id}/withdraw").status_code == 302
    again = _ready(db, reviewers, "submit_stage_document")
    assert again.id == submit.id and not [t for t in _tasks(db, reviewers)
                                          if t.element_id == "evaluate_by_consultant" and t.state == "ready"]
    page = li.get(f"/tasks/{submit.id}").get_data(as_text=True)
    assert _field_value(page, "necessity") == real.SUBMISSION["necessity"]  # what was submitted, as a draft
    with db.read() as session:
        withdrawn = [e for e in history.events_of(session, reviewers) if e["type"] == "task_withdrawn"]
        assert [(e["actor"], e["data"]["task"]) for e in withdrawn] == [("edu_li", submit.id)]
        assert replay.replay(session, reviewers).ok
        verified = audit.verify_instance(session, reviewers)
        assert verified.ok, verified.problem  # chain, re-execution and the stored columns agree
    # once the consultant claims the next task, it can no longer be taken back
    real.work(db, "unit:edu", "submit_stage_document", real.SUBMISSION, reviewers, user="edu_li")
    with db.write() as session:
        services.claim(session, _ready(db, reviewers, "evaluate_by_consultant").id, user="consultant_wu",
                       groups=["consultant"])
    assert "撤回" not in text_of(li.get(f"/tasks/{submit.id}")).split("办理表单")[0]
    assert post(li, f"/tasks/{submit.id}/withdraw").status_code == 409


def _tasks(db, instance_id):
    with db.read() as session:
        return list(session.scalars(select(UserTask).where(UserTask.instance_id == instance_id)))


# --- §5: 催办 and the notice list -------------------------------------------------------------

def test_the_office_reminds_an_overdue_task_and_its_holders_see_it(app, db, frozen_clock):
    from datetime import timedelta

    from test_ui_fixtures import start_project
    from engine import clock, history

    task_id = start_project(db)
    office = _as(app, "office_chen")
    refused = post(office, f"/tasks/{task_id}/remind", {"text": "请尽快"})
    assert refused.status_code == 400  # not overdue yet
    assert "催办" not in text_of(office.get(f"/tasks/{task_id}")).split("办件")[0]
    clock.advance(timedelta(days=30))
    office = _as(app, "office_chen")  # a new login: sessions end after a while
    assert post(_as(app, "drc_zhang"), f"/tasks/{task_id}/remind", {"text": "x"}).status_code == 403
    assert post(office, f"/tasks/{task_id}/remind", {"text": "本周五前报送"}).status_code == 302
    with db.read() as session:
        event = history.events_of(session, _task_instance(db, task_id))[-1]
    assert (event["type"], event["actor"], event["data"]["to"]) == ("task_reminded", "office_chen", ["edu_li", "edu_wang"])
    li = _as(app, "edu_li")
    menu = li.get("/inbox/").get_data(as_text=True)
    assert re.search(r'提醒\s*<span class="count count-alert">1</span>', menu)
    notices = text_of(li.get("/notices"))
    assert "本周五前报送" in notices and "提交可行性研究报告" in notices
    assert re.search(r'提醒\s*<span class="count">0</span>', li.get("/inbox/").get_data(as_text=True))
    assert "本周五前报送" not in text_of(_as(app, "health_zhao").get("/notices"))


# --- §4: attachments inside the form ------------------------------------------------------------

PDF_BYTES = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _checklist(page: str) -> dict:
    items = re.findall(r'<li class="(ok|missing)"><span class="mark"[^>]*>[^<]*</span>\s*([^<]+?)\s*<span', page)
    return {label: state for state, label in items}


def test_several_files_at_once_each_typed_and_the_typed_text_kept(app, db):
    import io

    from test_ui_fixtures import GOOD_FORM, start_project

    task_id = start_project(db)
    li = _as(app, "edu_li")
    response = post(li, f"/tasks/{task_id}/documents", {
        **GOOD_FORM, "summary": "正在填写的概述", "material": "",
        "material-0": "report", "material-1": "attachments:密码应用方案",
        "files": [(io.BytesIO(PDF_BYTES), "可研报告.pdf"), (io.BytesIO(PDF_BYTES), "密码方案.pdf"),
                  (io.BytesIO(b"MZ" + b"\0" * 40), "病毒.pdf")]}, content_type="multipart/form-data")
    assert response.status_code == 302
    page = li.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert _field_value(page, "summary") == "正在填写的概述"  # what was typed came back as the draft
    assert _checklist(page) == {"可行性研究报告": "ok", "密码应用方案": "ok", "安全可靠产品说明": "missing"}
    with db.read() as session:
        stored = {d.filename: d.field for d in session.scalars(select(Document).where(Document.task_id == task_id))}
    assert stored == {"可研报告.pdf": "report", "密码方案.pdf": "attachments:密码应用方案"}  # the .exe refused


def test_a_file_is_removed_or_retagged_before_completion_and_the_history_keeps_both(app, db):
    import io

    from test_ui_fixtures import start_project
    from engine import history

    task_id = start_project(db)
    li = _as(app, "edu_li")
    post(li, f"/tasks/{task_id}/claim")
    post(li, f"/tasks/{task_id}/documents", {"material": "report", "files": [(io.BytesIO(PDF_BYTES), "错的.pdf")]},
         content_type="multipart/form-data")
    post(li, f"/tasks/{task_id}/documents", {"material": "", "files": [(io.BytesIO(PDF_BYTES), "产品说明.pdf")]},
         content_type="multipart/form-data")
    with db.read() as session:
        wrong, other = session.scalars(select(Document).where(Document.task_id == task_id).order_by(Document.id))
    assert post(li, f"/tasks/{task_id}/documents/{wrong.id}/remove", {"summary": "保留"}).status_code == 302
    assert post(li, f"/tasks/{task_id}/documents/{other.id}/retag",
                {f"retag-{other.id}": "attachments:安全可靠产品说明"}).status_code == 302
    assert post(_as(app, "edu_wang"), f"/tasks/{task_id}/documents/{other.id}/remove").status_code == 403  # not theirs
    page = li.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert _checklist(page)["可行性研究报告"] == "missing" and _checklist(page)["安全可靠产品说明"] == "ok"
    assert "错的.pdf" not in page.split('id="documents"')[1]
    with db.read() as session:
        events = [(e["type"], (e.get("data") or {}).get("document")) for e in history.events_of(
            session, _task_instance(db, task_id)) if e["type"].startswith("document_")]
        kept = session.get(Document, wrong.id)
        assert kept.removed_by == "edu_li" and kept.content == PDF_BYTES  # the file itself is kept
    assert events == [("document_added", wrong.id), ("document_added", other.id), ("document_removed", wrong.id),
                      ("document_retagged", other.id)]


def test_a_material_in_the_case_is_reused_at_a_later_step(app, db, reviewers):
    with db.write() as session:
        source = documents.add(session, reviewers, filename="建议书.pdf", content=PDF_BYTES, user="edu_li",
                               task_id=_ready(db, reviewers, "submit_stage_document").id, field="stage_document")
    real.work(db, "unit:edu", "submit_stage_document", real.SUBMISSION, reviewers)
    task = _ready(db, reviewers, "evaluate_by_consultant")
    consultant = _as(app, "consultant_wu")
    for wrong in ("1" * 40, str(2**31), "²", "-1", ""):  # no document: the fuzz's 40 ones were a 500 on PostgreSQL
        refused = post(consultant, f"/tasks/{task.id}/documents/reuse",
                       {"reuse": wrong, "reuse_material": "consultant_report"}, follow_redirects=True)
        assert refused.status_code == 200 and "请选择办件中的材料。" in refused.get_data(as_text=True), wrong
    assert post(consultant, f"/tasks/{task.id}/documents/reuse",
                {"reuse": str(source.id), "reuse_material": "consultant_report"}).status_code == 302
    with db.read() as session:
        copy = session.scalars(select(Document).where(Document.task_id == task.id)).one()
    assert (copy.sha256, copy.field, copy.uploaded_by) == (source.sha256, "consultant_report", "consultant_wu")


# --- §5: 委托 (a substitute while away) ----------------------------------------------------------

def test_a_substitute_takes_over_the_tasks_of_a_colleague_away(app, db, frozen_clock):
    from datetime import timedelta

    from test_ui_fixtures import start_project
    from engine import clock, history

    task_id = start_project(db)
    li, wang = _as(app, "edu_li"), _as(app, "edu_wang")
    post(li, f"/tasks/{task_id}/claim")
    assert post(li, "/me/substitute", {"substitute": "health_zhao", "until": "2026-03-06"}).status_code == 400
    with db.read() as session:
        assert session.scalars(select(users.User).where(users.User.name == "edu_li")).one().substitute is None
    assert post(li, "/me/substitute", {"substitute": "edu_wang", "until": "2026-03-06"}).status_code == 302
    assert f'href="/tasks/{task_id}"' in wang.get("/inbox/").get_data(as_text=True)  # in their 我的待办
    assert "接办（委托代办）" in text_of(wang.get(f"/tasks/{task_id}"))
    assert post(_as(app, "health_zhao"), f"/tasks/{task_id}/take-over").status_code == 403
    assert post(wang, f"/tasks/{task_id}/take-over").status_code == 302
    assert _task_assignee(db, task_id) == "edu_wang"
    with db.read() as session:
        event = history.events_of(session, _task_instance(db, task_id))[-1]
    assert (event["type"], event["actor"], event["data"]["from"]) == ("task_assigned", "edu_wang", "edu_li")
    assert "委托代办" in event["data"]["reason"] and "2026-03-06" in event["data"]["reason"]
    # back from being away: the colleague no longer sees their tasks
    post(wang, f"/tasks/{task_id}/reassign", {"assignee": "edu_li", "reason": "已回"})
    assert _task_assignee(db, task_id) == "edu_li"
    clock.advance(timedelta(days=5))
    wang = _as(app, "edu_wang")  # a new login: sessions end after a while
    assert f'href="/tasks/{task_id}"' not in wang.get("/inbox/").get_data(as_text=True)


def test_the_take_back_hint_follows_a_completion_only_when_it_can_be_taken_back(app, db):
    """After 提交办结 the inbox offers “办理有误？…可以撤回” only when the task page will have 撤回:
    the office's confirmation moves the project into its stage review's called process, which
    cannot be taken back, so no hint leads to a task page without the button; the unit's
    submission inside that review can, and the hint is there."""
    hint = "办理有误？在下一环节签收前可以撤回。"
    real.deploy_all(db)
    pid = real.start(db, "project", "P-2026-064", user="edu", project_id="P-2026-064", project_name="智慧教育平台",
                     unit="edu", category="software", nature="new", estimated_budget=1800000)
    confirm = _ready(db, pid, "confirm_project_basis")
    office = _as(app, "office_chen")
    post(office, f"/tasks/{confirm.id}/claim")
    done = post(office, f"/tasks/{confirm.id}/complete", {"in_plan": "true", "plan_basis": "数字达拉特规划第三章",
                                                        "basis_opinion": "已列入规划"}, follow_redirects=True)
    assert "已办结" in text_of(done) and hint not in text_of(done)
    assert f"/tasks/{confirm.id}/withdraw" not in office.get(f"/tasks/{confirm.id}").get_data(as_text=True)

    submit = _ready(db, pid, "submit_stage_document")
    with db.write() as session:
        documents.add(session, submit.instance_id, filename="申报文件.pdf", content=real.PDF, user="edu_li",
                      task_id=submit.id, field="stage_document")
    li = _as(app, "edu_li")
    post(li, f"/tasks/{submit.id}/claim")
    fields = {k: v for k, v in real.SUBMISSION.items() if k != "stage_document"}
    done = post(li, f"/tasks/{submit.id}/complete", fields, follow_redirects=True)
    assert "已办结" in text_of(done) and hint in text_of(done)
    assert f"/tasks/{submit.id}/withdraw" in li.get(f"/tasks/{submit.id}").get_data(as_text=True)


def test_history_entries_say_in_english_what_happened_on_every_page(app, db):
    """The history's English read as commands (“Start a process”, “Add comment”: the buttons'
    words); an entry says what happened, the same on the task page, the administrator's instance
    page and the auditors' timeline, and the Chinese stays."""
    from test_ui_fixtures import start_project

    task_id = start_project(db)
    li = _as(app, "edu_li")
    assert post(li, f"/tasks/{task_id}/comments", {"text": "材料齐全"}).status_code == 302
    instance_id = _task_instance(db, task_id)

    def entries(client, url):
        page = client.get(url).get_data(as_text=True)
        return re.findall(r'<span class="what"><strong>([^<]+)</strong>', page) if url.startswith("/tasks") \
            else text_of(client.get(url))

    for name, url in (("edu_li", f"/tasks/{task_id}"), ("admin_zhou", f"/admin/instances/{instance_id}"),
                      ("auditor_sun", f"/audit/instances/{instance_id}")):
        client = li if name == "edu_li" else _as(app, name)
        chinese = entries(client, url)
        assert "发起流程" in chinese and "生成待办" in chinese, url
        post(client, "/lang", {"lang": "en", "next": "/"})
        english = entries(client, url)
        for label in ("Process started", "Task created"):
            assert label in english, (url, label)
        if name == "edu_li":  # the task page's path, where the buttons' words are also on the page
            assert english == ["Process started", "Task created", "Comment added"]
        post(client, "/lang", {"lang": "zh_CN", "next": "/"})
