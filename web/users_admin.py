"""User administration for process administrators: list, add, change bureaus and roles, reset a
password, deactivate. Every change is an event of the system history (engine/users.py).

Demo accounts (published password) are made by `dalad demo-seed` in demo mode only; this page
shows them and never makes one.
"""
from __future__ import annotations

import re
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine import bureaus, names, users
from engine.errors import EngineError
from engine.models import Bureau

from . import N_, database, profile_fields, security
from .auth import bureau_names

bp = security.protect(Blueprint("users_admin", __name__))
_NAME = re.compile(r"[^\s/\\]{1,100}")
_DEPT = re.compile(r"[a-z0-9_]{1,60}")
ROLE_LABELS = {bureaus.ADMIN: N_("流程管理员"), bureaus.AUDITOR: N_("审计（只读）")}


@bp.before_request
def admins_only():
    user = g.get("current_user")
    if user is not None and not user.is_admin:
        abort(403)


def _choices(session) -> dict:
    """Bureaus of the table, then the project units, with their names in the UI language."""
    names = bureau_names(session)
    units = sorted(session.scalars(select(Bureau.id).where(Bureau.id.like(f"{bureaus.UNIT_PREFIX}%"))))
    groups = [b.id for b in bureaus.list_groups(session) if b.active and not bureaus.is_unit(b.id)]
    return {"bureaus": [(g, names.get(g, g)) for g in groups],
            "units": [(u, names.get(u, u)) for u in units], "roles": list(bureaus.ROLES), "names": names}


def _submitted() -> dict:
    """The user form as sent: bureaus ticked, a new unit typed, roles, the profile (names, e-mail)."""
    groups = [g for g in request.form.getlist("bureaus") if g]
    new_unit = (request.form.get("new_unit") or "").strip().lower()
    if new_unit.startswith(bureaus.UNIT_PREFIX):
        new_unit = new_unit[len(bureaus.UNIT_PREFIX):]
    return {"name": (request.form.get("name") or "").strip(),
            **profile_fields.submitted(),
            "bureaus": groups, "new_unit": new_unit, "new_unit_name": (request.form.get("new_unit_name") or "").strip(),
            "roles": [r for r in request.form.getlist("roles") if r]}


def _check(form: dict, *, new: bool) -> dict:
    """Messages per field for what the engine would refuse, in the UI language; the profile checked
    goes into form["profile"]."""
    errors: dict[str, list[str]] = {}
    errors.update(profile_fields.check_profile(form))
    if new:
        hidden = names.hidden_character(form["name"])
        if not _NAME.fullmatch(form["name"]):
            errors["name"] = [_("用户名为 1 至 100 个字符，不含空格和斜杠")]
        elif hidden is not None:
            errors["name"] = [profile_fields.format_character_message(hidden[0]) if hidden[1] == "format"
                              else _("不能含有换行、制表符等控制字符")]
        password = request.form.get("password") or ""
        if len(password) < users.MIN_PASSWORD_LENGTH:
            errors["password"] = [_("密码至少 %(n)s 位", n=users.MIN_PASSWORD_LENGTH)]
        elif password != (request.form.get("password2") or ""):
            errors["password2"] = [_("两次输入的密码不一致")]
    if form["new_unit"] and not _DEPT.fullmatch(form["new_unit"]):
        errors["new_unit"] = [_("单位代码只能包含小写字母、数字和下划线，例如 edu")]
    elif form["new_unit"]:
        form["bureaus"].append(f"{bureaus.UNIT_PREFIX}{form['new_unit']}")
    with database().read() as session:
        if bureaus.unknown_groups(session, [g for g in form["bureaus"] if g not in bureaus.BUREAU_IDS]):
            errors["bureaus"] = [_("所选部门无效")]
    if any(r not in bureaus.ROLES for r in form["roles"]):
        errors["roles"] = [_("所选角色无效")]
    if not form["bureaus"] and not form["roles"] and "bureaus" not in errors:
        errors["bureaus"] = [_("请至少选择一个部门或角色")]
    return errors


@bp.get("/admin/users")
def index():
    with database().read() as session:
        return _render_index(session, {"bureaus": [], "roles": []}, {})


def _render_index(session, form: dict, errors: dict, status: int = 200):
    return render_template("users/index.html", users=users.list_users(session), choices=_choices(session),
                           form=form, errors=errors, role_labels=ROLE_LABELS,
                           demo_mode=bool(current_app.config.get("DALAD_DEMO")),
                           min_password=users.MIN_PASSWORD_LENGTH), status


@bp.post("/admin/users")
def add():
    form = _submitted()
    errors = _check(form, new=True)
    with database().read() as session:
        if "name" not in errors and users.find_user(session, form["name"]) is not None:
            errors["name"] = [_("用户名“%(name)s”已存在", name=form["name"])]
        if errors:
            flash(_("表单有 %(n)s 处需要更正，请查看标红的项目。", n=len(errors)), "error")
            return _render_index(session, form, errors, 422)
    try:
        with database().write() as session:
            _ensure_new_unit(session, form)
            users.add_user(session, form["name"], request.form.get("password") or "", bureaus=form["bureaus"],
                           roles=form["roles"], profile=form["profile"], actor=g.current_user.name)
    except EngineError as exc:
        flash(_("未能保存：%(detail)s", detail=str(exc)), "error")
        with database().read() as session:
            return _render_index(session, form, {}, 400)
    flash(_("已添加用户“%(name)s”。", name=form["name"]), "success")
    return redirect(url_for("users_admin.edit", name=form["name"]))


def _ensure_new_unit(session, form: dict) -> None:
    if form["new_unit"]:
        bureaus.ensure_unit(session, f"{bureaus.UNIT_PREFIX}{form['new_unit']}", form["new_unit_name"] or None)


def _user(session, name: str):
    user = users.find_user(session, name)
    if user is None:
        abort(404)
    return user


@bp.get("/admin/users/<name>")
def edit(name: str):
    with database().read() as session:
        user = _user(session, name)
        form = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
                "bureaus": user.groups, "roles": user.role_names}
        return _render_edit(session, user, form, {})


def _render_edit(session, user, form: dict, errors: dict, status: int = 200):
    return render_template("users/edit.html", user=user, choices=_choices(session), form=form, errors=errors,
                           role_labels=ROLE_LABELS, demo_mode=bool(current_app.config.get("DALAD_DEMO")),
                           min_password=users.MIN_PASSWORD_LENGTH,
                           is_self=user.name == g.current_user.name), status


@bp.post("/admin/users/<name>")
def update(name: str):
    form = _submitted()
    errors = _check(form, new=False)
    if name == g.current_user.name and bureaus.ADMIN not in form["roles"]:
        errors["roles"] = [_("不能取消您本人的流程管理员角色")]
    with database().read() as session:
        user = _user(session, name)
        if errors:
            flash(_("表单有 %(n)s 处需要更正，请查看标红的项目。", n=len(errors)), "error")
            return _render_edit(session, user, form, errors, 422)
    try:
        with database().write() as session:
            _ensure_new_unit(session, form)
            users.update_user(session, name, bureaus=form["bureaus"], roles=form["roles"],
                              profile=form["profile"], actor=g.current_user.name)
    except EngineError as exc:
        flash(_("未能保存：%(detail)s", detail=str(exc)), "error")
        with database().read() as session:
            return _render_edit(session, _user(session, name), form, {}, 400)
    flash(_("已保存用户“%(name)s”的姓名、电子邮箱、部门和角色。", name=name), "success")
    return redirect(url_for("users_admin.edit", name=name))


@bp.post("/admin/users/<name>/password")
def reset_password(name: str):
    password = request.form.get("password") or ""
    with database().read() as session:
        _user(session, name)
    if len(password) < users.MIN_PASSWORD_LENGTH:
        flash(_("密码至少 %(n)s 位", n=users.MIN_PASSWORD_LENGTH), "error")
    elif password != (request.form.get("password2") or ""):
        flash(_("两次输入的密码不一致"), "error")
    else:
        with database().write() as session:
            users.set_password(session, name, password, actor=g.current_user.name)
        flash(_("已重置用户“%(name)s”的密码。请通过安全渠道告知本人。", name=name), "success")
    return redirect(url_for("users_admin.edit", name=name, _anchor="password"))


@bp.post("/admin/users/<name>/active")
def set_active(name: str):
    active = request.form.get("active") == "1"
    if name == g.current_user.name and not active:
        flash(_("不能停用您本人的账号。"), "error")
        return redirect(url_for("users_admin.edit", name=name))
    with database().write() as session:
        _user(session, name)
        users.set_active(session, name, active, actor=g.current_user.name)
    flash(_("已启用用户“%(name)s”。", name=name) if active else _("已停用用户“%(name)s”，该用户不能再登录。", name=name),
          "success")
    return redirect(url_for("users_admin.edit", name=name))


# --- groups (candidate groups of the diagrams) ---------------------------------------------------

@bp.get("/admin/groups")
def groups():
    with database().read() as session:
        return render_template("users/groups.html", groups=bureaus.list_groups(session), form={})


@bp.post("/admin/groups")
def add_group():
    form = {k: (request.form.get(k) or "").strip() for k in ("id", "name_zh", "name_en")}
    try:
        with database().write() as session:
            bureaus.add_group(session, form["id"], name_zh=form["name_zh"], name_en=form["name_en"] or None,
                              actor=g.current_user.name)
    except EngineError as exc:
        flash(_refusal(exc), "error")
        with database().read() as session:
            return render_template("users/groups.html", groups=bureaus.list_groups(session), form=form), 400
    flash(_("已新增部门“%(id)s”。", id=form["id"]), "success")
    return redirect(url_for("users_admin.groups"))


@bp.post("/admin/groups/<group_id>")
def rename_group(group_id: str):
    try:
        with database().write() as session:
            bureaus.rename_group(session, group_id, name_zh=request.form.get("name_zh"),
                                 name_en=request.form.get("name_en") or "", actor=g.current_user.name)
    except EngineError as exc:
        flash(_refusal(exc), "error")
    else:
        flash(_("已保存部门“%(id)s”的名称。", id=group_id), "success")
    return redirect(url_for("users_admin.groups"))


@bp.post("/admin/groups/<group_id>/active")
def set_group_active(group_id: str):
    active = request.form.get("active") == "1"
    try:
        with database().write() as session:
            bureaus.set_group_active(session, group_id, active, actor=g.current_user.name)
    except EngineError as exc:
        flash(_("未能保存：%(detail)s", detail=str(exc)), "error")
    else:
        flash(_("已启用部门“%(id)s”。", id=group_id) if active else _("已停用部门“%(id)s”。", id=group_id), "success")
    return redirect(url_for("users_admin.groups"))


GROUP_FIELDS = {"name_zh": N_("中文名称"), "name_en": N_("英文名称")}


def _refusal(exc: EngineError) -> str:
    """Why a group was not saved: a name holding a hidden character in the UI's language, naming the
    field; the engine's words for the rest."""
    if isinstance(exc, names.NameUnreadable) and exc.field in GROUP_FIELDS:
        field = _(GROUP_FIELDS[exc.field])
        if exc.kind == "format":
            return _("“%(field)s”不能含有 %(character)s：双向文本控制符、零宽字符等不可见的格式字符会改变名称的显示",
                     field=field, character=names.code_point(exc.character))
        return _("“%(field)s”不能含有换行、制表符等控制字符", field=field)
    return _("未能保存：%(detail)s", detail=str(exc))


def role_label(role: str) -> str:
    return _(ROLE_LABELS[role]) if role in ROLE_LABELS else role


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["role_label"] = role_label
