"""How long each evaluator bomb of tests/engine/test_bounded_work.py runs before it fails at a limit
(issue 10 §3: each must end within a second). Run alone: `.venv/bin/python bench/evaluator_bombs.py`."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine"))

from engine.errors import ExpressionError  # noqa: E402
from engine.expressions import compile_expression  # noqa: E402
from engine.scripts import compile_script  # noqa: E402
from test_bounded_work import EXPRESSION_BOMBS, SCRIPT_BOMBS  # noqa: E402


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
    print(f"slowest: {slowest:.3f} s")
    return 0 if slowest < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
