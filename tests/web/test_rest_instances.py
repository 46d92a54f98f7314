"""Process definitions, starting, process instances and messages through /engine-rest: who may see
and change what, and Camunda's shapes for each answer."""
from __future__ import annotations

import pytest

from test_rest_helpers import deployed, diagram, error_of, modeler_deploy, rest, start  # noqa: F401

INSTANCE_FIELDS = {"links", "id", "definitionId", "businessKey", "caseInstanceId", "ended", "suspended", "tenantId"}


@pytest.fixture
def review(rest):
    rest.definitions = deployed(rest, "review.bpmn", "mailbox.bpmn", "intake.bpmn")
    return rest


def the_task(rest, instance: dict, user: str) -> dict:
    [task] = rest.as_(user).get("/task", processInstanceId=instance["id"]).get_json()
    return task


def finish_small_review(rest, instance: dict) -> None:
    rest.as_("edu").post(f"/task/{the_task(rest, instance, 'edu')['id']}/complete",
                         {"variables": {"amount": {"value": 500, "type": "Long"}}})
    rest.as_("office").post(f"/task/{the_task(rest, instance, 'office')['id']}/complete", {})


# --- definitions and starting ------------------------------------------------------------------

def test_definitions_are_listed_by_key_and_latest_version_and_read_as_xml(review):
    office = review.as_("office")
    keys = [d["key"] for d in office.get("/process-definition", sortBy="key", sortOrder="asc").get_json()]
    assert keys == ["intake", "mailbox", "review"]
    assert office.get("/process-definition/count", keyLike="ma%").get_json() == {"count": 1}
    definition = office.get("/process-definition/key/review").get_json()
    assert definition == review.definitions["review"]
    assert office.get(f"/process-definition/{definition['id']}").get_json() == definition
    xml = office.get(f"/process-definition/{definition['id']}/xml").get_json()
    assert xml["id"] == definition["id"] and xml["bpmn20Xml"] == diagram("review.bpmn")[1].decode()
    assert office.get("/process-definition/key/review/xml").get_json() == xml
    assert "deployed processes" not in error_of(  # the keys are told to administrators only
        office.get("/process-definition/key/nothing"), 404, "InvalidRequestException")
    assert "deployed processes: intake, mailbox, review" in error_of(
        review.as_("admin").get("/process-definition/key/nothing"), 404, "InvalidRequestException")
    error_of(office.get("/process-definition/x:1:2"), 404, "InvalidRequestException")


def test_start_by_key_takes_camunda_variables_and_can_return_them(review):
    response = review.as_("edu").post("/process-definition/key/review/start", {
        "businessKey": "P-9", "withVariablesInReturn": True,
        "variables": {"unit": {"value": "edu", "type": "String"}, "urgent": {"value": "true", "type": "Boolean"},
                      "budget": {"value": "12000", "type": "Long"}, "extra": {"value": '{"a": [1]}', "type": "Json"}}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert INSTANCE_FIELDS | {"variables"} == set(body)
    assert body["businessKey"] == "P-9" and body["definitionId"] == review.definitions["review"]["id"]
    assert body["variables"]["budget"] == {"type": "Long", "value": 12000, "valueInfo": {}}  # a Long stays Long
    assert body["variables"]["urgent"]["value"] is True
    assert body["variables"]["extra"] == {"type": "Json", "value": '{"a": [1]}', "valueInfo": {}}
    assert body["variables"]["initiator"]["value"] == "edu"  # who started it, as authenticated


def test_starting_is_refused_to_auditors_and_outside_the_starter_groups(review):
    error_of(review.as_("auditor").post("/process-definition/key/review/start", {}), 403, "AuthorizationException")
    name, content = diagram("review.bpmn")
    restricted = content.replace(b'isExecutable="true"', b'isExecutable="true" camunda:candidateStarterGroups="office"')
    modeler_deploy(review.as_("admin"), "restricted", (name, restricted))
    message = error_of(review.as_("edu").post("/process-definition/key/review/start",
                                              {"variables": {"unit": {"value": "edu"}}}), 403, "AuthorizationException")
    assert "office" in message
    assert review.as_("office").post("/process-definition/key/review/start",
                                     {"variables": {"unit": {"value": "edu"}}}).status_code == 200
    assert review.as_("admin").post("/process-definition/key/review/start",
                                    {"variables": {"unit": {"value": "edu"}}}).status_code == 200
    # the first version had no starter groups
    first = review.definitions["review"]["id"]
    assert review.as_("edu").post(f"/process-definition/{first}/start",
                                  {"variables": {"unit": {"value": "edu"}}}).status_code == 200


def test_malformed_starts_are_400(review):
    edu = review.as_("edu")
    error_of(edu.post("/process-definition/key/review/start", {"businessKey": 5}), 400, "InvalidRequestException")
    error_of(edu.post("/process-definition/key/review/start", {"startInstructions": [{"type": "startBeforeActivity"}]}),
             400, "InvalidRequestException")
    error_of(edu.post("/process-definition/key/review/start", data="[1]", content_type="application/json"),
             400, "InvalidRequestException")
    error_of(edu.post("/process-definition/key/review/start", {"variables": {"1x": {"value": 1}}}),
             400, "InvalidRequestException")
    error_of(edu.post("/process-definition/key/review/start", {"variables": {"unit": {"value": 1, "type": "Xml"}}}),
             400, "InvalidRequestException")


@pytest.mark.parametrize("flag", [[None, None], {}, "yes", 0])
def test_with_variables_in_return_of_the_wrong_kind_starts_nothing(review, flag):
    """A list or text was read as true, an object or 0 as false: the instance started either way
    (found by tests/fuzz on real definitions)."""
    message = error_of(review.as_("edu").post("/process-definition/key/review/start", {
        "variables": {"unit": {"value": "edu"}}, "withVariablesInReturn": flag}), 400, "InvalidRequestException")
    assert message.startswith("withVariablesInReturn must be true or false")
    assert review.as_("admin").get("/process-instance/count").get_json() == {"count": 0}


# --- instances ---------------------------------------------------------------------------------

def test_instances_are_listed_for_those_involved(review):
    first = start(review, "review", business_key="P-1", unit="edu")
    second = start(review, "review", user="office", business_key="P-2", unit="health")
    assert [i["id"] for i in review.as_("edu").get("/process-instance").get_json()] == [first["id"]]
    assert [i["id"] for i in review.as_("office").get("/process-instance").get_json()] == [second["id"]]
    assert [i["id"] for i in review.as_("auditor").get("/process-instance").get_json()] == [first["id"], second["id"]]
    assert review.as_("admin").get("/process-instance/count", businessKey="P-2").get_json() == {"count": 1}
    assert review.as_("admin").get("/process-instance", processDefinitionKey="mailbox").get_json() == []
    assert review.as_("drc").get("/process-instance").get_json() == []
    one = review.as_("edu").get(f"/process-instance/{first['id']}").get_json()
    assert set(one) == INSTANCE_FIELDS and (one["businessKey"], one["ended"], one["suspended"]) == ("P-1", False, False)
    error_of(review.as_("drc").get(f"/process-instance/{first['id']}"), 403, "AuthorizationException")
    error_of(review.as_("edu").get("/process-instance/999"), 404, "InvalidRequestException")

    finish_small_review(review, first)
    assert review.as_("auditor").get("/process-instance/count").get_json() == {"count": 1}
    assert "/history/process-instance/" in error_of(review.as_("edu").get(f"/process-instance/{first['id']}"),
                                                    404, "InvalidRequestException")


def test_variables_are_read_by_the_involved_and_changed_by_administrators(review):
    instance = start(review, "review", unit="edu", note="急")
    path = f"/process-instance/{instance['id']}/variables"
    values = review.as_("edu").get(path).get_json()
    assert values["unit"] == {"type": "String", "value": "edu", "valueInfo": {}}
    assert review.as_("edu").get(path + "/note").get_json() == {"type": "String", "value": "急", "valueInfo": {}}
    error_of(review.as_("edu").get(path + "/nothing"), 404, "InvalidRequestException")
    error_of(review.as_("drc").get(path), 403, "AuthorizationException")

    error_of(review.as_("edu").post(path, {"modifications": {"note": {"value": "x"}}}), 403, "AuthorizationException")
    error_of(review.as_("auditor").put(path + "/note", {"value": "x"}), 403, "AuthorizationException")
    error_of(review.as_("admin").post(path, {"deletions": ["note"]}), 400, "InvalidRequestException")
    [task] = review.as_("edu").get("/task", processInstanceId=instance["id"]).get_json()
    for changes in (path, f"/task/{task['id']}/variables"):  # deletions of the wrong kind were ignored
        for deletions in ({}, "note", 0):
            message = error_of(review.as_("admin").post(changes, {"modifications": {"note": {"value": "x"}},
                                                                  "deletions": deletions}), 400, "InvalidRequestException")
            assert message.startswith("deletions must be empty")
        for modifications in (0, [], "note"):  # the task's were read as none
            message = error_of(review.as_("admin").post(changes, {"modifications": modifications}), 400,
                               "InvalidRequestException")
            assert message.startswith("modifications must be an object")
    assert review.as_("edu").get(path + "/note").get_json()["value"] == "急"
    assert review.as_("admin").post(path, {"modifications": {"note": {"value": "缓", "type": "String"},
                                                             "amount": {"value": 10, "type": "Long"}}}).status_code == 204
    assert review.as_("admin").put(path + "/flag", {"value": True, "type": "Boolean"}).status_code == 204
    values = review.as_("edu").get(path).get_json()
    assert (values["note"]["value"], values["amount"]["value"], values["flag"]["value"]) == ("缓", 10, True)


def test_administrators_suspend_and_resume_and_a_suspended_instance_takes_no_work(review):
    instance = start(review, "review", unit="edu")
    path = f"/process-instance/{instance['id']}/suspended"
    error_of(review.as_("edu").put(path, {"suspended": True}), 403, "AuthorizationException")
    error_of(review.as_("admin").put(path, {"suspended": "yes"}), 400, "InvalidRequestException")
    assert review.as_("admin").put(path, {"suspended": True}).status_code == 204
    assert review.as_("edu").get(f"/process-instance/{instance['id']}").get_json()["suspended"] is True
    task = the_task(review, instance, "edu")
    assert task["suspended"] is True
    assert review.as_("edu").get("/process-instance", suspended="true").get_json()[0]["id"] == instance["id"]
    assert "suspended" in error_of(review.as_("edu").post(f"/task/{task['id']}/complete", {
        "variables": {"amount": {"value": 1}}}), 409, "InstanceNotRunning")
    error_of(review.as_("admin").put(path, {"suspended": True}), 409, "InstanceNotRunning")
    assert review.as_("admin").put(path, {"suspended": False}).status_code == 204
    assert review.as_("edu").post(f"/task/{task['id']}/complete", {
        "variables": {"amount": {"value": 1}}}).status_code == 204


def test_administrators_delete_an_instance_with_a_reason(review):
    instance = start(review, "review", unit="edu")
    error_of(review.as_("edu").delete(f"/process-instance/{instance['id']}"), 403, "AuthorizationException")
    assert review.as_("admin").delete(f"/process-instance/{instance['id']}", deleteReason="重复立项").status_code == 204
    error_of(review.as_("admin").get(f"/process-instance/{instance['id']}"), 404, "InvalidRequestException")
    assert review.as_("edu").get("/task").get_json() == []
    historic = review.as_("edu").get(f"/history/process-instance/{instance['id']}").get_json()
    assert (historic["state"], historic["deleteReason"]) == ("EXTERNALLY_TERMINATED", "重复立项")
    error_of(review.as_("admin").delete(f"/process-instance/{instance['id']}"), 404, "InvalidRequestException")


# --- messages ----------------------------------------------------------------------------------

def test_a_message_reaches_the_instance_waiting_under_its_business_key(review):
    first = start(review, "mailbox", business_key="M-1")
    second = start(review, "mailbox", business_key="M-2")
    response = review.as_("drc").post("/message", {
        "messageName": "reply", "businessKey": "M-2",
        "processVariables": {"answer": {"value": "同意", "type": "String"}}})
    assert response.status_code == 204
    [task] = review.as_("office").get("/task").get_json()
    assert (task["processInstanceId"], task["taskDefinitionKey"]) == (second["id"], "read")
    assert review.as_("admin").get(f"/process-instance/{second['id']}/variables/answer").get_json()["value"] == "同意"

    result = review.as_("drc").post("/message", {"messageName": "reply", "businessKey": "M-1", "resultEnabled": True,
                                                 "variablesInResultEnabled": True})
    assert result.status_code == 200
    [entry] = result.get_json()
    assert entry["resultType"] == "Execution" and entry["processInstance"] is None
    assert entry["execution"]["processInstanceId"] == first["id"] and "variables" in entry


def test_a_message_can_start_its_process_and_correlation_keys_pick_an_instance(review):
    response = review.as_("drc").post("/message", {"messageName": "open_case", "businessKey": "C-1",
                                                   "resultEnabled": True})
    [entry] = response.get_json()
    assert entry["resultType"] == "ProcessDefinition" and entry["execution"] is None
    assert entry["processInstance"]["businessKey"] == "C-1"
    assert entry["processInstance"]["definitionId"] == review.definitions["intake"]["id"]

    start(review, "mailbox", case_no="A-1")
    target = start(review, "mailbox", case_no="B-2")
    assert review.as_("drc").post("/message", {
        "messageName": "reply", "correlationKeys": {"case_no": {"value": "B-2", "type": "String"}}}).status_code == 204
    assert [t["processInstanceId"] for t in review.as_("office").get("/task", taskDefinitionKey="read").get_json()] == [
        target["id"]]


def test_a_message_goes_to_the_instance_named_by_process_instance_id(review):
    first = start(review, "mailbox", business_key="M-1")
    second = start(review, "mailbox", business_key="M-1")  # the same business key: only the id tells them apart
    drc = review.as_("drc")
    assert "2 executions match" in error_of(drc.post("/message", {"messageName": "reply", "businessKey": "M-1"}),
                                     400, "RestException")
    assert drc.post("/message", {"messageName": "reply", "processInstanceId": second["id"],
                                 "withoutTenantId": True}).status_code == 204
    [task] = review.as_("office").get("/task", taskDefinitionKey="read").get_json()
    assert task["processInstanceId"] == second["id"]
    assert "not waiting" in error_of(drc.post("/message", {"messageName": "reply", "processInstanceId": second["id"]}),
                                     400, "RestException")
    assert drc.post("/message", {"messageName": "reply", "processInstanceId": first["id"]}).status_code == 204


def test_messages_that_match_nothing_or_are_malformed_are_refused(review):
    start(review, "mailbox", business_key="M-1")
    message = error_of(review.as_("drc").post("/message", {"messageName": "reply", "businessKey": "M-404"}),
                       400, "RestException")
    assert message.startswith("Cannot correlate message 'reply':")
    start(review, "mailbox", business_key="M-1")
    assert "2 executions match" in error_of(review.as_("drc").post("/message", {"messageName": "reply", "businessKey": "M-1"}),
                                     400, "RestException")
    error_of(review.as_("drc").post("/message", {"businessKey": "M-1"}), 400, "InvalidRequestException")
    error_of(review.as_("drc").post("/message", {"messageName": "reply", "processInstanceId": "1"}), 404,
             "InvalidRequestException")
    error_of(review.as_("drc").post("/message", {"messageName": "reply", "tenantId": "t1"}), 400,
             "InvalidRequestException")
    error_of(review.as_("auditor").post("/message", {"messageName": "reply"}), 403, "AuthorizationException")


def test_variable_types_round_trip_through_start_set_and_read(review):
    typed = {"budget": {"value": 12, "type": "Long"}, "rank": {"value": 3, "type": "Short"},
             "count": {"value": 3, "type": "Integer"},
             "deadline": {"value": "2026-04-01T00:00:00.000+0800", "type": "Date"},
             "meta": {"value": '{"a": [1, 2]}', "type": "Json"},
             "order": {"value": '{"id": 7, "items": ["x"]}', "type": "Object",
                       "valueInfo": {"objectTypeName": "com.example.Order", "serializationDataFormat": "application/json"}}}
    response = review.as_("edu").post("/process-definition/key/review/start", {
        "variables": {**typed, "unit": {"value": "edu", "type": "String"}}, "withVariablesInReturn": True})
    assert response.status_code == 200, response.get_json()
    instance = response.get_json()
    admin = review.as_("admin")
    read = admin.get(f"/process-instance/{instance['id']}/variables").get_json()
    for name, dto in typed.items():
        assert read[name] == {"valueInfo": {}, **dto}, name
        assert instance["variables"][name] == read[name]
    assert read["count"]["type"] == "Integer" and read["unit"]["type"] == "String"
    # a variable set again without the kept type is what its new value says
    assert admin.put(f"/process-instance/{instance['id']}/variables/budget", {"value": "big", "type": "String"}) \
        .status_code == 204
    assert admin.get(f"/process-instance/{instance['id']}/variables/budget").get_json() == {
        "type": "String", "value": "big", "valueInfo": {}}
    error_of(review.as_("edu").post("/process-definition/key/review/start", {"variables": {"o": {
        "value": "rO0AB", "type": "Object",
        "valueInfo": {"serializationDataFormat": "application/x-java-serialized-object"}}}}),
        400, "InvalidRequestException")


def test_an_external_task_of_a_called_process_names_the_called_instance(rest):
    """A worker fetching by the called process's key gets its task with the called instance, its
    definition and its variables (the caller's other variables stay with the caller)."""
    definitions = deployed(rest, "call_budget_check.bpmn", "budget_check.bpmn")
    caller = start(rest, "call_budget_check", user="admin", amount=1200, secret="caller only")
    admin = rest.as_("admin")
    [called] = admin.get("/process-instance", superProcessInstance=caller["id"]).get_json()
    fetched = admin.post("/external-task/fetchAndLock", {"workerId": "w", "maxTasks": 5, "topics": [
        {"topicName": "budget-check", "lockDuration": 60000, "processDefinitionKey": "budget_check"}]}).get_json()
    [task] = fetched
    assert (task["processInstanceId"], task["processDefinitionId"], task["processDefinitionKey"]) == (
        called["id"], definitions["budget_check"]["id"], "budget_check")
    assert {name: dto["value"] for name, dto in task["variables"].items()} == {"amount": 1200}
    [listed] = admin.get("/external-task", processInstanceId=called["id"]).get_json()
    assert listed["id"] == task["id"]
    assert admin.post(f"/external-task/{task['id']}/complete", {"workerId": "w"}).status_code == 204
    [confirm] = admin.get("/task", processInstanceId=called["id"]).get_json()
    assert confirm["taskDefinitionKey"] == "confirm"
    assert admin.get("/task", processInstanceId=caller["id"]).get_json() == []  # the task is the called one's
    assert admin.get("/task/count", processInstanceIdIn=f"{caller['id']},{called['id']}").get_json() == {"count": 1}


def test_an_incident_in_a_called_process_is_its_own_with_a_cause_at_the_call_activity(rest):
    """As in Camunda: the failure shows at the called instance (the root cause) and, at the caller's
    call activity, a cause incident naming it; retrying either runs the work again and resolves both."""
    deployed(rest, "call_budget_check.bpmn", "budget_check.bpmn")
    caller = start(rest, "call_budget_check", user="admin", amount=1200)
    admin = rest.as_("admin")
    [called] = admin.get("/process-instance", superProcessInstance=caller["id"]).get_json()

    def fail():
        [task] = admin.post("/external-task/fetchAndLock", {"workerId": "w", "maxTasks": 1, "topics": [
            {"topicName": "budget-check", "lockDuration": 60000}]}).get_json()
        assert admin.post(f"/external-task/{task['id']}/failure", {
            "workerId": "w", "errorMessage": "预算系统无响应", "retries": 0}).status_code == 204
        return task

    task = fail()
    [root_cause] = admin.get("/incident", processInstanceId=called["id"]).get_json()
    [cause] = admin.get("/incident", processInstanceId=caller["id"]).get_json()
    assert (root_cause["activityId"], root_cause["causeIncidentId"], root_cause["rootCauseIncidentId"],
            root_cause["configuration"]) == ("check_budget", root_cause["id"], root_cause["id"], task["id"])
    assert (cause["activityId"], cause["causeIncidentId"], cause["rootCauseIncidentId"]) == (
        "run_check", root_cause["id"], root_cause["id"])
    assert "预算系统无响应" in cause["incidentMessage"] and cause["incidentType"] == "failedExternalTask"
    assert [i["id"] for i in admin.get("/incident", causeIncidentId=root_cause["id"], sortBy="incidentId",
                                       sortOrder="asc").get_json()] == [root_cause["id"], cause["id"]]
    assert admin.get("/incident/count", rootCauseIncidentId=root_cause["id"]).get_json() == {"count": 2}
    assert {i["id"] for i in admin.get("/process-instance", withIncident="true").get_json()} == {
        caller["id"], called["id"]}
    tree = admin.get(f"/process-instance/{caller['id']}/activity-instances").get_json()
    assert tree["childActivityInstances"][0]["incidentIds"] == [cause["id"]]
    tree = admin.get(f"/process-instance/{called['id']}/activity-instances").get_json()
    assert tree["childActivityInstances"][0]["incidentIds"] == [root_cause["id"]]

    assert admin.delete(f"/incident/{cause['id']}").status_code == 204  # the cause: its root cause runs again
    assert admin.get("/incident").get_json() == []
    fail()
    [again] = admin.get("/incident", processInstanceId=called["id"]).get_json()
    assert again["id"] != root_cause["id"] and admin.get("/incident/count").get_json() == {"count": 2}
    assert admin.delete(f"/incident/{again['id']}").status_code == 204
    assert admin.get("/incident/count").get_json() == {"count": 0}


def test_a_timer_of_a_called_process_is_its_called_instances_job(rest):
    definitions = deployed(rest, "call_reminders.bpmn", "reminders.bpmn")
    caller = start(rest, "call_reminders", user="admin")
    admin = rest.as_("admin")
    [called] = admin.get("/process-instance", superProcessInstance=caller["id"]).get_json()
    [job] = admin.get("/job", processInstanceId=called["id"]).get_json()
    assert (job["processInstanceId"], job["processDefinitionId"]) == (called["id"], definitions["reminders"]["id"])
    assert admin.get("/job", processInstanceId=caller["id"]).get_json() == []
    tree = admin.get(f"/process-instance/{called['id']}/activity-instances").get_json()
    assert [a["activityId"] for a in tree["childActivityInstances"]] == ["next_workday_morning"]
    tree = admin.get(f"/process-instance/{caller['id']}/activity-instances").get_json()
    assert [a["activityId"] for a in tree["childActivityInstances"]] == ["run_check"]
