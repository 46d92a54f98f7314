"""Officials decide with the whole case in front of them (issue 12), on the real bpmn/ diagrams in
headless Chromium: the unit declares a project choosing its unit from a list (one 项目编号 field,
no called subprocess on the start page); cac returns the proposal and the unit sees why at the top
of its task; each reviewing bureau sees the unit's submission in the 办件 with the figures side by
side; cac's re-review opens without its earlier decision; a department does not open its plan
entry with another department's; the printable 审批表; a claimed task handed to a colleague.
Screenshots 30-… in test-artifacts/browser/.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from browser_support import DIAGRAMS, PASSWORD, browser, live_server, officials  # noqa: F401
from engine import services, users
from engine.definitions import BundleFile
from engine.models import ProcessInstance, UserTask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))
import scenario_support as real  # noqa: E402

MORE_OFFICIALS = {"cac_ma": ("马科长（网信办）", ["cac"]), "edu_wang": ("王老师", ["unit:edu"])}


@pytest.fixture(scope="module")
def diagrams(live_server):
    """The real bpmn/ and the plan-entry test diagram, and the officials the browser_support lacks."""
    real.deploy_all(live_server.db)
    with live_server.db.write() as session:
        services.deploy(session, [BundleFile("plan_entries.bpmn", (DIAGRAMS / "plan_entries.bpmn").read_bytes())],
                        name="browser tests", user="admin_zhou")
        for name, (display, groups) in MORE_OFFICIALS.items():
            users.add_user(session, name, PASSWORD, bureaus=groups, roles=[], profile=users.Profile(first_name=display))
    return live_server


def _ready(server, instance_id: int, element: str, group: str | None = None) -> int:
    with server.db.read() as session:
        found = [t.id for t in session.scalars(select(UserTask).where(
            UserTask.instance_id == instance_id, UserTask.element_id == element, UserTask.state == "ready"))
            if group is None or group in t.candidate_groups]
    assert len(found) == 1, (element, found)
    return found[0]


def _work(server, instance_id, group, element, data, user):
    with server.db.write() as session:
        services.complete_task(session, _ready(server, instance_id, element, group), user=user, data=data,
                               groups=[group])


def _plan_entries(server, departments: list[str]) -> int:
    """An instance of the plan-entry test diagram: one entry task per department."""
    with server.db.write() as session:
        return services.start_process(session, "plan_entries", variables={
            "departments": departments, "members": ["office"]}, user="office_chen").id


def _submit_entry(official, server, pid: int, name: str, amount: str, group: str | None = None) -> None:
    official.goto(f"/tasks/{_ready(server, pid, 'submit_entry', group)}")
    official.page.fill("#f-project_name", name)
    official.page.fill("#f-amount", amount)
    official.page.get_by_role("button", name="提交办结").click()
    official.page.wait_for_url(re.compile(r".*/inbox/.*"))


def test_the_case_is_in_front_of_each_reviewer(officials, diagrams):
    server = diagrams
    unit = officials("edu_li")
    page = unit.page

    # §3 the start page: processes started by hand only; one 项目编号; the unit from the list.
    page.get_by_role("link", name="发起流程").click()
    offered = page.locator("a[href^='/start/']").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "/start/project" in offered and "/start/stage_review" not in offered and "/start/plan_submission" not in offered
    unit.goto("/start/project")
    assert page.locator("label.label", has_text="项目编号").count() == 1
    assert page.locator("#f-unit").evaluate("s => s.tagName") == "SELECT"
    assert page.locator("#f-unit").input_value() == "edu"
    page.fill("#f-project_name", "智慧教育平台")
    page.select_option("#f-category", "software")
    page.select_option("#f-nature", "new")
    page.fill("#f-estimated_budget", "1,800,000")
    project_code = page.input_value("#f-project_id")
    unit.shot("30-start-project-unit-from-list")
    page.get_by_role("button", name="发起流程").click()
    page.wait_for_load_state()
    with server.db.read() as session:
        pid = session.scalars(select(ProcessInstance.id).where(ProcessInstance.business_key == project_code)).one()

    # The office confirms, the unit submits its proposal, the consultant and the office pass it, cac returns it.
    _work(server, pid, "office", "confirm_project_basis", {"in_plan": False, "emergency": False, "simple": False,
                                                           "cross_department": False, "classified": False,
                                                           "basis_opinion": "确认"}, "office_chen")
    _work(server, pid, "unit:edu", "submit_stage_document", real.SUBMISSION, "edu_li")
    _work(server, pid, "consultant", "evaluate_by_consultant", {
        "consultant_sharing_opinion": "共享分析充分", "consultant_security_opinion": "缺少等保测评安排",
        "consultant_conclusion": "recommend"}, "consultant_wu")
    _work(server, pid, "office", "technical_review", {"office_review_opinion": "技术路线可行", "construction_mode": "self",
                                                      "office_conclusion": "pass"}, "office_chen")
    _work(server, pid, "cac", "security_review", {"cac_review_opinion": "请补充等保三级测评方案",
                                                  "cac_conclusion": "revise"}, "cac_ma")

    # §1 the returned task says why at the top; §2 its form is not filled with the earlier text.
    unit.goto(f"/tasks/{_ready(server, pid, 'submit_stage_document')}")
    returned = page.locator("#returned")
    assert "请补充等保三级测评方案" in returned.inner_text() and "网络安全审查" in returned.inner_text()
    assert returned.bounding_box()["y"] < page.locator("#form").bounding_box()["y"]
    assert page.input_value("#f-necessity") == ""
    unit.shot("31-returned-task-reason-on-top")
    _work(server, pid, "unit:edu", "submit_stage_document", {**real.SUBMISSION, "investment_amount": 1950000}, "edu_li")

    # §1 the consultant sees the unit's submission labelled, by stage, with the figures.
    consultant = officials("consultant_wu")
    consultant.goto(f"/tasks/{_ready(server, pid, 'evaluate_by_consultant')}")
    case = consultant.page.locator("#casefile")
    text = case.inner_text()
    for shown in ("项目建议书", "建设必要性", "现有系统分散，需统一建设", "投资金额（元）", "¥1,950,000.00",
                  "请补充等保三级测评方案", "估算", "¥1,800,000.00"):
        assert shown in text, shown
    for raw in ("necessity", "investment_amount", "cac_conclusion", "{"):
        assert raw not in text, raw
    consultant.shot("32-casefile-consultant")
    _work(server, pid, "consultant", "evaluate_by_consultant", {
        "consultant_sharing_opinion": "已补充", "consultant_security_opinion": "已补充",
        "consultant_conclusion": "recommend"}, "consultant_wu")

    # §2 cac's re-review opens without its earlier 退回修改.
    cac = officials("cac_ma")
    cac.goto(f"/tasks/{_ready(server, pid, 'security_review')}")
    assert cac.page.input_value("#f-cac_conclusion") == "" and cac.page.input_value("#f-cac_review_opinion") == ""
    assert "请补充等保三级测评方案" in cac.page.locator("#casefile").inner_text()
    cac.shot("33-cac-re-review-empty-form")

    # §1 the printable 审批表 of the proposal stage.
    office = officials("office_chen")
    office.goto(f"/projects/{pid}")
    with office.page.expect_popup() as popup:
        office.page.get_by_role("link", name="打印审批表").last.click()
    form = popup.value
    form.wait_for_load_state()
    assert "项目建议书审批表" in form.locator("h1").inner_text()
    assert "经办人（签字）" in form.locator("table.approval-steps").inner_text()
    form.emulate_media(media="print")
    assert form.locator(".no-print").first.is_hidden()
    form.screenshot(path=str(office.shot("34-project-casefile").parent / "35-approval-form-print.png"), full_page=True)
    form.close()


def test_a_department_opens_its_own_entry_only(officials, diagrams):
    server = diagrams
    pid = _plan_entries(server, ["unit:edu", "unit:health"])
    _submit_entry(officials("edu_li"), server, pid, "教育数据中台（内部）", "900000", "unit:edu")
    health = officials("health_zhao")
    health.goto(f"/tasks/{_ready(server, pid, 'submit_entry', 'unit:health')}")
    assert health.page.input_value("#f-project_name") == "" and health.page.input_value("#f-amount") == ""
    assert "教育数据中台" not in health.page.content()
    health.shot("36-other-department-form-empty")


def test_a_claimed_task_is_handed_to_a_colleague(officials, diagrams):
    server = diagrams
    pid = _plan_entries(server, ["unit:edu"])
    task_id = _ready(server, pid, "submit_entry")
    li = officials("edu_li")
    li.goto(f"/tasks/{task_id}")
    li.page.get_by_role("button", name="签收", exact=True).click()
    li.page.wait_for_load_state()
    li.page.locator("#reassign summary").click()
    li.page.select_option("#reassign select[name=assignee]", "edu_wang")
    li.page.fill("#reassign textarea[name=reason]", "本人出差一周")
    li.shot("37-hand-over-to-colleague")
    li.page.get_by_role("button", name="转办", exact=True).click()
    li.page.wait_for_url(re.compile(r".*/inbox/.*"))
    assert "已转办给 王老师" in li.page.locator(".flashes").inner_text()
    wang = officials("edu_wang")
    wang.goto("/inbox/")
    assert wang.page.locator(f"a[href='/tasks/{task_id}']").count() == 1
    wang.goto(f"/tasks/{task_id}")
    assert "本人出差一周" in wang.page.locator(".timeline").inner_text()
    wang.shot("38-handed-over-task")


PHONE = {"width": 390, "height": 844}


def _no_sideways_scroll(official, path: str, shot: str) -> None:
    official.goto(path)
    page = official.page
    wide = page.evaluate("""() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
        [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
            .slice(0, 5).map(e => e.tagName + '.' + e.className)]""")
    assert wide[0] <= wide[1], f"{path} scrolls sideways at 390 px: {wide}"
    official.shot(shot)


def test_phone_width_without_sideways_scroll(officials, diagrams):
    server = diagrams
    pid = real.declare_project(server.db, "P-2026-040")
    real.work(server.db, "unit:edu", "submit_stage_document", real.SUBMISSION, pid)
    office = officials("office_chen")
    office.page.set_viewport_size(PHONE)
    menu = office.page.locator(".sidenav")
    assert not menu.is_visible() or menu.bounding_box()["height"] < 120  # the menu is collapsed
    _no_sideways_scroll(office, "/inbox/all", "40-phone-inbox")
    assert office.page.locator("table.tasks tbody tr").first.evaluate("r => getComputedStyle(r).display") == "block"
    _no_sideways_scroll(office, f"/tasks/{_ready(server, pid, 'evaluate_by_consultant')}", "41-phone-task")
    _no_sideways_scroll(office, f"/projects/{pid}", "42-phone-project")
    auditor = officials("auditor_sun")
    auditor.page.set_viewport_size(PHONE)
    _no_sideways_scroll(auditor, f"/audit/instances/{pid}", "43-phone-audit-timeline")


def test_take_back_and_a_reminder(officials, diagrams):
    from datetime import timedelta

    from engine import clock

    server = diagrams
    pid = _plan_entries(server, ["unit:edu"])
    li = officials("edu_li")
    _submit_entry(li, server, pid, "智慧课堂", "12000")
    li.page.get_by_role("link", name="办理有误？在下一环节签收前可以撤回。").click()
    li.shot("39-take-back-offered")
    li.page.get_by_role("button", name="撤回", exact=True).click()
    li.page.wait_for_load_state()
    assert "已撤回" in li.page.locator(".flashes").inner_text()
    assert li.page.input_value("#f-project_name") == "智慧课堂"  # what was submitted, as the draft
    li.shot("44-taken-back")

    task_id = _ready(server, pid, "submit_entry")
    with server.db.write() as session:
        session.get(UserTask, task_id).due_at = clock.now() - timedelta(days=2)
    office = officials("office_chen")
    office.goto(f"/tasks/{task_id}")
    office.page.locator("#remind summary").click()
    office.page.fill("#remind textarea[name=text]", "本周五前报送")
    office.page.get_by_role("button", name="发送催办").click()
    office.page.wait_for_load_state()
    assert "已催办" in office.page.locator(".flashes").inner_text()
    li.goto("/inbox/")
    assert li.page.locator(".sidenav .count-alert").inner_text() == "1"
    li.page.get_by_role("link", name=re.compile("提醒")).click()
    assert "本周五前报送" in li.page.locator("#reminders").inner_text()
    li.shot("45-reminder-notice")


def test_several_files_at_once_inside_the_form_keep_what_was_typed(officials, diagrams, tmp_path):
    server = diagrams
    with server.db.write() as session:
        pid = services.start_process(session, "feasibility_ui", business_key="P-2026-060", variables={
            "unit": "edu", "project_name": "智慧课堂"}, user="edu_li").id
    files = []
    for name in ("可行性研究报告.pdf", "密码应用方案.pdf", "产品说明.pdf"):
        files.append(tmp_path / name)
        files[-1].write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    unit = officials("edu_li")
    page = unit.page
    unit.goto(f"/tasks/{_ready(server, pid, 'submit_feasibility')}")
    page.fill("#f-report_title", "智慧课堂可行性研究报告")
    page.fill("#f-necessity", "整合全旗中小学教学资源。")
    page.set_input_files("#materials input[name=files]", [str(f) for f in files])
    page.select_option("#materials select[name=material-0]", label="可行性研究报告")
    page.select_option("#materials select[name=material-1]", label="密码应用方案")
    unit.shot("46-several-files-each-typed")
    page.get_by_role("button", name="上传材料").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() == 3
    assert page.input_value("#f-necessity") == "整合全旗中小学教学资源。"  # nothing typed is lost
    checklist = page.locator("#materials .checklist")
    assert checklist.locator(".ok").count() == 2 and "安全可靠产品说明" in checklist.locator(".missing").inner_text()
    own = page.locator("#materials .own-doc", has_text="产品说明.pdf")
    own.locator("select").select_option(label="安全可靠产品说明")
    own.get_by_role("button", name="改为此类型").click()
    page.wait_for_load_state()
    assert page.locator("#materials .checklist .missing").count() == 0
    assert page.input_value("#f-necessity") == "整合全旗中小学教学资源。"
    unit.shot("47-materials-complete")


def test_diagrams_in_bpmn_js_with_the_state_and_the_replay(officials, diagrams):
    server = diagrams
    pid = real.declare_project(server.db, "P-2026-070")
    real.work(server.db, "unit:edu", "submit_stage_document", real.SUBMISSION, pid)
    office = officials("office_chen")
    office.goto(f"/projects/{pid}")
    viewer = office.page.locator("#diagram .bpmn-viewer.is-ready")
    viewer.wait_for(timeout=15000)
    assert office.page.locator("#diagram .diagram-fallback").is_hidden()
    assert viewer.locator(".djs-element.is-done").count() >= 3  # start, confirmation, gateway …
    assert viewer.locator("[data-element-id='stage_proposal'].is-active, .djs-element.is-active").count() >= 1
    assert viewer.locator(".djs-connection.is-taken").count() >= 2
    office.shot("48-bpmn-js-project")
    auditor = officials("auditor_sun")
    auditor.goto(f"/audit/instances/{pid}?seq=3")
    viewer = auditor.page.locator(".bpmn-viewer.is-ready")
    viewer.wait_for(timeout=15000)
    early = viewer.locator(".djs-element.is-done").count()
    auditor.goto(f"/audit/instances/{pid}")
    auditor.page.locator(".bpmn-viewer.is-ready").wait_for(timeout=15000)
    assert auditor.page.locator(".bpmn-viewer .djs-element.is-done").count() > early  # the replay at each event
    auditor.shot("49-bpmn-js-audit-replay")
