"""Fixtures and request builders of the REST API tests (imported by the other test_rest_* files),
and the value conversions they rely on: Camunda's typed variables, dates and parse errors."""
from __future__ import annotations

import base64
import functools
import json
from typing import Optional

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from conftest import DIAGRAMS
from engine import bureaus, replay, tokens, users
from engine.errors import Problem
from engine.models import ProcessInstance
from web import create_app
from web.rest import parse_exception, variable_dto, variables_in, variables_out

PASSWORD = "long enough password"
BASE = "/engine-rest"
BOUNDARY = "----WebKitFormBoundaryq3bdQ0uGVT0XqLtw"  # as Chromium (Camunda Modeler) makes them

# name -> (bureaus, roles)
PEOPLE = {
    "admin": ([], [bureaus.ADMIN]),
    "auditor": ([], [bureaus.AUDITOR]),
    "auditing": (["audit"], []),  # a member of the audit bureau: an auditor who has the bureau's tasks
    "edu": (["unit:edu"], []),
    "edu2": (["unit:edu"], []),  # a colleague in the same unit
    "office": (["office"], []),
    "drc": (["drc"], []),
    "finance": (["finance"], []),
}


def basic(name: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


class Api:
    """Requests to /engine-rest as one user (Bearer token, or Basic when given a header)."""

    def __init__(self, client, authorization: Optional[str]):
        self.client, self.authorization = client, authorization

    def _headers(self, extra=None) -> dict:
        headers = {"accept": "application/json"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        return {**headers, **(extra or {})}

    def get(self, path: str, **query):
        return self.client.get(BASE + path, query_string=query, headers=self._headers())

    def post(self, path: str, body=None, **kwargs):
        if body is not None:
            kwargs.setdefault("data", json.dumps(body))
            kwargs.setdefault("content_type", "application/json")
        return self.client.post(BASE + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def put(self, path: str, body):
        return self.client.put(BASE + path, data=json.dumps(body), content_type="application/json",
                               headers=self._headers())

    def delete(self, path: str, **query):
        return self.client.delete(BASE + path, query_string=query, headers=self._headers())


@functools.lru_cache(maxsize=None)
def _password_hash(password: str) -> str:
    return generate_password_hash(password)


@pytest.fixture
def rest(db, frozen_clock, monkeypatch):
    """The app on the test database with PEOPLE as users; `rest.as_(name)` gives an Api."""
    monkeypatch.setattr(users, "generate_password_hash", _password_hash)  # hash PASSWORD once, not per user
    with db.write() as session:
        bureaus.ensure_bureaus(session)
        issued = {}
        for name, (groups, roles) in PEOPLE.items():
            users.add_user(session, name, PASSWORD, bureaus=groups, roles=roles)
            issued[name] = tokens.create_token(session, name, "tests")
    app = create_app(db=db)
    client = app.test_client()

    class Rest:
        tokens = issued

        @staticmethod
        def as_(name: str) -> Api:
            return Api(client, f"Bearer {issued[name]}")

        @staticmethod
        def basic(name: str, password: str = PASSWORD) -> Api:
            return Api(client, basic(name, password))

        anonymous = Api(client, None)

    Rest.app, Rest.client, Rest.db = app, client, db
    return Rest


@pytest.fixture
def history_proves_every_instance(rest):
    """After the test, every instance's history chain holds and re-executes to the same states (a
    module imports it and marks its tests `pytest.mark.usefixtures("history_proves_every_instance")`)."""
    yield
    with rest.db.read() as session:
        for instance_id in session.scalars(select(ProcessInstance.id)):
            chain, report = replay.verify(session, instance_id)
            assert chain.ok and report.ok, (instance_id, chain, report)


def modeler_form(name: str, diagram: tuple[str, bytes], attachments: list[tuple[str, bytes]] = (), *,
                 tenant_id: Optional[str] = None, changed_only: bool = False) -> tuple[bytes, str]:
    """The multipart body Camunda Modeler 5 sends to deployment/create, byte for byte.

    FormData order: deployment-name, deployment-source, enable-duplicate-filtering, [tenant-id],
    the diagram (a Blob of type text/xml), then each attachment (a Blob without type); each file
    part is named by its file name. (deploy-changed-only is what older Modelers and scripts send.)
    """
    fields = [("deployment-name", name), ("deployment-source", "Camunda Modeler")]
    fields.append(("deploy-changed-only", "true") if changed_only else ("enable-duplicate-filtering", "true"))
    if tenant_id:
        fields.append(("tenant-id", tenant_id))
    parts = [(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n').encode()
             + value.encode() + b"\r\n" for field, value in fields]
    files = [(diagram[0], diagram[1], "text/xml")] + [(n, c, "application/octet-stream") for n, c in attachments]
    for filename, content, kind in files:
        parts.append((f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{filename}"; '
                      f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n').encode() + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


def modeler_deploy(api: Api, name: str, diagram: tuple[str, bytes], attachments=(), **options):
    body, content_type = modeler_form(name, diagram, list(attachments), **options)
    return api.client.post(BASE + "/deployment/create", data=body, content_type=content_type,
                           headers=api._headers())


def diagram(file_name: str) -> tuple[str, bytes]:
    return file_name, (DIAGRAMS / file_name).read_bytes()


def deployed(rest, *file_names: str) -> dict:
    """Deploy test diagrams through the API as admin; return the definitions by key."""
    [first, *others] = [diagram(n) for n in file_names]
    response = modeler_deploy(rest.as_("admin"), "tests", first, others)
    assert response.status_code == 200, response.get_json()
    return {d["key"]: d for d in (response.get_json()["deployedProcessDefinitions"] or {}).values()}


def project_at_the_office(rest, business_key: str) -> tuple[dict, dict]:
    """bpmn/ deployed from the Modeler, a project of edu's started: (its instance, the office's
    task confirming its basis)."""
    bpmn = DIAGRAMS.parents[1] / "bpmn"  # (tests/diagrams: the repository's bpmn/ is two up)
    [first, *others] = [(p.name, p.read_bytes()) for p in sorted(bpmn.iterdir())
                        if p.suffix in (".bpmn", ".dmn", ".form")]
    assert modeler_deploy(rest.as_("admin"), "办法", first, others).status_code == 200
    instance = start(rest, "project", business_key=business_key, project_id=business_key, project_name="智慧教育平台",
                     unit="edu", category="software", nature="new", estimated_budget=1800000)
    [task] = rest.as_("office").get("/task", processInstanceId=instance["id"],
                                    taskDefinitionKey="confirm_project_basis").get_json()
    return instance, task


def start(rest, key: str, user: str = "edu", business_key: Optional[str] = None, **variables) -> dict:
    response = rest.as_(user).post(f"/process-definition/key/{key}/start", {
        "businessKey": business_key, "variables": {n: {"value": v} for n, v in variables.items()}})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def error_of(response, status: int, type_: str) -> str:
    """Check a Camunda-shaped error; return its message."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert body["type"] == type_, body
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


# --- the conversions -----------------------------------------------------------------------------

def test_typed_values_become_plain_values():
    assert variables_in({
        "amount": {"value": 1500, "type": "Long"}, "count": {"value": "7", "type": "Integer"},
        "ok": {"value": "true", "type": "Boolean"}, "rate": {"value": 2, "type": "Double"},
        "name": {"value": "教育局", "type": "String"}, "due": {"value": "2026-03-09T17:00:00.000+0800", "type": "Date"},
        "units": {"value": '["edu", "health"]', "type": "Json"}, "nothing": {"value": None, "type": "Null"},
        "untyped": {"value": {"a": 1}}, "lower": {"value": 3, "type": "long"},
    }) == {"amount": 1500, "count": 7, "ok": True, "rate": 2.0, "name": "教育局",
           "due": "2026-03-09T17:00:00.000+0800", "units": ["edu", "health"], "nothing": None,
           "untyped": {"a": 1}, "lower": 3}


@pytest.mark.parametrize("dto", [{"value": "many", "type": "Long"}, {"value": "yes", "type": "Boolean"},
                                 {"value": "{", "type": "Json"}, {"value": "next week", "type": "Date"},
                                 {"value": "x", "type": "Object"}, {"value": "x", "type": "File"}, 5,
                                 {"value": None, "type": "AAA"}])  # a null of an unknown type was taken
def test_values_that_do_not_fit_their_type_are_refused_by_name(dto):
    from web.rest import RestError

    with pytest.raises(RestError) as caught:
        variables_in({"amount": dto})
    assert caught.value.status == 400 and "amount" in caught.value.message


def test_plain_values_get_camunda_types():
    assert variables_out({"a": 1, "b": 2**40, "c": True, "d": 1.5, "e": "x", "f": None, "g": {"k": [1]}}) == {
        "a": {"type": "Integer", "value": 1, "valueInfo": {}}, "b": {"type": "Long", "value": 2**40, "valueInfo": {}},
        "c": {"type": "Boolean", "value": True, "valueInfo": {}}, "d": {"type": "Double", "value": 1.5, "valueInfo": {}},
        "e": {"type": "String", "value": "x", "valueInfo": {}}, "f": {"type": "Null", "value": None, "valueInfo": {}},
        "g": {"type": "Json", "value": '{"k": [1]}', "valueInfo": {}}}
    assert variable_dto(False)["type"] == "Boolean"


def test_refused_bundle_is_a_camunda_parse_exception_keyed_by_file():
    body = parse_exception([Problem("a.bpmn", "no id", line=7, element_id="f3", element_type="sequenceFlow"),
                            Problem("a.bpmn", "bad condition", line=9, element_id="gw"),
                            Problem("b.form", "not JSON", line=1)])
    assert body["type"] == "ParseException"
    assert body["message"].startswith("ENGINE-09005 Could not parse BPMN process. Errors: \n* no id | resource a.bpmn")
    assert body["details"]["a.bpmn"]["errors"][0] == {"message": "no id", "line": 7, "column": 0,
                                                      "mainElementId": "f3", "elementIds": ["f3"]}
    assert body["details"]["b.form"] == {"errors": [{"message": "not JSON", "line": 1, "column": 0,
                                                     "mainElementId": None, "elementIds": []}], "warnings": []}
