"""Incidents: engine work that failed, kept until an administrator runs it again.

As in Camunda, an incident in a called process is a root cause at the called instance whose
element failed, with a cause row at the call activity of each caller above it, up to the root
(`cause_id` one level down, `root_cause_id` the root cause). Every row's `instance_id` is the root
whose state runs the tree (where the work is run again); `at_instance_id` is where it shows. The
cause rows are resolved with their root cause.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock, runtime
from .models import Incident, ProcessInstance


def open_incident(session: Session, root: ProcessInstance, *, element_id: Optional[str], kind: str, message: str,
                  payload: dict, at: Optional[int] = None, workflow=None) -> Incident:
    """Open an incident of `root`'s state at the called instance `at` (None: the root itself), and a
    cause at each call activity above it. `workflow` is the root's (loaded when needed and not given)."""
    now = clock.now()
    incident = Incident(instance_id=root.id, at_instance_id=at or root.id, element_id=element_id, kind=kind,
                        message=message, payload=payload, created_at=now)
    session.add(incident)
    session.flush()
    below, called_id = incident, at
    while called_id is not None and called_id != root.id:
        called = session.get(ProcessInstance, called_id)
        if workflow is None:
            from .instances import load
            workflow = load(session, root.id, row=root).workflow
        call = runtime.find_task(workflow, called.call_task)
        cause = Incident(instance_id=root.id, at_instance_id=called.super_instance_id,
                         element_id=call.task_spec.bpmn_id if call is not None else None, kind=kind,
                         message=message, payload={"cause": below.id}, created_at=now, cause_id=below.id,
                         root_cause_id=incident.id)
        session.add(cause)
        session.flush()
        below, called_id = cause, called.super_instance_id
    return incident


def running_call(session: Session, root: ProcessInstance, call_task: Optional[str]) -> Optional[int]:
    """The called instance (of `root`'s tree) that call activity task `call_task` runs, if its row exists."""
    if call_task is None:
        return None
    return session.scalar(select(ProcessInstance.id).where(ProcessInstance.root_instance_id == root.id,
                                                           ProcessInstance.call_task == call_task)
                          .order_by(ProcessInstance.id.desc()).limit(1))


def root_cause(session: Session, incident: Incident) -> Incident:
    return session.get(Incident, incident.root_cause_id) if incident.root_cause_id else incident


def resolve_with_causes(session: Session, incident: Incident, user: Optional[str]) -> None:
    """Resolve a root cause and the causes it opened above it."""
    now = clock.now()
    for found in [incident, *session.scalars(select(Incident).where(Incident.root_cause_id == incident.id,
                                                                    Incident.resolved_at.is_(None)))]:
        found.resolved_at, found.resolved_by = now, user
