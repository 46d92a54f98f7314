"""A timer scheduler in a process of its own, as each `dalad serve` runs one: run the server's
scheduler job (scheduler.fire_due_timers_job: a failed run is logged and the next one retries)
again and again until the given number of seconds has passed.
Usage: python scheduler_loop.py SECONDS (settings from DALAD_*)."""
from __future__ import annotations

import logging
import sys
import time

from engine.config import Settings, open_engine
from engine.scheduler import fire_due_timers_job


def main(seconds: float) -> int:
    logging.basicConfig(level=logging.WARNING)
    db = open_engine(Settings.from_env())
    deadline, fired = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        fired += fire_due_timers_job(db)
        time.sleep(0.05)
    print(f"scheduler: {fired} fired", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1])))
