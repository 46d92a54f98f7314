"""/engine-rest/openapi.json is a valid OpenAPI 3.0 document and states what the API checks
(what tests/fuzz generates from): a body field it requires is refused when missing, a value of
the form Camunda clients send stays valid (a date with an offset without colon), and integer
parameters have the bounds the API reads them with."""
from __future__ import annotations

import pytest
from jsonschema_rs import Draft4Validator
from openapi_spec_validator import validate

from test_rest_helpers import error_of, rest  # noqa: F401


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
