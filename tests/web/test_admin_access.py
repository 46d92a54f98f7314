"""Access matrix of the administration pages: administrators only. Anonymous visitors go to the
login page, officials (the office included) and auditors (who have their own pages) are refused,
and every POST needs the session's CSRF token."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import deploy_files
from test_ui_fixtures import app, login, post, start_project  # noqa: F401

from engine import services
from engine.models import Deployment, Incident, Resource, UserTask

SUBJECTS = {"anonymous": None, "official": "edu_li", "office": "office_chen", "auditor": "auditor_sun",
            "admin": "admin_zhou"}
GET_ROUTES = ["/admin/deployments", "/admin/deployments/{deployment}", "/admin/deployments/{deployment}/files/{file}",
              "/admin/deployments/new", "/admin/definitions", "/admin/definitions/task_form",
              "/admin/definitions/task_form/1/diagram.svg", "/admin/definitions/task_form/diff",
              "/admin/definitions/task_form/migrate", "/admin/instances", "/admin/instances/{instance}",
              "/admin/instances/{instance}/diagram.svg", "/admin/incidents"]
POST_ROUTES = ["/admin/deployments/new", "/admin/definitions/task_form/migrate",
               "/admin/instances/{instance}/suspend", "/admin/instances/{instance}/resume",
               "/admin/instances/{instance}/terminate", "/admin/incidents/{incident}/retry"]
REFUSED = {"anonymous": 401, "official": 403, "office": 403, "auditor": 403}


@pytest.fixture
def setup(db, app, frozen_clock):
    """A deployment, an instance of task_form and an incident of fragile."""
    deploy_files(db, "fragile.bpmn")
    task_id = start_project(db)
    with db.write() as s:
        services.start_process(s, "fragile", business_key="F-1")
    frozen_clock.advance(timedelta(minutes=11))
    assert services.fire_due_timers(db) == 1
    with db.read() as s:
        deployment = s.scalars(select(Deployment.id).order_by(Deployment.id)).first()
        return {"deployment": deployment,
                "file": s.scalars(select(Resource.id).where(Resource.deployment_id == deployment)).first(),
                "instance": s.get(UserTask, task_id).instance_id,
                "incident": s.scalars(select(Incident.id)).one()}


def _client_for(app, subject):
    client = app.test_client()
    if SUBJECTS[subject]:
        assert login(client, SUBJECTS[subject]).status_code == 302
    else:
        client.get("/login")  # a session with a CSRF token: only the missing login is refused
    return client


@pytest.mark.parametrize("subject", list(SUBJECTS))
def test_get_routes_are_for_administrators(app, setup, subject):
    client = _client_for(app, subject)
    for route in GET_ROUTES:
        response = client.get(route.format(**setup))
        if subject == "anonymous":
            assert response.status_code == 302 and "/login" in response.headers["Location"], route
        else:
            assert response.status_code == (200 if subject == "admin" else 403), route


@pytest.mark.parametrize("subject", list(REFUSED))
def test_post_routes_refuse_everyone_but_administrators(app, setup, subject):
    client = _client_for(app, subject)
    for route in POST_ROUTES:
        response = post(client, route.format(**setup), {"reason": "测试", "from": "1", "to": "1"})
        assert response.status_code == REFUSED[subject], route
    with app.extensions["dalad_db"].read() as s:
        assert services.instance(s, setup["instance"]).status == "running"


def test_post_routes_refuse_a_missing_or_wrong_csrf_token(app, setup):
    client = _client_for(app, "admin")
    for route in POST_ROUTES:
        url = route.format(**setup)
        assert client.post(url, data={"reason": "测试"}).status_code == 400, route
        assert client.post(url, data={"reason": "测试", "_csrf": "forged"}).status_code == 400, route
    assert client.get(f"/admin/instances/{setup['instance']}").status_code == 200  # still logged in
    with app.extensions["dalad_db"].read() as s:
        assert services.instance(s, setup["instance"]).status == "running"  # nothing happened


def test_the_admin_link_is_shown_to_administrators_only(app, setup):
    assert 'href="/admin/"' in _client_for(app, "admin").get("/inbox/").get_data(as_text=True)
    for subject in ("official", "office", "auditor"):
        assert 'href="/admin/"' not in _client_for(app, subject).get("/inbox/").get_data(as_text=True)


def test_refusals_are_error_pages_in_chinese(app, setup):
    response = _client_for(app, "auditor").get("/admin/deployments")
    assert response.status_code == 403 and "无权访问" in response.get_data(as_text=True)
    response = _client_for(app, "admin").get("/admin/definitions/no_such_process")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)
