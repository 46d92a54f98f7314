"""Read-side inbox queries for the officials' UI.

They read the inbox tables (`user_task`, `task_candidate`) and the instance's variables and status
columns only, never the workflow state, so listing a thousand tasks costs what listing rows costs.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Optional

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from . import clock, workdays
from .models import NO_DUE_DATE, ProcessDefinition, ProcessInstance, TaskCandidate, User, UserTask

VIEWS = ("mine", "bureau", "all")
SORTS = ("due", "created", "priority")
DUE_FILTERS = ("overdue", "soon")
SOON_WORKING_DAYS = 3
COUNT_CAP = 1000  # counts stop there ("1000+"): a count never reads more rows than that


@dataclass(frozen=True)
class InboxFilter:
    process: Optional[str] = None  # process key
    project: Optional[str] = None  # business key or project name, in part
    bureau: Optional[str] = None  # a candidate group
    due: Optional[str] = None  # overdue | soon
    text: Optional[str] = None  # task name, business key or project name, in part
    sort: str = "due"


@dataclass(frozen=True)
class InboxRow:
    task: UserTask
    variables: dict
    instance_status: str


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def total_label(self) -> str:
        return count_label(self.total)


def count_label(count: int) -> str:
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


def _capped_count(session: Session, query) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).limit(COUNT_CAP + 1).subquery()))


# --- the inbox rows: kept in step with each task --------------------------------------------------

def due_key(due_at: Optional[datetime]) -> datetime:
    return due_at if due_at is not None else NO_DUE_DATE


def candidate_rows(task_id: int, task: dict) -> list[dict]:
    """The candidate rows of a new task (`task`: its user_task values), one per group and user."""
    common = {"task_id": task_id, "ready": task["state"] == "ready", "claimed": task["assignee"] is not None,
              "created_at": task["created_at"], "due_key": task["due_key"]}
    return ([{**common, "kind": "group", "value": g} for g in dict.fromkeys(task["candidate_groups"])]
            + [{**common, "kind": "user", "value": u} for u in dict.fromkeys(task["candidate_users"])])


def candidates_of(task: UserTask, groups: list[str], users: list[str]) -> list[TaskCandidate]:
    """New candidate rows of a task whose candidates change (it is ready)."""
    values = {"ready": True, "claimed": task.assignee is not None, "created_at": task.created_at,
              "due_key": task.due_key}
    return ([TaskCandidate(kind="group", value=g, **values) for g in dict.fromkeys(groups)]
            + [TaskCandidate(kind="user", value=u, **values) for u in dict.fromkeys(users)])


def mark_closed(session: Session, task_ids: list[int]) -> None:
    """Tasks completed or cancelled leave their candidates' inboxes."""
    if task_ids:  # (Core: no candidate row is loaded as an object, and the ORM's update costs more)
        session.connection().execute(_CLOSE, {"task_ids": task_ids})


_CLOSE = update(TaskCandidate.__table__).where(TaskCandidate.__table__.c.task_id.in_(bindparam("task_ids", expanding=True))) \
    .values(ready=False)


def mark_claimed(session: Session, task: UserTask) -> None:
    """A task claimed (or given back) leaves (or re-enters) its bureaus' unclaimed inbox."""
    session.execute(update(TaskCandidate).where(TaskCandidate.task_id == task.id)
                    .values(claimed=task.assignee is not None).execution_options(synchronize_session=False))


# --- reading -------------------------------------------------------------------------------------

def open_count(session: Session, group: str, *, unclaimed: bool = True) -> int:
    """How many ready tasks are offered to `group` (unclaimed ones only, or all): a count of that
    group's inbox rows, read from their index alone."""
    query = select(func.count()).select_from(TaskCandidate).where(
        TaskCandidate.kind == "group", TaskCandidate.value == group, TaskCandidate.ready.is_(True))
    return session.scalar(query.where(TaskCandidate.claimed.is_(False)) if unclaimed else query)


def _offered_to(user: str, groups: list[str]):
    return UserTask.id.in_(select(TaskCandidate.task_id).where(or_(
        and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(groups or [])),
        and_(TaskCandidate.kind == "user", TaskCandidate.value == user))))


def _view_condition(view: str, user: str, groups: list[str]):
    if view == "mine":  # theirs, and those of colleagues away who named them their substitute (委托)
        away = select(User.name).where(User.substitute == user, User.away_until >= clock.today())
        return or_(UserTask.assignee == user, UserTask.assignee.in_(away))
    if view == "bureau":
        return and_(UserTask.assignee.is_(None), _offered_to(user, groups))
    if view == "all":
        return True
    raise ValueError(f"unknown inbox view {view!r}")


def soon_limit(now: datetime) -> datetime:
    """The end (UTC) of the last working day of 'due soon': today and the next three working days."""
    today = now.astimezone(clock.local_zone()).date()
    last = workdays.add_working_days(today, SOON_WORKING_DAYS)
    end = datetime.combine(last, time(23, 59, 59, 999999), tzinfo=clock.local_zone())
    return end.astimezone(timezone.utc)


def _project_name():
    return ProcessInstance.variables["project_name"].as_string()


def _unified_code():
    return ProcessInstance.variables["project_code"].as_string()


def list_page(session: Session, view: str, *, user: str, groups: list[str], filters: InboxFilter = InboxFilter(),
              page: int = 1, per_page: int = 20) -> InboxPage:
    """One page of ready tasks of an inbox view (mine, bureau or all), filtered and sorted.

    Each view reads an index in its order: "all" the ready tasks by due date, "bureau" each of the
    user's candidate rows by due date, merged; the total is counted up to COUNT_CAP."""
    page = max(1, page)
    if view == "bureau" and filters == InboxFilter(sort="due"):
        return _bureau_page(session, user, groups, page, per_page)
    now = clock.now()
    conditions = [UserTask.state == "ready", _view_condition(view, user, groups)]
    if filters.process:
        conditions.append(UserTask.process_key == filters.process)
    if filters.bureau:
        conditions.append(UserTask.id.in_(select(TaskCandidate.task_id).where(
            TaskCandidate.kind == "group", TaskCandidate.value == filters.bureau)))
    if filters.project:
        conditions.append(or_(UserTask.business_key.icontains(filters.project, autoescape=True),
                              _project_name().icontains(filters.project, autoescape=True),
                              _unified_code().icontains(filters.project, autoescape=True)))
    if filters.text:
        conditions.append(or_(UserTask.name.icontains(filters.text, autoescape=True),
                              UserTask.business_key.icontains(filters.text, autoescape=True),
                              _project_name().icontains(filters.text, autoescape=True),
                              _unified_code().icontains(filters.text, autoescape=True)))
    if filters.due == "overdue":
        conditions.append(UserTask.due_at < now)
    elif filters.due == "soon":
        conditions.append(and_(UserTask.due_at >= now, UserTask.due_at <= soon_limit(now)))
    base = (select(UserTask, ProcessInstance.variables, ProcessInstance.status)
            .join(ProcessInstance, ProcessInstance.id == UserTask.instance_id).where(*conditions))
    counted = select(UserTask.id).where(*conditions)
    if filters.project or filters.text:  # they read the project name from the instance
        counted = counted.join(ProcessInstance, ProcessInstance.id == UserTask.instance_id)
    order = {
        "due": (UserTask.due_key, UserTask.created_at, UserTask.id),
        "created": (UserTask.created_at.desc(), UserTask.id.desc()),
        "priority": (UserTask.priority.desc(), UserTask.due_key, UserTask.id),
    }[filters.sort if filters.sort in SORTS else "due"]
    rows = session.execute(base.order_by(*order).limit(per_page).offset((page - 1) * per_page))
    return InboxPage([InboxRow(task, variables or {}, status) for task, variables, status in rows],
                     _capped_count(session, counted), page, per_page)


def _inbox_rows(user: str, groups: list[str]) -> list:
    """The candidate rows of a user's unclaimed inbox, one index range each: per bureau, and the user's own."""
    keys = [("group", g) for g in dict.fromkeys(groups)] + [("user", user)]
    return [and_(TaskCandidate.kind == kind, TaskCandidate.value == value, TaskCandidate.ready.is_(True),
                 TaskCandidate.claimed.is_(False)) for kind, value in keys]


def _bureau_page(session: Session, user: str, groups: list[str], page: int, per_page: int) -> InboxPage:
    """Unclaimed tasks offered to the user or their bureaus, by due date: each inbox range read in
    order up to the page's end, merged (a task offered twice shown once)."""
    end = page * per_page
    runs = [session.execute(select(TaskCandidate.due_key, TaskCandidate.created_at, TaskCandidate.task_id)
                            .where(condition).order_by(TaskCandidate.due_key, TaskCandidate.created_at,
                                                       TaskCandidate.task_id).limit(end)).all()
            for condition in _inbox_rows(user, groups)]
    ids: list[int] = []
    for _due, _created, task_id in heapq.merge(*runs):
        if task_id not in ids:
            ids.append(task_id)
    ids = ids[end - per_page:end]
    found = {task.id: (task, variables, status) for task, variables, status in session.execute(
        select(UserTask, ProcessInstance.variables, ProcessInstance.status)
        .join(ProcessInstance, ProcessInstance.id == UserTask.instance_id).where(UserTask.id.in_(ids)))}
    rows = [InboxRow(found[i][0], found[i][1] or {}, found[i][2]) for i in ids if i in found]
    return InboxPage(rows, _bureau_count(session, user, groups), page, per_page)


def _bureau_count(session: Session, user: str, groups: list[str]) -> int:
    return _capped_count(session, select(TaskCandidate.task_id).where(or_(*_inbox_rows(user, groups))).distinct())


def counts(session: Session, *, user: str, groups: list[str], see_all: bool) -> dict[str, str]:
    """How many ready tasks each inbox view holds (for the navigation), up to COUNT_CAP."""
    def count(view):
        return _capped_count(session, select(UserTask.id).where(UserTask.state == "ready",
                                                                _view_condition(view, user, groups)))
    result = {"mine": count_label(count("mine")), "bureau": count_label(_bureau_count(session, user, groups))}
    if see_all:
        result["all"] = count_label(count("all"))
    return result


def process_choices(session: Session) -> list[tuple[str, str]]:
    """(key, name) of each process that has ready tasks, for the process filter."""
    deployed = session.scalars(select(ProcessDefinition.key).distinct())
    keys = sorted(key for key in deployed if session.scalar(  # one index probe per process
        select(UserTask.id).where(UserTask.state == "ready", UserTask.process_key == key).limit(1)) is not None)
    names = {}
    for key, name in session.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                                     .where(ProcessDefinition.key.in_(keys))
                                     .order_by(ProcessDefinition.version)):
        names[key] = name or key
    return [(key, names.get(key, key)) for key in keys]
