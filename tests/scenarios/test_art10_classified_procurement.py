"""Art 10 (with Art 13's secure products): the secrecy bureau's review of a classified system's
procurement can refuse; the unit revises its procurement and the review runs again.

第十条：……招标采购涉密信息系统的，应当执行保密有关法律法规规定。
"""
from scenario_support import deploy_all, declare_project, inbox, offered, pass_stage, work

APPOINT = {"implementing_body": "信息中心", "responsible_person": "王伟", "responsible_phone": "0477-1234567",
           "management_rules": True, "security_management": "制度", "crypto_sync": "同步", "cloud_usage": "政务云"}


def test_the_secrecy_review_of_a_classified_procurement_can_refuse(db, frozen_clock):
    deploy_all(db)
    pid = declare_project(db, "P-2026-101", in_plan=True, classified=True)
    pass_stage(db, pid, classified=True)
    pass_stage(db, pid, classified=True)
    work(db, "finance", "release_construction_funds", {"released_amount": 1800000, "release_doc_no": "达财预〔2026〕8号",
                                                       "release_date": "2026-04-10"}, pid)
    work(db, "unit:edu", "appoint_implementing_body", APPOINT, pid)
    work(db, "secrecy", "review_classified_procurement", {"procurement_secrecy_opinion": "境外产品不得采购",
                                                          "procurement_secrecy_conclusion": "refuse"}, pid)
    assert offered(db, pid) == [("revise_classified_procurement", ["unit:edu"])]
    work(db, "unit:edu", "revise_classified_procurement", {"procurement_revision": "改为国产安全可靠产品"}, pid)
    assert inbox(db, "secrecy", pid) == ["review_classified_procurement"]
    work(db, "secrecy", "review_classified_procurement", {"procurement_secrecy_opinion": "同意",
                                                          "procurement_secrecy_conclusion": "pass"}, pid)
    assert inbox(db, "unit:edu", pid) == ["procure_and_contract"]
