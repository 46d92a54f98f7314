"""Each compliance check lists the projects that break it, with the events as evidence, and passes
a clean project; the checks are data an administrator changes and extends with a JSON file whose
mistakes are named by file, rule and field.

audit_checks.bpmn offers every step of a project at once (a parallel split), so a test completes
them in whatever order and at whatever time the case needs."""
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
    deploy_files(db, "audit_checks.bpmn")

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


def test_art8_funds_or_procurement_before_the_design_approval(db, checks):
    checks("CLEAN", [("design_approval", {"decision": "approve"}), ("release_construction_funds", {}),
                     ("procurement", {})])
    checks("EARLY", [("procurement", {}), ("design_approval", {"decision": "approve"})])
    checks("NEVER", [("release_construction_funds", {}), ("design_approval", {"decision": "revise"})])
    result = run(db, "art8_funds_before_design_approval")
    found = breached(result)
    assert set(found) == {"EARLY", "NEVER"} and result.checked == 3
    early = found["EARLY"]
    assert early.reason == "before_gate" and early.params["element"] == "procurement"
    assert [e["element_id"] for e in early.evidence] == ["procurement", "design_approval"]
    assert early.params["gate_seq"] == early.evidence[1]["seq"]
    assert found["NEVER"].params["gate_seq"] is None and "no approval at all" in found["NEVER"].detail


@pytest.mark.parametrize("values, breaks", [
    ({"adjustment_ratio": 0.08, "adjustment_ground": "1"}, False),
    ({"adjustment_ratio": 0.12, "adjustment_ground": "1"}, True),
    ({"adjustment_ratio": 0.05, "adjustment_ground": "4"}, True),
])
def test_art20_an_adjustment_beyond_the_limits_needs_drc_approval_after_it(db, checks, values, breaks):
    checks("WITHOUT", [("adjustment", values)])
    checks("APPROVED", [("adjustment", values), ("adjustment_approval", {"decision": "approve"})])
    result = run(db, "art20_adjustment_without_approval")
    assert set(breached(result)) == ({"WITHOUT"} if breaks else set())
    if breaks:
        breach = breached(result)["WITHOUT"]
        assert breach.reason == "missing_after" and breach.params["required"] == ["adjustment_approval"]
        assert breach.evidence[0]["element_id"] == "adjustment"
        assert breach.evidence[0]["data"]["values"] == values


def test_art20_an_approval_before_the_adjustment_does_not_count(db, checks):
    checks("BEFORE", [("adjustment_approval", {"decision": "approve"}),
                      ("adjustment", {"adjustment_ratio": 0.2, "adjustment_ground": "2"})])
    assert set(breached(run(db, "art20_adjustment_without_approval"))) == {"BEFORE"}


def test_art21_an_acceptance_application_later_than_six_months(db, checks):
    checks("NONE_YET", [("declare_completion", {})])  # declared now, 2026-03-02; the clock moves on below
    checks("IN_TIME", [("declare_completion", {}), 5 * MONTH, ("acceptance_application", {})])
    checks("LATE", [("declare_completion", {}), 7 * MONTH, ("acceptance_application", {})])
    result = run(db, "art21_acceptance_application_late")
    found = breached(result)
    assert set(found) == {"LATE", "NONE_YET"}
    assert found["LATE"].reason == "late" and len(found["LATE"].evidence) == 2
    assert found["NONE_YET"].reason == "overdue"
    assert found["NONE_YET"].params["due"].startswith("2026-09-02")  # six months after 2026-03-02


def test_art21_a_missing_application_is_not_overdue_before_six_months(db, checks):
    checks("FRESH", [("declare_completion", {})])
    assert run(db, "art21_acceptance_application_late").ok


def test_art21_the_acceptance_application_needs_all_ten_materials(db, checks):
    complete_id = checks("DOCS", [])
    with db.write() as s:
        for name in compliance.ACCEPTANCE_MATERIALS:
            documents.add(s, complete_id, filename=f"{name}.pdf", content=PDF, user="edu_li",
                          field=f"attachments:{name}")
    with db.write() as s:
        [task] = [t for t in services.tasks(s, instance_id=complete_id) if t.element_id == "acceptance_application"]
        services.complete_task(s, task.id, user="edu_li", data={}, check_access=False)
    checks("LISTED", [("acceptance_application", {"materials": list(compliance.ACCEPTANCE_MATERIALS)})])
    checks("NINE", [("acceptance_application", {"materials": list(compliance.ACCEPTANCE_MATERIALS[:9])})])
    result = run(db, "art21_acceptance_materials")
    found = breached(result)
    assert set(found) == {"NINE"}
    assert found["NINE"].params["missing"] == ["审计报告"]
    assert found["NINE"].reason == "missing_materials"


def test_art21_materials_uploaded_after_the_application_do_not_count(db, checks, frozen_clock):
    late_id = checks("AFTER", [("acceptance_application", {})])
    frozen_clock.advance(timedelta(days=1))
    with db.write() as s:
        for name in compliance.ACCEPTANCE_MATERIALS:
            documents.add(s, late_id, filename="x.pdf", content=PDF, user="edu_li", field=name)
    assert len(breached(run(db, "art21_acceptance_materials"))["AFTER"].params["missing"]) == 10


def test_art22_acceptance_passed_without_archive_acceptance(db, checks):
    checks("CLEAN", [("archive_acceptance", {"archive_passed": True}),
                     ("joint_acceptance", {"acceptance_passed": True})])
    checks("NO_ARCHIVE", [("joint_acceptance", {"acceptance_passed": True})])
    checks("ARCHIVE_FAILED", [("archive_acceptance", {"archive_passed": False}),
                              ("joint_acceptance", {"acceptance_passed": True})])
    checks("NOT_PASSED", [("joint_acceptance", {"acceptance_passed": False})])
    found = breached(run(db, "art22_acceptance_without_archive_acceptance"))
    assert set(found) == {"NO_ARCHIVE", "ARCHIVE_FAILED"}
    assert found["NO_ARCHIVE"].reason == "missing_before"


def test_art17_self_evaluation_missing_24_months_after_going_live(db, checks):
    checks("DONE", [("joint_acceptance", {"acceptance_passed": True}), 13 * MONTH, ("self_evaluation", {})])
    checks("MISSING", [("joint_acceptance", {"acceptance_passed": True})])
    result = run(db, "art17_self_evaluation_24_months")
    assert result.ok  # the missing one is not yet 24 months live
    checks("LATE", [("joint_acceptance", {"acceptance_passed": True}), 25 * MONTH, ("self_evaluation", {})])
    found = breached(run(db, "art17_self_evaluation_24_months"))
    assert set(found) == {"MISSING", "LATE"}
    assert found["MISSING"].reason == "overdue" and found["LATE"].reason == "late"


def test_art27_rectification_orders_past_their_deadline(db, checks):
    checks("ON_TIME", [("rectification_order", {"rectification_deadline": "2026-03-20"}), timedelta(days=10),
                       ("rectification_report", {})])
    checks("LATE", [("rectification_order", {"rectification_deadline": "2026-03-05"}), timedelta(days=10),
                    ("rectification_report", {})])
    checks("OPEN", [("rectification_order", {"rectification_deadline": "2026-03-10"})])
    checks("OPEN_NOT_DUE", [("rectification_order", {"rectification_deadline": "2026-12-31"})])
    found = breached(run(db, "art27_rectification_overdue"))
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
        {"id": "art8_funds_before_design_approval", "guarded": {"elements": ["adjustment"]}},
        {"id": "art17_self_evaluation_24_months", "enabled": False},
        {"id": "local_procurement_before_completion", "article": "第十条", "title_zh": "竣工申报前须完成采购",
         "kind": "requires", "order": "before", "trigger": {"elements": ["declare_completion"]},
         "required": {"elements": ["procurement"]}}]})
    rules = compliance.load_rules(path)
    ids = [r.id for r in rules]
    assert "art17_self_evaluation_24_months" not in ids and ids[-1] == "local_procurement_before_completion"
    checks("P", [("adjustment", {}), ("procurement", {}), ("declare_completion", {})])
    checks("Q", [("declare_completion", {}), ("design_approval", {"decision": "approve"})])
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
    ({"rules": [{"id": "art21_acceptance_application_late", "within": "six months"}]},
     "field 'within': "),
    ({"rules": [{"id": "art27_rectification_overdue", "within": "P1M"}]}, "give exactly one of 'within'"),
    ({"rules": [{"id": "art22_acceptance_without_archive_acceptance", "order": "later"}]}, "field 'order'"),
    ({"rules": [{"id": "art21_acceptance_materials", "trigger": {"element": ["x"]}}]}, "unknown key element"),
    ({"rules": [{"id": "art21_acceptance_materials", "enabled": "no"}]}, "field 'enabled'"),
])
def test_a_mistake_in_the_rules_file_names_the_file_the_rule_and_the_field(tmp_path, document, message):
    path = write(tmp_path, document)
    with pytest.raises(ComplianceConfigError) as caught:
        compliance.load_rules(path)
    assert str(caught.value).startswith(path) and message in str(caught.value)


def test_without_a_file_the_built_in_rules_cover_the_articles(tmp_path):
    rules = compliance.load_rules(tmp_path / "none.json")
    assert [r.article for r in rules] == ["第八条", "第二十条", "第二十一条", "第二十一条", "第二十二条", "第十七条",
                                          "第二十七条"]
    assert all(r.source.startswith("built-in") for r in rules)
