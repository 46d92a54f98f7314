"""The timer scheduler: its job fires due timers, survives a failing run, and the real background
scheduler fires a due timer on its own."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import deploy_files
from engine import scheduler, services
from engine.models import ProcessInstance, Timer


@pytest.fixture
def waiting(db, frozen_clock):
    """A `waits` instance whose one-hour cooling-off timer is due (the clock moved two hours)."""
    deploy_files(db, "waits.bpmn")
    with db.write() as session:
        instance_id = services.start_process(session, "waits", business_key="W-1").id
    frozen_clock.advance(timedelta(hours=2))
    return instance_id


def timer_state(db, instance_id: int) -> str:
    with db.read() as session:
        return session.scalars(select(Timer.state).where(Timer.instance_id == instance_id,
                                                         Timer.element_id == "cooling_off")).one()


def test_the_job_fires_the_due_timer(db, waiting):
    assert scheduler.fire_due_timers_job(db) == 1
    assert timer_state(db, waiting) == "fired"
    with db.read() as session:
        assert session.get(ProcessInstance, waiting).status == "waiting"  # now for the message
    assert scheduler.fire_due_timers_job(db) == 0


def test_the_job_logs_a_failure_and_returns(db, monkeypatch, caplog):
    def broken(_db):
        raise RuntimeError("database went away")
    monkeypatch.setattr(services, "fire_due_timers", broken)
    with caplog.at_level(logging.ERROR, logger="engine.scheduler"):
        assert scheduler.fire_due_timers_job(db) == 0
    assert "firing due timers failed" in caplog.text and "database went away" in caplog.text


def test_the_background_scheduler_fires_a_due_timer(db, waiting):
    running = scheduler.start_scheduler(db, interval_seconds=0.2)
    try:
        job = running.get_job(scheduler.DUE_TIMERS_JOB)
        assert (job.max_instances, job.coalesce) == (1, True)
        deadline = time.monotonic() + 10
        while timer_state(db, waiting) != "fired" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        running.shutdown(wait=True)
    assert timer_state(db, waiting) == "fired"
