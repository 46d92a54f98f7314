"""Real concurrent requests: threads, each with its own connection and write transaction, released
together by a barrier. Run on SQLite and (make test-pg) on PostgreSQL."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from conftest import deploy_files
from engine import history, services
from engine.errors import TaskNotReady
from engine.models import ProcessInstance, UserTask

ROUNDS = 5


@pytest.fixture
def review(db, frozen_clock):
    deploy_files(db, "review.bpmn")
    return db


def parallel_reviews(db) -> tuple[int, dict[str, int]]:
    """An instance waiting on drc_review and finance_review; return its id and the task ids."""
    with db.write() as session:
        instance_id = services.start_process(session, "review", variables={"unit": "edu"}, user="alice").id
        [submit] = services.tasks(session, instance_id=instance_id)
        services.complete_task(session, submit.id, user="alice", groups=["unit:edu"], data={"amount": 1500})
    with db.read() as session:
        return instance_id, {t.element_id: t.id for t in services.tasks(session, instance_id=instance_id)}


def at_once(*calls):
    """Run each call in a thread of its own, all released at the same moment; return
    ('ok', value) or ('error', exception) per call, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        try:
            return "ok", call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what we compare
            return "error", exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result(timeout=120) for f in [pool.submit(run, c) for c in calls]]


def completer(db, task_id: int, user: str, groups: list[str]):
    def call():
        with db.write() as session:
            return services.complete_task(session, task_id, user=user, groups=groups).status
    return call


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_parallel_tasks_completed_at_once_both_count_and_the_instance_completes(review, round_):
    instance_id, tasks = parallel_reviews(review)
    outcomes = at_once(completer(review, tasks["drc_review"], "dora", ["drc"]),
                       completer(review, tasks["finance_review"], "fred", ["finance"]))
    assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
    assert sorted(status for _, status in outcomes) == ["completed", "running"]
    with review.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert row.status == "completed"
        assert services.tasks(session, instance_id=instance_id) == []
        done = {t.element_id: (t.state, t.completed_by) for t in
                session.scalars(select(UserTask).where(UserTask.instance_id == instance_id))}
        assert done["drc_review"] == ("completed", "dora")
        assert done["finance_review"] == ("completed", "fred")
        events = history.events_of(session, instance_id)
        completions = {(e["element_id"], e["actor"]) for e in events if e["type"] == "task_completed"}
        assert {("drc_review", "dora"), ("finance_review", "fred")} <= completions
        assert [e["type"] for e in events].count("instance_completed") == 1
        assert history.verify_instance_chain(session, row).ok


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_task_completed_twice_at_once_succeeds_once_and_tells_the_loser_who_won(review, round_):
    instance_id, tasks = parallel_reviews(review)
    task_id = tasks["drc_review"]
    users = ["dora", "dan"]
    outcomes = at_once(*(completer(review, task_id, user, ["drc"]) for user in users))
    winners = [user for user, (kind, _) in zip(users, outcomes) if kind == "ok"]
    errors = [value for kind, value in outcomes if kind == "error"]
    assert len(winners) == 1 and len(errors) == 1, outcomes
    [winner], [error] = winners, errors
    assert isinstance(error, TaskNotReady), repr(error)
    assert f"already completed by {winner} at 2026-03-02 09:00" in str(error)
    with review.read() as session:
        row = session.get(ProcessInstance, instance_id)
        task = session.get(UserTask, task_id)
        assert (task.state, task.completed_by) == ("completed", winner)
        assert row.status == "running"
        assert [t.element_id for t in services.tasks(session, instance_id=instance_id)] == ["finance_review"]
        events = history.events_of(session, instance_id)
        assert [(e["element_id"], e["actor"]) for e in events
                if e["type"] == "task_completed" and e["element_id"] == "drc_review"] == [("drc_review", winner)]
        assert history.verify_instance_chain(session, row).ok
