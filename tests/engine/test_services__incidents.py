"""Failures at run time: engine work (a timer) that fails opens an incident and keeps the last wait;
a failure in a user's own request is the user's error and saves nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import deploy_files
from engine import history, services
from engine.errors import ExecutionError
from engine.models import HistoryEvent, Incident, ProcessInstance, UserTask

@pytest.fixture
def fragile(db, frozen_clock):
    deploy_files(db, "fragile.bpmn", "fragile_user.bpmn")
    return db


def start(db, key: str = "fragile", **variables) -> int:
    with db.write() as session:
        return services.start_process(session, key, business_key="F-1", variables=variables, user="bob").id


def failed_after_timer(db, clock_) -> tuple[int, tuple[int, str]]:
    """Start fragile without `score`, let its timer fire; return the instance id and its
    (revision, saved state) at the timer wait."""
    instance_id = start(db)
    with db.read() as session:
        row = session.get(ProcessInstance, instance_id)
        at_wait = (row.revision, row.state)
    clock_.advance(timedelta(minutes=11))
    assert services.fire_due_timers(db) == 1
    return instance_id, at_wait


def open_incidents(session, instance_id: int) -> list[Incident]:
    return list(session.scalars(select(Incident).where(Incident.instance_id == instance_id,
                                                       Incident.resolved_at.is_(None))))


def test_failing_timer_work_sets_the_instance_to_incident(fragile, frozen_clock):
    instance_id, _ = failed_after_timer(fragile, frozen_clock)
    with fragile.read() as session:
        assert session.get(ProcessInstance, instance_id).status == "incident"
        assert len(open_incidents(session, instance_id)) == 1


def test_incident_names_the_gateway_and_the_unknown_variable(fragile, frozen_clock):
    instance_id, _ = failed_after_timer(fragile, frozen_clock)
    with fragile.read() as session:
        [incident] = open_incidents(session, instance_id)
        assert (incident.element_id, incident.kind) == ("score_gateway", "timer")
        assert "unknown variable 'score'" in incident.message
        assert "score_gateway" in incident.message


def test_incident_keeps_the_state_at_the_last_wait(fragile, frozen_clock):
    instance_id, at_wait = failed_after_timer(fragile, frozen_clock)
    with fragile.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert (row.revision, row.state) == at_wait  # the saved state is the one of the timer wait
        assert services.tasks(session, instance_id=instance_id) == []
        assert session.scalar(select(func.count()).select_from(UserTask)
                              .where(UserTask.instance_id == instance_id)) == 0


def test_retry_after_setting_the_variable_offers_high_and_resolves_the_incident(fragile, frozen_clock):
    instance_id, _ = failed_after_timer(fragile, frozen_clock)
    with fragile.read() as session:
        [incident] = open_incidents(session, instance_id)
    with fragile.write() as session:
        services.set_variables(session, instance_id, {"score": 20}, user="admin")
    with fragile.write() as session:
        assert session.get(ProcessInstance, instance_id).status == "incident"  # until retried
        services.retry_incident(session, incident.id, user="admin")
    with fragile.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert row.status == "running"
        assert [t.element_id for t in services.tasks(session, instance_id=instance_id)] == ["high"]
        assert open_incidents(session, instance_id) == []
        resolved = session.get(Incident, incident.id)
        assert resolved.resolved_at is not None and resolved.resolved_by == "admin"
        assert row.variables["score"] == 20


def test_history_chain_still_verifies_after_incident_fix_and_retry(fragile, frozen_clock):
    instance_id, _ = failed_after_timer(fragile, frozen_clock)
    with fragile.read() as session:
        [incident] = open_incidents(session, instance_id)
    with fragile.write() as session:
        services.set_variables(session, instance_id, {"score": 20}, user="admin")
    with fragile.write() as session:
        services.retry_incident(session, incident.id, user="admin")
    with fragile.read() as session:
        row = session.get(ProcessInstance, instance_id)
        report = history.verify_instance_chain(session, row)
        assert report.ok, str(report)
        types = [e["type"] for e in history.events_of(session, instance_id)]
        assert types[0] == "instance_started"
        assert "incident" in types and "variables_changed" in types
        assert report.events == row.history_count == len(types)


def test_gateway_failure_in_a_users_request_raises_and_saves_nothing(fragile, frozen_clock):
    instance_id = start(fragile, "fragile_user")
    with fragile.read() as session:
        [task] = services.tasks(session, instance_id=instance_id)
        row = session.get(ProcessInstance, instance_id)
        before = (row.status, row.revision, row.history_count, row.history_head, row.variables)
        events_before = session.scalar(select(func.count()).select_from(HistoryEvent))
    with fragile.write() as session:  # the caller catches the error and commits: still nothing saved
        with pytest.raises(ExecutionError) as caught:
            services.complete_task(session, task.id, user="olga", groups=["office"], data={"note": "no score"})
    assert caught.value.element_id == "score_gateway"
    assert "score_gateway" in str(caught.value) and "score" in str(caught.value)
    with fragile.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert (row.status, row.revision, row.history_count, row.history_head, row.variables) == before
        assert session.get(UserTask, task.id).state == "ready"
        assert session.get(UserTask, task.id).completed_by is None
        assert session.scalar(select(func.count()).select_from(HistoryEvent)) == events_before
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


def test_after_a_failed_request_the_task_can_be_completed_with_good_data(fragile, frozen_clock):
    instance_id = start(fragile, "fragile_user")
    with fragile.read() as session:
        [task] = services.tasks(session, instance_id=instance_id)
    with pytest.raises(ExecutionError):
        with fragile.write() as session:
            services.complete_task(session, task.id, user="olga", groups=["office"], data={})
    with fragile.write() as session:
        services.complete_task(session, task.id, user="olga", groups=["office"], data={"score": 3})
    with fragile.read() as session:
        assert [t.element_id for t in services.tasks(session, instance_id=instance_id)] == ["low"]
        assert session.get(UserTask, task.id).completed_by == "olga"
        assert history.verify_instance_chain(session, session.get(ProcessInstance, instance_id)).ok
