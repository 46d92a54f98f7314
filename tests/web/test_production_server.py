"""The production server of the README: gunicorn from PyPI with gunicorn.conf.py serving
web.wsgi:app, started as an operator would, answering over a real socket."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from engine.database import Database

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.sqlite_only  # it brings its own SQLite file: once is enough


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    url = f"sqlite:///{tmp_path / 'dalad.sqlite3'}"
    Database(url).upgrade()
    port = _free_port()
    env = {**os.environ, "DALAD_DATABASE_URL": url, "DALAD_INSTANCE_DIR": str(tmp_path),
           "DALAD_HISTORY_KEY": "k" * 32, "DALAD_SECRET_KEY": "s" * 32, "DALAD_SCHEDULER": "0",
           "DALAD_BIND": f"127.0.0.1:{port}", "DALAD_WORKERS": "1", "DALAD_THREADS": "2"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "web.wsgi:app"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # the worker imports the app: a few seconds on a loaded machine
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            except OSError:  # not listening yet, or still importing
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        process.stderr.close()


def test_gunicorn_serves_the_app_with_its_limits(server):
    with urllib.request.urlopen(server + "/healthz", timeout=5) as response:
        assert json.load(response) == {"status": "ok", "database": "sqlite"}
        assert "gunicorn" in response.headers.get("Server", "")
    deep = b"[" * 1000 + b"]" * 1000
    request = urllib.request.Request(server + "/engine-rest/message", data=deep, method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    with refused.value:
        assert refused.value.code == 400 and b"deeper than 64" in refused.value.read()
    long_line = urllib.request.Request(server + "/healthz?" + "x" * 9000)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(long_line, timeout=5)
    with refused.value:
        assert refused.value.code in (400, 414)


def test_gunicorn_refuses_to_start_with_the_history_key_beside_the_sqlite_file(tmp_path):
    """web.wsgi runs in production mode: a key file in the database's folder is refused at start,
    with the message saying how to fix it; in a folder of its own it is made once and used."""
    folder = tmp_path / "data"
    url = f"sqlite:///{folder / 'dalad.sqlite3'}"
    folder.mkdir()
    Database(url).upgrade()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DALAD_")}, "DALAD_DATABASE_URL": url,
           "DALAD_INSTANCE_DIR": str(folder), "DALAD_SECRET_KEY": "s" * 32, "DALAD_SCHEDULER": "0",
           "DALAD_HISTORY_KEY_FILE": str(folder / "history.key"), "DALAD_BIND": f"127.0.0.1:{_free_port()}",
           "DALAD_WORKERS": "1", "DALAD_THREADS": "1"}
    gunicorn = [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "web.wsgi:app"]
    refused = subprocess.run(gunicorn, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "production mode (DALAD_ENV=production): the history key file" in refused.stderr
    assert "Set DALAD_HISTORY_KEY from a secret store, or DALAD_HISTORY_KEY_FILE to a file in another folder" \
        in refused.stderr
    assert not (folder / "history.key").exists()

    del env["DALAD_HISTORY_KEY_FILE"]
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    process = subprocess.Popen(gunicorn, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://{env['DALAD_BIND']}/healthz", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.1)
        assert len((tmp_path / "config" / "dalad" / "history.key").read_text()) == 64
        assert not (folder / "history.key").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        process.stderr.close()


def test_the_served_process_logs_no_line_per_workflow_step_and_freezes_its_startup_objects(tmp_path):
    """web.wsgi (as gunicorn imports it): SpiffWorkflow's INFO line per task state change is not
    written, the server's own INFO lines are; the objects made while starting are frozen out of
    the garbage collector's walks."""
    env = {**os.environ, "DALAD_DATABASE_URL": f"sqlite:///{tmp_path / 'dalad.sqlite3'}",
           "DALAD_INSTANCE_DIR": str(tmp_path), "DALAD_HISTORY_KEY": "k" * 32, "DALAD_SECRET_KEY": "s" * 32,
           "DALAD_SCHEDULER": "0"}
    Database(env["DALAD_DATABASE_URL"]).upgrade()
    probe = ("import gc, logging, web.wsgi; "
             "print(logging.getLogger('spiff.task').isEnabledFor(logging.INFO), "
             "logging.getLogger('web').isEnabledFor(logging.INFO), gc.get_freeze_count() > 10000)")
    shown = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["False", "True", "True"]
