"""Who may touch an instance (issue 10 §2), tried as an official of another bureau would: through
POST /engine-rest/message, /signal and /task/{id}/complete, the command line, odd ids and
oversized bodies.

unit_project.bpmn is a unit's project as project.bpmn receives messages: the unit reports
progress; `office` may send the termination order (dalad:correlatorGroups); a policy signal is
for `office` and the project's own unit; `project_code` is protected by the process, `unit` and
budgets always are.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from conftest import REPO
from engine import bureaus, history, tokens, users
from engine.models import ProcessInstance
from web.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH

from test_rest_helpers import PASSWORD, deployed, diagram, error_of, modeler_deploy, rest, start  # noqa: F401


@pytest.fixture
def project(rest):
    with rest.db.write() as session:  # an official of another unit
        users.add_user(session, "health", PASSWORD, bureaus=["unit:health"], roles=[])
        rest.tokens["health"] = tokens.create_token(session, "health", "tests")
    rest.definitions = deployed(rest, "unit_project.bpmn", "review.bpmn", "task_form.bpmn")
    rest.instance = start(rest, "unit_project", user="edu", business_key="P-2026-EDU", unit="edu",
                          approved_budget=1200000, project_code="XM-1")
    return rest


def row_id(rest, rest_id: str) -> int:
    """The row of the instance the REST API calls `rest_id`."""
    with rest.db.read() as session:
        return session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == rest_id))


def variables(rest, rest_id) -> dict:
    with rest.db.read() as session:
        return dict(session.get(ProcessInstance, row_id(rest, rest_id)).variables)


def status(rest, rest_id) -> str:
    with rest.db.read() as session:
        return session.get(ProcessInstance, row_id(rest, rest_id)).status


def message(api, name, business_key="P-2026-EDU", **values):
    return api.post("/message", {"messageName": name, "businessKey": business_key,
                                 "processVariables": {k: {"value": v} for k, v in values.items()}})


def the_task(rest, user="edu") -> dict:
    [task] = rest.as_(user).get("/task", processInstanceId=rest.instance["id"]).get_json()
    return task


# --- messages and signals ----------------------------------------------------------------------

def test_an_official_of_another_unit_cannot_terminate_a_project_by_message(project):
    error_of(message(project.as_("health"), "unit_project_terminated"), 403, "AuthorizationException")
    error_of(message(project.as_("drc"), "unit_project_terminated"), 403, "AuthorizationException")
    assert status(project, project.instance["id"]) == "running"
    assert message(project.as_("office"), "unit_project_terminated").status_code == 204  # the diagram names office
    assert status(project, project.instance["id"]) == "completed"


def test_the_unit_that_holds_the_task_cannot_take_over_or_rebudget_the_project_by_message(project):
    before = variables(project, project.instance["id"])
    for values in ({"unit": "health"}, {"approved_budget": 50_000_000}, {"estimated_budget": 1},
                   {"in_plan": True}, {"project_code": "XM-9"}):
        refused = error_of(message(project.as_("edu"), "unit_project_terminated", **values), 403,
                           "AuthorizationException")
        assert next(iter(values)) in refused
    assert variables(project, project.instance["id"]) == before
    assert message(project.as_("admin"), "unit_project_terminated", unit="health").status_code == 204
    assert variables(project, project.instance["id"])["unit"] == "health"


def test_a_message_start_needs_a_starter_or_an_administrator(project):
    response = project.as_("health").post("/message", {"messageName": "unit_project_planned", "businessKey": "P-X"})
    error_of(response, 403, "AuthorizationException")
    assert message(project.as_("admin"), "unit_project_planned", "P-X", unit="edu").status_code == 204


def test_the_real_project_cannot_be_started_from_the_annual_plan_by_an_official(project):
    """The attack of the issue: a unit official starts a 'planned' project with a 50 M budget."""
    files = sorted((REPO / "bpmn").iterdir())
    bundle = [(f.name, f.read_bytes()) for f in files if f.suffix in (".bpmn", ".dmn", ".form")]
    assert modeler_deploy(project.as_("admin"), "办法", bundle[0], bundle[1:]).status_code == 200
    attack = {"messageName": "project_planned", "businessKey": "P-2026-HACK", "processVariables": {
        "unit": {"value": "health"}, "in_plan": {"value": True}, "estimated_budget": {"value": 50_000_000},
        "project_name": {"value": "自己批的项目"}}}
    error_of(project.as_("health").post("/message", attack), 403, "AuthorizationException")
    with project.db.read() as session:
        assert session.scalars(select(ProcessInstance).where(ProcessInstance.business_key == "P-2026-HACK")).all() == []


def test_a_rest_start_is_checked_like_the_start_form_on_the_page(project):
    """A unit official starting the real project by hand through REST cannot claim a plan entry
    (plan_year, the funding gate's proof), a budget below zero or a unit that does not exist: the
    start event's form is checked as the start page checks it. Nothing is started by a refusal."""
    files = sorted((REPO / "bpmn").iterdir())
    bundle = [(f.name, f.read_bytes()) for f in files if f.suffix in (".bpmn", ".dmn", ".form")]
    assert modeler_deploy(project.as_("admin"), "办法", bundle[0], bundle[1:]).status_code == 200
    form = {"project_id": "P-2026-EDU-77", "project_name": "智慧教育平台", "unit": "edu", "category": "software",
            "nature": "new", "estimated_budget": 800000}
    edu = project.as_("edu")

    def begin(api, values, **extra):
        return api.post("/process-definition/key/project/start", {
            "businessKey": values.get("project_id"), "variables": {k: {"value": v} for k, v in values.items()}, **extra})

    for values, named in [({**form, "plan_year": 2026}, "'plan_year'"),
                          ({**form, "plan_year": 2026, "in_plan": True, "released_amount": 1}, "'released_amount'"),
                          ({**form, "estimated_budget": -5}, "field 'estimated_budget'"),
                          ({**form, "unit": "nowhere"}, "field 'unit'"),
                          ({k: v for k, v in form.items() if k != "project_name"}, "field 'project_name'")]:
        refused = error_of(begin(edu, values), 400, "InvalidRequestException")
        assert named in refused and "the start form of 'project'" in refused, refused
    with project.db.read() as session:
        assert session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "project")).all() == []
    error_of(begin(edu, {**form, "plan_year": 2026}, overrideReason="补录"), 403, "AuthorizationException")
    started = begin(edu, form)
    assert started.status_code == 200 and "plan_year" not in variables(project, started.get_json()["id"])
    by_admin = begin(project.as_("admin"), {**form, "project_id": "P-2026-EDU-78", "plan_year": 2026},
                     overrideReason="2026 年计划补录")
    assert by_admin.status_code == 200
    assert variables(project, by_admin.get_json()["id"])["plan_year"] == 2026
    with project.db.read() as session:
        [event] = [e for e in history.events_of(session, row_id(project, by_admin.get_json()["id"]))
                   if e["type"] == "instance_started"]
    assert event["data"]["form_override"] == "2026 年计划补录 (admin)"


def test_a_signal_reaches_nothing_unless_the_sender_may_reach_every_receiver(project):
    second = start(project, "unit_project", user="health", business_key="P-2026-HEALTH", unit="health")
    error_of(project.as_("edu").post("/signal", {"name": "unit_policy_changed"}), 403, "AuthorizationException")
    assert [t["taskDefinitionKey"] for t in project.as_("edu").get("/task").get_json()] == ["report_progress"]
    with project.db.read() as session:
        assert not [e for e in history.events_of(session, row_id(project, second["id"])) if e["type"] == "signal_received"]
    error_of(project.as_("office").post("/signal", {"name": "unit_policy_changed", "variables": {
        "unit": {"value": "office"}}}), 403, "AuthorizationException")
    assert project.as_("office").post("/signal", {"name": "unit_policy_changed"}).status_code == 204


# --- completing a task through the API and the command line ------------------------------------

def test_rest_completion_is_checked_like_the_form_on_the_page(project):
    task_id = the_task(project)["id"]
    edu = project.as_("edu")
    before = variables(project, project.instance["id"])
    cases = [({"progress": 50, "unit": "health"}, "'unit'"),
             ({"progress": 50, "approved_budget": 50_000_000}, "'approved_budget'"),  # readonly on the form
             ({"progress": 150}, "field 'progress'"), ({"progress": "half"}, "field 'progress'"),
             ({"note": "x"}, "field 'progress'"), ({"progress": 5, "note": "太长" * 20}, "field 'note'"),
             ({"progress": [1]}, "field 'progress'")]
    for values, named in cases:
        refused = error_of(edu.post(f"/task/{task_id}/complete",
                                    {"variables": {k: {"value": v} for k, v in values.items()}}),
                           400, "InvalidRequestException")
        assert named in refused and refused.startswith(f"Cannot submit task form {task_id}:")
    assert variables(project, project.instance["id"]) == before
    assert edu.post(f"/task/{task_id}/complete", {"variables": {"progress": {"value": 100}}}).status_code == 204
    assert variables(project, project.instance["id"])["progress"] == 100


def test_required_materials_are_needed_through_the_api_too(project):
    instance = start(project, "task_form", user="edu", unit="edu")
    [task] = project.as_("edu").get("/task", processInstanceId=instance["id"]).get_json()
    good = {"title": "智慧教育云平台可行性研究报告", "months": 18, "amount": 1200000.5, "shares_data": True,
            "nature": "new"}
    refused = error_of(project.as_("edu").post(f"/task/{task['id']}/complete", {
        "variables": {k: {"value": v} for k, v in good.items()}}), 400, "InvalidRequestException")
    assert "required materials not uploaded: 可行性研究报告" in refused


def test_only_an_administrator_overrides_the_form_and_only_with_a_reason(project):
    task_id = the_task(project)["id"]
    undeclared = {"variables": {"progress": {"value": 100}, "audit_note": {"value": "补录"}}}
    error_of(project.as_("edu").post(f"/task/{task_id}/complete", {**undeclared, "overrideReason": "急"}),
             403, "AuthorizationException")
    with project.db.write() as session:
        users.add_user(session, "edu_admin", PASSWORD, bureaus=["unit:edu"], roles=[bureaus.ADMIN])
    error_of(project.basic("edu_admin").post(f"/task/{task_id}/complete", undeclared), 400, "InvalidRequestException")
    error_of(project.basic("edu_admin").post(f"/task/{task_id}/complete", {**undeclared, "overrideReason": "  "}),
             400, "InvalidRequestException")
    assert "audit_note" not in variables(project, project.instance["id"])


def test_the_override_is_recorded_in_the_history(project):
    """Administrators complete through the same door with a reason; the history keeps it."""
    task_id = the_task(project)["id"]
    with project.db.write() as session:  # an administrator who is also of the unit
        users.add_user(session, "edu_admin", PASSWORD, bureaus=["unit:edu"], roles=[bureaus.ADMIN])
    response = project.basic("edu_admin").post(f"/task/{task_id}/complete", {
        "variables": {"progress": {"value": 100}, "audit_note": {"value": "补录"}},
        "overrideReason": "纸质材料已审核，补录系统"})
    assert response.status_code == 204, response.get_json()
    with project.db.read() as session:
        [event] = [e for e in history.events_of(session, row_id(project, project.instance["id"])) if e["type"] == "task_completed"]
    assert event["actor"] == "edu_admin"
    assert event["data"]["form_override"] == "纸质材料已审核，补录系统 (edu_admin)"
    assert event["data"]["values"]["audit_note"] == "补录"


# --- ids, bodies and what a refusal tells --------------------------------------------------------

HUGE = "99999999999999999999"


def test_ids_beyond_any_row_are_not_found(project):
    edu = project.as_("edu")
    for path in (f"/task/{HUGE}", f"/process-instance/{HUGE}", f"/process-definition/{HUGE}",
                 f"/deployment/{HUGE}", f"/history/process-instance/{HUGE}", "/task/2147483648"):
        error_of(edu.get(path), 404, "InvalidRequestException")
    assert edu.get("/task", processInstanceId=HUGE).get_json() == []
    error_of(edu.get("/task", maxResults=HUGE), 400, "InvalidRequestException")
    ui = project.app.test_client()
    ui.get("/login")
    with ui.session_transaction() as session:
        token = session["_csrf"]
    ui.post("/login", data={"name": "edu", "password": PASSWORD, "_csrf": token})
    assert ui.get(f"/tasks/{HUGE}").status_code == 404
    assert ui.get(f"/projects/{HUGE}").status_code == 404
    assert ui.get("/projects/?year=" + HUGE).status_code == 400  # a year filter beyond the plan years, named


def test_json_bodies_deeper_or_larger_than_the_limits_are_refused(project):
    task_id = the_task(project)["id"]
    edu = project.as_("edu")
    deep = {"value": json.loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))}
    refused = error_of(edu.post(f"/task/{task_id}/complete", {"variables": {"progress": deep}}), 400,
                       "RestException")
    assert f"deeper than {MAX_JSON_DEPTH}" in refused
    error_of(edu.post("/message", data="[" * 100_000, content_type="application/json"), 400, "RestException")
    padding = "x" * MAX_JSON_BYTES
    error_of(edu.post("/message", {"messageName": "m", "pad": padding}), 413, "RestException")
    brackets_in_text = "[[[[{{{{" * 100 + '\\"[[[ \\\\'  # in strings, escaped quotes too: not nesting
    assert message(project.as_("office"), "unit_project_terminated", note=brackets_in_text).status_code == 204
    assert variables(project, project.instance["id"])["note"] == brackets_in_text


def test_a_refusal_does_not_tell_whom_a_hidden_task_is_offered_to(project):
    task_id = the_task(project)["id"]
    for user in ("health", "drc"):
        refused = error_of(project.as_(user).get(f"/task/{task_id}"), 403, "AuthorizationException")
        assert "unit:edu" not in refused and "edu" not in refused.split(":", 1)[-1]
        refused = error_of(project.as_(user).post(f"/task/{task_id}/complete", {}), 403, "AuthorizationException")
        assert "unit:edu" not in refused
    refused = error_of(project.as_("health").get("/process-definition/key/secret_process"), 404,
                       "InvalidRequestException")
    assert "unit_project" not in refused and "review" not in refused
