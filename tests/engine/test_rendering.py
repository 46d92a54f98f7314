"""The server-side BPMN to SVG renderer: everything in the BPMNDI is drawn where the Modeler put
it, with the bpmn-js markers, labels, highlights, and a message SVG for files without layout."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from engine.errors import DefinitionInvalid
from engine.rendering import NO_DI_MESSAGE, Highlight, render_svg

DIAGRAMS = Path(__file__).resolve().parent.parent / "diagrams"
PERMIT40 = Path(__file__).resolve().parents[3] / "shared" / "bench" / "permit40.bpmn"

SVG = "{http://www.w3.org/2000/svg}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
NS = {"s": "http://www.w3.org/2000/svg"}

# Two pools (applicant and authority, the authority with two lanes), a message flow between them,
# a parallel split/join, a timer boundary event, an exclusive gateway with a default flow.
SMALL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.20.0">
  <bpmn:collaboration id="Collaboration_1">
    <bpmn:participant id="Pool_applicant" name="申请人" processRef="applicant" />
    <bpmn:participant id="Pool_authority" name="审批机关" processRef="permit" />
    <bpmn:messageFlow id="mf1" name="申请材料" sourceRef="task_send" targetRef="start_1" />
  </bpmn:collaboration>
  <bpmn:process id="applicant" isExecutable="false">
    <bpmn:startEvent id="start_app" name="准备"><bpmn:outgoing>fa1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sendTask id="task_send" name="提交材料"><bpmn:incoming>fa1</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing></bpmn:sendTask>
    <bpmn:endEvent id="end_app"><bpmn:incoming>fa2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="fa1" sourceRef="start_app" targetRef="task_send" />
    <bpmn:sequenceFlow id="fa2" sourceRef="task_send" targetRef="end_app" />
  </bpmn:process>
  <bpmn:process id="permit" name="行政许可" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_window" name="窗口"><bpmn:flowNodeRef>start_1</bpmn:flowNodeRef><bpmn:flowNodeRef>task_receive</bpmn:flowNodeRef><bpmn:flowNodeRef>gw_split</bpmn:flowNodeRef><bpmn:flowNodeRef>task_a</bpmn:flowNodeRef><bpmn:flowNodeRef>gw_join</bpmn:flowNodeRef><bpmn:flowNodeRef>gw_decide</bpmn:flowNodeRef><bpmn:flowNodeRef>end_ok</bpmn:flowNodeRef><bpmn:flowNodeRef>timer_a</bpmn:flowNodeRef><bpmn:flowNodeRef>end_timeout</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="Lane_office" name="科室"><bpmn:flowNodeRef>task_b</bpmn:flowNodeRef><bpmn:flowNodeRef>end_no</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start_1" name="收到申请"><bpmn:outgoing>f1</bpmn:outgoing><bpmn:messageEventDefinition id="MED_1" messageRef="Msg_1" /></bpmn:startEvent>
    <bpmn:userTask id="task_receive" name="受理申请"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="gw_split"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="task_a" name="现场踏勘"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:serviceTask id="task_b" name="征求意见"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:parallelGateway id="gw_join"><bpmn:incoming>f5</bpmn:incoming><bpmn:incoming>f6</bpmn:incoming><bpmn:outgoing>f7</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:exclusiveGateway id="gw_decide" name="是否通过?" default="flow_no"><bpmn:incoming>f7</bpmn:incoming><bpmn:outgoing>flow_yes</bpmn:outgoing><bpmn:outgoing>flow_no</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_ok" name="批准"><bpmn:incoming>flow_yes</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_no" name="驳回"><bpmn:incoming>flow_no</bpmn:incoming></bpmn:endEvent>
    <bpmn:boundaryEvent id="timer_a" name="超期" attachedToRef="task_a"><bpmn:outgoing>flow_t</bpmn:outgoing><bpmn:timerEventDefinition id="TED_1"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:endEvent id="end_timeout"><bpmn:incoming>flow_t</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start_1" targetRef="task_receive" />
    <bpmn:sequenceFlow id="f2" sourceRef="task_receive" targetRef="gw_split" />
    <bpmn:sequenceFlow id="f3" sourceRef="gw_split" targetRef="task_a" />
    <bpmn:sequenceFlow id="f4" sourceRef="gw_split" targetRef="task_b" />
    <bpmn:sequenceFlow id="f5" sourceRef="task_a" targetRef="gw_join" />
    <bpmn:sequenceFlow id="f6" sourceRef="task_b" targetRef="gw_join" />
    <bpmn:sequenceFlow id="f7" sourceRef="gw_join" targetRef="gw_decide" />
    <bpmn:sequenceFlow id="flow_yes" name="通过" sourceRef="gw_decide" targetRef="end_ok"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${ok}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="flow_no" sourceRef="gw_decide" targetRef="end_no" />
    <bpmn:sequenceFlow id="flow_t" sourceRef="timer_a" targetRef="end_timeout" />
  </bpmn:process>
  <bpmn:message id="Msg_1" name="application" />
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="Collaboration_1">
      <bpmndi:BPMNShape id="Pool_applicant_di" bpmnElement="Pool_applicant" isHorizontal="true"><dc:Bounds x="120" y="40" width="600" height="150" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_app_di" bpmnElement="start_app"><dc:Bounds x="192" y="97" width="36" height="36" /><bpmndi:BPMNLabel><dc:Bounds x="199" y="140" width="22" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="task_send_di" bpmnElement="task_send"><dc:Bounds x="290" y="75" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_app_di" bpmnElement="end_app"><dc:Bounds x="452" y="97" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="fa1_di" bpmnElement="fa1"><di:waypoint x="228" y="115" /><di:waypoint x="290" y="115" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="fa2_di" bpmnElement="fa2"><di:waypoint x="390" y="115" /><di:waypoint x="452" y="115" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNShape id="Pool_authority_di" bpmnElement="Pool_authority" isHorizontal="true"><dc:Bounds x="120" y="240" width="1000" height="400" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_window_di" bpmnElement="Lane_window" isHorizontal="true"><dc:Bounds x="150" y="240" width="970" height="200" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_office_di" bpmnElement="Lane_office" isHorizontal="true"><dc:Bounds x="150" y="440" width="970" height="200" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_1_di" bpmnElement="start_1"><dc:Bounds x="322" y="322" width="36" height="36" /><bpmndi:BPMNLabel><dc:Bounds x="278" y="365" width="44" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="task_receive_di" bpmnElement="task_receive"><dc:Bounds x="410" y="300" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="gw_split_di" bpmnElement="gw_split"><dc:Bounds x="565" y="315" width="50" height="50" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="task_a_di" bpmnElement="task_a"><dc:Bounds x="670" y="300" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="task_b_di" bpmnElement="task_b"><dc:Bounds x="670" y="500" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="gw_join_di" bpmnElement="gw_join"><dc:Bounds x="825" y="315" width="50" height="50" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="gw_decide_di" bpmnElement="gw_decide" isMarkerVisible="true"><dc:Bounds x="925" y="315" width="50" height="50" /><bpmndi:BPMNLabel><dc:Bounds x="922" y="291" width="56" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_ok_di" bpmnElement="end_ok"><dc:Bounds x="1032" y="322" width="36" height="36" /><bpmndi:BPMNLabel><dc:Bounds x="1039" y="365" width="22" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_no_di" bpmnElement="end_no"><dc:Bounds x="1032" y="522" width="36" height="36" /><bpmndi:BPMNLabel><dc:Bounds x="1039" y="565" width="22" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_timeout_di" bpmnElement="end_timeout"><dc:Bounds x="782" y="392" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="timer_a_di" bpmnElement="timer_a"><dc:Bounds x="702" y="362" width="36" height="36" /><bpmndi:BPMNLabel><dc:Bounds x="671" y="405" width="22" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="mf1_di" bpmnElement="mf1"><di:waypoint x="340" y="155" /><di:waypoint x="340" y="322" /><bpmndi:BPMNLabel><dc:Bounds x="346" y="200" width="44" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="358" y="340" /><di:waypoint x="410" y="340" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="510" y="340" /><di:waypoint x="565" y="340" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="615" y="340" /><di:waypoint x="670" y="340" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f4_di" bpmnElement="f4"><di:waypoint x="590" y="365" /><di:waypoint x="590" y="540" /><di:waypoint x="670" y="540" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f5_di" bpmnElement="f5"><di:waypoint x="770" y="340" /><di:waypoint x="825" y="340" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f6_di" bpmnElement="f6"><di:waypoint x="770" y="540" /><di:waypoint x="850" y="540" /><di:waypoint x="850" y="365" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f7_di" bpmnElement="f7"><di:waypoint x="875" y="340" /><di:waypoint x="925" y="340" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="flow_yes_di" bpmnElement="flow_yes"><di:waypoint x="975" y="340" /><di:waypoint x="1032" y="340" /><bpmndi:BPMNLabel><dc:Bounds x="992" y="322" width="22" height="14" /></bpmndi:BPMNLabel></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="flow_no_di" bpmnElement="flow_no"><di:waypoint x="950" y="365" /><di:waypoint x="950" y="540" /><di:waypoint x="1032" y="540" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="flow_t_di" bpmnElement="flow_t"><di:waypoint x="720" y="398" /><di:waypoint x="720" y="410" /><di:waypoint x="782" y="410" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
""".encode()


def parse(svg: str):
    assert isinstance(svg, str)
    root = etree.fromstring(svg.encode())
    assert root.tag == SVG + "svg"
    return root


def groups(root) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for g in root.iter(SVG + "g"):
        el_id = g.get("data-element-id")
        if el_id is not None:
            assert el_id not in found, f"{el_id} drawn twice"
            found[el_id] = g
    return found


def classes(node) -> set[str]:
    return set((node.get("class") or "").split())


def all_text(node) -> str:
    return "".join(t for t in node.itertext() if t)


def texts(root) -> list[str]:
    """Each <text>'s content, tspans joined without separators, titles excluded."""
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def di_refs(xml: bytes) -> list[str]:
    tree = etree.fromstring(xml)
    return [n.get("bpmnElement") for n in tree.iter(BPMNDI + "BPMNShape", BPMNDI + "BPMNEdge")]


def marker_ids(root) -> set[str]:
    return {m.get("id") for m in root.iter(SVG + "marker")}


def url_id(value: str) -> str:
    match = re.fullmatch(r"url\(#([^)]+)\)", value or "")
    assert match, value
    return match.group(1)


@pytest.fixture(scope="module")
def permit40() -> bytes:
    if not PERMIT40.exists():
        pytest.skip(f"{PERMIT40} not present")
    return PERMIT40.read_bytes()


# --------------------------------------------------------------------------------------------
# permit40: the benchmark diagram (one pool, six lanes, gateways, 40 user tasks)


def test_permit40_every_shape_and_edge_is_drawn(permit40):
    root = parse(render_svg(permit40, filename="permit40.bpmn"))
    drawn = groups(root)
    refs = di_refs(permit40)
    assert len(refs) > 100
    missing = [r for r in refs if r not in drawn]
    assert missing == []
    assert set(drawn) == set(refs)
    for el_id, g in drawn.items():
        title = g.find(SVG + "title")
        assert title is not None and title.text, el_id
    assert drawn["U01"].find(SVG + "title").text == "Step 1"
    assert drawn["X1_split"].find(SVG + "title").text == "Decision 1?"


def test_permit40_pool_and_lanes(permit40):
    root = parse(render_svg(permit40))
    drawn = groups(root)
    lanes = [g for g in drawn.values() if "lane" in classes(g)]
    assert len(lanes) == 6
    names = {all_text(g.find(SVG + "g")) for g in lanes}  # the rotated label group
    assert names == {"Registry", "Finance", "Legal", "Technical", "Management", "Archive"}
    lane0 = drawn["Lane_bench_permit_0"].find(SVG + "rect")
    assert (lane0.get("x"), lane0.get("y"), lane0.get("width"), lane0.get("height")) == \
        ("30", "0", "7880", "260")
    rotated = drawn["Lane_bench_permit_0"].find(SVG + "g")
    assert rotated.get("transform").startswith("rotate(-90 ")
    pool = drawn["Participant_bench_permit"]
    assert "pool" in classes(pool)
    assert "Permit application (benchmark)" in all_text(pool)
    # pools and lanes are drawn underneath everything else
    layers = [g.get("class") for g in root.findall(SVG + "g")]
    assert layers.index("layer layer-pools") < layers.index("layer layer-nodes") \
        < layers.index("layer layer-edges")


def test_permit40_tasks_gateways_and_edges(permit40):
    root = parse(render_svg(permit40))
    drawn = groups(root)
    u01 = drawn["U01"]
    assert {"task", "userTask"} <= classes(u01)
    rect = u01.find(SVG + "rect")
    assert (rect.get("x"), rect.get("y"), rect.get("width"), rect.get("height"), rect.get("rx")) \
        == ("320", "60", "100", "80", "10")
    assert "Step 1" in all_text(u01)
    assert u01.findall(".//s:*[@class='icon white']", NS), "the user icon"
    for gw in ("P_split", "P_join"):
        assert {"gateway", "parallelGateway"} <= classes(drawn[gw])
        assert drawn[gw].find(SVG + "polygon") is not None
        assert drawn[gw].findall(".//s:path[@class='gw-marker']", NS), gw
    assert {"gateway", "exclusiveGateway"} <= classes(drawn["X1_split"])
    defined = marker_ids(root)
    flows = [g for g in drawn.values() if "sequenceFlow" in classes(g)]
    assert len(flows) == 53
    for g in flows:
        path = g.find(SVG + "path")
        assert path.get("class") == "line"
        assert url_id(path.get("marker-end")) in defined
    # X1_split's default flow carries the slash marker at its start
    default = drawn["F_X1_def"].find(SVG + "path")
    assert url_id(default.get("marker-start")) == "dalad-bpmn-default"
    # the start event label sits below it (no BPMNLabel in this file)
    label = root.find(".//s:g[@data-label-for='start']", NS)
    assert "Application" in all_text(label)
    assert float(label.find(".//s:text", NS).get("y")) > 118


def test_permit40_viewbox_covers_the_drawing(permit40):
    root = parse(render_svg(permit40))
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    assert x <= 0 and y <= 0 and x + w >= 7940 and y + h >= 1560
    assert x >= -40 and y >= -40 and x + w <= 7940 + 40 and y + h <= 1560 + 40
    assert (root.get("width"), root.get("height")) == (f"{w:g}", f"{h:g}")


def test_svg_is_self_contained(permit40):
    svg = render_svg(permit40, title="许可")
    root = parse(svg)
    styles = root.findall(SVG + "style")
    assert len(styles) == 1
    css = styles[0].text
    for cls in (".task", ".completed", ".active", ".taken", ".failed", ".waiting-note"):
        assert cls in css
    assert re.search(r"font-family:[^;]*'Noto Sans CJK SC'[^;]*'Microsoft YaHei'[^;]*sans-serif;",
                     css)
    assert "@import" not in css and "url(" not in css
    assert not root.findall(".//s:script", NS) and not root.findall(".//s:image", NS)
    assert not root.findall(".//s:foreignObject", NS)
    assert "href" not in svg and "<?xml" not in svg
    assert root.find(SVG + "title").text == "许可"
    assert "许可" in texts(root)


# --------------------------------------------------------------------------------------------
# the small collaboration with Chinese names


def test_small_collaboration_draws_both_pools_and_all_elements():
    root = parse(render_svg(SMALL, filename="small.bpmn"))
    drawn = groups(root)
    assert set(drawn) == set(di_refs(SMALL))
    assert "申请人" in all_text(drawn["Pool_applicant"])
    assert "审批机关" in all_text(drawn["Pool_authority"])
    assert "窗口" in all_text(drawn["Lane_window"]) and "科室" in all_text(drawn["Lane_office"])
    all_texts = texts(root)
    for name in ("受理申请", "现场踏勘", "征求意见", "提交材料", "是否通过?", "批准", "驳回",
                 "超期", "通过", "申请材料", "收到申请"):
        assert name in all_texts, name
    # a label with BPMNLabel bounds is placed there: centred on the bounds
    label = root.find(".//s:g[@data-label-for='gw_decide']/s:text", NS)
    assert float(label.get("x")) == pytest.approx(922 + 56 / 2)
    assert 291 <= float(label.get("y")) <= 291 + 14


def test_small_events_and_markers():
    root = parse(render_svg(SMALL))
    drawn = groups(root)
    timer = drawn["timer_a"]
    assert {"event", "boundaryEvent", "timer-event"} <= classes(timer)
    circles = timer.findall(SVG + "circle")
    assert circles[0].get("cx") == "720" and circles[0].get("cy") == "380"
    assert len(circles) >= 3  # double ring and the clock face
    assert "event-intermediate" in classes(circles[0])
    assert timer.getparent().get("class") == "layer layer-boundary"  # above the task
    start = drawn["start_1"]
    assert {"message-event", "startEvent"} <= classes(start)
    assert start.find(SVG + "rect").get("class") == "icon white"  # open envelope: catching
    assert "event-end" in classes(drawn["end_ok"].find(SVG + "circle"))
    assert {"sendTask"} <= classes(drawn["task_send"])
    assert drawn["task_send"].find(".//s:rect[@class='icon filled']", NS) is not None
    assert "serviceTask" in classes(drawn["task_b"])
    # the exclusive gateway shows its X (isMarkerVisible), the parallel ones a +
    assert drawn["gw_decide"].find(".//s:path[@class='gw-marker']", NS) is not None
    plus = drawn["gw_split"].find(".//s:path[@class='gw-marker']", NS).get("d")
    assert plus == "M 590 329 V 351 M 579 340 H 601"


def test_small_flows():
    root = parse(render_svg(SMALL))
    drawn = groups(root)
    defined = marker_ids(root)
    message = drawn["mf1"]
    assert {"flow", "messageFlow"} <= classes(message)
    path = message.find(SVG + "path")
    assert path.get("d") == "M 340 155 L 340 322"
    assert url_id(path.get("marker-start")) == "dalad-bpmn-message-start"
    assert url_id(path.get("marker-end")) == "dalad-bpmn-message-end"
    assert ".messageFlow > .line { stroke-dasharray" in root.find(SVG + "style").text
    default = drawn["flow_no"].find(SVG + "path")
    assert default.get("d") == "M 950 365 L 950 540 L 1032 540"
    assert url_id(default.get("marker-start")) == "dalad-bpmn-default"
    assert url_id(default.get("marker-end")) == "dalad-bpmn-arrow"
    # a conditional flow out of a gateway has no diamond; only activities show it
    assert drawn["flow_yes"].find(SVG + "path").get("marker-start") is None
    for g in drawn.values():
        if "sequenceFlow" in classes(g):
            assert url_id(g.find(SVG + "path").get("marker-end")) in defined


def test_conditional_flow_from_a_task_has_a_diamond():
    xml = SMALL.replace(
        b'<bpmn:sequenceFlow id="f2" sourceRef="task_receive" targetRef="gw_split" />',
        b'<bpmn:sequenceFlow id="f2" sourceRef="task_receive" targetRef="gw_split">'
        b'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${x}'
        b'</bpmn:conditionExpression></bpmn:sequenceFlow>')
    root = parse(render_svg(xml))
    path = groups(root)["f2"].find(SVG + "path")
    assert url_id(path.get("marker-start")) == "dalad-bpmn-conditional"


# --------------------------------------------------------------------------------------------
# highlights


def test_highlight_classes_land_on_exactly_the_right_elements():
    hl = Highlight(
        completed={"start_1", "task_receive", "gw_split", "task_b"},
        active={"task_a", "timer_a"},
        taken_flows={"f1", "f2", "f3", "f4"},
        waiting={"timer_a": "2027-01-15 09:00"},
        failed={"task_b"},
    )
    root = parse(render_svg(SMALL, highlight=hl))
    drawn = groups(root)
    expected = {
        "completed": hl.completed,
        "active": hl.active,
        "taken": hl.taken_flows,
        "waiting": set(hl.waiting),
        "failed": hl.failed,
    }
    for state, ids in expected.items():
        having = {el_id for el_id, g in drawn.items() if state in classes(g)}
        assert having == ids, state
    # taken flows use the coloured arrowhead; the others the plain one
    for el_id in ("f1", "f4"):
        assert url_id(drawn[el_id].find(SVG + "path").get("marker-end")) == \
            "dalad-bpmn-arrow-taken"
    assert url_id(drawn["f5"].find(SVG + "path").get("marker-end")) == "dalad-bpmn-arrow"
    overlays = root.find(".//s:g[@class='layer layer-overlays']", NS)
    badges = {g.get("data-overlay-for") for g in overlays if g.get("class") == "token-badge"}
    assert badges == {"task_a", "timer_a"}
    failed = {g.get("data-overlay-for") for g in overlays if g.get("class") == "failed-badge"}
    assert failed == {"task_b"}
    notes = [g for g in overlays if g.get("class") == "waiting-note"]
    assert [g.get("data-overlay-for") for g in notes] == ["timer_a"]
    assert all_text(notes[0]) == "2027-01-15 09:00"
    assert "2027-01-15 09:00" in drawn["timer_a"].find(SVG + "title").text
    css = root.find(SVG + "style").text
    assert ".completed > .shape" in css and ".taken > .line" in css and ".active > .shape" in css


def test_what_the_engine_put_in_for_a_listener_is_shown_on_what_it_stands_for():
    """engine/foreign.py names an element it puts in `<owner>__…`: the file has no shape for it,
    so its state is drawn on its owner (a task, or the flow a take listener sits on)."""
    hl = Highlight(completed={"task_a__create_java_listener"}, active={"task_b__end_python_listener"},
                   taken_flows={"f2__take_python_listener__flow"}, failed={"task_receive__end_java_listener"},
                   waiting={"timer_a__start_javascript_listener": "an incident"})
    drawn = groups(parse(render_svg(SMALL, highlight=hl)))
    having = {state: {el_id for el_id, g in drawn.items() if state in classes(g)}
              for state in ("completed", "active", "taken", "failed", "waiting")}
    assert having == {"completed": {"task_a"}, "active": {"task_b"}, "taken": {"f2"}, "failed": {"task_receive"},
                      "waiting": {"timer_a"}}


def test_no_highlight_no_state_classes():
    root = parse(render_svg(SMALL))
    states = {"completed", "active", "taken", "waiting", "failed"}
    for g in groups(root).values():
        assert not (classes(g) & states)
    assert not list(root.find(".//s:g[@class='layer layer-overlays']", NS))


# --------------------------------------------------------------------------------------------
# text


def test_names_are_escaped():
    name = 'A < B & "C" > D'
    escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    xml = SMALL.replace('name="受理申请"'.encode(), f'name="{escaped}"'.encode())
    svg = render_svg(xml, title="<审批> & 复核")
    assert "A < B" not in svg and "A &lt; B &amp; " in svg
    root = parse(svg)
    g = groups(root)["task_receive"]
    assert g.find(SVG + "title").text == name
    assert "".join(all_text(t) for t in g.findall(SVG + "text")) .replace(" ", "") == \
        name.replace(" ", "")
    assert root.find(SVG + "title").text == "<审批> & 复核"


def test_long_names_wrap_inside_the_task():
    long_cjk = "建设项目环境影响评价文件审批意见征询"
    xml = SMALL.replace('name="受理申请"'.encode(), f'name="{long_cjk}"'.encode())
    root = parse(render_svg(xml))
    text = groups(root)["task_receive"].find(SVG + "text")
    lines = [t.text for t in text.findall(SVG + "tspan")]
    assert len(lines) >= 2 and "".join(lines) == long_cjk  # CJK wraps per character
    for t in text.findall(SVG + "tspan"):
        assert t.get("x") == "460"
    ys = [float(t.get("y")) for t in text.findall(SVG + "tspan")]
    assert 300 < ys[0] < ys[-1] < 380
    english = "Check the application documents for completeness"
    xml = SMALL.replace('name="受理申请"'.encode(), f'name="{english}"'.encode())
    text = groups(parse(render_svg(xml)))["task_receive"].find(SVG + "text")
    lines = [t.text for t in text.findall(SVG + "tspan")]
    assert len(lines) >= 3 and " ".join(lines) == english  # words kept whole


# --------------------------------------------------------------------------------------------
# files without layout, malformed files, several planes


WITHOUT_LAYOUT = sorted(p for p in DIAGRAMS.glob("*.bpmn") if b"BPMNDiagram" not in p.read_bytes())


@pytest.mark.parametrize("path", WITHOUT_LAYOUT, ids=lambda p: p.name)
def test_diagrams_without_bpmndi_give_the_message(path):
    svg = render_svg(path.read_bytes(), filename=path.name)
    root = parse(svg)
    assert NO_DI_MESSAGE in texts(root)
    assert root.get("viewBox") and root.get("width") and root.get("height")
    assert not groups(root)


def test_malformed_file_raises_the_xmlsafe_error():
    with pytest.raises(DefinitionInvalid) as info:
        render_svg(b"<bpmn:definitions xmlns:bpmn='x'><oops></bpmn:definitions>",
                   filename="bad.bpmn")
    assert info.value.problems[0].file == "bad.bpmn"
    with pytest.raises(DefinitionInvalid):
        render_svg(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>')


def test_not_bpmn_gives_a_message():
    root = parse(render_svg(b"<dmn/>"))
    assert not groups(root) and texts(root)


TWO_PLANES = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="d">
  <bpmn:process id="main" isExecutable="true">
    <bpmn:callActivity id="call" name="\xe5\xad\x90\xe6\xb5\x81\xe7\xa8\x8b" calledElement="sub" />
  </bpmn:process>
  <bpmn:process id="sub" isExecutable="true">
    <bpmn:manualTask id="inner" name="inner work" />
    <bpmn:textAnnotation id="note"><bpmn:text>a &lt;note&gt;</bpmn:text></bpmn:textAnnotation>
  </bpmn:process>
  <bpmn:process id="bare" isExecutable="true"><bpmn:task id="t" /></bpmn:process>
  <bpmndi:BPMNDiagram id="D1"><bpmndi:BPMNPlane id="P1" bpmnElement="main">
    <bpmndi:BPMNShape id="call_di" bpmnElement="call"><dc:Bounds x="100" y="100" width="100" height="80" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
  <bpmndi:BPMNDiagram id="D2"><bpmndi:BPMNPlane id="P2" bpmnElement="sub">
    <bpmndi:BPMNShape id="inner_di" bpmnElement="inner"><dc:Bounds x="400" y="300" width="100" height="80" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="note_di" bpmnElement="note"><dc:Bounds x="550" y="250" width="100" height="30" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_process_id_selects_the_plane():
    first = groups(parse(render_svg(TWO_PLANES)))
    assert set(first) == {"call"}
    call = first["call"]
    assert "callActivity" in classes(call)
    assert call.find(".//s:rect[@class='task-marker']", NS) is not None  # the [+]
    sub = parse(render_svg(TWO_PLANES, process_id="sub"))
    drawn = groups(sub)
    assert set(drawn) == {"inner", "note"}
    assert "manualTask" in classes(drawn["inner"])
    assert "a <note>" in texts(sub)
    x, y, w, h = (float(v) for v in sub.get("viewBox").split())
    assert 380 <= x <= 400 and 230 <= y <= 250 and x + w >= 650
    assert NO_DI_MESSAGE in texts(parse(render_svg(TWO_PLANES, process_id="bare")))
    missing = parse(render_svg(TWO_PLANES, process_id="nope"))
    assert not groups(missing) and any("nope" in t for t in texts(missing))


def test_process_id_in_a_collaboration_draws_every_pool():
    drawn = groups(parse(render_svg(SMALL, process_id="applicant")))
    assert set(drawn) == set(di_refs(SMALL))


# --------------------------------------------------------------------------------------------
# every kind of element the Modeler draws


def _gallery() -> bytes:
    """A process with one of everything, laid out on a grid; returns the file's bytes."""
    items = [
        ("task", 'name="普通任务"', ""),
        ("userTask", 'name="用户任务"', ""),
        ("serviceTask", 'name="服务任务"', ""),
        ("scriptTask", 'name="脚本任务"', ""),
        ("businessRuleTask", 'name="业务规则"', ""),
        ("sendTask", 'name="发送"', ""),
        ("receiveTask", 'name="接收"', ""),
        ("manualTask", 'name="手工任务"', ""),
        ("callActivity", 'name="调用活动"', ""),
        ("subProcess", 'name="折叠子流程"', ""),
        ("userTask", 'name="并行多实例"', "<bpmn:multiInstanceLoopCharacteristics />"),
        ("userTask", 'name="串行多实例"',
         '<bpmn:multiInstanceLoopCharacteristics isSequential="true" />'),
        ("task", 'name="循环"', "<bpmn:standardLoopCharacteristics />"),
        ("task", 'name="补偿" isForCompensation="true"', ""),
        ("adHocSubProcess", 'name="自由子流程"', ""),
        ("startEvent", 'name="开始"', ""),
        ("startEvent", 'name="定时开始"', "<bpmn:timerEventDefinition />"),
        ("startEvent", 'name="消息开始"', "<bpmn:messageEventDefinition />"),
        ("startEvent", 'name="信号开始"', "<bpmn:signalEventDefinition />"),
        ("startEvent", 'name="条件开始"', "<bpmn:conditionalEventDefinition />"),
        ("intermediateCatchEvent", 'name="等待消息"', "<bpmn:messageEventDefinition />"),
        ("intermediateThrowEvent", 'name="发送消息"', "<bpmn:messageEventDefinition />"),
        ("intermediateCatchEvent", 'name="定时"', "<bpmn:timerEventDefinition />"),
        ("intermediateThrowEvent", 'name="升级"', "<bpmn:escalationEventDefinition />"),
        ("intermediateCatchEvent", 'name="链接"', "<bpmn:linkEventDefinition />"),
        ("intermediateThrowEvent", 'name="补偿"', "<bpmn:compensateEventDefinition />"),
        ("intermediateThrowEvent", 'name="信号"', "<bpmn:signalEventDefinition />"),
        ("intermediateCatchEvent", 'name="多个"',
         "<bpmn:messageEventDefinition /><bpmn:timerEventDefinition />"),
        ("endEvent", 'name="结束"', ""),
        ("endEvent", 'name="错误结束"', "<bpmn:errorEventDefinition />"),
        ("endEvent", 'name="终止"', "<bpmn:terminateEventDefinition />"),
        ("endEvent", 'name="消息结束"', "<bpmn:messageEventDefinition />"),
        ("endEvent", 'name="取消"', "<bpmn:cancelEventDefinition />"),
        ("exclusiveGateway", 'name="排他"', ""),
        ("exclusiveGateway", 'name="排他(X)"', ""),
        ("parallelGateway", 'name="并行"', ""),
        ("inclusiveGateway", 'name="包容"', ""),
        ("eventBasedGateway", 'name="事件"', ""),
        ("complexGateway", 'name="复杂"', ""),
        ("dataObjectReference", 'name="数据对象" dataObjectRef="DO_1"', ""),
        ("dataStoreReference", 'name="数据库"', ""),
        ("textAnnotation", "", "<bpmn:text>注释: 需要 &lt;盖章&gt; &amp; 签字</bpmn:text>"),
        ("fancyNewThing", 'name="未知"', ""),
    ]
    sizes = {"event": (36, 36), "gateway": (50, 50), "data": (36, 50)}
    semantic, shapes = [], []
    for i, (typ, attrs, body) in enumerate(items):
        el_id = f"E{i:02d}"
        kind = "event" if typ.endswith("Event") else "gateway" if typ.endswith("Gateway") \
            else "data" if typ.startswith("data") else "task"
        w, h = sizes.get(kind, (100, 80))
        if typ == "textAnnotation":
            w, h = 120, 40
        col, row = i % 8, i // 8
        cx, cy = 100 + col * 160, 80 + row * 150
        x, y = cx - w / 2, cy - h / 2
        semantic.append(f'<bpmn:{typ} id="{el_id}" {attrs}>{body}</bpmn:{typ}>')
        extra = ' isMarkerVisible="true"' if attrs == 'name="排他(X)"' else ""
        shapes.append(f'<bpmndi:BPMNShape id="{el_id}_di" bpmnElement="{el_id}"{extra}>'
                      f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}" />'
                      f'</bpmndi:BPMNShape>')
    # a non-interrupting boundary timer on E01, an expanded sub-process, a group, an association
    semantic.append('<bpmn:boundaryEvent id="B1" attachedToRef="E01" cancelActivity="false">'
                    '<bpmn:timerEventDefinition /></bpmn:boundaryEvent>')
    shapes.append('<bpmndi:BPMNShape id="B1_di" bpmnElement="B1">'
                  '<dc:Bounds x="242" y="102" width="36" height="36" /></bpmndi:BPMNShape>')
    semantic.append('<bpmn:subProcess id="SP" name="展开的子流程" triggeredByEvent="false">'
                    '<bpmn:userTask id="SP_t" name="内部任务" />'
                    '<bpmn:startEvent id="SP_s" /></bpmn:subProcess>')
    shapes.append('<bpmndi:BPMNShape id="SP_di" bpmnElement="SP" isExpanded="true">'
                  '<dc:Bounds x="60" y="900" width="400" height="180" /></bpmndi:BPMNShape>')
    shapes.append('<bpmndi:BPMNShape id="SP_s_di" bpmnElement="SP_s">'
                  '<dc:Bounds x="92" y="972" width="36" height="36" /></bpmndi:BPMNShape>')
    shapes.append('<bpmndi:BPMNShape id="SP_t_di" bpmnElement="SP_t">'
                  '<dc:Bounds x="200" y="950" width="100" height="80" /></bpmndi:BPMNShape>')
    semantic.append('<bpmn:sequenceFlow id="SP_f" sourceRef="SP_s" targetRef="SP_t" />')
    shapes.append('<bpmndi:BPMNEdge id="SP_f_di" bpmnElement="SP_f">'
                  '<di:waypoint x="128" y="990" /><di:waypoint x="200" y="990" />'
                  '</bpmndi:BPMNEdge>')
    semantic.append('<bpmn:group id="G1" categoryValueRef="CV1" />')
    shapes.append('<bpmndi:BPMNShape id="G1_di" bpmnElement="G1">'
                  '<dc:Bounds x="500" y="880" width="300" height="220" /></bpmndi:BPMNShape>')
    semantic.append('<bpmn:association id="A1" sourceRef="E41" targetRef="E40" '
                    'associationDirection="One" />')
    shapes.append('<bpmndi:BPMNEdge id="A1_di" bpmnElement="A1">'
                  '<di:waypoint x="200" y="720" /><di:waypoint x="140" y="705" />'
                  '</bpmndi:BPMNEdge>')
    semantic.append('<bpmn:dataObject id="DO_1" isCollection="true" />')
    # a shape without bounds and one pointing at nothing
    shapes.append('<bpmndi:BPMNShape id="nob_di" bpmnElement="E00" />')
    shapes.append('<bpmndi:BPMNShape id="ghost_di" bpmnElement="ghost">'
                  '<dc:Bounds x="900" y="910" width="80" height="40" /></bpmndi:BPMNShape>')
    return ("""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="gallery">
<bpmn:category id="Cat1"><bpmn:categoryValue id="CV1" value="分组" /></bpmn:category>
<bpmn:process id="gallery_p" isExecutable="false">""" + "\n".join(semantic) + """</bpmn:process>
<bpmndi:BPMNDiagram id="GD"><bpmndi:BPMNPlane id="GP" bpmnElement="gallery_p">"""
            + "\n".join(shapes) + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>"
            ).encode()


def test_gallery_of_every_element_kind():
    xml = _gallery()
    root = parse(render_svg(xml, filename="gallery.bpmn"))
    drawn = groups(root)
    assert set(drawn) == set(di_refs(xml))  # E00's second shape has no bounds: skipped
    assert {"unknown", "fancyNewThing"} <= classes(drawn["E42"])
    assert all_text(drawn["E42"].find(SVG + "text")).replace(" ", "") == "fancyNewThing:未知"
    assert "unknown" in classes(drawn["ghost"])
    assert {"task", "subProcess", "collapsed"} <= classes(drawn["E09"])
    assert {"subprocess", "expanded"} <= classes(drawn["SP"])
    assert drawn["SP"].getparent().get("class") == "layer layer-containers"
    assert "non-interrupting" in classes(drawn["B1"])
    assert "non-interrupting" in classes(drawn["B1"].find(SVG + "circle"))
    assert "terminate-event" in classes(drawn["E30"])
    assert drawn["E30"].find(".//s:circle[@class='icon filled']", NS) is not None
    assert drawn["E31"].find(".//s:rect[@class='icon filled']", NS) is not None  # throwing
    assert drawn["E20"].find(".//s:rect[@class='icon white']", NS) is not None  # catching
    # the exclusive gateway without isMarkerVisible is an empty diamond, as in bpmn-js
    assert drawn["E33"].find(".//s:path[@class='gw-marker']", NS) is None
    assert drawn["E34"].find(".//s:path[@class='gw-marker']", NS) is not None
    for gw in ("E35", "E36", "E37", "E38"):
        assert len(drawn[gw]) > 2, gw  # title, diamond and a marker
    assert "分组" in all_text(drawn["G1"])
    note = all_text(drawn["E41"].find(SVG + "text"))
    assert note.replace(" ", "") == "注释:需要<盖章>&签字"
    assert url_id(drawn["A1"].find(SVG + "path").get("marker-end")) == \
        "dalad-bpmn-association-end"
    parallel = drawn["E10"].findall(".//s:path[@class='task-marker']", NS)
    assert parallel and parallel[0].get("d").count("V") == 3


def test_highlight_of_unknown_ids_is_ignored():
    hl = Highlight(completed={"nope"}, active={"nope2"}, waiting={"nope3": "x"})
    root = parse(render_svg(SMALL, highlight=hl))
    assert not list(root.find(".//s:g[@class='layer layer-overlays']", NS))
