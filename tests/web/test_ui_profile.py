"""我的设置 (/me): a signed-in official sees and changes their own 姓, 名 and 电子邮箱 with the
administrator's fields and checks; a mistake is marked at its field (422), what was typed comes
back and nothing is saved; each change is a user_updated event of the system history."""
from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401

from engine import history, users
from engine.models import HistoryEvent


def _signed_in(app, name: str):
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def _profile_events(db, name: str) -> list[dict]:
    with db.read() as session:
        rows = session.scalars(select(HistoryEvent).where(HistoryEvent.chain == history.SYSTEM_CHAIN,
                                                          HistoryEvent.type == "user_updated").order_by(HistoryEvent.seq))
        return [body for body in (json.loads(row.body) for row in rows) if body["data"]["user"] == name]


def _field_errors(response) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="f-(\w+)-error">([^<]*)</p>', response.get_data(as_text=True)))


@pytest.mark.parametrize("name", ["edu_li", "auditor_sun", "admin_zhou"])
def test_an_official_sees_and_changes_their_own_names_and_email(app, db, name):
    """我的设置 kept only the substitute: an official could neither see nor change their e-mail or names."""
    client = _signed_in(app, name)
    page = client.get("/me").get_data(as_text=True)
    assert f'name="first_name" value="{name}（测试）"' in page  # what is kept, in the fields
    assert 'name="last_name" value=""' in page and 'name="email" value=""' in page
    response = post(client, "/me/profile", {"last_name": " 李 ", "first_name": "老师", "email": "li@edu.dalad.gov.cn"})
    assert response.status_code == 302
    shown = client.get(response.headers["Location"])
    assert "已保存您的姓名和电子邮箱。" in text_of(shown)
    assert "李老师" in text_of(shown)  # the name at the top of every page: the same rule as the admin's form
    assert 'name="email" value="li@edu.dalad.gov.cn"' in shown.get_data(as_text=True)
    with db.read() as session:
        user = users.find_user(session, name)
        assert (user.last_name, user.first_name, user.email, user.display_name) == (
            "李", "老师", "li@edu.dalad.gov.cn", "李老师")
    [event] = _profile_events(db, name)  # recorded as the administrator's change is, naming who
    assert event["actor"] == name
    assert event["data"] == {"user": name, "profile": ["first_name", "last_name", "email"]}  # not the values
    post(client, "/me/profile", {"first_name": "Sam", "last_name": "Lee"})
    with db.read() as session:
        user = users.find_user(session, name)
        assert (user.display_name, user.email) == ("Sam Lee", None)  # an emptied field is emptied


def test_only_ones_own_profile_changes(app, db):
    """A field naming another user changes nothing of theirs: /me/profile is the signed-in official's."""
    client = _signed_in(app, "edu_li")
    assert post(client, "/me/profile", {"name": "edu_wang", "user": "edu_wang", "first_name": "芳"}).status_code == 302
    with db.read() as session:
        assert users.find_user(session, "edu_wang").first_name == "edu_wang（测试）"
        assert users.find_user(session, "edu_li").first_name == "芳"
    assert app.test_client().post("/me/profile", data={"first_name": "x"}).status_code == 401  # not signed in


def test_a_wrong_email_or_name_is_marked_at_its_field_and_nothing_is_saved(app, db):
    client = _signed_in(app, "edu_li")
    wrong = {"email": "li at edu.cn", "first_name": "芳" * 256, "last_name": "李\t"}
    response = post(client, "/me/profile", wrong)
    assert response.status_code == 422
    errors = _field_errors(response)
    assert errors["email"].startswith("电子邮箱格式不正确") and errors["first_name"] == "最多 255 个字符"
    assert "last_name" not in errors  # a tab at the end is a space around the name
    assert "表单有 2 处需要更正" in text_of(response)
    page = response.get_data(as_text=True)
    assert 'value="li at edu.cn"' in page and f'value="{"芳" * 256}"' in page  # what was typed comes back
    with db.read() as session:
        user = users.find_user(session, "edu_li")
        assert (user.first_name, user.last_name, user.email) == ("edu_li（测试）", None, None)
    assert _profile_events(db, "edu_li") == []
    post(client, "/lang", {"lang": "en", "next": "/"})
    response = post(client, "/me/profile", {"email": "a@b@c", "last_name": "李\x7f"})
    assert response.status_code == 422
    errors = _field_errors(response)
    assert errors["email"].startswith("Not an e-mail address") and "control characters" in errors["last_name"]
    assert "Name and e-mail" in html.unescape(response.get_data(as_text=True))


def test_the_substitute_form_still_refuses_with_the_profile_kept(app, db):
    """The settings page shown again after a refused 委托 holds the profile as kept."""
    client = _signed_in(app, "edu_li")
    response = post(client, "/me/substitute", {"substitute": "edu_wang", "until": ""})
    assert response.status_code == 400
    assert 'name="first_name" value="edu_li（测试）"' in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["edu_li", "auditor_sun"])
def test_a_name_with_a_bidi_control_or_a_zero_width_character_is_refused_at_its_field(app, db, name):
    """“李” + U+202E + … displays as another name, a zero-width space hides in it: 我的设置 kept them."""
    client = _signed_in(app, name)
    response = post(client, "/me/profile", {"last_name": "李\u202e", "first_name": "四\u200b", "email": ""})
    assert response.status_code == 422
    errors = _field_errors(response)
    assert errors["last_name"] == ("不能含有 U+202E RIGHT-TO-LEFT OVERRIDE：双向文本控制符、零宽字符等不可见的格式字符"
                                   "会改变名称的显示")
    assert errors["first_name"].startswith("不能含有 U+200B ZERO WIDTH SPACE：")
    with db.read() as session:
        assert users.find_user(session, name).last_name is None
    assert _profile_events(db, name) == []
    post(client, "/lang", {"lang": "en", "next": "/"})
    errors = _field_errors(post(client, "/me/profile", {"last_name": "\u2066李"}))
    assert errors["last_name"].startswith("Must not contain U+2066 LEFT-TO-RIGHT ISOLATE: ")
    mongolian = {"first_name": "\u182a\u1820\u1832\u1824\u180b", "last_name": "\u1828\u1823\u1837\u202f\u1836\u180e\u1820"}
    assert post(client, "/me/profile", mongolian).status_code == 302  # what Mongolian spelling needs is kept
    with db.read() as session:
        user = users.find_user(session, name)
        assert (user.first_name, user.last_name) == (mongolian["first_name"], mongolian["last_name"])
