"""Validation of a submitted task form: a marshmallow schema built from field specs.

`validate(specs, form)` takes what the browser sent (text), returns typed values or Chinese
messages per field, and always the text as typed, so a form with mistakes is shown again as the
user left it. Readonly and file fields take no input here (files are uploads of their own).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Optional

from flask_babel import get_locale, gettext as _
from marshmallow import Schema, ValidationError, fields, validate as checks

from .fields import FieldSpec

MAX_DIGITS = 15  # an amount in yuan or a count beyond this is a typing mistake
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}
_SEPARATORS = re.compile(r"[,，\s]")


@dataclass
class Result:
    """Typed values when valid, else messages per field; `typed` is the text as the user typed it."""

    values: dict = dc_field(default_factory=dict)
    errors: dict = dc_field(default_factory=dict)
    typed: dict = dc_field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class Long(fields.Field):
    """An integer typed as text: 1200, 1,200 or 1 200."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = _SEPARATORS.sub("", str(value))
        if not re.fullmatch(r"[+-]?\d{1,%d}" % MAX_DIGITS, text):
            raise ValidationError(_("请输入整数"))
        return int(text)


class Money(fields.Field):
    """An amount in yuan with at most two decimals (¥ and thousands separators allowed), as Decimal."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = _SEPARATORS.sub("", str(value)).lstrip("¥￥").removesuffix("元")
        if not re.fullmatch(r"[+-]?\d{1,%d}(\.\d+)?" % MAX_DIGITS, text):
            raise ValidationError(_("请输入金额，例如 1234.50"))
        amount = Decimal(text)
        if amount.as_tuple().exponent < -2:
            raise ValidationError(_("金额最多保留两位小数"))
        return amount.quantize(Decimal("0.01"))


class Day(fields.Field):
    """A date written 2026-03-02 (what an HTML date input sends)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(_("请输入有效日期，格式为 年-月-日")) from None


class YesNo(fields.Field):
    """A checkbox or a yes/no choice."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationError(_("请选择“是”或“否”"))


def schema_for(specs: list[FieldSpec]) -> Schema:
    """A marshmallow schema for the fields of a form that take input, built once per form and
    language (every completion checks its form: building the schema cost more than using it)."""
    inputs = [spec for spec in specs if takes_input(spec)]
    key = (str(get_locale()), tuple(_schema_key(spec) for spec in inputs))
    schema = _schemas.get(key)
    if schema is None:
        if len(_schemas) >= 1000:
            _schemas.clear()
        schema = _schemas[key] = Schema.from_dict({spec.id: _field(spec) for spec in inputs}, name="TaskForm")()
    return schema


_schemas: dict[tuple, Schema] = {}


def _schema_key(spec: FieldSpec) -> tuple:
    """What `_field` reads of a spec."""
    return (spec.id, spec.type, spec.required, spec.min, spec.max, spec.minlength, spec.maxlength,
            tuple(o.value for o in spec.options), spec.multiple)


def takes_input(spec: FieldSpec) -> bool:
    return not spec.readonly and spec.type != "file"


def _field(spec: FieldSpec) -> fields.Field:
    messages = {"required": _("此项为必填项"), "null": _("此项为必填项")}
    validators = []
    if spec.type in ("long", "money"):
        kind = Long if spec.type == "long" else Money
        if spec.min is not None:
            validators.append(checks.Range(min=spec.min, error=_("不能小于 %(min)s", min=_plain(spec.min))))
        if spec.max is not None:
            validators.append(checks.Range(max=spec.max, error=_("不能大于 %(max)s", max=_plain(spec.max))))
        return kind(required=spec.required, validate=validators, error_messages=messages)
    if spec.type == "date":
        return Day(required=spec.required, error_messages=messages)
    if spec.type == "boolean":
        return YesNo(required=spec.required, error_messages=messages)
    if spec.minlength is not None:
        validators.append(checks.Length(min=spec.minlength, error=_("至少输入 %(n)s 个字符", n=spec.minlength)))
    if spec.maxlength is not None:
        validators.append(checks.Length(max=spec.maxlength, error=_("最多输入 %(n)s 个字符", n=spec.maxlength)))
    if spec.type == "enum" and spec.options and spec.multiple:
        validators.append(_all_of([o.value for o in spec.options]))
    elif spec.type == "enum" and spec.options:
        validators.append(checks.OneOf([o.value for o in spec.options], error=_("请从列表中选择")))
    return fields.String(required=spec.required, validate=validators, error_messages=messages)


def _all_of(allowed: list[str]):
    """Several choices sent as "a,b": each must be one of the list."""
    def check(value: str) -> None:
        if any(part not in allowed for part in value.split(",")):
            raise ValidationError(_("请从列表中选择"))
    return check


def typed_values(specs: list[FieldSpec], form: Mapping[str, Any]) -> dict:
    """The text of each input field as the browser sent it (a checkbox: "on" or ""; several
    choices: joined with commas)."""
    return {spec.id: _sent(spec, form) for spec in specs if takes_input(spec)}


def _sent(spec: FieldSpec, form: Mapping[str, Any]) -> str:
    if spec.multiple and hasattr(form, "getlist"):
        return ",".join(v for v in form.getlist(spec.id) if v)
    return str(form.get(spec.id) or "")


def validate(specs: list[FieldSpec], form: Mapping[str, Any]) -> Result:
    """Check a submitted form against its field specs."""
    typed = typed_values(specs, form)
    data = {}
    for spec in specs:
        if not takes_input(spec):
            continue
        text = typed[spec.id] if spec.type == "textarea" else typed[spec.id].strip()
        if spec.type == "boolean" and not spec.required:
            data[spec.id] = text or False  # an unticked checkbox sends nothing: that is "no"; YesNo reads the rest
        elif text.strip():
            data[spec.id] = text
        elif spec.type == "string" and not spec.required and spec.id in form:
            data[spec.id] = ""  # a text field the user emptied on purpose
    try:
        return Result(values=schema_for(specs).load(data), typed=typed)
    except ValidationError as exc:
        return Result(errors=_flat(exc.messages), typed=typed)


def _flat(messages: dict) -> dict:
    return {key: (value if isinstance(value, list) else [str(value)]) for key, value in messages.items()}


def to_variables(values: dict) -> dict:
    """Typed values as process variables (plain JSON: money as a number, dates as ISO text)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


def as_text(spec: FieldSpec, value: Any) -> str:
    """A stored value (a variable, a default) as the text an input shows."""
    if value is None:
        return ""
    if spec.type == "boolean":
        return "true" if value is True or str(value).lower() in _TRUE else ("false" if value is not None else "")
    if spec.type == "money":
        try:
            return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"
        except InvalidOperation:
            return str(value)
    return str(value)


def _plain(number: Optional[Decimal]) -> str:
    if number is None:
        return ""
    return str(int(number)) if number == number.to_integral_value() else str(number.normalize())
