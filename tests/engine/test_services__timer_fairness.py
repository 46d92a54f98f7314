"""Due timers of suspended instances never hold back the timers of running ones."""
from datetime import timedelta

from conftest import deploy_files
from engine import services


def test_many_suspended_instances_do_not_starve_a_running_instances_timer(db, frozen_clock):
    deploy_files(db, "waits.bpmn")
    with db.write() as s:
        suspended = [services.start_process(s, "waits", business_key=f"S-{n}").id for n in range(25)]
        running = services.start_process(s, "waits", business_key="R-1").id
    for instance_id in suspended:
        with db.write() as s:
            services.suspend(s, instance_id, user="admin", reason="test")
    frozen_clock.advance(timedelta(hours=2))
    assert services.fire_due_timers(db) == 1
    with db.read() as s:
        assert services.instance(s, running).waits[0][0] == "message"
        assert all(services.instance(s, i).status == "suspended" for i in suspended)
