"""FEEL's built-in functions: the DMN 1.5 library (chapter 10.3.4), with the standard's parameter
names so that they can be invoked with positional or named arguments.

`BUILTINS` maps a function's name to its signatures (tuples of parameter names: a trailing `?`
marks an optional one, a leading `*` takes the rest) and implementation.  An argument of the
wrong type, or any failure inside, gives null (FEEL's rule).  Regular expressions run in the
`regex` module on inputs and patterns of bounded size, at most REGEX_SECONDS of them in one
evaluation (`regex_time`): a pattern that backtracks without end (`(.*a){12}x`, `(a|aa)+$`) fails
the evaluation naming it, and does not hold the interpreter (the matching releases it).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import re
from time import monotonic
from datetime import date, datetime, time, timedelta, timezone
from decimal import (ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN,
                     ROUND_HALF_UP, ROUND_UP, Decimal, DecimalException)
from typing import Any, Callable, Optional

import regex

from engine import clock
from engine.errors import ExpressionError
from engine.feel_values import (DEC, MAX_ITEMS, Fail, Function, Range, YearsMonths, checked, compare,
                                equal, feel_date_time, feel_time, in_range, is_num, kind, num,
                                parse_date, parse_duration, text)

_MAX_REGEX_INPUT = 100_000
_MAX_PATTERN = 1_000
REGEX_SECONDS = 1.0  # the time every regular expression of one evaluation may take in all
_regex_deadline: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar("dalad_regex_deadline", default=None)


@contextlib.contextmanager
def regex_time():
    """An evaluation: its regular expressions share REGEX_SECONDS, counted from the first one
    (within another evaluation, the outer one's)."""
    if _regex_deadline.get() is not None:
        yield
        return
    token = _regex_deadline.set([None])
    try:
        yield
    finally:
        _regex_deadline.reset(token)


def _timed(run: Callable[..., Any], pattern: Any, *args: Any) -> Any:
    """`run(*args)` (a compiled pattern's search, sub or split) within the evaluation's time left."""
    now = monotonic()
    deadline = _regex_deadline.get()
    if deadline is None:
        deadline = [None]
    if deadline[0] is None:
        deadline[0] = now + REGEX_SECONDS
    try:
        if deadline[0] <= now:
            raise TimeoutError
        return run(*args, timeout=deadline[0] - now, concurrent=True)
    except TimeoutError:
        raise ExpressionError(f"regular expressions ran longer than {REGEX_SECONDS:g} s in one evaluation "
                              f"(pattern {_str(pattern)[:60]!r})") from None


def _coerced(value: Any, param: str) -> Any:
    """A singleton list for a one-value parameter is its item; one value for a list parameter is a
    list of it (DMN 1.4+)."""
    if param in _SCALAR and isinstance(value, list) and len(value) == 1:
        return value[0]
    if param in _LISTS and value is not None and not isinstance(value, list):
        return [value]
    return value


_OMITTED = object()  # an optional parameter not given (null given is null)


class Builtin:
    """A built-in function: its signatures and implementation."""

    __slots__ = ("name", "signatures", "impl", "pure")

    def __init__(self, name: str, signatures: list[tuple[str, ...]], impl: Callable[..., Any], pure: bool = True):
        self.name, self.signatures, self.impl, self.pure = name, signatures, impl, pure

    def bind(self, args: list[Any], named: Optional[dict[str, Any]]) -> Optional[list[Any]]:
        """The positional arguments for the implementation, or None when no signature fits.  A
        singleton list given for a parameter that takes one value is that value (DMN 1.4+)."""
        for sig in self.signatures:
            bound = self._bind(sig, args, named)
            if bound is not None:
                names = [p.rstrip("?").lstrip("*") for p in sig]
                return [_coerced(v, names[i] if i < len(names) else "") for i, v in enumerate(bound)]
        return None

    @staticmethod
    def _bind(sig: tuple[str, ...], args: list[Any], named: Optional[dict[str, Any]]) -> Optional[list[Any]]:
        required = [p for p in sig if not p.endswith("?") and not p.startswith("*")]
        names = [p.rstrip("?").lstrip("*") for p in sig]
        rest = bool(sig) and sig[-1].startswith("*")
        if named is None:
            if len(args) < len(required) or (not rest and len(args) > len(sig)):
                return None
            return list(args)
        if not set(named) <= set(names):
            return None
        bound = [named.get(n) for n in names]
        if rest:
            tail = bound.pop()
            bound.extend(tail if isinstance(tail, list) else [tail])
        while bound and len(bound) > len(required) and names[len(bound) - 1] not in named:
            bound.pop()
        return bound

    def __call__(self, *args: Any) -> Any:
        try:
            return self.impl(*args)
        except (Fail, TypeError, ValueError, AttributeError, ArithmeticError, DecimalException,
                OverflowError, IndexError, KeyError, re.error, regex.error):
            return None


BUILTINS: dict[str, Builtin] = {}
_LISTS = frozenset({"list", "entries", "contexts"})
_SCALAR = frozenset({"string", "match", "input", "pattern", "replacement", "flags", "from", "n", "number",
                     "scale", "dividend", "divisor", "date", "start position", "length", "negand", "year",
                     "month", "day", "hour", "minute", "second", "offset", "time", "to", "grouping separator",
                     "decimal separator"})


def _fn(name: str, *signatures: str, pure: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        sigs = [tuple(p.strip() for p in s.split(",") if p.strip()) for s in signatures]
        BUILTINS[name] = Builtin(name, sigs, impl, pure)
        return impl

    return register


# --------------------------------------------------------------------------- argument checks


def _str(x: Any) -> str:
    if not isinstance(x, str):
        raise Fail("not a string")
    return x


def _n(x: Any) -> Decimal:
    if not is_num(x):
        raise Fail("not a number")
    return num(x)


def _int(x: Any) -> int:
    n = _n(x)
    if n != n.to_integral_value():
        raise Fail("not a whole number")
    return int(n)


def _list(x: Any) -> list:
    if not isinstance(x, list):
        raise Fail("not a list")
    return x


def _items(args: tuple[Any, ...]) -> list:
    """A list argument, or the arguments themselves (`sum([1, 2])` or `sum(1, 2)`)."""
    if len(args) == 1 and isinstance(args[0], list):
        return args[0]
    if not args or (len(args) == 1 and args[0] is None):
        raise Fail("no list")
    return list(args)


def _bounded(items: list) -> list:
    if len(items) > MAX_ITEMS:
        raise Fail("list too long")
    return items


# --------------------------------------------------------------------------- conversion


@_fn("date", "from", "year, month, day")
def _date(*args: Any) -> Optional[date]:
    if len(args) == 3:
        return date(*(_int(a) for a in args))
    x = args[0]
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    value = _str(x)
    if "T" in value:  # the date of a date and time text (dalad reads dates so elsewhere too)
        return feel_date_time(value).date()
    return parse_date(value) if re.fullmatch(r"-?\d{4,9}-\d\d-\d\d", value) else None


@_fn("date and time", "from", "date, time")
def _date_time(*args: Any) -> Optional[datetime]:
    if len(args) == 2:
        day, moment = args
        if not isinstance(day, date) or not isinstance(moment, time):
            raise Fail("not a date and a time")
        d = day.date() if isinstance(day, datetime) else day
        return datetime.combine(d, moment)
    x = args[0]
    if isinstance(x, datetime):
        return x
    if isinstance(x, date):
        return datetime.combine(x, time())
    return feel_date_time(_str(x))


@_fn("time", "from", "hour, minute, second, offset?")
def _time(*args: Any) -> Optional[time]:
    if len(args) >= 3:
        h, m, s = _int(args[0]), _int(args[1]), _n(args[2])
        offset = args[3] if len(args) > 3 else None
        whole = int(s)
        value = time(h, m, whole, int((s - whole) * 1_000_000))
        if offset is not None:
            if not isinstance(offset, timedelta):
                raise Fail("offset is not a duration")
            return value.replace(tzinfo=timezone(offset))
        return value
    if len(args) != 1:
        raise Fail("arguments")
    x = args[0]
    if isinstance(x, datetime):
        return x.timetz()
    if isinstance(x, date):
        return time(tzinfo=timezone.utc)
    if isinstance(x, time):
        return x
    return feel_time(_str(x))


@_fn("number", "from, grouping separator?, decimal separator?")
def _number(x: Any, grouping: Any = None, decimal: Any = None) -> Optional[Decimal]:
    value = _str(x)
    if grouping not in (None, " ", ",", ".") or decimal not in (None, ".", ","):
        return None
    if grouping is not None and grouping == decimal:
        return None
    if grouping is not None:
        value = value.replace(grouping, "")
    if decimal is not None:
        value = value.replace(decimal, ".")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value):
        return None
    return checked(Decimal(value))


@_fn("string", "from")
def _string(x: Any) -> Optional[str]:
    return None if x is None else x if isinstance(x, str) else text(x)


@_fn("duration", "from")
def _duration(x: Any) -> Any:
    return parse_duration(_str(x))


@_fn("years and months duration", "from, to")
def _ym_duration(a: Any, b: Any) -> YearsMonths:
    if not isinstance(a, date) or not isinstance(b, date):
        raise Fail("not dates")
    x = a.date() if isinstance(a, datetime) else a
    y = b.date() if isinstance(b, datetime) else b
    months = (y.year - x.year) * 12 + (y.month - x.month)
    if months > 0 and y.day < x.day:
        months -= 1
    elif months < 0 and y.day > x.day:
        months += 1
    return YearsMonths(months)


@_fn("not", "negand")
def _not(x: Any) -> Optional[bool]:
    return (not x) if isinstance(x, bool) else None


# --------------------------------------------------------------------------- strings


@_fn("substring", "string, start position, length?")
def _substring(s: Any, start: Any, length: Any = None) -> str:
    value, first = _str(s), _int(start)
    chars = list(value)
    if first == 0 or abs(first) > len(chars) + (1 if first > 0 else 0):
        return "" if first > len(chars) else None
    index = first - 1 if first > 0 else len(chars) + first
    if length is None:
        return "".join(chars[index:])
    count = int(_n(length))
    if count < 0:
        raise Fail("negative length")
    return "".join(chars[index:index + count])


@_fn("string length", "string")
def _string_length(s: Any) -> Decimal:
    return Decimal(len(_str(s)))


@_fn("upper case", "string")
def _upper(s: Any) -> str:
    return _str(s).upper()


@_fn("lower case", "string")
def _lower(s: Any) -> str:
    return _str(s).lower()


@_fn("substring before", "string, match")
def _before_text(s: Any, match: Any) -> str:
    value, part = _str(s), _str(match)
    index = value.find(part)
    return "" if index < 0 else value[:index]


@_fn("substring after", "string, match")
def _after_text(s: Any, match: Any) -> str:
    value, part = _str(s), _str(match)
    index = value.find(part)
    return "" if index < 0 else value[index + len(part):]


@_fn("contains", "string, match")
def _contains(s: Any, match: Any) -> bool:
    return _str(match) in _str(s)


@_fn("starts with", "string, match")
def _starts_with(s: Any, match: Any) -> bool:
    return _str(s).startswith(_str(match))


@_fn("ends with", "string, match")
def _ends_with(s: Any, match: Any) -> bool:
    return _str(s).endswith(_str(match))


_CLASS_OR_ESCAPE = r"(\[(?:\\.|[^\]])*\]|\\.)"
_PROPERTIES = {"L": r"[^\W\d_]", "Lu": "[A-Z]", "Ll": "[a-z]", "N": r"\d", "Nd": r"\d",
               "IsBasicLatin": r"[\x00-\x7F]"}


def _xpath_to_python(source: str, options: str) -> str:
    """An XML Schema / XPath regular expression as Python's `re` reads it."""
    if re.search(r"\(\?[^:=!<]", source):
        raise Fail("unsupported regular expression")
    if "x" in options:  # whitespace outside character classes is not part of the pattern
        source = re.sub(r"(\[(?:\\.|[^\]])*\])|\s+", lambda m: m.group(1) or "", source)
    # character class subtraction: [A-Z-[OI]] is an A-Z that is not O or I
    source = re.sub(r"\[((?:\\.|[^\[\]])*)-\[((?:\\.|[^\]])*)\]\]", r"(?![\2])[\1]", source)

    def prop(m: re.Match) -> str:
        if m.group(0).startswith("\\p{"):
            name = m.group(0)[3:-1]
            if name not in _PROPERTIES:
                raise Fail(f"unsupported character property {name}")
            return _PROPERTIES[name]
        return m.group(0)

    source = re.sub(r"\[(?:\\.|[^\]])*\]|\\p\{[A-Za-z]+\}|\\.", prop, source)
    if "s" not in options:  # XPath's '.' matches neither \n nor \r
        source = re.sub(_CLASS_OR_ESCAPE + r"|\.", lambda m: m.group(1) or "[^\\n\\r]", source)
    return source


_MAX_EXPANDED = 10_000  # atoms of a pattern with its counted repeats written out
_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")


def _expanded_size(source: str) -> int:
    """How many atoms (characters, classes, escapes) `source` holds with each counted repeat
    (`a{1000}`, `(ab){2,5}`) written out as often as it may run: the `regex` module builds about
    that much when it compiles the pattern."""
    levels = [[0, 0]]  # per open group: its size so far, the size of its last atom
    i = 0
    while i < len(source):
        char = source[i]
        count = _COUNT.match(source, i) if char == "{" else None
        if count:
            times = int(count.group(2) or count.group(1))
            top = levels[-1]
            top[0] += top[1] * (times - 1)
            top[1] *= times
            i = count.end()
            continue
        if char == "(":
            levels.append([0, 0])
            i += 1
            continue
        if char == ")" and len(levels) > 1:
            atom, i = levels.pop()[0], i + 1
        elif char == "\\":
            atom, i = 1, i + 2
        elif char == "[":
            i += 1
            i += source[i:i + 1] == "^"
            i += source[i:i + 1] == "]"
            while i < len(source) and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
            atom, i = 1, i + 1
        else:
            atom, i = 1, i + 1
        levels[-1][0] += atom
        levels[-1][1] = atom
    return sum(size for size, _ in levels)


def _regex(pattern: Any, flags: Any) -> regex.Pattern:
    source = _str(pattern)
    options = _str(flags) if flags is not None else ""
    if len(source) > _MAX_PATTERN or set(options) - set("smixq"):
        raise Fail("bad pattern or flags")
    source = re.escape(source) if "q" in options else _xpath_to_python(source, options)
    value = regex.VERSION0
    if "s" in options:
        value |= regex.S
    if "m" in options:
        value |= regex.M
    if "i" in options:
        value |= regex.I
    if re.search(r"\[(?:\\[^\d]|[^\]\\])*\\\d", source):
        raise Fail("a back-reference inside a character class")
    if _expanded_size(source) > _MAX_EXPANDED:  # (a{1000}){1000} would take gigabytes to compile
        raise Fail("a pattern whose counted repeats hold too much")
    return regex.compile(source, value)


def _subject(s: Any) -> str:
    value = _str(s)
    if len(value) > _MAX_REGEX_INPUT:
        raise Fail("input too long for a regular expression")
    return value


@_fn("matches", "input, pattern, flags?")
def _matches(s: Any, pattern: Any, flags: Any = None) -> bool:
    return _timed(_regex(pattern, flags).search, pattern, _subject(s)) is not None


@_fn("replace", "input, pattern, replacement, flags?")
def _replace(s: Any, pattern: Any, replacement: Any, flags: Any = None) -> str:
    compiled = _regex(pattern, flags)
    template = _str(replacement)
    if flags is not None and "q" in _str(flags):
        return _timed(compiled.sub, pattern, lambda m: template, _subject(s))
    python_template = re.sub(r"\\(.)|\$(\d)", lambda m: ("\\\\" if m[1] == "\\" else m[1] if m[1] else f"\\g<{m[2]}>"),
                             template)
    if compiled.groups == 0 and re.search(r"\\g<[1-9]>", python_template):
        python_template = re.sub(r"\\g<[1-9]>", "", python_template)
    return _timed(compiled.sub, pattern, python_template, _subject(s))


@_fn("split", "string, delimiter")
def _split(s: Any, delimiter: Any) -> list[str]:
    return _timed(_regex(delimiter, None).split, delimiter, _subject(s))


@_fn("string join", "list, delimiter?")
def _string_join(items: Any, delimiter: Any = None) -> str:
    parts = [x for x in _list(items) if x is not None]
    if any(not isinstance(x, str) for x in parts):
        raise Fail("not strings")
    sep = "" if delimiter is None else _str(delimiter)
    return sep.join(parts)


# --------------------------------------------------------------------------- lists


@_fn("list contains", "list, element")
def _list_contains(items: Any, element: Any) -> bool:
    return any(equal(x, element) is True for x in _list(items))


@_fn("count", "list", "*c")
def _count(*args: Any) -> Decimal:
    return Decimal(len(_items(args)))


def _extreme(args: tuple[Any, ...], sign: int) -> Any:
    values = _items(args)
    if not values:
        return None
    best = values[0]
    for v in values[1:]:
        c = compare(v, best)
        if c is None:
            return None
        if c * sign > 0:
            best = v
    return best if compare(best, best) is not None else None


@_fn("min", "list", "*c")
def _min(*args: Any) -> Any:
    return _extreme(args, -1)


@_fn("max", "list", "*c")
def _max(*args: Any) -> Any:
    return _extreme(args, 1)


def _numbers(args: tuple[Any, ...]) -> list[Decimal]:
    return [_n(v) for v in _items(args)]


def _fold(args: tuple[Any, ...], start: Decimal, op: Callable[[Decimal, Decimal], Decimal]) -> Optional[Decimal]:
    values = _numbers(args)
    if not values:
        return None
    total = start
    for v in values:
        total = op(total, v)
    return checked(total)


@_fn("sum", "list", "*n")
def _sum(*args: Any) -> Optional[Decimal]:
    return _fold(args, Decimal(0), DEC.add)


@_fn("mean", "list", "*n")
def _mean(*args: Any) -> Optional[Decimal]:
    total = _sum(*args)
    return None if total is None else checked(DEC.divide(total, Decimal(len(_numbers(args)))))


@_fn("product", "list", "*n")
def _product(*args: Any) -> Optional[Decimal]:
    return _fold(args, Decimal(1), DEC.multiply)


@_fn("median", "list", "*n")
def _median(*args: Any) -> Optional[Decimal]:
    values = sorted(_numbers(args))
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return DEC.divide(DEC.add(values[middle - 1], values[middle]), Decimal(2))


@_fn("stddev", "list", "*n")
def _stddev(*args: Any) -> Optional[Decimal]:
    values = _numbers(args)
    if len(values) < 2:
        return None
    mean = DEC.divide(sum(values, Decimal(0)), Decimal(len(values)))
    squares = sum((DEC.multiply(v - mean, v - mean) for v in values), Decimal(0))
    return DEC.sqrt(DEC.divide(squares, Decimal(len(values) - 1)))


@_fn("mode", "list", "*n")
def _mode(*args: Any) -> list[Decimal]:
    values = _numbers(args)
    if not values:
        return []
    counts: dict[Decimal, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    top = max(counts.values())
    return sorted(v for v, c in counts.items() if c == top)


@_fn("all", "list", "*b")
def _all(*args: Any) -> Optional[bool]:
    values = _items(args)
    if any(v is False for v in values):
        return False
    if all(v is True for v in values):
        return True
    return None


@_fn("any", "list", "*b")
def _any(*args: Any) -> Optional[bool]:
    values = _items(args)
    if any(v is True for v in values):
        return True
    if all(v is False for v in values):
        return False
    return None


@_fn("sublist", "list, start position, length?")
def _sublist(items: Any, start: Any, length: Any = None) -> list:
    values, first = _list(items), _int(start)
    if first == 0 or abs(first) > len(values):
        raise Fail("position out of the list")
    index = first - 1 if first > 0 else len(values) + first
    if length is None:
        return values[index:]
    count = _int(length)
    if count < 0 or index + count > len(values):
        raise Fail("length out of the list")
    return values[index:index + count]


@_fn("append", "list, *item")
def _append(items: Any, *more: Any) -> list:
    return _bounded(_list(items) + list(more))


@_fn("concatenate", "*list")
def _concatenate(*lists: Any) -> list:
    out: list = []
    for x in lists:
        out.extend(_list(x))
        _bounded(out)
    return out


@_fn("insert before", "list, position, newItem")
def _insert_before(items: Any, position: Any, new: Any) -> list:
    values, at = list(_list(items)), _int(position)
    if at == 0 or abs(at) > len(values):
        raise Fail("position out of the list")
    values.insert(at - 1 if at > 0 else len(values) + at, new)
    return values


@_fn("remove", "list, position")
def _remove(items: Any, position: Any) -> list:
    values, at = list(_list(items)), _int(position)
    if at == 0 or abs(at) > len(values):
        raise Fail("position out of the list")
    del values[at - 1 if at > 0 else at]
    return values


@_fn("reverse", "list")
def _reverse(items: Any) -> list:
    return list(reversed(_list(items)))


@_fn("index of", "list, match")
def _index_of(items: Any, match: Any) -> list[Decimal]:
    return [Decimal(i) for i, x in enumerate(_list(items), start=1) if equal(x, match) is True]


_MAX_COMPARISONS = 200_000  # of lists, contexts and dates with each other, in one `distinct values`


def _distinct(values: list) -> list:
    """The values without repeats (FEEL's `=`), in order. Nulls, booleans, numbers and texts are
    found again by hash (texts only when no date is among them: an ISO text equals its date); the
    others are compared with each other, at most _MAX_COMPARISONS times."""
    texts_by_hash = not any(isinstance(x, date) for x in values)
    seen: set = set()
    out: list = []
    others: list = []
    compared = 0
    for x in values:
        k = kind(x)
        if k in ("null", "boolean", "number") or (k == "string" and texts_by_hash):
            if (k, x) not in seen:
                seen.add((k, x))
                out.append(x)
            continue
        compared += len(others)
        if compared > _MAX_COMPARISONS:
            raise ExpressionError(f"distinct values: more than {_MAX_COMPARISONS:,} comparisons of lists, "
                                  "contexts or dates")
        if not any(equal(x, y) is True for y in others):
            others.append(x)
            out.append(x)
    return out


@_fn("union", "*list")
def _union(*lists: Any) -> list:
    return _distinct(_concatenate(*lists))


@_fn("distinct values", "list")
def _distinct_values(items: Any) -> list:
    return _distinct(_list(items))


def _flat(items: list, out: list, depth: int = 0) -> list:
    if depth > 100:
        raise Fail("nested too deeply")
    for x in items:
        if isinstance(x, list):
            _flat(x, out, depth + 1)
        else:
            out.append(x)
    return out


@_fn("flatten", "list")
def _flatten(items: Any) -> list:
    return _flat(_list(items), [])


@_fn("list replace", "list, position, newItem", "list, match, newItem")
def _list_replace(items: Any, where: Any, new: Any) -> list:
    values = list(_list(items))
    if isinstance(where, Function):
        out = []
        for x in values:
            matched = call_function(where, [x, new])
            if not isinstance(matched, bool):
                raise Fail("the match function gives no boolean")
            out.append(new if matched else x)
        return out
    at = int(_n(where))
    if at == 0 or abs(at) > len(values):
        raise Fail("position out of the list")
    values[at - 1 if at > 0 else at] = new
    return values


@_fn("sort", "list, precedes?")
def _sort(items: Any, precedes: Any = None) -> list:
    values = list(_list(items))
    if precedes is None:
        for x in values[1:]:
            if compare(values[0], x) is None:
                raise Fail("not comparable")
        return sorted(values, key=functools.cmp_to_key(lambda a, b: compare(a, b) or 0))
    if not isinstance(precedes, Function):
        raise Fail("precedes is not a function")

    def order(a: Any, b: Any) -> int:
        if call_function(precedes, [a, b]) is True:
            return -1
        return 1 if call_function(precedes, [b, a]) is True else 0

    return sorted(values, key=functools.cmp_to_key(order))


# --------------------------------------------------------------------------- numbers

_ROUNDINGS = {"round up": ROUND_UP, "round down": ROUND_DOWN, "round half up": ROUND_HALF_UP,
              "round half down": ROUND_HALF_DOWN}


def _rounded(n: Any, scale: Any, rounding: str) -> Decimal:
    if scale is None:
        raise Fail("null scale")
    value, places = _n(n), 0 if scale is _OMITTED else int(_n(scale))
    if not -6111 <= places <= 6176:
        raise Fail("scale out of range")
    if value.as_tuple().exponent >= -places:  # nothing to round
        return value
    result = value.quantize(Decimal(1).scaleb(-places), rounding=rounding, context=DEC)
    return result + 0 if result == 0 else result


@_fn("decimal", "n, scale")
def _decimal(n: Any, scale: Any) -> Decimal:
    return _rounded(n, scale, ROUND_HALF_EVEN)


@_fn("floor", "n, scale?")
def _floor(n: Any, scale: Any = _OMITTED) -> Decimal:
    return _rounded(n, scale, ROUND_FLOOR)


@_fn("ceiling", "n, scale?")
def _ceiling(n: Any, scale: Any = _OMITTED) -> Decimal:
    return _rounded(n, scale, ROUND_CEILING)


for _name, _mode_name in _ROUNDINGS.items():
    BUILTINS[_name] = Builtin(_name, [("n", "scale?")],
                              lambda n, scale=_OMITTED, _r=_mode_name: _rounded(n, scale, _r))


@_fn("abs", "n")
def _abs(x: Any) -> Any:
    if isinstance(x, timedelta):
        return abs(x)
    if isinstance(x, YearsMonths):
        return YearsMonths(abs(x.total_months))
    return abs(_n(x))


@_fn("modulo", "dividend, divisor")
def _modulo(a: Any, b: Any) -> Optional[Decimal]:
    x, y = _n(a), _n(b)
    if y == 0:
        return None
    return checked(x - y * DEC.divide(x, y).to_integral_value(rounding=ROUND_FLOOR))


@_fn("sqrt", "number")
def _sqrt(x: Any) -> Optional[Decimal]:
    value = _n(x)
    return None if value < 0 else DEC.sqrt(value)


@_fn("log", "number")
def _log(x: Any) -> Optional[Decimal]:
    value = _n(x)
    return None if value <= 0 else DEC.ln(value)


@_fn("exp", "number")
def _exp(x: Any) -> Optional[Decimal]:
    return checked(DEC.exp(_n(x)))


@_fn("odd", "number")
def _odd(x: Any) -> bool:
    return _int(x) % 2 == 1


@_fn("even", "number")
def _even(x: Any) -> bool:
    return _int(x) % 2 == 0


# --------------------------------------------------------------------------- dates and times


@_fn("is", "value1, value2")
def _is(a: Any, b: Any) -> bool:
    if kind(a) != kind(b):
        return False
    if isinstance(a, (datetime, time)):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None) and (a.tzinfo is None) == (b.tzinfo is None) \
            and (a.tzinfo is None or (a.utcoffset() == b.utcoffset() and
                                      getattr(a.tzinfo, "key", None) == getattr(b.tzinfo, "key", None)))
    return equal(a, b) is True


def _day(x: Any) -> date:
    if not isinstance(x, date):
        raise Fail("not a date")
    return x.date() if isinstance(x, datetime) else x


@_fn("day of year", "date")
def _day_of_year(x: Any) -> Decimal:
    return Decimal(_day(x).timetuple().tm_yday)


@_fn("day of week", "date")
def _day_of_week(x: Any) -> str:
    return ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")[_day(x).weekday()]


@_fn("month of year", "date")
def _month_of_year(x: Any) -> str:
    return ("January", "February", "March", "April", "May", "June", "July", "August", "September",
            "October", "November", "December")[_day(x).month - 1]


@_fn("week of year", "date")
def _week_of_year(x: Any) -> Decimal:
    return Decimal(_day(x).isocalendar()[1])


@_fn("now", "", pure=False)
def _now() -> datetime:
    return clock.now().astimezone(clock.local_zone())


@_fn("today", "", pure=False)
def _today() -> date:
    return clock.today()


# --------------------------------------------------------------------------- ranges (Allen's relations)


def _as_range(x: Any) -> Range:
    if isinstance(x, Range):
        return x
    if x is None:
        raise Fail("null")
    return Range(x, x, True, True)


def _lt(a: Any, b: Any) -> bool:
    c = compare(a, b)
    if c is None:
        raise Fail("not comparable")
    return c < 0


def _eqv(a: Any, b: Any) -> bool:
    c = compare(a, b)
    if c is None:
        raise Fail("not comparable")
    return c == 0


def _before(a: Any, b: Any) -> bool:
    x, y = _as_range(a), _as_range(b)
    return _lt(x.end, y.start) or (_eqv(x.end, y.start) and not (x.end_included and y.start_included))


def _meets(a: Any, b: Any) -> bool:
    x, y = _as_range(a), _as_range(b)
    return x.end_included and y.start_included and _eqv(x.end, y.start)


def _overlaps(a: Any, b: Any) -> bool:
    x, y = _as_range(a), _as_range(b)
    return not (_before(x, y) or _before(y, x))


def _overlaps_before(a: Any, b: Any) -> bool:
    x, y = _as_range(a), _as_range(b)
    starts_first = _lt(x.start, y.start) or (_eqv(x.start, y.start) and x.start_included and not y.start_included)
    ends_inside = (_lt(y.start, x.end) or (_eqv(x.end, y.start) and x.end_included and y.start_included)) and (
        _lt(x.end, y.end) or (_eqv(x.end, y.end) and (not x.end_included or y.end_included)))
    return starts_first and ends_inside


def _finishes(a: Any, b: Any) -> bool:
    if not isinstance(a, Range):
        y = _as_range(b)
        return y.end_included and _eqv(a, y.end)
    x, y = a, _as_range(b)
    return x.end_included == y.end_included and _eqv(x.end, y.end) and (
        _lt(y.start, x.start) or (_eqv(x.start, y.start) and (not x.start_included or y.start_included)))


def _includes(a: Any, b: Any) -> bool:
    x = _as_range(a)
    if not isinstance(b, Range):
        result = in_range(x, b)
        if result is None:
            raise Fail("not comparable")
        return result
    y = b
    start_ok = _lt(x.start, y.start) or (_eqv(x.start, y.start) and (x.start_included or not y.start_included))
    end_ok = _lt(y.end, x.end) or (_eqv(x.end, y.end) and (x.end_included or not y.end_included))
    return start_ok and end_ok


def _starts(a: Any, b: Any) -> bool:
    if not isinstance(a, Range):
        y = _as_range(b)
        return y.start_included and _eqv(a, y.start)
    x, y = a, _as_range(b)
    return x.start_included == y.start_included and _eqv(x.start, y.start) and (
        _lt(x.end, y.end) or (_eqv(x.end, y.end) and (not x.end_included or y.end_included)))


def _coincides(a: Any, b: Any) -> bool:
    x, y = _as_range(a), _as_range(b)
    return x.start_included == y.start_included and x.end_included == y.end_included and \
        _eqv(x.start, y.start) and _eqv(x.end, y.end)


def _range_fn(name: str, impl: Callable[[Any, Any], bool]) -> None:
    signatures = [("point1", "point2"), ("point", "range"), ("range", "point"), ("range1", "range2")]

    def run(a: Any, b: Any) -> bool:
        if a is None or b is None:
            raise Fail("null")
        return impl(a, b)

    BUILTINS[name] = Builtin(name, signatures, run)


_range_fn("before", _before)
_range_fn("after", lambda a, b: _before(b, a))
_range_fn("meets", _meets)
_range_fn("met by", lambda a, b: _meets(b, a))
_range_fn("overlaps", _overlaps)
_range_fn("overlaps before", _overlaps_before)
_range_fn("overlaps after", lambda a, b: _overlaps_before(b, a))
_range_fn("finishes", _finishes)
_range_fn("finished by", lambda a, b: _finishes(b, a))
_range_fn("includes", _includes)
_range_fn("during", lambda a, b: _includes(b, a))
_range_fn("starts", _starts)
_range_fn("started by", lambda a, b: _starts(b, a))
_range_fn("coincides", _coincides)


# --------------------------------------------------------------------------- contexts


def _context(x: Any) -> dict:
    if not isinstance(x, dict):
        raise Fail("not a context")
    return x


@_fn("get value", "m, key")
def _get_value(m: Any, key: Any) -> Any:
    return _context(m).get(_str(key))


@_fn("get entries", "m")
def _get_entries(m: Any) -> list:
    return [{"key": k, "value": v} for k, v in _context(m).items()]


@_fn("context", "entries")
def _context_of(entries: Any) -> dict:
    out: dict = {}
    for entry in _list(entries):
        entry = _context(entry)
        if "key" not in entry or "value" not in entry:
            raise Fail("entry without key or value")
        key = _str(entry["key"])
        if key in out:
            raise Fail("duplicate key")
        out[key] = entry["value"]
    return out


@_fn("context put", "context, key, value", "context, keys, value")
def _context_put(m: Any, key: Any, value: Any) -> dict:
    base = dict(_context(m))
    if isinstance(key, list):
        if not key:
            raise Fail("no keys")
        if len(key) == 1:
            return _context_put(base, key[0], value)
        inner = base.get(_str(key[0]))
        base[key[0]] = _context_put(_context(inner), key[1:], value)
        return base
    base[_str(key)] = value
    return base


@_fn("context merge", "contexts")
def _context_merge(contexts: Any) -> dict:
    out: dict = {}
    for m in _list(contexts):
        out.update(_context(m))
    return out


# --------------------------------------------------------------------------- calling FEEL functions

_caller: list[Callable[[Function, list[Any]], Any]] = []


def call_function(fn: Function, args: list[Any]) -> Any:
    """Call a FEEL function value (set up by engine.feel)."""
    return _caller[0](fn, args)


def uses(caller: Callable[[Function, list[Any]], Any], range_reader: Callable[[str], Any]) -> None:
    """engine.feel hands over how to call a function value and how to read a range's text."""
    _caller[:] = [caller]

    def _range(x: Any) -> Any:
        return range_reader(_str(x))

    BUILTINS["range"] = Builtin("range", [("from",)], _range)


__all__ = ["BUILTINS", "Builtin", "call_function", "uses"]
