"""History through /engine-rest: historic process instances, activity instances rebuilt from the
instance's history events, and the user operation log — each in Camunda's shape, each limited to
what the caller may see."""
from __future__ import annotations

from datetime import timedelta

import pytest

from test_rest_helpers import deployed, error_of, rest, start  # noqa: F401

ACTIVITY_FIELDS = {"id", "parentActivityInstanceId", "activityId", "activityName", "activityType",
                   "processDefinitionKey", "processDefinitionId", "processInstanceId", "executionId", "taskId",
                   "calledProcessInstanceId", "calledCaseInstanceId", "assignee", "startTime", "endTime",
                   "durationInMillis", "canceled", "completeScope", "tenantId", "removalTime", "rootProcessInstanceId"}


@pytest.fixture
def worked(rest, frozen_clock):
    """review P-1 started by edu at 09:00, submit claimed 09:10 and completed 09:30 (1500), drc done 10:00."""
    rest.definitions = deployed(rest, "review.bpmn", "mailbox.bpmn")
    instance = start(rest, "review", business_key="P-1", unit="edu")
    [submit] = rest.as_("edu").get("/task", processInstanceId=instance["id"]).get_json()
    frozen_clock.advance(timedelta(minutes=10))
    assert rest.as_("edu").post(f"/task/{submit['id']}/claim", {"userId": "edu"}).status_code == 204
    frozen_clock.advance(timedelta(minutes=20))
    assert rest.as_("edu").post(f"/task/{submit['id']}/complete",
                                {"variables": {"amount": {"value": 1500, "type": "Long"}}}).status_code == 204
    frozen_clock.advance(timedelta(minutes=30))
    [drc] = rest.as_("drc").get("/task").get_json()
    assert rest.as_("drc").post(f"/task/{drc['id']}/complete", {}).status_code == 204
    rest.instance, rest.submit = instance, submit
    return rest


def test_historic_process_instances_in_camunda_shape(worked):
    [historic] = worked.as_("edu").get("/history/process-instance", processDefinitionKey="review").get_json()
    definition = worked.definitions["review"]
    assert historic["id"] == worked.instance["id"]
    assert (historic["processDefinitionId"], historic["processDefinitionKey"], historic["processDefinitionName"],
            historic["processDefinitionVersion"]) == (definition["id"], "review", "项目审查", 1)
    assert (historic["businessKey"], historic["startUserId"], historic["startActivityId"], historic["state"]) == (
        "P-1", "edu", "start", "ACTIVE")
    assert (historic["startTime"], historic["endTime"], historic["durationInMillis"]) == (
        "2026-03-02T09:00:00.000+0800", None, None)
    assert worked.as_("edu").get("/history/process-instance/count", unfinished="true").get_json() == {"count": 1}
    assert worked.as_("edu").get("/history/process-instance", finished="true").get_json() == []
    assert worked.as_("edu").get("/history/process-instance", startedBy="edu",
                                 processInstanceBusinessKey="P-1").get_json()[0]["id"] == historic["id"]
    assert worked.as_("office").get("/history/process-instance").get_json() == []
    assert worked.as_("drc").get(f"/history/process-instance/{historic['id']}").get_json() == historic
    error_of(worked.as_("office").get(f"/history/process-instance/{historic['id']}"), 403, "AuthorizationException")

    [finance] = worked.as_("finance").get("/task").get_json()
    worked.as_("finance").post(f"/task/{finance['id']}/complete", {})
    done = worked.as_("auditor").get(f"/history/process-instance/{historic['id']}").get_json()
    assert (done["state"], done["endTime"], done["durationInMillis"]) == (
        "COMPLETED", "2026-03-02T10:00:00.000+0800", 3_600_000)
    assert worked.as_("auditor").get("/history/process-instance/count", completed="true").get_json() == {"count": 1}


def test_activity_instances_from_the_history(worked):
    activities = worked.as_("edu").get("/history/activity-instance",
                                       processInstanceId=worked.instance["id"]).get_json()
    assert set(activities[0]) == ACTIVITY_FIELDS
    summary = [(a["activityId"], a["activityType"], a["activityName"], a["startTime"][11:16],
                a["endTime"] and a["endTime"][11:16], a["assignee"], a["canceled"]) for a in activities]
    assert summary == [
        ("start", "startEvent", "开始", "09:00", "09:00", None, False),
        ("submit", "userTask", "提交材料", "09:00", "09:30", "edu", False),
        ("drc_review", "userTask", "发改委审批", "09:30", "10:00", "drc", False),
        ("finance_review", "userTask", "财政局审核", "09:30", None, None, False),
    ]
    submit = activities[1]
    assert (submit["taskId"], submit["durationInMillis"]) == (worked.submit["id"], 1_800_000)
    assert submit["processDefinitionId"] == worked.definitions["review"]["id"]
    assert len({a["id"] for a in activities}) == 4

    edu = worked.as_("edu")
    assert [a["activityId"] for a in edu.get("/history/activity-instance", unfinished="true").get_json()] == [
        "finance_review"]
    assert [a["activityId"] for a in edu.get("/history/activity-instance", taskAssignee="edu").get_json()] == [
        "submit"]
    assert edu.get("/history/activity-instance/count", activityType="userTask").get_json() == {"count": 3}
    ordered = edu.get("/history/activity-instance", sortBy="endTime", sortOrder="desc", maxResults=2).get_json()
    assert [a["activityId"] for a in ordered] == ["drc_review", "submit"]
    assert worked.as_("office").get("/history/activity-instance").get_json() == []
    error_of(edu.get("/history/activity-instance", sortBy="colour"), 400, "InvalidRequestException")

    worked.as_("admin").delete(f"/process-instance/{worked.instance['id']}", deleteReason="撤销")
    [finance] = edu.get("/history/activity-instance", activityId="finance_review").get_json()
    assert finance["canceled"] is True and finance["endTime"] == "2026-03-02T10:00:00.000+0800"


def test_a_message_catch_event_reached_is_an_activity(rest, frozen_clock):
    deployed(rest, "mailbox.bpmn")
    instance = start(rest, "mailbox", business_key="M-1")
    frozen_clock.advance(timedelta(hours=1))
    rest.as_("drc").post("/message", {"messageName": "reply", "businessKey": "M-1"})
    activities = rest.as_("auditor").get("/history/activity-instance", processInstanceId=instance["id"]).get_json()
    assert [(a["activityId"], a["activityType"], a["activityName"]) for a in activities] == [
        ("start", "startEvent", None), ("await_reply", "intermediateMessageCatch", "等待回复"),
        ("read", "userTask", "阅读回复")]


def test_user_operations_say_who_did_what(worked):
    admin, edu = worked.as_("admin"), worked.as_("edu")
    admin.put(f"/process-instance/{worked.instance['id']}/suspended", {"suspended": True})
    admin.delete(f"/process-instance/{worked.instance['id']}", deleteReason="重复立项")

    entries = edu.get("/history/user-operation", processInstanceId=worked.instance["id"]).get_json()
    summary = [(e["userId"], e["operationType"], e["entityType"], e["property"], e["newValue"]) for e in entries]
    assert summary == [
        ("edu", "Create", "ProcessInstance", "businessKey", "P-1"),
        ("edu", "Claim", "Task", "assignee", "edu"),
        ("edu", "Complete", "Task", None, None),
        ("drc", "Complete", "Task", None, None),
        ("admin", "Suspend", "ProcessInstance", "suspensionState", "suspended"),
        ("admin", "Delete", "ProcessInstance", "deleteReason", "重复立项"),
    ]
    claim = entries[1]
    assert (claim["taskId"], claim["timestamp"], claim["processDefinitionKey"], claim["category"]) == (
        worked.submit["id"], "2026-03-02T09:10:00.000+0800", "review", "TaskWorker")
    assert entries[-1]["annotation"] == "重复立项"

    assert [e["operationType"] for e in edu.get("/history/user-operation", userId="admin").get_json()] == [
        "Suspend", "Delete"]
    assert [e["userId"] for e in edu.get("/history/user-operation", taskId=worked.submit["id"]).get_json()] == [
        "edu", "edu"]
    assert edu.get("/history/user-operation/count", operationType="Complete").get_json() == {"count": 2}
    assert [e["newValue"] for e in edu.get("/history/user-operation", operationType="Suspend").get_json()] == [
        "suspended"]
    assert edu.get("/history/user-operation/count", operationType="Delete").get_json() == {"count": 1}
    assert edu.get("/history/user-operation/count", entityType="Task", category="TaskWorker").get_json() == {
        "count": 3}
    assert [e["userId"] for e in edu.get("/history/user-operation", entityType="Task", firstResult=1,
                                         maxResults=1).get_json()] == ["edu"]
    latest = edu.get("/history/user-operation", sortBy="timestamp", sortOrder="desc", maxResults=1).get_json()
    assert latest[0]["operationType"] == "Delete"
    assert edu.get("/history/user-operation", entityType="Deployment").get_json() == []  # officials: instances only
    assert worked.as_("office").get("/history/user-operation").get_json() == []

    [deployment] = admin.get("/history/user-operation", entityType="Deployment").get_json()
    assert (deployment["userId"], deployment["operationType"], deployment["deploymentId"]) == (
        "admin", "Create", worked.definitions["review"]["deploymentId"])
    tokens = worked.as_("auditor").get("/history/user-operation", entityTypeIn="ApiToken,User").get_json()
    assert tokens == []  # the fixture's users and tokens were made without an actor: nobody's operation
