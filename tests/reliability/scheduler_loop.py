"""A timer scheduler in a process of its own, as each `dalad serve` runs one: fire due timers
again and again (services.fire_due_timers, what the server's scheduler calls) until the given
number of seconds has passed. Usage: python scheduler_loop.py SECONDS (settings from DALAD_*)."""
from __future__ import annotations

import sys
import time

from engine import services
from engine.config import Settings, open_engine


def main(seconds: float) -> int:
    db = open_engine(Settings.from_env())
    deadline, fired = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        fired += services.fire_due_timers(db, limit=50)
        time.sleep(0.05)
    print(f"scheduler: {fired} fired", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1])))
