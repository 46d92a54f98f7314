"""P5: the 数字达拉特规划 drafted with the departments and approved by the government (Art 4); a major
change of circumstances starts a revision."""
from engine import services

from scenario_support import deploy_all, inbox, offered, start, status, variables, work


def _round(db, iid, decision):
    work(db, "office", "draft_plan", {"plan_draft": "plan_draft.pdf", "draft_summary": "一网通办、一网统管", "plan_draft": "规划草案.pdf"}, iid)
    assert sorted(g for _, gs in offered(db, iid) for g in gs) == ["unit:edu", "unit:health"]
    work(db, "unit:edu", "give_department_opinion", {"department_needs": "智慧教育", "department_plan_aligned": True}, iid)
    work(db, "unit:health", "give_department_opinion", {"department_needs": "健康档案", "department_plan_aligned": False}, iid)
    work(db, "office", "finalize_plan", {"plan_final": "plan_final.pdf", "evaluation_opinion": "论证充分"}, iid)
    work(db, "government", "approve_planning", {"planning_decision": decision, "planning_doc_no": "达政发〔2026〕1号",
                                                "planning_opinion": "意见"}, iid)


def test_planning_drafted_returned_once_then_approved(db, frozen_clock):
    deploy_all(db)
    iid = start(db, "planning", "PLAN-2026-2030", plan_period="2026—2030", planning_kind="draft",
                department_codes="edu,health")
    _round(db, iid, "return")
    assert inbox(db, "office", iid) == ["draft_plan"]
    _round(db, iid, "approve")
    assert status(db, iid) == "completed"
    assert len(variables(db, iid)["department_opinions"]) == 2


def test_a_major_change_starts_a_revision(db, frozen_clock):
    deploy_all(db)
    with db.write() as s:
        iid = services.correlate_message(s, "planning_major_change", business_key="PLAN-2026-2030-R1", variables={
            "change_description": "自治区出台新的数字政府规划", "department_codes": "edu,health",
            "plan_period": "2026—2030"}, user="office").instance.id
    assert inbox(db, "office", iid) == ["draft_plan"]
    _round(db, iid, "approve")
    assert status(db, iid) == "completed"
