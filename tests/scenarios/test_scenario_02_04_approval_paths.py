"""Scenarios 2-4: the approval path decision (Art 5+) as the office's answers feed it."""

from scenario_support import declare_project, inbox, offered, pass_stage, variables



def test_02_project_outside_the_plan_goes_proposal_feasibility_design(db, frozen_clock):
    from scenario_support import deploy_all
    deploy_all(db)
    pid = declare_project(db)
    assert variables(db, pid)["approval_path"] == "full"
    assert offered(db, pid) == [("submit_stage_document", ["unit:edu"])]
    pass_stage(db, pid)
    assert variables(db, pid)["proposal_decision"] == "approve"
    pass_stage(db, pid)
    assert variables(db, pid)["feasibility_decision"] == "approve"
    pass_stage(db, pid)
    assert variables(db, pid)["design_decision"] == "approve"
    assert inbox(db, "finance", pid) == ["release_construction_funds"]


def test_03_emergency_project_skips_the_proposal(db, frozen_clock):
    from scenario_support import deploy_all
    deploy_all(db)
    pid = declare_project(db, "P-2026-011", emergency=True)
    assert variables(db, pid)["approval_path"] == "no_proposal"
    pass_stage(db, pid)
    v = variables(db, pid)
    assert v["feasibility_decision"] == "approve" and "proposal_decision" not in v
    pass_stage(db, pid)
    assert inbox(db, "finance", pid) == ["release_construction_funds"]


def test_04_small_simple_project_has_one_combined_review_even_when_plan_listed(db, frozen_clock):
    from scenario_support import deploy_all
    deploy_all(db)
    pid = declare_project(db, "P-2026-012", simple=True, in_plan=True)
    assert variables(db, pid)["approval_path"] == "simplified"  # FIRST: the simplest path wins
    pass_stage(db, pid)
    v = variables(db, pid)
    assert (v["combined_decision"], v["approved_budget"]) == ("approve", 1800000)
    assert "feasibility_decision" not in v and "design_decision" not in v
    assert inbox(db, "finance", pid) == ["release_construction_funds"]
