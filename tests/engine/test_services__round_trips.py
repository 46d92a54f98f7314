"""What a step and a read send to the database: the statements of one completion (on PostgreSQL
also its round trips, read from the wire), reads without a transaction on PostgreSQL, and the
locked read of a task as the last change left it."""
from __future__ import annotations

import os
import resource
import signal
import tempfile

import pytest
from sqlalchemy import event, exc, select, text, update

from conftest import deploy_files
from engine import history, services, stepsql
from engine.models import HistoryEvent, ProcessInstance, UserTask


@pytest.fixture
def review(db, frozen_clock):
    deploy_files(db, "review.bpmn")
    with db.write() as session:
        instance_id = services.start_process(session, "review", variables={"unit": "edu"}, user="alice").id
        [submit] = services.tasks(session, instance_id=instance_id)
    return db, instance_id, submit.id


def statements_of(db, work) -> list[str]:
    """The statements `work` sends, as kind and table ("SELECT user_task", "BEGIN", "COMMIT")."""
    sent = []

    def statement(_conn, _cursor, sql, *_args):
        words = sql.split()
        if words[0] == "BEGIN":  # SQLite's BEGIN IMMEDIATE (engine/database.py)
            sent.append("BEGIN")
            return
        table = words[words.index("FROM") + 1] if words[0] in ("SELECT", "DELETE") else \
            words[2] if words[0] == "INSERT" else words[1]
        sent.append(f"{words[0]} {table}" + (" FOR UPDATE" if "FOR UPDATE" in sql else ""))

    listeners = [("before_cursor_execute", statement), ("commit", lambda _conn: sent.append("COMMIT"))]
    if not db.is_sqlite:  # psycopg sends BEGIN before the transaction's first statement
        listeners.append(("begin", lambda _conn: sent.append("BEGIN")))
    for name, listener in listeners:
        event.listen(db.engine, name, listener)
    try:
        work()
    finally:
        for name, listener in listeners:
            event.remove(db.engine, name, listener)
    return sent


def test_one_completion_sends_one_locked_read_then_its_writes(review):
    db, _instance_id, task_id = review

    def complete():
        with db.write() as session:
            services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})

    sent = statements_of(db, complete)
    lock = "" if db.is_sqlite else " FOR UPDATE"  # SQLite: BEGIN IMMEDIATE holds the database lock
    # PostgreSQL reads the task again once the instance is locked: the lock may have waited for a
    # change of it, and only the locked row is read anew then.
    locked_read = [f"SELECT user_task{lock}"] + ([] if db.is_sqlite else ["SELECT user_task"])
    assert sent[:len(locked_read) + 1] == ["BEGIN", *locked_read], sent
    writes = sent[len(locked_read) + 1:]
    assert [s for s in writes if s.startswith("SELECT")] == [f"SELECT history_chain{lock}"], sent
    assert writes.count("UPDATE process_instance") == 1 and writes[-1] == "COMMIT", sent
    assert writes.index(f"SELECT history_chain{lock}") > writes.index("UPDATE process_instance"), sent


def wire_of(db, work, *, prepared: bool = False) -> list[tuple[str, str, list[str]]]:
    """The messages `work` sends to and gets from PostgreSQL, read from libpq's trace: (direction
    "F" or "B", message type, its fields). Unless `prepared`, every statement is sent with its
    text (psycopg's and engine.stepsql's prepared statements are off)."""
    trace = tempfile.TemporaryFile()

    def traced(dbapi_connection, _record, _proxy):
        from psycopg import pq
        if not prepared:
            dbapi_connection.prepare_threshold = None
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def untraced(dbapi_connection, _record):
        dbapi_connection.pgconn.untrace()
        dbapi_connection.prepare_threshold = 5

    event.listen(db.engine, "checkout", traced)
    event.listen(db.engine, "checkin", untraced)
    try:
        work()
    finally:
        event.remove(db.engine, "checkout", traced)
        event.remove(db.engine, "checkin", untraced)
    trace.seek(0)
    with trace:
        lines = trace.read().decode().splitlines()
    messages = []  # (direction, type, fields): a statement's text may go on over several lines
    for line in lines:
        if line[:2] in ("F\t", "B\t"):
            direction, _length, message, *rest = line.split("\t")
            messages.append((direction, message, rest))
        else:
            messages[-1][2].append(line)
    return messages


def round_trips_of(db, work) -> list[list[str]]:
    """What `work` sends to PostgreSQL (`wire_of`): one list per round trip (the messages sent until
    the client waits for the answer: a Sync, Flush or simple Query), each statement as its first
    words and table ("UPDATE user_task", "WITH added history_event")."""
    flights, flight = [], []
    for direction, message, rest in wire_of(db, work):
        if direction != "F":
            continue
        rest = [" ".join(rest)]
        if message in ("Parse", "Query"):
            text = rest[0].split('"', 3)[1 if message == "Query" else 3].rsplit('"', 1)[0]
            words = text.replace("(", " ").split()
            table = next((w for w in words[1:] if w in _TABLES), "")
            flight.append(" ".join([*words[:2], table] if words[0] == "WITH" else [words[0], table]).strip()
                          + (" FOR UPDATE" if "FOR UPDATE" in text else ""))
        if message in ("Sync", "Flush", "Query") and flight:
            flights.append(flight)
            flight = []
    assert not flight, flight
    return flights


_TABLES = ("user_task", "process_instance", "task_candidate", "inbox_count", "history_event", "history_chain")


@pytest.mark.postgres_only
def test_on_postgresql_a_completion_sends_its_writes_with_the_answers_it_waits_for(review):
    """The BEGIN and writes whose answer nobody reads go with the next statement that waits
    (stepsql._Batch); the system chain's events and head are one statement, sent with the COMMIT:
    5 round trips, where each statement was one (16)."""
    db, _instance_id, task_id = review

    def complete():
        with db.write() as session:
            services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})

    flights = round_trips_of(db, complete)
    assert flights == [
        # the task and its instance, the instance locked; the task again, as the lock left it
        ["BEGIN", "SELECT user_task FOR UPDATE", "SELECT user_task"],
        # the task leaves its inboxes (the groups counted from the answer at the commit), completed;
        # a next task, its id answered
        ["UPDATE task_candidate", "UPDATE user_task", "INSERT user_task"],
        ["INSERT task_candidate", "INSERT user_task"],  # its inbox rows; the other next task (parallel)
        ["INSERT task_candidate", "INSERT history_event", "UPDATE process_instance", "INSERT inbox_count",
         "SELECT history_chain FOR UPDATE"],  # the system chain's head locked last
        ["WITH added history_event", "COMMIT"],  # its events and its new head, one statement
    ], flights


@pytest.mark.postgres_only
def test_on_postgresql_an_error_of_a_write_sent_without_waiting_names_it_and_saves_nothing(review):
    db, instance_id, task_id = review
    blocker = _blocking_the_next_history_event(db, instance_id)  # in the way of the completion's first event
    with db.read() as session:
        revision = session.get(ProcessInstance, instance_id).revision

    def complete():
        with db.write() as session:
            services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})

    with pytest.raises(exc.IntegrityError, match=r"\[SQL: INSERT INTO history_event") as raised:
        complete()
    assert raised.value.orig.sqlstate == "23505"  # unique_violation, as when it was sent alone
    with db.read() as session:
        assert session.get(UserTask, task_id).state == "ready"
        assert session.get(ProcessInstance, instance_id).revision == revision
    with db.write() as session:
        session.delete(session.get(HistoryEvent, blocker.id))
    complete()  # the pooled connection is fit for the next transaction
    with db.read() as session:
        assert session.get(UserTask, task_id).state == "completed"


def _blocking_the_next_history_event(db, instance_id) -> HistoryEvent:
    """A row in the way of the instance's next history event (its chain and seq taken)."""
    with db.write() as session:
        row = session.get(ProcessInstance, instance_id)
        blocker = HistoryEvent(chain=f"instance:{instance_id}", seq=row.history_count + 1, at=row.updated_at,
                               type="in_the_way", body="{}", hmac="x")
        session.add(blocker)
    return blocker


@pytest.mark.postgres_only
def test_on_postgresql_an_error_of_a_sent_write_is_raised_before_sqlalchemy_runs_its_next_statement(review):
    """A claim's history event is sent without waiting; the ORM's UPDATE of the task at the commit
    waits: the event's error is raised there, naming the event, and nothing of the claim is saved."""
    db, instance_id, task_id = review
    blocker = _blocking_the_next_history_event(db, instance_id)

    def claim():
        with db.write() as session:
            services.claim(session, task_id, user="alice", groups=["unit:edu"])

    with pytest.raises(exc.IntegrityError, match=r"\[SQL: INSERT INTO history_event") as raised:
        claim()
    assert raised.value.orig.sqlstate == "23505"
    with db.read() as session:
        assert session.get(UserTask, task_id).assignee is None
    with db.write() as session:
        session.delete(session.get(HistoryEvent, blocker.id))
    claim()
    with db.read() as session:
        assert session.get(UserTask, task_id).assignee == "alice"


@pytest.mark.postgres_only
def test_on_postgresql_a_transaction_that_fails_before_its_sent_write_is_answered_saves_nothing(review):
    """A sent write fails, and before anything waits for its answer the transaction fails in
    Python: that failure is what is raised; the rollback ends the transaction (the write's error no
    longer matters) and the pooled connection serves the next one."""
    db, instance_id, task_id = review
    blocker = _blocking_the_next_history_event(db, instance_id)
    db.engine.dispose()  # one pooled connection from here
    with pytest.raises(LookupError, match="after the write"):
        with db.write() as session:
            task, row = services.lock_task(session, task_id)
            history.record(session, row, [history.Event("note", data={"task": task.id})], None)  # sent: fails
            raise LookupError("after the write, before its answer")
    with db.write() as session:
        session.delete(session.get(HistoryEvent, blocker.id))
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM history_event WHERE type = 'note'")).scalar() == 0
    services_complete(db, task_id)
    with db.read() as session:
        assert session.get(UserTask, task_id).state == "completed"


def services_complete(db, task_id) -> None:
    with db.write() as session:
        services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})


@pytest.mark.postgres_only
def test_on_postgresql_a_value_psycopg_cannot_send_is_named_with_its_statement(review):
    db, _instance_id, task_id = review
    with pytest.raises(exc.ProgrammingError, match=r"cannot adapt[\s\S]*\[SQL: UPDATE user_task"):
        with db.write() as session:
            stepsql.update_by_id(session.connection(), UserTask.__table__, task_id, {"name": object()})
    services_complete(db, task_id)  # nothing was sent of it; the connection is fit


@pytest.mark.postgres_only
def test_on_postgresql_an_answer_psycopg_cannot_read_is_raised_named_after_all_are_read(review):
    """The locked read answers a due date Python cannot hold (infinity): psycopg's error is raised
    naming the read, once every answer of the round trip is read; the connection serves the next."""
    db, _instance_id, task_id = review
    with db.write() as session:
        session.execute(text("UPDATE user_task SET due_at = 'infinity' WHERE id = :id"), {"id": task_id})
    with pytest.raises(exc.DataError, match=r"infinity[\s\S]*\[SQL: SELECT user_task"):
        services_complete(db, task_id)
    with db.write() as session:
        session.execute(text("UPDATE user_task SET due_at = NULL WHERE id = :id"), {"id": task_id})
    services_complete(db, task_id)


@pytest.mark.postgres_only
def test_on_postgresql_a_step_interrupted_while_it_waits_is_cancelled_and_its_connection_kept(review):
    """Interrupted (Ctrl-C, a worker's timeout) while it waits for the server (here for a lock
    another transaction holds): as psycopg does, the server is asked to cancel, the answers are read
    to the end and the interruption raised; nothing is saved and the connection serves the next step."""
    db, instance_id, task_id = review
    db.engine.dispose()
    holder = db.engine.connect()  # holds the instance's lock: the step waits for it
    holder.execute(text("SELECT id FROM process_instance WHERE id = :id FOR UPDATE"), {"id": instance_id})

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            with db.write() as session:
                waited = _backend_pid(session)
                services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with db.read() as session:  # while the lock is still held: the step's wait was cancelled
        assert _backend_pid(session) == waited
        assert session.get(UserTask, task_id).state == "ready"
    holder.rollback()
    holder.close()
    services_complete(db, task_id)
    with db.read() as session:
        assert session.get(UserTask, task_id).state == "completed"


def _backend_pid(session) -> int:
    return session.connection().connection.dbapi_connection.info.backend_pid


@pytest.mark.postgres_only
def test_on_postgresql_a_connection_that_dies_in_a_step_fails_that_step_and_the_next_gets_a_new_one(review):
    db, instance_id, task_id = review
    with pytest.raises(exc.OperationalError) as raised:
        with db.write() as session:
            services.lock_task(session, task_id)  # answered: the transaction holds the lock
            doomed = _backend_pid(session)
            with db.engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({doomed})")
            # its writes are sent to a connection the server closed; they wait with the next task's INSERT
            services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})
    assert raised.value.connection_invalidated
    with db.write() as session:
        assert _backend_pid(session) != doomed
        assert session.get(UserTask, task_id).state == "ready"
        services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})
    with db.read() as session:
        assert session.get(UserTask, task_id).state == "completed"
        assert len(services.tasks(session, instance_id=instance_id)) == 2


def _complete_every_ready_task(db, instance_id) -> None:
    """Each ready task of the instance completed in its own transaction (review: submit, then its two reviews)."""
    with db.read() as session:
        ready = [task.id for task in services.tasks(session, instance_id=instance_id)]
    for task_id in ready:
        with db.write() as session:
            services.complete_task(session, task_id, user="alice", data={"amount": 1500}, check_access=False)


@pytest.mark.postgres_only
def test_on_postgresql_a_step_statement_is_prepared_once_per_connection(review):
    """The locked read every step runs is parsed the first time the connection sends it; later
    steps send its name and their values."""
    db, instance_id, _task_id = review
    db.engine.dispose()  # one pooled connection from here: these run one after another

    def three_steps():
        for _step in range(2):  # the submit, then its two reviews
            _complete_every_ready_task(db, instance_id)

    messages = [(message, " ".join(fields)) for direction, message, fields in wire_of(db, three_steps, prepared=True)
                if direction == "F"]
    [(name, _text)] = [fields.split('"')[1:4:2] for message, fields in messages
                       if message == "Parse" and "FOR UPDATE OF process_instance" in fields]
    assert name.startswith("_dalad_")
    assert sum(1 for message, fields in messages if message == "Bind" and fields.split('"')[3] == name) == 3
    with db.read() as session:
        prepared = session.execute(text("SELECT name FROM pg_prepared_statements")).scalars().all()
    assert name in prepared


@pytest.mark.postgres_only
def test_on_postgresql_a_connection_keeps_as_many_step_statements_prepared_as_psycopg_keeps_its_own(review):
    """Beyond psycopg's `prepared_max` the oldest of ours is closed (ids that grow past a type's
    range make new variants): steps still complete, and the server holds no more than that."""
    db, instance_id, _task_id = review
    db.engine.dispose()  # one pooled connection from here

    def few(dbapi_connection, _record, _proxy):
        dbapi_connection.prepared_max = 4

    event.listen(db.engine, "checkout", few)
    try:
        for _step in range(2):  # the submit, then its two reviews
            _complete_every_ready_task(db, instance_id)
        with db.read() as session:
            assert not services.tasks(session, instance_id=instance_id)
            ours = dict(session.execute(text("SELECT name, statement FROM pg_prepared_statements "
                                             "WHERE name LIKE '_dalad%'")).all())
        assert len(ours) == 4
        assert any(sql.startswith("WITH added") for sql in ours.values())  # the last step's last, the newest kept
    finally:
        event.remove(db.engine, "checkout", few)
        db.engine.dispose()  # (its connection keeps the setting)


@pytest.mark.postgres_only
def test_on_postgresql_statements_psycopg_dropped_are_prepared_anew(review):
    """psycopg drops every prepared statement of a connection (DEALLOCATE ALL) when it rolls back a
    transaction of its own after preparing some (a snapshot read that fails): the next step
    prepares its statements anew."""
    db, instance_id, task_id = review
    db.engine.dispose()  # one pooled connection from here: these run one after another
    with db.write() as session:
        services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})
        connection = _backend_pid(session)
    with pytest.raises(LookupError):  # a read that fails: psycopg rolls back its transaction
        with db.read(snapshot=True) as session:  # (psycopg's transaction, on the same pooled connection)
            assert _backend_pid(session) == connection
            for _time in range(6):  # prepared by psycopg from the fifth
                session.execute(select(UserTask.id).where(UserTask.id == task_id)).all()
            raise LookupError("no such page")
    with db.read() as session:
        assert _backend_pid(session) == connection
        assert not session.execute(text("SELECT name FROM pg_prepared_statements")).all()  # all dropped
    _complete_every_ready_task(db, instance_id)
    with db.read() as session:
        assert _backend_pid(session) == connection
        assert not services.tasks(session, instance_id=instance_id)
        assert session.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '_dalad%'")).scalar()


def test_the_locked_read_replaces_an_older_copy_the_session_holds(review):
    db, instance_id, task_id = review
    with db.write() as session:
        stale = session.get(UserTask, task_id)
        stale_row = session.get(ProcessInstance, instance_id)
        session.execute(update(UserTask).where(UserTask.id == task_id).values(assignee="bob")
                        .execution_options(synchronize_session=False))
        session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                        .values(business_key="changed").execution_options(synchronize_session=False))
        assert stale.assignee is None
        task, row = services.lock_task(session, task_id)
        assert task is stale and row is stale_row
        assert (task.assignee, row.business_key) == ("bob", "changed")
        assert row.state  # the deferred state loads when used


def test_the_locked_read_sees_what_the_transaction_changed_before_it(review):
    db, _instance_id, task_id = review
    with db.write() as session:
        session.get(UserTask, task_id).assignee = "carol"  # pending: flushed before the locked read
        task, _row = services.lock_task(session, task_id)
        assert task.assignee == "carol"
    with db.read() as session:
        assert session.get(UserTask, task_id).assignee == "carol"


def test_a_read_session_refuses_to_write(review):
    db, _instance_id, task_id = review
    with pytest.raises(exc.InvalidRequestError, match="read session does not write"):
        with db.read() as session:
            session.get(UserTask, task_id).assignee = "mallory"
            session.flush()
    with db.read() as session:
        assert session.get(UserTask, task_id).assignee is None


@pytest.mark.postgres_only
def test_a_read_on_postgresql_opens_no_transaction_but_a_snapshot_does(review):
    db, _instance_id, task_id = review

    def status(session):
        return session.connection().connection.dbapi_connection.info.transaction_status.name

    with db.read() as session:
        session.get(UserTask, task_id)
        assert status(session) == "IDLE"  # no BEGIN sent, none to roll back
    with db.read(snapshot=True) as session:
        session.get(UserTask, task_id)
        assert status(session) == "INTRANS"
        assert session.connection().exec_driver_sql("SHOW transaction_isolation").scalar() == "repeatable read"


@pytest.mark.postgres_only
def test_on_postgresql_a_step_waits_on_a_connection_numbered_past_select_s_range(review):
    """A busy server holds many sockets and files, so its database connection may be numbered past
    1024, beyond what select() can wait on: the step's round trips still wait on it (poll)."""
    db, instance_id, task_id = review
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1300), hard))
    db.engine.dispose()  # the pooled connections closed: the next is opened past the fillers
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with db.write() as session:
            socket = session.connection().connection.dbapi_connection.pgconn.socket
            assert socket > 1024, (socket, fillers[-1])
            services.complete_task(session, task_id, user="alice", groups=["unit:edu"], data={"amount": 1500})
    finally:
        for fd in fillers:
            os.close(fd)
        db.engine.dispose()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with db.read() as session:
        assert session.get(UserTask, task_id).state == "completed"
        assert session.get(ProcessInstance, instance_id).history_count > 2
