"""The diff between two versions names each element added, removed or changed, and for a changed
one what changed: names, types, candidate groups, conditions, timers, messages, forms; the layout
alone changes nothing."""
from __future__ import annotations

import pytest

from conftest import DIAGRAMS
from engine.diff import diff_versions
from engine.errors import NotFound

WAITS = (DIAGRAMS / "waits.bpmn").read_bytes()


def changes_of(diff, element_id: str) -> dict:
    [changed] = [c for c in diff.changed if c.id == element_id]
    return {c.attribute: (c.before, c.after) for c in changed.changes}


def test_the_same_file_has_no_differences():
    assert diff_versions(WAITS, WAITS, "waits").empty


def test_moving_shapes_in_the_layout_is_no_difference():
    def with_shape(x: int) -> bytes:
        return WAITS.replace(b"</bpmn:definitions>", (
            '<bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="waits">'
            f'<bpmndi:BPMNShape id="s" bpmnElement="decide"><dc:Bounds x="{x}" y="80" width="100" height="80"/>'
            '</bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>').encode())
    assert diff_versions(with_shape(100), with_shape(460), "waits").empty


def test_names_groups_timers_and_messages_that_changed_are_listed_per_element():
    after = (WAITS.replace(b'name="\xe5\x86\xb3\xe5\xae\x9a" camunda:candidateGroups="office"',
                           "name=\"决定（复核）\" camunda:candidateGroups=\"office,drc\"".encode())
             .replace(b"PT1H", b"PT2H")
             .replace(b'<bpmn:message id="Message_reply" name="reply" />', b'<bpmn:message id="Message_reply" name="answer" />'))
    diff = diff_versions(WAITS, after, "waits")
    assert (diff.added, diff.removed) == ([], [])
    assert changes_of(diff, "decide") == {"name": ("决定", "决定（复核）"),
                                          "camunda:candidateGroups": ("office", "office,drc")}
    assert changes_of(diff, "cooling_off") == {"event": ("timer, timeDuration=PT1H", "timer, timeDuration=PT2H")}
    assert changes_of(diff, "await_reply") == {"event": ("message, message=reply", "message, message=answer")}


def test_a_step_inserted_shows_as_added_elements_and_a_rerouted_flow():
    after = WAITS.replace(b'<bpmn:sequenceFlow id="f4" sourceRef="decide" targetRef="end" />',
                          '<bpmn:sequenceFlow id="f4" sourceRef="decide" targetRef="archive" />'
                          '<bpmn:userTask id="archive" name="归档" camunda:candidateGroups="archives" />'
                          '<bpmn:sequenceFlow id="f7" sourceRef="archive" targetRef="end" />'.encode())
    diff = diff_versions(WAITS, after, "waits")
    assert [(e.id, e.type, e.name) for e in diff.added] == [("archive", "userTask", "归档"), ("f7", "sequenceFlow", None)]
    assert diff.added[0].attributes == {"camunda:candidateGroups": "archives"}
    assert changes_of(diff, "f4") == {"targetRef": ("end", "archive")}
    assert diff.removed == []


def test_removed_elements_and_changed_types_conditions_and_forms():
    before = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
              b'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"><bpmn:process id="p" isExecutable="true" '
              b'camunda:versionTag="2026.1">'
              b'<bpmn:userTask id="fill"><bpmn:extensionElements><camunda:formData>'
              b'<camunda:formField id="amount" type="long"/></camunda:formData></bpmn:extensionElements></bpmn:userTask>'
              b'<bpmn:task id="notify"/><bpmn:exclusiveGateway id="gw"/>'
              b'<bpmn:sequenceFlow id="big" sourceRef="gw" targetRef="notify">'
              b'<bpmn:conditionExpression>${amount &gt; 100}</bpmn:conditionExpression></bpmn:sequenceFlow>'
              b'<bpmn:userTask id="old_step"/></bpmn:process></bpmn:definitions>')
    after = (before.replace(b'type="long"/>', b'type="long"><camunda:validation><camunda:constraint name="required"/>'
                                              b'</camunda:validation></camunda:formField>')
             .replace(b'<bpmn:task id="notify"/>', b'<bpmn:serviceTask id="notify" camunda:type="external" '
                                                   b'camunda:topic="notify"/>')
             .replace(b"&gt; 100", b"&gt; 1000").replace(b'<bpmn:userTask id="old_step"/>', b"")
             .replace(b"2026.1", b"2026.2"))
    diff = diff_versions(before, after, "p", before_name="p.bpmn", after_name="p.bpmn")
    assert [e.id for e in diff.removed] == ["old_step"]
    assert changes_of(diff, "fill") == {"form field amount": ("long", "long, required")}
    assert changes_of(diff, "notify") == {"type": ("task", "serviceTask"), "camunda:type": (None, "external"),
                                          "camunda:topic": (None, "notify")}
    assert changes_of(diff, "big") == {"condition": ("${amount > 100}", "${amount > 1000}")}
    assert [(c.attribute, c.before, c.after) for c in diff.process] == [("camunda:versionTag", "2026.1", "2026.2")]


def test_a_process_the_file_does_not_define_is_not_found():
    with pytest.raises(NotFound, match="no process 'nope'"):
        diff_versions(WAITS, WAITS, "nope", before_name="waits.bpmn")
