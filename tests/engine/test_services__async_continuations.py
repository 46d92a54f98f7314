"""camunda:asyncAfter / asyncBefore: the official's completion commits at the boundary and the
scheduler goes on in a transaction of its own, so a failing step opens an incident instead of
rolling back what the official submitted."""
from sqlalchemy import select

from conftest import deploy_files
from engine import replay, services
from engine.models import Timer


def _start_and_submit(db, **submitted):
    deploy_files(db, "async_steps.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "async_steps", variables={"budget": 100}).id
    with db.read() as s:
        (task,) = services.tasks(s, instance_id=instance_id)
    with db.write() as s:
        services.complete_task(s, task.id, user="edu1", data=submitted, check_access=False)
    return instance_id


def _jobs(db, instance_id):
    with db.read() as s:
        return [(j.element_id, j.phase) for j in s.scalars(select(Timer).where(
            Timer.instance_id == instance_id, Timer.kind == "job", Timer.state == "waiting"))]


def _ready(db, instance_id):
    with db.read() as s:
        return [t.element_id for t in services.tasks(s, instance_id=instance_id)]


def test_the_completion_commits_and_the_jobs_carry_the_process_on(db, frozen_clock):
    instance_id = _start_and_submit(db, spent=40)
    assert _jobs(db, instance_id) == [("submit", "after")] and _ready(db, instance_id) == []
    assert services.fire_due_timers(db) == 2  # after 'submit', then before 'compute'
    assert _ready(db, instance_id) == ["review"]
    with db.read() as s:
        assert services.instance(s, instance_id).variables["ratio"] == 0.4
        chain, report = replay.verify(s, instance_id)
    assert report.ok, report


def test_a_failing_step_after_the_boundary_is_an_incident_and_the_submission_stays(db, frozen_clock):
    instance_id = _start_and_submit(db, spent="四十")  # the script cannot divide text
    services.fire_due_timers(db)
    with db.read() as s:
        row = services.instance(s, instance_id)
        (incident,) = services.incidents(s)
        assert row.status == "incident" and row.variables["spent"] == "四十"
        assert incident.element_id == "compute"
    with db.write() as s:
        services.set_variables(s, instance_id, {"spent": 40}, user="admin")
    with db.write() as s:
        services.retry_incident(s, incident.id, user="admin")
    assert _ready(db, instance_id) == ["review"]
    with db.read() as s:
        chain, report = replay.verify(s, instance_id)
    assert report.ok, report
