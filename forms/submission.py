"""A task completion (or a start) checked as the task page (or the start page) checks it, whichever
door it comes through (the page, the REST API, the command line): the task's form fields (camunda:formData or a Camunda form),
their types, required, min/max and lengths, the required materials uploaded, the consistency rules
of the rule table (engine/compliance.py, kind `consistent`: the values against the project's data),
and — from the REST API and the command line, which send typed values rather than a browser form —
no field the form does not declare (readonly and file fields included: those are not input). A
task that declares no form takes the variables sent, as Camunda's does (the consistency rules still
hold). The task variables set while a task is open pass its form's checks field by field.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

from sqlalchemy.orm import Session

from engine import bureaus, compliance, documents
from engine.models import ProcessDefinition, ProcessInstance, UserTask

from . import schemas
from .fields import FieldSpec, fields_of_task, from_form_data, materials_of


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
    refused). A task that declares no form takes the API's variables as they are, as Camunda's
    does (the consistency rules still hold); its page sends none."""
    instance = session.get(ProcessInstance, task.instance_id)
    specs = fields_of_task(session, task)
    submission = Submission(specs)
    if typed_values and not specs:
        values = {**(instance.variables or {}), **form}
        for breach in compliance.inconsistencies(instance.process_key, task.element_id, values):
            submission.errors.setdefault(breach.field, []).append(breach.message)
        submission.variables = dict(form) if submission.ok else {}
        return submission
    if typed_values:
        form = _typed_as_text(submission, form)
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


def check_changes(session: Session, task: UserTask, values: Mapping[str, Any]) -> Optional[Submission]:
    """Typed variables set through an open task (the REST API's task variables), checked as the
    task's form checks each field sent: the form must take it (not a readonly or file field), its
    type, min/max, lengths and choices, and the consistency rules that name it. Required fields
    and materials wait for the completion, which checks the whole form. A field sent empty or null
    is cleared. None: the task declares no form, and takes any variable, as its completion does
    and as Camunda's does."""
    instance = session.get(ProcessInstance, task.instance_id)  # the root: the rule table's, as at the completion
    specs = fields_of_task(session, task)
    if not specs:
        return None
    submission = Submission(specs)
    form = _typed_as_text(submission, values)
    sent = [replace(spec, required=False) for spec in specs if spec.id in form]
    result = schemas.validate(sent, form)
    submission.errors.update(result.errors)
    if not submission.ok:
        return submission
    changes = {spec.id: None for spec in sent}
    changes.update(schemas.to_variables(result.values))
    merged = {**(instance.variables or {}), **changes}
    for breach in compliance.inconsistencies(instance.process_key, task.element_id, merged):
        if breach.field in changes:
            submission.errors.setdefault(breach.field, []).append(breach.message)
    if submission.ok:
        submission.variables = changes
    return submission


def start_form(session: Session, definition: ProcessDefinition) -> list[FieldSpec]:
    """The form of the start event a process starts at by hand (its camunda:formData), with the
    current options of fields that have a choice source; [] when it declares none."""
    from .choices import with_choices

    start = next((s for s in (definition.meta or {}).get("starts") or [] if s.get("kind") == "none"), None)
    return with_choices(session, from_form_data((start or {}).get("form_fields") or []))


def check_start(session: Session, definition: ProcessDefinition, values: Mapping[str, Any],
                groups: Sequence[str] = ()) -> Submission:
    """Typed variables sent to start `definition` from the API or the command line by a member of
    `groups`, checked as the start page checks its form when the start event declares one: types,
    required, min/max and choices, and no variable the form does not declare. As on the page, a
    form that does not ask for `unit` gets the starter's own unit (one of them, named in `unit`,
    when the starter belongs to several). Without a start form, anything is taken (as Camunda
    takes it)."""
    specs = [spec for spec in start_form(session, definition) if spec.type != "file"]
    submission = Submission(specs)
    if not specs:
        submission.variables = dict(values)
        return submission
    values = dict(values)
    unit = _starter_unit(submission, specs, values, groups)
    result = schemas.validate(specs, _typed_as_text(submission, values))
    submission.errors.update(result.errors)
    submission.typed = result.typed
    if submission.ok:
        submission.variables = {**schemas.to_variables(result.values), **({"unit": unit} if unit else {})}
    return submission


def _starter_unit(submission: Submission, specs: list[FieldSpec], values: dict, groups: Sequence[str]):
    """The unit a start form that does not ask for one gets from its starter (taken out of
    `values`): the starter's only unit, or the one of theirs `unit` names."""
    units = [group[len(bureaus.UNIT_PREFIX):] for group in groups if bureaus.is_unit(group)]
    if not units or any(spec.id == "unit" for spec in specs):
        return None
    sent = values.pop("unit", None)
    if sent is None and len(units) == 1:
        return units[0]
    if sent not in units:
        submission.errors["unit"] = [f"one of the starter's units: {', '.join(units)}"]
        return None
    return sent


def _typed_as_text(submission: Submission, values: Mapping[str, Any]) -> dict:
    """Typed values as the text the form's inputs would hold; names the form does not take and
    values no input can hold are noted on `submission`."""
    inputs = {spec.id for spec in submission.specs if schemas.takes_input(spec)}
    submission.undeclared = sorted(name for name in values if name not in inputs)
    form = {name: _as_text(value) for name, value in values.items() if name in inputs}
    for name, value in form.items():
        if value is None:
            submission.errors[name] = ["a form field takes text, a number, true/false or null"]
    return {name: value for name, value in form.items() if value is not None}


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
