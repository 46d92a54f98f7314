"""camunda-client (PyPI; a typed async client for Camunda 7 whose pydantic models read ids as UUIDs)
against a real `dalad serve`: every method of its engine and external-task clients that maps to a
call dalad offers. (README, "REST": the methods it does not offer, and why.)"""
from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

import httpx
import pytest
import requests
from camunda_client import CamundaEngineClient, ExternalTaskClient, ExternalTaskConfig, VariableValueSchema
from camunda_client.clients.dto import AuthData
from camunda_client.clients.engine.dto import GetTaskVariableDTO, UpdateTaskVariableDTO
from camunda_client.clients.engine.schemas import (GetHistoryTasksFilterSchema, GetTasksFilterSchema,
                                                   ProcessInstanceQuerySchema, SendCorrelationMessageSchema)
from camunda_client.clients.engine.schemas.body import (HistoricProcessInstanceFilterSchema,
                                                        HistoryVariableInstanceFilterSchema,
                                                        UpdateProcessVariablesSchema, VariableInstanceFilterSchema)
from camunda_client.clients.engine.schemas.query import (HistoryVariableInstanceFilterParamsSchema,
                                                         VariableInstanceFilterParamsSchema)
from camunda_client.exceptions import CamundaClientError

from dalad_server import CLERK, PASSWORD, server  # noqa: F401


_transports: list[httpx.AsyncHTTPTransport] = []  # of the clients a scenario made: closed at its end


def _transport() -> httpx.AsyncHTTPTransport:
    _transports.append(httpx.AsyncHTTPTransport())
    return _transports[-1]


def run(scenario) -> None:
    """Run an async scenario, then close its clients' kept-alive connections (the clients do not)."""
    async def closing():
        try:
            await scenario()
        finally:
            while _transports:
                await _transports.pop().aclose()
    asyncio.run(closing())


def engine(server, user: str = "admin") -> CamundaEngineClient:
    return CamundaEngineClient(base_url=server.url, auth_data=AuthData(user, PASSWORD), transport=_transport())


def worker(server, worker_id: str = "py-worker") -> ExternalTaskClient:
    config = ExternalTaskConfig(lock_duration=timedelta(minutes=5), retry_timeout=timedelta(0))
    return ExternalTaskClient(worker_id=worker_id, base_url=server.url, auth_data=AuthData("worker", PASSWORD),
                              transport=_transport(), config=config)


def typed(value, type_: str) -> VariableValueSchema:
    return VariableValueSchema(value=value, type=type_)


async def _review(server, instance_id: UUID) -> None:
    """The office approves the order's review; the order goes on to the external task."""
    office = engine(server, "office")
    [task] = await office.get_tasks(GetTasksFilterSchema(process_instance_id=instance_id))
    await office.submit_task_form(task.id, {"approved": typed(True, "Boolean")})


def test_an_order_from_start_to_end_through_the_engine_and_external_task_clients(server):
    async def scenario():
        admin, office, clerk = engine(server), engine(server, "office"), engine(server, CLERK)
        started = await office.start_process("client_order", business_key="CC-1", variables={
            "amount": typed(1200, "Long")})
        assert isinstance(started.id, UUID) and started.business_key == "CC-1"
        assert [i.id for i in await admin.get_process_instances(ProcessInstanceQuerySchema(
            business_key="CC-1", process_definition_key="client_order"))] == [started.id]

        # tasks: the POST query, its count, one task, its identity links
        [task] = await office.get_tasks(GetTasksFilterSchema(process_instance_id=started.id))
        assert (task.task_definition_key, task.process_instance_id, task.execution_id) == (
            "review", started.id, started.id)
        assert (await office.get_tasks_count(GetTasksFilterSchema(candidate_group="office",
                                                                  process_instance_id=started.id))).count == 1
        assert (await office.get_task(task.id)).name == "Review order"
        assert await office.get_task(uuid4()) is None
        links = await office.get_identity_links(task.id)
        assert [(link.group_id, link.type) for link in links] == [("office", "candidate")]

        # claim, unclaim, hand it over: the clerk's id is a UUID, as the client expects
        await clerk.claim_task(task.id, UUID(CLERK))
        assert {(link.user_id, link.type) for link in await office.get_identity_links(task.id)} >= {
            (UUID(CLERK), "assignee")}
        await clerk.unclaim_task(task.id)
        assert (await office.get_task(task.id)).assignee is None
        await admin.set_assignee_task(task.id, UUID(CLERK))
        assert (await office.get_task(task.id)).assignee == CLERK

        # variables through the task and the instance; a Long stays a Long
        amount = await clerk.get_task_variable(GetTaskVariableDTO(task_id=task.id, variable_name="amount"))
        assert (amount.type, amount.value) == ("Long", 1200)
        assert (await clerk.get_typed_task_variable(GetTaskVariableDTO(task.id, "amount"), int)).value == 1200
        assert await clerk.get_task_variable(GetTaskVariableDTO(task.id, "amount", is_local_variable=True)) is None
        await clerk.update_task_variable(UpdateTaskVariableDTO(task_id=task.id, variable_name="approved",
                                                               variable=typed(False, "Boolean")))
        await admin.update_variable_instances(process_instance_id=started.id, schema=UpdateProcessVariablesSchema(
            modifications={"due": typed("2026-12-24T00:00:00.000+0800", "Date"),
                           "meta": typed('{"channel": "web"}', "Json")}))
        runtime = await admin.get_variable_instances(VariableInstanceFilterParamsSchema(
            process_instance_id_in=[started.id], deserialize_values=False))
        by_name = {v.name: v for v in runtime}
        assert {"amount", "meta", "approved", "due"} <= set(by_name)
        assert (by_name["amount"].type, by_name["meta"].type, by_name["due"].type) == ("Long", "Json", "Date")
        assert by_name["meta"].value == '{"channel": "web"}' and by_name["approved"].process_instance_id == started.id
        posted = await admin.get_variable_instances_post(VariableInstanceFilterSchema(
            process_instance_id_in=[started.id]), variable_name_in=["approved", "amount"])
        assert sorted(v.name for v in posted) == ["amount", "approved"]

        await clerk.submit_task_form(task.id, {"approved": typed(True, "Boolean")})
        [done] = await admin.get_history_tasks(GetHistoryTasksFilterSchema(process_instance_id=started.id))
        assert (done.id, done.assignee, done.delete_reason) == (task.id, CLERK, "completed")
        assert done.end_time is not None

        # the external task: fetch, look at it, extend, unlock, fail once with retries, complete
        charger = worker(server)
        [locked] = await charger.fetch_and_lock(["charge"], business_key="CC-1")
        assert (locked.topic_name, locked.process_instance_id, locked.parsed_variables["amount"]) == (
            "charge", str(started.id), 1200)
        seen = await admin.get_external_task(locked.id)
        assert (seen.worker_id, seen.activity_id) == ("py-worker", "charge")
        await charger.extend_lock(locked.id, new_duration=600000)
        assert (await admin.get_external_task(locked.id)).lock_expiration_time > seen.lock_expiration_time
        await charger.unlock(locked.id)
        [again] = await charger.fetch_and_lock(["charge"], business_key="CC-1")
        assert again.id == locked.id
        await charger.failure(again.id, error_message="gateway timeout", retries=2, error_details="trace…")
        assert await admin.get_external_task_error_details(again.id) == "trace…"
        [third] = await charger.fetch_and_lock(["charge"], business_key="CC-1")
        assert third.retries == 2
        await charger.complete(third.id, global_variables={"receipt": typed("R-1", "String")})
        assert await admin.get_external_task(third.id) is None

        # the message; then the order waits an hour on its timer (a job that is not due yet)
        result = await admin.send_correlation_message(SendCorrelationMessageSchema(
            message_name="shipped", process_instance_id=started.id, result_enabled=True,
            process_variables={"carrier": typed("EMS", "String")}))
        assert result[0]["resultType"] == "Execution"
        [job] = server.get("/job", processInstanceId=str(started.id))
        assert (job["failedActivityId"], job["retries"], job["processInstanceId"]) == (None, 1, str(started.id))
        tree = server.get(f"/process-instance/{started.id}/activity-instances")
        assert [a["activityId"] for a in tree["childActivityInstances"]] == ["cool_off"]
        history = await admin.get_history_process_instance(started.id)
        assert history.state.value == "ACTIVE" and history.start_user_id == "office"
        listed = await admin.get_history_process_instances(HistoricProcessInstanceFilterSchema(
            process_instance_business_key="CC-1", unfinished=True))
        assert [h.id for h in listed] == [started.id]
        response = requests.post(f"{server.url}/job/{job['id']}/execute", auth=server.auth(), timeout=30)
        assert response.status_code == 204, response.text  # as in Camunda, the timer fires now, due or not
        assert (await admin.get_history_process_instance(started.id)).state.value == "COMPLETED"
        final = await admin.get_history_variable_instances(HistoryVariableInstanceFilterParamsSchema(
            process_instance_id=started.id, variable_name="carrier"))
        assert [(v.name, v.value) for v in final] == [("carrier", "EMS")]
        finals = await admin.get_history_variable_instances_post(HistoryVariableInstanceFilterSchema(
            process_instance_id_in=[started.id], variable_name_in=["receipt", "amount"]))
        assert sorted((v.name, v.type) for v in finals) == [("amount", "Long"), ("receipt", "String")]
    run(scenario)


def test_a_failing_worker_opens_an_incident_and_a_bpmn_error_takes_the_error_path(server):
    async def scenario():
        admin = engine(server)
        other = await engine(server, "office").start_process("client_order", business_key="CC-3")
        await _review(server, other.id)
        started = await engine(server, "office").start_process("client_order", business_key="CC-2")
        await _review(server, started.id)
        charger = worker(server, "py-worker-2")
        [locked] = await charger.fetch_and_lock(["charge"], business_key="CC-2")  # not CC-3's, older
        assert locked.business_key == "CC-2"
        await charger.failure(locked.id, error_message="card service down", retries=0)
        incidents = [i for i in await admin.get_incidents("failedExternalTask") if i.process_instance_id == started.id]
        assert [(i.activity_id, i.configuration) for i in incidents] == [("charge", locked.id)]
        assert "card service down" in incidents[0].incident_message
        assert await charger.fetch_and_lock(["charge"], business_key="CC-2") == []  # no retries left

        response = requests.put(f"{server.url}/external-task/{locked.id}/retries", json={"retries": 1},
                                auth=server.auth(), timeout=30)
        assert response.status_code == 204, response.text
        assert [i for i in await admin.get_incidents() if i.process_instance_id == started.id] == []
        [again] = await charger.fetch_and_lock(["charge"], business_key="CC-2")
        await charger.bpmn_error(again.id, "CARD_DECLINED", "declined by the bank",
                                 variables={"bank": typed("ICBC", "String")})
        [fix] = await admin.get_tasks(GetTasksFilterSchema(process_instance_id=started.id))
        assert fix.task_definition_key == "fix_payment"
        error_code = await admin.get_task_variable(GetTaskVariableDTO(fix.id, "error_code"))
        assert error_code.value == "CARD_DECLINED"

        await admin.delete_process(str(started.id))
        assert (await admin.get_history_process_instance(started.id)).state.value == "EXTERNALLY_TERMINATED"
        with pytest.raises(CamundaClientError):
            await admin.delete_process(str(started.id))
    run(scenario)
