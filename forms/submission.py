"""A task completion checked as the task page checks it, whichever door it comes through (the page,
the REST API, the command line): the task's form fields (camunda:formData or a Camunda form),
their types, required, min/max and lengths, the required materials uploaded, the consistency rules
of the rule table (engine/compliance.py, kind `consistent`: the values against the project's data),
and — from the REST API and the command line, which send typed values rather than a browser form —
no field the form does not declare (readonly and file fields included: those are not input).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy.orm import Session

from engine import compliance, documents, instances
from engine.models import ProcessInstance, UserTask

from . import schemas
from .fields import FieldSpec, fields_for_task, materials_of


@dataclass
class Submission:
    """What a completion would set (`variables`), or why it may not happen."""

    specs: list[FieldSpec]
    variables: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)  # field id -> messages
    typed: dict = field(default_factory=dict)  # the text of each field as sent
    missing: list = field(default_factory=list)  # labels of required materials not uploaded
    undeclared: list = field(default_factory=list)  # names sent that the form does not take

    @property
    def ok(self) -> bool:
        return not (self.errors or self.missing or self.undeclared)

    def problems(self) -> str:
        """One line naming each problem by field, for the REST API and the command line."""
        parts = [f"field '{name}': {'; '.join(messages)}" for name, messages in self.errors.items()]
        if self.undeclared:
            parts.append(f"the form does not take {', '.join(repr(n) for n in self.undeclared)}")
        if self.missing:
            parts.append(f"required materials not uploaded: {', '.join(self.missing)}")
        return "; ".join(parts)


def check(session: Session, task: UserTask, form: Mapping[str, Any], *, typed_values: bool) -> Submission:
    """Check what was sent to complete `task`. `form` is the browser's text (typed_values=False:
    fields it does not declare are ignored, as a form post carries other inputs) or typed values
    from the API (True: each is read as the page would read its text, and an undeclared one is
    refused)."""
    instance = session.get(ProcessInstance, task.instance_id)
    meta = instances.definition_runtime(session, instance.definition_id).meta  # parsed once per process
    specs = fields_for_task(session, meta, task.element_id)
    submission = Submission(specs)
    if typed_values:
        inputs = {spec.id for spec in specs if schemas.takes_input(spec)}
        submission.undeclared = sorted(name for name in form if name not in inputs)
        form = {name: _as_text(value) for name, value in form.items() if name in inputs}
        for name, value in form.items():
            if value is None:
                submission.errors[name] = ["a form field takes text, a number, true/false or null"]
        form = {name: value for name, value in form.items() if value is not None}
    result = schemas.validate(specs, form)
    submission.errors.update(result.errors)
    submission.typed = result.typed
    materials = materials_of(specs)
    present = documents.fields_present(session, task.id) if materials else set()
    submission.missing = [m.label for m in materials if m.key not in present]
    if result.ok:
        values = {**(instance.variables or {}), **schemas.to_variables(result.values)}
        for breach in compliance.inconsistencies(instance.process_key, task.element_id, values):
            submission.errors.setdefault(breach.field, []).append(breach.message)
    if submission.ok:
        submission.variables = {**schemas.to_variables(result.values), **_file_variables(session, task, specs)}
    return submission


def _as_text(value: Any):
    """A typed value as the text an input would hold (None: a value no input can hold)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def _file_variables(session: Session, task: UserTask, specs: list[FieldSpec]) -> dict:
    """A file field's variable: the latest document uploaded for it at this task."""
    out = {}
    for spec in specs:
        if spec.type != "file":
            continue
        document = documents.latest_for(session, task.id, spec.id)
        if document is not None:
            out[spec.id] = {"document": document.id, "filename": document.filename, "sha256": document.sha256}
    return out
