"""The task page: claim, unclaim, complete with form validation, drafts, comments, documents, materials."""
from __future__ import annotations

import hashlib
import io
import re
import zipfile

from sqlalchemy import select

from test_ui_fixtures import GOOD_FORM, app, client, login, post, start_project, text_of  # noqa: F401

from engine import history, services
from engine.models import Document, TaskComment, TaskDraft, UserTask

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


def _upload(client, task_id, name, content, material=""):
    return post(client, f"/tasks/{task_id}/documents",
                {"material": material, "file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def _upload_all_materials(client, task_id):
    for material in ("report", "attachments:密码应用方案", "attachments:安全可靠产品说明"):
        assert _upload(client, task_id, f"{material.split(':')[-1]}.pdf", PDF, material).status_code == 302


def _task(db, task_id) -> UserTask:
    with db.read() as session:
        return session.get(UserTask, task_id)


def test_task_page_shows_project_context_form_and_path(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    text = text_of(page)
    for expected in ("提交可行性研究报告", "P-2026-001", "智慧教育云平台", "旗教育体育局", "可行性研究报告",
                     "¥1,200,000.00", "¥350,000.50", "待签收", "剩余 5 个工作日", "发起流程", "edu_li（测试）",
                     "报告标题", "¥", "密码应用方案", "必需，尚未上传"):
        assert expected in text, expected
    assert 'value="12"' in page.get_data(as_text=True)  # the default of a long field


def test_claim_then_unclaim_moves_the_task_and_records_history(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    assert post(client, f"/tasks/{task_id}/claim").status_code == 302
    assert _task(db, task_id).assignee == "edu_li"
    assert "已签收：edu_li（测试）" in text_of(client.get(f"/tasks/{task_id}"))
    assert post(client, f"/tasks/{task_id}/unclaim").status_code == 302
    assert _task(db, task_id).assignee is None
    with db.read() as session:
        kinds = [e["type"] for e in history.events_of(session, _task(db, task_id).instance_id)]
    assert kinds[-2:] == ["task_claimed", "task_unclaimed"]


def test_a_colleague_cannot_claim_or_unclaim_a_claimed_task(db, client, app):
    task_id = start_project(db)
    login(client, "edu_li")
    post(client, f"/tasks/{task_id}/claim")
    other = app.test_client()
    login(other, "edu_wang")
    assert post(other, f"/tasks/{task_id}/claim").status_code == 409
    assert post(other, f"/tasks/{task_id}/unclaim").status_code == 403
    assert post(other, f"/tasks/{task_id}/complete", GOOD_FORM).status_code == 403
    assert "此任务已由 edu_li（测试） 签收办理" in text_of(other.get(f"/tasks/{task_id}"))


def test_form_mistakes_are_shown_in_chinese_and_the_input_is_kept(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    _upload_all_materials(client, task_id)
    response = post(client, f"/tasks/{task_id}/complete", {**GOOD_FORM, "title": "短", "months": "一年半",
                                                            "amount": "-5"})
    assert response.status_code == 422
    text, html = text_of(response), response.get_data(as_text=True)
    assert "表单有 3 处需要更正" in text
    assert "至少输入 4 个字符" in text and "请输入整数" in text and "不能小于 0" in text
    assert 'value="短"' in html and 'value="一年半"' in html and 'value="-5"' in html
    assert 'value="2026-05-01"' in html  # the good fields are kept too
    assert _task(db, task_id).state == "ready"


def test_complete_with_valid_form_sets_typed_variables(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    _upload_all_materials(client, task_id)
    response = post(client, f"/tasks/{task_id}/complete", GOOD_FORM)
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/")
    task = _task(db, task_id)
    assert (task.state, task.completed_by) == ("completed", "edu_li")
    with db.read() as session:
        variables = services.instance(session, task.instance_id).variables
        next_task = services.tasks(session, instance_id=task.instance_id)[0]
    assert variables["months"] == 18 and variables["amount"] == 1200000.5 and variables["cloud"] is True
    assert variables["start_date"] == "2026-05-01" and variables["nature"] == "new"
    assert variables["report"]["filename"] == "report.pdf"
    assert "plan_year" not in variables  # a readonly field is not submitted
    assert next_task.element_id == "drc_review"


def test_a_missing_required_material_blocks_completion(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    _upload(client, task_id, "report.pdf", PDF, "report")
    response = post(client, f"/tasks/{task_id}/complete", GOOD_FORM)
    assert response.status_code == 422
    assert "还缺少必需材料：密码应用方案、安全可靠产品说明" in text_of(response)
    assert _task(db, task_id).state == "ready"
    _upload(client, task_id, "a.pdf", PDF, "attachments:密码应用方案")
    _upload(client, task_id, "b.pdf", PDF, "attachments:安全可靠产品说明")
    assert post(client, f"/tasks/{task_id}/complete", GOOD_FORM).status_code == 302


def test_draft_is_saved_apart_from_the_workflow_and_loaded_again(db, client, app):
    task_id = start_project(db)
    login(client, "edu_li")
    response = post(client, f"/tasks/{task_id}/draft", {"title": "草稿标题", "amount": "abc"})
    assert response.status_code == 302
    with db.read() as session:
        draft = session.scalars(select(TaskDraft)).one()
        instance = services.instance(session, _task(db, task_id).instance_id)
    assert draft.data["title"] == "草稿标题" and draft.data["amount"] == "abc"  # kept as typed, unchecked
    assert "title" not in instance.variables
    page = client.get(f"/tasks/{task_id}")
    assert "已载入您于" in text_of(page) and 'value="草稿标题"' in page.get_data(as_text=True)
    other = app.test_client()
    login(other, "edu_wang")
    assert 'value="草稿标题"' not in other.get(f"/tasks/{task_id}").get_data(as_text=True)


def test_completing_removes_the_drafts(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    post(client, f"/tasks/{task_id}/draft", GOOD_FORM)
    _upload_all_materials(client, task_id)
    post(client, f"/tasks/{task_id}/complete", GOOD_FORM)
    with db.read() as session:
        assert session.scalars(select(TaskDraft)).first() is None


def test_comment_is_stored_and_becomes_a_history_event(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    assert post(client, f"/tasks/{task_id}/comments", {"text": "请尽快审核"}).status_code == 302
    with db.read() as session:
        comment = session.scalars(select(TaskComment)).one()
        instance = services.instance(session, comment.instance_id)
        events = history.events_of(session, instance.id)
        assert history.verify_instance_chain(session, instance).ok
    assert (comment.text, comment.user_name) == ("请尽快审核", "edu_li")
    assert events[-1]["type"] == "comment_added" and events[-1]["data"]["text"] == "请尽快审核"
    assert "请尽快审核" in text_of(client.get(f"/tasks/{task_id}"))


def test_empty_comment_is_flashed_not_stored(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    response = post(client, f"/tasks/{task_id}/comments", {"text": "  "}, follow_redirects=True)
    assert "意见不能为空" in text_of(response)
    with db.read() as session:
        assert session.scalars(select(TaskComment)).first() is None


def test_upload_stores_sha256_and_never_overwrites(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    _upload(client, task_id, "report.pdf", PDF, "report")
    _upload(client, task_id, "report.pdf", PDF + b"% v2\n", "report")
    with db.read() as session:
        rows = list(session.scalars(select(Document).order_by(Document.id)))
    assert [r.sha256 for r in rows] == [hashlib.sha256(PDF).hexdigest(), hashlib.sha256(PDF + b"% v2\n").hexdigest()]
    assert all(r.content_type == "application/pdf" and r.uploaded_by == "edu_li" for r in rows)


def test_an_exe_renamed_pdf_is_refused(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    response = _upload(client, task_id, "report.pdf", EXE, "report")
    assert "文件内容与扩展名不符" in text_of(client.get(response.headers["Location"]))
    assert "不支持该文件类型" in text_of(client.get(_upload(client, task_id, "tool.exe", EXE).headers["Location"]))
    with db.read() as session:
        assert session.scalars(select(Document)).first() is None


def test_office_containers_are_sniffed_inside_the_zip(db, client):
    task_id = start_project(db)
    login(client, "edu_li")

    def package(*names):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in names:
                archive.writestr(name, "<x/>")
        return buffer.getvalue()
    _upload(client, task_id, "plan.docx", package("[Content_Types].xml", "word/document.xml"))
    _upload(client, task_id, "sheet.xlsx", package("[Content_Types].xml", "word/document.xml"))  # a docx
    _upload(client, task_id, "gov.ofd", package("OFD.xml", "Doc_0/Document.xml"))
    with db.read() as session:
        assert sorted(session.scalars(select(Document.filename))) == ["gov.ofd", "plan.docx"]


def test_download_is_allowed_to_those_who_see_the_instance_only(db, client, app):
    task_id = start_project(db)
    login(client, "edu_li")
    _upload(client, task_id, "报告.pdf", PDF, "report")
    with db.read() as session:
        document_id = session.scalars(select(Document.id)).one()
    response = client.get(f"/documents/{document_id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    for name, status in (("health_zhao", 403), ("drc_zhang", 403), ("auditor_sun", 200), ("office_chen", 200)):
        other = app.test_client()
        login(other, name)
        assert other.get(f"/documents/{document_id}").status_code == status, name


def test_reviewers_later_in_the_path_read_the_unit_documents(db, client, app):
    task_id = start_project(db)
    login(client, "edu_li")
    _upload_all_materials(client, task_id)
    post(client, f"/tasks/{task_id}/complete", GOOD_FORM)
    with db.read() as session:
        document_id = session.scalars(select(Document.id).where(Document.field == "report")).one()
    drc = app.test_client()
    login(drc, "drc_zhang")
    assert drc.get(f"/documents/{document_id}").status_code == 200


def test_a_task_already_completed_gives_a_conflict(db, client):
    task_id = start_project(db, process="review", business_key="R-1")
    login(client, "edu_li")
    assert post(client, f"/tasks/{task_id}/complete", {"amount": "500"}).status_code == 302
    again = post(client, f"/tasks/{task_id}/complete", {"amount": "500"})
    assert again.status_code == 409 and "操作冲突" in text_of(again)


def test_camunda_form_task_validates_with_its_schema(db, client):
    with db.write() as session:
        services.start_process(session, "camunda_form", business_key="OM-1", user="office_chen")
    with db.read() as session:
        task_id = services.tasks(session, groups=["office"])[0].id
    login(client, "office_chen")
    page = client.get(f"/tasks/{task_id}")
    assert "合规情况" in text_of(page) and "运维合同" in text_of(page)
    response = post(client, f"/tasks/{task_id}/complete", {"system_name": "政务外网", "budget": "10.001"})
    assert response.status_code == 422
    text = text_of(response)
    assert "金额最多保留两位小数" in text and "此项为必填项" in text and "还缺少必需材料：运维合同" in text


def test_a_deadline_in_a_year_without_official_holidays_says_how_it_is_counted(db, client, frozen_clock):
    from datetime import datetime
    covered = start_project(db)
    frozen_clock.set_time(datetime(2031, 3, 3, 9, 0))  # chinesecalendar does not know 2031
    uncovered = start_project(db, business_key="P-2031-001")
    login(client, "edu_li")
    assert "工作日暂按周一至周五计算" not in text_of(client.get(f"/tasks/{covered}"))
    assert "2031 年法定节假日尚未收录，工作日暂按周一至周五计算" in text_of(client.get(f"/tasks/{uncovered}"))


def _instructions(page: str) -> str:
    """The 办理说明 card of a task page (its HTML), which comes before the form."""
    assert page.index('id="instructions"') < page.index('id="form"')
    return page.split('id="instructions"')[1].split("</section>")[0]


def test_the_task_page_shows_the_task_description_as_instructions_in_either_language(db, client):
    """The real project diagram: the office reads what its documentation says to check."""
    from conftest import REPO
    from engine.definitions import BundleFile
    files = sorted(p for p in (REPO / "bpmn").iterdir() if p.suffix in (".bpmn", ".dmn", ".form"))
    with db.write() as session:
        services.deploy(session, [BundleFile(p.name, p.read_bytes()) for p in files], name="办法", user="admin")
        row = services.start_process(session, "project", business_key="P-2026-010", user="edu_li", variables={
            "project_id": "P-2026-010", "project_name": "智慧教育平台", "unit": "edu", "category": "software",
            "nature": "new", "estimated_budget": 1800000})
    with db.read() as session:
        [task] = [t for t in services.tasks(session, instance_id=row.id) if t.element_id == "confirm_project_basis"]
    login(client, "office_chen")
    card = _instructions(client.get(f"/tasks/{task.id}").get_data(as_text=True))
    assert "<h2>办理说明</h2>" in card
    assert "第五条之二：领导小组办公室确认项目是否已在经批准的发展规划" in card and "是否涉密。" in card
    post(client, "/lang", {"lang": "en", "next": "/inbox/"})
    card = _instructions(client.get(f"/tasks/{task.id}").get_data(as_text=True))
    assert "<h2>Instructions</h2>" in card and "第五条之二：领导小组办公室确认项目" in card


def test_instructions_are_plain_text_with_their_line_breaks(db, client):
    from conftest import deploy_files
    deploy_files(db, "task_description.bpmn")
    with db.write() as session:
        row = services.start_process(session, "described", variables={"unit": "edu", "amount": 1500}, user="edu_li")
    with db.read() as session:
        [task] = services.tasks(session, instance_id=row.id)
    login(client, "edu_li")
    card = _instructions(client.get(f"/tasks/{task.id}").get_data(as_text=True))
    assert '<p class="instructions">请核对 edu 的申报：\n金额 1500 元，&lt;b&gt;不得&lt;/b&gt;超过批复概算。</p>' in card
    undocumented = start_project(db)  # task_form.bpmn: no documentation, no card
    assert 'id="instructions"' not in client.get(f"/tasks/{undocumented}").get_data(as_text=True)


def test_the_task_header_names_the_project_category_not_its_code(db, client):
    """The header reads 项目类别 软件开发及购买 (Software development and purchase), never `software`."""
    task_id = start_project(db, category="software")
    login(client, "edu_li")
    header = text_of(client.get(f"/tasks/{task_id}")).split("办件")[0]
    assert "项目类别 软件开发及购买" in header and "software" not in header
    post(client, "/lang", {"lang": "en", "next": f"/tasks/{task_id}"})
    assert "Software development and purchase" in text_of(client.get(f"/tasks/{task_id}"))


def test_in_english_the_upload_button_says_upload_and_the_history_says_uploaded(db, client):
    """上传材料 is both the button and the history event: in English the button is “Upload
    documents”, the event “Document uploaded”."""
    task_id = start_project(db)
    login(client, "edu_li")
    post(client, f"/tasks/{task_id}/claim")
    assert _upload(client, task_id, "可研报告.pdf", PDF, "report").status_code == 302
    post(client, "/lang", {"lang": "en", "next": "/"})
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    button = re.search(r'<button[^>]*formaction="/tasks/%s/documents"[^>]*>([^<]*)</button>' % task_id, page)
    assert button and button.group(1) == "Upload documents"
    assert "Document uploaded" in text_of(client.get(f"/tasks/{task_id}"))
    post(client, "/lang", {"lang": "zh_CN", "next": "/"})
    assert ">上传材料</button>" in client.get(f"/tasks/{task_id}").get_data(as_text=True)


def test_in_english_one_mistake_is_not_called_fields(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    _upload_all_materials(client, task_id)
    post(client, "/lang", {"lang": "en", "next": "/"})
    response = post(client, f"/tasks/{task_id}/complete", {**GOOD_FORM, "months": "一年半"})
    assert response.status_code == 422
    assert "Fields to correct: 1." in text_of(response) and "1 fields" not in text_of(response)


def test_a_task_whose_name_or_description_gives_null_shows_no_none(db, client):
    """`审核 ${projectName}` with projectName null reads 审核 (JUEL's ''), a description that is only
    `${note}` with note null is none: no instructions card, never the text 'None'."""
    from conftest import deploy_files
    deploy_files(db, "task_text_nulls.bpmn")
    with db.write() as session:
        row = services.start_process(session, "text_nulls", user="edu_li", variables={
            "unit": "edu", "projectName": None, "note": None, "title": None, "urgent": True, "amount": 2.5, "copies": 3})
    with db.read() as session:
        tasks = {t.element_id: t for t in services.tasks(session, instance_id=row.id)}
    login(client, "edu_li")
    review = client.get(f"/tasks/{tasks['review'].id}").get_data(as_text=True)
    assert "<h1>审核 </h1>" in review and 'id="instructions"' not in review and "None" not in review
    flag = client.get(f"/tasks/{tasks['flag'].id}").get_data(as_text=True)
    assert "<h1>flag</h1>" in flag and "None" not in flag
    assert '<p class="instructions">加急：true，金额 2.5 元，份数 3，备注 。</p>' in _instructions(flag)
    inbox = text_of(client.get("/inbox/?view=group"))
    assert "审核" in inbox and "None" not in inbox
