"""Administration pages (the admin role only): deployments, definitions and their versions,
diagrams and diffs, uploads with a dry run, instances (suspend / resume / terminate), incidents
(retry, after mending variables) and the migration of instances between versions.

Every change goes through the engine's services, which record it in the instance's history (or
the system chain, for deployments) with the administrator's name.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from flask import (Blueprint, Response, abort, flash, g, redirect, render_template, request, send_file,
                   url_for)
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from engine import anchors, clock, definitions, history, migration, services
from engine.diff import diff_versions
from engine.errors import DefinitionInvalid, EngineError, InvalidInput
from engine.models import (DecisionDefinition, Deployment, ExternalTask, FormDefinition, Incident,
                           ProcessDefinition, ProcessInstance, Resource, Timer, UserTask, row_id)
from engine.rendering import Highlight, render_svg

from . import N_, database, render_error, security
from .errors import status_of

bp = security.protect(Blueprint("admin", __name__, url_prefix="/admin"))
PER_PAGE = 50
MAX_CHECKED = 500  # instances checked at once by the migration wizard
MAX_REASON = 500
STATUSES = {"running": N_("办理中"), "waiting": N_("等待中"), "suspended": N_("已暂停"), "incident": N_("异常"),
            "completed": N_("已完成"), "terminated": N_("已终止")}
ACTIVE_STATUSES = ("running", "waiting", "suspended", "incident")
REASONS = {
    "missing": N_("活动节点“%(element)s”在目标版本中不存在：请为它选择目标版本中的节点。"),
    "kind": N_("节点“%(element)s”不能对应到“%(target)s”：两者类型不同（%(detail)s）。"),
    "mapping": N_("对应关系 %(element)s → %(target)s 无效：%(detail)s。"),
    "structure": N_("活动节点“%(element)s”在目标版本中的前后结构不同，迁移后无法继续（%(detail)s）。"),
    "join": N_("并行汇聚“%(element)s”正在等待的分支在目标版本中连接方式不同（%(detail)s）。"),
    "status": N_("实例状态为“%(detail)s”，不能迁移。"),
    "version": N_("实例已在目标版本 %(detail)s 上运行。"),
    "process": N_("目标版本属于另一个流程（%(detail)s）。"),
    "broken": N_("按目标版本重建的状态无法加载：%(detail)s"),
    "dropped": N_("已完成的节点“%(element)s”在目标版本中已删除，只保留在历史记录中。"),
    "timer": N_("等待中的定时器“%(element)s”保留原到期时间 %(detail)s（目标版本已修改该定时器）。"),
}


@bp.before_request
def admins_only():
    """Administrators only: auditors read instances on their own pages."""
    user = g.get("current_user")
    if user is not None and not user.is_admin:
        abort(403)


@bp.errorhandler(EngineError)
def engine_error(exc: EngineError):
    return render_error(status_of(exc), detail=str(exc))


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return render_error(exc.code or 500, exc.description)


@bp.get("/")
def index():
    return redirect(url_for("admin.deployments"))


# --- deployments -------------------------------------------------------------------------------

@bp.get("/deployments")
def deployments():
    page = _page()
    with database().read() as session:
        total = session.scalar(select(func.count(Deployment.id)))
        rows = list(session.scalars(select(Deployment).order_by(Deployment.id.desc())
                                    .limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
        files = _files_of(session, [d.id for d in rows])
        created = _definitions_of(session, [d.id for d in rows])
        last_anchor = anchors.last_taken(session)
    if last_anchor:
        last_anchor = clock.aware(datetime.fromisoformat(last_anchor)).astimezone(clock.local_zone()).strftime(
            "%Y-%m-%d %H:%M")
    return render_template("admin/deployments.html", deployments=rows, files=files, created=created,
                           page=page, pages=max(1, -(-total // PER_PAGE)), total=total, last_anchor=last_anchor)


def _files_of(session: Session, deployment_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list] = {i: [] for i in deployment_ids}
    for rid, did, name in session.execute(select(Resource.id, Resource.deployment_id, Resource.name)
                                          .where(Resource.deployment_id.in_(deployment_ids)).order_by(Resource.id)):
        found[did].append((rid, name))
    return found


def _definitions_of(session: Session, deployment_ids: list[int]) -> dict[int, list[tuple[str, str, int]]]:
    """What each deployment created: (kind, key, version)."""
    found: dict[int, list] = {i: [] for i in deployment_ids}
    for kind, model in (("process", ProcessDefinition), ("decision", DecisionDefinition), ("form", FormDefinition)):
        for did, key, version in session.execute(select(model.deployment_id, model.key, model.version)
                                                 .where(model.deployment_id.in_(deployment_ids))
                                                 .order_by(model.key)):
            found[did].append((kind, key, version))
    return found


@bp.get("/deployments/<int:deployment_id>")
def deployment(deployment_id: int):
    with database().read() as session:
        found = session.get(Deployment, deployment_id)
        if found is None:
            abort(404)
        files = [(r.id, r.name, len(r.content), r.sha256) for r in found.resources]
        created = _definitions_of(session, [deployment_id])[deployment_id]
    return render_template("admin/deployment.html", deployment=found, files=files, created=created)


@bp.get("/deployments/<int:deployment_id>/files/<int:resource_id>")
def deployment_file(deployment_id: int, resource_id: int):
    """A deployed file, byte for byte, as an attachment."""
    with database().read() as session:
        resource = session.get(Resource, resource_id)
        if resource is None or resource.deployment_id != deployment_id:
            abort(404)
        content, name = resource.content, resource.name
    return send_file(io.BytesIO(content), mimetype="application/octet-stream", as_attachment=True,
                     download_name=name, max_age=0)


@dataclass
class Preview:
    """What a bundle would deploy: each item and whether it makes a new version."""

    kind: str
    key: str
    file: str
    version: int
    new: bool


@bp.route("/deployments/new", methods=["GET", "POST"])
def upload():
    """Upload a bundle: "只校验" checks it and stores nothing; "部署" deploys it."""
    if request.method == "GET":
        return render_template("admin/upload.html", name="", problems=None, preview=None)
    name = (request.form.get("name") or "").strip()[:200]
    files = _uploaded_files()
    if not files:
        flash(_("请选择要部署的文件（.bpmn、.dmn 或 .form）。"), "error")
        return render_template("admin/upload.html", name=name, problems=None, preview=None), 400
    name = name or ", ".join(f.name for f in files)[:200]
    if request.form.get("action") == "validate":
        with database().read() as session:
            try:
                preview, warnings = _dry_run(session, files)
            except DefinitionInvalid as exc:
                return render_template("admin/upload.html", name=name, problems=exc.problems, preview=None,
                                       checked=[f.name for f in files]), 400
        flash(_("校验通过：未发现问题。尚未部署。"), "success")
        return render_template("admin/upload.html", name=name, problems=[], preview=preview, warnings=warnings,
                               checked=[f.name for f in files])
    try:
        with database().write() as session:
            result = services.deploy(session, files, name=name, source="web", user=g.current_user.name)
            deployment_id = result.deployment.id
            made = [f"{i.key} v{i.version}" for i in result.items if i.new]
    except DefinitionInvalid as exc:
        return render_template("admin/upload.html", name=name, problems=exc.problems, preview=None,
                               checked=[f.name for f in files]), 400
    flash(_("部署成功：%(items)s", items="、".join(made) or _("内容未变化，没有产生新版本")), "success")
    return redirect(url_for("admin.deployment", deployment_id=deployment_id))


def _uploaded_files() -> list[definitions.BundleFile]:
    found = []
    for upload in request.files.getlist("files"):
        name = os.path.basename((upload.filename or "").replace("\\", "/")).strip()
        if name:
            found.append(definitions.BundleFile(name, upload.read()))
    return found


def _dry_run(session: Session, files: list[definitions.BundleFile]) -> tuple[list[Preview], list]:
    """Parse and check a bundle as a deployment would, against what is deployed; store nothing."""
    def latest(model, key):
        return session.scalars(select(model).where(model.key == key).order_by(model.version.desc()).limit(1)).first()

    bundle = definitions.prepare_bundle(session, files)
    preview = []
    items = ([("process", p.key, p.file) for p in bundle.processes]
             + [("decision", key, f) for key, _name, f in bundle.decisions]
             + [("form", key, f) for key, _schema, f in bundle.forms])
    models = {"process": ProcessDefinition, "decision": DecisionDefinition, "form": FormDefinition}
    for kind, key, f in items:
        current = latest(models[kind], key)
        if current is not None and current.content_hash == f.sha256:
            preview.append(Preview(kind, key, f.name, current.version, False))
        else:
            preview.append(Preview(kind, key, f.name, (current.version + 1) if current else 1, True))
    return preview, bundle.warnings


# --- definitions -------------------------------------------------------------------------------

@bp.get("/definitions")
def definitions_index():
    with database().read() as session:
        rows = list(session.execute(select(ProcessDefinition.key, func.max(ProcessDefinition.version),
                                           func.count(ProcessDefinition.id))
                                    .group_by(ProcessDefinition.key).order_by(ProcessDefinition.key)))
        names = {key: name for key, name in session.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                                                            .order_by(ProcessDefinition.version))}
        counts = _status_counts(session, select(ProcessInstance.process_key, ProcessInstance.status,
                                                func.count()).group_by(ProcessInstance.process_key,
                                                                       ProcessInstance.status))
    return render_template("admin/definitions.html", rows=rows, names=names, counts=counts)


def _status_counts(session: Session, query) -> dict:
    counts: dict = {}
    for owner, status, n in session.execute(query):
        entry = counts.setdefault(owner, {"active": 0, "total": 0})
        entry[status] = n
        entry["total"] += n
        if status in ACTIVE_STATUSES:
            entry["active"] += n
    return counts


def _versions(session: Session, key: str) -> list[ProcessDefinition]:
    found = list(session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                                 .order_by(ProcessDefinition.version)))
    if not found:
        abort(404)
    return found


def _version_of(versions: list[ProcessDefinition], number) -> Optional[ProcessDefinition]:
    try:
        number = int(number)
    except (TypeError, ValueError):
        return None
    return next((d for d in versions if d.version == number), None)


@bp.get("/definitions/<key>")
def definition(key: str):
    with database().read() as session:
        versions = _versions(session, key)
        shown = _version_of(versions, request.args.get("version")) or versions[-1]
        deployments_by_id = {d.id: d for d in session.scalars(select(Deployment).where(
            Deployment.id.in_([v.deployment_id for v in versions])))}
        counts = _status_counts(session, select(ProcessInstance.definition_id, ProcessInstance.status, func.count())
                                .where(ProcessInstance.process_key == key)
                                .group_by(ProcessInstance.definition_id, ProcessInstance.status))
        return render_template("admin/definition.html", key=key, versions=versions, shown=shown,
                               deployments=deployments_by_id, counts=counts, statuses=STATUSES)


@bp.get("/definitions/<key>/<int:version>/diagram.svg")
def definition_diagram(key: str, version: int):
    """The diagram of one version; `?diff=<version>` marks what changed from that version."""
    with database().read() as session:
        versions = _versions(session, key)
        shown = _version_of(versions, version) or abort(404)
        other = _version_of(versions, request.args.get("diff"))
        highlight = None
        if other is not None:
            changes = diff_versions(other.resource.content, shown.resource.content, key,
                                    before_name=other.resource.name, after_name=shown.resource.name)
            only_here = {e.id for e in changes.added}  # in this version, not in the other
            newer = shown.version > other.version  # new here (blue), or gone in the newer one (red)
            highlight = Highlight(active=only_here if newer else set(), failed=set() if newer else only_here,
                                  waiting={c.id: _("已修改") for c in changes.changed})
        svg = render_svg(shown.resource.content, filename=shown.resource.name, process_id=key,
                         highlight=highlight)
    return _svg_response(svg)


def _svg_response(svg: str) -> Response:
    response = Response(svg, mimetype="image/svg+xml")
    # The drawing styles itself with one <style> block; it runs no script and loads nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/definitions/<key>/diff")
def diff(key: str):
    with database().read() as session:
        versions = _versions(session, key)
        after = _version_of(versions, request.args.get("to")) or versions[-1]
        before = _version_of(versions, request.args.get("from")) or \
            next((v for v in reversed(versions) if v.version < after.version), versions[0])
        changes = diff_versions(before.resource.content, after.resource.content, key,
                                before_name=before.resource.name, after_name=after.resource.name)
    return render_template("admin/diff.html", key=key, versions=versions, before=before, after=after,
                           changes=changes)


# --- migration ---------------------------------------------------------------------------------

@bp.get("/definitions/<key>/migrate")
def migrate_form(key: str):
    """The wizard: choose the versions, see per instance whether it can move, map what cannot."""
    with database().read() as session:
        versions = _versions(session, key)
        source = _version_of(versions, request.args.get("from"))
        target = _version_of(versions, request.args.get("to"))
        mapping = _mapping_from(request.args)
        checks, choices, capped = [], {}, False
        if source is not None and target is not None and source.id != target.id:
            ids = list(session.scalars(select(ProcessInstance.id).where(  # called ones move with their root
                ProcessInstance.definition_id == source.id, ProcessInstance.status.in_(ACTIVE_STATUSES),
                ProcessInstance.super_instance_id.is_(None))
                .order_by(ProcessInstance.id).limit(MAX_CHECKED + 1)))
            capped, ids = len(ids) > MAX_CHECKED, ids[:MAX_CHECKED]
            checks = migration.plan_migration(session, ids, target.id, mapping)
            kinds = {a.element_id: a.kind for c in checks for a in c.active}
            for element in sorted({e for c in checks for e in c.unmapped} | set(mapping)):
                if element in kinds:
                    choices[element] = migration.mapping_choices(session, target.id, kinds[element])
    return render_template("admin/migrate.html", key=key, versions=versions, source=source, target=target,
                           checks=checks, choices=choices, mapping=mapping, capped=capped, limit=MAX_CHECKED,
                           movable=sum(1 for c in checks if c.can_move), statuses=STATUSES)


def _mapping_from(values) -> dict:
    """The administrator's mapping from form fields `map-<old element id>` = new element id."""
    return {name[4:]: value.strip() for name, value in values.items()
            if name.startswith("map-") and len(name) > 4 and value.strip()}


@bp.post("/definitions/<key>/migrate")
def migrate_run(key: str):
    with database().read() as session:
        versions = _versions(session, key)
        source = _version_of(versions, request.form.get("from")) or abort(400)
        target = _version_of(versions, request.form.get("to")) or abort(400)
    ids = sorted({number for number in map(row_id, request.form.getlist("instance")) if number is not None})
    mapping = _mapping_from(request.form)
    back = url_for("admin.migrate_form", key=key, **{"from": source.version, "to": target.version},
                   **{f"map-{k}": v for k, v in mapping.items()})
    if not ids:
        flash(_("请至少选择一个实例。"), "error")
        return redirect(back)
    outcomes = migration.migrate_each(database(), ids, target.id, mapping, user=g.current_user.name)
    moved = [o.instance_id for o in outcomes if o.migrated]
    if moved:
        flash(_("已将 %(n)s 个实例迁移到 v%(version)s。", n=len(moved), version=target.version), "success")
    for outcome in outcomes:
        if not outcome.migrated:
            why = "；".join(reason_text(r) for r in outcome.reasons) or outcome.error
            flash(_("实例 %(id)s 未迁移：%(error)s", id=outcome.instance_id, error=why), "error")
    return redirect(back)


def reason_text(reason: migration.Reason) -> str:
    """A check's reason in the UI language."""
    detail = reason.detail
    if reason.kind == "timer" and detail:
        try:
            detail = _local(datetime.fromisoformat(detail))
        except ValueError:
            pass
    elif reason.kind == "status":
        detail = _(STATUSES.get(detail, detail))
    template = REASONS.get(reason.kind)
    if template is None:
        return str(reason)
    return _(template, element=reason.element_id or "", target=reason.target or "", detail=detail or "")


def _local(moment: datetime) -> str:
    return clock.aware(moment).astimezone(clock.local_zone()).strftime("%Y-%m-%d %H:%M")


# --- instances ---------------------------------------------------------------------------------

@dataclass
class InstanceFilter:
    process: Optional[str] = None
    version: Optional[int] = None
    status: Optional[str] = None
    business_key: Optional[str] = None


@bp.get("/instances")
def instances_index():
    filters = InstanceFilter(
        process=(request.args.get("process") or "").strip() or None,
        version=_int(request.args.get("version")),
        status=request.args.get("status") if request.args.get("status") in STATUSES else None,
        business_key=(request.args.get("business_key") or "").strip()[:200] or None)
    page = _page()
    query = select(ProcessInstance, ProcessDefinition.version).join(
        ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
    if filters.process:
        query = query.where(ProcessInstance.process_key == filters.process)
    if filters.version:
        query = query.where(ProcessDefinition.version == filters.version)
    if filters.status:
        query = query.where(ProcessInstance.status == filters.status)
    if filters.business_key:
        query = query.where(ProcessInstance.business_key.contains(filters.business_key, autoescape=True))
    with database().read() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = list(session.execute(query.order_by(ProcessInstance.id.desc())
                                    .limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
        processes = list(session.scalars(select(ProcessDefinition.key).distinct().order_by(ProcessDefinition.key)))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("admin/instances.html", rows=rows, filters=filters, processes=processes,
                           statuses=STATUSES, page=page, pages=max(1, -(-total // PER_PAGE)), total=total,
                           query_args=args)


def _instance(session: Session, instance_id: int) -> ProcessInstance:
    row = session.get(ProcessInstance, instance_id)
    if row is None:
        abort(404)
    return row


@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    with database().read() as session:
        row = _instance(session, instance_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        tasks = list(session.scalars(select(UserTask).where(  # a called instance's tasks are in its root's state
            (UserTask.called_instance_id if row.root_instance_id else UserTask.instance_id) == row.id,
            UserTask.state == "ready").order_by(UserTask.id)))
        timers = list(session.scalars(select(Timer).where(Timer.instance_id == row.id, Timer.state == "waiting")
                                      .order_by(Timer.due_at)))
        incidents = list(session.scalars(select(Incident).where(Incident.at_instance_id == row.id)
                                         .order_by(Incident.id.desc())))
        events = history.events_of(session, row.id)[-100:]
        for event in events:
            event["at"] = datetime.fromisoformat(event["at"])
        versions = list(session.scalars(select(ProcessDefinition.version).where(
            ProcessDefinition.key == row.process_key).order_by(ProcessDefinition.version)))
    return render_template("admin/instance.html", row=row, definition=definition, tasks=tasks, timers=timers,
                           incidents=incidents, events=list(reversed(events)), statuses=STATUSES,
                           versions=versions)


@bp.get("/instances/<int:instance_id>/diagram.svg")
def instance_diagram(instance_id: int):
    """The instance's diagram: steps done, where it stands, what failed."""
    with database().read() as session:
        row = _instance(session, instance_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        events = history.events_of(session, row.id)
        failed = set(session.scalars(select(Incident.element_id).where(
            Incident.at_instance_id == row.id, Incident.resolved_at.is_(None), Incident.element_id.is_not(None))))
        waiting = {}
        for kind, _uuid, element, what in row.waits or []:
            waiting[element] = _local(datetime.fromisoformat(what)) if kind == "timer" else str(what)
        highlight = Highlight(
            completed={e["element_id"] for e in events if e["type"] == "task_completed" and e["element_id"]},
            active={element for _task, element in (row.open_tasks or {}).values()} | set(waiting),
            waiting=waiting, failed=failed)
        svg = render_svg(definition.resource.content, filename=definition.resource.name,
                         process_id=definition.key, highlight=highlight)
    return _svg_response(svg)


def _reason() -> str:
    return (request.form.get("reason") or "").strip()[:MAX_REASON]


@bp.post("/instances/<int:instance_id>/<any(suspend, resume, terminate):action>")
def instance_action(instance_id: int, action: str):
    """Suspend, resume or terminate an instance, with the administrator's reason."""
    reason = _reason()
    if not reason:
        flash(_("请填写原因。"), "error")
        return redirect(url_for("admin.instance", instance_id=instance_id))
    service = {"suspend": services.suspend, "resume": services.resume, "terminate": services.terminate}[action]
    try:
        with database().write() as session:
            _instance(session, instance_id)
            service(session, instance_id, user=g.current_user.name, reason=reason)
    except EngineError as exc:
        flash(_("操作未完成：%(error)s", error=str(exc)), "error")
        return redirect(url_for("admin.instance", instance_id=instance_id))
    done = {"suspend": _("实例已暂停。"), "resume": _("实例已恢复。"), "terminate": _("实例已终止。")}[action]
    flash(done, "success")
    return redirect(url_for("admin.instance", instance_id=instance_id))


@bp.post("/tasks/<int:task_id>/reassign")
def reassign(task_id: int):
    """Hand a ready task to a user (or back to its candidates), with the administrator's reason."""
    reason, to_user = _reason(), (request.form.get("to_user") or "").strip() or None
    user = g.current_user
    with database().read() as session:
        task = session.get(UserTask, task_id)
        if task is None:
            abort(404)
        instance_id = task.instance_id
    if not reason:
        flash(_("请填写原因。"), "error")
        return redirect(url_for("admin.instance", instance_id=instance_id))
    try:
        with database().write() as session:
            services.reassign_task(session, task_id, actor=user.name, to_user=to_user, reason=reason,
                                   groups=user.groups, roles=user.roles)
    except EngineError as exc:
        flash(_("操作未完成：%(error)s", error=str(exc)), "error")
    else:
        flash(_("任务已转交给 %(user)s。", user=to_user) if to_user else _("任务已退回候选人。"), "success")
    return redirect(url_for("admin.instance", instance_id=instance_id))


# --- incidents ---------------------------------------------------------------------------------

@bp.get("/incidents")
def incidents():
    return _render_incidents()


def _render_incidents(errors: Optional[dict] = None, values: Optional[dict] = None, status: int = 200):
    show_all = request.args.get("all") == "1"
    with database().read() as session:
        query = select(Incident, ProcessInstance.business_key, ProcessInstance.process_key).join(  # root causes
            ProcessInstance, ProcessInstance.id == Incident.at_instance_id).where(Incident.cause_id.is_(None)) \
            .order_by(Incident.id.desc())
        if not show_all:
            query = query.where(Incident.resolved_at.is_(None))
        rows = list(session.execute(query.limit(500)))
        by_hand = list(session.scalars(select(ExternalTask).where(
            ExternalTask.state == "open", or_(ExternalTask.topic.like("java:%"), ExternalTask.topic.like("script:%")))
            .order_by(ExternalTask.id).limit(500)))
    return render_template("admin/incidents.html", rows=rows, show_all=show_all, errors=errors or {},
                           values=values or {}, by_hand=by_hand), status


def _variables_form(key) -> tuple[Optional[dict], Optional[tuple]]:
    """The variables typed as a JSON object (optional); else the page again with the error at `key`."""
    text = (request.form.get("variables") or "").strip()
    if not text:
        return {}, None
    try:
        variables = json.loads(text)
    except json.JSONDecodeError as exc:
        message = _("流程数据不是有效的 JSON：第 %(line)s 行第 %(column)s 列：%(error)s",
                    line=exc.lineno, column=exc.colno, error=exc.msg)
        return None, _render_incidents({key: message}, {key: text}, 400)
    if not isinstance(variables, dict):
        return None, _render_incidents({key: _("流程数据须为 JSON 对象，例如 {\"score\": 12}。")}, {key: text}, 400)
    return variables, None


@bp.post("/external-tasks/<int:task_id>/complete")
def complete_external(task_id: int):
    """Do by hand what a Java delegate or a JavaScript/Groovy script would have done."""
    variables, refused = _variables_form(f"x{task_id}")
    if refused is not None:
        return refused
    try:
        with database().write() as session:
            services.complete_external_task_as_admin(session, task_id, user=g.current_user.name, variables=variables,
                                                     reason=_reason())
    except InvalidInput as exc:
        return _render_incidents({f"x{task_id}": str(exc)}, {f"x{task_id}": request.form.get("variables")}, 400)
    except EngineError as exc:
        flash(_("操作未完成：%(error)s", error=str(exc)), "error")
        return redirect(url_for("admin.incidents"))
    flash(_("已代为完成外部任务，流程继续运行。"), "success")
    return redirect(url_for("admin.incidents"))


@bp.post("/incidents/<int:incident_id>/retry")
def retry(incident_id: int):
    """Retry the failed work, after setting the variables given as a JSON object (optional)."""
    variables, refused = _variables_form(incident_id)
    if refused is not None:
        return refused
    text = (request.form.get("variables") or "").strip()
    user = g.current_user.name
    try:
        with database().write() as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                abort(404)
            if variables:
                services.set_variables(session, incident.instance_id, variables, user=user)
            row = services.retry_incident(session, incident_id, user=user)
            failed_again = row.status == "incident"
    except InvalidInput as exc:
        return _render_incidents({incident_id: str(exc)}, {incident_id: text}, 400)
    except EngineError as exc:
        flash(_("重试未完成：%(error)s", error=str(exc)), "error")
        return redirect(url_for("admin.incidents"))
    if failed_again:
        flash(_("重试后仍然失败，已记录新的异常。"), "error")
    else:
        flash(_("已重试，流程继续运行。"), "success")
    return redirect(url_for("admin.incidents"))


# --- helpers -----------------------------------------------------------------------------------

def _int(value) -> Optional[int]:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 1_000_000 else None


def _page() -> int:
    return _int(request.args.get("page")) or 1


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["migration_reason"] = reason_text
