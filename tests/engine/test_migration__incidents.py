"""An incident caused by a faulty diagram is retried after deploying a corrected version and
migrating the instance to it; the replay re-executes the whole story."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from conftest import DIAGRAMS, deploy_files
from engine import migration, replay, services
from engine.definitions import BundleFile
from engine.models import Incident, ProcessInstance

CORRECTED = (DIAGRAMS / "fragile.bpmn").read_bytes().replace(b"${score &gt; 10}", b"${1 &gt; 10}") \
    .replace(b"${score &lt;= 10}", b"${1 &lt;= 10}")


def test_incident_retried_after_a_corrected_version_and_a_migration(db, frozen_clock):
    deploy_files(db, "fragile.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "fragile", business_key="F-1").id
    frozen_clock.advance(timedelta(minutes=11))
    assert services.fire_due_timers(db) == 1
    with db.read() as s:
        [incident] = s.scalars(select(Incident).where(Incident.instance_id == instance_id))
        assert s.get(ProcessInstance, instance_id).status == "incident"

    with db.write() as s:
        result = services.deploy(s, [BundleFile("fragile.bpmn", CORRECTED)], name="fix", user="admin_zhou")
        v2 = next(i.id for i in result.items if i.key == "fragile")
    with db.write() as s:
        row = migration.migrate(s, instance_id, v2, user="admin_zhou")
        assert row.status == "incident"  # moved, still waiting for the administrator's retry
    with db.write() as s:
        services.retry_incident(s, incident.id, user="admin_zhou")

    with db.read() as s:
        row = s.get(ProcessInstance, instance_id)
        assert row.status == "running"
        assert [t.element_id for t in services.tasks(s, instance_id=instance_id)] == ["low"]
        assert s.get(Incident, incident.id).resolved_by == "admin_zhou"
        chain, report = replay.verify(s, instance_id)
    assert chain.ok and report.ok, report
