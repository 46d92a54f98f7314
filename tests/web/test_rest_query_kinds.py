"""Every filter of a POST query body (POST /task, /process-instance, the history's queries,
/variable-instance, /external-task and their counts) is read as the kind its query parameter is:
text, true or false, a whole number, a date, a list of text, variable conditions, a sorting. A
value of another kind is a 400 naming the filter and what it takes, in the words the query
parameter's refusal uses (`{"tenantIdIn": false}`, a number as a date, a list where one value
goes were read as text, or dropped, before). What Camunda's Jackson reads stays as it was: JSON of
the kind, text in the query parameter's form ("true", "60", "a,b"), a number as text, "" and null
as nothing.

The calls and their filters' kinds are read from the API's OpenAPI document, as a client reads
them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from jsonschema_rs import Draft4Validator

from test_rest_helpers import deployed, error_of, modeler_deploy, rest, start  # noqa: F401
from test_rest_openapi import BUDGET, TOPICS
from web.rest_openapi import PATHS


def query_bodies() -> list[tuple[str, str]]:
    """(path, body schema) of each POST query call."""
    calls = []
    for path, operations in PATHS.items():
        schema = operations.get("post", {}).get("requestBody", {}).get("content", {}).get("application/json", {})
        name = schema.get("schema", {}).get("$ref", "").rpartition("/")[2]
        if name.endswith("QueryDto"):
            calls.append((path, name))
    return sorted(calls)


QUERY_BODIES = query_bodies()


def test_every_list_call_with_a_post_variant_is_covered():
    assert [path for path, _schema in QUERY_BODIES] == [
        "/external-task", "/external-task/count", "/history/process-instance", "/history/process-instance/count",
        "/history/task", "/history/task/count", "/history/variable-instance", "/history/variable-instance/count",
        "/job", "/job-definition", "/job-definition/count", "/job/count", "/process-instance", "/process-instance/count", "/task", "/task/count", "/variable-instance",
        "/variable-instance/count"]


def kind_of(name: str, schema: dict) -> str:
    """The kind of a query body's field, as its schema in the document states it."""
    if name == "sorting":
        return "sorting"
    if "anyOf" in schema:
        return "date"
    if "oneOf" in schema:
        return "list"  # an array of text, or text separated by commas
    return {"array": "variables", "boolean": "boolean", "integer": "number"}.get(schema.get("type"), "text")


# Per kind: values Camunda refuses too, and what the refusal says the filter takes.
WRONG = {
    "text": ([["P-1"], {"value": "P-1"}], "give text"),
    "boolean": (["perhaps", "yes", ["true"], {"value": True}, 1.5], "write true or false"),
    "number": (["sixty", "6_0", True, ["60"], {"value": 60}, 60.5], "give a whole number"),
    "date": (["yesterday", "2026-03-02", "2026-03-02T09:00:00", "2026-02-30T09:00:00.000+0800", True,
              ["2026-03-02T09:00:00.000+0800"], {}], "write a date as 2026-03-02T09:00:00.000+0800"),
    "list": ([False, True, 5, {"value": "a"}, [["a"]], [{"value": "a"}], [None]], "give a list of text"),
    "variables": (["amount>5", {"name": "amount", "operator": "gt", "value": 5}, [5], True,
                   [{"name": "amount", "operator": "about", "value": 5}], [{"name": None, "operator": "eq"}]],
                  "give [{name, operator, value}]"),
    "sorting": ([5, "created", [5], [{"sortOrder": "asc"}], [{"sortBy": ["created"]}]], "give [{\"sortBy\""),
}


@pytest.fixture
def document(rest):
    return rest.anonymous.get("/openapi.json").get_json()


def refusal(response) -> str:
    return error_of(response, 400, "InvalidRequestException")


@pytest.mark.parametrize("path, schema", QUERY_BODIES)
def test_a_filter_of_the_wrong_kind_is_refused_naming_it(document, rest, path, schema):
    """Each filter of the body, each wrong value of its kind: a 400 naming the filter and what it
    takes; where the filter is a query parameter too, the same value there (text) is refused in
    the same words."""
    admin = rest.as_("admin")
    fields = document["components"]["schemas"][schema]["properties"]
    get_params = {p["name"] for p in document["paths"][path]["get"]["parameters"]}
    wrong = []
    for field, field_schema in fields.items():
        values, takes = WRONG[kind_of(field, field_schema)]
        for value in values:
            response = admin.post(path, {field: value})
            message = response.get_json().get("message", "") if response.status_code == 400 else ""
            if response.status_code != 400 or f"Cannot set filter '{field}' to value" not in message \
                    or takes not in message:
                wrong.append((field, value, response.status_code, response.get_json()))
                continue
            if isinstance(value, str) and field in get_params:
                by_get = refusal(admin.get(path, **{field: value}))
                assert by_get == message.replace("Cannot set filter", "Cannot set query parameter"), (field, value)
    assert not wrong, wrong


@pytest.mark.parametrize("path, field", [("/task", "priority"), ("/history/task/count", "taskPriority"),
                                         ("/external-task", "priorityHigherThanOrEquals")])
def test_an_integer_beyond_its_bounds_is_refused_naming_them(rest, path, field):
    for value in (2**31, -2**31 - 1, str(2**31)):
        message = refusal(rest.as_("admin").post(path, {field: value}))
        assert f"Cannot set filter '{field}'" in message and "at least -2147483648 and at most 2147483647" in message


def test_the_examples_found_are_refused(rest):
    """`{"tenantIdIn": false}` filtered by a tenant named "false"; a date given as a number was read
    as ISO text (20260302 as 2 March 2026); a list where one value goes was dropped."""
    admin = rest.as_("admin")
    assert "'tenantIdIn'" in refusal(admin.post("/variable-instance", {"tenantIdIn": False}))
    assert "'tenantIdIn'" in refusal(admin.post("/history/variable-instance/count", {"tenantIdIn": False}))
    assert "'dueBefore'" in refusal(admin.post("/task", {"dueBefore": 20260302}))
    assert "'startedAfter'" in refusal(admin.post("/history/process-instance", {"startedAfter": 20260302}))
    assert "'assignee'" in refusal(admin.post("/task", {"assignee": []}))
    assert "'processInstanceIdIn'" in refusal(admin.post("/external-task/count", {"processInstanceIdIn": 5}))


# --- what Camunda accepts keeps its answer -----------------------------------------------------

@pytest.fixture
def review(rest, frozen_clock):
    """P-1 (amount 1500) at 09:00, then P-2 (200) and 7 (700) at 09:05, each a `submit` task for edu."""
    rest.definitions = deployed(rest, "review.bpmn")
    rest.first = start(rest, "review", business_key="P-1", unit="edu", amount=1500)["id"]
    frozen_clock.advance(timedelta(minutes=5))
    rest.second = start(rest, "review", business_key="P-2", unit="edu", amount=200)["id"]
    rest.third = start(rest, "review", business_key="7", unit="edu", amount=700)["id"]
    return rest


AFTER_NINE = "2026-03-02T09:01:00.000+0800"  # Camunda's form
AFTER_NINE_UTC = "2026-03-02T01:01:00Z"  # RFC 3339
ALL, FIRST, LATER = ("first", "second", "third"), ("first",), ("second", "third")
RIGHT = {
    "/task": [
        ({"processInstanceIdIn": ["{first}", "{second}"]}, ("first", "second")),
        ({"processInstanceIdIn": "{first},{second}"}, ("first", "second")),
        ({"processInstanceBusinessKey": 7}, ("third",)),
        ({"processInstanceBusinessKey": "P-1", "dueBefore": None, "candidateGroups": None}, FIRST),
        ({"assigned": False, "unassigned": "true", "active": True, "suspended": "FALSE"}, ALL),
        ({"minPriority": 60, "maxPriority": "60"}, ALL),
        ({"priority": 61}, ()),
        ({"createdAfter": AFTER_NINE}, LATER),
        ({"createdAfter": AFTER_NINE_UTC}, LATER),
        ({"createdBefore": "2026-03-02t01:01:00.123456789z"}, FIRST),
        ({"createdAfter": "", "followUpAfter": ""}, ALL),  # Jackson reads "" into a date as null
        ({"dueBefore": "2026-03-10T00:00:00.000+0800", "dueAfter": "2026-03-09T00:00:00+08:00"}, ALL),
        ({"candidateGroups": ["unit:edu"]}, ALL),
        ({"candidateGroups": "unit:edu", "taskDefinitionKeyIn": []}, ALL),
        ({"processVariables": [{"name": "amount", "operator": "gt", "value": 1000}]}, FIRST),
        ({"processVariables": "amount_lt_1000"}, LATER),
        ({"sorting": [{"sortBy": "created", "sortOrder": "desc"}, {"sortBy": "id", "sortOrder": "desc"}]},
         ("third", "second", "first")),
        ({"sorting": [{"sortBy": "created", "sortOrder": "desc"}, {"sortBy": "id", "sortOrder": None}]},
         ("second", "third", "first")),  # null: ascending
        ({"sorting": {"sortBy": "created", "sortOrder": "DESC"}}, ("second", "third", "first")),
    ],
    "/process-instance": [
        ({"processInstanceIds": ["{first}"]}, FIRST),
        ({"processInstanceIds": "{second},{third}"}, LATER),
        ({"businessKey": 7}, ("third",)),
        ({"processDefinitionKeyIn": ["review"], "suspended": "false", "rootProcessInstances": True}, ALL),
        ({"processDefinitionKeyIn": "review,other", "withIncident": None}, ALL),
        ({"variables": [{"name": "unit", "operator": "eq", "value": "edu"},
                        {"name": "amount", "operator": "lteq", "value": 700}]}, LATER),
        ({"sorting": [{"sortBy": "businessKey", "sortOrder": "asc"}]}, ("third", "first", "second")),
    ],
    "/history/process-instance": [
        ({"processInstanceIds": ["{first}", "{third}"]}, ("first", "third")),
        ({"startedAfter": AFTER_NINE, "finished": False, "unfinished": "true"}, LATER),
        ({"startedBefore": AFTER_NINE_UTC, "processDefinitionKeyIn": ["review"]}, FIRST),
        ({"processInstanceBusinessKey": 7, "finishedAfter": ""}, ("third",)),
        ({"variables": "amount_gteq_700"}, ("first", "third")),
    ],
    "/history/task": [
        ({"processInstanceIdIn": ["{first}"]}, FIRST),
        ({"taskPriority": "60", "taskDefinitionKeyIn": "submit", "unfinished": True}, ALL),
        ({"startedAfter": AFTER_NINE_UTC, "processInstanceBusinessKeyIn": ["P-2", "7"]}, LATER),
        ({"taskDueDateBefore": "2026-03-10T00:00:00.000+0800", "withoutTaskDueDate": False}, ALL),
    ],
    "/variable-instance": [
        ({"processInstanceIdIn": ["{first}"], "variableName": "amount"}, FIRST),
        ({"variableValues": [{"name": "amount", "operator": "gt", "value": 1000}]}, FIRST),
        ({"variableName": "AMOUNT", "variableNamesIgnoreCase": "true", "tenantIdIn": None}, ALL),
    ],
    "/history/variable-instance": [
        ({"variableName": "amount", "variableValue": 200}, ("second",)),
        ({"variableNameIn": "amount", "processInstanceIdIn": "{first},{third}", "includeDeleted": False},
         ("first", "third")),
    ],
}


def instance_ids(rows: list[dict], path: str) -> list[str]:
    return [row["id" if path.endswith("process-instance") else "processInstanceId"] for row in rows]


def with_ids(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [with_ids(item, ids) for item in value]
    return value


@pytest.mark.parametrize("path", sorted(RIGHT))
def test_values_of_the_kinds_camunda_reads_keep_their_answers(review, path):
    """Each body: 200 with the rows it names, in order, and its count; JSON of the kind, the query
    parameter's text, numbers as text, null and "" as nothing."""
    user = review.as_("edu" if path == "/task" else "admin")
    ids = {"first": review.first, "second": review.second, "third": review.third}
    for body, expected in RIGHT[path]:
        body = {name: with_ids(value, ids) for name, value in body.items()}
        response = user.post(path, body)
        assert response.status_code == 200, (body, response.get_json())
        found = instance_ids(response.get_json(), path)
        if "sorting" not in body:
            found = sorted(found, key=list(ids.values()).index)
        assert found == [ids[name] for name in expected], body
        counted = user.post(path + "/count", {k: v for k, v in body.items() if k != "sorting"})
        assert counted.get_json() == {"count": len(expected)}, body


def test_the_query_parameter_forms_answer_as_the_body(review):
    """The text of a query parameter (a list separated by commas, true, a number, a date in either
    form, a variable condition) answers as the JSON value in a body."""
    edu, first, second = review.as_("edu"), review.first, review.second
    for params, body in (({"processInstanceIdIn": f"{first},{second}", "unassigned": "true"},
                          {"processInstanceIdIn": [first, second], "unassigned": True}),
                         ({"maxPriority": "60", "createdAfter": AFTER_NINE_UTC},
                          {"maxPriority": 60, "createdAfter": AFTER_NINE}),
                         ({"processVariables": "amount_gt_1000"},
                          {"processVariables": [{"name": "amount", "operator": "gt", "value": 1000}]})):
        by_get = edu.get("/task", **params).get_json()
        assert by_get == edu.post("/task", body).get_json() and by_get, params


def test_external_task_filters_of_each_kind(rest):
    assert modeler_deploy(rest.as_("admin"), "budget", ("budget.bpmn", BUDGET)).status_code == 200
    instance = start(rest, "budget", user="finance", amount=1200)["id"]
    worker = rest.as_("office")
    [locked] = worker.post("/external-task/fetchAndLock", {"workerId": "w1", "topics": TOPICS}).get_json()
    for body, found in (({"processInstanceIdIn": [instance], "locked": True}, [locked["id"]]),
                        ({"processInstanceIdIn": instance, "notLocked": "true"}, []),
                        ({"topicName": "budget-check", "priorityHigherThanOrEquals": "0",
                          "priorityLowerThanOrEquals": 0, "withRetriesLeft": None}, [locked["id"]]),
                        ({"activityIdIn": [], "workerId": "w1",
                          "sorting": [{"sortBy": "lockExpirationTime", "sortOrder": "desc"}]}, [locked["id"]])):
        response = worker.post("/external-task", body)
        assert [task["id"] for task in response.get_json()] == found, (body, response.get_json())
        counted = worker.post("/external-task/count", {k: v for k, v in body.items() if k != "sorting"})
        assert counted.get_json() == {"count": len(found)}
    assert "'locked'" in refusal(worker.post("/external-task", {"locked": 1.5}))


def test_a_query_body_takes_the_kinds_of_its_query_parameters(document):
    """The two forms of each query are declared from one list: every body field but sorting is a
    query parameter of the same call, of the same kind."""
    def get_kind(schema: dict) -> str:
        if "anyOf" in schema:
            return "date"
        if schema.get("description", "").startswith("name_operator_value"):
            return "variables"
        return {"boolean": "boolean", "integer": "number"}.get(schema.get("type"), "text")

    for path, name in QUERY_BODIES:
        fields = document["components"]["schemas"][name]["properties"]
        params = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        for field, schema in fields.items():
            if field == "sorting":
                continue
            param = params[field]
            kind = "list" if "comma-separated" in (param.get("description", ""),
                                                   param["schema"].get("description")) else get_kind(param["schema"])
            assert kind_of(field, schema) == kind, (path, field)


@pytest.mark.parametrize("path", ["/task", "/external-task", "/history/process-instance"])
def test_a_sort_order_is_checked_without_a_sort_by_too(rest, path):
    """`?sortOrder=AAA` alone answered 200 (found by schemathesis' negative_data_rejection check)."""
    admin = rest.as_("admin")
    assert "sortOrder 'aaa' is not asc or desc" in refusal(admin.get(path, sortOrder="AAA"))
    assert admin.get(path, sortOrder="desc").status_code == 200


@pytest.mark.parametrize("name, value", [("variables", "amount_gt_1000"), ("variables", "amount_gt_1,unit_like_e%"),
                                         ("variables", "amount>1000"), ("variables", "_eq_1"),
                                         ("startedBefore", "0001-01-02T00:00:00.000+0800"),
                                         ("startedBefore", "0000-01-01T00:00:00.000-0000"),
                                         ("startedBefore", "2026-03-02T09:00:00.000+08:00")])
def test_the_document_states_the_forms_of_variables_and_dates_the_api_takes(document, rest, name, value):
    """Schema-valid values were refused: a year 0 date (Camunda's pattern allowed it) and a variable
    condition of any text (found by schemathesis' positive_data_acceptance check)."""
    [param] = [p for p in document["paths"]["/history/process-instance"]["get"]["parameters"] if p["name"] == name]
    response = rest.as_("admin").get("/history/process-instance", **{name: value})
    assert Draft4Validator(param["schema"], validate_formats=True).is_valid(value) == (response.status_code == 200), \
        response.get_json()
