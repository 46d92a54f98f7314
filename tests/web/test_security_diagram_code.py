"""Diagram code never reaches Python (issue 10 §1), tried as an administrator who deploys a hostile
diagram through Camunda Modeler's door (POST /engine-rest/deployment/create) would.

Every element and attribute that SpiffWorkflow's parser or the engine turns into an expression or
a script carries payloads that would import a module, open a file or call `os`; each bundle is
refused with a parse error naming file, line and element, and the payload never runs. Then the
same payloads in a definition that got past the deploy checks (stored before they existed) are
driven through the doors an official uses (a message, a task completion): the engine's sandbox
refuses them at run time, as an incident naming the element.
"""
from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select

from engine import definitions, replay
from engine.models import Incident, ProcessInstance

from test_rest_helpers import error_of, modeler_deploy, rest  # noqa: F401

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
id="Definitions_attack" targetNamespace="http://bpmn.io/schema/bpmn">
"""


def process(body: str, *, before: str = "", after: str = "") -> str:
    """An executable process: start -> `body` (one element called `target`) -> end."""
    return (HEADER + before + """  <bpmn:process id="attack" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
""" + body + """
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="target" />
    <bpmn:sequenceFlow id="f2" sourceRef="target" targetRef="end" />
  </bpmn:process>
""" + after + "</bpmn:definitions>\n")


def task(kind: str = "userTask", attributes: str = "", inner: str = "") -> str:
    return (f'    <bpmn:{kind} id="target" {attributes}>{inner}<bpmn:incoming>f1</bpmn:incoming>'
            f'<bpmn:outgoing>f2</bpmn:outgoing></bpmn:{kind}>')


def extensions(xml: str) -> str:
    return f"<bpmn:extensionElements>{xml}</bpmn:extensionElements>"


def event(definition: str, kind: str = "intermediateCatchEvent") -> str:
    return task(kind, "", definition)


def gateway(condition_xml: str) -> str:
    return ('    <bpmn:exclusiveGateway id="target" default="f2"><bpmn:incoming>f1</bpmn:incoming>'
            '<bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f_bad</bpmn:outgoing></bpmn:exclusiveGateway>\n'
            '    <bpmn:endEvent id="end_bad"><bpmn:incoming>f_bad</bpmn:incoming></bpmn:endEvent>\n'
            f'    <bpmn:sequenceFlow id="f_bad" sourceRef="target" targetRef="end_bad">{condition_xml}</bpmn:sequenceFlow>')


MI = '<bpmn:multiInstanceLoopCharacteristics camunda:collection="{collection}" camunda:elementVariable="x">{inner}' \
     '</bpmn:multiInstanceLoopCharacteristics>'
CORRELATION = """  <bpmn:message id="Message_m" name="m" />
  <bpmn:correlationProperty id="target_property" name="key">
    <bpmn:correlationPropertyRetrievalExpression messageRef="Message_m">
      <bpmn:formalExpression>{p}</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>
"""

# Where diagram text becomes code, each with the id of the element the refusal names, and whether
# the engine reads it as an expression ("any": JUEL when it holds ${...}, else Python) or as a
# template (plain text unless it holds ${...}). {p} is the payload.
SITES = {
    "sequenceFlow conditionExpression": (gateway(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{p}</bpmn:conditionExpression>'), "target", "any"),
    "sequenceFlow conditionExpression nested where SpiffWorkflow still finds it": (gateway(
        '<bpmn:extensionElements><bpmn:conditionExpression>{p}</bpmn:conditionExpression></bpmn:extensionElements>'),
        "target", "any"),
    "multiInstance camunda:collection": (task(inner=MI.format(collection="{p}", inner="")), "target", "any"),
    "multiInstance completionCondition": (task(inner=MI.format(
        collection="items", inner="<bpmn:completionCondition>{p}</bpmn:completionCondition>")), "target", "any"),
    "multiInstance loopCardinality": (task(inner='<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>{p}'
                                                 '</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>'),
                                      "target", "template"),
    "multiInstance camunda:property outputElement": (task(inner=extensions(
        '<camunda:properties><camunda:property name="outputElement" value="{p}" /></camunda:properties>')
        + MI.format(collection="items", inner="")), "target", "any"),
    "standardLoop loopCondition": (task(inner='<bpmn:standardLoopCharacteristics><bpmn:loopCondition>{p}'
                                              '</bpmn:loopCondition></bpmn:standardLoopCharacteristics>'), "target", "any"),
    "adHocSubProcess completionCondition": (task("adHocSubProcess", "", '<bpmn:userTask id="inside" />'
                                                 '<bpmn:completionCondition>{p}</bpmn:completionCondition>'),
                                            "target", "any"),
    "conditionalEventDefinition condition": (event('<bpmn:conditionalEventDefinition id="c1"><bpmn:condition>{p}'
                                                   '</bpmn:condition></bpmn:conditionalEventDefinition>'),
                                             "target", "any"),
    "timer timeDate": (event('<bpmn:timerEventDefinition id="t1"><bpmn:timeDate>{p}</bpmn:timeDate>'
                             '</bpmn:timerEventDefinition>'), "target", "template"),
    "timer timeDuration": (event('<bpmn:timerEventDefinition id="t1"><bpmn:timeDuration>{p}</bpmn:timeDuration>'
                                 '</bpmn:timerEventDefinition>'), "target", "template"),
    "timer timeCycle": (event('<bpmn:timerEventDefinition id="t1"><bpmn:timeCycle>{p}</bpmn:timeCycle>'
                              '</bpmn:timerEventDefinition>'), "target", "template"),
    "correlation property retrieval expression": (
        event('<bpmn:messageEventDefinition id="md" messageRef="Message_m" />'), "target_property", "any",
        CORRELATION),
    "scriptTask script": (task("scriptTask", 'scriptFormat="python"', "<bpmn:script>x = {p}</bpmn:script>"),
                          "target", "any"),
    "userTask name": (task(attributes='name="{p}"'), "target", "template"),
    "userTask camunda:assignee": (task(attributes='camunda:assignee="{p}"'), "target", "template"),
    "userTask camunda:candidateUsers": (task(attributes='camunda:candidateUsers="{p}"'), "target", "template"),
    "userTask camunda:candidateGroups": (task(attributes='camunda:candidateGroups="{p}"'), "target", "template"),
    "userTask camunda:dueDate": (task(attributes='camunda:dueDate="{p}"'), "target", "template"),
    "userTask camunda:followUpDate": (task(attributes='camunda:followUpDate="{p}"'), "target", "template"),
    "userTask camunda:priority": (task(attributes='camunda:priority="{p}"'), "target", "template"),
    "camunda:inputParameter": (task(inner=extensions(
        '<camunda:inputOutput><camunda:inputParameter name="v">{p}</camunda:inputParameter></camunda:inputOutput>')),
        "target", "template"),
    "camunda:outputParameter list value": (task(inner=extensions(
        '<camunda:inputOutput><camunda:outputParameter name="v"><camunda:list><camunda:value>{p}</camunda:value>'
        '</camunda:list></camunda:outputParameter></camunda:inputOutput>')), "target", "template"),
    "camunda:inputParameter map entry": (task(inner=extensions(
        '<camunda:inputOutput><camunda:inputParameter name="v"><camunda:map><camunda:entry key="k">{p}'
        '</camunda:entry></camunda:map></camunda:inputParameter></camunda:inputOutput>')), "target", "template"),
    "callActivity calledElement": (task("callActivity", 'calledElement="{p}"'), "target", "template"),
    "callActivity camunda:in sourceExpression": (task("callActivity", 'calledElement="attack"', extensions(
        '<camunda:in sourceExpression="{p}" target="v" />')), "target", "any"),
    "callActivity camunda:out sourceExpression": (task("callActivity", 'calledElement="attack"', extensions(
        '<camunda:out sourceExpression="{p}" target="v" />')), "target", "any"),
    "businessRuleTask camunda:decisionRef": (task("businessRuleTask", 'camunda:decisionRef="d{p}"'),
                                             "target", "template"),
    "bpmn:error camunda:errorMessage": (task(), "target_error", "template",
                                        '  <bpmn:error id="target_error" errorCode="E" camunda:errorMessage="{p}" />\n'),
}

# Python scripts in listeners and parameters run in the engine's sandbox, as script tasks do
# (engine/foreign.py, engine/specs.py): code that would reach Python is refused at deploy.
def script_in(holder: str) -> str:
    """A user task whose extension `holder` (an element path, outermost first) holds a script."""
    opening = "".join(f"<camunda:{part}>" for part in holder.split("/"))
    closing = "".join(f"</camunda:{part.split()[0]}>" for part in reversed(holder.split("/")))
    return task(inner=extensions(f'{opening}<camunda:script scriptFormat="python">{{p}}</camunda:script>{closing}'))


SCRIPT_PLACES = {
    "camunda:script in an execution listener": script_in('executionListener event="start"'),
    "camunda:script in a task listener": script_in('taskListener event="create"'),
    "camunda:script in an input parameter": script_in('inputOutput/inputParameter name="v"'),
    "camunda:script in an output parameter": script_in('inputOutput/outputParameter name="v"'),
}

# What Camunda would run as Java deploys with a warning and is never evaluated (engine/foreign.py):
# an expression listener is skipped, a message event with camunda:expression waits for a worker.
JAVA_PLACES = {
    "execution listener expression": task(inner=extensions('<camunda:executionListener event="start" '
                                                           'expression="{p}" />')),
    "message camunda:expression": event('<bpmn:messageEventDefinition id="md" messageRef="Message_m" '
                                        'camunda:expression="{p}" />', "intermediateThrowEvent"),
}


def payloads(marker) -> list[str]:
    """Python that would leave `marker` behind, and JUEL forms of the same."""
    python = [f"__import__('pathlib').Path('{marker}').touch()",
              f"open('{marker}', 'w').close()",
              f"os.system('touch {marker}')",
              f"[c for c in ().__class__.__base__.__subclasses__()]"]
    return python + ["${" + p + "}" for p in python[:3]]


def _escape(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _deploy(rest, xml: str):
    return modeler_deploy(rest.as_("admin"), "attack", ("attack.bpmn", xml.encode()))


def _refused_at(response, element_id: str, xml: str) -> None:
    message = error_of(response, 400, "ParseException")
    errors = response.get_json()["details"]["attack.bpmn"]["errors"]
    named = [e for e in errors if e["mainElementId"] == element_id]
    assert named, (element_id, message)
    line = next(n for n, text in enumerate(xml.splitlines(), 1) if f'id="{element_id}"' in text)
    assert named[0]["line"] == line, (named[0], line)


@pytest.mark.parametrize("site", sorted(SITES))
def test_every_expression_site_refuses_code_at_deploy(rest, tmp_path, site):
    body, element_id, kind, *after = SITES[site]
    marker = tmp_path / "pwned"
    for payload in payloads(marker):
        if kind == "template" and "${" not in payload:
            payload = "${" + payload + "}"  # plain text here is a literal, never code
        xml = process(body.replace("{p}", _escape(payload)), after="".join(a.replace("{p}", _escape(payload))
                                                                           for a in after))
        _refused_at(_deploy(rest, xml), element_id, xml)
    assert not marker.exists()


def test_the_sites_are_deployable_with_a_harmless_expression(rest):
    """The walk above proves something only if each site, harmless, is accepted: otherwise a
    refusal for another reason would pass it."""
    harmless = {"any": "amount > 1", "template": "${amount}"}
    literal = {"timer timeDate": "2026-05-01T00:00:00", "timer timeDuration": "P1D", "timer timeCycle": "R2/PT1H",
               "multiInstance loopCardinality": "3", "userTask camunda:dueDate": "P1D",
               "userTask camunda:followUpDate": "P1D", "userTask camunda:priority": "5",
               "callActivity calledElement": "attack", "businessRuleTask camunda:decisionRef": "",
               "multiInstance camunda:collection": "items", "correlation property retrieval expression": "key"}
    for site, (body, element_id, kind, *after) in SITES.items():
        if site in ("businessRuleTask camunda:decisionRef", "conditionalEventDefinition condition",
                    "adHocSubProcess completionCondition", "standardLoop loopCondition"):
            continue  # need a decision in the bundle / covered at run time below
        value = literal.get(site, harmless[kind])
        xml = process(body.replace("{p}", _escape(value)), after="".join(a.replace("{p}", value) for a in after))
        response = _deploy(rest, xml)
        assert response.status_code == 200, (site, response.get_json())


@pytest.mark.parametrize("place", sorted(SCRIPT_PLACES))
def test_python_in_listeners_and_parameters_runs_only_in_the_sandbox(rest, tmp_path, place):
    marker = tmp_path / "pwned"
    harmless = "1" if "Parameter" in place or "parameter" in place else "x = 1"  # (a parameter's is a value)
    xml = process(SCRIPT_PLACES[place].replace("{p}", harmless), after='  <bpmn:message id="Message_m" name="m" />\n')
    assert _deploy(rest, xml).status_code == 200
    assert rest.as_("admin").post("/process-definition/key/attack/start", {}).status_code == 200
    for payload in payloads(marker):
        xml = process(SCRIPT_PLACES[place].replace("{p}", _escape(payload)),
                      after='  <bpmn:message id="Message_m" name="m" />\n')
        _refused_at(_deploy(rest, xml), "target", xml)
    assert not marker.exists()


@pytest.mark.parametrize("place", sorted(JAVA_PLACES))
def test_java_expressions_deploy_with_a_warning_and_are_never_evaluated(rest, tmp_path, place):
    marker = tmp_path / "pwned"
    payload = "${" + f"__import__('pathlib').Path('{marker}').touch()" + "}"
    xml = process(JAVA_PLACES[place].replace("{p}", _escape(payload)),
                  after='  <bpmn:message id="Message_m" name="m" />\n')
    response = _deploy(rest, xml)
    assert response.status_code == 200, response.get_json()
    rest.as_("admin").post("/process-definition/key/attack/start", {})
    assert not marker.exists()


# --- run time: a definition that got past the deploy checks ---------------------------------------

@pytest.fixture
def unchecked(monkeypatch):
    """Deploy as an older release did: without the deploy-time compilation of expressions."""
    monkeypatch.setattr(definitions, "check_bpmn", lambda tree, filename: [])


def _row_id(db, rest_id: str) -> int:
    with db.read() as session:
        return session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == rest_id))


def _incident_of(db, rest_id: str) -> Incident:
    with db.read() as session:
        instance_id = _row_id(db, rest_id)
        row = session.get(ProcessInstance, instance_id)
        assert row.status == "incident", row.status
        [incident] = session.query(Incident).filter_by(instance_id=instance_id).all()
        session.expunge(incident)
        return incident


def test_a_correlation_property_never_runs_python_when_an_official_sends_the_message(rest, tmp_path, unchecked):
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path('{marker}').touch()"
    xml = process(task("receiveTask", 'messageRef="Message_m"'), after=CORRELATION.replace("{p}", _escape(code)))
    assert _deploy(rest, xml).status_code == 200  # what the old deploy let through
    started = rest.as_("admin").post("/process-definition/key/attack/start", {"businessKey": "A-1"}).get_json()
    response = rest.as_("admin").post("/message", {"messageName": "m", "businessKey": "A-1"})
    assert response.status_code == 204
    incident = _incident_of(rest.db, started["id"])
    assert incident.element_id == "target" and "__import__" in incident.message
    with rest.db.read() as session:  # the auditors' replay re-executes it: still nothing runs
        replay.verify(session, _row_id(rest.db, started["id"]))
    assert not marker.exists()


def test_an_ad_hoc_completion_condition_never_runs_python_when_a_task_is_completed(rest, tmp_path, unchecked):
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path('{marker}').touch() or True"
    body = task("adHocSubProcess", "", '<bpmn:userTask id="inside" camunda:candidateGroups="office" />'
                                       f'<bpmn:completionCondition>{_escape(code)}</bpmn:completionCondition>')
    assert _deploy(rest, process(body)).status_code == 200
    started = rest.as_("admin").post("/process-definition/key/attack/start", {}).get_json()
    [offered] = rest.as_("office").get("/task", processInstanceId=started["id"]).get_json()
    response = rest.as_("office").post(f"/task/{offered['id']}/complete", {"variables": {}})
    assert "__import__" in error_of(response, 422, "ExecutionError")
    assert rest.as_("office").get(f"/task/{offered['id']}").status_code == 200  # still open: nothing lost
    assert not marker.exists()


def test_an_ad_hoc_conditional_path_never_runs_python(rest, tmp_path, unchecked):
    """SpiffWorkflow checks the loop condition of an ad-hoc subprocess's tasks itself."""
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path('{marker}').touch()"
    body = task("adHocSubProcess", "", '<bpmn:userTask id="inside" camunda:candidateGroups="office" />'
                                       '<bpmn:userTask id="again"><bpmn:standardLoopCharacteristics>'
                                       f'<bpmn:loopCondition>{_escape(code)}</bpmn:loopCondition>'
                                       '</bpmn:standardLoopCharacteristics></bpmn:userTask>'
                                       '<bpmn:completionCondition>False</bpmn:completionCondition>')
    assert _deploy(rest, process(body)).status_code == 200
    started = rest.as_("admin").post("/process-definition/key/attack/start", {}).get_json()
    [offered] = rest.as_("office").get("/task", processInstanceId=started["id"]).get_json()
    response = rest.as_("office").post(f"/task/{offered['id']}/complete", {"variables": {}})
    assert "__import__" in error_of(response, 422, "ExecutionError")
    assert not marker.exists()


# Sites the engine reaches as soon as an instance starts; SITES' bodies are reused.
RUN_AT_START = ["sequenceFlow conditionExpression", "sequenceFlow conditionExpression nested where SpiffWorkflow "
                "still finds it", "multiInstance camunda:collection", "multiInstance loopCardinality",
                "conditionalEventDefinition condition", "timer timeDate", "timer timeDuration", "timer timeCycle",
                "scriptTask script", "userTask camunda:assignee", "userTask camunda:candidateGroups",
                "userTask camunda:dueDate", "userTask camunda:priority", "camunda:inputParameter",
                "camunda:inputParameter map entry", "callActivity camunda:in sourceExpression"]


@pytest.mark.parametrize("site", RUN_AT_START)
def test_code_that_got_past_deploy_is_refused_by_the_sandbox_when_it_runs(rest, tmp_path, unchecked, site):
    body, element_id, kind, *after = SITES[site]
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path('{marker}').touch()"
    if kind == "template" or site.startswith("timer"):
        code = "${" + code + "}"
    xml = process(body.replace("{p}", _escape(code)), after="".join(a.replace("{p}", _escape(code)) for a in after))
    assert _deploy(rest, xml).status_code == 200
    response = rest.as_("admin").post("/process-definition/key/attack/start", {"variables": {"items": {"value": [1]}}})
    message = error_of(response, 422, "ExecutionError")
    assert f"element '{element_id}'" in message and "is not allowed" in message
    assert not marker.exists()


# --- bounded work: a script that would run for minutes ----------------------------------------------

def test_a_script_bomb_becomes_an_incident_naming_its_element_and_the_server_goes_on(rest):
    from engine import services
    bomb = "l = [1]\nfor i in [0] * 60:\n    l = [l, l]\nx = str(l)"
    xml = process(task("scriptTask", 'scriptFormat="python" camunda:asyncBefore="true"',
                       f"<bpmn:script>{_escape(bomb)}</bpmn:script>"))
    assert _deploy(rest, xml).status_code == 200
    started = rest.as_("admin").post("/process-definition/key/attack/start", {}).get_json()
    services.fire_due_timers(rest.db)  # the scheduler runs the job
    incident = _incident_of(rest.db, started["id"])
    assert incident.element_id == "target" and "larger than 1,000,000 units" in incident.message
    assert rest.as_("admin").get("/process-definition/count").get_json() == {"count": 1}


def test_an_error_message_without_text_fails_naming_its_element_and_nothing_starts(rest):
    """camunda:errorMessage is read by the sandboxed template evaluator, whose whole numbers may
    reach 64,000 bits; one past the 4,300 digits Python writes as text failed the start naming
    only "the process"."""
    product = "${" + "*".join(["1000000000000000000"] * 300) + "}"  # 5,400 digits
    body = ('    <bpmn:subProcess id="target"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
            '<bpmn:startEvent id="inner_start"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>'
            '<bpmn:endEvent id="thrower"><bpmn:incoming>g1</bpmn:incoming>'
            '<bpmn:errorEventDefinition id="ed" errorRef="big_error" /></bpmn:endEvent>'
            '<bpmn:sequenceFlow id="g1" sourceRef="inner_start" targetRef="thrower" /></bpmn:subProcess>\n'
            '    <bpmn:boundaryEvent id="caught" attachedToRef="target"><bpmn:outgoing>f3</bpmn:outgoing>'
            '<bpmn:errorEventDefinition id="cd" errorRef="big_error" camunda:errorMessageVariable="why" />'
            '</bpmn:boundaryEvent>\n'
            '    <bpmn:endEvent id="end_caught"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>\n'
            '    <bpmn:sequenceFlow id="f3" sourceRef="caught" targetRef="end_caught" />')
    xml = process(body, before=f'  <bpmn:error id="big_error" errorCode="BIG" camunda:errorMessage="{product}" />\n')
    assert _deploy(rest, xml).status_code == 200
    message = error_of(rest.as_("admin").post("/process-definition/key/attack/start", {}), 422, "ExecutionError")
    assert message.startswith("element 'thrower': camunda:errorMessage '${1000000000000000000*") and \
        "cannot be evaluated: Exceeds the limit (4300 digits)" in message, message
    assert rest.as_("admin").get("/process-instance/count").get_json() == {"count": 0}
