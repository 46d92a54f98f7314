"""What changed between two versions of a process, element by element, read from their BPMN XML.

Elements are matched by id. For each one the diff compares what changes how an instance runs:
type, name, the element's attributes (camunda:candidateGroups, assignee, formKey, dueDate,
calledElement, attachedToRef, default flow ...), its lane, sequence-flow ends and conditions,
event definitions (timer expressions, message / signal / error names), multi-instance settings,
scripts, form fields, input/output parameters, call-activity mappings and listeners. Layout
(BPMNDI), documentation and incoming/outgoing lists (the flows say the same) are left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from lxml import etree

from .errors import NotFound
from .xmlsafe import parse_xml

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
_PREFIXES = {BPMN: "", CAMUNDA: "camunda:", "http://www.w3.org/2001/XMLSchema-instance": "xsi:"}
# Children folded into their parent element's description rather than listed on their own.
_FOLDED = {"incoming", "outgoing", "documentation", "extensionElements", "conditionExpression", "script",
           "multiInstanceLoopCharacteristics", "standardLoopCharacteristics", "laneSet", "flowNodeRef",
           "timeDate", "timeDuration", "timeCycle", "condition", "loopCardinality", "completionCondition"}
_PROCESS_ATTRIBUTES = ("name", f"{{{CAMUNDA}}}versionTag", f"{{{CAMUNDA}}}candidateStarterGroups",
                       f"{{{CAMUNDA}}}candidateStarterUsers", "isExecutable", f"{{{CAMUNDA}}}historyTimeToLive")


@dataclass(frozen=True)
class Element:
    """One element of a version: its id, type, name and what matters about it, as text."""

    id: str
    type: str
    name: Optional[str]
    attributes: dict
    line: Optional[int] = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id


@dataclass(frozen=True)
class Change:
    attribute: str
    before: Optional[str]
    after: Optional[str]


@dataclass(frozen=True)
class ElementChange:
    before: Element
    after: Element
    changes: list

    @property
    def id(self) -> str:
        return self.after.id


@dataclass
class VersionDiff:
    """Elements added, removed and changed from one version to the next (in document order)."""

    added: list[Element] = field(default_factory=list)
    removed: list[Element] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    process: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.process)


def diff_versions(before: bytes, after: bytes, process_id: str, *, before_name: str = "before.bpmn",
                  after_name: str = "after.bpmn") -> VersionDiff:
    """Compare process `process_id` in two BPMN files."""
    old_process, old = _elements(before, before_name, process_id)
    new_process, new = _elements(after, after_name, process_id)
    result = VersionDiff()
    result.process = _changes(_process_attributes(old_process), _process_attributes(new_process))
    result.added = [element for element_id, element in new.items() if element_id not in old]
    result.removed = [element for element_id, element in old.items() if element_id not in new]
    for element_id, element in new.items():
        if element_id in old:
            changes = _changes(_comparable(old[element_id]), _comparable(element))
            if changes:
                result.changed.append(ElementChange(old[element_id], element, changes))
    return result


def elements_of(content: bytes, filename: str, process_id: str) -> dict[str, Element]:
    """The elements of process `process_id` in a BPMN file, by id, in document order."""
    return _elements(content, filename, process_id)[1]


def _elements(content: bytes, filename: str, process_id: str):
    root = parse_xml(content, filename).getroot()
    process = next((p for p in root.iter(f"{{{BPMN}}}process") if p.get("id") == process_id), None)
    if process is None:
        raise NotFound(f"{filename} defines no process '{process_id}'")
    names = {el.get("id"): el for el in root if isinstance(el.tag, str) and el.get("id")}  # messages, signals ...
    lanes = {}
    for ref in process.iter(f"{{{BPMN}}}flowNodeRef"):
        lane = ref.getparent()
        lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id")
    found: dict[str, Element] = {}
    for el in process.iter():
        if not isinstance(el.tag, str) or el is process or not el.get("id"):
            continue
        kind = etree.QName(el).localname
        if kind in _FOLDED or kind.endswith("EventDefinition") or _inside_extension(el, process):
            continue
        attributes = _attributes(el, names)
        if el.get("id") in lanes:
            attributes["lane"] = lanes[el.get("id")]
        found[el.get("id")] = Element(el.get("id"), kind, el.get("name"), attributes, el.sourceline)
    return process, found


def _inside_extension(el, process) -> bool:
    parent = el.getparent()
    while parent is not None and parent is not process:
        if etree.QName(parent).localname == "extensionElements":
            return True
        parent = parent.getparent()
    return False


def _name(qualified: str) -> str:
    if qualified.startswith("{"):
        namespace, _, local = qualified[1:].partition("}")
        return _PREFIXES.get(namespace, f"{{{namespace}}}") + local
    return qualified


def _text(el) -> str:
    return " ".join((el.text or "").split())


def _attributes(el, names: dict) -> dict:
    """What matters about an element, as {label: text}."""
    found = {_name(k): v for k, v in el.attrib.items() if k not in ("id", "name")}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        kind = etree.QName(child).localname
        if kind == "conditionExpression":
            found["condition"] = _text(child)
        elif kind == "script":
            found["script"] = _text(child)
        elif kind.endswith("EventDefinition"):
            found["event"] = _event(child, names)
        elif kind in ("multiInstanceLoopCharacteristics", "standardLoopCharacteristics"):
            found["loop"] = _loop(child)
        elif kind == "extensionElements":
            found.update(_extensions(child))
    return found


def _event(definition, names: dict) -> str:
    kind = etree.QName(definition).localname[: -len("EventDefinition")]
    parts = [kind]
    for child in definition:
        if isinstance(child.tag, str) and etree.QName(child).localname in ("timeDate", "timeDuration", "timeCycle",
                                                                           "condition"):
            parts.append(f"{etree.QName(child).localname}={_text(child)}")
    for ref in ("messageRef", "signalRef", "errorRef", "escalationRef"):
        target = names.get(definition.get(ref) or "")
        if target is not None:
            label = target.get("errorCode") or target.get("escalationCode") or target.get("name") or target.get("id")
            parts.append(f"{ref[:-3]}={label}")
        elif definition.get(ref):
            parts.append(f"{ref[:-3]}={definition.get(ref)}")
    parts += [f"{_name(k)}={v}" for k, v in definition.attrib.items() if k not in ("id",) and not k.endswith("Ref")]
    return ", ".join(parts)


def _loop(loop) -> str:
    kind = etree.QName(loop).localname
    parts = ["sequential" if loop.get("isSequential") == "true" else
             ("parallel" if kind.startswith("multi") else "loop")]
    parts += [f"{_name(k)}={v}" for k, v in sorted(loop.attrib.items()) if k != "isSequential"]
    for child in loop:
        if isinstance(child.tag, str):
            parts.append(f"{etree.QName(child).localname}={_text(child)}")
    return ", ".join(parts)


def _extensions(extension) -> dict:
    found = {}
    for child in extension:
        if not isinstance(child.tag, str):
            continue
        kind = _name(child.tag)
        if kind == "camunda:formData":
            for form_field in child.iterfind(f"{{{CAMUNDA}}}formField"):
                found[f"form field {form_field.get('id')}"] = _form_field(form_field)
        elif kind == "camunda:inputOutput":
            for param in child:
                if isinstance(param.tag, str):
                    direction = "input" if etree.QName(param).localname == "inputParameter" else "output"
                    found[f"{direction} {param.get('name')}"] = _compact(param)
        elif kind == "camunda:properties":
            for prop in child:
                if isinstance(prop.tag, str):
                    found[f"property {prop.get('name')}"] = prop.get("value") or ""
        elif kind in ("camunda:in", "camunda:out"):
            found[f"{kind} {child.get('target') or child.get('variables') or child.get('businessKey') or ''}".strip()] = \
                _compact(child)
        else:
            label, n = kind, 2
            while label in found:
                label, n = f"{kind} #{n}", n + 1
            found[label] = _compact(child)
    return found


def _form_field(form_field) -> str:
    parts = [form_field.get("type") or "string"]
    for attr in ("label", "defaultValue", "datePattern"):
        if form_field.get(attr):
            parts.append(f"{attr}={form_field.get(attr)}")
    for constraint in form_field.iterfind(f"{{{CAMUNDA}}}validation/{{{CAMUNDA}}}constraint"):
        parts.append(constraint.get("name") + (f"={constraint.get('config')}" if constraint.get("config") else ""))
    values = [v.get("id") for v in form_field.iterfind(f"{{{CAMUNDA}}}value")]
    if values:
        parts.append("values=" + "|".join(values))
    return ", ".join(parts)


def _compact(el) -> str:
    """An extension element as short text: its attributes, then its text or its children."""
    parts = [f"{_name(k)}={v}" for k, v in el.attrib.items()]
    text = _text(el)
    if text:
        parts.append(text)
    for child in el:
        if isinstance(child.tag, str):
            parts.append(f"{etree.QName(child).localname}({_compact(child)})")
    return ", ".join(parts)


def _process_attributes(process) -> dict:
    return {_name(k): process.get(k) for k in _PROCESS_ATTRIBUTES if process.get(k) is not None}


def _comparable(element: Element) -> dict:
    return {"type": element.type, "name": element.name, **element.attributes}


def _changes(before: dict, after: dict) -> list[Change]:
    keys = list(dict.fromkeys([*before, *after]))
    return [Change(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
