"""Field specs read from camunda:formData (as the engine keeps it) and from Camunda Forms JSON."""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

# tests/forms would otherwise be imported as the namespace package `forms` (see tests/web/test_ui_fixtures.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
if "forms" in sys.modules and getattr(sys.modules["forms"], "__file__", None) is None:
    del sys.modules["forms"]

from conftest import DIAGRAMS, deploy_files  # noqa: E402
from engine import services  # noqa: E402
from forms.fields import Option, fields_for_task, from_form_data, from_form_schema, materials_of  # noqa: E402


def _task_form_fields(db):
    deploy_files(db, "task_form.bpmn")
    with db.read() as session:
        definition = services.process_definition(session, "task_form")
        return fields_for_task(session, definition.meta, "submit_report")


def test_form_data_fields_keep_type_constraints_defaults_and_options(db):
    specs = {s.id: s for s in _task_form_fields(db)}
    assert [s.type for s in specs.values()] == ["string", "textarea", "long", "money", "boolean", "boolean", "date",
                                                 "enum", "long", "file", "string"]
    title = specs["title"]
    assert (title.label, title.required, title.minlength, title.maxlength) == ("报告标题", True, 4, 60)
    assert (specs["months"].min, specs["months"].max, specs["months"].default) == (Decimal(1), Decimal(60), "12")
    assert specs["amount"].min == Decimal(0) and specs["amount"].required
    assert specs["cloud"].default is True and not specs["cloud"].required
    assert specs["nature"].options == (Option("new", "新建"), Option("upgrade", "升级改造"), Option("om", "运维"))
    assert specs["plan_year"].readonly
    assert specs["summary"].help == "说明项目建设的必要性和预期效益"


def test_required_file_fields_and_materials_property_make_the_checklist(db):
    materials = materials_of(_task_form_fields(db))
    assert [(m.key, m.label) for m in materials] == [
        ("report", "可行性研究报告"), ("attachments:密码应用方案", "密码应用方案"),
        ("attachments:安全可靠产品说明", "安全可靠产品说明")]


def test_expression_defaults_are_not_shown_as_text():
    [spec] = from_form_data([{"id": "d", "label": "日期", "type": "date", "default": "${today()}",
                              "validation": {}, "properties": {}, "values": []}])
    assert spec.default is None


def test_unknown_form_data_type_falls_back_to_text():
    [spec] = from_form_data([{"id": "x", "label": None, "type": "customType", "default": None,
                              "validation": {"required": None}, "properties": {}, "values": []}])
    assert (spec.type, spec.label, spec.required) == ("string", "x", True)


def test_camunda_form_components_map_to_field_types_and_groups_flatten():
    schema = json.loads((DIAGRAMS / "om_application.form").read_text())
    specs = {s.id: s for s in from_form_schema(schema)}
    assert {k: s.type for k, s in specs.items()} == {
        "system_name": "string", "budget": "money", "users": "long", "shares": "boolean",
        "security_level": "enum", "crypto": "enum", "since": "date", "reason": "textarea", "contract": "file"}
    assert specs["system_name"].maxlength == 50 and specs["system_name"].required
    assert specs["budget"].min == Decimal(0)
    assert specs["security_level"].group == "合规情况" and specs["security_level"].options[1] == Option("3", "三级")
    assert specs["since"].label == "上线日期"
    assert specs["reason"].minlength == 10
    assert [m.key for m in materials_of(list(specs.values()))] == ["contract"]


def test_form_ref_takes_the_latest_deployed_form(db):
    deploy_files(db, "camunda_form.bpmn", "om_application.form")
    schema = json.loads((DIAGRAMS / "om_application.form").read_text())
    schema["components"].append({"type": "textfield", "key": "contact", "label": "联系人"})
    from engine.definitions import BundleFile
    with db.write() as session:
        services.deploy(session, [BundleFile("om_application.form", json.dumps(schema).encode())], name="v2")
    with db.read() as session:
        definition = services.process_definition(session, "camunda_form")
        specs = fields_for_task(session, definition.meta, "apply")
    assert specs[-1].id == "contact"


def test_a_task_without_form_has_no_fields(db):
    deploy_files(db, "review.bpmn")
    with db.read() as session:
        definition = services.process_definition(session, "review")
        assert fields_for_task(session, definition.meta, "office_review") == []
