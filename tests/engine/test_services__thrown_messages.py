"""A message end event reaches the instance whose business key its `businessKey` input names,
carrying its other input parameters as variables; one that reaches nobody fails visibly."""
import pytest

from conftest import deploy_files
from engine import replay, services
from engine.errors import ExecutionError


def _start(db, key, business_key, **variables):
    with db.write() as s:
        return services.start_process(s, key, business_key=business_key, variables=variables).id


def _complete_only_task(db, instance_id):
    with db.read() as s:
        (task,) = services.tasks(s, instance_id=instance_id)
    with db.write() as s:
        services.complete_task(s, task.id, user="office1", data={}, check_access=False)


def test_a_message_end_event_suspends_the_project_it_names(db, frozen_clock):
    deploy_files(db, "rectification.bpmn", "suspendable.bpmn")
    project = _start(db, "suspendable", "P-7")
    other = _start(db, "suspendable", "P-8")
    order = _start(db, "rectification", "R-1", project_code="P-7", reason="进度严重滞后")
    _complete_only_task(db, order)
    with db.read() as s:
        assert [t.element_id for t in services.tasks(s, instance_id=project)] == ["wait_resumption"]
        assert [t.element_id for t in services.tasks(s, instance_id=other)] == ["build"]
        assert services.instance(s, project).variables["suspension_reason"] == "进度严重滞后"
        assert services.instance(s, order).status == "completed"
        for instance_id in (project, order):
            chain, report = replay.verify(s, instance_id)
            assert chain.ok and report.ok, report


def test_a_thrown_message_that_reaches_nobody_fails_the_completion_and_keeps_the_task(db, frozen_clock):
    deploy_files(db, "rectification.bpmn", "suspendable.bpmn")
    order = _start(db, "rectification", "R-2", project_code="P-404", reason="x")
    with pytest.raises(ExecutionError, match="order_suspension.*project_suspended"):
        _complete_only_task(db, order)
    with db.read() as s:
        assert [t.element_id for t in services.tasks(s, instance_id=order)] == ["decide"]
