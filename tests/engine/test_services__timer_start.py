"""Timer start events are the engine's: a definition-level timer starts instances on schedule,
only for the latest version, and a process started by hand does not also wait on its timer."""
from datetime import datetime, timedelta

from sqlalchemy import select

from conftest import DIAGRAMS, deploy_files
from engine import clock, replay, services
from engine.models import Timer


def _start_timers(s):
    return list(s.scalars(select(Timer).where(Timer.instance_id.is_(None)).order_by(Timer.id)))


def test_a_timer_start_event_starts_instances_on_its_cycle_then_stops(db, frozen_clock):
    deploy_files(db, "yearly.bpmn")
    with db.read() as s:
        (timer,) = _start_timers(s)
        assert timer.state == "waiting"
        assert timer.due_at == datetime(2026, 3, 3, 9, 0, tzinfo=clock.local_zone())
    assert services.fire_due_timers(db) == 0
    started = []
    for day in range(3):  # R2 with a start: the start itself, then two repetitions
        frozen_clock.set_time(datetime(2026, 3, 3 + day, 9, 0, 1))
        assert services.fire_due_timers(db) == 1
        with db.read() as s:
            offered = services.tasks(s, groups=["office"])
            started.append(len(offered))
    assert started == [1, 2, 3]
    frozen_clock.set_time(datetime(2026, 3, 10))
    assert services.fire_due_timers(db) == 0
    with db.read() as s:
        assert [t.state for t in _start_timers(s)] == ["fired"]
        for task in services.tasks(s, groups=["office"]):
            chain, report = replay.verify(s, task.instance_id)
            assert chain.ok and report.ok, report


def test_a_new_version_takes_over_the_timer_start(db, frozen_clock, tmp_path):
    deploy_files(db, "yearly.bpmn")
    changed = (tmp_path / "yearly.bpmn")
    source = (DIAGRAMS / "yearly.bpmn").read_text(encoding="utf-8")
    changed.write_text(source.replace("发布通知", "发布年度计划通知"), encoding="utf-8")
    from engine.definitions import BundleFile
    with db.write() as s:
        result = services.deploy(s, [BundleFile("yearly.bpmn", changed.read_bytes())], name="v2")
        assert result.items[0].version == 2
    with db.read() as s:
        timers = _start_timers(s)
        assert [t.state for t in timers] == ["cancelled", "waiting"]
        assert timers[1].definition_id == result.items[0].id
    frozen_clock.advance(timedelta(days=1, seconds=1))
    assert services.fire_due_timers(db) == 1
    with db.read() as s:
        (task,) = services.tasks(s, groups=["office"])
        assert task.name == "发布年度计划通知"


def test_a_process_started_by_hand_does_not_wait_on_its_timer_start(db, frozen_clock):
    deploy_files(db, "yearly.bpmn")
    with db.write() as s:
        row = services.start_process(s, "yearly", business_key="2027")
        assert row.waits == []
    with db.read() as s:
        assert len(s.scalars(select(Timer).where(Timer.instance_id == row.id)).all()) == 0
        assert [t.element_id for t in services.tasks(s, instance_id=row.id)] == ["open_call"]
