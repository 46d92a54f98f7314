"""External tasks: workers fetch and lock by topic, complete with variables, fail with retries
(an incident at none), or report a BPMN error that the error boundary event catches."""
from datetime import timedelta

import pytest

from conftest import deploy_files
from engine import replay, services
from engine.errors import TaskNotReady

TOPIC = [{"topicName": "budget-check", "lockDuration": 60_000}]


@pytest.fixture
def started(db, frozen_clock):
    deploy_files(db, "budget_check.bpmn")
    with db.write() as s:
        return services.start_process(s, "budget_check", business_key="B-1", variables={"amount": 1200}).id


def _fetch(db, worker="w1", topics=TOPIC):
    with db.write() as s:
        return [(t.task.id, t.variables, t.business_key) for t in services.fetch_and_lock(s, worker, topics)]


def _ready(db, instance_id):
    with db.read() as s:
        return [t.element_id for t in services.tasks(s, instance_id=instance_id)]


def test_a_worker_locks_completes_and_the_process_runs_on(db, started):
    [(task_id, variables, business_key)] = _fetch(db)
    assert variables == {"amount": 1200} and business_key == "B-1"
    assert _fetch(db, "w2") == []  # locked for w1
    with pytest.raises(TaskNotReady, match="not locked by worker 'w2'"):
        with db.write() as s:
            services.complete_external_task(s, task_id, worker_id="w2", variables={})
    with db.write() as s:
        services.complete_external_task(s, task_id, worker_id="w1", variables={"budget_ok": True})
    assert _ready(db, started) == ["confirm"]
    with db.read() as s:
        assert services.instance(s, started).variables["budget_ok"] is True
        chain, report = replay.verify(s, started)
    assert report.ok, report


def test_an_expired_lock_lets_another_worker_take_the_task(db, started, frozen_clock):
    [(task_id, _, _)] = _fetch(db)
    frozen_clock.advance(timedelta(minutes=2))
    assert [t[0] for t in _fetch(db, "w2")] == [task_id]


def test_failures_count_down_retries_then_open_an_incident_that_can_be_retried(db, started, frozen_clock):
    [(task_id, _, _)] = _fetch(db)
    with db.write() as s:
        services.handle_external_failure(s, task_id, worker_id="w1", error_message="预算系统无响应",
                                         retries=1, retry_timeout=1000)
    assert _fetch(db) == []  # waits for the retry timeout
    frozen_clock.advance(timedelta(seconds=2))
    [(again, _, _)] = _fetch(db)
    with db.write() as s:
        services.handle_external_failure(s, again, worker_id="w1", error_message="预算系统无响应", retries=0)
    with db.read() as s:
        assert services.instance(s, started).status == "incident"
        (incident,) = services.incidents(s)
        assert incident.element_id == "check_budget" and "预算系统无响应" in incident.message
    assert _fetch(db) == []
    with db.write() as s:
        services.retry_incident(s, incident.id, user="admin")
    assert [t[0] for t in _fetch(db)] == [task_id]


def test_a_bpmn_error_is_caught_by_the_boundary_event_with_its_code_and_message(db, started):
    [(task_id, _, _)] = _fetch(db)
    with db.write() as s:
        services.handle_bpmn_error(s, task_id, worker_id="w1", error_code="OVER_BUDGET",
                                   error_message="超出批复概算 12%", variables={"overrun": 0.12})
    assert _ready(db, started) == ["explain_overrun"]
    with db.read() as s:
        variables = services.instance(s, started).variables
        chain, report = replay.verify(s, started)
    assert variables["error_code"] == "OVER_BUDGET" and variables["error_message"] == "超出批复概算 12%"
    assert variables["overrun"] == 0.12
    assert report.ok, report
