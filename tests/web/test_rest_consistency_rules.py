"""The consistency rules of the rule table (engine/compliance.py, kind `consistent`) hold on the
REST door too: an administrator's rule refuses a completion that breaks it, naming the field and
the rule, and the task stays open; a completion that keeps it goes through."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from test_rest_helpers import deployed, error_of, rest, start  # noqa: F401

RULE = {"id": "local_review_amount_ceiling", "article": "第十九条", "title_zh": "申报金额超过上限", "kind": "consistent",
        "processes": ["review"], "trigger": {"elements": ["submit"]}, "check": "${amount <= 5000000}",
        "field": "amount", "message_zh": "申报金额不得超过 5000000 元"}


def with_rules(tmp_path, monkeypatch, rules: list[dict]) -> None:
    """The rule table these tests run with: `rules` in instance/compliance.json's place."""
    path = tmp_path / "compliance.json"
    path.write_text(json.dumps({"rules": rules}, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("DALAD_COMPLIANCE_FILE", str(path))


def test_a_rule_of_the_table_refuses_a_rest_completion(rest, tmp_path, monkeypatch):
    with_rules(tmp_path, monkeypatch, [RULE])
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


def test_a_malformed_rules_file_stops_the_start_and_refuses_completions_by_name(rest, db, tmp_path, monkeypatch,
                                                                                capsys):
    """A mistake in instance/compliance.json: the server does not start, naming the file and the
    place; made while it runs, a completion is refused (503) naming it, nothing of it is saved,
    and it goes through once the file is fixed."""
    from conftest import TEST_KEY
    from engine import history
    from engine.cli import main
    from engine.compliance import ComplianceConfigError
    from engine.models import ProcessInstance
    from web import create_app

    rules = tmp_path / "compliance.json"
    monkeypatch.setenv("DALAD_COMPLIANCE_FILE", str(rules))
    rules.write_text('{"rules": [{"id": "art8_release_within_approved_budget", "enabled": false},]}',
                     encoding="utf-8")
    with pytest.raises(ComplianceConfigError, match=f"{rules}: line 1 column 76: not JSON"):
        create_app(db=db)
    monkeypatch.setenv("DALAD_DATABASE_URL", db.url)
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(tmp_path))
    capsys.readouterr()
    assert main(["serve", "--port", "1"]) == 1
    assert capsys.readouterr().err == f"dalad: error: {rules}: line 1 column 76: not JSON: Expecting value\n"
    history.set_key(TEST_KEY)

    rules.unlink()
    deployed(rest, "review.bpmn")
    instance = start(rest, "review", unit="edu")
    edu = rest.as_("edu")
    [task] = edu.get("/task", processInstanceId=instance["id"], taskDefinitionKey="submit").get_json()
    with db.read() as session:
        before = session.scalar(select(ProcessInstance.history_count))
    rules.write_text(json.dumps({"rules": [{**RULE, "kind": "never"}]}), encoding="utf-8")
    amount = {"variables": {"amount": {"value": 1500, "type": "Long"}}}
    refused = edu.post(f"/task/{task['id']}/complete", amount)
    assert refused.status_code == 503
    message = refused.get_json()["message"]
    assert str(rules) in message and "rule 'local_review_amount_ceiling'" in message
    assert "field 'kind': 'never' is not one of" in message
    assert [t["id"] for t in edu.get("/task", processInstanceId=instance["id"]).get_json()] == [task["id"]]
    with db.read() as session:
        assert session.scalar(select(ProcessInstance.history_count)) == before
    rules.write_text(json.dumps({"rules": [RULE]}, ensure_ascii=False), encoding="utf-8")
    assert edu.post(f"/task/{task['id']}/complete", amount).status_code == 204
