"""Access matrix of every UI route, and CSRF refusal of every POST.

Subjects: anonymous; a unit official of another unit and a bureau not offered the task (wrong);
the unit official the task is offered to (right); an auditor; an administrator. Reading is
granted to auditors and administrators, acting never is.
"""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from test_ui_fixtures import GOOD_FORM, app, client, login, post, start_project  # noqa: F401

from engine.models import Document

PDF = b"%PDF-1.4\n%%EOF\n"
SUBJECTS = {"anonymous": None, "other_unit": "health_zhao", "other_bureau": "drc_zhang", "right": "edu_li",
            "auditor": "auditor_sun", "admin": "admin_zhou"}

# route -> expected status per subject (302 for an anonymous GET is the redirect to the login page)
GET_MATRIX = {
    "/": dict(anonymous=302, other_unit=302, other_bureau=302, right=302, auditor=302, admin=302),
    "/inbox/": dict(anonymous=302, other_unit=200, other_bureau=200, right=200, auditor=200, admin=200),
    "/inbox/bureau": dict(anonymous=302, other_unit=200, other_bureau=200, right=200, auditor=200, admin=200),
    "/inbox/all": dict(anonymous=302, other_unit=403, other_bureau=403, right=403, auditor=200, admin=200),
    "/tasks/{task}": dict(anonymous=302, other_unit=403, other_bureau=403, right=200, auditor=200, admin=200),
    "/documents/{document}": dict(anonymous=302, other_unit=403, other_bureau=403, right=200, auditor=200,
                                  admin=200),
}
WRITE_REFUSED = dict(anonymous=401, other_unit=403, other_bureau=403, auditor=403, admin=403)
POST_ROUTES = ("claim", "unclaim", "complete", "draft", "comments", "documents")


@pytest.fixture
def setup(db, app):
    """A task of unit:edu with every required material uploaded, claimed by edu_li; the document id."""
    task_id = start_project(db)
    owner = app.test_client()
    login(owner, "edu_li")
    for material in ("report", "attachments:密码应用方案", "attachments:安全可靠产品说明"):
        post(owner, f"/tasks/{task_id}/documents", {"material": material, "file": (io.BytesIO(PDF), "m.pdf")},
             content_type="multipart/form-data")
    with db.read() as session:
        document_id = session.scalars(select(Document.id)).first()
    return {"task": task_id, "document": document_id}


def _client_for(app, subject):
    client = app.test_client()
    if SUBJECTS[subject]:
        assert login(client, SUBJECTS[subject]).status_code == 302
    else:
        client.get("/login")  # a session with a CSRF token, so only the missing login is refused
    return client


@pytest.mark.parametrize("route", list(GET_MATRIX))
@pytest.mark.parametrize("subject", list(SUBJECTS))
def test_get_routes(app, setup, route, subject):
    response = _client_for(app, subject).get(route.format(**setup))
    assert response.status_code == GET_MATRIX[route][subject]
    if subject == "anonymous":
        assert "/login" in response.headers["Location"]


def _post_data(action):
    if action == "complete":
        return GOOD_FORM, {}
    if action == "draft":
        return {"title": "草稿"}, {}
    if action == "comments":
        return {"text": "同意"}, {}
    if action == "documents":
        return {"file": (io.BytesIO(PDF), "x.pdf")}, {"content_type": "multipart/form-data"}
    return {}, {}


@pytest.mark.parametrize("action", POST_ROUTES)
@pytest.mark.parametrize("subject", list(WRITE_REFUSED))
def test_post_routes_refuse_all_but_the_candidates(app, setup, action, subject):
    data, options = _post_data(action)
    response = post(_client_for(app, subject), f"/tasks/{setup['task']}/{action}", data, **options)
    assert response.status_code == WRITE_REFUSED[subject]


@pytest.mark.parametrize("action", POST_ROUTES)
def test_post_routes_work_for_the_right_bureau(app, setup, action):
    client = _client_for(app, "right")
    if action == "unclaim":
        post(client, f"/tasks/{setup['task']}/claim")
    data, options = _post_data(action)
    assert post(client, f"/tasks/{setup['task']}/{action}", data, **options).status_code == 302


def test_office_reads_every_task_but_cannot_act_on_another_bureaus(app, setup):
    client = app.test_client()
    login(client, "office_chen")
    assert client.get(f"/tasks/{setup['task']}").status_code == 200
    assert post(client, f"/tasks/{setup['task']}/claim").status_code == 403
    assert post(client, f"/tasks/{setup['task']}/comments", {"text": "x"}).status_code == 403


@pytest.mark.parametrize("route", [f"/tasks/{{task}}/{action}" for action in POST_ROUTES]
                         + ["/logout", "/lang", "/login"])
def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(app, setup, route):
    client = _client_for(app, "right")
    url = route.format(**setup)
    assert client.post(url, data={"text": "x", "lang": "en"}).status_code == 400
    assert client.post(url, data={"_csrf": "not-the-token", "text": "x", "lang": "en"}).status_code == 400
    assert client.get("/inbox/").status_code == 200  # still logged in: nothing happened
