"""Diagrams shaped as a Camunda 7 team brings them (tests/camunda/*.bpmn, saved as Camunda Modeler 5
saves them), driven only as a Camunda client would: deploy, start, complete tasks with their
form fields, fetch-and-lock external tasks (`java:` topics too), correlate messages, throw signals;
each test asserts the end state Camunda reaches (or, where Camunda would run Java or JavaScript,
what dalad does instead), and every instance's history then replays. Timers fire through the
engine's scheduler with the clock moved on."""
from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Optional

import pytest
from sqlalchemy import select

from engine import audit, services
from engine.models import ExternalTask, HistoryEvent, UserTask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "web"))
from test_rest_helpers import (PASSWORD, error_of, history_proves_every_instance, modeler_deploy,  # noqa: E402,F401
                               rest)
from test_ui_fixtures import login, post  # noqa: E402

pytestmark = pytest.mark.usefixtures("history_proves_every_instance")

HERE = Path(__file__).parent


def deploy(rest, name: str, *attachments: str) -> dict:
    """Deploy as Camunda Modeler does; return the answer."""
    response = modeler_deploy(rest.as_("admin"), name, (name, (HERE / name).read_bytes()),
                              [(a, (HERE / a).read_bytes()) for a in attachments])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def warnings_of(answer: dict) -> dict[str, list[str]]:
    """The deploy answer's warnings by element id (Camunda's ResourceReportDto shape)."""
    found: dict[str, list[str]] = {}
    for report in (answer.get("details") or {}).values():
        assert report["errors"] == []
        for warning in report["warnings"]:
            assert warning["line"] > 0
            found.setdefault(warning["mainElementId"], []).append(warning["message"])
    return found


def start(rest, key: str, user: str = "admin", business_key: Optional[str] = None, **variables) -> str:
    response = rest.as_(user).post(f"/process-definition/key/{key}/start", {
        "businessKey": business_key, "variables": {n: {"value": v} for n, v in variables.items()}})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["id"]


def tasks(rest, instance_id: str, user: str = "admin") -> dict[str, dict]:
    return {t["taskDefinitionKey"]: t for t in rest.as_(user).get("/task", processInstanceId=instance_id).get_json()}


def complete(rest, task: dict, user: str, **variables) -> None:
    response = rest.as_(user).post(f"/task/{task['id']}/complete",
                                   {"variables": {n: {"value": v} for n, v in variables.items()}})
    assert response.status_code == 204, response.get_json()


def state(rest, instance_id: str) -> str:
    return rest.as_("admin").get(f"/history/process-instance/{instance_id}").get_json()["state"]


def variables(rest, instance_id: str) -> dict:
    answer = rest.as_("admin").get(f"/process-instance/{instance_id}/variables").get_json()
    return {name: dto["value"] for name, dto in answer.items()}


def fetch(rest, topic: str, worker: str = "python-worker") -> list[dict]:
    response = rest.as_("admin").post("/external-task/fetchAndLock", {
        "workerId": worker, "maxTasks": 10, "topics": [{"topicName": topic, "lockDuration": 60000}]})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def work(rest, topic: str, worker: str = "python-worker", **variables) -> dict:
    [task] = fetch(rest, topic, worker)
    response = rest.as_("admin").post(f"/external-task/{task['id']}/complete", {
        "workerId": worker, "variables": {n: {"value": v} for n, v in variables.items()}})
    assert response.status_code == 204, response.get_json()
    return task


def fire_timers(rest, delta: timedelta, clock) -> None:
    clock.advance(delta)
    services.fire_due_timers(rest.db)


# --------------------------------------------------------------------------- the patterns

def test_pools_with_lanes_offer_each_task_to_its_lane_once_the_groups_exist(rest):
    answer = deploy(rest, "pool_lanes.bpmn")
    assert warnings_of(answer) == {
        "approve_invoice": ["candidate group (its lane) 'Management' does not exist: nobody is offered this until "
                            "an administrator adds it (`dalad groups add`)"],
        "prepare_transfer": ["candidate group (its lane) 'Accounting' does not exist: nobody is offered this until "
                             "an administrator adds it (`dalad groups add`)"]}
    admin = rest.as_("admin")
    for group, name, user in (("Management", "管理层", "mary"), ("Accounting", "会计", "ann")):
        assert admin.post("/group/create", {"id": group, "name": name, "type": "WORKFLOW"}).status_code == 204
        assert admin.post("/user/create", {"profile": {"id": user, "firstName": user.title()},
                                           "credentials": {"password": "long enough password"}}).status_code == 204
        assert admin.put(f"/group/{group}/members/{user}", {}).status_code == 204
    instance = start(rest, "c7_pool_lanes")
    mary, ann = rest.basic("mary"), rest.basic("ann")
    [approve] = mary.get("/task", candidateGroup="Management").get_json()
    assert ann.get("/task").get_json() == []
    complete_response = mary.post(f"/task/{approve['id']}/complete", {"variables": {"approved": {"value": True}}})
    assert complete_response.status_code == 204
    [transfer] = ann.get("/task").get_json()
    assert transfer["taskDefinitionKey"] == "prepare_transfer"
    assert ann.post(f"/task/{transfer['id']}/complete", {}).status_code == 204
    assert state(rest, instance) == "COMPLETED"


def test_form_data_without_a_form_key_is_the_task_form(rest):
    deploy(rest, "form_data.bpmn")
    instance = start(rest, "c7_form_data", user="office")
    [task] = rest.as_("office").get("/task", processInstanceId=instance).get_json()
    form = rest.as_("office").get(f"/task/{task['id']}/form-variables").get_json()
    assert set(form) == {"reason", "days", "paid", "kind", "first_day"}
    assert form["paid"]["value"] is True
    complete(rest, task, "office", reason="family", days=12, paid=False, kind="annual", first_day="2026-04-01")
    assert set(tasks(rest, instance)) == {"approve_long_leave"}  # days > 10
    assert {k: v for k, v in variables(rest, instance).items() if k in ("days", "paid", "kind")} == {
        "days": 12, "paid": False, "kind": "annual"}
    complete(rest, tasks(rest, instance)["approve_long_leave"], "office")
    assert state(rest, instance) == "COMPLETED"


def test_candidate_group_lists_with_spaces_and_unknown_people_leave_the_work_to_administrators(rest):
    answer = deploy(rest, "parallel_user_tasks.bpmn")
    assert warnings_of(answer) == {"task_groups": [
        "candidate group 'accounting', 'management' do not exist: nobody is offered this until an administrator "
        "adds it (`dalad groups add`)"]}
    instance = start(rest, "c7_parallel_user_tasks")
    found = tasks(rest, instance)
    assert found["task_demo"]["assignee"] == "demo"
    error_of(rest.as_("office").post(f"/task/{found['task_groups']['id']}/claim"), 403, "AuthorizationException")
    error_of(rest.as_("office").post(f"/task/{found['task_demo']['id']}/complete", {}), 403,
             "AuthorizationException")
    for task in found.values():  # an administrator may work on any task, as camunda-admin may
        assert rest.as_("admin").post(f"/task/{task['id']}/complete?reason=demo+is+on+leave", {}).status_code == 204
    assert state(rest, instance) == "COMPLETED"
    with rest.db.read() as session:  # the history names the administrator's reason
        bodies = session.scalars(select(HistoryEvent.body).where(HistoryEvent.type == "task_completed"))
        reasons = sorted(json.loads(body)["data"]["admin_override"] for body in bodies)
    assert reasons == ["demo is on leave", "demo is on leave"]


def test_java_delegates_become_java_topics_for_python_workers(rest):
    answer = deploy(rest, "java_delegates.bpmn")
    warned = warnings_of(answer)
    assert set(warned) == {"c7_java_delegates", "archive_invoice", "notify_creditor", "score_creditor",
                           "EndEvent_paid"}
    assert any("topic 'java:org.camunda.bpm.example.ProcessStartListener'" in w for w in warned["c7_java_delegates"])
    assert any("topic 'java:org.camunda.bpm.example.invoice.service.ArchiveInvoiceService'" in w
               for w in warned["archive_invoice"])
    instance = start(rest, "c7_java_delegates", business_key="INV-1", amount=30)
    work(rest, "java:org.camunda.bpm.example.ProcessStartListener", started=True)  # the process's start listener
    task = work(rest, "java:org.camunda.bpm.example.invoice.service.ArchiveInvoiceService", archived=True)
    assert (task["activityId"], task["businessKey"], task["variables"]["amount"]["value"]) == (
        "archive_invoice", "INV-1", 30)
    work(rest, "java:${auditListener}")  # archive_invoice's end listener
    work(rest, "java:${notifier}")
    work(rest, "java:${scoring.score(execution)}", score=7)
    assert state(rest, instance) == "ACTIVE"
    assert variables(rest, instance)["score"] == 7
    work(rest, "java:org.camunda.bpm.example.PaidNotification")
    assert state(rest, instance) == "COMPLETED"


def test_javascript_listeners_and_groovy_scripts_become_incidents_an_administrator_resolves(rest, monkeypatch):
    answer = deploy(rest, "javascript_listener.bpmn")
    assert set(warnings_of(answer)) == {"review", "compute_fee"}
    instance = start(rest, "c7_javascript_listener", amount=200)
    assert rest.as_("admin").get("/process-instance", withIncident="true").get_json()[0]["id"] == instance
    assert tasks(rest, instance) == {}  # the listener runs before the task is created: it waits for it
    assert fetch(rest, "script:javascript") == []  # no retries left: an incident, not work for a worker
    # the administrator hands the listener's work to a Python worker, as Camunda resolves such incidents
    [waiting] = rest.as_("admin").get("/external-task", processInstanceId=instance).get_json()
    assert (waiting["topicName"], waiting["retries"], waiting["activityId"]) == (
        "script:javascript", 0, "review__create_javascript_listener")
    assert rest.as_("admin").put(f"/external-task/{waiting['id']}/retries", {"retries": 1}).status_code == 204
    assert rest.as_("admin").get("/process-instance", withIncident="true").get_json() == []
    work(rest, "script:javascript", reviewer="office")
    [review] = rest.as_("office").get("/task", processInstanceId=instance).get_json()
    complete(rest, review, "office")
    assert state(rest, instance) == "ACTIVE"  # the Groovy fee script: another incident, done on the incidents page
    _admin_completes_scripts(rest, rest.app.test_client(), {"fee": 20})
    assert variables(rest, instance)["fee"] == 20 and variables(rest, instance)["reviewer"] == "office"
    complete(rest, tasks(rest, instance)["pay_fee"], "finance")
    assert state(rest, instance) == "COMPLETED"


def test_python_listeners_and_parameters_run_in_the_sandbox_where_they_stand(rest):
    """Python in a process start listener, a user task's create and complete task listeners and
    end execution listener, a flow's take listener, and input/output parameters: each runs where
    Camunda would run it, in the engine's sandbox, with no warning."""
    assert warnings_of(deploy(rest, "python_listeners.bpmn")) == {}
    instance = start(rest, "c7_python_listeners", amount=30)
    assert variables(rest, instance)["opened"] is True  # the process's start listener
    assert variables(rest, instance)["reviewer"] == "office"  # the create listener, before the task
    review = tasks(rest, instance)["review"]
    complete(rest, review, "office")
    seen = variables(rest, instance)
    assert (seen["reviewed_by"], seen["fee"], seen["took"]) == ("office-done", 5, True)
    pay = tasks(rest, instance)["pay_fee"]
    assert rest.as_("finance").get(f"/task/{pay['id']}/variables").get_json()["doubled"]["value"] == 60
    complete(rest, pay, "finance")
    assert state(rest, instance) == "COMPLETED"
    done = rest.as_("admin").get("/history/variable-instance", processInstanceId=instance).get_json()
    assert {v["name"]: v["value"] for v in done}["total"] == 65  # doubled + fee, by the output script


LISTENER_ORDER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="listener_order" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="t" name="T" camunda:candidateGroups="drc">
      <bpmn:extensionElements>
        <camunda:taskListener event="complete"><camunda:script scriptFormat="python">log = log + ["complete1"]</camunda:script></camunda:taskListener>
        <camunda:executionListener event="end"><camunda:script scriptFormat="python">log = log + ["end1"]</camunda:script></camunda:executionListener>
        <camunda:executionListener event="end"><camunda:script scriptFormat="python">log = log + ["end2"]</camunda:script></camunda:executionListener>
        <camunda:taskListener event="complete"><camunda:script scriptFormat="python">log = log + ["complete2"]</camunda:script></camunda:taskListener>
        <camunda:taskListener event="create"><camunda:script scriptFormat="python">log = log + ["create1"]</camunda:script></camunda:taskListener>
        <camunda:executionListener event="start"><camunda:script scriptFormat="python">log = log + ["start1"]</camunda:script></camunda:executionListener>
        <camunda:executionListener event="start"><camunda:script scriptFormat="python">log = log + ["start2"]</camunda:script></camunda:executionListener>
        <camunda:taskListener event="create"><camunda:script scriptFormat="python">log = log + ["create2"]</camunda:script></camunda:taskListener>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="u" name="U" camunda:candidateGroups="drc"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/><bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="u"/><bpmn:sequenceFlow id="f3" sourceRef="u" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_listeners_run_in_camundas_order_whatever_their_order_in_the_file(rest):
    """At a user task Camunda runs the execution start listeners, the create listeners, then at
    its completion the complete listeners and the end listeners, each kind in the file's order;
    the file here lists them shuffled."""
    answer = modeler_deploy(rest.as_("admin"), "order", ("order.bpmn", LISTENER_ORDER))
    assert answer.status_code == 200, answer.get_json()
    instance = start(rest, "listener_order", log=[])
    assert json.loads(variables(rest, instance)["log"]) == ["start1", "start2", "create1", "create2"]
    complete(rest, tasks(rest, instance)["t"], "drc")
    assert json.loads(variables(rest, instance)["log"]) == [
        "start1", "start2", "create1", "create2", "complete1", "complete2", "end1", "end2"]


def _task_row(rest, rest_id: str) -> UserTask:
    with rest.db.read() as session:
        return session.scalars(select(UserTask).where(UserTask.rest_id == rest_id)).one()


@pytest.mark.parametrize("amount", [200, 50])
def test_python_create_listeners_assign_the_task_and_set_its_dates(rest, amount):
    """Two Python create listeners set the task's assignee or candidates, dates, priority and name
    as Camunda's DelegateTask does, reading what the diagram and the listener before gave; the
    official meets the task so in the inbox (REST and the UI's), completes it over HTTP, and
    nothing of it stays in the variables or reaches the next task."""
    assert warnings_of(deploy(rest, "python_task_listeners.bpmn")) == {}
    instance = start(rest, "c7_python_task_listeners", amount=amount, follow_up="2026-03-06")
    who, sees = ("finance", "finance") if amount > 100 else (None, "drc")
    [assess] = rest.as_(sees).get("/task", processInstanceId=instance).get_json()
    assert (assess["assignee"], assess["name"], assess["priority"], assess["due"], assess["followUp"]) == (
        who, "Assess claim assess", 50, "2026-03-04T09:00:00.000+0800", "2026-03-06T00:00:00.000+0800")
    row = _task_row(rest, assess["id"])
    assert (row.candidate_groups, row.candidate_users) == (["drc"] if who is None else [], ["edu"])
    assert rest.as_("edu").get("/task", processInstanceId=instance).get_json()[0]["id"] == assess["id"]
    assert rest.as_("office").get("/task", processInstanceId=instance).get_json() == []  # its group deleted
    seen = variables(rest, instance)
    assert (seen["first_saw"], json.loads(seen["second_saw"])) == (who, [who, 50, 4])  # (a list: JSON)
    assert not any(name.startswith("dalad") for name in seen)
    task_variables = rest.as_(sees).get(f"/task/{assess['id']}/variables").get_json()
    assert not any(name.startswith("dalad") for name in task_variables)
    client = rest.app.test_client()
    assert login(client, sees, PASSWORD).status_code == 302
    inbox_page = client.get("/inbox/" if who else "/inbox/bureau").get_data(as_text=True)
    assert "Assess claim assess" in inbox_page and "2026-03-04" in inbox_page  # with its due date
    if who is None:
        assert post(client, f"/tasks/{row.id}/claim").status_code == 302
    assert post(client, f"/tasks/{row.id}/complete").status_code == 302
    approve = tasks(rest, instance)["approve"]  # the next task is the diagram's alone
    assert (approve["assignee"], approve["priority"], approve["due"], approve["name"]) == (None, 50, None, "Approve")
    assert _task_row(rest, approve["id"]).candidate_groups == ["office"]
    assert not any(name.startswith("dalad") for name in variables(rest, instance))
    with rest.db.read() as session:  # the history signs what the listeners set
        created = [json.loads(body)["data"] for body in session.scalars(
            select(HistoryEvent.body).where(HistoryEvent.type == "task_created").order_by(HistoryEvent.id))]
    assert (created[0]["assignee"], created[0]["candidate_groups"]) == (who, ["drc"] if who is None else [])
    complete(rest, approve, "office")
    assert state(rest, instance) == "COMPLETED"


def _listener_variant(old: str, new: str) -> tuple[str, bytes]:
    text = (HERE / "python_task_listeners.bpmn").read_text(encoding="utf-8")
    assert old in text
    return "claim.bpmn", text.replace(old, new).encode()


@pytest.mark.parametrize("event, script, refusal", [
    ("complete", 'task.setAssignee("finance")', "task.setAssignee() works in a user task's create listener only"),
    ("assignment", 'task.setVariable("seen", True)', "to assign a task in Python, use a create listener"),
])
def test_what_a_python_task_listener_cannot_do_is_refused_at_deploy(rest, event, script, refusal):
    second = '<camunda:taskListener event="create">\n          <camunda:script scriptFormat="python">task.'
    diagram = _listener_variant(second, f'<camunda:taskListener event="{event}"><camunda:script scriptFormat="python">'
                                        f'{script}</camunda:script></camunda:taskListener>\n{second}')
    response = modeler_deploy(rest.as_("admin"), "claim", diagram)
    message = error_of(response, 400, "ParseException")
    assert "resource claim.bpmn" in message and refusal in message, message
    [error] = response.get_json()["details"]["claim.bpmn"]["errors"]  # the element, as Camunda reports it
    assert (error["mainElementId"], error["line"]) == ("assess", 7)
    assert rest.as_("admin").get("/process-definition", key="c7_python_task_listeners").get_json() == []


def test_a_bad_value_given_to_the_task_is_a_clear_error_and_starts_nothing(rest):
    name, text = _listener_variant("task.setPriority(task.getPriority() + 10)", 'task.setPriority("high")')
    assert modeler_deploy(rest.as_("admin"), "claim", (name, text)).status_code == 200
    response = rest.as_("admin").post("/process-definition/key/c7_python_task_listeners/start", {
        "variables": {"amount": {"value": 5}, "follow_up": {"value": "2026-03-06"}}})
    assert error_of(response, 422, "ExecutionError") == (
        "element 'assess__create_python_listener': script failed: task.setPriority() takes a whole number, "
        "not 'high'")
    assert rest.as_("admin").get("/process-instance").get_json() == []


def test_javascript_conditions_become_an_incident_that_chooses_the_flow(rest):
    """A gateway whose condition is JavaScript: an incident before it, which an administrator
    completes with `take_<flow>` (true to take that flow); false for all takes the default."""
    answer = deploy(rest, "javascript_conditions.bpmn")
    assert list(warnings_of(answer)) == ["Gateway_amount"]
    assert "take_Flow_big" in warnings_of(answer)["Gateway_amount"][0]
    big = start(rest, "c7_javascript_conditions", amount=5000, waived=False)
    small = start(rest, "c7_javascript_conditions", amount=5000, waived=True)
    assert tasks(rest, big) == {} and tasks(rest, small) == {}  # both wait at the incident
    assert {i["processInstanceId"] for i in rest.as_("admin").get("/incident").get_json()} == {big, small}
    client = rest.app.test_client()
    assert login(client, "admin", PASSWORD).status_code == 302
    for instance, take in ((big, True), (small, False)):
        [waiting] = rest.as_("admin").get("/external-task", processInstanceId=instance).get_json()
        assert (waiting["topicName"], waiting["activityId"]) == ("script:javascript",
                                                                "Gateway_amount__javascript_conditions")
        with rest.db.read() as session:  # the incidents page names the task by its row
            row_id = session.scalar(select(ExternalTask.id).where(ExternalTask.rest_id == waiting["id"]))
        response = post(client, f"/admin/external-tasks/{row_id}/complete",
                        {"variables": json.dumps({"take_Flow_big": take}), "reason": "amount checked by hand"})
        assert response.status_code == 302, response.get_data(as_text=True)
    assert list(tasks(rest, big)) == ["approve_big"] and list(tasks(rest, small)) == ["approve_small"]
    complete(rest, tasks(rest, big)["approve_big"], "finance")
    assert state(rest, big) == "COMPLETED"


def _admin_completes_scripts(rest, client, values: dict) -> None:
    """An administrator completes the waiting script from the incidents page."""
    assert login(client, "admin", PASSWORD).status_code == 302
    page = client.get("/admin/incidents").get_data(as_text=True)
    [task_id] = re.findall(r'id="external-(\d+)"', page)
    response = post(client, f"/admin/external-tasks/{task_id}/complete",
                    {"variables": json.dumps(values), "reason": "script by hand"})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_data_store_references_are_documentation(rest):
    assert warnings_of(deploy(rest, "data_store.bpmn")) == {}
    instance = start(rest, "c7_data_store")
    complete(rest, tasks(rest, instance)["record_case"], "office")
    assert state(rest, instance) == "COMPLETED"


def test_joda_date_idioms_set_due_dates_and_timers(rest, frozen_clock):
    deploy(rest, "joda_dates.bpmn")
    instance = start(rest, "c7_joda_dates")
    task = tasks(rest, instance)["check_claim"]
    assert (task["due"], task["followUp"]) == ("2026-03-04T09:00:00.000+0800", "2026-03-09T09:00:00.000+0800")
    complete(rest, task, "office")
    fire_timers(rest, timedelta(days=30), frozen_clock)
    assert tasks(rest, instance) == {}  # 2 April: not a month yet
    fire_timers(rest, timedelta(days=1), frozen_clock)
    closing = tasks(rest, instance)["close_claim"]
    assert closing["due"] == "2026-04-02T09:00:00.000+0800"
    complete(rest, closing, "office")
    assert state(rest, instance) == "COMPLETED"


@pytest.mark.parametrize("amount, category, next_task", [(1500, "large", "review_large"), (200, "small", "ship_small")])
def test_feel_output_mappings(rest, amount, category, next_task):
    deploy(rest, "feel_mapping.bpmn")
    instance = start(rest, "c7_feel_mapping")
    complete(rest, tasks(rest, instance)["enter_order"], "office", amount=amount, customer="li")
    values = variables(rest, instance)
    assert (values["category"], values["greeting"]) == (category, "Dear LI")
    assert set(tasks(rest, instance)) == {next_task}


@pytest.mark.parametrize("month, guests, dish", [(1, 4, "Roastbeef"), (12, 10, "Stew"), (4, 2, "Steak"),
                                                 (10, 6, "Light Salad")])
def test_drd_with_a_required_decision(rest, month, guests, dish):
    deploy(rest, "drd_dish.bpmn", "drd_dish.dmn")
    instance = start(rest, "c7_drd_dish", month=month, guestCount=guests)
    assert variables(rest, instance)["dish"] == dish
    assert set(tasks(rest, instance)) == {"cook"}


def test_event_based_gateway_over_message_signal_and_timer(rest, frozen_clock):
    deploy(rest, "event_gateway.bpmn")
    paid = start(rest, "c7_event_gateway", business_key="ORDER-1")
    frozen = start(rest, "c7_event_gateway", business_key="ORDER-2")
    late = start(rest, "c7_event_gateway", business_key="ORDER-3")
    admin = rest.as_("admin")
    assert admin.post("/message", {"messageName": "payment_received", "businessKey": "ORDER-1"}).status_code == 204
    assert set(tasks(rest, paid)) == {"ship"}
    # the signal reaches every instance still waiting: ORDER-2 and ORDER-3
    fire_timers(rest, timedelta(days=6), frozen_clock)
    assert admin.post("/signal", {"name": "orders_frozen"}).status_code == 204
    assert set(tasks(rest, frozen)) == {"hold"} and set(tasks(rest, late)) == {"hold"}
    error_of(admin.post("/message", {"messageName": "payment_received", "businessKey": "ORDER-2"}), 400,
             "RestException")  # the gateway took the signal: nothing waits for the payment any more
    again = start(rest, "c7_event_gateway", business_key="ORDER-4")
    fire_timers(rest, timedelta(days=7), frozen_clock)
    assert set(tasks(rest, again)) == {"remind"}


def test_a_timer_job_executed_before_its_due_date_fires_now_once(rest, frozen_clock):
    """Camunda's POST /job/{id}/execute runs a timer job at once, whatever its due date: the week's
    wait ends now, the history names the administrator who executed it and replays it, and the
    scheduler does not fire it again at its time."""
    deploy(rest, "event_gateway.bpmn")
    instance = start(rest, "c7_event_gateway", business_key="ORDER-1")
    admin = rest.as_("admin")
    [job] = admin.get("/job", processInstanceId=instance).get_json()
    assert job["dueDate"] == "2026-03-09T09:00:00.000+0800"
    fire_timers(rest, timedelta(hours=1), frozen_clock)
    assert set(tasks(rest, instance)) == set()  # not due: the scheduler leaves it
    response = admin.post(f"/job/{job['id']}/execute")
    assert response.status_code == 204, response.get_json()
    assert set(tasks(rest, instance)) == {"remind"}
    assert admin.get("/job", processInstanceId=instance).get_json() == []
    error_of(admin.post("/message", {"messageName": "payment_received", "businessKey": "ORDER-1"}), 400,
             "RestException")  # the gateway took the timer
    [entry] = admin.get("/history/user-operation", processInstanceId=instance, operationType="Execute").get_json()
    assert (entry["userId"], entry["entityType"], entry["jobId"], entry["timestamp"]) == (
        "admin", "Job", job["id"], "2026-03-02T10:00:00.000+0800")
    [gateway] = admin.get("/history/activity-instance", processInstanceId=instance,
                          activityId="Gateway_wait").get_json()
    assert gateway["endTime"] == "2026-03-02T10:00:00.000+0800"  # it waited until the job was executed
    fire_timers(rest, timedelta(days=8), frozen_clock)
    assert admin.get("/task/count", processInstanceId=instance).get_json() == {"count": 1}
    with rest.db.read() as session:
        assert audit.verify_timer_occurrences(session).ok


def test_a_timer_start_job_executed_before_its_due_date_starts_an_instance_now(rest, frozen_clock):
    """The occurrence it was waiting for starts now; the job then waits for the one after."""
    deploy(rest, "cron_start.bpmn")  # Monday 2026-03-02 09:00: the next workday 9:00 is Tuesday's
    admin = rest.as_("admin")
    [job] = admin.get("/job", processDefinitionKey="c7_cron_start").get_json()
    assert job["dueDate"] == "2026-03-03T09:00:00.000+0800"
    assert admin.post(f"/job/{job['id']}/execute").status_code == 204
    assert admin.get("/process-instance/count", processDefinitionKey="c7_cron_start").get_json() == {"count": 1}
    [waiting] = admin.get("/job", processDefinitionKey="c7_cron_start").get_json()
    assert (waiting["id"], waiting["dueDate"]) == (job["id"], "2026-03-04T09:00:00.000+0800")
    [entry] = admin.get("/history/user-operation", processDefinitionKey="c7_cron_start").get_json()
    assert (entry["userId"], entry["operationType"], entry["entityType"]) == ("admin", "Create", "ProcessInstance")
    fire_timers(rest, timedelta(days=1), frozen_clock)  # Tuesday 9:00 ran already
    assert admin.get("/process-instance/count", processDefinitionKey="c7_cron_start").get_json() == {"count": 1}
    fire_timers(rest, timedelta(days=1), frozen_clock)  # Wednesday's
    assert admin.get("/process-instance/count", processDefinitionKey="c7_cron_start").get_json() == {"count": 2}
    with rest.db.read() as session:
        assert audit.verify_timer_occurrences(session).ok


def test_sequential_multi_instance_subprocess_with_an_error_boundary(rest):
    deploy(rest, "mi_subprocess_error.bpmn")
    good = start(rest, "c7_mi_subprocess_error", items=["a", "b"])
    for item in ("a", "b"):
        assert work(rest, "check_item")["variables"]["item"]["value"] == item  # one after the other
    assert set(tasks(rest, good)) == {"all_checked"}
    bad = start(rest, "c7_mi_subprocess_error", items=["a", "b", "c"])
    work(rest, "check_item")
    [second] = fetch(rest, "check_item")
    assert second["variables"]["item"]["value"] == "b"
    response = rest.as_("admin").post(f"/external-task/{second['id']}/bpmnError", {
        "workerId": "python-worker", "errorCode": "ITEM_BAD", "errorMessage": "b is broken"})
    assert response.status_code == 204, response.get_json()
    assert set(tasks(rest, bad)) == {"fix_items"}
    assert fetch(rest, "check_item") == []  # the third item is never checked
    values = variables(rest, bad)
    assert (values["error_code"], values["error_message"]) == ("ITEM_BAD", "b is broken")


def test_interrupting_message_event_subprocess(rest):
    deploy(rest, "message_event_subprocess.bpmn")
    kept = start(rest, "c7_message_event_subprocess", business_key="O-1")
    cancelled = start(rest, "c7_message_event_subprocess", business_key="O-2")
    assert rest.as_("admin").post("/message", {"messageName": "cancel_order", "businessKey": "O-2"}).status_code == 204
    assert set(tasks(rest, cancelled)) == {"refund"}  # pack_order was interrupted
    assert set(tasks(rest, kept)) == {"pack_order"}
    complete(rest, tasks(rest, cancelled)["refund"], "finance")
    assert state(rest, cancelled) == "COMPLETED"


def test_call_activity_with_in_and_out_mappings(rest):
    deploy(rest, "call_activity.bpmn")
    admin = rest.as_("admin")
    child_definition = admin.get("/process-definition/key/c7_call_child").get_json()
    instance = start(rest, "c7_call_parent", amount=800)
    [child] = admin.get("/process-instance", superProcessInstance=instance).get_json()
    assert child["id"] != instance and child["definitionId"] == child_definition["id"]
    assert [i["id"] for i in admin.get("/process-instance", subProcessInstance=child["id"]).get_json()] == [instance]
    assert [i["id"] for i in admin.get("/process-instance", rootProcessInstances="true").get_json()] == [instance]
    [historic] = admin.get("/history/process-instance", superProcessInstanceId=instance).get_json()
    assert (historic["id"], historic["superProcessInstanceId"], historic["rootProcessInstanceId"],
            historic["processDefinitionKey"], historic["state"]) == (child["id"], instance, instance, "c7_call_child",
                                                                     "ACTIVE")
    assert variables(rest, child["id"]) == {"requested": 800, "limit": 1600}  # only camunda:in goes in
    [waiting] = admin.get(f"/process-instance/{child['id']}/activity-instances").get_json()["childActivityInstances"]
    assert (waiting["activityId"], waiting["processInstanceId"]) == ("decide", child["id"])
    [calling] = admin.get(f"/process-instance/{instance}/activity-instances").get_json()["childActivityInstances"]
    assert calling["activityId"] == "call_approval"
    assert tasks(rest, instance) == {}  # the caller's own tasks: the called process's are its instance's
    [decide] = rest.as_("finance").get("/task", taskDefinitionKey="decide").get_json()
    assert (decide["processInstanceId"], decide["processDefinitionId"]) == (child["id"], child_definition["id"])
    assert [t["id"] for t in admin.get("/task", processDefinitionKey="c7_call_child").get_json()] == [decide["id"]]
    form = rest.as_("finance").get(f"/task/{decide['id']}/form-variables").get_json()
    assert set(form) == {"approved", "approver_note"}
    answer = rest.as_("finance").post(f"/task/{decide['id']}/complete", {"withVariablesInReturn": True, "variables": {
        "approved": {"value": True}, "approver_note": {"value": "within budget"}}})
    assert {n: v["value"] for n, v in answer.get_json().items()} == {
        "requested": 800, "limit": 1600, "approved": True, "approver_note": "within budget"}  # the called instance's
    assert variables(rest, child["id"])["approved"] is True
    [waits] = admin.get("/event-subscription", processInstanceId=child["id"]).get_json()
    assert (waits["activityId"], waits["eventName"]) == ("approval_filed", "c7_approval_filed")
    # the message the called process waits for: only the group its catch event names may send it
    message = {"messageName": "c7_approval_filed", "processInstanceId": child["id"]}
    refused = rest.as_("office").post("/message", message)
    assert refused.status_code == 403, refused.get_json()
    assert rest.as_("drc").post("/message", message).status_code == 204
    assert state(rest, child["id"]) == "COMPLETED"
    assert admin.get("/process-instance", superProcessInstance=instance).get_json() == []
    [done] = admin.get("/history/activity-instance", processInstanceId=child["id"]).get_json()
    assert (done["activityId"], done["processDefinitionId"], done["rootProcessInstanceId"], done["assignee"]) == (
        "decide", child_definition["id"], instance, "finance")
    assert "decide" not in {a["activityId"] for a in admin.get("/history/activity-instance",
                                                               processInstanceId=instance).get_json()}
    values = variables(rest, instance)
    assert (values["approved"], values["note"], values["amount"]) == (True, "within budget", 800)
    assert "requested" not in values and "limit" not in values  # only camunda:out comes back
    complete(rest, tasks(rest, instance)["order_goods"], "office")
    assert state(rest, instance) == "COMPLETED"


def test_a_called_process_is_suspended_and_terminated_with_its_caller(rest):
    deploy(rest, "call_activity.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "c7_call_parent", amount=5)
    [child] = admin.get("/process-instance", superProcessInstance=instance).get_json()
    refused = admin.put(f"/process-instance/{child['id']}/suspended", {"suspended": True})
    assert f"runs in process instance {instance}" in error_of(refused, 400, "InvalidRequestException")
    assert admin.put(f"/process-instance/{instance}/suspended", {"suspended": True}).status_code == 204
    assert admin.get(f"/process-instance/{child['id']}").get_json()["suspended"] is True
    [decide] = admin.get("/task", processInstanceId=child["id"]).get_json()
    assert decide["suspended"] is True
    assert admin.put(f"/process-instance/{instance}/suspended", {"suspended": False}).status_code == 204
    assert admin.get(f"/process-instance/{child['id']}").get_json()["suspended"] is False
    assert admin.delete(f"/process-instance/{instance}", deleteReason="withdrawn").status_code == 204
    assert state(rest, child["id"]) == "EXTERNALLY_TERMINATED"
    assert admin.get("/task", processInstanceId=child["id"]).get_json() == []


def test_quartz_cron_timer_start_runs_on_workdays(rest, frozen_clock):
    deploy(rest, "cron_start.bpmn")  # Monday 2026-03-02 09:00
    admin = rest.as_("admin")
    fire_timers(rest, timedelta(days=2), frozen_clock)  # Tuesday 09:00 and Wednesday 09:00
    assert admin.get("/process-instance/count", processDefinitionKey="c7_cron_start").get_json() == {"count": 2}
    fire_timers(rest, timedelta(days=4, hours=1), frozen_clock)  # Thursday, Friday; not Saturday, Sunday
    assert admin.get("/process-instance/count", processDefinitionKey="c7_cron_start").get_json() == {"count": 4}


def test_a_java_create_listener_between_python_ones_keeps_what_the_first_set(rest):
    """The Java listener is an external task between the two Python listeners: what the first set
    of the task reaches the second and the task, once a worker has done the Java one."""
    second = '<camunda:taskListener event="create">\n          <camunda:script scriptFormat="python">task.'
    java = '<camunda:taskListener class="org.camunda.bpm.example.AssignmentAudit" event="create" />\n'
    assert modeler_deploy(rest.as_("admin"), "claim", _listener_variant(second, java + second)).status_code == 200
    instance = start(rest, "c7_python_task_listeners", amount=200, follow_up="2026-03-06")
    assert rest.as_("finance").get("/task", processInstanceId=instance).get_json() == []
    work(rest, "java:org.camunda.bpm.example.AssignmentAudit")
    [assess] = rest.as_("finance").get("/task", processInstanceId=instance).get_json()
    assert (assess["assignee"], assess["name"], assess["due"]) == (
        "finance", "Assess claim assess", "2026-03-04T09:00:00.000+0800")
    assert json.loads(variables(rest, instance)["second_saw"]) == ["finance", 50, 4]
