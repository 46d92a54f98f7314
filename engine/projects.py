"""Read-side project queries: a project is a process instance, described by its variables.

The fields come from the variables lifecycle.md names: the business key (the project code),
`project_name`, `unit`, `category`, `stage`, `approved_budget`, `spend`, `plan_year`. An
instance without a `stage` variable gets the stage its open task (or the process, or its last
completed task) names. These functions read the inbox tables and the instance columns, and load
the workflow state only to paint the diagram of one project.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Iterable, Optional

from sqlalchemy import and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session

from . import bureaus, clock, history, instances, runtime
from .bureaus import UNIT_PREFIX
from .models import Incident, ProcessDefinition, ProcessInstance, Resource, TaskCandidate, UserTask
from .rendering import Highlight
from .xmlsafe import parse_xml

# Stages of the 办法 in their order (lifecycle.md, P2), and how task names and element ids show them.
STAGES = ("proposal", "feasibility", "design", "construction", "acceptance", "post_evaluation")
_STAGE_WORDS = (  # checked in this order: "后评价" before anything else that says 评价
    ("post_evaluation", ("后评价", "自评价", "评价结果", "post_eval", "self_eval", "post-eval", "evaluation_result")),
    ("acceptance", ("验收", "审计报告", "档案", "资产", "拨付", "accept", "audit_report", "archive", "asset",
                    "withhold")),
    ("construction", ("建设实施", "施工", "进度", "进展", "采购", "招标", "合同", "实施机构", "监理", "年度绩效",
                      "严重", "调整", "恢复建设", "construct", "progress", "procure", "tender", "contract",
                      "implementing", "supervisor", "annual_report", "serious", "adjust", "resum")),
    ("design", ("初步设计", "design")),
    ("feasibility", ("可行性", "可研", "feasib")),
    ("proposal", ("建议书", "立项", "框架", "参建", "proposal", "project_basis", "framework", "participation")),
)
STATUSES = ("running", "waiting", "suspended", "incident", "completed", "terminated")
SPENT_REPORTED = "spent_total"  # the amount spent so far, as the unit's latest progress report gives it
OPEN_STATUSES = ("running", "waiting", "suspended", "incident")


@dataclass(frozen=True)
class Viewer:
    """Who asks: their name, bureaus, and whether they see every project."""

    name: str
    groups: tuple[str, ...] = ()
    sees_all: bool = False


@dataclass(frozen=True)
class ProjectFilter:
    text: Optional[str] = None  # project code or name, in part
    unit: Optional[str] = None  # the dept of unit:<dept>
    category: Optional[str] = None
    stage: Optional[str] = None
    status: Optional[str] = None  # one of STATUSES, or "open"
    process: Optional[str] = None
    overdue: bool = False
    year: Optional[int] = None


@dataclass(frozen=True)
class NextTask:
    id: int
    name: str
    element_id: str
    groups: tuple[str, ...]
    assignee: Optional[str]
    due_at: Optional[datetime]
    overdue: bool
    called_instance_id: Optional[int] = None  # the called process's instance the task belongs to


@dataclass
class Project:
    instance_id: int
    process_key: str
    process_name: str
    code: Optional[str]  # the business key: it stays when the 统一代码 arrives
    unified_code: Optional[str]  # 投资项目统一代码 (project_code), from the first approval on
    name: Optional[str]
    unit: Optional[str]
    category: Optional[str]
    stage: Optional[str]
    status: str
    approved_budget: Optional[Decimal]
    spend: Optional[Decimal]
    year: int
    started_at: datetime
    started_by: Optional[str]
    ended_at: Optional[datetime]
    variables: dict = field(repr=False, default_factory=dict)
    next_tasks: list[NextTask] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        return any(task.overdue for task in self.next_tasks)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def stage_of_text(*texts: Optional[str]) -> Optional[str]:
    """The stage a task or process name speaks of, else None."""
    lowered = [text.lower() for text in texts if text]
    for stage, pattern in _STAGE_PATTERNS:
        for text in lowered:
            if pattern.search(text):
                return stage
    return None


_STAGE_PATTERNS = tuple((stage, re.compile("|".join(map(re.escape, words)))) for stage, words in _STAGE_WORDS)


def amount(value) -> Optional[Decimal]:
    """A money variable as Decimal (None when absent or not a number)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _year(variables: dict, started_at: datetime) -> int:
    for key in ("plan_year", "year"):
        value = variables.get(key)
        try:
            year = int(str(value).strip())
        except (TypeError, ValueError):
            continue
        if 1900 < year < 3000:
            return year
    return clock.aware(started_at).astimezone(clock.local_zone()).year


def _text(value) -> Optional[str]:
    if value is None or value == "":
        return None
    return str(value)


# --- who sees what -----------------------------------------------------------------------------

def _visible(viewer: Viewer):
    """SQL condition: the instances `viewer` may see, row by row (a correlated EXISTS on the
    instance's own task rows, so an ordered page stops early and one instance's check reads only
    its tasks)."""
    if viewer.sees_all:
        return true()
    depts = [g[len(UNIT_PREFIX):] for g in viewer.groups if g.startswith(UNIT_PREFIX)]
    offered = exists().where(TaskCandidate.task_id == UserTask.id, or_(
        and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(list(viewer.groups) or [""])),
        and_(TaskCandidate.kind == "user", TaskCandidate.value == viewer.name)))
    involved = exists().where(UserTask.instance_id == ProcessInstance.id, or_(
        UserTask.assignee == viewer.name, UserTask.completed_by == viewer.name, offered))
    return or_(ProcessInstance.started_by == viewer.name,
               ProcessInstance.variables["unit"].as_string().in_(depts) if depts else false(),
               involved)


def may_see(session: Session, viewer: Viewer, instance_id: int) -> bool:
    """Whether `viewer` may see the project of instance `instance_id` (which must exist)."""
    return session.scalar(select(ProcessInstance.id).where(
        ProcessInstance.id == instance_id, _visible(viewer))) is not None


# --- the list ----------------------------------------------------------------------------------

def _process_names(session: Session) -> dict[str, str]:
    names = {}
    for key, name in session.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                                     .order_by(ProcessDefinition.version)):
        names[key] = name or key
    return names


def _next_tasks(session: Session, instance_ids: list[int], now: datetime) -> dict[int, list[NextTask]]:
    out: dict[int, list[NextTask]] = defaultdict(list)
    for start in range(0, len(instance_ids), 500):
        chunk = instance_ids[start:start + 500]
        for task in session.execute(_NEXT_TASKS.where(UserTask.instance_id.in_(chunk))):  # rows, not objects
            out[task.instance_id].append(NextTask(
                task.id, task.name or task.element_id, task.element_id, tuple(task.candidate_groups or ()), task.assignee,
                task.due_at, task.due_at is not None and task.due_at < now, task.called_instance_id))
    return out


_NEXT_TASKS = select(UserTask.id, UserTask.instance_id, UserTask.name, UserTask.element_id, UserTask.candidate_groups,
                     UserTask.assignee, UserTask.due_at, UserTask.called_instance_id) \
    .where(UserTask.state == "ready").order_by(UserTask.due_at.is_(None), UserTask.due_at, UserTask.id)


def _last_completed_names(session: Session, instance_ids: list[int]) -> dict[int, str]:
    """The name and element id of each instance's last completed task (what its stage is read from)."""
    out: dict[int, str] = {}
    if not instance_ids:
        return out
    for start in range(0, len(instance_ids), 500):
        chunk = instance_ids[start:start + 500]
        for instance_id, name, element in session.execute(
                select(UserTask.instance_id, UserTask.name, UserTask.element_id)
                .where(UserTask.state == "completed", UserTask.instance_id.in_(chunk))
                .order_by(UserTask.completed_at, UserTask.id)):
            out[instance_id] = f"{name or ''} {element}"
    return out


def _listing(viewer: Viewer, filters: ProjectFilter):
    """The instance rows of the projects `viewer` may see, newest first, narrowed by the filters
    that the instance's columns and variables answer; stage, year and overdue read its tasks and
    history too (_passes)."""
    query = (select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key,
                    ProcessInstance.status, ProcessInstance.variables, ProcessInstance.started_at,
                    ProcessInstance.started_by, ProcessInstance.ended_at)
             .where(_visible(viewer), ProcessInstance.super_instance_id.is_(None))  # a called process is its caller's
             .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()))
    if filters.process:
        query = query.where(ProcessInstance.process_key == filters.process)
    for name in ("unit", "category"):  # narrowed here, checked again on the project (_passes)
        if getattr(filters, name):
            query = query.where(ProcessInstance.variables[name].as_string() == getattr(filters, name))
    if filters.text:
        needle = filters.text.lower()
        query = query.where(or_(*(func.lower(column).contains(needle, autoescape=True) for column in (
            ProcessInstance.business_key, ProcessInstance.variables["project_code"].as_string(),
            ProcessInstance.variables["project_name"].as_string()))))
    if filters.status == "open":
        query = query.where(ProcessInstance.status.in_(OPEN_STATUSES))
    elif filters.status:
        query = query.where(ProcessInstance.status == filters.status)
    if filters.stage:  # a `stage` variable that names another stage rules it out; without one, tasks tell
        stage = ProcessInstance.variables["stage"].as_string()
        query = query.where(or_(stage.is_(None), stage == "", stage == filters.stage))
    if filters.year:  # a plan year (then checked on the row), else the year it started
        start, end = (datetime(year, 1, 1, tzinfo=clock.local_zone()) for year in (filters.year, filters.year + 1))
        query = query.where(or_(ProcessInstance.variables["plan_year"].as_string().is_not(None),
                                ProcessInstance.variables["year"].as_string().is_not(None),
                                and_(ProcessInstance.started_at >= start, ProcessInstance.started_at < end)))
    if filters.overdue:
        query = query.where(exists().where(UserTask.instance_id == ProcessInstance.id, UserTask.state == "ready",
                                           UserTask.due_at < clock.now()))
    return query


def _described(session: Session, rows: list, names: dict[str, str]) -> list[Project]:
    """Projects of instance rows: their fields, next tasks and stage."""
    now = clock.now()
    tasks = _next_tasks(session, [row.id for row in rows], now)
    needs_history = [row.id for row in rows if not (row.variables or {}).get("stage") and not tasks.get(row.id)]
    last_done = _last_completed_names(session, needs_history)
    out = []
    for row in rows:
        variables = row.variables or {}
        process_name = names.get(row.process_key, row.process_key)
        next_tasks = tasks.get(row.id, [])
        stage = _text(variables.get("stage")) or stage_of_text(*(f"{t.name} {t.element_id}" for t in next_tasks)) \
            or stage_of_text(process_name, row.process_key) or stage_of_text(last_done.get(row.id))
        out.append(Project(
            instance_id=row.id, process_key=row.process_key, process_name=process_name,
            code=row.business_key, unified_code=_text(variables.get("project_code")),
            name=_text(variables.get("project_name")), unit=_text(variables.get("unit")),
            category=_text(variables.get("category")), stage=stage, status=row.status,
            approved_budget=amount(variables.get("approved_budget")),
            spend=amount(variables.get("spend", variables.get(SPENT_REPORTED))),
            year=_year(variables, row.started_at), started_at=row.started_at, started_by=row.started_by,
            ended_at=row.ended_at, variables=variables, next_tasks=next_tasks))
    return out


def projects(session: Session, viewer: Viewer, filters: ProjectFilter = ProjectFilter()) -> list[Project]:
    """All the projects `viewer` may see that pass `filters`, newest first (exports, the dashboard)."""
    rows = [row for row in session.execute(_listing(viewer, filters)) if _row_passes(row, filters)]
    return [p for p in _described(session, rows, _process_names(session)) if _passes(p, filters)]


@dataclass(frozen=True)
class ProjectPage:
    rows: list[Project]
    page: int
    more: bool  # a next page exists
    total: Optional[int]  # how many pass the filters, up to COUNT_CAP + 1; None when only reading them all tells


COUNT_CAP = 1000
_SCAN_CHUNK = 200  # rows read at a time when a filter needs more than the row


def page_of(session: Session, viewer: Viewer, filters: ProjectFilter, page: int, per_page: int) -> ProjectPage:
    """One page of the projects `viewer` may see that pass `filters`, newest first. Without a
    filter on the variables or tasks, the page is read by index and the count capped; with one,
    rows are read in order only until the page (and one more) has passed."""
    query, names = _listing(viewer, filters), _process_names(session)
    if not _reads_variables(filters):
        rows = session.execute(query.limit(per_page + 1).offset((page - 1) * per_page)).all()
        counted = query.with_only_columns(ProcessInstance.id).order_by(None).limit(COUNT_CAP + 1).subquery()
        total = session.scalar(select(func.count()).select_from(counted))
        return ProjectPage(_described(session, rows[:per_page], names), page, len(rows) > per_page, total)
    wanted, passed, exhausted, chunk = page * per_page + 1, [], False, query
    while len(passed) < wanted and not exhausted:
        rows = session.execute(chunk.limit(_SCAN_CHUNK)).all()
        kept = [row for row in rows if _row_passes(row, filters)]  # what the row answers, before its tasks are read
        passed += [p for p in _described(session, kept, names) if _passes(p, filters)]
        exhausted = len(rows) < _SCAN_CHUNK
        if rows:  # the next chunk: after the last row read, in the listing's order (started_at, id descending)
            last = rows[-1]
            chunk = query.where(or_(ProcessInstance.started_at < last.started_at,
                                    and_(ProcessInstance.started_at == last.started_at, ProcessInstance.id < last.id)))
    return ProjectPage(passed[(page - 1) * per_page:page * per_page], page, len(passed) > page * per_page,
                       len(passed) if exhausted else None)


def _reads_variables(filters: ProjectFilter) -> bool:
    return bool(filters.text or filters.unit or filters.category or filters.stage or filters.year or filters.overdue)


def _row_passes(row, filters: ProjectFilter) -> bool:
    """The filters an instance row answers by itself (its key, variables and start)."""
    variables = row.variables or {}
    if filters.text:
        needle = filters.text.lower()
        if not any(needle in (_text(value) or "").lower() for value in (
                row.business_key, variables.get("project_code"), variables.get("project_name"))):
            return False
    if filters.unit and _text(variables.get("unit")) != filters.unit:
        return False
    if filters.category and _text(variables.get("category")) != filters.category:
        return False
    return not filters.year or _year(variables, row.started_at) == filters.year


def _passes(project: Project, filters: ProjectFilter) -> bool:
    """The filters a project's tasks answer (its stage, whether one is overdue), on a row that
    passed the others (_row_passes)."""
    if filters.stage and project.stage != filters.stage:
        return False
    return not filters.overdue or project.overdue


def project(session: Session, viewer: Viewer, instance_id: int) -> Optional[Project]:
    """One project as the list shows it, or None when `viewer` may not see it."""
    row = session.get(ProcessInstance, instance_id)
    if row is not None and row.root_instance_id is not None:  # a called process: the project that runs it
        instance_id, row = row.root_instance_id, session.get(ProcessInstance, row.root_instance_id)
    if row is None:
        return None
    rows = session.execute(_listing(viewer, ProjectFilter()).where(ProcessInstance.id == instance_id)).all()
    found = _described(session, rows, _process_names(session))
    return found[0] if found else None


def filter_choices(session: Session) -> dict[str, list]:
    """What the list's filters offer, without reading the projects: the units of the group table,
    the stages of the 办法, the processes that have projects, and the years from the first
    project's (a plan year may be the one before) to the next."""
    processes = session.execute(select(ProcessDefinition.key, ProcessDefinition.name).where(exists().where(
        ProcessInstance.process_key == ProcessDefinition.key, ProcessInstance.super_instance_id.is_(None)))
        .order_by(ProcessDefinition.version)).all()
    first = session.scalar(select(func.min(ProcessInstance.started_at)).where(ProcessInstance.super_instance_id.is_(None)))
    this_year = clock.now().astimezone(clock.local_zone()).year
    first_year = clock.aware(first).astimezone(clock.local_zone()).year - 1 if first else this_year
    return {
        "units": [g.id[len(UNIT_PREFIX):] for g in bureaus.list_groups(session) if bureaus.is_unit(g.id)],
        "stages": list(STAGES),
        "processes": sorted(dict((key, name or key) for key, name in processes).items()),
        "years": list(range(this_year + 1, first_year - 1, -1)),
    }


# --- the dashboard -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Dashboard:
    per_stage: list[tuple[Optional[str], int]]  # open projects per stage, in the order of the 办法
    overdue_per_bureau: list[tuple[str, int]]  # overdue ready tasks per candidate group, most first
    budget_per_year: list[tuple[int, Decimal, Decimal]]  # (year, approved, spent), by year
    total: int
    open: int
    overdue_tasks: int
    approved_total: Decimal
    spent_total: Decimal


def dashboard(session: Session, viewer: Viewer) -> Dashboard:
    """Figures for the office and the leading group: stages, overdue tasks, budgets per year."""
    found = projects(session, viewer)
    open_projects = [p for p in found if p.is_open]
    by_stage = Counter(p.stage for p in open_projects)
    per_stage = [(s, by_stage[s]) for s in STAGES if by_stage[s]]
    per_stage += sorted(((s, n) for s, n in by_stage.items() if s not in STAGES and s is not None),
                        key=lambda item: item[0])
    if by_stage[None]:
        per_stage.append((None, by_stage[None]))
    overdue = Counter()
    overdue_count = 0
    for p in open_projects:
        for task in p.next_tasks:
            if task.overdue:
                overdue_count += 1
                for group in task.groups or ("",):
                    overdue[group] += 1
    budget: dict[int, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for p in found:
        if p.approved_budget is not None or p.spend is not None:
            budget[p.year][0] += p.approved_budget or 0
            budget[p.year][1] += p.spend or 0
    return Dashboard(
        per_stage=per_stage,
        overdue_per_bureau=sorted(overdue.items(), key=lambda item: (-item[1], item[0])),
        budget_per_year=[(year, *budget[year]) for year in sorted(budget)],
        total=len(found), open=len(open_projects), overdue_tasks=overdue_count,
        approved_total=sum((p.approved_budget or Decimal(0) for p in found), Decimal(0)),
        spent_total=sum((p.spend or Decimal(0) for p in found), Decimal(0)))


# --- one project: timeline, decisions, documents, diagram --------------------------------------

@dataclass
class Step:
    """A user task of the project: when it opened, who finished it, when."""

    task_id: int
    element_id: str
    name: str
    groups: tuple[str, ...]
    state: str
    created_at: datetime
    completed_at: Optional[datetime]
    completed_by: Optional[str]
    values: dict = field(default_factory=dict)


@dataclass
class StagePeriod:
    stage: Optional[str]
    started_at: datetime
    ended_at: Optional[datetime]
    steps: list[Step] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return any(step.state == "ready" for step in self.steps)


def steps(session: Session, instance_id: int, events: Optional[list[dict]] = None) -> list[Step]:
    """The project's user tasks in the order they opened, with the values each was completed with
    (`events`: the instance's history when the caller has read it already)."""
    values: dict[int, dict] = {}
    for event in history.events_of(session, instance_id) if events is None else events:
        if event["type"] == "task_completed" and isinstance(event.get("data"), dict):
            values[event["data"].get("task")] = event["data"].get("values") or {}
    return [Step(t.id, t.element_id, t.name or t.element_id, tuple(t.candidate_groups or ()), t.state,
                 t.created_at, t.completed_at, t.completed_by, values.get(t.id, {}))
            for t in session.scalars(select(UserTask).where(UserTask.instance_id == instance_id)
                                     .order_by(UserTask.created_at, UserTask.id))]


def timeline(found: Project, all_steps: list[Step]) -> list[StagePeriod]:
    """The stages the project went through, each with its dates and steps; a step that names no
    stage belongs to the stage before it (or the project's stage, for the first)."""
    return stage_periods(all_steps, stage_of_text(found.process_name, found.process_key)
                         or found.variables.get("stage"))


def stage_periods(all_steps: list[Step], default: Optional[str]) -> list[StagePeriod]:
    """`all_steps` grouped by the stage each names (a step naming none: the one before it's, the
    first: `default`)."""
    periods: list[StagePeriod] = []
    current = None
    for step in all_steps:
        if step.state == "cancelled":
            continue
        stage = stage_of_text(step.name, step.element_id) or (periods[-1].stage if periods else default)
        if current is None or stage != current.stage:
            current = StagePeriod(stage, step.created_at, None)
            periods.append(current)
        current.steps.append(step)
    for period in periods:
        if not period.is_open:
            period.ended_at = max((s.completed_at for s in period.steps if s.completed_at), default=None)
    return periods


def diagram_highlight(session: Session, row: ProcessInstance) -> Highlight:
    """The instance's position on its diagram: done, current, the flows taken, waits, failures."""
    highlight = Highlight()
    if row.state:
        definition = instances.definition_runtime(session, row.definition_id)
        workflow = runtime.load_state(row.state, definition.spec, definition.subprocess_specs)
        _paint(workflow, highlight, _flows(session, row.definition_id))
    for kind, _uuid, element, detail in row.waits or []:
        if kind == "timer":
            due = clock.aware(datetime.fromisoformat(detail)).astimezone(clock.local_zone())
            highlight.waiting[element] = due.strftime("%Y-%m-%d %H:%M")
        highlight.active.add(element)
    highlight.failed |= set(session.scalars(select(Incident.element_id).where(
        Incident.at_instance_id == row.id, Incident.resolved_at.is_(None), Incident.element_id.is_not(None))))
    return highlight


def _flows(session: Session, definition_id: int) -> dict[tuple[str, str], list[str]]:
    """(source, target) -> sequence flow ids, read from the deployed diagram."""
    resource = session.scalar(select(Resource).join(ProcessDefinition, ProcessDefinition.resource_id == Resource.id)
                              .where(ProcessDefinition.id == definition_id))
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    if resource is None:
        return out
    root = parse_xml(resource.content, resource.name).getroot()
    for flow in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}sequenceFlow"):
        out[(flow.get("sourceRef"), flow.get("targetRef"))].append(flow.get("id"))
    return out


def _paint(workflow, highlight: Highlight, flows: dict) -> None:
    from SpiffWorkflow.util.task import TaskState

    summary = runtime.compacted(workflow)  # finished steps compaction dropped from the tree
    for completed in summary["completed"].values():
        highlight.completed.update(completed)
    for pairs in summary["flows"].values():
        for pair in pairs:
            highlight.taken_flows.update(flows.get(tuple(pair), ()))
    merged = [tuple(pair) for pairs in summary["merged"].values() for pair in pairs]
    # a parallel join keeps one branch's task and cancels the others' once it passes
    pools = [workflow.tasks.values(), *(sp.tasks.values() for sp in workflow.subprocesses.values())]
    for pool in pools:
        for task in pool:
            element = getattr(task.task_spec, "bpmn_id", None)
            if element is None:
                continue
            if task.state == TaskState.COMPLETED:
                highlight.completed.add(element)
            elif task.state in (TaskState.READY, TaskState.STARTED):
                highlight.active.add(element)
            flow = runtime.flow_in(task)
            if flow is None or task.state == TaskState.ERROR:
                continue
            if task.state == TaskState.CANCELLED:
                merged.append(flow)
            else:
                highlight.taken_flows.update(flows.get(flow, ()))
    for source, element in merged:
        if element in highlight.completed or element in highlight.active:
            highlight.taken_flows.update(flows.get((source, element), ()))
    highlight.completed -= highlight.active


# --- what the annual plan's review weighs (Art 24, 27, 29) -------------------------------------

@dataclass
class PlanFinding:
    """A decision against a department that the next annual plan's review must see."""

    unit: str
    kind: str  # investment_deferred (Art 27) | om_refused (Art 24)
    subject: str  # the project (its code) or the system (its name)
    reason: str
    instance_id: int
    until_year: Optional[int] = None


def plan_findings(session: Session, units: Iterable[str], plan_year: Optional[int]) -> list[PlanFinding]:
    """For the departments of a plan: the office's 暂缓安排投资计划 still in force for `plan_year`
    (supervision.bpmn, Art 27) and Art 24 refusals of their systems (om_funding.bpmn)."""
    wanted = {str(u).strip() for u in units if str(u).strip()}
    if not wanted:
        return []
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key,
                                  ProcessInstance.variables)
                           .where(ProcessInstance.process_key.in_(("supervision", "om_funding")),
                                  ProcessInstance.status == "completed")
                           .order_by(ProcessInstance.id))
    found = []
    for instance_id, key, business_key, variables in rows:
        variables = variables or {}
        unit = str(variables.get("unit") or "")
        if unit not in wanted:
            continue
        if key == "supervision" and variables.get("penalty") == "defer_investment":
            until = _int_or_none(variables.get("deferred_until_year"))
            if plan_year is None or until is None or int(plan_year) <= until:
                found.append(PlanFinding(unit, "investment_deferred", str(variables.get("project_id") or ""),
                                         str(variables.get("penalty_opinion") or ""), instance_id, until))
        elif key == "om_funding" and (variables.get("om_decision") or {}).get("eligibility") == "refused":
            found.append(PlanFinding(unit, "om_refused", str(variables.get("system_name") or business_key or ""),
                                     str(variables["om_decision"].get("eligibility_reason") or ""), instance_id))
    return found


def _int_or_none(value) -> Optional[int]:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
