"""Every route that reads a number from its path or query, walked with a number beyond any row
(99999999999999999999, past 64 bits: SQLite cannot bind it, PostgreSQL refuses it for an
integer column), a negative one and garbage: none answers 500, an id that names nothing is 404
(or a 400 naming the parameter). The routes come from the app's own URL map and the REST API's
OpenAPI document (the one list of the query parameters each call takes), so a new route is walked
too. Runs on SQLite and (make test-pg) on PostgreSQL."""
from __future__ import annotations

import re

import pytest
from werkzeug.security import generate_password_hash

from conftest import deploy_files
from engine import bureaus, services, tokens, users
from web import create_app
from web.rest_openapi import PATHS

HUGE, NEGATIVE, GARBAGE = "99999999999999999999", "-1", "x1%27"
BAD = (HUGE, NEGATIVE, GARBAGE)
PASSWORD = "walker-password-1"
UI_NUMBERS = ("page", "version", "seq", "year", "from", "to", "instance", "task", "id", "limit", "offset")
GOOD = {"key": "review", "lang": "zh", "fmt": "json", "filename": "x"}
SUPERSCRIPT = "²"  # str.isdigit() says yes, int() says no
FORMS = ({"instance": list(BAD), "from": HUGE, "to": NEGATIVE, "task": HUGE, "document": HUGE, "page": HUGE,
          "reuse": HUGE},
         {"instance": [*BAD, SUPERSCRIPT], "from": "1", "to": "1", "task": NEGATIVE, "document": GARBAGE,
          "version": HUGE, "reuse": SUPERSCRIPT})
SKIP = {"auth.logout", "static", "i18n.set_language"}  # ending the session would end the walk


@pytest.fixture
def walker(db, frozen_clock, monkeypatch):
    monkeypatch.setattr(users, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))
    deploy_files(db, "review.bpmn")
    with db.write() as session:
        bureaus.ensure_bureaus(session)
        users.add_user(session, "root", PASSWORD, bureaus=["office"], roles=[bureaus.ADMIN, bureaus.AUDITOR])
        token = tokens.create_token(session, "root", "walk")
        services.start_process(session, "review", variables={"unit": "edu"}, user="root")
    app = create_app(db=db)
    app.config.update(SECRET_KEY="walker-secret")
    ui = app.test_client()
    ui.get("/login")
    with ui.session_transaction() as session:
        csrf = session["_csrf"]
    assert ui.post("/login", data={"name": "root", "password": PASSWORD, "_csrf": csrf}).status_code == 302
    return app, ui, csrf, {"Authorization": f"Bearer {token}"}


def _fill(rule: str, bad_arg: str, bad_value: str) -> str:
    """The rule's path with `bad_arg` set to the bad value and every other argument to a good one."""
    def value(match):
        converter, name = match.group(1) or "", match.group(2)
        if name == bad_arg:
            return bad_value
        if converter.startswith("any("):
            return converter[4:].split(",")[0].strip(" )'\"")
        return GOOD.get(name, "1")
    return re.sub(r"<(?:([^:>]+):)?([^>]+)>", value, rule)


def _refusal_is_clean(status: int) -> bool:
    return status < 500


def test_ui_routes_refuse_bad_numbers_without_a_500(walker):
    app, ui, csrf, _ = walker
    seen, broken = 0, []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or rule.rule.startswith("/engine-rest") or rule.rule.startswith("/static"):
            continue
        for method in sorted({"GET", "POST"} & rule.methods):
            attempts = [(_fill(rule.rule, arg, bad), {}) for arg in rule.arguments for bad in BAD]
            if method == "GET":
                attempts += [(_fill(rule.rule, "", ""), {name: bad for name in UI_NUMBERS}) for bad in BAD]
            if method == "POST":  # forms: numbers beyond any row beside good ones (a version that exists)
                attempts = [(url, form) for url, _ in attempts + [(_fill(rule.rule, "", ""), {})]
                            for form in FORMS]
            for url, values in attempts:
                if method == "GET":
                    response = ui.get(url, query_string=values)
                else:
                    response = ui.post(url, data={"_csrf": csrf, **values})
                seen += 1
                if not _refusal_is_clean(response.status_code):
                    broken.append(f"{method} {url} {values or ''}: {response.status_code}")
    assert seen > 300
    assert not broken, "\n".join(broken)


def test_ui_ids_beyond_any_row_are_404(walker):
    app, ui, _, _ = walker
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/engine-rest") or "GET" not in rule.methods or rule.endpoint in SKIP:
            continue
        for arg in rule.arguments:
            if arg.endswith("_id") or arg == "id":
                for bad in (HUGE, NEGATIVE, "2147483648"):
                    url = _fill(rule.rule, arg, bad)
                    assert ui.get(url).status_code == 404, url


def test_rest_calls_refuse_bad_numbers_without_a_500(walker):
    app, _, _, auth = walker
    client = app.test_client()
    seen, broken = 0, []
    for path, operations in PATHS.items():
        args = re.findall(r"\{([^}]+)\}", path)
        for method, operation in operations.items():
            rest_path = "/engine-rest" + re.sub(r"\{([^}]+)\}", "<\\1>", path)
            attempts = [(_fill(rest_path, arg, bad), {}) for arg in args for bad in BAD]
            if method == "get":
                numbers = [p["name"] for p in operation["parameters"]
                           if p["in"] == "query" and p.get("schema", {}).get("type") == "integer"]
                attempts += [(_fill(rest_path, "", ""), {name: bad}) for name in numbers for bad in BAD]
            for url, query in attempts:
                response = client.open(url, method=method.upper(), headers=auth, query_string=query,
                                       json=None if method in ("get", "delete") else {})
                seen += 1
                if not _refusal_is_clean(response.status_code):
                    broken.append(f"{method.upper()} {url} {query or ''}: {response.status_code} "
                                  f"{response.get_data(as_text=True)[:200]}")
                elif query and response.status_code != 400 and query[next(iter(query))] != NEGATIVE:
                    broken.append(f"{method.upper()} {url} {query}: {response.status_code}, not a 400")
    assert seen > 300
    assert not broken, "\n".join(broken)
