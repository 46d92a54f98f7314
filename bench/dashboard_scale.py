#!/usr/bin/env python3
"""The dashboard and the project list at 3,000 and 30,000 projects, against a real `dalad serve`.

Seeds projects through the engine's services, a thousand starts per transaction: instances of the
feasibility study (tests/diagrams/feasibility_ui.bpmn), each at its first task (due ten working
days after its start: a tenth started over the three years before, their tasks overdue), four
units, plan years 2024-2026, a third with a `stage` variable, half with an approved budget and
spending. At each size, prints the medians over alternated requests of the office's dashboard and
list pages (the whole list, filtered by stage, by year, by unit on page 3) and of the dashboard's
figures computed in-process (engine.projects.dashboard):

    dashboard 30k: web median X ms, engine median Y ms
    list 30k: median X ms (stage Y ms, year Z ms, unit page 3 W ms)

    python bench/dashboard_scale.py [--projects 3000,30000] [--requests N] [--database-url URL]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_throughput import REPO, fresh_database, machine_line  # noqa: E402
from http_latency import PASSWORD, Server  # noqa: E402
from inbox_scale import Browser  # noqa: E402

from engine import clock, projects, services, users  # noqa: E402
from engine.database import Database  # noqa: E402
from engine.definitions import BundleFile  # noqa: E402

DIAGRAM = REPO / "tests" / "diagrams" / "feasibility_ui.bpmn"
UNITS = ("edu", "health", "transport", "agri")
OFFICE = projects.Viewer("chief", ("office",), sees_all=True)


def seed(db: Database, start: int, count: int) -> None:
    """Projects `start` … `count` - 1: a tenth started over the three years before now (their tasks
    overdue), the others in the last week."""
    now = clock.now()
    t0 = time.perf_counter()
    n = start
    while n < count:
        with db.write() as session:
            for _ in range(min(1000, count - n)):
                ago = timedelta(days=3 * 365) * n / count if n % 10 == 0 else timedelta(minutes=n % 10_000)
                clock.set_time(now - ago)
                variables = {"unit": UNITS[n % 4], "project_name": f"项目{n}", "category": "software",
                             "estimated_budget": 1_000_000 + n, "plan_year": 2024 + n % 3}
                if n % 3 == 0:
                    variables["stage"] = ("construction", "design")[n % 2]
                if n % 2 == 0:
                    variables.update(approved_budget=1_800_000 + n, spend=250_000.5 + n)
                services.start_process(session, "feasibility_ui", business_key=f"P-{n:06d}",
                                       variables=variables, user=f"{UNITS[n % 4]}_clerk")
                n += 1
        if n % 10_000 == 0:
            print(f"seeded {n} projects ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    clock.reset()


def measure(url: str, tmp: str, db: Database, requests: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in ("dashboard", "engine", "list", "stage", "year", "unit")}
    server = Server(url, tmp)
    try:
        chief = Browser(server.port, "chief")
        if "P-000000" not in chief.get("/projects/?q=P-000000")[1]:
            raise SystemExit("the list does not show the seeded projects")
        for _ in range(requests):
            times["dashboard"].append(chief.get("/dashboard")[0])
            times["list"].append(chief.get("/projects/")[0])
            times["stage"].append(chief.get("/projects/?stage=construction")[0])
            times["year"].append(chief.get("/projects/?year=2025")[0])
            times["unit"].append(chief.get("/projects/?unit=edu&page=3")[0])
            t0 = time.perf_counter()
            with db.read() as session:
                projects.dashboard(session, OFFICE)
            times["engine"].append(time.perf_counter() - t0)
    finally:
        server.stop()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", default="3000,30000", help="the sizes, ascending, comma-separated")
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    sizes = sorted(int(size) for size in args.projects.split(","))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        db = fresh_database(url)
        with db.write() as session:
            services.deploy(session, [BundleFile(DIAGRAM.name, DIAGRAM.read_bytes())], name="bench", user="bench")
            users.add_user(session, "chief", PASSWORD, bureaus=["office"], roles=[])
        done = 0
        for size in sizes:
            seed(db, done, size)
            done = size
            db.optimize()  # as `dalad` does when its connections close
            results.append((size, measure(url, tmp, db, args.requests)))
        db.dispose()
    ms = 1000
    print(machine_line())
    print(f"database: {url.split(':')[0]}; projects of tests/diagrams/feasibility_ui.bpmn; dalad serve; "
          f"{args.requests} requests each")
    for size, times in results:
        median = {name: statistics.median(values) * ms for name, values in times.items()}
        label = f"{size // 1000}k" if size >= 1000 else str(size)
        print(f"dashboard {label}: web median {median['dashboard']:.2f} ms, engine median {median['engine']:.2f} ms")
        print(f"list {label}: median {median['list']:.2f} ms (stage {median['stage']:.2f} ms, year "
              f"{median['year']:.2f} ms, unit page 3 {median['unit']:.2f} ms)")


if __name__ == "__main__":
    main()
