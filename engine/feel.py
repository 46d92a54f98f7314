"""FEEL, the expression language of DMN decision tables, as Camunda 7 users write it.

Two entry points, both compiled once (at deploy) into nested closures:

* `compile_unary_tests(text)` for an input entry (a cell in an input column): `-` or an empty cell
  (any value), `"gold"`, `"a","b"` (either), `not("x")` (anything but), `< 100`, `>= 1000`,
  `[1..10]`, `]1..10[`, `(1..10]`, `true`, `null`, `date("2027-01-01")`, `? > 5` or
  `cellInput > 5` (a condition on the input value), `amount > limit` (a condition not about the
  input).  `.matches(value, context)` says whether the input value passes.
* `compile_expression(text)` for an input expression, an output entry or a literal expression:
  `amount * 1.1`, `if vip then "gold" else "silver"`, `customer.address.city`,
  `x in [1..10]`, `string length(name) > 3`, `date("2027-01-01") + duration("P30D")`.
  `.evaluate(context)` gives the value.

Nothing is handed to Python's own code execution: a small tokenizer and a recursive-descent
parser build closures `fn(context, input_value)` directly, folding constant parts at compile time
(so `date("2027-13-01")` or `1/0` in a cell is refused at deploy, not at run time).

The language (a subset of FEEL 1.3 as FEEL-Scala reads it):

* literals: numbers (`12`, `1.5`), strings in double quotes with escapes (`\\" \\\\ \\n \\t \\r
  \\uXXXX`), `true`, `false`, `null`, lists `[1, 2]`, contexts `{a: 1, "b c": 2}`, ranges
  `[a..b]`, `]a..b[`, `(a..b)`, `[a..b)` and so on;
* names (no spaces; `` `odd name` `` in backticks), paths `a.b.c` (on a list: the field of each
  element), `list[1]` (1-based, negative from the end) and `list[item > 3]` / `list[price > 3]`
  filters;
* `+ - * / **`, unary minus; `= != < <= > >=`, `between .. and ..`, `in` (a list, a range, a
  unary test or a parenthesised list of them: `x in (< 5, > 10)`); `and`, `or` (three-valued),
  `not(...)`; `if .. then .. else ..`;
* functions: not, string length, upper case, lower case, contains, starts with, ends with,
  substring, string, number, sum, min, max, count, abs, floor, ceiling, date, date and time,
  time, duration, now, today.  `for`, `some`, `every`, `instance of`, `function` and user
  functions are refused.

Semantics worth knowing:

* Null (a missing variable reads as null) propagates: `null + 1`, `null < 3` are null, so a cell
  `< 100` does not match a null input; `null = null` is true, `null = 1` false.  A unary test or
  condition matches only when it is exactly `true`.
* Where FEEL would quietly give null for a *type* mistake (`"a" + 1`, `"abc" < 5`, `1/0`,
  `date("oops")`), this gives an ExpressionError naming the column, so a broken table fails
  loudly.  Equality between different types is simply false (`"1" = 1` is false).
* Numbers are exact decimals inside an expression (34 digits, as FEEL's decimal128): `0.1 + 0.2 = 0.3`
  is true and `amount * 1.1` gives 1650 for 1500.  Results leave as int when whole, else float
  (`10 / 4` is 2.5, `10 / 5` is 2).  Booleans are not numbers.
* Dates: `date`, `date and time` (aware; without an offset it is local time, see engine.clock),
  `time`, days-and-time durations (timedelta) and years-and-months durations (`YearsMonths`).
  A date compared with a date and time is read as local midnight, and an ISO string compared
  with (or added to) a date or date and time is read as one, as in engine.expressions.
* An expression used as a unary test: if it uses the input (`?` or the input variable, by
  default `cellInput`), its boolean value decides; otherwise a range or list value tests
  containment, a non-constant boolean value (`amount > limit`) decides when the input is not a
  boolean, and any other value is compared with the input for equality.
"""
from __future__ import annotations

import calendar
import functools
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from typing import Any, Callable, Iterator, Mapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import clock
from engine.errors import ExpressionError
from engine.expressions import _midnight  # one reading of a date as local midnight

__all__ = [
    "FeelExpression",
    "UnaryTests",
    "Range",
    "YearsMonths",
    "compile_expression",
    "compile_unary_tests",
    "parse_date",
    "parse_date_time",
    "parse_time",
    "parse_duration",
    "describe",
    "to_text",
    "FUNCTIONS",
]

Fn = Callable[[Mapping[str, Any], Any], Any]  # (context, input value for '?') -> value

_MAX_DEPTH = 100
_MAX_POW_BITS = 64_000
_EMPTY: Mapping[str, Any] = {}


class _Fail(Exception):
    """A run-time failure; `pos` (index into the source) is filled in by the closest operator."""

    def __init__(self, message: str, pos: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.pos = pos


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, order=True)
class YearsMonths:
    """A FEEL years-and-months duration (`duration("P1Y2M")`), kept as a number of months."""

    total_months: int

    @property
    def years(self) -> int:
        return int(self.total_months / 12)

    @property
    def months(self) -> int:
        return self.total_months - 12 * self.years

    def __str__(self) -> str:
        sign = "-" if self.total_months < 0 else ""
        years, months = divmod(abs(self.total_months), 12)
        body = (f"{years}Y" if years else "") + (f"{months}M" if months or not years else "")
        return f"{sign}P{body}"


@dataclass(frozen=True)
class Range:
    """A FEEL range such as `[1..10]` or `]0..100[`; an end that is None is open."""

    start: Any
    end: Any
    start_included: bool = True
    end_included: bool = True

    def __str__(self) -> str:
        return (("[" if self.start_included else "]") + _text(self.start) + ".." + _text(self.end)
                + ("]" if self.end_included else "["))


# FEEL numbers are decimals: inside an expression non-integers are Decimal (34 digits, like
# FEEL's decimal128), so `0.1 + 0.2 = 0.3` and `amount * 1.1` is exact; floats from variables
# are read by their shortest repr.  Results leave as int (when whole) or float: see _export.
_DEC = Context(prec=34, rounding=ROUND_HALF_EVEN, Emax=6144, Emin=-6143,
               traps=[InvalidOperation, DivisionByZero, Overflow])


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float, Decimal)) and not isinstance(x, bool)


def _dec(x: Any) -> int | Decimal:
    """A number as int or Decimal (floats by their shortest repr)."""
    if isinstance(x, float):
        if not math.isfinite(x):
            raise _Fail(f"{x!r} is not a finite number")
        return Decimal(repr(x))
    return x


def _export(x: Any) -> Any:
    """A value as it leaves FEEL: Decimals become int (when whole) or float, deeply."""
    if isinstance(x, Decimal):
        if x.is_finite() and x == x.to_integral_value() and x.adjusted() < 18:
            return int(x)
        return float(x)
    if isinstance(x, list):
        return [_export(v) for v in x]
    if isinstance(x, dict):
        return {k: _export(v) for k, v in x.items()}
    if isinstance(x, Range):
        return Range(_export(x.start), _export(x.end), x.start_included, x.end_included)
    return x


def _kind(x: Any) -> str:
    """The FEEL type of a value, in words a process administrator knows."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, (int, float, Decimal)):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, datetime):
        return "date and time"
    if isinstance(x, date):
        return "date"
    if isinstance(x, time):
        return "time"
    if isinstance(x, timedelta):
        return "duration"
    if isinstance(x, YearsMonths):
        return "years and months duration"
    if isinstance(x, (list, tuple)):
        return "list"
    if isinstance(x, Mapping):
        return "context"
    if isinstance(x, Range):
        return "range"
    return type(x).__name__


def _literal(x: Any) -> str:
    """A value written as FEEL would (strings quoted)."""
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _text(x)


def _show(x: Any) -> str:
    text = _literal(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(x: Any) -> str:
    return "null" if x is None else f"{_kind(x)} {_show(x)}"


def describe(value: Any) -> str:
    """A value for an error message: its FEEL type and its text (`string "abc"`, `null`)."""
    return _describe(value)


def to_text(value: Any) -> str:
    """A value as FEEL's string() writes it (durations in ISO form, dates ISO)."""
    return _text(value)


def _iso_duration(d: timedelta) -> str:
    total = d.days * 86400 + d.seconds
    sign = "-" if total < 0 or (total == 0 and d.microseconds < 0) else ""
    micro = abs(d.days * 86_400_000_000 + d.seconds * 1_000_000 + d.microseconds)
    seconds, micro = divmod(micro, 1_000_000)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}P" + (f"{days}D" if days else "")
    clock_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micro:
        clock_part += f"{seconds}.{micro:06d}".rstrip("0").rstrip(".") + "S"
    if clock_part:
        text += "T" + clock_part
    return text if text not in ("P", "-P") else "PT0S"


def _text(x: Any) -> str:
    """A value as FEEL's string() writes it."""
    if x is None:
        return "null"
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, float):
        return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)
    if isinstance(x, Decimal):
        if x.is_finite() and x == x.to_integral_value() and x.adjusted() < 28:
            return str(int(x))
        return format(x.normalize(), "f") if x.is_finite() else str(x)
    if isinstance(x, (datetime, date, time)):
        return x.isoformat()
    if isinstance(x, timedelta):
        return _iso_duration(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in x) + "]"
    if isinstance(x, Mapping):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in x.items()) + "}"
    return str(x)


# --------------------------------------------------------------------------- temporal text

_DATE_RE = re.compile(r"(-?\d{4,9})-(\d{2})-(\d{2})")
_TIME_RE = re.compile(
    r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2}|@[A-Za-z][A-Za-z0-9_+\-/]*)?")
_DURATION_RE = re.compile(r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                          r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def parse_date(text: str) -> date:
    """A FEEL date string 'YYYY-MM-DD'; ValueError saying what is wrong otherwise."""
    match = _DATE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD, e.g. \"2027-01-15\")")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date: {exc}") from None


def _zone(match_text: Optional[str], text: str):
    if not match_text:
        return None
    if match_text == "Z":
        return timezone.utc
    if match_text.startswith("@"):
        try:
            return ZoneInfo(match_text[1:])
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{text!r}: unknown time zone {match_text[1:]!r}") from None
    sign = -1 if match_text[0] == "-" else 1
    digits = match_text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 18 or minutes > 59:
        raise ValueError(f"{text!r}: invalid offset {match_text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_time(text: str) -> time:
    """A FEEL time string 'HH:MM:SS' with optional fraction and offset (Z, +08:00, @Asia/Shanghai)."""
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time (expected HH:MM:SS, e.g. \"09:30:00\")")
    fraction = (match[4] or "").ljust(6, "0")[:6]
    try:
        value = time(int(match[1]), int(match[2]), int(match[3] or 0), int(fraction or 0))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid time: {exc}") from None
    zone = _zone(match[5], text)
    if isinstance(zone, ZoneInfo):  # a named zone's offset depends on the day: today's
        zone = timezone(datetime.combine(clock.today(), value, zone).utcoffset())
    return value.replace(tzinfo=zone) if zone else value


def parse_date_time(text: str) -> datetime:
    """A FEEL date-and-time string 'YYYY-MM-DDTHH:MM:SS[offset]' (a date alone means midnight);
    without an offset it is local time (engine.clock)."""
    stripped = text.strip()
    day_text, sep, time_text = stripped.partition("T")
    day = parse_date(day_text) if _DATE_RE.fullmatch(day_text) else None
    if day is None:
        raise ValueError(f"{text!r} is not a date and time (expected YYYY-MM-DDTHH:MM:SS, "
                         "e.g. \"2027-01-15T09:30:00\" or \"2027-01-15T09:30:00+08:00\")")
    if not sep:
        return datetime.combine(day, time(), tzinfo=clock.local_zone())
    match = _TIME_RE.fullmatch(time_text)
    if match is None:
        raise ValueError(f"{text!r} is not a date and time (expected YYYY-MM-DDTHH:MM:SS)")
    fraction = (match[4] or "").ljust(6, "0")[:6]
    try:
        value = datetime(day.year, day.month, day.day, int(match[1]), int(match[2]),
                         int(match[3] or 0), int(fraction or 0))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date and time: {exc}") from None
    zone = _zone(match[5], text)
    return value.replace(tzinfo=zone) if zone else clock.aware(value)


def parse_duration(text: str) -> timedelta | YearsMonths:
    """A FEEL duration: days and time ('P1DT2H30M', 'PT15M', '-P2D') as a timedelta, or years and
    months ('P1Y6M') as YearsMonths.  The two kinds cannot be mixed ('P1Y2D' is refused)."""
    stripped = text.strip().upper()
    match = _DURATION_RE.fullmatch(stripped)
    if match is None or not any(match[i] for i in range(2, 9)) or stripped.endswith("T"):
        raise ValueError(f"{text!r} is not a duration (expected e.g. \"P1D\", \"PT2H30M\", \"P1Y6M\")")
    if (match[2] or match[3]) and any(match[i] for i in range(4, 9)):
        raise ValueError(f"{text!r} mixes years or months with days or time: FEEL keeps the two kinds "
                         "of duration apart; write two durations")
    if match[2] or match[3]:
        months = int(match[2] or 0) * 12 + int(match[3] or 0)
        return YearsMonths(-months if match[1] else months)
    try:
        value = timedelta(weeks=int(match[4] or 0), days=int(match[5] or 0), hours=int(match[6] or 0),
                          minutes=int(match[7] or 0), seconds=float(match[8] or 0))
    except OverflowError:
        raise ValueError(f"duration {text!r} is too large") from None
    return -value if match[1] else value


def _str_temporal(s: str) -> date | datetime | None:
    """An ISO date or date-and-time string as a value, else None."""
    text = s.strip()
    if _DATE_RE.fullmatch(text):
        try:
            return parse_date(text)
        except ValueError:
            return None
    if "T" in text:
        try:
            return parse_date_time(text)
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------- comparison


def _align(a: Any, b: Any) -> Optional[tuple[Any, Any]]:
    """The two values made comparable, or None when they are of different kinds."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "number":
            return _dec(a), _dec(b)
        if ka == "date and time":
            return clock.aware(a), clock.aware(b)
        if ka == "time" and (a.tzinfo is None) != (b.tzinfo is None):
            return a.replace(tzinfo=None), b.replace(tzinfo=None)
        return a, b
    if ka == "date" and kb == "date and time":
        return _midnight(a), clock.aware(b)
    if ka == "date and time" and kb == "date":
        return clock.aware(a), _midnight(b)
    if ka == "string" and kb in ("date", "date and time"):
        parsed = _str_temporal(a)
        return None if parsed is None else _align(parsed, b)
    if kb == "string" and ka in ("date", "date and time"):
        parsed = _str_temporal(b)
        return None if parsed is None else _align(a, parsed)
    return None


def _eq(a: Any, b: Any) -> bool:
    """FEEL equality: null = null; different kinds are unequal; lists and contexts deeply."""
    if a is None or b is None:
        return a is None and b is None
    pair = _align(a, b)
    if pair is None:
        return False
    a, b = pair
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    return a == b


_ORDERED = frozenset({"number", "string", "date", "date and time", "time", "duration",
                      "years and months duration"})


def _compare(a: Any, b: Any) -> Optional[int]:
    """-1, 0 or 1; None if either is null; _Fail if the two cannot be ordered."""
    if a is None or b is None:
        return None
    pair = _align(a, b)
    if pair is None or _kind(pair[0]) not in _ORDERED:
        raise _Fail(f"cannot compare {_describe(a)} with {_describe(b)}")
    x, y = pair
    return (x > y) - (x < y)


def _lt(a: Any, b: Any) -> Optional[bool]:
    c = _compare(a, b)
    return None if c is None else c < 0


def _le(a: Any, b: Any) -> Optional[bool]:
    c = _compare(a, b)
    return None if c is None else c <= 0


def _gt(a: Any, b: Any) -> Optional[bool]:
    c = _compare(a, b)
    return None if c is None else c > 0


def _ge(a: Any, b: Any) -> Optional[bool]:
    c = _compare(a, b)
    return None if c is None else c >= 0


_COMPARE = {"=": _eq, "!=": lambda a, b: not _eq(a, b), "<": _lt, "<=": _le, ">": _gt, ">=": _ge}


def _in_range(r: Range, v: Any) -> Optional[bool]:
    if v is None:
        return None
    if r.start is not None:
        c = _compare(v, r.start)
        if c is None or c < 0 or (c == 0 and not r.start_included):
            return False
    if r.end is not None:
        c = _compare(v, r.end)
        if c is None or c > 0 or (c == 0 and not r.end_included):
            return False
    return True


def _member(v: Any, items: Any) -> bool:
    """`v` tested against a list value: contained (or, for a list input, equal)."""
    if isinstance(v, (list, tuple)) and _eq(v, items):
        return True
    return any(isinstance(item, Range) and _in_range(item, v) is True or _eq(v, item) for item in items)


# --------------------------------------------------------------------------- arithmetic


def _temporal_operand(x: Any, other: Any) -> Any:
    """An ISO string beside a date, date and time or duration is read as a date/date and time."""
    if isinstance(x, str) and isinstance(other, (date, timedelta, YearsMonths)):
        parsed = _str_temporal(x)
        if parsed is not None:
            return parsed
    return x


def _add_months(t: date | datetime, months: int) -> date | datetime:
    index = t.year * 12 + t.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise _Fail("date out of range")
    return t.replace(year=year, month=month + 1, day=min(t.day, calendar.monthrange(year, month + 1)[1]))


def _add_delta(t: date | datetime | time, d: timedelta) -> Any:
    if isinstance(t, datetime):
        return clock.aware(t) + d
    if isinstance(t, date):
        if d.seconds or d.microseconds:
            return _midnight(t) + d
        return t + d
    # a time: wraps around midnight
    base = datetime.combine(date(2000, 1, 1), t)
    return (base + d).timetz()


def _cannot(op: str, a: Any, b: Any) -> _Fail:
    return _Fail(f"cannot {op} {_describe(a)} and {_describe(b)}")


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        a, b = _dec(a), _dec(b)
        return a + b if type(a) is int and type(b) is int else _DEC.add(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    a, b = _temporal_operand(a, b), _temporal_operand(b, a)
    try:
        if isinstance(b, timedelta) and isinstance(a, (date, time)):
            return _add_delta(a, b)
        if isinstance(a, timedelta) and isinstance(b, (date, time)):
            return _add_delta(b, a)
        if isinstance(a, timedelta) and isinstance(b, timedelta):
            return a + b
        if isinstance(b, YearsMonths) and isinstance(a, date):
            return _add_months(a, b.total_months)
        if isinstance(a, YearsMonths) and isinstance(b, date):
            return _add_months(b, a.total_months)
        if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
            return YearsMonths(a.total_months + b.total_months)
    except OverflowError:
        raise _Fail("date out of range") from None
    raise _cannot("add", a, b)


def _sub(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        a, b = _dec(a), _dec(b)
        return a - b if type(a) is int and type(b) is int else _DEC.subtract(a, b)
    a, b = _temporal_operand(a, b), _temporal_operand(b, a)
    try:
        if isinstance(a, date) and isinstance(b, date):
            if type(a) is date and type(b) is date:
                return a - b
            x, y = _align(a, b)
            return x - y
        if isinstance(a, time) and isinstance(b, time):
            x, y = _align(a, b)
            return datetime.combine(date(2000, 1, 1), x) - datetime.combine(date(2000, 1, 1), y)
        if isinstance(b, timedelta) and isinstance(a, (date, time)):
            return _add_delta(a, -b)
        if isinstance(a, timedelta) and isinstance(b, timedelta):
            return a - b
        if isinstance(b, YearsMonths) and isinstance(a, date):
            return _add_months(a, -b.total_months)
        if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
            return YearsMonths(a.total_months - b.total_months)
    except OverflowError:
        raise _Fail("date out of range") from None
    raise _cannot("subtract", a, b)


def _mul(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        a, b = _dec(a), _dec(b)
        return a * b if type(a) is int and type(b) is int else _DEC.multiply(a, b)
    try:
        if isinstance(a, timedelta) and _is_num(b):
            return a * float(b)
        if isinstance(b, timedelta) and _is_num(a):
            return b * float(a)
        if isinstance(a, YearsMonths) and _is_num(b):
            return YearsMonths(int(a.total_months * b))
        if isinstance(b, YearsMonths) and _is_num(a):
            return YearsMonths(int(b.total_months * a))
    except OverflowError:
        raise _Fail("result too large") from None
    raise _cannot("multiply", a, b)


def _div(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        if b == 0:
            raise _Fail("division by zero")
        a, b = _dec(a), _dec(b)
        if type(a) is int and type(b) is int and a % b == 0:
            return a // b
        return _DEC.divide(a, b)
    if isinstance(a, timedelta) and _is_num(b):
        if b == 0:
            raise _Fail("division by zero")
        return a / float(b)
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        if not b:
            raise _Fail("division by zero")
        return a / b
    raise _cannot("divide", a, b)


def _pow(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if not (_is_num(a) and _is_num(b)):
        raise _cannot("raise", a, b)
    if type(a) is int and type(b) is int and b > 0 and abs(a) > 1 and a.bit_length() * b > _MAX_POW_BITS:
        raise _Fail("result of '**' is too large")
    if a == 0 and b < 0:
        raise _Fail("division by zero")
    a, b = _dec(a), _dec(b)
    if type(a) is int and type(b) is int and b >= 0:
        return a**b
    try:
        return _DEC.power(a, b)
    except InvalidOperation:
        raise _Fail(f"{_show(a)} ** {_show(b)} is not a real number") from None


def _neg(a: Any) -> Any:
    if a is None:
        return None
    if _is_num(a):
        return -_dec(a)
    if isinstance(a, timedelta):
        return -a
    if isinstance(a, YearsMonths):
        return YearsMonths(-a.total_months)
    raise _Fail(f"cannot negate {_describe(a)}")


_ARITHMETIC = {"+": _add, "-": _sub, "*": _mul, "/": _div, "**": _pow}


# --------------------------------------------------------------------------- paths and filters

_FIELDS: dict[type, dict[str, Callable[[Any], Any]]] = {
    datetime: {"year": lambda v: v.year, "month": lambda v: v.month, "day": lambda v: v.day,
               "hour": lambda v: v.hour, "minute": lambda v: v.minute, "second": lambda v: v.second,
               "weekday": lambda v: v.isoweekday()},
    date: {"year": lambda v: v.year, "month": lambda v: v.month, "day": lambda v: v.day,
           "weekday": lambda v: v.isoweekday()},
    time: {"hour": lambda v: v.hour, "minute": lambda v: v.minute, "second": lambda v: v.second},
    timedelta: {"days": lambda v: v.days, "hours": lambda v: v.seconds // 3600,
                "minutes": lambda v: v.seconds // 60 % 60, "seconds": lambda v: v.seconds % 60},
    YearsMonths: {"years": lambda v: v.years, "months": lambda v: v.months},
    Range: {"start": lambda v: v.start, "end": lambda v: v.end},
}


def _path(value: Any, key: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, (list, tuple)):
        return [_path(v, key) for v in value]
    fields = _FIELDS.get(type(value))
    if fields is None:
        for kind, candidate in _FIELDS.items():
            if isinstance(value, kind):
                fields = candidate
                break
    if fields is not None and key in fields:
        return fields[key](value)
    raise _Fail(f"{_describe(value)} has no field '{key}'")


class _ItemContext(Mapping):
    """The context inside a filter `list[...]`: `item` is the element, an element's keys are names."""

    __slots__ = ("parent", "item")

    def __init__(self, parent: Mapping[str, Any], item: Any):
        self.parent, self.item = parent, item

    def get(self, key: str, default: Any = None) -> Any:
        if key == "item":
            return self.item
        if isinstance(self.item, Mapping) and key in self.item:
            return self.item[key]
        return self.parent.get(key, default)

    def __getitem__(self, key: str) -> Any:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        keys = dict.fromkeys(self.parent)
        if isinstance(self.item, Mapping):
            keys.update(dict.fromkeys(self.item))
        keys["item"] = None
        return iter(keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_NOT_INDEX = object()


def _select(value: Any, inner: Fn, inner_const: bool, c: Mapping[str, Any], q: Any) -> Any:
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        selector = inner(c, q)
    except _Fail:
        if inner_const:
            raise
        selector = _NOT_INDEX
    if _is_num(selector):
        if not float(selector).is_integer():
            raise _Fail(f"list index must be a whole number, not {_show(selector)}")
        index = int(selector)
        if index > 0 and index <= len(items):
            return items[index - 1]
        if index < 0 and -index <= len(items):
            return items[index]
        return None
    if inner_const:
        return items if selector is True else []
    return [item for item in items if inner(_ItemContext(c, item), q) is True]


# --------------------------------------------------------------------------- functions


class _NullArg(Exception):
    """An argument was null: the function's result is null."""


def _arg(x: Any, kinds: tuple[type, ...], what: str, fname: str) -> Any:
    if x is None:
        raise _NullArg
    if not isinstance(x, kinds) or isinstance(x, bool) and bool not in kinds:
        raise _Fail(f"{fname}() expects {what}, not {_describe(x)}")
    return x


def _string(x: Any, fname: str) -> str:
    return _arg(x, (str,), "a string", fname)


def _number(x: Any, fname: str) -> int | float:
    return _dec(_arg(x, (int, float, Decimal), "a number", fname))


def _integer(x: Any, fname: str) -> int:
    n = _number(x, fname)
    if not float(n).is_integer():
        raise _Fail(f"{fname}() expects a whole number, not {_show(n)}")
    return int(n)


def _items(args: tuple[Any, ...], fname: str) -> list[Any]:
    """A list argument, or the arguments themselves (`sum([1, 2])` or `sum(1, 2)`)."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return list(args[0])
    if len(args) == 1 and args[0] is None:
        raise _NullArg
    return list(args)


def _f_not(x: Any) -> Optional[bool]:
    return (not x) if isinstance(x, bool) else None


def _f_string_length(s: Any) -> int:
    return len(_string(s, "string length"))


def _f_upper(s: Any) -> str:
    return _string(s, "upper case").upper()


def _f_lower(s: Any) -> str:
    return _string(s, "lower case").lower()


def _f_contains(s: Any, part: Any) -> bool:
    return _string(part, "contains") in _string(s, "contains")


def _f_starts_with(s: Any, part: Any) -> bool:
    return _string(s, "starts with").startswith(_string(part, "starts with"))


def _f_ends_with(s: Any, part: Any) -> bool:
    return _string(s, "ends with").endswith(_string(part, "ends with"))


def _f_substring(s: Any, start: Any, length: Any = None) -> str:
    text = _string(s, "substring")
    first = _integer(start, "substring")
    if first == 0:
        raise _Fail("substring() positions start at 1 (or count from the end when negative)")
    index = first - 1 if first > 0 else max(len(text) + first, 0)
    if length is None:
        return text[index:]
    count = _integer(length, "substring")
    if count < 0:
        raise _Fail("substring() length cannot be negative")
    return text[index:index + count]


def _f_string(x: Any) -> Optional[str]:
    if x is None:
        return None
    return x if isinstance(x, str) else _text(x)


def _f_number(x: Any) -> int | float:
    if _is_num(x):
        return x
    text = _string(x, "number").strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", text):
        return Decimal(text)
    raise _Fail(f"number() cannot read {_show(x)} as a number")


def _f_sum(*args: Any) -> Any:
    values = _items(args, "sum")
    total: Any = 0
    for v in values:
        if v is None:
            return None
        total = _add(total, _number(v, "sum"))
    return total


def _extreme(args: tuple[Any, ...], fname: str, sign: int) -> Any:
    values = _items(args, fname)
    if not values or any(v is None for v in values):
        return None
    best = values[0]
    for v in values[1:]:
        if _compare(v, best) * sign > 0:
            best = v
    return best


def _f_min(*args: Any) -> Any:
    return _extreme(args, "min", -1)


def _f_max(*args: Any) -> Any:
    return _extreme(args, "max", 1)


def _f_count(*args: Any) -> int:
    return len(_items(args, "count"))


def _f_abs(x: Any) -> Any:
    if isinstance(x, timedelta):
        return abs(x)
    if isinstance(x, YearsMonths):
        return YearsMonths(abs(x.total_months))
    return abs(_number(x, "abs"))


def _f_floor(x: Any) -> int:
    return math.floor(_number(x, "floor"))


def _f_ceiling(x: Any) -> int:
    return math.ceil(_number(x, "ceiling"))


def _parsing(fn: Callable[[str], Any], text: str) -> Any:
    try:
        return fn(text)
    except ValueError as exc:
        raise _Fail(str(exc)) from None


def _f_date(*args: Any) -> date:
    if len(args) == 3:
        try:
            return date(*(_integer(a, "date") for a in args))
        except ValueError as exc:
            raise _Fail(f"date{tuple(args)!r} is not a valid date: {exc}") from None
    if len(args) != 1:
        raise _Fail("date() takes a text, a date and time, or year, month and day")
    x = args[0]
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    text = _string(x, "date")
    if "T" in text:
        return _parsing(parse_date_time, text).date()
    return _parsing(parse_date, text)


def _f_date_time(*args: Any) -> datetime:
    if len(args) == 2:
        day, moment = args
        if day is None or moment is None:
            raise _NullArg
        if not isinstance(day, date) or not isinstance(moment, time):
            raise _Fail(f"date and time() expects a date and a time, not {_describe(day)} and {_describe(moment)}")
        d = day.date() if isinstance(day, datetime) else day
        return clock.aware(datetime.combine(d, moment))
    x = args[0]
    if isinstance(x, datetime):
        return clock.aware(x)
    if isinstance(x, date):
        return _midnight(x)
    return _parsing(parse_date_time, _string(x, "date and time"))


def _f_time(*args: Any) -> time:
    if len(args) >= 3:
        h, m, s = (_number(a, "time") for a in args[:3])
        offset = args[3] if len(args) > 3 else None
        if offset is not None and not isinstance(offset, timedelta):
            raise _Fail(f"time() expects a duration as the offset, not {_describe(offset)}")
        try:
            whole = int(s)
            value = time(int(h), int(m), whole, int(round((s - whole) * 1_000_000)))
            return value.replace(tzinfo=timezone(offset)) if offset is not None else value
        except ValueError as exc:
            raise _Fail(f"not a valid time: {exc}") from None
    if len(args) != 1:
        raise _Fail("time() takes a text, a date and time, or hour, minute and second")
    x = args[0]
    if isinstance(x, datetime):
        return x.timetz()
    if isinstance(x, date):
        return time()
    return _parsing(parse_time, _string(x, "time"))


def _f_duration(x: Any) -> timedelta | YearsMonths:
    return _parsing(parse_duration, _string(x, "duration"))


def _f_now() -> datetime:
    return clock.now().astimezone(clock.local_zone())


def _f_today() -> date:
    return clock.today()


# name -> (implementation, least arguments, most arguments, pure: may be folded at compile time)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, Optional[int], bool]] = {
    "not": (_f_not, 1, 1, True),
    "string length": (_f_string_length, 1, 1, True),
    "upper case": (_f_upper, 1, 1, True),
    "lower case": (_f_lower, 1, 1, True),
    "contains": (_f_contains, 2, 2, True),
    "starts with": (_f_starts_with, 2, 2, True),
    "ends with": (_f_ends_with, 2, 2, True),
    "substring": (_f_substring, 2, 3, True),
    "string": (_f_string, 1, 1, True),
    "number": (_f_number, 1, 1, True),
    "sum": (_f_sum, 1, None, True),
    "min": (_f_min, 1, None, True),
    "max": (_f_max, 1, None, True),
    "count": (_f_count, 1, None, True),
    "abs": (_f_abs, 1, 1, True),
    "floor": (_f_floor, 1, 1, True),
    "ceiling": (_f_ceiling, 1, 1, True),
    "date": (_f_date, 1, 3, True),
    "date and time": (_f_date_time, 1, 2, True),
    "time": (_f_time, 1, 4, True),
    "duration": (_f_duration, 1, 1, True),
    "now": (_f_now, 0, 0, False),
    "today": (_f_today, 0, 0, False),
}

_NULL_SAFE = frozenset({"not", "string", "date and time"})  # handle null arguments themselves

_HINTS = {
    "len": "use string length(text) or count(list)",
    "size": "use string length(text) or count(list)",
    "length": "use string length(text) or count(list)",
    "upper": "use upper case(text)", "lower": "use lower case(text)",
    "startsWith": "use starts with(text, prefix)", "endsWith": "use ends with(text, suffix)",
    "round": "use floor(x) or ceiling(x)", "int": "use floor(x)", "str": "use string(x)",
    "datetime": "use date and time(\"2027-01-15T09:00:00\")",
}

# --------------------------------------------------------------------------- tokens


class _Tok:
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind: str, value: Any, pos: int, text: str):
        self.kind, self.value, self.pos, self.text = kind, value, pos, text  # kind: num str name kw op end

    def is_op(self, *values: str) -> bool:
        return self.kind == "op" and self.value in values

    def is_kw(self, *values: str) -> bool:
        return self.kind == "kw" and self.value in values


_KEYWORDS = frozenset({"true", "false", "null", "if", "then", "else", "and", "or", "between", "in",
                       "for", "some", "every", "instance", "function", "return", "satisfies"})
_UNSUPPORTED = {"for": "'for' loops", "some": "'some' quantifiers", "every": "'every' quantifiers",
                "function": "function definitions", "instance": "'instance of'"}
_MULTIWORD = re.compile(r"(date\s+and\s+time|string\s+length|upper\s+case|lower\s+case|starts\s+with"
                        r"|ends\s+with)(?=\s*\()")
_OPERATORS = ("..", "**", "<=", ">=", "!=", "=", "<", ">", "+", "-", "*", "/",
              "(", ")", "[", "]", "{", "}", ",", ".", ":", "?")
_JUEL_HINTS = {"==": "use '=' for equality in FEEL", "&&": "use 'and' in FEEL", "||": "use 'or' in FEEL",
               "!": "use not(...) in FEEL"}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'", "b": "\b", "f": "\f"}
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")


def _where(source: str, index: int) -> str:
    """'at column C' (1-based), or 'at line L, column C' for multi-line text."""
    if index >= len(source):
        return "at end of expression"
    column = index - source.rfind("\n", 0, index)
    if "\n" not in source:
        return f"at column {column}"
    return f"at line {source.count(chr(10), 0, index) + 1}, column {column}"


def _error(source: str, message: str, pos: int) -> ExpressionError:
    return ExpressionError(f"{message} {_where(source, pos)}", source)


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end + 1
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            if end < 0:
                raise _error(source, "unterminated comment", i)
            i = end + 2
        elif ch.isdigit() or (ch == "." and i + 1 < n and source[i + 1].isdigit()):
            match = _NUMBER_RE.match(source, i)
            text = match.group()
            tokens.append(_Tok("num", Decimal(text) if "." in text else int(text), i, text))
            i = match.end()
        elif ch == '"':
            j, chars = i + 1, []
            while j < n and source[j] != '"':
                if source[j] == "\\" and j + 1 < n:
                    esc = source[j + 1]
                    if esc in _ESCAPES:
                        chars.append(_ESCAPES[esc])
                        j += 2
                        continue
                    if esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", source[j + 2:j + 6]):
                        chars.append(chr(int(source[j + 2:j + 6], 16)))
                        j += 6
                        continue
                    if esc == "U" and re.fullmatch(r"[0-9a-fA-F]{6}", source[j + 2:j + 8]):
                        code = int(source[j + 2:j + 8], 16)
                        if code > 0x10FFFF:
                            raise _error(source, "invalid \\U escape", j)
                        chars.append(chr(code))
                        j += 8
                        continue
                chars.append(source[j])
                j += 1
            if j >= n:
                raise _error(source, "unterminated string (a FEEL string ends with \")", i)
            tokens.append(_Tok("str", "".join(chars), i, source[i:j + 1]))
            i = j + 1
        elif ch == "'":
            raise _error(source, "FEEL strings are written in double quotes (\"...\"), not single quotes", i)
        elif ch == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise _error(source, "unterminated `name`", i)
            tokens.append(_Tok("name", source[i + 1:end], i, source[i:end + 1]))
            i = end + 1
        elif ch.isalpha() or ch == "_":
            match = _MULTIWORD.match(source, i)
            if match is not None:
                tokens.append(_Tok("name", " ".join(match.group(1).split()), i, match.group(1)))
                i = match.end()
                continue
            j = i + 1
            while j < n and (source[j].isalnum() or source[j] == "_"):
                j += 1
            word = source[i:j]
            tokens.append(_Tok("kw" if word in _KEYWORDS else "name", word, i, word))
            i = j
        elif ch in "$#" and source.startswith("{", i + 1):
            raise _error(source, "this is a JUEL expression (${...}); in a FEEL cell write the expression "
                         "without ${ }, or set the cell's expression language to juel", i)
        else:
            for hint in ("==", "&&", "||"):
                if source.startswith(hint, i):
                    raise _error(source, f"unexpected '{hint}': {_JUEL_HINTS[hint]}", i)
            if ch == "!" and not source.startswith("!=", i):
                raise _error(source, f"unexpected '!': {_JUEL_HINTS['!']}", i)
            for op in _OPERATORS:
                if source.startswith(op, i):
                    tokens.append(_Tok("op", op, i, op))
                    i += len(op)
                    break
            else:
                raise _error(source, f"unexpected character {ch!r}", i)
    tokens.append(_Tok("end", None, n, ""))
    return tokens


# --------------------------------------------------------------------------- compiled nodes

_NO_VALUE = object()


class _Node:
    """A compiled sub-expression: its closure, source position and, when constant, its value."""

    __slots__ = ("fn", "pos", "value", "kind")

    def __init__(self, fn: Fn, pos: int, value: Any = _NO_VALUE, kind: str = "expr"):
        self.fn, self.pos, self.value, self.kind = fn, pos, value, kind  # kind: expr range list

    @property
    def const(self) -> bool:
        return self.value is not _NO_VALUE


def _constant(value: Any, pos: int, kind: str = "expr") -> _Node:
    return _Node(lambda c, q: value, pos, value, kind)


def _located(fn: Callable[..., Any], pos: int) -> Callable[..., Any]:
    """Wrap an operation so that a failure inside it carries `pos`."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except _Fail as exc:
            if exc.pos is None:
                exc.pos = pos
            raise
        except (DivisionByZero, ZeroDivisionError):
            raise _Fail("division by zero", pos) from None
        except (Overflow, OverflowError):
            raise _Fail("number too large", pos) from None
        except InvalidOperation:
            raise _Fail("invalid arithmetic", pos) from None

    return run


Pred = Callable[[Mapping[str, Any], Any], Optional[bool]]  # (context, value tested) -> true/false/null


class _Test:
    """One positive unary test: its predicate and, for a constant equality test, the constant."""

    __slots__ = ("pred", "value")

    def __init__(self, pred: Pred, value: Any = _NO_VALUE):
        self.pred, self.value = pred, value


def _any_of(tests: list[_Test]) -> Pred:
    if len(tests) == 1:
        return tests[0].pred
    preds = [t.pred for t in tests]

    def pred(c: Mapping[str, Any], v: Any) -> Optional[bool]:
        unknown = False
        for p in preds:
            r = p(c, v)
            if r is True:
                return True
            if r is None:
                unknown = True
        return None if unknown else False

    return pred


# --------------------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, source: str, *, unary: bool, input_variable: Optional[str]):
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0
        self.depth = 0
        self.unary_mode = unary
        self.input_variable = input_variable
        self.input_refs = 0
        self.names: set[str] = set()
        self.no_filter = False  # inside a range's end: '[' closes the range, it is no filter
        self.in_depth = 0  # inside the tests after `in`, where '?' is the value tested

    # -- token helpers

    def error(self, message: str, pos: int) -> ExpressionError:
        return _error(self.source, message, pos)

    def peek(self, ahead: int = 0) -> _Tok:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> _Tok:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def unexpected(self, tok: _Tok, expected: str = "") -> ExpressionError:
        tail = f" (expected {expected})" if expected else ""
        if tok.kind == "end":
            return ExpressionError(f"incomplete: the text ends where {expected or 'more'} was expected", self.source)
        if tok.is_kw(*_UNSUPPORTED):
            return self.error(f"{_UNSUPPORTED[tok.value]} are not supported", tok.pos)
        return self.error(f"unexpected {tok.text!r}{tail}", tok.pos)

    def expect_op(self, value: str) -> _Tok:
        tok = self.next()
        if not tok.is_op(value):
            raise self.unexpected(tok, f"'{value}'")
        return tok

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())

    def fold(self, fn: Fn, pos: int, parts: list[_Node], pure: bool = True, kind: str = "expr") -> _Node:
        """A node for `fn`; computed now when every part is constant (errors become compile errors)."""
        if pure and all(p.const for p in parts):
            try:
                value = fn(_EMPTY, None)
            except _Fail as exc:
                raise self.error(exc.message, pos if exc.pos is None else exc.pos) from None
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise self.error(str(exc) or type(exc).__name__, pos) from None
            return _constant(value, pos, kind)
        return _Node(fn, pos, kind=kind)

    def nested(self, parse: Callable[[], Any]) -> Any:
        """Parse inside brackets: '[' is a filter again."""
        saved, self.no_filter = self.no_filter, False
        try:
            return parse()
        finally:
            self.no_filter = saved

    # -- unary tests

    def unary_tests(self) -> tuple[Pred, tuple[Any, ...] | None]:
        """The whole cell: `not(tests)` or tests separated by commas."""
        tok = self.peek()
        if tok.kind == "name" and tok.value == "not" and self.peek(1).is_op("("):
            self.next()
            self.next()
            tests = self.nested(self.test_list)
            self.expect_op(")")
            if self.peek().kind != "end":
                raise self.error("not(...) must enclose the whole entry: write not(\"a\", \"b\")",
                                 self.peek().pos)
            inner = _any_of(tests)

            def negated(c: Mapping[str, Any], v: Any) -> Optional[bool]:
                r = inner(c, v)
                return None if r is None else not r

            return negated, None
        tests = self.test_list()
        self.expect_end()
        values = tuple(t.value for t in tests) if all(t.value is not _NO_VALUE for t in tests) else None
        return _any_of(tests), values

    def test_list(self) -> list[_Test]:
        tests = [self.positive_test()]
        while self.peek().is_op(","):
            self.next()
            tests.append(self.positive_test())
        return tests

    def positive_test(self) -> _Test:
        tok = self.peek()
        if tok.is_op("<", "<=", ">", ">=", "=", "!="):
            self.next()
            if self.peek().kind == "end" or self.peek().is_op(",", ")"):
                raise self.unexpected(self.peek(), f"a value after '{tok.value}'")
            endpoint = self.additive()
            compare = _located(_COMPARE[tok.value], tok.pos)
            if endpoint.const:
                bound = endpoint.value
                if tok.value in ("<", "<=", ">", ">=") and isinstance(bound, (bool, list, tuple, Mapping)):
                    raise self.error(f"cannot compare with {_describe(bound)} using '{tok.value}'", endpoint.pos)
                return _Test(lambda c, v: compare(v, bound))
            efn = endpoint.fn
            return _Test(lambda c, v: compare(v, efn(c, v)))
        if tok.kind == "end" or tok.is_op(","):
            raise self.unexpected(tok, "a value or a test")
        refs = self.input_refs
        node = self.expression()
        fn = node.fn
        if self.input_refs > refs:  # uses the input: a condition
            return _Test(lambda c, v: fn(c, v) is True)
        if node.const:
            value = node.value
            if isinstance(value, Range):
                return _Test(lambda c, v: _in_range(value, v))
            if isinstance(value, (list, tuple)):
                return _Test(lambda c, v: _member(v, value))
            if isinstance(value, str):
                return _Test(lambda c, v: v == value if type(v) is str else _eq(v, value), value)
            return _Test(lambda c, v: _eq(v, value), value)

        def dynamic(c: Mapping[str, Any], v: Any) -> Optional[bool]:
            x = fn(c, v)
            if isinstance(x, Range):
                return _in_range(x, v)
            if isinstance(x, (list, tuple)):
                return _member(v, x)
            if isinstance(x, bool) and not isinstance(v, bool):
                return x
            return _eq(v, x)

        return _Test(_located(dynamic, node.pos))

    # -- expressions

    def expression(self) -> _Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("expression nested too deeply", self.peek().pos)
        tok = self.peek()
        if tok.is_kw("if"):
            node = self.if_expression()
        elif tok.is_kw(*_UNSUPPORTED):
            raise self.unexpected(tok)
        else:
            node = self.disjunction()
        self.depth -= 1
        return node

    def if_expression(self) -> _Node:
        tok = self.next()
        cond = self.expression()
        then_tok = self.next()
        if not then_tok.is_kw("then"):
            raise self.unexpected(then_tok, "'then'")
        body = self.expression()
        else_tok = self.next()
        if not else_tok.is_kw("else"):
            raise self.unexpected(else_tok, "'else'")
        other = self.expression()
        cf, bf, of = cond.fn, body.fn, other.fn
        if cond.const:
            return body if cond.value is True else other
        return _Node(lambda c, q: bf(c, q) if cf(c, q) is True else of(c, q), tok.pos)

    def disjunction(self) -> _Node:
        left = self.conjunction()
        while self.peek().is_kw("or"):
            tok = self.next()
            right = self.conjunction()
            lf, rf = left.fn, right.fn

            def either(c: Mapping[str, Any], q: Any, lf: Fn = lf, rf: Fn = rf) -> Optional[bool]:
                a = lf(c, q)
                if a is True:
                    return True
                b = rf(c, q)
                if b is True:
                    return True
                return False if a is False and b is False else None

            left = self.fold(either, tok.pos, [left, right])
        return left

    def conjunction(self) -> _Node:
        left = self.comparison()
        while self.peek().is_kw("and"):
            tok = self.next()
            right = self.comparison()
            lf, rf = left.fn, right.fn

            def both(c: Mapping[str, Any], q: Any, lf: Fn = lf, rf: Fn = rf) -> Optional[bool]:
                a = lf(c, q)
                if a is False:
                    return False
                b = rf(c, q)
                if b is False:
                    return False
                return True if a is True and b is True else None

            left = self.fold(both, tok.pos, [left, right])
        return left

    def comparison(self) -> _Node:
        left = self.additive()
        tok = self.peek()
        lf = left.fn
        if tok.is_op("=", "!=", "<", "<=", ">", ">="):
            self.next()
            right = self.additive()
            op, rf = _located(_COMPARE[tok.value], tok.pos), right.fn
            return self.fold(lambda c, q: op(lf(c, q), rf(c, q)), tok.pos, [left, right])
        if tok.is_kw("between"):
            self.next()
            low = self.additive()
            and_tok = self.next()
            if not and_tok.is_kw("and"):
                raise self.unexpected(and_tok, "'and'")
            high = self.additive()
            ge, le = _located(_ge, tok.pos), _located(_le, tok.pos)
            lo_f, hi_f = low.fn, high.fn

            def between(c: Mapping[str, Any], q: Any) -> Optional[bool]:
                v = lf(c, q)
                a, b = ge(v, lo_f(c, q)), le(v, hi_f(c, q))
                if a is False or b is False:
                    return False
                return True if a and b else None

            return self.fold(between, tok.pos, [left, low, high])
        if tok.is_kw("in"):
            self.next()
            parts_before = self.i
            self.in_depth += 1
            pred = self.in_target()
            self.in_depth -= 1
            located = _located(pred, tok.pos)
            node = _Node(lambda c, q: located(c, lf(c, q)), tok.pos)
            if left.const and self._constant_tokens(parts_before):
                return self.fold(node.fn, tok.pos, [left])
            return node
        if tok.is_kw("instance"):
            raise self.unexpected(tok)
        return left

    def _constant_tokens(self, start: int) -> bool:
        """Whether tokens[start:self.i] hold no name, '?' or impure call (so they can be folded)."""
        for tok in self.tokens[start:self.i]:
            if tok.kind == "name" and (tok.value not in FUNCTIONS or not FUNCTIONS[tok.value][3]):
                return False
            if tok.is_op("?"):
                return False
        return True

    def in_target(self) -> Pred:
        """After `in`: a parenthesised list of positive unary tests, or one of them."""
        if self.peek().is_op("("):
            start = self.i
            self.next()
            tests = self.nested(self.test_list)
            if self.peek().is_op(".."):  # `x in (1..5)`: the '(' opened a range
                self.i = start
                return self.positive_test().pred
            self.expect_op(")")
            return _any_of(tests)
        return self.positive_test().pred

    def additive(self) -> _Node:
        left = self.multiplicative()
        while self.peek().is_op("+", "-"):
            tok = self.next()
            right = self.multiplicative()
            left = self.binary(tok, left, right)
        return left

    def multiplicative(self) -> _Node:
        left = self.power()
        while self.peek().is_op("*", "/"):
            tok = self.next()
            right = self.power()
            left = self.binary(tok, left, right)
        return left

    def power(self) -> _Node:
        left = self.unary()
        while self.peek().is_op("**"):
            tok = self.next()
            right = self.unary()
            left = self.binary(tok, left, right)
        return left

    def binary(self, tok: _Tok, left: _Node, right: _Node) -> _Node:
        op, lf, rf = _located(_ARITHMETIC[tok.value], tok.pos), left.fn, right.fn
        return self.fold(lambda c, q: op(lf(c, q), rf(c, q)), tok.pos, [left, right])

    def unary(self) -> _Node:
        if self.peek().is_op("-"):
            tok = self.next()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.error("expression nested too deeply", tok.pos)
            operand = self.unary()
            self.depth -= 1
            op, of = _located(_neg, tok.pos), operand.fn
            return self.fold(lambda c, q: op(of(c, q)), tok.pos, [operand])
        return self.postfix()

    def postfix(self) -> _Node:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok.is_op("."):
                self.next()
                name = self.next()
                if name.kind not in ("name", "kw"):
                    raise self.unexpected(name, "a name after '.'")
                key, base = name.value, node.fn
                path = _located(_path, name.pos)
                node = self.fold(lambda c, q, key=key, base=base: path(base(c, q), key), name.pos, [node])
            elif tok.is_op("[") and not self.no_filter:
                self.next()
                inner = self.nested(self.expression)
                self.expect_op("]")
                base, inner_fn, inner_const = node.fn, inner.fn, inner.const
                select = _located(_select, tok.pos)
                node = self.fold(
                    lambda c, q, base=base, f=inner_fn, k=inner_const: select(base(c, q), f, k, c, q),
                    tok.pos, [node, inner])
            else:
                return node

    def primary(self) -> _Node:
        tok = self.next()
        if tok.kind in ("num", "str"):
            return _constant(tok.value, tok.pos)
        if tok.kind == "kw":
            if tok.value in ("true", "false", "null"):
                return _constant({"true": True, "false": False, "null": None}[tok.value], tok.pos)
            if tok.value == "if":
                self.i -= 1
                return self.expression()
            raise self.unexpected(tok)
        if tok.kind == "name":
            if self.peek().is_op("("):
                return self.call(tok)
            if self.unary_mode and tok.value == self.input_variable:
                self.input_refs += 1
                return _Node(lambda c, q: q, tok.pos)
            name = tok.value
            self.names.add(name)
            return _Node(lambda c, q: c.get(name), tok.pos)
        if tok.is_op("?"):
            if not self.unary_mode and not self.in_depth:
                raise self.error("'?' (the input value) can only be used in an input entry", tok.pos)
            self.input_refs += 1
            return _Node(lambda c, q: q, tok.pos)
        if tok.is_op("("):
            inner = self.nested(self.expression)
            if self.peek().is_op(".."):
                return self.range_rest(inner, False, tok.pos)
            self.expect_op(")")
            return inner
        if tok.is_op("["):
            if self.peek().is_op("]"):
                self.next()
                return _constant([], tok.pos, "list")
            first = self.nested(self.expression)
            if self.peek().is_op(".."):
                return self.range_rest(first, True, tok.pos)
            items = [first]
            while self.peek().is_op(","):
                self.next()
                items.append(self.nested(self.expression))
            self.expect_op("]")
            fns = [item.fn for item in items]
            return self.fold(lambda c, q: [f(c, q) for f in fns], tok.pos, items, kind="list")
        if tok.is_op("]"):
            start = self.nested(self.additive)
            if not self.peek().is_op(".."):
                raise self.unexpected(self.peek(), "'..' in a range such as ]1..10[")
            return self.range_rest(start, False, tok.pos)
        if tok.is_op("{"):
            return self.context(tok)
        if tok.is_op("<", "<=", ">", ">=") and not self.unary_mode and self.i == 1:
            raise self.error(f"'{tok.value} ...' is a unary test: it is only allowed in an input entry "
                             "or after 'in'", tok.pos)
        raise self.unexpected(tok, "a value")

    def range_rest(self, start: _Node, start_included: bool, pos: int) -> _Node:
        self.expect_op("..")
        saved, self.no_filter = self.no_filter, True
        try:
            end = self.additive()
        finally:
            self.no_filter = saved
        close = self.next()
        if close.is_op("]"):
            end_included = True
        elif close.is_op("[", ")"):
            end_included = False
        else:
            raise self.unexpected(close, "']', '[' or ')' to close the range")
        sf, ef = start.fn, end.fn
        check = _located(_compare, pos)

        def make(c: Mapping[str, Any], q: Any) -> Range:
            a, b = sf(c, q), ef(c, q)
            check(a, b)  # the ends must be of one comparable kind
            return Range(a, b, start_included, end_included)

        return self.fold(make, pos, [start, end], kind="range")

    def context(self, tok: _Tok) -> _Node:
        entries: list[tuple[str, _Node]] = []
        if self.peek().is_op("}"):
            self.next()
            return _constant({}, tok.pos)
        while True:
            key_tok = self.next()
            if key_tok.kind not in ("name", "str", "kw"):
                raise self.unexpected(key_tok, "a key")
            self.expect_op(":")
            entries.append((key_tok.value, self.nested(self.expression)))
            sep = self.next()
            if sep.is_op("}"):
                break
            if not sep.is_op(","):
                raise self.unexpected(sep, "',' or '}'")
        keys = [k for k, _ in entries]
        fns = [node.fn for _, node in entries]
        return self.fold(lambda c, q: dict(zip(keys, (f(c, q) for f in fns))), tok.pos,
                         [node for _, node in entries])

    def call(self, tok: _Tok) -> _Node:
        name = tok.value
        spec = FUNCTIONS.get(name)
        if spec is None:
            hint = _HINTS.get(name)
            raise self.error(f"unknown function '{name}'" + (f": {hint}" if hint else ""), tok.pos)
        impl, least, most, pure = spec
        self.expect_op("(")
        args: list[_Node] = []
        if not self.peek().is_op(")"):
            while True:
                if self.peek().kind == "name" and self.peek(1).is_op(":"):
                    raise self.error("named arguments are not supported", self.peek().pos)
                args.append(self.nested(self.expression))
                if not self.peek().is_op(","):
                    break
                self.next()
        self.expect_op(")")
        if len(args) < least or (most is not None and len(args) > most):
            if least == most:
                wanted = f"{least} argument" + ("s" if least != 1 else "")
            elif most is None:
                wanted = f"at least {least} argument" + ("s" if least != 1 else "")
            else:
                wanted = f"{least} to {most} arguments"
            raise self.error(f"{name}() takes {wanted}, not {len(args)}", tok.pos)
        fns = [a.fn for a in args]
        null_safe = name in _NULL_SAFE or name in ("sum", "min", "max", "count", "date", "time")

        def invoke(*values: Any) -> Any:
            if not null_safe and any(v is None for v in values):
                return None
            try:
                return impl(*values)
            except _NullArg:
                return None

        run = _located(invoke, tok.pos)
        if len(fns) == 1:
            f0 = fns[0]
            fn: Fn = lambda c, q: run(f0(c, q))
        elif not fns:
            fn = lambda c, q: run()
        else:
            fn = lambda c, q: run(*[f(c, q) for f in fns])
        return self.fold(fn, tok.pos, args, pure=pure)


# --------------------------------------------------------------------------- public API


def _run_error(source: str, exc: BaseException) -> ExpressionError:
    if isinstance(exc, _Fail):
        where = f" {_where(source, exc.pos)}" if exc.pos is not None else ""
        return ExpressionError(f"{exc.message}{where}", source)
    if isinstance(exc, RecursionError):
        return ExpressionError("value nested too deeply", source)
    return ExpressionError(str(exc) or type(exc).__name__, source)


_RUN_ERRORS = (_Fail, ArithmeticError, ValueError, TypeError, RecursionError)


class FeelExpression:
    """A compiled FEEL expression: `evaluate(context)` gives its value."""

    __slots__ = ("source", "names", "_fn")

    def __init__(self, source: str, names: frozenset[str], fn: Fn):
        self.source = source
        self.names = names  # the variable names it reads
        self._fn = fn

    def evaluate(self, context: Optional[Mapping[str, Any]] = None) -> Any:
        """The value over `context` (a missing name is null); ExpressionError if that fails."""
        try:
            return _export(self._fn(_EMPTY if context is None else context, None))
        except _RUN_ERRORS as exc:
            raise _run_error(self.source, exc) from None

    def __repr__(self) -> str:
        return f"FeelExpression({self.source!r})"


class UnaryTests:
    """A compiled input entry: `matches(value, context)` says whether the input value passes."""

    __slots__ = ("source", "names", "is_any", "values", "_pred")

    def __init__(self, source: str, names: frozenset[str], pred: Optional[Pred],
                 values: Optional[tuple[Any, ...]]):
        self.source = source
        self.names = names  # the variable names it reads (besides the input)
        self.is_any = pred is None  # '-' or empty: every value matches
        self.values = None if values is None else tuple(_export(v) for v in values)  # the constants, when the entry is only a list of constants ("a","b")
        self._pred = pred

    def matches(self, value: Any, context: Optional[Mapping[str, Any]] = None) -> bool:
        if self._pred is None:
            return True
        try:
            return self._pred(_EMPTY if context is None else context, value) is True
        except _RUN_ERRORS as exc:
            raise _run_error(self.source, exc) from None

    def __repr__(self) -> str:
        return f"UnaryTests({self.source!r})"


def _check_text(source: Any, what: str) -> str:
    if not isinstance(source, str):
        raise ExpressionError(f"{what} must be text, not {type(source).__name__}")
    return source


@functools.lru_cache(maxsize=8192)
def compile_expression(source: str) -> FeelExpression:
    """Compile a FEEL expression at deploy time; ExpressionError (with the column) if it is wrong."""
    _check_text(source, "a FEEL expression")
    if not source.strip():
        raise ExpressionError("empty expression", source)
    try:
        parser = _Parser(source, unary=False, input_variable=None)
        node = parser.expression()
        parser.expect_end()
    except RecursionError:
        raise ExpressionError("expression nested too deeply", source) from None
    return FeelExpression(source, frozenset(parser.names), node.fn)


@functools.lru_cache(maxsize=8192)
def compile_unary_tests(source: str, input_variable: str = "cellInput") -> UnaryTests:
    """Compile an input entry at deploy time; `-` or empty text matches anything.

    `input_variable` is the name under which the entry can also refer to the input value
    (Camunda's `camunda:inputVariable`, `cellInput` by default), like `?`.
    """
    _check_text(source, "an input entry")
    text = source.strip()
    if text in ("", "-"):
        return UnaryTests(source, frozenset(), None, None)
    try:
        parser = _Parser(source, unary=True, input_variable=input_variable)
        pred, values = parser.unary_tests()
    except RecursionError:
        raise ExpressionError("expression nested too deeply", source) from None
    return UnaryTests(source, frozenset(parser.names), pred, values)
