"""The history's queries read its indexes, which leave out what every step writes (engine/models.py):
the audit search by event type, actor or instance, and the REST operation log, historic instances
and activity instances, each checked against the database's own plan of the statements the real
requests run (as tests/web/test_inbox_plans.py does for the inbox). A query of a type other than a
step's own names the type index's condition; an instance's events are read by its chain."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from test_audit_pages import as_user, project  # noqa: F401
from test_inbox_plans import plan_of
from test_rest_history import worked  # noqa: F401
from test_rest_helpers import rest  # noqa: F401
from test_ui_fixtures import app, client  # noqa: F401

CHAIN_INDEX = "sqlite_autoindex_history_event_1"  # UNIQUE (chain, seq)


@contextmanager
def history_reads(db):
    """The plans of the SELECTs run meanwhile that read history rows, one string each."""
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM history_event" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    plans = []
    try:
        yield plans
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert seen
    for statement, parameters in seen:
        lines = plan_of(db, statement, parameters)
        for line in lines:  # no full scan of the history (a scan of an index read in order stops at its page)
            assert not (line == "SCAN history_event" or line.startswith("Seq Scan history_event")), (line, statement)
        plans.append(" | ".join(lines))


def test_the_audit_search_reads_the_index_of_its_filter(app, project, db):
    auditor = as_user(app, "auditor_sun")
    for query, index in ((dict(type="instance_started"), "ix_history_event_type"),
                         (dict(user="drc_zhang"), "ix_history_event_actor"),
                         (dict(instance=project), CHAIN_INDEX),
                         (dict(project="P-2026-007"), CHAIN_INDEX)):
        with history_reads(db) as plans:
            page = auditor.get("/audit/search", query_string=query)
            assert page.status_code == 200 and "P-2026-007" in page.get_data(as_text=True)
        if db.is_sqlite:  # (PostgreSQL picks among a few rows by its statistics)
            assert any(index in plan for plan in plans), (query, plans)


def test_the_rest_history_reads_by_chain_type_and_actor(worked):
    db, admin, instance = worked.db, worked.as_("admin"), worked.instance["id"]
    with history_reads(db) as plans:
        assert [e["operationType"] for e in admin.get("/history/user-operation", operationType="Claim").get_json()] \
            == ["Claim"]
    if db.is_sqlite:
        assert any("ix_history_event_type" in plan for plan in plans), plans
    with history_reads(db):
        assert {e["userId"] for e in admin.get("/history/user-operation", userId="drc").get_json()} == {"drc"}
    with history_reads(db):
        assert worked.as_("edu").get("/history/user-operation").get_json()  # the instances an official sees
    for path, params in (("/history/process-instance", {"processDefinitionKey": "review"}),
                         ("/history/activity-instance", {"processInstanceId": instance})):
        with history_reads(db) as plans:
            assert admin.get(path, **params).get_json()
        if db.is_sqlite:
            assert any(CHAIN_INDEX in plan for plan in plans), (path, plans)


@pytest.mark.parametrize("types", [["anchored"], ["instance_started", "timer_fired"], ["task_completed"]])
def test_a_query_of_other_types_than_a_steps_names_the_type_index_condition(db, types):
    """Where no step event is asked for, the query states the partial index's condition, so that
    SQLite (which proves no implication but `IS NOT NULL`) may read the index."""
    from sqlalchemy import select

    from engine.models import STEP_EVENTS, HistoryEvent
    statement = select(HistoryEvent.id).where(HistoryEvent.of_types(types))
    plan = " | ".join(plan_of(db, str(statement.compile(db.engine, compile_kwargs={"literal_binds": True})), {}))
    assert ("ix_history_event_type" in plan) == (not set(types) & set(STEP_EVENTS)), plan


def test_the_search_forms_event_types_are_the_instances_read_from_the_type_index(project, db):
    """The form's choice of types: those the instances' events have (no system chain's type such as
    instance_created or chain_heads), found type by type in the index, not by reading every event."""
    from sqlalchemy import select

    from engine import audit
    from engine.models import HistoryEvent
    with db.read() as session:
        present = set(session.scalars(select(HistoryEvent.type).where(HistoryEvent.chain.like("instance:%"))))
        with history_reads(db) as plans:
            listed = audit.event_types(session)
    assert listed == sorted(present) and "instance_created" not in listed and "chain_heads" not in listed, listed
    if db.is_sqlite:
        assert all("ix_history_event_type" in plan for plan in plans), plans


def test_the_deployments_page_reads_the_last_anchor_from_the_type_index(app, project, db):
    """When the last anchor was taken, among many later system events: the anchors' own entries in
    the type index, not the system chain walked back from its head to the last anchor."""
    from engine import anchors, audit

    with db.write() as s:
        anchors.take(s, actor="admin")
    for n in range(30):  # later system events: the access log's moves
        with db.write() as s:
            audit.record_access(s, "auditor_sun", "audit.search", instance_id=project)
    admin = as_user(app, "admin_zhou")
    with history_reads(db) as plans:
        page = admin.get("/admin/deployments")
        assert page.status_code == 200 and "上次锚定历史记录" in page.get_data(as_text=True)
    if db.is_sqlite:
        assert any("ix_history_event_type" in plan for plan in plans), plans
        assert not any(CHAIN_INDEX in plan for plan in plans), plans
