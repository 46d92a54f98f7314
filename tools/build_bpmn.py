"""Write bpmn/*.bpmn from the descriptions in tools/diagrams/ (run: .venv/bin/python tools/build_bpmn.py).

The generated files are what administrators open and change in Camunda Modeler; after such a
change the file, not the description, is the source.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "diagrams"))
sys.path.insert(0, str(HERE))

DIAGRAMS = ["stage_review", "overdue_alert", "project_launch", "project", "plan_submission", "annual_plan", "supervision",
            "om_funding", "planning", "plan_change", "year_end_reports", "quarterly_summary"]


def main(names: list[str]) -> int:
    for name in names or DIAGRAMS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"skip {name}: no description yet")
                continue
            raise
        target = REPO / "bpmn" / f"{name}.bpmn"
        target.write_text(module.build().xml(), encoding="utf-8")
        print(f"wrote {target.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
