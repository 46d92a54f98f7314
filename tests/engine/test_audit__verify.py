"""`dalad history verify` and the verification behind the auditors' button: each chain is checked
(HMAC, sequence, head), then the instance is re-executed from its definition versions and recorded
inputs and compared after every event; each kind of tampering done directly in the database is
named with the place where it happened."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from conftest import TEST_KEY, deploy_files
from engine import audit, history, instances, services
from engine.cli import main


def complete(db, instance_id: int, element: str, values: dict | None = None, user: str = "edu_li") -> None:
    with db.write() as s:
        [task] = [t for t in services.tasks(s, instance_id=instance_id) if t.element_id == element]
        services.complete_task(s, task.id, user=user, data=values or {}, check_access=False)


@pytest.fixture
def two(db, frozen_clock) -> tuple[int, int]:
    """Two audit_project instances: one at the approval, one past it."""
    deploy_files(db, "audit_project.bpmn", "audit_stage.bpmn")
    ids = []
    for key in ("P-1", "P-2"):
        with db.write() as s:
            ids.append(services.start_process(s, "audit_project", business_key=key, variables={"unit": "edu"},
                                              user="edu_li").id)
        complete(db, ids[-1], "submit_design", {"budget": 1500})
    complete(db, ids[1], "design_approval", {"decision": "approve"}, user="drc_zhang")
    return ids[0], ids[1]


def sql(db, statement: str, **params) -> int:
    """Tamper behind the engine's back."""
    with db.engine.begin() as conn:
        rowcount = conn.execute(text(statement), params).rowcount
    instances.clear_caches()
    return rowcount


def verify(db, instance_id) -> audit.Verification:
    with db.read(snapshot=True) as s:
        return audit.verify_instance(s, instance_id)


def seq_of(db, instance_id, kind, element=None) -> int:
    with db.read() as s:
        return next(e["seq"] for e in history.events_of(s, instance_id)
                    if e["type"] == kind and (element is None or e["element_id"] == element))


def test_an_untouched_instance_verifies_ok(db, two):
    result = verify(db, two[1])
    assert result.ok and result.stage == "ok" and result.events >= 5
    assert str(result).startswith(f"instance {two[1]} (P-2): OK (")


def test_an_edited_value_in_a_history_row_breaks_the_chain_at_that_event(db, two):
    seq = seq_of(db, two[1], "task_completed", "submit_design")
    assert sql(db, "UPDATE history_event SET body = replace(body, :old, :new) WHERE chain = :c AND seq = :s",
               old='"budget":1500', new='"budget":150', c=f"instance:{two[1]}", s=seq) == 1
    result = verify(db, two[1])
    assert not result.ok and result.stage == "chain" and result.seq == seq
    assert f"BROKEN at event {seq}" in str(result) and "HMAC" in result.problem


def test_an_edited_column_is_named(db, two):
    seq = seq_of(db, two[1], "task_completed", "design_approval")
    sql(db, "UPDATE history_event SET actor = 'mallory' WHERE chain = :c AND seq = :s", c=f"instance:{two[1]}", s=seq)
    result = verify(db, two[1])
    assert (result.stage, result.seq) == ("chain", seq) and "actor" in result.problem


def test_a_deleted_row_is_named_by_its_missing_sequence_number(db, two):
    sql(db, "DELETE FROM history_event WHERE chain = :c AND seq = 2", c=f"instance:{two[1]}")
    result = verify(db, two[1])
    assert (result.stage, result.seq) == ("chain", 2) and "missing" in result.problem


def test_an_inserted_row_is_caught_where_it_was_put(db, two):
    chain = f"instance:{two[0]}"
    with db.read() as s:
        last = history.chain_rows(s, chain)[-1]
        body = dict(json.loads(last.body), seq=last.seq + 1, type="task_completed", actor="mallory",
                    element_id="design_approval", data={"values": {"decision": "approve"}, "path": [0]})
    body_text = history.canonical(body)
    sql(db, "INSERT INTO history_event (chain, seq, instance_id, at, actor, type, element_id, occurrence, body, "
            "state_digest, prev_hmac, hmac) SELECT chain, seq + 1, instance_id, at, 'mallory', 'task_completed', "
            "'design_approval', occurrence, :body, state_digest, hmac, :hmac FROM history_event "
            "WHERE chain = :c AND seq = :s", body=body_text, hmac=history.sign(last.hmac, body_text), c=chain,
        s=last.seq)
    result = verify(db, two[0])
    assert not result.ok and result.stage == "chain" and result.seq == last.seq + 1
    assert f"head records {last.seq}" in result.problem


def test_a_truncated_history_is_caught_by_the_head(db, two):
    with db.read() as s:
        count = len(history.events_of(s, two[1]))
    assert sql(db, "DELETE FROM history_event WHERE chain = :c AND seq > 3", c=f"instance:{two[1]}") == count - 3
    result = verify(db, two[1])
    assert not result.ok and result.stage == "chain" and result.seq == 4
    assert f"its head records {count}" in result.problem


def test_a_value_edited_inside_the_stored_state_is_named(db, two):
    with db.engine.begin() as conn:
        state = conn.execute(text("SELECT state FROM process_instance WHERE id = :i"), {"i": two[1]}).scalar_one()
    assert '"budget":1500' in state
    sql(db, "UPDATE process_instance SET state = :s WHERE id = :i", s=state.replace('"budget":1500', '"budget":15'),
        i=two[1])
    result = verify(db, two[1])
    assert not result.ok and result.stage == "state"
    assert "'budget' (15 stored, 1500 from the history)" in result.problem
    assert "STATE ALTERED" in str(result)


def test_a_rewritten_input_signed_again_diverges_at_its_event_when_replayed(db, two):
    """Someone with the key re-signs every row after changing an input: the chain is whole again,
    but the state digests recorded at the time no longer follow from the inputs."""
    chain = f"instance:{two[1]}"
    seq = seq_of(db, two[1], "task_completed", "submit_design")
    with db.read() as s:
        rows = [(r.seq, json.loads(r.body)) for r in history.chain_rows(s, chain)]
    prev = None
    for number, body in rows:
        if number == seq:
            body["data"]["values"]["budget"] = 1
        body_text = history.canonical(body)
        signed = history.sign(prev, body_text)
        sql(db, "UPDATE history_event SET body = :b, hmac = :h, prev_hmac = :p WHERE chain = :c AND seq = :s",
            b=body_text, h=signed, p=prev, c=chain, s=number)
        prev = signed
    sql(db, "UPDATE process_instance SET history_head = :h WHERE id = :i", h=prev, i=two[1])
    result = verify(db, two[1])
    assert not result.ok and result.stage == "replay" and result.seq == seq
    assert f"DIVERGES at event {seq}: state after 'task_completed' at 'submit_design' differs" in str(result)


# --- the command -------------------------------------------------------------------------------

@pytest.fixture
def dalad(db, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DALAD_DATABASE_URL", db.url)
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DALAD_SECRET_KEY", "test-secret-key")

    def run(*args):
        capsys.readouterr()
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err
    return run


def test_verify_all_prints_one_line_per_instance_and_the_chains_and_exits_0(db, two, dalad):
    with db.write() as s:
        audit.record_access(s, "auditor_sun", "audit.instance_history", instance_id=two[0])
    status, out, err = dalad("history", "verify", "--all")
    lines = out.strip().splitlines()
    assert status == 0, err
    assert lines[0].startswith(f"instance {two[0]} (P-1): OK") and lines[1].startswith(f"instance {two[1]} (P-2): OK")
    # a deployment, 2 creations, and the chains' heads after each of the 6 transactions that moved one
    assert lines[2] == "system: OK (9 events)" and lines[3] == "access: OK (1 events)"
    assert lines[4] == "chain heads: OK (3 chains, each at the head the system chain recorded last)"
    assert "instances: OK (2 events)" in lines
    assert any(line.startswith("inbox counts: OK (") for line in lines)  # the groups' task counts
    assert lines[-1] == "2 instances verified: all OK"
    assert err == ""


def test_verify_names_the_broken_instance_and_exits_1(db, two, dalad):
    sql(db, "UPDATE history_event SET actor = 'mallory' WHERE chain = :c AND seq = 3", c=f"instance:{two[0]}")
    status, out, err = dalad("history", "verify", str(two[0]), str(two[1]))
    lines = out.strip().splitlines()
    assert status == 1
    assert lines[0] == f"instance {two[0]} (P-1): BROKEN at event 3: column 'actor' differs from the signed content (edited)"
    assert lines[1].startswith(f"instance {two[1]} (P-2): OK")
    assert lines[-1] == "2 instances verified: 1 FAILED"


def test_verify_all_catches_an_edited_access_log(db, two, dalad):
    with db.write() as s:
        audit.record_access(s, "auditor_sun", "audit.search")
    sql(db, "UPDATE history_event SET body = replace(body, 'auditor_sun', 'someone') WHERE chain = 'access'")
    status, out, _ = dalad("history", "verify", "--all")
    assert status == 1 and "access: BROKEN at event 1" in out


def test_verify_reports_progress_on_stderr_on_long_runs(db, two, dalad):
    status, out, err = dalad("history", "verify", "--all", "--progress-every", "1")
    assert status == 0
    assert err.splitlines() == ["verified 1/2 instances, 0 failed", "verified 2/2 instances, 0 failed"]


@pytest.mark.parametrize("args, message", [
    ((), "give instance ids or --all"),
    (("1", "--all"), "give instance ids or --all"),
    (("999",), "process instance 999 does not exist"),
    (("--all", "--progress-every", "0"), "--progress-every must be at least 1"),
])
def test_verify_mistakes_are_one_error_line(db, two, dalad, args, message):
    status, out, err = dalad("history", "verify", *args)
    assert status == 1 and out == ""
    assert err.startswith("dalad: error: ") and message in err and len(err.strip().splitlines()) == 1


def _tamper(db, statement) -> None:
    """Change what pages and access checks read, behind the engine's back (no history event)."""
    with db.engine.begin() as conn:
        assert conn.execute(statement).rowcount != 0  # (-1: not told, as psycopg for an INSERT)
    instances.clear_caches()


def _ready_task_id(db, instance_id) -> int:
    with db.read() as s:
        return services.tasks(s, instance_id=instance_id)[0].id


@pytest.mark.parametrize("what, named", [
    ("variables", "the stored variables are not what the history produces"),
    ("status", "the stored status 'completed' is not what the history produces"),
    ("open tasks", "the stored open tasks are not the tasks ready in the re-execution"),
    ("candidate groups", "the candidate groups of task"),
    ("assignee", "the assignee of task"),
    ("indexed candidates", "the candidates indexed for task"),
])
def test_verify_compares_the_columns_pages_read_with_the_re_execution(db, two, dalad, what, named):
    from sqlalchemy import insert, update

    from engine.models import ProcessInstance, TaskCandidate, UserTask
    instance_id = two[0]
    row = ProcessInstance.__table__
    statement = {
        "variables": lambda: update(row).where(row.c.id == instance_id).values(
            variables={"unit": "health", "budget": 50_000_000}),
        "status": lambda: update(row).where(row.c.id == instance_id).values(status="completed"),
        "open tasks": lambda: update(row).where(row.c.id == instance_id).values(open_tasks={}),
        "candidate groups": lambda: update(UserTask.__table__).where(
            UserTask.__table__.c.id == _ready_task_id(db, instance_id)).values(candidate_groups=["unit:health"]),
        "assignee": lambda: update(UserTask.__table__).where(
            UserTask.__table__.c.id == _ready_task_id(db, instance_id)).values(assignee="health_zhao"),
        "indexed candidates": lambda: insert(TaskCandidate.__table__).values(
            task_id=_ready_task_id(db, instance_id), kind="group", value="unit:health",
            created_at=datetime(2026, 3, 2, tzinfo=timezone.utc), due_key=datetime(2026, 3, 2, tzinfo=timezone.utc)),
    }[what]()
    assert dalad("history", "verify", str(instance_id))[0] == 0
    _tamper(db, statement)
    status, out, _ = dalad("history", "verify", str(instance_id))
    assert status == 1 and "STATE ALTERED" in out and named in out, out


# --- anchors: what a chain that still verifies cannot show ----------------------------------------

def _anchor(dalad, tmp_path) -> str:
    path = tmp_path / "anchor.json"
    status, out, err = dalad("history", "anchor", "--output", str(path), "--actor", "ops")
    assert status == 0, err
    assert json.loads(out) == json.loads(path.read_text())
    return str(path)


def _remove_instance(db, instance_id) -> None:
    """Delete an instance and everything of it, as someone with the database's password could."""
    statements = ["DELETE FROM task_candidate WHERE task_id IN (SELECT id FROM user_task WHERE instance_id = :i)",
                  *[f"DELETE FROM {t} WHERE instance_id = :i" for t in
                    ("task_draft", "task_comment", "document", "user_task", "timer", "message_subscription",
                     "incident", "external_task", "history_event")],
                  "DELETE FROM process_instance WHERE id = :i"]
    for statement in statements:
        if "task_draft" in statement or "task_comment" in statement:
            statement = statement.replace("WHERE instance_id = :i",
                                          "WHERE task_id IN (SELECT id FROM user_task WHERE instance_id = :i)")
        sql(db, statement, i=instance_id)


def _cut_last_event(db, instance_id) -> None:
    """Delete an instance's last event and move its head back: the chain left still verifies."""
    chain = f"instance:{instance_id}"
    with db.read() as s:
        rows = history.chain_rows(s, chain)
    sql(db, "DELETE FROM history_event WHERE chain = :c AND seq = :s", c=chain, s=rows[-1].seq)
    sql(db, "UPDATE process_instance SET history_count = :n, history_head = :h WHERE id = :i",
        n=rows[-2].seq, h=rows[-2].hmac, i=instance_id)


def _claim_and_read(db, two) -> None:
    """A claim (an event that changes no state) on the first instance, and an auditor's read."""
    with db.write() as s:
        [task] = services.tasks(s, instance_id=two[0])
        services.claim(s, task.id, user="drc_zhang", check_access=False)
        audit.record_access(s, "auditor_sun", "audit.instance_history", instance_id=two[0])


def _events(db, chain) -> int:
    with db.read() as s:
        return len(history.chain_rows(s, chain))


def _cut_access_log(db, keep: int) -> None:
    with db.read() as s:
        rows = history.chain_rows(s, "access")
    sql(db, "DELETE FROM history_event WHERE chain = 'access' AND seq > :k", k=keep)
    sql(db, "UPDATE history_chain SET count = :k, head = :h WHERE name = 'access'",
        k=keep, h=rows[keep - 1].hmac if keep else None)


@pytest.mark.parametrize("attack", ["cut tail", "removed instance", "emptied access log", "cut access log",
                                    "edited variables"])
def test_verify_all_names_what_someone_with_the_database_but_not_the_key_did(db, two, dalad, attack):
    """Each attack of issue 10 §4, with no anchor taken: the system chain recorded every chain's head."""
    _claim_and_read(db, two)
    with db.write() as s:
        audit.record_access(s, "auditor_sun", "audit.search")
    assert dalad("history", "verify", "--all")[0] == 0
    n, chain = _events(db, f"instance:{two[0]}"), f"instance:{two[0]}"
    if attack == "cut tail":
        _cut_last_event(db, two[0])
        sql(db, "UPDATE user_task SET assignee = NULL WHERE instance_id = :i", i=two[0])
        named = [f"{chain}: BROKEN: holds {n - 1} events, but the system chain recorded {n} events last (system "
                 "event", "events cut at its end and its head moved back"]
    elif attack == "removed instance":
        _remove_instance(db, two[1])
        named = [f"instance:{two[1]}: BROKEN: is gone, but the system chain recorded", f"instance {two[1]} was created"]
    elif attack == "emptied access log":
        sql(db, "DELETE FROM history_event WHERE chain = 'access'")
        sql(db, "DELETE FROM history_chain WHERE name = 'access'")
        named = ["access: BROKEN: is gone, but the system chain recorded 2 events last"]
    elif attack == "cut access log":
        _cut_access_log(db, 1)
        named = ["access: BROKEN: holds 1 events, but the system chain recorded 2 events last",
                 "events cut at its end"]
    else:
        sql(db, "UPDATE process_instance SET variables = :v WHERE id = :i", i=two[0],
            v=json.dumps({"unit": "health", "budget": 50_000_000}))
        named = [f"instance {two[0]} (P-1): STATE ALTERED", "the stored variables are not what the history produces"]
    status, out, _ = dalad("history", "verify", "--all")
    assert status == 1 and out.strip().splitlines()[-1].endswith("FAILED"), out
    for words in named:
        assert words in out, out


def test_verify_of_one_instance_names_its_chain_cut_at_its_end(db, two, dalad):
    """The last event (a claim: it changes no state) deleted and the head moved back: the chain left
    checks and re-executes, but the system chain recorded the head after the cut-off event."""
    _claim_and_read(db, two)
    chain = f"instance:{two[0]}"
    n = _events(db, chain)
    status, out, _ = dalad("history", "verify", str(two[0]))
    assert status == 0 and f"instance {two[0]} (P-1): OK ({n} events" in out, out
    _cut_last_event(db, two[0])
    sql(db, "UPDATE user_task SET assignee = NULL WHERE instance_id = :i", i=two[0])
    status, out, _ = dalad("history", "verify", str(two[0]), str(two[1]))
    assert status == 1, out
    assert (f"instance {two[0]} (P-1): BROKEN: holds {n - 1} events, but the system chain recorded {n} events last "
            "(system event") in out and "events cut at its end and its head moved back" in out, out
    assert f"instance {two[1]} (P-2): OK" in out, out


def test_verify_of_one_instance_names_a_system_event_deleted_to_hide_a_cut(db, two, dalad):
    """The cut hidden by deleting the system events that recorded the later head too: the system
    chain read from the instance's last event on is missing them."""
    _claim_and_read(db, two)
    chain = f"instance:{two[0]}"
    n = _events(db, chain)
    complete(db, two[1], "procurement", {"supplier": "某科技公司"})  # the system chain goes on
    _cut_last_event(db, two[0])
    sql(db, "UPDATE user_task SET assignee = NULL WHERE instance_id = :i", i=two[0])
    with db.read() as s:
        hiding = [row.seq for row in history.chain_rows(s, "system") if f'"{chain}":[{n},' in row.body]
    assert hiding
    for seq in hiding:
        sql(db, "DELETE FROM history_event WHERE chain = 'system' AND seq = :s", s=seq)
    status, out, _ = dalad("history", "verify", str(two[0]))
    assert status == 1 and (f"instance {two[0]} (P-1): BROKEN: the system chain after its last event is broken: "
                            f"system event {hiding[0]} is missing") in out, out


def test_verify_of_one_instance_finds_its_head_where_the_clock_went_back(db, two, frozen_clock):
    """The system chain's event of a commit is timed when the commit ends: a clock set back hours
    meanwhile puts it before the instance's event, and later commits after it. The head is still
    found (the system chain read from its start): no false alarm; a cut is still named."""
    frozen_clock.advance(timedelta(hours=5))
    with db.write() as s:
        [task] = services.tasks(s, instance_id=two[0])
        services.claim(s, task.id, user="drc_zhang", check_access=False)
        frozen_clock.advance(timedelta(hours=-7))  # the commit's system event: 7 hours before the claim
    frozen_clock.advance(timedelta(hours=8))
    complete(db, two[1], "procurement", {"supplier": "某科技公司"})  # a system event after both, in time
    with db.read() as s:
        claimed = history.chain_rows(s, f"instance:{two[0]}")[-1]
        system = history.chain_rows(s, "system")
    recorded = [row for row in system if f'"instance:{two[0]}"' in row.body][-1]
    assert recorded.at < claimed.at - timedelta(hours=1) < system[-1].at and recorded.seq < system[-1].seq
    result = verify(db, two[0])
    assert result.ok, result
    _cut_last_event(db, two[0])
    sql(db, "UPDATE user_task SET assignee = NULL WHERE instance_id = :i", i=two[0])
    result = verify(db, two[0])
    assert not result.ok and result.stage == "chain" and "events cut at its end" in result.problem, result


def test_a_chain_written_behind_the_engine_s_back_is_named(db, two, dalad):
    sql(db, "INSERT INTO history_chain (name, count, head) VALUES ('shadow', 1, 'x')")
    status, out, _ = dalad("history", "verify", "--all")
    assert status == 1 and "shadow: BROKEN: holds 1 events, but the system chain never recorded its head" in out


def test_an_anchor_proves_a_cut_tail_a_removed_instance_and_an_emptied_access_log(db, two, dalad, tmp_path):
    _claim_and_read(db, two)
    anchor = _anchor(dalad, tmp_path)
    status, out, _ = dalad("history", "verify", "--all", "--anchor", anchor)
    assert status == 0 and "chains still hold their anchored heads" in out, out

    _cut_last_event(db, two[0])
    sql(db, "UPDATE user_task SET assignee = NULL WHERE instance_id = :i", i=two[0])
    _remove_instance(db, two[1])
    sql(db, "DELETE FROM history_event WHERE chain = 'access'")
    sql(db, "UPDATE history_chain SET count = 0, head = NULL WHERE name = 'access'")
    status, out, _ = dalad("history", "verify", "--all", "--anchor", anchor)
    assert status == 1
    assert f"instance:{two[0]}: anchored with" in out and "is gone" in out
    assert f"instance:{two[1]}: anchored with" in out and "access: anchored with 1 events" in out
    assert "3 chains FAILED" in out


def test_verify_all_finds_an_instance_deleted_without_an_anchor(db, two, dalad):
    _remove_instance(db, two[0])
    status, out, _ = dalad("history", "verify", "--all")
    assert status == 1 and f"instance {two[0]} was created (system event" in out and "and is gone" in out


def test_an_edited_anchor_is_refused_and_the_admin_pages_show_the_last_one(db, two, dalad, tmp_path):
    anchor = _anchor(dalad, tmp_path)
    signed = json.loads(Path(anchor).read_text(encoding="utf-8"))
    signed["statement"]["chains"][f"instance:{two[0]}"][0] -= 1  # hide an event from the anchor
    (tmp_path / "edited.json").write_text(json.dumps(signed))
    status, out, _ = dalad("history", "verify", "--all", "--anchor", str(tmp_path / "edited.json"))
    assert status == 1 and "its signature does not match" in out
    status, _, err = dalad("history", "verify", "1", "--anchor", anchor)
    assert status == 1 and "--anchor goes with --all" in err
    from engine import anchors
    with db.read() as s:
        assert anchors.last_taken(s) == signed["statement"]["at"]
