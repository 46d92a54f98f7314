"""Process variables kept per process instance, as Camunda 7 keeps them, over SpiffWorkflow's
copies of the data on each task.

SpiffWorkflow gives every task a copy of its parent's data and merges the copies of parallel
branches where they join (the last one wins): a variable one branch sets while another branch is
open is undone when the branches join, and a branch that ends alone leaves nothing behind. Camunda
has one variable store per process instance (embedded subprocesses share it); only local variables
(camunda:inputOutput input parameters, a multi-instance instance's element variable and
`loopCounter`) belong to an activity.

So each task that completes publishes what it set (the keys whose value differs from what it
inherited; what a script deleted) to its instance: to the data of the instance's workflow (the
top workflow's, or the called process's sub-workflow's) and of every live task of the instance,
its embedded subprocesses included. A task that inherits its parent's data takes the instance's
variables over what it inherited, so a join or an event that waited behind a finished step no
longer brings back an older value. A task's local names (its own input parameters, those of the
subprocesses around it, its multi-instance instance's element variable and `loopCounter`) are
neither published nor overwritten in it. The steps inside a multi-instance instance do not
publish: their variables are collected into the activity's results list (engine/specs.py), by
position.

An instance whose stored state predates this (no `dalad_instance_variables` in it) keeps
SpiffWorkflow's copies until it ends: its workflow data holds its start variables only.
"""
from __future__ import annotations

from copy import deepcopy
from operator import ne

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from . import specs

_LIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
_MISSING = object()
_MUTABLE = (dict, list, set)


_NONE = frozenset()


def _own_locals(task_spec) -> frozenset:
    """The names local to an activity of this spec: its input parameters; a multi-instance
    activity's collection, element variable and `loopCounter` (its instances'). Kept on the spec."""
    names = task_spec.__dict__.get("_dalad_locals")
    if names is None:
        found = {a.name for a in getattr(task_spec, "data_input_associations", None) or ()
                 if isinstance(a, specs.InputParameter)}
        if isinstance(task_spec, MultiInstanceTask):
            found.add("loopCounter")
            found.update(r.bpmn_id for r in (task_spec.data_input, task_spec.input_item) if r is not None)
            element = ((getattr(task_spec, "extensions", None) or {}).get("dalad_mi") or {}).get("element")
            if element:
                found.add(element)
        names = task_spec._dalad_locals = frozenset(found) if found else _NONE
    return names


def _locals(task, owners: frozenset) -> frozenset:
    """The names local to `task`: its activity's, its multi-instance activity's, and `owners`
    (those of the subprocesses around it)."""
    names = _own_locals(task.task_spec)
    parent = task.parent
    if parent is not None and isinstance(parent.task_spec, MultiInstanceTask):
        names = names | _own_locals(parent.task_spec)
    return names | owners if owners else names


def _scope(workflow) -> tuple:
    """(the workflow holding the variables of `workflow`'s process instance, whether `workflow` runs
    inside a multi-instance instance, the names local to the subprocesses around it): up through
    embedded subprocesses to the top workflow or to a called process's own."""
    top = workflow.top_workflow
    inside, owners = False, _NONE
    while workflow is not top:
        owner = top.get_task_from_id(workflow.parent_task_id)
        if owner is None:
            return top, inside, owners
        owners = owners | _locals(owner, _NONE)
        if owner.parent is not None and isinstance(owner.parent.task_spec, MultiInstanceTask):
            inside = True
        if specs.is_call(owner.task_spec):
            return workflow, inside, owners
        workflow = owner.workflow
    return workflow, inside, owners


def _same(values: dict, data: dict) -> bool:
    """Whether `data` has each of `values` as it is, when both have the same names (the usual
    step: compared in C); False where it would take a look name by name."""
    return values.keys() == data.keys() and not any(map(ne, values.values(), map(data.__getitem__, values)))


def _value(value):
    return deepcopy(value) if isinstance(value, _MUTABLE) else value


def inherit(task) -> None:
    """`Task._inherit_data`: the parent's data merged in as SpiffWorkflow merges it, then the
    instance's variables over it (the parent may have finished before a branch changed them)."""
    data = task.data = DeepMerge.merge(task.data, task.parent.data)
    workflow = task.workflow
    if not workflow.top_workflow.__dict__.get("dalad_instance_variables"):
        return
    if workflow is workflow.top_workflow:
        store, owners = workflow.data, _NONE
    else:
        scope, _inside, owners = _scope(workflow)
        store = scope.data
    if not store or _same(store, data):
        return
    local = _locals(task, owners)
    for name, value in store.items():
        if name not in local and data.get(name, _MISSING) != value:
            data[name] = _value(value)


def completed(task) -> None:
    """Publish what `task` set (and, a script, deleted) to its instance, before its next steps
    inherit its data."""
    parent = task.parent
    data = task.data
    if parent is None or not data:
        return
    workflow = task.workflow
    if not workflow.top_workflow.__dict__.get("dalad_instance_variables"):
        return
    if workflow is workflow.top_workflow:
        store, inside, owners = workflow, False, _NONE
    else:
        store, inside, owners = _scope(workflow)
    if inside or isinstance(parent.task_spec, MultiInstanceTask):
        return
    variables = store.data
    deleted = [name for name in parent.data if name not in data] if isinstance(task.task_spec, ScriptTask) else ()
    if not deleted and _same(data, variables):
        return
    local = _locals(task, owners)
    deleted = [name for name in deleted if name not in local]
    changed = {name: value for name, value in data.items()
               if name not in local and variables.get(name, _MISSING) != value}
    if changed or deleted:
        publish(workflow.top_workflow, store, changed, deleted, task)


def publish(top, store, changed: dict, deleted=(), source=None) -> None:
    """Set `changed` and delete `deleted` in the variables of the instance `store` holds and in
    the data of each of its live tasks (`source`, the task they come from, has them already)."""
    variables = store.data
    for name, value in changed.items():
        variables[name] = _value(value)
    for name in deleted:
        variables.pop(name, None)
    pools = [(top.tasks, _NONE)] if store is top else []
    for sub in top.subprocesses.values():
        if sub is store:
            pools.append((sub.tasks, _NONE))
        elif not sub.completed:
            scope, _inside, owners = _scope(sub)
            if scope is store:
                pools.append((sub.tasks, owners))
    for tasks, owners in pools:
        for task in tasks.values():
            if not task._state & _LIVE or task is source:
                continue
            data, local = task.data, _locals(task, owners)
            for name, value in changed.items():
                if name not in local and data.get(name, _MISSING) != value:
                    data[name] = _value(value)
            for name in deleted:
                if name not in local:
                    data.pop(name, None)



def withdrawn(task, restored: dict, removed: list) -> None:
    """A completed task taken back: the values it was completed with give way, in its instance, to
    those it found (`restored`), or go (`removed`: it set them first)."""
    workflow = task.workflow
    if not workflow.top_workflow.__dict__.get("dalad_instance_variables"):
        return
    store, inside, owners = _scope(workflow)
    if inside or (task.parent is not None and isinstance(task.parent.task_spec, MultiInstanceTask)):
        return
    local = _locals(task, owners)
    publish(workflow.top_workflow, store, {k: v for k, v in restored.items() if k not in local},
            [k for k in removed if k not in local], task)
