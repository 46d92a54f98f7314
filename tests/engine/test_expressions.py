"""The safe expression evaluator: JUEL and Python forms, templates, date functions, working days, refusals."""
from __future__ import annotations

import timeit
from datetime import date, datetime, timedelta

import pytest

from engine import clock, workdays
from engine.errors import ExpressionError
from engine.expressions import Expression, compile_expression, compile_template

VARS = {
    "amount": 1500,
    "approved": True,
    "rejected": False,
    "priority": "high",
    "items": [1, 2, 3],
    "order": {"customer": {"name": "Bob", "unit": "土地局"}, "total": 250},
    "nothing": None,
    "blank": "",
    "form_amount": "1500",
    "form_flag": "false",
    "due": "2027-01-15",
}


def value(source: str, variables=VARS):
    return compile_expression(source).evaluate(variables)


def error(source: str, variables=VARS) -> str:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source).evaluate(variables)
    return str(caught.value)


# ----------------------------------------------------------------- JUEL


@pytest.mark.parametrize("source, expected", [
    ("${amount == 1500}", True), ("${amount != 1500}", False), ("${amount < 2000}", True),
    ("${amount > 2000}", False), ("${amount <= 1500}", True), ("${amount >= 1501}", False),
])
def test_juel_symbol_comparisons(source, expected):
    assert value(source) is expected


@pytest.mark.parametrize("source, expected", [
    ("${amount eq 1500}", True), ("${amount ne 1500}", False), ("${amount lt 2000}", True),
    ("${amount gt 2000}", False), ("${amount le 1500}", True), ("${amount ge 1501}", False),
    ("${approved and not rejected}", True), ("${rejected or approved}", True), ("${10 div 4}", 2.5),
    ("${10 mod 4}", 2),
])
def test_juel_word_operators(source, expected):
    assert value(source) == expected


def test_juel_logic_symbols():
    assert value("${approved && !rejected}") is True
    assert value("${rejected || rejected}") is False


def test_juel_arithmetic_and_precedence():
    assert value("${1 + 2 * 3 - 4 / 2}") == 5.0
    assert value("${(1 + 2) * 3 % 4}") == 1
    assert value("${-amount + 1}") == -1499
    assert value("${1.5e2 + .5}") == 150.5


def test_juel_relational_binds_tighter_than_equality():
    assert value("${amount > 1000 == true}") is True


def test_juel_empty():
    assert value("${empty nothing}") is True
    assert value("${empty blank}") is True
    assert value("${empty items}") is False
    assert value("${empty order}") is False
    assert value("${not empty items}") is True


def test_juel_ternary_nests_to_the_right():
    source = "${amount > 2000 ? 'big' : amount > 1000 ? 'medium' : 'small'}"
    assert value(source) == "medium"


def test_juel_nested_access_dot_and_brackets():
    assert value("${order.customer.name}") == "Bob"
    assert value("${order['customer'][\"unit\"]}") == "土地局"
    assert value("${items[1]}") == 2


def test_juel_missing_key_or_null_base_is_null():
    assert value("${order.missing}") is None
    assert value("${order.missing.deeper}") is None
    assert value("${items[10]}") is None


def test_juel_null_comparison_and_literals():
    assert value("${nothing == null}") is True
    assert value("${amount != null}") is True
    assert value("${true}") is True


def test_juel_numeric_string_is_compared_as_number():
    assert value("${form_amount > 1000}") is True
    assert value("${form_amount == 1500}") is True


def test_juel_string_boolean_is_coerced_in_logic():
    assert value("${form_flag || false}") is False
    assert value("${!form_flag}") is True


def test_juel_non_boolean_in_logic_is_an_error():
    assert "as a boolean" in error("${approved && priority}")


def test_juel_string_concatenation():
    assert value("${priority + '-' + 'x'}") == "high-x"


def test_juel_null_arithmetic_is_an_error():
    assert "cannot apply '+' to null and number" in error("${null + 1}")


def test_juel_java_style_methods():
    assert value("${items.size() == 3}") is True
    assert value("${priority.startsWith('hi')}") is True
    assert value("${order.containsKey('total')}") is True


def test_hash_brace_form_is_accepted():
    assert value("#{amount > 1}") is True


def test_surrounding_whitespace_is_ignored():
    assert value("\n   ${amount > 1}\n  ") is True


def test_names_lists_top_level_variables():
    assert compile_expression("${order.customer.name == priority && len(items) > 0}").names == \
        frozenset({"order", "priority", "items"})
    assert compile_expression("a['b'] if c else len(d)").names == frozenset({"a", "c", "d"})


def test_unknown_variable_names_it():
    assert error("${missing > 1}") == "unknown variable 'missing' in expression '${missing > 1}'"


def test_division_by_zero_is_expression_error():
    assert "division by zero" in error("${amount / 0}")


def test_type_error_names_types():
    assert "cannot compare map and number with '<'" in error("${order < 1}")


# ----------------------------------------------------------------- Python form


def test_python_boolean_condition():
    assert value("amount >= 1000 and approved") is True
    assert value('priority == "high"') is True
    assert value("not rejected") is True


def test_python_and_or_return_operands():
    assert value("blank or 'default'") == "default"


def test_python_len_subscript_in_and_chains():
    assert value("len(items) > 2") is True
    assert value("order['customer']['name']") == "Bob"
    assert value("priority in ['high', 'urgent']") is True
    assert value("0 < amount < 2000") is True
    assert value("0 < amount < 1000") is False


def test_python_conditional_literals_and_slices():
    assert value("'yes' if approved else 'no'") == "yes"
    assert value("items[1:]") == [2, 3]
    assert value("{'a': 1, 'b': (1, 2)}['b']") == (1, 2)


def test_python_whitelisted_methods():
    assert value("order.get('nope', 7)") == 7
    assert value("order.keys()") == ["customer", "total"]
    assert value("priority.upper().startswith('HI')") is True
    assert value("','.join(['a', 'b'])") == "a,b"


def test_python_attribute_on_dict_reads_key():
    assert value("order.customer.name") == "Bob"


def test_python_missing_key_is_an_error():
    assert "no key 'nope'" in error("order['nope']")


def test_python_whitelisted_builtins():
    assert value("max(items) + min(items) + sum(items) + abs(-1)") == 11
    assert value("int('42') + float('0.5') + round(2.6)") == 45.5
    assert value("str(amount) + str(bool(blank))") == "1500False"


def test_python_method_on_wrong_type_is_an_error():
    assert "method 'get' is not available on string" in error("priority.get('x')")


# ----------------------------------------------------------------- templates


def test_template_plain_text_is_constant():
    template = compile_template("PT5M")
    assert template.evaluate({}) == "PT5M"
    assert template.names == frozenset()


def test_template_composite_is_text():
    assert compile_template("unit_${order.customer.unit}").evaluate(VARS) == "unit_土地局"
    assert compile_template("office, unit_${priority}").evaluate(VARS) == "office, unit_high"


def test_template_single_expression_is_raw_value():
    assert compile_template("${items}").evaluate(VARS) == [1, 2, 3]
    with clock.frozen_at(datetime(2026, 5, 1, 9)):
        assert compile_template("${add_days(today(), 1)}").evaluate({}) == date(2026, 5, 2)


def test_template_renders_el_style_text():
    assert compile_template("${approved}/${nothing}/#{amount}").evaluate(VARS) == "true//1500"


def test_template_escaped_dollar_is_literal():
    assert compile_template(r"cost \${x}").evaluate({}) == "cost ${x}"


def test_template_names():
    assert compile_template("a_${x}_${y.z}").names == frozenset({"x", "y"})


def test_template_syntax_error_has_column():
    with pytest.raises(ExpressionError, match=r"unexpected token '\)' at column 9"):
        compile_template("unit_${a)}")


# ----------------------------------------------------------------- dates and the clock


def test_now_and_today_follow_the_frozen_clock_in_local_zone():
    with clock.frozen_at(datetime(2027, 1, 15, 9, 30)):
        now = value("${now()}")
        assert now == datetime(2027, 1, 15, 9, 30, tzinfo=clock.local_zone())
        assert now.tzinfo is not None and now.utcoffset() == timedelta(hours=8)
        assert value("today()") == date(2027, 1, 15)


def test_date_and_datetime_constructors():
    assert value('date("2027-01-01")') == date(2027, 1, 1)
    assert value("date(2027, 1, 2)") == date(2027, 1, 2)
    assert value('datetime("2027-01-15T09:00:00")') == datetime(2027, 1, 15, 9, tzinfo=clock.local_zone())


def test_durations_and_date_arithmetic():
    with clock.frozen_at(datetime(2027, 1, 15, 9)):
        assert value("${today() + days(3)}") == date(2027, 1, 18)
        assert value("now() + hours(2) + minutes(5)") == datetime(2027, 1, 15, 11, 5, tzinfo=clock.local_zone())
        assert value("(date('2027-02-01') - today()).days") == 17


def test_iso_string_variables_work_as_dates():
    with clock.frozen_at(datetime(2027, 1, 10)):
        assert value("${due > today()}") is True
        assert value("add_days(due, 1)") == date(2027, 1, 16)
        assert value("due - days(1) == date(2027, 1, 14)") is True


def test_date_compares_with_datetime():
    with clock.frozen_at(datetime(2027, 1, 15, 9)):
        assert value("now() > today()") is True
        assert value("${date(due) == datetime(due)}") is True


def test_add_months_clamps_to_month_end():
    assert value("add_months(date(2027, 1, 31), 1)") == date(2027, 2, 28)
    assert value("add_months('2027-03-31', -1)") == date(2027, 2, 28)
    assert value("add_months(date(2027, 11, 15), 3)") == date(2028, 2, 15)


def test_add_years_from_leap_day():
    assert value("add_years(date(2028, 2, 29), 1)") == date(2029, 2, 28)


def test_bad_date_string_is_an_error():
    assert "date(): 'soon' is not an ISO date" in error("date('soon')")


# ----------------------------------------------------------------- working days


def test_working_days_skip_national_day_golden_week_2025():
    assert workdays.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert value("add_working_days(date(2025, 9, 30), 1)") == date(2025, 10, 9)


def test_adjusted_working_sunday_counts():
    assert workdays.is_working_day(date(2025, 9, 28))  # Sunday, 调休 working day
    assert workdays.add_working_days(date(2025, 9, 26), 1) == date(2025, 9, 28)


def test_working_days_between_across_holiday():
    assert workdays.working_days_between(date(2025, 9, 30), date(2025, 10, 10)) == 2
    assert value("working_days_between('2025-10-10', '2025-09-30')") == -2


def test_add_working_days_backwards():
    assert workdays.add_working_days(date(2025, 10, 9), -1) == date(2025, 9, 30)


def test_add_working_days_keeps_time_of_day():
    result = value('add_working_days(datetime("2025-09-30T17:00:00"), 1)')
    assert result == datetime(2025, 10, 9, 17, tzinfo=clock.local_zone())


def test_uncovered_year_falls_back_to_monday_to_friday():
    assert workdays.calendar_covers(2025)
    assert not workdays.calendar_covers(2030)
    assert workdays.is_working_day(date(2030, 1, 1))  # Tuesday; holiday data unknown
    assert workdays.add_working_days(date(2030, 1, 4), 1) == date(2030, 1, 7)  # Friday -> Monday


# ----------------------------------------------------------------- refusals


@pytest.mark.parametrize("source, message", [
    ("__import__('os')", "function '__import__' is not allowed"),
    ("().__class__", "attribute '__class__' is not allowed at column 4"),
    ("open('x')", "function 'open' is not allowed"),
    ("a._x", "attribute '_x' is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("[x for x in items]", "comprehension is not allowed"),
    ("(y := 1)", "assignment ':=' is not allowed"),
    ("items.append(1)", "method 'append' is not allowed"),
    ("len(items, x=1)", "keyword arguments are not allowed"),
    ("f'{amount}'", "f-string is not allowed"),
    ("__builtins__", "name '__builtins__' is not allowed"),
    ("${open('x')}", "function 'open' is not allowed at column 3"),
    ("${order.__class__}", "attribute '__class__' is not allowed at column 9"),
    ("${order.getClass()}", "method 'getClass' is not allowed"),
    ("date(2027, 1)", "function 'date' takes 1 or 3 argument(s), got 2"),
])
def test_refused_at_compile_time(source, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(source)


def test_juel_syntax_error_names_token_and_column():
    with pytest.raises(ExpressionError) as caught:
        compile_expression("${a > )}")
    assert str(caught.value) == "unexpected token ')' at column 7 in expression '${a > )}'"


def test_juel_unexpected_end_and_character():
    with pytest.raises(ExpressionError, match="unexpected end of expression at column 6"):
        compile_expression("${a >}")
    with pytest.raises(ExpressionError, match="unexpected character '=' at column 5"):
        compile_expression("${a = 1}")


def test_juel_unclosed_and_trailing_text():
    with pytest.raises(ExpressionError, match="missing '}'"):
        compile_expression("${a > 1")
    with pytest.raises(ExpressionError, match="unexpected text after the closing '}' at column 6"):
        compile_expression("${a} b")


def test_python_syntax_error_has_column():
    with pytest.raises(ExpressionError, match=r"unmatched '\)' at column 14"):
        compile_expression('x == "高" and )')


@pytest.mark.parametrize("source", ["", "   ", "${}", "${  }"])
def test_empty_source_is_refused(source):
    with pytest.raises(ExpressionError, match="empty expression"):
        compile_expression(source)


def test_huge_results_are_refused():
    assert "too large" in error("'a' * 10 ** 9")
    assert "too large" in error("2 ** 10 ** 9")


def test_deep_nesting_is_refused():
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("${" + "(" * 500 + "1" + ")" * 500 + "}")


# ----------------------------------------------------------------- caching and speed


def test_compiled_results_are_cached():
    assert compile_expression("${amount > 1}") is compile_expression("${amount > 1}")
    assert compile_template("unit_${x}") is compile_template("unit_${x}")
    assert isinstance(compile_expression("${amount > 1}"), Expression)


def test_simple_condition_evaluates_in_microseconds():
    expression = compile_expression("${amount >= 1000}")
    runs = 20_000
    seconds = min(timeit.repeat(lambda: expression.evaluate(VARS), number=runs, repeat=3)) / runs
    assert seconds < 20e-6
