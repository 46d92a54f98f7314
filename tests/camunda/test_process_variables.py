"""Process variables belong to the process instance, as in Camunda 7: what one parallel branch sets
is what the other branches read and what stays when they join, and a branch that ends alone leaves
what it set in the instance. Deployed with the Modeler's `deployment/create` and driven through
`/engine-rest` only; every instance's history then replays (the fixture from test_camunda_patterns)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.models import UserTask
from test_camunda_features import history_variables
from test_camunda_patterns import (complete, deploy, fire_timers, history_proves_every_instance,  # noqa: F401
                                   start, state, tasks, variables)
from test_rest_helpers import PASSWORD, rest  # noqa: F401
from test_ui_fixtures import login, post


def test_a_variable_set_in_one_branch_is_not_undone_when_the_other_branch_ends(rest):
    deploy(rest, "signal_escalation.bpmn")
    instance = start(rest, "c7_signal_escalation")
    complete(rest, tasks(rest, instance)["assess"], "admin", severity="high")
    opened = tasks(rest, instance)
    assert set(opened) == {"fix", "inform_manager"}
    complete(rest, opened["fix"], "admin", severity="low")  # inside the subprocess, beside the open branch
    assert variables(rest, instance)["severity"] == "low"
    task_variables = rest.as_("admin").get(f"/task/{opened['inform_manager']['id']}/variables").get_json()
    assert task_variables["severity"]["value"] == "low"  # the open task reads the instance's variable
    complete(rest, opened["inform_manager"], "admin")
    assert state(rest, instance) == "COMPLETED"
    assert history_variables(rest, instance)["severity"] == "low"


def test_a_script_on_a_branch_that_ends_alone_sets_the_process_variable(rest, frozen_clock):
    deploy(rest, "timer_reminders.bpmn")
    instance = start(rest, "c7_timer_reminders", reminders=0)
    for _hour in range(3):  # R3/PT1H on the open task: each time a branch counts and ends
        fire_timers(rest, timedelta(hours=1), frozen_clock)
    assert variables(rest, instance)["reminders"] == 3
    complete(rest, tasks(rest, instance)["answer"], "admin")
    assert history_variables(rest, instance)["reminders"] == 3


def test_a_branch_that_waited_behind_a_finished_step_joins_with_the_latest_value(rest, frozen_clock):
    deploy(rest, "parallel_variables.bpmn")
    instance = start(rest, "c7_parallel_variables", decision="none")
    opened = tasks(rest, instance)
    complete(rest, opened["prepare"], "admin", decision="draft")  # then its branch waits an hour
    complete(rest, opened["decide"], "admin", decision="final")
    assert variables(rest, instance)["decision"] == "final"
    fire_timers(rest, timedelta(hours=1), frozen_clock)  # the waiting branch arrives last at the join
    assert set(tasks(rest, instance)) == {"confirm"}
    assert variables(rest, instance)["decision"] == "final"
    complete(rest, tasks(rest, instance)["confirm"], "admin")
    assert history_variables(rest, instance)["decision"] == "final"


def test_a_withdrawn_completion_takes_its_value_back_from_the_whole_instance(rest):
    deploy(rest, "parallel_variables.bpmn")
    instance = start(rest, "c7_parallel_variables", decision="none")
    opened = tasks(rest, instance)
    complete(rest, opened["decide"], "admin", decision="final")
    client = rest.app.test_client()
    assert login(client, "admin", PASSWORD).status_code == 302
    with rest.db.read() as session:
        decide = session.scalar(select(UserTask.id).where(UserTask.rest_id == opened["decide"]["id"]))
    assert post(client, f"/tasks/{decide}/withdraw").status_code == 302  # 撤回 on the task page
    assert set(tasks(rest, instance)) == {"prepare", "decide"}
    assert variables(rest, instance)["decision"] == "none"
    complete(rest, tasks(rest, instance)["prepare"], "admin")
    complete(rest, tasks(rest, instance)["decide"], "admin")  # decided again, without a new decision
    assert variables(rest, instance)["decision"] == "none"
