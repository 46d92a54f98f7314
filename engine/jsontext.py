"""JSON text the engine writes on every step (the state, history bodies, state digests).

orjson writes what the standard library writes with no spaces and UTF-8 text, several times
faster; what it refuses (integers beyond 64 bits, keys that are not text, text that is not valid
Unicode) is written by the standard library, as before. Both read back the same values; floats
differ at most in how an exponent is spelt (1e-7, not 1e-07), which every JSON reader takes. The
JSON columns are read by orjson too (`loads`), by the standard library where orjson would read a
value otherwise.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Optional, Union

import orjson


def dumps(value: Any, *, sort_keys: bool = False, default: Optional[Callable] = None) -> str:
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode()
    except orjson.JSONEncodeError:
        return _standard(value, sort_keys, default)


_DIGITS_AS_ZERO, _LONG_NUMBER = bytes.maketrans(b"123456789", b"0" * 9), b"0" * 19  # (faster than a regex)


def loads(data: Union[bytes, str]) -> Any:
    """JSON text read by orjson, several times faster than the standard library (a step reads the
    instance's variables, open tasks and waits, the task's candidates: the JSON columns). The
    standard library reads what orjson would read otherwise (19 digits in a row: an integer beyond
    64 bits is a float to orjson) or refuses (a lone surrogate, 1e400): the values are the same
    either way."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) < 0:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


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
