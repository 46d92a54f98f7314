"""No internal codes typed by hand (issue 12 §3): a form field with a `dalad:choices` source is a
list checked on the server against the live list; a diagram naming an unknown list is refused at
deploy; the start page offers only processes started by hand, with one 项目编号 field."""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401

from engine import services
from engine.definitions import BundleFile
from engine.errors import DefinitionInvalid
from engine.models import ProcessInstance
from forms import schemas
from forms.choices import SOURCES
from forms.fields import FieldSpec, Option
from engine.validation import CHOICE_SOURCES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))
import scenario_support as real  # noqa: E402

CHOICE_FIELD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="pick" name="选择" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="choose" name="选择单位" camunda:candidateGroups="office">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="unit" label="单位" type="string">
          <camunda:properties><camunda:property id="dalad:choices" value="SOURCE" /></camunda:properties>
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="choose" />
    <bpmn:sequenceFlow id="f2" sourceRef="choose" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def test_every_list_the_deploy_check_accepts_is_a_list_the_forms_offer():
    assert set(CHOICE_SOURCES) == set(SOURCES)


def test_a_diagram_naming_an_unknown_list_is_refused_naming_the_field(db):
    with db.write() as session, pytest.raises(DefinitionInvalid) as refused:
        services.deploy(session, [BundleFile("pick.bpmn", CHOICE_FIELD.replace("SOURCE", "unitz").encode())],
                        name="t", user="admin")
    assert "choose" in str(refused.value.problems) and "form field 'unit'" in str(refused.value.problems)
    assert "dalad:choices 'unitz'" in str(refused.value.problems)


@pytest.mark.parametrize("where, properties, refusal", [
    ("task", '<camunda:property id="dalad:choices" value="units" /><camunda:property id="dalad:ownGroups" value="true" />',
     "dalad:ownGroups belongs on a start event's form"),
    ("start", '<camunda:property id="dalad:choices" value="projects" /><camunda:property id="dalad:ownGroups" value="true" />',
     "dalad:ownGroups needs dalad:choices units or bureaus"),
    ("start", '<camunda:property id="dalad:choices" value="units" /><camunda:property id="dalad:ownGroups" value="yes" />',
     "dalad:ownGroups is true or false")])
def test_an_own_groups_field_is_a_start_form_s_list_of_units_or_bureaus(db, where, properties, refusal):
    diagram = CHOICE_FIELD.replace('<camunda:property id="dalad:choices" value="SOURCE" />', properties)
    if where == "start":  # the field moved onto the start event's form
        form = re.search(r"<bpmn:extensionElements>.*?</bpmn:extensionElements>", diagram, re.S).group(0)
        diagram = diagram.replace(form, "").replace('<bpmn:startEvent id="start">', f'<bpmn:startEvent id="start">{form}')
    with db.write() as session, pytest.raises(DefinitionInvalid) as refused:
        services.deploy(session, [BundleFile("pick.bpmn", diagram.encode())], name="t", user="admin")
    assert "form field 'unit'" in str(refused.value.problems) and refusal in str(refused.value.problems)


def test_several_choices_are_each_checked():
    spec = FieldSpec("depts", "部门", "enum", options=(Option("edu", "教育"), Option("health", "卫生")),
                     properties={"dalad:multiple": "true"})
    from werkzeug.datastructures import MultiDict
    assert schemas.validate([spec], MultiDict([("depts", "edu"), ("depts", "health")])).values == {"depts": "edu,health"}
    refused = schemas.validate([spec], MultiDict([("depts", "edu"), ("depts", "旗教育体育局")]))
    assert refused.errors == {"depts": ["请从列表中选择"]}


@pytest.fixture
def real_diagrams(db, app):
    real.deploy_all(db)


def test_the_start_page_offers_only_processes_started_by_hand(app, real_diagrams):
    client = app.test_client()
    login(client, "office_chen")
    page = client.get("/start/").get_data(as_text=True)
    offered = set(re.findall(r'href="/start/([a-z_]+)"', page))
    assert {"annual_plan", "supervision"} <= offered
    assert not offered & {"stage_review", "plan_submission", "project_launch"}  # called by other processes
    assert "project" not in offered  # declared in a unit's name: the office is no unit
    assert client.get("/start/stage_review").status_code == 403


def test_a_project_is_declared_with_one_project_code_and_a_unit_from_the_list(app, db, real_diagrams):
    client = app.test_client()
    login(client, "edu_li")
    page = client.get("/start/project").get_data(as_text=True)
    assert len(re.findall(r">\s*项目编号", page)) == 1 and 'name="business_key"' not in page
    unit = re.search(r'<select[^>]*name="unit".*?</select>', page, re.S).group(0)
    assert re.search(r'<option value="edu"\s*selected', unit) and "旗卫生健康委员会" not in unit  # only their own
    form = {"project_id": "P-2026-031", "project_name": "校园网升级", "unit": "旗教育体育局", "category": "software",
            "nature": "new", "estimated_budget": "800000"}
    refused = post(client, "/start/project", form)
    assert refused.status_code == 422 and "只能以您本人所在的单位或部门发起：旗教育体育局" in text_of(refused)
    assert post(client, "/start/project", {**form, "unit": "edu"}).status_code == 302
    with db.read() as session:
        started = session.query(ProcessInstance).filter_by(process_key="project").one()
    assert started.business_key == "P-2026-031" and started.variables["project_id"] == "P-2026-031"
    assert started.variables["unit"] == "edu"


def test_an_om_application_naming_no_project_in_progress_is_refused_at_its_code(app, db, real_diagrams):
    """运维经费 asks the project process of the code given whether its system passed acceptance:
    a code no project runs under is refused at the code's field, in the official's language, and
    nothing starts (it was the engine's English message atop the form)."""
    client = app.test_client()
    login(client, "edu_li")
    page = client.get("/start/om_funding").get_data(as_text=True)
    key = re.search(r'name="(business_key|project_id)"', page).group(1)
    form = {key: "P-2026-404", "unit": "edu", "system_name": "学籍管理系统", "request_kind": "om_funds",
            "requested_amount": "200000", "request_reason": "年度运维", "legal_ground_claimed": "false"}
    refused = post(client, "/start/om_funding", {**form, "application_document": (io.BytesIO(real.PDF), "申请.pdf")})
    assert refused.status_code == 422, text_of(refused)
    assert "没有以编号“P-2026-404”办理中的相关流程可以接收此申请：请填写所属项目的项目编号" in text_of(refused)
    assert "reaches no receiver" not in text_of(refused) and 'value="学籍管理系统"' in refused.get_data(as_text=True)
    post(client, "/lang", {"lang": "en", "next": "/start/om_funding"})
    refused = post(client, "/start/om_funding", {**form, "application_document": (io.BytesIO(real.PDF), "申请.pdf")})
    assert refused.status_code == 422 and "No process in progress under the code “P-2026-404”" in text_of(refused)
    with db.read() as session:
        assert session.query(ProcessInstance).filter_by(process_key="om_funding").count() == 0
