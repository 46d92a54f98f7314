"""The officials' and administrators' web UI (Flask + Jinja2 pages, not /engine-rest), fuzzed over
HTTP against a real `dalad serve` with bpmn/ deployed and the demo projects started: whatever a
browser sends, no page answers with a server error (5xx), and a refused form (4xx) loses nothing
already saved (the page of the task, instance, user or group it names still shows all it showed).

Every route comes from the app's url_map, so a new page is fuzzed without a word here. The users
log in through the login form and post with the session's CSRF token, as a browser does: officials
of the office, of a unit and of the consultant (in English), each first completing a task and
starting a project through their forms (so that 撤回 and the next steps are there to fuzz), the
auditor, then an administrator (USERS).
Path parameters take ids that exist, ids that do not and odd shapes; a GET gets query strings from
the names the view reads and the page's own GET forms and links; a POST gets the fields of the real
<form> that posts there (mostly the one of the page it posts from, found on the pages crawled
first) and the view's `request.form` keys, with boundary and
wrong-typed values (empty, very long, unicode, negative and huge numbers, dates at the calendar's
ends and impossible ones, SQL/JSON/HTML meta characters), fields missing, repeated and oversized.

The demo projects are seeded at SEEDED and the server runs from SERVED, four months on: the timers
due by then have fired (`dalad timers fire-due`), so projects past their deadlines, overdue tasks and
tasks not yet due are all there to fuzz.
The cases are drawn from a fixed seed, and the requests sent depend on it alone: what is drawn from
is in a fixed order (ids and names sorted, not in the database's order), the demo seed and the
server run on clocks fixed whatever the day, and the server's scheduler is off. Two
runs with one seed send the same requests, on SQLite and on PostgreSQL (FUZZ_LOG=file writes them,
CSRF tokens masked, to compare). FUZZ_EXAMPLES sets the cases per route and user, FUZZ_SEED another
seed (`FUZZ_EXAMPLES=40 FUZZ_SEED=7 make test-fuzz` for a longer hunt)."""
from __future__ import annotations

import inspect
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

import pytest
from sqlalchemy import create_engine, text
from werkzeug.routing import AnyConverter, IntegerConverter

from live_http import Client, Reply, dalad_serve

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("FUZZ_SEED", "20261206"))
REQUEST_LOG = os.environ.get("FUZZ_LOG")  # a file to write each request to (method, path, fields; CSRF tokens masked)
PASSWORD = "demo1234"  # the demo accounts' published password (dalad demo-seed)
# The demo accounts that work the UI, in this order: an official of the 领导小组办公室 (who sees most
# tasks, confirms and reviews), of a unit (edu: its progress report, a rectification and a plan entry
# to submit, with 材料), of the consultant reviewing a feasibility study, the auditor (the audit
# pages), then an administrator (who suspends and ends instances).
USERS = ("office", "edu", "consultant", "auditor", "admin")
ENGLISH = {"consultant"}  # reads the UI in English: its pages and refusals through the en catalogue

# Values for any field: boundaries, wrong types, dates at and beyond the calendar's ends, meta
# characters. No NUL in them: every request with a NUL is refused before its view (web/unstorable_text.py).
VALUES = (
    "", " ", "0", "1", "-1", "2", "007", "1.5", "-0", "2147483647", "2147483648", "-2147483649",
    "9223372036854775808", "1" * 40, "1e309", "NaN", "Infinity", "0x1F", "١٢٣",
    "true", "false", "on", "null", "None", "[]", "{}", '{"a": [1, {"b": null}]}', "[1, 2", '{"', "\"'",
    "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "0000-00-00", "10000-01-01", "2026-02-28T25:61",
    "0001-01-01T00:00:00", "9999-12-31T23:59:59.999999+14:00", "P1Y", "-P1D", "yesterday",
    "' OR '1'='1", "1; DROP TABLE app_user; --", "%", "_", "\\", "*", "<script>alert(1)</script>",
    "{{ 7*7 }}", "${7*7}", "../../etc/passwd", "//evil.example/", "javascript:alert(1)",
    "项目名称", "ｱｲｳ", "\u202e\u200b\ufeff", "😀" * 50, "\r\n", "\t", "a,b,,c", "unit:edu",
    "x" * 5000, "项" * 3000,
)
ODD_SEGMENTS = ("x" * 300, "项目", "%00", "' OR 1=1--", "<b>", "..", "%2F", "%25", " ", "a.b", "-1",
                "0", "99999999999999999999", "1.5", "ａ")
MISSING_IDS = (0, 2**31 - 1, 2**31, 10**20)
JUNK_NAMES = ("id", "page", "q", "from", "to", "", "x" * 500, "名", "a[]", "__proto__")


class _Forms(HTMLParser):
    """The <form>s of a page (method, action, fields with their values and whether a file is asked),
    the values its forms show filled in, and its links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.links: list[str] = []
        self.saved: set[tuple[str, str]] = set()  # (field, value) the page's forms show filled in
        self._textarea: Optional[str] = None
        self._form: Optional[dict] = None
        self._select: Optional[str] = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "form":
            self._form = {"method": (attrs.get("method") or "get").lower(), "action": attrs.get("action") or "",
                          "fields": {}, "types": {}, "files": set(), "formactions": [],
                          "multipart": "multipart" in (attrs.get("enctype") or "")}
            self.forms.append(self._form)
        elif self._form is not None and tag == "button" and attrs.get("formaction"):
            self._form["formactions"].append(attrs["formaction"])  # a second target of the same fields
        elif self._form is not None and tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            name, kind = attrs["name"], (attrs.get("type") or "").lower()
            values = self._form["fields"].setdefault(name, [])
            self._form["types"].setdefault(name, "number" if attrs.get("inputmode") in ("numeric", "decimal")
                                           else kind or tag)
            if kind == "file":
                self._form["files"].add(name)
            elif attrs.get("value") is not None:
                values.append(attrs["value"])
                if name != "_csrf" and tag == "input" and (kind not in ("checkbox", "radio") or "checked" in attrs):
                    self.saved.add((name, attrs["value"]))
            self._select = name if tag == "select" else None
            self._textarea = name if tag == "textarea" else None
        elif tag == "option" and self._form is not None and self._select and attrs.get("value") is not None:
            self._form["fields"][self._select].append(attrs["value"])
            if "selected" in attrs:
                self.saved.add((self._select, attrs["value"]))

    def handle_data(self, data):
        if self._textarea and data.strip():
            self.saved.add((self._textarea, data.strip()))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Every "now" of the demo seed counts from SEEDED (a Wednesday, the demo's deadlines of 2026-12-31
# ahead); the timers due at SERVED (a Wednesday too: the deadlines passed, the tasks due from
# mid-March not yet) are fired once, and the server's clock counts from SERVED. So which tasks are
# due or overdue and which forms their pages show is the same on any day; and the server fires no
# timers of its own: a timer fires when the clock says, not when a request does. The requests sent
# then depend on the seed alone.
SEEDED = "2026-11-04T10:00:00+08:00"
SERVED = "2027-03-03T10:00:00+08:00"
_AT_CLOCK = ("import sys\nfrom datetime import datetime, timezone\nfrom engine import clock\n"
             "clock.advance(datetime.fromisoformat(sys.argv[1]) - datetime.fromtimestamp(float(sys.argv[2]), timezone.utc))\n"
             "from engine.cli import main\nsys.exit(main(sys.argv[3:]))")


@pytest.fixture(scope="module")
def ui(tmp_path_factory, fuzz_database_url):
    """(base URL, database URL, log file) of a real `dalad serve` with the 办法's diagrams, the demo
    users and the demo projects seeded at SEEDED, the timers due at SERVED fired, its clock starting
    at SERVED and its timer scheduler off."""
    folder = tmp_path_factory.mktemp("ui-fuzz")
    url = fuzz_database_url
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "DALAD_DATABASE_URL": url,
           "DALAD_INSTANCE_DIR": str(folder), "DALAD_HISTORY_KEY": "ui-fuzz-history-key-0123456789abcdef",
           "DALAD_SECRET_KEY": "ui-fuzz-secret-key-0123456789abcdef", "DALAD_DEMO": "1", "DALAD_SCHEDULER": "0"}
    def dalad(at: str) -> list[str]:  # `dalad` with the clock moved to `at`
        return [sys.executable, "-c", _AT_CLOCK, at, str(time.time())]

    for at, args in ((SEEDED, ("init-db",)), (SEEDED, ("deploy", "bpmn/")), (SEEDED, ("demo-seed", "--projects")),
                     (SERVED, ("timers", "fire-due"))):
        done = subprocess.run([*dalad(at), *args], env=env, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert _timers_fired(url) > 0, "no demo project reached a deadline: SERVED fuzzes nothing a timer made"
    port = _free_port()
    base, log = f"http://127.0.0.1:{port}", folder / "serve.log"
    with dalad_serve(base, env, log=log, command=[*dalad(SERVED), "serve", "--host", "127.0.0.1", "--port", str(port)]):
        yield base, url, log


def _timers_fired(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT count(*) FROM history_event WHERE type = 'timer_fired'"))
    finally:
        engine.dispose()


def _ui_rules(database_url: str) -> list:
    """Every route of the UI from the app's url_map: not the REST API, static files or healthz."""
    from engine.database import Database
    from web import create_app

    app = create_app(db=Database(database_url))
    rules = [r for r in app.url_map.iter_rules()
             if not r.rule.startswith(("/engine-rest", "/.well-known")) and r.endpoint not in ("static", "healthz")]
    return app, sorted(rules, key=lambda r: (r.endpoint.startswith("auth."), r.rule))


def _existing(database_url: str, user: Optional[str] = None) -> dict[str, list]:
    """Ids and names that exist now, by the name of the path parameter that takes them, in a fixed
    order (not the database's, which differs between SQLite and PostgreSQL); "workable": the open
    tasks offered to `user`, to one of their groups, or assigned to them."""
    queries = {
        "task_id": "SELECT id FROM user_task ORDER BY state DESC, id",
        "instance_id": "SELECT id FROM process_instance ORDER BY id",
        "document_id": "SELECT id FROM document ORDER BY id", "deployment_id": "SELECT id FROM deployment ORDER BY id",
        "resource_id": "SELECT id FROM resource ORDER BY id", "incident_id": "SELECT id FROM incident ORDER BY id",
        "external_task_id": "SELECT id FROM external_task ORDER BY id",
        "key": "SELECT DISTINCT key FROM process_definition ORDER BY key",
        "version": "SELECT DISTINCT version FROM process_definition ORDER BY version",
        "name": "SELECT name FROM app_user WHERE name NOT IN ('" + "', '".join(USERS) + "') ORDER BY name",  # not the fuzzing users'
        "group_id": "SELECT id FROM bureau WHERE id <> 'office' ORDER BY id",
        "workable": "SELECT t.id FROM user_task t WHERE t.state = 'ready' AND (t.assignee = :user OR EXISTS ("
                    "SELECT 1 FROM task_candidate c WHERE c.task_id = t.id AND ((c.kind = 'user' AND c.value = :user)"
                    " OR (c.kind = 'group' AND c.value IN (SELECT b.bureau_id FROM user_bureau b"
                    " JOIN app_user u ON u.id = b.user_id WHERE u.name = :user))))) ORDER BY t.id",
        "completed": "SELECT id FROM user_task WHERE state = 'completed' AND completed_by = :user ORDER BY id",
    }
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            found = {name: [row[0] for row in connection.execute(text(sql), {"user": user})]
                     for name, sql in queries.items()}
    finally:
        engine.dispose()
    found["task_id"] = found["task_id"][:12] + found["task_id"][-4:]
    found["view"] = ["mine", "group", "all", "done", "overdue"]
    found["index"] = [0, 1, 2]
    return found


def _path_values(rule, existing: dict, rng: random.Random, mine: Optional[dict] = None) -> dict:
    """A value for each parameter of `rule`'s path: mostly one that exists (for the forms of tasks
    and of starts, mostly a task the user may work on, or for 撤回 one they completed, a process
    they may start), else missing or odd."""
    values = {}
    mine = {"task_id": (mine or {}).get("completed" if rule.endpoint == "tasks.withdraw" else "workable"),
            "key": (mine or {}).get("key")}
    for name, converter in rule._converters.items():
        own = mine.get(name) if rule.endpoint.startswith(("tasks.", "start.")) else None
        if isinstance(converter, AnyConverter):
            choices = sorted(converter.items)
        elif own and rng.random() < 0.7:
            choices = sorted(own)
        else:
            choices = existing.get("external_task_id" if "external" in rule.endpoint else name) or []
        roll = rng.random()
        if choices and roll < 0.7:
            values[name] = rng.choice(choices)
        elif isinstance(converter, IntegerConverter) and roll < 0.85:
            values[name] = rng.choice(MISSING_IDS)
        else:
            values[name] = rng.choice(ODD_SEGMENTS)
    return values


def _build(rule, values: dict) -> str:
    path = rule.rule
    for name, value in values.items():
        raw = str(value)
        segment = raw if raw.startswith("%") else urllib.parse.quote(raw, safe="")
        path = re.sub(r"<(?:[^:<>]+:)?" + re.escape(name) + r">", segment.replace("\\", "\\\\"), path)
    return path


def _read_keys(view) -> tuple[set, set]:
    """The query and form keys a view's own code reads (request.args / form / values)."""
    try:
        source = inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return set(), set()
    keys = {"args": set(), "form": set()}
    for where, key in re.findall(r"request\.(args|form|values|files)\.(?:get|getlist)\(\s*f?[\"']([^\"'{]+)", source):
        for kind in (("args", "form") if where == "values" else ("form",) if where == "files" else (where,)):
            keys[kind].add(key)
    return keys["args"], keys["form"]


def _value(rng: random.Random) -> str:
    return rng.choice(VALUES)


def _multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode())
    for name, filename, content in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + content)
    return b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


FILES = (("note.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), ("empty.pdf", b""),
         ("evil.exe", b"MZ\x90\x00"), ("项目 说明.docx", b"PK\x03\x04not really"), ("../../x.png", b"\x89PNG\r\n"),
         ("a" * 300 + ".pdf", b"%PDF-1.4\n"), ("bundle.bpmn", b"<definitions/>"),
         ("bad.bpmn", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><d>&e;</d>'),
         ("review.bpmn", (REPO / "tests" / "diagrams" / "review.bpmn").read_bytes()))  # one that deploys


def _filled_in(form: dict, token: str) -> tuple[list, list]:
    """The fields and files of `form` as an official fills it in (Fuzz.work)."""
    fields, files = [("_csrf", token)], []
    for name, values in form["fields"].items():
        kind = form["types"][name]
        if name in ("_csrf", "material") or kind == "file" or (kind == "checkbox" and "false" not in values):
            continue
        given = [value for value in values if value]
        fields.append((name, "false" if "false" in values else given[0] if given else FILLED.get(kind, "演示")))
    for index, material in enumerate(value for value in form["fields"].get("material", []) if value):
        files.append(("files", f"{material}.pdf", FILES[0][1]))
        fields.append((f"material-{index}", material))
    return fields, files


FILLED = {"number": "100", "date": "2026-11-20", "datetime-local": "2026-11-20T10:00", "email": "demo@example.cn",
          "tel": "0477-1234567", "url": "https://example.cn/"}  # what _filled_in types, by input type


class Session:
    """One user's browser: cookies, the CSRF token, re-login when a fuzzed POST ended the session."""

    def __init__(self, base: str, name: Optional[str]):
        self.base, self.name = base, name
        self.client = Client(base, timeout=120)
        self.token = ""
        if name:
            self.login()

    def login(self) -> None:
        self.client = Client(self.base, timeout=120)
        self.client.login(self.name, PASSWORD)
        self.token = self.client.csrf("/me")
        if self.name in ENGLISH:
            self.client.post("/lang", form={"lang": "en", "next": "/me", "_csrf": self.token})

    def get(self, path: str) -> Reply:
        return self.client.get(path, headers={"Accept": "text/html"})

    def post(self, path: str, fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]) -> Reply:
        if files:
            body, kind = _multipart(fields, files)
        else:
            body, kind = urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
        return self.client.post(path, raw=body, headers={"Accept": "text/html", "Content-Type": kind})

    def still_in(self) -> None:
        """Log in again when a fuzzed request (logout, a password or role change) ended the session."""
        if self.name and self.get("/me").status != 200:
            self.login()


class Fuzz:
    """The run over every route for one user, collecting every 5xx and every lost save."""

    def __init__(self, base, app, rules, database_url):
        self.base, self.app, self.rules, self.database_url = base, app, rules, database_url
        self.existing = _existing(database_url)
        self.adapter = app.url_map.bind("127.0.0.1")
        self.post_forms: dict[str, list[dict]] = {}  # endpoint -> forms that post there
        self.forms_at: dict[str, list[dict]] = {}  # path -> forms that post there (a task's own form)
        self.get_keys: dict[str, set] = {}  # endpoint -> query keys from GET forms and links
        self.startable: dict[str, set] = {}  # user -> keys of the processes the start page offers them
        self.failures: list[str] = []
        self.sent = 0
        self.worked: dict[str, Optional[int]] = {}  # "user endpoint" -> the status of work()'s post (302: done)
        self.log = open(REQUEST_LOG, "w", encoding="utf-8") if REQUEST_LOG else None
        self.statuses: dict[str, Counter] = {}  # endpoint -> how often each status answered

    # --- crawl: the real forms ------------------------------------------------------------------

    def crawl(self, user: Session, rng: random.Random) -> None:
        for rule in self.rules:
            if "GET" not in rule.methods:
                continue
            if rule.arguments == {"task_id"}:  # every task: which forms a task page shows depends on the task
                for task_id in self.existing["task_id"]:
                    self._learn(user, _build(rule, {"task_id": task_id}))
                continue
            for _ in range(3 if rule.arguments else 1):
                values = {}
                for name in sorted(rule.arguments):
                    choices = self.existing.get(name) or []
                    if not choices:
                        break
                    values[name] = rng.choice(choices)
                else:
                    self._learn(user, _build(rule, values))

    def _learn(self, user: Session, path: str) -> None:
        reply = self.check(user, "GET", path)
        if reply is None or "html" not in (reply.headers.get("Content-Type") or ""):
            return
        page = _Forms()
        page.feed(reply.text)
        for form in page.forms:
            for action in [form["action"] or path, *form["formactions"]]:
                endpoint = self._endpoint(urllib.parse.urlsplit(action).path, form["method"].upper())
                if endpoint is None:
                    continue
                if form["method"] == "post":
                    self.post_forms.setdefault(endpoint, []).append(form)
                    self.forms_at.setdefault(urllib.parse.urlsplit(action).path, []).append(form)
                else:
                    self.get_keys.setdefault(endpoint, set()).update(form["fields"])
        for link in page.links:
            parts = urllib.parse.urlsplit(link)
            endpoint = self._endpoint(parts.path, "GET")
            if endpoint:
                self.get_keys.setdefault(endpoint, set()).update(urllib.parse.parse_qs(parts.query))
            if endpoint == "start.form":  # a process this user may start
                self.startable.setdefault(user.name, set()).add(urllib.parse.unquote(parts.path.rsplit("/", 1)[1]))

    def _endpoint(self, path: str, method: str) -> Optional[str]:
        try:
            return self.adapter.match(path, method=method)[0]
        except Exception:  # not a route of the app (or another method)
            return None

    # --- requests -------------------------------------------------------------------------------

    def check(self, user: Session, method: str, path: str, fields=(), files=(), endpoint: str = "") -> Optional[Reply]:
        self.sent += 1
        if self.log is not None:
            shown = [(name, "<csrf>" if name == "_csrf" and value == user.token else
                      value if len(value) <= 100 else f"{value[:20]}…({len(value)})") for name, value in fields]
            self.log.write(f"{user.name} {method} {path} {shown!r} {[f[:2] for f in files]!r}\n")
        try:
            reply = user.get(path) if method == "GET" else user.post(path, list(fields), list(files))
        except OSError as exc:  # a dropped connection is a fault as much as a 500
            self.failures.append(f"{user.name}: {method} {path} {_shown(fields)}: no answer ({exc})")
            return None
        endpoint = endpoint or self._endpoint(urllib.parse.urlsplit(path).path, method) or path
        self.statuses.setdefault(f"{method} {endpoint}", Counter())[reply.status] += 1
        if reply.status >= 500:
            self.failures.append(f"{user.name}: {method} {path} {_shown(fields)} files={[f[:2] for f in files]}"
                                 f" -> {reply.status}")
        return reply

    def fuzz_get(self, user: Session, rule, rng: random.Random) -> None:
        view_args, _form = _read_keys(self.app.view_functions[rule.endpoint])
        names = sorted(view_args | self.get_keys.get(rule.endpoint, set())) or ["q"]
        for case in range(EXAMPLES):
            query: list[tuple[str, str]] = []
            for name in rng.sample(names, min(len(names), rng.randint(1, 4))):
                query += [(name, _value(rng)) for _ in range(2 if rng.random() < 0.2 else 1)]
            if rng.random() < 0.15:
                query.append((rng.choice(JUNK_NAMES), _value(rng)))
            if case == 0:  # every name at once with an empty value, as an untouched filter form sends
                query = [(name, "") for name in names]
            path = _build(rule, _path_values(rule, self.existing, rng))
            self.check(user, "GET", path + "?" + urllib.parse.urlencode(query), endpoint=rule.endpoint)

    def fuzz_post(self, user: Session, rule, rng: random.Random) -> None:
        _args, view_form = _read_keys(self.app.view_functions[rule.endpoint])
        forms = self.post_forms.get(rule.endpoint) or [{"fields": {}, "files": set(), "multipart": False}]
        for case in range(EXAMPLES):
            mine = {"workable": self.existing["workable"], "completed": self.existing["completed"],
                    "key": self.startable.get(user.name)}
            path = _build(rule, _path_values(rule, self.existing, rng, mine))
            own = self.forms_at.get(path)  # mostly the form of the page that posts to this very path
            form = rng.choice(own if own and rng.random() < 0.8 else forms)
            real = {name: values for name, values in form["fields"].items() if name != "_csrf"}
            names = sorted(set(real) | view_form)
            fields = [(name, rng.choice(real[name]) if real.get(name) else "x") for name in names]
            fields = self._mutate(fields, names, rng, keep=case == 0)
            if case == 0 or rng.random() > 0.05:
                fields.append(("_csrf", user.token))
            files = []
            file_names = sorted(form["files"] | ({"files", "file"} & view_form))
            if file_names and rng.random() < 0.8:
                for _ in range(rng.randint(1, 2)):
                    filename, content = rng.choice(FILES)
                    files.append((rng.choice(file_names), filename, content))
            before = self._saved(user, rule, path)
            reply = self.check(user, "POST", path, fields, files, endpoint=rule.endpoint)
            if reply is not None and 400 <= reply.status < 500 and before is not None:
                after = self._saved(user, rule, path)
                # What it showed saved is still there (a refused completion keeps the files it
                # brought, as the form says: they are added, nothing goes).
                lost = sorted(before - after) if after is not None else []
                if lost:
                    self.failures.append(f"{user.name}: POST {path} {_shown(fields)} files={[f[:2] for f in files]} "
                                         f"-> {reply.status} took from what {self._subject(rule, path)} shows: "
                                         + _shown(lost))
            user.still_in()

    def _mutate(self, fields: list, names: list, rng: random.Random, keep: bool) -> list:
        """The real form's values with some replaced, dropped, repeated or oversized."""
        if keep:
            return fields
        changed = []
        for name, value in fields:
            roll = rng.random()
            if roll < 0.15:
                continue  # missing
            if roll < 0.65:
                value = _value(rng)
            changed.append((name, value))
            if rng.random() < 0.1:
                changed.append((name, _value(rng)))  # repeated
        if names and rng.random() < 0.1:
            changed.append((rng.choice(names), "长" * 300_000))  # oversized
        if rng.random() < 0.1:
            changed.append((rng.choice(JUNK_NAMES), _value(rng)))
        return changed

    # --- nothing saved is lost ----------------------------------------------------------------

    def _subject(self, rule, path: str) -> Optional[str]:
        """The page that shows what a POST to `path` would change (a task, a project, a user, groups)."""
        try:
            _endpoint, args = self.adapter.match(urllib.parse.unquote(path), method="POST")
        except Exception:
            return None
        if "task_id" in args and rule.endpoint.startswith(("tasks.", "notices.")):
            return f"/tasks/{args['task_id']}"
        if "instance_id" in args:
            return f"/admin/instances/{args['instance_id']}"
        if "name" in args:
            return "/admin/users/" + urllib.parse.quote(args["name"], safe="")
        if "group_id" in args or rule.endpoint == "users_admin.add_group":
            return "/admin/groups"
        if rule.endpoint == "profile.set_substitute":
            return "/me"
        return None

    def _saved(self, user: Session, rule, path: str) -> Optional[set]:
        """What the subject's page shows saved: its forms' values (a draft, a user's settings, the
        groups' names) and the documents it links to."""
        subject = self._subject(rule, path)
        if subject is None:
            return None
        reply = user.get(subject)
        if reply.status != 200:
            return None
        page = _Forms()
        page.feed(reply.text)
        return page.saved | {("link", link) for link in page.links if re.search(r"/documents/\d+$", link)}

    def save_drafts(self, user: Session) -> None:
        """A draft on each task the user may work on, through its form (the 保存草稿 button): what
        a refused post must not lose. Text fields get a text of their own, lists their first choice."""
        for task_id in _existing(self.database_url, user.name)["workable"]:
            page = _Forms()
            page.feed(user.get(f"/tasks/{task_id}").text)
            for form in page.forms:
                if self._endpoint(urllib.parse.urlsplit(form["action"]).path, "POST") == "tasks.complete":
                    fields = [(name, values[0] if len(values) > 1 else "草稿 draft")
                              for name, values in form["fields"].items() if name != "_csrf"]
                    self.check(user, "POST", f"/tasks/{task_id}/draft", fields + [("_csrf", user.token)],
                               endpoint="tasks.save_draft")

    def work(self, user: Session) -> None:
        """The first task the user may work on completed, and a project (or the first process they may
        start) started, through their forms as an official fills them in (a yes/no answered no, a list's
        first choice, a number, a date, a text, a PDF for each material asked for): so that 撤回
        and the steps after it, and a new project, are there to fuzz too."""
        workable = _existing(self.database_url, user.name)["workable"]
        startable = sorted(self.startable.get(user.name) or [])
        start = "project" if "project" in startable else startable[0] if startable else None  # the 办法's own
        pages = ([(f"/tasks/{workable[0]}", "tasks.complete")] if workable else []) + \
            ([("/start/" + urllib.parse.quote(start, safe=""), "start.submit")] if start else [])
        for page_path, endpoint in pages:
            page = _Forms()
            page.feed(user.get(page_path).text)
            for form in page.forms:
                if self._endpoint(urllib.parse.urlsplit(form["action"]).path, "POST") == endpoint:
                    reply = self.check(user, "POST", form["action"], *_filled_in(form, user.token), endpoint=endpoint)
                    self.worked[f"{user.name} {endpoint}"] = reply.status if reply is not None else None

    def run(self, user: Session, rng: random.Random) -> None:
        self.work(user)
        self.save_drafts(user)
        for rule in self.rules:
            self.existing = _existing(self.database_url, user.name)  # what the posts so far made and removed
            for method in sorted(rule.methods & {"GET", "POST"}):
                if rule.endpoint.startswith("auth.") and method == "POST":
                    continue  # at the end, once every user is done (logins are throttled per address)
                (self.fuzz_get if method == "GET" else self.fuzz_post)(user, rule, rng)
                user.still_in()


def _shown(fields) -> str:
    text_ = repr([(name, value if len(value) < 80 else value[:40] + f"…({len(value)})") for name, value in fields])
    return text_ if len(text_) < 600 else text_[:600] + "…"


def test_no_ui_request_gets_a_server_error(ui):
    base, database_url, log = ui
    app, rules = _ui_rules(database_url)
    assert {"tasks.complete", "audit.search", "admin.upload", "users_admin.add", "i18n.switch"} <= \
        {rule.endpoint for rule in rules}
    rng = random.Random(SEED)
    fuzz = Fuzz(base, app, rules, database_url)
    users = [Session(base, name) for name in USERS]
    for user in users:
        fuzz.crawl(user, rng)
    assert {"tasks.complete", "tasks.save_draft", "admin.upload", "users_admin.add", "i18n.switch"} <= \
        set(fuzz.post_forms), sorted(fuzz.post_forms)
    for user in users:
        fuzz.run(user, rng)
    # The login and logout forms last, logout as a user of their own (it ends all of its sessions),
    # then the login form anonymously: after 20 failed logins the address waits.
    auditor, anonymous = Session(base, "auditor"), Session(base, None)
    anonymous.token = anonymous.client.csrf("/login")
    public = [rule for rule in rules if rule.endpoint.startswith("auth.") and "POST" in rule.methods]
    for rule in sorted(public, key=lambda rule: rule.endpoint == "auth.login"):
        fuzz.fuzz_post(anonymous if rule.endpoint == "auth.login" else auditor, rule, rng)
    if fuzz.log is not None:
        fuzz.log.close()
    print(f"ui fuzz: {fuzz.sent} requests over {len(rules)} routes, {len(fuzz.failures)} failures; "
          f"forms filled in (302: done): {fuzz.worked}")
    for endpoint, statuses in sorted(fuzz.statuses.items()):
        print(f"  {endpoint}: " + " ".join(f"{status}×{count}" for status, count in sorted(statuses.items())))
    assert not fuzz.failures, "\n".join(fuzz.failures[:60]) + "\n\nserver errors:\n" + _tracebacks(log)


def _tracebacks(log: Path) -> str:
    """The server's tracebacks (the log's other lines are one per request)."""
    found = re.findall(r"^\S+ \S+ ERROR .*?(?=^\d{4}-\d\d-\d\d \d|\Z)", log.read_text(errors="replace"), re.M | re.S)
    return "\n".join(found)[-12000:]
