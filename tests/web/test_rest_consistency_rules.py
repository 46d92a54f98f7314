"""The consistency rules of the rule table (engine/compliance.py, kind `consistent`) hold on the
REST door too: an administrator's rule refuses a completion that breaks it, naming the field and
the rule, and the task stays open; a completion that keeps it goes through."""
from __future__ import annotations

import json

from test_rest_helpers import deployed, error_of, rest, start  # noqa: F401

RULE = {"id": "local_review_amount_ceiling", "article": "第十九条", "title_zh": "申报金额超过上限", "kind": "consistent",
        "processes": ["review"], "trigger": {"elements": ["submit"]}, "check": "${amount <= 5000000}",
        "field": "amount", "message_zh": "申报金额不得超过 5000000 元"}


def test_a_rule_of_the_table_refuses_a_rest_completion(rest, tmp_path, monkeypatch):
    rules = tmp_path / "compliance.json"
    rules.write_text(json.dumps({"rules": [RULE]}, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("DALAD_COMPLIANCE_FILE", str(rules))
    deployed(rest, "review.bpmn")
    instance = start(rest, "review", unit="edu")
    edu = rest.as_("edu")
    [task] = edu.get("/task", processInstanceId=instance["id"], taskDefinitionKey="submit").get_json()
    message = error_of(edu.post(f"/task/{task['id']}/complete", {"variables": {"amount": {"value": 9000000,
                                                                                            "type": "Long"}}}),
                       400, "InvalidRequestException")
    assert "field 'amount': 申报金额不得超过 5000000 元" in message
    assert [t["id"] for t in edu.get("/task", processInstanceId=instance["id"]).get_json()] == [task["id"]]
    done = edu.post(f"/task/{task['id']}/complete", {"variables": {"amount": {"value": 1500, "type": "Long"}}})
    assert done.status_code == 204
