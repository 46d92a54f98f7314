"""Refused deployments: every problem named by file, line and element, all of them in one error,
and nothing stored."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import DIAGRAMS
from engine import services
from engine.definitions import BundleFile
from engine.errors import DefinitionInvalid
from engine.models import Deployment, HistoryEvent, ProcessDefinition, Resource

REVIEW = (DIAGRAMS / "review.bpmn").read_text(encoding="utf-8")
WAITS = (DIAGRAMS / "waits.bpmn").read_text(encoding="utf-8")


def edited(text: str, old: str, new: str, count: int = -1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


def line_of(text: str, fragment: str) -> int:
    """1-based line of the first line containing `fragment`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in the diagram")


def refused(db, files: dict[str, str]) -> DefinitionInvalid:
    """Deploy `files` (name -> text); return the refusal, after checking nothing was stored."""
    def stored(session):
        return [session.scalar(select(func.count()).select_from(m))
                for m in (Deployment, Resource, ProcessDefinition, HistoryEvent)]

    with db.read() as session:
        before = stored(session)
    with pytest.raises(DefinitionInvalid) as caught:
        with db.write() as session:
            services.deploy(session, [BundleFile(n, t.encode("utf-8")) for n, t in files.items()],
                            name="refused", user="admin")
    with db.read() as session:
        assert stored(session) == before
    return caught.value


def problems_of(error: DefinitionInvalid, file: str):
    return [p for p in error.problems if p.file == file]


def test_unparsable_condition_is_located_at_its_gateway_and_names_the_flow(db):
    text = edited(REVIEW, "${amount &gt;= 1000}", "${amount &gt;=}")
    line = line_of(text, '<bpmn:exclusiveGateway id="amount_gateway"')
    error = refused(db, {"review.bpmn": text})
    message = str(error)
    assert f"review.bpmn:{line} element 'amount_gateway' (exclusiveGateway)" in message
    [problem] = [p for p in error.problems if "f_large" in p.message]
    assert (problem.line, problem.element_id) == (line, "amount_gateway")
    assert "condition" in problem.message and "parse" in problem.message


def test_garbage_timer_duration_is_located_at_its_timer_event(db):
    text = edited(WAITS, "PT1H", "PTsoon")
    line = line_of(text, '<bpmn:intermediateCatchEvent id="cooling_off"')
    error = refused(db, {"waits.bpmn": text})
    assert f"waits.bpmn:{line} element 'cooling_off' (intermediateCatchEvent)" in str(error)
    [problem] = problems_of(error, "waits.bpmn")
    assert "timeDuration" in problem.message and "PTsoon" in problem.message


def test_sequence_flow_without_id_is_located_by_line(db):
    text = edited(REVIEW, '<bpmn:sequenceFlow id="f3" ', "<bpmn:sequenceFlow ")
    line = line_of(text, '<bpmn:sequenceFlow sourceRef="office_review"')
    error = refused(db, {"review.bpmn": text})
    [problem] = [p for p in error.problems if p.line == line]
    assert problem.element_type == "sequenceFlow"
    assert "no id" in problem.message
    assert f"review.bpmn:{line}" in str(error)


def test_malformed_xml_is_located_by_line_and_column(db):
    text = edited(REVIEW, "</bpmn:userTask>", "</bpmn:userTsk>", 1)
    line = line_of(text, "</bpmn:userTsk>")
    column = text.splitlines()[line - 1].index("</bpmn:userTsk>") + len("</bpmn:userTsk>")
    error = refused(db, {"review.bpmn": text})
    [problem] = error.problems
    assert (problem.file, problem.line) == ("review.bpmn", line)
    assert problem.column is not None and abs(problem.column - column) <= 1
    assert f"review.bpmn:{line}" in str(error)
    assert "malformed XML" in problem.message


def test_file_without_executable_process_is_refused(db):
    text = edited(REVIEW, 'isExecutable="true"', 'isExecutable="false"')
    error = refused(db, {"review.bpmn": text})
    [problem] = error.problems
    assert problem.file == "review.bpmn" and problem.line is not None
    assert "the process is not executable" in problem.message


def test_doctype_with_external_entity_is_refused_without_reading_it(db):
    text = edited(REVIEW, "?>\n", '?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n', 1)
    text = edited(text, 'name="项目审查"', 'name="&xxe;"')
    error = refused(db, {"review.bpmn": text})
    [problem] = error.problems
    assert (problem.file, problem.line) == ("review.bpmn", 2)
    assert "DOCTYPE" in problem.message
    assert "root:" not in str(error)


def test_every_problem_of_a_bundle_is_listed_in_one_refusal(db):
    files = {
        "review.bpmn": edited(REVIEW, "${amount &gt;= 1000}", "${amount &gt;=}"),
        "waits.bpmn": edited(WAITS, "PT1H", "PTsoon"),
        "broken.bpmn": edited(REVIEW, "</bpmn:userTask>", "</bpmn:userTsk>", 1),
        "dead.bpmn": edited(REVIEW, 'isExecutable="true"', 'isExecutable="false"'),
    }
    error = refused(db, files)
    assert {p.file for p in error.problems} == set(files)
    message = str(error)
    assert "amount_gateway" in message and "f_large" in message
    assert "cooling_off" in message and "timeDuration" in message
    assert "malformed XML" in message
    assert "the process is not executable" in message
