"""Deploy-time checks of BPMN files: every problem, located by file, line and element."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.errors import ExpressionError, Problem
from engine.expressions import compile_expression
from engine.foreign import adapt
from engine.validation import check_bpmn
from engine.xmlsafe import parse_xml

PERMIT40 = Path("/work/shared/bench/permit40.bpmn")
FILE = "invoice.bpmn"

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:modeler="http://camunda.org/schema/modeler/1.0" \
id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.20.0" \
modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0">
"""

_NODE = re.compile(r'<bpmn:(\w+) id="([^"]+)"')
_NOT_SHAPES = {"sequenceFlow", "process", "laneSet", "lane", "dataStore", "incoming", "outgoing",
               "multiInstanceLoopCharacteristics", "script", "conditionExpression"}


def diagram(body: str, *, process: str = 'id="invoice" name="Invoice" isExecutable="true"',
            before: str = "", after: str = "") -> str:
    """A file as Camunda Modeler writes it: the process `body`, then a bpmndi section with a
    shape for each node and an edge for each flow."""
    di = []
    for kind, element_id in _NODE.findall(body):
        if kind == "sequenceFlow":
            di.append(f'      <bpmndi:BPMNEdge id="{element_id}_di" bpmnElement="{element_id}">\n'
                      '        <di:waypoint x="215" y="117" />\n        <di:waypoint x="270" y="117" />\n'
                      "      </bpmndi:BPMNEdge>")
        elif kind not in _NOT_SHAPES and not kind.endswith("EventDefinition"):
            di.append(f'      <bpmndi:BPMNShape id="{element_id}_di" bpmnElement="{element_id}">\n'
                      '        <dc:Bounds x="270" y="77" width="100" height="80" />\n'
                      "      </bpmndi:BPMNShape>")
    shapes = "\n".join(di)
    return (
        HEADER + before
        + f'  <bpmn:process {process} camunda:historyTimeToLive="180">\n'
        + body.rstrip("\n") + "\n  </bpmn:process>\n" + after
        + '  <bpmndi:BPMNDiagram id="BPMNDiagram_1">\n'
        + '    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="invoice">\n'
        + shapes + "\n    </bpmndi:BPMNPlane>\n  </bpmndi:BPMNDiagram>\n</bpmn:definitions>\n"
    )


def around(node: str, node_id: str) -> str:
    """start -> `node` (which must have incoming Flow_in and outgoing Flow_out) -> end."""
    return f"""    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_in</bpmn:outgoing>
    </bpmn:startEvent>
{node.rstrip()}
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>Flow_out</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_in" sourceRef="StartEvent_1" targetRef="{node_id}" />
    <bpmn:sequenceFlow id="Flow_out" sourceRef="{node_id}" targetRef="EndEvent_1" />
"""


def check(xml: str, filename: str = FILE, **kwargs) -> list[Problem]:
    return check_bpmn(parse_xml(xml.encode("utf-8"), filename), filename, **kwargs)


def line_of(xml: str, needle: str) -> int:
    for number, line in enumerate(xml.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the diagram")


def at(xml: str, element_id: str, element_type: str, message: str) -> Problem:
    """The Problem expected on the element with `element_id`, at its line."""
    return Problem(FILE, message, line=line_of(xml, f'id="{element_id}"'), element_id=element_id,
                   element_type=element_type)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


USER_TASK = """    <bpmn:userTask id="Task_1" name="Check invoice" camunda:candidateGroups="finance">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>"""


# --------------------------------------------------------------------------- clean diagrams

def test_permit40_benchmark_is_clean():
    data = PERMIT40.read_bytes()
    assert check_bpmn(parse_xml(data, "permit40.bpmn"), "permit40.bpmn") == []


def test_simple_diagram_is_clean():
    assert check(diagram(around(USER_TASK, "Task_1"))) == []


CLEAN_RICH = """    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="Task_review" name="Review" camunda:assignee="${initiator}" camunda:candidateUsers="alice, bob" \
camunda:candidateGroups="unit_${unit}" camunda:dueDate="${due}" camunda:followUpDate="P2D" camunda:priority="50">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="approved" label="Approved" type="boolean" />
        </camunda:formData>
        <camunda:inputOutput>
          <camunda:inputParameter name="applicant">${applicant}</camunda:inputParameter>
          <camunda:inputParameter name="greeting">Dear ${applicant}</camunda:inputParameter>
          <camunda:inputParameter name="fixed">plain text</camunda:inputParameter>
          <camunda:inputParameter name="items">
            <camunda:list>
              <camunda:value>${first}</camunda:value>
              <camunda:value>second</camunda:value>
            </camunda:list>
          </camunda:inputParameter>
          <camunda:outputParameter name="score">${applicant}</camunda:outputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${reviewers}" camunda:elementVariable="reviewer">
        <bpmn:completionCondition xsi:type="bpmn:tFormalExpression">${nrOfCompletedInstances &gt;= 2}</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="Timer_reminder" cancelActivity="false" attachedToRef="Task_review">
      <bpmn:outgoing>Flow_remind</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_1">
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R3/PT10M</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="Timer_deadline" attachedToRef="Task_review">
      <bpmn:outgoing>Flow_late</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_2">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1Y2M10DT2H30M</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:serviceTask id="Task_notify" name="Notify" camunda:type="external" camunda:topic="notify">
      <bpmn:incoming>Flow_remind</bpmn:incoming>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="Gateway_1" name="Approved?" default="Flow_no">
      <bpmn:incoming>Flow_2</bpmn:incoming>
      <bpmn:outgoing>Flow_yes</bpmn:outgoing>
      <bpmn:outgoing>Flow_no</bpmn:outgoing>
      <bpmn:outgoing>Flow_big</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:scriptTask id="Task_score" name="Score" scriptFormat="python" camunda:resultVariable="score">
      <bpmn:incoming>Flow_yes</bpmn:incoming>
      <bpmn:outgoing>Flow_3</bpmn:outgoing>
      <bpmn:script>score = amount * 2</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:callActivity id="Call_archive" name="Archive" calledElement="archive_${kind}">
      <bpmn:incoming>Flow_big</bpmn:incoming>
      <bpmn:outgoing>Flow_4</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">3</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:callActivity>
    <bpmn:subProcess id="Sub_1">
      <bpmn:incoming>Flow_no</bpmn:incoming>
      <bpmn:outgoing>Flow_5</bpmn:outgoing>
      <bpmn:startEvent id="Sub_start">
        <bpmn:outgoing>Flow_sub</bpmn:outgoing>
      </bpmn:startEvent>
      <bpmn:intermediateCatchEvent id="Sub_wait">
        <bpmn:incoming>Flow_sub</bpmn:incoming>
        <bpmn:outgoing>Flow_sub2</bpmn:outgoing>
        <bpmn:timerEventDefinition id="TimerEventDefinition_3">
          <bpmn:timeDate xsi:type="bpmn:tFormalExpression">2027-01-15T09:00:00+08:00</bpmn:timeDate>
        </bpmn:timerEventDefinition>
      </bpmn:intermediateCatchEvent>
      <bpmn:endEvent id="Sub_end">
        <bpmn:incoming>Flow_sub2</bpmn:incoming>
      </bpmn:endEvent>
      <bpmn:sequenceFlow id="Flow_sub" sourceRef="Sub_start" targetRef="Sub_wait" />
      <bpmn:sequenceFlow id="Flow_sub2" sourceRef="Sub_wait" targetRef="Sub_end" />
    </bpmn:subProcess>
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>Flow_3</bpmn:incoming>
      <bpmn:incoming>Flow_4</bpmn:incoming>
      <bpmn:incoming>Flow_5</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="EndEvent_late">
      <bpmn:incoming>Flow_late</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Task_review" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_review" targetRef="Gateway_1" />
    <bpmn:sequenceFlow id="Flow_yes" sourceRef="Gateway_1" targetRef="Task_score">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${approved &amp;&amp; amount &lt; 1000}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_big" sourceRef="Gateway_1" targetRef="Call_archive">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="python">amount &gt;= 1000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_no" sourceRef="Gateway_1" targetRef="Sub_1" />
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Task_score" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="Flow_4" sourceRef="Call_archive" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="Flow_5" sourceRef="Sub_1" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="Flow_remind" sourceRef="Timer_reminder" targetRef="Task_notify" />
    <bpmn:sequenceFlow id="Flow_late" sourceRef="Timer_deadline" targetRef="EndEvent_late" />
"""


def test_rich_diagram_is_clean():
    assert check(diagram(CLEAN_RICH)) == []


def timer_start(definition: str) -> str:
    return f"""    <bpmn:startEvent id="Start_timer">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_1">
{definition}
      </bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>Flow_1</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_timer" targetRef="EndEvent_1" />
"""


@pytest.mark.parametrize("definition", [
    '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">0 0 9 ? * MON-FRI</bpmn:timeCycle>',
    '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">0 0/30 8-17 ? * 2-6 2027</bpmn:timeCycle>',
    '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R/2027-06-01T00:00:00/P1Y</bpmn:timeCycle>',
    '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R5/2027-06-01T00:00:00Z/PT1H</bpmn:timeCycle>',
    '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">2027-01-15T09:00:00</bpmn:timeDate>',
    '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">2027-01-15T01:00:00Z</bpmn:timeDate>',
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P2W</bpmn:timeDuration>',
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">\n  PT5M\n</bpmn:timeDuration>',
])
def test_literal_timers_are_clean(definition):
    assert check(diagram(timer_start(definition))) == []


# --------------------------------------------------------------------------- processes and ids

def test_no_executable_process():
    xml = diagram(around(USER_TASK, "Task_1"), process='id="invoice" name="Invoice" isExecutable="false"')
    assert check(xml) == [at(xml, "invoice", "process", 'the process is not executable: isExecutable="false"')]
    xml = diagram(around(USER_TASK, "Task_1"), process='id="invoice" name="Invoice"')
    assert check(xml) == [at(xml, "invoice", "process", 'the process is not executable: it has no '
                             'isExecutable="true" (Camunda 7 treats a process without isExecutable as not executable)')]


def test_process_without_id():
    xml = diagram(around(USER_TASK, "Task_1"), process='name="Invoice" isExecutable="true"')
    assert check(xml) == [Problem(FILE, "process has no id", line=line_of(xml, "<bpmn:process "),
                                  element_type="process")]


def test_duplicate_ids():
    body = around(USER_TASK, "Task_1").replace('<bpmn:endEvent id="EndEvent_1">', '<bpmn:endEvent id="Task_1">')
    xml = diagram(body.replace('targetRef="EndEvent_1"', 'targetRef="Task_1"')
                  .replace("<bpmn:incoming>Flow_out</bpmn:incoming>\n    </bpmn:endEvent>",
                           "</bpmn:endEvent>"))
    problems = check(xml)
    end_line = line_of(xml, '<bpmn:endEvent id="Task_1">')
    first_line = line_of(xml, 'id="Task_1"')
    assert Problem(FILE, f"id 'Task_1' is used more than once (first on line {first_line})",
                   line=end_line, element_id="Task_1", element_type="endEvent") in problems
    # the bpmndi shapes of both get the same id too
    assert any(p.element_type == "BPMNShape" and "Task_1_di" in p.message for p in problems)


def test_extension_id_equal_to_a_bpmn_id_is_refused():
    task = USER_TASK.replace('camunda:candidateGroups="finance">', """camunda:candidateGroups="finance">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="EndEvent_1" label="End" type="string" />
        </camunda:formData>
      </bpmn:extensionElements>""")
    xml = diagram(around(task, "Task_1"))
    assert check(xml) == [at(xml, "Task_1", "userTask",
                             f"formField id 'EndEvent_1' is also the id of endEvent on line "
                             f"{line_of(xml, 'bpmn:endEvent id=')}; use another id")]


def test_form_fields_with_the_same_id_in_two_tasks_are_fine():
    form = """
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="comment" label="Comment" type="string" />
        </camunda:formData>
      </bpmn:extensionElements>"""
    body = f"""    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="Task_1">{form}
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="Task_2">{form}
      <bpmn:incoming>Flow_2</bpmn:incoming>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_1" targetRef="Task_2" />
"""
    assert check(diagram(body)) == []


def test_not_a_bpmn_file():
    problems = check_bpmn(parse_xml(b"<form>\n</form>", "x.bpmn"), "x.bpmn")
    assert problems == [Problem("x.bpmn", "not a BPMN file: the root element is 'form', expected bpmn:definitions",
                                line=1)]


# --------------------------------------------------------------------------- sequence flows

def test_sequence_flow_references():
    body = """    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="Task_1">
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:incoming>Flow_ghost</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:subProcess id="Sub_1">
      <bpmn:incoming>Flow_2</bpmn:incoming>
      <bpmn:startEvent id="Sub_start">
        <bpmn:outgoing>Flow_cross</bpmn:outgoing>
      </bpmn:startEvent>
      <bpmn:sequenceFlow id="Flow_cross" sourceRef="Sub_start" targetRef="EndEvent_1" />
    </bpmn:subProcess>
    <bpmn:endEvent id="EndEvent_1" />
    <bpmn:dataObjectReference id="DataObjectReference_1" dataObjectRef="DataObject_1" />
    <bpmn:dataObject id="DataObject_1" />
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_1" targetRef="Sub_1" />
    <bpmn:sequenceFlow sourceRef="Task_1" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="Flow_nosource" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="Flow_missing" sourceRef="Task_1" targetRef="Task_404" />
    <bpmn:sequenceFlow id="Flow_data" sourceRef="Task_1" targetRef="DataObjectReference_1" />
"""
    xml = diagram(body)
    flow = lambda needle: line_of(xml, needle)  # noqa: E731
    assert check(xml) == [
        at(xml, "Task_1", "userTask", "incoming flow 'Flow_ghost' does not exist"),
        at(xml, "Task_1", "userTask", "outgoing flow 'Flow_1' starts at 'StartEvent_1', not here"),
        at(xml, "Flow_cross", "sequenceFlow",
           "sequence flow 'Flow_cross': targetRef 'EndEvent_1' is not in the same process/subprocess"),
        Problem(FILE, "sequence flow has no id", line=flow('<bpmn:sequenceFlow sourceRef="Task_1"'),
                element_type="sequenceFlow"),
        at(xml, "Flow_nosource", "sequenceFlow", "sequence flow 'Flow_nosource' has no sourceRef"),
        at(xml, "Flow_missing", "sequenceFlow", "sequence flow 'Flow_missing': targetRef 'Task_404' does not exist"),
        at(xml, "Flow_data", "sequenceFlow",
           "sequence flow 'Flow_data': targetRef 'DataObjectReference_1' is a dataObjectReference, not a flow node"),
    ]


def test_default_flow_and_boundary_attachment():
    body = """    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:exclusiveGateway id="Gateway_1" default="Flow_elsewhere">
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>Flow_2</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:boundaryEvent id="Boundary_1" attachedToRef="EndEvent_1">
      <bpmn:timerEventDefinition id="TimerEventDefinition_1">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1H</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Gateway_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Gateway_1" targetRef="EndEvent_1" />
"""
    xml = diagram(body)
    assert check(xml) == [
        at(xml, "Gateway_1", "exclusiveGateway", "default flow 'Flow_elsewhere' does not exist"),
        at(xml, "Boundary_1", "boundaryEvent", "attachedToRef 'EndEvent_1' is an endEvent, not an activity"),
    ]


# --------------------------------------------------------------------------- conditions

def gateway_with(condition: str) -> str:
    return f"""    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:exclusiveGateway id="Gateway_1" name="Amount?" default="Flow_2">
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_3</bpmn:outgoing>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>Flow_2</bpmn:incoming>
      <bpmn:incoming>Flow_3</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Gateway_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Gateway_1" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Gateway_1" targetRef="EndEvent_1">
      {condition}
    </bpmn:sequenceFlow>
"""


def test_condition_that_does_not_parse_names_the_gateway_and_the_flow():
    xml = diagram(gateway_with(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${amount &gt;= }</bpmn:conditionExpression>'))
    problem = only(check(xml))
    with pytest.raises(ExpressionError) as info:
        compile_expression("${amount >= }")
    assert problem == at(xml, "Gateway_1", "exclusiveGateway",
                         f"condition on flow 'Flow_3' does not parse: {info.value}")
    line = line_of(xml, 'id="Gateway_1"')
    assert str(problem).startswith(
        f"invoice.bpmn:{line} element 'Gateway_1' (exclusiveGateway): condition on flow 'Flow_3' does not parse: ")


def test_python_condition_that_does_not_parse():
    xml = diagram(gateway_with(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="python">amount &gt;</bpmn:conditionExpression>'))
    problem = only(check(xml))
    assert problem.message.startswith("condition on flow 'Flow_3' does not parse: ")
    assert (problem.element_id, problem.line) == ("Gateway_1", line_of(xml, 'id="Gateway_1"'))


def test_condition_in_another_language():
    xml = diagram(gateway_with(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="ruby">amount &gt; 5</bpmn:conditionExpression>'))
    assert check(xml) == [at(xml, "Gateway_1", "exclusiveGateway",
                             "condition on flow 'Flow_3' has language 'ruby'; "
                             "only python or juel conditions are supported")]


def test_with_javascript_refused_a_javascript_condition_is_refused_once(monkeypatch):
    monkeypatch.setattr("engine.foreign._script_policy", "refuse")
    xml = diagram(gateway_with(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="javascript">amount &gt; 5</bpmn:conditionExpression>'))
    _root, warnings, problems = adapted(xml)
    assert (warnings, problems) == ([], [at(xml, "Gateway_1", "exclusiveGateway", "condition on flow 'Flow_3' has "
                                           "language 'javascript'; only python or juel conditions are supported")])


def test_a_javascript_condition_becomes_an_incident_before_its_gateway():
    xml = diagram(gateway_with(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="javascript">amount &gt; 5</bpmn:conditionExpression>'))
    root, warnings, problems = adapted(xml)
    assert problems == []
    assert warnings == [at(xml, "Gateway_1", "exclusiveGateway", "conditions in javascript on 'Flow_3': when reached "
                           "they become an incident (an administrator completes it with 'take_Flow_3' (true to take "
                           "flow 'Flow_3'))")]
    condition = element(root, "Flow_3").find(f"{BPMN}conditionExpression")
    assert (condition.text, condition.get("language")) == ("${take_Flow_3 == true}", None)
    decide = element(root, "Gateway_1__javascript_conditions")
    assert (decide.get(f"{CAMUNDA}topic"), decide.findtext(f"{BPMN}outgoing")) == (
        "script:javascript", "Gateway_1__javascript_conditions__flow")
    assert element(root, "Gateway_1__javascript_conditions__flow").get("targetRef") == "Gateway_1"


def test_empty_and_external_conditions():
    xml = diagram(gateway_with('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">  </bpmn:conditionExpression>'))
    assert check(xml) == [at(xml, "Gateway_1", "exclusiveGateway", "condition on flow 'Flow_3' is empty")]
    xml = diagram(gateway_with(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="python" camunda:resource="cond.py" />'))
    assert check(xml) == [at(xml, "Gateway_1", "exclusiveGateway",
                             "condition on flow 'Flow_3' uses an external script (camunda:resource), "
                             "which is not supported")]


def test_condition_on_a_flow_from_a_task_names_the_task():
    body = around(USER_TASK, "Task_1").replace(
        '<bpmn:sequenceFlow id="Flow_out" sourceRef="Task_1" targetRef="EndEvent_1" />',
        '<bpmn:sequenceFlow id="Flow_out" sourceRef="Task_1" targetRef="EndEvent_1">\n'
        '      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${approved ==}</bpmn:conditionExpression>\n'
        "    </bpmn:sequenceFlow>")
    xml = diagram(body)
    problem = only(check(xml))
    assert (problem.element_id, problem.element_type, problem.line) == ("Task_1", "userTask", line_of(xml, 'id="Task_1"'))
    assert problem.message.startswith("condition on flow 'Flow_out' does not parse: ")


# --------------------------------------------------------------------------- timers

@pytest.mark.parametrize("definition, message", [
    ('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT5X</bpmn:timeDuration>',
     "timer timeDuration is not valid: 'PT5X' is not a valid duration; expected an ISO-8601 duration "
     "such as PT5M, P2W, P1M or P1Y2M10DT2H30M"),
    ('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">0 0 9 ? * MON-FRI</bpmn:timeDuration>',
     "timer timeDuration is not valid: '0 0 9 ? * MON-FRI' is not a valid duration; expected an ISO-8601 "
     "duration such as PT5M, P2W, P1M or P1Y2M10DT2H30M"),
    ('<bpmn:timeDate xsi:type="bpmn:tFormalExpression">2027-02-30T09:00:00</bpmn:timeDate>',
     "timer timeDate is not valid: '2027-02-30T09:00:00' is not a valid date-time: day is out of range for month"),
    ('<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">0 0 9 * * MON-FRI</bpmn:timeCycle>',
     "timer timeCycle is not valid: cron '0 0 9 * * MON-FRI': exactly one of day-of-month and day-of-week "
     "must be '?' (specifying both, or neither, is not supported)"),
    ('<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R0/PT10M</bpmn:timeCycle>',
     "timer timeCycle is not valid: 'R0/PT10M': repetition count must be at least 1"),
    ('<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">PT10M</bpmn:timeCycle>',
     "timer timeCycle is not valid: 'PT10M' is not a valid cycle; expected a repeating interval such as "
     "R3/PT10M, R/2027-06-01T00:00:00/P1Y, or a Quartz cron expression such as '0 0 9 ? * MON-FRI'"),
    ('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression" />',
     "timer has no time: timeDuration, timeDate or timeCycle is missing or empty"),
    ("",
     "timer has no time: timeDuration, timeDate or timeCycle is missing or empty"),
])
def test_bad_literal_timers(definition, message):
    xml = diagram(timer_start(definition))
    assert check(xml) == [at(xml, "Start_timer", "startEvent", message)]


def test_timer_with_two_times():
    xml = diagram(timer_start(
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT5M</bpmn:timeDuration>\n'
        '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">2027-01-15T09:00:00</bpmn:timeDate>'))
    assert check(xml) == [at(xml, "Start_timer", "startEvent",
                             "timer has more than one time (timeDuration, timeDate); keep one")]


def test_timer_expressions_are_compiled_as_templates():
    xml = diagram(timer_start('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">${wait}</bpmn:timeDuration>'))
    assert check(xml) == []
    xml = diagram(timer_start('<bpmn:timeDate xsi:type="bpmn:tFormalExpression">#{due</bpmn:timeDate>'))
    problem = only(check(xml))
    assert problem.message.startswith("timer timeDate does not parse: ")
    assert (problem.element_id, problem.element_type, problem.line) == (
        "Start_timer", "startEvent", line_of(xml, 'id="Start_timer"'))


def test_timer_on_a_boundary_event_names_the_boundary_event():
    task = USER_TASK
    body = around(task, "Task_1").replace("    <bpmn:endEvent", """    <bpmn:boundaryEvent id="Boundary_late" attachedToRef="Task_1">
      <bpmn:outgoing>Flow_late</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_1">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">5 minutes</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="EndEvent_late">
      <bpmn:incoming>Flow_late</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_late" sourceRef="Boundary_late" targetRef="EndEvent_late" />
    <bpmn:endEvent""", 1)
    xml = diagram(body)
    problem = only(check(xml))
    assert problem == at(xml, "Boundary_late", "boundaryEvent", problem.message)
    assert problem.message.startswith("timer timeDuration is not valid: '5 minutes' is not a valid duration")


# --------------------------------------------------------------------------- camunda attributes

@pytest.mark.parametrize("attributes, label", [
    ('camunda:assignee="${initiator"', "camunda:assignee"),
    ('camunda:candidateUsers="${users +}"', "camunda:candidateUsers"),
    ('camunda:candidateGroups="unit_${unit +}"', "camunda:candidateGroups"),
    ('camunda:dueDate="${due +}"', "camunda:dueDate"),
    ('camunda:followUpDate="${follow +}"', "camunda:followUpDate"),
    ('camunda:priority="${prio +}"', "camunda:priority"),
])
def test_user_task_expressions_that_do_not_parse(attributes, label):
    xml = diagram(around(f"""    <bpmn:userTask id="Task_1" name="Check" {attributes}>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>""", "Task_1"))
    problem = only(check(xml))
    assert problem.message.startswith(f"{label} does not parse: ")
    assert (problem.file, problem.line, problem.element_id, problem.element_type) == (
        FILE, line_of(xml, 'id="Task_1"'), "Task_1", "userTask")


@pytest.mark.parametrize("attributes, message", [
    ('camunda:priority="high"', "camunda:priority is not valid: 'high' is not a whole number"),
    ('camunda:dueDate="next week"',
     "camunda:dueDate is not valid: 'next week' is not a valid date-time; expected an ISO-8601 date-time "
     "such as 2027-01-15T09:00:00, 2027-01-15T09:00:00+08:00 or 2027-01-15T01:00:00Z"),
    ('camunda:followUpDate="P3X"',
     "camunda:followUpDate is not valid: 'P3X' is not a valid duration; expected an ISO-8601 duration "
     "such as PT5M, P2W, P1M or P1Y2M10DT2H30M"),
])
def test_user_task_literals(attributes, message):
    xml = diagram(around(f"""    <bpmn:userTask id="Task_1" name="Check" {attributes}>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>""", "Task_1"))
    assert check(xml) == [at(xml, "Task_1", "userTask", message)]


def test_user_task_literal_dates_are_fine():
    xml = diagram(around("""    <bpmn:userTask id="Task_1" camunda:dueDate="2027-01-15T09:00:00" camunda:followUpDate="P2D" camunda:priority="-5">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>""", "Task_1"))
    assert check(xml) == []


def test_call_activity_needs_called_element():
    xml = diagram(around("""    <bpmn:callActivity id="Call_1" name="Archive">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:callActivity>""", "Call_1"))
    assert check(xml) == [at(xml, "Call_1", "callActivity", "calledElement is missing")]


def test_call_activity_called_element_template():
    xml = diagram(around("""    <bpmn:callActivity id="Call_1" calledElement="archive_${kind">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:callActivity>""", "Call_1"))
    problem = only(check(xml))
    assert problem.message.startswith("calledElement does not parse: ")
    assert problem.element_id == "Call_1"


def test_multi_instance_expressions():
    xml = diagram(around("""    <bpmn:userTask id="Task_1" name="Review">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${reviewers +}" camunda:elementVariable="reviewer">
        <bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">${count *}</bpmn:loopCardinality>
        <bpmn:completionCondition xsi:type="bpmn:tFormalExpression">${nrOfCompletedInstances &gt;=}</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>""", "Task_1"))
    problems = check(xml)
    assert [p.message.split(" does not parse: ")[0] for p in problems] == [
        "camunda:collection", "completionCondition", "loopCardinality"]
    assert {(p.element_id, p.element_type, p.line) for p in problems} == {
        ("Task_1", "userTask", line_of(xml, 'id="Task_1"'))}


def test_multi_instance_literal_cardinality():
    xml = diagram(around("""    <bpmn:userTask id="Task_1" name="Review">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">three</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>""", "Task_1"))
    assert check(xml) == [at(xml, "Task_1", "userTask",
                             "loopCardinality is not valid: 'three' is not a whole number of 0 or more")]


def test_input_output_parameters():
    xml = diagram(around("""    <bpmn:userTask id="Task_1" name="Review">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:inputParameter name="amount">${amount *}</camunda:inputParameter>
          <camunda:inputParameter name="items">
            <camunda:list>
              <camunda:value>${first</camunda:value>
            </camunda:list>
          </camunda:inputParameter>
          <camunda:inputParameter name="plain">no ${ here? </camunda:inputParameter>
          <camunda:outputParameter name="ok">${amount}</camunda:outputParameter>
          <camunda:outputParameter>${amount}</camunda:outputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>""", "Task_1"))
    problems = check(xml)
    messages = [p.message.split(": ")[0] for p in problems]
    assert messages == [
        "input parameter 'amount' does not parse",
        "input parameter 'items' does not parse",
        "input parameter 'plain' does not parse",
        "output parameter has no name",
    ]
    assert {(p.element_id, p.line) for p in problems} == {("Task_1", line_of(xml, 'id="Task_1"'))}


# --------------------------------------------------------------------------- scripts

def script_task(attributes: str, script: str = "<bpmn:script>x = 1</bpmn:script>") -> str:
    return around(f"""    <bpmn:scriptTask id="Script_1" name="Compute" {attributes}>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
      {script}
    </bpmn:scriptTask>""", "Script_1")


@pytest.mark.parametrize("attributes", ['scriptFormat="python"', 'scriptFormat="Python"', ""])
def test_python_script_is_fine(attributes):
    assert check(diagram(script_task(attributes))) == []


@pytest.mark.parametrize("script_format", ["javascript", "groovy", "JavaScript"])
def test_other_script_formats_are_refused(script_format):
    xml = diagram(script_task(f'scriptFormat="{script_format}"'))
    assert check(xml) == [at(xml, "Script_1", "scriptTask",
                             f"script format '{script_format}' is not supported; only python")]


def test_empty_script_is_refused():
    for script in ("<bpmn:script>  \n </bpmn:script>", "<bpmn:script />", ""):
        xml = diagram(script_task('scriptFormat="python"', script))
        assert check(xml) == [at(xml, "Script_1", "scriptTask", "script is empty")]


def test_external_script_is_refused():
    xml = diagram(script_task('scriptFormat="python" camunda:resource="deployment://score.py"', ""))
    assert check(xml) == [at(xml, "Script_1", "scriptTask",
                             "external script (camunda:resource 'deployment://score.py') is not supported; "
                             "put the script in the diagram")]


def test_python_in_listeners_and_parameters_is_checked_at_deploy():
    """Python runs in listeners and parameters (engine/foreign.py, engine/specs.py); what cannot run
    is refused naming the listener or parameter; another language in a parameter is not run."""
    process_listener = """    <bpmn:extensionElements>
      <camunda:executionListener event="end">
        <camunda:script scriptFormat="python">closed = True</camunda:script>
      </camunda:executionListener>
    </bpmn:extensionElements>
"""
    xml = diagram(process_listener + around("""    <bpmn:userTask id="Task_1" name="Review">
      <bpmn:extensionElements>
        <camunda:taskListener event="assignment">
          <camunda:script scriptFormat="python">who = "x"</camunda:script>
        </camunda:taskListener>
        <camunda:taskListener event="create">
          <camunda:script scriptFormat="python">import os</camunda:script>
        </camunda:taskListener>
        <camunda:executionListener event="end">
          <camunda:script scriptFormat="python" resource="end.py" />
        </camunda:executionListener>
        <camunda:inputOutput>
          <camunda:inputParameter name="total">
            <camunda:script scriptFormat="python"></camunda:script>
          </camunda:inputParameter>
          <camunda:inputParameter name="half">
            <camunda:script scriptFormat="python">half = amount / 2</camunda:script>
          </camunda:inputParameter>
          <camunda:outputParameter name="shown">
            <camunda:script scriptFormat="javascript">amount + 1</camunda:script>
          </camunda:outputParameter>
          <camunda:outputParameter name="kept">
            <camunda:script scriptFormat="ruby">amount + 1</camunda:script>
          </camunda:outputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>""", "Task_1"))
    root, warnings, problems = adapted(xml)
    assert warnings == [at(xml, "Task_1", "userTask", "output parameter 'shown' in javascript: when reached it "
                                                      "becomes an incident (an administrator completes it with the "
                                                      "variable 'shown')")]
    after = element(root, "Task_1__output_shown_javascript")  # the JavaScript: an incident after the task
    assert (after.get(f"{CAMUNDA}type"), after.get(f"{CAMUNDA}topic")) == ("external", "script:javascript")
    closing = element(root, "EndEvent_1__end_python_listener")  # the process's end: before its end event
    assert (closing.findtext(f"{BPMN}script"), closing.findtext(f"{BPMN}outgoing")) == (
        "closed = True", "EndEvent_1__end_python_listener__flow")
    assert problems == [
        at(xml, "Task_1", "userTask", "the Python assignment task listener cannot run: listeners run on an "
                                      "element's start and end, a flow's take, a task's create and complete, the "
                                      "process's start and end; to assign a task in Python, use a create listener "
                                      "(task.setAssignee(…))"),
        at(xml, "Task_1", "userTask", "the Python create task listener: script does not compile: 'Import' "
                                      "statement is not allowed in a script at line 1, column 1"),
        at(xml, "Task_1", "userTask", "the Python end execution listener: external script (resource 'end.py') "
                                      "is not supported; put the script in the diagram"),
        at(xml, "Task_1", "userTask", "inputParameter 'total': Python script does not compile: empty script"),
        at(xml, "Task_1", "userTask", "inputParameter 'half': Python script does not compile: the script's last "
                                      "line must be an expression: its value is the parameter's at line 1, "
                                      "column 1"),
        at(xml, "Task_1", "userTask", "a ruby script in an output parameter is not run by the engine; "
                                      "write it in Python or FEEL (or use a ${...} expression)"),
    ]


def _listener_task(event: str, script: str, *, kind: str = "taskListener", inside: str = "") -> str:
    return diagram(around(f"""    <bpmn:userTask id="Task_1" name="Review" camunda:candidateGroups="office">
      <bpmn:extensionElements>
        <camunda:{kind} event="{event}">
          <camunda:script scriptFormat="python">{script}</camunda:script>
        </camunda:{kind}>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>{inside}
    </bpmn:userTask>""", "Task_1"))


def test_a_python_create_listener_may_change_its_task():
    xml = _listener_task("create", 'task.setAssignee(task.getAssignee() or "demo")\n'
                                   'task.addCandidateGroups(["finance"])\ntask.setPriority(task.getPriority() + 1)\n'
                                   'task.getExecution().setVariable("key", task.getTaskDefinitionKey())')
    root, warnings, problems = adapted(xml)
    assert (warnings, problems) == ([], [])
    assert element(root, "Task_1__create_python_listener").findtext(f"{BPMN}script").startswith(
        'task.setAssignee(task.getAssignee() or "demo")')


@pytest.mark.parametrize("event, kind, script, message", [
    ("complete", "taskListener", 'task.setAssignee("demo")',
     "the Python complete task listener: script does not compile: task.setAssignee() works in a user task's "
     "create listener only at line 1, column 1"),
    ("end", "executionListener", "level = task.getPriority()",
     "the Python end execution listener: script does not compile: task.getPriority() works in a user task's "
     "create listener only at line 1, column 9"),
    ("create", "taskListener", "who = task.getId()",
     "the Python create task listener: script does not compile: task.getId() cannot be used in a Python task "
     "listener: the task gets its id when it is created, after its create listeners at line 1, column 7"),
    ("create", "taskListener", 'task.setOwner("demo")',
     "the Python create task listener: script does not compile: task.setOwner() is not supported in a Python task "
     "listener (supported: addCandidateGroup(), addCandidateGroups(), addCandidateUser(), addCandidateUsers(), "
     "deleteCandidateGroup(), deleteCandidateUser(), getAssignee(), getDescription(), getDueDate(), getExecution(), "
     "getFollowUpDate(), getName(), getPriority(), getTaskDefinitionKey(), getVariable(), setAssignee(), "
     "setDescription(), setDueDate(), setFollowUpDate(), setName(), setPriority(), setVariable()) at line 1, "
     "column 1"),
    ("create", "taskListener", 'who = task.setAssignee("demo")',
     "the Python create task listener: script does not compile: task.setAssignee() changes the task: call it as "
     "a statement at line 1, column 7"),
])
def test_what_a_python_listener_cannot_do_to_its_task_is_refused_naming_the_method(event, kind, script, message):
    xml = _listener_task(event, script, kind=kind)
    _root, _warnings, problems = adapted(xml)
    assert problems == [at(xml, "Task_1", "userTask", message)]


def test_a_create_listener_cannot_assign_the_instances_of_a_multi_instance_task():
    xml = _listener_task("create", 'task.setAssignee("demo")', inside="""
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${people}" camunda:elementVariable="person" />""")
    _root, _warnings, problems = adapted(xml)
    assert problems == [at(xml, "Task_1", "userTask", "the Python create task listener: task.setAssignee() cannot "
                                                      "be used on a multi-instance task: the listener runs once "
                                                      "before all its instances; give each instance its assignee "
                                                      "with camunda:assignee and the element variable")]


def test_a_script_task_cannot_change_a_task():
    xml = diagram(script_task('scriptFormat="python"', '<bpmn:script>task.setAssignee("demo")</bpmn:script>'))
    assert check(xml) == [at(xml, "Script_1", "scriptTask", "script does not compile: task.setAssignee() "
                                                            "works in a user task's create listener only at line 1, "
                                                            "column 1")]


# --------------------------------------------------------------------------- Java

JAVA_HINT = 'use camunda:type="external" with a topic'


def adapted(xml: str) -> tuple[object, list[Problem], list[Problem]]:
    """As a deployment reads a file: engine.foreign rewrites what needs the JVM, then the checks run.
    Returns the rewritten root, the warnings and the problems."""
    root = parse_xml(xml.encode("utf-8"), FILE).getroot()
    warnings, problems = adapt(root, FILE)
    return root, warnings, problems + check_bpmn(root, FILE)


def element(root, element_id: str):
    [found] = root.xpath("//*[@id=$id]", id=element_id)
    return found


CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


@pytest.mark.parametrize("kind", ["serviceTask", "sendTask", "businessRuleTask"])
@pytest.mark.parametrize("attribute, value", [
    ("class", "org.example.SendMail"),
    ("delegateExpression", "${mailer}"),
    ("expression", "${mailer.send(execution)}"),
])
def test_java_implementations_deploy_as_external_tasks_with_a_warning(kind, attribute, value):
    xml = diagram(around(f"""    <bpmn:{kind} id="Task_java" name="Send" camunda:{attribute}="{value}">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:{kind}>""", "Task_java"))
    root, warnings, problems = adapted(xml)
    assert problems == []
    assert warnings == [at(xml, "Task_java", kind, f"needs Java (camunda:{attribute} '{value}'): when reached it "
                           f"becomes an external task of topic 'java:{value}' for a Python worker (or an "
                           "administrator completes it)")]
    task = element(root, "Task_java")
    assert (task.tag.split("}")[1], task.get(CAMUNDA + "type"), task.get(CAMUNDA + "topic")) == (
        "serviceTask", "external", f"java:{value}")


def test_a_connector_becomes_an_external_task():
    xml = diagram(around("""    <bpmn:serviceTask id="Task_http" name="Call">
      <bpmn:extensionElements>
        <camunda:connector>
          <camunda:connectorId>http-connector</camunda:connectorId>
        </camunda:connector>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:serviceTask>""", "Task_http"))
    root, warnings, problems = adapted(xml)
    assert problems == [] and [w.element_id for w in warnings] == ["Task_http"]
    assert element(root, "Task_http").get(CAMUNDA + "topic") == "java:connector:http-connector"


@pytest.mark.parametrize("attributes, message", [
    ('camunda:type="external"', 'camunda:type="external" needs a non-empty camunda:topic'),
    ('camunda:type="external" camunda:topic=" "', 'camunda:type="external" needs a non-empty camunda:topic'),
    ('camunda:type="soap"', f"camunda:type 'soap' is not supported; {JAVA_HINT}"),
])
def test_external_tasks_need_a_topic(attributes, message):
    xml = diagram(around(f"""    <bpmn:serviceTask id="Task_ext" {attributes}>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:serviceTask>""", "Task_ext"))
    assert check(xml) == [at(xml, "Task_ext", "serviceTask", message)]


def test_a_message_end_event_with_java_becomes_an_external_task_then_the_end():
    body = """    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:endEvent id="End_message">
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:messageEventDefinition id="MessageEventDefinition_1" camunda:class="org.example.Notify" />
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="End_message" />
"""
    xml = diagram(body)
    root, warnings, problems = adapted(xml)
    assert problems == []
    assert warnings == [at(xml, "End_message", "endEvent", "message end event needs Java (camunda:class "
                           "'org.example.Notify'): when reached it becomes an external task of topic "
                           "'java:org.example.Notify' for a Python worker (or an administrator completes it)")]
    assert element(root, "End_message").get(CAMUNDA + "topic") == "java:org.example.Notify"
    assert element(root, "End_message__end").tag.endswith("endEvent")


def test_java_listeners_become_external_tasks_where_they_run():
    task = """    <bpmn:userTask id="Task_1" name="Review">
      <bpmn:extensionElements>
        <camunda:executionListener class="org.example.Audit" event="start" />
        <camunda:taskListener delegateExpression="${notifier}" event="create" />
        <camunda:taskListener class="org.example.Mail" event="assignment" />
        <camunda:executionListener event="end">
          <camunda:script scriptFormat="python">done = True</camunda:script>
        </camunda:executionListener>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>"""
    process_listener = """    <bpmn:extensionElements>
      <camunda:executionListener class="org.example.ProcessAudit" event="start" />
    </bpmn:extensionElements>
"""
    xml = diagram(process_listener + around(task, "Task_1"))
    root, warnings, problems = adapted(xml)
    assert problems == []  # the Python listener runs: a script task after the user task
    python = element(root, "Task_1__end_python_listener")
    assert (python.tag, python.get("scriptFormat")) == (f"{BPMN}scriptTask", "python")
    assert python.findtext(f"{BPMN}script") == "done = True"
    worker = "for a Python worker (or an administrator completes it)"
    assert warnings == [
        Problem(FILE, "start execution listener needs Java (class 'org.example.ProcessAudit'): when reached it "
                      f"becomes an external task of topic 'java:org.example.ProcessAudit' {worker}",
                line=line_of(xml, "<bpmn:process "), element_id="invoice", element_type="process"),
        at(xml, "Task_1", "userTask", "start execution listener needs Java (class 'org.example.Audit'): when reached "
                                      f"it becomes an external task of topic 'java:org.example.Audit' {worker}"),
        at(xml, "Task_1", "userTask", "create task listener needs Java (delegateExpression '${notifier}'): when "
                                      f"reached it becomes an external task of topic 'java:${{notifier}}' {worker}"),
        at(xml, "Task_1", "userTask", "assignment task listener needs Java (class 'org.example.Mail'): skipped "
                                      "(listeners run on an element's start and end, a flow's take, a task's create "
                                      "and complete, the process's start and end)"),
    ]
    topics = {e.get("id"): e.get(f"{CAMUNDA}topic") for e in root.iter(f"{BPMN}serviceTask")}
    assert topics == {"StartEvent_1__start_java_listener": "java:org.example.ProcessAudit",
                      "Task_1__start_java_listener": "java:org.example.Audit",
                      "Task_1__create_java_listener": "java:${notifier}"}
    # in the order Camunda runs them: the process's start, the task's start, its create, the task
    flow = [element(root, "StartEvent_1")]
    while flow[-1].findtext(f"{BPMN}outgoing"):
        [step] = root.xpath("//*[@id=$id]", id=element(root, flow[-1].findtext(f"{BPMN}outgoing")).get("targetRef"))
        flow.append(step)
    assert [e.get("id") for e in flow] == ["StartEvent_1", "StartEvent_1__start_java_listener",
                                          "Task_1__start_java_listener", "Task_1__create_java_listener", "Task_1",
                                          "Task_1__end_python_listener", "EndEvent_1"]


def test_a_business_rule_task_needs_a_decision_or_an_implementation():
    xml = diagram(around("""    <bpmn:businessRuleTask id="Task_rules" name="Decide">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:businessRuleTask>""", "Task_rules"))
    assert check(xml) == [at(xml, "Task_rules", "businessRuleTask", "a business rule task needs camunda:decisionRef "
                             "(a DMN decision) or an implementation (camunda:class, delegateExpression, expression, "
                             'or camunda:type="external")')]


# --------------------------------------------------------------------------- data stores, unsupported

def test_data_stores_are_documentation():
    body = around(USER_TASK, "Task_1") + """    <bpmn:dataStoreReference id="DataStoreReference_1" name="Archive" />
    <bpmn:dataStoreReference id="DataStoreReference_2" dataStoreRef="DataStore_ledger" />
"""
    xml = diagram(body, after='  <bpmn:dataStore id="DataStore_ledger" name="ledger" />\n')
    root, warnings, problems = adapted(xml)
    assert (warnings, problems) == ([], [])
    assert not root.xpath("//*[local-name()='dataStoreReference' or local-name()='dataStore']")


def test_unsupported_elements():
    body = """    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:complexGateway id="Gateway_complex">
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:complexGateway>
    <bpmn:transaction id="Transaction_1">
      <bpmn:incoming>Flow_2</bpmn:incoming>
    </bpmn:transaction>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Gateway_complex" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Gateway_complex" targetRef="Transaction_1" />
"""
    xml = diagram(body, before='  <bpmn:collaboration id="Collaboration_1">\n'
                               '    <bpmn:participant id="Participant_1" processRef="invoice" />\n'
                               '    <bpmn:conversation id="Conversation_1" />\n'
                               '  </bpmn:collaboration>\n')
    assert check(xml) == [
        at(xml, "Conversation_1", "conversation", "element not supported: Camunda 7 does not run it either"),
        at(xml, "Gateway_complex", "complexGateway", "element not supported: Camunda 7 does not run it either"),
        at(xml, "Transaction_1", "transaction", "transaction subprocesses are not supported (their cancel events "
                                                "need compensation, which the engine does not run): use an embedded "
                                                "subprocess with an error end event and an error boundary event"),
    ]


# --------------------------------------------------------------------------- all at once

def test_every_problem_is_reported_in_line_order():
    body = """    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_1">
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">every day</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:scriptTask id="Script_1" scriptFormat="javascript">
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
      <bpmn:script>x = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:serviceTask id="Service_1" camunda:class="org.example.Mail">
      <bpmn:incoming>Flow_2</bpmn:incoming>
      <bpmn:outgoing>Flow_3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="EndEvent_1" />
    <bpmn:task name="no id" />
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Script_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Script_1" targetRef="Service_1" />
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Service_1" targetRef="EndEvent_2" />
"""
    xml = diagram(body)
    problems = check(xml)
    assert [(p.line, p.element_id) for p in problems] == [
        (line_of(xml, 'id="StartEvent_1"'), "StartEvent_1"),
        (line_of(xml, 'id="Script_1"'), "Script_1"),
        (line_of(xml, 'id="Service_1"'), "Service_1"),
        (line_of(xml, 'name="no id"'), None),
        (line_of(xml, 'id="Flow_3"'), "Flow_3"),
    ]
    assert all(p.file == FILE for p in problems)
    assert problems[1].message == "script format 'javascript' is not supported; only python"
    assert problems[2].message == f"needs Java (camunda:class); {JAVA_HINT}"
    assert problems[3].message == "task has no id"
    assert problems[4].message == "sequence flow 'Flow_3': targetRef 'EndEvent_2' does not exist"


JS_TASK = """    <bpmn:scriptTask id="Task_js" scriptFormat="javascript">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
      <bpmn:script>execution.setVariable("x", 1);</bpmn:script>
    </bpmn:scriptTask>"""


def test_a_javascript_script_becomes_an_incident_unless_the_setting_refuses_it(monkeypatch):
    from engine import foreign
    from engine.config import ConfigurationError, Settings

    xml = diagram(around(JS_TASK, "Task_js"))
    root, warnings, problems = adapted(xml)
    assert problems == [] and [w.element_id for w in warnings] == ["Task_js"]
    task = element(root, "Task_js")
    assert (task.get(CAMUNDA + "topic"), task.get(foreign.INCIDENT_ATTRIBUTE).startswith("script task 'Task_js'")) == (
        "script:javascript", True)
    monkeypatch.setattr(foreign, "_script_policy", "refuse")
    _, warnings, problems = adapted(xml)
    assert warnings == [] and problems[0] == at(xml, "Task_js", "scriptTask", "a javascript script cannot run here "
                                                "and dalad.scripts.javascript=refuse refuses such diagrams; write it "
                                                "in Python")
    assert Settings.from_env({"DALAD_HISTORY_KEY": "k" * 16, "DALAD_SECRET_KEY": "s",
                              "DALAD_SCRIPTS_JAVASCRIPT": "refuse"}).scripts_javascript == "refuse"
    with pytest.raises(ConfigurationError, match="DALAD_SCRIPTS_JAVASCRIPT"):
        Settings.from_env({"DALAD_HISTORY_KEY": "k" * 16, "DALAD_SECRET_KEY": "s", "DALAD_SCRIPTS_JAVASCRIPT": "run"})


def test_feel_parameters_are_checked_at_deploy():
    xml = diagram(around("""    <bpmn:userTask id="Task_1">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:outputParameter name="size"><camunda:script scriptFormat="feel">if amount &gt; 10 then "big" else "small"</camunda:script></camunda:outputParameter>
          <camunda:outputParameter name="broken"><camunda:script scriptFormat="feel">amount &gt;</camunda:script></camunda:outputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>""", "Task_1"))
    [problem] = check(xml)
    assert (problem.element_id, problem.message.startswith("outputParameter 'broken': FEEL does not parse")) == (
        "Task_1", True)


def test_script_listeners_get_a_step_of_their_own_where_they_run():
    """A JavaScript listener runs before (start) or after (end) its element, or on its flow (take):
    the rewired diagram passes every structural check."""
    listener = '<camunda:executionListener event="{event}"><camunda:script scriptFormat="javascript">x = 1;' \
               '</camunda:script></camunda:executionListener>'
    body = f"""    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_in</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="Task_1">
      <bpmn:extensionElements>{listener.format(event="start")}{listener.format(event="end")}</bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>Flow_out</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_in" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="Flow_out" sourceRef="Task_1" targetRef="EndEvent_1">
      <bpmn:extensionElements>{listener.format(event="take")}</bpmn:extensionElements>
    </bpmn:sequenceFlow>
"""
    xml = diagram(body)
    root, warnings, problems = adapted(xml)
    assert problems == []
    assert [w.element_id for w in warnings] == ["Task_1", "Task_1", "Flow_out"]

    def successor(element_id):
        [flow] = root.xpath("//*[local-name()='sequenceFlow'][@sourceRef=$id]", id=element_id)
        return flow.get("targetRef")

    path, node = [], "StartEvent_1"
    while node != "EndEvent_1":
        node = successor(node)
        path.append(node)
    assert path == ["Task_1__start_javascript_listener", "Task_1", "Task_1__end_javascript_listener",
                    "Flow_out__take_javascript_listener", "EndEvent_1"]
