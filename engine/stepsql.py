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
"""
from __future__ import annotations

import re
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
                 returns: Sequence[Column] = ()):
        self.sql, self.table, self.for_update, self.returns = sql, table, for_update, list(returns)
        self._by_dialect: dict[str, tuple[str, dict, list]] = {}

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
                column = self.table.c.get(name) if self.table is not None else None
                processor = column.type._cached_bind_processor(dialect) if column is not None else None
                if processor is not None:
                    processors[name] = _remembering(processor) if _is_time(column) else processor
            readers = [(i, read) for i, column in enumerate(self.returns)
                       if (read := column.type._cached_result_processor(dialect, None)) is not None]
            prepared = self._by_dialect[dialect.name] = (sql, processors, readers)
        return prepared

    def run(self, connection: Connection, params: Params) -> Rows:
        """Execute with one dict of parameters, or many (a list: one execution each, as executemany)."""
        sql, processors, readers = self._prepared(connection.dialect)
        many = isinstance(params, list)
        if processors:
            params = [_converted(p, processors) for p in params] if many else _converted(params, processors)
        if _listened(connection):  # what listens sees each statement
            result = connection.exec_driver_sql(sql, params)
            rows = Rows(result.fetchall() if result.returns_rows else [], result.rowcount)
        else:
            cursor = connection.connection.dbapi_connection.cursor()
            try:
                if many:
                    cursor.executemany(sql, params)
                else:
                    cursor.execute(sql, params)
                rows = Rows(cursor.fetchall() if cursor.description else [], cursor.rowcount)
            except Exception as error:
                # Mapped and raised as SQLAlchemy does it (handle_error listeners, exc.DBAPIError), which
                # closes the cursor, or the whole connection when the error means it is unusable.
                connection._handle_dbapi_exception(error, sql, params, cursor, None)
            cursor.close()
        if readers and rows.rows:
            rows.rows = [_read(row, readers) for row in rows.rows]
        return rows


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


def _read(row, readers: list) -> list:
    row = list(row)
    for i, read in readers:
        row[i] = read(row[i])
    return row


def _converted(params: dict, processors: dict) -> dict:
    return {name: (processors[name](value) if name in processors else value) for name, value in params.items()}


def insert(table: Table, columns: Iterable[str], returning: Optional[str] = None) -> Statement:
    """INSERT of the named columns (parameters named as them), optionally RETURNING one."""
    columns = list(columns)
    sql = (f"INSERT INTO {table.name} ({', '.join(_quoted(c) for c in columns)}) "
           f"VALUES ({', '.join(':' + c for c in columns)})")
    return Statement(sql + (f" RETURNING {returning}" if returning else ""), table)


_UPDATES: dict[tuple, Statement] = {}


def update_by_id(connection: Connection, table: Table, row_id: int, values: dict) -> None:
    """UPDATE one row's columns by its id (the statement for each set of columns made once)."""
    key = (table.name, *values)
    statement = _UPDATES.get(key)
    if statement is None:
        sets = ", ".join(f"{_quoted(c)} = :{c}" for c in values)
        statement = _UPDATES[key] = Statement(f"UPDATE {table.name} SET {sets} WHERE id = :_row_id", table)
    statement.run(connection, {**values, "_row_id": row_id})


def _quoted(column: str) -> str:
    return f'"{column}"'
