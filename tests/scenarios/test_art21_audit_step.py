"""Art 21 lists the 审计报告 among the acceptance materials; it does not make the 审计局 audit every
project. By default the unit uploads a 竣工决算审计报告 from an intermediary with its application; the
审计局 audits first only where the plan or the law requires it (`bureau_audit_required`, set by the
office when it confirms the project's basis).

第二十一条：……提交竣工验收申请，并附上……密码应用安全性评估报告、审计报告等材料。
第二十八条：旗审计局应当依法加强对项目的审计。
"""
import pytest

from scenario_support import (ACCEPTANCE_FILES, add_by_plan_change, build_until_progress, complete_construction, deploy_all, inbox,
                              pass_stage, start, work)


def _built(db, key, bureau_audit):
    pid = start(db, "project", key, user="edu", project_id=key, project_name="智慧教育平台", unit="edu",
                category="software", nature="new", estimated_budget=1800000)
    add_by_plan_change(db, key)
    work(db, "office", "confirm_project_basis", {"in_plan": True, "plan_basis": "数字达拉特规划第三章",
                                                 "bureau_audit_required": bureau_audit, "basis_opinion": "确认"}, pid)
    pass_stage(db, pid)
    pass_stage(db, pid)
    build_until_progress(db, pid)
    complete_construction(db, pid)
    return pid


@pytest.mark.parametrize("bureau_audit", [False, True], ids=["default: intermediary's report", "审计局 audit required"])
def test_the_audit_step_follows_the_projects_setting(db, frozen_clock, bureau_audit):
    deploy_all(db)
    pid = _built(db, f"P-2026-21{int(bureau_audit)}", bureau_audit)
    assert inbox(db, "audit", pid) == (["issue_audit_report"] if bureau_audit else [])
    assert inbox(db, "unit:edu", pid) == ([] if bureau_audit else ["apply_final_acceptance"])
    if bureau_audit:
        work(db, "audit", "issue_audit_report", {"audit_report": "审计报告.pdf", "audit_opinion": "资金使用合规"}, pid)
    work(db, "unit:edu", "apply_final_acceptance", {"application_date": "2026-11-20", **ACCEPTANCE_FILES}, pid)
    assert inbox(db, "archives", pid) == ["archive_acceptance"]
