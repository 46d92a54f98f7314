"""Tasks through /engine-rest: each official sees the tasks of their bureaus, claims, hands back and
completes them under the engine's rules; auditors see everything and do nothing; administrators
hand tasks to candidates. review.bpmn: `submit` goes to unit:<unit>, then drc and finance (≥ 1000)
or office (< 1000)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from lxml import etree
from sqlalchemy import select

from engine.models import UserTask
from test_rest_helpers import (deployed, diagram, error_of, modeler_deploy, project_at_the_office,  # noqa: F401
                               rest, start)

TASK_FIELDS = {"id", "name", "assignee", "owner", "created", "due", "followUp", "delegationState", "description",
               "executionId", "parentTaskId", "priority", "processDefinitionId", "processInstanceId",
               "caseExecutionId", "caseDefinitionId", "caseInstanceId", "taskDefinitionKey", "suspended", "formKey",
               "camundaFormRef", "tenantId"}


@pytest.fixture
def review(rest):
    rest.definitions = deployed(rest, "review.bpmn")
    return rest


def submit_task(rest, instance: dict, user: str = "edu") -> dict:
    [task] = rest.as_(user).get("/task", processInstanceId=instance["id"], taskDefinitionKey="submit").get_json()
    return task


def test_an_official_sees_the_tasks_of_their_bureau_in_camunda_shape(review):
    first = start(review, "review", business_key="P-1", unit="edu")
    second = start(review, "review", business_key="P-2", unit="edu")
    tasks = review.as_("edu").get("/task").get_json()
    assert [t["processInstanceId"] for t in tasks] == [first["id"], second["id"]]
    task = tasks[0]
    assert set(task) == TASK_FIELDS
    for value in (task["id"], task["processInstanceId"], task["processDefinitionId"], task["executionId"]):
        assert UUID(value).version == 1  # the form of Camunda's StrongUuidGenerator
    assert (task["name"], task["taskDefinitionKey"], task["assignee"], task["priority"], task["suspended"]) == (
        "提交材料", "submit", None, 60, False)
    assert task["created"] == "2026-03-02T09:00:00.000+0800"
    assert task["due"] == "2026-03-09T23:59:59.000+0800"  # five working days, end of that day
    assert task["processDefinitionId"] == review.definitions["review"]["id"] and task["executionId"] == first["id"]
    assert review.as_("edu").get("/task/count").get_json() == {"count": 2}
    assert review.as_("office").get("/task").get_json() == []
    assert review.as_("office").get("/task/count").get_json() == {"count": 0}
    assert len(review.as_("auditor").get("/task").get_json()) == 2
    assert len(review.as_("admin").get("/task").get_json()) == 2


def test_task_filters_sorting_and_paging(review, frozen_clock):
    first = start(review, "review", business_key="P-1", unit="edu")
    frozen_clock.advance(timedelta(minutes=5))  # the second task is newer
    second = start(review, "review", business_key="P-2", unit="edu")
    edu = review.as_("edu")

    def ids(**query):
        return [t["processInstanceId"] for t in edu.get("/task", **query).get_json()]

    assert ids(processInstanceBusinessKey="P-2") == [second["id"]]
    assert ids(processInstanceBusinessKeyLike="P-%") == [first["id"], second["id"]]
    assert ids(processDefinitionKey="review", taskDefinitionKey="submit") == [first["id"], second["id"]]
    assert ids(taskDefinitionKey="drc_review") == []
    assert ids(sortBy="created", sortOrder="desc") == [second["id"], first["id"]]
    assert ids(sortBy="created", sortOrder="desc", maxResults=1) == [second["id"]]
    assert ids(firstResult=1) == [second["id"]]
    assert ids(createdAfter="2026-03-02T09:01:00.000+0800") == [second["id"]]
    assert ids(dueBefore="2026-03-10T00:00:00.000+0800", minPriority=60) == [first["id"], second["id"]]
    assert ids(nameLike="提交%", candidateGroup="unit:edu") == [first["id"], second["id"]]
    task = submit_task(review, first)
    assert edu.post(f"/task/{task['id']}/claim", {"userId": "edu"}).status_code == 204
    assert ids(assignee="edu") == [first["id"]]
    assert ids(unassigned="true") == [second["id"]]
    assert ids(candidateGroup="unit:edu") == [second["id"]]  # Camunda: candidate tasks are unclaimed ones
    assert ids(candidateGroup="unit:edu", includeAssignedTasks="true") == [first["id"], second["id"]]
    assert ids(candidateUser="edu2") == [second["id"]]
    assert edu.get("/task/count", assigned="true").get_json() == {"count": 1}
    error_of(edu.get("/task", sortBy="colour"), 400, "InvalidRequestException")
    error_of(edu.get("/task", dueBefore="next week"), 400, "InvalidRequestException")
    error_of(edu.get("/task", assigned="maybe"), 400, "InvalidRequestException")


def test_one_task_is_read_by_its_bureau_and_by_auditors_only(review):
    instance = start(review, "review", unit="edu")
    task = submit_task(review, instance)
    assert review.as_("edu").get(f"/task/{task['id']}").get_json() == task
    assert review.as_("auditor").get(f"/task/{task['id']}").status_code == 200
    message = error_of(review.as_("office").get(f"/task/{task['id']}"), 403, "AuthorizationException")
    assert "unit:edu" not in message  # who a task is offered to is not told to those it is not offered to
    error_of(review.as_("edu").get("/task/999"), 404, "InvalidRequestException")
    error_of(review.as_("edu").get("/task/abc"), 404, "InvalidRequestException")


def test_form_variables_are_the_task_fields_with_their_types(review):
    instance = start(review, "review", unit="edu")
    task = submit_task(review, instance)
    assert review.as_("edu").get(f"/task/{task['id']}/form-variables").get_json() == {
        "amount": {"type": "Long", "value": None, "valueInfo": {}}}
    review.as_("edu").post(f"/task/{task['id']}/complete", {"variables": {"amount": {"value": 500, "type": "Long"}}})
    [office_task] = review.as_("office").get("/task", processInstanceId=instance["id"]).get_json()
    values = review.as_("office").get(f"/task/{office_task['id']}/form-variables").get_json()
    assert values["amount"] == {"type": "Long", "value": 500, "valueInfo": {}}  # no form: every variable
    assert values["unit"] == {"type": "String", "value": "edu", "valueInfo": {}}
    assert set(review.as_("office").get(f"/task/{office_task['id']}/form-variables",
                                        variableNames="unit,initiator").get_json()) == {"unit", "initiator"}


def test_claim_unclaim_and_assign_follow_the_bureaus(review):
    instance = start(review, "review", unit="edu")
    task_id = submit_task(review, instance)["id"]
    edu, edu2, admin = review.as_("edu"), review.as_("edu2"), review.as_("admin")

    assert edu.post(f"/task/{task_id}/claim", {"userId": "edu"}).status_code == 204
    assert edu2.get(f"/task/{task_id}").get_json()["assignee"] == "edu"  # a colleague sees who has it
    assert "already claimed by edu" in error_of(edu2.post(f"/task/{task_id}/claim", {"userId": "edu2"}),
                                                409, "TaskNotReady")
    assert "claimed by edu" in error_of(edu2.post(f"/task/{task_id}/unclaim"), 403, "AuthorizationException")
    error_of(edu2.post(f"/task/{task_id}/claim", {"userId": "edu"}), 403, "AuthorizationException")
    error_of(review.as_("office").post(f"/task/{task_id}/claim"), 403, "AuthorizationException")
    error_of(review.as_("auditor").post(f"/task/{task_id}/claim", {"userId": "auditor"}), 403,
             "AuthorizationException")

    assert edu.post(f"/task/{task_id}/unclaim").status_code == 204
    assert edu.get(f"/task/{task_id}").get_json()["assignee"] is None
    assert edu2.post(f"/task/{task_id}/claim").status_code == 204  # no body: for oneself
    assert edu.get(f"/task/{task_id}").get_json()["assignee"] == "edu2"

    # an administrator hands the task to anyone (Camunda's camunda-admin); a candidate cannot
    assert admin.post(f"/task/{task_id}/assignee", {"userId": "office"}).status_code == 204
    assert edu.get(f"/task/{task_id}").get_json()["assignee"] == "office"
    assert admin.post(f"/task/{task_id}/assignee", {"userId": "edu"}).status_code == 204
    assert edu.get(f"/task/{task_id}").get_json()["assignee"] == "edu"
    error_of(edu2.post(f"/task/{task_id}/assignee", {"userId": "edu2"}), 403, "AuthorizationException")
    assert admin.post(f"/task/{task_id}/assignee", {"userId": None}).status_code == 204
    assert edu.get(f"/task/{task_id}").get_json()["assignee"] is None
    error_of(edu.post(f"/task/{task_id}/assignee", {"userId": 7}), 400, "InvalidRequestException")


def test_completing_runs_the_process_on_and_checks_the_data(review):
    instance = start(review, "review", unit="edu")
    task_id = submit_task(review, instance)["id"]
    edu = review.as_("edu")

    error_of(review.as_("auditor").post(f"/task/{task_id}/complete", {}), 403, "AuthorizationException")
    error_of(review.as_("office").post(f"/task/{task_id}/complete", {}), 403, "AuthorizationException")
    error_of(edu.post(f"/task/{task_id}/complete", {"variables": {"amount": {"value": "lots", "type": "Long"}}}),
             400, "InvalidRequestException")
    assert "field 'amount'" in error_of(edu.post(f"/task/{task_id}/complete", {}), 400, "InvalidRequestException")

    done = edu.post(f"/task/{task_id}/complete", {"variables": {"amount": {"value": 1500, "type": "Long"}},
                                                  "withVariablesInReturn": True})
    assert done.status_code == 200
    assert done.get_json()["amount"] == {"type": "Long", "value": 1500, "valueInfo": {}}
    assert "already completed by edu at 2026-03-02 09:00:00" in error_of(
        edu.post(f"/task/{task_id}/complete", {}), 409, "TaskNotReady")
    assert [t["taskDefinitionKey"] for t in review.as_("drc").get("/task").get_json()] == ["drc_review"]
    assert [t["taskDefinitionKey"] for t in review.as_("finance").get("/task").get_json()] == ["finance_review"]
    [drc_task] = review.as_("drc").get("/task").get_json()
    error_of(review.as_("auditing").post(f"/task/{drc_task['id']}/complete", {}), 403, "AuthorizationException")
    assert review.as_("drc").post(f"/task/{drc_task['id']}/submit-form", {"variables": {}}).status_code == 204
    assert review.as_("drc").get("/task").get_json() == []


@pytest.mark.parametrize("flag", [{}, "AAA", 1, []])
def test_with_variables_in_return_is_true_or_false(review, flag):
    """An object was read as false, text as true: the task was completed either way (found by
    tests/fuzz once it completed real tasks)."""
    task_id = submit_task(review, start(review, "review", unit="edu"))["id"]
    edu = review.as_("edu")
    message = error_of(edu.post(f"/task/{task_id}/complete", {"variables": {"amount": {"value": 500, "type": "Long"}},
                                                              "withVariablesInReturn": flag}),
                       400, "InvalidRequestException")
    assert "withVariablesInReturn" in message
    assert edu.get(f"/task/{task_id}").status_code == 200  # still open


@pytest.mark.parametrize("link", [{"type": "candidate", "groupId": ""}, {"type": "candidate", "userId": " "},
                                  {"type": "assignee", "userId": ""}])
def test_an_identity_link_to_nobody_is_refused(review, link):
    """A candidate group "" was added to the task (found by tests/fuzz on a real task)."""
    task_id = submit_task(review, start(review, "review", unit="edu"))["id"]
    admin = review.as_("admin")
    before = admin.get(f"/task/{task_id}/identity-links").get_json()
    for call in ("/identity-links", "/identity-links/delete"):
        message = error_of(admin.post(f"/task/{task_id}{call}", link), 400, "InvalidRequestException")
        assert "userId or groupId" in message
    assert admin.get(f"/task/{task_id}/identity-links").get_json() == before


def test_an_auditor_in_the_audit_bureau_still_does_the_audit_bureaus_tasks(review):
    name, content = diagram("review.bpmn")
    audited = content.replace(b'camunda:candidateGroups="finance"', b'camunda:candidateGroups="audit"')
    modeler_deploy(review.as_("admin"), "audit", (name, audited))
    instance = start(review, "review", unit="edu")
    review.as_("edu").post(f"/task/{submit_task(review, instance)['id']}/complete",
                           {"variables": {"amount": {"value": 1500}}})
    [audit_task] = review.as_("auditing").get("/task", taskDefinitionKey="finance_review").get_json()
    error_of(review.as_("auditor").post(f"/task/{audit_task['id']}/complete", {}), 403, "AuthorizationException")
    assert review.as_("auditing").post(f"/task/{audit_task['id']}/complete", {}).status_code == 204


def test_a_completion_reads_its_task_and_instance_once_under_the_lock(review):
    """The task and its instance are read together under the instance's lock, and neither the
    visibility check nor the service reads them again (PostgreSQL re-reads the task once after the
    lock, as another completion may have changed it while this one waited)."""
    from sqlalchemy import event

    instance = start(review, "review", unit="edu")
    task_id = submit_task(review, instance)["id"]
    reads = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and ("user_task" in statement or "process_instance" in statement):
            reads.append(statement)

    event.listen(review.db.engine, "before_cursor_execute", keep)
    try:
        done = review.as_("edu").post(f"/task/{task_id}/complete", {"variables": {"amount": {"value": 500, "type": "Long"}}})
    finally:
        event.remove(review.db.engine, "before_cursor_execute", keep)
    assert done.status_code == 204
    locked = [s for s in reads if "FOR UPDATE" in s.upper()]
    assert len(reads) == (1 if review.db.is_sqlite else 2), reads
    assert review.db.is_sqlite or len(locked) == 1


def test_a_task_list_is_one_statement_with_its_definitions(review):
    """A page of tasks reads tasks, instances and their definitions' ids in one statement (the
    caller's token is recognised from the credential cache after its first call)."""
    from sqlalchemy import event

    first = start(review, "review", unit="edu")
    start(review, "review", unit="edu")
    edu = review.as_("edu")
    assert edu.get("/version").status_code == 200
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(review.db.engine, "before_cursor_execute", keep)
    try:
        everything = edu.get("/task").get_json()
        one = edu.get("/task", processInstanceId=first["id"]).get_json()
    finally:
        event.remove(review.db.engine, "before_cursor_execute", keep)
    assert len(everything) == 2 and [t["processInstanceId"] for t in one] == [first["id"]]
    assert {t["processDefinitionId"] for t in everything} == {review.definitions["review"]["id"]}
    reads = [s for s in statements if not s.lstrip().upper().startswith("BEGIN")]
    assert len(reads) == 2 and all(s.lstrip().upper().startswith("SELECT") for s in reads), reads


def test_queries_of_one_shape_answer_each_with_their_own_values_and_caller(review):
    """A task query's statement is made once for each set of filters given, its values bound per
    call: the same filters with other values, the same query by a caller who may see other tasks,
    and other filters each answer for themselves, in any order."""
    first = start(review, "review", business_key="P-1", unit="edu")
    second = start(review, "review", business_key="P-2", unit="edu")
    edu, office = review.as_("edu"), review.as_("office")

    def ids(api, path="/task", **query):
        return [t["processInstanceId"] for t in api.get(path, **query).get_json()]

    for _ in range(2):
        assert ids(edu, processInstanceId=first["id"]) == [first["id"]]
        assert ids(office, processInstanceId=first["id"]) == []  # the visibility of the caller of the call
        assert ids(edu, processInstanceId=second["id"]) == [second["id"]]
        assert ids(edu, processInstanceIdIn=f"{first['id']},{second['id']}") == [first["id"], second["id"]]
        assert ids(edu, processInstanceIdIn=f"{first['id']},{second['id']}", maxResults=1) == [first["id"]]
        assert ids(edu, processInstanceIdIn=f"{first['id']},{second['id']}", firstResult=1) == [second["id"]]
        assert ids(edu, processInstanceBusinessKey="P-2") == [second["id"]]
        assert ids(edu, processInstanceBusinessKey="P-1") == [first["id"]]
        assert ids(edu, candidateUser="edu2") == [first["id"], second["id"]]
        assert ids(edu, candidateUser="office") == []  # the candidate's own groups, bound per call
        assert ids(edu, candidateUser="nobody") == []  # no such user: offered to nobody's bureaus
        assert ids(edu, processInstanceIdIn=first["id"]) == [first["id"]]  # a list of one: as processInstanceId
        assert ids(office, candidateUser="edu2") == []
        assert edu.get("/task/count", processInstanceId=first["id"]).get_json() == {"count": 1}
        assert office.get("/task/count", processInstanceId=first["id"]).get_json() == {"count": 0}
        assert edu.get("/task/count", processInstanceBusinessKeyLike="P-%").get_json() == {"count": 2}
        assert ids(review.as_("auditor"), processInstanceId=second["id"]) == [second["id"]]
        assert ids(edu, candidateGroup="unit:edu", maxResults=1) == [first["id"]]  # the bureau's inbox
        assert ids(edu, candidateGroup="unit:edu", maxResults=2) == [first["id"], second["id"]]
        assert ids(edu, candidateGroup="unit:edu", firstResult=1, maxResults=1) == [second["id"]]
        assert ids(review.as_("auditor"), candidateGroup="unit:edu") == [first["id"], second["id"]]


def test_the_headers_a_server_gets_name_each_length_and_security_header_once(review):
    """What the WSGI server is handed (web.Response gives its own headers where Werkzeug would copy
    them unchanged): a body's exact length, no length for a 204, each security header once."""
    instance = start(review, "review", business_key="P-1", unit="edu")
    edu = review.as_("edu")
    listed = edu.get("/task", processInstanceId=instance["id"])
    done = edu.post(f"/task/{submit_task(review, instance)['id']}/complete",
                    {"variables": {"amount": {"value": 500, "type": "Long"}}})
    refused = edu.post("/task/no-such-task/complete", {})
    for response, status in ((listed, 200), (done, 204), (refused, 404)):
        assert response.status_code == status
        names = [name.lower() for name, _value in response.headers]
        assert len(names) == len(set(names)), response.headers
        assert {"x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy",
                "cache-control"} <= set(names)
        if status == 204:
            assert "content-length" not in names and response.data == b""
        else:
            assert int(response.headers["Content-Length"]) == len(response.data) > 0


# --- descriptions: a task's documentation, as Camunda 7 makes it the task's description ---------------

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"


def _documentation(file_name: str, element_id: str) -> str:
    [text] = etree.parse(str(BPMN_DIR / file_name)).xpath(
        "//bpmn:userTask[@id=$id]/bpmn:documentation/text()", id=element_id,
        namespaces={"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"})
    return text.strip()


def _stored_description(rest, task_id: str):
    with rest.db.read() as session:
        return session.scalar(select(UserTask.description).where(UserTask.rest_id == task_id))


def test_a_task_of_the_real_project_diagram_is_described_by_its_documentation(rest):
    """bpmn/ deployed from the Modeler: the office's confirm_project_basis carries the 办法 article and
    what to check; the filters find it by that text; its row holds no copy of it."""
    instance, task = project_at_the_office(rest, "P-2026-010")
    office = rest.as_("office")
    documentation = _documentation("project.bpmn", "confirm_project_basis")
    assert documentation.startswith("第五条之二：领导小组办公室确认项目")
    assert task["description"] == documentation
    assert office.get(f"/task/{task['id']}").get_json()["description"] == documentation
    assert _stored_description(rest, task["id"]) is None  # read from the definition, not copied per task

    def ids(**query):
        return [t["id"] for t in office.get("/task", **query).get_json()]

    assert ids(description=documentation) == [task["id"]]
    assert ids(descriptionLike="第五条之二：%是否涉密。") == [task["id"]]
    assert ids(descriptionLike="%第五条之二_领导小组办公室%") == [task["id"]]
    assert ids(description=documentation[:-1]) == [] and ids(descriptionLike="第九十九条%") == []
    assert office.get("/task/count", descriptionLike="%是否涉密%").get_json() == {"count": 1}
    assert [t["id"] for t in office.post("/task", {"descriptionLike": "%是否涉密%"}).get_json()] == [task["id"]]
    assert office.post("/task/count", {"description": documentation}).get_json() == {"count": 1}
    assert office.post("/task/count", {"description": None, "descriptionLike": None}).get_json() == {"count": 1}
    assert office.post(f"/task/{task['id']}/complete", {"variables": {
        "in_plan": {"value": False}, "emergency": {"value": False}, "simple": {"value": False},
        "cross_department": {"value": False}, "classified": {"value": False},
        "basis_opinion": {"value": "确认"}}}).status_code == 204
    [done] = rest.as_("auditor").get("/history/task", taskId=task["id"]).get_json()
    assert done["description"] == documentation


def test_a_description_with_expressions_is_evaluated_when_the_task_is_created(rest):
    rest.definitions = deployed(rest, "task_description.bpmn")
    instance = start(rest, "described", unit="edu", amount=1500)
    edu = rest.as_("edu")
    [task] = edu.get("/task", processInstanceId=instance["id"]).get_json()
    described = "请核对 edu 的申报：\n金额 1500 元，<b>不得</b>超过批复概算。"
    assert task["description"] == described
    assert _stored_description(rest, task["id"]) == described  # evaluated: the task's own
    assert [t["id"] for t in edu.get("/task", description=described).get_json()] == [task["id"]]
    assert [t["id"] for t in edu.get("/task", descriptionLike="%1500 元%").get_json()] == [task["id"]]
    assert edu.get("/task", descriptionLike="%${amount}%").get_json() == []  # not the text as written
    unknown = start(rest, "described", unit="edu")  # as in a task name: what cannot be evaluated is left out
    [without] = edu.get("/task", processInstanceId=unknown["id"]).get_json()
    assert without["description"] == "请核对  的申报：\n金额  元，<b>不得</b>超过批复概算。"
    assert edu.post(f"/task/{task['id']}/complete", {}).status_code == 204
    [done] = rest.as_("auditor").get("/history/task", taskId=task["id"]).get_json()
    assert done["description"] == described


def test_null_and_typed_values_in_task_names_and_descriptions_read_as_juel_writes_them(rest):
    """Camunda's JUEL: in a text with expressions a null is '' and a value its Java text (true, 1.5E7);
    a name or description that is only `${x}` is x itself, so a null leaves it null."""
    rest.definitions = deployed(rest, "task_text_nulls.bpmn")
    instance = start(rest, "text_nulls", unit="edu", projectName=None, note=None, title=None, urgent=True,
                     amount=15000000.0, copies=3)
    tasks = {t["taskDefinitionKey"]: t for t in rest.as_("edu").get("/task", processInstanceId=instance["id"]).get_json()}
    assert (tasks["review"]["name"], tasks["review"]["description"]) == ("审核 ", None)
    assert (tasks["flag"]["name"], tasks["flag"]["description"]) == (None, "加急：true，金额 1.5E7 元，份数 3，备注 。")
    history = {t["taskDefinitionKey"]: t for t in rest.as_("auditor").get(
        "/history/task", processInstanceId=instance["id"]).get_json()}
    assert (history["review"]["name"], history["review"]["description"]) == ("审核 ", None)
    assert (history["flag"]["name"], history["flag"]["description"]) == (None, "加急：true，金额 1.5E7 元，份数 3，备注 。")
    named = start(rest, "text_nulls", unit="edu", projectName="智慧教育", note="先看预算", title=True, urgent=False,
                  amount=1500.5, copies=1)
    tasks = {t["taskDefinitionKey"]: t for t in rest.as_("edu").get("/task", processInstanceId=named["id"]).get_json()}
    assert (tasks["review"]["name"], tasks["review"]["description"]) == ("审核 智慧教育", "先看预算")
    assert (tasks["flag"]["name"], tasks["flag"]["description"]) == ("true", "加急：false，金额 1500.5 元，份数 1，备注 先看预算。")


def test_a_python_create_listener_sets_the_description_from_the_one_it_reads(rest):
    """Deployed from the Modeler: recheck's listener runs task.setDescription("加急：" + task.getDescription())."""
    rest.definitions = deployed(rest, "task_description_listener.bpmn")
    instance = start(rest, "described_urgent", unit="edu")
    edu = rest.as_("edu")
    [recheck] = edu.get("/task", processInstanceId=instance["id"]).get_json()
    assert recheck["description"] == "加急：复核 edu 的材料"
    assert [t["id"] for t in edu.get("/task", descriptionLike="加急%").get_json()] == [recheck["id"]]


def test_a_description_that_does_not_parse_is_refused_at_deploy_naming_file_and_task(rest):
    name, xml = diagram("task_description.bpmn")
    broken = xml.replace("金额 ${amount} 元".encode(), "金额 ${amount +} 元".encode())
    response = modeler_deploy(rest.as_("admin"), "办理说明", ("task_description.bpmn", broken))
    message = error_of(response, 400, "ParseException")
    assert "resource task_description.bpmn" in message and "documentation (the task's description) does not " \
                                                             "parse" in message
    [problem] = response.get_json()["details"]["task_description.bpmn"]["errors"]
    assert problem["mainElementId"] == "check" and "documentation" in problem["message"]
    assert rest.as_("admin").get("/deployment/count").get_json() == {"count": 0}
