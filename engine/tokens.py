"""Bearer tokens for the REST API: an administrator issues one to a user and revokes it.

The plaintext is shown once, when it is issued; the table keeps only its SHA-256. A token acts
as its user (same bureaus, same roles), and stops working when it is revoked or the user is
deactivated. Issuing and revoking are events of the system history chain (never the token).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from . import clock, history, names
from .errors import InvalidInput, NotFound
from .models import ApiToken, User
from .users import get_user, memberships

PREFIX = "dalad_"
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is a hint: do not write on every request


def hash_token(plaintext: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def issue_token(session: Session, user_name: str, name: Optional[str] = None, *,
                actor: Optional[str] = None) -> tuple[ApiToken, str]:
    """Create a token for `user_name`; return its row and the plaintext (not stored anywhere)."""
    user = get_user(session, user_name)
    if not user.active:
        raise InvalidInput(f"user '{user_name}' is deactivated: no token for it")
    if name is not None and len(name) > 200:
        raise InvalidInput("a token name has at most 200 characters")
    names.check_name(name, "the token name")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name or None, token_hash=hash_token(plaintext),
                     created_at=clock.now())
    session.add(token)
    session.flush()
    history.record_system(session, history.Event("token_created", actor=actor, data={
        "token": token.id, "user": user.name, "name": token.name}))
    return token, plaintext


def create_token(session: Session, user_name: str, name: Optional[str] = None, *,
                 actor: Optional[str] = None) -> str:
    """Create a token for `user_name` and return its plaintext (shown once)."""
    return issue_token(session, user_name, name, actor=actor)[1]


def revoke_token(session: Session, token_id: int, *, actor: Optional[str] = None) -> ApiToken:
    """Revoke a token: it authenticates nobody from now on."""
    token = session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise NotFound(f"API token {token_id} does not exist")
    if token.revoked_at is not None:
        when = clock.aware(token.revoked_at).astimezone(clock.local_zone())
        raise InvalidInput(f"API token {token_id} was already revoked at {when:%Y-%m-%d %H:%M:%S}")
    token.revoked_at = clock.now()
    user = session.get(User, token.user_id)
    history.record_system(session, history.Event("token_revoked", actor=actor, data={
        "token": token.id, "user": user.name if user else None, "name": token.name}))
    return token


def list_tokens(session: Session, user_name: Optional[str] = None) -> list[tuple[ApiToken, str]]:
    """Every token (or those of one user) with its user's name, oldest first."""
    query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user_name is not None:
        query = query.where(User.id == get_user(session, user_name).id)
    return [(token, name) for token, name in session.execute(query)]


@dataclass(frozen=True)
class Bearer:
    """Whom a valid token acts for: its user with the user's bureaus and roles."""

    token_id: int
    last_used_at: Optional[datetime]
    user_id: int
    user: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]


_TOKEN_USER = select(ApiToken.__table__.c.id, ApiToken.__table__.c.last_used_at, User.__table__.c.id,
                     User.__table__.c.name, User.__table__.c.active, User.__table__.c.is_demo) \
    .join(User.__table__, User.__table__.c.id == ApiToken.__table__.c.user_id) \
    .where(ApiToken.__table__.c.token_hash == bindparam("token_hash"), ApiToken.__table__.c.revoked_at.is_(None))


def find_token(session: Session, plaintext: str, *, allow_demo: bool = False) -> Optional[Bearer]:
    """The valid, unrevoked token's active user with its bureaus and roles, else None; changes
    nothing. Two Core statements, not the ORM's loading: what a REST call pays for a token the
    credential cache (web/credential_cache.py) does not know yet.

    Demo accounts authenticate only when `allow_demo` is true, as with passwords."""
    if not isinstance(plaintext, str) or not plaintext.startswith(PREFIX):
        return None
    found = session.connection().execute(_TOKEN_USER, {"token_hash": hash_token(plaintext)}).first()
    if found is None:
        return None
    token_id, last_used_at, user_id, name, active, is_demo = found
    if not active or (is_demo and not allow_demo):
        return None
    member = memberships(session, user_id)
    return Bearer(token_id, last_used_at, user_id, name, member.groups, member.roles)


def use_is_stale(last_used_at: Optional[datetime]) -> bool:
    """Whether a token's last use is worth writing down now (at most once a minute)."""
    return last_used_at is None or clock.now() - clock.aware(last_used_at) >= TOUCH_EVERY


def note_use(session: Session, token_id: int) -> None:
    """Write down that a token was just used."""
    token = session.get(ApiToken, token_id)
    if token is not None and use_is_stale(token.last_used_at):
        token.last_used_at = clock.now()
