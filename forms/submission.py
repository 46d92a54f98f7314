"""A task completion (or a start) checked as the task page (or the start page) checks it, whichever
door it comes through (the page, the REST API, the command line): the task's form fields (camunda:formData or a Camunda form),
their types, required, min/max and lengths, the required materials uploaded, the consistency rules
of the rule table (engine/compliance.py, kind `consistent`: the values against the project's data),
and — from the REST API and the command line, which send typed values rather than a browser form —
no field the form does not declare (readonly and file fields included: those are not input). A
task that declares no form takes the variables sent, as Camunda's does (the consistency rules still
hold). The task variables set while a task is open pass its form's checks field by field. A
start's form is held to the same: the consistency rules of the start, a unit or bureau in whose
name it starts only the starter's own (`dalad:ownGroups`), the business key as the start page
takes it, a required document uploaded with the start page's form.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

from flask_babel import get_locale, gettext as _
from sqlalchemy.orm import Session

from engine import bureaus, compliance, documents
from engine.models import ProcessDefinition, ProcessInstance, UserTask

from . import schemas
from .choices import for_starter, own_groups, with_choices
from .fields import FieldSpec, fields_of_task, from_form_data, materials_of

KEY_PROPERTY = "dalad:businessKey"  # a start-form field that is the business key (one 项目编号)
BUSINESS_KEY = re.compile(r"[^\s/\\]{1,100}")


@dataclass
class Submission:
    """What a completion would set (`variables`), or why it may not happen."""

    specs: list[FieldSpec]
    variables: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)  # field id -> messages
    typed: dict = field(default_factory=dict)  # the text of each field as sent
    missing: list = field(default_factory=list)  # labels of required materials not uploaded
    undeclared: list = field(default_factory=list)  # names sent that the form does not take
    business_key: Optional[str] = None  # a start's: the one sent, or its form's key field

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
            submission.errors.setdefault(breach.field, []).append(_rule_message(breach))
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
            submission.errors.setdefault(breach.field, []).append(_rule_message(breach))
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
            submission.errors.setdefault(breach.field, []).append(_rule_message(breach))
    if submission.ok:
        submission.variables = changes
    return submission


def start_event(definition: ProcessDefinition) -> Optional[dict]:
    """The plain start event a process starts at by hand (its meta), or None."""
    return next((s for s in (definition.meta or {}).get("starts") or [] if s.get("kind") == "none"), None)


def start_form(session: Session, definition: ProcessDefinition, groups: Optional[Sequence[str]] = None,
               is_admin: bool = False) -> list[FieldSpec]:
    """The form of the start event a process starts at by hand (its camunda:formData), with the
    current options of fields that have a choice source; [] when it declares none. Given the
    starter's `groups`, a field naming in whose name it starts (`dalad:ownGroups`) offers only
    theirs (an administrator's: all)."""
    specs = with_choices(session, from_form_data((start_event(definition) or {}).get("form_fields") or []))
    return specs if groups is None else for_starter(specs, groups, is_admin)


def check_start(session: Session, definition: ProcessDefinition, values: Mapping[str, Any],
                groups: Sequence[str] = (), *, is_admin: bool = False,
                business_key: Optional[str] = None) -> Submission:
    """Typed variables sent to start `definition` from the API or the command line by a member of
    `groups`, checked as the start page checks its form when the start event declares one: types,
    required, min/max and choices, a unit or bureau in whose name it starts among the starter's own
    (`dalad:ownGroups`; an administrator may name any), the business key in the page's form, no
    variable the form does not declare (nor a file field's: a required document is uploaded with
    the start page's form, so such a start is refused here), and the consistency rules of the
    start. As on the page, a form that does not ask for `unit` gets the starter's own unit (one of
    them, named in `unit`, when the starter belongs to several). Without a start form, anything is
    taken (as Camunda takes it), the consistency rules still hold. `submission.business_key` is
    the key to start with."""
    form = start_form(session, definition, groups, is_admin)
    specs = [spec for spec in form if spec.type != "file"]
    submission = Submission(specs, business_key=business_key)
    for spec in form:
        if spec.type == "file" and spec.required:  # a document goes with the start page's form alone
            submission.errors[spec.id] = [f"'{spec.label}' is a required document: start at the start page "
                                          f"(/start/{definition.key}), which uploads it with the form"]
    if not form:
        _start_rules(submission, definition, dict(values))
        submission.variables = dict(values) if submission.ok else {}
        return submission
    values = dict(values)
    unit = _starter_unit(submission, specs, values, groups)
    key_field = business_key_field(specs)
    if key_field is not None and business_key is not None:
        values.setdefault(key_field, business_key)  # the page's one 项目编号: the key fills the field
    result = schemas.validate(specs, _typed_as_text(submission, values))
    submission.errors.update(result.errors)
    submission.errors.update(own_group_problems(specs, result.typed, is_admin))
    submission.typed = result.typed
    if key_field is not None and key_field in result.typed:
        typed_key = result.typed[key_field].strip()
        if business_key is None:
            submission.business_key = typed_key or None
        elif business_key != typed_key:
            submission.errors.setdefault(key_field, []).append(
                f"the business key '{business_key}' differs from this field, which is the business key")
    if submission.business_key is not None and not BUSINESS_KEY.fullmatch(submission.business_key):
        # (another open instance with the key is the page's own refusal: Camunda's clients reuse keys)
        submission.errors.setdefault(key_field or "businessKey", []).append(_("请填写项目编号：1 至 100 个字符，不含空格和斜杠"))
    variables = {**schemas.to_variables(result.values), **({"unit": unit} if unit else {})}
    if result.ok:
        _start_rules(submission, definition, variables)
    if submission.ok:
        submission.variables = variables
    return submission


def _start_rules(submission: Submission, definition: ProcessDefinition, variables: dict) -> None:
    """The consistency rules of the rule table that the start breaks, each at its field."""
    start = start_event(definition)
    for field_id, messages in start_inconsistencies(definition.key, start["id"] if start else None, variables).items():
        submission.errors.setdefault(field_id, []).extend(messages)


def start_inconsistencies(process_key: str, start_id: Optional[str], variables: dict) -> dict[str, list[str]]:
    """The messages of the consistency rules (kind `consistent`, triggered by `instance_started`
    at the start event) that a start with `variables` breaks, by field."""
    out: dict[str, list[str]] = {}
    if start_id is None:
        return out
    for breach in compliance.inconsistencies(process_key, start_id, variables, event_type="instance_started"):
        out.setdefault(breach.field, []).append(_rule_message(breach))
    return out


def own_group_problems(specs: list[FieldSpec], typed: Mapping[str, str], is_admin: bool) -> dict[str, list[str]]:
    """A unit or bureau named by an own-groups field (`dalad:ownGroups`, options already narrowed
    to the starter's) that is not the starter's: the message names those they may choose (an
    administrator chooses from the whole list, which the form's own check holds to)."""
    out = {}
    if is_admin:
        return out
    for spec in specs:
        sent = (typed.get(spec.id) or "").strip()
        if own_groups(spec) and sent and sent not in {o.value for o in spec.options}:
            mine = "、".join(o.label for o in spec.options)
            out[spec.id] = [_("只能以您本人所在的单位或部门发起：%(own)s", own=mine) if mine
                            else _("您不在可选的任何单位或部门，不能以其名义发起")]
    return out


def business_key_field(specs: list[FieldSpec]) -> Optional[str]:
    """The start-form field that holds the business key (`dalad:businessKey`), if any."""
    return next((s.id for s in specs if str(s.properties.get(KEY_PROPERTY, "")).lower() == "true"), None)


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


def _rule_message(breach: compliance.Inconsistency) -> str:
    """A consistency rule's message in the user's language (its Chinese one without an English)."""
    locale = get_locale()
    return breach.message_in(locale.language if locale is not None else "zh")


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
