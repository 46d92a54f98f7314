"""An official's own settings (我的设置): their names and e-mail (姓, 名, 电子邮箱, checked as on the
administrator's user pages), and who takes over their tasks while they are away (委托)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine import users
from engine.errors import InvalidInput, NotFound
from engine.models import User, UserBureau

from . import database, profile_fields, security

bp = security.protect(Blueprint("profile", __name__))


def _colleagues(session, user) -> list[tuple[str, str]]:
    shared = select(UserBureau.user_id).where(UserBureau.bureau_id.in_(list(user.groups) or [""]))
    return [(name, display or name) for name, display in session.execute(
        select(User.name, User.display_name).where(User.active.is_(True), User.name != user.name, User.id.in_(shared))
        .order_by(User.name))]


@bp.get("/me")
def show():
    return _page()


def _page(form: dict | None = None, errors: dict | None = None, status: int = 200):
    """The settings page; `form` and `errors`: the profile as typed and what is wrong with it."""
    with database().read() as session:
        me = users.get_user(session, g.current_user.name)
        if form is None:
            form = {field: getattr(me, field) for field in users.PROFILE_FIELDS}
        return render_template("profile.html", me=me, form=form, errors=errors or {},
                               colleagues=_colleagues(session, g.current_user)), status


def _refused(message: str):
    """The settings page again, 400, with what is wrong above the form."""
    flash(message, "error")
    return _page(status=400)


@bp.post("/me/profile")
def set_profile():
    """Change one's own names and e-mail, as an administrator would (Camunda grants a user UPDATE on
    their own user); a mistake is marked at its field, 422, and nothing is saved."""
    form = profile_fields.submitted()
    errors = profile_fields.check_profile(form)
    if errors:
        flash(_("表单有 %(n)s 处需要更正，请查看标红的项目。", n=len(errors)), "error")
        return _page(form, errors, 422)
    with database().write() as session:
        users.set_profile(session, g.current_user.name, form["profile"], actor=g.current_user.name)
    flash(_("已保存您的姓名和电子邮箱。"), "success")
    return redirect(url_for("profile.show"))


@bp.post("/me/substitute")
def set_substitute():
    user = g.current_user
    substitute = request.form.get("substitute") or None
    try:
        until = date.fromisoformat(request.form.get("until") or "") if substitute else None
    except ValueError:
        return _refused(_("请填写外出的最后一天。"))
    try:
        with database().write() as session:
            users.set_substitute(session, user.name, substitute, until)
    except NotFound:
        return _refused(_("没有名为“%(name)s”的用户，请从列表中选择本部门的同事。", name=substitute))
    except InvalidInput:
        return _refused(_("请选择本部门的同事，并填写今天或以后的日期。"))
    flash(_("已委托，外出期间同事可接办您的任务。") if substitute else _("已取消委托。"), "success")
    return redirect(url_for("profile.show"))


def init_app(app) -> None:
    app.register_blueprint(bp)
