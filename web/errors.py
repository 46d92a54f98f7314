"""Engine and database errors mapped to HTTP status codes: the one place that decides."""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.errors import (AccessDenied, ConcurrentUpdate, CorrelationError, DefinitionInvalid, EngineError,
                           ExecutionError, ExpressionError, InstanceNotRunning, InvalidInput, Misconfigured,
                           NotFound, TaskNotReady)

_STATUS = (
    (NotFound, 404),
    (AccessDenied, 403),
    (DefinitionInvalid, 400),
    (InvalidInput, 400),
    (ExpressionError, 400),
    (CorrelationError, 400),
    (TaskNotReady, 409),
    (InstanceNotRunning, 409),
    (ConcurrentUpdate, 409),
    (ExecutionError, 422),  # the diagram failed on the data given: the user can correct the data
    (Misconfigured, 503),  # the operator's file or setting is wrong: the same request works once it is fixed
)


def status_of(exc: EngineError) -> int:
    """The HTTP status of an engine error (500 for one this table does not know)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


# A database that cannot serve now but may soon: 503 with Retry-After, never a 500.
RETRY_AFTER_SECONDS = 10
UNAVAILABLE_MESSAGE = ("数据库暂时不可用（停机、磁盘已满或只读），已保存的内容不会丢失，请稍后重试。"
                       " The database is unavailable for the moment (down, full or read-only): nothing saved "
                       f"is lost; try again in {RETRY_AFTER_SECONDS} s.")
# SQLSTATE: connection (08), insufficient resources (53: disk full, out of memory, too many
# connections), operator intervention (57: shutdown), read-only transaction, serialization failure,
# deadlock, lock not available.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "25006", "40001", "40P01", "55P03")
_UNAVAILABLE_SQLITE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR",
                       "SQLITE_CANTOPEN")


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot serve now (down, full, read-only, busy),
    so the same request may succeed later, rather than a fault of dalad."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if state:
        return state.startswith(_UNAVAILABLE_SQLSTATES)
    name = getattr(exc.orig, "sqlite_errorname", None)
    if name:
        return name.startswith(_UNAVAILABLE_SQLITE)
    return isinstance(exc, OperationalError)  # no answer at all: the server is down or unreachable
