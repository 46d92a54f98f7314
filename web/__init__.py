"""The web application factory: the officials' UI (login, inbox, task pages) and a health check."""
from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import sys
from datetime import timedelta
from typing import NoReturn, Optional

from flask import Flask, abort, current_app, make_response, render_template, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter

from engine import compliance
from engine.config import Settings, open_engine
from engine.database import Database
from engine.models import MAX_ID

from . import limits
from .credential_cache import CredentialCache
from .errors import RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, database_unavailable
from .unstorable_text import refuse_unstorable_text
from .rest import rest_api
from . import rest_identity  # noqa: F401  /engine-rest/user and /group, on rest_api

_TRUE = {"1", "true", "yes", "on"}


def prepare_server_process() -> None:
    """Logging and garbage collection for a process that serves requests (web/server.py), called
    once its app is made.

    The log has INFO lines, but not SpiffWorkflow's line per task state change (three or more per
    completion, each formatted and written) nor APScheduler's per run. The objects made while
    starting (modules, routes, templates, parsers) are frozen out of the collector's walks, and
    it collects the youngest generation after 20,000 allocations instead of 700: a full
    collection then walks only what requests made (the cached workflows), and runs less often."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("spiff").setLevel(logging.WARNING)
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(settings: Optional[Settings] = None, *, db: Optional[Database] = None) -> Flask:
    """Create the Flask app on `db`, or on the database of `settings` (default: the environment)."""
    if db is None:
        settings = settings or Settings.from_env()
        db = open_engine(settings)
    app = App(__name__)
    app.url_map.converters["int"] = IdConverter  # before any route: /tasks/<int:task_id> and the like
    app.json = StrictJSON(app)
    # Without settings (tests that pass only a database) sessions last as long as the app.
    app.config["SECRET_KEY"] = settings.secret_key if settings and settings.secret_key else secrets.token_hex(32)
    app.config["DALAD_DEMO"] = bool(settings and settings.demo)
    app.config.update(
        SESSION_COOKIE_NAME="dalad_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(os.environ.get("DALAD_SECURE_COOKIES") or "").strip().lower() in _TRUE,
        # A session idle this long ends (checked on the server too: web/auth.py).
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_idle_hours if settings else 8),
        # The cookie is signed and sent again when the session changes (its last request's time: at
        # most once a minute, web/auth.py), not on every response.
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=21 * 1024 * 1024,  # a 20 MB document and the rest of its form
    )
    app.extensions["dalad_db"] = db
    app.extensions["dalad_credential_cache"] = CredentialCache(settings.credential_cache_seconds if settings else 5.0)
    compliance.load_rules()  # a mistake in the rules file stops the start, naming the file and the field
    app.register_error_handler(SQLAlchemyError, database_error)
    limits.init_app(app)
    app.before_request(refuse_unstorable_text)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.register_blueprint(rest_api)  # /engine-rest and its /.well-known link (web/rest.py)
    _add_ui(app)
    return app


class Response(Flask.response_class):
    """Flask's response, giving the server its own headers when Werkzeug would give a copy with
    nothing changed (it copies them, checking each value again, for every response): no Location
    to make absolute, the length already set, a status whose length stays."""

    def get_wsgi_headers(self, environ):
        if self.status_code >= 200 and self.status_code not in (204, 304):
            names = {name.lower() for name, _value in self.headers}
            if "content-length" in names and "location" not in names and "content-location" not in names:
                return self.headers
        return super().get_wsgi_headers(environ)


class App(Flask):
    """Flask, asking once per function rather than on every request whether a view, hook or error
    handler is a coroutine function (Flask asks `inspect` for each, six times per REST call)."""

    response_class = Response

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync: dict = {}

    def ensure_sync(self, func):
        try:
            sync = self._sync.get(func)
        except TypeError:  # a method of an unhashable object
            return super().ensure_sync(func)
        if sync is None:
            if len(self._sync) >= 10_000:
                self._sync.clear()
            sync = self._sync[func] = super().ensure_sync(func)
        return sync


class IdConverter(IntegerConverter):
    """`<int:…>` in a route: our ids are 32-bit, so a larger number names nothing (404), never a
    database error."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class StrictJSON(DefaultJSONProvider):
    """Request bodies as RFC 8259 JSON: NaN and Infinity are refused (400), as is a document nested
    deeper than Python can read, instead of failing later. Responses keep their keys in the order
    they were made (not sorted: a quarter less time for a page of tasks)."""

    sort_keys = False

    def loads(self, s, **kwargs):
        try:
            return json.loads(s, parse_constant=_no_constant, **kwargs)
        except RecursionError:
            raise ValueError("the JSON document is nested too deep") from None


def database_error(exc: SQLAlchemyError):
    """A database that is down, full or read-only: 503 with Retry-After and a message in Chinese and
    English (the UI's page in its language); any other database error is a fault: 500."""
    if not database_unavailable(exc):
        current_app.log_exception(sys.exc_info())
        return current_app.handle_http_exception(InternalServerError(original_exception=exc))
    current_app.logger.warning("database unavailable for %s %s: %s", request.method, request.path,
                               getattr(exc, "orig", None) or exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith("/engine-rest"):
        return {"type": "ServiceUnavailableException", "message": UNAVAILABLE_MESSAGE}, 503, headers
    page, code = render_error(503)
    return page, code, headers


UI_BLUEPRINTS = ("auth", "i18n", "inbox", "tasks", "start", "projects", "users_admin", "notices", "profile")


def _add_ui(app: Flask) -> None:
    from . import audit, auth, i18n, inbox, notices, profile, projects, security, start, tasks, users_admin
    from . import admin, history_labels

    security.init_app(app)
    i18n.init_app(app)
    history_labels.init_app(app)
    auth.init_app(app)
    inbox.init_app(app)
    tasks.init_app(app)
    notices.init_app(app)
    profile.init_app(app)
    start.init_app(app)
    projects.init_app(app)
    users_admin.init_app(app)
    admin.init_app(app)
    audit.init_app(app)
    app.register_error_handler(HTTPException, error_page)


def N_(text: str) -> str:
    """Mark text for translation where it is defined; it is translated where it is shown."""
    return text


# Title and explanation of each error page, in the source language of the UI (Chinese).
_ERRORS = {
    400: (N_("请求无效"), N_("提交的内容无法处理，请返回后重试。")),
    401: (N_("请先登录"), N_("登录后才能进行此操作。")),
    403: (N_("无权访问"), N_("您没有权限查看或办理此项内容。如有疑问，请联系领导小组办公室。")),
    404: (N_("页面不存在"), N_("您要找的任务、文件或页面不存在，或已被删除。")),
    405: (N_("不支持的操作"), N_("此页面不支持该请求方式。")),
    409: (N_("操作冲突"), N_("该任务已被他人处理或状态已变化，请刷新页面后重试。")),
    413: (N_("文件过大"), N_("上传的文件不能超过 20 MB。")),
    422: (N_("无法办理"), N_("流程无法按所填内容继续，请检查后重试。")),
    429: (N_("请求过于频繁"), N_("请稍后再试。")),
    500: (N_("系统错误"), N_("服务器处理时出现错误，请稍后再试或联系系统管理员。")),
    503: (N_("服务暂时不可用"), N_("数据库暂时不可用（停机、磁盘已满或只读），已保存的内容不会丢失，请稍后重试。")),
}


def error_page(exc: HTTPException):
    """An error page in the UI language; the REST API keeps its own error format."""
    if request.blueprint not in (None, *UI_BLUEPRINTS) or request.path.startswith(("/engine-rest", "/api/")):
        return exc
    return render_error(exc.code or 500, exc.description)


def render_error(code: int, description: Optional[str] = None, detail: Optional[str] = None):
    """Render the error page for an HTTP status; `detail` is the engine's own message, if any."""
    from flask_babel import gettext as _

    title, message = _ERRORS.get(code, _ERRORS[500] if code >= 500 else _ERRORS[400])
    if code == 400 and description == "csrf":
        title, message = N_("页面已过期"), N_("页面已过期或请求来源无效，请返回并刷新页面后重试。")
    return render_template("error.html", code=code, title=_(title), message=_(message), detail=detail), code


def bad_request(detail: str) -> NoReturn:
    """Stop the request with the 400 page saying what is wrong (`detail`, in the UI language)."""
    abort(make_response(render_error(400, detail=detail)))


def database() -> Database:
    """The Database of the current app."""
    return current_app.extensions["dalad_db"]


def healthz():
    """Report whether the database answers."""
    db = database()
    dialect = db.engine.dialect.name
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        current_app.logger.warning("health check: database unreachable: %s", exc)
        return {"status": "error", "database": dialect, "error": "database unreachable"}, 503
    return {"status": "ok", "database": dialect}
