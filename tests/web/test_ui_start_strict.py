"""The start page is as strict as a task page, on the real bpmn/ diagrams: the consistency rules of
the start (Art 27: a rectification order's deadline after the day it is issued) refused at the
field, and a unit or bureau in whose name a process starts (项目建设单位, 下达部门) only the
official's own; an administrator may name any. A refusal starts nothing."""
from __future__ import annotations

import hashlib
import io
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401

from engine import bureaus, documents, replay, users
from engine.models import ProcessInstance

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))
import scenario_support as real  # noqa: E402

PROJECT = {"project_id": "P-2026-031", "project_name": "校园网升级", "unit": "edu", "category": "software",
           "nature": "new", "estimated_budget": "800000"}
ORDER = {"project_id": "P-2026-031", "project_name": "校园网升级", "unit": "edu", "issuer": "drc",
         "problem": "未按批复开展密码应用安全性评估", "article": "第十二条、第二十七条"}


@pytest.fixture
def real_diagrams(db, app):
    real.deploy_all(db)


@pytest.fixture
def a_project(db, real_diagrams):
    """A project of edu's running, which a rectification order can name."""
    real.start(db, "project", "P-2026-031", user="edu_li", project_id="P-2026-031", project_name="校园网升级",
               unit="edu", category="software", nature="new", estimated_budget=800000)


def _signed_in(app, name: str):
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def _started(db, process_key: str) -> list[ProcessInstance]:
    with db.read() as session:
        return list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == process_key)))


def _select(page: str, name: str) -> str:
    return re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S).group(0)


# --- the consistency rules of the start ----------------------------------------------------------

@pytest.mark.parametrize("deadline", ["2026-03-01", "2026-03-02"])  # the clock: 2026-03-02
def test_a_rectification_order_whose_deadline_is_not_ahead_is_refused_at_the_deadline(app, db, a_project, deadline):
    """Art 27 限期整改: a deadline already passed (or today) made the boundary timer skip the
    unit's rectification as overdue; the rule art27_rectification_deadline_ahead refuses it. The
    next day is ahead: the order reaches the unit."""
    drc = _signed_in(app, "drc_zhang")
    refused = post(drc, "/start/supervision", {**ORDER, "rectification_deadline": deadline})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = re.search(r'id="f-rectification_deadline-error"[^>]*>([^<]*)<', page)
    assert error and error.group(1) == "整改期限须晚于下达整改通知之日"
    assert f'value="{deadline}"' in page and "未按批复开展密码应用安全性评估" in page  # what was typed stays
    assert _started(db, "supervision") == []
    assert post(drc, "/start/supervision", {**ORDER, "rectification_deadline": "2026-03-03"}).status_code == 302
    [order] = _started(db, "supervision")
    assert ("rectify_and_report", ["unit:edu"]) in real.offered(db, order.id)


def test_the_english_page_gives_the_rule_s_message_at_the_field(app, db, a_project):
    drc = _signed_in(app, "drc_zhang")
    post(drc, "/lang", {"lang": "en", "next": "/start/supervision"})
    refused = post(drc, "/start/supervision", {**ORDER, "rectification_deadline": "2026-02-27"})
    assert refused.status_code == 422
    error = re.search(r'id="f-rectification_deadline-error"[^>]*>([^<]*)<', refused.get_data(as_text=True))
    assert error and error.group(1) == "The deadline must be after the day of the order"
    assert _started(db, "supervision") == []


# --- in whose name ---------------------------------------------------------------------------------

def test_a_unit_official_is_offered_only_their_own_unit_preselected(app, real_diagrams):
    page = _signed_in(app, "edu_li").get("/start/project").get_data(as_text=True)
    unit = _select(page, "unit")
    assert re.search(r'<option value="edu"\s*selected', unit)
    assert 'value="health"' not in unit and "旗卫生健康委员会" not in unit


def test_a_project_cannot_be_declared_in_another_unit_s_name(app, db, real_diagrams):
    refused = post(_signed_in(app, "edu_li"), "/start/project", {**PROJECT, "unit": "health"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = re.search(r'id="f-unit-error"[^>]*>([^<]*)<', page)
    assert error and error.group(1) == "只能以您本人所在的单位或部门发起：旗教育体育局"
    assert _started(db, "project") == []
    admin = _signed_in(app, "admin_zhou")  # an administrator may declare it for any unit
    unit = _select(admin.get("/start/project").get_data(as_text=True), "unit")
    assert 'value="edu"' in unit and 'value="health"' in unit
    assert post(admin, "/start/project", {**PROJECT, "unit": "health"}).status_code == 302
    assert _started(db, "project")[0].variables["unit"] == "health"


def test_an_om_application_cannot_be_made_in_another_unit_s_name(app, db, real_diagrams):
    form = {"project_id": "P-2026-404", "unit": "health", "system_name": "学籍管理系统", "request_kind": "om_funds",
            "requested_amount": "200000", "request_reason": "年度运维", "legal_ground_claimed": "false"}
    refused = post(_signed_in(app, "edu_li"), "/start/om_funding", form)
    assert refused.status_code == 422 and 'id="f-unit-error"' in refused.get_data(as_text=True)
    assert "只能以您本人所在的单位或部门发起" in text_of(refused)
    assert _started(db, "om_funding") == []


def test_an_official_of_two_units_chooses_between_them_only(app, db, real_diagrams):
    with db.write() as session:
        bureaus.ensure_unit(session, "unit:culture", "旗文化旅游局")
        users.add_user(session, "two_units", "correct-horse-7", bureaus=["unit:edu", "unit:health"], roles=[])
    client = _signed_in(app, "two_units")
    unit = _select(client.get("/start/project").get_data(as_text=True), "unit")
    assert 'value="edu"' in unit and 'value="health"' in unit and "selected" not in unit
    assert 'value="culture"' not in unit
    assert post(client, "/start/project", {**PROJECT, "unit": "culture"}).status_code == 422
    assert post(client, "/start/project", {**PROJECT, "unit": "health"}).status_code == 302
    assert _started(db, "project")[0].variables["unit"] == "health"


def test_an_official_without_a_unit_is_not_offered_a_project_to_declare(app, real_diagrams):
    office = _signed_in(app, "office_chen")
    assert 'href="/start/project"' not in office.get("/start/").get_data(as_text=True)
    assert office.get("/start/project").status_code == 403
    assert post(office, "/start/project", {**PROJECT, "unit": "edu"}).status_code == 403


def test_a_rectification_order_is_issued_only_in_the_issuer_s_own_bureau(app, db, a_project):
    """下达部门 is who verifies the rectification (verify_rectification goes to ${issuer}): drc may
    not issue an order in the audit bureau's name."""
    drc = _signed_in(app, "drc_zhang")
    issuer = _select(drc.get("/start/supervision").get_data(as_text=True), "issuer")
    assert re.search(r'<option value="drc"\s*selected', issuer) and 'value="audit"' not in issuer
    refused = post(drc, "/start/supervision", {**ORDER, "issuer": "audit", "rectification_deadline": "2026-03-20"})
    assert refused.status_code == 422 and 'id="f-issuer-error"' in refused.get_data(as_text=True)
    assert _started(db, "supervision") == []


# --- a start form's documents ------------------------------------------------------------------------

OM_APPLICATION = {"business_key": "P-2026-031", "unit": "edu", "system_name": "学籍管理系统", "request_kind": "om_funds",
                  "requested_amount": "200000", "request_reason": "年度运维", "legal_ground_claimed": "false"}


def test_a_required_document_of_the_start_form_goes_with_the_form(app, db, a_project):
    """运维经费's 申请材料 (a required file field of the start event) was listed as “uploaded in a
    later step”, which no step of om_funding asks for: it is uploaded with the start form, checked
    as a task's upload is, and the application names it."""
    edu = _signed_in(app, "edu_li")
    page = edu.get("/start/om_funding").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and re.search(r'<input type="file"[^>]*name="application_document"', page)
    for upload, message in ((None, "请上传此材料"),
                            ((io.BytesIO(b"not a pdf at all"), "申请.pdf"), "文件内容与扩展名不符，已拒绝上传。")):
        refused = post(edu, "/start/om_funding", {**OM_APPLICATION, **({"application_document": upload} if upload else {})})
        assert refused.status_code == 422
        error = re.search(r'id="f-application_document-error"[^>]*>([^<]*)<', refused.get_data(as_text=True))
        assert error and error.group(1) == message
        assert _started(db, "om_funding") == []
    refused = post(edu, "/start/om_funding", {**OM_APPLICATION, "requested_amount": "很多",
                                              "application_document": (io.BytesIO(real.PDF), "申请.pdf")})
    assert refused.status_code == 422 and "表单未通过，请重新选择此文件" in text_of(refused)  # the browser drops it
    started = post(edu, "/start/om_funding", {**OM_APPLICATION, "application_document": (io.BytesIO(real.PDF), "申请.pdf")})
    assert started.status_code == 302, text_of(started)
    [application] = _started(db, "om_funding")
    with db.read() as session:
        [document] = documents.of_instance(session, application.id)
        assert (document.field, document.filename, document.uploaded_by) == ("application_document", "申请.pdf", "edu_li")
        assert application.variables["application_document"] == {
            "document": document.id, "filename": "申请.pdf", "sha256": hashlib.sha256(real.PDF).hexdigest()}
        chain, report = replay.verify(session, application.id)
    assert chain.ok and report.ok, report
