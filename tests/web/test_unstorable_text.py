"""A NUL character (U+0000) in a request's text: PostgreSQL's text cannot hold one, so each of these
answered 500 there (found by tests/fuzz on PostgreSQL) while SQLite took it. A lone surrogate in a
JSON string ("\ud800", half of a pair or none): no character at all, it answered 500 on both
databases wherever it reached the engine (a business key, a variable's value, a query filter, a
message name). Now each is a 400 that names the field, on both databases, and nothing is saved.
An uploaded file's bytes may hold NULs."""
from __future__ import annotations

import html
import json

import pytest

from test_rest_helpers import basic, deployed, error_of, rest  # noqa: F401
from test_ui_fixtures import app, client, login, post  # noqa: F401


@pytest.fixture
def review(rest):
    rest.definitions = deployed(rest, "review.bpmn")
    return rest


@pytest.mark.parametrize("path, name", [("/task", "name"), ("/history/task", "taskName"),
                                        ("/incident", "incidentMessageLike"), ("/process-definition", "versionTag")])
def test_a_nul_in_a_rest_query_parameter_is_named(rest, path, name):
    message = error_of(rest.as_("admin").get(path, **{name: "a\x00b"}), 400, "InvalidRequestException")
    assert f"query parameter '{name}' contains a NUL character" in message


def test_a_nul_in_a_rest_json_string_is_named_and_nothing_starts(review):
    admin = review.as_("admin")
    before = admin.get("/process-instance/count").get_json()["count"]
    message = error_of(admin.post("/process-definition/key/review/start", {
        "variables": {"unit": {"value": "edu"}, "note": {"value": "急\u0000件", "type": "String"}}}),
        400, "InvalidRequestException")
    assert "the JSON body's field 'variables.note.value' contains a NUL character" in message
    message = error_of(admin.post("/variable-instance", {"processInstanceIdIn": ["1\u00002"]}),
                       400, "InvalidRequestException")
    assert "'processInstanceIdIn[0]' contains a NUL character" in message
    assert admin.get("/process-instance/count").get_json()["count"] == before


@pytest.mark.parametrize("path, body, field", [
    ("/process-definition/key/review/start", {"businessKey": "P-\ud800", "variables": {"unit": {"value": "edu"}}},
     "businessKey"),
    ("/process-definition/key/review/start", {"variables": {"unit": {"value": "edu"},
                                                            "note": {"value": "急\udc00件", "type": "String"}}},
     "variables.note.value"),
    ("/task", {"nameLike": "\udbff%"}, "nameLike"),
    ("/message", {"messageName": "inquiry\ud83d"}, "messageName"),
    ("/group/create", {"id": "g1", "name": "组\ud800", "type": "WORKFLOW"}, "name"),
])
def test_a_lone_surrogate_in_a_rest_json_string_is_named_and_nothing_is_saved(review, path, body, field):
    admin = review.as_("admin")
    before = admin.get("/process-instance/count").get_json()["count"]
    response = admin.client.post("/engine-rest" + path, data=json.dumps(body), content_type="application/json",
                                 headers=admin._headers())
    message = error_of(response, 400, "InvalidRequestException")
    assert f"the JSON body's field '{field}' contains a lone surrogate (U+D" in message, message
    assert admin.get("/process-instance/count").get_json()["count"] == before
    assert admin.get("/group", id="g1").get_json() == []


def test_a_surrogate_pair_is_a_character_and_is_taken(review):
    """An emoji written as JSON's pair "\ud83d\ude00" is one character: kept as it was sent."""
    admin = review.as_("admin")
    body = {"variables": {"unit": {"value": "edu"}, "note": {"value": "好\ud83d\ude00", "type": "String"}}}
    started = admin.client.post("/engine-rest/process-definition/key/review/start", data=json.dumps(body),
                                content_type="application/json", headers=admin._headers())
    assert started.status_code == 200, started.get_json()
    note = admin.get(f"/process-instance/{started.get_json()['id']}/variables/note").get_json()
    assert note["value"] == "好\U0001f600"


def test_text_that_only_looks_like_an_escaped_nul_is_taken(review):
    """A backslash followed by u0000 is text like any other (JSON writes it "\\\\u0000")."""
    admin = review.as_("admin")
    started = admin.post("/process-definition/key/review/start", {
        "variables": {"unit": {"value": "edu"}, "note": {"value": "\\u0000", "type": "String"}}})
    assert started.status_code == 200, started.get_json()
    note = admin.get(f"/process-instance/{started.get_json()['id']}/variables/note").get_json()
    assert note["value"] == "\\u0000"


def test_a_nul_in_a_basic_user_name_is_refused_as_a_login(rest):
    response = rest.client.get("/engine-rest/task", headers={"Authorization": basic("ad\x00min")})
    assert response.status_code == 401


def test_a_nul_in_a_page_query_or_a_form_field_is_a_400_page(client):
    assert client.get("/projects?q=a%00b").status_code in (302, 400)  # not yet logged in: the login page
    response = login(client, "ad\x00min")
    assert response.status_code == 400
    assert "“ad\\u0000min”含有空字符" not in response.get_data(as_text=True)  # the field is named, not its value
    assert "“name”含有空字符（U+0000）" in response.get_data(as_text=True)
    login(client, "admin_zhou")
    response = client.get("/projects?q=a%00b")
    assert response.status_code == 400
    assert "“q”含有空字符（U+0000）" in response.get_data(as_text=True)
    post(client, "/lang", {"lang": "en", "next": "/"})
    page = html.unescape(client.get("/projects?q=%00").get_data(as_text=True))
    assert '"q" contains a NUL character (U+0000)' in page
    response = post(client, "/me/profile", {"first_name": "周", "last_name": "\x00"})  # 我的设置's own profile
    assert response.status_code == 400
    assert '"last_name" contains a NUL character (U+0000)' in html.unescape(response.get_data(as_text=True))
    assert 'name="first_name" value="admin_zhou（测试）"' in client.get("/me").get_data(as_text=True)  # unchanged


def test_a_lone_surrogate_in_json_sent_to_a_page_is_a_400_page(client):
    response = client.post("/login", data=json.dumps({"name": "ad\udc80min"}), content_type="application/json")
    assert response.status_code == 400
    assert "“name”含有单独的代理码位（U+DC80），它不是字符" in response.get_data(as_text=True)


def test_a_nul_in_a_deployed_file_name_is_named_and_nothing_is_deployed(rest):
    """Camunda Modeler's deployment names each resource by its file name: one with a NUL answered
    500 on PostgreSQL (a resource's name is text), where SQLite kept it."""
    from test_rest_helpers import BASE, diagram, modeler_form

    admin = rest.as_("admin")
    body, content_type = modeler_form("评审", ("re\x00view.bpmn", diagram("review.bpmn")[1]))
    response = rest.client.post(BASE + "/deployment/create", data=body, content_type=content_type,
                                headers=admin._headers())
    message = error_of(response, 400, "InvalidRequestException")
    assert "file name 're\\u0000view.bpmn' contains a NUL character" in message
    assert admin.get("/deployment/count").get_json() == {"count": 0}


def test_a_nul_in_an_uploaded_documents_name_is_a_400_page_and_nothing_is_stored(db, client):
    import io

    from engine.models import Document
    from test_ui_fixtures import start_project

    task_id = start_project(db)
    login(client, "edu_li")
    response = post(client, f"/tasks/{task_id}/documents", {"file": (io.BytesIO(b"%PDF-1.4\n"), "可研\x00.pdf")},
                    content_type="multipart/form-data")
    assert response.status_code == 400
    assert "“可研\\u0000.pdf”含有空字符（U+0000）" in html.unescape(response.get_data(as_text=True))
    with db.read() as session:
        assert session.query(Document).count() == 0
