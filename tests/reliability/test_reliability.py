"""The README's promises under load and faults, through the real HTTP path (make test-reliability,
once on SQLite and once on PostgreSQL):

- two real servers on 127.0.0.1, `dalad serve` and `dalad serve --production` (two worker
  processes), and client threads over HTTP that start review
  instances and complete their tasks: the same task by two officials at once on the two servers
  (one 204, one 409 "already completed by X at T"), and the two parallel tasks at once (both 204);
- a timer start cycle (every second) fired by five schedulers: the servers' three serving
  processes' and two more processes running the same loop;
- kill -9 of each server in turn mid-load, restarted on the same port; a request without an
  answer is sent again to the other server; on PostgreSQL, every connection dropped at once (what
  a database restart looks like): a 503 with Retry-After is sent again too;
- then the checker: every acknowledged completion is stored, by its official, exactly once; no
  task completed twice; every timer occurrence fired once, none skipped (from the history); every
  instance still moves on to its end over HTTP; `dalad history verify --all` passes.

Bounded in time and in rounds; load goes only to 127.0.0.1."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from conftest import DIAGRAMS, TEST_KEY
from engine import audit, clock, services
from engine.definitions import BundleFile
from engine.models import HistoryEvent, ProcessInstance, Timer, UserTask
from live_http import Client

HERE = Path(__file__).parent
DALAD = Path(sys.executable).with_name("dalad")
LOAD_SECONDS = 24
CLIENTS = 4
MAX_ROUNDS = 200  # per client: the load ends at LOAD_SECONDS or here, whichever comes first
TIMERS, SCHEDULER_PROCESSES = 3, 2  # timer start cycles (every second each); schedulers besides the servers'
KILLS_AT = (6, 13)  # seconds into the load: kill -9 server 0, then server 1
DROP_AT = 18  # PostgreSQL: every connection of the servers and schedulers dropped, as a restart does
PEOPLE = {"edu": ["unit:edu"], "dora": ["drc"], "dan": ["drc"], "fred": ["finance"]}
NO_ANSWER = (urllib.error.URLError, OSError, http.client.HTTPException)  # refused, reset, cut off mid-answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """`dalad serve` and `dalad serve --production` (two workers) on one database; each can be
    killed with SIGKILL (the production one's workers go with it) and restarted."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs = env, logs
        self.ports = [free_port(), free_port()]
        self.procs: list = [None, None]
        self.starts = [0, 0]

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def start(self, i: int) -> None:
        self.starts[i] += 1
        log = open(self.logs / f"server{i}-{self.starts[i]}.log", "wb")
        command, env = [str(DALAD), "serve", "--host", "127.0.0.1", "--port", str(self.ports[i])], self.env
        if i == 1:
            command, env = [str(DALAD), "serve", "--production"], {
                **self.env, "DALAD_BIND": f"127.0.0.1:{self.ports[i]}", "DALAD_WORKERS": "2"}
        self.procs[i] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_up(self, i: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.procs[i].poll() is None, f"server {i} exited: see {self.logs}"
            try:
                if Client(self.url(i), timeout=2).get("/healthz").status == 200:
                    return
            except NO_ANSWER:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server {i} did not come up in {timeout} s")

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)


class Ledger:
    """Every HTTP request of the load and its outcome; the completions the servers acknowledged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes: Counter = Counter()
        self.acknowledged: list[tuple[str, str]] = []  # (task REST id, official) answered 204
        self.conflicts: list[tuple[str, str, str]] = []  # (task REST id, official, message) answered 409
        self.unexpected: list[str] = []

    def note(self, what: str, reply) -> None:
        with self.lock:
            self.outcomes["attempts"] += 1
            if reply is None:
                self.outcomes["no answer"] += 1
            elif reply.status == 503 and reply.headers.get("Retry-After"):  # the database was away: retried
                self.outcomes["503"] += 1
            elif reply.status >= 500:
                self.outcomes["5xx"] += 1
                self.unexpected.append(f"{what}: {reply.status} {reply.text[:300]}")
            elif reply.status < 300:
                self.outcomes["ok"] += 1
            elif reply.status == 409:
                self.outcomes["conflicts"] += 1
            else:
                self.outcomes["other 4xx"] += 1
                self.unexpected.append(f"{what}: {reply.status} {reply.text[:300]}")


class Load:
    def __init__(self, servers: Servers, issued: dict, ledger: Ledger):
        self.servers, self.issued, self.ledger = servers, issued, ledger

    def call(self, who: str, server: int, method: str, path: str, what: str, body=None):
        """One request, sent again to the other server while there is no answer (a killed server) or
        the answer is 503 with Retry-After (the database was away)."""
        for attempt in range(8):
            client = Client(self.servers.url((server + attempt) % 2), bearer=self.issued[who], timeout=30)
            try:
                reply = client.request(method, path, json_body=body)
            except NO_ANSWER:
                self.ledger.note(what, None)
                time.sleep(0.3)
                continue
            self.ledger.note(what, reply)
            if reply.status == 503 and reply.headers.get("Retry-After"):
                time.sleep(0.3)
                continue
            return reply
        return None

    def complete(self, who: str, task_id: str, server: int, variables=None):
        reply = self.call(who, server, "POST", f"/engine-rest/task/{task_id}/complete", f"complete {task_id} as {who}",
                          {"variables": variables or {}})
        if reply is not None and reply.status == 204:
            with self.ledger.lock:
                self.ledger.acknowledged.append((task_id, who))
        elif reply is not None and reply.status == 409:
            with self.ledger.lock:
                self.ledger.conflicts.append((task_id, who, reply.json()["message"]))
        return reply

    def task_of(self, who: str, instance_id: str, element: str, server: int):
        reply = self.call(who, server, "GET", f"/engine-rest/task?processInstanceId={instance_id}"
                                              f"&taskDefinitionKey={element}", f"tasks of {instance_id}")
        found = reply.json() if reply is not None and reply.status == 200 else []
        return found[0]["id"] if found else None

    def round(self, client: int, number: int) -> None:
        server = (client + number) % 2
        started = self.call("edu", server, "POST", "/engine-rest/process-definition/key/review/start", "start",
                            {"businessKey": f"R-{client}-{number}", "variables": {"unit": {"value": "edu"}}})
        if started is None or started.status != 200:
            return
        instance_id = started.json()["id"]
        submit = self.task_of("edu", instance_id, "submit", server)
        if submit is None or self.complete("edu", submit, server, {"amount": {"value": 1500, "type": "Long"}}) is None:
            return
        drc, finance = (self.task_of(who, instance_id, element, server)
                        for who, element in (("dora", "drc_review"), ("fred", "finance_review")))
        if drc is None or finance is None:
            return
        if number % 2 == 0:  # the same task by two officials at once, one on each server
            at_once(lambda: self.complete("dora", drc, 0), lambda: self.complete("dan", drc, 1))
            self.complete("fred", finance, server)
        else:  # the two parallel tasks at once
            at_once(lambda: self.complete("dora", drc, server), lambda: self.complete("fred", finance, 1 - server))


def at_once(*calls) -> None:
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=60)
        call()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)


@pytest.fixture
def setup(db, tmp_path, officials):
    issued = officials(PEOPLE)
    with db.write() as session:
        cycle = (HERE / "every_second.bpmn").read_text(encoding="utf-8")
        files = [BundleFile("review.bpmn", (DIAGRAMS / "review.bpmn").read_bytes())] + [
            BundleFile(f"every_second_{k}.bpmn", cycle.replace('id="every_second"', f'id="every_second_{k}"').encode())
            for k in range(TIMERS)]
        services.deploy(session, files, name="reliability", user="admin")
    env = {**os.environ, "DALAD_DATABASE_URL": db.url, "DALAD_HISTORY_KEY": TEST_KEY.decode(),
           "DALAD_SECRET_KEY": "reliability-secret", "DALAD_INSTANCE_DIR": str(tmp_path / "instance")}
    env.pop("DALAD_DEMO", None)
    return issued, env


def test_every_promise_holds_under_load_kills_and_several_schedulers(db, setup, tmp_path):
    issued, env = setup
    servers, ledger = Servers(env, tmp_path), Ledger()
    schedulers = []
    try:
        for i in (0, 1):
            servers.start(i)
        for i in (0, 1):
            servers.wait_up(i)
        with db.read() as session:
            first_due = dict(session.execute(select(Timer.id, Timer.due_at).where(Timer.instance_id.is_(None))).all())
        for i in range(SCHEDULER_PROCESSES):
            with open(tmp_path / f"scheduler{i}.log", "wb") as log:
                schedulers.append(subprocess.Popen([sys.executable, str(HERE / "scheduler_loop.py"),
                                                    str(LOAD_SECONDS)], env=env, stdout=log, stderr=subprocess.STDOUT))
        load, began = Load(servers, issued, ledger), time.monotonic()

        def client(number):
            for r in range(MAX_ROUNDS):
                if time.monotonic() - began > LOAD_SECONDS:
                    return
                load.round(number, r)

        clients = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for t in clients:
            t.start()
        for i, at in enumerate(KILLS_AT):  # kill -9 mid-load, then the same server comes back
            time.sleep(max(0.0, began + at - time.monotonic()))
            servers.kill(i)
            servers.start(i)
            servers.wait_up(i)
        dropped = 0
        if not db.is_sqlite:
            time.sleep(max(0.0, began + DROP_AT - time.monotonic()))
            dropped = drop_every_connection(db)
        for t in clients:
            t.join(timeout=LOAD_SECONDS + 300)
        for i, proc in enumerate(schedulers):
            assert proc.wait(timeout=120) == 0, (tmp_path / f"scheduler{i}.log").read_text()
        movable = drive_every_instance_to_its_end(db, load)
    finally:
        servers.stop()
        for proc in schedulers:
            if proc.poll() is None:
                proc.kill()

    lost, double = check_completions(db, ledger)
    timers, timer_problems = check_timers(db, first_due)
    verify = subprocess.run([str(DALAD), "history", "verify", "--all"], env=env, capture_output=True, text=True,
                            timeout=600)
    o = ledger.outcomes
    print(f"\nreliability: {o['attempts']} attempts, {o['ok']} ok, {o['conflicts']} conflicts (409), "
          f"{len(lost)} lost, {len(double)} double, {o['5xx']} 5xx\n"
          f"  ({db.engine.dialect.name}: {o['no answer']} sent again for want of an answer (server killed), "
          f"{dropped} database connections dropped, {o['503']} sent again after 503 with Retry-After, "
          f"{len(ledger.acknowledged)} completions acknowledged, {timers} timer occurrences, "
          f"{movable} instances all moved to their end, {sum(servers.starts)} server starts)")
    assert not ledger.unexpected, ledger.unexpected[:10]
    assert lost == [] and double == [], (lost[:10], double[:10])
    assert timer_problems == [] and timers >= 5, (timers, timer_problems[:10])
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    assert verify.stdout.strip().splitlines()[-1].endswith("all OK")
    assert o["conflicts"] > 0 and len(ledger.acknowledged) > 20, o  # the load did race
    assert all("already completed by" in message for _, _, message in ledger.conflicts)


def drop_every_connection(db) -> int:
    """What the servers see of a PostgreSQL restart: every connection of theirs is gone at once.
    Returns how many there were."""
    with db.engine.connect() as conn:
        dropped = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        conn.commit()
    db.engine.dispose()
    return dropped


def drive_every_instance_to_its_end(db, load: Load) -> int:
    """Every review instance moves on over HTTP until it ends: nothing is stuck after the faults.
    Returns how many there are."""
    who = {"submit": "edu", "drc_review": "dora", "finance_review": "fred", "office_review": "dora"}
    for _ in range(5):
        with db.read() as session:
            ready = list(session.scalars(select(UserTask).where(UserTask.state == "ready").order_by(UserTask.id)))
        if not ready:
            break
        for task in ready:
            variables = {"amount": {"value": 1500, "type": "Long"}} if task.element_id == "submit" else {}
            reply = load.complete(who[task.element_id], task.rest_id, task.id % 2, variables)
            assert reply is not None and reply.status == 204, (task.id, task.element_id, reply and reply.text)
    with db.read() as session:
        statuses = Counter(session.scalars(select(ProcessInstance.status).where(ProcessInstance.process_key == "review")))
        assert set(statuses) == {"completed"}, f"instances that did not reach their end: {statuses}"
        return statuses["completed"]


def check_completions(db, ledger: Ledger) -> tuple[list, list]:
    """Each acknowledged completion stored by its official; no task completed twice."""
    with db.read() as session:
        rows = list(session.scalars(select(UserTask)))
        done = {t.rest_id: (t.state, t.completed_by) for t in rows}
        rest_ids = {t.id: t.rest_id for t in rows}
        per_task = Counter()
        for body in session.scalars(select(HistoryEvent.body).where(HistoryEvent.type == "task_completed")):
            per_task[rest_ids[json.loads(body)["data"]["task"]]] += 1
    lost = [(task, who) for task, who in ledger.acknowledged if done.get(task) != ("completed", who)]
    acknowledged = Counter(task for task, _ in ledger.acknowledged)
    double = sorted({task for task, n in per_task.items() if n > 1} | {task for task, n in acknowledged.items() if n > 1})
    return lost, double


def check_timers(db, first_due: dict) -> tuple[int, list[str]]:
    """Every occurrence of the every-second cycles fired once, from the first on, none skipped:
    how many fired, and what is wrong."""
    with db.read() as session:
        report = audit.verify_timer_occurrences(session)
        started = [json.loads(body)["data"] for body in session.scalars(
            select(HistoryEvent.body).where(HistoryEvent.type == "instance_started"))]
    problems = list(report.problems)
    for timer, due in first_due.items():
        dues = sorted(clock.aware(datetime.fromisoformat(d["due"])) for d in started if d.get("timer") == timer)
        if not dues or dues[0] != clock.aware(due):
            problems.append(f"timer {timer}: its first occurrence ({due}) did not fire first: {dues[:3]}")
    return report.occurrences, problems
