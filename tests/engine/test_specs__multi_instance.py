"""Multi-instance activities as Camunda 7 draws them: camunda:collection / elementVariable,
nrOf* in the completion condition, and each instance's answer kept in a list by position."""
import pytest

from conftest import deploy_files
from engine import replay, services
from engine.errors import ExecutionError

DEPARTMENTS = ["unit:edu", "unit:health", "unit:water"]


@pytest.fixture
def plan(db, frozen_clock):
    deploy_files(db, "plan_entries.bpmn")
    with db.write() as s:
        return services.start_process(s, "plan_entries", variables={"departments": DEPARTMENTS,
                                                                     "members": ["a", "b", "c"]}).id


def _ready(db, instance_id):
    with db.read() as s:
        return [(t.id, t.element_id, t.candidate_groups) for t in services.tasks(s, instance_id=instance_id)]


def _complete(db, task_id, **values):
    with db.write() as s:
        services.complete_task(s, task_id, user="u", data=values, check_access=False)


def test_one_task_per_collection_item_offered_to_the_item(db, plan):
    assert [(el, groups) for _, el, groups in _ready(db, plan)] == [
        ("submit_entry", ["unit:edu"]), ("submit_entry", ["unit:health"]), ("submit_entry", ["unit:water"])]


def test_parallel_answers_are_kept_by_position_whatever_the_completion_order(db, plan):
    tasks = _ready(db, plan)
    for task_id, _, groups in reversed(tasks):  # the last department answers first
        _complete(db, task_id, project_name=f"{groups[0]} 项目", amount=100)
    with db.read() as s:
        entries = services.instance(s, plan).variables["entries"]
    assert [e["project_name"] for e in entries] == [f"{d} 项目" for d in DEPARTMENTS]
    assert all(set(e) == {"project_name", "amount"} for e in entries)  # no element variable, no counter


def test_sequential_instances_stop_at_the_completion_condition(db, plan):
    for task_id, _, _ in _ready(db, plan):
        _complete(db, task_id, project_name="x", amount=1)
    offered = []
    while (ready := _ready(db, plan))[0][1] == "vote":
        offered.append(ready[0][2][0])
        _complete(db, ready[0][0], vote="同意")
    assert offered == ["a", "b"]  # ${nrOfCompletedInstances >= 2}
    assert ready[0][1] == "summarise"
    with db.read() as s:
        variables = services.instance(s, plan).variables
        assert variables["vote_results"] == [{"vote": "同意"}, {"vote": "同意"}]
        assert "member" not in variables and "loopCounter" not in variables
        chain, report = replay.verify(s, plan)
    assert chain.ok and report.ok, report


def test_a_collection_that_is_not_a_list_fails_naming_the_element(db, frozen_clock):
    deploy_files(db, "plan_entries.bpmn")
    with pytest.raises(ExecutionError, match="submit_entry.*not a list"):
        with db.write() as s:
            services.start_process(s, "plan_entries", variables={"departments": 5, "members": []})
