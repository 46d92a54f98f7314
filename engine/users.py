"""Users: accounts, their bureaus (candidate groups) and roles, and password checks.

Functions take a session; the caller commits. Every change is an event of the system history
chain, naming the user by their id. Passwords and their hashes never go into it, nor a person's
names or e-mail address: the history is append-only and signed, so what it holds can never be
erased (个人信息保护法: no more than needed, deletable), and it records only which of them were
given or changed (`"profile": ["email"]`); the user's row keeps the values, and loses them when
they are changed.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Optional

from sqlalchemy import bindparam, event, inspect, literal_column, null, select, union_all
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from . import bureaus as bureau_table
from . import clock, history, names
from .errors import InvalidInput, NotFound
from .models import ApiToken, Bureau, User, UserBureau, UserRole

MIN_PASSWORD_LENGTH = 8
_NAME = re.compile(r"[^\s/\\]{1,100}")
_DUMMY_HASH: Optional[str] = None


# --- the profile: first name, last name, e-mail ---------------------------------------------------

# Camunda 7 keeps a user's first name, last name and e-mail in varchar(255) columns (ACT_ID_USER's
# FIRST_, LAST_, EMAIL_): a profile Camunda stores fits, a longer one is refused by name here
# instead of failing in the database.
NAME_LENGTH = 255
# The longest address SMTP can carry (RFC 5321: a path of 256 octets, less its angle brackets) and
# the longest local part (64).
EMAIL_LENGTH, EMAIL_LOCAL_LENGTH = 254, 64
# Control characters (NUL, line breaks, tabs, C1) are no part of a name or an address, nor are
# format characters (bidi controls, zero-width characters: engine/names.py). NAME_PATTERN, for the
# OpenAPI document, names those of the BMP; the API checks the rest.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
NAME_PATTERN = f"^[^{names.REFUSED_BMP}]*$"
# An e-mail address: text without spaces or control characters, one @, before it 1 to 64 characters,
# after it a domain of dot-separated labels, none empty. Any script is allowed on either side
# (RFC 6531: 张三@例子.中国); that the mailbox exists is not checked (dalad sends no e-mail), nor
# quoted local parts (a quoted @ or space is refused). Camunda's engine checks nothing; its Admin
# page checks the syntax in the browser. EMAIL_PATTERN, for the OpenAPI document, takes it as the
# REST API reads it: with spaces around, or empty (null).
_ATOM = rf"[^\s@.{_CONTROL}]"
_EMAIL_ADDRESS = rf"[^\s@{_CONTROL}]{{1,{EMAIL_LOCAL_LENGTH}}}@{_ATOM}+(\.{_ATOM}+)*"
_EMAIL = re.compile(_EMAIL_ADDRESS)
EMAIL_PATTERN = rf"^\s*({_EMAIL_ADDRESS})?\s*$"
# Scripts whose names are written family name first without a space (Han, kana, Hangul).
_CJK = re.compile("[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff]")
PROFILE_FIELDS = ("first_name", "last_name", "email")


class ProfileInvalid(InvalidInput):
    """A first name, last name or e-mail that cannot be kept; `field` names it, `problem` says why
    ("text", "length", "control", "format" or "email"), for messages in the caller's terms and
    language; `character`, for "control" and "format", is the one refused (engine/names.py)."""

    def __init__(self, field: str, problem: str, reason: str, character: Optional[str] = None):
        self.field, self.problem, self.reason, self.character = field, problem, reason, character
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class Profile:
    """What Camunda keeps of a user beside the id, each text or None."""

    first_name: Optional[str] = None
    last_name: Optional[str] = None
    email: Optional[str] = None

    @property
    def display_name(self) -> Optional[str]:
        return display_name_of(self.first_name, self.last_name)


def display_name_of(first_name: Optional[str], last_name: Optional[str]) -> Optional[str]:
    """The name the pages show: a name in Chinese (or another CJK script) family name first without
    a space (张 + 三: 张三), any other as Camunda's webapps show it, first name, a space, last name
    (Sam Lee); one of them alone as it is; None without either (the pages show the user name)."""
    if first_name and last_name:
        if _CJK.search(first_name) or _CJK.search(last_name):
            return last_name + first_name
        return f"{first_name} {last_name}"
    return first_name or last_name or None


def profile_checked(first_name=None, last_name=None, email=None) -> Profile:
    """The profile as given, spaces around each value dropped and empty text taken as None; raise
    ProfileInvalid for the first value that is not text, too long, holds a control character, or
    (email) is not an address."""
    values = {}
    for field, value in zip(PROFILE_FIELDS, (first_name, last_name, email)):
        if value is not None and not isinstance(value, str):
            raise ProfileInvalid(field, "text", f"must be text or null, not {type(value).__name__}")
        value = (value or "").strip() or None
        limit = EMAIL_LENGTH if field == "email" else NAME_LENGTH
        if value is not None and len(value) > limit:
            raise ProfileInvalid(field, "length", f"has {len(value)} characters, at most {limit} are kept")
        hidden = names.hidden_character(value) if value is not None else None
        if hidden is not None:
            character, kind = hidden
            refused = names.NameUnreadable(field, character, kind)
            raise ProfileInvalid(field, kind, refused.reason, character)
        if field == "email" and value is not None and not _EMAIL.fullmatch(value):
            raise ProfileInvalid(field, "email", f"{value!r} is not an e-mail address: one @, 1 to "
                                                 f"{EMAIL_LOCAL_LENGTH} characters before it, a domain of "
                                                 "labels joined by dots after it, no spaces "
                                                 "(zhang.san@dalad.gov.cn)")
        values[field] = value
    return Profile(**values)


def _set_profile_columns(user: User, profile: Profile) -> None:
    user.first_name, user.last_name, user.email = profile.first_name, profile.last_name, profile.email
    user.display_name = profile.display_name


def _profile_of(user: User) -> dict:
    return {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}


def _profile_changes(before: dict, after: dict) -> list[str]:
    """Which of the names and e-mail changed: what the history keeps of a profile change (not the values)."""
    return [field for field in PROFILE_FIELDS if before.get(field) != after.get(field)]


# --- accounts --------------------------------------------------------------------------------------

def add_user(session: Session, name: str, password: str, *, bureaus: Iterable[str], roles: Iterable[str],
             profile: Profile = Profile(), demo: bool = False, actor: Optional[str] = None,
             members_later: bool = False) -> User:
    """Create a user in `bureaus` with `roles` and `profile` (checked by profile_checked); unit
    groups (unit:<dept>) are created as needed. `members_later`: a user without bureau or role for
    now (Camunda's REST creates the user first, then the memberships)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"user name {name!r} is not allowed: 1 to 100 characters, no spaces or slashes")
    names.check_name(name, f"user name {name!r}")
    profile = profile_checked(profile.first_name, profile.last_name, profile.email)
    groups = _unique(bureaus)
    role_names = _unique(roles)
    for group in groups:
        bureau_table.check_group(session, group)
    for role in role_names:
        bureau_table.check_role(role)
    if bureau_table.AUDIT_BUREAU in groups and bureau_table.AUDITOR not in role_names:
        role_names.append(bureau_table.AUDITOR)
    if not groups and not role_names and not members_later:
        raise InvalidInput(f"user '{name}' needs at least one bureau or role")
    _check_password(password, demo)
    if find_user(session, name) is not None:
        raise InvalidInput(f"user '{name}' already exists")
    units_created = []
    for group in groups:
        if bureau_table.is_unit(group):
            if session.get(Bureau, group) is None:
                units_created.append(group)
            bureau_table.ensure_unit(session, group)
        elif session.get(Bureau, group) is None:
            bureau_table.ensure_bureaus(session)
    user = User(name=name, password_hash=generate_password_hash(password),
                active=True, is_demo=demo, created_at=clock.now(), session_version=1,
                bureaus=[UserBureau(bureau_id=g) for g in groups],
                roles=[UserRole(role=r) for r in role_names])
    _set_profile_columns(user, profile)
    session.add(user)
    session.flush()
    history.record_system(session, history.Event("user_added", actor=actor, data={
        "user": name, "profile": _profile_changes({}, _profile_of(user)), "bureaus": groups, "roles": role_names,
        "demo": demo, "units_created": units_created}))
    return user


def authenticate(session: Session, name: str, password: str, *, allow_demo: bool = False) -> Optional[User]:
    """Return the active user whose password this is, else None.

    Demo accounts (known password) log in only when `allow_demo` is true: pass the demo setting.
    """
    user = find_user(session, name) if isinstance(name, str) else None
    if user is None:
        check_password_hash(_dummy_hash(), password or "")  # take as long as for a real user
        return None
    if not _password_matches(user, password or ""):
        return None
    if not user.active or (user.is_demo and not allow_demo):
        return None
    return user


VERIFIED_FOR = 30.0  # seconds a password checked once is recognised without the slow hash again
_verified: dict[tuple, tuple[bytes, float]] = {}
_VERIFIED_KEY = os.urandom(32)  # this process's own: what it keeps is no password and no hash


def _password_matches(user: User, password: str) -> bool:
    """check_password_hash, remembered for VERIFIED_FOR seconds per user, stored hash and session
    version: a REST client sending HTTP Basic on every call pays the deliberately slow hash once.
    A new password (or session version) is a new key, so a change is seen on the next call;
    whether the user is active is read from the database every time."""
    key = (user.id, user.password_hash, user.session_version)
    seen = hmac.new(_VERIFIED_KEY, password.encode(), hashlib.sha256).digest()
    now = time.monotonic()
    known = _verified.get(key)
    if known is not None and known[1] > now and hmac.compare_digest(known[0], seen):
        return True
    if not check_password_hash(user.password_hash, password):
        return False
    if len(_verified) >= 10_000:
        _verified.clear()
    _verified[key] = (seen, now + VERIFIED_FOR)
    return True


_credentials_generation = 0  # raised at each commit that changed who someone is or may be
_generation_lock = threading.Lock()


def credentials_generation() -> int:
    """A number that grows whenever a transaction of this process changed a user, a membership or a
    token (not a token's last use): what a cache of credential checks compares its entries with."""
    return _credentials_generation


def _changes_credentials(obj) -> bool:
    if isinstance(obj, ApiToken):  # a token's last use is only a hint
        return any(inspect(obj).attrs[name].history.has_changes() for name in ("revoked_at", "token_hash", "user_id"))
    return isinstance(obj, (User, UserBureau, UserRole))


@event.listens_for(Session, "after_flush")
def _note_credential_change(session, _context) -> None:
    if any(_changes_credentials(obj) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info["dalad_credentials_changed"] = True


@event.listens_for(Session, "after_commit")
def _raise_credentials_generation(session) -> None:
    global _credentials_generation
    if session.info.pop("dalad_credentials_changed", False):
        with _generation_lock:
            _credentials_generation += 1


@event.listens_for(Session, "after_rollback")
def _forget_credential_change(session) -> None:
    session.info.pop("dalad_credentials_changed", None)


@dataclass(frozen=True)
class Memberships:
    """A user's bureaus (with their names) and roles, read in one statement: what every request
    of a logged-in user or a token needs."""

    groups: tuple[str, ...]
    roles: tuple[str, ...]
    names: dict  # bureau id -> (name_zh, name_en)


_MEMBERSHIPS = union_all(
    select(literal_column("'group'").label("kind"), UserBureau.__table__.c.bureau_id.label("value"),
           Bureau.__table__.c.name_zh, Bureau.__table__.c.name_en)
    .join(Bureau.__table__, Bureau.__table__.c.id == UserBureau.__table__.c.bureau_id)
    .where(UserBureau.__table__.c.user_id == bindparam("user_id")),
    select(literal_column("'role'"), UserRole.__table__.c.role, null(), null())
    .where(UserRole.__table__.c.user_id == bindparam("user_id")),
).order_by("kind", "value")


def memberships(session: Session, user_id: int) -> Memberships:
    rows = session.connection().execute(_MEMBERSHIPS, {"user_id": user_id}).all()
    return Memberships(tuple(value for kind, value, _zh, _en in rows if kind == "group"),
                       tuple(value for kind, value, _zh, _en in rows if kind == "role"),
                       {value: (zh, en) for kind, value, zh, en in rows if kind == "group"})


def find_user(session: Session, name: str) -> Optional[User]:
    """Return the user called `name`, or None (no name holds a NUL: PostgreSQL would refuse to look)."""
    if "\x00" in name:
        return None
    return session.scalars(select(User).where(User.name == name)).first()


def get_user(session: Session, name: str) -> User:
    """Return the user called `name`; raise NotFound when there is none."""
    user = find_user(session, name)
    if user is None:
        raise NotFound(f"user '{name}' does not exist")
    return user


def set_password(session: Session, name: str, password: str, *, actor: Optional[str] = None) -> User:
    """Give a user a new password (demo accounts may keep short ones)."""
    user = get_user(session, name)
    _check_password(password, user.is_demo)
    user.password_hash = generate_password_hash(password)
    end_sessions(user)
    history.record_system(session, history.Event("password_changed", actor=actor, data={"user": name}))
    return user


def update_user(session: Session, name: str, *, bureaus: Iterable[str], roles: Iterable[str],
                profile: Profile = Profile(), actor: Optional[str] = None) -> User:
    """Give a user new bureaus, roles and profile (checked as in add_user)."""
    user = get_user(session, name)
    profile = profile_checked(profile.first_name, profile.last_name, profile.email)
    groups = _unique(bureaus)
    role_names = _unique(roles)
    for group in groups:
        bureau_table.check_group(session, group)
    for role in role_names:
        bureau_table.check_role(role)
    if bureau_table.AUDIT_BUREAU in groups and bureau_table.AUDITOR not in role_names:
        role_names.append(bureau_table.AUDITOR)
    if not groups and not role_names:
        raise InvalidInput(f"user '{name}' needs at least one bureau or role")
    bureau_table.ensure_bureaus(session)
    for group in groups:
        if bureau_table.is_unit(group):
            bureau_table.ensure_unit(session, group)
    before, profile_before = {"bureaus": user.groups, "roles": user.role_names}, _profile_of(user)
    user.bureaus = [b for b in user.bureaus if b.bureau_id in groups] + [
        UserBureau(bureau_id=g) for g in groups if g not in before["bureaus"]]
    user.roles = [r for r in user.roles if r.role in role_names] + [
        UserRole(role=r) for r in role_names if r not in before["roles"]]
    _set_profile_columns(user, profile)
    session.flush()
    history.record_system(session, history.Event("user_updated", actor=actor, data={
        "user": name, "before": before, "after": {"bureaus": groups, "roles": role_names},
        "profile": _profile_changes(profile_before, _profile_of(user))}))
    return user


def set_profile(session: Session, name: str, profile: Profile, *, actor: Optional[str] = None) -> User:
    """Replace a user's first name, last name and e-mail (Camunda's profile update), checked as in
    add_user; bureaus and roles stay."""
    user = get_user(session, name)
    profile = profile_checked(profile.first_name, profile.last_name, profile.email)
    before = _profile_of(user)
    _set_profile_columns(user, profile)
    session.flush()
    history.record_system(session, history.Event("user_updated", actor=actor, data={
        "user": name, "profile": _profile_changes(before, _profile_of(user))}))
    return user


def set_membership(session: Session, name: str, group: str, member: bool, *,
                   actor: Optional[str] = None) -> User:
    """Put a user in a group or take them out of it (Camunda's group members)."""
    user = get_user(session, name)
    before = user.groups
    if member and group not in before:
        bureau_table.check_group(session, group)
        if bureau_table.is_unit(group):
            bureau_table.ensure_unit(session, group)
        elif session.get(Bureau, group) is None:
            bureau_table.ensure_bureaus(session)
        user.bureaus.append(UserBureau(bureau_id=group))
        if group == bureau_table.AUDIT_BUREAU and bureau_table.AUDITOR not in user.role_names:
            user.roles.append(UserRole(role=bureau_table.AUDITOR))  # every member of audit is an auditor
    elif not member and group in before:
        user.bureaus = [b for b in user.bureaus if b.bureau_id != group]
    else:
        return user
    session.flush()
    history.record_system(session, history.Event("user_updated", actor=actor, data={
        "user": name, "before": {"bureaus": before}, "after": {"bureaus": user.groups}}))
    return user


def set_active(session: Session, name: str, active: bool, *, actor: Optional[str] = None) -> User:
    """Deactivate a user (no login, no API token) or activate them again; their history stays."""
    user = get_user(session, name)
    if user.active != active:
        user.active = active
        end_sessions(user)
        history.record_system(session, history.Event("user_activated" if active else "user_deactivated",
                                                     actor=actor, data={"user": name}))
    return user


def set_substitute(session: Session, name: str, substitute: Optional[str], until: Optional[date]) -> User:
    """委托: while `name` is away (to `until`, inclusive) `substitute`, a colleague of a bureau they
    share, may take over the tasks assigned to them; None ends it."""
    user = get_user(session, name)
    if substitute is not None:
        colleague = get_user(session, substitute)
        if substitute == name or not colleague.active or not set(colleague.groups) & set(user.groups):
            raise InvalidInput(f"'{substitute}' is not an active colleague of {name} in one of their bureaus")
        if until is None or until < clock.today():
            raise InvalidInput("the last day away must be today or later")
    user.substitute, user.away_until = substitute, (until if substitute else None)
    history.record_system(session, history.Event("substitute_set", actor=name, data={
        "user": name, "substitute": substitute, "until": until.isoformat() if substitute and until else None}))
    return user


def represented(session: Session, substitute: str) -> list[str]:
    """The users away today who named `substitute` to take over their tasks."""
    return list(session.scalars(select(User.name).where(User.substitute == substitute,
                                                        User.away_until >= clock.today())))


def end_sessions(user: User) -> None:
    """End every login session of `user`: each carries the session version it began under."""
    user.session_version = (user.session_version or 1) + 1


def list_users(session: Session) -> list[User]:
    """Every user by name, with bureaus and roles loaded."""
    return list(session.scalars(select(User).options(selectinload(User.bureaus), selectinload(User.roles))
                                .order_by(User.name)))


def _check_password(password: str, demo: bool) -> None:
    if not isinstance(password, str) or not password:
        raise InvalidInput("the password is empty")
    if not demo and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def _unique(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):  # add_user(..., bureaus="drc") would otherwise spell d, r, c
        values = [values]
    out: list[str] = []
    for value in values or []:
        value = value.strip() if isinstance(value, str) else value
        if value and value not in out:
            out.append(value)
    return out


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash("no such user")
    return _DUMMY_HASH
