"""Operating calls of /engine-rest in Camunda 7.20's shapes: incidents, jobs, executions, event
subscriptions, authorizations (read), and an external task's lock and retries.

How dalad's rows map: a job is a timer or an asynchronous continuation (table `timer`); a failed
one is the job of an open incident, with no retries left. An execution is a running process
instance (its root execution: Camunda gives both the same id). An incident is resolved by running
the failed work again (the admin pages' retry).
"""
from __future__ import annotations

import uuid
from typing import Optional

from flask import request
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine import bureaus, services, users
from engine.errors import AccessDenied, InvalidInput, NotFound
from engine.job_definitions import JobDefinition, job_definition_of, job_definitions
from engine.models import (Deployment, ExternalTask, Incident, MessageSubscription, ProcessDefinition,
                           ProcessInstance, Timer, UserTask)

from .rest import (_ENDED, _arg, _arg_bool, _arg_int, _arg_list, _bad_request, _body_flag, _caller, _count, _date,
                   _dated, _db,
                   _instance_visible, _int_id, _json_body, _like, _page_list, _paged, _require_admin,
                   _require_writer, _rest_ids, _sort_keys, _sorted, owner_of, rest_api, whole_number)
from .rest_queries import open_external_task
from .rest_query_values import QueryValueRefused, read_values


def _visible(query):
    condition = _instance_visible(_caller())
    return query if condition is None else query.where(condition)


def _retries(body: dict) -> int:
    return whole_number(body.get("retries"), "retries", 0)


# --- incidents ---------------------------------------------------------------------------------

_INCIDENT_TYPES = {"external-task": "failedExternalTask", "job": "failedJob", "timer": "failedJob"}


def _incident_type(kind: str) -> str:
    return _INCIDENT_TYPES.get(kind, kind)


def _open_incidents():
    return _visible(select(Incident, ProcessInstance, ProcessDefinition)
                    .join(ProcessInstance, ProcessInstance.id == Incident.at_instance_id)
                    .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                    .where(Incident.resolved_at.is_(None)))


def _caused_by(column, rest_id: str):
    """Incidents whose cause (one level down, or the root cause) is the incident `rest_id`: a root
    cause names itself."""
    named = aliased(Incident)
    key = select(named.id).where(named.rest_id == rest_id).scalar_subquery()
    return or_(column == key, and_(column.is_(None), Incident.rest_id == rest_id))


def _incident_query():
    query = _open_incidents()
    for name, column in (("incidentId", Incident.rest_id), ("incidentMessage", Incident.message),
                         ("processDefinitionId", ProcessDefinition.rest_id),
                         ("processInstanceId", ProcessInstance.rest_id), ("executionId", ProcessInstance.rest_id),
                         ("activityId", Incident.element_id), ("failedActivityId", Incident.element_id)):
        if _arg(name):
            query = query.where(column == _arg(name))
    for name, column in (("causeIncidentId", Incident.cause_id), ("rootCauseIncidentId", Incident.root_cause_id)):
        if _arg(name):
            query = query.where(_caused_by(column, _arg(name)))
    if _arg("incidentType"):
        kinds = [k for k in ("external-task", "job", "timer", "message", "signal")
                 if _incident_type(k) == _arg("incidentType")] or [_arg("incidentType")]
        query = query.where(Incident.kind.in_(kinds))
    if _arg("incidentMessageLike"):
        query = query.where(_like(Incident.message, _arg("incidentMessageLike")))
    if _arg_list("processDefinitionKeyIn"):
        query = query.where(ProcessDefinition.key.in_(_arg_list("processDefinitionKeyIn")))
    query = _dated(query, (("incidentTimestampBefore", Incident.created_at, True),
                           ("incidentTimestampAfter", Incident.created_at, False)))
    query = _sorted(query, {"incidentId": Incident.id, "incidentMessage": Incident.message,
                            "incidentTimestamp": Incident.created_at, "incidentType": Incident.kind,
                            "executionId": Incident.at_instance_id, "activityId": Incident.element_id,
                            "processInstanceId": Incident.at_instance_id,
                            "processDefinitionId": ProcessInstance.definition_id}, (Incident.id,))
    return query, _arg("configuration")  # the failed job or external task: known once the row is read


def _incident_dtos(session: Session, rows) -> list[dict]:
    rows = list(rows)
    externals = _rest_ids(session, ExternalTask, (i.payload.get("external_task") for i, _r, _d in rows))
    jobs = _rest_ids(session, Timer, (i.payload.get("job") or i.payload.get("timer") for i, _r, _d in rows))
    causes = _rest_ids(session, Incident, (key for i, _r, _d in rows for key in (i.cause_id, i.root_cause_id)))
    out = []
    for incident, row, definition in rows:
        job = incident.payload.get("job") or incident.payload.get("timer")
        configuration = externals.get(incident.payload.get("external_task")) or jobs.get(job)
        job_definition = job_definition_of(definition, session.get(Timer, job)) if job is not None else None
        out.append({"id": incident.rest_id, "processDefinitionId": definition.rest_id,
                    "processInstanceId": row.rest_id, "executionId": row.rest_id,
                    "incidentTimestamp": _date(incident.created_at), "incidentType": _incident_type(incident.kind),
                    "activityId": incident.element_id, "failedActivityId": incident.element_id,
                    "causeIncidentId": causes.get(incident.cause_id, incident.rest_id),
                    "rootCauseIncidentId": causes.get(incident.root_cause_id, incident.rest_id),
                    "configuration": configuration, "tenantId": None, "incidentMessage": incident.message,
                    "jobDefinitionId": job_definition.id if job_definition else None, "annotation": None})
    return out


def _incidents(session: Session) -> list[dict]:
    query, configuration = _incident_query()
    if configuration is None:
        return _incident_dtos(session, session.execute(_paged(query)))
    return _page_list([d for d in _incident_dtos(session, session.execute(query))
                       if d["configuration"] == configuration])


@rest_api.get("/incident")
def incidents():
    with _db().read() as session:
        return _incidents(session)


@rest_api.get("/incident/count")
def incidents_count():
    with _db().read() as session:
        query, configuration = _incident_query()
        if configuration is None:
            return _count(session, query)
        return {"count": sum(1 for d in _incident_dtos(session, session.execute(query))
                             if d["configuration"] == configuration)}


@rest_api.get("/incident/<incident_id>")
def incident(incident_id: str):
    with _db().read() as session:
        key = _int_id(session, Incident, incident_id, "incident")
        found = _incident_dtos(session, session.execute(_open_incidents().where(Incident.id == key)))
        if not found:
            raise NotFound(f"incident {incident_id} is resolved or not visible to {_caller().name}")
        return found[0]


@rest_api.delete("/incident/<incident_id>")
def resolve_incident(incident_id: str):
    """Resolve: run the failed work again (administrators); a new failure opens a new incident."""
    caller = _require_admin("resolve incidents")
    with _db().write() as session:
        services.retry_incident(session, _int_id(session, Incident, incident_id, "incident"), user=caller.name)
    return "", 204


def _open_incident_of(session: Session, kind_key: str, key: int) -> Optional[Incident]:
    for incident in session.scalars(select(Incident).where(Incident.resolved_at.is_(None))
                                    .order_by(Incident.id)):
        if incident.payload.get(kind_key) == key:
            return incident
    return None


# --- jobs --------------------------------------------------------------------------------------

def _job_rows(session: Session, key: Optional[int] = None) -> list[tuple[Timer, Optional[Incident],
                                                                        Optional[ProcessInstance], ProcessDefinition]]:
    """Waiting timers and jobs, and those that failed into an open incident: those the query's
    filters name, or the one with integer key `key`."""
    failed = {}
    for incident in session.scalars(select(Incident).where(Incident.resolved_at.is_(None), Incident.cause_id.is_(None),
                                                           Incident.kind.in_(("job", "timer")))):
        failed[incident.payload.get("job") or incident.payload.get("timer")] = incident
    query = (select(Timer, ProcessInstance, ProcessDefinition)
             .outerjoin(ProcessInstance, ProcessInstance.id == owner_of(Timer))  # a called process's: its own
             .join(ProcessDefinition, ProcessDefinition.id == func.coalesce(ProcessInstance.definition_id,
                                                                            Timer.definition_id))
             .where(or_(Timer.state == "waiting", Timer.id.in_(list(failed)))))
    condition = _instance_visible(_caller())
    if condition is not None:
        query = query.where(Timer.instance_id.is_not(None), condition)
    if key is not None:
        return [(timer, failed.get(timer.id), row, definition)
                for timer, row, definition in session.execute(query.where(Timer.id == key))]
    ids = _arg_list("jobIds") or ([_arg("jobId")] if _arg("jobId") else None)
    if ids:
        query = query.where(Timer.rest_id.in_(ids))
    instance_ids = _arg_list("processInstanceIds") or ([_arg("processInstanceId")] if _arg("processInstanceId")
                                                       else None)
    if instance_ids:
        query = query.where(ProcessInstance.rest_id.in_(instance_ids))
    for name, column in (("executionId", ProcessInstance.rest_id), ("processDefinitionId", ProcessDefinition.rest_id),
                         ("processDefinitionKey", ProcessDefinition.key), ("activityId", Timer.element_id),
                         ("failedActivityId", Timer.element_id)):
        if _arg(name):
            query = query.where(column == _arg(name))
    if _arg_bool("timers"):
        query = query.where(Timer.kind == "timer")
    if _arg_bool("messages"):  # Camunda's asynchronous continuations are message jobs
        query = query.where(Timer.kind == "job")
    rows = [(timer, failed.get(timer.id), row, definition) for timer, row, definition in session.execute(
        query.order_by(Timer.id))]
    if _arg("failedActivityId"):
        rows = [r for r in rows if r[1] is not None]
    tests = {"withRetriesLeft": lambda r: r[1] is None, "noRetriesLeft": lambda r: r[1] is not None,
             "withException": lambda r: r[1] is not None, "executable": lambda r: r[1] is None,
             "active": lambda r: r[2] is None or r[2].status != "suspended",
             "suspended": lambda r: r[2] is not None and r[2].status == "suspended"}
    rows = [r for r in rows if all(test(r) for name, test in tests.items() if _arg_bool(name))]
    if _arg("exceptionMessage"):
        rows = [r for r in rows if r[1] is not None and r[1].message == _arg("exceptionMessage")]
    if _arg("jobDefinitionId"):
        rows = [r for r in rows if getattr(job_definition_of(r[3], r[0]), "id", None) == _arg("jobDefinitionId")]
    # tenantIdIn filters nothing: jobs belong to no tenant here, every job matches
    fields = {"jobId": lambda r: r[0].id, "processInstanceId": lambda r: r[0].instance_id or 0,
              "executionId": lambda r: r[0].instance_id or 0, "processDefinitionId": lambda r: r[0].definition_id,
              "processDefinitionKey": lambda r: r[3].key, "jobRetries": lambda r: 0 if r[1] else 1,
              "jobDueDate": lambda r: r[0].due_at, "jobPriority": lambda r: 0}
    for sort_by, order in reversed(_sort_keys()):
        if sort_by not in fields:
            raise _bad_request(f"sortBy '{sort_by}' is not one of: {', '.join(fields)}")
        rows.sort(key=fields[sort_by], reverse=order == "desc")
    return rows


def job_dto(timer: Timer, incident: Optional[Incident], row: Optional[ProcessInstance],
            definition: ProcessDefinition) -> dict:
    job_definition = job_definition_of(definition, timer)
    return {"id": timer.rest_id, "jobDefinitionId": job_definition.id if job_definition else None,
            "processInstanceId": row.rest_id if row else None,
            "executionId": row.rest_id if row else None, "processDefinitionId": definition.rest_id,
            "processDefinitionKey": definition.key, "retries": 0 if incident else 1,
            "exceptionMessage": incident.message if incident else None,
            "failedActivityId": timer.element_id if incident else None, "dueDate": _date(timer.due_at),
            "suspended": bool(row is not None and row.status == "suspended"), "priority": 0, "tenantId": None,
            "createTime": None}


@rest_api.get("/job")
@rest_api.post("/job")
def jobs():
    with _db().read() as session:
        return [job_dto(*r) for r in _page_list(_job_rows(session))]


@rest_api.get("/job/count")
@rest_api.post("/job/count")
def jobs_count():
    with _db().read() as session:
        return {"count": len(_job_rows(session))}


@rest_api.get("/job/<job_id>")
def job(job_id: str):
    with _db().read() as session:
        found = _job_rows(session, _int_id(session, Timer, job_id, "job"))
        if not found:
            raise NotFound(f"job {job_id} ran or was cancelled")
        return job_dto(*found[0])


@rest_api.put("/job/<job_id>/retries")
def set_job_retries(job_id: str):
    """Retries above 0 on a failed job run it again (administrators); a waiting job keeps waiting."""
    caller = _require_admin("set job retries")
    retries = _retries(_json_body())
    with _db().write() as session:
        key = _int_id(session, Timer, job_id, "job")
        incident = _open_job_incident(session, key)
        if incident is not None and retries > 0:
            services.retry_incident(session, incident.id, user=caller.name)
        elif incident is None and retries == 0:
            raise InvalidInput(f"job {job_id} has not failed: it waits to run, and its retries stay")
    return "", 204


@rest_api.post("/job/<job_id>/execute")
def execute_job(job_id: str):
    """Run a waiting job now, or a failed one again (administrators)."""
    caller = _require_admin("execute jobs")
    with _db().write() as session:
        key = _int_id(session, Timer, job_id, "job")
        incident = _open_job_incident(session, key)
        if incident is not None:
            services.retry_incident(session, incident.id, user=caller.name)
        else:
            services.execute_job(session, key, user=caller.name)
    return "", 204


def _open_job_incident(session: Session, key: int) -> Optional[Incident]:
    return _open_incident_of(session, "job", key) or _open_incident_of(session, "timer", key)


@rest_api.put("/job/<job_id>/duedate")
def set_job_due_date(job_id: str):
    """When a waiting timer fires (administrators): `duedate` (null: now), `cascade` moving a cycle's
    following occurrences by as much, as in Camunda."""
    caller = _require_admin("set the due dates of jobs")
    body = _json_body()
    try:
        due = read_values({"duedate": body.get("duedate")}, {"duedate": "date"}, "field")["duedate"]
    except QueryValueRefused as refused:
        raise _bad_request(str(refused)) from None
    cascade = _body_flag(body, "cascade")
    with _db().write() as session:
        key = _int_id(session, Timer, job_id, "job")
        found = _job_rows(session, key)
        if not found:
            raise NotFound(f"job {job_id} ran or was cancelled")
        if found[0][1] is not None:  # its open incident
            raise InvalidInput(f"job {job_id} failed: it runs again when its retries are set above 0 "
                               f"(PUT /job/{job_id}/retries) or it is executed, not at a due date")
        services.set_job_due_date(session, key, due, cascade=cascade, user=caller.name)
    return "", 204


@rest_api.get("/job/<job_id>/stacktrace")
def job_stacktrace(job_id: str):
    """A failed job's error as text (the engine's message: no Java stack trace); 204 for a job that
    has not failed."""
    with _db().read() as session:
        key = _int_id(session, Timer, job_id, "job")
        if not _job_rows(session, key):
            raise NotFound(f"job {job_id} ran or was cancelled")
        incident = _open_job_incident(session, key)
        if incident is None:
            return "", 204
        return incident.message, 200, {"Content-Type": "text/plain; charset=utf-8"}


# Camunda's job calls that have nothing to act on here: each refused, saying what does it instead.
_JOB_CALLS_NOT_OFFERED = {
    ("PUT", "/job/<job_id>/suspended"): "a job is suspended and activated with its process instance: "
                                        "PUT /process-instance/{id}/suspended",
    ("PUT", "/job/suspended"): "jobs are suspended and activated with their process instances: "
                               "PUT /process-instance/{id}/suspended",
    ("PUT", "/job/<job_id>/priority"): "jobs have no priorities here: each runs when it is due (priority 0)",
    ("DELETE", "/job/<job_id>"): "a job is not deleted on its own (its instance would wait for it forever): "
                                 "delete the process instance, or execute the job or set its due date",
    ("POST", "/job/retries"): "there are no batches: set each failed job's retries with PUT /job/{id}/retries",
    ("POST", "/job/<job_id>/duedate/recalculate"): "a due date is set, not recalculated: PUT /job/{id}/duedate",
    ("PUT", "/job-definition/<job_id>/suspended"): "job definitions are not suspended: a job is suspended with its "
                                                   "process instance (PUT /process-instance/{id}/suspended)",
    ("PUT", "/job-definition/suspended"): "job definitions are not suspended: a job is suspended with its process "
                                          "instance (PUT /process-instance/{id}/suspended)",
    ("PUT", "/job-definition/<job_id>/jobPriority"): "jobs have no priorities here: each runs when it is due",
    ("PUT", "/job-definition/<job_id>/retries"): "set each failed job's retries with PUT /job/{id}/retries",
}


def _not_offered(reason: str):
    def refuse(**_ids):
        _require_admin("change jobs")
        raise _bad_request(f"{request.method} {request.path} is not offered: {reason}")
    return refuse


for (_method, _rule), _reason in _JOB_CALLS_NOT_OFFERED.items():
    rest_api.add_url_rule(_rule, f"job_not_offered_{_method.lower()}_{_rule.replace('/', '_')}",
                          _not_offered(_reason), methods=[_method])


# --- job definitions ----------------------------------------------------------------------------

def _job_definition_rows(session: Session, wanted: Optional[str] = None) -> list[tuple[JobDefinition,
                                                                                     ProcessDefinition]]:
    """The job definitions of the process definition versions that the query's filters name, or the
    one whose id is `wanted`."""
    query = select(ProcessDefinition).order_by(ProcessDefinition.id)
    if wanted is not None:
        return [(found, definition) for definition in session.scalars(query)
                for found in job_definitions(definition) if found.id == wanted]
    if _arg("processDefinitionId"):
        query = query.where(ProcessDefinition.rest_id == _arg("processDefinitionId"))
    if _arg("processDefinitionKey"):
        query = query.where(ProcessDefinition.key == _arg("processDefinitionKey"))
    if _arg_bool("active"):
        query = query.where(ProcessDefinition.suspended.is_(False))
    if _arg_bool("suspended"):
        query = query.where(ProcessDefinition.suspended.is_(True))
    rows = [(found, definition) for definition in session.scalars(query) for found in job_definitions(definition)]
    tests = {"jobDefinitionId": lambda r, v: r[0].id == v, "jobType": lambda r, v: r[0].job_type == v,
             "jobConfiguration": lambda r, v: r[0].configuration == v,
             "activityIdIn": lambda r, v: r[0].element_id in v}
    for name, test in tests.items():
        value = _arg_list(name) if name == "activityIdIn" else _arg(name)
        if value:
            rows = [r for r in rows if test(r, value)]
    if _arg_bool("withOverridingJobPriority"):
        rows = []  # no job definition overrides a priority here
    # tenantIdIn, withoutTenantId, includeJobDefinitionsWithoutTenantId filter nothing: no tenants here
    fields = {"jobDefinitionId": lambda r: r[0].id, "activityId": lambda r: r[0].element_id,
              "processDefinitionId": lambda r: r[1].rest_id, "processDefinitionKey": lambda r: r[1].key,
              "jobType": lambda r: r[0].job_type, "jobConfiguration": lambda r: r[0].configuration,
              "tenantId": lambda r: 0}
    for sort_by, order in reversed(_sort_keys()):
        if sort_by not in fields:
            raise _bad_request(f"sortBy '{sort_by}' is not one of: {', '.join(fields)}")
        rows.sort(key=fields[sort_by], reverse=order == "desc")
    return rows


def job_definition_dto(session: Session, found: JobDefinition, definition: ProcessDefinition) -> dict:
    return {"id": found.id, "processDefinitionId": definition.rest_id, "processDefinitionKey": definition.key,
            "activityId": found.element_id, "jobType": found.job_type, "jobConfiguration": found.configuration,
            "overridingJobPriority": None, "suspended": bool(definition.suspended), "tenantId": None,
            "deploymentId": session.get(Deployment, definition.deployment_id).rest_id}


@rest_api.get("/job-definition")
@rest_api.post("/job-definition")
def job_definitions_listed():
    with _db().read() as session:
        return [job_definition_dto(session, *r) for r in _page_list(_job_definition_rows(session))]


@rest_api.get("/job-definition/count")
@rest_api.post("/job-definition/count")
def job_definitions_count():
    with _db().read() as session:
        return {"count": len(_job_definition_rows(session))}


@rest_api.get("/job-definition/<definition_id>")
def job_definition(definition_id: str):
    with _db().read() as session:
        found = _job_definition_rows(session, definition_id)
        if not found:
            raise NotFound(f"job definition {definition_id} does not exist")
        return job_definition_dto(session, *found[0])


# --- external tasks: lock and retries -------------------------------------------------------------

@rest_api.post("/external-task/<task_id>/unlock")
def unlock_external_task(task_id: str):
    _require_writer("unlock external tasks")
    with _db().write() as session:
        task, _row, _definition = open_external_task(session, task_id)
        task.worker_id, task.lock_expires_at = None, None
    return "", 204


@rest_api.put("/external-task/<task_id>/retries")
def set_external_task_retries(task_id: str):
    """Retries above 0 on a task that failed into an incident resolve it: workers fetch it again."""
    caller = _require_admin("set the retries of external tasks")
    retries = _retries(_json_body())
    with _db().write() as session:
        task, _row, _definition = open_external_task(session, task_id)
        incident = _open_incident_of(session, "external_task", task.id)
        if incident is not None and retries > 0:
            services.retry_incident(session, incident.id, user=caller.name)
        task.retries = retries if incident is None or retries > 0 else task.retries
    return "", 204


# --- executions and event subscriptions -----------------------------------------------------------

def _waiting_at(activity_id: str):
    """Instances with a token at `activity_id`: a ready user task, an open external task, a waiting
    timer or job, or a message or signal subscription there."""
    return or_(*(ProcessInstance.id.in_(select(model.instance_id).where(model.element_id == activity_id, condition))
                 for model, condition in ((UserTask, UserTask.state == "ready"),
                                          (ExternalTask, ExternalTask.state == "open"),
                                          (Timer, Timer.state == "waiting"),
                                          (MessageSubscription, MessageSubscription.id.is_not(None)))))


def _running_instances():
    return _visible(select(ProcessInstance, ProcessDefinition, Deployment.tenant_id)
                    .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                    .join(Deployment, Deployment.id == ProcessDefinition.deployment_id)
                    .where(ProcessInstance.status.not_in(_ENDED)))


def _execution_query():
    query = _running_instances()
    for name, column in (("businessKey", ProcessInstance.business_key),
                         ("processDefinitionId", ProcessDefinition.rest_id),
                         ("processDefinitionKey", ProcessDefinition.key),
                         ("processInstanceId", ProcessInstance.rest_id)):
        if _arg(name):
            query = query.where(column == _arg(name))
    if _arg("activityId"):
        query = query.where(_waiting_at(_arg("activityId")))
    for name, kind in (("messageEventSubscriptionName", "message"), ("signalEventSubscriptionName", "signal")):
        if _arg(name):
            query = query.where(ProcessInstance.id.in_(select(MessageSubscription.instance_id).where(
                MessageSubscription.kind == kind, MessageSubscription.message_name == _arg(name))))
    if _arg_bool("active"):
        query = query.where(ProcessInstance.status != "suspended")
    if _arg_bool("suspended"):
        query = query.where(ProcessInstance.status == "suspended")
    if _arg_list("tenantIdIn"):
        query = query.where(Deployment.tenant_id.in_(_arg_list("tenantIdIn")))
    return _sorted(query, {"instanceId": ProcessInstance.id, "definitionKey": ProcessDefinition.key,
                           "definitionId": ProcessInstance.definition_id, "tenantId": Deployment.tenant_id},
                   (ProcessInstance.id,))


def execution_dto(row: ProcessInstance, _definition: ProcessDefinition, tenant: Optional[str]) -> dict:
    return {"id": row.rest_id, "processInstanceId": row.rest_id, "ended": row.status in _ENDED, "tenantId": tenant}


@rest_api.get("/execution")
def executions():
    with _db().read() as session:
        return [execution_dto(*r) for r in session.execute(_paged(_execution_query()))]


@rest_api.get("/execution/count")
def executions_count():
    with _db().read() as session:
        return _count(session, _execution_query())


@rest_api.get("/execution/<execution_id>")
def execution(execution_id: str):
    with _db().read() as session:
        key = _int_id(session, ProcessInstance, execution_id, "execution")
        found = session.execute(_running_instances().where(ProcessInstance.id == key)).first()
        if found is None:
            raise NotFound(f"execution {execution_id} has ended or is not visible to {_caller().name}")
        return execution_dto(*found)


def _subscription_query():
    query = _visible(select(MessageSubscription, ProcessInstance)
                     .join(ProcessInstance, ProcessInstance.id == owner_of(MessageSubscription)))
    for name, column in (("eventSubscriptionId", MessageSubscription.rest_id),
                         ("eventName", MessageSubscription.message_name), ("eventType", MessageSubscription.kind),
                         ("executionId", ProcessInstance.rest_id), ("processInstanceId", ProcessInstance.rest_id),
                         ("activityId", MessageSubscription.element_id)):
        if _arg(name):
            query = query.where(column == _arg(name))
    if _arg_list("tenantIdIn") and not _arg_bool("includeEventSubscriptionsWithoutTenantId"):
        query = query.where(MessageSubscription.id.is_(None))  # subscriptions belong to no tenant
    # withoutTenantId filters nothing: every subscription is without a tenant
    return _sorted(query, {"created": MessageSubscription.id, "tenantId": MessageSubscription.id},
                   (MessageSubscription.id,))


@rest_api.get("/event-subscription")
def event_subscriptions():
    with _db().read() as session:
        return [{"id": sub.rest_id, "eventType": sub.kind, "eventName": sub.message_name,
                 "executionId": row.rest_id, "processInstanceId": row.rest_id, "activityId": sub.element_id,
                 "createdDate": None, "tenantId": None}
                for sub, row in session.execute(_paged(_subscription_query()))]


@rest_api.get("/event-subscription/count")
def event_subscriptions_count():
    with _db().read() as session:
        return _count(session, _subscription_query())


# --- authorizations (read) ------------------------------------------------------------------------

# Camunda's resource types and what dalad's roles and bureaus amount to in its terms.
_RESOURCES = {"Application": 0, "User": 1, "Group": 2, "Authorization": 4, "ProcessDefinition": 6, "Task": 7,
              "ProcessInstance": 8, "Deployment": 9, "DecisionDefinition": 10, "HistoricTask": 19,
              "HistoricProcessInstance": 20}
_NAMESPACE = uuid.UUID("6f1c2a9e-3f0b-11ef-9d4e-0242ac120002")


def _authorizations(session: Session) -> list[dict]:
    out = []

    def grant(resource: str, permissions: list[str], *, user: Optional[str] = None, group: Optional[str] = None):
        key = f"{user or ''}/{group or ''}/{resource}"
        out.append({"id": str(uuid.uuid5(_NAMESPACE, key)), "type": 1, "permissions": permissions, "userId": user,
                    "groupId": group, "resourceType": _RESOURCES[resource], "resourceId": "*", "links": [],
                    "removalTime": None, "rootProcessInstanceId": None})
    for user in users.list_users(session):
        if not user.active:
            continue
        if bureaus.ADMIN in user.role_names:
            for resource in _RESOURCES:
                grant(resource, ["ALL"], user=user.name)
        elif bureaus.AUDITOR in user.role_names:
            for resource in ("ProcessDefinition", "ProcessInstance", "Task", "Deployment", "DecisionDefinition",
                             "HistoricTask", "HistoricProcessInstance"):
                grant(resource, ["READ", "READ_HISTORY"] if resource == "ProcessDefinition" else ["READ"],
                      user=user.name)
    for group in sorted({g for user in users.list_users(session) if user.active for g in user.groups}):
        grant("Task", ["READ", "UPDATE", "TASK_WORK"], group=group)
        grant("ProcessDefinition", ["READ", "CREATE_INSTANCE"], group=group)
        grant("ProcessInstance", ["CREATE"], group=group)
    return out


def _authorization_rows(session: Session) -> list[dict]:
    rows = _authorizations(session)
    wanted = {"id": _arg("id"), "type": _arg_int("type"), "resourceType": _arg_int("resourceType"),
              "resourceId": _arg("resourceId")}  # (the numbers as Camunda's: a 400 for one that is not)
    for name, value in wanted.items():
        if value is not None:
            rows = [a for a in rows if a[name] == value]
    for name, field in (("userIdIn", "userId"), ("groupIdIn", "groupId")):
        wanted = _arg_list(name)
        if wanted:
            rows = [a for a in rows if a[field] in wanted]
    for sort_by, order in reversed(_sort_keys()):
        if sort_by not in ("resourceType", "resourceId"):
            raise _bad_request(f"sortBy '{sort_by}' is not one of: resourceType, resourceId")
        rows.sort(key=lambda a, f=sort_by: str(a[f]), reverse=order == "desc")
    return rows


def _require_reader() -> None:
    caller = _caller()
    if not caller.reads_all:
        raise AccessDenied(f"{caller.name} may not read authorizations: that needs the admin or auditor role")


@rest_api.get("/authorization")
def authorizations():
    _require_reader()
    with _db().read() as session:
        return _page_list(_authorization_rows(session))


@rest_api.get("/authorization/count")
def authorizations_count():
    _require_reader()
    with _db().read() as session:
        return {"count": len(_authorization_rows(session))}

