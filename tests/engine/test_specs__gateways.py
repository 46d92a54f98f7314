"""Flows as Camunda 7 runs them: several outgoing flows of a task split (conditional ones only
when their condition holds), and an inclusive gateway's flow without condition is taken."""
from conftest import deploy_files
from engine import replay, services


def _ready(db, instance_id):
    with db.read() as s:
        return sorted((t.element_id, t.id) for t in services.tasks(s, instance_id=instance_id))


def _complete(db, instance_id, element):
    task_id = dict(_ready(db, instance_id))[element]
    with db.write() as s:
        services.complete_task(s, task_id, user="u", data={}, check_access=False)


def test_a_task_with_several_outgoing_flows_splits_and_conditions_are_honoured(db, frozen_clock):
    deploy_files(db, "uncontrolled_flow.bpmn")
    with db.write() as s:
        high = services.start_process(s, "uncontrolled_flow", variables={"x": 10}).id
        low = services.start_process(s, "uncontrolled_flow", variables={"x": 1}).id
    _complete(db, high, "a")
    _complete(db, low, "a")
    assert [e for e, _ in _ready(db, high)] == ["b", "c", "d"]  # x > 5 holds
    assert [e for e, _ in _ready(db, low)] == ["b", "c"]


def test_an_inclusive_gateway_takes_every_flow_without_a_condition(db, frozen_clock):
    deploy_files(db, "uncontrolled_flow.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "uncontrolled_flow", variables={"x": 500}).id
    _complete(db, instance_id, "a")
    _complete(db, instance_id, "b")
    assert [e for e, _ in _ready(db, instance_id)] == ["c", "d", "e", "f"]
    for element in ("c", "d", "e", "f"):
        _complete(db, instance_id, element)
    with db.read() as s:
        assert services.instance(s, instance_id).status == "completed"
        chain, report = replay.verify(s, instance_id)
    assert report.ok, report
