"""Concurrent completions through the doors users use: real HTTP requests on a threaded server,
from threads released together, through the REST API and the task page's form. Runs on SQLite
and (make test-pg) on PostgreSQL.

review.bpmn with amount ≥ 1000 waits on drc_review and finance_review at once: two officials
completing those together both succeed; two completing the same task give one winner and a 409
"already completed by X at T" to the other."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from conftest import OFFICIAL_PASSWORD, deploy_files
from engine import history, services
from engine.models import ProcessInstance, UserTask
from live_http import Client, served
from web import create_app

PEOPLE = {"dora": ["drc"], "dan": ["drc"], "fred": ["finance"], "edu": ["unit:edu"], "olga": ["office"]}
ROUNDS = 3


@pytest.fixture
def live(db, frozen_clock, officials):
    issued = officials(PEOPLE)
    deploy_files(db, "review.bpmn", "budget_check.bpmn", "recallable_report.bpmn")
    app = create_app(db=db)
    app.config.update(SECRET_KEY="test-secret-key")
    with served(app) as base:
        class Live:
            url, bearer = base, issued

            @staticmethod
            def rest(name: str) -> Client:
                return Client(base, bearer=issued[name])

            @staticmethod
            def browser(name: str) -> Client:
                client = Client(base)
                client.login(name, OFFICIAL_PASSWORD)
                return client
        Live.db = db
        yield Live


def parallel_reviews(db) -> tuple[int, dict[str, tuple[int, str]]]:
    """Each review task's (web id, REST id)."""
    with db.write() as session:
        instance_id = services.start_process(session, "review", variables={"unit": "edu"}, user="edu").id
        [submit] = services.tasks(session, instance_id=instance_id)
        services.complete_task(session, submit.id, user="edu", groups=["unit:edu"], data={"amount": 1500})
    with db.read() as session:
        return instance_id, {t.element_id: (t.id, t.rest_id) for t in services.tasks(session, instance_id=instance_id)}


def at_once(*calls):
    """Run each call in a thread of its own, all released together; return their replies in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result(timeout=120) for f in [pool.submit(run, c) for c in calls]]


def by_rest(client: Client, task: tuple[int, str]):
    return lambda: client.post(f"/engine-rest/task/{task[1]}/complete", json_body={})


def by_form(client: Client, task: tuple[int, str]):
    task_id = task[0]
    csrf = client.csrf(f"/tasks/{task_id}")  # read the page first, as the official does
    return lambda: client.post(f"/tasks/{task_id}/complete", form={"_csrf": csrf})


def succeeded(reply, door: str) -> bool:
    return reply.status == (204 if door == "rest" else 302)


def assert_done_once(db, instance_id: int, completers: dict[str, str]) -> None:
    with db.read() as session:
        row = session.get(ProcessInstance, instance_id)
        done = {t.element_id: (t.state, t.completed_by) for t in
                session.scalars(select(UserTask).where(UserTask.instance_id == instance_id))}
        for element, user in completers.items():
            assert done[element] == ("completed", user)
        events = history.events_of(session, instance_id)
        completions = [(e["element_id"], e["actor"]) for e in events if e["type"] == "task_completed"]
        for element, user in completers.items():
            assert [c for c in completions if c[0] == element] == [(element, user)]
        assert history.verify_instance_chain(session, row).ok


@pytest.mark.parametrize("doors", [("rest", "rest"), ("form", "form"), ("rest", "form")])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_parallel_tasks_completed_at_once_over_http_both_succeed(live, doors, round_):
    instance_id, tasks = parallel_reviews(live.db)
    make = {"rest": lambda who, task: by_rest(live.rest(who), task),
            "form": lambda who, task: by_form(live.browser(who), task)}
    replies = at_once(make[doors[0]]("dora", tasks["drc_review"]), make[doors[1]]("fred", tasks["finance_review"]))
    assert [succeeded(r, d) for r, d in zip(replies, doors)] == [True, True], [(r.status, r.text[:500]) for r in replies]
    with live.db.read() as session:
        assert session.get(ProcessInstance, instance_id).status == "completed"
    assert_done_once(live.db, instance_id, {"drc_review": "dora", "finance_review": "fred"})


@pytest.mark.parametrize("doors", [("rest", "rest"), ("form", "form"), ("form", "rest")])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_task_completed_twice_at_once_over_http_gives_one_winner_and_a_409(live, doors, round_):
    instance_id, tasks = parallel_reviews(live.db)
    task_id, people = tasks["drc_review"], ["dora", "dan"]
    make = {"rest": lambda who: by_rest(live.rest(who), task_id),
            "form": lambda who: by_form(live.browser(who), task_id)}
    replies = at_once(*(make[door](who) for door, who in zip(doors, people)))
    won = [succeeded(r, d) for r, d in zip(replies, doors)]
    assert sorted(won) == [False, True], [(r.status, r.text[:500]) for r in replies]
    winner, loser = people[won.index(True)], replies[won.index(False)]
    assert loser.status == 409, (loser.status, loser.text[:500])
    assert f"already completed by {winner} at 2026-03-02 09:00:00" in loser.text
    assert_done_once(live.db, instance_id, {"drc_review": winner})
    with live.db.read() as session:
        assert [t.element_id for t in services.tasks(session, instance_id=instance_id)] == ["finance_review"]


def test_completing_a_task_someone_finished_earlier_gives_409_who_and_when(live):
    """Not a race: the task was done a while ago; both doors tell who did it and when."""
    _instance_id, tasks = parallel_reviews(live.db)
    assert by_rest(live.rest("dora"), tasks["drc_review"])().status == 204
    reply = by_rest(live.rest("dan"), tasks["drc_review"])()
    assert reply.status == 409 and "already completed by dora at 2026-03-02 09:00:00" in reply.json()["message"]
    reply = by_form(live.browser("dan"), tasks["drc_review"])()
    assert reply.status == 409 and "already completed by dora at 2026-03-02 09:00:00" in reply.text


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_an_external_task_completed_twice_at_once_over_http_gives_one_204_and_a_409(live, round_):
    with live.db.write() as session:
        row = services.start_process(session, "budget_check", variables={"amount": 1200}, user="edu")
        instance_id, rest_id = row.id, row.rest_id
    worker = live.rest("fred")
    topics = [{"topicName": "budget-check", "lockDuration": 60000}]
    locked = worker.post("/engine-rest/external-task/fetchAndLock", json_body={"workerId": "w1", "topics": topics})
    [task] = [t for t in locked.json() if t["processInstanceId"] == rest_id]
    replies = at_once(*(lambda: live.rest("fred").post(f"/engine-rest/external-task/{task['id']}/complete",
                                                       json_body={"workerId": "w1"}) for _ in range(2)))
    assert sorted(r.status for r in replies) == [204, 409], [(r.status, r.text[:300]) for r in replies]
    with live.db.read() as session:
        assert [t.element_id for t in services.tasks(session, instance_id=instance_id)] == ["confirm"]
        events = history.events_of(session, instance_id)
        assert [e["type"] for e in events].count("external_task_completed") == 1
        assert history.verify_instance_chain(session, session.get(ProcessInstance, instance_id)).ok


MESSAGE_ROUNDS = 8


@pytest.mark.parametrize("round_", range(MESSAGE_ROUNDS))
def test_a_message_racing_the_completion_it_would_interrupt_is_delivered_or_refused_never_lost(live, round_):
    """recallable_report.bpmn: the unit reports progress while the office's recall (a message caught
    on the task's boundary) arrives; either way the instance goes on. Either the recall wins (the
    task is gone: 404/409; the unit rectifies) or the report does (the instance no longer waits:
    the message gets 400; drc checks the report). Never both 2xx, which would tell the office its
    recall was delivered while nothing caught it and its variables were written into the instance."""
    with live.db.write() as session:
        row = services.start_process(session, "recallable_report", business_key=f"P-RACE-{round_}",
                                     variables={"unit": "edu"}, user="edu")
        instance_id = row.id
        [task] = services.tasks(session, instance_id=instance_id)
        task_rest_id = task.rest_id
    report = lambda: live.rest("edu").post(f"/engine-rest/task/{task_rest_id}/complete",  # noqa: E731
                                           json_body={"variables": {"progress": {"value": 60}}})
    recall = lambda: live.rest("olga").post("/engine-rest/message", json_body={  # noqa: E731
        "messageName": "report_recalled", "businessKey": f"P-RACE-{round_}",
        "processVariables": {"order_no": {"value": f"令-{round_}"}}})
    reported, recalled = at_once(report, recall)
    replies = [(r.status, r.text[:300]) for r in (reported, recalled)]
    assert (reported.status, recalled.status) in ((204, 400), (404, 204), (409, 204)), replies
    with live.db.read() as session:
        row = session.get(ProcessInstance, instance_id)
        events = [e["type"] for e in history.events_of(session, instance_id)]
        waiting = [t.element_id for t in services.tasks(session, instance_id=instance_id)]
        if recalled.status == 204:
            assert waiting == ["rectify"] and row.variables["order_no"] == f"令-{round_}", replies
            assert "task_completed" not in events
        else:
            assert waiting == ["check_report"] and "order_no" not in row.variables, replies
            assert "message_correlated" not in events
            assert "no longer waits for message 'report_recalled'" in recalled.json()["message"] \
                or "no instance is waiting" in recalled.json()["message"], replies
        assert history.verify_instance_chain(session, row).ok
