"""DMN decisions as Camunda Modeler writes them for Camunda 7: read at deploy, evaluated at run time.

The whole API:

    decisions, problems = parse_dmn(tree, filename)          # at deploy; refuse if problems
    by_id = {d.id: d for d in decisions}                      # every decision of the file (a DRD)
    result = evaluate_decision(by_id, "approval", variables)  # DecisionResult or DecisionError
    value = map_decision_result(result, "singleEntry")        # camunda:mapDecisionResult
    ref, problems = business_rule_reference(task, filename)   # a BPMN businessRuleTask's camunda: attributes

`parse_dmn` reads DMN 1.1, 1.2 and 1.3 files: decision tables (inputs, outputs, rules, hit policy
and aggregation) and literal-expression decisions, with their required decisions.  Every cell is
compiled at deploy (FEEL by default, see engine.feel; `expressionLanguage="juel"` or `"python"` on
a cell, column or the definitions uses engine.expressions), and every problem is reported with the
decision, the rule and the column: "decision 'approval' rule 3 (rule id Rule_x) input column 2
('amount'): <error>".

`evaluate_decision` follows Camunda 7 (engine-dmn):

* Input expressions are evaluated and converted to the column's typeRef (string, boolean,
  integer, long, double, date, plus FEEL's number, date and time, time, duration, any); a value
  that does not convert is an error.  An empty input entry (or `-`) matches anything.
* An output entry left empty adds nothing to the rule's output (Camunda skips empty cells); the
  others are converted to the output's typeRef.  A row's keys are the outputs' names (a single
  output without a name is keyed by its id).
* Hit policies: UNIQUE (a second match is an error), FIRST, ANY (matches must agree on their
  outputs, else an error), RULE ORDER, COLLECT, COLLECT with SUM/MIN/MAX (one row with the
  output's name; nothing when no rule matched) or COUNT (always one row).  PRIORITY and OUTPUT
  ORDER rank rules by the position of their output values in the outputs' `outputValues`
  (first listed = highest), as the DMN standard says; Camunda 7 itself refuses those two.
* Required decisions (informationRequirement/requiredDecision) are evaluated first, each once;
  as in Camunda 7, their outputs are added to the variables by output name: the value itself
  when the decision gave one row (and is not COLLECT or RULE ORDER), else a list of the values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, Optional, Sequence

from lxml import etree

from engine import clock, expressions, feel
from engine.errors import EngineError, ExpressionError, NotFound, Problem

__all__ = [
    "Decision",
    "DecisionError",
    "DecisionRef",
    "DecisionResult",
    "DMN_NAMESPACES",
    "HIT_POLICIES",
    "MAP_DECISION_RESULT",
    "business_rule_reference",
    "evaluate_decision",
    "map_decision_result",
    "parse_dmn",
]

DMN_NAMESPACES = {
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
}
CAMUNDA_DMN_NS = "http://camunda.org/schema/1.0/dmn"
CAMUNDA_BPMN_NS = "http://camunda.org/schema/1.0/bpmn"

HIT_POLICIES = ("UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
MAP_DECISION_RESULT = ("singleEntry", "singleResult", "collectEntries", "resultList")
BINDINGS = ("latest", "deployment", "version", "versionTag")


class DecisionError(EngineError):
    """Evaluating a decision failed: a cell that fails, a hit policy broken, a result that does
    not fit the mapping.  The message names the decision (and the rule and column when known)."""

    def __init__(self, message: str, *, decision_id: Optional[str] = None, rule_ids: Sequence[str] = ()):
        self.decision_id = decision_id
        self.rule_ids = tuple(rule_ids)
        super().__init__(message)


# --------------------------------------------------------------------------- type conversion

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


def _bad(v: Any, type_ref: str) -> ValueError:
    return ValueError(f"{feel.describe(v)} is not a valid '{type_ref}'")


def _to_string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, Decimal)):
        return str(v)
    if isinstance(v, (date, time)):
        return v.isoformat()
    if isinstance(v, (timedelta, feel.YearsMonths)):
        return feel.to_text(v)
    raise _bad(v, "string")


def _integer(lo: int, hi: int, name: str) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        if isinstance(v, bool):
            raise _bad(v, name)
        if isinstance(v, int):
            n = v
        elif isinstance(v, (float, Decimal)) and v == v and v not in (float("inf"), float("-inf")) \
                and v == int(v):
            n = int(v)
        elif isinstance(v, str) and _INTEGER_TEXT.fullmatch(v):
            n = int(v)
        else:
            raise _bad(v, name)
        if not lo <= n <= hi:
            raise ValueError(f"value {n} is out of the range of '{name}'")
        return n

    return convert


def _to_double(v: Any) -> float:
    if _is_number(v):
        return float(v)
    if isinstance(v, str) and _NUMBER_TEXT.fullmatch(v):
        return float(v)
    raise _bad(v, "double")


def _to_number(v: Any) -> Any:
    if _is_number(v):
        return float(v) if isinstance(v, Decimal) else v
    if isinstance(v, str) and _NUMBER_TEXT.fullmatch(v):
        text = v.strip()
        return int(text) if _INTEGER_TEXT.fullmatch(text) else float(text)
    raise _bad(v, "number")


def _to_boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise _bad(v, "boolean")


def _to_date(v: Any) -> date | datetime:
    """Camunda's 'date' (a java.util.Date): a date, a date and time, or an ISO text of either."""
    if isinstance(v, datetime):
        return clock.aware(v)
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        text = v.strip()
        try:
            return feel.parse_date_time(text) if "T" in text else feel.parse_date(text)
        except ValueError:
            pass
    raise _bad(v, "date")


def _to_date_time(v: Any) -> datetime:
    if isinstance(v, datetime):
        return clock.aware(v)
    if isinstance(v, date):
        return datetime.combine(v, time(), tzinfo=clock.local_zone())
    if isinstance(v, str):
        try:
            return feel.parse_date_time(v)
        except ValueError:
            pass
    raise _bad(v, "date and time")


def _to_time(v: Any) -> time:
    if isinstance(v, time):
        return v
    if isinstance(v, datetime):
        return v.timetz()
    if isinstance(v, str):
        try:
            return feel.parse_time(v)
        except ValueError:
            pass
    raise _bad(v, "time")


def _to_duration(v: Any) -> Any:
    if isinstance(v, (timedelta, feel.YearsMonths)):
        return v
    if isinstance(v, str):
        try:
            return feel.parse_duration(v)
        except ValueError:
            pass
    raise _bad(v, "duration")


_CONVERTERS: dict[str, Optional[Callable[[Any], Any]]] = {
    "string": _to_string,
    "boolean": _to_boolean,
    "integer": _integer(*_INT32, "integer"),
    "long": _integer(*_INT64, "long"),
    "double": _to_double,
    "date": _to_date,
    "number": _to_number,
    "date and time": _to_date_time,
    "datetime": _to_date_time,
    "time": _to_time,
    "duration": _to_duration,
    "any": None,
    "": None,
}


def _converter(type_ref: Optional[str]) -> tuple[Optional[Callable[[Any], Any]], Optional[str]]:
    """(converter or None, error text when the typeRef is unknown)."""
    if type_ref is None:
        return None, None
    key = type_ref.strip().lower()
    if key.startswith("feel:"):
        key = key[5:]
    if key not in _CONVERTERS:
        known = ", ".join(k for k in _CONVERTERS if k)
        return None, f"unknown typeRef '{type_ref}' (use one of: {known})"
    return _CONVERTERS[key], None


def _convert(converter: Optional[Callable[[Any], Any]], value: Any) -> Any:
    if converter is None or value is None:
        return value
    return converter(value)


# --------------------------------------------------------------------------- compiled model


class _ScriptExpression:
    """A JUEL or Python cell (engine.expressions) with FEEL's `evaluate(context)` shape."""

    __slots__ = ("source", "expr")

    def __init__(self, source: str, language: str):
        self.source = source
        if language == "juel":
            self.expr = expressions.compile_template(source)
        else:
            self.expr = expressions.compile_expression(source)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        return self.expr.evaluate(context)


class _ScriptTest:
    """A JUEL or Python input entry: true when the expression, with the input value bound to the
    input variable, gives true (Camunda's rule for non-FEEL input entries)."""

    __slots__ = ("source", "expr", "input_variable")

    def __init__(self, source: str, language: str, input_variable: str):
        self.source = source
        self.expr = _ScriptExpression(source, language)
        self.input_variable = input_variable

    def matches(self, value: Any, context: Mapping[str, Any]) -> bool:
        return self.expr.evaluate({**context, self.input_variable: value}) is True


@dataclass(eq=False)
class DecisionInput:
    id: Optional[str]
    label: str  # what messages call the column: the label, else the expression text
    text: str  # the input expression
    type_ref: Optional[str]
    input_variable: str
    expression: Any = field(repr=False, default=None)  # .evaluate(context); None for an empty expression
    convert: Optional[Callable[[Any], Any]] = field(repr=False, default=None)


@dataclass(eq=False)
class DecisionOutput:
    id: Optional[str]
    label: str
    name: Optional[str]
    key: str  # the key of this output in a result row
    type_ref: Optional[str]
    values: Optional[tuple[Any, ...]] = None  # outputValues, for PRIORITY and OUTPUT ORDER
    convert: Optional[Callable[[Any], Any]] = field(repr=False, default=None)


@dataclass(eq=False)
class DecisionRule:
    id: Optional[str]
    number: int  # 1-based position in the table
    tests: tuple[tuple[int, Any], ...] = field(repr=False, default=())  # (input index, .matches) for non-'-' cells
    outputs: tuple[tuple[int, Any], ...] = field(repr=False, default=())  # (output index, .evaluate) for non-empty cells
    entries: tuple[str, ...] = ()  # the input entries' text
    output_texts: tuple[str, ...] = ()

    def where(self) -> str:
        return f"rule {self.number}" + (f" (rule id {self.id})" if self.id else "")


@dataclass(eq=False)
class Decision:
    """One decision of a DMN file: a decision table or a literal expression."""

    id: str
    name: Optional[str]
    file: str
    line: Optional[int]
    kind: str  # "table" or "literal"
    required: tuple[str, ...] = ()  # ids of required decisions (same file)
    hit_policy: str = "UNIQUE"
    aggregation: Optional[str] = None
    inputs: list[DecisionInput] = field(default_factory=list)
    outputs: list[DecisionOutput] = field(default_factory=list)
    rules: list[DecisionRule] = field(default_factory=list)
    variable: Optional[str] = None  # literal expression: the result's name
    variable_type_ref: Optional[str] = None
    literal: Any = field(repr=False, default=None)
    literal_convert: Optional[Callable[[Any], Any]] = field(repr=False, default=None)

    @property
    def returns_list(self) -> bool:
        """Whether a required decision's outputs reach the variables as lists (Camunda 7 rule)."""
        return self.kind == "table" and (
            self.hit_policy == "RULE ORDER" or (self.hit_policy == "COLLECT" and self.aggregation is None))


@dataclass(frozen=True)
class DecisionResult:
    """What a decision gave: one dict per matched rule (output key -> value), in table order (or the
    hit policy's order); a COLLECT aggregation gives one dict.  `matched_rules` are rule ids."""

    decision_id: str
    outputs: list[dict[str, Any]]
    matched_rules: list[str]
    required: dict[str, "DecisionResult"] = field(default_factory=dict)  # required decisions' results


# --------------------------------------------------------------------------- parsing


def _language(value: Optional[str]) -> Optional[str]:
    """'feel', 'juel' or 'python' for an expressionLanguage attribute; None if unsupported."""
    if value is None or not value.strip():
        return "feel"
    lang = value.strip().lower()
    if "feel" in lang:
        return "feel"
    if lang in ("juel", "el", "jsr223-juel"):
        return "juel"
    if lang == "python":
        return "python"
    return None


class _Reader:
    def __init__(self, filename: str, ns: str, default_language: Optional[str]):
        self.filename = filename
        self.ns = ns
        self.default_language = default_language
        self.problems: list[Problem] = []

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def child(self, el: etree._Element, name: str) -> Optional[etree._Element]:
        return next(el.iterchildren(self.q(name)), None)

    def children(self, el: etree._Element, name: str) -> list[etree._Element]:
        return list(el.iterchildren(self.q(name)))

    def text_of(self, el: Optional[etree._Element]) -> tuple[str, Optional[int]]:
        """The `<text>` of an expression element, and its line."""
        if el is None:
            return "", None
        text_el = self.child(el, "text")
        if text_el is None:
            return "", el.sourceline
        return (text_el.text or ""), text_el.sourceline

    def problem(self, decision_id: Optional[str], message: str, line: Optional[int]) -> None:
        self.problems.append(Problem(self.filename, message, line=line, element_id=decision_id,
                                     element_type="decision"))

    def lang(self, el: Optional[etree._Element]) -> Optional[str]:
        attr = el.get("expressionLanguage") if el is not None else None
        return _language(attr if attr is not None else self.default_language)

    def lang_name(self, el: Optional[etree._Element]) -> str:
        attr = el.get("expressionLanguage") if el is not None else None
        return attr if attr is not None else (self.default_language or "")


def parse_dmn(tree: Any, filename: str) -> tuple[list[Decision], list[Problem]]:
    """Read a DMN file's decisions (tree from engine.xmlsafe.parse_xml) and compile every cell.

    Returns the decisions that are sound and the problems found; a file with any problem must
    be refused (the problems name the decision, rule and column of each broken cell)."""
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    qname = etree.QName(root)
    if qname.localname != "definitions" or qname.namespace not in DMN_NAMESPACES:
        return [], [Problem(filename, "not a DMN 1.1/1.2/1.3 file: the root element must be <definitions> "
                            "in a DMN namespace (" + ", ".join(DMN_NAMESPACES) + ")", line=root.sourceline)]
    reader = _Reader(filename, qname.namespace, root.get("expressionLanguage"))
    decisions: list[Decision] = []
    seen: dict[str, int] = {}
    for el in reader.children(root, "decision"):
        did = el.get("id")
        if not did:
            reader.problem(None, f"a decision ({el.get('name') or 'without a name'}) has no id", el.sourceline)
            continue
        if did in seen:
            reader.problem(did, f"decision id '{did}' is used twice (also on line {seen[did]})", el.sourceline)
            continue
        seen[did] = el.sourceline
        before = len(reader.problems)
        decision = _read_decision(reader, el, did)
        if decision is not None and len(reader.problems) == before:
            decisions.append(decision)
    if not seen and not reader.problems:
        reader.problems.append(Problem(filename, "the file has no decision", line=root.sourceline))
    _check_requirements(reader, root, decisions, seen)
    return decisions, reader.problems


def _read_decision(reader: _Reader, el: etree._Element, did: str) -> Optional[Decision]:
    decision = Decision(id=did, name=el.get("name"), file=reader.filename, line=el.sourceline, kind="table")
    required = []
    for req in reader.children(el, "informationRequirement"):
        ref = reader.child(req, "requiredDecision")
        if ref is None:
            continue  # requiredInput: documentation of an input, nothing to evaluate
        href = (ref.get("href") or "").strip()
        if not href.startswith("#") or len(href) < 2:
            reader.problem(did, f"decision '{did}': required decision href '{href}' must point into the same "
                           "file ('#decision_id')", ref.sourceline)
            continue
        required.append(href[1:])
    decision.required = tuple(required)
    table = reader.child(el, "decisionTable")
    literal = reader.child(el, "literalExpression")
    if table is not None:
        _read_table(reader, table, decision)
    elif literal is not None:
        _read_literal(reader, el, literal, decision)
    else:
        other = next((etree.QName(c).localname for c in el if isinstance(c.tag, str)
                      and etree.QName(c).localname in ("context", "invocation", "relation", "list",
                                                       "functionDefinition")), None)
        if other:
            reader.problem(did, f"decision '{did}': a {other} is not supported; use a decision table or a "
                           "literal expression", el.sourceline)
        else:
            reader.problem(did, f"decision '{did}' has neither a decision table nor a literal expression",
                           el.sourceline)
        return None
    return decision


def _read_literal(reader: _Reader, el: etree._Element, literal: etree._Element, decision: Decision) -> None:
    did = decision.id
    decision.kind = "literal"
    variable = reader.child(el, "variable")
    if variable is None or not (variable.get("name") or "").strip():
        reader.problem(did, f"decision '{did}': a literal expression decision needs a <variable name=\"...\"> "
                       "naming its result", el.sourceline)
    else:
        decision.variable = variable.get("name").strip()
        decision.variable_type_ref = variable.get("typeRef")
        decision.literal_convert, error = _converter(decision.variable_type_ref)
        if error:
            reader.problem(did, f"decision '{did}' variable '{decision.variable}': {error}", variable.sourceline)
    text, line = reader.text_of(literal)
    if not text.strip():
        reader.problem(did, f"decision '{did}': the literal expression is empty", line or literal.sourceline)
        return
    decision.literal = _compile_expression(reader, did, literal, text, line, f"decision '{did}' literal expression")


def _compile_expression(reader: _Reader, did: str, el: etree._Element, text: str, line: Optional[int],
                        where: str) -> Any:
    """A compiled output entry, input expression or literal expression; None (and a problem) if broken."""
    language = reader.lang(el)
    if language is None:
        reader.problem(did, f"{where}: expression language '{reader.lang_name(el)}' is not supported "
                       "(use FEEL, juel or python)", line)
        return None
    try:
        if language == "feel":
            return feel.compile_expression(text)
        return _ScriptExpression(text, language)
    except ExpressionError as exc:
        reader.problem(did, f"{where}: {exc}", line)
        return None


def _read_table(reader: _Reader, table: etree._Element, decision: Decision) -> None:
    did = decision.id
    policy = " ".join((table.get("hitPolicy") or "UNIQUE").split()).upper()
    if policy not in HIT_POLICIES:
        reader.problem(did, f"decision '{did}': unknown hit policy '{table.get('hitPolicy')}' (use one of "
                       + ", ".join(HIT_POLICIES) + ")", table.sourceline)
    decision.hit_policy = policy
    aggregation = table.get("aggregation")
    if aggregation is not None:
        aggregation = aggregation.strip().upper()
        if aggregation not in AGGREGATIONS:
            reader.problem(did, f"decision '{did}': unknown aggregation '{table.get('aggregation')}' "
                           "(use SUM, MIN, MAX or COUNT)", table.sourceline)
        elif policy != "COLLECT":
            reader.problem(did, f"decision '{did}': aggregation {aggregation} needs hit policy COLLECT, "
                           f"not {policy}", table.sourceline)
        decision.aggregation = aggregation

    for index, el in enumerate(reader.children(table, "input"), start=1):
        expr_el = reader.child(el, "inputExpression")
        text, line = reader.text_of(expr_el)
        if not text.strip():  # Camunda reads an input without an expression by its label (or name)
            named = (el.get("label") or el.get("name") or "").strip()
            if named:
                text = named if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", named) else f"`{named}`"
                line = line or el.sourceline
        label = (el.get("label") or "").strip() or text.strip() or (el.get("id") or f"input {index}")
        column = DecisionInput(
            id=el.get("id"), label=label, text=text,
            type_ref=expr_el.get("typeRef") if expr_el is not None else None,
            input_variable=el.get(f"{{{CAMUNDA_DMN_NS}}}inputVariable") or "cellInput")
        where = f"decision '{did}' input column {index} ('{label}')"
        column.convert, error = _converter(column.type_ref)
        if error:
            reader.problem(did, f"{where}: {error}", expr_el.sourceline if expr_el is not None else el.sourceline)
        if text.strip():
            column.expression = _compile_expression(reader, did, expr_el, text, line,
                                                    where + " input expression")
        values_el = reader.child(el, "inputValues")
        if values_el is not None:
            values_text, values_line = reader.text_of(values_el)
            try:
                feel.compile_unary_tests(values_text)
            except ExpressionError as exc:
                reader.problem(did, f"{where} input values: {exc}", values_line)
        decision.inputs.append(column)

    outputs = reader.children(table, "output")
    if not outputs:
        reader.problem(did, f"decision '{did}': the decision table has no output column", table.sourceline)
    names: dict[str, int] = {}
    for index, el in enumerate(outputs, start=1):
        name = (el.get("name") or "").strip() or None
        label = name or (el.get("label") or "").strip() or (el.get("id") or f"output {index}")
        where = f"decision '{did}' output column {index} ('{label}')"
        column = DecisionOutput(id=el.get("id"), label=label, name=name,
                                key=name or el.get("id") or f"output{index}", type_ref=el.get("typeRef"))
        if name is None and len(outputs) > 1:
            reader.problem(did, f"{where}: a decision table with several outputs needs a name on each output",
                           el.sourceline)
        elif name is not None and name in names:
            reader.problem(did, f"{where}: output name '{name}' is used twice (also output column "
                           f"{names[name]})", el.sourceline)
        elif name is not None:
            names[name] = index
        column.convert, error = _converter(column.type_ref)
        if error:
            reader.problem(did, f"{where}: {error}", el.sourceline)
        values_el = reader.child(el, "outputValues")
        if values_el is not None:
            values_text, values_line = reader.text_of(values_el)
            try:
                tests = feel.compile_unary_tests(values_text)
                if not tests.is_any and tests.values is None:
                    reader.problem(did, f"{where} output values: list the values as constants, e.g. "
                                   "\"high\",\"medium\",\"low\"", values_line)
                elif tests.values is not None:
                    column.values = tuple(_convert(column.convert, v) for v in tests.values)
            except (ExpressionError, ValueError) as exc:
                reader.problem(did, f"{where} output values: {exc}", values_line)
        decision.outputs.append(column)

    if decision.aggregation and len(outputs) > 1:
        reader.problem(did, f"decision '{did}': COLLECT with {decision.aggregation} needs exactly one output "
                       f"column, the table has {len(outputs)}", table.sourceline)
    if policy in ("PRIORITY", "OUTPUT ORDER") and outputs and not any(o.values for o in decision.outputs):
        reader.problem(did, f"decision '{did}': hit policy {policy} ranks rules by the output values; give "
                       "at least one output column its output values (e.g. \"high\",\"medium\",\"low\")",
                       table.sourceline)

    for number, el in enumerate(reader.children(table, "rule"), start=1):
        decision.rules.append(_read_rule(reader, el, number, decision))

    for index, column in enumerate(decision.inputs):
        if column.expression is None and not column.text.strip():
            used = next((rule for rule in decision.rules if any(i == index for i, _ in rule.tests)), None)
            if used is not None:
                reader.problem(did, f"decision '{did}' input column {index + 1} ('{column.label}') has no "
                               f"input expression, but {used.where()} tests it", table.sourceline)


def _read_rule(reader: _Reader, el: etree._Element, number: int, decision: Decision) -> DecisionRule:
    did = decision.id
    rule = DecisionRule(id=el.get("id"), number=number)
    here = f"decision '{did}' {rule.where()}"
    entries = reader.children(el, "inputEntry")
    results = reader.children(el, "outputEntry")
    if len(entries) != len(decision.inputs):
        reader.problem(did, f"{here}: it has {len(entries)} input entries for {len(decision.inputs)} input "
                       "columns", el.sourceline)
    if len(results) != len(decision.outputs):
        reader.problem(did, f"{here}: it has {len(results)} output entries for {len(decision.outputs)} "
                       "output columns", el.sourceline)
    tests = []
    texts = []
    for index, (entry, column) in enumerate(zip(entries, decision.inputs)):
        text, line = reader.text_of(entry)
        texts.append(text)
        where = f"{here} input column {index + 1} ('{column.label}')"
        language = reader.lang(entry)
        if language is None:
            reader.problem(did, f"{where}: expression language '{reader.lang_name(entry)}' is not supported "
                           "(use FEEL, juel or python)", line or entry.sourceline)
            continue
        if not text.strip() or (language == "feel" and text.strip() == "-"):
            continue
        try:
            if language == "feel":
                test = feel.compile_unary_tests(text, column.input_variable)
                if test.is_any:
                    continue
            else:
                test = _ScriptTest(text, language, column.input_variable)
        except ExpressionError as exc:
            reader.problem(did, f"{where}: {exc}", line or entry.sourceline)
            continue
        tests.append((index, test))
    outputs = []
    output_texts = []
    for index, (entry, column) in enumerate(zip(results, decision.outputs)):
        text, line = reader.text_of(entry)
        output_texts.append(text)
        if not text.strip():
            continue  # Camunda: an empty output entry adds nothing to the rule's output
        where = f"{here} output column {index + 1} ('{column.label}')"
        expr = _compile_expression(reader, did, entry, text, line or entry.sourceline, where)
        if expr is None:
            continue
        if isinstance(expr, feel.FeelExpression) and not expr.names:
            try:  # a constant: check it against the output's typeRef now
                _convert(column.convert, expr.evaluate({}))
            except ExpressionError as exc:
                reader.problem(did, f"{where}: {exc}", line or entry.sourceline)
                continue
            except ValueError as exc:
                reader.problem(did, f"{where}: {exc} (typeRef of the output)", line or entry.sourceline)
                continue
        outputs.append((index, expr))
    rule.tests, rule.outputs = tuple(tests), tuple(outputs)
    rule.entries, rule.output_texts = tuple(texts), tuple(output_texts)
    return rule


def _check_requirements(reader: _Reader, root: etree._Element, decisions: list[Decision],
                        seen: dict[str, int]) -> None:
    by_id = {d.id: d for d in decisions}
    for d in decisions:
        for req in d.required:
            if req not in seen:
                reader.problem(d.id, f"decision '{d.id}' requires decision '{req}', which is not in this file",
                               d.line)
            elif req == d.id:
                reader.problem(d.id, f"decision '{d.id}' requires itself", d.line)
    # cycles
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(did: str, path: list[str]) -> None:
        state[did] = 1
        for req in by_id[did].required if did in by_id else ():
            if req == did:
                continue
            if state.get(req) == 1:
                cycle = path[path.index(req):] + [did, req] if req in path else [did, req]
                reader.problem(did, "required decisions form a cycle: " + " -> ".join(cycle), by_id[did].line)
            elif state.get(req) is None and req in by_id:
                visit(req, path + [did])
        state[did] = 2

    for d in decisions:
        if d.id not in state:
            visit(d.id, [])


# --------------------------------------------------------------------------- evaluation


def evaluate_decision(decisions_by_id: Mapping[str, Decision], decision_id: str,
                      variables: Mapping[str, Any]) -> DecisionResult:
    """Evaluate a decision (after its required decisions) over `variables`.

    `decisions_by_id` holds the decision and every decision it requires (the decisions of its
    file).  Raises NotFound for an unknown decision id and DecisionError when evaluation fails."""
    decision = decisions_by_id.get(decision_id)
    if decision is None:
        raise NotFound(f"no decision '{decision_id}'")
    order: list[Decision] = []
    _requirement_order(decisions_by_id, decision, order, [])
    context = dict(variables)
    required: dict[str, DecisionResult] = {}
    result: Optional[DecisionResult] = None
    for d in order:
        result = _evaluate_one(d, context)
        if d is not decision:
            required[d.id] = result
            _expose(d, result, context)
    assert result is not None
    if required:
        result = DecisionResult(result.decision_id, result.outputs, result.matched_rules, required)
    return result


def _requirement_order(by_id: Mapping[str, Decision], decision: Decision, order: list[Decision],
                       path: list[str]) -> None:
    if decision in order:
        return
    if decision.id in path:
        raise DecisionError(f"required decisions form a cycle: {' -> '.join(path + [decision.id])}",
                            decision_id=decision.id)
    for req in decision.required:
        required = by_id.get(req)
        if required is None:
            raise DecisionError(f"decision '{decision.id}' requires decision '{req}', which is not deployed "
                                "with it", decision_id=decision.id)
        _requirement_order(by_id, required, order, path + [decision.id])
    order.append(decision)


def _expose(decision: Decision, result: DecisionResult, context: dict[str, Any]) -> None:
    """Put a required decision's outputs into the variables, as Camunda 7 does."""
    rows = result.outputs
    if not rows:
        return
    if len(rows) == 1 and not decision.returns_list:
        context.update(rows[0])
        return
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    for key in keys:
        context[key] = [row[key] for row in rows if key in row]


def _evaluate_one(decision: Decision, context: Mapping[str, Any]) -> DecisionResult:
    if decision.kind == "literal":
        try:
            value = decision.literal.evaluate(context)
        except ExpressionError as exc:
            raise DecisionError(f"decision '{decision.id}' literal expression: {exc}",
                                decision_id=decision.id) from None
        try:
            value = _convert(decision.literal_convert, value)
        except ValueError as exc:
            raise DecisionError(f"decision '{decision.id}' variable '{decision.variable}': {exc}",
                                decision_id=decision.id) from None
        return DecisionResult(decision.id, [{decision.variable: value}], [])
    return _evaluate_table(decision, context)


def _evaluate_table(decision: Decision, context: Mapping[str, Any]) -> DecisionResult:
    did = decision.id
    values = []
    for index, column in enumerate(decision.inputs, start=1):
        where = f"decision '{did}' input column {index} ('{column.label}')"
        if column.expression is None:
            values.append(None)
            continue
        try:
            value = column.expression.evaluate(context)
        except ExpressionError as exc:
            raise DecisionError(f"{where}: {exc}", decision_id=did) from None
        try:
            values.append(_convert(column.convert, value))
        except ValueError as exc:
            raise DecisionError(f"{where}: {exc} (typeRef of the input)", decision_id=did) from None

    first_only = decision.hit_policy == "FIRST"
    matched: list[DecisionRule] = []
    for rule in decision.rules:
        for index, test in rule.tests:
            try:
                ok = test.matches(values[index], context)
            except ExpressionError as exc:
                column = decision.inputs[index]
                raise DecisionError(f"decision '{did}' {rule.where()} input column {index + 1} "
                                    f"('{column.label}'): {exc}", decision_id=did,
                                    rule_ids=[rule.id or ""]) from None
            if not ok:
                break
        else:
            matched.append(rule)
            if first_only:
                break

    policy = decision.hit_policy
    if policy == "UNIQUE" and len(matched) > 1:
        raise DecisionError(f"decision '{did}' has hit policy UNIQUE but {len(matched)} rules match: "
                            + _rule_list(matched) + "; only one rule may match", decision_id=did,
                            rule_ids=[r.id or "" for r in matched])
    rows = [_rule_outputs(decision, rule, context) for rule in matched]
    ids = [rule.id or "" for rule in matched]

    if policy == "ANY" and len(rows) > 1:
        if any(not _same_row(rows[0], row) for row in rows[1:]):
            raise DecisionError(f"decision '{did}' has hit policy ANY but the matching rules give different "
                                f"outputs: {_rule_list(matched)}; with ANY, rules that match together must "
                                "agree", decision_id=did, rule_ids=ids)
        rows, ids = rows[:1], ids[:1]
    elif policy in ("PRIORITY", "OUTPUT ORDER") and len(rows) > 1:
        order = sorted(range(len(rows)), key=lambda i: _priority(decision, rows[i]))
        if policy == "PRIORITY":
            order = order[:1]
        rows, ids = [rows[i] for i in order], [ids[i] for i in order]
    elif policy == "COLLECT" and decision.aggregation:
        return DecisionResult(did, _aggregate(decision, matched, rows), ids)
    return DecisionResult(did, rows, ids)


def _rule_list(rules: list[DecisionRule]) -> str:
    return ", ".join(rule.where() for rule in rules)


def _rule_outputs(decision: Decision, rule: DecisionRule, context: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for index, expr in rule.outputs:
        column = decision.outputs[index]
        where = f"decision '{decision.id}' {rule.where()} output column {index + 1} ('{column.label}')"
        try:
            value = expr.evaluate(context)
        except ExpressionError as exc:
            raise DecisionError(f"{where}: {exc}", decision_id=decision.id, rule_ids=[rule.id or ""]) from None
        try:
            row[column.key] = _convert(column.convert, value)
        except ValueError as exc:
            raise DecisionError(f"{where}: {exc} (typeRef of the output)", decision_id=decision.id,
                                rule_ids=[rule.id or ""]) from None
    return row


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _same_row(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)


def _priority(decision: Decision, row: dict[str, Any]) -> tuple[int, ...]:
    """Rank of a row: per output with output values, the position of its value (first = 0); a
    value not listed (or an empty cell) ranks after every listed one."""
    ranks = []
    for column in decision.outputs:
        if not column.values:
            continue
        value = row.get(column.key, _MISSING)
        rank = len(column.values)
        for position, candidate in enumerate(column.values):
            if value is not _MISSING and _same_value(value, candidate):
                rank = position
                break
        ranks.append(rank)
    return tuple(ranks)


_MISSING = object()


def _aggregate(decision: Decision, matched: list[DecisionRule], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """COLLECT with SUM/MIN/MAX/COUNT, as Camunda 7: over the rules' single output values (empty
    cells skipped); COUNT always gives a row, the others give the rules' rows when there is no value."""
    key = decision.outputs[0].key if decision.outputs else "result"
    values = [(rule, row[key]) for rule, row in zip(matched, rows) if key in row]
    if decision.aggregation == "COUNT":
        return [{key: len(values)}]
    if not values:
        return rows
    numbers = []
    for rule, value in values:
        if _is_number(value):
            numbers.append(float(value) if isinstance(value, Decimal) else value)
        elif isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
            text = value.strip()
            numbers.append(int(text) if _INTEGER_TEXT.fullmatch(text) else float(text))
        else:
            raise DecisionError(f"decision '{decision.id}' COLLECT {decision.aggregation}: {rule.where()} gives "
                                f"{feel.describe(value)}, which is not a number", decision_id=decision.id,
                                rule_ids=[rule.id or ""])
    if decision.aggregation == "SUM":
        total = sum(numbers)
    elif decision.aggregation == "MIN":
        total = min(numbers)
    else:
        total = max(numbers)
    return [{key: total}]


# --------------------------------------------------------------------------- result mapping


def map_decision_result(result: DecisionResult, mode: Optional[str] = None) -> Any:
    """The value a business rule task stores in its resultVariable (camunda:mapDecisionResult):

    * singleEntry (the default): the one output value of the one matched rule, or None;
    * singleResult: the one matched rule's outputs as a dict, or None;
    * collectEntries: the values of the single output of every matched rule, as a list;
    * resultList: every matched rule's outputs, as a list of dicts.

    DecisionError (as Camunda's result mapping exception) when the result does not fit the mode."""
    mode = mode or "singleEntry"
    rows = result.outputs
    did = result.decision_id
    if mode == "resultList":
        return [dict(row) for row in rows]
    if mode in ("singleResult", "singleEntry") and len(rows) > 1:
        raise DecisionError(
            f"decision '{did}': mapDecisionResult '{mode}' takes at most one result, but {len(rows)} rules "
            f"matched (rule ids {', '.join(result.matched_rules)}); use 'collectEntries' or 'resultList', or a "
            "hit policy that gives one result", decision_id=did, rule_ids=result.matched_rules)
    if mode == "singleResult":
        return dict(rows[0]) if rows else None
    if mode == "singleEntry":
        if not rows or not rows[0]:
            return None
        if len(rows[0]) > 1:
            raise DecisionError(
                f"decision '{did}': mapDecisionResult 'singleEntry' takes one output, but the result has "
                f"{len(rows[0])} ({', '.join(rows[0])}); use 'singleResult'", decision_id=did,
                rule_ids=result.matched_rules)
        return next(iter(rows[0].values()))
    if mode == "collectEntries":
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        if len(keys) > 1:
            raise DecisionError(
                f"decision '{did}': mapDecisionResult 'collectEntries' takes one output, but the result has "
                f"{len(keys)} ({', '.join(keys)}); use 'resultList'", decision_id=did,
                rule_ids=result.matched_rules)
        if not keys:
            return []
        key = next(iter(keys))
        return [row[key] for row in rows if key in row]
    raise DecisionError(f"unknown mapDecisionResult '{mode}' (use one of {', '.join(MAP_DECISION_RESULT)})",
                        decision_id=did)


# --------------------------------------------------------------------------- business rule tasks


@dataclass(frozen=True)
class DecisionRef:
    """What a BPMN businessRuleTask says about its decision (camunda: attributes)."""

    decision_key: str  # camunda:decisionRef: a decision id, or a ${...} expression
    binding: str = "latest"  # latest | deployment | version | versionTag
    version: Optional[str] = None  # camunda:decisionRefVersion (binding 'version'); may be ${...}
    version_tag: Optional[str] = None  # camunda:decisionRefVersionTag (binding 'versionTag')
    tenant_id: Optional[str] = None
    result_variable: Optional[str] = None
    map_decision_result: str = "singleEntry"


def business_rule_reference(task: etree._Element, filename: str) -> tuple[Optional[DecisionRef], list[Problem]]:
    """Read a businessRuleTask's camunda:decisionRef and friends; (None, []) when the task is not
    a DMN one (camunda:class, delegateExpression, expression or an external task instead)."""
    def attr(name: str) -> Optional[str]:
        value = task.get(f"{{{CAMUNDA_BPMN_NS}}}{name}")
        return None if value is None else value.strip()

    tid = task.get("id")
    problems: list[Problem] = []

    def problem(message: str) -> None:
        problems.append(Problem(filename, message, line=task.sourceline, element_id=tid,
                                element_type="businessRuleTask"))

    key = attr("decisionRef")
    if key is None:
        return None, []
    if not key:
        problem("camunda:decisionRef is empty: name the decision (its id in the DMN file)")
    binding = attr("decisionRefBinding") or "latest"
    if binding not in BINDINGS:
        problem(f"camunda:decisionRefBinding '{binding}' is not one of {', '.join(BINDINGS)}")
    version = attr("decisionRefVersion") or None
    version_tag = attr("decisionRefVersionTag") or None
    if binding == "version":
        if version is None:
            problem("camunda:decisionRefBinding 'version' needs camunda:decisionRefVersion")
        elif not (version.isdigit() and int(version) > 0) and not version.startswith(("${", "#{")):
            problem(f"camunda:decisionRefVersion '{version}' must be a version number (1, 2, ...) or ${{...}}")
    if binding == "versionTag" and version_tag is None:
        problem("camunda:decisionRefBinding 'versionTag' needs camunda:decisionRefVersionTag")
    mapping = attr("mapDecisionResult") or "singleEntry"
    if mapping not in MAP_DECISION_RESULT:
        problem(f"camunda:mapDecisionResult '{mapping}' is not one of {', '.join(MAP_DECISION_RESULT)}")
    for name, value in (("decisionRef", key), ("decisionRefVersion", version)):
        if value and value.startswith(("${", "#{")):
            try:
                expressions.compile_template(value)
            except ExpressionError as exc:
                problem(f"camunda:{name}: {exc}")
    result_variable = attr("resultVariable") or None
    return DecisionRef(decision_key=key or "", binding=binding, version=version, version_tag=version_tag,
                       tenant_id=attr("decisionRefTenantId") or None, result_variable=result_variable,
                       map_decision_result=mapping), problems
