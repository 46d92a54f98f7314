"""What an official's submission of a task form must pass before the task completes.

One function for every door that completes a task with a form: the task page, and the scenario
tests that play the officials. It checks the form's fields (required, types, limits, choices),
the required materials uploaded at the task, and the consistency rules of the rule table
(engine/compliance.py, kind `consistent`) on the values together with the project's data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy.orm import Session

from engine import compliance, documents
from engine.models import ProcessDefinition, ProcessInstance, UserTask

from . import schemas
from .fields import FieldSpec, fields_for_task, materials_of


@dataclass
class Submission:
    """The checked form: typed values and file variables when `ok`, else what is wrong."""

    specs: list[FieldSpec]
    result: schemas.Result
    missing: list[str] = field(default_factory=list)  # labels of required materials not uploaded

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.missing

    @property
    def errors(self) -> dict:
        return self.result.errors


def check(session: Session, task: UserTask, submitted: Mapping[str, Any]) -> Submission:
    """Check what was submitted for `task` (text per field, as a browser sends it)."""
    instance = session.get(ProcessInstance, task.instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id)
    specs = fields_for_task(session, definition.meta, task.element_id)
    result = schemas.validate(specs, submitted)
    present = documents.fields_present(session, task.id)
    missing = [m.label for m in materials_of(specs) if m.key not in present]
    if result.ok:
        values = {**(instance.variables or {}), **schemas.to_variables(result.values)}
        for breach in compliance.inconsistencies(instance.process_key, task.element_id, values):
            result.errors.setdefault(breach.field, []).append(breach.message)
    return Submission(specs, result, missing)


def variables(session: Session, task: UserTask, submission: Submission) -> dict:
    """The process variables a valid submission sets: its values and, per file field, the latest upload."""
    out = schemas.to_variables(submission.result.values)
    for spec in submission.specs:
        if spec.type != "file":
            continue
        document = documents.latest_for(session, task.id, spec.id)
        if document is not None:
            out[spec.id] = {"document": document.id, "filename": document.filename, "sha256": document.sha256}
    return out
