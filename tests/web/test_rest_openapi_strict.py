"""/engine-rest/openapi.json is a valid OpenAPI 3.0 document and states what the API checks
(what tests/fuzz generates from): a body field it requires is refused when missing, a value of
the form Camunda clients send stays valid (a date with an offset without colon), and integer
parameters have the bounds the API reads them with."""
from __future__ import annotations

import pytest
from jsonschema_rs import Draft4Validator
from openapi_spec_validator import validate

from test_rest_helpers import BASE, PASSWORD, deployed, error_of, modeler_deploy, rest, start  # noqa: F401
from test_rest_openapi import BUDGET, TOPICS
from web.rest_openapi import PATHS


@pytest.fixture
def document(rest):
    return rest.anonymous.get("/openapi.json").get_json()


def test_the_document_is_valid_openapi_3(document):
    validate(document)  # a parameter listed twice (the task calls' `reason`) made it invalid before


def parameter(document, path: str, name: str) -> dict:
    [found] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found["schema"]


@pytest.mark.parametrize("value, valid", [("2026-03-02T09:00:00.000+0800", True), ("2026-03-02T09:00:00+08:00", True),
                                          ("2026-03-02T09:00:00Z", True), ("yesterday", False)])
def test_a_date_parameter_takes_camundas_form_and_rfc_3339(document, rest, value, valid):
    schema = parameter(document, "/task", "dueBefore")
    assert Draft4Validator(schema, validate_formats=True).is_valid(value) is valid
    response = rest.as_("admin").get("/task", dueBefore=value)
    assert response.status_code == (200 if valid else 400), response.get_json()


def test_integer_parameters_have_the_bounds_the_api_reads(document, rest):
    admin = rest.as_("admin")
    schema = parameter(document, "/task", "maxResults")
    assert (schema["minimum"], schema["maximum"]) == (-2**31, 2**31 - 1)
    assert admin.get("/task", maxResults=-2**31).status_code == 200
    error_of(admin.get("/task", maxResults=2**31), 400, "InvalidRequestException")
    schema = parameter(document, "/external-task", "priorityHigherThanOrEquals")  # a 32-bit column
    assert (schema["minimum"], schema["maximum"]) == (-2**31, 2**31 - 1)
    assert admin.get("/external-task", priorityHigherThanOrEquals=-2**31).status_code == 200
    error_of(admin.get("/external-task", priorityHigherThanOrEquals=2**31), 400, "InvalidRequestException")


REQUIRED = [("post", "/external-task/fetchAndLock", "FetchExternalTasksDto", "workerId"),
            ("post", "/message", "CorrelationMessageDto", "messageName"),
            ("post", "/signal", "SignalDto", "name"),
            ("put", "/job/1/retries", "RetriesDto", "retries"),
            ("put", "/process-instance/1/suspended", "SuspensionStateDto", "suspended"),
            ("post", "/task/1/identity-links", "IdentityLinkDto", "type")]


# Every call whose document requires a JSON body (found by tests/fuzz sending none: a profile
# without one erased the user's name, a variable without one was set to null, 204 each).
BODY_REQUIRED = sorted((method, path.replace("{id}", "1").replace("{varName}", "v").replace("{key}", "k"))
                       for path, operations in PATHS.items() for method, operation in operations.items()
                       if operation.get("requestBody", {}).get("required")
                       and "application/json" in operation["requestBody"]["content"])


@pytest.mark.parametrize("method, path", BODY_REQUIRED)
def test_a_call_that_requires_a_body_refuses_a_request_without_one(rest, method, path):
    response = rest.client.open(BASE + path, method=method.upper(), headers=rest.as_("admin")._headers())
    message = error_of(response, 400, "InvalidRequestException")
    assert message.startswith(f"the request body is missing: {method.upper()} ") and "takes a JSON object" in message


def test_a_profile_or_a_variable_sent_without_a_body_changes_nothing(rest):
    admin = rest.as_("admin")
    assert admin.post("/user/create", {"profile": {"id": "sam", "firstName": "Sam"},
                                       "credentials": {"password": PASSWORD}}).status_code == 204
    deployed(rest, "review.bpmn")
    instance = start(rest, "review", unit="edu")
    for path in ("/user/sam/profile", f"/process-instance/{instance['id']}/variables/unit"):
        error_of(rest.client.put(BASE + path, headers=admin._headers()), 400, "InvalidRequestException")
    assert admin.get("/user/sam/profile").get_json()["firstName"] == "Sam"
    assert admin.get(f"/process-instance/{instance['id']}/variables/unit").get_json()["value"] == "edu"


def documented(document, method: str, template: str, response) -> None:
    """The answer's status and content type are among those the document states for the call."""
    responses = document["paths"][template][method]["responses"]
    status = str(response.status_code)
    assert status in responses, (method, template, status, sorted(responses))
    content = responses[status].get("content")
    if content is None:
        assert response.get_data() == b"", (method, template, status)
    else:
        assert response.mimetype in content, (method, template, status, response.mimetype, list(content))


def test_completions_and_error_details_answer_as_the_document_says(document, rest):
    """A completion without withVariablesInReturn is a 204, an external task's error details are
    text, or a 204 when there are none: each was undocumented (found by tests/fuzz once it
    reached real tasks)."""
    deployed(rest, "review.bpmn")
    edu = rest.as_("edu")
    for call in ("complete", "submit-form"):
        instance = start(rest, "review", unit="edu")
        [task] = edu.get("/task", processInstanceId=instance["id"]).get_json()
        response = edu.post(f"/task/{task['id']}/{call}", {"variables": {"amount": {"value": 500, "type": "Long"}}})
        assert response.status_code == 204, response.get_json()
        documented(document, "post", "/task/{id}/" + call, response)

    assert modeler_deploy(rest.as_("admin"), "budget", ("budget.bpmn", BUDGET)).status_code == 200
    start(rest, "budget", user="finance", amount=1200)
    worker = rest.as_("office")
    [task] = worker.post("/external-task/fetchAndLock", {"workerId": "w1", "topics": TOPICS}).get_json()
    path = f"/external-task/{task['id']}/errorDetails"
    none_yet = worker.get(path)
    assert none_yet.status_code == 204
    documented(document, "get", "/external-task/{id}/errorDetails", none_yet)
    assert worker.post(f"/external-task/{task['id']}/failure", {
        "workerId": "w1", "errorMessage": "down", "errorDetails": "stack trace", "retries": 1}).status_code == 204
    details = worker.get(path)
    assert (details.status_code, details.get_data(as_text=True)) == (200, "stack trace")
    documented(document, "get", "/external-task/{id}/errorDetails", details)


def test_a_sort_order_left_null_is_in_its_enum_as_openapi_3_asks(document, rest):
    """OpenAPI 3.0.3: a nullable enum lists null, or null is not valid (schemathesis read the
    document so and took the API's null, which it accepts as asc, for a wrong value)."""
    for name, schema in document["components"]["schemas"].items():
        if "sorting" in schema.get("properties", {}):
            [listed, single] = schema["properties"]["sorting"]["oneOf"]
            for order in (listed["items"]["properties"]["sortOrder"], single["properties"]["sortOrder"]):
                assert order["nullable"] and None in order["enum"], name
    response = rest.as_("admin").post("/task", {"sorting": [{"sortBy": "created", "sortOrder": None}]})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("call", ["/task", "/task/count", "/variable-instance", "/variable-instance/count"])
@pytest.mark.parametrize("order", [{}, 0, False, ["desc"]])
def test_a_sort_order_of_the_wrong_kind_is_refused_in_a_list_and_its_count(rest, call, order):
    """It was read as asc ({}, 0 and false) and a count did not look at its sorting at all."""
    sort_by = "created" if call.startswith("/task") else "variableName"
    response = rest.as_("admin").post(call, {"sorting": [{"sortBy": sort_by, "sortOrder": order}]})
    assert "sortOrder" in error_of(response, 400, "InvalidRequestException")


@pytest.mark.parametrize("method, path, schema, field", REQUIRED)
def test_a_required_body_field_is_refused_when_missing(document, rest, method, path, schema, field):
    assert field in document["components"]["schemas"][schema]["required"]
    message = error_of(getattr(rest.as_("admin"), method)(path, {}), 400, "InvalidRequestException")
    assert field in message


def test_a_query_body_takes_its_sort_keys_and_operators_and_unknown_fields_only_as_null(document, rest):
    body = document["components"]["schemas"]["TaskQueryDto"]
    [listed, _single] = body["properties"]["sorting"]["oneOf"]
    assert "created" in listed["items"]["properties"]["sortBy"]["enum"]
    admin = rest.as_("admin")
    assert admin.post("/task", {"sorting": [{"sortBy": "created", "sortOrder": "desc"}],
                                "processInstanceBusinessKeyExpression": None}).status_code == 200
    error_of(admin.post("/task", {"sorting": [{"sortBy": "nowhere"}]}), 400, "InvalidRequestException")
    error_of(admin.post("/task", {"processInstanceBusinessKeyExpression": "x"}), 400, "InvalidRequestException")
    condition = body["properties"]["processVariables"]["items"]
    assert condition["required"] == ["name", "operator"] and "notLike" in condition["properties"]["operator"]["enum"]


@pytest.mark.parametrize("type_, valid", [("Long", True), ("long", True), (" JSON ", True), ("", True), (None, True),
                                          ("Bytes", False), ("Strin", False)])
def test_a_variable_type_is_valid_in_any_letter_case_as_the_api_reads_it(document, rest, type_, valid):
    schema = {**document["components"]["schemas"]["VariableValueDto"]["properties"]["type"]}
    schema.pop("nullable")
    assert (type_ is None or Draft4Validator(schema).is_valid(type_)) is valid
    response = rest.as_("admin").post("/signal", {"name": "nobody_waits", "variables": {
        "n": {"value": "1", "type": type_}}})
    assert response.status_code == (204 if valid else 400), response.get_json()
