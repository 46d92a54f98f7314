"""How the database stores what every step rewrites."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from conftest import deploy_files
from engine import services
from engine.models import ProcessInstance


@pytest.mark.postgres_only
def test_on_postgresql_the_state_and_variables_every_step_rewrites_are_compressed_with_lz4(db, frozen_clock):
    """PostgreSQL compresses a value over about 2 kB when it stores it; its default (pglz) costs
    the server about 90 µs of each step's UPDATE of the instance's state, lz4 a tenth of that."""
    deploy_files(db, "review.bpmn")
    with db.write() as session:
        instance_id = services.start_process(session, "review", user="alice", variables={
            "unit": "edu", "description": "建设内容说明。" * 800}).id  # well over the 2 kB at which values are compressed
    with db.read() as session:
        methods = session.execute(text(
            "SELECT pg_column_compression(state), pg_column_compression(variables) FROM process_instance "
            "WHERE id = :id"), {"id": instance_id}).one()
    assert tuple(methods) == ("lz4", "lz4")


def test_json_columns_read_back_as_written_whichever_reader_reads_them(db, frozen_clock):
    """JSON columns are read by orjson (engine/jsontext.loads), by the standard library where
    orjson would read otherwise: integers beyond 64 bits (orjson makes them floats), and as long
    runs of digits."""
    deploy_files(db, "review.bpmn")
    variables = {"unit": "edu", "big": 2 ** 70, "negative": -(2 ** 64), "limit": 2 ** 63 - 1, "float": 0.1,
                 "digits": "1234567890123456789012", "text": "建设", "nested": [{"a": [1, None]}]}
    with db.write() as session:
        instance_id = services.start_process(session, "review", user="alice", variables=variables).id
    with db.read() as session:
        stored = session.get(ProcessInstance, instance_id).variables
    assert {name: stored[name] for name in variables} == variables
    assert type(stored["big"]) is int and type(stored["float"]) is float
