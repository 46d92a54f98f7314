"""Login, logout, throttling, demo accounts, CSRF, session cookie and language switch."""
from __future__ import annotations

import pytest

from test_ui_fixtures import PASSWORD, app, client, csrf, login, post, text_of  # noqa: F401

from web import security


def test_good_login_lands_in_the_inbox_and_shows_the_user(client):
    response = login(client, "drc_zhang")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/inbox/"  # nothing waits anywhere: 我的待办
    page = client.get("/inbox/")
    assert page.status_code == 200
    assert "drc_zhang（测试）" in text_of(page) and "旗发展和改革委员会" in text_of(page)


def test_bad_password_is_refused_in_chinese(client):
    response = login(client, "drc_zhang", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码不正确" in text_of(response)
    assert client.get("/inbox/").status_code == 302


def test_unknown_user_is_refused_like_a_bad_password(client):
    response = login(client, "nobody", "whatever-it-is")
    assert response.status_code == 401 and "用户名或密码不正确" in text_of(response)


def test_five_failures_make_the_name_wait_thirty_seconds(app, client):
    moment = [1000.0]
    app.extensions["dalad_login_throttle"] = security.LoginThrottle(now=lambda: moment[0])
    for _ in range(5):
        assert login(client, "drc_zhang", "wrong-password").status_code == 401
    refused = login(client, "drc_zhang")  # even the right password waits
    assert refused.status_code == 429
    assert "登录失败次数过多，请 30 秒后再试" in text_of(refused)
    assert login(client, "finance_liu").status_code == 302  # another name from the same address may try
    moment[0] += 31
    assert login(client, "drc_zhang").status_code == 302


def test_many_failures_from_one_address_are_throttled_across_names(app, client):
    app.extensions["dalad_login_throttle"] = security.LoginThrottle(now=lambda: 50.0)
    for i in range(20):
        login(client, f"guess{i}", "wrong-password")
    assert login(client, "drc_zhang").status_code == 429


def test_demo_account_is_refused_outside_demo_mode(app, client):
    assert login(client, "demo_drc", "demo1234").status_code == 401
    app.config["DALAD_DEMO"] = True
    assert login(client, "demo_drc", "demo1234").status_code == 302


def test_demo_session_ends_when_demo_mode_is_switched_off(app, client):
    app.config["DALAD_DEMO"] = True
    login(client, "demo_drc", "demo1234")
    assert client.get("/inbox/").status_code == 200
    app.config["DALAD_DEMO"] = False
    assert client.get("/inbox/").status_code == 302


def test_login_keeps_only_a_local_next_target(client):
    client.get("/login")
    response = client.post("/login", data={"name": "drc_zhang", "password": PASSWORD, "_csrf": csrf(client),
                                           "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
    post(client, "/logout")
    client.get("/login")
    response = client.post("/login", data={"name": "drc_zhang", "password": PASSWORD, "_csrf": csrf(client),
                                           "next": "/inbox/bureau"})
    assert response.headers["Location"].endswith("/inbox/bureau")


def test_anonymous_page_redirects_to_login_with_next(client):
    response = client.get("/inbox/bureau")
    assert response.status_code == 302
    assert "/login?next=/inbox/bureau" in response.headers["Location"]


def test_logout_ends_the_session(client):
    login(client, "drc_zhang")
    assert post(client, "/logout").status_code == 302
    assert client.get("/inbox/").status_code == 302


def test_login_and_logout_need_the_csrf_token(client):
    client.get("/login")
    response = client.post("/login", data={"name": "drc_zhang", "password": PASSWORD, "_csrf": "forged"})
    assert response.status_code == 400 and "页面已过期" in text_of(response)
    login(client, "drc_zhang")
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/inbox/").status_code == 200


def test_login_gives_a_new_csrf_token(client):
    client.get("/login")
    before = csrf(client)
    login(client, "drc_zhang")
    assert csrf(client) != before


def test_session_cookie_is_httponly_and_lax(client):
    response = login(client, "drc_zhang")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookies_are_configurable(db, monkeypatch):
    from web import create_app
    monkeypatch.setenv("DALAD_SECURE_COOKIES", "1")
    assert create_app(db=db).config["SESSION_COOKIE_SECURE"] is True


def test_pages_carry_protective_headers(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    login(client, "drc_zhang")
    assert client.get("/inbox/").headers["Cache-Control"] == "no-store"


def test_english_is_chosen_per_user_and_outlives_the_session(client):
    assert "用户登录" in text_of(client.get("/login"))
    response = post(client, "/lang", {"lang": "en", "next": "/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Sign in" in text_of(client.get("/login"))
    login(client, "drc_zhang")
    page = text_of(client.get("/inbox/"))
    assert "My tasks" in page and "Banner Development and Reform Commission" in page
    post(client, "/lang", {"lang": "zh_CN", "next": "/inbox/"})
    assert "我的待办" in text_of(client.get("/inbox/"))


@pytest.mark.parametrize("lang, current, other", [("zh_CN", "中文", "English"), ("en", "English", "中文")])
def test_the_language_switch_marks_the_language_in_use(client, lang, current, other):
    """The language in use is marked, not offered; the other one is the button."""
    post(client, "/lang", {"lang": lang, "next": "/login"})
    page = client.get("/login").get_data(as_text=True)
    assert f'<span class="lang-current">{current}</span>' in page
    assert f'value="{lang}" class="link"' not in page and f'class="link">{other}</button>' in page


def test_a_name_inside_a_translated_sentence_is_escaped_in_either_language(client, db):
    from datetime import timedelta

    from engine import clock, users
    with db.write() as session:
        users.get_user(session, "edu_wang").display_name = "<b>王</b>"
    login(client, "edu_li")
    until = (clock.today() + timedelta(days=5)).isoformat()
    assert post(client, "/me/substitute", {"substitute": "edu_wang", "until": until}).status_code == 302
    assert f"外出至 {until}，由 &lt;b&gt;王&lt;/b&gt; 接办您的任务。" in client.get("/me").get_data(as_text=True)
    post(client, "/lang", {"lang": "en", "next": "/me"})
    page = client.get("/me").get_data(as_text=True)
    assert f"Away until {until}: &lt;b&gt;王&lt;/b&gt; takes over your tasks." in page


def test_error_pages_are_in_chinese(client):
    login(client, "drc_zhang")
    response = client.get("/tasks/999999")
    assert response.status_code == 404 and "页面不存在" in text_of(response)
    assert "页面不存在" in text_of(client.get("/no/such/page"))


def test_health_check_needs_no_login(client):
    assert client.get("/healthz").get_json()["status"] == "ok"


def _copy_session(app, client):
    """A second browser holding the same session cookie (a stolen or a second-tab cookie)."""
    other = app.test_client()
    other.set_cookie("dalad_session", client.get_cookie("dalad_session").value)
    return other


def test_logout_ends_every_session_of_the_user_even_a_copied_cookie(app, client):
    login(client, "drc_zhang")
    elsewhere = app.test_client()
    login(elsewhere, "drc_zhang")
    stolen = _copy_session(app, client)
    assert stolen.get("/inbox/").status_code == 200
    post(client, "/logout")
    assert stolen.get("/inbox/").status_code == 302
    assert elsewhere.get("/inbox/").status_code == 302
    login(client, "drc_zhang")  # a new login works again
    assert client.get("/inbox/").status_code == 200


def test_a_password_reset_or_deactivation_ends_the_users_sessions(app, client):
    login(client, "drc_zhang")
    admin = app.test_client()
    login(admin, "admin_zhou")
    post(admin, "/admin/users/drc_zhang/password", {"password": "another-pass-9", "password2": "another-pass-9"})
    assert client.get("/inbox/").status_code == 302
    assert admin.get("/admin/users").status_code == 200  # the administrator's own session goes on
    login(client, "drc_zhang", "another-pass-9")
    assert client.get("/inbox/").status_code == 200
    post(admin, "/admin/users/drc_zhang/active", {"active": "0"})
    post(admin, "/admin/users/drc_zhang/active", {"active": "1"})  # reactivation does not revive it
    assert client.get("/inbox/").status_code == 302


def test_a_session_idle_longer_than_the_limit_ends(app, client, monkeypatch):
    from web import auth
    now = [1_800_000_000.0]
    monkeypatch.setattr(auth, "wall_clock", lambda: now[0])
    login(client, "drc_zhang")
    now[0] += 7 * 3600 + 59 * 60
    assert client.get("/inbox/").status_code == 200  # a request keeps the session alive
    now[0] += 7 * 3600 + 59 * 60
    assert client.get("/inbox/").status_code == 200
    now[0] += 8 * 3600 + 60
    assert client.get("/inbox/").status_code == 302


def test_the_cookie_is_sent_again_when_the_session_changes_not_with_every_page(app, client, monkeypatch):
    from web import auth
    now = [1_800_000_000.0]
    monkeypatch.setattr(auth, "wall_clock", lambda: now[0])
    login(client, "drc_zhang")
    now[0] += 30
    assert "Set-Cookie" not in client.get("/inbox/").headers  # nothing changed within the minute
    now[0] += 31
    cookie = client.get("/inbox/").headers["Set-Cookie"]  # the time of its last request: a new expiry
    assert cookie.startswith("dalad_session=") and "Expires=" in cookie


def test_the_idle_limit_is_configurable(monkeypatch, tmp_path):
    from engine.config import ConfigurationError, Settings
    import pytest
    env = {"DALAD_INSTANCE_DIR": str(tmp_path), "DALAD_HISTORY_KEY": "k" * 32, "DALAD_SECRET_KEY": "s"}
    assert Settings.from_env(env).session_idle_hours == 8
    assert Settings.from_env({**env, "DALAD_SESSION_IDLE_HOURS": "0.5"}).session_idle_hours == 0.5
    with pytest.raises(ConfigurationError, match="DALAD_SESSION_IDLE_HOURS"):
        Settings.from_env({**env, "DALAD_SESSION_IDLE_HOURS": "forever"})
