"""Groups (candidate groups and lanes): the bureaus of the 办法, those an administrator adds,
project units; and the two roles.

Groups are rows of the `bureau` table. `init-db` seeds the 办法's bureaus (BUREAUS); an
administrator adds more (`dalad groups add`, the admin pages, REST /group), renames and
deactivates them. Group ids are stable ASCII (lifecycle.md, "Bureaus"); the UI shows the Chinese
name. A project unit (项目建设单位) is the group `unit:<dept>`; units are created when first needed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import history, names
from .errors import InvalidInput, NotFound
from .models import Bureau


@dataclass(frozen=True)
class BureauInfo:
    id: str
    name_zh: str
    name_en: str


BUREAUS: tuple[BureauInfo, ...] = (
    BureauInfo("leading_group", "数字城市建设领导小组", "Digital City Construction Leading Group"),
    BureauInfo("office", "领导小组办公室（旗大数据中心）", "Leading Group Office (Banner Big Data Center)"),
    BureauInfo("cac", "旗委网络安全和信息化委员会办公室", "Banner Cyberspace Affairs Commission Office"),
    BureauInfo("drc", "旗发展和改革委员会", "Banner Development and Reform Commission"),
    BureauInfo("finance", "旗财政局", "Banner Finance Bureau"),
    BureauInfo("audit", "旗审计局", "Banner Audit Bureau"),
    BureauInfo("secrecy", "旗委保密机要局", "Banner Secrecy and Confidential Communications Bureau"),
    BureauInfo("industry", "旗工信和科技局", "Banner Bureau of Industry, Information Technology and Science"),
    BureauInfo("police", "旗公安局", "Banner Public Security Bureau"),
    BureauInfo("government", "旗人民政府", "Banner People's Government"),
    BureauInfo("consultant", "第三方咨询机构", "Third-party consultancy"),
    BureauInfo("supervisor", "工程监理单位", "Engineering supervisor"),
    BureauInfo("archives", "旗档案馆（档案主管部门）", "Banner Archives (archive authority)"),
)
BUREAU_IDS: frozenset[str] = frozenset(b.id for b in BUREAUS)

ADMIN, AUDITOR = "admin", "auditor"
ROLES: tuple[str, ...] = (ADMIN, AUDITOR)
AUDIT_BUREAU = "audit"  # every member of `audit` has the auditor role (lifecycle.md)

UNIT_PREFIX = "unit:"
_UNIT = re.compile(r"unit:[a-z0-9_]+")
_GROUP_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}")


def is_unit(group_id: str) -> bool:
    """Tell whether `group_id` is a well-formed project-unit group (`unit:<dept>`)."""
    return isinstance(group_id, str) and _UNIT.fullmatch(group_id) is not None


def ensure_bureaus(session: Session) -> list[str]:
    """Insert the bureaus of the table that are missing; return the ids added."""
    existing = set(session.scalars(select(Bureau.id).where(Bureau.id.in_(BUREAU_IDS))))
    missing = [b for b in BUREAUS if b.id not in existing]
    _insert_missing(session, [{"id": b.id, "name_zh": b.name_zh, "name_en": b.name_en} for b in missing])
    return [b.id for b in missing]


def ensure_unit(session: Session, group_id: str, name_zh: Optional[str] = None) -> Bureau:
    """Return the project-unit group `group_id`, creating it when it does not exist yet."""
    if not is_unit(group_id):
        raise InvalidInput(f"'{group_id}' is not a project unit group: write unit:<dept> with lower-case "
                           "letters, digits and _ after the colon (unit:edu)")
    bureau = session.get(Bureau, group_id)
    if bureau is None:
        dept = group_id[len(UNIT_PREFIX):]
        _insert_missing(session, [{"id": group_id, "name_zh": name_zh or f"项目建设单位（{dept}）",
                                   "name_en": None}])
        bureau = session.get(Bureau, group_id)
    return bureau


def check_group(session: Session, group_id: str) -> None:
    """Refuse a group that is not an active group of the table, a bureau of the 办法 (seeded on
    first use) or a well-formed unit group."""
    row = session.get(Bureau, group_id) if isinstance(group_id, str) else None
    if row is not None:
        if not row.active:
            raise InvalidInput(f"group '{group_id}' is deactivated")
        return
    if group_id in BUREAU_IDS or is_unit(group_id):
        return
    known = ", ".join(g.id for g in list_groups(session) if g.active and not is_unit(g.id))
    hint = " (a unit is unit:<dept> in lower-case letters, digits and _)" if str(group_id).startswith(
        UNIT_PREFIX) else ""
    raise InvalidInput(f"unknown bureau '{group_id}'{hint}; known: {known}, or unit:<dept> "
                       "(add a group with `dalad groups add`)")


def list_groups(session: Session, *, ids: Optional[list[str]] = None) -> list[Bureau]:
    """Every group of the table (the 办法's bureaus in their order, then the others by id)."""
    query = select(Bureau)
    if ids is not None:
        query = query.where(Bureau.id.in_(ids))
    order = {b.id: i for i, b in enumerate(BUREAUS)}
    return sorted(session.scalars(query), key=lambda b: (order.get(b.id, len(order)), b.id))


def unknown_groups(session: Session, group_ids) -> list[str]:
    """Of `group_ids`, those that are no active group (units, and the 办法's bureaus before
    init-db seeds them, count as known: they are made on use)."""
    wanted = sorted({g for g in group_ids if g and not is_unit(g)})
    if not wanted:
        return []
    rows = dict(session.execute(select(Bureau.id, Bureau.active).where(Bureau.id.in_(wanted))).all())
    return [g for g in wanted if not rows.get(g, g in BUREAU_IDS)]


def add_group(session: Session, group_id: str, *, name_zh: str, name_en: Optional[str] = None,
              actor: Optional[str] = None) -> Bureau:
    """Add a group (a bureau, or a Camunda group a diagram names) that users can be put in."""
    if group_id is not None and not isinstance(group_id, str):
        raise InvalidInput(f"group id must be text, not {type(group_id).__name__}")
    group_id = (group_id or "").strip()
    if not _GROUP_ID.fullmatch(group_id):
        raise InvalidInput(f"group id {group_id!r} is not allowed: 1 to 100 letters, digits and _ . : -, "
                           "starting with a letter, digit or _")
    if is_unit(group_id):
        return ensure_unit(session, group_id, group_name(name_zh, "name_zh"))
    if session.get(Bureau, group_id) is not None:
        raise InvalidInput(f"group '{group_id}' already exists")
    bureau = Bureau(id=group_id, name_zh=group_name(name_zh, "name_zh"),
                    name_en=group_name(name_en, "name_en", True), active=True)
    session.add(bureau)
    session.flush()
    history.record_system(session, history.Event("group_added", actor=actor, data={
        "group": group_id, "name_zh": bureau.name_zh, "name_en": bureau.name_en}))
    return bureau


def get_group(session: Session, group_id: str) -> Bureau:
    bureau = session.get(Bureau, group_id)
    if bureau is None:
        raise NotFound(f"group '{group_id}' does not exist")
    return bureau


def rename_group(session: Session, group_id: str, *, name_zh: Optional[str] = None,
                 name_en: Optional[str] = None, actor: Optional[str] = None) -> Bureau:
    """Give a group a new Chinese and/or English name (its id, which diagrams name, stays)."""
    bureau = get_group(session, group_id)
    before = {"name_zh": bureau.name_zh, "name_en": bureau.name_en}
    if name_zh is not None:
        bureau.name_zh = group_name(name_zh, "name_zh")
    if name_en is not None:
        bureau.name_en = group_name(name_en, "name_en", True)
    history.record_system(session, history.Event("group_renamed", actor=actor, data={
        "group": group_id, "before": before, "after": {"name_zh": bureau.name_zh, "name_en": bureau.name_en}}))
    return bureau


def set_group_active(session: Session, group_id: str, active: bool, *, actor: Optional[str] = None) -> Bureau:
    """Deactivate a group (no new members; its tasks and members stay) or activate it again."""
    bureau = get_group(session, group_id)
    if bureau.active != active:
        bureau.active = active
        history.record_system(session, history.Event("group_activated" if active else "group_deactivated",
                                                     actor=actor, data={"group": group_id}))
    return bureau


def group_name(value: Optional[str], field: str, optional: bool = False) -> Optional[str]:
    """A group name as given in `field`: text of 1 to 200 characters, none of them hidden
    (engine/names.py), or None when optional and empty."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, not {type(value).__name__}")
    value = (value or "").strip()
    if not value:
        if optional:
            return None
        raise InvalidInput(f"{field} is empty: a group needs a Chinese name")
    if len(value) > 200:
        raise InvalidInput(f"{field} has more than 200 characters")
    names.check_name(value, field)
    return value


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role '{role}'; roles are: {', '.join(ROLES)}")


def name_of(session: Session, group_id: str) -> str:
    """The Chinese name of a group for display, or the id itself when unknown."""
    bureau = session.get(Bureau, group_id)
    return bureau.name_zh if bureau else group_id


def _insert_missing(session: Session, rows: list[dict]) -> None:
    """Insert bureau rows, leaving alone any that another transaction inserted meanwhile."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        session.execute(insert(Bureau).values(rows).on_conflict_do_nothing(index_elements=["id"]))
    else:
        session.add_all(Bureau(**row) for row in rows)
        session.flush()
