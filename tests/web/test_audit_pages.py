"""The auditors' pages: the history page steps through an instance with the diagram drawn as it was,
/verify proves or names tampering, search and exports across instances, the compliance page and the
printable report. Auditors and administrators read everything and change nothing; every page and
export they open goes to the access log, not to the instance's chain."""
from __future__ import annotations

import csv
import html
import io
import json
import re
from base64 import b64decode
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from test_ui_fixtures import app, client, csrf, login, post, text_of  # noqa: F401

from conftest import deploy_files
from engine import audit, compliance, documents, history, instances, services
from engine.models import HistoryEvent, ProcessInstance

PDF = b"%PDF-1.4\n%%EOF\n"


def complete(db, instance_id, element, values=None, user="edu_li"):
    with db.write() as s:
        [task] = [t for t in services.tasks(s, instance_id=instance_id) if t.element_id == element]
        services.complete_task(s, task.id, user=user, data=values or {}, check_access=False)


@pytest.fixture
def project(db, app, frozen_clock) -> int:
    """An audit_project instance run into its call activity, with one document."""
    deploy_files(db, "audit_project.bpmn", "audit_stage.bpmn")
    with db.write() as s:
        instance_id = services.start_process(s, "audit_project", business_key="P-2026-007",
                                             variables={"unit": "edu", "project_name": "智慧教育云平台"},
                                             user="edu_li").id
        documents.add(s, instance_id, filename="初步设计.pdf", content=PDF, user="edu_li", field="design")
    complete(db, instance_id, "submit_design", {"budget": 1200000})
    frozen_clock.advance(timedelta(days=1))
    complete(db, instance_id, "design_approval", {"decision": "revise"}, user="drc_zhang")
    complete(db, instance_id, "submit_design", {"budget": 1100000})
    complete(db, instance_id, "design_approval", {"decision": "approve"}, user="drc_zhang")
    complete(db, instance_id, "procurement", {"supplier": "某科技公司"})
    complete(db, instance_id, "release_construction_funds", user="finance_liu")
    complete(db, instance_id, "technical_review", {"opinion": "同意"}, user="office_chen")
    return instance_id


def as_user(app, name):
    c = app.test_client()
    if name:
        assert login(c, name).status_code == 302
    else:
        c.get("/login")
    return c


def events(db, instance_id) -> list[dict]:
    with db.read() as s:
        return history.events_of(s, instance_id)


def seq_of(db, instance_id, element, occurrence=1) -> int:
    return [e["seq"] for e in events(db, instance_id)
            if e["type"] == "task_completed" and e["element_id"] == element][occurrence - 1]


def diagram_svg(page_html: str) -> str:
    """The diagram the page carries as a data URI."""
    match = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page_html)
    assert match, "no diagram on the page"
    return b64decode(match.group(1)).decode()


def classes_of(svg: str, element: str) -> set[str]:
    match = re.search(r'<g class="([^"]*)" data-element-id="%s"' % re.escape(element), svg)
    assert match, element
    return set(match.group(1).split())


# --- access ------------------------------------------------------------------------------------

ROUTES = ["/audit/", "/audit/search", "/audit/search?user=edu_li", "/audit/instances/{id}",
          "/audit/instances/{id}?seq=3", "/audit/instances/{id}/diagram.svg?seq=3", "/audit/instances/{id}/report",
          "/audit/instances/{id}/events.csv", "/audit/instances/{id}/events.json", "/audit/search.csv?user=edu_li",
          "/audit/search.json", "/audit/compliance"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("subject, status", [(None, 302), ("edu_li", 403), ("office_chen", 403),
                                             ("drc_zhang", 403), ("auditor_sun", 200), ("admin_zhou", 200)])
def test_only_auditors_and_administrators_read_the_audit_pages(app, project, route, subject, status):
    response = as_user(app, subject).get(route.format(id=project))
    assert response.status_code == status
    if subject is None:
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("subject, status", [("edu_li", 403), ("auditor_sun", 200), ("admin_zhou", 200)])
def test_verify_is_a_post_for_auditors_and_administrators_only(app, project, subject, status):
    c = as_user(app, subject)
    assert post(c, f"/audit/instances/{project}/verify").status_code == status
    assert c.post(f"/audit/instances/{project}/verify").status_code == 400  # no CSRF token


def test_auditors_change_nothing_and_their_reads_go_to_the_access_log_only(db, app, project):
    with db.read() as s:
        before = s.get(ProcessInstance, project)
        count, head, state = before.history_count, before.history_head, before.state
    c = as_user(app, "auditor_sun")
    for route in ROUTES:
        assert c.get(route.format(id=project)).status_code == 200
    assert post(c, f"/audit/instances/{project}/verify").status_code == 200
    assert post(c, f"/audit/instances/{project}/events.csv").status_code == 200
    # the task pages refuse the auditor's actions
    with db.read() as s:
        task_id = services.tasks(s, instance_id=project)[0].id
    assert post(c, f"/tasks/{task_id}/claim").status_code == 403
    with db.read() as s:
        after = s.get(ProcessInstance, project)
        assert (after.history_count, after.history_head, after.state) == (count, head, state)
        log = audit.access_log(s)
        assert history.verify_chain(s, audit.ACCESS_CHAIN).ok
        assert s.scalar(select(func.count()).select_from(HistoryEvent)
                        .where(HistoryEvent.chain == f"instance:{project}")) == count
    assert len(log) == len(ROUTES) + 2
    assert {e["actor"] for e in log} == {"auditor_sun"}
    newest = log[0]["data"]
    assert newest["action"] == "audit.instance_events" and newest["method"] == "POST"
    assert newest["instance_id"] == project
    verified = log[1]["data"]
    assert verified["action"] == "audit.verify" and verified["path"] == f"/audit/instances/{project}/verify"


def test_refused_requests_are_not_logged_as_reads(db, app, project):
    as_user(app, "edu_li").get(f"/audit/instances/{project}")
    with db.read() as s:
        assert audit.access_log(s) == []


# --- the history page --------------------------------------------------------------------------

def test_the_history_page_lists_every_event_with_actor_bureau_and_changes(app, project, db):
    page = as_user(app, "auditor_sun").get(f"/audit/instances/{project}")
    body = text_of(page)
    assert "智慧教育云平台" in body and "P-2026-007" in body
    assert "edu_li（测试）" in body and "旗教育体育局" in body  # actor and bureau
    assert "drc_zhang（测试）" in body and "旗发展和改革委员会" in body
    assert "budget : 1200000 → 1100000" in body
    assert "decision : revise → approve" in body
    assert page.get_data(as_text=True).count(" ev-task_completed\"") == 7
    assert f"{len(events(db, project))} / {len(events(db, project))}" in body  # the last step by default


def test_stepping_shows_the_diagram_as_it_was_after_each_event(app, project, db):
    c = as_user(app, "auditor_sun")
    revised = seq_of(db, project, "design_approval", 1)
    page = c.get(f"/audit/instances/{project}?seq={revised}").get_data(as_text=True)
    svg = diagram_svg(page)
    assert "taken" in classes_of(svg, "f_revise") and "active" in classes_of(svg, "submit_design")
    assert "taken" not in classes_of(svg, "f_approve")
    assert f'?seq={revised - 1}' in page and f'?seq={revised + 1}' in page  # back and forward
    assert 'class="selected ev-task_completed"' in page
    body = text_of(c.get(f"/audit/instances/{project}?seq={revised}"))
    assert "decision revise" in body  # the data at that point
    earlier = diagram_svg(c.get(f"/audit/instances/{project}?seq=1").get_data(as_text=True))
    assert "active" in classes_of(earlier, "submit_design") and "completed" not in classes_of(earlier, "design_approval")
    parallel = diagram_svg(c.get(f"/audit/instances/{project}?seq={seq_of(db, project, 'procurement')}")
                           .get_data(as_text=True))
    assert "active" in classes_of(parallel, "release_construction_funds")
    assert "taken" in classes_of(parallel, "f7") and "taken" not in classes_of(parallel, "f6")


def test_the_call_activity_opens_into_its_own_diagram(app, project, db):
    c = as_user(app, "auditor_sun")
    page = c.get(f"/audit/instances/{project}").get_data(as_text=True)
    assert "sub=stage_check" in page
    inner = c.get(f"/audit/instances/{project}?sub=stage_check").get_data(as_text=True)
    svg = diagram_svg(inner)
    assert "active" in classes_of(svg, "security_review") and "completed" in classes_of(svg, "technical_review")
    assert "阶段审查（审计测试）" in text_of(c.get(f"/audit/instances/{project}?sub=stage_check"))
    assert c.get(f"/audit/instances/{project}?seq=1&sub=stage_check").status_code == 404


def test_the_svg_download_is_the_step_drawn_by_the_shared_renderer(app, project):
    response = as_user(app, "auditor_sun").get(f"/audit/instances/{project}/diagram.svg?seq=1")
    assert response.mimetype == "image/svg+xml"
    assert "style-src 'unsafe-inline'" in response.headers["Content-Security-Policy"]
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg") and 'class="dalad-bpmn' in svg
    assert "active" in classes_of(svg, "submit_design")


def test_the_timeline_filters_by_event_type_and_actor(app, project):
    c = as_user(app, "auditor_sun")
    rows = lambda r: re.findall(r'<tr class="[^"]*ev-([a-z_]+)"', r.get_data(as_text=True))  # noqa: E731
    assert set(rows(c.get(f"/audit/instances/{project}?type=task_completed"))) == {"task_completed"}
    assert len(rows(c.get(f"/audit/instances/{project}?actor=drc_zhang"))) == 2


def test_a_bad_step_number_is_a_clear_error(app, project):
    c = as_user(app, "auditor_sun")
    response = c.get(f"/audit/instances/{project}?seq=abc")
    assert response.status_code == 400 and "seq: 'abc' is not an event number" in html.unescape(text_of(response))
    assert c.get(f"/audit/instances/{project}?seq=999").status_code == 404
    assert c.get("/audit/instances/999").status_code == 404


# --- proof -------------------------------------------------------------------------------------

def test_the_verify_button_reports_ok(app, project):
    body = text_of(post(as_user(app, "auditor_sun"), f"/audit/instances/{project}/verify"))
    assert "验证通过" in body


@pytest.mark.parametrize("tamper, expected", [
    ("UPDATE history_event SET actor = 'mallory' WHERE chain = :c AND seq = 3", "历史链被改动 第 3 项事件：column 'actor'"),
    ("DELETE FROM history_event WHERE chain = :c AND seq = 4", "历史链被改动 第 4 项事件：event 4 is missing"),
    ("UPDATE process_instance SET state = replace(state, '\"supplier\":\"某科技公司\"', '\"supplier\":\"另一家\"') "
     "WHERE id = :i", "存储的流程状态被改动 the stored instance state"),
])
def test_the_verify_button_names_the_tampering(db, app, project, tamper, expected):
    with db.engine.begin() as conn:
        assert conn.execute(text(tamper), {"c": f"instance:{project}", "i": project}).rowcount == 1
    instances.clear_caches()
    body = html.unescape(text_of(post(as_user(app, "auditor_sun"), f"/audit/instances/{project}/verify")))
    assert expected in body


def test_the_verify_button_names_a_chain_cut_at_its_end(db, app, project):
    """The last event deleted (a claim: it changes no state) and the head moved back: what is left
    checks and re-executes; the head the system chain recorded after the claim names the cut."""
    with db.write() as s:
        task = services.tasks(s, instance_id=project)[0]
        services.claim(s, task.id, user="office_chen", check_access=False)
    chain = f"instance:{project}"
    with db.read() as s:
        rows = history.chain_rows(s, chain)
    assert rows[-1].type == "task_claimed"
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM history_event WHERE chain = :c AND seq = :s"), {"c": chain, "s": rows[-1].seq})
        conn.execute(text("UPDATE process_instance SET history_count = :n, history_head = :h WHERE id = :i"),
                     {"n": rows[-2].seq, "h": rows[-2].hmac, "i": project})
        conn.execute(text("UPDATE user_task SET assignee = NULL WHERE id = :t"), {"t": task.id})
    instances.clear_caches()
    body = html.unescape(text_of(post(as_user(app, "auditor_sun"), f"/audit/instances/{project}/verify")))
    assert "历史链被改动" in body and "验证通过" not in body
    assert (f"holds {len(rows) - 1} events, but the system chain recorded {len(rows)} events last" in body
            and "events cut at its end" in body), body


# --- search and exports ------------------------------------------------------------------------

def test_search_by_user_bureau_element_type_project_and_dates(app, project, db):
    c = as_user(app, "auditor_sun")
    found = lambda **q: re.findall(r"实例 %d 第 (\d+) 项" % project, text_of(c.get("/audit/search", query_string=q)))  # noqa: E731
    assert len(found(user="drc_zhang")) == 2
    assert len(found(bureau="drc")) == 2
    assert len(found(bureau="unit:edu")) == len([e for e in events(db, project) if e.get("actor") == "edu_li"])
    assert len(found(element="submit_design", type="task_completed")) == 2
    assert len(found(project="智慧教育", type="task_completed")) == 7
    assert len(found(project="P-2026-007", type="instance_started")) == 1
    assert found(project="没有这个项目") == []
    assert len(found(**{"from": "2026-03-03", "to": "2026-03-03", "type": "task_completed"})) == 6
    assert len(found(**{"to": "2026-03-02", "type": "task_completed"})) == 1
    bad = c.get("/audit/search?from=2026-13-01")
    assert bad.status_code == 400 and "from: '2026-13-01' is not a date" in html.unescape(text_of(bad))
    for name, day in (("from", "0001-01-01"), ("to", "9999-12-31")):  # no UTC bound or next day: was a 500
        bad = c.get(f"/audit/search?{name}={day}")
        assert bad.status_code == 400 and f"{name}: {day} is out of range" in html.unescape(text_of(bad))
    assert c.get("/audit/search?from=0001-01-02&to=9999-12-30").status_code == 200


def test_the_search_export_carries_the_filtered_events(app, project):
    c = as_user(app, "auditor_sun")
    response = c.get("/audit/search.csv?user=drc_zhang")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    content = response.get_data(as_text=True)
    assert content.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(content.lstrip("\ufeff"))))
    assert [r["element_id"] for r in rows] == ["design_approval", "design_approval"]
    assert rows[0]["actor_bureaus"] == "drc" and rows[0]["element_name"] == "初步设计批复"
    assert json.loads(rows[1]["data"])["values"] == {"decision": "approve"}
    assert rows[0]["at"].endswith("+08:00") and len(rows[0]["hmac"]) == 64
    exported = json.loads(c.get("/audit/search.json?user=drc_zhang").get_data(as_text=True))
    assert exported["query"] == {"user": "drc_zhang"} and exported["total"] == 2
    assert exported["exported_by"] == "auditor_sun" and len(exported["events"]) == 2


def test_an_instance_export_has_every_event_and_the_chain_verdict(app, project, db):
    c = as_user(app, "auditor_sun")
    exported = json.loads(c.get(f"/audit/instances/{project}/events.json").get_data(as_text=True))
    assert [e["seq"] for e in exported["events"]] == list(range(1, len(events(db, project)) + 1))
    assert exported["chain_ok"] is True and exported["business_key"] == "P-2026-007"
    rows = list(csv.DictReader(io.StringIO(c.get(f"/audit/instances/{project}/events.csv")
                                           .get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == len(exported["events"]) and rows[0]["type"] == "instance_started"
    assert rows[0]["project_name"] == "智慧教育云平台"


def test_a_csv_cell_never_starts_a_spreadsheet_formula():
    records = [{c: None for c in audit.EXPORT_COLUMNS} | {"actor": "=HYPERLINK(\"x\")", "data": {}}]
    line = audit.to_csv(records).splitlines()[1]
    assert "'=HYPERLINK" in line


# --- the report and compliance -----------------------------------------------------------------

def test_the_report_has_the_project_timeline_diagram_documents_and_verification(app, project, db):
    response = as_user(app, "auditor_sun").get(f"/audit/instances/{project}/report")
    page = response.get_data(as_text=True)
    body = text_of(response)
    assert "项目审计报告" in body and "P-2026-007" in body and "智慧教育云平台" in body
    assert "验证通过" in body
    with db.read() as s:
        sha = audit.documents_of(s, project)[0].sha256
    assert sha in body and "初步设计.pdf" in body
    svg = diagram_svg(page)
    assert "taken" in classes_of(svg, "f_approve") and "active" in classes_of(svg, "stage_check")
    with as_user(app, "auditor_sun").get("/static/audit.css") as stylesheet:
        assert "@media print" in stylesheet.get_data(as_text=True)


def test_the_compliance_page_lists_a_breaking_project_with_its_evidence(db, app):
    # audit_checks has the ids of bpmn/project.bpmn: a project released funds only after the design
    # approval (drc_reply in review_design), so the Art 8 check passes for it ...
    audit._files.clear()  # element names are cached by resource id, which an emptied database reuses
    deploy_files(db, "audit_checks.bpmn", "audit_checks_stage.bpmn")

    def start(key, name):
        with db.write() as s:
            return services.start_process(s, "audit_checks", business_key=key,
                                          variables={"unit": "edu", "project_name": name}, user="edu_li").id
    clean = start("P-GOOD", "合规项目")
    complete(db, clean, "drc_reply", {"drc_decision": "approve", "approved_amount": 1000000}, user="drc_zhang")
    complete(db, clean, "release_construction_funds", user="finance_liu")
    c = as_user(app, "auditor_sun")
    page = text_of(c.get("/audit/compliance?rule=art8_funds_before_design_approval"))
    assert "未发现问题（检查 1 个项目）" in page
    # ... a project that procures before approval is listed with the event
    other = start("P-BAD", "违规项目")
    complete(db, other, "procure_and_contract")
    page = c.get("/audit/compliance?rule=art8_funds_before_design_approval").get_data(as_text=True)
    body = text_of(c.get("/audit/compliance?rule=art8_funds_before_design_approval"))
    assert "1 处违规" in body and "违规项目" in body and "办理了“组织招标采购并签订合同”，但没有任何批复" in body
    assert "合规项目" not in body
    seq = seq_of(db, other, "procure_and_contract")
    assert f"/audit/instances/{other}?seq={seq}" in page


def test_the_compliance_page_names_a_broken_rules_file(app, project, tmp_path):
    path = tmp_path / "compliance.json"
    path.write_text('{"rules": [{"id": "art8_funds_before_design_approval", "kind": "never"}]}', encoding="utf-8")
    app.config["DALAD_COMPLIANCE_FILE"] = str(path)
    body = text_of(as_user(app, "auditor_sun").get("/audit/compliance"))
    assert "规则文件有误" in body and "field 'kind': 'never' is not one of" in html.unescape(body)


def test_the_compliance_rules_file_setting_is_used(app, project, tmp_path):
    path = tmp_path / "compliance.json"
    path.write_text(json.dumps({"rules": [{"id": rule["id"], "enabled": False} for rule in compliance.DEFAULT_RULES]}),
                    encoding="utf-8")
    app.config["DALAD_COMPLIANCE_FILE"] = str(path)
    assert "没有启用的规则" in text_of(as_user(app, "auditor_sun").get("/audit/compliance"))


def test_the_audit_link_is_in_the_navigation_of_auditors_and_administrators_only(app, project):
    assert 'href="/audit/search"' in as_user(app, "auditor_sun").get("/inbox/").get_data(as_text=True)
    assert 'href="/audit/search"' in as_user(app, "admin_zhou").get("/inbox/").get_data(as_text=True)
    assert 'href="/audit/search"' not in as_user(app, "edu_li").get("/inbox/").get_data(as_text=True)


def test_the_pages_speak_english_when_chosen(app, project):
    c = as_user(app, "auditor_sun")
    post(c, "/lang", {"lang": "en", "next": "/audit/search"})
    body = text_of(c.get(f"/audit/instances/{project}"))
    assert "Event timeline" in body and "Verify history integrity" in body
    assert "Compliance checks" in text_of(c.get("/audit/compliance"))
