"""The profile fields of the user forms (templates/users/_profile.html): 姓, 名 and 电子邮箱, read
from the form and checked as engine/users.py keeps them, each mistake in the UI language at its
field. The administrator's user pages and an official's own settings (我的设置) share them."""
from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from engine import names, users


def submitted() -> dict:
    """The profile fields as typed (to come back in the form when something is wrong)."""
    return {field: request.form.get(field) or "" for field in users.PROFILE_FIELDS}


def check_profile(form: dict) -> dict[str, list[str]]:
    """Messages per field, each name and the e-mail checked alone so that every wrong one is
    marked; the profile checked goes into form["profile"] (None when one is wrong)."""
    errors: dict[str, list[str]] = {}
    checked = {}
    for field in users.PROFILE_FIELDS:
        try:
            checked[field] = getattr(users.profile_checked(**{field: form[field]}), field)
        except users.ProfileInvalid as exc:
            errors[field] = [_message(exc)]
    form["profile"] = users.Profile(**checked) if not errors else None
    return errors


def _message(exc: users.ProfileInvalid) -> str:
    if exc.problem == "length":
        return _("最多 %(n)s 个字符", n=users.EMAIL_LENGTH if exc.field == "email" else users.NAME_LENGTH)
    if exc.problem == "email":
        return _("电子邮箱格式不正确：应为“名称@域名”，@ 前最多 %(n)s 个字符，不含空格，例如 zhangsan@dalad.gov.cn",
                 n=users.EMAIL_LOCAL_LENGTH)
    if exc.problem == "format":
        return format_character_message(exc.character)
    return _("不能含有换行、制表符等控制字符")  # (a form sends only text: "control")


def format_character_message(character: str) -> str:
    """What the forms say of a name holding an invisible format character (engine/names.py)."""
    return _("不能含有 %(character)s：双向文本控制符、零宽字符等不可见的格式字符会改变名称的显示",
             character=names.code_point(character))
