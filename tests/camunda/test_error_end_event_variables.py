"""An error thrown by an error end event, caught by an error boundary event or an error event
subprocess, sets the catcher's camunda:errorCodeVariable and camunda:errorMessageVariable as in
Camunda 7: the code of the error thrown, and the bpmn:error's camunda:errorMessage (an expression
read on the thrower's variables; null when the error has none). Before, only errors reported by
external task workers set them: a boundary event caught an end event's error and left both unset.
Driven over REST on diagrams in Camunda Modeler 5's notation (without its layout); every instance's
history replays."""
from __future__ import annotations

from test_camunda_patterns import history_proves_every_instance, rest  # noqa: F401 (fixtures)
from test_camunda_patterns import complete, deploy, start, state, tasks, variables
from test_event_subprocesses import deploy_variant


def test_the_boundary_event_naming_the_error_gets_its_code_and_message(rest):
    deploy(rest, "error_end_event_boundary.bpmn")
    instance = start(rest, "c7_error_end_boundary", amount=9000000, limit=5000000)
    assert sorted(tasks(rest, instance)) == ["reduce_amount"]
    values = variables(rest, instance)
    assert values["error_code"] == "OVER_BUDGET"
    assert values["error_message"] == "申报 9000000 元，超过上限 5000000 元"
    assert "other_code" not in values and "other_message" not in values
    complete(rest, tasks(rest, instance)["reduce_amount"], "office")
    assert state(rest, instance) == "COMPLETED"


def test_a_boundary_event_catching_every_error_gets_the_code_thrown_and_no_message(rest):
    deploy(rest, "error_end_event_boundary.bpmn")
    instance = start(rest, "c7_error_end_boundary", amount=0, limit=5000000)
    assert sorted(tasks(rest, instance)) == ["complete_application"]
    values = variables(rest, instance)
    assert values["other_code"] == "INCOMPLETE" and values["other_message"] is None
    assert "error_code" not in values
    fine = start(rest, "c7_error_end_boundary", amount=100, limit=5000000)
    assert sorted(tasks(rest, fine)) == ["approve"]
    assert "error_code" not in variables(rest, fine) and "other_code" not in variables(rest, fine)


def test_an_error_event_subprocess_gets_the_end_events_message(rest):
    deploy_variant(rest, "error_event_subprocess.bpmn", '<bpmn:error id="Error_rejected" name="Rejected" errorCode="REJECTED" />',
                   '<bpmn:error id="Error_rejected" name="Rejected" errorCode="REJECTED" '
                   'camunda:errorMessage="现场核查结论：${verdict}" />')
    from test_camunda_patterns import work
    instance = start(rest, "c7_error_event_subprocess")
    work(rest, "check_register")
    complete(rest, tasks(rest, instance)["inspect_site"], "office", verdict="rejected")
    values = variables(rest, instance)
    assert (values["rejection_code"], values["rejection_message"]) == ("REJECTED", "现场核查结论：rejected")


def test_an_error_is_caught_only_on_the_activity_it_was_thrown_in(rest):
    """Two subprocesses side by side, each with a boundary event for the same error: the error thrown
    in one is caught there; the other goes on (Camunda propagates an error up its thrower's scopes
    only)."""
    deploy(rest, "parallel_error_boundaries.bpmn")
    instance = start(rest, "c7_parallel_error_boundaries", amount=9000000, limit=5000000)
    assert sorted(tasks(rest, instance)) == ["fix_budget", "review_content"]
    values = variables(rest, instance)
    assert values["budget_error"] == "OVER_BUDGET" and "content_error" not in values
    complete(rest, tasks(rest, instance)["review_content"], "office")
    complete(rest, tasks(rest, instance)["fix_budget"], "office")
    assert state(rest, instance) == "COMPLETED"


def test_an_error_message_that_does_not_parse_is_refused_at_deploy_naming_the_error(rest):
    from test_camunda_patterns import HERE, error_of, modeler_deploy
    name = "error_end_event_boundary.bpmn"
    source = (HERE / name).read_text(encoding="utf-8").replace("超过上限 ${limit} 元", "超过上限 ${limit + } 元")
    response = modeler_deploy(rest.as_("admin"), name, (name, source.encode()))
    message = error_of(response, 400, "ParseException")
    assert f"resource {name}" in message and "camunda:errorMessage" in message, message
    assert "Error_over_budget" in [e["mainElementId"] for e in response.get_json()["details"][name]["errors"]]
    assert rest.as_("admin").get("/process-definition").get_json() == []
