"""The `dalad` command, run in-process against the test database: each command does its one job,
and every user mistake is one `dalad: error: ...` line on stderr with exit status 1."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import DIAGRAMS, TEST_KEY
from engine import history, users
from engine.cli import main, parse_variables
from engine.models import ApiToken, Bureau, HistoryEvent, ProcessInstance, Timer, User

REVIEW_BROKEN = (DIAGRAMS / "review.bpmn").read_text().replace('targetRef="end_small"', 'targetRef="nowhere"')


@pytest.fixture
def dalad(db, monkeypatch, tmp_path, capsys):
    """Run `dalad ARGS...` on the test database; return (status, stdout, stderr)."""
    monkeypatch.setenv("DALAD_DATABASE_URL", db.url)
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DALAD_SECRET_KEY", "test-secret-key")
    monkeypatch.delenv("DALAD_DEMO", raising=False)
    monkeypatch.delenv("DALAD_TIMEZONE", raising=False)

    def run(*args: str, stdin: str | None = None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err
    return run


def one_error_line(err: str) -> str:
    """The single error line of a refused command (no traceback, nothing else)."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dalad: error: "), err
    return lines[0]


@pytest.fixture
def deployed(dalad):
    assert dalad("init-db")[0] == 0
    status, out, err = dalad("deploy", str(DIAGRAMS))
    assert status == 0, err
    return dalad


def add_user(dalad, name, *bureau_args):
    status, out, err = dalad("users", "add", name, "--bureau", *bureau_args, "--password-stdin",
                             stdin="long enough\n")
    assert status == 0, err


def test_init_db_adds_the_bureaus_and_can_run_again(dalad, db):
    status, out, _ = dalad("init-db")
    assert status == 0 and "bureaus: 13 added" in out
    status, out, _ = dalad("init-db")
    assert status == 0 and "bureaus: 0 added, 13 already there" in out


def test_deploy_a_folder_prints_each_item_then_unchanged(dalad):
    status, out, err = dalad("deploy", str(DIAGRAMS))
    assert status == 0, err
    assert "review  version 1  (new)" in out.splitlines()
    assert "waits  version 1  (new)" in out.splitlines()
    status, out, _ = dalad("deploy", str(DIAGRAMS / "review.bpmn"))
    assert (status, out) == (0, "review  version 1  (unchanged)\n")


def test_deploy_of_a_broken_diagram_lists_its_problems_and_stores_nothing(dalad, db, tmp_path):
    broken = tmp_path / "broken.bpmn"
    broken.write_text(REVIEW_BROKEN)
    status, out, err = dalad("deploy", str(broken))
    assert (status, out) == (1, "")
    assert "Traceback" not in err
    assert err.startswith("dalad: error: deployment refused")
    line = next(n for n, text in enumerate(REVIEW_BROKEN.splitlines(), 1) if 'targetRef="nowhere"' in text)
    assert f"broken.bpmn:{line} element 'f3' (sequenceFlow)" in err and "'nowhere'" in err
    with db.read() as session:
        assert history.verify_system_chain(session).events == 0


def test_start_reads_var_values_as_json_when_they_parse(deployed, db):
    status, out, err = deployed("start", "review", "--business-key", "P-1", "--var", "unit=edu",
                                "--var", "amount=1500", "--var", "approved=true", "--var", 'code="1"',
                                "--var", "note=a = b")
    assert status == 0, err
    instance_id, instance_status = out.split()
    assert instance_status == "running"
    with db.read() as session:
        row = session.get(ProcessInstance, int(instance_id))
        assert row.business_key == "P-1"
        assert {k: row.variables[k] for k in ("unit", "amount", "approved", "code", "note")} == {
            "unit": "edu", "amount": 1500, "approved": True, "code": "1", "note": "a = b"}


def test_parse_variables():
    assert parse_variables(["x=1.5", "y=null", "z=[1, 2]", "s=", "n=NaN"]) == {
        "x": 1.5, "y": None, "z": [1, 2], "s": "", "n": "NaN"}


def test_tasks_json_and_lines(deployed):
    deployed("start", "review", "--business-key", "P-1", "--var", "unit=edu")
    status, out, _ = deployed("tasks", "--json")
    assert status == 0
    [task] = json.loads(out)
    assert {k: task[k] for k in ("element_id", "name", "candidate_groups", "assignee")} == {
        "element_id": "submit", "name": "提交材料", "candidate_groups": ["unit:edu"], "assignee": None}
    assert task["due"].endswith("+08:00") and isinstance(task["id"], int) and isinstance(task["instance_id"], int)
    status, out, _ = deployed("tasks", "--group", "unit:edu")
    fields = out.strip().split("  ")
    assert fields[:5] == [str(task["id"]), str(task["instance_id"]), "submit", "提交材料", "unit:edu"]
    assert fields[5:] == ["-", task["due"]]
    assert deployed("tasks", "--group", "drc")[1] == ""


def test_complete_by_a_user_of_the_task_bureau(deployed, db):
    deployed("start", "review", "--business-key", "P-1", "--var", "unit=edu")
    add_user(deployed, "teacher", "unit:edu")
    add_user(deployed, "planner", "drc")
    [task] = json.loads(deployed("tasks", "--user", "teacher", "--json")[1])

    status, out, err = deployed("complete", str(task["id"]), "--user", "planner", "--var", "amount=1500")
    assert status == 1 and out == ""
    assert "planner may not complete task" in one_error_line(err)

    status, out, err = deployed("complete", str(task["id"]), "--user", "teacher", "--var", "amount=1500")
    assert status == 0, err
    assert f"task {task['id']} completed" in out
    names = {t["element_id"] for t in json.loads(deployed("tasks", "--json")[1])}
    assert names == {"drc_review", "finance_review"}
    assert [t["element_id"] for t in json.loads(deployed("tasks", "--user", "planner", "--json")[1])] == [
        "drc_review"]


def test_complete_checks_the_form_as_the_page_does_and_an_override_is_on_the_record(deployed, db):
    deployed("start", "unit_project", "--business-key", "P-1", "--var", "unit=edu", "--var", "approved_budget=100")
    add_user(deployed, "teacher", "unit:edu")
    add_user(deployed, "chief", "unit:edu", "--role", "admin")
    [task] = json.loads(deployed("tasks", "--user", "teacher", "--json")[1])
    task_id = str(task["id"])
    status, out, err = deployed("complete", task_id, "--user", "teacher", "--var", "progress=5",
                                "--var", "approved_budget=50000000")
    assert status == 1 and "the form does not take 'approved_budget'" in one_error_line(err)
    status, out, err = deployed("complete", task_id, "--user", "teacher", "--var", "progress=500")
    assert status == 1 and "field 'progress'" in one_error_line(err)
    status, out, err = deployed("complete", task_id, "--user", "teacher", "--var", "progress=5", "--override", "x")
    assert status == 1 and "needs the admin role" in one_error_line(err)
    status, out, err = deployed("complete", task_id, "--user", "chief", "--var", "progress=5",
                                "--var", "approved_budget=90", "--override", "概算调整已批复")
    assert status == 0, err
    with db.read() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.business_key == "P-1")).one()
        assert row.variables["approved_budget"] == 90
        [event] = [e for e in history.events_of(session, row.id) if e["type"] == "task_completed"]
        assert (event["actor"], event["data"]["form_override"]) == ("chief", "概算调整已批复 (chief)")


def test_start_checks_the_start_form_as_the_start_page_does(deployed, db):
    add_user(deployed, "teacher", "unit:edu")
    add_user(deployed, "chief", "unit:edu", "--role", "admin")
    form = ["--var", "project_name=智慧校园平台", "--var", "category=software", "--var", "estimated_budget=800000",
            "--var", "plan_year=2026"]
    status, out, err = deployed("start", "feasibility_ui", "--business-key", "F-1", *form, "--var", "unit=health")
    assert status == 1 and "the start form of 'feasibility_ui': the form does not take 'unit'" in one_error_line(err)
    status, out, err = deployed("start", "feasibility_ui", "--business-key", "F-1", "--var", "project_name=短")
    assert status == 1 and "field 'project_name'" in one_error_line(err) and "field 'category'" in one_error_line(err)
    status, out, err = deployed("start", "feasibility_ui", "--business-key", "F-1", *form, "--var", "unit=health",
                                "--user", "teacher")
    assert status == 1 and "field 'unit': one of the starter's units: edu" in one_error_line(err)
    status, out, err = deployed("start", "feasibility_ui", "--business-key", "F-1", *form, "--var", "unit=health",
                                "--user", "teacher", "--override", "补录")
    assert status == 1 and "needs the admin role" in one_error_line(err)
    with db.read() as session:
        assert session.scalars(select(ProcessInstance).where(ProcessInstance.business_key == "F-1")).all() == []
    status, out, err = deployed("start", "feasibility_ui", "--business-key", "F-1", *form, "--user", "teacher")
    assert status == 0, err
    assert deployed("start", "feasibility_ui", "--business-key", "F-2", *form, "--var", "unit=health",
                    "--user", "chief", "--override", "补录")[0] == 0
    with db.read() as session:
        first, second = session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "feasibility_ui")
                                        .order_by(ProcessInstance.id))
        assert (first.variables["plan_year"], first.variables["unit"]) == (2026, "edu")  # the starter's unit
        assert second.variables["unit"] == "health"
        [event] = [e for e in history.events_of(session, second.id) if e["type"] == "instance_started"]
        assert event["data"]["form_override"] == "补录 (chief)"


def test_users_add_reads_the_password_from_stdin(dalad, db):
    dalad("init-db")
    status, out, err = dalad("users", "add", "li", "--bureau", "drc", "unit:water", "--role", "admin",
                             "--last-name", "李", "--first-name", "明", "--email", "liming@dalad.gov.cn",
                             "--password-stdin", stdin="s3cret pass\nignored\n")
    assert status == 0, err
    with db.read() as session:
        user = users.authenticate(session, "li", "s3cret pass")
        assert user is not None and (user.groups, user.role_names) == (["drc", "unit:water"], ["admin"])
        assert (user.last_name, user.first_name, user.email) == ("李", "明", "liming@dalad.gov.cn")
    status, out, _ = dalad("users", "list")
    assert out == "li  李明  liming@dalad.gov.cn  drc,unit:water  admin\n"


@pytest.mark.parametrize("args", [
    [b"users", b"add", b"li\xff", b"--bureau", b"drc", b"--password-stdin"],  # a Latin-1 terminal's name
    [b"users", b"add", b"li", b"--bureau", b"unit:\xe6\xb0", b"--password-stdin"],  # UTF-8 cut short
    [b"users", b"set-password", b"\xfeli", b"--password-stdin"],
    [b"tokens", b"create", b"li\xff"],
])
def test_an_argument_that_is_not_utf8_is_one_error_line_and_nothing_is_added(dalad, db, args):
    """The shell hands bytes; Python reads those that are not UTF-8 as lone surrogates, which no
    database stores: `dalad users add` (and set-password, tokens create) ended in a traceback."""
    dalad("init-db")
    done = subprocess.run([str(Path(sys.executable).with_name("dalad")), *args], input=b"s3cret pass\n",
                          capture_output=True, env={**os.environ, "LANG": "C.UTF-8"}, timeout=60)
    assert done.returncode == 1, done.stderr
    [given] = [arg for arg in args if arg.decode("utf-8", "replace").encode() != arg]
    line = one_error_line(done.stderr.decode())
    assert line.startswith(f"dalad: error: argument {repr(given)[1:]} is not UTF-8 text"), line
    with db.read() as session:
        assert session.scalars(select(User.name)).all() == []


def test_timers_fire_due_after_the_clock_moves(deployed, db, frozen_clock):
    status, out, _ = deployed("start", "waits", "--business-key", "W-1")
    instance_id = int(out.split()[0])
    assert deployed("timers", "fire-due")[1] == "0 timers fired\n"
    frozen_clock.advance(timedelta(hours=2))
    assert deployed("timers", "fire-due")[1] == "1 timer fired\n"
    with db.read() as session:
        assert [(t.element_id, t.state) for t in session.scalars(
            select(Timer).where(Timer.instance_id == instance_id))] == [("cooling_off", "fired")]


def test_demo_seed_needs_consent_and_runs_twice(dalad, db, monkeypatch):
    dalad("init-db")
    status, _, err = dalad("demo-seed")
    assert status == 1 and "DALAD_DEMO=1" in one_error_line(err)
    status, out, err = dalad("demo-seed", "--yes-demo")
    assert status == 0, err
    monkeypatch.setenv("DALAD_DEMO", "1")
    status, out, _ = dalad("demo-seed")
    assert status == 0 and "0 added, 17 already there" in out
    with db.read() as session:
        everyone = {u.name: u for u in session.scalars(select(User))}
        assert all(u.is_demo for u in everyone.values())
        assert everyone["admin"].role_names == ["admin"] and everyone["auditor"].role_names == ["auditor"]
        assert everyone["edu"].groups == ["unit:edu"] and everyone["health"].groups == ["unit:health"]
        assert {g for u in everyone.values() for g in u.groups} >= {"office", "drc", "archives", "leading_group"}
        assert users.authenticate(session, "drc", "demo1234", allow_demo=True) is not None


@pytest.mark.parametrize("args, stdin, message", [
    (["start", "review", "--business-key", "P-1", "--var", "unit"], None, "NAME=VALUE"),
    (["start", "nope", "--business-key", "P-1"], None, "process 'nope' is not deployed"),
    (["start", "review"], None, "--business-key"),
    (["start", "review", "--business-key", "P-1", "--var", "_x=1"], None, "not allowed"),
    (["complete", "1", "--user", "nobody"], None, "user 'nobody' does not exist"),
    (["complete", "one", "--user", "li"], None, "invalid int value"),
    (["complete", "999", "--user", "li"], None, "task 999 does not exist"),
    (["deploy", "/no/such/folder"], None, "no such file or folder"),
    (["users", "add", "x", "--bureau", "dcr", "--password-stdin"], "long enough\n", "unknown bureau 'dcr'"),
    (["users", "add", "x", "--bureau", "drc", "--password-stdin"], "short\n", "at least 8"),
    (["users", "add", "x", "--bureau", "drc", "--role", "root", "--password-stdin"], "long enough\n", "root"),
    (["users", "add", "x", "--bureau", "drc"], None, "--password-stdin"),
    (["users", "add", "x", "--bureau", "drc", "--email", "x at dalad", "--password-stdin"], "long enough\n",
     "--email 'x at dalad' is not an e-mail address"),
    (["users", "add", "x", "--bureau", "drc", "--last-name", "张" * 256, "--password-stdin"], "long enough\n",
     "--last-name has 256 characters, at most 255"),
    (["users"], None, "add,list"),
    (["frobnicate"], None, "invalid choice"),
    (["start", "review", "--business-key", "B-1", "--user", "li", "--var", "x=" + "[" * 50_000], None,
     "--var x: the value nests too deeply"),
    ([], None, "give a command"),
])
def test_mistakes_are_one_line_and_exit_1(deployed, args, stdin, message):
    add_user(deployed, "li", "drc")
    status, out, err = deployed(*args, stdin=stdin)
    assert status == 1
    assert message in one_error_line(err)


def test_a_database_without_tables_or_out_of_reach_is_one_line(dalad, monkeypatch, tmp_path):
    monkeypatch.setenv("DALAD_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    status, _, err = dalad("tasks")
    assert status == 1 and "run `dalad init-db`" in one_error_line(err)
    monkeypatch.setenv("DALAD_DATABASE_URL", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite3'}")
    status, _, err = dalad("tasks")
    assert status == 1 and "cannot be used" in one_error_line(err)


def test_init_db_warns_when_the_history_key_sits_beside_the_sqlite_file(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("DALAD_DATABASE_URL", f"sqlite:///{folder / 'dalad.sqlite3'}")
    monkeypatch.setenv("DALAD_INSTANCE_DIR", str(folder))
    monkeypatch.setenv("DALAD_SECRET_KEY", "test-secret-key")
    monkeypatch.delenv("DALAD_HISTORY_KEY", raising=False)
    monkeypatch.delenv("DALAD_DEMO", raising=False)
    assert main(["init-db"]) == 0
    err = capsys.readouterr().err
    assert "dalad: warning: the history key" in err and "same folder as the database" in err
    monkeypatch.setenv("DALAD_HISTORY_KEY", TEST_KEY.decode())
    assert main(["init-db"]) == 0
    assert "warning" not in capsys.readouterr().err
    history.set_key(TEST_KEY)


def test_production_mode_keeps_the_history_key_away_from_the_sqlite_file(monkeypatch, tmp_path, capsys):
    """DALAD_ENV=production: the key file defaults to the user's configuration folder, and one
    beside the SQLite file stops every command with what to do; development stays as it was."""
    from engine.config import ConfigurationError, Settings

    folder = tmp_path / "instance"
    env = {"DALAD_DATABASE_URL": f"sqlite:///{folder / 'dalad.sqlite3'}", "DALAD_INSTANCE_DIR": str(folder),
           "DALAD_SECRET_KEY": "s", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    development = Settings.from_env(env)
    assert not development.production and development.history_key_file == folder / "history.key"
    production = Settings.from_env({**env, "DALAD_ENV": "production"})
    assert production.production and production.history_key_file == tmp_path / "config" / "dalad" / "history.key"
    assert production.history_key == production.history_key_file.read_text().encode()
    assert Settings.from_env(env, environment="production").history_key_file == production.history_key_file
    with pytest.raises(ConfigurationError, match="DALAD_ENV must be one of development, production, not 'prod'"):
        Settings.from_env({**env, "DALAD_ENV": "prod"})
    beside = {**env, "DALAD_ENV": "production", "DALAD_HISTORY_KEY_FILE": str(folder / "history.key")}
    with pytest.raises(ConfigurationError, match="is in the same folder as the SQLite database"):
        Settings.from_env(beside)
    assert Settings.from_env({**beside, "DALAD_HISTORY_KEY": "k" * 16}).history_key_file is None

    for name, value in beside.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DALAD_HISTORY_KEY", raising=False)
    assert main(["init-db"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dalad: error: production mode (DALAD_ENV=production): the history key file")
    assert "DALAD_HISTORY_KEY_FILE to a file in another folder" in err and len(err.strip().splitlines()) == 1
    history.set_key(TEST_KEY)


def test_start_of_a_real_diagram_holds_the_unit_and_the_rules_of_the_start(dalad, db):
    """bpmn/: a unit official declares a project only in their own unit's name, and a
    rectification order whose deadline is not after today is refused at the deadline (Art 27);
    an administrator may name any unit. Nothing is started by a refusal."""
    from engine import clock

    assert dalad("init-db")[0] == 0
    assert dalad("deploy", str(DIAGRAMS.parents[1] / "bpmn"))[0] == 0
    add_user(dalad, "teacher", "unit:edu")
    add_user(dalad, "reviewer", "drc")
    add_user(dalad, "chief", "unit:edu", "--role", "admin")
    project = ["--business-key", "P-CLI-1", "--var", "project_id=P-CLI-1", "--var", "project_name=智慧校园平台",
               "--var", "category=software", "--var", "nature=new", "--var", "estimated_budget=800000"]
    status, out, err = dalad("start", "project", *project, "--var", "unit=health", "--user", "teacher")
    assert status == 1 and "field 'unit': 只能以您本人所在的单位或部门发起" in one_error_line(err)
    assert dalad("start", "project", *project, "--var", "unit=edu", "--user", "teacher")[0] == 0
    order = ["--business-key", "P-CLI-1", "--var", "project_id=P-CLI-1", "--var", "project_name=智慧校园平台",
             "--var", "unit=edu", "--var", "issuer=drc", "--var", "problem=未开展密评", "--var", "article=第二十七条"]
    for deadline in (clock.today() - timedelta(days=1), clock.today()):
        status, out, err = dalad("start", "supervision", *order, "--var", f"rectification_deadline={deadline}",
                                 "--user", "reviewer")
        assert status == 1 and "field 'rectification_deadline': 整改期限须晚于下达整改通知之日" in one_error_line(err)
    with db.read() as session:
        assert session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "supervision")).all() == []
        [row] = session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "project"))
        assert (row.business_key, row.variables["unit"]) == ("P-CLI-1", "edu")
    ahead = clock.today() + timedelta(days=30)
    assert dalad("start", "supervision", *order, "--var", f"rectification_deadline={ahead}", "--user", "reviewer")[0] == 0
    assert dalad("groups", "add", "unit:health", "--name-zh", "旗卫生健康委员会")[0] == 0
    second = [a.replace("P-CLI-1", "P-CLI-2") for a in project]
    assert dalad("start", "project", *second, "--var", "unit=health", "--user", "teacher")[0] == 1
    assert dalad("start", "project", *second, "--var", "unit=health", "--user", "chief")[0] == 0


@pytest.mark.parametrize("args, named", [
    (["users", "add", "li", "--bureau", "drc", "--first-name", "明\u202e", "--password-stdin"],
     "--first-name holds an invisible format character, U+202E RIGHT-TO-LEFT OVERRIDE"),
    (["users", "add", "li\u200b", "--bureau", "drc", "--password-stdin"],
     "user name 'li\\u200b' holds an invisible format character, U+200B ZERO WIDTH SPACE"),
    (["groups", "add", "water", "--name-zh", "旗水利局\u2066"],
     "--name-zh holds an invisible format character, U+2066 LEFT-TO-RIGHT ISOLATE"),
    (["groups", "rename", "drc", "--name-en", "DRC\ufeff"], "--name-en holds an invisible format character, U+FEFF"),
    (["tokens", "create", "admin", "--name", "ci\u202e"], "the token name holds an invisible format character"),
])
def test_a_name_with_a_bidi_control_or_zero_width_character_is_one_error_line(dalad, db, args, named):
    """`dalad users add` and `groups add` kept names that display as other text."""
    dalad("init-db")
    if args[0] == "tokens":
        dalad("users", "add", "admin", "--role", "admin", "--password-stdin", stdin="s3cret pass\n")
    status, out, err = dalad(*args, stdin="s3cret pass\n")
    assert status == 1 and named in one_error_line(err), err
    with db.read() as session:
        assert session.scalars(select(User.name).where(User.name != "admin")).all() == []
        assert session.get(Bureau, "water") is None
        assert session.get(Bureau, "drc").name_en == "Banner Development and Reform Commission"
        assert session.scalars(select(ApiToken)).all() == []


def test_users_add_leaves_no_name_nor_address_in_the_history_and_it_verifies(dalad, db):
    """The history is signed and append-only: it records which profile fields a user was given, not them."""
    dalad("init-db")
    status, _out, err = dalad("users", "add", "li", "--bureau", "drc", "--last-name", "李", "--first-name", "明",
                              "--email", "liming@dalad.gov.cn", "--password-stdin", stdin="s3cret pass\n")
    assert status == 0, err
    with db.read() as session:
        bodies = [json.loads(body) for body in session.scalars(select(HistoryEvent.body))]
    text = json.dumps(bodies, ensure_ascii=False)
    assert "liming@dalad.gov.cn" not in text and "李" not in text and "明" not in text
    [added] = [b for b in bodies if b["type"] == "user_added"]
    assert added["data"]["profile"] == ["first_name", "last_name", "email"]
    status, out, err = dalad("history", "verify", "--all")
    assert status == 0, out + err
