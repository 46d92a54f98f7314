"""The one XML parser for uploaded files (BPMN, DMN, forms): hardened against entity and DTD
attacks and oversized input.

Every file a user uploads goes through `parse_xml`. It never resolves entities, loads a DTD or
touches the network, and it refuses any DOCTYPE outright: a BPMN or DMN file has no business
declaring one, and refusing them is simpler to reason about than neutralising them.
"""
from __future__ import annotations

import codecs
import re

from lxml import etree

from engine.errors import DefinitionInvalid, Problem

__all__ = ["MAX_XML_BYTES", "parse_xml"]

MAX_XML_BYTES = 10 * 1024 * 1024  # 10 MiB

DOCTYPE_REFUSED = (
    "DOCTYPE declarations are not allowed (a DTD can declare entities that read local files "
    "or expand without limit); remove the <!DOCTYPE ...> from the file"
)

# The prolog: optional whitespace, XML declaration, processing instructions and comments, in any
# order, then a DOCTYPE. The atomic group and possessive repetition never backtrack, so the scan
# is linear and cannot wander past the prolog into the document body.
_PROLOG_DOCTYPE = re.compile(r"\A(?>\s+|<\?.*?\?>|<!--.*?-->)*+<!DOCTYPE", re.S)
_PROLOG_DOCTYPE_BYTES = re.compile(rb"\A(?>\s+|<\?.*?\?>|<!--.*?-->)*+<!DOCTYPE", re.S)

_WIDE_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\0\0\0", "utf-32-le"),
    (b"\0\0\0<", "utf-32-be"),
    (b"<\0", "utf-16-le"),
    (b"\0<", "utf-16-be"),
)


def _make_parser() -> etree.XMLParser:
    # A new parser per call: parsers keep state (error log, resolvers) and are not shared
    # between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _prolog_doctype_line(data: bytes) -> int | None:
    """Return the line of a DOCTYPE in the prolog, found before parsing, or None."""
    for marker, encoding in _WIDE_ENCODINGS:
        if data.startswith(marker):
            bom = marker if marker in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE,
                                       codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else b""
            text = data[len(bom):].decode(encoding, errors="replace")
            match = _PROLOG_DOCTYPE.match(text)
            return None if match is None else text.count("\n", 0, match.end()) + 1
    body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    match = _PROLOG_DOCTYPE_BYTES.match(body)
    return None if match is None else body.count(b"\n", 0, match.end()) + 1


def parse_xml(data: bytes, filename: str) -> etree._ElementTree:
    """Parse an uploaded XML file safely and return its tree (elements keep `sourceline`).

    Raises DefinitionInvalid (one Problem naming `filename`) when the file is too large, has a
    DOCTYPE, or is not well-formed XML (with the line and column lxml reports).
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"parse_xml takes the file's bytes, not {type(data).__name__}")
    if len(data) > MAX_XML_BYTES:
        raise DefinitionInvalid([Problem(
            filename,
            f"file is too large: {len(data)} bytes (the limit is {MAX_XML_BYTES // (1024 * 1024)} MiB)",
        )])
    line = _prolog_doctype_line(data)
    if line is not None:
        raise DefinitionInvalid([Problem(filename, DOCTYPE_REFUSED, line=line)])
    try:
        root = etree.fromstring(data, _make_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, None)
        raise DefinitionInvalid([Problem(
            filename, f"malformed XML: {exc.msg}", line=line or None, column=column or None,
        )]) from None
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DefinitionInvalid([Problem(filename, DOCTYPE_REFUSED, line=1)])
    return tree
