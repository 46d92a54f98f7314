"""Camunda's job calls an administrator's scripts and Cockpit-like tools make (web/rest_admin.py):
a timer's due date set (PUT /job/{id}/duedate, with `cascade`), a failed job's error
(/stacktrace), the POST query variants, and the job calls that have nothing to act on here,
refused by name. A due date set is recorded, replayed and proved by `dalad history verify`, and
the scheduler of any server process fires the timer at its new time."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import audit, clock, services
from engine.cli import main
from engine.database import Database
from engine.models import HistoryEvent, ProcessInstance, Timer
from engine.replay import verify
from conftest import TEST_KEY
from test_rest_helpers import deployed, error_of, modeler_deploy, project_at_the_office, rest, start  # noqa: F401

CLIENT_ORDER = Path(__file__).parent.parent / "clients" / "client_order.bpmn"
LOCAL = clock.local_zone()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL)


def camunda(moment: datetime) -> str:
    """Camunda's date form: 2026-03-02T09:00:00.000+0800."""
    return moment.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M:%S.000%z")


def jobs_of(api, instance: dict) -> list[dict]:
    return api.get("/job", processInstanceId=instance["id"]).get_json()


def tasks_of(api, instance: dict) -> list[str]:
    return sorted(t["taskDefinitionKey"] for t in api.get("/task", processInstanceId=instance["id"]).get_json())


def fire_at(rest, moment: datetime, db=None) -> int:
    """Move the engine clock to `moment` and let a scheduler run once (by default this server's)."""
    clock.set_time(moment)
    return services.fire_due_timers(db or rest.db)


def proved(rest, instance: dict) -> None:
    with rest.db.read() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.rest_id == instance["id"])).one()
        chain, replay = verify(session, row.id)
        assert chain.ok and replay.ok, (chain, replay)


@pytest.fixture
def dalad(rest, monkeypatch, tmp_path, capsys):
    """`dalad …` on the test database: (exit status, output)."""
    monkeypatch.setenv("DALAD_DATABASE_URL", rest.db.url)
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DALAD_SECRET_KEY", "test-secret-key")

    def run(*args):
        capsys.readouterr()
        status = main(list(args))
        return status, capsys.readouterr().out
    return run


# --- a timer of the 办法 moved -----------------------------------------------------------------------

def test_a_rectification_orders_overdue_timer_moved_earlier_fires_then_and_the_history_proves_it(rest, dalad):
    """bpmn/supervision.bpmn: the order's deadline timer (the day after 2026-06-30) set to 10 March
    fires then, not before; the office decides the penalty; the move is in the user operation log,
    the instance replays and `dalad history verify --all` passes."""
    admin = rest.as_("admin")
    project_at_the_office(rest, "P-2026-001")
    order = start(rest, "supervision", user="drc", business_key="SV-2026-001", project_id="P-2026-001",
                  project_name="智慧教育平台", unit="edu", issuer="drc", problem="未按批复使用政务云",
                  article="第十四条", rectification_deadline="2026-06-30")
    [job] = jobs_of(admin, order)
    assert job["dueDate"] == "2026-07-01T00:00:00.000+0800"
    moved = local("2026-03-10T09:00:00")
    assert admin.put(f"/job/{job['id']}/duedate", {"duedate": camunda(moved)}).status_code == 204
    assert admin.get(f"/job/{job['id']}").get_json()["dueDate"] == "2026-03-10T09:00:00.000+0800"
    assert fire_at(rest, moved - timedelta(minutes=1)) == 0
    assert tasks_of(admin, order) == ["rectify_and_report"]
    assert fire_at(rest, moved) == 1
    assert tasks_of(admin, order) == ["decide_penalty"] and jobs_of(admin, order) == []
    [entry] = admin.get("/history/user-operation", operationType="SetDueDate").get_json()
    assert (entry["userId"], entry["entityType"], entry["jobId"], entry["processInstanceId"], entry["property"],
            entry["orgValue"], entry["newValue"]) == (
        "admin", "Job", job["id"], order["id"], "duedate", str(int(local("2026-07-01T00:00:00").timestamp() * 1000)),
        str(int(moved.timestamp() * 1000)))
    proved(rest, order)
    status, out = dalad("history", "verify", "--all")
    assert status == 0, out
    assert "timer occurrences: OK" in out
