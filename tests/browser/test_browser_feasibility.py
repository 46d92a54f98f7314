"""The feasibility study through the real UI in headless Chromium: the unit starts the project and
submits its report with the required attachments (after correcting a validation error); the
consultant and the office see it in their inboxes and each claims and completes its review; an
official of another bureau cannot open the drc's task; the drc approves; the project page, the
list, the dashboard and the user administration show the result. No page logs a console error.
"""
from __future__ import annotations

import re

from sqlalchemy import select

from browser_support import ARTIFACTS, browser, live_server, officials  # noqa: F401
from engine.models import ProcessInstance, UserTask

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _ready_task(live_server, element_id: str) -> int:
    with live_server.db.read() as session:
        return session.scalar(select(UserTask.id).where(UserTask.element_id == element_id,
                                                        UserTask.state == "ready").order_by(UserTask.id.desc()))


def _upload(page, material_label: str, path) -> None:
    page.select_option("#materials .upload select[name=material]", label=material_label)
    page.set_input_files("#materials input[name=files]", str(path))
    page.get_by_role("button", name="上传材料").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() == 1, page.locator(".flashes").inner_text()


def _claim_and_complete(official, live_server, element_id: str, fill, shot: str) -> None:
    """Find the task in the bureau inbox, open it, claim it, fill the form and complete it."""
    page = official.page
    official.goto("/inbox/bureau")
    task_id = _ready_task(live_server, element_id)
    link = page.locator(f"a[href='/tasks/{task_id}']")
    assert link.count() == 1, f"task {element_id} is not in {official.name}'s bureau inbox"
    link.click()
    page.get_by_role("button", name="签收", exact=True).click()
    page.wait_for_load_state()
    assert "已签收" in page.locator(".flashes").inner_text()
    fill(page)
    official.shot(shot)
    page.get_by_role("button", name="提交办结").click()
    page.wait_for_url(re.compile(r".*/inbox/.*"))
    assert "已办结" in page.locator(".flashes").inner_text()


def test_feasibility_study_from_submission_to_approval(officials, live_server, tmp_path):
    files = {}
    for name in ("可行性研究报告.pdf", "密码应用方案.pdf", "安全可靠产品说明.pdf"):
        files[name] = tmp_path / name
        files[name].write_bytes(PDF)

    # The unit starts the project from the start page.
    unit = officials("edu_li", screenshot_login="01-login")
    page = unit.page
    page.get_by_role("link", name="发起流程").click()
    assert page.get_by_role("heading", name="可行性研究报告报审").count() == 1
    unit.shot("02-start-list")
    page.get_by_role("link", name="发起", exact=True).click()
    page.fill("#f-business_key", "P-2026-017")
    page.fill("#f-project_name", "智慧教育云平台")
    page.select_option("#f-category", "software")
    page.fill("#f-estimated_budget", "1,280,000")
    unit.shot("03-start-form")
    page.get_by_role("button", name="发起流程").click()
    page.wait_for_url(re.compile(r".*/tasks/\d+$"))
    assert page.get_by_role("heading", name="提交可行性研究报告").count() == 1

    # Attachments first (each upload reloads the page), then a form with mistakes, then the fix.
    _upload(page, "可行性研究报告", files["可行性研究报告.pdf"])
    _upload(page, "密码应用方案", files["密码应用方案.pdf"])
    _upload(page, "安全可靠产品说明", files["安全可靠产品说明.pdf"])
    assert page.locator(".checklist .missing").count() == 0
    page.fill("#f-report_title", "可研")
    page.fill("#f-necessity", "整合全旗中小学教学资源，接入政务云和信息资源共享平台。")
    page.fill("#f-estimated_budget", "一百万")
    with unit.console.expecting(r"status of 422"):
        page.get_by_role("button", name="提交办结").click()
        page.wait_for_load_state()
        assert "需要更正" in page.locator(".flash-error").inner_text()
        assert "至少输入 4 个字符" in page.locator("#f-report_title-error").inner_text()
        assert "请输入金额" in page.locator("#f-estimated_budget-error").inner_text()
        assert page.input_value("#f-necessity").startswith("整合全旗")  # nothing typed is lost
        unit.shot("04-validation-error")
    page.fill("#f-report_title", "智慧教育云平台可行性研究报告")
    page.fill("#f-estimated_budget", "1,280,000.00")
    page.get_by_role("button", name="提交办结").click()
    page.wait_for_url(re.compile(r".*/inbox/.*"))
    assert "已办结" in page.locator(".flashes").inner_text()

    # The consultant's and the office's inboxes both show the new reviews.
    consultant = officials("consultant_wu")
    consultant.goto("/inbox/bureau")
    assert consultant.page.get_by_role("link", name="第三方评估").count() == 1
    assert "P-2026-017" in consultant.page.locator("table.tasks").inner_text()
    consultant.shot("05-consultant-inbox")
    office = officials("office_chen")
    office.goto("/inbox/bureau")
    assert office.page.get_by_role("link", name="技术审查").count() == 1
    office.shot("06-office-inbox")

    def consultant_form(p):
        p.select_option("#f-evaluation", "pass")
        p.fill("#f-evaluation_opinion", "资源共享分析充分，网络安全与密码方案符合要求。")
    _claim_and_complete(consultant, live_server, "consultant_evaluation", consultant_form, "07-consultant-task")

    def office_form(p):
        p.select_option("#f-construction_mode", "self")
        p.fill("#f-office_opinion", "同意自行建设，须接入政务云。")
    _claim_and_complete(office, live_server, "office_review", office_form, "08-office-task")

    # An official of another bureau cannot open the drc's task.
    drc_task = _ready_task(live_server, "drc_approval")
    finance = officials("finance_liu")
    with finance.console.expecting(r"status of 403"):
        response = finance.goto(f"/tasks/{drc_task}")
        assert response.status == 403
        assert finance.page.get_by_role("heading", name="无权访问").count() == 1
        finance.shot("09-other-bureau-refused")

    drc = officials("drc_zhang")

    def drc_form(p):
        p.select_option("#f-decision", "approve")
        p.fill("#f-approved_budget", "1,150,000")
        p.fill("#f-drc_opinion", "同意批复，核定概算 115 万元。")
    _claim_and_complete(drc, live_server, "drc_approval", drc_form, "10-drc-task")

    # The project page: finished, every stage dated, the diagram drawn with the path taken.
    with live_server.db.read() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.business_key == "P-2026-017")).one()
    unit.goto("/projects/")
    assert "P-2026-017" in page.locator("table.projects").inner_text()
    unit.shot("11-project-list")
    page.get_by_role("link", name="智慧教育云平台").click()
    page.wait_for_url(re.compile(rf".*/projects/{instance.id}$"))
    assert "已办结" in page.locator(".task-head .badges").inner_text()
    assert "¥1,150,000.00" in page.locator(".facts").first.inner_text()
    assert "批复同意" in page.locator("#casefile").inner_text()
    assert page.locator("#documents table.docs tbody tr").count() == 3
    diagram = page.locator("#diagram .bpmn-viewer.is-ready")  # bpmn-js, with the path taken marked
    diagram.scroll_into_view_if_needed()
    assert diagram.locator(".djs-element.is-done").count() > 3
    unit.shot("12-project-page")

    # The dashboard for the leading group, and the user administration.
    leader = officials("leader_gao")
    leader.page.get_by_role("link", name="统计看板").click()
    assert leader.page.locator("svg.chart").count() == 3
    assert "¥1,150,000.00" in leader.page.locator(".kpis").inner_text()
    leader.shot("13-dashboard")
    admin = officials("admin_zhou")
    admin.page.get_by_role("link", name="用户管理").click()
    assert admin.page.get_by_role("link", name="edu_li").count() == 1
    admin.shot("14-admin-users")
    assert (ARTIFACTS / "12-project-page.png").exists()
