"""Queries through /engine-rest as Camunda 7.20 has them: the POST variants take the GET forms'
filters as JSON (lists as arrays, sorting as [{sortBy, sortOrder}]) and answer the same; a query
parameter or filter a call does not take is a 400 naming it, never silently ignored."""
from __future__ import annotations

import pytest

from test_rest_helpers import deployed, error_of, rest, start  # noqa: F401


@pytest.fixture
def review(rest):
    rest.definitions = deployed(rest, "review.bpmn")
    rest.first = start(rest, "review", business_key="P-1", unit="edu", amount=1500)
    rest.second = start(rest, "review", business_key="P-2", unit="edu", amount=200)
    return rest


def test_unknown_query_parameters_are_refused_by_name(review):
    admin = review.as_("admin")
    message = error_of(admin.get("/process-instance", superCaseInstance="9"), 400, "InvalidRequestException")
    assert "unknown query parameter: superCaseInstance;" in message and "processInstanceIds" in message
    assert admin.get("/process-instance", superProcessInstance="9").get_json() == []  # known: no instance calls it
    error_of(admin.get("/task", candidateGroupz="office"), 400, "InvalidRequestException")
    error_of(admin.get("/task/count", maxResults="1"), 400, "InvalidRequestException")  # counts are not paged
    error_of(admin.get(f"/process-instance/{review.first['id']}", deserializeValues="false", colour="red"), 400,
             "InvalidRequestException")
    error_of(admin.get("/version", verbose="true"), 400, "InvalidRequestException")
    # a known parameter still works, and the unknown call is still a 404
    assert len(admin.get("/process-instance", businessKey="P-1").get_json()) == 1
    error_of(admin.get("/no/such/call", x="1"), 404, "RestException")


def test_post_queries_answer_as_the_get_forms(review):
    edu = review.as_("edu")
    first, second = review.first["id"], review.second["id"]
    get = edu.get("/task", processInstanceIdIn=f"{first},{second}", sortBy="created", sortOrder="desc").get_json()
    post = edu.post("/task", {"processInstanceIdIn": [first, second],
                              "sorting": [{"sortBy": "created", "sortOrder": "desc"}]})
    assert post.status_code == 200, post.get_json()
    assert post.get_json() == get and len(get) == 2
    paged = edu.post("/task?firstResult=1&maxResults=1", {"processDefinitionKey": "review"}).get_json()
    assert [t["processInstanceId"] for t in paged] == [second]
    assert edu.post("/task/count", {"processInstanceBusinessKey": "P-2"}).get_json() == {"count": 1}

    admin = review.as_("admin")
    assert admin.post("/process-instance", {"businessKeyLike": "P-%"}).get_json() == admin.get(
        "/process-instance", businessKeyLike="P-%").get_json()
    assert admin.post("/process-instance/count", {"processInstanceIds": [first]}).get_json() == {"count": 1}
    history = admin.post("/history/process-instance", {"processInstanceBusinessKey": "P-1"}).get_json()
    assert [h["id"] for h in history] == [first]
    assert admin.post("/history/process-instance/count", {"unfinished": True}).get_json() == {"count": 2}

    message = error_of(edu.post("/task", {"candidateGroupz": "office"}), 400, "InvalidRequestException")
    assert "unknown filter: candidateGroupz;" in message
    error_of(edu.post("/task", {"assigned": "perhaps"}), 400, "InvalidRequestException")
    error_of(edu.post("/task", {"sorting": [{"sortBy": "colour"}]}), 400, "InvalidRequestException")
    error_of(edu.post("/task", ["not", "an", "object"]), 400, "InvalidRequestException")


def test_variable_filters_in_both_forms(review):
    admin, edu = review.as_("admin"), review.as_("edu")
    first, second = review.first["id"], review.second["id"]

    def ids(rows, key="id"):
        return [r[key] for r in rows]

    assert ids(admin.get("/process-instance", variables="amount_gt_1000").get_json()) == [first]
    assert ids(admin.get("/process-instance", variables="amount_lteq_1500,unit_eq_edu").get_json()) == [first, second]
    assert ids(admin.post("/process-instance", {"variables": [
        {"name": "amount", "operator": "lt", "value": 1000}]}).get_json()) == [second]
    assert admin.get("/process-instance/count", variables="unit_like_e%").get_json() == {"count": 2}
    assert admin.get("/process-instance/count", variables="nothing_eq_1").get_json() == {"count": 0}
    assert ids(edu.post("/task", {"processVariables": [{"name": "amount", "operator": "gteq", "value": 1500}]})
               .get_json(), "processInstanceId") == [first]
    assert ids(admin.get("/history/process-instance", variables="amount_eq_200").get_json()) == [second]
    error_of(admin.get("/process-instance", variables="amount>1000"), 400, "InvalidRequestException")
    # like is SQL's LIKE, as Camunda's: % and _ are the only wildcards, every other character is itself
    assert admin.get("/process-instance/count", variables="unit_like_e_u").get_json() == {"count": 2}
    for literal in ("e*", "[e]du", "ed?", "E%"):
        assert admin.get("/process-instance/count", variables=f"unit_like_{literal}").get_json() == {"count": 0}, literal
    assert admin.post("/process-instance/count", {"variables": [
        {"name": "unit", "operator": "notLike", "value": "[e]%"}]}).get_json() == {"count": 2}
    error_of(admin.post("/process-instance", {"variables": [{"name": "amount", "operator": "about"}]}), 400,
             "InvalidRequestException")
