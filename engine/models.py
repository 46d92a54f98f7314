"""SQLAlchemy tables of the engine.

The workflow state of an instance is one JSON document (`process_instance.state`, without the
spec, which is rebuilt from the definition version); everything that is queried — the inbox,
timers, message subscriptions, incidents, history — lives in tables of its own and is kept in
step with the state in the same transaction.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, timezone
from typing import Optional

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, Select,
                        String, Text, UniqueConstraint, and_, cast, literal, text, true)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from . import clock

MAX_ID = 2**31 - 1  # the largest id a row has (PostgreSQL INTEGER); a larger one names nothing


def row_id(text: Optional[str]) -> Optional[int]:
    """The row id a form or URL field names, or None when it names none (not ASCII digits, or too large)."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if number <= MAX_ID else None


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = clock.aware(value).astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON}


def new_rest_id() -> str:
    """The id the REST API shows, in the form of Camunda's StrongUuidGenerator (a time-based UUID,
    version 1), with a random node per id so that several processes never make the same one."""
    return str(uuid.uuid1(node=secrets.randbits(48) | 1 << 40))


def rest_id_column() -> Mapped[str]:
    """Rows that Camunda clients name carry a UUID of their own; integer keys stay inside."""
    return mapped_column(String(36), unique=True, default=new_rest_id)


def _where(condition: str) -> dict:
    """A partial index's condition, the same on both databases."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


# --- deployments -------------------------------------------------------------------------------

class Deployment(Base):
    __tablename__ = "deployment"
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[Optional[str]] = mapped_column(String(200))
    tenant_id: Mapped[Optional[str]] = mapped_column(String(64))
    deployed_by: Mapped[Optional[str]] = mapped_column(String(100))
    deployed_at: Mapped[datetime]
    warnings: Mapped[Optional[list]] = mapped_column(JSON)  # [problem as dict]: what deploys with a warning
    resources: Mapped[list["Resource"]] = relationship(back_populates="deployment", order_by="Resource.id")


class Resource(Base):
    """A file of a deployment, kept byte for byte."""

    __tablename__ = "resource"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    deployment: Mapped[Deployment] = relationship(back_populates="resources")


class ProcessDefinition(Base):
    """One version of an executable process; `meta` holds what the engine reads per element."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[Optional[str]] = mapped_column(String(300))
    version_tag: Mapped[Optional[str]] = mapped_column(String(100))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict] = mapped_column(JSON, deferred=True)
    meta: Mapped[dict]
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    resource: Mapped[Resource] = relationship()


class DecisionDefinition(Base):
    __tablename__ = "decision_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[Optional[str]] = mapped_column(String(300))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    resource: Mapped[Resource] = relationship()


class FormDefinition(Base):
    __tablename__ = "form_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    schema: Mapped[dict]
    resource: Mapped[Resource] = relationship()


class StartSubscription(Base):
    """A message or timer start event of a definition version (instances created by the engine)."""

    __tablename__ = "start_subscription"
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # message | timer
    element_id: Mapped[str] = mapped_column(String(200))
    message_name: Mapped[Optional[str]] = mapped_column(String(200), index=True)


# --- instances ---------------------------------------------------------------------------------

class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (  # the project list reads root instances by start; a caller's calls are found by super_instance_id
        Index("ix_process_instance_root_started", "started_at", "id", **_where("super_instance_id IS NULL")),
        Index("ix_process_instance_super_instance_id", "super_instance_id", **_where("super_instance_id IS NOT NULL")),
        # the dashboard's figures: one pass over this index, no row read (engine/projects.py dashboard)
        Index("ix_process_instance_figures", "status", "process_key", "stage", "stage_done", "plan_year",
              "started_at", "approved_fen", "spent_fen", "super_instance_id", **_where("super_instance_id IS NULL")),
        Index("ix_process_instance_odd_amounts", "id", **_where("odd_amounts IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    business_key: Mapped[Optional[str]] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(Text, deferred=True)  # runtime.dump_state, no spec
    variables: Mapped[dict]
    variable_types: Mapped[dict] = mapped_column(JSON, default=dict)  # name -> Camunda type given over REST
    open_tasks: Mapped[dict] = mapped_column(JSON, default=dict)  # ready task uuid -> [user_task id, element]
    waits: Mapped[list] = mapped_column(JSON, default=list)  # [kind, task uuid, element, due or message]
    revision: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[Optional[str]] = mapped_column(String(100))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[Optional[datetime]]
    history_count: Mapped[int] = mapped_column(Integer, default=0)
    history_head: Mapped[Optional[str]] = mapped_column(String(64))
    # a called process's instance (engine/called.py): its caller, the instance whose state runs it
    # (its own `state` is empty) and the call activity's task there; None on a root instance
    super_instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))
    root_instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"), index=True)
    call_task: Mapped[Optional[str]] = mapped_column(String(36))
    # what the project list and the dashboard read of a root instance, kept by each step that
    # changes its variables or tasks (engine/project_columns.py); None on a called one
    stage: Mapped[Optional[str]] = mapped_column(String(200))  # its `stage` variable, else its open tasks'
    stage_done: Mapped[Optional[str]] = mapped_column(String(32))  # no task open: its last completed task's
    plan_year: Mapped[Optional[int]] = mapped_column(Integer)
    approved_fen: Mapped[Optional[int]] = mapped_column(BigInteger)  # approved_budget in 分
    spent_fen: Mapped[Optional[int]] = mapped_column(BigInteger)  # spend (spent_total) in 分
    odd_amounts: Mapped[Optional[bool]] = mapped_column(Boolean)  # True: an amount the fen columns do not hold
    definition: Mapped[ProcessDefinition] = relationship()


class UserTask(Base):
    """The inbox: one row per user task the engine offered, kept in step with the state."""

    __tablename__ = "user_task"
    # Every step inserts and closes a row: no index beyond what the inbox and the engine read, each
    # over the rows its queries ask for, so that a step writes few of their pages. The inbox by due
    # date and the ready tasks by process: ready rows only (a completion leaves them; `state` stays
    # in the key so that SQLite counts from the index alone). By assignee: rows that have one (an
    # unclaimed task's steps write none). An instance's tasks in one state, as projects read their
    # open and done ones. A called process's rows.
    __table_args__ = (Index("ix_user_task_instance_state", "instance_id", "state", "completed_at", "id"),
                      Index("ix_user_task_assignee_state", "assignee", "state", **_where("assignee IS NOT NULL")),
                      Index("ix_user_task_inbox_due", "state", "due_key", "created_at", "id",
                            **_where("state = 'ready'")),
                      Index("ix_user_task_state_process", "state", "process_key", **_where("state = 'ready'")),
                      Index("ix_user_task_called_instance_id", "called_instance_id",
                            **_where("called_instance_id IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_uuid: Mapped[str] = mapped_column(String(36))  # never looked up (open_tasks maps it to the row): no index
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[Optional[str]] = mapped_column(String(300))
    lane: Mapped[Optional[str]] = mapped_column(String(300))
    process_key: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[Optional[str]] = mapped_column(String(200))
    candidate_groups: Mapped[list] = mapped_column(JSON, default=list)
    candidate_users: Mapped[list] = mapped_column(JSON, default=list)
    assignee: Mapped[Optional[str]] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=50)
    form_key: Mapped[Optional[str]] = mapped_column(String(300))
    created_at: Mapped[datetime]
    due_at: Mapped[Optional[datetime]]
    due_key: Mapped[datetime]  # due_at, or NO_DUE_DATE: the inbox's order "by due date, none last" on both databases
    follow_up_at: Mapped[Optional[datetime]]
    state: Mapped[str] = mapped_column(String(16))  # ready | completed | cancelled
    completed_by: Mapped[Optional[str]] = mapped_column(String(100))
    completed_at: Mapped[Optional[datetime]]
    called_instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))  # a called process's task
    # Its description when not its element's documentation as the diagram writes it (an expression
    # evaluated, a create listener's): the static text is read from the definition, not copied per row.
    description: Mapped[Optional[str]] = mapped_column(Text)
    candidates: Mapped[list["TaskCandidate"]] = relationship(cascade="all, delete-orphan")


NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=timezone.utc)


class TaskCandidate(Base):
    """Who may claim a task: one row per candidate group or user. It is also the inbox row of that
    group or user: whether the task is open (ready) and claimed, and its order keys, copied from the
    task, so a bureau's inbox page and count read one index range in order."""

    __tablename__ = "task_candidate"
    # Keyed by task (on SQLite the table is that key's b-tree: a task's rows are found, and a new
    # task's appended, without an index of their own). By created: the REST inbox, and every row a
    # group or user was offered (Camunda's historic `taskHadCandidateGroup`). By due: the web inbox,
    # only ready rows (a completion leaves it).
    __table_args__ = (Index("ix_task_candidate_inbox_created", "kind", "value", "ready", "claimed", "created_at",
                            "task_id"),
                      Index("ix_task_candidate_inbox_due", "kind", "value", "ready", "claimed", "due_key",
                            "created_at", "task_id", sqlite_where=text("ready = 1"), postgresql_where=text("ready")),
                      {"sqlite_with_rowid": False})
    task_id: Mapped[int] = mapped_column(ForeignKey("user_task.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # group | user
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    ready: Mapped[bool] = mapped_column(Boolean, default=True)  # the task's state is ready
    claimed: Mapped[bool] = mapped_column(Boolean, default=False)  # the task has an assignee
    created_at: Mapped[datetime]
    due_key: Mapped[datetime]


class InboxCount(Base):
    """How many ready tasks a candidate group's inbox holds, without a row that every completion
    of the group updates (on PostgreSQL such a row would queue the group's completions behind one
    another): each transaction that opens, closes, claims or gives back tasks inserts one row of
    changes per group it touched; a count sums its group's rows (one index range), and now and
    then a committing writer folds a group's rows into one (`inbox.fold_counts`)."""

    __tablename__ = "inbox_count"
    __table_args__ = (Index("ix_inbox_count_group", "candidate_group", "ready", "unclaimed"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_group: Mapped[str] = mapped_column(String(200))
    ready: Mapped[int] = mapped_column(Integer)  # change in the group's ready tasks
    unclaimed: Mapped[int] = mapped_column(Integer)  # change in those of them without an assignee


class TaskDraft(Base):
    __tablename__ = "task_draft"
    __table_args__ = (UniqueConstraint("task_id", "user_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("user_task.id"), index=True)
    user_name: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict]
    updated_at: Mapped[datetime]


class TaskComment(Base):
    __tablename__ = "task_comment"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("user_task.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    user_name: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Notice(Base):
    """An in-app notice to one official: a reminder (催办) about a task."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_user_unread", "user_name", "read_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[int] = mapped_column(ForeignKey("user_task.id"))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    read_at: Mapped[Optional[datetime]]


class Timer(Base):
    """A waiting timer of an instance's task, a timer start event (instance_id empty), or a job:
    an asynchronous continuation (kind 'job'), due at once, that the scheduler runs."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "state", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"), index=True)
    definition_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_definition.id"))
    task_uuid: Mapped[Optional[str]] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8), default="timer")  # timer | job
    phase: Mapped[Optional[str]] = mapped_column(String(8))  # a job's: before | after
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # waiting | fired | cancelled
    fired_at: Mapped[Optional[datetime]]
    fire_count: Mapped[int] = mapped_column(Integer, default=0)
    called_instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))  # in a called process
    # A timer start event's due date set by hand (PUT /job/{id}/duedate): the occurrence it stands for
    # while it differs from due_at, and the shift of the following ones (Camunda's repeat offset).
    occurrence_at: Mapped[Optional[datetime]]
    offset_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class MessageSubscription(Base):
    """An instance waiting for a message or a signal: the index that correlation reads."""

    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_message_subscription_lookup", "kind", "message_name", "business_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    kind: Mapped[str] = mapped_column(String(8), default="message")  # message | signal
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_uuid: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    message_name: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[Optional[str]] = mapped_column(String(200))
    called_instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))  # in a called process


class Incident(Base):
    """Engine work that failed, kept until it is run again. In a called process it is, as in Camunda,
    a root cause at the called instance whose element failed, and a cause row at the call activity of
    each caller above it (resolved with its root cause)."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)  # whose state runs it
    at_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)  # where it shows
    cause_id: Mapped[Optional[int]] = mapped_column(ForeignKey("incident.id"))  # one call level down; None: a root cause
    root_cause_id: Mapped[Optional[int]] = mapped_column(ForeignKey("incident.id"), index=True)
    element_id: Mapped[Optional[str]] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # timer | message | external-task | ...
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict]
    created_at: Mapped[datetime]
    resolved_at: Mapped[Optional[datetime]]
    resolved_by: Mapped[Optional[str]] = mapped_column(String(100))


class ExternalTask(Base):
    """A service task with camunda:type="external": workers fetch, lock and complete it."""

    __tablename__ = "external_task"
    __table_args__ = (Index("ix_external_task_fetch", "state", "topic"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rest_id: Mapped[str] = rest_id_column()
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    element_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # open | completed | failed | cancelled
    worker_id: Mapped[Optional[str]] = mapped_column(String(200))
    lock_expires_at: Mapped[Optional[datetime]]
    retries: Mapped[Optional[int]]
    error_message: Mapped[Optional[str]] = mapped_column(Text)
    error_details: Mapped[Optional[str]] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    variables: Mapped[Optional[dict]] = mapped_column(JSON)  # those only its scope sees (a multi-instance item)
    called_instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))  # a called process's task


class Document(Base):
    """An uploaded attachment, stored whole in the database (shared by every server process)."""

    __tablename__ = "document"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_task.id"), index=True)
    field: Mapped[Optional[str]] = mapped_column(String(200))  # the form field / required material
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime]
    removed_by: Mapped[Optional[str]] = mapped_column(String(100))  # taken off its task before completion
    removed_at: Mapped[Optional[datetime]]


# --- history -----------------------------------------------------------------------------------

STEP_EVENTS = ("chain_heads", "task_completed", "task_created")  # the events of every step (history.py)
_OTHER_EVENTS = f"type NOT IN ({', '.join(repr(t) for t in STEP_EVENTS)})"


class HistoryEvent(Base):
    """Append-only. Each row is chained to the previous row of its chain by an HMAC."""

    __tablename__ = "history_event"
    # Every step appends its events and the system chain's `chain_heads`: the indexes leave out what
    # their queries never ask for, so a step writes no leaf of them for it. By instance: its chain
    # (`of_instances`). By actor: only rows that have one (not the system chain's). By type: not the
    # step's own events, half of all rows (read along `at` or the instance's chain; a query of other
    # types names the condition, `of_types`, as SQLite uses a partial index only for a query that
    # states its condition), then by instance (whether an instance's event has a type: one probe).
    __table_args__ = (UniqueConstraint("chain", "seq"),
                      Index("ix_history_event_actor", "actor", **_where("actor IS NOT NULL")),
                      Index("ix_history_event_type", "type", "instance_id", **_where(_OTHER_EVENTS)))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain: Mapped[str] = mapped_column(String(64))  # 'instance:<id>' or 'system'
    seq: Mapped[int]
    instance_id: Mapped[Optional[int]] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[Optional[str]] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[Optional[str]] = mapped_column(String(200))
    occurrence: Mapped[Optional[int]]
    body: Mapped[str] = mapped_column(Text)  # canonical JSON of the event: what the HMAC covers
    state_digest: Mapped[Optional[str]] = mapped_column(String(64))
    prev_hmac: Mapped[Optional[str]] = mapped_column(String(64))
    hmac: Mapped[str] = mapped_column(String(64))

    @classmethod
    def of_instances(cls, ids):
        """Events of these instances (ids, or a select of ids): their chains, by the (chain, seq) index."""
        if isinstance(ids, Select):
            return cls.chain.in_(ids.with_only_columns(literal("instance:") + cast(ids.selected_columns[0], String)))
        return cls.chain.in_([f"instance:{iid}" for iid in ids])

    @classmethod
    def of_types(cls, types):
        """Events of these types: by the type index where none of them is a step's event."""
        types = sorted(types)
        if set(types) & set(STEP_EVENTS):
            return cls.type.in_(types)
        return and_(cls.type.in_(types), cls.of_other_types())

    @classmethod
    def of_other_types(cls):
        """Events other than a step's own: the type index's condition."""
        return text(f"{cls.__tablename__}.{_OTHER_EVENTS}")


class HistoryChain(Base):
    """Head of a chain that belongs to no instance (deployments, user administration)."""

    __tablename__ = "history_chain"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    head: Mapped[Optional[str]] = mapped_column(String(64))


# --- users -------------------------------------------------------------------------------------

class Bureau(Base):
    __tablename__ = "bureau"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[Optional[str]] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The profile as Camunda 7 keeps it (ACT_ID_USER's FIRST_, LAST_, EMAIL_: 255 characters each).
    first_name: Mapped[Optional[str]] = mapped_column(String(255))
    last_name: Mapped[Optional[str]] = mapped_column(String(255))
    email: Mapped[Optional[str]] = mapped_column(String(255))
    # What the pages show: derived from the two names by engine/users.py (display_name_of), never
    # set apart from them; kept as a column because every request reads it with the session.
    display_name: Mapped[Optional[str]] = mapped_column(String(511))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # Raised by logout, a password change and deactivation: every login session (and cached
    # credential check) made under an older number ends at its next request.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    substitute: Mapped[Optional[str]] = mapped_column(String(100))  # 委托: who works on their tasks while away
    away_until: Mapped[Optional[date]]  # the last day away (the substitute acts until then)
    bureaus: Mapped[list["UserBureau"]] = relationship(cascade="all, delete-orphan")
    roles: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan")

    @property
    def groups(self) -> list[str]:
        return [b.bureau_id for b in self.bureaus]

    @property
    def role_names(self) -> list[str]:
        return [r.role for r in self.roles]


class UserBureau(Base):
    __tablename__ = "user_bureau"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    bureau_id: Mapped[str] = mapped_column(ForeignKey("bureau.id"), primary_key=True)


class ApiToken(Base):
    """A bearer token for the REST API, stored as a hash; an admin issues and revokes it."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[Optional[str]] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[Optional[datetime]]
    revoked_at: Mapped[Optional[datetime]]


class UserRole(Base):
    __tablename__ = "user_role"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
