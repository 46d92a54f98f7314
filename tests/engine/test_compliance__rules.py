"""Each compliance check lists the projects that break it, with the events as evidence, and passes
a clean project; the checks are data an administrator changes and extends with a JSON file whose
mistakes are named by file, rule and field.

audit_checks.bpmn offers every step of a project at once (a parallel split), with the element ids of
bpmn/project.bpmn (its review_design calls audit_checks_stage for the drc_reply of stage_review.bpmn),
so a test completes them in whatever order and at whatever time the case needs. The same rules on
the real diagrams: test_compliance__real_diagrams.py."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import deploy_files
from engine import compliance, documents, services
from engine.compliance import ComplianceConfigError

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def checks(db, frozen_clock):
    deploy_files(db, "audit_checks.bpmn", "audit_checks_stage.bpmn")

    def project(key: str, steps: list, name: str | None = None) -> int:
        """Start a project and run `steps`: (element, values) or a timedelta to wait."""
        with db.write() as s:
            instance_id = services.start_process(s, "audit_checks", business_key=key,
                                                 variables={"unit": "edu", "project_name": name or key},
                                                 user="edu_li").id
        for step in steps:
            if isinstance(step, timedelta):
                frozen_clock.advance(step)
                continue
            element, values = step
            with db.write() as s:
                [task] = [t for t in services.tasks(s, instance_id=instance_id) if t.element_id == element]
                services.complete_task(s, task.id, user="someone", data=values, check_access=False)
        return instance_id
    return project


def run(db, rule_id: str, rules=None):
    rules = rules if rules is not None else compliance.load_rules(path="/nonexistent/compliance.json")
    [rule] = [r for r in rules if r.id == rule_id]
    with db.read() as s:
        [result] = compliance.check(s, [rule])
    return result


def breached(result) -> dict:
    return {b.business_key: b for b in result.breaches}


MONTH = timedelta(days=31)


APPROVE = {"drc_decision": "approve", "approved_amount": 1000000}


def test_art8_funds_or_procurement_before_the_design_approval(db, checks):
    checks("CLEAN", [("drc_reply", APPROVE), ("release_construction_funds", {}), ("procure_and_contract", {})])
    checks("EARLY", [("procure_and_contract", {}), ("drc_reply", APPROVE)])
    checks("NEVER", [("release_construction_funds", {}), ("drc_reply", {"drc_decision": "revise"})])
    result = run(db, "art8_funds_before_design_approval")
    found = breached(result)
    assert set(found) == {"EARLY", "NEVER"} and result.checked == 3
    early = found["EARLY"]
    assert early.reason == "before_gate" and early.params["element"] == "procure_and_contract"
    assert [e["element_id"] for e in early.evidence] == ["procure_and_contract", "drc_reply"]
    assert early.params["gate_seq"] == early.evidence[1]["seq"]
    assert found["NEVER"].params["gate_seq"] is None and "no approval at all" in found["NEVER"].detail


SELF = {"within_budget": True, "goal_unchanged": True, "adjustment_ground": "optimize_tech"}


@pytest.mark.parametrize("values, breaks", [
    ({**SELF, "adjustment_amount": 80000}, False),
    ({**SELF, "adjustment_amount": 100000}, False),  # exactly 10 %
    ({**SELF, "adjustment_amount": 120000}, True),
    ({**SELF, "adjustment_amount": 50000, "adjustment_ground": "none"}, True),
    ({**SELF, "adjustment_amount": 50000, "within_budget": False}, True),
    ({**SELF, "adjustment_amount": 50000, "goal_unchanged": False}, True),
])
def test_art20_an_adjustment_beyond_the_limits_needs_drc_approval_after_it(db, checks, values, breaks):
    """The 10 % is of the design approval's amount (drc_reply in review_design)."""
    checks("WITHOUT", [("drc_reply", APPROVE), ("request_adjustment", values)])
    checks("APPROVED", [("drc_reply", APPROVE), ("request_adjustment", values),
                        ("approve_adjustment", {"adjustment_decision": "reject"})])
    result = run(db, "art20_adjustment_without_approval")
    assert set(breached(result)) == ({"WITHOUT"} if breaks else set())
    if breaks:
        breach = breached(result)["WITHOUT"]
        assert breach.reason == "missing_after" and breach.params["required"] == ["approve_adjustment"]
        assert breach.evidence[0]["element_id"] == "request_adjustment"
        assert breach.evidence[0]["data"]["values"] == values


def test_art20_the_limit_follows_an_approved_adjustment_of_the_budget(db, checks):
    checks("RAISED", [("drc_reply", APPROVE), ("approve_adjustment", {"adjustment_decision": "approve",
                                                                       "approved_budget": 2000000}),
                      ("request_adjustment", {**SELF, "adjustment_amount": 150000})])
    assert run(db, "art20_adjustment_without_approval").checked == 0  # 7.5 % of the new budget


def test_art20_an_approval_before_the_adjustment_does_not_count(db, checks):
    checks("BEFORE", [("drc_reply", APPROVE), ("approve_adjustment", {"adjustment_decision": "approve"}),
                      ("request_adjustment", {**SELF, "adjustment_amount": 200000, "adjustment_ground": "none"})])
    assert set(breached(run(db, "art20_adjustment_without_approval"))) == {"BEFORE"}


COMPLETED = {"construction_completed": True, "completion_date": "2026-03-02"}


def test_art21_an_acceptance_application_later_than_six_months(db, checks):
    checks("NONE_YET", [("report_progress", COMPLETED)])  # completed 2026-03-02 (today); the clock moves on
    checks("IN_TIME", [("report_progress", COMPLETED), 5 * MONTH, ("apply_final_acceptance", {})])
    checks("LATE", [("report_progress", COMPLETED), 7 * MONTH, ("apply_final_acceptance", {})])
    checks("NOT_DONE", [("report_progress", {"construction_completed": False})])
    result = run(db, "art21_acceptance_application_late")
    found = breached(result)
    assert set(found) == {"LATE", "NONE_YET"}
    assert found["LATE"].reason == "late" and len(found["LATE"].evidence) == 2
    assert found["NONE_YET"].reason == "overdue"
    assert found["NONE_YET"].params["due"].startswith("2026-09-02T23:59:59")  # six months after 2026-03-02


def test_art21_the_six_months_run_from_the_completion_date_reported(db, checks):
    checks("EARLIER", [("report_progress", {**COMPLETED, "completion_date": "2025-08-01"}),
                       ("apply_final_acceptance", {})])
    found = breached(run(db, "art21_acceptance_application_late"))
    assert found["EARLIER"].reason == "late" and found["EARLIER"].params["due"].startswith("2026-02-01")


def test_art21_a_missing_application_is_not_overdue_before_six_months(db, checks):
    checks("FRESH", [("report_progress", COMPLETED)])
    assert run(db, "art21_acceptance_application_late").ok


def test_art21_the_acceptance_application_needs_all_ten_materials(db, checks):
    def upload(key, fields):
        instance_id = checks(key, [])
        with db.write() as s:
            for name in fields:
                documents.add(s, instance_id, filename=f"{name}.pdf", content=PDF, user="edu_li", field=name)
        with db.write() as s:
            [task] = [t for t in services.tasks(s, instance_id=instance_id)
                      if t.element_id == "apply_final_acceptance"]
            services.complete_task(s, task.id, user="edu_li", data={}, check_access=False)

    upload("DOCS", list(compliance.ACCEPTANCE_MATERIALS))
    upload("NINE", list(compliance.ACCEPTANCE_MATERIALS)[:9])
    upload("BY_NAME", [f"attachments:{name}" for name in compliance.ACCEPTANCE_MATERIALS.values()])
    result = run(db, "art21_acceptance_materials")
    found = breached(result)
    assert set(found) == {"NINE"}
    assert found["NINE"].params["missing"] == ["审计报告"]
    assert found["NINE"].params["missing_keys"] == ["audit_report_copy"]
    assert found["NINE"].reason == "missing_materials"


def test_art21_materials_uploaded_after_the_application_do_not_count(db, checks, frozen_clock):
    late_id = checks("AFTER", [("apply_final_acceptance", {})])
    frozen_clock.advance(timedelta(days=1))
    with db.write() as s:
        for name in compliance.ACCEPTANCE_MATERIALS:
            documents.add(s, late_id, filename="x.pdf", content=PDF, user="edu_li", field=name)
    assert len(breached(run(db, "art21_acceptance_materials"))["AFTER"].params["missing"]) == 10


def test_art22_acceptance_passed_without_archive_acceptance(db, checks):
    checks("CLEAN", [("archive_acceptance", {"archive_result": "pass"}),
                     ("joint_acceptance", {"joint_acceptance_result": "pass"})])
    checks("NO_ARCHIVE", [("joint_acceptance", {"joint_acceptance_result": "pass"})])
    checks("ARCHIVE_FAILED", [("archive_acceptance", {"archive_result": "fail"}),
                              ("joint_acceptance", {"joint_acceptance_result": "pass"})])
    checks("NOT_PASSED", [("joint_acceptance", {"joint_acceptance_result": "fail"})])
    found = breached(run(db, "art22_acceptance_without_archive_acceptance"))
    assert set(found) == {"NO_ARCHIVE", "ARCHIVE_FAILED"}
    assert found["NO_ARCHIVE"].reason == "missing_before"


LIVE = {"in_operation_on": "2026-03-02"}


def test_art17_self_evaluation_missing_24_months_after_going_live(db, checks):
    checks("DONE", [("file_acceptance_report", LIVE), 13 * MONTH, ("self_evaluation", {})])
    checks("MISSING", [("file_acceptance_report", LIVE)])
    result = run(db, "art17_self_evaluation_24_months")
    assert result.ok  # the missing one is not yet 24 months live
    checks("LATE", [("file_acceptance_report", LIVE), 25 * MONTH, ("self_evaluation", {})])
    found = breached(run(db, "art17_self_evaluation_24_months"))
    assert set(found) == {"MISSING", "LATE"}
    assert found["MISSING"].reason == "overdue" and found["LATE"].reason == "late"


def test_art27_rectification_orders_past_their_deadline(db, checks, tmp_path):
    """On the test diagram the order is a task: an administrator retargets the rule (rules as data)."""
    rules = compliance.load_rules(write(tmp_path, {"rules": [
        {"id": "art27_rectification_overdue", "start": {"types": ["task_completed"], "elements": ["rectification_order"]},
         "end": {"elements": ["rectification_report"]}}]}))
    checks("ON_TIME", [("rectification_order", {"rectification_deadline": "2026-03-20"}), timedelta(days=10),
                       ("rectification_report", {})])
    checks("LATE", [("rectification_order", {"rectification_deadline": "2026-03-05"}), timedelta(days=10),
                    ("rectification_report", {})])
    checks("OPEN", [("rectification_order", {"rectification_deadline": "2026-03-10"})])
    checks("OPEN_NOT_DUE", [("rectification_order", {"rectification_deadline": "2026-12-31"})])
    found = breached(run(db, "art27_rectification_overdue", rules))
    assert set(found) == {"LATE", "OPEN"}
    assert found["LATE"].params["due"].startswith("2026-03-05T23:59:59")
    assert found["OPEN"].reason == "overdue"


# --- rules as data -----------------------------------------------------------------------------

def write(tmp_path, document) -> str:
    path = tmp_path / "compliance.json"
    path.write_text(json.dumps(document, ensure_ascii=False) if not isinstance(document, str) else document,
                    encoding="utf-8")
    return str(path)


def test_an_administrator_retargets_disables_and_adds_rules(db, checks, tmp_path):
    path = write(tmp_path, {"rules": [
        {"id": "art8_funds_before_design_approval", "guarded": {"elements": ["request_adjustment"]}},
        {"id": "art17_self_evaluation_24_months", "enabled": False},
        {"id": "local_procurement_before_completion", "article": "第十条", "title_zh": "竣工申报前须完成采购",
         "kind": "requires", "order": "before", "trigger": {"elements": ["apply_final_acceptance"]},
         "required": {"elements": ["procure_and_contract"]}}]})
    rules = compliance.load_rules(path)
    ids = [r.id for r in rules]
    assert "art17_self_evaluation_24_months" not in ids and ids[-1] == "local_procurement_before_completion"
    checks("P", [("request_adjustment", {}), ("procure_and_contract", {}), ("apply_final_acceptance", {})])
    checks("Q", [("apply_final_acceptance", {}), ("drc_reply", APPROVE)])
    assert set(breached(run(db, "art8_funds_before_design_approval", rules))) == {"P"}  # procurement no longer guarded
    assert set(breached(run(db, "local_procurement_before_completion", rules))) == {"Q"}
    assert rules[-1].source.endswith("rule 'local_procurement_before_completion' (#3)")


@pytest.mark.parametrize("document, message", [
    ('{"rules": [', "line 1 column 12: not JSON"),
    ({"rule": []}, 'expected {"rules": [...]}'),
    ({"rules": [{"kind": "deadline"}]}, "rule #1: field 'id'"),
    ({"rules": [{"id": "x", "article": "第一条", "title_zh": "t", "kind": "sometimes"}]},
     "rule 'x' (#1): field 'kind': 'sometimes' is not one of"),
    ({"rules": [{"id": "art8_funds_before_design_approval", "gate": {"elements": ["a"], "when": "${a >}"}}]},
     "rule 'art8_funds_before_design_approval' (#1): field 'gate.when'"),
    ({"rules": [{"id": "art21_acceptance_application_late", "due": None, "within": "six months"}]},
     "field 'within': "),
    ({"rules": [{"id": "art27_rectification_overdue", "within": "P1M"}]}, "give exactly one of 'within'"),
    ({"rules": [{"id": "art22_acceptance_without_archive_acceptance", "order": "later"}]}, "field 'order'"),
    ({"rules": [{"id": "art21_acceptance_materials", "trigger": {"element": ["x"]}}]}, "unknown key element"),
    ({"rules": [{"id": "art21_acceptance_materials", "enabled": "no"}]}, "field 'enabled'"),
    ({"rules": [{"id": "art8_release_within_approved_budget", "check": "${released_amount <=}"}]},
     "rule 'art8_release_within_approved_budget' (#1): field 'check'"),
    ({"rules": [{"id": "local_2", "article": "第一条", "title_zh": "t", "kind": "consistent",
                 "trigger": {"elements": ["x"]}, "check": "${a > 0}", "message_zh": "m"}]},
     "rule 'local_2' (#1): field 'field'"),
])
def test_a_mistake_in_the_rules_file_names_the_file_the_rule_and_the_field(tmp_path, document, message):
    path = write(tmp_path, document)
    with pytest.raises(ComplianceConfigError) as caught:
        compliance.load_rules(path)
    assert str(caught.value).startswith(path) and message in str(caught.value)


def test_without_a_file_the_built_in_rules_cover_the_articles(tmp_path):
    rules = compliance.load_rules(tmp_path / "none.json")
    assert [r.article for r in rules] == ["第八条", "第二十条", "第二十一条", "第二十一条", "第二十二条", "第十七条",
                                          "第二十七条", "第八条、第十九条", "第五条", "第五条", "第八条", "第十三条、第二十一条",
                                          "第二十一条", "第二十一条", "第二十一条、第二十三条", "第二十条", "第二十一条",
                                          "第二十七条", "第二十七条"]
    assert [r.kind for r in rules][7:] == ["consistent"] * 12
    assert all(r.source.startswith("built-in") for r in rules)
