"""An official of the office on a phone (390 px wide) in headless Chromium: the top bar keeps the
language switch and 退出 on one line each, the bureau named in the task header stays inside its
column, and a refused form brings its first field to correct into view, below the long 办件.
Screenshots 40-… in test-artifacts/browser/."""
from __future__ import annotations

from sqlalchemy import select

from browser_support import PASSWORD, browser, live_server, officials  # noqa: F401
from engine import services, users
from engine.models import UserTask

PHONE = {"width": 390, "height": 844}


def _office_review(live_server) -> int:
    """A project whose unit submitted its report: the office's 技术审查 is ready. Its id."""
    db = live_server.db
    with db.write() as session:  # an official whose name is as long as the demo office's
        users.add_user(session, "office_duty", PASSWORD, bureaus=["office"], roles=[],
                       profile=users.Profile(first_name="领导小组办公室（旗大数据中心）值班员"))
    with db.write() as session:
        instance_id = services.start_process(session, "feasibility_ui", business_key="P-2026-390", user="edu_li",
                                             variables={"unit": "edu", "project_name": "智慧教育云平台",
                                                        "category": "software", "estimated_budget": 1280000}).id
    with db.write() as session:
        task = session.scalars(select(UserTask).where(UserTask.instance_id == instance_id,
                                                      UserTask.state == "ready")).one()
        services.complete_task(session, task.id, user="edu_li", groups=["unit:edu"],
                               data={"report_title": "智慧教育云平台可行性研究报告", "necessity": "整合教学资源"})
    with db.read() as session:
        return session.scalars(select(UserTask.id).where(UserTask.instance_id == instance_id,
                                                         UserTask.element_id == "office_review")).one()


def _lines(page, selector: str) -> int:
    """How many lines the text of the element takes."""
    return page.locator(selector).first.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set(Array.from(r.getClientRects()).map(b => Math.round(b.top))).size; }")


def test_an_office_official_on_a_phone(officials, live_server):
    task_id = _office_review(live_server)
    office = officials("office_duty")
    page = office.page
    page.set_viewport_size(PHONE)
    office.goto("/inbox/bureau")
    assert _lines(page, ".lang .lang-current") == 1 and _lines(page, ".topbar button:has-text('退出')") == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    office.shot("40-phone-inbox")

    page.locator(f"a[href='/tasks/{task_id}']").click()
    page.get_by_role("button", name="签收", exact=True).click()
    page.wait_for_load_state()
    overflowing = page.locator(".task-head .facts dd, .task-head .badges").evaluate_all(
        "cells => cells.flatMap(cell => Array.from(cell.querySelectorAll('.tag'))"
        ".filter(tag => tag.getBoundingClientRect().right > cell.getBoundingClientRect().right + 1)"
        ".map(tag => tag.textContent.trim()))")
    assert overflowing == [], "tags running out of their column: %s" % overflowing
    office.shot("41-phone-task")

    page.fill("#f-office_opinion", "同意自行建设，须接入政务云。")
    with office.console.expecting(r"status of 422"):
        page.get_by_role("button", name="提交办结").click()
        page.wait_for_load_state()
        assert "此项为必填项" in page.locator("#f-construction_mode-error").inner_text()
        field = page.locator("#f-construction_mode")
        assert field.evaluate("e => e === document.activeElement")
        box = field.bounding_box()
        assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box
        assert page.input_value("#f-office_opinion") == "同意自行建设，须接入政务云。"
        office.shot("42-phone-refused-form", full_page=False)
    page.select_option("#f-construction_mode", "self")
    page.get_by_role("button", name="提交办结").click()
    page.wait_for_url("**/inbox/**")
    assert "已办结" in page.locator(".flashes").inner_text()
