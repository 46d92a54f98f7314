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
from sqlalchemy import delete, or_, select

from engine import bureaus, clock, documents, history, instances, projects, services, users
from engine.errors import EngineError, NotFound, TaskNotReady
from engine.models import (ProcessDefinition, ProcessInstance, TaskComment, TaskDraft, User, UserBureau, UserTask,
                           row_id)
from forms import prefill, schemas, submission
from forms.fields import FieldSpec, fields_of_task, materials_of

from . import N_, casefile, database, render_error, security
from .auth import CurrentUser, bureau_names
from .errors import status_of
from .history_labels import PATH_EVENTS, event_label

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
# The 项目类别 of bpmn/project.bpmn and plan_submission.bpmn (their ids): the project list offers them.
CATEGORIES = {"infrastructure": N_("电子政务基础设施"), "software": N_("软件开发及购买"), "om": N_("运维服务")}
REFUSALS = {
    "empty": N_("文件为空，请重新选择。"),
    "too_large": N_("文件超过 20 MB，无法上传。"),
    "type_not_allowed": N_("不支持该文件类型。允许的类型：PDF、DOCX、XLSX、PNG、JPG、ZIP、OFD。"),
    "content_mismatch": N_("文件内容与扩展名不符，已拒绝上传。"),
    "archive_too_large": N_("压缩文件包含的文件过多或解压后过大，已拒绝上传。"),
    "task_quota": N_("本任务的附件总量已超过 100 MB，无法继续上传。"),
    "instance_quota": N_("本项目的附件总量已超过 500 MB，无法继续上传。"),
}
# project.bpmn's apply_evaluation_results: the office's opinion on next year's funds (Art 29).
EVALUATION_WEIGHTS = {"priority": N_("优先安排"), "normal": N_("正常安排"), "reduce": N_("压减"), "suspend": N_("暂缓安排")}


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
    own = session.get(ProcessInstance, task.called_instance_id).definition_id if task.called_instance_id \
        else definition.id  # a called process's task: of the version its call runs
    specs = fields_of_task(session, task)
    branch = _branch(session, task, instance)
    if form is None:
        form = _initial_form(session, task, specs, branch, user)
    materials = materials_of(specs)
    present = documents.fields_present(session, task.id)
    case = casefile.build(session, instance, user, task)
    docs, comments = case.documents, case.comments
    events = _path(case)
    names = bureau_names(session)
    people = display_names(session, {e["actor"] for e in events} | {c.user_name for c in comments}
                            | {(e.get("data") or {}).get("to") for e in events if e["type"] == "task_assigned"}
                            | {d.uploaded_by for d in docs} | {task.assignee, task.completed_by})
    return render_template(
        "task.html", task=task, instance=instance, definition=definition, specs=specs, form=form,
        materials=[(m, m.key in present) for m in materials], upload_choices=_upload_choices(specs),
        material_labels={**case.material_labels, **dict(_upload_choices(specs))},
        own_documents=[d for d in docs if d.task_id == task.id],
        reusable=[d for d in docs if d.task_id != task.id], uploaded=_latest_uploads(docs, task.id),
        documents=docs, comments=comments, events=events, bureaus=names, people=people, case=case,
        description=instances.task_description(session, own, task.element_id, task.description),
        project=project_context(branch if branch is not None else instance.variables or {}, names),
        findings=_plan_findings(session, instance), evaluation_weights=EVALUATION_WEIGHTS,
        may_act=may_act(task, user),
        may_claim=task.state == "ready" and not task.assignee and may_act(task, user),
        may_unclaim=task.state == "ready" and task.assignee == user.name,
        colleagues=_colleagues(session, task, user) if task.state == "ready" and task.assignee == user.name else [],
        may_take_over=task.state == "ready" and bool(task.assignee)
        and task.assignee in users.represented(session, user.name),
        may_withdraw=task.state == "completed" and task.completed_by == user.name
        and services.withdraw_problem(session, task, instance) is None), status


def _plan_findings(session, instance: ProcessInstance) -> list:
    """On the annual plan's tasks, the decisions against its departments it must weigh (Art 24, 27,
    29); on an O&M application's, those against the applying department for next year's budget,
    which its funds join (Art 29: the evaluation results weigh on O&M funds too)."""
    variables = instance.variables or {}
    if instance.process_key == "annual_plan":
        return projects.plan_findings(session, str(variables.get("department_codes") or "").split(","),
                                      variables.get("plan_year"))
    if instance.process_key == "om_funding":
        return projects.plan_findings(session, [str(variables.get("unit") or "")],
                                      clock.aware(clock.now()).astimezone(clock.local_zone()).year + 1)
    return []


def _initial_form(session, task: UserTask, specs, branch: Optional[dict], user) -> FormState:
    """A ready task's form as it opens (forms/prefill.py); a closed task's: the values it was
    completed with, as recorded."""
    if task.state != "ready":
        recorded = casefile.recorded_values(session, task)
        return FormState({s.id: schemas.as_text(s, recorded.get(s.id)) for s in specs}, {})
    draft = session.scalars(select(TaskDraft).where(TaskDraft.task_id == task.id,
                                                    TaskDraft.user_name == user.name)).first()
    values = prefill.initial_values(specs, draft.data if draft else None, branch)
    return FormState(values, {}, draft.updated_at if draft else None)


def _branch(session, task: UserTask, instance: ProcessInstance) -> Optional[dict]:
    """A ready task's own variables (its branch: multi-instance element, called process)."""
    if task.state != "ready" or not instance.state:
        return None
    return instances.branch_variables(session, instance, task.task_uuid)


def project_context(variables: dict, names: dict) -> list[tuple[str, str, str]]:
    """(label, value, kind) of what the task's variables tell about the project."""
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
        elif key == "category":
            value = _(CATEGORIES[value]) if value in CATEGORIES else str(value)
        rows.append((_(label), value, kind))
    return rows


def _path(case: casefile.CaseFile) -> list[dict]:
    """The instance's history as the page lists it: who did what, when, at which step (less what
    happened at tasks the viewer may not read)."""
    out = []
    for event in case.events:
        if event["type"] not in PATH_EVENTS or (event.get("data") or {}).get("task") in case.hidden:
            continue
        out.append({**event, "label": event_label(event["type"]), "step": case.step_name(event),
                    "when": clock.aware(_parse(event["at"])).astimezone(clock.local_zone())})
    return out


def _parse(text: str):
    from datetime import datetime
    return datetime.fromisoformat(text)


def display_names(session, names: set) -> dict:
    """The display name of each user named (the name itself when the user has none)."""
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


@bp.post("/tasks/<int:task_id>/withdraw")
def withdraw(task_id: int):
    """撤回: who completed the task takes it back (the next step not yet taken up); what they had
    submitted becomes their draft."""
    user = g.current_user
    with database().write() as session:
        task = _visible_task(session, task_id)
        recorded = casefile.recorded_values(session, task)
        services.withdraw_task(session, task_id, user=user.name)
        draft = {s.id: schemas.as_text(s, recorded.get(s.id)) for s in fields_of_task(session, task)
                 if schemas.takes_input(s) and s.id in recorded}
        session.add(TaskDraft(task_id=task_id, user_name=user.name, data=draft, updated_at=clock.now()))
    flash(_("已撤回，任务回到您的待办；您提交的内容已作为草稿载入。"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/tasks/<int:task_id>/reassign")
def reassign(task_id: int):
    """转办: who has claimed the task hands it to a colleague who may work on it too, with a reason."""
    user = g.current_user
    colleague = request.form.get("assignee") or ""
    reason = (request.form.get("reason") or "").strip()[:MAX_COMMENT]
    with database().write() as session:
        task = _workable_task(session, task_id)
        if task.assignee != user.name:
            abort(403)  # claim it first: 转办 is the assignee's (services.task_access "assign")
        if colleague not in dict(_colleagues(session, task, user)):
            if session.scalar(select(User.id).where(User.name == colleague)) is not None:
                abort(403)  # not someone the task is offered to
            flash(_("请选择要转办的同事。"), "error")
            return redirect(url_for("tasks.show", task_id=task_id, _anchor="reassign"))
        if not reason:
            flash(_("请填写转办理由。"), "error")
            return redirect(url_for("tasks.show", task_id=task_id, _anchor="reassign"))
        services.reassign_task(session, task_id, actor=user.name, to_user=colleague, reason=reason,
                               groups=user.groups, roles=user.roles)
        name = display_names(session, {colleague}).get(colleague, colleague)
    flash(_("已转办给 %(who)s。", who=name), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<int:task_id>/take-over")
def take_over(task_id: int):
    """委托: the substitute of the official a task is assigned to takes it over while they are away."""
    user = g.current_user
    with database().write() as session:
        task = _visible_task(session, task_id)
        if task.state != "ready":
            raise TaskNotReady(f"task {task_id} is {task.state}")
        if task.assignee not in users.represented(session, user.name):
            abort(403)
        away = session.scalars(select(User).where(User.name == task.assignee)).one()
        services.reassign_task(session, task_id, actor=user.name, to_user=user.name, check_access=False,
                               reason=_("委托代办：%(who)s 外出至 %(until)s", who=away.display_name or away.name,
                                        until=away.away_until.isoformat()))
    flash(_("已接办，任务由您办理。"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


def _colleagues(session, task: UserTask, user: CurrentUser) -> list[tuple[str, str]]:
    """(name, display name) of the active users other than `user` who may work on `task` too."""
    groups = list(task.candidate_groups or [])
    query = select(User.name, User.display_name).where(User.active.is_(True), User.name != user.name, or_(
        User.name.in_(list(task.candidate_users or []) or [""]),
        User.id.in_(select(UserBureau.user_id).where(UserBureau.bureau_id.in_(groups or [""])))))
    return [(name, display or name) for name, display in session.execute(query.order_by(User.name))]


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int):
    user = g.current_user
    files = _inspected_uploads(task_id)
    with database().write() as session:
        task = _workable_task(session, task_id)
        _store_uploads(session, task, files)  # files chosen in the form, then 提交办结 at once
        submitted = submission.check(session, task, request.form, typed_values=False)
        if not submitted.ok:
            if submitted.errors:
                flash(_("表单有 %(n)s 处需要更正，请查看标红的项目。", n=len(submitted.errors)), "error")
            if submitted.missing:
                flash(_("还缺少必需材料：%(items)s。请先上传后再提交。", items="、".join(submitted.missing)), "error")
            instance = session.get(ProcessInstance, task.instance_id)
            shown = prefill.initial_values(submitted.specs, None, _branch(session, task, instance))
            return _render(session, task, FormState({**shown, **submitted.typed}, submitted.errors), 422)
        services.complete_task(session, task_id, user=user.name, data=submitted.variables, groups=user.groups)
        session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id))
        # the hint leads to the task page's 撤回, so only where the page will offer it
        withdrawable = services.withdraw_problem(session, task, session.get(ProcessInstance, task.instance_id)) is None
    flash(_("任务“%(name)s”已办结。", name=task.name or task.element_id), "success")
    if withdrawable:
        flash(str(task_id), "withdrawable")  # base.html links to the task, where it may be taken back
    return redirect(url_for("inbox.index"))




@bp.post("/tasks/<int:task_id>/draft")
def save_draft(task_id: int):
    with database().write() as session:
        _keep_typed(session, _workable_task(session, task_id))
    flash(_("草稿已保存。草稿只有您本人可见，提交前不会进入流程。"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


def _specs_of(session, task: UserTask) -> list[FieldSpec]:
    return fields_of_task(session, task)


def _keep_typed(session, task: UserTask) -> None:
    """What the user typed into the task form (sent along with this request) becomes their draft."""
    user = g.current_user
    specs = _specs_of(session, task)
    if not any(schemas.takes_input(spec) and spec.id in request.form for spec in specs):
        return  # the request did not come from the form: nothing typed to keep
    typed = schemas.typed_values(specs, request.form)
    draft = session.scalars(select(TaskDraft).where(TaskDraft.task_id == task.id,
                                                    TaskDraft.user_name == user.name)).first()
    if draft is None:
        session.add(TaskDraft(task_id=task.id, user_name=user.name, data=typed, updated_at=clock.now()))
    else:
        draft.data, draft.updated_at = typed, clock.now()


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
    """Upload one or several files at once (each with its material type), keeping what was typed."""
    files = _inspected_uploads(task_id)
    with database().write() as session:
        task = _workable_task(session, task_id)
        _keep_typed(session, task)
        if not _store_uploads(session, task, files):
            flash(_("请选择要上传的文件。"), "error")
    return redirect(url_for("tasks.show", task_id=task_id, _anchor="materials"))


def _inspected_uploads(task_id: int) -> list[tuple]:
    """The files sent with the request, each with what its content is or why it is refused, read
    outside the write transaction (only for whom may work on the task)."""
    sent = [f for f in request.files.getlist("files") + request.files.getlist("file") if f and f.filename]
    if not sent:
        return []
    with database().read() as session:
        _workable_task(session, task_id)
    out = []
    for upload_file in sent:
        content = upload_file.stream.read(documents.MAX_SIZE + 1)
        try:
            out.append((upload_file.filename, content, documents.inspect(upload_file.filename, content)))
        except documents.DocumentRefused as exc:
            out.append((upload_file.filename, content, exc))
    return out


def _store_uploads(session, task: UserTask, files: list[tuple]) -> int:
    """Store the inspected files; flash what was taken and what refused. How many were sent."""
    user = g.current_user
    choices = dict(_upload_choices(_specs_of(session, task)))
    for index, (filename, content, inspected) in enumerate(files):
        try:
            if isinstance(inspected, documents.DocumentRefused):
                raise inspected
            field = _material(request.form.get(f"material-{index}", request.form.get("material")), choices)
            document = documents.add(session, task.instance_id, filename=filename, content=content, user=user.name,
                                     task_id=task.id, field=field, inspected=inspected)
        except documents.DocumentRefused as exc:  # its content, or a quota
            flash(_("“%(name)s”：%(reason)s", name=documents.clean_filename(filename),
                    reason=_(REFUSALS.get(exc.reason, N_("文件未能上传。")))), "error")
            continue
        flash(_("已上传“%(name)s”。", name=document.filename), "success")
    return len(files)


def _material(value: Optional[str], choices: dict) -> Optional[str]:
    """The material a file is said to be, if the task asks for it; else none (其他附件)."""
    return value if value and value in choices else None


def _own_document(session, task: UserTask, document_id: int):
    document = documents.get(session, document_id)
    if document.task_id != task.id or document.removed_at is not None:
        abort(404)
    return document


@bp.post("/tasks/<int:task_id>/documents/<int:document_id>/remove")
def remove_document(task_id: int, document_id: int):
    """A file uploaded by mistake comes off the task before it is completed (the history keeps it)."""
    with database().write() as session:
        task = _workable_task(session, task_id)
        _keep_typed(session, task)
        document = _own_document(session, task, document_id)
        documents.remove(session, document, user=g.current_user.name)
        flash(_("已移除“%(name)s”。", name=document.filename), "success")
    return redirect(url_for("tasks.show", task_id=task_id, _anchor="materials"))


@bp.post("/tasks/<int:task_id>/documents/<int:document_id>/retag")
def retag_document(task_id: int, document_id: int):
    """Say which material a file uploaded at this task is."""
    with database().write() as session:
        task = _workable_task(session, task_id)
        _keep_typed(session, task)
        document = _own_document(session, task, document_id)
        field = _material(request.form.get(f"retag-{document_id}"), dict(_upload_choices(_specs_of(session, task))))
        documents.retag(session, document, field, user=g.current_user.name)
        flash(_("已更改“%(name)s”的材料类型。", name=document.filename), "success")
    return redirect(url_for("tasks.show", task_id=task_id, _anchor="materials"))


@bp.post("/tasks/<int:task_id>/documents/reuse")
def reuse_document(task_id: int):
    """Use a material already in the 办件 at this task instead of uploading it again."""
    user = g.current_user
    with database().write() as session:
        task = _workable_task(session, task_id)
        _keep_typed(session, task)
        source_id = row_id(request.form.get("reuse"))
        source = documents.get(session, source_id) if source_id is not None else None
        if source is None or source.instance_id != task.instance_id or source.removed_at is not None or (
                source.task_id is not None and not casefile.may_read(session.get(UserTask, source.task_id), user)):
            flash(_("请选择办件中的材料。"), "error")
            return redirect(url_for("tasks.show", task_id=task_id, _anchor="materials"))
        field = _material(request.form.get("reuse_material"), dict(_upload_choices(_specs_of(session, task))))
        try:
            documents.reuse(session, source, task_id=task.id, field=field, user=user.name)
        except documents.DocumentRefused as exc:  # a quota
            flash(_("“%(name)s”：%(reason)s", name=source.filename, reason=_(REFUSALS[exc.reason])), "error")
        else:
            flash(_("已引用“%(name)s”。", name=source.filename), "success")
    return redirect(url_for("tasks.show", task_id=task_id, _anchor="materials"))


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
        if document.task_id is not None and not casefile.may_read(session.get(UserTask, document.task_id), user):
            abort(403)  # another unit's material
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
