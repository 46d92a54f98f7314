"""The WSGI application for a production server: `gunicorn -c gunicorn.conf.py web.wsgi:app`.

Settings come from the environment (engine/config.py), in production mode unless DALAD_ENV says
otherwise: the history key is never read from a file beside the SQLite file. Each worker process also runs the timer
scheduler (due timers are claimed with SKIP LOCKED, so none fires twice) unless
DALAD_SCHEDULER=0, e.g. when `dalad timers fire-due` runs from cron instead.
"""
from __future__ import annotations

import os

from engine.config import Settings, open_engine
from engine.scheduler import start_scheduler

from . import create_app, prepare_server_process

settings = Settings.from_env(environment="production")
database = open_engine(settings)
app = create_app(settings, db=database)
prepare_server_process()
if (os.environ.get("DALAD_SCHEDULER") or "1").strip().lower() not in ("0", "false", "no", "off"):
    scheduler = start_scheduler(database)
