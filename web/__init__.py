"""The web application factory. For now it serves only a health check; the screens come later."""
from __future__ import annotations

import secrets
from typing import Optional

from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine.config import Settings, open_engine
from engine.database import Database


def create_app(settings: Optional[Settings] = None, *, db: Optional[Database] = None) -> Flask:
    """Create the Flask app on `db`, or on the database of `settings` (default: the environment)."""
    if db is None:
        settings = settings or Settings.from_env()
        db = open_engine(settings)
    app = Flask(__name__)
    # Without settings (tests that pass only a database) sessions last as long as the app.
    app.config["SECRET_KEY"] = settings.secret_key if settings and settings.secret_key else secrets.token_hex(32)
    app.config["DALAD_DEMO"] = bool(settings and settings.demo)
    app.extensions["dalad_db"] = db
    app.add_url_rule("/healthz", "healthz", healthz)
    return app


def database() -> Database:
    """The Database of the current app."""
    return current_app.extensions["dalad_db"]


def healthz():
    """Report whether the database answers."""
    db = database()
    dialect = db.engine.dialect.name
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        current_app.logger.warning("health check: database unreachable: %s", exc)
        return {"status": "error", "database": dialect, "error": "database unreachable"}, 503
    return {"status": "ok", "database": dialect}
