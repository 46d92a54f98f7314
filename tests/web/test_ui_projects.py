"""Projects: the list with its fields, filters and exports, the project page with its live diagram,
the dashboard and its SVG charts; who sees what; every new UI string has its English."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401

from conftest import deploy_files
from engine import charts, clock, documents, projects, services
from engine.models import UserTask
from engine.projects import ProjectFilter, Viewer

PDF = b"%PDF-1.4\n%%EOF\n"
SUBJECTS = {"anonymous": None, "other_unit": "health_zhao", "other_bureau": "drc_zhang", "right": "edu_li",
            "auditor": "auditor_sun", "admin": "admin_zhou"}
REPO = Path(__file__).resolve().parents[2]
ALL = Viewer("office_chen", ("office",), sees_all=True)


def _complete(db, instance_id: int, element: str, user: str, groups: list[str], data: dict | None = None) -> int:
    with db.write() as session:
        task = session.scalars(select(UserTask).where(UserTask.instance_id == instance_id, UserTask.element_id == element,
                                                      UserTask.state == "ready")).one()
        services.complete_task(session, task.id, user=user, groups=groups, data=data or {})
        return task.id


def _start(db, key: str, user: str, **variables) -> int:
    with db.write() as session:
        return services.start_process(session, "feasibility_ui", business_key=key, variables=variables, user=user).id


@pytest.fixture
def portfolio(db, app, frozen_clock):
    """A (2026-03-02): edu's feasibility study under review by the consultant (due 03-23) and the office
    (due 03-16), its report uploaded. B (03-16): health's project in construction (a `stage`
    variable) with budget and spend, plan year 2025, its unit's task due 03-30."""
    deploy_files(db, "feasibility_ui.bpmn")
    a = _start(db, "P-A", "edu_li", unit="edu", project_name="智慧教育云平台", category="software",
               estimated_budget=1280000, plan_year=2026)
    with db.write() as session:
        submit = session.scalars(select(UserTask).where(UserTask.instance_id == a)).one()
        document = documents.add(session, a, filename="可研报告.pdf", content=PDF, user="edu_li", task_id=submit.id,
                                 field="report").id
    _complete(db, a, "submit_feasibility", "edu_li", ["unit:edu"], {"report_title": "智慧教育云平台可研", "necessity": "需要"})
    clock.advance(timedelta(days=14))  # B starts two weeks later: its deadline comes later
    b = _start(db, "P-B", "health_zhao", unit="health", project_name="全民健康档案系统", category="infrastructure",
               stage="construction", approved_budget=500000, spend=200000.5, plan_year=2025)
    return {"a": a, "b": b, "document": document}


def _client_for(app, name):
    client = app.test_client()
    if name:
        assert login(client, name).status_code == 302
    else:
        client.get("/login")
    return client


# --- access ------------------------------------------------------------------------------------

GET_MATRIX = {
    "/projects/": dict(anonymous=302, other_unit=200, other_bureau=200, right=200, auditor=200, admin=200),
    "/projects/export.csv": dict(anonymous=302, other_unit=200, other_bureau=200, right=200, auditor=200, admin=200),
    "/projects/export.xlsx": dict(anonymous=302, other_unit=200, other_bureau=200, right=200, auditor=200, admin=200),
    "/projects/{a}": dict(anonymous=302, other_unit=403, other_bureau=403, right=200, auditor=200, admin=200),
    "/projects/{a}/diagram.svg": dict(anonymous=302, other_unit=403, other_bureau=403, right=200, auditor=200,
                                      admin=200),
    "/projects/{a}/documents/{document}": dict(anonymous=302, other_unit=403, other_bureau=403, right=200,
                                               auditor=200, admin=200),
    "/projects/999999": dict(anonymous=302, other_unit=404, other_bureau=404, right=404, auditor=404, admin=404),
}


@pytest.mark.parametrize("route", list(GET_MATRIX))
@pytest.mark.parametrize("subject", list(SUBJECTS))
def test_access(app, portfolio, route, subject):
    response = _client_for(app, SUBJECTS[subject]).get(route.format(**portfolio))
    assert response.status_code == GET_MATRIX[route][subject]
    if subject == "anonymous":
        assert "/login" in response.headers["Location"]


# The dashboard is the office's and the leading group's (auditors and administrators read it too).
DASHBOARD = {"anonymous": (None, 302), "other_unit": ("edu_li", 403), "other_bureau": ("drc_zhang", 403),
             "right": ("office_chen", 200), "leading_group": ("leader_gao", 200), "auditor": ("auditor_sun", 200),
             "admin": ("admin_zhou", 200)}


@pytest.mark.parametrize("subject", list(DASHBOARD))
def test_dashboard_access(app, db, portfolio, subject):
    from engine import users
    with db.write() as session:
        users.add_user(session, "leader_gao", "correct-horse-7", bureaus=["leading_group"], roles=[])
    name, status = DASHBOARD[subject]
    client = _client_for(app, name)
    assert client.get("/dashboard").status_code == status
    if name:
        assert ('href="/dashboard"' in client.get("/projects/").get_data(as_text=True)) == (status == 200)


def test_a_document_of_another_project_is_not_found_there(app, portfolio):
    client = _client_for(app, "auditor_sun")
    assert client.get(f"/projects/{portfolio['b']}/documents/{portfolio['document']}").status_code == 404


# --- the list ----------------------------------------------------------------------------------

def test_the_list_shows_each_projects_fields(app, portfolio):
    text = text_of(_client_for(app, "office_chen").get("/projects/"))
    for shown in ("P-A", "智慧教育云平台", "旗教育体育局", "软件开发及购买", "可行性研究报告", "办理中",
                  "第三方评估", "第三方咨询机构", "技术审查", "领导小组办公室（旗大数据中心）",
                  "P-B", "全民健康档案系统", "旗卫生健康委员会", "电子政务基础设施", "建设实施",
                  "¥500,000.00", "¥200,000.50", "共 2 条"):
        assert shown in text, shown


def _codes(db, name: str, groups: list[str]) -> list[str]:
    with db.read() as session:
        return [p.code for p in projects.projects(session, Viewer(name, tuple(groups)))]


def test_each_official_sees_only_their_projects(app, db, portfolio):
    assert _codes(db, "edu_li", ["unit:edu"]) == ["P-A"]
    assert _codes(db, "health_zhao", ["unit:health"]) == ["P-B"]
    assert _codes(db, "drc_zhang", ["drc"]) == []
    _complete(db, portfolio["a"], "consultant_evaluation", "c", ["consultant"], {"evaluation": "pass"})
    _complete(db, portfolio["a"], "office_review", "o", ["office"], {"construction_mode": "self"})
    assert _codes(db, "drc_zhang", ["drc"]) == ["P-A"]  # offered to drc now
    text = text_of(_client_for(app, "edu_li").get("/projects/"))
    assert "P-A" in text and "P-B" not in text


def test_stage_status_and_overdue_come_from_variables_and_tasks(db, portfolio, frozen_clock):
    with db.read() as session:
        found = {p.code: p for p in projects.projects(session, ALL)}
    assert found["P-A"].stage == "feasibility"  # no variable: the process name says it
    assert found["P-B"].stage == "construction"
    assert [t.name for t in found["P-A"].next_tasks] == ["技术审查", "第三方评估"]  # by due date
    assert not found["P-A"].overdue
    clock.advance(timedelta(days=10))
    with db.read() as session:
        found = {p.code: p for p in projects.projects(session, ALL)}
    assert found["P-A"].overdue and not found["P-B"].overdue


@pytest.mark.parametrize("query, codes", [
    ("unit=edu", ["P-A"]), ("stage=construction", ["P-B"]), ("q=健康", ["P-B"]), ("q=p-a", ["P-A"]),
    ("year=2025", ["P-B"]), ("category=software", ["P-A"]), ("status=completed", []), ("status=open", ["P-B", "P-A"]),
    ("process=feasibility_ui&status=running", ["P-B", "P-A"]),
])
def test_filters(app, portfolio, query, codes):
    text = text_of(_client_for(app, "office_chen").get(f"/projects/?{query}"))
    assert [code for code in ("P-B", "P-A") if code in text] == codes


def test_the_category_filter_offers_each_category_of_the_project_diagram_once(app):
    """运维服务 was offered twice: a second code (`operations`) no diagram writes had the same label."""
    page = _client_for(app, "office_chen").get("/projects/").get_data(as_text=True)
    select_ = re.search(r'<select name="category">(.*?)</select>', page, re.S).group(1)
    offered = re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', select_)
    diagram = (REPO / "bpmn/project.bpmn").read_text(encoding="utf-8")
    field = re.search(r'<camunda:formField id="category".*?</camunda:formField>', diagram, re.S).group(0)
    assert offered == re.findall(r'<camunda:value id="(\w+)" name="([^"]+)"', field)


def test_the_overdue_filter(app, portfolio, frozen_clock):
    client = _client_for(app, "office_chen")
    assert "没有符合筛选条件的项目" in text_of(client.get("/projects/?overdue=1"))
    clock.advance(timedelta(days=10))
    client = _client_for(app, "office_chen")  # ten days on, the idle session has ended: log in again
    text = text_of(client.get("/projects/?overdue=1"))
    assert "P-A" in text and "P-B" not in text and "逾期" in text


def _more_projects(db, frozen_clock, count: int) -> None:
    for n in range(count):  # one a minute, newest last: P-M00 … ; even ones edu's, odd ones health's
        frozen_clock.advance(timedelta(minutes=1))
        _start(db, f"P-M{n:02d}", "edu_li" if n % 2 == 0 else "health_zhao", unit="edu" if n % 2 == 0 else "health",
               project_name=f"项目{n}", category="software")


def test_the_list_is_read_a_page_at_a_time(app, db, portfolio, frozen_clock):
    """27 more projects: the office's list shows 25, newest first, then the rest on page 2; a filter
    on the variables (unit) pages the projects that pass it."""
    _more_projects(db, frozen_clock, 27)
    client = _client_for(app, "office_chen")
    first, second = text_of(client.get("/projects/")), text_of(client.get("/projects/?page=2"))
    newest = [f"P-M{n:02d}" for n in range(26, 1, -1)]  # 25 of them
    assert all(code in first for code in newest) and "P-M01" not in first and "P-A" not in first
    assert "共 29 条，第 1 / 2 页" in first and "下一页" in first
    assert all(code in second for code in ("P-M01", "P-M00", "P-B", "P-A")) and "P-M02" not in second
    assert "下一页" not in second and "上一页" in second
    assert "共 29 条，第 2 / 2 页" in text_of(client.get("/projects/?page=9"))  # past the end: the last page
    with db.read() as session:
        edu = projects.page_of(session, ALL, ProjectFilter(unit="edu"), 1, 10)
        assert [p.code for p in edu.rows] == [f"P-M{n:02d}" for n in range(26, 6, -2)]
        assert edu.more and edu.total == 15
        last = projects.page_of(session, ALL, ProjectFilter(unit="edu"), 2, 10)
        assert [p.code for p in last.rows] == ["P-M06", "P-M04", "P-M02", "P-M00", "P-A"] and not last.more
        assert last.total == 15
        assert projects.page_of(session, Viewer("health_zhao", ("unit:health",)), ProjectFilter(), 1, 5).total == 14
    text = text_of(client.get("/projects/?unit=edu"))
    assert "共 15 条，第 1 / 1 页" in text and "P-M26" in text and "P-A" in text and "P-M25" not in text


def _instance_ids(parameters) -> list[int]:
    """The integers among a statement's parameters (SQLite: one per id of an IN list; psycopg: a list)."""
    values = parameters.values() if isinstance(parameters, dict) else parameters
    flat = [v for value in values for v in (value if isinstance(value, (list, tuple)) else [value])]
    return [v for v in flat if isinstance(v, int) and not isinstance(v, bool)]


@pytest.mark.parametrize("query, codes, described", [
    ("year=2025", ["P-B"], 1),  # P-A's plan year is another; the others started in 2026
    ("year=2026", ["P-D02", "P-D01", "P-D00"] + [f"P-M{n:02d}" for n in range(26, 4, -1)], 25),  # page 1 of 2
    ("stage=construction", ["P-B"], 1),  # not the three whose `stage` names another stage
    ("stage=design", ["P-D02", "P-D01", "P-D00"], 3),  # P-B's `stage` names another one
    ("overdue=1", [], 0),  # nothing is due yet
])
def test_filters_page_in_sql_and_read_the_tasks_of_the_page_only(app, db, portfolio, frozen_clock, query, codes,
                                                                described):
    """A filter on the stage, the year or overdue tasks is answered in SQL (the stage and plan year
    kept on the instance row): the tasks are read (to show the next steps) of the page's projects
    only (was: of every project whose row let it pass, 200 rows at a time)."""
    from test_inbox_plans import statements_of
    _more_projects(db, frozen_clock, 27)
    for n in range(3):
        _start(db, f"P-D{n:02d}", "edu_li", unit="edu", project_name=f"设计{n}", stage="design")
    client = _client_for(app, "office_chen")
    with statements_of(db) as seen:
        text = text_of(client.get(f"/projects/?{query}"))
    next_tasks = [parameters for statement, parameters in seen if "user_task.instance_id IN (" in statement
                  and "user_task.state" in statement and "ORDER BY" in statement]
    assert sum(len(_instance_ids(parameters)) for parameters in next_tasks) == described
    listed = re.findall(r"P-[A-Z]\d*", text)
    assert [code for code in dict.fromkeys(listed) if code in codes] == codes and set(listed) <= set(codes)


def test_the_list_page_reads_by_index(app, db, portfolio, frozen_clock):
    """The page of an official's list walks the root instances' started-at index in order (no sort of
    every visible instance) and checks each row's visibility on that instance's own task rows
    (no list of every task the official's bureaus were ever offered)."""
    from test_inbox_plans import plan_of, statements_of
    _more_projects(db, frozen_clock, 3)
    client = _client_for(app, "edu_li")
    with statements_of(db) as seen:
        assert "P-M02" in text_of(client.get("/projects/"))
    listed = [(statement, parameters) for statement, parameters in seen
              if "ORDER BY process_instance.started_at DESC" in statement]
    assert listed
    for statement, parameters in listed:
        plan = " | ".join(plan_of(db, statement, parameters))
        assert "ix_process_instance_root_started" in plan, plan
        if db.is_sqlite:
            assert "TEMP B-TREE" not in plan and "LIST SUBQUERY" not in plan, plan
            assert not any(line.startswith(("SCAN user_task", "SCAN task_candidate")) for line in plan.split(" | ")), plan
        else:
            assert "Seq Scan" not in plan and "Sort" not in plan, plan


def test_csv_export_is_excel_readable_and_quotes_formulas(app, db, portfolio):
    _start(db, "P-C", "edu_li", unit="edu", project_name="=HYPERLINK(\"http://x\")", category="om")
    response = _client_for(app, "office_chen").get("/projects/export.csv?unit=edu")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["项目编号", "项目名称", "建设单位", "项目类别"]
    by_code = {row[0]: row for row in rows[1:]}
    assert set(by_code) == {"P-A", "P-C"}
    assert by_code["P-A"][2] == "旗教育体育局" and by_code["P-A"][8] == "技术审查；第三方评估"
    assert by_code["P-C"][1] == "'=HYPERLINK(\"http://x\")"


def test_xlsx_export_has_typed_amounts(app, db, portfolio):
    from openpyxl import load_workbook
    _start(db, "P-C", "edu_li", unit="edu", project_name="=1+2 项目", category="om")
    response = _client_for(app, "auditor_sun").get("/projects/export.xlsx")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "项目编号" and rows[0][6] == "批复概算（元）"
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code["P-B"][6] == 500000 and by_code["P-B"][7] == 200000.5
    assert by_code["P-C"][1] == "'=1+2 项目"


# --- one project -------------------------------------------------------------------------------

def _approve(db, instance_id):
    _complete(db, instance_id, "consultant_evaluation", "consultant_wu", ["consultant"],
              {"evaluation": "pass", "evaluation_opinion": "同意"})
    _complete(db, instance_id, "office_review", "office_chen", ["office"], {"construction_mode": "unified"})
    _complete(db, instance_id, "drc_approval", "drc_zhang", ["drc"], {"decision": "approve", "approved_budget": 1150000})


def test_the_diagram_shows_where_the_project_stands(db, portfolio):
    with db.read() as session:
        highlight = projects.diagram_highlight(session, services.instance(session, portfolio["a"]))
    assert {"start", "submit_feasibility", "split"} <= highlight.completed
    assert highlight.active == {"consultant_evaluation", "office_review"}
    assert highlight.taken_flows == {"f1", "f2", "f3", "f4"}
    _approve(db, portfolio["a"])
    with db.read() as session:
        highlight = projects.diagram_highlight(session, services.instance(session, portfolio["a"]))
    assert highlight.active == set()
    assert {"consultant_evaluation", "office_review", "join", "drc_approval", "end_approved"} <= highlight.completed
    assert {"f5", "f6", "f7", "f8", "f_approve"} <= highlight.taken_flows  # both branches into the join
    assert not {"f_reject", "f_revise"} & highlight.taken_flows


def test_the_diagram_is_an_svg_with_the_position_painted(app, portfolio):
    response = _client_for(app, "edu_li").get(f"/projects/{portfolio['a']}/diagram.svg")
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert "<script" not in svg
    assert re.search(r'class="[^"]*\bactive\b[^"]*"[^>]*data-element-id="consultant_evaluation"', svg) or \
        re.search(r'data-element-id="consultant_evaluation"[^>]*class="[^"]*\bactive\b', svg)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_project_page_has_stages_decisions_documents_and_the_diagram(app, db, portfolio):
    _approve(db, portfolio["a"])
    text = text_of(_client_for(app, "edu_li").get(f"/projects/{portfolio['a']}"))
    for shown in ("P-A", "已办结", "可行性研究报告", "提交可行性研究报告", "第三方评估", "技术审查", "发改委批复",
                  "评估结论", "建议通过", "建设方式", "统一建设", "批复结论", "批复同意", "¥1,150,000.00",
                  "可研报告.pdf", "流程已结束，没有待办任务", "2026-03-02"):
        assert shown in text, shown
    page = _client_for(app, "edu_li").get(f"/projects/{portfolio['a']}").get_data(as_text=True)
    assert f'src="/projects/{portfolio["a"]}/diagram.svg"' in page
    assert f'href="/projects/{portfolio["a"]}/documents/{portfolio["document"]}"' in page


def test_a_current_task_links_only_for_whoever_may_open_it(app, portfolio):
    office = _client_for(app, "office_chen").get(f"/projects/{portfolio['a']}").get_data(as_text=True)
    assert office.count('href="/tasks/') == 2
    unit = _client_for(app, "edu_li").get(f"/projects/{portfolio['a']}").get_data(as_text=True)
    assert 'href="/tasks/' not in unit.split('id="current"')[1].split("</section>")[0]


# --- the dashboard -----------------------------------------------------------------------------

def test_dashboard_figures(db, portfolio, frozen_clock):
    clock.advance(timedelta(days=10))
    with db.read() as session:
        figures = projects.dashboard(session, ALL)
    assert figures.total == 2 and figures.open == 2 and figures.overdue_tasks == 2
    assert figures.per_stage == [("feasibility", 1), ("construction", 1)]
    assert figures.overdue_per_bureau == [("consultant", 1), ("office", 1)]
    assert [(y, float(a), float(s)) for y, a, s in figures.budget_per_year] == [(2025, 500000.0, 200000.5)]


def test_dashboard_page_draws_accessible_charts_without_scripts_or_styles(app, portfolio, frozen_clock):
    clock.advance(timedelta(days=10))
    page = _client_for(app, "office_chen").get("/dashboard").get_data(as_text=True)
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 3
    for svg in svgs:
        assert 'role="img"' in svg and "aria-labelledby" in svg and "<title" in svg and "<desc" in svg
        assert "<style" not in svg and "<script" not in svg and "style=" not in svg
    text = text_of(_client_for(app, "office_chen").get("/dashboard"))
    for shown in ("在办项目各阶段分布", "各部门逾期任务", "各年度批复概算与已支出", "第三方咨询机构", "2025", "50 万"):
        assert shown in text, shown


def test_chart_text_is_escaped_and_steps_are_round():
    svg = charts.bar_chart("c", "<标题>", [("<script>alert(1)</script>", 3)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert charts.nice_step(1150000) == 500000 and charts.nice_step(7) == 2 and charts.nice_step(0) == 1
    assert "暂无" in charts.bar_chart("e", "t", [], empty="暂无")
    grouped = charts.grouped_bar_chart("g", "t", ["2025", "2026"], [("批复", [5, 10]), ("支出", [1, 0])])
    assert grouped.count('class="bar"') == 4 and 'url(#g-hatch)' in grouped


# --- translations ------------------------------------------------------------------------------

TRANSLATIONS = REPO / "web/translations"


def _extracted() -> dict[tuple[str, object], object]:
    """Every message of the code as `make messages` extracts it (babel.cfg; pybabel's keywords and
    NP_ for pgettext's context): (msgid, context) -> the message (a tuple for a plural), by where."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(REPO / "babel.cfg", encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = {}
    for source, _line, message, _comments, context in extract_from_dir(
            str(REPO), method_map, options_map, keywords={**DEFAULT_KEYWORDS, "NP_": ((1, "c"), 2)}):
        found.setdefault((message if isinstance(message, str) else message[0], context), (source, message))
    return found


def _catalog(path: Path, locale: str | None = None):
    from babel.messages.pofile import read_po

    with open(path, "rb") as handle:
        return read_po(handle, locale=locale)


def test_every_string_of_the_ui_has_its_english():
    """Every message Babel extracts (babel.cfg: web/, forms/, the templates) has an English
    translation, so an official who switches to English never meets an untranslated one."""
    catalog = _catalog(TRANSLATIONS / "en/LC_MESSAGES/messages.po", "en")
    missing = []
    for (text, context), (source, _message) in _extracted().items():
        entry = catalog.get(text, context=context)
        if entry is None or not entry.string or (isinstance(entry.string, tuple) and not all(entry.string)):
            missing.append(f"{source}: {text}")
    assert not missing, "no English for:\n" + "\n".join(missing)


def test_the_catalogues_hold_the_strings_of_the_code_and_chinese_is_their_source():
    """messages.pot held 295 of the code's 700-odd strings and zh_CN 465, copies of their msgids: the
    template `make messages` writes holds every string of the code and no other, the en and zh_CN
    catalogues hold its entries, and the zh_CN ones are empty: the msgid is the Chinese shown
    (gettext shows it as it is), so it is changed where it is written, in one place."""
    def entries(catalog) -> dict:
        return {(m.id if isinstance(m.id, str) else m.id[0], m.context): m.id for m in catalog if m.id}

    code = {key: message for key, (_source, message) in _extracted().items()}
    template = entries(_catalog(TRANSLATIONS / "messages.pot"))
    assert sorted(set(code) - set(template), key=str) == [], "not in messages.pot: run `make messages`"
    assert sorted(set(template) - set(code), key=str) == [], "in messages.pot, no longer in the code"
    assert template == code  # plurals with their plural form
    for locale in ("en", "zh_CN"):
        catalog = _catalog(TRANSLATIONS / locale / "LC_MESSAGES/messages.po", locale)
        assert entries(catalog) == template, f"{locale}: run `make messages`"
    chinese = [m.id for m in _catalog(TRANSLATIONS / "zh_CN/LC_MESSAGES/messages.po", "zh_CN")
               if m.id and (m.string if isinstance(m.string, str) else any(m.string))]
    assert chinese == [], "zh_CN entries are empty: change the Chinese in the code"


def test_a_called_process_is_its_callers_project_and_its_tasks_name_their_called_instance(db, app):
    """A call's instance is no project of its own: the caller's page, the inbox, the admin page and
    the audit timeline name the called instance of its task; its own pages lead to its root."""
    deploy_files(db, "stage_review.bpmn", "prepare_then_review.bpmn")
    with db.write() as session:
        root = services.start_process(session, "prepare_then_review", business_key="P-CALL",
                                      variables={"unit": "edu", "project_name": "调用测试", "stage": "可研"},
                                      user="edu_li").id
    _complete(db, root, "prepare", "drc_zhang", ["drc"])
    with db.read() as session:
        (approve,) = services.tasks(session, instance_id=root)
        called = approve.called_instance_id
        assert [p.instance_id for p in projects.projects(session, ALL) if p.code == "P-CALL"] == [root]
    mark = f"子流程实例 {called}"
    drc = _client_for(app, "drc_zhang")
    assert mark in text_of(drc.get("/inbox/bureau"))
    assert mark in text_of(drc.get(f"/projects/{root}"))
    assert mark in text_of(drc.get(f"/projects/{called}"))  # the called instance's page is its project's
    admin = _client_for(app, "admin_zhou")
    page = text_of(admin.get(f"/admin/instances/{called}"))
    assert f"#{root}" in page and approve.name in page
    auditor = _client_for(app, "auditor_sun")
    assert auditor.get(f"/audit/instances/{called}").headers["Location"].endswith(f"/audit/instances/{root}")
    assert mark in text_of(auditor.get(f"/audit/instances/{root}"))


def test_a_project_without_tasks_says_which_timer_it_waits_for_and_when(db, app):
    """“流程正在等待” alone leaves the official guessing: the page names the timer and its due time."""
    deploy_files(db, "waits.bpmn")
    with db.write() as session:
        instance_id = services.start_process(session, "waits", business_key="P-2026-064", user="office_chen",
                                             variables={"unit": "edu", "project_name": "智慧教育云平台"}).id
    client = app.test_client()
    login(client, "office_chen")
    current = text_of(client.get(f"/projects/{instance_id}")).split("当前办理")[1].split("流程图与当前位置")[0]
    due = (clock.now() + timedelta(hours=1)).astimezone(clock.local_zone()).strftime("%Y-%m-%d %H:%M")
    assert "冷静期" in current and f"{due} 到期" in current
    post(client, "/lang", {"lang": "en", "next": "/"})
    assert f"Waiting for “冷静期”, due {due}" in text_of(client.get(f"/projects/{instance_id}"))
