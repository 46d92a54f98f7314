"""Move running instances from one version of a process to another, keeping what they hold.

SpiffWorkflow's own helper (`SpiffWorkflow.bpmn.util.diff.migrate_workflow`) resets every ready
and waiting task: a timer would get a new due time and a half-done task would lose its data. This
module rebuilds the state on the target spec instead: every task of the old tree keeps its id,
state, data and internal data (a timer's `event_value`: its due time), with its spec looked up by
BPMN id in the target version, or where the administrator mapped it. Only the predicted part of
the tree (what the old version expected to come next) is predicted again from the new version.

- `migrate_workflow` is the pure part (a workflow, a target spec, a mapping): the live migration
  and the replay of a 'migrated' event both run it, so replay re-creates the same state;
- `plan_migration` tells, per instance, whether it can move and why not;
- `migrate` moves one instance in the caller's transaction; `migrate_each` moves several, one
  transaction each.

What is refused: an active task (ready, waiting, running) whose element is not in the target
version and not mapped, a mapping onto an element of another kind, and an active task whose
place in the target's structure differs in a way the engine relies on (a boundary event split,
a multi-instance parent, a parallel join waiting for branches the target connects differently).
Finished tasks whose element is gone stay in the history and leave the state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from SpiffWorkflow.bpmn.specs.control import EventSplit, _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import called, clock, event_subprocesses, history, inbox, instances, project_columns, runtime, specs
from .errors import EngineError, ExecutionError, InstanceNotRunning, InvalidInput, NotFound
from .models import (ExternalTask, MessageSubscription, ProcessDefinition, ProcessInstance, Timer,
                     UserTask)

_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_NOT_STARTED = TaskState.PREDICTED_MASK | TaskState.FUTURE


# --- what a check says -------------------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    """Why an instance cannot move (or, as a note, what moving it means), about one element."""

    kind: str  # missing | kind | mapping | structure | join | status | version | process | broken | dropped | timer
    element_id: Optional[str] = None
    target: Optional[str] = None
    detail: Optional[str] = None

    def __str__(self) -> str:
        element, target = f"'{self.element_id}'", f"'{self.target}'"
        text = {
            "missing": f"active element {element} is not in the target version; map it to an element of it",
            "kind": f"element {element} cannot become {target}: {self.detail}",
            "mapping": f"mapping {element} -> {target}: {self.detail}",
            "structure": f"active element {element}: {self.detail}",
            "join": f"parallel join {element} waits for branches the target version connects differently "
                    f"({self.detail})",
            "status": f"the instance is {self.detail}",
            "version": f"the instance already runs on {self.detail}",
            "process": f"the target is another process ({self.detail})",
            "broken": f"the rebuilt state does not load on the target version: {self.detail}",
            "dropped": f"finished element {element} is not in the target version: it stays in the history only",
            "timer": f"waiting timer {element} keeps its due time {self.detail} (the target version defines "
                     "this timer differently)",
        }.get(self.kind, self.detail or self.kind)
        return text


class MigrationRefused(InvalidInput):
    """The instance cannot move to the target version; `reasons` says why, element by element."""

    def __init__(self, reasons: list[Reason], instance_id: Optional[int] = None):
        self.reasons, self.instance_id = list(reasons), instance_id
        where = f"process instance {instance_id}" if instance_id is not None else "the instance"
        super().__init__(f"{where} cannot be migrated: " + "; ".join(str(r) for r in self.reasons))


@dataclass
class ActiveElement:
    """An element holding a token: where it is now and where it goes in the target version."""

    element_id: str
    name: Optional[str]
    kind: str  # the engine's spec class: UserTask, IntermediateCatchEvent, ...
    state: str  # READY | WAITING | STARTED | ERROR
    target: Optional[str]


@dataclass
class MigrationResult:
    """The rebuilt workflow, and what happened to the elements of the old tree."""

    workflow: Any
    active: list[ActiveElement]
    moved: dict[str, str]  # active element -> a different element of the target version
    notes: list[Reason]


# --- the pure part: a workflow, a target spec, a mapping ---------------------------------------

def migrate_workflow(workflow, spec, subprocess_specs: dict, mapping: Optional[dict] = None) -> MigrationResult:
    """Rebuild `workflow` on the target `spec`, mapping old element ids to new ones by `mapping`
    (where an element was renamed or replaced) and by id otherwise.

    The given workflow is not changed. Raises MigrationRefused with every reason found.
    """
    mapping = _checked_mapping(mapping, spec, subprocess_specs)
    copy = runtime.load_state(runtime.dump_state(workflow), workflow.spec, workflow.subprocess_specs)
    # A call that runs the version resolved when it started keeps it (in Camunda the called instance
    # is not migrated with its caller): its specs go along, its tasks stay as they are.
    running = {name: found for name, found in workflow.subprocess_specs.items()
               if specs.called_version(name) is not None}
    if running:
        subprocess_specs = runtime.with_called_specs(subprocess_specs, running)
    reasons, notes, active, moved = [], [], [], {}
    targets = {}  # task id -> target task spec (None: not in the target version)
    pools = [(copy, spec)]
    kept = set()  # tasks of the calls that keep their version: their own spec is their target
    for sub_id, sub in list(copy.subprocesses.items()):
        parent = copy.get_task_from_id(sub_id)
        if running and _in_called_version(copy, sub):
            targets.update((task.id, task.task_spec) for task in sub.tasks.values())
            kept.update(sub.tasks)
            continue
        sub_target = subprocess_specs.get(sub.spec.name)
        parent_target = _target_spec(parent.task_spec, _process_of(parent, copy, spec, subprocess_specs), mapping)
        if sub_target is None or parent_target is None or getattr(parent_target, "spec", None) != sub.spec.name:
            if any(t.state & ~_FINISHED for t in sub.tasks.values()):
                reasons.append(Reason("structure", parent.task_spec.bpmn_id or parent.task_spec.name,
                                      detail=f"its sub-process '{sub.spec.name}' is not run here by the target version"))
            else:
                del copy.subprocesses[sub_id]
            continue
        pools.append((sub, sub_target))
    for pool, target_spec in pools:
        for task in pool.tasks.values():
            targets[task.id] = _target_spec(task.task_spec, target_spec, mapping)
    for pool, target_spec in pools:
        _collect_active(pool, targets, active, moved, reasons, kept)
        _check_structure(pool, targets, reasons)
        _check_timers(pool, targets, notes)
    if reasons:
        raise MigrationRefused(_unique(reasons))
    for pool, target_spec in pools:
        notes.extend(_rebuild(pool, target_spec, targets))
    copy.spec, copy.subprocess_specs = spec, subprocess_specs
    try:
        event_subprocesses.retarget(copy)
        for pool, _ in pools:
            for task in list(pool.get_tasks(state=_ACTIVE)):
                if task.workflow is pool:  # (the top's walk goes on into its subprocesses: each is its own pool)
                    _predict_again(pool, task)
        rebuilt = runtime.load_state(runtime.dump_state(copy), spec, subprocess_specs)
        if runtime.state_digest(rebuilt) != runtime.state_digest(copy):
            raise WorkflowException("the state read back differs from the state written")
        for task in rebuilt.get_tasks():
            if task.task_spec is None:
                raise WorkflowException("a task has no element in the target version")
        runtime.snapshot(rebuilt)
    except (SpiffWorkflowException, KeyError, TypeError, ValueError, AttributeError, ExecutionError) as exc:
        raise MigrationRefused([Reason("broken", detail=f"{type(exc).__name__}: {exc}")]) from exc
    return MigrationResult(rebuilt, active, moved, _unique(notes))


def _checked_mapping(mapping: Optional[dict], spec, subprocess_specs: dict) -> dict:
    """The administrator's mapping {old element id: new element id}, each target an element of the target."""
    if not mapping:
        return {}
    if not isinstance(mapping, dict):
        raise MigrationRefused([Reason("mapping", detail="a mapping is an object of element ids")])
    known = {s.name for process in [spec, *subprocess_specs.values()] if process is not None
             for s in process.task_specs.values() if getattr(s, "bpmn_id", None) == s.name}
    reasons = []
    for old, new in mapping.items():
        if not isinstance(old, str) or not isinstance(new, str) or not old or not new:
            reasons.append(Reason("mapping", str(old), str(new), "element ids are non-empty text"))
        elif new not in known:
            reasons.append(Reason("mapping", old, new, "the target version has no such element"))
    if reasons:
        raise MigrationRefused(reasons)
    return dict(mapping)


def _process_of(task, top, spec, subprocess_specs):
    """The target process spec of the (sub)workflow a task belongs to."""
    if task.workflow is top:
        return spec
    return subprocess_specs.get(task.workflow.spec.name)


def _target_spec(task_spec, target_process, mapping: dict):
    """The task spec of the target version for an old one: by mapping, by derived name, by id."""
    if target_process is None:
        return None
    name = task_spec.name
    specs = target_process.task_specs
    if name in mapping:
        return specs.get(mapping[name])
    for old, new in mapping.items():  # specs the parser derives from an element: 'x.BoundaryEventSplit', 'x [child]'
        if name.startswith(old) and name[len(old):len(old) + 1] in (".", " "):
            return specs.get(new + name[len(old):])
    return specs.get(name)


def _element(task_spec) -> str:
    return getattr(task_spec, "bpmn_id", None) or task_spec.name


def _kind(task_spec) -> str:
    definition = getattr(task_spec, "event_definition", None)
    kind = type(task_spec).__name__
    return f"{kind}/{type(definition).__name__}" if definition is not None else kind


def _collect_active(pool, targets: dict, active: list, moved: dict, reasons: list, kept: set) -> None:
    for task in pool.get_tasks(state=_ACTIVE):
        if task.id in kept:
            continue
        old, new = task.task_spec, targets[task.id]
        element = _element(old)
        target = _element(new) if new is not None else None
        if getattr(old, "bpmn_id", None) and element not in {a.element_id for a in active}:
            active.append(ActiveElement(element, getattr(old, "bpmn_name", None), type(old).__name__,
                                        TaskState.get_name(task.state), target))
        if new is None:
            reasons.append(Reason("missing", element))
            continue
        if _kind(old) != _kind(new):
            reasons.append(Reason("kind", element, target, f"{_kind(old)} and {_kind(new)} are different kinds"))
        elif target != element and getattr(old, "bpmn_id", None):
            moved[element] = target


def _check_structure(pool, targets: dict, reasons: list) -> None:
    """Refuse what the engine could not continue: an active task whose place in the tree the
    target version structures differently where the engine reads that place."""
    for task in pool.get_tasks(state=_ACTIVE):
        new = targets[task.id]
        parent = _kept_parent(task, targets)
        if new is None or parent is None or _kind(task.task_spec) != _kind(new):
            continue
        parent_old, parent_new = parent.task_spec, targets[parent.id]
        structural = (isinstance(parent_old, (EventSplit, LoopTask, EventBasedGateway))
                      or parent.state & _ACTIVE
                      or (isinstance(new, Join) and not isinstance(new, (_EndJoin, UnstructuredJoin)))
                      or any(isinstance(i, (EventSplit, EventBasedGateway)) for i in new.inputs))
        if structural and not _connected(parent_new, new):
            before = _element(parent_new) if parent_new is not None else _element(parent_old)
            reasons.append(Reason("structure", _element(task.task_spec), _element(new),
                                  f"in the target version it is not reached from '{before}' as the instance reached it"))
        if isinstance(new, UnstructuredJoin) and not isinstance(new, _EndJoin) and task.state == TaskState.WAITING:
            for arrival in pool.get_tasks(spec_name=task.task_spec.name):
                source = arrival.parent
                if arrival.state == TaskState.COMPLETED or source is None or source.state != TaskState.COMPLETED:
                    continue
                source_new = targets.get(source.id)
                if source_new is None or source_new not in new.inputs:
                    reasons.append(Reason("join", _element(task.task_spec),
                                          detail=f"branch from '{_element(source.task_spec)}'"))


def _kept_parent(task, targets: dict):
    """The nearest ancestor that stays in the tree (finished tasks of removed elements leave it)."""
    parent = task.parent
    while parent is not None and targets.get(parent.id) is None and parent.state & _FINISHED:
        parent = parent.parent
    return parent


def _connected(parent_spec, child_spec) -> bool:
    if parent_spec is None:
        return False
    if child_spec in parent_spec.outputs:
        return True
    return isinstance(parent_spec, LoopTask) and parent_spec.task_spec == child_spec.name


def _check_timers(pool, targets: dict, notes: list) -> None:
    for task in pool.get_tasks(state=TaskState.WAITING):
        old, new = task.task_spec, targets[task.id]
        if not isinstance(old, CatchingEvent) or new is None:
            continue
        before = getattr(getattr(old, "event_definition", None), "expression", None)
        after = getattr(getattr(new, "event_definition", None), "expression", None)
        due = task.internal_data.get("event_value")
        if before is not None and before != after and due is not None:
            notes.append(Reason("timer", _element(old), detail=str(due)))


def _rebuild(pool, target_spec, targets: dict) -> list[Reason]:
    """Give each kept task its target spec; drop finished tasks of removed elements (their children
    take their place) and predicted tasks of removed elements (with what they predicted)."""
    notes = []
    for task in list(pool.tasks.values()):
        if task.id not in pool.tasks or targets.get(task.id) is not None:
            continue
        if task.state & TaskState.PREDICTED_MASK:
            pool._remove_task(task.id)
        elif task.state & _FINISHED and task.parent is not None:
            if getattr(task.task_spec, "bpmn_id", None):
                notes.append(Reason("dropped", _element(task.task_spec)))
            _splice(pool, task)
    for task in pool.tasks.values():
        task.task_spec = targets[task.id]
    pool.spec = target_spec
    return notes


def _predict_again(pool, task) -> None:
    """Predict what follows an active task from its new spec, as SpiffWorkflow does when the task
    becomes active: what the old version predicted goes, what has started (the instances of a
    multi-instance task) stays where it is."""
    started = [child for child in task.children if not child.state & _NOT_STARTED]
    predicted = [child for child in task.children if child.state & _NOT_STARTED]
    maybe_only = bool(predicted) and all(child.state & TaskState.PREDICTED_MASK for child in predicted)
    for child in predicted:
        pool._remove_task(child.id)
    task._children = []
    if maybe_only:  # e.g. what follows a waiting boundary event: it may happen, it need not
        task._sync_children(task.task_spec.outputs, TaskState.MAYBE)
        for child in task.children:
            child.task_spec._predict(child)
    else:
        task.task_spec._predict(task, mask=_NOT_STARTED | task.state)
    task._children.extend(child.id for child in started)


def _splice(pool, task) -> None:
    parent = task.parent
    at = parent._children.index(task.id)
    parent._children[at:at + 1] = list(task._children)
    for child in task.children:
        child._parent = parent.id
    if pool.last_task is task:
        pool.last_task = parent
    del pool.tasks[task.id]


def _unique(reasons: list[Reason]) -> list[Reason]:
    return list(dict.fromkeys(reasons))


# --- instances ---------------------------------------------------------------------------------

@dataclass
class MigrationCheck:
    """Whether one instance can move to the target version, and what moving it means."""

    instance_id: int
    business_key: Optional[str]
    status: str
    from_version: int
    can_move: bool
    reasons: list[Reason] = field(default_factory=list)
    active: list[ActiveElement] = field(default_factory=list)
    mapped: dict[str, str] = field(default_factory=dict)
    notes: list[Reason] = field(default_factory=list)

    @property
    def unmapped(self) -> list[str]:
        """Active elements that need the administrator's mapping."""
        return [r.element_id for r in self.reasons if r.kind == "missing"]


def label(definition) -> str:
    return f"{definition.key}:{definition.version}"


def _check_instance(session: Session, row: ProcessInstance, target: instances.DefinitionRuntime,
                    mapping: dict, workflow=None) -> tuple[MigrationCheck, Optional[MigrationResult]]:
    source = instances.definition_runtime(session, row.definition_id)
    check = MigrationCheck(row.id, row.business_key, row.status, source.version, False)
    if row.root_instance_id is not None:  # a called process moves with the instance that runs it
        check.reasons.append(Reason("status", detail=f"called, runs in instance {row.root_instance_id}"))
    elif row.status in ("completed", "terminated"):
        check.reasons.append(Reason("status", detail=row.status))
    elif target.key != source.key:
        check.reasons.append(Reason("process", detail=f"{label(source)} -> {label(target)}"))
    elif target.id == source.id:
        check.reasons.append(Reason("version", detail=label(target)))
    if check.reasons:
        return check, None
    if workflow is None:
        workflow = instances.stored_workflow(session, row, source)
    try:
        result = migrate_workflow(workflow, target.spec, target.subprocess_specs, mapping)
    except MigrationRefused as refused:
        check.reasons = refused.reasons
        check.active = _active_of(workflow, target, mapping)
        return check, None
    check.can_move, check.active, check.mapped, check.notes = True, result.active, result.moved, result.notes
    return check, result


def _active_of(workflow, target: instances.DefinitionRuntime, mapping: dict) -> list[ActiveElement]:
    """The active elements of a workflow that cannot move, for the check table."""
    found, seen = [], set()
    for task in workflow.get_tasks(state=_ACTIVE):
        spec = task.task_spec
        if not getattr(spec, "bpmn_id", None) or spec.bpmn_id in seen or _in_called_version(workflow, task.workflow):
            continue
        seen.add(spec.bpmn_id)
        process = target.spec if task.workflow is workflow else target.subprocess_specs.get(task.workflow.spec.name)
        new = _target_spec(spec, process, mapping)
        found.append(ActiveElement(spec.bpmn_id, getattr(spec, "bpmn_name", None), type(spec).__name__,
                                   TaskState.get_name(task.state), _element(new) if new is not None else None))
    return found


def plan_migration(session: Session, instance_ids: list[int], target_definition_id: int,
                   mapping: Optional[dict] = None) -> list[MigrationCheck]:
    """Check, per instance, whether it can move to the target version with `mapping`; change nothing."""
    target = instances.definition_runtime(session, target_definition_id)
    checks = []
    for instance_id in instance_ids:
        row = session.get(ProcessInstance, instance_id)
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        try:
            check, _ = _check_instance(session, row, target, mapping or {})
        except MigrationRefused as refused:  # the mapping itself is wrong: the same for every instance
            check = MigrationCheck(row.id, row.business_key, row.status,
                                   instances.definition_runtime(session, row.definition_id).version, False,
                                   refused.reasons)
        checks.append(check)
    return checks


def mapping_choices(session: Session, target_definition_id: int, element_kind: str) -> list[tuple[str, Optional[str]]]:
    """Elements of the target version an active element of this kind (spec class) may be mapped to."""
    target = instances.definition_runtime(session, target_definition_id)
    choices = []
    for process in [target.spec, *target.subprocess_specs.values()]:
        if process is None:
            continue
        for spec in process.task_specs.values():
            if getattr(spec, "bpmn_id", None) == spec.name and type(spec).__name__ == element_kind:
                choices.append((spec.name, getattr(spec, "bpmn_name", None)))
    return sorted(set(choices), key=lambda c: c[0])


def migrate(session: Session, instance_id: int, target_definition_id: int, mapping: Optional[dict] = None,
            *, user: Optional[str]) -> ProcessInstance:
    """Move one instance to the target version in the caller's transaction.

    Raises MigrationRefused (nothing changed) when the check refuses it."""
    with clock.frozen_at(clock.now()):
        return _migrate(session, instance_id, target_definition_id, mapping or {}, user)


def _migrate(session, instance_id, target_definition_id, mapping, user) -> ProcessInstance:
    target = instances.definition_runtime(session, target_definition_id)
    handle = instances.load(session, instance_id, require_active=False)
    row, source = handle.row, handle.definition
    check, result = _check_instance(session, row, target, mapping, handle.workflow)
    if result is None:
        if any(r.kind == "status" for r in check.reasons):
            raise InstanceNotRunning(f"process instance {instance_id} is {row.status}")
        raise MigrationRefused(check.reasons, instance_id)
    workflow = result.workflow
    instances.attach_resolvers(session, workflow, target)
    handle = instances.Handle(row, target, workflow)
    handle.events.append(history.Event(
        "migrated", actor=user, versions={"process": label(target)},
        data={"from": label(source), "to": label(target), "mapping": mapping, "moved": check.mapped,
              "dropped": [n.element_id for n in result.notes if n.kind == "dropped"]}))
    instances.write_columns(session, row, {"definition_id": target.id})
    session.expire(row, ["definition"])  # the relationship still holds the source version
    instances.save(session, handle)
    _retarget_rows(session, row, target, workflow)
    project_columns.refresh(session, row)  # its open tasks' names are the target version's
    called.retarget(session, row, workflow)
    return row


def _retarget_rows(session: Session, row: ProcessInstance, target: instances.DefinitionRuntime, workflow) -> None:
    """Point the inbox, timers, subscriptions and external tasks at the target version's elements.

    Due times, assignees, drafts and comments stay: they belong to the task, which stays."""
    now = clock.now()
    open_tasks = {}
    for uuid, (task_id, element) in (row.open_tasks or {}).items():
        task = runtime.task_to_change(workflow, uuid)
        new_element = task.task_spec.bpmn_id
        open_tasks[uuid] = [task_id, new_element]
        task_row = session.get(UserTask, task_id)
        called = instances._called_user_tasks(session, target.meta, task)  # a called process's task: its version's
        attrs = (called or {}).get(new_element) or target.meta["user_tasks"].get(new_element, {})
        values = instances._new_user_task(row, task, new_element, attrs, now)
        for column in ("element_id", "name", "lane", "form_key", "candidate_groups", "candidate_users", "description"):
            if getattr(task_row, column) != values[column]:
                setattr(task_row, column, values[column])
        wanted = {("group", g) for g in values["candidate_groups"]} | {("user", u) for u in values["candidate_users"]}
        if {(c.kind, c.value) for c in task_row.candidates} != wanted:
            inbox.replace_candidates(session, task_row, sorted(v for k, v in wanted if k == "group"),
                                     sorted(v for k, v in wanted if k == "user"))
    instances.write_columns(session, row, {"open_tasks": open_tasks})

    def element_of(uuid):
        task = runtime.find_task(workflow, uuid)
        return task.task_spec.bpmn_id if task is not None else None

    for timer in session.scalars(select(Timer).where(Timer.instance_id == row.id, Timer.state == "waiting")):
        timer.definition_id, timer.element_id = target.id, element_of(timer.task_uuid) or timer.element_id
    for sub in session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == row.id)):
        sub.element_id = element_of(sub.task_uuid) or sub.element_id
    external = {e.task_uuid: e for e in runtime.snapshot(workflow).external}
    for task in session.scalars(select(ExternalTask).where(ExternalTask.instance_id == row.id,
                                                           ExternalTask.state == "open")):
        if task.task_uuid in external:
            task.element_id, task.topic = external[task.task_uuid].element_id, external[task.task_uuid].topic


@dataclass
class MigrationOutcome:
    instance_id: int
    migrated: bool
    error: Optional[str] = None
    reasons: list[Reason] = field(default_factory=list)  # when the check refused it


def migrate_each(db, instance_ids: list[int], target_definition_id: int, mapping: Optional[dict] = None,
                 *, user: Optional[str]) -> list[MigrationOutcome]:
    """Move each instance in a transaction of its own: a refused one stays as it was on its version."""
    outcomes = []
    for instance_id in instance_ids:
        try:
            with db.write() as session:
                migrate(session, instance_id, target_definition_id, mapping, user=user)
            outcomes.append(MigrationOutcome(instance_id, True))
        except EngineError as exc:
            outcomes.append(MigrationOutcome(instance_id, False, str(exc), getattr(exc, "reasons", [])))
    return outcomes


def _in_called_version(top, workflow) -> bool:
    """Whether `workflow` runs in a call of a version resolved when the call started."""
    while workflow is not top:
        if specs.called_version(workflow.spec.name) is not None:
            return True
        workflow = top.get_task_from_id(workflow.parent_task_id).workflow
    return False


def replay_migration(session: Session, workflow, data: dict):
    """Re-run a recorded migration on a replayed workflow (engine.replay)."""
    key, _, version = str(data.get("to") or "").rpartition(":")
    found = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key,
                                                              ProcessDefinition.version == int(version or 0)))
    if found is None:
        raise ExecutionError(f"definition {data.get('to')} named by the migration does not exist")
    target = instances.definition_runtime(session, found)
    try:
        result = migrate_workflow(workflow, target.spec, target.subprocess_specs, data.get("mapping") or {})
    except MigrationRefused as exc:
        raise ExecutionError(f"the migration to {data.get('to')} cannot be re-executed: {exc}") from exc
    result.workflow.dalad_decisions = getattr(workflow, "dalad_decisions", None)
    result.workflow.dalad_called = getattr(workflow, "dalad_called", None)
    return result.workflow
