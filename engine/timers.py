"""When a BPMN timer fires, computed the way Camunda 7 computes it.

Pure functions over an already evaluated timer value (any ``${...}`` has been evaluated by the
caller): no database, no SpiffWorkflow. Every result is an aware datetime in UTC. Calendar
arithmetic (months, years, calendar days) and cron fields use the engine's local zone
(``clock.local_zone()``, Asia/Shanghai by default), as Camunda 7 uses the JVM's default zone.

Semantics
---------
date
    The date itself, even when it is already past (the timer then fires at once). A date without
    an offset is local time.
duration
    ``now`` + the duration, with calendar months/years in the local zone: P1M from 31 January is
    the last day of February, P1Y from 29 February is 28 February. It fires once.
cycle, ISO-8601 repeating interval (Camunda 7 ``DurationHelper``)
    A repeating interval is a series of occurrences counted from an anchor, each computed from the
    anchor (anchor + k x duration, months multiplied, not added one after another) so monthly
    timers do not drift: P1M from 31 January gives 28 February, 31 March, 30 April.

    * ``R[n]/P``: the anchor is the moment the timer starts waiting (``now``, or ``started`` in
      `next_due`); occurrences are anchor + k x P for k = 1..n, so R3/PT10M fires exactly 3 times.
    * ``R[n]/start/P``: occurrences are start + k x P for k = 0..n, i.e. the start itself and then
      n repetitions (Camunda 7 behaviour: R3 with a start fires up to 4 times). The first due time
      is the first occurrence strictly after ``now``: a start in the future fires at the start; a
      start in the past does NOT fire at once, the missed occurrences are skipped and they still
      count towards n (so R3 with a start long past is already over: `first_due` returns None).
    * ``R[n]/P/end``: the mirror image, occurrences end - k x P for k = 0..n (the end itself and the
      n repetitions before it); the first due time is the earliest of them strictly after ``now``;
      None when the end has passed.
    * ``R[n]/start/end``: as ``R[n]/start/P`` with P = end - start (an exact length of time).
    * plain ``R`` is unbounded.

    Camunda 7 itself recomputes a repeat from the current time; `next_due` computes it from the
    previous due time (so a late scheduler still fires every occurrence). Pass ``max(previous_due,
    now)`` as `previous_due` to skip missed occurrences instead (index-based counting keeps the
    repetition limit right for the forms with an anchor).
cycle, Quartz cron expression
    The next fire time strictly after ``now`` (or after the previous due time), with the cron
    fields read as local wall-clock time. Gives up (None) when nothing matches within 10 years.
    In a zone with daylight saving time, a wall time that does not exist (spring forward) is read
    with the offset before the change (02:30 becomes 03:30 summer time); a wall time that exists
    twice (fall back) fires once, at its first occurrence.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Optional

from engine import clock
from engine.timevalues import (
    CronSchedule,
    Duration,
    RepeatingInterval,
    add_months,
    parse_cron,
    parse_cycle,
    parse_datetime,
    parse_duration,
)

__all__ = ["TimerPlan", "KINDS", "first_due", "next_due", "cron_next", "move_occurrence", "following_occurrence"]

KINDS = ("date", "duration", "cycle")

_UTC = timezone.utc
_CRON_HORIZON_YEARS = 10


@dataclass(frozen=True)
class TimerPlan:
    """A timer as the diagram defines it: `kind` is "date", "duration" or "cycle" and `text` the
    evaluated timer value."""

    kind: str
    text: str

    def __post_init__(self) -> None:
        _check_kind(self.kind)

    def first_due(self, now: datetime) -> Optional[datetime]:
        return first_due(self.kind, self.text, now)

    def next_due(self, previous_due: datetime, fired: int, started: Optional[datetime] = None) -> Optional[datetime]:
        return next_due(self.kind, self.text, previous_due, fired, started=started)


# --------------------------------------------------------------------------- public functions

def first_due(kind: str, text: str, now: datetime) -> Optional[datetime]:
    """When a timer that starts waiting at `now` first fires (aware, UTC), or None when a cycle
    has no occurrence left after `now`. A naive `now` is local time. See the module docstring for
    the semantics of each kind. Raises ValueError for an unknown kind or a bad timer value."""
    _check_kind(kind)
    now = _utc(now, "now")
    zone = clock.local_zone()
    if kind == "date":
        return parse_datetime(_text(text, kind), zone).astimezone(_UTC)
    if kind == "duration":
        duration = parse_duration(_text(text, kind))
        return _shift(now.astimezone(zone), duration, 1, zone)
    cycle = parse_cycle(_text(text, kind), zone)
    if isinstance(cycle, CronSchedule):
        return cron_next(cycle, now, zone)
    return _interval_after(cycle, now, anchor=now, zone=zone)


def next_due(
    kind: str,
    text: str,
    previous_due: datetime,
    fired: int,
    *,
    started: Optional[datetime] = None,
) -> Optional[datetime]:
    """After the timer fired `fired` times (>= 1), the last time at `previous_due`, when it fires
    next (aware, UTC), or None when it is over: always None for date and duration timers, and for
    a cycle whose repetitions are used up.

    `started` is the moment the timer started waiting (the `now` given to `first_due`). It is the
    anchor of ``R[n]/P`` cycles; without it the anchor is taken as `previous_due` minus `fired`
    periods, which is exact unless the period has months or years (then P1M from 31 January would
    drift to the 28th: pass `started` to avoid that)."""
    _check_kind(kind)
    if isinstance(fired, bool) or not isinstance(fired, int) or fired < 1:
        raise ValueError(f"fired must be a whole number of at least 1, not {fired!r}")
    previous_due = _utc(previous_due, "previous_due")
    zone = clock.local_zone()
    value = _text(text, kind)
    if kind == "date":
        parse_datetime(value, zone)
        return None
    if kind == "duration":
        parse_duration(value)
        return None
    cycle = parse_cycle(value, zone)
    if isinstance(cycle, CronSchedule):
        return cron_next(cycle, previous_due, zone)
    if cycle.start is None and cycle.end is None and started is None:
        # No anchor: count the firings and step from the previous due time.
        if cycle.repetitions is not None and fired >= cycle.repetitions:
            return None
        return _shift(previous_due.astimezone(zone), cycle.duration, 1, zone)
    anchor = None if started is None else _utc(started, "started")
    return _interval_after(cycle, previous_due, anchor=anchor, zone=zone)


# --------------------------------------------------------------------------- moved due dates

def move_occurrence(timer: dict, key: str, due: datetime, cascade: bool) -> None:
    """Move the waiting occurrence of a cycle's state `timer` (its time under `key`, ISO text) to
    `due`, as Camunda sets a timer job's due date: it fires then, as the occurrence it waited for
    (kept under "occurrence" while they differ). `cascade` moves the following occurrences by as
    much: Camunda's repeat offset, kept in milliseconds under "offset_ms"."""
    waiting = datetime.fromisoformat(timer[key])
    occurrence = datetime.fromisoformat(timer.get("occurrence") or timer[key])
    if cascade:
        occurrence += due - waiting  # (past the calendar's end: OverflowError, nothing changed yet)
        timer["offset_ms"] = timer.get("offset_ms", 0) + milliseconds(due - waiting)
    timer[key] = due.isoformat()
    if occurrence != due:
        timer["occurrence"] = occurrence.isoformat()
    else:
        timer.pop("occurrence", None)


def following_occurrence(kind: str, text: str, occurrence: str, fired: int, started: str,
                         offset_ms: Optional[int]) -> Optional[datetime]:
    """A cycle's occurrence after `occurrence` (ISO text) of a timer that started waiting at
    `started`, its offset (a cascaded due date) taken off before the cycle counts on and added back."""
    shift = timedelta(milliseconds=offset_ms or 0)
    following = next_due(kind, text, datetime.fromisoformat(occurrence) - shift, fired,
                         started=datetime.fromisoformat(started))
    return following + shift if following is not None else None


def milliseconds(span: timedelta) -> int:
    return round(span.total_seconds() * 1000)


# --------------------------------------------------------------------------- helpers

def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown timer kind {kind!r}; expected one of {', '.join(KINDS)}")


def _text(text: str, kind: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"timer {kind} must be text, not {type(text).__name__}")
    return text


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, not {type(moment).__name__}")
    return clock.aware(moment).astimezone(_UTC)


def _shift(moment: datetime, duration: Duration, k: int, zone: tzinfo) -> datetime:
    """`moment` + k x `duration` (k may be negative) in the local zone, as an aware UTC value.

    Calendar months first (the day clamped to the month's end), then calendar days at the same
    wall-clock time, then the exact time part. Raises OverflowError when out of range."""
    local = moment.astimezone(zone)
    months = (12 * duration.years + duration.months) * k
    try:
        if months:
            local = add_months(local, months)
        if duration.days:
            local = local + timedelta(days=duration.days * k)
        result = local.astimezone(_UTC)
        if duration.time:
            result = result + duration.time * k
    except ValueError as exc:  # add_months out of range
        raise OverflowError(str(exc)) from None
    return result


def _approx_seconds(duration: Duration) -> float:
    return (
        (12 * duration.years + duration.months) * 30.436875 * 86400
        + duration.days * 86400
        + duration.time.total_seconds()
    )


def _interval_after(
    cycle: RepeatingInterval, after: datetime, *, anchor: Optional[datetime], zone: tzinfo
) -> Optional[datetime]:
    """The first occurrence of `cycle` strictly after `after` (UTC), or None.

    `anchor` is the start of an ``R[n]/P`` cycle (ignored when the cycle has a start or an end)."""
    if cycle.start is not None:
        duration = cycle.duration
        if duration is None:  # R/start/end: the period is the exact length of the interval
            duration = Duration(time=cycle.end - cycle.start)
        return _forward(cycle.start, duration, cycle.repetitions, 0, after, zone)
    if cycle.end is not None:
        return _backward(cycle.end, cycle.duration, cycle.repetitions, after, zone)
    assert anchor is not None
    return _forward(anchor, cycle.duration, cycle.repetitions, 1, after, zone)


def _forward(
    anchor: datetime, duration: Duration, repetitions: Optional[int], k_min: int, after: datetime, zone: tzinfo
) -> Optional[datetime]:
    """The earliest occurrence anchor + k x duration strictly after `after`, where k runs from
    `k_min` to `repetitions` inclusive (no upper bound when `repetitions` is None)."""
    k_max = repetitions  # None: unbounded

    def at(k: int) -> Optional[datetime]:
        try:
            return _shift(anchor, duration, k, zone)
        except OverflowError:
            return None

    span = (after - anchor.astimezone(_UTC)).total_seconds()
    k = max(k_min, int(span // _approx_seconds(duration)) - 1)
    if k_max is not None:
        k = min(k, k_max)
    # Step back while the previous occurrence is still after `after`.
    while k > k_min:
        previous = at(k - 1)
        if previous is None or previous <= after:
            break
        k -= 1
    # Step forward to the first occurrence after `after`.
    while True:
        if k_max is not None and k > k_max:
            return None
        current = at(k)
        if current is None:
            return None
        if current > after:
            return current
        k += 1


def _backward(
    end: datetime, duration: Duration, repetitions: Optional[int], after: datetime, zone: tzinfo
) -> Optional[datetime]:
    """The earliest occurrence end - k x duration (0 <= k <= repetitions) strictly after `after`."""
    end_utc = end.astimezone(_UTC)
    if end_utc <= after:
        return None

    def at(k: int) -> Optional[datetime]:
        try:
            return _shift(end, duration, -k, zone)
        except OverflowError:
            return None

    span = (end_utc - after).total_seconds()
    k = max(0, int(span // _approx_seconds(duration)) - 1)
    if repetitions is not None:
        k = min(k, repetitions)
    # Step towards the end while occurrence k is not after `after` (k = 0 is: the end is after).
    while k > 0:
        current = at(k)
        if current is not None and current > after:
            break
        k -= 1
    # Step away from the end while the next earlier occurrence is still after `after`.
    while repetitions is None or k < repetitions:
        earlier = at(k + 1)
        if earlier is None or earlier <= after:
            break
        k += 1
    return at(k)


# --------------------------------------------------------------------------- Quartz cron

def _quartz_weekday(day: date) -> int:
    """Quartz day of week: 1 = Sunday ... 7 = Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _cron_days(schedule: CronSchedule, year: int, month: int) -> list[int]:
    """The days of `month` on which `schedule` fires, sorted."""
    last = calendar.monthrange(year, month)[1]
    if schedule.last_day_offset is not None:
        day = last - schedule.last_day_offset
        return [day] if day >= 1 else []
    if schedule.last_weekday:
        day = last
        weekday = date(year, month, day).weekday()  # Monday = 0
        if weekday == 5:
            day -= 1
        elif weekday == 6:
            day -= 2
        return [day]
    if schedule.nearest_weekday is not None:
        day = schedule.nearest_weekday
        if day > last:
            return []
        weekday = date(year, month, day).weekday()
        if weekday == 5:  # Saturday: the Friday before, or Monday the 3rd when the 1st is a Saturday
            day = day - 1 if day > 1 else day + 2
        elif weekday == 6:  # Sunday: the Monday after, or the Friday before at the month's end
            day = day + 1 if day < last else day - 2
        return [day]
    if schedule.days_of_month is not None:
        return sorted(d for d in schedule.days_of_month if d <= last)
    # day of week
    if schedule.last_day_of_week is not None:
        for day in range(last, last - 7, -1):
            if _quartz_weekday(date(year, month, day)) == schedule.last_day_of_week:
                return [day]
        return []  # pragma: no cover - every weekday occurs in the last 7 days
    if schedule.nth_day_of_week is not None:
        weekday, nth = schedule.nth_day_of_week
        first = _quartz_weekday(date(year, month, 1))
        day = 1 + (weekday - first) % 7 + 7 * (nth - 1)
        return [day] if day <= last else []
    wanted = schedule.days_of_week or frozenset()
    first = _quartz_weekday(date(year, month, 1))
    return [d for d in range(1, last + 1) if (first - 1 + d - 1) % 7 + 1 in wanted]


def _cron_time(schedule: CronSchedule, earliest: time) -> Optional[time]:
    """The first (hour, minute, second) of `schedule` at or after `earliest` on one day."""
    hours = sorted(schedule.hours)
    minutes = sorted(schedule.minutes)
    seconds = sorted(schedule.seconds)
    for hour in hours:
        if hour < earliest.hour:
            continue
        if hour > earliest.hour:
            return time(hour, minutes[0], seconds[0])
        for minute in minutes:
            if minute < earliest.minute:
                continue
            if minute > earliest.minute:
                return time(hour, minute, seconds[0])
            for second in seconds:
                if second >= earliest.second:
                    return time(hour, minute, second)
    return None


def cron_next(schedule: CronSchedule | str, after: datetime, zone: Optional[tzinfo] = None) -> Optional[datetime]:
    """The first fire time of the Quartz cron `schedule` strictly after `after` (aware, UTC), the
    fields read as wall-clock time in `zone` (default: the local zone); None when the year field
    has no year left or nothing matches in 10 years of months scanned (a jump to the next year
    the year field lists is not counted, so '0 0 0 1 1 ? 2060' is found)."""
    if isinstance(schedule, str):
        schedule = parse_cron(schedule)
    zone = zone if zone is not None else clock.local_zone()
    after = _utc(after, "after")
    # The first whole second strictly after `after`, as local wall-clock time.
    local = after.astimezone(zone).replace(microsecond=0, tzinfo=None) + timedelta(seconds=1)
    months_left = 12 * _CRON_HORIZON_YEARS + 1  # months scanned; a jump to a listed year is free
    day, earliest = local.date(), local.time()
    year, month = day.year, day.month
    while months_left > 0 and year <= 9999:
        if schedule.years is not None and year not in schedule.years:
            later = [y for y in schedule.years if y > year]
            if not later:
                return None
            year, month, day, earliest = min(later), 1, None, time(0)
            continue
        if month in schedule.months:
            for dom in _cron_days(schedule, year, month):
                candidate_day = date(year, month, dom)
                if day is not None and candidate_day < day:
                    continue
                start = earliest if candidate_day == day else time(0)
                while start is not None:
                    moment = _cron_time(schedule, start)
                    if moment is None:
                        break
                    fire = datetime.combine(candidate_day, moment, tzinfo=zone).astimezone(_UTC)
                    if fire > after:
                        return fire
                    # A wall time that maps to an instant not after `after` (DST): try the next one.
                    following = datetime.combine(candidate_day, moment) + timedelta(seconds=1)
                    start = following.time() if following.date() == candidate_day else None
        month += 1
        months_left -= 1
        day, earliest = None, time(0)
        if month > 12:
            year, month = year + 1, 1
    return None
