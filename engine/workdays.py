"""Chinese official working days (法定工作日), for deadlines such as "within 5 working days".

The `chinesecalendar` package knows each year's public holidays and the adjusted working
weekends (调休) announced by the State Council.  For a year it does not cover yet, a plain
Monday-Friday week is used; `calendar_covers(year)` tells the caller, so a UI can say so.

Counting convention: `add_working_days(d, n)` moves to the n-th working day after `d` (before it
when n < 0; `d` itself is never counted), and `working_days_between(a, b)` counts the working days
after `a` up to and including `b` (negative when `b` is before `a`).  So for n >= 0,
`working_days_between(d, add_working_days(d, n)) == n`.
"""
from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

import chinese_calendar

# A guard against run-away loops from expressions such as add_working_days(d, 10**9): about 400 years.
MAX_WORKING_DAYS = 100_000

_ONE_DAY = timedelta(days=1)


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


@functools.lru_cache(maxsize=None)
def calendar_covers(year: int) -> bool:
    """Return whether the official holiday calendar for `year` is known (else Monday-Friday is assumed)."""
    try:
        chinese_calendar.is_workday(date(year, 7, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(d: date) -> bool:
    """Return whether `d` is an official working day (weekday not a holiday, or an adjusted working weekend)."""
    d = _day(d)
    if calendar_covers(d.year):
        return bool(chinese_calendar.is_workday(d))
    return d.weekday() < 5


def add_working_days(d: date, n: int) -> date:
    """Return the n-th working day after `d` (before `d` when n < 0); `d` itself when n == 0."""
    d = _day(d)
    if abs(n) > MAX_WORKING_DAYS:
        raise ValueError(f"too many working days: {n}")
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        d += step
        if is_working_day(d):
            remaining -= 1
    return d


def working_days_between(a: date, b: date) -> int:
    """Return the number of working days after `a` up to and including `b`; negative when b < a."""
    a, b = _day(a), _day(b)
    if b < a:
        return -working_days_between(b, a)
    if (b - a).days > MAX_WORKING_DAYS * 2:
        raise ValueError(f"dates too far apart: {a} and {b}")
    count = 0
    d = a
    while d < b:
        d += _ONE_DAY
        if is_working_day(d):
            count += 1
    return count
