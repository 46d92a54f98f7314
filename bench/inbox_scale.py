#!/usr/bin/env python3
"""The inbox and completions with 100,000 open tasks: a bureau's REST inbox, the web inbox pages
and HTTP completions, against a real `dalad serve`.

Seeds N open tasks (default 100,000) through the engine's services, a thousand starts per
transaction: instances of a monthly-report loop (tests/diagrams/progress_loop.bpmn), each waiting
at its report task, all offered to one bureau (unit:edu) — the worst case for that bureau's
inbox. Completions are timed first when 1,000 tasks are open, for comparison. Then prints
medians and p95 over alternated requests, and:

    inbox 100k: rest p95 X ms, web p95 Y ms   (REST /task?candidateGroup=…&maxResults=50 and
                                                /task/count; web /inbox/bureau and /inbox/all)
    complete 100k: p95 X ms (with 1000: Y ms)  (POST /task/{id}/complete of a report among them)

    python bench/inbox_scale.py [--tasks N] [--database-url URL]
"""
from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_throughput import LOOP, fresh_database, machine_line  # noqa: E402
from http_latency import PASSWORD, Client, Server, p95  # noqa: E402

from engine import services, tokens, users  # noqa: E402
from engine.database import Database  # noqa: E402
from engine.definitions import BundleFile  # noqa: E402

BUREAU = "unit:edu"
SMALL = 1000  # completions are measured first on this many open tasks, for comparison


def seed(url: str, count: int, *, done: int = 0) -> dict:
    """The database with `count` open tasks (`done` of them there already, else a fresh database);
    tokens of an official of the bureau and of the office."""
    db = Database(url) if done else fresh_database(url)
    issued = {}
    if not done:
        with db.write() as session:
            services.deploy(session, [BundleFile(LOOP.name, LOOP.read_bytes())], name="bench", user="bench")
            users.add_user(session, "bench", PASSWORD, bureaus=[BUREAU], roles=[])
            users.add_user(session, "clerk", PASSWORD, bureaus=[BUREAU], roles=[])
            users.add_user(session, "chief", PASSWORD, bureaus=["office"], roles=[])
            issued = {name: tokens.create_token(session, name, "bench") for name in ("bench", "clerk")}
    t0 = time.perf_counter()
    while done < count:
        with db.write() as session:
            for _ in range(min(1000, count - done)):
                services.start_process(session, "progress_loop", business_key=f"seed-{done}", user="bench")
                done += 1
        if done % 10_000 == 0:
            print(f"seeded {done} open tasks ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    db.dispose()
    return issued


class Browser:
    """A logged-in official's browser session (cookie, CSRF token), keep-alive."""

    def __init__(self, port: int, name: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.cookie = ""
        page = self.get("/login")[1]
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"name": name, "password": PASSWORD, "_csrf": csrf})
        self._request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})

    def _request(self, method, path, body=None, headers=None):
        headers = {**(headers or {}), **({"Cookie": self.cookie} if self.cookie else {})}
        t0 = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        elapsed = time.perf_counter() - t0
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        if response.status >= 400:
            raise SystemExit(f"{method} {path}: {response.status}")
        return elapsed, text

    def get(self, path: str):
        return self._request("GET", path)


def completions(url: str, tmp: str, issued: dict, rounds: int) -> list[float]:
    """Times of HTTP completions of the bureau's tasks (the last of its first page each time)."""
    server = Server(url, tmp)
    try:
        worker = Client(server.port, f"Bearer {issued['bench']}")
        return [complete_one(worker) for _ in range(rounds)]
    finally:
        server.stop()


def complete_one(worker: Client) -> float:
    page = worker.call("GET", f"/task?candidateGroup={urllib.parse.quote(BUREAU)}&maxResults=50")[1]
    variables = {"finished": {"value": False}, "progress": {"value": "on schedule"}}
    return worker.call("POST", f"/task/{page[-1]['id']}/complete", {"variables": variables})[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    small = min(SMALL, args.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        issued = seed(url, small)
        small_completes = completions(url, tmp, issued, args.requests)
        seed(url, args.tasks, done=small)
        server = Server(url, tmp)
        try:
            clerk = Client(server.port, f"Bearer {issued['clerk']}")
            worker = Client(server.port, f"Bearer {issued['bench']}")
            clerk_web, chief_web = Browser(server.port, "clerk"), Browser(server.port, "chief")
            if "seed-0" not in clerk_web.get("/inbox/bureau")[1]:
                raise SystemExit("the bureau's inbox does not show the seeded tasks")
            rest, count, web_bureau, web_all, completes = [], [], [], [], []
            query = f"candidateGroup={urllib.parse.quote(BUREAU)}"
            for _ in range(args.requests):
                rest.append(clerk.call("GET", f"/task?{query}&maxResults=50")[0])
                count.append(clerk.call("GET", f"/task/count?{query}")[0])
                web_bureau.append(clerk_web.get("/inbox/bureau")[0])
                web_all.append(chief_web.get("/inbox/all")[0])
                completes.append(complete_one(worker))
        finally:
            server.stop()
    ms = 1000
    print(machine_line())
    print(f"database: {url.split(':')[0]}; {args.tasks} open tasks, all offered to {BUREAU}; dalad serve")
    print(f"rest /task?candidateGroup&maxResults=50: median {statistics.median(rest) * ms:.2f} ms, "
          f"p95 {p95(rest) * ms:.2f} ms; /task/count: median {statistics.median(count) * ms:.2f} ms, "
          f"p95 {p95(count) * ms:.2f} ms")
    print(f"web /inbox/bureau: median {statistics.median(web_bureau) * ms:.2f} ms, p95 {p95(web_bureau) * ms:.2f} ms; "
          f"/inbox/all: median {statistics.median(web_all) * ms:.2f} ms, p95 {p95(web_all) * ms:.2f} ms")
    print(f"inbox {args.tasks // 1000}k: rest p95 {max(p95(rest), p95(count)) * ms:.2f} ms, "
          f"web p95 {max(p95(web_bureau), p95(web_all)) * ms:.2f} ms")
    print(f"complete: {small} open tasks median {statistics.median(small_completes) * ms:.2f} ms, "
          f"p95 {p95(small_completes) * ms:.2f} ms; {args.tasks}: median {statistics.median(completes) * ms:.2f} ms")
    print(f"complete {args.tasks // 1000}k: p95 {p95(completes) * ms:.2f} ms (with {small}: {p95(small_completes) * ms:.2f} ms)")


if __name__ == "__main__":
    main()
