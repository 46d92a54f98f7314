"""Call activities pass exactly what camunda:in / camunda:out map (nothing by default, as in
Camunda 7), and may call a process deployed earlier in another bundle."""
import pytest

from conftest import deploy_files
from engine import replay, services
from engine.errors import DefinitionInvalid


def _run(db, instance_id, decisions):
    seen = []
    for decision in decisions:
        with db.read() as s:
            (task,) = services.tasks(s, instance_id=instance_id)
        seen.append(task.name)
        with db.write() as s:
            services.complete_task(s, task.id, user="drc1", data={"decision": decision, "note": "x"},
                                   check_access=False)
    return seen


@pytest.mark.parametrize("bundles", [[("stage_review.bpmn", "two_stages.bpmn")],
                                     [("stage_review.bpmn",), ("two_stages.bpmn",)]],
                         ids=["one bundle", "called process deployed before"])
def test_mappings_decide_what_goes_in_and_comes_out(db, frozen_clock, bundles):
    for names in bundles:
        deploy_files(db, *names)
    with db.write() as s:
        instance_id = services.start_process(s, "two_stages", variables={"project_name": "智慧教育",
                                                                         "secret": "s"}).id
    names = _run(db, instance_id, ["同意", "修改", "不同意"])
    # stage went into the first call only (it never came out), so the later calls name no stage
    assert names == ["审批可研", "审批", "审批"]
    with db.read() as s:
        variables = services.instance(s, instance_id).variables
        chain, report = replay.verify(s, instance_id)
    assert variables["feasibility_decision"] == "同意"
    assert variables["design_decision"] == "修改"
    assert "decision" not in variables and "note" not in variables  # only mapped outputs come back
    assert report.ok, report


def test_a_called_process_that_is_nowhere_is_refused_at_deploy(db):
    with pytest.raises(DefinitionInvalid, match="stage_review"):
        deploy_files(db, "two_stages.bpmn")


def test_a_version_binding_of_the_called_process_is_refused_at_deploy(db):
    from conftest import DIAGRAMS
    from engine.definitions import BundleFile
    source = (DIAGRAMS / "two_stages.bpmn").read_text(encoding="utf-8").replace(
        'calledElement="stage_review">', 'calledElement="stage_review" camunda:calledElementBinding="version" '
                                         'camunda:calledElementVersion="1">', 1)
    with pytest.raises(DefinitionInvalid, match=r"element 'feasibility_review' \(callActivity\): "
                                                r"calledElementBinding 'version' is not supported"):
        with db.write() as s:
            services.deploy(s, [BundleFile("two_stages.bpmn", source.encode()),
                                BundleFile("stage_review.bpmn", (DIAGRAMS / "stage_review.bpmn").read_bytes())], name="x")
