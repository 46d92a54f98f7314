"""Operating and runtime calls of /engine-rest (web/rest_admin.py, web/rest_runtime.py): who may
do what, and what each changes, in Camunda's shapes. The client libraries drive the same calls in
tests/clients."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import services
from engine.models import HistoryEvent, ProcessInstance, Timer
from engine.replay import verify
from test_rest_helpers import deployed, error_of, modeler_deploy, rest, start  # noqa: F401

CLIENT_ORDER = Path(__file__).parent.parent / "clients" / "client_order.bpmn"


@pytest.fixture
def orders(rest):
    admin = rest.as_("admin")
    assert modeler_deploy(admin, "orders", ("client_order.bpmn", CLIENT_ORDER.read_bytes())).status_code == 200
    rest.definitions = deployed(rest, "mailbox.bpmn")
    return rest


def test_an_administrator_offers_a_task_to_another_bureau_and_the_history_keeps_it(orders):
    admin, office, drc = orders.as_("admin"), orders.as_("office"), orders.as_("drc")
    order = admin.post("/process-definition/key/client_order/start", {"businessKey": "O-1"}).get_json()
    [task] = office.get("/task", processInstanceId=order["id"]).get_json()
    path = f"/task/{task['id']}/identity-links"
    error_of(office.post(path, {"groupId": "drc", "type": "candidate"}), 403, "AuthorizationException")
    assert drc.get("/task").get_json() == []
    assert admin.post(path, {"groupId": "drc", "type": "candidate"}).status_code == 204
    assert [t["id"] for t in drc.get("/task").get_json()] == [task["id"]]
    assert admin.get(path, type="candidate").get_json() == [
        {"userId": None, "groupId": "office", "type": "candidate"},
        {"userId": None, "groupId": "drc", "type": "candidate"}]
    assert admin.post(path + "/delete", {"groupId": "office", "type": "candidate"}).status_code == 204
    assert office.get("/task").get_json() == []
    assert drc.post(path, {"userId": "drc", "type": "assignee"}).status_code == 204  # claiming is a worker's
    assert admin.get(path, type="assignee").get_json() == [{"userId": "drc", "groupId": None, "type": "assignee"}]
    error_of(admin.post(path, {"groupId": "drc", "type": "owner"}), 400, "InvalidRequestException")
    error_of(admin.post(path, {"groupId": "drc", "userId": "x", "type": "candidate"}), 400,
             "InvalidRequestException")
    with orders.db.read() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.rest_id == order["id"])).one()
        changes = [e for e in session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == row.id))
                   if e.type == "task_candidates_changed"]
        assert [e.actor for e in changes] == ["admin", "admin"]
        chain, replay = verify(session, row.id)  # the record still proves and replays
        assert chain.ok and replay.ok


def test_authorizations_are_read_by_administrators_and_auditors_only(orders):
    listed = orders.as_("admin").get("/authorization").get_json()
    assert {"userId": "admin", "resourceType": 8, "permissions": ["ALL"]}.items() <= next(
        a for a in listed if a["userId"] == "admin" and a["resourceType"] == 8).items()
    office = [a for a in listed if a["groupId"] == "office"]
    assert {a["resourceType"] for a in office} == {6, 7, 8}
    assert orders.as_("auditor").get("/authorization/count", userIdIn="auditor").get_json()["count"] > 0
    assert orders.as_("admin").get("/authorization", groupIdIn="office", resourceType="7").get_json() == [
        a for a in office if a["resourceType"] == 7]
    error_of(orders.as_("office").get("/authorization"), 403, "AuthorizationException")


def test_start_form_variables_executions_and_event_subscriptions(orders):
    admin = orders.as_("admin")
    definition_id = admin.get("/process-definition/key/client_order").get_json()["id"]
    assert admin.get(f"/process-definition/{definition_id}/form-variables").get_json() == {
        "amount": {"type": "Long", "value": 100, "valueInfo": {}}}
    assert admin.get("/process-definition/key/client_order/form-variables", variableNames="other").get_json() == {}
    first = start(orders, "mailbox", business_key="M-1")
    second = start(orders, "mailbox", business_key="M-2")
    executions = admin.get("/execution", messageEventSubscriptionName="reply").get_json()
    assert [e["id"] for e in executions] == [first["id"], second["id"]]
    assert executions[0] == {"id": first["id"], "processInstanceId": first["id"], "ended": False, "tenantId": None}
    assert admin.get(f"/execution/{first['id']}").get_json() == executions[0]
    assert admin.get("/execution/count", businessKey="M-2").get_json() == {"count": 1}
    [subscription] = admin.get("/event-subscription", processInstanceId=second["id"]).get_json()
    assert (subscription["eventType"], subscription["eventName"], subscription["executionId"]) == (
        "message", "reply", second["id"])
    assert admin.get("/event-subscription/count", eventName="reply", eventType="message").get_json() == {"count": 2}
    error_of(admin.get("/execution/" + "0" * 8), 404, "InvalidRequestException")


def test_a_failed_job_is_listed_resolved_by_an_administrator_and_its_incident_goes(orders):
    admin = orders.as_("admin")
    instance = admin.post("/process-definition/key/client_async/start", {"businessKey": "A-1", "variables": {
        "spent": {"value": 5, "type": "Integer"}}}).get_json()
    [waiting] = admin.get("/job", processInstanceId=instance["id"]).get_json()
    assert (waiting["retries"], waiting["exceptionMessage"]) == (1, None)
    services.fire_due_timers(orders.db)
    [incident] = admin.get("/incident", processInstanceId=instance["id"]).get_json()
    assert (incident["incidentType"], incident["configuration"], incident["activityId"]) == (
        "failedJob", waiting["id"], "compute")
    assert admin.get("/job/count", withException="true").get_json() == {"count": 1}
    error_of(orders.as_("office").delete(f"/incident/{incident['id']}"), 403, "AuthorizationException")
    assert admin.put(f"/process-instance/{instance['id']}/variables/budget",
                     {"value": 10, "type": "Integer"}).status_code == 204
    assert admin.post(f"/job/{waiting['id']}/execute").status_code == 204
    assert admin.get("/incident", processInstanceId=instance["id"]).get_json() == []
    assert admin.get("/job", processInstanceId=instance["id"]).get_json() == []
    tree = admin.get(f"/process-instance/{instance['id']}/activity-instances").get_json()
    assert (tree["activityType"], [c["activityId"] for c in tree["childActivityInstances"]]) == (
        "processDefinition", ["check"])


def test_timer_cycle_jobs_executed_early_fire_now_as_the_occurrence_they_waited_for(rest, frozen_clock):
    """reminders.bpmn: a cron wait for the next workday 9:00, then a daily R3 reminder beside the reply.
    Executed before their due dates (as in Camunda, the job runs now), each fires at once; the
    reminder's cycle counts the occurrence it stood for: two more follow, not three."""
    deployed(rest, "reminders.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "reminders", user="admin")  # Monday 2026-03-02 09:00

    def waiting() -> list[tuple[str, str]]:
        listed = admin.get("/job", processInstanceId=instance["id"]).get_json()
        return [(j["dueDate"][:16], element_of(j)) for j in listed]

    def element_of(job: dict) -> str:
        with rest.db.read() as session:
            return session.scalar(select(Timer.element_id).where(Timer.rest_id == job["id"]))

    def tasks() -> list[str]:
        return sorted(t["taskDefinitionKey"] for t in admin.get("/task", processInstanceId=instance["id"]).get_json())

    [cron] = admin.get("/job", processInstanceId=instance["id"]).get_json()
    assert waiting() == [("2026-03-03T09:00", "next_workday_morning")]
    assert admin.post(f"/job/{cron['id']}/execute").status_code == 204
    assert tasks() == ["reply"]
    assert waiting() == [("2026-03-03T09:00", "daily_reminder")]  # a day after the reply was offered
    [reminder] = admin.get("/job", processInstanceId=instance["id"]).get_json()
    assert admin.post(f"/job/{reminder['id']}/execute").status_code == 204
    assert tasks() == ["remind", "reply"]
    assert waiting() == [("2026-03-04T09:00", "daily_reminder")]
    for _day in range(4):
        frozen_clock.advance(timedelta(days=1))
        services.fire_due_timers(rest.db)
    assert tasks() == ["remind", "remind", "remind", "reply"] and waiting() == []
    with rest.db.read() as session:
        chain, report = verify(session, session.scalar(select(ProcessInstance.id)))
        assert chain.ok and report.ok, (chain, report)


def test_fetch_and_lock_takes_only_the_tasks_its_topic_filters_name(orders):
    admin, office = orders.as_("admin"), orders.as_("office")
    started = {}
    for key, amount in (("F-1", 7), ("F-2", 8)):
        started[key] = admin.post("/process-definition/key/client_order/start", {
            "businessKey": key, "variables": {"amount": {"value": amount, "type": "Long"}}}).get_json()
        [task] = office.get("/task", processInstanceId=started[key]["id"]).get_json()
        assert office.post(f"/task/{task['id']}/complete", {}).status_code == 204
    definition_id = admin.get("/process-definition/key/client_order").get_json()["id"]

    def fetch(**filters):
        answer = admin.post("/external-task/fetchAndLock", {"workerId": "w", "maxTasks": 5, "topics": [
            {"topicName": "charge", "lockDuration": 1000, **filters}]})
        assert answer.status_code == 200, answer.get_json()
        tasks = answer.get_json()
        for task in tasks:  # give them back for the next fetch
            assert admin.post(f"/external-task/{task['id']}/unlock").status_code == 204
        return sorted(t["businessKey"] for t in tasks)

    assert fetch(processVariables={"amount": 8}) == ["F-2"]
    assert fetch(businessKey="F-1") == ["F-1"]
    assert fetch(processDefinitionKey="client_async") == []
    assert fetch(processDefinitionIdIn=[definition_id], processDefinitionKeyIn=["client_order"]) == ["F-1", "F-2"]
