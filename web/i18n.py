"""Languages of the UI: Chinese (zh_CN, the default and the source text) and English.

Template strings are written in Chinese and go through `_()`; web/translations/en holds the
English. The catalogues are compiled from the .po files when the app starts (only when a .po is
newer than its .mo), so a fresh checkout needs nothing but the pip packages.
"""
from __future__ import annotations

import logging
import os
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, current_app, redirect, request
from flask_babel import Babel, get_locale, get_translations
from jinja2.ext import _make_new_gettext, _make_new_ngettext
from markupsafe import Markup

from engine import clock

from . import security

LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT = "zh_CN"
COOKIE = "dalad_lang"
TRANSLATIONS = Path(__file__).with_name("translations")
log = logging.getLogger(__name__)

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The language the user chose (a cookie that outlives the login), else Chinese. A request
    without cookies (every REST call) is not given Werkzeug's parse of its headers for none."""
    if "HTTP_COOKIE" not in request.environ:
        return DEFAULT
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT


_LOCALES = {code: Locale.parse(code) for code in LANGUAGES}


def _babel_locale() -> Locale:
    """select_locale's language as Flask-Babel takes it, parsed once rather than on every request."""
    return _LOCALES[select_locale()]


@bp.post("/lang")
@security.public
def switch():
    """Remember the chosen language and go back to the page the user was on."""
    language = request.form.get("lang")
    response = redirect(security.safe_next(request.form.get("next"), "/"))
    if language in LANGUAGES:
        response.set_cookie(COOKIE, language, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                            secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


security.protect(bp)


def compile_catalogues(directory: Path = TRANSLATIONS) -> Path:
    """Compile each messages.po into messages.mo where the .mo is missing or older; return the folder.

    A read-only installation compiles into a temporary folder instead.
    """
    try:
        _compile_into(directory, directory)
        return directory
    except OSError:
        target = Path(tempfile.mkdtemp(prefix="dalad-translations-"))
        _compile_into(directory, target)
        return target


def _compile_into(source: Path, target: Path) -> None:
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parent.parent.name)
        mo.parent.mkdir(parents=True, exist_ok=True)
        fd, spare = tempfile.mkstemp(dir=mo.parent, prefix=".messages.", suffix=".mo")
        with os.fdopen(fd, "wb") as out:  # write aside, then rename: a racing worker reads whole files
            write_mo(out, catalog, use_fuzzy=False)
        os.replace(spare, mo)
        log.info("compiled %s", mo)


def local_time(moment, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time as the clock on the wall in Dalad shows it."""
    if moment is None:
        return ""
    return clock.aware(moment).astimezone(clock.local_zone()).strftime(pattern)


def money(value) -> str:
    """An amount in yuan: ¥1,234.50."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return str(value)
    return f"¥{amount:,.2f}"


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def template_gettext() -> dict:
    """The templates' `_`, gettext and ngettext, bound to this request's catalogue once: Flask-Babel's
    look the catalogue up again for every string, a sixth of an inbox page's time. `_` is called
    as any function (Jinja's passes its caller's context on, made anew inside loops and blocks), and
    translates as Jinja's gettext does where output is escaped, as in every page: the text is
    trusted, the values in it escaped. (Templates imported without the page's context use
    Flask-Babel's, to the same effect.)"""
    translations = get_translations()
    translate = translations.ugettext

    def _(string: str, **variables) -> Markup:
        return Markup(translate(string)) % variables

    return {"_": _, "gettext": _make_new_gettext(translate), "ngettext": _make_new_ngettext(translations.ungettext)}


def language() -> str:
    """The language in use as LANGUAGES names it (Babel spells Chinese zh_Hans_CN)."""
    locale = get_locale()
    return next((code for code, parsed in _LOCALES.items() if parsed == locale), DEFAULT)


def init_app(app: Flask) -> None:
    folder = compile_catalogues()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(folder)
    Babel(app, locale_selector=_babel_locale)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=language)
    app.context_processor(template_gettext)
    app.jinja_env.filters.update(localtime=local_time, money=money, filesize=file_size)
    app.register_blueprint(bp)
