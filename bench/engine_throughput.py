#!/usr/bin/env python3
"""Engine throughput on the shared workload, as a ratio of plain in-memory SpiffWorkflow.

Runs ../shared/bench/permit40.bpmn through the engine's services on a fresh SQLite file (default
durability: WAL, synchronous=FULL): each user task is completed in a transaction of its own, with
the state loaded from and saved to the database as a web request would do it; the completion
answers with the tasks now open, and the next one is completed. In the same run it measures `spiff_ceiling.ceiling()` and prints both
figures and `ratio: R` (engine tasks/s over ceiling tasks/s, medians over instances).

    python bench/engine_throughput.py [--instances N] [--database-url URL] [--cold]

--cold drops the engine's in-process workflow cache before every task, as if each request landed
on a different server process (state parsed from the database every time).
"""
from __future__ import annotations

import argparse
import os
import platform
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

from engine import history, instances, services  # noqa: E402
from engine.database import Database  # noqa: E402
from engine.definitions import BundleFile  # noqa: E402


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


def measure(url: str, rounds: int, warmup: int, cold: bool) -> tuple[dict, dict]:
    """Alternate one engine instance and one ceiling instance per round, so both see the same
    machine (a shared virtual machine drifts); return the medians of each."""
    db = Database(url)
    db.upgrade()
    history.set_key(b"benchmark-history-key-0123456789")
    with db.write() as session:
        services.deploy(session, [BundleFile(WORKLOAD.name, WORKLOAD.read_bytes())], name="bench", user="bench")
    for i in range(warmup):
        run_instance(db, -1 - i, cold)
    ceiling(instances=1, warmup=warmup)
    ours, spiff = [], []
    for i in range(rounds):
        done, elapsed = run_instance(db, i, cold)
        ours.append(done / elapsed)
        spiff.append(ceiling(instances=1, warmup=0)["tasks_per_s_median"])
    db.dispose()
    return ({"user_tasks_per_instance": done, "tasks_per_s_median": statistics.median(ours)},
            {"tasks_per_s_median": statistics.median(spiff)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=30, help="rounds: instances of each (default 30)")
    ap.add_argument("--database-url")
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        ours, spiff = measure(url, args.instances, 2, args.cold)
    ratio = ours["tasks_per_s_median"] / spiff["tasks_per_s_median"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")
    print(f"database: {url.split(':')[0]}{' (cold cache)' if args.cold else ''}")
    print(f"dalad engine: {ours['tasks_per_s_median']:.0f} user tasks/s "
          f"({1000 / ours['tasks_per_s_median']:.2f} ms per task, {ours['user_tasks_per_instance']} per instance)")
    print(f"plain SpiffWorkflow in memory: {spiff['tasks_per_s_median']:.0f} user tasks/s "
          f"({1000 / spiff['tasks_per_s_median']:.2f} ms per task)")
    print(f"ratio: {ratio:.3f}")


if __name__ == "__main__":
    main()
