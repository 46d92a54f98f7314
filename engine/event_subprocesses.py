"""Event subprocesses (of the process, of an embedded subprocess, of a called process), as Camunda 7 runs them.

SpiffWorkflow starts an event subprocess when an event its start event catches reaches the
process (`BpmnStartTask.trigger_wf`, from the event manager): a message, a signal, or an error or
escalation no closer event caught (one event subprocess for it: the one naming its code, else the
one catching every code). What the engine adds:

- each one that starts gets its way to its scope's end, reads the scope's variables as they
  are, and, interrupting, cancels what else the scope was doing (its armed timers too);
- a timer start: SpiffWorkflow would run such a subprocess at once, as if it were embedded. The
  engine makes it a trigger like the others (engine/specs.py), armed when the process starts: its
  due time is kept on the root task (`TIMERS`), offered as a timer (a Timer row the scheduler
  fires) while the process runs, and fired by `fire_due` when the scheduler runs the instance at
  that time (replay runs it at the same time). A non-interrupting cycle re-arms itself; a
  duration or date fires once. A process without such timers pays one dict lookup per save.

An event subprocess inside an embedded subprocess has that subprocess for its scope, and one in a
called process the call, as in Camunda: its timer is armed (on the root task of the scope's
workflow) and its message or signal subscription opens when the scope starts, both end with it,
an interrupting one cancels only the rest of the scope (which then ends through it, and the
process goes on after the subprocess or call), and an error or escalation thrown inside reaches
the catchers from the innermost out: a boundary event in the scope, its event subprocess, a
boundary event on the subprocess or call activity, the event subprocesses around. Processes with
no such event subprocess below their own level (known from the spec, once) do no more work per
step than before. Multi-instance and loop subprocesses with event subprocesses are refused at
deploy (engine/validation.py).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Optional

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import CodeEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util.event import EventManager
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState

from . import clock, timers
from .errors import ExecutionError, ExpressionError
from .expressions import compile_template
from .specs import CalledSpecs, call_scope

TIMERS = "dalad_esp_timers"  # root task internal data: {event subprocess: its armed timer}


def _triggers(scope) -> list:
    """The event subprocesses of `scope`: the process (its workflow), or the workflow of an
    embedded subprocess or called process."""
    return getattr(scope.spec.start, "trigger_specs", None) or []


def _starts(scope, name: str) -> list:
    return scope.top_workflow.subprocess_specs[scope.spec.task_specs[name].spec].bpmn_start_events


def interrupting(scope, name: str) -> bool:
    return any((getattr(s, "extensions", None) or {}).get("dalad_interrupting", True) for s in _starts(scope, name))


def taken_over(scope) -> bool:
    """Whether an interrupting event subprocess of `scope` has started: the rest of it is over."""
    triggers = _triggers(scope)
    if not triggers:
        return False
    top = scope.top_workflow
    return any(sp.spec.name in triggers and interrupting(scope, sp.spec.name)
               and getattr(_task(top, task_id), "workflow", None) is scope
               for task_id, sp in top.subprocesses.items())


def _task(top, task_id):
    """The task of that id in the process or its subprocesses; None when it has none."""
    try:
        return top.get_task_from_id(task_id)
    except TaskNotFoundException:
        return None


def _timer_start(scope, name: str):
    """The timer start event of event subprocess `name`, or None."""
    for start in _starts(scope, name):
        if (getattr(start, "extensions", None) or {}).get("dalad_timer"):
            return start
    return None


def has_nested(workflow) -> bool:
    """Whether the process has event subprocesses below its own level, in embedded subprocesses or
    called processes (kept on its spec, or on the specs of the called versions it runs)."""
    subs = workflow.subprocess_specs
    kept = subs.__dict__ if isinstance(subs, CalledSpecs) else workflow.spec.__dict__
    found = kept.get("_dalad_nested_esp")
    if found is None:
        found = kept["_dalad_nested_esp"] = any(getattr(sub.start, "trigger_specs", None)
                                                for sub in subs.values() if sub is not None)
    return found


def live_scopes(workflow) -> list:
    """The running embedded subprocesses and calls of the process that have event subprocesses (none
    without such in the diagram: no walk), in a stable order."""
    if not has_nested(workflow):
        return []
    found = []
    for task_id, sub in workflow.subprocesses.items():
        if not getattr(sub.spec.start, "trigger_specs", None) or sub.completed:
            continue
        owner = _task(workflow, task_id)
        if owner is not None and owner.state == TaskState.STARTED:
            found.append((_scope_key(owner), sub))
    return [sub for _, sub in sorted(found, key=lambda kv: kv[0])]


def _scope_key(owner) -> tuple:
    """Where a scope's subprocess task is: its depth, then its element (the order of digests)."""
    return owner.workflow.depth, owner.task_spec.name


def finishing_triggers(workflow) -> list[str]:
    """The event subprocesses of a process or embedded subprocess that run to their end beside it
    (kept on its spec: read once): those started by a timer, and every non-interrupting one. Each
    occurrence that has ended may leave the state (runtime.compact): a monthly message or a yearly
    signal would otherwise add one branch each time, for as long as the project lives."""
    spec = workflow.spec
    found = spec.__dict__.get("_dalad_finishing_triggers")
    if found is None:
        found = spec._dalad_finishing_triggers = [n for n in _triggers(workflow) if _timer_start(workflow, n)
                                                  is not None or not interrupting(workflow, n)]
    return found


def timer_triggers(workflow) -> list[str]:
    """The event subprocesses of a process or embedded subprocess started by a timer (kept on its
    spec: read once)."""
    spec = workflow.spec
    found = spec.__dict__.get("_dalad_timer_triggers")
    if found is None:
        found = spec._dalad_timer_triggers = [n for n in _triggers(workflow) if _timer_start(workflow, n) is not None]
    return found


# --- starting one ------------------------------------------------------------------------------

def started(workflow, before: set) -> None:
    """Event subprocesses that started since the process had the subprocesses `before`: each gets
    its way to its scope's end (SpiffWorkflow adds it without one) and the scope's variables; an
    interrupting one cancels what else its scope (the process, an embedded subprocess or a call)
    was doing."""
    for task_id, subprocess in list(workflow.subprocesses.items()):
        if task_id in before:
            continue
        trigger = workflow.get_task_from_id(task_id)
        scope = trigger.workflow
        if subprocess.spec.name not in _triggers(scope):
            continue
        if not trigger.children:
            trigger.task_spec._predict(trigger, mask=TaskState.NOT_FINISHED_MASK)
        _share_process_variables(scope, trigger, subprocess)
        if not interrupting(scope, subprocess.spec.name):
            continue
        for task in scope.get_tasks(state=TaskState.NOT_FINISHED_MASK):
            if task is trigger or trigger.is_descendant_of(task) or task.is_descendant_of(trigger):
                continue
            if task.workflow is scope and not task.has_state(TaskState.FINISHED_MASK):
                task.cancel()
        armed = scope.task_tree.internal_data.get(TIMERS)
        for timer in (armed or {}).values():  # the scope it belonged to is over
            timer["due"] = None


def _share_process_variables(workflow, trigger, subprocess) -> None:
    """An event subprocess reads the process's variables as they are now (Camunda runs it in the
    instance's scope), beneath what its event brought: those the steps of its scope hold, and those
    of the embedded subprocesses running in it (what they wrote is the process instance's)."""
    current = dict(workflow.data)
    if workflow.last_task is not None and workflow.last_task.workflow is workflow \
            and not workflow.last_task.is_descendant_of(trigger):
        current.update(workflow.last_task.data)
    call = call_scope(workflow)
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
        if task.workflow is workflow:
            if task is not trigger and not task.is_descendant_of(trigger):
                current.update(task.data)
        elif task.workflow is not subprocess and call_scope(task.workflow) == call:
            current.update(task.data)
    for task in subprocess.get_tasks():
        task.data = {**current, **task.data}


EVERY_CALL = "every call"  # an event's `dalad_call` when it goes to every process instance of the tree

_update_collaboration = EventManager.update_collaboration
_catch = EventManager.catch


def _chosen_for_code(scope, event) -> Optional[str]:
    """The event subprocess of `scope` an error or escalation starts, as in Camunda: the first whose
    start names its code, else the first that catches every code (None: none catches it)."""
    matching = [(name, start) for name in _triggers(scope) for start in _starts(scope, name)
                if start.event_definition == event.event_definition]
    chosen = [m for m in matching if m[1].event_definition.code is not None] or matching
    return chosen[0][0] if chosen else None


def _start_in_scope(manager, scope, name: str, event, *, catch: bool) -> None:
    """Start event subprocess `name` of `scope` for `event`; `catch`: let its start event catch it
    now (a message or signal reaches it with the other catchers, in `EventManager.catch`)."""
    child_id = scope.spec.start.trigger_wf(scope.task_tree, name)
    subprocess = manager.workflow.subprocesses[child_id]
    subprocess.correlations.update(event.correlations)
    if not catch:
        return
    for task in [t for t in manager.tasks.values() if t.workflow is subprocess and t.task_spec.catches(t, event)]:
        task.task_spec.catch(task, event)
        task.task_spec._update(task)


def _start_for_event(manager, event) -> None:
    """SpiffWorkflow's `EventManager.update_collaboration` (a message or signal starts the process's
    event subprocesses waiting for it), except that an error or escalation starts one event
    subprocess, as in Camunda (`_chosen_for_code`); a message or signal also starts those of the
    running embedded subprocesses and calls that wait for it (a message correlated to one process
    instance of the tree, `event.dalad_call`: only that instance's)."""
    workflow = manager.workflow
    if isinstance(event.event_definition, CodeEventDefinition):
        name = _chosen_for_code(workflow, event)
        if name is not None:
            child_id = workflow.spec.start.trigger_wf(workflow.task_tree, name)
            workflow.subprocesses[child_id].correlations.update(event.correlations)
        return
    call = getattr(event, "dalad_call", EVERY_CALL)
    only = getattr(event, "dalad_only", None)  # a message for some of its subscriptions (engine/runtime.py)
    if (call is EVERY_CALL or call is None) and \
            (only is None or any((str(workflow.task_tree.id), name) in only for name in _triggers(workflow))):
        _update_collaboration(manager, event)
    for scope in live_scopes(workflow):
        if taken_over(scope) or (call is not EVERY_CALL and call_scope(scope) != call):
            continue
        for name in _triggers(scope):
            if only is not None and (str(scope.task_tree.id), name) not in only:
                continue
            if any(start.event_definition == event.event_definition for start in _starts(scope, name)):
                _start_in_scope(manager, scope, name, event, catch=False)


def _catch_in_scopes(manager, event, internal=True):
    """SpiffWorkflow's `EventManager.catch`, except that a message correlated to one process
    instance of the tree (`event.dalad_call`: the call activity task of a called one, None the
    root's own) is caught in that instance alone, and one correlated to some of the executions
    waiting for it (`event.dalad_only`: catch events (task id, None) and event subprocesses (scope
    root id, subprocess), engine/runtime.py) by those alone; and that an error or escalation going
    up from an embedded subprocess or called process that nothing in it caught starts its event
    subprocess for it, if it has one, before it goes on to the scope around (Camunda's innermost
    catcher first)."""
    scope = event.target
    call = getattr(event, "dalad_call", EVERY_CALL)
    only = getattr(event, "dalad_only", None)
    if scope is None and (call is not EVERY_CALL or only is not None):  # a message for some of its receivers
        workflow = manager.workflow
        before = set(workflow.subprocesses)
        manager.update_collaboration(event)
        started = {id(sp) for key, sp in workflow.subprocesses.items() if key not in before}
        tasks = [t for t in manager.tasks.values() if t.task_spec.catches(t, event)
                 and (call is EVERY_CALL or call_scope(t.workflow) == call)
                 and (only is None or (str(t.id), None) in only or id(t.workflow) in started)]
        for task in tasks:
            task.task_spec.catch(task, event)
            task.task_spec._update(task)
        return len(tasks)
    if scope is not None and scope.parent_task_id is not None and _triggers(scope) \
            and isinstance(event.event_definition, CodeEventDefinition) \
            and not any(t.workflow == scope and t.task_spec.event_definition.catches(t, event)
                        for t in manager.tasks.values()):
        name = _chosen_for_code(scope, event)
        if name is not None:
            _start_in_scope(manager, scope, name, event, catch=True)
            return 1
    return _catch(manager, event, internal)


EventManager.update_collaboration = _start_for_event
EventManager.catch = _catch_in_scopes


def catches_error(workflow, event, scopes=()) -> bool:
    """Whether an error event subprocess of the process, or of one of the subprocesses or calls
    `scopes` around the thrower, catches the error `event`."""
    return any(start.event_definition == event.event_definition
               for scope in [*scopes, workflow]
               for name in _triggers(scope) for start in _starts(scope, name))


# --- timers ------------------------------------------------------------------------------------

def arm(workflow) -> None:
    """Arm the timers of the process's timer event subprocesses: it starts now, with its start
    variables (a timer value may be an expression over them)."""
    names = timer_triggers(workflow)
    if names:
        workflow.task_tree.internal_data[TIMERS] = _armed(workflow, names, workflow.data)


def arm_scope(scope, variables: dict) -> None:
    """Arm the timers of the timer event subprocesses of an embedded subprocess or called process
    that starts now with `variables`."""
    names = timer_triggers(scope)
    if names:
        scope.task_tree.internal_data[TIMERS] = _armed(scope, names, variables)


def _armed(workflow, names: list[str], variables: dict) -> dict:
    now = clock.now()
    armed = {}
    for name in names:
        start = _timer_start(workflow, name)
        config = start.extensions["dalad_timer"]
        try:
            text = _timer_text(compile_template(config["text"]).evaluate(dict(variables)))
            due = timers.first_due(config["kind"], text, now)
        except (ExpressionError, ValueError) as exc:
            raise ExecutionError(f"timer of event subprocess '{name}': {exc}", element_id=start.bpmn_id) from exc
        armed[name] = {"element": start.bpmn_id, "kind": config["kind"], "text": text, "started": now.isoformat(),
                       "fired": 0, "due": due.isoformat() if due else None}
    return armed


def retarget(workflow) -> None:
    """After a migration to another version (`workflow.spec` is the target's): a timer whose event
    subprocess the target has keeps its due time, one the target lacks goes, one the target adds
    is armed now (unless an interrupting event subprocess took its scope over); in the process and
    in each running subprocess or call."""
    _retarget_scope(workflow, workflow.data)
    for scope in live_scopes(workflow):
        _retarget_scope(scope, scope.task_tree.children[0].data if scope.task_tree.children else {})


def _retarget_scope(scope, variables: dict) -> None:
    root = scope.task_tree
    armed = root.internal_data.get(TIMERS) or {}
    names = timer_triggers(scope)
    if not armed and not names:
        return
    kept = {name: {**armed[name], "element": _timer_start(scope, name).bpmn_id} for name in names if name in armed}
    added = [name for name in names if name not in armed]
    if added and not taken_over(scope):
        kept.update(_armed(scope, added, variables))
    if kept:
        root.internal_data[TIMERS] = kept
    else:
        root.internal_data.pop(TIMERS, None)


def _timer_text(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


def armed_timers(workflow) -> list[tuple[str, str, datetime, str]]:
    """(a task id of its own, start event, due time, the root task of its scope) of each armed event
    subprocess timer, the process's and those of its running subprocesses and calls."""
    found = []
    for scope in [workflow, *live_scopes(workflow)]:
        armed = scope.task_tree.internal_data.get(TIMERS)
        if armed:
            root = scope.task_tree.id
            found.extend((str(uuid.uuid5(root, name)), timer["element"], datetime.fromisoformat(timer["due"]),
                          str(root)) for name, timer in sorted(armed.items()) if timer["due"] is not None)
    return found


def armed_timer(workflow, task_uuid: str) -> tuple:
    """(scope, event subprocess) of the armed timer whose Timer row has task uuid `task_uuid`
    (`armed_timers`), or (None, None)."""
    for scope in [workflow, *live_scopes(workflow)]:
        for name, timer in (scope.task_tree.internal_data.get(TIMERS) or {}).items():
            if timer["due"] is not None and str(uuid.uuid5(scope.task_tree.id, name)) == task_uuid:
                return scope, name
    return None, None


def bring_forward(scope, name: str, now: datetime) -> None:
    """Make the armed timer of event subprocess `name` of `scope` due `now` (executed early by hand):
    it fires as the occurrence it waited for, which a cycle then counts as done."""
    timer = (scope.task_tree.internal_data.get(TIMERS) or {}).get(name) if scope is not None else None
    if timer is not None and timer["due"] is not None:
        timer["occurrence"], timer["due"] = timer.get("occurrence") or timer["due"], now.isoformat()


def move(scope, name: str, due: datetime, cascade: bool) -> None:
    """Set the due date of the armed timer of event subprocess `name` of `scope` (Camunda's job due
    date; `timers.move_occurrence`)."""
    timer = (scope.task_tree.internal_data.get(TIMERS) or {}).get(name) if scope is not None else None
    if timer is not None and timer["due"] is not None:
        timers.move_occurrence(timer, "due", due, cascade)


def fire_due(workflow) -> None:
    """Start the event subprocesses whose timers are due, earliest first (the engine's clock); an
    interrupting one that ends a scope disarms the timers inside it."""
    if workflow.completed:
        return
    now = clock.now()
    while True:
        due = []
        for position, scope in enumerate([workflow, *live_scopes(workflow)]):
            armed = scope.task_tree.internal_data.get(TIMERS)
            due.extend((timer["due"], position, name, scope) for name, timer in (armed or {}).items()
                       if timer["due"] is not None and datetime.fromisoformat(timer["due"]) <= now)
        if not due:
            return
        at, _position, name, scope = min(due, key=lambda d: d[:3])
        timer = scope.task_tree.internal_data[TIMERS][name]
        timer["fired"] += 1
        following = None
        occurrence = timer.pop("occurrence", None) or at  # (executed early: the one it stood for)
        if not interrupting(scope, name):
            following = timers.following_occurrence(timer["kind"], timer["text"], occurrence, timer["fired"],
                                                    timer["started"], timer.get("offset_ms"))
        timer["due"] = following.isoformat() if following else None
        _start_by_timer(workflow, scope, name)


def _start_by_timer(workflow, scope, name: str) -> None:
    before = set(workflow.subprocesses)
    child_id = scope.spec.start.trigger_wf(scope.task_tree, name)
    subprocess = workflow.subprocesses[child_id]
    for task in subprocess.get_tasks(state=TaskState.WAITING):
        if isinstance(task.task_spec, StartEvent):
            task._set_internal_data(event_fired=True)
            task.task_spec._update(task)
    started(workflow, before)


def digest_part(workflow) -> Optional[dict]:
    """What the state digest adds for the armed timers (None without any); those of running
    subprocesses and calls under a key of their own."""
    part = workflow.task_tree.internal_data.get(TIMERS) or None
    nested = [armed for armed in (s.task_tree.internal_data.get(TIMERS) for s in live_scopes(workflow)) if armed]
    if nested:  # (in an order that does not depend on task ids: several calls of one activity)
        part = {**(part or {}), " in subprocesses": sorted(nested, key=lambda a: json.dumps(a, sort_keys=True))}
    return part
