"""An instance that lives for years: a monthly report loop of thousands of rounds keeps moving,
keeps a task tree and a stored state as small as its first rounds', and is proven by one forward
pass whose work grows with the number of events, not with their square. Work is counted, never
timed (the figures are bench/'s)."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from conftest import deploy_files
from engine import history, instances, replay, runtime, services
from engine.models import ProcessInstance


def started(db, process: str) -> int:
    deploy_files(db, f"{process}.bpmn")
    with db.write() as session:
        return services.start_process(session, process, business_key="P-LONG", user="edu_li").id


@pytest.fixture
def reports(db, frozen_clock):
    """A loop whose rounds run a parallel split and join and an embedded subprocess."""
    return started(db, "monthly_reports")


@pytest.fixture
def progress(db, frozen_clock):
    """The plainest loop: one user task and a gateway back to it."""
    return started(db, "progress_loop")


def report_rounds(db, instance_id: int, rounds: int, *, finish: bool = False, per_transaction: int = 200) -> None:
    """Complete `rounds` monthly reports through the service officials use (several per
    transaction, to keep the test short: each completion loads, runs and saves the same way)."""
    done = 0
    while done < rounds:
        with db.write() as session:
            for _ in range(min(per_transaction, rounds - done)):
                row = session.get(ProcessInstance, instance_id)
                [(task_id, element)] = row.open_tasks.values()
                assert element == "report"
                done += 1
                services.complete_task(session, task_id, user="edu_li", check_access=False,
                                       data={"finished": finish and done == rounds})


def live_size(db, instance_id: int) -> tuple[int, int, int]:
    """(tasks in the live tree, sub-workflows, characters of the stored state)."""
    with db.read() as session:
        row = session.get(ProcessInstance, instance_id)
        definition = instances.definition_runtime(session, row.definition_id)
        workflow = runtime.load_state(row.state, definition.spec, definition.subprocess_specs)
        return len(workflow.tasks), len(workflow.subprocesses), len(row.state)


def test_a_loop_past_the_old_recursion_limit_moves_stays_small_and_verifies(db, reports):
    report_rounds(db, reports, 20)
    tasks_20, subs_20, size_20 = live_size(db, reports)
    report_rounds(db, reports, 380)  # 400 rounds: SpiffWorkflow's own nesting failed at ~330
    tasks_400, subs_400, size_400 = live_size(db, reports)
    assert (tasks_400, subs_400) == (tasks_20, subs_20)
    assert size_400 <= size_20 + 200  # the same tree; only counters and data grow by digits
    with db.read() as session:
        row = session.get(ProcessInstance, reports)
        assert row.variables["reports"] == 400
        last = history.events_of(session, reports)[-1]
        chain, report = replay.verify(session, reports)
    assert last["type"] == "task_created" and last["occurrence"] == 401  # rounds dropped still count
    assert chain.ok and report.ok, report


def test_verify_is_one_forward_pass_whose_work_grows_linearly(db, reports):
    def proof_work(rounds_so_far):
        with db.read() as session:
            events = history.events_of(session, reports)
            chain, report = replay.verify(session, reports)
        assert chain.ok and report.ok, report
        inputs = sum(1 for e in events if e["type"] in ("instance_started", "task_completed"))
        assert report.reexecuted == inputs  # each recorded input re-executed exactly once
        return report.tasks_digested / len(events)

    report_rounds(db, reports, 50)
    per_event_50 = proof_work(50)
    report_rounds(db, reports, 250)
    per_event_300 = proof_work(300)
    assert per_event_300 <= per_event_50 * 1.1  # constant work per event: linear in the events


def statements_of_one_round(db, instance_id: int) -> list[str]:
    """The statements one completion of the loop's report runs, in its own transaction, as each
    begins (verb and table): what the step does in the database, read from the driver's calls."""
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        words = statement.replace('"', "").replace("(", " ").split()
        verb = words[0].upper()
        if verb == "WITH":  # PostgreSQL: rows inserted in a WITH of an UPDATE (the system chain's)
            seen.append(f"INSERT {words[words.index('INTO') + 1]} + UPDATE {words[words.index('UPDATE') + 1]}")
            return
        table = words[[w.upper() for w in words].index("FROM") + 1] if verb == "SELECT" else \
            words[2] if verb in ("INSERT", "DELETE") else words[1] if verb == "UPDATE" else ""
        seen.append(f"{verb} {table}".strip() + (" (many)" if executemany else ""))

    with db.read() as session:
        [(task_id, _element)] = session.get(ProcessInstance, instance_id).open_tasks.values()
    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        with db.write() as session:
            services.complete_task(session, task_id, user="edu_li", check_access=False, data={"finished": False})
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    return seen


def test_a_step_runs_the_same_statements_at_its_400th_round_as_at_its_fourth(db, progress):
    """No statement of a completion reads or writes more because the instance is old: the same
    statements (a lock, the inbox rows, the task rows, the history rows of the instance and of the
    system chain, the instance row) at round 4 and at round 400."""
    report_rounds(db, progress, 3)
    early = statements_of_one_round(db, progress)
    report_rounds(db, progress, 395)
    late = statements_of_one_round(db, progress)
    assert late == early, (early, late)
    assert sorted(early) == sorted(filter(None, [
        "BEGIN" if db.is_sqlite else None, "SELECT user_task", None if db.is_sqlite else "SELECT user_task",
        "UPDATE task_candidate", "UPDATE user_task", "INSERT user_task", "INSERT task_candidate",
        "UPDATE process_instance", "SELECT history_chain",
        # the instance's events: on PostgreSQL one INSERT of their rows; the system chain's one event
        # and its head: on PostgreSQL one statement (engine.history._appended_and_moved)
        *(["INSERT history_event (many)", "INSERT history_event", "UPDATE history_chain"] if db.is_sqlite
          else ["INSERT history_event", "INSERT history_event + UPDATE history_chain"])])), early


@pytest.mark.long_run  # make test-long: engine logic, the same on both databases, once on SQLite
def test_ten_thousand_rounds_work_and_the_instance_completes_with_its_history_proven(db, progress):
    report_rounds(db, progress, 100)
    tasks_100, _, size_100 = live_size(db, progress)
    report_rounds(db, progress, 9_900, finish=True, per_transaction=1000)
    with db.read() as session:
        row = session.get(ProcessInstance, progress)
        assert row.status == "completed"
        assert len(row.state) <= size_100 + 500
        completions = [e for e in history.events_of(session, progress) if e["type"] == "task_completed"]
        chain, report = replay.verify(session, progress)
    assert len(completions) == 10_000 and completions[-1]["occurrence"] == 10_000
    assert chain.ok and report.ok, report
    assert report.events == 20_002 and report.tasks_digested <= report.events * (tasks_100 + 10)
