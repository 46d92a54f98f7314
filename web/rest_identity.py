"""/engine-rest/user and /engine-rest/group in Camunda 7.20's shapes: the users and groups (bureaus)
of dalad, read by any caller and changed by administrators; a user changes their own profile and
password too.

A user's profile is {id, firstName, lastName, email}, each kept as given (engine/users.py checks
them: text or null, names of at most 255 characters, an e-mail address of the simple form it
documents); the name the pages show is derived from the two names. A group is {id, name, type}:
the name is the Chinese name, the type WORKFLOW. Deleting a user or a group deactivates it (the
history names them); a deactivated group is no longer listed. Query parameters are those
web/rest_openapi.py lists (others are a 400).
"""
from __future__ import annotations

import re
from typing import Optional

from engine import bureaus, names, users
from engine.errors import AccessDenied, InvalidInput, NotFound

from .rest import _arg, _bad_request, _caller, _db, _json_body, _page_list, _require_admin, rest_api

GROUP_TYPE = "WORKFLOW"


def _like(pattern: str, value: Optional[str]) -> bool:
    """Camunda's *Like filters: SQL LIKE with % (any text) and _ (one character)."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return value is not None and re.fullmatch(regex, value, re.S) is not None


def _sorted_page(items: list[dict], keys: dict[str, str]) -> list[dict]:
    sort_by, order = _arg("sortBy"), (_arg("sortOrder") or "asc").lower()
    if order not in ("asc", "desc"):
        raise _bad_request(f"sortOrder '{order}' is not asc or desc")
    if sort_by is not None:
        if sort_by not in keys:
            raise _bad_request(f"sortBy '{sort_by}' is not one of: {', '.join(keys)}")
        items = sorted(items, key=lambda i: (i[keys[sort_by]] is None, i[keys[sort_by]] or ""),
                       reverse=order == "desc")
    return _page_list(items)


# --- users -------------------------------------------------------------------------------------

def user_dto(user) -> dict:
    return {"id": user.name, "firstName": user.first_name, "lastName": user.last_name, "email": user.email}


_CAMUNDA_KEYS = {"first_name": "firstName", "last_name": "lastName", "email": "email"}  # engine field: key


def _profile(body: dict, where: str = "") -> users.Profile:
    """The profile fields of a body, checked; a wrong one is a 400 naming it (profile.email)."""
    try:
        return users.profile_checked(*(body.get(key) for key in _CAMUNDA_KEYS.values()))
    except users.ProfileInvalid as exc:
        raise _bad_request(f"{where}{_CAMUNDA_KEYS[exc.field]} {exc.reason}") from exc


def _users() -> list[dict]:
    ids = [i for i in (_arg("idIn") or "").split(",") if i]
    with _db().read() as session:
        found = [u for u in users.list_users(session) if u.active
                 and (_arg("memberOfGroup") is None or _arg("memberOfGroup") in u.groups)]
        dtos = [user_dto(u) for u in found]
    checks = [("id", "id", False), ("firstName", "firstName", False), ("lastName", "lastName", False),
              ("email", "email", False), ("firstNameLike", "firstName", True), ("lastNameLike", "lastName", True),
              ("emailLike", "email", True)]
    for parameter, field, like in checks:
        wanted = _arg(parameter)
        if wanted is not None:
            dtos = [d for d in dtos if (_like(wanted, d[field]) if like else d[field] == wanted)]
    if ids:
        dtos = [d for d in dtos if d["id"] in ids]
    return dtos


@rest_api.get("/user")
def user_list():
    return _sorted_page(_users(), {"userId": "id", "firstName": "firstName", "lastName": "lastName",
                                   "email": "email"})


@rest_api.get("/user/count")
def user_count():
    return {"count": len(_users())}


@rest_api.get("/user/<user_id>/profile")
def user_profile(user_id: str):
    with _db().read() as session:
        return user_dto(users.get_user(session, user_id))


@rest_api.post("/user/create")
def user_create():
    """Camunda's {profile: {id, firstName, …}, credentials: {password}}: a user without groups yet."""
    caller = _require_admin("create users")
    body = _json_body()
    profile, credentials = body.get("profile") or {}, body.get("credentials") or {}
    if not isinstance(profile, dict) or not isinstance(credentials, dict):
        raise _bad_request("profile and credentials must be JSON objects")
    name = profile.get("id")
    if not isinstance(name, str) or not name:
        raise _bad_request("profile.id (the user name) is required")
    names.check_name(name, "profile.id")
    checked = _profile(profile, "profile.")
    with _db().write() as session:
        users.add_user(session, name, credentials.get("password") or "", bureaus=[], roles=[],
                       profile=checked, actor=caller.name, members_later=True)
    return "", 204


@rest_api.put("/user/<user_id>/profile")
def user_update_profile(user_id: str):
    """Replaces firstName, lastName and email, as Camunda does: one left out becomes null. The
    user themselves or an administrator: Camunda's default authorizations give each new user ALL
    permissions on their own user (DefaultAuthorizationProvider.newUser), so UPDATE of their profile."""
    caller = _caller()
    if not caller.is_admin and caller.name != user_id:
        raise AccessDenied(f"{caller.name} may not change the profile of {user_id}: that needs the admin role")
    body = _json_body()
    checked = _profile(body)
    with _db().write() as session:
        users.get_user(session, user_id)
        if body.get("id") not in (None, user_id):
            raise InvalidInput("a user's id cannot be changed")
        users.set_profile(session, user_id, checked, actor=caller.name)
    return "", 204


@rest_api.put("/user/<user_id>/credentials")
def user_update_credentials(user_id: str):
    """A new password: the user themselves (giving authenticatedUserPassword, as Camunda asks) or
    an administrator."""
    caller = _caller()
    body = _json_body()
    for field in ("password", "authenticatedUserPassword"):
        if not isinstance(body.get(field), (str, type(None))):
            raise _bad_request(f"{field} must be text")
    with _db().write() as session:
        users.get_user(session, user_id)
        if not caller.is_admin:
            if caller.name != user_id:
                raise AccessDenied(f"{caller.name} may not change the password of {user_id}")
            if users.authenticate(session, caller.name, body.get("authenticatedUserPassword") or "",
                                  allow_demo=True) is None:
                raise InvalidInput("authenticatedUserPassword is not your current password")
        users.set_password(session, user_id, body.get("password") or "", actor=caller.name)
    return "", 204


@rest_api.delete("/user/<user_id>")
def user_delete(user_id: str):
    """Deactivates the user: the history keeps naming them."""
    caller = _require_admin("delete users")
    if user_id == caller.name:
        raise InvalidInput("you cannot delete your own account")
    with _db().write() as session:
        users.set_active(session, user_id, False, actor=caller.name)
    return "", 204


# --- groups ------------------------------------------------------------------------------------

def group_dto(group) -> dict:
    return {"id": group.id, "name": group.name_zh, "type": GROUP_TYPE}


def _groups() -> list[dict]:
    with _db().read() as session:
        found = [g for g in bureaus.list_groups(session) if g.active]
        member = _arg("member")
        if member is not None:
            user = users.find_user(session, member)
            found = [g for g in found if user is not None and g.id in user.groups]
        dtos = [group_dto(g) for g in found]
    ids = [i for i in (_arg("idIn") or "").split(",") if i]
    if ids:
        dtos = [d for d in dtos if d["id"] in ids]
    for parameter, field in (("id", "id"), ("name", "name"), ("type", "type")):
        if _arg(parameter) is not None:
            dtos = [d for d in dtos if d[field] == _arg(parameter)]
    if _arg("nameLike") is not None:
        dtos = [d for d in dtos if _like(_arg("nameLike"), d["name"])]
    return dtos


@rest_api.get("/group")
def group_list():
    return _sorted_page(_groups(), {"id": "id", "name": "name", "type": "type"})


@rest_api.get("/group/count")
def group_count():
    return {"count": len(_groups())}


@rest_api.get("/group/<group_id>")
def group(group_id: str):
    with _db().read() as session:
        found = bureaus.get_group(session, group_id)
        if not found.active:
            raise NotFound(f"group '{group_id}' is deactivated")
        return group_dto(found)


def _group_body() -> dict:
    body = _json_body()
    if body.get("type") not in (None, GROUP_TYPE):
        raise _bad_request(f"group type '{body.get('type')}' is not supported: groups are of type {GROUP_TYPE}")
    return body


@rest_api.post("/group/create")
def group_create():
    caller = _require_admin("create groups")
    body = _group_body()
    with _db().write() as session:
        bureaus.add_group(session, body.get("id") or "", name_zh=bureaus.group_name(body.get("name"), "name"),
                          actor=caller.name)
    return "", 204


@rest_api.put("/group/<group_id>")
def group_update(group_id: str):
    caller = _require_admin("change groups")
    body = _group_body()
    if body.get("id") not in (None, group_id):
        raise InvalidInput("a group's id cannot be changed: diagrams name it")
    with _db().write() as session:
        bureaus.rename_group(session, group_id, name_zh=bureaus.group_name(body.get("name"), "name"), actor=caller.name)
    return "", 204


@rest_api.delete("/group/<group_id>")
def group_delete(group_id: str):
    """Deactivates the group: its members and tasks stay, no one new joins it."""
    caller = _require_admin("delete groups")
    with _db().write() as session:
        bureaus.set_group_active(session, group_id, False, actor=caller.name)
    return "", 204


@rest_api.put("/group/<group_id>/members/<user_id>")
def group_add_member(group_id: str, user_id: str):
    caller = _require_admin("change group members")
    with _db().write() as session:
        bureaus.get_group(session, group_id)
        users.set_membership(session, user_id, group_id, True, actor=caller.name)
    return "", 204


@rest_api.delete("/group/<group_id>/members/<user_id>")
def group_remove_member(group_id: str, user_id: str):
    caller = _require_admin("change group members")
    with _db().write() as session:
        bureaus.get_group(session, group_id)
        users.set_membership(session, user_id, group_id, False, actor=caller.name)
    return "", 204
