"""Form fields whose choices are a live list: units, bureaus, projects, users.

A `camunda:formField` of type "string" or "enum" that carries

    <camunda:properties><camunda:property id="dalad:choices" value="units"/></camunda:properties>

is shown as a list (searchable when long) and checked against the list as it is when the form is
submitted, on every channel: `with_choices` turns such a field into an enum with the current
options, and `forms.schemas.validate` accepts only those. Sources and the value each gives:

- `units`: a project unit's code (`edu` of the group `unit:edu`), labelled with its name;
- `bureaus`: a bureau's group id (`drc`), labelled with its name;
- `projects`: a project's business key, labelled with the project's name and the key;
- `users`: an active user's name, labelled with their display name.

A start-form field that also carries `dalad:ownGroups="true"` names in whose name the process is
started (项目建设单位, 申请单位, 下达部门): its options are those of the starter's own groups only (a
unit of a `units` list is the group `unit:<code>`, any other option the group of its id), checked so
on every channel (`for_starter`); an administrator may choose any.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bureaus import UNIT_PREFIX
from engine.models import Bureau, ProcessInstance, User

from .fields import FieldSpec, Option

PROPERTY = "dalad:choices"
OWN_GROUPS = "dalad:ownGroups"
PROJECT_PROCESS = "project"


def _units(session: Session) -> list[Option]:
    rows = session.execute(select(Bureau.id, Bureau.name_zh).where(Bureau.id.like(f"{UNIT_PREFIX}%"))
                           .order_by(Bureau.name_zh))
    return [Option(gid[len(UNIT_PREFIX):], name) for gid, name in rows]


def _bureaus(session: Session) -> list[Option]:
    rows = session.execute(select(Bureau.id, Bureau.name_zh).where(Bureau.id.not_like(f"{UNIT_PREFIX}%"))
                           .order_by(Bureau.id))
    return [Option(gid, name) for gid, name in rows]


def _projects(session: Session) -> list[Option]:
    rows = session.execute(select(ProcessInstance.business_key, ProcessInstance.variables["project_name"].as_string())
                           .where(ProcessInstance.process_key == PROJECT_PROCESS,
                                  ProcessInstance.business_key.is_not(None))
                           .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()))
    seen: dict[str, Option] = {}
    for key, name in rows:
        seen.setdefault(key, Option(key, f"{name}（{key}）" if name else key))
    return list(seen.values())


def _users(session: Session) -> list[Option]:
    rows = session.execute(select(User.name, User.display_name).where(User.active.is_(True)).order_by(User.name))
    return [Option(name, f"{display}（{name}）" if display else name) for name, display in rows]


SOURCES: dict[str, Callable[[Session], list[Option]]] = {
    "units": _units, "bureaus": _bureaus, "projects": _projects, "users": _users}


def source_of(spec: FieldSpec) -> str | None:
    source = (spec.properties or {}).get(PROPERTY)
    return source if source in SOURCES else None


def with_choices(session: Session, specs: list[FieldSpec]) -> list[FieldSpec]:
    """The specs, each field with a choice source made an enum of the source's current options."""
    if not any(source_of(spec) for spec in specs):
        return specs
    loaded: dict[str, tuple[Option, ...]] = {}
    out = []
    for spec in specs:
        source = source_of(spec)
        if source is None or spec.type not in ("string", "enum"):
            out.append(spec)
            continue
        if source not in loaded:
            loaded[source] = tuple(SOURCES[source](session))
        out.append(dataclasses.replace(spec, type="enum", options=loaded[source]))
    return out



def own_groups(spec: FieldSpec) -> bool:
    """Whether the field names in whose name the form is filled in (`dalad:ownGroups`)."""
    return str((spec.properties or {}).get(OWN_GROUPS, "")).strip().lower() == "true"


def group_of(spec: FieldSpec, value: str) -> str:
    """The group an option of an own-groups field stands for."""
    return UNIT_PREFIX + value if source_of(spec) == "units" else value


def for_starter(specs: list[FieldSpec], groups, is_admin: bool) -> list[FieldSpec]:
    """The specs with the options of each own-groups field narrowed to `groups` (an administrator's
    are left whole)."""
    if is_admin or not any(own_groups(spec) for spec in specs):
        return specs
    mine = set(groups)
    return [dataclasses.replace(spec, options=tuple(o for o in spec.options if group_of(spec, o.value) in mine))
            if own_groups(spec) else spec for spec in specs]


def has_own_choice(spec: FieldSpec, groups) -> bool:
    """Whether an own-groups field offers a member of `groups` anything (read without the database:
    a unit or bureau one belongs to exists)."""
    source = source_of(spec)
    if source == "units":
        return any(group.startswith(UNIT_PREFIX) for group in groups)
    if source == "bureaus":
        return any(not group.startswith(UNIT_PREFIX) for group in groups)
    return any(group_of(spec, option.value) in groups for option in spec.options)
