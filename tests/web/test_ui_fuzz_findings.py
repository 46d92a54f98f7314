"""What the UI fuzz suite (tests/fuzz/test_ui_fuzz.py) found, each kept as a test on the page it
broke: a bad form value is a 4xx naming what is wrong, in Chinese or in English, never a 500, and
nothing already saved changes."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import clock, users
from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401


def _substitute(db, name: str):
    with db.read() as session:
        user = session.scalars(select(users.User).where(users.User.name == name)).one()
        return user.substitute, user.away_until


def test_a_substitute_who_is_no_user_is_named_and_the_one_chosen_stays(client, db):
    """/me/substitute with a name no user has answered 500 (the engine's NotFound went unhandled)."""
    login(client, "edu_li")
    until = (clock.today() + timedelta(days=5)).isoformat()
    assert post(client, "/me/substitute", {"substitute": "edu_wang", "until": until}).status_code == 302
    refused = post(client, "/me/substitute", {"substitute": "'\"<nobody>", "until": "9999-12-31"})
    assert refused.status_code == 400
    assert "没有名为“&#39;&#34;&lt;nobody&gt;”的用户" in refused.get_data(as_text=True)
    assert _substitute(db, "edu_li") == ("edu_wang", clock.today() + timedelta(days=5))
    post(client, "/lang", {"lang": "en", "next": "/me"})
    refused = post(client, "/me/substitute", {"substitute": "nobody", "until": until})
    assert refused.status_code == 400 and 'There is no user named “nobody”' in text_of(refused)


def test_a_refused_substitute_shows_the_settings_page_with_the_reason(client, db):
    login(client, "edu_li")
    for form, reason in (({"substitute": "edu_wang", "until": "2026-02-30"}, "请填写外出的最后一天。"),
                         ({"substitute": "health_zhao", "until": "9999-12-31"}, "请选择本部门的同事")):
        refused = post(client, "/me/substitute", form)
        assert refused.status_code == 400 and reason in text_of(refused) and "外出委托" in text_of(refused)
    assert _substitute(db, "edu_li") == (None, None)
