"""Groups are data: the 办法's bureaus seeded, others added, renamed and deactivated by an
administrator; any active group takes members. One rule decides who may work on a task, and
administrators (as Camunda's camunda-admin) may work on and hand over any task, each time with
the reason in the history. The same through the `dalad` command."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from conftest import DIAGRAMS, deploy_files
from engine import bureaus, history, services, users
from engine.errors import AccessDenied, InvalidInput, NotFound, TaskNotReady
from engine.models import HistoryEvent, UserTask
from test_cli import dalad, one_error_line  # noqa: F401

PASSWORD = "long enough password"


def system_events(db, kind: str) -> list[dict]:
    with db.read() as s:
        return [json.loads(b)["data"] for b in s.scalars(select(HistoryEvent.body).where(
            HistoryEvent.chain == "system", HistoryEvent.type == kind).order_by(HistoryEvent.seq))]


def test_a_group_is_added_renamed_and_deactivated_and_takes_members_while_active(db):
    with db.write() as s:
        bureaus.ensure_bureaus(s)
        bureaus.add_group(s, "accounting", name_zh="会计", name_en="Accounting", actor="root")
        users.add_user(s, "ann", PASSWORD, bureaus=["accounting", "drc"], roles=[])
    with db.write() as s:
        bureaus.rename_group(s, "accounting", name_zh="财务会计", actor="root")
        bureaus.set_group_active(s, "accounting", False, actor="root")
    with db.read() as s:
        group = bureaus.get_group(s, "accounting")
        assert (group.name_zh, group.name_en, group.active) == ("财务会计", "Accounting", False)
        assert [g.id for g in bureaus.list_groups(s)][:2] == ["leading_group", "office"]  # the 办法's first
        assert bureaus.unknown_groups(s, ["accounting", "office", "sales", "unit:edu"]) == ["accounting", "sales"]
        assert users.get_user(s, "ann").groups == ["accounting", "drc"]  # a member stays a member
    with db.write() as s, pytest.raises(InvalidInput, match="group 'accounting' is deactivated"):
        users.add_user(s, "bob", PASSWORD, bureaus=["accounting"], roles=[])
    with db.write() as s, pytest.raises(InvalidInput, match="unknown bureau 'sales'.*dalad groups add"):
        users.add_user(s, "bob", PASSWORD, bureaus=["sales"], roles=[])
    with db.write() as s:
        bureaus.set_group_active(s, "secrecy", False)  # a bureau of the 办法 too
    with db.write() as s, pytest.raises(InvalidInput, match="group 'secrecy' is deactivated"):
        users.add_user(s, "bob", PASSWORD, bureaus=["secrecy"], roles=[])
    assert system_events(db, "group_added") == [{"group": "accounting", "name_zh": "会计", "name_en": "Accounting"}]
    assert system_events(db, "group_renamed")[0]["after"] == {"name_zh": "财务会计", "name_en": "Accounting"}
    assert system_events(db, "group_deactivated") == [{"group": "accounting"}, {"group": "secrecy"}]


@pytest.mark.parametrize("group_id, name, message", [
    ("", "x", "group id '' is not allowed"),
    ("has space", "x", "group id 'has space' is not allowed"),
    ("office", "x", "group 'office' already exists"),
    ("sales", " ", "name_zh is empty"),
])
def test_a_group_needs_a_clean_id_and_a_name(db, group_id, name, message):
    with db.write() as s:
        bureaus.ensure_bureaus(s)
        with pytest.raises(InvalidInput, match=message):
            bureaus.add_group(s, group_id, name_zh=name)
    with db.read() as s, pytest.raises(NotFound):
        bureaus.rename_group(s, "nobody", name_zh="x")


@pytest.fixture
def review_task(db):
    """review.bpmn's first task, offered to unit:edu; edu (its unit), office, admin (role only)."""
    with db.write() as s:
        bureaus.ensure_bureaus(s)
        users.add_user(s, "edu", PASSWORD, bureaus=["unit:edu"], roles=[])
        users.add_user(s, "office", PASSWORD, bureaus=["office"], roles=[])
        users.add_user(s, "admin", PASSWORD, bureaus=[], roles=[bureaus.ADMIN])
    deploy_files(db, "review.bpmn")
    with db.write() as s:
        row = services.start_process(s, "review", business_key="P-1", variables={"unit": "edu"}, user="edu")
        return row.id, s.scalars(select(UserTask.id).where(UserTask.instance_id == row.id)).one()


def _events(db, instance_id, kind):
    with db.read() as s:
        return [{"actor": e["actor"], **e["data"]} for e in history.events_of(s, instance_id) if e["type"] == kind]


def test_the_one_rule_candidates_the_assignee_and_administrators(db, review_task):
    _, task_id = review_task
    with db.read() as s:
        task = s.get(UserTask, task_id)
        assert services.task_access(task, "edu", ["unit:edu"]) == "candidate"
        assert services.task_access(task, "office", ["office"]) is None
        assert services.task_access(task, "edu", ["unit:edu"], action="assign") is None  # not claimed by edu
        assert services.task_access(task, "admin", [], [bureaus.ADMIN], action="assign") == "admin"
    with db.write() as s:
        services.claim(s, task_id, user="edu", groups=["unit:edu"])
    with db.read() as s:
        task = s.get(UserTask, task_id)
        assert services.task_access(task, "edu", ["unit:edu"], action="assign") == "assignee"
        assert services.task_access(task, "edu2", ["unit:edu"]) is None  # claimed: the assignee's now


def test_reassign_by_the_assignee_or_an_administrator_with_the_reason_in_the_history(db, review_task):
    instance_id, task_id = review_task
    with db.write() as s, pytest.raises(AccessDenied, match="edu may not reassign task .* not claimed"):
        services.reassign_task(s, task_id, actor="edu", to_user="office", reason="busy", groups=["unit:edu"])
    with db.write() as s:
        services.claim(s, task_id, user="edu", groups=["unit:edu"])
    with db.write() as s:
        services.reassign_task(s, task_id, actor="edu", to_user="office", reason="on leave", groups=["unit:edu"])
    with db.write() as s, pytest.raises(NotFound, match="user 'ghost' does not exist"):
        services.reassign_task(s, task_id, actor="admin", to_user="ghost", reason="x", roles=[bureaus.ADMIN])
    with db.write() as s:
        users.set_active(s, "edu", False)
    with db.write() as s, pytest.raises(InvalidInput, match="user 'edu' is deactivated"):
        services.reassign_task(s, task_id, actor="admin", to_user="edu", reason="x", roles=[bureaus.ADMIN])
    with db.write() as s:
        services.reassign_task(s, task_id, actor="admin", to_user="admin", reason="urgent", roles=[bureaus.ADMIN])
        services.complete_task(s, task_id, user="admin", data={"amount": 10}, roles=[bureaus.ADMIN])
    assigned = _events(db, instance_id, "task_assigned")
    assert [(e["actor"], e["from"], e["to"], e["reason"], e.get("admin_override")) for e in assigned] == [
        ("edu", "edu", "office", "on leave", None),
        ("admin", "office", "admin", "urgent", "urgent")]
    [completed] = _events(db, instance_id, "task_completed")
    assert completed["actor"] == "admin" and "admin_override" not in completed  # by then the assignee


def test_an_administrator_works_on_a_task_offered_to_nobody_known(db, review_task):
    instance_id, task_id = review_task
    with db.write() as s, pytest.raises(AccessDenied):
        services.complete_task(s, task_id, user="office", data={}, groups=["office"])
    with db.write() as s:
        services.claim(s, task_id, user="admin", roles=[bureaus.ADMIN])
    with db.write() as s, pytest.raises(TaskNotReady, match="already claimed by admin"):
        services.claim(s, task_id, user="edu", groups=["unit:edu"])
    [claimed] = _events(db, instance_id, "task_claimed")
    assert claimed["admin_override"] == ("administrator, not the assignee or a candidate (offered to unit:edu)")


# --------------------------------------------------------------------------- the command

def test_groups_through_the_command(dalad):
    assert dalad("init-db")[0] == 0
    status, out, err = dalad("groups", "add", "accounting", "--name-zh", "会计", "--name-en", "Accounting")
    assert (status, out) == (0, "group accounting added: 会计  Accounting\n"), err
    status, out, _ = dalad("users", "add", "ann", "--bureau", "accounting", "--password-stdin",
                           stdin="long enough\n")
    assert status == 0 and "accounting" in out
    assert dalad("groups", "rename", "accounting", "--name-zh", "财务")[1] == "group accounting renamed: 财务  Accounting\n"
    assert dalad("groups", "deactivate", "accounting")[1] == "group accounting deactivated\n"
    listing = dalad("groups", "list")[1].splitlines()
    assert listing[0].startswith("leading_group  ") and "accounting  财务  Accounting  inactive" in listing
    status, _, err = dalad("users", "add", "bob", "--bureau", "accounting", "--password-stdin", stdin="long enough\n")
    assert status == 1 and "group 'accounting' is deactivated" in one_error_line(err)
    assert dalad("groups", "activate", "accounting")[1] == "group accounting activated\n"
    status, _, err = dalad("groups", "add", "accounting", "--name-zh", "x")
    assert status == 1 and "already exists" in one_error_line(err)
    status, _, err = dalad("groups", "rename", "accounting")
    assert status == 1 and "give --name-zh and/or --name-en" in one_error_line(err)


def test_deploy_prints_warnings_and_an_administrator_reassigns_from_the_command(dalad):
    assert dalad("init-db")[0] == 0
    for name, args in (("edu", ("--bureau", "unit:edu")), ("root", ("--role", "admin"))):
        assert dalad("users", "add", name, *args, "--password-stdin", stdin="long enough\n")[0] == 0
    status, out, err = dalad("deploy", str(DIAGRAMS / "review.bpmn"),
                             str(DIAGRAMS.parent / "camunda" / "parallel_user_tasks.bpmn"))
    assert status == 0, err
    assert "warning: parallel_user_tasks.bpmn:12 element 'task_groups' (userTask): candidate group 'accounting', " \
           "'management' do not exist" in out
    assert dalad("start", "review", "--business-key", "P-1", "--var", "unit=edu", "--user", "edu")[0] == 0
    status, out, err = dalad("reassign", "1", "--to", "edu", "--user", "edu", "--reason", "mine")
    assert status == 1 and "edu may not reassign task 1" in one_error_line(err)
    status, out, err = dalad("reassign", "1", "--to", "edu", "--user", "root", "--reason", "edu asked")
    assert (status, out) == (0, "task 1 assigned to edu\n"), err
    status, out, err = dalad("complete", "1", "--user", "root", "--var", "amount=5", "--reason", "edu is ill")
    assert status == 0 and out.startswith("task 1 completed"), err
