"""Use cases, each one transaction: the caller owns the session and commits.

The CLI, the REST API, the web UI and the scenario tests call these and nothing below them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional, Sequence

from sqlalchemy import and_, bindparam, func, inspect, or_, select
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition

from . import (bureaus, called, clock, compliance, definitions, documents, history, inbox, instances, runtime, senders,
               stepsql, timers, users, variable_limits)
from .definitions import BundleFile, DeploymentResult
from .errors import (AccessDenied, CorrelationError, ExecutionError, InvalidInput, InstanceNotRunning,
                     MessageUndelivered, MismatchingMessageCorrelation, NotFound, TaskNotReady)
from .incidents import open_incident, resolve_with_causes, root_cause, running_call
from .models import (Document, ExternalTask, Incident, MessageSubscription, ProcessDefinition, ProcessInstance,
                     StartSubscription, TaskCandidate, TaskComment, TaskDraft, Timer, UserTask)


def _one_instant(service):
    """Run a use case at one instant of the engine clock, so every time it records is the same.

    Replay sets the clock to an event's recorded time and must see what the engine saw.
    """
    @functools.wraps(service)
    def at_one_instant(*args, **kwargs):
        with clock.frozen_at(clock.now()):
            return service(*args, **kwargs)
    return at_one_instant


# --- deployments -------------------------------------------------------------------------------

@_one_instant
def deploy(session: Session, files: list[BundleFile], *, name: str, source: Optional[str] = None,
           user: Optional[str] = None, tenant_id: Optional[str] = None,
           changed_only: bool = False, all_versions: bool = False) -> DeploymentResult:
    """Deploy a bundle (all or nothing); record it in the system history."""
    result = definitions.deploy(session, files, name=name, source=source, user=user, tenant_id=tenant_id,
                                changed_only=changed_only, all_versions=all_versions)
    history.record_system(session, history.Event(
        "deployment", actor=user, data={
            "deployment": result.deployment.id, "name": name, "source": source,
            "files": {f.name: f.sha256 for f in files},
            "items": [[i.kind, i.key, i.version, i.new] for i in result.items]}))
    return result


def process_definition(session: Session, key: str, version: Optional[int] = None, *,
                       list_known: bool = False) -> ProcessDefinition:
    """The latest (or given) version of process `key`; NotFound lists the deployed keys only
    when `list_known` (for administrators). Its `meta` is the one parsed once per process
    (instances.definition_runtime), not read and parsed again (a start's largest read)."""
    if version:
        definition = session.scalars(_DEFINITION_VERSION, {"key": key, "version": version}).first()
    else:
        definition = session.scalars(_DEFINITION_LATEST, {"key": key}).first()
    if definition is None:
        what = f"process '{key}'" + (f" version {version}" if version else "")
        if not list_known:
            raise NotFound(f"{what} is not deployed")
        known = ", ".join(sorted(session.scalars(select(ProcessDefinition.key).distinct()))) or "none"
        raise NotFound(f"{what} is not deployed (deployed processes: {known})")
    if "meta" in inspect(definition).unloaded:
        set_committed_value(definition, "meta", instances.definition_runtime(session, definition.id).meta)
    return definition


# Made once (not per call): a definition without its meta, the latest or a given version of a key.
_DEFINITION = select(ProcessDefinition).options(defer(ProcessDefinition.meta)) \
    .where(ProcessDefinition.key == bindparam("key"))
_DEFINITION_LATEST = _DEFINITION.order_by(ProcessDefinition.version.desc()).limit(1)
_DEFINITION_VERSION = _DEFINITION.where(ProcessDefinition.version == bindparam("version")).limit(1)


# --- instances ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StartFile:
    """A file uploaded with a start form for its file field `field` (`inspected`: documents.inspect's)."""

    field: str
    filename: str
    content: bytes
    inspected: Optional[documents.Sniffed] = None


@_one_instant
def start_process(session: Session, key: str, *, business_key: Optional[str] = None,
                  variables: Optional[dict] = None, user: Optional[str] = None,
                  version: Optional[int] = None, form_override: Optional[str] = None,
                  definition: Optional[ProcessDefinition] = None,
                  files: Sequence[StartFile] = ()) -> ProcessInstance:
    """Start the latest version of `key` (or `version`, or the `definition` the caller has read
    already) and run it until it waits. The variables are checked against the start form by the
    caller (forms.submission.check_start); `form_override` is an administrator's reason for
    starting without that check, kept in the history event. The consistency rules of the start
    hold whatever the channel, as at a completion (compliance.RuleViolation). `files` are the
    start form's uploads: each a document of the new instance, its field's variable naming it."""
    definition = definition or process_definition(session, key, version)
    if definition.suspended:
        raise InstanceNotRunning(f"process '{key}' version {definition.version} is suspended")
    variables = _checked_variables(variables)
    _refuse_shared_key(session, definition, business_key)
    start_event = _plain_start(definition)
    compliance.enforce(definition.key, start_event, variables, event_type="instance_started")
    initiator = next((s.get("initiator") for s in definition.meta["starts"] if s["id"] == start_event), None)
    if initiator and user:
        variables[initiator] = user  # who started it, as authenticated: not a caller's claim
    handle = instances.create(session, definition.id, business_key=business_key, user=user)
    for upload in files:
        document = documents.add(session, handle.row.id, filename=upload.filename, content=upload.content,
                                 user=user or "", field=upload.field, inspected=upload.inspected)
        variables[upload.field] = {"document": document.id, "filename": document.filename, "sha256": document.sha256}
    handle.events.append(history.Event("instance_started", actor=user, element_id=start_event,
                                       versions=instances.versions(handle),
                                       data={"business_key": business_key, "variables": variables,
                                             **({"form_override": form_override} if form_override else {})}))
    runtime.start(handle.workflow, variables, start_element=start_event)
    _save(session, handle, user)
    return handle.row


def _refuse_shared_key(session: Session, definition: ProcessDefinition, business_key: Optional[str]) -> None:
    """A process whose event subprocesses start on messages listens on its business key for its whole
    life: a second open instance of it under the same key would make every such message ambiguous,
    so it is refused (Art 5: each plan entry its own key). Other processes may share keys, as in
    Camunda (a message then names its instance)."""
    if not business_key:
        return
    compiled = instances.definition_runtime(session, definition.id)
    if not runtime.listens_for_messages(compiled.spec, compiled.subprocess_specs):
        return
    other = session.scalar(select(MessageSubscription.instance_id)
                           .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
                           .where(MessageSubscription.kind == "message", MessageSubscription.business_key == business_key,
                                  ProcessInstance.process_key == definition.key).limit(1))
    if other is not None:
        raise InvalidInput(f"process '{definition.key}' already has an instance ({other}) with business key "
                           f"'{business_key}' that listens for messages: a message correlated on that key would have "
                           "two receivers")


def _save(session: Session, handle: instances.Handle, user: Optional[str]) -> None:
    """Save the instance, then deliver the messages its diagram threw to their receivers."""
    thrown = handle.workflow.get_events()
    instances.save(session, handle)
    for event in thrown:
        if isinstance(event.event_definition, SignalEventDefinition):
            broadcast_signal(session, event.event_definition.name, user=user, exclude=handle.row.id)
            continue
        if not isinstance(event.event_definition, MessageEventDefinition):
            continue  # an escalation nothing caught ends there, as in Camunda
        payload = event.payload if isinstance(event.payload, dict) else {}
        element = payload.get("element_id")
        business_key = payload.get("business_key") or handle.row.business_key
        try:
            correlate_message(session, event.event_definition.name, business_key=business_key,
                              variables=payload.get("payload") or {}, user=user)
        except CorrelationError as exc:
            raise MessageUndelivered(f"message '{event.event_definition.name}' thrown here reaches no receiver: "
                                     f"{exc}", message_name=event.event_definition.name, business_key=business_key,
                                     element_id=element, instance_id=handle.row.id) from exc


def _plain_start(definition: ProcessDefinition) -> Optional[str]:
    starts = definition.meta["starts"]
    plain = [s["id"] for s in starts if s["kind"] == "none"]
    if plain:
        return plain[0]
    if len(starts) > 1 or not starts:
        kinds = ", ".join(f"{s['id']} ({s['kind']})" for s in starts) or "no start event"
        raise InvalidInput(f"process '{definition.key}' has no plain start event to start by hand: {kinds}")
    return starts[0]["id"]


def _checked_variables(variables: Optional[dict]) -> dict:
    variables = dict(variables or {})
    for name in variables:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise InvalidInput(f"variable name {name!r} is not allowed (letters, digits and _, not first)")
    refused = variable_limits.problem(variables)
    if refused:
        raise InvalidInput(refused)
    try:
        return runtime.plain(variables)
    except TypeError as exc:
        raise InvalidInput(f"variables: {exc}") from exc


def instance(session: Session, instance_id: int) -> ProcessInstance:
    row = session.get(ProcessInstance, instance_id)
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return row


@_one_instant
def suspend(session: Session, instance_id: int, *, user: str, reason: str = "") -> ProcessInstance:
    row = instances.lock_instance(session, instance_id)
    if row.status in ("completed", "terminated", "suspended"):
        raise InstanceNotRunning(f"process instance {instance_id} is {row.status}")
    _set_status(session, row, "suspended", user, reason, previous=row.status)
    return row


@_one_instant
def resume(session: Session, instance_id: int, *, user: str, reason: str = "") -> ProcessInstance:
    row = instances.lock_instance(session, instance_id)
    if row.status != "suspended":
        raise InstanceNotRunning(f"process instance {instance_id} is {row.status}, not suspended")
    has_tasks = session.scalar(select(UserTask.id).where(UserTask.instance_id == row.id,
                                                         UserTask.state == "ready").limit(1))
    open_incident = session.scalar(select(Incident.id).where(Incident.instance_id == row.id,
                                                             Incident.resolved_at.is_(None)).limit(1))
    _set_status(session, row, "incident" if open_incident else ("running" if has_tasks else "waiting"),
                user, reason)
    return row


@_one_instant
def terminate(session: Session, instance_id: int, *, user: str, reason: str) -> ProcessInstance:
    row = instances.lock_instance(session, instance_id)
    if row.status in ("completed", "terminated"):
        raise InstanceNotRunning(f"process instance {instance_id} is already {row.status}")
    instances.close_waits(session, row)
    row.ended_at = clock.now()
    _set_status(session, row, "terminated", user, reason)
    return row


def _set_status(session, row, status, user, reason, previous=None):
    before = previous or row.status
    row.status, row.updated_at = status, clock.now()
    called.follow_root(session, row, "running" if status in ("waiting", "incident") else status)
    history.record(session, row, [history.Event("status_changed", actor=user,
                                                data={"from": before, "to": status, "reason": reason})],
                   _current_digest(session, row))


def _current_digest(session, row) -> Optional[str]:
    """The digest carried by the instance's last event (status changes leave the state as it is)."""
    from .models import HistoryEvent
    return session.scalar(select(HistoryEvent.state_digest).where(
        HistoryEvent.chain == f"instance:{row.id}").order_by(HistoryEvent.seq.desc()).limit(1))


# --- user tasks --------------------------------------------------------------------------------

def user_task(session: Session, task_id: int) -> UserTask:
    task = session.get(UserTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def tasks(session: Session, *, groups: Optional[list[str]] = None, user: Optional[str] = None,
          assigned_only: bool = False, instance_id: Optional[int] = None, limit: int = 200,
          offset: int = 0) -> list[UserTask]:
    """Ready tasks: assigned to `user`, or offered to `user` or one of `groups`."""
    query = select(UserTask).where(UserTask.state == "ready")
    if instance_id is not None:
        query = query.where(UserTask.instance_id == instance_id)
    if assigned_only and user:
        query = query.where(UserTask.assignee == user)
    elif groups is not None or user is not None:
        offered = select(TaskCandidate.task_id).where(or_(
            and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(groups or [])),
            and_(TaskCandidate.kind == "user", TaskCandidate.value == (user or ""))))
        conditions = [UserTask.id.in_(offered)]
        if user:
            conditions.append(UserTask.assignee == user)
        query = query.where(or_(*conditions))
    query = query.order_by(UserTask.due_at.is_(None), UserTask.due_at, UserTask.created_at, UserTask.id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def lock_task(session: Session, task_id: Optional[int] = None, *,
              rest_id: Optional[str] = None) -> tuple[UserTask, ProcessInstance]:
    """Lock the task's instance first, then read the task and the instance as the last change left
    them (never an older copy this session read before the lock). The task is named by its id or
    its REST id; a task this transaction already locked is not read again.

    Every step runs this: it reads with Core and puts the rows into the session (instances.as_read)."""
    held = instances.held_locks(session)
    if task_id in held["task"]:
        task = session.get(UserTask, task_id)
        return task, session.get(ProcessInstance, task.instance_id)
    session.flush()  # as the ORM's autoflush: what this transaction changed is read as changed
    connection = session.connection()
    named = {"task_id": task_id} if rest_id is None else {"rest_id": rest_id}
    locked = (_LOCK_TASK_BY_ID if rest_id is None else _LOCK_TASK_BY_REST_ID).later(connection, named)
    # The lock may wait for another completion, and PostgreSQL re-reads only the locked row then:
    # the task is read again, sent with the lock (one round trip) and run by the server once the
    # lock is taken. (On SQLite the write transaction holds the database lock from its first statement.)
    reread = None if connection.dialect.name == "sqlite" else \
        (_READ_TASK if rest_id is None else _READ_TASK_BY_REST_ID).later(connection, named)
    found = locked().first()
    task_again = reread().first() if reread is not None else None
    if found is None or (reread is not None and task_again is None):
        raise NotFound(f"task {task_id if rest_id is None else rest_id} does not exist")
    task_values, row_values = task_again or found[:len(_TASK_COLUMNS)], found[len(_TASK_COLUMNS):]
    task = instances.as_read(session, UserTask, dict(zip(_READ[UserTask][1], task_values)))
    row = instances.as_read(session, ProcessInstance, dict(zip(_READ[ProcessInstance][1], row_values)))
    held["instance"].add(row.id)
    held["task"].add(task.id)
    return task, row


def _read_shape(model) -> tuple[list, list]:
    """A model's columns and attribute names, the deferred ones (the instance's state: the workflow
    cache has it) left out."""
    loaded = [p for p in model.__mapper__.column_attrs if not p.deferred]
    return [p.columns[0] for p in loaded], [p.key for p in loaded]


_READ = {model: _read_shape(model) for model in (UserTask, ProcessInstance)}
_TASK_COLUMNS, _INSTANCE_COLUMNS = _READ[UserTask][0], _READ[ProcessInstance][0]
def _listed(columns, qualified: bool = True) -> str:
    return ", ".join(f'{c.table.name}."{c.name}"' if qualified else f'"{c.name}"' for c in columns)


_LOCKED_TASK = (f"SELECT {_listed(_TASK_COLUMNS + _INSTANCE_COLUMNS)} FROM user_task "
                "JOIN process_instance ON user_task.instance_id = process_instance.id WHERE user_task.")
_LOCK_TASK_BY_ID = stepsql.Statement(_LOCKED_TASK + "id = :task_id", for_update="OF process_instance",
                                     returns=_TASK_COLUMNS + _INSTANCE_COLUMNS)  # made once: every step runs one
_LOCK_TASK_BY_REST_ID = stepsql.Statement(_LOCKED_TASK + "rest_id = :rest_id", for_update="OF process_instance",
                                          returns=_TASK_COLUMNS + _INSTANCE_COLUMNS)
_READ_TASK = stepsql.Statement(f"SELECT {_listed(_TASK_COLUMNS, False)} FROM user_task WHERE id = :task_id",
                               returns=_TASK_COLUMNS)
_READ_TASK_BY_REST_ID = stepsql.Statement(f"SELECT {_listed(_TASK_COLUMNS, False)} FROM user_task "
                                          "WHERE rest_id = :rest_id", returns=_TASK_COLUMNS)


def check_ready(task: UserTask, row: ProcessInstance) -> None:
    """Refuse work on a task that is no longer ready, saying who completed it and when."""
    if task.state != "ready":
        if task.state == "completed":
            when = clock.aware(task.completed_at).astimezone(clock.local_zone())
            raise TaskNotReady(f"task {task.id} ({task.name or task.element_id}) was already completed by "
                               f"{task.completed_by} at {when:%Y-%m-%d %H:%M:%S}")
        raise TaskNotReady(f"task {task.id} ({task.name or task.element_id}) is {task.state}")
    if row.status == "suspended":
        raise InstanceNotRunning(f"process instance {row.id} is suspended")


def _ready_task_locked(session: Session, task_id: int) -> tuple[UserTask, ProcessInstance]:
    task, row = lock_task(session, task_id)
    check_ready(task, row)
    return task, row


def task_access(task: UserTask, user: str, groups: list[str], roles=(), action: str = "work") -> Optional[str]:
    """The one rule of who may do what with a user task; Camunda 7 with authorization checks and
    its default task authorizations is the reference. `action` "work" (claim, complete) is the
    assignee's, or, while nobody has claimed it, a candidate user's or a candidate group member's;
    "assign" (hand it to another user, give it back) is the assignee's. An administrator (Camunda's
    camunda-admin) may do both with any task, also one offered to nobody or to unknown groups.
    Returns why it is allowed ("assignee", "candidate", "admin"), or None."""
    if action == "assign":
        if task.assignee and task.assignee == user:
            return "assignee"
    elif task.assignee:
        if task.assignee == user:
            return "assignee"
    elif user in task.candidate_users or set(groups) & set(task.candidate_groups):
        return "candidate"
    return "admin" if bureaus.ADMIN in (roles or ()) else None


def may_work_on(task: UserTask, user: str, groups: list[str], roles=()) -> bool:
    return task_access(task, user, groups, roles) is not None


def _override(task: UserTask, user: str, groups, roles, action: str, reason: Optional[str]) -> dict:
    """History data of an administrator acting on a task the rule gives to others, with the reason."""
    if task_access(task, user, groups or [], roles, action) != "admin":
        return {}
    offered = ", ".join(task.candidate_groups + task.candidate_users) or "nobody"
    holder = f", claimed by {task.assignee}" if task.assignee else ""
    return {"admin_override": (reason or "").strip() or f"administrator, not the assignee or a candidate "
                                                         f"(offered to {offered}{holder})"}


@_one_instant
def claim(session: Session, task_id: int, *, user: str, groups: Optional[list[str]] = None, roles=(),
          check_access: bool = True, reason: Optional[str] = None) -> UserTask:
    task, row = _ready_task_locked(session, task_id)
    if task.assignee and task.assignee != user:
        raise TaskNotReady(f"task {task_id} is already claimed by {task.assignee}")
    if check_access and task_access(task, user, groups or [], roles) is None:
        raise AccessDenied(f"{user} is not a candidate for task {task_id}")
    extra = _override(task, user, groups, roles, "work", reason) if check_access else {}
    task.assignee = user
    inbox.mark_claimed(session, task)
    _task_event(session, row, task, "task_claimed", user, {"assignee": user, **extra})
    return task


@_one_instant
def unclaim(session: Session, task_id: int, *, user: str) -> UserTask:
    task, row = _ready_task_locked(session, task_id)
    previous, task.assignee = task.assignee, None
    inbox.mark_claimed(session, task)
    _task_event(session, row, task, "task_unclaimed", user, {"previous": previous})
    return task


@_one_instant
def set_candidates(session: Session, task_id: int, *, groups: list[str], users: list[str], user: str) -> UserTask:
    """Offer a ready task to other candidate groups and users (an administrator's identity links)."""
    task, row = _ready_task_locked(session, task_id)
    previous = {"groups": list(task.candidate_groups), "users": list(task.candidate_users)}
    task.candidate_groups, task.candidate_users = list(groups), list(users)
    inbox.replace_candidates(session, task, groups, users)
    _task_event(session, row, task, "task_candidates_changed", user,
                {"groups": list(groups), "users": list(users), "previous": previous})
    return task


@_one_instant
def reassign_task(session: Session, task_id: int, *, actor: str, to_user: Optional[str], reason: str,
                  groups: Optional[list[str]] = None, roles=(), check_access: bool = True) -> UserTask:
    """Hand a ready task to another user (转办; None gives it back to its candidates): the
    assignee may, an administrator may for any task. Recorded with `reason` in the history."""
    from . import users

    task, row = _ready_task_locked(session, task_id)
    if check_access and task_access(task, actor, groups or [], roles, "assign") is None:
        holder = f"claimed by {task.assignee}" if task.assignee else "not claimed"
        raise AccessDenied(f"{actor} may not reassign task {task_id}: it is {holder}; the assignee or an "
                           "administrator may")
    if to_user is not None:
        target = users.get_user(session, to_user)
        if not target.active:
            raise InvalidInput(f"user '{to_user}' is deactivated")
    extra = _override(task, actor, groups, roles, "assign", reason) if check_access else {}
    previous, task.assignee = task.assignee, to_user
    inbox.mark_claimed(session, task)
    _task_event(session, row, task, "task_assigned", actor,
                {"from": previous, "to": to_user, "reason": (reason or "").strip() or None, **extra})
    return task


def _task_event(session, row, task, kind, user, data):
    history.record(session, row, [history.Event(kind, actor=user, element_id=task.element_id,
                                                data={"task": task.id, **data})], _current_digest(session, row))


@_one_instant
def complete_task(session: Session, task_id: int, *, user: str, data: Optional[dict] = None,
                  groups: Optional[list[str]] = None, roles=(), check_access: bool = True,
                  reason: Optional[str] = None, form_override: Optional[str] = None) -> ProcessInstance:
    """Complete a ready user task with form data as `user`, and run the instance until it waits.

    The data is checked against the task's form by the caller (forms.submission); `form_override`
    is an administrator's reason for completing without that check, kept in the history event."""
    task, row = _ready_task_locked(session, task_id)
    if check_access and not may_work_on(task, user, groups or [], roles):
        raise AccessDenied(f"{user} may not complete task {task_id} "
                           f"(offered to {', '.join(task.candidate_groups + task.candidate_users) or 'nobody'}"
                           f"{', claimed by ' + task.assignee if task.assignee else ''})")
    override = _override(task, user, groups, roles, "work", reason) if check_access else {}
    data = _checked_variables(data)
    compliance.enforce(row.process_key, task.element_id, {**(row.variables or {}), **data})
    handle = instances.load(session, row.id, row=row)
    spiff_task = runtime.find_task(handle.workflow, task.task_uuid)
    if spiff_task is None:
        raise TaskNotReady(f"task {task_id} is no longer part of process instance {row.id}")
    handle.events.append(history.Event("task_completed", actor=user, element_id=task.element_id,
                                       occurrence=instances._occurrence(handle.workflow, spiff_task),
                                       versions=instances.versions(handle),
                                       data={"task": task.id, "path": runtime.task_path(spiff_task),
                                             "values": data, **override,
                                             **({"form_override": form_override} if form_override else {})}))
    handle.completed_task = (task.task_uuid, user, task)
    runtime.complete_user_task(handle.workflow, task.task_uuid, data)
    _save(session, handle, user)
    return handle.row


# What may have happened since a completion for it to be taken back (撤回): the next tasks were
# offered (and rules evaluated, calls started on the way), nothing else.
_WITHDRAWABLE_AFTER = frozenset({"task_created", "decision_evaluated", "call_started"})


@_one_instant
def withdraw_task(session: Session, task_id: int, *, user: str) -> UserTask:
    """撤回: who completed a task takes it back while the tasks it led to are unclaimed and untouched
    (no draft, comment or document); it is ready again for them, recorded as `task_withdrawn`."""
    row = instances.lock_instance(session, user_task(session, task_id).instance_id)
    task = session.scalars(select(UserTask).where(UserTask.id == task_id)
                           .execution_options(populate_existing=True)).one()
    if task.state != "completed" or task.completed_by != user:
        raise AccessDenied(f"only who completed task {task_id} may take it back")
    handle = instances.load(session, row.id, row=row, require_active=False)
    problem = withdraw_problem(session, task, row, handle.workflow)
    if problem:
        raise TaskNotReady(f"task {task_id} cannot be taken back: {problem}")
    submitted = sorted(next((e.get("data") or {}).get("values") or {} for e in reversed(history.events_of(session, row.id))
                            if e["type"] == "task_completed" and (e.get("data") or {}).get("task") == task.id))
    spiff_task = runtime.task_to_change(handle.workflow, task.task_uuid)
    handle.events.append(history.Event("task_withdrawn", actor=user, element_id=task.element_id,
                                       data={"task": task.id, "path": runtime.task_path(spiff_task),
                                             "values": submitted}))
    runtime.withdraw_user_task(handle.workflow, spiff_task, submitted)
    task.state, task.completed_by, task.completed_at = "ready", None, None
    row.open_tasks = {**(row.open_tasks or {}), task.task_uuid: [task.id, task.element_id]}
    _save(session, handle, user)
    return task


def withdraw_problem(session: Session, task: UserTask, row: ProcessInstance, workflow=None) -> Optional[str]:
    """Why a completed task cannot be taken back now, or None when it can (what the task page asks
    before it offers 撤回). `workflow`: the instance's when loaded, else read from its stored state."""
    if row.status not in ("running", "waiting"):
        return f"the process is {row.status}"
    if task.called_instance_id is not None and \
            session.get(ProcessInstance, task.called_instance_id).status in ("completed", "terminated"):
        return "the called process it belongs to has ended"
    events = history.events_of(session, row.id)
    done = max((i for i, e in enumerate(events) if e["type"] == "task_completed"
                and (e.get("data") or {}).get("task") == task.id), default=None)
    if done is None:
        return "its completion is not in the history"
    later = events[done + 1:]
    if any(e["type"] not in _WITHDRAWABLE_AFTER for e in later):
        return "the process has moved on since"
    opened = [(e.get("data") or {}).get("task") for e in later if e["type"] == "task_created"]
    for next_task in session.scalars(select(UserTask).where(UserTask.id.in_(opened or [0]))):
        if next_task.state != "ready" or next_task.assignee:
            return f"'{next_task.name or next_task.element_id}' has been taken up"
    touched = [model for model in (TaskDraft, TaskComment, Document)
               if session.scalar(select(model.id).where(model.task_id.in_(opened or [0])).limit(1))]
    if touched:
        return "the next step has been worked on"
    if runtime.find_task(instances.stored_workflow(session, row) if workflow is None else workflow,
                         task.task_uuid) is None:  # compaction dropped its step once the next one started
        return "the process has moved on since"
    return None


# --- messages ----------------------------------------------------------------------------------

@dataclass
class CorrelationResult:
    instance: ProcessInstance
    started: bool


@_one_instant
def correlate_message(session: Session, name: str, *, business_key: Optional[str] = None,
                      variables: Optional[dict] = None, correlation_keys: Optional[dict] = None,
                      user: Optional[str] = None, instance_id: Optional[int] = None,
                      sender: Optional[senders.Sender] = None) -> CorrelationResult:
    """Deliver a message to the one execution waiting for it, else start the one process it starts
    (Camunda's correlate: waiting executions first); with `instance_id`, only to that instance
    (which must be waiting for it). Several waiting executions (a catch event, an event subprocess,
    a boundary event: in one instance or in several) or several processes it starts refuse it,
    changing nothing (MismatchingMessageCorrelation). `sender`: who sends it from outside the
    engine, checked by engine/senders.py (None: the engine itself or an operator)."""
    variables = _checked_variables(variables)
    waiting, count = _waiting_for(session, name, business_key, correlation_keys, instance_id, every=False)
    if count > 1:
        raise MismatchingMessageCorrelation(
            f"Cannot correlate a message with name '{name}' to a single execution. {count} executions match the "
            f"correlation keys: {_correlation_set(session, business_key, instance_id, correlation_keys)}; "
            f"waiting: {_waiting_list(session, waiting)}. Narrow it down by businessKey, processInstanceId or "
            "correlationKeys, or correlate it to every one with all: true")
    if waiting:
        [sub] = waiting
        _check_sender(session, sender, sub, variables, name)
        return _delivered(session, sub, name, variables, user)
    if instance_id is not None:
        raise CorrelationError(f"process instance {instance_id} is not waiting for message '{name}'")
    starts = _started_by(session, name)
    if len(starts) > 1:
        raise MismatchingMessageCorrelation(
            f"Cannot correlate a message with name '{name}' to a single process definition. {len(starts)} process "
            f"definitions match the correlations keys: {', '.join(d.key for d, _start in starts)}")
    if not starts:
        where = f" with business key '{business_key}'" if business_key else ""
        raise CorrelationError(f"no instance is waiting for message '{name}'{where} and no process starts with it")
    [(definition, start)] = starts
    _check_starter(sender, definition, start, variables, name)
    return CorrelationResult(_start_by_message(session, definition, start, name, business_key, variables, user), True)


@_one_instant
def correlate_message_all(session: Session, name: str, *, business_key: Optional[str] = None,
                          variables: Optional[dict] = None, correlation_keys: Optional[dict] = None,
                          user: Optional[str] = None, instance_id: Optional[int] = None,
                          sender: Optional[senders.Sender] = None) -> list[CorrelationResult]:
    """Camunda's correlateAll: deliver a message to every execution waiting for it, one after the
    other, and start every process it starts (not with `instance_id`); none is no error. The
    sender must be allowed each before any runs."""
    variables = _checked_variables(variables)
    waiting, _count = _waiting_for(session, name, business_key, correlation_keys, instance_id, every=True)
    starts = [] if instance_id is not None else _started_by(session, name)
    for sub in waiting:
        _check_sender(session, sender, sub, variables, name)
    for definition, start in starts:
        _check_starter(sender, definition, start, variables, name)
    results = []
    for sub in waiting:
        if session.scalar(select(MessageSubscription.id).where(MessageSubscription.id == sub.id)) is not None:
            # (not gone with one delivered before it: an interrupting event subprocess, say)
            results.append(_delivered(session, sub, name, variables, user))
    for definition, start in starts:
        results.append(CorrelationResult(
            _start_by_message(session, definition, start, name, business_key, variables, user), True))
    return results


def _waiting_for(session: Session, name: str, business_key: Optional[str], correlation_keys: Optional[dict],
                 instance_id: Optional[int], *, every: bool) -> tuple[list[MessageSubscription], int]:
    """The subscriptions (Camunda's executions) waiting for message `name` that the correlation
    matches, and how many there are; unless `every`, only the first two are read by index."""
    query = (select(MessageSubscription, ProcessInstance.variables)
             .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
             .where(MessageSubscription.kind == "message", MessageSubscription.message_name == name)
             .order_by(MessageSubscription.instance_id, MessageSubscription.id))
    if business_key is not None:
        query = query.where(MessageSubscription.business_key == business_key)
    if instance_id is not None:  # what waits in that instance itself: a called one's in its root's state
        target = session.get(ProcessInstance, instance_id)
        query = query.where(MessageSubscription.called_instance_id == instance_id
                            if target is not None and target.root_instance_id is not None
                            else and_(MessageSubscription.instance_id == instance_id,
                                      MessageSubscription.called_instance_id.is_(None)))
    if correlation_keys:  # compared with the variables of the instance that waits (a called one's own)
        found = [sub for sub, values in session.execute(query)
                 if _matches(session.get(ProcessInstance, sub.called_instance_id).variables
                             if sub.called_instance_id else values, correlation_keys)]
        return found, len(found)
    found = [sub for sub, _values in session.execute(query if every else query.limit(2))]
    if len(found) < 2 or every:
        return found, len(found)
    return found, session.scalar(select(func.count()).select_from(query.subquery()))


def _correlation_set(session: Session, business_key, instance_id, correlation_keys) -> str:
    """The correlation as Camunda's message names it (the instance by its REST id)."""
    def shown(value):
        return "null" if value is None else value
    instance = session.get(ProcessInstance, instance_id).rest_id if instance_id is not None else None
    return (f"CorrelationSet [businessKey={shown(business_key)}, processInstanceId={shown(instance)}, "
            f"correlationKeys={shown(correlation_keys or None)}]")


def _waiting_list(session: Session, waiting: list[MessageSubscription]) -> str:
    """Where the first few matched subscriptions wait: instance (business key) and element."""
    shown = []
    for sub in waiting[:10]:
        row = session.get(ProcessInstance, sub.called_instance_id or sub.instance_id)
        shown.append(f"'{sub.element_id}' of {row.process_key} {row.business_key or row.id}")
    return ", ".join(shown) + (", …" if len(waiting) > 10 else "")


def _check_sender(session, sender, sub: MessageSubscription, variables: dict, name: str) -> None:
    if sender is not None:  # the process that catches it: a called one's own rules and variables
        row = session.get(ProcessInstance, sub.called_instance_id or sub.instance_id)
        senders.check_may_deliver(session, sender, row, sub.element_id, f"message '{name}'")
        senders.check_instance_variables(session, sender, row, variables, f"message '{name}'")


def _started_by(session: Session, name: str) -> list[tuple[ProcessDefinition, StartSubscription]]:
    """(latest definition, its start) of each process that message `name` starts."""
    latest = {}
    for start in session.scalars(select(StartSubscription).where(StartSubscription.kind == "message",
                                                                 StartSubscription.message_name == name)):
        definition = session.get(ProcessDefinition, start.definition_id)
        if process_definition(session, definition.key).id == definition.id:
            latest[definition.key] = (definition, start)
    return [latest[key] for key in sorted(latest)]


def _check_starter(sender, definition: ProcessDefinition, start: StartSubscription, variables: dict,
                   name: str) -> None:
    if sender is not None:
        senders.check_may_start(sender, definition, start.element_id, f"message '{name}'")
        senders.check_variables(sender, definition, variables, f"message '{name}'")


def _start_by_message(session: Session, definition: ProcessDefinition, start: StartSubscription, name: str,
                      business_key: Optional[str], variables: dict, user: Optional[str]) -> ProcessInstance:
    _refuse_shared_key(session, definition, business_key)
    compliance.enforce(definition.key, start.element_id, variables, event_type="instance_started")
    handle = instances.create(session, definition.id, business_key=business_key, user=user)
    handle.events.append(history.Event("instance_started", actor=user, element_id=start.element_id,
                                       versions=instances.versions(handle),
                                       data={"business_key": business_key, "variables": {}, "message": name}))
    handle.events.append(history.Event("message_correlated", actor=user, element_id=start.element_id,
                                       data={"message": name, "variables": variables}))
    runtime.start(handle.workflow, {}, start_element=start.element_id)
    runtime.catch_message(handle.workflow, name, variables)
    _save(session, handle, user)
    return handle.row


def _matches(values: dict, keys: dict) -> bool:
    return all(values.get(k) == v for k, v in keys.items())


def _waits_for(session: Session, instance_id: int, kind: str, name: str, called_id: Optional[int] = None) -> bool:
    """Whether the instance, locked, still waits for the message or signal `name` (with
    `called_id`: in that called instance): a subscription read before the lock may have gone with
    a change that committed in between (PostgreSQL)."""
    instances.lock_instance(session, instance_id)
    query = select(MessageSubscription.id).where(
        MessageSubscription.instance_id == instance_id, MessageSubscription.kind == kind,
        MessageSubscription.message_name == name)
    if called_id is not None:
        query = query.where(MessageSubscription.called_instance_id == called_id)
    return session.scalar(query.limit(1)) is not None


def _delivered(session, sub: MessageSubscription, name, variables, user) -> CorrelationResult:
    """`_deliver`, answered with the process instance the message went to (a called one's own)."""
    called_id = sub.called_instance_id
    root = _deliver(session, sub, name, variables, user)
    return CorrelationResult(session.get(ProcessInstance, called_id) if called_id else root, False)


def _deliver(session, sub: MessageSubscription, name, variables, user) -> ProcessInstance:
    """Deliver a message to subscription `sub` as engine work: a failure opens an incident instead
    of losing it. It goes to the process instance it waits in (the root's own steps, or a called
    instance's alone); when that instance waits for the message elsewhere too, the delivery names
    where (`targets`, as replay finds it) and reaches that execution alone."""
    instance_id, task_uuid, element_id, called_id = sub.instance_id, sub.task_uuid, sub.element_id, \
        sub.called_instance_id
    if not _waits_for(session, instance_id, "message", name, called_id):
        raise CorrelationError(f"process instance {instance_id} no longer waits for message '{name}': "
                               "it moved on while the message was being correlated")
    alone = session.scalar(select(func.count()).where(
        MessageSubscription.instance_id == instance_id, MessageSubscription.kind == "message",
        MessageSubscription.message_name == name, MessageSubscription.called_instance_id.is_(None)
        if called_id is None else MessageSubscription.called_instance_id == called_id)) == 1
    call_task = session.get(ProcessInstance, called_id).call_task if called_id else None
    event = history.Event("message_correlated", actor=user, element_id=element_id,
                          data={"message": name, "variables": variables})

    def apply(handle):
        event.data["called"] = runtime.called_path(handle.workflow, call_task)
        if not alone:
            event.data["targets"] = [runtime.subscription_place(handle.workflow, task_uuid, element_id)]
        runtime.catch_message(handle.workflow, name, variables, call=call_task, targets=event.data.get("targets"))
    return _engine_work(session, instance_id, event, apply, kind="message",
                        payload={"message": name, "variables": variables, "element_id": element_id})


# --- signals -----------------------------------------------------------------------------------

@_one_instant
def broadcast_signal(session: Session, name: str, *, variables: Optional[dict] = None, user: Optional[str] = None,
                     exclude: Optional[int] = None, sender: Optional[senders.Sender] = None) -> list[int]:
    """Deliver a signal to every instance waiting for it and start every process it starts;
    return the instances it reached. A `sender` (from outside the engine) must be allowed to
    reach every one of them (engine/senders.py), else nothing is delivered."""
    variables = _checked_variables(variables)
    subscriptions = {sub.instance_id: sub for sub in session.scalars(select(MessageSubscription).where(
        MessageSubscription.kind == "signal", MessageSubscription.message_name == name)
        .order_by(MessageSubscription.id.desc()))}
    waiting = sorted(set(subscriptions) - {exclude})
    starts = [(session.get(ProcessDefinition, start.definition_id), start) for start in session.scalars(
        select(StartSubscription).where(StartSubscription.kind == "signal", StartSubscription.message_name == name))]
    starts = [(d, start) for d, start in starts if process_definition(session, d.key).id == d.id]  # latest only
    if sender is not None:
        what = f"signal '{name}'"
        for instance_id in waiting:
            sub = subscriptions[instance_id]
            row = session.get(ProcessInstance, sub.called_instance_id or instance_id)
            senders.check_may_deliver(session, sender, row, sub.element_id, what)
            senders.check_instance_variables(session, sender, row, variables, what)
        for definition, start in starts:
            senders.check_may_start(sender, definition, start.element_id, what)
            senders.check_variables(sender, definition, variables, what)
    reached = []
    for instance_id in waiting:
        if not _waits_for(session, instance_id, "signal", name):
            continue  # it moved on before its turn came
        event = history.Event("signal_received", actor=user, data={"signal": name, "variables": variables})
        row = _engine_work(session, instance_id, event,
                           lambda handle: runtime.catch_signal(handle.workflow, name, variables), kind="signal",
                           payload={"signal": name, "variables": variables})
        reached.append(row.id)
    for definition, start in starts:
        handle = instances.create(session, definition.id, business_key=None, user=user)
        handle.events.append(history.Event("instance_started", actor=user, element_id=start.element_id,
                                           versions=instances.versions(handle),
                                           data={"business_key": None, "variables": variables, "signal": name}))
        runtime.start(handle.workflow, variables, start_element=start.element_id, fire_start=True)
        _save(session, handle, user)
        reached.append(handle.row.id)
    return reached


# --- decisions ---------------------------------------------------------------------------------

def evaluate_decision(session: Session, key: str, variables: Optional[dict] = None) -> list[dict]:
    """Evaluate the latest version of decision `key` on `variables`: one dict per matched rule."""
    from .dmn import DecisionError

    resolver = instances.DecisionResolver(session, None)
    try:
        return resolver.evaluate(key, {}, _checked_variables(variables), None).outputs
    except DecisionError as exc:
        raise InvalidInput(f"decision '{key}': {exc}") from exc


# --- timers ------------------------------------------------------------------------------------

@_one_instant
def fire_next_due_timer(session: Session) -> Optional[Timer]:
    """Fire one due timer, if any; return it. Safe with several schedulers on one database:
    a timer is taken under the lock of its instance (or its own row, for a timer start event)
    with SKIP LOCKED, so none waits behind another scheduler, and only while it is still due at
    the time this scheduler saw: an occurrence another scheduler fired meanwhile is not fired
    again, and the next one not before its time."""
    now = clock.now()
    live = select(ProcessInstance.id).where(ProcessInstance.status.in_(("running", "waiting")))
    candidates = session.execute(
        select(Timer.id, Timer.instance_id, Timer.due_at)
        .where(Timer.state == "waiting", Timer.due_at <= now,
               or_(Timer.instance_id.is_(None), Timer.instance_id.in_(live)))
        .order_by(Timer.due_at, Timer.id).limit(20)).all()
    for timer_id, instance_id, seen_due in candidates:
        still_due = select(Timer).where(Timer.id == timer_id, Timer.state == "waiting", Timer.due_at == seen_due)
        if instance_id is None:
            timer = session.scalars(still_due.with_for_update(skip_locked=True)
                                    .execution_options(populate_existing=True)).first()
            if timer is not None:
                _fire_timer_start(session, timer, now)
                return timer
            continue
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                              .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
        if row is None:
            continue  # another scheduler is on this instance right now
        timer = session.scalars(still_due.execution_options(populate_existing=True)).first()
        if timer is not None and _fire(session, row, timer, now):
            return timer
    return None


def _fire(session: Session, row: ProcessInstance, timer: Timer, now, user: Optional[str] = None) -> bool:
    """Fire a timer or run a job of locked instance `row`, if it still waits and the instance runs;
    `user`: who executed it by hand (a timer not yet due then fires now)."""
    if timer.state != "waiting" or row.status in ("suspended", "terminated", "completed", "incident"):
        return False
    early = timer.kind == "timer" and clock.aware(timer.due_at) > now
    timer.state, timer.fired_at, timer.fire_count = "fired", now, timer.fire_count + 1
    if timer.kind == "job":
        _run_job(session, row, timer, user)
        return True
    event = history.Event("timer_fired", actor=user, element_id=timer.element_id,
                          data={"timer": timer.id, "due": timer.due_at, "fired_at": now})

    def fire(handle):
        if early:  # replay and a retry bring the same timer forward (`_fire_timer`)
            place = runtime.timer_place(handle.workflow, timer.task_uuid)
            if place is None:
                raise NotFound(f"job {timer.rest_id} does not wait: its timer '{timer.element_id}' has gone")
            event.data["early"] = place
        _fire_timer(handle, event.data)
    _engine_work(session, row.id, event, fire, kind="timer",
                 payload={"timer": timer.id, "element_id": timer.element_id})
    return True


def _fire_timer(handle, data: dict) -> None:
    """Run the instance at a timer's time; one executed before its due date (`early`) is made due now."""
    if data.get("early"):
        runtime.bring_timer_forward(handle.workflow, data["early"])
    runtime.run_engine(handle.workflow)


@_one_instant
def execute_job(session: Session, timer_id: int, *, user: Optional[str] = None) -> Timer:
    """Run one waiting job now (Camunda's job execute): an asynchronous continuation, or a timer,
    due or not (as in Camunda, it fires now); the history names `user`, who executed it."""
    timer = session.get(Timer, timer_id)
    if timer is None or timer.state != "waiting":
        raise NotFound(f"job {timer_id} does not wait: it ran or was cancelled")
    if timer.instance_id is None:  # a timer start event: its own row is the lock
        session.scalars(select(Timer).where(Timer.id == timer_id).with_for_update()).one()
        session.refresh(timer)
        if timer.state != "waiting":
            raise NotFound(f"job {timer_id} does not wait: it ran or was cancelled")
        _fire_timer_start(session, timer, clock.now(), user)
        return timer
    row = instances.lock_instance(session, timer.instance_id)
    session.refresh(timer)
    if not _fire(session, row, timer, clock.now(), user):
        raise InstanceNotRunning(f"job {timer_id} cannot run: process instance {row.id} is {row.status}")
    return timer


@_one_instant
def set_job_due_date(session: Session, timer_id: int, due: Optional[datetime], *, cascade: bool = False,
                     user: Optional[str] = None) -> Timer:
    """Set when a waiting timer fires (Camunda's job due date): it fires then as the occurrence it
    waited for; no date is now (Camunda's job executor takes a job without one at once). `cascade`
    moves a cycle's following occurrences by as much (not with no date, as in Camunda). Recorded in
    the instance's history (replayed), or for a timer start event in the system's; the scheduler
    reads the new due time from the timer row, whichever server process runs it."""
    now = clock.now()
    cascade = cascade and due is not None
    due = clock.aware(due if due is not None else now).astimezone(timezone.utc)
    timer = session.get(Timer, timer_id)
    if timer is not None and timer.kind == "job":
        raise InvalidInput(f"job {timer.rest_id} is an asynchronous continuation: it runs as soon as it is "
                           f"reached and has no due date to set (only a timer's can be set)")
    if timer is None or timer.state != "waiting":
        raise NotFound(f"job {timer_id} does not wait: it ran or was cancelled")
    if timer.instance_id is None:  # a timer start event: its own row is the lock and the schedule
        session.scalars(select(Timer).where(Timer.id == timer_id).with_for_update()).one()
        session.refresh(timer)
        if timer.state != "waiting":
            raise NotFound(f"job {timer_id} does not wait: it ran or was cancelled")
        previous = clock.aware(timer.due_at)
        occurrence = clock.aware(timer.occurrence_at or timer.due_at)
        if cascade:
            occurrence = _cascaded(occurrence, due - previous, timer)
            timer.offset_ms += timers.milliseconds(due - previous)
        timer.due_at, timer.occurrence_at = due, occurrence if occurrence != due else None
        definition = session.get(ProcessDefinition, timer.definition_id)
        history.record_system(session, history.Event(
            "job_due_date_set", actor=user, element_id=timer.element_id,
            data={"timer": timer.id, "process": f"{definition.key}:{definition.version}", "due": due,
                  "previous": previous, "cascade": cascade}))
        return timer
    row = instances.lock_instance(session, timer.instance_id)
    session.refresh(timer)
    if timer.state != "waiting":
        raise NotFound(f"job {timer_id} does not wait: it ran or was cancelled")
    if row.status in ("completed", "terminated"):
        raise InstanceNotRunning(f"process instance {row.id} is {row.status}")
    handle = instances.load(session, row.id, require_active=False, row=row)
    place = runtime.timer_place(handle.workflow, timer.task_uuid)
    if place is None:
        raise NotFound(f"job {timer.rest_id} does not wait: its timer '{timer.element_id}' has gone")
    handle.events.append(history.Event("job_due_date_set", actor=user, element_id=timer.element_id, data={
        "timer": timer.id, "place": place, "due": due, "previous": timer.due_at, "cascade": cascade}))
    try:
        runtime.move_timer(handle.workflow, place, due, cascade)  # (an overflow changes nothing)
    except OverflowError:
        raise _past_the_calendar(timer) from None
    _save(session, handle, user)
    return timer


def _cascaded(occurrence: datetime, shift: timedelta, timer: Timer) -> datetime:
    """A cycle's occurrence moved by a cascaded due date."""
    try:
        return occurrence + shift
    except OverflowError:
        raise _past_the_calendar(timer) from None


def _past_the_calendar(timer: Timer) -> InvalidInput:
    return InvalidInput(f"duedate with cascade moves the occurrences following job {timer.rest_id} past the "
                        f"calendar's ends (years 1 to 9999)")


def _run_job(session: Session, row: ProcessInstance, job: Timer, user: Optional[str] = None) -> None:
    """Go on past an asynchronous continuation in a transaction of its own; a failure is an
    incident, and the user's transaction that reached it stays committed."""
    handle = instances.load(session, row.id, row=row)
    task = runtime.find_task(handle.workflow, job.task_uuid)
    path = runtime.task_path(task) if task is not None else None
    event = history.Event("job_executed", actor=user, element_id=job.element_id,
                          data={"job": job.id, "phase": job.phase, "path": path})
    payload = {"job": job.id, "task_uuid": job.task_uuid, "phase": job.phase, "element_id": job.element_id}
    _engine_work(session, row.id, event, lambda h: runtime.run_job(h.workflow, job.task_uuid, job.phase),
                 kind="job", payload=payload)


def _fire_timer_start(session: Session, timer: Timer, now, user: Optional[str] = None) -> ProcessInstance:
    """A timer start event is due: start an instance there, recording the occurrence's due time,
    and schedule the next occurrence."""
    definition = session.get(ProcessDefinition, timer.definition_id)
    offset = timedelta(milliseconds=timer.offset_ms or 0)  # (a cascaded due date: the schedule shifted)
    due = (timer.occurrence_at or timer.due_at) - offset  # the occurrence of the schedule it stands for
    timer.fire_count, timer.fired_at, timer.occurrence_at = timer.fire_count + 1, now, None
    following = next_start_due(definition, timer.element_id, due, timer.fire_count)
    if following is None:
        timer.state = "fired"
    else:
        timer.due_at = following + offset
    handle = instances.create(session, definition.id, business_key=None, user=None)
    handle.events.append(history.Event("instance_started", actor=user, element_id=timer.element_id,
                                       versions=instances.versions(handle),
                                       data={"business_key": None, "variables": {}, "timer": timer.id,
                                             "due": due, "fired_at": now,
                                             **({"offset_ms": timer.offset_ms} if timer.offset_ms else {})}))
    runtime.start(handle.workflow, {}, start_element=timer.element_id, fire_start=True)
    _save(session, handle, None)
    return handle.row


def next_start_due(definition: ProcessDefinition, element_id: str, due, fired: int):
    """When a timer start event fires next after its occurrence at `due`, its `fired`-th; None when over."""
    from .expressions import compile_template
    from .timers import next_due

    start = next(s for s in definition.meta["starts"] if s["id"] == element_id)
    return next_due(start["timer"]["kind"], str(compile_template(start["timer"]["text"]).evaluate({})),
                    due, fired)


def fire_due_timers(db, limit: int = 1000) -> int:
    """Fire due timers, each in a transaction of its own; return how many fired."""
    fired = 0
    while fired < limit:
        with db.write() as session:
            if fire_next_due_timer(session) is None:
                return fired
        fired += 1
    return fired


# --- engine work and incidents -----------------------------------------------------------------

def _engine_work(session: Session, instance_id: int, event: history.Event, apply, *, kind: str,
                 payload: dict) -> ProcessInstance:
    """Run work the engine started itself; on failure keep the last wait state and open an incident."""
    savepoint = session.begin_nested()
    try:
        handle = instances.load(session, instance_id)
        handle.events.append(event)
        apply(handle)
        _save(session, handle, event.actor)
        savepoint.commit()
        return handle.row
    except ExecutionError as exc:
        savepoint.rollback()
        row = instances.lock_instance(session, instance_id)
        incident = open_incident(
            session, row, element_id=exc.element_id or payload.get("element_id"), kind=kind, message=str(exc),
            payload=runtime.plain({**payload, "event": {"type": event.type, "actor": event.actor,
                                                        "element_id": event.element_id, "data": event.data}}),
            at=running_call(session, row, exc.call_task))
        previous, row.status = row.status, "incident"
        history.record(session, row, [history.Event("incident", element_id=incident.element_id,
                                                    data={"incident": incident.id, "kind": kind,
                                                          "message": str(exc), "from": previous})],
                       _current_digest(session, row))
        return row


def incidents(session: Session, *, open_only: bool = True) -> list[Incident]:
    query = select(Incident).order_by(Incident.id)
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    return list(session.scalars(query))


@_one_instant
def retry_incident(session: Session, incident_id: int, *, user: str) -> ProcessInstance:
    """Run the failed engine work again (after a fix: a corrected variable, a migration)."""
    incident = session.get(Incident, incident_id)
    if incident is None or incident.resolved_at is not None:
        raise NotFound(f"open incident {incident_id} does not exist")
    incident = root_cause(session, incident)  # a cause at a call activity: its root cause runs again
    row = instances.lock_instance(session, incident.instance_id)
    row.status = "running"
    recorded = incident.payload["event"]
    event = history.Event(recorded["type"], actor=user, element_id=recorded["element_id"],
                          data={**(recorded["data"] or {}), "retry_of_incident": incident.id})
    if incident.kind == "external-task":
        external = session.get(ExternalTask, incident.payload["external_task"])
        external.retries, external.lock_expires_at = 1, None
        row.status = "running" if row.open_tasks else "waiting"
        resolve_with_causes(session, incident, user)
        history.record(session, row, [history.Event("status_changed", actor=user, element_id=incident.element_id,
                                                    data={"from": "incident", "to": row.status,
                                                          "retry_of_incident": incident.id})],
                       _current_digest(session, row))
        return row
    if incident.kind == "job":
        data = incident.payload

        def apply(handle):
            runtime.run_job(handle.workflow, data["task_uuid"], data["phase"])
    elif incident.kind == "signal":
        data = incident.payload

        def apply(handle):
            runtime.catch_signal(handle.workflow, data["signal"], data["variables"])
    elif incident.kind == "message":
        data = incident.payload

        def apply(handle):
            runtime.catch_message(handle.workflow, data["message"], data["variables"],
                                  call=runtime.message_call(handle.workflow, event.data),
                                  targets=event.data.get("targets"))
    else:
        def apply(handle):
            _fire_timer(handle, event.data)
        if incident.kind == "timer":
            event.data["fired_at"] = clock.now()
    result = _engine_work(session, row.id, event, apply, kind=incident.kind, payload=incident.payload)
    resolve_with_causes(session, incident, user)  # a failed retry opens a new one
    return result


@_one_instant
def set_variables(session: Session, instance_id: int, variables: dict, *, user: str) -> ProcessInstance:
    """Change process variables (an administrator mending data before a retry)."""
    variables = _checked_variables(variables)
    handle = instances.load(session, instance_id, require_active=False)
    if handle.row.status in ("completed", "terminated"):
        raise InstanceNotRunning(f"process instance {instance_id} is {handle.row.status}")
    handle.events.append(history.Event("variables_changed", actor=user, data={"variables": variables}))
    runtime.set_variables(handle.workflow, variables)
    _save(session, handle, user)
    return handle.row


@_one_instant
def set_task_variables(session: Session, task: UserTask, variables: dict, *, user: str) -> ProcessInstance:
    """Change variables through an open task: those of its own process instance (a called
    process's for its tasks), as Camunda's task variables are set; the instances that called it
    and those it calls keep theirs."""
    variables = _checked_variables(variables)
    handle = instances.load(session, task.instance_id, require_active=False)
    if handle.row.status in ("completed", "terminated"):
        raise InstanceNotRunning(f"process instance {task.instance_id} is {handle.row.status}")
    call = session.get(ProcessInstance, task.called_instance_id).call_task if task.called_instance_id else None
    handle.events.append(history.Event("variables_changed", actor=user, data={
        "variables": variables, "called": runtime.called_path(handle.workflow, call)}))
    runtime.set_call_variables(handle.workflow, call, variables)
    _save(session, handle, user)
    return handle.row


# --- external tasks ----------------------------------------------------------------------------

@dataclass
class LockedExternalTask:
    task: ExternalTask
    variables: dict
    business_key: Optional[str]
    process_key: str


@_one_instant
def fetch_and_lock(session: Session, worker_id: str, topics: list[dict], *, max_tasks: int = 10) -> list[LockedExternalTask]:
    """Lock up to `max_tasks` open external tasks of the topics for `worker_id`.

    `topics`: [{"topicName": …, "lockDuration": milliseconds, "variables": [names] or None}], each
    also narrowed, as Camunda's, by businessKey, processDefinitionKey(In), processDefinitionId(In)
    (REST ids) and processVariables (values the instance's variables must equal).
    Tasks locked by another worker stay theirs until the lock expires; several workers and
    engine processes share the work without taking a task twice (SKIP LOCKED)."""
    if not worker_id:
        raise InvalidInput("a worker id is required")
    now, locked = clock.now(), []
    for topic in topics:
        name, duration = topic.get("topicName"), topic.get("lockDuration")
        if not name or not isinstance(duration, int) or duration <= 0:
            raise InvalidInput("each topic needs a topicName and a positive lockDuration (milliseconds)")
        if len(locked) >= max_tasks:
            break
        query = (select(ExternalTask).where(ExternalTask.state == "open", ExternalTask.topic == name,
                                            or_(ExternalTask.lock_expires_at.is_(None), ExternalTask.lock_expires_at <= now),
                                            or_(ExternalTask.retries.is_(None), ExternalTask.retries > 0))
                 .order_by(ExternalTask.priority.desc(), ExternalTask.id)
                 .limit(max_tasks - len(locked)).with_for_update(skip_locked=True))
        instances = _topic_instances(topic)
        if instances is not None:  # a called process's task is matched by its own instance
            query = query.where(func.coalesce(ExternalTask.called_instance_id, ExternalTask.instance_id).in_(instances))
        for task in session.scalars(query):
            row = session.get(ProcessInstance, task.instance_id)
            if row.status not in ("running", "waiting") or not _matches(row.variables or {},
                                                                       topic.get("processVariables") or {}):
                continue
            task.worker_id, task.lock_expires_at = worker_id, now + timedelta(milliseconds=duration)
            wanted = topic.get("variables")
            scope = session.get(ProcessInstance, task.called_instance_id) if task.called_instance_id else row
            variables = {k: v for k, v in {**(scope.variables or {}), **(task.variables or {})}.items()
                         if not k.startswith("_") and (wanted is None or k in wanted)}
            locked.append(LockedExternalTask(task, variables, scope.business_key, scope.process_key))
    return locked


def _topic_instances(topic: dict):
    """The instances a topic's filters allow (a subquery), or None when it has none."""
    conditions = []
    if topic.get("businessKey") is not None:
        conditions.append(ProcessInstance.business_key == topic["businessKey"])
    keys = ([topic["processDefinitionKey"]] if topic.get("processDefinitionKey") else []) + \
        list(topic.get("processDefinitionKeyIn") or [])
    if keys:
        conditions.append(ProcessInstance.process_key.in_(keys))
    ids = ([topic["processDefinitionId"]] if topic.get("processDefinitionId") else []) + \
        list(topic.get("processDefinitionIdIn") or [])
    if ids:
        conditions.append(ProcessInstance.definition_id.in_(
            select(ProcessDefinition.id).where(ProcessDefinition.rest_id.in_(ids))))
    return select(ProcessInstance.id).where(*conditions) if conditions else None


def _locked_by(session: Session, task_id: int, worker_id: str) -> ExternalTask:
    """The external task, read after its instance is locked, if `worker_id` holds it."""
    instance_id = session.scalar(select(ExternalTask.instance_id).where(ExternalTask.id == task_id))
    if instance_id is None:
        raise NotFound(f"external task {task_id} does not exist")
    instances.lock_instance(session, instance_id)
    task = session.scalars(select(ExternalTask).where(ExternalTask.id == task_id)
                           .execution_options(populate_existing=True)).one()
    if task.state != "open":
        raise TaskNotReady(f"external task {task_id} is {task.state}")
    if task.worker_id != worker_id or task.lock_expires_at is None or task.lock_expires_at < clock.now():
        raise TaskNotReady(f"external task {task_id} is not locked by worker '{worker_id}'"
                           + (f" (locked by '{task.worker_id}')" if task.worker_id and task.worker_id != worker_id else ""))
    return task


@_one_instant
def complete_external_task(session: Session, task_id: int, *, worker_id: str, variables: Optional[dict] = None,
                           user: Optional[str] = None) -> ProcessInstance:
    """The worker holding the lock finished the task: its variables join the process."""
    task = _locked_by(session, task_id, worker_id)
    return _finish_external(session, task, _checked_variables(variables), user or worker_id, {"worker": worker_id})


def _finish_external(session: Session, task: ExternalTask, variables: dict, actor: Optional[str],
                     data: dict) -> ProcessInstance:
    handle = instances.load(session, task.instance_id)
    spiff_task = runtime.task_to_change(handle.workflow, task.task_uuid)
    handle.events.append(history.Event("external_task_completed", actor=actor, element_id=task.element_id,
                                       data={"external_task": task.id, "path": runtime.task_path(spiff_task),
                                             **data, "variables": variables}))
    runtime.complete_external_task(handle.workflow, task.task_uuid, variables)
    _save(session, handle, actor)
    task.state = "completed"
    return handle.row


@_one_instant
def complete_external_task_as_admin(session: Session, task_id: int, *, user: str, variables: Optional[dict] = None,
                                    reason: str = "") -> ProcessInstance:
    """An administrator does an external task's work by hand (a `java:` task with no worker, a
    script the engine cannot run): its open incident is resolved, the variables join the process."""
    task = session.get(ExternalTask, task_id)
    if task is None:
        raise NotFound(f"external task {task_id} does not exist")
    if task.state != "open":
        raise TaskNotReady(f"external task {task_id} is {task.state}")
    variables = _checked_variables(variables)
    row = instances.lock_instance(session, task.instance_id)
    if row.status in ("suspended", "completed", "terminated"):
        raise InstanceNotRunning(f"process instance {row.id} is {row.status}")
    for incident in session.scalars(select(Incident).where(Incident.instance_id == row.id,
                                                           Incident.element_id == task.element_id,
                                                           Incident.resolved_at.is_(None))):
        if (incident.payload or {}).get("external_task") == task.id:
            resolve_with_causes(session, incident, user)
    if row.status == "incident" and not session.scalar(select(Incident.id).where(
            Incident.instance_id == row.id, Incident.resolved_at.is_(None)).limit(1)):
        row.status = "running"
    return _finish_external(session, task, variables, user,
                            {"worker": None, "by_admin": (reason or "").strip() or "completed by an administrator"})


@_one_instant
def handle_external_failure(session: Session, task_id: int, *, worker_id: str, error_message: str,
                            error_details: Optional[str] = None, retries: int = 0, retry_timeout: int = 0,
                            user: Optional[str] = None) -> ExternalTask:
    """The worker failed: try again after `retry_timeout` ms while retries remain; at none, an incident."""
    task = _locked_by(session, task_id, worker_id)
    task.error_message, task.error_details, task.retries = error_message, error_details, max(int(retries), 0)
    task.worker_id, task.lock_expires_at = None, clock.now() + timedelta(milliseconds=max(int(retry_timeout), 0))
    if task.retries == 0:
        row = instances.lock_instance(session, task.instance_id)
        incident = open_incident(
            session, row, element_id=task.element_id, kind="external-task",
            message=f"external task '{task.topic}' failed: {error_message}",
            payload={"external_task": task.id, "element_id": task.element_id,
                     "event": {"type": "external_task_retried", "actor": user or worker_id,
                               "element_id": task.element_id, "data": {"external_task": task.id}}},
            at=task.called_instance_id)
        previous, row.status = row.status, "incident"
        history.record(session, row, [history.Event("incident", actor=user or worker_id, element_id=task.element_id,
                                                    data={"incident": incident.id, "kind": "external-task",
                                                          "message": incident.message, "from": previous})],
                       _current_digest(session, row))
    return task


@_one_instant
def handle_bpmn_error(session: Session, task_id: int, *, worker_id: str, error_code: str,
                      error_message: Optional[str] = None, variables: Optional[dict] = None,
                      user: Optional[str] = None) -> ProcessInstance:
    """The worker reports a business error: the error boundary event for the code takes over."""
    task = _locked_by(session, task_id, worker_id)
    if not error_code:
        raise InvalidInput("a BPMN error needs an errorCode")
    variables = _checked_variables(variables)
    handle = instances.load(session, task.instance_id)
    spiff_task = runtime.task_to_change(handle.workflow, task.task_uuid)
    handle.events.append(history.Event("external_task_bpmn_error", actor=user or worker_id,
                                       element_id=task.element_id,
                                       data={"external_task": task.id, "path": runtime.task_path(spiff_task),
                                             "code": error_code, "message": error_message, "variables": variables}))
    runtime.throw_bpmn_error(handle.workflow, task.task_uuid, error_code, error_message, variables)
    _save(session, handle, user or worker_id)
    task.state = "failed"
    return handle.row


@_one_instant
def extend_external_lock(session: Session, task_id: int, *, worker_id: str, new_duration: int) -> ExternalTask:
    task = _locked_by(session, task_id, worker_id)
    if new_duration <= 0:
        raise InvalidInput("newDuration must be a positive number of milliseconds")
    task.lock_expires_at = clock.now() + timedelta(milliseconds=new_duration)
    return task
