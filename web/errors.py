"""Engine errors mapped to HTTP status codes: the one place that decides."""
from __future__ import annotations

from engine.errors import (AccessDenied, ConcurrentUpdate, CorrelationError, DefinitionInvalid, EngineError,
                           ExecutionError, ExpressionError, InstanceNotRunning, InvalidInput, NotFound,
                           TaskNotReady)

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
)


def status_of(exc: EngineError) -> int:
    """The HTTP status of an engine error (500 for one this table does not know)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500
