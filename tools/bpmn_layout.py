"""Build Camunda Modeler (Camunda 7) BPMN files with full BPMNDI from a compact description.

A `Diagram` is one pool with lanes stacked top to bottom; each lane has rows, and every element
sits in a (lane, row, column) cell. Sequence flows are routed orthogonally between the cells;
external labels (events, gateways, conditional flows) are placed where bpmn-js puts them.
`Diagram.xml()` gives the file as the Modeler writes it: a collaboration with one participant,
the process with its lane set, flow elements with their documentation and camunda: extensions,
then the diagram interchange.

    d = Diagram("project", "项目全生命周期", lanes=[Lane("unit", "项目建设单位")])
    d.start("start", "项目申报", "unit", col=0, doc="第五条")
    d.user_task("submit", "提交可行性研究报告", "unit", col=1, groups="unit:${unit}", doc="第八条")
    d.flow("start", "submit")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence
from xml.sax.saxutils import escape, quoteattr

TASK_W, TASK_H = 100, 80
EVENT = 36
GATEWAY = 50
COL_W = 170  # one column: a task and the gap before the next
ROW_H = 140  # one row of a lane
POOL_X, POOL_Y = 160, 80
POOL_HEAD = 30  # the pool's name strip
LANE_HEAD = 30  # the lane's name strip
FIRST_COL_X = POOL_X + POOL_HEAD + LANE_HEAD + 70  # centre of column 0
LABEL_W = 90
CHAR_W = 12  # a CJK character at the Modeler's 12px label font
LINE_H = 14

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass
class Lane:
    id: str
    name: str
    rows: int = 1


@dataclass
class Field:
    """A camunda:formField."""

    id: str
    label: str
    type: str = "string"
    required: bool = False
    readonly: bool = False
    min: Optional[str] = None
    max: Optional[str] = None
    minlength: Optional[int] = None
    maxlength: Optional[int] = None
    default: Optional[str] = None
    values: Sequence[tuple[str, str]] = ()
    help: Optional[str] = None
    materials: Optional[str] = None
    properties: dict = field(default_factory=dict)

    def xml(self, indent: str) -> str:
        attrs = f'id="{self.id}" label={quoteattr(self.label)} type="{self.type}"'
        if self.default is not None:
            attrs += f" defaultValue={quoteattr(str(self.default))}"
        inner = []
        props = dict(self.properties)
        if self.help:
            props["help"] = self.help
        if self.materials:
            props["materials"] = self.materials
        if props:
            inner.append(f"{indent}  <camunda:properties>")
            for key, value in props.items():
                inner.append(f"{indent}    <camunda:property id=\"{key}\" value={quoteattr(value)} />")
            inner.append(f"{indent}  </camunda:properties>")
        constraints = []
        if self.required:
            constraints.append('<camunda:constraint name="required" />')
        if self.readonly:
            constraints.append('<camunda:constraint name="readonly" />')
        for name in ("min", "max", "minlength", "maxlength"):
            value = getattr(self, name)
            if value is not None:
                constraints.append(f'<camunda:constraint name="{name}" config="{value}" />')
        if constraints:
            inner.append(f"{indent}  <camunda:validation>")
            inner.extend(f"{indent}    {c}" for c in constraints)
            inner.append(f"{indent}  </camunda:validation>")
        for value_id, name in self.values:
            inner.append(f"{indent}  <camunda:value id=\"{value_id}\" name={quoteattr(name)} />")
        if not inner:
            return f"{indent}<camunda:formField {attrs} />"
        return "\n".join([f"{indent}<camunda:formField {attrs}>", *inner, f"{indent}</camunda:formField>"])


@dataclass
class Node:
    id: str
    kind: str  # BPMN local name
    name: Optional[str]
    lane: str
    col: float
    row: int = 0
    dy: float = 0  # shift inside the row
    doc: Optional[str] = None
    attrs: dict = field(default_factory=dict)  # extra XML attributes, already camunda:-prefixed
    body: list = field(default_factory=list)  # inner XML lines after incoming/outgoing
    extensions: list = field(default_factory=list)  # XML lines inside bpmn:extensionElements
    host: Optional[str] = None  # boundary events: the activity
    side: str = "bottom"
    offset: float = 0.7  # where on the host's side, 0..1
    label_at: Optional[str] = None  # below | above | left | right (external labels)
    parent: Optional[str] = None  # the event subprocess it is drawn and nested in
    span: tuple = (1, 1)  # an expanded subprocess: columns and rows it covers from its cell
    incoming: list = field(default_factory=list)
    outgoing: list = field(default_factory=list)
    # filled by layout
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: Optional[str] = None
    condition: Optional[str] = None
    route: Optional[str] = None
    channel: Optional[float] = None  # absolute y (or x for vertical channels) of a detour
    waypoints: list = field(default_factory=list)
    label_pos: Optional[tuple] = None


def _text_lines(text: str, width: float = LABEL_W) -> int:
    per_line = max(1, int(width // CHAR_W))
    units = sum(1 if ord(ch) > 0x2E80 else 0.55 for ch in text)
    return max(1, -(-int(units + 0.99) // per_line))


class Diagram:
    """One executable process drawn as a pool with lanes."""

    def __init__(self, process_id: str, name: str, lanes: Sequence[Lane], *, doc: Optional[str] = None,
                 version_tag: Optional[str] = None, history_ttl: int = 3650,
                 starter_groups: Optional[str] = None):
        self.process_id, self.name, self.doc = process_id, name, doc
        self.lanes = list(lanes)
        self.version_tag, self.history_ttl, self.starter_groups = version_tag, history_ttl, starter_groups
        self.nodes: dict[str, Node] = {}
        self.flows: list[Flow] = []
        self.messages: dict[str, str] = {}  # message name -> id
        self.signals: dict[str, str] = {}  # signal name -> id
        self.errors: dict[str, str] = {}

    # --- elements ------------------------------------------------------------------------------

    def _add(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise ValueError(f"duplicate id {node.id}")
        if node.lane not in {lane.id for lane in self.lanes}:
            raise ValueError(f"{node.id}: unknown lane {node.lane}")
        self.nodes[node.id] = node
        return node

    def message(self, name: str) -> str:
        return self.messages.setdefault(name, f"Message_{name}")

    def signal(self, name: str) -> str:
        return self.signals.setdefault(name, f"Signal_{name}")

    def start(self, id, name, lane, col, row=0, *, doc=None, message=None, timer=None, form=(),
              initiator=None, signal=None, interrupting=True, **kw):
        node = Node(id, "startEvent", name, lane, col, row, doc=doc, **kw)
        if not interrupting:
            node.attrs["isInterrupting"] = "false"
        if signal:
            node.body.append(f'<bpmn:signalEventDefinition id="{id}_def" signalRef="{self.signal(signal)}" />')
        if initiator:
            node.attrs["camunda:initiator"] = initiator
        if form:
            node.extensions += self._form_data(form)
        if message:
            node.body.append(f'<bpmn:messageEventDefinition id="{id}_def" messageRef="{self.message(message)}" />')
        if timer:
            node.body += self._timer(id, timer)
        return self._add(node)

    def end(self, id, name, lane, col, row=0, *, doc=None, message=None, inputs=None, terminate=False, **kw):
        node = Node(id, "endEvent", name, lane, col, row, doc=doc, **kw)
        if inputs:
            node.extensions += self._inputs(inputs)
        if message:
            node.body.append(f'<bpmn:messageEventDefinition id="{id}_def" messageRef="{self.message(message)}" />')
        if terminate:
            node.body.append(f'<bpmn:terminateEventDefinition id="{id}_def" />')
        return self._add(node)

    def throw(self, id, name, lane, col, row=0, *, message=None, signal=None, inputs=None, doc=None, **kw):
        node = Node(id, "intermediateThrowEvent", name, lane, col, row, doc=doc, **kw)
        if inputs:
            node.extensions += self._inputs(inputs)
        if signal:
            node.body.append(f'<bpmn:signalEventDefinition id="{id}_def" signalRef="{self.signal(signal)}" />')
        else:
            node.body.append(f'<bpmn:messageEventDefinition id="{id}_def" messageRef="{self.message(message)}" />')
        return self._add(node)

    def catch(self, id, name, lane, col, row=0, *, message=None, timer=None, doc=None, **kw):
        node = Node(id, "intermediateCatchEvent", name, lane, col, row, doc=doc, **kw)
        if message:
            node.body.append(f'<bpmn:messageEventDefinition id="{id}_def" messageRef="{self.message(message)}" />')
        if timer:
            node.body += self._timer(id, timer)
        return self._add(node)

    def boundary(self, id, name, host, *, timer=None, message=None, interrupting=True, doc=None,
                 side="bottom", offset=0.7, label_at=None):
        host_node = self.nodes[host]
        node = Node(id, "boundaryEvent", name, host_node.lane, host_node.col, host_node.row, doc=doc,
                    host=host, side=side, offset=offset, label_at=label_at)
        node.attrs["attachedToRef"] = host
        if not interrupting:
            node.attrs["cancelActivity"] = "false"
        if message:
            node.body.append(f'<bpmn:messageEventDefinition id="{id}_def" messageRef="{self.message(message)}" />')
        if timer:
            node.body += self._timer(id, timer)
        return self._add(node)

    def user_task(self, id, name, lane, col, row=0, *, groups, doc=None, form=(), form_ref=None, due=None,
                  priority=None, collection=None, element=None, sequential=False, output_collection=None,
                  completion=None, outputs=None, **kw):
        node = Node(id, "userTask", name, lane, col, row, doc=doc, **kw)
        node.attrs["camunda:candidateGroups"] = groups
        if form_ref:
            node.attrs["camunda:formRef"] = form_ref
            node.attrs["camunda:formRefBinding"] = "latest"
        if due:
            node.attrs["camunda:dueDate"] = due
        if priority is not None:
            node.attrs["camunda:priority"] = str(priority)
        if output_collection:
            node.extensions += ["<camunda:properties>",
                                f'  <camunda:property name="outputCollection" value="{output_collection}" />',
                                "</camunda:properties>"]
        if form:
            node.extensions += self._form_data(form)
        if outputs:
            node.extensions += self._inputs({}, outputs)
        if collection:
            self._multi(node, collection, element, sequential, completion)
        return self._add(node)

    def rule_task(self, id, name, lane, col, row=0, *, decision, result, mapping="singleResult", doc=None,
                  inputs=None, outputs=None, **kw):
        node = Node(id, "businessRuleTask", name, lane, col, row, doc=doc, **kw)
        if inputs or outputs:
            node.extensions += self._inputs(inputs, outputs)
        node.attrs.update({"camunda:resultVariable": result, "camunda:decisionRef": decision,
                           "camunda:mapDecisionResult": mapping})
        return self._add(node)

    def call(self, id, name, lane, col, row=0, *, called, ins=(), outs=(), doc=None, collection=None,
             element=None, sequential=False, output_collection=None, **kw):
        node = Node(id, "callActivity", name, lane, col, row, doc=doc, **kw)
        node.attrs["calledElement"] = called
        if output_collection:
            node.extensions += ["<camunda:properties>",
                                f'  <camunda:property name="outputCollection" value="{output_collection}" />',
                                "</camunda:properties>"]
        for mapping in ins:
            node.extensions.append(self._mapping("in", mapping))
        for mapping in outs:
            node.extensions.append(self._mapping("out", mapping))
        if collection:
            self._multi(node, collection, element, sequential, None)
        return self._add(node)

    def event_subprocess(self, id, name, lane, col, row=0, *, cols, rows=1, doc=None):
        """An event subprocess drawn expanded over `cols` columns and `rows` rows from its cell;
        its elements are added with `parent=id` in cells inside that box."""
        node = Node(id, "subProcess", name, lane, col, row, doc=doc, span=(cols, rows))
        node.attrs["triggeredByEvent"] = "true"
        return self._add(node)

    def script_task(self, id, name, lane, col, row=0, *, script, doc=None, **kw):
        """A Python script task (the subset the engine interprets)."""
        node = Node(id, "scriptTask", name, lane, col, row, doc=doc, **kw)
        node.attrs["scriptFormat"] = "python"
        node.body.append("<bpmn:script>" + escape(script).replace("\n", "&#10;") + "</bpmn:script>")
        return self._add(node)

    def gateway(self, id, name, lane, col, row=0, *, kind="exclusive", doc=None, default=None, **kw):
        node = Node(id, f"{kind}Gateway", name, lane, col, row, doc=doc, **kw)
        if default:
            node.attrs["default"] = default
        return self._add(node)

    def flow(self, source, target, name=None, *, cond=None, id=None, route=None, channel=None,
             waypoints=None, label_pos=None, default=False):
        flow_id = id or f"Flow_{source}_to_{target}"
        if any(f.id == flow_id for f in self.flows):
            raise ValueError(f"duplicate flow {flow_id}")
        flow = Flow(flow_id, source, target, name, cond, route, channel, list(waypoints or []), label_pos)
        self.flows.append(flow)
        self.nodes[source].outgoing.append(flow_id)
        self.nodes[target].incoming.append(flow_id)
        if default:
            self.nodes[source].attrs["default"] = flow_id
        return flow

    def chain(self, *ids):
        for a, b in zip(ids, ids[1:]):
            self.flow(a, b)

    # --- extension helpers ---------------------------------------------------------------------

    @staticmethod
    def _form_data(form) -> list[str]:
        return ["<camunda:formData>", *(f.xml("  ") for f in form), "</camunda:formData>"]

    @staticmethod
    def _inputs(inputs: dict, outputs: Optional[dict] = None) -> list[str]:
        lines = ["<camunda:inputOutput>"]
        for name, value in (inputs or {}).items():
            lines.append(f'  <camunda:inputParameter name="{name}">{escape(str(value))}</camunda:inputParameter>')
        for name, value in (outputs or {}).items():
            lines.append(f'  <camunda:outputParameter name="{name}">{escape(str(value))}</camunda:outputParameter>')
        lines.append("</camunda:inputOutput>")
        return lines

    @staticmethod
    def _mapping(direction: str, mapping) -> str:
        if mapping == "all":
            return f'<camunda:{direction} variables="all" />'
        if isinstance(mapping, str):
            return f'<camunda:{direction} source="{mapping}" target="{mapping}" />'
        source, target = mapping
        if "${" in source:
            return f"<camunda:{direction} sourceExpression={quoteattr(source)} target=\"{target}\" />"
        return f'<camunda:{direction} source="{source}" target="{target}" />'

    @staticmethod
    def _timer(id: str, timer: tuple) -> list[str]:
        kind, text = timer  # ("timeDuration" | "timeDate" | "timeCycle", value)
        return [f'<bpmn:timerEventDefinition id="{id}_def">',
                f'  <bpmn:{kind} xsi:type="bpmn:tFormalExpression">{escape(text)}</bpmn:{kind}>',
                "</bpmn:timerEventDefinition>"]

    @staticmethod
    def _multi(node, collection, element, sequential, completion):
        seq = ' isSequential="true"' if sequential else ""
        inner = ""
        if completion:
            inner = (f'\n  <bpmn:completionCondition xsi:type="bpmn:tFormalExpression">{escape(completion)}'
                     "</bpmn:completionCondition>\n")
        node.body.append(f'<bpmn:multiInstanceLoopCharacteristics{seq} camunda:collection={quoteattr(collection)} '
                         f'camunda:elementVariable="{element}"' + (f">{inner}</bpmn:multiInstanceLoopCharacteristics>"
                                                                   if inner else " />"))

    # --- layout --------------------------------------------------------------------------------

    def _lane_rows(self) -> dict[str, int]:
        rows = {lane.id: lane.rows for lane in self.lanes}
        for node in self.nodes.values():
            rows[node.lane] = max(rows[node.lane], node.row + (node.span[1] if node.kind == "subProcess" else 1))
        return rows

    def layout(self) -> None:
        rows = self._lane_rows()
        self.lane_box = {}
        y = POOL_Y
        for lane in self.lanes:
            height = rows[lane.id] * ROW_H
            self.lane_box[lane.id] = (y, height)
            y += height
        self.pool_h = y - POOL_Y
        max_col = max(n.col + (n.span[0] - 1 if n.kind == "subProcess" else 0) for n in self.nodes.values())
        self.pool_w = (FIRST_COL_X - POOL_X) + max_col * COL_W + 110
        for node in self.nodes.values():
            if node.kind == "boundaryEvent":
                continue
            if node.kind == "subProcess":
                cols, rows_spanned = node.span
                lane_top, _ = self.lane_box[node.lane]
                node.x = FIRST_COL_X + (node.col - 0.5) * COL_W + 10
                node.y = lane_top + node.row * ROW_H + 10
                node.w, node.h = cols * COL_W - 20, rows_spanned * ROW_H - 20
                continue
            w, h = self._size(node)
            lane_top, _ = self.lane_box[node.lane]
            cx = FIRST_COL_X + node.col * COL_W
            cy = lane_top + node.row * ROW_H + ROW_H / 2 - 5 + node.dy
            node.w, node.h, node.x, node.y = w, h, cx - w / 2, cy - h / 2
        for node in self.nodes.values():
            if node.kind != "boundaryEvent":
                continue
            host = self.nodes[node.host]
            node.w = node.h = EVENT
            if node.side == "bottom":
                node.x, node.y = host.x + host.w * node.offset - EVENT / 2, host.y + host.h - EVENT / 2
            elif node.side == "top":
                node.x, node.y = host.x + host.w * node.offset - EVENT / 2, host.y - EVENT / 2
            elif node.side == "right":
                node.x, node.y = host.x + host.w - EVENT / 2, host.y + host.h * node.offset - EVENT / 2
        for flow in self.flows:
            if not flow.waypoints:
                flow.waypoints = self._route(flow)

    @staticmethod
    def _size(node: Node) -> tuple[float, float]:
        if node.kind.endswith("Event"):
            return EVENT, EVENT
        if node.kind.endswith("Gateway"):
            return GATEWAY, GATEWAY
        return TASK_W, TASK_H

    def row_y(self, lane: str, row: float, dy: float = 0) -> float:
        top, _ = self.lane_box[lane]
        return top + row * ROW_H + ROW_H / 2 - 5 + dy

    def _route(self, flow: Flow) -> list[tuple[float, float]]:
        s, t = self.nodes[flow.source], self.nodes[flow.target]
        if isinstance(flow.channel, tuple):
            flow.channel = self.row_y(*flow.channel)
        route = flow.route
        s_gw, t_gw = s.kind.endswith("Gateway"), t.kind.endswith("Gateway")
        if s.kind == "boundaryEvent":
            if s.side == "bottom":
                sx, sy = s.cx, s.y + s.h
                if t.x + 2 <= sx <= t.x + t.w - 2:
                    return [(sx, sy), (sx, t.y)]
                if t.cx > sx:
                    return [(sx, sy), (sx, t.cy), (t.x, t.cy)]
                return [(sx, sy), (sx, t.cy), (t.x + t.w, t.cy)]
            if s.side == "top":
                sx, sy = s.cx, s.y
                if t.cx > sx + 1:
                    return [(sx, sy), (sx, t.cy), (t.x, t.cy)]
                if t.cx < sx - 1:
                    return [(sx, sy), (sx, t.cy), (t.x + t.w, t.cy)]
                return [(sx, sy), (sx, t.y + t.h)]
            sx, sy = s.x + s.w, s.cy
            return [(sx, sy), (t.x, sy)] if abs(t.cy - sy) < 1 else [(sx, sy), (t.cx, sy), (t.cx, t.y)]
        forward = t.cx > s.cx + 1
        same_row = abs(t.cy - s.cy) < 1
        if route in ("below", "above"):
            channel = flow.channel if flow.channel is not None else (
                max(s.cy, t.cy) + 68 if route == "below" else min(s.y, t.y) - 25)
            exit_y = s.y + s.h if channel > s.cy else s.y
            if abs(channel - t.cy) < 1:  # along the target's own row, into its near side
                side_x = t.x + t.w if t.cx < s.cx else t.x
                return [(s.cx, exit_y), (s.cx, channel), (side_x, channel)]
            entry_y = t.y + t.h if channel > t.cy else t.y
            return [(s.cx, exit_y), (s.cx, channel), (t.cx, channel), (t.cx, entry_y)]
        if same_row and forward:
            return [(s.x + s.w, s.cy), (t.x, t.cy)]
        if not forward and not same_row and abs(t.cx - s.cx) < 1:
            # straight up or down
            if t.cy > s.cy:
                return [(s.cx, s.y + s.h), (t.cx, t.y)]
            return [(s.cx, s.y), (t.cx, t.y + t.h)]
        if forward:
            if route == "hv" or (t_gw and route != "vh" and route != "z"):
                # along the source's row, then into the target from above or below
                entry = t.y if t.cy > s.cy else t.y + t.h
                return [(s.x + s.w, s.cy), (t.cx, s.cy), (t.cx, entry)]
            if route == "vh" or (s_gw and route != "z"):
                exit_y = s.y + s.h if t.cy > s.cy else s.y
                return [(s.cx, exit_y), (s.cx, t.cy), (t.x, t.cy)]
            mid = flow.channel if flow.channel is not None else t.x - (COL_W - TASK_W) / 2
            return [(s.x + s.w, s.cy), (mid, s.cy), (mid, t.cy), (t.x, t.cy)]
        # backwards: a loop below (default) or above the row
        below = route != "above"
        exit_y = s.y + s.h if below else s.y
        entry_y = t.y + t.h if below else t.y
        if flow.channel is not None:
            channel = flow.channel
        else:
            channel = (max(s.cy, t.cy) + 68) if below else (min(s.y, t.y) - 25)
        return [(s.cx, exit_y), (s.cx, channel), (t.cx, channel), (t.cx, entry_y)]

    # --- labels --------------------------------------------------------------------------------

    def _node_label(self, node: Node) -> Optional[tuple[float, float, float, float]]:
        if not node.name or not (node.kind.endswith("Event") or node.kind.endswith("Gateway")):
            return None
        lines = _text_lines(node.name)
        width = min(LABEL_W, max(CHAR_W * 2, sum(CHAR_W if ord(c) > 0x2E80 else 7 for c in node.name)))
        height = lines * LINE_H
        where = node.label_at or ("above" if node.kind.endswith("Gateway") else "below")
        if node.kind.endswith("Gateway") and node.label_at is None:
            used = self._used_sides(node)
            where = next((side for side in ("above", "below") if side not in used), "above-left")
        if node.kind == "boundaryEvent" and node.label_at is None:
            where = "right-below"
        if where == "below":
            return node.cx - width / 2, node.y + node.h + 5, width, height
        if where == "above":
            return node.cx - width / 2, node.y - 5 - height, width, height
        if where == "above-left":
            return node.x - width + 10, node.y - 3 - height, width, height
        if where == "below-left":
            return node.x - width + 10, node.y + node.h + 3, width, height
        if where == "right-below":
            return node.x + node.w + 2, node.y + node.h - 4, width, height
        if where == "left":
            return node.x - width - 4, node.cy - height / 2, width, height
        return node.x + node.w + 4, node.cy - height / 2, width, height  # right

    def _used_sides(self, node: Node) -> set:
        used = set()
        for flow in self.flows:
            for point in ([flow.waypoints[0]] if flow.source == node.id else []) + \
                         ([flow.waypoints[-1]] if flow.target == node.id else []):
                if abs(point[1] - node.y) < 1:
                    used.add("above")
                if abs(point[1] - (node.y + node.h)) < 1:
                    used.add("below")
        return used

    @staticmethod
    def _flow_label(flow: Flow) -> Optional[tuple[float, float, float, float]]:
        if not flow.name:
            return None
        width = min(LABEL_W, max(CHAR_W * 2, sum(CHAR_W if ord(c) > 0x2E80 else 7 for c in flow.name)))
        height = _text_lines(flow.name) * LINE_H
        if flow.label_pos:
            return flow.label_pos[0], flow.label_pos[1], width, height
        (x1, y1), (x2, y2) = flow.waypoints[0], flow.waypoints[1]
        if abs(y1 - y2) < 1:  # first leg horizontal: above it
            return min(x1, x2) + 6, y1 - height - 3, width, height
        if len(flow.waypoints) == 3 and abs(flow.waypoints[1][1] - flow.waypoints[2][1]) < 1:
            # down (or up) and then along: above the second leg, just past the corner
            return x2 + 6, y2 - height - 3, width, height
        return x1 + 5, (y1 + 4 if y2 > y1 else y1 - height - 4), width, height  # vertical: beside it

    # --- XML -----------------------------------------------------------------------------------

    def xml(self) -> str:
        self.layout()
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
               'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
               'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
               'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
               'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
               'xmlns:modeler="http://camunda.org/schema/modeler/1.0" '
               f'id="Definitions_{self.process_id}" targetNamespace="http://bpmn.io/schema/bpmn" '
               'exporter="Camunda Modeler" exporterVersion="5.20.0" '
               'modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0">']
        pid = self.process_id
        out.append(f'  <bpmn:collaboration id="Collaboration_{pid}">')
        out.append(f'    <bpmn:participant id="Participant_{pid}" name={quoteattr(self.name)} processRef="{pid}" />')
        out.append("  </bpmn:collaboration>")
        attrs = f'id="{pid}" name={quoteattr(self.name)} isExecutable="true"'
        if self.version_tag:
            attrs += f' camunda:versionTag="{self.version_tag}"'
        if self.starter_groups:
            attrs += f' camunda:candidateStarterGroups="{self.starter_groups}"'
        attrs += f' camunda:historyTimeToLive="{self.history_ttl}"'
        out.append(f"  <bpmn:process {attrs}>")
        if self.doc:
            out.append(f"    <bpmn:documentation>{escape(self.doc)}</bpmn:documentation>")
        out.append(f'    <bpmn:laneSet id="LaneSet_{pid}">')
        for lane in self.lanes:
            out.append(f'      <bpmn:lane id="Lane_{lane.id}" name={quoteattr(lane.name)}>')
            for node in self.nodes.values():
                if node.lane == lane.id and node.parent is None:
                    out.append(f"        <bpmn:flowNodeRef>{node.id}</bpmn:flowNodeRef>")
            out.append("      </bpmn:lane>")
        out.append("    </bpmn:laneSet>")
        out.extend(self._children_xml(None))
        out.append("  </bpmn:process>")
        for name, mid in self.messages.items():
            out.append(f'  <bpmn:message id="{mid}" name="{name}" />')
        for name, sid in self.signals.items():
            out.append(f'  <bpmn:signal id="{sid}" name="{name}" />')
        out.extend(self._di_xml())
        out.append("</bpmn:definitions>")
        return "\n".join(out) + "\n"

    def _children_xml(self, parent: Optional[str]) -> list[str]:
        """The elements and flows directly inside the process (parent None) or an event subprocess."""
        out = []
        for node in self.nodes.values():
            if node.parent == parent:
                out.extend(self._node_xml(node))
        for flow in self.flows:
            if self.nodes[flow.source].parent != parent:
                continue
            name = f" name={quoteattr(flow.name)}" if flow.name else ""
            head = f'    <bpmn:sequenceFlow id="{flow.id}"{name} sourceRef="{flow.source}" targetRef="{flow.target}"'
            if flow.condition:
                out.append(head + ">")
                language = "" if "${" in flow.condition else ' language="python"'
                out.append(f'      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"{language}>'
                           f"{escape(flow.condition)}</bpmn:conditionExpression>")
                out.append("    </bpmn:sequenceFlow>")
            else:
                out.append(head + " />")
        if parent is None:
            return out
        return ["  " + line for line in out]

    def _node_xml(self, node: Node) -> list[str]:
        attrs = f'id="{node.id}"'
        if node.name:
            attrs += f" name={quoteattr(node.name)}"
        for key, value in node.attrs.items():
            attrs += f" {key}={quoteattr(value)}"
        lines = [f"    <bpmn:{node.kind} {attrs}>"]
        if node.doc:
            lines.append(f"      <bpmn:documentation>{escape(node.doc)}</bpmn:documentation>")
        if node.extensions:
            lines.append("      <bpmn:extensionElements>")
            lines.extend(f"        {line}" for line in node.extensions)
            lines.append("      </bpmn:extensionElements>")
        lines.extend(f"      <bpmn:incoming>{f}</bpmn:incoming>" for f in node.incoming)
        lines.extend(f"      <bpmn:outgoing>{f}</bpmn:outgoing>" for f in node.outgoing)
        for chunk in node.body:
            lines.extend(f"      {line}" for line in chunk.split("\n"))
        if node.kind == "subProcess":
            lines.extend(self._children_xml(node.id))
        lines.append(f"    </bpmn:{node.kind}>")
        return lines

    def _di_xml(self) -> list[str]:
        pid = self.process_id
        f = _fmt
        out = ['  <bpmndi:BPMNDiagram id="BPMNDiagram_1">',
               f'    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="Collaboration_{pid}">',
               f'      <bpmndi:BPMNShape id="Participant_{pid}_di" bpmnElement="Participant_{pid}" isHorizontal="true">',
               f'        <dc:Bounds x="{POOL_X}" y="{POOL_Y}" width="{f(self.pool_w)}" height="{f(self.pool_h)}" />',
               "      </bpmndi:BPMNShape>"]
        for lane in self.lanes:
            top, height = self.lane_box[lane.id]
            out += [f'      <bpmndi:BPMNShape id="Lane_{lane.id}_di" bpmnElement="Lane_{lane.id}" isHorizontal="true">',
                    f'        <dc:Bounds x="{POOL_X + POOL_HEAD}" y="{f(top)}" width="{f(self.pool_w - POOL_HEAD)}" '
                    f'height="{f(height)}" />',
                    "      </bpmndi:BPMNShape>"]
        ordered = [n for n in self.nodes.values() if n.kind != "boundaryEvent"] + \
                  [n for n in self.nodes.values() if n.kind == "boundaryEvent"]
        for node in ordered:
            extra = ' isMarkerVisible="true"' if node.kind == "exclusiveGateway" else ""
            extra += ' isExpanded="true"' if node.kind == "subProcess" else ""
            out.append(f'      <bpmndi:BPMNShape id="{node.id}_di" bpmnElement="{node.id}"{extra}>')
            out.append(f'        <dc:Bounds x="{f(node.x)}" y="{f(node.y)}" width="{f(node.w)}" height="{f(node.h)}" />')
            label = self._node_label(node)
            if label:
                out.append("        <bpmndi:BPMNLabel>")
                out.append(f'          <dc:Bounds x="{f(label[0])}" y="{f(label[1])}" width="{f(label[2])}" '
                           f'height="{f(label[3])}" />')
                out.append("        </bpmndi:BPMNLabel>")
            out.append("      </bpmndi:BPMNShape>")
        for flow in self.flows:
            out.append(f'      <bpmndi:BPMNEdge id="{flow.id}_di" bpmnElement="{flow.id}">')
            for x, y in flow.waypoints:
                out.append(f'        <di:waypoint x="{f(x)}" y="{f(y)}" />')
            label = self._flow_label(flow)
            if label:
                out.append("        <bpmndi:BPMNLabel>")
                out.append(f'          <dc:Bounds x="{f(label[0])}" y="{f(label[1])}" width="{f(label[2])}" '
                           f'height="{f(label[3])}" />')
                out.append("        </bpmndi:BPMNLabel>")
            out.append("      </bpmndi:BPMNEdge>")
        out += ["    </bpmndi:BPMNPlane>", "  </bpmndi:BPMNDiagram>"]
        return out


def _fmt(value: float) -> str:
    value = round(value)
    return str(int(value))
