"""Camunda's job calls an administrator's scripts and Cockpit-like tools make (web/rest_admin.py):
a timer's due date set (PUT /job/{id}/duedate, with `cascade`), a failed job's error
(/stacktrace), the POST query variants, and the job calls that have nothing to act on here,
refused by name. A due date set is recorded, replayed and proved by `dalad history verify`, and
the scheduler of any server process fires the timer at its new time."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import clock, instances, services
from engine.cli import main
from engine.database import Database
from engine.models import ProcessInstance
from engine.replay import verify
from conftest import TEST_KEY
from test_rest_helpers import (PASSWORD, deployed, error_of, modeler_deploy, project_at_the_office,  # noqa: F401
                               rest, start)
from test_ui_fixtures import login, text_of

CLIENT_ORDER = Path(__file__).parent.parent / "clients" / "client_order.bpmn"
LOCAL = clock.local_zone()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL)


def camunda(moment: datetime) -> str:
    """Camunda's date form: 2026-03-02T09:00:00.000+0800."""
    return moment.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M:%S.000%z")


def jobs_of(api, instance: dict) -> list[dict]:
    return api.get("/job", processInstanceId=instance["id"]).get_json()


def tasks_of(api, instance: dict) -> list[str]:
    return sorted(t["taskDefinitionKey"] for t in api.get("/task", processInstanceId=instance["id"]).get_json())


def fire_at(rest, moment: datetime, db=None) -> int:
    """Move the engine clock to `moment` and let a scheduler run once (by default this server's)."""
    clock.set_time(moment)
    return services.fire_due_timers(db or rest.db)


def proved(rest, instance: dict) -> None:
    with rest.db.read() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.rest_id == instance["id"])).one()
        chain, replay = verify(session, row.id)
        assert chain.ok and replay.ok, (chain, replay)


@pytest.fixture
def dalad(rest, monkeypatch, tmp_path, capsys):
    """`dalad …` on the test database: (exit status, output)."""
    monkeypatch.setenv("DALAD_DATABASE_URL", rest.db.url)
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DALAD_SECRET_KEY", "test-secret-key")

    def run(*args):
        capsys.readouterr()
        status = main(list(args))
        return status, capsys.readouterr().out
    return run


# --- a timer of the 办法 moved -----------------------------------------------------------------------

def test_a_rectification_orders_overdue_timer_moved_earlier_fires_then_and_the_history_proves_it(rest, dalad):
    """bpmn/supervision.bpmn: the order's deadline timer (the day after 2026-06-30) set to 10 March
    fires then, not before; the office decides the penalty; the move is in the user operation log,
    the instance replays and `dalad history verify --all` passes."""
    admin = rest.as_("admin")
    project_at_the_office(rest, "P-2026-001")
    order = start(rest, "supervision", user="drc", business_key="P-2026-001", project_id="P-2026-001",
                  project_name="智慧教育平台", unit="edu", issuer="drc", problem="未按批复使用政务云",
                  article="第十四条", rectification_deadline="2026-06-30")
    [job] = jobs_of(admin, order)
    assert job["dueDate"] == "2026-07-01T00:00:00.000+0800"
    moved = local("2026-03-10T09:00:00")
    assert admin.put(f"/job/{job['id']}/duedate", {"duedate": camunda(moved)}).status_code == 204
    assert admin.get(f"/job/{job['id']}").get_json()["dueDate"] == "2026-03-10T09:00:00.000+0800"
    assert fire_at(rest, moved - timedelta(minutes=1)) == 0
    assert tasks_of(admin, order) == ["rectify_and_report"]
    assert fire_at(rest, moved) == 1
    assert tasks_of(admin, order) == ["decide_penalty"] and jobs_of(admin, order) == []
    [entry] = admin.get("/history/user-operation", operationType="SetDueDate").get_json()
    assert (entry["userId"], entry["entityType"], entry["jobId"], entry["processInstanceId"], entry["property"],
            entry["orgValue"], entry["newValue"]) == (
        "admin", "Job", job["id"], order["id"], "duedate", str(int(local("2026-07-01T00:00:00").timestamp() * 1000)),
        str(int(moved.timestamp() * 1000)))
    proved(rest, order)
    status, out = dalad("history", "verify", "--all")
    assert status == 0, out
    assert "timer occurrences: OK" in out
    auditor = rest.app.test_client()
    assert login(auditor, "auditor", PASSWORD).status_code == 302
    with rest.db.read() as session:
        row_id = session.scalar(select(ProcessInstance.id).where(ProcessInstance.rest_id == order["id"]))
    page = text_of(auditor.get(f"/audit/instances/{row_id}"))
    assert "修改定时器到期时间" in page and "2026-07-01 00:00 → 2026-03-10 09:00" in page


def test_a_reminder_cycles_occurrence_moved_alone_or_with_the_ones_after_it(rest):
    """reminders.bpmn: a daily R3 reminder beside the reply, from Monday 9:00. Its first occurrence
    set to 15:00 that day fires then and the second stays on Wednesday 9:00 (no cascade); the
    second set to 13:00 with cascade fires then and the third follows a day later at 13:00; none
    more (R3). The instance replays every move."""
    deployed(rest, "reminders.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "reminders", user="admin")  # Monday 2026-03-02 09:00
    [cron] = jobs_of(admin, instance)
    assert admin.post(f"/job/{cron['id']}/execute").status_code == 204  # the reply is offered now
    [reminder] = jobs_of(admin, instance)
    assert reminder["dueDate"] == "2026-03-03T09:00:00.000+0800"

    first = local("2026-03-02T15:00:00")
    assert admin.put(f"/job/{reminder['id']}/duedate", {"duedate": camunda(first), "cascade": False}
                     ).status_code == 204
    assert fire_at(rest, first) == 1
    assert tasks_of(admin, instance) == ["remind", "reply"]
    [reminder] = jobs_of(admin, instance)
    assert reminder["dueDate"] == "2026-03-04T09:00:00.000+0800"  # the cycle's second occurrence, as it was

    second = local("2026-03-04T13:00:00")
    assert admin.put(f"/job/{reminder['id']}/duedate", {"duedate": camunda(second), "cascade": True}
                     ).status_code == 204
    assert fire_at(rest, local("2026-03-04T09:00:00")) == 0
    assert fire_at(rest, second) == 1
    [reminder] = jobs_of(admin, instance)
    assert reminder["dueDate"] == "2026-03-05T13:00:00.000+0800"  # moved as far as the second
    assert fire_at(rest, local("2026-03-05T12:59:00")) == 0
    assert fire_at(rest, local("2026-03-05T13:00:00")) == 1
    assert fire_at(rest, local("2026-03-09T13:00:00")) == 0
    assert tasks_of(admin, instance) == ["remind", "remind", "remind", "reply"] and jobs_of(admin, instance) == []
    proved(rest, instance)


def deploy_the_rules(rest) -> None:
    bpmn = Path(__file__).resolve().parents[2] / "bpmn"
    [first, *others] = [(p.name, p.read_bytes()) for p in sorted(bpmn.iterdir())
                        if p.suffix in (".bpmn", ".dmn", ".form")]
    assert modeler_deploy(rest.as_("admin"), "办法", first, others).status_code == 200


def test_the_quarterly_summarys_start_timer_moved_then_moved_with_the_quarters_after_it(rest, dalad):
    """bpmn/quarterly_summary.bpmn starts each quarter (R/2026-03-31T09:00/P3M). Its job set to
    20 March starts the summary then and waits for 30 June as before; set two days later with
    cascade, it starts on 2 July and waits for 2 October. Both moves are in the log (the system's
    history) and the timer's occurrences still prove."""
    deploy_the_rules(rest)
    admin = rest.as_("admin")

    def the_job() -> dict:
        [job] = admin.get("/job", processDefinitionKey="quarterly_summary").get_json()
        return job

    def summaries() -> int:
        return admin.get("/history/process-instance/count", processDefinitionKey="quarterly_summary").get_json()[
            "count"]

    job = the_job()
    assert (job["dueDate"], job["processInstanceId"]) == ("2026-03-31T09:00:00.000+0800", None)
    early = local("2026-03-20T09:00:00")
    assert admin.put(f"/job/{job['id']}/duedate", {"duedate": camunda(early)}).status_code == 204
    assert fire_at(rest, early - timedelta(seconds=1)) == 0 and summaries() == 0
    assert fire_at(rest, early) == 1 and summaries() == 1
    assert the_job()["dueDate"] == "2026-06-30T09:00:00.000+0800"

    later = local("2026-07-02T09:00:00")
    assert admin.put(f"/job/{job['id']}/duedate", {"duedate": camunda(later), "cascade": True}).status_code == 204
    assert fire_at(rest, local("2026-06-30T09:00:00")) == 0 and summaries() == 1
    assert fire_at(rest, later) == 1 and summaries() == 2
    assert the_job()["dueDate"] == "2026-10-02T09:00:00.000+0800"
    moves = admin.get("/history/user-operation", operationType="SetDueDate").get_json()
    assert [(m["jobId"], m["newValue"]) for m in moves] == [(job["id"], str(int(early.timestamp() * 1000))),
                                                            (job["id"], str(int(later.timestamp() * 1000)))]
    status, out = dalad("history", "verify", "--all")
    assert status == 0, out
    assert "timer occurrences: OK (2 occurrences of 1 timer, each fired once)" in out


def test_a_cascade_past_the_calendars_end_is_a_400_and_the_job_keeps_its_due_date(rest):
    """A job moved earlier alone keeps the occurrence it waits for; a cascade from there to the last
    day of year 9999 would move that occurrence past the calendar's end: a 400 naming the job, the
    due date and the history as they were (found by the REST fuzz: a 500). For an instance's timer
    (reminders.bpmn) and a timer start event (quarterly_summary.bpmn)."""
    deployed(rest, "reminders.bpmn")
    deploy_the_rules(rest)
    admin = rest.as_("admin")
    instance = start(rest, "reminders", user="admin")
    [cron] = jobs_of(admin, instance)
    assert admin.post(f"/job/{cron['id']}/execute").status_code == 204
    [reminder] = jobs_of(admin, instance)
    [summary] = admin.get("/job", processDefinitionKey="quarterly_summary").get_json()
    for job, early in ((reminder, "2026-03-02T15:00:00"), (summary, "2026-03-20T09:00:00")):
        assert admin.put(f"/job/{job['id']}/duedate", {"duedate": camunda(local(early))}).status_code == 204
        moved = admin.get(f"/job/{job['id']}").get_json()["dueDate"]
        reply = admin.put(f"/job/{job['id']}/duedate", {"duedate": "9999-12-31T20:00:00.000+0800", "cascade": True})
        assert reply.status_code == 400, reply.get_data(as_text=True)
        assert job["id"] in reply.get_json()["message"] and "cascade" in reply.get_json()["message"]
        assert admin.get(f"/job/{job['id']}").get_json()["dueDate"] == moved
    assert len(admin.get("/history/user-operation", operationType="SetDueDate").get_json()) == 2
    proved(rest, instance)


def test_a_suspended_instances_timer_takes_its_new_due_date_and_fires_when_resumed(rest):
    """As in Camunda, a suspended job's due date may be set; it fires once its instance runs again."""
    deployed(rest, "reminders.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "reminders", user="admin")
    [cron] = jobs_of(admin, instance)
    assert admin.put(f"/process-instance/{instance['id']}/suspended", {"suspended": True}).status_code == 204
    assert admin.put(f"/job/{cron['id']}/duedate", {"duedate": "2026-03-02T10:00:00.000+0800"}).status_code == 204
    assert jobs_of(admin, instance)[0]["dueDate"] == "2026-03-02T10:00:00.000+0800"
    assert fire_at(rest, local("2026-03-02T10:00:00")) == 0
    assert admin.put(f"/process-instance/{instance['id']}/suspended", {"suspended": False}).status_code == 204
    assert services.fire_due_timers(rest.db) == 1
    assert tasks_of(admin, instance) == ["reply"]
    proved(rest, instance)


# --- what is refused, and a failed job's error ---------------------------------------------------------

def test_a_due_date_of_nothing_is_now_and_wrong_bodies_name_their_field(rest):
    deployed(rest, "reminders.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "reminders", user="admin")
    [cron] = jobs_of(admin, instance)
    path = f"/job/{cron['id']}/duedate"
    assert "duedate" in error_of(admin.put(path, {"duedate": "next week"}), 400, "InvalidRequestException")
    assert "cascade" in error_of(admin.put(path, {"duedate": None, "cascade": "yes"}), 400,
                                 "InvalidRequestException")
    error_of(rest.as_("office").put(path, {"duedate": None}), 403, "AuthorizationException")
    error_of(admin.put("/job/00000000-0000-1000-8000-000000000000/duedate", {}), 404, "InvalidRequestException")
    assert jobs_of(admin, instance) == [cron]  # nothing changed
    assert admin.put(path, {"duedate": None, "cascade": True}).status_code == 204
    assert jobs_of(admin, instance)[0]["dueDate"] == "2026-03-02T09:00:00.000+0800"  # now
    assert services.fire_due_timers(rest.db) == 1
    assert tasks_of(admin, instance) == ["reply"]
    error_of(admin.put(path, {"duedate": None}), 404, "InvalidRequestException")  # it has fired
    proved(rest, instance)


@pytest.fixture
def failing(rest):
    """client_order.bpmn's client_async: an asynchronous continuation whose script fails until
    `budget` is set."""
    admin = rest.as_("admin")
    assert modeler_deploy(admin, "orders", ("client_order.bpmn", CLIENT_ORDER.read_bytes())).status_code == 200
    return admin.post("/process-definition/key/client_async/start", {"businessKey": "A-1", "variables": {
        "spent": {"value": 5, "type": "Integer"}}}).get_json()


def test_a_continuation_or_a_failed_job_has_no_due_date_and_a_failed_jobs_error_is_its_stacktrace(rest, failing):
    admin = rest.as_("admin")
    [job] = jobs_of(admin, failing)
    moved = {"duedate": "2026-03-09T09:00:00.000+0800"}
    assert "asynchronous continuation" in error_of(admin.put(f"/job/{job['id']}/duedate", moved), 400,
                                                   "InvalidRequestException")
    stacktrace = admin.get(f"/job/{job['id']}/stacktrace")
    assert (stacktrace.status_code, stacktrace.get_data()) == (204, b"")
    services.fire_due_timers(rest.db)
    [failed] = jobs_of(admin, failing)
    assert failed["retries"] == 0
    stacktrace = admin.get(f"/job/{job['id']}/stacktrace")
    assert stacktrace.status_code == 200 and stacktrace.mimetype == "text/plain"
    assert stacktrace.get_data(as_text=True) == failed["exceptionMessage"] and "budget" in failed["exceptionMessage"]
    message = error_of(admin.put(f"/job/{job['id']}/duedate", moved), 400, "InvalidRequestException")
    assert "failed" in message and f"/job/{job['id']}/retries" in message
    error_of(admin.get("/job/00000000-0000-1000-8000-000000000000/stacktrace"), 404, "InvalidRequestException")
    assert jobs_of(admin, failing) == [failed]


@pytest.mark.parametrize("method, call, body, instead", [
    ("put", "/job/{id}/suspended", {"suspended": True}, "PUT /process-instance/{id}/suspended"),
    ("put", "/job/suspended", {"processInstanceId": "{instance}", "suspended": True},
     "PUT /process-instance/{id}/suspended"),
    ("put", "/job/{id}/priority", {"priority": 10}, "priorit"),
    ("delete", "/job/{id}", None, "delete the process instance"),
    ("post", "/job/retries", {"jobIds": ["{id}"], "retries": 3}, "PUT /job/{id}/retries"),
    ("post", "/job/{id}/duedate/recalculate", None, "PUT /job/{id}/duedate"),
])
def test_job_calls_with_nothing_to_act_on_here_are_refused_saying_what_does_it(rest, method, call, body, instead):
    deployed(rest, "reminders.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "reminders", user="admin")
    [job] = jobs_of(admin, instance)
    path = call.replace("{id}", job["id"])
    body = None if body is None else {k: [job["id"]] if v == ["{id}"] else instance["id"] if v == "{instance}" else v
                                      for k, v in body.items()}
    answer = admin.delete(path) if method == "delete" else getattr(admin, method)(path, body)
    message = error_of(answer, 400, "InvalidRequestException")
    assert "not offered" in message and instead in message
    error_of(rest.as_("office").delete(path) if method == "delete" else getattr(rest.as_("office"), method)(
        path, body), 403, "AuthorizationException")
    assert jobs_of(admin, instance) == [job]
    assert admin.get(f"/process-instance/{instance['id']}").get_json()["suspended"] is False


def test_jobs_are_queried_with_the_filters_in_the_body(rest):
    deployed(rest, "reminders.bpmn")
    admin = rest.as_("admin")
    first, second = start(rest, "reminders", user="admin"), start(rest, "reminders", user="admin")
    [early] = jobs_of(admin, second)
    assert admin.put(f"/job/{early['id']}/duedate", {"duedate": "2026-03-02T10:00:00.000+0800"}).status_code == 204
    listed = admin.post("/job", {"processDefinitionKey": "reminders", "timers": True,
                                 "sorting": [{"sortBy": "jobDueDate", "sortOrder": "asc"}]}).get_json()
    assert [(j["processInstanceId"], j["dueDate"]) for j in listed] == [
        (second["id"], "2026-03-02T10:00:00.000+0800"), (first["id"], "2026-03-03T09:00:00.000+0800")]
    assert admin.post("/job", {"processInstanceId": first["id"]}, query_string={"maxResults": 1}
                      ).get_json() == jobs_of(admin, first)
    assert admin.post("/job/count", {"processInstanceIds": [first["id"], second["id"]]}).get_json() == {"count": 2}
    assert "dueDates" in error_of(admin.post("/job", {"dueDates": [{"operator": "lt", "value": "x"}]}), 400,
                                  "InvalidRequestException")


# --- job definitions ----------------------------------------------------------------------------------

CAMUNDA_PATTERNS = Path(__file__).resolve().parents[1] / "camunda"


def test_job_definitions_name_each_timer_and_continuation_of_a_version_and_its_jobs_name_theirs(rest, failing):
    """Camunda's job definitions, read from the deployed files: a timer start, event subprocess
    starts, a catch event and a boundary event with their expressions as written, an asynchronous
    continuation; each job names its own, and the jobs of one are found by it."""
    admin = rest.as_("admin")
    deployed(rest, "reminders.bpmn")
    for name in ("cron_start.bpmn", "timer_event_subprocesses.bpmn"):
        assert modeler_deploy(admin, name, (name, (CAMUNDA_PATTERNS / name).read_bytes())).status_code == 200

    def shown(**filters) -> list[tuple]:
        return [(d["processDefinitionKey"], d["activityId"], d["jobType"], d["jobConfiguration"])
                for d in admin.get("/job-definition", **filters).get_json()]

    assert shown(processDefinitionKey="reminders") == [
        ("reminders", "next_workday_morning", "timer-intermediate-transition", "CYCLE: 0 0 9 ? * MON-FRI"),
        ("reminders", "daily_reminder", "timer-transition", "CYCLE: R3/P1D")]
    assert shown(processDefinitionKey="c7_cron_start") == [
        ("c7_cron_start", "every_workday", "timer-start-event", "CYCLE: 0 0 9 ? * MON-FRI")]
    assert shown(processDefinitionKey="c7_timer_event_subprocesses", sortBy="activityId", sortOrder="asc") == [
        ("c7_timer_event_subprocesses", "after_ten_days", "timer-start-event-subprocess", "DURATION: P${deadlineDays}D"),
        ("c7_timer_event_subprocesses", "every_day", "timer-start-event-subprocess", "CYCLE: R3/P1D")]
    assert shown(jobType="async-continuation") == [("client_async", "compute", "async-continuation", "async-before")]
    assert admin.post("/job-definition/count", {"activityIdIn": ["daily_reminder", "compute"]}).get_json() == {
        "count": 2}

    [continuation] = admin.get("/job-definition", jobType="async-continuation").get_json()
    assert continuation == admin.get(f"/job-definition/{continuation['id']}").get_json()
    assert (continuation["processDefinitionId"], continuation["suspended"], continuation["overridingJobPriority"]) \
        == (admin.get("/process-definition/key/client_async").get_json()["id"], False, None)
    [job] = jobs_of(admin, failing)
    assert job["jobDefinitionId"] == continuation["id"]
    services.fire_due_timers(rest.db)
    [incident] = admin.get("/incident", processInstanceId=failing["id"]).get_json()
    assert (incident["configuration"], incident["jobDefinitionId"]) == (job["id"], continuation["id"])
    instance = start(rest, "reminders", user="admin")
    [catch, _boundary] = admin.get("/job-definition", processDefinitionKey="reminders").get_json()
    [waiting] = jobs_of(admin, instance)
    assert waiting["jobDefinitionId"] == catch["id"]
    assert admin.post("/job", {"jobDefinitionId": catch["id"]}).get_json() == [waiting]
    [cron] = admin.get("/job", processDefinitionKey="c7_cron_start").get_json()
    assert cron["jobDefinitionId"] == admin.get("/job-definition", processDefinitionKey="c7_cron_start").get_json(
        )[0]["id"]
    error_of(admin.get("/job-definition/00000000-0000-1000-8000-000000000000"), 404, "InvalidRequestException")
    for path, body in ((f"/job-definition/{catch['id']}/suspended", {"suspended": True}),
                       ("/job-definition/suspended", {"processDefinitionKey": "reminders", "suspended": True}),
                       (f"/job-definition/{catch['id']}/jobPriority", {"priority": 5}),
                       (f"/job-definition/{catch['id']}/retries", {"retries": 3})):
        assert "not offered" in error_of(admin.put(path, body), 400, "InvalidRequestException")
    assert jobs_of(admin, instance) == [waiting]


# --- the schedulers ------------------------------------------------------------------------------------

def test_another_server_processs_scheduler_fires_at_the_due_date_set_here(rest):
    """Two server processes on one database (on PostgreSQL as deployed): the due dates set through
    this one are what the other's scheduler fires by, earlier and later; none fires twice."""
    deployed(rest, "reminders.bpmn")
    admin = rest.as_("admin")
    instance = start(rest, "reminders", user="admin")
    other = Database(rest.db.url)  # the other process's own connections
    try:
        [cron] = jobs_of(admin, instance)
        assert admin.put(f"/job/{cron['id']}/duedate", {"duedate": "2026-03-02T12:00:00.000+0800"}).status_code == 204
        instances_cache_forgotten()
        assert fire_at(rest, local("2026-03-02T12:00:00"), db=other) == 1
        assert fire_at(rest, local("2026-03-02T12:00:00")) == 0
        assert tasks_of(admin, instance) == ["reply"]
        [reminder] = jobs_of(admin, instance)
        assert reminder["dueDate"] == "2026-03-03T12:00:00.000+0800"
        assert admin.put(f"/job/{reminder['id']}/duedate", {"duedate": "2026-03-05T08:00:00.000+0800",
                                                            "cascade": True}).status_code == 204
        instances_cache_forgotten()
        assert fire_at(rest, local("2026-03-05T07:59:59"), db=other) == 0
        assert fire_at(rest, local("2026-03-05T08:00:00"), db=other) == 1
        assert fire_at(rest, local("2026-03-05T08:00:00")) == 0
        assert tasks_of(admin, instance) == ["remind", "reply"]
        assert jobs_of(admin, instance)[0]["dueDate"] == "2026-03-06T08:00:00.000+0800"
    finally:
        other.dispose()
    proved(rest, instance)


def test_a_dalad_process_of_its_own_fires_the_timers_at_the_due_dates_set_over_rest(rest, tmp_path):
    """`dalad timers fire-due` in a process of its own (as cron runs it beside the servers), on the
    engine's real clock: an event subprocess's reminder, a day away, fires once its due date is set
    to now (null); the ten days' deadline once set to a minute ago, closing the rest."""
    clock.reset()  # the system time, which the other process keeps
    admin = rest.as_("admin")
    name = "timer_event_subprocesses.bpmn"
    assert modeler_deploy(admin, name, (name, (CAMUNDA_PATTERNS / name).read_bytes())).status_code == 200
    instance = admin.post("/process-definition/key/c7_timer_event_subprocesses/start", {
        "variables": {"deadlineDays": {"value": 10, "type": "Integer"}}}).get_json()
    env = {**os.environ, "DALAD_DATABASE_URL": rest.db.url, "DALAD_HISTORY_KEY": TEST_KEY.decode(),
           "DALAD_INSTANCE_DIR": str(tmp_path / "instance"), "DALAD_SECRET_KEY": "test-secret-key"}

    def fire_due_elsewhere() -> str:
        done = subprocess.run([str(Path(sys.executable).parent / "dalad"), "timers", "fire-due"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def job_at(activity: str) -> dict:
        [job] = admin.get("/job", processInstanceId=instance["id"], activityId=activity).get_json()
        return job

    assert fire_due_elsewhere() == "0 timers fired"
    assert admin.put(f"/job/{job_at('every_day')['id']}/duedate", {"duedate": None}).status_code == 204
    assert fire_due_elsewhere() == "1 timer fired"
    assert tasks_of(admin, instance) == ["remind", "review"]
    a_minute_ago = camunda(clock.now() - timedelta(minutes=1))
    assert admin.put(f"/job/{job_at('after_ten_days')['id']}/duedate", {"duedate": a_minute_ago}).status_code == 204
    assert fire_due_elsewhere() == "1 timer fired"
    assert tasks_of(admin, instance) == ["close_overdue"]
    proved(rest, instance)


def instances_cache_forgotten() -> None:
    """What another process knows of the instances: nothing this one cached."""
    instances.clear_caches()
