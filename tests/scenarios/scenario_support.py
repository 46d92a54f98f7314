"""Driving the real bpmn/ files through the engine's services as the officials of the 办法."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine import clock, documents, services
from engine.definitions import BundleFile
from forms import submission

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


PDF = b"%PDF-1.4\n% scenario document\n"


class FormRefused(AssertionError):
    """The task page would refuse this submission: `errors` per field, `missing` materials."""

    def __init__(self, element, errors, missing):
        self.errors, self.missing = errors, missing
        super().__init__(f"{element}: form refused: errors {errors}, missing materials {missing}")


def _as_typed(value) -> str:
    """A value as an official types it into the form (a ticked box is "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def work(db, group, element, data=None, instance_id=None, user=None):
    """Complete the ready task `element` offered to `group` as a member of `group`, through the
    task page's own checks (forms/submission.py): the values go in as typed text, a file field's
    value is the name of a document uploaded for it first; what the page refuses raises FormRefused."""
    with db.read() as s:
        found = [t for t in services.tasks(s, groups=[group], instance_id=instance_id) if t.element_id == element]
    assert found, f"{element} is not offered to {group}: {offered(db, instance_id)}"
    user = user or group.replace("unit:", "")
    with db.write() as s:
        task = services.user_task(s, found[0].id)
        specs = {spec.id: spec for spec in submission.check(s, task, {}, typed_values=False).specs}
        form = {}
        for key, value in (data or {}).items():
            if key in specs and specs[key].type == "file":
                documents.add(s, task.instance_id, filename=value, content=PDF, user=user, task_id=task.id, field=key)
            else:
                form[key] = _as_typed(value)
        checked = submission.check(s, task, form, typed_values=False)
        if not checked.ok:
            raise FormRefused(element, checked.errors, checked.missing)
        services.complete_task(s, task.id, user=user, data=checked.variables, groups=[group])


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
              "crypto_plan": "商用密码应用方案", "secure_products": "国产服务器和数据库",
              "stage_document": "申报文件.pdf"}


def pass_stage(db, pid, *, code=CODE, decision="approve", amount=1800000, office="pass", classified=False):
    """One stage review: the unit submits, the consultant evaluates, office and cac review, drc replies."""
    work(db, "unit:edu", "submit_stage_document", SUBMISSION, pid)
    work(db, "consultant", "evaluate_by_consultant", {"consultant_report": "评估报告.pdf",
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


def add_by_plan_change(db, project_id, decision="approve") -> int:
    """Art 5: the leading group approves adding a declared project to the fixed annual plan."""
    cid = start(db, "plan_change", f"CHANGE-{project_id}", user="office", plan_year=2026, project_id=project_id,
                special_circumstances="上级部署，须年内建设", change_content=f"增列项目 {project_id}", budget_change=1800000)
    work(db, "leading_group", "decide_plan_change", {"change_decision": decision, "change_minutes_no": "领导小组纪要〔2026〕5号",
                                                     "change_opinion": "同意增列"}, cid)
    if decision == "approve":
        work(db, "finance", "adjust_special_funds", {"adjusted_funds": 1800000, "adjust_doc_no": "达财预〔2026〕9号"}, cid)
    return cid


def declare_project(db, project_id="P-2026-010", *, in_plan=False, emergency=False, simple=False, classified=False,
                    cross_department=False, planned=True, **extra) -> int:
    """The unit declares a project by hand; the leading group adds it to the year's plan (unless
    `planned` is false); the office confirms the approval conditions."""
    pid = start(db, "project", project_id, user="edu", project_id=project_id, project_name="智慧教育平台",
                unit="edu", category="software", nature="new", estimated_budget=1800000, **extra)
    if planned:
        add_by_plan_change(db, project_id)
    work(db, "office", "confirm_project_basis", {"in_plan": in_plan, "emergency": emergency, "simple": simple,
                                                 "cross_department": cross_department, "classified": classified,
                                                 "plan_basis": "数字达拉特规划第三章" if in_plan else "",
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
                                                  "contract_no": "HT-1", "contract_amount": 1750000,
                                                  "contract_file": "合同.pdf"}, pid)
    work(db, "unit:edu", "appoint_supervisor", {"supervisor_name": "某监理", "supervision_contract_no": "JL-1",
                                                "supervision_fee": 30000, "supervision_contract": "监理合同.pdf"}, pid)


PROGRESS = {"progress_percent": 50, "spent_total": 800000, "platform_updated": True, "progress_note": "开发中",
            "serious_problem": False, "adjustment_needed": False, "construction_completed": False}


def complete_construction(db, pid, completion_date="2026-10-15"):
    work(db, "unit:edu", "report_progress", {**PROGRESS, "progress_percent": 100, "spent_total": 1700000,
                                             "construction_completed": True, "completion_date": completion_date}, pid)
    work(db, "unit:edu", "preliminary_acceptance", {"preliminary_acceptance_date": completion_date,
                                                    "preliminary_passed": True, "preliminary_opinion": "初验意见.pdf"}, pid)


def apply_for_acceptance(db, pid):
    if variables(db, pid).get("bureau_audit_required"):
        work(db, "audit", "issue_audit_report", {"audit_opinion": "资金使用合规", "audit_report": "审计报告.pdf"}, pid)
    work(db, "unit:edu", "apply_final_acceptance", {"application_date": "2026-11-20", **ACCEPTANCE_FILES}, pid)


# The ten materials of Art 21, each uploaded as its file field of apply_final_acceptance.
ACCEPTANCE_FILES = {key: f"{key}.pdf" for key in (
    "preliminary_acceptance_opinion", "leadership_minutes", "acceptance_report", "construction_summary",
    "tender_contract_materials", "process_documents", "financial_report", "security_assessment_report",
    "crypto_assessment_report", "audit_report_copy")}


def under_construction(db, project_id) -> int:
    """A plan-listed project approved (feasibility, design: 1,800,000), funded and procured: its first
    progress report is due."""
    pid = declare_project(db, project_id, in_plan=True)
    pass_stage(db, pid)
    pass_stage(db, pid)
    build_until_progress(db, pid)
    return pid


def accepted_project(db, project_id) -> int:
    """A project built, accepted (Art 21-22) and in operation since 2026-12-01."""
    pid = under_construction(db, project_id)
    complete_construction(db, pid)
    apply_for_acceptance(db, pid)
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
    work(db, "office", "joint_acceptance", JOINT_PASS, pid)
    work(db, "unit:edu", "file_acceptance_report", {"final_acceptance_report": "验收报告.pdf",
                                                    "in_operation_on": "2026-12-01"}, pid)
    return pid


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


def task_page(db, instance_id, element) -> str:
    """The visible text of the page of the ready task `element`, as an official of `office` (who sees
    every task) opens it in the browser."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
    from test_ui_fixtures import login, text_of  # the UI tests' own helpers

    from engine import bureaus, users
    from web import create_app
    with db.write() as s:
        bureaus.ensure_bureaus(s)
        if users.find_user(s, "office_chen") is None:
            users.add_user(s, "office_chen", "correct-horse-7", bureaus=["office"], roles=[])
    app = create_app(db=db)
    app.config.update(TESTING=True, SECRET_KEY="test-secret-key")
    client = app.test_client()
    login(client, "office_chen", "correct-horse-7")
    with db.read() as s:
        [task] = [t for t in services.tasks(s, instance_id=instance_id) if t.element_id == element][:1]
    return text_of(client.get(f"/tasks/{task.id}"))
