"""Event subprocesses started by a timer or an error, as Camunda 7 teams draw them (Camunda Modeler 5
files), driven over REST: a non-interrupting timer cycle as an SLA reminder beside the process, an
interrupting deadline that closes it, an error event subprocess catching a BPMN error thrown
anywhere in the process unless an error boundary event closer to the thrower catches it. Timers
are jobs (REST /job) fired with the test clock; every instance's history replays."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import services
from engine.models import Timer, UserTask
from test_camunda_patterns import (complete, deploy, fetch, history_proves_every_instance, rest, start,  # noqa: F401
                                   state, tasks, variables)


def jobs(rest, instance_id: str, activity: str) -> list[dict]:
    """The instance's jobs at `activity` (Camunda's job has no activity id: the query filters by it)."""
    return rest.as_("admin").get("/job", processInstanceId=instance_id, activityId=activity).get_json()


def test_a_non_interrupting_timer_cycle_reminds_beside_the_work(rest, frozen_clock):
    deploy(rest, "timer_event_subprocesses.bpmn")
    instance = start(rest, "c7_timer_event_subprocesses", deadlineDays=10)
    [reminder] = jobs(rest, instance, "every_day")
    [deadline] = jobs(rest, instance, "after_ten_days")
    assert (reminder["dueDate"][:10], deadline["dueDate"][:10]) == ("2026-03-03", "2026-03-12")
    frozen_clock.advance(timedelta(days=1))
    response = rest.as_("admin").post(f"/job/{reminder['id']}/execute")
    assert response.status_code == 204, response.get_json()
    assert sorted(tasks(rest, instance)) == ["remind", "review"]
    assert variables(rest, instance).get("reminder_sent") is True
    frozen_clock.advance(timedelta(days=1))
    services.fire_due_timers(rest.db)
    assert sorted(t["taskDefinitionKey"] for t in rest.as_("admin").get("/task", processInstanceId=instance).get_json()) \
        == ["remind", "remind", "review"]
    complete(rest, tasks(rest, instance)["review"], "office")
    assert state(rest, instance) == "ACTIVE"  # the reminders still run
    for task in rest.as_("admin").get("/task", processInstanceId=instance, taskDefinitionKey="remind").get_json():
        complete(rest, task, "office")
    assert state(rest, instance) == "COMPLETED"
    with rest.db.read() as session:
        assert session.scalars(select(Timer.state).where(Timer.element_id.in_(["every_day", "after_ten_days"]))).all() \
            and "waiting" not in session.scalars(select(Timer.state)).all()


def test_an_interrupting_timer_closes_what_the_process_was_doing(rest, frozen_clock):
    deploy(rest, "timer_event_subprocesses.bpmn")
    instance = start(rest, "c7_timer_event_subprocesses", deadlineDays=10)
    kept = start(rest, "c7_timer_event_subprocesses", deadlineDays=30)
    for _day in range(3):  # R3: three reminders, a day apart
        frozen_clock.advance(timedelta(days=1))
        services.fire_due_timers(rest.db)
    assert sorted(t["taskDefinitionKey"] for t in rest.as_("admin").get("/task", processInstanceId=instance).get_json()) \
        == ["remind", "remind", "remind", "review"]
    frozen_clock.advance(timedelta(days=7))
    services.fire_due_timers(rest.db)  # the deadline
    assert sorted(tasks(rest, instance)) == ["close_overdue"]  # review and the reminders were cancelled
    assert jobs(rest, instance, "every_day") == [] and jobs(rest, instance, "after_ten_days") == []
    with rest.db.read() as session:
        cancelled = session.scalars(select(UserTask.element_id).where(UserTask.state == "cancelled")).all()
    assert sorted(cancelled) == ["remind", "remind", "remind", "review"]
    [active] = rest.as_("admin").get(f"/process-instance/{instance}/activity-instances").get_json()[
        "childActivityInstances"]
    assert active["activityId"] == "close_overdue"
    assert sorted(t["taskDefinitionKey"] for t in rest.as_("admin").get("/task", processInstanceId=kept).get_json()) \
        == ["remind", "remind", "remind", "review"]  # its deadline is 30 days away; R3 is used up
    assert jobs(rest, kept, "every_day") == [] and len(jobs(rest, kept, "after_ten_days")) == 1
    complete(rest, tasks(rest, instance)["close_overdue"], "office")
    assert state(rest, instance) == "COMPLETED"
    ended = {a["activityId"]: a for a in rest.as_("admin").get("/history/activity-instance",
                                                                 processInstanceId=instance).get_json()}
    assert ended["review"]["canceled"] is True and ended["close_overdue"]["canceled"] is False


def test_a_process_that_ends_first_cancels_its_event_subprocess_timers(rest, frozen_clock):
    deploy(rest, "timer_event_subprocesses.bpmn")
    instance = start(rest, "c7_timer_event_subprocesses", deadlineDays=10)
    complete(rest, tasks(rest, instance)["review"], "office")
    assert state(rest, instance) == "COMPLETED"
    assert jobs(rest, instance, "every_day") == [] and jobs(rest, instance, "after_ten_days") == []
    frozen_clock.advance(timedelta(days=30))
    assert services.fire_due_timers(rest.db) == 0
