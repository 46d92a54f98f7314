"""Literal time values as timers and due dates write them: ISO-8601 durations, date-times and
repeating intervals, and Quartz cron expressions (Camunda 7 flavour).

Each parser raises ValueError with a message that quotes the text and says what is wrong, so
deploy-time validation can pass the message on unchanged. The parsed values keep calendar units
apart (years and months are calendar arithmetic, not a fixed number of seconds) so a later
scheduler can compute due times from them.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Optional, Union

__all__ = [
    "Duration",
    "RepeatingInterval",
    "CronSchedule",
    "parse_duration",
    "parse_datetime",
    "parse_cycle",
    "parse_cron",
    "add_months",
]


# --------------------------------------------------------------------------- durations

@dataclass(frozen=True)
class Duration:
    """An ISO-8601 duration split into calendar parts and an exact part.

    `years` and `months` are calendar units: adding P1M to 31 January gives the last day of
    February. `days` (weeks count as 7 days) are calendar days: the wall-clock time is kept.
    `time` is the exact hours/minutes/seconds part (fractions of days or weeks end up here too).
    """

    years: int = 0
    months: int = 0
    days: int = 0
    time: timedelta = timedelta(0)

    @property
    def delta(self) -> timedelta:
        """The days and time parts as one timedelta (years and months are not included)."""
        return timedelta(days=self.days) + self.time

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.time)

    def add_to(self, moment: datetime) -> datetime:
        """Return `moment` + this duration: calendar years/months (day clamped to the month's
        end), then calendar days at the same wall-clock time, then the exact time part."""
        result = add_months(moment, 12 * self.years + self.months)
        if self.days:
            result = result + timedelta(days=self.days)  # wall-clock arithmetic on aware values
        if self.time:
            if result.tzinfo is None:
                result = result + self.time
            else:
                zone = result.tzinfo
                result = (result.astimezone(timezone.utc) + self.time).astimezone(zone)
        return result

    def __iter__(self):
        """Unpack as (years, months, timedelta)."""
        return iter((self.years, self.months, self.delta))


def add_months(moment: datetime, months: int) -> datetime:
    """Add calendar months, clamping the day to the last day of the resulting month."""
    if not months:
        return moment
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise ValueError(f"date out of range adding {months} months to {moment.isoformat()}")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION_RE = re.compile(
    rf"""P
    (?:(?P<years>{_NUMBER})Y)?
    (?:(?P<months>{_NUMBER})M)?
    (?:(?P<weeks>{_NUMBER})W)?
    (?:(?P<days>{_NUMBER})D)?
    (?:T
        (?:(?P<hours>{_NUMBER})H)?
        (?:(?P<minutes>{_NUMBER})M)?
        (?:(?P<seconds>{_NUMBER})S)?
    )?""",
    re.VERBOSE,
)

_DURATION_HELP = "expected an ISO-8601 duration such as PT5M, P2W, P1M or P1Y2M10DT2H30M"


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def parse_duration(text: str) -> Duration:
    """Parse an ISO-8601 duration: PT5M, P1M, P2W, P1Y2M10DT2H30M, PT0.5S.

    Fractions are allowed on weeks, days, hours, minutes and seconds, not on years or months.
    Negative durations are refused.
    """
    if not isinstance(text, str):
        raise ValueError(f"duration must be text, not {type(text).__name__}")
    value = text.strip()
    if not value:
        raise ValueError(f"empty duration; {_DURATION_HELP}")
    match = _DURATION_RE.fullmatch(value.upper())
    if match is None:
        if value.startswith("-"):
            raise ValueError(f"negative duration {text!r} is not allowed")
        raise ValueError(f"{text!r} is not a valid duration; {_DURATION_HELP}")
    parts = match.groupdict()
    if all(v is None for v in parts.values()):
        raise ValueError(f"{text!r} is not a valid duration: it has no parts; {_DURATION_HELP}")
    if "T" in value.upper() and all(parts[k] is None for k in ("hours", "minutes", "seconds")):
        raise ValueError(f"{text!r} is not a valid duration: 'T' must be followed by hours, minutes or seconds")
    for unit in ("years", "months"):
        if parts[unit] is not None and not parts[unit].isdigit():
            raise ValueError(f"{text!r}: fractional {unit} are not supported")
    years = int(parts["years"] or 0)
    months = int(parts["months"] or 0)
    day_count = _number(parts["weeks"] or "0") * 7 + _number(parts["days"] or "0")
    whole_days = int(day_count)
    try:
        time = timedelta(
            days=day_count - whole_days,
            hours=_number(parts["hours"] or "0"),
            minutes=_number(parts["minutes"] or "0"),
            seconds=_number(parts["seconds"] or "0"),
        )
        timedelta(days=whole_days)  # range check
    except OverflowError as exc:
        raise ValueError(f"duration {text!r} is too large") from exc
    if years > 9999 or months > 12 * 9999:
        raise ValueError(f"duration {text!r} is too large")
    return Duration(years=years, months=months, days=whole_days, time=time)


# --------------------------------------------------------------------------- date-times

_DATETIME_RE = re.compile(
    r"""(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:T(?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
        (?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?
    )?""",
    re.VERBOSE,
)

_DATETIME_HELP = "expected an ISO-8601 date-time such as 2027-01-15T09:00:00, 2027-01-15T09:00:00+08:00 or 2027-01-15T01:00:00Z"


def _local_zone() -> tzinfo:
    from engine import clock

    return clock.local_zone()


def parse_datetime(text: str, zone: Optional[tzinfo] = None) -> datetime:
    """Parse an ISO-8601 date-time (extended format) into an aware datetime.

    Accepted: 2027-01-15T09:00, 2027-01-15T09:00:00, 2027-01-15T09:00:00.250, with an optional
    offset (Z, +08:00, +0800, +08), or a date alone (2027-01-15, midnight). Values without an
    offset are read in `zone` (default: the engine's local zone, engine.clock.local_zone()).
    """
    if not isinstance(text, str):
        raise ValueError(f"date-time must be text, not {type(text).__name__}")
    value = text.strip()
    if not value:
        raise ValueError(f"empty date-time; {_DATETIME_HELP}")
    match = _DATETIME_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"{text!r} is not a valid date-time; {_DATETIME_HELP}")
    g = match.groupdict()
    fraction = g["fraction"] or ""
    microsecond = int((fraction + "000000")[:6]) if fraction else 0
    offset = g["offset"]
    if offset is None:
        tz = zone if zone is not None else _local_zone()
    elif offset == "Z":
        tz = timezone.utc
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text!r} is not a valid date-time: offset {offset} out of range")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(
            int(g["year"]), int(g["month"]), int(g["day"]),
            int(g["hour"] or 0), int(g["minute"] or 0), int(g["second"] or 0),
            microsecond, tzinfo=tz,
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date-time: {exc}") from None


# --------------------------------------------------------------------------- cycles

@dataclass(frozen=True)
class RepeatingInterval:
    """An ISO-8601 repeating interval: R[n]/duration, R[n]/start/duration, R[n]/duration/end
    or R[n]/start/end. `repetitions` is None for unbounded (plain R)."""

    repetitions: Optional[int]
    duration: Optional[Duration] = None
    start: Optional[datetime] = None
    end: Optional[datetime] = None


_CRON_FIELDS = (
    # name, low, high, names
    ("seconds", 0, 59, None),
    ("minutes", 0, 59, None),
    ("hours", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 1, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
    ("year", 1970, 2099, None),
)


@dataclass(frozen=True)
class CronSchedule:
    """A Quartz cron expression (seconds first), as Camunda 7 timeCycle accepts.

    Plain values are expanded to sets. `days_of_month` is None when the field is '?', likewise
    `days_of_week` (1 = Sunday ... 7 = Saturday); exactly one of them is None. `years` is None
    when the year field is absent or '*'. The Quartz specials, each only alone in its field:
    day-of-month 'L' / 'L-n' (`last_day_offset` = n), 'nW' (`nearest_weekday` = n), 'LW'
    (`last_weekday` True); day-of-week 'dL' (`last_day_of_week` = d), 'd#n' (`nth_day_of_week`
    = (d, n)).
    """

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: Optional[frozenset[int]]
    months: frozenset[int]
    days_of_week: Optional[frozenset[int]]
    years: Optional[frozenset[int]] = None
    last_day_offset: Optional[int] = None
    nearest_weekday: Optional[int] = None
    last_weekday: bool = False
    last_day_of_week: Optional[int] = None
    nth_day_of_week: Optional[tuple[int, int]] = None


_CYCLE_HELP = (
    "expected a repeating interval such as R3/PT10M, R/2027-06-01T00:00:00/P1Y, "
    "or a Quartz cron expression such as '0 0 9 ? * MON-FRI'"
)


def parse_cycle(text: str, zone: Optional[tzinfo] = None) -> Union[RepeatingInterval, CronSchedule]:
    """Parse a timeCycle: an ISO-8601 repeating interval (R3/PT10M, R/2027-06-01T00:00:00/P1Y,
    R5/2027-06-01T00:00:00Z/PT1H, R2/PT1H/2027-06-01T00:00:00, R/start/end) or a Quartz cron
    expression ('0 0/5 * * * ?', 6 or 7 fields, seconds first). Dates without an offset are
    read in `zone` (default: the engine's local zone)."""
    if not isinstance(text, str):
        raise ValueError(f"cycle must be text, not {type(text).__name__}")
    value = text.strip()
    if not value:
        raise ValueError(f"empty cycle; {_CYCLE_HELP}")
    if value[0] in "Rr" and (len(value) == 1 or value[1] == "/" or value[1].isdigit()):
        return _parse_repeating(text, value, zone)
    if len(value.split()) > 1:
        return parse_cron(value)
    raise ValueError(f"{text!r} is not a valid cycle; {_CYCLE_HELP}")


def _parse_repeating(text: str, value: str, zone: Optional[tzinfo]) -> RepeatingInterval:
    parts = value.split("/")
    head = parts[0][1:]
    if head and not head.isdigit():
        raise ValueError(f"{text!r}: repetition count {head!r} is not a whole number")
    repetitions = int(head) if head else None
    if repetitions == 0:
        raise ValueError(f"{text!r}: repetition count must be at least 1")
    rest = parts[1:]
    if len(rest) not in (1, 2) or any(not p.strip() for p in rest):
        raise ValueError(f"{text!r} is not a valid repeating interval; {_CYCLE_HELP}")

    def is_duration(part: str) -> bool:
        return part.strip()[:1] in ("P", "p")

    def duration(part: str) -> Duration:
        try:
            result = parse_duration(part)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        if result.is_zero:
            raise ValueError(f"{text!r}: the interval must not be zero")
        return result

    def moment(part: str) -> datetime:
        try:
            return parse_datetime(part, zone)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    if len(rest) == 1:
        if not is_duration(rest[0]):
            raise ValueError(f"{text!r}: a repeating interval with one part needs a duration after R/")
        return RepeatingInterval(repetitions, duration=duration(rest[0]))
    first, second = rest
    if is_duration(first) and is_duration(second):
        raise ValueError(f"{text!r}: a repeating interval cannot have two durations")
    if is_duration(first):
        return RepeatingInterval(repetitions, duration=duration(first), end=moment(second))
    if is_duration(second):
        return RepeatingInterval(repetitions, duration=duration(second), start=moment(first))
    start, end = moment(first), moment(second)
    if end <= start:
        raise ValueError(f"{text!r}: the interval's end is not after its start")
    return RepeatingInterval(repetitions, start=start, end=end)


def _cron_value(token: str, field: tuple, text: str) -> int:
    name, low, high, names = field
    if names is not None and token in names:
        return names.index(token) + low
    if not token.isdigit():
        allowed = f" or {names[0]}-{names[-1]}" if names else ""
        raise ValueError(f"cron {text!r}: {token!r} is not a valid {name} value (expected {low}-{high}{allowed})")
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"cron {text!r}: {name} value {number} is out of range {low}-{high}")
    return number


def _cron_set(spec: str, field: tuple, text: str) -> frozenset[int]:
    name, low, high, _ = field
    values: set[int] = set()
    for item in spec.split(","):
        if not item:
            raise ValueError(f"cron {text!r}: empty item in {name} field {spec!r}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"cron {text!r}: increment {step_text!r} in {name} field must be a positive number")
            step = int(step_text)
            if step > high - low + 1:
                raise ValueError(f"cron {text!r}: increment {step} in {name} field is larger than the range {low}-{high}")
        if base in ("*", ""):
            if not slash and base == "":
                raise ValueError(f"cron {text!r}: empty item in {name} field {spec!r}")
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _cron_value(first, field, text), _cron_value(last, field, text)
        else:
            start = _cron_value(base, field, text)
            end = high if slash else start
        if end >= start:
            values.update(range(start, end + 1, step))
        else:  # a range that wraps round, e.g. hours 22-2 or FRI-MON
            span = list(range(start, high + 1)) + list(range(low, end + 1))
            values.update(span[::step])
    return frozenset(values)


def parse_cron(text: str) -> CronSchedule:
    """Parse a Quartz cron expression: seconds minutes hours day-of-month month day-of-week
    [year]. Names (JAN-DEC, SUN-SAT) are case-insensitive; day-of-week 1-7 is SUN-SAT. Exactly
    one of day-of-month and day-of-week must be '?', as Quartz (and Camunda 7) require."""
    fields = text.strip().upper().split()
    if len(fields) not in (6, 7):
        raise ValueError(
            f"cron {text!r} has {len(fields)} fields; a Quartz cron expression has 6 or 7 "
            "(seconds minutes hours day-of-month month day-of-week [year])"
        )
    sec, minute, hour, dom, month, dow = fields[:6]
    year = fields[6] if len(fields) == 7 else None
    for index, spec in enumerate(fields):
        if "?" in spec and (index not in (3, 5) or spec != "?"):
            raise ValueError(f"cron {text!r}: '?' is only allowed alone, in the day-of-month or day-of-week field")
    if (dom == "?") == (dow == "?"):
        raise ValueError(
            f"cron {text!r}: exactly one of day-of-month and day-of-week must be '?' "
            "(specifying both, or neither, is not supported)"
        )
    for index, spec in enumerate(fields):
        if index not in (3, 5) and any(c in _strip_names(spec) for c in "LW#"):
            raise ValueError(f"cron {text!r}: 'L', 'W' and '#' are only allowed in the day fields")

    schedule: dict = {}
    schedule["seconds"] = _cron_set(sec, _CRON_FIELDS[0], text)
    schedule["minutes"] = _cron_set(minute, _CRON_FIELDS[1], text)
    schedule["hours"] = _cron_set(hour, _CRON_FIELDS[2], text)
    schedule["months"] = _cron_set(month, _CRON_FIELDS[4], text)
    schedule["years"] = None if year in (None, "*") else _cron_set(year, _CRON_FIELDS[6], text)

    # day of month
    schedule["days_of_month"] = None
    if dom != "?":
        if dom == "L" or dom.startswith("L-"):
            offset = 0
            if dom != "L":
                tail = dom[2:]
                if not tail.isdigit() or not 1 <= int(tail) <= 30:
                    raise ValueError(f"cron {text!r}: offset in 'L-n' must be 1-30")
                offset = int(tail)
            schedule["last_day_offset"] = offset
        elif dom == "LW":
            schedule["last_weekday"] = True
        elif dom.endswith("W"):
            day = dom[:-1]
            if not day.isdigit() or not 1 <= int(day) <= 31:
                raise ValueError(f"cron {text!r}: 'W' must follow a single day of month 1-31 (e.g. 15W)")
            schedule["nearest_weekday"] = int(day)
        elif any(c in dom for c in "LW#"):
            raise ValueError(
                f"cron {text!r}: day-of-month {dom!r} is not valid ('L', 'L-n', 'LW' and 'nW' must stand alone)"
            )
        else:
            schedule["days_of_month"] = _cron_set(dom, _CRON_FIELDS[3], text)

    # day of week
    schedule["days_of_week"] = None
    if dow != "?":
        if "#" in dow:
            day, _, nth = dow.partition("#")
            weekday = _cron_value(day, _CRON_FIELDS[5], text)
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise ValueError(f"cron {text!r}: the n in 'd#n' must be 1-5")
            schedule["nth_day_of_week"] = (weekday, int(nth))
        elif dow.endswith("L") and dow != "L" and "," not in dow and "-" not in dow and "/" not in dow:
            schedule["last_day_of_week"] = _cron_value(dow[:-1], _CRON_FIELDS[5], text)
        elif dow == "L":
            schedule["days_of_week"] = frozenset({7})  # Quartz: 'L' alone in day-of-week is Saturday
        elif "L" in _strip_names(dow):
            raise ValueError(f"cron {text!r}: day-of-week {dow!r} is not valid ('dL' must stand alone)")
        else:
            schedule["days_of_week"] = _cron_set(dow, _CRON_FIELDS[5], text)
    return CronSchedule(text=text.strip(), **schedule)


_ALL_NAMES = tuple(n for f in _CRON_FIELDS if f[3] for n in f[3])


def _strip_names(spec: str) -> str:
    for name in _ALL_NAMES:
        spec = spec.replace(name, "")
    return spec
