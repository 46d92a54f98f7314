"""The values of a REST call's query, each read as the kind web/rest_openapi.py declares for it.

A query parameter is text; a filter of a POST query body (POST /task, /process-instance, …) is
JSON. Both are read by one rule per kind, so the two forms of a query take the same values: a
body filter takes its JSON kind, or the text its query parameter takes (Camunda's Jackson reads
"true" into a boolean and "5" into a number too), and a text filter also a number or true/false
(Jackson does). Null, "" and an empty list where a list goes filter nothing (Jackson reads "" into
a date, a boolean or a number as null). Anything else is refused naming the parameter or filter
and what it takes: a list where one value goes, an object, a number where a date or a list goes.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from engine import clock

from .rest_openapi import BOUNDS, CAMUNDA_DATE, MAX_LIST

OPERATORS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "like", "notLike")
DATE_EXAMPLE = "2026-03-02T09:00:00.000+0800"
# RFC 3339's date-time (the document's second date form): T or t, Z or z, any fraction of a second.
RFC_3339 = re.compile(r"(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)")
WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")
EXPECTED = {"text": "give text", "boolean": "write true or false", "int32": "give a whole number",
            "int64": "give a whole number", "date": f"write a date as {DATE_EXAMPLE}",
            "list": "give a list of text (a JSON array of strings, or text separated by commas)",
            "variables": "give [{name, operator, value}] or name_operator_value text, operator one of "
                         + ", ".join(OPERATORS),
            "sorting": "give [{\"sortBy\": …, \"sortOrder\": \"asc\" or \"desc\"}]"}


class QueryValueRefused(ValueError):
    """A query parameter or body filter of the wrong kind; the message names it."""


_REFUSED = object()  # what a reader answers for a value not of its kind
_LISTS = ("list", "variables", "sorting")
_SHOWN = 200  # characters of a refused value the message repeats


def read_values(given: dict[str, Any], kinds: dict[str, str], where: str) -> dict[str, Any]:
    """`given` (names the call takes, per `kinds`) read as their kinds: text str, boolean bool,
    int32/int64 int, date an aware datetime, list list[str], variables [(name, operator,
    value)], sorting [(sortBy, sortOrder or None)]; None for a value that filters nothing.
    `where` names them in a refusal: "query parameter" or "filter"."""
    return {name: _read_value(name, value, kinds[name], where) for name, value in given.items()}


def _read_value(name: str, value: Any, kind: str, where: str) -> Any:
    if value is None or value == "" or (value == [] and kind in _LISTS):
        return None
    try:
        result = _READERS[kind](value)
    except QueryValueRefused as refused:
        detail = str(refused)
    else:
        if result is not _REFUSED:
            return result
        detail = EXPECTED[kind]
    shown = f"'{value}'" if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN] + "…"
    raise QueryValueRefused(f"Cannot set {where} '{name}' to value {shown}: {detail}")


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return _REFUSED


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return _REFUSED


def _whole_number(bits: str):
    low, high = BOUNDS[bits]

    def read(value: Any) -> Any:
        if isinstance(value, str) and WHOLE_NUMBER.fullmatch(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return _REFUSED
        if not low <= value <= high:
            raise QueryValueRefused(f"at least {low} and at most {high}")
        return value
    return read


def _date(value: Any) -> Any:
    """Camunda's form (2026-03-02T09:00:00.000+0800) or RFC 3339 (2026-03-02T09:00:00+08:00)."""
    if not isinstance(value, str):
        return _REFUSED
    if re.fullmatch(CAMUNDA_DATE, value):
        text = value
    else:
        match = RFC_3339.fullmatch(value)
        if match is None:
            return _REFUSED
        day, time, fraction, offset = match.groups()
        text = f"{day}T{time}.{(fraction or '0')[:6].ljust(6, '0')}{'+00:00' if offset in 'Zz' else offset}"
    try:
        moment = clock.aware(datetime.fromisoformat(text))
        moment.astimezone(timezone.utc)  # stored in UTC: year 1 east of it has no UTC time
    except ValueError:  # a day that does not exist (30 February), year 0
        raise QueryValueRefused(f"{EXPECTED['date']}, a day that exists in the years 1 to 9999") from None
    except OverflowError:
        raise QueryValueRefused("the date is out of range") from None
    return moment


def _list(value: Any) -> Any:
    if isinstance(value, str):
        parts = [part for part in value.split(",") if part] or None
    elif not isinstance(value, list):
        return _REFUSED
    else:
        parts = [_text(part) for part in value]
        if any(part is _REFUSED for part in parts):
            return _REFUSED
    if parts and len(parts) > MAX_LIST:
        raise QueryValueRefused(f"give at most {MAX_LIST:,} values, not {len(parts):,}")
    return parts


def _variables(value: Any) -> Any:
    """Camunda's variable conditions: `amount_gt_1000,unit_eq_edu` or
    [{"name": "amount", "operator": "gt", "value": 1000}]."""
    if isinstance(value, str):
        conditions = []
        for part in value.split(","):
            match = re.fullmatch(r"(.+?)_(eq|neq|gteq|gt|lteq|lt|like|notLike)_(.*)", part, re.DOTALL)
            if match is None:
                raise QueryValueRefused(f"{EXPECTED['variables']} ('{part}' is not name_operator_value)")
            var, operator, text = match.groups()
            conditions.append((var, operator, text if operator in ("like", "notLike") else _operand(text)))
        return conditions
    if not isinstance(value, list):
        return _REFUSED
    for condition in value:
        if not isinstance(condition, dict) or not isinstance(condition.get("name"), str) \
                or condition.get("operator") not in OPERATORS:
            return _REFUSED
    return [(c["name"], c["operator"], c.get("value")) for c in value]


def _operand(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _sorting(value: Any) -> Any:
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return _REFUSED
    keys, sorted_by = [], set()
    for item in items:
        sort_by, order = item.get("sortBy"), item.get("sortOrder")
        sort_by = None if sort_by is None else _text(sort_by)
        if sort_by is None or sort_by is _REFUSED or sort_by == "":
            return _REFUSED
        order = None if order is None else _text(order)
        if order is _REFUSED:
            raise QueryValueRefused(f"sortOrder must be asc or desc, not {json.dumps(item['sortOrder'])}")
        if sort_by not in sorted_by:  # a column sorted again changes nothing
            sorted_by.add(sort_by)
            keys.append((sort_by, order))
    return keys


_READERS = {"text": _text, "boolean": _boolean, "int32": _whole_number("int32"), "int64": _whole_number("int64"),
            "date": _date, "list": _list, "variables": _variables, "sorting": _sorting}

