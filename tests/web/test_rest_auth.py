"""Who may call /engine-rest: Basic with a user's password, or Bearer with a token an administrator
issued (`dalad tokens create`), stored only as its SHA-256, revoked at will; everything else is a
401 that asks for Basic credentials."""
from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import TEST_KEY
from engine import history, tokens, users
from engine.cli import main
from engine.errors import InvalidInput, NotFound
from engine.models import ApiToken, HistoryEvent, User
from test_rest_helpers import PASSWORD, Api, error_of, rest  # noqa: F401


def test_without_credentials_every_call_asks_for_basic_credentials(rest):
    for path in ("/deployment", "/task", "/version", "/no/such/call"):
        response = rest.anonymous.get(path)
        assert "Basic" in error_of(response, 401, "AuthenticationException")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="dalad"'
    response = rest.anonymous.post("/deployment/create", data=b"x", content_type="multipart/form-data; boundary=b")
    error_of(response, 401, "AuthenticationException")


@pytest.mark.parametrize("header", [
    "Basic " + base64.b64encode(b"admin:wrong password").decode(),
    "Basic " + base64.b64encode(f"nobody:{PASSWORD}".encode()).decode(),
    "Basic " + base64.b64encode(b"admin").decode(),
    "Basic not-base64!",
    "Bearer dalad_not-a-token",
    "Bearer ",
    "Digest username=admin",
])
def test_wrong_credentials_are_401(rest, header):
    response = Api(rest.client, header).get("/deployment")
    error_of(response, 401, "AuthenticationException")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="dalad"'


def test_repeated_wrong_passwords_are_throttled_with_the_login_page(rest):
    if "dalad_login_throttle" not in rest.app.extensions:
        pytest.skip("this app has no login throttle")
    for _ in range(5):
        error_of(rest.basic("office", "wrong password").get("/task"), 401, "AuthenticationException")
    response = rest.basic("office").get("/task")  # even the right password waits now
    assert "try again" in error_of(response, 429, "AuthenticationException")
    assert int(response.headers["Retry-After"]) > 0
    assert rest.as_("office").get("/task").status_code == 200  # tokens are not passwords


def test_a_password_or_a_token_lets_the_user_in(rest):
    assert rest.basic("office").get("/deployment").status_code == 200
    assert rest.as_("office").get("/deployment").status_code == 200


def test_no_rest_answer_is_kept_by_a_cache(rest):
    """A REST caller's data (tasks, variables) is not stored by a browser or a proxy on the way,
    whether or not a UI session came along with the call."""
    for api in (rest.basic("office"), rest.as_("office"), rest.anonymous):
        response = api.get("/task")
        assert response.headers["Cache-Control"] == "no-store", response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_token_is_stored_as_its_sha256_only_and_its_issue_is_in_the_system_history(rest):
    plaintext = rest.tokens["office"]
    with rest.db.read() as session:
        [(token, name)] = tokens.list_tokens(session, "office")
        assert name == "office" and token.name == "tests"
        assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        bodies = [row.body for row in history.chain_rows(session, history.SYSTEM_CHAIN)]
        assert any('"token_created"' in body and '"office"' in body for body in bodies)
        assert not any(plaintext in body for body in bodies)
        assert history.verify_system_chain(session).ok


def test_a_revoked_token_stops_working_at_once(rest):
    office = rest.as_("office")
    assert office.get("/task").status_code == 200
    with rest.db.write() as session:
        [(token, _name)] = tokens.list_tokens(session, "office")
        tokens.revoke_token(session, token.id, actor="admin")
    error_of(office.get("/task"), 401, "AuthenticationException")
    with rest.db.write() as session:
        with pytest.raises(InvalidInput, match="already revoked"):
            tokens.revoke_token(session, token.id)
        with pytest.raises(NotFound):
            tokens.revoke_token(session, 9999)


def test_the_token_of_a_deactivated_user_or_of_a_demo_account_outside_demo_mode_is_refused(rest):
    with rest.db.write() as session:
        users.find_user(session, "drc").active = False
        users.add_user(session, "demo", "demo1234", bureaus=["office"], roles=[], demo=True)
        demo_token = tokens.create_token(session, "demo")
        with pytest.raises(InvalidInput, match="deactivated"):
            tokens.create_token(session, "drc")
        with pytest.raises(NotFound):
            tokens.create_token(session, "nobody")
    error_of(rest.as_("drc").get("/task"), 401, "AuthenticationException")
    error_of(Api(rest.client, f"Bearer {demo_token}").get("/task"), 401, "AuthenticationException")
    rest.app.config["DALAD_DEMO"] = True
    assert Api(rest.client, f"Bearer {demo_token}").get("/task").status_code == 200
    rest.app.config["DALAD_DEMO"] = False  # recognised a moment ago in demo mode: not outside it
    error_of(Api(rest.client, f"Bearer {demo_token}").get("/task"), 401, "AuthenticationException")


def test_the_last_use_of_a_token_is_noted_at_most_once_a_minute(rest, frozen_clock):
    def last_used():
        with rest.db.read() as session:
            return session.scalars(select(ApiToken.last_used_at).join(User, User.id == ApiToken.user_id)
                                   .where(User.name == "office")).one()

    assert last_used() is None
    rest.as_("office").get("/task")
    first = last_used()
    assert first == frozen_clock.now()
    frozen_clock.advance(timedelta(seconds=30))
    rest.as_("office").get("/task")
    assert last_used() == first
    frozen_clock.advance(timedelta(seconds=31))
    rest.as_("office").get("/task")
    assert last_used() == frozen_clock.now()


@pytest.fixture
def dalad(rest, monkeypatch, tmp_path, capsys):
    """Run `dalad ARGS...` on the test database; return (status, stdout, stderr)."""
    monkeypatch.setenv("DALAD_DATABASE_URL", rest.db.url)
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("DALAD_DEMO", raising=False)

    def run(*args: str):
        capsys.readouterr()
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err
    return run


def test_dalad_tokens_create_list_revoke(rest, dalad):
    status, out, err = dalad("tokens", "create", "finance", "--name", "budget system", "--actor", "admin")
    assert status == 0, err
    header, plaintext = out.strip().splitlines()
    assert header.startswith("token ") and "finance" in header and plaintext.startswith("dalad_")
    token_id = header.split()[1]
    finance = Api(rest.client, f"Bearer {plaintext}")
    assert finance.get("/task").status_code == 200

    status, out, _ = dalad("tokens", "list", "--user", "finance")
    lines = out.strip().splitlines()
    assert status == 0 and len(lines) == 2 and plaintext not in out
    assert any(line.startswith(f"{token_id}  finance  budget system") and line.endswith("active") for line in lines)

    status, out, _ = dalad("tokens", "revoke", token_id, "--actor", "admin")
    assert status == 0 and f"token {token_id} revoked" in out
    error_of(finance.get("/task"), 401, "AuthenticationException")
    status, out, _ = dalad("tokens", "list")
    assert "revoked 2026-03-02T09:00:00+08:00" in out

    status, _, err = dalad("tokens", "revoke", token_id)
    assert status == 1 and err.startswith("dalad: error: API token") and "already revoked" in err
    status, _, err = dalad("tokens", "create", "nobody")
    assert status == 1 and "user 'nobody' does not exist" in err
    status, _, err = dalad("tokens")
    assert status == 1 and "create,list,revoke" in err
    with rest.db.read() as session:
        revoked = [r for r in session.scalars(select(HistoryEvent).where(HistoryEvent.type == "token_revoked"))]
        assert len(revoked) == 1 and revoked[0].actor == "admin"
