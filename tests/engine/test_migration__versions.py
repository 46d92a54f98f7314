"""Migration of running instances between versions: timers keep their due time, waiting tasks
keep their data, row and draft, the instance goes on along the new version's path and replays;
what would break an instance is refused, and a refused or failed migration leaves it on its
version, loadable."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock, history, instances, migration, replay, runtime, services
from engine.definitions import BundleFile
from engine.migration import MigrationRefused
from engine.models import HistoryEvent, ProcessInstance, TaskDraft, Timer, UserTask

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'id="defs" targetNamespace="http://dalad.test">\n<bpmn:process id="permit" isExecutable="true">\n')
TAIL = "</bpmn:process>\n</bpmn:definitions>\n"


def timer(duration: str) -> str:
    return (f'<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{duration}'
            '</bpmn:timeDuration></bpmn:timerEventDefinition>')


def flows(*pairs: str) -> str:
    return "".join(f'<bpmn:sequenceFlow id="f_{a}_{b}" sourceRef="{a}" targetRef="{b}"/>\n'
                   for a, b in (p.split(">") for p in pairs))


def diagram(body: str) -> bytes:
    return (HEAD + body + TAIL).encode()


# v1: 提交 (a user task) with a non-interrupting reminder timer after two days.
V1_BODY = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="submit" name="提交" camunda:candidateGroups="unit:edu"/>'
    f'<bpmn:boundaryEvent id="overdue" name="逾期提醒" attachedToRef="submit" cancelActivity="false">{timer("P2D")}'
    '</bpmn:boundaryEvent>'
    '<bpmn:userTask id="remind" name="督办" camunda:candidateGroups="office"/>'
    '<bpmn:endEvent id="end"/><bpmn:endEvent id="end_remind"/>'
    + flows("start>submit", "submit>end", "overdue>remind", "remind>end_remind"))
V1 = diagram(V1_BODY)
# v2: 提交 renamed 提交材料, a review by drc added after it, the reminder now after five days.
V2 = diagram(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="submit" name="提交材料" camunda:candidateGroups="unit:edu"/>'
    f'<bpmn:boundaryEvent id="overdue" name="逾期提醒" attachedToRef="submit" cancelActivity="false">{timer("P5D")}'
    '</bpmn:boundaryEvent>'
    '<bpmn:userTask id="remind" name="督办" camunda:candidateGroups="office"/>'
    '<bpmn:userTask id="review" name="发改委审核" camunda:candidateGroups="drc"/>'
    '<bpmn:endEvent id="end"/><bpmn:endEvent id="end_remind"/>'
    + flows("start>submit", "submit>review", "review>end", "overdue>remind", "remind>end_remind"))
# v3: the submission task has a new id (submit_docs); the reminder stays on it.
V3 = diagram(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="submit_docs" name="提交材料" camunda:candidateGroups="unit:edu"/>'
    f'<bpmn:boundaryEvent id="overdue" name="逾期提醒" attachedToRef="submit_docs" cancelActivity="false">{timer("P2D")}'
    '</bpmn:boundaryEvent>'
    '<bpmn:userTask id="remind" name="督办" camunda:candidateGroups="office"/>'
    '<bpmn:endEvent id="end"/><bpmn:endEvent id="end_remind"/>'
    + flows("start>submit_docs", "submit_docs>end", "overdue>remind", "remind>end_remind"))


def deploy(db, content: bytes) -> int:
    with db.write() as s:
        result = services.deploy(s, [BundleFile("permit.bpmn", content)], name="permit", user="admin")
        return next(i.id for i in result.items if i.key == "permit")


def start(db, key: str = "P-1") -> int:
    with db.write() as s:
        return services.start_process(s, "permit", business_key=key, user="edu_li").id


def ready(db, instance_id: int) -> list[UserTask]:
    with db.read() as s:
        return services.tasks(s, instance_id=instance_id)


def complete(db, task_id: int, data: dict | None = None) -> None:
    with db.write() as s:
        services.complete_task(s, task_id, user="someone", data=data or {}, check_access=False)


def row_of(db, instance_id: int) -> ProcessInstance:
    with db.read() as s:
        row = s.get(ProcessInstance, instance_id)
        row.state  # noqa: B018 - a deferred column, read while the session is open
        return row


def waiting_timers(db, instance_id: int) -> list[Timer]:
    with db.read() as s:
        return list(s.scalars(select(Timer).where(Timer.instance_id == instance_id, Timer.state == "waiting")))


def event_values(db, instance_id: int) -> dict:
    """The due time SpiffWorkflow keeps in each waiting timer task, by element."""
    with db.read() as s:
        row = s.get(ProcessInstance, instance_id)
        definition = instances.definition_runtime(s, row.definition_id)
        workflow = runtime.load_state(row.state, definition.spec, definition.subprocess_specs)
    return {t.task_spec.bpmn_id: t.internal_data.get("event_value") for t in workflow.get_tasks(state=8)}


def verify(db, instance_id: int) -> None:
    with db.read() as s:
        chain, report = replay.verify(s, instance_id)
    assert chain.ok, chain
    assert report.ok, report


@pytest.fixture
def permit(db, frozen_clock):
    """v1 deployed and an instance waiting at 提交, claimed by edu_li with a draft saved."""
    v1 = deploy(db, V1)
    instance_id = start(db)
    [task] = ready(db, instance_id)
    with db.write() as s:
        services.claim(s, task.id, user="edu_li", check_access=False)
        s.add(TaskDraft(task_id=task.id, user_name="edu_li", data={"title": "草稿"}, updated_at=clock.now()))
    frozen_clock.advance(timedelta(hours=5))
    return {"v1": v1, "instance": instance_id, "task": task.id}


def test_migration_keeps_the_timer_due_time_and_the_waiting_task(db, permit, frozen_clock):
    v2 = deploy(db, V2)
    [timer_before] = waiting_timers(db, permit["instance"])
    values_before = event_values(db, permit["instance"])
    with db.read() as s:
        [check] = migration.plan_migration(s, [permit["instance"]], v2)
    assert check.can_move and check.reasons == []
    assert {a.element_id for a in check.active} == {"submit", "overdue"}
    assert [n.kind for n in check.notes] == ["timer"]  # v2 defines five days: this instance keeps its two

    with db.write() as s:
        migration.migrate(s, permit["instance"], v2, user="admin_zhou")

    [timer_after] = waiting_timers(db, permit["instance"])
    assert (timer_after.id, timer_after.due_at, timer_after.task_uuid) == \
        (timer_before.id, timer_before.due_at, timer_before.task_uuid)
    assert clock.aware(timer_after.due_at) == clock.aware(timer_before.due_at) == \
        clock.now() - timedelta(hours=5) + timedelta(days=2)
    assert timer_after.definition_id == v2
    assert event_values(db, permit["instance"]) == values_before
    with db.read() as s:
        task = s.get(UserTask, permit["task"])
        draft = s.scalars(select(TaskDraft).where(TaskDraft.task_id == permit["task"])).one()
        row = s.get(ProcessInstance, permit["instance"])
        assert (task.state, task.assignee, task.name) == ("ready", "edu_li", "提交材料")
        assert draft.data == {"title": "草稿"}
        assert row.definition_id == v2 and row.status == "running"
        [event] = [e for e in history.events_of(s, row.id) if e["type"] == "migrated"]
    assert event["actor"] == "admin_zhou"
    assert event["data"]["from"] == "permit:1" and event["data"]["to"] == "permit:2"
    assert event["data"]["mapping"] == {} and event["versions"] == {"process": "permit:2"}
    verify(db, permit["instance"])

    complete(db, permit["task"], {"title": "材料"})
    [review] = ready(db, permit["instance"])
    assert review.element_id == "review"  # v2's new step
    complete(db, review.id)
    assert row_of(db, permit["instance"]).status == "completed"
    verify(db, permit["instance"])


def test_migrated_timer_fires_at_its_own_due_time_on_the_new_path(db, permit, frozen_clock):
    v2 = deploy(db, V2)
    with db.write() as s:
        migration.migrate(s, permit["instance"], v2, user="admin_zhou")
    frozen_clock.advance(timedelta(days=2) - timedelta(hours=5) - timedelta(minutes=1))
    assert services.fire_due_timers(db) == 0
    frozen_clock.advance(timedelta(minutes=2))
    assert services.fire_due_timers(db) == 1
    assert sorted(t.element_id for t in ready(db, permit["instance"])) == ["remind", "submit"]
    verify(db, permit["instance"])


def test_the_workflow_cache_does_not_serve_the_old_version(db, permit):
    v2 = deploy(db, V2)
    [task] = ready(db, permit["instance"])
    complete_before = row_of(db, permit["instance"]).revision
    with db.write() as s:  # the instance is loaded (and cached) just before it moves
        instances.load(s, permit["instance"])
    with db.write() as s:
        migration.migrate(s, permit["instance"], v2, user="admin_zhou")
    assert row_of(db, permit["instance"]).revision == complete_before + 1
    complete(db, task.id)
    assert [t.element_id for t in ready(db, permit["instance"])] == ["review"]


def test_removing_the_active_task_is_refused_unless_it_is_mapped(db, permit):
    v3 = deploy(db, V3)
    before = row_of(db, permit["instance"])
    with db.read() as s:
        [check] = migration.plan_migration(s, [permit["instance"]], v3)
    assert not check.can_move
    assert check.unmapped == ["submit"]
    assert "'submit' is not in the target version" in str(check.reasons[0])
    with db.write() as s, pytest.raises(MigrationRefused, match="submit"):
        migration.migrate(s, permit["instance"], v3, user="admin_zhou")
    after = row_of(db, permit["instance"])
    assert (after.definition_id, after.revision, after.history_count) == \
        (before.definition_id, before.revision, before.history_count)

    mapping = {"submit": "submit_docs"}
    with db.read() as s:
        [check] = migration.plan_migration(s, [permit["instance"]], v3, mapping)
    assert check.can_move and check.mapped == {"submit": "submit_docs"}
    with db.write() as s:
        migration.migrate(s, permit["instance"], v3, mapping, user="admin_zhou")
    [task] = ready(db, permit["instance"])
    assert (task.id, task.element_id, task.assignee) == (permit["task"], "submit_docs", "edu_li")
    assert [t.element_id for t in waiting_timers(db, permit["instance"])] == ["overdue"]
    verify(db, permit["instance"])
    complete(db, task.id)
    assert row_of(db, permit["instance"]).status == "completed"
    verify(db, permit["instance"])


def test_a_mapping_onto_another_kind_of_element_or_nowhere_is_refused(db, permit):
    v3 = deploy(db, V3)
    with db.read() as s:
        [kind] = migration.plan_migration(s, [permit["instance"]], v3, {"submit": "remind_end"})
        [other] = migration.plan_migration(s, [permit["instance"]], v3, {"submit": "end"})
    assert not kind.can_move and kind.reasons[0].kind == "mapping"
    assert not other.can_move and other.reasons[0].kind == "kind"
    assert "UserTask" in str(other.reasons[0]) and "EndEvent" in str(other.reasons[0])
    with db.write() as s, pytest.raises(MigrationRefused):
        migration.migrate(s, permit["instance"], v3, {"submit": "end"}, user="admin_zhou")


def test_finished_instances_the_same_version_and_other_processes_are_refused(db, permit):
    with db.read() as s:
        [same] = migration.plan_migration(s, [permit["instance"]], permit["v1"])
    assert not same.can_move and same.reasons[0].kind == "version"
    with db.write() as s:
        services.terminate(s, permit["instance"], user="admin_zhou", reason="撤销")
    v2 = deploy(db, V2)
    with db.read() as s:
        [done] = migration.plan_migration(s, [permit["instance"]], v2)
    assert not done.can_move and done.reasons[0].kind == "status"


def test_each_instance_moves_in_its_own_transaction(db, permit):
    """A refused instance stays on v1 while the others move; it still loads and runs on v1."""
    other = start(db, "P-2")
    [other_task] = ready(db, other)
    complete(db, other_task.id)  # finished: nothing to move
    third = start(db, "P-3")
    v2 = deploy(db, V2)
    outcomes = migration.migrate_each(db, [permit["instance"], other, third], v2, user="admin_zhou")
    assert [(o.instance_id, o.migrated) for o in outcomes] == [(permit["instance"], True), (other, False),
                                                              (third, True)]
    assert "completed" in outcomes[1].error
    assert row_of(db, other).definition_id == permit["v1"]
    assert row_of(db, third).definition_id == v2


def test_a_migration_that_fails_midway_leaves_the_instance_loadable_on_v1(db, permit, monkeypatch):
    second = start(db, "P-2")
    v2 = deploy(db, V2)
    before = row_of(db, second)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(migration, "_retarget_rows", fail)  # after the new state was written
    with pytest.raises(RuntimeError):
        migration.migrate_each(db, [second], v2, user="admin_zhou")
    monkeypatch.undo()
    after = row_of(db, second)
    assert (after.definition_id, after.revision, after.history_count, after.state) == \
        (before.definition_id, before.revision, before.history_count, before.state)
    with db.read() as s:
        assert not s.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == second,
                                                        HistoryEvent.type == "migrated")).first()
    [task] = ready(db, second)
    complete(db, task.id)  # on v1 the submission ends the process: no review step
    assert row_of(db, second).status == "completed"
    verify(db, second)


# --- structures the engine relies on -----------------------------------------------------------

PARALLEL_V1 = diagram(
    '<bpmn:startEvent id="start"/><bpmn:parallelGateway id="split"/>'
    '<bpmn:userTask id="tech" name="技术审查"/><bpmn:userTask id="security" name="安全审查"/>'
    '<bpmn:parallelGateway id="join"/><bpmn:endEvent id="end"/>'
    + flows("start>split", "split>tech", "split>security", "tech>join", "security>join", "join>end"))
PARALLEL_V2 = diagram(  # a countersignature inserted between the technical review and the join
    '<bpmn:startEvent id="start"/><bpmn:parallelGateway id="split"/>'
    '<bpmn:userTask id="tech" name="技术审查"/><bpmn:userTask id="tech_sign" name="会签"/>'
    '<bpmn:userTask id="security" name="安全审查"/>'
    '<bpmn:parallelGateway id="join"/><bpmn:endEvent id="end"/>'
    + flows("start>split", "split>tech", "split>security", "tech>tech_sign", "tech_sign>join", "security>join",
            "join>end"))


def test_a_join_waiting_for_branches_the_new_version_connects_differently_is_refused(db, frozen_clock):
    deploy(db, PARALLEL_V1)
    waiting, fresh = start(db, "J-1"), start(db, "J-2")
    tech = next(t for t in ready(db, waiting) if t.element_id == "tech")
    complete(db, tech.id)  # the join now waits, having seen the branch from 'tech'
    v2 = deploy(db, PARALLEL_V2)
    with db.read() as s:
        refused, movable = migration.plan_migration(s, [waiting, fresh], v2)
    assert not refused.can_move and [r.kind for r in refused.reasons] == ["join"]
    assert movable.can_move
    with db.write() as s:
        migration.migrate(s, fresh, v2, user="admin_zhou")
    for task in ready(db, fresh):
        complete(db, task.id)
    assert [t.element_id for t in ready(db, fresh)] == ["tech_sign"]
    complete(db, ready(db, fresh)[0].id)
    assert row_of(db, fresh).status == "completed"
    verify(db, fresh)


BOUNDARY_ADDED = diagram(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="submit" name="提交" camunda:candidateGroups="unit:edu"/>'
    '<bpmn:boundaryEvent id="overdue" attachedToRef="submit">' + timer("P1D") + '</bpmn:boundaryEvent>'
    '<bpmn:endEvent id="end"/><bpmn:endEvent id="end_late"/>'
    + flows("start>submit", "submit>end", "overdue>end_late"))
PLAIN = diagram('<bpmn:startEvent id="start"/><bpmn:userTask id="submit" name="提交"/><bpmn:endEvent id="end"/>'
                + flows("start>submit", "submit>end"))


def test_a_boundary_event_added_to_a_task_already_waiting_is_refused(db, frozen_clock):
    deploy(db, PLAIN)
    instance_id = start(db)
    v2 = deploy(db, BOUNDARY_ADDED)
    with db.read() as s:
        [check] = migration.plan_migration(s, [instance_id], v2)
    assert not check.can_move and [r.kind for r in check.reasons] == ["structure"]
    assert check.reasons[0].element_id == "submit"


STEPS_V1 = diagram('<bpmn:startEvent id="start"/><bpmn:userTask id="draft" name="起草"/>'
                   '<bpmn:userTask id="approve" name="审批"/><bpmn:endEvent id="end"/>'
                   + flows("start>draft", "draft>approve", "approve>end"))
STEPS_V2 = diagram('<bpmn:startEvent id="start"/><bpmn:userTask id="approve" name="审批"/><bpmn:endEvent id="end"/>'
                   + flows("start>approve", "approve>end"))


def test_a_finished_step_removed_by_the_new_version_leaves_the_state_not_the_history(db, frozen_clock):
    deploy(db, STEPS_V1)
    instance_id = start(db)
    complete(db, ready(db, instance_id)[0].id, {"text": "初稿"})
    v2 = deploy(db, STEPS_V2)
    with db.read() as s:
        [check] = migration.plan_migration(s, [instance_id], v2)
    assert check.can_move and [(n.kind, n.element_id) for n in check.notes] == [("dropped", "draft")]
    with db.write() as s:
        migration.migrate(s, instance_id, v2, user="admin_zhou")
    with db.read() as s:
        assert "draft" in {e["element_id"] for e in history.events_of(s, instance_id)}
    [approve] = ready(db, instance_id)
    complete(db, approve.id)
    row = row_of(db, instance_id)
    assert row.status == "completed" and row.variables["text"] == "初稿"
    verify(db, instance_id)


MULTI_V1 = diagram(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="entry" name="各部门填报" camunda:candidateGroups="office">'
    '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${departments}" camunda:elementVariable="department"/>'
    '</bpmn:userTask><bpmn:endEvent id="end"/>' + flows("start>entry", "entry>end"))
MULTI_V2 = diagram(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="entry" name="各部门填报" camunda:candidateGroups="office">'
    '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${departments}" camunda:elementVariable="department"/>'
    '</bpmn:userTask><bpmn:userTask id="summary" name="汇总"/><bpmn:endEvent id="end"/>'
    + flows("start>entry", "entry>summary", "summary>end"))


def test_a_multi_instance_task_half_done_moves_and_collects_every_answer(db, frozen_clock):
    deploy(db, MULTI_V1)
    with db.write() as s:
        instance_id = services.start_process(s, "permit", variables={"departments": ["edu", "health", "drc"]}).id
    first = ready(db, instance_id)[0]
    complete(db, first.id, {"amount": 1})
    v2 = deploy(db, MULTI_V2)
    with db.write() as s:
        migration.migrate(s, instance_id, v2, user="admin_zhou")
    for n, task in enumerate(ready(db, instance_id), start=2):
        complete(db, task.id, {"amount": n})
    [summary] = ready(db, instance_id)
    assert summary.element_id == "summary"
    assert sorted(r["amount"] for r in row_of(db, instance_id).variables["entry_results"]) == [1, 2, 3]
    verify(db, instance_id)



# v1 with an SLA: a non-interrupting timer event subprocess chases the submission after three days.
V_SLA = diagram(
    V1_BODY + '<bpmn:subProcess id="sla" triggeredByEvent="true">'
    f'<bpmn:startEvent id="sla_due" isInterrupting="false">{timer("P3D")}</bpmn:startEvent>'
    '<bpmn:userTask id="chase" name="催办" camunda:candidateGroups="office"/><bpmn:endEvent id="sla_end"/>'
    + flows("sla_due>chase", "chase>sla_end") + '</bpmn:subProcess>')


def test_a_timer_event_subprocess_the_target_adds_is_armed_at_the_migration_and_one_it_lacks_goes(
        db, permit, frozen_clock):
    sla = deploy(db, V_SLA)
    with db.write() as s:
        migration.migrate(s, permit["instance"], sla, user="admin_zhou")
    due = {t.element_id: clock.aware(t.due_at) for t in waiting_timers(db, permit["instance"])}
    assert due == {"overdue": clock.now() - timedelta(hours=5) + timedelta(days=2),
                   "sla_due": clock.now() + timedelta(days=3)}  # from the migration on
    frozen_clock.advance(timedelta(days=3))
    services.fire_due_timers(db)
    assert sorted(t.element_id for t in ready(db, permit["instance"])) == ["chase", "remind", "submit"]
    assert waiting_timers(db, permit["instance"]) == []
    verify(db, permit["instance"])
    other = start(db, "P-2")  # on the SLA version
    assert {t.element_id for t in waiting_timers(db, other)} == {"overdue", "sla_due"}
    v2 = deploy(db, V2)
    with db.write() as s:
        migration.migrate(s, other, v2, user="admin_zhou")
    assert {t.element_id for t in waiting_timers(db, other)} == {"overdue"}
    verify(db, other)


def _reviewed(inner: str, inner_flows: tuple) -> bytes:
    """permit with its review as an embedded subprocess."""
    return diagram('<bpmn:startEvent id="start"/><bpmn:subProcess id="review"><bpmn:startEvent id="r_start"/>'
                   + inner + '<bpmn:endEvent id="r_end"/>' + flows(*inner_flows) + '</bpmn:subProcess>'
                   '<bpmn:endEvent id="end"/>' + flows("start>review", "review>end"))


def test_an_instance_waiting_inside_an_embedded_subprocess_moves_to_the_new_subprocess(db):
    """A task inside an embedded subprocess: the new version renames it and adds a step after it
    in the subprocess. (The migration was refused as broken: the top's walk re-predicted the
    subprocess's own tasks as the top's.)"""
    deploy(db, _reviewed('<bpmn:userTask id="check" name="审核" camunda:candidateGroups="drc"/>',
                         ("r_start>check", "check>r_end")))
    with db.write() as s:
        instance_id = services.start_process(s, "permit").id
    [waiting] = ready(db, instance_id)
    v2 = deploy(db, _reviewed('<bpmn:userTask id="check" name="审核材料" camunda:candidateGroups="drc"/>'
                              '<bpmn:userTask id="sign" name="签发" camunda:candidateGroups="office"/>',
                              ("r_start>check", "check>sign", "sign>r_end")))
    with db.write() as s:
        migration.migrate(s, instance_id, v2, user="admin_zhou")
    [moved] = ready(db, instance_id)
    assert (moved.id, moved.name, moved.element_id) == (waiting.id, "审核材料", "check")  # the same task, renamed
    complete(db, moved.id, {})
    [signing] = ready(db, instance_id)
    assert signing.element_id == "sign"
    complete(db, signing.id, {})
    assert row_of(db, instance_id).status == "completed"
    verify(db, instance_id)


def test_a_timer_event_subprocess_the_target_adds_inside_a_running_subprocess_is_armed_there(db, frozen_clock):
    """The target version adds an SLA timer event subprocess inside the embedded subprocess the
    instance waits in: it is armed at the migration, in that subprocess's scope, and fires there."""
    check = '<bpmn:userTask id="check" name="审核" camunda:candidateGroups="drc"/>'
    deploy(db, _reviewed(check, ("r_start>check", "check>r_end")))
    with db.write() as s:
        instance_id = services.start_process(s, "permit").id
    sla = ('<bpmn:subProcess id="review_sla" triggeredByEvent="true">'
           f'<bpmn:startEvent id="review_due" isInterrupting="false">{timer("P3D")}</bpmn:startEvent>'
           '<bpmn:userTask id="chase" name="催办" camunda:candidateGroups="office"/><bpmn:endEvent id="sla_end"/>'
           + flows("review_due>chase", "chase>sla_end") + '</bpmn:subProcess>')
    v2 = deploy(db, _reviewed(check + sla, ("r_start>check", "check>r_end")))
    assert waiting_timers(db, instance_id) == []
    with db.write() as s:
        migration.migrate(s, instance_id, v2, user="admin_zhou")
    [armed] = waiting_timers(db, instance_id)
    assert (armed.element_id, clock.aware(armed.due_at)) == ("review_due", clock.now() + timedelta(days=3))
    frozen_clock.advance(timedelta(days=3))
    services.fire_due_timers(db)
    assert sorted(t.element_id for t in ready(db, instance_id)) == ["chase", "check"]
    for task in ready(db, instance_id):
        complete(db, task.id, {})
    assert row_of(db, instance_id).status == "completed" and waiting_timers(db, instance_id) == []
    verify(db, instance_id)


def test_a_migrated_project_is_listed_under_the_stage_its_renamed_task_names(db, frozen_clock):
    """The stage kept on the instance row (engine/project_columns.py) follows a migration that
    renames the task it waits at: the project list finds it under that stage."""
    from engine import projects
    deploy(db, V1)
    instance_id = start(db)
    v2 = deploy(db, diagram(V1_BODY.replace('name="提交"', 'name="提交可行性研究报告"')))
    office = projects.Viewer("office_chen", ("office",), sees_all=True)
    feasibility = projects.ProjectFilter(stage="feasibility")
    with db.read() as s:
        assert projects.project(s, office, instance_id).stage is None
        assert projects.page_of(s, office, feasibility, 1, 10).rows == []
    with db.write() as s:
        migration.migrate(s, instance_id, v2, user="admin_zhou")
    with db.read() as s:
        assert projects.project(s, office, instance_id).stage == "feasibility"
        assert [p.instance_id for p in projects.page_of(s, office, feasibility, 1, 10).rows] == [instance_id]
