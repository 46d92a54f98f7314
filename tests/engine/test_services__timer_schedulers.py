"""Two schedulers on one database (two `dalad serve` processes each run one): every occurrence of
a timer start cycle fires once, at its time, none early, none twice, none skipped; the history
records each occurrence's due time and `audit.verify_timer_occurrences` proves it from there.
Real threads, each scheduler with its own connections; the race matters on PostgreSQL (SQLite
queues writers on its database lock)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from conftest import deploy_files
from engine import audit, clock, services
from engine.models import HistoryEvent, ProcessInstance, Timer

OCCURRENCES = 24
FIRST = datetime(2026, 3, 2, 10, 0)  # hourly.bpmn: R/2026-03-02T10:00:00/PT1H


def two_schedulers_at_once(db) -> list[int]:
    barrier, fired = threading.Barrier(2), [0, 0]

    def scheduler(i):
        barrier.wait(timeout=30)
        fired[i] = services.fire_due_timers(db)

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return fired


def recorded_dues(session) -> list[datetime]:
    dues = []
    for body in session.scalars(select(HistoryEvent.body).where(HistoryEvent.type == "instance_started")):
        data = json.loads(body)["data"]
        if data.get("timer") is not None:
            dues.append(clock.aware(datetime.fromisoformat(data["due"])))
    return sorted(dues)


def test_each_occurrence_of_a_start_cycle_fires_once_with_two_schedulers(db, frozen_clock):
    deploy_files(db, "hourly.bpmn")
    for hour in range(OCCURRENCES):
        frozen_clock.set_time(FIRST + timedelta(hours=hour, seconds=1))  # due, the next one not yet
        fired = two_schedulers_at_once(db)
        assert sum(fired) == 1, (hour, fired)
    expected = [clock.aware(FIRST + timedelta(hours=h)) for h in range(OCCURRENCES)]
    with db.read() as session:
        assert session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1)) == OCCURRENCES
        assert recorded_dues(session) == expected
        (timer,) = session.scalars(select(Timer).where(Timer.instance_id.is_(None)))
        assert (timer.state, timer.fire_count) == ("waiting", OCCURRENCES)
        assert timer.due_at == clock.aware(FIRST + timedelta(hours=OCCURRENCES))
        report = audit.verify_timer_occurrences(session)
        assert report.ok, report
        assert str(report) == f"timer occurrences: OK ({OCCURRENCES} occurrences of 1 timer, each fired once)"


def test_verify_finds_an_occurrence_fired_twice_or_skipped(db, frozen_clock):
    deploy_files(db, "hourly.bpmn")
    for hour in (0, 1, 2):
        frozen_clock.set_time(FIRST + timedelta(hours=hour, seconds=1))
        assert services.fire_due_timers(db) == 1
    with db.write() as session:  # a second scheduler fired 11:00 again, as the issue saw it
        (timer,) = session.scalars(select(Timer).where(Timer.instance_id.is_(None)))
        session.execute(update(Timer).where(Timer.id == timer.id)
                        .values(due_at=clock.aware(FIRST + timedelta(hours=1))))
    frozen_clock.set_time(FIRST + timedelta(hours=2, seconds=2))
    assert services.fire_due_timers(db) == 2  # 11:00 and 12:00 once more
    with db.read() as session:
        report = audit.verify_timer_occurrences(session)
        assert not report.ok
        assert "fired 2 times for 2026-03-02 11:00:00" in str(report)
    with db.write() as session:  # and 13:00 goes missing: the timer jumps to 14:00
        session.execute(update(Timer).where(Timer.id == timer.id)
                        .values(due_at=clock.aware(FIRST + timedelta(hours=4))))
    frozen_clock.set_time(FIRST + timedelta(hours=4, seconds=1))
    assert services.fire_due_timers(db) == 1
    with db.read() as session:
        assert "2026-03-02 13:00:00 never fired" in str(audit.verify_timer_occurrences(session))


@pytest.mark.postgres_only  # on SQLite a scheduler holds the database lock from its first read
def test_an_occurrence_another_scheduler_fired_after_this_one_saw_it_is_not_fired_again(db, frozen_clock):
    """The interleaving the issue met under load, made certain: scheduler B lists the due timer,
    then scheduler A fires it and commits, then B takes the lock. B must see that the occurrence
    it listed is gone (the timer now waits for 11:00) and fire nothing."""
    deploy_files(db, "hourly.bpmn")
    frozen_clock.set_time(FIRST + timedelta(seconds=1))
    b_thread, other = threading.current_thread(), {}

    def before_lock(conn, cursor, statement, parameters, context, executemany):
        if (threading.current_thread() is b_thread and "FOR UPDATE SKIP LOCKED" in statement
                and "FROM timer" in statement and "a" not in other):
            a = threading.Thread(target=lambda: other.setdefault("a", services.fire_due_timers(db)))
            a.start()
            a.join(timeout=60)

    event.listen(db.engine, "before_cursor_execute", before_lock)
    try:
        b_fired = services.fire_due_timers(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", before_lock)
    assert (other["a"], b_fired) == (1, 0)
    with db.read() as session:
        assert recorded_dues(session) == [clock.aware(FIRST)]
        (timer,) = session.scalars(select(Timer).where(Timer.instance_id.is_(None)))
        assert (timer.fire_count, timer.due_at) == (1, clock.aware(FIRST + timedelta(hours=1)))
        assert audit.verify_timer_occurrences(session).ok
