"""The REST queries' filters tried as an official and an administrator would: every parameter each
GET call declares and every filter of each POST query body, with values of their kind and values
Camunda's clients send that are not (objects as a variable condition's value, numbers as text),
answer without a 5xx; and what an official reads through /history/task stays the instances they
are involved in. Before, every call of GET or POST /history/task(/count) by an official was a 500
(the instance visibility's task subquery was correlated away by the task query it filtered)."""
from __future__ import annotations

import json
import re

import pytest

from web.rest_openapi import PATHS, accepted

from test_rest_helpers import BASE, deployed, rest, start  # noqa: F401

PARAMETERS = {"text": ["edu", "1"], "boolean": ["true", "false"], "int32": ["0", "1"], "int64": ["1"],
              "date": ["2026-03-02T09:00:00.000+0800"], "list": ["edu,office"],
              "variables": ["amount_gt_1", "amount_like_%"], "sorting": []}
FILTERS = {"text": ["edu", 5, True], "boolean": [True, "true"], "int32": [1, "1"], "int64": [1],
           "date": ["2026-03-02T09:00:00.000+0800"], "list": [["edu"], "edu,office", [5, True]],
           "variables": [[{"name": "amount", "operator": operator, "value": value}]
                         for operator, value in (("gt", {"a": 1}), ("like", 5), ("lt", [1]), ("eq", None),
                                                 ("gteq", "text"), ("gt", True), ("neq", 1.5))],
           "sorting": [[{"sortBy": "created", "sortOrder": "asc"}], [{"sortBy": "x", "sortOrder": "up"}],
                       {"sortBy": "instanceId"}]}


def _calls():
    for path, operations in sorted(PATHS.items()):
        for method in ("get", "post"):
            if method in operations:
                params, body_fields, _required = accepted(method, re.sub(r"\{[^}]+\}", "{}", path))
                if method == "get" or body_fields is not None:
                    yield method, path, params, body_fields or {}


def test_no_declared_filter_of_any_query_is_a_server_error(rest):
    deployed(rest, "review.bpmn")
    instance = start(rest, "review", unit="edu", amount=5)
    failures = []
    for user in ("edu", "admin"):
        api = rest.as_(user)
        for method, path, params, body_fields in _calls():
            url = BASE + re.sub(r"\{[^}]+\}", instance["id"], path)
            sent = [({name: value}, None) for name, kind in params.items() for value in PARAMETERS[kind]]
            sent += [({}, {name: value}) for name, kind in body_fields.items() for value in FILTERS[kind]]
            for query, body in sent:
                response = api.client.open(url, method=method.upper(), query_string=query, headers=api._headers(),
                                           **({"data": json.dumps(body or {}), "content_type": "application/json"}
                                              if method == "post" else {}))
                if response.status_code >= 500:
                    failures.append((user, method, path, query, body, response.status_code))
    assert failures == []


def test_an_official_reads_the_task_history_of_the_instances_they_are_involved_in(rest):
    deployed(rest, "review.bpmn")
    own = start(rest, "review", unit="edu", amount=5)
    other = start(rest, "review", user="admin", unit="health", amount=5)
    edu = rest.as_("edu")
    for response in (edu.get("/history/task"), edu.post("/history/task", {}),
                     edu.get("/history/task", processInstanceId=other["id"]),
                     edu.post("/history/task", {"processInstanceIdIn": [own["id"], other["id"]]}),
                     edu.get("/history/task", taskHadCandidateGroup="unit:health")):
        assert response.status_code == 200, response.get_data(as_text=True)
        assert {task["processInstanceId"] for task in response.get_json()} <= {own["id"]}
    assert [task["processInstanceId"] for task in edu.get("/history/task").get_json()] == [own["id"]]
    assert edu.get("/history/task/count").get_json() == {"count": 1}
    assert edu.post("/history/task/count", {"processInstanceId": other["id"]}).get_json() == {"count": 0}
    assert rest.as_("admin").get("/history/task/count").get_json() == {"count": 2}


@pytest.mark.parametrize("path, field", [("/process-instance", "processInstanceIds"),
                                         ("/history/process-instance", "processInstanceIds"),
                                         ("/history/task", "processInstanceIdIn"),
                                         ("/variable-instance", "processInstanceIdIn"),
                                         ("/task", "processInstanceIdIn")])
def test_a_list_filter_of_more_values_than_a_statement_takes_is_refused_naming_it(rest, path, field):
    # every value was a parameter of one SQL statement: past SQLite's 32 766 (PostgreSQL's 65 535)
    # the query failed with a 500
    ids = [str(i) for i in range(40_000)]
    response = rest.as_("edu").post(path, {field: ids})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in response.get_json()["message"] and "at most 1,000 values" in response.get_json()["message"]
    assert rest.as_("edu").post(path, {field: ids[:1000]}).status_code == 200
    response = rest.as_("edu").get(path, **{field: ",".join(ids[:1001])})
    assert response.status_code == 400 and field in response.get_json()["message"]


@pytest.mark.parametrize("path, key", [("/task", "name"), ("/process-instance", "businessKey")])
def test_a_sorting_that_names_a_column_again_and_again_is_one_sort_key(rest, path, key):
    # each was a term of the statement's ORDER BY: SQLite takes at most 10 000 (a 500)
    response = rest.as_("edu").post(path, {"sorting": [{"sortBy": key, "sortOrder": "asc"}] * 20_000})
    assert response.status_code == 200, response.get_data(as_text=True)
