"""FEEL values and their semantics (DMN 1.5 chapter 10): the value types, reading and writing
temporal text, equality, ordering, arithmetic and properties.

Inside FEEL, numbers are `Decimal` (34 significant digits, as FEEL's decimal128), strings `str`,
booleans `bool`, dates `date`, date and times `datetime` (naive when written without an offset:
dalad reads those as local time when they leave FEEL), times `time`, days-and-time durations
`timedelta`, years-and-months durations `YearsMonths`, lists `list`, contexts `dict`, ranges `Range`
and functions `Function`.  An operation on values it is not defined for gives null (FEEL's rule),
never a Python exception.
"""
from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Context, Decimal, DecimalException
from typing import Any, Callable, Mapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import clock

DEC = Context(prec=34, rounding=ROUND_HALF_EVEN, Emax=6144, Emin=-6143, traps=[])
MAX_ITEMS = 1_000_000  # the longest list or string FEEL may build
_MAX_EXPONENT = 6144


class Fail(Exception):
    """An operation that is not defined for its operands; turned into null where FEEL says so."""


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


class _NullEnd:
    """The end of a range written as null (`[null..10]`): nothing lies in such a range."""

    def __repr__(self) -> str:
        return "null"


NULL_END = _NullEnd()


@dataclass(frozen=True)
class Range:
    """A FEEL range such as `[1..10]` or `]0..100[`; an end that is None is unbounded (`< 10`),
    one that is NULL_END was written as null."""

    start: Any
    end: Any
    start_included: bool = True
    end_included: bool = True

    def __str__(self) -> str:
        if self.start is None and self.end is not None:
            return ("<=" if self.end_included else "<") + " " + literal(self.end)
        if self.end is None and self.start is not None:
            return (">=" if self.start_included else ">") + " " + literal(self.start)
        return (("[" if self.start_included else "(") + literal(self.start) + ".." + literal(self.end)
                + ("]" if self.end_included else ")"))


class Function:
    """A FEEL function value: a user function (`function(a, b) a + b`, a BKM) or a built-in.

    `call(args, named)` gives the result; `params` are the parameter names (None: any number)."""

    __slots__ = ("name", "params", "types", "body", "builtin")

    def __init__(self, name: str, params: Optional[list[str]], body: Callable[..., Any],
                 types: Optional[list[Any]] = None, builtin: bool = False):
        self.name, self.params, self.body, self.types, self.builtin = name, params, body, types, builtin

    def __repr__(self) -> str:
        return f"function {self.name}({', '.join(self.params or ['...'])})"


# --------------------------------------------------------------------------- numbers


def is_num(x: Any) -> bool:
    return isinstance(x, (int, float, Decimal)) and not isinstance(x, bool)


def num(x: Any) -> Decimal:
    """A number as a Decimal (floats by their shortest repr)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            raise Fail(f"{x!r} is not a number")
        return Decimal(repr(x))
    return Decimal(x)


def checked(x: Decimal) -> Optional[Decimal]:
    """A computed number, or null when it is not finite or out of decimal128's range."""
    if not x.is_finite() or (x and abs(x.adjusted()) > _MAX_EXPONENT):
        return None
    return DEC.plus(x)


def from_python(x: Any) -> Any:
    """A value from outside (variables) as FEEL holds it: numbers as Decimal, deeply."""
    if isinstance(x, bool) or x is None or isinstance(x, (str, Decimal)):
        return x
    if isinstance(x, int):
        return Decimal(x)
    if isinstance(x, float):
        return Decimal(repr(x)) if math.isfinite(x) else None
    if isinstance(x, (list, tuple)):
        return [from_python(v) for v in x]
    if isinstance(x, Mapping) and not isinstance(x, dict) or isinstance(x, dict):
        return {str(k): from_python(v) for k, v in x.items()}
    return x


def to_python(x: Any) -> Any:
    """A FEEL value as it leaves FEEL: whole Decimals become int, others float; a date and time
    without an offset becomes local time; deeply."""
    if isinstance(x, Decimal):
        if x.is_finite() and x == x.to_integral_value() and x.adjusted() < 18:
            return int(x)
        return float(x)
    if isinstance(x, datetime):
        return clock.aware(x)
    if isinstance(x, list):
        return [to_python(v) for v in x]
    if isinstance(x, dict):
        return {k: to_python(v) for k, v in x.items()}
    if isinstance(x, Range):
        return Range(to_python(x.start), to_python(x.end), x.start_included, x.end_included)
    return x


# --------------------------------------------------------------------------- kinds and text


def kind(x: Any) -> str:
    """The FEEL type of a value."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if is_num(x):
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
        return "days and time duration"
    if isinstance(x, YearsMonths):
        return "years and months duration"
    if isinstance(x, (list, tuple)):
        return "list"
    if isinstance(x, Mapping):
        return "context"
    if isinstance(x, Range):
        return "range"
    if isinstance(x, Function):
        return "function"
    return type(x).__name__


def literal(x: Any) -> str:
    """A value written as FEEL would (strings quoted)."""
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text(x)


def describe(x: Any) -> str:
    """A value for an error message: its FEEL type and its text (`string "abc"`, `null`)."""
    if x is None:
        return "null"
    shown = literal(x)
    return f"{kind(x)} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def iso_duration(d: timedelta) -> str:
    micro = d.days * 86_400_000_000 + d.seconds * 1_000_000 + d.microseconds
    sign = "-" if micro < 0 else ""
    seconds, micro = divmod(abs(micro), 1_000_000)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    out = f"{sign}P" + (f"{days}D" if days else "")
    clock_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micro:
        clock_part += f"{seconds}.{micro:06d}".rstrip("0").rstrip(".") + "S"
    if clock_part:
        out += "T" + clock_part
    return out if out not in ("P", "-P") else "PT0S"


def _zone_text(value: datetime | time) -> str:
    zone = value.tzinfo
    if zone is None:
        return ""
    if isinstance(zone, ZoneInfo):
        return "@" + zone.key
    offset = value.utcoffset() if isinstance(value, datetime) else zone.utcoffset(None)
    if offset == timedelta(0):
        return "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    seconds = abs(int(offset.total_seconds())) % 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}" + (f":{seconds:02d}" if seconds else "")


def _clock_text(value: datetime | time) -> str:
    out = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if value.microsecond:
        out += f".{value.microsecond:06d}".rstrip("0")
    return out + _zone_text(value)


def _date_text(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}" if d.year >= 0 else f"-{-d.year:04d}-{d.month:02d}-{d.day:02d}"


def number_text(x: Decimal) -> str:
    if x == x.to_integral_value() and abs(x.adjusted()) < 40:
        return str(x.quantize(Decimal(1)))
    return format(x.normalize(), "f")


def text(x: Any) -> str:
    """A value as FEEL's string() writes it."""
    if x is None:
        return "null"
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if is_num(x):
        return number_text(num(x))
    if isinstance(x, datetime):
        return _date_text(x) + "T" + _clock_text(x)
    if isinstance(x, date):
        return _date_text(x)
    if isinstance(x, time):
        return _clock_text(x)
    if isinstance(x, timedelta):
        return iso_duration(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in x) + "]"
    if isinstance(x, Mapping):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in x.items()) + "}"
    return str(x)


# --------------------------------------------------------------------------- temporal text

_DATE_RE = re.compile(r"(-?(?:\d{4}|[1-9]\d{4,8}))-(\d{2})-(\d{2})")
_TIME_RE = re.compile(
    r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2}(?::\d{2})?|@[A-Za-z][A-Za-z0-9_+\-/]*)?")
_LOOSE_TIME_RE = re.compile(
    r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2}|@[A-Za-z][A-Za-z0-9_+\-/]*)?")
_DURATION_RE = re.compile(r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                          r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?")


def parse_date(value: str) -> date:
    """A FEEL date string 'YYYY-MM-DD'; ValueError saying what is wrong otherwise."""
    match = _DATE_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a date (expected YYYY-MM-DD, e.g. \"2027-01-15\")")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date: {exc}") from None


def _zone(zone_text: Optional[str], value: str) -> Optional[tzinfo]:
    if not zone_text:
        return None
    if zone_text in ("Z", "z"):
        return timezone.utc
    if zone_text.startswith("@"):
        try:
            return ZoneInfo(zone_text[1:])
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r}: unknown time zone {zone_text[1:]!r}") from None
    sign = -1 if zone_text[0] == "-" else 1
    digits = zone_text[1:].replace(":", "")
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4]), int(digits[4:6] or 0)
    if hours > 18 or minutes > 59:
        raise ValueError(f"{value!r}: invalid offset {zone_text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))


def _micro(fraction: Optional[str]) -> int:
    return int((fraction or "").ljust(6, "0")[:6] or 0)


def _time_from(match: re.Match, value: str, strict: bool) -> time:
    try:
        result = time(int(match[1]), int(match[2]), int(match[3] or 0), _micro(match[4]))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid time: {exc}") from None
    zone = _zone(match[5], value)
    if zone is not None and not strict and isinstance(zone, ZoneInfo):
        zone = timezone(datetime.combine(clock.today(), result, zone).utcoffset())
    return result.replace(tzinfo=zone) if zone else result


def feel_time(value: str) -> time:
    """FEEL's time("...") (strict: HH:MM:SS, a named zone kept)."""
    match = _TIME_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a time (expected HH:MM:SS, e.g. \"09:30:00\")")
    return _time_from(match, value, True)


def parse_time(value: str) -> time:
    """A time string 'HH:MM[:SS]' with optional fraction and offset (Z, +08:00, @Asia/Shanghai)."""
    match = _LOOSE_TIME_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a time (expected HH:MM:SS, e.g. \"09:30:00\")")
    return _time_from(match, value, False)


def feel_date_time(value: str) -> datetime:
    """FEEL's date and time("...") (a date alone is midnight); naive when there is no offset."""
    day_text, sep, time_text = value.partition("T")
    if not _DATE_RE.fullmatch(day_text):
        raise ValueError(f"{value!r} is not a date and time (expected YYYY-MM-DDTHH:MM:SS, "
                         "e.g. \"2027-01-15T09:30:00\" or \"2027-01-15T09:30:00+08:00\")")
    day = parse_date(day_text)
    if not sep:
        return datetime.combine(day, time())
    match = _TIME_RE.fullmatch(time_text)
    if match is None:
        raise ValueError(f"{value!r} is not a date and time (expected YYYY-MM-DDTHH:MM:SS)")
    if match[1] == "24" and match[2] == "00" and match[3] == "00" and not match[4]:
        day, match_hour = day + timedelta(days=1), 0
    else:
        match_hour = int(match[1])
    try:
        result = datetime(day.year, day.month, day.day, match_hour, int(match[2]), int(match[3]),
                          _micro(match[4]))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date and time: {exc}") from None
    zone = _zone(match[5], value)
    return result.replace(tzinfo=zone) if zone else result


def parse_date_time(value: str) -> datetime:
    """A date-and-time string 'YYYY-MM-DDTHH:MM[:SS][offset]' (a date alone means midnight);
    without an offset it is local time (engine.clock)."""
    stripped = value.strip()
    day_text, sep, time_text = stripped.partition("T")
    if not _DATE_RE.fullmatch(day_text):
        raise ValueError(f"{value!r} is not a date and time (expected YYYY-MM-DDTHH:MM:SS, "
                         "e.g. \"2027-01-15T09:30:00\" or \"2027-01-15T09:30:00+08:00\")")
    day = parse_date(day_text)
    if not sep:
        return datetime.combine(day, time(), tzinfo=clock.local_zone())
    moment = parse_time(time_text)
    result = datetime.combine(day, moment.replace(tzinfo=None))
    return result.replace(tzinfo=moment.tzinfo) if moment.tzinfo else clock.aware(result)


def parse_duration(value: str) -> timedelta | YearsMonths:
    """A FEEL duration: days and time ('P1DT2H30M', 'PT15M', '-P2D') as a timedelta, or years and
    months ('P1Y6M') as YearsMonths.  The two kinds cannot be mixed ('P1Y2D' is refused)."""
    stripped = value.strip()
    match = _DURATION_RE.fullmatch(stripped)
    if match is None or not any(match[i] for i in range(2, 9)) or stripped.endswith("T"):
        raise ValueError(f"{value!r} is not a duration (expected e.g. \"P1D\", \"PT2H30M\", \"P1Y6M\")")
    if (match[2] or match[3]) and any(match[i] for i in range(4, 9)):
        raise ValueError(f"{value!r} mixes years or months with days or time: FEEL keeps the two kinds "
                         "of duration apart; write two durations")
    if match[2] or match[3]:
        months = int(match[2] or 0) * 12 + int(match[3] or 0)
        return YearsMonths(-months if match[1] else months)
    seconds = Decimal(match[8] or 0)
    try:
        result = timedelta(weeks=int(match[4] or 0), days=int(match[5] or 0), hours=int(match[6] or 0),
                           minutes=int(match[7] or 0), seconds=int(seconds),
                           microseconds=int((seconds % 1) * 1_000_000))
    except OverflowError:
        raise ValueError(f"duration {value!r} is too large") from None
    return -result if match[1] else result


def at_literal(value: str) -> Any:
    """The value of `@"..."`: a date, date and time, time or duration by its form."""
    if value.startswith(("P", "-P")):
        return parse_duration(value)
    if "T" in value:
        return feel_date_time(value)
    if _DATE_RE.fullmatch(value):
        return parse_date(value)
    return feel_time(value)


# --------------------------------------------------------------------------- equality and order


def _instant(x: datetime) -> datetime:
    return clock.aware(x)


def _time_key(t: time) -> Any:
    """A time as comparable milliseconds (with its offset applied when it has one)."""
    seconds = t.hour * 3600 + t.minute * 60 + t.second + t.microsecond // 1000 / 1000
    offset = t.utcoffset() if t.tzinfo is not None and not isinstance(t.tzinfo, ZoneInfo) else None
    if isinstance(t.tzinfo, ZoneInfo):
        offset = datetime.combine(clock.today(), t).utcoffset()
    return seconds - (offset.total_seconds() if offset else 0)


def _temporal_text(value: str) -> Optional[date]:
    """An ISO date or date-and-time text as a value (dalad reads those beside dates), else None."""
    try:
        return feel_date_time(value.strip()) if "T" in value else parse_date(value)
    except ValueError:
        return None


def _pair(a: Any, b: Any) -> Optional[tuple[Any, Any]]:
    """Two values of one ordered kind made comparable, or None.  Beyond the standard, as dalad's
    other expressions do: a date beside a date and time is its midnight (local time when the
    other has an offset), and an ISO text beside a date or date and time is read as one."""
    ka, kb = kind(a), kind(b)
    if ka != kb:
        if {ka, kb} == {"date", "date and time"}:
            if ka == "date":
                return _pair(datetime.combine(a, time(), b.tzinfo and clock.local_zone()), b)
            return _pair(a, datetime.combine(b, time(), a.tzinfo and clock.local_zone()))
        if ka == "string" and kb in ("date", "date and time"):
            parsed = _temporal_text(a)
            return None if parsed is None else _pair(parsed, b)
        if kb == "string" and ka in ("date", "date and time"):
            parsed = _temporal_text(b)
            return None if parsed is None else _pair(a, parsed)
        return None
    if ka == "number":
        return num(a), num(b)
    if ka == "date and time":
        a, b = a.replace(microsecond=a.microsecond // 1000 * 1000), b.replace(microsecond=b.microsecond // 1000 * 1000)
        if (a.tzinfo is None) == (b.tzinfo is None):
            return (a, b) if a.tzinfo is None else (a.astimezone(timezone.utc), b.astimezone(timezone.utc))
        return _instant(a), _instant(b)
    if ka == "time":
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        return _time_key(a), _time_key(b)
    if ka in ("string", "date", "days and time duration", "years and months duration"):
        return a, b
    return None


def equal(a: Any, b: Any) -> Optional[bool]:
    """FEEL `=`: null = null; values of different kinds give null; lists and contexts deeply."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else None
    ka, kb = kind(a), kind(b)
    if ka != kb:
        pair = _pair(a, b)
        return None if pair is None else pair[0] == pair[1]
    if ka == "list":
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            r = equal(x, y)
            if r is not True:
                return r
        return True
    if ka == "context":
        if a.keys() != b.keys():
            return False
        for k in a:
            r = equal(a[k], b[k])
            if r is not True:
                return r
        return True
    if ka == "range":
        return (a.start_included == b.start_included and a.end_included == b.end_included
                and _same_end(a.start, b.start) and _same_end(a.end, b.end))
    if ka == "function":
        return a is b
    pair = _pair(a, b)
    if pair is None:
        return None
    return pair[0] == pair[1]


def _same_end(a: Any, b: Any) -> bool:
    if a is None or b is None or a is NULL_END or b is NULL_END:
        return a is b
    return equal(a, b) is True


def compare(a: Any, b: Any) -> Optional[int]:
    """-1, 0 or 1; None when either is null or the two are not of one ordered kind."""
    if a is None or b is None:
        return None
    pair = _pair(a, b)
    if pair is None:
        return None
    x, y = pair
    return (x > y) - (x < y)


def less(a: Any, b: Any) -> Optional[bool]:
    c = compare(a, b)
    return None if c is None else c < 0


def less_eq(a: Any, b: Any) -> Optional[bool]:
    c = compare(a, b)
    return None if c is None else c <= 0


def greater(a: Any, b: Any) -> Optional[bool]:
    c = compare(a, b)
    return None if c is None else c > 0


def greater_eq(a: Any, b: Any) -> Optional[bool]:
    c = compare(a, b)
    return None if c is None else c >= 0


def not_equal(a: Any, b: Any) -> Optional[bool]:
    r = equal(a, b)
    return None if r is None else not r


COMPARISONS = {"=": equal, "!=": not_equal, "<": less, "<=": less_eq, ">": greater, ">=": greater_eq}


def in_range(r: Range, v: Any) -> Optional[bool]:
    """Whether `v` lies in the range (null when it cannot be compared with the ends)."""
    if v is None or r.start is NULL_END or r.end is NULL_END:
        return None
    if r.start is not None:
        c = compare(v, r.start)
        if c is None:
            return None
        if c < 0 or (c == 0 and not r.start_included):
            return False
    if r.end is not None:
        c = compare(v, r.end)
        if c is None:
            return None
        if c > 0 or (c == 0 and not r.end_included):
            return False
    return True


# --------------------------------------------------------------------------- arithmetic


def _add_months(t: date, months: int) -> date:
    index = t.year * 12 + t.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise Fail("date out of range")
    return t.replace(year=year, month=month + 1, day=min(t.day, calendar.monthrange(year, month + 1)[1]))


def _add_delta(t: date | time, d: timedelta) -> Any:
    if isinstance(t, datetime):
        if isinstance(t.tzinfo, ZoneInfo):
            return (t.astimezone(timezone.utc) + d).astimezone(t.tzinfo)
        return t + d
    if isinstance(t, date):
        return (datetime.combine(t, time()) + d).date()
    base = datetime.combine(date(2000, 1, 1), t)
    return (base + d).timetz()


def _null_on_failure(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An operator on two values: null when either is null or the operation fails (FEEL's rule)."""

    def run(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        try:
            return op(a, b)
        except (OverflowError, ValueError, Fail, DecimalException):
            return None

    return run


@_null_on_failure
def add(a: Any, b: Any) -> Any:
    if is_num(a) and is_num(b):
        return checked(DEC.add(num(a), num(b)))
    if isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_ITEMS:
            raise Fail("string too long")
        return a + b
    if isinstance(a, (timedelta, YearsMonths)) and isinstance(b, (date, time)):
        a, b = b, a
    if isinstance(b, timedelta):
        if isinstance(a, timedelta):
            return a + b
        if isinstance(a, (date, time)):
            return _add_delta(a, b)
    if isinstance(b, YearsMonths):
        if isinstance(a, YearsMonths):
            return YearsMonths(a.total_months + b.total_months)
        if isinstance(a, date):
            return _add_months(a, b.total_months)
    return None


@_null_on_failure
def subtract(a: Any, b: Any) -> Any:
    if is_num(a) and is_num(b):
        return checked(DEC.subtract(num(a), num(b)))
    if type(a) is date and type(b) is date:
        return a - b
    if isinstance(a, date) and isinstance(b, date):  # a date is its midnight UTC
        x = a if isinstance(a, datetime) else datetime.combine(a, time(), timezone.utc)
        y = b if isinstance(b, datetime) else datetime.combine(b, time(), timezone.utc)
        if (x.tzinfo is None) != (y.tzinfo is None):
            return None
        return x - y
    if isinstance(a, time) and isinstance(b, time):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        return timedelta(seconds=_time_key(a) - _time_key(b))
    if isinstance(b, timedelta):
        if isinstance(a, timedelta):
            return a - b
        if isinstance(a, (date, time)):
            return _add_delta(a, -b)
    if isinstance(b, YearsMonths):
        if isinstance(a, YearsMonths):
            return YearsMonths(a.total_months - b.total_months)
        if isinstance(a, date):
            return _add_months(a, -b.total_months)
    return None


def _micros(d: timedelta) -> int:
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _delta(micros: Decimal) -> timedelta:
    return timedelta(microseconds=int(micros.to_integral_value()))


@_null_on_failure
def multiply(a: Any, b: Any) -> Any:
    if is_num(a) and is_num(b):
        return checked(DEC.multiply(num(a), num(b)))
    if is_num(a) and isinstance(b, (timedelta, YearsMonths)):
        a, b = b, a
    if isinstance(a, timedelta) and is_num(b):
        return _delta(num(b) * _micros(a))
    if isinstance(a, YearsMonths) and is_num(b):
        return YearsMonths(int(num(b) * a.total_months))
    return None


@_null_on_failure
def divide(a: Any, b: Any) -> Any:
    if is_num(a) and is_num(b):
        return None if num(b) == 0 else checked(DEC.divide(num(a), num(b)))
    if isinstance(a, timedelta) and is_num(b):
        return None if num(b) == 0 else _delta(DEC.divide(Decimal(_micros(a)), num(b)))
    if isinstance(a, YearsMonths) and is_num(b):
        return None if num(b) == 0 else YearsMonths(int(DEC.divide(Decimal(a.total_months), num(b))))
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return None if not b else checked(DEC.divide(Decimal(_micros(a)), Decimal(_micros(b))))
    if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
        return None if not b.total_months else checked(DEC.divide(Decimal(a.total_months),
                                                                    Decimal(b.total_months)))
    return None


def power(a: Any, b: Any) -> Any:
    if not (is_num(a) and is_num(b)):
        return None
    x, y = num(a), num(b)
    try:
        if y == y.to_integral_value():
            if abs(y) > 100_000 and abs(x) not in (0, 1):
                return None
            if x == 0 and y < 0:
                return None
            return checked(DEC.power(x, int(y)))
        if x < 0:
            return None
        return checked(DEC.power(x, y))
    except (OverflowError, DecimalException):
        return None


def negate(a: Any) -> Any:
    if is_num(a):
        return -num(a)
    if isinstance(a, timedelta):
        return -a
    if isinstance(a, YearsMonths):
        return YearsMonths(-a.total_months)
    return None


ARITHMETIC = {"+": add, "-": subtract, "*": multiply, "/": divide, "**": power}


# --------------------------------------------------------------------------- properties


def _offset(value: datetime | time) -> Optional[timedelta]:
    if value.tzinfo is None:
        return None
    if isinstance(value, datetime):
        return value.utcoffset()
    if isinstance(value.tzinfo, ZoneInfo):
        return datetime.combine(clock.today(), value).utcoffset()
    return value.utcoffset()


def _timezone(value: datetime | time) -> Optional[str]:
    return value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None


def _seconds(value: datetime | time) -> Decimal:
    return Decimal(value.second) if not value.microsecond else \
        Decimal(value.second) + Decimal(value.microsecond) / Decimal(1_000_000)


_DATE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "year": lambda v: Decimal(v.year), "month": lambda v: Decimal(v.month), "day": lambda v: Decimal(v.day),
    "weekday": lambda v: Decimal(v.isoweekday())}
_TIME_FIELDS: dict[str, Callable[[Any], Any]] = {
    "hour": lambda v: Decimal(v.hour), "minute": lambda v: Decimal(v.minute),
    "second": lambda v: Decimal(v.second), "time offset": _offset, "timezone": _timezone}


def _dt_days(v: timedelta) -> Decimal:
    return Decimal(int(_micros(v) / 86_400_000_000))


def _dt_part(v: timedelta, unit: int, modulo: int) -> Decimal:
    micros = _micros(v)
    sign = -1 if micros < 0 else 1
    return Decimal(sign * (abs(micros) // unit % modulo))


FIELDS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "date and time": {**_DATE_FIELDS, **_TIME_FIELDS},
    "date": _DATE_FIELDS,
    "time": _TIME_FIELDS,
    "days and time duration": {
        "days": _dt_days, "hours": lambda v: _dt_part(v, 3_600_000_000, 24),
        "minutes": lambda v: _dt_part(v, 60_000_000, 60), "seconds": lambda v: _dt_part(v, 1_000_000, 60)},
    "years and months duration": {"years": lambda v: Decimal(v.years), "months": lambda v: Decimal(v.months)},
    "range": {"start": lambda v: None if v.start is NULL_END else v.start,
              "end": lambda v: None if v.end is NULL_END else v.end,
              "start included": lambda v: v.start_included, "end included": lambda v: v.end_included},
}


def path(value: Any, key: str) -> Any:
    """`value.key`: a context's entry, each list element's entry, a temporal or range property."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, list):
        return [path(v, key) for v in value]
    fields = FIELDS.get(kind(value))
    if fields is not None and key in fields:
        return fields[key](value)
    return None
