"""Every operation of the REST API, fuzzed over HTTP from its own OpenAPI document: whatever a
client sends, the answer is never a server error (5xx). A bad input must get a 4xx naming what is
wrong, and a crash deep in the code is what this finds (a variable's `type` given as a list, a
query filter's `operator` as an object, a group id as a list all answered 500 before).

schemathesis generates the requests from /engine-rest/openapi.json (schemas, and values that break
them) and sends them to a real `dalad serve` with bpmn/ deployed and the demo projects started, on
an SQLite file or on the (fresh) database of DALAD_TEST_DATABASE_URL, as an administrator (the widest reach: deployments, users, groups, instances).
The document states what the API checks (required fields, enums, integer bounds, patterns, sort
keys), so generated requests pass the first checks and reach the handlers (an external task
worker's topic of the wrong kind was a 500 found so); and every answer must be documented: its
status code, content type and body schema (schemathesis' conformance checks).
Hypothesis is derandomized, so a run is repeatable; FUZZ_EXAMPLES raises the cases per operation
for a longer hunt (`FUZZ_EXAMPLES=200 make test-fuzz`)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from live_http import dalad_serve

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, admin token, log file) of a real `dalad serve` with the 办法's diagrams and demo data."""
    folder = tmp_path_factory.mktemp("fuzz")
    url = os.environ.get("DALAD_TEST_DATABASE_URL") or f"sqlite:///{folder / 'fuzz.sqlite3'}"
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "DALAD_DATABASE_URL": url,
           "DALAD_INSTANCE_DIR": str(folder), "DALAD_HISTORY_KEY": "fuzz-history-key-0123456789abcdef",
           "DALAD_SECRET_KEY": "fuzz-secret-key-0123456789abcdef", "DALAD_DEMO": "1"}

    def dalad(*args: str) -> str:
        done = subprocess.run([str(BIN / "dalad"), *args], env=env, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    dalad("init-db")
    dalad("deploy", "bpmn/")
    dalad("demo-seed", "--projects")
    token = dalad("tokens", "create", "admin", "--name", "fuzz").split()[-1]
    port = _free_port()
    base, log = f"http://127.0.0.1:{port}", folder / "serve.log"
    with dalad_serve(base, env, "--host", "127.0.0.1", "--port", str(port), log=log):
        yield base, token, log


def test_no_request_gets_a_server_error(served):
    """schemathesis' own runner (its coverage phase sends each schema's boundary and wrong-typed
    values, its fuzzing phase generated ones), as `schemathesis run` on the command line. Once in a
    CI run it stopped after its coverage phase, printing nothing more and no summary: a run without
    its summary is made again (same seed), and a second one is a failure."""
    base, token, log = served
    command = [str(BIN / "schemathesis"), "run", base + "/engine-rest/openapi.json",
               "-H", f"Authorization: Bearer {token}", "--checks", CHECKS,
               "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES), "--seed", "20261206",
               "--generation-deterministic", "--workers", "1", "--suppress-health-check", "all", "--no-color",
               "--request-timeout", "30"]
    runs = []
    for _attempt in range(2):
        run = subprocess.run(command, cwd=log.parent, capture_output=True, text=True, timeout=1800)
        runs.append(f"exit {run.returncode}\n{run.stdout[-12000:]}\n{run.stderr[-3000:]}")
        if "generated" in run.stdout:  # its summary: every phase ran
            break
    else:
        raise AssertionError("schemathesis stopped before its summary twice:\n\n" + "\n\n".join(runs))
    assert run.returncode == 0, runs[-1] + "\n\nserver log:\n" + log.read_text(errors="replace")[-6000:]
