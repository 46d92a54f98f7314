"""FEEL, the expression language of DMN (1.1 to 1.5), for decision tables, boxed expressions and
`camunda:inputOutput` parameters with scriptFormat "feel".

Two entry points, both compiled once (at deploy) into nested closures:

* `compile_unary_tests(text)` for an input entry (a cell in an input column): `-` or an empty cell
  (any value), `"gold"`, `"a","b"` (either), `not("x")` (anything but), `< 100`, `>= 1000`,
  `[1..10]`, `]1..10[`, `(1..10]`, `true`, `null`, `date("2027-01-01")`, `? > 5` or
  `cellInput > 5` (a condition on the input value), `amount > limit` (a condition not about the
  input).  `.matches(value, context)` says whether the input value passes.
* `compile_expression(text)` for an input expression, an output entry or a literal expression:
  `amount * 1.1`, `if vip then "gold" else "silver"`, `customer.address.city`,
  `for x in items return x.price`, `some x in items satisfies x > 3`, `x instance of number`,
  `{a: 1 + 2, b: a + 3}`, `(function(n) n * 2)(21)`, `@"2027-01-01"`.  `.evaluate(context)` gives
  the value.

Both take `names`: the names in scope that contain spaces or other characters (`Monthly Salary`,
`Pre-bureauRiskCategory`): FEEL's grammar reads such a name only when it knows it is in scope.

Nothing is handed to Python's own code execution: a tokenizer and a recursive-descent parser
build closures `fn(scope)` directly.  Evaluation is bounded: every loop, filter and call counts
steps (`MAX_STEPS`), lists and strings are bounded in length, nesting in depth.

The language is FEEL of DMN 1.5 (see engine.feel_values for the values and operators,
engine.feel_functions for the built-in library, invoked with positional or named arguments).
As the standard says, an operation on values it is not defined for (`"a" + 1`, `1/0`,
`date("oops")`, `"1" = 1`, `"abc" < 5`) gives null; a syntax error is an ExpressionError at
compile time naming the line and column.  Results leave as Python values: numbers as int (when
whole) or float, a date and time without an offset as local time (engine.clock).
"""
from __future__ import annotations

import functools
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Optional

from engine import feel_functions
from engine.errors import ExpressionError
from engine.feel_functions import BUILTINS, Builtin
from engine.feel_values import (ARITHMETIC, COMPARISONS, MAX_ITEMS, NULL_END, Function, Range, YearsMonths,
                                at_literal, compare, describe, equal, from_python, in_range, is_num,
                                kind, negate, num, parse_date, parse_date_time, parse_duration,
                                parse_time, path, text, to_python)

__all__ = [
    "FeelExpression",
    "UnaryTests",
    "Range",
    "YearsMonths",
    "Function",
    "compile_expression",
    "compile_unary_tests",
    "parse_date",
    "parse_date_time",
    "parse_time",
    "parse_duration",
    "describe",
    "to_text",
    "FUNCTIONS",
    "MAX_STEPS",
]

FUNCTIONS: Mapping[str, Builtin] = BUILTINS
MAX_STEPS = 1_000_000  # loop iterations, filter tests and calls in one evaluation
_MAX_DEPTH = 100
_MAX_CALL_DEPTH = 200


def to_text(value: Any) -> str:
    """A value as FEEL's string() writes it (durations in ISO form, dates ISO)."""
    return text(from_python(value))


# --------------------------------------------------------------------------- scopes


class _Budget:
    __slots__ = ("steps", "calls")

    def __init__(self) -> None:
        self.steps = 0
        self.calls = 0

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"evaluation exceeds {MAX_STEPS} steps")


_MISSING = object()


class Scope:
    """Names in scope: local entries over a parent scope; the root reads the caller's variables."""

    __slots__ = ("vars", "parent", "budget", "outer", "read")

    def __init__(self, values: Mapping[str, Any], parent: Optional["Scope"] = None,
                 budget: Optional[_Budget] = None, outer: bool = False):
        self.vars, self.parent, self.outer = values, parent, outer
        self.budget = budget if budget is not None else (parent.budget if parent is not None else _Budget())
        self.read: dict[str, Any] = {}  # outer: the caller's variables read so far, as FEEL values

    def lookup(self, name: str) -> Any:
        scope: Optional[Scope] = self
        while scope is not None:
            if scope.outer:
                value = scope.read.get(name, _MISSING)
                if value is _MISSING:
                    value = scope.vars.get(name, _MISSING)
                    if value is not _MISSING:
                        value = scope.read[name] = from_python(value)
            else:
                value = scope.vars.get(name, _MISSING)
            if value is not _MISSING:
                return value
            scope = scope.parent
        return _MISSING

    def child(self, values: Mapping[str, Any]) -> "Scope":
        return Scope(values, self)


Fn = Callable[[Scope], Any]


def call_function(fn: Function, args: list[Any], named: Optional[dict[str, Any]] = None,
                  scope: Optional[Scope] = None) -> Any:
    """Invoke a FEEL function value with positional (or named) arguments."""
    if isinstance(fn, Builtin):
        bound = fn.bind(args, named)
        return None if bound is None else fn(*bound)
    if not isinstance(fn, Function):
        return None
    if fn.builtin:
        return fn.body(args, named)
    params = fn.params or []
    if named is not None:
        if not set(named) <= set(params):
            return None
        values = [named.get(p) for p in params]
    else:
        if len(args) != len(params):
            return None
        values = list(args)
    budget = scope.budget if scope is not None else None
    if budget is not None:
        budget.tick()
        budget.calls += 1
        if budget.calls > _MAX_CALL_DEPTH:
            budget.calls = 0
            raise ExpressionError(f"function calls nested deeper than {_MAX_CALL_DEPTH}")
    try:
        return fn.body(values, budget)
    finally:
        if budget is not None and budget.calls > 0:
            budget.calls -= 1


def _builtin_value(name: str) -> Function:
    builtin = BUILTINS[name]

    def body(args: list[Any], named: Optional[dict[str, Any]]) -> Any:
        bound = builtin.bind(args, named)
        return None if bound is None else builtin(*bound)

    return Function(name, None, body, builtin=True)


# --------------------------------------------------------------------------- tokens


class _Tok:
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind: str, value: Any, pos: int, text: str):
        self.kind, self.value, self.pos, self.text = kind, value, pos, text  # num str at name kw op end

    def is_op(self, *values: str) -> bool:
        return self.kind == "op" and self.value in values

    def is_kw(self, *values: str) -> bool:
        return self.kind == "kw" and self.value in values

    def is_word(self) -> bool:
        return self.kind in ("name", "kw")


_KEYWORDS = frozenset({"true", "false", "null", "if", "then", "else", "and", "or", "between", "in",
                       "for", "some", "every", "instance", "of", "function", "return", "satisfies",
                       "external"})
_OPERATORS = ("..", "**", "<=", ">=", "!=", "=", "<", ">", "+", "-", "*", "/",
              "(", ")", "[", "]", "{", "}", ",", ".", ":", "?")
_JUEL_HINTS = {"==": "use '=' for equality in FEEL", "&&": "use 'and' in FEEL", "||": "use 'or' in FEEL",
               "!": "use not(...) in FEEL"}
_HINTS = {
    "len": "use string length(text) or count(list)",
    "size": "use string length(text) or count(list)",
    "length": "use string length(text) or count(list)",
    "upper": "use upper case(text)", "lower": "use lower case(text)",
    "startsWith": "use starts with(text, prefix)", "endsWith": "use ends with(text, suffix)",
    "round": "use round half up(x, scale), floor(x) or ceiling(x)", "int": "use floor(x)",
    "str": "use string(x)", "datetime": "use date and time(\"2027-01-15T09:00:00\")",
}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'", "b": "\b", "f": "\f"}
_NUMBER_RE = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_PROPERTY_NAMES = ("start included", "end included", "time offset")
_CONTEXT_KEY_RE = re.compile(r"[{,]\s*([^\W\d][\w'./+*-]*(?:[ \t]+[\w'./+*-]+)+)\s*:(?!=)")
_FUNCTION_PARAMS_RE = re.compile(r"function\s*\(([^)]*)\)")


def _where(source: str, index: int) -> str:
    """'at column C' (1-based), or 'at line L, column C' for multi-line text."""
    if index >= len(source):
        return "at end of expression"
    column = index - source.rfind("\n", 0, index)
    if "\n" not in source:
        return f"at column {column}"
    return f"at line {source.count(chr(10), 0, index) + 1}, column {column}"


def _error(source: str, message: str, pos: int) -> ExpressionError:
    return ExpressionError(f"{message} {_where(source, pos)}", source)


def _name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_?"


@functools.lru_cache(maxsize=512)
def _name_patterns(names: frozenset[str]) -> dict[str, list[tuple[int, re.Pattern]]]:
    """Patterns for the names in scope that are more than one word, by first character."""
    table: dict[str, list[tuple[int, re.Pattern]]] = {}
    for name in names:
        words = name.split()
        if not words or (len(words) == 1 and re.fullmatch(r"[^\W\d]\w*", name)):
            continue
        body = r"\s+".join(re.escape(w) for w in words)
        tail = r"(?!\w)" if _name_char(name[-1]) else ""
        table.setdefault(name[0], []).append((len(name), re.compile(body + tail)))
    for entries in table.values():
        entries.sort(key=lambda e: -e[0])
    return table


_BUILTIN_NAMES = frozenset(n for n in BUILTINS if " " in n) | frozenset({"range"})
_BUILTIN_PATTERNS = _name_patterns(frozenset(_BUILTIN_NAMES))
_PROPERTY_PATTERNS = _name_patterns(frozenset(_PROPERTY_NAMES))


def _read_string(source: str, i: int) -> tuple[str, int]:
    n, j, chars = len(source), i + 1, []
    while j < n and source[j] != '"':
        if source[j] == "\\" and j + 1 < n:
            esc = source[j + 1]
            if esc in _ESCAPES:
                chars.append(_ESCAPES[esc])
                j += 2
                continue
            if esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", source[j + 2:j + 6]):
                code = int(source[j + 2:j + 6], 16)
                low = source[j + 6:j + 12]
                if 0xD800 <= code < 0xDC00 and re.fullmatch(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}", low):
                    code = 0x10000 + ((code - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00)
                    j += 6
                chars.append(chr(code))
                j += 6
                continue
            if esc == "U" and re.fullmatch(r"[0-9a-fA-F]{6}", source[j + 2:j + 8]):
                code = int(source[j + 2:j + 8], 16)
                if code > 0x10FFFF:
                    raise _error(source, "invalid \\U escape", j)
                chars.append(chr(code))
                j += 8
                continue
        chars.append(source[j])
        j += 1
    if j >= n:
        raise _error(source, "unterminated string (a FEEL string ends with \")", i)
    return "".join(chars), j + 1


def _tokenize(source: str, names: frozenset[str]) -> list[_Tok]:
    tokens: list[_Tok] = []
    scoped = _name_patterns(names)
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end + 1
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            if end < 0:
                raise _error(source, "unterminated comment", i)
            i = end + 2
        elif ch.isdigit() or (ch == "." and i + 1 < n and source[i + 1].isdigit()
                              and not (tokens and tokens[-1].is_op(".."))):
            match = _NUMBER_RE.match(source, i)
            word = match.group()
            tokens.append(_Tok("num", Decimal(word), i, word))
            i = match.end()
        elif ch == '"':
            value, end = _read_string(source, i)
            tokens.append(_Tok("str", value, i, source[i:end]))
            i = end
        elif ch == "@" and source.startswith('"', i + 1):
            value, end = _read_string(source, i + 1)
            tokens.append(_Tok("at", value, i, source[i:end]))
            i = end
        elif ch == "'":
            raise _error(source, "FEEL strings are written in double quotes (\"...\"), not single quotes", i)
        elif ch == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise _error(source, "unterminated `name`", i)
            tokens.append(_Tok("name", source[i + 1:end], i, source[i:end + 1]))
            i = end + 1
        elif ch.isalpha() or ch == "_" or (ord(ch) > 127 and not ch.isspace()):
            after_dot = bool(tokens) and tokens[-1].is_op(".")
            found = None
            for table, needs_call in ((scoped, False), (_PROPERTY_PATTERNS, not after_dot),
                                      (_BUILTIN_PATTERNS, True)):
                for _, pattern in table.get(ch, ()):
                    match = pattern.match(source, i)
                    if match is None:
                        continue
                    if needs_call and not re.match(r"\s*\(", source[match.end():match.end() + 40]):
                        continue
                    found = match
                    break
                if found is not None:
                    break
            if found is not None:
                tokens.append(_Tok("name", " ".join(found.group().split()), i, found.group()))
                i = found.end()
                continue
            j = i + 1
            while j < n and (source[j].isalnum() or source[j] == "_" or (ord(source[j]) > 127 and not source[j].isspace())):
                j += 1
            word = source[i:j]
            tokens.append(_Tok("kw" if word in _KEYWORDS and not after_dot else "name", word, i, word))
            i = j
        elif ch in "$#" and source.startswith("{", i + 1):
            raise _error(source, "this is a JUEL expression (${...}); in a FEEL cell write the expression "
                         "without ${ }, or set the cell's expression language to juel", i)
        else:
            for hint in ("==", "&&", "||"):
                if source.startswith(hint, i):
                    raise _error(source, f"unexpected '{hint}': {_JUEL_HINTS[hint]}", i)
            if ch == "!" and not source.startswith("!=", i):
                raise _error(source, f"unexpected '!': {_JUEL_HINTS['!']}", i)
            for op in _OPERATORS:
                if source.startswith(op, i):
                    tokens.append(_Tok("op", op, i, op))
                    i += len(op)
                    break
            else:
                raise _error(source, f"unexpected character {ch!r}", i)
    tokens.append(_Tok("end", None, n, ""))
    return tokens


def _local_names(source: str) -> set[str]:
    """Names with spaces that the expression itself introduces (context keys, parameters)."""
    found = {" ".join(m.group(1).split()) for m in _CONTEXT_KEY_RE.finditer(source)}
    for m in _FUNCTION_PARAMS_RE.finditer(source):
        for param in m.group(1).split(","):
            name = param.split(":")[0].strip()
            if " " in name:
                found.add(" ".join(name.split()))
    return found


# --------------------------------------------------------------------------- types (instance of)


def _type_check(spec: tuple, value: Any, types: Mapping[str, Callable[[Any], bool]]) -> bool:
    tag = spec[0]
    if tag == "Any":
        return value is not None
    if tag == "Null":
        return value is None
    if tag == "list":
        return isinstance(value, list) and all(v is None or _type_check(spec[1], v, types) for v in value)
    if tag == "range":
        return isinstance(value, Range) and all(
            v is None or _type_check(spec[1], v, types) for v in (value.start, value.end))
    if tag == "context":
        return isinstance(value, dict) and all(
            k in value and (value[k] is None or _type_check(t, value[k], types)) for k, t in spec[1])
    if tag == "function":
        return isinstance(value, Function)
    checker = types.get(tag)
    if checker is not None:
        return value is not None and checker(value)
    return kind(value) == tag


_TYPE_NAMES = ("date and time", "days and time duration", "years and months duration", "number", "string",
               "boolean", "date", "time", "Any", "Null", "list", "context", "range", "function",
               "dayTimeDuration", "yearMonthDuration")
_TYPE_ALIASES = {"dayTimeDuration": "days and time duration", "yearMonthDuration": "years and months duration"}


# --------------------------------------------------------------------------- the parser


class _Test:
    """One positive unary test: its predicate (scope, value) and, for a constant equality, the constant."""

    __slots__ = ("pred", "value")

    def __init__(self, pred: Callable[[Scope, Any], Optional[bool]], value: Any = _MISSING):
        self.pred, self.value = pred, value


def _any_of(tests: list[_Test]) -> Callable[[Scope, Any], Optional[bool]]:
    if len(tests) == 1:
        return tests[0].pred
    preds = [t.pred for t in tests]

    def pred(s: Scope, v: Any) -> Optional[bool]:
        unknown = False
        for p in preds:
            r = p(s, v)
            if r is True:
                return True
            if r is None:
                unknown = True
        return None if unknown else False

    return pred


def _test_value(x: Any, v: Any, uses_input: bool, constant: bool = False) -> Optional[bool]:
    """Whether input `v` passes a test whose expression gave `x`: a range or list holds it, a
    condition on the input (`? > 3`) or on other values (`amount > limit`) is true, or it equals `x`."""
    if uses_input:
        return x if isinstance(x, bool) else None
    if isinstance(x, Range):
        return in_range(x, v)
    if isinstance(x, list):
        if any(in_range(item, v) is True if isinstance(item, Range) else equal(v, item) is True for item in x):
            return True
        return isinstance(v, list) and equal(v, x) is True
    if isinstance(x, bool) and not constant and v is not None and not isinstance(v, bool):
        return x
    return equal(v, x)


class _Parser:
    def __init__(self, source: str, names: frozenset[str], *, unary: bool, input_variable: Optional[str],
                 strict: bool = True):
        self.source = source
        self.strict = strict  # unknown functions and wrong argument counts: refused, else null
        self.known = names | frozenset(_local_names(source))
        self.tokens = _tokenize(source, self.known)
        self.i = 0
        self.depth = 0
        self.unary_mode = unary
        self.input_variable = input_variable
        self.input_refs = 0
        self.names: set[str] = set()
        self.bound: set[str] = set()
        self.no_filter = False  # inside a range's end: '[' closes the range, it is no filter
        self.in_depth = 0  # inside the tests after `in`, where '?' is the value tested

    # -- helpers

    def error(self, message: str, pos: int) -> ExpressionError:
        return _error(self.source, message, pos)

    def peek(self, ahead: int = 0) -> _Tok:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> _Tok:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def unexpected(self, tok: _Tok, expected: str = "") -> ExpressionError:
        tail = f" (expected {expected})" if expected else ""
        if tok.kind == "end":
            return ExpressionError(f"incomplete: the text ends where {expected or 'more'} was expected", self.source)
        return self.error(f"unexpected {tok.text!r}{tail}", tok.pos)

    def expect_op(self, value: str) -> _Tok:
        tok = self.next()
        if not tok.is_op(value):
            raise self.unexpected(tok, f"'{value}'")
        return tok

    def expect_kw(self, value: str) -> _Tok:
        tok = self.next()
        if not tok.is_kw(value):
            raise self.unexpected(tok, f"'{value}'")
        return tok

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())

    def nested(self, parse: Callable[[], Any]) -> Any:
        saved, self.no_filter = self.no_filter, False
        try:
            return parse()
        finally:
            self.no_filter = saved

    def deeper(self, pos: int) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("expression nested too deeply", pos)

    def word_name(self) -> str:
        """A name made of one or more words (`start position`), up to a ':' or ')'."""
        words = [self.next().value]
        while self.peek().is_word() and not self.peek(0).is_kw("in"):
            words.append(self.next().value)
        return " ".join(str(w) for w in words)

    def key_name(self) -> str:
        """A context key: a name that may hold spaces and + - * / . ' (`{foo+bar: 1}`)."""
        start = self.peek().pos
        while not self.peek().is_op(":") and self.peek().kind != "end" and (
                self.peek().is_word() or self.peek().kind == "num" or self.peek().is_op("+", "-", "*", "/", ".")):
            self.next()
        return " ".join(self.source[start:self.peek().pos].split())

    # -- unary tests

    def unary_tests(self) -> tuple[Callable[[Scope, Any], Optional[bool]], Optional[tuple[Any, ...]]]:
        tok = self.peek()
        if tok.kind == "name" and tok.value == "not" and self.peek(1).is_op("("):
            self.next()
            self.next()
            tests = self.nested(self.test_list)
            self.expect_op(")")
            if self.peek().kind != "end":
                raise self.error("not(...) must enclose the whole entry: write not(\"a\", \"b\")",
                                 self.peek().pos)
            inner = _any_of(tests)

            def negated(s: Scope, v: Any) -> Optional[bool]:
                r = inner(s, v)
                return None if r is None else not r

            return negated, None
        tests = self.test_list()
        self.expect_end()
        values = tuple(t.value for t in tests) if all(t.value is not _MISSING for t in tests) else None
        return _any_of(tests), values

    def test_list(self) -> list[_Test]:
        tests = [self.positive_test()]
        while self.peek().is_op(","):
            self.next()
            tests.append(self.positive_test())
        return tests

    def positive_test(self) -> _Test:
        tok = self.peek()
        if tok.is_op("<", "<=", ">", ">=", "=", "!="):
            self.next()
            if self.peek().kind == "end" or self.peek().is_op(",", ")"):
                raise self.unexpected(self.peek(), f"a value after '{tok.value}'")
            endpoint = self.additive()
            compare_fn = COMPARISONS[tok.value]
            return _Test(lambda s, v: compare_fn(v, endpoint(s)))
        if tok.kind == "end" or tok.is_op(","):
            raise self.unexpected(tok, "a value or a test")
        refs = self.input_refs
        node = self.expression()
        uses_input = self.input_refs > refs
        constant = self.constant_value(node) if not uses_input else _MISSING

        is_constant = constant is not _MISSING

        def test(s: Scope, v: Any) -> Optional[bool]:
            return _test_value(node(s), v, uses_input, is_constant)

        if constant is not _MISSING and not isinstance(constant, (Range, list)):
            return _Test(test, constant)
        return _Test(test)

    def constant_value(self, node: Fn) -> Any:
        """The value of a node made only of literals (no names), else _MISSING."""
        return node.constant if hasattr(node, "constant") else _MISSING

    # -- expressions

    def expression(self) -> Fn:
        tok = self.peek()
        self.deeper(tok.pos)
        if tok.is_kw("if"):
            node = self.if_expression()
        elif tok.is_kw("for"):
            node = self.for_expression()
        elif tok.is_kw("some", "every"):
            node = self.quantified()
        elif tok.is_kw("function"):
            node = self.function_definition()
        else:
            node = self.disjunction()
        self.depth -= 1
        return node

    def if_expression(self) -> Fn:
        self.next()
        cond = self.expression()
        self.expect_kw("then")
        body = self.expression()
        self.expect_kw("else")
        other = self.expression()
        return lambda s: body(s) if cond(s) is True else other(s)

    def iteration_contexts(self) -> list[tuple[str, Fn, Optional[Fn]]]:
        contexts = []
        while True:
            tok = self.next()
            if not tok.is_word():
                raise self.unexpected(tok, "a name")
            name = tok.value
            while self.peek().is_word() and not self.peek().is_kw("in"):
                name += " " + self.next().value
            self.bound.add(name)
            self.expect_kw("in")
            domain = self.nested(self.disjunction)
            end = None
            if self.peek().is_op(".."):
                self.next()
                end = self.nested(self.disjunction)
            contexts.append((name, domain, end))
            if not self.peek().is_op(","):
                return contexts
            self.next()

    def for_expression(self) -> Fn:
        self.next()
        contexts = self.iteration_contexts()
        self.expect_kw("return")
        body = self.expression()

        def run(s: Scope) -> Any:
            results: list[Any] = []
            for bindings in _iterate(contexts, s, {}):
                if bindings is _MISSING:
                    return None
                s.budget.tick()
                results.append(body(s.child({**bindings, "partial": results})))
                if len(results) > MAX_ITEMS:
                    return None
            return results

        return run

    def quantified(self) -> Fn:
        every = self.next().value == "every"
        contexts = self.iteration_contexts()
        self.expect_kw("satisfies")
        cond = self.expression()

        def run(s: Scope) -> Optional[bool]:
            for bindings in _iterate(contexts, s, {}):
                if bindings is _MISSING:
                    return None
                s.budget.tick()
                r = cond(s.child(bindings))
                if every and r is not True:
                    return False
                if not every and r is True:
                    return True
            return every

        return run

    def function_definition(self) -> Fn:
        self.next()
        self.expect_op("(")
        params: list[str] = []
        types: list[Any] = []
        if not self.peek().is_op(")"):
            while True:
                tok = self.peek()
                if not tok.is_word():
                    raise self.unexpected(tok, "a parameter name")
                name = self.word_name()
                params.append(name)
                self.bound.add(name)
                types.append(self.type_spec() if self.peek().is_op(":") and self.next() else None)
                if not self.peek().is_op(","):
                    break
                self.next()
        self.expect_op(")")
        if self.peek().is_kw("external"):
            self.next()
            self.expression()  # a Java or PMML mapping: dalad runs no external code

            def external(s: Scope) -> Function:
                return Function("external", params, lambda values, budget: None, types)

            return external
        body = self.expression()

        def make(s: Scope) -> Function:
            def run(values: list[Any], budget: Any) -> Any:
                s.budget.tick()
                for value, spec in zip(values, types):
                    if spec is not None and value is not None and not _type_check(spec, value, {}):
                        return None
                return body(s.child(dict(zip(params, values))))

            return Function("anonymous", params, run, types)

        return make

    def type_spec(self) -> tuple:
        tok = self.next()
        if not tok.is_word():
            raise self.unexpected(tok, "a type")
        name = str(tok.value)
        for full in ("date and time", "days and time duration", "years and months duration"):
            words = full.split()
            if name == words[0] and all(self.peek(k).is_word() and self.peek(k).value == w
                                        for k, w in enumerate(words[1:])):
                for _ in words[1:]:
                    self.next()
                name = full
                break
        while self.peek().is_op(".") and self.peek(1).is_word():
            self.next()
            name += "." + str(self.next().value)
        name = _TYPE_ALIASES.get(name, name)
        if name in ("list", "range") and self.peek().is_op("<"):
            self.next()
            inner = self.type_spec()
            self.expect_op(">")
            return (name, inner)
        if name == "context" and self.peek().is_op("<"):
            self.next()
            entries = []
            while True:
                key = self.word_name()
                self.expect_op(":")
                entries.append((key, self.type_spec()))
                if self.peek().is_op(">"):
                    break
                self.expect_op(",")
            self.expect_op(">")
            return ("context", tuple(entries))
        if name == "function" and self.peek().is_op("<"):
            self.next()
            while not self.peek().is_op(">"):
                if self.peek().kind == "end":
                    raise self.unexpected(self.peek(), "'>'")
                self.next()
            self.next()
            if self.peek().is_op("-") and self.peek(1).is_op(">"):
                self.next()
                self.next()
                self.type_spec()
            return ("function",)
        return (name,)

    def disjunction(self) -> Fn:
        left = self.conjunction()
        while self.peek().is_kw("or"):
            self.next()
            right = self.conjunction()

            def either(s: Scope, lf: Fn = left, rf: Fn = right) -> Optional[bool]:
                a, b = lf(s), rf(s)
                if a is True or b is True:
                    return True
                return False if a is False and b is False else None

            left = either
        return left

    def conjunction(self) -> Fn:
        left = self.comparison()
        while self.peek().is_kw("and"):
            self.next()
            right = self.comparison()

            def both(s: Scope, lf: Fn = left, rf: Fn = right) -> Optional[bool]:
                a, b = lf(s), rf(s)
                if a is False or b is False:
                    return False
                return True if a is True and b is True else None

            left = both
        return left

    def comparison(self) -> Fn:
        left = self.additive()
        tok = self.peek()
        if tok.is_op("=", "!=", "<", "<=", ">", ">="):
            self.next()
            right = self.additive()
            op = COMPARISONS[tok.value]
            return _constant_fold(lambda s: op(left(s), right(s)), left, right)
        if tok.is_kw("between"):
            self.next()
            low = self.additive()
            self.expect_kw("and")
            high = self.additive()

            def between(s: Scope) -> Optional[bool]:
                v = left(s)
                a, b = COMPARISONS[">="](v, low(s)), COMPARISONS["<="](v, high(s))
                if a is False or b is False:
                    return False
                return True if a and b else None

            return between
        if tok.is_kw("in"):
            self.next()
            pred = self.in_target()
            return lambda s: pred(s, left(s))
        if tok.is_kw("instance"):
            self.next()
            self.expect_kw("of")
            spec = self.type_spec()
            return lambda s: _type_check(spec, left(s), _scope_types(s))
        return left

    def in_target(self) -> Callable[[Scope, Any], Optional[bool]]:
        """After `in`: a parenthesised list of positive unary tests, or one of them."""
        self.in_depth += 1
        try:
            return self.in_tests()
        finally:
            self.in_depth -= 1

    def in_tests(self) -> Callable[[Scope, Any], Optional[bool]]:
        if self.peek().is_op("("):
            start = self.i
            self.next()
            tests = self.nested(self.test_list)
            if self.peek().is_op(".."):  # `x in (1..5)`: the '(' opened a range
                self.i = start
                return self.positive_test().pred
            self.expect_op(")")
            pred = _any_of(tests)
        else:
            pred = self.positive_test().pred
        return lambda s, v: pred(s.child({"?": v}), v)

    def additive(self) -> Fn:
        left = self.multiplicative()
        while self.peek().is_op("+", "-"):
            tok = self.next()
            right = self.multiplicative()
            left = self.binary(tok.value, left, right)
        return left

    def multiplicative(self) -> Fn:
        left = self.power()
        while self.peek().is_op("*", "/"):
            tok = self.next()
            right = self.power()
            left = self.binary(tok.value, left, right)
        return left

    def power(self) -> Fn:
        left = self.unary()
        while self.peek().is_op("**"):
            self.next()
            right = self.unary()
            left = self.binary("**", left, right)
        return left

    def binary(self, op: str, left: Fn, right: Fn) -> Fn:
        fn = ARITHMETIC[op]
        return _constant_fold(lambda s: fn(left(s), right(s)), left, right)

    def unary(self) -> Fn:
        if self.peek().is_op("-"):
            tok = self.next()
            self.deeper(tok.pos)
            operand = self.unary()
            self.depth -= 1
            return _constant_fold(lambda s: negate(operand(s)), operand)
        return self.postfix()

    def postfix(self) -> Fn:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok.is_op("."):
                self.next()
                name = self.next()
                if name.kind not in ("name", "kw", "str"):
                    raise self.unexpected(name, "a name after '.'")
                key = str(name.value)
                node = (lambda base, key: lambda s: path(base(s), key))(node, key)
            elif tok.is_op("[") and not self.no_filter:
                self.next()
                inner = self.nested(self.expression)
                self.expect_op("]")
                node = (lambda base, inner: lambda s: _select(base(s), inner, s))(node, inner)
            elif tok.is_op("("):
                node = self.invocation(node, None, tok)
            else:
                return node

    def arguments(self) -> tuple[list[Fn], Optional[list[str]]]:
        self.expect_op("(")
        args: list[Fn] = []
        names: Optional[list[str]] = None
        if not self.peek().is_op(")"):
            while True:
                start = self.i
                if self.peek().is_word():
                    words = []
                    while self.peek().is_word():
                        words.append(str(self.next().value))
                    if self.peek().is_op(":"):
                        self.next()
                        names = (names or []) + [" ".join(words)]
                    else:
                        self.i = start
                if names is not None and len(names) != len(args) + 1:
                    raise self.error("positional and named arguments cannot be mixed", self.peek().pos)
                args.append(self.nested(self.expression))
                if not self.peek().is_op(","):
                    break
                self.next()
        self.expect_op(")")
        return args, names

    def invocation(self, callee: Fn, name: Optional[str], tok: _Tok) -> Fn:
        args, names = self.arguments()

        def invoke(s: Scope) -> Any:
            fn = callee(s)
            values = [a(s) for a in args]
            if names is not None:
                return call_function(fn, [], dict(zip(names, values)), s)
            return call_function(fn, values, None, s)

        return invoke

    def call(self, tok: _Tok) -> Fn:
        name = str(tok.value)
        builtin = BUILTINS.get(name)
        if builtin is None or name in self.known:
            self.names.add(name)
        local = name in self.known or name in self.bound
        if builtin is None and not local and self.strict:
            hint = _HINTS.get(name)
            raise self.error(f"unknown function '{name}'" + (f": {hint}" if hint else ""), tok.pos)
        args, names = self.arguments()
        if builtin is not None and names is None and not local and self.strict:
            if builtin.bind([None] * len(args), None) is None:
                counts = sorted({len([p for p in sig if not p.endswith("?")]) for sig in builtin.signatures})
                raise self.error(f"{name}() takes {counts[0]} argument{'s' if counts[0] != 1 else ''}, "
                                 f"not {len(args)}", tok.pos)

        def invoke(s: Scope) -> Any:
            fn = s.lookup(name)
            values = [a(s) for a in args]
            named = dict(zip(names, values)) if names is not None else None
            if isinstance(fn, Function):
                return call_function(fn, values if named is None else [], named, s)
            if builtin is None:
                return None
            bound = builtin.bind(values, named)
            return None if bound is None else builtin(*bound)

        if builtin is not None and builtin.pure and not local and all(hasattr(a, "constant") for a in args):
            return _constant_fold(invoke, *args)
        return invoke

    def primary(self) -> Fn:
        tok = self.next()
        if tok.kind in ("num", "str"):
            return _literal(tok.value)
        if tok.kind == "at":
            try:
                return _literal(at_literal(tok.value))
            except ValueError:
                return _literal(None)
        if tok.kind == "kw":
            if tok.value in ("true", "false", "null"):
                return _literal({"true": True, "false": False, "null": None}[tok.value])
            if tok.value in ("if", "for", "some", "every", "function"):
                self.i -= 1
                return self.expression()
            raise self.unexpected(tok)
        if tok.kind == "name":
            if self.peek().is_op("("):
                return self.call(tok)
            if self.unary_mode and tok.value == self.input_variable:
                self.input_refs += 1
                return lambda s: s.lookup("?")
            name = str(tok.value)
            self.names.add(name)

            def lookup(s: Scope) -> Any:
                value = s.lookup(name)
                if value is _MISSING:
                    if "." in name:  # a name in scope elsewhere (`Person.Name`), here a path
                        head, *keys = name.split(".")
                        value = s.lookup(head.strip())
                        for key in keys:
                            value = path(None if value is _MISSING else value, key.strip())
                        return value
                    return _builtin_value(name) if name in BUILTINS else None
                return value

            return lookup
        if tok.is_op("?"):
            if not self.unary_mode and not self.in_depth:
                raise self.error("'?' (the input value) can only be used in an input entry", tok.pos)
            self.input_refs += 1

            def input_value(s: Scope) -> Any:
                value = s.lookup("?")
                return None if value is _MISSING else value

            return input_value
        if tok.is_op("("):
            inner = self.nested(self.expression)
            if self.peek().is_op(".."):
                return self.range_rest(inner, False, tok.pos)
            self.expect_op(")")
            return inner
        if tok.is_op("["):
            if self.peek().is_op("]"):
                self.next()
                return _literal([])
            first = self.nested(self.expression)
            if self.peek().is_op(".."):
                return self.range_rest(first, True, tok.pos)
            items = [first]
            while self.peek().is_op(","):
                self.next()
                items.append(self.nested(self.expression))
            self.expect_op("]")
            return _constant_fold(lambda s: [f(s) for f in items], *items)
        if tok.is_op("]"):
            start = self.nested(self.additive)
            if not self.peek().is_op(".."):
                raise self.unexpected(self.peek(), "'..' in a range such as ]1..10[")
            return self.range_rest(start, False, tok.pos)
        if tok.is_op("{"):
            return self.context(tok)
        opens = self.i > 1 and self.tokens[self.i - 2].is_op("(", ",", "[")
        if tok.is_op("=", "!=") and opens:
            end = self.additive()
            if tok.value == "!=":
                return lambda s: None
            return lambda s: (lambda v: None if v is None else Range(v, v, True, True))(end(s))
        if tok.is_op("<", "<=", ">", ">=") and not self.unary_mode and self.i == 1:
            raise self.error(f"'{tok.value} ...' is a unary test: it is only allowed in an input entry "
                             "or after 'in'", tok.pos)
        if tok.is_op("<", "<=", ">", ">=") and (opens or self.unary_mode):
            end = self.additive()
            op = tok.value

            def half_open(s: Scope) -> Range:
                v = end(s)
                if op in ("<", "<="):
                    return Range(None, v, False, op == "<=")
                return Range(v, None, op == ">=", False)

            return half_open
        raise self.unexpected(tok, "a value")

    def range_rest(self, start: Fn, start_included: bool, pos: int) -> Fn:
        self.expect_op("..")
        saved, self.no_filter = self.no_filter, True
        try:
            end = self.additive()
        finally:
            self.no_filter = saved
        close = self.next()
        if close.is_op("]"):
            end_included = True
        elif close.is_op("[", ")"):
            end_included = False
        else:
            raise self.unexpected(close, "']', '[' or ')' to close the range")

        def make(s: Scope) -> Optional[Range]:
            a, b = start(s), end(s)
            if a is None and b is None:
                return None
            if a is not None and b is not None and compare(a, b) is None:
                return None
            return Range(NULL_END if a is None else a, NULL_END if b is None else b, start_included, end_included)

        return _constant_fold(make, start, end)

    def context(self, tok: _Tok) -> Fn:
        entries: list[tuple[str, Fn]] = []
        if self.peek().is_op("}"):
            self.next()
            return _literal({})
        while True:
            key_tok = self.peek()
            if key_tok.kind == "str":
                key = str(self.next().value)
            elif key_tok.is_word():
                key = self.key_name()
            else:
                raise self.unexpected(key_tok, "a key")
            self.bound.add(key)
            self.expect_op(":")
            entries.append((key, self.nested(self.expression)))
            sep = self.next()
            if sep.is_op("}"):
                break
            if not sep.is_op(","):
                raise self.unexpected(sep, "',' or '}'")
        duplicate = len({k for k, _ in entries}) != len(entries)

        def build(s: Scope) -> Optional[dict]:
            if duplicate:
                return None
            out: dict[str, Any] = {}
            inner = s.child(out)
            for key, fn in entries:
                out[key] = fn(inner)
            return out

        return build


def _literal(value: Any) -> Fn:
    def fn(s: Scope) -> Any:
        return value

    fn.constant = value  # type: ignore[attr-defined]
    return fn


def _constant_fold(fn: Fn, *parts: Fn) -> Fn:
    """A node whose parts are constants gets its value now (at compile time)."""
    if all(hasattr(p, "constant") for p in parts):
        try:
            return _literal(fn(Scope({})))
        except ExpressionError:
            return fn
    return fn


def _scope_types(s: Scope) -> Mapping[str, Callable[[Any], bool]]:
    types = s.lookup(" types")
    return types if isinstance(types, Mapping) else {}


def _iterate(contexts: list[tuple[str, Fn, Optional[Fn]]], s: Scope, bindings: dict[str, Any]) -> Iterable[Any]:
    """Every combination of the iteration contexts' values (the first varies slowest)."""
    if not contexts:
        yield dict(bindings)
        return
    name, domain, end = contexts[0]
    scope = s.child(bindings)
    values = _domain(domain(scope), end(scope) if end is not None else _MISSING, end is not None)
    if values is None:
        yield _MISSING  # not something to iterate: the whole expression is null
        return
    for value in values:
        bindings[name] = value
        yield from _iterate(contexts[1:], s, bindings)
    bindings.pop(name, None)


def _domain(first: Any, last: Any, is_span: bool) -> Optional[Iterable[Any]]:
    """What `for`/`some`/`every` iterate: a list, the whole numbers `a..b` (up or down), or an
    ascending range of whole numbers."""
    if isinstance(first, Range):
        first, last = first.start, first.end
        if compare(first, last) != -1 and compare(first, last) != 0:
            return None
    elif not is_span:
        if isinstance(first, list):
            return first
        return None if first is None else [first]
    if type(first) is date and type(last) is date:  # dates, a day at a time
        step = 1 if last >= first else -1
        count = abs((last - first).days) + 1
        return None if count > MAX_ITEMS else (first + timedelta(days=step * k) for k in range(count))
    if not (is_num(first) and is_num(last)):
        return None
    a, b = num(first), num(last)
    if a != a.to_integral_value() or b != b.to_integral_value() or abs(b - a) > MAX_ITEMS:
        return None
    step = 1 if b >= a else -1
    return (Decimal(k) for k in range(int(a), int(b) + step, step))


def _select(value: Any, inner: Fn, s: Scope) -> Any:
    """`value[inner]`: an index (1-based, negative from the end) or a filter."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        return []
    first = inner(_item_scope(s, items[0]))
    if is_num(first):
        index = num(first)
        if index != index.to_integral_value():
            return None
        index = int(index)
        if 0 < index <= len(items):
            return items[index - 1]
        if index < 0 and -index <= len(items):
            return items[index]
        return None
    out = []
    for n, item in enumerate(items):
        s.budget.tick()
        keep = first if n == 0 else inner(_item_scope(s, item))
        if keep is True:
            out.append(item)
    return out


def _item_scope(s: Scope, item: Any) -> Scope:
    if isinstance(item, dict):
        return s.child({"item": item, **item})
    return s.child({"item": item})


def _call_value(fn: Function, args: list[Any]) -> Any:
    return call_function(fn, args, None, None)


_RANGE_END = r'\s*(?:-?\d+(?:\.\d+)?|"(?:[^"\\]|\\.)*"|@"[^"]*"|(?:date|time|date and time|duration)\("[^"]*"\)|null)?\s*'
_RANGE_TEXT = re.compile(r"[\[\]\(]" + _RANGE_END + r"\.\." + _RANGE_END + r"[\[\]\)]")


def _read_range(source: str) -> Any:
    """range("[1..10]"): the text of a range with literal ends of one kind, ascending."""
    text_ = source.strip()
    if text_[:1] in "[](" and not _RANGE_TEXT.fullmatch(text_):
        return None
    try:
        expr = _compile(text_, frozenset())
    except ExpressionError:
        return None
    if not expr.constant:
        return None
    value = expr.value_of({})
    if not isinstance(value, Range):
        return None
    ends = [e for e in (value.start, value.end) if e is not None and e is not NULL_END]
    if len(ends) == 2 and (kind(ends[0]) != kind(ends[1]) or compare(ends[0], ends[1]) == 1):
        return None
    return value


feel_functions.uses(_call_value, _read_range)


# --------------------------------------------------------------------------- public API


class FeelExpression:
    """A compiled FEEL expression: `evaluate(context)` gives its value."""

    __slots__ = ("source", "names", "_fn")

    def __init__(self, source: str, names: frozenset[str], fn: Fn):
        self.source = source
        self.names = names  # the variable names it reads
        self._fn = fn

    @property
    def constant(self) -> bool:
        return hasattr(self._fn, "constant")

    def value_of(self, context: Optional[Mapping[str, Any]] = None, scope: Optional[Scope] = None) -> Any:
        """The FEEL value (Decimals, naive date and times) over `context` or a `scope`."""
        if scope is None:
            scope = Scope(context or {}, outer=True)
        try:
            with feel_functions.regex_time():
                return self._fn(scope)
        except RecursionError:
            raise ExpressionError("value nested too deeply", self.source) from None

    def evaluate(self, context: Optional[Mapping[str, Any]] = None) -> Any:
        """The value over `context` (a missing name is null), as Python values."""
        return to_python(self.value_of(context))

    def __repr__(self) -> str:
        return f"FeelExpression({self.source!r})"


class UnaryTests:
    """A compiled input entry: `matches(value, context)` says whether the input value passes."""

    __slots__ = ("source", "names", "is_any", "values", "_pred")

    def __init__(self, source: str, names: frozenset[str], pred: Optional[Callable[[Scope, Any], Optional[bool]]],
                 values: Optional[tuple[Any, ...]]):
        self.source = source
        self.names = names  # the variable names it reads (besides the input)
        self.is_any = pred is None  # '-' or empty: every value matches
        self.values = None if values is None else tuple(to_python(v) for v in values)
        self._pred = pred

    def test(self, value: Any, scope: Scope) -> bool:
        """Whether the FEEL value passes, in a scope (engine.dmn)."""
        if self._pred is None:
            return True
        try:
            with feel_functions.regex_time():
                return self._pred(scope.child({"?": value}), value) is True
        except RecursionError:
            raise ExpressionError("value nested too deeply", self.source) from None

    def matches(self, value: Any, context: Optional[Mapping[str, Any]] = None) -> bool:
        return self.test(from_python(value), Scope(context or {}, outer=True))

    def __repr__(self) -> str:
        return f"UnaryTests({self.source!r})"


def _check_text(source: Any, what: str) -> str:
    if not isinstance(source, str):
        raise ExpressionError(f"{what} must be text, not {type(source).__name__}")
    return source


def _compile(source: str, names: frozenset[str], strict: bool = True) -> FeelExpression:
    try:
        parser = _Parser(source, names, unary=False, input_variable=None, strict=strict)
        node = parser.expression()
        parser.expect_end()
    except RecursionError:
        raise ExpressionError("expression nested too deeply", source) from None
    return FeelExpression(source, frozenset(parser.names), node)


@functools.lru_cache(maxsize=8192)
def compile_expression(source: str, names: frozenset[str] = frozenset(), strict: bool = True) -> FeelExpression:
    """Compile a FEEL expression at deploy time; ExpressionError (with the column) if it is wrong.

    `names`: names in scope with spaces or special characters, so that they read as one name.
    `strict`: an unknown function or a wrong number of arguments is an error (else null at run
    time, as DMN 1.4+ says)."""
    _check_text(source, "a FEEL expression")
    if not source.strip():
        raise ExpressionError("empty expression", source)
    return _compile(source, names, strict)


@functools.lru_cache(maxsize=8192)
def compile_unary_tests(source: str, input_variable: str = "cellInput",
                        names: frozenset[str] = frozenset(), strict: bool = True) -> UnaryTests:
    """Compile an input entry at deploy time; `-` or empty text matches anything.

    `input_variable` is the name under which the entry can also refer to the input value
    (Camunda's `camunda:inputVariable`, `cellInput` by default), like `?`.
    """
    _check_text(source, "an input entry")
    text_ = source.strip()
    if text_ in ("", "-"):
        return UnaryTests(source, frozenset(), None, None)
    try:
        parser = _Parser(source, names, unary=True, input_variable=input_variable, strict=strict)
        pred, values = parser.unary_tests()
    except RecursionError:
        raise ExpressionError("expression nested too deeply", source) from None
    return UnaryTests(source, frozenset(parser.names), pred, values)
