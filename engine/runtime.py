"""Pure SpiffWorkflow: build workflows, run them, and read what they wait for.

Nothing here touches the database or Flask. The workflow state is serialised without its spec
(the spec is rebuilt once per definition version and cached by the caller).
"""
from __future__ import annotations

import hashlib
import json
import logging
import operator
import time
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Optional
from uuid import UUID

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
import SpiffWorkflow.bpmn.script_engine.python_engine as spiff_python_engine
import SpiffWorkflow.bpmn.script_engine.python_environment as spiff_python_environment
import SpiffWorkflow.bpmn.serializer.migration.version_1_2 as spiff_migration_1_2
import SpiffWorkflow.bpmn.workflow as spiff_workflow_module
import SpiffWorkflow.specs.Transform as spiff_transform
import SpiffWorkflow.specs.base as spiff_task_spec
import SpiffWorkflow.task as spiff_task
import SpiffWorkflow.workflow as spiff_workflow_base
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, TaskConverter
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (CycleTimerEventDefinition,
                                                              TimerEventDefinition)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity, SubWorkflowTask
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException, WorkflowException
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from . import clock, event_subprocesses, jsontext, process_variables, specs
from .errors import ExecutionError, ExpressionError, TaskNotReady
from .scripts import TASK_CHANGES, compile_script
from .timers import move_occurrence
from .expressions import compile_any


class _ClockDatetime(datetime):
    """`datetime` whose now() is the engine clock: SpiffWorkflow's timers read time through it."""

    @classmethod
    def now(cls, tz=None):
        value = clock.now()
        return value if tz is None or tz is timezone.utc else value.astimezone(tz)


# SpiffWorkflow's timer module calls datetime.now() itself; give it the engine's one clock so
# tests move time without sleeping and replay sets the time of each event.
spiff_timer.datetime = _ClockDatetime
spiff_timer.LOCALTZ = clock.local_zone()


def listener_changes(task) -> Optional[dict]:
    """What the create listeners before `task` recorded of their user task (TASK_CHANGES): kept on
    the step before it, or further up through the other elements inserted there (a Java listener's
    external task between two Python ones); their ids are `<owner>__…` (engine/foreign.py)."""
    parent = task.parent
    while parent is not None:
        found = parent.internal_data.get(TASK_CHANGES)
        if found is not None:
            return found
        if "__" not in (parent.task_spec.bpmn_id or ""):
            return None
        parent = parent.parent
    return None


def failure(message: str, task=None) -> ExecutionError:
    """An ExecutionError at `task`'s element, naming the call whose called process it is in."""
    if task is None:
        return ExecutionError(message)
    try:
        call_task = specs.call_scope(task.workflow)
    except TaskNotFoundException:
        call_task = None
    return ExecutionError(message, element_id=task.task_spec.bpmn_id, call_task=call_task)


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """Where SpiffWorkflow evaluates diagram code. Some of its own classes call
    `script_engine.environment.evaluate` directly (message correlation properties, ad-hoc
    subprocesses), so the environment itself is the engine's: expressions go through the
    whitelisted evaluator, scripts through the script interpreter, and nothing reaches Python's
    eval or exec."""

    def __init__(self, environment_globals=None):
        super().__init__({})  # no globals: functions come from the evaluator's whitelist only

    def evaluate(self, expression, context, external_context=None):
        return compile_any(expression).evaluate({**(external_context or {}), **context})

    def execute(self, script, context, external_context=None):
        context.update(compile_script(script).run(context))
        return True

    def call_service(self, context, **kwargs):
        raise ExpressionError("the engine calls no services from a diagram; use an external task")


class SafeScriptEngine(PythonScriptEngine):
    """Evaluate diagram expressions with the engine's whitelisted evaluator only."""

    def __init__(self, environment=None):
        super().__init__(environment=SandboxEnvironment())

    def validate(self, expression):
        compile_any(expression)

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError as exc:
            raise failure(str(exc), task) from exc

    def execute(self, task, script, external_context=None):
        try:
            carried = listener_changes(task)
            if carried is not None:  # a create listener before this one changed the same task
                task.data[TASK_CHANGES] = carried
            done = self.environment.execute(script, task.data)
            changes = task.data.pop(TASK_CHANGES, None)  # for the task's creation, not a variable
            if changes is not None:
                task.internal_data[TASK_CHANGES] = changes
            return done
        except ExpressionError as exc:
            raise failure(str(exc), task) from exc

    def call_service(self, task, **kwargs):
        raise failure("the engine calls no services from a diagram; use an external task", task)


def _never(*args, **kwargs):
    raise ExecutionError("diagram code never runs through Python's eval or exec")


# SpiffWorkflow's defaults would be Python's eval/exec: a workflow or script engine made without
# the engine's (BpmnWorkflow(spec), PythonScriptEngine()) gets the sandbox too, and the modules
# that call eval/exec themselves (the default environment, an old serializer migration, the
# generic Transform spec) find the names bound to a refusal.
spiff_workflow_module.PythonScriptEngine = SafeScriptEngine
spiff_python_engine.TaskDataEnvironment = SandboxEnvironment
for _module in (spiff_python_environment, spiff_migration_1_2, spiff_transform):
    _module.eval = _module.exec = _never

_TASK_LOG = spiff_task.logger


def _set_state(task, value: int) -> None:
    """SpiffWorkflow's `Task._set_state`, except that the details of its log record are gathered
    only when the record is logged (it gathers them at every change of a task's state, logged or
    not: a tenth of a step's work in SpiffWorkflow)."""
    if value != task._state:
        now = time.time()
        elapsed, task.last_state_change, task._state = now - task.last_state_change, now, value
        if _TASK_LOG.isEnabledFor(logging.INFO):
            _TASK_LOG.info(f"State changed to {TaskState.get_name(value)}",
                           extra=task.collect_log_extras({"elapsed": elapsed}))
    elif _TASK_LOG.isEnabledFor(logging.DEBUG):
        _TASK_LOG.debug(f"State set to {TaskState.get_name(value)}", extra=task.collect_log_extras())


spiff_task.Task._set_state = _set_state

_update_all_waiting = spiff_workflow_base.Workflow.update_waiting_tasks


def _update_waiting_tasks(workflow) -> None:
    """SpiffWorkflow's `Workflow.update_waiting_tasks` (run after every task that completes), with
    no walk of the task tree when none of the workflow's tasks waits: most steps have none."""
    if any(task._state == TaskState.WAITING for task in workflow.tasks.values()):
        _update_all_waiting(workflow)


spiff_workflow_base.Workflow.update_waiting_tasks = _update_waiting_tasks


def _on_complete(task_spec, task) -> None:
    """SpiffWorkflow's `TaskSpec._on_complete`, with what the task set published to its process
    instance before its next steps inherit its data (engine/process_variables.py)."""
    task_spec._on_complete_hook(task)
    process_variables.completed(task)
    for child in task.children:
        if not child._state & TaskState.FINISHED_MASK:
            child.task_spec._update(child)
    task.workflow._task_completed_notify(task)


spiff_task_spec.TaskSpec._on_complete = _on_complete
spiff_task.Task._inherit_data = process_variables.inherit

SCRIPT_ENGINE = SafeScriptEngine()
REGISTRY = BpmnWorkflowSerializer.configure(DEFAULT_CONFIG)
specs.register(REGISTRY)
_WORKFLOW_CONVERTER = REGISTRY.convert_from_dict[REGISTRY.typenames[BpmnWorkflow]].args[0].__self__
_Task = spiff_task.Task
_TASK_TYPENAME = REGISTRY.typenames[_Task]
_SUBWORKFLOW_TYPENAME = REGISTRY.typenames[BpmnSubWorkflow]
_SUBWORKFLOW_CONVERTER = REGISTRY.convert_from_dict[_SUBWORKFLOW_TYPENAME].args[0].__self__
# dump_state writes what SpiffWorkflow's converters of these write: only while they are the registry's
_DIRECT = type(REGISTRY.convert_to_dict[_TASK_TYPENAME].args[1].__self__) is TaskConverter and \
    type(REGISTRY.convert_to_dict[_SUBWORKFLOW_TYPENAME].args[1].__self__) is BpmnSubWorkflowConverter
# values the registry returns as they are (it converts what it has a class registered for)
_PLAIN = frozenset(t for t in (str, int, float, bool, type(None)) if t not in REGISTRY.typenames)


# --- specs -------------------------------------------------------------------------------------

def spec_to_dict(spec, subprocess_specs: dict) -> dict:
    """Serialise a process spec and the specs of its call activities and subprocesses."""
    return {"spec": REGISTRY.convert(spec),
            "subprocess_specs": {name: REGISTRY.convert(s) for name, s in subprocess_specs.items()}}


def spec_from_dict(dct: dict):
    """Rebuild (spec, subprocess_specs) from `spec_to_dict`'s output."""
    spec = REGISTRY.restore(json.loads(json.dumps(dct["spec"])))
    subs = {name: REGISTRY.restore(json.loads(json.dumps(s))) for name, s in dct["subprocess_specs"].items()}
    for process_spec in (spec, *(s for s in subs.values() if s is not None)):
        specs.wire_event_subprocesses(process_spec)  # the serializer keeps no input link of theirs
    return spec, subs


# --- state -------------------------------------------------------------------------------------

def new_workflow(spec, subprocess_specs) -> BpmnWorkflow:
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.dalad_compacted = _empty_summary()
    workflow.dalad_instance_variables = True  # engine/process_variables.py
    return workflow


_FINAL = TaskState.COMPLETED | TaskState.CANCELLED


def task_to_dict(task) -> dict:
    """What `REGISTRY.convert(task)` gives, key for key (SpiffWorkflow's TaskConverter: the data
    of a task with a parent as a delta against the parent's, its internal data through the
    registry), without the registry's dispatch by class at every level. Internal data of other
    than plain values, and anything but a plain Task, still go through the registry."""
    return _task_dict(task, task.parent)


def _task_dict(task, parent) -> dict:
    if task.__class__ is not _Task or not _DIRECT:
        return REGISTRY.convert(task)
    data = task.data
    internal = task.internal_data
    if internal.__class__ is dict and (not internal or all(v.__class__ in _PLAIN for v in internal.values())):
        internal = dict(internal)
    else:
        internal = REGISTRY.convert(internal)
    if parent is None:
        own, delta = data, {}
    elif not data and data.__class__ is dict and parent.data.__class__ is dict:  # predicted: all keys deleted
        own, delta = {}, {"updates": {}, "deletions": list(parent.data)}
    else:
        own, delta = {}, _delta(parent.data, data)
    return {"id": _id_text(task), "parent": None if parent is None else _id_text(parent),
            "children": _children_text(task), "last_state_change": task.last_state_change,
            "state": task._state, "task_spec": task.task_spec.name, "triggered": task.triggered,
            "internal_data": internal, "data": own, "delta": delta, "typename": _TASK_TYPENAME}


def _id_text(task) -> str:
    """str(task.id), kept on the task (its id never changes): a save writes it as the task's, its
    parent's and its children's, and UUID's str() is Python code."""
    text = task.__dict__.get("_dalad_id")
    if text is None:
        text = task._dalad_id = str(task.id)
    return text


def _children_text(task) -> list:
    """[str(id) of each child], kept on the task until its children change."""
    ids = task._children
    kept = task.__dict__.get("_dalad_children")
    if kept is None or kept[0] != ids:
        kept = task._dalad_children = (list(ids), [str(child) for child in ids])
    return list(kept[1])


def _delta(base: dict, data: dict) -> dict:
    """DeepMerge.get_updated_keys / get_deleted_keys of SpiffWorkflow (compared with `!=` key by
    key, as they compare), faster where the keys are the same or the parent has no data (a task
    without data of its own is written by _task_dict)."""
    if base.__class__ is not dict or data.__class__ is not dict:
        return {"updates": DeepMerge.get_updated_keys(base, data), "deletions": DeepMerge.get_deleted_keys(base, data)}
    if not base:
        return {"updates": dict(data), "deletions": []}
    if data.keys() == base.keys():
        changed = list(map(operator.ne, data.values(), map(base.__getitem__, data)))
        if not any(changed):
            return {"updates": {}, "deletions": []}
        return {"updates": {k: v for (k, v), c in zip(data.items(), changed) if c}, "deletions": []}
    return {"updates": {k: v for k, v in data.items() if k not in base or v != base[k]},
            "deletions": [k for k in base if k not in data]}


def dump_state(workflow: BpmnWorkflow) -> str:
    """Serialise the workflow's runtime state (tasks, data, events) as JSON, without the spec:
    what SpiffWorkflow's serializer writes for it, byte for byte.

    Finished tasks do not change, so their JSON is kept on the task and reused by the next save of
    the same (cached) workflow: a save costs what changed, not the whole history.
    """
    parts = [_task_json(task) for task in workflow.tasks.values()]
    head = {
        **_workflow_fields(workflow),
        "root": str(workflow.task_tree.id),
        "subprocesses": {str(task_id): _subworkflow_to_dict(sub) for task_id, sub in workflow.subprocesses.items()},
        "bpmn_events": REGISTRY.convert(workflow.bpmn_events),
        "dalad_compacted": compacted(workflow),
    }
    if getattr(workflow, "dalad_instance_variables", False):
        head["dalad_instance_variables"] = True
    return _dumps(head)[:-1] + ',"tasks":{' + ",".join(parts) + "}}"


def _task_json(task) -> str:
    """`"<id>":<task_to_dict's JSON>`. A finished task never changes again; a predicted one, with
    no data of its own, changes only with its state, its children, its internal data or its
    parent's data (its stored delta is against it): their text is kept on the task while these
    stay the same. Internal data is compared item by item, so only while its values are plain
    (a dict or list there may change in place: such a task is written anew at every save)."""
    parent = task.parent
    if not (task._state & _FINAL or (not task.data and (parent is None or parent._state & _FINAL or not parent.data))):
        return f'"{_id_text(task)}":{_dumps(_task_dict(task, parent))}'
    internal = task.internal_data
    if internal:
        if internal.__class__ is not dict or not all(v.__class__ in _PLAIN for v in internal.values()):
            return f'"{_id_text(task)}":{_dumps(_task_dict(task, parent))}'
        internal = tuple(internal.items())
    else:
        internal = ()
    signature = (task._state, task.last_state_change, tuple(task._children), internal, bool(task.data),
                 parent, None if parent is None else (parent._state, bool(parent.data)))
    kept = task.__dict__.get("_dalad_json")
    if kept is None or kept[0] != signature:
        kept = task._dalad_json = (signature, f'"{_id_text(task)}":{_dumps(_task_dict(task, parent))}')
    return kept[1]


def _workflow_fields(workflow) -> dict:
    """What SpiffWorkflow's WorkflowConverter writes first for the top workflow and each sub-workflow."""
    data = workflow.data
    return {"data": data if _plain_data(data) else REGISTRY.convert(REGISTRY.clean(data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success, "completed": workflow.completed}


def _plain_data(data) -> bool:
    """Whether `data` holds only JSON's own values (what the registry would write as they are; the
    process variables are kept in the workflow's data and written at every save)."""
    if data.__class__ is not dict:
        return False
    pending = [data]
    while pending:
        value = pending.pop()
        if value.__class__ is dict:
            if not all(key.__class__ is str for key in value):
                return False
            items = value.values()
        elif value.__class__ is list:
            items = value
        else:
            return False
        for item in items:
            if item.__class__ in _PLAIN:
                continue
            if item.__class__ is dict or item.__class__ is list:
                pending.append(item)
            else:
                return False
    return True


def _subworkflow_to_dict(sub) -> dict:
    """What `REGISTRY.convert(sub)` gives for a subprocess or called process (SpiffWorkflow's
    BpmnSubWorkflowConverter), its tasks written by task_to_dict."""
    if sub.__class__ is not BpmnSubWorkflow or not _DIRECT:
        return REGISTRY.convert(sub)
    return {**_workflow_fields(sub), "tasks": {_id_text(task): task_to_dict(task) for task in sub.tasks.values()},
            "root": str(sub.task_tree.id), "parent_task_id": str(sub.parent_task_id), "spec": sub.spec.name,
            "typename": _SUBWORKFLOW_TYPENAME}


_dumps = jsontext.dumps


def load_state(text: str, spec, subprocess_specs, called_specs=None) -> BpmnWorkflow:
    """Rebuild a workflow from `dump_state`'s JSON and its (cached) spec. The specs of the called
    versions its running calls run (spec names "<process id>@<definition id>", specs.called_version)
    come from `called_specs(definition id)` when `subprocess_specs` does not hold them."""
    dct = json.loads(text)
    missing = {version for sub in dct["subprocesses"].values()
               if (version := specs.called_version(sub.get("spec") or "")) is not None
               and sub["spec"] not in subprocess_specs}
    if missing:
        if called_specs is None:
            raise ExecutionError(f"the state runs called process versions {sorted(missing)} whose specs are not given")
        subprocess_specs = with_called_specs(subprocess_specs, *(called_specs(version) for version in sorted(missing)))
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE, deserializing=True)
    workflow.tasks = _WORKFLOW_CONVERTER.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    _WORKFLOW_CONVERTER.set_default_attributes(workflow, dct)
    _subprocesses_from_dict(dct["subprocesses"], workflow, workflow)
    workflow.bpmn_events = REGISTRY.restore(dct.get("bpmn_events", []))
    workflow.dalad_compacted = dct.get("dalad_compacted") or _empty_summary()
    workflow.dalad_instance_variables = dct.get("dalad_instance_variables", False)
    return workflow


def with_called_specs(subprocess_specs: dict, *more: dict) -> specs.CalledSpecs:
    """A workflow's subprocess specs with those of called versions (instances.called_specs) added."""
    merged = specs.CalledSpecs(subprocess_specs)
    for found in more:
        merged.update(found)
    return merged


def _subprocesses_from_dict(dct: dict, workflow, top) -> None:
    """SpiffWorkflow's WorkflowConverter.subprocesses_from_dict, finding a called process's spec by
    the name its state carries when that names a called version (SpiffWorkflow's finds it by the
    call activity's `spec`, the same for every version)."""
    for task in workflow.tasks.values():
        if isinstance(task.task_spec, SubWorkflowTask) and str(task.id) in dct:
            sub_dct = dct.pop(str(task.id))
            name = sub_dct.get("spec") or ""
            if specs.called_version(name) is None:
                name = task.task_spec.spec
            sub = BpmnSubWorkflow(top.subprocess_specs.get(name), task.id, top, deserializing=True)
            sub.tasks = _SUBWORKFLOW_CONVERTER.mapping_from_dict(sub_dct["tasks"], UUID, workflow=sub)
            sub.task_tree = sub.tasks.get(UUID(sub_dct["root"]))
            _SUBWORKFLOW_CONVERTER.set_default_attributes(sub, sub_dct)
            top.subprocesses[task.id] = sub
            sub.completed_event.connect(task.task_spec._on_subworkflow_completed, task)
            _subprocesses_from_dict(dct, sub, top)


def plain(value: Any) -> Any:
    """Return `value` as JSON-ready data (dates as ISO text)."""
    return jsontext.reread(value, default=_json_default)


def _json_default(value):
    if isinstance(value, (datetime,)):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"value of type {type(value).__name__} cannot be stored")


def state_digest(workflow: BpmnWorkflow) -> str:
    """Digest of the normalised state: the task tree by spec and state, the live data, and what
    compaction kept of the finished steps it dropped.

    Random task ids and timestamps are left out, so re-executing the same inputs at the same
    clock times gives the same digest. The walk keeps its own stack: a tree of any depth is fine.
    """
    doc = {"tree": _tree_entries(workflow.task_tree), "data": workflow.data,
           "sub": [_tree_entries(sp.task_tree) for _, sp in sorted(workflow.subprocesses.items(),
                                                                   key=lambda kv: kv[1].spec.name)]}
    summary = compacted(workflow)
    if any(summary.values()):
        doc["compacted"] = summary
    armed = event_subprocesses.digest_part(workflow)
    if armed is not None:
        doc["event_subprocess_timers"] = armed
    return hashlib.sha256(jsontext.dumps(doc, sort_keys=True, default=_json_default).encode()).hexdigest()


def _tree_entries(root) -> list:
    """[spec name, state(, live data)] of each task, depth first in child order."""
    out, stack = [], [root]
    child = root.workflow.tasks.get  # (`task.children`, for every task of the tree)
    while stack:
        task = stack.pop()
        state = task._state
        entry = [task.task_spec.name, state]
        if state & _LIVE:
            entry.append(task.data)
            internal = task.internal_data.get("event_value")
            if internal is not None:
                entry.append(internal)
        out.append(entry)
        stack.extend(map(child, reversed(task._children)))
    return out


_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


# --- compaction ----------------------------------------------------------------------------------

_REACHED = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


def _empty_summary() -> dict:
    return {"occurrences": {}, "completed": {}, "flows": {}, "merged": {}}


def compacted(workflow: BpmnWorkflow) -> dict:
    """What compaction kept of the finished steps it dropped from the tree: per diagram, the
    elements completed and the flows taken (source, target) or merged into a parallel join, and
    per task spec of the top process how often it was reached (for history's `occurrence`)."""
    summary = getattr(workflow, "dalad_compacted", None)
    if summary is None:
        summary = workflow.dalad_compacted = _empty_summary()
    return summary


def compact(workflow: BpmnWorkflow) -> None:
    """Drop finished steps nothing will read again, so a task tree stays as small as what is live.

    SpiffWorkflow keeps every task ever run and nests each round of a loop under the previous one:
    cost per step and tree depth grow with the instance's age. A finished task with one child that
    leads to what is still open, that child itself finished, is cut out (its child moves up to its
    parent), together with its other, finished, branches and the sub-workflows they ran. The
    history records every dropped step; what diagrams draw of them stays in `compacted`.
    Replay runs the same compaction after the same steps, so digests still compare.
    """
    summary = compacted(workflow)
    for current in [workflow, *list(workflow.subprocesses.values())]:
        if current is workflow or current.parent_task_id in workflow.subprocesses:
            _compact_tree(workflow, current, summary)
    if event_subprocesses.finishing_triggers(workflow) or event_subprocesses.has_nested(workflow):
        for scope in [workflow, *event_subprocesses.live_scopes(workflow)]:
            _drop_finished_event_subprocesses(workflow, scope, summary)


def _drop_finished_event_subprocesses(top: BpmnWorkflow, scope, summary: dict) -> None:
    """An event subprocess started by a timer, or a non-interrupting one, that has run to its end
    hangs off the root of its scope (the process, a subprocess or a call) with nothing after it:
    drop it (each occurrence would add one), keeping what diagrams draw of it."""
    names = event_subprocesses.finishing_triggers(scope)
    if not names:
        return
    root, last = scope.task_tree, scope.last_task
    for trigger in list(root.children):
        if trigger.task_spec.name not in names or trigger._state != TaskState.COMPLETED:
            continue
        subtree, pending = [], [trigger]
        while pending:
            task = pending.pop()
            subtree.append(task)
            pending.extend(task.children)
        if any(not task._state & _FINAL or task is last for task in subtree):
            continue
        key = scope.spec.name if scope is top else _diagram_of(top, scope)
        for gone in subtree:
            _remember(summary, top, scope, key, gone)
        root._children.remove(trigger.id)
        for gone in subtree:
            scope.tasks.pop(gone.id, None)
            _drop_subprocess(top, gone, key, summary)
        root.__dict__.pop("_dalad_json", None)


def _compact_tree(top: BpmnWorkflow, current, summary: dict) -> None:
    live = set()  # tasks with something unfinished (or the last task run) at or below them
    last = current.last_task
    for task in current.tasks.values():
        if not task._state & _FINAL or task is last:
            while task is not None and task not in live:
                live.add(task)
                task = task.parent
    for task in list(current.tasks.values()):
        if task._state != TaskState.COMPLETED or task is last or task.id not in current.tasks:
            continue
        parent = task.parent
        if parent is None:
            continue
        ahead = [child for child in task.children if child in live]
        if len(ahead) != 1 or ahead[0].state != TaskState.COMPLETED or _element(ahead[0]) is None:
            continue
        child = ahead[0]
        key = _diagram_of(top, current)
        _remember_flow(summary, key, child)
        child.internal_data["dalad_cut"] = True  # its flow in is in the summary, its parent moved
        dropped, pending = [], [task]
        while pending:
            gone = pending.pop()
            dropped.append(gone)
            pending.extend(c for c in gone.children if c is not child)
        for gone in dropped:  # while the tree is whole: where each came from
            _remember(summary, top, current, key, gone)
        parent._children[parent._children.index(task.id)] = child.id
        child._parent = parent.id
        for gone in dropped:
            current.tasks.pop(gone.id, None)
            _drop_subprocess(top, gone, key, summary)
        parent.__dict__.pop("_dalad_json", None)
        child.__dict__.pop("_dalad_json", None)


def _drop_subprocess(top: BpmnWorkflow, owner, key: str, summary: dict) -> None:
    """Forget the finished sub-workflow `owner` ran and the ones it ran, keeping what diagrams
    draw of them (`key`: the diagram the owner is drawn in)."""
    pending = [(owner, key)]
    while pending:
        owner, key = pending.pop()
        sub = top.subprocesses.pop(owner.id, None)
        if sub is None:
            continue
        sub_key = sub.spec.name if isinstance(owner.task_spec, CallActivity) else key
        for task in sub.tasks.values():
            _remember(summary, top, sub, sub_key, task)
            pending.append((task, sub_key))


def _diagram_of(top: BpmnWorkflow, workflow) -> str:
    """The diagram a workflow's elements are drawn in: a call activity's is the called process's,
    an embedded subprocess's is its parent's."""
    while workflow is not top:
        owner = top.get_task_from_id(workflow.parent_task_id)
        if owner is None or isinstance(owner.task_spec, CallActivity):
            return workflow.spec.name
        workflow = owner.workflow
    return top.spec.name


def _element(task) -> Optional[str]:
    return getattr(task.task_spec, "bpmn_id", None)


def _add(summary: dict, part: str, key: str, value) -> None:
    values = summary[part].setdefault(key, [])
    if value not in values:
        values.append(value)
        values.sort()


def _remember(summary: dict, top, workflow, key: str, task) -> None:
    if workflow is top and task.state >= TaskState.READY:
        counts = summary["occurrences"]
        counts[task.task_spec.name] = counts.get(task.task_spec.name, 0) + 1
    element = _element(task)
    if element is None:
        return
    if task.state == TaskState.COMPLETED:
        _add(summary, "completed", key, element)
    _remember_flow(summary, key, task)


def _remember_flow(summary: dict, key: str, task) -> None:
    """The flow that brought `task` (source element, element), as the diagrams draw it."""
    flow = flow_in(task)
    if flow is not None:
        _add(summary, "merged" if task.state == TaskState.CANCELLED else "flows", key, list(flow))


def flow_in(task) -> Optional[tuple[str, str]]:
    """(source, element) of the flow that reached `task` from a finished element, if it was taken
    (or, for a cancelled copy of a parallel or inclusive join, merged there); None for a task
    whose way in was compacted away (the summary has it)."""
    element = _element(task)
    if element is None or task.internal_data.get("dalad_cut"):
        return None
    if not (task.state & _REACHED or (task.state == TaskState.CANCELLED and _is_join(task.task_spec))):
        return None
    source = task.parent
    while source is not None and _element(source) is None:
        source = source.parent
    if source is None or source.state != TaskState.COMPLETED:
        return None
    return _element(source), element


def _is_join(spec) -> bool:
    return type(spec).__name__.endswith(("ParallelGateway", "InclusiveGateway"))


# --- running -----------------------------------------------------------------------------------

def _held(task) -> bool:
    """An activity marked camunda:asyncBefore, or what follows one marked asyncAfter, waits for
    its job: the engine commits there and a scheduler goes on in a transaction of its own."""
    if task.task_spec.manual:
        return True
    extensions = getattr(task.task_spec, "extensions", None) or {}
    if extensions.get("dalad_async_before") and not task.internal_data.get("dalad_released"):
        return True
    parent = task.parent
    if parent is not None and parent.state == TaskState.COMPLETED:
        parent_extensions = getattr(parent.task_spec, "extensions", None) or {}
        if parent_extensions.get("dalad_async_after") and not parent.internal_data.get("dalad_released_after"):
            return True
    return False


def _runnable(workflow: BpmnWorkflow) -> bool:
    """Whether any task of the workflow or of its sub-workflows is ready and not held: without
    one, no walk of a task tree for ready tasks runs anything."""
    for pool in (workflow.tasks, *(sp.tasks for sp in workflow.subprocesses.values())):
        for task in pool.values():
            if task._state == TaskState.READY and not _held(task):
                return True
    return False


MAX_ENGINE_STEPS = 100_000


def engine_steps(workflow: BpmnWorkflow) -> None:
    """SpiffWorkflow's do_engine_steps, except that tasks held for a job are left ready, and a
    diagram that runs on without ever waiting is stopped with an error instead of hanging; then
    the conditional events whose variables changed are read again (each that fires runs on)."""
    budget = [MAX_ENGINE_STEPS]
    while True:
        _engine_steps(workflow, budget)
        if not fire_conditions(workflow):
            return
        budget[0] -= 1
        if budget[0] < 0:
            raise failure(f"the process ran {MAX_ENGINE_STEPS} steps without waiting: conditional events firing "
                          "each other in a loop?", None)


def fire_conditions(workflow: BpmnWorkflow) -> bool:
    """Camunda 7 reads a waiting conditional event's condition again when variables change: fire
    those whose watched variables changed and whose condition holds; whether any fired."""
    fired = False
    for task in list(workflow.top_workflow.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(task.task_spec, EventBasedGateway) and task.state == TaskState.WAITING:
            fired = _fire_gateway_condition(task, definition) or fired
            continue
        if isinstance(definition, specs.EngineConditionalEvent) and task.state == TaskState.WAITING and \
                definition.fired_on_change(task):
            data = dict(task.data)  # (the variables as changed: becoming ready copies its finished parent's)
            task._set_internal_data(event_fired=True)
            task.task_spec._update(task)
            task.data.update(data)
            fired = True
    return fired


def _fire_gateway_condition(task, definition) -> bool:
    """An event-based gateway takes the first of its conditional events whose condition holds
    (when it is reached, or after a change of the variables it watches)."""
    for index, inner in enumerate(definition.event_definitions):
        if isinstance(inner, specs.EngineConditionalEvent) and \
                inner.fired_on_change(task, f"dalad_watched_{index}", task.task_spec.outputs[index]):
            task.task_spec.catch(task, BpmnEvent(inner))
            data = dict(task.data)
            task.task_spec._update(task)
            task.data.update(data)
            return True
    return False


def _engine_steps(workflow: BpmnWorkflow, budget: list) -> None:

    def update(wf) -> int:
        if not _runnable(workflow):  # (all tasks of the top workflow and its sub-workflows: wf's among them)
            return 0  # the walk of wf's tree below would find nothing to run
        count = 0
        for task in wf.get_tasks(state=TaskState.READY):
            if not _held(task):
                budget[0] -= 1
                if budget[0] < 0:
                    raise failure(f"the process ran {MAX_ENGINE_STEPS} steps without waiting: an endless "
                                  "loop in the diagram?", task)
                task.run()
                count += 1
        return count

    while True:
        active = workflow.get_active_subprocesses()
        for subprocess in sorted(active, key=lambda sp: sp.depth, reverse=True):
            parent = None
            if subprocess.parent_task_id is not None:
                try:
                    parent = workflow.get_task_from_id(subprocess.parent_task_id)
                except TaskNotFoundException:  # its activity was cancelled meanwhile (an error boundary fired)
                    _drop_orphans(workflow)
                    continue
            while update(subprocess) > 0:
                pass
            if parent is not None:
                parent.task_spec._update(parent)
        if not (update(workflow) > 0 or len(workflow.get_active_subprocesses()) > len(active)):
            break
    compact(workflow)
    refresh_timers(workflow)


def _drop_orphans(workflow: BpmnWorkflow) -> None:
    """Forget the sub-workflows whose activity is no longer in the tree, and those they ran (an
    embedded subprocess that had finished in a cancelled call too), as loading the state does."""
    while True:
        gone = [key for key, sub in workflow.subprocesses.items()
                if _task_or_none(workflow, sub.parent_task_id) is None]
        if not gone:
            return
        for key in gone:
            workflow.subprocesses.pop(key)


def _task_or_none(workflow: BpmnWorkflow, task_id):
    try:
        return workflow.get_task_from_id(task_id)
    except TaskNotFoundException:
        return None


def refresh_timers(workflow: BpmnWorkflow) -> None:
    """Let waiting timers look at the clock. SpiffWorkflow keeps catching tasks it has since
    dropped from the tree (a loop that went round again) in its event manager: forget those."""
    manager = workflow.top_workflow.event_manager
    for task_id, task in list(manager.tasks.items()):
        if task.parent is None and task is not task.workflow.task_tree or \
                task.workflow.get_task_from_id(task_id) is None:
            manager.tasks.pop(task_id, None)
    workflow.refresh_timers()


def run_job(workflow: BpmnWorkflow, task_uuid: str, phase: str) -> None:
    """Go on past an asynchronous continuation: before the task, or after it."""
    task = task_to_change(workflow, task_uuid)
    with _as_execution_error(workflow, task):
        task._set_internal_data(**{"dalad_released" if phase == "before" else "dalad_released_after": True})
        engine_steps(workflow)


def timer_place(workflow: BpmnWorkflow, task_uuid: str) -> Optional[dict]:
    """Where the waiting timer of a Timer row is, as replay finds it again: the path of its
    catching task, or of its event subprocess's scope with the subprocess (None: not waiting)."""
    task = find_task(workflow, task_uuid)
    if task is not None:
        return {"path": task_path(task)} if task.state == TaskState.WAITING else None
    scope, name = event_subprocesses.armed_timer(workflow, task_uuid)
    return None if scope is None else {"path": task_path(scope.task_tree), "event_subprocess": name}


def bring_timer_forward(workflow: BpmnWorkflow, place: dict) -> None:
    """Make the timer at `place` due now (Camunda's job executed before its due date): the next
    run of the engine fires it as the occurrence it waited for (a cycle goes on after that one)."""
    now = clock.now()
    task = task_at(workflow, place["path"])
    if place.get("event_subprocess"):
        event_subprocesses.bring_forward(task.workflow if task is not None else None, place["event_subprocess"], now)
        return
    value = task.internal_data.get("event_value") if task is not None else None
    if isinstance(value, dict):  # a cycle: its next occurrence (or the one a moved due date stands for)
        value["occurrence"], value["next"] = value.get("occurrence") or value["next"], now.isoformat()
    elif value is not None:
        task.internal_data["event_value"] = now.isoformat()


def move_timer(workflow: BpmnWorkflow, place: dict, due: datetime, cascade: bool) -> None:
    """Set the due date of the timer at `place` (Camunda's job due date): it fires then, as the
    occurrence it waited for. `cascade` moves a cycle's following occurrences by as much (Camunda's
    repeat offset); without it they stay where the cycle puts them."""
    task = task_at(workflow, place["path"])
    if place.get("event_subprocess"):
        event_subprocesses.move(task.workflow if task is not None else None, place["event_subprocess"], due, cascade)
        return
    value = task.internal_data.get("event_value") if task is not None else None
    if isinstance(value, dict):
        move_occurrence(value, "next", due, cascade)
    elif value is not None:
        task.internal_data["event_value"] = due.isoformat()


def run_engine(workflow: BpmnWorkflow) -> None:
    """Advance the workflow until it waits for a person, a timer or a message (the timers of
    event subprocesses that are due start them)."""
    with _as_execution_error(workflow):
        event_subprocesses.fire_due(workflow)
        refresh_timers(workflow)
        engine_steps(workflow)


def start(workflow: BpmnWorkflow, variables: dict, *, start_element: str | None = None,
          fire_start: bool = False) -> None:
    """Give the start variables and run until the first wait.

    `start_element` keeps only that start event; `fire_start` fires it at once (a timer start
    event whose time the engine's scheduler decided has come).
    """
    workflow.data.update(variables)
    workflow.task_tree.data.update(variables)
    with _as_execution_error(workflow):
        for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
            if not isinstance(task.task_spec, StartEvent) or start_element is None:
                continue
            if task.task_spec.bpmn_id != start_element:
                task._set_internal_data(dalad_not_chosen=True)
            elif fire_start:
                task._set_internal_data(event_fired=True)
        event_subprocesses.arm(workflow)
        engine_steps(workflow)


def task_path(task) -> list:
    """Where a task sits in the task tree, as child positions from the root (subprocesses
    nested under the task that runs them: "sub", or "call:<element>" under a call activity).
    Replay finds the same task at the same path."""
    path = []
    while task is not None:
        parent = task.parent
        if parent is None:
            parent_task = getattr(task.workflow, "parent_task_id", None)
            task = task.workflow.top_workflow.get_task_from_id(parent_task) if parent_task else None
            path.append(f"call:{task.task_spec.bpmn_id}" if isinstance(getattr(task, "task_spec", None), CallActivity)
                        else "sub")
            continue
        path.append(next(i for i, child in enumerate(parent.children) if child is task))
        task = parent
    return list(reversed(path[:-1]))  # drop the marker of the top workflow's root


def task_at(workflow: BpmnWorkflow, path: list):
    """The task at `task_path` (None when the tree has no such place)."""
    task = workflow.task_tree
    for step in path:
        if step == "sub" or str(step).startswith("call:"):
            sub = workflow.subprocesses.get(task.id)
            if sub is None:
                return None
            task = sub.task_tree
        elif isinstance(step, int) and step < len(task.children):
            task = task.children[step]
        else:
            return None
    return task


def find_task(workflow: BpmnWorkflow, task_uuid: str):
    """The task of that id, in the workflow or any of its subprocesses; None when it has none (a
    step compaction dropped, or one cancelled meanwhile)."""
    try:
        return workflow.get_task_from_id(UUID(task_uuid))
    except TaskNotFoundException:
        return None


def task_to_change(workflow: BpmnWorkflow, task_uuid: str):
    """`find_task` for work on the task: its absence is refused as a task no longer ready."""
    task = find_task(workflow, task_uuid)
    if task is None:
        raise TaskNotReady(f"task {task_uuid} is no longer part of the process: it moved on or was cancelled")
    return task


def complete_user_task(workflow: BpmnWorkflow, task_uuid: str, data: dict) -> None:
    """Complete a ready user task with the form data and run until the next wait."""
    task = task_to_change(workflow, task_uuid)
    with _as_execution_error(workflow, task):
        task.set_data(**data)
        task.run()
        engine_steps(workflow)


def withdraw_user_task(workflow: BpmnWorkflow, task, submitted: list[str]) -> None:
    """Take a completed user task back: ready again, without the values it was completed with
    (`submitted`: their names; one its branch had before comes back from the task's parent); what
    followed it (the next tasks, their branch) is removed. The task keeps the rest of its data: its
    parent may be a compacted start that no longer holds what the branch had gathered."""
    data = {name: value for name, value in task.data.items() if name not in submitted}
    for name in submitted:
        if name in task.parent.data:
            data[name] = deepcopy(task.parent.data[name])
    process_variables.withdrawn(task, {name: data[name] for name in submitted if name in data},
                                [name for name in submitted if name not in data])  # before it inherits again
    workflow.reset_from_task_id(task.id, data=data)
    engine_steps(workflow)


def complete_external_task(workflow: BpmnWorkflow, task_uuid: str, variables: dict) -> None:
    """A worker finished an external task: its variables join the process, which runs on."""
    task = task_to_change(workflow, task_uuid)
    with _as_execution_error(workflow, task):
        task.set_data(**variables)
        task.complete()
        engine_steps(workflow)


def throw_bpmn_error(workflow: BpmnWorkflow, task_uuid: str, code: str, message: str | None,
                     variables: dict) -> None:
    """A worker reports a business error: the error boundary event for `code` on the task (or
    around it) takes over; no catcher is an error, not a silent end."""
    task = task_to_change(workflow, task_uuid)
    with _as_execution_error(workflow, task):
        event = specs.thrown_from(BpmnEvent(specs.EngineErrorEventDefinition(code, code),
                                            payload={"variables": variables, "code": code, "message": message},
                                            target=task.workflow), task)
        manager, scopes, scope = workflow.top_workflow.event_manager, [], task.workflow
        while scope is not None:  # the error goes up through the subprocesses around the task
            scopes.append(scope)
            scope = getattr(scope, "parent_workflow", None)
        if not any(t.workflow in scopes and t.task_spec.event_definition.catches(t, event)
                   for t in manager.tasks.values()) and not event_subprocesses.catches_error(workflow, event, scopes):
            raise failure(f"no error event catches BPMN error '{code}'", task)
        before = set(workflow.subprocesses)
        manager.catch(event, internal=False)
        event_subprocesses.started(workflow, before)
        engine_steps(workflow)


def catch_signal(workflow: BpmnWorkflow, name: str, variables: dict) -> None:
    """Deliver a signal to every task of the workflow waiting for it, and run on."""
    event = BpmnEvent(specs.EngineSignalEventDefinition(name), payload=dict(variables or {}))
    with _as_execution_error(workflow):
        before = set(workflow.subprocesses)
        workflow.top_workflow.event_manager.catch(event, internal=False)
        event_subprocesses.started(workflow, before)
        refresh_timers(workflow)
        engine_steps(workflow)


def catch_message(workflow: BpmnWorkflow, name: str, payload: Any, correlations: dict | None = None,
                  call: Optional[str] = event_subprocesses.EVERY_CALL, targets: list | None = None) -> None:
    """Deliver a message to the workflow and run until the next wait. Its variables become process
    variables, as Camunda's correlation sets them on the instance: the steps waiting elsewhere in the
    process (beside a non-interrupting event subprocess the message started) read them too. `call`:
    the one process instance of the tree it was correlated to (the call activity task's uuid of a
    called one, None the root's own); by default every instance waiting for it. `targets`
    (`subscription_place`s): only those executions catch it (None: whatever waits for it there)."""
    event = BpmnEvent(specs.ProcessMessageEventDefinition(name), {"payload": payload, "result_var": None},
                      correlations or {})
    if call != event_subprocesses.EVERY_CALL:
        event.dalad_call = call
    if targets is not None:
        event.dalad_only = {(str(task.id), place.get("event_subprocess"))
                            for place in targets if place.get("path") is not None
                            for task in [task_at(workflow, place["path"])] if task is not None}
    with _as_execution_error(workflow):
        before = set(workflow.subprocesses)
        workflow.catch(event)
        if isinstance(payload, dict) and payload:
            if call == event_subprocesses.EVERY_CALL:
                set_variables(workflow, payload)
            else:
                _set_instance_variables(workflow, call, payload)
        event_subprocesses.started(workflow, before)
        refresh_timers(workflow)
        engine_steps(workflow)


def subscription_place(workflow: BpmnWorkflow, task_uuid: str, element_id: str) -> dict:
    """Where a message subscription (`WaitingMessage`) waits, as replay finds it again: the path of
    its catching task, or of its event subprocess's scope with the subprocess."""
    task = find_task(workflow, task_uuid)
    if task is not None and task is task.workflow.task_tree and element_id in (
            getattr(task.workflow.spec.start, "trigger_specs", None) or ()):
        return {"path": task_path(task), "event_subprocess": element_id}
    return {"path": task_path(task) if task is not None else None}


def set_variables(workflow: BpmnWorkflow, variables: dict) -> None:
    """Change process variables where the process will read them: every unfinished task (a
    conditional event the change fires runs on)."""
    workflow.data.update(variables)
    for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
        task.data.update(variables)
    _run_fired_conditions(workflow)


def _run_fired_conditions(workflow: BpmnWorkflow) -> None:
    with _as_execution_error(workflow):
        if fire_conditions(workflow):
            engine_steps(workflow)


def set_call_variables(workflow: BpmnWorkflow, call: Optional[str], variables: dict) -> None:
    """`set_variables` in one process instance of the tree, as a task's variables are set: the
    root's own (`call` None) or the one the call activity task `call` runs, with their embedded
    subprocesses; the processes it calls and the one that called it keep theirs."""
    (workflow if call is None else workflow.subprocesses[UUID(call)]).data.update(variables)
    for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
        if specs.call_scope(task.workflow) == call:
            task.data.update(variables)
    _run_fired_conditions(workflow)


def called_path(workflow: BpmnWorkflow, call_task: Optional[str]) -> Optional[list]:
    """What a message_correlated event (or a task's variables_changed) records of the process
    instance it went to: the path of the call activity's task running a called one (`task_path`:
    task ids are new in a replay), None for the root's own."""
    return None if call_task is None else task_path(workflow.get_task_from_id(UUID(call_task)))


def message_call(workflow: BpmnWorkflow, data: dict) -> Optional[str]:
    """The `call` of `catch_message` for a message_correlated event's data (recorded before
    messages named their instance: every instance), or of `set_call_variables` for a task's
    variables_changed."""
    if "called" not in data:
        return event_subprocesses.EVERY_CALL
    if data["called"] is None:
        return None
    task = task_at(workflow, data["called"])
    if task is None or task.state != TaskState.STARTED:
        raise ExecutionError("the called process instance the message went to is not running")
    return str(task.id)


def _set_instance_variables(workflow: BpmnWorkflow, call: Optional[str], variables: dict) -> None:
    """`set_variables` in one process instance of the tree: the root's own (`call` None) or the
    one the call activity task `call` runs."""
    (workflow if call is None else workflow.subprocesses[UUID(call)]).data.update(variables)
    for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
        if specs.call_scope(task.workflow) == call:
            task.data.update(variables)


class _as_execution_error:
    """Turn SpiffWorkflow's failures into ExecutionError naming the element."""

    def __init__(self, workflow, task=None):
        self.task = task

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, ExecutionError):
            return False
        if isinstance(exc, (SpiffWorkflowException, WorkflowException, ExpressionError, KeyError,
                            TypeError, ValueError, AttributeError, ZeroDivisionError)):
            task = getattr(exc, "task", None) or self.task
            inner = exc
            while isinstance(inner, SpiffWorkflowException) and getattr(inner, "exception", None):
                if isinstance(inner.exception, ExecutionError):
                    raise inner.exception from exc
                inner = inner.exception
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise failure(message, task) from exc
        return False


# --- what the workflow waits for ---------------------------------------------------------------

@dataclass(frozen=True)
class WaitingTimer:
    task_uuid: str
    element_id: str
    due_at: datetime
    scope_uuid: Optional[str] = field(default=None, compare=False)  # an event subprocess timer: its scope's root


@dataclass(frozen=True)
class PendingJob:
    task_uuid: str  # the asyncBefore task, or the asyncAfter task whose continuation waits
    element_id: str
    phase: str  # before | after


@dataclass(frozen=True)
class WaitingExternal:
    task_uuid: str
    element_id: str
    topic: str
    priority: int
    incident: Optional[str] = None  # a script the engine cannot run: an incident when reached
    data: Optional[dict] = field(default=None, compare=False)  # the variables the task sees


@dataclass(frozen=True)
class WaitingMessage:
    task_uuid: str
    element_id: str
    message_name: str
    kind: str = "message"  # or signal


def ready_user_tasks(workflow: BpmnWorkflow) -> list:
    return workflow.get_tasks(state=TaskState.READY, manual=True)


@dataclass
class Snapshot:
    """What a workflow offers and waits for, read in one pass over its tasks."""

    ready: list
    timers: list[WaitingTimer]
    messages: list[WaitingMessage]
    external: list["WaitingExternal"]
    jobs: list["PendingJob"]


def snapshot(workflow: BpmnWorkflow) -> Snapshot:
    ready, timers, messages, external, jobs = [], [], [], [], {}
    pools = [workflow.tasks.values(), *(sp.tasks.values() for sp in workflow.subprocesses.values())]
    for pool in pools:
        for task in pool:
            state = task.state
            if state == TaskState.READY:
                if task.task_spec.manual:
                    ready.append(task)
                elif _held(task):
                    job = _job_of(task)
                    jobs[job.task_uuid] = job
            elif state == TaskState.STARTED:
                config = (getattr(task.task_spec, "extensions", None) or {}).get("dalad_external")
                if config:
                    external.append(WaitingExternal(str(task.id), task.task_spec.bpmn_id, config["topic"],
                                                    int(config.get("priority") or 0), config.get("incident"),
                                                    task.data))
            elif state == TaskState.WAITING:
                definition = getattr(task.task_spec, "event_definition", None)
                if definition is None or not isinstance(task.task_spec, CatchingEvent):
                    continue
                inner = definition.event_definitions if isinstance(definition, MultipleEventDefinition) \
                    else [definition]  # an event-based gateway waits for any of its events
                for definition in inner:
                    if isinstance(definition, TimerEventDefinition):
                        due = timer_due(task, definition)
                        if due is not None:
                            timers.append(WaitingTimer(str(task.id), task.task_spec.bpmn_id, due))
                    elif isinstance(definition, MessageEventDefinition):
                        messages.append(WaitingMessage(str(task.id), task.task_spec.bpmn_id, definition.name))
                    elif isinstance(definition, SignalEventDefinition):
                        messages.append(WaitingMessage(str(task.id), task.task_spec.bpmn_id, definition.name,
                                                       "signal"))
    if not workflow.completed:
        messages.extend(_event_subprocess_subscriptions(workflow))
        timers.extend(WaitingTimer(*armed) for armed in event_subprocesses.armed_timers(workflow))
    return Snapshot(ready, timers, messages, external, list(jobs.values()))


def listens_for_messages(spec, subprocess_specs: dict) -> bool:
    """Whether the process has event subprocesses that a message starts (it waits for them all
    along), at its level or inside an embedded subprocess."""
    return any(isinstance(start.event_definition, MessageEventDefinition)
               for process_spec in (spec, *(s for s in subprocess_specs.values() if s is not None))
               for name in getattr(process_spec.start, "trigger_specs", [])
               for start in subprocess_specs[process_spec.task_specs[name].spec].bpmn_start_events)


def _event_subprocess_subscriptions(workflow: BpmnWorkflow) -> list[WaitingMessage]:
    """The messages and signals that start the event subprocesses of the process and of its running
    embedded subprocesses, each until an interrupting one has taken its scope over (Camunda removes
    the scope's subscriptions then)."""
    found = []
    for scope in [workflow, *event_subprocesses.live_scopes(workflow)]:
        triggers = getattr(scope.spec.start, "trigger_specs", None)
        if not triggers or event_subprocesses.taken_over(scope):
            continue
        root = str(scope.task_tree.id)
        for name in triggers:
            for start in workflow.subprocess_specs[scope.spec.task_specs[name].spec].bpmn_start_events:
                definition = start.event_definition
                if isinstance(definition, MessageEventDefinition):
                    found.append(WaitingMessage(root, name, definition.name))
                elif isinstance(definition, SignalEventDefinition):
                    found.append(WaitingMessage(root, name, definition.name, "signal"))
    return found


def _job_of(task) -> "PendingJob":
    """The job a held task waits for: the continuation after its parent first, then its own."""
    parent = task.parent
    if parent is not None and (getattr(parent.task_spec, "extensions", None) or {}).get("dalad_async_after") \
            and not parent.internal_data.get("dalad_released_after"):
        return PendingJob(str(parent.id), parent.task_spec.bpmn_id, "after")
    return PendingJob(str(task.id), task.task_spec.bpmn_id, "before")


def timer_due(task, definition) -> Optional[datetime]:
    """The time a waiting timer task fires next, from what SpiffWorkflow computed."""
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        if not isinstance(value, dict) or value.get("cycles") == 0:
            return None
        return datetime.fromisoformat(value["next"])
    if isinstance(value, datetime):
        return clock.aware(value).astimezone(timezone.utc)
    return TimerEventDefinition.get_datetime(str(value))


def message_start_events(spec) -> Iterable[tuple[str, str, str]]:
    """(element id, kind, name) of each message or signal start event of a process spec."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if isinstance(task_spec, StartEvent) and isinstance(definition, MessageEventDefinition):
            yield task_spec.bpmn_id, "message", definition.name
        elif isinstance(task_spec, StartEvent) and isinstance(definition, SignalEventDefinition):
            yield task_spec.bpmn_id, "signal", definition.name
