"""Fixtures: a database (SQLite by default, PostgreSQL when DALAD_TEST_DATABASE_URL is set),
the engine clock, and loading test diagrams."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import clock, history, instances
from engine.database import Database
from engine.definitions import BundleFile
from engine.models import Base

DIAGRAMS = Path(__file__).parent / "diagrams"
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
TEST_KEY = b"test-history-key-0123456789abcdef"


def pytest_collection_modifyitems(config, items):
    on_pg = bool(os.environ.get("DALAD_TEST_DATABASE_URL"))
    for item in items:
        if on_pg and item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="SQLite only"))
        if not on_pg and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="runs in the PostgreSQL pass (make test-pg)"))


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    url = os.environ.get("DALAD_TEST_DATABASE_URL") or \
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    db = Database(url)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def db(database):
    """An empty database (every table emptied before the test) and a history key."""
    return emptied(database)


def emptied(database):
    """Empty every table of `database` (SQLite: and its statistics), forget cached workflows, set the
    test history key."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
            # statistics that PRAGMA optimize kept (engine/database.py) when another Database or a
            # `dalad` process closed its connections: each test plans as on a new database
            conn.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        else:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))  # a leaked session fails loudly
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE"))
    instances.clear_caches()
    history.set_key(TEST_KEY)
    return database


@pytest.fixture
def frozen_clock():
    """The engine clock fixed at Monday 2026-03-02 09:00 Beijing time; tests move it."""
    clock.set_time(datetime(2026, 3, 2, 9, 0, 0))
    yield clock
    clock.reset()


def bundle(*names: str) -> list[BundleFile]:
    """Read test diagrams from tests/diagrams by file name."""
    return [BundleFile(name, (DIAGRAMS / name).read_bytes()) for name in names]


def deploy_files(db, *names: str, user: str = "admin"):
    from engine import services
    with db.write() as session:
        return services.deploy(session, bundle(*names), name="test", user=user)


OFFICIAL_PASSWORD = "long enough password"


@pytest.fixture
def officials(db, monkeypatch):
    """Make officials: `officials({"dora": ["drc"]})` adds each user in those bureaus, with the
    password OFFICIAL_PASSWORD (hashed cheaply) and a Bearer token; returns name -> token."""
    from werkzeug.security import generate_password_hash

    from engine import bureaus, tokens, users
    monkeypatch.setattr(users, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))

    def make(people: dict[str, list[str]]) -> dict[str, str]:
        with db.write() as session:
            bureaus.ensure_bureaus(session)
            issued = {}
            for name, groups in people.items():
                users.add_user(session, name, OFFICIAL_PASSWORD, bureaus=groups, roles=[])
                issued[name] = tokens.create_token(session, name, "tests")
        return issued
    return make
