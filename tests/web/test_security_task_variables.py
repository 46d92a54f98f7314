"""Variables written through an open task (PUT /engine-rest/task/{id}/variables/{name}, POST
/task/{id}/variables, then /complete), tried as an official would to write what the task's form
does not give them: a task without a form, name variants, typed values, a task of a called process.

called_form.bpmn: the office records its `opinion` in the project (office_then_unit), then a
called process (unit_supplement) asks the unit for an `opinion` of its own, which the call maps
back as `unit_opinion`. The unit's task writes its own instance's `opinion`, never the office's."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import replay
from engine.models import ProcessInstance

from test_rest_helpers import deployed, error_of, rest, start  # noqa: F401


def _row(rest, rest_id: str) -> ProcessInstance:
    with rest.db.read() as session:
        return session.scalars(select(ProcessInstance).where(ProcessInstance.rest_id == rest_id)).one()


def test_a_called_process_task_writes_its_own_instance_not_the_callers_decision(rest):
    deployed(rest, "called_form.bpmn")
    project = start(rest, "office_then_unit", user="admin", unit="edu")
    office, edu = rest.as_("office"), rest.as_("edu")
    [decide] = office.get("/task", processInstanceId=project["id"]).get_json()
    assert office.post(f"/task/{decide['id']}/complete", {"variables": {"opinion": {"value": "同意"}}}).status_code == 204
    [fill] = edu.get("/task").get_json()
    assert fill["processInstanceId"] != project["id"]  # the called instance's task

    assert edu.put(f"/task/{fill['id']}/variables/opinion", {"value": "单位改写"}).status_code == 204
    assert edu.get(f"/task/{fill['id']}/variables/opinion").get_json()["value"] == "单位改写"
    assert _row(rest, fill["processInstanceId"]).variables["opinion"] == "单位改写"
    assert edu.post(f"/task/{fill['id']}/variables", {"modifications": {
        "opinion": {"value": "单位意见"}}}).status_code == 204
    assert edu.post(f"/task/{fill['id']}/complete", {"variables": {}}).status_code == 204

    done = _row(rest, project["id"])
    assert done.status == "completed"
    assert done.variables["opinion"] == "同意"  # the office's decision, as the office made it
    assert done.variables["unit_opinion"] == "单位意见"
    with rest.db.read() as session:  # the history replays the change in the called instance alone
        chain, report = replay.verify(session, done.id)
    assert chain.ok and report.ok, report


def _values(rest, rest_id: str) -> dict:
    return dict(_row(rest, rest_id).variables)


def test_a_task_without_a_form_takes_any_variable_as_camunda_does(rest):
    """review.bpmn's office_review declares no form: as in Camunda 7, its completion and its task
    variables take what a client sends (a custom task list of a Camunda team sends its own), and the
    values reach the instance. (Every user task of the 办法's diagrams in bpmn/ declares a form, and
    those take only their fields: the tests above.)"""
    deployed(rest, "review.bpmn")
    instance = start(rest, "review", unit="edu")
    edu, office = rest.as_("edu"), rest.as_("office")
    [submit] = edu.get("/task", processInstanceId=instance["id"]).get_json()
    assert edu.post(f"/task/{submit['id']}/complete", {"variables": {"amount": {"value": 500}}}).status_code == 204
    [review] = office.get("/task", processInstanceId=instance["id"], taskDefinitionKey="office_review").get_json()
    assert office.put(f"/task/{review['id']}/variables/note", {"value": "急", "type": "String"}).status_code == 204
    assert office.post(f"/task/{review['id']}/variables", {"modifications": {
        "checked": {"value": {"by": "office"}, "type": "Json"}}}).status_code == 204
    assert office.post(f"/task/{review['id']}/complete", {"variables": {
        "verdict": {"value": "approved"}, "score": {"value": 7, "type": "Long"}}}).status_code == 204
    values = _values(rest, instance["id"])
    assert (values["note"], values["verdict"], values["score"], values["amount"]) == ("急", "approved", 7, 500)


_WORKER_PROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_check" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="checked" isExecutable="true">
    <bpmn:extensionElements><camunda:properties>
      <camunda:property name="dalad:protectedVariables" value="approved_budget" />
    </camunda:properties></bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="check" camunda:type="external" camunda:topic="check">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:userTask id="review" camunda:candidateGroups="unit:${unit}">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="review" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("call, body", [("complete", {}), ("bpmnError", {"errorCode": "NOPE"})])
def test_a_worker_may_not_set_a_projects_protected_variables(rest, call, body):
    # any official may work on external tasks (workers are users): one of another bureau took the
    # unit's project over by completing its check with unit=finance, or rebudgeted it (the process
    # protects approved_budget by name; a worker may still set budget_ok and the like)
    from test_rest_helpers import modeler_deploy
    assert modeler_deploy(rest.as_("admin"), "checked", ("checked.bpmn", _WORKER_PROCESS)).status_code == 200
    instance = start(rest, "checked", user="admin", unit="edu", approved_budget=1000)
    worker = rest.as_("finance")
    [task] = worker.post("/external-task/fetchAndLock", {"workerId": "w", "maxTasks": 1, "topics": [
        {"topicName": "check", "lockDuration": 60000}]}).get_json()
    for name, value in (("unit", "finance"), ("approved_budget", 9_999_999)):
        response = worker.post(f"/external-task/{task['id']}/{call}", {
            "workerId": "w", **body, "variables": {name: {"value": value}}})
        assert response.status_code == 403 and name in response.get_json()["message"], response.get_json()
    assert rest.as_("admin").get(f"/process-instance/{instance['id']}/variables/unit").get_json()["value"] == "edu"
    response = worker.post(f"/external-task/{task['id']}/complete", {"workerId": "w", "variables": {
        "budget_ok": {"value": True}}})
    assert response.status_code == 204, response.get_json()
    assert [t["taskDefinitionKey"] for t in rest.as_("edu").get("/task", processInstanceId=instance["id"]).get_json()] \
        == ["review"]


_NAMED_TASK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_named" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="named" isExecutable="true" camunda:candidateStarterGroups="unit:edu">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="审核：${{title}}" {attributes}>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _named(rest, attributes: str):
    from test_rest_helpers import modeler_deploy
    xml = _NAMED_TASK.format(attributes=attributes).encode()
    assert modeler_deploy(rest.as_("admin"), "named", ("named.bpmn", xml)).status_code == 200


def test_a_task_name_built_of_a_long_value_is_cut_to_its_column(rest):
    # the value an official typed made a name past user_task.name's 300 characters: PostgreSQL
    # refused the row (a 500 at the start), SQLite kept it whole
    _named(rest, 'camunda:candidateGroups="office"')
    instance = start(rest, "named", title="很长的项目名称" * 60)
    [task] = rest.as_("office").get("/task", processInstanceId=instance["id"]).get_json()
    assert len(task["name"]) == 300 and task["name"].startswith("审核：很长的项目名称") and task["name"].endswith("…")


@pytest.mark.parametrize("attributes", ['camunda:assignee="${title}"', 'camunda:candidateGroups="${title}"',
                                        'camunda:candidateUsers="${title}"'])
def test_an_assignee_or_candidate_longer_than_its_column_fails_naming_the_task(rest, attributes):
    _named(rest, attributes)
    response = rest.as_("edu").post("/process-definition/key/named/start", {
        "variables": {"title": {"value": "x" * 250}}})
    message = error_of(response, 422, "ExecutionError")
    assert "element 'review'" in message and "is longer than" in message, message
    assert rest.as_("admin").get("/process-instance/count").get_json() == {"count": 0}
