"""camunda-external-task-client-python3 (Camunda's external-task worker for Python, from PyPI)
against a real `dalad serve`: its worker completes, fails with retries into an incident and throws
BPMN errors; its engine client starts processes, reads instances, correlates messages and
retries a failed job."""
from __future__ import annotations

import pytest
import requests
from camunda.client.engine_client import EngineClient
from camunda.external_task.external_task_worker import ExternalTaskWorker, NoExternalTaskFound

from dalad_server import PASSWORD, server  # noqa: F401

AUTH = {"auth_basic": {"username": "worker", "password": PASSWORD}}
ADMIN = {"auth_basic": {"username": "admin", "password": PASSWORD}}


def the_worker(server, worker_id: str = "camunda-py") -> ExternalTaskWorker:
    return ExternalTaskWorker(worker_id, base_url=server.url,
                              config={**AUTH, "maxTasks": 1, "lockDuration": 60000, "asyncResponseTimeout": 1000,
                                      "retries": 2, "retryTimeout": 0, "sleepSeconds": 0})


def started_and_reviewed(server, business_key: str, **variables) -> dict:
    """Start an order with the worker library's engine client; the office approves it."""
    instance = EngineClient(server.url, config={"auth_basic": {"username": "office", "password": PASSWORD}}) \
        .start_process("client_order", variables, business_key=business_key)
    [task] = server.get("/task", user="office", processInstanceId=instance["id"])
    response = requests.post(f"{server.url}/task/{task['id']}/complete", auth=server.auth("office"), timeout=30,
                             json={"variables": {"approved": {"value": True, "type": "Boolean"}}})
    assert response.status_code == 204, response.text
    return instance


def waiting_at(server, instance: dict) -> list[str]:
    tree = server.get(f"/process-instance/{instance['id']}/activity-instances")
    return [a["activityId"] for a in tree["childActivityInstances"]]


def test_the_worker_completes_and_the_engine_client_correlates_by_instance(server):
    instance = started_and_reviewed(server, "W-1", amount=300)
    seen = []

    def charge(task):
        seen.append((task.get_topic_name(), task.get_variable("amount"), task.get_business_key()))
        return task.complete({"receipt": "R-300", "charged": task.get_variable("amount")})

    the_worker(server).fetch_and_execute(["charge"], charge, process_variables={})
    assert seen == [("charge", 300, "W-1")]
    assert waiting_at(server, instance) == ["wait_shipped"]
    engine = EngineClient(server.url, config=ADMIN)
    assert [i["id"] for i in engine.get_process_instance("client_order", variables=["charged_eq_300"])] == [
        instance["id"]]
    result = engine.correlate_message("shipped", process_instance_id=instance["id"],
                                      process_variables={"carrier": "SF"})
    assert result[0]["execution"]["processInstanceId"] == instance["id"]
    assert waiting_at(server, instance) == ["cool_off"]
    with pytest.raises(NoExternalTaskFound):
        the_worker(server).fetch_and_execute(["charge"], charge)


def test_failures_use_up_the_retries_into_an_incident_and_a_bpmn_error_is_caught(server):
    instance = started_and_reviewed(server, "W-2")
    attempts = []

    def failing(task):
        attempts.append(task.get_task_id())
        return task.failure("bank unreachable", "ConnectionError: …", max_retries=2, retry_timeout=0)

    worker = the_worker(server, "camunda-py-2")
    for _ in range(3):  # the first failure sets retries 2, the next 1, the third 0: an incident
        worker.fetch_and_execute(["charge"], failing)
    assert len(attempts) == 3 and len(set(attempts)) == 1
    incidents = server.get("/incident", processInstanceId=instance["id"])
    assert [(i["incidentType"], i["configuration"], i["activityId"]) for i in incidents] == [
        ("failedExternalTask", attempts[0], "charge")]
    assert "bank unreachable" in incidents[0]["incidentMessage"]
    with pytest.raises(NoExternalTaskFound):
        worker.fetch_and_execute(["charge"], failing)

    response = requests.delete(f"{server.url}/incident/{incidents[0]['id']}", auth=server.auth(), timeout=30)
    assert response.status_code == 204, response.text
    assert server.get("/incident", processInstanceId=instance["id"]) == []
    worker.fetch_and_execute(["charge"], lambda task: task.bpmn_error("CARD_DECLINED", "declined",
                                                                      {"reason": "limit"}))
    assert waiting_at(server, instance) == ["fix_payment"]


def test_the_engine_client_lists_a_failed_job_and_its_retry_runs_it_again(server):
    admin = EngineClient(server.url, config=ADMIN)
    instance = admin.start_process("client_async", {"spent": 5}, business_key="J-1")
    server.wait_for("the asynchronous step fails into an incident",
                    lambda: admin.get_jobs(0, 10, process_instance_id=instance["id"], with_failure=True))
    [job] = admin.get_jobs(0, 10, process_instance_id=instance["id"], with_failure=True)
    assert (job["retries"], job["failedActivityId"]) == (0, "compute") and "budget" in job["exceptionMessage"]
    response = requests.put(f"{server.url}/process-instance/{instance['id']}/variables/budget",
                            json={"value": 10, "type": "Integer"}, auth=server.auth(), timeout=30)
    assert response.status_code == 204, response.text
    assert admin.set_job_retry(job["id"], retries=1) is True
    assert admin.get_jobs(0, 10, process_instance_id=instance["id"]) == []
    assert waiting_at(server, instance) == ["check"]
    ratio = server.get(f"/process-instance/{instance['id']}/variables/ratio")
    assert ratio["value"] == 0.5
