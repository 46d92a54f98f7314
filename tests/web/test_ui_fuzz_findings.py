"""What the UI fuzz suite (tests/fuzz/test_ui_fuzz.py) found, each kept as a test on the page it
broke: a bad form value is a 4xx naming what is wrong, in Chinese or in English, never a 500, and
nothing already saved changes."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import clock, users
from test_ui_fixtures import app, client, login, post, text_of  # noqa: F401


def _substitute(db, name: str):
    with db.read() as session:
        user = session.scalars(select(users.User).where(users.User.name == name)).one()
        return user.substitute, user.away_until


def test_a_substitute_who_is_no_user_is_named_and_the_one_chosen_stays(client, db):
    """/me/substitute with a name no user has answered 500 (the engine's NotFound went unhandled)."""
    login(client, "edu_li")
    until = (clock.today() + timedelta(days=5)).isoformat()
    assert post(client, "/me/substitute", {"substitute": "edu_wang", "until": until}).status_code == 302
    refused = post(client, "/me/substitute", {"substitute": "'\"<nobody>", "until": "9999-12-31"})
    assert refused.status_code == 400
    assert "没有名为“&#39;&#34;&lt;nobody&gt;”的用户" in refused.get_data(as_text=True)
    assert _substitute(db, "edu_li") == ("edu_wang", clock.today() + timedelta(days=5))
    post(client, "/lang", {"lang": "en", "next": "/me"})
    refused = post(client, "/me/substitute", {"substitute": "nobody", "until": until})
    assert refused.status_code == 400 and 'There is no user named “nobody”' in text_of(refused)


def test_a_refused_substitute_shows_the_settings_page_with_the_reason(client, db):
    login(client, "edu_li")
    for form, reason in (({"substitute": "edu_wang", "until": "2026-02-30"}, "请填写外出的最后一天。"),
                         ({"substitute": "health_zhao", "until": "9999-12-31"}, "请选择本部门的同事")):
        refused = post(client, "/me/substitute", form)
        assert refused.status_code == 400 and reason in text_of(refused) and "外出委托" in text_of(refused)
    assert _substitute(db, "edu_li") == (None, None)


def test_a_nul_in_a_path_parameter_is_a_400_naming_it(client):
    """/start/<key>, /admin/groups/<group_id>/active and the other text parameters of a path: a NUL
    reached PostgreSQL's driver (500); it is refused before the view, as in a query or a form."""
    login(client, "admin_zhou")
    for method, path, name in (("get", "/start/a%00b", "key"), ("post", "/start/a%00b", "key"),
                               ("post", "/admin/groups/office%00/active", "group_id"),
                               ("get", "/admin/users/x%00", "name")):
        refused = post(client, path, {"active": "0"}) if method == "post" else client.get(path)
        assert refused.status_code == 400, path
        assert f"“{name}”含有空字符（U+0000）" in text_of(refused), path
    with client.application.extensions["dalad_db"].read() as session:
        from engine.models import Bureau
        assert session.get(Bureau, "office").active


def test_withdrawing_a_task_whose_step_the_engine_dropped_is_a_409(client, db):
    """Compaction drops a completed step once the steps after it finished (the annual plan's call,
    followed by a decision): 撤回 of it answered 500 (SpiffWorkflow's TaskNotFoundException). Its
    page does not offer 撤回; a page shown before still posts it, and gets the 409."""
    from pathlib import Path

    from engine import services
    from engine.definitions import BundleFile
    from engine.models import UserTask

    folder = Path(__file__).resolve().parents[2] / "bpmn"
    with db.write() as session:
        services.deploy(session, [BundleFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir())
                                  if p.suffix in (".bpmn", ".dmn", ".form")], name="bpmn", user="admin_zhou")
        instance_id = services.start_process(session, "annual_plan", business_key="PLAN-2027", user="office_chen").id
    with db.read() as session:
        call = [t for t in services.tasks(session, instance_id=instance_id) if t.element_id == "open_call"][0].id
    with db.write() as session:
        services.complete_task(session, call, user="office_chen", groups=["office"], data={
            "plan_year": 2027, "department_codes": "edu,health", "submission_deadline": "2026-12-31"})
    login(client, "office_chen")
    page = client.get(f"/tasks/{call}")
    assert page.status_code == 200 and f'action="/tasks/{call}/withdraw"' not in page.get_data(as_text=True)
    refused = post(client, f"/tasks/{call}/withdraw")  # (from a page shown before)
    assert refused.status_code == 409 and "cannot be taken back: the process has moved on since" in text_of(refused)
    with db.read() as session:
        assert session.get(UserTask, call).state == "completed"
        assert {t.element_id for t in services.tasks(session, instance_id=instance_id)} == {"submit_plan_entry"}


def test_a_project_year_filter_outside_the_plan_years_is_a_400_naming_it(client):
    """/projects/?year=1 reached the database as a time before year 1 (OverflowError, 500), and
    year=9999 made a year 10000; the list and its exports answer 400 naming the filter and the value."""
    login(client, "office_chen")
    for value in ("1", "9999", "0", "１２３４", "2026.5", "-2026"):
        for path in ("/projects/", "/projects/export.csv"):
            refused = client.get(path, query_string={"year": value})
            assert refused.status_code == 400, (path, value)
            assert f"筛选条件“年度”应为 1901 至 2999 之间的年份，不能是“{value}”" in text_of(refused)
    assert client.get("/projects/", query_string={"year": "2026"}).status_code == 200
    assert client.get("/projects/", query_string={"year": ""}).status_code == 200
    post(client, "/lang", {"lang": "en", "next": "/"})
    refused = client.get("/projects/", query_string={"year": "1"})
    assert refused.status_code == 400 and "The filter “year” takes a year from 1901 to 2999, not “1”." in text_of(refused)


def test_a_refusal_before_the_body_is_read_reaches_the_client_of_dalad_serve(db, tmp_path):
    """granian closes a connection whose request body the app left unread: a large form refused
    before its view read it (a NUL in the path, no login) reached the client as a broken pipe
    instead of its 400 or 401. The rest of the body is read and dropped, up to the form's limit."""
    import os
    import socket
    import sys
    from pathlib import Path

    from conftest import TEST_KEY
    from live_http import Client, dalad_serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", "DALAD_DATABASE_URL": db.url,
           "DALAD_INSTANCE_DIR": str(tmp_path), "DALAD_HISTORY_KEY": TEST_KEY.decode(),
           "DALAD_SECRET_KEY": "findings-secret-0123456789abcdef", "DALAD_SCHEDULER": "0"}
    base = f"http://127.0.0.1:{port}"
    body = b"text=" + b"x" * (4 * 1024 * 1024)
    with dalad_serve(base, env, "--host", "127.0.0.1", "--port", str(port), log=tmp_path / "serve.log"):
        for path, status in (("/tasks/1/comments", 401), ("/admin/users/a%00b/active", 400)):
            reply = Client(base).post(path, raw=body, headers={"Accept": "text/html",
                                                               "Content-Type": "application/x-www-form-urlencoded"})
            assert reply.status == status, path
        assert Client(base).get("/healthz").status == 200
