"""Read-side inbox queries for the officials' UI.

They read the inbox tables (`user_task`, `task_candidate`) and the instance's variables and status
columns only, never the workflow state, so listing a thousand tasks costs what listing rows costs.
"""
from __future__ import annotations

import functools
import heapq
import itertools
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Optional

from sqlalchemy import Row, and_, bindparam, case, delete, event, func, or_, select, union, update
from sqlalchemy.orm import Session

from . import clock, stepsql, workdays
from .models import NO_DUE_DATE, InboxCount, ProcessDefinition, ProcessInstance, TaskCandidate, User, UserTask

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
    task: Row  # the columns of the task that lists show (`_ROW_COLUMNS`), named as UserTask's attributes
    project_name: object  # the instance's variable, if set
    instance_status: str


def _inbox_row(row: Row) -> InboxRow:
    return InboxRow(row, row.project_name, row.instance_status)


_ROW_COLUMNS = (UserTask.id, UserTask.name, UserTask.element_id, UserTask.process_key, UserTask.business_key,
                UserTask.candidate_groups, UserTask.assignee, UserTask.priority, UserTask.created_at, UserTask.due_at,
                UserTask.called_instance_id,
                ProcessInstance.variables["project_name"].label("project_name"),  # not all the variables
                ProcessInstance.status.label("instance_status"))


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int  # up to COUNT_CAP + 1
    page: int
    per_page: int
    more: bool  # tasks follow this page's

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def pages_label(self) -> str:
        """How many pages: beyond the counted ones, as many as the user has reached, and more."""
        return f"{max(self.page, self.pages - 1)}+" if self.total > COUNT_CAP else str(self.pages)

    @property
    def total_label(self) -> str:
        return count_label(self.total)


def count_label(count: int) -> str:
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


# --- the inbox rows: kept in step with each task --------------------------------------------------

def due_key(due_at: Optional[datetime]) -> datetime:
    return due_at if due_at is not None else NO_DUE_DATE


def candidate_rows(task_id: int, task: dict) -> list[dict]:
    """The candidate rows of a new task (`task`: its user_task values), one per group and user."""
    common = {"task_id": task_id, "ready": task["state"] == "ready", "claimed": task["assignee"] is not None,
              "created_at": task["created_at"], "due_key": task["due_key"]}
    return ([{**common, "kind": "group", "value": g} for g in dict.fromkeys(task["candidate_groups"])]
            + [{**common, "kind": "user", "value": u} for u in dict.fromkeys(task["candidate_users"])])


def add_candidates(session: Session, rows: list[dict]) -> None:
    """Store the candidate rows of a new task (`candidate_rows`) and count it in its groups' inboxes."""
    if rows:
        _INSERT.send(session.connection(), rows)
        _count(session, [(r["value"], 1, 0 if r["claimed"] else 1)
                         for r in rows if r["kind"] == "group" and r["ready"]])


def replace_candidates(session: Session, task: UserTask, groups: list[str], users: list[str]) -> None:
    """Offer a ready task to other candidates: new candidate rows, the groups' counts moved."""
    unclaimed = 0 if task.assignee is not None else 1
    _count(session, [(c.value, -1, -unclaimed) for c in task.candidates if c.kind == "group" and c.ready])
    values = {"ready": True, "claimed": task.assignee is not None, "created_at": task.created_at,
              "due_key": task.due_key}
    task.candidates = ([TaskCandidate(kind="group", value=g, **values) for g in dict.fromkeys(groups)]
                       + [TaskCandidate(kind="user", value=u, **values) for u in dict.fromkeys(users)])
    _count(session, [(g, 1, unclaimed) for g in dict.fromkeys(groups)])


def mark_closed(session: Session, task_ids: list[int]) -> None:
    """Tasks completed or cancelled leave their candidates' inboxes; the groups they leave are
    counted from the answer at the commit (on PostgreSQL it comes with the next statement that waits)."""
    connection = session.connection()
    closing = session.info.setdefault(_CLOSING, [])
    for task_id in task_ids:  # (plain SQL: no candidate row is loaded as an object; mostly one task)
        closing.append(_CLOSE.later(connection, {"task_id": task_id}))


def _count_closed(session: Session) -> None:
    for answer in session.info.pop(_CLOSING, ()):
        _count(session, [(value, -1, 0 if claimed else -1) for kind, value, claimed in answer() if kind == "group"])


_CANDIDATES = TaskCandidate.__table__
_INSERT = stepsql.insert(_CANDIDATES, ["task_id", "kind", "value", "ready", "claimed", "created_at", "due_key"])
_CLOSE = stepsql.Statement("UPDATE task_candidate SET ready = FALSE WHERE task_id = :task_id AND ready = TRUE "
                           "RETURNING kind, value, claimed")


def mark_claimed(session: Session, task: UserTask) -> None:
    """A task claimed (or given back) leaves (or re-enters) its bureaus' unclaimed inbox."""
    claimed = task.assignee is not None
    moved = session.execute(update(TaskCandidate).where(TaskCandidate.task_id == task.id,
                                                        TaskCandidate.claimed.is_(not claimed))
                            .values(claimed=claimed).returning(TaskCandidate.kind, TaskCandidate.value,
                                                               TaskCandidate.ready)
                            .execution_options(synchronize_session=False))
    _count(session, [(value, 0, -1 if claimed else 1) for kind, value, ready in moved if kind == "group" and ready])


# --- the groups' counts: changes gathered per transaction, inserted at its commit -----------------

_PENDING, _AT_SAVEPOINT = "dalad_inbox_counts", "dalad_inbox_counts_at_savepoint"
_CLOSING = "dalad_inbox_closing"  # answers of mark_closed not read yet
FOLD_EVERY = 64  # a committing writer folds the group it changes every this many changes it inserts
_inserted = itertools.count(1)


def _count(session: Session, changes: list[tuple[str, int, int]]) -> None:
    pending = session.info.setdefault(_PENDING, {})
    for group, ready, unclaimed in changes:
        was = pending.get(group, (0, 0))
        pending[group] = (was[0] + ready, was[1] + unclaimed)


@event.listens_for(Session, "after_transaction_create")
def _remember_counts_at_savepoint(session, transaction):
    if transaction.nested:
        session.info.setdefault(_AT_SAVEPOINT, {})[transaction] = (dict(session.info.get(_PENDING, {})),
                                                                   list(session.info.get(_CLOSING, ())))


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_counts(session, transaction):
    at_savepoint = session.info.get(_AT_SAVEPOINT, {})
    if transaction.nested and transaction in at_savepoint:
        session.info[_PENDING], session.info[_CLOSING] = at_savepoint.pop(transaction)
    elif not transaction.nested:
        session.info.pop(_PENDING, None)
        session.info.pop(_CLOSING, None)
        session.info.pop(_AT_SAVEPOINT, None)


@event.listens_for(Session, "before_commit", insert=True)
def _insert_counts(session):
    """At the outermost commit: one row of changes per group touched (none where they cancel
    out, as when a completion closes a group's task and opens the next for the same group).
    First of the commit's hooks: before the system chain's lock (engine.history), held briefly."""
    if session.in_nested_transaction():
        return
    session.info.pop(_AT_SAVEPOINT, None)
    _count_closed(session)
    changes = [{"candidate_group": group, "ready": ready, "unclaimed": unclaimed}
               for group, (ready, unclaimed) in sorted(session.info.pop(_PENDING, {}).items()) if ready or unclaimed]
    if not changes:
        return
    _INSERT_COUNTS.send(session.connection(), changes)
    folds = [change["candidate_group"] for change in changes if next(_inserted) % FOLD_EVERY == 0]
    for group in folds:  # in name order, before the commit's other locks: folders never wait in a cycle
        fold_counts(session, group)


_INSERT_COUNTS = stepsql.insert(InboxCount.__table__, ["candidate_group", "ready", "unclaimed"])


def fold_counts(session: Session, group: str) -> None:
    """Replace a group's rows of changes by one row of their sums.

    Safe beside concurrent writers on PostgreSQL (READ COMMITTED): rows inserted by transactions
    not yet committed are neither deleted nor summed, and a concurrent fold of the same group
    waits for this one and then skips the rows it deleted, so every change is summed once."""
    folded = session.execute(delete(InboxCount).where(InboxCount.candidate_group == group)
                             .returning(InboxCount.ready, InboxCount.unclaimed)
                             .execution_options(synchronize_session=False)).all()
    ready, unclaimed = sum(r for r, _u in folded), sum(u for _r, u in folded)
    if ready or unclaimed:
        _INSERT_COUNTS.send(session.connection(), {"candidate_group": group, "ready": ready, "unclaimed": unclaimed})


# --- reading -------------------------------------------------------------------------------------

def open_count(session: Session, group: str, *, unclaimed: bool = True) -> int:
    """How many ready tasks are offered to `group` (unclaimed ones only, or all): the sum of the
    group's rows of changes (`InboxCount`), read from their index alone."""
    column = InboxCount.unclaimed if unclaimed else InboxCount.ready
    return session.scalar(select(func.coalesce(func.sum(column), 0)).where(InboxCount.candidate_group == group))


def counted_by_rows(session: Session) -> dict[str, tuple[int, int]]:
    """(ready, unclaimed) per group as the candidate rows give them: what the counts must say."""
    rows = session.execute(select(TaskCandidate.value, func.count(),
                                  func.sum(case((TaskCandidate.claimed.is_(False), 1), else_=0)))
                           .where(TaskCandidate.kind == "group", TaskCandidate.ready.is_(True))
                           .group_by(TaskCandidate.value))
    return {group: (ready, unclaimed) for group, ready, unclaimed in rows}


def counted(session: Session) -> dict[str, tuple[int, int]]:
    """(ready, unclaimed) per group as the counts say (groups with none left out)."""
    rows = session.execute(select(InboxCount.candidate_group, func.sum(InboxCount.ready),
                                  func.sum(InboxCount.unclaimed)).group_by(InboxCount.candidate_group))
    return {group: (ready, unclaimed) for group, ready, unclaimed in rows if ready or unclaimed}


# The pages' statements are built once (per shape of filters) with their values as parameters:
# building and compiling one per request cost more than the database takes to answer it.

def _offered_to():
    """Offered to the bound `user` or one of the bound `groups`."""
    return UserTask.id.in_(select(TaskCandidate.task_id).where(or_(
        and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(bindparam("groups", expanding=True))),
        and_(TaskCandidate.kind == "user", TaskCandidate.value == bindparam("user")))))


def _view_condition(view: str):
    """A view's tasks; its values bound by `_view_values`."""
    if view == "mine":  # theirs, and those of colleagues away who named them their substitute (委托)
        return UserTask.assignee.in_(bindparam("names", expanding=True))  # one index range per name
    if view == "bureau":
        return and_(UserTask.assignee.is_(None), _offered_to())
    if view == "all":
        return True
    raise ValueError(f"unknown inbox view {view!r}")


_AWAY = select(User.name).where(User.substitute == bindparam("user"), User.away_until >= bindparam("today"))


def _view_values(session: Session, view: str, user: str, groups: list[str]) -> dict:
    if view == "mine":
        return {"names": [user, *session.connection().scalars(_AWAY, {"user": user, "today": clock.today()})]}
    if view == "bureau":
        return {"user": user, "groups": list(groups or [])}
    return {}


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


def _contains(name: str, *columns):
    """Any of `columns` holds the bound text `name` (escaped by `_like_text`), case aside."""
    return or_(*(column.icontains(bindparam(name), escape="/") for column in columns))


def _like_text(text: str) -> str:
    """`text` as LIKE reads it literally, with `/` as the escape (as SQLAlchemy's autoescape)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


_ORDERS = {
    "due": (UserTask.due_key, UserTask.created_at, UserTask.id),
    "created": (UserTask.created_at.desc(), UserTask.id.desc()),
    "priority": (UserTask.priority.desc(), UserTask.due_key, UserTask.id),
}


@functools.cache  # a few hundred shapes at most: 3 views, 4 filters present or not, 3 due, 3 sorts
def _page_statements(view: str, process: bool, bureau: bool, project: bool, text: bool, due: Optional[str],
                     sort: str):
    """A page of a view with these filters present, and its capped count."""
    conditions = [UserTask.state == "ready", _view_condition(view)]
    if process:
        conditions.append(UserTask.process_key == bindparam("process"))
    if bureau:
        conditions.append(UserTask.id.in_(select(TaskCandidate.task_id).where(
            TaskCandidate.kind == "group", TaskCandidate.value == bindparam("bureau"))))
    if project:
        conditions.append(_contains("project", UserTask.business_key, _project_name(), _unified_code()))
    if text:
        conditions.append(_contains("text", UserTask.name, UserTask.business_key, _project_name(), _unified_code()))
    if due == "overdue":
        conditions.append(UserTask.due_at < bindparam("now"))
    elif due == "soon":
        conditions.append(and_(UserTask.due_at >= bindparam("now"), UserTask.due_at <= bindparam("soon")))
    rows = (select(*_ROW_COLUMNS).join(ProcessInstance, ProcessInstance.id == UserTask.instance_id).where(*conditions)
            .order_by(*_ORDERS[sort]).limit(bindparam("limit")).offset(bindparam("offset")))
    counted = select(UserTask.id).where(*conditions)
    if project or text:  # they read the project name from the instance
        counted = counted.join(ProcessInstance, ProcessInstance.id == UserTask.instance_id)
    return rows, _capped(counted)


def _capped(query):
    """How many rows `query` gives, up to the bound `cap` (`_cap()`)."""
    return select(func.count()).select_from(query.limit(bindparam("cap")).subquery())


def _cap() -> dict:
    return {"cap": COUNT_CAP + 1}


def list_page(session: Session, view: str, *, user: str, groups: list[str], filters: InboxFilter = InboxFilter(),
              page: int = 1, per_page: int = 20) -> InboxPage:
    """One page of ready tasks of an inbox view (mine, bureau or all), filtered and sorted.

    Each view reads an index in its order: "all" the ready tasks by due date, "bureau" each of the
    user's candidate rows by due date, merged; the total is counted up to COUNT_CAP."""
    page = max(1, page)
    if view == "bureau" and filters == InboxFilter(sort="due"):
        return _bureau_page(session, user, groups, page, per_page)
    rows_query, count_query = _page_statements(view, bool(filters.process), bool(filters.bureau),
                                               bool(filters.project), bool(filters.text), filters.due,
                                               filters.sort if filters.sort in SORTS else "due")
    now = clock.now()
    values = {**_view_values(session, view, user, groups), "process": filters.process, "bureau": filters.bureau,
              "project": _like_text(filters.project or ""), "text": _like_text(filters.text or ""),
              "now": now, "soon": soon_limit(now) if filters.due == "soon" else None, **_cap()}
    connection = session.connection()
    rows = connection.execute(rows_query, {**values, "limit": per_page + 1, "offset": (page - 1) * per_page}).all()
    return InboxPage([_inbox_row(row) for row in rows[:per_page]], connection.scalar(count_query, values),
                     page, per_page, len(rows) > per_page)


def _inbox_keys(user: str, groups: list[str]) -> list[tuple[str, str]]:
    """The user's unclaimed inbox ranges: per bureau, and the user's own."""
    return [("group", g) for g in dict.fromkeys(groups)] + [("user", user)]


def _inbox_range(n: int = 0):
    """The candidate rows of one inbox range (kind and value bound as range_kindN, range_valueN): one index range."""
    return and_(TaskCandidate.kind == bindparam(f"range_kind{n}"), TaskCandidate.value == bindparam(f"range_value{n}"),
                TaskCandidate.ready, TaskCandidate.claimed.is_(False))  # (as its index says)


_RANGE = (select(TaskCandidate.due_key, TaskCandidate.created_at, TaskCandidate.task_id).where(_inbox_range())
          .order_by(TaskCandidate.due_key, TaskCandidate.created_at, TaskCandidate.task_id).limit(bindparam("limit")))
_ROWS = (select(*_ROW_COLUMNS).join(ProcessInstance, ProcessInstance.id == UserTask.instance_id)
         .where(UserTask.id.in_(bindparam("ids", expanding=True))))


def _bureau_page(session: Session, user: str, groups: list[str], page: int, per_page: int) -> InboxPage:
    """Unclaimed tasks offered to the user or their bureaus, by due date: each inbox range read in
    order up to the page's end, merged (a task offered twice shown once)."""
    end = page * per_page
    connection = session.connection()
    runs = [connection.execute(_RANGE, {"range_kind0": kind, "range_value0": value, "limit": end + 1}).all()
            for kind, value in _inbox_keys(user, groups)]
    ids = list(dict.fromkeys(task_id for _due, _created, task_id in heapq.merge(*runs)))  # in order, each once
    more, ids = len(ids) > end, ids[end - per_page:end]
    found = {row.id: row for row in connection.execute(_ROWS, {"ids": ids})}
    rows = [_inbox_row(found[i]) for i in ids if i in found]
    return InboxPage(rows, _bureau_count(session, user, groups), page, per_page, more)


def _bureau_count(session: Session, user: str, groups: list[str]) -> int:
    """Distinct tasks of the user's inbox ranges, up to COUNT_CAP: each range counted up to the cap
    first (if one reaches it, so does the union; if only one holds tasks, it is the union); else
    the union of the ranges, each read up to the cap (a task may be offered in several)."""
    keys = _inbox_keys(user, groups)
    values = _cap()
    for n, (kind, value) in enumerate(keys):
        values[f"range_kind{n}"], values[f"range_value{n}"] = kind, value
    connection = session.connection()
    counts = connection.execute(_range_counts_statement(len(keys)), values).one()
    if max(counts) > COUNT_CAP or sum(1 for count in counts if count) <= 1:
        return max(counts)
    return connection.scalar(_union_count_statement(len(keys)), values)


def _capped_range(n: int):
    return select(TaskCandidate.task_id).where(_inbox_range(n)).limit(bindparam("cap")).subquery()


@functools.lru_cache(maxsize=64)
def _range_counts_statement(ranges: int):
    return select(*(select(func.count()).select_from(_capped_range(n)).scalar_subquery() for n in range(ranges)))


@functools.lru_cache(maxsize=64)
def _union_count_statement(ranges: int):
    return _capped(select(union(*(select(_capped_range(n).c.task_id) for n in range(ranges))).subquery()))


_VIEW_COUNTS = {view: _capped(select(UserTask.id).where(UserTask.state == "ready", _view_condition(view)))
                for view in ("mine", "all")}


def counts(session: Session, *, user: str, groups: list[str], see_all: bool,
           known: Optional[dict[str, int]] = None) -> dict[str, str]:
    """How many ready tasks each inbox view holds (for the navigation), up to COUNT_CAP; `known`:
    views counted already (the unfiltered page being shown)."""
    def count(view):
        if known and view in known:
            return known[view]
        if view == "bureau":
            return _bureau_count(session, user, groups)
        return session.connection().scalar(_VIEW_COUNTS[view], {**_view_values(session, view, user, groups), **_cap()})
    return {view: count_label(count(view)) for view in VIEWS if view != "all" or see_all}


_PROCESS_NAMES = select(ProcessDefinition.version, ProcessDefinition.key, ProcessDefinition.name).where(
    select(UserTask.id).where(UserTask.state == "ready", UserTask.process_key == ProcessDefinition.key).exists())


def process_choices(session: Session) -> list[tuple[str, str]]:
    """(key, name) of each process that has ready tasks (one index probe per deployed version), for
    the process filter: the name of its latest version."""
    names = {}
    for _version, key, name in sorted(session.connection().execute(_PROCESS_NAMES)):
        names[key] = name or key
    return sorted(names.items())
