"""JSON text the engine writes on every step (the state, history bodies, state digests).

orjson writes what the standard library writes with no spaces and UTF-8 text, several times
faster; what it refuses (integers beyond 64 bits, keys that are not text, text that is not valid
Unicode) is written by the standard library, as before. Both read back the same values; floats
differ at most in how an exponent is spelt (1e-7, not 1e-07), which every JSON reader takes.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

import orjson


def dumps(value: Any, *, sort_keys: bool = False, default: Optional[Callable] = None) -> str:
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode()
    except orjson.JSONEncodeError:
        return _standard(value, sort_keys, default)


def reread(value: Any, *, default: Optional[Callable] = None) -> Any:
    """What `dumps(value, default=default)` reads back as (JSON data: dicts, lists, text, numbers).
    Text orjson wrote (integers within 64 bits, valid Unicode) orjson reads back as the standard
    library would, several times faster; what it refused the standard library writes and reads."""
    try:
        text = orjson.dumps(value, default=default)
    except orjson.JSONEncodeError:
        return json.loads(_standard(value, False, default))
    return orjson.loads(text)


def _standard(value: Any, sort_keys: bool, default: Optional[Callable]) -> str:
    return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, default=default)
