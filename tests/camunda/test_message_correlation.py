"""Message correlation as Camunda 7 does it (shared_message.bpmn, driven over REST): a message goes
to the one execution waiting for it, else starts the one process it starts; when several
executions wait for it (two embedded subprocesses' event subprocesses, the process's own and an
intermediate catch event in one instance, or several instances) it is refused as Camunda refuses it
(MismatchingMessageCorrelationException, HTTP 400) and nothing changes, unless it is sent with
`all: true`, which correlates it to every one of them and starts every process it starts. Every
instance's history replays."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.models import HistoryEvent, ProcessInstance
from test_camunda_patterns import error_of, history_proves_every_instance, rest  # noqa: F401 (fixtures)
from test_camunda_patterns import complete, deploy, start, tasks

MESSAGE = "documents_added"


def waiting_tasks(rest, instance_id: str) -> list[str]:
    """The element of each open task of the instance, sorted (several of one element included)."""
    listed = rest.as_("admin").get("/task", processInstanceId=instance_id).get_json()
    return sorted(t["taskDefinitionKey"] for t in listed)


def subscriptions(rest, instance_id: str) -> list[str]:
    listed = rest.as_("admin").get("/event-subscription", processInstanceId=instance_id, eventName=MESSAGE).get_json()
    return sorted(s["activityId"] for s in listed)


def instance_count(rest, key: str) -> int:
    return rest.as_("admin").get("/process-instance/count", processDefinitionKey=key).get_json()["count"]


def history_count(rest) -> int:
    with rest.db.read() as session:
        return session.scalar(select(func.count(HistoryEvent.id)))


def test_a_message_several_executions_of_one_instance_wait_for_is_refused_unless_sent_to_all(rest):
    deploy(rest, "shared_message.bpmn")
    case = start(rest, "c7_shared_message", business_key="C-1")
    assert waiting_tasks(rest, case) == ["legal_review", "technical_review"]
    waiting = ["case_documents", "legal_stage_documents", "technical_stage_documents", "wait_documents"]
    assert subscriptions(rest, case) == waiting
    events = history_count(rest)
    admin = rest.as_("admin")
    for correlation in ({"businessKey": "C-1"}, {"processInstanceId": case}, {}):
        message = error_of(admin.post("/message", {"messageName": MESSAGE, "processVariables": {
            "note": {"value": "a second map"}}, **correlation}), 400, "RestException")
        assert message.startswith("org.camunda.bpm.engine.MismatchingMessageCorrelationException: Cannot correlate "
                                  f"a message with name '{MESSAGE}' to a single execution. 4 executions match")
        assert (f"CorrelationSet [businessKey={correlation.get('businessKey', 'null')}, "
                f"processInstanceId={correlation.get('processInstanceId', 'null')}, correlationKeys=null]") in message
        assert "'wait_documents' of c7_shared_message C-1" in message and "all: true" in message
    assert waiting_tasks(rest, case) == ["legal_review", "technical_review"]  # nothing changed
    assert subscriptions(rest, case) == waiting and history_count(rest) == events
    assert "note" not in admin.get(f"/process-instance/{case}/variables").get_json()
    assert instance_count(rest, "c7_document_intake") == 0  # a waiting execution goes before a start event

    answer = admin.post("/message", {"messageName": MESSAGE, "processInstanceId": case, "all": True,
                                     "resultEnabled": True, "processVariables": {"note": {"value": "a map"}}})
    assert answer.status_code == 200, answer.get_json()
    assert [r["resultType"] for r in answer.get_json()] == ["Execution"] * 4
    assert waiting_tasks(rest, case) == ["check_legal_review", "check_technical_review", "file_documents",
                                         "legal_review", "log_documents", "technical_review"]
    assert admin.get(f"/process-instance/{case}/variables/note").get_json()["value"] == "a map"
    assert instance_count(rest, "c7_document_intake") == 0  # processInstanceId names the instance alone
    # the event subprocesses stay armed (non-interrupting); the catch event has passed
    assert subscriptions(rest, case) == ["case_documents", "legal_stage_documents", "technical_stage_documents"]
    error_of(admin.post("/message", {"messageName": MESSAGE, "businessKey": "C-1"}), 400, "RestException")
    assert admin.post("/message", {"messageName": MESSAGE, "businessKey": "C-1", "all": True}).status_code == 204
    assert waiting_tasks(rest, case).count("check_legal_review") == 2
    assert waiting_tasks(rest, case).count("log_documents") == 2
    # Camunda's correlateAll also starts each process the message starts, with the business key
    assert instance_count(rest, "c7_document_intake") == 1
    [intake] = admin.get("/process-instance", processDefinitionKey="c7_document_intake").get_json()
    assert intake["businessKey"] == "C-1"


def test_once_one_stage_has_ended_its_subscription_goes_and_the_message_finds_the_rest(rest):
    deploy(rest, "shared_message.bpmn")
    case = start(rest, "c7_shared_message", business_key="C-2")
    complete(rest, tasks(rest, case)["legal_review"], "office")
    assert subscriptions(rest, case) == ["case_documents", "technical_stage_documents", "wait_documents"]
    message = error_of(rest.as_("admin").post("/message", {"messageName": MESSAGE, "businessKey": "C-2"}), 400,
                       "RestException")
    assert "3 executions match" in message


def test_a_message_goes_to_the_one_waiting_instance_before_a_start_event_and_else_starts_it(rest):
    """Camunda's rule: the waiting executions first; only when none waits, the process it starts."""
    deploy(rest, "shared_message.bpmn")
    admin = rest.as_("admin")
    answer = admin.post("/message", {"messageName": MESSAGE, "businessKey": "D-1", "resultEnabled": True})
    assert answer.status_code == 200, answer.get_json()
    [started] = answer.get_json()
    assert (started["resultType"], started["processInstance"]["businessKey"]) == ("ProcessDefinition", "D-1")
    waiting = start(rest, "c7_document_wait", business_key="D-2")
    answer = admin.post("/message", {"messageName": MESSAGE, "resultEnabled": True})  # no business key: one waits
    assert answer.status_code == 200, answer.get_json()
    [delivered] = answer.get_json()
    assert (delivered["resultType"], delivered["execution"]["processInstanceId"]) == ("Execution", waiting)
    assert waiting_tasks(rest, waiting) == ["file_received"]
    assert instance_count(rest, "c7_document_intake") == 1
    first = start(rest, "c7_document_wait", business_key="D-3")
    second = start(rest, "c7_document_wait", business_key="D-4")
    message = error_of(admin.post("/message", {"messageName": MESSAGE}), 400, "RestException")
    assert "2 executions match" in message
    answer = admin.post("/message", {"messageName": MESSAGE, "all": True, "resultEnabled": True})
    assert [r["resultType"] for r in answer.get_json()] == ["Execution", "Execution", "ProcessDefinition"]
    assert waiting_tasks(rest, first) == ["file_received"] and waiting_tasks(rest, second) == ["file_received"]
    assert instance_count(rest, "c7_document_intake") == 2
    assert admin.post("/message", {"messageName": "nobody_waits", "all": True, "resultEnabled": True}).get_json() == []
    with rest.db.read() as session:
        assert session.scalar(select(func.count(ProcessInstance.id))) == 5  # three waited, two intakes


def test_a_message_to_a_called_instance_reaches_it_alone_while_its_caller_waits_for_it_too(rest):
    """processInstanceId names the called instance: its catch event takes the message, the caller's
    catch event of the same message still waits (as in Camunda, each is an execution of its own)."""
    deploy(rest, "shared_message.bpmn")
    caller = start(rest, "c7_case_with_call", business_key="E-1")
    admin = rest.as_("admin")
    [called] = admin.get("/process-instance", superProcessInstance=caller).get_json()
    assert subscriptions(rest, caller) == ["case_documents_arrive"] and subscriptions(rest, called["id"]) == [
        "documents_arrive"]
    assert "2 executions match" in error_of(admin.post("/message", {"messageName": MESSAGE, "businessKey": "E-1"}),
                                            400, "RestException")
    assert admin.post("/message", {"messageName": MESSAGE, "processInstanceId": called["id"]}).status_code == 204
    assert waiting_tasks(rest, called["id"]) == ["file_received"] and waiting_tasks(rest, caller) == []
    assert subscriptions(rest, caller) == ["case_documents_arrive"]
    assert admin.post("/message", {"messageName": MESSAGE, "businessKey": "E-1"}).status_code == 204  # one waits now
    assert waiting_tasks(rest, caller) == ["file_for_case"]
