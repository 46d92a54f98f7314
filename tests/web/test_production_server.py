"""The server of `dalad serve` (web/server.py: granian), started as an operator would, over real
sockets: `dalad serve --production` (worker processes, access log, limits, X-Forwarded-For from
allowed peers) and, where the two differ, the development `dalad serve` (one process)."""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import TEST_KEY, deploy_files
from engine.database import Database
from engine import services
from engine.definitions import BundleFile
from engine.models import ProcessInstance, UserTask
from live_http import Client, dalad_serve
from web.server import SECRET_VARIABLES

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "flask-session-secret-0123456789abcdef"
EVERY_SECOND = REPO / "tests" / "reliability" / "every_second.bpmn"  # a timer start event, every second
pytestmark = pytest.mark.sqlite_only  # the reliability suite runs real servers on PostgreSQL too


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(db, tmp_path, **extra) -> dict:
    return {"PATH": str(BIN), "DALAD_DATABASE_URL": db.url, "DALAD_INSTANCE_DIR": str(tmp_path),
            "DALAD_HISTORY_KEY": TEST_KEY.decode(), "DALAD_SECRET_KEY": SECRET, "DALAD_SCHEDULER": "0", **extra}


def _served(db, tmp_path, production: bool, workers: str = "2", **extra):
    """(base URL, env, dalad serve's arguments) on a free port."""
    port = _free_port()
    env = _env(db, tmp_path, **{"DALAD_BIND": f"127.0.0.1:{port}", "DALAD_WORKERS": workers, "DALAD_THREADS": "4",
                                **extra})
    args = ["--production"] if production else ["--host", "127.0.0.1", "--port", str(port)]
    return f"http://127.0.0.1:{port}", env, args


def _raw(base: str, request: bytes) -> bytes:
    """Send `request` as it is; the answer's status line."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        return s.recv(65536).split(b"\r\n", 1)[0]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _listening(port: int) -> bool:
    """Whether any process listens on TCP `port` (/proc/net/tcp: state 0A). Read from the kernel, as
    a connect() to test it could connect to itself when nothing listens."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(what: str, test, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not test():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _submit_task(base: str, token: str, key: str) -> str:
    """Start a review instance over REST; the REST id of its first task (edu's `submit`)."""
    client = Client(base, bearer=token)
    started = client.post("/engine-rest/process-definition/key/review/start",
                          json_body={"businessKey": key, "variables": {"unit": {"value": "edu"}}})
    assert started.status == 200, started.text
    tasks = client.get(f"/engine-rest/task?processInstanceId={started.json()['id']}").json()
    return tasks[0]["id"]


def _completed_by(db, rest_id: str):
    with db.read() as session:
        task = session.scalars(select(UserTask).where(UserTask.rest_id == rest_id)).one()
        return task.state, task.completed_by


COMPLETE = json.dumps({"variables": {"amount": {"value": 1500, "type": "Long"}}}).encode()


@pytest.fixture
def edu(db, officials):
    deploy_files(db, "review.bpmn")
    return officials({"edu": ["unit:edu"]})["edu"]


def test_production_serves_with_its_limits_and_access_log(db, tmp_path, edu):
    base, env, args = _served(db, tmp_path, production=True)
    log = tmp_path / "serve.log"
    with dalad_serve(base, env, *args, log=log):
        reply = Client(base).get("/healthz")
        assert reply.json() == {"status": "ok", "database": "sqlite"}
        deep = Client(base, bearer=edu).post("/engine-rest/message", raw=b"[" * 1000 + b"]" * 1000,
                                             headers={"Content-Type": "application/json"})
        assert deep.status == 400 and "deeper than 64" in deep.text
        # the request line and headers: 32-48 KiB in all, at most 100 headers (431), and the server goes on
        assert _raw(base, b"GET /healthz?" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n").split()[1] in (b"414",
                                                                                                         b"431")
        assert _raw(base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 70_000 + b"\r\n\r\n"
                    ).split()[1] == b"431"
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(100))  # and Host
        assert _raw(base, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").split()[1] == b"431"
        assert Client(base).get("/healthz").status == 200
        # a second server on the same address is refused, naming it
        second = subprocess.run([str(BIN / "dalad"), "serve", *args], env=env, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 1 and f"{base.removeprefix('http://')} is in use" in second.stderr
    assert '"GET /healthz HTTP/1.1" 200' in log.read_text()  # the access log, on stdout
    assert "timer scheduler started" not in log.read_text()  # DALAD_SCHEDULER=0


def test_each_production_worker_runs_the_timer_scheduler_and_the_supervisor_none(db, tmp_path):
    with db.write() as session:
        services.deploy(session, [BundleFile("every_second.bpmn", EVERY_SECOND.read_bytes())], name="timers",
                        user="admin")
    base, env, args = _served(db, tmp_path, production=True)
    del env["DALAD_SCHEDULER"]
    log = tmp_path / "serve.log"
    with dalad_serve(base, env, *args, log=log):
        def fired() -> int:
            with db.read() as session:
                return session.scalar(select(func.count()).select_from(ProcessInstance)
                                      .where(ProcessInstance.process_key == "every_second"))
        _wait("a timer fired by a worker's scheduler", fired)
    assert log.read_text().count("timer scheduler started") == 2  # one per worker


def test_a_chunked_body_completes_a_task_and_too_big_bodies_are_refused(db, tmp_path, edu):
    base, env, args = _served(db, tmp_path, production=True)
    with dalad_serve(base, env, *args, log=tmp_path / "serve.log"):
        task = _submit_task(base, edu, "chunked")
        host, port = base.removeprefix("http://").split(":")
        headers = {"Authorization": f"Bearer {edu}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", f"/engine-rest/task/{task}/complete", body=iter([COMPLETE[:9], COMPLETE[9:]]),
                     headers=headers, encode_chunked=True)
        reply = conn.getresponse()
        assert reply.status == 204, reply.read()
        conn.close()
        assert _completed_by(db, task) == ("completed", "edu")

        other = _submit_task(base, edu, "too-big")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)  # a length over the limit: refused unread
        conn.putrequest("POST", f"/engine-rest/task/{other}/complete")
        for name, value in {**headers, "Content-Length": str(30 * 1024 * 1024)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        assert conn.getresponse().status == 413
        conn.close()
        # chunked, past the limit: Werkzeug reads up to the limit only; a body that reaches it is refused as too large
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(f"POST /engine-rest/task/{other}/complete HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {edu}"
                      "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
            chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
            try:
                for _ in range(23):
                    s.sendall(chunk)
            except OSError:  # the server answered and stopped reading
                pass
            answer = s.recv(4096)
            assert answer.split()[1] == b"413" and b"larger than 8 MiB" in answer, answer
        assert _completed_by(db, other) == ("ready", None)


PROBE = """
import json, sys
import web
from engine import cli

made = web.create_app


def probed(*args, **kwargs):  # the app, and at /environ-probe the strings of the request's environ
    app = made(*args, **kwargs)
    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        if environ["PATH_INFO"] != "/environ-probe":
            return inner(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()]
    app.wsgi_app = wsgi_app
    return app


web.create_app = probed
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
def test_no_secret_of_the_environment_reaches_a_requests_environ(db, tmp_path, production):
    """granian copies the process environment into each request's environ: the history key, the
    session key and the database URL (its password) are not there, in the process or its workers."""
    base, env, args = _served(db, tmp_path, production, PROBE_VISIBLE="copied")
    with dalad_serve(base, env, log=tmp_path / "serve.log",
                     command=[sys.executable, "-c", PROBE, "serve", *args]):
        for _ in range(4):  # on more than one worker, likely
            environ = Client(base).get("/environ-probe").json()
            assert environ["PROBE_VISIBLE"] == "copied"  # the probe sees granian's copy of the environment
            assert not set(SECRET_VARIABLES) & set(environ)
            assert not [k for k, v in environ.items() if TEST_KEY.decode() in v or SECRET in v or db.url in v]
        assert Client(base).get("/healthz").json()["status"] == "ok"  # the settings were read before


def test_kill_9_of_the_production_server_leaves_nothing_serving(db, tmp_path):
    """A worker killed is replaced; the server killed with SIGKILL takes its workers with it."""
    base, env, args = _served(db, tmp_path, production=True)
    with dalad_serve(base, env, *args, log=tmp_path / "serve.log") as server:
        _wait("two workers", lambda: len(_children(server.pid)) == 2)
        first = _children(server.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait("a worker in place of the killed one",
              lambda: len(_children(server.pid)) == 2 and victim not in _children(server.pid))
        assert Client(base).get("/healthz").status == 200
        workers, port = _children(server.pid), int(base.rsplit(":", 1)[1])
        assert _listening(port)
        server.kill()
        server.wait(timeout=30)
        _wait("the workers gone with their server", lambda: not any(_alive(pid) for pid in workers), 30)
        _wait("nothing listening on the port", lambda: not _listening(port), 30)


def _started_in_place_of_killed(log: Path) -> bool:
    """Whether the two workers have started, and one more for each the supervisor killed (a worker
    still starting would hold up the server's stop: it takes SIGTERM only once it serves)."""
    text = log.read_text()
    return text.count("Started worker-") == 2 + text.count("has not answered its supervisor")


def test_a_frozen_worker_is_killed_and_replaced(db, tmp_path):
    """A worker that stops answering its supervisor (here SIGSTOP: as frozen as a process gets) is
    killed after DALAD_WORKER_TIMEOUT seconds and another takes its place; the other serves on."""
    base, env, args = _served(db, tmp_path, production=True, DALAD_WORKER_TIMEOUT="10")
    log = tmp_path / "serve.log"
    with dalad_serve(base, env, *args, log=log) as server:
        _wait("two workers serving", lambda: _started_in_place_of_killed(log))
        victim = min(_children(server.pid))
        os.kill(victim, signal.SIGSTOP)
        stopped = time.monotonic()
        assert Client(base).get("/healthz").status == 200  # the other worker answers meanwhile
        _wait("the frozen worker replaced",
              lambda: len(_children(server.pid)) == 2 and victim not in _children(server.pid), 60)
        assert time.monotonic() - stopped >= 10  # not before its timeout
        assert f"(pid {victim}) has not answered its supervisor" in log.read_text()
        _wait("the new worker serving", lambda: _started_in_place_of_killed(log))
        assert Client(base).get("/healthz").status == 200
        [marks] = Path(tempfile.gettempdir()).glob(f"dalad-heartbeats-{server.pid}-*")
        _wait("the killed worker's mark gone", lambda: {int(m.name) for m in marks.iterdir()} == _children(server.pid))
        server.kill()  # SIGKILL: the supervisor cannot remove its folder; the next one does
        server.wait(timeout=30)
    base, env, args = _served(db, tmp_path, production=True)
    with dalad_serve(base, env, *args, log=log) as server:
        assert not marks.exists()
        _wait("both workers serving", lambda: _started_in_place_of_killed(log))  # (before SIGTERM)


def test_a_single_production_worker_is_watched_too(db, tmp_path):
    """DALAD_WORKERS=1 in production: the one worker runs under the supervisor as several would, so
    a frozen one is replaced and the server answers again (it ran in the server's own process, where
    nothing would notice a hang)."""
    base, env, args = _served(db, tmp_path, production=True, workers="1", DALAD_WORKER_TIMEOUT="10")
    log = tmp_path / "serve.log"
    with dalad_serve(base, env, *args, log=log) as server:
        _wait("the worker serving", lambda: log.read_text().count("Started worker-") == 1)
        [victim] = _children(server.pid)
        assert Client(base).get("/healthz").status == 200
        os.kill(victim, signal.SIGSTOP)
        _wait("the frozen worker replaced",
              lambda: len(_children(server.pid)) == 1 and victim not in _children(server.pid), 60)
        assert f"(pid {victim}) has not answered its supervisor" in log.read_text()
        _wait("the new worker serving", lambda: log.read_text().count("Started worker-") == 2)
        assert Client(base).get("/healthz").status == 200


def test_a_worker_whose_every_thread_is_stuck_is_replaced_and_writes_nothing(db, tmp_path, edu):
    """A worker whose request threads (one here) are all held inside one request past the timeout
    (a start waiting on the database's write lock, which this test holds) stops beating and is
    replaced; the start it was running wrote nothing, and once the lock is let go the server
    serves writes again. (SQLite gives up waiting after 30 s; the timeout is 10.)"""
    base, env, args = _served(db, tmp_path, production=True, DALAD_WORKER_TIMEOUT="10", DALAD_THREADS="1")
    log = tmp_path / "serve.log"
    host, port = base.removeprefix("http://").split(":")
    start = json.dumps({"businessKey": "stuck", "variables": {"unit": {"value": "edu"}}}).encode()
    with dalad_serve(base, env, *args, log=log) as server:
        _wait("two workers serving", lambda: _started_in_place_of_killed(log))
        first = _children(server.pid)
        holder = db.engine.raw_connection()
        sockets = []
        try:
            holder.cursor().execute("BEGIN EXCLUSIVE")
            for _ in range(2):  # one for each worker, as they happen to take them
                s = socket.create_connection((host, int(port)), timeout=60)
                s.sendall(f"POST /engine-rest/process-definition/key/review/start HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {edu}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(start)}\r\n\r\n".encode() + start)
                sockets.append(s)
            _wait("a stuck worker replaced", lambda: first - _children(server.pid)
                  and len(_children(server.pid)) == 2, 28)
            assert "has not answered its supervisor" in log.read_text()
            _wait("the new workers serving", lambda: _started_in_place_of_killed(log))
        finally:
            holder.rollback()
            holder.close()
            for s in sockets:
                s.close()
        with db.read() as session:
            assert session.scalar(select(func.count()).select_from(ProcessInstance)
                                  .where(ProcessInstance.business_key == "stuck")) == 0
        _submit_task(base, edu, "after")  # writes go through again


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
def test_sigterm_lets_the_completion_in_flight_finish(db, tmp_path, edu, production):
    base, env, args = _served(db, tmp_path, production)
    with dalad_serve(base, env, *args, log=tmp_path / "serve.log") as server:
        task = _submit_task(base, edu, "in-flight")
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(f"POST /engine-rest/task/{task}/complete HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {edu}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(COMPLETE)}\r\n\r\n".encode()
                      + COMPLETE[:10])
            time.sleep(0.5)
            server.send_signal(signal.SIGTERM)  # to the supervisor only, as a service manager sends it
            time.sleep(1)
            s.sendall(COMPLETE[10:])
            assert s.recv(4096).split()[1] == b"204"
        assert server.wait(timeout=40) == 0
    assert _completed_by(db, task) == ("completed", "edu")


@pytest.mark.parametrize("allowed, believed", [(None, True), ("10.9.9.9", False)])
def test_x_forwarded_for_is_believed_only_from_allowed_peers(db, tmp_path, allowed, believed):
    """The login throttle counts failures per client address (request.remote_addr): with the
    proxy at 127.0.0.1 allowed (the default), each forwarded address is counted apart; from a peer
    not in DALAD_FORWARDED_ALLOW_IPS the header is ignored and every request is the peer's."""
    extra = {"DALAD_FORWARDED_ALLOW_IPS": allowed} if allowed else {}
    base, env, args = _served(db, tmp_path, production=True, workers="1", **extra)
    with dalad_serve(base, env, *args, log=tmp_path / "serve.log"):
        def attempt(n: int, address: str) -> int:
            auth = base64.b64encode(f"nobody{n}:wrong-password".encode()).decode()
            return Client(base).get("/engine-rest/task/count", headers={
                "Authorization": f"Basic {auth}", "X-Forwarded-For": address}).status

        assert {attempt(n, "203.0.113.7") for n in range(20)} == {401}
        assert attempt(20, "203.0.113.7") == 429
        assert attempt(21, "203.0.113.8") == (401 if believed else 429)


def test_production_refuses_to_start_with_the_history_key_beside_the_sqlite_file(tmp_path):
    """--production reads the settings in production mode: a key file in the database's folder is
    refused at start, with the message saying how to fix it; in a folder of its own it is made
    once and used."""
    folder = tmp_path / "data"
    url = f"sqlite:///{folder / 'dalad.sqlite3'}"
    folder.mkdir()
    Database(url).upgrade()
    port = _free_port()
    env = {"PATH": str(BIN), "DALAD_DATABASE_URL": url, "DALAD_INSTANCE_DIR": str(folder),
           "DALAD_SECRET_KEY": SECRET, "DALAD_SCHEDULER": "0", "DALAD_HISTORY_KEY_FILE": str(folder / "history.key"),
           "DALAD_BIND": f"127.0.0.1:{port}", "DALAD_WORKERS": "1", "DALAD_THREADS": "1"}
    refused = subprocess.run([str(BIN / "dalad"), "serve", "--production"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 1
    assert "production mode (DALAD_ENV=production): the history key file" in refused.stderr
    assert "Set DALAD_HISTORY_KEY from a secret store, or DALAD_HISTORY_KEY_FILE to a file in another folder" \
        in refused.stderr
    assert not (folder / "history.key").exists() and not (folder / "instance").exists()

    del env["DALAD_HISTORY_KEY_FILE"]
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    with dalad_serve(f"http://127.0.0.1:{port}", env, "--production", log=tmp_path / "serve.log"):
        assert len((tmp_path / "config" / "dalad" / "history.key").read_text()) == 64
        assert not (folder / "history.key").exists()


def test_the_served_process_logs_no_line_per_workflow_step_and_freezes_its_startup_objects(tmp_path):
    """A serving process's app (web/server.py): SpiffWorkflow's INFO line per task state change is
    not written, the server's own INFO lines are; the objects made while starting are frozen out
    of the garbage collector's walks."""
    env = {**os.environ, "DALAD_DATABASE_URL": f"sqlite:///{tmp_path / 'dalad.sqlite3'}",
           "DALAD_INSTANCE_DIR": str(tmp_path), "DALAD_HISTORY_KEY": "k" * 32, "DALAD_SECRET_KEY": "s" * 32}
    Database(env["DALAD_DATABASE_URL"]).upgrade()
    probe = ("import gc, logging; from engine.config import Settings; from web.server import serving_app; "
             "serving_app(Settings.from_env(), scheduler=False, forwarded_allow_ips=None); "
             "print(logging.getLogger('spiff.task').isEnabledFor(logging.INFO), "
             "logging.getLogger('web').isEnabledFor(logging.INFO), gc.get_freeze_count() > 10000)")
    shown = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["False", "True", "True"]


@pytest.mark.parametrize("name, value, says", [
    ("DALAD_BIND", "5000", "DALAD_BIND must be HOST:PORT (0.0.0.0:5000, [::]:5000), not '5000'"),
    ("DALAD_WORKERS", "two", "DALAD_WORKERS must be a whole number from 1, not 'two'"),
    ("DALAD_THREADS", "0", "DALAD_THREADS must be a whole number from 1, not '0'"),
    ("DALAD_WORKER_TIMEOUT", "5", "DALAD_WORKER_TIMEOUT must be at least 10 seconds, not '5'")])
def test_a_bad_server_setting_stops_the_start_naming_it(db, tmp_path, name, value, says):
    base, env, args = _served(db, tmp_path, production=True, **{name: value})
    refused = subprocess.run([str(BIN / "dalad"), "serve", *args], env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1 and refused.stderr.strip() == f"dalad: error: {says}"
