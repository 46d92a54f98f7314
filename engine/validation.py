"""Deploy-time checks of a BPMN file (Camunda Modeler, Camunda 7 flavour) before SpiffWorkflow
sees it.

`check_bpmn` returns every problem it finds, each located by file, line, element id and element
type, so a modeller can fix a diagram in one go. The aim: whatever can be checked at deploy time
(references, expressions, timer values, unsupported features) is checked here, and nothing that
could have been refused at deploy fails later while an instance runs.

The checks are tables where that is natural — EXPRESSION_FIELDS (expressions and templates held
in attributes or child elements), JAVA_ATTRIBUTES, UNSUPPORTED_ELEMENTS, ELEMENT_RULES (one
function per element type) — so later rules are one more row.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from lxml import etree

from engine import feel, timevalues
from engine.errors import ExpressionError, Problem
from engine.expressions import compile_any, compile_expression, compile_template
from engine.scripts import compile_script, compile_value_script

__all__ = [
    "BPMN_NS",
    "CAMUNDA_NS",
    "EXPRESSION_FIELDS",
    "ELEMENT_RULES",
    "Checker",
    "ExpressionField",
    "check_bpmn",
    "task_documentation",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

_MODEL_NAMESPACES = frozenset({BPMN_NS, BPMNDI_NS, DC_NS, DI_NS})

def _b(local: str) -> str:
    return f"{{{BPMN_NS}}}{local}"


def _c(local: str) -> str:
    return f"{{{CAMUNDA_NS}}}{local}"


ACTIVITY_TYPES = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "adHocSubProcess", "transaction",
})
EVENT_TYPES = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "implicitThrowEvent",
})
GATEWAY_TYPES = frozenset({
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
})
FLOW_NODE_TYPES = ACTIVITY_TYPES | EVENT_TYPES | GATEWAY_TYPES | frozenset({
    "choreographyTask", "subChoreography", "callChoreography",
})
FLOW_CONTAINER_TYPES = frozenset({"process", "subProcess", "adHocSubProcess", "transaction"})

_NOT_IN_CAMUNDA = "element not supported: Camunda 7 does not run it either"
_NO_COMPENSATION = ("compensation is not supported: the engine keeps no record of completed activities to undo; "
                    "model the undo as an error end event caught by an error boundary event (or event subprocess) "
                    "whose path does it")
UNSUPPORTED_ELEMENTS = {  # local name -> why it is refused
    "complexGateway": _NOT_IN_CAMUNDA,
    "transaction": ("transaction subprocesses are not supported (their cancel events need compensation, which the "
                    "engine does not run): use an embedded subprocess with an error end event and an error "
                    "boundary event"),
    "cancelEventDefinition": "cancel events are not supported: they end a transaction subprocess, which is not "
                             "supported; use an error end event and an error boundary event",
    "compensateEventDefinition": _NO_COMPENSATION,
    **{name: _NOT_IN_CAMUNDA for name in (
        "choreography", "choreographyTask", "subChoreography", "callChoreography", "globalChoreographyTask",
        "conversation", "subConversation", "callConversation", "globalConversation", "conversationLink",
        "conversationAssociation")},
}

# Elements whose implementation can be Java in Camunda 7 (camunda:class and friends).
JAVA_IMPLEMENTED = frozenset({"serviceTask", "sendTask", "businessRuleTask", "messageEventDefinition"})
JAVA_ATTRIBUTES = ("class", "delegateExpression", "expression")  # camunda namespace

CONDITION_LANGUAGES = frozenset({"", "python", "juel"})
SCRIPT_FORMATS = frozenset({"", "python"})

_EMBEDDED = re.compile(r"[$#]\{")


# --------------------------------------------------------------------------- literal checks

def _literal_date_or_duration(text: str) -> None:
    if text.strip()[:1] in ("P", "p"):
        timevalues.parse_duration(text)
    else:
        timevalues.parse_datetime(text)


def _literal_integer(text: str) -> None:
    if not re.fullmatch(r"[+-]?\d+", text.strip()):
        raise ValueError(f"{text!r} is not a whole number")


def _literal_count(text: str) -> None:
    if not re.fullmatch(r"\d+", text.strip()):
        raise ValueError(f"{text!r} is not a whole number of 0 or more")


# --------------------------------------------------------------------------- the tables

@dataclass(frozen=True)
class ExpressionField:
    """An expression or template held in an attribute or a child element's text.

    `on`: local names of the BPMN elements carrying it. `attribute`: Clark name of the attribute,
    or `child`: Clark name (or an ElementPath such as './/{ns}tag', as SpiffWorkflow reads it) of
    the child element. `kind`: "expression" (compile_expression), "any" (compile_any: as the
    engine evaluates what SpiffWorkflow hands it) or "template" (compile_template; a value
    without ${...} is a literal, checked by `literal` if given). `owner_is_parent`: report the parent element (for loop characteristics, the
    activity). `required`: the value must be present and non-empty.
    """

    on: frozenset[str]
    label: str
    kind: str
    attribute: Optional[str] = None
    child: Optional[str] = None
    literal: Optional[Callable[[str], None]] = None
    owner_is_parent: bool = False
    required: bool = False

    def values(self, element) -> list[tuple[Optional[str], object]]:
        if self.attribute is not None:
            return [(element.get(self.attribute), element)]
        return [(child.text, child) for child in element.findall(self.child)]


_USER_TASK = frozenset({"userTask"})
_MULTI = frozenset({"multiInstanceLoopCharacteristics"})

EXPRESSION_FIELDS: list[ExpressionField] = [
    ExpressionField(_USER_TASK, "task name", "template", attribute="name"),
    ExpressionField(_USER_TASK, "camunda:assignee", "template", attribute=_c("assignee")),
    ExpressionField(_USER_TASK, "camunda:candidateUsers", "template", attribute=_c("candidateUsers")),
    ExpressionField(_USER_TASK, "camunda:candidateGroups", "template", attribute=_c("candidateGroups")),
    ExpressionField(_USER_TASK, "camunda:dueDate", "template", attribute=_c("dueDate"),
                    literal=_literal_date_or_duration),
    ExpressionField(_USER_TASK, "camunda:followUpDate", "template", attribute=_c("followUpDate"),
                    literal=_literal_date_or_duration),
    ExpressionField(_USER_TASK, "camunda:priority", "template", attribute=_c("priority"),
                    literal=_literal_integer),
    ExpressionField(frozenset({"callActivity"}), "calledElement", "template", attribute="calledElement",
                    required=True),
    ExpressionField(_MULTI, "camunda:collection", "any", attribute=_c("collection"),
                    owner_is_parent=True),
    ExpressionField(_MULTI, "completionCondition", "any", child=_b("completionCondition"),
                    owner_is_parent=True),
    ExpressionField(_MULTI, "loopCardinality", "template", child=_b("loopCardinality"),
                    literal=_literal_count, owner_is_parent=True),
    ExpressionField(frozenset({"standardLoopCharacteristics"}), "loopCondition", "any", child=_b("loopCondition"),
                    owner_is_parent=True),
    ExpressionField(frozenset({"adHocSubProcess"}), "completionCondition", "any", child=_b("completionCondition")),
    ExpressionField(frozenset({"conditionalEventDefinition"}), "condition", "any", child=".//" + _b("condition"),
                    owner_is_parent=True, required=True),
    ExpressionField(frozenset({"error"}), "camunda:errorMessage", "template", attribute=_c("errorMessage")),
]

TIMER_PARTS = (
    # child, literal parser
    ("timeDuration", lambda text: timevalues.parse_duration(text)),
    ("timeDate", lambda text: timevalues.parse_datetime(text)),
    ("timeCycle", lambda text: timevalues.parse_cycle(text)),
)


def _local(element) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    return etree.QName(tag).localname


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def _namespace(element) -> Optional[str]:
    tag = element.tag
    if not isinstance(tag, str):
        return None
    return etree.QName(tag).namespace


# --------------------------------------------------------------------------- the checker

class Checker:
    """One run over one file. Rules receive it and use `report`, `compile` and `owner`."""

    def __init__(self, root, filename: str):
        self.root = root
        self.filename = filename
        self.problems: list[Problem] = []
        self.ids: dict[str, object] = {}  # id -> first BPMN/DI element carrying it

    # ---- reporting

    def owner(self, element):
        """The element a problem inside `element` is reported on: the nearest BPMN element with
        an id that is not an event definition, loop characteristics or extension."""
        node = element
        while node is not None:
            if (_namespace(node) == BPMN_NS and node.get("id")
                    and not _local(node).endswith("EventDefinition")
                    and _local(node) not in ("multiInstanceLoopCharacteristics", "standardLoopCharacteristics")):
                return node
            node = node.getparent()
        return element

    def report(self, element, message: str) -> None:
        self.problems.append(Problem(
            file=self.filename,
            message=message,
            line=element.sourceline,
            element_id=element.get("id") or None,
            element_type=_local(element) or None,
        ))

    # ---- compiling

    def compile(self, kind: str, source: str) -> Optional[str]:
        """Compile `source`; return the error message, or None when it compiles."""
        compiler = {"expression": compile_expression, "any": compile_any, "template": compile_template}[kind]
        try:
            compiler(source)
        except ExpressionError as exc:
            return str(exc)
        return None

    # ---- the run

    def run(self) -> list[Problem]:
        root = self.root
        if _namespace(root) != BPMN_NS or _local(root) != "definitions":
            self.problems.append(Problem(
                self.filename,
                f"not a BPMN file: the root element is {root.tag!r}, expected bpmn:definitions",
                line=root.sourceline,
            ))
            return self.problems
        fields_by_element: dict[str, list[ExpressionField]] = {}
        for field in EXPRESSION_FIELDS:
            for name in field.on:
                fields_by_element.setdefault(name, []).append(field)
        self.check_ids()
        self.check_processes()
        for container in root.iter(*(_b(t) for t in FLOW_CONTAINER_TYPES)):
            self.check_container(container)
        for element in root.iter(etree.Element):
            namespace = _namespace(element)
            local = _local(element)
            if namespace == BPMN_NS:
                if local in UNSUPPORTED_ELEMENTS:
                    self.report(self.owner(element), UNSUPPORTED_ELEMENTS[local])
                for field in fields_by_element.get(local, ()):
                    self.check_field(element, field)
                for rule in ELEMENT_RULES.get(local, ()):
                    rule(self, element)
            elif namespace == CAMUNDA_NS:
                for rule in CAMUNDA_RULES.get(local, ()):
                    rule(self, element)
        unique = list(dict.fromkeys(self.problems))
        unique.sort(key=lambda p: p.line or 0)
        return unique

    # ---- structure

    def check_ids(self) -> None:
        for element in self.root.iter(etree.Element):
            if _namespace(element) not in _MODEL_NAMESPACES:
                continue
            value = element.get("id")
            if not value:
                continue
            first = self.ids.get(value)
            if first is None:
                self.ids[value] = element
            else:
                self.report(element, f"id '{value}' is used more than once (first on line {first.sourceline})")
        # SpiffWorkflow indexes every element with an id, extension elements included (a
        # camunda:formField, say): an extension id equal to a BPMN id would shadow the BPMN element.
        for element in self.root.iter(etree.Element):
            if _namespace(element) in _MODEL_NAMESPACES:
                continue
            value = element.get("id")
            if value and value in self.ids:
                first = self.ids[value]
                self.report(self.owner(element),
                            f"{etree.QName(element.tag).localname} id '{value}' is also the id of "
                            f"{_local(first)} on line {first.sourceline}; use another id")

    def check_processes(self) -> None:
        processes = self.root.findall(_b("process"))
        for process in processes:
            if not process.get("id"):
                self.report(process, "process has no id")
        if not any(p.get("isExecutable", "").strip().lower() in ("true", "1") for p in processes):
            for process in processes:
                flag = process.get("isExecutable")
                self.report(process, "the process is not executable: it has no isExecutable=\"true\" (Camunda 7 "
                                     "treats a process without isExecutable as not executable)" if flag is None
                            else f"the process is not executable: isExecutable=\"{flag}\"")
            if not processes:
                self.problems.append(Problem(self.filename, "no executable process", line=self.root.sourceline))

    def check_container(self, container) -> None:
        children = [c for c in container if isinstance(c.tag, str)]
        nodes = {}
        for child in children:
            if _namespace(child) == BPMN_NS and _local(child) in FLOW_NODE_TYPES:
                if child.get("id"):
                    nodes[child.get("id")] = child
                else:
                    self.report(child, f"{_local(child)} has no id")
        flows = {}
        for child in children:
            if child.tag != _b("sequenceFlow"):
                continue
            flow_id = child.get("id")
            if not flow_id:
                self.report(child, "sequence flow has no id")
            else:
                flows[flow_id] = child
            label = f"sequence flow '{flow_id}'" if flow_id else "sequence flow"
            for attribute in ("sourceRef", "targetRef"):
                ref = (child.get(attribute) or "").strip()
                if not ref:
                    self.report(child, f"{label} has no {attribute}")
                elif ref not in nodes:
                    self.report(child, f"{label}: {attribute} '{ref}' {self.why_missing(ref, children)}")
        for node in nodes.values():
            node_id = node.get("id")
            for direction, end in (("incoming", "targetRef"), ("outgoing", "sourceRef")):
                for ref_element in node.findall(_b(direction)):
                    ref = (ref_element.text or "").strip()
                    flow = flows.get(ref)
                    if not ref:
                        self.report(node, f"empty {direction} reference")
                    elif flow is None:
                        self.report(node, f"{direction} flow '{ref}' {self.why_missing(ref, children, 'sequence flow')}")
                    elif (flow.get(end) or "").strip() != node_id:
                        side = "ends" if direction == "incoming" else "starts"
                        self.report(node, f"{direction} flow '{ref}' {side} at '{flow.get(end)}', not here")
            default = node.get("default")
            if default is not None:
                flow = flows.get(default.strip())
                if flow is None:
                    self.report(node, f"default flow '{default}' {self.why_missing(default.strip(), children, 'sequence flow')}")
                elif (flow.get("sourceRef") or "").strip() != node_id:
                    self.report(node, f"default flow '{default}' does not leave this element")
            if _local(node) == "boundaryEvent":
                attached = (node.get("attachedToRef") or "").strip()
                target = nodes.get(attached)
                if not attached:
                    self.report(node, "boundary event has no attachedToRef")
                elif target is None or _local(target) not in ACTIVITY_TYPES:
                    self.report(node, f"attachedToRef '{attached}' {self.why_missing(attached, children, 'activity')}")
        for flow_id, flow in flows.items():
            self.check_condition(flow, flow_id, nodes)

    def why_missing(self, ref: str, siblings, wanted: str = "flow node") -> str:
        """Explain why `ref` is not a `wanted` in this process/subprocess."""
        element = self.ids.get(ref)
        if element is None:
            return "does not exist"
        if element in siblings:
            return f"is {_a(_local(element))}, not {_a(wanted)}"
        return "is not in the same process/subprocess"

    # ---- conditions on sequence flows

    def check_condition(self, flow, flow_id: str, nodes: dict) -> None:
        condition = flow.find(".//" + _b("conditionExpression"))  # where SpiffWorkflow looks
        if condition is None:
            return
        source = nodes.get((flow.get("sourceRef") or "").strip())
        where = source if source is not None else flow
        label = f"condition on flow '{flow_id}'"
        language = (condition.get("language") or "").strip()
        if language.lower() not in CONDITION_LANGUAGES:
            self.report(where, f"{label} has language '{language}'; only python or juel conditions are supported")
            return
        if condition.get(_c("resource")):
            self.report(where, f"{label} uses an external script (camunda:resource), which is not supported")
            return
        text = (condition.text or "").strip()
        if not text:
            self.report(where, f"{label} is empty")
            return
        error = self.compile("any", text)
        if error is not None:
            self.report(where, f"{label} does not parse: {error}")

    # ---- table-driven expression fields

    def check_field(self, element, field: ExpressionField) -> None:
        owner = element.getparent() if field.owner_is_parent else element
        values = field.values(element)
        if not values and field.required:
            self.report(owner, f"{field.label} is missing")
        for value, node in values:
            text = (value or "").strip()
            if not text:
                if field.required:
                    self.report(owner, f"{field.label} is missing")
                elif field.child is not None:
                    self.report(owner, f"{field.label} is empty")
                continue
            if field.kind != "template" or _EMBEDDED.search(text):
                error = self.compile(field.kind, text)
                if error is not None:
                    self.report(owner, f"{field.label} does not parse: {error}")
            elif field.literal is not None:
                try:
                    field.literal(text)
                except ValueError as exc:
                    self.report(owner, f"{field.label} is not valid: {exc}")


# --------------------------------------------------------------------------- element rules

def task_documentation(task) -> Optional[str]:
    """A user task's documentation as Camunda 7 reads it for the task's description: the texts of
    its bpmn:documentation children, each trimmed, joined by a blank line; None without one."""
    texts = [(doc.text or "").strip() for doc in task.findall(_b("documentation"))]
    return "\n\n".join(texts) if texts else None


def _check_description(checker: Checker, task) -> None:
    """The documentation is the task's description, its ${...} evaluated when the task is created."""
    text = task_documentation(task)
    if text and _EMBEDDED.search(text):
        error = checker.compile("template", text)
        if error is not None:
            checker.report(task, f"documentation (the task's description) does not parse: {error}")


def _check_timer(checker: Checker, definition) -> None:
    event = checker.owner(definition)
    present = [(local, parse, child) for local, parse in TIMER_PARTS
               for child in definition.findall(".//" + _b(local))]  # where SpiffWorkflow looks
    if not present or all(not (child.text or "").strip() for _, _, child in present):
        checker.report(event, "timer has no time: timeDuration, timeDate or timeCycle is missing or empty")
        return
    if len(present) > 1:
        names = ", ".join(local for local, _, _ in present)
        checker.report(event, f"timer has more than one time ({names}); keep one")
    for local, parse, child in present:
        text = (child.text or "").strip()
        if not text:
            checker.report(event, f"timer {local} is empty")
        elif _EMBEDDED.search(text):
            error = checker.compile("template", text)
            if error is not None:
                checker.report(event, f"timer {local} does not parse: {error}")
        else:
            try:
                parse(text)
            except ValueError as exc:
                checker.report(event, f"timer {local} is not valid: {exc}")


def _check_script_task(checker: Checker, task) -> None:
    script_format = (task.get("scriptFormat") or "").strip()
    if script_format.lower() not in SCRIPT_FORMATS:
        checker.report(task, f"script format '{script_format}' is not supported; only python")
    if task.get(_c("resource")):
        checker.report(task, f"external script (camunda:resource '{task.get(_c('resource'))}') is not supported; "
                             "put the script in the diagram")
    elif not any((s.text or "").strip() for s in task.findall(".//" + _b("script"))):
        checker.report(task, "script is empty")
    elif script_format.lower() in SCRIPT_FORMATS:
        source = "\n".join(s.text or "" for s in task.findall(".//" + _b("script")))
        try:
            compile_script(source)
        except ExpressionError as exc:
            checker.report(task, f"script does not compile: {exc}")


def _check_java(checker: Checker, element) -> None:
    owner = checker.owner(element)
    for attribute in JAVA_ATTRIBUTES:
        if element.get(_c(attribute)):
            checker.report(owner, f'needs Java (camunda:{attribute}); use camunda:type="external" with a topic')
    extensions = element.find(_b("extensionElements"))
    if extensions is not None and extensions.find(_c("connector")) is not None:
        checker.report(owner, 'needs Java (camunda:connector); use camunda:type="external" with a topic')
    kind = element.get(_c("type"))
    if kind is not None:
        if kind.strip() != "external":
            checker.report(owner, f'camunda:type \'{kind}\' is not supported; use camunda:type="external" with a topic')
        elif not (element.get(_c("topic")) or "").strip():
            checker.report(owner, 'camunda:type="external" needs a non-empty camunda:topic')


def _check_service_implementation(checker: Checker, task) -> None:
    """A service task must say how it runs (Camunda refuses one that doesn't): here, by workers."""
    if not any(task.get(_c(a)) for a in (*JAVA_ATTRIBUTES, "type")):
        extensions = task.find(_b("extensionElements"))
        if extensions is None or extensions.find(_c("connector")) is None:
            checker.report(task, 'a service task needs an implementation: camunda:type="external" with a '
                                 'camunda:topic (workers fetch and complete it)')


def _check_decision_reference(checker: Checker, task) -> None:
    """A business rule task runs a DMN decision (a Java or external one is a service task by now)."""
    if task.get(_c("decisionRef")) is None and not task.get(_c("type")):
        checker.report(task, "a business rule task needs camunda:decisionRef (a DMN decision) or an implementation "
                             '(camunda:class, delegateExpression, expression, or camunda:type="external")')


_EVENT_SUBPROCESS_STARTS = {"messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
                            "errorEventDefinition", "escalationEventDefinition"}


def _check_event_subprocess(checker: Checker, subprocess) -> None:
    """Event subprocesses at the process level or in an embedded subprocess start on a message, a
    signal, a timer, an error or an escalation; other starts (a condition) are refused, and so are
    event subprocesses inside an event subprocess, a multi-instance or loop subprocess, a
    transaction or an ad-hoc subprocess."""
    if (subprocess.get("triggeredByEvent") or "").strip().lower() != "true":
        return
    starts = subprocess.findall(_b("startEvent"))
    kinds = {_local(child) for start in starts for child in start
             if isinstance(child.tag, str) and _local(child).endswith("EventDefinition")}
    if not kinds or not kinds <= _EVENT_SUBPROCESS_STARTS:
        started_by = ", ".join(sorted(k[:-len("EventDefinition")] for k in kinds)) or "none"
        checker.report(subprocess, f"an event subprocess must start on a message, a signal, a timer, an error or "
                                   f"an escalation (here: {started_by})")
    for start in starts:
        if start.find(_b("errorEventDefinition")) is not None and \
                (start.get("isInterrupting") or "true").strip().lower() == "false":
            checker.report(start, "an error start event always interrupts: remove isInterrupting=\"false\"")
    parent = subprocess.getparent()
    where = _local(parent) if parent is not None else "process"
    if where == "subProcess" and (parent.get("triggeredByEvent") or "").strip().lower() == "true":
        checker.report(subprocess, f"an event subprocess inside an event subprocess ('{parent.get('id')}') is not "
                                   "supported; put it beside that one")
    elif where == "subProcess" and (parent.find(_b("multiInstanceLoopCharacteristics")) is not None
                                    or parent.find(_b("standardLoopCharacteristics")) is not None):
        checker.report(subprocess, f"an event subprocess inside a multi-instance or loop subprocess "
                                   f"('{parent.get('id')}') is not supported yet; put it in a subprocess without "
                                   "loop characteristics, or at the process level")
    elif where not in ("process", "subProcess"):
        inside = {"transaction": "a transaction", "adHocSubProcess": "an ad-hoc subprocess"}.get(where, where)
        checker.report(subprocess, f"an event subprocess inside {inside} is not supported yet; put it in an "
                                   "embedded subprocess or at the process level")


def _check_event_subprocess_start(checker: Checker, definition) -> None:
    """An error or escalation start event starts an event subprocess, nothing else (as Camunda 7
    refuses it)."""
    start = definition.getparent()
    if start is None or _local(start) != "startEvent":
        return
    scope = start.getparent()
    if scope is None or _local(scope) != "subProcess" or \
            (scope.get("triggeredByEvent") or "").strip().lower() != "true":
        kind = _local(definition)[:-len("EventDefinition")]
        checker.report(start, f"an {kind} start event may only start an event subprocess "
                              "(a subProcess with triggeredByEvent=\"true\")")


def _check_compensation_handler(checker: Checker, activity) -> None:
    if (activity.get("isForCompensation") or "").strip().lower() == "true":
        checker.report(activity, _NO_COMPENSATION)


def _check_link(checker: Checker, definition) -> None:
    """A link throw event goes on at the link catch event of its name in the same process or
    subprocess (Camunda 7's rule); a link is only an intermediate event."""
    event = definition.getparent()
    kind = _local(event)
    name = (definition.get("name") or "").strip()
    if kind not in ("intermediateThrowEvent", "intermediateCatchEvent"):
        checker.report(event, f"a link event definition belongs to an intermediate throw or catch event, not to {_a(kind)}")
        return
    if not name:
        checker.report(event, "the link event has no name: a link throw event goes on at the link catch event of "
                              "its name")
        return
    scope = event.getparent()
    catches = [e for e in scope.findall(_b("intermediateCatchEvent"))
               for d in e.findall(_b("linkEventDefinition")) if (d.get("name") or "").strip() == name]
    if kind == "intermediateCatchEvent":
        if len(catches) > 1 and catches[0] is not event:
            checker.report(event, f"link catch events '{catches[0].get('id')}' and '{event.get('id')}' have the same "
                                  f"name '{name}' in '{scope.get('id')}': a link throw event could not tell where to go on")
        if event.findall(_b("incoming")):
            checker.report(event, "a link catch event has no incoming sequence flow: the link throw event of its "
                                  "name leads to it")
    else:
        if not catches:
            checker.report(event, f"no link catch event named '{name}' in '{scope.get('id')}' (a link goes on only "
                                  "in its own process or subprocess)")
        if event.findall(_b("outgoing")):
            checker.report(event, "a link throw event has no outgoing sequence flow: it goes on at the link catch "
                                  "event of its name")


def _check_conditional(checker: Checker, definition) -> None:
    """A conditional event is a boundary or intermediate catch event (an event subprocess's start is
    refused with event subprocesses); camunda:variableEvents lists create, update, delete."""
    event = definition.getparent()
    scope = event.getparent() if event is not None else None
    if event is not None and _local(event) == "startEvent" and scope is not None and \
            (scope.get("triggeredByEvent") or "").strip().lower() != "true":
        checker.report(event, "a conditional start event of a process is not supported (Camunda starts it through "
                              "POST /condition, which the engine does not offer): start with a none or message start "
                              "event and wait with an intermediate conditional event")
    events = [e.strip() for e in (definition.get(_c("variableEvents")) or "").split(",") if e.strip()]
    wrong = [e for e in events if e not in ("create", "update", "delete")]
    if wrong:
        checker.report(checker.owner(definition), f"camunda:variableEvents {', '.join(repr(e) for e in wrong)}: "
                                                  "expected create, update or delete")


def _check_call_binding(checker: Checker, activity) -> None:
    """The called process is its latest version, the one deployed with the caller, or a version
    named by number or tag (fixed when the caller is deployed: no expression)."""
    binding = (activity.get(_c("calledElementBinding")) or "latest").strip()
    if binding not in ("latest", "deployment", "version", "versionTag"):
        checker.report(activity, f"calledElementBinding '{binding}' is not one of latest, deployment, version, "
                                 "versionTag")
    version = (activity.get(_c("calledElementVersion")) or "").strip()
    if binding == "version" and not (version.isascii() and version.isdigit() and int(version) > 0):
        checker.report(activity, f"calledElementVersion '{version}' must be a version number (1, 2, ...): with "
                                 "binding 'version' the called version is fixed when this process is deployed"
                       if version else "calledElementBinding 'version' needs calledElementVersion")
    tag = (activity.get(_c("calledElementVersionTag")) or "").strip()
    if binding == "versionTag" and (not tag or "${" in tag or "#{" in tag):
        checker.report(activity, f"calledElementVersionTag '{tag}' must be a version tag, not an expression: with "
                                 "binding 'versionTag' the called version is fixed when this process is deployed"
                       if tag else "calledElementBinding 'versionTag' needs calledElementVersionTag")


_SCRIPT_HOLDERS = {"executionListener": "an execution listener", "taskListener": "a task listener",
                   "inputParameter": "an input parameter", "outputParameter": "an output parameter"}


def _check_camunda_script(checker: Checker, script) -> None:
    owner = checker.owner(script)
    holder = script.getparent()
    script_format = (script.get("scriptFormat") or "").strip()
    if holder is not None and holder.tag in _PARAMETER_TAGS and script_format.lower() in ("feel", *SCRIPT_FORMATS):
        where = f"{_local(holder)} '{holder.get('name')}'"
        if script.get("resource"):
            checker.report(owner, f"{where}: external script (resource '{script.get('resource')}') is not "
                                  "supported; put the script in the diagram")
            return
        try:  # camunda:inputOutput: the engine's FEEL, or Python in its sandbox
            if script_format.lower() == "feel":
                feel.compile_expression((script.text or "").strip())
            else:
                compile_value_script(script.text or "")
        except ExpressionError as exc:
            language = "FEEL does not parse" if script_format.lower() == "feel" else "Python script does not compile"
            checker.report(owner, f"{where}: {language}: {exc}")
        return
    where = _SCRIPT_HOLDERS.get(_local(holder) if holder is not None else "")
    if where is not None:  # (Python and JavaScript/Groovy listeners were turned into tasks: engine/foreign.py)
        checker.report(owner, f"a {script_format or 'script'} script in {where} is not run by the engine; write "
                              "it in Python or FEEL (or use a ${...} expression)")
        return
    if script_format.lower() not in SCRIPT_FORMATS:
        checker.report(owner, f"script format '{script_format}' is not supported; only python")
    if script.get("resource"):
        checker.report(owner, f"external script (resource '{script.get('resource')}') is not supported; "
                              "put the script in the diagram")
    elif not (script.text or "").strip():
        checker.report(owner, "script is empty")


def _check_variable_mapping(checker: Checker, mapping) -> None:
    """camunda:in / camunda:out of a call activity: a sourceExpression is evaluated by the engine."""
    source = (mapping.get("sourceExpression") or "").strip()
    if source:
        error = checker.compile("any", source)
        if error is not None:
            checker.report(checker.owner(mapping),
                           f"camunda:{_local(mapping)} sourceExpression does not parse: {error}")


# camunda:property names whose value the engine evaluates: outputElement (multi-instance, per
# instance), dalad:correlatorGroups (engine/senders.py, on the instance's variables).
EVALUATED_PROPERTIES = {"outputElement": "any", "dalad:correlatorGroups": "template"}


def _check_property(checker: Checker, prop) -> None:
    value = (prop.get("value") or "").strip()
    kind = EVALUATED_PROPERTIES.get(prop.get("name"))
    if kind is not None and value and (kind == "any" or _EMBEDDED.search(value)):
        error = checker.compile(kind, value)
        if error is not None:
            checker.report(checker.owner(prop), f"camunda:property {prop.get('name')} does not parse: {error}")


def _check_correlation_property(checker: Checker, retrieval) -> None:
    """A correlation property's retrieval expression: SpiffWorkflow evaluates the text of the
    first child (whatever it is) each time the message is thrown or caught."""
    owner = retrieval.getparent() if retrieval.getparent() is not None else retrieval
    children = list(retrieval)
    text = (children[0].text or "").strip() if children else ""
    if not text:
        checker.report(owner, "correlation property retrieval expression is empty")
        return
    error = checker.compile("any", text)
    if error is not None:
        checker.report(owner, f"correlation property retrieval expression does not parse: {error}")


_PARAMETER_TAGS = frozenset({_c("inputParameter"), _c("outputParameter")})


def _check_input_output(checker: Checker, input_output) -> None:
    owner = checker.owner(input_output)
    for parameter in input_output:
        if parameter.tag not in _PARAMETER_TAGS:
            continue
        kind = "input" if parameter.tag == _c("inputParameter") else "output"
        name = (parameter.get("name") or "").strip()
        if not name:
            checker.report(owner, f"{kind} parameter has no name")
        label = f"{kind} parameter '{name}'"
        for node in parameter.iter(etree.Element):
            if node.tag == _c("script"):
                continue
            text = (node.text or "").strip()
            if _EMBEDDED.search(text):
                error = checker.compile("template", text)
                if error is not None:
                    checker.report(owner, f"{label} does not parse: {error}")


ElementRule = Callable[[Checker, object], None]

CHOICE_SOURCES = ("units", "bureaus", "projects", "users")  # forms/choices.py: the lists a field may offer


def _check_form_field(checker: Checker, form_field) -> None:
    """A field whose choices come from a list names a list there is, and is text or an enum; one
    that names in whose name a process starts (`dalad:ownGroups`) is a start event's list of units
    or bureaus."""
    properties = {prop.get("id"): (prop.get("value") or "").strip() for prop in form_field.iter(_c("property"))}
    if "dalad:ownGroups" in properties:
        where = f"form field '{form_field.get('id')}'"
        owner = checker.owner(form_field)
        if properties["dalad:ownGroups"].lower() not in ("true", "false"):
            checker.report(owner, f"{where}: dalad:ownGroups is true or false")
        elif _local(owner) != "startEvent":
            checker.report(owner, f"{where}: dalad:ownGroups belongs on a start event's form (the starter's "
                                  "own units or bureaus)")
        elif properties.get("dalad:choices") not in ("units", "bureaus") and \
                ((form_field.get("type") or "string") != "enum" or "dalad:choices" in properties):
            checker.report(owner, f"{where}: dalad:ownGroups needs dalad:choices units or bureaus, or an enum "
                                  "of bureau ids")
    for prop in form_field.iter(_c("property")):
        if prop.get("id") != "dalad:choices":
            continue
        source = (prop.get("value") or "").strip()
        where = f"form field '{form_field.get('id')}'"
        if source not in CHOICE_SOURCES:
            checker.report(checker.owner(form_field), f"{where}: dalad:choices '{source}' is not a list; "
                                                      f"use one of {', '.join(CHOICE_SOURCES)}")
        elif (form_field.get("type") or "string") not in ("string", "enum"):
            checker.report(checker.owner(form_field), f"{where}: dalad:choices needs type string or enum, "
                                                      f"not {form_field.get('type')}")


# BPMN local name -> rules run on each element of that type, in document order. A new rule is a
# function (checker, element) that calls checker.report(element_or_owner, message).
ELEMENT_RULES: dict[str, list[ElementRule]] = {
    "timerEventDefinition": [_check_timer],
    "errorEventDefinition": [_check_event_subprocess_start],
    "escalationEventDefinition": [_check_event_subprocess_start],
    "scriptTask": [_check_script_task],
    "userTask": [_check_description],
    **{name: [_check_java] for name in JAVA_IMPLEMENTED},
    "serviceTask": [_check_java, _check_service_implementation],
    "subProcess": [_check_event_subprocess],
    "callActivity": [_check_call_binding],
    "businessRuleTask": [_check_java, _check_decision_reference],
    "correlationPropertyRetrievalExpression": [_check_correlation_property],
    "linkEventDefinition": [_check_link],
    "conditionalEventDefinition": [_check_conditional],
}
for _activity in ACTIVITY_TYPES:
    ELEMENT_RULES.setdefault(_activity, []).append(_check_compensation_handler)

# camunda local name -> rules.
CAMUNDA_RULES: dict[str, list[ElementRule]] = {
    "script": [_check_camunda_script],
    "inputOutput": [_check_input_output],
    "in": [_check_variable_mapping],
    "out": [_check_variable_mapping],
    "property": [_check_property],
    "formField": [_check_form_field],
}

# --------------------------------------------------------------------------- entry point

def check_bpmn(tree, filename: str) -> list[Problem]:
    """Check a parsed BPMN file (an lxml tree or root element, e.g. from engine.xmlsafe.parse_xml,
    after engine.foreign.adapt) and return every problem found, sorted by line; an empty list
    means it may be deployed."""
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    return Checker(root, filename).run()
