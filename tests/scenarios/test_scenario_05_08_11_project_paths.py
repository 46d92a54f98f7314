"""Scenarios against project.bpmn: 5 cross-department framework (Art 5+); 8 failed joint acceptance,
passed the second time; 9 failed archive acceptance blocks project acceptance (Art 21-22); 10 no
acceptance application within six months; 11 self-evaluation opens at 12 months, alert at 24 (Art 17)."""
from datetime import datetime

from scenario_support import (JOINT_PASS, apply_for_acceptance, build_until_progress, complete_construction,
                              declare_project, deploy_all, inbox, instance_by_key, move_to, offered, pass_stage,
                              status, variables, work)


def _completed(db, project_id):
    pid = declare_project(db, project_id, in_plan=True)
    pass_stage(db, pid)
    pass_stage(db, pid)
    build_until_progress(db, pid)
    complete_construction(db, pid)
    return pid


def test_05_cross_department_framework_then_each_part(db, frozen_clock):
    deploy_all(db)
    pid = declare_project(db, "P-2026-050", in_plan=True, cross_department=True)
    framework = {"participants": "health,transport", "framework_document": "框架方案.pdf", "framework_goals": "城市运行一网统管", "framework_flows": "事件流转接口", "resource_catalogue": "目录初稿"}
    work(db, "unit:edu", "draft_framework", framework, pid)
    work(db, "unit:health", "confirm_participation", {"part_content": "医疗事件接入", "part_budget": 500000,
                                                      "part_agreed": True}, pid)
    work(db, "unit:transport", "confirm_participation", {"part_content": "交通事件接入", "part_budget": 700000,
                                                         "part_agreed": True}, pid)
    work(db, "office", "review_framework", {"framework_conclusion": "revise", "framework_opinion": "接口重复"}, pid)
    work(db, "unit:edu", "draft_framework", framework, pid)
    work(db, "unit:health", "confirm_participation", {"part_content": "医疗事件接入", "part_budget": 500000,
                                                      "part_agreed": True}, pid)
    work(db, "unit:transport", "confirm_participation", {"part_content": "交通事件接入", "part_budget": 700000,
                                                         "part_agreed": True}, pid)
    work(db, "office", "review_framework", {"framework_conclusion": "approve", "framework_opinion": "无重复交叉"}, pid)
    parts = {p: instance_by_key(db, "project", f"P-2026-050-{p}") for p in ("health", "transport")}
    assert all(parts.values())
    for part, budget in (("health", 500000), ("transport", 700000)):
        v = variables(db, parts[part])
        assert (v["unit"], v["framework_id"], v["estimated_budget"]) == (part, "P-2026-050", budget)
        assert inbox(db, "office", parts[part]) == ["confirm_project_basis"]
    assert offered(db, pid) == [("submit_stage_document", ["unit:edu"])]  # the lead part goes on to its feasibility study
    # the lead keeps its own part only: 1,800,000 in all, of which 1,200,000 are the participants' parts
    lead = variables(db, pid)
    assert (lead["framework_total_budget"], lead["parts_total"], lead["estimated_budget"]) == (1800000, 1200000, 600000)


def test_08_failed_joint_acceptance_passes_the_second_time(db, frozen_clock):
    deploy_all(db)
    pid = _completed(db, "P-2026-080")
    apply_for_acceptance(db, pid)
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
    work(db, "office", "joint_acceptance", {**JOINT_PASS, "crypto_security_check": "not_ok",
                                            "joint_acceptance_result": "fail", "rectification_deadline": "2027-01-31",
                                            "joint_acceptance_opinion": "密码应用不符合"}, pid)
    assert inbox(db, "unit:edu", pid) == ["explain_failed_acceptance"]
    assert inbox(db, "finance", pid) == ["withhold_funds"]
    work(db, "unit:edu", "explain_failed_acceptance", {"failure_explanation_file": "failure_explanation_file.pdf", "failure_explanation": "密评未完成"}, pid)
    work(db, "finance", "withhold_funds", {"withheld_amount": 100000, "withhold_note": "暂停拨付尾款"}, pid)
    assert offered(db, pid) == [("rectify_acceptance", ["unit:edu"])]
    work(db, "unit:edu", "rectify_acceptance", {"acceptance_rectification_report": "acceptance_rectification_report.pdf", "acceptance_rectification": "完成密评"}, pid)
    assert inbox(db, "office", pid) == ["joint_acceptance"]
    work(db, "office", "joint_acceptance", JOINT_PASS, pid)
    assert inbox(db, "unit:edu", pid) == ["file_acceptance_report"]
    assert variables(db, pid)["withheld_amount"] == 100000


def test_09_failed_archive_acceptance_blocks_project_acceptance(db, frozen_clock):
    deploy_all(db)
    pid = _completed(db, "P-2026-090")
    apply_for_acceptance(db, pid)
    work(db, "archives", "archive_acceptance", {"archive_result": "fail", "archive_opinion": "缺过程文档"}, pid)
    assert inbox(db, "office", pid) == []
    assert offered(db, pid) == [("rectify_archives", ["unit:edu"])]
    work(db, "unit:edu", "rectify_archives", {"archive_rectification": "补齐文档"}, pid)
    assert offered(db, pid) == [("archive_acceptance", ["archives"])]
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
    assert inbox(db, "office", pid) == ["joint_acceptance"]


def _alerts(db, group):
    return [e for e in inbox(db, group) if e.endswith("_follow_up")]


def test_10_no_acceptance_application_within_six_months(db, frozen_clock):
    deploy_all(db)
    pid = _completed(db, "P-2026-100")  # completed on 2026-10-15
    move_to(db, datetime(2027, 4, 15, 12))
    assert _alerts(db, "office") == []
    move_to(db, datetime(2027, 4, 16, 9))
    assert _alerts(db, "office") == ["office_follow_up"]
    # the application stays open (and on 1 December the project, not yet accepted, had its Art 17 report asked)
    assert inbox(db, "unit:edu", pid) == ["apply_final_acceptance", "submit_annual_report"]


def test_11_self_evaluation_opens_at_12_months_and_alerts_at_24(db, frozen_clock):
    deploy_all(db)
    pid = _completed(db, "P-2026-110")
    apply_for_acceptance(db, pid)
    work(db, "archives", "archive_acceptance", {"archive_result": "pass", "archive_opinion": "合格"}, pid)
    work(db, "office", "joint_acceptance", JOINT_PASS, pid)
    work(db, "unit:edu", "file_acceptance_report", {"final_acceptance_report": "final_acceptance_report.pdf", "in_operation_on": "2026-12-01"}, pid)
    work(db, "unit:edu", "register_assets", {"asset_type": "intangible", "asset_cost": 1700000,
                                             "asset_register_no": "ZC-1", "surplus_returned": 0}, pid)
    work(db, "finance", "confirm_asset_registration", {"asset_registration_opinion": "同意"}, pid)
    move_to(db, datetime(2027, 11, 30, 9))
    assert inbox(db, "unit:edu", pid) == []
    move_to(db, datetime(2027, 12, 1, 9))
    assert inbox(db, "unit:edu", pid) == ["self_evaluation"]
    move_to(db, datetime(2028, 12, 1, 12))
    assert _alerts(db, "office") == [] and _alerts(db, "drc") == []
    move_to(db, datetime(2028, 12, 2, 9))
    assert _alerts(db, "office") == ["office_follow_up"]
    assert _alerts(db, "drc") == ["drc_follow_up"]
    assert inbox(db, "unit:edu", pid) == ["self_evaluation"]
    assert status(db, pid) != "completed"
