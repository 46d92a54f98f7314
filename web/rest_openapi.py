"""The OpenAPI 3 document of the REST API at /engine-rest (served at /engine-rest/openapi.json).

It describes what web/rest.py implements, in the names of Camunda 7's engine-rest document
(operations, parameters and schemas keep Camunda's names where Camunda has the call); the
test `test_rest_openapi` checks that every route is described and nothing else. It is also the
one list of the query parameters (and POST query bodies) each call accepts, with their kinds:
`accepted` answers the REST layer, which refuses any other with a 400 and reads each value as its
kind (web/rest_query_values.py; a body filter as its query parameter).
"""
from __future__ import annotations

import re
from copy import deepcopy
from functools import lru_cache
from typing import Optional

from engine.users import EMAIL_LENGTH, EMAIL_PATTERN, NAME_LENGTH, NAME_PATTERN

# --- schema shorthands -------------------------------------------------------------------------

STR = {"type": "string", "nullable": True}
INT = {"type": "integer", "format": "int32", "nullable": True}
LONG = {"type": "integer", "format": "int64", "nullable": True}
BOOL = {"type": "boolean", "nullable": True}
# Dates as Camunda writes them: yyyy-MM-dd'T'HH:mm:ss.SSSZ in the server's zone (an offset without a
# colon, so not RFC 3339's date-time). A date given in a query may also be RFC 3339 (ISO 8601).
CAMUNDA_DATE = (r"^(?!0000)\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}"
                r"[+-]([01]\d|2[0-3])[0-5]\d$")
DATE = {"type": "string", "pattern": CAMUNDA_DATE, "nullable": True,
        "description": "yyyy-MM-dd'T'HH:mm:ss.SSSZ in the server's zone, e.g. 2026-03-02T09:00:00.000+0800"}
DATE_GIVEN = {"anyOf": [{"type": "string", "pattern": CAMUNDA_DATE}, {"type": "string", "format": "date-time"}],
              "description": "2026-03-02T09:00:00.000+0800 as Camunda writes dates, or RFC 3339 "
                             "(2026-03-02T09:00:00+08:00)"}
ANY = {"nullable": True, "description": "any JSON value"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(doc: str = "", **properties) -> dict:
    schema = {"type": "object", "properties": properties}
    if doc:
        schema["description"] = doc
    return schema


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def map_of(items: dict, description: str = "") -> dict:
    schema = {"type": "object", "additionalProperties": items, "nullable": True}
    if description:
        schema["description"] = description
    return schema


# The integers the API reads (web/rest.py's _arg_int and whole_number): 32 bits, 64 for an int64.
BOUNDS = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


def bounded(schema: dict) -> dict:
    """An integer schema with the bounds of its format."""
    if schema.get("type") != "integer":
        return schema
    low, high = BOUNDS[schema.get("format", "int32")]
    return {**schema, "minimum": low, "maximum": high}


MAX_MILLIS = 10**14  # a lock or retry timeout: about 3,000 years at most, so it ends before the year 9999
DURATION = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_MILLIS}


def needs(schema: dict, *names: str) -> dict:
    """`schema` with these properties required."""
    return {**schema, "required": list(names)}


def anycase(*words: str) -> str:
    """A pattern for one of `words` in any letter case, with spaces around, or none of them."""
    spelled = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word) for word in words)
    return r"^\s*(" + "|".join(spelled) + r")?\s*$"


TEXT = {"type": "string", "minLength": 1}  # required text, not empty
NOT_BLANK = {"type": "string", "pattern": r"\S"}  # required text, not only spaces
VARIABLE_TYPES = ("String", "Boolean", "Short", "Integer", "Long", "Double", "Date", "Json", "Object", "Null")

SCHEMAS = {
    "ExceptionDto": obj("An error: the exception's name and a message.", type=STR, message=STR),
    "AuthorizationExceptionDto": obj("Refused for lack of rights (403).", type=STR, message=STR, userId=STR,
                                     missingAuthorizations=array(obj())),
    "ProblemDto": obj(message=STR, line=INT, column=INT, mainElementId=STR, elementIds=array(STR)),
    "ResourceReportDto": obj(errors=array(ref("ProblemDto")), warnings=array(ref("ProblemDto"))),
    "ParseExceptionDto": obj("A refused deployment; the message starts with `ENGINE-09005 Could not parse BPMN "
                             "process.` and details are keyed by file name.", type=STR, message=STR,
                             details=map_of(ref("ResourceReportDto"))),
    "CountResultDto": obj(count=LONG),
    "VersionDto": obj("The engine-rest version whose shapes this API follows.", version=STR),
    "ProcessEngineDto": obj(name=STR),
    "AtomLink": obj(rel=STR, href=STR, method=STR),
    "VariableValueDto": obj("A typed value. Types: String, Boolean, Short, Integer, Long, Double, Date (ISO text, "
                            "kept as text), Json (the value is JSON text), Object (JSON text with valueInfo "
                            "serializationDataFormat application/json), Null. The type given is kept and given back "
                            "while the value still fits it (the type's letter case does not matter; no type: the "
                            "JSON value as it is).", value=ANY,
                            type={**STR, "pattern": anycase(*VARIABLE_TYPES)},
                            valueInfo=map_of(ANY)),
    "VariableMap": map_of(ref("VariableValueDto"), "Variables by name. A name set over REST is an identifier: letters "
                                                   "of any script, digits and _, not starting with a digit or _."),
    "DeploymentDto": obj(links=array(ref("AtomLink")), id=STR, name=STR, source=STR, deploymentTime=DATE,
                         tenantId=STR),
    "DeploymentWithDefinitionsDto": {"allOf": [ref("DeploymentDto"), obj(
        "deployed… list only the versions this deployment created (null when none).",
        deployedProcessDefinitions=map_of(ref("ProcessDefinitionDto"), "by process definition id"),
        deployedCaseDefinitions=map_of(obj()), deployedDecisionDefinitions=map_of(ref("DecisionDefinitionDto")),
        deployedDecisionRequirementsDefinitions=map_of(obj()),
        details=map_of(ref("ResourceReportDto"), "Only when the deployment has warnings (what deploys but runs "
                                                 "otherwise than in Camunda: Java as external tasks, scripts as "
                                                 "incidents, unknown groups), by file name."))]},
    "DeploymentResourceDto": obj(id=STR, name=STR, deploymentId=STR),
    "ProcessDefinitionDto": obj(id=STR, key=STR, category=STR, description=STR, name=STR, version=INT,
                                resource=STR, deploymentId=STR, diagram=STR, suspended=BOOL, tenantId=STR,
                                versionTag=STR, historyTimeToLive=INT, startableInTasklist=BOOL),
    "ProcessDefinitionDiagramDto": obj(id=STR, bpmn20Xml=STR),
    "DecisionDefinitionDto": obj(id=STR, key=STR, category=STR, name=STR, version=INT, resource=STR,
                                 deploymentId=STR, decisionRequirementsDefinitionId=STR,
                                 decisionRequirementsDefinitionKey=STR, tenantId=STR, versionTag=STR,
                                 historyTimeToLive=INT),
    "StartProcessInstanceDto": obj(businessKey=STR, variables=ref("VariableMap"), withVariablesInReturn=BOOL),
    "ProcessInstanceDto": obj(links=array(ref("AtomLink")), id=STR, definitionId=STR, businessKey=STR,
                              caseInstanceId=STR, ended=BOOL, suspended=BOOL, tenantId=STR),
    "ProcessInstanceWithVariablesDto": {"allOf": [ref("ProcessInstanceDto"),
                                                  obj(variables=ref("VariableMap"))]},
    "PatchVariablesDto": obj("Only modifications: deleting variables is not supported.",
                             modifications=ref("VariableMap"),
                             deletions={**array({"type": "string"}), "maxItems": 0, "nullable": True}),
    "SuspensionStateDto": needs(obj(suspended={"type": "boolean"}), "suspended"),
    "TaskDto": obj(id=STR, name=STR, assignee=STR, owner=STR, created=DATE, due=DATE, followUp=DATE,
                   delegationState=STR, description=STR, executionId=STR, parentTaskId=STR, priority=INT,
                   processDefinitionId=STR, processInstanceId=STR, caseExecutionId=STR, caseDefinitionId=STR,
                   caseInstanceId=STR, taskDefinitionKey=STR, suspended=BOOL, formKey=STR,
                   camundaFormRef={**obj(), "nullable": True}, tenantId=STR),
    "UserIdDto": obj(userId=STR),
    "CompleteTaskDto": obj(variables=ref("VariableMap"), withVariablesInReturn=BOOL),
    "CorrelationMessageDto": needs(obj(
        "Correlates to the one execution waiting for the message (by business key, process instance and "
        "correlation keys), else starts the process whose start event it is; several matching are refused "
        "(MismatchingMessageCorrelationException) unless all is true.",
        messageName=TEXT, businessKey=STR, processInstanceId=STR, withoutTenantId=BOOL,
        correlationKeys=ref("VariableMap"), processVariables=ref("VariableMap"),
        all={**BOOL, "description": "to every waiting execution and every process the message starts"},
        resultEnabled=BOOL, variablesInResultEnabled=BOOL), "messageName"),
    "ExecutionDto": obj(id=STR, processInstanceId=STR, ended=BOOL, tenantId=STR),
    "MessageCorrelationResultWithVariableDto": obj(
        resultType={"type": "string", "enum": ["Execution", "ProcessDefinition"]},
        execution={"allOf": [ref("ExecutionDto")], "nullable": True},
        processInstance={"allOf": [ref("ProcessInstanceDto")], "nullable": True},
        variables=ref("VariableMap")),
    "HistoricProcessInstanceDto": obj(
        id=STR, rootProcessInstanceId=STR, superProcessInstanceId=STR, superCaseInstanceId=STR,
        caseInstanceId=STR, processDefinitionName=STR, processDefinitionKey=STR, processDefinitionVersion=INT,
        processDefinitionId=STR, businessKey=STR, startTime=DATE, endTime=DATE, removalTime=DATE,
        durationInMillis=LONG, startUserId=STR, startActivityId=STR, deleteReason=STR, tenantId=STR,
        state={"type": "string", "enum": ["ACTIVE", "SUSPENDED", "COMPLETED", "EXTERNALLY_TERMINATED",
                                          "INTERNALLY_TERMINATED"]}),
    "HistoricActivityInstanceDto": obj(
        "Rebuilt from the instance history: start events, user tasks, and the message and timer events reached.",
        id=STR, parentActivityInstanceId=STR, activityId=STR, activityName=STR, activityType=STR,
        processDefinitionKey=STR, processDefinitionId=STR, processInstanceId=STR, executionId=STR, taskId=STR,
        calledProcessInstanceId=STR, calledCaseInstanceId=STR, assignee=STR, startTime=DATE, endTime=DATE,
        durationInMillis=LONG, canceled=BOOL, completeScope=BOOL, tenantId=STR, removalTime=DATE,
        rootProcessInstanceId=STR),
    "UserOperationLogEntryDto": obj(
        "A history event that a person caused. operationType: Create, Claim, Complete, Suspend, Activate, "
        "Delete, ModifyVariable, CorrelateMessage, Execute (a job run by hand), SetDueDate (a timer's, property "
        "duedate, values in milliseconds since 1970 as Camunda writes them), Update.",
        id=STR, userId=STR, timestamp=DATE, operationId=STR, operationType=STR, entityType=STR, category=STR,
        annotation=STR, property=STR, orgValue=STR, newValue=STR, deploymentId=STR, processDefinitionId=STR,
        processDefinitionKey=STR, processInstanceId=STR, executionId=STR, caseDefinitionId=STR,
        caseInstanceId=STR, caseExecutionId=STR, taskId=STR, externalTaskId=STR, batchId=STR, jobId=STR,
        jobDefinitionId=STR, removalTime=DATE, rootProcessInstanceId=STR),
    "FetchExternalTasksDto": needs(obj(
        "Answered at once: asyncResponseTimeout (long polling) is not used; maxTasks is 10 when not given.",
        workerId=TEXT, maxTasks={**bounded(INT), "minimum": 0, "nullable": False}, usePriority=BOOL,
        topics={**array(ref("FetchExternalTaskTopicDto")), "nullable": True}), "workerId"),
    "FetchExternalTaskTopicDto": needs(obj(
        "A topic, narrowed by business key, process definition and process variables (values the instance's "
        "variables equal).",
        topicName=TEXT, lockDuration=DURATION,
        variables={**array({"type": "string"}), "nullable": True}, businessKey=STR, processDefinitionId=STR,
        processDefinitionIdIn={**array({"type": "string"}), "nullable": True}, processDefinitionKey=STR,
        processDefinitionKeyIn={**array({"type": "string"}), "nullable": True}, processVariables=map_of(ANY)),
        "topicName", "lockDuration"),
    "LockedExternalTaskDto": obj(activityId=STR, activityInstanceId=STR, errorMessage=STR, errorDetails=STR,
                                 executionId=STR, id=STR, lockExpirationTime=DATE, processDefinitionId=STR,
                                 processDefinitionKey=STR, processDefinitionVersionTag=STR, processInstanceId=STR,
                                 retries=INT, suspended=BOOL, workerId=STR, topicName=STR, tenantId=STR,
                                 variables=ref("VariableMap"), priority=LONG, businessKey=STR,
                                 extensionProperties=map_of(STR)),
    "CompleteExternalTaskDto": needs(obj(workerId=TEXT, variables=ref("VariableMap")), "workerId"),
    "ExternalTaskFailureDto": needs(obj(workerId=TEXT, errorMessage=STR, errorDetails=STR, retries=bounded(INT),
                                        retryTimeout={**DURATION, "minimum": -2**63, "nullable": True,
                                                      "description": "0 or less: at once"}), "workerId"),
    "ExternalTaskBpmnError": needs(obj(workerId=TEXT, errorCode=TEXT, errorMessage=STR, variables=ref("VariableMap")),
                                   "workerId", "errorCode"),
    "ExtendLockOnExternalTaskDto": needs(obj(workerId=TEXT, newDuration=DURATION),
                                         "workerId", "newDuration"),
    "DeploymentCreateForm": obj(
        "Camunda Modeler's form: the settings, then one part per file (.bpmn, .dmn, .form) named by its file name.",
        **{"deployment-name": STR, "deployment-source": STR,
           "enable-duplicate-filtering": {"type": "string", "enum": ["true", "false"]},
           "deploy-changed-only": {"type": "string", "enum": ["true", "false"]}, "tenant-id": STR,
           "data": {"type": "string", "format": "binary", "description": "any other part name: a file"}}),
}

# --- operation shorthands ----------------------------------------------------------------------

ERRORS = {
    "400": ("Refused: a malformed request, or the engine refused the input.", "ExceptionDto"),
    "401": ("No valid credentials (WWW-Authenticate: Basic realm=\"dalad\").", "ExceptionDto"),
    "403": ("The user may not do this.", "AuthorizationExceptionDto"),
    "404": ("No such object.", "ExceptionDto"),
    "409": ("The task or instance changed: already completed, claimed, suspended.", "ExceptionDto"),
    "422": ("The diagram failed on the data given.", "ExceptionDto"),
}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def query(name: str, schema: dict, description: str = "") -> dict:
    schema = DATE_GIVEN if schema is DATE else bounded({k: v for k, v in schema.items() if k != "nullable"})
    param = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def path(name: str, description: str = "") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
            "description": description or name}


def op(operation_id: str, tag: str, summary: str, *, params=(), body=None, ok=None, status="200",
       errors=("400", "401", "403", "404")) -> dict:
    responses = {}
    if ok is None:
        responses["204"] = {"description": "Done; no content."}
    else:
        responses[status] = {"description": "Done.", "content": json_content(ok)}
    codes = {"400", "401", *errors} | ({"404"} if any(p["in"] == "path" for p in params) else set())
    for code in sorted(codes):
        description, schema = ERRORS[code]
        responses[code] = {"description": description, "content": json_content(ref(schema))}
    operation = {"operationId": operation_id, "tags": [tag], "summary": summary, "parameters": list(params),
                 "responses": responses}
    if body is not None:
        operation["requestBody"] = body
    return operation


def json_body(schema_name: str, required: bool = False) -> dict:
    return {"required": required, "content": json_content(ref(schema_name))}


PAGING = [query("firstResult", INT, "skip this many results"), query("maxResults", INT, "at most this many results")]


def sorting(*fields: str) -> list[dict]:
    return [query("sortBy", {"type": "string", "enum": list(fields)}),
            query("sortOrder", {"type": "string", "enum": ["asc", "desc"]})]


def listed(schema: str) -> dict:
    return array(ref(schema))


OPERATORS = ["eq", "neq", "gt", "gteq", "lt", "lteq", "like", "notLike"]
# A field a query body does not take is refused unless it is null (clients send every field they know).
ONLY_NULL = {"type": "string", "nullable": True, "enum": [None],
             "description": "a filter this call does not take: refused unless null"}


def parameter_kind(param: dict) -> str:
    """What a query parameter takes, and the POST body filter made from it (web/rest_query_values.py
    reads either): text, boolean, int32, int64, date, list (of text) or variables (conditions)."""
    schema = param["schema"]
    described = param.get("description") or schema.get("description") or ""
    if "anyOf" in schema:
        return "date"
    if described.startswith("name_operator_value"):
        return "variables"
    if described == "comma-separated":
        return "list"
    if schema.get("type") == "integer":
        return schema.get("format", "int32")
    return "boolean" if schema.get("type") == "boolean" else "text"


QUERY_BODY_KINDS: dict[str, dict[str, str]] = {}  # a query body's schema name -> its filters' kinds


def query_body(schema_name: str, filters: list[dict], sort_fields=()) -> dict:
    """The body of a POST query variant: the GET form's filters as JSON fields (lists as arrays;
    null filters nothing), and `sorting` as Camunda's [{sortBy, sortOrder}] by `sort_fields`.
    Registers the schema and the kinds of its fields (its query parameters' kinds); answers the body."""
    QUERY_BODY_KINDS[schema_name] = {param["name"]: parameter_kind(param) for param in filters}
    if sort_fields:
        QUERY_BODY_KINDS[schema_name]["sorting"] = "sorting"
    properties = {}
    for param in filters:
        schema = {**param["schema"], "nullable": True}
        if "anyOf" in schema:  # a date: null in its first form
            schema = {**param["schema"], "anyOf": [{**schema["anyOf"][0], "nullable": True}, *schema["anyOf"][1:]]}
        kind = param.get("description") or schema.get("description") or ""
        if kind == "comma-separated":
            schema = {"oneOf": [{**array({"type": "string"}), "nullable": True}, {"type": "string"}]}
        elif kind.startswith("name_operator_value"):
            condition = {**obj(name={"type": "string"}, operator={"type": "string", "enum": OPERATORS},
                               value=ANY), "required": ["name", "operator"]}
            schema = {**array(condition), "nullable": True}
        properties[param["name"]] = schema
    if sort_fields:
        item = {**obj(sortBy={"type": "string", "enum": list(sort_fields)},
                      sortOrder={"type": "string", "enum": ["asc", "desc", None], "nullable": True}),
                "required": ["sortBy"]}
        properties["sorting"] = {"oneOf": [{**array(item), "nullable": True}, item]}
    SCHEMAS[schema_name] = {**obj("The filters of the GET form as JSON; paging stays in the query string.",
                                  **properties), "additionalProperties": ONLY_NULL}
    return json_body(schema_name)


COUNT = ref("CountResultDto")
LIST = {"type": "string", "description": "comma-separated"}
_CONDITION = r"[^,]+_(eq|neq|gteq|gt|lteq|lt|like|notLike)_[^,]*"
VARIABLES = {"type": "string", "pattern": f"^{_CONDITION}(,{_CONDITION})*$",
             "description": "name_operator_value, comma-separated (eq, neq, gt, gteq, lt, lteq, like, notLike); in a "
                            "POST body [{name, operator, value}]"}

DEPLOYMENT_FILTERS = [query("id", STR), query("name", STR), query("nameLike", STR, "SQL LIKE pattern, % and _"),
                      query("source", STR), query("withoutSource", BOOL), query("tenantIdIn", STR, "comma-separated"),
                      query("withoutTenantId", BOOL), query("includeDeploymentsWithoutTenantId", BOOL),
                      query("before", DATE), query("after", DATE)]
DEFINITION_FILTERS = [query("processDefinitionId", STR), query("processDefinitionIdIn", LIST), query("key", STR),
                      query("keysIn", LIST), query("keyLike", STR), query("name", STR), query("nameLike", STR),
                      query("version", INT), query("latestVersion", BOOL), query("deploymentId", STR),
                      query("versionTag", STR), query("suspended", BOOL), query("active", BOOL)]
INSTANCE_FILTERS = [query("processInstanceIds", STR, "comma-separated"), query("businessKey", STR),
                    query("businessKeyLike", STR), query("processDefinitionKey", STR),
                    query("processDefinitionKeyIn", LIST), query("processDefinitionId", STR),
                    query("suspended", BOOL), query("active", BOOL), query("withIncident", BOOL),
                    query("superProcessInstance", STR), query("subProcessInstance", STR),
                    query("rootProcessInstances", BOOL), query("variables", VARIABLES)]
TASK_FILTERS = [query(name, schema) for name, schema in (
    ("taskId", STR), ("processInstanceId", STR), ("processInstanceIdIn", LIST), ("processInstanceBusinessKey", STR),
    ("processInstanceBusinessKeyLike", STR), ("processDefinitionKey", STR), ("processDefinitionKeyIn", LIST),
    ("processDefinitionId", STR), ("taskDefinitionKey", STR), ("taskDefinitionKeyIn", LIST), ("name", STR),
    ("nameLike", STR), ("description", STR), ("descriptionLike", STR), ("assignee", STR), ("assigneeLike", STR),
    ("assigned", BOOL), ("unassigned", BOOL), ("candidateGroup", STR), ("candidateGroups", LIST),
    ("candidateUser", STR), ("includeAssignedTasks", BOOL),
    ("withCandidateGroups", BOOL), ("active", BOOL), ("suspended", BOOL), ("dueBefore", DATE), ("dueAfter", DATE),
    ("createdBefore", DATE), ("createdAfter", DATE), ("followUpBefore", DATE), ("followUpAfter", DATE),
    ("priority", INT), ("minPriority", INT), ("maxPriority", INT), ("processVariables", VARIABLES))]
HISTORY_INSTANCE_FILTERS = [query(name, schema) for name, schema in (
    ("processInstanceId", STR), ("processInstanceIds", LIST), ("processInstanceBusinessKey", STR),
    ("processInstanceBusinessKeyLike", STR), ("processDefinitionKey", STR), ("processDefinitionKeyIn", LIST),
    ("processDefinitionId", STR), ("finished", BOOL), ("unfinished", BOOL), ("completed", BOOL),
    ("externallyTerminated", BOOL), ("suspended", BOOL), ("active", BOOL), ("withIncidents", BOOL),
    ("startedBy", STR), ("startedBefore", DATE), ("startedAfter", DATE), ("finishedBefore", DATE),
    ("finishedAfter", DATE), ("superProcessInstanceId", STR), ("subProcessInstanceId", STR),
    ("rootProcessInstances", BOOL), ("variables", VARIABLES))]
ACTIVITY_FILTERS = [query(name, schema) for name, schema in (
    ("processInstanceId", STR), ("processDefinitionId", STR), ("processDefinitionKey", STR), ("activityId", STR),
    ("activityInstanceId", STR), ("activityName", STR), ("activityType", STR), ("taskAssignee", STR),
    ("finished", BOOL), ("unfinished", BOOL), ("canceled", BOOL), ("completeScope", BOOL))]
OPERATION_FILTERS = [query(name, schema) for name, schema in (
    ("processInstanceId", STR), ("processDefinitionId", STR), ("processDefinitionKey", STR), ("taskId", STR),
    ("deploymentId", STR), ("userId", STR), ("operationType", STR), ("entityType", STR), ("entityTypeIn", LIST),
    ("category", STR), ("afterTimestamp", DATE), ("beforeTimestamp", DATE))]

INSTANCE_SORTING = ("instanceId", "definitionKey", "definitionId", "businessKey")
TASK_SORTING = ("id", "name", "assignee", "created", "dueDate", "followUpDate", "priority", "instanceId",
                "processInstanceId")
HISTORY_INSTANCE_SORTING = ("instanceId", "definitionId", "definitionKey", "definitionName", "definitionVersion",
                            "businessKey", "startTime", "endTime")

ID, KEY, VAR = path("id"), path("key"), path("varName")
# A variable name set over REST: an identifier (letters of any script, digits and _), not starting
# with a digit or _. The pattern lets every letter beyond ASCII through; the API checks the rest.
NEW_VAR = {**VAR, "schema": {"type": "string", "pattern": "^[A-Za-z\u00aa-\uffff][0-9A-Za-z_\u00aa-\uffff]*$"},
           "description": "a variable name: letters, digits and _, not starting with a digit or _"}

PATHS = {
    "/version": {"get": op("getRestAPIVersion", "Version", "The engine-rest version whose shapes this API follows.",
                           ok=ref("VersionDto"), errors=("401",))},
    "/engine": {"get": op("getProcessEngineNames", "Engine", "The one engine: default.",
                          ok=listed("ProcessEngineDto"), errors=("401",))},
    "/openapi.json": {"get": {"operationId": "getOpenApi", "tags": ["OpenAPI"], "summary": "This document.",
                              "security": [], "parameters": [],
                              "responses": {"200": {"description": "OpenAPI 3 document.",
                                                    "content": json_content({"type": "object"})}}}},
    "/deployment": {"get": op("getDeployments", "Deployment", "Deployments (Camunda Modeler checks the connection "
                                                              "with ?maxResults=0).",
                              params=DEPLOYMENT_FILTERS + sorting("id", "name", "deploymentTime", "tenantId") + PAGING,
                              ok=listed("DeploymentDto"), errors=("400", "401"))},
    "/deployment/count": {"get": op("getDeploymentsCount", "Deployment", "How many deployments match.",
                                    params=DEPLOYMENT_FILTERS, ok=COUNT, errors=("400", "401"))},
    "/deployment/create": {"post": op(
        "createDeployment", "Deployment",
        "Deploy .bpmn, .dmn and .form files (administrators). Unchanged content makes no new version; with "
        "enable-duplicate-filtering (or deploy-changed-only) an unchanged bundle answers with the earlier deployment "
        "of the same name. A refused bundle answers 400 with a ParseException.",
        body={"required": True, "content": {"multipart/form-data": {"schema": ref("DeploymentCreateForm")}}},
        ok=ref("DeploymentWithDefinitionsDto"), errors=("401", "403"))},
    "/deployment/{id}": {"get": op("getDeployment", "Deployment", "One deployment.", params=[ID],
                                   ok=ref("DeploymentDto"))},
    "/deployment/{id}/resources": {"get": op("getDeploymentResources", "Deployment", "The files of a deployment.",
                                             params=[ID], ok=listed("DeploymentResourceDto"))},
    "/deployment/{id}/resources/{resourceId}/data": {"get": {
        "operationId": "getDeploymentResourceData", "tags": ["Deployment"], "summary": "A file, byte for byte.",
        "parameters": [ID, path("resourceId")],
        "responses": {"200": {"description": "The file.", "content": {
            "application/xml": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "string", "format": "binary"}}}},
            "404": {"description": ERRORS["404"][0], "content": json_content(ref("ExceptionDto"))}}}},
    "/process-definition": {"get": op("getProcessDefinitions", "Process Definition", "Process definitions.",
                                      params=DEFINITION_FILTERS + sorting("id", "key", "name", "version",
                                                                          "deploymentId", "versionTag") + PAGING,
                                      ok=listed("ProcessDefinitionDto"), errors=("400", "401"))},
    "/process-definition/count": {"get": op("getProcessDefinitionsCount", "Process Definition",
                                            "How many process definitions match.", params=DEFINITION_FILTERS,
                                            ok=COUNT, errors=("400", "401"))},
    "/process-definition/{id}": {"get": op("getProcessDefinition", "Process Definition", "One version.",
                                           params=[ID], ok=ref("ProcessDefinitionDto"))},
    "/process-definition/key/{key}": {"get": op("getProcessDefinitionByKey", "Process Definition",
                                                "The latest version of a process.", params=[KEY],
                                                ok=ref("ProcessDefinitionDto"))},
    "/process-definition/{id}/xml": {"get": op("getProcessDefinitionBpmn20Xml", "Process Definition",
                                               "The BPMN of a version.", params=[ID],
                                               ok=ref("ProcessDefinitionDiagramDto"))},
    "/process-definition/key/{key}/xml": {"get": op("getProcessDefinitionBpmn20XmlByKey", "Process Definition",
                                                    "The BPMN of the latest version.", params=[KEY],
                                                    ok=ref("ProcessDefinitionDiagramDto"))},
    "/process-definition/{id}/start": {"post": op(
        "startProcessInstance", "Process Definition",
        "Start this version (candidate starter groups and users apply; auditors may not).", params=[ID],
        body=json_body("StartProcessInstanceDto"), ok=ref("ProcessInstanceWithVariablesDto"),
        errors=("400", "401", "403", "404", "409", "422"))},
    "/process-definition/key/{key}/start": {"post": op(
        "startProcessInstanceByKey", "Process Definition", "Start the latest version.", params=[KEY],
        body=json_body("StartProcessInstanceDto"), ok=ref("ProcessInstanceWithVariablesDto"),
        errors=("400", "401", "403", "404", "409", "422"))},
    "/process-instance": {"get": op("getProcessInstances", "Process Instance",
                                    "Unfinished instances the user may see.",
                                    params=INSTANCE_FILTERS + sorting(*INSTANCE_SORTING) + PAGING,
                                    ok=listed("ProcessInstanceDto"), errors=("400", "401")),
                          "post": op("queryProcessInstances", "Process Instance", "The same, filters in the body.",
                                     params=PAGING,
                                     body=query_body("ProcessInstanceQueryDto", INSTANCE_FILTERS, INSTANCE_SORTING),
                                     ok=listed("ProcessInstanceDto"), errors=("400", "401"))},
    "/process-instance/count": {"get": op("getProcessInstancesCount", "Process Instance",
                                          "How many unfinished instances match.", params=INSTANCE_FILTERS, ok=COUNT,
                                          errors=("400", "401")),
                                "post": op("queryProcessInstancesCount", "Process Instance", "The same, filters in "
                                           "the body.", body=json_body("ProcessInstanceQueryDto"), ok=COUNT,
                                           errors=("400", "401"))},
    "/process-instance/{id}": {
        "get": op("getProcessInstance", "Process Instance", "One unfinished instance.", params=[ID],
                  ok=ref("ProcessInstanceDto")),
        "delete": op("deleteProcessInstance", "Process Instance",
                     "Terminate an instance (administrators); the reason is kept in its history.",
                     params=[ID, query("deleteReason", STR), query("skipCustomListeners", BOOL),
                             query("skipIoMappings", BOOL), query("skipSubprocesses", BOOL)],
                     errors=("400", "401", "403", "404", "409"))},
    "/process-instance/{id}/variables": {
        "get": op("getProcessInstanceVariables", "Process Instance", "The instance's variables.", params=[ID],
                  ok=ref("VariableMap")),
        "post": op("modifyProcessInstanceVariables", "Process Instance", "Change variables (administrators).",
                   params=[ID], body=json_body("PatchVariablesDto", True), errors=("400", "401", "403", "404",
                                                                                   "409"))},
    "/process-instance/{id}/variables/{varName}": {
        "get": op("getProcessInstanceVariable", "Process Instance", "One variable.", params=[ID, VAR],
                  ok=ref("VariableValueDto")),
        "put": op("setProcessInstanceVariable", "Process Instance", "Set one variable (administrators).",
                  params=[ID, NEW_VAR], body=json_body("VariableValueDto", True),
                  errors=("400", "401", "403", "404", "409"))},
    "/process-instance/{id}/suspended": {"put": op(
        "updateSuspensionStateById", "Process Instance", "Suspend or resume (administrators).", params=[ID],
        body=json_body("SuspensionStateDto", True), errors=("400", "401", "403", "404", "409"))},
    "/task": {"get": op("getTasks", "Task", "Ready tasks the user may see: offered to their bureaus or to them, "
                                            "or claimed by them (auditors and administrators: all).",
                        params=TASK_FILTERS + sorting(*TASK_SORTING) + PAGING,
                        ok=listed("TaskDto"), errors=("400", "401")),
              "post": op("queryTasks", "Task", "The same, filters in the body.", params=PAGING,
                         body=query_body("TaskQueryDto", TASK_FILTERS, TASK_SORTING), ok=listed("TaskDto"),
                         errors=("400", "401"))},
    "/task/count": {"get": op("getTasksCount", "Task", "How many tasks match.", params=TASK_FILTERS, ok=COUNT,
                              errors=("400", "401")),
                    "post": op("queryTasksCount", "Task", "The same, filters in the body.",
                               body=json_body("TaskQueryDto"), ok=COUNT, errors=("400", "401"))},
    "/task/{id}": {"get": op("getTask", "Task", "One ready task.", params=[ID], ok=ref("TaskDto"))},
    "/task/{id}/form-variables": {"get": op(
        "getFormVariables", "Task", "The task's form fields with their current or default values.",
        params=[ID, query("variableNames", STR, "comma-separated")], ok=ref("VariableMap"))},
    "/task/{id}/claim": {"post": op("claim", "Task", "Claim for oneself (a candidate; an administrator: any "
                                                     "task), or hand it to another user (its assignee or an "
                                                     "administrator).",
                                    params=[ID], body=json_body("UserIdDto"),
                                    errors=("400", "401", "403", "404", "409"))},
    "/task/{id}/unclaim": {"post": op("unclaim", "Task", "Give a claimed task back to its bureaus (its assignee or "
                                                         "an administrator).", params=[ID],
                                      errors=("401", "403", "404", "409"))},
    "/task/{id}/assignee": {"post": op("setAssignee", "Task", "Hand the task to a user, or back to its candidates "
                                                              "with null (its assignee or an administrator).",
                                       params=[ID], body=json_body("UserIdDto", True),
                                       errors=("400", "401", "403", "404", "409"))},
    "/task/{id}/complete": {"post": op("complete", "Task", "Complete with variables (the assignee, else a candidate; "
                                                           "an administrator: any task); with withVariablesInReturn "
                                                           "the instance's variables are returned.",
                                       params=[ID], body=json_body("CompleteTaskDto"), ok=ref("VariableMap"),
                                       errors=("400", "401", "403", "404", "409", "422"))},
    "/task/{id}/submit-form": {"post": op("submit", "Task", "The same as complete.", params=[ID],
                                          body=json_body("CompleteTaskDto"), ok=ref("VariableMap"),
                                          errors=("400", "401", "403", "404", "409", "422"))},
    "/message": {"post": op("deliverMessage", "Message", "Correlate a message (answers 204, or the results with "
                                                         "resultEnabled).",
                            body=json_body("CorrelationMessageDto", True),
                            ok=listed("MessageCorrelationResultWithVariableDto"),
                            errors=("400", "401", "403", "404", "409", "422"))},
    "/history/process-instance": {"get": op(
        "getHistoricProcessInstances", "Historic Process Instance", "Instances, finished or not, the user may see.",
        params=HISTORY_INSTANCE_FILTERS + sorting(*HISTORY_INSTANCE_SORTING) + PAGING,
        ok=listed("HistoricProcessInstanceDto"), errors=("400", "401")),
        "post": op("queryHistoricProcessInstances", "Historic Process Instance", "The same, filters in the body.",
                   params=PAGING, body=query_body("HistoricProcessInstanceQueryDto", HISTORY_INSTANCE_FILTERS,
                                                    HISTORY_INSTANCE_SORTING),
                   ok=listed("HistoricProcessInstanceDto"), errors=("400", "401"))},
    "/history/process-instance/count": {"get": op(
        "getHistoricProcessInstancesCount", "Historic Process Instance", "How many match.",
        params=HISTORY_INSTANCE_FILTERS, ok=COUNT, errors=("400", "401")),
        "post": op("queryHistoricProcessInstancesCount", "Historic Process Instance", "The same, filters in the "
                   "body.", body=json_body("HistoricProcessInstanceQueryDto"), ok=COUNT, errors=("400", "401"))},
    "/history/process-instance/{id}": {"get": op(
        "getHistoricProcessInstance", "Historic Process Instance", "One instance.", params=[ID],
        ok=ref("HistoricProcessInstanceDto"))},
    "/history/activity-instance": {"get": op(
        "getHistoricActivityInstances", "Historic Activity Instance", "Activities of the instances the user may see.",
        params=ACTIVITY_FILTERS + sorting("activityInstanceId", "instanceId", "executionId", "activityId",
                                          "activityName", "activityType", "startTime", "endTime", "duration",
                                          "definitionId") + PAGING,
        ok=listed("HistoricActivityInstanceDto"), errors=("400", "401"))},
    "/history/activity-instance/count": {"get": op(
        "getHistoricActivityInstancesCount", "Historic Activity Instance", "How many match.",
        params=ACTIVITY_FILTERS, ok=COUNT, errors=("400", "401"))},
    "/history/user-operation": {"get": op(
        "queryUserOperationEntries", "Historic User Operation Log",
        "What people did; officials see the operations on the instances they see, auditors and administrators "
        "everything (deployments, users, tokens too).",
        params=OPERATION_FILTERS + sorting("timestamp") + PAGING, ok=listed("UserOperationLogEntryDto"),
        errors=("400", "401"))},
    "/history/user-operation/count": {"get": op(
        "queryUserOperationCount", "Historic User Operation Log", "How many match.", params=OPERATION_FILTERS,
        ok=COUNT, errors=("400", "401"))},
}

WORKER_ERRORS = ("400", "401", "403", "404", "409", "422")
PATHS.update({
    "/external-task/fetchAndLock": {"post": op(
        "fetchAndLock", "External Task", "Lock open tasks of the topics for a worker (answered at once: no long "
                                         "polling).",
        body=json_body("FetchExternalTasksDto", True), ok=listed("LockedExternalTaskDto"),
        errors=("400", "401", "403"))},
    "/external-task/{id}/complete": {"post": op(
        "completeExternalTaskResource", "External Task", "The worker holding the lock completes the task.",
        params=[ID], body=json_body("CompleteExternalTaskDto", True), errors=WORKER_ERRORS)},
    "/external-task/{id}/failure": {"post": op(
        "handleFailure", "External Task", "The worker failed: retried later while retries remain, else an incident.",
        params=[ID], body=json_body("ExternalTaskFailureDto", True), errors=WORKER_ERRORS)},
    "/external-task/{id}/bpmnError": {"post": op(
        "handleExternalTaskBpmnError", "External Task", "A business error, caught by the error boundary event.",
        params=[ID], body=json_body("ExternalTaskBpmnError", True), errors=WORKER_ERRORS)},
    "/external-task/{id}/extendLock": {"post": op(
        "extendLock", "External Task", "Extend the worker's lock.", params=[ID],
        body=json_body("ExtendLockOnExternalTaskDto", True), errors=WORKER_ERRORS)},
})

SCHEMAS.update({
    "SignalDto": needs(obj(name=NOT_BLANK, variables=ref("VariableMap")), "name"),
    "EvaluateDecisionDto": obj(variables=ref("VariableMap")),
})
PATHS.update({
    "/signal": {"post": op("throwSignal", "Signal", "Throw a signal: every instance waiting for it gets it, every "
                           "process it starts starts.", body=json_body("SignalDto", True),
                           errors=("400", "401", "403", "422"))},
    "/decision-definition/key/{key}/evaluate": {"post": op(
        "evaluateDecisionByKey", "Decision Definition", "Evaluate the latest version of a decision: one variable "
        "map per matched rule.", params=[KEY], body=json_body("EvaluateDecisionDto", True),
        ok=listed("VariableMap"), errors=("400", "401", "404"))},
})

# --- queries (web/rest_queries.py) ---------------------------------------------------------------

SCHEMAS.update({
    "HistoricTaskInstanceDto": obj(
        id=STR, processDefinitionKey=STR, processDefinitionId=STR, processInstanceId=STR, executionId=STR,
        caseDefinitionKey=STR, caseDefinitionId=STR, caseInstanceId=STR, caseExecutionId=STR,
        activityInstanceId=STR, name=STR, description=STR, deleteReason=STR, owner=STR, assignee=STR,
        startTime=DATE, endTime=DATE, duration=LONG, taskDefinitionKey=STR, priority=INT, due=DATE,
        parentTaskId=STR, followUp=DATE, tenantId=STR, removalTime=DATE, rootProcessInstanceId=STR),
    "VariableInstanceDto": obj(
        "One variable of one running instance; its id is derived from the instance's id and the name.",
        id=STR, name=STR, type=STR, value=ANY, valueInfo=map_of(ANY), processDefinitionId=STR,
        processInstanceId=STR, executionId=STR, caseInstanceId=STR, caseExecutionId=STR, taskId=STR, batchId=STR,
        activityInstanceId=STR, tenantId=STR, errorMessage=STR),
    "HistoricVariableInstanceDto": obj(
        "One variable of one instance, finished or not, as it is now.",
        id=STR, name=STR, type=STR, value=ANY, valueInfo=map_of(ANY), processDefinitionKey=STR,
        processDefinitionId=STR, processInstanceId=STR, executionId=STR, activityInstanceId=STR,
        caseDefinitionKey=STR, caseDefinitionId=STR, caseInstanceId=STR, caseExecutionId=STR, taskId=STR,
        tenantId=STR, errorMessage=STR, state=STR, createTime=DATE, removalTime=DATE, rootProcessInstanceId=STR),
    "ExternalTaskDto": obj(
        activityId=STR, activityInstanceId=STR, errorMessage=STR, executionId=STR, id=STR,
        lockExpirationTime=DATE, processDefinitionId=STR, processDefinitionKey=STR,
        processDefinitionVersionTag=STR, processInstanceId=STR, retries=INT, suspended=BOOL, workerId=STR,
        topicName=STR, tenantId=STR, priority=LONG, businessKey=STR),
})

HISTORY_TASK_FILTERS = [query(name, schema) for name, schema in (
    ("taskId", STR), ("processInstanceId", STR), ("processInstanceIdIn", LIST), ("processInstanceBusinessKey", STR),
    ("processInstanceBusinessKeyIn", LIST), ("processInstanceBusinessKeyLike", STR), ("executionId", STR),
    ("processDefinitionId", STR), ("processDefinitionKey", STR), ("processDefinitionName", STR), ("taskName", STR),
    ("taskNameLike", STR), ("taskDefinitionKey", STR), ("taskDefinitionKeyIn", LIST), ("taskDeleteReason", STR),
    ("taskAssignee", STR), ("taskAssigneeLike", STR), ("taskPriority", INT), ("assigned", BOOL),
    ("unassigned", BOOL), ("finished", BOOL), ("unfinished", BOOL), ("processFinished", BOOL),
    ("processUnfinished", BOOL), ("taskDueDateBefore", DATE), ("taskDueDateAfter", DATE),
    ("withoutTaskDueDate", BOOL), ("taskFollowUpDateBefore", DATE), ("taskFollowUpDateAfter", DATE),
    ("startedBefore", DATE), ("startedAfter", DATE), ("finishedBefore", DATE), ("finishedAfter", DATE),
    ("withCandidateGroups", BOOL), ("withoutCandidateGroups", BOOL), ("taskHadCandidateGroup", STR),
    ("taskHadCandidateUser", STR))]
HISTORY_TASK_SORTING = ("taskId", "processInstanceId", "processDefinitionId", "taskName", "assignee", "startTime",
                        "endTime", "dueDate", "followUpDate", "taskDefinitionKey", "priority")
VARIABLE_FILTERS = [query(name, schema) for name, schema in (
    ("variableName", STR), ("variableNameLike", STR), ("processInstanceIdIn", LIST), ("executionIdIn", LIST),
    ("caseInstanceIdIn", LIST), ("caseExecutionIdIn", LIST), ("taskIdIn", LIST), ("batchIdIn", LIST),
    ("activityInstanceIdIn", LIST), ("tenantIdIn", LIST), ("variableValues", VARIABLES),
    ("variableNamesIgnoreCase", BOOL), ("variableValuesIgnoreCase", BOOL), ("variableScopeIdIn", LIST))]
HISTORY_VARIABLE_FILTERS = [query(name, schema) for name, schema in (
    ("variableName", STR), ("variableNameLike", STR), ("variableNameIn", LIST), ("variableValue", STR),
    ("variableNamesIgnoreCase", BOOL), ("variableValuesIgnoreCase", BOOL), ("variableTypeIn", LIST),
    ("includeDeleted", BOOL), ("processInstanceId", STR), ("processInstanceIdIn", LIST),
    ("processDefinitionId", STR), ("processDefinitionKey", STR), ("executionIdIn", LIST), ("taskIdIn", LIST),
    ("activityInstanceIdIn", LIST), ("tenantIdIn", LIST), ("withoutTenantId", BOOL))]
EXTERNAL_TASK_FILTERS = [query(name, schema) for name, schema in (
    ("externalTaskId", STR), ("externalTaskIdIn", LIST), ("topicName", STR), ("workerId", STR), ("locked", BOOL),
    ("notLocked", BOOL), ("withRetriesLeft", BOOL), ("noRetriesLeft", BOOL), ("activityId", STR),
    ("activityIdIn", LIST), ("executionId", STR), ("processInstanceId", STR), ("processInstanceIdIn", LIST),
    ("processDefinitionId", STR), ("active", BOOL), ("suspended", BOOL), ("priorityHigherThanOrEquals", INT),
    ("priorityLowerThanOrEquals", INT))]  # int64 in Camunda's document; priorities here are 32-bit
DESERIALIZE = [query("deserializeValues", BOOL, "values are JSON: serialized or not they read the same")]


def queried(tag: str, name: str, dto: str, summary: str, filters: list, sort_fields, *, extra=()) -> dict:
    """A list call and its count, each by GET (query parameters) and POST (a JSON body)."""
    body = query_body(name + "QueryDto", filters, sort_fields)
    params = filters + sorting(*sort_fields) + PAGING + list(extra)
    return {"list": {"get": op(f"get{name}s", tag, summary, params=params, ok=listed(dto), errors=("400", "401")),
                     "post": op(f"query{name}s", tag, "The same, filters in the body.",
                                params=PAGING + list(extra), body=body, ok=listed(dto), errors=("400", "401"))},
            "count": {"get": op(f"get{name}sCount", tag, "How many match.", params=filters, ok=COUNT,
                                errors=("400", "401")),
                      "post": op(f"query{name}sCount", tag, "The same, filters in the body.", body=body, ok=COUNT,
                                 errors=("400", "401"))}}


for _base, _calls in (
        ("/history/task", queried("Historic Task Instance", "HistoricTaskInstance", "HistoricTaskInstanceDto",
                                  "User tasks, finished or not, of the instances the user may see.",
                                  HISTORY_TASK_FILTERS, HISTORY_TASK_SORTING)),
        ("/variable-instance", queried("Variable Instance", "VariableInstance", "VariableInstanceDto",
                                       "Variables of the running instances the user may see.", VARIABLE_FILTERS,
                                       ("variableName", "variableType", "activityInstanceId", "tenantId"),
                                       extra=DESERIALIZE)),
        ("/history/variable-instance", queried("Historic Variable Instance", "HistoricVariableInstance",
                                               "HistoricVariableInstanceDto",
                                               "Variables of the instances, finished or not, the user may see.",
                                               HISTORY_VARIABLE_FILTERS, ("instanceId", "variableName", "tenantId"),
                                               extra=DESERIALIZE)),
        ("/external-task", queried("External Task", "ExternalTask", "ExternalTaskDto",
                                   "Open external tasks.", EXTERNAL_TASK_FILTERS,
                                   ("id", "lockExpirationTime", "processInstanceId", "processDefinitionId",
                                    "processDefinitionKey", "taskPriority", "createTime")))):
    PATHS[_base], PATHS[_base + "/count"] = _calls["list"], _calls["count"]
PATHS["/external-task/{id}"] = {"get": op("getExternalTask", "External Task", "One open external task.",
                                          params=[ID], ok=ref("ExternalTaskDto"))}
PATHS["/external-task/{id}/errorDetails"] = {"get": op(
    "getExternalTaskErrorDetails", "External Task", "The error details of the last failure (text; 204 when none).",
    params=[ID], ok={"type": "string"})}
PATHS["/external-task/{id}/errorDetails"]["get"]["responses"].update({
    "200": {"description": "The error details, as the worker sent them.",
            "content": {"text/plain": {"schema": {"type": "string"}}}},
    "204": {"description": "The last failure gave no error details (or there was none)."}})

# --- operating calls (web/rest_admin.py) and runtime calls (web/rest_runtime.py) --------------------

SCHEMAS.update({
    "IncidentDto": obj(
        "An open incident. incidentType: failedExternalTask, failedJob (a timer or asynchronous continuation), "
        "or the engine work that failed (message, signal); configuration: the failed external task or job.",
        id=STR, processDefinitionId=STR, processInstanceId=STR, executionId=STR, incidentTimestamp=DATE,
        incidentType=STR, activityId=STR, failedActivityId=STR, causeIncidentId=STR, rootCauseIncidentId=STR,
        configuration=STR, tenantId=STR, incidentMessage=STR, jobDefinitionId=STR, annotation=STR),
    "JobDto": obj("A waiting timer or asynchronous continuation, or one that failed into an incident (retries 0).",
                  id=STR, jobDefinitionId=STR, processInstanceId=STR, executionId=STR, processDefinitionId=STR,
                  processDefinitionKey=STR, retries=INT, exceptionMessage=STR, failedActivityId=STR, dueDate=DATE,
                  suspended=BOOL, priority=LONG, tenantId=STR, createTime=DATE),
    "JobDefinitionDto": obj(
        "A timer event or an asynchronous continuation of a process definition version, as Camunda's job "
        "definition: jobType timer-start-event, timer-start-event-subprocess, timer-intermediate-transition, "
        "timer-transition or async-continuation; jobConfiguration the timer's kind and expression as written "
        "(CYCLE: R3/P1D) or async-before / async-after. Read from the definition's file: its id stays as long as "
        "the version exists.", id=STR, processDefinitionId=STR, processDefinitionKey=STR, activityId=STR,
        jobType=STR, jobConfiguration=STR, overridingJobPriority=LONG, suspended=BOOL, tenantId=STR,
        deploymentId=STR),
    "RetriesDto": needs(obj(retries={**bounded(INT), "minimum": 0, "nullable": False}), "retries"),
    "JobDuedateDto": obj("When a waiting timer fires. duedate: null (or left out) is now, as Camunda's job executor "
                         "takes a job without a due date at once; cascade: move a cycle's following occurrences by "
                         "as much (Camunda's repeat offset; not with a null duedate). A timer fires at its due date "
                         "as the occurrence it waited for; without cascade the following ones stay where the cycle "
                         "puts them.", duedate=DATE_GIVEN | {"nullable": True}, cascade=BOOL),
    "EventSubscriptionDto": obj(id=STR, eventType=STR, eventName=STR, executionId=STR, processInstanceId=STR,
                                activityId=STR, createdDate=DATE, tenantId=STR),
    "AuthorizationDto": obj(
        "What dalad's roles and bureaus allow, in Camunda's terms (read only): administrators ALL, auditors READ, "
        "each bureau works on its tasks and starts processes.",
        id=STR, type=INT, permissions=array(STR), userId=STR, groupId=STR, resourceType=INT, resourceId=STR,
        links=array(ref("AtomLink")), removalTime=DATE, rootProcessInstanceId=STR),
    "ActivityInstanceIncidentDto": obj(id=STR, parentActivityInstanceId=STR),
    "TransitionInstanceDto": obj(id=STR, parentActivityInstanceId=STR, processInstanceId=STR,
                                 processDefinitionId=STR, activityId=STR, activityName=STR, activityType=STR,
                                 executionId=STR, incidentIds=array(STR),
                                 incidents=array(ref("ActivityInstanceIncidentDto"))),
    "ActivityInstanceDto": obj(
        "The instance (activityType processDefinition) and the activities where it waits now.",
        id=STR, parentActivityInstanceId=STR, activityId=STR, activityType=STR, processInstanceId=STR,
        processDefinitionId=STR, childActivityInstances=array(ref("ActivityInstanceDto")),
        childTransitionInstances=array(ref("TransitionInstanceDto")), executionIds=array(STR), activityName=STR,
        incidentIds=array(STR), incidents=array(ref("ActivityInstanceIncidentDto"))),
    "IdentityLinkDto": needs(obj("A candidate user or group, or the assignee (a user).", userId=STR, groupId=STR,
                                 type={"type": "string", "enum": ["candidate", "assignee"]}), "type"),
})

NO_TEXT = {"type": "string", "nullable": True, "enum": [None]}
IDENTITY_LINK_BODY = {"required": True, "content": json_content({"allOf": [ref("IdentityLinkDto")], "oneOf": [
    obj(userId=TEXT, groupId=NO_TEXT) | {"required": ["userId"]},
    obj(groupId=TEXT, userId=NO_TEXT, type={"type": "string", "enum": ["candidate"]}) | {"required": ["groupId"]}]})}

INCIDENT_FILTERS = [query(name, schema) for name, schema in (
    ("incidentId", STR), ("incidentType", STR), ("incidentMessage", STR), ("incidentMessageLike", STR),
    ("processDefinitionId", STR), ("processDefinitionKeyIn", LIST), ("processInstanceId", STR),
    ("executionId", STR), ("incidentTimestampBefore", DATE), ("incidentTimestampAfter", DATE), ("activityId", STR),
    ("failedActivityId", STR), ("causeIncidentId", STR), ("rootCauseIncidentId", STR), ("configuration", STR))]
JOB_FILTERS = [query(name, schema) for name, schema in (
    ("jobId", STR), ("jobIds", LIST), ("jobDefinitionId", STR), ("processInstanceId", STR), ("processInstanceIds", LIST), ("executionId", STR),
    ("processDefinitionId", STR), ("processDefinitionKey", STR), ("activityId", STR), ("failedActivityId", STR),
    ("withRetriesLeft", BOOL), ("noRetriesLeft", BOOL), ("executable", BOOL), ("timers", BOOL),
    ("messages", BOOL), ("withException", BOOL), ("exceptionMessage", STR), ("active", BOOL), ("suspended", BOOL),
    ("tenantIdIn", LIST))]
JOB_DEFINITION_FILTERS = [query(name, schema) for name, schema in (
    ("jobDefinitionId", STR), ("activityIdIn", LIST), ("processDefinitionId", STR), ("processDefinitionKey", STR),
    ("jobType", STR), ("jobConfiguration", STR), ("active", BOOL), ("suspended", BOOL),
    ("withOverridingJobPriority", BOOL), ("tenantIdIn", LIST), ("withoutTenantId", BOOL),
    ("includeJobDefinitionsWithoutTenantId", BOOL))]
EXECUTION_FILTERS = [query(name, schema) for name, schema in (
    ("businessKey", STR), ("processDefinitionId", STR), ("processDefinitionKey", STR), ("processInstanceId", STR),
    ("activityId", STR), ("signalEventSubscriptionName", STR), ("messageEventSubscriptionName", STR),
    ("active", BOOL), ("suspended", BOOL), ("tenantIdIn", LIST))]
SUBSCRIPTION_FILTERS = [query(name, schema) for name, schema in (
    ("eventSubscriptionId", STR), ("eventName", STR), ("eventType", STR), ("executionId", STR),
    ("processInstanceId", STR), ("activityId", STR), ("tenantIdIn", LIST), ("withoutTenantId", BOOL),
    ("includeEventSubscriptionsWithoutTenantId", BOOL))]
AUTHORIZATION_FILTERS = [query(name, schema) for name, schema in (
    ("id", STR), ("type", INT), ("userIdIn", LIST), ("groupIdIn", LIST), ("resourceType", INT),
    ("resourceId", STR))]
VARIABLE_NAMES = [query("variableNames", STR, "comma-separated")]
DESERIALIZE_ONE = [query("deserializeValue", BOOL, "values are JSON: serialized or not they read the same")]
ADMIN_ERRORS = ("400", "401", "403", "404", "409", "422")


def _listed_and_counted(base: str, tag: str, name: str, dto: str, summary: str, filters: list, sort_fields):
    PATHS[base] = {"get": op(f"get{name}s", tag, summary, params=filters + sorting(*sort_fields) + PAGING,
                             ok=listed(dto), errors=("400", "401"))}
    PATHS[base + "/count"] = {"get": op(f"get{name}sCount", tag, "How many match.", params=filters, ok=COUNT,
                                        errors=("400", "401"))}


_listed_and_counted("/incident", "Incident", "Incident", "IncidentDto", "Open incidents of the instances the user "
                    "may see.", INCIDENT_FILTERS, ("incidentId", "incidentMessage", "incidentTimestamp",
                                                   "incidentType", "executionId", "activityId", "processInstanceId",
                                                   "processDefinitionId"))
JOB_SORTING = ("jobId", "processInstanceId", "executionId", "processDefinitionId", "processDefinitionKey",
               "jobRetries", "jobDueDate", "jobPriority")
_listed_and_counted("/job", "Job", "Job", "JobDto", "Waiting and failed jobs.", JOB_FILTERS, JOB_SORTING)
PATHS["/job"]["post"] = op("queryJobs", "Job", "The same, filters in the body.", params=PAGING,
                           body=query_body("JobQueryDto", JOB_FILTERS, JOB_SORTING), ok=listed("JobDto"),
                           errors=("400", "401"))
PATHS["/job/count"]["post"] = op("queryJobsCount", "Job", "The same, filters in the body.",
                                 body=json_body("JobQueryDto"), ok=COUNT, errors=("400", "401"))
JOB_DEFINITION_SORTING = ("jobDefinitionId", "activityId", "processDefinitionId", "processDefinitionKey", "jobType",
                          "jobConfiguration", "tenantId")
_listed_and_counted("/job-definition", "Job Definition", "JobDefinition", "JobDefinitionDto",
                    "The timer events and asynchronous continuations of the deployed process definitions.",
                    JOB_DEFINITION_FILTERS, JOB_DEFINITION_SORTING)
PATHS["/job-definition"]["post"] = op(
    "queryJobDefinitions", "Job Definition", "The same, filters in the body.", params=PAGING,
    body=query_body("JobDefinitionQueryDto", JOB_DEFINITION_FILTERS, JOB_DEFINITION_SORTING),
    ok=listed("JobDefinitionDto"), errors=("400", "401"))
PATHS["/job-definition/count"]["post"] = op("queryJobDefinitionsCount", "Job Definition", "The same, filters in "
                                            "the body.", body=json_body("JobDefinitionQueryDto"), ok=COUNT,
                                            errors=("400", "401"))
_listed_and_counted("/execution", "Execution", "Execution", "ExecutionDto", "Running instances (their root "
                    "executions) the user may see.", EXECUTION_FILTERS,
                    ("instanceId", "definitionKey", "definitionId", "tenantId"))
_listed_and_counted("/event-subscription", "Event Subscription", "EventSubscription", "EventSubscriptionDto",
                    "Message and signal events instances wait for.", SUBSCRIPTION_FILTERS, ("created", "tenantId"))
_listed_and_counted("/authorization", "Authorization", "Authorization", "AuthorizationDto",
                    "Authorizations (administrators and auditors).", AUTHORIZATION_FILTERS,
                    ("resourceType", "resourceId"))
PATHS.update({
    "/incident/{id}": {
        "get": op("getIncident", "Incident", "One open incident.", params=[ID], ok=ref("IncidentDto")),
        "delete": op("resolveIncident", "Incident", "Resolve by running the failed work again (administrators); a "
                     "new failure opens a new incident.", params=[ID], errors=ADMIN_ERRORS)},
    "/job/{id}": {"get": op("getJob", "Job", "One waiting or failed job.", params=[ID], ok=ref("JobDto")),
                  "delete": op("deleteJob", "Job", "Not offered (400): a job is not deleted on its own, its instance "
                               "would wait for it forever; delete the process instance, or execute the job or set "
                               "its due date.", params=[ID], errors=ADMIN_ERRORS)},
    "/job/{id}/duedate": {"put": op("setJobDuedate", "Job", "Set when a waiting timer fires (administrators); "
                                    "recorded in its instance's history (a timer start event's: the system's) and "
                                    "replayed. An asynchronous continuation or a failed job has no due date to set "
                                    "(400).", params=[ID], body=json_body("JobDuedateDto"), errors=ADMIN_ERRORS)},
    "/job/{id}/duedate/recalculate": {"post": op(
        "recalculateDuedate", "Job", "Not offered (400): a due date is set with PUT /job/{id}/duedate.",
        params=[ID, query("creationDateBased", BOOL)], errors=ADMIN_ERRORS)},
    "/job/{id}/stacktrace": {"get": op("getStacktrace", "Job", "A failed job's error as text/plain (the engine's "
                                       "message: there is no Java stack trace); 204 for a job that has not failed.",
                                       params=[ID])},
    "/job/{id}/priority": {"put": op("setJobPriority", "Job", "Not offered (400): jobs have no priorities here, "
                                     "each runs when it is due.", params=[ID],
                                     errors=ADMIN_ERRORS)},
    "/job/{id}/suspended": {"put": op("updateJobSuspensionState", "Job", "Not offered (400): a job is suspended "
                                      "with its process instance (PUT /process-instance/{id}/suspended).",
                                      params=[ID], errors=ADMIN_ERRORS)},
    "/job/suspended": {"put": op("updateSuspensionStateBy", "Job", "Not offered (400): jobs are suspended with "
                                 "their process instances (PUT /process-instance/{id}/suspended).",
                                 errors=ADMIN_ERRORS)},
    "/job-definition/{id}": {"get": op("getJobDefinition", "Job Definition", "One job definition.", params=[ID],
                                       ok=ref("JobDefinitionDto"))},
    "/job-definition/{id}/suspended": {"put": op(
        "updateJobDefinitionSuspensionState", "Job Definition", "Not offered (400): job definitions are not "
        "suspended; a job is suspended with its process instance.", params=[ID], errors=ADMIN_ERRORS)},
    "/job-definition/suspended": {"put": op(
        "updateJobDefinitionSuspensionStateBy", "Job Definition", "Not offered (400): job definitions are not "
        "suspended; a job is suspended with its process instance.", errors=ADMIN_ERRORS)},
    "/job-definition/{id}/jobPriority": {"put": op(
        "setJobPriorityJobDefinition", "Job Definition", "Not offered (400): jobs have no priorities here.",
        params=[ID], errors=ADMIN_ERRORS)},
    "/job-definition/{id}/retries": {"put": op(
        "setJobRetriesJobDefinition", "Job Definition", "Not offered (400): set each failed job's retries with "
        "PUT /job/{id}/retries.", params=[ID], errors=ADMIN_ERRORS)},
    "/job/retries": {"post": op("setJobRetriesAsyncOperation", "Job", "Not offered (400): there are no batches; "
                                "set each failed job's retries with PUT /job/{id}/retries.",
                                errors=ADMIN_ERRORS)},
    "/job/{id}/retries": {"put": op("setJobRetries", "Job", "Retries above 0 run a failed job again "
                                    "(administrators).", params=[ID], body=json_body("RetriesDto", True),
                                    errors=ADMIN_ERRORS)},
    "/job/{id}/execute": {"post": op("executeJob", "Job", "Run a waiting job now (a timer fires now, due or "
                                     "not, as in Camunda), or a failed one again (administrators).", params=[ID],
                                     errors=ADMIN_ERRORS)},
    "/external-task/{id}/unlock": {"post": op("unlock", "External Task", "Release the lock.", params=[ID],
                                              errors=("401", "403", "404"))},
    "/external-task/{id}/retries": {"put": op(
        "setExternalTaskResourceRetries", "External Task", "Retries above 0 on a task that failed into an "
        "incident resolve it (administrators).", params=[ID], body=json_body("RetriesDto", True),
        errors=ADMIN_ERRORS)},
    "/execution/{id}": {"get": op("getExecution", "Execution", "One execution.", params=[ID],
                                  ok=ref("ExecutionDto"))},
    "/process-instance/{id}/activity-instances": {"get": op(
        "getActivityInstanceTree", "Process Instance", "The activity instance tree.", params=[ID],
        ok=ref("ActivityInstanceDto"))},
    "/task/{id}/identity-links": {
        "get": op("getIdentityLinks", "Task", "Candidate groups and users, and the assignee.",
                  params=[ID, query("type", STR)], ok=listed("IdentityLinkDto")),
        "post": op("addIdentityLink", "Task", "Add a candidate (administrators) or set the assignee.", params=[ID],
                   body=IDENTITY_LINK_BODY, errors=ADMIN_ERRORS)},
    "/task/{id}/identity-links/delete": {"post": op(
        "deleteIdentityLink", "Task", "Remove a candidate (administrators) or the assignee.", params=[ID],
        body=IDENTITY_LINK_BODY, errors=ADMIN_ERRORS)},
    "/task/{id}/variables": {
        "get": op("getTaskVariables", "Task", "The variables the task sees: its process instance's.", params=[ID],
                  ok=ref("VariableMap")),
        "post": op("modifyTaskVariables", "Task", "Set variables of the task's process instance (whoever may work "
                   "on the task).", params=[ID], body=json_body("PatchVariablesDto", True), errors=ADMIN_ERRORS)},
    "/task/{id}/variables/{varName}": {
        "get": op("getTaskVariable", "Task", "One variable the task sees.", params=[ID, VAR] + DESERIALIZE_ONE,
                  ok=ref("VariableValueDto")),
        "put": op("putTaskVariable", "Task", "Set one variable of the task's process instance.", params=[ID, NEW_VAR],
                  body=json_body("VariableValueDto", True), errors=ADMIN_ERRORS)},
    "/task/{id}/localVariables": {"get": op("getTaskLocalVariables", "Task", "Always empty: a task has no scope "
                                            "of its own.", params=[ID], ok=ref("VariableMap"))},
    "/task/{id}/localVariables/{varName}": {"get": op(
        "getTaskLocalVariable", "Task", "Always 404: a task has no local variables.", params=[ID, VAR] + DESERIALIZE_ONE,
        ok=ref("VariableValueDto"))},
    "/process-definition/{id}/form-variables": {"get": op(
        "getStartFormVariables", "Process Definition", "The start form's fields with their defaults.",
        params=[ID] + VARIABLE_NAMES, ok=ref("VariableMap"))},
    "/process-definition/key/{key}/form-variables": {"get": op(
        "getStartFormVariablesByKey", "Process Definition", "The latest version's start form fields.",
        params=[KEY] + VARIABLE_NAMES, ok=ref("VariableMap"))},
})
PATHS["/job/{id}/stacktrace"]["get"]["responses"].update({
    "200": {"description": "The failed job's error.", "content": {"text/plain": {"schema": {"type": "string"}}}},
    "204": {"description": "The job has not failed."}})

# Users and groups (web/rest_identity.py).
USER_NAME = {"type": "string", "pattern": r"^[^\s/\\]{1,100}$"}  # engine/users.py
PROFILE_NAME = {"type": "string", "nullable": True, "maxLength": NAME_LENGTH, "pattern": NAME_PATTERN}
EMAIL = {"type": "string", "nullable": True, "maxLength": EMAIL_LENGTH, "pattern": EMAIL_PATTERN}
SCHEMAS.update({
    "UserProfileDto": obj(
        "A user: id is the user name; firstName, lastName and email as given (spaces around dropped, empty "
        "text null). Names and e-mail are at most 255 and 254 characters (what Camunda's columns and SMTP "
        "hold), without control characters; an e-mail is text without spaces, one @, a domain of dot-separated "
        "labels after it, in any script (张三@例子.中国). The pages show the two names: Chinese ones family name "
        "first without a space (张三), others first name, space, last name (Sam Lee).",
        id=STR, firstName=PROFILE_NAME, lastName=PROFILE_NAME, email=EMAIL),
    "UserCredentialsDto": needs(obj(password=TEXT, authenticatedUserPassword=STR), "password"),
    "UserDto": needs(obj(
        "A new user: a user name of 1 to 100 characters without spaces or slashes, a password of 8 or more.",
        profile=needs({"allOf": [ref("UserProfileDto")], "properties": {"id": USER_NAME}}, "id"),
        credentials=needs({"allOf": [ref("UserCredentialsDto")],
                           "properties": {"password": {"type": "string", "minLength": 8}}}, "password")),
        "profile", "credentials"),
    "GroupDto": obj("A group (bureau): name is its Chinese name, type WORKFLOW.", id=STR, name=STR,
                    type={"type": "string", "nullable": True, "enum": ["WORKFLOW", None]}),
})
USER_FILTERS = [query(n, STR) for n in ("id", "idIn", "firstName", "firstNameLike", "lastName", "lastNameLike",
                                        "email", "emailLike", "memberOfGroup")]
GROUP_FILTERS = [query(n, STR) for n in ("id", "idIn", "name", "nameLike", "type", "member")]
USER_ID, GROUP_ID = path("id", "user name"), path("id", "group id")
# A new group: its id (letters, digits and _ . : -) and its Chinese name.
NEW_GROUP = needs({"allOf": [ref("GroupDto")], "properties": {
    "id": {"type": "string", "pattern": r"^\s*[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}\s*$"}, "name": NOT_BLANK}},
    "id", "name")
PATHS.update({
    "/user": {"get": op("getUsers", "User", "Active users.", params=USER_FILTERS + PAGING + sorting(
        "userId", "firstName", "lastName", "email"), ok=listed("UserProfileDto"), errors=("400", "401"))},
    "/user/count": {"get": op("getUserCount", "User", "How many users match.", params=USER_FILTERS, ok=COUNT,
                              errors=("400", "401"))},
    "/user/create": {"post": op("createUser", "User", "Create a user (administrators); groups are added after.",
                                body=json_body("UserDto", True), errors=ADMIN_ERRORS)},
    "/user/{id}/profile": {
        "get": op("getUserProfile", "User", "A user's profile.", params=[USER_ID], ok=ref("UserProfileDto")),
        "put": op("updateProfile", "User", "Replace firstName, lastName and email (the user, or an "
                                      "administrator): one left out becomes null, as in Camunda.", params=[USER_ID],
                  body=json_body("UserProfileDto", True))},
    "/user/{id}/credentials": {"put": op("updateCredentials", "User", "A new password (the user, or an "
                                                                      "administrator).",
                                         params=[USER_ID], body=json_body("UserCredentialsDto", True))},
    "/user/{id}": {"delete": op("deleteUser", "User", "Deactivate a user (administrators).", params=[USER_ID])},
    "/group": {"get": op("getQueryGroups", "Group", "Active groups.", params=GROUP_FILTERS + PAGING + sorting(
        "id", "name", "type"), ok=listed("GroupDto"), errors=("400", "401"))},
    "/group/count": {"get": op("getGroupCount", "Group", "How many groups match.", params=GROUP_FILTERS, ok=COUNT,
                               errors=("400", "401"))},
    "/group/create": {"post": op("createGroup", "Group", "Add a group (administrators).",
                                 body={"required": True, "content": json_content(NEW_GROUP)},
                                 errors=ADMIN_ERRORS)},
    "/group/{id}": {
        "get": op("getGroup", "Group", "A group.", params=[GROUP_ID], ok=ref("GroupDto")),
        "put": op("updateGroup", "Group", "Rename a group (administrators); the id, if given, is the group's.",
                  params=[GROUP_ID], body={"required": True, "content": json_content(needs(
                      {"allOf": [ref("GroupDto")], "properties": {"name": NOT_BLANK}}, "name"))}),
        "delete": op("deleteGroup", "Group", "Deactivate a group (administrators).", params=[GROUP_ID])},
    "/group/{id}/members/{userId}": {
        "put": op("createGroupMember", "Group", "Put a user in the group (administrators).",
                  params=[GROUP_ID, path("userId")]),
        "delete": op("deleteGroupMember", "Group", "Take a user out of the group (administrators).",
                     params=[GROUP_ID, path("userId")])},
})

# Work on a task may say why (kept in its history): an administrator's on a task not offered to them.
REASON = query("reason", STR, "dalad: why, kept in the task's history (an administrator acting on a task offered "
                              "to others, a hand-over)")
for _path in ("/task/{id}/claim", "/task/{id}/unclaim", "/task/{id}/assignee", "/task/{id}/complete",
              "/task/{id}/submit-form", "/task/{id}/identity-links", "/task/{id}/identity-links/delete"):
    PATHS[_path]["post"]["parameters"].append(REASON)

# A completion answers the variables only when asked (withVariablesInReturn).
for _path in ("/task/{id}/complete", "/task/{id}/submit-form"):
    PATHS[_path]["post"]["responses"]["204"] = {"description": "Completed (withVariablesInReturn not set)."}

# A message answers the correlation's results only when asked (resultEnabled).
PATHS["/message"]["post"]["responses"]["204"] = {"description": "Correlated (resultEnabled not set)."}

# The deployment answers 400 with a ParseException, not a plain error.
PATHS["/deployment/create"]["post"]["responses"] = {
    "200": {"description": "Deployed (or, as a duplicate, the earlier deployment).",
            "content": json_content(ref("DeploymentWithDefinitionsDto"))},
    "400": {"description": "The bundle was refused (every problem, by file) or the form is malformed.",
            "content": json_content({"anyOf": [ref("ParseExceptionDto"), ref("ExceptionDto")]})},
    "401": {"description": ERRORS["401"][0], "content": json_content(ref("ExceptionDto"))},
    "403": {"description": "Deploying needs the admin role.",
            "content": json_content(ref("AuthorizationExceptionDto"))},
}


def openapi_document(base_url: str, camunda_version: str) -> dict:
    """The document, with the server at `base_url` (…/engine-rest)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "dalad engine-rest", "version": camunda_version,
                 "description": "The REST API of the dalad workflow engine, in the shapes of Camunda 7 engine-rest "
                                f"{camunda_version} where Camunda has the call. Authenticate with Basic (user name "
                                "and password) or Bearer (a token from `dalad tokens create USER`). Ids are strings; "
                                "dates are yyyy-MM-dd'T'HH:mm:ss.SSSZ. Camunda Modeler deploys here "
                                "(Deploy → Camunda 7; its links lead to "
                                "/.well-known/camunda-automation-platform/webapps, outside this base)."},
        "servers": [{"url": base_url}],
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "paths": deepcopy(PATHS),
        "components": {"schemas": deepcopy(SCHEMAS),
                       "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"},
                                           "bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }


def _template(path_: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path_)


@lru_cache(maxsize=None)
def _accepted_table() -> dict:
    table = {}
    for path_, operations in PATHS.items():
        for method, operation in operations.items():
            params = {p["name"]: parameter_kind(p) for p in operation["parameters"] if p["in"] == "query"}
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            name = schema.get("$ref", "").rpartition("/")[2]
            body = QUERY_BODY_KINDS.get(name)
            required = operation.get("requestBody", {}).get("required") and "application/json" in \
                operation["requestBody"]["content"]
            required = (f"a JSON object ({name})" if name else "a JSON object") if required else None
            table[(method, _template(path_))] = (params, body, required)
    return table


def accepted(method: str, path_: str) -> tuple[dict[str, str], Optional[dict[str, str]], Optional[str]]:
    """The query parameters a call takes and the fields of its JSON query body (None: the call
    takes no query body), each with its kind (`parameter_kind`), and the JSON body it requires,
    named for a message (None: the body may be left out). `path_` is the call's path below
    /engine-rest with {} for each variable."""
    return _accepted_table().get((method.lower(), path_), ({}, None, None))
