"""A group's counts of ready and unclaimed tasks (what REST's /task/count answers for a bureau)
are read from rows of changes, never by counting the group's tasks: they follow every start,
claim, hand-back, handover, change of candidates, completion and termination, stay exact when
rows are folded and when a savepoint rolls back, and `history verify --all` compares them with the
candidate rows. joint_review.bpmn offers one task to drc and finance."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from conftest import deploy_files
from engine import audit, inbox, services, users
from engine.models import InboxCount


@pytest.fixture
def joint(db, frozen_clock):
    deploy_files(db, "joint_review.bpmn")
    with db.write() as session:
        for key in ("A", "B", "C"):
            services.start_process(session, "joint_review", business_key=key, variables={"due": None}, user="x")
    with db.read() as session:
        return {t.business_key: t.id for t in services.tasks(session)}


def counts(db) -> dict[str, tuple[int, int]]:
    """(ready, unclaimed) per group from the counts, checked against the candidate rows."""
    with db.read() as session:
        said = {g: (inbox.open_count(session, g, unclaimed=False), inbox.open_count(session, g))
                for g in ("drc", "finance", "office")}
        assert audit.check_inbox_counts(session).ok, audit.check_inbox_counts(session)
    return said


def test_counts_follow_claims_handovers_completions_and_terminations(db, joint):
    assert counts(db) == {"drc": (3, 3), "finance": (3, 3), "office": (0, 0)}
    with db.write() as session:
        services.claim(session, joint["A"], user="zhang", groups=["drc"])
    assert counts(db) == {"drc": (3, 2), "finance": (3, 2), "office": (0, 0)}
    with db.write() as session:
        users.add_user(session, "li", "long enough password", bureaus=["finance"], roles=[])
        services.reassign_task(session, joint["A"], actor="admin", to_user="li", reason="", check_access=False)
    assert counts(db) == {"drc": (3, 2), "finance": (3, 2), "office": (0, 0)}  # still claimed
    with db.write() as session:
        services.unclaim(session, joint["A"], user="li")
        services.set_candidates(session, joint["B"], groups=["office", "drc"], users=["wu"], user="admin")
    assert counts(db) == {"drc": (3, 3), "finance": (2, 2), "office": (1, 1)}
    with db.write() as session:
        services.claim(session, joint["C"], user="zhang", groups=["drc"])
        services.complete_task(session, joint["C"], user="zhang", groups=["drc"])
        services.complete_task(session, joint["A"], user="li", groups=["finance"])
    assert counts(db) == {"drc": (1, 1), "finance": (0, 0), "office": (1, 1)}
    with db.write() as session:
        services.terminate(session, services.user_task(session, joint["B"]).instance_id, user="admin", reason="t")
    assert counts(db) == {"drc": (0, 0), "finance": (0, 0), "office": (0, 0)}


def test_folding_keeps_the_sums_in_one_row_per_group(db, joint, monkeypatch):
    monkeypatch.setattr(inbox, "FOLD_EVERY", 1)  # every commit folds what it changed
    with db.write() as session:
        services.claim(session, joint["A"], user="zhang", groups=["drc"])
    with db.write() as session:
        services.complete_task(session, joint["B"], user="zhang", groups=["drc"])
    assert counts(db) == {"drc": (2, 1), "finance": (2, 1), "office": (0, 0)}
    with db.read() as session:
        rows = dict(session.execute(select(InboxCount.candidate_group, func.count())
                                    .group_by(InboxCount.candidate_group)).all())
    assert rows == {"drc": 1, "finance": 1}


def test_changes_of_a_rolled_back_savepoint_are_not_counted(db, joint):
    with db.write() as session:
        services.claim(session, joint["A"], user="zhang", groups=["drc"])  # before the savepoint: kept
        savepoint = session.begin_nested()
        services.claim(session, joint["B"], user="zhang", groups=["drc"])
        savepoint.rollback()
        savepoint = session.begin_nested()
        services.claim(session, joint["C"], user="zhang", groups=["drc"])  # a savepoint committed: kept
        savepoint.commit()
    assert counts(db) == {"drc": (3, 1), "finance": (3, 1), "office": (0, 0)}


def test_verify_all_names_a_group_whose_count_is_wrong(db, joint):
    with db.write() as session:
        session.execute(delete(InboxCount).where(InboxCount.candidate_group == "finance"))
    with db.read() as session:
        report = audit.check_inbox_counts(session)
    assert not report.ok
    assert str(report) == ("inbox counts: FAILED: group 'finance' is counted with 0 ready tasks, 0 unclaimed; "
                           "its candidate rows hold 3 and 3")
