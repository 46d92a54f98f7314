"""The dashboard's figures and the project list at scale: the figures come from SQL aggregates over
the columns each step keeps on the instance row (engine/project_columns.py) and equal what reading
every project computes; a dashboard or a filtered list page runs as many statements and reads as
many rows whatever the number of projects."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from test_ui_fixtures import app, client, login, text_of  # noqa: F401

from engine import clock, projects, services
from engine.definitions import BundleFile
from engine.models import ProcessDefinition, ProcessInstance, UserTask
from engine.project_columns import STAGES, amount, stage_of_text
from engine.projects import Viewer
from web.i18n import money

ALL = Viewer("office_chen", ("office",), sees_all=True)
EDU = Viewer("edu_li", ("unit:edu",))

# A project path whose name names no stage: its tasks name one (the second by a variable), it waits
# for a message with no task open, and ends with a task that names none.
MIX = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_mix" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="portfolio_mix" name="\xe9\xa1\xb9\xe7\x9b\xae\xe7\xbb\x84\xe5\x90\x88" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="draft_proposal" name="\xe7\xbc\x96\xe5\x88\xb6\xe9\xa1\xb9\xe7\x9b\xae\xe5\xbb\xba\xe8\xae\xae\xe4\xb9\xa6" camunda:candidateGroups="${groups}" camunda:dueDate="${due}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="next_step" name="${task_title}" camunda:candidateGroups="office, drc" camunda:dueDate="${due}">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:intermediateCatchEvent id="await_funds"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:messageEventDefinition id="MsgDef_funds" messageRef="Message_funds" /></bpmn:intermediateCatchEvent>
    <bpmn:userTask id="recheck" name="\xe5\xa4\x8d\xe6\xa0\xb8" camunda:candidateGroups="office">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="draft_proposal" />
    <bpmn:sequenceFlow id="f2" sourceRef="draft_proposal" targetRef="next_step" />
    <bpmn:sequenceFlow id="f3" sourceRef="next_step" targetRef="await_funds" />
    <bpmn:sequenceFlow id="f4" sourceRef="await_funds" targetRef="recheck" />
    <bpmn:sequenceFlow id="f5" sourceRef="recheck" targetRef="end" />
  </bpmn:process>
  <bpmn:message id="Message_funds" name="funds_released" />
</bpmn:definitions>
"""
# A process whose name names a stage (验收准备: acceptance), its one task none.
NAMED = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_named" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="named_prep" name="\xe9\xaa\x8c\xe6\x94\xb6\xe5\x87\x86\xe5\xa4\x87" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" name="\xe6\xa0\xb8\xe5\xaf\xb9" camunda:candidateGroups="unit:${unit}" camunda:dueDate="${due}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""

# (moment started, plan year variables, amounts, stage variable, second task's name, due date, groups)
STARTS = [datetime(2024, 12, 31, 23, 30), datetime(2025, 1, 1, 0, 30), datetime(2025, 7, 1, 9), datetime(2026, 3, 2, 9)]
YEARS = [{}, {"plan_year": 2025}, {"plan_year": "2027"}, {"plan_year": "abc", "year": 2024}, {"plan_year": 1800}]
AMOUNTS = [{}, {"approved_budget": 1800000, "spend": 200000.5}, {"approved_budget": "1,234.56"},
           {"approved_budget": 500000, "spent_total": 12.3}, {"approved_budget": True, "spend": "x"},
           {"approved_budget": 100, "spend": None, "spent_total": 50}]
ODD_AMOUNTS = [{"approved_budget": "0.001"}, {"approved_budget": 1e20, "spend": 1}, {"spend": "12.345"}]
STAGE_VARIABLES = [None, "design", "", "自定阶段"]
TITLES = ["签订合同", "整理材料", "初步设计评审", "资产移交"]
DUES = [None, "2026-04-01", "2026-09-01"]
GROUPS = ["unit:edu", "office, drc", "", "unit:health"]
# how far each goes: at its first task, at its second, waiting for the message, at its last task,
# completed, terminated, suspended
POSITIONS = ("first", "second", "waiting", "last", "completed", "terminated", "suspended")


def _deploy(db) -> None:
    with db.write() as session:
        services.deploy(session, [BundleFile("portfolio_mix.bpmn", MIX), BundleFile("named_prep.bpmn", NAMED)],
                        name="figures", user="admin")


def _work(db, instance_id: int, element: str) -> None:
    with db.write() as session:
        task = session.scalars(select(UserTask).where(UserTask.instance_id == instance_id, UserTask.element_id == element,
                                                      UserTask.state == "ready")).one()
        services.complete_task(session, task.id, user="office_chen", check_access=False)


def _seed(db, prefix: str, count: int, *, odd: bool = True, stages=STAGE_VARIABLES, years=YEARS,
          titles=TITLES) -> None:
    """`count` projects, each its own mix of start year, plan year, amounts, stage, tasks and position."""
    amounts = AMOUNTS + (ODD_AMOUNTS if odd else [])
    for n in range(count):
        unit = ("edu", "health")[n % 2]
        variables = {"unit": unit, "project_name": f"{prefix}项目{n}", **years[n % len(years)],
                     **amounts[n % len(amounts)], "task_title": titles[n % len(titles)], "due": DUES[n % len(DUES)],
                     "groups": GROUPS[n % len(GROUPS)]}
        if stages[n % len(stages)] is not None:
            variables["stage"] = stages[n % len(stages)]
        clock.set_time(STARTS[n % len(STARTS)] + timedelta(seconds=n))
        process = "named_prep" if n % 9 == 4 else "portfolio_mix"
        position = POSITIONS[n % len(POSITIONS)] if variables["groups"] or process == "named_prep" else "first"
        with db.write() as session:
            instance_id = services.start_process(session, process, business_key=f"{prefix}-{n:03d}",
                                                 variables=variables, user=f"{unit}_li").id
        if process == "named_prep":
            if position == "completed":
                _work(db, instance_id, "check")
        else:
            if position in ("second", "waiting", "last", "completed", "terminated"):
                _work(db, instance_id, "draft_proposal")
            if position in ("waiting", "last", "completed"):
                _work(db, instance_id, "next_step")
            if position in ("last", "completed"):
                with db.write() as session:
                    services.correlate_message(session, "funds_released", business_key=f"{prefix}-{n:03d}",
                                               user="office_chen")
            if position == "completed":
                _work(db, instance_id, "recheck")
        if position in ("terminated", "suspended"):
            with db.write() as session:
                getattr(services, "terminate" if position == "terminated" else "suspend")(
                    session, instance_id, user="admin", reason="测试")
    clock.set_time(datetime(2026, 6, 1, 9))  # some tasks overdue, some not


# --- what reading every project gives (the computation the dashboard made before) ---------------

def _every_project(session, viewer: Viewer) -> dict[str, dict]:
    """Each project `viewer` may see (by its code): whether open, its stage and year, amounts, and
    the candidate groups of its overdue tasks, read from its variables and tasks."""
    names = {}
    for key, name in session.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                                     .order_by(ProcessDefinition.version)):
        names[key] = name or key
    now = clock.now()
    found = {}
    for row in session.scalars(select(ProcessInstance).where(ProcessInstance.super_instance_id.is_(None),
                                                             projects._visible(viewer))):
        variables = row.variables or {}
        ready = session.scalars(select(UserTask).where(UserTask.instance_id == row.id, UserTask.state == "ready")).all()
        stage = (str(variables["stage"]) if variables.get("stage") not in (None, "") else None) \
            or stage_of_text(*(f"{t.name or t.element_id} {t.element_id}" for t in ready)) \
            or stage_of_text(names.get(row.process_key, row.process_key), row.process_key)
        if stage is None and not ready:
            done = session.scalars(select(UserTask).where(UserTask.instance_id == row.id, UserTask.state == "completed")
                                   .order_by(UserTask.completed_at, UserTask.id)).all()
            stage = stage_of_text(f"{done[-1].name or ''} {done[-1].element_id}") if done else None
        year = None
        for key in ("plan_year", "year"):
            try:
                year = int(str(variables.get(key)).strip())
            except (TypeError, ValueError):
                continue
            if 1900 < year < 3000:
                break
            year = None
        year = year or clock.aware(row.started_at).astimezone(clock.local_zone()).year
        found[row.business_key] = dict(
            open=row.status in projects.OPEN_STATUSES, stage=stage, year=year,
            approved=amount(variables.get("approved_budget")),
            spend=amount(variables.get("spend", variables.get("spent_total"))),
            overdue=[tuple(t.candidate_groups or ()) for t in ready if t.due_at and t.due_at < now])
    return found


def _reference(session, viewer: Viewer) -> projects.Dashboard:
    """The dashboard as the code before computed it: from every project read."""
    found = list(_every_project(session, viewer).values())
    opened = [p for p in found if p["open"]]
    by_stage = Counter(p["stage"] for p in opened)
    per_stage = [(s, by_stage[s]) for s in STAGES if by_stage[s]]
    per_stage += sorted(((s, n) for s, n in by_stage.items() if s not in STAGES and s is not None), key=lambda i: i[0])
    if by_stage[None]:
        per_stage.append((None, by_stage[None]))
    overdue = Counter(group for p in opened for groups in p["overdue"] for group in groups or ("",))
    budget = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for p in found:
        if p["approved"] is not None or p["spend"] is not None:
            budget[p["year"]][0] += p["approved"] or 0
            budget[p["year"]][1] += p["spend"] or 0
    return projects.Dashboard(
        per_stage=per_stage, overdue_per_bureau=sorted(overdue.items(), key=lambda i: (-i[1], i[0])),
        budget_per_year=[(year, *budget[year]) for year in sorted(budget)], total=len(found), open=len(opened),
        overdue_tasks=sum(len(p["overdue"]) for p in opened),
        approved_total=sum((p["approved"] or Decimal(0) for p in found), Decimal(0)),
        spent_total=sum((p["spend"] or Decimal(0) for p in found), Decimal(0)))


def _office(app):
    client = app.test_client()
    assert login(client, "office_chen").status_code == 302
    return client


def test_the_dashboard_figures_equal_what_reading_every_project_gives(app, db, frozen_clock):
    """Over projects of every kind (stage variables, stages named by tasks, by the process, by the
    last completed task; waiting, completed, terminated, suspended; plan years and start years across
    a new year's eve; amounts as numbers, text with commas, not numbers, fractions of a fen, too large;
    overdue tasks offered to two bureaus or none), the dashboard shows what reading them all gives."""
    _deploy(db)
    _seed(db, "F", 84)
    with db.read() as session:
        expected = _reference(session, ALL)
        assert projects.dashboard(session, ALL) == expected
        assert projects.dashboard(session, EDU) == _reference(session, EDU)  # a unit sees its own
    assert expected.total == 84 and 0 < expected.open < 84 and expected.overdue_tasks > 0
    assert {stage for stage, _n in expected.per_stage} >= {"proposal", "construction", "design", "acceptance", None}
    assert len(expected.budget_per_year) >= 4 and "" in dict(expected.overdue_per_bureau)
    page = _office(app).get("/dashboard").get_data(as_text=True)
    shown = re.findall(r'<span class="kpi-value[^"]*">([^<]*)</span>', page)
    assert shown == [str(expected.total), str(expected.open), str(expected.overdue_tasks),
                     money(expected.approved_total), money(expected.spent_total)]
    for year, approved, spent in expected.budget_per_year:
        assert f"<td>{year}</td><td class=\"num num-col\">{money(approved)}</td>" in page


def test_the_list_filters_equal_what_reading_every_project_gives(app, db, frozen_clock):
    """Each stage and year filter lists, in SQL, the projects whose stage and year read from their
    variables and tasks are those; each project shows that stage and year."""
    _deploy(db)
    _seed(db, "L", 42)
    with db.read() as session:
        every = _every_project(session, ALL)
        for stage in (*STAGES, "自定阶段"):
            listed = projects.page_of(session, ALL, projects.ProjectFilter(stage=stage), 1, 100).rows
            assert {p.code for p in listed} == {code for code, p in every.items() if p["stage"] == stage}, stage
        for year in (2024, 2025, 2026, 2027):
            listed = projects.page_of(session, ALL, projects.ProjectFilter(year=year), 1, 100).rows
            assert {p.code for p in listed} == {code for code, p in every.items() if p["year"] == year}, year
        shown = {p.code: (p.stage, p.year) for p in projects.projects(session, ALL)}
    assert shown == {code: (p["stage"], p["year"]) for code, p in every.items()}
    assert len({stage for stage, _year in shown.values()}) >= 6


class _Reads:
    """The SELECTs run meanwhile, and how many rows each gives back (run again to count them)."""

    def __init__(self, db):
        self.db, self.statements = db, []

    def __enter__(self):
        event.listen(self.db.engine, "before_cursor_execute", self._keep)
        return self

    def __exit__(self, *exc):
        event.remove(self.db.engine, "before_cursor_execute", self._keep)

    def _keep(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))

    def rows(self) -> int:
        with self.db.engine.connect() as conn:
            return sum(len(conn.exec_driver_sql(statement, parameters).all())
                       for statement, parameters in self.statements)


def _reads(app, db, path: str) -> tuple[int, int, str]:
    client = _office(app)
    with _Reads(db) as reads:
        page = client.get(path)
    assert page.status_code == 200
    return len(reads.statements), reads.rows(), page.get_data(as_text=True)


def test_a_dashboard_runs_the_same_statements_and_reads_the_same_rows_for_twice_the_projects(app, db,
                                                                                             frozen_clock):
    """Counts, not clocks: twice the projects, the same number of statements and of rows read back
    (was: every visible project's row and tasks)."""
    _deploy(db)
    _seed(db, "A", 28, odd=False)
    statements, rows, page = _reads(app, db, "/dashboard")
    _seed(db, "B", 28, odd=False)
    assert _reads(app, db, "/dashboard")[:2] == (statements, rows)
    with db.read() as session:
        assert projects.dashboard(session, ALL).total == 56


def test_a_filtered_list_page_reads_the_same_rows_for_more_projects(app, db, frozen_clock):
    """A page of the list filtered by stage or year reads its page's rows, however many projects the
    filter leaves out (was: every row in order, 200 at a time, until the page filled)."""
    _deploy(db)
    _seed(db, "A", 28, odd=False)
    before = {path: _reads(app, db, path)[:2] for path in ("/projects/?stage=design", "/projects/?year=2027")}
    _seed(db, "B", 28, odd=False, stages=[None, "", "自定阶段"], years=YEARS[:2] + YEARS[3:],
          titles=[t for t in TITLES if t != "初步设计评审"])  # none a design, none planned for 2027
    for path, counts in before.items():
        assert _reads(app, db, path)[:2] == counts, path


def test_the_dashboard_reads_indexes_only(app, db, frozen_clock):
    """The plan of each dashboard statement: no sequential read of the instance table; on SQLite its
    figures one pass over ix_process_instance_figures (no row read), the rows of odd amounts alone read."""
    from test_inbox_plans import plan_of
    _deploy(db)
    _seed(db, "A", 28)
    client = _office(app)
    if db.is_sqlite:  # the planner reads statistics of these rows (not ones a test before left, or none)
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    with _Reads(db) as reads:
        assert client.get("/dashboard").status_code == 200
    plans = [" | ".join(plan_of(db, statement, parameters)) for statement, parameters in reads.statements
             if "process_instance" in statement]
    if db.is_sqlite:
        assert any("COVERING INDEX ix_process_instance_figures" in plan for plan in plans), "\n".join(plans)
        for plan in plans:
            assert not re.search(r"SCAN process_instance(?! USING (COVERING INDEX|INDEX ix_process_instance_odd_amounts))",
                                 plan), plan
    else:  # (which index a table this small is read by follows its statistics: any, but by an index)
        assert not any("Seq Scan process_instance" in plan for plan in plans), "\n".join(plans)
