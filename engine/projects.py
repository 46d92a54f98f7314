"""Read-side project queries: a project is a process instance, described by its variables.

The fields come from the variables lifecycle.md names: the business key (the project code),
`project_name`, `unit`, `category`, `stage`, `approved_budget`, `spend`, `plan_year`. An
instance without a `stage` variable gets the stage its open task (or the process, or its last
completed task) names. The stage, plan year and amounts are kept on the instance row by each step
(engine/project_columns.py), so that the list filters and pages in SQL and the dashboard counts
and sums there. These functions read the inbox tables and the instance columns, and load the
workflow state only to paint the diagram of one project.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Optional

from sqlalchemy import String, and_, case, cast, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from . import bureaus, clock, history, instances, runtime
from .bureaus import UNIT_PREFIX
from .models import Incident, ProcessDefinition, ProcessInstance, Resource, TaskCandidate, UserTask
from .project_columns import STAGES, approved_of, plan_year, spent_of, stage_of_text
from .project_columns import text as _text
from .rendering import Highlight
from .xmlsafe import parse_xml

STATUSES = ("running", "waiting", "suspended", "incident", "completed", "terminated")
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


def _year(variables: dict, started_at: datetime) -> int:
    """The project's year: its plan year, else the year it started."""
    return plan_year(variables) or clock.aware(started_at).astimezone(clock.local_zone()).year


def _name_stage(names: dict[str, str], process_key: str) -> Optional[str]:
    """The stage a process's name (its latest version's) names."""
    return stage_of_text(names.get(process_key, process_key), process_key)


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


def _listing(viewer: Viewer, filters: ProjectFilter, names: dict[str, str]):
    """The instance rows of the projects `viewer` may see that pass `filters`, newest first: every
    filter answered in SQL, by the row's columns (the stage and plan year kept on it), its
    variables or its tasks."""
    query = (select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key,
                    ProcessInstance.status, ProcessInstance.variables, ProcessInstance.started_at,
                    ProcessInstance.started_by, ProcessInstance.ended_at, ProcessInstance.stage,
                    ProcessInstance.stage_done)
             .where(_visible(viewer), ProcessInstance.super_instance_id.is_(None))  # a called process is its caller's
             .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()))
    if filters.process:
        query = query.where(ProcessInstance.process_key == filters.process)
    for name in ("unit", "category"):
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
    if filters.stage:
        query = query.where(_stage_is(filters.stage, names))
    if filters.year:  # its plan year, else the year it started
        start, end = (datetime(year, 1, 1, tzinfo=clock.local_zone()) for year in (filters.year, filters.year + 1))
        query = query.where(or_(ProcessInstance.plan_year == filters.year,
                                and_(ProcessInstance.plan_year.is_(None), ProcessInstance.started_at >= start,
                                     ProcessInstance.started_at < end)))
    if filters.overdue:
        query = query.where(exists().where(UserTask.instance_id == ProcessInstance.id, UserTask.state == "ready",
                                           UserTask.due_at < clock.now()))
    return query


def _stage_is(stage: str, names: dict[str, str]):
    """SQL condition: the project's stage is `stage` (its own, else its process name's, else its
    last completed task's: engine/project_columns.py)."""
    by_name = {key: _name_stage(names, key) for key in names}
    named = [key for key, named_stage in by_name.items() if named_stage == stage]
    unnamed = [key for key, named_stage in by_name.items() if named_stage is None]
    return or_(ProcessInstance.stage == stage, and_(ProcessInstance.stage.is_(None), or_(
        ProcessInstance.process_key.in_(named),
        and_(ProcessInstance.process_key.in_(unnamed), ProcessInstance.stage_done == stage))))


def _described(session: Session, rows: list, names: dict[str, str]) -> list[Project]:
    """Projects of instance rows: their fields, next tasks and stage."""
    tasks = _next_tasks(session, [row.id for row in rows], clock.now())
    out = []
    for row in rows:
        variables = row.variables or {}
        out.append(Project(
            instance_id=row.id, process_key=row.process_key, process_name=names.get(row.process_key, row.process_key),
            code=row.business_key, unified_code=_text(variables.get("project_code")),
            name=_text(variables.get("project_name")), unit=_text(variables.get("unit")),
            category=_text(variables.get("category")),
            stage=row.stage or _name_stage(names, row.process_key) or row.stage_done, status=row.status,
            approved_budget=approved_of(variables), spend=spent_of(variables),
            year=_year(variables, row.started_at), started_at=row.started_at, started_by=row.started_by,
            ended_at=row.ended_at, variables=variables, next_tasks=tasks.get(row.id, [])))
    return out


def projects(session: Session, viewer: Viewer, filters: ProjectFilter = ProjectFilter()) -> list[Project]:
    """All the projects `viewer` may see that pass `filters`, newest first (the exports)."""
    names = _process_names(session)
    return _described(session, session.execute(_listing(viewer, filters, names)).all(), names)


@dataclass(frozen=True)
class ProjectPage:
    rows: list[Project]
    page: int
    more: bool  # a next page exists
    total: int  # how many pass the filters, up to COUNT_CAP + 1


COUNT_CAP = 1000


def page_of(session: Session, viewer: Viewer, filters: ProjectFilter, page: int, per_page: int) -> ProjectPage:
    """One page of the projects `viewer` may see that pass `filters`, newest first: read in the
    order of the root instances' started-at index, filtered in SQL, the count capped."""
    names = _process_names(session)
    query = _listing(viewer, filters, names)
    rows = session.execute(query.limit(per_page + 1).offset((page - 1) * per_page)).all()
    counted = query.with_only_columns(ProcessInstance.id).order_by(None).limit(COUNT_CAP + 1).subquery()
    total = session.scalar(select(func.count()).select_from(counted))
    return ProjectPage(_described(session, rows[:per_page], names), page, len(rows) > per_page, total)


def project(session: Session, viewer: Viewer, instance_id: int) -> Optional[Project]:
    """One project as the list shows it, or None when `viewer` may not see it."""
    row = session.get(ProcessInstance, instance_id)
    if row is not None and row.root_instance_id is not None:  # a called process: the project that runs it
        instance_id, row = row.root_instance_id, session.get(ProcessInstance, row.root_instance_id)
    if row is None:
        return None
    names = _process_names(session)
    rows = session.execute(_listing(viewer, ProjectFilter(), names).where(ProcessInstance.id == instance_id)).all()
    found = _described(session, rows, names)
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
    """Figures for the office and the leading group: stages, overdue tasks, budgets per year.

    Counted and summed by the database over the columns each step keeps on the instance row (one
    pass over an index, a few rows back whatever the number of projects); only the projects with an
    amount those columns cannot hold exactly (engine/project_columns.py) are read whole."""
    names = _process_names(session)
    shown = (ProcessInstance.super_instance_id.is_(None), _visible(viewer))
    by_stage: Counter = Counter()
    budget: dict[int, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    total = open_count = 0
    for status, key, stage, stage_done, year, count, approved, spent, amounts in session.execute(
            _figures(session, shown)):
        total += count
        if status in OPEN_STATUSES:
            open_count += count
            by_stage[stage or _name_stage(names, key) or stage_done] += count
        if amounts:
            budget[year][0] += Decimal(approved or 0) / 100
            budget[year][1] += Decimal(spent or 0) / 100
    for variables, started_at in session.execute(select(ProcessInstance.variables, ProcessInstance.started_at)
                                                 .where(ProcessInstance.odd_amounts.is_not(None), *shown)):
        approved, spent = approved_of(variables or {}), spent_of(variables or {})
        if approved is not None or spent is not None:
            year = _year(variables or {}, started_at)
            budget[year][0] += approved or 0
            budget[year][1] += spent or 0
    per_stage = [(s, by_stage[s]) for s in STAGES if by_stage[s]]
    per_stage += sorted(((s, n) for s, n in by_stage.items() if s not in STAGES and s is not None),
                        key=lambda item: item[0])
    if by_stage[None]:
        per_stage.append((None, by_stage[None]))
    overdue: Counter = Counter()
    overdue_tasks = 0
    task = aliased(UserTask)  # (the visibility check's own task rows stay the instance's)
    for groups, count in session.execute(
            select(cast(task.candidate_groups, String), func.count())
            .join(ProcessInstance, ProcessInstance.id == task.instance_id)
            .where(task.state == "ready", task.due_key < clock.now(), ProcessInstance.status.in_(OPEN_STATUSES),
                   *shown)
            .group_by(cast(task.candidate_groups, String))):
        overdue_tasks += count
        for group in json.loads(groups or "null") or ("",):  # each bureau a task is offered to
            overdue[group] += count
    return Dashboard(
        per_stage=per_stage,
        overdue_per_bureau=sorted(overdue.items(), key=lambda item: (-item[1], item[0])),
        budget_per_year=[(year, *budget[year]) for year in sorted(budget)],
        total=total, open=open_count, overdue_tasks=overdue_tasks,
        approved_total=sum((a for a, _s in budget.values()), Decimal(0)),
        spent_total=sum((s for _a, s in budget.values()), Decimal(0)))


def _figures(session: Session, shown: tuple):
    """The projects shown, counted and their amounts (in fen) summed by status, process, stage
    columns and year: a row for each such group."""
    first, last = session.execute(select(*(select(func.min(ProcessInstance.started_at) if oldest else
                                                  func.max(ProcessInstance.started_at))
                                           .where(ProcessInstance.super_instance_id.is_(None)).scalar_subquery()
                                           for oldest in (True, False)))).one()
    zone = clock.local_zone()
    first_year, last_year = ((clock.aware(moment).astimezone(zone).year if moment else 0) for moment in (first, last))
    started = case(*((ProcessInstance.started_at < datetime(year + 1, 1, 1, tzinfo=zone), year)
                     for year in range(first_year, last_year)), else_=literal(last_year)) \
        if last_year > first_year else literal(last_year)
    rows = select(ProcessInstance.status, ProcessInstance.process_key, ProcessInstance.stage,
                  ProcessInstance.stage_done, func.coalesce(ProcessInstance.plan_year, started).label("year"),
                  ProcessInstance.approved_fen, ProcessInstance.spent_fen).where(*shown).subquery()
    groups = (rows.c.status, rows.c.process_key, rows.c.stage, rows.c.stage_done, rows.c.year)
    return select(*groups, func.count(), func.sum(rows.c.approved_fen), func.sum(rows.c.spent_fen),
                  func.count(rows.c.approved_fen) + func.count(rows.c.spent_fen)).group_by(*groups)


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
        workflow = instances.stored_workflow(session, row)
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
    # investment_deferred (Art 27) | om_refused (Art 24, also a legal ground not accepted) |
    # om_exception (Art 24: the government approved building or keeping a system that does not share) |
    # evaluation (Art 29: the office's opinion on next year's investment and O&M funds, with its value in `weight`)
    kind: str
    subject: str  # the project (its code) or the system (its name)
    reason: str
    instance_id: int
    until_year: Optional[int] = None
    weight: Optional[str] = None


def plan_findings(session: Session, units: Iterable[str], plan_year: Optional[int]) -> list[PlanFinding]:
    """For the departments of a plan (or of an O&M application): the office's 暂缓安排投资计划 still in
    force for `plan_year` (supervision.bpmn, Art 27); Art 24's decisions on their systems
    (om_funding.bpmn): refusals by the rule, a legal ground the office or the government did not
    accept, exceptions the government approved; and Art 29's evaluation results of their projects
    closed in the two years before `plan_year` (project.bpmn's `apply_evaluation_results`)."""
    wanted = {str(u).strip() for u in units if str(u).strip()}
    if not wanted:
        return []
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key,
                                  ProcessInstance.variables, ProcessInstance.ended_at)
                           .where(ProcessInstance.process_key.in_(("supervision", "om_funding", "project")),
                                  ProcessInstance.status == "completed",
                                  ProcessInstance.variables["unit"].as_string().in_(sorted(wanted)))
                           .order_by(ProcessInstance.id))
    found = []
    for instance_id, key, business_key, variables, ended_at in rows:
        variables = variables or {}
        unit = str(variables.get("unit") or "")
        if unit not in wanted:
            continue
        if key == "supervision" and variables.get("penalty") == "defer_investment":
            until = _int_or_none(variables.get("deferred_until_year"))
            if plan_year is None or until is None or int(plan_year) <= until:
                found.append(PlanFinding(unit, "investment_deferred", str(variables.get("project_id") or ""),
                                         str(variables.get("penalty_opinion") or ""), instance_id, until))
        elif key == "om_funding":
            finding = _om_finding(unit, variables, business_key, instance_id)
            if finding is not None:
                found.append(finding)
        elif key == "project" and variables.get("next_year_weight"):
            closed = clock.aware(ended_at).astimezone(clock.local_zone()).year if ended_at else None
            if plan_year is None or closed is None or int(plan_year) - 2 <= closed < int(plan_year):
                found.append(PlanFinding(unit, "evaluation", f"{variables.get('project_name') or ''}（{business_key}）",
                                         str(variables.get("evaluation_assessment") or ""), instance_id,
                                         weight=str(variables["next_year_weight"])))
    return found


def _om_finding(unit: str, variables: dict, business_key, instance_id: int) -> Optional[PlanFinding]:
    """Art 24's decision in a finished O&M application, if it bears on the department's next plan."""
    decision = variables.get("om_decision") or {}
    system = str(variables.get("system_name") or business_key or "")
    if decision.get("eligibility") == "refused":
        return PlanFinding(unit, "om_refused", system, str(decision.get("eligibility_reason") or ""), instance_id)
    if decision.get("eligibility") != "legal_ground":
        return None
    if variables.get("legal_ground_review") == "reject":
        return PlanFinding(unit, "om_refused", system, str(variables.get("legal_ground_opinion") or ""), instance_id)
    if variables.get("government_decision") == "reject":
        return PlanFinding(unit, "om_refused", system, str(variables.get("government_opinion") or ""), instance_id)
    if variables.get("government_decision") == "approve":
        return PlanFinding(unit, "om_exception", system, str(variables.get("government_doc_no") or ""), instance_id)
    return None


def _int_or_none(value) -> Optional[int]:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
