"""The REST API at /engine-rest, in the shapes of Camunda 7's engine-rest where Camunda has the call.

Camunda Modeler deploys here (Deploy → Camunda 7, endpoint http://host:5000/engine-rest), and
scripts and other systems start processes, work on tasks, send messages and read the history.
Callers authenticate with Basic (user name and password) or Bearer (a token from `dalad tokens
create`); each call acts as that user under the rules of the UI: tasks are worked on by the
bureaus they are offered to, auditors read everything and change nothing (but the tasks of their
own bureau: every member of `audit` is an auditor; and, as every user, their own profile and
password), administrators deploy and manage instances.
Ids are strings, dates `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in the local zone, errors
`{"type": ..., "message": ...}` with the status of `web.errors.status_of`.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import heapq
import io
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, request, send_file
from lxml import etree
from sqlalchemy import Integer, and_, bindparam, func, or_, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased
from werkzeug.exceptions import HTTPException

from engine import bureaus, clock, inbox, senders, services, tokens, users
from engine.definitions import BPMN_NS, BundleFile, user_task_meta
from engine.errors import (AccessDenied, DefinitionInvalid, EngineError, InvalidInput, MismatchingMessageCorrelation,
                           NotFound, Problem)
from engine.instances import deployment_tenant, task_description, task_documentation
from engine.models import (DecisionDefinition, Deployment, ExternalTask, HistoryEvent, Incident, ProcessDefinition,
                           ProcessInstance, Resource, TaskCandidate, Timer, User, UserBureau, UserTask, row_id)
from engine.xmlsafe import parse_xml
from forms import submission

from .errors import database_unavailable, status_of
from .rest_openapi import MAX_MILLIS, VARIABLE_TYPES, accepted, openapi_document
from .rest_query_values import QueryValueRefused, read_values

rest_api = Blueprint("rest_api", __name__, url_prefix="/engine-rest")
well_known = Blueprint("rest_well_known", __name__)

CAMUNDA_VERSION = "7.20.0"  # the engine-rest version whose shapes this API follows
REALM = 'Basic realm="dalad"'
PARSE_ERROR = "ENGINE-09005 Could not parse BPMN process."
# Where Camunda Modeler's "open in Cockpit" links lead: our admin and inbox pages. The Modeler
# appends "/" and a Cockpit route; after "#" that stays in the browser.
ADMIN_PATH, COCKPIT_PATH, TASKLIST_PATH = "admin#", "admin/deployments#", "inbox/#"


@rest_api.record_once
def _register_well_known(state) -> None:
    state.app.register_blueprint(well_known)


# --- errors ------------------------------------------------------------------------------------

class RestError(Exception):
    """A refusal of the REST layer itself (a malformed request, an unsupported call)."""

    def __init__(self, status: int, type_: str, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.type, self.message, self.headers = status, type_, message, headers or {}


def _bad_request(message: str) -> RestError:
    return RestError(400, "InvalidRequestException", message)


# Camunda's exception names where it has one for the same refusal; else the engine's class name.
_CAMUNDA_TYPES = {AccessDenied: "AuthorizationException", NotFound: "InvalidRequestException",
                  InvalidInput: "InvalidRequestException"}


def _body(type_: str, message: str, **extra) -> dict:
    return {"type": type_, "message": message, **extra}


@rest_api.errorhandler(RestError)
def _rest_error(exc: RestError):
    headers = {"WWW-Authenticate": REALM, **exc.headers} if exc.status == 401 else exc.headers
    return _body(exc.type, exc.message), exc.status, headers


@rest_api.errorhandler(EngineError)
def _engine_error(exc: EngineError):
    status = status_of(exc)
    if isinstance(exc, DefinitionInvalid):
        return parse_exception(exc.problems), status
    type_ = next((name for cls, name in _CAMUNDA_TYPES.items() if isinstance(exc, cls)), type(exc).__name__)
    extra = {}
    if isinstance(exc, AccessDenied) and g.get("rest_caller") is not None:
        extra = {"userId": g.rest_caller.name, "missingAuthorizations": []}
    if status >= 500:
        current_app.logger.error("engine-rest %s %s: %s", request.method, request.path, exc)
    return _body(type_, str(exc), **extra), status


@rest_api.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _body("RestException", exc.description or exc.name), exc.code or 500


def parse_exception(problems: list[Problem]) -> dict:
    """A refused deployment as Camunda's ParseException (Camunda Modeler shows it as a parse error)."""
    lines = [f"* {p.message} | resource {p.file} | line {p.line or 0} | column {p.column or 0}" for p in problems]
    return _body("ParseException", f"{PARSE_ERROR} Errors: \n" + "\n".join(lines),
                 details=resource_reports(problems, []))


def resource_reports(errors: list[Problem], warnings: list[Problem]) -> dict:
    """Camunda's ResourceReportDto per file: {file: {"errors": [...], "warnings": [...]}}."""
    details: dict = {}
    for kind, problems in (("errors", errors), ("warnings", warnings)):
        for p in problems:
            details.setdefault(p.file, {"errors": [], "warnings": []})[kind].append({
                "message": p.message, "line": p.line or 0, "column": p.column or 0,
                "mainElementId": p.element_id, "elementIds": [p.element_id] if p.element_id else []})
    return details


# --- callers -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request, as the access rules need it."""

    name: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return bureaus.ADMIN in self.roles

    @property
    def reads_all(self) -> bool:
        return self.is_admin or bureaus.AUDITOR in self.roles

    @property
    def read_only(self) -> bool:
        return bureaus.AUDITOR in self.roles and not self.is_admin


_PUBLIC_ENDPOINTS = {"rest_api.openapi"}


@rest_api.before_request
def _authenticate() -> None:
    """Every call but the OpenAPI document needs a user: Basic or Bearer, else 401. A credential
    checked a moment ago is recognised from the credential cache (web/credential_cache.py)."""
    req = request._get_current_object()  # one look-up of the request, not one per attribute read
    if req.endpoint in _PUBLIC_ENDPOINTS:
        return
    header = req.headers.get("Authorization", "").strip()
    if req.method not in _READS and header[:6].lower() == "basic " and _from_another_site(req):
        raise RestError(403, "AuthorizationException",
                        "a browser's request from another site may not use the Basic credentials the browser "
                        "keeps for this one: call from this site, or send a Bearer token")
    app = current_app._get_current_object()
    allow_demo = bool(app.config.get("DALAD_DEMO"))
    cache = app.extensions["dalad_credential_cache"]
    key = cache.key(header, allow_demo)
    known = cache.get(key)
    if known is not None:
        if known.token_id is not None and tokens.use_is_stale(known.last_used_at):
            known.last_used_at = clock.now()
            _note_token_use(known.token_id)
        g.rest_caller = known.caller
        return
    generation = users.credentials_generation()
    scheme, _, credentials = header.partition(" ")
    caller = None
    if scheme.lower() == "basic":
        caller = _password_caller(*_basic_credentials(credentials), allow_demo=allow_demo)
        if caller is not None:
            cache.put(key, generation, caller)
        reason = "wrong user name or password"
    elif scheme.lower() == "bearer":
        stale = None
        with _db().read() as session:
            found = tokens.find_token(session, credentials.strip(), allow_demo=allow_demo)
            if found is not None:
                caller = Caller(found.user, found.groups, found.roles)
                stale = found.token_id if tokens.use_is_stale(found.last_used_at) else None
                cache.put(key, generation, caller, found.token_id, clock.now() if stale else found.last_used_at)
        if stale is not None:  # the last use is written at most once a minute, not on every call
            _note_token_use(stale)
        reason = "the token is unknown or revoked, or its user is deactivated"
    else:
        reason = ("authentication required: Basic (user name and password) or Bearer (a token from "
                  "`dalad tokens create`)")
    if caller is None:
        raise RestError(401, "AuthenticationException", reason)
    g.rest_caller = caller


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _from_another_site(req) -> bool:
    """Whether a browser sent this request for a page of another web site. A browser keeps the
    Basic credentials typed at its prompt (the 401's WWW-Authenticate) and sends them with any
    request to this host, one that a form or a `fetch` of another site's page makes too: such a call
    would act as that user. Browsers name the page's site in Origin on every POST, PUT and DELETE;
    scripts and other servers send none, and Camunda Modeler's window (a file, not a web site) sends
    `null`."""
    origin = req.headers.get("Origin")
    if origin is None or not origin.startswith(("http://", "https://")):
        return False
    return urlsplit(origin).netloc.lower() != req.host.lower()


def _note_token_use(token_id: int) -> None:
    """A hint, written when it can be: a database that takes no writes now (read-only, full) still
    answers the calls that only read."""
    try:
        with _db().write() as session:
            tokens.note_use(session, token_id)
    except SQLAlchemyError as exc:
        if not database_unavailable(exc):
            raise
        current_app.logger.warning("token %s: last use not recorded: %s", token_id, getattr(exc, "orig", exc))


def _password_caller(name: Optional[str], password: str, *, allow_demo: bool) -> Optional[Caller]:
    """Check a user name and password, with the login throttle of the UI when the app has one:
    failures here and on the login page count together."""
    if name is None:
        return None
    throttle = current_app.extensions.get("dalad_login_throttle")
    address = request.remote_addr or "-"
    if throttle is not None:
        wait = throttle.seconds_left(name, address)
        if wait:
            raise RestError(429, "AuthenticationException", f"too many failed logins: try again in {wait} s",
                            {"Retry-After": str(wait)})
    with _db().read() as session:
        caller = _caller_of(users.authenticate(session, name, password, allow_demo=allow_demo))
    if throttle is not None:
        (throttle.succeeded if caller else throttle.failed)(name, address)
    return caller


def _basic_credentials(encoded: str) -> tuple[Optional[str], str]:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, ""
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else (None, "")


def _caller_of(user) -> Optional[Caller]:
    return None if user is None else Caller(user.name, tuple(user.groups), tuple(user.role_names))


def _sender(caller: Caller) -> senders.Sender:
    return senders.Sender(caller.name, caller.groups, caller.is_admin)


def _caller() -> Caller:
    return g.rest_caller


def _require_admin(what: str) -> Caller:
    caller = _caller()
    if not caller.is_admin:
        raise AccessDenied(f"{caller.name} may not {what}: that needs the admin role")
    return caller


def _require_writer(what: str) -> Caller:
    caller = _caller()
    if caller.read_only:
        raise AccessDenied(f"{caller.name} is an auditor: auditors read everything and do not {what}")
    return caller


def _require_task_worker(caller: Caller, what: str) -> None:
    """Auditors in a bureau (every member of `audit` is one) still do their bureau's tasks."""
    if not caller.groups:
        _require_writer(what)


def _db():
    return current_app.extensions["dalad_db"]


# --- request values ----------------------------------------------------------------------------

@rest_api.before_request
def _read_query() -> None:
    """The query of a call: its query parameters and, for a POST query variant, the JSON body's
    filters, each read as the kind rest_openapi declares for it (web/rest_query_values.py). A
    parameter or filter the call does not take, or of another kind, is a 400, never ignored (a
    body field set to null filters nothing: clients send every field they know); so is a
    missing body where the call requires one, and a body's sorting of the wrong form (a count
    does not sort, but is asked as its list is)."""
    req = request._get_current_object()
    rule = req.url_rule
    if rule is None or req.endpoint in _UNCHECKED_ENDPOINTS or req.method == "OPTIONS":
        return
    call, params, body_fields, body_required = _call_of(rule.rule, req.method)
    if body_required and not req.get_data():
        raise _bad_request(f"the request body is missing: {req.method} {call} takes {body_required}")
    args = req.args
    if args:
        _refuse_unknown("query parameter", set(args), params, call)
    try:
        values = read_values(args.to_dict(), params, "query parameter") if args else {}
        if body_fields is not None:
            body = {name: value for name, value in _json_body().items() if value is not None}
            _refuse_unknown("filter", set(body), body_fields, call)
            values.update(read_values(body, body_fields, "filter"))
    except QueryValueRefused as refused:
        raise _bad_request(str(refused)) from None
    g.rest_query, g.rest_query_kinds = values, {**params, **body_fields} if body_fields else params
    if "sorting" in values or "sortOrder" in values:
        _sort_keys()


_UNCHECKED_ENDPOINTS = {"rest_api.unknown", "rest_api.openapi"}


@functools.lru_cache(maxsize=None)  # one entry per route and method
def _call_of(rule: str, method: str) -> tuple[str, dict, Optional[dict], Optional[str]]:
    """The call a route is in rest_openapi's terms ({} for each path variable), and what it accepts."""
    call = re.sub(r"<[^>]+>", "{}", rule[len(rest_api.url_prefix):])
    return (call, *accepted("get" if method == "HEAD" else method, call))


def _refuse_unknown(what: str, given: set[str], known: dict, call: str) -> None:
    unknown = sorted(given - known.keys())
    if unknown:
        raise _bad_request(f"unknown {what}{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
                           f"{request.method} {call} takes " + (", ".join(sorted(known)) if known else "none"))


def _query_value(name: str, kinds: tuple[str, ...]) -> Any:
    """The value of a query parameter or body filter, read as its declared kind (None: not given)."""
    request_globals = g._get_current_object()  # read a few dozen times by a task list: one look-up each
    declared = request_globals.get("rest_query_kinds", {}).get(name)
    if declared not in kinds:
        raise RuntimeError(f"{request.method} {request.path} reads query parameter '{name}' as {' or '.join(kinds)}; "
                           f"web/rest_openapi.py declares it {declared or 'not at all'} for this call")
    return request_globals.rest_query.get(name)


def _arg(name: str) -> Optional[str]:
    return _query_value(name, ("text",))


def _arg_int(name: str) -> Optional[int]:
    """An integer parameter: 32 bits, as in Camunda and the columns (a priority too), or 64 where declared so."""
    return _query_value(name, ("int32", "int64"))


def _arg_bool(name: str) -> Optional[bool]:
    return _query_value(name, ("boolean",))


def _arg_list(name: str) -> Optional[list[str]]:
    return _query_value(name, ("list",))


def _arg_date(name: str) -> Optional[datetime]:
    return _query_value(name, ("date",))


_COMPARISONS = {
    "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b, "gteq": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lteq": lambda a, b: a <= b,
    "like": lambda a, b: isinstance(a, str) and _like_match(a, b),
    "notLike": lambda a, b: isinstance(a, str) and not _like_match(a, b)}


def _like_match(value: str, pattern) -> bool:
    """SQL's LIKE, as Camunda's variable `like`: % any text, _ one character, a backslash takes the
    next character as it is; every other character, `*`, `?` and `[` too, is itself."""
    return _like_text(str(pattern), "postgresql").fullmatch(value) is not None


def _arg_variables(name: str) -> Optional[Callable[[dict], bool]]:
    """Camunda's variable filter (`amount_gt_1000,unit_eq_edu`, or in a POST body
    [{"name": "amount", "operator": "gt", "value": 1000}]) as a test of a variables dict."""
    conditions = _query_value(name, ("variables",))
    if conditions is None:
        return None

    def holds(variables: dict) -> bool:
        for var, operator, operand in conditions:
            if var not in (variables or {}):
                return False
            try:
                if not _COMPARISONS[operator](variables[var], operand):
                    return False
            except TypeError:  # a number compared with text: no match, as Camunda's typed query
                return False
        return True
    return holds


def _dated(query, bounds: Iterable[tuple[str, Any, bool]]):
    """Camunda's …Before / …After filters: (parameter, column, True for before) each."""
    for name, column, before in bounds:
        moment = _arg_date(name)
        if moment is not None:
            query = query.where(column < moment if before else column > moment)
    return query


def _int_id(session: Session, model, value: str, what: str) -> int:
    """The integer key of the row that REST id `value` (a UUID, as Camunda makes them) names."""
    key = session.scalar(select(model.id).where(model.rest_id == value))
    if key is None:
        raise NotFound(f"{what} {value} does not exist")
    return key


def _row_by_rest_id(session: Session, model, value: str, what: str):
    """The row that REST id `value` names, read once."""
    row = session.scalar(select(model).where(model.rest_id == value))
    if row is None:
        raise NotFound(f"{what} {value} does not exist")
    return row


def _ids_in(column, model, values: Iterable[str]):
    """`column` (an integer key of `model`) is one of the rows these REST ids name."""
    return column.in_(select(model.id).where(model.rest_id.in_(list(values))))


def _rest_ids(session: Session, model, keys: Iterable) -> dict[int, str]:
    """The REST ids of rows given by integer key (one query for many)."""
    wanted = {k for k in keys if k is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(model.id, model.rest_id).where(model.id.in_(wanted))).all())


def _rest_id(session: Session, model, key) -> Optional[str]:
    """The REST id of one row by integer key (rows already loaded cost nothing)."""
    return None if key is None else session.get(model, key).rest_id


def _json_body() -> dict:
    if not request.get_data():
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise _bad_request("the request body must be a JSON object")
    return body


def _body_flag(body: dict, name: str) -> bool:
    """A true-or-false field of a JSON body (left out or null: false)."""
    value = body.get(name)
    if not isinstance(value, (bool, type(None))):
        raise _bad_request(f"{name} must be true or false, not {_shown(value)}")
    return bool(value)


def _variables_filtered(session: Session, query, test: Optional[Callable[[dict], bool]], variables_of,
                        *, count: bool = False):
    """Rows of `query` (paged) or their count, where `test` (a variable filter) holds; without a
    filter SQL does it all, with one the matching rows are read and tested."""
    if test is None:
        return _count(session, query) if count else list(session.execute(_paged(query)))
    rows = [row for row in session.execute(query) if test(variables_of(row))]
    return {"count": len(rows)} if count else _page_list(rows)


def _paged(query):
    first, limit = _arg_int("firstResult"), _arg_int("maxResults")
    if first:
        query = query.offset(max(first, 0))
    if limit is not None:
        query = query.limit(max(limit, 0))
    return query


def _page_list(items: list) -> list:
    first, limit = _arg_int("firstResult") or 0, _arg_int("maxResults")
    items = items[max(first, 0):]
    return items if limit is None else items[:max(limit, 0)]


def _sort_keys() -> list[tuple[str, str]]:
    """Camunda's sortBy/sortOrder, or a POST body's sorting: [{sortBy, sortOrder}, …]."""
    kinds = g.get("rest_query_kinds", {})
    sorting = g.rest_query.get("sorting") if "sorting" in kinds else None
    if sorting is not None:  # read by web/rest_query_values.py: [(sortBy, sortOrder or None)]
        keys = [(sort_by, (order or "asc").lower()) for sort_by, order in sorting]
        orders = [order for _sort_by, order in keys]
    else:
        sort_by = _arg("sortBy") if "sortBy" in kinds else None
        order = ((_arg("sortOrder") if "sortOrder" in kinds else None) or "asc").lower()
        keys = [(sort_by, order)] if sort_by is not None else []
        orders = [order]  # checked with or without a sortBy, as Camunda does
    for order in orders:
        if order not in ("asc", "desc"):
            raise _bad_request(f"sortOrder '{order}' is not asc or desc")
    return keys


def _sorted(query, columns: dict, default):
    """Camunda's sorting, with a stable order after the chosen columns."""
    return query.order_by(*_ordered(_sorting(columns), columns), *default)


def _sorting(columns: dict) -> tuple[tuple[str, str], ...]:
    """Camunda's sorting as (sortBy, asc or desc) pairs, each sortBy one of `columns`."""
    keys = tuple(_sort_keys())
    for sort_by, _order in keys:
        if sort_by not in columns:
            raise _bad_request(f"sortBy '{sort_by}' is not one of: {', '.join(columns)}")
    return keys


def _ordered(keys: Iterable[tuple[str, str]], columns: dict) -> list:
    return [columns[sort_by].desc() if order == "desc" else columns[sort_by].asc() for sort_by, order in keys]


def _like(column, pattern: str):
    return column.like(pattern)


def _count(session: Session, query) -> dict:
    return {"count": session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))}


# --- values ------------------------------------------------------------------------------------

def _date(moment: Optional[datetime]) -> Optional[str]:
    """Camunda's date format, in the local zone: 2026-03-02T09:00:00.000+0800."""
    if moment is None:
        return None
    text = clock.aware(moment).astimezone(clock.local_zone()).isoformat(timespec="milliseconds")
    return text[:-3] + text[-2:] if text[-3] == ":" and text[-6] in "+-" else _date_slowly(moment)


def _date_slowly(moment: datetime) -> str:
    """_date for an offset of seconds (a zone's local mean time before 1901)."""
    local = clock.aware(moment).astimezone(clock.local_zone())
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}{local:%z}"


def _millis(start: Optional[datetime], end: Optional[datetime]) -> Optional[int]:
    if start is None or end is None:
        return None
    return int((clock.aware(end) - clock.aware(start)).total_seconds() * 1000)


_TRUE_TEXT, _FALSE_TEXT = ("true",), ("false",)


def _shown(value: Any) -> str:
    """A value a client sent, as JSON in an error message, cut at 60 characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def variable_value(name: str, dto: Any) -> Any:
    """One of Camunda's typed values ({"value": 1500, "type": "Long"}) as a plain value."""
    if not isinstance(dto, dict):
        raise _bad_request(f"variable '{name}' must be an object with a value and a type, "
                           "as {\"value\": 1500, \"type\": \"Long\"}")
    value, type_ = dto.get("value"), dto.get("type")
    if type_ is not None and not isinstance(type_, str):
        raise _bad_request(f"variable '{name}': type must be text, as \"Long\" or \"String\", "
                           f"not {_shown(type_)}")
    if dto.get("valueInfo") is not None and not isinstance(dto["valueInfo"], dict):
        raise _bad_request(f"variable '{name}': valueInfo must be an object, "
                           f"as {{\"serializationDataFormat\": \"application/json\"}}, not {_shown(dto['valueInfo'])}")
    type_ = (type_ or "").strip()
    kind = type_.lower()
    if type_ and kind not in _VARIABLE_KINDS:  # a null value too: it is kept with its type
        raise _bad_request(f"variable '{name}': type '{type_}' is not supported here "
                           "(String, Boolean, Short, Integer, Long, Double, Date, Json, Object as JSON, Null)")
    if value is None or kind == "null":
        return None

    def refuse(reason: str = ""):
        return _bad_request(f"Cannot convert value '{value}' of variable '{name}' to type {type_}{reason}")

    if not type_:
        return value  # untyped: the JSON value as it is
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE_TEXT + _FALSE_TEXT:
            return value.lower() == "true"
        raise refuse()
    if kind in ("integer", "long", "short"):
        if isinstance(value, bool):
            raise refuse()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise refuse() from None
        raise refuse()
    if kind == "double":
        if isinstance(value, bool):
            raise refuse()
        try:
            return float(value)
        except (TypeError, ValueError):
            raise refuse() from None
    if kind == "date":
        if not isinstance(value, str):
            raise refuse()
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise refuse(": write 2026-03-02T09:00:00.000+0800") from None
        return value
    if kind == "object":
        data_format = (dto.get("valueInfo") or {}).get("serializationDataFormat")
        if data_format != "application/json":
            raise refuse(": an Object is taken serialized as JSON (valueInfo.serializationDataFormat "
                         "application/json), not as " + (data_format or "nothing"))
        kind = "json"
    if not isinstance(value, str):  # Json
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise refuse(f": not JSON ({exc.msg})") from None
    except RecursionError:
        raise refuse(": nested too deep") from None


_VARIABLE_KINDS = frozenset(t.lower() for t in VARIABLE_TYPES)


# The Camunda types a plain value does not tell by itself: kept per instance (variable_types) and
# given back while the value still fits them.
_KEPT_TYPES = {"Short": int, "Long": int, "Date": str, "Json": object, "Object": object}


def types_in(dtos: Any) -> dict:
    """The types to keep of typed values given over REST: name -> {type, valueInfo}, or None
    for a variable whose value speaks for itself (its earlier kept type is dropped)."""
    types = {}
    for name, dto in (dtos or {}).items():
        type_ = dto.get("type") if isinstance(dto, dict) else None
        type_ = type_.strip().capitalize() if isinstance(type_, str) else ""
        kept = type_ in _KEPT_TYPES and dto.get("value") is not None
        info = dto.get("valueInfo") if kept else None
        types[name] = {"type": type_, "valueInfo": {k: v for k, v in info.items()
                                                    if k in ("objectTypeName", "serializationDataFormat")}
                       if isinstance(info, dict) else {}} if kept else None
    return types


def remember_types(row: ProcessInstance, dtos: Any) -> None:
    """Keep the types of the variables just given to instance `row` (same transaction)."""
    given = types_in(dtos)
    if not given:
        return
    kept = dict(row.variable_types or {})
    for name, type_ in given.items():
        if type_ is None:
            kept.pop(name, None)
        else:
            kept[name] = type_
    if kept != (row.variable_types or {}):
        row.variable_types = kept


def variables_in(dtos: Any, what: str = "variables") -> dict:
    """Camunda's {"name": {"value": ..., "type": ...}} as {"name": value}."""
    if dtos is None:
        return {}
    if not isinstance(dtos, dict):
        raise _bad_request(f"{what} must be an object of name: {{value, type}}")
    return {name: variable_value(name, dto) for name, dto in dtos.items()}


def variable_dto(value: Any, kept: Optional[dict] = None) -> dict:
    """A plain value as Camunda's typed value (the `kept` type while the value fits it)."""
    if kept and value is not None and isinstance(value, _KEPT_TYPES.get(kept["type"], ())) \
            and not isinstance(value, bool):
        if kept["type"] in ("Json", "Object"):
            value = json.dumps(value, ensure_ascii=False)
        return {"type": kept["type"], "value": value, "valueInfo": dict(kept.get("valueInfo") or {})}
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        return {"type": "Integer" if -2**31 <= value < 2**31 else "Long", "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    return {"type": "Json", "value": json.dumps(value, ensure_ascii=False), "valueInfo": {}}


def variables_out(values: dict, names: Optional[Iterable[str]] = None, types: Optional[dict] = None) -> dict:
    wanted = set(names) if names is not None else None
    types = types or {}
    return {name: variable_dto(value, types.get(name)) for name, value in sorted((values or {}).items())
            if wanted is None or name in wanted}


def instance_variables_out(row: ProcessInstance, names: Optional[Iterable[str]] = None) -> dict:
    return variables_out(row.variables, names, row.variable_types)


# --- engine, version, OpenAPI, well-known --------------------------------------------------------

@rest_api.get("/version")
def version():
    return {"version": CAMUNDA_VERSION}


@rest_api.get("/engine")
def engines():
    return [{"name": "default"}]


@rest_api.get("/openapi.json")
def openapi():
    return openapi_document(request.url_root.rstrip("/") + rest_api.url_prefix, CAMUNDA_VERSION)


@well_known.get("/.well-known/camunda-automation-platform/webapps")
def webapps():
    """Where Camunda Modeler's links after a deployment lead: our admin pages."""
    root = request.url_root
    return {"adminUrl": root + ADMIN_PATH, "cockpitUrl": root + COCKPIT_PATH, "tasklistUrl": root + TASKLIST_PATH}


# --- deployments -------------------------------------------------------------------------------

_RESERVED_PARTS = {"deployment-name", "deployment-source", "enable-duplicate-filtering", "deploy-changed-only",
                   "tenant-id", "deployment-activation-time"}


def _self_link(path: str) -> list[dict]:
    return [{"method": "GET", "href": request.url_root.rstrip("/") + rest_api.url_prefix + path, "rel": "self"}]


def deployment_dto(deployment: Deployment, links: Optional[list] = None) -> dict:
    return {"links": links or [], "id": deployment.rest_id, "name": deployment.name, "source": deployment.source,
            "deploymentTime": _date(deployment.deployed_at), "tenantId": deployment.tenant_id}


def definition_dto(session: Session, definition: ProcessDefinition) -> dict:
    deployment = session.get(Deployment, definition.deployment_id)
    return {"id": definition.rest_id, "key": definition.key, "category": None, "description": None,
            "name": definition.name, "version": definition.version, "resource": definition.resource.name,
            "deploymentId": deployment.rest_id, "diagram": None, "suspended": bool(definition.suspended),
            "tenantId": deployment.tenant_id if deployment else None, "versionTag": definition.version_tag,
            "historyTimeToLive": (definition.meta or {}).get("history_time_to_live"),
            "startableInTasklist": (definition.meta or {}).get("startable_by_hand", True)}


def decision_dto(session: Session, decision: DecisionDefinition) -> dict:
    deployment = session.get(Deployment, decision.deployment_id)
    return {"id": decision.rest_id, "key": decision.key, "category": None, "name": decision.name,
            "version": decision.version, "resource": decision.resource.name,
            "deploymentId": deployment.rest_id, "decisionRequirementsDefinitionId": None,
            "decisionRequirementsDefinitionKey": None, "tenantId": deployment.tenant_id if deployment else None,
            "versionTag": None, "historyTimeToLive": None}


def _form_flag(name: str) -> bool:
    value = (request.form.get(name) or "false").strip().lower()
    if value not in ("true", "false"):
        raise _bad_request(f"form part '{name}' must be true or false, not '{value}'")
    return value == "true"


def _uploaded_files() -> list[BundleFile]:
    """Every part that is not a setting is a file, named by its file name (else its part name)."""
    files = [BundleFile(storage.filename or field, storage.read())
             for field, storage in request.files.items(multi=True)]
    files += [BundleFile(field, value.encode("utf-8")) for field, value in request.form.items(multi=True)
              if field not in _RESERVED_PARTS]
    return files


@rest_api.post("/deployment/create")
def create_deployment():
    """Deploy the uploaded files (Camunda Modeler's Deploy); only new versions are listed."""
    caller = _require_admin("deploy")
    if request.mimetype != "multipart/form-data":
        raise _bad_request("deployment/create takes multipart/form-data: the settings and one part per file")
    if None in request.form or None in request.files:
        raise _bad_request("a part of the form has no name: each is Content-Disposition: form-data; name=\"…\"")
    files = _uploaded_files()
    if not files:
        raise _bad_request("No deployment resources contained in the form upload.")
    if request.form.get("deployment-activation-time"):
        raise _bad_request("deployment-activation-time is not supported: definitions are active when deployed")
    name = (request.form.get("deployment-name") or files[0].name).strip()
    source = request.form.get("deployment-source") or None
    tenant_id = request.form.get("tenant-id") or None
    for label, value, limit in (("deployment-name", name, 200), ("deployment-source", source, 200),
                                ("tenant-id", tenant_id, 64)):
        if value and len(value) > limit:
            raise _bad_request(f"{label} has more than {limit} characters")
    # As Camunda: without filtering every definition gets a new version; enable-duplicate-filtering
    # answers an unchanged bundle with the earlier deployment and else deploys it all anew;
    # deploy-changed-only (which filters too) deploys only what changed.
    changed_only = _form_flag("deploy-changed-only")
    filter_duplicates = _form_flag("enable-duplicate-filtering") or changed_only
    with _db().write() as session:
        if filter_duplicates:
            previous = _unchanged_deployment(session, files, name, source, tenant_id)
            if previous is not None:
                return _deployment_with_definitions(session, previous, [])
        result = services.deploy(session, files, name=name, source=source, user=caller.name, tenant_id=tenant_id,
                                 changed_only=changed_only, all_versions=not changed_only)
        answer = _deployment_with_definitions(session, result.deployment, [item for item in result.items if item.new])
        if result.warnings:  # what deploys but runs otherwise than in Camunda, as Camunda reports parse warnings
            answer["details"] = resource_reports([], result.warnings)
        return answer


def _unchanged_deployment(session: Session, files: list[BundleFile], name: str, source: Optional[str],
                          tenant_id: Optional[str]) -> Optional[Deployment]:
    """The latest earlier deployment of this name (and source, tenant) when every file uploaded is,
    byte for byte, the latest file of its name in those deployments (Camunda's duplicate check)."""
    named = select(Deployment).where(
        Deployment.name == name, Deployment.tenant_id == tenant_id if tenant_id else Deployment.tenant_id.is_(None))
    if source:
        named = named.where(Deployment.source == source)
    latest: dict[str, str] = {}
    for resource_name, sha256 in session.execute(
            select(Resource.name, Resource.sha256)
            .where(Resource.deployment_id.in_(named.with_only_columns(Deployment.id)),
                   Resource.name.in_([f.name for f in files]))
            .order_by(Resource.deployment_id.desc())):
        latest.setdefault(resource_name, sha256)
    if any(latest.get(f.name) != f.sha256 for f in files):
        return None
    return session.scalars(named.order_by(Deployment.id.desc()).limit(1)).first()


def _deployment_with_definitions(session: Session, deployment: Deployment, new_items: list) -> dict:
    processes = {dto["id"]: dto for dto in (definition_dto(session, session.get(ProcessDefinition, i.id))
                                            for i in new_items if i.kind == "process")}
    decisions = {dto["id"]: dto for dto in (decision_dto(session, session.get(DecisionDefinition, i.id))
                                            for i in new_items if i.kind == "decision")}
    return {**deployment_dto(deployment, _self_link(f"/deployment/{deployment.rest_id}")),
            "deployedProcessDefinitions": processes or None, "deployedCaseDefinitions": None,
            "deployedDecisionDefinitions": decisions or None, "deployedDecisionRequirementsDefinitions": None}


def _deployment_query():
    query = select(Deployment)
    if _arg("id"):
        query = query.where(Deployment.rest_id == _arg("id"))
    if _arg("name"):
        query = query.where(Deployment.name == _arg("name"))
    if _arg("nameLike"):
        query = query.where(_like(Deployment.name, _arg("nameLike")))
    if _arg("source"):
        query = query.where(Deployment.source == _arg("source"))
    if _arg_bool("withoutSource"):
        query = query.where(Deployment.source.is_(None))
    tenants = _arg_list("tenantIdIn")
    if tenants:
        condition = Deployment.tenant_id.in_(tenants)
        if _arg_bool("includeDeploymentsWithoutTenantId"):
            condition = or_(condition, Deployment.tenant_id.is_(None))
        query = query.where(condition)
    if _arg_bool("withoutTenantId"):
        query = query.where(Deployment.tenant_id.is_(None))
    if _arg_date("before"):
        query = query.where(Deployment.deployed_at < _arg_date("before"))
    if _arg_date("after"):
        query = query.where(Deployment.deployed_at > _arg_date("after"))
    return _sorted(query, {"id": Deployment.id, "name": Deployment.name, "deploymentTime": Deployment.deployed_at,
                           "tenantId": Deployment.tenant_id}, (Deployment.id,))


@rest_api.get("/deployment")
def deployments():
    """The deployments (Camunda Modeler checks the connection with ?maxResults=0)."""
    with _db().read() as session:
        return [deployment_dto(d) for d in session.scalars(_paged(_deployment_query()))]


@rest_api.get("/deployment/count")
def deployments_count():
    with _db().read() as session:
        return _count(session, _deployment_query())


def _deployment(session: Session, deployment_id: str) -> Deployment:
    return _row_by_rest_id(session, Deployment, deployment_id, "deployment")


@rest_api.get("/deployment/<deployment_id>")
def deployment(deployment_id: str):
    with _db().read() as session:
        return deployment_dto(_deployment(session, deployment_id), _self_link(f"/deployment/{deployment_id}"))


@rest_api.get("/deployment/<deployment_id>/resources")
def deployment_resources(deployment_id: str):
    with _db().read() as session:
        found = _deployment(session, deployment_id)
        return [{"id": str(r.id), "name": r.name, "deploymentId": found.rest_id} for r in session.scalars(
            select(Resource).where(Resource.deployment_id == found.id).order_by(Resource.id))]


@rest_api.get("/deployment/<deployment_id>/resources/<resource_id>/data")
def deployment_resource_data(deployment_id: str, resource_id: str):
    with _db().read() as session:
        found = _deployment(session, deployment_id)
        number = row_id(resource_id)
        resource = session.get(Resource, number) if number is not None else None
        if resource is None or resource.deployment_id != found.id:
            raise NotFound(f"deployment {deployment_id} has no resource {resource_id}")
        kind = "application/json" if resource.name.lower().endswith(".form") else "application/xml"
        # (send_file writes the name as a header parameter: quoted, and UTF-8 in filename*)
        return send_file(io.BytesIO(resource.content), mimetype=kind, as_attachment=True, download_name=resource.name,
                         max_age=0)


# --- process definitions -----------------------------------------------------------------------

def _definition_query():
    query = select(ProcessDefinition)
    if _arg("processDefinitionId"):
        query = query.where(ProcessDefinition.rest_id == _arg("processDefinitionId"))
    ids = _arg_list("processDefinitionIdIn")
    if ids:
        query = query.where(ProcessDefinition.rest_id.in_(ids))
    if _arg("key"):
        query = query.where(ProcessDefinition.key == _arg("key"))
    keys = _arg_list("keysIn")
    if keys:
        query = query.where(ProcessDefinition.key.in_(keys))
    if _arg("keyLike"):
        query = query.where(_like(ProcessDefinition.key, _arg("keyLike")))
    if _arg("name"):
        query = query.where(ProcessDefinition.name == _arg("name"))
    if _arg("nameLike"):
        query = query.where(_like(ProcessDefinition.name, _arg("nameLike")))
    if _arg_int("version") is not None:
        query = query.where(ProcessDefinition.version == _arg_int("version"))
    if _arg("deploymentId"):
        query = query.where(_ids_in(ProcessDefinition.deployment_id, Deployment, [_arg("deploymentId")]))
    if _arg("versionTag"):
        query = query.where(ProcessDefinition.version_tag == _arg("versionTag"))
    if _arg_bool("suspended"):
        query = query.where(ProcessDefinition.suspended.is_(True))
    if _arg_bool("active"):
        query = query.where(ProcessDefinition.suspended.is_(False))
    if _arg_bool("latestVersion"):
        latest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
                  .group_by(ProcessDefinition.key).subquery())
        query = query.join(latest, and_(latest.c.key == ProcessDefinition.key,
                                        latest.c.version == ProcessDefinition.version))
    return _sorted(query, {"id": ProcessDefinition.id, "key": ProcessDefinition.key, "name": ProcessDefinition.name,
                           "version": ProcessDefinition.version, "deploymentId": ProcessDefinition.deployment_id,
                           "versionTag": ProcessDefinition.version_tag},
                   (ProcessDefinition.key, ProcessDefinition.version))


@rest_api.get("/process-definition")
def process_definitions():
    with _db().read() as session:
        return [definition_dto(session, d) for d in session.scalars(_paged(_definition_query()))]


@rest_api.get("/process-definition/count")
def process_definitions_count():
    with _db().read() as session:
        return _count(session, _definition_query())


def _definition(session: Session, definition_id: str) -> ProcessDefinition:
    return _row_by_rest_id(session, ProcessDefinition, definition_id, "process definition")


@rest_api.get("/process-definition/<definition_id>")
def process_definition(definition_id: str):
    with _db().read() as session:
        return definition_dto(session, _definition(session, definition_id))


@rest_api.get("/process-definition/key/<key>")
def process_definition_by_key(key: str):
    with _db().read() as session:
        return definition_dto(session, services.process_definition(session, key, list_known=_caller().is_admin))


def _xml_dto(definition: ProcessDefinition) -> dict:
    return {"id": definition.rest_id, "bpmn20Xml": definition.resource.content.decode("utf-8", errors="replace")}


@rest_api.get("/process-definition/<definition_id>/xml")
def process_definition_xml(definition_id: str):
    with _db().read() as session:
        return _xml_dto(_definition(session, definition_id))


@rest_api.get("/process-definition/key/<key>/xml")
def process_definition_xml_by_key(key: str):
    with _db().read() as session:
        return _xml_dto(services.process_definition(session, key, list_known=_caller().is_admin))


@rest_api.post("/process-definition/<definition_id>/start")
def start_by_id(definition_id: str):
    with _db().write() as session:
        return _start(session, _definition(session, definition_id))


@rest_api.post("/process-definition/key/<key>/start")
def start_by_key(key: str):
    with _db().write() as session:
        return _start(session, services.process_definition(session, key, list_known=_caller().is_admin))


@rest_api.post("/process-definition/<definition_id>/submit-form")
def submit_start_form_by_id(definition_id: str):
    """Camunda's start with a start form's fields (Tasklist's generated forms): a start, the form checked."""
    return start_by_id(definition_id)


@rest_api.post("/process-definition/key/<key>/submit-form")
def submit_start_form_by_key(key: str):
    return start_by_key(key)


def _start(session: Session, definition: ProcessDefinition) -> dict:
    """Start `definition` with Camunda's {businessKey, variables, withVariablesInReturn}."""
    caller = _require_writer("start processes")
    body = _json_body()
    with_variables = _body_flag(body, "withVariablesInReturn")
    if body.get("startInstructions"):
        raise _bad_request("startInstructions are not supported: a process starts at its start event")
    _check_may_start(caller, definition)
    business_key = body.get("businessKey")
    if business_key is not None and not isinstance(business_key, str):
        raise _bad_request("businessKey must be text")
    variables, business_key, override = _start_form_checked(session, definition, variables_in(body.get("variables")),
                                                            business_key, body.get("overrideReason"))
    row = services.start_process(session, definition.key, business_key=business_key, variables=variables,
                                 user=caller.name, version=definition.version, form_override=override,
                                 definition=definition)
    remember_types(row, body.get("variables"))
    dto = instance_dto(session, row, _self_link(f"/process-instance/{row.rest_id}"))
    if with_variables:
        dto["variables"] = instance_variables_out(row)
    return dto


def _start_form_checked(session: Session, definition: ProcessDefinition, values: dict, business_key: Optional[str],
                        override_reason) -> tuple[dict, Optional[str], Optional[str]]:
    """The variables and business key a start sets, checked as the start page checks the start
    event's form (when it declares one); an administrator may skip the check with
    `overrideReason`, kept in the history."""
    if override_reason is not None:
        caller = _require_admin("start a process without its start form's checks")
        if not isinstance(override_reason, str) or not override_reason.strip():
            raise _bad_request("overrideReason must say why the form's checks are skipped")
        return values, business_key, f"{override_reason.strip()} ({caller.name})"
    caller = _caller()
    submitted = submission.check_start(session, definition, values, caller.groups, is_admin=caller.is_admin,
                                       business_key=business_key)
    if not submitted.ok:
        raise _bad_request(f"Cannot instantiate process definition {definition.rest_id}: the start form "
                           f"of '{definition.key}': {submitted.problems()}")
    return submitted.variables, submitted.business_key, None


def _check_may_start(caller: Caller, definition: ProcessDefinition) -> None:
    """camunda:candidateStarterGroups / candidateStarterUsers, when the process names them."""
    groups, people = definition.meta.get("starter_groups") or [], definition.meta.get("starter_users") or []
    if caller.is_admin or not (groups or people):
        return
    if caller.name in people or set(caller.groups) & set(groups):
        return
    raise AccessDenied(f"{caller.name} may not start process '{definition.key}': it is started by "
                       f"{', '.join(groups + people)}")


# --- visibility --------------------------------------------------------------------------------

_OFFERED = TaskCandidate.__table__.alias("offered")  # not the inbox rows a query may join already; made once


def _offered(name, groups, task_id=UserTask.__table__.c.id):
    """The task (of the enclosing query; `task_id` its id column) is offered to the user `name` or to
    one of `groups` (values, or bound parameters): a look at that task's candidate rows, never a
    list of all the tasks of those bureaus."""
    candidate = _OFFERED.c
    return select(candidate.task_id).where(candidate.task_id == task_id, or_(
        and_(candidate.kind == "group", candidate.value.in_(groups)),
        and_(candidate.kind == "user", candidate.value == name))).exists()


@functools.lru_cache(maxsize=1024)  # a caller's conditions are made once (SQL expressions do not change)
def _offered_to(caller: Caller):
    """The task is offered to the caller or to one of the caller's bureaus."""
    return _offered(caller.name, list(caller.groups))


@functools.lru_cache(maxsize=1024)
def _task_visible(caller: Caller):
    """Who sees a task: its bureaus and candidates, its assignee, and those who read everything."""
    if caller.reads_all:
        return None
    return or_(UserTask.assignee == caller.name, _offered_to(caller))


def _offered_on_row(task: UserTask, caller: Caller) -> bool:
    """What `_task_visible` finds, read from the task row already loaded (its candidate rows are
    made from these columns): its assignee, a candidate user, or one of the candidate groups."""
    return task.assignee == caller.name or caller.name in (task.candidate_users or []) \
        or not set(caller.groups).isdisjoint(task.candidate_groups or [])


_INVOLVED = aliased(UserTask, name="involved")  # not the tasks a query of tasks (/history/task) selects


def _instance_visible(caller: Caller):
    """Who sees an instance: who started it and who was offered, claimed or did one of its tasks."""
    if caller.reads_all:
        return None
    task = _INVOLVED
    involved = or_(task.assignee == caller.name, task.completed_by == caller.name,
                   _offered(caller.name, list(caller.groups), task.id))
    return or_(ProcessInstance.started_by == caller.name,
               select(task.id).where(task.instance_id == ProcessInstance.id, involved).exists(),
               select(task.id).where(task.called_instance_id == ProcessInstance.id, involved).exists())


def _visible_instance(session: Session, instance_id: str) -> ProcessInstance:
    row = services.instance(session, _int_id(session, ProcessInstance, instance_id, "process instance"))
    condition = _instance_visible(_caller())
    if condition is not None and session.scalar(
            select(func.count()).select_from(ProcessInstance).where(ProcessInstance.id == row.id, condition)) == 0:
        raise AccessDenied(f"{_caller().name} may not see process instance {row.rest_id}: "
                           "neither started by them nor offered to their bureaus")
    return row


# --- process instances -------------------------------------------------------------------------

_ENDED = ("completed", "terminated")


def instance_dto(session: Session, row: ProcessInstance, links: Optional[list] = None) -> dict:
    definition = session.get(ProcessDefinition, row.definition_id)
    return {"links": links or [], "id": row.rest_id, "definitionId": definition.rest_id,
            "businessKey": row.business_key, "caseInstanceId": None, "ended": row.status in _ENDED,
            "suspended": row.status == "suspended",
            "tenantId": deployment_tenant(session, definition.deployment_id)}


def _instance_filters(query, *, history: bool):
    """The filters that /process-instance and /history/process-instance share."""
    ids = _arg_list("processInstanceIds") or ([_arg("processInstanceId")] if history and _arg("processInstanceId")
                                              else None)
    if ids:
        query = query.where(ProcessInstance.rest_id.in_(ids))
    key = "processInstanceBusinessKey" if history else "businessKey"
    if _arg(key):
        query = query.where(ProcessInstance.business_key == _arg(key))
    if _arg(key + "Like"):
        query = query.where(_like(ProcessInstance.business_key, _arg(key + "Like")))
    if _arg("processDefinitionKey"):
        query = query.where(ProcessInstance.process_key == _arg("processDefinitionKey"))
    keys = _arg_list("processDefinitionKeyIn")
    if keys:
        query = query.where(ProcessInstance.process_key.in_(keys))
    if _arg("processDefinitionId"):
        query = query.where(_ids_in(ProcessInstance.definition_id, ProcessDefinition, [_arg("processDefinitionId")]))
    calls = aliased(ProcessInstance)  # a called process's instance names its caller (engine/called.py)
    if _arg("superProcessInstanceId" if history else "superProcessInstance"):
        query = query.where(ProcessInstance.super_instance_id.in_(select(calls.id).where(
            calls.rest_id == _arg("superProcessInstanceId" if history else "superProcessInstance"))))
    if _arg("subProcessInstanceId" if history else "subProcessInstance"):
        query = query.where(ProcessInstance.id.in_(select(calls.super_instance_id).where(
            calls.rest_id == _arg("subProcessInstanceId" if history else "subProcessInstance"))))
    if _arg_bool("rootProcessInstances"):
        query = query.where(ProcessInstance.super_instance_id.is_(None))
    if _arg_bool("suspended"):
        query = query.where(ProcessInstance.status == "suspended")
    if _arg_bool("active"):
        query = query.where(ProcessInstance.status.in_(("running", "waiting", "incident")))
    if _arg_bool("withIncidents" if history else "withIncident"):
        query = query.where(ProcessInstance.id.in_(select(Incident.at_instance_id).where(Incident.resolved_at.is_(None))))
    condition = _instance_visible(_caller())
    return query if condition is None else query.where(condition)


def _instance_query():
    query = _instance_filters(select(ProcessInstance).where(ProcessInstance.status.not_in(_ENDED)), history=False)
    return _sorted(query, {"instanceId": ProcessInstance.id, "definitionKey": ProcessInstance.process_key,
                           "definitionId": ProcessInstance.definition_id, "businessKey": ProcessInstance.business_key},
                   (ProcessInstance.id,))


@rest_api.get("/process-instance")
@rest_api.post("/process-instance")
def process_instances():
    with _db().read() as session:
        rows = _variables_filtered(session, _instance_query(), _arg_variables("variables"), lambda r: r[0].variables)
        return [instance_dto(session, row) for row, in rows]


@rest_api.get("/process-instance/count")
@rest_api.post("/process-instance/count")
def process_instances_count():
    with _db().read() as session:
        return _variables_filtered(session, _instance_query(), _arg_variables("variables"),
                                   lambda r: r[0].variables, count=True)


def _running_instance(session: Session, instance_id: str, *, for_change: bool = False) -> ProcessInstance:
    """`for_change`: not a called process's instance, which changes with the root that runs it."""
    row = _visible_instance(session, instance_id)
    if row.status in _ENDED:
        raise NotFound(f"process instance {row.rest_id} has ended ({row.status}); "
                       f"see /history/process-instance/{row.rest_id}")
    if for_change and row.root_instance_id is not None:
        raise _bad_request(f"process instance {row.rest_id} is a called process ('{row.process_key}') that runs in "
                           f"process instance {_rest_id(session, ProcessInstance, row.root_instance_id)}: suspend, "
                           "resume, delete it or change its variables there")
    return row


@rest_api.get("/process-instance/<instance_id>")
def process_instance(instance_id: str):
    with _db().read() as session:
        return instance_dto(session, _running_instance(session, instance_id))


@rest_api.get("/process-instance/<instance_id>/variables")
def process_instance_variables(instance_id: str):
    with _db().read() as session:
        return instance_variables_out(_running_instance(session, instance_id))


@rest_api.get("/process-instance/<instance_id>/variables/<name>")
def process_instance_variable(instance_id: str, name: str):
    with _db().read() as session:
        row = _running_instance(session, instance_id)
        if name not in (row.variables or {}):
            raise NotFound(f"process instance {instance_id} has no variable '{name}'")
        return variable_dto(row.variables[name], (row.variable_types or {}).get(name))


@rest_api.post("/process-instance/<instance_id>/variables")
def modify_process_instance_variables(instance_id: str):
    """Camunda's {"modifications": {...}}: an administrator mends process data."""
    caller = _require_admin("change process variables")
    body = _json_body()
    if body.get("deletions") not in (None, []):
        raise _bad_request("deletions must be empty: deleting variables is not supported, set them to null instead")
    with _db().write() as session:
        row = _running_instance(session, instance_id, for_change=True)
        services.set_variables(session, row.id, variables_in(body.get("modifications"), "modifications"),
                               user=caller.name)
        remember_types(row, body.get("modifications"))
    return "", 204


@rest_api.put("/process-instance/<instance_id>/variables/<name>")
def put_process_instance_variable(instance_id: str, name: str):
    caller = _require_admin("change process variables")
    dto = _json_body()
    value = variable_value(name, dto)
    with _db().write() as session:
        row = _running_instance(session, instance_id, for_change=True)
        services.set_variables(session, row.id, {name: value}, user=caller.name)
        remember_types(row, {name: dto})
    return "", 204


@rest_api.put("/process-instance/<instance_id>/suspended")
def suspend_process_instance(instance_id: str):
    """{"suspended": true} suspends, false resumes (administrators)."""
    caller = _require_admin("suspend or resume process instances")
    suspended = _json_body().get("suspended")
    if not isinstance(suspended, bool):
        raise _bad_request("give {\"suspended\": true} or {\"suspended\": false}")
    with _db().write() as session:
        row = _running_instance(session, instance_id, for_change=True)
        change = services.suspend if suspended else services.resume
        change(session, row.id, user=caller.name, reason="REST API")
    return "", 204


@rest_api.delete("/process-instance/<instance_id>")
def delete_process_instance(instance_id: str):
    """Terminate an instance (administrators); ?deleteReason= is kept in its history."""
    caller = _require_admin("delete process instances")
    for flag in ("skipCustomListeners", "skipIoMappings", "skipSubprocesses"):
        _arg_bool(flag)  # nothing to skip: a deleted instance runs no listeners, mappings or called processes
    reason = (_arg("deleteReason") or _json_body().get("deleteReason")
              or f"deleted through the REST API by {caller.name}")
    with _db().write() as session:
        row = _running_instance(session, instance_id, for_change=True)
        services.terminate(session, row.id, user=caller.name, reason=str(reason))
    return "", 204


# --- tasks -------------------------------------------------------------------------------------

def owner_of(model):
    """The instance a user task, external task or message subscription belongs to: a called
    process's own instance, else the instance whose state runs it (engine/called.py)."""
    return func.coalesce(model.called_instance_id, model.instance_id)


def task_dto(session: Session, task: UserTask, instance: ProcessInstance) -> dict:
    """One task (a row and the instance it belongs to) as Camunda shows it."""
    return _task_dto(session, (task.id, task.rest_id, task.name, task.assignee, task.created_at, task.due_at,
                               task.follow_up_at, task.priority, task.element_id, task.form_key, instance.rest_id,
                               instance.status, _rest_id(session, ProcessDefinition, instance.definition_id),
                               task.description, instance.definition_id))


def _task_dto(connection, row) -> dict:
    """A task as Camunda shows it, from the values `_TASK_ROWS` reads."""
    (_key, rest_id, name, assignee, created, due, follow_up, priority, element_id, form_key, instance_id, status,
     definition_id, description, definition_row, *_variables) = row
    return {"id": rest_id, "name": name, "assignee": assignee, "owner": None,
            "created": _date(created), "due": _date(due), "followUp": _date(follow_up), "delegationState": None,
            "description": task_description(connection, definition_row, element_id, description),
            "executionId": instance_id, "parentTaskId": None, "priority": priority,
            "processDefinitionId": definition_id, "processInstanceId": instance_id,
            "caseExecutionId": None, "caseDefinitionId": None, "caseInstanceId": None,
            "taskDefinitionKey": element_id, "suspended": status == "suspended",
            "formKey": form_key, "camundaFormRef": None, "tenantId": None}


# The task lists read table columns, not ORM attributes: plain rows, no ORM layer per statement or row.
_TASK, _INSTANCE, _DEFINITION = UserTask.__table__.c, ProcessInstance.__table__.c, ProcessDefinition.__table__.c
_CANDIDATES = TaskCandidate.__table__

# Tasks joined with their instances and definitions: what _task_dto shows (and, for a variable
# filter, the instance's variables, last).
_TASK_ROWS = (select(_TASK.id, _TASK.rest_id, _TASK.name, _TASK.assignee, _TASK.created_at, _TASK.due_at,
                     _TASK.follow_up_at, _TASK.priority, _TASK.element_id, _TASK.form_key,
                     _INSTANCE.rest_id, _INSTANCE.status, _DEFINITION.rest_id, _TASK.description,
                     _INSTANCE.definition_id)
              .join_from(UserTask.__table__, ProcessInstance.__table__, _INSTANCE.id == owner_of(_TASK))
              .join(ProcessDefinition.__table__, _DEFINITION.id == _INSTANCE.definition_id))


def _of_instances(rest_ids):
    """The tasks of the instances named, read from those instances' rows: besides the join on
    owner_of, what it implies in a form their index by instance answers (a task's `instance_id` is
    the instance at the root of its owner's calls, engine/called.py), not among all ready tasks."""
    return and_(_INSTANCE.rest_id.in_(rest_ids), _TASK.instance_id == _ROOT_OF_INSTANCE)


def _of_instance(rest_id):
    """`_of_instances` for one instance: a plain parameter, no list expanded into the SQL per call."""
    return and_(_INSTANCE.rest_id == rest_id, _TASK.instance_id == _ROOT_OF_INSTANCE)


_ROOT_OF_INSTANCE = func.coalesce(_INSTANCE.root_instance_id, _INSTANCE.id)


# Camunda's task filters that test a column against the parameter's value, in the order the query
# applies them (the candidate filters come between the two groups): the parameter, how its value
# is read, and the condition on that value (a bound parameter of the parameter's name).
_TASK_FILTERS = (
    ("taskId", _arg, lambda value: _TASK.rest_id == value),
    ("processInstanceBusinessKey", _arg, lambda value: _TASK.business_key == value),
    ("processInstanceBusinessKeyLike", _arg, lambda value: _like(_TASK.business_key, value)),
    ("processDefinitionKey", _arg, lambda value: _INSTANCE.process_key == value),
    ("processDefinitionKeyIn", _arg_list, lambda values: _INSTANCE.process_key.in_(values)),
    ("processDefinitionId", _arg, lambda value: _DEFINITION.rest_id == value),
    ("taskDefinitionKey", _arg, lambda value: _TASK.element_id == value),
    ("taskDefinitionKeyIn", _arg_list, lambda values: _TASK.element_id.in_(values)),
    ("name", _arg, lambda value: _TASK.name == value),
    ("nameLike", _arg, lambda value: _like(_TASK.name, value)),
    ("description", _arg, lambda value: _described(value, _TASK.description == value)),
    ("descriptionLike", _arg, lambda value: _described(value, _like(_TASK.description, value))),
    ("assignee", _arg, lambda value: _TASK.assignee == value),
    ("assigneeLike", _arg, lambda value: _like(_TASK.assignee, value)),
    ("assigned", _arg_bool, lambda _: _TASK.assignee.is_not(None)),
    ("unassigned", _arg_bool, lambda _: _TASK.assignee.is_(None)),
)
_DESCRIPTION_FILTERS = ("description", "descriptionLike")
_TASK_FILTERS_AFTER_CANDIDATES = (
    ("withCandidateGroups", _arg_bool, lambda _: _TASK.id.in_(select(_CANDIDATES.c.task_id)
                                                                 .where(_CANDIDATES.c.kind == "group"))),
    ("active", _arg_bool, lambda _: _INSTANCE.status != "suspended"),
    ("suspended", _arg_bool, lambda _: _INSTANCE.status == "suspended"),
    ("dueBefore", _arg_date, lambda moment: _TASK.due_at < moment),
    ("dueAfter", _arg_date, lambda moment: _TASK.due_at > moment),
    ("createdBefore", _arg_date, lambda moment: _TASK.created_at < moment),
    ("createdAfter", _arg_date, lambda moment: _TASK.created_at > moment),
    ("followUpBefore", _arg_date, lambda moment: _TASK.follow_up_at < moment),
    ("followUpAfter", _arg_date, lambda moment: _TASK.follow_up_at > moment),
    ("priority", _arg_int, lambda number: _TASK.priority == number),
    ("minPriority", _arg_int, lambda number: _TASK.priority >= number),
    ("maxPriority", _arg_int, lambda number: _TASK.priority <= number),
)
_TASK_FILTER_CONDITIONS = {"processInstanceIdIn": _of_instances, "processInstanceId": _of_instance,
                           **{name: condition
                              for name, _read, condition in _TASK_FILTERS + _TASK_FILTERS_AFTER_CANDIDATES}}
_TASK_LIST_FILTERS = {"processInstanceIdIn", *(name for name, read, _condition in _TASK_FILTERS if read is _arg_list)}
_TASK_SORTS = {"id": _TASK.id, "name": _TASK.name, "assignee": _TASK.assignee, "created": _TASK.created_at,
               "dueDate": _TASK.due_at, "followUpDate": _TASK.follow_up_at, "priority": _TASK.priority,
               "instanceId": _TASK.instance_id, "processInstanceId": _TASK.instance_id}


def _described(value, own_passes):
    """A description filter: the task's own description passes, or it has none and its element's
    documentation passes (the (definition, element) pairs bound as `<filter>_documented`)."""
    documented = bindparam(f"{value.key}_documented", expanding=True)
    return or_(own_passes, and_(_TASK.description.is_(None),
                                tuple_(_INSTANCE.definition_id, _TASK.element_id).in_(documented)))


def _documented(connection: Connection, name: str, value: str) -> list[tuple[int, str]]:
    """The (definition id, element id) of the user tasks whose documentation passes the description
    filter `name` as the database compares: = exactly, or SQL LIKE (`_like_text`)."""
    matches = (lambda text: text == value) if name == "description" else \
        _like_text(value, connection.dialect.name).fullmatch
    return [(definition_id, element_id) for definition_id in connection.scalars(select(_DEFINITION.id))
            for element_id, text in task_documentation(connection, definition_id).items() if matches(text)]


def _like_text(pattern: str, dialect: str) -> re.Pattern:
    """SQL LIKE's pattern as the database reads it: % any text, _ one character; on PostgreSQL a
    backslash takes the next character as it is, on SQLite the letters A-Z match either case."""
    parts, chars = [], iter(pattern)
    for char in chars:
        if char == "\\" and dialect == "postgresql":
            parts.append(re.escape(next(chars, "")))
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE | re.ASCII if dialect == "sqlite" else 0))


@dataclass(frozen=True)
class _TaskQueryShape:
    """What a task query's statement depends on, never a value: the filters given, the candidate
    rule, whether the caller's visibility applies, the sort and the paging. Values are bound
    parameters, so one statement (and its SQLAlchemy cache key) serves every query of a shape."""

    filters: tuple[str, ...]
    candidates: Optional[str]  # None, "group" (one group's inbox rows), "groups" or "user"
    unclaimed: bool  # candidate tasks: the unclaimed ones only
    visible: bool  # restricted to what the caller may see
    sort: tuple[tuple[str, str], ...]
    with_variables: bool = False
    offset: bool = False
    limit: bool = False
    caller_groups: int = 0  # the caller's bureaus, a parameter each (a list expanded into the SQL costs per call)


def _applies(value) -> bool:
    """A filter parameter given: text or a list not empty, a flag true, a date or a number."""
    return value is not None and value is not False and value != []


def _task_query(connection: Connection, *, with_variables: bool) -> tuple[_TaskQueryShape, dict]:
    """Ready tasks as Camunda's task query filters and sorts them: the query's shape, and the
    values bound to it (the caller's name and groups among them when their visibility applies)."""
    caller = _caller()
    values, filters = {}, []
    instances = _arg_list("processInstanceIdIn") or ([_arg("processInstanceId")] if _arg("processInstanceId") else None)
    if instances:
        name = "processInstanceIdIn" if len(instances) > 1 else "processInstanceId"
        filters.append(name)
        values[name] = instances if len(instances) > 1 else instances[0]
    given = g.rest_query  # the parameters sent: a filter not among them applies nothing

    def read(table):
        for name, read_value, _condition in table:
            if name not in given:
                continue
            value = read_value(name)
            if _applies(value):
                filters.append(name)
                values[name] = value
    read(_TASK_FILTERS)
    for name in _DESCRIPTION_FILTERS:
        if name in filters:
            values[f"{name}_documented"] = _documented(connection, name, values[name])
    groups = _arg_list("candidateGroups") or ([_arg("candidateGroup")] if _arg("candidateGroup") else None)
    candidate_user = _arg("candidateUser")
    unclaimed = not _arg_bool("includeAssignedTasks")  # Camunda: candidate tasks are the unclaimed ones
    visible = not caller.reads_all
    candidates = None
    if groups and len(set(groups)) == 1 and not candidate_user:
        candidates, values["candidate_group"] = "group", groups[0]
        if groups[0] in caller.groups:
            visible = False  # offered to the caller's own bureau
    elif candidate_user:
        candidates, values["candidate_user"] = "user", candidate_user
    elif groups:
        candidates, values["candidate_groups"] = "groups", groups
    read(_TASK_FILTERS_AFTER_CANDIDATES)
    if visible:
        values["caller"] = caller.name
        values.update(zip(_caller_group_names(len(caller.groups)), caller.groups))
    return _TaskQueryShape(tuple(filters), candidates, unclaimed and candidates is not None, visible,
                           _sorting(_TASK_SORTS), with_variables,
                           caller_groups=len(caller.groups) if visible else 0), values


@functools.lru_cache(maxsize=64)
def _caller_group_names(count: int) -> tuple[str, ...]:
    return tuple(f"caller_group_{i}" for i in range(count))


def _task_paged(shape: _TaskQueryShape, values: dict) -> _TaskQueryShape:
    """The shape with Camunda's paging (firstResult, maxResults) bound into `values`."""
    first, limit = _arg_int("firstResult"), _arg_int("maxResults")
    if first:
        values["first_result"] = max(first, 0)
    if limit is not None:
        values["max_results"] = max(limit, 0)
    return replace(shape, offset=bool(first), limit=limit is not None)


@functools.lru_cache(maxsize=256)  # one statement per shape: values are bound when it runs
def _task_statement(shape: _TaskQueryShape):
    """The statement of a task query's shape: each value a bound parameter named for it."""
    columns = (_INSTANCE.variables,) if shape.with_variables else ()
    query = _TASK_ROWS.add_columns(*columns).where(_TASK.state == "ready")
    order = (_TASK.created_at, _TASK.id)
    for name in shape.filters:
        query = query.where(_TASK_FILTER_CONDITIONS[name](bindparam(name, expanding=name in _TASK_LIST_FILTERS)))
    if shape.candidates == "group":
        row = _CANDIDATES.c
        on_inbox = [row.task_id == _TASK.id, row.kind == "group", row.value == bindparam("candidate_group"),
                    row.ready.is_(True)]
        query = query.join(_CANDIDATES, and_(*on_inbox, *([row.claimed.is_(False)] if shape.unclaimed else [])))
        order = (row.created_at, row.task_id)
    elif shape.candidates == "user":  # offered to the user or to a bureau of theirs (none if there is no such user)
        query = query.where(_offered(bindparam("candidate_user"), _GROUPS_OF_CANDIDATE_USER))
    elif shape.candidates == "groups":
        query = query.where(_TASK.id.in_(select(_CANDIDATES.c.task_id).where(
            _CANDIDATES.c.kind == "group", _CANDIDATES.c.value.in_(bindparam("candidate_groups", expanding=True)),
            _CANDIDATES.c.ready.is_(True))))
    if shape.candidates and shape.unclaimed:
        query = query.where(_TASK.assignee.is_(None))
    if shape.visible:
        caller = bindparam("caller")
        groups = [bindparam(name) for name in _caller_group_names(shape.caller_groups)]
        query = query.where(or_(_TASK.assignee == caller, _offered(caller, groups)))
    query = query.order_by(*_ordered(shape.sort, _TASK_SORTS), *order)
    if shape.offset:
        query = query.offset(bindparam("first_result", type_=Integer))
    if shape.limit:
        query = query.limit(bindparam("max_results", type_=Integer))
    return query


_GROUPS_OF_CANDIDATE_USER = (select(UserBureau.__table__.c.bureau_id)
                             .join(User.__table__, User.__table__.c.id == UserBureau.__table__.c.user_id)
                             .where(User.__table__.c.name == bindparam("candidate_user")))


@functools.lru_cache(maxsize=256)
def _task_count_statement(shape: _TaskQueryShape):
    return select(func.count()).select_from(_task_statement(shape).order_by(None).subquery())


@rest_api.get("/task")
@rest_api.post("/task")
def tasks():
    with _task_reading() as connection:
        group = _bureau_inbox_asked({"firstResult", "maxResults"})
        if group is not None:
            rows = _bureau_inbox_page(connection, group)
        else:
            test = _arg_variables("processVariables")
            shape, values = _task_query(connection, with_variables=test is not None)
            if test is None:
                rows = connection.execute(_task_statement(_task_paged(shape, values)), values)
            else:
                rows = _page_list([row for row in connection.execute(_task_statement(shape), values)
                                   if test(row[-1])])
        return [_task_dto(connection, row) for row in rows]


@rest_api.get("/task/count")
@rest_api.post("/task/count")
def tasks_count():
    with _task_reading() as connection:
        group = _bureau_inbox_asked()
        if group is not None:
            return {"count": inbox.open_count(connection, group, unclaimed=not _arg_bool("includeAssignedTasks"))}
        test = _arg_variables("processVariables")
        shape, values = _task_query(connection, with_variables=test is not None)
        if test is None:
            return {"count": connection.scalar(_task_count_statement(shape), values)}
        return {"count": sum(1 for row in connection.execute(_task_statement(shape), values) if test(row[-1]))}


@contextlib.contextmanager
def _task_reading() -> Iterator[Connection]:
    """A connection in a read transaction for the task lists, whose statements are all Core (table
    columns, plain rows): the ORM session of `Database.read` around them (its session, transaction
    and identity map) cost a fifth of a call asking for one instance's tasks."""
    with _db().read_engine.connect() as connection:
        yield connection


def _bureau_inbox_asked(paging: frozenset = frozenset()) -> Optional[str]:
    """The group when a query asks for nothing but one group's tasks the caller may see (and a page)."""
    asked = set(g.get("rest_query", {}))
    groups = _arg_list("candidateGroups") or ([_arg("candidateGroup")] if _arg("candidateGroup") else [])
    caller = _caller()
    if (len(set(groups)) == 1 and not asked - {"candidateGroup", "candidateGroups", "includeAssignedTasks", *paging}
            and (groups[0] in caller.groups or caller.reads_all)):
        return groups[0]
    return None


def _inbox_run(claimed: bool, limited: bool):
    """A group's ready task ids (unclaimed or claimed) in inbox order, from its index."""
    row = _CANDIDATES.c
    run = (select(row.created_at, row.task_id)
           .where(row.kind == "group", row.value == bindparam("group"), row.ready.is_(True), row.claimed.is_(claimed))
           .order_by(row.created_at, row.task_id))
    return run.limit(bindparam("end", type_=Integer)) if limited else run


_INBOX_RUNS = {(claimed, limited): _inbox_run(claimed, limited)
               for claimed in (False, True) for limited in (False, True)}
_TASK_ROWS_BY_KEY = _TASK_ROWS.where(_TASK.id.in_(bindparam("keys", expanding=True)))


def _bureau_inbox_page(connection: Connection, group: str) -> Iterable:
    """A page of a group's ready tasks, oldest first. The first page of the unclaimed ones is one
    statement down the group's inbox index; a later page, or one with includeAssignedTasks, reads
    its task ids in order from the index first (the unclaimed range, and the claimed one merged
    with it), then those tasks alone."""
    first, limit = max(_arg_int("firstResult") or 0, 0), _arg_int("maxResults")
    ranges = [False] if not _arg_bool("includeAssignedTasks") else [False, True]
    if not first and len(ranges) == 1:  # the caller sees the group's tasks (_bureau_inbox_asked)
        shape = _TaskQueryShape((), "group", unclaimed=True, visible=False, sort=(), limit=limit is not None)
        return connection.execute(_task_statement(shape), {"candidate_group": group,
                                                            "max_results": max(limit or 0, 0)})
    values = {"group": group} if limit is None else {"group": group, "end": first + max(limit, 0)}
    runs = [connection.execute(_INBOX_RUNS[claimed, limit is not None], values).all() for claimed in ranges]
    ids = [task_id for _created, task_id in heapq.merge(*runs)][first:]
    ids = ids if limit is None else ids[:max(limit, 0)]
    found = {row[0]: row for row in connection.execute(_TASK_ROWS_BY_KEY, {"keys": ids})} if ids else {}
    return [found[task_id] for task_id in ids if task_id in found]


def _visible_task(session: Session, task_id: str, *, for_change: bool = False) -> tuple[UserTask, ProcessInstance]:
    """The task if the caller may see it. For a change, the task's instance is locked first and
    both are read as the last change left them: a task done meanwhile is a 409 naming who did it."""
    if for_change:
        task, row = services.lock_task(session, rest_id=task_id)
    else:
        task = services.user_task(session, _int_id(session, UserTask, task_id, "task"))
        row = None
        if task.state != "ready":
            raise NotFound(f"task {task.rest_id} is {task.state}; see /history/activity-instance?processInstanceId="
                           f"{_rest_id(session, ProcessInstance, task.instance_id)}")
    caller = _caller()
    condition = None if _offered_on_row(task, caller) else _task_visible(caller)
    if condition is not None and session.scalar(
            select(func.count()).select_from(UserTask).where(UserTask.id == task.id, condition)) == 0:
        raise AccessDenied(f"{_caller().name} may not see task {task.rest_id}: it is not offered to them or their "
                           "bureaus")
    if row is None:  # the instance the task belongs to: a called process's own
        return task, session.get(ProcessInstance, task.called_instance_id or task.instance_id)
    services.check_ready(task, row)
    return task, row


@rest_api.get("/task/<task_id>")
def task(task_id: str):
    with _db().read() as session:
        return task_dto(session, *_visible_task(session, task_id))


_FORM_TYPES = {"string": "String", "long": "Long", "boolean": "Boolean", "date": "Date", "enum": "String"}


@rest_api.get("/task/<task_id>/form-variables")
def task_form_variables(task_id: str):
    """The task's form fields (camunda:formData) with their current or default values."""
    names = _arg_list("variableNames")
    with _db().read() as session:
        task, row = _visible_task(session, task_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        fields = user_task_meta(definition.meta, task.element_id).get("form_fields") or []
        if not fields:
            return instance_variables_out(row, names)
        return form_variables_out(fields, row.variables or {}, names)


def form_variables_out(fields: list[dict], values: dict, names: Optional[list[str]]) -> dict:
    """Form fields (camunda:formData) as typed values: the current value, else the default."""
    out = {}
    for field in fields:
        if names is not None and field["id"] not in names:
            continue
        value = values.get(field["id"], field.get("default"))
        dto = variable_dto(_form_value(value, field.get("type")))
        if field.get("type") in _FORM_TYPES:  # the field's type, also while it has no value
            dto["type"] = _FORM_TYPES[field["type"]]
        out[field["id"]] = dto
    return out


def _form_value(value, kind: Optional[str]):
    """A default from the diagram is text; read it as the field's type."""
    if not isinstance(value, str):
        return value
    if kind == "long":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _user_id(body: dict) -> Optional[str]:
    user_id = body.get("userId")
    if user_id is not None and not isinstance(user_id, str):
        raise _bad_request("userId must be text")
    return user_id or None


@rest_api.post("/task/<task_id>/claim")
def claim_task(task_id: str):
    caller = _caller()
    target = _user_id(_json_body()) or caller.name
    with _db().write() as session:
        task, _row = _visible_task(session, task_id, for_change=True)
        _claim_for(session, task, caller, target)
    return "", 204


def _claim_for(session: Session, task: UserTask, caller: Caller, target: str) -> None:
    """Claim as oneself (a candidate, or an administrator: any task); for someone else, the
    assignee or an administrator hands it over (services.reassign_task)."""
    if target == caller.name:
        _require_task_worker(caller, "claim tasks")
        services.claim(session, task.id, user=caller.name, groups=list(caller.groups), roles=caller.roles)
        return
    services.reassign_task(session, task.id, actor=caller.name, to_user=target, groups=list(caller.groups),
                           roles=caller.roles, reason=_reason())


def _reason() -> str:
    """A reason sent with a REST call (dalad's `reason` query parameter), else what the call was."""
    return (_arg("reason") or "").strip()[:500] or f"REST {request.method} {request.path}"


@rest_api.post("/task/<task_id>/unclaim")
def unclaim_task(task_id: str):
    caller = _caller()
    with _db().write() as session:
        task, _row = _visible_task(session, task_id, for_change=True)
        _unclaim(session, task, caller)
    return "", 204


def _unclaim(session: Session, task: UserTask, caller: Caller) -> None:
    """The assignee gives a task back to its candidates; an administrator may take it from anyone."""
    if services.task_access(task, caller.name, list(caller.groups), caller.roles, "assign") is None:
        holder = f"claimed by {task.assignee}" if task.assignee else "not claimed"
        raise AccessDenied(f"{caller.name} may not unclaim task {task.id}: it is {holder}")
    services.unclaim(session, task.id, user=caller.name)


@rest_api.post("/task/<task_id>/assignee")
def set_task_assignee(task_id: str):
    """Camunda's setAssignee: null gives the task back; another user takes it (its assignee or an
    administrator hands it over)."""
    caller = _caller()
    target = _user_id(_json_body())
    with _db().write() as session:
        task, _row = _visible_task(session, task_id, for_change=True)
        if task.assignee != target:
            services.reassign_task(session, task.id, actor=caller.name, to_user=target, groups=list(caller.groups),
                                   roles=caller.roles, reason=_reason())
    return "", 204


@rest_api.post("/task/<task_id>/complete")
def complete_task(task_id: str):
    """Complete with Camunda's {"variables": {...}}; withVariablesInReturn answers the variables."""
    caller = _caller()
    body = _json_body()
    with_variables = _body_flag(body, "withVariablesInReturn")
    with _db().write() as session:
        task, _row = _visible_task(session, task_id, for_change=True)
        _require_task_worker(caller, "complete tasks")
        data, override = _form_checked(session, task, variables_in(body.get("variables")), body.get("overrideReason"))
        row = services.complete_task(session, task.id, user=caller.name, data=data, groups=list(caller.groups),
                                     roles=caller.roles, reason=_reason(), form_override=override)
        remember_types(row, body.get("variables"))
        if with_variables:  # the task's own instance's: a called process's for its tasks
            return instance_variables_out(session.get(ProcessInstance, task.called_instance_id) or row
                                          if task.called_instance_id else row)
    return "", 204


def _form_checked(session: Session, task: UserTask, values: dict, override_reason) -> tuple[dict, Optional[str]]:
    """The variables a completion sets, checked as the task page checks its form; an
    administrator may skip the check by giving `overrideReason` (a dalad extension, recorded in
    the history with the completion)."""
    if override_reason is not None:
        caller = _require_admin("complete a task without its form's checks")
        if not isinstance(override_reason, str) or not override_reason.strip():
            raise _bad_request("overrideReason must say why the form's checks are skipped")
        return values, f"{override_reason.strip()} ({caller.name})"
    submitted = submission.check(session, task, values, typed_values=True)
    if not submitted.ok:
        raise _bad_request(f"Cannot submit task form {task.rest_id}: {submitted.problems()}")
    return submitted.variables, None


@rest_api.post("/task/<task_id>/submit-form")
def submit_task_form(task_id: str):
    return complete_task(task_id)


# --- messages ----------------------------------------------------------------------------------

@rest_api.post("/message")
def correlate_message():
    """Camunda's message correlation: to the one waiting execution, else start the process it
    starts; with `all`, to every waiting one and every process it starts."""
    caller = _require_writer("send messages")
    body = _json_body()
    name = body.get("messageName")
    if not isinstance(name, str) or not name:
        raise _bad_request("messageName is required")
    if body.get("businessKey") is not None and not isinstance(body["businessKey"], str):
        raise _bad_request("businessKey must be text")
    for unsupported in ("tenantId", "processVariablesLocal", "localCorrelationKeys"):
        if body.get(unsupported):
            raise _bad_request(f"{unsupported} is not supported: correlate by businessKey, processInstanceId and "
                               "correlationKeys")
    if body.get("all") not in (None, True, False):
        raise _bad_request(f"all must be true or false, not {_shown(body['all'])}")
    with _db().write() as session:
        instance_id = body.get("processInstanceId")
        if instance_id is not None:
            if not isinstance(instance_id, str):
                raise _bad_request("processInstanceId must be text")
            instance_id = _int_id(session, ProcessInstance, instance_id, "process instance")
        correlate = services.correlate_message_all if body.get("all") else services.correlate_message
        try:
            results = correlate(
                session, name, business_key=body.get("businessKey"),
                variables=variables_in(body.get("processVariables"), "processVariables"),
                correlation_keys=variables_in(body.get("correlationKeys"), "correlationKeys") or None,
                user=caller.name, instance_id=instance_id, sender=_sender(caller))
        except MismatchingMessageCorrelation as exc:  # Camunda: a RestException wrapping the engine's
            raise RestError(400, "RestException",
                            f"org.camunda.bpm.engine.MismatchingMessageCorrelationException: {exc}") from exc
        except EngineError as exc:
            if status_of(exc) == 400 and not isinstance(exc, InvalidInput):
                raise RestError(400, "RestException", f"Cannot correlate message '{name}': {exc}") from exc
            raise
        results = results if body.get("all") else [results]
        for result in results:
            remember_types(result.instance, body.get("processVariables"))
        if not body.get("resultEnabled"):
            return "", 204
        return [_correlation_result(session, result, body.get("variablesInResultEnabled")) for result in results]


def _correlation_result(session: Session, result: services.CorrelationResult, with_variables: bool) -> dict:
    """Camunda's MessageCorrelationResultWithVariableDto."""
    row = result.instance
    entry = {"resultType": "ProcessDefinition" if result.started else "Execution",
             "execution": None if result.started else {"id": row.rest_id, "processInstanceId": row.rest_id,
                                                       "ended": row.status in _ENDED, "tenantId": None},
             "processInstance": instance_dto(session, row) if result.started else None}
    if with_variables:
        entry["variables"] = instance_variables_out(row)
    return entry


# --- history -----------------------------------------------------------------------------------

_STATES = {"running": "ACTIVE", "waiting": "ACTIVE", "incident": "ACTIVE", "suspended": "SUSPENDED",
           "completed": "COMPLETED", "terminated": "EXTERNALLY_TERMINATED"}


def _history_instance_query():
    query = select(ProcessInstance, ProcessDefinition).join(
        ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
    query = _instance_filters(query, history=True)
    if _arg_bool("finished"):
        query = query.where(ProcessInstance.status.in_(_ENDED))
    if _arg_bool("unfinished"):
        query = query.where(ProcessInstance.status.not_in(_ENDED))
    if _arg_bool("completed"):
        query = query.where(ProcessInstance.status == "completed")
    if _arg_bool("externallyTerminated"):
        query = query.where(ProcessInstance.status == "terminated")
    if _arg("startedBy"):
        query = query.where(ProcessInstance.started_by == _arg("startedBy"))
    query = _dated(query, (("startedBefore", ProcessInstance.started_at, True),
                           ("startedAfter", ProcessInstance.started_at, False),
                           ("finishedBefore", ProcessInstance.ended_at, True),
                           ("finishedAfter", ProcessInstance.ended_at, False)))
    return _sorted(query, {"instanceId": ProcessInstance.id, "definitionId": ProcessInstance.definition_id,
                           "definitionKey": ProcessInstance.process_key, "definitionName": ProcessDefinition.name,
                           "definitionVersion": ProcessDefinition.version,
                           "businessKey": ProcessInstance.business_key, "startTime": ProcessInstance.started_at,
                           "endTime": ProcessInstance.ended_at}, (ProcessInstance.id,))


def _historic_instance_dtos(session: Session, pairs: list) -> list[dict]:
    ids = [row.id for row, _definition in pairs]
    started, reasons = {}, {}
    if ids:
        for instance_id, type_, element, body in session.execute(
                select(HistoryEvent.instance_id, HistoryEvent.type, HistoryEvent.element_id, HistoryEvent.body)
                .where(HistoryEvent.of_instances(ids), HistoryEvent.type.in_(("instance_started", "status_changed")))
                .order_by(HistoryEvent.instance_id, HistoryEvent.seq)):
            if type_ == "instance_started":
                started.setdefault(instance_id, element)
            else:
                data = json.loads(body).get("data") or {}
                if data.get("to") == "terminated":
                    reasons[instance_id] = data.get("reason")
    tenants = {}
    calls = _rest_ids(session, ProcessInstance, {key for row, _definition in pairs
                                                 for key in (row.super_instance_id, row.root_instance_id) if key})
    out = []
    for row, definition in pairs:
        if definition.deployment_id not in tenants:
            tenants[definition.deployment_id] = session.get(Deployment, definition.deployment_id).tenant_id
        out.append({"id": row.rest_id, "rootProcessInstanceId": calls.get(row.root_instance_id, row.rest_id),
                    "superProcessInstanceId": calls.get(row.super_instance_id),
                    "superCaseInstanceId": None, "caseInstanceId": None, "processDefinitionName": definition.name,
                    "processDefinitionKey": definition.key, "processDefinitionVersion": definition.version,
                    "processDefinitionId": definition.rest_id, "businessKey": row.business_key,
                    "startTime": _date(row.started_at), "endTime": _date(row.ended_at), "removalTime": None,
                    "durationInMillis": _millis(row.started_at, row.ended_at), "startUserId": row.started_by,
                    "startActivityId": started.get(row.id), "deleteReason": reasons.get(row.id),
                    "tenantId": tenants[definition.deployment_id], "state": _STATES.get(row.status, "ACTIVE")})
    return out


@rest_api.get("/history/process-instance")
@rest_api.post("/history/process-instance")
def history_process_instances():
    with _db().read() as session:
        return _historic_instance_dtos(session, _variables_filtered(
            session, _history_instance_query(), _arg_variables("variables"), lambda r: r[0].variables))


@rest_api.get("/history/process-instance/count")
@rest_api.post("/history/process-instance/count")
def history_process_instances_count():
    with _db().read() as session:
        return _variables_filtered(session, _history_instance_query(), _arg_variables("variables"),
                                   lambda r: r[0].variables, count=True)


@rest_api.get("/history/process-instance/<instance_id>")
def history_process_instance(instance_id: str):
    with _db().read() as session:
        row = _visible_instance(session, instance_id)
        return _historic_instance_dtos(session, [(row, session.get(ProcessDefinition, row.definition_id))])[0]


# Activity instances, rebuilt from the instance history: start events, user tasks (created to
# completed or cancelled), and the message and timer events that were reached.
_ACTIVITY_EVENTS = ("instance_started", "task_created", "task_claimed", "task_unclaimed", "task_completed",
                    "task_cancelled", "message_correlated", "timer_fired", "status_changed")
_EVENT_KINDS = ("message", "timer", "signal", "error", "escalation", "conditional", "terminate", "compensate",
                "link", "cancel")
_ACTIVITY_TYPES = {
    "startEvent": {"message": "messageStartEvent", "timer": "startTimerEvent", "signal": "signalStartEvent",
                   None: "startEvent"},
    "intermediateCatchEvent": {"message": "intermediateMessageCatch", "timer": "intermediateTimer",
                               "signal": "intermediateSignalCatch", "conditional": "intermediateConditional"},
    "boundaryEvent": {"message": "boundaryMessage", "timer": "boundaryTimer", "signal": "boundarySignal",
                      "error": "boundaryError", "escalation": "boundaryEscalation"},
    "endEvent": {"error": "errorEndEvent", "terminate": "terminateEndEvent", "message": "messageEndEvent",
                 None: "noneEndEvent"},
}
_catalogs: dict[str, dict] = {}


def _element_catalog(session: Session, definition: ProcessDefinition) -> dict[str, tuple[str, Optional[str]]]:
    """Element id -> (Camunda activity type, name), read from the deployed diagram once."""
    catalog = _catalogs.get(definition.content_hash)
    if catalog is None:
        catalog = {}
        try:
            root = parse_xml(definition.resource.content, definition.resource.name).getroot()
        except DefinitionInvalid:
            root = None
        for element in root.iter(f"{{{BPMN_NS}}}*") if root is not None else ():
            element_id = element.get("id")
            if element_id is None:
                continue
            tag = etree.QName(element).localname
            kind = next((k for k in _EVENT_KINDS if element.find(f"{{{BPMN_NS}}}{k}EventDefinition") is not None),
                        None)
            types = _ACTIVITY_TYPES.get(tag)
            catalog[element_id] = ((types.get(kind) or tag) if types else tag, element.get("name"))
        if len(_catalogs) > 500:
            _catalogs.clear()
        _catalogs[definition.content_hash] = catalog
    return catalog


def _activity_instances(session: Session, condition) -> list[dict]:
    """The activity instances of the instances matching `condition`, in order of start."""
    instances = {row.id: (row, definition) for row, definition in session.execute(
        select(ProcessInstance, ProcessDefinition)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id).where(condition))}
    if not instances:
        return []
    roots = select(func.coalesce(ProcessInstance.root_instance_id, ProcessInstance.id)).where(condition)
    events = session.execute(  # a called process's are in its root's history
        select(HistoryEvent.id, HistoryEvent.instance_id, HistoryEvent.type, HistoryEvent.element_id,
               HistoryEvent.at, HistoryEvent.actor, HistoryEvent.body)
        .where(HistoryEvent.of_instances(roots), HistoryEvent.type.in_(_ACTIVITY_EVENTS))
        .order_by(HistoryEvent.instance_id, HistoryEvent.seq))
    called = dict(session.execute(select(UserTask.id, UserTask.called_instance_id).where(
        UserTask.instance_id.in_(roots), UserTask.called_instance_id.is_not(None))).all())
    root_ids = _rest_ids(session, ProcessInstance, {row.root_instance_id or row.id for row, _d in instances.values()})
    out: list[dict] = []
    open_tasks: dict[int, dict] = {}
    for event_id, instance_id, type_, element, at, actor, body in events:
        data = json.loads(body).get("data") or {}
        if type_ == "status_changed":
            if data.get("to") == "terminated":
                for activity in [a for a in out if a["rootProcessInstanceId"] == root_ids.get(instance_id)
                                 and a["endTime"] is None]:
                    _end_activity(activity, at, canceled=True)
            continue
        owner = called.get(data.get("task"), instance_id) if type_ == "task_created" else instance_id
        if owner not in instances and type_ not in ("task_claimed", "task_unclaimed", "task_completed",
                                                    "task_cancelled"):
            continue  # an event of an instance not asked for (the root of a called one asked for)
        row, definition = instances.get(owner, (None, None))
        if type_ in ("task_claimed", "task_unclaimed", "task_completed", "task_cancelled"):
            activity = open_tasks.get(data.get("task"))
            if activity is None:
                continue
            if type_ == "task_claimed":
                activity["assignee"] = data.get("assignee")
            elif type_ == "task_unclaimed":
                activity["assignee"] = None
            else:
                activity["assignee"] = actor if type_ == "task_completed" else activity["assignee"]
                _end_activity(activity, at, canceled=type_ == "task_cancelled")
                open_tasks.pop(data.get("task"), None)
            continue
        if element is None:
            continue
        kind, name = _element_catalog(session, definition).get(element, (None, None))
        if type_ == "message_correlated" and kind and kind.endswith(("startEvent", "StartEvent")):
            continue  # the start itself is the instance_started event
        activity = {"id": f"{element}:{event_id}", "parentActivityInstanceId": row.rest_id,
                    "activityId": element, "activityName": name, "activityType": kind or "unknown",
                    "processDefinitionKey": definition.key, "processDefinitionId": definition.rest_id,
                    "processInstanceId": row.rest_id, "executionId": row.rest_id, "taskId": None,
                    "calledProcessInstanceId": None, "calledCaseInstanceId": None, "assignee": None,
                    "startTime": _date(at), "endTime": None, "durationInMillis": None, "canceled": False,
                    "completeScope": False, "tenantId": None, "removalTime": None,
                    "rootProcessInstanceId": root_ids.get(instance_id, row.rest_id), "_start": at}
        if type_ == "task_created":
            activity["taskId"] = data.get("task")
            activity["assignee"] = data.get("assignee")
            open_tasks[data.get("task")] = activity
        else:
            _end_activity(activity, at, canceled=False)
        out.append(activity)
    task_ids = _rest_ids(session, UserTask, (a["taskId"] for a in out))
    for activity in out:
        activity.pop("_start")
        activity["taskId"] = task_ids.get(activity["taskId"])
    return out


def _end_activity(activity: dict, at: datetime, *, canceled: bool) -> None:
    activity["endTime"], activity["canceled"] = _date(at), canceled
    activity["durationInMillis"] = _millis(activity["_start"], at)


def _activity_query() -> list[dict]:
    condition = ProcessInstance.id.is_not(None)
    visible = _instance_visible(_caller())
    if visible is not None:
        condition = and_(condition, visible)
    if _arg("processInstanceId"):
        condition = and_(condition, ProcessInstance.rest_id == _arg("processInstanceId"))
    if _arg("processDefinitionId"):
        condition = and_(condition, _ids_in(ProcessInstance.definition_id, ProcessDefinition,
                                            [_arg("processDefinitionId")]))
    if _arg("processDefinitionKey"):
        condition = and_(condition, ProcessInstance.process_key == _arg("processDefinitionKey"))
    with _db().read() as session:
        activities = _activity_instances(session, condition)
    wanted: list[tuple[str, Callable[[dict], bool]]] = []
    for name, test in (("activityId", lambda a, v: a["activityId"] == v),
                       ("activityInstanceId", lambda a, v: a["id"] == v),
                       ("activityName", lambda a, v: a["activityName"] == v),
                       ("activityType", lambda a, v: a["activityType"] == v),
                       ("taskAssignee", lambda a, v: a["assignee"] == v)):
        value = _arg(name)
        if value is not None:
            wanted.append((name, lambda a, t=test, v=value: t(a, v)))
    for name, test in (("finished", lambda a: a["endTime"] is not None),
                       ("unfinished", lambda a: a["endTime"] is None),
                       ("canceled", lambda a: a["canceled"]),
                       ("completeScope", lambda a: a["completeScope"])):
        if _arg_bool(name):
            wanted.append((name, test))
    activities = [a for a in activities if all(test(a) for _name, test in wanted)]
    sort_keys = _sort_keys()
    sort_by, order = sort_keys[0] if sort_keys else (None, "asc")
    keys = {"activityInstanceId": "id", "instanceId": "processInstanceId", "executionId": "executionId",
            "activityId": "activityId", "activityName": "activityName", "activityType": "activityType",
            "startTime": "startTime", "endTime": "endTime", "duration": "durationInMillis",
            "definitionId": "processDefinitionId"}
    if sort_by is not None:
        if sort_by not in keys:
            raise _bad_request(f"sortBy '{sort_by}' is not one of: {', '.join(keys)}")
        field = keys[sort_by]  # activities without the value (not ended yet) come last either way
        present = sorted((a for a in activities if a[field] is not None), key=lambda a: a[field],
                         reverse=order == "desc")
        activities = present + [a for a in activities if a[field] is None]
    return activities


@rest_api.get("/history/activity-instance")
def history_activity_instances():
    return _page_list(_activity_query())


@rest_api.get("/history/activity-instance/count")
def history_activity_instances_count():
    return {"count": len(_activity_query())}


# User operations: the history events that a person caused, in Camunda's operation-log shape.
_OPERATIONS = {  # event type -> (operationType, entityType, category)
    "instance_started": ("Create", "ProcessInstance", "Operator"),
    "task_claimed": ("Claim", "Task", "TaskWorker"),
    "task_unclaimed": ("Claim", "Task", "TaskWorker"),
    "task_assigned": ("Assign", "Task", "TaskWorker"),
    "task_completed": ("Complete", "Task", "TaskWorker"),
    "status_changed": (None, "ProcessInstance", "Operator"),  # Suspend, Activate or Delete
    "variables_changed": ("ModifyVariable", "Variable", "Operator"),
    "message_correlated": ("CorrelateMessage", "ProcessInstance", "Operator"),
    "timer_fired": ("Execute", "Job", "Operator"),  # executed by hand (/job/{id}/execute): it names who
    "job_executed": ("Execute", "Job", "Operator"),
    "job_due_date_set": ("SetDueDate", "Job", "Operator"),
    "deployment": ("Create", "Deployment", "Operator"),
    "user_added": ("Create", "User", "Admin"),
    "password_changed": ("Update", "User", "Admin"),
    "token_created": ("Create", "ApiToken", "Admin"),
    "token_revoked": ("Delete", "ApiToken", "Admin"),
}


def _operation_entries(session: Session, rows) -> list[dict]:
    """Log entries of (event, instance REST id, definition REST id, process key) rows, with the
    REST ids of the tasks and deployments they name."""
    entries = [_operation_entry(*row) for row in rows]
    tasks = _rest_ids(session, UserTask, (e["taskId"] for e in entries))
    deployments = _rest_ids(session, Deployment, (e["deploymentId"] for e in entries))
    jobs = _rest_ids(session, Timer, (e["jobId"] for e in entries))
    for entry in entries:
        entry["taskId"], entry["deploymentId"] = tasks.get(entry["taskId"]), deployments.get(entry["deploymentId"])
        entry["jobId"] = jobs.get(entry["jobId"])
    return entries


def _operation_entry(event: HistoryEvent, instance_id, definition_id, process_key) -> dict:
    data = (json.loads(event.body).get("data") or {})
    operation, entity, category = _OPERATIONS[event.type]
    prop = org = new = annotation = None
    if event.type == "status_changed":
        target, annotation = data.get("to"), data.get("reason") or None
        if target == "terminated":
            operation, prop, new = "Delete", "deleteReason", data.get("reason")
        else:
            operation = ("Suspend" if target == "suspended" else "Activate" if data.get("from") == "suspended"
                         else "Update")
            prop, org, new = "suspensionState", data.get("from"), target
    elif event.type == "task_claimed":
        prop, new = "assignee", data.get("assignee")
    elif event.type == "task_unclaimed":
        prop, org = "assignee", data.get("previous")
    elif event.type == "task_assigned":
        prop, org, new, annotation = "assignee", data.get("from"), data.get("to"), data.get("reason")
    elif event.type == "variables_changed":
        prop, new = "variables", json.dumps(sorted((data.get("variables") or {}).keys()))
    elif event.type == "message_correlated":
        prop, new = "messageName", data.get("message")
    elif event.type in ("user_added", "password_changed", "token_created", "token_revoked"):
        prop, new = "user", data.get("user")
    elif event.type == "instance_started":
        prop, new = "businessKey", data.get("business_key")
    elif event.type == "job_due_date_set":  # dates as Camunda's PropertyChange writes them: milliseconds
        prop, org, new = "duedate", _epoch_milliseconds(data.get("previous")), _epoch_milliseconds(data.get("due"))
    task_id = data.get("task") if entity == "Task" else None
    return {"id": str(event.id), "userId": event.actor, "timestamp": _date(event.at), "operationId": str(event.id),
            "operationType": operation, "entityType": entity, "category": category, "annotation": annotation,
            "property": prop, "orgValue": _text_or_none(org), "newValue": _text_or_none(new),
            "deploymentId": data.get("deployment") if event.type == "deployment" else None,
            "processDefinitionId": definition_id, "processDefinitionKey": process_key,
            "processInstanceId": instance_id, "executionId": instance_id,
            "caseDefinitionId": None, "caseInstanceId": None, "caseExecutionId": None, "taskId": task_id,
            "externalTaskId": None, "batchId": None, "jobId": (data.get("timer") or data.get("job")) if entity == "Job"
            else None, "jobDefinitionId": None, "removalTime": None,
            "rootProcessInstanceId": instance_id}


def _epoch_milliseconds(text: Optional[str]) -> Optional[str]:
    return None if text is None else str(round(clock.aware(datetime.fromisoformat(text)).timestamp() * 1000))


def _text_or_none(value) -> Optional[str]:
    return None if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_STATUS_OPERATIONS = ("Suspend", "Activate", "Delete", "Update")  # what a status_changed event is


def _operation_types() -> tuple[set[str], bool]:
    """The event types the operationType/entityType/category filters allow, and whether
    status changes must still be told apart after reading them."""
    types = set(_OPERATIONS)
    wanted = _arg("operationType")
    if wanted is not None:
        types &= {t for t, (op, _e, _c) in _OPERATIONS.items()
                  if op == wanted or (op is None and wanted in _STATUS_OPERATIONS)}
    entities = _arg_list("entityTypeIn") or ([_arg("entityType")] if _arg("entityType") else None)
    if entities:
        types &= {t for t, (_o, entity, _c) in _OPERATIONS.items() if entity in entities}
    if _arg("category"):
        types &= {t for t, (_o, _e, category) in _OPERATIONS.items() if category == _arg("category")}
    return types, wanted is not None and "status_changed" in types


def _operation_query(*, count: bool = False):
    """The user operation log (a list, or its count): SQL does the paging unless an entry must be
    read to be filtered (a status change's kind, a task or a deployment id)."""
    caller = _caller()
    types, tell_status = _operation_types()
    query = (select(HistoryEvent, ProcessInstance.rest_id, ProcessDefinition.rest_id, ProcessInstance.process_key)
             .outerjoin(ProcessInstance, ProcessInstance.id == HistoryEvent.instance_id)
             .outerjoin(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .where(HistoryEvent.actor.is_not(None), HistoryEvent.of_types(types)))
    visible = _instance_visible(caller)
    if visible is not None:  # officials see the operations on the instances they see, not the system's
        query = query.where(HistoryEvent.of_instances(select(ProcessInstance.id).where(visible)))
    if _arg("processInstanceId"):
        query = query.where(ProcessInstance.rest_id == _arg("processInstanceId"))
    if _arg("processDefinitionId"):
        query = query.where(ProcessDefinition.rest_id == _arg("processDefinitionId"))
    if _arg("processDefinitionKey"):
        query = query.where(ProcessInstance.process_key == _arg("processDefinitionKey"))
    if _arg("userId"):
        query = query.where(HistoryEvent.actor == _arg("userId"))
    if _arg_date("afterTimestamp"):
        query = query.where(HistoryEvent.at > _arg_date("afterTimestamp"))
    if _arg_date("beforeTimestamp"):
        query = query.where(HistoryEvent.at < _arg_date("beforeTimestamp"))
    sort_keys = _sort_keys()
    if any(sort_by != "timestamp" for sort_by, _order in sort_keys):
        raise _bad_request("sortBy must be timestamp")
    descending = bool(sort_keys) and sort_keys[0][1] == "desc"
    query = query.order_by(HistoryEvent.at.desc() if descending else HistoryEvent.at,
                           HistoryEvent.id.desc() if descending else HistoryEvent.id)
    after_reading = [(name, value) for name, value in (
        ("operationType", _arg("operationType") if tell_status else None), ("taskId", _arg("taskId")),
        ("deploymentId", _arg("deploymentId"))) if value is not None]
    with _db().read() as session:
        if not after_reading:
            if count:
                return _count(session, query)
            return _operation_entries(session, session.execute(_paged(query)))
        entries = _operation_entries(session, session.execute(query))
    entries = [e for e in entries if all(e[name] == value for name, value in after_reading)]
    return {"count": len(entries)} if count else _page_list(entries)


@rest_api.get("/history/user-operation")
def history_user_operations():
    return _operation_query()


@rest_api.get("/history/user-operation/count")
def history_user_operations_count():
    return _operation_query(count=True)


# --- external tasks, signals, decisions ---------------------------------------------------------
def _worker_body() -> dict:
    body = _json_body()
    if not isinstance(body.get("workerId"), str) or not body["workerId"]:
        raise _bad_request("workerId is required")
    return body


def whole_number(value: Any, name: str, low: int = -2**31, high: int = 2**31 - 1) -> int:
    """A JSON body's integer field, within [low, high] (what the columns and SQL hold)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad_request(f"{name} must be a whole number from {low} to {high}, not {_shown(value)}")
    return value


def _milliseconds(value: Any, name: str, low: int = 1) -> int:
    """A duration in milliseconds from now (a lock, a retry timeout): at most MAX_MILLIS, which
    ends long before the year 9999 that dates stop at."""
    return whole_number(value, name, low, MAX_MILLIS)


def _optional_text(value: Any, name: str) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise _bad_request(f"{name} must be text, not {_shown(value)}")
    return value


def _text_list(value: Any, name: str) -> Optional[list]:
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise _bad_request(f"{name} must be a list of text, not {_shown(value)}")
    return value


def _topics(value: Any) -> list[dict]:
    """fetchAndLock's topics, each field of the type Camunda's FetchExternalTaskTopicDto gives it."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise _bad_request("topics must be a list of {topicName, lockDuration, variables}")
    for index, topic in enumerate(value):
        where = f"topics[{index}]."
        if not isinstance(topic.get("topicName"), str) or not topic["topicName"]:
            raise _bad_request(f"{where}topicName must be text, not {_shown(topic.get('topicName'))}")
        _milliseconds(topic.get("lockDuration"), where + "lockDuration")
        for name in ("businessKey", "processDefinitionId", "processDefinitionKey"):
            _optional_text(topic.get(name), where + name)
        for name in ("variables", "processDefinitionIdIn", "processDefinitionKeyIn"):
            _text_list(topic.get(name), where + name)
        if topic.get("processVariables") is not None and not isinstance(topic["processVariables"], dict):
            raise _bad_request(f"{where}processVariables must be an object of name: value")
    return value


def _locked_task_dto(session: Session, locked) -> dict:
    task = locked.task
    row = session.get(ProcessInstance, task.called_instance_id or task.instance_id)
    definition = session.get(ProcessDefinition, row.definition_id)
    return {"activityId": task.element_id, "activityInstanceId": f"{task.element_id}:{task.task_uuid}",
            "errorMessage": task.error_message, "errorDetails": task.error_details,
            "executionId": row.rest_id, "id": task.rest_id, "lockExpirationTime": _date(task.lock_expires_at),
            "processDefinitionId": definition.rest_id, "processDefinitionKey": locked.process_key,
            "processDefinitionVersionTag": definition.version_tag,
            "processInstanceId": row.rest_id, "retries": task.retries, "suspended": False,
            "workerId": task.worker_id, "topicName": task.topic, "tenantId": None,
            "variables": variables_out(locked.variables, None, row.variable_types), "priority": task.priority,
            "businessKey": locked.business_key, "extensionProperties": {}}


@rest_api.post("/external-task/fetchAndLock")
def fetch_and_lock():
    """Lock tasks of the topics for a worker; answers at once (no long polling)."""
    _require_writer("work on external tasks")
    body = _worker_body()
    topics = _topics(body.get("topics"))
    max_tasks = whole_number(body.get("maxTasks", 10), "maxTasks", 0)
    with _db().write() as session:
        locked = services.fetch_and_lock(session, body["workerId"], topics, max_tasks=max_tasks)
        return [_locked_task_dto(session, item) for item in locked]


@rest_api.post("/external-task/<task_id>/complete")
def complete_external_task(task_id: str):
    caller = _require_writer("work on external tasks")
    body = _worker_body()
    if body.get("localVariables"):
        raise _bad_request("localVariables are not supported: an external task has no scope of its own here; "
                           "give variables")
    variables = variables_in(body.get("variables"))
    with _db().write() as session:
        number = _int_id(session, ExternalTask, task_id, "external task")
        _check_worker_variables(session, caller, number, variables, "an external task's completion")
        row = services.complete_external_task(session, number, worker_id=body["workerId"], variables=variables,
                                              user=caller.name)
        remember_types(row, body.get("variables"))
    return "", 204


def _check_worker_variables(session: Session, caller: Caller, task_id: int, variables: dict, what: str) -> None:
    """A worker's variables may not set the process's protected variables (engine/senders.py): any
    official may work on external tasks."""
    task = session.get(ExternalTask, task_id)
    row = session.get(ProcessInstance, task.called_instance_id or task.instance_id)
    senders.check_instance_variables(session, _sender(caller), row, variables, what, budgets=False)


@rest_api.post("/external-task/<task_id>/failure")
def fail_external_task(task_id: str):
    caller = _require_writer("work on external tasks")
    body = _worker_body()
    retries = whole_number(body.get("retries") or 0, "retries")
    retry_timeout = _milliseconds(body.get("retryTimeout") or 0, "retryTimeout", -2**63)
    with _db().write() as session:
        services.handle_external_failure(
            session, _int_id(session, ExternalTask, task_id, "external task"), worker_id=body["workerId"],
            error_message=str(body.get("errorMessage") or ""),
            error_details=_optional_text(body.get("errorDetails"), "errorDetails"),
            retries=retries, retry_timeout=retry_timeout, user=caller.name)
    return "", 204


@rest_api.post("/external-task/<task_id>/bpmnError")
def external_task_bpmn_error(task_id: str):
    caller = _require_writer("work on external tasks")
    body = _worker_body()
    variables = variables_in(body.get("variables"))
    with _db().write() as session:
        number = _int_id(session, ExternalTask, task_id, "external task")
        _check_worker_variables(session, caller, number, variables, "an external task's BPMN error")
        row = services.handle_bpmn_error(
            session, number, worker_id=body["workerId"],
            error_code=_optional_text(body.get("errorCode"), "errorCode"),
            error_message=_optional_text(body.get("errorMessage"), "errorMessage"),
            variables=variables, user=caller.name)
        remember_types(row, body.get("variables"))
    return "", 204


@rest_api.post("/external-task/<task_id>/extendLock")
def extend_external_task_lock(task_id: str):
    _require_writer("work on external tasks")
    body = _worker_body()
    duration = _milliseconds(body.get("newDuration"), "newDuration")
    with _db().write() as session:
        services.extend_external_lock(session, _int_id(session, ExternalTask, task_id, "external task"),
                                      worker_id=body["workerId"], new_duration=duration)
    return "", 204


@rest_api.post("/signal")
def throw_signal():
    caller = _require_writer("send signals")
    body = _json_body()
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise _bad_request("name is required")
    with _db().write() as session:
        services.broadcast_signal(session, body["name"], variables=variables_in(body.get("variables")),
                                  user=caller.name, sender=_sender(caller))
    return "", 204


@rest_api.post("/decision-definition/key/<key>/evaluate")
def evaluate_decision(key: str):
    body = _json_body()
    with _db().read() as session:
        results = services.evaluate_decision(session, key, variables_in(body.get("variables")))
    return [variables_out(result) for result in results]


# --- anything else -----------------------------------------------------------------------------

@rest_api.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unknown(rest: str):
    raise RestError(404, "RestException", f"{request.method} /engine-rest/{rest} is not a call of this API "
                                          f"(see /engine-rest/openapi.json)")


# The other calls join rest_api from their own modules.
from . import rest_admin, rest_queries, rest_runtime  # noqa: E402,F401
