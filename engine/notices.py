"""In-app notices: reminders (催办) the office sends about overdue tasks, and the tasks falling due.

A reminder goes to whoever holds the task: its assignee, else every active official who may
claim it. It is recorded in the instance's history (`task_reminded`, under the sender's name).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from . import clock, history, inbox, instances, services
from .errors import AccessDenied, InvalidInput, TaskNotReady
from .models import Notice, User, UserBureau, UserTask

MAX_TEXT = 500


def remind(session: Session, task_id: int, *, actor: str, text: str) -> list[str]:
    """Send a reminder about an overdue ready task; return the names it went to."""
    text = (text or "").strip()[:MAX_TEXT]
    task = session.get(UserTask, task_id)
    if task is None or task.state != "ready":
        raise TaskNotReady(f"task {task_id} is not waiting to be done")
    if task.due_at is None or task.due_at >= clock.now():
        raise InvalidInput(f"task {task_id} is not overdue: a reminder is for overdue tasks")
    recipients = holders(session, task)
    if not recipients:
        raise AccessDenied(f"nobody may work on task {task_id} to be reminded")
    now = clock.now()
    session.add_all(Notice(user_name=name, task_id=task.id, text=text, created_by=actor, created_at=now)
                    for name in recipients)
    row = instances.lock_instance(session, task.instance_id)
    history.record(session, row, [history.Event("task_reminded", actor=actor, element_id=task.element_id,
                                                data={"task": task.id, "to": recipients, "text": text})],
                   services._current_digest(session, row))
    return recipients


def holders(session: Session, task: UserTask) -> list[str]:
    """Who holds a task: its assignee, else the active officials it is offered to."""
    if task.assignee:
        return [task.assignee]
    offered = select(UserBureau.user_id).where(UserBureau.bureau_id.in_(list(task.candidate_groups or []) or [""]))
    return list(session.scalars(select(User.name).where(User.active.is_(True), or_(
        User.id.in_(offered), User.name.in_(list(task.candidate_users or []) or [""]))).order_by(User.name)))


@dataclass
class Notices:
    reminders: list[tuple[Notice, UserTask]]
    due_soon: list  # rows of the tasks (`inbox.InboxRow.task`)


def of_user(session: Session, user: str, groups: list[str]) -> Notices:
    """An official's reminders about tasks still open (newest first) and their tasks falling due."""
    reminders = list(session.execute(
        select(Notice, UserTask).join(UserTask, UserTask.id == Notice.task_id)
        .where(Notice.user_name == user, UserTask.state == "ready")
        .order_by(Notice.created_at.desc(), Notice.id.desc()).limit(100)))
    soon = inbox.list_page(session, "bureau", user=user, groups=groups,
                           filters=inbox.InboxFilter(due="soon"), per_page=50).rows
    mine = inbox.list_page(session, "mine", user=user, groups=groups,
                           filters=inbox.InboxFilter(due="soon"), per_page=50).rows
    due = {row.task.id: row.task for row in [*mine, *soon]}
    return Notices(reminders, sorted(due.values(), key=lambda t: t.due_at))


def unread_count(session: Session, user: str) -> int:
    return session.connection().scalar(_UNREAD, {"user": user}) or 0


_UNREAD = select(func.count(Notice.id)).where(Notice.user_name == bindparam("user"), Notice.read_at.is_(None))


def mark_read(session: Session, user: str, now: Optional[object] = None) -> None:
    session.execute(update(Notice).where(Notice.user_name == user, Notice.read_at.is_(None))
                    .values(read_at=now or clock.now()))
