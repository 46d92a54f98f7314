"""The database of a fuzz module's `dalad serve`: a new SQLite file, or the PostgreSQL database of
DALAD_TEST_DATABASE_URL emptied first (the REST fuzz changes passwords, groups and instances that
the UI fuzz after it logs in with and works on)."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text


@pytest.fixture(scope="module")
def fuzz_database_url(request, tmp_path_factory) -> str:
    url = os.environ.get("DALAD_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('fuzz-db') / (request.module.__name__ + '.sqlite3')}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url
