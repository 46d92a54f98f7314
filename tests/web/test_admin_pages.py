"""Administration pages: deployments with their files, uploads with a dry run that stores
nothing, versions with instance counts, diagrams and diffs, instance actions with a reason, and
incidents retried after mending the data; every action is in the history under the
administrator's name."""
from __future__ import annotations

import html
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import DIAGRAMS, deploy_files
from test_ui_fixtures import app, login, post, start_project, text_of  # noqa: F401

from engine import history, services
from engine.models import Deployment, HistoryEvent, Incident, ProcessDefinition, ProcessInstance, UserTask

BROKEN = (b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
          b'id="d" targetNamespace="t">\n<bpmn:process id="broken" isExecutable="true">\n<bpmn:startEvent id="s"/>\n'
          b'<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="nowhere"/>\n</bpmn:process>\n</bpmn:definitions>\n')
WAITS = (DIAGRAMS / "waits.bpmn").read_bytes()


@pytest.fixture
def admin(app):
    client = app.test_client()
    login(client, "admin_zhou")
    return client


def count(db, model) -> int:
    with db.read() as s:
        return s.scalar(select(func.count(model.id)))


def upload(client, action: str, *files: tuple[str, bytes], name: str = ""):
    return post(client, "/admin/deployments/new",
                {"action": action, "name": name, "files": [(io.BytesIO(content), filename) for filename, content in files]},
                content_type="multipart/form-data")


def test_deployments_list_their_source_time_user_and_files(db, admin):
    page = text_of(admin.get("/admin/deployments"))
    assert "task_form.bpmn" in page and "om_application.form" in page and "admin" in page
    assert "task_form v1" in page


def test_a_deployed_file_downloads_byte_for_byte(db, admin):
    with db.read() as s:
        deployment = s.scalars(select(Deployment)).first()
        resource = next(r for r in deployment.resources if r.name == "review.bpmn")
        deployment_id, resource_id = deployment.id, resource.id
    detail = admin.get(f"/admin/deployments/{deployment_id}")
    assert "review.bpmn" in text_of(detail)
    response = admin.get(f"/admin/deployments/{deployment_id}/files/{resource_id}")
    assert response.data == (DIAGRAMS / "review.bpmn").read_bytes()
    assert "attachment" in response.headers["Content-Disposition"]


def test_dry_run_lists_each_problem_by_file_line_and_element_and_stores_nothing(db, admin):
    before = count(db, Deployment)
    response = upload(admin, "validate", ("broken.bpmn", BROKEN), ("waits.bpmn", WAITS), name="试部署")
    page = html.unescape(text_of(response))
    assert response.status_code == 400
    assert "broken.bpmn 5 f sequenceFlow" in page and "targetRef 'nowhere' does not exist" in page
    assert 'value="试部署"' in response.get_data(as_text=True)  # what was typed stays
    assert count(db, Deployment) == before


def test_dry_run_of_a_good_bundle_says_what_would_change_and_stores_nothing(db, admin):
    before = count(db, Deployment)
    changed = (DIAGRAMS / "review.bpmn").read_bytes().replace(b"</bpmn:definitions>", b"<!-- v2 --></bpmn:definitions>")
    page = text_of(upload(admin, "validate", ("waits.bpmn", WAITS), ("review.bpmn", changed),
                          ("task_form.bpmn", (DIAGRAMS / "task_form.bpmn").read_bytes())))
    assert "校验通过" in page
    assert "waits waits.bpmn 新版本 v1" in page and "review review.bpmn 新版本 v2" in page
    assert "task_form task_form.bpmn 未变化（v1）" in page
    assert count(db, Deployment) == before


def test_deploying_a_bundle_records_who_deployed_it(db, admin):
    response = upload(admin, "deploy", ("waits.bpmn", WAITS), name="等待流程")
    assert response.status_code == 302
    with db.read() as s:
        deployment = s.scalars(select(Deployment).order_by(Deployment.id.desc())).first()
        assert (deployment.name, deployment.source, deployment.deployed_by) == ("等待流程", "web", "admin_zhou")
        event = s.scalars(select(HistoryEvent).where(HistoryEvent.chain == "system")
                          .order_by(HistoryEvent.seq.desc())).first()
        assert (event.type, event.actor) == ("deployment", "admin_zhou")
    assert "waits v1" in text_of(admin.get(response.headers["Location"]))


def test_an_upload_without_files_is_refused_with_a_message(db, admin):
    response = post(admin, "/admin/deployments/new", {"action": "deploy"}, content_type="multipart/form-data")
    assert response.status_code == 400 and "请选择要部署的文件" in text_of(response)


def test_versions_show_instance_counts_per_version_and_their_diagram(db, admin, frozen_clock):
    deploy_files(db, "waits.bpmn")
    with db.write() as s:
        services.start_process(s, "waits", business_key="W-1")
    changed = WAITS.replace(b"PT1H", b"PT2H")
    upload(admin, "deploy", ("waits.bpmn", changed))
    with db.write() as s:
        for key in ("W-2", "W-3"):
            services.start_process(s, "waits", business_key=key)
    page = admin.get("/admin/definitions/waits").get_data(as_text=True)
    rows = {v: text_of_row(page, f"v{v}") for v in (1, 2)}
    assert "等待中 1" in rows[1] and "等待中 2" in rows[2]
    assert 'src="/admin/definitions/waits/2/diagram.svg"' in page
    assert 'src="/admin/definitions/waits/1/diagram.svg"' in admin.get("/admin/definitions/waits?version=1").get_data(as_text=True)
    svg = admin.get("/admin/definitions/waits/1/diagram.svg")
    assert svg.mimetype == "image/svg+xml" and svg.get_data(as_text=True).lstrip().startswith("<svg")
    assert "script-src" not in svg.headers["Content-Security-Policy"]


def text_of_row(page: str, version: str) -> str:
    """The text of the versions table row of one version."""
    for row in re.findall(r"<tr.*?</tr>", page, re.S):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
        if text.strip().startswith(version + " "):
            return text
    raise AssertionError(f"no row for {version}")


def test_the_diff_page_names_added_removed_and_changed_elements(db, admin):
    deploy_files(db, "waits.bpmn")
    changed = WAITS.replace(b"PT1H", b"PT2H").replace(
        b'<bpmn:sequenceFlow id="f4" sourceRef="decide" targetRef="end" />',
        '<bpmn:sequenceFlow id="f4" sourceRef="decide" targetRef="archive" /><bpmn:userTask id="archive" name="归档" '
        'camunda:candidateGroups="archives" /><bpmn:sequenceFlow id="f7" sourceRef="archive" targetRef="end" />'.encode()
    ).replace(b'<bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming>', b'<bpmn:endEvent id="end"><bpmn:incoming>f7</bpmn:incoming>')
    response = upload(admin, "deploy", ("waits.bpmn", changed))
    assert response.status_code == 302, text_of(response)
    page = text_of(admin.get("/admin/definitions/waits/diff?from=1&to=2"))
    assert "新增 2" in page and "删除 0" in page and "修改 2" in page
    assert "归档 archive userTask" in page and "camunda:candidateGroups archives" in page
    assert "event timer, timeDuration=PT1H timer, timeDuration=PT2H" in page
    assert "targetRef end archive" in page


def tiny(task_id: str) -> bytes:
    """start -> one user task -> end, laid out (BPMNDI) so that it draws."""
    def shape(element, x, width=36):
        return (f'<bpmndi:BPMNShape id="{element}_di" bpmnElement="{element}"><dc:Bounds x="{x}" y="80" '
                f'width="{width}" height="36"/></bpmndi:BPMNShape>')
    return ('<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
            'id="d" targetNamespace="t"><bpmn:process id="tiny" isExecutable="true"><bpmn:startEvent id="s"/>'
            f'<bpmn:userTask id="{task_id}" name="审核"/><bpmn:endEvent id="e"/>'
            f'<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="{task_id}"/>'
            f'<bpmn:sequenceFlow id="f2" sourceRef="{task_id}" targetRef="e"/></bpmn:process>'
            '<bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="P" bpmnElement="tiny">'
            + shape("s", 100) + shape(task_id, 200, 100) + shape("e", 360) +
            '</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>').encode()


def classes_of(svg: str, element_id: str) -> str:
    return re.search(rf'<g class="([^"]*)" data-element-id="{element_id}"', svg).group(1)


def test_the_diagrams_of_a_diff_mark_what_each_version_alone_has(db, admin):
    upload(admin, "deploy", ("tiny.bpmn", tiny("review")))
    upload(admin, "deploy", ("tiny.bpmn", tiny("check")))
    older = admin.get("/admin/definitions/tiny/1/diagram.svg?diff=2").get_data(as_text=True)
    newer = admin.get("/admin/definitions/tiny/2/diagram.svg?diff=1").get_data(as_text=True)
    assert "failed" in classes_of(older, "review").split()  # removed by v2
    assert "active" in classes_of(newer, "check").split()  # new in v2
    assert "active" not in classes_of(newer, "s").split() and "failed" not in classes_of(older, "s").split()


def test_instances_are_filtered_by_process_version_status_and_business_key(db, admin, frozen_clock):
    start_project(db, "P-2026-001")
    start_project(db, "P-2026-002")
    deploy_files(db, "waits.bpmn")
    with db.write() as s:
        services.start_process(s, "waits", business_key="W-9")
    assert text_of(admin.get("/admin/instances?process=waits")).count("W-9") == 1
    page = text_of(admin.get("/admin/instances?business_key=2026-002"))
    assert "P-2026-002" in page and "P-2026-001" not in page and "W-9" not in page
    assert "W-9" in text_of(admin.get("/admin/instances?status=waiting&version=1"))
    assert "没有符合条件的实例" in text_of(admin.get("/admin/instances?status=completed"))


def test_suspend_resume_and_terminate_need_a_reason_and_are_recorded(db, admin):
    with db.read() as s:
        instance_id = s.get(UserTask, start_project(db)).instance_id
    url = f"/admin/instances/{instance_id}"
    refused = post(admin, f"{url}/suspend", {"reason": "  "})
    assert refused.status_code == 302
    assert "请填写原因" in text_of(admin.get(url))
    post(admin, f"{url}/suspend", {"reason": "项目暂缓"})
    with db.read() as s:
        assert s.get(ProcessInstance, instance_id).status == "suspended"
    assert "实例已暂停" in text_of(admin.get(url))
    post(admin, f"{url}/resume", {"reason": "恢复建设"})
    post(admin, f"{url}/terminate", {"reason": "项目终止"})
    with db.read() as s:
        assert s.get(ProcessInstance, instance_id).status == "terminated"
        changes = [(e["actor"], e["data"]["to"], e["data"]["reason"]) for e in history.events_of(s, instance_id)
                   if e["type"] == "status_changed"]
    assert changes == [("admin_zhou", "suspended", "项目暂缓"), ("admin_zhou", "running", "恢复建设"),
                       ("admin_zhou", "terminated", "项目终止")]
    page = text_of(admin.get(url))
    assert "实例已结束" in page and "项目终止" in page
    assert "操作未完成" in text_of(admin.get(post(admin, f"{url}/resume", {"reason": "再试"}).headers["Location"]))


@pytest.fixture
def incident(db, app, frozen_clock):
    deploy_files(db, "fragile.bpmn")
    with db.write() as s:
        services.start_process(s, "fragile", business_key="F-1")
    frozen_clock.advance(timedelta(minutes=11))
    assert services.fire_due_timers(db) == 1
    with db.read() as s:
        return s.scalars(select(Incident)).one()


def test_incidents_list_message_element_and_time(db, admin, incident):
    page = html.unescape(text_of(admin.get("/admin/incidents")))
    assert "score_gateway" in page and "unknown variable 'score'" in page and "2026-03-02 09:11" in page


def test_a_retry_with_bad_json_keeps_what_was_typed_and_changes_nothing(db, admin, incident):
    response = post(admin, f"/admin/incidents/{incident.id}/retry", {"variables": '{"score": 12'})
    assert response.status_code == 400
    assert "不是有效的 JSON" in text_of(response)
    assert '{&#34;score&#34;: 12</textarea>' in response.get_data(as_text=True)
    response = post(admin, f"/admin/incidents/{incident.id}/retry", {"variables": "[1, 2]"})
    assert response.status_code == 400 and "JSON 对象" in text_of(response)
    with db.read() as s:
        assert s.get(Incident, incident.id).resolved_at is None


def test_a_retry_after_setting_variables_runs_on_and_is_recorded(db, admin, incident):
    response = post(admin, f"/admin/incidents/{incident.id}/retry", {"variables": json.dumps({"score": 12})})
    assert response.status_code == 302
    assert "已重试" in text_of(admin.get("/admin/incidents"))
    with db.read() as s:
        assert s.get(Incident, incident.id).resolved_by == "admin_zhou"
        row = s.get(ProcessInstance, incident.instance_id)
        assert row.status == "running"
        assert [t.element_id for t in services.tasks(s, instance_id=row.id)] == ["high"]
        events = [(e["type"], e["actor"]) for e in history.events_of(s, row.id)]
    assert ("variables_changed", "admin_zhou") in events and ("timer_fired", "admin_zhou") in events


def test_a_retry_that_fails_again_says_so(db, admin, incident):
    post(admin, f"/admin/incidents/{incident.id}/retry")
    assert "仍然失败" in text_of(admin.get("/admin/incidents"))
    with db.read() as s:
        assert s.scalar(select(func.count(Incident.id)).where(Incident.resolved_at.is_(None))) == 1
        assert s.get(ProcessInstance, incident.instance_id).status == "incident"


def test_the_instance_page_shows_the_diagram_tasks_and_history(db, admin):
    with db.read() as s:
        instance_id = s.get(UserTask, start_project(db)).instance_id
        definition = s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == "task_form")).one()
    page = text_of(admin.get(f"/admin/instances/{instance_id}"))
    assert f"task_form v{definition.version}" in page and "发起流程" in page and "edu_li" in page
    svg = admin.get(f"/admin/instances/{instance_id}/diagram.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"


def test_the_deployments_page_says_when_history_was_last_anchored(db, admin):
    from engine import anchors
    assert "尚未锚定历史记录" in text_of(admin.get("/admin/deployments"))
    with db.write() as session:
        anchors.take(session, actor="ops")
    assert "上次锚定历史记录：2026-03-02 09:00" in text_of(admin.get("/admin/deployments"))


def test_dry_run_and_deploy_of_a_called_process_deploy_it_alone(db, admin):
    """只校验 says what 部署 does: a new stage_review is a new version of it alone; prepare_then_review,
    which calls it with binding 'latest', is not deployed again (its calls find the latest version
    when they start)."""
    stage = (DIAGRAMS / "stage_review.bpmn").read_bytes()
    assert upload(admin, "deploy", ("stage_review.bpmn", stage),
                  ("prepare_then_review.bpmn", (DIAGRAMS / "prepare_then_review.bpmn").read_bytes())).status_code == 302
    changed = ("stage_review.bpmn", stage.replace('name="审批${stage}"'.encode(), 'name="复核${stage}"'.encode()))
    page = html.unescape(text_of(upload(admin, "validate", changed)))
    assert "stage_review stage_review.bpmn 新版本 v2" in page
    assert "prepare_then_review.bpmn" not in page.partition("部署后将产生")[2]
    response = upload(admin, "deploy", changed)
    assert response.status_code == 302
    page = html.unescape(text_of(admin.get(response.headers["Location"])))
    assert "stage_review v2" in page and "prepare_then_review v2" not in page


CALL_FRAGILE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="call_fragile" name="调用易错流程" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="run_fragile" name="易错流程" calledElement="fragile">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="run_fragile" />
    <bpmn:sequenceFlow id="f2" sourceRef="run_fragile" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_an_incident_in_a_called_process_is_listed_at_the_called_instance_and_its_caller(db, admin, frozen_clock):
    """The timer of a called process fires into a gateway that fails: the incidents page lists it
    once, at the called instance and naming its caller; the caller's page shows the cause at its
    call activity; a retry that fails again opens both anew."""
    deploy_files(db, "fragile.bpmn")
    with db.write() as s:
        services.deploy(s, [services.BundleFile("call_fragile.bpmn", CALL_FRAGILE)], name="x", user="admin")
        root = services.start_process(s, "call_fragile", business_key="F-2").id
    frozen_clock.advance(timedelta(minutes=11))
    assert services.fire_due_timers(db) == 1
    with db.read() as s:
        called = s.scalars(select(ProcessInstance).where(ProcessInstance.super_instance_id == root)).one().id
        rows = [(i.at_instance_id, i.element_id, i.cause_id is None) for i in s.scalars(
            select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id))]
        first = s.scalars(select(Incident).where(Incident.cause_id.is_(None))).one().id
    assert rows == [(called, "score_gateway", True), (root, "run_fragile", False)]
    page = html.unescape(text_of(admin.get("/admin/incidents")))
    assert page.count("unknown variable 'score'") == 1
    assert f"#{called} fragile · F-2 由实例 #{root} 调用 score_gateway" in page
    assert "run_fragile" in text_of(admin.get(f"/admin/instances/{root}"))
    assert "score_gateway" in text_of(admin.get(f"/admin/instances/{called}"))
    post(admin, f"/admin/incidents/{first}/retry")
    assert "仍然失败" in text_of(admin.get("/admin/incidents"))
    with db.read() as s:
        rows = [(i.at_instance_id, i.element_id, i.cause_id is None) for i in s.scalars(
            select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id))]
        assert s.scalar(select(func.count(Incident.id)).where(Incident.resolved_by == "admin_zhou")) == 2
        second = s.scalars(select(Incident).where(Incident.cause_id.is_(None), Incident.resolved_at.is_(None))).one().id
    assert rows == [(called, "score_gateway", True), (root, "run_fragile", False)]
    post(admin, f"/admin/incidents/{second}/retry", {"variables": json.dumps({"score": 12})})  # mended, it runs on
    assert "没有未处理的异常" in text_of(admin.get("/admin/incidents"))
    with db.read() as s:
        assert [(t.element_id, t.called_instance_id) for t in services.tasks(s, instance_id=root)] == [("high", called)]
        assert s.get(ProcessInstance, root).status == "running"
