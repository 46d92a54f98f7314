"""No NUL character (U+0000) in the text a request brings. PostgreSQL's text cannot hold one (its
driver refuses any parameter with it), so a NUL in a query parameter, a form field or a JSON string
failed there with a 500 where SQLite took it. Every request is checked once before its view: the
path's parameters, the query string, the form fields and the strings of a JSON body; one with a NUL
is a 400 that names the field (the REST API's InvalidRequestException, the UI's error page in its
language), on both databases. Uploaded files are bytes and may hold anything."""
from __future__ import annotations

from typing import Any, Optional

from flask import request
from flask_babel import gettext as _

from engine.errors import InvalidInput

_JSON_NUL = b"\\u0000"  # how JSON writes a NUL in a string (a raw one is not JSON at all)


def refuse_nul_text():
    """Flask before_request: a 400 naming the first field whose text holds a NUL."""
    found = _nul_field()
    if found is None:
        return None
    kind, name = found
    name = name.replace("\x00", "\\u0000")
    if request.path.startswith("/engine-rest"):  # Camunda's InvalidRequestException, as the REST API answers
        raise InvalidInput(f"{kind} '{name}' contains a NUL character (U+0000), which text cannot hold")
    from . import render_error
    return render_error(400, detail=_("“%(name)s”含有空字符（U+0000），文本中不能有这个字符。", name=name))


def _nul_field() -> Optional[tuple[str, str]]:
    """(what, name) of the first field whose text holds a NUL: a parameter in the URL's path or its
    query, a form field, or the path of a JSON body's string (`variables.note.value`)."""
    for name, value in (request.view_args or {}).items():  # a part of the path: /start/<key>, /admin/users/<name>
        if isinstance(value, str) and "\x00" in value:
            return "path parameter", name
    if b"%00" in request.query_string:
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                return "query parameter", name
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            if "\x00" in (name or "") or (isinstance(value, str) and "\x00" in value):  # a part may have no name
                return "form field", name
    elif (request.is_json or request.path.startswith("/engine-rest/")) and _JSON_NUL in request.get_data(cache=True):
        path = _nul_path(request.get_json(force=True, silent=True))  # the exact walk only when it may hold one
        if path is not None:
            return "the JSON body's field", path
    return None


def _nul_path(body: Any) -> Optional[str]:
    """The path of the first string or key in `body` that holds a NUL, as `variables.note.value`."""
    stack = [(body, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "(the body)"
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                inner = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return inner
                stack.append((item, inner))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
    return None
