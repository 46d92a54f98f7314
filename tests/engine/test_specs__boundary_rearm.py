"""A non-interrupting boundary event stays armed while its activity runs: every message starts
its path again; the activity's end disarms it. An event subprocess whose start has no event
is refused, not run wrongly."""
import pytest

from conftest import DIAGRAMS, deploy_files
from engine import replay, services
from engine.definitions import BundleFile
from engine.errors import CorrelationError, DefinitionInvalid


def _ready(db, instance_id):
    with db.read() as s:
        return sorted((t.element_id, t.id) for t in services.tasks(s, instance_id=instance_id))


def test_each_message_reaches_the_armed_boundary_until_the_activity_ends(db, frozen_clock):
    deploy_files(db, "rearmed_boundary.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "rearmed_boundary", business_key="E-1").id
    for n in range(3):
        with db.write() as s:
            services.correlate_message(s, "progress_query", business_key="E-1", variables={"question": n})
    assert [e for e, _ in _ready(db, instance_id)] == ["answer_query"] * 3 + ["build"]
    build = dict(_ready(db, instance_id))["build"]
    with db.write() as s:
        services.complete_task(s, build, user="edu1", data={}, check_access=False)
    with pytest.raises(CorrelationError):
        with db.write() as s:
            services.correlate_message(s, "progress_query", business_key="E-1")
    with db.read() as s:
        chain, report = replay.verify(s, instance_id)
    assert report.ok, report


def test_an_event_subprocess_without_a_start_event_definition_is_refused_at_deploy(db):
    source = (DIAGRAMS / "rearmed_boundary.bpmn").read_text(encoding="utf-8").replace(
        "  </bpmn:process>",
        '    <bpmn:subProcess id="on_delay" triggeredByEvent="true">'
        '<bpmn:startEvent id="s0" />'
        "</bpmn:subProcess>\n  </bpmn:process>")
    with pytest.raises(DefinitionInvalid, match=r"element 'on_delay' \(subProcess\): an event subprocess must start "
                                                r"on a message, a signal, a timer, an error or an escalation "
                                                r"\(here: none\)"):
        with db.write() as s:
            services.deploy(s, [BundleFile("rearmed_boundary.bpmn", source.encode())], name="x")
