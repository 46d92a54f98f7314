"""Message correlation: to the one waiting instance by business key or correlation keys, refused
when none or several match, and message start events creating instances.

mailbox.bpmn waits for `reply` right after its start (waits.bpmn does too, behind a timer: see
test_services__timers), so these tests do not depend on timers."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import deploy_files
from engine import history, services
from engine.errors import CorrelationError
from engine.models import MessageSubscription, ProcessInstance

@pytest.fixture
def mailbox(db, frozen_clock):
    deploy_files(db, "mailbox.bpmn", "intake.bpmn")
    return db


def start(db, business_key=None, **variables) -> int:
    with db.write() as session:
        return services.start_process(session, "mailbox", business_key=business_key, variables=variables,
                                      user="bob").id


def waiting(db, instance_id: int) -> bool:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(MessageSubscription).where(
            MessageSubscription.instance_id == instance_id, MessageSubscription.message_name == "reply")) == 1


def ready(db, instance_id: int) -> list[str]:
    with db.read() as session:
        return [t.element_id for t in services.tasks(session, instance_id=instance_id)]


def state_of(db, instance_id: int) -> tuple:
    with db.read() as session:
        row = session.get(ProcessInstance, instance_id)
        return row.status, row.revision, row.history_count


def test_started_instance_subscribes_to_reply_under_its_business_key(mailbox):
    instance_id = start(mailbox, "M-1")
    with mailbox.read() as session:
        [sub] = session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == instance_id))
        assert (sub.message_name, sub.element_id, sub.business_key) == ("reply", "await_reply", "M-1")
        assert session.get(ProcessInstance, instance_id).status == "waiting"


def test_reply_by_business_key_reaches_only_that_instance(mailbox):
    first, second = start(mailbox, "M-1"), start(mailbox, "M-2")
    with mailbox.write() as session:
        result = services.correlate_message(session, "reply", business_key="M-2", variables={"answer": "yes"},
                                            user="gateway")
        assert (result.instance.id, result.started) == (second, False)
    assert ready(mailbox, second) == ["read"] and not waiting(mailbox, second)
    assert ready(mailbox, first) == [] and waiting(mailbox, first)
    with mailbox.read() as session:
        assert session.get(ProcessInstance, second).variables.get("answer") == "yes"
        assert "answer" not in session.get(ProcessInstance, first).variables
        events = history.events_of(session, second)
        assert ("message_correlated", "gateway") in [(e["type"], e["actor"]) for e in events]


def test_message_that_matches_nothing_is_refused_naming_the_message(mailbox):
    instance_id = start(mailbox, "M-1")
    before = state_of(mailbox, instance_id)
    with pytest.raises(CorrelationError, match="'reply'") as caught:
        with mailbox.write() as session:
            services.correlate_message(session, "reply", business_key="M-404", variables={"answer": "yes"})
    assert "M-404" in str(caught.value)
    with pytest.raises(CorrelationError, match="'no_such_message'"):
        with mailbox.write() as session:
            services.correlate_message(session, "no_such_message", variables={"answer": "yes"})
    assert state_of(mailbox, instance_id) == before and waiting(mailbox, instance_id)


def test_message_matching_two_instances_of_one_business_key_is_refused_listing_both(mailbox):
    first, second = start(mailbox, "M-1"), start(mailbox, "M-1")
    before = state_of(mailbox, first), state_of(mailbox, second)
    with pytest.raises(CorrelationError) as caught:
        with mailbox.write() as session:
            services.correlate_message(session, "reply", business_key="M-1", variables={"answer": "yes"})
    message = str(caught.value)
    assert "'reply'" in message and str(first) in message and str(second) in message
    assert (state_of(mailbox, first), state_of(mailbox, second)) == before


def test_message_start_event_creates_an_intake_instance_with_the_variables(mailbox):
    with mailbox.write() as session:
        result = services.correlate_message(session, "open_case", business_key="C-1",
                                            variables={"applicant": "张三", "amount": 300}, user="gateway")
        instance_id = result.instance.id
        assert result.started is True
    with mailbox.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert (row.process_key, row.business_key, row.status) == ("intake", "C-1", "running")
        assert row.variables.get("applicant") == "张三" and row.variables.get("amount") == 300
        assert [t.element_id for t in services.tasks(session, instance_id=instance_id)] == ["register"]
        assert history.verify_instance_chain(session, row).ok


def test_correlation_keys_pick_the_instance_whose_variables_match(mailbox):
    first, second = start(mailbox, None, case_no="A-1"), start(mailbox, None, case_no="B-2")
    with mailbox.write() as session:
        result = services.correlate_message(session, "reply", correlation_keys={"case_no": "B-2"},
                                            variables={"answer": "yes"})
        assert result.instance.id == second
    assert ready(mailbox, second) == ["read"]
    assert ready(mailbox, first) == [] and waiting(mailbox, first)


def test_correlation_keys_matching_no_instance_are_refused(mailbox):
    instance_id = start(mailbox, None, case_no="A-1")
    with pytest.raises(CorrelationError, match="'reply'"):
        with mailbox.write() as session:
            services.correlate_message(session, "reply", correlation_keys={"case_no": "Z-9"})
    assert waiting(mailbox, instance_id)


def test_correlation_keys_find_the_instance_among_many_waiting_ones(mailbox):
    ids = [start(mailbox, None, case_no=f"N-{n}") for n in range(60)]
    with mailbox.write() as session:
        result = services.correlate_message(session, "reply", correlation_keys={"case_no": "N-59"},
                                            variables={"answer": "yes"})
        assert result.instance.id == ids[-1]
    assert ready(mailbox, ids[-1]) == ["read"]
