"""Server-side BPMN to SVG: one renderer for the admin pages, the project page and the auditors'
replay.

`render_svg` draws a diagram from the file's BPMNDI, exactly where the Modeler placed things, in
the bpmn-js look: pools and lanes with their names vertical on the left, tasks with their type
icons and loop / multi-instance markers, events with their definition icons, gateways with their
markers, sequence / message flows and associations with their arrowheads and labels. A
`Highlight` paints an instance's state on top: completed elements, taken flows, elements holding a
token, failed (incident) elements and short waiting notes (a timer's due time).

The result is one standalone SVG document (no XML declaration, so it can also be inlined into an
HTML page): no scripts, no external resources, no web fonts; all styling is one CSS `<style>`
block whose selectors are scoped under the root class `dalad-bpmn`. Each drawn element is a `<g>`
carrying `data-element-id` and a `<title>` (its name, shown as a tooltip); classes on that group
name the kind (`task`, `event`, `gateway`, `flow`, `pool`, `lane`, `data`, `annotation`,
`group`, `unknown`), the BPMN type (`userTask`, `sequenceFlow`, ...) and the highlight state
(`completed`, `active`, `taken`, `failed`, `waiting`). External labels (events, gateways, data,
flows) are drawn in a layer above the flows, each as `<g class="label" data-label-for="...">`;
token badges and waiting notes in a top layer (`data-overlay-for`).

A file without BPMNDI (or a `process_id` without a plane) gives a small message SVG instead of an
error; a malformed file raises the `DefinitionInvalid` from `engine.xmlsafe.parse_xml`.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Optional

from lxml import etree

from engine.xmlsafe import parse_xml

__all__ = ["Highlight", "NO_DI_MESSAGE", "render_svg"]

NO_DI_MESSAGE = "此图没有布局信息 (no BPMNDI)"

_BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_BPMN = "{%s}" % _BPMN_NS
_BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
_DC = "{http://www.omg.org/spec/DD/20100524/DC}"
_DI = "{http://www.omg.org/spec/DD/20100524/DI}"
_SVG_NS = "http://www.w3.org/2000/svg"

MARGIN = 20.0
FONT_SIZE = 12.0
SMALL_FONT = 11.0
NOTE_FONT = 10.5
LINE_HEIGHT = 1.2
EXTERNAL_LABEL_WIDTH = 90.0

_TASKS = frozenset({"task", "userTask", "serviceTask", "scriptTask", "businessRuleTask",
                    "sendTask", "receiveTask", "manualTask"})
_SUBPROCESSES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
_ACTIVITIES = _TASKS | _SUBPROCESSES | {"callActivity"}
_EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent",
                     "intermediateThrowEvent", "boundaryEvent"})
_GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway",
                       "eventBasedGateway", "complexGateway"})
_DATA = frozenset({"dataObjectReference", "dataObject", "dataInput", "dataOutput",
                   "dataStoreReference"})
_EDGES = frozenset({"sequenceFlow", "messageFlow", "association", "dataInputAssociation",
                    "dataOutputAssociation", "conversationLink"})

FONT_FAMILY = ("'Noto Sans CJK SC', 'Microsoft YaHei', 'PingFang SC', 'Source Han Sans SC', "
               "'WenQuanYi Micro Hei', 'Helvetica Neue', Arial, sans-serif")

_INK = "#22242a"
_TAKEN = "#1f7a3d"
_ACTIVE = "#1565c0"
_FAILED = "#c62828"

_CSS = f"""
.dalad-bpmn {{ font-family: {FONT_FAMILY}; font-size: {FONT_SIZE:g}px; }}
.dalad-bpmn text {{ fill: {_INK}; stroke: none; }}
.dalad-bpmn .shape, .dalad-bpmn .shape-inner {{ fill: #ffffff; stroke: {_INK}; stroke-width: 2px; }}
.dalad-bpmn .shape-inner {{ fill: none; stroke-width: 1.5px; }}
.dalad-bpmn .pool > .shape, .dalad-bpmn .lane > .shape {{ stroke-width: 1.5px; }}
.dalad-bpmn .lane > .shape {{ fill: none; }}
.dalad-bpmn .pool-band {{ fill: none; stroke: {_INK}; stroke-width: 1.5px; }}
.dalad-bpmn .callActivity > .shape {{ stroke-width: 5px; }}
.dalad-bpmn .event-subprocess > .shape {{ stroke-dasharray: 1.5 3; stroke-linecap: round; }}
.dalad-bpmn .event-start {{ stroke-width: 2px; }}
.dalad-bpmn .event-intermediate {{ stroke-width: 1.5px; }}
.dalad-bpmn .event-end {{ stroke-width: 4px; }}
.dalad-bpmn .non-interrupting {{ stroke-dasharray: 5.5 3; }}
.dalad-bpmn .data > .shape {{ stroke-width: 1.5px; }}
.dalad-bpmn .annotation > .shape {{ fill: none; stroke-width: 1.5px; }}
.dalad-bpmn .annotation > .hit {{ fill: #ffffff; fill-opacity: 0; stroke: none; }}
.dalad-bpmn .group > .shape {{ fill: none; stroke-width: 1.5px; stroke-dasharray: 10 6 0.5 6;
  stroke-linecap: round; }}
.dalad-bpmn .unknown > .shape {{ fill: #f4f4f4; stroke-dasharray: 4 3; stroke-width: 1px; }}
.dalad-bpmn .unknown text {{ fill: #666666; }}
.dalad-bpmn .icon {{ fill: none; stroke: {_INK}; stroke-width: 1.3px; stroke-linejoin: round; }}
.dalad-bpmn .icon.filled {{ fill: {_INK}; }}
.dalad-bpmn .icon.white {{ fill: #ffffff; }}
.dalad-bpmn .icon.inverse {{ fill: none; stroke: #ffffff; }}
.dalad-bpmn .gw-marker {{ fill: none; stroke: {_INK}; stroke-width: 3.5px; stroke-linecap: round; }}
.dalad-bpmn .gw-marker.thin {{ stroke-width: 1.3px; }}
.dalad-bpmn .gw-marker.ring {{ stroke-width: 2.5px; }}
.dalad-bpmn .task-marker {{ fill: none; stroke: {_INK}; stroke-width: 1.5px; }}
.dalad-bpmn .line {{ fill: none; stroke: {_INK}; stroke-width: 1.5px; stroke-linejoin: round; }}
.dalad-bpmn .messageFlow > .line {{ stroke-dasharray: 10 11; }}
.dalad-bpmn .association > .line, .dalad-bpmn .dataInputAssociation > .line,
.dalad-bpmn .dataOutputAssociation > .line {{ stroke-dasharray: 0.5 5; stroke-linecap: round; }}
.dalad-bpmn .label text, .dalad-bpmn .flow text {{ font-size: {SMALL_FONT:g}px; }}
.dalad-bpmn .pool-label {{ font-size: {FONT_SIZE:g}px; }}
.dalad-bpmn .diagram-title {{ font-size: 16px; font-weight: bold; }}
.dalad-bpmn .completed > .shape {{ fill: #dde8d8; stroke: #5e7a5e; }}
.dalad-bpmn .lane.completed > .shape, .dalad-bpmn .group.completed > .shape {{ fill: none; }}
.dalad-bpmn .taken > .line {{ stroke: {_TAKEN}; stroke-width: 3px; }}
.dalad-bpmn .failed > .shape {{ fill: #fde4e2; stroke: {_FAILED}; stroke-width: 3px; }}
.dalad-bpmn .active > .shape {{ stroke: {_ACTIVE}; stroke-width: 4px; }}
.dalad-bpmn .token {{ fill: {_ACTIVE}; stroke: #ffffff; stroke-width: 1.5px; }}
.dalad-bpmn .token-dot {{ fill: #ffffff; stroke: none; }}
.dalad-bpmn .failed-badge circle {{ fill: {_FAILED}; stroke: #ffffff; stroke-width: 1.5px; }}
.dalad-bpmn .failed-badge text {{ fill: #ffffff; font-size: 11px; font-weight: bold; }}
.dalad-bpmn .waiting-note rect {{ fill: #fff6dd; stroke: #b7791f; stroke-width: 1px; }}
.dalad-bpmn .waiting-note text {{ fill: #6b4500; font-size: {NOTE_FONT:g}px; }}
.dalad-bpmn .message-box {{ fill: #fafafa; stroke: #999999; stroke-width: 1px;
  stroke-dasharray: 6 4; }}
.dalad-bpmn .message-text {{ font-size: 14px; }}
.dalad-bpmn .message-detail {{ font-size: 11px; fill: #666666; }}
"""


@dataclass
class Highlight:
    """An instance's state painted on the diagram (all by element id)."""

    completed: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)
    taken_flows: set[str] = field(default_factory=set)
    waiting: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def onto(self, known) -> "Highlight":
        """The same state on a diagram whose elements are `known`: an element the engine put in
        for a listener, a parameter or a condition (`<owner>__…`, engine/foreign.py) is shown on
        the element (or flow) it stands for."""
        def shown(element_id: str) -> str:
            owner = element_id.split("__", 1)[0]
            return owner if element_id not in known and owner in known else element_id
        return Highlight(completed={shown(e) for e in self.completed}, active={shown(e) for e in self.active},
                         taken_flows={shown(e) for e in self.taken_flows},
                         waiting={shown(e): note for e, note in self.waiting.items()},
                         failed={shown(e) for e in self.failed})

    def as_dict(self, counts: Optional[dict] = None) -> dict:
        """The state as JSON for the bpmn-js viewer (web/static/diagram.js); `counts`: how many
        times each element was done."""
        return {"completed": sorted(self.completed), "active": sorted(self.active),
                "taken": sorted(self.taken_flows), "waiting": dict(self.waiting), "failed": sorted(self.failed),
                "counts": dict(counts or {})}


# --------------------------------------------------------------------------------------------
# small helpers


def _fmt(value) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "0"
        rounded = round(value, 2)
        if rounded == int(rounded):
            return str(int(rounded))
        return f"{rounded:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _local(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _el(parent, tag: str, text: Optional[str] = None, **attrs):
    node = etree.SubElement(parent, tag)
    for key, value in attrs.items():
        if value is None:
            continue
        name = "class" if key == "cls" else key.replace("_", "-")
        node.set(name, _fmt(value))
    if text is not None:
        node.text = text
    return node


def _num(value) -> Optional[float]:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


@dataclass
class _Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


def _bounds(node) -> Optional[_Box]:
    if node is None:
        return None
    b = node.find(_DC + "Bounds")
    if b is None:
        return None
    x, y, w, h = (_num(b.get(k)) for k in ("x", "y", "width", "height"))
    if x is None or y is None or w is None or h is None or w < 0 or h < 0:
        return None
    return _Box(x, y, w, h)


# --------------------------------------------------------------------------------------------
# text: width estimate and wrapping (no font metrics on the server; CJK wraps per character)

_CLOSING = set("，。、；：？！）」』》〉】〕…—·,.;:?!)]}%、‘’“”")
_OPENING = set("（「『《〈【〔([{“‘")


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _char_width(ch: str, size: float) -> float:
    if _is_wide(ch):
        return size
    if ch in "il.,:;|!'`":
        return size * 0.28
    if ch in "fjrtI()[]{} -\"":
        return size * 0.36
    if ch in "mwMW@":
        return size * 0.85
    if ch.isdigit():
        return size * 0.56
    if ch.isupper():
        return size * 0.66
    return size * 0.53


def _text_width(text: str, size: float) -> float:
    return sum(_char_width(ch, size) for ch in text)


def _tokens(line: str) -> list[tuple[str, bool]]:
    """Split into (token, space_before): words, single CJK characters; punctuation kept with its
    neighbour so a line never starts with a closing mark nor ends with an opening one."""
    tokens: list[tuple[str, bool]] = []
    word = ""
    space = False
    word_space = False
    for ch in line:
        if ch.isspace():
            if word:
                tokens.append((word, word_space))
                word = ""
            space = True
            continue
        if _is_wide(ch) or ch in _CLOSING or ch in _OPENING:
            if word:
                tokens.append((word, word_space))
                word = ""
                word_space = False
            tokens.append((ch, space))
            space = False
            continue
        if not word:
            word_space = space
            space = False
        word += ch
    if word:
        tokens.append((word, word_space))
    merged: list[tuple[str, bool]] = []
    pending_open: Optional[tuple[str, bool]] = None
    for tok, sp in tokens:
        if pending_open is not None:
            tok, sp = pending_open[0] + ("" if not sp else " ") + tok, pending_open[1]
            pending_open = None
        if len(tok) == 1 and tok in _OPENING:
            pending_open = (tok, sp)
            continue
        if merged and tok[0] in _CLOSING and not sp:
            prev, prev_sp = merged[-1]
            merged[-1] = (prev + tok, prev_sp)
            continue
        merged.append((tok, sp))
    if pending_open is not None:
        merged.append(pending_open)
    return merged


def _wrap(text: str, max_width: float, size: float) -> list[str]:
    max_width = max(max_width, size * 1.5)
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        current = ""
        for tok, sp in _tokens(raw):
            candidate = current + (" " if sp and current else "") + tok
            if not current or _text_width(candidate, size) <= max_width:
                current = candidate
                if _text_width(current, size) > max_width:  # one long word: break it
                    head, current = _break_word(current, max_width, size)
                    lines.extend(head)
                continue
            lines.append(current)
            current = tok
            if _text_width(current, size) > max_width:
                head, current = _break_word(current, max_width, size)
                lines.extend(head)
        lines.append(current)
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _break_word(word: str, max_width: float, size: float) -> tuple[list[str], str]:
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and _text_width(current + ch, size) > max_width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    return pieces, current


def _truncate(lines: list[str], max_lines: int, max_width: float, size: float) -> list[str]:
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max(1, max_lines)]
    last = kept[-1]
    while last and _text_width(last + "…", size) > max_width:
        last = last[:-1]
    kept[-1] = last + "…"
    return kept


# --------------------------------------------------------------------------------------------
# the renderer


class _Renderer:
    def __init__(self, root, highlight: Highlight, title: Optional[str]):
        self.root = root
        self.title = title
        self.index: dict[str, etree._Element] = {}
        for el in root.iter():
            tag = el.tag
            if isinstance(tag, str) and tag.startswith(_BPMN):
                el_id = el.get("id")
                if el_id:
                    self.index.setdefault(el_id, el)
        self.hl = highlight.onto(self.index)
        self.minx = self.miny = math.inf
        self.maxx = self.maxy = -math.inf
        self.geometry: dict[str, tuple[str, _Box]] = {}

    # -- extent ---------------------------------------------------------------------------

    def _extend(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.minx = min(self.minx, x1, x2)
        self.miny = min(self.miny, y1, y2)
        self.maxx = max(self.maxx, x1, x2)
        self.maxy = max(self.maxy, y1, y2)

    def _extend_box(self, b: _Box) -> None:
        self._extend(b.x, b.y, b.right, b.bottom)

    # -- text ------------------------------------------------------------------------------

    def _text(self, parent, lines: list[str], x: float, top: float, size: float,
              anchor: str = "middle", cls: Optional[str] = None, extend: bool = True):
        """Lines of text, the first line box starting at `top`; returns the <text> element."""
        if not lines:
            return None
        lh = size * LINE_HEIGHT
        node = _el(parent, "text", x=x, y=top + 0.96 * size, text_anchor=anchor, cls=cls)
        if len(lines) == 1:
            node.text = lines[0]
        else:
            for i, line in enumerate(lines):
                _el(node, "tspan", line, x=x, y=top + i * lh + 0.96 * size)
        width = max(_text_width(line, size) for line in lines)
        if not extend:
            pass
        elif anchor == "middle":
            self._extend(x - width / 2, top, x + width / 2, top + len(lines) * lh)
        elif anchor == "end":
            self._extend(x - width, top, x, top + len(lines) * lh)
        else:
            self._extend(x, top, x + width, top + len(lines) * lh)
        return node

    def _centred_label(self, parent, name: str, b: _Box, size: float = FONT_SIZE,
                       padding: float = 5.0) -> None:
        if not name:
            return
        max_w = max(b.w - 2 * padding, size)
        lines = _wrap(name, max_w, size)
        lh = size * LINE_HEIGHT
        lines = _truncate(lines, max(1, int((b.h - 4) // lh)), max_w, size)
        top = b.cy - len(lines) * lh / 2
        self._text(parent, lines, b.cx, top, size)

    def _external_label(self, el_id: str, name: str, di, shape: Optional[_Box],
                        below: bool = True, edge_points=None) -> None:
        if not name:
            return
        label_bounds = _bounds(di.find(_BPMNDI + "BPMNLabel"))
        size = SMALL_FONT
        g = _el(self.layers["labels"], "g", cls="label", data_label_for=el_id)
        if label_bounds is not None:
            width = max(label_bounds.w, EXTERNAL_LABEL_WIDTH if label_bounds.w < 20 else 0)
            lines = _wrap(name, width, size)
            lh = size * LINE_HEIGHT
            top = label_bounds.y
            if len(lines) * lh < label_bounds.h:  # centred in its bounds, like bpmn-js
                top = label_bounds.cy - len(lines) * lh / 2
            self._text(g, lines, label_bounds.cx, top, size)
            return
        lines = _wrap(name, EXTERNAL_LABEL_WIDTH, size)
        if shape is not None:
            self._text(g, lines, shape.cx, shape.bottom + 5, size)
        elif edge_points:
            mx, my = _midpoint(edge_points)
            self._text(g, lines, mx + 4, my - 5 - len(lines) * size * LINE_HEIGHT, size,
                       anchor="start")

    # -- groups ----------------------------------------------------------------------------

    def _states(self, el_id: str, edge: bool = False) -> list[str]:
        states = []
        if el_id in self.hl.completed:
            states.append("completed")
        if edge and el_id in self.hl.taken_flows:
            states.append("taken")
        if el_id in self.hl.active:
            states.append("active")
        if el_id in self.hl.failed:
            states.append("failed")
        if el_id in self.hl.waiting:
            states.append("waiting")
        return states

    def _group(self, layer: str, el_id: str, kind: str, typ: str, name: str,
               extra: Iterable[str] = (), edge: bool = False):
        classes = ["element", kind, typ, *extra, *self._states(el_id, edge)]
        g = _el(self.layers[layer], "g", cls=" ".join(dict.fromkeys(c for c in classes if c)),
                data_element_id=el_id)
        tooltip = name or el_id
        note = self.hl.waiting.get(el_id)
        if note:
            tooltip += f"\n{note}"
        _el(g, "title", tooltip)
        return g

    # -- names -----------------------------------------------------------------------------

    def _name(self, el) -> str:
        if el is None:
            return ""
        typ = _local(el)
        if typ == "textAnnotation":
            text = el.find(_BPMN + "text")
            return (text.text or "").strip() if text is not None else ""
        if typ == "group":
            ref = self.index.get(el.get("categoryValueRef") or "")
            return (ref.get("value") or "").strip() if ref is not None else ""
        name = (el.get("name") or "").strip()
        if not name and typ == "dataObjectReference":
            obj = self.index.get(el.get("dataObjectRef") or "")
            if obj is not None:
                name = (obj.get("name") or "").strip()
        return name

    # -- document --------------------------------------------------------------------------

    def render(self, plane) -> str:
        svg = etree.Element("{%s}svg" % _SVG_NS, nsmap={None: _SVG_NS})
        svg.set("class", "dalad-bpmn")
        svg.set("version", "1.1")
        if self.title:
            _el(svg, "title", self.title)
        _style(svg)
        self._defs(svg)
        self.layers = {}
        for layer in ("pools", "lanes", "containers", "nodes", "boundary", "edges", "labels",
                      "groups", "overlays"):
            self.layers[layer] = _el(svg, "g", cls=f"layer layer-{layer}")

        shapes = []
        edges = []
        for node in plane:
            tag = node.tag if isinstance(node.tag, str) else ""
            if tag == _BPMNDI + "BPMNShape":
                shapes.append(node)
            elif tag == _BPMNDI + "BPMNEdge":
                edges.append(node)

        prepared = []
        for di in shapes:
            b = _bounds(di)
            if b is None:
                continue
            ref = di.get("bpmnElement") or ""
            el = self.index.get(ref)
            typ = _local(el) if el is not None else ""
            prepared.append((di, el, ref, typ, b))
        # Containers big to small so nested lanes and sub-processes land on top of their parents.
        def container_key(item):
            di, el, ref, typ, b = item
            if typ == "participant":
                return (0, -b.w * b.h)
            if typ == "lane":
                return (1, -b.w * b.h)
            if typ in _SUBPROCESSES and di.get("isExpanded") == "true":
                return (2, -b.w * b.h)
            return (3, 0.0)
        prepared.sort(key=container_key)
        for di, el, ref, typ, b in prepared:
            self._shape(di, el, ref, typ, b)
        for di in edges:
            self._edge(di)
        self._overlays()

        if not math.isfinite(self.minx):
            self._extend(0, 0, 100, 50)
        if self.title:
            top = self.miny - 36
            heading = _el(svg, "g", cls="heading")
            self._text(heading, [self.title], self.minx, top, 16, anchor="start",
                       cls="diagram-title")
        x = math.floor(self.minx - MARGIN)
        y = math.floor(self.miny - MARGIN)
        w = math.ceil(self.maxx + MARGIN) - x
        h = math.ceil(self.maxy + MARGIN) - y
        svg.set("viewBox", f"{x} {y} {w} {h}")
        svg.set("width", str(w))
        svg.set("height", str(h))
        svg.set("role", "img")
        label = self.title or self._diagram_name(plane)
        if label:
            svg.set("aria-label", label)
        for layer in self.layers.values():
            layer.text = "\n"
            for child in layer:
                child.tail = "\n"
            layer.tail = "\n"
        svg.text = "\n"
        for child in svg:
            child.tail = "\n"
        return etree.tostring(svg, encoding="unicode")

    def _diagram_name(self, plane) -> str:
        el = self.index.get(plane.get("bpmnElement") or "")
        if el is None:
            return ""
        name = self._name(el)
        if name or _local(el) != "collaboration":
            return name
        for participant in el.findall(_BPMN + "participant"):
            name = self._name(participant)
            if name:
                return name
        return ""

    def _defs(self, svg) -> None:
        defs = _el(svg, "defs")

        def marker(mid, ref_x, ref_y, width, d, fill, stroke, stroke_width=1.0, dash=None):
            m = _el(defs, "marker", id=mid, viewBox="0 0 20 20", refX=ref_x, refY=ref_y,
                    markerWidth=width, markerHeight=width, markerUnits="userSpaceOnUse",
                    orient="auto")
            _el(m, "path", d=d, fill=fill, stroke=stroke, stroke_width=stroke_width,
                stroke_linejoin="round", stroke_dasharray=dash)

        for suffix, colour in (("", _INK), ("-taken", _TAKEN)):
            marker(f"dalad-bpmn-arrow{suffix}", 11, 10, 20, "M 1 5 L 11 10 L 1 15 Z",
                   colour, colour)
            marker(f"dalad-bpmn-conditional{suffix}", -1, 10, 20,
                   "M 0 10 L 8 6 L 16 10 L 8 14 Z", "#ffffff", colour)
            marker(f"dalad-bpmn-default{suffix}", 0, 10, 20, "M 6 4 L 10 16", "none", colour,
                   1.5)
        marker("dalad-bpmn-message-start", 6, 6, 20,
               "M 9.5 6 A 3.5 3.5 0 1 1 2.5 6 A 3.5 3.5 0 1 1 9.5 6 Z", "#ffffff", _INK)
        marker("dalad-bpmn-message-end", 8.5, 5, 20, "M 1 5 L 1 2 L 8 5 L 1 8 Z", "#ffffff",
               _INK)
        marker("dalad-bpmn-association-end", 12, 10, 10, "M 1 5 L 11 10 L 1 15", "none", _INK,
               1.5)
        marker("dalad-bpmn-association-start", 0, 10, 10, "M 11 5 L 1 10 L 11 15", "none",
               _INK, 1.5)

    # -- shapes ----------------------------------------------------------------------------

    def _shape(self, di, el, ref: str, typ: str, b: _Box) -> None:
        self._extend_box(b)
        if typ == "participant":
            self._pool(di, el, ref, b)
        elif typ == "lane":
            self._lane(di, el, ref, b)
        elif typ in _ACTIVITIES:
            self._activity(di, el, ref, typ, b)
        elif typ in _EVENTS:
            self._event(di, el, ref, typ, b)
        elif typ in _GATEWAYS:
            self._gateway(di, el, ref, typ, b)
        elif typ in _DATA:
            self._data(di, el, ref, typ, b)
        elif typ == "textAnnotation":
            self._annotation(el, ref, b)
        elif typ == "group":
            self._group_artifact(di, el, ref, b)
        else:
            self._unknown(el, ref, typ, b)

    def _unknown(self, el, ref: str, typ: str, b: _Box) -> None:
        shown = typ or "unknown"
        name = self._name(el)
        g = self._group("nodes", ref, "unknown", shown if typ else "", name)
        _el(g, "rect", x=b.x, y=b.y, width=b.w, height=b.h, rx=4, ry=4, cls="shape")
        self.geometry[ref] = ("rect", b)
        text = shown + (f": {name}" if name else "")
        if b.w >= 20 and b.h >= 10:
            size = min(SMALL_FONT, max(b.h - 4, 6))
            self._centred_label(g, text, b, size=size, padding=3)

    def _horizontal(self, di) -> bool:
        return di.get("isHorizontal", "true") != "false"

    def _pool(self, di, el, ref: str, b: _Box) -> None:
        name = self._name(el)
        g = self._group("pools", ref, "pool", "participant", name)
        _el(g, "rect", x=b.x, y=b.y, width=b.w, height=b.h, cls="shape")
        self.geometry[ref] = ("rect", b)
        expanded = bool(el.get("processRef")) and di.get("isExpanded") != "false"
        if not expanded:
            self._centred_label(g, name, b)
            return
        if self._horizontal(di):
            _el(g, "path", d=f"M {_fmt(b.x + 30)} {_fmt(b.y)} V {_fmt(b.bottom)}",
                cls="pool-band")
            self._vertical_label(g, name, b.x, b.y, 30, b.h)
        else:
            _el(g, "path", d=f"M {_fmt(b.x)} {_fmt(b.y + 30)} H {_fmt(b.right)}",
                cls="pool-band")
            self._centred_label(g, name, _Box(b.x, b.y, b.w, 30))

    def _lane(self, di, el, ref: str, b: _Box) -> None:
        name = self._name(el)
        g = self._group("lanes", ref, "lane", "lane", name)
        _el(g, "rect", x=b.x, y=b.y, width=b.w, height=b.h, cls="shape")
        self.geometry[ref] = ("rect", b)
        if self._horizontal(di):
            self._vertical_label(g, name, b.x, b.y, 30, b.h)
        else:
            self._centred_label(g, name, _Box(b.x, b.y, b.w, 30))

    def _vertical_label(self, g, name: str, x: float, y: float, band: float, height: float):
        """A name written bottom-to-top, centred in a band on the left (bpmn-js pools/lanes)."""
        if not name:
            return
        size = FONT_SIZE
        max_w = max(height - 10, size)
        lines = _truncate(_wrap(name, max_w, size), 2, max_w, size)
        cx, cy = x + band / 2, y + height / 2
        rotated = _el(g, "g", transform=f"rotate(-90 {_fmt(cx)} {_fmt(cy)})")
        top = cy - len(lines) * size * LINE_HEIGHT / 2
        self._text(rotated, lines, cx, top, size, cls="pool-label", extend=False)

    # activities

    def _activity(self, di, el, ref: str, typ: str, b: _Box) -> None:
        name = self._name(el)
        expanded = typ in _SUBPROCESSES and di.get("isExpanded") == "true"
        extra = []
        if typ in _SUBPROCESSES:
            extra.append("subprocess")
            extra.append("expanded" if expanded else "collapsed")
            if el.get("triggeredByEvent") == "true":
                extra.append("event-subprocess")
        g = self._group("containers" if expanded else "nodes", ref, "task", typ, name, extra)
        radius = 10 if min(b.w, b.h) >= 30 else 3
        _el(g, "rect", x=b.x, y=b.y, width=b.w, height=b.h, rx=radius, ry=radius, cls="shape")
        if typ == "transaction":
            _el(g, "rect", x=b.x + 3, y=b.y + 3, width=max(b.w - 6, 0), height=max(b.h - 6, 0),
                rx=max(radius - 2, 0), ry=max(radius - 2, 0), cls="shape-inner")
        self.geometry[ref] = ("rect", b)
        self._task_icon(g, el, typ, b)
        self._task_markers(g, el, typ, b, expanded)
        if expanded:
            lines = _wrap(name, max(b.w - 10, FONT_SIZE), FONT_SIZE) if name else []
            self._text(g, lines, b.cx, b.y + 5, FONT_SIZE)
        else:
            label_box = _Box(b.x, b.y, b.w, b.h - (14 if self._has_markers(el, typ) else 0))
            self._centred_label(g, name, label_box)

    def _task_icon(self, g, el, typ: str, b: _Box) -> None:
        x, y = b.x, b.y
        f = _fmt
        if typ == "userTask":
            _el(g, "path", cls="icon white",
                d=f"M {f(x + 8)} {f(y + 26)} V {f(y + 23)} Q {f(x + 8)} {f(y + 17.5)} "
                  f"{f(x + 15)} {f(y + 17.5)} Q {f(x + 22)} {f(y + 17.5)} {f(x + 22)} "
                  f"{f(y + 23)} V {f(y + 26)} Z")
            _el(g, "circle", cx=x + 15, cy=y + 12.5, r=4.2, cls="icon white")
            _el(g, "path", cls="icon",
                d=f"M {f(x + 11.5)} {f(y + 21)} V {f(y + 26)} M {f(x + 18.5)} {f(y + 21)} "
                  f"V {f(y + 26)}")
        elif typ == "serviceTask":
            _el(g, "path", cls="icon white", d=_gear(x + 16, y + 16, 7.5, 5.6, 8))
            _el(g, "circle", cx=x + 16, cy=y + 16, r=2.4, cls="icon white")
        elif typ == "scriptTask":
            _el(g, "path", cls="icon white",
                d=f"M {f(x + 11)} {f(y + 8)} H {f(x + 23)} C {f(x + 19)} {f(y + 11.5)} "
                  f"{f(x + 27)} {f(y + 18.5)} {f(x + 23)} {f(y + 22)} H {f(x + 11)} "
                  f"C {f(x + 15)} {f(y + 18.5)} {f(x + 7)} {f(y + 11.5)} {f(x + 11)} "
                  f"{f(y + 8)} Z")
            _el(g, "path", cls="icon",
                d=f"M {f(x + 12.5)} {f(y + 11.5)} H {f(x + 20.5)} "
                  f"M {f(x + 13.5)} {f(y + 15)} H {f(x + 21.5)} "
                  f"M {f(x + 13)} {f(y + 18.5)} H {f(x + 21)}")
        elif typ == "businessRuleTask":
            _el(g, "rect", x=x + 8, y=y + 8, width=18, height=13, cls="icon white")
            _el(g, "rect", x=x + 8, y=y + 8, width=18, height=4, cls="icon filled")
            _el(g, "path", cls="icon",
                d=f"M {f(x + 8)} {f(y + 16.5)} H {f(x + 26)} M {f(x + 13)} {f(y + 12)} "
                  f"V {f(y + 21)}")
        elif typ in ("sendTask", "receiveTask"):
            filled = typ == "sendTask"
            if typ == "receiveTask" and el.get("instantiate") == "true":
                _el(g, "circle", cx=x + 17, cy=y + 15, r=10, cls="icon")
            _envelope(g, x + 17, y + 15, 16, 11, filled)
        elif typ == "manualTask":
            d = ("M 2 8 L 7 3.5 Q 8.6 2.4 9.3 3.9 L 8.2 6 H 17 Q 18.4 7 17 8 H 16.5 "
                 "Q 17.8 9.25 16.5 10.5 H 15.5 Q 16.8 11.75 15.5 13 H 13.5 "
                 "Q 14.8 14.25 13.5 15.5 H 4 Q 2 15.5 2 13.5 Z "
                 "M 11 8 H 16.5 M 11 10.5 H 15.5 M 11 13 H 13.5")
            _el(g, "path", cls="icon white", d=d,
                transform=f"translate({f(x + 6)} {f(y + 6)})")

    @staticmethod
    def _loop(el):
        for child in el:
            typ = _local(child)
            if typ in ("multiInstanceLoopCharacteristics", "standardLoopCharacteristics"):
                return child
        return None

    def _has_markers(self, el, typ: str) -> bool:
        return (self._loop(el) is not None or el.get("isForCompensation") == "true"
                or typ in _SUBPROCESSES or typ == "callActivity")

    def _task_markers(self, g, el, typ: str, b: _Box, expanded: bool) -> None:
        markers = []
        if typ == "adHocSubProcess":
            markers.append("adhoc")
        if (typ in _SUBPROCESSES or typ == "callActivity") and not expanded:
            markers.append("collapsed")
        loop = self._loop(el)
        if loop is not None:
            if _local(loop) == "standardLoopCharacteristics":
                markers.append("loop")
            elif loop.get("isSequential") == "true":
                markers.append("sequential")
            else:
                markers.append("parallel")
        if el.get("isForCompensation") == "true":
            markers.append("compensation")
        if not markers:
            return
        size, gap = 14.0, 4.0
        total = len(markers) * size + (len(markers) - 1) * gap
        left = b.cx - total / 2
        top = b.bottom - size - 4
        f = _fmt
        for i, kind in enumerate(markers):
            mx = left + i * (size + gap)
            cx, cy = mx + size / 2, top + size / 2
            if kind == "collapsed":
                _el(g, "rect", x=mx, y=top, width=size, height=size, cls="task-marker")
                _el(g, "path", cls="task-marker",
                    d=f"M {f(cx)} {f(top + 3)} V {f(top + size - 3)} "
                      f"M {f(mx + 3)} {f(cy)} H {f(mx + size - 3)}")
            elif kind == "parallel":
                _el(g, "path", cls="task-marker", stroke_width=2,
                    d=" ".join(f"M {f(cx + dx)} {f(top + 1)} V {f(top + size - 1)}"
                               for dx in (-4, 0, 4)))
            elif kind == "sequential":
                _el(g, "path", cls="task-marker", stroke_width=2,
                    d=" ".join(f"M {f(mx + 1)} {f(cy + dy)} H {f(mx + size - 1)}"
                               for dy in (-4, 0, 4)))
            elif kind == "loop":
                r = 5.5
                a1, a2 = math.radians(120), math.radians(60)
                sx, sy = cx + r * math.cos(a1), cy + r * math.sin(a1)
                ex, ey = cx + r * math.cos(a2), cy + r * math.sin(a2)
                # arrowhead at the end, pointing along the tangent
                tx, ty = -math.sin(a2), math.cos(a2)
                nx, ny = -ty, tx
                w1 = (ex - 3.5 * tx + 2.8 * nx, ey - 3.5 * ty + 2.8 * ny)
                w2 = (ex - 3.5 * tx - 2.8 * nx, ey - 3.5 * ty - 2.8 * ny)
                _el(g, "path", cls="task-marker",
                    d=f"M {f(sx)} {f(sy)} A {f(r)} {f(r)} 0 1 1 {f(ex)} {f(ey)} "
                      f"M {f(w1[0])} {f(w1[1])} L {f(ex)} {f(ey)} L {f(w2[0])} {f(w2[1])}")
            elif kind == "compensation":
                _el(g, "path", cls="task-marker",
                    d=f"M {f(mx)} {f(cy)} L {f(cx)} {f(top + 2)} V {f(top + size - 2)} Z "
                      f"M {f(cx)} {f(cy)} L {f(mx + size)} {f(top + 2)} "
                      f"V {f(top + size - 2)} Z")
            elif kind == "adhoc":
                _el(g, "path", cls="task-marker",
                    d=f"M {f(mx + 1)} {f(cy + 1.5)} C {f(mx + 3)} {f(cy - 3)} {f(cx - 1)} "
                      f"{f(cy - 3)} {f(cx)} {f(cy)} S {f(mx + size - 3)} {f(cy + 3)} "
                      f"{f(mx + size - 1)} {f(cy - 1.5)}")

    # events

    def _event_definitions(self, el) -> list[str]:
        kinds = []
        for child in el:
            local = _local(child)
            if local.endswith("EventDefinition"):
                kinds.append(local[: -len("EventDefinition")])
            elif local == "eventDefinitionRef":
                target = self.index.get((child.text or "").strip())
                if target is not None and _local(target).endswith("EventDefinition"):
                    kinds.append(_local(target)[: -len("EventDefinition")])
        return kinds

    def _event(self, di, el, ref: str, typ: str, b: _Box) -> None:
        name = self._name(el)
        definitions = self._event_definitions(el)
        interrupting = not ((typ == "boundaryEvent" and el.get("cancelActivity") == "false")
                            or (typ == "startEvent" and el.get("isInterrupting") == "false"))
        extra = [f"{d}-event" for d in definitions]
        if not interrupting:
            extra.append("non-interrupting")
        g = self._group("boundary" if typ == "boundaryEvent" else "nodes", ref, "event", typ,
                        name, extra)
        cx, cy, r = b.cx, b.cy, min(b.w, b.h) / 2
        ring = {"startEvent": "event-start", "endEvent": "event-end"}.get(typ,
                                                                          "event-intermediate")
        dash = "" if interrupting else " non-interrupting"
        _el(g, "circle", cx=cx, cy=cy, r=r, cls=f"shape {ring}{dash}")
        if ring == "event-intermediate":
            _el(g, "circle", cx=cx, cy=cy, r=max(r - 3, 1), cls=f"shape-inner{dash}")
        self.geometry[ref] = ("circle", b)
        throwing = typ in ("endEvent", "intermediateThrowEvent")
        if len(definitions) > 1:
            kind = "parallelMultiple" if el.get("parallelMultiple") == "true" else "multiple"
        elif definitions:
            kind = definitions[0]
        else:
            kind = ""
        _event_icon(g, kind, cx, cy, r, throwing)
        self._external_label(ref, name, di, b)

    # gateways

    def _gateway(self, di, el, ref: str, typ: str, b: _Box) -> None:
        name = self._name(el)
        g = self._group("nodes", ref, "gateway", typ, name)
        cx, cy = b.cx, b.cy
        f = _fmt
        _el(g, "polygon", cls="shape",
            points=f"{f(cx)},{f(b.y)} {f(b.right)},{f(cy)} {f(cx)},{f(b.bottom)} {f(b.x)},{f(cy)}")
        self.geometry[ref] = ("diamond", b)
        s = min(b.w, b.h) / 50
        if typ == "exclusiveGateway":
            if di.get("isMarkerVisible") == "true":
                d = 7.5 * s
                _el(g, "path", cls="gw-marker",
                    d=f"M {f(cx - d)} {f(cy - d)} L {f(cx + d)} {f(cy + d)} "
                      f"M {f(cx + d)} {f(cy - d)} L {f(cx - d)} {f(cy + d)}")
        elif typ == "parallelGateway":
            d = 11 * s
            _el(g, "path", cls="gw-marker",
                d=f"M {f(cx)} {f(cy - d)} V {f(cy + d)} M {f(cx - d)} {f(cy)} H {f(cx + d)}")
        elif typ == "inclusiveGateway":
            _el(g, "circle", cx=cx, cy=cy, r=10.5 * s, cls="gw-marker ring")
        elif typ == "complexGateway":
            d, e = 11 * s, 7.5 * s
            _el(g, "path", cls="gw-marker", stroke_width=3 * s,
                d=f"M {f(cx)} {f(cy - d)} V {f(cy + d)} M {f(cx - d)} {f(cy)} H {f(cx + d)} "
                  f"M {f(cx - e)} {f(cy - e)} L {f(cx + e)} {f(cy + e)} "
                  f"M {f(cx + e)} {f(cy - e)} L {f(cx - e)} {f(cy + e)}")
        elif typ == "eventBasedGateway":
            _el(g, "circle", cx=cx, cy=cy, r=10.5 * s, cls="gw-marker thin")
            parallel = el.get("eventGatewayType") == "Parallel"
            if el.get("instantiate") != "true":
                _el(g, "circle", cx=cx, cy=cy, r=8 * s, cls="gw-marker thin")
            if parallel:
                d = 6 * s
                _el(g, "path", cls="gw-marker thin",
                    d=f"M {f(cx)} {f(cy - d)} V {f(cy + d)} M {f(cx - d)} {f(cy)} "
                      f"H {f(cx + d)}")
            else:
                _el(g, "polygon", cls="gw-marker thin", points=_polygon(cx, cy, 5.5 * s, 5))
        self._external_label(ref, name, di, b)

    # data

    def _data(self, di, el, ref: str, typ: str, b: _Box) -> None:
        name = self._name(el)
        g = self._group("nodes", ref, "data", typ, name)
        f = _fmt
        self.geometry[ref] = ("rect", b)
        if typ == "dataStoreReference":
            e = min(b.h * 0.12, 8)
            x1, x2, rx = b.x, b.right, b.w / 2
            _el(g, "path", cls="shape",
                d=f"M {f(x1)} {f(b.y + e)} A {f(rx)} {f(e)} 0 0 1 {f(x2)} {f(b.y + e)} "
                  f"V {f(b.bottom - e)} A {f(rx)} {f(e)} 0 0 1 {f(x1)} {f(b.bottom - e)} Z")
            _el(g, "path", cls="icon",
                d=" ".join(f"M {f(x1)} {f(b.y + e + k)} A {f(rx)} {f(e)} 0 0 0 {f(x2)} "
                           f"{f(b.y + e + k)}" for k in (0, 5, 10)))
        else:
            fold = min(10.0, b.w / 3, b.h / 3)
            _el(g, "path", cls="shape",
                d=f"M {f(b.x)} {f(b.y)} H {f(b.right - fold)} L {f(b.right)} {f(b.y + fold)} "
                  f"V {f(b.bottom)} H {f(b.x)} Z")
            _el(g, "path", cls="icon",
                d=f"M {f(b.right - fold)} {f(b.y)} V {f(b.y + fold)} H {f(b.right)}")
            obj = el
            if typ == "dataObjectReference":
                obj = self.index.get(el.get("dataObjectRef") or "")
            if obj is not None and obj.get("isCollection") == "true":
                _el(g, "path", cls="task-marker", stroke_width=2,
                    d=" ".join(f"M {f(b.cx + dx)} {f(b.bottom - 12)} V {f(b.bottom - 3)}"
                               for dx in (-4, 0, 4)))
            if typ in ("dataInput", "dataOutput"):
                ax, ay = b.x + 4, b.y + 5
                _el(g, "path", cls="icon filled" if typ == "dataOutput" else "icon white",
                    d=f"M {f(ax)} {f(ay + 3)} H {f(ax + 7)} V {f(ay)} L {f(ax + 12)} "
                      f"{f(ay + 5)} L {f(ax + 7)} {f(ay + 10)} V {f(ay + 7)} H {f(ax)} Z")
        self._external_label(ref, name, di, b)

    def _annotation(self, el, ref: str, b: _Box) -> None:
        name = self._name(el)
        g = self._group("nodes", ref, "annotation", "textAnnotation", name)
        f = _fmt
        _el(g, "rect", x=b.x, y=b.y, width=b.w, height=b.h, cls="hit")
        _el(g, "path", cls="shape",
            d=f"M {f(b.x + 10)} {f(b.y)} H {f(b.x)} V {f(b.bottom)} H {f(b.x + 10)}")
        self.geometry[ref] = ("rect", b)
        if name:
            lines = _wrap(name, max(b.w - 10, FONT_SIZE), FONT_SIZE)
            self._text(g, lines, b.x + 5, b.y + 5, FONT_SIZE, anchor="start")

    def _group_artifact(self, di, el, ref: str, b: _Box) -> None:
        name = self._name(el)
        g = self._group("groups", ref, "group", "group", name)
        _el(g, "rect", x=b.x, y=b.y, width=b.w, height=b.h, rx=10, ry=10, cls="shape")
        self.geometry[ref] = ("rect", b)
        if name:
            label_bounds = _bounds(di.find(_BPMNDI + "BPMNLabel"))
            if label_bounds is not None:
                lines = _wrap(name, max(label_bounds.w, 40), SMALL_FONT)
                self._text(g, lines, label_bounds.cx, label_bounds.y, SMALL_FONT)
            else:
                lines = _wrap(name, max(b.w - 20, 40), SMALL_FONT)
                self._text(g, lines, b.cx, b.y + 5, SMALL_FONT)

    # -- edges -----------------------------------------------------------------------------

    def _edge(self, di) -> None:
        points = []
        for wp in di.findall(_DI + "waypoint"):
            x, y = _num(wp.get("x")), _num(wp.get("y"))
            if x is not None and y is not None:
                points.append((x, y))
        if len(points) < 2:
            return
        ref = di.get("bpmnElement") or ""
        el = self.index.get(ref)
        typ = _local(el) if el is not None else ""
        name = self._name(el)
        kind = "flow" if typ in _EDGES else "unknown"
        g = self._group("edges", ref, kind, typ, name, edge=True)
        taken = "-taken" if ref in self.hl.taken_flows else ""
        d = "M " + " L ".join(f"{_fmt(x)} {_fmt(y)}" for x, y in points)
        attrs = {}
        if typ == "sequenceFlow":
            attrs["marker_end"] = f"url(#dalad-bpmn-arrow{taken})"
            source = self.index.get(el.get("sourceRef") or "")
            if source is not None and source.get("default") == ref:
                attrs["marker_start"] = f"url(#dalad-bpmn-default{taken})"
            elif (source is not None and _local(source) in _ACTIVITIES
                  and el.find(_BPMN + "conditionExpression") is not None):
                attrs["marker_start"] = f"url(#dalad-bpmn-conditional{taken})"
        elif typ == "messageFlow":
            attrs["marker_start"] = "url(#dalad-bpmn-message-start)"
            attrs["marker_end"] = "url(#dalad-bpmn-message-end)"
        elif typ == "association":
            direction = el.get("associationDirection")
            if direction in ("One", "Both"):
                attrs["marker_end"] = "url(#dalad-bpmn-association-end)"
            if direction == "Both":
                attrs["marker_start"] = "url(#dalad-bpmn-association-start)"
        elif typ in ("dataInputAssociation", "dataOutputAssociation"):
            attrs["marker_end"] = "url(#dalad-bpmn-association-end)"
        _el(g, "path", d=d, cls="line", **attrs)
        for x, y in points:
            self._extend(x, y, x, y)
        if name:
            self._external_label(ref, name, di, None, edge_points=points)
        self.geometry.setdefault(ref, ("edge", _Box(*_midpoint(points), 0, 0)))

    # -- overlays --------------------------------------------------------------------------

    def _overlays(self) -> None:
        layer = self.layers["overlays"]
        for el_id, (shape, b) in self.geometry.items():
            if shape == "edge":
                continue
            if shape == "circle":
                r = min(b.w, b.h) / 2
                corner = (b.cx + r * 0.72, b.cy - r * 0.72)
                left_corner = (b.cx - r * 0.72, b.cy - r * 0.72)
            elif shape == "diamond":
                corner = (b.x + b.w * 0.75, b.y + b.h * 0.25)
                left_corner = (b.x + b.w * 0.25, b.y + b.h * 0.25)
            else:
                corner = (b.right - 2, b.y + 2)
                left_corner = (b.x + 2, b.y + 2)
            if el_id in self.hl.active:
                g = _el(layer, "g", cls="token-badge", data_overlay_for=el_id)
                _el(g, "circle", cx=corner[0], cy=corner[1], r=8, cls="token")
                _el(g, "circle", cx=corner[0], cy=corner[1], r=3, cls="token-dot")
                self._extend(corner[0] - 9, corner[1] - 9, corner[0] + 9, corner[1] + 9)
            if el_id in self.hl.failed:
                g = _el(layer, "g", cls="failed-badge", data_overlay_for=el_id)
                _el(g, "circle", cx=left_corner[0], cy=left_corner[1], r=8)
                _el(g, "text", "!", x=left_corner[0], y=left_corner[1] + 4,
                    text_anchor="middle")
                self._extend(left_corner[0] - 9, left_corner[1] - 9, left_corner[0] + 9,
                             left_corner[1] + 9)
            note = self.hl.waiting.get(el_id)
            if note:
                note = " ".join(str(note).split())
                width = _text_width(note, NOTE_FONT) + 10
                height = NOTE_FONT * LINE_HEIGHT + 5
                if shape == "rect":  # above the task, clear of the badges on its corners
                    nx, ny = b.x, b.y - height - 10
                else:  # events and gateways: up and to the right, clear of the flow line
                    nx, ny = b.right + 5, b.y + 6 - height
                g = _el(layer, "g", cls="waiting-note", data_overlay_for=el_id)
                _el(g, "rect", x=nx, y=ny, width=width, height=height, rx=3, ry=3)
                self._text(g, [note], nx + 5, ny + 2.5, NOTE_FONT, anchor="start")
                self._extend(nx, ny, nx + width, ny + height)


# --------------------------------------------------------------------------------------------
# geometry helpers and icons


def _midpoint(points) -> tuple[float, float]:
    lengths = [math.dist(a, b) for a, b in zip(points, points[1:])]
    half = sum(lengths) / 2
    for (a, b), length in zip(zip(points, points[1:]), lengths):
        if half <= length and length > 0:
            t = half / length
            return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
        half -= length
    return points[len(points) // 2]


def _polygon(cx: float, cy: float, r: float, n: int, rotation: float = -90.0) -> str:
    pts = []
    for i in range(n):
        a = math.radians(rotation + 360.0 * i / n)
        pts.append(f"{_fmt(cx + r * math.cos(a))},{_fmt(cy + r * math.sin(a))}")
    return " ".join(pts)


def _gear(cx: float, cy: float, r_out: float, r_in: float, teeth: int) -> str:
    pts = []
    steps = teeth * 4
    for i in range(steps):
        a = 2 * math.pi * (i + 0.5) / steps
        r = r_out if i % 4 in (1, 2) else r_in
        pts.append(f"{_fmt(cx + r * math.cos(a))} {_fmt(cy + r * math.sin(a))}")
    return "M " + " L ".join(pts) + " Z"


def _envelope(g, cx: float, cy: float, w: float, h: float, filled: bool) -> None:
    f = _fmt
    x, y = cx - w / 2, cy - h / 2
    _el(g, "rect", x=x, y=y, width=w, height=h, cls="icon filled" if filled else "icon white")
    _el(g, "path", cls="icon inverse" if filled else "icon",
        d=f"M {f(x)} {f(y)} L {f(cx)} {f(cy + h * 0.1)} L {f(x + w)} {f(y)}")


def _event_icon(g, kind: str, cx: float, cy: float, r: float, throwing: bool) -> None:
    s = r / 18
    f = _fmt
    fill = "icon filled" if throwing else "icon"
    if kind == "message":
        _envelope(g, cx, cy, 17 * s, 12 * s, throwing)
    elif kind == "timer":
        rc = 11 * s
        _el(g, "circle", cx=cx, cy=cy, r=rc, cls="icon white", stroke_width=1.6)
        ticks = []
        for i in range(12):
            a = 2 * math.pi * i / 12
            r1 = rc - (3 if i % 3 == 0 else 2) * s
            ticks.append(f"M {f(cx + r1 * math.cos(a))} {f(cy + r1 * math.sin(a))} "
                         f"L {f(cx + rc * math.cos(a))} {f(cy + rc * math.sin(a))}")
        _el(g, "path", cls="icon", stroke_width=1, d=" ".join(ticks))
        _el(g, "path", cls="icon", stroke_width=1.5,
            d=f"M {f(cx)} {f(cy)} L {f(cx + 1.5 * s)} {f(cy - 7.5 * s)} "
              f"M {f(cx)} {f(cy)} L {f(cx + 5.5 * s)} {f(cy + 1 * s)}")
    elif kind == "signal":
        _el(g, "polygon", cls=fill,
            points=f"{f(cx)},{f(cy - 9 * s)} {f(cx + 8.5 * s)},{f(cy + 6 * s)} "
                   f"{f(cx - 8.5 * s)},{f(cy + 6 * s)}")
    elif kind == "error":
        pts = [(-8, 8), (-3.5, -7.5), (1.5, 1), (8, -8), (3.5, 7.5), (-1.5, -1)]
        _el(g, "polygon", cls=fill,
            points=" ".join(f"{f(cx + px * s)},{f(cy + py * s)}" for px, py in pts))
    elif kind == "escalation":
        pts = [(0, -9), (7, 8), (0, 1.5), (-7, 8)]
        _el(g, "polygon", cls=fill,
            points=" ".join(f"{f(cx + px * s)},{f(cy + py * s)}" for px, py in pts))
    elif kind == "conditional":
        _el(g, "rect", x=cx - 6.5 * s, y=cy - 8.5 * s, width=13 * s, height=17 * s,
            cls="icon white")
        _el(g, "path", cls="icon", stroke_width=1,
            d=" ".join(f"M {f(cx - 4 * s)} {f(cy + dy * s)} H {f(cx + 4 * s)}"
                       for dy in (-5, -1.7, 1.7, 5)))
    elif kind == "terminate":
        _el(g, "circle", cx=cx, cy=cy, r=r * 0.62, cls="icon filled")
    elif kind == "link":
        pts = [(-8, -3), (1, -3), (1, -7.5), (8.5, 0), (1, 7.5), (1, 3), (-8, 3)]
        _el(g, "polygon", cls=fill,
            points=" ".join(f"{f(cx + px * s)},{f(cy + py * s)}" for px, py in pts))
    elif kind == "compensate":
        pts1 = [(-9, 0), (-1, -6), (-1, 6)]
        pts2 = [(-1, 0), (7, -6), (7, 6)]
        for pts in (pts1, pts2):
            _el(g, "polygon", cls=fill,
                points=" ".join(f"{f(cx + (px + 1) * s)},{f(cy + py * s)}" for px, py in pts))
    elif kind == "cancel":
        d = 6.5 * s
        _el(g, "path", cls="gw-marker", stroke_width=3.5 * s,
            d=f"M {f(cx - d)} {f(cy - d)} L {f(cx + d)} {f(cy + d)} "
              f"M {f(cx + d)} {f(cy - d)} L {f(cx - d)} {f(cy + d)}")
    elif kind == "multiple":
        _el(g, "polygon", cls=fill, points=_polygon(cx, cy + 0.5 * s, 8.5 * s, 5))
    elif kind == "parallelMultiple":
        d, t = 8 * s, 2.5 * s
        pts = [(-t, -d), (t, -d), (t, -t), (d, -t), (d, t), (t, t), (t, d), (-t, d), (-t, t),
               (-d, t), (-d, -t), (-t, -t)]
        _el(g, "polygon", cls="icon",
            points=" ".join(f"{f(cx + px)},{f(cy + py)}" for px, py in pts))


# --------------------------------------------------------------------------------------------
# public API


def _style(svg) -> None:
    # CDATA keeps the child combinators readable and is valid both standalone and inlined in HTML.
    style = _el(svg, "style", type="text/css")
    style.text = etree.CDATA(_CSS)


def _message_svg(message: str, detail: str = "", title: Optional[str] = None) -> str:
    lines = [message] + ([detail] if detail else [])
    width = max(420, int(max(_text_width(line, 14) for line in lines)) + 60)
    height = 110 if title else 80
    svg = etree.Element("{%s}svg" % _SVG_NS, nsmap={None: _SVG_NS})
    svg.set("class", "dalad-bpmn dalad-bpmn-message")
    svg.set("version", "1.1")
    svg.set("viewBox", f"0 0 {width} {height}")
    svg.set("width", str(width))
    svg.set("height", str(height))
    svg.set("role", "img")
    svg.set("aria-label", message)
    if title:
        _el(svg, "title", title)
    _style(svg)
    _el(svg, "rect", x=1, y=1, width=width - 2, height=height - 2, rx=6, ry=6,
        cls="message-box")
    y = 14.0
    if title:
        _el(svg, "text", title, x=width / 2, y=y + 18, text_anchor="middle",
            cls="diagram-title")
        y += 30
    _el(svg, "text", message, x=width / 2, y=y + 22, text_anchor="middle", cls="message-text")
    if detail:
        _el(svg, "text", detail, x=width / 2, y=y + 44, text_anchor="middle",
            cls="message-detail")
    for child in svg:
        child.tail = "\n"
    svg.text = "\n"
    return etree.tostring(svg, encoding="unicode")


def _plane_processes(index: dict, plane) -> set[str]:
    el = index.get(plane.get("bpmnElement") or "")
    if el is None:
        return set()
    typ = _local(el)
    if typ == "process":
        return {el.get("id")}
    if typ == "collaboration":
        return {p.get("processRef") for p in el.findall(_BPMN + "participant")
                if p.get("processRef")}
    node = el.getparent()
    while node is not None:
        if _local(node) == "process":
            return {node.get("id")}
        node = node.getparent()
    return set()


def _has_content(plane) -> bool:
    return any(isinstance(n.tag, str) and n.tag in (_BPMNDI + "BPMNShape", _BPMNDI + "BPMNEdge")
               for n in plane)


def render_svg(xml: bytes, *, filename: str = "diagram.bpmn", process_id: Optional[str] = None,
               highlight: Optional[Highlight] = None, title: Optional[str] = None) -> str:
    """Draw a BPMN file from its BPMNDI as a standalone SVG document (a string).

    `process_id` chooses the plane when the file has several (a plane for that process, or the
    collaboration that holds it; an element id with its own plane, e.g. a collapsed
    sub-process, also works); by default the first plane with something on it. `highlight`
    paints an instance's state; `title` adds a heading. Raises `DefinitionInvalid` for a
    malformed file only; a file without layout gives a message SVG.
    """
    tree = parse_xml(xml, filename)
    root = tree.getroot()
    if root.tag != _BPMN + "definitions":
        return _message_svg("这不是 BPMN 文件 (not a BPMN file)", filename, title)
    renderer = _Renderer(root, highlight or Highlight(), title)
    planes = [p for p in root.iter(_BPMNDI + "BPMNPlane")]
    chosen = None
    if process_id:
        for plane in planes:
            if plane.get("bpmnElement") == process_id and _has_content(plane):
                chosen = plane
                break
        if chosen is None:
            for plane in planes:
                if process_id in _plane_processes(renderer.index, plane) and _has_content(plane):
                    chosen = plane
                    break
        if chosen is None and process_id not in renderer.index:
            return _message_svg(f"找不到流程 {process_id} (no such process)", filename, title)
    else:
        chosen = next((p for p in planes if _has_content(p)), None)
    if chosen is None:
        return _message_svg(NO_DI_MESSAGE, filename, title)
    return renderer.render(chosen)
