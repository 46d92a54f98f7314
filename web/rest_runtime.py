"""Runtime calls of /engine-rest in Camunda 7.20's shapes around one instance or task: the activity
instance tree, a task's identity links and variables, and a process definition's start form.

dalad keeps an instance's data in one scope: a task has no local variables, and a variable set
through a task is a variable of its process instance.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import services
from engine.audit import called_elements
from engine.errors import AccessDenied, NotFound
from engine.models import ExternalTask, Incident, MessageSubscription, ProcessDefinition, ProcessInstance, Timer, \
    UserTask
from forms import submission

from .rest import (_ENDED, _arg, _arg_list, _bad_request, _caller, _claim_for, _db, _definition,
                   _element_catalog, _json_body, _require_task_worker, _running_instance, _unclaim, _visible_task,
                   form_variables_out, instance_variables_out, owner_of, remember_types, rest_api, variable_dto,
                   variable_value, variables_in)


# --- the activity instance tree --------------------------------------------------------------------

@rest_api.get("/process-instance/<instance_id>/activity-instances")
def activity_instances(instance_id: str):
    """The instance as the root, with one child per activity where it waits now: ready user
    tasks, open external tasks, timers, message and signal events; asynchronous continuations
    (jobs) are transition instances, as in Camunda."""
    with _db().read() as session:
        row = _running_instance(session, instance_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        catalog = _element_catalog(session, definition)
        incidents = {}
        for incident in session.scalars(select(Incident).where(Incident.at_instance_id == row.id,
                                                               Incident.resolved_at.is_(None))):
            incidents.setdefault(incident.element_id, []).append(incident.rest_id)
        waiting = [(t.element_id, t.task_uuid) for t in session.scalars(
            select(UserTask).where(owner_of(UserTask) == row.id, UserTask.state == "ready"))]
        waiting += [(t.element_id, t.task_uuid) for t in session.scalars(
            select(ExternalTask).where(owner_of(ExternalTask) == row.id, ExternalTask.state == "open"))]
        waiting += [(s.element_id, s.task_uuid) for s in session.scalars(
            select(MessageSubscription).where(owner_of(MessageSubscription) == row.id))]
        timers = list(session.scalars(select(Timer).where(owner_of(Timer) == row.id, Timer.state == "waiting")))
        waiting += [(t.element_id, t.task_uuid) for t in timers if t.kind == "timer"]
        calls = called_elements(definition)  # a running call: its call activity, as in Camunda
        waiting += [(next((a for a, p in calls.items() if p == c.process_key), c.process_key), c.call_task)
                    for c in session.scalars(select(ProcessInstance).where(
                        ProcessInstance.super_instance_id == row.id, ProcessInstance.status.not_in(_ENDED)))]
        seen, children = set(), []
        for element, task_uuid in waiting:
            if (element, task_uuid) in seen:
                continue
            seen.add((element, task_uuid))
            kind, name = catalog.get(element, ("unknown", None))
            if kind in _EVENT_SUBPROCESS_TRIGGERS:
                continue  # what starts an event subprocess is no activity until it does (as in Camunda)
            children.append(_activity(f"{element}:{task_uuid}", row, definition, element, kind, name,
                                      incidents.get(element, [])))
        transitions = [{"id": f"{t.element_id}:{t.task_uuid}", "parentActivityInstanceId": row.rest_id,
                        "processInstanceId": row.rest_id, "processDefinitionId": definition.rest_id,
                        "activityId": t.element_id, "activityName": catalog.get(t.element_id, (None, None))[1],
                        "activityType": catalog.get(t.element_id, ("unknown", None))[0],
                        "executionId": row.rest_id, "incidentIds": incidents.get(t.element_id, []),
                        "incidents": [{"id": i, "parentActivityInstanceId": f"{t.element_id}:{t.task_uuid}"}
                                      for i in incidents.get(t.element_id, [])]}
                       for t in timers if t.kind == "job"]
        root = _activity(row.rest_id, row, definition, definition.key, "processDefinition", definition.name, [])
        root["parentActivityInstanceId"] = None
        root["childActivityInstances"], root["childTransitionInstances"] = children, transitions
        return root


_EVENT_SUBPROCESS_TRIGGERS = ("startTimerEvent", "subProcess")  # a timer start's job, a message start's subscription


def _activity(id_: str, row: ProcessInstance, definition: ProcessDefinition, element: str, kind: str, name,
              incident_ids: list[str]) -> dict:
    return {"id": id_, "parentActivityInstanceId": row.rest_id, "activityId": element, "activityType": kind,
            "processInstanceId": row.rest_id, "processDefinitionId": definition.rest_id,
            "childActivityInstances": [], "childTransitionInstances": [], "executionIds": [row.rest_id],
            "activityName": name, "incidentIds": incident_ids,
            "incidents": [{"id": i, "parentActivityInstanceId": id_} for i in incident_ids]}


# --- a task's identity links -------------------------------------------------------------------------

@rest_api.get("/task/<task_id>/identity-links")
def identity_links(task_id: str):
    wanted = _arg("type")
    with _db().read() as session:
        task, _row = _visible_task(session, task_id)
        links = [{"userId": None, "groupId": g, "type": "candidate"} for g in task.candidate_groups]
        links += [{"userId": u, "groupId": None, "type": "candidate"} for u in task.candidate_users]
        if task.assignee:
            links.append({"userId": task.assignee, "groupId": None, "type": "assignee"})
        return [link for link in links if wanted is None or link["type"] == wanted]


def _identity_link(body: dict) -> tuple[str, str, str]:
    """(type, "user" or "group", id) of an identity link in a request body."""
    type_, user_id, group_id = body.get("type"), body.get("userId"), body.get("groupId")
    if type_ not in ("candidate", "assignee"):
        raise _bad_request("type must be candidate or assignee (dalad's tasks have no owner)")
    given = user_id if user_id is not None else group_id
    if (user_id is None) == (group_id is None) or not isinstance(given, str) or not given.strip():
        raise _bad_request("give either userId or groupId, as text that is not empty")
    if type_ == "assignee" and group_id is not None:
        raise _bad_request("an assignee is a user: give userId")
    return type_, "user" if user_id is not None else "group", given


def _change_links(task_id: str, add: bool) -> tuple[str, int]:
    caller = _caller()
    type_, kind, name = _identity_link(_json_body())
    with _db().write() as session:
        task, _row = _visible_task(session, task_id, for_change=True)
        if type_ == "assignee":
            if add:
                if task.assignee is not None and task.assignee != name:
                    _unclaim(session, task, caller)
                _claim_for(session, task, caller, name)
            elif task.assignee == name:
                _unclaim(session, task, caller)
            return "", 204
        if not caller.is_admin:
            raise AccessDenied(f"{caller.name} may not change who task {task_id} is offered to: that needs the "
                               "admin role")
        groups, users = list(task.candidate_groups), list(task.candidate_users)
        target = groups if kind == "group" else users
        if add and name not in target:
            target.append(name)
        elif not add and name in target:
            target.remove(name)
        services.set_candidates(session, task.id, groups=groups, users=users, user=caller.name)
    return "", 204


@rest_api.post("/task/<task_id>/identity-links")
def add_identity_link(task_id: str):
    """Offer the task to one more candidate group or user (administrators), or set its assignee."""
    return _change_links(task_id, add=True)


@rest_api.post("/task/<task_id>/identity-links/delete")
def delete_identity_link(task_id: str):
    return _change_links(task_id, add=False)


# --- a task's variables ------------------------------------------------------------------------------

@rest_api.get("/task/<task_id>/variables")
def task_variables(task_id: str):
    with _db().read() as session:
        _task, row = _visible_task(session, task_id)
        return instance_variables_out(row)


@rest_api.get("/task/<task_id>/variables/<name>")
def task_variable(task_id: str, name: str):
    with _db().read() as session:
        task, row = _visible_task(session, task_id)
        if name not in (row.variables or {}):
            raise NotFound(f"task {task_id} sees no variable '{name}'")
        return variable_dto(row.variables[name], (row.variable_types or {}).get(name))


@rest_api.get("/task/<task_id>/localVariables")
def task_local_variables(task_id: str):
    with _db().read() as session:
        _visible_task(session, task_id)
    return {}


@rest_api.get("/task/<task_id>/localVariables/<name>")
def task_local_variable(task_id: str, name: str):
    with _db().read() as session:
        _visible_task(session, task_id)
    raise NotFound(f"task {task_id} has no local variable '{name}': a task's data is its process instance's")


def _set_task_variables(task_id: str, dtos: Any, what: str = "variables") -> None:
    caller = _caller()
    values = variables_in(dtos, what)
    with _db().write() as session:
        task, row = _visible_task(session, task_id, for_change=True)
        _require_task_worker(caller, "change variables")
        if not caller.is_admin and not services.may_work_on(task, caller.name, list(caller.groups)):
            raise AccessDenied(f"{caller.name} may not change the variables of task {task_id}: it is offered to "
                               f"{', '.join(task.candidate_groups + task.candidate_users) or 'nobody'}"
                               f"{', claimed by ' + task.assignee if task.assignee else ''}")
        checked = submission.check_changes(session, task, values)
        if checked is not None and not checked.ok:
            raise _bad_request(f"Cannot set variables of task {task_id} (its form checks each one): "
                               f"{checked.problems()}")
        services.set_task_variables(session, task, checked.variables if checked else values, user=caller.name)
        remember_types(row, dtos)


@rest_api.put("/task/<task_id>/variables/<name>")
def put_task_variable(task_id: str, name: str):
    """Set a variable of the task's process instance (whoever may work on the task)."""
    dto = _json_body()
    variable_value(name, dto)
    _set_task_variables(task_id, {name: dto})
    return "", 204


@rest_api.post("/task/<task_id>/variables")
def modify_task_variables(task_id: str):
    body = _json_body()
    if body.get("deletions") not in (None, []):
        raise _bad_request("deletions must be empty: deleting variables is not supported, set them to null instead")
    _set_task_variables(task_id, body.get("modifications"), "modifications")
    return "", 204


# --- a process definition's start form ---------------------------------------------------------------

def _start_form_variables(session: Session, definition: ProcessDefinition) -> dict:
    names = _arg_list("variableNames")
    fields = [f for start in definition.meta.get("starts") or [] for f in start.get("form_fields") or []]
    return form_variables_out(fields, {}, names)


@rest_api.get("/process-definition/<definition_id>/form-variables")
def start_form_variables(definition_id: str):
    """The start event's form fields (camunda:formData) with their defaults."""
    with _db().read() as session:
        return _start_form_variables(session, _definition(session, definition_id))


@rest_api.get("/process-definition/key/<key>/form-variables")
def start_form_variables_by_key(key: str):
    with _db().read() as session:
        return _start_form_variables(session, services.process_definition(session, key))

