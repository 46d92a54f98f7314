"""The auditors' pages: an instance's history replayed step by step, proof that it was not altered,
compliance checks across projects, search and export, and a printable audit report.

Only the `auditor` and `admin` roles come in (403 for everyone else); they read every instance
and change none. Their one POST that is not an export is /verify, which re-executes in memory and
writes nothing but the access log. Every page and export they open is written to the access log
(the history chain 'access'), never to the instance's own chain.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Optional

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from engine import audit, clock, compliance, history
from engine.errors import EngineError, InvalidInput
from engine.models import ProcessDefinition, ProcessInstance, User, UserTask
from engine.rendering import render_svg

from . import N_, database, render_error, security
from .auth import bureau_names
from .errors import status_of
from .tasks import EVENT_LABELS, project_context

bp = security.protect(Blueprint("audit", __name__, url_prefix="/audit"))
EXPORT_LIMIT = 50_000
SEARCH_PAGE = 200

LABELS = {**EVENT_LABELS,
          "decision_evaluated": N_("决策表求值"), "call_started": N_("调用子流程"), "signal_received": N_("收到信号"),
          "external_task_completed": N_("外部任务完成"), "external_task_bpmn_error": N_("外部任务业务错误"),
          "document_added": N_("上传材料"), "task_assigned": N_("指派任务"), "task_delegated": N_("委托任务"),
          "task_resolved": N_("委托任务办回")}
STATUS = {"running": N_("办理中"), "waiting": N_("等待中"), "completed": N_("已结束"), "terminated": N_("已终止"),
          "suspended": N_("已暂停"), "incident": N_("异常")}
REASONS = {
    "before_gate": N_("在批复（第 %(gate)s 项事件）之前办理了“%(element)s”"),
    "before_gate_none": N_("办理了“%(element)s”，但没有任何批复"),
    "missing_before": N_("“%(element)s”之前没有所需的“%(required)s”"),
    "missing_after": N_("“%(element)s”之后没有所需的“%(required)s”"),
    "missing": N_("没有“%(element)s”所需的“%(required)s”"),
    "late": N_("“%(element)s”之后办理超过期限（应于 %(due)s 前）"),
    "overdue": N_("自“%(element)s”起已超过期限（%(due)s），仍未办理"),
    "missing_materials": N_("缺少 %(count)s 项材料：%(missing)s"),
    "inconsistent": N_("“%(element)s”：%(message)s"),
}


# --- access ------------------------------------------------------------------------------------

@bp.before_request
def auditors_only():
    """Auditors and administrators only (the login guard of `protect` has run first)."""
    user = g.get("current_user")
    if user is not None and not user.reads_everything:
        abort(403)


@bp.after_request
def log_access(response):
    """Write the read or export to the access log (a diagram embedded as an image is part of its page)."""
    user = g.get("current_user")
    if user is None or not user.reads_everything or response.status_code >= 400:
        return response
    if request.headers.get("Sec-Fetch-Dest") == "image":
        return response
    details = {"path": request.path, "method": request.method, "status": response.status_code,
               "args": {k: v for k, v in request.args.items()}}
    if request.view_args and "instance_id" in request.view_args:
        details["instance_id"] = request.view_args["instance_id"]
    with database().write() as session:
        audit.record_access(session, user.name, request.endpoint or "-", **details)
    return response


def engine_error(exc: EngineError):
    return render_error(status_of(exc), detail=str(exc))


def http_error(exc: HTTPException):
    """The UI's error page for refusals here (the app's handler knows only the officials' blueprints)."""
    return render_error(exc.code or 500, exc.description)


bp.register_error_handler(EngineError, engine_error)
bp.register_error_handler(HTTPException, http_error)


# --- helpers -----------------------------------------------------------------------------------

def _instance(session, instance_id: int) -> ProcessInstance:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        abort(404)
    return instance


def _note(kind: str, value) -> str:
    if kind == "timer":
        return _("到期 %(when)s", when=clock.aware(value).astimezone(clock.local_zone()).strftime("%Y-%m-%d %H:%M"))
    if kind == "signal":
        return _("等待信号 %(name)s", name=value)
    return _("等待消息 %(name)s", name=value)


def _people(session, names) -> dict:
    names = {n for n in names if n}
    if not names:
        return {}
    return {name: display or name for name, display in session.execute(
        select(User.name, User.display_name).where(User.name.in_(names)))}


def _path_arg() -> list[str]:
    raw = (request.args.get("sub") or "").strip("/")
    return [part for part in raw.split("/") if part] if raw else []


def _seq_arg() -> Optional[int]:
    raw = request.args.get("seq")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"seq: '{raw}' is not an event number") from None


def _svg(step: audit.Step) -> str:
    title = None
    if step.path:
        title = f"{step.path_names[-1]} · {step.definition.name or step.definition.key}"
    return render_svg(step.file.content, filename=step.file.name, process_id=step.process_id,
                      highlight=step.highlight, title=title)


def svg_data_uri(svg: str) -> str:
    """The diagram as an image the page carries itself (prints, saves and exports whole)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _project(instance: ProcessInstance, names: dict) -> list[tuple[str, object, str]]:
    return project_context(instance.variables or {}, names)


def _value(value) -> str:
    """A process value as the pages print it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


# --- the history page --------------------------------------------------------------------------

@bp.get("/instances/<int:instance_id>")
def instance_history(instance_id: int):
    with database().read() as session:
        return _history_page(session, instance_id)


@bp.post("/instances/<int:instance_id>/verify")
def verify(instance_id: int):
    """Check the chain and re-execute the instance; nothing but the access log is written."""
    with database().read(snapshot=True) as session:
        _instance(session, instance_id)
        result = audit.verify_instance(session, instance_id)
        return _history_page(session, instance_id, verification=result)


def _history_page(session, instance_id: int, verification: Optional[audit.Verification] = None):
    instance = _instance(session, instance_id)
    if instance.root_instance_id is not None:  # a called process: its history is its root's chain
        return redirect(url_for("audit.instance_history", instance_id=instance.root_instance_id))
    events = history.events_of(session, instance_id)
    entries = audit.timeline(events)
    called = dict(session.execute(select(UserTask.id, UserTask.called_instance_id).where(  # task -> called instance
        UserTask.instance_id == instance_id, UserTask.called_instance_id.is_not(None))).all())
    seq, path = _seq_arg(), _path_arg()
    step = audit.step_at(session, instance_id, seq, path=path, note=_note) if events else None
    kinds = sorted({e.type for e in entries})
    actors = sorted({e.actor for e in entries if e.actor})
    chosen_type, chosen_actor = request.args.get("type") or "", request.args.get("actor") or ""
    shown = [e for e in entries if (not chosen_type or e.type == chosen_type)
             and (not chosen_actor or e.actor == chosen_actor)]
    definition = session.get(ProcessDefinition, instance.definition_id)
    names = audit.element_names(session, definition)
    bureaus = bureau_names(session)
    return render_template(
        "audit/instance.html", instance=instance, definition=definition, entries=shown, total=len(entries),
        step=step, svg=svg_data_uri(_svg(step)) if step else None, names=names, kinds=kinds, actors=actors,
        chosen_type=chosen_type, chosen_actor=chosen_actor, labels=LABELS, status=STATUS,
        people=_people(session, actors), member_of=audit.actor_bureaus(session, actors), bureaus=bureaus,
        project=_project(instance, bureaus), verification=verification, value=_value,
        sub="/".join(path), step_definition=step.definition if step else None, called=called)


@bp.get("/instances/<int:instance_id>/diagram.svg")
def diagram(instance_id: int):
    with database().read() as session:
        _instance(session, instance_id)
        step = audit.step_at(session, instance_id, _seq_arg(), path=_path_arg(), note=_note)
        svg = _svg(step)
    response = Response(svg, mimetype="image/svg+xml")
    # The drawing's own <style> must apply when the file is opened by itself; nothing else may run.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Content-Disposition"] = f'inline; filename="instance-{instance_id}-event-{step.seq}.svg"'
    return response


@bp.get("/instances/<int:instance_id>/diagram.bpmn")
def diagram_xml(instance_id: int):
    """The file of the diagram shown at an event (a called process's, inside one), for bpmn-js."""
    with database().read() as session:
        _instance(session, instance_id)
        step = audit.step_at(session, instance_id, _seq_arg(), path=_path_arg(), note=_note)
        return Response(step.file.content, mimetype="application/xml")


@bp.get("/instances/<int:instance_id>/diagram-state.json")
def diagram_state(instance_id: int):
    """The instance as it was right after an event, re-executed from the history, for bpmn-js."""
    with database().read() as session:
        _instance(session, instance_id)
        step = audit.step_at(session, instance_id, _seq_arg(), path=_path_arg(), note=_note)
        return step.highlight.as_dict()


# --- exports -----------------------------------------------------------------------------------

def _names_of(session):
    cache: dict = {}

    def name(found: audit.Found) -> Optional[str]:
        if found.instance_id not in cache:
            instance = session.get(ProcessInstance, found.instance_id)
            cache[found.instance_id] = audit.element_names(session, session.get(ProcessDefinition,
                                                                                instance.definition_id))
        return cache[found.instance_id].get(found.element_id) if found.element_id else None
    return name


def _export(session, found: list[audit.Found], fmt: str, filename: str, context: dict) -> Response:
    records = audit.export_rows(found, audit.actor_bureaus(session, [f.actor for f in found]), _names_of(session))
    if fmt == "csv":
        body, mimetype = audit.to_csv(records), "text/csv; charset=utf-8"
    else:
        exported = {"exported_at": clock.local_now().isoformat(), "exported_by": g.current_user.name, **context}
        body, mimetype = audit.to_json(records, exported), "application/json; charset=utf-8"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


@bp.route("/instances/<int:instance_id>/events.<any(csv, json):fmt>", methods=["GET", "POST"])
def instance_events(instance_id: int, fmt: str):
    with database().read() as session:
        instance = _instance(session, instance_id)
        found = audit.instance_found(session, instance)
        chain = history.verify_instance_chain(session, instance)
        return _export(session, found, fmt, f"instance-{instance_id}-events",
                       {"instance_id": instance_id, "business_key": instance.business_key,
                        "process": instance.process_key, "chain": str(chain), "chain_ok": chain.ok})


@bp.route("/search.<any(csv, json):fmt>", methods=["GET", "POST"])
def search_export(fmt: str):
    query = audit.parse_query(request.values)
    with database().read() as session:
        found, total = audit.search(session, query, limit=EXPORT_LIMIT)
        return _export(session, found, fmt, "audit-search", {"query": query.as_dict(), "total": total,
                                                             "truncated": total > len(found)})


# --- search ------------------------------------------------------------------------------------

@bp.get("/")
def index():
    return search()


@bp.get("/search")
def search():
    try:
        query = audit.parse_query(request.args)
        problem = None
    except InvalidInput as exc:
        query, problem = audit.AuditQuery(), str(exc)
        flash(_("查询条件有误：%(problem)s", problem=exc), "error")
    with database().read() as session:
        names = bureau_names(session)
        found, total = ([], 0) if query.is_empty else audit.search(session, query, limit=SEARCH_PAGE)
        recent = list(session.scalars(select(ProcessInstance).order_by(ProcessInstance.updated_at.desc(),
                                                                       ProcessInstance.id.desc()).limit(50)))
        actors = [f.actor for f in found]
        return render_template(
            "audit/search.html", query=query, found=found, total=total, recent=recent, bureaus=names,
            kinds=audit.event_types(session), labels=LABELS, status=STATUS, people=_people(session, actors),
            member_of=audit.actor_bureaus(session, actors), names=_names_of(session), value=_value,
            args={k: v for k, v in request.args.items() if v and k != "offset"},
            page_size=SEARCH_PAGE), (400 if problem else 200)


# --- compliance --------------------------------------------------------------------------------

@bp.get("/compliance")
def compliance_page():
    path = current_app.config.get("DALAD_COMPLIANCE_FILE")
    try:
        rules = compliance.load_rules(path)
        problem = None
    except compliance.ComplianceConfigError as exc:
        rules, problem = [], str(exc)
    chosen = request.args.get("rule") or ""
    with database().read() as session:
        results = compliance.check(session, [r for r in rules if not chosen or r.id == chosen])
        actors = {e.get("actor") for r in results for b in r.breaches for e in b.evidence}
        element_names = {}
        for instance_id in {b.instance_id for r in results for b in r.breaches}:
            instance = session.get(ProcessInstance, instance_id)
            element_names[instance_id] = audit.element_names(session, session.get(ProcessDefinition,
                                                                                  instance.definition_id))
        return render_template(
            "audit/compliance.html", results=results, problem=problem, chosen=chosen, all_rules=rules,
            reason=_reason, labels=LABELS, people=_people(session, actors), element_names=element_names,
            when=_local_text, rule_data=compliance.rule_as_dict,
            rules_file=str(path or compliance.rules_file()))


def _reason(breach: compliance.Breach, names) -> str:
    params = breach.params
    element = names.get(params.get("element"), params.get("element"))
    due = _local_text(params["due"]) if params.get("due") else ""
    if breach.reason == "before_gate":
        if params.get("gate_seq") is None:
            return _(REASONS["before_gate_none"], element=element)
        return _(REASONS["before_gate"], element=element, gate=params["gate_seq"])
    if breach.reason in ("missing_before", "missing_after", "missing"):
        required = "、".join(names.get(r, r) for r in params.get("required") or [])
        return _(REASONS[breach.reason], element=element, required=required)
    if breach.reason in ("late", "overdue"):
        return _(REASONS[breach.reason], element=element, due=due)
    if breach.reason == "missing_materials":
        return _(REASONS["missing_materials"], count=len(params["missing"]), missing="、".join(params["missing"]))
    if breach.reason == "inconsistent":
        return _(REASONS["inconsistent"], element=element, message=params["message"])
    return breach.detail


def _local_text(iso) -> str:
    """An ISO time from the history (UTC) as the wall clock in Dalad showed it."""
    moment = iso if isinstance(iso, datetime) else datetime.fromisoformat(str(iso))
    return clock.aware(moment).astimezone(clock.local_zone()).strftime("%Y-%m-%d %H:%M")


# --- the report --------------------------------------------------------------------------------

@bp.get("/instances/<int:instance_id>/report")
def report(instance_id: int):
    """A printable audit report: the project, the path taken, the timeline, the documents with
    their SHA-256 and the verification result (print it, or save it as PDF from the browser)."""
    with database().read(snapshot=True) as session:
        instance = _instance(session, instance_id)
        definition = session.get(ProcessDefinition, instance.definition_id)
        events = history.events_of(session, instance_id)
        step = audit.step_at(session, instance_id, note=_note) if events else None
        verification = audit.verify_instance(session, instance_id)
        entries = audit.timeline(events)
        actors = {e.actor for e in entries if e.actor}
        documents = audit.documents_of(session, instance_id)
        names = audit.element_names(session, definition)
        bureaus = bureau_names(session)
        return render_template(
            "audit/report.html", instance=instance, definition=definition, step=step,
            svg=svg_data_uri(_svg(step)) if step else None, verification=verification, entries=entries,
            documents=documents, names=names, labels=LABELS, status=STATUS,
            people=_people(session, actors | {d.uploaded_by for d in documents}),
            member_of=audit.actor_bureaus(session, actors), bureaus=bureaus, project=_project(instance, bureaus),
            value=_value, generated_at=clock.local_now(), generated_by=g.current_user)


def init_app(app) -> None:
    app.config.setdefault("DALAD_COMPLIANCE_FILE", None)
    app.jinja_env.filters.setdefault("isotime", _local_text)
    app.register_blueprint(bp)
