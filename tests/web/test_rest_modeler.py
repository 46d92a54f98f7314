"""Camunda Modeler 5 (Deploy → Camunda 7) against /engine-rest: its requests replayed as it builds
them, and the answers it reads — connection check, version, deploy, redeploy unchanged and changed,
refused diagram, wrong password, non-admin — then its Start Instance call."""
from __future__ import annotations

import json
import time

from test_rest_helpers import BASE, BOUNDARY, diagram, error_of, modeler_deploy, modeler_form, rest  # noqa: F401

REVIEW = diagram("review.bpmn")
REVIEW_CHANGED = ("review.bpmn", REVIEW[1].replace('name="项目审查"'.encode(), 'name="项目审查（修订）"'.encode()))
REVIEW_BROKEN = ("review.bpmn", REVIEW[1].replace(b"${amount &gt;= 1000}", b"${amount &gt;=}"))
DMN = ("approval_path.dmn", """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_path" name="审批路径"
             namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="approval_path" name="审批路径">
    <decisionTable id="DecisionTable_1">
      <input id="Input_1" label="规划内"><inputExpression id="InputExpression_1" typeRef="boolean"><text>in_plan</text></inputExpression></input>
      <output id="Output_1" name="path" typeRef="string" />
      <rule id="Rule_1"><inputEntry id="InputEntry_1"><text>true</text></inputEntry><outputEntry id="OutputEntry_1"><text>"no_proposal"</text></outputEntry></rule>
      <rule id="Rule_2"><inputEntry id="InputEntry_2"><text>false</text></inputEntry><outputEntry id="OutputEntry_2"><text>"full"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
""".encode())
FORM = ("submit_form.form", json.dumps({"id": "submit_form", "type": "default", "components": [
    {"key": "amount", "label": "投资概算", "type": "number"}]}, ensure_ascii=False).encode())

DEFINITION_FIELDS = {"id", "key", "name", "version", "resource", "deploymentId", "tenantId", "versionTag",
                     "suspended"}


def test_the_modeler_sequence_connect_version_deploy_redeploy_refuse(rest):
    modeler = rest.basic("admin")

    # 1. while the URL is typed: no credentials yet, so 401 makes the Modeler ask for them
    check = rest.anonymous.get("/deployment", maxResults=0)
    error_of(check, 401, "AuthenticationException")
    assert check.headers["WWW-Authenticate"] == 'Basic realm="dalad"'
    connected = modeler.get("/deployment", maxResults=0)
    assert connected.status_code == 200 and connected.get_json() == []

    # 2. the version
    assert modeler.get("/version").get_json() == {"version": "7.20.0"}

    # 3-4. deploy: id and deployedProcessDefinitions keyed by definition id, other kinds null
    began = time.monotonic()
    first = modeler_deploy(modeler, "项目审查", REVIEW)
    assert time.monotonic() - began < 5  # the Modeler gives up after 5 s
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert isinstance(body["id"], str) and body["name"] == "项目审查" and body["source"] == "Camunda Modeler"
    assert body["deploymentTime"] == "2026-03-02T09:00:00.000+0800" and body["tenantId"] is None
    [(definition_id, definition)] = body["deployedProcessDefinitions"].items()
    assert DEFINITION_FIELDS <= set(definition)
    assert definition["id"] == definition_id and definition["deploymentId"] == body["id"]
    assert (definition["key"], definition["name"], definition["version"], definition["resource"],
            definition["suspended"]) == ("review", "项目审查", 1, "review.bpmn", False)
    assert body["deployedDecisionDefinitions"] is None and body["deployedCaseDefinitions"] is None
    assert body["deployedDecisionRequirementsDefinitions"] is None

    # redeploy unchanged: no new version, no new deployment (duplicate filtering)
    again = modeler_deploy(modeler, "项目审查", REVIEW)
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"] and again.get_json()["deployedProcessDefinitions"] is None
    assert [d["version"] for d in modeler.get("/process-definition", key="review").get_json()] == [1]
    assert modeler.get("/deployment/count").get_json() == {"count": 1}

    # redeploy changed: version 2
    changed = modeler_deploy(modeler, "项目审查", REVIEW_CHANGED)
    assert changed.status_code == 200
    [definition2] = changed.get_json()["deployedProcessDefinitions"].values()
    assert (definition2["version"], definition2["name"]) == (2, "项目审查（修订）")
    assert changed.get_json()["id"] != body["id"]
    latest = modeler.get("/process-definition", key="review", latestVersion="true").get_json()
    assert [d["id"] for d in latest] == [definition2["id"]]

    # 5. a broken diagram: Camunda's ParseException, every problem located; nothing stored
    broken = modeler_deploy(modeler, "项目审查", REVIEW_BROKEN)
    message = error_of(broken, 400, "ParseException")
    assert message.startswith("ENGINE-09005 Could not parse BPMN process.")
    [problem, *_] = broken.get_json()["details"]["review.bpmn"]["errors"]
    assert set(problem) == {"message", "line", "column", "mainElementId", "elementIds"}
    assert problem["mainElementId"] == "amount_gateway" and problem["elementIds"] == ["amount_gateway"]
    assert problem["line"] == REVIEW_BROKEN[1].decode().splitlines().index(
        next(line for line in REVIEW_BROKEN[1].decode().splitlines() if 'id="amount_gateway"' in line)) + 1
    assert broken.get_json()["details"]["review.bpmn"]["warnings"] == []
    assert modeler.get("/deployment/count").get_json() == {"count": 2}

    # wrong password: 401; a user without the admin role: 403
    error_of(modeler_deploy(rest.basic("admin", "not the password"), "项目审查", REVIEW_CHANGED), 401,
             "AuthenticationException")
    refused = modeler_deploy(rest.basic("office"), "项目审查", REVIEW_CHANGED)
    assert "admin" in error_of(refused, 403, "AuthorizationException")
    assert refused.get_json()["userId"] == "office"
    error_of(modeler_deploy(rest.as_("auditor"), "项目审查", REVIEW_CHANGED), 403, "AuthorizationException")
    assert modeler.get("/deployment/count").get_json() == {"count": 2}


def test_the_modeler_starts_an_instance_of_what_it_deployed(rest):
    modeler = rest.basic("admin")
    [definition] = modeler_deploy(modeler, "项目审查", REVIEW).get_json()["deployedProcessDefinitions"].values()
    started = modeler.post(f"/process-definition/{definition['id']}/start", {
        "businessKey": "P-2026-001", "variables": {"unit": {"value": "edu", "type": "String"}}})
    assert started.status_code == 200, started.get_json()
    instance = started.get_json()
    assert (instance["definitionId"], instance["businessKey"], instance["ended"], instance["suspended"]) == (
        definition["id"], "P-2026-001", False, False)
    assert instance["links"][0]["href"].endswith(f"{BASE}/process-instance/{instance['id']}")
    [task] = rest.as_("edu").get("/task", processInstanceId=instance["id"]).get_json()
    assert task["taskDefinitionKey"] == "submit"


def test_attachments_deploy_with_the_diagram_and_are_kept_byte_for_byte(rest):
    response = modeler_deploy(rest.as_("admin"), "项目审查", REVIEW, [FORM], tenant_id="dalad")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["tenantId"] == "dalad" and body["deployedDecisionDefinitions"] is None
    [definition] = body["deployedProcessDefinitions"].values()
    assert definition["tenantId"] == "dalad"
    for key in ("P-1", "P-2"):  # the instance names its deployment's tenant, also once it is known
        started = rest.as_("admin").post(f"/process-definition/{definition['id']}/start", {
            "businessKey": key, "variables": {"unit": {"value": "edu", "type": "String"}}})
        assert started.status_code == 200 and started.get_json()["tenantId"] == "dalad", started.get_json()
        assert rest.as_("admin").get(f"/process-instance/{started.get_json()['id']}").get_json()["tenantId"] == "dalad"
    resources = rest.as_("admin").get(f"/deployment/{body['id']}/resources").get_json()
    assert sorted(r["name"] for r in resources) == ["review.bpmn", "submit_form.form"]
    form = next(r for r in resources if r["name"] == "submit_form.form")
    data = rest.as_("office").get(f"/deployment/{body['id']}/resources/{form['id']}/data")
    assert data.status_code == 200 and data.data == FORM[1]
    for wrong in ("9" * 20, str(2**31), "²"):  # past PostgreSQL's integer, or a digit int() refuses: no resource
        missing = rest.as_("office").get(f"/deployment/{body['id']}/resources/{wrong}/data")
        assert missing.status_code == 404 and f"has no resource {wrong}" in missing.get_json()["message"], wrong


def test_a_decision_table_attached_is_listed_in_deployed_decision_definitions(rest):
    response = modeler_deploy(rest.as_("admin"), "项目审查", REVIEW, [DMN])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    [decision] = body["deployedDecisionDefinitions"].values()
    assert decision["id"] in body["deployedDecisionDefinitions"]
    assert (decision["key"], decision["name"], decision["version"], decision["resource"]) == (
        "approval_path", "审批路径", 1, "approval_path.dmn")


def test_deploy_changed_only_lists_and_stores_only_what_changed(rest):
    admin = rest.as_("admin")
    first = modeler_deploy(admin, "bundle", REVIEW, [diagram("mailbox.bpmn")], changed_only=True)
    assert sorted(d["key"] for d in first.get_json()["deployedProcessDefinitions"].values()) == ["mailbox", "review"]
    second = modeler_deploy(admin, "bundle", REVIEW_CHANGED, [diagram("mailbox.bpmn")], changed_only=True)
    body = second.get_json()
    assert [(d["key"], d["version"]) for d in body["deployedProcessDefinitions"].values()] == [("review", 2)]
    resources = admin.get(f"/deployment/{body['id']}/resources").get_json()
    assert [r["name"] for r in resources] == ["review.bpmn"]
    third = modeler_deploy(admin, "bundle", REVIEW_CHANGED, [diagram("mailbox.bpmn")], changed_only=True)
    assert third.get_json()["id"] == body["id"] and third.get_json()["deployedProcessDefinitions"] is None


def test_without_duplicate_filtering_an_unchanged_bundle_is_deployed_again_as_new_versions(rest):
    admin = rest.as_("admin")
    modeler_deploy(admin, "项目审查", REVIEW)
    # curl -F deployment-name=... -F review.bpmn=@review.bpmn: no filtering asked for
    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="deployment-name"\r\n\r\n项目审查\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; filename="review.bpmn"\r\n'
            f'Content-Type: application/octet-stream\r\n\r\n').encode() + REVIEW[1] + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = admin.post("/deployment/create", data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 200
    assert [d["version"] for d in response.get_json()["deployedProcessDefinitions"].values()] == [2]  # as Camunda
    assert admin.get("/deployment/count").get_json() == {"count": 2}
    assert [d["version"] for d in admin.get("/process-definition", key="review").get_json()] == [1, 2]


def test_duplicate_filtering_deploys_a_changed_bundle_whole_and_changed_only_only_what_changed(rest):
    admin = rest.as_("admin")
    modeler_deploy(admin, "pair", REVIEW, [diagram("mailbox.bpmn")])
    whole = modeler_deploy(admin, "pair", REVIEW_CHANGED, [diagram("mailbox.bpmn")]).get_json()
    assert sorted((d["key"], d["version"]) for d in whole["deployedProcessDefinitions"].values()) == [
        ("mailbox", 2), ("review", 2)]  # one file changed: Camunda deploys the bundle anew
    again = modeler_deploy(admin, "pair", REVIEW_CHANGED, [diagram("mailbox.bpmn")]).get_json()
    assert again["id"] == whole["id"] and again["deployedProcessDefinitions"] is None
    only = modeler_deploy(admin, "pair", REVIEW, [diagram("mailbox.bpmn")], changed_only=True).get_json()
    assert [(d["key"], d["version"]) for d in only["deployedProcessDefinitions"].values()] == [("review", 3)]
    other_name = modeler_deploy(admin, "another", REVIEW, [diagram("mailbox.bpmn")]).get_json()
    assert other_name["id"] != only["id"]  # duplicates are looked for among deployments of the same name


def test_a_deployment_needs_a_multipart_form_with_files(rest):
    admin = rest.as_("admin")
    error_of(admin.post("/deployment/create", {"deployment-name": "x"}), 400, "InvalidRequestException")
    body = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="deployment-name"\r\n\r\nx\r\n--{BOUNDARY}--\r\n'
    message = error_of(admin.post("/deployment/create", data=body.encode(),
                                  content_type=f"multipart/form-data; boundary={BOUNDARY}"),
                       400, "InvalidRequestException")
    assert message == "No deployment resources contained in the form upload."
    form, content_type = modeler_form("x", REVIEW)
    error_of(admin.post("/deployment/create", data=form.replace(b'"enable-duplicate-filtering"\r\n\r\ntrue',
                                                                 b'"enable-duplicate-filtering"\r\n\r\nmaybe'),
                        content_type=content_type), 400, "InvalidRequestException")


def test_deployments_are_listed_counted_and_read_by_any_official(rest):
    admin = rest.as_("admin")
    modeler_deploy(admin, "b-review", REVIEW)
    modeler_deploy(admin, "a-mailbox", diagram("mailbox.bpmn"))
    office = rest.as_("office")
    assert [d["name"] for d in office.get("/deployment", sortBy="name", sortOrder="desc").get_json()] == [
        "b-review", "a-mailbox"]
    assert [d["name"] for d in office.get("/deployment", nameLike="b-%").get_json()] == ["b-review"]
    assert office.get("/deployment/count", source="Camunda Modeler").get_json() == {"count": 2}
    assert [d["name"] for d in office.get("/deployment", firstResult=1, maxResults=5).get_json()] == ["a-mailbox"]
    listed = office.get("/deployment", name="a-mailbox").get_json()[0]["id"]
    one = office.get(f"/deployment/{listed}").get_json()
    assert one["id"] == listed and one["links"][0]["rel"] == "self"
    error_of(office.get("/deployment/1"), 404, "InvalidRequestException")  # the integer key inside is no REST id
    error_of(office.get("/deployment/abc"), 404, "InvalidRequestException")
    error_of(office.get("/deployment", maxResults="many"), 400, "InvalidRequestException")


def test_the_called_process_deployed_alone_from_the_modeler_is_what_waiting_callers_call(rest):
    """The Modeler deploys the one diagram open: a new stage_review is the version that a
    prepare_then_review started before it calls (binding 'latest', Camunda's default, is resolved
    when the call starts); no new version of the caller is made."""
    stage = diagram("stage_review.bpmn")
    first = modeler_deploy(rest.as_("admin"), "审查", diagram("prepare_then_review.bpmn"), [stage])
    assert first.status_code == 200, first.get_json()
    started = rest.as_("admin").post("/process-definition/key/prepare_then_review/start", {
        "variables": {"stage": {"value": "可研", "type": "String"}}}).get_json()
    changed = (stage[0], stage[1].replace('name="审批${stage}"'.encode(), 'name="复核${stage}"'.encode()))
    response = modeler_deploy(rest.as_("admin"), "审查", changed)
    assert response.status_code == 200, response.get_json()
    deployed = {(d["key"], d["version"]) for d in response.get_json()["deployedProcessDefinitions"].values()}
    assert deployed == {("stage_review", 2)}
    [prepare] = rest.as_("drc").get("/task", processInstanceId=started["id"]).get_json()
    assert rest.as_("drc").post(f"/task/{prepare['id']}/complete", {}).status_code == 204
    [review] = rest.as_("drc").get("/task", processDefinitionKey="stage_review").get_json()
    assert review["name"] == "复核可研"
    called = rest.as_("admin").get(f"/process-instance/{review['processInstanceId']}").get_json()
    assert called["definitionId"] == next(d["id"] for d in response.get_json()["deployedProcessDefinitions"].values()
                                          if d["key"] == "stage_review")
    assert rest.as_("admin").get("/process-instance", superProcessInstance=started["id"]).get_json()[0]["id"] == \
        review["processInstanceId"]


def test_a_call_pinned_to_a_version_from_the_modeler_runs_that_version(rest):
    """calledElementBinding 'version' (Camunda's): the caller deployed from the Modeler calls
    stage_review version 1 though version 2 is the latest."""
    stage = diagram("stage_review.bpmn")
    for content in (stage[1], stage[1].replace('name="审批${stage}"'.encode(), 'name="复核${stage}"'.encode())):
        assert modeler_deploy(rest.as_("admin"), "审查", (stage[0], content)).status_code == 200
    name, caller = diagram("prepare_then_review.bpmn")
    pinned = caller.replace(b'calledElement="stage_review"', b'calledElement="stage_review" '
                            b'camunda:calledElementBinding="version" camunda:calledElementVersion="1"')
    response = modeler_deploy(rest.as_("admin"), "审查", (name, pinned))
    assert response.status_code == 200, response.get_json()
    started = rest.as_("admin").post("/process-definition/key/prepare_then_review/start", {
        "variables": {"stage": {"value": "可研", "type": "String"}}}).get_json()
    [prepare] = rest.as_("drc").get("/task", processInstanceId=started["id"]).get_json()
    assert rest.as_("drc").post(f"/task/{prepare['id']}/complete", {}).status_code == 204
    [review] = rest.as_("drc").get("/task", processDefinitionKey="stage_review").get_json()
    called = rest.as_("admin").get(f"/process-instance/{review['processInstanceId']}").get_json()
    [first] = rest.as_("admin").get("/process-definition", key="stage_review", version=1).get_json()
    assert (review["name"], called["definitionId"]) == ("审批可研", first["id"])
