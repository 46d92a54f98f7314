"""The evaluators' bounds, tried as a process administrator who deploys a decision through Camunda
Modeler's REST call and an official who gives it its input: a regular expression that backtracks
without end fails the evaluation naming it, and the server answers."""
from __future__ import annotations

from xml.sax.saxutils import escape

import pytest

from test_rest_helpers import PASSWORD, error_of, modeler_deploy, rest  # noqa: F401

_DECISION = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="names" name="Names"
             namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="name_check" name="Name check">
    <variable name="valid" typeRef="boolean"/>
    <literalExpression id="check_expression" typeRef="boolean">
      <text>{feel}</text>
    </literalExpression>
  </decision>
</definitions>
"""


def _evaluate(rest, pattern: str, name: str, feel: str = 'matches(name, "{pattern}")'):
    decision = _DECISION.format(feel=escape(feel.format(pattern=pattern)))
    deployed = modeler_deploy(rest.as_("admin"), "names", ("names.dmn", decision.encode()))
    assert deployed.status_code == 200, deployed.get_json()
    return rest.as_("admin").post("/decision-definition/key/name_check/evaluate",
                                  {"variables": {"name": {"value": name, "type": "String"}}})


def test_a_regular_expression_that_backtracks_without_end_fails_naming_itself(rest):
    # (a|aa)+$ tries every way of cutting 36 a's into ones and twos (Fibonacci(36) ways) before
    # it gives up at the '!'; each pattern of the sort could hold a worker for hours
    response = _evaluate(rest, "(a|aa)+$", "a" * 36 + "!")
    assert response.status_code == 400 and "(a|aa)+$" in response.get_json()["message"], response.get_json()
    assert rest.as_("edu").get("/task").status_code == 200  # and the server goes on


def test_a_pattern_whose_counted_repeats_would_take_gigabytes_to_compile_is_null(rest):
    # the regex module writes a{1000} out a thousand times: nested, (a{1000}){1000} is a million
    response = _evaluate(rest, "(a{1000}){1000}", "abc")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()[0]["valid"]["value"] is None


def test_distinct_values_of_many_lists_is_stopped_naming_itself(rest):
    # each list is compared with every one before it: two million comparisons for 2 000 lists
    response = _evaluate(rest, "", "abc", "count(distinct values(for i in 1..2000 return [i])) > 0")
    assert response.status_code == 400 and "distinct values" in response.get_json()["message"], response.get_json()
    # texts and numbers are found by hash: many of them are quick
    response = _evaluate(rest, "", "abc", "count(distinct values(for i in 1..50000 return string(modulo(i, 7)))) = 7")
    assert response.get_json()[0]["valid"]["value"] is True


def test_an_ordinary_regular_expression_still_matches(rest):
    response = _evaluate(rest, "^[a-z]+$", "abc")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == [{"valid": {"value": True, "type": "Boolean", "valueInfo": {}}}]


# --- scripts whose every step looks cheap, but whose work grows with a value ---------------------

_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Definitions_work"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="work" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="target" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="target" />
    <bpmn:sequenceFlow id="f2" sourceRef="target" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("script, refusal", [
    # each step scans or shifts a list of 100 000 items: minutes in all
    ("items = [0] * 99999\nfor i in [0] * 5000:\n    items.append(1)\n    items.remove(1)", "units of work"),
    ("items = [0] * 99999\nfor i in [0] * 5000:\n    items.insert(0, 1)\n    items.pop(0)", "units of work"),
    # each sum copies the list so far: the square of its length
    ("flat = sum([[1]] * 20000, [])", "sum() adds numbers"),
    # a 100 MB string made before its length was looked at
    ("text = '%99999999d' % 1", "'%' formatting would build a string longer than"),
    # multiplying integers of 30 000 bits, comparing texts of a million characters
    ("x = 7 ** 11000\nfor i in [0] * 20000:\n    y = x * x", "units of work"),
    ("a = 'a' * 999999\nb = 'a' * 999999\nfor i in [0] * 20000:\n    c = a < b", "units of work"),
])
def test_a_script_whose_work_grows_with_its_values_is_stopped_naming_its_element(rest, script, refusal):
    xml = _PROCESS.format(script=escape(script))
    assert modeler_deploy(rest.as_("admin"), "work", ("work.bpmn", xml.encode())).status_code == 200
    message = error_of(rest.as_("admin").post("/process-definition/key/work/start", {}), 422, "ExecutionError")
    assert "element 'target'" in message and refusal in message, message
    assert rest.as_("admin").get("/process-instance/count").get_json() == {"count": 0}


@pytest.mark.parametrize("expression", ["1" + " + 1" * 20_000, "-" * 20_000 + "1", "x" + "[0]" * 20_000])
def test_a_script_nested_past_the_interpreters_stack_is_refused_at_deploy_naming_its_element(rest, expression):
    xml = _PROCESS.format(script=escape(f"x = [0]\ny = {expression}"))
    response = modeler_deploy(rest.as_("admin"), "work", ("work.bpmn", xml.encode()))
    assert response.status_code == 400, response.get_data(as_text=True)
    [error] = response.get_json()["details"]["work.bpmn"]["errors"]
    assert error["mainElementId"] == "target" and "nested too deeply" in error["message"], error


# --- a process that calls itself ------------------------------------------------------------------

_CALLER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_again" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="again" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="deeper" default="f_done"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f_call</bpmn:outgoing><bpmn:outgoing>f_done</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:callActivity id="call" calledElement="again">
      <bpmn:extensionElements><camunda:in sourceExpression="${{n + 1}}" target="n" /></bpmn:extensionElements>
      <bpmn:incoming>f_call</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="done"><bpmn:incoming>f_done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="deeper" />
    <bpmn:sequenceFlow id="f_call" sourceRef="deeper" targetRef="call">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_done" sourceRef="deeper" targetRef="done" />
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("condition", ["${n &lt; 40}", "${true}"])  # 40 calls deep; without end
def test_a_process_calling_itself_deeper_than_the_limit_fails_naming_the_call_and_starts_nothing(rest, condition):
    # without end, the start request ran until the server was stopped, holding the database's
    # write lock: no timer, no completion, no login's write of anyone went through meanwhile
    xml = _CALLER.format(condition=condition)
    assert modeler_deploy(rest.as_("admin"), "again", ("again.bpmn", xml.encode())).status_code == 200
    response = rest.as_("admin").post("/process-definition/key/again/start", {"variables": {"n": {"value": 0}}})
    message = error_of(response, 422, "ExecutionError")
    assert "element 'call'" in message and "calls nested deeper than 32 levels" in message, message
    assert rest.as_("admin").get("/process-instance/count").get_json() == {"count": 0}


def test_calls_within_the_limit_run(rest):
    xml = _CALLER.format(condition="${n &lt; 30}")
    assert modeler_deploy(rest.as_("admin"), "again", ("again.bpmn", xml.encode())).status_code == 200
    response = rest.as_("admin").post("/process-definition/key/again/start", {"variables": {"n": {"value": 0}}})
    assert response.status_code == 200, response.get_data(as_text=True)
