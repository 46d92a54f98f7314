"""What auditors read: an instance's timeline, its diagram as it was after any event, proof that
nothing was altered, search and export across instances, and the access log of their own reads.

The diagram at an event comes from re-executing the instance up to that event (engine/replay.py),
never from a stored snapshot; the picture is drawn by engine/rendering.py from the BPMNDI of the
definition version the instance ran on at that moment (the `versions` its events carry, so a
migration changes the picture from its event on). Functions take a session; the caller commits.
Nothing here changes an instance: auditors' reads are recorded in the chain 'access' only.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable, Iterable, Optional

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock, history, inbox, replay, runtime
from .called import called_definition
from .errors import EngineError, InvalidInput, NotFound
from .models import (STEP_EVENTS, Bureau, Document, HistoryEvent, ProcessDefinition, ProcessInstance,
                     Timer, User, UserBureau)
from .rendering import Highlight
from .specs import called_version, process_key
from .xmlsafe import parse_xml

ACCESS_CHAIN = "access"
_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING
# Event data that carries what a person or system put into the process (before -> after).
_INPUT_KEYS = {"instance_started": "variables", "task_completed": "values", "variables_changed": "variables",
               "message_correlated": "variables", "signal_received": "variables",
               "external_task_completed": "variables", "external_task_bpmn_error": "variables"}


# --- the diagram files -------------------------------------------------------------------------

@dataclass(frozen=True)
class DiagramFile:
    """A deployed BPMN file as the audit pages read it: names and sequence flows by element."""

    resource_id: int
    name: str
    content: bytes
    names: dict  # element id -> name
    flows: dict  # (source id, target id) -> [flow ids]
    called: dict  # call activity id -> called process id


_files: dict[tuple[int, str], DiagramFile] = {}  # by resource id and content (ids restart in emptied test databases)
_PLACEHOLDER = re.compile(r"[$#]\{[^}]*\}")


def diagram_file(definition: ProcessDefinition) -> DiagramFile:
    """The file of a definition version, read once per process."""
    resource = definition.resource
    cached = _files.get((resource.id, resource.sha256))
    if cached is None:
        root = parse_xml(resource.content, resource.name).getroot()
        names, flows, called = {}, {}, {}
        for el in root.iter(f"{_BPMN}*"):
            el_id = el.get("id")
            if not el_id:
                continue
            if el.get("name"):  # a name computed per instance (`提交${stage_name}`) shows its fixed part
                names[el_id] = _PLACEHOLDER.sub("…", " ".join(el.get("name").split()))
            local = etree.QName(el).localname
            if local == "sequenceFlow":
                flows.setdefault((el.get("sourceRef"), el.get("targetRef")), []).append(el_id)
            elif local == "callActivity" and el.get("calledElement"):
                called[el_id] = el.get("calledElement")
        cached = _files[(resource.id, resource.sha256)] = DiagramFile(resource.id, resource.name, resource.content, names, flows, called)
    return cached


def called_elements(definition: ProcessDefinition) -> dict[str, str]:
    """{call activity id: the process it calls} of a definition's diagram."""
    return diagram_file(definition).called


def definition_at(session: Session, instance: ProcessInstance, events: list[dict], seq: int) -> ProcessDefinition:
    """The definition version the instance ran on right after event `seq` (migrations included)."""
    named = None
    for event in events:
        if event["seq"] > seq:
            break
        if (event.get("versions") or {}).get("process"):
            named = event["versions"]["process"]
    if named:
        key, _, version = named.rpartition(":")
        found = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                                ProcessDefinition.version == int(version))).first()
        if found is None:
            raise NotFound(f"definition {named} named by event {seq} of instance {instance.id} does not exist")
        return found
    return session.get(ProcessDefinition, instance.definition_id)


def element_names(session: Session, definition: ProcessDefinition) -> dict:
    """Names of the elements of a definition and of the processes its call activities call."""
    file = diagram_file(definition)
    names = {}
    for process_id in set(file.called.values()):
        try:
            names.update(diagram_file(called_definition(session, definition, process_id)).names)
        except NotFound:
            continue
    names.update(file.names)
    return names


# --- highlights --------------------------------------------------------------------------------

Note = Callable[[str, object], str]


def default_note(kind: str, value) -> str:
    """The waiting note of an element (the web pages pass a translated one)."""
    if kind == "timer":
        return clock.aware(value).astimezone(clock.local_zone()).strftime("%Y-%m-%d %H:%M")
    return str(value)


@dataclass
class Wait:
    """What an element waits for at a step: a timer and its due time, a message or a signal."""

    element_id: str
    kind: str  # timer | message | signal
    value: object  # due time (aware) or the message / signal name


def _own_subprocesses(top, workflow) -> list:
    """The sub-workflows whose parent task belongs to `workflow` (not to one of its subs)."""
    return [sp for sp_id, sp in top.subprocesses.items() if sp_id in workflow.tasks and sp is not workflow]


def highlight_of(top, workflow, flows: dict, *, note: Note = default_note,
                 failed: Iterable[str] = ()) -> tuple[Highlight, list[Wait]]:
    """The state of one diagram at a replay step: completed elements, taken flows, active tokens,
    waiting timers and messages with their notes, failed elements.

    `top` is the replayed workflow, `workflow` the one drawn (the top one, or the sub-workflow of
    a call activity); embedded sub-processes are drawn in their parent's diagram, so their tasks
    count there. A flow is taken when its source finished and its target was reached (a parallel
    join's merged branches are cancelled copies of the join: they count as reached).
    """
    hl, waits = Highlight(), []
    pending = [workflow]
    while pending:
        current = pending.pop()
        for sub in _own_subprocesses(top, current):
            owner = current.tasks[sub.parent_task_id] if hasattr(sub, "parent_task_id") else None
            if owner is None or not isinstance(owner.task_spec, CallActivity):
                pending.append(sub)
        for task in current.tasks.values():
            spec = task.task_spec
            element = getattr(spec, "bpmn_id", None)
            if element is None:
                continue
            state = task.state
            if state == TaskState.COMPLETED:
                hl.completed.add(element)
            elif state == TaskState.ERROR:
                hl.failed.add(element)
            elif state & _ACTIVE:
                if not (isinstance(spec, BoundaryEvent) and state == TaskState.WAITING):
                    hl.active.add(element)
                wait = _wait_of(task, element) if state == TaskState.WAITING else None
                if wait is not None:
                    waits.append(wait)
                    hl.waiting[element] = note(wait.kind, wait.value)
            flow = runtime.flow_in(task)
            if flow is not None:
                hl.taken_flows.update(flows.get(flow, ()))
    summary = runtime.compacted(top)  # finished steps compaction dropped from the tree
    hl.completed.update(summary["completed"].get(workflow.spec.name, ()))
    for source, element in summary["flows"].get(workflow.spec.name, []) + summary["merged"].get(workflow.spec.name, []):
        hl.taken_flows.update(flows.get((source, element), ()))
    hl.failed.update(failed)
    hl.active -= hl.failed
    return hl, sorted(waits, key=lambda w: (w.element_id, w.kind))


def _wait_of(task, element: str) -> Optional[Wait]:
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        due = runtime.timer_due(task, definition)
        return Wait(element, "timer", due) if due is not None else None
    if isinstance(definition, MessageEventDefinition):
        return Wait(element, "message", definition.name)
    if isinstance(definition, SignalEventDefinition):
        return Wait(element, "signal", definition.name)
    return None


def failed_elements(events: list[dict], seq: int) -> set[str]:
    """Elements with an incident open right after event `seq` (a retry resolves it)."""
    open_incidents: dict = {}
    for event in events:
        if event["seq"] > seq:
            break
        data = event.get("data") or {}
        if event["type"] == "incident":
            open_incidents[data.get("incident")] = event.get("element_id")
        if data.get("retry_of_incident") is not None:
            open_incidents.pop(data["retry_of_incident"], None)
    return {element for element in open_incidents.values() if element}


def data_at(workflow) -> dict:
    """The process data as an official saw it: the workflow's data, the last finished task's, the
    open tasks' (names starting with _ are the engine's own)."""
    data = dict(workflow.data)
    if workflow.last_task is not None:
        data.update(workflow.last_task.data)
    for task in workflow.get_tasks(state=TaskState.READY):
        data.update(task.data)
    return {k: v for k, v in runtime.plain(data).items() if not k.startswith("_")}


# --- a step of the replay ----------------------------------------------------------------------

@dataclass
class CallActivityLink:
    element_id: str
    name: str
    state: str  # completed | active


@dataclass
class Step:
    """One instance as it was right after one event: what the history page shows."""

    instance: ProcessInstance
    seq: int  # the event asked for
    shown_seq: int  # the event whose state is shown (earlier when the replay stopped before `seq`)
    event: dict
    definition: ProcessDefinition  # the version drawn (the called process's for a call activity)
    process_id: str
    file: DiagramFile
    highlight: Highlight
    waits: list[Wait]
    variables: dict
    call_activities: list[CallActivityLink]
    path: list[str]  # call activities opened, outermost first
    path_names: list[str] = field(default_factory=list)  # their names in the diagrams that hold them
    problem: Optional[str] = None  # the replay diverged before the event asked for


def step_at(session: Session, instance_id: int, seq: Optional[int] = None, *, path: Iterable[str] = (),
            note: Note = default_note) -> Step:
    """Re-execute an instance up to event `seq` (default: its last) and read its state there.

    `path` opens call activities by element id, outermost first; when one ran several times, the
    latest run at that moment is shown.
    """
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    events = history.events_of(session, instance_id)
    if not events:
        raise NotFound(f"process instance {instance_id} has no history")
    last = events[-1]["seq"]
    seq = last if seq is None else seq
    if not 1 <= seq <= last:
        raise NotFound(f"process instance {instance_id} has no event {seq} (it has events 1 to {last})")
    problem = None
    try:
        report = replay.replay(session, instance_id, keep_steps=True, until_seq=seq)
    except EngineError as exc:
        report, problem = None, f"re-execution failed: {exc}"
    if report is not None and not report.ok:
        problem = str(report)
    steps = report.steps if report is not None else []
    if not steps:
        raise EngineError(problem or f"instance {instance_id} cannot be re-executed up to event {seq}")
    chosen = steps[-1]
    event = next(e for e in events if e["seq"] == seq)
    definition = definition_at(session, instance, events, chosen.seq)
    top = workflow = chosen.workflow
    opened, opened_names = [], []
    for element in path:
        sub = _called_run(top, workflow, element)
        if sub is None:
            raise NotFound(f"call activity '{element}' has not run in instance {instance_id} by event {seq}")
        caller = diagram_file(definition)
        version = called_version(sub.spec.name)  # the version the call ran, resolved when it started
        definition = session.get(ProcessDefinition, version) if version is not None else \
            called_definition(session, definition, caller.called.get(element) or sub.spec.name)
        workflow = sub
        opened.append(element)
        opened_names.append(caller.names.get(element, element))
    file = diagram_file(definition)
    highlight, waits = highlight_of(top, workflow, file.flows, note=note,
                                    failed=failed_elements(events, chosen.seq) if not opened else ())
    links = []
    for element, called in file.called.items():
        state = "active" if element in highlight.active else "completed" if element in highlight.completed else None
        if state:
            links.append(CallActivityLink(element, file.names.get(element, element), state))
    return Step(instance, seq, chosen.seq, event, definition, process_key(workflow.spec.name), file, highlight, waits,
                data_at(workflow), links, opened, opened_names, problem)


def _called_run(top, workflow, element: str):
    runs = [sp for sp in _own_subprocesses(top, workflow)
            if getattr(workflow.tasks[sp.parent_task_id].task_spec, "bpmn_id", None) == element
            and isinstance(workflow.tasks[sp.parent_task_id].task_spec, CallActivity)]
    if not runs:
        return None
    return max(runs, key=lambda sp: workflow.tasks[sp.parent_task_id].last_state_change)


# --- the timeline ------------------------------------------------------------------------------

@dataclass
class Change:
    name: str
    before: object
    after: object


@dataclass
class Entry:
    """One event of an instance as the timeline lists it."""

    seq: int
    at: datetime  # aware
    actor: Optional[str]
    type: str
    element_id: Optional[str]
    data: dict
    changes: list[Change]
    hmac: Optional[str] = None


def inputs_of(event: dict) -> dict:
    """The variables an event put into the process (form values, message variables, ...)."""
    key = _INPUT_KEYS.get(event["type"])
    value = (event.get("data") or {}).get(key) if key else None
    return value if isinstance(value, dict) else {}


def timeline(events: list[dict]) -> list[Entry]:
    """Events with what each changed: the inputs (before -> after as the history knew them), the
    status, the assignee."""
    known: dict = {}
    entries = []
    for event in events:
        data = event.get("data") or {}
        changes = []
        for name, value in inputs_of(event).items():
            before = known.get(name)
            if name not in known or before != value:
                changes.append(Change(name, before, value))
            known[name] = value
        if event["type"] == "status_changed":
            changes.append(Change("status", data.get("from"), data.get("to")))
        elif event["type"] == "task_claimed":
            changes.append(Change("assignee", None, data.get("assignee")))
        elif event["type"] == "task_unclaimed":
            changes.append(Change("assignee", data.get("previous"), None))
        elif event["type"] == "task_assigned":
            changes.append(Change("assignee", data.get("from"), data.get("to")))
        entries.append(Entry(event["seq"], clock.aware(datetime.fromisoformat(event["at"])), event.get("actor"),
                             event["type"], event.get("element_id"), data, changes))
    return entries


def actor_bureaus(session: Session, actors: Iterable[Optional[str]]) -> dict[str, list[str]]:
    """The bureaus (group ids) each named user belongs to now."""
    names = sorted({a for a in actors if a})
    out: dict[str, list[str]] = {name: [] for name in names}
    if names:
        for name, bureau in session.execute(select(User.name, UserBureau.bureau_id)
                                            .join(UserBureau, UserBureau.user_id == User.id)
                                            .where(User.name.in_(names)).order_by(UserBureau.bureau_id)):
            out[name].append(bureau)
    return out


# --- proof -------------------------------------------------------------------------------------

@dataclass
class Verification:
    """The result of checking one instance: its chain, then its re-execution."""

    instance_id: int
    business_key: Optional[str]
    ok: bool
    events: int
    problem: Optional[str] = None
    seq: Optional[int] = None
    stage: str = "ok"  # ok | chain | replay | state | error

    def __str__(self) -> str:
        name = f"instance {self.instance_id}" + (f" ({self.business_key})" if self.business_key else "")
        if self.ok:
            return f"{name}: OK ({self.events} events: chain intact, re-execution matches every recorded state)"
        verdict = {"chain": "BROKEN", "replay": "DIVERGES", "state": "STATE ALTERED",
                   "error": "CANNOT BE VERIFIED"}[self.stage]
        where = f" at event {self.seq}" if self.seq is not None else ""
        return f"{name}: {verdict}{where}: {self.problem}"


def verify_instance(session: Session, instance_id: int, *, heads: bool = True) -> Verification:
    """Check the chain (HMAC, sequence, head), then re-execute from the definition versions and
    recorded inputs and compare the state digest after every event, then the stored state; then
    (`heads`) the chain's head against the last one the system chain recorded for it, so that a
    chain cut at its end is named here too (`verify --all` compares every head at once instead).
    Run it in a snapshot (`Database.read(snapshot=True)`): the chain, the instance and the system
    chain as one moment saw them."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    key = instance.business_key
    try:
        chain, report = replay.verify(session, instance_id)
    except EngineError as exc:
        return Verification(instance_id, key, False, instance.history_count, f"re-execution failed: {exc}",
                            None, "replay")
    except Exception as exc:  # noqa: BLE001 - a record the engine cannot even read is reported, not fatal
        return unverifiable(instance_id, key, exc)
    if not chain.ok:
        seq = chain.seq
        if chain.events > instance.history_count and chain.seq == chain.events + 1:
            seq = instance.history_count + 1  # rows added past the head: the first of them
        return Verification(instance_id, key, False, chain.events, chain.problem, seq, "chain")
    if not report.ok:
        if report.seq is None:
            problem = (_stored_state_difference(session, instance)
                       if report.problem.startswith("the stored instance state") else report.problem)
            return Verification(instance_id, key, False, report.events, problem, None, "state")
        seq, problem = _input_of_transaction(history.events_of(session, instance_id), report)
        return Verification(instance_id, key, False, report.events, problem, seq, "replay")
    if heads:
        root = instance if instance.root_instance_id is None else session.get(ProcessInstance,
                                                                              instance.root_instance_id)
        recorded = history.verify_recorded_head(session, root)
        if not recorded.ok:
            return Verification(instance_id, key, False, chain.events, recorded.problem, None, "chain")
    return Verification(instance_id, key, True, report.events)


def unverifiable(instance_id: int, business_key: Optional[str], exc: BaseException) -> Verification:
    """An instance whose record could not even be read or re-executed: a failure of the proof."""
    text = str(exc)
    return Verification(instance_id, business_key, False, 0,
                        f"{type(exc).__name__}: {text[:300] + '…' if len(text) > 300 else text}", None, "error")


def _input_of_transaction(events: list[dict], report) -> tuple[int, str]:
    """A digest is compared where its transaction ends: name the input event that began it."""
    if "differs from the recorded state" not in (report.problem or ""):
        return report.seq, report.problem
    index = next(i for i, e in enumerate(events) if e["seq"] == report.seq)
    group = (events[index].get("digest"), events[index]["at"])
    first = index
    while first > 0 and (events[first - 1].get("digest"), events[first - 1]["at"]) == group:
        first -= 1
    inputs = [e for e in events[first:index + 1] if e["type"] not in replay._DERIVED]
    if not inputs:
        return report.seq, report.problem
    event = inputs[0]
    where = f" at '{event['element_id']}'" if event.get("element_id") else ""
    checked = f" (compared at event {report.seq}, the end of its transaction)" if event["seq"] != report.seq else ""
    return event["seq"], f"state after '{event['type']}'{where} differs from the recorded state{checked}"


def _stored_state_difference(session: Session, instance: ProcessInstance) -> str:
    """Name what differs between the stored state and the state the history produces."""
    from . import instances

    base = "the stored instance state is not what its history produces (edited outside the engine)"
    try:
        produced = replay.replay(session, instance.id, keep_steps=True, until_seq=instance.history_count)
        stored = instances.stored_workflow(session, instance)
    except Exception:  # noqa: BLE001 - a state too damaged to load is itself the answer
        return base + "; the stored state cannot even be read"
    if not produced.steps:
        return base
    mine, theirs = _all_data(produced.steps[-1].workflow), _all_data(stored)
    names = sorted(k for k in set(mine) | set(theirs) if mine.get(k, _MISSING) != theirs.get(k, _MISSING))
    if names:
        shown = ", ".join(f"'{n}' ({_short(theirs.get(n))} stored, {_short(mine.get(n))} from the history)"
                          for n in names[:5])
        return f"{base}: process data {shown}"
    return base + ": the task tree differs"


_MISSING = object()


def _all_data(workflow) -> dict:
    """The visible data, then what the unfinished tasks hold besides."""
    data = data_at(workflow)
    for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
        for k, v in runtime.plain(task.data).items():
            if not k.startswith("_"):
                data.setdefault(k, v)
    return data


def _short(value) -> str:
    if value is _MISSING or value is None:
        return "none"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


# --- search ------------------------------------------------------------------------------------

@dataclass
class AuditQuery:
    """Filters of the audit search across instances (all optional)."""

    user: Optional[str] = None
    bureau: Optional[str] = None
    project: Optional[str] = None  # business key, project name, or instance id
    element: Optional[str] = None
    event_type: Optional[str] = None
    date_from: Optional[date] = None
    date_to: Optional[date] = None
    instance_id: Optional[int] = None
    limit: int = 200
    offset: int = 0

    @property
    def is_empty(self) -> bool:
        return not any((self.user, self.bureau, self.project, self.element, self.event_type, self.date_from,
                        self.date_to, self.instance_id))

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()
                if v not in (None, "") and k not in ("limit", "offset")}


_FIRST_DAY = date(1, 1, 1)


def parse_query(args) -> AuditQuery:
    """An AuditQuery from request arguments; a bad date or number names the field."""
    def text(name):
        value = (args.get(name) or "").strip()
        return value or None

    def day(name):
        value = text(name)
        if value is None:
            return None
        try:
            found = date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name}: '{value}' is not a date (write YYYY-MM-DD)") from None
        if not _FIRST_DAY < found < date.max:  # a day's bounds in UTC and the day after must exist
            raise InvalidInput(f"{name}: {found} is out of range")
        return found

    def number(name, default=None, low=0, high=None):
        value = text(name)
        if value is None:
            return default
        try:
            result = int(value)
        except ValueError:
            raise InvalidInput(f"{name}: '{value}' is not a whole number") from None
        if result < low or (high is not None and result > high):
            raise InvalidInput(f"{name}: {result} is out of range")
        return result

    query = AuditQuery(user=text("user"), bureau=text("bureau"), project=text("project"), element=text("element"),
                       event_type=text("type"), date_from=day("from"), date_to=day("to"),
                       instance_id=number("instance", low=1), offset=number("offset", 0))
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise InvalidInput(f"from: {query.date_from} is after to: {query.date_to}")
    return query


@dataclass
class Found:
    """One event found by the audit search, with its instance."""

    instance_id: int
    business_key: Optional[str]
    process_key: str
    project_name: Optional[str]
    seq: int
    at: datetime
    actor: Optional[str]
    type: str
    element_id: Optional[str]
    data: dict
    hmac: str


def _local_midnight(day: date) -> datetime:
    return clock.aware(datetime.combine(day, time.min))


def search(session: Session, query: AuditQuery, *, limit: Optional[int] = None) -> tuple[list[Found], int]:
    """Events of every instance matching the query, oldest first; and how many match in all."""
    statement = (select(HistoryEvent, ProcessInstance.business_key, ProcessInstance.process_key,
                        ProcessInstance.variables)
                 .join(ProcessInstance, ProcessInstance.id == HistoryEvent.instance_id)
                 .where(HistoryEvent.chain.like("instance:%")))
    if query.user:
        statement = statement.where(HistoryEvent.actor == query.user)
    if query.bureau:
        members = select(User.name).join(UserBureau, UserBureau.user_id == User.id).where(
            UserBureau.bureau_id == query.bureau)
        statement = statement.where(HistoryEvent.actor.in_(members))
    if query.element:
        statement = statement.where(HistoryEvent.element_id == query.element)
    if query.event_type:
        statement = statement.where(HistoryEvent.of_types([query.event_type]))
    if query.date_from:
        statement = statement.where(HistoryEvent.at >= _local_midnight(query.date_from))
    if query.date_to:
        statement = statement.where(HistoryEvent.at < _local_midnight(query.date_to + timedelta(days=1)))
    if query.instance_id:
        statement = statement.where(HistoryEvent.of_instances([query.instance_id]))
    if query.project:
        statement = statement.where(HistoryEvent.of_instances(_projects_matching(session, query.project)))
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    statement = statement.order_by(HistoryEvent.at, HistoryEvent.instance_id, HistoryEvent.seq)
    rows = session.execute(statement.limit(limit or query.limit).offset(query.offset))
    found = []
    for event, business_key, process_key, variables, in rows:
        body = json.loads(event.body)
        found.append(Found(event.instance_id, business_key, process_key, (variables or {}).get("project_name"),
                           event.seq, event.at, event.actor, event.type, event.element_id, body.get("data") or {},
                           event.hmac))
    return found, total


def _projects_matching(session: Session, text: str) -> list[int]:
    """Instances whose id, business key or project name contains the text."""
    needle = text.strip().lower()
    ids = []
    for instance_id, business_key, variables in session.execute(
            select(ProcessInstance.id, ProcessInstance.business_key, ProcessInstance.variables)):
        name = str((variables or {}).get("project_name") or "")
        if needle == str(instance_id) or needle in (business_key or "").lower() or needle in name.lower():
            ids.append(instance_id)
    return ids


def event_types(session: Session) -> list[str]:
    """The types the instances' events have, for the search form, without reading every event: a
    step's own, and each other type of the type index (found one after the other) that an
    instance's event has (one probe of the index each)."""
    found = [kind for kind in STEP_EVENTS if kind != history.HEADS_EVENT]
    kind = ""
    while (kind := session.scalar(select(func.min(HistoryEvent.type)).where(
            HistoryEvent.of_other_types(), HistoryEvent.type > kind))) is not None:
        if session.scalar(select(HistoryEvent.id).where(HistoryEvent.of_types([kind]),
                                                         HistoryEvent.instance_id.is_not(None)).limit(1)) is not None:
            found.append(kind)
    return sorted(found)


# --- exports -----------------------------------------------------------------------------------

EXPORT_COLUMNS = ("instance_id", "business_key", "process", "project_name", "seq", "at", "actor",
                  "actor_bureaus", "type", "element_id", "element_name", "data", "hmac")


def export_rows(found: list[Found], bureaus: dict, names: Callable[[Found], Optional[str]]) -> list[dict]:
    """Events as flat records for CSV and JSON (times in the local zone)."""
    return [{"instance_id": f.instance_id, "business_key": f.business_key, "process": f.process_key,
             "project_name": f.project_name, "seq": f.seq,
             "at": clock.aware(f.at).astimezone(clock.local_zone()).isoformat(), "actor": f.actor,
             "actor_bureaus": bureaus.get(f.actor, []) if f.actor else [], "type": f.type,
             "element_id": f.element_id, "element_name": names(f), "data": f.data, "hmac": f.hmac}
            for f in found]


def to_csv(records: list[dict]) -> str:
    """CSV with a byte-order mark (spreadsheets then read the Chinese text right)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for record in records:
        writer.writerow([_cell(record[c]) for c in EXPORT_COLUMNS])
    return "\ufeff" + out.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ";".join(value)
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no formulas in a spreadsheet


def to_json(records: list[dict], context: dict) -> str:
    return json.dumps({**context, "events": records}, ensure_ascii=False, indent=2, default=str)


def instance_found(session: Session, instance: ProcessInstance) -> list[Found]:
    """Every event of one instance as search results (for its exports)."""
    return search(session, AuditQuery(instance_id=instance.id), limit=max(instance.history_count, 1) + 1000)[0]


def documents_of(session: Session, instance_id: int) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.instance_id == instance_id)
                                .order_by(Document.uploaded_at, Document.id)))


def bureau_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Bureau.id, Bureau.name_zh)))


# --- the access log ----------------------------------------------------------------------------

def record_access(session: Session, user: str, action: str, **details) -> None:
    """Write an auditor's read or export to the chain 'access' (never to an instance's chain)."""
    history.record_chain(session, ACCESS_CHAIN, history.Event(
        "audit_access", actor=user, data={"action": action, **runtime.plain(details)}))


def access_log(session: Session, limit: int = 200) -> list[dict]:
    """The latest entries of the access log, newest first."""
    rows = session.scalars(select(HistoryEvent).where(HistoryEvent.chain == ACCESS_CHAIN)
                           .order_by(HistoryEvent.seq.desc()).limit(limit))
    return [json.loads(row.body) for row in rows]


def check_creations(session: Session) -> history.ChainReport:
    """Every instance the system chain says was created still exists, and every instance that
    exists was created through the engine (the chain itself is checked by verify_system_chain)."""
    created = {}
    for row in session.scalars(select(HistoryEvent).where(HistoryEvent.chain == history.SYSTEM_CHAIN,
                                                          HistoryEvent.of_types(["instance_created"]))):
        created[json.loads(row.body)["data"]["instance"]] = row.seq
    existing = set(session.scalars(select(ProcessInstance.id)))
    gone = sorted(set(created) - existing)
    if gone:
        return history.ChainReport("instances", False, len(created), f"instance {gone[0]} was created (system "
                                   f"event {created[gone[0]]}) and is gone ({len(gone)} missing)", created[gone[0]])
    unknown = sorted(existing - set(created))
    if unknown:
        return history.ChainReport("instances", False, len(created), f"instance {unknown[0]} has no creation event "
                                   f"in the system chain ({len(unknown)} such)")
    return history.ChainReport("instances", True, len(created))


@dataclass
class InboxCounts:
    """The groups' task counts (`inbox.open_count`) against the candidate rows they count."""

    groups: int
    problem: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            return f"inbox counts: OK ({self.groups} group{'' if self.groups == 1 else 's'} with ready tasks)"
        return f"inbox counts: FAILED: {self.problem}"


def check_inbox_counts(session: Session) -> InboxCounts:
    """Each group's counts of ready and of unclaimed tasks are what its candidate rows hold."""
    counted, rows = inbox.counted(session), inbox.counted_by_rows(session)
    for group in sorted(set(counted) | set(rows)):
        says, holds = counted.get(group, (0, 0)), rows.get(group, (0, 0))
        if says != holds:
            return InboxCounts(len(rows), f"group '{group}' is counted with {says[0]} ready tasks, {says[1]} "
                                          f"unclaimed; its candidate rows hold {holds[0]} and {holds[1]}")
    return InboxCounts(len(rows))


@dataclass
class TimerOccurrences:
    """The proof that every timer occurrence fired once: no double, none skipped."""

    timers: int
    occurrences: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return (f"timer occurrences: OK ({self.occurrences} occurrence{'' if self.occurrences == 1 else 's'} "
                    f"of {self.timers} timer{'' if self.timers == 1 else 's'}, each fired once)")
        return "timer occurrences: FAILED: " + "; ".join(self.problems)


def verify_timer_occurrences(session: Session) -> TimerOccurrences:
    """From the due time each firing recorded in the (chained) history: a timer of an instance
    fired at most once; a timer start event fired once for each occurrence of its schedule from
    the first recorded one on, none twice, none skipped, and waits now for the one after."""
    from collections import Counter, defaultdict

    from .services import next_start_due

    started, fired = defaultdict(list), Counter()
    query = select(HistoryEvent.type, HistoryEvent.body).where(HistoryEvent.of_types(["instance_started",
                                                                                     "timer_fired"]))
    for kind, body in session.execute(query):
        data = json.loads(body)["data"] or {}
        if data.get("timer") is None or data.get("retry_of_incident"):
            continue
        if kind == "timer_fired":
            fired[data["timer"]] += 1
        else:
            started[data["timer"]].append(clock.aware(datetime.fromisoformat(data["due"])))
    problems = [f"timer {timer} fired {n} times" for timer, n in sorted(fired.items()) if n > 1]
    for timer in session.scalars(select(Timer).where(Timer.id.in_(list(started))).order_by(Timer.id)):
        definition = session.get(ProcessDefinition, timer.definition_id)
        name = f"timer {timer.id} ({definition.key} {timer.element_id})"
        dues = sorted(started[timer.id])
        problems += [f"{name} fired {n} times for {_local(due)}" for due, n in sorted(Counter(dues).items()) if n > 1]
        schedule = [dues[0]]
        while schedule[-1] < dues[-1]:
            following = next_start_due(definition, timer.element_id, schedule[-1], len(schedule))
            if following is None:
                break
            schedule.append(following)
        problems += [f"{name}: the occurrence at {_local(due)} never fired" for due in schedule if due not in dues]
        problems += [f"{name} fired at {_local(due)}, not an occurrence of its schedule"
                     for due in sorted(set(dues) - set(schedule))]
        if timer.fire_count != len(dues):
            problems.append(f"{name} counts {timer.fire_count} firings, the history {len(dues)}")
        if timer.state == "waiting":  # for the occurrence it stands for (its due date may have been set by hand)
            following = next_start_due(definition, timer.element_id, dues[-1], len(schedule))
            waits = clock.aware(timer.occurrence_at or timer.due_at) - timedelta(milliseconds=timer.offset_ms or 0)
            if following is not None and waits != following:
                problems.append(f"{name} waits for {_local(waits)}, its next occurrence is {_local(following)}")
    occurrences = sum(fired.values()) + sum(len(d) for d in started.values())
    return TimerOccurrences(len(fired) + len(started), occurrences, problems)


def _local(moment: datetime) -> str:
    return f"{clock.aware(moment).astimezone(clock.local_zone()):%Y-%m-%d %H:%M:%S}"


def instances_to_verify(session: Session, ids: Optional[list[int]] = None) -> list[int]:
    """Instance ids to verify: those given (each must exist), else all but called ones."""
    if ids:
        known = set(session.scalars(select(ProcessInstance.id).where(ProcessInstance.id.in_(ids))))
        missing = [str(i) for i in ids if i not in known]
        if missing:
            raise NotFound(f"process instance{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                           f"do{'' if len(missing) > 1 else 'es'} not exist")
        return list(ids)
    return list(session.scalars(select(ProcessInstance.id).where(  # a called process is proved with its root
        ProcessInstance.super_instance_id.is_(None)).order_by(ProcessInstance.id)))


__all__ = ["ACCESS_CHAIN", "AuditQuery", "Entry", "Found", "Step", "Verification", "Wait", "access_log",
           "actor_bureaus", "data_at", "definition_at", "diagram_file", "highlight_of", "parse_query",
           "record_access", "search", "step_at", "timeline", "to_csv", "to_json", "verify_instance",
           "verify_timer_occurrences"]
