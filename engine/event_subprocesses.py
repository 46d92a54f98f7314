"""Event subprocesses at the process level, as Camunda 7 runs them.

SpiffWorkflow starts an event subprocess when an event its start event catches reaches the
process (`BpmnStartTask.trigger_wf`, from the event manager): a message, a signal, or an error or
escalation no closer event caught (one event subprocess for it: the one naming its code, else the
one catching every code). What the engine adds:

- each one that starts gets its way to the process's end, reads the process's variables as they
  are, and, interrupting, cancels what else the process was doing (its armed timers too);
- a timer start: SpiffWorkflow would run such a subprocess at once, as if it were embedded. The
  engine makes it a trigger like the others (engine/specs.py), armed when the process starts: its
  due time is kept on the root task (`TIMERS`), offered as a timer (a Timer row the scheduler
  fires) while the process runs, and fired by `fire_due` when the scheduler runs the instance at
  that time (replay runs it at the same time). A non-interrupting cycle re-arms itself; a
  duration or date fires once. A process without such timers pays one dict lookup per save.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import CodeEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util.event import EventManager
from SpiffWorkflow.util.task import TaskState

from . import clock, timers
from .errors import ExecutionError, ExpressionError
from .expressions import compile_template

TIMERS = "dalad_esp_timers"  # root task internal data: {event subprocess: its armed timer}


def _triggers(workflow) -> list:
    return getattr(workflow.spec.start, "trigger_specs", None) or []


def interrupting(workflow, name: str) -> bool:
    return any((getattr(s, "extensions", None) or {}).get("dalad_interrupting", True)
               for s in workflow.subprocess_specs[name].bpmn_start_events)


def taken_over(workflow) -> bool:
    """Whether an interrupting event subprocess has started: the rest of the process is over."""
    triggers = _triggers(workflow)
    return any(sp.spec.name in triggers and interrupting(workflow, sp.spec.name)
               for sp in workflow.subprocesses.values())


def _timer_start(workflow, name: str):
    """The timer start event of event subprocess `name`, or None."""
    for start in workflow.subprocess_specs[name].bpmn_start_events:
        if (getattr(start, "extensions", None) or {}).get("dalad_timer"):
            return start
    return None


def timer_triggers(workflow) -> list[str]:
    """The process's event subprocesses started by a timer (kept on its spec: read once)."""
    spec = workflow.spec
    found = spec.__dict__.get("_dalad_timer_triggers")
    if found is None:
        found = spec._dalad_timer_triggers = [n for n in _triggers(workflow) if _timer_start(workflow, n) is not None]
    return found


# --- starting one ------------------------------------------------------------------------------

def started(workflow, before: set) -> None:
    """Event subprocesses that started since the process had the subprocesses `before`: each gets
    its way to the process's end (SpiffWorkflow adds it without one) and the process's variables;
    an interrupting one cancels what else the process was doing."""
    triggers = _triggers(workflow)
    for task_id, subprocess in list(workflow.subprocesses.items()):
        if task_id in before or subprocess.spec.name not in triggers:
            continue
        trigger = workflow.get_task_from_id(task_id)
        if not trigger.children:
            trigger.task_spec._predict(trigger, mask=TaskState.NOT_FINISHED_MASK)
        _share_process_variables(workflow, trigger, subprocess)
        if not interrupting(workflow, subprocess.spec.name):
            continue
        for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
            if task is trigger or trigger.is_descendant_of(task) or task.is_descendant_of(trigger):
                continue
            if task.workflow is workflow and not task.has_state(TaskState.FINISHED_MASK):
                task.cancel()
        armed = workflow.task_tree.internal_data.get(TIMERS)
        for timer in (armed or {}).values():  # the process it belonged to is over
            timer["due"] = None


def _share_process_variables(workflow, trigger, subprocess) -> None:
    """An event subprocess reads the process's variables as they are now (Camunda runs it in the
    instance's scope), beneath what its event brought."""
    current = dict(workflow.data)
    if workflow.last_task is not None and workflow.last_task.workflow is workflow \
            and not workflow.last_task.is_descendant_of(trigger):
        current.update(workflow.last_task.data)
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
        if task.workflow is workflow and task is not trigger and not task.is_descendant_of(trigger):
            current.update(task.data)
    for task in subprocess.get_tasks():
        task.data = {**current, **task.data}


_update_collaboration = EventManager.update_collaboration


def _start_one_for_code(manager, event) -> None:
    """SpiffWorkflow's `EventManager.update_collaboration`, except that an error or escalation
    starts one event subprocess, as in Camunda: the first whose start names its code, else the
    first that catches every code."""
    if not isinstance(event.event_definition, CodeEventDefinition):
        return _update_collaboration(manager, event)
    workflow = manager.workflow
    matching = [(name, start) for name in _triggers(workflow)
                for start in workflow.subprocess_specs[name].bpmn_start_events
                if start.event_definition == event.event_definition]
    chosen = [m for m in matching if m[1].event_definition.code is not None] or matching
    if chosen:
        child_id = workflow.spec.start.trigger_wf(workflow.task_tree, chosen[0][0])
        workflow.subprocesses[child_id].correlations.update(event.correlations)


EventManager.update_collaboration = _start_one_for_code


def catches_error(workflow, event) -> bool:
    """Whether an error event subprocess of the process catches the error `event`."""
    return any(start.event_definition == event.event_definition
               for name in _triggers(workflow) for start in workflow.subprocess_specs[name].bpmn_start_events)


# --- timers ------------------------------------------------------------------------------------

def arm(workflow) -> None:
    """Arm the timers of the process's timer event subprocesses: it starts now, with its start
    variables (a timer value may be an expression over them)."""
    names = timer_triggers(workflow)
    if names:
        workflow.task_tree.internal_data[TIMERS] = _armed(workflow, names)


def _armed(workflow, names: list[str]) -> dict:
    now = clock.now()
    armed = {}
    for name in names:
        start = _timer_start(workflow, name)
        config = start.extensions["dalad_timer"]
        try:
            text = _timer_text(compile_template(config["text"]).evaluate(dict(workflow.data)))
            due = timers.first_due(config["kind"], text, now)
        except (ExpressionError, ValueError) as exc:
            raise ExecutionError(f"timer of event subprocess '{name}': {exc}", element_id=start.bpmn_id) from exc
        armed[name] = {"element": start.bpmn_id, "kind": config["kind"], "text": text, "started": now.isoformat(),
                       "fired": 0, "due": due.isoformat() if due else None}
    return armed


def retarget(workflow) -> None:
    """After a migration to another version (`workflow.spec` is the target's): a timer whose event
    subprocess the target has keeps its due time, one the target lacks goes, one the target adds
    is armed now (unless an interrupting event subprocess took the process over)."""
    root = workflow.task_tree
    armed = root.internal_data.get(TIMERS) or {}
    names = timer_triggers(workflow)
    if not armed and not names:
        return
    kept = {name: {**armed[name], "element": _timer_start(workflow, name).bpmn_id} for name in names if name in armed}
    added = [name for name in names if name not in armed]
    if added and not taken_over(workflow):
        kept.update(_armed(workflow, added))
    if kept:
        root.internal_data[TIMERS] = kept
    else:
        root.internal_data.pop(TIMERS, None)


def _timer_text(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


def armed_timers(workflow) -> list[tuple[str, str, datetime]]:
    """(a task id of its own, start event, due time) of each armed event subprocess timer."""
    armed = workflow.task_tree.internal_data.get(TIMERS)
    if not armed:
        return []
    root = workflow.task_tree.id
    return [(str(uuid.uuid5(root, name)), timer["element"], datetime.fromisoformat(timer["due"]))
            for name, timer in sorted(armed.items()) if timer["due"] is not None]


def fire_due(workflow) -> None:
    """Start the event subprocesses whose timers are due, earliest first (the engine's clock)."""
    armed = workflow.task_tree.internal_data.get(TIMERS)
    if not armed or workflow.completed:
        return
    now = clock.now()
    while True:
        due = sorted((timer["due"], name) for name, timer in armed.items()
                     if timer["due"] is not None and datetime.fromisoformat(timer["due"]) <= now)
        if not due:
            return
        at, name = due[0]
        timer = armed[name]
        timer["fired"] += 1
        following = None
        if not interrupting(workflow, name):
            following = timers.next_due(timer["kind"], timer["text"], datetime.fromisoformat(at), timer["fired"],
                                        started=datetime.fromisoformat(timer["started"]))
        timer["due"] = following.isoformat() if following else None
        _start_by_timer(workflow, name)


def _start_by_timer(workflow, name: str) -> None:
    before = set(workflow.subprocesses)
    child_id = workflow.spec.start.trigger_wf(workflow.task_tree, name)
    subprocess = workflow.subprocesses[child_id]
    for task in subprocess.get_tasks(state=TaskState.WAITING):
        if isinstance(task.task_spec, StartEvent):
            task._set_internal_data(event_fired=True)
            task.task_spec._update(task)
    started(workflow, before)


def digest_part(workflow) -> Optional[dict]:
    """What the state digest adds for the armed timers (None without any)."""
    return workflow.task_tree.internal_data.get(TIMERS) or None
