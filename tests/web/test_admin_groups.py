"""Administration pages for a Camunda 7 team: groups (added, renamed, deactivated; new users may
join any active one), handing a task to someone with a reason, the dry run's warnings, and doing
by hand what a Java delegate would have done."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import DIAGRAMS
from test_admin_pages import upload
from test_ui_fixtures import app, login, post, start_project, text_of  # noqa: F401

from engine import bureaus, history, services
from engine.models import ExternalTask, UserTask

CAMUNDA = Path(DIAGRAMS).parent / "camunda"


@pytest.fixture
def admin(app):
    client = app.test_client()
    login(client, "admin_zhou")
    return client


def test_groups_page_adds_renames_and_deactivates(db, admin):
    assert "领导小组办公室" in admin.get("/admin/groups").get_data(as_text=True)
    assert post(admin, "/admin/groups", {"id": "accounting", "name_zh": "会计", "name_en": ""}).status_code == 302
    refused = post(admin, "/admin/groups", {"id": "bad id", "name_zh": "x"})
    assert refused.status_code == 400 and "group id &#39;bad id&#39; is not allowed" in refused.get_data(as_text=True)
    assert post(admin, "/admin/groups/accounting", {"name_zh": "财务会计", "name_en": "Accounting"}).status_code == 302
    page = admin.get("/admin/users").get_data(as_text=True)
    assert 'value="accounting"' in page  # new users may be put in it
    assert post(admin, "/admin/groups/accounting/active", {"active": "0"}).status_code == 302
    with db.read() as s:
        group = bureaus.get_group(s, "accounting")
        assert (group.name_zh, group.name_en, group.active) == ("财务会计", "Accounting", False)
    assert 'value="accounting"' not in admin.get("/admin/users").get_data(as_text=True)
    office = app_client_of(admin, "office_chen")
    assert office.get("/admin/groups").status_code == 403


def test_a_group_name_with_a_bidi_control_is_refused_naming_the_field(db, admin):
    """A group's name is read in every inbox and history: U+202E or a zero-width space in it was kept."""
    refused = post(admin, "/admin/groups", {"id": "water", "name_zh": "旗水利局\u202e", "name_en": ""})
    assert refused.status_code == 400
    assert "“中文名称”不能含有 U+202E RIGHT-TO-LEFT OVERRIDE：" in text_of(refused)
    assert 'value="water"' in refused.get_data(as_text=True)  # what was typed comes back
    renamed = post(admin, "/admin/groups/drc", {"name_zh": "旗发改委", "name_en": "DRC\u200b"})
    assert "“英文名称”不能含有 U+200B ZERO WIDTH SPACE：" in text_of(admin.get(renamed.headers["Location"]))
    with db.read() as s:
        assert s.get(bureaus.Bureau, "water") is None
        group = bureaus.get_group(s, "drc")
        assert (group.name_zh, group.name_en) == (
            "旗发展和改革委员会", "Banner Development and Reform Commission")
    post(admin, "/lang", {"lang": "en", "next": "/"})
    refused = post(admin, "/admin/groups", {"id": "water", "name_zh": "旗水利局\n"+"局"})
    assert "“Chinese name” must not contain line breaks, tabs or other control characters" in text_of(refused)


def app_client_of(admin, name):
    client = admin.application.test_client()
    login(client, name)
    return client


def test_an_administrator_hands_a_task_over_with_a_reason(db, admin):
    task_id = start_project(db)
    with db.read() as s:
        instance_id = s.get(UserTask, task_id).instance_id
    page = post(admin, f"/admin/tasks/{task_id}/reassign", {"to_user": "office_chen", "reason": ""})
    assert page.status_code == 302
    with db.read() as s:
        assert s.get(UserTask, task_id).assignee is None  # no reason, nothing done
    assert post(admin, f"/admin/tasks/{task_id}/reassign", {"to_user": "office_chen", "reason": "edu_li is ill"}
                ).status_code == 302
    with db.read() as s:
        assert s.get(UserTask, task_id).assignee == "office_chen"
        [event] = [e for e in history.events_of(s, instance_id) if e["type"] == "task_assigned"]
    assert (event["actor"], event["data"]["to"], event["data"]["reason"]) == ("admin_zhou", "office_chen",
                                                                              "edu_li is ill")
    page = text_of(admin.get(f"/admin/instances/{instance_id}"))
    assert "指派任务" in page and "— → office_chen：edu_li is ill" in page and "管理员代办：edu_li is ill" in page


def test_the_dry_run_lists_warnings_and_the_deployment_keeps_them(db, admin):
    files = [("java_delegates.bpmn", (CAMUNDA / "java_delegates.bpmn").read_bytes())]
    page = text_of(upload(admin, "validate", *files))
    assert "6 个提示" in page and "java:org.camunda.bpm.example.invoice.service.ArchiveInvoiceService" in page
    deployed = upload(admin, "deploy", *files)
    assert deployed.status_code == 302
    assert "java:${notifier}" in text_of(admin.get(deployed.headers["Location"]))


def test_an_administrator_completes_a_java_task_from_the_incidents_page(db, admin):
    upload(admin, "deploy", ("java_delegates.bpmn", (CAMUNDA / "java_delegates.bpmn").read_bytes()))
    with db.write() as s:
        instance_id = services.start_process(s, "c7_java_delegates", business_key="INV-9", user="admin_zhou").id
        task_id = s.scalars(select(ExternalTask.id).where(ExternalTask.instance_id == instance_id)).one()
    page = text_of(admin.get("/admin/incidents"))  # the process's Java start listener, first of its Java
    assert "java:org.camunda.bpm.example.ProcessStartListener" in page
    refused = post(admin, f"/admin/external-tasks/{task_id}/complete", {"variables": "[1]"})
    assert refused.status_code == 400
    done = post(admin, f"/admin/external-tasks/{task_id}/complete", {"variables": '{"archived": true}',
                                                                      "reason": "archived by hand"})
    assert done.status_code == 302
    with db.read() as s:
        task = s.get(ExternalTask, task_id)
        assert task.state == "completed"
        [event] = [e for e in history.events_of(s, instance_id) if e["type"] == "external_task_completed"]
        assert services.instance(s, instance_id).variables["archived"] is True
    assert (event["actor"], event["data"]["by_admin"]) == ("admin_zhou", "archived by hand")
