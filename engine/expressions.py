"""The one safe evaluator for every expression that comes from a diagram.

Two forms are accepted by `compile_expression`:

* Camunda 7 JUEL, the whole text wrapped in `${...}` or `#{...}`: `${amount >= 1000 && approved}`,
  `${empty comment}`, `${order.total gt 100 ? 'big' : 'small'}`, `${add_working_days(start, 5)}`.
* A plain Python expression (SpiffWorkflow's native form): `amount >= 1000 and approved`,
  `x in ['a', 'b']`, `len(items) > 2`, `d.get('k', 0) + 1`.

Nothing is ever handed to Python's own code execution.  JUEL is read by a small tokenizer and
Pratt parser that builds Python `ast` nodes; Python text is read with `ast.parse(mode="eval")`.
Both trees then go through one builder that accepts an explicit whitelist of node types and turns
the tree into nested closures, so evaluating `${amount >= 1000}` is two or three plain calls.

What is refused at compile time (ExpressionError naming the problem and its column):
names or attributes starting with `_`, lambdas, comprehensions and generator expressions, f-strings,
`:=`, `*`/`**` unpacking, keyword arguments, bit operators, and any call that is not one of the
whitelisted functions (`FUNCTIONS`) or methods (`METHODS`).  Attribute access never reaches
Python attributes: on a dict it reads a key; on a date/datetime/duration only the fields in
`_TEMPORAL_FIELDS` are readable.

Semantics worth knowing:

* JUEL follows EL loosely: `&& || ! ?:` take booleans, and a string 'true'/'false' (any case) or
  null counts as one (other values are an error).  A number compared or combined with a numeric
  string converts the string (`'1500' > 1000` is true); `'a' + 'b'` concatenates.  `a.b` and
  `a['b']` on a dict without that key, on a list index out of range, or on null give null.
  Methods `size() isEmpty() contains() containsKey() startsWith() endsWith() toLowerCase()
  toUpperCase() trim() equals()` are accepted as Camunda users write them.
* The Python form keeps Python semantics (truthiness, `and` returning an operand, KeyError on a
  missing key becomes an ExpressionError).
* In both forms dates, datetimes and ISO strings compare and combine with each other: a date
  against a datetime is read as local midnight, a naive datetime as local time, and an ISO string
  beside a date or a duration is read as a date/datetime.  `null + 1` is an error.
"""
from __future__ import annotations

import ast
import calendar
import contextvars
import functools
import operator
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, Optional

from engine import clock, workdays
from engine.errors import ExpressionError

__all__ = ["Expression", "compile_any", "compile_expression", "compile_template", "text_of", "FUNCTIONS", "METHODS"]

Fn = Callable[[Mapping[str, Any]], Any]

_NUM = (int, float)  # with `type(x) in _NUM`, bool is not a number here
_MAX_DEPTH = 100  # deepest JUEL nesting

# Bounded work. Every value an evaluation builds is limited in size, and every evaluation (an
# expression, or a whole script with the expressions in it) has a budget of work units: a unit is
# one element walked by the engine's own code (measure), eight elements or characters handled by
# Python's built-ins (len // 8), and a script step is eight. Past either limit it fails, naming the
# expression, well within a second; nothing grows without bound in memory or time.
MAX_TEXT = 1_000_000  # characters of a string
MAX_ITEMS = 100_000  # elements of one list, tuple, set or dict
MAX_INT_BITS = 64_000  # an integer (about 19 000 digits)
MAX_SIZE = 1_000_000  # units of one value with everything in it (a string counts its length)
MAX_NESTING = 64  # lists and dicts inside each other (as deep as an HTTP JSON body may nest)
WORK_BUDGET = 2_000_000  # units of work of one evaluation or one script run
_MAX_SEQUENCE = MAX_TEXT  # longest string/list a `*` may build
_MAX_POW_BITS = MAX_INT_BITS  # largest integer a `**` may build
_BIG = 1 << 62  # below this an int needs no size check
_budget: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar("dalad_work_budget", default=None)


class _Fail(Exception):
    """A run-time failure; `Expression.evaluate` turns it into an ExpressionError naming the expression."""


class Expression:
    """A compiled expression or template: `evaluate(variables)` gives its value."""

    __slots__ = ("source", "names", "_fn")

    def __init__(self, source: str, names: frozenset[str], fn: Fn):
        self.source = source
        self.names = names
        self._fn = fn

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Return the value over `variables`; raise ExpressionError if that fails."""
        token = _budget.set([WORK_BUDGET]) if _budget.get() is None else None
        try:
            value = self._fn(variables)
            if not isinstance(value, (bool, int, float, type(None))):
                charge(measure(value))
            return value
        except _Fail as exc:
            raise ExpressionError(str(exc), self.source) from None
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
            raise ExpressionError(_describe(exc), self.source) from exc
        except RecursionError as exc:  # pragma: no cover - needs pathological data
            raise ExpressionError("value nested too deeply", self.source) from exc
        finally:
            if token is not None:
                _budget.reset(token)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


# --------------------------------------------------------------------------- bounded work


def charge(units: int) -> None:
    """Count `units` of work against the running evaluation's budget."""
    left = _budget.get()
    if left is not None:
        left[0] -= units
        if left[0] < 0:
            raise _Fail(f"the evaluation did more than {WORK_BUDGET:,} units of work")


def measure(value: Any, limit: int = MAX_SIZE, *, not_in: Any = None) -> int:
    """The size of `value` with everything in it, counted as often as it is referenced (what its
    text or JSON would hold); fails past `limit`, nested deeper than MAX_NESTING, or when `value`
    holds the container `not_in` (which would then hold itself). A value held twice is walked
    once: the work is the number of distinct values, charged to the budget."""
    seen: dict[int, int] = {-1: 0}
    size = _size(value, 0, limit, not_in, seen)
    charge(seen[-1])  # the elements walked
    return size


def _size(x: Any, depth: int, limit: int, not_in: Any, seen: dict) -> int:
    t = type(x)
    if t is str:
        return 1 + len(x)
    if t is int:
        return x.bit_length() // 60 + 1 if (x > _BIG or x < -_BIG) else 1
    if t in _SCALARS:
        return 1
    known = seen.get(id(x))
    if known is not None:
        return known
    if x is not_in:
        raise _Fail("a list or dict may not hold itself")
    if depth >= MAX_NESTING:
        raise _Fail(f"values nested deeper than {MAX_NESTING} levels are not allowed")
    items = [*x.keys(), *x.values()] if isinstance(x, Mapping) else x if t in _CONTAINERS else ()
    total = 1 + len(items)
    seen[-1] += total
    for item in items:
        kind = type(item)
        if kind is str:
            total += 1 + len(item)
        elif kind in _SCALARS or (kind is int and -_BIG <= item <= _BIG):
            total += 1
        else:
            total += _size(item, depth + 1, limit, not_in, seen)
        if total > limit:
            raise _Fail(f"a value larger than {limit:,} units (strings count their length) is not allowed")
    seen[id(x)] = total
    return total


_SCALARS = frozenset({float, bool, type(None), date, datetime, time, timedelta})
_CONTAINERS = frozenset({list, tuple, set, frozenset})


def bounded(value: Any) -> Any:
    """`value` if its own size is within the limits (not what it holds: see `measure`)."""
    t = type(value)
    if t is str:
        if len(value) > MAX_TEXT:
            raise _Fail(f"a string longer than {MAX_TEXT:,} characters is not allowed")
        charge(_work(value))
    elif t is list or t is tuple or t is dict or t is set:
        if len(value) > MAX_ITEMS:
            raise _Fail(f"a {t.__name__} of more than {MAX_ITEMS:,} items is not allowed")
        charge(_work(value))
    elif t is int and (value > _BIG or value < -_BIG) and value.bit_length() > MAX_INT_BITS:
        raise _Fail(f"an integer of more than {MAX_INT_BITS:,} bits is not allowed")
    return value


def _work(value: Any) -> int:
    """The work of a built-in reading `value` once."""
    return 1 + len(value) // 8 if type(value) in (str, list, tuple, dict, set) else 1


# --------------------------------------------------------------------------- value helpers


def _tname(x: Any) -> str:
    """The kind of a value, in words a process administrator knows."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, (int, float)):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, datetime):
        return "datetime"
    if isinstance(x, date):
        return "date"
    if isinstance(x, timedelta):
        return "duration"
    if isinstance(x, (list, tuple)):
        return "list"
    if isinstance(x, Mapping):
        return "map"
    return type(x).__name__


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, KeyError):
        return f"no key {_show(exc.args[0])}" if exc.args else "missing key"
    return str(exc) or type(exc).__name__


def _el_bool(x: Any) -> bool:
    """EL coercion to boolean: booleans, null (false) and the strings 'true'/'false'/''."""
    if x is True or x is False:
        return x
    if x is None:
        return False
    if isinstance(x, str):
        word = x.strip().lower()
        if word == "true":
            return True
        if word in ("false", ""):
            return False
    raise _Fail(f"cannot use {_tname(x)} {_show(x)} as a boolean")


def _el_number(s: str) -> Optional[float | int]:
    """A numeric string as a number, else None."""
    text = s.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _is_empty(x: Any) -> bool:
    if x is None:
        return True
    if isinstance(x, (str, list, tuple, set, frozenset, Mapping)):
        return len(x) == 0
    return False


def _to_text(x: Any) -> str:
    """A value as it appears inside template text: JUEL's coercion to String (EL 1.18.2: null is '',
    otherwise the value's Java `toString`: booleans 'true'/'false', a Double as Java writes it);
    dates and datetimes in ISO form."""
    if x is None:
        return ""
    if x is True:
        return "true"
    if x is False:
        return "false"
    if type(x) is float:
        return _java_double(x)
    if isinstance(x, datetime):
        return x.isoformat()
    return str(x)


def _java_double(x: float) -> str:
    """Java's Double.toString: '1500.0', '1.5E7', '1.0E-4' (plain from 10^-3 up to 10^7)."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(x)  # (Python writes these plain too)
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) + exponent - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def text_of(value: Any) -> Optional[str]:
    """What a user task's name or description is when its expression gave `value`: text as it is,
    null stays null (Camunda keeps a task's name or description null), anything else as JUEL
    coerces it to text."""
    return value if value is None or type(value) is str else _to_text(value)


def _parse_temporal(s: str) -> date | datetime | None:
    """An ISO date ('2027-01-15') or datetime ('2027-01-15T09:00:00', naive = local), else None."""
    text = s.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return clock.aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=clock.local_zone())


def _align_temporal(x: Any, y: Any) -> tuple[Any, Any]:
    """Make a date/datetime pair comparable: dates become local midnight, naive datetimes local time."""
    x_dt, y_dt = isinstance(x, datetime), isinstance(y, datetime)
    if x_dt and y_dt:
        return clock.aware(x), clock.aware(y)
    if x_dt and isinstance(y, date):
        return clock.aware(x), _midnight(y)
    if y_dt and isinstance(x, date):
        return _midnight(x), clock.aware(y)
    return x, y


def _coerce_pair(x: Any, y: Any, juel: bool, strict: bool) -> tuple[Any, Any]:
    """Bring two operands of a comparison or arithmetic to comparable types (see module doc).

    With `strict` (arithmetic), a JUEL string that is not a number is an error; otherwise it stays.
    """
    if isinstance(x, (date, timedelta)) or isinstance(y, (date, timedelta)):
        if isinstance(x, str):
            x = _parse_temporal(x) or x
        elif isinstance(y, str):
            y = _parse_temporal(y) or y
        return _align_temporal(x, y)
    if juel:
        if isinstance(x, str) and type(y) in _NUM:
            n = _el_number(x)
            if n is not None:
                return n, y
            if strict:
                raise _Fail(f"cannot use {_show(x)} as a number")
        elif isinstance(y, str) and type(x) in _NUM:
            n = _el_number(y)
            if n is not None:
                return x, n
            if strict:
                raise _Fail(f"cannot use {_show(y)} as a number")
        elif isinstance(x, bool) and isinstance(y, str) and y.strip().lower() in ("true", "false"):
            return x, _el_bool(y)
        elif isinstance(y, bool) and isinstance(x, str) and x.strip().lower() in ("true", "false"):
            return _el_bool(x), y
    return x, y


def _safe_mul(x: Any, y: Any) -> Any:
    for seq, n in ((x, y), (y, x)):
        if isinstance(seq, (str, list, tuple)) and type(n) is int:
            if len(seq) * n > _MAX_SEQUENCE:
                raise _Fail("result of '*' is too large")
            if not isinstance(seq, str) and n > 0 and measure(seq) * n > MAX_SIZE:
                raise _Fail(f"result of '*' is larger than {MAX_SIZE:,} units")
    return bounded(x * y)


def _int_work(x: int, y: Any) -> int:
    """The work of combining a large integer with `y`: a product of their lengths in machine words
    (multiplying, dividing and taking the remainder of large integers take about that)."""
    words_y = y.bit_length() // 64 + 1 if type(y) is int else 1
    return (x.bit_length() // 64 + 1) * words_y // 8 + 1


_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.)", re.S)


def _safe_mod(x: Any, y: Any) -> Any:
    """`x % y`; a string formatted with `%` is bounded by its widths and precisions before it is made."""
    if type(x) is str:
        charge(_work(x) + _work(y))
        widths = 0
        for width, precision, _ in _FORMAT_SPEC.findall(x):
            if width == "*" or precision == "*":
                raise _Fail("'*' widths and precisions are not allowed in '%' formatting")
            widths += int(width or 0) + int(precision or 0)
        if widths + len(x) > MAX_TEXT:
            raise _Fail(f"'%' formatting would build a string longer than {MAX_TEXT:,} characters")
    return bounded(x % y)


def _fn_sum(items: Any, start: Any = 0) -> Any:
    if type(start) not in _NUM and not isinstance(start, timedelta):
        raise _Fail(f"sum() adds numbers, not a {_tname(start)}")  # a list or text start copies at each item
    charge(_work(items))
    return sum(items, start)


def _safe_pow(x: Any, y: Any) -> Any:
    if type(x) is int and type(y) is int and y > 0 and abs(x) > 1 and x.bit_length() * y > _MAX_POW_BITS:
        raise _Fail("result of '**' is too large")
    return bounded(x**y)


def _fn_round(x: Any, digits: Any = None) -> Any:
    if digits is not None and (type(digits) is not int or abs(digits) > 100):
        raise _Fail("round() takes at most 100 digits either way")
    return round(x) if digits is None else round(x, digits)


def _fn_str(x: Any) -> str:
    charge(measure(x))
    if type(x) is int and (x > _BIG or x < -_BIG):
        charge(_int_work(x, x))  # writing a large integer's digits takes about the square of its length
    return bounded(str(x))


def _fn_int(x: Any, *base: Any) -> int:
    charge(_work(x))
    value = int(x, *base)
    if value > _BIG or value < -_BIG:
        charge(_int_work(value, value))  # as long to read from digits as to write them
    return bounded(value)


def _linear(impl: Callable[..., Any]) -> Callable[..., Any]:
    """A function whose work grows with its arguments' length (sum, min, max, len is O(1))."""
    def call(*args: Any) -> Any:
        charge(sum(_work(a) for a in args))
        return bounded(impl(*args))
    return call


# --------------------------------------------------------------------------- whitelisted functions


def _as_int(x: Any) -> int:
    if type(x) is int:
        return x
    if type(x) is float and x.is_integer():
        return int(x)
    if isinstance(x, str):
        n = _el_number(x)
        if n is not None and float(n).is_integer():
            return int(n)
    raise _Fail(f"expected a whole number, got {_tname(x)} {_show(x)}")


def _as_number(x: Any) -> int | float:
    if type(x) in _NUM:
        return x
    if isinstance(x, str):
        n = _el_number(x)
        if n is not None:
            return n
    raise _Fail(f"expected a number, got {_tname(x)} {_show(x)}")


def _as_temporal(x: Any) -> date | datetime:
    """A date or (aware) datetime from a date, datetime or ISO string."""
    if isinstance(x, datetime):
        return clock.aware(x)
    if isinstance(x, date):
        return x
    if isinstance(x, str):
        parsed = _parse_temporal(x)
        if parsed is not None:
            return parsed
        raise _Fail(f"{_show(x)} is not an ISO date or date-time")
    raise _Fail(f"expected a date, got {_tname(x)} {_show(x)}")


def _as_date(x: Any) -> date:
    t = _as_temporal(x)
    return t.astimezone(clock.local_zone()).date() if isinstance(t, datetime) else t


def _fn_now() -> datetime:
    return clock.now().astimezone(clock.local_zone())


def _fn_today() -> date:
    return clock.today()


def _fn_date(*args: Any) -> date:
    if len(args) == 1:
        return _as_date(args[0])
    return date(*(_as_int(a) for a in args))


def _fn_datetime(*args: Any) -> datetime:
    if len(args) == 1:
        t = _as_temporal(args[0])
        return t if isinstance(t, datetime) else _midnight(t)
    return clock.aware(datetime(*(_as_int(a) for a in args)))


def _fn_days(n: Any) -> timedelta:
    return timedelta(days=_as_number(n))


def _fn_hours(n: Any) -> timedelta:
    return timedelta(hours=_as_number(n))


def _fn_minutes(n: Any) -> timedelta:
    return timedelta(minutes=_as_number(n))


def _fn_add_days(d: Any, n: Any) -> date | datetime:
    return _as_temporal(d) + timedelta(days=_as_int(n))


def _fn_add_months(d: Any, n: Any) -> date | datetime:
    t = _as_temporal(d)
    months = t.month - 1 + _as_int(n)
    year, month = t.year + months // 12, months % 12 + 1
    return t.replace(year=year, month=month, day=min(t.day, calendar.monthrange(year, month)[1]))


def _fn_add_years(d: Any, n: Any) -> date | datetime:
    return _fn_add_months(d, _as_int(n) * 12)


def _fn_add_working_days(d: Any, n: Any) -> date | datetime:
    t = _as_temporal(d)
    if isinstance(t, datetime):
        t = t.astimezone(clock.local_zone())
        day = workdays.add_working_days(t.date(), _as_int(n))
        return t.replace(year=day.year, month=day.month, day=day.day)
    return workdays.add_working_days(t, _as_int(n))


def _fn_working_days_between(a: Any, b: Any) -> int:
    return workdays.working_days_between(_as_date(a), _as_date(b))


# name -> (function, least arguments, most arguments or None for any number)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, Optional[int]]] = {
    "now": (_fn_now, 0, 0),
    "dateTime": (_fn_now, 0, 0),  # Camunda's dateTime(): now, for its Joda-Time idioms
    "today": (_fn_today, 0, 0),
    "date": (_fn_date, 1, 3),
    "datetime": (_fn_datetime, 1, 6),
    "days": (_fn_days, 1, 1),
    "hours": (_fn_hours, 1, 1),
    "minutes": (_fn_minutes, 1, 1),
    "add_days": (_fn_add_days, 2, 2),
    "add_months": (_fn_add_months, 2, 2),
    "add_years": (_fn_add_years, 2, 2),
    "add_working_days": (_fn_add_working_days, 2, 2),
    "working_days_between": (_fn_working_days_between, 2, 2),
    "len": (len, 1, 1),
    "str": (_fn_str, 1, 1),
    "int": (_fn_int, 1, 2),
    "float": (_linear(float), 1, 1),
    "abs": (abs, 1, 1),
    "min": (_linear(min), 1, None),
    "max": (_linear(max), 1, None),
    "round": (_fn_round, 1, 2),
    "sum": (_fn_sum, 1, 2),
    "bool": (bool, 1, 1),
}


def _too_long(what: str):
    raise _Fail(f"{what} would build a string longer than {MAX_TEXT:,} characters")


def _kind(x: Any) -> str:
    if isinstance(x, str):
        return "str"
    if isinstance(x, Mapping):
        return "dict"
    if isinstance(x, list):
        return "list"
    if isinstance(x, tuple):
        return "tuple"
    return _tname(x)


# (kind of receiver, method name) -> implementation.  Implementations are the base classes'
# own methods (or small functions), never looked up on the value, so a subclass cannot swap them.
METHODS: dict[tuple[str, str], Callable[..., Any]] = {
    **{("str", m): getattr(str, m)
       for m in ("lower", "upper", "strip", "startswith", "endswith", "split", "count", "index")},
    ("str", "join"): lambda s, items: str.join(s, items) if sum(
        _work(i) + len(s) for i in items) <= MAX_TEXT else _too_long("join()"),
    ("dict", "get"): lambda d, key, default=None: d.get(key, default),
    ("dict", "keys"): lambda d: list(d.keys()),
    ("dict", "values"): lambda d: list(d.values()),
    ("dict", "items"): lambda d: [tuple(pair) for pair in d.items()],
    ("list", "count"): list.count,
    ("list", "index"): list.index,
    ("tuple", "count"): tuple.count,
    ("tuple", "index"): tuple.index,
}

# The Java method names Camunda users write in JUEL; accepted in JUEL only.
_JUEL_METHODS: dict[tuple[str, str], Callable[..., Any]] = {
    **{(k, "size"): len for k in ("str", "dict", "list", "tuple")},
    **{(k, "isEmpty"): _is_empty for k in ("str", "dict", "list", "tuple")},
    **{(k, "contains"): (lambda s, x: x in s) for k in ("str", "list", "tuple")},
    ("dict", "containsKey"): lambda d, key: key in d,
    ("str", "startsWith"): str.startswith,
    ("str", "endsWith"): str.endswith,
    ("str", "toLowerCase"): str.lower,
    ("str", "toUpperCase"): str.upper,
    ("str", "trim"): str.strip,
    **{(k, "equals"): operator.eq for k in ("str", "dict", "list", "tuple", "number", "boolean")},
}

# Camunda's Joda-Time idioms on dates: ${dateTime().plusDays(2).toDate()}; JUEL only.
_JODA_UNITS = {"Days": "days", "Weeks": "weeks", "Hours": "hours", "Minutes": "minutes", "Seconds": "seconds"}


def _joda_shift(sign: int, unit: str) -> Callable[..., Any]:
    if unit in ("Months", "Years"):
        factor = 12 if unit == "Years" else 1
        return lambda t, n: _fn_add_months(t, sign * factor * _as_int(n))
    return lambda t, n: t + timedelta(**{_JODA_UNITS[unit]: sign * _as_int(n)})


_JUEL_METHODS.update({
    **{(k, f"{verb}{unit}"): _joda_shift(sign, unit) for k in ("datetime", "date")
       for verb, sign in (("plus", 1), ("minus", -1)) for unit in (*_JODA_UNITS, "Months", "Years")},
    **{(k, "toDate"): (lambda t: t) for k in ("datetime", "date")},
})

_SKIPS_TWO = frozenset({"date", "datetime"})  # date(text) or date(y, m, d); datetime(text) or datetime(y, m, d, ...)

_METHOD_NAMES = frozenset(name for _, name in METHODS)
_JUEL_METHOD_NAMES = _METHOD_NAMES | frozenset(name for _, name in _JUEL_METHODS)

_TEMPORAL_FIELDS = {
    datetime: frozenset({"year", "month", "day", "hour", "minute", "second"}),
    date: frozenset({"year", "month", "day"}),
    timedelta: frozenset({"days", "seconds"}),
}


# --------------------------------------------------------------------------- positions


def _where(source: str, index: int) -> str:
    """'at column C' (1-based, in the full source), or 'at line L, column C' for multi-line text."""
    if index >= len(source):
        return "at end of expression"
    column = index - source.rfind("\n", 0, index)
    if "\n" not in source:
        return f"at column {column}"
    return f"at line {source.count(chr(10), 0, index) + 1}, column {column}"


class _Empty(ast.expr):
    """JUEL `empty x`."""

    _fields = ("operand",)


# --------------------------------------------------------------------------- the tree builder


_BIN_OPS: dict[type, tuple[str, Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    # node -> (symbol, operator for two numbers, operator for anything else)
    ast.Add: ("+", operator.add, operator.add),
    ast.Sub: ("-", operator.sub, operator.sub),
    ast.Mult: ("*", operator.mul, _safe_mul),
    ast.Div: ("/", operator.truediv, operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv, operator.floordiv),
    ast.Mod: ("%", operator.mod, _safe_mod),
    ast.Pow: ("**", _safe_pow, _safe_pow),
}

_CMP_OPS: dict[type, tuple[str, Callable[[Any, Any], Any], bool]] = {
    # node -> (symbol, operator, whether operands are coerced first)
    ast.Eq: ("==", operator.eq, True),
    ast.NotEq: ("!=", operator.ne, True),
    ast.Lt: ("<", operator.lt, True),
    ast.LtE: ("<=", operator.le, True),
    ast.Gt: (">", operator.gt, True),
    ast.GtE: (">=", operator.ge, True),
    ast.In: ("in", lambda a, b: a in b, False),
    ast.NotIn: ("not in", lambda a, b: a not in b, False),
    ast.Is: ("is", operator.is_, False),
    ast.IsNot: ("is not", operator.is_not, False),
}

_REFUSED = {
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.NamedExpr: "assignment ':='",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.Starred: "'*' unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

_SIMPLE_TYPES = frozenset({int, float, str, bool, type(None)})


class _Builder:
    """Turns a whitelisted `ast` tree into nested closures `fn(variables) -> value`."""

    def __init__(self, source: str, juel: bool, locate: Callable[[ast.AST, bool], int]):
        self.source = source
        self.juel = juel
        self.locate = locate
        self.names: set[str] = set()

    def fail(self, message: str, node: ast.AST, at_attr: bool = False) -> None:
        raise ExpressionError(f"{message} {_where(self.source, self.locate(node, at_attr))}", self.source)

    def build(self, node: ast.AST) -> Fn:
        method = _BUILDERS.get(type(node))
        if method is None:
            what = _REFUSED.get(type(node), f"'{type(node).__name__}' expression")
            self.fail(f"{what} is not allowed", node)
        return method(self, node)

    def test(self, node: ast.AST) -> Fn:
        """A condition: EL boolean coercion in JUEL, Python truthiness otherwise."""
        fn = self.build(node)
        if not self.juel:
            return fn
        return lambda v: _el_bool(fn(v))

    # -- leaves

    def constant(self, node: ast.Constant) -> Fn:
        value = node.value
        if type(value) not in _SIMPLE_TYPES:
            self.fail(f"{type(value).__name__} literal is not allowed", node)
        return lambda v: value

    def name(self, node: ast.Name) -> Fn:
        name = node.id
        if name.startswith("_"):
            self.fail(f"name {name!r} is not allowed", node)
        self.names.add(name)

        def load(v: Mapping[str, Any]) -> Any:
            try:
                return v[name]
            except KeyError:
                raise _Fail(f"unknown variable {name!r}") from None

        return load

    # -- access

    def attribute(self, node: ast.Attribute) -> Fn:
        attr = node.attr
        if attr.startswith("_"):
            self.fail(f"attribute {attr!r} is not allowed", node, True)
        base = self.build(node.value)
        juel = self.juel

        def get(v: Mapping[str, Any]) -> Any:
            obj = base(v)
            if type(obj) is dict or isinstance(obj, Mapping):
                if attr in obj:
                    return obj[attr]
                if juel:
                    return None
                raise _Fail(f"no key {attr!r}")
            if obj is None and juel:
                return None
            fields = _TEMPORAL_FIELDS.get(type(obj))
            if fields is not None and attr in fields:
                return getattr(obj, attr)
            raise _Fail(f"cannot read {attr!r} of {_tname(obj)}")

        return get

    def subscript(self, node: ast.Subscript) -> Fn:
        base = self.build(node.value)
        key_fn = self.build(node.slice)
        juel = self.juel

        def item(v: Mapping[str, Any]) -> Any:
            obj = base(v)
            key = key_fn(v)
            if juel:
                if obj is None:
                    return None
                if isinstance(obj, Mapping):
                    return obj.get(key)
                if isinstance(obj, (list, tuple)):
                    index = _as_int(key)
                    return obj[index] if 0 <= index < len(obj) else None
            try:
                found = obj[key]
                if type(key) is slice:
                    charge(_work(found))
                return found
            except KeyError:
                raise _Fail(f"no key {_show(key)}") from None
            except IndexError:
                raise _Fail(f"index {_show(key)} out of range") from None
            except TypeError:
                raise _Fail(f"cannot index {_tname(obj)} with {_tname(key)}") from None

        return item

    def slice_(self, node: ast.Slice) -> Fn:
        parts = [None if p is None else self.build(p) for p in (node.lower, node.upper, node.step)]
        lower, upper, step = (p or (lambda v: None) for p in parts)
        return lambda v: slice(lower(v), upper(v), step(v))

    # -- calls

    def call(self, node: ast.Call) -> Fn:
        if node.keywords:
            self.fail("keyword arguments are not allowed", node.keywords[0].value)
        func = node.func
        if isinstance(func, ast.Name):
            return self._function(node, func)
        if isinstance(func, ast.Attribute):
            return self._method(node, func)
        self.fail("only whitelisted functions and methods may be called", node)
        raise AssertionError  # unreachable

    def _function(self, node: ast.Call, func: ast.Name) -> Fn:
        name = func.id
        if name not in FUNCTIONS:
            self.fail(f"function {name!r} is not allowed", func)
        impl, least, most = FUNCTIONS[name]
        count = len(node.args)
        if count < least or (most is not None and count > most) or (name in _SKIPS_TWO and count == 2):
            if name in _SKIPS_TWO:
                wanted = f"1 or 3 to {most}" if most > 3 else "1 or 3"
            elif least == most:
                wanted = str(least)
            else:
                wanted = f"at least {least}" if most is None else f"{least} to {most}"
            self.fail(f"function {name!r} takes {wanted} argument(s), got {count}", func)
        args = [self.build(a) for a in node.args]

        def fail(exc: Exception) -> _Fail:
            return _Fail(f"{name}(): {exc if isinstance(exc, _Fail) else _describe(exc)}")

        errors = (_Fail, ArithmeticError, TypeError, ValueError, LookupError)
        if not args:
            def call0(v: Mapping[str, Any]) -> Any:
                try:
                    return impl()
                except errors as exc:
                    raise fail(exc) from None
            return call0
        if len(args) == 1:
            (a,) = args

            def call1(v: Mapping[str, Any]) -> Any:
                x = a(v)
                try:
                    return bounded(impl(x))
                except errors as exc:
                    raise fail(exc) from None
            return call1

        def calln(v: Mapping[str, Any]) -> Any:
            values = [a(v) for a in args]
            try:
                return bounded(impl(*values))
            except errors as exc:
                raise fail(exc) from None
        return calln

    def _method(self, node: ast.Call, func: ast.Attribute) -> Fn:
        name = func.attr
        if name.startswith("_"):
            self.fail(f"attribute {name!r} is not allowed", func, True)
        if name not in (_JUEL_METHOD_NAMES if self.juel else _METHOD_NAMES):
            self.fail(f"method {name!r} is not allowed", func, True)
        table = {**METHODS, **_JUEL_METHODS} if self.juel else METHODS
        base = self.build(func.value)
        args = [self.build(a) for a in node.args]
        errors = (_Fail, ArithmeticError, TypeError, ValueError, LookupError)

        def call(v: Mapping[str, Any]) -> Any:
            obj = base(v)
            values = [a(v) for a in args]
            impl = table.get((_kind(obj), name))
            if impl is None:
                raise _Fail(f"method {name!r} is not available on {_tname(obj)}")
            charge(_work(obj) + sum(_work(x) for x in values))
            try:
                return bounded(impl(obj, *values))
            except errors as exc:
                raise _Fail(f"{name}(): {exc if isinstance(exc, _Fail) else _describe(exc)}") from None

        return call

    # -- operators

    def bool_op(self, node: ast.BoolOp) -> Fn:
        is_and = isinstance(node.op, ast.And)
        if self.juel:
            a, b = (self.test(n) for n in node.values)  # JUEL builds binary nodes only
            if is_and:
                return lambda v: a(v) and b(v)
            return lambda v: a(v) or b(v)
        parts = [self.build(n) for n in node.values]

        def python_bool(v: Mapping[str, Any]) -> Any:
            value = None
            for part in parts:
                value = part(v)
                if bool(value) != is_and:
                    return value
            return value

        return python_bool

    def unary_op(self, node: ast.UnaryOp) -> Fn:
        op = node.op
        if isinstance(op, ast.Not):
            operand = self.test(node.operand)
            return lambda v: not operand(v)
        if not isinstance(op, (ast.USub, ast.UAdd)):
            self.fail("bit operator '~' is not allowed", node)
        fn = self.build(node.operand)
        negate = isinstance(op, ast.USub)
        sym = "-" if negate else "+"
        juel = self.juel

        def sign(v: Mapping[str, Any]) -> Any:
            x = fn(v)
            if juel and isinstance(x, str):
                n = _el_number(x)
                if n is None:
                    raise _Fail(f"cannot use {_show(x)} as a number")
                x = n
            try:
                return -x if negate else +x
            except TypeError:
                raise _Fail(f"cannot apply '{sym}' to {_tname(x)}") from None

        return sign

    def empty(self, node: _Empty) -> Fn:
        fn = self.build(node.operand)
        return lambda v: _is_empty(fn(v))

    def bin_op(self, node: ast.BinOp) -> Fn:
        entry = _BIN_OPS.get(type(node.op))
        if entry is None:
            self.fail("bit operators are not allowed", node)
        sym, fast, slow = entry
        a, b = self.build(node.left), self.build(node.right)
        juel = self.juel

        def arith(v: Mapping[str, Any]) -> Any:
            x, y = a(v), b(v)
            if type(x) in _NUM and type(y) in _NUM:
                if type(x) is int and (x > _BIG or x < -_BIG):
                    charge(_int_work(x, y))
                elif type(y) is int and (y > _BIG or y < -_BIG):
                    charge(_int_work(y, x))
                result = fast(x, y)
                return bounded(result) if type(result) is int and (result > _BIG or result < -_BIG) else result
            x, y = _coerce_pair(x, y, juel, True)
            if type(x) in (str, list, tuple) and type(y) is type(x):
                if len(x) + len(y) > (MAX_TEXT if type(x) is str else MAX_ITEMS):
                    raise _Fail(f"result of '{sym}' is too large")
                charge(_work(x) + _work(y))
            try:
                return slow(x, y)
            except TypeError:
                raise _Fail(f"cannot apply '{sym}' to {_tname(x)} and {_tname(y)}") from None

        return arith

    def compare(self, node: ast.Compare) -> Fn:
        fns = [self.build(node.left)] + [self.build(c) for c in node.comparators]
        steps = [(_CMP_OPS[type(op)], fns[i], fns[i + 1]) for i, op in enumerate(node.ops)]
        juel = self.juel

        def check(entry: tuple[str, Callable[[Any, Any], Any], bool], x: Any, y: Any) -> Any:
            sym, op, coerce = entry
            if coerce and not (type(x) is type(y) and type(x) in _SIMPLE_TYPES):
                x, y = _coerce_pair(x, y, juel, False)
            if type(y) in (str, list, tuple, dict, set):
                charge(_work(y))  # `in`, and comparing texts and containers, reads them
            try:
                return op(x, y)
            except TypeError:
                raise _Fail(f"cannot compare {_tname(x)} and {_tname(y)} with '{sym}'") from None

        if len(steps) == 1:
            ((entry, a, b),) = steps
            op = entry[1]
            if entry[2]:
                def compare1(v: Mapping[str, Any]) -> Any:
                    x, y = a(v), b(v)
                    if type(x) in _NUM and type(y) in _NUM or type(x) is type(y) is str and len(y) < 256:
                        return op(x, y)
                    return check(entry, x, y)
                return compare1
            return lambda v: check(entry, a(v), b(v))

        def chain(v: Mapping[str, Any]) -> Any:
            x = fns[0](v)
            for entry, _, b in steps:
                y = b(v)
                if not check(entry, x, y):
                    return False
                x = y
            return True

        return chain

    def if_exp(self, node: ast.IfExp) -> Fn:
        cond, yes, no = self.test(node.test), self.build(node.body), self.build(node.orelse)
        return lambda v: yes(v) if cond(v) else no(v)

    # -- literals

    # A literal may hold other values (variables) by reference: what it holds is measured, so that
    # nesting a value in itself again and again ([x, x]) cannot double its size each time.

    def list_(self, node: ast.List) -> Fn:
        items = [self.build(e) for e in node.elts]
        return lambda v: _held([f(v) for f in items])

    def tuple_(self, node: ast.Tuple) -> Fn:
        items = [self.build(e) for e in node.elts]
        return lambda v: _held(tuple(f(v) for f in items))

    def set_(self, node: ast.Set) -> Fn:
        items = [self.build(e) for e in node.elts]
        return lambda v: {f(v) for f in items}

    def dict_(self, node: ast.Dict) -> Fn:
        if any(k is None for k in node.keys):
            self.fail("'**' unpacking is not allowed", node)
        pairs = [(self.build(k), self.build(e)) for k, e in zip(node.keys, node.values)]
        return lambda v: _held({k(v): e(v) for k, e in pairs})

    def expression(self, node: ast.Expression) -> Fn:
        return self.build(node.body)


def _held(container):
    """A container just built from values: measured when it holds containers."""
    values = container.values() if type(container) is dict else container
    if any(type(x) in (list, tuple, dict, set) for x in values):
        charge(measure(container))
    return container


_BUILDERS: dict[type, Callable[[_Builder, Any], Fn]] = {
    ast.Expression: _Builder.expression,
    ast.Constant: _Builder.constant,
    ast.Name: _Builder.name,
    ast.Attribute: _Builder.attribute,
    ast.Subscript: _Builder.subscript,
    ast.Slice: _Builder.slice_,
    ast.Call: _Builder.call,
    ast.BoolOp: _Builder.bool_op,
    ast.UnaryOp: _Builder.unary_op,
    ast.BinOp: _Builder.bin_op,
    ast.Compare: _Builder.compare,
    ast.IfExp: _Builder.if_exp,
    ast.List: _Builder.list_,
    ast.Tuple: _Builder.tuple_,
    ast.Set: _Builder.set_,
    ast.Dict: _Builder.dict_,
    _Empty: _Builder.empty,
}


# --------------------------------------------------------------------------- JUEL


_PUNCTUATION = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%",
                "?", ":", "(", ")", "[", "]", ".", ",")
_WORDS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=",
          "and": "&&", "or": "||", "not": "!", "div": "/", "mod": "%", "empty": "empty",
          "true": "true", "false": "false", "null": "null", "instanceof": "instanceof"}
_LITERALS = {"true": True, "false": False, "null": None}
_BINARY = {  # operator -> (binding power, ast node builder)
    "||": (20, lambda a, b: ast.BoolOp(op=ast.Or(), values=[a, b])),
    "&&": (30, lambda a, b: ast.BoolOp(op=ast.And(), values=[a, b])),
    "==": (40, lambda a, b: ast.Compare(left=a, ops=[ast.Eq()], comparators=[b])),
    "!=": (40, lambda a, b: ast.Compare(left=a, ops=[ast.NotEq()], comparators=[b])),
    "<": (50, lambda a, b: ast.Compare(left=a, ops=[ast.Lt()], comparators=[b])),
    ">": (50, lambda a, b: ast.Compare(left=a, ops=[ast.Gt()], comparators=[b])),
    "<=": (50, lambda a, b: ast.Compare(left=a, ops=[ast.LtE()], comparators=[b])),
    ">=": (50, lambda a, b: ast.Compare(left=a, ops=[ast.GtE()], comparators=[b])),
    "+": (60, lambda a, b: ast.BinOp(left=a, op=ast.Add(), right=b)),
    "-": (60, lambda a, b: ast.BinOp(left=a, op=ast.Sub(), right=b)),
    "*": (70, lambda a, b: ast.BinOp(left=a, op=ast.Mult(), right=b)),
    "/": (70, lambda a, b: ast.BinOp(left=a, op=ast.Div(), right=b)),
    "%": (70, lambda a, b: ast.BinOp(left=a, op=ast.Mod(), right=b)),
}
_TERNARY_BP = 10
_UNARY_BP = 80
_POSTFIX_BP = 90


class _Token:
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind: str, value: Any, pos: int, text: str):
        self.kind, self.value, self.pos, self.text = kind, value, pos, text  # kind: num str name op end


def _juel_tokens(source: str, start: int, end: int) -> list[_Token]:
    """Tokens of source[start:end]; positions are indexes into the whole source."""
    tokens: list[_Token] = []
    i = start
    while i < end:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch.isdigit() or (ch == "." and i + 1 < end and source[i + 1].isdigit()):
            j = i
            while j < end and source[j].isdigit():
                j += 1
            is_float = False
            if j < end and source[j] == "." and j + 1 < end and source[j + 1].isdigit():
                is_float = True
                j += 1
                while j < end and source[j].isdigit():
                    j += 1
            if j < end and source[j] in "eE":
                k = j + 1
                if k < end and source[k] in "+-":
                    k += 1
                if k < end and source[k].isdigit():
                    is_float = True
                    j = k
                    while j < end and source[j].isdigit():
                        j += 1
            text = source[i:j]
            tokens.append(_Token("num", float(text) if is_float else int(text), i, text))
            i = j
        elif ch in "'\"":
            j, chars = i + 1, []
            while j < end and source[j] != ch:
                if source[j] == "\\" and j + 1 < end and source[j + 1] in "'\"\\":
                    j += 1
                chars.append(source[j])
                j += 1
            if j >= end:
                raise ExpressionError(f"unterminated string {_where(source, i)}", source)
            tokens.append(_Token("str", "".join(chars), i, source[i:j + 1]))
            i = j + 1
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < end and (source[j].isalnum() or source[j] == "_"):
                j += 1
            word = source[i:j]
            if word in _WORDS:
                tokens.append(_Token("op", _WORDS[word], i, word))
            else:
                tokens.append(_Token("name", word, i, word))
            i = j
        else:
            for punct in _PUNCTUATION:
                if source.startswith(punct, i, end):
                    tokens.append(_Token("op", punct, i, punct))
                    i += len(punct)
                    break
            else:
                raise ExpressionError(f"unexpected character {ch!r} {_where(source, i)}", source)
    tokens.append(_Token("end", None, end, ""))
    return tokens


def _at(node: ast.AST, pos: int) -> Any:
    node.lineno, node.col_offset = 1, pos  # JUEL nodes carry their index in the whole source
    return node


class _JuelParser:
    """Pratt parser for the inside of one `${...}`, giving Python `ast` nodes (and `_Empty`)."""

    def __init__(self, source: str, start: int, end: int):
        self.source = source
        self.tokens = _juel_tokens(source, start, end)
        self.i = 0
        self.depth = 0
        if self.tokens[0].kind == "end":
            raise ExpressionError(f"empty expression {_where(source, start)}", source)

    def parse(self) -> ast.AST:
        node = self.expr(0)
        self.expect_end()
        return node

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def unexpected(self, tok: _Token) -> ExpressionError:
        if tok.kind == "end":
            return ExpressionError(f"unexpected end of expression {_where(self.source, tok.pos)}", self.source)
        return ExpressionError(f"unexpected token {tok.text!r} {_where(self.source, tok.pos)}", self.source)

    def expect(self, value: str) -> _Token:
        tok = self.next()
        if tok.kind != "op" or tok.value != value:
            raise self.unexpected(tok)
        return tok

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())

    def expr(self, rbp: int) -> ast.AST:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ExpressionError(f"expression nested too deeply {_where(self.source, self.peek().pos)}",
                                  self.source)
        left = self.prefix(self.next())
        while rbp < self.binding(self.peek()):
            left = self.infix(self.next(), left)
        self.depth -= 1
        return left

    def binding(self, tok: _Token) -> int:
        if tok.kind != "op":
            return 0
        if tok.value in _BINARY:
            return _BINARY[tok.value][0]
        if tok.value == "?":
            return _TERNARY_BP
        if tok.value in (".", "[", "("):
            return _POSTFIX_BP
        return 0

    def prefix(self, tok: _Token) -> ast.AST:
        if tok.kind in ("num", "str"):
            return _at(ast.Constant(value=tok.value), tok.pos)
        if tok.kind == "name":
            return _at(ast.Name(id=tok.value, ctx=ast.Load()), tok.pos)
        if tok.kind == "op":
            if tok.value in _LITERALS:
                return _at(ast.Constant(value=_LITERALS[tok.value]), tok.pos)
            if tok.value == "(":
                node = self.expr(0)
                self.expect(")")
                return node
            if tok.value == "-":
                return _at(ast.UnaryOp(op=ast.USub(), operand=self.expr(_UNARY_BP)), tok.pos)
            if tok.value == "!":
                return _at(ast.UnaryOp(op=ast.Not(), operand=self.expr(_UNARY_BP)), tok.pos)
            if tok.value == "empty":
                return _at(_Empty(operand=self.expr(_UNARY_BP)), tok.pos)
        raise self.unexpected(tok)

    def infix(self, tok: _Token, left: ast.AST) -> ast.AST:
        op = tok.value
        if op in _BINARY:
            bp, make = _BINARY[op]
            return _at(make(left, self.expr(bp)), tok.pos)
        if op == "?":
            body = self.expr(0)
            self.expect(":")
            return _at(ast.IfExp(test=left, body=body, orelse=self.expr(_TERNARY_BP - 1)), tok.pos)
        if op == ".":
            name = self.next()
            if name.kind not in ("name", "op") or not name.text[:1].isalpha() and name.text[:1] != "_":
                raise self.unexpected(name)
            return _at(ast.Attribute(value=left, attr=name.text, ctx=ast.Load()), name.pos)
        if op == "[":
            index = self.expr(0)
            self.expect("]")
            return _at(ast.Subscript(value=left, slice=index, ctx=ast.Load()), tok.pos)
        # op == "(": a call of a function name or of a method
        if not isinstance(left, (ast.Name, ast.Attribute)):
            raise ExpressionError(f"only functions and methods can be called {_where(self.source, tok.pos)}",
                                  self.source)
        args: list[ast.AST] = []
        if not (self.peek().kind == "op" and self.peek().value == ")"):
            args.append(self.expr(0))
            while self.peek().kind == "op" and self.peek().value == ",":
                self.next()
                args.append(self.expr(0))
        self.expect(")")
        return _at(ast.Call(func=left, args=args, keywords=[]), left.col_offset)


def _juel_end(source: str, start: int) -> int:
    """Index of the '}' closing the `${` whose body starts at `start` (quotes are skipped)."""
    i, n = start, len(source)
    while i < n:
        ch = source[i]
        if ch == "}":
            return i
        if ch in "'\"":
            i += 1
            while i < n and source[i] != ch:
                i += 2 if source[i] == "\\" else 1
        i += 1
    raise ExpressionError(f"missing '}}' for the '{source[start - 2:start]}' {_where(source, start - 2)}", source)


def _juel_function(source: str, start: int, end: int, names: set[str]) -> Fn:
    """Compile the JUEL text source[start:end] (the inside of one `${...}`)."""
    tree = _JuelParser(source, start, end).parse()
    builder = _Builder(source, True, lambda node, at_attr: node.col_offset)
    fn = builder.build(tree)
    names |= builder.names
    return fn


# --------------------------------------------------------------------------- Python


def _python_function(source: str, names: set[str]) -> Fn:
    offset = len(source) - len(source.lstrip())
    text = source.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        lines = text.split("\n")
        if exc.lineno and exc.offset and exc.offset > 0 and exc.lineno <= len(lines):
            index = offset + sum(len(line) + 1 for line in lines[:exc.lineno - 1]) + exc.offset - 1
            where = _where(source, index)
        elif exc.lineno is None:
            where = ""
        else:
            where = "at end of expression"
        message = exc.msg if exc.msg.startswith("invalid syntax") else f"invalid syntax: {exc.msg}"
        raise ExpressionError(f"{message} {where}".rstrip(), source) from None
    except ValueError as exc:  # a NUL character, say
        raise ExpressionError(f"invalid text: {exc}", source) from None

    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def locate(node: Any, at_attr: bool) -> int:
        if at_attr:
            lineno, col = node.end_lineno, node.end_col_offset - len(node.attr.encode())
        else:
            lineno, col = node.lineno, node.col_offset
        line = lines[lineno - 1]
        return offset + starts[lineno - 1] + len(line.encode()[:col].decode("utf-8", "replace"))

    builder = _Builder(source, False, locate)
    fn = builder.build(tree)
    names |= builder.names
    return fn


# --------------------------------------------------------------------------- public API


def _too_deep(source: str) -> ExpressionError:
    return ExpressionError("expression is nested too deeply", source)


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> Expression:
    """Compile an expression at deploy time; raise ExpressionError naming what is wrong."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {type(source).__name__}")
    stripped = source.strip()
    if not stripped:
        raise ExpressionError("empty expression", source)
    names: set[str] = set()
    try:
        if stripped.startswith(("${", "#{")):
            start = len(source) - len(source.lstrip()) + 2
            end = _juel_end(source, start)
            if source[end + 1:].strip():
                index = end + 1 + (len(source[end + 1:]) - len(source[end + 1:].lstrip()))
                raise ExpressionError(f"unexpected text after the closing '}}' {_where(source, index)}", source)
            fn = _juel_function(source, start, end, names)
        else:
            fn = _python_function(source, names)
    except (RecursionError, MemoryError):
        raise _too_deep(source) from None
    return Expression(source, frozenset(names), fn)


def compile_any(source: str) -> Expression:
    """Compile a diagram expression as the engine runs it: JUEL or composite text when it has
    ${ or #{, else Python. Every expression SpiffWorkflow evaluates comes through here."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {type(source).__name__}")
    if "${" in source or "#{" in source:
        return compile_template(source)
    return compile_expression(source)


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> Expression:
    """Compile text that may embed ${...}/#{...} (e.g. 'unit_${unit}', 'PT5M', '${dueDate}').

    Plain text without ${ is a constant string.  A text that is exactly one ${...} evaluates to the
    raw value (not str); otherwise the parts are joined as text (null as '', booleans as
    'true'/'false', datetimes in ISO form).  `\\${` stands for a literal `${`.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"a template must be text, not {type(source).__name__}")
    if "${" not in source and "#{" not in source:
        return Expression(source, frozenset(), lambda v: source)
    parts: list[tuple[bool, Any]] = []  # (is_expression, text or function)
    names: set[str] = set()
    text: list[str] = []
    i, n = 0, len(source)
    try:
        while i < n:
            ch = source[i]
            if ch == "\\" and source.startswith(("${", "#{"), i + 1):
                text.append(source[i + 1:i + 3])
                i += 3
            elif ch in "$#" and source.startswith("{", i + 1):
                if text:
                    parts.append((False, "".join(text)))
                    text = []
                end = _juel_end(source, i + 2)
                parts.append((True, _juel_function(source, i + 2, end, names)))
                i = end + 1
            else:
                text.append(ch)
                i += 1
    except (RecursionError, MemoryError):
        raise _too_deep(source) from None
    if text:
        parts.append((False, "".join(text)))
    frozen = frozenset(names)
    if not parts:
        return Expression(source, frozen, lambda v: "")
    if len(parts) == 1:
        is_expr, part = parts[0]
        return Expression(source, frozen, part if is_expr else (lambda v: part))

    def render(v: Mapping[str, Any]) -> str:
        return "".join(_to_text(part(v)) if is_expr else part for is_expr, part in parts)

    return Expression(source, frozen, render)
