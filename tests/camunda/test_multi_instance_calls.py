"""A multi-instance call activity (`camunda:collection` / `elementVariable`, parallel and
sequential) of a process with timer, message and error event subprocesses and an embedded
subprocess (Camunda Modeler 5 files `site_checks.bpmn` calling `site_check.bpmn`, driven over REST
with the test clock), as Camunda 7 runs it: each call is a process instance of its own, so each
one's timer fires in it, a message correlated to one reaches it alone, an error in one is caught by
its own event subprocess and one nothing in it catches reaches the boundary event on the call
activity, which ends every call. The variables an embedded subprocess writes are its instance's
(the root's own or a called one's), and nothing waits after the calls end. Every instance's
history replays."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import services
from engine.models import MessageSubscription, Timer
from test_camunda_patterns import HERE, error_of, modeler_deploy
from test_camunda_patterns import history_proves_every_instance, rest  # noqa: F401 (fixtures)
from test_camunda_patterns import complete, deploy, fetch, start, state, tasks, variables

SEQUENTIAL = ('camunda:elementVariable="site" />', 'isSequential="true" camunda:elementVariable="site" />')


def deploy_both(rest, sequential: bool = False) -> None:
    deploy(rest, "site_check.bpmn")
    source = (HERE / "site_checks.bpmn").read_text(encoding="utf-8")
    if sequential:
        assert SEQUENTIAL[0] in source
        source = source.replace(*SEQUENTIAL)
    response = modeler_deploy(rest.as_("admin"), "site checks", ("site_checks.bpmn", source.encode()))
    assert response.status_code == 200, response.get_json()


def check_sites(rest, *sites: str, sequential: bool = False) -> str:
    deploy_both(rest, sequential)
    return start(rest, "c7_site_checks", business_key="S-1", sites=list(sites))


def calls(rest, caller: str) -> dict[str, str]:
    """site -> the called instance checking it (those running, or all with `history`)."""
    found = rest.as_("admin").get("/history/process-instance", superProcessInstanceId=caller).get_json()
    return {variables_of(rest, c["id"])["site"]: c["id"] for c in found}


def variables_of(rest, instance_id: str) -> dict:
    """The instance's variables as /variable-instance lists them (all of them: ended ones too)."""
    answer = rest.as_("admin").get("/history/variable-instance", processInstanceId=instance_id).get_json()
    return {v["name"]: v["value"] for v in answer}


def jobs(rest, instance_id: str) -> list[dict]:
    return rest.as_("admin").get("/job", processInstanceId=instance_id).get_json()


def worker_error(rest, code: str) -> str:
    """The worker measuring a site throws the BPMN error `code`; the called instance it was in."""
    [task] = fetch(rest, "measure_site")
    response = rest.as_("admin").post(f"/external-task/{task['id']}/bpmnError", {
        "workerId": "python-worker", "errorCode": code, "errorMessage": f"{code} by the worker"})
    assert response.status_code == 204, response.get_json()
    return task["processInstanceId"]


def inspect(rest, called: str, finding: str = "sound") -> None:
    complete(rest, tasks(rest, called)["inspect_site"], "office", finding=finding)


def nothing_waits(rest) -> None:
    """No job, event subscription, waiting timer row or subscription row is left anywhere."""
    admin = rest.as_("admin")
    assert admin.get("/job").get_json() == []
    assert admin.get("/event-subscription").get_json() == []
    with rest.db.read() as session:
        assert [t.element_id for t in session.scalars(select(Timer).where(Timer.state == "waiting"))] == []
        assert [s.element_id for s in session.scalars(select(MessageSubscription))] == []


def measure(rest, called: str) -> None:
    """The worker measures the one site waiting for it, in `called`."""
    [task] = fetch(rest, "measure_site")
    assert task["processInstanceId"] == called
    response = rest.as_("admin").post(f"/external-task/{task['id']}/complete", {"workerId": "python-worker"})
    assert response.status_code == 204, response.get_json()


def finish(rest, called: str) -> None:
    """Inspect, measure and sign off the site `called` checks."""
    inspect(rest, called)
    measure(rest, called)
    complete(rest, tasks(rest, called)["sign_off"], "office")
    assert state(rest, called) == "COMPLETED"


def test_what_an_embedded_subprocess_writes_shows_in_its_own_instance_called_or_not(rest):
    deploy_both(rest)
    alone = start(rest, "c7_site_check", business_key="S-0", site="west")
    inspect(rest, alone, "crack")  # the inspection (an embedded subprocess) now waits for the worker
    assert variables(rest, alone) == {"site": "west", "finding": "crack"}
    measure(rest, alone)
    caller = start(rest, "c7_site_checks", business_key="S-1", sites=["north", "south"])
    sites = calls(rest, caller)
    inspect(rest, sites["north"], "crack")
    assert variables(rest, sites["north"]) == {"site": "north", "finding": "crack"}  # as in the instance above
    assert variables(rest, sites["south"]) == {"site": "south"}
    listed = rest.as_("admin").get("/variable-instance", processInstanceIdIn=sites["north"]).get_json()
    assert {(v["name"], v["value"], v["activityInstanceId"]) for v in listed} == {
        ("site", "north", sites["north"]), ("finding", "crack", sites["north"])}
    measure(rest, sites["north"])
    assert variables(rest, sites["north"]) == {"site": "north", "finding": "crack"}
    complete(rest, tasks(rest, sites["north"])["sign_off"], "office")
    finish(rest, sites["south"])
    assert variables(rest, caller)["check_sites_results"] == '[{"finding": "crack"}, {"finding": "sound"}]' 
    complete(rest, tasks(rest, caller)["summarize"], "office")
    assert state(rest, caller) == "COMPLETED"



def test_each_parallel_call_s_timer_fires_in_its_own_instance(rest, frozen_clock):
    caller = check_sites(rest, "north", "south")
    sites = calls(rest, caller)
    assert jobs(rest, caller) == []  # the timers are the called instances' jobs, one each
    for called in sites.values():
        [job] = jobs(rest, called)
        assert job["dueDate"][:16] == "2026-03-05T09:00"
    frozen_clock.advance(timedelta(days=1))
    finish(rest, sites["south"])  # before its deadline: its timer goes with it
    assert jobs(rest, sites["south"]) == [] and len(jobs(rest, sites["north"])) == 1
    frozen_clock.advance(timedelta(days=2))
    assert services.fire_due_timers(rest.db) == 1
    assert sorted(tasks(rest, sites["north"])) == ["close_overdue"]  # the rest of north was cancelled
    assert tasks(rest, caller) == {}
    complete(rest, tasks(rest, sites["north"])["close_overdue"], "office")
    assert state(rest, sites["north"]) == "COMPLETED"
    assert sorted(tasks(rest, caller)) == ["summarize"]  # both calls ended: the caller goes on
    complete(rest, tasks(rest, caller)["summarize"], "office")
    assert state(rest, caller) == "COMPLETED"
    nothing_waits(rest)


def test_each_sequential_call_arms_its_timer_when_it_starts(rest, frozen_clock):
    caller = check_sites(rest, "north", "south", sequential=True)
    [north] = calls(rest, caller).values()  # one call at a time
    [job] = jobs(rest, north)
    assert job["dueDate"][:16] == "2026-03-05T09:00"
    frozen_clock.advance(timedelta(days=3))
    response = rest.as_("admin").post(f"/job/{job['id']}/execute")
    assert response.status_code == 204, response.get_json()
    assert sorted(tasks(rest, north)) == ["close_overdue"]
    frozen_clock.advance(timedelta(days=1))
    complete(rest, tasks(rest, north)["close_overdue"], "office")
    south = calls(rest, caller)["south"]  # started now, on day 4: due on day 7
    [job] = jobs(rest, south)
    assert job["dueDate"][:16] == "2026-03-09T09:00"
    assert sorted(tasks(rest, south)) == ["inspect_site"]
    frozen_clock.advance(timedelta(days=3))
    assert services.fire_due_timers(rest.db) == 1
    assert sorted(tasks(rest, south)) == ["close_overdue"]
    complete(rest, tasks(rest, south)["close_overdue"], "office")
    complete(rest, tasks(rest, caller)["summarize"], "office")
    assert state(rest, caller) == "COMPLETED"
    nothing_waits(rest)


def test_a_message_reaches_only_the_call_it_is_correlated_to(rest):
    caller = check_sites(rest, "north", "south", "east")
    sites = calls(rest, caller)
    admin = rest.as_("admin")
    assert len(admin.get("/event-subscription", eventName="site_update").get_json()) == 3  # one in each call
    message = error_of(admin.post("/message", {"messageName": "site_update", "businessKey": "S-1"}), 400,
                       "RestException")  # all three share the root's business key
    assert "3 executions match" in message, message
    error_of(admin.post("/message", {"messageName": "site_update", "processInstanceId": caller}), 400,
             "RestException")  # the caller itself does not wait for it
    response = admin.post("/message", {"messageName": "site_update", "businessKey": "S-1",
                                       "correlationKeys": {"site": {"value": "south"}},
                                       "processVariables": {"update": {"value": "new fence"}},
                                       "resultEnabled": True})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()[0]["execution"]["processInstanceId"] == sites["south"]
    response = admin.post("/message", {"messageName": "site_update", "processInstanceId": sites["east"]})
    assert response.status_code == 204, response.get_json()
    assert {site: sorted(tasks(rest, called)) for site, called in sites.items()} == {
        "north": ["inspect_site"], "south": ["inspect_site", "review_update"],
        "east": ["inspect_site", "review_update"]}
    assert variables(rest, sites["south"]) == {"site": "south", "update": "new fence"}  # the instance it reached
    assert "update" not in variables(rest, sites["north"])
    for site in ("south", "east"):  # non-interrupting: the call waits for it too
        complete(rest, tasks(rest, sites[site])["review_update"], "office")
    for called in sites.values():
        finish(rest, called)
    complete(rest, tasks(rest, caller)["summarize"], "office")
    assert state(rest, caller) == "COMPLETED"
    nothing_waits(rest)


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_an_error_is_caught_in_its_own_call_and_one_uncaught_there_by_the_call_activity(rest, sequential):
    caller = check_sites(rest, "north", "south", sequential=sequential)
    north = calls(rest, caller)["north"]
    inspect(rest, north, "wall down")
    assert worker_error(rest, "REJECTED") == north
    assert sorted(tasks(rest, north)) == ["record_rejection"]  # its error event subprocess
    assert variables(rest, north) == {"site": "north", "finding": "wall down", "rejection_code": "REJECTED"}
    assert jobs(rest, north) == []  # interrupting: its timer is over
    if sequential:
        assert list(calls(rest, caller)) == ["north"]
        complete(rest, tasks(rest, north)["record_rejection"], "office")
        assert state(rest, north) == "COMPLETED"
    south = calls(rest, caller)["south"]
    assert sorted(tasks(rest, south)) == ["inspect_site"] and len(jobs(rest, south)) == 1  # untouched
    inspect(rest, south, "gas leak")
    assert worker_error(rest, "UNSAFE") == south  # nothing in south catches it: the call activity's boundary event
    assert sorted(tasks(rest, caller)) == ["make_safe"]
    assert variables(rest, caller)["unsafe_code"] == "UNSAFE"
    assert state(rest, south) == "EXTERNALLY_TERMINATED"
    assert state(rest, north) == ("COMPLETED" if sequential else "EXTERNALLY_TERMINATED")  # the boundary ends it too
    assert tasks(rest, north) == {} and tasks(rest, south) == {}
    nothing_waits(rest)
    complete(rest, tasks(rest, caller)["make_safe"], "office")
    assert state(rest, caller) == "COMPLETED"


def test_deleting_the_root_ends_the_calls_waiting_in_event_subprocesses_and_all_they_wait_for(rest, frozen_clock):
    caller = check_sites(rest, "north", "south", "east")
    sites = calls(rest, caller)
    response = rest.as_("admin").post("/message", {"messageName": "site_update",
                                                   "processInstanceId": sites["north"]})
    assert response.status_code == 204, response.get_json()  # north: in its message event subprocess
    inspect(rest, sites["south"])
    assert worker_error(rest, "REJECTED") == sites["south"]  # south: in its error event subprocess
    assert sorted(tasks(rest, sites["north"])) == ["inspect_site", "review_update"]
    assert len(jobs(rest, sites["north"])) == 1 and len(jobs(rest, sites["east"])) == 1
    response = rest.as_("admin").delete(f"/process-instance/{caller}")
    assert response.status_code == 204, response.get_json()
    assert {site: state(rest, called) for site, called in sites.items()} == {
        "north": "EXTERNALLY_TERMINATED", "south": "EXTERNALLY_TERMINATED", "east": "EXTERNALLY_TERMINATED"}
    assert rest.as_("admin").get("/task").get_json() == []
    nothing_waits(rest)
    error_of(rest.as_("admin").post("/message", {"messageName": "site_update", "businessKey": "S-1"}), 400,
             "RestException")
    frozen_clock.advance(timedelta(days=4))
    assert services.fire_due_timers(rest.db) == 0


def test_a_message_whose_delivery_failed_reaches_the_same_call_when_its_incident_is_resolved(rest):
    deploy(rest, "site_check.bpmn")
    source = (HERE / "site_check.bpmn").read_text(encoding="utf-8")
    plain = '<bpmn:userTask id="review_update" name="Review the update" camunda:candidateGroups="office">'
    assert plain in source
    source = source.replace(plain, plain.replace('"office"', '"${reviewer_group}"'))
    response = modeler_deploy(rest.as_("admin"), "site check", ("site_check.bpmn", source.encode()))
    assert response.status_code == 200, response.get_json()
    response = modeler_deploy(rest.as_("admin"), "site checks",
                              ("site_checks.bpmn", (HERE / "site_checks.bpmn").read_bytes()))
    assert response.status_code == 200, response.get_json()
    caller = start(rest, "c7_site_checks", business_key="S-1", sites=["north", "south"])
    sites = calls(rest, caller)
    admin = rest.as_("admin")
    response = admin.post("/message", {"messageName": "site_update", "processInstanceId": sites["south"]})
    assert response.status_code == 204, response.get_json()
    [incident] = admin.get("/incident", processInstanceId=sites["south"]).get_json()  # the root cause, where
    assert incident["activityId"] == "review_update"  # it failed: the task of the event subprocess it started
    assert "reviewer_group" in incident["incidentMessage"]
    [cause] = admin.get("/incident", processInstanceId=caller).get_json()
    assert (cause["activityId"], cause["rootCauseIncidentId"]) == ("check_sites", incident["id"])
    assert sorted(tasks(rest, sites["south"])) == ["inspect_site"]  # nothing of the message yet
    response = admin.post(f"/process-instance/{caller}/variables",
                          {"modifications": {"reviewer_group": {"value": "office"}}})
    assert response.status_code == 204, response.get_json()
    assert admin.delete(f"/incident/{incident['id']}").status_code == 204
    assert {site: sorted(tasks(rest, called)) for site, called in sites.items()} == {
        "north": ["inspect_site"], "south": ["inspect_site", "review_update"]}
    assert admin.get("/incident").get_json() == []
    complete(rest, tasks(rest, sites["south"])["review_update"], "office")
    for called in sites.values():
        finish(rest, called)
    complete(rest, tasks(rest, caller)["summarize"], "office")
    assert state(rest, caller) == "COMPLETED"
