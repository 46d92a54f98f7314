"""Camunda 7 features as its documentation shows them, in diagrams written blind (as Camunda
Modeler 5 saves them) by someone who knows Camunda and not dalad, deployed with the Modeler's
`deployment/create` and driven through `/engine-rest` only. Each test asserts what Camunda 7 does
(path taken, tasks, variables, history), or, for what the engine does not run, that the deploy is
refused naming file, element and why. Every instance's history then replays (the fixture from
test_camunda_patterns)."""
from __future__ import annotations

from datetime import timedelta

from test_camunda_patterns import (HERE, complete, deploy, fire_timers, history_proves_every_instance,  # noqa: F401
                                   start, state, tasks, variables, warnings_of)
from test_rest_helpers import modeler_deploy, rest  # noqa: F401


def refusals(rest, name: str, content: bytes | None = None) -> list[tuple[str, int, str]]:
    """Deploy `name` as the Modeler does, expecting Camunda's ParseException: its errors as
    (element id, line, message)."""
    response = modeler_deploy(rest.as_("admin"), name, (name, content or (HERE / name).read_bytes()))
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["type"] == "ParseException"
    return [(e["mainElementId"], e["line"], e["message"]) for e in body["details"][name]["errors"]]


def activities(rest, instance_id: str) -> list[tuple[str, bool]]:
    """The history's activity instances: (activity id, canceled), in start order."""
    found = rest.as_("admin").get("/history/activity-instance", processInstanceId=instance_id,
                                  sortBy="startTime", sortOrder="asc").get_json()
    return [(a["activityId"], a["canceled"]) for a in found]


def history_variables(rest, instance_id: str) -> dict:
    found = rest.as_("admin").get("/history/variable-instance", processInstanceId=instance_id).get_json()
    return {v["name"]: v["value"] for v in found}


def all_tasks(rest, instance_id: str) -> list[dict]:
    return rest.as_("admin").get("/task", processInstanceId=instance_id).get_json()


# --------------------------------------------------------------------------- gateways and events

def test_inclusive_gateway_joins_only_the_branches_its_split_took(rest):
    [definition] = deploy(rest, "inclusive_join.bpmn")["deployedProcessDefinitions"].values()
    assert (definition["historyTimeToLive"], definition["startableInTasklist"]) == (180, True)
    one = start(rest, "c7_inclusive_join", amount=500, urgent=False)
    assert set(tasks(rest, one)) == {"check_finance"}  # the default flow only when no condition holds
    complete(rest, tasks(rest, one)["check_finance"], "admin")
    assert set(tasks(rest, one)) == {"archive"}  # the join does not wait for branches never started

    default = start(rest, "c7_inclusive_join", amount=50, urgent=False)
    assert set(tasks(rest, default)) == {"log_order"}

    both = start(rest, "c7_inclusive_join", amount=500, urgent=True)
    opened = tasks(rest, both)
    assert set(opened) == {"check_finance", "notify_boss"}
    complete(rest, opened["check_finance"], "admin")
    assert set(tasks(rest, both)) == {"notify_boss"}  # waits for the other branch it took
    complete(rest, opened["notify_boss"], "admin")
    assert set(tasks(rest, both)) == {"archive"}
    complete(rest, tasks(rest, both)["archive"], "admin")
    assert state(rest, both) == "COMPLETED"
    assert [a for a, _ in activities(rest, both) if a in ("check_finance", "notify_boss", "archive")] == \
        ["check_finance", "notify_boss", "archive"]


def test_a_link_throw_event_goes_on_at_its_catch_event(rest):
    deploy(rest, "link_events.bpmn")
    instance = start(rest, "c7_link_events")
    complete(rest, tasks(rest, instance)["first_part"], "admin")
    assert set(tasks(rest, instance)) == {"second_part"}
    complete(rest, tasks(rest, instance)["second_part"], "admin")
    assert state(rest, instance) == "COMPLETED"
    ids = [a for a, _ in activities(rest, instance)]
    assert ids.index("first_part") < ids.index("second_part")


def test_a_link_without_its_catch_event_is_refused_naming_it(rest):
    content = (HERE / "link_events.bpmn").read_bytes().replace(
        b'<bpmn:linkEventDefinition id="LinkEventDefinition_2" name="page2"/>',
        b'<bpmn:linkEventDefinition id="LinkEventDefinition_2" name="page3"/>')
    assert refusals(rest, "link_events.bpmn", content) == [
        ("Link_throw", 13, "no link catch event named 'page2' in 'c7_link_events' (a link goes on only in its own "
                           "process or subprocess)")]


def test_conditional_events_fire_when_the_variables_they_watch_change(rest):
    deploy(rest, "conditional_events.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "c7_conditional_events", cost=10, materialsReady=False)
    assert set(tasks(rest, instance)) == {"plan_work"}
    # non-interrupting boundary event on plan_work, camunda:variableName="cost": ${cost > 1000}
    assert admin.put(f"/process-instance/{instance}/variables/cost", {"value": 5000, "type": "Long"}).status_code == 204
    assert sorted(t["taskDefinitionKey"] for t in all_tasks(rest, instance)) == ["plan_work", "review_budget"]
    assert variables(rest, instance)["cost"] == 5000
    assert admin.put(f"/process-instance/{instance}/variables/other", {"value": 1}).status_code == 204
    assert len(all_tasks(rest, instance)) == 2  # it watches cost alone
    assert admin.put(f"/process-instance/{instance}/variables/cost", {"value": 7000, "type": "Long"}).status_code == 204
    assert sorted(t["taskDefinitionKey"] for t in all_tasks(rest, instance)) == \
        ["plan_work", "review_budget", "review_budget"]  # each change that holds fires it again
    assert admin.put(f"/process-instance/{instance}/variables/cost", {"value": 20, "type": "Long"}).status_code == 204
    assert len(all_tasks(rest, instance)) == 3

    complete(rest, tasks(rest, instance)["plan_work"], "admin")
    # the intermediate conditional event waits for ${materialsReady}
    assert sorted(t["taskDefinitionKey"] for t in all_tasks(rest, instance)) == ["review_budget", "review_budget"]
    response = admin.post(f"/process-instance/{instance}/variables",
                          {"modifications": {"materialsReady": {"value": True}}})
    assert response.status_code == 204
    assert sorted(t["taskDefinitionKey"] for t in all_tasks(rest, instance)) == \
        ["do_work", "review_budget", "review_budget"]
    for task in all_tasks(rest, instance):
        complete(rest, task, "admin")
    assert state(rest, instance) == "COMPLETED"


def test_a_conditional_boundary_event_whose_condition_holds_fires_as_its_activity_starts(rest):
    deploy(rest, "conditional_events.bpmn")
    instance = start(rest, "c7_conditional_events", cost=5000, materialsReady=True)
    assert sorted(t["taskDefinitionKey"] for t in all_tasks(rest, instance)) == ["plan_work", "review_budget"]
    complete(rest, tasks(rest, instance)["plan_work"], "admin")
    # materialsReady already holds: the intermediate event passes at once
    assert sorted(t["taskDefinitionKey"] for t in all_tasks(rest, instance)) == ["do_work", "review_budget"]


def test_a_conditional_event_subprocess_is_refused_naming_it(rest):
    content = (HERE / "conditional_events.bpmn").read_bytes().replace(b"  </bpmn:process>", b"""\
    <bpmn:subProcess id="Sub_cancelled" triggeredByEvent="true">
      <bpmn:startEvent id="Start_cancelled">
        <bpmn:conditionalEventDefinition id="ConditionalEventDefinition_3" camunda:variableName="cancelled">
          <bpmn:condition xsi:type="bpmn:tFormalExpression">${cancelled}</bpmn:condition>
        </bpmn:conditionalEventDefinition>
      </bpmn:startEvent>
    </bpmn:subProcess>
  </bpmn:process>""")
    [(element, _line, message)] = refusals(rest, "conditional_events.bpmn", content)
    assert (element, message) == ("Sub_cancelled", "an event subprocess must start on a message, a signal, a timer, "
                                                   "an error or an escalation (here: conditional)")


def test_timer_cycle_fires_three_times_and_a_cron_timer_waits_for_the_next_working_day(rest, frozen_clock):
    deploy(rest, "timer_reminders.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "c7_timer_reminders", reminders=0)  # 2026-03-02 (a Monday) 09:00
    dues = []
    for _hour in range(4):
        dues.append([j["dueDate"] for j in admin.get("/job", processInstanceId=instance).get_json()])
        fire_timers(rest, timedelta(hours=1), frozen_clock)
    assert dues == [["2026-03-02T10:00:00.000+0800"], ["2026-03-02T11:00:00.000+0800"],
                    ["2026-03-02T12:00:00.000+0800"], []]  # R3/PT1H: three times, then no job
    assert [a for a, _ in activities(rest, instance)].count("Event_hourly") == 3
    assert set(tasks(rest, instance)) == {"answer"}  # non-interrupting
    complete(rest, tasks(rest, instance)["answer"], "admin")
    [job] = admin.get("/job", processInstanceId=instance).get_json()
    assert job["dueDate"] == "2026-03-03T09:00:00.000+0800"  # 0 0 9 ? * MON-FRI after 13:00 on Monday
    assert admin.post(f"/job/{job['id']}/execute", {}).status_code == 204
    assert state(rest, instance) == "COMPLETED"


def test_escalation_in_a_subprocess_reaches_its_boundary_event_and_a_signal_end_event_broadcasts(rest):
    deploy(rest, "signal_escalation.bpmn")
    deploy(rest, "signal_listener.bpmn")
    waiting = start(rest, "c7_signal_listener")
    instance = start(rest, "c7_signal_escalation")
    complete(rest, tasks(rest, instance)["assess"], "admin", severity="high")
    assert set(tasks(rest, instance)) == {"fix", "inform_manager"}  # non-interrupting: the subprocess goes on
    assert variables(rest, instance)["escalationCode"] == "SEVERE"  # camunda:escalationCodeVariable
    assert tasks(rest, waiting) == {}
    complete(rest, tasks(rest, instance)["fix"], "admin")
    assert set(tasks(rest, waiting)) == {"reopen"}  # the signal end event "All clear"
    assert set(tasks(rest, instance)) == {"inform_manager"}
    complete(rest, tasks(rest, instance)["inform_manager"], "admin")
    assert state(rest, instance) == "COMPLETED"

    minor = start(rest, "c7_signal_escalation")
    complete(rest, tasks(rest, minor)["assess"], "admin", severity="low")
    assert set(tasks(rest, minor)) == {"fix"}
    assert "escalationCode" not in variables(rest, minor)


def test_a_terminate_end_event_inside_a_subprocess_ends_only_the_subprocess(rest):
    deploy(rest, "terminate_subprocess.bpmn")
    instance = start(rest, "c7_terminate_sub")
    assert set(tasks(rest, instance)) == {"quote_a", "quote_b"}
    complete(rest, tasks(rest, instance)["quote_b"], "admin")
    assert set(tasks(rest, instance)) == {"order"}  # quote_a cancelled, the process goes on
    assert ("quote_a", True) in activities(rest, instance)
    complete(rest, tasks(rest, instance)["order"], "admin")
    assert state(rest, instance) == "COMPLETED"


# --------------------------------------------------------------------------- tasks and data

def test_multi_instance_user_task_with_a_completion_condition_and_input_output_mappings(rest):
    assert warnings_of(deploy(rest, "mi_review.bpmn")) == {}
    instance = start(rest, "c7_mi_review", topic="budget")
    # "Prepare" is a plain bpmn:task: it passes at once, its output parameters set the variables
    reviews = all_tasks(rest, instance)
    assert sorted((t["name"], t["assignee"]) for t in reviews) == [
        ("Review by anna", "anna"), ("Review by bert", "bert"), ("Review by carl", "carl")]
    values = variables(rest, instance)
    assert values["doubleLimit"] == 1000  # FEEL on the input parameter "500"
    assert "limit" not in values  # an input parameter is local to its activity
    complete(rest, reviews[0], "admin")
    complete(rest, reviews[1], "admin")
    # ${nrOfCompletedInstances >= 2}: the third review is cancelled
    assert set(tasks(rest, instance)) == {"summarize"}
    values = variables(rest, instance)
    assert values["summaryFor"] == "budget" and values["summary_started"] is True  # the listeners
    assert "summarized" not in values
    complete(rest, tasks(rest, instance)["summarize"], "admin")
    assert state(rest, instance) == "COMPLETED"
    assert history_variables(rest, instance)["summarized"] is True
    reviewed = [canceled for activity, canceled in activities(rest, instance) if activity == "review"]
    assert sorted(reviewed) == [False, False, True]


def test_a_python_listener_on_a_multi_instance_task_is_refused_saying_why(rest):
    content = (HERE / "mi_review.bpmn").read_bytes().replace(b"""      <bpmn:incoming>Flow_2</bpmn:incoming>""", b"""\
      <bpmn:extensionElements>
        <camunda:taskListener event="create">
          <camunda:script scriptFormat="python">task.setVariable("lastCreatedFor", reviewer)</camunda:script>
        </camunda:taskListener>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_2</bpmn:incoming>""")
    [(element, _line, message)] = refusals(rest, "mi_review.bpmn", content)
    assert element == "review"
    assert message == ("the Python create task listener cannot run on a multi-instance activity: Camunda runs it "
                       "for each instance (with its element variable), the engine would run it once around all of "
                       "them; put the work in a listener of an activity before or after it")


def test_collect_sum_decision_and_collect_entries_decide_the_path(rest):
    deploy(rest, "fees.bpmn", "fees.dmn")
    large = start(rest, "c7_fees", service="insurance", express=True, amount=5000)
    values = variables(rest, large)
    assert values["fee"] == 42  # COLLECT SUM of 10, 25 and 7, mapDecisionResult singleEntry
    assert values["checkList"] in (["finance", "board", "clerk"], '["finance", "board", "clerk"]')  # collectEntries
    assert set(tasks(rest, large)) == {"board_review"}
    small = start(rest, "c7_fees", service="other", express=False, amount=5)
    assert variables(rest, small)["fee"] is None  # no rule matched: no sum
    [pay] = all_tasks(rest, small)
    assert pay["name"] == "Pay "


def test_async_continuations_are_jobs_and_generated_forms_check_their_constraints(rest):
    deploy(rest, "async_form.bpmn")
    admin = rest.as_("admin")
    form = admin.get("/process-definition/key/c7_async_form/form-variables").get_json()
    assert form["days"]["value"] == 1
    response = admin.post("/process-definition/key/c7_async_form/submit-form",
                          {"variables": {"employee": {"value": "X"}, "days": {"value": 40}}})
    assert response.status_code == 400
    assert "'employee'" in response.get_json()["message"] and "'days'" in response.get_json()["message"]
    response = admin.post("/process-definition/key/c7_async_form/submit-form",
                          {"businessKey": "LEAVE-1", "variables": {"employee": {"value": "Xu Li"}, "days": {"value": 4}}})
    assert response.status_code == 200, response.get_json()
    instance = response.get_json()["id"]
    assert response.get_json()["businessKey"] == "LEAVE-1"
    for _async in ("asyncAfter of the start event", "asyncBefore of check_balance"):
        assert tasks(rest, instance) == {}
        [job] = admin.get("/job", processInstanceId=instance).get_json()
        assert admin.post(f"/job/{job['id']}/execute", {}).status_code == 204
    [approve] = all_tasks(rest, instance)
    assert approve["name"] == "Approve Xu Li"
    assert variables(rest, instance)["enough"] is True
    too_long = admin.post(f"/task/{approve['id']}/submit-form",
                          {"variables": {"approved": {"value": True}, "comment": {"value": "far too long comment"}}})
    assert too_long.status_code == 400 and "'comment'" in too_long.get_json()["message"]
    readonly = admin.post(f"/task/{approve['id']}/submit-form",
                          {"variables": {"approved": {"value": True}, "employee": {"value": "someone else"}}})
    assert readonly.status_code == 400 and "'employee'" in readonly.get_json()["message"]
    assert admin.post(f"/task/{approve['id']}/submit-form",
                      {"variables": {"approved": {"value": True}}}).status_code == 204
    assert state(rest, instance) == "COMPLETED"
    assert history_variables(rest, instance)["employee"] == "Xu Li"


def test_call_activity_passes_all_variables_and_the_business_key(rest):
    deploy(rest, "call_parent.bpmn", "call_child.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "c7_call_parent", business_key="ORD-7", orderNo="7")
    [called] = admin.get("/process-instance", superProcessInstance=instance).get_json()
    assert called["businessKey"] == "ORD-7"  # <camunda:in businessKey="#{execution.processBusinessKey}"/>
    [pack] = all_tasks(rest, called["id"])
    assert pack["name"] == "Pack 7"  # <camunda:in variables="all"/>
    complete(rest, pack, "admin", trackingNo="TR1")
    [invoice] = all_tasks(rest, instance)
    assert invoice["name"] == "Invoice TR1"  # <camunda:out variables="all"/>
    assert variables(rest, instance) == {"orderNo": "7", "trackingNo": "TR1"}


# --------------------------------------------------------------------------- refused with a reason

def test_compensation_is_refused_naming_each_element_and_why(rest):
    why = ("compensation is not supported: the engine keeps no record of completed activities to undo; model the "
           "undo as an error end event caught by an error boundary event (or event subprocess) whose path does it")
    assert {(element, message) for element, _line, message in refusals(rest, "compensation.bpmn")} == {
        ("Event_compensate_hotel", why), ("cancel_hotel", why), ("EndEvent_undo", why)}


def test_a_transaction_subprocess_is_refused_saying_what_to_use_instead(rest):
    found = {(element, message) for element, _line, message in refusals(rest, "transaction.bpmn")}
    assert ("pay_tx", "transaction subprocesses are not supported (their cancel events need compensation, which the "
                      "engine does not run): use an embedded subprocess with an error end event and an error "
                      "boundary event") in found
    cancel = ("cancel events are not supported: they end a transaction subprocess, which is not supported; use an "
              "error end event and an error boundary event")
    assert ("End_cancel", cancel) in found and ("Event_cancelled", cancel) in found


def test_a_conditional_start_event_of_a_process_and_unknown_variable_events_are_refused(rest):
    content = (HERE / "conditional_events.bpmn").read_bytes().replace(b"""\
    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>""", b"""\
    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
      <bpmn:conditionalEventDefinition id="ConditionalEventDefinition_0">
        <bpmn:condition xsi:type="bpmn:tFormalExpression">${cost &gt; 0}</bpmn:condition>
      </bpmn:conditionalEventDefinition>""").replace(b'camunda:variableEvents="create, update"',
                                                     b'camunda:variableEvents="create, change"')
    assert {(element, message) for element, _line, message in refusals(rest, "conditional_events.bpmn", content)} == {
        ("StartEvent_1", "a conditional start event of a process is not supported (Camunda starts it through POST "
                         "/condition, which the engine does not offer): start with a none or message start event and "
                         "wait with an intermediate conditional event"),
        ("Event_over_budget", "camunda:variableEvents 'change': expected create, update or delete")}


def test_an_escalation_event_subprocess_start_sets_its_escalation_code_variable(rest):
    source = (HERE / "escalation_event_subprocess.bpmn").read_bytes()
    old = b'id="EscalationEventDefinition_start" escalationRef="Escalation_over_budget" />'
    assert old in source
    response = modeler_deploy(rest.as_("admin"), "escalation_event_subprocess.bpmn", (
        "escalation_event_subprocess.bpmn", source.replace(old, old[:-3] + b' camunda:escalationCodeVariable="code" />')))
    assert response.status_code == 200, response.get_json()
    instance = start(rest, "c7_escalation_event_subprocess")
    complete(rest, tasks(rest, instance)["prepare_budget"], "office", amount=1200)
    assert variables(rest, instance)["code"] == "OVER_BUDGET"


def test_a_conditional_event_after_an_event_based_gateway_wins_when_its_variable_changes(rest, frozen_clock):
    source = (HERE / "event_gateway.bpmn").read_bytes()
    old = b'<bpmn:signalEventDefinition id="SignalEventDefinition_1" signalRef="Signal_freeze"/>'
    assert old in source
    content = source.replace(old, b'<bpmn:conditionalEventDefinition id="ConditionalEventDefinition_1" '
                                  b'camunda:variableName="frozen"><bpmn:condition xsi:type="bpmn:tFormalExpression">'
                                  b'${frozen}</bpmn:condition></bpmn:conditionalEventDefinition>')
    response = modeler_deploy(rest.as_("admin"), "event_gateway.bpmn", ("event_gateway.bpmn", content))
    assert response.status_code == 200, response.get_json()
    admin = rest.as_("admin")
    instance = start(rest, "c7_event_gateway", business_key="ORDER-1", frozen=False)
    assert tasks(rest, instance) == {}
    assert admin.put(f"/process-instance/{instance}/variables/other", {"value": True}).status_code == 204
    assert tasks(rest, instance) == {}
    assert admin.put(f"/process-instance/{instance}/variables/frozen", {"value": True}).status_code == 204
    assert set(tasks(rest, instance)) == {"hold"}
    assert admin.get("/job", processInstanceId=instance).get_json() == []  # the week's timer is gone
    response = admin.post("/message", {"messageName": "payment_received", "businessKey": "ORDER-1"})
    assert response.status_code == 400  # nothing waits for the payment any more

    at_once = start(rest, "c7_event_gateway", business_key="ORDER-2", frozen=True)
    assert set(tasks(rest, at_once)) == {"hold"}  # it holds when the gateway is reached
