"""timeCycle inside instances as Camunda 7 computes it: Quartz cron in local time, and a
repeating interval firing its count of times on a non-interrupting boundary event."""
from datetime import datetime, timedelta

from sqlalchemy import select

from conftest import deploy_files
from engine import clock, replay, services
from engine.models import Timer


def _elements(db, instance_id):
    with db.read() as s:
        return sorted(t.element_id for t in services.tasks(s, instance_id=instance_id))


def _waiting_timer(db, instance_id):
    with db.read() as s:
        return s.scalars(select(Timer).where(Timer.instance_id == instance_id, Timer.state == "waiting")).all()


def test_cron_waits_for_the_next_workday_morning_and_a_cycle_reminds_three_times(db, frozen_clock):
    deploy_files(db, "reminders.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "reminders").id
    (cron,) = _waiting_timer(db, instance_id)
    assert cron.due_at == datetime(2026, 3, 3, 9, 0, tzinfo=clock.local_zone())  # Monday 09:00 → Tuesday 09:00
    frozen_clock.set_time(datetime(2026, 3, 3, 9, 0, 1))
    assert services.fire_due_timers(db) == 1
    assert _elements(db, instance_id) == ["reply"]
    for day in (1, 2, 3, 4):
        frozen_clock.advance(timedelta(days=1))
        services.fire_due_timers(db)
    assert _elements(db, instance_id) == ["remind", "remind", "remind", "reply"]  # R3: three reminders, reply stays
    assert _waiting_timer(db, instance_id) == []
    with db.read() as s:
        chain, report = replay.verify(s, instance_id)
    assert report.ok, report
