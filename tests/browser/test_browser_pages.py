"""The project list, a project under review, the dashboard (also in English), the start page and
the user administration in headless Chromium, on a handful of projects: each page renders its
parts, the exports download, and no page logs a console error."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select, update

from browser_support import browser, live_server, officials  # noqa: F401
from engine import clock, inbox, services
from engine.models import TaskCandidate, UserTask

SEED = [  # code, name, unit, category, year, approved, spent, stage variable
    ("P-2025-003", "政务云资源扩容", "edu", "infrastructure", 2025, 2400000, 2100000, "acceptance"),
    ("P-2025-011", "城市运行指挥中心", "health", "software", 2025, 5600000, 3900000, "construction"),
    ("P-2026-002", "全民健康档案系统", "health", "software", 2026, 1800000, 300000, "design"),
    ("P-2026-009", "校园安全视频联网", "edu", "om", 2026, None, None, None),
]


def _seed(live_server) -> int:
    """Projects in several stages and years; the last one's reviews are overdue. Its id."""
    db = live_server.db
    last = None
    for code, name, unit, category, year, approved, spent, stage in SEED:
        variables = {"unit": unit, "project_name": name, "category": category, "plan_year": year}
        variables.update({k: v for k, v in (("approved_budget", approved), ("spend", spent), ("stage", stage)) if v})
        with db.write() as session:
            last = services.start_process(session, "feasibility_ui", business_key=code, variables=variables,
                                          user=f"{unit}_official").id
    with db.write() as session:
        task = session.scalars(select(UserTask).where(UserTask.instance_id == last, UserTask.state == "ready")).one()
        services.complete_task(session, task.id, user="edu_li", groups=["unit:edu"],
                               data={"report_title": "校园安全视频联网可研", "necessity": "需要"})
        late = clock.now() - timedelta(days=3)  # as a due date the diagram gave: its inbox order key too
        ids = session.scalars(select(UserTask.id).where(UserTask.instance_id == last, UserTask.state == "ready")).all()
        session.execute(update(UserTask).where(UserTask.id.in_(ids)).values(due_at=late, due_key=inbox.due_key(late)))
        session.execute(update(TaskCandidate).where(TaskCandidate.task_id.in_(ids)).values(due_key=inbox.due_key(late)))
    return last


def test_projects_dashboard_start_and_users_pages(officials, live_server):
    under_review = _seed(live_server)
    office = officials("office_chen")
    page = office.page

    page.get_by_role("link", name="项目", exact=True).click()
    rows = page.locator("table.projects tbody tr")
    assert rows.count() == len(SEED)
    assert page.locator("tr.due-overdue").count() == 1
    office.shot("20-project-list-office")
    page.check("input[name=overdue]")
    page.get_by_role("button", name="筛选").click()
    assert rows.count() == 1 and "校园安全视频联网" in rows.first.inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    exported = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert [row[0] for row in exported[1:]] == ["P-2026-009"]
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 Excel").click()
    assert download.value.suggested_filename.endswith(".xlsx")

    office.goto(f"/projects/{under_review}")
    assert page.locator("#current tbody tr").count() == 2
    viewer = page.locator("#diagram .bpmn-viewer.is-ready")  # bpmn-js, the current reviews marked
    viewer.scroll_into_view_if_needed()
    assert viewer.locator(".djs-element.is-active").count() == 2
    office.shot("21-project-under-review")

    page.get_by_role("link", name="统计看板").click()
    assert page.locator("svg.chart").count() == 3
    assert page.locator("#chart-overdue .bar").count() == 2  # the consultant and the office
    assert page.locator("#chart-budget .bar").count() == 4  # two years, two series
    office.shot("22-dashboard")
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Dashboard").count() == 1
    assert "Open projects by stage" in page.locator("body").inner_text()
    office.shot("23-dashboard-english")
    page.get_by_role("button", name="中文").click()

    drc = officials("drc_zhang")
    drc.page.get_by_role("link", name="发起流程").click()
    assert "暂无您可以发起的流程" in drc.page.locator(".empty").inner_text()

    admin = officials("admin_zhou")
    admin.goto("/admin/users/health_zhao")
    admin.page.check("input[name=bureaus][value='unit:edu']")
    admin.page.get_by_role("button", name="保存").click()
    admin.page.wait_for_load_state()
    assert "已保存" in admin.page.locator(".flashes").inner_text()
    admin.shot("24-admin-user-edit")


def test_a_client_resetting_a_static_file_request_leaves_no_file_open(live_server):
    """Chromium cancels the favicon as it navigates: the connection is reset while the test server
    answers. The open file must be closed then, not left to the garbage collector (its
    ResourceWarning failed a browser test now and then)."""
    import gc
    import socket
    import struct
    import sys
    import time

    left_open = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: left_open.append(str(unraisable.exc_value))
    try:
        for attempt in range(40):
            client = socket.create_connection(("127.0.0.1", live_server.server.server_port))
            client.sendall(b"GET /static/favicon.svg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            if attempt % 2:
                time.sleep(0.002)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close by reset
            client.close()
        time.sleep(1)  # the server's threads see the resets
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert left_open == []
