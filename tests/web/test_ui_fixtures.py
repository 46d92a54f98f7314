"""Shared fixtures of the UI tests (imported by the test_ui_* modules): an app on the test
database, officials of several bureaus, a logged-in client, and a started project instance."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

# tests/web would otherwise be imported as the namespace package `web` (tests/ is on sys.path for
# conftest): put the repository first and drop such a namespace (`pythonpath = .` in setup.cfg does it too).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
for _name in ("web", "forms"):
    if _name in sys.modules and getattr(sys.modules[_name], "__file__", None) is None:
        del sys.modules[_name]

from conftest import deploy_files  # noqa: E402
from engine import bureaus, services, users  # noqa: E402
from web import create_app  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

PASSWORD = "correct-horse-7"
OFFICIALS = {  # name: (bureaus, roles)
    "edu_li": (["unit:edu"], []),
    "edu_wang": (["unit:edu"], []),
    "health_zhao": (["unit:health"], []),
    "drc_zhang": (["drc"], []),
    "finance_liu": (["finance"], []),
    "office_chen": (["office"], []),
    "auditor_sun": ([], ["auditor"]),
    "admin_zhou": ([], ["admin"]),
}
PROJECT = {"unit": "edu", "project_name": "智慧教育云平台", "stage": "feasibility", "approved_budget": 1200000,
           "spend": 350000.5}


@pytest.fixture
def app(db, frozen_clock, monkeypatch):
    """The web app on the emptied test database, with officials, a demo account and the form diagrams."""
    monkeypatch.setattr(users, "generate_password_hash",  # a cheap hash: tests make many users
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))
    with db.write() as session:
        bureaus.ensure_bureaus(session)
        bureaus.ensure_unit(session, "unit:edu", "旗教育体育局")
        bureaus.ensure_unit(session, "unit:health", "旗卫生健康委员会")
        for name, (groups, roles) in OFFICIALS.items():
            users.add_user(session, name, PASSWORD, bureaus=groups, roles=roles,
                           profile=users.Profile(first_name=f"{name}（测试）"))
        users.add_user(session, "demo_drc", "demo1234", bureaus=["drc"], roles=[], demo=True)
    deploy_files(db, "task_form.bpmn", "camunda_form.bpmn", "om_application.form", "review.bpmn")
    application = create_app(db=db)
    application.config.update(TESTING=True, SECRET_KEY="test-secret-key")
    return application


@pytest.fixture
def client(app):
    return app.test_client()


def csrf(client) -> str:
    """The CSRF token of the client's session (made by visiting a page)."""
    with client.session_transaction() as session:
        token = session.get("_csrf")
    if token is None:
        client.get("/login")
        with client.session_transaction() as session:
            token = session["_csrf"]
    return token


def login(client, name: str, password: str = PASSWORD):
    client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "_csrf": csrf(client)})


def post(client, url: str, data: dict | None = None, **kwargs):
    """POST with the session's CSRF token."""
    return client.post(url, data={**(data or {}), "_csrf": csrf(client)}, **kwargs)


def start_project(db, business_key: str = "P-2026-001", process: str = "task_form", **variables) -> int:
    """Start a process as a unit official; return the id of its first ready task."""
    with db.write() as session:
        row = services.start_process(session, process, business_key=business_key,
                                     variables={**PROJECT, **variables}, user="edu_li")
        instance_id = row.id
    with db.read() as session:
        return services.tasks(session, instance_id=instance_id)[0].id


def text_of(response) -> str:
    """The visible text of a page, tags removed (for assertions on wording)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


GOOD_FORM = {"title": "智慧教育云平台可行性研究报告", "summary": "提升教学资源共享水平", "months": "18",
             "amount": "1,200,000.50", "cloud": "true", "shares_data": "true", "start_date": "2026-05-01",
             "nature": "new"}
