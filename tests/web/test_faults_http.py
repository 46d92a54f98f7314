"""What a caller gets when the request or the database is at fault: ids that are no REST id or
beyond 32 bits name nothing (404), NaN and Infinity are not JSON (400), a database that is down, full or read-only
gives 503 with Retry-After and a message in Chinese and English, never a 500; reads keep working
on a read-only database (a Bearer token's last use is written only when it can be), and after the
database takes writes again the server does too, without a restart."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import event, make_url, text

from conftest import OFFICIAL_PASSWORD, deploy_files
from engine import services
from engine.database import Database
from web import create_app



@pytest.fixture
def people(db, frozen_clock, officials):
    """drc official `dora` with a Bearer token, review.bpmn deployed, one instance at drc_review."""
    token = officials({"dora": ["drc"]})["dora"]
    deploy_files(db, "review.bpmn")
    with db.write() as session:
        instance_id = services.start_process(session, "review", variables={"unit": "edu"}, user="edu").id
        [submit] = services.tasks(session, instance_id=instance_id)
        services.complete_task(session, submit.id, user="edu", check_access=False, data={"amount": 1500})
    with db.read() as session:
        ready = services.tasks(session, instance_id=instance_id)
    return {"token": token, "tasks": {t.element_id: t.rest_id for t in ready},  # REST ids
            "pages": {t.element_id: t.id for t in ready}, "instance": instance_id}


def client_on(database: Database):
    app = create_app(db=database)
    app.config.update(SECRET_KEY="test-secret-key")
    return app.test_client()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def complete(client, token: str, task_id: str, variables: dict | None = None):
    return client.post(f"/engine-rest/task/{task_id}/complete", headers=bearer(token),
                       data=json.dumps({"variables": variables or {}}), content_type="application/json")


def assert_unavailable(response) -> None:
    assert response.status_code == 503, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.headers["Retry-After"] == "10"
    body = response.get_json()
    assert body["type"] == "ServiceUnavailableException"
    assert "数据库暂时不可用" in body["message"] and "The database is unavailable" in body["message"]


# --- requests at fault -------------------------------------------------------------------------

def test_ids_beyond_32_bits_name_nothing(db, people):
    client, headers = client_on(db), bearer(people["token"])
    for path in ("/engine-rest/task/2147483648", "/engine-rest/task/99999999999999999999999",
                 "/engine-rest/process-instance/2147483648", "/engine-rest/task/２",
                 "/engine-rest/deployment/2147483648", "/engine-rest/history/process-instance/4294967296"):
        assert client.get(path, headers=headers).status_code == 404, path
    assert client.post("/engine-rest/task/2147483648/complete", headers=headers, json={}).status_code == 404
    assert client.get("/engine-rest/task", headers=headers,
                      query_string={"processInstanceId": "2147483648"}).get_json() == []
    response = client.get("/engine-rest/task", headers=headers, query_string={"maxResults": "99999999999"})
    assert response.status_code == 400 and "at most 2147483647" in response.get_json()["message"]
    assert client.get("/tasks/2147483648").status_code == 404  # the UI's routes: no such page
    assert client.get(f"/tasks/{people['pages']['drc_review']}").status_code == 302  # a page: log in first


@pytest.mark.parametrize("body", ['{"variables": {"x": {"value": NaN, "type": "Double"}}}',
                                  '{"variables": {"x": {"value": Infinity}}}',
                                  '{"variables": {"x": {"value": "Infinity", "type": "Double"}}}',
                                  '{"variables": {"x": {"value": "[NaN]", "type": "Json"}}}',
                                  '{"variables": {"x": {"value": "' + "[" * 100000 + '", "type": "Json"}}}',
                                  "[" * 100000])
def test_nan_infinity_and_bottomless_json_are_a_400(db, people, body):
    client = client_on(db)
    response = client.post(f"/engine-rest/task/{people['tasks']['drc_review']}/complete",
                           headers=bearer(people["token"]), data=body, content_type="application/json")
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.get_json()["message"]
    assert complete(client, people["token"], people["tasks"]["drc_review"]).status_code == 204  # nothing lost


# --- the database at fault ---------------------------------------------------------------------

def test_a_database_that_does_not_answer_gives_503_with_retry_after(db, people):
    down = Database("postgresql+psycopg://dalad@127.0.0.1:9/dalad?connect_timeout=2")  # nothing listens there
    try:
        client = client_on(down)
        assert_unavailable(client.get("/engine-rest/task", headers=bearer(people["token"])))
        assert_unavailable(complete(client, people["token"], people["tasks"]["drc_review"]))
        client.get("/login")
        with client.session_transaction() as session:
            csrf = session["_csrf"]
        page = client.post("/login", data={"name": "dora", "password": OFFICIAL_PASSWORD, "_csrf": csrf})
        assert page.status_code == 503 and page.headers["Retry-After"] == "10"
        assert "服务暂时不可用" in page.get_data(as_text=True)
    finally:
        down.dispose()


@pytest.mark.sqlite_only
def test_a_read_only_sqlite_database_still_reads_and_refuses_writes_with_503(db, people):
    read_only = Database(f"sqlite:///file:{make_url(db.url).database}?mode=ro&uri=true")
    try:
        client = client_on(read_only)
        tasks = client.get("/engine-rest/task", headers=bearer(people["token"]))  # the token's use is not written
        assert tasks.status_code == 200 and {t["taskDefinitionKey"] for t in tasks.get_json()} == {"drc_review"}
        assert_unavailable(complete(client, people["token"], people["tasks"]["drc_review"]))
    finally:
        read_only.dispose()
    assert complete(client_on(db), people["token"], people["tasks"]["drc_review"]).status_code == 204


@pytest.mark.sqlite_only
def test_a_full_sqlite_database_gives_503_and_loses_nothing(db, people):
    raw = db.engine.raw_connection()  # no free pages left inside the file either
    try:
        raw.driver_connection.execute("VACUUM")
    finally:
        raw.close()
    full = Database(db.url)

    @event.listens_for(full.engine, "connect")
    def no_room_to_grow(dbapi_connection, _record):  # the disk is full: the file cannot grow
        dbapi_connection.execute("VACUUM")  # no free pages left by earlier tests to write into
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    from engine import users
    from engine.models import UserRole
    with db.write() as session:  # drc_review has no form: only an administrator's override sets a variable
        session.add(UserRole(user_id=users.get_user(session, "dora").id, role="admin"))
    try:
        client = client_on(full)
        assert_unavailable(client.post(
            f"/engine-rest/task/{people['tasks']['drc_review']}/complete", headers=bearer(people["token"]),
            data=json.dumps({"variables": {"report": {"type": "String", "value": "长" * 300_000}},
                             "overrideReason": "the report is attached by hand"}), content_type="application/json"))
    finally:
        full.dispose()
    with db.read() as session:
        assert sorted(t.element_id for t in services.tasks(session, instance_id=people["instance"])) == [
            "drc_review", "finance_review"]


@pytest.mark.postgres_only
def test_a_read_only_postgres_database_gives_503_then_the_server_writes_again_once_it_may(db, people):
    """A server started while the database is read-only: reads work, writes get 503; once the
    administrator makes the database writable, the server writes again without a restart."""
    name = make_url(db.url).database

    def read_only(flag: bool):
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"))
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if flag else "off"}'))

    read_only(True)
    server = Database(db.url)  # a fresh pool: every connection it opens now is read-only
    try:
        client = client_on(server)
        tasks = client.get("/engine-rest/task", headers=bearer(people["token"]))
        assert tasks.status_code == 200, tasks.get_data(as_text=True)[:300]
        assert_unavailable(complete(client, people["token"], people["tasks"]["drc_review"]))
        read_only(False)
        assert complete(client, people["token"], people["tasks"]["drc_review"]).status_code == 204
    finally:
        read_only(False)
        server.dispose()
