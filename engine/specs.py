"""SpiffWorkflow spec classes with the engine's (Camunda 7) semantics, and the pass that puts
them into freshly parsed specs.

- message events deliver their variables as process variables;
- the engine chooses which start event starts an instance (by hand, a timer, a message);
- multi-instance activities evaluate `camunda:collection` with the engine's evaluator, give each
  instance its element variable and `loopCounter`, know `nrOfInstances` /
  `nrOfCompletedInstances` / `nrOfActiveInstances` in the completion condition, and collect
  each instance's result into a list of its own (`outputCollection`, default
  `<activity id>_results`), by position: parallel instances never overwrite each other.
"""
from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from datetime import date, datetime, timedelta
from typing import Optional

from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent as DefaultBoundaryEvent
from SpiffWorkflow.bpmn.specs.defaults import CallActivity as DefaultCallActivity
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway as DefaultInclusiveGateway
from SpiffWorkflow.bpmn.specs.defaults import ManualTask as DefaultManualTask
from SpiffWorkflow.bpmn.specs.defaults import NoneTask as DefaultNoneTask
from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway as DefaultParallelGateway
from SpiffWorkflow.bpmn.specs.defaults import ParallelMultiInstanceTask as DefaultParallelMI
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask as DefaultServiceTask
from SpiffWorkflow.bpmn.specs.defaults import SequentialMultiInstanceTask as DefaultSequentialMI
from SpiffWorkflow.bpmn.specs.defaults import StartEvent as DefaultStartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (ErrorEventDefinition,
                                                                        EscalationEventDefinition,
                                                                        SignalEventDefinition)
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as BpmnMessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (CycleTimerEventDefinition,
                                                              DurationTimerEventDefinition,
                                                              TimeDateEventDefinition, TimerEventDefinition)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import EventSubprocess
from SpiffWorkflow.camunda.specs.event_definitions import \
    MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.util.task import TaskState

from . import clock, feel, scripts
from .dmn import DecisionError, map_decision_result
from .errors import ExecutionError, ExpressionError
from .expressions import compile_any, compile_template


def evaluate(source: str, variables: dict, element_id: str):
    try:
        return compile_any(source).evaluate(variables)
    except ExpressionError as exc:
        raise ExecutionError(str(exc), element_id=element_id) from exc


class ProcessMessageEventDefinition(CamundaMessageEventDefinition):
    """A message whose variables become process variables, as Camunda 7 correlates them.

    Thrown (an intermediate throw or end event, a send task), it carries the event's
    camunda:inputOutput input parameters as its variables; the parameter `businessKey` chooses
    the receiving instance (default: the sender's own business key). What no task of this
    instance catches leaves the workflow for the engine to correlate.
    """

    def throw(self, my_task):
        config = (getattr(my_task.task_spec, "extensions", None) or {}).get("dalad_io", {})
        variables = {name: my_task.data.get(name) for name in config.get("inputs", {})}  # set as it started
        business_key = variables.pop("businessKey", None)
        payload = {"payload": variables, "result_var": None, "business_key": business_key,
                   "element_id": my_task.task_spec.bpmn_id}
        my_task.workflow.top_workflow.catch(BpmnEvent(self, payload=payload))

    def update_task_data(self, my_task):
        event_data = my_task.internal_data.get(self.name) or {}
        payload = event_data.get("payload")
        if isinstance(payload, dict):
            my_task.data.update(payload)


def _throw_to_event_subprocesses(definition, my_task, payload) -> None:
    """Throw an error or escalation from `my_task` up through the scopes around it; an event
    subprocess it starts (no closer event caught it) gets its way and, interrupting, its scope."""
    from . import event_subprocesses

    top = my_task.workflow.top_workflow
    before = set(top.subprocesses)
    top.catch(thrown_from(BpmnEvent(definition, payload=payload, target=my_task.workflow), my_task))
    if len(top.subprocesses) > len(before):
        event_subprocesses.started(top, before)


def thrown_from(event: BpmnEvent, my_task) -> BpmnEvent:
    """Note on an error or escalation the activities it is thrown inside of: `my_task` and the
    tasks before it in its workflow, then the (sub)process task that runs that workflow and those
    before it, up to the process. Only their boundary events may catch it (`ScopedCatch`)."""
    top, inside, task = my_task.workflow.top_workflow, set(), my_task
    while task is not None:
        workflow = task.workflow
        while task is not None:
            inside.add(task.id)
            task = task.parent
        task = top.get_task_from_id(workflow.parent_task_id) if workflow is not top else None
    event.dalad_thrown_in = inside
    return event


class ScopedCatch:
    """A boundary event catches an error or escalation only when it is thrown inside the activity it
    is attached to, as Camunda 7 propagates it up the thrower's scopes (SpiffWorkflow let a boundary
    event on an activity running beside the thrower catch it too); and, as Camunda orders them, one
    catching every code gives way to a boundary event on the same activity naming the code."""

    def catches(self, my_task, event):
        if not super().catches(my_task, event):
            return False
        inside = getattr(event, "dalad_thrown_in", None)
        if inside is None or not isinstance(my_task.task_spec, BoundaryEvent):
            return True
        siblings = my_task.parent.children
        attached = next((t for t in siblings if not isinstance(t.task_spec, BoundaryEvent)), None)
        if attached is None or attached.id not in inside:
            return False
        code = event.event_definition.code
        return self.code is not None or not any(
            sibling is not my_task and sibling.state == TaskState.WAITING
            and isinstance(sibling.task_spec, BoundaryEvent)
            and type(sibling.task_spec.event_definition) is type(self)
            and sibling.task_spec.event_definition.code == code for sibling in siblings)


class EngineErrorEventDefinition(ScopedCatch, ErrorEventDefinition):
    """An error caught with camunda:errorCodeVariable / errorMessageVariable, and the variables
    a worker sent with its BPMN error. Thrown by an error end event, it carries the thrower's
    variables, its code and the message its bpmn:error gives with camunda:errorMessage (an
    expression read on the thrower's variables; none without it), as Camunda 7 hands them to the
    boundary event or event subprocess that catches it."""

    def throw(self, my_task):
        config = (getattr(my_task.task_spec, "extensions", None) or {}).get("dalad_error") or {}
        payload = {"variables": deepcopy(my_task.data), "code": self.code,
                   "message": _error_message(config.get("message"), my_task)}
        _throw_to_event_subprocesses(self, my_task, payload)

    def update_task_data(self, my_task):
        payload = my_task.internal_data.get(self.name)
        if not isinstance(payload, dict) or "code" not in payload:
            return super().update_task_data(my_task)
        my_task.data.update(payload.get("variables") or {})
        config = (getattr(my_task.task_spec, "extensions", None) or {}).get("dalad_error", {})
        if config.get("code_variable"):
            my_task.data[config["code_variable"]] = payload["code"]
        if config.get("message_variable"):
            my_task.data[config["message_variable"]] = payload.get("message")


def _error_message(source: Optional[str], my_task) -> Optional[str]:
    """An error's camunda:errorMessage read on the thrower's variables: None without one; what
    cannot be read is the thrower's failure, as in Camunda."""
    if not source:
        return None
    try:
        value = compile_template(source).evaluate(my_task.data)
        return None if value is None else str(value)  # (a whole number past 4300 digits has no text)
    except Exception as exc:  # ExpressionError and anything the value itself raises
        raise ExecutionError(f"camunda:errorMessage '{_shown(source)}' cannot be evaluated: {_shown(str(exc))}",
                             element_id=my_task.task_spec.bpmn_id) from exc


def _shown(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class EngineEscalationEventDefinition(ScopedCatch, EscalationEventDefinition):
    """An escalation carrying the thrower's variables; it may start an event subprocess. Its code
    goes to the catcher's camunda:escalationCodeVariable, as in Camunda 7."""

    def throw(self, my_task):
        _throw_to_event_subprocesses(self, my_task, deepcopy(my_task.data))

    def catch(self, my_task, event=None):
        if event is not None:
            my_task.internal_data["dalad_escalation_code"] = getattr(event.event_definition, "code", None)
        super().catch(my_task, event)

    def update_task_data(self, my_task):
        super().update_task_data(my_task)
        variable = (getattr(my_task.task_spec, "extensions", None) or {}).get("dalad_escalation_code_variable")
        if variable and "dalad_escalation_code" in my_task.internal_data:
            my_task.data[variable] = my_task.internal_data["dalad_escalation_code"]


class EngineBusinessRuleTask(ScriptEngineTask, BpmnSpecMixin):
    """A business rule task evaluating a DMN decision with the engine's FEEL evaluator.

    `extensions["dalad_decision"]` holds camunda:decisionRef and friends; the workflow's
    `dalad_decisions` (set by the engine on every load) finds the decision version to use and
    records each evaluation for the history.
    """

    def _execute(self, my_task):
        config = self.extensions["dalad_decision"]
        resolver = getattr(my_task.workflow.top_workflow, "dalad_decisions", None)
        if resolver is None:
            raise ExecutionError("no decisions are available to this workflow", element_id=self.bpmn_id)
        key = config["decision_key"]
        if "${" in key or "#{" in key:
            key = str(evaluate(key, my_task.data, self.bpmn_id))
        try:
            result = resolver.evaluate(key, config, dict(my_task.data), self.bpmn_id)
            value = map_decision_result(result, config.get("map_decision_result") or "singleEntry")
        except (DecisionError, ExpressionError) as exc:
            raise ExecutionError(f"decision '{key}': {exc}", element_id=self.bpmn_id) from exc
        if config.get("result_variable"):
            my_task.data[config["result_variable"]] = value
        return True


class EngineSignalEventDefinition(SignalEventDefinition):
    """A signal reaches every instance waiting for it: thrown, it is caught here and also handed
    to the engine, which broadcasts it to the other instances."""

    def throw(self, my_task):
        event = BpmnEvent(self, payload={})
        my_task.workflow.top_workflow.event_manager.catch(event, internal=False)
        my_task.workflow.top_workflow.bpmn_events.append(event)


class EngineStartEvent(DefaultStartEvent):
    """A start event that stays quiet when the engine started the instance at another one.

    SpiffWorkflow fires every start event it can (a none start at once) and joins them; the
    engine decides which start event starts an instance, so the others wait until the join
    cancels them.
    """

    def _update_hook(self, my_task):
        if my_task.internal_data.get("dalad_not_chosen"):
            if my_task.state != TaskState.WAITING:
                my_task._set_state(TaskState.WAITING)
            return None
        return super()._update_hook(my_task)


class EngineCycleTimer(CycleTimerEventDefinition):
    """A timeCycle as Camunda 7 computes it (engine/timers.py): repeating intervals anchored on
    calendar arithmetic and Quartz cron, on the engine clock. Each firing adds one run of what
    follows the event; the timer stays waiting while occurrences remain."""

    def cycle_complete(self, my_task):
        from . import clock, timers

        state = my_task._get_internal_data("event_value")
        now = clock.now()
        if state is None or "text" not in state:
            text = str(my_task.workflow.script_engine.evaluate(my_task, self.expression))
            try:
                due = timers.first_due("cycle", text, now)
            except ValueError as exc:
                raise ExecutionError(f"timer cycle {text!r}: {exc}", element_id=my_task.task_spec.bpmn_id) from exc
            state = {"text": text, "started": now.isoformat(), "fired": 0,
                     "next": due.isoformat() if due else None, "cycles": -1 if due else 0}
        ready = False
        if state["next"] is not None and datetime.fromisoformat(state["next"]) <= now and \
                not isinstance(my_task.task_spec, BoundaryEvent):
            # An intermediate catch event is passed once, at the cycle's first occurrence.
            state["fired"], state["next"], state["cycles"] = 1, None, 0
            state.pop("occurrence", None)
            my_task._set_internal_data(event_value=state, event_fired=True)
            return True  # one run of what follows; fired, the event then completes
        if state["next"] is not None and datetime.fromisoformat(state["next"]) <= now:
            state["fired"] += 1
            occurrence = state.pop("occurrence", None) or state["next"]  # (executed early: the one it stood for)
            following = timers.following_occurrence("cycle", state["text"], occurrence, state["fired"],
                                                    state["started"], state.get("offset_ms"))
            state["next"] = following.isoformat() if following else None
            state["cycles"] = -1 if following else 0
            ready = True
        if state["next"] is None and not ready:
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=state)
        return ready


class EngineConditionalEvent(ConditionalEventDefinition):
    """A conditional event as Camunda 7 triggers it: its condition is read when it is reached (an
    intermediate event passes at once when it holds, a boundary event fires as its activity starts)
    and again each time the variables it watches change (camunda:variableName, else any;
    camunda:variableEvents: create, update, delete), not while nothing changed; a non-interrupting
    boundary event fires at each such change while the condition holds."""

    def has_fired(self, my_task):
        if my_task._get_internal_data("event_fired", False):
            return True
        if "dalad_watched" in my_task.internal_data:
            return False  # read already on these variables: fired_on_change reads it again
        my_task.internal_data["dalad_watched"] = self.watched(my_task)
        return self.holds(my_task)

    def holds(self, my_task) -> bool:
        return bool(my_task.workflow.script_engine.evaluate(my_task, self.expression,
                                                            external_context=my_task.workflow.data_objects))

    @staticmethod
    def config(spec) -> dict:
        """camunda:variableName and variableEvents of the event `spec` (a catch event's spec)."""
        return (getattr(spec, "extensions", None) or {}).get("dalad_condition") or {}

    def watched(self, my_task, spec=None) -> dict:
        """A digest of each watched variable's value (names absent: not set)."""
        name = self.config(spec or my_task.task_spec).get("variable")
        data = my_task.data
        names = [name] if name else list(data)
        return {n: hashlib.sha256(json.dumps(data[n], sort_keys=True, default=str).encode()).hexdigest()[:16]
                for n in names if n in data}

    def fired_on_change(self, my_task, key: str = "dalad_watched", spec=None) -> bool:
        """After variables changed: whether the change is one it watches and its condition holds
        (`key`: where the task keeps what it watched; one per condition after an event-based
        gateway, read first when the gateway is reached, `spec` the catch event after it)."""
        if key not in my_task.internal_data:
            my_task.internal_data[key] = self.watched(my_task, spec)
            return self.holds(my_task)
        before, now = my_task.internal_data.get(key) or {}, self.watched(my_task, spec)
        if before == now:
            return False
        my_task.internal_data[key] = now
        kinds = {"create" if n not in before else "update" for n in now if before.get(n) != now[n]}
        kinds |= {"delete" for n in before if n not in now}
        events = self.config(spec or my_task.task_spec).get("events")
        if events and not kinds & set(events):
            return False
        return self.holds(my_task)


class EngineBoundaryEvent(DefaultBoundaryEvent):
    """A non-interrupting boundary event stays armed while its activity runs, as in Camunda:
    each message or signal that arrives starts its path again (a timer fires once; a timer cycle
    re-arms itself)."""

    def _on_complete_hook(self, my_task):
        super()._on_complete_hook(my_task)
        split = my_task.parent
        if self.cancel_activity or isinstance(self.event_definition, TimerEventDefinition) or split is None:
            return  # a timer fires once (a cycle re-arms itself)
        activity_running = any(not c.has_state(TaskState.FINISHED_MASK) and not isinstance(c.task_spec, BoundaryEvent)
                               for c in split.children)
        if activity_running:
            again = split._add_child(self, TaskState.WAITING)
            if "dalad_watched" in my_task.internal_data:  # a condition: read again on the next change
                again.internal_data["dalad_watched"] = my_task.internal_data["dalad_watched"]
            again.task_spec._predict(again, mask=TaskState.NOT_FINISHED_MASK)
            again.task_spec._update(again)


class PassingNoneTask(DefaultNoneTask):
    """A task without a type (bpmn:task) passes at once, as in Camunda 7 (SpiffWorkflow waits for
    someone to complete it)."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class PassingManualTask(DefaultManualTask):
    """A manual task passes at once, as in Camunda 7: the engine does not track work done by hand."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


def timer_text(value) -> str:
    """A timer value as SpiffWorkflow reads it: ISO text for dates, date-times and durations."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat()  # local midnight
    if isinstance(value, timedelta):
        return f"PT{int(value.total_seconds())}S"
    return str(value).strip()


def _due_by_now(my_task, due: datetime) -> None:
    """A timer is due at its time, not a moment after (SpiffWorkflow waits for a later instant,
    while the scheduler fires at `due_at <= now`)."""
    if due <= clock.now():
        my_task._set_internal_data(event_fired=True)


class EngineTimeDateTimer(TimeDateEventDefinition):
    """A timeDate whose expression may give a date or date-time, not only text (as in Camunda)."""

    def has_fired(self, my_task):
        if my_task._get_internal_data("event_value") is None:
            value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            my_task._set_internal_data(event_value=timer_text(value))
        _due_by_now(my_task, TimerEventDefinition.parse_time_or_duration(my_task._get_internal_data("event_value")))
        return super().has_fired(my_task)


class EngineDurationTimer(DurationTimerEventDefinition):
    """A timeDuration whose expression may give a duration (days(5)) or ISO text."""

    def has_fired(self, my_task):
        if my_task._get_internal_data("event_value") is None:
            value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            duration = TimerEventDefinition.parse_iso_duration(timer_text(value))
            due = clock.now() + TimerEventDefinition.get_timedelta_from_start(duration, clock.now())
            my_task._set_internal_data(event_value=due.isoformat())
        _due_by_now(my_task, TimerEventDefinition.get_datetime(my_task._get_internal_data("event_value")))
        return super().has_fired(my_task)


class EngineStartTimer(TimerEventDefinition):
    """The timer of a timer start event: the engine's scheduler decides when it fires."""

    def has_fired(self, my_task):
        return my_task._get_internal_data("event_fired", False)


MAX_CALL_DEPTH = 32  # processes and subprocesses a call activity starts within each other


class EngineCallActivity(DefaultCallActivity):
    """A call activity passes only what `camunda:in` / `camunda:out` map, as Camunda 7 does
    (nothing when none is given); `extensions["dalad_call"]` holds the mappings.

    Each call is a process instance of its own for the API and pages (engine/called.py): the
    workflow notes here, for the save that follows the step, which calls started and ended."""

    def copy_data(self, my_task, subworkflow):
        config = (self.extensions or {}).get("dalad_call")
        if config is None:  # an embedded subprocess (SpiffWorkflow's Camunda parser gives it this class)
            return super().copy_data(my_task, subworkflow)
        note_call(my_task, "started")
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        start.set_data(**map_variables(config["in"], my_task.data, self.bpmn_id))

    def update_data(self, my_task, subworkflow):
        config = (self.extensions or {}).get("dalad_call")
        if config is None:
            return super().update_data(my_task, subworkflow)
        note_call(my_task, "completed", subworkflow.last_task.data)
        my_task.data.update(map_variables(config["out"], subworkflow.last_task.data, self.bpmn_id))

    def start_workflow(self, my_task):
        if not is_call(self):
            super().start_workflow(my_task)
        else:  # SpiffWorkflow's, with the called version resolved now (engine/called.py's CallResolver)
            if my_task.workflow.depth >= MAX_CALL_DEPTH:
                raise ExecutionError(f"calls nested deeper than {MAX_CALL_DEPTH} levels: does a process call itself "
                                     "without end?", element_id=self.bpmn_id)
            top = my_task.workflow.top_workflow
            resolver = getattr(top, "dalad_called", None)
            name = resolver.resolve(my_task) if resolver is not None else self.spec
            if name not in top.subprocess_specs:
                my_task.error()
                raise WorkflowTaskException(self.get_missing_subworkflow_error(my_task), task=my_task)
            subworkflow = top.create_subprocess(my_task, name)
            subworkflow.completed_event.connect(self._on_subworkflow_completed, my_task)
            self.copy_data(my_task, subworkflow)
            subworkflow.get_next_task(spec_name="Start").run()
        subworkflow = my_task.workflow.top_workflow.subprocesses[my_task.id]
        if getattr(subworkflow.spec.start, "trigger_specs", None):
            from . import event_subprocesses  # its event subprocesses' timers start now, with its start variables
            event_subprocesses.arm_scope(subworkflow, subworkflow.task_tree.children[0].data)

    def _on_cancel(self, my_task):
        if is_call(self) and my_task.id in my_task.workflow.top_workflow.subprocesses:
            note_call(my_task, "terminated")
        super()._on_cancel(my_task)


def is_call(task_spec) -> bool:
    """A call activity (not an embedded subprocess, which SpiffWorkflow's Camunda parser also makes a
    CallActivity): definitions.py gives every callActivity its `dalad_call` mappings."""
    return isinstance(task_spec, DefaultCallActivity) and "dalad_call" in (task_spec.extensions or {})


def note_call(my_task, what: str, data: Optional[dict] = None) -> None:
    """Remember on the top workflow (not in its state) that a call started or ended: (what, the
    call activity's task, the called process's spec name (`called_version`), the call whose
    process holds the call activity)."""
    top = my_task.workflow.top_workflow
    sub = top.subprocesses.get(my_task.id)
    top.__dict__.setdefault("dalad_calls", []).append(
        (what, str(my_task.id), sub.spec.name if sub is not None else my_task.task_spec.spec,
         call_scope(my_task.workflow), None if data is None else dict(data)))


class CalledSpecs(dict):
    """A workflow's subprocess specs with those of the called versions its calls run: its own
    dict, so that what is kept about them (event_subprocesses.has_nested) is kept for this set alone."""


VERSION_MARK = "@"  # "<process id>@<definition id>": the spec of a called version (no BPMN id holds "@")


def process_key(spec_name: str) -> str:
    """The process id of a called process's spec name (see `called_version`)."""
    return spec_name.partition(VERSION_MARK)[0]


def called_version(spec_name: str) -> Optional[int]:
    """The definition id a called process's spec name carries: the version resolved when its call
    started ("<process id>@<definition id>"); None for a name without one (a call started before
    the engine resolved versions at the call: the version bundled into the caller's spec)."""
    _, mark, definition_id = spec_name.partition(VERSION_MARK)
    return int(definition_id) if mark and definition_id.isdigit() else None


def call_scope(workflow) -> Optional[str]:
    """The call activity's task (uuid) whose called process `workflow` belongs to (through
    embedded subprocesses); None for the top process."""
    top = workflow.top_workflow
    while workflow is not top:
        owner = top.get_task_from_id(workflow.parent_task_id)
        if owner is None:
            return None
        if is_call(owner.task_spec):
            return str(owner.id)
        workflow = owner.workflow
    return None


def map_variables(mappings: list[dict], source: dict, element_id: str) -> dict:
    """Apply camunda:in / camunda:out mappings to `source` (a missing source variable is null)."""
    result = {}
    for mapping in mappings:
        if mapping.get("variables") == "all":
            result.update({k: v for k, v in source.items() if not k.startswith("_")})
        elif mapping.get("source"):
            result[mapping.get("target") or mapping["source"]] = source.get(mapping["source"])
        elif mapping.get("sourceExpression"):
            result[mapping["target"]] = evaluate(mapping["sourceExpression"], source, element_id)
    return result


class _JoinOfChanges:
    """A join that keeps what each branch changed: a branch that left a variable alone does not
    put its old value back over another branch's answer (Camunda has one variable scope)."""

    def _run_hook(self, my_task):
        return self._join_changes(my_task)

    def _join_changes(self, my_task):
        others = [t for t in my_task.workflow.tasks.values()
                  if t.task_spec == self and t.has_state(TaskState.FINISHED_MASK) and not my_task.is_descendant_of(t)]
        previous = my_task.parent
        while previous is not None and previous.task_spec != self:
            previous = previous.parent
        if previous is not None:  # a loop came round: the branches of earlier rounds are history
            others = [t for t in others if t.is_descendant_of(previous)]
        tails = [t.parent for t in others] + [my_task.parent]
        baseline = _common_ancestor(tails).data
        merged = deepcopy(baseline)
        for tail in sorted(tails, key=lambda t: t.last_state_change):
            for key, value in tail.data.items():
                if key not in baseline or baseline[key] != value:
                    merged[key] = deepcopy(value)
        for task in others:
            if task.has_state(TaskState.COMPLETED):
                task._drop_children(force=True)
        my_task.data = merged
        return True


def _common_ancestor(tasks):
    """The nearest task all `tasks` descend from (where their branches split)."""
    chains = []
    for task in tasks:
        chain, node = [], task
        while node is not None:
            chain.append(node)
            node = node.parent
        chains.append(chain)
    shared = set(id(t) for t in chains[0]).intersection(*(set(id(t) for t in c) for c in chains[1:]))
    return next(t for t in chains[0] if id(t) in shared)


class EngineParallelGateway(_JoinOfChanges, DefaultParallelGateway):
    pass


class EngineInclusiveGateway(_JoinOfChanges, DefaultInclusiveGateway):

    def _run_hook(self, my_task):
        """Join as above, then choose the outgoing flows as SpiffWorkflow's inclusive gateway does."""
        self._join_changes(my_task)
        matches, defaults = self._get_matching_outputs(my_task)
        if len(matches + defaults) == 0:
            raise ExecutionError("no condition on the gateway's outgoing flows holds", element_id=self.bpmn_id)
        my_task._sync_children(matches or defaults, TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)
        return True


# --- camunda:inputOutput ------------------------------------------------------------------------

FEEL_PARAMETER = "dalad:feel"  # key of a parameter given as <camunda:script scriptFormat="feel">
PYTHON_PARAMETER = "dalad:python"  # … as <camunda:script scriptFormat="python">


def _parameter_value(value, variables: dict, element_id: str):
    """A parameter's value: text (an expression or a constant), a camunda:list / camunda:map,
    FEEL (the FEEL of the DMN tables, engine/feel.py) or a Python script (the value of its last
    line, run in the engine's sandbox, engine/scripts.py)."""
    if isinstance(value, list):
        return [_parameter_value(v, variables, element_id) for v in value]
    if isinstance(value, dict) and FEEL_PARAMETER in value:
        try:
            return feel.compile_expression(value[FEEL_PARAMETER]).evaluate(variables)
        except ExpressionError as exc:
            raise ExecutionError(f"FEEL parameter: {exc}", element_id=element_id) from exc
    if isinstance(value, dict) and PYTHON_PARAMETER in value:
        try:
            return scripts.script_value(scripts.compile_value_script(value[PYTHON_PARAMETER]), variables)
        except ExpressionError as exc:
            raise ExecutionError(f"Python parameter: {exc}", element_id=element_id) from exc
    if isinstance(value, dict):
        return {k: _parameter_value(v, variables, element_id) for k, v in value.items()}
    return evaluate(value, variables, element_id) if ("${" in value or "#{" in value) else value


class InputParameter:
    """A camunda:inputParameter: a variable local to the activity, set when it starts."""

    def __init__(self, name: str, value, element_id: str):
        self.name, self.value, self.element_id = name, value, element_id
        self.bpmn_id = f"\x00input:{name}"  # SpiffWorkflow pops this name at the end: nothing

    def get(self, my_task):
        if self.name in my_task.data:  # a process variable it hides until the activity ends
            my_task.internal_data.setdefault("dalad_shadowed", {})[self.name] = my_task.data[self.name]
        my_task.data[self.name] = _parameter_value(self.value, my_task.data, self.element_id)


class OutputParameter:
    """A camunda:outputParameter: a process variable set from the activity's variables at its end."""

    def __init__(self, name: str, value, element_id: str):
        self.name, self.value, self.element_id = name, value, element_id
        self.bpmn_id = name

    def set(self, my_task):
        my_task.data[self.name] = _parameter_value(self.value, my_task.data, self.element_id)


class LocalScopeEnd:
    """Last of an activity's outputs: its local input variables go, the hidden ones come back."""

    def __init__(self, inputs: list[str], outputs: list[str]):
        self.inputs, self.outputs = inputs, outputs
        self.bpmn_id = "\x00local-scope-end"

    def set(self, my_task):
        shadowed = my_task.internal_data.pop("dalad_shadowed", {})
        for name in self.inputs:
            if name in self.outputs:
                continue
            if name in shadowed:
                my_task.data[name] = shadowed[name]
            else:
                my_task.data.pop(name, None)


def apply_input_output(task_spec, io: dict) -> None:
    """Give an activity its camunda:inputOutput through SpiffWorkflow's data association hooks."""
    element = task_spec.bpmn_id
    inputs = [InputParameter(name, value, element) for name, value in io.get("inputs", {}).items()]
    outputs = [OutputParameter(name, value, element) for name, value in io.get("outputs", {}).items()]
    task_spec.data_input_associations = [*task_spec.data_input_associations, *inputs]
    task_spec.data_output_associations = [*task_spec.data_output_associations, *outputs,
                                          LocalScopeEnd([p.name for p in inputs], [p.name for p in outputs])]


# --- multi-instance ----------------------------------------------------------------------------

class _EngineMultiInstance:
    """Camunda 7 multi-instance over `camunda:collection`, results collected by position.

    The configuration lives in the spec's `extensions["dalad_mi"]` (serialised with the spec):
    collection expression, element variable, output collection and output element.
    """

    def _config(self) -> dict:
        return self.extensions["dalad_mi"]

    def _update_hook(self, my_task):
        config = self._config()
        if config.get("collection"):
            if my_task.parent is not None:
                my_task._inherit_data()  # the collection is read from what flows in
            items = evaluate(config["collection"], my_task.data, self.bpmn_id)
            if isinstance(items, dict):
                items = list(items.values())
            if not isinstance(items, (list, tuple)):
                raise ExecutionError(f"camunda:collection '{config['collection']}' gave "
                                     f"{type(items).__name__}, not a list", element_id=self.bpmn_id)
            my_task.data[self.data_input.bpmn_id] = list(items)
        return super()._update_hook(my_task)

    def create_child(self, my_task, item, key_or_index=None):
        """SpiffWorkflow's create_child, with `loopCounter` set before the instance starts (a call
        activity's camunda:in reads it then)."""
        task_spec = my_task.workflow.spec.task_specs[self.task_spec]
        if not task_spec.completed_event.is_connected(self.merge_child):
            task_spec.completed_event.connect(self.merge_child)
        counter = key_or_index if key_or_index is not None else len(list(self._instances(my_task)))
        child = my_task._add_child(task_spec, TaskState.WAITING)
        child.triggered = True
        if self.input_item is not None:
            self.input_item.set(child, deepcopy(item))
        child.data["loopCounter"] = counter
        if key_or_index is not None:
            child.internal_data["key_or_index"] = key_or_index
        else:
            child.internal_data["item"] = item
        child.task_spec._update(child)

    def _collect(self, my_task, child) -> None:
        config = self._config()
        private = {"loopCounter", config.get("element"), self.data_input.bpmn_id if self.data_input else None}
        if config.get("output_element"):
            item = evaluate(config["output_element"], child.data, self.bpmn_id)
        else:
            item = {k: v for k, v in child.data.items()
                    if k not in private and not k.startswith("_") and (k not in my_task.data or my_task.data[k] != v)}
        results = list(my_task.data.get(config["output_collection"]) or [])
        index = child.data.get("loopCounter")
        if isinstance(index, int) and index >= 0:
            results.extend([None] * (index + 1 - len(results)))
            results[index] = item
        else:
            results.append(item)
        my_task.data[config["output_collection"]] = results
        my_task.internal_data["merged"].append(str(child.id))

    def check_completion_condition(self, my_task):
        merged = my_task.internal_data.get("merged", [])
        if not merged or self.condition is None:
            return False
        last = next(c for c in my_task.children if str(c.id) == merged[-1])
        total = self._count(my_task)
        variables = {**last.data, "nrOfInstances": total, "nrOfCompletedInstances": len(merged),
                     "nrOfActiveInstances": total - len(merged)}
        return bool(evaluate(self.condition, variables, self.bpmn_id))

    def _count(self, my_task) -> int:
        if self.data_input is not None:
            return len(my_task.data.get(self.data_input.bpmn_id) or [])
        return int(my_task.internal_data.get("cardinality") or len(list(self._instances(my_task))))

    def _run_hook(self, my_task):
        if self.data_input is not None:
            my_task.data.pop(self.data_input.bpmn_id, None)
        return super()._run_hook(my_task)


class EngineParallelMultiInstance(_EngineMultiInstance, DefaultParallelMI):

    def merge_child(self, workflow, child):
        my_task = child.parent
        self._collect(my_task, child)
        if self.check_completion_condition(my_task):
            for other in self._instances(my_task):
                if not other.has_state(TaskState.FINISHED_MASK):
                    other.cancel()
            my_task._set_state(TaskState.READY)
        elif self.children_complete(my_task):
            my_task._set_state(TaskState.READY)


class EngineSequentialMultiInstance(_EngineMultiInstance, DefaultSequentialMI):

    def merge_child(self, workflow, child):
        my_task = child.parent
        self._collect(my_task, child)
        if self.children_complete(my_task) or self.check_completion_condition(my_task):
            my_task._set_state(TaskState.READY)
        else:
            self.add_next_child(my_task)


def _adapt_multi_instance(process_spec, task_spec) -> None:
    parallel = isinstance(task_spec, DefaultParallelMI)
    collection = task_spec.data_output.bpmn_id if task_spec.data_output is not None else None
    element = task_spec.output_item.bpmn_id if task_spec.output_item is not None else None
    inner = process_spec.task_specs.get(task_spec.task_spec)  # the activity itself keeps its properties
    properties = {**(getattr(inner, "extensions", None) or {}), **(getattr(task_spec, "extensions", None) or {})}
    task_spec.extensions = {**properties, "dalad_mi": {
        "collection": collection, "element": element,
        "output_collection": properties.get("outputCollection") or f"{task_spec.bpmn_id}_results",
        "output_element": properties.get("outputElement"),
    }}
    task_spec.data_input = TaskDataReference(f"_mi_{task_spec.bpmn_id}") if collection else None
    task_spec.input_item = TaskDataReference(element) if element else None
    task_spec.data_output = task_spec.output_item = None
    task_spec.__class__ = EngineParallelMultiInstance if parallel else EngineSequentialMultiInstance


_SPEC_CLASSES = {  # SpiffWorkflow's class -> the engine's, exactly (subclasses are left alone)
    DefaultStartEvent: EngineStartEvent, DefaultCallActivity: EngineCallActivity,
    DefaultBoundaryEvent: EngineBoundaryEvent, DefaultParallelGateway: EngineParallelGateway,
    DefaultInclusiveGateway: EngineInclusiveGateway,
    DefaultNoneTask: PassingNoneTask, DefaultManualTask: PassingManualTask,
}
_DEFINITION_CLASSES = {
    CycleTimerEventDefinition: EngineCycleTimer, TimeDateEventDefinition: EngineTimeDateTimer,
    DurationTimerEventDefinition: EngineDurationTimer, CamundaMessageEventDefinition: ProcessMessageEventDefinition,
    BpmnMessageEventDefinition: ProcessMessageEventDefinition, ErrorEventDefinition: EngineErrorEventDefinition,
    EscalationEventDefinition: EngineEscalationEventDefinition,
    SignalEventDefinition: EngineSignalEventDefinition, ConditionalEventDefinition: EngineConditionalEvent,
}


def _adapt_event_definition(task_spec, definition) -> None:
    if isinstance(task_spec, StartEvent) and isinstance(definition, TimerEventDefinition):
        definition.__class__ = EngineStartTimer
        return
    engine_class = _DEFINITION_CLASSES.get(type(definition))
    if engine_class is None:
        return
    if type(definition) is BpmnMessageEventDefinition:  # a receive task's plain BPMN message
        definition.expression, definition.result_var = None, None
    definition.__class__ = engine_class


def wire_event_subprocesses(process_spec) -> None:
    """SpiffWorkflow connects an event subprocess to the process the first time it is triggered,
    changing the (shared) spec so that later instances would start it at once: wire it now, as
    its trigger expects, without making it a step of the start."""
    start = process_spec.start
    for name in getattr(start, "trigger_specs", []):
        event_subprocess = process_spec.task_specs[name]
        if start.name not in event_subprocess._inputs:
            event_subprocess._inputs.append(start.name)
        if not event_subprocess.outputs:
            event_subprocess.connect(process_spec.end)


def _timer_event_subprocesses_as_triggers(process_spec, by_name: dict) -> None:
    """SpiffWorkflow runs an event subprocess started by a timer at once, as a branch of the start:
    make it a trigger like the others (engine/event_subprocesses.py arms its timer)."""
    start = process_spec.start
    for name in list(start._outputs):
        candidate = process_spec.task_specs.get(name)
        sub = by_name.get(getattr(candidate, "spec", None)) if isinstance(candidate, EventSubprocess) else None
        if sub is not None and any(isinstance(s.event_definition, TimerEventDefinition)
                                   for s in sub.bpmn_start_events):
            start._outputs.remove(name)
            start.trigger_specs.append(name)


def adapt_specs(specs) -> None:
    """Give freshly parsed specs the engine's semantics (see the module docstring)."""
    by_name = {s.name: s for s in specs}
    for process_spec in specs:
        _timer_event_subprocesses_as_triggers(process_spec, by_name)
        wire_event_subprocesses(process_spec)
        for task_spec in process_spec.task_specs.values():
            if type(task_spec) in _SPEC_CLASSES:
                task_spec.__class__ = _SPEC_CLASSES[type(task_spec)]
                if isinstance(task_spec, (PassingNoneTask, PassingManualTask)):
                    task_spec.manual = False
            if isinstance(task_spec, (DefaultParallelMI, DefaultSequentialMI)) and \
                    not isinstance(task_spec, _EngineMultiInstance):
                _adapt_multi_instance(process_spec, task_spec)
            definition = getattr(task_spec, "event_definition", None)
            for inner in (definition.event_definitions if isinstance(definition, MultipleEventDefinition)
                          else [definition]):
                _adapt_event_definition(task_spec, inner)


def register(registry) -> None:
    """Teach the serializer the engine's classes, with the converters of their SpiffWorkflow bases."""
    registry.register(InputParameter, lambda p: {"name": p.name, "value": p.value, "element_id": p.element_id},
                      lambda d: InputParameter(d["name"], d["value"], d["element_id"]))
    registry.register(OutputParameter, lambda p: {"name": p.name, "value": p.value, "element_id": p.element_id},
                      lambda d: OutputParameter(d["name"], d["value"], d["element_id"]))
    registry.register(LocalScopeEnd, lambda p: {"inputs": p.inputs, "outputs": p.outputs},
                      lambda d: LocalScopeEnd(d["inputs"], d["outputs"]))
    def converter_class(typename):
        return type(registry.convert_from_dict[typename].args[0].__self__)

    converter_class("MessageEventDefinition")(ProcessMessageEventDefinition, registry)
    converter_class("StartEvent")(EngineStartEvent, registry)
    converter_class("NoneTask")(DefaultServiceTask, registry)  # SpiffWorkflow's config forgot it
    converter_class("NoneTask")(EngineBusinessRuleTask, registry)
    converter_class("NoneTask")(PassingNoneTask, registry)
    converter_class("ManualTask")(PassingManualTask, registry)
    converter_class("ErrorEventDefinition")(EngineErrorEventDefinition, registry)
    converter_class("EscalationEventDefinition")(EngineEscalationEventDefinition, registry)
    converter_class("SignalEventDefinition")(EngineSignalEventDefinition, registry)
    converter_class("CallActivity")(EngineCallActivity, registry)
    converter_class("BoundaryEvent")(EngineBoundaryEvent, registry)
    converter_class("ParallelGateway")(EngineParallelGateway, registry)
    converter_class("InclusiveGateway")(EngineInclusiveGateway, registry)
    converter_class("TimeDateEventDefinition")(EngineStartTimer, registry)
    converter_class("CycleTimerEventDefinition")(EngineCycleTimer, registry)
    converter_class("ConditionalEventDefinition")(EngineConditionalEvent, registry)
    converter_class("TimeDateEventDefinition")(EngineTimeDateTimer, registry)
    converter_class("DurationTimerEventDefinition")(EngineDurationTimer, registry)
    converter_class("ParallelMultiInstanceTask")(EngineParallelMultiInstance, registry)
    converter_class("SequentialMultiInstanceTask")(EngineSequentialMultiInstance, registry)
