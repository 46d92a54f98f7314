"""What another site's page can make a browser do here, tried as a browser sends it (and what a
token's holder could learn of its user's password).

A browser keeps the Basic credentials typed at the prompt of a 401 (WWW-Authenticate: Basic) and
sends them with every later request to this host, also one that a page of another site makes: a
form posting `text/plain` that reads as JSON, or a `fetch` of a multipart form with a file (no
preflight for either). The REST API took them as the user's own calls.
"""
from __future__ import annotations

import json

import pytest
from werkzeug.http import parse_options_header

from test_rest_helpers import BASE, PASSWORD, deployed, diagram, modeler_deploy, modeler_form, rest  # noqa: F401
from test_ui_fixtures import PASSWORD as UI_PASSWORD, app, csrf, post as ui_post  # noqa: F401
from test_ui_fixtures import client as ui_client  # noqa: F401

ANOTHER_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}


def _start_as_a_form_of_another_site(rest, headers):
    # <form enctype="text/plain"><input name='{"businessKey": "X", "z": "' value='"}'></form>
    body = json.dumps({"businessKey": "CSRF-1", "variables": {"unit": {"value": "edu"}}, "z": "="})
    return rest.client.post(BASE + "/process-definition/key/review/start", data=body, content_type="text/plain",
                            headers={"Authorization": rest.basic("admin").authorization, **headers})


def _count(rest):
    return rest.as_("admin").get("/process-instance/count").get_json()["count"]


@pytest.mark.parametrize("headers", [
    ANOTHER_SITE,
    {"Origin": "https://evil.example"},  # a browser without Sec-Fetch-*
    {"Sec-Fetch-Site": "same-site", "Origin": "https://other.dalad.example"},
    {"Origin": "http://localhost:8080"},  # another port is another site
])
def test_another_sites_form_cannot_act_with_the_basic_credentials_a_browser_keeps(rest, headers):
    deployed(rest, "review.bpmn")
    response = _start_as_a_form_of_another_site(rest, headers)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert "another site" in response.get_json()["message"]
    assert _count(rest) == 0


def test_another_sites_fetch_cannot_deploy_with_them(rest):
    body, content_type = modeler_form("csrf", diagram("review.bpmn"))
    response = rest.client.post(BASE + "/deployment/create", data=body, content_type=content_type,
                                headers={"Authorization": rest.basic("admin").authorization, **ANOTHER_SITE})
    assert response.status_code == 403
    assert rest.as_("admin").get("/deployment").get_json() == []


@pytest.mark.parametrize("headers", [
    {},  # scripts, other servers
    {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},  # a page of this site
    {"Origin": "http://localhost"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # Camunda Modeler's window, a file:// page
])
def test_this_sites_pages_the_modeler_and_clients_without_a_browser_still_use_basic(rest, headers):
    deployed(rest, "review.bpmn")
    response = _start_as_a_form_of_another_site(rest, headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _count(rest) == 1


def test_a_bearer_token_is_never_sent_by_a_browser_on_its_own_and_is_taken_from_anywhere(rest):
    deployed(rest, "review.bpmn")
    response = rest.client.post(BASE + "/process-definition/key/review/start", json={"businessKey": "T-1", "variables": {"unit": {"value": "edu"}}},
                                headers={"Authorization": f"Bearer {rest.tokens['admin']}", **ANOTHER_SITE})
    assert response.status_code == 200, response.get_data(as_text=True)


# --- where the login and the language switch send the browser next ----------------------------------

@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example",
                                    "javascript:alert(1)", "/\r\nSet-Cookie: dalad_session=fixed",
                                    "/inbox\nRefresh: 0;url=https://evil.example"])
def test_next_never_leaves_the_site_nor_writes_a_header(ui_client, target):
    ui_client.get("/login")
    response = ui_client.post("/login", data={"name": "edu_li", "password": UI_PASSWORD, "next": target,
                                              "_csrf": csrf(ui_client)})
    assert response.status_code == 302 and response.headers["Location"] == "/", response.status_code
    assert "Set-Cookie: dalad_session=fixed" not in str(response.headers)
    response = ui_client.get("/login", query_string={"next": target})  # logged in: straight there
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = ui_post(ui_client, "/lang", {"lang": "en", "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"


# --- the names of files sent back ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["审批流程.bpmn", 'a\\"; filename=b.html; x=\\".bpmn'])
def test_a_deployed_files_name_is_a_header_parameter_not_header_text(rest, name):
    # a name in Chinese was written into the header as bytes that are not its encoding; a quote
    # ended the parameter and let the rest of the name add another
    response = modeler_deploy(rest.as_("admin"), "names", (name, diagram("review.bpmn")[1]))
    assert response.status_code == 200, response.get_data(as_text=True)
    deployment = response.get_json()["id"]
    [resource] = rest.as_("admin").get(f"/deployment/{deployment}/resources").get_json()
    name = resource["name"]  # (as the multipart parser read it)
    response = rest.as_("admin").get(f"/deployment/{deployment}/resources/{resource['id']}/data")
    assert response.status_code == 200 and response.get_data() == diagram("review.bpmn")[1]
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii()
    assert parse_options_header(disposition) == ("attachment", {"filename": name})


# --- a token is no way to find its user's password ----------------------------------------------------

def test_guessing_the_current_password_through_the_credentials_call_is_throttled_as_a_login(rest):
    # whoever holds edu's token could try passwords at PUT /user/edu/credentials without end
    api = rest.as_("edu")
    for guess in ("123456", "password", "edu2026", "qwerty", "letmein"):
        response = api.put("/user/edu/credentials", {"password": "taken over 1234", "authenticatedUserPassword": guess})
        assert response.status_code == 400
    response = api.put("/user/edu/credentials", {"password": "taken over 1234", "authenticatedUserPassword": PASSWORD})
    assert response.status_code == 429 and "too many failed logins" in response.get_json()["message"]
    assert rest.basic("edu").get("/task").status_code == 429  # the name waits, whatever the door
    assert rest.basic("edu", "taken over 1234").get("/task").status_code != 200


# --- the login throttle's memory ---------------------------------------------------------------------

def test_failed_logins_under_new_names_from_a_waiting_address_keep_nothing(ui_client, app):
    # each name looked up was kept, also when the address already had to wait: a flood of made-up
    # names grew the server's memory without end
    throttle = app.extensions["dalad_login_throttle"]
    ui_client.get("/login")
    for i in range(300):
        ui_client.post("/login", data={"name": f"nobody{i}", "password": "x", "_csrf": csrf(ui_client)})
    assert len(throttle._failures) <= throttle.ip_limit + 1  # the names before the address waited, and it
    response = ui_client.post("/login", data={"name": "edu_li", "password": UI_PASSWORD, "_csrf": csrf(ui_client)})
    assert response.status_code == 429


def test_past_its_size_the_throttle_forgets_the_oldest_names(app):
    from web.security import LoginThrottle
    clock = [0.0]
    throttle = LoginThrottle(max_keys=50, now=lambda: clock[0])
    for i in range(500):
        clock[0] += 1.0
        throttle.failed(f"name{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(throttle._failures) <= 50
    for _ in range(4):
        throttle.failed("name499", "10.9.9.9")
    assert throttle.seconds_left("name499", "10.9.9.8") > 0  # the newest still wait
