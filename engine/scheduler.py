"""APScheduler wiring: fire due timers every few seconds in a background thread.

Several server processes may each run one scheduler against one PostgreSQL database:
`services.fire_next_due_timer` locks the instance row with SKIP LOCKED, so two schedulers never
fire the same timer.
"""
from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from . import services
from .database import Database

log = logging.getLogger(__name__)

DUE_TIMERS_JOB = "dalad-fire-due-timers"
OPTIMIZE_JOB = "dalad-sqlite-optimize"


def fire_due_timers_job(db: Database) -> int:
    """Fire the timers that are due; log a failure instead of raising (the next run retries)."""
    try:
        fired = services.fire_due_timers(db)
    except Exception:  # the scheduler thread must outlive a failing run; the traceback goes to the log
        log.exception("firing due timers failed")
        return 0
    if fired:
        log.info("fired %d due timer%s", fired, "" if fired == 1 else "s")
    return fired


def start_scheduler(db: Database, interval_seconds: float = 5) -> BackgroundScheduler:
    """Start a background scheduler that fires due timers every `interval_seconds`; return it."""
    scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
    scheduler.add_job(fire_due_timers_job, "interval", seconds=interval_seconds, args=[db],
                      id=DUE_TIMERS_JOB, name="fire due timers", max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    if db.is_sqlite:  # the pool's connections live as long as the server: their statistics kept daily
        scheduler.add_job(db.optimize, "interval", hours=24, id=OPTIMIZE_JOB, name="SQLite statistics",
                          max_instances=1, coalesce=True)
    scheduler.start()
    log.info("timer scheduler started (every %s s)", interval_seconds)
    return scheduler
