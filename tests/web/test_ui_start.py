"""Starting work: who may start which process, the start form from the start event's formData,
and what a start records (business key, variables from the form only, the unit, the initiator)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401

from conftest import deploy_files
from engine import history, services, users
from engine.definitions import BundleFile
from engine.models import ProcessInstance

GOOD_START = {"business_key": "P-2026-017", "project_name": "智慧教育云平台", "category": "software",
              "estimated_budget": "1,280,000", "plan_year": "2026"}
SUBJECTS = {"anonymous": None, "other_unit": "health_zhao", "other_bureau": "drc_zhang", "right": "edu_li",
            "auditor": "auditor_sun", "admin": "admin_zhou"}

ORDER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="rectification_order" name="整改通知" isExecutable="true" camunda:candidateStarterGroups="office,drc" camunda:candidateStarterUsers="finance_liu">
    <bpmn:startEvent id="start" camunda:initiator="issued_by">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="unit" label="整改单位" type="enum">
          <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          <camunda:value id="edu" name="旗教育体育局" /><camunda:value id="health" name="旗卫生健康委员会" />
        </camunda:formField>
        <camunda:formField id="problem" label="问题" type="textarea"><camunda:validation><camunda:constraint name="required" /></camunda:validation></camunda:formField>
      </camunda:formData></bpmn:extensionElements>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="rectify" name="整改并报告" camunda:candidateGroups="unit:${unit}"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="rectify" />
    <bpmn:sequenceFlow id="f2" sourceRef="rectify" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


@pytest.fixture
def started(db, app):
    """The feasibility diagram (any unit may start it) and a rectification order (office, drc, finance_liu)."""
    deploy_files(db, "feasibility_ui.bpmn")
    with db.write() as session:
        services.deploy(session, [BundleFile("order.bpmn", ORDER_BPMN.encode())], name="order", user="admin")
    return app


def _client_for(app, subject):
    client = app.test_client()
    if SUBJECTS[subject]:
        assert login(client, SUBJECTS[subject]).status_code == 302
    else:
        client.get("/login")
    return client


def _instances(db) -> list[ProcessInstance]:
    with db.read() as session:
        return list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "feasibility_ui")))


# --- access ------------------------------------------------------------------------------------

# (route, method) -> expected status per subject; the feasibility study is any unit's to start
ACCESS = {
    ("/start/", "GET"): dict(anonymous=302, other_unit=200, other_bureau=200, right=200, auditor=200, admin=200),
    ("/start/feasibility_ui", "GET"): dict(anonymous=302, other_unit=200, other_bureau=403, right=200, auditor=403,
                                           admin=403),
    ("/start/feasibility_ui", "POST"): dict(anonymous=401, other_unit=302, other_bureau=403, right=302, auditor=403,
                                            admin=403),
    ("/start/rectification_order", "GET"): dict(anonymous=302, other_unit=403, other_bureau=200, right=403,
                                                auditor=403, admin=403),
    ("/start/no_such_process", "GET"): dict(anonymous=302, other_unit=404, other_bureau=404, right=404, auditor=404,
                                            admin=404),
}


@pytest.mark.parametrize("route", list(ACCESS), ids=lambda r: f"{r[1]} {r[0]}")
@pytest.mark.parametrize("subject", list(SUBJECTS))
def test_access(started, route, subject):
    client = _client_for(started, subject)
    path, method = route
    if method == "GET":
        response = client.get(path)
    else:
        response = post(client, path, {**GOOD_START, "business_key": f"P-{subject}"})
    assert response.status_code == ACCESS[route][subject]
    if subject == "anonymous" and method == "GET":
        assert "/login" in response.headers["Location"]


def test_a_post_without_the_csrf_token_is_refused(started, db):
    client = _client_for(started, "right")
    assert client.post("/start/feasibility_ui", data=GOOD_START).status_code == 400
    assert _instances(db) == []


# --- the list ----------------------------------------------------------------------------------

def test_each_official_sees_the_processes_they_may_start(started):
    unit = text_of(_client_for(started, "right").get("/start/"))
    assert "feasibility_ui" in unit and "rectification_order" not in unit
    drc = text_of(_client_for(started, "other_bureau").get("/start/"))
    assert "rectification_order" in drc and "feasibility_ui" not in drc
    finance = _client_for(started, "right")
    login(finance, "finance_liu")
    assert "rectification_order" in text_of(finance.get("/start/"))  # named in candidateStarterUsers
    assert "项目审查" in drc  # a process that names no starters is open to every official ...
    auditor = text_of(_client_for(started, "auditor").get("/start/"))
    assert "暂无您可以发起的流程" in auditor


def test_a_suspended_definition_is_not_offered(started, db):
    with db.write() as session:
        services.process_definition(session, "feasibility_ui").suspended = True
    client = _client_for(started, "right")
    assert "feasibility_ui" not in text_of(client.get("/start/"))
    assert client.get("/start/feasibility_ui").status_code == 403


# --- the form and the start --------------------------------------------------------------------

def test_the_start_form_shows_the_start_events_fields_and_a_suggested_code(started, frozen_clock):
    page = _client_for(started, "right").get("/start/feasibility_ui").get_data(as_text=True)
    for label in ("项目编号", "项目名称", "项目类别", "投资估算", "计划年度", "应急项目"):
        assert label in page
    assert 'value="FEASIBILITY_UI-20260302-01"' in page
    assert 'name="unit"' not in page  # an official of one unit starts for that unit


def test_a_start_records_code_variables_unit_and_initiator(started, db):
    client = _client_for(started, "right")
    response = post(client, "/start/feasibility_ui", {**GOOD_START, "initiator": "someone_else", "spend": "9"})
    assert response.status_code == 302
    [row] = _instances(db)
    assert response.headers["Location"].startswith("/tasks/")  # straight to the unit's first task
    assert row.business_key == "P-2026-017" and row.started_by == "edu_li"
    assert row.variables["unit"] == "edu" and row.variables["initiator"] == "edu_li"
    assert row.variables["project_name"] == "智慧教育云平台" and row.variables["estimated_budget"] == 1280000
    assert row.variables["plan_year"] == 2026 and row.variables["emergency"] is False
    assert "spend" not in row.variables  # only what the start form asks for
    with db.read() as session:
        started_event = history.events_of(session, row.id)[0]
    assert started_event["type"] == "instance_started" and started_event["actor"] == "edu_li"
    assert "已发起" in text_of(client.get(response.headers["Location"]))


def test_mistakes_come_back_with_messages_and_what_was_typed(started, db):
    client = _client_for(started, "right")
    response = post(client, "/start/feasibility_ui", {**GOOD_START, "project_name": "智慧", "estimated_budget": "一百万",
                                                      "business_key": "P 17"})
    assert response.status_code == 422
    text = text_of(response)
    assert "表单有 3 处需要更正" in text
    assert "至少输入 4 个字符" in text and "请输入金额" in text and "不含空格" in text
    page = response.get_data(as_text=True)
    assert 'value="智慧"' in page and 'value="一百万"' in page and 'value="P 17"' in page
    assert _instances(db) == []


def test_an_open_process_with_the_same_code_is_not_started_twice(started, db):
    client = _client_for(started, "right")
    assert post(client, "/start/feasibility_ui", GOOD_START).status_code == 302
    response = post(client, "/start/feasibility_ui", GOOD_START)
    assert response.status_code == 422
    assert "已有使用此编号" in text_of(response)
    assert len(_instances(db)) == 1


def test_an_official_of_several_units_chooses_the_unit(started, db):
    with db.write() as session:
        users.add_user(session, "two_units", "correct-horse-7", bureaus=["unit:edu", "unit:health"], roles=[])
    client = started.test_client()
    login(client, "two_units")
    assert 'name="unit"' in client.get("/start/feasibility_ui").get_data(as_text=True)
    assert post(client, "/start/feasibility_ui", GOOD_START).status_code == 422
    assert post(client, "/start/feasibility_ui", {**GOOD_START, "unit": "health"}).status_code == 302
    assert _instances(db)[0].variables["unit"] == "health"


def test_the_start_form_may_name_the_unit_itself(started, db):
    client = _client_for(started, "other_bureau")
    response = post(client, "/start/rectification_order", {"business_key": "ZG-1", "unit": "health",
                                                           "problem": "未接入信息资源共享平台"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/projects/")
    with db.read() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.business_key == "ZG-1")).one()
    assert row.variables["unit"] == "health" and row.variables["issued_by"] == "drc_zhang"


def test_an_engine_refusal_is_shown_on_the_form_and_nothing_is_started(started, db):
    # review's first task goes to unit:${unit}; the drc official has no unit to give it
    client = _client_for(started, "other_bureau")
    response = post(client, "/start/review", {"business_key": "R-1"})
    assert response.status_code == 422
    assert "流程未能发起" in text_of(response) and "cannot be evaluated" in text_of(response)
    assert 'value="R-1"' in response.get_data(as_text=True)
    with db.read() as session:
        assert session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == "R-1")) is None


def test_the_year_of_a_plan_change_is_a_number(app, db):
    """bpmn/plan_change.bpmn: 计划年度 typed as 二〇二六 is refused beside the field, as the annual
    plan's is, and the rest of the form comes back as typed; 2026 starts the change."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))
    import scenario_support as real

    real.deploy_all(db)
    real.start(db, "project", "P-2026-064", user="edu", project_id="P-2026-064", project_name="智慧教育平台",
               unit="edu", category="software", nature="new", estimated_budget=1800000)
    client = app.test_client()
    login(client, "office_chen")
    form = {"business_key": "CHANGE-P-2026-064", "plan_year": "二〇二六", "project_id": "P-2026-064",
            "special_circumstances": "上级部署，须年内建设", "change_content": "增列项目 P-2026-064"}
    refused = post(client, "/start/plan_change", form)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "请输入整数" in text_of(refused) and 'id="f-plan_year-error"' in page
    assert 'value="二〇二六"' in page and "上级部署，须年内建设" in page
    assert post(client, "/start/plan_change", {**form, "plan_year": "2026"}).status_code == 302
    with db.read() as session:
        started = session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "plan_change")).one()
        assert started.variables["plan_year"] == 2026
