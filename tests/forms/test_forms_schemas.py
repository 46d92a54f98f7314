"""Validation of submitted forms: types converted, constraints enforced, Chinese messages, input kept."""
from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
if "forms" in sys.modules and getattr(sys.modules["forms"], "__file__", None) is None:
    del sys.modules["forms"]

from forms.fields import FieldSpec, Option  # noqa: E402
from forms.schemas import as_text, to_variables, validate  # noqa: E402

SPECS = [
    FieldSpec("title", "标题", "string", required=True, minlength=4, maxlength=10),
    FieldSpec("note", "备注", "textarea"),
    FieldSpec("months", "周期", "long", required=True, min=Decimal(1), max=Decimal(60)),
    FieldSpec("amount", "金额", "money", required=True, min=Decimal(0)),
    FieldSpec("cloud", "政务云", "boolean"),
    FieldSpec("shares", "共享", "boolean", required=True),
    FieldSpec("start", "开工", "date"),
    FieldSpec("nature", "性质", "enum", required=True, options=(Option("new", "新建"), Option("om", "运维"))),
    FieldSpec("year", "年度", "long", readonly=True, default="2026"),
    FieldSpec("report", "报告", "file", required=True),
]
GOOD = {"title": "可研报告", "note": "  保留空格  ", "months": "1,2", "amount": "¥1,234.5", "cloud": "true",
        "shares": "false", "start": "2026-05-01", "nature": "om"}


def test_valid_input_is_converted_to_types():
    result = validate(SPECS, GOOD)
    assert result.ok, result.errors
    assert result.values == {"title": "可研报告", "note": "  保留空格  ", "months": 12, "amount": Decimal("1234.50"),
                             "cloud": True, "shares": False, "start": date(2026, 5, 1), "nature": "om"}


def test_readonly_and_file_fields_take_no_input():
    result = validate(SPECS, {**GOOD, "year": "1999", "report": "x"})
    assert "year" not in result.values and "report" not in result.values


def test_unticked_checkbox_is_false_but_a_required_yes_no_must_be_chosen():
    data = {k: v for k, v in GOOD.items() if k not in ("cloud", "shares")}
    result = validate(SPECS, data)
    assert result.errors == {"shares": ["此项为必填项"]}


@pytest.mark.parametrize("field, typed, message", [
    ("title", "", "此项为必填项"),
    ("title", "   ", "此项为必填项"),
    ("title", "短", "至少输入 4 个字符"),
    ("title", "这是一个超过十个字符的标题文本", "最多输入 10 个字符"),
    ("months", "一年", "请输入整数"),
    ("months", "1.5", "请输入整数"),
    ("months", "0", "不能小于 1"),
    ("months", "61", "不能大于 60"),
    ("amount", "-1", "不能小于 0"),
    ("amount", "12.345", "金额最多保留两位小数"),
    ("amount", "一百元", "请输入金额，例如 1234.50"),
    ("amount", "NaN", "请输入金额，例如 1234.50"),
    ("shares", "maybe", "请选择“是”或“否”"),
    ("start", "2026-02-30", "请输入有效日期，格式为 年-月-日"),
    ("nature", "other", "请从列表中选择"),
])
def test_each_mistake_has_a_chinese_message_and_the_typed_text_is_kept(field, typed, message):
    result = validate(SPECS, {**GOOD, field: typed})
    assert result.errors == {field: [message]}
    assert result.typed[field] == typed


def test_every_field_with_a_mistake_is_reported_at_once():
    result = validate(SPECS, {})
    assert set(result.errors) == {"title", "months", "amount", "shares", "nature"}


def test_to_variables_gives_plain_json_values():
    variables = to_variables({"a": Decimal("1200.00"), "b": Decimal("0.50"), "d": date(2026, 1, 2), "s": "x"})
    assert variables == {"a": 1200, "b": 0.5, "d": "2026-01-02", "s": "x"}
    assert isinstance(variables["a"], int)


def test_stored_values_show_as_input_text():
    money, flag = FieldSpec("m", "金额", "money"), FieldSpec("b", "是否", "boolean")
    assert as_text(money, 1234.5) == "1234.50" and as_text(flag, True) == "true" and as_text(flag, False) == "false"
