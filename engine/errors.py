"""Engine errors: one base class, each naming what it concerns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a deployed file, located by file, line and element."""

    file: str
    message: str
    line: Optional[int] = None
    element_id: Optional[str] = None
    element_type: Optional[str] = None
    column: Optional[int] = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.element_id:
            kind = f" ({self.element_type})" if self.element_type else ""
            where += f" element '{self.element_id}'{kind}"
        return f"{where}: {self.message}"


class DefinitionInvalid(EngineError):
    """A deployment was refused; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("deployment refused:\n" + "\n".join(f"  {p}" for p in self.problems))


class ExpressionError(EngineError):
    """An expression does not compile (at deploy) or fails to evaluate (at run time)."""

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        super().__init__(message if source is None else f"{message} in expression {source!r}")


class NotFound(EngineError):
    """A definition, instance, task or user that does not exist."""


class AccessDenied(EngineError):
    """The user may not do this."""


class InvalidInput(EngineError):
    """Input from a user or a script that the engine cannot take (bad variable, bad value)."""


class TaskNotReady(EngineError):
    """The task is no longer ready: completed or cancelled by someone or something else."""


class ConcurrentUpdate(EngineError):
    """The instance changed under us too many times in a row; the caller may try again."""


class CorrelationError(EngineError):
    """A message matched no waiting instance, or more than one."""


class MismatchingMessageCorrelation(CorrelationError):
    """A message meant for one receiver matched several (Camunda's MismatchingMessageCorrelationException):
    several waiting executions, or several processes it starts."""


class ExecutionError(EngineError):
    """Running the diagram failed at an element (a condition that fails at run time, say)."""

    def __init__(self, message: str, *, element_id: str | None = None, instance_id: int | None = None,
                 call_task: str | None = None):
        self.element_id = element_id
        self.instance_id = instance_id
        self.call_task = call_task  # the call activity's task whose called process the element is in
        where = f"element '{element_id}'" if element_id else "the process"
        if instance_id is not None:
            where = f"instance {instance_id}, {where}"
        super().__init__(f"{where}: {message}")


class MessageUndelivered(ExecutionError):
    """A message the diagram throws has no receiver: no instance of that business key waits for it
    (an application naming a project code no project runs under, say)."""

    def __init__(self, message: str, *, message_name: str, business_key: str | None, **where):
        super().__init__(message, **where)
        self.message_name, self.business_key = message_name, business_key


class InstanceNotRunning(EngineError):
    """The instance is suspended, terminated or completed and cannot take this action."""


class Misconfigured(EngineError):
    """A file or setting of the operator's cannot be used (the compliance rules file): nothing the
    user sent is at fault and nothing is saved; refused until the operator fixes it."""
