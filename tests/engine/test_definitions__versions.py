"""Deploying versions: new content makes a new version, the same bytes do not, running instances
keep their version, and a bundle is stored whole or not at all."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import DIAGRAMS, bundle, deploy_files
from engine import services
from engine.definitions import BundleFile
from engine.errors import DefinitionInvalid
from engine.models import (Deployment, HistoryEvent, ProcessDefinition, ProcessInstance, Resource,
                           StartSubscription)

OFFICE = ["office"]


def review_v2() -> BundleFile:
    """review.bpmn with the amount threshold moved from 1000 to 100: other bytes, other routing."""
    text = (DIAGRAMS / "review.bpmn").read_text(encoding="utf-8")
    changed = text.replace("${amount &gt;= 1000}", "${amount &gt;= 100}").replace("${amount lt 1000}",
                                                                                "${amount lt 100}")
    assert changed != text
    return BundleFile("review.bpmn", changed.encode("utf-8"))


def deploy(db, files):
    with db.write() as session:
        return services.deploy(session, files, name="test", user="admin")


def counts(db) -> dict:
    with db.read() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Deployment, Resource, ProcessDefinition, StartSubscription, HistoryEvent)}


def start_and_submit(db, amount: int) -> int:
    with db.write() as session:
        row = services.start_process(session, "review", variables={"unit": "edu"}, user="alice")
        [task] = services.tasks(session, instance_id=row.id)
        services.complete_task(session, task.id, user="alice", groups=["unit:edu"], data={"amount": amount})
        return row.id


def ready_elements(db, instance_id: int) -> set[str]:
    with db.read() as session:
        return {t.element_id for t in services.tasks(session, instance_id=instance_id)}


def finish(db, instance_id: int) -> None:
    groups = {"office_review": ["office"], "drc_review": ["drc"], "finance_review": ["finance"]}
    with db.write() as session:
        for task in services.tasks(session, instance_id=instance_id):
            services.complete_task(session, task.id, user="reviewer", groups=groups[task.element_id])


def test_first_deploy_of_a_process_is_version_1(db, frozen_clock):
    result = deploy_files(db, "review.bpmn")
    [item] = result.items
    assert (item.kind, item.key, item.version, item.new) == ("process", "review", 1, True)
    with db.read() as session:
        assert services.process_definition(session, "review").id == item.id


def test_redeploying_identical_bytes_makes_no_new_version(db, frozen_clock):
    first = deploy_files(db, "review.bpmn").items[0]
    again = deploy_files(db, "review.bpmn").items[0]
    assert again.new is False
    assert (again.id, again.version) == (first.id, 1)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessDefinition)) == 1


def test_changed_bytes_make_version_2_and_starts_take_the_latest(db, frozen_clock):
    first = deploy_files(db, "review.bpmn").items[0]
    second = deploy(db, [review_v2()]).items[0]
    assert (second.key, second.version, second.new) == ("review", 2, True)
    assert second.id != first.id
    with db.read() as session:
        assert services.process_definition(session, "review").id == second.id
        assert services.process_definition(session, "review", version=1).id == first.id


def test_instance_started_on_v1_stays_on_v1_while_new_starts_take_v2(db, frozen_clock):
    v1 = deploy_files(db, "review.bpmn").items[0]
    with db.write() as session:
        old = services.start_process(session, "review", variables={"unit": "edu"}, user="alice").id
    v2 = deploy(db, [review_v2()]).items[0]
    with db.write() as session:
        new = services.start_process(session, "review", variables={"unit": "edu"}, user="alice").id
    with db.read() as session:
        assert session.get(ProcessInstance, old).definition_id == v1.id
        assert session.get(ProcessInstance, new).definition_id == v2.id

    for instance_id in (old, new):  # the same amount routes by each instance's own version
        with db.write() as session:
            [task] = services.tasks(session, instance_id=instance_id)
            services.complete_task(session, task.id, user="alice", groups=["unit:edu"], data={"amount": 500})
    assert ready_elements(db, old) == {"office_review"}
    assert ready_elements(db, new) == {"drc_review", "finance_review"}

    finish(db, old)
    finish(db, new)
    with db.read() as session:
        for instance_id, definition_id in ((old, v1.id), (new, v2.id)):
            row = session.get(ProcessInstance, instance_id)
            assert (row.status, row.definition_id) == ("completed", definition_id)


def test_bundle_with_one_broken_file_stores_nothing(db, frozen_clock):
    deploy_files(db, "waits.bpmn")
    before = counts(db)
    broken = BundleFile("broken.bpmn", b"<?xml version='1.0'?>\n<bpmn:definitions xmlns:bpmn='x'>\n<oops>\n")
    waits_v2 = BundleFile("waits.bpmn", (DIAGRAMS / "waits.bpmn").read_bytes().replace(b"PT1H", b"PT2H"))
    with db.write() as session:  # the caller swallows the error and commits: still nothing is kept
        with pytest.raises(DefinitionInvalid) as caught:
            services.deploy(session, [*bundle("review.bpmn", "intake.bpmn"), waits_v2, broken],
                            name="all or nothing", user="admin")
    assert "broken.bpmn" in str(caught.value)
    assert counts(db) == before
    with db.read() as session:
        assert services.process_definition(session, "waits").version == 1
        assert set(session.scalars(select(ProcessDefinition.key))) == {"waits"}
