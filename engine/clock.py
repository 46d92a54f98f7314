"""The engine's one clock: every 'now' the engine and its diagrams see comes from here.

Tests and replay set the time with `frozen_at` / `set_time`; the server uses the system time.
Dates written without an offset are read in the configured local zone (Asia/Shanghai by default).
"""
from __future__ import annotations

import contextlib
import contextvars
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_override: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("dalad_clock", default=None)
_offset = timedelta(0)
_fixed: datetime | None = None
_zone = ZoneInfo("Asia/Shanghai")  # configuration (DALAD_TIMEZONE) sets it through set_zone


def now() -> datetime:
    """Return the current time, aware, in UTC."""
    fixed = _override.get()
    if fixed is not None:
        return fixed
    if _fixed is not None:
        return _fixed
    return datetime.now(timezone.utc) + _offset


def local_zone() -> ZoneInfo:
    """Return the zone in which dates without an offset are read."""
    return _zone


def set_zone(name: str) -> None:
    """Change the local zone (configuration)."""
    global _zone
    try:
        _zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (DALAD_TIMEZONE): use a name such as Asia/Shanghai") from exc


def local_now() -> datetime:
    """Return the current time in the local zone."""
    return now().astimezone(_zone)


def today() -> date:
    """Return today's date in the local zone."""
    return local_now().date()


def aware(value: datetime) -> datetime:
    """Return `value` with a zone: naive values are local time."""
    return value.replace(tzinfo=_zone) if value.tzinfo is None else value


@contextlib.contextmanager
def frozen_at(moment: datetime):
    """Run the block with the clock fixed at `moment` (naive means local time)."""
    token = _override.set(aware(moment).astimezone(timezone.utc))
    try:
        yield
    finally:
        _override.reset(token)


def set_time(moment: datetime) -> None:
    """Fix the process-wide clock at `moment` (tests; naive means local time)."""
    global _fixed
    _fixed = aware(moment).astimezone(timezone.utc)


def advance(delta: timedelta) -> None:
    """Move the process-wide clock forward (tests; a frozen block keeps its own time)."""
    global _offset, _fixed
    if _fixed is not None:
        _fixed += delta
    else:
        _offset += delta


def reset() -> None:
    """Return to the system time."""
    global _offset, _fixed
    _offset, _fixed = timedelta(0), None
