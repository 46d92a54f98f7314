"""Limits on process variables, checked wherever values enter an instance: REST calls, task forms,
messages, signals, external workers and script results. A value nested too deep, too large, or a
number JSON cannot hold (NaN, Infinity) would break saving, the chained history or its replay
later; it is refused at the door with the variable and the place named."""
from __future__ import annotations

import json
import math
from typing import Any, Mapping, Optional

MAX_DEPTH = 32  # levels of lists and maps inside one variable
MAX_BYTES = 1024 * 1024  # the variables of one change, as JSON text (UTF-8): documents are uploaded instead


def problem(values: Mapping[str, Any]) -> Optional[str]:
    """What is wrong with `values` (name -> value), or None when they may be stored."""
    return shape_problem(values) or size_problem(values)


def shape_problem(values: Mapping[str, Any]) -> Optional[str]:
    """A value nested more than MAX_DEPTH levels, or a number that is not finite."""
    for name, value in values.items():
        stack = [(value, 1, (name,))]
        while stack:  # iterative: a value nested thousands deep must not exhaust Python's stack
            item, depth, path = stack.pop()
            if isinstance(item, float) and not math.isfinite(item):
                return f"variable {_where(path)} is {item}: only finite numbers can be stored"
            if isinstance(item, dict):
                children = item.items()
            elif isinstance(item, (list, tuple)):
                children = enumerate(item)
            else:
                continue
            if depth > MAX_DEPTH:
                return f"variable {_where(path)} is nested more than {MAX_DEPTH} levels deep"
            stack.extend((child, depth + 1, path + (key,)) for key, child in children)
    return None


def size_problem(values: Mapping[str, Any]) -> Optional[str]:
    """Values larger than MAX_BYTES as JSON (check their shape first)."""
    size = len(json.dumps(values, ensure_ascii=False, default=str).encode())
    if size > MAX_BYTES:
        return (f"the variables are {size / 1024 / 1024:.1f} MB as JSON, more than {MAX_BYTES // 1024} KB: "
                "upload large content as a document and keep its reference")
    return None


def _where(path: tuple) -> str:
    name, rest = path[0], path[1:]
    if not rest:
        return f"'{name}'"
    shown = "".join(f"[{key!r}]" for key in rest[:4]) + ("[…]" if len(rest) > 4 else "")
    return f"'{name}' at {shown}"
