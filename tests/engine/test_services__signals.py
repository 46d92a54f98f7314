"""A signal reaches every instance waiting for it and starts every process that starts with it."""
from conftest import deploy_files
from engine import replay, services


def _elements(db, **filters):
    with db.read() as s:
        return sorted(t.element_id for t in services.tasks(s, **filters))


def test_a_signal_reaches_every_waiting_instance_and_starts_its_processes(db, frozen_clock):
    deploy_files(db, "signals.bpmn")
    with db.write() as s:
        waiting = [services.start_process(s, "await_policy", business_key=f"A-{n}").id for n in range(3)]
    with db.write() as s:
        reached = services.broadcast_signal(s, "policy_changed", variables={"policy": "2027 新规"}, user="office1")
    assert sorted(reached)[:3] == waiting and len(reached) == 4  # three waiting, one started
    assert _elements(db, groups=["office"]) == ["reassess"] * 3
    assert _elements(db, groups=["government"]) == ["review_policy"]
    with db.read() as s:
        assert services.instance(s, waiting[0]).variables["policy"] == "2027 新规"
        for instance_id in reached:
            chain, report = replay.verify(s, instance_id)
            assert chain.ok and report.ok, report


def test_a_signal_nobody_waits_for_reaches_nobody_quietly(db, frozen_clock):
    deploy_files(db, "signals.bpmn")
    with db.write() as s:
        assert services.broadcast_signal(s, "nobody_listens") == []


def test_a_signal_end_event_is_broadcast_by_the_engine(db, frozen_clock):
    deploy_files(db, "signals.bpmn")
    with db.write() as s:
        waiting = services.start_process(s, "after_review", business_key="W-1").id
    with db.write() as s:
        (started,) = services.broadcast_signal(s, "policy_changed")
    with db.read() as s:
        (task,) = services.tasks(s, instance_id=started)
        assert _elements(db, groups=["office"]) == []
    with db.write() as s:
        services.complete_task(s, task.id, user="gov", data={}, check_access=False)
        assert services.instance(s, started).status == "completed"
    assert _elements(db, groups=["office"]) == ["publish"]  # `announce` signalled policy_reviewed
    with db.read() as s:
        chain, report = replay.verify(s, waiting)
        assert chain.ok and report.ok, report
