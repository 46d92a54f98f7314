"""A called process as a process instance of its own.

A call activity's process runs inside the state of the instance at the root of the calls: one
lock, one history chain, one replay for the whole tree, as before. Each call also has a
`process_instance` row of its own — the called definition version (found when the call starts:
`CallResolver`), `super_instance_id` (the
caller), `root_instance_id` (whose state runs it), `call_task` (the call activity's task there),
and the called process's variables — that the REST API, the inbox and the pages name for the
called process's tasks. `sync` keeps the rows in step at each save of the root, in the same
transaction; its own `state` stays empty and its history is the root's chain.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Optional
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import clock, history, instances, runtime
from .errors import ExecutionError, NotFound
from .models import ProcessDefinition, ProcessInstance
from .specs import VERSION_MARK, call_scope, called_version, is_call, process_key

ENDED = ("completed", "terminated")


class CallResolver:
    """Finds the version of the called process each call runs, when the call starts, as Camunda 7
    resolves `camunda:calledElementBinding`: `latest` (the default) the latest version deployed
    now, `deployment` the one deployed with the calling process, `version` / `versionTag` the one
    pinned. Live, it records each for the history (a `call_started` event); replaying, it takes
    the versions recorded, in order. A call whose start the history does not record (it started
    before the engine resolved versions at the call) runs the version the caller's spec bundles.

    A called version runs under the spec name "<process id>@<definition id>" (specs.called_version):
    the state names it, so a call keeps its version until it ends."""

    def __init__(self, session: Session, definition, replayed: Optional[list] = None):
        self.session, self.definition, self.replayed = session, definition, replayed
        self.records: list[dict] = []
        self.found: dict = {}  # (process id, binding, caller id) -> version: the calls of one multi-instance step
        self.before: Optional[int] = None  # replaying: the seq of the input after the one re-executed

    def resolve(self, my_task) -> str:
        """The spec name the call of `my_task` runs; the specs of that version are added to the
        workflow's own."""
        task_spec, top = my_task.task_spec, my_task.workflow.top_workflow
        process_id = task_spec.spec
        if self.replayed is not None:
            recorded = self.replayed[0] if self.replayed else None
            if recorded is None or recorded["element_id"] != task_spec.bpmn_id or \
                    recorded["process"].rpartition(":")[0] != process_id or \
                    (self.before is not None and recorded["seq"] > self.before):
                return process_id  # not recorded for this input: started before versions were resolved at the call
            self.replayed.pop(0)
            found = self.session.execute(_VERSION.where(
                ProcessDefinition.key == process_id,
                ProcessDefinition.version == int(recorded["process"].rpartition(":")[2]))).first()
            if found is None:
                raise ExecutionError(f"called process {recorded['process']} named by the history does not exist",
                                     element_id=task_spec.bpmn_id)
        else:
            caller = self._caller(my_task)
            asked = (process_id, json.dumps((task_spec.extensions or {})["dalad_call"].get("binding"), sort_keys=True),
                     caller.id)
            if asked not in self.found:
                self.found[asked] = self._version(process_id, task_spec, caller)
            found = self.found[asked]
        name = f"{process_id}{VERSION_MARK}{found.id}"
        if name not in top.subprocess_specs:
            top.subprocess_specs = runtime.with_called_specs(top.subprocess_specs,
                                                             instances.called_specs(self.session, found.id))
        self.records.append({"element_id": task_spec.bpmn_id, "process": f"{found.key}:{found.version}"})
        return name

    def _caller(self, my_task):
        """The definition version whose process holds the call activity."""
        scope = call_scope(my_task.workflow)
        if scope is None:
            return self.definition
        name = my_task.workflow.top_workflow.subprocesses[UUID(scope)].spec.name
        version = called_version(name)
        if version is not None:
            return instances.definition_runtime(self.session, version)
        return called_definition(self.session, self.definition, process_key(name))

    def _version(self, process_id: str, task_spec, caller):
        config = (task_spec.extensions or {})["dalad_call"].get("binding") or {}
        binding = config.get("binding") or "latest"
        pinned = (caller.meta or {}).get("called_versions", {}).get(process_id)
        if not config and pinned:  # (a definition deployed before the binding was kept with the call)
            binding, config = "version", {"version": str(pinned)}
        query = _VERSION.where(ProcessDefinition.key == process_id)
        what = f"the latest {process_id}"
        if binding == "version":
            text = config.get("version") or ""
            what = f"{process_id} version {text}"
            query = query.where(ProcessDefinition.version == (int(text) if text.isdigit() else -1))
        elif binding == "versionTag":
            what = f"{process_id} version tag {config.get('version_tag')}"
            query = query.where(ProcessDefinition.version_tag == config.get("version_tag"))
        elif binding == "deployment":
            what = f"{process_id} of deployment {caller.deployment_id}"
            query = query.where(ProcessDefinition.deployment_id == caller.deployment_id)
        found = self.session.execute(query.order_by(ProcessDefinition.version.desc()).limit(1)).first()
        if found is None and binding == "deployment":  # deployed before the caller: what its spec bundles
            found = self.session.execute(_VERSION.where(
                ProcessDefinition.key == process_id, ProcessDefinition.deployment_id <= caller.deployment_id)
                .order_by(ProcessDefinition.deployment_id.desc(), ProcessDefinition.version.desc()).limit(1)).first()
        if found is None:
            raise ExecutionError(f"call activity calls {what}, which is not deployed", element_id=task_spec.bpmn_id)
        return found

    def take_records(self) -> list[dict]:
        records, self.records = self.records, []
        return records


_VERSION = select(ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version)


def attach(session: Session, workflow, definition, replayed: Optional[list] = None) -> None:
    workflow.dalad_called = CallResolver(session, definition, replayed)


def called_definition(session: Session, caller: ProcessDefinition, process_id: str) -> ProcessDefinition:
    """The version of a called process that a definition's spec bundles, which the calls started
    before the engine resolved versions at the call run: the one a binding `version` or
    `versionTag` pinned, else the one deployed with it, else the latest deployed before it."""
    query = select(ProcessDefinition).where(ProcessDefinition.key == process_id)
    pinned = (caller.meta or {}).get("called_versions", {}).get(process_id)
    found = session.scalars(query.where(ProcessDefinition.version == pinned)).first() if pinned else None
    found = found or session.scalars(query.where(ProcessDefinition.deployment_id == caller.deployment_id)).first()
    if found is None:
        found = session.scalars(query.where(ProcessDefinition.deployment_id <= caller.deployment_id)
                                .order_by(ProcessDefinition.deployment_id.desc(),
                                          ProcessDefinition.version.desc()).limit(1)).first()
    if found is None:
        raise NotFound(f"called process '{process_id}' of {caller.key} version {caller.version} is not deployed")
    return found


def sync(session: Session, root: ProcessInstance, workflow, ready: list, now: datetime) -> dict[str, int]:
    """Open a row for each call the step started, close those that ended, bring the running ones'
    variables up to date. Returns {call activity task uuid: row id} of the calls running now."""
    notes = workflow.__dict__.pop("dalad_calls", [])
    live = _live_calls(workflow)
    if not notes and not live and not _calls_anything(workflow):
        return {}
    rows = {r.call_task: r for r in _running_rows(session, root)}
    for what, call_task, process_id, caller, data in notes:
        if what == "started":
            if call_task not in rows:
                rows[call_task] = _open(session, root, rows.get(caller, root), process_id, call_task, now)
        elif call_task in rows:
            _close(rows.pop(call_task), what, now, data)
    for call_task, sub in sorted(live.items(), key=lambda item: item[1].depth):
        if call_task not in rows:  # running again: a withdrawal took back a step inside it
            rows[call_task] = _reopen(session, root, call_task, now) or _open(
                session, root, rows.get(call_scope(sub.parent_workflow), root), sub.spec.name, call_task, now)
    for call_task in [c for c in rows if c not in live]:  # a withdrawal took back the step before it
        _close(rows.pop(call_task), "terminated", now, None)
    for call_task, row in rows.items():
        variables = _variables(call_task, live[call_task], ready)
        if variables != row.variables:
            row.variables, row.updated_at = variables, now
    return {call_task: row.id for call_task, row in rows.items()}


def _calls_anything(workflow) -> bool:
    """Whether the process (or a process it calls) has call activities: then its calls' rows are
    read at each save, so that none outlives its call."""
    spec = workflow.spec
    found = spec.__dict__.get("dalad_calls_anything")
    if found is None:
        found = spec.__dict__["dalad_calls_anything"] = any(
            is_call(task_spec) for process in [spec, *workflow.subprocess_specs.values()]
            for task_spec in process.task_specs.values())
    return found


def _close(row: ProcessInstance, status: str, now: datetime, data: Optional[dict]) -> None:
    row.status, row.ended_at, row.updated_at = status, now, now
    if data is not None:
        row.variables = runtime.plain(_public(data))


def _reopen(session: Session, root: ProcessInstance, call_task: str, now: datetime) -> Optional[ProcessInstance]:
    row = session.scalars(select(ProcessInstance).where(ProcessInstance.root_instance_id == root.id,
                                                        ProcessInstance.call_task == call_task)).first()
    if row is not None:
        row.status, row.ended_at, row.updated_at = "running", None, now
    return row


def _open(session: Session, root: ProcessInstance, caller: ProcessInstance, spec_name: str, call_task: str,
          now: datetime) -> ProcessInstance:
    version = called_version(spec_name)
    definition = session.get(ProcessDefinition, version) if version is not None else \
        called_definition(session, session.get(ProcessDefinition, caller.definition_id), spec_name)
    row = ProcessInstance(definition_id=definition.id, process_key=definition.key, business_key=root.business_key,
                          status="running", state="", variables={}, open_tasks={}, waits=[], revision=0,
                          started_by=root.started_by, started_at=now, updated_at=now, history_count=0,
                          super_instance_id=caller.id, root_instance_id=root.id, call_task=call_task)
    session.add(row)
    session.flush()
    history.record_system(session, history.Event(  # as instances.create: a deleted one is named
        "instance_created", actor=root.started_by, data={
            "instance": row.id, "process": f"{definition.key}:{definition.version}",
            "business_key": root.business_key, "called_by": caller.id, "root": root.id, "call_task": call_task}),
        created=row.id)
    return row


def _live_calls(workflow) -> dict:
    """{call activity task uuid: the sub-workflow running its called process} of the calls under way
    (a finished one stays in the state until compaction drops it)."""
    return {str(task_id): sub for task_id, sub in workflow.subprocesses.items()
            if not sub.completed and call_scope(sub) == str(task_id)
            and workflow.get_task_from_id(task_id).state == TaskState.STARTED}


def _running_rows(session: Session, root: ProcessInstance) -> list[ProcessInstance]:
    return list(session.scalars(select(ProcessInstance).where(ProcessInstance.root_instance_id == root.id,
                                                              ProcessInstance.status.not_in(ENDED))))


def _variables(call_task: str, sub, ready: list) -> dict:
    """A called process's variables as its instance shows them (`instances.visible_variables`),
    with those of its running embedded and event subprocesses, which run in its scope."""
    return runtime.plain(_public(instances.visible_variables(sub, ready, call_task)))


def _public(data: dict) -> dict:
    return {k: v for k, v in data.items() if not k.startswith("_")}


def stored_calls_problem(session: Session, root: ProcessInstance, workflow, snap, inbox: dict) -> Optional[str]:
    """What the rows of the running calls, and the called instance each inbox row names, say that
    the re-executed workflow does not (compared by called process, its version, status and
    variables: task ids are new in every execution). `inbox`: the root's ready task rows by task uuid."""
    if root.status == "terminated":
        return None  # its calls were terminated with it
    rows = {r.id: r for r in _running_rows(session, root)}
    status = "suspended" if root.status == "suspended" else "running"
    live = _live_calls(workflow)
    # The version of a call started before the engine resolved versions at the call is not in its state.
    versions = all(called_version(sub.spec.name) is not None for sub in live.values())

    def shape(key, definition_id, state, variables):
        return json.dumps([key, definition_id if versions else None, state, variables], sort_keys=True, default=str)

    produced = sorted(shape(process_key(sub.spec.name), called_version(sub.spec.name), status,
                            _variables(call_task, sub, snap.ready)) for call_task, sub in live.items())
    if sorted(shape(r.process_key, r.definition_id, r.status, r.variables) for r in rows.values()) != produced:
        return "the stored called process instances are not the calls running in the re-execution"
    expected = sorted((t.task_spec.bpmn_id, process_key(live[scope].spec.name) if (scope := call_scope(t.workflow))
                       else "") for t in snap.ready)
    named = sorted((r.element_id, rows[r.called_instance_id].process_key if r.called_instance_id in rows else "")
                   for r in inbox.values())
    if named != expected:
        return "the called process instances the inbox rows name are not those of the re-execution"
    return None


def follow_root(session: Session, root: ProcessInstance, status: str) -> None:
    """A root instance suspended, resumed or terminated takes its running calls with it."""
    values = {"status": status, "updated_at": clock.now()}
    if status in ENDED:
        values["ended_at"] = values["updated_at"]
    session.execute(update(ProcessInstance).where(ProcessInstance.root_instance_id == root.id,
                                                  ProcessInstance.status.not_in(ENDED)).values(**values))


def retarget(session: Session, root: ProcessInstance, workflow) -> None:
    """After `root` moved to another version: its running calls that run the version its spec
    bundled (started before the engine resolved versions at the call) run what that version
    bundles; the others keep the version they run."""
    live = _live_calls(workflow)
    callers = {root.id: root}
    for row in sorted(_running_rows(session, root), key=lambda r: r.id):  # a caller before what it calls
        caller = callers.get(row.super_instance_id, root)
        sub = live.get(row.call_task)
        if sub is None or called_version(sub.spec.name) is None:
            row.definition_id = called_definition(session, session.get(ProcessDefinition, caller.definition_id),
                                                  row.process_key).id
        callers[row.id] = row


def of_task(calls: dict[str, int], task) -> Optional[int]:
    """The called instance a task of the root's state belongs to (None: the root's own)."""
    if not calls:
        return None
    return calls.get(call_scope(task.workflow))
