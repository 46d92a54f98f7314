"""Read-side inbox queries for the officials' UI.

They read the inbox tables (`user_task`, `task_candidate`) and the instance's variables and status
columns only, never the workflow state, so listing a thousand tasks costs what listing rows costs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Optional

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from . import clock, workdays
from .models import ProcessDefinition, ProcessInstance, TaskCandidate, User, UserTask

VIEWS = ("mine", "bureau", "all")
SORTS = ("due", "created", "priority")
DUE_FILTERS = ("overdue", "soon")
SOON_WORKING_DAYS = 3


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
    """One page of ready tasks of an inbox view (mine, bureau or all), filtered and sorted."""
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
    total = session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
    order = {
        "due": (UserTask.due_at.is_(None), UserTask.due_at, UserTask.created_at, UserTask.id),
        "created": (UserTask.created_at.desc(), UserTask.id.desc()),
        "priority": (UserTask.priority.desc(), UserTask.due_at.is_(None), UserTask.due_at, UserTask.id),
    }[filters.sort if filters.sort in SORTS else "due"]
    page = max(1, page)
    rows = session.execute(base.order_by(*order).limit(per_page).offset((page - 1) * per_page))
    return InboxPage([InboxRow(task, variables or {}, status) for task, variables, status in rows],
                     total, page, per_page)


def counts(session: Session, *, user: str, groups: list[str], see_all: bool) -> dict[str, int]:
    """How many ready tasks each inbox view holds (for the navigation)."""
    def count(view):
        return session.scalar(select(func.count(UserTask.id)).where(
            UserTask.state == "ready", _view_condition(view, user, groups)))
    result = {"mine": count("mine"), "bureau": count("bureau")}
    if see_all:
        result["all"] = count("all")
    return result


def process_choices(session: Session) -> list[tuple[str, str]]:
    """(key, name) of each process that has ready tasks, for the process filter."""
    keys = sorted(session.scalars(select(UserTask.process_key).where(UserTask.state == "ready").distinct()))
    names = {}
    for key, name in session.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                                     .where(ProcessDefinition.key.in_(keys))
                                     .order_by(ProcessDefinition.version)):
        names[key] = name or key
    return [(key, names.get(key, key)) for key in keys]
