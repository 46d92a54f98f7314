"""The state a step saves is what SpiffWorkflow's own serializer writes, byte for byte.

runtime.dump_state writes each task with runtime.task_to_dict, not with the serializer's registry
(`REGISTRY.convert(task)`, which dispatches on the class of every value at every level): at every
save of the real diagrams (bpmn/ driven through the scenarios of the 办法, and permit40, the
benchmarks' workload), every task of the top process and of its subprocesses and called processes
is checked against the registry's conversion, key for key and as JSON text; the whole saved state
against the one the registry alone writes (so the cache of unchanged tasks is checked too); and
the state read back has the digest of the workflow it was written from. The diagrams' steps are
asserted to have covered what the fast paths must get right: dates, nested values, keys deleted
on a branch, subprocesses, call activities, multi-instance, timers, boundary events. The
variables a step stores (runtime.plain) read back as the standard library reads them."""
from __future__ import annotations

import json
import math
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))

from conftest import SHARED, bundle, emptied  # noqa: E402
import test_art27_consequences_at_any_stage as art27  # noqa: E402
import test_scenario_01_plan_to_post_evaluation as scenario01  # noqa: E402
import test_scenario_12_13_supervision as scenario12  # noqa: E402
import test_scenario_15_annual_plan as scenario15  # noqa: E402
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition  # noqa: E402
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent  # noqa: E402
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask  # noqa: E402
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from engine import clock, jsontext, runtime, services  # noqa: E402
from engine.definitions import BundleFile, parse_bundle  # noqa: E402

sys.path.insert(0, str(SHARED / "bench"))
from spiff_ceiling import WORKLOAD, fill  # noqa: E402

REGISTRY = runtime.REGISTRY


def registry_state(workflow) -> str:
    """dump_state's text as SpiffWorkflow's registry writes it: every task converted by it, none reused."""
    head = {
        "data": REGISTRY.convert(REGISTRY.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "root": str(workflow.task_tree.id),
        "subprocesses": runtime._WORKFLOW_CONVERTER.mapping_to_dict(workflow.subprocesses),
        "bpmn_events": REGISTRY.convert(workflow.bpmn_events),
        "dalad_compacted": runtime.compacted(workflow),
        **({"dalad_instance_variables": True} if workflow.dalad_instance_variables else {}),
    }
    tasks = ",".join(f'"{task_id}":{jsontext.dumps(REGISTRY.convert(task))}' for task_id, task in workflow.tasks.items())
    return jsontext.dumps(head)[:-1] + ',"tasks":{' + tasks + "}}"


def tasks_by_place(workflow):
    """(task, where) of every task: the top process, an embedded subprocess or a called process."""
    for task in workflow.tasks.values():
        yield task, "top"
    for sub in workflow.subprocesses.values():
        owner = workflow.get_task_from_id(sub.parent_task_id)
        where = "call activity" if owner is not None and isinstance(owner.task_spec, CallActivity) else "subprocess"
        for task in sub.tasks.values():
            yield task, where


def _values(value):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _values(item)


def features(task, where: str, written: dict) -> set[str]:
    """What of the task's written form a fast path of task_to_dict has to get right."""
    found = {where}
    own = written["data"] if written["parent"] is None else written["delta"]["updates"]
    values = list(_values(own))[1:]
    if any(isinstance(v, (date, datetime)) for v in values):
        found.add("date in data")
    if any(isinstance(v, (dict, list, tuple)) for v in values):
        found.add("nested value")
    if any(isinstance(v, float) and math.isnan(v) for v in values):
        found.add("NaN")
    if written["delta"] and written["delta"]["deletions"]:
        found.add("deletions")
    if written["delta"] and task.data and task.data.keys() == task.parent.data.keys():
        found.add("keys as its parent's")
    internal = list(_values(task.internal_data))[1:]
    if any(not isinstance(v, (str, int, float, bool, type(None))) for v in internal):
        found.add("internal data through the registry")
    if any(isinstance(v, (date, datetime)) for v in internal):
        found.add("date in internal data")
    spec = task.task_spec
    if isinstance(spec, MultiInstanceTask) or (task.parent is not None and isinstance(task.parent.task_spec,
                                                                                       MultiInstanceTask)):
        found.add("multi-instance")
    if isinstance(getattr(spec, "event_definition", None), TimerEventDefinition):
        found.add("timer")
    if isinstance(spec, BoundaryEvent):
        found.add("boundary event")
    return found


class CheckedSaves:
    """runtime.dump_state, checking each save against SpiffWorkflow's serializer."""

    def __init__(self, dump_state):
        self.dump_state = dump_state
        self.saves = 0
        self.seen: Counter = Counter()

    def __call__(self, workflow) -> str:
        text = self.dump_state(workflow)
        assert text == registry_state(workflow)
        for task, where in tasks_by_place(workflow):
            ours, theirs = runtime.task_to_dict(task), REGISTRY.convert(task)
            assert list(ours) == list(theirs) and ours == theirs, task
            assert jsontext.dumps(ours) == jsontext.dumps(theirs), task
            self.seen.update(features(task, where, ours))
        restored = runtime.load_state(text, workflow.spec, workflow.subprocess_specs)
        assert runtime.state_digest(restored) == runtime.state_digest(workflow)
        self.saves += 1
        return text


@pytest.fixture
def checked(monkeypatch):
    saves = CheckedSaves(runtime.dump_state)
    monkeypatch.setattr(runtime, "dump_state", saves)
    return saves


SCENARIOS = [scenario01.test_plan_listed_project_from_plan_to_post_evaluation,
             scenario12.test_12_serious_delay_suspension_then_resumption,
             scenario15.test_15_three_departments_one_late,
             art27.test_termination_after_suspension_ends_the_project]


def test_every_save_of_the_real_diagrams_is_the_serializers(database, checked):
    for scenario in SCENARIOS:
        clock.set_time(datetime(2026, 3, 2, 9, 0, 0))
        try:
            scenario(emptied(database), clock)
        finally:
            clock.reset()
    assert checked.saves > 100
    assert {"top", "subprocess", "call activity", "nested value", "deletions", "keys as its parent's",
            "internal data through the registry", "multi-instance", "timer", "boundary event"} <= set(checked.seen), \
        checked.seen


@pytest.mark.parametrize("first", [fill("U01", 0), {**fill("U01", 0), "amount": 500, "priority": "low",
                                                    "approved": False}], ids=["usual branches", "other branches"])
def test_every_save_of_permit40_is_the_serializers(db, checked, first):
    with db.write() as s:
        services.deploy(s, [BundleFile(WORKLOAD.name, WORKLOAD.read_bytes())], name="bench", user="bench")
    with db.write() as s:
        open_tasks = dict(services.start_process(s, "bench_permit", business_key="b-1", user="bench").open_tasks)
    done = 0
    while open_tasks:
        task_id, element = min(open_tasks.values())
        data = first if element == "U01" else fill(element, done)
        with db.write() as s:
            row = services.complete_task(s, task_id, user="bench", data=data, check_access=False)
            open_tasks = dict(row.open_tasks)
        done += 1
    assert done == 37 and checked.saves == 38
    assert {"nested value", "deletions", "keys as its parent's"} <= set(checked.seen)


ODD = {"amount": 5000, "when": datetime(2026, 3, 2, 9, 30), "day": date(2026, 3, 2), "nan": math.nan,
       "nested": {"list": [1, {"due": date(2026, 4, 1)}], "pair": (1, 2)}, "text": "可研报告", "yes": True, "none": None}
# what orjson refuses (an integer beyond 64 bits) is written by the standard library, dates are not
BIG = {"amount": 5000, "big": 2 ** 70, "nested": {"list": [2 ** 64, {"n": -(2 ** 65)}]}}


@pytest.mark.parametrize("variables", [ODD, BIG], ids=["dates", "big integers"])
def test_odd_values_are_written_as_the_serializer_writes_them(variables):
    """Dates, NaN (unequal to itself: a key the registry writes again though the branch did not
    change it), integers beyond 64 bits, tuples, and internal data the registry converts (a date,
    a nested dict) or drops (a callable), on review.bpmn's way through a parallel split and join."""
    parsed = parse_bundle(bundle("review.bpmn")).processes[0]
    spec, subprocess_specs = runtime.spec_from_dict(parsed.spec)
    workflow = runtime.new_workflow(spec, subprocess_specs)
    check = CheckedSaves(runtime.dump_state)
    runtime.start(workflow, dict(variables))
    check(workflow)
    [submit] = runtime.ready_user_tasks(workflow)
    submit.internal_data.update(due=datetime(2026, 3, 9, 17), nested={"at": date(2026, 3, 9), "n": 1}, dropped=len,
                                count=1, flag=False)
    check(workflow)
    runtime.complete_user_task(workflow, str(submit.id), {"amount": 6000, "nested": {"list": []}, "day": None})
    check(workflow)
    for task in sorted(runtime.ready_user_tasks(workflow), key=lambda t: t.task_spec.bpmn_id):
        runtime.complete_user_task(workflow, str(task.id), {f"{task.task_spec.bpmn_id}_by": "王伟",
                                                            "on": date(2026, 3, 10) if "day" in variables else 7})
        check(workflow)
    assert workflow.completed
    assert {"nested value", "deletions", "keys as its parent's", "date in internal data",
            "internal data through the registry"} <= set(check.seen), check.seen
    assert ("date in data" in check.seen) == ("NaN" in check.seen) == (variables is ODD)
    if variables is ODD:
        same_keys = [runtime.task_to_dict(t)["delta"]["updates"] for t in workflow.tasks.values()
                     if t.parent is not None and t.data and t.data.keys() == t.parent.data.keys()]
        assert same_keys and all("nan" in updates for updates in same_keys)


def test_internal_data_changed_in_place_is_written_at_the_next_save():
    """A finished task's text is kept between saves; its internal data changed with the same keys
    (a value replaced, a nested dict changed in place) is still written at the next save."""
    parsed = parse_bundle(bundle("review.bpmn")).processes[0]
    spec, subprocess_specs = runtime.spec_from_dict(parsed.spec)
    workflow = runtime.new_workflow(spec, subprocess_specs)
    check = CheckedSaves(runtime.dump_state)
    runtime.start(workflow, {"amount": 5000})
    [submit] = runtime.ready_user_tasks(workflow)
    runtime.complete_user_task(workflow, str(submit.id), {"amount": 6000})
    start = workflow.task_tree  # finished, and still in the tree
    assert start.task_spec.name == "Start" and start.has_state(TaskState.COMPLETED)
    start.internal_data["count"] = 1
    first = check(workflow)
    assert "_dalad_json" in start.__dict__  # plain values only: its text is kept
    start.internal_data["count"] = 2
    second = check(workflow)
    assert '"count":1' in first and '"count":2' in second and '"count":1' not in second
    start.internal_data["nested"] = {"n": 1}
    check(workflow)
    start.internal_data["nested"]["n"] = 2
    assert '"n":2' in check(workflow)  # a dict in its internal data: the task is written at every save


@pytest.mark.parametrize("value", [
    {"text": "可研报告 \u2028", "n": 2 ** 63, "max": 2 ** 64 - 1, "neg": -(2 ** 63), "f": 0.1, "e": 1e-7, "big": 1e308,
     "z": -0.0, "flags": [True, False, None], "nested": {"list": [1, 2.5, {"deep": []}]}},
    {"nan": math.nan, "inf": math.inf, "day": date(2026, 3, 2), "when": datetime(2026, 3, 2, 9, 30), "pair": (1, 2)},
    {"beyond 64 bits": 2 ** 64, "negative": -(2 ** 70), "with": [0.5, "x"]},
    {1: "key not text", "surrogate": "\ud800"},
], ids=["plain", "dates and NaN", "big integers", "what orjson refuses"])
def test_plain_reads_back_what_the_standard_library_reads_back(value):
    """runtime.plain (a step's variables column) reads orjson's text with orjson: the same values,
    of the same types, as the standard library reads from the same text."""
    expected = json.loads(jsontext.dumps(value, default=runtime._json_default))
    assert repr(runtime.plain(value)) == repr(expected)
