"""Document checks of engine/documents.py and the upload size limit of the UI."""
from __future__ import annotations

import pytest

from test_ui_fixtures import app, client, login, start_project, text_of  # noqa: F401

from engine import documents

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@pytest.mark.parametrize("name, content, kind", [
    ("scan.png", PNG, "image/png"), ("photo.JPG", JPG, "image/jpeg"), ("photo.jpeg", JPG, "image/jpeg"),
    ("report.pdf", b"%PDF-1.5\n", "application/pdf"), ("empty.zip", b"PK\x05\x06" + b"\x00" * 18, "application/zip"),
])
def test_allowed_types_are_recognised_by_content(name, content, kind):
    assert documents.sniff(name, content).content_type == kind


@pytest.mark.parametrize("name, content, reason", [
    ("scan.png", JPG, "content_mismatch"), ("report.docx", b"PK\x03\x04garbage", "content_mismatch"),
    ("tool.exe", b"MZ", "type_not_allowed"), ("noextension", b"%PDF-", "type_not_allowed"),
    ("page.html", b"<html>", "type_not_allowed"),
])
def test_other_content_is_refused(name, content, reason):
    with pytest.raises(documents.DocumentRefused) as refused:
        documents.sniff(name, content)
    assert refused.value.reason == reason


def test_size_limit_and_empty_files(db, app):
    task_id = start_project(db)
    from engine import services
    with db.write() as session:
        instance_id = services.user_task(session, task_id).instance_id
        with pytest.raises(documents.DocumentRefused) as refused:
            documents.add(session, instance_id, filename="big.pdf", content=b"%PDF-" + b"0" * documents.MAX_SIZE,
                          user="edu_li")
        assert refused.value.reason == "too_large"
        with pytest.raises(documents.DocumentRefused) as refused:
            documents.add(session, instance_id, filename="empty.pdf", content=b"", user="edu_li")
        assert refused.value.reason == "empty"


def test_uploaded_names_lose_paths_and_control_characters():
    assert documents.clean_filename("C:\\Users\\李\\可研报告.pdf") == "可研报告.pdf"
    assert documents.clean_filename("../../etc/passwd\x00.pdf") == "passwd.pdf"
    assert len(documents.clean_filename("长" * 300 + ".pdf")) == 200


def test_an_upload_over_the_request_limit_gets_the_chinese_413_page(db, client):
    task_id = start_project(db)
    login(client, "edu_li")
    body = b"0" * (21 * 1024 * 1024 + 1)  # raw bytes: the limit is checked on Content-Length, before parsing
    response = client.post(f"/tasks/{task_id}/documents", data=body,
                           content_type="multipart/form-data; boundary=x")
    assert response.status_code == 413 and "文件过大" in text_of(response)
