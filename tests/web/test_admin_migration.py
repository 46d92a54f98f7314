"""The migration wizard: per instance whether it can move and why not, a mapping for active
elements the target lacks (only onto elements of the same kind), then the run, one instance at a
time, recorded under the administrator's name."""
from __future__ import annotations

import html
import io

import pytest
from sqlalchemy import select

from test_ui_fixtures import app, login, post, text_of  # noqa: F401

from engine import history, services
from engine.models import ProcessInstance, UserTask


def permit(task_id: str, review: bool = False) -> bytes:
    """Submission (with a reminder timer after two days), optionally a review after it."""
    after = "review" if review else "end"
    return ('<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'id="d" targetNamespace="t"><bpmn:process id="permit" name="许可" isExecutable="true">'
            f'<bpmn:startEvent id="start"/><bpmn:userTask id="{task_id}" name="提交" camunda:candidateGroups="unit:edu"/>'
            f'<bpmn:boundaryEvent id="overdue" attachedToRef="{task_id}" cancelActivity="false">'
            '<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P2D</bpmn:timeDuration>'
            '</bpmn:timerEventDefinition></bpmn:boundaryEvent>'
            '<bpmn:userTask id="remind" name="督办" camunda:candidateGroups="office"/>'
            + ('<bpmn:userTask id="review" name="审核" camunda:candidateGroups="drc"/>'
               '<bpmn:sequenceFlow id="f_review" sourceRef="review" targetRef="end"/>' if review else "")
            + f'<bpmn:endEvent id="end"/><bpmn:endEvent id="end_remind"/>'
            f'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{task_id}"/>'
            f'<bpmn:sequenceFlow id="f2" sourceRef="{task_id}" targetRef="{after}"/>'
            '<bpmn:sequenceFlow id="f3" sourceRef="overdue" targetRef="remind"/>'
            '<bpmn:sequenceFlow id="f4" sourceRef="remind" targetRef="end_remind"/>'
            '</bpmn:process></bpmn:definitions>').encode()


@pytest.fixture
def admin(app):
    client = app.test_client()
    login(client, "admin_zhou")
    return client


def deploy(client, content: bytes) -> None:
    response = post(client, "/admin/deployments/new", {"action": "deploy", "files": [(io.BytesIO(content), "permit.bpmn")]},
                    content_type="multipart/form-data")
    assert response.status_code == 302


@pytest.fixture
def two_waiting(db, admin, frozen_clock):
    """Two instances of permit v1 waiting at 提交 (submit)."""
    deploy(admin, permit("submit"))
    with db.write() as s:
        return [services.start_process(s, "permit", business_key=f"XK-{n}", user="edu_li").id for n in (1, 2)]


def page_of(response) -> str:
    return html.unescape(text_of(response))


def definition_of(db, instance_id: int) -> str:
    with db.read() as s:
        row = s.get(ProcessInstance, instance_id)
        return f"{row.definition.key}:{row.definition.version}"


def test_the_check_table_shows_each_instance_movable_and_the_run_moves_them(db, admin, two_waiting):
    deploy(admin, permit("submit", review=True))
    page = page_of(admin.get("/admin/definitions/permit/migrate?from=1&to=2"))
    assert "可迁移 2 / 2" in page and "XK-1" in page and "XK-2" in page
    assert "可以迁移" in page and "overdue" in page
    response = post(admin, "/admin/definitions/permit/migrate", {"from": "1", "to": "2", "instance": two_waiting})
    assert response.status_code == 302
    assert "已将 2 个实例迁移到 v2" in page_of(admin.get(response.headers["Location"]))
    assert [definition_of(db, i) for i in two_waiting] == ["permit:2", "permit:2"]
    with db.read() as s:
        [event] = [e for e in history.events_of(s, two_waiting[0]) if e["type"] == "migrated"]
    assert event["actor"] == "admin_zhou" and (event["data"]["from"], event["data"]["to"]) == ("permit:1", "permit:2")
    assert "没有进行中的实例" in page_of(admin.get("/admin/definitions/permit/migrate?from=1&to=2"))


def test_an_active_element_the_target_lacks_needs_a_mapping_of_the_same_kind(db, admin, two_waiting):
    deploy(admin, permit("submit_docs"))
    page = admin.get("/admin/definitions/permit/migrate?from=1&to=2").get_data(as_text=True)
    text = page_of(admin.get("/admin/definitions/permit/migrate?from=1&to=2"))
    assert "可迁移 0 / 2" in text and "不能迁移" in text
    assert "活动节点“submit”在目标版本中不存在" in text
    assert 'name="map-submit"' in page
    options = page[page.index('name="map-submit"'):page.index("</select>", page.index('name="map-submit"'))]
    assert 'value="submit_docs"' in options and 'value="remind"' in options  # user tasks only
    assert 'value="end"' not in options and 'value="overdue"' not in options

    refused = post(admin, "/admin/definitions/permit/migrate", {"from": "1", "to": "2", "instance": two_waiting[0]})
    assert "实例 %s 未迁移：活动节点“submit”在目标版本中不存在" % two_waiting[0] in \
        page_of(admin.get(refused.headers["Location"]))
    assert definition_of(db, two_waiting[0]) == "permit:1"

    mapped = page_of(admin.get("/admin/definitions/permit/migrate?from=1&to=2&map-submit=submit_docs"))
    assert "可迁移 2 / 2" in mapped and "submit → submit_docs" in mapped
    response = post(admin, "/admin/definitions/permit/migrate",
                    {"from": "1", "to": "2", "instance": [two_waiting[0]], "map-submit": "submit_docs"})
    assert "已将 1 个实例迁移到 v2" in page_of(admin.get(response.headers["Location"]))
    assert definition_of(db, two_waiting[0]) == "permit:2" and definition_of(db, two_waiting[1]) == "permit:1"
    with db.read() as s:
        task = s.scalars(select(UserTask).where(UserTask.instance_id == two_waiting[0])).one()
        [event] = [e for e in history.events_of(s, two_waiting[0]) if e["type"] == "migrated"]
    assert task.element_id == "submit_docs" and event["data"]["mapping"] == {"submit": "submit_docs"}


def test_a_mapping_onto_another_kind_is_refused_by_the_check(db, admin, two_waiting):
    deploy(admin, permit("submit_docs"))
    page = page_of(admin.get("/admin/definitions/permit/migrate?from=1&to=2&map-submit=end"))
    assert "可迁移 0 / 2" in page and "两者类型不同" in page
    response = post(admin, "/admin/definitions/permit/migrate",
                    {"from": "1", "to": "2", "instance": two_waiting, "map-submit": "end"})
    assert "未迁移" in page_of(admin.get(response.headers["Location"]))
    assert [definition_of(db, i) for i in two_waiting] == ["permit:1", "permit:1"]


def test_running_without_choosing_instances_asks_for_one(db, admin, two_waiting):
    deploy(admin, permit("submit", review=True))
    response = post(admin, "/admin/definitions/permit/migrate", {"from": "1", "to": "2"})
    assert "请至少选择一个实例" in page_of(admin.get(response.headers["Location"]))


def test_choosing_the_same_version_twice_is_explained(db, admin, two_waiting):
    assert "请选择两个不同的版本" in page_of(admin.get("/admin/definitions/permit/migrate?from=1&to=1"))
