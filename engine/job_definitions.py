"""Camunda 7's job definitions of a process definition version, read from its BPMN file: one for
each timer event (its kind and expression as written) and each asynchronous continuation (before
or after) of the process, its embedded and event subprocesses included, a called process's in
that process's own definition. A job (a Timer row) belongs to the one of its element and kind.

Nothing is stored: a job definition's id is a name-based UUID of the process definition's id, the
element and the job's kind, so it stays the same for as long as the version exists."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Optional

from lxml import etree

from .definitions import BPMN_NS, CAMUNDA_NS, TIMER_KINDS
from .models import ProcessDefinition, Timer
from .xmlsafe import parse_xml

TIMER_START, TIMER_START_SUBPROCESS = "timer-start-event", "timer-start-event-subprocess"
TIMER_CATCH, TIMER_BOUNDARY, ASYNC = "timer-intermediate-transition", "timer-transition", "async-continuation"
_TIMER_TYPES = {"intermediateCatchEvent": TIMER_CATCH, "boundaryEvent": TIMER_BOUNDARY}


@dataclass(frozen=True)
class JobDefinition:
    id: str
    element_id: str
    job_type: str  # Camunda's: timer-start-event, timer-start-event-subprocess, timer-intermediate-transition,
    #                timer-transition, async-continuation
    configuration: str  # a timer's "DATE: …", "DURATION: …" or "CYCLE: …"; async-before or async-after


_read: dict[str, list[JobDefinition]] = {}  # by definition id (a version's file never changes)


def job_definitions(definition: ProcessDefinition) -> list[JobDefinition]:
    """The job definitions of `definition`, in the order of its file (read once per process)."""
    cached = _read.get(definition.rest_id)
    if cached is None:
        resource = definition.resource
        cached = _read[definition.rest_id] = list(_found(definition, resource.content, resource.name))
    return cached


def job_definition_of(definition: ProcessDefinition, timer: Timer) -> Optional[JobDefinition]:
    """The job definition a waiting or failed job of `definition` belongs to."""
    for found in job_definitions(definition):
        if found.element_id == timer.element_id and (
                found.configuration == f"async-{timer.phase}" if timer.kind == "job" else found.job_type != ASYNC):
            return found
    return None


def _found(definition: ProcessDefinition, content: bytes, file_name: str):
    root = parse_xml(content, file_name).getroot()
    process = next((p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == definition.key), None)
    if process is None:
        return
    namespace = uuid.UUID(definition.rest_id)
    for element in process.iter(f"{{{BPMN_NS}}}*"):
        element_id, local = element.get("id"), etree.QName(element).localname
        if not element_id:
            continue
        for value in element.iterfind(f"{{{BPMN_NS}}}timerEventDefinition/*"):
            kind = TIMER_KINDS.get(etree.QName(value).localname if isinstance(value.tag, str) else "")
            if kind is None:
                continue
            if local == "startEvent":
                parent = element.getparent()
                job_type = TIMER_START_SUBPROCESS if (parent.get("triggeredByEvent") or "").lower() == "true" \
                    else TIMER_START
            else:
                job_type = _TIMER_TYPES.get(local, TIMER_CATCH)
            yield _made(namespace, element_id, job_type, f"{kind.upper()}: {(value.text or '').strip()}")
        for phase in ("Before", "After"):
            if (element.get(f"{{{CAMUNDA_NS}}}async{phase}") or "").lower() == "true":
                yield _made(namespace, element_id, ASYNC, f"async-{phase.lower()}")


def _made(namespace: uuid.UUID, element_id: str, job_type: str, configuration: str) -> JobDefinition:
    name = f"{element_id}/{job_type}/{configuration if job_type == ASYNC else 'timer'}"
    return JobDefinition(str(uuid.uuid5(namespace, name)), element_id, job_type, configuration)
