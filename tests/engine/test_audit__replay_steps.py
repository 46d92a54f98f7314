"""Auditors see an instance as it was right after any event: finished elements, the flows taken,
the tokens, waiting timers with their due times, the data then; call activities open into their
own diagram; the picture is the version the instance ran on, drawn by the shared renderer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from conftest import DIAGRAMS, deploy_files
from engine import audit, clock, history, services
from engine.definitions import BundleFile
from engine.rendering import render_svg

SVG = "{http://www.w3.org/2000/svg}"


def complete(db, instance_id: int, element: str, values: dict | None = None, user: str = "edu_li") -> None:
    with db.write() as s:
        [task] = [t for t in services.tasks(s, instance_id=instance_id) if t.element_id == element]
        services.complete_task(s, task.id, user=user, data=values or {}, check_access=False)


def seq_after(db, instance_id: int, element: str, occurrence: int = 1) -> int:
    """The seq of the n-th completion of `element`."""
    with db.read() as s:
        done = [e["seq"] for e in history.events_of(s, instance_id)
                if e["type"] == "task_completed" and e["element_id"] == element]
    return done[occurrence - 1]


@pytest.fixture
def project(db, frozen_clock) -> int:
    """audit_project: design revised once, approved, both parallel branches done, the called stage
    review done, waiting at 'declare_completion' with its 30-day boundary timer."""
    deploy_files(db, "audit_project.bpmn", "audit_stage.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "audit_project", business_key="P-1",
                                             variables={"unit": "edu", "project_name": "智慧教育"}, user="edu_li").id
    complete(db, instance_id, "submit_design", {"budget": 100})
    frozen_clock.advance(timedelta(hours=2))
    complete(db, instance_id, "design_approval", {"decision": "revise"}, user="drc_zhang")
    complete(db, instance_id, "submit_design", {"budget": 90})
    complete(db, instance_id, "design_approval", {"decision": "approve"}, user="drc_zhang")
    complete(db, instance_id, "procurement", {"supplier": "某公司"})
    complete(db, instance_id, "release_construction_funds", user="finance_liu")
    complete(db, instance_id, "technical_review", {"opinion": "同意"}, user="office_chen")
    complete(db, instance_id, "security_review", user="cac_wu")
    return instance_id


def step(db, instance_id, seq=None, path=()):
    with db.read() as s:
        return audit.step_at(s, instance_id, seq, path=path)


def test_after_the_start_only_the_start_is_done_and_the_first_task_holds_the_token(db, project):
    first = step(db, project, 1)
    assert first.event["type"] == "instance_started"
    assert first.highlight.completed == {"start"}
    assert first.highlight.taken_flows == {"f1"}
    assert first.highlight.active == {"submit_design"}
    assert first.variables == {"unit": "edu", "project_name": "智慧教育", "initiator": "edu_li"}


def test_a_revision_loop_shows_the_flow_back_and_the_data_as_it_was(db, project):
    revised = step(db, project, seq_after(db, project, "design_approval", 1))
    assert revised.highlight.active == {"submit_design"}
    assert {"f1", "f2", "f3", "f_revise"} <= revised.highlight.taken_flows
    assert "f_approve" not in revised.highlight.taken_flows and "f_reject" not in revised.highlight.taken_flows
    assert revised.variables["budget"] == 100 and revised.variables["decision"] == "revise"
    later = step(db, project, seq_after(db, project, "submit_design", 2))
    assert later.variables["budget"] == 90


def test_parallel_branches_hold_two_tokens_and_the_join_waits_for_the_second(db, project):
    approved = step(db, project, seq_after(db, project, "design_approval", 2))
    assert approved.highlight.active == {"procurement", "release_construction_funds"}
    assert {"f_approve", "f4", "f5"} <= approved.highlight.taken_flows
    one_done = step(db, project, seq_after(db, project, "procurement"))
    assert "f7" in one_done.highlight.taken_flows and "f6" not in one_done.highlight.taken_flows
    assert "release_construction_funds" in one_done.highlight.active
    both = step(db, project, seq_after(db, project, "release_construction_funds"))
    assert {"f6", "f7", "f8"} <= both.highlight.taken_flows
    assert {"join", "split", "procurement"} <= both.highlight.completed
    assert both.highlight.active == {"stage_check"}
    assert [(link.element_id, link.state) for link in both.call_activities] == [("stage_check", "active")]


def test_a_call_activity_opens_into_its_own_diagram_and_version(db, project):
    inside = step(db, project, seq_after(db, project, "technical_review"), path=["stage_check"])
    assert inside.definition.key == "audit_stage" and inside.process_id == "audit_stage"
    assert inside.highlight.completed == {"start", "technical_review"}
    assert inside.highlight.taken_flows == {"s1", "s2"}
    assert inside.highlight.active == {"security_review"}
    assert inside.variables["opinion"] == "同意"
    svg = render_svg(inside.file.content, filename=inside.file.name, process_id=inside.process_id,
                     highlight=inside.highlight)
    assert 'data-element-id="security_review"' in svg and 'data-element-id="submit_design"' not in svg
    with pytest.raises(Exception, match="has not run"):
        step(db, project, 1, path=["stage_check"])


def test_a_waiting_boundary_timer_is_shown_with_its_due_time_not_as_a_token(db, project):
    last = step(db, project)
    assert last.seq == last.shown_seq and last.problem is None
    assert last.highlight.active == {"declare_completion"}
    assert "stage_check" in last.highlight.completed and "f9" in last.highlight.taken_flows
    [wait] = last.waits
    assert wait.element_id == "completion_overdue" and wait.kind == "timer"
    started = datetime(2026, 3, 2, 11, 0, tzinfo=clock.local_zone())  # the clock moved 2 hours
    assert wait.value == (started + timedelta(days=30)).astimezone(timezone.utc)
    assert last.highlight.waiting == {"completion_overdue": "2026-04-01 11:00"}
    assert "completion_overdue" not in last.highlight.active


def test_the_drawing_of_a_step_carries_lanes_gateways_events_edges_and_the_highlights(db, project):
    shown = step(db, project, seq_after(db, project, "procurement"))
    svg = render_svg(shown.file.content, filename=shown.file.name, process_id=shown.process_id,
                     highlight=shown.highlight)
    root = etree.fromstring(svg.encode())
    classes = {g.get("data-element-id"): set(g.get("class", "").split())
               for g in root.iter(f"{SVG}g") if g.get("data-element-id")}
    assert "lane" in classes["Lane_unit"] and "lane" in classes["Lane_drc"] and "pool" in classes["Pool_audit_project"]
    assert {"gateway", "exclusiveGateway", "completed"} <= classes["gw_decision"]
    assert {"gateway", "parallelGateway"} <= classes["join"]
    assert {"event", "startEvent", "completed"} <= classes["start"]
    assert {"event", "boundaryEvent"} <= classes["completion_overdue"]
    assert {"flow", "sequenceFlow", "taken"} <= classes["f_revise"]
    assert "taken" not in classes["f_reject"] and "taken" not in classes["f6"]
    assert {"task", "userTask", "active"} <= classes["release_construction_funds"]
    assert "active" not in classes["procurement"] and "completed" in classes["procurement"]
    badges = {g.get("data-overlay-for") for g in root.iter(f"{SVG}g") if "token-badge" in (g.get("class") or "")}
    assert badges == {"release_construction_funds", "join"}


def test_the_picture_is_the_version_the_instance_ran_on(db, project):
    changed = (DIAGRAMS / "audit_project.bpmn").read_bytes().replace(
        "提交初步设计".encode(), "提交初步设计（第二版）".encode())
    with db.write() as s:
        services.deploy(s, [BundleFile("audit_project.bpmn", changed)], name="v2")
    shown = step(db, project, 1)
    assert shown.definition.version == 1
    assert shown.file.names["submit_design"] == "提交初步设计"


def test_an_incident_marks_its_element_failed_until_it_is_retried():
    events = [{"seq": 1, "type": "instance_started", "element_id": "start", "data": {}},
              {"seq": 2, "type": "incident", "element_id": "send_notice", "data": {"incident": 7}},
              {"seq": 3, "type": "timer_fired", "element_id": "t", "data": {"retry_of_incident": 7}}]
    assert audit.failed_elements(events, 1) == set()
    assert audit.failed_elements(events, 2) == {"send_notice"}
    assert audit.failed_elements(events, 3) == set()


def test_the_timeline_lists_what_each_event_changed_before_and_after(db, project):
    with db.read() as s:
        entries = audit.timeline(history.events_of(s, project))
    by_seq = {e.seq: e for e in entries}
    second = by_seq[seq_after(db, project, "submit_design", 2)]
    assert [(c.name, c.before, c.after) for c in second.changes] == [("budget", 100, 90)]
    assert second.actor == "edu_li" and second.element_id == "submit_design"
    approval = by_seq[seq_after(db, project, "design_approval", 2)]
    assert [(c.name, c.before, c.after) for c in approval.changes] == [("decision", "revise", "approve")]
    assert entries[0].at.tzinfo is not None and entries[-1].seq == len(entries)


def test_an_event_that_does_not_exist_is_refused_with_the_range(db, project):
    with db.read() as s:
        last = len(history.events_of(s, project))
        with pytest.raises(Exception, match=f"has no event {last + 1} .it has events 1 to {last}"):
            audit.step_at(s, project, last + 1)


def test_after_a_migration_the_picture_is_the_new_version(db, frozen_clock):
    from engine import migration

    deploy_files(db, "audit_project.bpmn", "audit_stage.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "audit_project", variables={"unit": "edu"}, user="edu_li").id
    complete(db, instance_id, "submit_design", {"budget": 100})
    changed = (DIAGRAMS / "audit_project.bpmn").read_bytes().replace("初步设计批复".encode(), "初设批复（新版）".encode())
    with db.write() as s:
        v2 = services.deploy(s, [BundleFile("audit_project.bpmn", changed)], name="v2").items[0]
        target = services.process_definition(s, "audit_project", v2.version).id
        migration.migrate(s, instance_id, target, user="admin_zhou")
    with db.read() as s:
        migrated = next(e["seq"] for e in history.events_of(s, instance_id) if e["type"] == "migrated")
    before, after = step(db, instance_id, migrated - 1), step(db, instance_id, migrated)
    assert (before.definition.version, before.file.names["design_approval"]) == (1, "初步设计批复")
    assert (after.definition.version, after.file.names["design_approval"]) == (2, "初设批复（新版）")
    assert after.highlight.active == {"design_approval"} and "f2" in after.highlight.taken_flows
