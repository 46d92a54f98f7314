"""The statements every engine step runs, written once as plain SQL.

A completion runs about ten statements: the locking read of its task and instance (Core's, its
rows put into the session as objects: callers use them), then the inbox and task rows, the
history rows, the system chain's head and the instance row. Through the ORM or Core each costs
more in Python (compilation, cache keys, parameter setup) than the database takes to run it, so
these are plain SQL with `:name` parameters, run on a cursor of the session's own driver
connection; a driver error is mapped as SQLAlchemy maps it (`handle_error` listeners,
invalidation of a dead connection, `exc.DBAPIError`). While anything listens to
`before_cursor_execute` or `after_cursor_execute` (statement counts in tests, tracing), they go
through `Connection.exec_driver_sql`, which tells them. Per dialect only the parameter style
differs (sqlite3 takes `:name`, psycopg `%(name)s`). A parameter named after a column of the statement's table is
converted by that column's type, as SQLAlchemy would (UTC times, JSON), so what these write
reads back through the models unchanged.

On PostgreSQL a transaction's BEGIN and the writes whose answer nothing waits for (`send`,
`later`) go to the server without waiting, in psycopg's pipeline mode (`_Batch`), and are
answered with the next statement that waits, or the COMMIT: one round trip for them all.
"""
from __future__ import annotations

import contextlib
import re
import weakref
from datetime import datetime
from typing import Callable, Iterable, Optional, Sequence, Union

from sqlalchemy import Column, Table, exc
from sqlalchemy.engine import Connection

_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")

Params = Union[dict, list[dict]]


class Statement:
    """One statement with `:name` parameters. `for_update` adds a row lock where the database has
    one (PostgreSQL: SQLite's write transaction holds the database lock from its first statement):
    True for FOR UPDATE, or what follows it ("OF process_instance"). `returns`: the columns the
    statement answers with, whose values are converted by their types as the ORM reads them."""

    def __init__(self, sql: str, table: Optional[Table] = None, *, for_update: Union[bool, str] = False,
                 returns: Sequence[Column] = (), columns: Optional[list[str]] = None):
        self.sql, self.table, self.for_update, self.returns = sql, table, for_update, list(returns)
        self.columns = columns  # an INSERT's: on PostgreSQL several rows are one statement (`rows`)
        self._by_dialect: dict[str, tuple[str, dict, list]] = {}
        self._by_rows: dict[int, Statement] = {}

    def _prepared(self, dialect) -> tuple[str, dict, list]:
        prepared = self._by_dialect.get(dialect.name)
        if prepared is None:
            sql = self.sql
            if self.for_update and dialect.name != "sqlite":
                sql += " FOR UPDATE" + ("" if self.for_update is True else f" {self.for_update}")
            if dialect.paramstyle in ("pyformat", "format"):
                sql = _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))
            processors = {}
            for name in _PARAMETER.findall(self.sql):
                column = self.table.c.get(name.partition("__")[0]) if self.table is not None else None
                processor = column.type._cached_bind_processor(dialect) if column is not None else None
                if processor is not None:
                    processors[name] = _remembering(processor) if _is_time(column) else processor
            readers = [(i, read) for i, column in enumerate(self.returns)
                       if (read := column.type._cached_result_processor(dialect, None)) is not None]
            prepared = self._by_dialect[dialect.name] = (sql, processors, readers)
        return prepared

    def run(self, connection: Connection, params: Params) -> Rows:
        """Execute with one dict of parameters, or many (a list: one execution each, as executemany)."""
        sql, params, many, readers = self._bound(connection, params)
        if _listened(connection):  # what listens sees each statement
            result = connection.exec_driver_sql(sql, params)
            return _read_all(Rows(result.fetchall() if result.returns_rows else [], result.rowcount), readers)
        dbapi_connection = connection.connection.dbapi_connection
        batch = _batches.get(dbapi_connection) if _batches else None
        if batch is not None:  # PostgreSQL: what was sent before and this in one round trip
            cursor = batch.execute(connection, sql, params, many, answer=True)
            batch.close(connection)  # (an error of the batch is raised there, mapped)
        else:
            cursor = dbapi_connection.cursor()
        try:
            if batch is None:
                if many:
                    cursor.executemany(sql, params)
                else:
                    cursor.execute(sql, params)
            return _answer(cursor, readers)
        except Exception as error:
            # Mapped and raised as SQLAlchemy does it (handle_error listeners, exc.DBAPIError), which
            # closes the cursor, or the whole connection when the error means it is unusable.
            connection._handle_dbapi_exception(error, sql, params, cursor, None)

    def send(self, connection: Connection, params: Params) -> None:
        """Execute a write whose answer nobody reads. On PostgreSQL it is sent at once in the
        connection's batch (`_Batch`) and answered with the next statement that waits; elsewhere
        (SQLite has no round trips) it is `run`."""
        batch = _batch(connection)
        if batch is None:
            self.run(connection, params)
            return
        sql, params, many, _readers = self._bound(connection, params)
        batch.execute(connection, sql, params, many)

    def later(self, connection: Connection, params: dict) -> Callable[[], Rows]:
        """Execute now, read the answer when called. On PostgreSQL the statement is sent in the
        connection's batch and answered with the next statement that waits (or, if none did yet,
        when called); elsewhere it is `run` at once."""
        batch = _batch(connection)
        if batch is None:
            rows = self.run(connection, params)
            return lambda: rows
        sql, params, _many, readers = self._bound(connection, params)
        cursor = batch.execute(connection, sql, params, False, answer=True)

        def answer() -> Rows:
            if _batches.get(batch.dbapi_connection) is batch:
                batch.close(connection)  # not answered yet: now
            return _answer(cursor, readers)
        return answer

    def _bound(self, connection: Connection, params: Params) -> tuple[str, Params, bool, list]:
        many = isinstance(params, list)
        if many and self.columns and len(params) > 1 and connection.dialect.name == "postgresql":
            return self.rows(len(params))._bound(connection, numbered(params))  # one statement, not one per row
        sql, processors, readers = self._prepared(connection.dialect)
        if processors:
            params = [_converted(p, processors) for p in params] if many else _converted(params, processors)
        return sql, params, many, readers

    def rows(self, count: int) -> Statement:
        """This INSERT of `count` rows in one statement (parameters `numbered`)."""
        statement = self._by_rows.get(count)
        if statement is None:
            head, _, values = self.sql.partition(" VALUES ")
            rows = ", ".join(_PARAMETER.sub(rf":\1__{n}", values) for n in range(count))
            statement = self._by_rows[count] = Statement(f"{head} VALUES {rows}", self.table)
        return statement


def _listened(connection: Connection) -> bool:
    """Whether anything listens to the connection's cursor events, asked once per connection (a
    session's transaction): asking costs a walk through the engine's and its class's listeners."""
    listened = connection.__dict__.get("_dalad_listened")
    if listened is None:
        dispatch = connection.dispatch
        listened = connection.__dict__["_dalad_listened"] = bool(
            dispatch.before_cursor_execute or dispatch.after_cursor_execute)
    return listened


class Rows:
    """What a statement answered, fetched at once (these return a row or a few): the part of
    `CursorResult` the step uses."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list, rowcount: int):
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self):
        return iter(self.rows)

    def first(self):
        return self.rows[0] if self.rows else None

    def one(self):
        if len(self.rows) != 1:
            raise exc.NoResultFound("no row was found") if not self.rows else \
                exc.MultipleResultsFound("more than one row was found")
        return self.rows[0]

    def scalar_one(self):
        return self.one()[0]


def _is_time(column: Column) -> bool:
    try:
        return column.type.python_type is datetime
    except NotImplementedError:
        return False


def _remembering(process: Callable) -> Callable:
    """A time column's conversion that keeps its last answer: a step writes one instant (the
    engine clock stands still during it) to many columns of many rows."""
    last = [(None, None)]

    def remembered(value):
        seen, answer = last[0]
        if value is None or value is not seen:
            answer = process(value)
            last[0] = (value, answer)  # one assignment: threads sharing the statement see a consistent pair
        return answer
    return remembered


def _answer(cursor, readers: list) -> Rows:
    """What an executed statement answered, its columns converted; the cursor closed."""
    rows = Rows(cursor.fetchall() if _returned_rows(cursor) else [], cursor.rowcount)
    cursor.close()
    return _read_all(rows, readers)


def _returned_rows(cursor) -> bool:
    """Whether the statement answered with rows. psycopg is asked for its result's status: its
    `description` makes an object per column at every call (45 for a task locked with its instance)."""
    answered = _ROWS_STATUS.get(type(cursor))
    if answered is None:
        answered = _ROWS_STATUS[type(cursor)] = _rows_status(type(cursor))
    if answered:
        result = cursor.pgresult
        return result is not None and result.status == answered
    return cursor.description is not None


def _rows_status(cursor_class) -> int:
    """The result status that means rows, for a driver whose cursor tells it (psycopg); else 0."""
    if not hasattr(cursor_class, "pgresult"):
        return 0
    from psycopg.pq import ExecStatus
    return ExecStatus.TUPLES_OK


_ROWS_STATUS: dict[type, int] = {}


def _read_all(rows: Rows, readers: list) -> Rows:
    if readers and rows.rows:
        rows.rows = [_read(row, readers) for row in rows.rows]
    return rows


def _read(row, readers: list) -> list:
    row = list(row)
    for i, read in readers:
        row[i] = read(row[i])
    return row


def _converted(params: dict, processors: dict) -> dict:
    return {name: (processors[name](value) if name in processors else value) for name, value in params.items()}


def insert(table: Table, columns: Iterable[str], returning: Optional[str] = None) -> Statement:
    """INSERT of the named columns (parameters named as them), optionally RETURNING one. Run with
    several rows, on PostgreSQL it is one statement of them all (`Statement.rows`)."""
    columns = list(columns)
    sql = (f"INSERT INTO {table.name} ({', '.join(_quoted(c) for c in columns)}) "
           f"VALUES ({', '.join(':' + c for c in columns)})")
    return Statement(sql + (f" RETURNING {returning}" if returning else ""), table,
                     columns=None if returning else columns)


def numbered(rows: list[dict]) -> dict:
    """The parameters of several rows in one statement: row N's `name` as `name__N`."""
    return {f"{name}__{n}": value for n, row in enumerate(rows) for name, value in row.items()}


_UPDATES: dict[tuple, Statement] = {}


def update_by_id(connection: Connection, table: Table, row_id: int, values: dict) -> None:
    """UPDATE one row's columns by its id (the statement for each set of columns made once)."""
    key = (table.name, *values)
    statement = _UPDATES.get(key)
    if statement is None:
        sets = ", ".join(f"{_quoted(c)} = :{c}" for c in values)
        statement = _UPDATES[key] = Statement(f"UPDATE {table.name} SET {sets} WHERE id = :_row_id", table)
    statement.send(connection, {**values, "_row_id": row_id})


def _quoted(column: str) -> str:
    return f'"{column}"'


# --- PostgreSQL: writes sent without waiting ------------------------------------------------------

_batches: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # driver connection: its open batch


class _Batch:
    """Writes of a transaction sent in psycopg's pipeline mode: each goes to the server at once and
    nobody waits for it; the next statement that needs an answer (`Statement.run`, any statement
    through SQLAlchemy, the commit) closes the batch and all are answered in one round trip. The
    server runs them in the order sent, so locks are taken as without the batch. An error of one
    surfaces when the batch closes, mapped as SQLAlchemy maps it, naming that statement; the
    transaction then fails as it would have at that statement (nothing of it is saved)."""

    __slots__ = ("dbapi_connection", "pipeline", "sent")

    def __init__(self, dbapi_connection):
        self.dbapi_connection = dbapi_connection
        self.pipeline = dbapi_connection.pipeline()
        self.pipeline.__enter__()
        self.sent: list[tuple[str, Params, object, bool]] = []

    def execute(self, connection: Connection, sql: str, params: Params, many: bool, *, answer: bool = False):
        for one in (params if many else [params]):  # each its own cursor: the one that failed is known
            cursor = self.dbapi_connection.cursor()
            self.sent.append((sql, one, cursor, answer))
            try:
                cursor.execute(sql, one)
            except Exception as error:  # an earlier statement's error, answered meanwhile, or this one's
                self._fail(connection, error)
        return cursor

    def close(self, connection: Connection) -> None:
        """Answer everything sent: one round trip; an error raised as SQLAlchemy maps it."""
        _batches.pop(self.dbapi_connection, None)
        try:
            self.pipeline.__exit__(None, None, None)
        except Exception as error:
            self._fail(connection, error, exited=True)
        for _sql, _params, cursor, answer in self.sent:
            if not answer:
                cursor.close()

    def _fail(self, connection: Connection, error: Exception, *, exited: bool = False) -> None:
        _batches.pop(self.dbapi_connection, None)
        if not exited:
            self.pipeline.__exit__(type(error), error, None)  # leaves pipeline mode; later errors ignored
        failed = next((entry for entry in self.sent if entry[2].pgresult is None), self.sent[-1])  # not answered
        for _sql, _params, cursor, _answer in self.sent:
            if cursor is not failed[2]:
                with contextlib.suppress(Exception):  # (a connection the error ended)
                    cursor.close()
        connection._handle_dbapi_exception(error, failed[0], failed[1], failed[2], None)  # closes that one


def _batch(connection: Connection) -> Optional[_Batch]:
    """The connection's batch, opened if none is; None where statements run at once (SQLite, or
    while cursor events are listened to)."""
    if connection.dialect.name != "postgresql" or _listened(connection):
        return None
    dbapi_connection = connection.connection.dbapi_connection
    batch = _batches.get(dbapi_connection)
    if batch is None:
        batch = _batches[dbapi_connection] = _Batch(dbapi_connection)
    return batch


def begin(connection: Connection) -> None:
    """A write transaction begins (PostgreSQL, the driver in autocommit): its BEGIN is the first
    statement of its batch."""
    dbapi_connection = connection.connection.dbapi_connection
    batch = _batches[dbapi_connection] = _Batch(dbapi_connection)
    batch.execute(connection, "BEGIN", None, False)


def with_sent(connection: Connection, cursor, sql: str, params, execute) -> bool:
    """SQLAlchemy executes a statement (`execute`, on its `cursor`): with a batch open, in it, and the
    batch closed (engine.database registers this on PostgreSQL); True when it did."""
    batch = _batches.get(cursor.connection) if _batches else None
    if batch is None:
        return False
    batch.sent.append((sql, params, cursor, True))  # SQLAlchemy's cursor: SQLAlchemy reads and closes it
    try:
        execute()
    except Exception as error:
        batch._fail(connection, error)
    batch.close(connection)
    return True


def commit_sent(connection: Connection) -> None:
    """At the commit, with a batch open: the COMMIT sent in it, so that it and what was sent before
    are one round trip (the driver's commit then finds the transaction ended)."""
    batch = _batches.get(connection.connection.dbapi_connection) if _batches else None
    if batch is not None:
        batch.execute(connection, "COMMIT", None, False)
        batch.close(connection)


def drop_sent(dbapi_connection) -> None:
    """The transaction rolls back (or the connection goes back to the pool): leave pipeline mode;
    an error of what was sent no longer matters."""
    batch = _batches.pop(dbapi_connection, None) if _batches else None
    if batch is not None:
        try:
            batch.pipeline.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 - the transaction is being rolled back
            pass
        for _sql, _params, cursor, _answer in batch.sent:
            cursor.close()
