"""A REST credential checked once is recognised from the credential cache for a few seconds
(web/credential_cache.py), and no longer than the credential is good: a change made by this process
counts at the next call, one made by another process once the cache's seconds are up. Each attack
is tried end to end over the REST API; counted by SQL statements, never timed."""
from __future__ import annotations

import pytest
from sqlalchemy import event, update

from engine import tokens, users
from engine.config import Settings
from engine.models import ApiToken, User
from web import credential_cache
from test_rest_helpers import deployed, error_of, rest, start  # noqa: F401


@pytest.fixture
def statements(rest):
    made = []

    def count(_conn, _cursor, statement, *_args):
        made.append(statement)
    event.listen(rest.db.engine, "before_cursor_execute", count)
    yield made
    event.remove(rest.db.engine, "before_cursor_execute", count)


def _version_calls(api, statements) -> int:
    statements.clear()
    assert api.get("/version").status_code == 200
    return len(statements)


def test_a_token_or_password_checked_once_is_not_read_again(rest, statements):
    for api in (rest.as_("office"), rest.basic("office")):
        assert _version_calls(api, statements) > 0
        assert _version_calls(api, statements) == 0
        assert _version_calls(api, statements) == 0


def test_a_wrong_credential_is_never_kept(rest, statements):
    office = rest.basic("office", "not the password")
    for _ in range(2):
        statements.clear()
        error_of(office.get("/version"), 401, "AuthenticationException")
        assert statements  # checked against the database every time (and throttled)
    unknown = rest.as_("drc")
    unknown.authorization = "Bearer dalad_no-such-token"
    for _ in range(2):
        error_of(unknown.get("/version"), 401, "AuthenticationException")


@pytest.mark.parametrize("change", ["revoke", "deactivate", "password", "membership", "role"])
def test_a_change_in_this_process_counts_at_the_next_call(rest, change):
    """edu reads a task offered to unit:edu, the administrator reads every task; each change made
    after their calls were recognised stops what it takes away at the next call."""
    rest.definitions = deployed(rest, "review.bpmn")
    task = rest.as_("edu").get("/task", processInstanceId=start(rest, "review", unit="edu")["id"]).get_json()[0]
    user = "admin" if change == "role" else "edu"
    bearer, basic = rest.as_(user), rest.basic(user)
    for api in (bearer, basic, bearer, basic):
        assert api.get(f"/task/{task['id']}").status_code == 200
    with rest.db.write() as session:
        if change == "revoke":
            [(token, _name)] = tokens.list_tokens(session, "edu")
            tokens.revoke_token(session, token.id, actor="admin")
        elif change == "deactivate":
            users.set_active(session, "edu", False, actor="admin")
        elif change == "password":
            users.set_password(session, "edu", "another long password", actor="admin")
        elif change == "membership":
            users.set_membership(session, "edu", "office", True, actor="admin")
            users.set_membership(session, "edu", "unit:edu", False, actor="admin")
        else:
            users.update_user(session, "admin", bureaus=["office"], roles=[], actor="admin")
    if change in ("membership", "role"):
        for api in (bearer, basic):
            error_of(api.get(f"/task/{task['id']}"), 403, "AuthorizationException")
        return
    # A revoked token leaves the password good, a new password leaves the tokens good (tokens.py).
    for api, refused in ((bearer, change != "password"), (basic, change != "revoke")):
        if refused:
            error_of(api.get(f"/task/{task['id']}"), 401, "AuthenticationException")
        else:
            assert api.get(f"/task/{task['id']}").status_code == 200


def test_a_change_by_another_process_counts_once_the_seconds_are_up(rest, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(credential_cache.time, "monotonic", lambda: now[0])
    cache = rest.app.extensions["dalad_credential_cache"]
    office = rest.as_("office")
    assert office.get("/task").status_code == 200
    # Another process (`dalad tokens revoke`, another gunicorn worker) changes the rows; nothing of
    # this process hears of it, so only the seconds end the entry.
    with rest.db.engine.begin() as connection:
        connection.execute(update(ApiToken.__table__).values(revoked_at=ApiToken.__table__.c.created_at))
        connection.execute(update(User.__table__).values(active=False))
    assert office.get("/task").status_code == 200  # within the cache's seconds (SECURITY.md)
    now[0] += cache.seconds
    error_of(office.get("/task"), 401, "AuthenticationException")
    error_of(rest.basic("office").get("/task"), 401, "AuthenticationException")


def test_the_seconds_are_a_setting_and_zero_turns_the_cache_off(rest, statements, tmp_path):
    base = {"DALAD_HISTORY_KEY": "k" * 32, "DALAD_INSTANCE_DIR": str(tmp_path)}
    assert Settings.from_env(base).credential_cache_seconds == 5
    assert Settings.from_env({**base, "DALAD_CREDENTIAL_CACHE_SECONDS": "0"}).credential_cache_seconds == 0
    for wrong in ("-1", "61", "soon"):
        with pytest.raises(Exception, match="DALAD_CREDENTIAL_CACHE_SECONDS"):
            Settings.from_env({**base, "DALAD_CREDENTIAL_CACHE_SECONDS": wrong})
    rest.app.extensions["dalad_credential_cache"].seconds = 0
    office = rest.as_("office")
    assert _version_calls(office, statements) > 0
    assert _version_calls(office, statements) > 0
