"""JSON of the wrong kind where the REST API expects text or an object (found by tests/fuzz: each
answered 500 before): a variable's `type` or `valueInfo`, a query filter's `name` or `operator`, a
group's id or name. Each is a 400 naming the field, and nothing is saved."""
from __future__ import annotations

import pytest

from test_rest_helpers import deployed, error_of, rest, start  # noqa: F401

WRONG_TYPES = [[None, None], {"name": "Long"}, 5, True]


@pytest.fixture
def review(rest):
    rest.definitions = deployed(rest, "review.bpmn")
    return rest


def instances(rest) -> int:
    return rest.as_("admin").get("/process-instance/count").get_json()["count"]


@pytest.mark.parametrize("type_", WRONG_TYPES)
def test_a_variable_type_that_is_not_text_is_named_and_nothing_starts(review, type_):
    before = instances(review)
    message = error_of(review.as_("edu").post("/process-definition/key/review/start", {
        "variables": {"unit": {"value": "edu", "type": type_}}}), 400, "InvalidRequestException")
    assert "variable 'unit': type must be text" in message
    assert instances(review) == before


@pytest.mark.parametrize("info", [5, [1], "application/json"])
def test_a_value_info_that_is_not_an_object_is_named(review, info):
    instance = start(review, "review", unit="edu")
    path = f"/process-instance/{instance['id']}/variables"
    message = error_of(review.as_("admin").put(path + "/extra", {"value": "{}", "type": "Object", "valueInfo": info}),
                       400, "InvalidRequestException")
    assert "variable 'extra': valueInfo must be an object" in message
    error_of(review.as_("admin").get(path + "/extra"), 404, "InvalidRequestException")  # not saved


def test_wrong_types_in_task_variables_and_decisions_are_named(review):
    instance = start(review, "review", unit="edu")
    [task] = review.as_("edu").get("/task", processInstanceId=instance["id"]).get_json()
    message = error_of(review.as_("edu").put(f"/task/{task['id']}/variables/note", {"value": "x", "type": ["String"]}),
                       400, "InvalidRequestException")
    assert "variable 'note': type must be text" in message
    message = error_of(review.as_("edu").post(f"/task/{task['id']}/variables", {
        "modifications": {"note": {"value": "x", "type": {"t": 1}}}}), 400, "InvalidRequestException")
    assert "variable 'note'" in message
    message = error_of(review.as_("admin").post("/signal", {"name": "go", "variables": {"n": {"value": 1, "type": 7}}}),
                       400, "InvalidRequestException")
    assert "variable 'n': type must be text" in message


@pytest.mark.parametrize("path", ["/task", "/task/count", "/process-instance", "/process-instance/count",
                                  "/history/process-instance", "/history/process-instance/count"])
@pytest.mark.parametrize("condition", [{"name": "unit", "operator": {}, "value": "edu"},
                                       {"name": "unit", "operator": ["eq"], "value": "edu"},
                                       {"name": None, "operator": "eq", "value": "edu"}])
def test_a_variable_filter_with_a_wrong_name_or_operator_is_named(review, path, condition):
    field = "variables" if "process-instance" in path else "processVariables"
    message = error_of(review.as_("admin").post(path, {field: [condition]}), 400, "InvalidRequestException")
    assert f"Cannot set filter '{field}'" in message and "[{name, operator, value}]" in message


def test_a_variable_instance_filter_with_a_wrong_operator_is_named(review):
    message = error_of(review.as_("admin").post("/variable-instance", {
        "variableValues": [{"name": "unit", "operator": {}, "value": "edu"}]}), 400, "InvalidRequestException")
    assert "'variableValues'" in message and "[{name, operator, value}]" in message


@pytest.mark.parametrize("body, named", [({"id": ["sales"], "name": "销售"}, "group id must be text"),
                                         ({"id": "sales", "name": ["销售"]}, "name must be text, not list"),
                                         ({"id": "sales", "name": " "}, "name is empty"),
                                         ({"id": "sales"}, "name is empty")])
def test_a_group_id_or_name_that_is_not_text_is_named_and_nothing_is_made(rest, body, named):
    admin = rest.as_("admin")
    assert named in error_of(admin.post("/group/create", body), 400, "InvalidRequestException")
    error_of(admin.get("/group/sales"), 404, "InvalidRequestException")


@pytest.mark.parametrize("send", ["query", "body"])
def test_a_date_with_no_utc_time_is_named(rest, send):
    """Year 1 east of UTC (what the fuzz sent) has no UTC time to compare with: a 400, not a 500."""
    admin, moment = rest.as_("admin"), "0001-01-01T00:00:00+06:28"
    response = admin.get("/history/process-instance/count", startedBefore=moment) if send == "query" else \
        admin.post("/history/process-instance/count", {"startedBefore": moment})
    message = error_of(response, 400, "InvalidRequestException")
    assert "'startedBefore'" in message and "out of range" in message
    assert admin.get("/task/count", dueAfter="0001-01-02T00:00:00+08:00").get_json() == {"count": 0}
