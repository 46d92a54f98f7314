#!/usr/bin/env python3
"""Latency of the REST API as its clients see it: a real `dalad serve` and one keep-alive client.

The shared workload (../shared/bench/permit40.bpmn, its lanes' groups as unit groups so an
official can hold them) is started and its user tasks completed over HTTP with a Bearer token,
each completion with the form data spiff_ceiling.fill() gives. Prints, medians and 95th
percentiles over all requests of the run:

    http complete: median X ms, p95 Y ms
    http start: median X ms, p95 Y ms
    http basic overhead: X ms      (a call with HTTP Basic minus the same call with Bearer, alternated)

    python bench/http_latency.py [--instances N] [--database-url URL]
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from engine_throughput import fresh_database, machine_line  # noqa: E402
from spiff_ceiling import WORKLOAD, fill  # noqa: E402

from engine import services, tokens, users  # noqa: E402
from engine.definitions import BundleFile  # noqa: E402

PASSWORD = "bench-password-0123"
KEY = "benchmark-history-key-0123456789"


def workload() -> bytes:
    """permit40 with each lane's group as a unit group (bureaus of the 办法 are a fixed table)."""
    return WORKLOAD.read_text(encoding="utf-8").replace('candidateGroups="', 'candidateGroups="unit:').encode()


def groups() -> list[str]:
    import re
    return sorted(set(re.findall(r'candidateGroups="([^"]+)"', workload().decode())))


def prepare(url: str) -> str:
    """Database with the workload, an official in all its groups, and that official's token."""
    db = fresh_database(url)
    with db.write() as session:
        services.deploy(session, [BundleFile(WORKLOAD.name, workload())], name="bench", user="bench")
        users.add_user(session, "bench", PASSWORD, bureaus=groups(), roles=[])
        token = tokens.create_token(session, "bench", "bench")
    db.dispose()
    return token


class Server:
    """`dalad serve` on a free port, as operators run it."""

    def __init__(self, url: str, workdir: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "DALAD_DATABASE_URL": url, "DALAD_HISTORY_KEY": KEY, "DALAD_INSTANCE_DIR": workdir}
        self.process = subprocess.Popen([str(REPO / ".venv" / "bin" / "dalad"), "serve", "--port", str(self.port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("dalad serve did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class Client:
    def __init__(self, port: int, authorization: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.authorization = authorization

    def call(self, method: str, path: str, body=None, authorization: str | None = None) -> tuple[float, object]:
        headers = {"Authorization": authorization or self.authorization}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        t0 = time.perf_counter()
        self.connection.request(method, "/engine-rest" + path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - t0
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {payload[:300]!r}")
        return elapsed, (json.loads(payload) if payload else None)


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def run(client: Client, instances: int) -> tuple[list[float], list[float]]:
    starts, completes = [], []
    for n in range(instances):
        elapsed, instance = client.call("POST", "/process-definition/key/bench_permit/start",
                                        {"businessKey": f"bench-{n}"})
        starts.append(elapsed)
        done = 0
        while True:
            _, open_tasks = client.call("GET", f"/task?processInstanceId={instance['id']}")
            if not open_tasks:
                break
            task = open_tasks[0]  # the oldest first
            variables = {k: {"value": v} for k, v in fill(task["taskDefinitionKey"], done).items()}
            elapsed, _ = client.call("POST", f"/task/{task['id']}/complete", {"variables": variables})
            completes.append(elapsed)
            done += 1
    return starts, completes


def basic_overhead(client: Client, rounds: int) -> float:
    basic = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
    with_basic, with_bearer = [], []
    for _ in range(rounds):
        with_bearer.append(client.call("GET", "/task?maxResults=1")[0])
        with_basic.append(client.call("GET", "/task?maxResults=1", authorization=basic)[0])
    return statistics.median(with_basic) - statistics.median(with_bearer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        token = prepare(url)
        server = Server(url, tmp)
        try:
            client = Client(server.port, f"Bearer {token}")
            run(client, 2)  # warm up
            starts, completes = run(client, args.instances)
            overhead = basic_overhead(client, 200)
        finally:
            server.stop()
    print(machine_line())
    print(f"database: {url.split(':')[0]}; dalad serve, one keep-alive client, Bearer")
    print(f"http complete: median {statistics.median(completes) * 1000:.2f} ms, p95 {p95(completes) * 1000:.2f} ms")
    print(f"http start: median {statistics.median(starts) * 1000:.2f} ms, p95 {p95(starts) * 1000:.2f} ms")
    print(f"http basic overhead: {overhead * 1000:.2f} ms")


if __name__ == "__main__":
    main()
