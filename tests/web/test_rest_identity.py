"""/engine-rest/user and /group in Camunda 7.20's shapes: everyone reads, administrators change,
a user changes their own profile and password; deleting deactivates; unknown query parameters are
refused."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine import history, users
from engine.models import HistoryEvent
from test_rest_helpers import PASSWORD, error_of, rest  # noqa: F401


def test_users_and_groups_read_in_camunda_shapes(rest):
    edu = rest.as_("edu")
    users = edu.get("/user", sortBy="userId", sortOrder="desc", maxResults=2).get_json()
    assert users == [{"id": "office", "firstName": None, "lastName": None, "email": None},
                     {"id": "finance", "firstName": None, "lastName": None, "email": None}]
    assert [u["id"] for u in edu.get("/user", memberOfGroup="unit:edu").get_json()] == ["edu", "edu2"]
    assert [u["id"] for u in edu.get("/user", idIn="drc,admin").get_json()] == ["admin", "drc"]
    assert edu.get("/user/count", memberOfGroup="unit:edu").get_json() == {"count": 2}
    assert edu.get("/user/drc/profile").get_json()["id"] == "drc"
    error_of(edu.get("/user/ghost/profile"), 404, "InvalidRequestException")
    group = edu.get("/group/office").get_json()
    assert group == {"id": "office", "name": "领导小组办公室（旗大数据中心）", "type": "WORKFLOW"}
    assert [g["id"] for g in edu.get("/group", member="edu").get_json()] == ["unit:edu"]
    assert [g["id"] for g in edu.get("/group", nameLike="旗财%").get_json()] == ["finance"]
    assert edu.get("/group/count", idIn="office,drc").get_json() == {"count": 2}
    message = error_of(edu.get("/group", members="edu"), 400, "InvalidRequestException")
    assert "unknown query parameter: members" in message
    error_of(edu.get("/user", sortBy="age"), 400, "InvalidRequestException")


def test_administrators_create_change_and_delete_users_and_groups(rest):
    admin, edu = rest.as_("admin"), rest.as_("edu")
    error_of(edu.post("/group/create", {"id": "sales", "name": "销售"}), 403, "AuthorizationException")
    assert admin.post("/group/create", {"id": "sales", "name": "销售", "type": "WORKFLOW"}).status_code == 204
    error_of(admin.post("/group/create", {"id": "sales", "name": "x"}), 400, "InvalidRequestException")
    error_of(admin.post("/group/create", {"id": "ops", "name": "x", "type": "SYSTEM"}), 400, "InvalidRequestException")
    assert admin.put("/group/sales", {"id": "sales", "name": "销售部"}).status_code == 204
    assert admin.get("/group/sales").get_json()["name"] == "销售部"
    assert admin.post("/user/create", {"profile": {"id": "sam", "firstName": "Sam", "lastName": "Lee"},
                                       "credentials": {"password": PASSWORD}}).status_code == 204
    assert rest.basic("sam").get("/user/sam/profile").get_json() == {
        "id": "sam", "firstName": "Sam", "lastName": "Lee", "email": None}
    assert admin.put("/group/sales/members/sam", {}).status_code == 204
    assert [u["id"] for u in edu.get("/user", memberOfGroup="sales").get_json()] == ["sam"]
    # a user changes their own password with the current one, as Camunda asks
    error_of(rest.basic("sam").put("/user/sam/credentials", {"password": "another long one",
                                                             "authenticatedUserPassword": "wrong"}),
             400, "InvalidRequestException")
    assert rest.basic("sam").put("/user/sam/credentials", {"password": "another long one",
                                                           "authenticatedUserPassword": PASSWORD}).status_code == 204
    error_of(rest.basic("sam", "another long one").put("/user/edu/credentials", {"password": "x" * 10}), 403,
             "AuthorizationException")
    assert admin.delete("/group/sales/members/sam").status_code == 204
    assert edu.get("/user", memberOfGroup="sales").get_json() == []
    assert admin.delete("/group/sales").status_code == 204
    assert "sales" not in [g["id"] for g in edu.get("/group").get_json()]
    error_of(admin.put("/group/sales/members/edu", {}), 400, "InvalidRequestException")  # deactivated
    assert admin.delete("/user/sam").status_code == 204
    assert rest.basic("sam", "another long one").get("/user").status_code == 401
    error_of(admin.delete("/user/admin"), 400, "InvalidRequestException")


def test_a_password_of_the_wrong_kind_is_refused_by_name(rest):
    """A user changing their own password with authenticatedUserPassword as a list was a 500."""
    for body, named in (({"password": "another long one", "authenticatedUserPassword": [PASSWORD]},
                         "authenticatedUserPassword"),
                        ({"password": ["another long one"], "authenticatedUserPassword": PASSWORD}, "password")):
        message = error_of(rest.basic("edu").put("/user/edu/credentials", body), 400, "InvalidRequestException")
        assert message.startswith(named + " ")
    assert rest.basic("edu").get("/user/edu/profile").status_code == 200  # the password is unchanged


# --- the profile: firstName, lastName, email, kept as Camunda keeps them ---------------------------

ZHANG = {"id": "zhangsan", "firstName": "三", "lastName": "张", "email": "zhangsan@dalad.gov.cn"}


def _create(admin, profile: dict):
    return admin.post("/user/create", {"profile": profile, "credentials": {"password": PASSWORD}})


def test_a_profile_is_kept_whole_and_read_back_as_given(rest, db):
    """A user created with an e-mail was a 204, then read back with email null (and the names joined)."""
    admin, edu = rest.as_("admin"), rest.as_("edu")
    assert _create(admin, ZHANG).status_code == 204
    assert _create(admin, {"id": "sam", "firstName": "Sam", "lastName": "Lee", "email": "sam.lee@例子.中国"}
                   ).status_code == 204
    assert edu.get("/user/zhangsan/profile").get_json() == ZHANG
    with db.read() as session:
        assert users.get_user(session, "zhangsan").display_name == "张三"  # what the pages show
        assert users.get_user(session, "sam").display_name == "Sam Lee"
    assert edu.get("/user", lastName="张").get_json() == [ZHANG]
    assert edu.get("/user", email="zhangsan@dalad.gov.cn").get_json() == [ZHANG]
    assert [u["id"] for u in edu.get("/user", emailLike="%@dalad.gov.cn").get_json()] == ["zhangsan"]
    assert [u["id"] for u in edu.get("/user", firstNameLike="S%").get_json()] == ["sam"]
    assert [u["id"] for u in edu.get("/user", lastNameLike="_").get_json()] == ["zhangsan"]
    assert edu.get("/user/count", emailLike="%@%").get_json() == {"count": 2}
    assert [u["id"] for u in edu.get("/user", sortBy="email", maxResults=2).get_json()] == ["sam", "zhangsan"]
    assert [u["id"] for u in edu.get("/user", sortBy="lastName", sortOrder="asc", maxResults=2).get_json()] == [
        "sam", "zhangsan"]  # "Lee" < "张"; users without a last name come after
    assert [u["id"] for u in edu.get("/user", emailLike="%@%", sortBy="firstName", sortOrder="desc").get_json()
            ] == ["zhangsan", "sam"]


def test_a_profile_update_replaces_the_three_as_camunda_does(rest, db):
    admin = rest.as_("admin")
    _create(admin, ZHANG)
    assert admin.put("/user/zhangsan/profile", {"id": "zhangsan", "firstName": "San", "lastName": "Zhang",
                                                "email": " san.zhang@dalad.gov.cn "}).status_code == 204
    assert admin.get("/user/zhangsan/profile").get_json() == {
        "id": "zhangsan", "firstName": "San", "lastName": "Zhang", "email": "san.zhang@dalad.gov.cn"}
    assert admin.put("/user/zhangsan/profile", {"firstName": "三"}).status_code == 204  # the others left out
    assert admin.get("/user/zhangsan/profile").get_json() == {
        "id": "zhangsan", "firstName": "三", "lastName": None, "email": None}
    with db.read() as session:
        user = users.get_user(session, "zhangsan")
        assert (user.display_name, user.groups) == ("三", [])


@pytest.mark.parametrize("field, value, named", [
    ("email", "zhangsan", "email 'zhangsan' is not an e-mail address"),
    ("email", "zhang san@dalad.gov.cn", "email 'zhang san@dalad.gov.cn' is not an e-mail address"),
    ("email", "zhangsan@@dalad.gov.cn", "email 'zhangsan@@dalad.gov.cn' is not an e-mail address"),
    ("email", 12, "email must be text or null"),
    ("firstName", "三" * 256, "firstName has 256 characters, at most 255"),
    ("lastName", ["张"], "lastName must be text or null"),
    ("lastName", "张\n", None),  # spaces around are dropped: a line break at the end is one
    ("lastName", "张\n三", "lastName holds a control character"),
])
def test_a_wrong_profile_value_is_a_400_naming_it_and_nothing_is_saved(rest, db, field, value, named):
    admin = rest.as_("admin")
    created = _create(admin, {**ZHANG, "id": "wang", field: value})
    if named is None:
        assert created.status_code == 204
        return
    assert f"profile.{named}" in error_of(created, 400, "InvalidRequestException")
    error_of(admin.get("/user/wang/profile"), 404, "InvalidRequestException")  # not created
    _create(admin, ZHANG)
    assert named in error_of(admin.put("/user/zhangsan/profile", {**ZHANG, field: value}), 400,
                             "InvalidRequestException")
    assert admin.get("/user/zhangsan/profile").get_json() == ZHANG  # unchanged


def test_a_lone_surrogate_in_a_name_is_a_400_not_a_500(rest):
    """JSON may spell half a character ("\\ud800"); no database stores it: it was a server error."""
    admin = rest.as_("admin")
    body = '{"profile": {"id": "wang", "lastName": "\\ud800"}, "credentials": {"password": "%s"}}' % PASSWORD
    answer = admin.client.post("/engine-rest/user/create", data=body, content_type="application/json",
                               headers=admin._headers())
    message = error_of(answer, 400, "InvalidRequestException")  # refused before the view (web/unstorable_text.py)
    assert "field 'profile.lastName' contains a lone surrogate (U+D800)" in message
    error_of(admin.get("/user/wang/profile"), 404, "InvalidRequestException")


def _profile_events(db, name: str) -> list[dict]:
    with db.read() as session:
        rows = session.scalars(select(HistoryEvent).where(HistoryEvent.chain == history.SYSTEM_CHAIN,
                                                          HistoryEvent.type == "user_updated").order_by(HistoryEvent.seq))
        return [body for body in (json.loads(row.body) for row in rows) if body["data"]["user"] == name]


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_a_user_changes_their_own_profile_as_camunda_allows(rest, db, auth):
    """Camunda's default authorizations give each new user ALL permissions on their own user
    (DefaultAuthorizationProvider.newUser): a user's own profile update was a 403 here."""
    edu = rest.as_("edu") if auth == "token" else rest.basic("edu")
    assert edu.put("/user/edu/profile", {"id": "edu", "firstName": "三", "lastName": "张",
                                         "email": "zhangsan@edu.gov.cn"}).status_code == 204
    assert edu.get("/user/edu/profile").get_json() == {
        "id": "edu", "firstName": "三", "lastName": "张", "email": "zhangsan@edu.gov.cn"}
    with db.read() as session:
        user = users.get_user(session, "edu")
        assert (user.display_name, user.groups) == ("张三", ["unit:edu"])  # bureaus and roles stay
    [event] = _profile_events(db, "edu")  # recorded as an administrator's change is, naming who
    assert event["actor"] == "edu"
    assert event["data"] == {"user": "edu", "profile": ["first_name", "last_name", "email"]}  # not the values


def test_an_auditor_changes_their_own_profile_and_the_authorizations_say_so(rest, db):
    """An auditor changes nothing of the audited record, but their own names, e-mail and password are
    theirs (Camunda: every user UPDATE on their own user). The authorizations said auditors READ
    only, while the auditor's own profile update was a 204."""
    auditor = rest.as_("auditor")
    assert auditor.put("/user/auditor/profile", {"firstName": "审", "lastName": "孙"}).status_code == 204
    assert auditor.get("/user/auditor/profile").get_json()["lastName"] == "孙"
    assert [e["actor"] for e in _profile_events(db, "auditor")] == ["auditor"]
    own = [a for a in auditor.get("/authorization", userIdIn="auditor", resourceType="1").get_json()]
    assert [(a["resourceId"], a["permissions"]) for a in own] == [("auditor", ["READ", "UPDATE"])]
    for name in ("edu", "auditing"):
        assert [(a["resourceId"], a["permissions"]) for a in auditor.get(
            "/authorization", userIdIn=name, resourceType="1").get_json()] == [(name, ["READ", "UPDATE"])]
    error_of(auditor.put("/user/edu/profile", {"firstName": "x"}), 403, "AuthorizationException")
    error_of(auditor.post("/user/create", {"profile": {"id": "x9"}, "credentials": {"password": PASSWORD}}), 403,
             "AuthorizationException")


def test_someone_elses_profile_stays_the_administrators(rest, db):
    edu = rest.as_("edu")
    message = error_of(edu.put("/user/edu2/profile", {"firstName": "x"}), 403, "AuthorizationException")
    assert "edu may not change the profile of edu2" in message
    error_of(rest.as_("auditor").put("/user/edu/profile", {"firstName": "x"}), 403, "AuthorizationException")
    assert edu.get("/user/edu2/profile").get_json()["firstName"] is None
    assert rest.as_("admin").put("/user/edu2/profile", {"firstName": "二"}).status_code == 204
    assert [e["actor"] for e in _profile_events(db, "edu2")] == ["admin"]


def test_a_user_cannot_change_their_id_nor_keep_a_wrong_value(rest):
    edu = rest.as_("edu")
    message = error_of(edu.put("/user/edu/profile", {"id": "edu9", "firstName": "三"}), 400, "InvalidRequestException")
    assert "id cannot be changed" in message
    message = error_of(edu.put("/user/edu/profile", {"firstName": "三", "email": "zhangsan"}), 400,
                       "InvalidRequestException")
    assert "email 'zhangsan' is not an e-mail address" in message
    assert edu.get("/user/edu/profile").get_json() == {"id": "edu", "firstName": None, "lastName": None, "email": None}
    error_of(edu.get("/user/edu9/profile"), 404, "InvalidRequestException")


# Mongolian names keep what their spelling needs: free variation selectors (U+180B), the narrow
# no-break space before a suffix (U+202F) and the vowel separator (U+180E); engine/names.py.
MONGOLIAN = {"firstName": "\u182a\u1820\u1832\u1824\u180b", "lastName": "\u1828\u1823\u1837\u202f\u1836\u1822\u1828\u180e\u1820"}


@pytest.mark.parametrize("character, named", [
    ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"), ("\u2067", "U+2067 RIGHT-TO-LEFT ISOLATE"),
    ("\u200b", "U+200B ZERO WIDTH SPACE"), ("\u200d", "U+200D ZERO WIDTH JOINER"), ("\ufeff", "U+FEFF"),
    ("\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
])
def test_a_name_holding_an_invisible_character_is_a_400_naming_it_and_nothing_is_saved(rest, character, named):
    """U+202E makes "张三" + RLO + "txt.exe" display as another text: names took it."""
    admin, edu = rest.as_("admin"), rest.as_("edu")
    for field in ("firstName", "lastName", "email"):
        value = f"zhang{character}san@dalad.gov.cn" if field == "email" else f"张{character}三"
        message = error_of(_create(admin, {**ZHANG, "id": "wang", field: value}), 400, "InvalidRequestException")
        assert f"profile.{field} holds an invisible format character, {named}" in message, message
        message = error_of(edu.put("/user/edu/profile", {field: value}), 400, "InvalidRequestException")
        assert message.startswith(f"{field} holds an invisible format character, {named}"), message
    message = error_of(_create(admin, {**ZHANG, "id": f"admin{character}"}), 400, "InvalidRequestException")
    assert f"profile.id holds an invisible format character, {named}" in message
    error_of(admin.get("/user/wang/profile"), 404, "InvalidRequestException")
    assert edu.get("/user/edu/profile").get_json() == {"id": "edu", "firstName": None, "lastName": None, "email": None}
    message = error_of(admin.post("/group/create", {"id": "water", "name": f"旗水利局{character}"}), 400,
                       "InvalidRequestException")
    assert f"name holds an invisible format character, {named}" in message
    error_of(admin.get("/group/water"), 404, "InvalidRequestException")
    message = error_of(admin.put("/group/drc", {"name": f"旗发改委{character}"}), 400, "InvalidRequestException")
    assert f"name holds an invisible format character, {named}" in message
    assert admin.get("/group/drc").get_json()["name"] == "旗发展和改革委员会"


def test_chinese_and_mongolian_names_are_kept_as_written(rest):
    admin, edu = rest.as_("admin"), rest.as_("edu")
    assert edu.put("/user/edu/profile", MONGOLIAN).status_code == 204
    assert edu.get("/user/edu/profile").get_json() == {"id": "edu", "email": None, **MONGOLIAN}
    assert _create(admin, {"id": "\u182a\u1820\u1832\u1824", "firstName": "𠮷", "lastName": "龘"}).status_code == 204
    assert admin.post("/group/create", {"id": "mongol_school", "name": MONGOLIAN["lastName"]}).status_code == 204
    assert admin.get("/group/mongol_school").get_json()["name"] == MONGOLIAN["lastName"]


def _history_text(db) -> str:
    """Every event of every chain, as the history keeps it (bodies read back as text)."""
    with db.read() as session:
        bodies = session.scalars(select(HistoryEvent.body)).all()
    return "\n".join(json.dumps(json.loads(body), ensure_ascii=False) for body in bodies)


def test_the_history_records_that_a_profile_changed_not_the_names_nor_the_address(rest, db):
    """The history kept every e-mail address before and after each change, signed and append-only:
    personal data it could never erase (个人信息保护法). It records who changed which field."""
    admin, edu = rest.as_("admin"), rest.as_("edu")
    assert _create(admin, {"id": "wang", "firstName": "芳", "lastName": "王", "email": "wangfang@dalad.gov.cn"}
                   ).status_code == 204
    assert edu.put("/user/edu/profile", {"firstName": "三", "lastName": "张", "email": "zhangsan@edu.gov.cn"}
                   ).status_code == 204
    assert admin.put("/user/wang/profile", {"firstName": "芳", "lastName": "王", "email": "fang.wang@dalad.gov.cn"}
                     ).status_code == 204
    text = _history_text(db)
    for personal in ("wangfang@dalad.gov.cn", "zhangsan@edu.gov.cn", "fang.wang@dalad.gov.cn", "芳", "张"):
        assert personal not in text, personal
    with db.read() as session:
        added = [json.loads(body) for body in session.scalars(select(HistoryEvent.body).where(
            HistoryEvent.chain == history.SYSTEM_CHAIN, HistoryEvent.type == "user_added"))]
        assert [(e["actor"], e["data"]["user"], e["data"]["profile"]) for e in added if e["data"]["user"] == "wang"
                ] == [("admin", "wang", ["first_name", "last_name", "email"])]
        assert history.verify_system_chain(session).ok
    assert [(e["actor"], e["data"]["profile"]) for e in _profile_events(db, "wang")] == [("admin", ["email"])]
    assert [(e["actor"], e["data"]["profile"]) for e in _profile_events(db, "edu")] == [
        ("edu", ["first_name", "last_name", "email"])]
