"""Limits on variables at every door (engine/variable_limits.py): a value nested too deep, too
large, or a number JSON cannot hold is refused where it enters (start, completion, message,
signal, administrator's change, external worker, script result) with the variable named, and
nothing already saved is lost. `dalad history verify --all` goes on past an instance whose record
it cannot even read, reports it, and verifies the rest."""
from __future__ import annotations

import pytest
from sqlalchemy import insert

from conftest import TEST_KEY, deploy_files
from engine import history, instances, services
from engine.cli import main
from engine.errors import ExecutionError, InvalidInput
from engine.models import HistoryEvent, ProcessInstance
from engine.variable_limits import MAX_BYTES, MAX_DEPTH


def nested(levels: int):
    value = "bottom"
    for _ in range(levels):
        value = {"next": value}
    return value


@pytest.fixture
def deployed(db, frozen_clock):
    deploy_files(db, "review.bpmn", "mailbox.bpmn", "budget_check.bpmn", "budget_script.bpmn")
    return db


def started(db, key="review", **variables) -> int:
    with db.write() as s:
        return services.start_process(s, key, variables={"unit": "edu", **variables}, user="edu").id


def submit_id(db, instance_id) -> int:
    with db.read() as s:
        return services.tasks(s, instance_id=instance_id)[0].id


BAD = [(nested(600), f"variable 'deep' at ['next']['next']['next']['next'][…] is nested more than {MAX_DEPTH} levels"),
       ([1, float("nan")], "variable 'deep' at [1] is nan: only finite numbers can be stored"),
       ({"x": float("inf")}, "variable 'deep' at ['x'] is inf"),
       ("x" * (MAX_BYTES + 10), "more than 1024 KB: upload large content as a document")]


@pytest.mark.parametrize("value, message", BAD)
def test_every_door_refuses_the_value_and_names_it(deployed, value, message):
    db = deployed
    instance_id = started(db)
    task_id = submit_id(db, instance_id)
    doors = {
        "start": lambda s: services.start_process(s, "review", variables={"deep": value}, user="edu"),
        "complete": lambda s: services.complete_task(s, task_id, user="edu", groups=["unit:edu"],
                                                     data={"amount": 5, "deep": value}),
        "message": lambda s: services.correlate_message(s, "reply", variables={"deep": value}),
        "signal": lambda s: services.broadcast_signal(s, "anything", variables={"deep": value}),
        "admin": lambda s: services.set_variables(s, instance_id, {"deep": value}, user="admin"),
    }
    for door, call in doors.items():
        with pytest.raises(InvalidInput) as refused:
            with db.write() as s:
                call(s)
        assert message in str(refused.value), door
    with db.read() as s:  # nothing saved was lost: the task is still there, the chain intact
        row = s.get(ProcessInstance, instance_id)
        assert [t.id for t in services.tasks(s, instance_id=instance_id)] == [task_id]
        assert "deep" not in row.variables and history.verify_instance_chain(s, row).ok


def test_an_external_worker_result_is_refused(deployed):
    db = deployed
    started(db, "budget_check", amount=1)
    with db.write() as s:
        [locked] = services.fetch_and_lock(s, "w1", [{"topicName": "budget-check", "lockDuration": 60000}])
    with pytest.raises(InvalidInput, match="variable 'deep' is nan"):
        with db.write() as s:
            services.complete_external_task(s, locked.task.id, worker_id="w1", variables={"deep": float("nan")})


def test_a_script_result_that_is_not_a_finite_number_stops_at_the_script_task(deployed):
    """1e308 twice is a finite input; their sum, computed by the script, is not."""
    with pytest.raises(ExecutionError, match="compute_rate.*script result refused: variable 'spent' is inf"):
        started(deployed, "budget_script", approved_budget=100, payments=[{"amount": 1e308}, {"amount": 1e308}])


def test_values_at_the_limits_are_taken(deployed):
    instance_id = started(deployed, deep=nested(MAX_DEPTH - 1), big="x" * (MAX_BYTES - 1000), rate=0.5)
    with deployed.read() as s:
        assert s.get(ProcessInstance, instance_id).variables["rate"] == 0.5


def test_verify_all_goes_on_past_an_instance_it_cannot_read_and_reports_it(deployed, capsys, monkeypatch, tmp_path):
    """An instance recorded before the limits existed: its last event holds a value nested 5000
    levels deep (signed with the key, so the chain is intact), which no JSON reader in Python
    can read back. The proof reports it and goes on to the instances after it and the chains."""
    db = deployed
    broken, after = started(db), started(db)
    with db.write() as s:
        row = s.get(ProcessInstance, broken)
        body = ('{"actor":"admin","at":"2026-03-02T01:00:00+00:00","chain":"instance:%d","data":{"variables":{"deep":'
                % broken + "[" * 5000 + "1" + "]" * 5000 + '}},"digest":null,"element_id":null,"instance_id":%d,'
                '"occurrence":null,"seq":%d,"type":"variables_changed","versions":null}' % (broken, row.history_count + 1))
        mac = history.sign(row.history_head, body)
        s.execute(insert(HistoryEvent).values(chain=f"instance:{broken}", seq=row.history_count + 1, instance_id=broken,
                                              at=row.updated_at, actor="admin", type="variables_changed", body=body,
                                              prev_hmac=row.history_head, hmac=mac))
        row.history_count, row.history_head = row.history_count + 1, mac
        history.moved_head(s, f"instance:{broken}", row.history_count, mac)  # as the engine did then
    instances.clear_caches()
    monkeypatch.setenv("DALAD_DATABASE_URL", db.url)
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(tmp_path / "instance"))
    capsys.readouterr()
    assert main(["history", "verify", "--all"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"instance {broken}: CANNOT BE VERIFIED: RecursionError"), lines[0]
    assert lines[1].startswith(f"instance {after}: OK")
    # a deployment, 2 creations and the chains' heads after each of the 3 transactions that moved one
    assert lines[2] == "system: OK (6 events)" and lines[3] == "access: OK (0 events)"
    assert lines[4].startswith("chain heads: OK (2 chains") and lines[5].startswith("timer occurrences: OK")
    assert lines[-1] == "2 instances verified: 1 FAILED"
