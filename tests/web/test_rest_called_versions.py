"""Which version a called process runs, and what its caller sees of it, as Camunda 7 does it,
driven through the REST API as a Camunda client drives it (deployment/create as the Modeler sends
it, start, complete tasks).

- `camunda:calledElementBinding="latest"` (the default) is resolved when the call starts: a
  process started long ago that reaches its call today runs the version of the called process
  deployed last week, and a call already running keeps its version. The history records which
  version each call ran; `replay.verify` re-executes the same one and catches a called instance
  whose version was changed outside the engine.
- While a call runs, its caller's variables are its own: the called process's data reaches the
  caller only through `camunda:out` when the call ends.

Small diagrams (tests/diagrams/construction.bpmn calling acceptance.bpmn) and the real bpmn/ (a
project's three stage reviews call stage_review)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import event, select, update

from engine import history, projects, replay
from engine.models import ProcessDefinition, ProcessInstance
from test_rest_helpers import (PASSWORD, diagram, error_of, history_proves_every_instance,  # noqa: F401
                               modeler_deploy, rest, start)
from test_ui_fixtures import login, post, text_of

pytestmark = pytest.mark.usefixtures("history_proves_every_instance")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))
import scenario_support as real  # noqa: E402

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
RENAMED = ('name="现场检查"', 'name="现场复查"')  # acceptance version 2: another name, a second form field
SAFETY = ('<camunda:formField id="finding" label="检查结论" type="string" />',
          '<camunda:formField id="finding" label="检查结论" type="string" />\n'
          '          <camunda:formField id="safety" label="安全检查" type="string" />')


def deploy(rest, name: str, main: tuple[str, bytes], *attachments: tuple[str, bytes]) -> dict[str, dict]:
    """Deploy as Camunda Modeler does; the definitions it made, by key."""
    response = modeler_deploy(rest.as_("admin"), name, main, list(attachments))
    assert response.status_code == 200, response.get_json()
    return {d["key"]: d for d in (response.get_json()["deployedProcessDefinitions"] or {}).values()}


def acceptance_v2() -> tuple[str, bytes]:
    name, content = diagram("acceptance.bpmn")
    text = content.decode()
    assert RENAMED[0] in text and SAFETY[0] in text
    return name, text.replace(*RENAMED).replace(*SAFETY).encode()


def open_task(rest, instance_id: str, group: str) -> dict:
    [task] = rest.as_(group).get("/task", processInstanceId=instance_id).get_json()
    return task


def call_task(rest, root: str, group: str) -> dict:
    """The open task of the process the root calls now (Camunda lists it under the called instance)."""
    return open_task(rest, called_of(rest, root)["id"], group)


def complete(rest, task: dict, user: str, **values):
    return rest.as_(user).post(f"/task/{task['id']}/complete",
                               {"variables": {k: {"value": v} for k, v in values.items()}})


def called_of(rest, root: str) -> dict:
    [called] = rest.as_("admin").get("/process-instance", superProcessInstance=root).get_json()
    return called


def variables(rest, instance_id: str) -> dict:
    answer = rest.as_("admin").get(f"/process-instance/{instance_id}/variables").get_json()
    return {name: v["value"] for name, v in answer.items()}


def build(rest, root: str) -> None:
    assert complete(rest, open_task(rest, root, "office"), "office").status_code == 204


def test_a_call_runs_the_version_deployed_when_it_starts_and_keeps_it(rest):
    first = deploy(rest, "建设", diagram("construction.bpmn"), diagram("acceptance.bpmn"))
    years_ago = start(rest, "construction", user="office", business_key="P-1", project_name="智慧教育")["id"]
    running = start(rest, "construction", user="office", business_key="P-2", project_name="智慧医疗")["id"]
    build(rest, running)
    assert called_of(rest, running)["definitionId"] == first["acceptance"]["id"]
    second = deploy(rest, "验收", acceptance_v2())
    assert list(second) == ["acceptance"]  # the caller is not deployed again
    assert second["acceptance"]["version"] == 2

    build(rest, years_ago)  # its call starts now: the latest version
    called = called_of(rest, years_ago)
    assert called["definitionId"] == second["acceptance"]["id"]
    inspect = call_task(rest, years_ago, "office")
    assert (inspect["name"], inspect["processDefinitionId"]) == ("现场复查", second["acceptance"]["id"])
    assert complete(rest, inspect, "office", finding="合格", safety="无隐患").status_code == 204  # version 2's form
    ui = rest.app.test_client()
    assert login(ui, "office", PASSWORD).status_code == 302
    with rest.db.read() as session:
        page = text_of(ui.get(f"/projects/{session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == years_ago))}"))
    assert "安全检查 无隐患" in page  # the case file labels what was submitted by version 2's form

    inspect = call_task(rest, running, "office")  # started before: keeps version 1, its task and its form
    assert (inspect["name"], called_of(rest, running)["definitionId"]) == ("现场检查", first["acceptance"]["id"])
    message = error_of(complete(rest, inspect, "office", finding="合格", safety="无隐患"), 400, "InvalidRequestException")
    assert "safety" in message, message
    assert complete(rest, inspect, "office", finding="合格").status_code == 204

    for root in (years_ago, running):
        assert complete(rest, call_task(rest, root, "drc"), "drc", accepted=True).status_code == 204
        assert open_task(rest, root, "office")["taskDefinitionKey"] == "hand_over"
        assert variables(rest, root)["accepted"] is True
    with rest.db.read() as session:
        recorded = {root: [(e["element_id"], e["data"]["process"]) for e in history.events_of(session, int(
            session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == root))))
            if e["type"] == "call_started"] for root in (years_ago, running)}
    assert recorded == {years_ago: [("accept", "acceptance:2")], running: [("accept", "acceptance:1")]}


def test_verify_catches_a_called_instance_moved_to_another_version_outside_the_engine(rest):
    first = deploy(rest, "建设", diagram("construction.bpmn"), diagram("acceptance.bpmn"))
    second = deploy(rest, "验收", acceptance_v2())
    root = start(rest, "construction", user="office", business_key="P-1", project_name="智慧教育")["id"]
    build(rest, root)
    called = called_of(rest, root)
    assert called["definitionId"] == second["acceptance"]["id"]
    with rest.db.write() as session:
        root_id = session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == root))
        called_id = session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == called["id"]))
        version_1 = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "acceptance",
                                                                      ProcessDefinition.version == 1))
        version_2 = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "acceptance",
                                                                      ProcessDefinition.version == 2))
        session.execute(update(ProcessInstance).where(ProcessInstance.id == called_id).values(definition_id=version_1))
    assert called_of(rest, root)["definitionId"] == first["acceptance"]["id"]
    with rest.db.read() as session:
        chain, report = replay.verify(session, root_id)
    assert chain.ok and not report.ok
    assert "called process instances" in report.problem, report.problem
    with rest.db.write() as session:  # put back: the fixture proves every instance
        session.execute(update(ProcessInstance).where(ProcessInstance.id == called_id).values(definition_id=version_2))


def test_a_caller_sees_of_its_call_only_what_out_passes_when_it_ends(rest):
    deploy(rest, "建设", diagram("construction.bpmn"), diagram("acceptance.bpmn"))
    root = start(rest, "construction", user="office", business_key="P-1", project_name="智慧教育")["id"]
    build(rest, root)
    called = called_of(rest, root)["id"]
    assert variables(rest, root) == {"project_name": "智慧教育"}
    assert variables(rest, called) == {"title": "智慧教育"}  # camunda:in
    inspect = call_task(rest, root, "office")
    sent = []

    def note(_connection, _cursor, statement, *_):
        sent.append(statement)
    event.listen(rest.db.engine, "before_cursor_execute", note)
    try:
        assert complete(rest, inspect, "office", finding="合格").status_code == 204
    finally:
        event.remove(rest.db.engine, "before_cursor_execute", note)
    assert sent and not [s for s in sent if "process_definition" in s]  # a step that starts no call reads no definition
    assert variables(rest, root) == {"project_name": "智慧教育"}
    assert variables(rest, called) == {"title": "智慧教育", "finding": "合格"}
    listed = rest.as_("admin").get("/variable-instance", processInstanceIdIn=root).get_json()
    assert sorted(v["name"] for v in listed) == ["project_name"]
    assert complete(rest, call_task(rest, root, "drc"), "drc", accepted=True).status_code == 204
    assert variables(rest, root) == {"project_name": "智慧教育", "accepted": True}  # camunda:out, at the end


# --- the real bpmn/: a project's stage reviews call stage_review ---------------------------------

def test_a_project_reaching_its_next_stage_review_runs_the_stage_review_deployed_since(rest):
    """A project whose proposal review ran stage_review version 1 reaches its feasibility review
    after a new stage_review was deployed from the Modeler: that review runs the new version; the
    project itself stays on its version; its variables never hold the review's own."""
    files = sorted(p for p in BPMN.iterdir() if p.suffix in (".bpmn", ".dmn", ".form"))
    [first, *others] = [(p.name, p.read_bytes()) for p in files]
    deploy(rest, "办法", first, *others)
    db = rest.db
    pid = real.declare_project(db, "P-2026-067")
    with db.read() as session:
        root = session.get(ProcessInstance, pid)
        root_rest, project_version = root.rest_id, root.definition_id
    proposal = called_of(rest, root_rest)
    assert variables(rest, proposal["id"])["stage_name"] == "项目建议书"
    assert "stage_name" not in variables(rest, root_rest)  # camunda:in gives it to the review alone
    with db.read() as session:
        [found] = [p for p in projects.projects(session, projects.Viewer("admin", (), sees_all=True))
                   if p.instance_id == pid]
    assert found.stage == "proposal"  # the projects' pages still name the stage under review
    ui = rest.app.test_client()
    assert login(ui, "office", PASSWORD).status_code == 302
    assert '<span class="tag">项目建议书</span>' in ui.get(f"/projects/{pid}").get_data(as_text=True)

    source = (BPMN / "stage_review.bpmn").read_text(encoding="utf-8")
    old = 'name="提交${stage_name}"'
    assert old in source
    second = deploy(rest, "阶段审查", ("stage_review.bpmn", source.replace(old, 'name="报送${stage_name}"').encode()))
    assert list(second) == ["stage_review"]
    real.pass_stage(db, pid)
    feasibility = called_of(rest, root_rest)
    assert feasibility["id"] != proposal["id"]
    assert feasibility["definitionId"] == second["stage_review"]["id"]
    [task] = rest.as_("admin").get("/task", processInstanceId=feasibility["id"]).get_json()
    assert task["name"] == "报送可行性研究报告"
    with db.read() as session:
        assert session.get(ProcessInstance, pid).definition_id == project_version


def test_a_caller_migrated_to_a_new_version_leaves_its_running_call_on_its_version(rest):
    """As in Camunda, migrating the caller does not migrate the instance it calls: the call goes on
    in the version it started on, though the caller's new version was deployed after a new
    version of the called process."""
    first = deploy(rest, "建设", diagram("construction.bpmn"), diagram("acceptance.bpmn"))
    root = start(rest, "construction", user="office", business_key="P-1", project_name="智慧教育")["id"]
    build(rest, root)
    deploy(rest, "验收", acceptance_v2())
    name, content = diagram("construction.bpmn")
    renamed = content.replace('name="移交运维"'.encode(), 'name="移交运维单位"'.encode())
    target = deploy(rest, "建设", (name, renamed))["construction"]["version"]
    ui = rest.app.test_client()
    assert login(ui, "admin", PASSWORD).status_code == 302
    with rest.db.read() as session:
        root_id = session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == root))
    response = post(ui, "/admin/definitions/construction/migrate", {"from": "1", "to": str(target),
                                                                    "instance": [root_id]})
    assert response.status_code == 302
    assert f"已将 1 个实例迁移到 v{target}" in text_of(ui.get(response.headers["Location"]))
    assert called_of(rest, root)["definitionId"] == first["acceptance"]["id"]
    inspect = call_task(rest, root, "office")
    assert inspect["name"] == "现场检查"
    assert complete(rest, inspect, "office", finding="合格").status_code == 204
    assert complete(rest, call_task(rest, root, "drc"), "drc", accepted=True).status_code == 204
    assert open_task(rest, root, "office")["name"] == "移交运维单位"
    assert variables(rest, root)["accepted"] is True
