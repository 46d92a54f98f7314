"""REST credentials recognised for a few seconds: a client sending the same Bearer token or HTTP
Basic header on every call is looked up (and its password hashed) once, not per call.

An entry is keyed by an HMAC of the whole Authorization header under this process's own random key
(what the cache holds is neither a token, a password nor a hash an attacker could test guesses
against). It holds the caller (user, bureaus, roles) and ends when the seconds are up or when any
transaction of this process changes a user, a membership or a token (engine/users.py's
credentials generation): a revoked token, a new password, a deactivated user or a changed
membership counts at the next call here, and within the cache's seconds in other processes
(SECURITY.md). Only successful checks are kept: a wrong password is checked, and throttled, every
time."""
from __future__ import annotations

import hmac
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from engine import users

MAX_ENTRIES = 10_000


@dataclass
class Entry:
    caller: Any
    token_id: Optional[int]  # a Bearer token's id (its last use is written down at most once a minute)
    last_used_at: Optional[datetime]
    expires: float
    generation: int


class CredentialCache:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._key = os.urandom(32)
        self._entries: dict[bytes, Entry] = {}
        self._lock = threading.Lock()

    def key(self, header: str, allow_demo: bool) -> bytes:
        """The entry of an Authorization header (checked with demo accounts allowed or not)."""
        text = f"{int(allow_demo)}{header}"
        return hmac.digest(self._key, text.encode("utf-8", "surrogatepass"), "sha256")

    def get(self, key: bytes) -> Optional[Entry]:
        entry = self._entries.get(key)
        if entry is None or entry.expires <= time.monotonic() or entry.generation != users.credentials_generation():
            return None
        return entry

    def put(self, key: bytes, entry_of_generation: int, caller, token_id: Optional[int] = None,
            last_used_at: Optional[datetime] = None) -> None:
        """Keep a check made from the database as it was at `entry_of_generation` (read before the
        check: a change committed meanwhile makes the entry stale at once)."""
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = Entry(caller, token_id, last_used_at, time.monotonic() + self.seconds,
                                       entry_of_generation)
