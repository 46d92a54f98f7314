"""Event subprocesses start on their message or signal: a non-interrupting one runs beside the
process each time, an interrupting one cancels what the process was doing; replayed from history."""
from datetime import timedelta

import pytest

from conftest import DIAGRAMS, deploy_files
from engine import instances, replay, services
from engine.definitions import BundleFile
from engine.errors import CorrelationError, DefinitionInvalid
from engine.models import ProcessInstance


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


def _state_size(db, instance_id) -> tuple[int, int, int]:
    """The tasks of the instance's state, those of its sub-workflows, and how many there are."""
    with db.read() as s:
        workflow = instances.stored_workflow(s, s.get(ProcessInstance, instance_id))
        return (len(workflow.tasks), sum(len(sp.tasks) for sp in workflow.subprocesses.values()),
                len(workflow.subprocesses))


def test_a_non_interrupting_message_event_subprocess_answered_twelve_times_does_not_grow_the_state(db, frozen_clock):
    """A project asked twelve times (a monthly inquiry for a year): each answered inquiry leaves the
    state once it has ended, as a timer cycle's rounds do, so the project's step costs the same in
    its twelfth month as in its first; the history still proves the whole."""
    instance_id = _start(db)
    sizes = []
    for month in range(12):
        _message(db, "inquiry", question=f"第{month + 1}个月进度如何")
        _complete(db, instance_id, "answer_inquiry")
        sizes.append(_state_size(db, instance_id))
    assert set(sizes) == {sizes[0]}, sizes
    _complete(db, instance_id, "build")
    ok, row = _verified(db, instance_id)
    assert ok and row.status == "completed" and row.variables["question"] == "第12个月进度如何"


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


# An hourly ping: a non-interrupting timer cycle event subprocess that notes it ran.
PING = """    <bpmn:subProcess id="ping" triggeredByEvent="true">
      <bpmn:startEvent id="every_hour" isInterrupting="false"><bpmn:outgoing>g1</bpmn:outgoing>
        <bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>
      </bpmn:startEvent>
      <bpmn:scriptTask id="note" scriptFormat="python"><bpmn:incoming>g1</bpmn:incoming>
        <bpmn:outgoing>g2</bpmn:outgoing><bpmn:script>pinged = True</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="pinged"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="g1" sourceRef="every_hour" targetRef="note"/>
      <bpmn:sequenceFlow id="g2" sourceRef="note" targetRef="pinged"/>
    </bpmn:subProcess>
"""

HOURLY = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D" targetNamespace="http://dalad.test">
  <bpmn:process id="hourly_ping" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" camunda:candidateGroups="office"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="e"/>
{PING}  </bpmn:process>
</bpmn:definitions>"""


def _pinged_twelve_hours(db, frozen_clock, source: str, process: str) -> None:
    """Deploy and start `process`, let its hourly ping run twelve times, then finish its work: the
    state does not grow with the occurrences, and the history proves the whole."""
    with db.write() as s:
        services.deploy(s, [BundleFile(f"{process}.bpmn", source.encode())], name="x")
    with db.write() as s:
        instance_id = services.start_process(s, process).id
    sizes = []
    for _hour in range(12):
        frozen_clock.advance(timedelta(hours=1))
        assert services.fire_due_timers(db) == 1
        with db.read() as s:
            workflow = instances.stored_workflow(s, s.get(ProcessInstance, instance_id))
            sizes.append((len(workflow.tasks), sum(len(sp.tasks) for sp in workflow.subprocesses.values()),
                          len(workflow.subprocesses)))
    assert set(sizes[1:]) == {sizes[1]}  # twelve occurrences, one kept: the state does not grow
    _complete(db, instance_id, "work")
    ok, row = _verified(db, instance_id)
    assert ok and row.status == "completed" and row.variables["pinged"] is True


def test_a_timer_cycle_event_subprocess_that_ran_to_its_end_leaves_no_trace_in_the_state(db, frozen_clock):
    _pinged_twelve_hours(db, frozen_clock, HOURLY, "hourly_ping")


HOURLY_IN_A_SUBPROCESS = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D" targetNamespace="http://dalad.test">
  <bpmn:process id="hourly_stage" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="stage"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="stage_start"><bpmn:outgoing>h1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="work" camunda:candidateGroups="office"><bpmn:incoming>h1</bpmn:incoming>
        <bpmn:outgoing>h2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="stage_end"><bpmn:incoming>h2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="h1" sourceRef="stage_start" targetRef="work"/>
      <bpmn:sequenceFlow id="h2" sourceRef="work" targetRef="stage_end"/>
{PING}    </bpmn:subProcess>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="stage"/>
    <bpmn:sequenceFlow id="f2" sourceRef="stage" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_timer_cycle_event_subprocess_in_a_subprocess_that_ran_to_its_end_leaves_no_trace_in_the_state(
        db, frozen_clock):
    _pinged_twelve_hours(db, frozen_clock, HOURLY_IN_A_SUBPROCESS, "hourly_stage")
