"""Limits on what a request may carry, checked before any view reads it (ids in URLs are bounded
by web.IdConverter).

- A JSON body (every REST call, and any request sent as JSON) is at most MAX_JSON_BYTES
  (413 beyond) and nests at most MAX_JSON_DEPTH arrays/objects (400 beyond), so no body can
  exhaust the parser's stack or the process's memory. Uploads (multipart) keep their own limit,
  MAX_CONTENT_LENGTH.
- A body the answer did not need is read to its end (at most the limit) and dropped.
"""
from __future__ import annotations

import re

from flask import Flask, abort, request

MAX_JSON_BYTES = 8 * 1024 * 1024  # room for 1 MiB of variables (engine/variable_limits.py) written as \uXXXX
MAX_JSON_DEPTH = 64
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


def json_depth(data: bytes) -> int:
    """How deep arrays and objects nest in JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = False
    skip_to = -1
    for match in _STRUCTURE.finditer(data):
        at = match.start()
        if at < skip_to:
            continue  # the character after a backslash
        char = data[at:at + 1]
        if in_string:
            if char == b"\\":
                skip_to = at + 2
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def check_json_body() -> None:
    """Before every request: a JSON body that is too large (413) or too deep (400) is refused."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.mimetype in _FORM_TYPES:
        return
    if not (request.is_json or request.path.startswith("/engine-rest/")):
        return
    request.max_content_length = MAX_JSON_BYTES  # Werkzeug answers 413 beyond it
    data = request.get_data(cache=True)
    if request.content_length is None and len(data) >= MAX_JSON_BYTES:
        # A chunked body (no Content-Length) is read up to the limit and cut there without a word
        abort(413, description=f"the JSON body is larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB")
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
        abort(400, description=f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")


def drop_unread_body(response):
    """After a request answered before its body was read (refused for want of a login, a CSRF
    token, a NUL in the path): the rest of the body, up to the request's limit, is read and dropped.
    granian closes a connection whose body was left unread, and a client still sending a large form
    then met a broken pipe instead of the answer."""
    length = request.content_length
    if length and length <= (request.max_content_length or 0):
        stream = request.stream
        while not stream.is_exhausted and stream.read(1 << 16):
            pass
    return response


def init_app(app: Flask) -> None:
    """Every request is checked first; what a refusal did not read of its body is dropped."""
    app.before_request(check_json_body)
    app.after_request(drop_unread_body)
