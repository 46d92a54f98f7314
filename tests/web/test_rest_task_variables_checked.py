"""A task's variables set through the REST API (PUT /task/{id}/variables/{name}, POST
/task/{id}/variables) while the task is open are checked as its form checks them: an official
may write only what the form asks of them, each value of its field's kind and within its limits
and the rule table's consistency rules. Before, whoever could work on a task could write any
variable of the project with any value, past the form that the page and the completion enforce.
A task without a form takes any variable, at its completion too, as Camunda's does
(tests/web/test_security_task_variables.py)."""
from __future__ import annotations

from test_rest_consistency_rules import RULE, with_rules
from test_rest_helpers import deployed, error_of, project_at_the_office, rest, start  # noqa: F401


def _variables(rest, instance_id: str) -> dict:
    return {name: dto["value"] for name, dto in
            rest.as_("admin").get(f"/process-instance/{instance_id}/variables").get_json().items()}


def test_an_official_writes_through_the_task_only_what_its_form_takes(rest):
    """bpmn/ as deployed from the Modeler: the office confirming a project's basis may not rewrite
    its estimated budget through the task, nor answer a yes/no field with other text; a field of
    the form goes through, typed as the form types it."""
    instance, task = project_at_the_office(rest, "P-2026-011")
    office = rest.as_("office")
    path = f"/task/{task['id']}/variables"

    message = error_of(office.put(f"{path}/estimated_budget", {"value": 1, "type": "Long"}), 400,
                       "InvalidRequestException")
    assert "the form does not take 'estimated_budget'" in message
    message = error_of(office.post(path, {"modifications": {"in_plan": {"value": "也许"},
                                                            "basis_opinion": {"value": "确认"}}}),
                       400, "InvalidRequestException")
    assert "field 'in_plan'" in message
    before = _variables(rest, instance["id"])
    assert before["estimated_budget"] == 1800000 and "basis_opinion" not in before and "in_plan" not in before

    assert office.post(path, {"modifications": {"in_plan": {"value": True, "type": "Boolean"},
                                                "basis_opinion": {"value": "依据充分"}}}).status_code == 204
    after = _variables(rest, instance["id"])
    assert after["in_plan"] is True and after["basis_opinion"] == "依据充分"
    assert after["estimated_budget"] == 1800000

    # the completion reads a yes/no field as strictly (text other than yes or no was taken as "no")
    message = error_of(office.post(f"/task/{task['id']}/complete", {"variables": {
        "in_plan": {"value": "也许"}, "basis_opinion": {"value": "确认"}}}), 400, "InvalidRequestException")
    assert "field 'in_plan'" in message
    assert office.post(f"/task/{task['id']}/complete", {"variables": {
        "in_plan": {"value": "false"}, "basis_opinion": {"value": "确认"}}}).status_code == 204
    assert _variables(rest, instance["id"])["in_plan"] is False


def test_each_value_is_checked_as_its_field_and_a_required_one_may_wait(rest):
    deployed(rest, "review.bpmn")
    instance = start(rest, "review", unit="edu")
    edu = rest.as_("edu")
    [task] = edu.get("/task", processInstanceId=instance["id"], taskDefinitionKey="submit").get_json()
    path = f"/task/{task['id']}/variables"
    message = error_of(edu.put(f"{path}/amount", {"value": "lots", "type": "String"}), 400, "InvalidRequestException")
    assert "field 'amount'" in message and f"task {task['id']}" in message
    message = error_of(edu.put(f"{path}/note", {"value": "急"}), 400, "InvalidRequestException")
    assert "the form does not take 'note'" in message
    assert "amount" not in _variables(rest, instance["id"]) and "note" not in _variables(rest, instance["id"])

    assert edu.put(f"{path}/amount", {"value": "1500", "type": "String"}).status_code == 204
    assert _variables(rest, instance["id"])["amount"] == 1500  # typed as the form's long field
    assert edu.put(f"{path}/amount", {"value": None}).status_code == 204  # required only at the completion
    assert _variables(rest, instance["id"])["amount"] is None
    message = error_of(edu.post(f"/task/{task['id']}/complete", {"variables": {}}), 400, "InvalidRequestException")
    assert "field 'amount'" in message  # the completion still asks for it
    assert edu.post(f"/task/{task['id']}/complete", {"variables": {"amount": {"value": 500}}}).status_code == 204


def test_a_consistency_rule_naming_the_field_refuses_the_value(rest, tmp_path, monkeypatch):
    with_rules(tmp_path, monkeypatch, [RULE])
    deployed(rest, "review.bpmn")
    instance = start(rest, "review", unit="edu")
    edu = rest.as_("edu")
    [task] = edu.get("/task", processInstanceId=instance["id"]).get_json()
    message = error_of(edu.put(f"/task/{task['id']}/variables/amount", {"value": 9000000, "type": "Long"}), 400,
                       "InvalidRequestException")
    assert "field 'amount': 申报金额不得超过 5000000 元" in message
    assert "amount" not in _variables(rest, instance["id"])
    assert edu.put(f"/task/{task['id']}/variables/amount", {"value": 4000000, "type": "Long"}).status_code == 204
    assert _variables(rest, instance["id"])["amount"] == 4000000
