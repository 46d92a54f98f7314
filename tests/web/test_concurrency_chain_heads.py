"""Every commit writes the heads of the chains it moved to the system chain, whose head is one row
all writers share (engine/history.py): under the production server (`dalad serve --production`,
two workers of four threads) on the test database (PostgreSQL under make test-pg), officials
complete tasks of several instances at once over HTTP while an auditor reads (the access log's
chain moves too): no deadlock, no completion lost, and `dalad history verify --all` passes
afterwards with every chain at the head the system chain recorded last."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import OFFICIAL_PASSWORD, TEST_KEY, deploy_files
from engine import history, services, users
from engine.models import HistoryEvent, ProcessInstance, UserTask
from live_http import Client, dalad_serve
from test_concurrency_http import at_once

BIN = Path(sys.executable).parent
INSTANCES = 6
PEOPLE = {"edu": ["unit:edu"], "dora": ["drc"], "dan": ["drc"], "fred": ["finance"], "fay": ["finance"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def production(db, officials, tmp_path):
    issued = officials(PEOPLE)
    with db.write() as session:
        users.add_user(session, "sun", OFFICIAL_PASSWORD, bureaus=[], roles=["auditor"])
    deploy_files(db, "review.bpmn")
    port = _free_port()
    env = {"PATH": str(BIN), "DALAD_DATABASE_URL": db.url, "DALAD_INSTANCE_DIR": str(tmp_path),
           "DALAD_HISTORY_KEY": TEST_KEY.decode(), "DALAD_SECRET_KEY": "s" * 32, "DALAD_SCHEDULER": "0",
           "DALAD_BIND": f"127.0.0.1:{port}", "DALAD_WORKERS": "2", "DALAD_THREADS": "4"}
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with dalad_serve(base, env, "--production", log=log):
        yield base, issued, env, log


def _ready(db, element: str) -> list[tuple[int, str]]:
    """(instance id, task REST id) of each ready task of that element."""
    with db.read() as session:
        return [(t.instance_id, t.rest_id) for t in session.scalars(
            select(UserTask).where(UserTask.element_id == element, UserTask.state == "ready")
            .order_by(UserTask.instance_id))]


def _complete(base: str, token: str, rest_id: str, variables: dict):
    body = {"variables": {k: {"value": v} for k, v in variables.items()}}
    return lambda: Client(base, bearer=token, timeout=120).post(f"/engine-rest/task/{rest_id}/complete",
                                                                 json_body=body)


def _auditor_reads(base: str, ids: list[int]):
    def read():
        auditor = Client(base, timeout=120)
        auditor.login("sun", OFFICIAL_PASSWORD)
        return [auditor.get(f"/audit/instances/{i}") for i in ids]
    return read


def test_parallel_completions_of_several_instances_neither_deadlock_nor_get_lost(db, production):
    base, issued, env, log = production
    with db.write() as session:
        ids = [services.start_process(session, "review", variables={"unit": "edu"}, user="edu").id
               for _ in range(INSTANCES)]
    submits = _ready(db, "submit")
    assert [i for i, _ in submits] == ids
    replies = at_once(*[_complete(base, issued["edu"], rest_id, {"amount": 1500}) for _, rest_id in submits]
                       + [_auditor_reads(base, ids[:3])])
    assert [r.status for r in replies[:-1]] == [204] * INSTANCES, [r.text[:300] for r in replies[:-1]]
    assert [r.status for r in replies[-1]] == [200] * 3

    reviews = [(_complete(base, issued[who], rest_id, {}), instance_id, element, who)
               for element, people in (("drc_review", ("dora", "dan")), ("finance_review", ("fred", "fay")))
               for n, (instance_id, rest_id) in enumerate(_ready(db, element)) for who in [people[n % 2]]]
    assert len(reviews) == 2 * INSTANCES
    replies = at_once(*[call for call, *_ in reviews] + [_auditor_reads(base, ids[3:])])
    failed = [(r.status, r.text[:300]) for r in replies[:-1] if r.status != 204]
    assert not failed, (failed, log.read_text()[-3000:])
    assert [r.status for r in replies[-1]] == [200] * (INSTANCES - 3)

    with db.read() as session:
        assert {session.get(ProcessInstance, i).status for i in ids} == {"completed"}
        done = {(t.instance_id, t.element_id): t.completed_by for t in session.scalars(
            select(UserTask).where(UserTask.instance_id.in_(ids)))}
        for _, instance_id, element, who in reviews:
            assert done[(instance_id, element)] == who
        heads = [row for row in history.chain_rows(session, history.SYSTEM_CHAIN) if row.type == history.HEADS_EVENT]
        moved = [name for row in heads for name in json.loads(row.body)["data"]["heads"]]
        assert moved.count("access") == INSTANCES  # one per page the auditor read
        for instance_id in ids:  # its start, its submit, its two reviews (one commit each)
            assert moved.count(f"instance:{instance_id}") == 4
        assert session.scalar(select(HistoryEvent.id).where(HistoryEvent.type == "instance_created")) is not None
    verify = subprocess.run([str(BIN / "dalad"), "history", "verify", "--all"], env=env, capture_output=True,
                            text=True, timeout=600)
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    assert f"chain heads: OK ({INSTANCES + 1} chains" in verify.stdout
