"""The chained history catches tampering done directly in the database: an edited body or column,
a deleted, truncated or inserted row, on instance chains and on the system chain."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from conftest import deploy_files
from engine import history, services
from engine.models import ProcessInstance


@pytest.fixture
def finished(db, frozen_clock) -> int:
    """A review instance run to its end (submit 1500, both parallel reviews); its id."""
    deploy_files(db, "review.bpmn")
    with db.write() as session:
        instance_id = services.start_process(session, "review", variables={"unit": "edu"}, user="alice").id
        [submit] = services.tasks(session, instance_id=instance_id)
        services.complete_task(session, submit.id, user="alice", groups=["unit:edu"], data={"amount": 1500})
    groups = {"drc_review": ("dora", ["drc"]), "finance_review": ("fred", ["finance"])}
    for element in ("drc_review", "finance_review"):
        with db.write() as session:
            [task] = [t for t in services.tasks(session, instance_id=instance_id) if t.element_id == element]
            user, user_groups = groups[element]
            services.complete_task(session, task.id, user=user, groups=user_groups)
    with db.read() as session:
        assert session.get(ProcessInstance, instance_id).status == "completed"
    return instance_id


def sql(db, statement: str, **params) -> int:
    """Tamper directly in the database, behind the engine's back; return the rows touched."""
    with db.engine.begin() as conn:
        return conn.execute(text(statement), params).rowcount


def verify(db, instance_id: int) -> history.ChainReport:
    with db.read() as session:
        return history.verify_instance_chain(session, session.get(ProcessInstance, instance_id))


def rows(db, instance_id: int) -> list[dict]:
    with db.read() as session:
        return history.events_of(session, instance_id)


def seq_of(db, instance_id: int, type_: str, actor: str | None = None) -> int:
    return next(e["seq"] for e in rows(db, instance_id) if e["type"] == type_ and (actor is None or e["actor"] == actor))


def chain(instance_id: int) -> str:
    return f"instance:{instance_id}"


def assert_broken_at(report: history.ChainReport, seq: int) -> None:
    assert not report.ok, str(report)
    assert report.seq == seq, str(report)
    assert "BROKEN" in str(report) and f"event {seq}" in str(report)


def test_untampered_chain_verifies_with_its_event_count(db, finished):
    report = verify(db, finished)
    events = rows(db, finished)
    assert report.ok, str(report)
    assert report.events == len(events) >= 8
    assert str(report) == f"instance:{finished}: OK ({len(events)} events)"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "instance_started" and events[-1]["type"] == "instance_completed"


def test_edited_body_is_caught_at_its_seq(db, finished):
    seq = seq_of(db, finished, "task_completed", "alice")
    touched = sql(db, "UPDATE history_event SET body = replace(body, :old, :new) "
                      "WHERE chain = :chain AND seq = :seq AND body LIKE :has",
                  old='"amount":1500', new='"amount":15', has='%"amount":1500%', chain=chain(finished), seq=seq)
    assert touched == 1
    assert_broken_at(verify(db, finished), seq)


def test_edited_actor_column_alone_is_caught(db, finished):
    seq = seq_of(db, finished, "task_completed", "dora")
    sql(db, "UPDATE history_event SET actor = 'mallory' WHERE chain = :chain AND seq = :seq",
        chain=chain(finished), seq=seq)
    report = verify(db, finished)
    assert_broken_at(report, seq)
    assert "actor" in report.problem


def test_deleted_middle_row_is_caught(db, finished):
    count = len(rows(db, finished))
    middle = count // 2
    assert sql(db, "DELETE FROM history_event WHERE chain = :chain AND seq = :seq",
               chain=chain(finished), seq=middle) == 1
    assert_broken_at(verify(db, finished), middle)


def test_deleted_last_row_is_caught_by_the_head_count(db, finished):
    count = len(rows(db, finished))
    assert sql(db, "DELETE FROM history_event WHERE chain = :chain AND seq = :seq",
               chain=chain(finished), seq=count) == 1
    report = verify(db, finished)
    assert not report.ok and report.events == count - 1
    assert "head" in report.problem and str(count) in report.problem


def _forge_after_last(db, instance_id: int, sign) -> int:
    """Append a row claiming a completion by mallory after the last row; return its seq."""
    last = rows(db, instance_id)[-1]
    body = dict(last, seq=last["seq"] + 1, type="task_completed", actor="mallory", element_id="drc_review")
    body_text = history.canonical(body)
    with db.read() as session:
        prev = history.chain_rows(session, chain(instance_id))[-1].hmac
    sql(db, "INSERT INTO history_event (chain, seq, instance_id, at, actor, type, element_id, occurrence, "
            "body, state_digest, prev_hmac, hmac) SELECT chain, seq + 1, instance_id, at, 'mallory', "
            "'task_completed', 'drc_review', occurrence, :body, state_digest, hmac, :hmac FROM history_event "
            "WHERE chain = :chain AND seq = :seq",
        body=body_text, hmac=sign(prev, body_text), chain=chain(instance_id), seq=last["seq"])
    return last["seq"] + 1


def test_inserted_forged_row_is_caught(db, finished):
    seq = _forge_after_last(db, finished, lambda prev, body: "0" * 64)  # the forger has no key
    assert_broken_at(verify(db, finished), seq)


def test_inserted_row_signed_with_the_key_is_still_caught_by_the_head(db, finished):
    seq = _forge_after_last(db, finished, history.sign)
    report = verify(db, finished)
    assert not report.ok, str(report)
    assert report.events == seq and "head" in report.problem


def test_system_chain_of_deployments_verifies(db, frozen_clock):
    deploy_files(db, "review.bpmn")
    deploy_files(db, "waits.bpmn", "intake.bpmn")
    with db.read() as session:
        report = history.verify_system_chain(session)
        bodies = [json.loads(r.body) for r in history.chain_rows(session, history.SYSTEM_CHAIN)]
    assert report.ok and report.events == 2, str(report)
    assert [b["type"] for b in bodies] == ["deployment", "deployment"]
    assert set(bodies[1]["data"]["files"]) == {"waits.bpmn", "intake.bpmn"}


def test_edited_system_chain_is_caught(db, frozen_clock):
    deploy_files(db, "review.bpmn", user="admin")
    deploy_files(db, "waits.bpmn", user="admin")
    assert sql(db, "UPDATE history_event SET body = replace(body, :old, :new) "
                   "WHERE chain = 'system' AND seq = 1 AND body LIKE :has",
               old='"admin"', new='"mallory"', has='%"admin"%') == 1
    with db.read() as session:
        report = history.verify_system_chain(session)
    assert_broken_at(report, 1)


def _recorded_heads(db) -> list[dict]:
    with db.read() as session:
        return [json.loads(row.body)["data"]["heads"] for row in history.chain_rows(session, history.SYSTEM_CHAIN)
                if row.type == history.HEADS_EVENT]


def test_each_commit_records_the_heads_it_moved_in_the_system_chain(db, finished):
    heads = _recorded_heads(db)
    assert len(heads) == 3  # the start with the submit, and each review: one commit each
    with db.read() as session:
        row = session.get(ProcessInstance, finished)
        assert heads[-1] == {f"instance:{finished}": [row.history_count, row.history_head]}
        assert history.verify_heads(session)[0].ok


def test_a_move_a_savepoint_rolled_back_is_not_recorded(db, finished):
    """Engine work runs in a savepoint and is rolled back when it fails: the head recorded at commit
    is the one stored, not the one the rolled-back work had moved to."""
    from engine import instances

    with db.read() as session:
        before = session.get(ProcessInstance, finished)
        before = [before.history_count, before.history_head]
    with db.write() as session:
        savepoint = session.begin_nested()
        row = instances.lock_instance(session, finished)
        history.record(session, row, [history.Event("comment_added", actor="dora")], None)
        session.flush()
        savepoint.rollback()
    with db.read() as session:
        row = session.get(ProcessInstance, finished)
        assert verify(db, finished).ok and [row.history_count, row.history_head] == before
        assert _recorded_heads(db)[-1] == {f"instance:{finished}": before}
        assert history.verify_heads(session)[0].ok


def test_the_system_chain_is_written_last_and_once_per_commit(db, finished):
    """What a transaction records after the system chain was written (a hook run after it) is an
    error, not a head left out."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def late(session):
        history.record_system(session, history.Event("late"))

    event.listen(Session, "before_commit", late)
    try:
        with pytest.raises(Exception, match="after the system chain was written"):
            with db.write() as session:
                history.record_system(session, history.Event("early"))
        with pytest.raises(Exception, match="after the system chain was written"):
            with db.write() as session:
                pass  # (a transaction that recorded nothing itself)
    finally:
        event.remove(Session, "before_commit", late)
