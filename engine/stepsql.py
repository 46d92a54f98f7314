"""The statements every engine step runs, written once as plain SQL.

A completion runs about ten statements: the locking read of its task and instance (Core's, its
rows put into the session as objects: callers use them), then the inbox and task rows, the
history rows, the system chain's head and the instance row. Through the ORM or Core each costs
more in Python (compilation, cache keys, parameter setup) than the database takes to run it, so
these are plain SQL with `:name` parameters, run on the session's own driver connection; a
driver error is mapped as SQLAlchemy maps it (`handle_error` listeners, invalidation of a dead
connection, `exc.DBAPIError`). While anything listens to `before_cursor_execute` or
`after_cursor_execute` (statement counts in tests, tracing), they go through
`Connection.exec_driver_sql`, which tells them. A parameter named after a column of the
statement's table is converted by that column's type, as SQLAlchemy would (UTC times, JSON), so
what these write reads back through the models unchanged.

SQLite runs them on a cursor (sqlite3 takes `:name`). On PostgreSQL they go through libpq's
pipeline on the connection psycopg holds (`_Batch`; psycopg's cursor costs about 40 µs of the
client's CPU per statement): as `$1..$n`, parameters dumped and rows loaded by psycopg's own
adaptation, each statement prepared once per connection. A write transaction's BEGIN and the
writes whose answer nothing waits for (`send`, `later`) are sent without waiting, and answered
with the next statement that waits, or the COMMIT: one round trip for them all.
"""
from __future__ import annotations

import itertools
import re
import select
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
        self._pg: Optional[tuple[bytes, list, list, list, list]] = None

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

    def _numbered(self, dialect) -> tuple[bytes, list, list, list, list]:
        """PostgreSQL's own form (libpq, `_Batch`): the SQL with `$1..$n`, the parameter names in
        that order, the conversions of some by index, psycopg's formats for them, the readers of
        the answer's columns."""
        numbered = self._pg
        if numbered is None:
            sql, processors, readers = self._prepared(dialect)
            names: list[str] = []
            for name in _PARAMETER.findall(self.sql):
                if name not in names:
                    names.append(name)
            text = _PARAMETER.sub(lambda m: f"${names.index(m.group(1)) + 1}", self.sql)
            if self.for_update:
                text += " FOR UPDATE" + ("" if self.for_update is True else f" {self.for_update}")
            numbered = self._pg = (text.encode(), names, [(i, processors[n]) for i, n in enumerate(names)
                                                          if n in processors], [_AUTO] * len(names), readers)
        return numbered

    def run(self, connection: Connection, params: Params) -> Rows:
        """Execute with one dict of parameters, or many (a list: one execution each, as executemany)."""
        if _listened(connection):  # what listens sees each statement
            sql, params, _many, readers = self._bound(connection, params)
            result = connection.exec_driver_sql(sql, params)
            return _read_all(Rows(result.fetchall() if result.returns_rows else [], result.rowcount), readers)
        batch = _batch(connection) if connection.dialect.name == "postgresql" else None
        if batch is not None:  # PostgreSQL: what was sent before and this in one round trip
            answers = [_add(batch, connection, statement, one, True) for statement, one in self._each(params)]
            batch.close(connection)  # (an error of the batch is raised there, mapped)
            return answers[0] if len(answers) == 1 else Rows([], sum(a.rowcount for a in answers))
        sql, params, many, readers = self._bound(connection, params)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
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
        """Execute a write whose answer nobody reads. On PostgreSQL it is sent in the connection's
        batch (`_Batch`) and answered with the next statement that waits; elsewhere (SQLite has no
        round trips) it is `run`."""
        batch = _batch(connection)
        if batch is None:
            self.run(connection, params)
            return
        for statement, one in self._each(params):
            _add(batch, connection, statement, one, False)

    def later(self, connection: Connection, params: dict) -> Callable[[], Rows]:
        """Execute now, read the answer when called. On PostgreSQL the statement is sent in the
        connection's batch and answered with the next statement that waits (or, if none did yet,
        when called); elsewhere it is `run` at once."""
        batch = _batch(connection)
        if batch is None:
            rows = self.run(connection, params)
            return lambda: rows
        rows = _add(batch, connection, self, params, True)

        def answer() -> Rows:
            if _batches.get(batch.dbapi_connection) is batch:
                batch.close(connection)  # not answered yet: now
            return rows
        return answer

    def _each(self, params: Params) -> list[tuple[Statement, dict]]:
        """(PostgreSQL) The statements to send for these parameters: several rows of an INSERT as one."""
        if not isinstance(params, list):
            return [(self, params)]
        if self.columns and len(params) > 1:
            return [(self.rows(len(params)), numbered(params))]
        return [(self, one) for one in params]

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
    return _TUPLES_OK if hasattr(cursor_class, "pgresult") else 0


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


# --- PostgreSQL: the statements through libpq's pipeline ------------------------------------------

_batches: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # driver connection: its open batch
# driver connection: the names of the statements prepared on it (oldest first)
_prepared: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_NAMES: dict[tuple[bytes, tuple], bytes] = {}  # (statement, parameter types): its prepared statement's name
_numbering = itertools.count(1)


class _Sent:
    """A statement sent in a batch: what names it if it fails, and its answer once read."""

    __slots__ = ("statement", "params", "rows", "prepares")

    def __init__(self, statement: Optional[Statement], params, rows: Optional[Rows], prepares: Optional[bytes] = None):
        self.statement, self.params, self.rows, self.prepares = statement, params, rows, prepares


class _Batch:
    """Statements of a transaction sent through libpq's pipeline on the connection psycopg holds
    (`psycopg.pq`): each is queued at once, parameters dumped by psycopg's adaptation as its cursor
    dumps them, and nobody waits for it; the next statement that needs an answer (`Statement.run`,
    any statement through SQLAlchemy, the commit) closes the batch: one flush, and all are answered
    in one round trip, rows loaded by psycopg as its cursor loads them. The server runs them in the
    order sent, so locks are taken as without the batch. An error of one surfaces when the batch
    closes as the exception psycopg raises for it, mapped as SQLAlchemy maps it, naming that
    statement; the transaction then fails as it would have at that statement (nothing of it is
    saved). A statement with parameters is prepared on the connection the first time it is sent
    there (as psycopg prepares its own after a few uses): later ones send only its name and values."""

    __slots__ = ("dbapi_connection", "pgconn", "dialect", "sent", "tx", "prepared")

    def __init__(self, dbapi_connection, dialect=None):
        from psycopg.adapt import Transformer
        self.dbapi_connection, self.pgconn, self.dialect = dbapi_connection, dbapi_connection.pgconn, dialect
        self.pgconn.enter_pipeline_mode()
        self.sent: list[_Sent] = []
        self.tx = Transformer(dbapi_connection)
        self.prepared = None  # (psycopg's prepare_threshold None: nothing is prepared)
        if dbapi_connection.prepare_threshold is not None and _CAN_CLOSE:
            self.prepared = _prepared.get(dbapi_connection)
            if self.prepared is None:
                self.prepared = _prepared[dbapi_connection] = {}

    def add(self, statement: Statement, params: dict, answer: bool) -> Optional[Rows]:
        """Queue one execution; its `Rows` (filled when the batch closes) if `answer`."""
        sql, names, processors, formats, _readers = statement._pg or statement._numbered(self.dialect)
        if names:
            values = [params[name] for name in names]
            for i, process in processors:
                values[i] = process(values[i])
            tx, prepared = self.tx, self.prepared
            dumped = tx.dump_sequence(values, formats)
            name = _NAMES.get((sql, tx.types)) if prepared is not None else None
            if name is None or name not in prepared:
                name = self._prepare(statement, params, sql)
            if name is None:
                self.pgconn.send_query_params(sql, dumped, tx.types, tx.formats)
            else:
                self.pgconn.send_query_prepared(name, dumped, tx.formats)
        else:
            self.pgconn.send_query_params(sql, None)
        rows = Rows([], -1) if answer else None
        self.sent.append(_Sent(statement, params, rows))
        return rows

    def _prepare(self, statement: Statement, params: dict, sql: bytes) -> Optional[bytes]:
        """Send the statement to be prepared on this connection for these parameter types; the name
        it is prepared under, or None where nothing is prepared (psycopg's `prepare_threshold`
        None). Beyond as many as psycopg keeps of its own (`prepared_max`) the oldest is closed (an
        integer parameter's type follows its size: ids past 32767 make new ones, and the old go)."""
        prepared, pgconn = self.prepared, self.pgconn
        if prepared is None:
            return None
        types = self.tx.types
        key = (sql, types)
        name = _NAMES.get(key) or _NAMES.setdefault(key, b"_dalad_%d" % next(_numbering))
        if len(prepared) >= max(self.dbapi_connection.prepared_max or 0, 1):
            oldest = next(iter(prepared))
            del prepared[oldest]
            pgconn.send_close_prepared(oldest)
            self.sent.append(_Sent(None, None, None))
        # (Closing a statement that does not exist is no error: one psycopg's DEALLOCATE ALL may have
        # left is replaced, never refused as existing.)
        pgconn.send_close_prepared(name)
        self.sent.append(_Sent(None, None, None))
        pgconn.send_prepare(name, sql, types)
        self.sent.append(_Sent(statement, params, None, name))
        prepared[name] = None
        return name

    def close(self, connection: Connection) -> None:
        """Answer everything sent: one round trip; an error raised as SQLAlchemy maps it."""
        _batches.pop(self.dbapi_connection, None)
        failed = self._answer()
        if failed is not None:
            error, sent = failed
            statement = sent.statement or _STATEMENT_UNKNOWN
            sql = statement._prepared(connection.dialect)[0]
            try:
                raise error
            except Exception as raised:  # (raised, so that SQLAlchemy chains from it)
                connection._handle_dbapi_exception(raised, sql, sent.params, None, None)

    def _answer(self) -> Optional[tuple[Exception, _Sent]]:
        """Send a sync, flush, read every answer (rows loaded); leave pipeline mode. The first error
        and what it answers, if any."""
        pgconn, failed, at, synced = self.pgconn, None, 0, None
        try:
            pgconn.pipeline_sync()
            synced = False
            _flush(pgconn)
            for at, sent in enumerate(self.sent):
                result = _result(pgconn) if pgconn.is_busy() else pgconn.get_result()
                status, rows = result.status, sent.rows
                if status != _COMMAND_OK:
                    if status == _TUPLES_OK:
                        if rows is not None:
                            try:
                                self._load(rows, result, sent.statement._pg[4])
                            except Exception as unreadable:  # raised once all is read, as psycopg's fetch raises it
                                failed = failed or (unreadable, sent)
                    elif status == _FATAL_ERROR and failed is None:
                        failed = _errors.error_from_result(result, self.dbapi_connection.info.encoding), sent
                    if sent.prepares:
                        self.prepared.pop(sent.prepares, None)  # not prepared: sent to be prepared again
                if rows is not None:
                    tuples = result.command_tuples
                    rows.rowcount = -1 if tuples is None else tuples
                if (_result(pgconn) if pgconn.is_busy() else pgconn.get_result()) is not None:
                    raise _errors.InternalError("more than one result of one statement")
            _result(pgconn)  # the sync
            synced = True
            pgconn.exit_pipeline_mode()
        except _errors.Error as broken:  # the connection ended (by the error answered before, if any)
            if failed is None:
                failed = broken, self.sent[at] if self.sent else _Sent(None, None, None)
            for unanswered in self.sent[at:]:
                if unanswered.prepares:
                    self.prepared.pop(unanswered.prepares, None)
        except BaseException:  # interrupted (Ctrl-C, a worker's timeout) while the answers were on their way
            self._interrupted(synced)
            raise
        if failed is not None and getattr(failed[0], "sqlstate", None) == "26000" and self.prepared is not None:
            self.prepared.clear()  # a statement of ours was dropped unseen: all are prepared anew
        return failed

    def _interrupted(self, synced: Optional[bool]) -> None:
        """As psycopg does when a wait of its own is interrupted: the server is asked to cancel what
        it runs, the answers are read to the end (errors now, the transaction failed), and the
        connection is fit for the rollback that follows. If that fails too, it is closed: SQLAlchemy
        drops it."""
        pgconn = self.pgconn
        if self.prepared is not None:
            self.prepared.clear()  # (some sent to be prepared may not be)
        try:
            self.dbapi_connection.cancel_safe(timeout=5)
            if synced is None:
                pgconn.pipeline_sync()
            _flush(pgconn)
            while not synced:
                result = _result(pgconn)
                synced = result is not None and result.status == _PIPELINE_SYNC
            pgconn.exit_pipeline_mode()
        except BaseException:  # noqa: BLE001 - the first interruption is what is raised
            self.dbapi_connection.close()

    def _load(self, rows: Rows, result, readers: list) -> None:
        tx = self.tx
        tx.set_pgresult(result)
        rows.rows = tx.load_rows(0, result.ntuples, tuple)
        _read_all(rows, readers)


def _add(batch: _Batch, connection: Connection, statement: Statement, params: dict, answer: bool) -> Optional[Rows]:
    try:
        return batch.add(statement, params, answer)
    except _errors.Error as error:  # a value psycopg cannot send (nothing of this statement was): mapped
        connection._handle_dbapi_exception(error, statement._prepared(connection.dialect)[0], params, None, None)


def _flush(pgconn) -> None:
    """Send what libpq holds for the server, waiting while the socket is full (the connection is
    non-blocking: psycopg opens it so)."""
    while pgconn.flush():
        if _wait(pgconn.socket, write=True):
            pgconn.consume_input()


def _result(pgconn):
    """The next result, waiting for it without blocking other threads."""
    while pgconn.is_busy():
        _wait(pgconn.socket)
        pgconn.consume_input()
    return pgconn.get_result()


def _wait(socket: int, *, write: bool = False) -> bool:
    """Wait until the socket can be read (or, with `write`, read or written); whether it can be
    read. poll, not select: a busy server's sockets are numbered past select's 1024."""
    if _poll is None:  # (no poll: Windows, whose select has no such limit)
        readable, _writable, _ = select.select([socket], [socket] if write else [], [])
        return bool(readable)
    poller = _poll()
    poller.register(socket, select.POLLIN | select.POLLOUT if write else select.POLLIN)
    return any(events & (select.POLLIN | select.POLLERR | select.POLLHUP) for _fd, events in poller.poll())


_poll = getattr(select, "poll", None)


def _libpq() -> tuple:
    """psycopg's parts these use (none where psycopg is not installed: no PostgreSQL then)."""
    try:
        from psycopg import capabilities, errors
        from psycopg.adapt import PyFormat
        from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
    except ImportError:
        return (None,) * 9 + (False,)
    return (errors, PyFormat.AUTO, int(ExecStatus.TUPLES_OK), int(ExecStatus.COMMAND_OK), int(ExecStatus.FATAL_ERROR),
            int(ExecStatus.PIPELINE_SYNC),
            int(TransactionStatus.IDLE), int(TransactionStatus.UNKNOWN), int(ConnStatus.OK),
            # a name psycopg's DEALLOCATE ALL may have dropped is closed before it is prepared again:
            # without libpq 17's Close nothing is prepared
            capabilities.has_send_close_prepared())


_errors, _AUTO, _TUPLES_OK, _COMMAND_OK, _FATAL_ERROR, _PIPELINE_SYNC, _IDLE, _UNKNOWN, _OK, _CAN_CLOSE = _libpq()


def _command(sql: str) -> Statement:
    """A statement without parameters, its PostgreSQL form made at once (no dialect needed)."""
    statement = Statement(sql)
    statement._pg = (sql.encode(), [], [], [], [])
    return statement


_BEGIN, _COMMIT, _ROLLBACK = _command("BEGIN"), _command("COMMIT"), _command("ROLLBACK")
_STATEMENT_UNKNOWN = Statement("")


def _batch(connection: Connection) -> Optional[_Batch]:
    """The connection's batch, opened if none is; None where statements run on a cursor: SQLite,
    while cursor events are listened to, and on a connection psycopg opens transactions on itself
    (not in autocommit: a snapshot read)."""
    if connection.dialect.name != "postgresql" or _listened(connection):
        return None
    dbapi_connection = connection.connection.dbapi_connection
    batch = _batches.get(dbapi_connection)
    if batch is None:
        if not dbapi_connection.autocommit:
            return None
        batch = _batches[dbapi_connection] = _Batch(dbapi_connection, connection.dialect)
    return batch


def begin(connection: Connection) -> None:
    """A write transaction begins (PostgreSQL, the driver in autocommit): its BEGIN is the first
    statement of its batch."""
    dbapi_connection = connection.connection.dbapi_connection
    batch = _batches[dbapi_connection] = _Batch(dbapi_connection, connection.dialect)
    batch.add(_BEGIN, {}, False)


_DROPS_PREPARED = re.compile(r"\s*(?:DROP|ALTER|ROLLBACK|DISCARD|DEALLOCATE)\b", re.IGNORECASE).match


def before_driver_statement(connection: Connection, statement: str) -> None:
    """SQLAlchemy executes a statement on psycopg's cursor: what was sent before is answered first
    (an error of it raised, mapped); the statement then runs as always (engine.database registers
    this on PostgreSQL). One that makes psycopg drop its prepared statements drops ours with them
    (DEALLOCATE ALL): they are prepared anew."""
    dbapi_connection = connection.connection.dbapi_connection
    batch = _batches.get(dbapi_connection) if _batches else None
    if batch is not None:
        batch.close(connection)
    if _DROPS_PREPARED(statement):
        forget_prepared(dbapi_connection)


def forget_prepared(dbapi_connection) -> None:
    """psycopg may have dropped every prepared statement of the connection (DEALLOCATE ALL at its
    rollback, or after DDL): ours are prepared anew when next sent."""
    prepared = _prepared.get(dbapi_connection)
    if prepared:
        prepared.clear()


def commit_sent(connection: Connection) -> None:
    """At the commit of a transaction this module began: the COMMIT sent in its batch, so that it
    and what was sent before are one round trip (the driver's commit then finds the transaction
    ended)."""
    dbapi_connection = connection.connection.dbapi_connection
    batch = _batches.get(dbapi_connection) if _batches else None
    if batch is None:
        if not dbapi_connection.autocommit or dbapi_connection.pgconn.transaction_status == _IDLE:
            return  # psycopg's own transaction, or none
        batch = _batches[dbapi_connection] = _Batch(dbapi_connection, connection.dialect)
    batch.add(_COMMIT, {}, False)
    batch.close(connection)


def drop_sent(dbapi_connection) -> None:
    """The transaction rolls back (or the connection goes back to the pool). One this module began
    (the driver in autocommit) is rolled back here, with what was sent (whose errors no longer
    matter): psycopg's rollback then finds it ended. psycopg's own is left to it, and as it then
    drops its prepared statements, ours are forgotten."""
    batch = _batches.pop(dbapi_connection, None) if _batches else None
    if not dbapi_connection.autocommit:
        if dbapi_connection.pgconn.transaction_status != _IDLE:
            forget_prepared(dbapi_connection)
        return
    for _attempt in range(2):  # the second after an error of what was sent aborted the first
        if batch is None:
            if dbapi_connection.pgconn.transaction_status in (_IDLE, _UNKNOWN):
                return
            batch = _Batch(dbapi_connection)
        batch.add(_ROLLBACK, {}, False)
        if batch._answer() is not None and dbapi_connection.pgconn.status != _OK:
            return  # the connection ended: psycopg's rollback tells SQLAlchemy
        batch = None
