"""Request guards of the officials' UI: login, CSRF tokens, login throttling, response headers.

Each UI blueprint calls `protect(bp)`: every request needs a logged-in user (except views marked
`@public`), and every POST carries the session's CSRF token. The REST API (bearer tokens, no
cookies) does not use these guards.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from typing import Callable, Optional
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, session, url_for

CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def csrf_token() -> str:
    """The CSRF token of this session, made on first use."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse (400) a state-changing request whose token is not this session's."""
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, description="csrf")


def public(view: Callable) -> Callable:
    """Mark a view that anonymous visitors may reach (the login page)."""
    view.dalad_public = True
    return view


def guard() -> None:
    """Before each request of a UI blueprint: require a user, then a CSRF token on POST."""
    view = current_app.view_functions.get(request.endpoint)
    if g.get("current_user") is None and not getattr(view, "dalad_public", False):
        if request.method in _SAFE_METHODS:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if request.method not in _SAFE_METHODS:
        check_csrf()
    return None


def protect(bp: Blueprint) -> Blueprint:
    bp.before_request(guard)
    return bp


def safe_next(target: Optional[str], default: str) -> str:
    """A redirect target inside this site: a path, never another host."""
    if not target:
        return default
    if any(ord(char) < 32 or ord(char) == 127 for char in target):  # a line break would end the header
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"),
)


_HEADERS_BY_KEY = tuple((name.lower(), name, value) for name, value in _HEADERS)


def add_headers(response):
    """Headers every response of the site carries: no framing, no sniffing, no caching of pages.
    A header the view set itself is kept (looked up once, not one missing-key lookup per header;
    each added one by one, not through `extend`'s walk of what it is given nor `set`'s search)."""
    headers = response.headers
    present = {name.lower() for name, _value in headers}
    for key, name, value in _HEADERS_BY_KEY:
        if key not in present:
            headers.add(name, value)
    endpoint = request.endpoint or ""
    if "cache-control" not in present and endpoint != "static" and (
            endpoint.startswith("rest_api.") or g.get("current_user") is not None):  # a REST caller's data too
        headers.add("Cache-Control", "no-store")
    return response


class LoginThrottle:
    """Failed logins per user name and per client address: after `limit` failures within
    `window` seconds, the key waits `wait` seconds. Kept in this process's memory: a name or address
    is kept only once it failed, and past `max_keys` those whose failures are all older than the
    window are forgotten (under a flood of new names, the oldest)."""

    def __init__(self, *, limit: int = 5, ip_limit: int = 20, window: float = 300.0, wait: float = 30.0,
                 now: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.limit, self.ip_limit, self.window, self.wait, self.now = limit, ip_limit, window, wait, now
        self.max_keys = max_keys
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str) -> list[tuple[str, int]]:
        return [(f"user:{name.strip().lower()}", self.limit), (f"ip:{address}", self.ip_limit)]

    def seconds_left(self, name: str, address: str) -> int:
        """How long this name or address must still wait (0: it may try)."""
        now = self.now()
        left = 0.0
        with self._lock:
            for key, limit in self._keys(name, address):
                if key not in self._failures:  # (looked up without adding it)
                    continue
                failures = self._recent(key, now)
                if len(failures) >= limit:
                    left = max(left, failures[-1] + self.wait - now)
        return int(left + 0.999) if left > 0 else 0

    def failed(self, name: str, address: str) -> None:
        now = self.now()
        with self._lock:
            for key, _limit in self._keys(name, address):
                self._recent(key, now).append(now)
            if len(self._failures) > self.max_keys:
                self._forget(now)

    def _forget(self, now: float) -> None:
        for key in [k for k, failures in self._failures.items() if not failures or failures[-1] < now - self.window]:
            del self._failures[key]
        for key in list(self._failures)[:max(0, len(self._failures) - self.max_keys)]:
            del self._failures[key]

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(name, address)[0][0], None)

    def _recent(self, key: str, now: float) -> deque:
        failures = self._failures[key]
        while failures and failures[0] < now - self.window:
            failures.popleft()
        if len(failures) > 100:
            failures.popleft()
        return failures


def init_app(app: Flask) -> None:
    app.extensions["dalad_login_throttle"] = LoginThrottle()
    app.after_request(add_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["CSRF_FIELD"] = CSRF_FIELD


def throttle() -> LoginThrottle:
    return current_app.extensions["dalad_login_throttle"]
