"""The 办件: a case with everything the officials decide on, as the history recorded it.

Every task page and the project page show it: the stages the case went through, each with the
steps completed in it (what each bureau submitted or decided, labelled as its form labels the
fields, never a variable name), their opinions and the materials uploaded at each; the figures a
decision depends on side by side (估算 → 可研 → 初设 → 批复 → 合同 → 已支出); and, on a task that
was returned, why. Values come from the `task_completed` events of the history, as recorded.

A project unit's official does not see what another unit submitted in the same instance (each
department's entry to the annual plan is its own): entries offered to another unit are left out
for them. The bureaus that review (and the office, auditors, administrators) see every entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Optional

from flask_babel import gettext as _
from sqlalchemy import select

from engine import bureaus, documents, history, projects as queries
from engine.models import Document, ProcessDefinition, ProcessInstance, TaskComment, UserTask
from forms import submission
from forms.fields import FieldSpec, fields_of_task

from . import N_
from .auth import CurrentUser
from .i18n import money

# Answers that send a case back (an enum option's value) and words of such an option's label.
RETURN_VALUES = frozenset({"revise", "return", "returned", "reject_return", "rectify"})
RETURN_WORDS = ("退回", "修改后再报")
# The figures, in the order a project's money is decided: (key, label).
FIGURE_LABELS = (("estimate", N_("估算")), ("feasibility", N_("可研")), ("design", N_("初设")),
                 ("approved", N_("批复")), ("contract", N_("合同")), ("spent", N_("已支出")))
SUBMITTED_AMOUNT = "investment_amount"  # what the unit asks for at a stage
APPROVED_AMOUNT = "approved_amount"  # what drc approves at a stage
LATEST_OF = {"approved": "approved_budget", "contract": "contract_amount", "spent": "spent_total"}
ESTIMATE = "estimated_budget"


@dataclass
class Row:
    label: str
    text: str
    kind: str  # text | long | money | choice | file
    document: Optional[Document] = None


@dataclass
class Entry:
    """One completed step: who, when, what they submitted or decided."""

    task_id: int
    element_id: str
    name: str
    groups: tuple[str, ...]
    completed_by: Optional[str]
    completed_at: object
    values: dict = field(default_factory=dict)  # as recorded
    rows: list[Row] = field(default_factory=list)
    comments: list[TaskComment] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    returned: bool = False
    reference: Optional[str] = None  # a 文号 among its values


@dataclass
class Stage:
    index: int
    stage: Optional[str]  # None: steps before any that names a stage (the case's opening)
    entries: list[Entry]
    open_steps: list[str]
    started_at: object
    ended_at: object


@dataclass
class Figure:
    key: str
    label: str
    submitted: Optional[Decimal] = None
    approved: Optional[Decimal] = None

    @property
    def shown(self) -> bool:
        return self.submitted is not None or self.approved is not None


@dataclass
class CaseFile:
    title: str  # the process's name: the heading of steps that name no stage
    stages: list[Stage]
    figures: list[Figure]
    returned_by: list[Entry]  # on a task opened again: the steps that sent the case back
    documents: list[Document]
    comments: list[TaskComment]
    start_rows: list[Row]
    steps: list  # every step of the instance (engine.projects.Step), the hidden ones too
    events: list[dict]  # the instance's history, as recorded
    tasks: dict  # task id -> UserTask of every task of the instance
    hidden: set  # ids of the tasks `viewer` may not read
    latest: dict = field(default_factory=dict)  # element id -> its newest task
    material_labels: dict = field(default_factory=dict)  # Document.field -> what the form calls it

    def __post_init__(self):
        for task in sorted(self.tasks.values(), key=lambda t: t.id):
            self.latest[task.element_id] = task

    def step_name(self, event: dict) -> Optional[str]:
        """The name of the step an event happened at, as the task showed it (placeholders filled)."""
        task = self.tasks.get((event.get("data") or {}).get("task")) or self.latest.get(event.get("element_id"))
        return task.name if task is not None and task.name else None

    @property
    def entry_count(self) -> int:
        return sum(len(stage.entries) for stage in self.stages)


def recorded_values(session, task: UserTask) -> dict:
    """The values a closed task was completed with, as its `task_completed` event recorded them."""
    for event in reversed(history.events_of(session, task.instance_id)):
        if event["type"] == "task_completed" and (event.get("data") or {}).get("task") == task.id:
            return event["data"].get("values") or {}
    return {}


def build(session, instance: ProcessInstance, viewer: CurrentUser, current: Optional[UserTask] = None) -> CaseFile:
    """The 办件 of `instance` as `viewer` may see it (`current`: the task whose page shows it)."""
    definition = session.get(ProcessDefinition, instance.definition_id)
    events = history.events_of(session, instance.id)
    steps = queries.steps(session, instance.id, events)
    rows = {t.id: t for t in session.scalars(select(UserTask).where(UserTask.instance_id == instance.id))}
    hidden = {step.task_id for step in steps if not may_read(rows[step.task_id], viewer)}
    docs = [d for d in documents.of_instance(session, instance.id) if d.task_id not in hidden]
    comments = [c for c in session.scalars(select(TaskComment).where(TaskComment.instance_id == instance.id)
                                           .order_by(TaskComment.created_at, TaskComment.id))
                if c.task_id not in hidden]
    labels = _Labels(session)
    start_values = next((e["data"].get("variables") or {} for e in events if e["type"] == "instance_started"), {})
    start_specs = submission.start_form(session, definition)
    stages = []
    visible = [s for s in steps if s.task_id not in hidden]
    for period in queries.stage_periods(visible, None):
        entries = []
        for step in period.steps:
            if step.state != "completed":
                continue
            entry = Entry(step.task_id, step.element_id, step.name, step.groups, step.completed_by,
                          step.completed_at, step.values)
            specs = labels.of(rows[step.task_id])
            entry.rows = _rows(specs, step.values, docs)
            entry.returned = _returns(specs, step.values)
            entry.reference = next((r.text for r in entry.rows if "文号" in r.label), None)
            entry.comments = [c for c in comments if c.task_id == step.task_id]
            entry.documents = [d for d in docs if d.task_id == step.task_id]
            entries.append(entry)
        stages.append(Stage(len(stages), period.stage, entries, [s.name for s in period.steps if s.state == "ready"],
                            period.started_at, period.ended_at))
    case = CaseFile(definition.name or definition.key, stages, _figures(stages, start_values, instance.variables or {}), [], docs, comments,
                    _rows(start_specs, start_values, docs), steps, events, rows, hidden)
    if current is not None and current.state == "ready":
        case.returned_by = _returned_by(stages, current)
    case.material_labels = _material_labels(docs, rows, labels)
    return case


def _material_labels(docs: list[Document], tasks: dict, labels: "_Labels") -> dict[str, str]:
    out = {}
    for doc in docs:
        if doc.field and doc.field not in out and doc.task_id in tasks:
            specs = {spec.id: spec for spec in labels.of(tasks[doc.task_id])}
            field_id, _sep, item = doc.field.partition(":")
            if item:
                out[doc.field] = item  # an item of a field's `materials` list is its own label
            elif field_id in specs:
                out[doc.field] = specs[field_id].label
    return out


def may_read(task: UserTask, viewer: CurrentUser) -> bool:
    """Whether `viewer` may read what was submitted at `task` (a unit: not another unit's)."""
    if viewer.reads_everything or viewer.name in (task.assignee, task.completed_by):
        return True
    units = {g for g in task.candidate_groups or [] if bureaus.is_unit(g)}
    if not units:
        return True
    mine = set(viewer.groups)
    return bool(units & mine) or any(not bureaus.is_unit(g) for g in mine)


class _Labels:
    """Form specs per task element, each read once (they label the recorded values): a called
    process's task's of the version its call ran."""

    def __init__(self, session):
        self.session, self.cache = session, {}

    def of(self, task: UserTask) -> list[FieldSpec]:
        key = (task.called_instance_id, task.element_id)
        if key not in self.cache:
            self.cache[key] = fields_of_task(self.session, task)
        return self.cache[key]



def _rows(specs: list[FieldSpec], values: dict, docs: list[Document]) -> list[Row]:
    out = []
    for spec in specs:
        if spec.id not in values or values[spec.id] in (None, ""):
            continue
        value = values[spec.id]
        if spec.type == "file":
            document = next((d for d in docs if isinstance(value, dict) and d.id == value.get("document")), None)
            out.append(Row(spec.label, document.filename if document else _("（文件）"), "file", document))
        elif spec.type == "enum":
            out.append(Row(spec.label, next((o.label for o in spec.options if o.value == str(value)), str(value)),
                           "choice"))
        elif spec.type == "boolean":
            out.append(Row(spec.label, _("是") if value in (True, "true") else _("否"), "choice"))
        elif spec.type == "money":
            out.append(Row(spec.label, money(value), "money"))
        elif isinstance(value, (dict, list)):
            continue  # structured data has no label of its own to show it by
        else:
            out.append(Row(spec.label, str(value), "long" if spec.type == "textarea" else "text"))
    return out


def _returns(specs: list[FieldSpec], values: dict) -> bool:
    for spec in specs:
        if spec.type != "enum" or spec.id not in values:
            continue
        value = str(values[spec.id])
        label = next((o.label for o in spec.options if o.value == value), "")
        if value in RETURN_VALUES or any(word in label for word in RETURN_WORDS):
            return True
    return False


def _returned_by(stages: list[Stage], current: UserTask) -> list[Entry]:
    """The steps that sent the case back to `current`: those completed after the last time
    `current`'s step was completed, that chose to return it."""
    entries = [e for stage in stages for e in stage.entries]
    earlier = [i for i, e in enumerate(entries) if e.element_id == current.element_id]
    if not earlier:
        return []
    return [e for e in entries[earlier[-1] + 1:] if e.returned]


def _amount(value) -> Optional[Decimal]:
    if value in (None, "") or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _figures(stages: list[Stage], start_values: dict, variables: dict) -> list[Figure]:
    """估算 → 可研 → 初设 → 批复 → 合同 → 已支出, each from the latest value recorded for it."""
    figures = {key: Figure(key, _(label)) for key, label in FIGURE_LABELS}
    figures["estimate"].submitted = _amount(start_values.get(ESTIMATE))
    for stage in stages:
        for entry in stage.entries:
            values = entry.values
            if ESTIMATE in values and figures["estimate"].submitted is None:
                figures["estimate"].submitted = _amount(values[ESTIMATE])
            if stage.stage in ("feasibility", "design"):
                figure = figures[stage.stage]
                figure.submitted = _amount(values.get(SUBMITTED_AMOUNT)) or figure.submitted
                figure.approved = _amount(values.get(APPROVED_AMOUNT)) or figure.approved
            for key, name in LATEST_OF.items():
                if _amount(values.get(name)) is not None:
                    figures[key].submitted = _amount(values[name])
    if figures["estimate"].submitted is None:
        figures["estimate"].submitted = _amount(variables.get(ESTIMATE))
    if figures["approved"].submitted is None:
        figures["approved"].submitted = _amount(variables.get(LATEST_OF["approved"]))
    return list(figures.values())

