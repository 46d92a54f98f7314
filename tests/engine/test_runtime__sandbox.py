"""SpiffWorkflow never runs diagram code with Python (issue 10 §1).

SpiffWorkflow 3.2 evaluates expressions in three ways: through the workflow's script engine
(`script_engine.evaluate/execute`), through the engine's environment directly
(`script_engine.environment.evaluate`, e.g. correlation properties, ad-hoc subprocesses), and with
Python's eval/exec in a few modules. The inventory below lists every such call in the installed
SpiffWorkflow; a new one (an upgrade) fails the first test until someone has looked at it. The
others prove each way ends in the engine's sandbox (the hostile diagrams that drive them through
HTTP are in tests/web/test_security_diagram_code.py).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import SpiffWorkflow
import SpiffWorkflow.bpmn.script_engine.python_environment as python_environment
import SpiffWorkflow.bpmn.serializer.migration.version_1_2 as migration_1_2
import SpiffWorkflow.specs.Transform as transform
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from engine import runtime
from engine.errors import ExecutionError, ExpressionError

SPIFF = Path(SpiffWorkflow.__file__).parent
CALL = re.compile(r"(?<![\w.])(eval|exec|compile)\(|environment\.(evaluate|execute|call_service)\("
                  r"|script_engine\.(evaluate|execute|call_service|validate)\(")

# file -> how many calls it holds, and which way they go. "engine": script_engine.* (the engine's
# SafeScriptEngine); "environment": script_engine.environment.* (SandboxEnvironment); "disarmed":
# Python's eval/exec, whose names the engine binds to a refusal in that module.
INVENTORY = {
    "bpmn/script_engine/python_engine.py": (3, "environment"),  # PythonScriptEngine's own methods
    "bpmn/script_engine/python_environment.py": (2, "disarmed"),  # TaskDataEnvironment eval / exec
    "bpmn/serializer/migration/version_1_2.py": (2, "disarmed"),  # old serialized timers (never read)
    "specs/Transform.py": (1, "disarmed"),  # a non-BPMN spec no diagram can make
    "bpmn/specs/bpmn_process_spec.py": (2, "environment"),  # ad-hoc completion and conditional paths
    "bpmn/specs/event_definitions/message.py": (1, "environment"),  # correlation properties
    "bpmn/specs/bpmn_task_spec.py": (1, "engine"),  # sequence flow conditions
    "bpmn/specs/event_definitions/conditional.py": (1, "engine"),
    "bpmn/specs/event_definitions/timer.py": (3, "engine"),
    "bpmn/specs/mixins/multiinstance_task.py": (4, "engine"),  # loop / MI conditions, cardinality
    "bpmn/specs/mixins/script_task.py": (1, "engine"),
    "camunda/specs/event_definitions.py": (1, "engine"),  # camunda:expression (refused at deploy)
    "camunda/specs/multiinstance_task.py": (1, "engine"),
    "dmn/engine/DMNEngine.py": (6, "engine"),  # SpiffWorkflow's DMN (the engine has its own)
    "dmn/specs/model.py": (1, "engine"),
    "spiff/specs/event_definitions.py": (2, "engine"),  # spiff: extensions (not parsed here)
    "spiff/specs/mixins/service_task.py": (2, "engine"),
    "spiff/specs/spiff_task.py": (1, "engine"),
}


def _calls() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in SPIFF.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#", 1)[0]
            if CALL.search(code) and not code.strip().startswith(("If you", '"""')):
                name = path.relative_to(SPIFF).as_posix()
                found[name] = found.get(name, 0) + 1
    return found


def test_every_call_of_eval_exec_and_the_environment_in_spiffworkflow_is_known():
    assert _calls() == {name: count for name, (count, _) in INVENTORY.items()}


PAYLOAD = "__import__('os').system('id')"


def test_the_engine_environment_evaluates_with_the_whitelist_and_never_executes_python():
    environment = runtime.SCRIPT_ENGINE.environment
    assert isinstance(environment, runtime.SandboxEnvironment)
    assert environment.evaluate("amount > 1", {"amount": 5}) is True
    assert environment.evaluate("${amount * 2}", {}, external_context={"amount": 4}) == 8
    for payload in (PAYLOAD, "open('/etc/passwd').read()", "os.system('id')", "${''.__class__}",
                    "().__class__.__base__.__subclasses__()"):
        with pytest.raises(ExpressionError):
            environment.evaluate(payload, {"os": {}})
    context = {"a": 1}
    environment.execute("b = a + 1", context)
    assert context == {"a": 1, "b": 2}
    with pytest.raises(ExpressionError):
        environment.execute("import os\nos.system('id')", {})
    with pytest.raises(ExpressionError):
        environment.call_service({}, operation_name="x")


def test_the_script_engine_names_the_element_when_it_refuses(monkeypatch):
    class Spec:
        bpmn_id = "gateway_1"

    class Workflow:  # the top process: no call activity's
        pass

    Workflow.top_workflow = Workflow

    class Task:
        data = {}
        task_spec = Spec()
        workflow = Workflow
        parent = None

    for call in (lambda: runtime.SCRIPT_ENGINE.evaluate(Task(), PAYLOAD),
                 lambda: runtime.SCRIPT_ENGINE.execute(Task(), f"x = {PAYLOAD}"),
                 lambda: runtime.SCRIPT_ENGINE.call_service(Task(), operation_name="x")):
        with pytest.raises(ExecutionError) as caught:
            call()
        assert caught.value.element_id == "gateway_1"


def test_spiffworkflows_defaults_are_the_sandbox_too():
    """A workflow or script engine made without the engine's (a future call site, a helper)
    still gets the sandbox, not TaskDataEnvironment's eval."""
    assert isinstance(PythonScriptEngine().environment, runtime.SandboxEnvironment)
    spec, subs = _spec()
    assert isinstance(BpmnWorkflow(spec, subs).script_engine, runtime.SafeScriptEngine)


@pytest.mark.parametrize("module", [python_environment, migration_1_2, transform])
def test_the_modules_that_call_eval_or_exec_find_a_refusal(module):
    for name in ("eval", "exec"):
        with pytest.raises(ExecutionError, match="never runs through Python's eval or exec"):
            getattr(module, name)("__import__('os').system('id')")


def test_spiffworkflows_own_environment_cannot_run_python_either():
    with pytest.raises(ExecutionError):
        TaskDataEnvironment().evaluate("1 + 1", {})
    with pytest.raises(ExecutionError):
        TaskDataEnvironment().execute("x = 1", {})


def _spec():
    from conftest import bundle
    from engine.definitions import parse_bundle

    parsed = parse_bundle(bundle("mailbox.bpmn"))
    return runtime.spec_from_dict(parsed.processes[0].spec)
