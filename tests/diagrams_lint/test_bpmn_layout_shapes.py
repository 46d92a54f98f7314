"""The diagrams in bpmn/ are drawn as a person would: every element has a shape, no two shapes
overlap (a boundary event sits on its own activity only), every flow has waypoints that start
and end on its source and target, and every shape lies inside its lane (an element of an
expanded event subprocess inside the subprocess's box)."""
from pathlib import Path

import pytest
from lxml import etree

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI"}
FILES = sorted(BPMN_DIR.glob("*.bpmn"))
NODES = ("task", "userTask", "serviceTask", "businessRuleTask", "callActivity", "subProcess", "sendTask",
         "receiveTask", "scriptTask", "startEvent", "endEvent", "intermediateCatchEvent",
         "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "parallelGateway",
         "inclusiveGateway", "eventBasedGateway")


def _bounds(shape):
    b = shape.find("dc:Bounds", NS)
    x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _diagram(path):
    root = etree.parse(str(path)).getroot()
    shapes = {s.get("bpmnElement"): s for s in root.iter(f"{{{NS['bpmndi']}}}BPMNShape")}
    edges = {e.get("bpmnElement"): e for e in root.iter(f"{{{NS['bpmndi']}}}BPMNEdge")}
    return root, shapes, edges


def test_there_are_diagrams():
    assert {p.stem for p in FILES} >= {"project", "stage_review"}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_element_and_flow_is_drawn(path):
    root, shapes, edges = _diagram(path)
    elements = [el for name in NODES for el in root.iter(f"{{{NS['bpmn']}}}{name}")]
    assert elements
    assert [el.get("id") for el in elements if el.get("id") not in shapes] == []
    flows = list(root.iter(f"{{{NS['bpmn']}}}sequenceFlow"))
    assert [f.get("id") for f in flows if f.get("id") not in edges] == []
    for lane in root.iter(f"{{{NS['bpmn']}}}lane"):
        assert lane.get("id") in shapes, f"lane {lane.get('id')} has no shape"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_two_shapes_overlap(path):
    root, shapes, _ = _diagram(path)
    hosts = {b.get("id"): b.get("attachedToRef") for b in root.iter(f"{{{NS['bpmn']}}}boundaryEvent")}
    ids = [el.get("id") for name in NODES for el in root.iter(f"{{{NS['bpmn']}}}{name}")]
    boxes = {i: _bounds(shapes[i]) for i in ids}
    inside = _enclosing(root)
    clashes = []
    for n, a in enumerate(ids):
        for b in ids[n + 1:]:
            if hosts.get(a) == b or hosts.get(b) == a or inside.get(a) == b or inside.get(b) == a:
                continue
            if _overlap(boxes[a], boxes[b]):
                clashes.append((a, b))
    assert clashes == []


def _enclosing(root) -> dict:
    """Element id -> the id of the subprocess it is nested in."""
    return {child.get("id"): sub.get("id") for sub in root.iter(f"{{{NS['bpmn']}}}subProcess")
            for child in sub if child.get("id") and etree.QName(child).localname in NODES + ("sequenceFlow",)}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_elements_of_a_subprocess_lie_inside_its_box(path):
    root, shapes, _ = _diagram(path)
    outside = []
    for child, sub in _enclosing(root).items():
        if child not in shapes:
            continue
        x0, y0, x1, y1 = _bounds(shapes[child])
        sx0, sy0, sx1, sy1 = _bounds(shapes[sub])
        if not (sx0 <= x0 and x1 <= sx1 and sy0 <= y0 and y1 <= sy1):
            outside.append((child, sub))
    assert outside == []


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_flow_has_waypoints_from_its_source_to_its_target(path):
    root, shapes, edges = _diagram(path)
    problems = []
    for flow in root.iter(f"{{{NS['bpmn']}}}sequenceFlow"):
        points = [(float(p.get("x")), float(p.get("y"))) for p in edges[flow.get("id")].findall("di:waypoint", NS)]
        if len(points) < 2:
            problems.append((flow.get("id"), "fewer than two waypoints"))
            continue
        for end, point in (("sourceRef", points[0]), ("targetRef", points[-1])):
            x0, y0, x1, y1 = _bounds(shapes[flow.get(end)])
            if not (x0 - 1 <= point[0] <= x1 + 1 and y0 - 1 <= point[1] <= y1 + 1):
                problems.append((flow.get("id"), f"does not touch its {end} {flow.get(end)}"))
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            if abs(xa - xb) > 0.5 and abs(ya - yb) > 0.5:
                problems.append((flow.get("id"), "a diagonal segment"))
    assert problems == []


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_flow_node_lies_inside_its_lane(path):
    root, shapes, _ = _diagram(path)
    outside = []
    for lane in root.iter(f"{{{NS['bpmn']}}}lane"):
        lx0, ly0, lx1, ly1 = _bounds(shapes[lane.get("id")])
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            x0, y0, x1, y1 = _bounds(shapes[ref.text])
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            if not (lx0 <= cx <= lx1 and ly0 <= cy <= ly1):
                outside.append((ref.text, lane.get("id")))
    assert outside == []
