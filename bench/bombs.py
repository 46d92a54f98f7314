"""How long each bomb runs before it is refused at a limit (issue 10 §3: each must end within a
second): the evaluator and script bombs of tests/engine/test_bounded_work.py and the hostile
archives of tests/web/test_security_uploads.py. Run alone: `.venv/bin/python bench/bombs.py`."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from engine import documents  # noqa: E402
from engine.errors import ExpressionError  # noqa: E402
from engine.expressions import compile_expression  # noqa: E402
from engine.scripts import compile_script  # noqa: E402
from test_bounded_work import EXPRESSION_BOMBS, SCRIPT_BOMBS  # noqa: E402
from test_security_uploads import crafted_zip  # noqa: E402


def main() -> int:
    slowest = 0.0
    for name, (source, _) in [*SCRIPT_BOMBS.items(), *EXPRESSION_BOMBS.items()]:
        started = time.perf_counter()
        try:
            if name in SCRIPT_BOMBS:
                compile_script(source).run({})
            else:
                compile_expression(source).evaluate({"x": 5})
            outcome = "NOT STOPPED"
        except ExpressionError as exc:
            outcome = str(exc).split(" in expression")[0][:70]
        took = time.perf_counter() - started
        slowest = max(slowest, took)
        print(f"{took:7.3f} s  {name:50}  {outcome}")
    for name, content in (("420k-entry zip", crafted_zip(420_000)), ("60k-entry zip", crafted_zip(60_000)),
                          ("zip claiming 12 GB unpacked", crafted_zip(3, unpacked=0xFFFFFFF0))):
        started = time.perf_counter()
        try:
            documents.inspect("a.zip", content)
            outcome = "NOT STOPPED"
        except documents.DocumentRefused as exc:
            outcome = str(exc)
        took = time.perf_counter() - started
        slowest = max(slowest, took)
        print(f"{took:7.3f} s  {name:50}  {outcome}")
    print(f"slowest: {slowest:.3f} s")
    return 0 if slowest < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
