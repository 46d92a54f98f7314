"""The hardened parser for uploaded XML: no DOCTYPE, no entities, a size limit, located errors."""
import pytest

from engine.errors import DefinitionInvalid, Problem
from engine.xmlsafe import MAX_XML_BYTES, parse_xml

GOOD = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Definitions_1">
  <!-- a comment the modeller left -->
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" name="\xe7\x94\xb3\xe8\xaf\xb7" />
  </bpmn:process>
</bpmn:definitions>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz a="&lol9;">&lol9;</lolz>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="p" name="&e;" isExecutable="true"><bpmn:documentation>&e;</bpmn:documentation></bpmn:process>
</bpmn:definitions>
"""


def refusal(data: bytes, filename: str = "upload.bpmn") -> Problem:
    with pytest.raises(DefinitionInvalid) as info:
        parse_xml(data, filename)
    assert len(info.value.problems) == 1
    return info.value.problems[0]


def test_parses_a_good_file_and_keeps_source_lines_and_comments():
    tree = parse_xml(GOOD, "good.bpmn")
    root = tree.getroot()
    assert root.sourceline == 2
    start = root.find(".//{http://www.omg.org/spec/BPMN/20100524/MODEL}startEvent")
    assert start.sourceline == 5
    assert start.get("name") == "申请"
    assert any(not isinstance(node.tag, str) for node in root.iter())  # the comment is kept
    assert tree.docinfo.doctype == ""


def test_accepts_bytearray():
    assert parse_xml(bytearray(GOOD), "good.bpmn").getroot().get("id") == "Definitions_1"


def test_refuses_text_instead_of_bytes():
    with pytest.raises(TypeError):
        parse_xml(GOOD.decode("utf-8"), "good.bpmn")


def test_billion_laughs_is_refused():
    problem = refusal(BILLION_LAUGHS, "lol.bpmn")
    assert problem.file == "lol.bpmn"
    assert problem.line == 2
    assert "DOCTYPE declarations are not allowed" in problem.message
    assert "lol" not in problem.message


def test_external_entity_is_refused_and_never_read():
    with pytest.raises(DefinitionInvalid) as info:
        parse_xml(EXTERNAL_ENTITY, "evil.bpmn")
    problem = info.value.problems[0]
    assert problem == Problem("evil.bpmn", problem.message, line=2)
    assert "DOCTYPE declarations are not allowed" in problem.message
    assert str(info.value).startswith("deployment refused:\n  evil.bpmn:2: DOCTYPE declarations are not allowed")
    assert "root:" not in str(info.value)  # nothing of /etc/passwd anywhere
    assert "/bin/" not in str(info.value)


@pytest.mark.parametrize("data", [
    b"<!DOCTYPE html><x/>",
    b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- note -->\n<!DOCTYPE x SYSTEM 'http://example.com/x.dtd'><x/>",
    b"<?xml version='1.0'?><?pi data?>\n\n<!DOCTYPE x [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]><x/>",
])
def test_any_doctype_is_refused(data):
    assert "DOCTYPE declarations are not allowed" in refusal(data).message


def test_doctype_in_utf16_is_refused():
    data = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    problem = refusal(data.encode("utf-16"))
    assert "DOCTYPE declarations are not allowed" in problem.message
    assert problem.line == 2


def test_doctype_refused_after_parse_too(monkeypatch):
    """Should the prolog scan miss a DOCTYPE, the parsed tree's docinfo still refuses it."""
    import engine.xmlsafe as xmlsafe

    monkeypatch.setattr(xmlsafe, "_prolog_doctype_line", lambda data: None)
    for data in (b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
                 b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'):
        problem = refusal(data)
        assert "DOCTYPE declarations are not allowed" in problem.message
        assert "root:" not in problem.message
    # libxml2 itself stops the full billion laughs (entity amplification limit): refused either way
    problem = refusal(BILLION_LAUGHS.replace(b' a="&lol9;"', b""))
    assert "lollollol" not in problem.message


def test_doctype_text_inside_the_document_is_not_a_doctype():
    data = b"<x><![CDATA[ <?x?><!DOCTYPE html> ]]><!-- <!DOCTYPE y> --></x>"
    assert parse_xml(data, "ok.bpmn").getroot().text.strip() == "<?x?><!DOCTYPE html>"


def test_undefined_entity_is_malformed():
    problem = refusal(b"<x>\n  <y>&e;</y>\n</x>", "ent.bpmn")
    assert problem.file == "ent.bpmn"
    assert problem.message.startswith("malformed XML: Entity 'e' not defined")
    assert (problem.line, problem.column) == (2, 9)


def test_oversize_is_refused():
    count, spaces = divmod(MAX_XML_BYTES - 7, 4)
    data = b"<x>" + b"<y/>" * count + b" " * spaces + b"</x>"
    assert len(data) == MAX_XML_BYTES
    assert len(parse_xml(data, "big.bpmn").getroot()) == count
    problem = refusal(data + b" ", "big.bpmn")
    assert problem == Problem(
        "big.bpmn", f"file is too large: {MAX_XML_BYTES + 1} bytes (the limit is 10 MiB)")
    assert MAX_XML_BYTES == 10 * 1024 * 1024


def test_malformed_gives_line_and_column():
    data = b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="urn:x">\n  <bpmn:process id="p">\n</bpmn:definitions>\n'
    problem = refusal(data, "broken.bpmn")
    assert problem.file == "broken.bpmn"
    assert problem.message.startswith("malformed XML: Opening and ending tag mismatch: process line 3 and definitions")
    assert problem.line == 4
    assert problem.column == 20
    assert str(problem).startswith("broken.bpmn:4: malformed XML: ")


def test_empty_and_non_xml_input():
    assert refusal(b"").message.startswith("malformed XML: Document is empty")
    problem = refusal(b"PK\x03\x04 this is a zip file")
    assert problem.message.startswith("malformed XML: ")
    assert problem.line == 1


def test_unbound_prefix_is_malformed():
    problem = refusal(b"<bpmn:definitions>\n</bpmn:definitions>")
    assert "malformed XML" in problem.message
    assert problem.line == 1
