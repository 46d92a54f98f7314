"""Read-only queries of /engine-rest in Camunda 7.20's shapes, each with its POST variant: historic
tasks, variable instances (runtime and historic) and external tasks.

Variables live in each instance's data, not in rows of their own: a variable instance is one name
of one instance's variables, its id a UUID derived from the instance's id and the name.
"""
from __future__ import annotations

import uuid
from typing import Optional

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import NotFound
from engine.instances import task_description
from engine.models import (Deployment, ExternalTask, ProcessDefinition, ProcessInstance, TaskCandidate,
                           UserTask)

from .rest import (_ENDED, _arg, _arg_bool, _arg_int, _arg_list, _arg_variables, _bad_request, _caller, _count,
                   _date, _dated, _db, _instance_visible, _like, _like_match, _millis, _page_list, _paged,
                   _row_by_rest_id, _sort_keys, _sorted, owner_of, rest_api, variable_dto)


def _visible(query):
    condition = _instance_visible(_caller())
    return query if condition is None else query.where(condition)


def _instance_ids(query, name: str, *, single: Optional[str] = None):
    """Filter by REST ids of process instances (a list parameter, and its one-id form)."""
    ids = _arg_list(name) or ([_arg(single)] if single and _arg(single) else None)
    return query if ids is None else query.where(ProcessInstance.rest_id.in_(ids))


# --- historic tasks ----------------------------------------------------------------------------

_DELETE_REASONS = {"completed": "completed", "cancelled": "deleted"}


def _history_task_query():
    query = _visible(select(UserTask, ProcessInstance, ProcessDefinition)
                     .join(ProcessInstance, ProcessInstance.id == owner_of(UserTask))
                     .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id))
    query = _instance_ids(query, "processInstanceIdIn", single="processInstanceId")
    for name, column in (("taskId", UserTask.rest_id), ("processInstanceBusinessKey", UserTask.business_key),
                         ("processDefinitionId", ProcessDefinition.rest_id),
                         ("processDefinitionKey", ProcessInstance.process_key), ("processDefinitionName", ProcessDefinition.name),
                         ("executionId", ProcessInstance.rest_id), ("taskName", UserTask.name),
                         ("taskDefinitionKey", UserTask.element_id), ("taskAssignee", UserTask.assignee),
                         ("taskDeleteReason", None)):
        value = _arg(name)
        if value is not None:
            if column is None:  # the reason a task ended: completed, or deleted (cancelled with its scope)
                states = [state for state, reason in _DELETE_REASONS.items() if reason == value]
                query = query.where(UserTask.state.in_(states))
            else:
                query = query.where(column == value)
    for name, column in (("processInstanceBusinessKeyLike", UserTask.business_key), ("taskNameLike", UserTask.name),
                         ("taskAssigneeLike", UserTask.assignee)):
        if _arg(name):
            query = query.where(_like(column, _arg(name)))
    if _arg_list("processInstanceBusinessKeyIn"):
        query = query.where(UserTask.business_key.in_(_arg_list("processInstanceBusinessKeyIn")))
    if _arg_list("taskDefinitionKeyIn"):
        query = query.where(UserTask.element_id.in_(_arg_list("taskDefinitionKeyIn")))
    if _arg_int("taskPriority") is not None:
        query = query.where(UserTask.priority == _arg_int("taskPriority"))
    for name, condition in (("assigned", UserTask.assignee.is_not(None)), ("unassigned", UserTask.assignee.is_(None)),
                            ("finished", UserTask.state != "ready"), ("unfinished", UserTask.state == "ready"),
                            ("processFinished", ProcessInstance.status.in_(_ENDED)),
                            ("processUnfinished", ProcessInstance.status.not_in(_ENDED)),
                            ("withoutTaskDueDate", UserTask.due_at.is_(None))):
        if _arg_bool(name):
            query = query.where(condition)
    groups = select(TaskCandidate.task_id).where(TaskCandidate.kind == "group")
    if _arg_bool("withCandidateGroups"):
        query = query.where(UserTask.id.in_(groups))
    if _arg_bool("withoutCandidateGroups"):
        query = query.where(UserTask.id.not_in(groups))
    if _arg("taskHadCandidateGroup"):
        query = query.where(UserTask.id.in_(groups.where(TaskCandidate.value == _arg("taskHadCandidateGroup"))))
    if _arg("taskHadCandidateUser"):
        query = query.where(UserTask.id.in_(select(TaskCandidate.task_id).where(
            TaskCandidate.kind == "user", TaskCandidate.value == _arg("taskHadCandidateUser"))))
    query = _dated(query, (("taskDueDateBefore", UserTask.due_at, True), ("taskDueDateAfter", UserTask.due_at, False),
                           ("taskFollowUpDateBefore", UserTask.follow_up_at, True),
                           ("taskFollowUpDateAfter", UserTask.follow_up_at, False),
                           ("startedBefore", UserTask.created_at, True), ("startedAfter", UserTask.created_at, False),
                           ("finishedBefore", UserTask.completed_at, True),
                           ("finishedAfter", UserTask.completed_at, False)))
    return _sorted(query, {"taskId": UserTask.id, "processInstanceId": UserTask.instance_id,
                           "processDefinitionId": ProcessInstance.definition_id, "taskName": UserTask.name,
                           "assignee": UserTask.assignee, "startTime": UserTask.created_at,
                           "endTime": UserTask.completed_at, "dueDate": UserTask.due_at,
                           "followUpDate": UserTask.follow_up_at, "taskDefinitionKey": UserTask.element_id,
                           "priority": UserTask.priority}, (UserTask.created_at, UserTask.id))


def historic_task_dto(session, task: UserTask, row: ProcessInstance, definition: ProcessDefinition) -> dict:
    ended = task.completed_at if task.state != "ready" else None
    return {"id": task.rest_id, "processDefinitionKey": definition.key, "processDefinitionId": definition.rest_id,
            "processInstanceId": row.rest_id, "executionId": row.rest_id, "caseDefinitionKey": None,
            "caseDefinitionId": None, "caseInstanceId": None, "caseExecutionId": None,
            "activityInstanceId": f"{task.element_id}:{task.task_uuid}", "name": task.name,
            "description": task_description(session, definition.id, task.element_id, task.description),
            "deleteReason": _DELETE_REASONS.get(task.state), "owner": None,
            "assignee": task.completed_by if task.state == "completed" else task.assignee,
            "startTime": _date(task.created_at), "endTime": _date(ended), "duration": _millis(task.created_at, ended),
            "taskDefinitionKey": task.element_id, "priority": task.priority, "due": _date(task.due_at),
            "parentTaskId": None, "followUp": _date(task.follow_up_at), "tenantId": None, "removalTime": None,
            "rootProcessInstanceId": row.rest_id}


@rest_api.get("/history/task")
@rest_api.post("/history/task")
def history_tasks():
    with _db().read() as session:
        return [historic_task_dto(session, *row) for row in session.execute(_paged(_history_task_query()))]


@rest_api.get("/history/task/count")
@rest_api.post("/history/task/count")
def history_tasks_count():
    with _db().read() as session:
        return _count(session, _history_task_query())


# --- variable instances ------------------------------------------------------------------------

def _variable_id(row: ProcessInstance, name: str) -> str:
    return str(uuid.uuid5(uuid.UUID(row.rest_id), name))


def _variable_rows(session: Session, *, history: bool) -> list[dict]:
    """Every variable of the instances the query names, as Camunda's variable instances."""
    query = _visible(select(ProcessInstance, ProcessDefinition, Deployment.tenant_id)
                     .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                     .join(Deployment, Deployment.id == ProcessDefinition.deployment_id))
    if not history:
        query = query.where(ProcessInstance.status.not_in(_ENDED))
    ids = (_arg_list("processInstanceIdIn") or []) + ([_arg("processInstanceId")] if history and
                                                       _arg("processInstanceId") else [])
    scopes = (_arg_list("executionIdIn") or []) + (_arg_list("activityInstanceIdIn") or []) + \
        ([] if history else _arg_list("variableScopeIdIn") or [])
    for wanted in (ids, scopes):  # an instance is its own execution and activity instance
        if wanted:
            query = query.where(ProcessInstance.rest_id.in_(wanted))
    if history:
        if _arg("processDefinitionId"):
            query = query.where(ProcessDefinition.rest_id == _arg("processDefinitionId"))
        if _arg("processDefinitionKey"):
            query = query.where(ProcessDefinition.key == _arg("processDefinitionKey"))
        # includeDeleted filters nothing: variables are never deleted here
    tenants = _arg_list("tenantIdIn")
    if tenants:
        query = query.where(Deployment.tenant_id.in_(tenants))
    if history and _arg_bool("withoutTenantId"):
        query = query.where(Deployment.tenant_id.is_(None))
    if _arg_list("taskIdIn") or (not history and (_arg_list("caseInstanceIdIn") or _arg_list("caseExecutionIdIn")
                                                  or _arg_list("batchIdIn"))):
        return []  # variables belong to instances: none is local to a task, a case or a batch
    names = set(_arg_list("variableNameIn") or []) if history else set()
    name, name_like = _arg("variableName"), _arg("variableNameLike")
    ignore_case = bool(_arg_bool("variableNamesIgnoreCase"))
    values_ignore_case = bool(_arg_bool("variableValuesIgnoreCase"))
    value_test = _value_test(history, values_ignore_case)
    types = {t.lower() for t in _arg_list("variableTypeIn") or []} if history else set()

    def same(a: str, b: str) -> bool:
        return a.lower() == b.lower() if ignore_case else a == b

    out = []
    for row, definition, tenant in session.execute(query.order_by(ProcessInstance.id)):
        kept = row.variable_types or {}
        for var, value in sorted((row.variables or {}).items()):
            if var.startswith("_") or (name is not None and not same(var, name)) \
                    or (name_like is not None and not _like_match(var.lower() if ignore_case else var,
                                                                  name_like.lower() if ignore_case else name_like)) \
                    or (names and var not in names) or (value_test and not value_test(var, value)):
                continue
            dto = variable_dto(value, kept.get(var))
            if types and dto["type"].lower() not in types:
                continue
            entry = {"id": _variable_id(row, var), "name": var, **dto,
                     "processDefinitionId": definition.rest_id, "processInstanceId": row.rest_id,
                     "executionId": row.rest_id, "caseInstanceId": None, "caseExecutionId": None, "taskId": None,
                     "activityInstanceId": row.rest_id, "tenantId": tenant, "errorMessage": None}
            if history:
                entry.update({"processDefinitionKey": definition.key, "caseDefinitionKey": None,
                              "caseDefinitionId": None, "state": "CREATED", "createTime": _date(row.started_at),
                              "removalTime": None, "rootProcessInstanceId": row.rest_id})
            else:
                entry["batchId"] = None
            out.append(entry)
    return _sorted_variables(out)


def _value_test(history: bool, ignore_case: bool):
    """variableValue (history: equal as text) or variableValues (runtime: name_operator_value)."""
    if history:
        wanted = _arg("variableValue")
        if wanted is None:
            return None
        name = _arg("variableName")
        if name is None:
            raise _bad_request("variableValue needs a variableName")

        def text(value) -> str:
            shown = variable_dto(value)["value"]
            shown = shown if isinstance(shown, str) else "true" if shown is True else "false" if shown is False \
                else str(shown)
            return shown.lower() if ignore_case else shown
        return lambda var, value: text(value) == (wanted.lower() if ignore_case else wanted)
    test = _arg_variables("variableValues")
    return None if test is None else (lambda var, value: test({var: value}))


def _sorted_variables(entries: list[dict]) -> list[dict]:
    fields = {"variableName": "name", "variableType": "type", "activityInstanceId": "activityInstanceId",
              "instanceId": "processInstanceId", "tenantId": "tenantId"}
    for sort_by, order in reversed(_sort_keys()):
        if sort_by not in fields:
            raise _bad_request(f"sortBy '{sort_by}' is not one of: {', '.join(fields)}")
        entries.sort(key=lambda e, f=fields[sort_by]: (e[f] is None, e[f] or ""), reverse=order == "desc")
    return entries


@rest_api.get("/variable-instance")
@rest_api.post("/variable-instance")
def variable_instances():  # deserializeValues: values are JSON, serialized or not they read the same
    with _db().read() as session:
        return _page_list(_variable_rows(session, history=False))


@rest_api.get("/variable-instance/count")
@rest_api.post("/variable-instance/count")
def variable_instances_count():
    with _db().read() as session:
        return {"count": len(_variable_rows(session, history=False))}


@rest_api.get("/history/variable-instance")
@rest_api.post("/history/variable-instance")
def history_variable_instances():
    with _db().read() as session:
        return _page_list(_variable_rows(session, history=True))


@rest_api.get("/history/variable-instance/count")
@rest_api.post("/history/variable-instance/count")
def history_variable_instances_count():
    with _db().read() as session:
        return {"count": len(_variable_rows(session, history=True))}


# --- external tasks ----------------------------------------------------------------------------

def _external_task_query():
    query = (select(ExternalTask, ProcessInstance, ProcessDefinition)
             .join(ProcessInstance, ProcessInstance.id == owner_of(ExternalTask))
             .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .where(ExternalTask.state == "open"))
    ids = _arg_list("externalTaskIdIn") or ([_arg("externalTaskId")] if _arg("externalTaskId") else None)
    if ids:
        query = query.where(ExternalTask.rest_id.in_(ids))
    query = _instance_ids(query, "processInstanceIdIn", single="processInstanceId")
    for name, column in (("topicName", ExternalTask.topic), ("workerId", ExternalTask.worker_id),
                         ("activityId", ExternalTask.element_id), ("executionId", ProcessInstance.rest_id),
                         ("processDefinitionId", ProcessDefinition.rest_id)):
        if _arg(name):
            query = query.where(column == _arg(name))
    if _arg_list("activityIdIn"):
        query = query.where(ExternalTask.element_id.in_(_arg_list("activityIdIn")))
    now = clock.now()
    locked = and_(ExternalTask.lock_expires_at.is_not(None), ExternalTask.lock_expires_at > now,
                  ExternalTask.worker_id.is_not(None))
    for name, condition in (("locked", locked), ("notLocked", ~locked),
                            ("withRetriesLeft", or_(ExternalTask.retries.is_(None), ExternalTask.retries > 0)),
                            ("noRetriesLeft", ExternalTask.retries == 0),
                            ("active", ProcessInstance.status != "suspended"),
                            ("suspended", ProcessInstance.status == "suspended")):
        if _arg_bool(name):
            query = query.where(condition)
    if _arg_int("priorityHigherThanOrEquals") is not None:
        query = query.where(ExternalTask.priority >= _arg_int("priorityHigherThanOrEquals"))
    if _arg_int("priorityLowerThanOrEquals") is not None:
        query = query.where(ExternalTask.priority <= _arg_int("priorityLowerThanOrEquals"))
    return _sorted(query, {"id": ExternalTask.id, "lockExpirationTime": ExternalTask.lock_expires_at,
                           "processInstanceId": ExternalTask.instance_id,
                           "processDefinitionId": ProcessInstance.definition_id,
                           "processDefinitionKey": ProcessInstance.process_key, "taskPriority": ExternalTask.priority,
                           "createTime": ExternalTask.created_at}, (ExternalTask.id,))


def external_task_dto(task: ExternalTask, row: ProcessInstance, definition: ProcessDefinition) -> dict:
    return {"activityId": task.element_id, "activityInstanceId": f"{task.element_id}:{task.task_uuid}",
            "errorMessage": task.error_message, "executionId": row.rest_id, "id": task.rest_id,
            "lockExpirationTime": _date(task.lock_expires_at) if task.worker_id else None,
            "processDefinitionId": definition.rest_id,
            "processDefinitionKey": definition.key, "processDefinitionVersionTag": definition.version_tag,
            "processInstanceId": row.rest_id, "retries": task.retries, "suspended": row.status == "suspended",
            "workerId": task.worker_id, "topicName": task.topic, "tenantId": None, "priority": task.priority,
            "businessKey": row.business_key}


@rest_api.get("/external-task")
@rest_api.post("/external-task")
def external_tasks():
    with _db().read() as session:
        return [external_task_dto(*row) for row in session.execute(_paged(_external_task_query()))]


@rest_api.get("/external-task/count")
@rest_api.post("/external-task/count")
def external_tasks_count():
    with _db().read() as session:
        return _count(session, _external_task_query())


def open_external_task(session: Session, task_id: str) -> tuple[ExternalTask, ProcessInstance, ProcessDefinition]:
    task = _row_by_rest_id(session, ExternalTask, task_id, "external task")
    if task.state != "open":
        raise NotFound(f"external task {task_id} is {task.state}")
    row = session.get(ProcessInstance, task.called_instance_id or task.instance_id)
    return task, row, session.get(ProcessDefinition, row.definition_id)


@rest_api.get("/external-task/<task_id>")
def external_task(task_id: str):
    with _db().read() as session:
        return external_task_dto(*open_external_task(session, task_id))


@rest_api.get("/external-task/<task_id>/errorDetails")
def external_task_error_details(task_id: str):
    with _db().read() as session:
        task, _row, _definition = open_external_task(session, task_id)
        if task.error_details is None:
            return "", 204
        return task.error_details, 200, {"Content-Type": "text/plain; charset=utf-8"}
