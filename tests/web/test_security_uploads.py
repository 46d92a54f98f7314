"""Uploads an official could use to stall the server or fill the database (issue 10 §3), tried
through the task page's upload form: archives with too many entries or that unpack too far, and
more than a task's or a project's quota."""
from __future__ import annotations

import io
import struct
import zipfile

import pytest

from test_ui_fixtures import app, client, login, post, start_project, text_of  # noqa: F401

from engine import documents
from engine.models import Document


def crafted_zip(entries: int, *, unpacked: int = 0) -> bytes:
    """A zip whose central directory lists `entries` files (ZIP64 when there are 65535 or more)
    behind one local header: what a hostile official would make, small enough to pass the size
    limit."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 0, unpacked, 1, 0) + b"a"
    one = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, 0, unpacked, 1, 0, 0, 0, 0, 0, 0) + b"a"
    directory = one * entries
    start, size = len(local), len(directory)
    tail = b""
    if entries >= 0xFFFF:
        eocd64_at = start + size
        tail += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, entries, entries, size, start)
        tail += struct.pack("<IIQI", 0x07064B50, 0, eocd64_at, 1)
        counts = (0xFFFF, 0xFFFF)
    else:
        counts = (entries, entries)
    tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, *counts, size, start, 0)
    return local + directory + tail


def _upload(client, task_id, name, content):
    return post(client, f"/tasks/{task_id}/documents", {"file": (io.BytesIO(content), name)},
                content_type="multipart/form-data", follow_redirects=True)


def _stored(db) -> list[str]:
    with db.read() as session:
        return [d.filename for d in session.query(Document).order_by(Document.id)]


@pytest.mark.parametrize("name, content", [
    ("四十二万.zip", crafted_zip(420_000)),
    ("六万.zip", crafted_zip(60_000)),
    ("炸弹.zip", crafted_zip(3, unpacked=0xFFFFFFF0)),
    ("报告.docx", crafted_zip(20_000)),
])
def test_archives_past_the_limits_are_refused_without_unpacking(db, client, name, content):
    assert len(content) <= documents.MAX_SIZE
    task_id = start_project(db)
    login(client, "edu_li")
    page = _upload(client, task_id, name, content)
    assert "压缩文件包含的文件过多或解压后过大" in text_of(page)
    assert _stored(db) == []
    with pytest.raises(documents.DocumentRefused) as refused:
        documents.inspect(name, content)
    assert refused.value.reason == "archive_too_large"


def test_an_ordinary_archive_is_taken(db, client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(50):
            archive.writestr(f"附件{i}.txt", "材料" * 100)
    task_id = start_project(db)
    login(client, "edu_li")
    assert "已上传" in text_of(_upload(client, task_id, "材料.zip", buffer.getvalue()))
    assert _stored(db) == ["材料.zip"]


@pytest.mark.parametrize("task_quota, instance_quota, refusal", [
    (100_000, 10_000_000, "本任务的附件总量已超过"), (10_000_000, 100_000, "本项目的附件总量已超过")])
def test_a_task_and_a_project_have_quotas(db, client, monkeypatch, task_quota, instance_quota, refusal):
    monkeypatch.setattr(documents, "TASK_QUOTA", task_quota)  # a small deployment's settings
    monkeypatch.setattr(documents, "INSTANCE_QUOTA", instance_quota)
    pdf = b"%PDF-1.7\n" + b"0" * 40_000
    task_id = start_project(db)
    login(client, "edu_li")
    for i in range(2):
        assert "已上传" in text_of(_upload(client, task_id, f"第{i}.pdf", pdf))
    assert refusal in text_of(_upload(client, task_id, "第3.pdf", pdf))
    assert _stored(db) == ["第0.pdf", "第1.pdf"]


@pytest.mark.parametrize("task_quota, instance_quota, refusal", [
    (100_000, 10_000_000, "本任务的附件总量已超过"), (10_000_000, 100_000, "本项目的附件总量已超过")])
def test_reusing_a_material_again_and_again_keeps_within_the_quotas(db, client, monkeypatch, task_quota,
                                                                    instance_quota, refusal):
    # each use is a new row with the content: it filled the database past every quota
    monkeypatch.setattr(documents, "TASK_QUOTA", task_quota)
    monkeypatch.setattr(documents, "INSTANCE_QUOTA", instance_quota)
    task_id = start_project(db)
    login(client, "edu_li")
    assert "已上传" in text_of(_upload(client, task_id, "报告.pdf", b"%PDF-1.7\n" + b"0" * 40_000))
    [source] = _ids(db)
    page = post(client, f"/tasks/{task_id}/documents/reuse", {"reuse": str(source)}, follow_redirects=True)
    assert "已引用" in text_of(page)
    page = post(client, f"/tasks/{task_id}/documents/reuse", {"reuse": str(source)}, follow_redirects=True)
    assert refusal in text_of(page)
    assert _stored(db) == ["报告.pdf", "报告.pdf"]


def _ids(db) -> list[int]:
    with db.read() as session:
        return [d.id for d in session.query(Document).order_by(Document.id)]
