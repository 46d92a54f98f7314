"""Append-only history: events chained by HMAC, per instance and for the system.

Each row's `body` is the canonical JSON of the event; its HMAC covers the previous row's HMAC and
that body, keyed by a secret from the configuration (never from the database). The instance row
(or the `history_chain` row for the system chain) keeps the head: count and last HMAC, so an
edited, inserted, deleted or truncated row is caught by `verify_chain`.

The system chain holds what belongs to no instance (deployments, users, each instance's creation)
and, for every transaction that moved another chain, one `chain_heads` event naming each moved
chain's new head. A chain cut at its end and its head moved back, a whole instance deleted or the
access log emptied then no longer matches the head the system chain recorded last for it
(`verify_heads`); to hide that, the system chain itself would have to be cut, with every chain
that moved since: a return of the whole database to an earlier moment, which anchors show.

The system chain's head is the one lock every writing transaction shares, so it is taken in one
place, at commit (`_write_system_events`), after every other lock of the transaction: no two
transactions can wait for each other through it, and it is held only while the commit ends.
"""
from __future__ import annotations

import hmac as hmac_lib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Optional

from sqlalchemy import event as orm_event, func, insert, select
from sqlalchemy.orm import Session

from . import clock, jsontext, stepsql
from .errors import EngineError
from .models import HistoryChain, HistoryEvent, ProcessInstance

SYSTEM_CHAIN = "system"
HEADS_EVENT = "chain_heads"
_PENDING = "dalad_history_pending"  # session.info: what the transaction's commit adds to the system chain
_SEALED = "dalad_history_sealed"    # session.info: the system chain is written; no chain may move now
_key: Optional[bytes] = None


def set_key(key: bytes) -> None:
    """Set the HMAC secret (from the configuration)."""
    global _key
    if len(key) < 16:
        raise EngineError("the history key must be at least 16 bytes")
    _key = key


def _current_key() -> bytes:
    if _key is None:
        raise EngineError("no history key configured (set DALAD_HISTORY_KEY)")
    return _key


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text, dates in ISO form."""
    return jsontext.dumps(value, sort_keys=True, default=_default)


def _default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def sign(prev: Optional[str], body: str) -> str:
    return hmac_lib.digest(_current_key(), ((prev or "") + "\n" + body).encode(), "sha256").hex()  # (hmac's C path)


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


_INSERT_EVENTS = stepsql.insert(HistoryEvent.__table__, ["chain", "seq", "instance_id", "at", "actor", "type",
                                                          "element_id", "occurrence", "body", "state_digest",
                                                          "prev_hmac", "hmac"])


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
        moved_head(session, chain, count, head)
        _INSERT_EVENTS.send(session.connection(), rows)
    return count, head


def record(session: Session, instance: ProcessInstance, events: Iterable[Event], digest: Optional[str]) -> None:
    """Append events to an instance's chain and move its head."""
    instance.history_count, instance.history_head = append(
        session, instance.id, instance.history_count, instance.history_head, events, digest)


def record_system(session: Session, event: Event, *, created: Optional[int] = None) -> None:
    """Add an event that belongs to no instance (deployments, users) to the system chain, written
    when the transaction commits. `created`: the event records that instance's creation, written
    only if the instance row is still there at commit (not made by a rolled-back savepoint)."""
    _moving(session)["system"].append((event, clock.now(), created))


def record_chain(session: Session, name: str, event: Event) -> None:
    """Append an event to a chain that belongs to no instance and no system ('access': auditors' reads)."""
    if name == SYSTEM_CHAIN:
        raise EngineError("the system chain is written at commit: use record_system")
    _moving(session)
    head = session.get(HistoryChain, name, with_for_update=True)
    if head is None:
        _create_chain_row(session, name)
        head = session.get(HistoryChain, name, with_for_update=True)
    row = _row(name, head.count + 1, head.head, event, None, None, clock.now())
    _INSERT_EVENTS.send(session.connection(), [row])
    head.count, head.head = head.count + 1, row["hmac"]
    moved_head(session, name, head.count, head.head)


def moved_head(session: Session, chain: str, count: int, head: str) -> None:
    """Note a chain's new head: the system chain records it when the transaction commits."""
    _moving(session)["heads"][chain] = [count, head]


def _moving(session: Session) -> dict:
    """What this transaction adds to the system chain at commit: its events, and the chains it moved."""
    if session.info.get(_SEALED):
        raise EngineError("history recorded after the system chain was written for this transaction "
                          "(a before_commit hook registered after engine.history's)")
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = {"system": [], "heads": {}, "reread": False}
    return pending


@orm_event.listens_for(Session, "before_commit")
def _write_system_events(session: Session) -> None:
    """At commit, after everything else the transaction writes: the system events it recorded and
    one `chain_heads` event with the head of each chain it moved, in one insert and one update of
    the system chain's head. After a savepoint rolled back (which puts back what it moved), the
    heads and the instances created are read as stored."""
    if session.in_nested_transaction():
        return  # a savepoint commits: the transaction goes on
    pending = session.info.pop(_PENDING, None)
    session.info[_SEALED] = True  # a chain moved after this would go unrecorded: refused (_moving)
    if not pending:
        return
    session.flush()  # every lock of the transaction's own rows first; the system chain's head last
    heads = pending["heads"]
    if pending["reread"]:
        heads = _stored_heads(session, heads)
    present = {int(name.split(":", 1)[1]) for name in heads if name.startswith("instance:")}
    created = {iid for _, _, iid in pending["system"] if iid is not None}
    if created - present:
        table = ProcessInstance.__table__
        present |= set(session.scalars(select(table.c.id).where(table.c.id.in_(created - present))))
    events = [(e, at) for e, at, iid in pending["system"] if iid is None or iid in present]
    if heads:
        events.append((Event(HEADS_EVENT, data={"heads": dict(sorted(heads.items()))}), clock.now()))
    if events:
        _append_system(session, events)


def _stored_heads(session: Session, names) -> dict:
    """The heads of these chains as the database holds them now (a chain gone is left out)."""
    ids = [int(name.split(":", 1)[1]) for name in names if name.startswith("instance:")]
    others = [name for name in names if not name.startswith("instance:")]
    table = ProcessInstance.__table__
    heads = {f"instance:{iid}": [count, head] for iid, count, head in session.execute(
        select(table.c.id, table.c.history_count, table.c.history_head).where(table.c.id.in_(ids)))}
    table = HistoryChain.__table__
    heads.update((name, [count, head]) for name, count, head in session.execute(
        select(table.c.name, table.c.count, table.c.head).where(table.c.name.in_(others))))
    return heads


_LOCK_SYSTEM = stepsql.Statement('SELECT "count", head FROM history_chain WHERE name = :name', for_update=True)
_MOVE_SYSTEM = stepsql.Statement('UPDATE history_chain SET "count" = :count, head = :head WHERE name = :name')
_APPEND_SYSTEM: dict[int, stepsql.Statement] = {}


def _appended_and_moved(count: int) -> stepsql.Statement:
    """PostgreSQL: `count` events inserted and the system chain's head moved in one statement."""
    statement = _APPEND_SYSTEM.get(count)
    if statement is None:
        statement = _APPEND_SYSTEM[count] = stepsql.Statement(
            f"WITH added AS ({_INSERT_EVENTS.rows(count).sql}) {_MOVE_SYSTEM.sql}", HistoryEvent.__table__)
    return statement


def _append_system(session: Session, events: list[tuple[Event, datetime]]) -> None:
    """Lock the system chain's head, append the events, move the head (plain SQL: this runs at
    every commit)."""
    connection = session.connection()
    current = _LOCK_SYSTEM.run(connection, {"name": SYSTEM_CHAIN}).first()
    if current is None:
        _create_chain_row(session, SYSTEM_CHAIN)
        current = _LOCK_SYSTEM.run(connection, {"name": SYSTEM_CHAIN}).first()
    count, head = current
    rows = []
    for event, at in events:
        count += 1
        rows.append(_row(SYSTEM_CHAIN, count, head, event, None, None, at))
        head = rows[-1]["hmac"]
    moved = {"count": count, "head": head, "name": SYSTEM_CHAIN}
    if connection.dialect.name == "postgresql":  # (SQLite has no INSERT in WITH, nor round trips)
        _appended_and_moved(len(rows)).send(connection, {**stepsql.numbered(rows), **moved})
    else:
        _INSERT_EVENTS.send(connection, rows)
        _MOVE_SYSTEM.send(connection, moved)


def _create_chain_row(session: Session, name: str) -> None:
    """Create the head row of a chain once, leaving alone one another transaction just made."""
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite
        insert_ = sqlite.insert if dialect == "sqlite" else postgresql.insert
        session.execute(insert_(HistoryChain).values(name=name, count=0, head=None)
                        .on_conflict_do_nothing(index_elements=["name"]))
    else:
        session.execute(insert(HistoryChain).values(name=name, count=0, head=None))


@orm_event.listens_for(Session, "after_rollback")
def _reread_after_a_savepoint(session: Session) -> None:
    """A savepoint rolled back (for the whole transaction, `_forget_pending` drops everything)."""
    pending = session.info.get(_PENDING)
    if pending is not None:
        pending["reread"] = True


@orm_event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction) -> None:
    """A transaction ended (committed or rolled back): nothing of it is pending any more."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_SEALED, None)


# --- verification ------------------------------------------------------------------------------

@dataclass
class ChainReport:
    chain: str
    ok: bool
    events: int
    problem: Optional[str] = None
    seq: Optional[int] = None
    counted: str = "events"

    def __str__(self) -> str:
        if self.ok:
            return f"{self.chain}: OK ({self.events} {self.counted})"
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


_CLOCK_SLACK = timedelta(hours=1)  # a clock set back between an event and its commit
_READ_AT_ONCE = 5000  # system events read at a time


def verify_recorded_head(session: Session, instance: ProcessInstance) -> ChainReport:
    """The instance's head now against the last head the system chain recorded for it, reading the
    system chain from the commit of the instance's last event to the system chain's head, each of
    those events checked against its HMAC and its link: a chain cut at its end with its head moved
    back, or moved without the engine, shows here too, in time that grows with what happened since
    the instance last moved, not with the whole history. (Where the clock went back more than an
    hour, the system chain is read from its start.)"""
    name = f"instance:{instance.id}"
    table = HistoryEvent.__table__
    last_at = session.scalar(select(table.c.at).where(table.c.chain == name, table.c.seq == instance.history_count))
    system = session.get(HistoryChain, SYSTEM_CHAIN)
    if last_at is None or system is None:
        return ChainReport(name, False, instance.history_count, "the system chain never recorded its head "
                           "(written without the engine)")
    start = session.scalar(select(func.min(table.c.seq)).where(table.c.chain == SYSTEM_CHAIN,
                                                              table.c.at >= last_at - _CLOCK_SLACK)) or 1
    recorded, broken = _last_recorded(session, name, start, system)
    if broken is None and recorded is None and start > 1:  # not since its last event: the clock, or never
        recorded, broken = _last_recorded(session, name, 1, system)
    if broken is not None:
        return ChainReport(name, False, instance.history_count, f"the system chain after its last event is "
                           f"broken: {broken}")
    problem = _head_problem(name, (instance.history_count, instance.history_head), recorded)
    return problem or ChainReport(name, True, instance.history_count,
                                  counted=f"events, its head the one the system chain recorded last (system event "
                                          f"{recorded[2]})")


def _last_recorded(session: Session, name: str, start: int, system: HistoryChain) -> tuple[Optional[tuple], Optional[str]]:
    """Read the system chain from event `start` (its link to the one before taken as signed) to its
    head, checking each event's sequence, link and HMAC, which covers all that is signed; return
    the last (count, head, system event) recorded for chain `name`, and what is broken (or None)."""
    table = HistoryEvent.__table__
    needle, recorded, expected, prev = f'"{name}"', None, start, None
    while True:
        rows = session.execute(select(table.c.seq, table.c.prev_hmac, table.c.hmac, table.c.body)
                               .where(table.c.chain == SYSTEM_CHAIN, table.c.seq >= expected)
                               .order_by(table.c.seq).limit(_READ_AT_ONCE)).all()
        for seq, prev_hmac, signed, body in rows:
            if seq != expected:
                return recorded, f"system event {expected} is missing (found {seq} next)"
            if seq > start and prev_hmac != prev:
                return recorded, f"system event {seq}: link to the previous event does not match"
            if not hmac_lib.compare_digest(sign(prev_hmac, body), signed):
                return recorded, f"system event {seq}: content does not match its HMAC (edited)"
            if needle in body:
                event = json.loads(body)
                heads = (event.get("data") or {}).get("heads") if event.get("type") == HEADS_EVENT else None
                if heads and name in heads:
                    recorded = (*heads[name], seq)
            prev, expected = signed, expected + 1
        if len(rows) < _READ_AT_ONCE:
            break
    if expected - 1 != system.count or prev != system.head:
        return recorded, (f"it ends at event {expected - 1}, but its head records {system.count} "
                          "(events deleted or added at its end)")
    return recorded, None


def _head_problem(name: str, current: tuple, recorded: Optional[tuple]) -> Optional[ChainReport]:
    """What is wrong with a chain's head (count, head; None: the chain is gone) against the head
    the system chain recorded last for it ((count, head, system event); None: never)."""
    count, head = current
    if recorded is None:
        return None if not count else ChainReport(
            name, False, count, f"holds {count} events, but the system chain never recorded its head "
            "(written without the engine)")
    last_count, last_head, seq = recorded
    said = f"the system chain recorded {last_count} events last (system event {seq})"
    if count is None:
        return ChainReport(name, False, 0, f"is gone, but {said} (deleted)")
    if count != last_count:
        return ChainReport(name, False, count, f"holds {count} events, but {said}: "
                           + ("events cut at its end and its head moved back" if count < last_count
                              else "events added without the engine"))
    if head != last_head:
        return ChainReport(name, False, count, f"its head is not the one {said} (rewritten)")
    return None


def verify_heads(session: Session) -> list[ChainReport]:
    """Every chain's head now against the head the system chain recorded last for it: one report
    per chain that differs (cut at its end, emptied, deleted, or moved without the engine), else
    one report that all match. Read in one snapshot with the system chain it trusts."""
    recorded: dict[str, tuple[int, str, int]] = {}  # chain: (count, head, system event)
    for seq, body in session.execute(select(HistoryEvent.seq, HistoryEvent.body).where(
            HistoryEvent.chain == SYSTEM_CHAIN, HistoryEvent.type == HEADS_EVENT).order_by(HistoryEvent.seq)):
        for name, (count, head) in json.loads(body)["data"]["heads"].items():
            recorded[name] = (count, head, seq)
    table = ProcessInstance.__table__
    current = {f"instance:{iid}": (count, head) for iid, count, head in session.execute(
        select(table.c.id, table.c.history_count, table.c.history_head))}
    current.update((name, (count, head)) for name, count, head in session.execute(
        select(HistoryChain.name, HistoryChain.count, HistoryChain.head).where(HistoryChain.name != SYSTEM_CHAIN)))
    problems = [problem for name in sorted(set(recorded) | set(current), key=_chain_order)
                if (problem := _head_problem(name, current.get(name, (None, None)), recorded.get(name)))]
    return problems or [ChainReport("chain heads", True, len(recorded),
                                    counted="chains, each at the head the system chain recorded last")]


def _chain_order(name: str):
    kind, _, number = name.partition(":")
    return (kind, int(number) if number.isdigit() else 0, name)


def events_of(session: Session, instance_id: int) -> list[dict]:
    """An instance's events as plain dicts, in order (the signed content of each)."""
    return [json.loads(row.body) for row in chain_rows(session, f"instance:{instance_id}")]
