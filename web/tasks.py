"""The task page: project context, the path so far, the form, drafts, comments and documents.

Who may do what:
- see a task: its candidates (bureaus or users), its assignee or completer, the office (it
  schedules every bureau's work), auditors and administrators;
- act on it (claim, save a draft, comment, upload, complete): only whom the engine lets work on
  it (`services.may_work_on`): the assignee once claimed, else a candidate. The auditor and
  admin roles add reading, never acting.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, select

from engine import bureaus, clock, documents, history, instances, projects, services
from engine.errors import EngineError, NotFound
from engine.models import ProcessDefinition, ProcessInstance, TaskComment, TaskDraft, User, UserTask
from forms import schemas, submission
from forms.fields import FieldSpec, fields_for_task, materials_of

from . import N_, database, render_error, security
from .auth import CurrentUser, bureau_names
from .errors import status_of

bp = security.protect(Blueprint("tasks", __name__))
MAX_COMMENT = 2000

# Variables that describe the project, shown in the task header when the instance has them.
PROJECT_FIELDS = (
    ("project_name", N_("项目名称")),
    ("unit", N_("建设单位")),
    ("stage", N_("所处阶段")),
    ("category", N_("项目类别")),
    ("estimated_budget", N_("投资估算")),
    ("approved_budget", N_("批复概算")),
    ("spend", N_("已支出")),
    ("plan_basis", N_("规划依据")),
)
MONEY_FIELDS = {"estimated_budget", "approved_budget", "spend"}
STAGES = {"proposal": N_("项目建议书"), "feasibility": N_("可行性研究报告"), "design": N_("初步设计方案和投资概算"),
          "construction": N_("建设实施"), "acceptance": N_("验收"), "post_evaluation": N_("后评价")}
EVENT_LABELS = {
    "instance_started": N_("发起流程"), "task_created": N_("生成待办"), "task_claimed": N_("签收任务"),
    "task_unclaimed": N_("取消签收"), "task_completed": N_("办结任务"), "task_cancelled": N_("任务取消"),
    "comment_added": N_("发表意见"), "timer_fired": N_("到期提醒触发"), "message_correlated": N_("收到消息"),
    "status_changed": N_("状态变更"), "variables_changed": N_("修改流程数据"), "incident": N_("发生异常"),
    "instance_completed": N_("流程结束"), "migrated": N_("迁移流程版本"),
}
REFUSALS = {
    "empty": N_("文件为空，请重新选择。"),
    "too_large": N_("文件超过 20 MB，无法上传。"),
    "type_not_allowed": N_("不支持该文件类型。允许的类型：PDF、DOCX、XLSX、PNG、JPG、ZIP、OFD。"),
    "content_mismatch": N_("文件内容与扩展名不符，已拒绝上传。"),
    "archive_too_large": N_("压缩文件包含的文件过多或解压后过大，已拒绝上传。"),
    "task_quota": N_("本任务的附件总量已超过 100 MB，无法继续上传。"),
    "instance_quota": N_("本项目的附件总量已超过 500 MB，无法继续上传。"),
}


# --- access ------------------------------------------------------------------------------------

def may_see(task: UserTask, user: CurrentUser) -> bool:
    if user.sees_all_tasks or user.name in (task.assignee, task.completed_by):
        return True
    return user.name in (task.candidate_users or []) or bool(set(user.groups) & set(task.candidate_groups or []))


def may_act(task: UserTask, user: CurrentUser) -> bool:
    return task.state == "ready" and services.may_work_on(task, user.name, user.groups)


def _visible_task(session, task_id: int) -> UserTask:
    task = session.get(UserTask, task_id)
    if task is None:
        abort(404)
    if not may_see(task, g.current_user):
        abort(403)
    return task


def _workable_task(session, task_id: int) -> UserTask:
    """The task, when the current user may change it: 403 for the others, 409 when it is closed.

    Its instance is locked first and both are read as the last change left them."""
    try:
        task, row = services.lock_task(session, task_id)
    except NotFound:
        abort(404)
    if not may_see(task, g.current_user):
        abort(403)
    services.check_ready(task, row)
    if not may_act(task, g.current_user):
        abort(403)
    return task


# --- the page ----------------------------------------------------------------------------------

@dataclass
class FormState:
    """What the form shows: the text of each field and the messages next to it."""

    values: dict
    errors: dict
    draft_at: Optional[object] = None


@bp.get("/tasks/<int:task_id>")
def show(task_id: int):
    with database().read() as session:
        task = _visible_task(session, task_id)
        return _render(session, task)


def _render(session, task: UserTask, form: Optional[FormState] = None, status: int = 200):
    user = g.current_user
    instance = session.get(ProcessInstance, task.instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id)
    specs = fields_for_task(session, definition.meta, task.element_id)
    if form is None:
        form = _initial_form(session, task, specs, instance.variables or {}, user)
    materials = materials_of(specs)
    present = documents.fields_present(session, task.id)
    docs = documents.of_instance(session, instance.id)
    comments = list(session.scalars(select(TaskComment).where(TaskComment.instance_id == instance.id)
                                    .order_by(TaskComment.created_at, TaskComment.id)))
    events = _path(session, instance, definition)
    names = bureau_names(session)
    people = _display_names(session, {e["actor"] for e in events} | {c.user_name for c in comments}
                            | {d.uploaded_by for d in docs} | {task.assignee, task.completed_by})
    return render_template(
        "task.html", task=task, instance=instance, definition=definition, specs=specs, form=form,
        materials=[(m, m.key in present) for m in materials], upload_choices=_upload_choices(specs),
        material_labels=dict(_upload_choices(specs)), uploaded=_latest_uploads(docs, task.id),
        documents=docs, comments=comments, events=events, bureaus=names, people=people,
        project=_project_context(instance, names), findings=_plan_findings(session, instance),
        may_act=may_act(task, user),
        may_claim=task.state == "ready" and not task.assignee and may_act(task, user),
        may_unclaim=task.state == "ready" and task.assignee == user.name), status


def _plan_findings(session, instance: ProcessInstance) -> list:
    """On the annual plan's tasks: the decisions against its departments it must weigh (Art 24, 27)."""
    if instance.process_key != "annual_plan":
        return []
    variables = instance.variables or {}
    return projects.plan_findings(session, str(variables.get("department_codes") or "").split(","),
                                  variables.get("plan_year"))


def _initial_form(session, task, specs, variables, user) -> FormState:
    draft = session.scalars(select(TaskDraft).where(TaskDraft.task_id == task.id,
                                                    TaskDraft.user_name == user.name)).first()
    values = {}
    for spec in specs:
        if draft is not None and spec.id in draft.data and not spec.readonly:
            values[spec.id] = draft.data[spec.id]
        elif spec.id in variables:
            values[spec.id] = schemas.as_text(spec, variables[spec.id])
        else:
            values[spec.id] = schemas.as_text(spec, spec.default)
    return FormState(values, {}, draft.updated_at if draft else None)


def _project_context(instance: ProcessInstance, names: dict) -> list[tuple[str, str, str]]:
    """(label, value, kind) of what the instance's variables tell about the project."""
    variables = instance.variables or {}
    rows = []
    for key, label in PROJECT_FIELDS:
        value = variables.get(key)
        if value in (None, ""):
            continue
        kind = "money" if key in MONEY_FIELDS else "text"
        if key == "unit":
            value = names.get(f"{bureaus.UNIT_PREFIX}{value}", str(value))
        elif key == "stage":
            value = _(STAGES[value]) if value in STAGES else str(value)
        rows.append((_(label), value, kind))
    return rows


def _path(session, instance: ProcessInstance, definition: ProcessDefinition) -> list[dict]:
    """The instance's history as the page lists it: who did what, when, at which step."""
    steps = (definition.meta or {}).get("user_tasks") or {}
    out = []
    for event in history.events_of(session, instance.id):
        label = EVENT_LABELS.get(event["type"])
        if label is None:
            continue
        element = event.get("element_id")
        out.append({**event, "label": _(label),
                    "step": ((steps.get(element) or {}).get("name") or element) if element in steps else None,
                    "when": clock.aware(_parse(event["at"])).astimezone(clock.local_zone())})
    return out


def _parse(text: str):
    from datetime import datetime
    return datetime.fromisoformat(text)


def _display_names(session, names: set) -> dict:
    names = {n for n in names if n}
    if not names:
        return {}
    return {name: display or name for name, display in session.execute(
        select(User.name, User.display_name).where(User.name.in_(names)))}


def _latest_uploads(docs, task_id: int) -> dict:
    """The newest document of each material key uploaded at this task (`docs` is newest first)."""
    latest = {}
    for doc in docs:
        if doc.task_id == task_id and doc.field and doc.field not in latest:
            latest[doc.field] = doc
    return latest


def _upload_choices(specs: list[FieldSpec]) -> list[tuple[str, str]]:
    choices = [(spec.id, spec.label) for spec in specs if spec.type == "file"]
    choices += [(m.key, m.label) for m in materials_of(specs) if m.key not in dict(choices)]
    return choices


# --- actions -----------------------------------------------------------------------------------

@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int):
    user = g.current_user
    with database().write() as session:
        _visible_task(session, task_id)
        services.claim(session, task_id, user=user.name, groups=user.groups)
    flash(_("已签收，任务由您办理。"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim(task_id: int):
    user = g.current_user
    with database().write() as session:
        task = _workable_task(session, task_id)
        if task.assignee != user.name:
            abort(403)
        services.unclaim(session, task_id, user=user.name)
    flash(_("已取消签收，任务退回部门待办。"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int):
    user = g.current_user
    with database().write() as session:
        task = _workable_task(session, task_id)
        submitted = submission.check(session, task, request.form, typed_values=False)
        if not submitted.ok:
            if submitted.errors:
                flash(_("表单有 %(n)s 处需要更正，请查看标红的项目。", n=len(submitted.errors)), "error")
            if submitted.missing:
                flash(_("还缺少必需材料：%(items)s。请先上传后再提交。", items="、".join(submitted.missing)), "error")
            instance = session.get(ProcessInstance, task.instance_id)
            return _render(session, task, FormState({**_shown(submitted.specs, instance), **submitted.typed},
                                                    submitted.errors), 422)
        services.complete_task(session, task_id, user=user.name, data=submitted.variables, groups=user.groups)
        session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id))
    flash(_("任务“%(name)s”已办结。", name=task.name or task.element_id), "success")
    return redirect(url_for("inbox.index"))


def _shown(specs, instance) -> dict:
    variables = instance.variables or {}
    return {s.id: schemas.as_text(s, variables.get(s.id, s.default)) for s in specs}


@bp.post("/tasks/<int:task_id>/draft")
def save_draft(task_id: int):
    user = g.current_user
    with database().write() as session:
        task = _workable_task(session, task_id)
        definition = session.get(ProcessDefinition, session.get(ProcessInstance, task.instance_id).definition_id)
        typed = schemas.typed_values(fields_for_task(session, definition.meta, task.element_id), request.form)
        draft = session.scalars(select(TaskDraft).where(TaskDraft.task_id == task_id,
                                                        TaskDraft.user_name == user.name)).first()
        if draft is None:
            session.add(TaskDraft(task_id=task_id, user_name=user.name, data=typed, updated_at=clock.now()))
        else:
            draft.data, draft.updated_at = typed, clock.now()
    flash(_("草稿已保存。草稿只有您本人可见，提交前不会进入流程。"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/tasks/<int:task_id>/comments")
def add_comment(task_id: int):
    user = g.current_user
    text = (request.form.get("text") or "").strip()
    if not text or len(text) > MAX_COMMENT:
        flash(_("意见不能为空，且不超过 %(n)s 个字。", n=MAX_COMMENT), "error")
        return redirect(url_for("tasks.show", task_id=task_id, _anchor="comments"))
    with database().write() as session:
        task = _workable_task(session, task_id)
        row = instances.lock_instance(session, task.instance_id)
        comment = TaskComment(task_id=task.id, instance_id=row.id, user_name=user.name, text=text,
                              created_at=clock.now())
        session.add(comment)
        session.flush()
        history.record(session, row, [history.Event("comment_added", actor=user.name, element_id=task.element_id,
                                                    data={"task": task.id, "comment": comment.id, "text": text})],
                       services._current_digest(session, row))
    flash(_("意见已发表。"), "success")
    return redirect(url_for("tasks.show", task_id=task_id, _anchor="comments"))


@bp.post("/tasks/<int:task_id>/documents")
def upload(task_id: int):
    user = g.current_user
    upload_file = request.files.get("file")
    back = redirect(url_for("tasks.show", task_id=task_id, _anchor="documents"))
    with database().read() as session:  # who may upload, before anything is read or inspected
        _workable_task(session, task_id)
    if upload_file is None or not upload_file.filename:
        flash(_("请选择要上传的文件。"), "error")
        return back
    content = upload_file.stream.read(documents.MAX_SIZE + 1)
    try:
        inspected = documents.inspect(upload_file.filename, content)  # outside the write transaction
        with database().write() as session:
            task = _workable_task(session, task_id)
            definition = session.get(ProcessDefinition, session.get(ProcessInstance, task.instance_id).definition_id)
            choices = dict(_upload_choices(fields_for_task(session, definition.meta, task.element_id)))
            field = request.form.get("material") or None
            if field is not None and field not in choices:
                field = None
            document = documents.add(session, task.instance_id, filename=upload_file.filename, content=content,
                                     user=user.name, task_id=task.id, field=field, inspected=inspected)
            flash(_("已上传“%(name)s”。", name=document.filename), "success")
    except documents.DocumentRefused as exc:
        flash(_(REFUSALS.get(exc.reason, N_("文件未能上传。"))), "error")
    return back


@bp.get("/documents/<int:document_id>")
def download(document_id: int):
    """Send a document to whoever may see a task of its instance."""
    user = g.current_user
    with database().read() as session:
        document = documents.get(session, document_id)
        if not user.sees_all_tasks and not any(
                may_see(t, user) for t in session.scalars(select(UserTask).where(
                    UserTask.instance_id == document.instance_id))):
            abort(403)
        content = document.content
        name, mimetype = document.filename, document.content_type
    response = send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True, download_name=name,
                         max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def engine_error(exc: EngineError):
    """An engine error on a UI page: its HTTP status (web/errors.py) and an error page."""
    return render_error(status_of(exc), detail=str(exc))


bp.register_error_handler(EngineError, engine_error)


def init_app(app) -> None:
    app.register_blueprint(bp)
