"""A start through REST (`/process-definition/…/start` and Camunda's `…/submit-form`) is checked as
the start page checks it, on the real bpmn/ diagrams: the consistency rules of the start, a unit or
bureau in whose name it starts only the caller's own (administrators: any), the business key as the
page takes it (the form's 项目编号 field is the key). A refusal is a 400 naming the field, and
nothing is started; an administrator's override skips the form, never the rules."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from test_rest_helpers import BASE, error_of, modeler_deploy, rest, start  # noqa: F401

from conftest import DIAGRAMS
from engine import bureaus, compliance
from engine.models import ProcessInstance

PROJECT = {"project_id": "P-2026-EDU-31", "project_name": "校园网升级", "unit": "edu", "category": "software",
           "nature": "new", "estimated_budget": 800000}
ORDER = {"project_id": "P-2026-EDU-31", "project_name": "校园网升级", "unit": "edu", "issuer": "drc",
         "problem": "未按批复开展密码应用安全性评估", "article": "第十二条、第二十七条"}


@pytest.fixture
def real(rest):
    """bpmn/ deployed from the Modeler."""
    bpmn = DIAGRAMS.parents[1] / "bpmn"
    [first, *others] = [(p.name, p.read_bytes()) for p in sorted(bpmn.iterdir())
                        if p.suffix in (".bpmn", ".dmn", ".form")]
    assert modeler_deploy(rest.as_("admin"), "办法", first, others).status_code == 200
    return rest


@pytest.fixture
def a_project(real):
    """edu's project P-2026-EDU-31, which a rectification order can name."""
    start(real, "project", business_key=PROJECT["project_id"], **PROJECT)
    return real


def begin(api, key: str, values: dict, call: str = "start", **body):
    return api.post(f"/process-definition/key/{key}/{call}",
                    {"variables": {n: {"value": v} for n, v in values.items()}, **body})


def started(rest, process_key: str) -> list[ProcessInstance]:
    with rest.db.read() as session:
        return list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == process_key)))


@pytest.mark.parametrize("call", ["start", "submit-form"])
@pytest.mark.parametrize("deadline", ["2026-03-01", "2026-03-02"])  # the clock: 2026-03-02
def test_a_rectification_order_whose_deadline_is_not_ahead_is_refused(a_project, call, deadline):
    refused = error_of(begin(a_project.as_("drc"), "supervision", {**ORDER, "rectification_deadline": deadline},
                             call), 400, "InvalidRequestException")
    assert "field 'rectification_deadline': 整改期限须晚于下达整改通知之日" in refused, refused
    assert started(a_project, "supervision") == []
    response = begin(a_project.as_("drc"), "supervision", {**ORDER, "rectification_deadline": "2026-03-16"}, call)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["businessKey"] == "P-2026-EDU-31"  # the form's key field
    [order] = started(a_project, "supervision")
    assert order.variables["rectification_deadline"] == "2026-03-16"


def test_an_administrator_s_override_skips_the_form_but_not_the_rules(a_project):
    refused = error_of(begin(a_project.as_("admin"), "supervision", {**ORDER, "rectification_deadline": "2026-02-01"},
                             businessKey="P-2026-EDU-31", overrideReason="补录纸质通知"), 400, "InvalidRequestException")
    assert "rectification_deadline" in refused and "art27_rectification_deadline_ahead" in refused, refused
    assert started(a_project, "supervision") == []


@pytest.mark.parametrize("call", ["start", "submit-form"])
def test_a_project_cannot_be_declared_in_another_unit_s_name(real, call):
    refused = error_of(begin(real.as_("edu"), "project", {**PROJECT, "unit": "health"}, call), 400,
                       "InvalidRequestException")
    assert "field 'unit': 只能以您本人所在的单位或部门发起" in refused, refused
    error_of(begin(real.as_("office"), "project", PROJECT, call), 400, "InvalidRequestException")  # no unit at all
    assert started(real, "project") == []
    with real.db.write() as session:
        bureaus.ensure_unit(session, "unit:health", "旗卫生健康委员会")
    response = begin(real.as_("admin"), "project", {**PROJECT, "unit": "health"}, call)  # administrators: any
    assert response.status_code == 200, response.get_json()
    assert started(real, "project")[0].variables["unit"] == "health"


def test_a_rectification_order_is_issued_only_in_the_caller_s_bureau(a_project):
    refused = error_of(begin(a_project.as_("drc"), "supervision",
                             {**ORDER, "issuer": "audit", "rectification_deadline": "2026-03-16"}), 400,
                       "InvalidRequestException")
    assert "field 'issuer'" in refused, refused
    assert started(a_project, "supervision") == []


def test_the_business_key_is_the_form_s_project_code(real):
    """On the page the 项目编号 field is the business key: over REST a different key is refused at
    that field, none takes the field's, and it is written as the page takes it."""
    edu = real.as_("edu")
    refused = error_of(begin(edu, "project", PROJECT, businessKey="P-OTHER"), 400, "InvalidRequestException")
    assert "field 'project_id'" in refused and "P-OTHER" in refused, refused
    refused = error_of(begin(edu, "project", {**PROJECT, "project_id": "P 31"}), 400, "InvalidRequestException")
    assert "field 'project_id'" in refused, refused
    assert started(real, "project") == []
    first = begin(edu, "project", PROJECT)
    assert first.status_code == 200 and first.get_json()["businessKey"] == "P-2026-EDU-31"


def test_submit_form_takes_the_start_form_s_checks_and_answers_as_camunda(real):
    edu = real.as_("edu")
    refused = error_of(begin(edu, "project", {**PROJECT, "plan_year": 2026}, "submit-form"), 400,
                       "InvalidRequestException")
    assert "'plan_year'" in refused, refused
    definition = real.as_("edu").get("/process-definition/key/project").get_json()
    response = edu.post(f"/process-definition/{definition['id']}/submit-form",
                        {"variables": {n: {"value": v} for n, v in PROJECT.items()}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["definitionId"] == definition["id"] and body["businessKey"] == "P-2026-EDU-31"
    assert not body["ended"] and BASE not in str(body.get("variables", ""))


def test_a_start_form_s_required_document_is_not_skipped_over_rest(a_project):
    """运维经费's 申请材料 goes with the start page's form: a REST start without it is refused
    naming the field and the page, as a completion without a required material is."""
    application = {"unit": "edu", "system_name": "学籍管理系统", "request_kind": "om_funds", "requested_amount": 200000,
                   "request_reason": "年度运维", "legal_ground_claimed": False}
    refused = error_of(begin(a_project.as_("edu"), "om_funding", application, businessKey="P-2026-EDU-31"), 400,
                       "InvalidRequestException")
    assert "field 'application_document'" in refused and "/start/om_funding" in refused, refused
    assert started(a_project, "om_funding") == []


def test_a_rule_of_a_message_start_refuses_the_message(real, tmp_path, monkeypatch):
    """project.bpmn's message start `project_planned` (a plan entry becoming a project) carries the
    start form's fields: an administrator's rule on it (instance_started at project_planned) refuses
    a message that breaks it, and the audit reads a kept one with the message's variables."""
    path = tmp_path / "compliance.json"
    path.write_text(json.dumps({"rules": [{
        "id": "local_planned_budget", "article": "第五条", "title_zh": "计划项目无投资估算", "kind": "consistent",
        "processes": ["project"], "trigger": {"types": ["instance_started"], "elements": ["project_planned"]},
        "check": "${estimated_budget != null && estimated_budget > 0}", "field": "estimated_budget",
        "message_zh": "列入计划的项目须有投资估算"}]}, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("DALAD_COMPLIANCE_FILE", str(path))

    def planned(key: str, budget: int):
        return real.as_("admin").post("/message", {"messageName": "project_planned", "businessKey": key,
                                                   "processVariables": {n: {"value": v} for n, v in {
                                                       **PROJECT, "project_id": key, "estimated_budget": budget}.items()}})
    refused = error_of(planned("P-2026-PLAN-1", 0), 400, "InvalidRequestException")
    assert "field 'estimated_budget': 列入计划的项目须有投资估算" in refused, refused
    assert started(real, "project") == []
    assert planned("P-2026-PLAN-2", 800000).status_code == 204
    assert [row.business_key for row in started(real, "project")] == ["P-2026-PLAN-2"]
    with real.db.read() as session:
        [result] = compliance.check(session, [r for r in compliance.load_rules() if r.id == "local_planned_budget"])
    assert result.checked == 1 and result.breaches == []


def test_a_business_key_alone_fills_the_form_s_project_code(real):
    response = begin(real.as_("edu"), "project", {k: v for k, v in PROJECT.items() if k != "project_id"},
                     businessKey="P-2026-EDU-32")
    assert response.status_code == 200, response.get_json()
    [row] = started(real, "project")
    assert (row.business_key, row.variables["project_id"]) == ("P-2026-EDU-32", "P-2026-EDU-32")
