"""Driving the real bpmn/ files through the engine's services as the officials of the 办法."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine import clock, services
from engine.definitions import BundleFile

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
CODE = "2026-150621-65-01-000123"


def bpmn_bundle() -> list[BundleFile]:
    files = sorted(p for p in BPMN.iterdir() if p.suffix in (".bpmn", ".dmn", ".form"))
    return [BundleFile(p.name, p.read_bytes()) for p in files]


def deploy_all(db):
    with db.write() as s:
        return services.deploy(s, bpmn_bundle(), name="办法", user="admin")


def start(db, key, business_key=None, user="office", **variables) -> int:
    with db.write() as s:
        return services.start_process(s, key, business_key=business_key, variables=variables, user=user).id


def offered(db, instance_id=None) -> list[tuple[str, list[str]]]:
    """(element, candidate groups) of every ready task, in inbox order."""
    with db.read() as s:
        return [(t.element_id, t.candidate_groups) for t in services.tasks(s, instance_id=instance_id)]


def inbox(db, group, instance_id=None) -> list[str]:
    with db.read() as s:
        return [t.element_id for t in services.tasks(s, groups=[group], instance_id=instance_id)]


def work(db, group, element, data=None, instance_id=None, user=None):
    """Complete the ready task `element` offered to `group` as a member of `group`."""
    with db.read() as s:
        found = [t for t in services.tasks(s, groups=[group], instance_id=instance_id) if t.element_id == element]
    assert found, f"{element} is not offered to {group}: {offered(db, instance_id)}"
    with db.write() as s:
        services.complete_task(s, found[0].id, user=user or group.replace("unit:", ""), data=data or {},
                               groups=[group])


def variables(db, instance_id) -> dict:
    with db.read() as s:
        return dict(services.instance(s, instance_id).variables)


def status(db, instance_id) -> str:
    with db.read() as s:
        return services.instance(s, instance_id).status


def move_to(db, when: datetime) -> int:
    clock.set_time(when)
    return services.fire_due_timers(db)


SUBMISSION = {"document_title": "智慧教育平台可行性研究报告", "necessity": "现有系统分散，需统一建设",
              "content_scale": "统一身份认证、数据中台", "investment_amount": 1800000,
              "unified_access": "部署于政务云，接入视图信息综合应用平台和城市集中运行指挥中心",
              "sharing_analysis": "向共享平台提供学籍数据 12 项", "security_measures": "等保三级",
              "crypto_plan": "商用密码应用方案", "secure_products": "国产服务器和数据库"}


def pass_stage(db, pid, *, code=CODE, decision="approve", amount=1800000, office="pass", classified=False):
    """One stage review: the unit submits, the consultant evaluates, office and cac review, drc replies."""
    work(db, "unit:edu", "submit_stage_document", SUBMISSION, pid)
    work(db, "consultant", "evaluate_by_consultant", {
        "consultant_sharing_opinion": "共享分析充分", "consultant_security_opinion": "安全措施可行",
        "consultant_conclusion": "recommend"}, pid)
    work(db, "office", "technical_review", {"office_review_opinion": "同意", "construction_mode": "self",
                                            "office_conclusion": office}, pid)
    work(db, "cac", "security_review", {"cac_review_opinion": "同意", "cac_conclusion": "pass"}, pid)
    if classified:
        work(db, "secrecy", "secrecy_review", {"secrecy_review_opinion": "同意", "secrecy_conclusion": "pass"}, pid)
    if office != "pass":
        return
    work(db, "drc", "drc_reply", {"drc_decision": decision, "reply_no": "达发改审批字〔2026〕12号",
                                  "reply_date": "2026-04-01", "project_code": code, "approved_amount": amount,
                                  "approved_completion_date": "2026-12-31", "drc_opinion": "同意"}, pid)


def declare_project(db, project_id="P-2026-010", *, in_plan=False, emergency=False, simple=False, classified=False,
                    cross_department=False, **extra) -> int:
    """The unit declares a project by hand; the office confirms the approval conditions."""
    pid = start(db, "project", project_id, user="edu", project_id=project_id, project_name="智慧教育平台",
                unit="edu", category="software", nature="new", estimated_budget=1800000, **extra)
    work(db, "office", "confirm_project_basis", {"in_plan": in_plan, "emergency": emergency, "simple": simple,
                                                 "cross_department": cross_department, "classified": classified,
                                                 "basis_opinion": "确认"}, pid)
    return pid


def build_until_progress(db, pid):
    """Funds released, implementing body, procurement and supervisor: the first progress report is due."""
    work(db, "finance", "release_construction_funds", {"released_amount": 1800000, "release_doc_no": "达财预〔2026〕8号",
                                                       "release_date": "2026-04-10"}, pid)
    work(db, "unit:edu", "appoint_implementing_body", {
        "implementing_body": "信息中心", "responsible_person": "王伟", "responsible_phone": "0477-1234567",
        "management_rules": True, "security_management": "制度", "crypto_sync": "同步", "cloud_usage": "政务云"}, pid)
    if variables(db, pid).get("classified"):
        work(db, "secrecy", "review_classified_procurement", {"procurement_secrecy_opinion": "同意",
                                                              "procurement_secrecy_conclusion": "pass"}, pid)
    work(db, "unit:edu", "procure_and_contract", {"procurement_method": "open_tender", "supplier": "某公司",
                                                  "contract_no": "HT-1", "contract_amount": 1750000}, pid)
    work(db, "unit:edu", "appoint_supervisor", {"supervisor_name": "某监理", "supervision_contract_no": "JL-1",
                                                "supervision_fee": 30000}, pid)


PROGRESS = {"progress_percent": 50, "spent_total": 800000, "platform_updated": True, "progress_note": "开发中",
            "serious_problem": False, "adjustment_needed": False, "construction_completed": False}


def complete_construction(db, pid, completion_date="2026-10-15"):
    work(db, "unit:edu", "report_progress", {**PROGRESS, "progress_percent": 100, "spent_total": 1700000,
                                             "construction_completed": True, "completion_date": completion_date}, pid)
    work(db, "unit:edu", "preliminary_acceptance", {"preliminary_acceptance_date": completion_date,
                                                    "preliminary_passed": True}, pid)


def apply_for_acceptance(db, pid):
    work(db, "audit", "issue_audit_report", {"audit_opinion": "资金使用合规"}, pid)
    work(db, "unit:edu", "apply_final_acceptance", {"application_date": "2026-11-20"}, pid)


JOINT_PASS = {"secure_products_check": "ok", "crypto_security_check": "ok", "energy_efficiency_check": "na",
              "joint_acceptance_result": "pass", "joint_acceptance_opinion": "通过"}


def instance_by_key(db, key: str, business_key: str):
    """The id of the instance of process `key` with this business key (None if there is none)."""
    from sqlalchemy import select

    from engine.models import ProcessDefinition, ProcessInstance
    with db.read() as s:
        return s.scalar(select(ProcessInstance.id).join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                        .where(ProcessDefinition.key == key, ProcessInstance.business_key == business_key))


# An Art 5 plan entry as a department submits it (its name and budget come with each use).
ENTRY = {"basis": "数字达拉特规划第三章", "nature": "new", "category": "software", "schedule": "2027年建成",
         "cloud_needs": "8核32G 四台", "sharing": "向共享平台提供目录 12 项", "network_needs": "电子政务外网",
         "om_support": "运维外包", "follows_plan": True, "plan_clause": "教育数字化"}
