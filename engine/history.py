"""Append-only history: events chained by HMAC, per instance and for the system.

Each row's `body` is the canonical JSON of the event; its HMAC covers the previous row's HMAC and
that body, keyed by a secret from the configuration (never from the database). The instance row
(or the `history_chain` row for the system chain) keeps the head: count and last HMAC, so an
edited, inserted, deleted or truncated row is caught by `verify_chain`.
"""
from __future__ import annotations

import hashlib
import hmac as hmac_lib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Optional

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import clock, keyfiles
from .errors import EngineError
from .models import HistoryChain, HistoryEvent, ProcessInstance

SYSTEM_CHAIN = "system"
_key: Optional[bytes] = None


def set_key(key: bytes) -> None:
    """Set the HMAC secret (from the configuration)."""
    global _key
    if len(key) < 16:
        raise EngineError("the history key must be at least 16 bytes")
    _key = key


def load_key(instance_dir: str | os.PathLike = "instance") -> bytes:
    """Read DALAD_HISTORY_KEY, else `instance/history.key`, creating it once with a random key."""
    env = os.environ.get("DALAD_HISTORY_KEY")
    if env:
        return env.encode()
    return keyfiles.read_or_create(Path(instance_dir) / "history.key").encode()


def _current_key() -> bytes:
    if _key is None:
        raise EngineError("no history key configured (set DALAD_HISTORY_KEY)")
    return _key


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text, dates in ISO form."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def sign(prev: Optional[str], body: str) -> str:
    return hmac_lib.new(_current_key(), ((prev or "") + "\n" + body).encode(), hashlib.sha256).hexdigest()


@dataclass
class Event:
    """An event before it is chained."""

    type: str
    actor: Optional[str] = None
    element_id: Optional[str] = None
    occurrence: Optional[int] = None
    data: Any = None
    versions: Optional[dict] = None


def _row(chain: str, seq: int, prev: Optional[str], event: Event, instance_id: Optional[int],
         digest: Optional[str], at: datetime) -> dict:
    body = canonical({
        "chain": chain, "seq": seq, "instance_id": instance_id, "at": at.isoformat(),
        "actor": event.actor, "type": event.type, "element_id": event.element_id,
        "occurrence": event.occurrence, "versions": event.versions, "data": event.data, "digest": digest,
    })
    return {"chain": chain, "seq": seq, "instance_id": instance_id, "at": at, "actor": event.actor,
            "type": event.type, "element_id": event.element_id, "occurrence": event.occurrence,
            "body": body, "state_digest": digest, "prev_hmac": prev, "hmac": sign(prev, body)}


def append(session: Session, instance_id: int, count: int, head: Optional[str], events: Iterable[Event],
           digest: Optional[str]) -> tuple[int, Optional[str]]:
    """Append events to an instance's chain; return the new head (count, HMAC) to store."""
    at = clock.now()
    chain = f"instance:{instance_id}"
    rows = []
    for event in events:
        count += 1
        rows.append(_row(chain, count, head, event, instance_id, digest, at))
        head = rows[-1]["hmac"]
    if rows:
        session.connection().execute(insert(HistoryEvent.__table__), rows)
    return count, head


def record(session: Session, instance: ProcessInstance, events: Iterable[Event], digest: Optional[str]) -> None:
    """Append events to an instance's chain and move its head."""
    instance.history_count, instance.history_head = append(
        session, instance.id, instance.history_count, instance.history_head, events, digest)


def record_system(session: Session, event: Event) -> None:
    """Append an event that belongs to no instance (deployments, users) to the system chain."""
    record_chain(session, SYSTEM_CHAIN, event)


def record_chain(session: Session, name: str, event: Event) -> None:
    """Append an event to a chain that belongs to no instance ('system', or 'access': auditors' reads)."""
    head = session.get(HistoryChain, name, with_for_update=True)
    if head is None:
        head = HistoryChain(name=name, count=0, head=None)
        session.add(head)
    row = _row(name, head.count + 1, head.head, event, None, None, clock.now())
    session.connection().execute(insert(HistoryEvent.__table__), [row])
    head.count, head.head = head.count + 1, row["hmac"]


# --- verification ------------------------------------------------------------------------------

@dataclass
class ChainReport:
    chain: str
    ok: bool
    events: int
    problem: Optional[str] = None
    seq: Optional[int] = None

    def __str__(self) -> str:
        if self.ok:
            return f"{self.chain}: OK ({self.events} events)"
        where = f" at event {self.seq}" if self.seq is not None else ""
        return f"{self.chain}: BROKEN{where}: {self.problem}"


_COLUMNS = ("chain", "seq", "instance_id", "actor", "type", "element_id", "occurrence")


def verify_rows(chain: str, rows: list, count: int, head: Optional[str]) -> ChainReport:
    """Check a chain's rows against their HMACs, their sequence and the recorded head."""
    prev = None
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq:
            return ChainReport(chain, False, len(rows), f"event {expected_seq} is missing "
                               f"(found {row.seq} next)", expected_seq)
        if row.prev_hmac != prev:
            return ChainReport(chain, False, len(rows), "link to the previous event does not match", row.seq)
        if not hmac_lib.compare_digest(sign(prev, row.body), row.hmac):
            return ChainReport(chain, False, len(rows), "content does not match its HMAC (edited)", row.seq)
        body = json.loads(row.body)
        for column in _COLUMNS:
            if body.get(column) != getattr(row, column):
                return ChainReport(chain, False, len(rows), f"column '{column}' differs from the signed "
                                   "content (edited)", row.seq)
        if body.get("digest") != row.state_digest or body.get("at") != row.at.isoformat():
            return ChainReport(chain, False, len(rows), "time or state digest differs from the signed "
                               "content (edited)", row.seq)
        prev = row.hmac
    if len(rows) != count:
        return ChainReport(chain, False, len(rows), f"the chain has {len(rows)} events but its head "
                           f"records {count} (rows deleted or added at the end)", len(rows) + 1)
    if prev != head:
        return ChainReport(chain, False, len(rows), "the last event is not the recorded head", len(rows))
    return ChainReport(chain, True, len(rows))


def chain_rows(session: Session, chain: str) -> list:
    """A chain's rows in order, as plain rows (read-only: no ORM objects to build per event)."""
    table = HistoryEvent.__table__
    return list(session.execute(select(table).where(table.c.chain == chain).order_by(table.c.seq, table.c.id)))


def verify_instance_chain(session: Session, instance: ProcessInstance, rows: Optional[list] = None) -> ChainReport:
    chain = f"instance:{instance.id}"
    rows = chain_rows(session, chain) if rows is None else rows
    return verify_rows(chain, rows, instance.history_count, instance.history_head)


def verify_system_chain(session: Session) -> ChainReport:
    return verify_chain(session, SYSTEM_CHAIN)


def verify_chain(session: Session, name: str) -> ChainReport:
    """Check a chain that belongs to no instance against its recorded head."""
    head = session.get(HistoryChain, name)
    return verify_rows(name, chain_rows(session, name), head.count if head else 0, head.head if head else None)


def events_of(session: Session, instance_id: int) -> list[dict]:
    """An instance's events as plain dicts, in order (the signed content of each)."""
    return [json.loads(row.body) for row in chain_rows(session, f"instance:{instance_id}")]
