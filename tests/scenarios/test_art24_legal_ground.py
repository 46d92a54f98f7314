"""Art 24's exception for a system that does not share: the government's approval lets the unit build
or keep it, never funds construction outside the annual plan; an exception the office or the
government did not accept bars the system like a refusal, on the next annual plan's review page.

第二十四条：……如部门认为根据有关法律法规和旗委、旗人民政府要求不能信息共享，但确有必要建设或保留的，
由领导小组办公室审核，报旗人民政府批准后方可建设或保留。
(一)对未按要求共享数据资源或重复采集数据的信息化系统，不单独安排运行维护经费，项目建设单位不得新建、改建、扩建政务信息系统。
第五条、第八条：建设资金经年度建设计划和初步设计、投资概算批复后下达。
"""
import pytest

from engine import projects
from scenario_support import ENTRY, deploy_all, inbox, offered, start, status, task_page, variables, work

APPLICATION = {"unit": "edu", "system_name": "学籍管理系统", "requested_amount": 3000000,
               "request_reason": "改造学籍系统", "legal_ground_claimed": True,
               "legal_ground": "《未成年人保护法》：学生个人信息不得对外共享"}
NOT_SHARING = {"shares_data": False, "duplicate_collection": False, "crypto_security_compliant": True,
               "major_hidden_danger": False, "compliance_note": "未接入共享平台"}


def _exception(db, key, kind, office="submit", government=None) -> int:
    """A unit claims the legal ground for `kind`; the office reviews it, the government decides."""
    oid = start(db, "om_funding", key, user="edu", request_kind=kind, **APPLICATION)
    work(db, "office", "verify_compliance", NOT_SHARING, oid)
    assert variables(db, oid)["om_decision"]["eligibility"] == "legal_ground"
    work(db, "office", "review_legal_ground", {"legal_ground_review": office, "approved_om_amount": 0,
                                               "legal_ground_opinion": "依据不足" if office == "reject" else "属实"}, oid)
    if government:
        work(db, "government", "approve_exception", {"government_decision": government,
                                                     "government_doc_no": "达政字〔2026〕7号",
                                                     "government_opinion": "同意" if government == "approve" else "不同意"},
             oid)
    return oid


@pytest.mark.parametrize("kind", ["upgrade", "new"])
def test_an_approved_exception_to_build_goes_to_the_plan_not_to_finance(db, frozen_clock, kind):
    deploy_all(db)
    oid = _exception(db, f"OM-EX-{kind}", kind, government="approve")
    assert offered(db, oid) == [] and inbox(db, "finance", oid) == []
    assert status(db, oid) == "completed" and "arranged_amount" not in variables(db, oid)


def test_refused_and_approved_exceptions_show_in_the_next_plans_review(db, frozen_clock):
    deploy_all(db)
    _exception(db, "OM-EX-1", "upgrade", office="reject")  # the office does not accept the ground
    _exception(db, "OM-EX-2", "new", government="reject")  # the government does not approve
    approved = _exception(db, "OM-EX-3", "new", government="approve")
    with db.read() as s:
        found = projects.plan_findings(s, ["edu"], 2027)
    assert sorted((f.kind, f.instance_id) for f in found if f.kind == "om_exception") == [("om_exception", approved)]
    assert len([f for f in found if f.kind == "om_refused"]) == 2
    aid = start(db, "annual_plan", "PLAN-2027")
    work(db, "office", "open_call", {"plan_year": 2027, "department_codes": "edu",
                                     "submission_deadline": "2026-09-30"}, aid)
    work(db, "unit:edu", "submit_plan_entry", {**ENTRY, "entry_name": "学籍管理系统升级", "estimated_budget": 600000,
                                               "nature": "upgrade"})
    page = task_page(db, aid, "review_plan_entry")
    assert page.count("第二十四条不予安排（不得新建、改建、扩建）：学籍管理系统") == 2
    assert "第二十四条例外经旗人民政府批准（方可建设或保留）：学籍管理系统" in page
