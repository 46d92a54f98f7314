"""Art 21: the six months for the acceptance application run from completion, so a unit that reports
the construction complete states the date; without it the project stuck at the preliminary
acceptance (the six-month timer had no date to run from).

第二十一条：……项目建成后半年内，项目建设单位向领导小组办公室提交竣工验收申请……
"""
import pytest

from engine import compliance, services
from scenario_support import PROGRESS, FormRefused, inbox, deploy_all, under_construction, work

COMPLETED = {**PROGRESS, "progress_percent": 100, "spent_total": 1700000, "construction_completed": True}
MESSAGE = "建设内容已全部完成的，须填写建成日期（竣工验收申请须在建成后半年内提交）"


def test_construction_reported_complete_needs_its_completion_date(db, frozen_clock):
    deploy_all(db)
    pid = under_construction(db, "P-2026-211")
    with pytest.raises(FormRefused) as refused:  # the task page
        work(db, "unit:edu", "report_progress", COMPLETED, pid)
    assert refused.value.errors == {"completion_date": [MESSAGE]}
    with db.read() as s:
        [task] = services.tasks(s, groups=["unit:edu"], instance_id=pid)
    with pytest.raises(compliance.RuleViolation, match="field 'completion_date'.*art21_completion_states_its_date"):
        with db.write() as s:  # REST and the CLI: the engine itself refuses
            services.complete_task(s, task.id, user="edu", groups=["unit:edu"], data=COMPLETED)
    assert inbox(db, "unit:edu", pid) == ["report_progress"]  # nothing lost, the report is still open
    work(db, "unit:edu", "report_progress", {**COMPLETED, "completion_date": "2026-10-15"}, pid)
    work(db, "unit:edu", "preliminary_acceptance", {"preliminary_acceptance_date": "2026-10-20",
                                                    "preliminary_passed": True, "preliminary_opinion": "初验意见.pdf"}, pid)
    assert inbox(db, "unit:edu", pid) == ["apply_final_acceptance"]
