"""The officials' inbox is read from inbox rows kept in step with each task: a bureau's unclaimed
tasks come from each of the user's candidate rows in due-date order, merged, each task once; the
counts stop at a cap instead of counting a whole bureau. joint_review.bpmn offers one task to
drc and finance, due when `due` says."""
from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import deploy_files
from engine import clock, inbox, services, users
from engine.inbox import InboxFilter, list_page


@pytest.fixture
def joint(db, frozen_clock):
    deploy_files(db, "joint_review.bpmn")
    ids = {}
    for key, days in (("A", 3), ("B", 1), ("C", None)):
        due = (clock.now() + timedelta(days=days)).isoformat() if days else None
        with db.write() as session:
            services.start_process(session, "joint_review", business_key=key, variables={"due": due}, user="x")
        frozen_clock.advance(timedelta(minutes=1))
    with db.read() as session:
        ids = {t.business_key: t.id for t in services.tasks(session)}
    return ids


def page_keys(db, view, groups, user="zhang", **kwargs):
    with db.read() as session:
        page = list_page(session, view, user=user, groups=groups, **kwargs)
        return [row.task.business_key for row in page.rows], page.total_label


def test_a_task_offered_to_two_of_my_bureaus_shows_once_in_due_order(db, joint):
    assert page_keys(db, "bureau", ["drc", "finance"]) == (["B", "A", "C"], "3")  # no due date: last
    assert page_keys(db, "bureau", ["finance"]) == (["B", "A", "C"], "3")
    assert page_keys(db, "bureau", ["drc", "finance"], per_page=1, page=2) == (["A"], "3")
    assert page_keys(db, "bureau", ["office"]) == ([], "0")
    assert page_keys(db, "all", ["office"]) == (["B", "A", "C"], "3")


def test_claims_and_completions_move_the_inbox_rows(db, joint):
    with db.write() as session:
        services.claim(session, joint["B"], user="zhang", groups=["drc"])
    assert page_keys(db, "bureau", ["drc"]) == (["A", "C"], "2")
    assert page_keys(db, "mine", ["drc"]) == (["B"], "1")
    assert page_keys(db, "bureau", ["finance"], user="li") == (["A", "C"], "2")  # claimed for the colleague too
    with db.write() as session:
        services.unclaim(session, joint["B"], user="zhang")
        services.complete_task(session, joint["A"], user="li", groups=["finance"])
    assert page_keys(db, "bureau", ["drc"]) == (["B", "C"], "2")
    with db.write() as session:  # handed to someone (转办), then given back to the bureaus
        users.add_user(session, "li", "long enough password", bureaus=["finance"], roles=[])
        services.reassign_task(session, joint["C"], actor="admin", to_user=None, reason="", check_access=False)
        services.reassign_task(session, joint["B"], actor="admin", to_user="li", reason="", check_access=False)
    assert page_keys(db, "bureau", ["drc"]) == (["C"], "1")
    with db.write() as session:
        services.reassign_task(session, joint["B"], actor="admin", to_user=None, reason="", check_access=False)
    assert page_keys(db, "bureau", ["drc"]) == (["B", "C"], "2")
    with db.read() as session:
        assert inbox.counts(session, user="zhang", groups=["drc"], see_all=True) == {
            "mine": "0", "bureau": "2", "all": "2"}


def test_counts_stop_at_the_cap(db, joint, monkeypatch):
    monkeypatch.setattr(inbox, "COUNT_CAP", 2)
    with db.read() as session:
        assert inbox.counts(session, user="zhang", groups=["drc", "finance"], see_all=True) == {
            "mine": "0", "bureau": "2+", "all": "2+"}
    assert page_keys(db, "bureau", ["drc"]) == (["B", "A", "C"], "2+")
    assert page_keys(db, "all", ["drc"], filters=InboxFilter(text="B")) == (["B"], "1")
