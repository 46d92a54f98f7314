"""Process variables are the instance's (engine/process_variables.py), on the engine's own runtime:
what a step sets is in the workflow's data and in every open step at once; an instance stored
before the engine kept them so goes on with the copies its steps hold."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import bundle  # noqa: E402

from engine import runtime  # noqa: E402
from engine.definitions import parse_bundle  # noqa: E402


def _review():
    parsed = parse_bundle(bundle("review.bpmn")).processes[0]
    return runtime.new_workflow(*runtime.spec_from_dict(parsed.spec))


def _ready(workflow) -> dict:
    return {task.task_spec.bpmn_id: task for task in runtime.ready_user_tasks(workflow)}


def test_what_a_branch_sets_is_the_instances_and_the_other_branchs_at_once():
    workflow = _review()
    runtime.start(workflow, {"amount": 5000})
    runtime.complete_user_task(workflow, str(_ready(workflow)["submit"].id), {"amount": 6000})
    assert workflow.data["amount"] == 6000
    opened = _ready(workflow)
    runtime.complete_user_task(workflow, str(opened["drc_review"].id), {"amount": 5500, "note": "cut"})
    assert (workflow.data["amount"], workflow.data["note"]) == (5500, "cut")
    assert (opened["finance_review"].data["amount"], opened["finance_review"].data["note"]) == (5500, "cut")
    saved = runtime.dump_state(workflow)
    again = runtime.load_state(saved, workflow.spec, workflow.subprocess_specs)
    runtime.complete_user_task(again, str(_ready(again)["finance_review"].id), {})
    assert again.completed and again.data["amount"] == 5500


def test_an_instance_stored_before_goes_on_with_its_steps_copies():
    workflow = _review()
    workflow.dalad_instance_variables = False  # as the engine ran and stored it before
    runtime.start(workflow, {"amount": 5000})
    runtime.complete_user_task(workflow, str(_ready(workflow)["submit"].id), {"amount": 6000})
    saved = runtime.dump_state(workflow)
    assert workflow.data["amount"] == 5000 and "dalad_instance_variables" not in saved
    old = runtime.load_state(saved, workflow.spec, workflow.subprocess_specs)
    opened = _ready(old)
    runtime.complete_user_task(old, str(opened["drc_review"].id), {})
    runtime.complete_user_task(old, str(opened["finance_review"].id), {})
    assert old.completed and old.last_task.data["amount"] == 6000  # not the start value its data kept
