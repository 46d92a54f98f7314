"""Script tasks run in the engine's own interpreter of a small Python subset: what they assign
becomes process variables; anything outside the subset is refused at deploy, naming the line."""
import pytest

from conftest import DIAGRAMS, deploy_files
from engine import replay, services
from engine.definitions import BundleFile
from engine.errors import DefinitionInvalid, ExpressionError, ExecutionError
from engine.scripts import compile_script


def test_a_script_task_computes_process_variables(db, frozen_clock):
    deploy_files(db, "budget_script.bpmn")
    with db.write() as s:
        row = services.start_process(s, "budget_script", variables={
            "approved_budget": 200000, "payments": [{"amount": 50000}, {"amount": 70000.5}]})
        assert row.variables["execution_rate"] == 60.0
        assert row.variables["over_budget"] is False
        chain, report = replay.verify(s, row.id)
    assert report.ok, report


@pytest.mark.parametrize("script,refusal", [
    ("import os", "'Import' statement is not allowed"),
    ("while True:\n    pass", "'While' statement is not allowed"),
    ("x = ().__class__", "attribute '__class__' is not allowed"),
    ("open('/etc/passwd')", "must assign, or call a list or dict method"),
    ("x = open('/etc/passwd')", "function 'open' is not allowed"),
    ("def f():\n    return 1", "'FunctionDef' statement is not allowed"),
    ("_secret = 1", "name '_secret' is not allowed"),
    ("x = [i for i in y]", "comprehension is not allowed"),
    ("x = 1\ny = (", "invalid syntax at line 2"),
])
def test_anything_outside_the_subset_is_refused(script, refusal):
    with pytest.raises(ExpressionError, match=refusal.replace("(", r"\(")):
        compile_script(script)


def test_a_runaway_loop_is_stopped():
    script = compile_script("n = 0\nfor i in items:\n    for j in items:\n        n += 1")
    with pytest.raises(ExpressionError, match="more than 100000 steps"):
        script.run({"items": list(range(1000))})


def test_a_script_that_does_not_compile_is_refused_at_deploy_with_its_element(db):
    source = (DIAGRAMS / "budget_script.bpmn").read_text(encoding="utf-8").replace(
        "spent = 0", "import os\nspent = 0")
    with pytest.raises(DefinitionInvalid, match=r"budget_script.bpmn:\d+ element 'compute_rate' \(scriptTask\): "
                                                r"script does not compile: 'Import' statement"):
        with db.write() as s:
            services.deploy(s, [BundleFile("budget_script.bpmn", source.encode())], name="bad")


def test_a_script_failing_at_run_time_names_the_element(db, frozen_clock):
    deploy_files(db, "budget_script.bpmn")
    with pytest.raises(ExecutionError, match="compute_rate.*script failed"):
        with db.write() as s:
            services.start_process(s, "budget_script", variables={"approved_budget": 0, "payments": []})
