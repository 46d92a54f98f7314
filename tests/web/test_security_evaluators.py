"""The evaluators' bounds, tried as a process administrator who deploys a decision through Camunda
Modeler's REST call and an official who gives it its input: a regular expression that backtracks
without end fails the evaluation naming it, and the server answers."""
from __future__ import annotations

from test_rest_helpers import PASSWORD, error_of, modeler_deploy, rest  # noqa: F401

_DECISION = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="names" name="Names"
             namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="name_check" name="Name check">
    <variable name="valid" typeRef="boolean"/>
    <literalExpression id="check_expression" typeRef="boolean">
      <text>matches(name, "{pattern}")</text>
    </literalExpression>
  </decision>
</definitions>
"""


def _evaluate(rest, pattern: str, name: str):
    deployed = modeler_deploy(rest.as_("admin"), "names", ("names.dmn", _DECISION.format(pattern=pattern).encode()))
    assert deployed.status_code == 200, deployed.get_json()
    return rest.as_("admin").post("/decision-definition/key/name_check/evaluate",
                                  {"variables": {"name": {"value": name, "type": "String"}}})


def test_a_regular_expression_that_backtracks_without_end_fails_naming_itself(rest):
    # (a|aa)+$ tries every way of cutting 36 a's into ones and twos (Fibonacci(36) ways) before
    # it gives up at the '!'; each pattern of the sort could hold a worker for hours
    response = _evaluate(rest, "(a|aa)+$", "a" * 36 + "!")
    assert response.status_code == 400 and "(a|aa)+$" in response.get_json()["message"], response.get_json()
    assert rest.as_("edu").get("/task").status_code == 200  # and the server goes on


def test_an_ordinary_regular_expression_still_matches(rest):
    response = _evaluate(rest, "^[a-z]+$", "abc")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == [{"valid": {"value": True, "type": "Boolean", "valueInfo": {}}}]
