"""Starting work: the processes a user may start, and the start form of each.

Who may start a process: the users and bureaus its diagram names in
`camunda:candidateStarterUsers` / `camunda:candidateStarterGroups` (`unit:*` there means any
project unit), or every logged-in official when it names none. Auditors without a bureau only
read, so they start nothing. The start form is the plain start event's `camunda:formData`,
checked as a task form is (forms/submission.py: the consistency rules of the start at their
fields, a unit or bureau in whose name it starts only the official's own, its documents uploaded
with it); the business key (the project code) is asked for too, and a unit official's unit is
filled in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from engine import bureaus, clock, documents, services
from engine.errors import EngineError, MessageUndelivered
from engine.models import ProcessDefinition, ProcessInstance, UserTask
from forms import schemas, submission
from forms.choices import for_starter, has_own_choice, own_groups, with_choices
from forms.fields import FieldSpec, Option, from_form_data

from . import N_, database, security
from .auth import CurrentUser, bureau_names
from .errors import status_of
from .tasks import REFUSALS

bp = security.protect(Blueprint("start", __name__))
ANY_UNIT = "unit:*"
BUSINESS_KEY = "business_key"
OPEN_STATUSES = ("running", "waiting", "suspended", "incident")


@dataclass(frozen=True)
class Startable:
    """A process the user may start: its latest version and the start event's form."""

    key: str
    name: str
    version: int
    start_id: str
    fields: list
    starter_groups: tuple[str, ...]
    starter_users: tuple[str, ...]


def may_start(meta: dict, user: CurrentUser) -> bool:
    """Whether the diagram's starter users and groups let `user` start it."""
    if user.is_auditor and not user.groups and not user.is_admin:
        return False
    groups = meta.get("starter_groups") or []
    names = meta.get("starter_users") or []
    if not groups and not names:
        return True
    if user.name in names or set(user.groups) & set(groups):
        return True
    return ANY_UNIT in groups and any(bureaus.is_unit(group) for group in user.groups)


def _plain_start(meta: dict) -> Optional[dict]:
    return next((s for s in meta.get("starts") or [] if s.get("kind") == "none"), None)


def startable(session, user: CurrentUser) -> list[Startable]:
    """The latest, unsuspended version of each process meant to be started by hand (a plain start
    event, not `camunda:isStartableInTasklist="false"`, not a process other processes call unless
    it names its starters) that `user` may start."""
    latest: dict[str, ProcessDefinition] = {}
    for definition in session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key,
                                                                        ProcessDefinition.version.desc())):
        latest.setdefault(definition.key, definition)
    called = {key for d in latest.values() for key in ((d.meta or {}).get("called_user_tasks") or {})}
    out = []
    for definition in latest.values():
        meta = definition.meta or {}
        start = _plain_start(meta)
        if definition.suspended or start is None or not meta.get("startable_by_hand", True) \
                or (definition.key in called and not meta.get("starter_groups") and not meta.get("starter_users")) \
                or not may_start(meta, user):
            continue
        fields = from_form_data(start.get("form_fields") or [])
        if not user.is_admin and not all(has_own_choice(spec, user.groups) for spec in fields if own_groups(spec)):
            continue  # it starts in the name of a unit or bureau, and none is theirs
        out.append(Startable(definition.key, definition.name or meta.get("name") or definition.key,
                             definition.version, start["id"], fields,
                             tuple(meta.get("starter_groups") or ()), tuple(meta.get("starter_users") or ())))
    return sorted(out, key=lambda s: s.name)


def _startable(session, key: str) -> Startable:
    """The process `key` if the current user may start it: 404 when it is unknown, 403 when not theirs."""
    if session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key).limit(1)) is None:
        abort(404)
    found = next((s for s in startable(session, g.current_user) if s.key == key), None)
    if found is None:
        abort(403)
    return found


def _unit_field(specs: list[FieldSpec], user: CurrentUser, names: dict) -> Optional[FieldSpec]:
    """A choice of unit for an official of several units, when the form does not ask for one."""
    units = [group for group in user.groups if bureaus.is_unit(group)]
    if len(units) < 2 or any(spec.id == "unit" for spec in specs):
        return None
    options = tuple(Option(group[len(bureaus.UNIT_PREFIX):], names.get(group, group)) for group in units)
    return FieldSpec(id="unit", label=_("建设单位"), type="enum", required=True, options=options)


def _form_specs(session, process: Startable, user: CurrentUser, names: dict) -> list[FieldSpec]:
    """The start form's inputs; a unit or bureau in whose name it starts offers only the user's."""
    specs = for_starter(with_choices(session, [spec for spec in process.fields if spec.type != "file"]),
                        user.groups, user.is_admin)
    unit = _unit_field(specs, user, names)
    return ([unit] if unit else []) + specs


def _key_field(specs: list[FieldSpec]) -> str:
    """The input that holds the business key: a start-form field marked `dalad:businessKey`
    (one 项目编号 on the form), else the page's own."""
    return submission.business_key_field(specs) or BUSINESS_KEY


def _suggested_key(session, process: Startable) -> str:
    today = clock.today()
    started = session.scalar(select(func.count(ProcessInstance.id)).where(
        ProcessInstance.process_key == process.key,
        ProcessInstance.business_key.like(f"{process.key.upper()}-{today:%Y%m%d}-%"))) or 0
    return f"{process.key.upper()}-{today:%Y%m%d}-{started + 1:02d}"


@bp.get("/start/")
def index():
    """The processes this user may start."""
    with database().read() as session:
        processes = startable(session, g.current_user)
        names = bureau_names(session)
    return render_template("start/index.html", processes=processes, names=names, any_unit=ANY_UNIT)


@bp.get("/start/<key>")
def form(key: str):
    with database().read() as session:
        process = _startable(session, key)
        names = bureau_names(session)
        specs = _form_specs(session, process, g.current_user, names)
        values = {spec.id: schemas.as_text(spec, spec.default) for spec in specs}
        values[_key_field(specs)] = _suggested_key(session, process)
        for spec in specs:
            if own_groups(spec) and len(spec.options) == 1 and not g.current_user.is_admin:
                values[spec.id] = spec.options[0].value  # the official's own unit or bureau, chosen for them
    return _render(process, specs, values, {})


def _render(process: Startable, specs, values: dict, errors: dict, status: int = 200):
    files = [spec for spec in process.fields if spec.type == "file"]
    return render_template("start/form.html", process=process, specs=specs, values=values, errors=errors,
                           files=files, business_key=BUSINESS_KEY,
                           key_in_form=_key_field(specs) != BUSINESS_KEY), status


@bp.post("/start/<key>")
def submit(key: str):
    """Check the start form, then start the process with the user as its initiator."""
    user = g.current_user
    with database().read() as session:
        process = _startable(session, key)
        specs = _form_specs(session, process, user, bureau_names(session))
        result = schemas.validate(specs, request.form)
        key_field = _key_field(specs)
        business_key = (request.form.get(key_field) or "").strip()
        errors = {**result.errors, **submission.own_group_problems(specs, result.typed, user.is_admin)}
        if not submission.BUSINESS_KEY.fullmatch(business_key):
            errors[key_field] = [_("请填写项目编号：1 至 100 个字符，不含空格和斜杠")]
        elif session.scalar(select(ProcessInstance.id).where(
                ProcessInstance.process_key == key, ProcessInstance.business_key == business_key,
                ProcessInstance.status.in_(OPEN_STATUSES)).limit(1)) is not None:
            errors[key_field] = [_("已有使用此编号、尚未办结的同类流程，请换一个编号")]
        variables = schemas.to_variables(result.values)
        units = [group for group in user.groups if bureaus.is_unit(group)]
        if "unit" not in variables and len(units) == 1:
            variables["unit"] = units[0][len(bureaus.UNIT_PREFIX):]
        if not errors:
            errors = submission.start_inconsistencies(key, process.start_id, variables)
    files, file_errors = _uploads(process)
    errors = {**file_errors, **errors}
    if errors:  # a browser does not send a chosen file again: say so at each one that was sent
        errors.update({upload.field: [_("表单未通过，请重新选择此文件")] for upload in files})
    typed = {**result.typed, key_field: business_key}
    if errors:
        flash(_("表单有 %(n)s 处需要更正，请查看标红的项目。", n=len(errors)), "error")
        return _render(process, specs, typed, errors, 422)
    try:
        with database().write() as session:
            row = services.start_process(session, key, business_key=business_key, variables=variables,
                                         user=user.name, version=process.version, files=files)
            instance_id = row.id
            mine = [t.id for t in session.scalars(select(UserTask).where(
                UserTask.instance_id == instance_id, UserTask.state == "ready").order_by(UserTask.id))
                if services.may_work_on(t, user.name, user.groups)]
    except MessageUndelivered as exc:  # the process asks another, found by this code, which is not there
        flash(_("表单有 %(n)s 处需要更正，请查看标红的项目。", n=1), "error")
        return _render(process, specs, typed, {key_field: [_(
            "没有以编号“%(code)s”办理中的相关流程可以接收此申请：请填写所属项目的项目编号", code=business_key)]},
            status_of(exc))
    except EngineError as exc:
        flash(_("流程未能发起：%(detail)s", detail=str(exc)), "error")
        return _render(process, specs, typed, {}, status_of(exc))
    flash(_("已发起“%(name)s”，项目编号 %(code)s。", name=process.name, code=business_key), "success")
    if mine:
        return redirect(url_for("tasks.show", task_id=mine[0]))
    return redirect(url_for("projects.show", instance_id=instance_id))


def _uploads(process: Startable) -> tuple[list[services.StartFile], dict]:
    """The files sent for the start form's file fields, inspected as the task page inspects them,
    and the refusals by field: a refused file, a required one not sent."""
    files, errors = [], {}
    for spec in (spec for spec in process.fields if spec.type == "file"):
        sent = request.files.get(spec.id)
        if sent is None or not sent.filename:
            if spec.required:
                errors[spec.id] = [_("请上传此材料")]
            continue
        content = sent.stream.read(documents.MAX_SIZE + 1)
        try:
            files.append(services.StartFile(spec.id, sent.filename, content, documents.inspect(sent.filename, content)))
        except documents.DocumentRefused as exc:
            errors[spec.id] = [_(REFUSALS.get(exc.reason, N_("文件未能上传。")))]
    return files, errors


def init_app(app) -> None:
    app.register_blueprint(bp)
