"""A real `dalad serve` for Camunda's own client libraries (installed from PyPI with the test extras).

One server per test module, on the test database (SQLite file or PostgreSQL), with users made
here and tests/clients/client_order.bpmn deployed through /deployment/create; the tests talk to
it only through the libraries. A user is named by a UUID, as many Camunda installations name
theirs (camunda-client reads user ids as UUIDs).
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import TEST_KEY, emptied
from engine import bureaus, users

HERE = Path(__file__).parent
PASSWORD = "client-test-password-1"
CLERK = str(uuid.UUID("0b6f7f52-9a1e-4c55-8f7e-3d2a1c9b0e11"))  # an office clerk named by a UUID


@dataclass
class Server:
    url: str  # …/engine-rest
    log: Path

    def auth(self, user: str = "admin") -> tuple[str, str]:
        return user, PASSWORD

    def get(self, path: str, user: str = "admin", **params):
        response = requests.get(self.url + path, params=params, auth=self.auth(user), timeout=30)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def wait_for(self, what: str, test, timeout: float = 60):
        """Poll until test() is true (the server's scheduler runs jobs every few seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            value = test()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s; server log:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    emptied(database)
    with database.write() as session:
        bureaus.ensure_bureaus(session)
        users.add_user(session, "admin", PASSWORD, bureaus=[], roles=[bureaus.ADMIN])
        users.add_user(session, "office", PASSWORD, bureaus=["office"], roles=[])
        users.add_user(session, CLERK, PASSWORD, bureaus=["office"], roles=[])
        users.add_user(session, "worker", PASSWORD, bureaus=["finance"], roles=[])
    folder = tmp_path_factory.mktemp("dalad-serve")
    port = _free_port()
    log = folder / "serve.log"
    env = {"PATH": str(Path(sys.executable).parent), "DALAD_DATABASE_URL": database.url,
           "DALAD_HISTORY_KEY": TEST_KEY.decode(), "DALAD_INSTANCE_DIR": str(folder),
           "DALAD_SECRET_KEY": "client-tests-secret-key-0123456789"}
    with log.open("wb") as out:
        process = subprocess.Popen([str(Path(sys.executable).parent / "dalad"), "serve", "--host", "127.0.0.1",
                                    "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    served = Server(f"http://127.0.0.1:{port}/engine-rest", log)
    try:
        served.wait_for("dalad serve answers", lambda: _answers(served, process), timeout=60)
        with (HERE / "client_order.bpmn").open("rb") as diagram:
            response = requests.post(served.url + "/deployment/create", auth=served.auth(), timeout=30,
                                     data={"deployment-name": "clients", "enable-duplicate-filtering": "true"},
                                     files={"client_order.bpmn": ("client_order.bpmn", diagram, "text/xml")})
        assert response.status_code == 200, response.text
        served.deployment = response.json()
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(served: Server, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"dalad serve exited with {process.returncode}:\n{served.log.read_text()[-3000:]}")
    try:
        return requests.get(served.url + "/version", auth=served.auth(), timeout=2).status_code == 200
    except requests.ConnectionError:
        return False
