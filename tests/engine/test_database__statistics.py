"""SQLite's query statistics: it never runs ANALYZE by itself, so `PRAGMA optimize` keeps them
where they are missing or stale: when the command line's connections close (Database.dispose),
daily in the server (the scheduler's job) and after a schema change (Database.upgrade)."""
from __future__ import annotations

import sqlite3

import pytest

from conftest import TEST_KEY, bundle
from engine import history, instances, services
from engine.database import Database
from engine.scheduler import OPTIMIZE_JOB, start_scheduler

pytestmark = pytest.mark.sqlite_only


def _statistics(path) -> set[str]:
    """The tables sqlite_stat1 holds statistics of."""
    with sqlite3.connect(path) as connection:
        try:
            return {table for (table,) in connection.execute("SELECT tbl FROM sqlite_stat1")}
        except sqlite3.OperationalError:  # no such table: never analyzed
            return set()


def _used(tmp_path) -> tuple[Database, str]:
    """A database whose connection deployed, started instances and read the inbox by its indexes."""
    path = str(tmp_path / "dalad.sqlite3")
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    instances.clear_caches()  # the definitions cached are another database's
    history.set_key(TEST_KEY)
    with db.write() as session:
        services.deploy(session, bundle("review.bpmn"), name="statistics", user="admin")
    for n in range(30):
        with db.write() as session:
            services.start_process(session, "review", business_key=f"S-{n}", user="admin", variables={"unit": "edu", "amount": n})
    with db.read() as session:
        assert services.tasks(session, groups=["unit:edu"])
    return db, path


def test_the_command_lines_connections_keep_the_statistics_of_what_they_queried_when_they_close(tmp_path):
    db, path = _used(tmp_path)
    assert _statistics(path) == set()  # a schema just made: nothing to analyze
    db.dispose()
    assert {"user_task", "process_instance"} <= _statistics(path)


def test_the_servers_scheduler_keeps_them_daily(tmp_path):
    db, path = _used(tmp_path)
    scheduler = start_scheduler(db, interval_seconds=3600)
    try:
        job = scheduler.get_job(OPTIMIZE_JOB)
        assert job.trigger.interval.total_seconds() == 24 * 3600
        job.func(*job.args)  # as the scheduler runs it
    finally:
        scheduler.shutdown(wait=False)
    assert {"user_task", "process_instance"} <= _statistics(path)
    db.engine.dispose()
