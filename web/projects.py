"""Projects: the list (with CSV / Excel export), one project's page with its live diagram, and the
dashboard of the office and the leading group.

Who sees which project (engine/projects.py): the office, the leading group, auditors and
administrators see every one; anyone else the projects of their unit, the ones they started,
and the ones with a task that was offered to them or their bureau. The dashboard is for the
office and the leading group (and auditors and administrators, who read everything).
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Optional

from flask import Blueprint, Response, abort, current_app, g, render_template, request, send_file
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from engine import bureaus, charts, clock, documents, projects as queries
from engine.audit import element_names
from engine.errors import EngineError
from engine.models import ProcessDefinition, ProcessInstance, Resource
from engine.projects import ProjectFilter, Viewer
from engine.rendering import render_svg

from . import N_, bad_request, casefile, database, security
from .auth import CurrentUser, bureau_names
from .i18n import local_time
from .tasks import CATEGORIES, STAGES, display_names, engine_error, may_see as may_see_task

bp = security.protect(Blueprint("projects", __name__))
PER_PAGE = 25
FIRST_YEAR, LAST_YEAR = 1901, 2999  # the plan years engine.projects reads
DASHBOARD_GROUPS = ("office", "leading_group")
STATUSES = {"running": N_("办理中"), "waiting": N_("等待中"), "suspended": N_("已暂停"), "incident": N_("异常"),
            "completed": N_("已办结"), "terminated": N_("已终止")}
STATUS_FILTERS = {"open": N_("未办结"), **STATUSES}


def viewer_of(user: CurrentUser) -> Viewer:
    return Viewer(user.name, tuple(user.groups),
                  sees_all=user.reads_everything or bool({"office", "leading_group"} & set(user.groups)))


def sees_dashboard(user: Optional[CurrentUser]) -> bool:
    return user is not None and (user.reads_everything or bool(set(DASHBOARD_GROUPS) & set(user.groups)))


# --- labels ------------------------------------------------------------------------------------

def stage_label(stage: Optional[str]) -> str:
    if not stage:
        return _("未标明阶段")
    return _(STAGES[stage]) if stage in STAGES else stage


def category_label(category: Optional[str]) -> str:
    if not category:
        return ""
    return _(CATEGORIES[category]) if category in CATEGORIES else category


def status_label(status: str) -> str:
    return _(STATUSES[status]) if status in STATUSES else status


def unit_label(unit: Optional[str], names: dict) -> str:
    if not unit:
        return ""
    return names.get(f"{bureaus.UNIT_PREFIX}{unit}", unit)


# --- the list ----------------------------------------------------------------------------------

def filters_from(args) -> ProjectFilter:
    def text(name):
        return (args.get(name) or "").strip()[:200] or None
    status = text("status")
    return ProjectFilter(text=text("q"), unit=text("unit"), category=text("category"), stage=text("stage"),
                         status=status if status in STATUS_FILTERS else None, process=text("process"),
                         overdue=args.get("overdue") in ("1", "true", "on"), year=_year_filter(text("year")))


def _year_filter(text: Optional[str]) -> Optional[int]:
    """The year filter: a year between 1901 and 2999 (what a plan year may be); else a 400 naming it
    (year 1 or 9999 reached the database as a time before year 1 or after 9999: 500)."""
    if text is None:
        return None
    if text.isascii() and text.isdigit() and FIRST_YEAR <= int(text) <= LAST_YEAR:
        return int(text)
    bad_request(_("筛选条件“年度”应为 %(first)s 至 %(last)s 之间的年份，不能是“%(value)s”。",
                  first=FIRST_YEAR, last=LAST_YEAR, value=text))


def _listed(session):
    viewer = viewer_of(g.current_user)
    filters = filters_from(request.args)
    return viewer, filters, queries.projects(session, viewer, filters)


@bp.get("/projects/")
def index():
    """The projects the user may see, filtered, a page at a time."""
    viewer, filters, page = viewer_of(g.current_user), filters_from(request.args), _int(request.args.get("page"))
    with database().read() as session:
        found = queries.page_of(session, viewer, filters, page, PER_PAGE)
        if not found.rows and page > 1 and found.total:  # past the end: the list shrank, or a typed address
            found = queries.page_of(session, viewer, filters, -(-min(found.total, queries.COUNT_CAP) // PER_PAGE),
                                    PER_PAGE)
        choices = {**queries.filter_choices(session), "categories": list(CATEGORIES)}
        names = bureau_names(session)
    query_args = {k: v for k, v in request.args.items() if k != "page" and v}
    pages = -(-found.total // PER_PAGE) if found.total <= queries.COUNT_CAP else None
    return render_template("projects/index.html", found=found, rows=found.rows, pages=pages,
                           capped=found.total > queries.COUNT_CAP,
                           count_cap=queries.COUNT_CAP, filters=filters,
                           choices=choices, names=names, query_args=query_args, status_filters=STATUS_FILTERS)


def _int(value: Optional[str]) -> int:
    try:
        return max(1, min(int(value or 1), 100_000))
    except ValueError:
        return 1


def export_rows(found, names) -> tuple[list[str], list[list]]:
    """The header and rows of an export: what the list shows, one project a row."""
    header = [_("项目编号"), _("项目名称"), _("建设单位"), _("项目类别"), _("所处阶段"), _("状态"),
              _("批复概算（元）"), _("已支出（元）"), _("下一步任务"), _("办理部门"), _("办理期限"), _("是否逾期"),
              _("所属流程"), _("年度"), _("发起时间"), _("投资项目统一代码")]
    rows = []
    for p in found:
        task = p.next_tasks[0] if p.next_tasks else None
        rows.append([
            p.code or "", p.name or "", unit_label(p.unit, names), category_label(p.category), stage_label(p.stage),
            status_label(p.status), p.approved_budget, p.spend,
            "；".join(t.name for t in p.next_tasks),
            "；".join(dict.fromkeys(names.get(gid, gid) for t in p.next_tasks for gid in t.groups)),
            local_time(task.due_at, "%Y-%m-%d") if task and task.due_at else "",
            _("是") if p.overdue else _("否"), p.process_name, p.year, local_time(p.started_at), p.unified_code or ""])
    return header, rows


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell_text(value) -> object:
    """A value for a spreadsheet cell: text that a spreadsheet would run as a formula is quoted."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@bp.get("/projects/export.csv")
def export_csv():
    with database().read() as session:
        _viewer, _filters, found = _listed(session)
        header, rows = export_rows(found, bureau_names(session))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else (f"{v:.2f}" if isinstance(v, Decimal) else _cell_text(v)) for v in row])
    data = ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8
    return _download(data, "text/csv; charset=utf-8", "csv")


@bp.get("/projects/export.xlsx")
def export_xlsx():
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    with database().read() as session:
        _viewer, _filters, found = _listed(session)
        header, rows = export_rows(found, bureau_names(session))
    book = Workbook()
    sheet = book.active
    sheet.title = _("项目清单")
    sheet.append(header)
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else _cell_text(v) for v in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1B4F8F")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    for column in (7, 8):
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = "#,##0.00"
    widths = (16, 30, 22, 16, 16, 10, 16, 16, 28, 24, 12, 10, 22, 8, 18)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return _download(out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")


def _download(data: bytes, mimetype: str, extension: str):
    name = f"dalad-projects-{clock.today():%Y%m%d}.{extension}"
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- one project -------------------------------------------------------------------------------

def _visible_project(session, instance_id: int) -> tuple[ProcessInstance, queries.Project]:
    row = session.get(ProcessInstance, instance_id)
    if row is None:
        abort(404)
    found = queries.project(session, viewer_of(g.current_user), instance_id)
    if found is None:
        abort(403)
    return row, found


@bp.get("/projects/<int:instance_id>")
def show(instance_id: int):
    """A project: facts, current tasks, the live diagram, stages, decisions and documents."""
    user = g.current_user
    with database().read() as session:
        row, found = _visible_project(session, instance_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        names = bureau_names(session)
        case = casefile.build(session, row, user)
        all_steps = case.steps
        docs = case.documents
        task_rows = {t.id: t for t in _task_rows(session, instance_id)}
        people = display_names(session, {s.completed_by for s in all_steps} | {d.uploaded_by for d in docs}
                                | {c.user_name for c in case.comments}
                                | {t.assignee for t in found.next_tasks} | {row.started_by})
        return render_template(
            "projects/show.html", project=found, instance=row, definition=definition, names=names,
            periods=queries.timeline(found, all_steps), case=case, documents=docs, people=people,
            openable={tid for tid, t in task_rows.items() if may_see_task(t, user)},
            timers=[] if found.next_tasks else _waiting_timers(session, row, definition))


def _waiting_timers(session, row: ProcessInstance, definition: ProcessDefinition) -> list[tuple[str, datetime]]:
    """(name, due) of the timers an instance without open tasks waits for, soonest first."""
    waits = [(element, datetime.fromisoformat(due)) for kind, _uuid, element, due in row.waits or [] if kind == "timer"]
    if not waits:
        return []
    names = element_names(session, definition)
    return sorted(((names.get(element) or element, due) for element, due in waits), key=lambda wait: wait[1])


def _task_rows(session, instance_id):
    from engine.models import UserTask
    return session.scalars(select(UserTask).where(UserTask.instance_id == instance_id))


@bp.get("/projects/<int:instance_id>/stages/<int:index>/approval-form")
def approval_form(instance_id: int, index: int):
    """The printable 审批表 of one stage of the 办件: its steps, opinions, 文号, dates, signatures."""
    return _approval_form_html(instance_id, index)


@bp.get("/projects/<int:instance_id>/stages/<int:index>/approval-form.pdf")
def approval_form_pdf(instance_id: int, index: int):
    """The same 审批表 as a PDF made on the server (WeasyPrint), with the print styles."""
    import weasyprint

    html = _approval_form_html(instance_id, index)
    pdf = weasyprint.HTML(string=html, base_url=request.host_url, url_fetcher=_static_only()).write_pdf()
    response = send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True, max_age=0,
                         download_name=f"approval-form-{instance_id}-{index + 1}.pdf")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _approval_form_html(instance_id: int, index: int) -> str:
    user = g.current_user
    with database().read() as session:
        row, found = _visible_project(session, instance_id)
        case = casefile.build(session, row, user)
        if index >= len(case.stages):
            abort(404)
        stage = case.stages[index]
        people = display_names(session, {e.completed_by for e in stage.entries})
        return render_template("projects/approval_form.html", project=found, stage=stage, case=case,
                               names=bureau_names(session), people=people, now=clock.now(), index=index)


def _static_only():
    """A WeasyPrint fetcher that reads the app's own static files from disk and nothing else (no
    request leaves the server)."""
    from pathlib import Path
    from urllib.parse import urlsplit

    import weasyprint.urls

    static = Path(current_app.static_folder).resolve()
    prefix = current_app.static_url_path + "/"

    class StaticOnly(weasyprint.urls.URLFetcher):
        def fetch(self, url, headers=None):
            path = urlsplit(url).path
            target = (static / path.removeprefix(prefix)).resolve()
            if not path.startswith(prefix) or static not in target.parents or not target.is_file():
                raise ValueError(f"not loaded: {url}")
            return weasyprint.urls.URLFetcherResponse(url, target.read_bytes(), {"Content-Type": "text/css"})

    return StaticOnly()


@bp.get("/projects/<int:instance_id>/diagram.svg")
def diagram(instance_id: int):
    """The project's diagram with where it stands: done, current, flows taken."""
    with database().read() as session:
        row, _found = _visible_project(session, instance_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        resource = session.get(Resource, definition.resource_id)
        svg = render_svg(resource.content, filename=resource.name, process_id=definition.key,
                         highlight=queries.diagram_highlight(session, row))
    response = Response(svg, mimetype="image/svg+xml")
    # The drawing styles itself with one <style> block; it runs no script and loads nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/projects/<int:instance_id>/diagram.bpmn")
def diagram_xml(instance_id: int):
    """The project's diagram as deployed, for the bpmn-js viewer of the page."""
    with database().read() as session:
        row, _found = _visible_project(session, instance_id)
        resource = session.get(Resource, session.get(ProcessDefinition, row.definition_id).resource_id)
        return Response(resource.content, mimetype="application/xml")


@bp.get("/projects/<int:instance_id>/diagram-state.json")
def diagram_state(instance_id: int):
    """Where the project stands, for the viewer's markers: done, current, waiting, flows taken, and
    how many times each step was done."""
    with database().read() as session:
        row, _found = _visible_project(session, instance_id)
        counts = Counter(step.element_id for step in queries.steps(session, instance_id) if step.state == "completed")
        return queries.diagram_highlight(session, row).as_dict(counts)


@bp.get("/projects/<int:instance_id>/documents/<int:document_id>")
def document(instance_id: int, document_id: int):
    """A document of a project, for whoever may see the project."""
    with database().read() as session:
        _visible_project(session, instance_id)
        found = documents.get(session, document_id)
        if found.instance_id != instance_id:
            abort(404)
        content, name, mimetype = found.content, found.filename, found.content_type
    response = send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- the dashboard -----------------------------------------------------------------------------

@bp.get("/dashboard")
def dashboard():
    """Projects per stage, overdue tasks per bureau, budgets approved and spent per year."""
    user = g.current_user
    if not sees_dashboard(user):
        abort(403)
    with database().read() as session:
        figures = queries.dashboard(session, viewer_of(user))
        names = bureau_names(session)
    stage_bars = [(stage_label(stage), count) for stage, count in figures.per_stage]
    bureau_bars = [(names.get(group, group) or _("未指定部门"), count) for group, count in figures.overdue_per_bureau]
    years = [str(year) for year, _a, _s in figures.budget_per_year]
    approved = [float(a) for _y, a, _s in figures.budget_per_year]
    spent = [float(s) for _y, _a, s in figures.budget_per_year]
    charts_svg = {
        "stages": charts.bar_chart(
            "chart-stages", _("在办项目各阶段分布"), stage_bars, empty=_("暂无在办项目"),
            desc=_("各阶段在办项目数：%(items)s", items="；".join(f"{l} {n}" for l, n in stage_bars) or "—"),
            value_text=lambda v: _("%(n)s 个", n=int(v)), width=560),
        "overdue": charts.bar_chart(
            "chart-overdue", _("各部门逾期任务"), bureau_bars, empty=_("没有逾期任务"), color="#c0392b",
            desc=_("各部门逾期未办结的任务数：%(items)s", items="；".join(f"{l} {n}" for l, n in bureau_bars) or "—"),
            value_text=lambda v: _("%(n)s 项", n=int(v)), width=560),
        "budget": charts.grouped_bar_chart(
            "chart-budget", _("各年度批复概算与已支出"), years, [(_("批复概算"), approved), (_("已支出"), spent)],
            empty=_("暂无预算数据"), value_text=_wan, axis_text=_wan, width=960,
            desc=_("按年度的批复概算与已支出（万元）：%(items)s", items="；".join(
                f"{y} {_wan(a)} / {_wan(s)}" for y, a, s in zip(years, approved, spent)) or "—")),
    }
    return render_template("projects/dashboard.html", figures=figures, stage_bars=stage_bars,
                           bureau_bars=bureau_bars, charts={k: Markup(v) for k, v in charts_svg.items()},
                           now=clock.now())


def _wan(value: float) -> str:
    """An amount in 万元 for the charts (the unit budget officials read)."""
    text = f"{value / 10000:,.1f}"
    return _("%(n)s 万", n=text[:-2] if text.endswith(".0") else text)


bp.register_error_handler(EngineError, engine_error)


VIEWER = "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"  # copied there by `make vendor`


def bpmn_viewer_installed() -> bool:
    """Whether the bpmn-js viewer is in the static files (else pages show the drawn image only)."""
    from pathlib import Path

    return (Path(current_app.static_folder) / VIEWER).is_file()


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["bpmn_viewer_installed"] = bpmn_viewer_installed
    app.jinja_env.globals.update(stage_label=stage_label, category_label=category_label, status_label=status_label,
                                 unit_label=unit_label)
    app.context_processor(lambda: {"sees_dashboard": sees_dashboard(g.get("current_user"))})
