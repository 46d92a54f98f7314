"""The edges of /engine-rest: its OpenAPI document describes exactly the calls it serves, the
Modeler's well-known link leads to our admin pages, unknown calls answer in JSON; signals,
decisions and external tasks go to the engine."""
from __future__ import annotations

import json
import re

import pytest

from engine import services
from test_rest_helpers import BASE, error_of, modeler_deploy, rest  # noqa: F401


def described_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(BASE + "/") or rule.endpoint == "rest_api.unknown":
            continue
        path = re.sub(r"<(?:[^:>]+:)?[^>]+>", "{}", rule.rule[len(BASE):])
        routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_the_openapi_document_describes_every_call_and_nothing_else(rest):
    response = rest.anonymous.get("/openapi.json")  # public: no credentials needed
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.0") and document["servers"] == [{"url": "http://localhost/engine-rest"}]
    documented = {(method, re.sub(r"\{[^}]+\}", "{}", path))
                  for path, operations in document["paths"].items() for method in operations}
    assert documented == described_routes(rest.app)

    schemas = document["components"]["schemas"]
    text = response.get_data(as_text=True)
    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in schemas, name
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path, operations in document["paths"].items():
        for operation in operations.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"\{([^}]+)\}", path)), path


def test_the_well_known_webapps_lead_the_modeler_to_our_admin_pages(rest):
    response = rest.client.get("/.well-known/camunda-automation-platform/webapps")
    assert response.status_code == 200
    urls = response.get_json()
    assert set(urls) == {"adminUrl", "cockpitUrl", "tasklistUrl"}
    # the Modeler adds "/" and, for a URL ending in cockpit/, "default/#/": ours stay as they are
    cockpit = re.sub(r"/?$", "/", urls["cockpitUrl"])
    assert not cockpit.endswith("cockpit/")
    link = cockpit + "/repository/?deploymentsQuery=%5B%5D"
    assert link.startswith("http://localhost/admin/deployments#")


def test_unknown_calls_answer_in_json(rest):
    admin = rest.as_("admin")
    assert "/engine-rest/openapi.json" in error_of(admin.get("/no/such/call"), 404, "RestException")
    error_of(admin.delete("/deployment"), 404, "RestException")
    assert admin.get("/engine").get_json() == [{"name": "default"}]


def test_a_signal_reaches_the_waiting_instances_and_a_decision_is_evaluated(rest):
    from conftest import DIAGRAMS
    admin = rest.as_("admin")
    assert modeler_deploy(admin, "signals", ("signals.bpmn", (DIAGRAMS / "signals.bpmn").read_bytes()),
                          [("path_rules.dmn", (DIAGRAMS / "path_rules.dmn").read_bytes())]).status_code == 200
    error_of(admin.post("/signal", {"variables": {}}), 400, "InvalidRequestException")
    response = admin.post("/signal", {"name": "policy_changed",
                                      "variables": {"policy": {"value": "新规", "type": "String"}}})
    assert response.status_code == 204
    with rest.db.read() as session:
        assert [t.element_id for t in services.tasks(session, groups=["government"])] == ["review_policy"]
    evaluated = admin.post("/decision-definition/key/path_rules/evaluate", {"variables": {
        "in_plan": {"value": True, "type": "Boolean"}, "simple": {"value": False, "type": "Boolean"}}})
    assert evaluated.status_code == 200, evaluated.get_json()
    assert evaluated.get_json() == [{"path": {"value": "no_proposal", "type": "String", "valueInfo": {}}}]
    assert "not deployed" in error_of(admin.post("/decision-definition/key/nowhere/evaluate", {"variables": {}}),
                                      404, "InvalidRequestException")


BUDGET = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_budget" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="budget" name="budget" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="check" name="check" camunda:type="external" camunda:topic="budget-check">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="over" attachedToRef="check"><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:errorEventDefinition id="ErrDef_1" errorRef="Error_over" /></bpmn:boundaryEvent>
    <bpmn:userTask id="confirm" camunda:candidateGroups="finance"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="explain" camunda:candidateGroups="unit:edu"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_over"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="confirm" />
    <bpmn:sequenceFlow id="f3" sourceRef="over" targetRef="explain" />
    <bpmn:sequenceFlow id="f4" sourceRef="confirm" targetRef="end" />
    <bpmn:sequenceFlow id="f5" sourceRef="explain" targetRef="end_over" />
  </bpmn:process>
  <bpmn:error id="Error_over" name="over" errorCode="OVER_BUDGET" />
</bpmn:definitions>
"""
TOPICS = [{"topicName": "budget-check", "lockDuration": 60000, "variables": ["amount"]}]


def test_external_task_workers_fetch_lock_complete_and_report_errors(rest):
    worker = rest.as_("office")
    calls = [("/external-task/fetchAndLock", {"workerId": "w1", "topics": TOPICS}),
             ("/external-task/1/complete", {"workerId": "w1"}), ("/external-task/1/failure", {"workerId": "w1"}),
             ("/external-task/1/bpmnError", {"workerId": "w1", "errorCode": "X"}),
             ("/external-task/1/extendLock", {"workerId": "w1", "newDuration": 1000})]
    assert modeler_deploy(rest.as_("admin"), "budget", ("budget.bpmn", BUDGET)).status_code == 200
    for business_key in ("B-1", "B-2"):
        response = rest.as_("finance").post("/process-definition/key/budget/start", {
            "businessKey": business_key, "variables": {"amount": {"value": 1200, "type": "Long"}}})
        assert response.status_code == 200, response.get_json()
    error_of(rest.as_("auditor").post(*calls[0]), 403, "AuthorizationException")
    error_of(worker.post("/external-task/fetchAndLock", {"topics": TOPICS}), 400, "InvalidRequestException")

    locked = worker.post("/external-task/fetchAndLock", {"workerId": "w1", "maxTasks": 1, "topics": TOPICS})
    assert locked.status_code == 200, locked.get_json()
    [task] = locked.get_json()
    assert (task["topicName"], task["workerId"], task["activityId"], task["businessKey"],
            task["processDefinitionKey"]) == ("budget-check", "w1", "check", "B-1", "budget")
    assert task["variables"] == {"amount": {"type": "Long", "value": 1200, "valueInfo": {}}}
    assert task["lockExpirationTime"] == "2026-03-02T09:01:00.000+0800"
    path = f"/external-task/{task['id']}"
    assert worker.post(path + "/extendLock", {"workerId": "w1", "newDuration": 120000}).status_code == 204
    error_of(worker.post(path + "/complete", {"workerId": "w2"}), 409, "TaskNotReady")
    assert worker.post(path + "/complete", {"workerId": "w1", "variables": {
        "budget_ok": {"value": True, "type": "Boolean"}}}).status_code == 204
    assert [t["taskDefinitionKey"] for t in rest.as_("finance").get("/task").get_json()] == ["confirm"]

    [second] = worker.post("/external-task/fetchAndLock", {"workerId": "w1", "topics": TOPICS}).get_json()
    assert second["businessKey"] == "B-2"
    assert worker.post(f"/external-task/{second['id']}/bpmnError", {
        "workerId": "w1", "errorCode": "OVER_BUDGET", "errorMessage": "超预算"}).status_code == 204
    assert [t["taskDefinitionKey"] for t in rest.as_("edu").get("/task").get_json()] == ["explain"]
    error_of(worker.post("/external-task/99/failure", {"workerId": "w1", "errorMessage": "x"}), 404,
             "InvalidRequestException")


FEES_15 = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20230324/MODEL/" id="fees" name="Fees" namespace="http://dalad/fees">
  <inputData id="i_amount" name="contract_amount"><variable name="contract_amount" typeRef="number" /></inputData>
  <businessKnowledgeModel id="b_share" name="Share Of">
    <variable name="Share Of" />
    <encapsulatedLogic>
      <formalParameter name="amount" typeRef="number" /><formalParameter name="rate" typeRef="number" />
      <literalExpression><text>round half up(amount * rate, 2)</text></literalExpression>
    </encapsulatedLogic>
  </businessKnowledgeModel>
  <decision id="review_fee" name="Review Fee">
    <variable name="Review Fee" />
    <informationRequirement><requiredInput href="#i_amount" /></informationRequirement>
    <knowledgeRequirement><requiredKnowledge href="#b_share" /></knowledgeRequirement>
    <context>
      <contextEntry><variable name="base" /><literalExpression><text>Share Of(contract_amount, 0.015)</text></literalExpression></contextEntry>
      <contextEntry><variable name="capped" /><literalExpression><text>min(base, 50000)</text></literalExpression></contextEntry>
    </context>
  </decision>
  <decisionService id="fee_service" name="Fee Service">
    <variable name="Fee Service" />
    <outputDecision href="#review_fee" />
    <inputData href="#i_amount" />
  </decisionService>
</definitions>
""".encode()


def test_a_dmn_15_decision_and_decision_service_are_deployed_and_evaluated(rest):
    from conftest import DIAGRAMS
    admin = rest.as_("admin")
    assert modeler_deploy(admin, "fees", ("signals.bpmn", (DIAGRAMS / "signals.bpmn").read_bytes()),
                          [("fees.dmn", FEES_15)]).status_code == 200
    for key in ("review_fee", "fee_service"):
        evaluated = admin.post(f"/decision-definition/key/{key}/evaluate", {"variables": {
            "contract_amount": {"value": 4_000_000, "type": "Long"}}})
        assert evaluated.status_code == 200, evaluated.get_json()
        [row] = evaluated.get_json()
        [value] = row.values()
        assert value["type"] == "Json" and json.loads(value["value"]) == {"base": 60000, "capped": 50000}


RATES_15 = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20230324/MODEL/" id="rates" name="Rates" namespace="http://dalad/rates">
  <businessKnowledgeModel id="b_share" name="Share Of">
    <variable name="Share Of" />
    <encapsulatedLogic>
      <formalParameter name="amount" typeRef="number" /><formalParameter name="rate" typeRef="number" />
      <literalExpression><text>amount * rate</text></literalExpression>
    </encapsulatedLogic>
  </businessKnowledgeModel>
</definitions>
"""

AUDIT_FEE_15 = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20230324/MODEL/" id="audit" name="Audit" namespace="http://dalad/audit">
  <import name="rates" namespace="http://dalad/rates" importType="https://www.omg.org/spec/DMN/20230324/MODEL/" />
  <decision id="audit_fee" name="Audit Fee">
    <variable name="Audit Fee" typeRef="number" />
    <literalExpression><text>rates.Share Of(contract_amount, 0.01)</text></literalExpression>
  </decision>
</definitions>
"""


def test_a_dmn_file_imports_another_deployed_with_it(rest):
    from conftest import DIAGRAMS
    admin = rest.as_("admin")
    response = modeler_deploy(admin, "audit", ("signals.bpmn", (DIAGRAMS / "signals.bpmn").read_bytes()),
                              [("audit.dmn", AUDIT_FEE_15)])
    assert "no DMN file of namespace 'http://dalad/rates' is deployed with this one" in str(response.get_json())
    assert modeler_deploy(admin, "audit", ("signals.bpmn", (DIAGRAMS / "signals.bpmn").read_bytes()),
                          [("audit.dmn", AUDIT_FEE_15), ("rates.dmn", RATES_15)]).status_code == 200
    evaluated = admin.post("/decision-definition/key/audit_fee/evaluate", {"variables": {
        "contract_amount": {"value": 300_000, "type": "Long"}}})
    assert evaluated.status_code == 200, evaluated.get_json()
    assert evaluated.get_json() == [{"Audit Fee": {"value": 3000, "type": "Integer", "valueInfo": {}}}]
