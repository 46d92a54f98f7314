"""No text a database cannot store in what a request brings: a NUL character (U+0000), which
PostgreSQL's text cannot hold (its driver refuses any parameter with it: a 500 there where SQLite
took it), and a lone surrogate (U+D800 to U+DFFF, which JSON can write as "\\ud800" but which is
no character: no UTF-8 encoder, JSON serializer or database takes it, and the engine answered 500
wherever one reached it). Every request is checked once before its view: the path's parameters,
the query string, the form fields and uploaded files' names, and the strings and keys of a JSON
body; one holding such text is a 400 that names the field (the REST API's InvalidRequestException,
the UI's error page in its language), on both databases. (Paths, queries and forms are decoded with replacement characters
and never hold a surrogate.) Uploaded files' content is bytes and may hold anything."""
from __future__ import annotations

import re
from typing import Any, Optional

from flask import request
from flask_babel import gettext as _

from engine.errors import InvalidInput

_JSON_NUL = b"\\u0000"  # how JSON writes a NUL in a string (a raw one is not JSON at all)
_JSON_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # how JSON writes half of a pair, or a lone one
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def refuse_unstorable_text():
    """Flask before_request: a 400 naming the first field whose text holds a NUL or a lone surrogate."""
    found = _unstorable_field()
    if found is None:
        return None
    kind, name, character = found
    name = _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", name)
    if request.path.startswith("/engine-rest"):  # Camunda's InvalidRequestException, as the REST API answers
        if character == "\x00":
            raise InvalidInput(f"{kind} '{name}' contains a NUL character (U+0000), which text cannot hold")
        raise InvalidInput(f"{kind} '{name}' contains a lone surrogate (U+{ord(character):04X}), which is not "
                           "a character: text cannot hold it")
    from . import render_error
    if character == "\x00":
        return render_error(400, detail=_("“%(name)s”含有空字符（U+0000），文本中不能有这个字符。", name=name))
    return render_error(400, detail=_("“%(name)s”含有单独的代理码位（U+%(code)s），它不是字符，文本中不能有。",
                                      name=name, code=f"{ord(character):04X}"))


def _unstorable_field() -> Optional[tuple[str, str, str]]:
    """(what, name, the character) of the first field whose text holds a NUL or a lone surrogate: a
    parameter in the URL's path or its query, a form field, or the path of a JSON body's string
    (`variables.note.value`)."""
    for name, value in (request.view_args or {}).items():  # a part of the path: /start/<key>, /admin/users/<name>
        if isinstance(value, str) and "\x00" in value:
            return "path parameter", name, "\x00"
    if b"%00" in request.query_string:
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                return "query parameter", name, "\x00"
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            if "\x00" in (name or "") or (isinstance(value, str) and "\x00" in value):  # a part may have no name
                return "form field", name, "\x00"
        for name, upload in request.files.items(multi=True):  # a deployment's resource, a document
            if "\x00" in (name or "") or "\x00" in (upload.filename or ""):
                return "file name", upload.filename or name, "\x00"
    elif request.is_json or request.path.startswith("/engine-rest/"):
        data = request.get_data(cache=True)
        if _JSON_NUL in data or _JSON_SURROGATE.search(data):  # the exact walk only when it may hold one
            found = _unstorable_path(request.get_json(force=True, silent=True))
            if found is not None:
                return ("the JSON body's field", *found)
    return None


def _unstorable_path(body: Any) -> Optional[tuple[str, str]]:
    """The path of the first string or key in `body` holding a NUL or a lone surrogate, as
    `variables.note.value`, and that character."""
    stack = [(body, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            found = _UNSTORABLE.search(value)
            if found:
                return path or "(the body)", found.group()
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                inner = f"{path}.{key}" if path else str(key)
                found = _UNSTORABLE.search(key)
                if found:
                    return inner, found.group()
                stack.append((item, inner))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
    return None
