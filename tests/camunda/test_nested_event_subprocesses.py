"""Event subprocesses inside an embedded subprocess or a called process, as Camunda 7 runs them
(Camunda Modeler 5 files driven over REST, with the test clock): their scope is the subprocess or
the call. A timer starts and a message or signal subscription opens when the scope starts, and
both end with it; an interrupting one cancels only the rest of the scope, which then ends through
it, and the process goes on after the subprocess or call; a BPMN error thrown inside is caught by
the innermost catcher (a boundary event on the inner task, the scope's event subprocess, a
boundary event on the subprocess or call activity, the process's event subprocess). Every
instance's history replays. What still does not run is refused at deploy, naming file, line and
element."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import services
from test_camunda_patterns import HERE, error_of, modeler_deploy
from test_camunda_patterns import history_proves_every_instance, rest  # noqa: F401 (fixtures)
from test_camunda_patterns import complete, deploy, fetch, start, state, tasks, variables, work

KEY = "c7_nested_event_subprocesses"


def jobs(rest, instance_id: str, activity: str) -> list[dict]:
    return rest.as_("admin").get("/job", processInstanceId=instance_id, activityId=activity).get_json()


def activities(rest, instance_id: str) -> list[str]:
    tree = rest.as_("admin").get(f"/process-instance/{instance_id}/activity-instances").get_json()
    return sorted(a["activityId"] for a in tree["childActivityInstances"])


def ended(rest, instance_id: str) -> dict[str, bool]:
    """activity -> whether it was cancelled, for each activity instance that ended."""
    return {a["activityId"]: a["canceled"] for a in rest.as_("admin").get(
        "/history/activity-instance", processInstanceId=instance_id).get_json() if a["endTime"]}


def begin_review(rest, business_key: str = "P-1") -> str:
    """An instance whose review stage has started (its timer, message and signal start then)."""
    instance = start(rest, KEY, business_key=business_key, applicant="城建公司")
    complete(rest, tasks(rest, instance)["register"], "office")
    return instance


def test_the_timer_starts_with_the_subprocess_and_an_interrupting_one_ends_only_the_subprocess(rest, frozen_clock):
    deploy(rest, "nested_event_subprocesses.bpmn")
    instance = start(rest, KEY, business_key="P-1")
    assert jobs(rest, instance, "two_days_passed") == []  # the subprocess has not started yet
    frozen_clock.advance(timedelta(days=1))
    complete(rest, tasks(rest, instance)["register"], "office")
    [deadline] = jobs(rest, instance, "two_days_passed")
    assert deadline["dueDate"][:16] == "2026-03-05T09:00"  # two days after the subprocess started
    work(rest, "check_documents")
    assert activities(rest, instance) == ["review"]
    frozen_clock.advance(timedelta(days=2))
    response = rest.as_("admin").post(f"/job/{deadline['id']}/execute")
    assert response.status_code == 204, response.get_json()
    assert sorted(tasks(rest, instance)) == ["escalate_review"]  # review was cancelled, decide not reached
    assert activities(rest, instance) == ["escalate_review"]
    assert jobs(rest, instance, "two_days_passed") == []
    assert rest.as_("admin").post("/message", {"messageName": "documents_added", "businessKey": "P-1"}) \
        .status_code == 400  # the interrupting one closed the subprocess's subscriptions
    complete(rest, tasks(rest, instance)["escalate_review"], "office")
    assert sorted(tasks(rest, instance)) == ["decide"]  # the subprocess ended through it: the process goes on
    complete(rest, tasks(rest, instance)["decide"], "office")
    assert state(rest, instance) == "COMPLETED"
    done = ended(rest, instance)
    assert done["review"] is True and done["escalate_review"] is False and "handle_failure" not in done


def test_a_subprocess_that_ends_first_closes_its_event_subprocesses(rest, frozen_clock):
    deploy(rest, "nested_event_subprocesses.bpmn")
    instance = begin_review(rest)
    work(rest, "check_documents")
    complete(rest, tasks(rest, instance)["review"], "office")
    assert sorted(tasks(rest, instance)) == ["decide"]
    assert jobs(rest, instance, "two_days_passed") == []
    error_of(rest.as_("admin").post("/message", {"messageName": "documents_added", "businessKey": "P-1"}), 400,
             "RestException")
    assert rest.as_("admin").post("/signal", {"name": "works_paused"}).status_code == 204
    frozen_clock.advance(timedelta(days=3))
    assert services.fire_due_timers(rest.db) == 0
    assert sorted(tasks(rest, instance)) == ["decide"]
    complete(rest, tasks(rest, instance)["decide"], "office")
    assert state(rest, instance) == "COMPLETED"


def test_a_message_and_a_signal_start_non_interrupting_event_subprocesses_of_the_subprocess(rest):
    deploy(rest, "nested_event_subprocesses.bpmn")
    instance = start(rest, KEY, business_key="P-1")
    error_of(rest.as_("admin").post("/message", {"messageName": "documents_added", "businessKey": "P-1"}), 400,
             "RestException")  # no subscription before the subprocess starts
    complete(rest, tasks(rest, instance)["register"], "office")
    response = rest.as_("admin").post("/message", {"messageName": "documents_added", "businessKey": "P-1",
                                                   "processVariables": {"added": {"value": "site plan"}}})
    assert response.status_code == 204, response.get_json()
    assert rest.as_("admin").post("/signal", {"name": "works_paused"}).status_code == 204
    assert sorted(tasks(rest, instance)) == ["check_added_documents", "note_pause"]
    [check] = fetch(rest, "check_documents")  # still running beside them
    assert activities(rest, instance) == ["check_added_documents", "check_documents", "note_pause"]
    assert variables(rest, instance)["added"] == "site plan"
    complete(rest, tasks(rest, instance)["note_pause"], "office")
    response = rest.as_("admin").post(f"/external-task/{check['id']}/complete", {"workerId": "python-worker"})
    assert response.status_code == 204, response.get_json()
    complete(rest, tasks(rest, instance)["review"], "office")
    assert sorted(tasks(rest, instance)) == ["check_added_documents"]  # the subprocess waits for it
    complete(rest, tasks(rest, instance)["check_added_documents"], "office")
    assert sorted(tasks(rest, instance)) == ["decide"]
    complete(rest, tasks(rest, instance)["decide"], "office")
    assert state(rest, instance) == "COMPLETED"


def deploy_changed(rest, changes: list[tuple[str, str]]):
    """Deploy nested_event_subprocesses.bpmn with each (old, new) text replaced through the
    Modeler's call; the answer and the text deployed."""
    name = "nested_event_subprocesses.bpmn"
    source = (HERE / name).read_text(encoding="utf-8")
    for old, new in changes:
        assert old in source
        source = source.replace(old, new)
    return modeler_deploy(rest.as_("admin"), name, (name, source.encode())), source


def _bpmn_error(rest, code: str):
    [task] = fetch(rest, "check_documents")
    response = rest.as_("admin").post(f"/external-task/{task['id']}/bpmnError", {
        "workerId": "python-worker", "errorCode": code, "errorMessage": f"{code} by the worker"})
    assert response.status_code == 204, response.get_json()


@pytest.mark.parametrize("code, caught_by, then", [
    ("MISSING", "request_documents", "decide"),  # the boundary event on the inner task
    ("REJECTED", "record_rejection", "decide"),  # the subprocess's error event subprocess
    ("WITHDRAWN", "archive", None),  # the boundary event on the subprocess
    ("BROKEN", "handle_failure", None),  # the process's error event subprocess (catching every code)
])
def test_an_error_inside_the_subprocess_is_caught_by_the_innermost_catcher(rest, frozen_clock, code, caught_by, then):
    deploy(rest, "nested_event_subprocesses.bpmn")
    instance = begin_review(rest)
    _bpmn_error(rest, code)
    assert sorted(tasks(rest, instance)) == [caught_by]
    assert activities(rest, instance) == [caught_by]
    if caught_by == "request_documents":  # the subprocess goes on, with its timer
        assert len(jobs(rest, instance, "two_days_passed")) == 1
    else:  # the subprocess, or all but the error's event subprocess in it, is over: its timer too
        assert jobs(rest, instance, "two_days_passed") == []
    if caught_by == "record_rejection":
        assert variables(rest, instance)["rejection_code"] == "REJECTED"
    if caught_by == "handle_failure":
        assert variables(rest, instance)["failure_code"] == "BROKEN"
    complete(rest, tasks(rest, instance)[caught_by], "office")
    if then is not None:
        assert sorted(tasks(rest, instance)) == [then]
        complete(rest, tasks(rest, instance)[then], "office")
    assert state(rest, instance) == "COMPLETED"
    frozen_clock.advance(timedelta(days=3))
    assert services.fire_due_timers(rest.db) == 0


INSIDE_AN_EVENT_SUBPROCESS = """<bpmn:endEvent id="EndEvent_deadline">
          <bpmn:incoming>Flow_d2</bpmn:incoming>
        </bpmn:endEvent>
        <bpmn:subProcess id="deadline_reminder" triggeredByEvent="true">
          <bpmn:startEvent id="reminder_due"><bpmn:timerEventDefinition id="T_reminder">
            <bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>
        </bpmn:subProcess>"""


@pytest.mark.parametrize("changes, element, refusal", [
    ([('<bpmn:subProcess id="review_stage" name="Review stage">',
       '<bpmn:subProcess id="review_stage" name="Review stage">\n      <bpmn:standardLoopCharacteristics />')],
     "stage_deadline", "an event subprocess inside a multi-instance or loop subprocess ('review_stage') is not "
                       "supported yet; put it in a subprocess without loop characteristics, or at the process level"),
    ([("""<bpmn:endEvent id="EndEvent_deadline">
          <bpmn:incoming>Flow_d2</bpmn:incoming>
        </bpmn:endEvent>""", INSIDE_AN_EVENT_SUBPROCESS)], "deadline_reminder",
     "an event subprocess inside an event subprocess ('stage_deadline') is not supported; put it beside that one"),
    ([('<bpmn:subProcess id="review_stage" name="Review stage">',
       '<bpmn:adHocSubProcess id="review_stage" name="Review stage">'),
      ('    </bpmn:subProcess>\n    <bpmn:boundaryEvent id="application_withdrawn"',
       '    </bpmn:adHocSubProcess>\n    <bpmn:boundaryEvent id="application_withdrawn"')],
     "stage_deadline", "an event subprocess inside an ad-hoc subprocess is not supported yet; put it in an embedded "
                       "subprocess or at the process level"),
])
def test_what_does_not_run_in_a_subprocess_is_refused_at_deploy_naming_file_line_and_element(
        rest, changes, element, refusal):
    name = "nested_event_subprocesses.bpmn"
    response, changed = deploy_changed(rest, changes)
    message = error_of(response, 400, "ParseException")
    assert f"resource {name}" in message and refusal in message, message
    [error] = [e for e in response.get_json()["details"][name]["errors"] if e["mainElementId"] == element]
    assert changed.splitlines()[error["line"] - 1].strip().startswith(f'<bpmn:subProcess id="{element}"'), error
    assert rest.as_("admin").get("/process-definition").get_json() == []


CALLER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_caller" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.20.0">
  <bpmn:process id="c7_caller" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="call_it" calledElement="CALLED">
      <bpmn:extensionElements>
        <camunda:in variables="all" />
        <camunda:out variables="all" />
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:boundaryEvent id="call_rejected" attachedToRef="call_it">
      <bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:errorEventDefinition id="E_call" errorRef="Error_rejected" />
    </bpmn:boundaryEvent>
    <bpmn:userTask id="after_call" camunda:candidateGroups="office"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="caller_rejection" camunda:candidateGroups="office"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call_it" />
    <bpmn:sequenceFlow id="f2" sourceRef="call_it" targetRef="after_call" />
    <bpmn:sequenceFlow id="f3" sourceRef="after_call" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="call_rejected" targetRef="caller_rejection" />
    <bpmn:sequenceFlow id="f5" sourceRef="caller_rejection" targetRef="end" />
  </bpmn:process>
  <bpmn:error id="Error_rejected" name="Rejected" errorCode="REJECTED" />
</bpmn:definitions>
"""


def call(rest, called_file: str, called_key: str, business_key: str = "C-1", **variables) -> tuple[str, str]:
    """Deploy `called_file` and a caller of it, start the caller: (caller, called) instance ids."""
    deploy(rest, called_file)
    response = modeler_deploy(rest.as_("admin"), "caller",
                              ("caller.bpmn", CALLER.replace("CALLED", called_key).encode()))
    assert response.status_code == 200, response.get_json()
    caller = start(rest, "c7_caller", business_key=business_key, **variables)
    [called] = rest.as_("admin").get("/process-instance", superProcessInstance=caller).get_json()
    return caller, called["id"]


def test_the_timer_event_subprocesses_of_a_called_process_run_in_the_called_instance(rest, frozen_clock):
    caller, called = call(rest, "timer_event_subprocesses.bpmn", "c7_timer_event_subprocesses", deadlineDays=10)
    assert sorted(tasks(rest, called)) == ["review"]
    [reminder] = jobs(rest, called, "every_day")  # armed when the call started, the called instance's jobs
    assert len(jobs(rest, called, "after_ten_days")) == 1 and jobs(rest, caller, "every_day") == []
    frozen_clock.advance(timedelta(days=1))
    response = rest.as_("admin").post(f"/job/{reminder['id']}/execute")
    assert response.status_code == 204, response.get_json()
    assert sorted(tasks(rest, called)) == ["remind", "review"]
    frozen_clock.advance(timedelta(days=9))
    services.fire_due_timers(rest.db)  # two more reminders, then the deadline
    assert sorted(tasks(rest, called)) == ["close_overdue"]
    assert jobs(rest, called, "every_day") == [] and jobs(rest, called, "after_ten_days") == []
    complete(rest, tasks(rest, called)["close_overdue"], "office")
    assert state(rest, called) == "COMPLETED"
    assert sorted(tasks(rest, caller)) == ["after_call"]  # the call ended through it: the caller goes on
    complete(rest, tasks(rest, caller)["after_call"], "office")
    assert state(rest, caller) == "COMPLETED"


def test_event_subprocesses_in_a_subprocess_of_a_called_process_run_in_the_called_instance(rest, frozen_clock):
    caller, called = call(rest, "nested_event_subprocesses.bpmn", KEY, business_key="P-9")
    complete(rest, tasks(rest, called)["register"], "office")
    [deadline] = jobs(rest, called, "two_days_passed")  # the called instance's job, armed with its subprocess
    work(rest, "check_documents")
    response = rest.as_("admin").post("/message", {"messageName": "documents_added", "businessKey": "P-9"})
    assert response.status_code == 204, response.get_json()
    assert sorted(tasks(rest, called)) == ["check_added_documents", "review"]
    complete(rest, tasks(rest, called)["check_added_documents"], "office")  # offered as the called process says
    frozen_clock.advance(timedelta(days=2))
    assert rest.as_("admin").post(f"/job/{deadline['id']}/execute").status_code == 204
    assert sorted(tasks(rest, called)) == ["escalate_review"]
    complete(rest, tasks(rest, called)["escalate_review"], "office")
    complete(rest, tasks(rest, called)["decide"], "office")
    assert state(rest, called) == "COMPLETED"
    complete(rest, tasks(rest, caller)["after_call"], "office")
    assert state(rest, caller) == "COMPLETED"


def test_a_message_event_subprocess_of_a_called_process_runs_in_the_called_instance(rest):
    caller, called = call(rest, "message_event_subprocess.bpmn", "c7_message_event_subprocess", business_key="O-1")
    assert sorted(tasks(rest, called)) == ["pack_order"]
    response = rest.as_("admin").post("/message", {"messageName": "cancel_order", "businessKey": "O-1"})
    assert response.status_code == 204, response.get_json()
    assert sorted(tasks(rest, called)) == ["refund"]  # pack_order was interrupted
    complete(rest, tasks(rest, called)["refund"], "finance")
    assert state(rest, called) == "COMPLETED"
    assert sorted(tasks(rest, caller)) == ["after_call"]
    complete(rest, tasks(rest, caller)["after_call"], "office")
    assert state(rest, caller) == "COMPLETED"


def test_an_error_in_a_called_process_is_caught_by_its_own_event_subprocess_before_the_callers_boundary(rest):
    caller, called = call(rest, "error_event_subprocess.bpmn", "c7_error_event_subprocess")
    [task] = fetch(rest, "check_register")
    response = rest.as_("admin").post(f"/external-task/{task['id']}/bpmnError", {
        "workerId": "python-worker", "errorCode": "REJECTED", "errorMessage": "not in the register"})
    assert response.status_code == 204, response.get_json()
    assert sorted(tasks(rest, called)) == ["notify_applicant"]
    assert variables(rest, called)["rejection_code"] == "REJECTED"  # the event subprocess runs in its scope
    assert "caller_rejection" not in tasks(rest, caller)
    complete(rest, tasks(rest, called)["notify_applicant"], "office")
    assert state(rest, called) == "COMPLETED"
    assert sorted(tasks(rest, caller)) == ["after_call"]
    complete(rest, tasks(rest, caller)["after_call"], "office")
    assert state(rest, caller) == "COMPLETED"


ESCALATION = [
    ("""<bpmn:startEvent id="rejected" name="Rejected">
          <bpmn:outgoing>Flow_e1</bpmn:outgoing>
          <bpmn:errorEventDefinition id="ErrorEventDefinition_rejected" errorRef="Error_rejected" camunda:errorCodeVariable="rejection_code" />""",
     """<bpmn:startEvent id="rejected" name="Reported late" isInterrupting="false">
          <bpmn:outgoing>Flow_e1</bpmn:outgoing>
          <bpmn:escalationEventDefinition id="EscalationEventDefinition_start" escalationRef="Escalation_late" />"""),
    ('<bpmn:sequenceFlow id="Flow_r3" sourceRef="review" targetRef="EndEvent_review" />',
     """<bpmn:sequenceFlow id="Flow_r3" sourceRef="review" targetRef="report_late" />
      <bpmn:intermediateThrowEvent id="report_late" name="Report late">
        <bpmn:incoming>Flow_r3</bpmn:incoming>
        <bpmn:outgoing>Flow_r3b</bpmn:outgoing>
        <bpmn:escalationEventDefinition id="EscalationEventDefinition_throw" escalationRef="Escalation_late" />
      </bpmn:intermediateThrowEvent>
      <bpmn:sequenceFlow id="Flow_r3b" sourceRef="report_late" targetRef="EndEvent_review" />"""),
    ("""<bpmn:endEvent id="EndEvent_review">
        <bpmn:incoming>Flow_r3</bpmn:incoming>""", """<bpmn:endEvent id="EndEvent_review">
        <bpmn:incoming>Flow_r3b</bpmn:incoming>"""),
    ('<bpmn:error id="Error_rejected"',
     '<bpmn:escalation id="Escalation_late" name="Late" escalationCode="LATE" />\n  <bpmn:error id="Error_rejected"'),
]


def test_an_escalation_inside_the_subprocess_starts_its_non_interrupting_event_subprocess(rest):
    response, _source = deploy_changed(rest, ESCALATION)
    assert response.status_code == 200, response.get_json()
    instance = begin_review(rest)
    work(rest, "check_documents")
    complete(rest, tasks(rest, instance)["review"], "office")
    assert sorted(tasks(rest, instance)) == ["record_rejection"]  # the subprocess waits for it to end
    assert len(jobs(rest, instance, "two_days_passed")) == 1  # non-interrupting: the subprocess's timer stays
    complete(rest, tasks(rest, instance)["record_rejection"], "office")
    assert sorted(tasks(rest, instance)) == ["decide"]
    assert jobs(rest, instance, "two_days_passed") == []
    complete(rest, tasks(rest, instance)["decide"], "office")
    assert state(rest, instance) == "COMPLETED"
