"""The inbox: my tasks, my bureaus' unclaimed tasks, and (for the office) every open task."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import clock, inbox as inbox_queries, notices, workdays
from engine.inbox import InboxFilter

from . import N_, database, security
from .auth import bureau_names
from .tasks import display_names

bp = security.protect(Blueprint("inbox", __name__))
PER_PAGE = 20
VIEW_TITLES = {"mine": N_("我的待办"), "bureau": N_("部门待办"), "all": N_("全部待办")}


@bp.get("/")
def home():
    """Where work is: 我的待办, or 部门待办 when nothing is assigned to the official yet."""
    user = g.current_user
    with database().read() as session:
        counts = inbox_queries.counts(session, user=user.name, groups=user.groups, see_all=False)
    view = "bureau" if counts["mine"] == "0" and counts["bureau"] != "0" else "mine"  # counts are labels
    return redirect(url_for("inbox.index", view=view))


@bp.get("/inbox/", defaults={"view": "mine"})
@bp.get("/inbox/<view>")
def index(view: str):
    """A list of ready tasks, filtered, sorted and paged from the query string."""
    user = g.current_user
    if view not in inbox_queries.VIEWS:
        abort(404)
    if view == "all" and not user.sees_all_tasks:
        abort(403)
    filters = filters_from(request.args)
    page_number = _int(request.args.get("page"), 1)
    with database().read() as session:
        page = inbox_queries.list_page(session, view, user=user.name, groups=user.groups, filters=filters,
                                       page=page_number, per_page=PER_PAGE)
        processes = inbox_queries.process_choices(session)
        names = bureau_names(session)
        people = display_names(session, {row.task.assignee for row in page.rows})
        unfiltered = filters == InboxFilter(sort=filters.sort)  # then the page's total is the view's count
        g.navigation = navigation(session, user, known={view: page.total} if unfiltered else None)
    return render_template("inbox.html", view=view, title=_(VIEW_TITLES[view]), page=page, filters=filters,
                           processes=processes, process_names=dict(processes), bureaus=names, people=people,
                           query_args={k: v for k, v in request.args.items() if k != "page" and v})


def filters_from(args) -> InboxFilter:
    due = args.get("due")
    sort = args.get("sort") or "due"
    return InboxFilter(process=_text(args.get("process")), project=_text(args.get("project")),
                       bureau=_text(args.get("bureau")), text=_text(args.get("q")),
                       due=due if due in inbox_queries.DUE_FILTERS else None,
                       sort=sort if sort in inbox_queries.SORTS else "due")


def _text(value: Optional[str]) -> Optional[str]:
    value = (value or "").strip()[:200]
    return value or None


def _int(value: Optional[str], default: int) -> int:
    try:
        return max(1, min(int(value or default), 100_000))
    except ValueError:
        return default


def due_state(due_at: Optional[datetime]) -> tuple[str, str]:
    """(css class, text) of a deadline counted in official working days: 剩余 N 个工作日 / 逾期 N 个工作日."""
    if due_at is None:
        return "none", ""
    now = clock.now()
    today = clock.today()
    due_day = clock.aware(due_at).astimezone(clock.local_zone()).date()
    if due_at < now:
        late = workdays.working_days_between(due_day, today)
        if late <= 0:
            return "overdue", _("已逾期")
        return "overdue", _("逾期 %(n)s 个工作日", n=late)
    left = workdays.working_days_between(today, due_day)
    if left <= 0:
        return "soon", _("今日到期")
    if left <= inbox_queries.SOON_WORKING_DAYS:
        return "soon", _("剩余 %(n)s 个工作日", n=left)
    return "ok", _("剩余 %(n)s 个工作日", n=left)


def calendar_note(due_at: Optional[datetime]) -> str:
    """A word on a deadline in a year whose official holidays the calendar package does not know yet."""
    if due_at is None:
        return ""
    year = clock.aware(due_at).astimezone(clock.local_zone()).year
    if workdays.calendar_covers(year):
        return ""
    return _("%(year)s 年法定节假日尚未收录，工作日暂按周一至周五计算", year=year)


def navigation(session, user, known: Optional[dict[str, int]] = None) -> dict:
    """The navigation's numbers: each inbox view's count (`known`: views counted already) and the
    unread notices."""
    return {"nav_counts": inbox_queries.counts(session, user=user.name, groups=user.groups,
                                               see_all=user.sees_all_tasks, known=known),
            "unread_notices": notices.unread_count(session, user.name)}


def navigation_context() -> dict:
    """The navigation's numbers for a page of a logged-in user (an inbox page counts them with its
    own reads)."""
    user = g.get("current_user")
    if user is None:
        return {}
    if "navigation" in g:
        return g.navigation
    with database().read() as session:
        return navigation(session, user)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.context_processor(navigation_context)
    app.jinja_env.globals["due_state"] = due_state
    app.jinja_env.globals["calendar_note"] = calendar_note
