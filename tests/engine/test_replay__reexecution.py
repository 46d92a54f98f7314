"""Replay re-executes an instance from its definition versions and recorded inputs alone, and
catches a stored state that the history does not produce."""
from datetime import timedelta

from sqlalchemy import text

from conftest import deploy_files
from engine import history, replay, services


def _run_review_and_waits(db, frozen_clock):
    deploy_files(db, "review.bpmn", "waits.bpmn", "intake.bpmn")
    with db.write() as s:
        review = services.start_process(s, "review", business_key="P-1", variables={"unit": "edu"}, user="alice").id
        waits = services.start_process(s, "waits", business_key="W-1").id
    with db.read() as s:
        submit = services.tasks(s, instance_id=review)[0].id
    with db.write() as s:
        services.complete_task(s, submit, user="alice", data={"amount": 1500}, check_access=False)
    with db.read() as s:
        parallel = [t.id for t in services.tasks(s, instance_id=review)]
    with db.write() as s:
        services.complete_task(s, parallel[0], user="bob", data={"drc_opinion": "同意"}, check_access=False)
    frozen_clock.advance(timedelta(hours=1, minutes=1))
    assert services.fire_due_timers(db) == 1
    with db.write() as s:
        services.correlate_message(s, "reply", business_key="W-1", variables={"answer": "yes"})
    frozen_clock.advance(timedelta(days=2, minutes=1))
    assert services.fire_due_timers(db) == 1
    with db.write() as s:
        started = services.correlate_message(s, "open_case", business_key="C-1", variables={"who": "x"}).instance.id
    return review, waits, started


def test_replay_of_tasks_timers_and_messages_reproduces_every_recorded_state(db, frozen_clock):
    for instance_id in _run_review_and_waits(db, frozen_clock):
        with db.read() as s:
            chain, report = replay.verify(s, instance_id)
            recorded = len(history.events_of(s, instance_id))
        assert chain.ok, chain
        assert report.ok, report
        assert report.events == recorded


def test_replay_keeps_the_state_after_each_event_for_stepping(db, frozen_clock):
    review, _, _ = _run_review_and_waits(db, frozen_clock)
    with db.read() as s:
        report = replay.replay(s, review, keep_steps=True)
    assert report.ok
    ready_after = {step.seq: sorted(t.task_spec.bpmn_id for t in step.workflow.get_tasks()
                                    if t.state == 16 and t.task_spec.manual) for step in report.steps}
    assert ready_after[1] == ["submit"]          # after the start
    assert ready_after[3] == ["drc_review", "finance_review"]  # after submit completed


def test_replay_catches_a_value_edited_inside_the_stored_state(db, frozen_clock):
    review, _, _ = _run_review_and_waits(db, frozen_clock)
    with db.engine.begin() as conn:
        state = conn.execute(text("SELECT state FROM process_instance WHERE id = :id"), {"id": review}).scalar_one()
        assert '"amount":1500' in state
        conn.execute(text("UPDATE process_instance SET state = :s WHERE id = :id"),
                     {"s": state.replace('"amount":1500', '"amount":15'), "id": review})
    from engine import instances
    instances.clear_caches()
    with db.read() as s:
        chain, report = replay.verify(s, review)
    assert chain.ok  # the chain itself is intact ...
    assert not report.ok  # ... but the state is not what it produces
    assert "stored instance state" in report.problem


def test_replay_catches_an_edited_input_even_when_the_hmac_is_not_checked(db, frozen_clock):
    review, _, _ = _run_review_and_waits(db, frozen_clock)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE history_event SET body = replace(body, :old, :new) "
                          "WHERE instance_id = :id AND type = 'task_completed'"),
                     {"old": '"amount":1500', "new": '"amount":500', "id": review})
    with db.read() as s:
        chain = history.verify_instance_chain(s, services.instance(s, review))
        report = replay.replay(s, review)
    assert not chain.ok and chain.seq == 3
    assert not report.ok and report.seq is not None
