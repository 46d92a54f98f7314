"""When timers fire: dates, durations, repeating intervals and Quartz cron, as Camunda 7 does it.

Expected values are worked out by hand; Asia/Shanghai is UTC+8 all year (no DST), so local
09:00 is 01:00Z the same day and local 00:00 is 16:00Z the day before.
"""
import time as systime
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from engine import clock
from engine import timers
from engine.timers import TimerPlan, cron_next, first_due, next_due

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def shanghai(monkeypatch):
    monkeypatch.setattr(clock, "_zone", SHANGHAI)


def Z(text: str) -> datetime:
    """A UTC moment: Z('2027-01-15T01:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def L(text: str) -> datetime:
    """A Shanghai wall-clock moment, as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


def series(kind: str, text: str, now: datetime, count: int, **kwargs) -> list:
    """The first `count` due times (None once the timer is over)."""
    due = first_due(kind, text, now)
    result = [due]
    fired = 1
    while len(result) < count and due is not None:
        due = next_due(kind, text, due, fired, **kwargs)
        result.append(due)
        fired += 1
    return result


# --------------------------------------------------------------------------- dates

@pytest.mark.parametrize("text, expected", [
    ("2027-01-15T09:00:00", Z("2027-01-15T01:00")),  # no offset: local (Shanghai) time
    ("2027-01-15T09:00", Z("2027-01-15T01:00")),
    ("2027-01-15", Z("2027-01-14T16:00")),  # a date alone is local midnight
    ("2027-01-15T09:00:00Z", Z("2027-01-15T09:00")),
    ("2027-01-15T09:00:00+02:00", Z("2027-01-15T07:00")),
    ("2027-01-15T09:00:00-05:00", Z("2027-01-15T14:00")),
])
def test_date(text, expected):
    due = first_due("date", text, Z("2027-01-01T00:00"))
    assert due == expected
    assert due.tzinfo is timezone.utc


def test_date_in_the_past_fires_at_once():
    assert first_due("date", "2020-01-01T00:00:00Z", Z("2027-01-01T00:00")) == Z("2020-01-01T00:00")


def test_date_and_duration_fire_once():
    assert next_due("date", "2027-01-15T09:00:00", Z("2027-01-15T01:00"), 1) is None
    assert next_due("duration", "PT5M", Z("2027-01-15T01:05"), 1) is None


# --------------------------------------------------------------------------- durations

@pytest.mark.parametrize("text, now, expected", [
    ("PT5M", Z("2027-03-10T02:00"), Z("2027-03-10T02:05")),
    ("PT90S", Z("2027-03-10T02:00:30"), Z("2027-03-10T02:02")),
    ("P1D", Z("2027-03-10T02:00"), Z("2027-03-11T02:00")),
    ("P2W", Z("2027-03-10T02:00"), Z("2027-03-24T02:00")),
    ("P1M", L("2027-01-31T10:00"), L("2027-02-28T10:00")),
    ("P1M", L("2028-01-31T10:00"), L("2028-02-29T10:00")),
    ("P1M", L("2027-03-31T10:00"), L("2027-04-30T10:00")),
    ("P1Y", L("2028-02-29T12:00"), L("2029-02-28T12:00")),
    ("P1Y", L("2027-02-28T12:00"), L("2028-02-28T12:00")),
    ("P1M1DT1H", L("2027-01-31T10:00"), L("2027-03-01T11:00")),
])
def test_duration(text, now, expected):
    due = first_due("duration", text, now)
    assert due == expected
    assert due.tzinfo is timezone.utc


def test_duration_months_are_local_calendar_months():
    # 01:00 on 31 January in Shanghai is still 30 January in UTC: the month is Shanghai's.
    now = Z("2027-01-30T17:00")
    assert first_due("duration", "P1M", now) == L("2027-02-28T01:00") == Z("2027-02-27T17:00")


def test_naive_now_is_local_time():
    assert first_due("duration", "PT5M", datetime(2027, 1, 15, 9, 0)) == Z("2027-01-15T01:05")


# --------------------------------------------------------------------------- repeating intervals

def test_r3_fires_exactly_three_times():
    now = Z("2027-03-10T00:00")
    expected = [Z("2027-03-10T00:10"), Z("2027-03-10T00:20"), Z("2027-03-10T00:30"), None]
    assert series("cycle", "R3/PT10M", now, 5) == expected
    assert series("cycle", "R3/PT10M", now, 5, started=now) == expected


def test_plain_r_is_unbounded():
    due = series("cycle", "R/PT1H", Z("2027-03-10T00:00"), 200)
    assert None not in due
    assert due[-1] == Z("2027-03-18T08:00")  # 200 hours later


def test_yearly_from_a_local_start():
    assert series("cycle", "R/2027-06-01T00:00:00/P1Y", Z("2027-01-01T00:00"), 3) == [
        L("2027-06-01T00:00"), L("2028-06-01T00:00"), L("2029-06-01T00:00"),
    ]
    assert L("2027-06-01T00:00") == Z("2027-05-31T16:00")


def test_monthly_from_january_31_does_not_drift():
    assert series("cycle", "R/2027-01-31T09:00:00/P1M", Z("2027-01-01T00:00"), 6) == [
        L("2027-01-31T09:00"), L("2027-02-28T09:00"), L("2027-03-31T09:00"),
        L("2027-04-30T09:00"), L("2027-05-31T09:00"), L("2027-06-30T09:00"),
    ]


def test_yearly_from_february_29_does_not_drift():
    assert series("cycle", "R/2028-02-29T09:00:00/P1Y", Z("2028-01-01T00:00"), 5) == [
        L("2028-02-29T09:00"), L("2029-02-28T09:00"), L("2030-02-28T09:00"),
        L("2031-02-28T09:00"), L("2032-02-29T09:00"),
    ]


def test_monthly_without_a_start_counts_from_when_the_timer_started():
    now = L("2027-01-31T09:00")
    assert series("cycle", "R/P1M", now, 4, started=now) == [
        L("2027-02-28T09:00"), L("2027-03-31T09:00"), L("2027-04-30T09:00"), L("2027-05-31T09:00"),
    ]
    # Without the anchor the next due time can only step from the previous one (documented drift).
    assert next_due("cycle", "R/P1M", L("2027-02-28T09:00"), 1) == L("2027-03-28T09:00")


def test_start_in_the_future_fires_at_the_start_then_n_repetitions():
    # Camunda 7: R2 with a start fires at the start and then repeats twice.
    assert series("cycle", "R2/2027-06-01T09:00:00/P1D", Z("2027-01-01T00:00"), 4) == [
        L("2027-06-01T09:00"), L("2027-06-02T09:00"), L("2027-06-03T09:00"), None,
    ]


def test_start_in_the_past_skips_the_missed_occurrences():
    now = Z("2027-07-01T00:00")
    assert first_due("cycle", "R/2020-06-01T00:00:00/P1Y", now) == L("2028-06-01T00:00")
    # Missed occurrences count towards R: 1, 2, 3 and 4 June; 2 June 12:00 -> 3 June, 4 June, over.
    assert series("cycle", "R3/2027-06-01T00:00:00/P1D", L("2027-06-02T12:00"), 4) == [
        L("2027-06-03T00:00"), L("2027-06-04T00:00"), None,
    ]
    assert first_due("cycle", "R3/2020-06-01T00:00:00/P1Y", now) is None


def test_start_exactly_now_is_not_due_now():
    # Camunda 7 looks for the first occurrence strictly after now.
    now = L("2027-06-01T09:00")
    assert first_due("cycle", "R/2027-06-01T09:00:00/P1D", now) == L("2027-06-02T09:00")


def test_start_long_past_with_a_small_period_is_fast():
    begun = systime.perf_counter()
    assert first_due("cycle", "R/2000-01-01T00:00:00Z/PT1S", Z("2027-03-10T00:00:00.5")) == Z("2027-03-10T00:00:01")
    assert first_due("cycle", "R/2000-01-01T00:00:00Z/PT1S", Z("2027-03-10T00:00:00")) == Z("2027-03-10T00:00:01")
    assert first_due("cycle", "R/2000-01-31T00:00:00/P1M", Z("2027-03-10T00:00")) == L("2027-03-31T00:00")
    assert first_due("cycle", "R/2000-01-01T00:00:00Z/P1M", Z("2027-03-10T00:00")) == Z("2027-04-01T00:00")
    assert systime.perf_counter() - begun < 1


def test_end_form_counts_back_from_the_end():
    # R2/PT1H/end: 10:00, 11:00 and the end 12:00 (local).
    assert series("cycle", "R2/PT1H/2027-03-10T12:00:00", L("2027-03-10T08:00"), 4) == [
        L("2027-03-10T10:00"), L("2027-03-10T11:00"), L("2027-03-10T12:00"), None,
    ]
    assert first_due("cycle", "R2/PT1H/2027-03-10T12:00:00", L("2027-03-10T10:30")) == L("2027-03-10T11:00")
    assert first_due("cycle", "R2/PT1H/2027-03-10T12:00:00", L("2027-03-10T12:00")) is None
    assert first_due("cycle", "R/PT1H/2027-03-10T12:00:00", L("2027-03-09T23:30")) == L("2027-03-10T00:00")


def test_end_form_with_months():
    assert series("cycle", "R3/P1M/2027-05-31T09:00:00", L("2027-01-01T00:00"), 5) == [
        L("2027-02-28T09:00"), L("2027-03-31T09:00"), L("2027-04-30T09:00"), L("2027-05-31T09:00"), None,
    ]


def test_start_and_end_form_repeats_the_interval_length():
    assert series("cycle", "R2/2027-03-10T10:00:00/2027-03-10T10:30:00", L("2027-03-10T08:00"), 4) == [
        L("2027-03-10T10:00"), L("2027-03-10T10:30"), L("2027-03-10T11:00"), None,
    ]


# --------------------------------------------------------------------------- cron

def cron(text: str, now: datetime, count: int = 1) -> list:
    return series("cycle", text, now, count)


def test_cron_weekdays_at_nine():
    # 2027-01-15 is a Friday.
    assert cron("0 0 9 ? * MON-FRI", L("2027-01-15T10:00"), 3) == [
        L("2027-01-18T09:00"), L("2027-01-19T09:00"), L("2027-01-20T09:00"),
    ]
    assert L("2027-01-18T09:00") == Z("2027-01-18T01:00")
    assert cron("0 0 9 ? * MON-FRI", L("2027-01-15T08:00")) == [L("2027-01-15T09:00")]


def test_cron_is_strictly_after():
    assert cron("0 0 9 ? * MON-FRI", L("2027-01-15T09:00")) == [L("2027-01-18T09:00")]
    assert cron("0 0 9 ? * MON-FRI", L("2027-01-15T08:59:59.999")) == [L("2027-01-15T09:00")]


def test_cron_first_of_every_month():
    assert cron("0 30 8 1 * ?", L("2027-01-15T00:00"), 2) == [L("2027-02-01T08:30"), L("2027-03-01T08:30")]
    assert cron("0 30 8 1 * ?", L("2027-12-05T00:00")) == [L("2028-01-01T08:30")]
    assert cron("0 30 8 1 * ?", L("2027-02-01T08:30")) == [L("2027-03-01T08:30")]


def test_cron_first_monday():
    # Quartz: 2 = Monday. 1 Feb and 1 Mar 2027 are Mondays; 1 Apr 2027 is a Thursday.
    assert cron("0 0 12 ? * 2#1", L("2027-01-15T00:00"), 3) == [
        L("2027-02-01T12:00"), L("2027-03-01T12:00"), L("2027-04-05T12:00"),
    ]
    assert cron("0 0 12 ? * MON#1", L("2027-01-15T00:00")) == [L("2027-02-01T12:00")]


def test_cron_fifth_monday_skips_months_without_one():
    # February 2027 has four Mondays (1, 8, 15, 22); March has five (..., 29).
    assert cron("0 0 12 ? * 2#5", L("2027-01-15T00:00")) == [L("2027-03-29T12:00")]


def test_cron_last_day_of_month():
    assert cron("0 0 18 L * ?", L("2028-02-10T00:00"), 3) == [
        L("2028-02-29T18:00"), L("2028-03-31T18:00"), L("2028-04-30T18:00"),
    ]
    assert cron("0 0 18 L * ?", L("2027-02-10T00:00")) == [L("2027-02-28T18:00")]
    assert cron("0 0 0 L-2 * ?", L("2027-02-10T00:00"), 2) == [L("2027-02-26T00:00"), L("2027-03-29T00:00")]


def test_cron_nearest_weekday():
    # 15 May 2027 is a Saturday -> Friday 14; 15 August 2027 is a Sunday -> Monday 16.
    assert cron("0 0 9 15W * ?", L("2027-05-01T00:00")) == [L("2027-05-14T09:00")]
    assert cron("0 0 9 15W * ?", L("2027-08-01T00:00")) == [L("2027-08-16T09:00")]
    assert cron("0 0 9 15W * ?", L("2027-01-01T00:00")) == [L("2027-01-15T09:00")]  # a Friday
    # 1 May 2027 is a Saturday: Monday 3 May, not 30 April.
    assert cron("0 0 9 1W * ?", L("2027-04-20T00:00")) == [L("2027-05-03T09:00")]


def test_cron_last_weekday_and_last_friday():
    # 31 July 2027 is a Saturday -> Friday 30 July.
    assert cron("0 0 9 LW * ?", L("2027-07-20T00:00")) == [L("2027-07-30T09:00")]
    # Last Friday of January 2027 (Fridays 1, 8, 15, 22, 29).
    assert cron("0 0 17 ? * 6L", L("2027-01-15T00:00")) == [L("2027-01-29T17:00")]


def test_cron_with_a_year_ends():
    now = Z("2026-06-01T00:00")
    assert cron("0 0 0 1 1 ? 2027", now, 3) == [L("2027-01-01T00:00"), None]
    assert L("2027-01-01T00:00") == Z("2026-12-31T16:00")
    assert cron("0 0 0 1 1 ? 2027", L("2027-01-01T00:00")) == [None]


def test_cron_with_a_far_year_is_found():
    assert cron("0 0 0 1 1 ? 2060", Z("2027-01-01T00:00")) == [L("2060-01-01T00:00")]


def test_cron_steps():
    assert cron("0 0/15 * * * ?", L("2027-01-15T10:07:30"), 4) == [
        L("2027-01-15T10:15"), L("2027-01-15T10:30"), L("2027-01-15T10:45"), L("2027-01-15T11:00"),
    ]
    assert cron("0 0/15 * * * ?", L("2027-01-15T23:50"), 2) == [L("2027-01-16T00:00"), L("2027-01-16T00:15")]
    assert cron("*/20 * * * * ?", L("2027-01-15T10:00:45"), 2) == [L("2027-01-15T10:01:00"), L("2027-01-15T10:01:20")]


def test_cron_day_that_never_comes_gives_up():
    begun = systime.perf_counter()
    assert cron("0 0 0 30 2 ?", Z("2027-01-01T00:00")) == [None]
    assert systime.perf_counter() - begun < 1


def test_cron_skips_short_months():
    assert cron("0 0 0 31 * ?", L("2027-04-01T00:00")) == [L("2027-05-31T00:00")]
    assert cron("0 0 0 29 2 ?", L("2029-01-01T00:00")) == [L("2032-02-29T00:00")]


def test_cron_next_accepts_text():
    assert cron_next("0 0 9 ? * MON-FRI", L("2027-01-15T10:00")) == L("2027-01-18T09:00")


def test_cron_in_a_zone_with_daylight_saving_time(monkeypatch):
    new_york = ZoneInfo("America/New_York")
    monkeypatch.setattr(clock, "_zone", new_york)
    # 14 March 2027: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day.
    due = cron("0 30 2 * * ?", datetime(2027, 3, 13, 12, 0, tzinfo=new_york), 3)
    assert due == [Z("2027-03-14T07:30"), Z("2027-03-15T06:30"), Z("2027-03-16T06:30")]
    # 7 November 2027: 01:30 happens twice; it fires once, at the first (EDT).
    due = cron("0 30 1 * * ?", datetime(2027, 11, 6, 12, 0, tzinfo=new_york), 3)
    assert due == [Z("2027-11-07T05:30"), Z("2027-11-08T06:30"), Z("2027-11-09T06:30")]
    due = cron("0 0/30 * * * ?", Z("2027-11-07T05:10"), 3)
    assert due == [Z("2027-11-07T05:30"), Z("2027-11-07T07:00"), Z("2027-11-07T07:30")]
    assert all(d.tzinfo is timezone.utc for d in due)


def test_monthly_interval_in_a_zone_with_daylight_saving_time(monkeypatch):
    new_york = ZoneInfo("America/New_York")
    monkeypatch.setattr(clock, "_zone", new_york)
    # Wall-clock 09:00 is kept across the change: 14:00Z in winter, 13:00Z in summer.
    assert series("cycle", "R/2027-01-15T09:00:00/P1M", Z("2027-01-01T00:00"), 3) == [
        Z("2027-01-15T14:00"), Z("2027-02-15T14:00"), Z("2027-03-15T13:00"),
    ]


# --------------------------------------------------------------------------- plan and errors

def test_timer_plan():
    plan = TimerPlan("cycle", "R3/PT10M")
    now = Z("2027-03-10T00:00")
    assert plan.first_due(now) == Z("2027-03-10T00:10")
    assert plan.next_due(Z("2027-03-10T00:30"), 3) is None
    with pytest.raises(ValueError, match="unknown timer kind 'interval'"):
        TimerPlan("interval", "PT5M")


@pytest.mark.parametrize("kind, text, fragment", [
    ("interval", "PT5M", "unknown timer kind"),
    ("date", "tomorrow", "is not a valid date-time"),
    ("date", "2027-02-30T09:00:00", "is not a valid date-time"),
    ("duration", "5 minutes", "is not a valid duration"),
    ("duration", "-PT5M", "negative duration"),
    ("cycle", "daily", "is not a valid cycle"),
    ("cycle", "every day", "has 2 fields"),
    ("cycle", "R0/PT1H", "repetition count must be at least 1"),
    ("cycle", "0 0 9 * * MON", "exactly one of day-of-month and day-of-week"),
    ("cycle", "", "empty cycle"),
    ("duration", None, "must be text"),
])
def test_bad_timer_values(kind, text, fragment):
    with pytest.raises(ValueError, match=fragment):
        first_due(kind, text, Z("2027-01-01T00:00"))
    with pytest.raises(ValueError, match=fragment):
        next_due(kind, text, Z("2027-01-01T00:00"), 1)


def test_fired_must_be_at_least_one():
    with pytest.raises(ValueError, match="fired"):
        next_due("cycle", "R3/PT10M", Z("2027-03-10T00:10"), 0)


def test_module_exports():
    assert set(timers.__all__) >= {"TimerPlan", "first_due", "next_due"}
