"""Anchors: signed, dated statements of every history chain's head, kept outside the database.

Someone who can write the database (but has not the history key) cannot forge events, yet could
delete the last events of a chain and move its head back, delete a whole instance, or empty the
access log: the chains left would still verify. An anchor taken before (`dalad history anchor
--output FILE`, daily from cron, the file kept on another machine) proves it: each chain it names
must still hold its anchored event, with the anchored HMAC, at the anchored position
(`dalad history verify --all --anchor FILE`).

The statement is signed with the history key, so it cannot be forged or edited either; each anchor
taken is also an `anchored` event of the system chain (what the admin pages show as the last one).
"""
from __future__ import annotations

import hashlib
import hmac as hmac_lib
import json
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from . import clock, history
from .errors import InvalidInput
from .models import HistoryChain, HistoryEvent, ProcessInstance

FORMAT = "dalad-history-anchor/1"


def take(session: Session, *, actor: Optional[str] = None) -> dict:
    """The signed statement of every chain's head now; recorded as an `anchored` system event."""
    chains = {name: [count, head] for name, count, head in session.execute(
        select(HistoryChain.name, HistoryChain.count, HistoryChain.head))}
    chains.update({f"instance:{iid}": [count, head] for iid, count, head in session.execute(
        select(ProcessInstance.id, ProcessInstance.history_count, ProcessInstance.history_head))})
    statement = {"format": FORMAT, "at": clock.now().isoformat(), "chains": dict(sorted(chains.items()))}
    signed = {"statement": statement, "hmac": _sign(statement)}
    history.record_system(session, history.Event("anchored", actor=actor, data={
        "at": statement["at"], "chains": len(chains),
        "sha256": hashlib.sha256(history.canonical(signed).encode()).hexdigest()}))
    return signed


def _sign(statement: dict) -> str:
    return history.sign("anchor", history.canonical(statement))


@dataclass
class AnchorReport:
    ok: bool
    lines: list[str]


def check(session: Session, signed: dict) -> AnchorReport:
    """Does every chain the anchor names still hold its anchored head at the anchored position?"""
    statement = signed.get("statement") if isinstance(signed, dict) else None
    if not isinstance(statement, dict) or statement.get("format") != FORMAT:
        raise InvalidInput("not a dalad history anchor")
    if not hmac_lib.compare_digest(str(signed.get("hmac")), _sign(statement)):
        return AnchorReport(False, ["anchor: BROKEN: its signature does not match (edited, or another key)"])
    anchored = {name: (count, head) for name, (count, head) in statement["chains"].items() if count}
    found: dict[tuple[str, int], str] = {}
    wanted = [(name, count) for name, (count, _) in anchored.items()]
    for start in range(0, len(wanted), 500):
        batch = wanted[start:start + 500]
        found.update({(chain, seq): mac for chain, seq, mac in session.execute(
            select(HistoryEvent.chain, HistoryEvent.seq, HistoryEvent.hmac)
            .where(tuple_(HistoryEvent.chain, HistoryEvent.seq).in_(batch)))})
    lines = []
    for name, (count, head) in anchored.items():
        mac = found.get((name, count))
        if mac is None:
            lines.append(f"{name}: anchored with {count} events at {statement['at']}, event {count} is gone "
                         "(events or the whole chain deleted)")
        elif not hmac_lib.compare_digest(mac, head):
            lines.append(f"{name}: event {count} is not the one anchored at {statement['at']}")
    verdict = (f"anchor of {statement['at']}: OK ({len(anchored)} chains still hold their anchored heads)"
               if not lines else f"anchor of {statement['at']}: {len(lines)} chains FAILED")
    return AnchorReport(not lines, [*lines, verdict])


def last_taken(session: Session) -> Optional[str]:
    """When the last anchor was taken (ISO time), from the system chain: the last of the anchors'
    entries in the type index (not the system chain read back from its head, one event per commit
    since the last anchor)."""
    last = session.scalar(select(func.max(HistoryEvent.id)).where(HistoryEvent.of_types(["anchored"])))
    body = session.scalar(select(HistoryEvent.body).where(HistoryEvent.id == last,
                                                         HistoryEvent.chain == history.SYSTEM_CHAIN)) \
        if last is not None else None
    return json.loads(body)["data"]["at"] if body is not None else None
