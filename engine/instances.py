"""Instance row <-> workflow: load under lock, save, and keep the inbox, timers and subscriptions
in step with the state in the same transaction.

A process keeps the workflows it saved last in memory, keyed by instance and revision: when the
row's revision is still the one this process wrote, the state is not parsed again. The entry is
taken out while in use and put back only after the commit, so a rolled-back change never leaks.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from . import clock, dmn, history, inbox, incidents, project_columns, runtime, stepsql
from . import called as called_processes
from .specs import VERSION_MARK, call_scope, called_version, is_call
from .errors import ExecutionError, InstanceNotRunning, InvalidInput, NotFound
from .expressions import compile_template, text_of
from .xmlsafe import parse_xml
from .models import (DecisionDefinition, Deployment, ExternalTask, Incident, MessageSubscription, ProcessDefinition,
                     ProcessInstance, Timer, UserTask, new_rest_id)


# --- caches ------------------------------------------------------------------------------------

class _LRU:
    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def pop(self, key):
        with self.lock:
            return self.items.pop(key, None)

    def put(self, key, value):
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self):
        with self.lock:
            self.items.clear()


_definitions = _LRU(256)  # definition id -> DefinitionRuntime
_decision_files = _LRU(256)  # decision definition id -> {decision id: parsed Decision}
_workflows = _LRU(2048)   # instance id -> (revision, workflow)
_tenants = _LRU(256)  # deployment id -> (its tenant,): a deployment never changes
_documentation = _LRU(256)  # definition id -> {user task element id: its documentation}
_called_specs = _LRU(256)  # definition id -> its specs as a called version runs them (called_specs)


@dataclass(frozen=True)
class DefinitionRuntime:
    """What running a definition version needs, rebuilt once per process from its row."""

    id: int
    key: str
    version: int
    deployment_id: int
    meta: dict
    spec: Any
    subprocess_specs: dict


def definition_runtime(session: Session, definition_id: int) -> DefinitionRuntime:
    cached = _definitions.get(definition_id)
    if cached is None:
        row, spec, subs = _parsed(session, definition_id)
        cached = DefinitionRuntime(row.id, row.key, row.version, row.deployment_id, row.meta, spec, subs)
        _definitions.put(definition_id, cached)
    return cached


def _parsed(session: Session, definition_id: int) -> tuple[ProcessDefinition, Any, dict]:
    """A definition version's row and its specs parsed anew from the stored spec."""
    row = session.get(ProcessDefinition, definition_id)
    if row is None:
        raise NotFound(f"process definition {definition_id} does not exist")
    spec, subs = runtime.spec_from_dict(row.spec)
    return row, spec, subs


def called_specs(session: Session, definition_id: int) -> dict:
    """The specs of a definition version as a call runs them (engine/called.py): its process's
    named "<process id>@<definition id>", its embedded subprocesses' keyed the same way (and
    found so by the subprocess elements of this copy), so that calls of several versions of one
    process run side by side in one workflow. Objects of their own: the definition's are not renamed."""
    cached = _called_specs.get(definition_id)
    if cached is None:
        _row, spec, subs = _parsed(session, definition_id)
        suffix = f"{VERSION_MARK}{definition_id}"
        cached = {}
        for name, process_spec in [*subs.items(), (spec.name, spec)]:
            if process_spec is None:
                continue
            for task_spec in process_spec.task_specs.values():
                if isinstance(task_spec, SubWorkflowTask) and not is_call(task_spec):
                    task_spec.spec += suffix
            cached[name + suffix] = process_spec
        spec.name += suffix
        _called_specs.put(definition_id, cached)
    return cached


def task_description(connection, definition_id: int, element_id: str, own: Optional[str]) -> Optional[str]:
    """A user task's description as Camunda 7 gives it: its own (its documentation's expressions
    evaluated at its creation, a create listener's), else its element's documentation in the
    definition of the instance it belongs to, which its row does not copy."""
    if own is not None:
        return own or None
    return task_documentation(connection, definition_id).get(element_id)


def task_documentation(connection, definition_id: int) -> dict[str, str]:
    """The documentation of a definition's user tasks (its called processes' too) by element id,
    read once per process (a session or a connection reads it)."""
    cached = _documentation.get(definition_id)
    if cached is None:
        loaded = _definitions.get(definition_id)
        meta = loaded.meta if loaded is not None else connection.scalar(
            select(ProcessDefinition.meta).where(ProcessDefinition.id == definition_id)) or {}
        cached = {}
        for tasks in [*(meta.get("called_user_tasks") or {}).values(), meta.get("user_tasks") or {}]:
            cached.update((element, attrs["documentation"]) for element, attrs in tasks.items()
                          if attrs.get("documentation"))  # its own last: they win, as user_task_meta reads
        _documentation.put(definition_id, cached)
    return cached


def deployment_tenant(session: Session, deployment_id: int) -> Optional[str]:
    """The tenant a deployment was made for, read once per process."""
    cached = _tenants.get(deployment_id)
    if cached is None:
        deployment = session.get(Deployment, deployment_id)
        cached = (deployment.tenant_id if deployment else None,)
        _tenants.put(deployment_id, cached)
    return cached[0]


def _dmn_files(resource) -> dict:
    """A DMN resource's tree, with the other DMN files of its deployment when it imports one."""
    tree = parse_xml(resource.content, resource.name)
    trees = {resource.name: tree}
    if any(etree.QName(el).localname == "import" for el in tree.getroot() if isinstance(el.tag, str)):
        for other in resource.deployment.resources:
            if other.name != resource.name and other.name.lower().endswith(".dmn"):
                trees[other.name] = parse_xml(other.content, other.name)
    return trees


class DecisionResolver:
    """Finds and evaluates the decisions of one instance's business rule tasks.

    Live, it takes the version the task's binding names (latest now, the process's own
    deployment, or a fixed version) and records every evaluation for the history; replaying, it
    takes the versions recorded, in order.
    """

    def __init__(self, session: Session, definition: "DefinitionRuntime", replayed: Optional[list] = None):
        self.session, self.definition, self.replayed = session, definition, replayed
        self.records: list[dict] = []

    def evaluate(self, key: str, config: dict, variables: dict, element_id: str):
        row = self._version(key, config)
        decisions = _decision_files.get(row.id)
        if decisions is None:
            parsed, problems = dmn.parse_dmn_bundle(_dmn_files(row.resource))
            problems = [p for p in problems if p.file == row.resource.name]
            if problems:
                raise ExecutionError(f"decision '{key}' version {row.version} does not compile: {problems[0]}",
                                     element_id=element_id)
            decisions = {d.id: d for d in parsed}
            _decision_files.put(row.id, decisions)
        result = dmn.evaluate_decision(decisions, key, variables)
        self.records.append({"element_id": element_id, "decision": key, "version": row.version,
                             "rules": list(result.matched_rules), "outputs": runtime.plain(result.outputs)})
        return result

    def _version(self, key: str, config: dict) -> DecisionDefinition:
        query = select(DecisionDefinition).where(DecisionDefinition.key == key)
        if self.replayed is not None:
            recorded = self.replayed.pop(0) if self.replayed else None
            if recorded is None or recorded["decision"] != key:
                raise ExecutionError(f"the history records no evaluation of decision '{key}' here",
                                     element_id=None)
            query = query.where(DecisionDefinition.version == recorded["version"])
        elif config.get("binding") == "deployment":
            query = query.where(DecisionDefinition.deployment_id == self.definition.deployment_id)
        elif config.get("binding") == "version" and config.get("version"):
            query = query.where(DecisionDefinition.version == int(config["version"]))
        row = self.session.scalars(query.order_by(DecisionDefinition.version.desc()).limit(1)).first()
        if row is None:
            raise NotFound(f"decision '{key}' ({config.get('binding') or 'latest'}) is not deployed")
        return row

    def take_records(self) -> list[dict]:
        records, self.records = self.records, []
        return records


def attach_resolvers(session: Session, handle_or_workflow, definition: "DefinitionRuntime",
                     replayed_decisions: Optional[list] = None, replayed_calls: Optional[list] = None) -> None:
    """What finds, while the workflow runs, the decision version each business rule task
    evaluates and the called version each call runs (replaying: those the history recorded)."""
    workflow = getattr(handle_or_workflow, "workflow", handle_or_workflow)
    workflow.dalad_decisions = DecisionResolver(session, definition, replayed_decisions)
    called_processes.attach(session, workflow, definition, replayed_calls)


def clear_caches() -> None:
    _definitions.clear()
    _decision_files.clear()
    _workflows.clear()
    _tenants.clear()
    _documentation.clear()
    _called_specs.clear()


@event.listens_for(Session, "after_commit")
def _publish_saved_workflows(session):
    for instance_id, revision, workflow in session.info.pop("dalad_saved", []):
        _workflows.put(instance_id, (revision, workflow))


@event.listens_for(Session, "after_rollback")
def _forget_saved_workflows(session):
    session.info.pop("dalad_saved", None)


# --- handles -----------------------------------------------------------------------------------

@dataclass
class Handle:
    """An instance loaded for change: its row, definition and live workflow."""

    row: ProcessInstance
    definition: DefinitionRuntime
    workflow: Any
    events: list[history.Event] = field(default_factory=list)
    completed_task: Optional[tuple[str, str, Optional[UserTask]]] = None  # (task uuid, user, its row)
    open_tasks: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)  # call activity task uuid -> its called instance's row id
    opened_texts: dict = field(default_factory=dict)  # task row id -> what its stage is read from, opened now

    @property
    def meta(self) -> dict:
        return self.definition.meta


def held_locks(session: Session) -> dict[str, set]:
    """The rows this transaction has locked and read ("instance" and "task" ids): until it ends, or
    a rollback (also to a savepoint) forgets them, this session's copies of them are current and a
    second lock reads nothing again."""
    transaction = session.get_transaction()
    held = session.info.get("dalad_locks")
    if held is None or held[0] is not transaction:
        held = session.info["dalad_locks"] = (transaction, {"instance": set(), "task": set()})
    return held[1]


@event.listens_for(Session, "after_soft_rollback")
def _forget_locks(session, _previous):
    session.info.pop("dalad_locks", None)


def as_read(session: Session, model, values: dict):
    """The session's object for a row read or written with plain SQL or Core (`values` by attribute,
    the primary key among them), as an ORM query with populate_existing leaves it: one already in
    the session takes these values; what is not among them (the deferred state, relationships)
    loads when used. Every step does this: an ORM query or flush costs more in Python than the statement."""
    mapper = model.__mapper__
    obj = session.identity_map.get(mapper.identity_key_from_primary_key((values["id"],)))
    if obj is not None:
        session.expire(obj)
        for key, value in values.items():
            set_committed_value(obj, key, value)
        return obj
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    # Session.add without its cascade over relationships: none of them is loaded on a new object.
    session._update_impl(instance_state(obj))
    return obj


def lock_instance(session: Session, instance_id: int) -> ProcessInstance:
    """Read the instance row, locking it until the transaction ends (PostgreSQL), as the last change
    left it: a copy this session read before the lock is refreshed."""
    held = held_locks(session)
    if instance_id in held["instance"]:
        return session.get(ProcessInstance, instance_id)
    row = session.scalars(_LOCK_INSTANCE, {"instance_id": instance_id}).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    if row.root_instance_id is not None:
        raise InvalidInput(f"process instance {instance_id} is a called process ({row.process_key}) that runs in "
                           f"process instance {row.root_instance_id}: act on that instance")
    held["instance"].add(instance_id)
    return row


_LOCK_INSTANCE = select(ProcessInstance).where(ProcessInstance.id == bindparam("instance_id")).with_for_update() \
    .execution_options(populate_existing=True)


def load(session: Session, instance_id: int, *, require_active: bool = True,
         row: Optional[ProcessInstance] = None) -> Handle:
    """Load an instance for change under lock; the workflow comes from the cache when current."""
    row = row or lock_instance(session, instance_id)
    if require_active and row.status in ("completed", "terminated", "suspended"):
        raise InstanceNotRunning(f"process instance {instance_id} is {row.status}")
    definition = definition_runtime(session, row.definition_id)
    cached = _workflows.pop(instance_id)
    if cached is not None and cached[0] == row.revision:
        workflow = cached[1]
    else:
        workflow = stored_workflow(session, row, definition)
    attach_resolvers(session, workflow, definition)
    return Handle(row, definition, workflow)


def branch_variables(session: Session, row: ProcessInstance, task_uuid: str) -> Optional[dict]:
    """The variables a ready task sees on its own branch (its multi-instance element, its called
    process), read from the stored state; None when the task is no longer in it."""
    task = runtime.find_task(stored_workflow(session, row), task_uuid)
    return None if task is None else runtime.plain(task.data)


def stored_workflow(session: Session, row: ProcessInstance, definition: Optional["DefinitionRuntime"] = None):
    """The instance's workflow as stored, to read (not to change: see `load`)."""
    definition = definition or definition_runtime(session, row.definition_id)
    return runtime.load_state(row.state, definition.spec, definition.subprocess_specs,
                              lambda version: called_specs(session, version))


def create(session: Session, definition_id: int, *, business_key: Optional[str],
           user: Optional[str]) -> Handle:
    definition = definition_runtime(session, definition_id)
    now = clock.now()
    values = dict(rest_id=new_rest_id(), definition_id=definition.id, process_key=definition.key,
                  business_key=business_key, status="running", state="", variables={}, variable_types={},
                  open_tasks={}, waits=[], revision=0, started_by=user, started_at=now, updated_at=now, ended_at=None,
                  history_count=0, history_head=None, super_instance_id=None, root_instance_id=None, call_task=None)
    values["id"] = _INSERT_INSTANCE.run(session.connection(), values).scalar_one()
    values.update(dict.fromkeys(project_columns.COLUMNS))  # (set by its first save)
    row = as_read(session, ProcessInstance, values)
    history.record_system(session, history.Event(  # so that a deleted instance is named (audit.check_creations)
        "instance_created", actor=user, data={"instance": row.id, "process": f"{definition.key}:{definition.version}",
                                              "business_key": business_key}), created=row.id)
    workflow = runtime.new_workflow(definition.spec, definition.subprocess_specs)
    attach_resolvers(session, workflow, definition)
    return Handle(row, definition, workflow)


_INSERT_INSTANCE = stepsql.insert(ProcessInstance.__table__, [
    "rest_id", "definition_id", "process_key", "business_key", "status", "state", "variables", "variable_types",
    "open_tasks", "waits", "revision", "started_by", "started_at", "updated_at", "ended_at", "history_count",
    "history_head", "super_instance_id", "root_instance_id", "call_task"], returning="id")


def versions(handle: Handle) -> dict:
    return {"process": f"{handle.definition.key}:{handle.definition.version}"}


def save(session: Session, handle: Handle) -> None:
    """Write the state, sync the inbox, timers and subscriptions, and chain the history events."""
    row, workflow = handle.row, handle.workflow
    now = clock.now()
    for record in workflow.dalad_decisions.take_records():
        handle.events.append(history.Event("decision_evaluated", element_id=record.pop("element_id"), data=record))
    for record in workflow.dalad_called.take_records():
        handle.events.append(history.Event("call_started", element_id=record.pop("element_id"), data=record))
    snap = runtime.snapshot(workflow)
    columns = {"state": runtime.dump_state(workflow), "revision": row.revision + 1, "updated_at": now,
               "variables": runtime.plain(visible_variables(workflow, snap.ready))}
    handle.calls = called_processes.sync(session, row, workflow, snap.ready, now)
    _sync_user_tasks(session, handle, snap.ready, now)
    columns["open_tasks"] = handle.open_tasks
    waits = sorted([["timer", t.task_uuid, t.element_id, t.due_at.isoformat()] for t in snap.timers]
                   + [[m.kind, m.task_uuid, m.element_id, m.message_name] for m in snap.messages]
                   + [["external", e.task_uuid, e.element_id, e.topic] for e in snap.external]
                   + [["job", j.task_uuid, j.element_id, j.phase] for j in snap.jobs])
    if waits != (row.waits or []):
        _sync_timers(session, handle, snap.timers, snap.jobs, now)
        _sync_subscriptions(session, handle, snap.messages)
        for incident in _sync_external_tasks(session, handle, snap.external, now, columns["variables"]):
            handle.events.append(history.Event("incident", element_id=incident.element_id, data={
                "incident": incident.id, "kind": incident.kind, "message": incident.message, "from": row.status}))
            columns["status"] = "incident"
        columns["waits"] = waits
    if workflow.completed:
        if row.status != "completed":
            handle.events.append(history.Event("instance_completed"))
        columns["status"], columns["ended_at"] = "completed", now
    elif row.status in ("running", "waiting") and columns.get("status") != "incident":
        columns["status"] = "running" if snap.ready else "waiting"
    count, head = history.append(session, row.id, row.history_count, row.history_head, handle.events,
                                 runtime.state_digest(workflow))
    columns["history_count"], columns["history_head"] = count, head
    project_variables = runtime.plain(visible_variables(workflow, snap.ready, calls_too=True)) \
        if handle.calls else columns["variables"]
    columns.update(project_columns.columns(session, row.id, project_variables,
                                           [task_id for task_id, _element in handle.open_tasks.values()],
                                           handle.opened_texts))
    for name in ("status", "variables", "open_tasks", *project_columns.COLUMNS):  # an unchanged indexed or
        if name in columns and columns[name] == getattr(row, name):  # JSON column is not rewritten
            del columns[name]
    write_columns(session, row, columns)
    handle.events, handle.opened_texts = [], {}
    if not workflow.completed:  # an ended instance does not move again: the cache keeps live ones
        session.info.setdefault("dalad_saved", []).append((row.id, row.revision, workflow))


def write_columns(session: Session, obj, columns: dict) -> None:
    """UPDATE one row's columns now, and tell the ORM they are stored (no second write at flush).

    The hot path of every completion: the unit of work's bookkeeping costs more than the UPDATE.
    """
    stepsql.update_by_id(session.connection(), obj.__table__, obj.id, columns)
    for name, value in columns.items():
        set_committed_value(obj, name, value)


def visible_variables(workflow, ready, call: Optional[str] = None, *, calls_too: bool = False) -> dict:
    """The process data as an official sees it now: the data of the latest finished step (of the
    process, or of a running embedded or event subprocess in it, whichever finished last), then of
    the ready tasks. `workflow` runs one process instance of the tree: the root's own (`call`
    None), or a called one (its call activity's task uuid); each its own steps and tasks alone, as
    in Camunda, where a caller sees of a call only what its `camunda:out` mappings pass when it
    ends. `calls_too`: the root's with the ready tasks of its calls too, from which the project
    columns read the stage a stage review is given (project_columns.columns)."""
    data = dict(workflow.data)
    top = workflow.top_workflow
    if not top.subprocesses:  # (most processes: nothing below their own level)
        if workflow.last_task is not None:
            data.update(workflow.last_task.data)
        for task in ready:
            data.update(task.data)
        return data
    steps = [sub.last_task for sub in top.subprocesses.values()
             if sub is not workflow and not sub.completed and sub.last_task is not None and call_scope(sub) == call]
    if workflow.last_task is not None:
        steps.append(workflow.last_task)
    for task in sorted(steps, key=lambda t: t.last_state_change):
        data.update(task.data)
    for task in ready:
        if calls_too or task.workflow is workflow or call_scope(task.workflow) == call:
            data.update(task.data)
    return data


def _sync_user_tasks(session: Session, handle: Handle, ready_tasks: list, now: datetime) -> None:
    row, workflow = handle.row, handle.workflow
    before: dict = row.open_tasks or {}
    ready = {str(t.id): t for t in ready_tasks}
    handle.open_tasks = before
    if before.keys() == ready.keys():
        return
    closed = [task_id for uuid, (task_id, _element) in before.items() if uuid not in ready]
    inbox.mark_closed(session, closed)
    for uuid, (task_id, _element) in before.items():
        if uuid in ready:
            continue
        if handle.completed_task and handle.completed_task[0] == uuid:
            task_row = handle.completed_task[2] or session.get(UserTask, task_id)
            write_columns(session, task_row, {"state": "completed", "completed_by": handle.completed_task[1],
                                              "completed_at": now})
        else:
            task_row = session.get(UserTask, task_id)
            task_row.state, task_row.completed_at = "cancelled", now
            handle.events.append(history.Event("task_cancelled", element_id=task_row.element_id,
                                               data={"task": task_row.id}))
    opened = {uuid: entry for uuid, entry in before.items() if uuid in ready}
    connection = session.connection()
    for uuid, task in ready.items():
        if uuid in before:
            continue
        element = task.task_spec.bpmn_id
        called = _called_user_tasks(session, handle.meta, task)
        attrs = (called or {}).get(element) or handle.meta["user_tasks"].get(element, {})
        values = _new_user_task(row, task, element, attrs, now)
        values["called_instance_id"] = called_processes.of_task(handle.calls, task)
        insert = _INSERT_TASK if values["description"] is None else _INSERT_DESCRIBED_TASK
        task_id = insert.run(connection, values).scalar_one()
        inbox.add_candidates(session, inbox.candidate_rows(task_id, values))
        opened[uuid] = [task_id, element]
        handle.opened_texts[task_id] = project_columns.task_text(values["name"], element)
        handle.events.append(history.Event("task_created", element_id=element,
                                           occurrence=_occurrence(workflow, task),
                                           data={"task": task_id, "assignee": values["assignee"],
                                                 "candidate_groups": values["candidate_groups"],
                                                 "due": values["due_at"]}))
    handle.open_tasks = opened


def _called_user_tasks(session: Session, meta: dict, task) -> Optional[dict]:
    """The user-task attributes of the called process `task` belongs to (through its embedded and
    event subprocesses): of the version its call runs; None for a task of the root's own process."""
    workflow = task.workflow
    top = workflow.top_workflow
    while workflow is not top:
        owner = top.get_task_from_id(workflow.parent_task_id)
        if owner is None:
            return None
        if is_call(owner.task_spec):
            version = called_version(workflow.spec.name)
            if version is not None:
                return definition_runtime(session, version).meta["user_tasks"]
            return (meta.get("called_user_tasks") or {}).get(workflow.spec.name)  # the version the caller bundled
        workflow = owner.workflow
    return None


_TASK_COLUMNS = [
    "rest_id", "instance_id", "task_uuid", "element_id", "name", "lane", "process_key", "business_key",
    "candidate_groups", "candidate_users", "assignee", "priority", "form_key", "created_at", "due_at", "due_key",
    "follow_up_at", "state", "called_instance_id"]
_INSERT_TASK = stepsql.insert(UserTask.__table__, _TASK_COLUMNS, returning="id")
# A task whose description is not its element's documentation as written (task_description): rare.
_INSERT_DESCRIBED_TASK = stepsql.insert(UserTask.__table__, [*_TASK_COLUMNS, "description"], returning="id")


def _occurrence(workflow, task) -> int:
    spec = task.task_spec
    return sum(1 for t in workflow.tasks.values() if t.task_spec is spec and t.state >= task.state) + \
        runtime.compacted(workflow)["occurrences"].get(spec.name, 0)


def _new_user_task(row: ProcessInstance, task, element: str, attrs: dict, now: datetime) -> dict:
    """The inbox row of a task that became ready, its attributes evaluated on the task's data."""
    data = task.data

    def value(attr):
        source = attrs.get(attr)
        if source is None or source == "":
            return None
        try:
            return compile_template(source).evaluate(data)
        except Exception as exc:  # ExpressionError and anything the value itself raises
            raise ExecutionError(f"camunda:{attr} '{source}' cannot be evaluated: {exc}", element_id=element,
                                 instance_id=row.id, call_task=call_scope(task.workflow)) from exc

    changes = _listener_changes(task, element)
    groups = _names(value("candidate_groups"))
    if not groups and attrs.get("lane"):
        groups = [attrs["lane"]]
    users = _names(value("candidate_users"))
    for op, kind, name in changes.get("candidates", []):  # task.addCandidateGroup(…) and the like, in order
        names = groups if kind == "group" else users
        if op == "add" and name not in names:
            names.append(name)
        elif op == "delete" and name in names:
            names.remove(name)
    assignee = changes["assignee"] if "assignee" in changes else value("assignee")
    priority = changes["priority"] if "priority" in changes else value("priority")
    due_at = _when(changes["due"] if "due" in changes else value("due_date"), element, row.id)
    follow_up = changes["followUp"] if "followUp" in changes else value("follow_up_date")
    name = changes["name"] if "name" in changes else _task_name(attrs.get("name") or task.task_spec.bpmn_name, data)
    if name is not None and len(name) > _NAME_LENGTH:  # a name built of a long value: shown cut
        name = name[:_NAME_LENGTH - 1] + "…"
    assignee = str(assignee) if assignee else None
    for what, names, limit in (("assignee", [assignee] if assignee else (), 100), ("candidate group", groups, 200),
                               ("candidate user", users, 200)):  # the inbox's columns
        for too_long in (n for n in names if len(n) > limit):
            raise ExecutionError(f"the {what} {too_long[:40]!r}… is longer than {limit} characters",
                                 element_id=element, instance_id=row.id, call_task=call_scope(task.workflow))
    documentation = attrs.get("documentation")
    description = changes["description"] if "description" in changes else _task_name(documentation, data)
    return dict(
        rest_id=new_rest_id(), instance_id=row.id, task_uuid=str(task.id), element_id=element,
        name=name, lane=attrs.get("lane"),
        process_key=row.process_key, business_key=row.business_key,
        candidate_groups=groups, candidate_users=users, assignee=assignee,
        priority=int(priority) if priority not in (None, "") else 50,
        form_key=attrs.get("form_key") or attrs.get("form_ref"), created_at=now,
        due_at=due_at, due_key=inbox.due_key(due_at), follow_up_at=_when(follow_up, element, row.id),
        state="ready", description=None if description == documentation else description or "")


_NAME_LENGTH = 300  # user_task.name


def _listener_changes(task, element: str) -> dict:
    """What the task's Python create listeners set of it (engine/scripts.py TASK_CHANGES)."""
    changes = runtime.listener_changes(task)
    return changes if changes and changes.get("key") == element else {}


def _task_name(name: Optional[str], data: dict) -> Optional[str]:
    """A task name (or description) may hold expressions, as in Camunda 7 ('审批${stage}'): JUEL's
    text ('审批 ' when stage is null; null for a name that is only '${stage}'); what cannot be
    evaluated on this task's data is left out rather than shown as code."""
    if not name or ("${" not in name and "#{" not in name):
        return name
    try:
        return text_of(compile_template(name).evaluate(data))
    except Exception:  # noqa: BLE001 - a name is never worth failing a task over
        return re.sub(r"[$#]\{[^}]*\}", "", name)


def _names(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _when(value, element: str, instance_id: int) -> Optional[datetime]:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return clock.aware(value)
    if hasattr(value, "year") and hasattr(value, "month"):  # a date: the end of that day is due
        return clock.aware(datetime(value.year, value.month, value.day, 23, 59, 59))
    text = str(value).strip()
    try:
        if text.upper().startswith("P"):  # a duration from now, as Camunda reads an ISO 8601 period
            from .timers import first_due
            return first_due("duration", text, clock.now())
        return clock.aware(datetime.fromisoformat(text))
    except ValueError as exc:
        raise ExecutionError(f"due date {value!r} is not a date", element_id=element,
                             instance_id=instance_id) from exc


def _sync_timers(session: Session, handle: Handle, timers: list[runtime.WaitingTimer],
                 jobs: list[runtime.PendingJob], now: datetime) -> None:
    row = handle.row
    existing = {(t.kind, t.task_uuid): t for t in session.scalars(
        select(Timer).where(Timer.instance_id == row.id, Timer.state == "waiting"))}
    wanted = {("timer", t.task_uuid): t for t in timers}
    wanted.update({("job", j.task_uuid): j for j in jobs})
    for key, timer in existing.items():
        if key not in wanted:
            timer.state = "cancelled"
        elif key[0] == "timer" and timer.due_at != wanted[key].due_at:
            timer.due_at = wanted[key].due_at  # a cycle moved on
    for key, waiting in wanted.items():
        if key in existing:
            continue
        if key[0] == "timer":
            session.add(Timer(instance_id=row.id, definition_id=row.definition_id, task_uuid=waiting.task_uuid,
                              element_id=waiting.element_id, due_at=waiting.due_at, state="waiting", kind="timer",
                              called_instance_id=_called_of(handle, waiting.scope_uuid or waiting.task_uuid)))
        else:
            session.add(Timer(instance_id=row.id, definition_id=row.definition_id, task_uuid=waiting.task_uuid,
                              element_id=waiting.element_id, due_at=now, state="waiting", kind="job",
                              phase=waiting.phase, called_instance_id=_called_of(handle, waiting.task_uuid)))


def _sync_subscriptions(session: Session, handle: Handle, messages: list[runtime.WaitingMessage]) -> None:
    row = handle.row
    existing = {(s.task_uuid, s.kind, s.message_name): s for s in session.scalars(
        select(MessageSubscription).where(MessageSubscription.instance_id == row.id))}
    wanted = {(m.task_uuid, m.kind, m.message_name): m for m in messages}
    for key, sub in existing.items():
        if key not in wanted:
            session.delete(sub)
    for key, waiting in wanted.items():
        if key not in existing:
            session.add(MessageSubscription(instance_id=row.id, task_uuid=waiting.task_uuid, kind=waiting.kind,
                                            element_id=waiting.element_id, message_name=waiting.message_name,
                                            business_key=row.business_key,
                                            called_instance_id=_called_of(handle, waiting.task_uuid)))


def _sync_external_tasks(session: Session, handle: Handle, waiting: list, now: datetime,
                         visible: dict) -> list[Incident]:
    """Open a row per new external task (and an incident for one the engine cannot run), with the
    variables only its scope sees (a multi-instance element, an input parameter) and the called
    instance it belongs to; close those no longer waiting. Returns the incidents opened."""
    row = handle.row
    existing = {t.task_uuid: t for t in session.scalars(
        select(ExternalTask).where(ExternalTask.instance_id == row.id, ExternalTask.state == "open"))}
    wanted = {e.task_uuid: e for e in waiting}
    for uuid, task in existing.items():
        if uuid not in wanted:
            task.state = "completed" if task.worker_id else "cancelled"
    opened = []
    for uuid, e in wanted.items():
        if uuid not in existing:
            local = {k: v for k, v in (e.data or {}).items()
                     if not k.startswith("_") and (k not in visible or visible[k] != v)}
            task = ExternalTask(instance_id=row.id, task_uuid=uuid, element_id=e.element_id, topic=e.topic,
                                state="open", priority=e.priority, created_at=now, variables=runtime.plain(local) or None,
                                retries=0 if e.incident else None, error_message=e.incident,
                                called_instance_id=_called_of(handle, uuid))
            session.add(task)
            if e.incident:
                session.flush()
                opened.append(incidents.open_incident(
                    session, row, element_id=e.element_id, kind="external-task", message=e.incident,
                    payload={"external_task": task.id, "element_id": e.element_id, "event": {
                        "type": "external_task_retried", "actor": None, "element_id": e.element_id,
                        "data": {"external_task": task.id}}},
                    at=task.called_instance_id, workflow=handle.workflow))
    return opened


def _called_of(handle: Handle, task_uuid: str) -> Optional[int]:
    """The called instance whose process waits at task `task_uuid` (None: the root's own)."""
    task = runtime.find_task(handle.workflow, task_uuid) if handle.calls else None
    return None if task is None else called_processes.of_task(handle.calls, task)


def close_waits(session: Session, row: ProcessInstance) -> None:
    """Drop the timers, subscriptions and open tasks of an instance that ends or is terminated."""
    for timer in session.scalars(select(Timer).where(Timer.instance_id == row.id, Timer.state == "waiting")):
        timer.state = "cancelled"
    for sub in session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == row.id)):
        session.delete(sub)
    for external in session.scalars(select(ExternalTask).where(ExternalTask.instance_id == row.id,
                                                               ExternalTask.state == "open")):
        external.state = "cancelled"
    cancelled = []
    for task in session.scalars(select(UserTask).where(UserTask.instance_id == row.id, UserTask.state == "ready")):
        task.state, task.completed_at = "cancelled", clock.now()
        cancelled.append(task.id)
    inbox.mark_closed(session, cancelled)
    row.open_tasks, row.waits = {}, []
    project_columns.refresh(session, row)
