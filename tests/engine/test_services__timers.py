"""Timers of waits.bpmn: scheduled from the engine clock, fired when due and not before, boundary
timers interrupting their task, and several schedulers firing each timer once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import deploy_files
from engine import clock, history, services
from engine.models import Incident, MessageSubscription, ProcessInstance, Timer, UserTask

@pytest.fixture
def waits(db, frozen_clock):
    deploy_files(db, "waits.bpmn")
    return db


def start(db, business_key: str = "W-1") -> int:
    with db.write() as session:
        return services.start_process(session, "waits", business_key=business_key, user="bob").id


def timers(db, instance_id: int) -> list[tuple[str, str]]:
    with db.read() as session:
        return [(t.element_id, t.state) for t in session.scalars(
            select(Timer).where(Timer.instance_id == instance_id).order_by(Timer.id))]


def subscriptions(db, instance_id: int) -> list[tuple[str, str, str]]:
    with db.read() as session:
        return [(s.message_name, s.element_id, s.business_key) for s in session.scalars(
            select(MessageSubscription).where(MessageSubscription.instance_id == instance_id))]


def open_incidents(db, instance_id: int) -> list[str]:
    with db.read() as session:
        return [i.message for i in session.scalars(select(Incident).where(
            Incident.instance_id == instance_id, Incident.resolved_at.is_(None)))]


def test_start_schedules_the_cooling_off_timer_one_hour_later(waits):
    instance_id = start(waits)
    with waits.read() as session:
        [timer] = session.scalars(select(Timer).where(Timer.instance_id == instance_id))
        assert (timer.element_id, timer.state, timer.fired_at) == ("cooling_off", "waiting", None)
        assert clock.aware(timer.due_at) == clock.now() + timedelta(hours=1)
        row = session.get(ProcessInstance, instance_id)
        assert row.status == "waiting"
        assert services.tasks(session, instance_id=instance_id) == []


def test_timer_that_is_not_due_does_not_fire(waits, frozen_clock):
    instance_id = start(waits)
    assert services.fire_due_timers(waits) == 0
    frozen_clock.advance(timedelta(minutes=59, seconds=59))
    assert services.fire_due_timers(waits) == 0
    assert timers(waits, instance_id) == [("cooling_off", "waiting")]
    assert subscriptions(waits, instance_id) == []


def test_due_timer_fires_and_the_instance_then_waits_for_the_reply_message(waits, frozen_clock):
    instance_id = start(waits, "W-7")
    frozen_clock.advance(timedelta(hours=1, seconds=1))
    assert services.fire_due_timers(waits) == 1
    assert open_incidents(waits, instance_id) == []
    assert timers(waits, instance_id) == [("cooling_off", "fired")]
    assert subscriptions(waits, instance_id) == [("reply", "await_reply", "W-7")]
    with waits.read() as session:
        assert session.get(ProcessInstance, instance_id).status == "waiting"
        fired = [e for e in history.events_of(session, instance_id) if e["type"] == "timer_fired"]
        assert [e["element_id"] for e in fired] == ["cooling_off"]
    assert services.fire_due_timers(waits) == 0  # fired once, not again


def test_boundary_timer_after_two_days_cancels_decide_and_offers_escalate(waits, frozen_clock):
    instance_id = start(waits, "W-8")
    frozen_clock.advance(timedelta(hours=1, seconds=1))
    services.fire_due_timers(waits)
    with waits.write() as session:
        services.correlate_message(session, "reply", business_key="W-8", variables={"answer": "later"})
    with waits.read() as session:
        [decide] = services.tasks(session, instance_id=instance_id)
        assert decide.element_id == "decide"
    assert ("decide_overdue", "waiting") in timers(waits, instance_id)

    frozen_clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert services.fire_due_timers(waits) == 0
    frozen_clock.advance(timedelta(seconds=2))
    assert services.fire_due_timers(waits) == 1
    assert open_incidents(waits, instance_id) == []
    with waits.read() as session:
        assert session.get(UserTask, decide.id).state == "cancelled"
        assert [t.element_id for t in services.tasks(session, instance_id=instance_id)] == ["escalate"]
        assert [t.candidate_groups for t in services.tasks(session, instance_id=instance_id)] == [["drc"]]
        types = [(e["type"], e["element_id"]) for e in history.events_of(session, instance_id)]
        assert ("task_cancelled", "decide") in types
    assert ("decide_overdue", "fired") in timers(waits, instance_id)


@pytest.mark.postgres_only
def test_two_schedulers_racing_fire_every_timer_exactly_once(waits, frozen_clock):
    ids = [start(waits, f"W-{n}") for n in range(10)]
    frozen_clock.advance(timedelta(hours=1, seconds=1))
    barrier = threading.Barrier(2)

    def scheduler():
        barrier.wait(timeout=30)
        return services.fire_due_timers(waits)

    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = [f.result(timeout=120) for f in [pool.submit(scheduler) for _ in range(2)]]
    assert sum(counts) == 10
    with waits.read() as session:
        for instance_id in ids:
            events = history.events_of(session, instance_id)
            assert [e["type"] for e in events].count("timer_fired") == 1, instance_id
            assert session.get(ProcessInstance, instance_id).status == "waiting"
            assert history.verify_instance_chain(session, session.get(ProcessInstance, instance_id)).ok
    for instance_id in ids:
        assert timers(waits, instance_id) == [("cooling_off", "fired")]
        assert [s[0] for s in subscriptions(waits, instance_id)] == ["reply"]
        assert open_incidents(waits, instance_id) == []
