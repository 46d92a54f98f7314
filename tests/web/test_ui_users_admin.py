"""User administration: administrators only; add, change bureaus and roles, reset a password,
deactivate; every change a system history event; mistakes come back with what was typed."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from test_ui_fixtures import PASSWORD, app, client, login, post, text_of  # noqa: F401

from engine import history, users
from engine.errors import InvalidInput
from engine.models import HistoryEvent

SUBJECTS = {"anonymous": None, "other_unit": "health_zhao", "other_bureau": "drc_zhang", "right": "admin_zhou",
            "auditor": "auditor_sun", "admin": "admin_zhou"}
NEW_USER = {"name": "water_qian", "last_name": "钱", "first_name": "工", "email": "qian@dalad.gov.cn",
            "password": "long-enough-1", "password2": "long-enough-1",
            "bureaus": ["unit:edu"], "new_unit": "water", "new_unit_name": "旗水利局"}


def _client_for(app, subject):
    client = app.test_client()
    if SUBJECTS[subject]:
        assert login(client, SUBJECTS[subject]).status_code == 302
    else:
        client.get("/login")
    return client


def _system_events(db, kind: str) -> list[dict]:
    with db.read() as session:
        rows = session.scalars(select(HistoryEvent).where(HistoryEvent.chain == history.SYSTEM_CHAIN,
                                                          HistoryEvent.type == kind).order_by(HistoryEvent.seq))
        return [json.loads(row.body) for row in rows]


# --- access ------------------------------------------------------------------------------------

ROUTES = [("GET", "/admin/users", None), ("GET", "/admin/users/edu_wang", None),
          ("POST", "/admin/users", NEW_USER), ("POST", "/admin/users/edu_wang", {"bureaus": ["unit:health"]}),
          ("POST", "/admin/users/edu_wang/password", {"password": "brand-new-pass", "password2": "brand-new-pass"}),
          ("POST", "/admin/users/edu_wang/active", {"active": "0"})]
EXPECTED = {"GET": dict(anonymous=302, other_unit=403, other_bureau=403, right=200, auditor=403, admin=200),
            "POST": dict(anonymous=401, other_unit=403, other_bureau=403, right=302, auditor=403, admin=302)}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("subject", list(SUBJECTS))
def test_access(app, route, subject):
    method, path, data = route
    client = _client_for(app, subject)
    response = client.get(path) if method == "GET" else post(client, path, data)
    assert response.status_code == EXPECTED[method][subject]


def test_an_unknown_user_is_not_found(app):
    assert _client_for(app, "admin").get("/admin/users/nobody").status_code == 404


def test_a_post_without_the_csrf_token_is_refused(app, db):
    client = _client_for(app, "admin")
    assert client.post("/admin/users", data=NEW_USER).status_code == 400
    with db.read() as session:
        assert users.find_user(session, "water_qian") is None


def test_only_administrators_see_the_link(app):
    assert 'href="/admin/users"' in _client_for(app, "admin").get("/inbox/").get_data(as_text=True)
    assert 'href="/admin/users"' not in _client_for(app, "auditor").get("/inbox/").get_data(as_text=True)


# --- changes -----------------------------------------------------------------------------------

def test_add_a_user_with_a_new_unit(app, db):
    client = _client_for(app, "admin")
    response = post(client, "/admin/users", NEW_USER)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users/water_qian"
    with db.read() as session:
        user = users.find_user(session, "water_qian")
        assert user.display_name == "钱工" and sorted(user.groups) == ["unit:edu", "unit:water"]
        assert (user.last_name, user.first_name, user.email) == ("钱", "工", "qian@dalad.gov.cn")
        assert not user.is_demo
        assert users.authenticate(session, "water_qian", "long-enough-1") is not None
    [event] = [e for e in _system_events(db, "user_added") if e["data"]["user"] == "water_qian"]
    assert event["actor"] == "admin_zhou"
    assert "long-enough-1" not in json.dumps(event)
    assert "旗水利局" in text_of(client.get("/admin/users/water_qian"))


@pytest.mark.parametrize("change, field, message", [
    ({"name": "edu_li"}, "name", "已存在"),
    ({"name": "has space"}, "name", "不含空格"),
    ({"name": "water\u200bqian"}, "name", "不能含有 U+200B ZERO WIDTH SPACE：双向文本控制符"),
    ({"name": "admin\u202e_zhou"}, "name", "不能含有 U+202E RIGHT-TO-LEFT OVERRIDE："),
    ({"password": "short", "password2": "short"}, "password", "密码至少 8 位"),
    ({"password2": "different-pass"}, "password2", "两次输入的密码不一致"),
    ({"bureaus": [], "new_unit": ""}, "bureaus", "请至少选择一个部门或角色"),
    ({"new_unit": "Water Bureau"}, "new_unit", "小写字母"),
    ({"bureaus": ["ministry"]}, "bureaus", "所选部门无效"),
])
def test_mistakes_come_back_with_what_was_typed(app, db, change, field, message):
    response = post(_client_for(app, "admin"), "/admin/users", {**NEW_USER, **change})
    assert response.status_code == 422
    assert message in text_of(response)
    page = response.get_data(as_text=True)
    for typed in ('value="钱"', 'value="工"', 'value="qian@dalad.gov.cn"'):  # nothing typed is lost
        assert typed in page
    assert "long-enough-1" not in page  # (passwords are never sent back)
    assert "long-enough-1" not in page
    with db.read() as session:
        assert users.find_user(session, "water_qian") is None


def test_change_bureaus_and_roles(app, db):
    client = _client_for(app, "admin")
    response = post(client, "/admin/users/edu_wang", {"last_name": "王", "first_name": "老师",
                                                      "bureaus": ["unit:health", "audit"]})
    assert response.status_code == 302
    with db.read() as session:
        user = users.find_user(session, "edu_wang")
        assert sorted(user.groups) == ["audit", "unit:health"] and user.role_names == ["auditor"]
        assert (user.display_name, user.email) == ("王老师", None)
    [event] = _system_events(db, "user_updated")
    assert event["actor"] == "admin_zhou"
    assert event["data"]["before"]["bureaus"] == ["unit:edu"]
    assert sorted(event["data"]["after"]["bureaus"]) == ["audit", "unit:health"]
    assert "已保存" in text_of(client.get("/admin/users/edu_wang"))


WANG = {"last_name": "王", "first_name": "芳", "email": "wangfang@edu.cn", "bureaus": ["unit:edu"]}


def test_an_administrator_sees_and_changes_the_names_and_the_email(app, db):
    """The pages kept one 姓名 field and no e-mail: an address given over REST could not be seen or changed."""
    client = _client_for(app, "admin")
    assert post(client, "/admin/users/edu_wang", WANG).status_code == 302
    page = client.get("/admin/users/edu_wang").get_data(as_text=True)
    for shown in ('name="last_name" value="王"', 'name="first_name" value="芳"', 'name="email" value="wangfang@edu.cn"'):
        assert shown in page
    listed = text_of(client.get("/admin/users"))
    assert "王芳" in listed and "wangfang@edu.cn" in listed
    response = post(client, "/admin/users/edu_wang", {"last_name": " 王 ", "first_name": "芳芳",
                                                      "email": "王芳@教育.中国", "bureaus": ["unit:edu"]})
    assert response.status_code == 302
    assert "已保存用户“edu_wang”的姓名、电子邮箱、部门和角色。" in text_of(client.get(response.headers["Location"]))
    with db.read() as session:
        user = users.find_user(session, "edu_wang")
        assert (user.last_name, user.first_name, user.email, user.display_name) == ("王", "芳芳", "王芳@教育.中国", "王芳芳")
    event = _system_events(db, "user_updated")[-1]
    assert event["data"]["profile"] == ["first_name", "email"]  # which changed, not the values


def _field_errors(response) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="f-(\w+)-error">([^<]*)</p>', response.get_data(as_text=True)))


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/edu_wang"])
def test_a_wrong_email_or_name_is_marked_at_its_field_and_nothing_is_saved(app, db, path):
    client = _client_for(app, "admin")
    assert post(client, "/admin/users/edu_wang", WANG).status_code == 302
    wrong = {"email": "wangfang at edu.cn", "first_name": "芳" * 256, "last_name": "王\t"}
    response = post(client, path, {**NEW_USER, **wrong})
    assert response.status_code == 422
    errors = _field_errors(response)
    assert errors["email"].startswith("电子邮箱格式不正确") and errors["first_name"] == "最多 255 个字符"
    assert "last_name" not in errors  # a tab at the end is a space around the name
    assert 'value="wangfang at edu.cn"' in response.get_data(as_text=True)  # what was typed comes back
    with db.read() as session:
        assert users.find_user(session, "water_qian") is None
        user = users.find_user(session, "edu_wang")
        assert (user.display_name, user.groups) == ("王芳", ["unit:edu"])
        assert user.email == "wangfang@edu.cn"
    post(client, "/lang", {"lang": "en", "next": "/"})
    errors = _field_errors(post(client, path, {**NEW_USER, "email": "a@b@c", "last_name": "王\x7f"}))
    assert errors["email"].startswith("Not an e-mail address") and "control characters" in errors["last_name"]


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/edu_wang"])
def test_a_name_with_a_bidi_control_is_marked_at_its_field_and_nothing_is_saved(app, db, path):
    client = _client_for(app, "admin")
    response = post(client, path, {**NEW_USER, "first_name": "工\u2067", "last_name": "\u2069钱"})
    assert response.status_code == 422
    errors = _field_errors(response)
    assert errors["first_name"].startswith("不能含有 U+2067 RIGHT-TO-LEFT ISOLATE：")
    assert errors["last_name"].startswith("不能含有 U+2069 POP DIRECTIONAL ISOLATE：")
    with db.read() as session:
        assert users.find_user(session, "water_qian") is None
        assert users.find_user(session, "edu_wang").last_name is None


def test_an_administrator_keeps_their_own_role_and_account(app, db):
    client = _client_for(app, "admin")
    response = post(client, "/admin/users/admin_zhou", {"bureaus": ["office"]})
    assert response.status_code == 422 and "不能取消您本人的流程管理员角色" in text_of(response)
    post(client, "/admin/users/admin_zhou/active", {"active": "0"})
    with db.read() as session:
        user = users.find_user(session, "admin_zhou")
        assert user.active and user.role_names == ["admin"]
    assert "不能停用您本人的账号" in text_of(client.get("/admin/users/admin_zhou"))


def test_deactivate_and_activate_again(app, db):
    admin = _client_for(app, "admin")
    assert post(admin, "/admin/users/edu_wang/active", {"active": "0"}).status_code == 302
    assert login(app.test_client(), "edu_wang").status_code == 401
    assert [e["data"]["user"] for e in _system_events(db, "user_deactivated")] == ["edu_wang"]
    assert "已停用" in text_of(admin.get("/admin/users"))
    post(admin, "/admin/users/edu_wang/active", {"active": "1"})
    assert login(app.test_client(), "edu_wang").status_code == 302
    assert [e["data"]["user"] for e in _system_events(db, "user_activated")] == ["edu_wang"]


def test_a_deactivated_official_is_logged_out_at_the_next_request(app):
    official = _client_for(app, "other_unit")
    assert official.get("/inbox/").status_code == 200
    post(_client_for(app, "admin"), "/admin/users/health_zhao/active", {"active": "0"})
    assert official.get("/inbox/").status_code == 302


def test_reset_a_password(app, db):
    admin = _client_for(app, "admin")
    response = post(admin, "/admin/users/edu_wang/password", {"password": "short", "password2": "short"})
    assert "密码至少 8 位" in text_of(admin.get(response.headers["Location"]))
    post(admin, "/admin/users/edu_wang/password", {"password": "brand-new-pass", "password2": "brand-new-pass"})
    assert login(app.test_client(), "edu_wang", "brand-new-pass").status_code == 302
    assert login(app.test_client(), "edu_wang", PASSWORD).status_code == 401
    [event] = _system_events(db, "password_changed")
    assert event["actor"] == "admin_zhou" and "brand-new-pass" not in json.dumps(event)


def test_demo_accounts_are_marked_and_log_in_only_in_demo_mode(app):
    text = text_of(_client_for(app, "admin").get("/admin/users"))
    assert "demo_drc" in text and "演示账号（不可登录）" in text
    page = _client_for(app, "admin").get("/admin/users").get_data(as_text=True)
    assert 'name="demo"' not in page  # the page never makes a demo account


# --- the engine functions ----------------------------------------------------------------------

def test_update_user_checks_like_add_user(db, app):
    with db.write() as session:
        with pytest.raises(InvalidInput, match="unknown bureau"):
            users.update_user(session, "edu_wang", bureaus=["ministry"], roles=[])
        with pytest.raises(InvalidInput, match="at least one bureau or role"):
            users.update_user(session, "edu_wang", bureaus=[], roles=[])
        with pytest.raises(InvalidInput, match="unknown role"):
            users.update_user(session, "edu_wang", bureaus=["drc"], roles=["root"])
        user = users.update_user(session, "edu_wang", bureaus=["drc", "unit:new_dept"], roles=["admin"])
        assert sorted(user.groups) == ["drc", "unit:new_dept"] and user.role_names == ["admin"]


def test_set_active_records_only_changes(db, app):
    with db.write() as session:
        users.set_active(session, "edu_wang", True)
        users.set_active(session, "edu_wang", False, actor="admin_zhou")
        users.set_active(session, "edu_wang", False, actor="admin_zhou")
    assert len(_system_events(db, "user_deactivated")) == 1 and _system_events(db, "user_activated") == []
