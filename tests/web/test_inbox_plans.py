"""Queries use indexes at 100k rows: every statement a bureau's inbox runs — the REST list and
count, the web pages 部门待办 and 全部待办 with their navigation counts — is checked against the
database's own query plan (EXPLAIN QUERY PLAN on SQLite; EXPLAIN on PostgreSQL, with sequential
scans and sorts priced out so that the plan shows what the indexes can do on a table of any size,
not what the planner picks for a few rows): no full scan of the task, candidate, count or instance
rows, no sort of a bureau's rows, and each reads the index made for it. What runs is captured from the real requests, not written out here."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from test_rest_helpers import PASSWORD, deployed, rest, start  # noqa: F401
from test_ui_fixtures import csrf

TASK_TABLES = ("user_task", "task_candidate", "inbox_count", "process_instance")


@pytest.fixture
def review(rest, frozen_clock):
    rest.definitions = deployed(rest, "review.bpmn")
    for n in range(3):
        start(rest, "review", business_key=f"P-{n}", unit="edu")
        frozen_clock.advance(timedelta(minutes=1))
    rest.app.config.update(TESTING=True, SECRET_KEY="test-secret-key")
    return rest


@contextmanager
def statements_of(db):
    """The SELECTs run meanwhile that read task rows, with their parameters."""
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and any(t in statement for t in TASK_TABLES):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def plan_of(db, statement, parameters) -> list[str]:
    """The plan as lines: SQLite's as it prints them; PostgreSQL's nodes as 'Node Type, relation,
    index, index condition'."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            return [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        [(document,)] = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).all()
        conn.rollback()
    lines, nodes = [], [(document if isinstance(document, list) else json.loads(document))[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        if node["Node Type"] == "Sort":  # what it sorts: a table's rows, or rows already cut down
            child = node["Plans"][0]
            by_ids = "by listed ids " if "id = ANY" in (child.get("Index Cond") or "") else ""
            lines.append(f"Sort of {child['Node Type']} {by_ids}{child.get('Relation Name') or ''}")
        lines.append(" ".join(filter(None, (node["Node Type"], node.get("Relation Name"), node.get("Index Name"),
                                            node.get("Index Cond")))))
        nodes.extend(node.get("Plans", []))
    return lines


def check_plans(db, seen) -> str:
    """Each statement's plan reads no task rows in full and sorts none; the plans, joined."""
    assert seen
    plans = []
    for statement, parameters in seen:
        lines = plan_of(db, statement, parameters)
        for line in lines:
            for table in TASK_TABLES:
                if db.is_sqlite:
                    assert not line.startswith(f"SCAN {table}"), (line, statement)
                    assert "TEMP B-TREE FOR ORDER BY" not in line, (line, statement)
                else:
                    assert line != f"Seq Scan {table}", (line, statement)
                    # a sort of a table's rows; rows fetched by a page's listed ids (a merge join may sort them) are few
                    assert not (line.startswith("Sort of") and line.endswith(table) and "by listed ids" not in line), \
                        (line, statement)
        plans.append(" | ".join(lines))
    return "\n".join(plans)


def test_the_rest_inbox_and_count_read_their_indexes(review):
    edu = review.as_("edu")
    with statements_of(review.db) as listed:
        assert len(edu.get("/task", candidateGroup="unit:edu", maxResults=50).get_json()) == 3
        assert len(edu.get("/task", candidateGroup="unit:edu", firstResult=1, maxResults=1,
                           includeAssignedTasks="true").get_json()) == 1
    plans = check_plans(review.db, listed)
    assert "ix_task_candidate_inbox_created" in plans, plans
    task = edu.get("/task", candidateGroup="unit:edu", maxResults=1).get_json()[0]["id"]
    with statements_of(review.db) as looked:  # as every change of a task checks who may see it
        assert edu.get(f"/task/{task}").status_code == 200
    plans = check_plans(review.db, looked).replace("\n", " | ").split(" | ")
    candidates = [line for line in plans if "task_candidate" in line]
    assert all("task_id" in line for line in candidates), plans  # that task's rows if any, not the bureau's
    with statements_of(review.db) as counted:
        assert edu.get("/task/count", candidateGroup="unit:edu").get_json() == {"count": 3}
    assert "ix_inbox_count_group" in check_plans(review.db, counted)


def test_the_tasks_of_one_instance_are_read_from_that_instances_rows(review):
    """What Camunda clients ask before each completion (GET /task?processInstanceId=…) reads the
    instance's own task rows from their index, never the list of every ready task (those few rows
    may then be sorted)."""
    edu = review.as_("edu")
    instance = edu.get("/task", candidateGroup="unit:edu", maxResults=1).get_json()[0]["processInstanceId"]
    with statements_of(review.db) as seen:
        assert len(edu.get("/task", processInstanceId=instance).get_json()) == 1
        assert edu.get("/task/count", processInstanceIdIn=instance).get_json() == {"count": 1}
    assert len(seen) == 2
    if not review.db.is_sqlite:
        return  # which index PostgreSQL takes among a few rows depends on its statistics (with them: this one)
    for statement, parameters in seen:
        lines = [line for line in plan_of(review.db, statement, parameters) if "user_task" in line]
        assert lines and all("ix_user_task_instance_state" in line for line in lines), (lines, statement)


def test_the_web_inbox_pages_read_their_indexes(review):
    web = review.app.test_client()
    web.get("/login")
    for name in ("edu", "office"):
        web.post("/login", data={"name": name, "password": PASSWORD, "_csrf": csrf(web)})
        with statements_of(review.db) as seen:
            page = web.get("/inbox/bureau" if name == "edu" else "/inbox/all")
            assert page.status_code == 200 and "P-0" in page.get_data(as_text=True)
        web.post("/logout", data={"_csrf": csrf(web)})
        plans = check_plans(review.db, seen)
        assert ("ix_task_candidate_inbox_due" if name == "edu" else "ix_user_task_inbox_due") in plans, plans
        if not review.db.is_sqlite:
            continue  # which index PostgreSQL takes for 我的待办 among a few rows depends on its statistics
        mine = [line.split("ix_user_task_assignee_state", 1)[1] for line in plans.replace("\n", " | ").split(" | ")
                if "ix_user_task_assignee_state" in line]  # 我的待办's count: the index's condition
        assert mine and all("assignee" in condition for condition in mine), plans  # the user's range, not all ready


def test_an_officials_look_at_one_instance_reads_that_instances_rows(review):
    """Whether an official may see an instance (as every /process-instance/{id} call checks) looks
    at that instance's own task rows, also those of a process it called: never a list of every task
    the official was offered."""
    edu = review.as_("edu")
    task = edu.get("/task", candidateGroup="unit:edu", maxResults=1).get_json()[0]
    with statements_of(review.db) as seen:
        assert edu.get(f"/process-instance/{task['processInstanceId']}").status_code == 200
    plans = check_plans(review.db, seen)
    lines = plans.replace("\n", " | ").split(" | ")
    assert any("ix_user_task_called_instance_id" in line for line in lines), plans
