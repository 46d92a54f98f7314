"""Every operation of the REST API, fuzzed over HTTP from its own OpenAPI document: whatever a
client sends, the answer is never a server error (5xx). A bad input must get a 4xx naming what is
wrong, and a crash deep in the code is what this finds (a variable's `type` given as a list, a
query filter's `operator` as an object, a group id as a list all answered 500 before).

schemathesis generates the requests from /engine-rest/openapi.json (schemas, and values that break
them) and sends them to a real `dalad serve` with bpmn/ deployed, the demo projects started and
tests/clients/client_order.bpmn's external tasks, jobs and incidents, on an SQLite file or on the
(emptied) database of DALAD_TEST_DATABASE_URL, as an administrator (the widest reach: deployments,
users, groups, instances). Most path parameters are ids that exist, read from the server
(rest_fuzz_ids.py, schemathesis hooks): an operation on one task, instance, external task, job,
incident, user or group runs its handler with the generated query and body instead of stopping at
a 404 (a completion's 204 and a missing body taken as "erase the profile's name" were found so).
The document states what the API checks (required fields, enums, integer bounds, patterns, sort
keys), so generated requests pass the first checks and reach the handlers (an external task
worker's topic of the wrong kind was a 500 found so); and every answer must be documented: its
status code, content type and body schema (schemathesis' conformance checks).
Hypothesis is derandomized, so a run is repeatable; FUZZ_EXAMPLES raises the cases per operation
for a longer hunt (`FUZZ_EXAMPLES=200 make test-fuzz`). With -s the test prints, per operation on
one resource, its answers by status and how many went with real ids (FUZZ_REAL_IDS=0: none), and
schemathesis' warnings (operations that still mostly stop early)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from live_http import Client, dalad_serve

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, fuzz_database_url):
    """(base URL, admin token, log file) of a real `dalad serve` with the 办法's diagrams and demo data."""
    folder = tmp_path_factory.mktemp("fuzz")
    url = fuzz_database_url
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "DALAD_DATABASE_URL": url,
           "DALAD_INSTANCE_DIR": str(folder), "DALAD_HISTORY_KEY": "fuzz-history-key-0123456789abcdef",
           "DALAD_SECRET_KEY": "fuzz-secret-key-0123456789abcdef", "DALAD_DEMO": "1"}

    def dalad(*args: str) -> str:
        done = subprocess.run([str(BIN / "dalad"), *args], env=env, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    dalad("init-db")
    dalad("deploy", "bpmn/")
    dalad("deploy", "tests/clients/client_order.bpmn")
    dalad("demo-seed", "--projects")
    token = dalad("tokens", "create", "admin", "--name", "fuzz").split()[-1]
    port = _free_port()
    base, log = f"http://127.0.0.1:{port}", folder / "serve.log"
    with dalad_serve(base, env, "--host", "127.0.0.1", "--port", str(port), log=log):
        _seed_workers_jobs_incidents(Client(base + "/engine-rest", bearer=token))
        yield base, token, log


def _seed_workers_jobs_incidents(rest: Client) -> None:
    """What the demo projects have none of, from tests/clients/client_order.bpmn: external tasks
    (some locked by a worker), jobs (an asynchronous script task) and incidents (that script
    fails: `spent` is not set), for the real ids of the operations on them."""
    def call(method: str, path: str, body=None):
        reply = rest.request(method, path, json_body=body)
        assert reply.status < 300, (method, path, reply.status, reply.text)
        return reply.json() if reply.body else None

    for number in range(6):
        started = call("POST", "/process-definition/key/client_order/start", {"businessKey": f"fuzz-order-{number}"})
        if number < 4:
            task = call("GET", f"/task?processInstanceId={started['id']}")[0]
            call("POST", f"/task/{task['id']}/complete", {"variables": {"approved": {"value": True}}})
    call("POST", "/external-task/fetchAndLock", {"workerId": "fuzz-worker", "maxTasks": 2, "topics": [
        {"topicName": "charge", "lockDuration": 3600000}]})
    for number in range(4):
        call("POST", "/process-definition/key/client_async/start", {"businessKey": f"fuzz-async-{number}"})
    jobs = sorted(job["id"] for job in call("GET", "/job"))
    for job in jobs[:2]:  # the others wait for the scheduler
        rest.request("POST", f"/job/{job}/execute")


def test_no_request_gets_a_server_error(served):
    """schemathesis' own runner (its coverage phase sends each schema's boundary and wrong-typed
    values, its fuzzing phase generated ones), as `schemathesis run` on the command line. Once in a
    CI run it stopped after its coverage phase, printing nothing more and no summary: a run without
    its summary is made again (same seed), and a second one is a failure."""
    base, token, log = served
    stats = log.parent / "answers.tsv"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("rest_fuzz_ids.py")),
           "FUZZ_BASE": base, "FUZZ_TOKEN": token, "FUZZ_STATS": str(stats)}
    command = [str(BIN / "schemathesis"), "run", base + "/engine-rest/openapi.json",
               "-H", f"Authorization: Bearer {token}", "--checks", CHECKS,
               "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES), "--seed", "20261206",
               "--generation-deterministic", "--workers", "1", "--suppress-health-check", "all", "--no-color",
               "--request-timeout", "30"]
    runs = []
    for _attempt in range(2):
        stats.unlink(missing_ok=True)
        run = subprocess.run(command, cwd=log.parent, env=env, capture_output=True, text=True, timeout=1800)
        runs.append(f"exit {run.returncode}\n{run.stdout[-12000:]}\n{run.stderr[-3000:]}")
        if "generated" in run.stdout:  # its summary: every phase ran
            break
    else:
        raise AssertionError("schemathesis stopped before its summary twice:\n\n" + "\n\n".join(runs))
    warnings = run.stdout.partition("= WARNINGS =")[2].partition("= SUMMARY =")[0]
    print(_reach(stats), "\nschemathesis' warnings:", warnings.strip(" =\n") or "none", sep="\n")  # with -s
    assert run.returncode == 0, runs[-1] + "\n\nserver log:\n" + log.read_text(errors="replace")[-6000:]


def _reach(stats: Path) -> str:
    """Per operation with path parameters: its answers by status (2xx, 404, other 4xx, others) and
    how many were sent with real ids (rest_fuzz_ids.py): how far the fuzz got past the id lookups."""
    counts: dict[str, Counter] = {}
    for line in stats.read_text(encoding="utf-8").splitlines():
        label, status, ids, _message = line.split("\t")
        if "{" in label:
            kind = "2xx" if status.startswith("2") else status if status == "404" else status[0] + "xx"
            counts.setdefault(label, Counter()).update(["sent", kind] + (["real ids"] if ids == "real" else []))
    kinds = ("sent", "real ids", "2xx", "4xx", "404", "5xx")
    lines = [f"{label:56}" + "".join(f" {row[kind]:4} {kind}" for kind in kinds)
             for label, row in sorted(counts.items(), key=lambda item: item[0].split(" ")[::-1])]
    return "operations on one resource, their answers:\n" + "\n".join(lines)
