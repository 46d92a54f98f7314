"""Users and bureaus: accounts only in known bureaus and roles, passwords hashed and checked, and
every change in the system history chain without the password or its hash."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine import bureaus, history, users
from engine.errors import InvalidInput, NotFound
from engine.models import Bureau, HistoryEvent

PASSWORD = "correct horse"


@pytest.fixture
def session(db):
    with db.write_session() as session:  # (system_events commits: the system chain is written at commit)
        bureaus.ensure_bureaus(session)
        yield session
        session.commit()


def system_events(session) -> list[dict]:
    session.commit()
    return [json.loads(row.body) for row in history.chain_rows(session, history.SYSTEM_CHAIN)]


def test_ensure_bureaus_inserts_the_table_once(db):
    with db.write() as session:
        assert bureaus.ensure_bureaus(session) == [b.id for b in bureaus.BUREAUS]
    with db.write() as session:
        assert bureaus.ensure_bureaus(session) == []
        rows = {b.id: b for b in session.scalars(select(Bureau))}
    assert set(rows) == {"leading_group", "office", "cac", "drc", "finance", "audit", "secrecy", "industry",
                         "police", "government", "consultant", "supervisor", "archives"}
    assert rows["drc"].name_zh == "旗发展和改革委员会"
    assert rows["drc"].name_en == "Banner Development and Reform Commission"


def test_ensure_unit_creates_a_well_formed_unit_once(session):
    unit = bureaus.ensure_unit(session, "unit:edu", "旗教育体育局")
    assert (unit.id, unit.name_zh) == ("unit:edu", "旗教育体育局")
    assert bureaus.ensure_unit(session, "unit:edu").name_zh == "旗教育体育局"
    for bad in ("unit:", "unit:Edu", "unit:教育", "unit:edu-1", "edu"):
        with pytest.raises(InvalidInput, match="unit:<dept>"):
            bureaus.ensure_unit(session, bad)


def test_add_user_stores_bureaus_roles_and_a_hash(session):
    user = users.add_user(session, "li", PASSWORD, bureaus=["drc", "finance"], roles=["admin"],
                          profile=users.Profile(first_name="明", last_name="李"), actor="root")
    assert (user.groups, user.role_names, user.display_name, user.is_demo) == (
        ["drc", "finance"], ["admin"], "李明", False)
    assert PASSWORD not in user.password_hash and user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_add_user_creates_a_new_unit_group(session):
    user = users.add_user(session, "zhang", PASSWORD, bureaus=["unit:water"], roles=[])
    assert user.groups == ["unit:water"]
    assert session.get(Bureau, "unit:water") is not None
    assert system_events(session)[-1]["data"]["units_created"] == ["unit:water"]


def test_unknown_bureau_is_refused_with_the_known_ones_listed(session):
    with pytest.raises(InvalidInput) as refused:
        users.add_user(session, "li", PASSWORD, bureaus=["dcr"], roles=[])
    message = str(refused.value)
    assert "unknown bureau 'dcr'" in message
    assert all(b.id in message for b in bureaus.BUREAUS) and "unit:<dept>" in message
    with pytest.raises(InvalidInput, match="lower-case"):
        users.add_user(session, "li", PASSWORD, bureaus=["unit:Water"], roles=[])


def test_unknown_role_duplicate_name_and_short_password_are_refused(session):
    with pytest.raises(InvalidInput, match="unknown role 'root'.*admin, auditor"):
        users.add_user(session, "li", PASSWORD, bureaus=["drc"], roles=["root"])
    users.add_user(session, "li", PASSWORD, bureaus=["drc"], roles=[])
    with pytest.raises(InvalidInput, match="already exists"):
        users.add_user(session, "li", PASSWORD, bureaus=["office"], roles=[])
    with pytest.raises(InvalidInput, match="at least 8"):
        users.add_user(session, "wang", "short", bureaus=["drc"], roles=[])
    with pytest.raises(InvalidInput, match="not allowed"):
        users.add_user(session, "two words", PASSWORD, bureaus=["drc"], roles=[])
    with pytest.raises(InvalidInput, match="at least one bureau or role"):
        users.add_user(session, "nobody", PASSWORD, bureaus=[], roles=[])


def test_demo_users_may_have_short_passwords(session):
    assert users.add_user(session, "demo", "demo", bureaus=["office"], roles=[], demo=True).is_demo


def test_members_of_audit_are_auditors(session):
    assert users.add_user(session, "sun", PASSWORD, bureaus=["audit"], roles=[]).role_names == ["auditor"]


def test_authenticate_checks_the_password_and_the_account(session):
    users.add_user(session, "li", PASSWORD, bureaus=["drc"], roles=[])
    assert users.authenticate(session, "li", PASSWORD).name == "li"
    assert users.authenticate(session, "li", "wrong password") is None
    assert users.authenticate(session, "nobody", PASSWORD) is None
    users.get_user(session, "li").active = False
    assert users.authenticate(session, "li", PASSWORD) is None


def test_demo_accounts_log_in_only_in_demo_mode(session):
    users.add_user(session, "demo", "demo1234", bureaus=["office"], roles=[], demo=True)
    assert users.authenticate(session, "demo", "demo1234") is None
    assert users.authenticate(session, "demo", "demo1234", allow_demo=True).name == "demo"


def test_set_password_replaces_the_old_one(session):
    users.add_user(session, "li", PASSWORD, bureaus=["drc"], roles=[])
    users.set_password(session, "li", "another secret", actor="admin")
    assert users.authenticate(session, "li", PASSWORD) is None
    assert users.authenticate(session, "li", "another secret") is not None
    with pytest.raises(InvalidInput, match="at least 8"):
        users.set_password(session, "li", "short")
    with pytest.raises(NotFound, match="user 'nobody' does not exist"):
        users.set_password(session, "nobody", "another secret")


def test_list_users_is_sorted_by_name(session):
    for name in ("zhao", "li", "ma"):
        users.add_user(session, name, PASSWORD, bureaus=["office"], roles=[])
    assert [u.name for u in users.list_users(session)] == ["li", "ma", "zhao"]
    with pytest.raises(NotFound):
        users.get_user(session, "qian")


def test_changes_are_chained_in_the_system_history_without_secrets(session):
    user = users.add_user(session, "li", PASSWORD, bureaus=["drc"], roles=["admin"], actor="root")
    first_hash = user.password_hash
    users.set_password(session, "li", "another secret", actor="root")
    events = system_events(session)
    assert [(e["type"], e["actor"]) for e in events] == [("user_added", "root"), ("password_changed", "root")]
    assert events[0]["data"] == {"user": "li", "profile": [],
                                 "bureaus": ["drc"], "roles": ["admin"], "demo": False, "units_created": []}
    bodies = " ".join(row.body for row in session.scalars(select(HistoryEvent)))
    for secret in (PASSWORD, "another secret", first_hash, user.password_hash):
        assert secret not in bodies
    assert history.verify_system_chain(session).ok


# --- the profile ---------------------------------------------------------------------------------

@pytest.mark.parametrize("first, last, shown", [
    ("三", "张", "张三"),  # Chinese: family name first, no space
    ("Sam", "Lee", "Sam Lee"),  # as Camunda's webapps show firstName lastName
    ("太郎", "山田", "山田太郎"),
    ("流程管理员（演示）", None, "流程管理员（演示）"),  # one alone: the demo accounts keep their names
    (None, "张", "张"),
    (None, None, None),  # the pages show the user name
])
def test_the_display_name_is_derived_from_the_two_names(first, last, shown):
    assert users.display_name_of(first, last) == shown


@pytest.mark.parametrize("email", ["zhang.san@dalad.gov.cn", "张三@例子.中国", "o'brien+tag@example.com",
                                   "admin@localhost", "用户@dalad.gov.cn"])
def test_an_internationalised_or_plain_address_is_kept(email):
    assert users.profile_checked(email=f"  {email} ").email == email


@pytest.mark.parametrize("field, value, problem", [
    ("email", "zhangsan", "email"), ("email", "zhang san@dalad.gov.cn", "email"), ("email", "a@@b.cn", "email"),
    ("email", "@dalad.gov.cn", "email"), ("email", "a@dalad..cn", "email"), ("email", "a@.cn", "email"),
    ("email", "a@dalad.cn.", "email"), ("email", "x" * 65 + "@dalad.cn", "email"),
    ("email", "a@" + "d" * 250 + ".cn", "length"), ("first_name", "名" * 256, "length"),
    ("last_name", "张\n三", "control"), ("first_name", "a\x00b", "control"), ("email", 7, "text"),
    ("last_name", ["张"], "text"),
])
def test_a_wrong_profile_value_is_refused_by_field(field, value, problem):
    with pytest.raises(users.ProfileInvalid) as refused:
        users.profile_checked(**{field: value})
    assert (refused.value.field, refused.value.problem) == (field, problem)


def test_the_longest_names_camunda_keeps_are_kept(session):
    """255 characters each, as ACT_ID_USER's columns: on PostgreSQL a varchar shorter would refuse."""
    profile = users.Profile(first_name="名" * 255, last_name="姓" * 255, email="a" * 64 + "@" + "d" * 185 + ".cn")
    user = users.add_user(session, "li", PASSWORD, bureaus=["drc"], roles=[], profile=profile)
    session.flush()
    session.expire(user)
    assert (user.first_name, user.last_name, user.email) == (profile.first_name, profile.last_name, profile.email)
    assert user.display_name == "姓" * 255 + "名" * 255


def test_set_profile_replaces_the_three_and_records_which_changed(session):
    users.add_user(session, "li", PASSWORD, bureaus=["drc"], roles=[],
                   profile=users.Profile(first_name="明", last_name="李", email="li@dalad.gov.cn"))
    user = users.set_profile(session, "li", users.Profile(first_name="Ming", last_name="Li"), actor="root")
    assert (user.first_name, user.last_name, user.email, user.display_name) == ("Ming", "Li", None, "Ming Li")
    assert user.groups == ["drc"]
    event = system_events(session)[-1]
    assert event["type"] == "user_updated" and event["actor"] == "root"
    assert event["data"] == {"user": "li", "profile": ["first_name", "last_name", "email"]}  # not the values
    with pytest.raises(users.ProfileInvalid):
        users.set_profile(session, "li", users.Profile(email="li at dalad"))
