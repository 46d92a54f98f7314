"""Business rule tasks evaluate DMN decisions with the engine's FEEL: the result lands in the
result variable, the decision version used is in the history, and replay uses that version."""
import pytest

from conftest import DIAGRAMS, deploy_files
from engine import history, replay, services
from engine.definitions import BundleFile
from engine.errors import DefinitionInvalid


def _start(db, **variables):
    with db.write() as s:
        return services.start_process(s, "path_choice", variables=variables).id


def _state(db, instance_id):
    with db.read() as s:
        return (services.instance(s, instance_id).variables.get("path"),
                [t.element_id for t in services.tasks(s, instance_id=instance_id)])


@pytest.mark.parametrize("inputs,path,task", [
    ({"in_plan": True, "simple": True}, "simplified", "combined_submission"),  # both: FIRST rule wins
    ({"in_plan": True, "simple": False}, "no_proposal", "first_submission"),
    ({"in_plan": False, "simple": False}, "full", "first_submission"),
])
def test_the_decision_table_chooses_the_path(db, frozen_clock, inputs, path, task):
    deploy_files(db, "path_rules.dmn", "path_choice.bpmn")
    assert _state(db, _start(db, **inputs)) == (path, [task])


def test_the_latest_decision_version_is_used_and_recorded_and_replay_keeps_the_old_one(db, frozen_clock):
    deploy_files(db, "path_rules.dmn", "path_choice.bpmn")
    first = _start(db, in_plan=True, simple=False)
    changed = (DIAGRAMS / "path_rules.dmn").read_text(encoding="utf-8").replace('"no_proposal"', '"feasibility_first"')
    with db.write() as s:
        services.deploy(s, [BundleFile("path_rules.dmn", changed.encode())], name="v2")
    second = _start(db, in_plan=True, simple=False)
    assert _state(db, first)[0] == "no_proposal" and _state(db, second)[0] == "feasibility_first"
    with db.read() as s:
        evaluated = [e for e in history.events_of(s, first) if e["type"] == "decision_evaluated"]
        assert [(e["data"]["decision"], e["data"]["version"], e["data"]["rules"]) for e in evaluated] == [
            ("path_rules", 1, ["Rule_plan"])]
        for instance_id in (first, second):
            chain, report = replay.verify(s, instance_id)
            assert report.ok, report


def test_a_missing_decision_is_refused_at_deploy_naming_the_task(db):
    with pytest.raises(DefinitionInvalid, match=r"path_choice.bpmn:\d+ element 'choose_path' \(businessRuleTask\)"
                                                r".*'path_rules'"):
        deploy_files(db, "path_choice.bpmn")
