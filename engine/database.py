"""Engine and session factory from a database URL; schema creation through Alembic."""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from . import jsontext, stepsql

log = logging.getLogger(__name__)
DEFAULT_URL_ENV = "DALAD_DATABASE_URL"
PING_AFTER_IDLE_SECONDS = 10
MIGRATIONS = Path(__file__).with_name("migrations")


def default_url(instance_dir: str | os.PathLike = "instance") -> str:
    """Return the URL from DALAD_DATABASE_URL, else an SQLite file under `instance/`."""
    url = os.environ.get(DEFAULT_URL_ENV)
    if url:
        return url
    Path(instance_dir).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(instance_dir).resolve() / 'dalad.sqlite3'}"


def _reconnect_when_read_only(context) -> None:
    """A connection opened while the database was read-only stays read-only (PostgreSQL reads
    default_transaction_read_only when it connects, SQLite opens a file it may not write read-only):
    when a write is refused as read-only, drop the pool's connections, so those opened after the
    database takes writes again do."""
    refused = context.original_exception
    if (getattr(refused, "sqlstate", None) == "25006"  # read_only_sql_transaction
            or (getattr(refused, "sqlite_errorname", None) or "").startswith("SQLITE_READONLY")):
        context.is_disconnect = True


def _read_json_with_orjson(dbapi_connection, _record) -> None:
    from psycopg.types.json import set_json_loads
    set_json_loads(jsontext.loads, dbapi_connection)


def _note_idle_since(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """A pooled connection idle for a while (a database restart then drops it unseen) is pinged
    before use and replaced if dead; one in steady use is not, which saves a round trip per
    transaction. A connection that dies in use gives that request a 503 (web/errors.py) and the
    pool drops every connection opened before it."""
    if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
        stepsql.forget_prepared(dbapi_connection)  # (psycopg's rollback may drop every prepared statement)
    except Exception as dead:
        raise exc.DisconnectionError(str(dead)) from dead  # the pool retries with a new connection


def _optimize_sqlite(dbapi_connection, mask: str = "") -> None:
    """Keep SQLite's query statistics (it never runs ANALYZE by itself): PRAGMA optimize analyzes
    the tables whose statistics are missing or stale among those this connection's queries used
    (with `mask` 0x10002: every table, from SQLite 3.46), each from a bounded sample
    (analysis_limit), as sqlite.org recommends before connections close (`dispose`: the command
    line's), now and then on long-lived ones (the server's scheduler, daily) and after a schema
    change (`upgrade`). Usually it does nothing; when another connection holds the write lock it is
    left for the next time rather than waited for."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA analysis_limit=400")
        cursor.execute(f"PRAGMA optimize{mask}")
    except sqlite3.Error as skipped:  # busy, read-only or closing: the statistics wait for the next time
        log.debug("PRAGMA optimize skipped: %s", skipped)
    finally:
        with contextlib.suppress(sqlite3.Error):
            cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


_BEGIN_WRITE, _BEGIN_READ = stepsql.Statement("BEGIN IMMEDIATE"), stepsql.Statement("BEGIN")


def _batch_writes(engine: Engine) -> None:
    """PostgreSQL: a write transaction's BEGIN and the step's statements go through libpq's pipeline
    (`stepsql._Batch`): sent without waiting, answered with the next statement that waits (the
    step's, SQLAlchemy's) or the COMMIT, in one round trip; a rollback ends them. (Write connections
    are in autocommit at the driver, so that psycopg sends no BEGIN of its own and waits for it.)"""
    def begin(connection):
        if connection.get_execution_options().get("dalad_write"):
            stepsql.begin(connection)

    def before_statement(_cursor, statement, *args):  # (parameters,) context: SQLAlchemy then runs it
        stepsql.before_driver_statement(args[-1].root_connection, statement)

    event.listen(engine, "begin", begin)
    event.listen(engine, "do_execute", before_statement)
    event.listen(engine, "do_executemany", before_statement)
    event.listen(engine, "do_execute_no_params", before_statement)
    event.listen(engine, "commit", stepsql.commit_sent)
    event.listen(engine, "rollback", lambda connection: connection.invalidated or stepsql.drop_sent(
        connection.connection.dbapi_connection))
    event.listen(engine, "reset", lambda dbapi_connection, _record, _state: stepsql.drop_sent(dbapi_connection))


def _refuse_writes(session, _flush_context, _instances) -> None:
    raise exc.InvalidRequestError("a read session does not write: use Database.write()")


class Database:
    """One engine and two ways in: `read()` and `write()`.

    On SQLite a write transaction starts with BEGIN IMMEDIATE, so two writers queue on the
    database lock instead of failing at commit; readers never wait (WAL). On PostgreSQL, writers
    lock the rows they change (SELECT ... FOR UPDATE in the services), and a read runs each
    statement in autocommit: at READ COMMITTED a transaction's statements see no more than that
    (each its own snapshot), so its BEGIN and ROLLBACK would be two round trips for nothing.
    """

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        self.engine = self._make_engine(url, echo)
        event.listen(self.engine, "handle_error", _reconnect_when_read_only)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._writer = self.engine.execution_options(dalad_write=True) if self.is_sqlite else \
            self.engine.execution_options(dalad_write=True, isolation_level="AUTOCOMMIT")  # BEGIN: _batch_writes
        reader = self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_engine = reader  # what read() runs on: Core statements alone need no session (web/rest.py)
        self.read_session = sessionmaker(reader, autoflush=False, expire_on_commit=False)
        event.listen(self.read_session, "before_flush", _refuse_writes)
        self.write_session = sessionmaker(self._writer, expire_on_commit=False)

    @staticmethod
    def _make_engine(url: str, echo: bool) -> Engine:
        """JSON columns are written as the engine writes its other JSON (engine/jsontext.py)."""
        if url.startswith("sqlite"):
            engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False},
                                   json_serializer=jsontext.dumps, json_deserializer=jsontext.loads)

            @event.listens_for(engine, "connect")
            def _sqlite_connect(dbapi_connection, _record):
                dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA busy_timeout=30000")
                # Debian's SQLite is built with SECURE_DELETE: each step's new instance state frees the
                # old one's overflow pages, and zeroing them wrote them to the WAL once more. FAST still
                # zeroes what is deleted inside the pages a commit writes; a freed page (an old state's
                # overflow) keeps its bytes until it is used again.
                cursor.execute("PRAGMA secure_delete=FAST")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn):
                immediate = conn.get_execution_options().get("dalad_write")
                (_BEGIN_WRITE if immediate else _BEGIN_READ).run(conn, {})

            return engine
        engine = create_engine(url, echo=echo, pool_size=10, max_overflow=20, json_serializer=jsontext.dumps)
        event.listen(engine, "connect", _read_json_with_orjson)
        event.listen(engine, "checkin", _note_idle_since)
        event.listen(engine, "checkout", _ping_if_idle)
        _batch_writes(engine)
        return engine

    @contextlib.contextmanager
    def write(self):
        """Yield a session in a write transaction; commit on success, roll back on error."""
        with self.write_session.begin() as session:
            yield session

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False):
        """Yield a session for reading; it writes nothing (a flush is refused). `snapshot`: every
        query of it sees the database as it was at its first (PostgreSQL: a REPEATABLE READ
        transaction; SQLite's reads always do)."""
        with self.read_session() as session:
            with session.begin():
                if snapshot and not self.is_sqlite:
                    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                yield session

    def upgrade(self) -> None:
        """Create or upgrade the schema to the latest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        self.optimize(every_table=True)

    def optimize(self, *, every_table: bool = False) -> None:
        """SQLite: refresh the query statistics where they are missing or stale (`every_table`: of
        every table, not only those this connection's queries used: after a schema change).
        PostgreSQL's autovacuum keeps its own."""
        if not self.is_sqlite:
            return
        try:
            with self.engine.connect() as connection:
                _optimize_sqlite(connection.connection.dbapi_connection, "=0x10002" if every_table else "")
        except exc.DBAPIError as skipped:  # the file cannot be opened: nothing to keep
            log.debug("PRAGMA optimize skipped: %s", skipped)

    def dispose(self) -> None:
        """Close the pool's connections (SQLite: after keeping the statistics of what they queried)."""
        self.optimize()
        self.engine.dispose()
