"""Field specs of a task form: from `camunda:formData` or from a Camunda Forms JSON schema.

One list of `FieldSpec` is what the schema (validation) and the templates (rendering) read,
whichever way the diagram's author wrote the form.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

# The types the UI knows. Camunda formData gives string/long/boolean/date/enum; textarea, money and
# file are this project's own formData types (a Modeler "custom type").
TYPES = ("string", "textarea", "long", "money", "boolean", "date", "enum", "file")

# Camunda Forms components and the type each becomes; "group" is flattened into its children.
_COMPONENT_TYPES = {"textfield": "string", "textarea": "textarea", "number": "long", "checkbox": "boolean",
                    "select": "enum", "radio": "enum", "datetime": "date", "filepicker": "file"}
_DISPLAY_ONLY = {"text", "spacer", "separator", "image", "button", "html", "iframe", "table", "documentPreview"}
SEARCHABLE_FROM = 12
_MATERIAL_SPLIT = re.compile(r"[;；,，、\n]+")


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """One input of a task form, whatever notation it was written in."""

    id: str
    label: str
    type: str = "string"
    required: bool = False
    min: Optional[Decimal] = None
    max: Optional[Decimal] = None
    minlength: Optional[int] = None
    maxlength: Optional[int] = None
    readonly: bool = False
    default: Any = None
    options: tuple[Option, ...] = ()
    help: Optional[str] = None
    group: Optional[str] = None  # the label of the Camunda Forms group it sits in
    materials: tuple[str, ...] = ()  # required items listed by the field property `materials`
    properties: dict = field(default_factory=dict, compare=False)
    binding: Optional[str] = None  # a default written as an expression (`${project_name}`)

    @property
    def searchable(self) -> bool:
        """A list long enough to get a box that filters it."""
        return len(self.options) > SEARCHABLE_FROM

    @property
    def multiple(self) -> bool:
        """Several choices at once (property `dalad:multiple`), kept as "a,b,c"."""
        return str((self.properties or {}).get("dalad:multiple", "")).lower() == "true"


@dataclass(frozen=True)
class Material:
    """A document the task needs before it may be completed."""

    key: str  # Document.field of an upload that satisfies it
    label: str
    field_id: str


def from_form_data(form_fields: list[dict]) -> list[FieldSpec]:
    """Field specs from the `form_fields` the engine keeps per user task (camunda:formData). The
    specs of a list read before are not made again: a definition's parsed meta is kept per process
    (engine/instances.py), so every completion of a task passes the same list."""
    if not form_fields:
        return []
    known = _parsed.get(id(form_fields))
    if known is not None and known[0] is form_fields:
        return list(known[1])
    specs = _specs_of(form_fields)
    if len(_parsed) >= 1000:
        _parsed.clear()
    _parsed[id(form_fields)] = (form_fields, tuple(specs))  # the list is held: its id is not reused
    return specs


_parsed: dict[int, tuple[list, tuple[FieldSpec, ...]]] = {}


def _specs_of(form_fields: list[dict]) -> list[FieldSpec]:
    specs = []
    for raw in form_fields or []:
        validation = raw.get("validation") or {}
        properties = dict(raw.get("properties") or {})
        kind = (raw.get("type") or "string").strip()
        if kind not in TYPES:
            kind = "string"
        options = tuple(Option(str(v.get("id")), v.get("name") or str(v.get("id")))
                        for v in raw.get("values") or [] if v.get("id") is not None)
        specs.append(FieldSpec(
            id=raw["id"], label=raw.get("label") or raw["id"], type=kind,
            required="required" in validation, readonly="readonly" in validation,
            min=_number(validation.get("min")), max=_number(validation.get("max")),
            minlength=_integer(validation.get("minlength")), maxlength=_integer(validation.get("maxlength")),
            default=_default(raw.get("default"), kind), options=options,
            help=properties.get("help") or properties.get("description"),
            materials=_materials(properties.get("materials")), properties=properties,
            binding=_binding(raw.get("default"))))
    return specs


def from_form_schema(schema: dict) -> list[FieldSpec]:
    """Field specs from a Camunda Forms JSON schema (groups flattened, display-only parts left out)."""
    specs: list[FieldSpec] = []
    _collect(schema.get("components") or [], None, specs)
    return specs


def _collect(components: list[dict], group: Optional[str], out: list[FieldSpec]) -> None:
    for component in components:
        kind = component.get("type")
        if kind in ("group", "dynamiclist"):
            _collect(component.get("components") or [], component.get("label") or group, out)
            continue
        if kind in _DISPLAY_ONLY or kind not in _COMPONENT_TYPES or not component.get("key"):
            continue
        out.append(_component_spec(component, _COMPONENT_TYPES[kind], group))


def _component_spec(component: dict, kind: str, group: Optional[str]) -> FieldSpec:
    validate = component.get("validate") or {}
    properties = dict(component.get("properties") or {})
    if kind == "long" and _is_money(component):
        kind = "money"
    if kind == "date" and component.get("subtype") not in (None, "date"):
        kind = "string"  # time and datetime pickers: kept as text for now
    options = tuple(Option(str(v.get("value")), v.get("label") or str(v.get("value")))
                    for v in component.get("values") or [] if v.get("value") is not None)
    return FieldSpec(
        id=component["key"], label=component.get("label") or component.get("dateLabel") or component["key"],
        type=kind, required=bool(validate.get("required")),
        readonly=bool(component.get("readonly") or component.get("disabled")),
        min=_number(validate.get("min")), max=_number(validate.get("max")),
        minlength=_integer(validate.get("minLength")), maxlength=_integer(validate.get("maxLength")),
        default=_default(component.get("defaultValue"), kind), options=options,
        help=component.get("description"), group=group,
        materials=_materials(properties.get("materials")), properties=properties)


def _is_money(component: dict) -> bool:
    appearance = component.get("appearance") or {}
    prefix = str(appearance.get("prefixAdorner") or "")
    return (component.get("properties") or {}).get("money") in ("true", True) or prefix in ("¥", "￥", "元") \
        or str(appearance.get("suffixAdorner") or "") == "元" or component.get("decimalDigits") == 2


def fields_of_task(session: Session, task) -> list[FieldSpec]:
    """The form of an inbox task (a `UserTask` row), as the version its process runs declares it:
    a called process's task's is the called version's, which its call resolved when it started."""
    from engine import instances
    from engine.models import ProcessInstance

    instance = session.get(ProcessInstance, task.called_instance_id or task.instance_id)
    return fields_for_task(session, instances.definition_runtime(session, instance.definition_id).meta,
                           task.element_id)


def fields_for_task(session: Session, definition_meta: dict, element_id: str) -> list[FieldSpec]:
    """The form of a user task (fields with a choice source get the source's current options,
    forms/choices.py): its formData fields, else the Camunda form that `form_ref` names:
    its latest version, the one deployed with the process (`deployment`: that deployment or, if
    unchanged there, the latest before it), or a fixed `version`."""
    from engine.definitions import user_task_meta
    from engine.models import FormDefinition

    task_meta = user_task_meta(definition_meta, element_id)  # or a called process's task
    if task_meta.get("form_fields"):
        from .choices import with_choices

        return with_choices(session, from_form_data(task_meta["form_fields"]))
    ref = task_meta.get("form_ref")
    if ref:
        query = select(FormDefinition).where(FormDefinition.key == ref)
        binding = task_meta.get("form_ref_binding") or "latest"
        if binding == "deployment" and definition_meta.get("deployment_id"):
            query = query.where(FormDefinition.deployment_id <= definition_meta["deployment_id"])
        elif binding == "version" and str(task_meta.get("form_ref_version") or "").isdigit():
            query = query.where(FormDefinition.version == int(task_meta["form_ref_version"]))
        form = session.scalars(query.order_by(FormDefinition.version.desc()).limit(1)).first()
        if form is not None:
            return from_form_schema(form.schema)
    return []


def materials_of(specs: list[FieldSpec]) -> list[Material]:
    """The required-materials checklist: required file fields and each item of a `materials` property."""
    out = []
    for spec in specs:
        if spec.type == "file" and spec.required:
            out.append(Material(spec.id, spec.label, spec.id))
        for item in spec.materials:
            out.append(Material(f"{spec.id}:{item}", item, spec.id))
    return out


def _materials(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, list) else _MATERIAL_SPLIT.split(str(value))
    return tuple(dict.fromkeys(str(i).strip() for i in items if str(i).strip()))


def _number(value: Any) -> Optional[Decimal]:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def _integer(value: Any) -> Optional[int]:
    number = _number(value)
    return int(number) if number is not None else None


def _binding(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and ("${" in value or "#{" in value) else None


def _default(value: Any, kind: str) -> Any:
    """A default as text for the input, or None for a default that is an expression."""
    if value is None or (isinstance(value, str) and ("${" in value or "#{" in value)):
        return None
    if kind == "boolean":
        return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")
    return str(value)
