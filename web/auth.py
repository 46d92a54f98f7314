"""Login and logout with the engine's users; who is asking, as `g.current_user`.

Demo accounts (published password) log in only when the app runs in demo mode. Failed logins
are throttled per user name and per client address (web/security.py). A session carries the
user's session version (logout, a password change and deactivation raise it, ending every session
of that user) and the time of its last request: idle longer than DALAD_SESSION_IDLE_HOURS, it ends.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from engine import bureaus, users
from engine.models import Bureau, User

from . import database, security

bp = Blueprint("auth", __name__)
SESSION_USER = "user"
SESSION_VERSION = "session_version"
SESSION_SEEN = "seen"  # seconds since the epoch of the session's last request
# Sessions age in wall-clock time, not on the engine clock (which tests and replay move).
wall_clock = time.time


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user as the views need it (plain data, no database session attached)."""

    name: str
    display_name: str
    groups: list[str]
    roles: list[str]
    bureau_names: dict[str, str] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return bureaus.ADMIN in self.roles

    @property
    def is_auditor(self) -> bool:
        return bureaus.AUDITOR in self.roles

    @property
    def reads_everything(self) -> bool:
        """Auditors and administrators read every task and document (and change nothing by it)."""
        return self.is_admin or self.is_auditor

    @property
    def sees_all_tasks(self) -> bool:
        """The office schedules the daily work of every bureau (Art 3(2)): it sees every open task."""
        return self.reads_everything or "office" in self.groups


def load_current_user() -> None:
    """Put the session's user in `g.current_user` (None when anonymous, inactive or a refused demo).
    The REST API names its caller by Basic or Bearer only (web/rest.py): its calls read no session."""
    g.current_user = None
    endpoint = request.endpoint
    if endpoint in ("static", "healthz") or (endpoint or "").startswith("rest_api."):
        return
    name = session.get(SESSION_USER)
    if not name:
        return
    now = wall_clock()
    seen = session.get(SESSION_SEEN)
    if not isinstance(seen, (int, float)) or now - seen > current_app.permanent_session_lifetime.total_seconds():
        session.clear()
        return
    with database().read() as db_session:  # two statements: the user, then bureaus (named) and roles
        user = db_session.connection().execute(_SESSION_USER, {"name": name}).first()
        if (user is None or not user.active or session.get(SESSION_VERSION) != user.session_version
                or (user.is_demo and not current_app.config.get("DALAD_DEMO"))):
            session.clear()
            return
        member = users.memberships(db_session, user.id)
    if now - seen > 60:  # the cookie is rewritten at most once a minute for this
        session[SESSION_SEEN] = int(now)
    english = _english()
    g.current_user = CurrentUser(user.name, user.display_name or user.name, list(member.groups), list(member.roles),
                                 {group: (en if english and en else zh) for group, (zh, en) in member.names.items()})


_SESSION_USER = select(User.__table__.c.id, User.__table__.c.name, User.__table__.c.display_name,
                       User.__table__.c.active, User.__table__.c.is_demo, User.__table__.c.session_version) \
    .where(User.__table__.c.name == bindparam("name"))


def _english() -> bool:
    from .i18n import select_locale
    return select_locale() == "en"


def bureau_names(db_session) -> dict[str, str]:
    """Display names of bureaus in the UI language (Chinese when there is no English name)."""
    english = _english()
    return {bid: (en if english and en else zh) for bid, zh, en in db_session.connection().execute(_BUREAU_NAMES)}


_BUREAU_NAMES = select(Bureau.__table__.c.id, Bureau.__table__.c.name_zh, Bureau.__table__.c.name_en)


@bp.route("/login", methods=["GET", "POST"])
@security.public
def login():
    target = security.safe_next(request.values.get("next"), url_for("inbox.home"))
    if g.current_user is not None and request.method == "GET":
        return redirect(target)
    if request.method == "GET":
        return render_template("login.html", next=target, name="")
    name = (request.form.get("name") or "").strip()
    password = request.form.get("password") or ""
    address = request.remote_addr or "-"
    throttle = security.throttle()
    wait = throttle.seconds_left(name, address)
    if wait:
        flash(_("登录失败次数过多，请 %(seconds)s 秒后再试。", seconds=wait), "error")
        return render_template("login.html", next=target, name=name), 429
    with database().read() as db_session:
        user = users.authenticate(db_session, name, password, allow_demo=bool(current_app.config.get("DALAD_DEMO")))
        user_name, version = (user.name, user.session_version) if user else (None, None)
    if user_name is None:
        throttle.failed(name, address)
        flash(_("用户名或密码不正确。"), "error")
        return render_template("login.html", next=target, name=name), 401
    throttle.succeeded(name, address)
    session.clear()  # a new session on login: no fixation
    session[SESSION_USER] = user_name
    session[SESSION_VERSION] = version
    session[SESSION_SEEN] = int(wall_clock())
    session.permanent = True
    security.csrf_token()  # a fresh token for the new session
    current_app.logger.info("login: %s from %s", user_name, address)
    return redirect(target)


@bp.post("/logout")
@security.public
def logout():
    """End every session of this user (other browsers too), not only this one."""
    if g.current_user is not None:
        with database().write() as db_session:
            users.end_sessions(users.get_user(db_session, g.current_user.name))
    session.clear()
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("auth.login"))


security.protect(bp)


def current_user() -> Optional[CurrentUser]:
    return g.get("current_user")


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, without reading the cookies nor making the cookie's signer
    for a request that has no session cookie (every REST call), nor looking at the response of one
    that neither read nor changed its session (Flask would add nothing to it)."""

    def open_session(self, app, request):
        if "HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


def init_app(app) -> None:
    app.session_interface = CookieSessions()
    app.before_request(load_current_user)
    app.register_blueprint(bp)
