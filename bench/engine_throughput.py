#!/usr/bin/env python3
"""Engine throughput on the shared workload, as a ratio of plain in-memory SpiffWorkflow and of
the durable limit; the cost of a step on a long-lived instance; the proof of its history.

Runs ../shared/bench/permit40.bpmn through the engine's services on a fresh SQLite file (default
durability: WAL, synchronous=FULL): each user task is completed in a transaction of its own, with
the state loaded from and saved to the database as a web request would do it; the completion
answers with the tasks now open, and the next one is completed. In the same run, interleaved, it
measures `spiff_ceiling.ceiling()` and one bare durable commit of the same bytes as an instance's
state, and prints `ratio: R` (engine tasks/s over ceiling tasks/s) and `durable-limit ratio: R`
(engine tasks/s over the tasks/s of in-memory SpiffWorkflow plus one bare commit per task; the bare
commit runs on a driver connection of the engine's pool, without SQLAlchemy's or the engine's layers,
writes new bytes all through the row, and follows as much CPU work as one in-memory task: a sync
right after another costs far less on a virtual machine's disk, so the ratio with the commits back
to back is printed too), and `the engine's own COMMIT: median X ms per step` beside a bare commit
as far apart as the engine's.
On SQLite it also replays the SQL of one instance's steps (traced by sqlite3, values inlined, so
each statement is parsed anew: a little more than the engine pays) on a copy of the database taken
just before them, on a driver connection with the engine's settings: `step statements alone: X ms
per task`, what the database does for a step (its rows, their indexes, one durable commit), and
what the engine spends beyond them and in-memory SpiffWorkflow; and the durable-limit ratio the
engine would reach if its own Python cost nothing (in-memory SpiffWorkflow plus those statements).

Then a monthly-report loop (tests/diagrams/progress_loop.bpmn) is driven to 1,000 and 10,000
history events; completions on it and on fresh instances alternate: `long instance: N events X ms,
fresh Y ms` (medians), and `verify: 1000 events X ms` (`dalad history verify` of it).

    python bench/engine_throughput.py [--instances N] [--database-url URL] [--cold]

--cold drops the engine's in-process workflow cache before every task, as if each request landed
on a different server process (state parsed from the database every time).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_BENCH = Path(os.environ.get("DALAD_SHARED_BENCH", REPO.parent / "shared" / "bench"))
sys.path.insert(0, str(SHARED_BENCH))
sys.path.insert(0, str(REPO))

from spiff_ceiling import WORKLOAD, ceiling, fill  # noqa: E402

from sqlalchemy import event, select, text  # noqa: E402

from engine import history, instances, replay, services  # noqa: E402
from engine.database import Database  # noqa: E402
from engine.definitions import BundleFile  # noqa: E402
from engine.models import ProcessInstance  # noqa: E402

LOOP = REPO / "tests" / "diagrams" / "progress_loop.bpmn"


def run_instance(db: Database, n: int, cold: bool) -> tuple[int, float]:
    t0 = time.perf_counter()
    with db.write() as session:
        row = services.start_process(session, "bench_permit", business_key=f"bench-{n}", user="bench")
        instance_id, open_tasks = row.id, dict(row.open_tasks)
    done = 0
    while open_tasks:  # the completion answers with the tasks now open, as the REST API does
        task_id, element = min(open_tasks.values())
        if cold:
            instances.clear_caches()
        with db.write() as session:
            row = services.complete_task(session, task_id, user=f"user{done % 17:03d}",
                                         data=fill(element, done), check_access=False)
            open_tasks = dict(row.open_tasks)
        done += 1
    elapsed = time.perf_counter() - t0
    with db.read() as session:
        assert services.instance(session, instance_id).status == "completed"
    return done, elapsed


def bare_commits(db: Database, size: int, count: int, pace: float = 0.0) -> float:
    """Median seconds of one transaction that writes `size` characters to one row and commits,
    straight on a driver connection of the engine's pool (its settings: WAL and synchronous=FULL on
    SQLite), with none of the engine's layers: the least a durable step can cost.

    `pace`: seconds of CPU work before each commit, as an engine that commits once per task works
    between its commits. On this kind of virtual machine a sync right after another is several
    times cheaper than one after even half a millisecond of work (0.09 ms against 0.5-1.1 ms for
    a one-row commit), so commits back to back cost less than any engine's one per task can."""
    times = []
    raw = db.engine.raw_connection()
    try:
        sql = "UPDATE bench_bare_commit SET body = ? WHERE id = 1" if db.is_sqlite else \
            "UPDATE bench_bare_commit SET body = %s WHERE id = 1"
        raw.rollback()
        for _ in range(count):
            # New bytes all through, as a step's new state: SQLite skips writing the overflow pages
            # of an UPDATE whose bytes there did not change (a body new only in its first characters
            # commits one page, not the state's).
            body = os.urandom(size // 2 + 1).hex()[:size]
            _busy(pace)
            t0 = time.perf_counter()
            cursor = raw.cursor()
            if db.is_sqlite:  # (the pool's SQLite connections leave BEGIN to their user, as the engine's do)
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(sql, (body,))
            raw.commit()
            times.append(time.perf_counter() - t0)
            cursor.close()
    finally:
        raw.close()
    return statistics.median(times)


def _busy(seconds: float) -> None:
    """Keep the CPU busy for `seconds` (work, not sleep: as an engine runs a task)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@contextlib.contextmanager
def commit_times(db: Database):
    """Collect the seconds of each COMMIT the engine's write sessions run meanwhile: from the
    engine's `commit` event to the session's `after_commit` (SQLite: the WAL frames written and
    synced; PostgreSQL: the round trip): the disk's part of a step, as this machine gives it."""
    times: list[float] = []
    started: list[float] = []

    def before(_connection):
        started.append(time.perf_counter())

    def after(_session):
        if started:
            times.append(time.perf_counter() - started.pop())
    event.listen(db.engine, "commit", before, insert=True)  # before the engine's own (PostgreSQL's COMMIT is sent there)
    event.listen(db.write_session, "after_commit", after)
    try:
        yield times
    finally:
        event.remove(db.engine, "commit", before)
        event.remove(db.write_session, "after_commit", after)


def _copy_database(source: str, target: str) -> None:
    """A consistent copy of an SQLite file (sqlite3's backup), both connections closed after."""
    with contextlib.closing(sqlite3.connect(source)) as origin, contextlib.closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def captured_steps(db: Database, snapshot: str) -> tuple[list[list[str]], int]:
    """SQLite: copy the database to `snapshot`, then run one instance and return the write
    transactions its start and completions ran, as the SQL text sqlite3 traced (values inlined,
    BEGIN to COMMIT), and how many tasks it completed."""
    _copy_database(db.engine.url.database, snapshot)
    traced: list[str] = []

    def trace(dbapi_connection, _record, _proxy):
        dbapi_connection.set_trace_callback(traced.append)
    event.listen(db.engine, "checkout", trace)
    try:
        done, _ = run_instance(db, -100, False)
    finally:
        event.remove(db.engine, "checkout", trace)
        db.engine.dispose()  # its connections trace no more
    transactions, current = [], []
    for sql in traced:
        if sql.lstrip().upper().startswith("BEGIN"):
            current = []
            transactions.append(current)
        current.append(sql)
    writes = [t for t in transactions if any(s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for s in t)]
    return writes, done


def replayed_steps(snapshot: str, scratch: str, transactions: list[list[str]]) -> float:
    """Seconds the transactions take on a copy of the snapshot, run straight on a driver
    connection with the engine's settings (WAL, synchronous=FULL, its pragmas): what the database
    itself does for the engine's steps, without the engine."""
    _copy_database(snapshot, scratch)
    replay_db = Database(f"sqlite:///{scratch}")
    raw = replay_db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        t0 = time.perf_counter()
        for transaction in transactions:
            for sql in transaction:
                cursor.execute(sql)
                if cursor.description:
                    cursor.fetchall()
        elapsed = time.perf_counter() - t0
    finally:
        raw.close()
        replay_db.dispose()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(scratch + suffix):
                os.remove(scratch + suffix)
    return elapsed


def measure(db: Database, rounds: int, warmup: int, cold: bool) -> tuple[dict, dict, dict]:
    """Alternate one engine instance, one ceiling instance and a set of bare commits per round, so
    all see the same machine (a shared virtual machine drifts); return the medians of each."""
    with db.write() as session:
        services.deploy(session, [BundleFile(WORKLOAD.name, WORKLOAD.read_bytes())], name="bench", user="bench")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_bare_commit (id INTEGER PRIMARY KEY, body TEXT)"))
        conn.execute(text("INSERT INTO bench_bare_commit VALUES (1, '')"))
    for i in range(warmup):
        run_instance(db, -1 - i, cold)
    ceiling(instances=1, warmup=warmup)
    with db.read() as session:  # the bytes a step writes: a (finished) instance's state
        size = len(session.scalars(select(ProcessInstance.state).order_by(ProcessInstance.id).limit(1)).first())
    steps, snapshot = None, None
    if db.is_sqlite:
        snapshot = db.engine.url.database + ".snapshot"
        steps, traced_tasks = captured_steps(db, snapshot)
    ours, spiff, commits, back_to_back, engine_paced, replays, step_commits = [], [], [], [], [], [], []
    for i in range(rounds):
        with commit_times(db) as times:
            done, elapsed = run_instance(db, i, cold)
        step_commits.extend(times)
        ours.append(done / elapsed)
        spiff.append(ceiling(instances=1, warmup=0)["tasks_per_s_median"])
        back_to_back.append(bare_commits(db, size, done))
        commits.append(bare_commits(db, size, done, pace=1 / spiff[-1]))
        engine_paced.append(bare_commits(db, size, done, pace=max(1 / ours[-1] - statistics.median(times), 0)))
        if steps is not None:
            replays.append(replayed_steps(snapshot, snapshot + ".replay", steps) / traced_tasks)
    if snapshot is not None:
        os.remove(snapshot)
    return ({"user_tasks_per_instance": done, "tasks_per_s_median": statistics.median(ours)},
            {"tasks_per_s_median": statistics.median(spiff)},
            {"commit_s_median": statistics.median(commits), "state_chars": size,
             "back_to_back_s_median": statistics.median(back_to_back),
             "engine_paced_s_median": statistics.median(engine_paced),
             "step_commit_s_median": statistics.median(step_commits),
             "statements_s_median": statistics.median(replays) if replays else None})


# --- a long-lived instance ---------------------------------------------------------------------

def _start_loop(db: Database) -> int:
    with db.write() as session:
        return services.start_process(session, "progress_loop", user="bench").id


def _complete_loop(db: Database, instance_id: int, cold: bool) -> float:
    """Seconds of one completion (its own transaction) of the loop's report task."""
    with db.read() as session:
        [(task_id, _)] = session.get(ProcessInstance, instance_id).open_tasks.values()
    if cold:
        instances.clear_caches()
    t0 = time.perf_counter()
    with db.write() as session:
        services.complete_task(session, task_id, user="bench", data={"finished": False}, check_access=False)
    return time.perf_counter() - t0


def _drive_loop(db: Database, instance_id: int, events: int) -> None:
    """Complete rounds, many per transaction, until the instance has `events` history events."""
    while True:
        with db.write() as session:
            row = session.get(ProcessInstance, instance_id)
            if row.history_count >= events:
                return
            for _ in range(min(200, (events - row.history_count + 1) // 2)):
                [(task_id, _)] = session.get(ProcessInstance, instance_id).open_tasks.values()
                services.complete_task(session, task_id, user="bench", data={"finished": False},
                                       check_access=False)


def long_instance(db: Database, marks: tuple[int, ...], samples: int, cold: bool) -> list[dict]:
    """At each mark of history events: medians of completions on the long instance and on fresh
    instances, alternated; at the first mark also the time `verify` takes."""
    with db.write() as session:
        services.deploy(session, [BundleFile(LOOP.name, LOOP.read_bytes())], name="loop", user="bench")
    long_id = _start_loop(db)
    out = []
    for mark in marks:
        _drive_loop(db, long_id, mark)
        longs, fresh = [], []
        for _ in range(samples):
            longs.append(_complete_loop(db, long_id, cold))
            new = _start_loop(db)
            fresh.append(statistics.median(_complete_loop(db, new, cold) for _ in range(3)))
        with db.read() as session:
            events = session.get(ProcessInstance, long_id).history_count
        result = {"events": mark, "recorded": events, "long_s": statistics.median(longs),
                  "fresh_s": statistics.median(fresh)}
        if mark == marks[0]:
            proofs = []
            for _ in range(3):
                with db.read() as session:
                    t0 = time.perf_counter()
                    chain, report = replay.verify(session, long_id)
                    proofs.append(time.perf_counter() - t0)
                assert chain.ok and report.ok, report
            result["verify_s"], result["verified_events"] = statistics.median(proofs), report.events
        out.append(result)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=30, help="rounds: instances of each (default 30)")
    ap.add_argument("--database-url")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--samples", type=int, default=30, help="completions per mark of the long instance")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        db = fresh_database(url)
        ours, spiff, bare = measure(db, args.instances, 2, args.cold)
        longs = long_instance(db, (1000, 10_000), args.samples, args.cold)
        db.dispose()
    ratio = ours["tasks_per_s_median"] / spiff["tasks_per_s_median"]
    limit_s = 1 / spiff["tasks_per_s_median"] + bare["commit_s_median"]
    print(machine_line())
    print(f"database: {url.split(':')[0]}{' (cold cache)' if args.cold else ''}")
    print(f"dalad engine: {ours['tasks_per_s_median']:.0f} user tasks/s "
          f"({1000 / ours['tasks_per_s_median']:.2f} ms per task, {ours['user_tasks_per_instance']} per instance)")
    print(f"plain SpiffWorkflow in memory: {spiff['tasks_per_s_median']:.0f} user tasks/s "
          f"({1000 / spiff['tasks_per_s_median']:.2f} ms per task)")
    print(f"bare durable commit of {bare['state_chars']} characters: {bare['commit_s_median'] * 1000:.2f} ms "
          f"after one in-memory task's work, {bare['back_to_back_s_median'] * 1000:.2f} ms back to back; "
          f"durable limit {limit_s * 1000:.2f} ms per task")
    print(f"the engine's own COMMIT: median {bare['step_commit_s_median'] * 1000:.2f} ms per step (its rows, "
          f"indexes and history written and synced); a bare commit as far apart: "
          f"{bare['engine_paced_s_median'] * 1000:.2f} ms")
    print(f"ratio: {ratio:.3f}")
    print(f"durable-limit ratio: {limit_s * ours['tasks_per_s_median']:.3f}")
    back_to_back_limit_s = 1 / spiff["tasks_per_s_median"] + bare["back_to_back_s_median"]
    print(f"durable-limit ratio with the commits back to back: {back_to_back_limit_s * ours['tasks_per_s_median']:.3f}")
    if bare["statements_s_median"] is not None:
        statements_s = bare["statements_s_median"]
        beyond_s = 1 / ours["tasks_per_s_median"] - 1 / spiff["tasks_per_s_median"] - statements_s
        print(f"step statements alone: {statements_s * 1000:.2f} ms per task (an instance's own SQL, replayed "
              f"straight on the driver); the engine beyond them and SpiffWorkflow: {beyond_s * 1000:.2f} ms")
        floor_s = 1 / spiff["tasks_per_s_median"] + statements_s
        print(f"durable-limit ratio if the engine's own Python cost nothing: {limit_s / floor_s:.3f} "
              f"(in-memory SpiffWorkflow plus the step statements alone: {floor_s * 1000:.2f} ms per task)")
    for result in longs:
        print(f"long instance: {result['events']} events {result['long_s'] * 1000:.2f} ms, "
              f"fresh {result['fresh_s'] * 1000:.2f} ms")
    first = longs[0]
    print(f"verify: {first['events']} events {first['verify_s'] * 1000:.0f} ms "
          f"({first['verified_events']} events re-executed and proven)")


def fresh_database(url: str) -> Database:
    """The database at `url`, emptied (a PostgreSQL one is reset), upgraded, with a history key."""
    db = Database(url)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade()
    history.set_key(b"benchmark-history-key-0123456789")
    return db


def machine_line() -> str:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, load average {load}")


if __name__ == "__main__":
    main()
