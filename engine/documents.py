"""Attachments of an instance: checked by content, stored whole in the database, never overwritten.

A file is taken only when its name ends in an allowed type and its first bytes (and, for the
Office/OFD containers, the parts inside the zip) say it really is that type: an .exe renamed .pdf
is refused. Each upload is a new `Document` row with its SHA-256; nothing is replaced.

Limits: a file is at most MAX_SIZE; the documents uploaded at one task together at most
TASK_QUOTA, those of one instance (a project) at most INSTANCE_QUOTA. An archive (zip, docx,
xlsx, ofd) has at most MAX_ENTRIES entries (read from its end record before anything else) and
unpacks to at most MAX_UNPACKED; nothing is ever unpacked. `inspect` does these checks on the
content alone, so a caller runs it before opening a write transaction.
"""
from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock
from .errors import InvalidInput, NotFound
from .models import Document, ProcessInstance, UserTask

MB = 1024 * 1024
MAX_SIZE = 20 * MB
TASK_QUOTA = 100 * MB
INSTANCE_QUOTA = 500 * MB
MAX_ENTRIES = 10_000
MAX_UNPACKED = 200 * MB

# extension -> (MIME type stored and sent back, what the content must be)
ALLOWED = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "zip": "application/zip",
    "ofd": "application/ofd",
}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class DocumentRefused(InvalidInput):
    """An upload that is not taken; `reason` is one of: empty, too_large, type_not_allowed,
    content_mismatch, archive_too_large, task_quota, instance_quota."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Sniffed:
    extension: str
    content_type: str


def sniff(filename: str, content: bytes) -> Sniffed:
    """The type of an upload, from its name and its content; refuse what does not match."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in ALLOWED:
        raise DocumentRefused("type_not_allowed", f"file type '.{extension}' is not allowed "
                              f"(allowed: {', '.join(sorted(set(ALLOWED) - {'jpeg'}))})")
    if not _content_is(extension, content):
        raise DocumentRefused("content_mismatch", f"the content of '{filename}' is not a .{extension} file")
    return Sniffed(extension, ALLOWED[extension])


def inspect(filename: str, content: bytes) -> Sniffed:
    """Every check an upload's content alone decides: not empty, not too large, its type."""
    if not content:
        raise DocumentRefused("empty", f"'{filename}' is empty")
    if len(content) > MAX_SIZE:
        raise DocumentRefused("too_large", f"'{filename}' is larger than {MAX_SIZE // MB} MB")
    return sniff(filename, content)


def _archive_entries(content: bytes) -> int:
    """The entry count in a zip's end record (65535 when it defers to a ZIP64 record), read
    without parsing the central directory; -1 when there is no end record."""
    at = content.rfind(b"PK\x05\x06", max(0, len(content) - 22 - 65535))
    if at < 0 or at + 22 > len(content):
        return -1
    return struct.unpack_from("<H", content, at + 10)[0]


def _content_is(extension: str, content: bytes) -> bool:
    if extension == "pdf":
        return b"%PDF-" in content[:1024]  # some writers put a few bytes before the header
    if extension == "png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if extension in ("jpg", "jpeg"):
        return content.startswith(b"\xff\xd8\xff")
    if not content.startswith(_ZIP_MAGIC):
        return False
    entries = _archive_entries(content)
    if entries > MAX_ENTRIES:
        raise DocumentRefused("archive_too_large", f"the archive has more than {MAX_ENTRIES:,} entries")
    try:  # reads the central directory only: nothing is unpacked
        infos = zipfile.ZipFile(io.BytesIO(content)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError):
        return False
    if len(infos) > MAX_ENTRIES:
        raise DocumentRefused("archive_too_large", f"the archive has more than {MAX_ENTRIES:,} entries")
    if sum(info.file_size for info in infos) > MAX_UNPACKED:
        raise DocumentRefused("archive_too_large", f"the archive unpacks to more than {MAX_UNPACKED // MB} MB")
    names = {info.filename for info in infos}
    if extension == "zip":
        return True
    if extension == "docx":
        return "[Content_Types].xml" in names and any(n.startswith("word/") for n in names)
    if extension == "xlsx":
        return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)
    if extension == "ofd":
        return "OFD.xml" in names
    return False


def clean_filename(name: str) -> str:
    """The last part of an uploaded name, without control characters, at most 200 characters."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".") or "file"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 199 - len(ext)] + dot + ext) if dot and len(ext) < 16 else name[:200]
    return name


def add(session: Session, instance_id: int, *, filename: str, content: bytes, user: str,
        task_id: Optional[int] = None, field: Optional[str] = None, inspected: Optional[Sniffed] = None) -> Document:
    """Store an upload as a new document of the instance (its row records who, when and the SHA-256).

    Pass what `inspect` found before the transaction as `inspected` (else it is inspected here);
    the quotas are checked here."""
    filename = clean_filename(filename)
    kind = inspected or inspect(filename, content)
    if session.get(ProcessInstance, instance_id) is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    _check_quotas(session, instance_id, task_id, len(content))
    document = Document(instance_id=instance_id, task_id=task_id, field=field, filename=filename,
                        content_type=kind.content_type, size=len(content),
                        sha256=hashlib.sha256(content).hexdigest(), content=content,
                        uploaded_by=user, uploaded_at=clock.now())
    session.add(document)
    session.flush()
    if task_id is not None:
        _record(session, document, "document_added", user, {"filename": filename, "sha256": document.sha256})
    return document


def remove(session: Session, document: Document, *, user: str) -> None:
    """Take a document off its task (uploaded by mistake); the row and the history keep it."""
    document.removed_by, document.removed_at = user, clock.now()
    _record(session, document, "document_removed", user, {"filename": document.filename})


def retag(session: Session, document: Document, field: Optional[str], *, user: str) -> None:
    """Say which material a document is; the history keeps what it was before."""
    previous, document.field = document.field, field
    _record(session, document, "document_retagged", user, {"from": previous, "to": field})


def _check_quotas(session: Session, instance_id: int, task_id: Optional[int], size: int) -> None:
    """Refuse `size` more bytes beyond the task's or the project's quota."""
    for column, key, quota, reason, what in ((Document.task_id, task_id, TASK_QUOTA, "task_quota", "this task"),
                                             (Document.instance_id, instance_id, INSTANCE_QUOTA, "instance_quota",
                                              "this project")):
        if key is None:
            continue
        used = session.scalar(select(func.coalesce(func.sum(Document.size), 0)).where(column == key))
        if used + size > quota:
            raise DocumentRefused(reason, f"the documents of {what} would exceed {quota // MB} MB")


def reuse(session: Session, document: Document, *, task_id: int, field: Optional[str], user: str) -> Document:
    """Use a document already in the case as a material of another task (a new row, same content,
    within the quotas as an upload)."""
    _check_quotas(session, document.instance_id, task_id, document.size)
    copy = Document(instance_id=document.instance_id, task_id=task_id, field=field, filename=document.filename,
                    content_type=document.content_type, size=document.size, sha256=document.sha256,
                    content=document.content, uploaded_by=user, uploaded_at=clock.now())
    session.add(copy)
    session.flush()
    _record(session, copy, "document_added", user, {"filename": copy.filename, "sha256": copy.sha256,
                                                    "reused": document.id})
    return copy


def _record(session: Session, document: Document, kind: str, user: str, data: dict) -> None:
    from . import history, instances, services

    row = instances.lock_instance(session, document.instance_id)
    element = session.scalar(select(UserTask.element_id).where(UserTask.id == document.task_id))
    history.record(session, row, [history.Event(kind, actor=user, element_id=element,
                                                data={"task": document.task_id, "document": document.id,
                                                      "field": document.field, **data})],
                   services._current_digest(session, row))


def get(session: Session, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound(f"document {document_id} does not exist")
    return document


def of_instance(session: Session, instance_id: int) -> list[Document]:
    """The documents of an instance, newest first (content not loaded; removed ones left out)."""
    return list(session.scalars(select(Document).where(Document.instance_id == instance_id,
                                                       Document.removed_at.is_(None))
                                .order_by(Document.uploaded_at.desc(), Document.id.desc())))


def fields_present(session: Session, task_id: int) -> set[str]:
    """The material keys (`Document.field`) uploaded at a task."""
    return set(session.scalars(select(Document.field).where(Document.task_id == task_id, Document.removed_at.is_(None),
                                                            Document.field.is_not(None))))


def latest_for(session: Session, task_id: int, field: str) -> Optional[Document]:
    return session.scalars(select(Document).where(Document.task_id == task_id, Document.field == field,
                                                  Document.removed_at.is_(None))
                           .order_by(Document.id.desc()).limit(1)).first()

