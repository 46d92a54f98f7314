"""Notices: the office's reminders (催办) about overdue tasks, and each official's list of
reminders and tasks falling due (“提醒”; the menu's count of unread reminders is web/inbox.py's
`navigation`)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import notices
from engine.errors import EngineError
from engine.models import UserTask

from . import database, security
from .auth import bureau_names
from .tasks import engine_error, may_see

bp = security.protect(Blueprint("notices", __name__))
REMINDING_BUREAU = "office"  # 领导小组办公室 schedules every bureau's work (Art 9)


def may_remind(user) -> bool:
    return REMINDING_BUREAU in user.groups


@bp.post("/tasks/<int:task_id>/remind")
def remind(task_id: int):
    """The office reminds whoever holds an overdue task."""
    user = g.current_user
    if not may_remind(user):
        abort(403)
    with database().write() as session:
        task = session.get(UserTask, task_id)
        if task is None:
            abort(404)
        if not may_see(task, user):
            abort(403)
        sent_to = notices.remind(session, task_id, actor=user.name, text=request.form.get("text") or "")
    flash(_("已催办，提醒已发给 %(n)s 人。", n=len(sent_to)), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.get("/notices")
def index():
    """The official's reminders and tasks falling due; opening the list reads the reminders."""
    user = g.current_user
    with database().write() as session:
        found = notices.of_user(session, user.name, user.groups)
        names = bureau_names(session)
        notices.mark_read(session, user.name)
        return render_template("notices.html", reminders=found.reminders, due_soon=found.due_soon, bureaus=names)


bp.register_error_handler(EngineError, engine_error)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(may_remind=may_remind)
