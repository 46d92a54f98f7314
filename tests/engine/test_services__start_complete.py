"""Starting review.bpmn and working its inbox: who is offered what, routing, claiming, completing."""
from __future__ import annotations

import logging
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from conftest import deploy_files
from engine import clock, services
from engine.errors import AccessDenied, InvalidInput, TaskNotReady
from engine.models import HistoryEvent, ProcessInstance, UserTask

UNIT = ["unit:edu"]


@pytest.fixture
def review(db, frozen_clock):
    deploy_files(db, "review.bpmn")
    return db


def start(db, **kwargs) -> int:
    kwargs.setdefault("variables", {"unit": "edu"})
    kwargs.setdefault("user", "alice")
    with db.write() as session:
        return services.start_process(session, "review", **kwargs).id


def ready(db, instance_id: int) -> list[UserTask]:
    with db.read() as session:
        return services.tasks(session, instance_id=instance_id)


def the_task(db, instance_id: int, element: str) -> UserTask:
    [task] = [t for t in ready(db, instance_id) if t.element_id == element]
    return task


def complete(db, task_id: int, user: str, groups: list[str], data: dict | None = None) -> ProcessInstance:
    with db.write() as session:
        return services.complete_task(session, task_id, user=user, groups=groups, data=data)


def snapshot(db, instance_id: int) -> tuple:
    """What a refused request must leave unchanged."""
    with db.read() as session:
        row = session.get(ProcessInstance, instance_id)
        tasks = sorted((t.id, t.state, t.assignee, t.completed_by)
                       for t in session.scalars(select(UserTask).where(UserTask.instance_id == instance_id)))
        events = session.scalar(select(func.count()).select_from(HistoryEvent)
                                .where(HistoryEvent.instance_id == instance_id))
        return row.status, row.revision, row.variables, row.history_count, row.history_head, tasks, events


def submitted(db, amount: int) -> int:
    instance_id = start(db)
    complete(db, the_task(db, instance_id, "submit").id, "alice", UNIT, {"amount": amount})
    return instance_id


def test_start_offers_submit_to_the_unit_group_from_the_expression(review):
    instance_id = start(review, business_key="P-2026-001")
    [task] = ready(review, instance_id)
    assert task.element_id == "submit" and task.name == "提交材料"
    assert task.candidate_groups == ["unit:edu"] and task.candidate_users == []
    assert task.assignee is None
    assert (task.process_key, task.business_key) == ("review", "P-2026-001")


def test_submit_is_due_five_working_days_after_start_with_priority_and_lane(review):
    instance_id = start(review)
    [task] = ready(review, instance_id)
    # Monday 2026-03-02 09:00 + 5 working days -> Monday 2026-03-09 (end of that day, local time)
    due = clock.aware(task.due_at).astimezone(clock.local_zone())
    assert due.date() == date(2026, 3, 9)
    assert clock.aware(task.created_at) == clock.aware(datetime(2026, 3, 2, 9, 0))
    assert task.priority == 60
    assert task.lane == "建设单位"


def test_start_records_the_starting_user_as_initiator(review):
    instance_id = start(review, user="alice", business_key="P-1")
    with review.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert row.variables == {"unit": "edu", "initiator": "alice"}
        assert (row.started_by, row.business_key, row.status) == ("alice", "P-1", "running")


def test_amount_of_1500_offers_drc_and_finance_review_in_parallel(review):
    instance_id = submitted(review, 1500)
    offered = {t.element_id: t.candidate_groups for t in ready(review, instance_id)}
    assert offered == {"drc_review": ["drc"], "finance_review": ["finance"]}
    assert {t.lane for t in ready(review, instance_id)} == {"审查"}


def test_amount_of_500_offers_office_review_only(review):
    instance_id = submitted(review, 500)
    assert {t.element_id: t.candidate_groups for t in ready(review, instance_id)} == {"office_review": ["office"]}


def test_completing_both_parallel_reviews_completes_the_instance(review):
    instance_id = submitted(review, 1500)
    complete(review, the_task(review, instance_id, "drc_review").id, "dora", ["drc"])
    with review.read() as session:
        assert session.get(ProcessInstance, instance_id).status == "running"
    complete(review, the_task(review, instance_id, "finance_review").id, "fred", ["finance"])
    with review.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert row.status == "completed" and row.ended_at is not None
        assert services.tasks(session, instance_id=instance_id) == []
        done = {t.element_id: (t.state, t.completed_by) for t in
                session.scalars(select(UserTask).where(UserTask.instance_id == instance_id))}
    assert done == {"submit": ("completed", "alice"), "drc_review": ("completed", "dora"),
                    "finance_review": ("completed", "fred")}


def test_completion_by_a_user_outside_the_candidate_group_is_denied_and_changes_nothing(review):
    instance_id = start(review)
    task = the_task(review, instance_id, "submit")
    before = snapshot(review, instance_id)
    with pytest.raises(AccessDenied):
        complete(review, task.id, "mallory", ["unit:other", "drc"], {"amount": 1500})
    assert snapshot(review, instance_id) == before


def test_tasks_by_group_lists_what_is_offered_to_those_groups(review):
    first, second = start(review), start(review, variables={"unit": "health"})
    with review.read() as session:
        assert {t.instance_id for t in services.tasks(session, groups=["unit:edu"])} == {first}
        assert {t.instance_id for t in services.tasks(session, groups=["unit:edu", "unit:health"])} == {first, second}
        assert services.tasks(session, groups=["drc"]) == []


def test_claimed_task_is_in_the_claimers_assigned_inbox_only(review):
    instance_id = start(review)
    task = the_task(review, instance_id, "submit")
    with review.write() as session:
        services.claim(session, task.id, user="alice", groups=UNIT)
    with review.read() as session:
        assert [t.id for t in services.tasks(session, user="alice", assigned_only=True)] == [task.id]
        assert services.tasks(session, user="bob", assigned_only=True) == []
        assert services.user_task(session, task.id).assignee == "alice"


def test_claim_of_a_claimed_task_by_a_second_user_is_refused(review):
    instance_id = start(review)
    task = the_task(review, instance_id, "submit")
    with review.write() as session:
        services.claim(session, task.id, user="alice", groups=UNIT)
    with pytest.raises(TaskNotReady, match="already claimed by alice"):
        with review.write() as session:
            services.claim(session, task.id, user="bob", groups=UNIT)
    with pytest.raises(AccessDenied):  # a group member cannot complete what another claimed
        complete(review, task.id, "bob", UNIT, {"amount": 500})
    with review.read() as session:
        assert services.user_task(session, task.id).assignee == "alice"


def test_unclaim_offers_the_task_to_the_group_again(review):
    instance_id = start(review)
    task = the_task(review, instance_id, "submit")
    with review.write() as session:
        services.claim(session, task.id, user="alice", groups=UNIT)
    with review.write() as session:
        services.unclaim(session, task.id, user="alice")
    with review.read() as session:
        assert services.user_task(session, task.id).assignee is None
        assert services.tasks(session, user="alice", assigned_only=True) == []
    with review.write() as session:
        assert services.claim(session, task.id, user="bob", groups=UNIT).assignee == "bob"


@pytest.mark.parametrize("name", ["1amount", "_secret", "has space", "a-b", "", "__class__", 5])
def test_start_with_a_bad_variable_name_is_refused_and_stores_nothing(review, name):
    with pytest.raises(InvalidInput):
        with review.write() as session:
            services.start_process(session, "review", variables={"unit": "edu", name: 1}, user="alice")
    with review.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


@pytest.mark.parametrize("name", ["1amount", "_secret", "a.b"])
def test_completion_with_a_bad_variable_name_is_refused_and_changes_nothing(review, name):
    instance_id = start(review)
    task = the_task(review, instance_id, "submit")
    before = snapshot(review, instance_id)
    with pytest.raises(InvalidInput):
        complete(review, task.id, "alice", UNIT, {"amount": 500, name: 1})
    assert snapshot(review, instance_id) == before


def test_spiffworkflow_still_logs_each_change_of_a_tasks_state_when_its_logger_is_at_info(review, caplog):
    """engine/runtime.py replaces SpiffWorkflow's Task._set_state so that a record's details are
    gathered only when it is logged: an operator who turns spiff.task up to INFO still gets them."""
    with caplog.at_level(logging.INFO, logger="spiff.task"):
        submitted(review, 500)
    completed = [r for r in caplog.records if r.name == "spiff.task" and r.getMessage() == "State changed to COMPLETED"
                 and r.task_spec == "submit"]
    assert len(completed) == 1
    record = completed[0]
    assert (record.workflow_spec, record.state, record.task_type) == ("review", "COMPLETED", "UserTask")
    assert record.elapsed >= 0 and record.parent is not None
