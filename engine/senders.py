"""Who may send a message or a signal into the engine from outside (the REST API), and what its
variables may set.

A message or signal that reaches a waiting instance may be sent by an administrator, by someone
who holds a ready task of that instance (the task is offered to them or claimed by them), or by a
member of a group the diagram names on the catching element with the extension property
`dalad:correlatorGroups` (comma-separated, `${...}` read on the instance's variables, e.g.
`office, unit:${unit}`; in a called process, its own diagram and variables). One that starts a process may be sent by an administrator, by the
process's starters (`camunda:candidateStarterGroups` / `candidateStarterUsers`) or by the groups
the start event names with `dalad:correlatorGroups`; a process that names nobody is started this
way by administrators only.

Protected variables: such a message or signal may not set the receiving process's `unit`,
`in_plan`, any variable whose name holds `budget`, the `resultVariable` of its business rule
tasks (decisions' outputs), nor the names the process lists in its extension property
`dalad:protectedVariables`. Administrators may (their name is in the history). Messages and
signals thrown by diagrams are the engine's own and are not checked here. An external task's
worker (any official may be one) may not set them either, but for the names holding `budget`:
a worker is there to compute such results (`budget_ok`), and a process protects its budget
variables from workers by listing them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import AccessDenied, ExpressionError
from .expressions import compile_template
from .models import ProcessDefinition, ProcessInstance, UserTask

ALWAYS_PROTECTED = ("unit", "in_plan")


@dataclass(frozen=True)
class Sender:
    """The authenticated user who sends a message or signal."""

    name: str
    groups: tuple[str, ...]
    is_admin: bool = False


def protected_variables(definition: ProcessDefinition) -> set[str]:
    return set(ALWAYS_PROTECTED) | set((definition.meta or {}).get("protected_variables") or [])


def check_variables(sender: Sender, definition: ProcessDefinition, variables: Iterable[str], what: str,
                    budgets: bool = True) -> None:
    """Refuse a non-administrator's variables that would set protected variables of `definition`
    (with `budgets`, any name holding `budget` too)."""
    if sender.is_admin:
        return
    protected = protected_variables(definition)
    refused = sorted(n for n in variables if n in protected or (budgets and "budget" in n.lower()))
    if refused:
        raise AccessDenied(f"{sender.name} may not set {', '.join(refused)} with {what}: process "
                           f"'{definition.key}' protects them (only administrators may)")


def check_instance_variables(session: Session, sender: Sender, row: ProcessInstance, variables: Iterable[str],
                             what: str, budgets: bool = True) -> None:
    """Refuse what `check_variables` refuses for the process of `row` and, for a called process's
    instance, for its root's process too (a message's variables reach every unfinished step)."""
    for instance in (row, session.get(ProcessInstance, row.root_instance_id) if row.root_instance_id else None):
        if instance is not None:
            check_variables(sender, session.get(ProcessDefinition, instance.definition_id), variables, what, budgets)


def check_may_deliver(session: Session, sender: Sender, row: ProcessInstance, element_id: str, what: str) -> None:
    """May `sender` deliver `what` to the waiting instance `row` (at `element_id`; a called process's
    instance when the element is in it)? A task held anywhere in the instances its root runs counts."""
    if sender.is_admin or _holds_task(session, sender, row.root_instance_id or row.id):
        return
    definition = session.get(ProcessDefinition, row.definition_id)
    if _named(sender, definition, element_id, row.variables or {}):
        return
    raise AccessDenied(f"{sender.name} may not send {what} to process instance {row.id}: only administrators, "
                       "those who hold one of its tasks and the groups its diagram names may")


def check_may_start(sender: Sender, definition: ProcessDefinition, element_id: str, what: str) -> None:
    """May `sender` start `definition` with `what`?"""
    meta = definition.meta or {}
    if sender.is_admin or sender.name in (meta.get("starter_users") or []) or \
            set(sender.groups) & set(meta.get("starter_groups") or []) or _named(sender, definition, element_id, {}):
        return
    raise AccessDenied(f"{sender.name} may not start process '{definition.key}' with {what}")


def _holds_task(session: Session, sender: Sender, instance_id: int) -> bool:
    from .services import may_work_on

    ready = session.scalars(select(UserTask).where(UserTask.instance_id == instance_id, UserTask.state == "ready"))
    return any(may_work_on(task, sender.name, list(sender.groups)) for task in ready)


def _named(sender: Sender, definition: ProcessDefinition, element_id: str, variables: dict) -> bool:
    source = ((definition.meta or {}).get("correlators") or {}).get(element_id)
    if not source:
        return False
    try:
        text = compile_template(source).evaluate(variables)
    except ExpressionError:
        return False
    groups = {part.strip() for part in str(text or "").split(",") if part.strip()}
    return bool(groups & set(sender.groups)) or sender.name in groups
