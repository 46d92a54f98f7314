"""DMN boxed expressions and item definitions (DMN 1.1 to 1.5), compiled at deploy.

`BoxedCompiler(problem, names, type_of, table).compile(element, where)` turns an expression
element of a decision, business knowledge model or context entry into a closure
`fn(scope) -> FEEL value`: literal expression, context, invocation, relation, list, function
definition, decision table (engine.dmn compiles those), and DMN 1.5's conditional, filter, for,
some and every.  A broken part is reported as a problem (file, line, decision) and the model is
refused at deploy; what cannot run (a Java or PMML function) gives null at run time.

`ItemType` is a compiled item definition (`<itemDefinition>`: a base type, a collection, a
structure of components, allowed values); `conform(value, type)` gives the value when it
conforms to the type (after DMN's singleton-list conversions) and null when it does not, as the
standard says for the typeRef of inputs, decisions, parameters, context entries and results.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from lxml import etree

from engine import feel
from engine.errors import ExpressionError
from engine.feel import Scope
from engine.feel_values import Function, kind

Fn = Callable[[Scope], Any]

_BASE_TYPES = {
    "number": "number", "string": "string", "boolean": "boolean", "date": "date", "time": "time",
    "date and time": "date and time", "dateTime": "date and time", "datetime": "date and time",
    "days and time duration": "days and time duration", "dayTimeDuration": "days and time duration",
    "years and months duration": "years and months duration", "yearMonthDuration": "years and months duration",
    "duration": "duration", "Any": "Any", "any": "Any", "context": "context", "list": "list",
    "range": "range", "function": "function",
}


@dataclass(eq=False)
class ItemType:
    """A compiled item definition (or a FEEL base type when `base` is one of its names)."""

    name: str
    base: Optional[str] = None  # a FEEL type name
    ref: Optional["ItemType"] = None  # an item definition this one refines
    collection: bool = False
    components: Optional[dict[str, Optional["ItemType"]]] = None
    allowed: Any = None  # feel.UnaryTests
    element: Optional["ItemType"] = field(default=None, repr=False)  # list<T> items
    output: Optional["ItemType"] = field(default=None, repr=False)  # a function type's result


def base_type(name: Optional[str]) -> Optional[ItemType]:
    if not name:
        return None
    key = name[5:] if name.startswith("feel:") else name
    base = _BASE_TYPES.get(key)
    return ItemType(key, base=base) if base else None


_BAD = object()


def conform(value: Any, t: Optional[ItemType]) -> Any:
    """The value as of type `t` (singleton lists converted), or null when it does not conform."""
    result = _conform(value, t, 0)
    return None if result is _BAD else result


def element_type(t: ItemType) -> ItemType:
    """The type of a collection type's items."""
    return ItemType(t.name, base=t.base, ref=t.ref, components=t.components, allowed=t.allowed)


def _conform(value: Any, t: Optional[ItemType], depth: int) -> Any:
    if value is None or t is None or depth > 50:
        return value
    if t.collection:
        items = value if isinstance(value, list) else [value]
        single = element_type(t)
        out = []
        for item in items:
            converted = _conform(item, single, depth + 1)
            if converted is _BAD:
                return _BAD
            out.append(converted)
        return out
    if isinstance(value, list) and len(value) == 1 and t.base not in ("list", "Any"):
        value = value[0]
        if value is None:
            return None
    if t.ref is not None:
        value = _conform(value, t.ref, depth + 1)
        if value is _BAD:
            return _BAD
    elif t.components is not None:
        if not isinstance(value, dict):
            return _BAD
        for key, component in t.components.items():
            if key not in value or _conform(value[key], component, depth + 1) is _BAD:
                return _BAD
    elif t.base is not None and t.base != "Any":
        k = kind(value)
        if t.base == "duration":
            ok = k in ("days and time duration", "years and months duration")
        elif t.base == "list":
            ok = isinstance(value, list) and (t.element is None or all(
                _conform(v, t.element, depth + 1) is not _BAD for v in value))
        else:
            ok = k == t.base
        if not ok:
            return _BAD
    return _allowed(value, t)


def is_instance(value: Any, t: ItemType, depth: int = 0) -> bool:
    """`value instance of t`: its kind, all components of a structure, a list for a collection;
    allowed values are not looked at, nor is a singleton list converted."""
    if value is None or depth > 50:
        return value is None
    if t.collection:
        return isinstance(value, list) and all(v is None or is_instance(v, element_type(t), depth + 1)
                                               for v in value)
    if t.ref is not None:
        return is_instance(value, t.ref, depth + 1)
    if t.components is not None:
        return isinstance(value, dict) and all(
            k in value and (c is None or value[k] is None or is_instance(value[k], c, depth + 1))
            for k, c in t.components.items())
    return _conform(value, ItemType(t.name, base=t.base, element=t.element), depth) is not _BAD and \
        not (isinstance(value, list) and t.base not in ("list", "Any"))


def _allowed(value: Any, t: ItemType) -> Any:
    if t.allowed is None or value is None:
        return value
    return value if t.allowed.test(value, Scope({})) else _BAD


# --------------------------------------------------------------------------- compiling


def local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


_EXPRESSIONS = frozenset({"literalExpression", "context", "invocation", "relation", "list", "functionDefinition",
                          "decisionTable", "conditional", "filter", "for", "some", "every"})


def expression_child(el: etree._Element) -> Optional[etree._Element]:
    """The expression element among `el`'s children."""
    return next((c for c in el if local(c) in _EXPRESSIONS), None)


class BoxedCompiler:
    """Compiles expression elements of one DMN file; `problem(message, line)` reports what is broken."""

    def __init__(self, problem: Callable[[str, Optional[int]], None], names: frozenset[str],
                 type_of: Callable[[Optional[str], Optional[int]], Optional[ItemType]],
                 table: Callable[[etree._Element, str], Optional[Fn]], strict: bool = False):
        self.problem, self.names, self.type_of, self.table = problem, names, type_of, table
        self.strict = strict

    def compile(self, el: Optional[etree._Element], where: str) -> Optional[Fn]:
        if el is None:
            return lambda s: None
        name = local(el)
        method = getattr(self, "c_" + name, None) if name in _EXPRESSIONS else None
        if method is None:
            self.problem(f"{where}: a <{name}> is not an expression this engine runs", el.sourceline)
            return None
        fn = method(el, where)
        t = self.type_of(el.get("typeRef"), el.sourceline) if fn is not None and name != "decisionTable" else None
        if t is None or t.base == "function":
            return fn
        return lambda s: conform(fn(s), t)

    def child_expr(self, el: Optional[etree._Element], where: str) -> Optional[Fn]:
        inner = expression_child(el) if el is not None else None
        return self.compile(inner, where)

    def feel_text(self, text_value: str, line: Optional[int], where: str) -> Optional[feel.FeelExpression]:
        try:
            return feel.compile_expression(text_value, self.names, self.strict)
        except ExpressionError as exc:
            self.problem(f"{where}: {exc}", line)
            return None

    def c_literalExpression(self, el: etree._Element, where: str) -> Optional[Fn]:
        text_el = next((c for c in el if local(c) == "text"), None)
        source = (text_el.text or "") if text_el is not None else ""
        if not source.strip():
            return lambda s: None
        language = (el.get("expressionLanguage") or "").lower()
        if language and "feel" not in language:
            self.problem(f"{where}: expression language '{el.get('expressionLanguage')}' is not supported "
                         "in a boxed expression (use FEEL)", el.sourceline)
            return None
        expr = self.feel_text(source, text_el.sourceline if text_el is not None else el.sourceline, where)
        if expr is None:
            return None
        return lambda s: expr.value_of(scope=s)

    def c_decisionTable(self, el: etree._Element, where: str) -> Optional[Fn]:
        return self.table(el, where)

    def typed(self, fn: Optional[Fn], variable: Optional[etree._Element]) -> Optional[Fn]:
        if fn is None or variable is None:
            return fn
        t = self.type_of(variable.get("typeRef"), variable.sourceline)
        if t is None:
            return fn
        return lambda s: conform(fn(s), t)

    def c_context(self, el: etree._Element, where: str) -> Optional[Fn]:
        entries: list[tuple[Optional[str], Fn]] = []
        broken = False
        for entry in (c for c in el if local(c) == "contextEntry"):
            variable = next((c for c in entry if local(c) == "variable"), None)
            key = variable.get("name") if variable is not None else None
            fn = self.typed(self.child_expr(entry, f"{where} context entry '{key or 'result'}'"), variable)
            if fn is None:
                broken = True
                continue
            entries.append((key, fn))
        if broken:
            return None

        def run(s: Scope) -> Any:
            out: dict[str, Any] = {}
            inner = s.child(out)
            for key, fn in entries:
                value = fn(inner)
                if key is None:
                    return value
                out[key] = value
            return out

        return run

    def c_list(self, el: etree._Element, where: str) -> Optional[Fn]:
        items = [self.compile(c, f"{where} list item {n}") for n, c in
                 enumerate((c for c in el if local(c) in _EXPRESSIONS), start=1)]
        if any(i is None for i in items):
            return None
        return lambda s: [i(s) for i in items]

    def c_relation(self, el: etree._Element, where: str) -> Optional[Fn]:
        columns = [c.get("name") for c in el if local(c) == "column"]
        rows = []
        for n, row in enumerate((c for c in el if local(c) == "row"), start=1):
            cells = [self.compile(c, f"{where} row {n}") for c in row if local(c) in _EXPRESSIONS]
            if any(c is None for c in cells):
                return None
            if len(cells) != len(columns):
                self.problem(f"{where} row {n}: it has {len(cells)} cells for {len(columns)} columns", row.sourceline)
                return None
            rows.append(cells)
        return lambda s: [dict(zip(columns, (c(s) for c in cells))) for cells in rows]

    def c_invocation(self, el: etree._Element, where: str) -> Optional[Fn]:
        callee = self.compile(expression_child(el), f"{where} invocation")
        bindings = []
        for binding in (c for c in el if local(c) == "binding"):
            param = next((c for c in binding if local(c) == "parameter"), None)
            name = param.get("name") if param is not None else None
            expr = expression_child(binding)
            fn = self.compile(expr, f"{where} binding '{name}'") if expr is not None else (lambda s: None)
            if fn is None:
                return None
            bindings.append((name, fn))
        if callee is None:
            return None

        def run(s: Scope) -> Any:
            fn = callee(s)
            return feel.call_function(fn, [], {name: f(s) for name, f in bindings}, s) \
                if isinstance(fn, Function) else None

        return run

    def c_functionDefinition(self, el: etree._Element, where: str) -> Optional[Fn]:
        params = [p for p in el if local(p) == "formalParameter"]
        names = [p.get("name") for p in params]
        types = [self.type_of(p.get("typeRef"), p.sourceline) for p in params]
        function_kind = (el.get("kind") or "FEEL").upper()
        if function_kind != "FEEL":
            return lambda s: Function("external", names, lambda values, budget: None)
        body = self.child_expr(el, f"{where} function body")
        if body is None:
            return None
        return lambda s: make_function("function", names, types, body, s)

    def c_conditional(self, el: etree._Element, where: str) -> Optional[Fn]:
        parts = {local(c): self.child_expr(c, f"{where} {local(c)}") for c in el
                 if local(c) in ("if", "then", "else")}
        if any(p is None for p in parts.values()) or len(parts) != 3:
            return None
        cond, then, other = parts["if"], parts["then"], parts["else"]

        def run(s: Scope) -> Any:
            c = cond(s)
            if c is True:
                return then(s)
            return other(s) if c is False or c is None else None

        return run

    def iteration(self, el: etree._Element, where: str, body_name: str) -> Optional[tuple[str, Fn, Fn]]:
        parts = {local(c): self.child_expr(c, f"{where} {local(c)}") for c in el
                 if local(c) in ("in", body_name)}
        if any(p is None for p in parts.values()) or len(parts) != 2:
            return None
        return el.get("iteratorVariable") or "item", parts["in"], parts[body_name]

    def c_for(self, el: etree._Element, where: str) -> Optional[Fn]:
        found = self.iteration(el, where, "return")
        if found is None:
            return None
        name, domain, body = found

        def run(s: Scope) -> Any:
            values = _domain_values(domain, s)
            if values is None:
                return None
            results: list[Any] = []
            for v in values:
                s.budget.tick()
                results.append(body(s.child({name: v, "partial": results})))
            return results

        return run

    def quantifier(self, el: etree._Element, where: str, every: bool) -> Optional[Fn]:
        found = self.iteration(el, where, "satisfies")
        if found is None:
            return None
        name, domain, cond = found

        def run(s: Scope) -> Any:
            values = _domain_values(domain, s)
            if values is None:
                return None
            for v in values:
                s.budget.tick()
                r = cond(s.child({name: v}))
                if not isinstance(r, bool):
                    return None
                if r is not every:
                    return r
            return every

        return run

    def c_some(self, el: etree._Element, where: str) -> Optional[Fn]:
        return self.quantifier(el, where, False)

    def c_every(self, el: etree._Element, where: str) -> Optional[Fn]:
        return self.quantifier(el, where, True)

    def c_filter(self, el: etree._Element, where: str) -> Optional[Fn]:
        parts = {local(c): self.child_expr(c, f"{where} {local(c)}") for c in el if local(c) in ("in", "match")}
        if any(p is None for p in parts.values()) or len(parts) != 2:
            return None
        domain, match = parts["in"], parts["match"]

        def run(s: Scope) -> Any:
            values = _domain_values(domain, s)
            if values is None:
                return None
            out = []
            for v in values:
                s.budget.tick()
                scope = s.child({"item": v, **v} if isinstance(v, dict) else {"item": v})
                keep = match(scope)
                if not isinstance(keep, bool) and keep is not None:
                    return None
                if keep is True:
                    out.append(v)
            return out

        return run


def _domain_values(domain: Fn, s: Scope) -> Optional[list]:
    """What a boxed for, some, every or filter goes through: a list (one value is a list of it)."""
    values = domain(s)
    if values is None:
        return None
    return values if isinstance(values, list) else [values]


def make_function(name: str, params: list[str], types: list[Optional[ItemType]], body: Fn, scope: Scope,
                  result_type: Optional[ItemType] = None) -> Function:
    """A FEEL function value (a function definition, a BKM) closing over `scope`."""

    def run(values: list[Any], budget: Any) -> Any:
        scope.budget.tick()
        args = {}
        for p, v, t in zip(params, values, types):
            args[p] = conform(v, t)
            if v is not None and args[p] is None:
                return None  # an argument of the wrong type: the invocation is null
        return conform(body(scope.child(args)), result_type)

    return Function(name, params, run, types)


__all__ = ["BoxedCompiler", "ItemType", "base_type", "conform", "element_type", "expression_child", "is_instance",
           "local", "make_function"]
