"""DMN decisions (DMN 1.1 to 1.5; Camunda Modeler 7 writes 1.3): read at deploy, evaluated at run time.

The whole API:

    decisions, problems = parse_dmn(tree, filename)          # at deploy; refuse if problems
    decisions, problems = parse_dmn_bundle({name: tree})     # several files, one importing another
    by_id = {d.id: d for d in decisions}                      # every decision of the file (a DRD)
    result = evaluate_decision(by_id, "approval", variables)  # DecisionResult or DecisionError
    value = map_decision_result(result, "singleEntry")        # camunda:mapDecisionResult
    ref, problems = business_rule_reference(task, filename)   # a BPMN businessRuleTask's camunda: attributes

`parse_dmn` reads decision tables (inputs, outputs, rules, hit policy and aggregation), literal
expressions and the other boxed expressions (engine.dmn_boxed), business knowledge models and
decision services (a service is evaluated by its id like a decision), with their required
decisions.  Every cell is compiled at deploy (FEEL by default, see engine.feel;
`expressionLanguage="juel"` or `"python"` on a table's cell, column or the definitions uses
engine.expressions), and every problem is reported with the decision, the rule and the column:
"decision 'approval' rule 3 (rule id Rule_x) input column 2 ('amount'): <error>".
`DecisionResult.value` is the decision's value as the DMN standard defines it; a required
decision's value is a variable by the decision's name (and, as in Camunda 7, its outputs by
their names).

Files in the DMN 1.4 and 1.5 namespaces follow the standard: a value that does not conform to its
typeRef (a FEEL type or an item definition) is null, an empty output cell is null, FEEL's
undefined operations are null.  Files in the 1.1-1.3 namespaces (what Camunda Modeler 7 saves)
follow Camunda 7 (engine-dmn):

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

from engine import clock, expressions, feel, feel_functions, feel_values
from engine.dmn_boxed import (BoxedCompiler, ItemType, base_type, conform, element_type, expression_child,
                              is_instance, make_function)
from engine.errors import EngineError, ExpressionError, NotFound, Problem
from engine.feel import Function, Scope

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
    "https://www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
    "https://www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
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
    item_type: Optional[ItemType] = field(repr=False, default=None)  # DMN 1.4+: the typeRef's type


@dataclass(eq=False)
class DecisionOutput:
    id: Optional[str]
    label: str
    name: Optional[str]
    key: str  # the key of this output in a result row
    type_ref: Optional[str]
    values: Optional[tuple[Any, ...]] = None  # outputValues, for PRIORITY and OUTPUT ORDER
    convert: Optional[Callable[[Any], Any]] = field(repr=False, default=None)
    item_type: Optional[ItemType] = field(repr=False, default=None)
    default: Any = field(repr=False, default=None)  # defaultOutputEntry (DMN 1.2+), compiled


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
class Model:
    """What the decisions of one DMN file share: its business knowledge models and decision
    services (FEEL functions), input data types, imported models by prefix, and how strictly
    typeRefs apply (`standard`: DMN 1.4+ files, where a value that does not conform is null;
    otherwise Camunda 7's conversions, where it is an error)."""

    filename: str
    standard: bool
    functions: dict[str, Callable[[Scope], Any]] = field(default_factory=dict)  # name -> (scope -> Function)
    input_types: dict[str, Optional[ItemType]] = field(default_factory=dict)
    imports: dict[str, "Model"] = field(default_factory=dict)
    decisions: dict[str, "Decision"] = field(default_factory=dict)  # by id


@dataclass(eq=False)
class Decision:
    """One decision of a DMN file: a decision table, a literal expression, another boxed
    expression ("boxed") or a decision service ("service")."""

    id: str
    name: Optional[str]
    file: str
    line: Optional[int]
    kind: str  # "table", "literal", "boxed" or "service"
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
    body: Optional[Callable[[Scope], Any]] = field(repr=False, default=None)  # a boxed expression
    result_type: Optional[ItemType] = field(repr=False, default=None)
    model: Optional[Model] = field(repr=False, default=None)
    service_outputs: tuple[str, ...] = ()  # a decision service: its output decisions' ids
    service_params: tuple[str, ...] = ()  # ... and its parameters (input data's and input decisions' names)
    service_types: tuple[Optional[ItemType], ...] = ()  # ... and their types

    @property
    def returns_list(self) -> bool:
        """Whether a required decision's outputs reach the variables as lists (Camunda 7 rule)."""
        return self.kind == "table" and (
            self.hit_policy in ("RULE ORDER", "OUTPUT ORDER")
            or (self.hit_policy == "COLLECT" and self.aggregation is None))

    @property
    def standard(self) -> bool:
        return self.model is not None and self.model.standard


@dataclass(frozen=True)
class DecisionResult:
    """What a decision gave: one dict per matched rule (output key -> value), in table order (or the
    hit policy's order); a COLLECT aggregation gives one dict.  `matched_rules` are rule ids.
    `value` is the decision's value as the DMN standard defines it (a table's single output
    value, list of values or context; a literal or boxed expression's value)."""

    decision_id: str
    outputs: list[dict[str, Any]]
    matched_rules: list[str]
    required: dict[str, "DecisionResult"] = field(default_factory=dict)  # required decisions' results
    value: Any = None


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
    def __init__(self, filename: str, ns: str, default_language: Optional[str], names: frozenset[str] = frozenset()):
        self.filename = filename
        self.ns = ns
        self.default_language = default_language
        self.names = names  # every name of the bundle: FEEL reads names with spaces against them
        self.problems: list[Problem] = []
        self.model = Model(filename, DMN_NAMESPACES.get(ns, "1.3") >= "1.4")
        self.item_types: dict[str, Optional[ItemType]] = {}
        self.item_elements: dict[str, etree._Element] = {}
        self.current: Optional[str] = None  # the decision being read

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

    # -- item definitions

    def type_of(self, type_ref: Optional[str], line: Optional[int]) -> Optional[ItemType]:
        """The type a typeRef names (an item definition, an imported one, or a FEEL type); None for
        none or an unknown one (which then checks nothing)."""
        if not type_ref or not type_ref.strip():
            return None
        name = type_ref.strip()
        if name in self.item_elements:
            return self.item_type(name)
        if "." in name:
            prefix, _, rest = name.partition(".")
            imported = self.model.imports.get(prefix)
            if imported is not None and rest in imported.input_types.get(" types", {}):
                return imported.input_types[" types"][rest]
        found = base_type(name)
        if found is None and (name.startswith("list<") or name == "list"):
            return ItemType(name, base="list")
        return found

    def item_type(self, name: str) -> Optional[ItemType]:
        if name in self.item_types:
            return self.item_types[name]
        self.item_types[name] = None  # a definition that refers to itself checks nothing more
        self.item_types[name] = self.read_item(self.item_elements[name])
        return self.item_types[name]

    def read_item(self, el: etree._Element) -> ItemType:
        name = el.get("name") or ""
        t = ItemType(name, collection=(el.get("isCollection") or "").strip() == "true")
        type_ref_el = self.child(el, "typeRef")
        components = self.children(el, "itemComponent")
        function_item = self.child(el, "functionItem")
        if function_item is not None:
            t.base = "function"
            t.output = self.type_of(function_item.get("outputTypeRef"), function_item.sourceline)
        elif components:
            t.components = {c.get("name") or "": self.read_item(c) for c in components}
        elif type_ref_el is not None and (type_ref_el.text or "").strip():
            ref = self.type_of(type_ref_el.text.strip(), type_ref_el.sourceline)
            if ref is not None and ref.base is not None and ref.components is None and ref.ref is None \
                    and not ref.collection and ref.allowed is None:
                t.base = ref.base
            else:
                t.ref = ref
        allowed = self.child(el, "allowedValues")
        if allowed is not None:
            values_text, line = self.text_of(allowed)
            try:
                t.allowed = feel.compile_unary_tests(values_text, "cellInput", self.names, not self.model.standard)
            except ExpressionError as exc:
                self.problem(None, f"item definition '{name}' allowed values: {exc}", line)
        return t

    # -- expressions

    def boxed(self) -> BoxedCompiler:
        def problem(message: str, line: Optional[int]) -> None:
            self.problem(self.current, message, line)

        return BoxedCompiler(problem, self.names, self.type_of, self.nested_table, not self.model.standard)

    def nested_table(self, el: etree._Element, where: str) -> Optional[Callable[[Scope], Any]]:
        """A decision table inside a business knowledge model or a context entry."""
        table = Decision(id=self.current or "", name=where, file=self.filename, line=el.sourceline, kind="table",
                         model=self.model)
        before = len(self.problems)
        _read_table(self, el, table)
        if len(self.problems) != before:
            return None
        return lambda scope: _run_table(table, scope)[0]


def _names_of(root: etree._Element) -> set[str]:
    """Every name a DMN file gives (decisions, inputs, knowledge models, parameters, entries, components)."""
    names = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("name", "iteratorVariable"):
            value = el.get(attr)
            if value and value.strip():
                names.add(" ".join(value.split()))
    return names


def parse_dmn(tree: Any, filename: str) -> tuple[list[Decision], list[Problem]]:
    """Read a DMN file's decisions (tree from engine.xmlsafe.parse_xml) and compile every cell.

    Returns the decisions that are sound and the problems found; a file with any problem must
    be refused (the problems name the decision, rule and column of each broken cell)."""
    return parse_dmn_bundle({filename: tree})


def parse_dmn_bundle(trees: Mapping[str, Any]) -> tuple[list[Decision], list[Problem]]:
    """Read several DMN files deployed together (one may import another by its namespace)."""
    roots = {}
    problems: list[Problem] = []
    for filename, tree in trees.items():
        root = tree.getroot() if hasattr(tree, "getroot") else tree
        qname = etree.QName(root)
        if qname.localname != "definitions" or qname.namespace not in DMN_NAMESPACES:
            problems.append(Problem(filename, "not a DMN 1.1 to 1.5 file: the root element must be <definitions> "
                                    "in a DMN namespace (" + ", ".join(DMN_NAMESPACES) + ")", line=root.sourceline))
            continue
        roots[filename] = root
    names: set[str] = set()
    for root in roots.values():
        names |= _names_of(root)
    by_namespace = {root.get("namespace"): filename for filename, root in roots.items() if root.get("namespace")}
    models: dict[str, Model] = {}
    decisions: list[Decision] = []

    def read(filename: str, path: tuple[str, ...]) -> Optional[Model]:
        if filename in models:
            return models[filename]
        if filename in path:
            problems.append(Problem(filename, "the imports form a cycle: " + " -> ".join(path + (filename,))))
            return None
        root = roots[filename]
        reader = _Reader(filename, etree.QName(root).namespace, root.get("expressionLanguage"), frozenset(names))
        for imp in reader.children(root, "import"):
            target = by_namespace.get(imp.get("namespace"))
            if target is None:
                if "DMN" in (imp.get("importType") or "").upper():
                    reader.problem(None, f"import '{imp.get('name')}': no DMN file of namespace "
                                   f"'{imp.get('namespace')}' is deployed with this one", imp.sourceline)
                continue
            imported = read(target, path + (filename,))
            if imported is not None:
                reader.model.imports[imp.get("name") or ""] = imported
        models[filename] = reader.model
        decisions.extend(_read_definitions(reader, root))
        problems.extend(reader.problems)
        return reader.model

    for filename in roots:
        read(filename, ())
    return decisions, problems


def find_decision(decisions: Mapping[str, Decision], name: str, filename: Optional[str] = None) -> Optional[Decision]:
    """A decision or decision service by id, else by name (preferring one of `filename`)."""
    if name in decisions:
        return decisions[name]
    found = [d for d in decisions.values() if d.name == name]
    return next((d for d in found if d.file == filename), found[0] if found else None)


def _read_definitions(reader: _Reader, root: etree._Element) -> list[Decision]:
    model = reader.model
    for el in reader.children(root, "itemDefinition"):
        reader.item_elements[el.get("name") or ""] = el
    model.input_types[" types"] = {name: reader.item_type(name) for name in reader.item_elements}
    for el in reader.children(root, "inputData"):
        variable = reader.child(el, "variable")
        name = (variable.get("name") if variable is not None else None) or el.get("name") or ""
        model.input_types[name] = reader.type_of(variable.get("typeRef") if variable is not None else None,
                                                 el.sourceline)
    ids = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for el in reader.children(root, "businessKnowledgeModel"):
        _read_knowledge_model(reader, el)
    decisions: list[Decision] = []
    seen: dict[str, int] = {}
    for el in reader.children(root, "decision"):
        did = el.get("id") or (el.get("name") if reader.model.standard else None)
        if not did:
            reader.problem(None, f"a decision ({el.get('name') or 'without a name'}) has no id", el.sourceline)
            continue
        if did in seen:
            reader.problem(did, f"decision id '{did}' is used twice (also on line {seen[did]})", el.sourceline)
            continue
        seen[did] = el.sourceline
        before = len(reader.problems)
        reader.current = did
        decision = _read_decision(reader, el, did)
        if decision is not None and len(reader.problems) == before:
            decisions.append(decision)
    for el in reader.children(root, "decisionService"):
        service = _read_service(reader, el, ids)
        if service is not None:
            decisions.append(service)
            seen[service.id] = el.sourceline
    if not seen and not reader.problems and not reader.children(root, "businessKnowledgeModel"):
        reader.problems.append(Problem(reader.filename, "the file has no decision", line=root.sourceline))
    _check_requirements(reader, root, [d for d in decisions if d.kind != "service"], seen)
    for d in decisions:
        model.decisions[d.id] = d
    return decisions


def _read_knowledge_model(reader: _Reader, el: etree._Element) -> None:
    name = el.get("name") or ""
    reader.current = el.get("id") or name
    logic = reader.child(el, "encapsulatedLogic")
    variable = reader.child(el, "variable")
    result_type = None
    if logic is None:
        reader.model.functions[name] = lambda scope: None
        return
    params = reader.children(logic, "formalParameter")
    param_names = [p.get("name") or "" for p in params]
    types = [reader.type_of(p.get("typeRef"), p.sourceline) for p in params]
    if variable is not None:
        result_type = reader.type_of(variable.get("typeRef"), variable.sourceline)
        if result_type is not None and result_type.base == "function":
            result_type = result_type.output
    if (logic.get("kind") or "FEEL").upper() != "FEEL":
        reader.model.functions[name] = lambda scope: Function(name, param_names, lambda values, budget: None)
        return
    body = reader.boxed().child_expr(logic, f"business knowledge model '{name}'")
    if body is None:
        return
    reader.model.functions[name] = lambda scope: make_function(name, param_names, types, body, scope, result_type)


def _href_id(href: Optional[str]) -> str:
    return (href or "").rpartition("#")[2]


def _read_service(reader: _Reader, el: etree._Element, ids: Mapping[str, etree._Element]) -> Optional[Decision]:
    sid = el.get("id") or el.get("name") or ""
    name = el.get("name") or sid
    service = Decision(id=sid, name=name, file=reader.filename, line=el.sourceline, kind="service", model=reader.model)
    service.service_outputs = tuple(_href_id(r.get("href")) for r in reader.children(el, "outputDecision"))
    params, types = [], []
    for tag in ("inputData", "inputDecision"):
        for ref in reader.children(el, tag):
            target = ids.get(_href_id(ref.get("href")))
            if target is None:
                reader.problem(sid, f"decision service '{name}': {tag} '{ref.get('href')}' is not in this file",
                               ref.sourceline)
                return None
            params.append(target.get("name") or "")
            variable = reader.child(target, "variable")
            types.append(reader.type_of(variable.get("typeRef"), variable.sourceline) if variable is not None else None)
    service.service_params = tuple(params)
    service.service_types = tuple(types)
    required = set(service.service_outputs)
    for ref in reader.children(el, "encapsulatedDecision") + reader.children(el, "inputDecision"):
        required.add(_href_id(ref.get("href")))
    service.required = tuple(service.service_outputs)
    variable = reader.child(el, "variable")
    if variable is not None:
        service.result_type = reader.type_of(variable.get("typeRef"), variable.sourceline)
        if service.result_type is not None and service.result_type.base == "function":
            service.result_type = service.result_type.output
    model = reader.model

    def make(scope: Scope) -> Function:
        def run(values: list[Any], budget: Any) -> Any:
            return _run_service(service, dict(zip(service.service_params, values)), model.decisions)

        return Function(name, list(service.service_params), run)

    model.functions[name] = make
    return service


def _read_decision(reader: _Reader, el: etree._Element, did: str) -> Optional[Decision]:
    decision = Decision(id=did, name=el.get("name"), file=reader.filename, line=el.sourceline, kind="table",
                        model=reader.model)
    required = []
    for req in reader.children(el, "informationRequirement"):
        ref = reader.child(req, "requiredDecision")
        if ref is None:
            continue  # requiredInput: documentation of an input, nothing to evaluate
        href = (ref.get("href") or "").strip()
        if "#" not in href or len(href) < 2 or (not href.startswith("#") and not reader.model.standard):
            reader.problem(did, f"decision '{did}': required decision href '{href}' must point into the same "
                           "file ('#decision_id')", ref.sourceline)
            continue
        required.append(_href_id(href))
    decision.required = tuple(required)
    variable = reader.child(el, "variable")
    if variable is not None and reader.model.standard:
        decision.result_type = reader.type_of(variable.get("typeRef"), variable.sourceline)
    table = reader.child(el, "decisionTable")
    literal = reader.child(el, "literalExpression")
    if table is not None:
        _read_table(reader, table, decision)
    elif literal is not None and not reader.model.standard:
        _read_literal(reader, el, literal, decision)
    else:
        expression = expression_child(el)
        if expression is None:
            if reader.model.standard:
                decision.kind, decision.body = "boxed", (lambda scope: None)
                decision.variable = variable.get("name") if variable is not None else decision.name
                return decision
            reader.problem(did, f"decision '{did}' has neither a decision table nor a literal expression",
                           el.sourceline)
            return None
        decision.kind = "boxed"
        decision.variable = (variable.get("name") if variable is not None else None) or decision.name or did
        decision.body = reader.boxed().compile(expression, f"decision '{did}'")
        if decision.body is None:
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
            return feel.compile_expression(text, reader.names, not reader.model.standard)
        return _ScriptExpression(text, language)
    except ExpressionError as exc:
        reader.problem(did, f"{where}: {exc}", line)
        return None


def _column_type(reader: _Reader, decision: Decision, type_ref: Optional[str], line: Optional[int],
                 where: str) -> tuple[Optional[Callable[[Any], Any]], Optional[ItemType]]:
    """A column's typeRef: Camunda's converter (DMN 1.1-1.3) or the DMN type (1.4+)."""
    if reader.model.standard:
        return None, reader.type_of(type_ref, line)
    convert, error = _converter(type_ref)
    if error:
        reader.problem(decision.id, f"{where}: {error}", line)
    return convert, None


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
        column.convert, column.item_type = _column_type(
            reader, decision, column.type_ref, expr_el.sourceline if expr_el is not None else el.sourceline, where)
        if text.strip():
            column.expression = _compile_expression(reader, did, expr_el, text, line,
                                                    where + " input expression")
        values_el = reader.child(el, "inputValues")
        if values_el is not None:
            values_text, values_line = reader.text_of(values_el)
            try:
                feel.compile_unary_tests(values_text, "cellInput", reader.names, not reader.model.standard)
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
        column.convert, column.item_type = _column_type(reader, decision, column.type_ref, el.sourceline, where)
        if column.item_type is None and len(outputs) == 1 and decision.result_type is not None:
            column.item_type = element_type(decision.result_type) if decision.result_type.collection \
                else decision.result_type
        default_el = reader.child(el, "defaultOutputEntry")
        if default_el is not None:
            default_text, default_line = reader.text_of(default_el)
            if default_text.strip():
                column.default = _compile_expression(reader, did, default_el, default_text, default_line,
                                                     where + " default output")
        values_el = reader.child(el, "outputValues")
        if values_el is not None:
            values_text, values_line = reader.text_of(values_el)
            try:
                tests = feel.compile_unary_tests(values_text, "cellInput", reader.names, not reader.model.standard)
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
                test = feel.compile_unary_tests(text, column.input_variable, reader.names, not reader.model.standard)
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
            continue  # Camunda: an empty output entry adds nothing to the rule's output (DMN 1.4+: null)
        where = f"{here} output column {index + 1} ('{column.label}')"
        expr = _compile_expression(reader, did, entry, text, line or entry.sourceline, where)
        if expr is None:
            continue
        if isinstance(expr, feel.FeelExpression) and expr.constant and not reader.model.standard:
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
            if req not in seen and not any(req in m.decisions for m in reader.model.imports.values()):
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
    """Evaluate a decision (after its required decisions) or a decision service over `variables`.

    `decisions_by_id` holds the decision and every decision it requires (the decisions of its
    file).  Raises NotFound for an unknown decision id and DecisionError when evaluation fails."""
    decision = decisions_by_id.get(decision_id)
    if decision is None:
        raise NotFound(f"no decision '{decision_id}'")
    try:
        with feel_functions.regex_time():  # every cell of the decision and of those it requires
            if decision.kind == "service":
                value = _run_service(decision, variables, decisions_by_id)
                return DecisionResult(decision.id, [{decision.name or decision.id: feel_values.to_python(value)}],
                                      [], value=feel_values.to_python(value))
            context: dict[str, Any] = {}
            scope = _model_scope(decision.model, variables, context)
            return _evaluate_with_requirements(decisions_by_id, decision, scope, context, set())
    except ExpressionError as exc:
        raise DecisionError(f"decision '{decision_id}': {exc}", decision_id=decision_id) from None
    except RecursionError:
        raise DecisionError(f"decision '{decision_id}': evaluation nested too deeply", decision_id=decision_id) from None


def _model_scope(model: Optional[Model], variables: Mapping[str, Any], context: dict[str, Any]) -> Scope:
    """The scope decisions of `model` see: the variables (input data conformed to their types), the
    knowledge models and decision services as functions, imported models by prefix, and `context`
    (where required decisions' results go)."""
    root = Scope(variables, outer=True)
    if model is None:
        return root.child(context)
    functions: dict[str, Any] = {}
    scope = root.child(functions)
    for name, make in model.functions.items():
        functions[name] = make(scope)
    for prefix, imported in model.imports.items():
        inner = _model_scope(imported, {}, {})
        exported = {name: inner.lookup(name) for name in imported.functions}
        nested = variables.get(prefix)
        if isinstance(nested, Mapping):
            exported.update(feel_values.from_python(dict(nested)))
        functions[prefix] = exported
    functions[" types"] = {name: (lambda t: lambda v: is_instance(v, t))(t)
                           for name, t in model.input_types.get(" types", {}).items() if t is not None}
    if model.standard:
        for name, t in model.input_types.items():
            if t is not None and not name.startswith(" ") and name in variables:
                context[name] = conform(feel_values.from_python(variables[name]), t)
    return scope.child(context)


def _evaluate_with_requirements(by_id: Mapping[str, Decision], decision: Decision, scope: Scope,
                                context: dict[str, Any], given: set[str]) -> DecisionResult:
    order: list[Decision] = []
    _requirement_order(by_id, decision, order, [], given)
    required: dict[str, DecisionResult] = {}
    result: Optional[DecisionResult] = None
    for d in order:
        rows, matched, raw = _evaluate_one(d, scope, context)
        result = DecisionResult(d.id, feel_values.to_python(rows), matched, value=feel_values.to_python(raw))
        if d is not decision:
            required[d.id] = result
        _expose(d, rows, raw, context)
    assert result is not None
    if required:
        result = DecisionResult(result.decision_id, result.outputs, result.matched_rules, required, result.value)
    return result


def _run_service(service: Decision, values: Mapping[str, Any], by_id: Mapping[str, Decision]) -> Any:
    """A decision service: its output decisions over its parameters (input decisions and data)."""
    params = {}
    for name, t in zip(service.service_params, service.service_types):
        value = feel_values.from_python(values.get(name))
        if value is not None and conform(value, t) is None:
            return None  # an argument of the wrong type: the invocation is null
        params[name] = conform(value, t)
    context: dict[str, Any] = dict(params)
    scope = _model_scope(service.model, {}, context)
    given = set(params)
    results = {}
    for output_id in service.service_outputs:
        decision = _deployed(by_id, output_id, service)
        if decision.name in given:
            results[decision.name] = context.get(decision.name)
            continue
        _evaluate_with_requirements(by_id, decision, scope, context, given)
        results[decision.name or decision.id] = context.get(decision.name or decision.id)
    value = next(iter(results.values())) if len(results) == 1 else results
    return conform(value, service.result_type)


def _deployed(by_id: Mapping[str, Decision], decision_id: str, needed_by: Decision) -> Decision:
    decision = by_id.get(decision_id)
    if decision is None:
        raise DecisionError(f"decision '{needed_by.id}' requires decision '{decision_id}', which is not deployed "
                            "with it", decision_id=needed_by.id)
    return decision


def _requirement_order(by_id: Mapping[str, Decision], decision: Decision, order: list[Decision],
                       path: list[str], given: set[str] = frozenset()) -> None:
    if decision in order:
        return
    if decision.id in path:
        raise DecisionError(f"required decisions form a cycle: {' -> '.join(path + [decision.id])}",
                            decision_id=decision.id)
    for req in decision.required:
        required = _deployed(by_id, req, decision)
        if required.name in given:
            continue
        _requirement_order(by_id, required, order, path + [decision.id], given)
    order.append(decision)


def _expose(decision: Decision, rows: list[dict[str, Any]], value: Any, context: dict[str, Any]) -> None:
    """Put a required decision's result into the variables: by its outputs' names as Camunda 7
    does, then by the decision's name (the DMN standard), which wins."""
    if rows:
        if len(rows) == 1 and not decision.returns_list:
            context.update(rows[0])
        else:
            keys: dict[str, None] = {}
            for row in rows:
                keys.update(dict.fromkeys(row))
            for key in keys:
                context[key] = [row[key] for row in rows if key in row]
    if decision.name:
        context[decision.name] = value


def _plain(scope: Scope, context: Mapping[str, Any]) -> dict[str, Any]:
    """The variables as Python values, for a JUEL or Python cell."""
    out: dict[str, Any] = {}
    chain = []
    s: Optional[Scope] = scope
    while s is not None:
        chain.append(s)
        s = s.parent
    for s in reversed(chain):
        out.update(s.vars if s.outer else feel_values.to_python(dict(s.vars)))
    out.update(feel_values.to_python(dict(context)))
    return out


def _evaluate_expr(expr: Any, scope: Scope, context: Mapping[str, Any]) -> Any:
    """A compiled cell's FEEL value in `scope` (FEEL) or over the plain variables (JUEL, Python)."""
    if isinstance(expr, feel.FeelExpression):
        return expr.value_of(scope=scope)
    return feel_values.from_python(expr.evaluate(_plain(scope, context)))


def _typed(decision: Decision, convert: Optional[Callable[[Any], Any]], item_type: Optional[ItemType],
           value: Any) -> Any:
    """A value after a typeRef: conformed (DMN 1.4+) or converted as Camunda does (ValueError)."""
    if decision.standard:
        return conform(value, item_type)
    if convert is None or value is None:
        return value
    return feel_values.from_python(convert(feel_values.to_python(value)))


def _evaluate_one(decision: Decision, scope: Scope, context: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str], Any]:
    """(rows, matched rule ids, the decision's value as the DMN standard defines it)."""
    did = decision.id
    if decision.kind in ("literal", "boxed"):
        try:
            if decision.kind == "boxed":
                value = decision.body(scope)
            else:
                value = _evaluate_expr(decision.literal, scope, context)
        except ExpressionError as exc:
            raise DecisionError(f"decision '{did}' literal expression: {exc}", decision_id=did) from None
        try:
            value = _typed(decision, decision.literal_convert, decision.result_type, value)
        except ValueError as exc:
            raise DecisionError(f"decision '{did}' variable '{decision.variable}': {exc}",
                                decision_id=did) from None
        return [{decision.variable: value}], [], value
    value, rows, ids = _run_table(decision, scope, context)
    return rows, ids, conform(value, decision.result_type) if decision.standard else value


def _run_table(decision: Decision, scope: Scope, context: Mapping[str, Any] = {}) -> tuple[Any, list[dict[str, Any]], list[str]]:
    """(the table's value, its rows, matched rule ids)."""
    did = decision.id
    values = []
    for index, column in enumerate(decision.inputs, start=1):
        where = f"decision '{did}' input column {index} ('{column.label}')"
        if column.expression is None:
            values.append(None)
            continue
        try:
            value = _evaluate_expr(column.expression, scope, context)
        except ExpressionError as exc:
            raise DecisionError(f"{where}: {exc}", decision_id=did) from None
        try:
            values.append(_typed(decision, column.convert, column.item_type, value))
        except ValueError as exc:
            raise DecisionError(f"{where}: {exc} (typeRef of the input)", decision_id=did) from None

    first_only = decision.hit_policy == "FIRST"
    matched: list[DecisionRule] = []
    for rule in decision.rules:
        for index, test in rule.tests:
            try:
                if isinstance(test, feel.UnaryTests):
                    ok = test.test(values[index], scope)
                else:
                    ok = test.matches(feel_values.to_python(values[index]), _plain(scope, context))
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
    rows = [_rule_outputs(decision, rule, scope, context) for rule in matched]
    ids = [rule.id or "" for rule in matched]
    if not rows and any(o.default is not None for o in decision.outputs):
        row = {o.key: (_evaluate_expr(o.default, scope, context) if o.default is not None else None)
               for o in decision.outputs}
        return (row[decision.outputs[0].key] if len(decision.outputs) == 1 else row), [row], []

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
        rows = _aggregate(decision, matched, rows)
        key = decision.outputs[0].key if decision.outputs else "result"
        return (rows[0].get(key) if rows else None), rows, ids
    return _table_value(decision, rows), rows, ids


def _table_value(decision: Decision, rows: list[dict[str, Any]]) -> Any:
    """A table's value: its single output's value(s), or a context (or list of contexts) of its outputs."""
    if len(decision.outputs) == 1:
        key = decision.outputs[0].key
        values = [row.get(key) for row in rows]
    else:
        values = [{o.name or o.key: row.get(o.key) for o in decision.outputs} for row in rows]
    if decision.returns_list:
        return values
    return values[0] if values else None


def _rule_list(rules: list[DecisionRule]) -> str:
    return ", ".join(rule.where() for rule in rules)


def _rule_outputs(decision: Decision, rule: DecisionRule, scope: Scope, context: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for index, expr in rule.outputs:
        column = decision.outputs[index]
        where = f"decision '{decision.id}' {rule.where()} output column {index + 1} ('{column.label}')"
        try:
            value = _evaluate_expr(expr, scope, context)
        except ExpressionError as exc:
            raise DecisionError(f"{where}: {exc}", decision_id=decision.id, rule_ids=[rule.id or ""]) from None
        try:
            row[column.key] = _typed(decision, column.convert, column.item_type, value)
        except ValueError as exc:
            raise DecisionError(f"{where}: {exc} (typeRef of the output)", decision_id=decision.id,
                                rule_ids=[rule.id or ""]) from None
    if decision.standard:
        for column in decision.outputs:
            row.setdefault(column.key, None)
    return row


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return feel_values.equal(a, b) is True
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
            numbers.append(feel_values.num(value))
        elif isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) and not decision.standard:
            numbers.append(Decimal(value.strip()))
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
        if value and ("${" in value or "#{" in value):
            try:
                expressions.compile_template(value)
            except ExpressionError as exc:
                problem(f"camunda:{name}: {exc}")
    result_variable = attr("resultVariable") or None
    return DecisionRef(decision_key=key or "", binding=binding, version=version, version_tag=version_tag,
                       tenant_id=attr("decisionRefTenantId") or None, result_variable=result_variable,
                       map_decision_result=mapping), problems
