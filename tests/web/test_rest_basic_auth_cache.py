"""HTTP Basic on every REST call (Camunda Modeler, most scripts) pays the deliberately slow password
hash once per VERIFIED_FOR seconds, not per call; a new password, a deactivated account or an
expired entry is seen on the next call. Counted by the hash checks made, never timed."""
from __future__ import annotations

import pytest

from engine import users
from test_rest_helpers import PASSWORD, rest  # noqa: F401


@pytest.fixture
def checks(rest, monkeypatch):
    made = []
    real = users.check_password_hash

    def counted(stored, password):
        made.append(password)
        return real(stored, password)
    monkeypatch.setattr(users, "check_password_hash", counted)
    monkeypatch.setattr(users, "_verified", {})
    return made


def test_basic_credentials_are_hashed_once_then_recognised(rest, checks):
    for _ in range(5):
        assert rest.basic("office").get("/task").status_code == 200
    assert len(checks) == 1
    assert rest.basic("office", "not the password").get("/task").status_code == 401
    assert rest.basic("office").get("/task").status_code == 200
    assert len(checks) == 2  # a wrong password is always checked in full, and not remembered


def test_a_new_password_or_a_deactivated_account_counts_at_the_next_call(rest, checks):
    assert rest.basic("drc").get("/task").status_code == 200
    with rest.db.write() as session:
        users.set_password(session, "drc", "a brand new password")
    assert rest.basic("drc").get("/task").status_code == 401
    assert rest.basic("drc", "a brand new password").get("/task").status_code == 200
    assert len(checks) == 3
    with rest.db.write() as session:
        users.set_active(session, "drc", False)
    assert rest.basic("drc", "a brand new password").get("/task").status_code == 401


def test_an_entry_expires(rest, checks, monkeypatch):
    monkeypatch.setattr(users, "VERIFIED_FOR", 0.0)
    rest.app.extensions["dalad_credential_cache"].seconds = 0  # not recognised by the REST credential cache either
    for _ in range(3):
        assert rest.basic("office").get("/task").status_code == 200
    assert len(checks) == 3
