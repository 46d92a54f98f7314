"""engine/demo.py: the demo projects start once, with work in the bureaus' inboxes."""
from engine.demo import seed_demo_projects

from scenario_support import deploy_all, inbox


def test_demo_projects_seed_once(db, frozen_clock):
    deploy_all(db)
    assert len(seed_demo_projects(db)) == 5
    assert seed_demo_projects(db) == []
    assert "confirm_project_basis" in inbox(db, "office")
    assert "evaluate_by_consultant" in inbox(db, "consultant")
    assert {"report_progress", "rectify_and_report", "submit_plan_entry"} <= set(inbox(db, "unit:edu"))
    assert "verify_compliance" in inbox(db, "office")
