"""ISO-8601 durations, date-times, repeating intervals and Quartz cron expressions."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

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

SHANGHAI = ZoneInfo("Asia/Shanghai")


# --------------------------------------------------------------------------- durations

@pytest.mark.parametrize("text, expected", [
    ("PT5M", Duration(time=timedelta(minutes=5))),
    ("P1M", Duration(months=1)),
    ("P1Y", Duration(years=1)),
    ("P1Y2M10DT2H30M", Duration(years=1, months=2, days=10, time=timedelta(hours=2, minutes=30))),
    ("P2W", Duration(days=14)),
    ("P3D", Duration(days=3)),
    ("PT36H", Duration(time=timedelta(hours=36))),
    ("PT0.5S", Duration(time=timedelta(milliseconds=500))),
    ("PT1,5H", Duration(time=timedelta(minutes=90))),
    ("P1.5D", Duration(days=1, time=timedelta(hours=12))),
    ("PT0S", Duration()),
    ("  PT10M\n", Duration(time=timedelta(minutes=10))),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


def test_duration_unpacks_as_years_months_timedelta():
    years, months, delta = parse_duration("P1Y2M10DT2H30M")
    assert (years, months, delta) == (1, 2, timedelta(days=10, hours=2, minutes=30))


@pytest.mark.parametrize("text, fragment", [
    ("", "empty duration"),
    ("P", "it has no parts"),
    ("PT", "it has no parts"),
    ("P1DT", "'T' must be followed by hours, minutes or seconds"),
    ("5M", "is not a valid duration"),
    ("PT5X", "is not a valid duration"),
    ("P1H", "is not a valid duration"),  # hours need the T
    ("PT5M3H", "is not a valid duration"),  # wrong order
    ("-PT5M", "negative duration"),
    ("P1.5M", "fractional months are not supported"),
    ("P0.5Y", "fractional years are not supported"),
])
def test_parse_duration_refuses(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert fragment in str(info.value)
    if text:
        assert repr(text) in str(info.value)


def test_months_and_years_are_calendar_units():
    start = datetime(2027, 1, 31, 9, 0, tzinfo=SHANGHAI)
    assert parse_duration("P1M").add_to(start) == datetime(2027, 2, 28, 9, 0, tzinfo=SHANGHAI)
    assert parse_duration("P2M").add_to(start) == datetime(2027, 3, 31, 9, 0, tzinfo=SHANGHAI)
    assert parse_duration("P1Y").add_to(datetime(2028, 2, 29, tzinfo=SHANGHAI)) == datetime(2029, 2, 28, tzinfo=SHANGHAI)
    assert parse_duration("P1Y2M10DT2H30M").add_to(start) == datetime(2028, 4, 10, 11, 30, tzinfo=SHANGHAI)
    assert parse_duration("P2W").add_to(start) == datetime(2027, 2, 14, 9, 0, tzinfo=SHANGHAI)


def test_days_keep_the_wall_clock_and_hours_are_exact_across_dst():
    berlin = ZoneInfo("Europe/Berlin")
    before = datetime(2027, 3, 27, 12, 0, tzinfo=berlin)  # DST starts 28 March 2027
    assert parse_duration("P1D").add_to(before) == datetime(2027, 3, 28, 12, 0, tzinfo=berlin)
    after = parse_duration("PT24H").add_to(before)
    # same-zone subtraction in Python is wall-clock; compare in UTC for elapsed time
    assert after.astimezone(timezone.utc) - before.astimezone(timezone.utc) == timedelta(hours=24)
    assert after.hour == 13


def test_add_months_clamps_and_crosses_years():
    assert add_months(datetime(2027, 12, 31), 2) == datetime(2028, 2, 29)
    assert add_months(datetime(2027, 3, 31), -1) == datetime(2027, 2, 28)
    assert add_months(datetime(2027, 5, 15), 0) == datetime(2027, 5, 15)


# --------------------------------------------------------------------------- date-times

@pytest.mark.parametrize("text, expected", [
    ("2027-01-15T09:00:00", datetime(2027, 1, 15, 9, 0, tzinfo=SHANGHAI)),
    ("2027-01-15T09:00", datetime(2027, 1, 15, 9, 0, tzinfo=SHANGHAI)),
    ("2027-01-15", datetime(2027, 1, 15, tzinfo=SHANGHAI)),
    ("2027-01-15T09:00:00+08:00", datetime(2027, 1, 15, 9, 0, tzinfo=timezone(timedelta(hours=8)))),
    ("2027-01-15T09:00:00+0530", datetime(2027, 1, 15, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
    ("2027-01-15T09:00:00-05", datetime(2027, 1, 15, 9, 0, tzinfo=timezone(timedelta(hours=-5)))),
    ("2027-01-15T01:00:00Z", datetime(2027, 1, 15, 1, 0, tzinfo=timezone.utc)),
    ("2027-01-15T09:00:00.250Z", datetime(2027, 1, 15, 9, 0, 0, 250000, tzinfo=timezone.utc)),
])
def test_parse_datetime(text, expected):
    result = parse_datetime(text, SHANGHAI)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


def test_parse_datetime_reads_naive_values_in_the_given_zone():
    assert parse_datetime("2027-01-15T09:00:00", timezone.utc) == datetime(2027, 1, 15, 9, tzinfo=timezone.utc)
    assert parse_datetime("2027-01-15T09:00:00+08:00", timezone.utc).hour == 9


def test_parse_datetime_defaults_to_the_engine_zone():
    from engine import clock

    assert parse_datetime("2027-01-15T09:00:00").tzinfo == clock.local_zone()


@pytest.mark.parametrize("text, fragment", [
    ("", "empty date-time"),
    ("2027-02-30T09:00:00", "day is out of range for month"),
    ("2027-13-01T09:00:00", "month must be in 1..12"),
    ("2027-01-15T25:00:00", "hour must be in 0..23"),
    ("2027-01-15 09:00:00", "is not a valid date-time"),
    ("15/01/2027", "is not a valid date-time"),
    ("2027-01-15T09:00:00+25:00", "offset +25:00 out of range"),
    ("tomorrow", "is not a valid date-time"),
])
def test_parse_datetime_refuses(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_datetime(text, SHANGHAI)
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- cycles

def test_parse_cycle_repeating_intervals():
    assert parse_cycle("R3/PT10M", SHANGHAI) == RepeatingInterval(3, duration=Duration(time=timedelta(minutes=10)))
    assert parse_cycle("R/2027-06-01T00:00:00/P1Y", SHANGHAI) == RepeatingInterval(
        None, duration=Duration(years=1), start=datetime(2027, 6, 1, tzinfo=SHANGHAI))
    assert parse_cycle("R5/2027-06-01T00:00:00Z/PT1H", SHANGHAI) == RepeatingInterval(
        5, duration=Duration(time=timedelta(hours=1)), start=datetime(2027, 6, 1, tzinfo=timezone.utc))
    assert parse_cycle("R2/PT1H/2027-06-01T00:00:00", SHANGHAI) == RepeatingInterval(
        2, duration=Duration(time=timedelta(hours=1)), end=datetime(2027, 6, 1, tzinfo=SHANGHAI))
    assert parse_cycle("R/2027-06-01T00:00:00Z/2027-06-02T00:00:00Z", SHANGHAI) == RepeatingInterval(
        None, start=datetime(2027, 6, 1, tzinfo=timezone.utc), end=datetime(2027, 6, 2, tzinfo=timezone.utc))


@pytest.mark.parametrize("text, fragment", [
    ("", "empty cycle"),
    ("PT10M", "is not a valid cycle"),
    ("2027-06-01T00:00:00", "is not a valid cycle"),
    ("R", "is not a valid repeating interval"),
    ("R3", "is not a valid repeating interval"),
    ("R3/", "is not a valid repeating interval"),
    ("R0/PT1M", "repetition count must be at least 1"),
    ("R/PT0S", "the interval must not be zero"),
    ("R3/PT10X", "is not a valid duration"),
    ("R/2027-02-30T00:00:00/P1D", "day is out of range for month"),
    ("R/2027-06-01T00:00:00", "needs a duration"),
    ("R/P1D/P2D", "cannot have two durations"),
    ("R/2027-06-02T00:00:00Z/2027-06-01T00:00:00Z", "end is not after its start"),
    ("R/PT1M/PT1M/PT1M", "is not a valid repeating interval"),
])
def test_parse_cycle_refuses(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_cycle(text, SHANGHAI)
    assert fragment in str(info.value)


def test_parse_cycle_cron():
    schedule = parse_cycle("0 0 9 ? * MON-FRI")
    assert isinstance(schedule, CronSchedule)
    assert schedule.seconds == {0} and schedule.minutes == {0} and schedule.hours == {9}
    assert schedule.days_of_month is None
    assert schedule.months == set(range(1, 13))
    assert schedule.days_of_week == {2, 3, 4, 5, 6}  # 1 = Sunday
    assert schedule.years is None


@pytest.mark.parametrize("text, check", [
    ("0 0/5 * * * ?", lambda s: s.minutes == set(range(0, 60, 5)) and s.days_of_week is None),
    ("*/30 * * * * ?", lambda s: s.seconds == {0, 30}),
    ("0 15 10 ? * 6L 2027", lambda s: s.last_day_of_week == 6 and s.years == {2027}),
    ("0 15 10 ? * FRIL", lambda s: s.last_day_of_week == 6),
    ("0 15 10 L * ?", lambda s: s.last_day_offset == 0 and s.days_of_month is None),
    ("0 15 10 L-3 * ?", lambda s: s.last_day_offset == 3),
    ("0 15 10 LW * ?", lambda s: s.last_weekday),
    ("0 15 10 15W * ?", lambda s: s.nearest_weekday == 15),
    ("0 0 12 ? * 2#1", lambda s: s.nth_day_of_week == (2, 1)),
    ("0 0 12 ? * MON#2", lambda s: s.nth_day_of_week == (2, 2)),
    ("0 0 12 ? jul-aug sun", lambda s: s.months == {7, 8} and s.days_of_week == {1}),
    ("0 0 22-2 * * ?", lambda s: s.hours == {22, 23, 0, 1, 2}),
    ("0 0 12 ? * FRI-MON", lambda s: s.days_of_week == {6, 7, 1, 2}),
    ("0 0 8,12,18 1,15 * ?", lambda s: s.hours == {8, 12, 18} and s.days_of_month == {1, 15}),
    ("0 0 12 ? * 1-7/2", lambda s: s.days_of_week == {1, 3, 5, 7}),
    ("0 0 0 1 1 ? 2027-2029", lambda s: s.years == {2027, 2028, 2029}),
    ("0 0 0 1 1 ? *", lambda s: s.years is None),
])
def test_parse_cron_forms(text, check):
    assert check(parse_cron(text))
    assert isinstance(parse_cycle(text), CronSchedule)


@pytest.mark.parametrize("text, fragment", [
    ("* * * * *", "has 5 fields"),
    ("0 0 12 * * ? 2027 x", "has 8 fields"),
    ("0 0 12 * * *", "exactly one of day-of-month and day-of-week must be '?'"),
    ("0 0 12 ? * ?", "exactly one of day-of-month and day-of-week must be '?'"),
    ("0 0 12 1 * MON", "exactly one of day-of-month and day-of-week must be '?'"),
    ("0 0 12 ? * 8", "day-of-week value 8 is out of range 1-7"),
    ("0 0 12 ? * 0", "day-of-week value 0 is out of range 1-7"),
    ("60 0 12 * * ?", "seconds value 60 is out of range 0-59"),
    ("0 60 12 * * ?", "minutes value 60 is out of range 0-59"),
    ("0 0 24 * * ?", "hours value 24 is out of range 0-23"),
    ("0 0 12 32 * ?", "day-of-month value 32 is out of range 1-31"),
    ("0 0 12 1 13 ?", "month value 13 is out of range 1-12"),
    ("0 0 12 ? FOO MON", "'FOO' is not a valid month value"),
    ("0 0 12 ? * MOX", "'MOX' is not a valid day-of-week value"),
    ("0 0 12 ? * MON 1969", "year value 1969 is out of range 1970-2099"),
    ("0 ? 12 * * ?", "'?' is only allowed alone"),
    ("0 0/0 12 * * ?", "increment '0' in minutes field must be a positive number"),
    ("0 0/61 12 * * ?", "is larger than the range"),
    ("0 0 12 1,L * ?", "must stand alone"),
    ("0 0 12 ? * MON,L", "must stand alone"),
    ("0 0 12 ? * 2#6", "the n in 'd#n' must be 1-5"),
    ("0 0 L * * ?", "only allowed in the day fields"),
    ("0 0 12 1,,2 * ?", "empty item"),
])
def test_parse_cron_refuses(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_cycle(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)
