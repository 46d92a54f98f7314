"""Event subprocesses start on their message or signal: a non-interrupting one runs beside the
process each time, an interrupting one cancels what the process was doing; replayed from history."""
import pytest

from conftest import DIAGRAMS, deploy_files
from engine import replay, services
from engine.definitions import BundleFile
from engine.errors import CorrelationError, DefinitionInvalid


def _ready(db, instance_id):
    with db.read() as s:
        return sorted((t.element_id, t.id) for t in services.tasks(s, instance_id=instance_id))


def _complete(db, instance_id, element):
    with db.write() as s:
        services.complete_task(s, dict(_ready(db, instance_id))[element], user="u", data={}, check_access=False)


def _message(db, name, **variables):
    with db.write() as s:
        services.correlate_message(s, name, business_key="P-1", variables=variables)


def _start(db):
    deploy_files(db, "event_subprocess.bpmn")
    with db.write() as s:
        return services.start_process(s, "event_subprocess", business_key="P-1").id


def _verified(db, instance_id):
    with db.read() as s:
        chain, report = replay.verify(s, instance_id)
        return chain.ok and report.ok, services.instance(s, instance_id)


def test_a_non_interrupting_event_subprocess_runs_beside_the_process_each_time(db, frozen_clock):
    instance_id = _start(db)
    assert [e for e, _ in _ready(db, instance_id)] == ["build"]
    _message(db, "inquiry", question="进度如何")
    _message(db, "inquiry", question="何时验收")
    assert [e for e, _ in _ready(db, instance_id)] == ["answer_inquiry", "answer_inquiry", "build"]
    for element in ("answer_inquiry", "answer_inquiry", "build"):
        _complete(db, instance_id, element)
    ok, row = _verified(db, instance_id)
    assert ok and row.status == "completed"


def test_an_interrupting_event_subprocess_cancels_the_work_in_hand(db, frozen_clock):
    instance_id = _start(db)
    _message(db, "project_terminated", reason="整改逾期")
    assert [e for e, _ in _ready(db, instance_id)] == ["close_project"]
    with pytest.raises(CorrelationError):  # it ran: the process no longer waits for it
        _message(db, "project_terminated")
    with pytest.raises(CorrelationError):  # nor for the other event subprocesses: it was taken over
        _message(db, "inquiry", question="还在吗")
    _complete(db, instance_id, "close_project")
    ok, row = _verified(db, instance_id)
    assert ok and row.status == "completed" and row.variables["reason"] == "整改逾期"


def test_an_event_subprocess_started_by_a_condition_is_refused_at_deploy(db):
    source = (DIAGRAMS / "event_subprocess.bpmn").read_text(encoding="utf-8").replace(
        '<bpmn:messageEventDefinition id="M9" messageRef="Message_terminate" />',
        '<bpmn:conditionalEventDefinition id="C9"><bpmn:condition>${late}</bpmn:condition>'
        '</bpmn:conditionalEventDefinition>')
    with pytest.raises(DefinitionInvalid, match=r"element 'on_termination' \(subProcess\): an event subprocess "
                                                r"must start on a message, a signal, a timer, an error or an "
                                                r"escalation \(here: conditional\)"):
        with db.write() as s:
            services.deploy(s, [BundleFile("event_subprocess.bpmn", source.encode())], name="x")
