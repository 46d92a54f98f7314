"""Re-execute an instance from its definition versions and recorded inputs alone.

Never from stored snapshots: the state is rebuilt by running the same diagram with the same
inputs at the same clock times, and its digest is compared with the digest recorded after every
event. The first event where they differ is reported, as is a stored state that is not what the
history produces, and any column that pages and access checks read (the instance's variables,
status and open tasks; each ready inbox row, its candidates) that is not what the history says.
"""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import called, clock, history, instances, migration, runtime
from .errors import EngineError, ExecutionError
from .models import ProcessDefinition, ProcessInstance, TaskCandidate, UserTask

# Events that only describe what the inputs caused, or change nothing in the workflow state.
_DERIVED = {"decision_evaluated", "task_created", "task_cancelled", "instance_completed", "task_claimed", "task_unclaimed",
            "call_started", "status_changed", "incident", "comment_added", "document_added", "task_assigned", "task_delegated", "task_resolved",
            "task_reminded", "document_removed", "document_retagged", "task_candidates_changed"}


@dataclass
class ReplayStep:
    """The workflow as it was right after one event."""

    seq: int
    type: str
    workflow: object
    digest: str


@dataclass
class ReplayReport:
    instance_id: int
    ok: bool
    events: int
    problem: Optional[str] = None
    seq: Optional[int] = None
    steps: list[ReplayStep] = field(default_factory=list)
    reexecuted: int = 0  # inputs re-executed (one forward pass: each once)
    tasks_digested: int = 0  # tasks the state digests walked: the work of proving each state

    def __str__(self) -> str:
        if self.ok:
            return f"instance {self.instance_id}: replay OK ({self.events} events)"
        where = f" at event {self.seq}" if self.seq is not None else ""
        return f"instance {self.instance_id}: replay DIVERGES{where}: {self.problem}"


def _definition(session: Session, versions: Optional[dict], instance: ProcessInstance) -> instances.DefinitionRuntime:
    definition_id = instance.definition_id
    if versions and versions.get("process"):
        key, _, version = versions["process"].rpartition(":")
        found = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key,
                                                                  ProcessDefinition.version == int(version)))
        if found is None:
            raise EngineError(f"definition {versions['process']} named by the history does not exist")
        definition_id = found
    return instances.definition_runtime(session, definition_id)


def replay(session: Session, instance_id: int, *, keep_steps: bool = False,
           until_seq: Optional[int] = None, events: Optional[list[dict]] = None) -> ReplayReport:
    """Re-execute an instance event by event and compare the state digest after each input."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise EngineError(f"process instance {instance_id} does not exist")
    events = history.events_of(session, instance_id) if events is None else events
    report = ReplayReport(instance_id, True, len(events))
    workflow = None
    # Events of one transaction carry the digest of the state at its end: compare at the last.
    closes = [i + 1 == len(events) or (events[i + 1].get("digest"), events[i + 1]["at"]) != (e.get("digest"), e["at"])
              for i, e in enumerate(events)]
    inputs = [e["seq"] for e in events if e["type"] not in _DERIVED]
    for event, closes_transaction in zip(events, closes):
        if until_seq is not None and event["seq"] > until_seq:
            break
        kind, seq = event["type"], event["seq"]
        data = event.get("data") or {}
        at = datetime.fromisoformat(event["at"])
        # The calls an input starts are recorded after it, before the next input.
        next_input = inputs[index] if (index := bisect.bisect_right(inputs, seq)) < len(inputs) else None
        if workflow is not None:
            workflow.dalad_called.before = next_input
        try:
            with clock.frozen_at(at):
                if kind == "instance_started":
                    definition = _definition(session, event.get("versions"), instance)
                    workflow = runtime.new_workflow(definition.spec, definition.subprocess_specs)
                    instances.attach_resolvers(session, workflow, definition, replayed_decisions=[
                        e["data"] for e in events if e["type"] == "decision_evaluated"], replayed_calls=[
                        {**e["data"], "element_id": e["element_id"], "seq": e["seq"]}
                        for e in events if e["type"] == "call_started"])
                    workflow.dalad_called.before = next_input
                    if data.get("message"):
                        runtime.start(workflow, {}, start_element=event["element_id"])
                    elif data.get("signal"):
                        runtime.start(workflow, data.get("variables") or {}, start_element=event["element_id"],
                                      fire_start=True)
                    else:
                        runtime.start(workflow, data.get("variables") or {}, start_element=event["element_id"],
                                      fire_start=bool(data.get("timer")))
                elif workflow is None:
                    return _diverged(report, seq, f"'{kind}' comes before the instance started")
                elif kind == "task_completed":
                    task = _ready_task(workflow, event["element_id"], data.get("path"))
                    if task is None:
                        return _diverged(report, seq, f"task '{event['element_id']}' is not ready in the replay")
                    runtime.complete_user_task(workflow, str(task.id), data.get("values") or {})
                elif kind in ("external_task_completed", "external_task_bpmn_error"):
                    task = runtime.task_at(workflow, data.get("path") or [])
                    if task is None or task.task_spec.bpmn_id != event["element_id"]:
                        return _diverged(report, seq, f"external task '{event['element_id']}' is not waiting in the replay")
                    if kind == "external_task_completed":
                        runtime.complete_external_task(workflow, str(task.id), data.get("variables") or {})
                    else:
                        runtime.throw_bpmn_error(workflow, str(task.id), data["code"], data.get("message"),
                                                 data.get("variables") or {})
                elif kind == "job_executed":
                    task = runtime.task_at(workflow, data.get("path") or [])
                    if task is None or task.task_spec.bpmn_id != event["element_id"]:
                        return _diverged(report, seq, f"job at '{event['element_id']}' is not pending in the replay")
                    runtime.run_job(workflow, str(task.id), data["phase"])
                elif kind == "timer_fired":
                    if data.get("early"):  # executed by hand before its due date
                        runtime.bring_timer_forward(workflow, data["early"])
                    runtime.run_engine(workflow)
                elif kind == "job_due_date_set":  # an administrator set when a timer fires
                    runtime.move_timer(workflow, data["place"], datetime.fromisoformat(data["due"]), data["cascade"])
                elif kind == "message_correlated":
                    runtime.catch_message(workflow, data["message"], data.get("variables") or {},
                                          call=runtime.message_call(workflow, data), targets=data.get("targets"))
                elif kind == "signal_received":
                    runtime.catch_signal(workflow, data["signal"], data.get("variables") or {})
                elif kind == "task_withdrawn":
                    task = runtime.task_at(workflow, data.get("path") or [])
                    if task is None or task.task_spec.bpmn_id != event["element_id"]:
                        return _diverged(report, seq, f"task '{event['element_id']}' is not in the replay to take back")
                    runtime.withdraw_user_task(workflow, task, data.get("values") or [])
                elif kind == "variables_changed" and "called" in data:  # through a task: its own instance
                    runtime.set_call_variables(workflow, runtime.message_call(workflow, data), data["variables"] or {})
                elif kind == "variables_changed":
                    runtime.set_variables(workflow, data.get("variables") or {})
                elif kind == "migrated":
                    workflow = migration.replay_migration(session, workflow, data)
                elif kind not in _DERIVED:
                    return _diverged(report, seq, f"unknown event type '{kind}'")
        except ExecutionError as exc:
            return _diverged(report, seq, f"re-execution failed: {exc}")
        if workflow is None:
            continue
        workflow.__dict__.pop("dalad_calls", None)  # what a save would read (engine/called.py): nothing here
        if kind not in _DERIVED:
            report.reexecuted += 1
        checked = closes_transaction and event.get("digest")
        if not (checked or keep_steps):
            continue  # the digest is recorded for the state at the transaction's end
        report.tasks_digested += len(workflow.tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values())
        digest = runtime.state_digest(workflow)
        if checked and digest != event["digest"]:
            return _diverged(report, seq, f"state after '{kind}' differs from the recorded state")
        if keep_steps:
            report.steps.append(ReplayStep(seq, kind, workflow, digest))
            if kind not in _DERIVED:
                resolvers = workflow.dalad_decisions, workflow.dalad_called
                workflow = runtime.load_state(runtime.dump_state(workflow), workflow.spec,
                                              workflow.subprocess_specs)
                workflow.dalad_decisions, workflow.dalad_called = resolvers
    if until_seq is None and workflow is not None and instance.state:
        stored = instances.stored_workflow(session, instance)
        if runtime.state_digest(stored) != runtime.state_digest(workflow):
            return _diverged(report, None, "the stored instance state is not what its history produces "
                                           "(state edited outside the engine)")
        problem = _stored_columns_problem(session, instance, workflow, events)
        if problem is not None:
            return _diverged(report, None, f"{problem} (edited outside the engine)")
    return report


def _stored_columns_problem(session: Session, instance: ProcessInstance, workflow, events: list) -> Optional[str]:
    """What the stored columns say that the re-executed workflow and the signed events do not."""
    snap = runtime.snapshot(workflow)
    if runtime.plain(instances.visible_variables(workflow, snap.ready)) != instance.variables:
        return "the stored variables are not what the history produces"
    if workflow.completed != (instance.status == "completed") or (
            instance.status in ("running", "waiting") and instance.status != ("running" if snap.ready else "waiting")):
        return f"the stored status '{instance.status}' is not what the history produces"
    ready = sorted(t.task_spec.bpmn_id for t in snap.ready)  # task uuids are new in every execution
    if instance.status == "terminated":
        ready = []  # terminating cancelled them (the state stays as it was)
    open_tasks = instance.open_tasks or {}
    if sorted(entry[1] for entry in open_tasks.values()) != ready:
        return "the stored open tasks are not the tasks ready in the re-execution"
    signed_groups, signed_assignee = {}, {}  # task row id -> as created, claimed, handed over, changed
    for e in events:
        data = e.get("data") or {}
        task_id, kind = data.get("task"), e["type"]
        if kind == "task_created":
            signed_groups[task_id], signed_assignee[task_id] = data.get("candidate_groups") or [], data.get("assignee")
        elif kind == "task_candidates_changed":
            signed_groups[task_id] = data.get("groups") or []
        elif kind in ("task_claimed", "task_unclaimed", "task_assigned"):
            signed_assignee[task_id] = data.get("assignee") if kind == "task_claimed" else data.get("to")
    rows = session.scalars(select(UserTask).where(UserTask.instance_id == instance.id, UserTask.state == "ready"))
    inbox = {row.task_uuid: row for row in rows}
    if {uuid: [row.id, row.element_id] for uuid, row in inbox.items()} != open_tasks:
        return "the inbox rows are not the instance's open tasks"
    for row in inbox.values():
        if sorted(row.candidate_groups or []) != sorted(signed_groups.get(row.id) or []):
            return f"the candidate groups of task {row.id} are not those the history recorded"
        if row.assignee != signed_assignee.get(row.id):
            return f"the assignee of task {row.id} is not the one the history recorded"
        indexed = sorted((c.kind, c.value) for c in session.scalars(
            select(TaskCandidate).where(TaskCandidate.task_id == row.id)))
        if indexed != sorted([("group", g) for g in row.candidate_groups or []]
                             + [("user", u) for u in row.candidate_users or []]):
            return f"the candidates indexed for task {row.id} are not the task's"
    return called.stored_calls_problem(session, instance, workflow, snap, inbox)


def _ready_task(workflow, element_id: str, path: Optional[list]):
    task = runtime.task_at(workflow, path) if path is not None else None
    if task is not None and task.task_spec.bpmn_id == element_id and task.state == TaskState.READY:
        return task
    return None


def _diverged(report: ReplayReport, seq: Optional[int], problem: str) -> ReplayReport:
    report.ok, report.seq, report.problem = False, seq, problem
    return report


def verify(session: Session, instance_id: int) -> tuple[history.ChainReport, Optional[ReplayReport]]:
    """Check an instance's chain, then re-execute it; the replay runs only on an intact chain.
    A called process's instance is proved with the instance whose state runs it (its root)."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise EngineError(f"process instance {instance_id} does not exist")
    if instance.root_instance_id is not None:
        return verify(session, instance.root_instance_id)
    rows = history.chain_rows(session, f"instance:{instance_id}")  # read once: checked, then re-executed
    chain = history.verify_instance_chain(session, instance, rows)
    if not chain.ok:
        return chain, None
    return chain, replay(session, instance_id, events=[json.loads(row.body) for row in rows])
