"""The inbox: which tasks each official sees, filters, sorting, paging, due dates in working days."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import event, update

from test_ui_fixtures import app, client, login, post, start_project, text_of  # noqa: F401

from engine import clock, inbox
from engine.inbox import InboxFilter, list_page
from engine.models import UserTask


def _rows(response) -> int:
    return response.get_data(as_text=True).count('<tr class="due-')


def test_bureau_inbox_lists_only_the_users_bureaus(db, client, app):
    start_project(db, "P-EDU-1")
    start_project(db, "P-HEALTH-1", unit="health", project_name="全民健康信息平台")
    login(client, "edu_li")
    page = client.get("/inbox/bureau")
    assert "P-EDU-1" in text_of(page) and "P-HEALTH-1" not in text_of(page)
    drc = app.test_client()
    login(drc, "drc_zhang")
    assert _rows(drc.get("/inbox/bureau")) == 0 and "暂无待办任务" in text_of(drc.get("/inbox/bureau"))


def test_claimed_task_moves_from_bureau_to_my_inbox(db, client, app):
    task_id = start_project(db)
    login(client, "edu_li")
    assert _rows(client.get("/inbox/")) == 0
    post(client, f"/tasks/{task_id}/claim")
    assert _rows(client.get("/inbox/")) == 1 and _rows(client.get("/inbox/bureau")) == 0
    colleague = app.test_client()
    login(colleague, "edu_wang")
    assert _rows(colleague.get("/inbox/bureau")) == 0 and _rows(colleague.get("/inbox/")) == 0


def test_the_inbox_names_who_claimed_a_task_as_other_pages_do(db, client, app):
    """办理人 is the official's name (edu_li（测试）), as on the task and project pages, not the login."""
    task_id = start_project(db)
    login(client, "edu_li")
    post(client, f"/tasks/{task_id}/claim")
    office = app.test_client()
    login(office, "office_chen")
    cells = re.findall(r"<td>([^<]*)</td>", office.get("/inbox/all").get_data(as_text=True))
    assert "edu_li（测试）" in cells and "edu_li" not in cells


def test_navigation_shows_counts(db, client):
    start_project(db, "P-1")
    start_project(db, "P-2")
    login(client, "edu_li")
    text = text_of(client.get("/inbox/"))
    assert "我的待办 0" in text and "部门待办 2" in text and "全部待办" not in text


def test_all_tasks_is_for_the_office_auditors_and_admins(db, client, app):
    start_project(db, "P-EDU-1")
    start_project(db, "P-HEALTH-1", unit="health")
    login(client, "edu_li")
    assert client.get("/inbox/all").status_code == 403
    for name in ("office_chen", "auditor_sun", "admin_zhou"):
        other = app.test_client()
        login(other, name)
        page = other.get("/inbox/all")
        assert page.status_code == 200 and _rows(page) == 2, name


def test_filters_by_project_text_process_bureau(db, client):
    start_project(db, "P-EDU-1", project_name="智慧教育云平台")
    start_project(db, "P-EDU-2", project_name="校园安全监控")
    start_project(db, "R-EDU-3", process="review", project_name="教育数据中心")
    login(client, "office_chen")
    assert _rows(client.get("/inbox/all?project=校园")) == 1
    assert "校园安全监控" in text_of(client.get("/inbox/all?project=校园"))  # a row shows its project's name
    assert _rows(client.get("/inbox/all?project=P-EDU")) == 2
    assert _rows(client.get("/inbox/all?q=数据中心")) == 1
    assert _rows(client.get("/inbox/all?q=100%25")) == 0  # a % is text, not a wildcard
    assert _rows(client.get("/inbox/all?process=review")) == 1
    assert _rows(client.get("/inbox/all?bureau=unit:edu")) == 3
    assert _rows(client.get("/inbox/all?bureau=drc")) == 0


def test_due_filters_and_working_day_labels(db, client, frozen_clock):
    start_project(db, "P-LATE")
    start_project(db, "P-SOON")
    start_project(db, "P-LATER")
    with db.write() as session:  # Monday 2026-03-02 09:00; dates end at 23:59:59 local time
        due = {"P-LATE": clock.aware(clock.local_now().replace(tzinfo=None)) - timedelta(days=4),
               "P-SOON": clock.local_now() + timedelta(days=2),
               "P-LATER": clock.local_now() + timedelta(days=20)}
        for key, when in due.items():
            session.execute(update(UserTask).where(UserTask.business_key == key).values(due_at=when))
    login(client, "office_chen")
    overdue = client.get("/inbox/all?due=overdue")
    assert _rows(overdue) == 1 and "P-LATE" in text_of(overdue)
    # due Thursday 26 Feb: Friday, Saturday 28 Feb (a working Saturday after the Spring Festival) and Monday
    assert "逾期 3 个工作日" in text_of(overdue)
    assert 'class="due-overdue"' in overdue.get_data(as_text=True)
    soon = client.get("/inbox/all?due=soon")
    assert _rows(soon) == 1 and "剩余 2 个工作日" in text_of(soon)
    assert "剩余 14 个工作日" in text_of(client.get("/inbox/all"))


def test_sorting_and_paging(db, client, frozen_clock):
    for i in range(23):
        start_project(db, f"P-{i:02d}")
        frozen_clock.advance(timedelta(minutes=1))
    with db.write() as session:
        session.execute(update(UserTask).where(UserTask.business_key == "P-05").values(priority=90))
    login(client, "office_chen")
    first = client.get("/inbox/all?sort=created")
    assert _rows(first) == 20 and "共 23 条，第 1 / 2 页" in text_of(first)
    assert text_of(first).index("P-22") < text_of(first).index("P-21")
    second = client.get("/inbox/all?sort=created&page=2")
    assert _rows(second) == 3 and "P-00" in text_of(second)
    assert "sort=created" in second.get_data(as_text=True)  # the pager keeps the filters
    by_priority = text_of(client.get("/inbox/all?sort=priority"))
    assert by_priority.index("P-05") < by_priority.index("P-00")


def test_inbox_queries_never_read_the_workflow_state(db, client):
    start_project(db, "P-1")
    statements = []

    def remember(conn, cursor, statement, *args):
        statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        with db.read() as session:
            page = list_page(session, "all", user="office_chen", groups=["office"],
                             filters=InboxFilter(text="P", project="P", sort="priority"))
            list_page(session, "bureau", user="office_chen", groups=["office"], filters=InboxFilter(due="soon"))
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert page.total == 1
    assert not any("process_instance.state" in s for s in statements)


def test_paging_goes_on_past_the_counted_tasks(db, client, frozen_clock, monkeypatch):
    monkeypatch.setattr(inbox, "COUNT_CAP", 5)  # counts stop there; the pages do not
    for i in range(23):
        start_project(db, f"P-{i:02d}")
        frozen_clock.advance(timedelta(minutes=1))
    login(client, "edu_li")
    first = client.get("/inbox/bureau")
    assert _rows(first) == 20 and "共 5+ 条，第 1 / 1+ 页" in text_of(first)
    assert "page=2" in first.get_data(as_text=True)  # 下一页, although the count stopped at 5
    second = client.get("/inbox/bureau?page=2")
    assert _rows(second) == 3 and "第 2 / 2+ 页" in text_of(second) and "page=3" not in second.get_data(as_text=True)
    shown = {key for page in (first, second) for key in re.findall(r"P-\d\d", text_of(page))}
    assert len(shown) == 23  # each task once over the pages
