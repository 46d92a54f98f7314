"""The fields of an external task worker's calls (fetchAndLock's topics, maxTasks, lock and retry
durations, retries, error codes) of the wrong type or beyond what a date or a column holds (the
bounds the OpenAPI document states: 32-bit counts, durations up to 10^14 ms): found
by tests/fuzz once its OpenAPI document made it send whole worker bodies (each answered 500
before). Each is a 400 naming the field, and nothing is locked or changed."""
from __future__ import annotations

import pytest

from test_rest_helpers import error_of, modeler_deploy, rest  # noqa: F401
from test_rest_openapi import BUDGET, TOPICS

BEYOND = 2**63  # more than SQL's 64-bit integers hold


@pytest.fixture
def budget(rest):
    """Two instances of the budget process, each waiting at the external task `budget-check`."""
    assert modeler_deploy(rest.as_("admin"), "budget", ("budget.bpmn", BUDGET)).status_code == 200
    for business_key in ("B-1", "B-2"):
        response = rest.as_("finance").post("/process-definition/key/budget/start", {
            "businessKey": business_key, "variables": {"amount": {"value": 1200, "type": "Long"}}})
        assert response.status_code == 200, response.get_json()
    return rest


def fetch(rest, **body):
    return rest.as_("office").post("/external-task/fetchAndLock", {"workerId": "w1", **body})


def topic(**fields):
    return [{**TOPICS[0], **fields}]


@pytest.mark.parametrize("topics, named", [
    (topic(topicName=["budget-check"]), "topics[0].topicName"),
    (topic(topicName={"name": "budget-check"}), "topics[0].topicName"),
    (topic(lockDuration=BEYOND), "topics[0].lockDuration"),
    (topic(lockDuration=10**14 + 1), "topics[0].lockDuration"),  # a 64-bit number, but over 3,000 years
    (topic(businessKey=["B-1"]), "topics[0].businessKey"),
    (topic(processDefinitionId=[1]), "topics[0].processDefinitionId"),
    (topic(processDefinitionKeyIn=5), "topics[0].processDefinitionKeyIn"),
    (topic(processDefinitionKeyIn=[["budget"]]), "topics[0].processDefinitionKeyIn"),
    (topic(processDefinitionIdIn=[{}]), "topics[0].processDefinitionIdIn"),
    (topic(variables=5), "topics[0].variables"),
    (topic(processVariables=[1]), "topics[0].processVariables"),
])
def test_a_topic_field_of_the_wrong_kind_is_named_and_nothing_is_locked(budget, topics, named):
    assert named in error_of(fetch(budget, topics=topics), 400, "InvalidRequestException")
    assert len(fetch(budget, topics=TOPICS).get_json()) == 2  # both still open


@pytest.mark.parametrize("max_tasks", [BEYOND, 2**31, -1, "2", True])
def test_max_tasks_is_a_32_bit_count(budget, max_tasks):
    assert "maxTasks" in error_of(fetch(budget, topics=TOPICS, maxTasks=max_tasks), 400, "InvalidRequestException")
    assert len(fetch(budget, topics=TOPICS, maxTasks=2**31 - 1).get_json()) == 2


def test_a_locked_task_refuses_durations_and_retries_no_column_holds(budget):
    [task] = fetch(budget, topics=TOPICS, maxTasks=1).get_json()
    worker = budget.as_("office")
    path = f"/external-task/{task['id']}"
    for call, body, named in (("/extendLock", {"newDuration": BEYOND}, "newDuration"),
                              ("/extendLock", {"newDuration": 10**14 + 1}, "newDuration"),
                              ("/failure", {"retries": 1, "retryTimeout": BEYOND}, "retryTimeout"),
                              ("/failure", {"retries": BEYOND}, "retries"),
                              ("/failure", {"retries": 1, "errorDetails": {"trace": []}}, "errorDetails"),
                              ("/bpmnError", {"errorCode": ["OVER_BUDGET"]}, "errorCode"),
                              ("/bpmnError", {"errorCode": "OVER_BUDGET", "errorMessage": 5}, "errorMessage")):
        response = worker.post(path + call, {"workerId": "w1", **body})
        assert named in error_of(response, 400, "InvalidRequestException"), call
    [still] = budget.as_("admin").get("/external-task", workerId="w1").get_json()
    assert (still["id"], still["retries"], still["errorMessage"]) == (task["id"], None, None)  # unchanged
    assert worker.post(path + "/extendLock", {"workerId": "w1", "newDuration": 10**14}).status_code == 204
    assert worker.post(path + "/complete", {"workerId": "w1"}).status_code == 204  # and still locked by w1


def test_retries_set_by_an_administrator_are_a_32_bit_count(budget):
    [task] = fetch(budget, topics=TOPICS, maxTasks=1).get_json()
    admin = budget.as_("admin")
    for retries in (BEYOND, 2**31, -1):
        message = error_of(admin.put(f"/external-task/{task['id']}/retries", {"retries": retries}), 400,
                           "InvalidRequestException")
        assert "retries" in message
    assert admin.put(f"/external-task/{task['id']}/retries", {"retries": 2**31 - 1}).status_code == 204
