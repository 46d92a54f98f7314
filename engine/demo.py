"""Demo projects of the 办法 at different stages, so that every bureau's inbox has work (`dalad demo-seed --projects`).

Needs the diagrams of bpmn/ deployed. Idempotent: a demo business key that already exists is left alone.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import clock, services
from engine.models import ProcessInstance

CODE = "2026-150621-65-01-000901"
SUBMISSION = {"document_title": "可行性研究报告", "necessity": "现有系统分散，需统一建设", "content_scale": "统一身份认证、数据中台",
              "investment_amount": 1800000, "unified_access": "部署于政务云，接入视图信息综合应用平台和城市集中运行指挥中心",
              "sharing_analysis": "向共享平台提供数据 12 项", "security_measures": "等保三级", "crypto_plan": "商用密码应用方案",
              "secure_products": "国产服务器和数据库"}


def _exists(session, business_key: str) -> bool:
    return session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == business_key)) is not None


def _work(db, iid: int, group: str, element: str, data: dict) -> None:
    with db.read() as s:
        found = [t for t in services.tasks(s, groups=[group], instance_id=iid) if t.element_id == element]
    if not found:
        raise RuntimeError(f"demo: {element} is not offered to {group} in instance {iid}")
    with db.write() as s:
        services.complete_task(s, found[0].id, user=group.replace("unit:", ""), data=data, groups=[group])


def _stage(db, iid: int, unit: str) -> None:
    _work(db, iid, f"unit:{unit}", "submit_stage_document", SUBMISSION)
    _work(db, iid, "consultant", "evaluate_by_consultant", {"consultant_sharing_opinion": "充分",
                                                           "consultant_security_opinion": "可行",
                                                           "consultant_conclusion": "recommend"})
    _work(db, iid, "office", "technical_review", {"office_review_opinion": "同意", "construction_mode": "self",
                                                 "office_conclusion": "pass"})
    _work(db, iid, "cac", "security_review", {"cac_review_opinion": "同意", "cac_conclusion": "pass"})
    _work(db, iid, "drc", "drc_reply", {"drc_decision": "approve", "reply_no": "达发改审批字〔2026〕90号",
                                        "reply_date": "2026-04-01", "project_code": CODE, "approved_amount": 1800000,
                                        "approved_completion_date": "2026-12-31", "drc_opinion": "同意"})


def _declare(db, key: str, name: str, unit: str, planned: bool = False) -> int:
    """A project declared by its unit, or (`planned`) started by the 2026 annual plan."""
    variables = {"project_id": key, "project_name": name, "unit": unit, "category": "software", "nature": "new",
                 "estimated_budget": 1800000}
    with db.write() as s:
        if planned:
            iid = services.correlate_message(s, "project_planned", business_key=key, user="office",
                                             variables={**variables, "plan_year": 2026, "in_plan": True}).instance.id
        else:
            iid = services.start_process(s, "project", business_key=key, user=unit, variables=variables).id
    _work(db, iid, "office", "confirm_project_basis", {"in_plan": True, "emergency": False, "simple": False,
                                                       "cross_department": False, "classified": False,
                                                       "plan_basis": "数字达拉特规划第三章", "basis_opinion": "已列入数字达拉特规划"})
    return iid


def seed_demo_projects(db) -> list[str]:
    """Start the demo instances that are not there yet; return their business keys."""
    added = []
    with db.read() as s:
        missing = [k for k in ("DEMO-P-001", "DEMO-P-002", "DEMO-P-003", "DEMO-PLAN-2027", "DEMO-OM-001")
                   if not _exists(s, k)]
    if "DEMO-P-001" in missing:  # planned, waiting for the office to confirm its basis
        with db.write() as s:
            services.correlate_message(s, "project_planned", business_key="DEMO-P-001", user="office", variables={
                "project_id": "DEMO-P-001", "project_name": "智慧教育平台（演示）", "unit": "edu", "category": "software",
                "nature": "new", "estimated_budget": 1800000, "plan_year": 2026, "in_plan": True})
        added.append("DEMO-P-001")
    if "DEMO-P-002" in missing:  # feasibility study submitted, with the consultant
        iid = _declare(db, "DEMO-P-002", "卫生健康数据归集（演示）", "health")
        _work(db, iid, "unit:health", "submit_stage_document", SUBMISSION)
        added.append("DEMO-P-002")
    if "DEMO-P-003" in missing:  # under construction, and under a rectification order from cac
        iid = _declare(db, "DEMO-P-003", "教育城域网升级（演示）", "edu", planned=True)
        _stage(db, iid, "edu")
        _stage(db, iid, "edu")
        _work(db, iid, "finance", "release_construction_funds", {"released_amount": 1800000,
                                                                 "release_doc_no": "达财预〔2026〕90号",
                                                                 "release_date": "2026-04-10"})
        _work(db, iid, "unit:edu", "appoint_implementing_body", {
            "implementing_body": "信息中心", "responsible_person": "王伟", "responsible_phone": "0477-1234567",
            "management_rules": True, "security_management": "制度", "crypto_sync": "同步", "cloud_usage": "政务云"})
        _work(db, iid, "unit:edu", "procure_and_contract", {"procurement_method": "open_tender", "supplier": "某公司",
                                                            "contract_no": "HT-90", "contract_amount": 1750000})
        _work(db, iid, "unit:edu", "appoint_supervisor", {"supervisor_name": "某监理", "supervision_contract_no": "JL-90",
                                                          "supervision_fee": 30000})
        with db.write() as s:
            services.start_process(s, "supervision", business_key="DEMO-SV-003", user="cac", variables={
                "project_id": "DEMO-P-003", "project_name": "教育城域网升级（演示）", "unit": "edu", "issuer": "cac",
                "problem": "未开展密码应用安全性评估", "article": "第十二条、第二十七条",
                "rectification_deadline": (clock.today() + timedelta(days=60)).isoformat()})  # Art 27: ahead
        added.append("DEMO-P-003")
    if "DEMO-PLAN-2027" in missing:  # the annual plan's call, departments submitting
        with db.write() as s:
            iid = services.start_process(s, "annual_plan", business_key="DEMO-PLAN-2027", user="office").id
        _work(db, iid, "office", "open_call", {"plan_year": 2027, "department_codes": "edu,health",
                                               "submission_deadline": "2026-12-31"})
        added.append("DEMO-PLAN-2027")
    if "DEMO-OM-001" in missing:  # an upgrade of a built system, its sharing and security to verify (Art 24)
        with db.write() as s:
            services.start_process(s, "om_funding", business_key="DEMO-OM-001", user="edu", variables={
                "unit": "edu", "system_name": "学籍管理系统（演示）", "request_kind": "upgrade",
                "requested_amount": 200000, "request_reason": "年度运维", "legal_ground_claimed": False})
        added.append("DEMO-OM-001")
    return added
