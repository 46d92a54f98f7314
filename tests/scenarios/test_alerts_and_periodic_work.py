"""The deadlines that raise alerts and the periodic work of the 办法: the monthly progress report
(Art 9), the approved completion period (Art 21), the Art 18 rectification deadline; drc's quarterly
summary (Art 9); the post-evaluation commissioned jointly by the office, drc and finance (Art 17).

第九条：旗发展和改革委员会通过……监管平台定期汇总信息化建设项目，并提交领导小组办公室，由领导小组办公室负责项目日常调度。
第十八条：项目建设过程中出现工程严重逾期、投资重大损失等问题的……审批部门按照有关规定要求项目建设单位整改或暂停项目建设。
第十七条：旗大数据中心联合旗发展和改革委员会、旗财政局结合项目建设单位自评价情况，可以委托相应的第三方咨询机构开展后评价。
"""
from datetime import datetime

import pytest

from scenario_support import (PROGRESS, accepted_project, deploy_all, inbox, move_to, status, under_construction,
                              work)


def _alerts(db, group):
    return [e for e in inbox(db, group) if e.endswith("_follow_up")]


def test_a_monthly_progress_report_not_made_alerts_office_and_drc(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-601")  # the first report is due a month from today, 2026-04-02
    move_to(db, datetime(2026, 4, 2, 18))
    assert _alerts(db, "office") == [] and _alerts(db, "drc") == []
    move_to(db, datetime(2026, 4, 3, 9))
    assert (_alerts(db, "office"), _alerts(db, "drc")) == (["office_follow_up"], ["drc_follow_up"])
    assert "report_progress" in inbox(db, "unit:edu", pid)  # the report is still due


def test_the_approved_period_passing_without_completion_alerts(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-602")  # approved completion date 2026-12-31
    for month in range(4, 13):  # the unit reports every month, the project is not finished
        move_to(db, datetime(2026, month, 1, 9))
        work(db, "unit:edu", "report_progress", PROGRESS, pid)
    done = len(_alerts(db, "drc"))
    move_to(db, datetime(2027, 1, 1, 9))
    assert len(_alerts(db, "drc")) == done + 1 and len(_alerts(db, "office")) == done + 1


def test_the_art18_rectification_deadline_alerts_drc_and_office(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-603")
    work(db, "unit:edu", "report_progress", {**PROGRESS, "serious_problem": True, "progress_note": "工期严重滞后"}, pid)
    work(db, "drc", "handle_serious_problem", {"problem_decision": "rectify", "problem_deadline": "2026-03-20",
                                               "problem_opinion": "限期整改"}, pid)
    move_to(db, datetime(2026, 3, 20, 18))
    assert _alerts(db, "drc") == []
    move_to(db, datetime(2026, 3, 21, 9))
    assert _alerts(db, "drc") == ["drc_follow_up"] and _alerts(db, "office") == ["office_follow_up"]
    assert inbox(db, "unit:edu", pid) == ["rectify_serious_problem"]  # the rectification is still owed


def test_drc_sums_up_the_projects_every_quarter_for_the_office(db, frozen_clock):
    deploy_all(db)
    move_to(db, datetime(2026, 3, 30, 9))
    assert "summarize_projects" not in inbox(db, "drc")
    move_to(db, datetime(2026, 3, 31, 10))
    assert inbox(db, "drc") == ["summarize_projects"]
    work(db, "drc", "summarize_projects", {"summary_as_of": "2026-03-31", "projects_in_construction": 3,
                                           "investment_total": 5400000, "spent_total": 1200000,
                                           "progress_summary": "3 个在建，1 个滞后", "summary_report": "汇总表.pdf"})
    assert inbox(db, "office") == ["schedule_projects"]
    move_to(db, datetime(2026, 6, 30, 10))
    assert inbox(db, "drc") == ["summarize_projects"]


@pytest.mark.parametrize("drc, finance, commissioned", [(True, True, True), (True, False, False)],
                         ids=["all three agree", "finance does not join"])
def test_the_post_evaluation_is_commissioned_jointly(db, frozen_clock, drc, finance, commissioned):
    deploy_all(db)
    pid = accepted_project(db, "P-2026-604")  # in operation since 2026-12-01
    work(db, "unit:edu", "register_assets", {"asset_type": "intangible", "asset_cost": 1700000, "asset_register_no": "ZC-1",
                                             "surplus_returned": 0}, pid)
    work(db, "finance", "confirm_asset_registration", {"asset_registration_opinion": "同意"}, pid)
    move_to(db, datetime(2027, 12, 1, 9))
    work(db, "unit:edu", "self_evaluation", {"budget_execution_rate": 94, "output_indicators": "完成",
                                             "benefit_indicators": "良好", "satisfaction_rate": 92,
                                             "self_evaluation_report": "自评价报告.pdf"}, pid)
    work(db, "drc", "drc_reviews_self_evaluation", {"drc_self_evaluation_opinion": "同意", "drc_joins_post_evaluation": drc},
         pid)
    work(db, "finance", "finance_reviews_self_evaluation", {"finance_self_evaluation_opinion": "同意",
                                                            "finance_joins_post_evaluation": finance}, pid)
    work(db, "office", "office_reviews_self_evaluation", {"office_self_evaluation_opinion": "同意",
                                                          "commission_post_evaluation": True}, pid)
    assert (inbox(db, "consultant", pid) == ["third_party_post_evaluation"]) is commissioned
    assert status(db, pid) == "running"
