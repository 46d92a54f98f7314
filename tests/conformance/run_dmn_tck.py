"""Run the DMN TCK (compliance levels 2 and 3) through the engine's public DMN API.

    python tests/conformance/run_dmn_tck.py            # run, log, check against passing.txt
    python tests/conformance/run_dmn_tck.py --update   # also rewrite passing.txt with today's passes

Each model folder's .dmn files are read with engine.xmlsafe.parse_xml and engine.dmn.parse_dmn
(as a deployment does) and each test case's result nodes are evaluated with
engine.dmn.evaluate_decision (as a business rule task and the REST evaluate endpoint do).
Results are compared by the TCK's rules: numbers equal to 34 digits or within 1e-8, lists and
contexts structurally, nulls equal; an `errorResult` node passes when evaluation gives null or an
error.  A test case passes when every result node does.

The TCK is found at ../shared/conformance/dmn-tck beside the repository (DALAD_DMN_TCK overrides).
Prints `dmn-tck level-N: passed P of T`, writes the per-case log to test-artifacts/dmn-tck.log and
exits 1 when a case listed in tests/conformance/passing.txt no longer passes.
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from lxml import etree  # noqa: E402

from engine import clock, dmn, feel  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.xmlsafe import parse_xml  # noqa: E402

TC = "{http://www.omg.org/spec/DMN/20160719/testcase}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
LEVELS = ("compliance-level-2", "compliance-level-3")
PASSING = Path(__file__).with_name("passing.txt")
LOG = REPO / "test-artifacts" / "dmn-tck.log"


def tck_root() -> Path:
    return Path(os.environ.get("DALAD_DMN_TCK") or REPO.parent / "shared" / "conformance" / "dmn-tck")


# ----------------------------------------------------------------------------- values in test files


def read_value(el: etree._Element) -> Any:
    """A test file's value element (value, component list or list) as a Python value."""
    value = el.find(f"{TC}value")
    if value is not None:
        return _scalar(value)
    components = el.findall(f"{TC}component")
    if components:
        return {c.get("name"): read_value(c) for c in components}
    items = el.find(f"{TC}list")
    if items is not None:
        return [read_value(item) for item in items.findall(f"{TC}item")]
    return None


def _scalar(el: etree._Element) -> Any:
    if el.get(f"{XSI}nil") == "true":
        return None
    kind = (el.get(f"{XSI}type") or "").split(":")[-1]
    text = el.text or ""
    if kind in ("decimal", "double", "integer", "int", "long", "float"):
        return Decimal(text.strip())
    if kind == "boolean":
        return text.strip() == "true"
    if kind == "date":
        return feel.parse_date(text)
    if kind == "dateTime":
        return feel.parse_date_time(text)
    if kind == "time":
        return feel.parse_time(text)
    if kind == "duration":
        return feel.parse_duration(text)
    return text


# ----------------------------------------------------------------------------- comparison


def same(actual: Any, expected: Any) -> bool:
    """The TCK's rule: numbers to 34 digits or within 1e-8; lists and contexts structurally."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, Decimal):
        if isinstance(actual, bool) or not isinstance(actual, (int, float, Decimal)):
            return False
        try:
            got = Decimal(str(actual)) if isinstance(actual, float) else Decimal(actual)
            with localcontext() as ctx:
                ctx.prec = 34
                if +got == +expected:
                    return True
            return abs(got - expected) <= Decimal("1e-8")
        except InvalidOperation:
            return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            same(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and actual.keys() == expected.keys() and all(
            same(actual[k], expected[k]) for k in expected)
    if isinstance(expected, datetime):
        return isinstance(actual, datetime) and clock.aware(actual) == clock.aware(expected) and \
            clock.aware(actual).utcoffset() == clock.aware(expected).utcoffset()
    if isinstance(expected, date):
        return type(actual) is date and actual == expected
    if isinstance(expected, time):
        return isinstance(actual, time) and actual == expected and actual.utcoffset() == expected.utcoffset()
    if isinstance(expected, (timedelta, feel.YearsMonths, str)):
        return type(actual) is type(expected) and actual == expected
    return actual == expected


def show(value: Any) -> str:
    return feel.describe(value)


# ----------------------------------------------------------------------------- running


def load_model(folder: Path) -> tuple[dict[str, dmn.Decision], list[str]]:
    """Every .dmn file of the folder parsed as one bundle: decisions by name and by id."""
    trees = {}
    for path in sorted(folder.glob("*.dmn")):
        trees[path.name] = parse_xml(path.read_bytes(), path.name)
    decisions, problems = dmn.parse_dmn_bundle(trees)
    return {d.id: d for d in decisions}, [str(p) for p in problems]


def run_case(decisions: dict[str, dmn.Decision], model_file: str, case: etree._Element) -> list[str]:
    """The failures of one test case (empty when it passes)."""
    inputs = {node.get("name"): read_value(node) for node in case.findall(f"{TC}inputNode")}
    invocable = case.get("invocableName")
    failures = []
    for node in case.findall(f"{TC}resultNode"):
        name = invocable or node.get("name")
        expected_el = node.find(f"{TC}expected")
        expected = read_value(expected_el) if expected_el is not None else None
        decision = dmn.find_decision(decisions, name, model_file)
        if decision is None:
            failures.append(f"{node.get('name')}: no decision or decision service named {name!r}")
            continue
        try:
            actual = dmn.evaluate_decision(decisions, decision.id, inputs).value
        except (EngineError, RecursionError) as exc:
            if node.get("errorResult") == "true":
                continue
            failures.append(f"{node.get('name')}: error {exc}")
            continue
        if invocable and isinstance(actual, dict) and len(decision.service_outputs) > 1:
            actual = actual.get(node.get("name"))  # a service's several outputs, each a result node
        if node.get("errorResult") == "true" and actual is None:
            continue
        if not same(actual, expected):
            failures.append(f"{node.get('name')}: expected {show(expected)}, got {show(actual)}")
    return failures


def run_level(root: Path, level: str, log: list[str]) -> tuple[set[str], int]:
    passed: set[str] = set()
    total = 0
    for folder in sorted(p for p in (root / "TestCases" / level).iterdir() if p.is_dir()):
        try:
            decisions, problems = load_model(folder)
        except EngineError as exc:
            decisions, problems = {}, [str(exc)]
        for test_file in sorted(folder.glob("*-test-*.xml")):
            cases_root = etree.parse(str(test_file)).getroot()
            model_file = cases_root.findtext(f"{TC}modelName") or ""
            for case in cases_root.findall(f"{TC}testCase"):
                total += 1
                key = f"{level}/{folder.name}/{test_file.name}#{case.get('id')}"
                if problems:
                    failures = ["model refused: " + problems[0]]
                else:
                    try:
                        failures = run_case(decisions, model_file, case)
                    except ValueError as exc:  # a value of the test file Python cannot hold (year -2017)
                        failures = [f"test value not readable: {exc}"]
                if failures:
                    log.append(f"FAIL {key}: " + "; ".join(failures))
                else:
                    passed.add(key)
                    log.append(f"PASS {key}")
    return passed, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite passing.txt with the cases that pass")
    args = parser.parse_args(argv)
    root = tck_root()
    if not (root / "TestCases").is_dir():
        print(f"DMN TCK not found at {root} (set DALAD_DMN_TCK)", file=sys.stderr)
        return 2
    log: list[str] = []
    passed: set[str] = set()
    for level in LEVELS:
        level_passed, total = run_level(root, level, log)
        passed |= level_passed
        print(f"dmn-tck {level.replace('compliance-', '')}: passed {len(level_passed)} of {total}")
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text("\n".join(log) + "\n", encoding="utf-8")
    print(f"per-case log: {LOG.relative_to(REPO)}")
    kept = set(PASSING.read_text(encoding="utf-8").splitlines()) - {""} if PASSING.exists() else set()
    lost = sorted(kept - passed)
    if args.update:
        PASSING.write_text("".join(f"{key}\n" for key in sorted(passed | kept if lost else passed)),
                           encoding="utf-8")
    if lost:
        print(f"{len(lost)} case(s) in {PASSING.relative_to(REPO)} no longer pass:", file=sys.stderr)
        for key in lost[:50]:
            print(f"  {key}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
