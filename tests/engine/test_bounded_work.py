"""Bounded work (issue 10 §3): expressions and scripts count what they build and do. Each bomb
below would take minutes or gigabytes in plain Python; here it fails at a limit, with a message
naming the limit (the time each takes is measured by bench/evaluator_bombs.py, not asserted)."""
from __future__ import annotations

import pytest

from engine.errors import ExpressionError
from engine.expressions import MAX_SIZE, compile_expression
from engine.scripts import compile_script

SCRIPT_BOMBS = {
    "a string doubled": ("s = 'ab'\nfor i in [0] * 100:\n    s = s + s", "too large"),
    "a list nested in itself twice, again and again": (
        "l = [1]\nfor i in [0] * 60:\n    l = [l, l]\nx = str(l)", "larger than 1,000,000 units"),
    "copies appended to themselves": ("l = [1]\nfor i in [0] * 60:\n    l.append(l[:])", "larger than"),
    "an integer squared": ("x = 7\nfor i in [0] * 40:\n    x = x * x", "more than 64,000 bits"),
    "a long string searched again and again": (
        "s = 'x' * 1000000\nfor i in [0] * 100000:\n    n = s.count('y')", "units of work"),
    "a list that holds itself": ("a = []\na.append(a)", "may not hold itself"),
    "a list nested a hundred thousand deep": ("l = []\nfor i in [0] * 100000:\n    l = [l]", "nested deeper"),
    "the same block appended a hundred thousand times": (
        "l = []\nb = ['y' * 1000]\nfor i in [0] * 100000:\n    l.append(b)", "units of work"),
    "a big list wrapped again and again": ("big = [0] * 100000\nfor i in [0] * 1000:\n    x = [big]", "units of work"),
    "a dict grown past its size": ("d = {}\nfor k in ['k'] * 1:\n    d[k] = 'v' * 900000\nd['b'] = 'w' * 200000",
                                   "larger than"),
}

EXPRESSION_BOMBS = {
    "round to minus twenty million digits": ("round(x, -20000000)", "at most 100 digits"),
    "a join of a thousand megabyte strings": ("','.join(['x' * 1000000] * 1000)", "larger than"),
    "str of a repeated big list": ("str([['y' * 1000] * 999] * 999)", "larger than"),
    "a huge power": ("10 ** 100000000", "too large"),
}


@pytest.mark.parametrize("name", sorted(SCRIPT_BOMBS))
def test_script_bombs_fail_at_a_limit(name):
    source, limit = SCRIPT_BOMBS[name]
    with pytest.raises(ExpressionError, match="script failed") as caught:
        compile_script(source).run({})
    assert limit in str(caught.value)


@pytest.mark.parametrize("name", sorted(EXPRESSION_BOMBS))
def test_expression_bombs_fail_at_a_limit(name):
    source, limit = EXPRESSION_BOMBS[name]
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source).evaluate({"x": 5})
    assert limit in str(caught.value)


def test_ordinary_work_stays_well_inside_the_limits():
    script = compile_script("total = 0\nnames = []\nfor item in items:\n    total = total + item['amount']\n"
                            "    names.append(item['name'])\nsummary = ', '.join(names)")
    items = [{"name": f"项目{i}", "amount": i} for i in range(5000)]
    result = script.run({"items": items})
    assert result["total"] == sum(range(5000)) and result["summary"].startswith("项目0, 项目1")
    assert compile_expression("len(items) > 10 and items[0]['amount'] == 0").evaluate({"items": items})
    assert len(compile_expression("str(items)").evaluate({"items": items})) < MAX_SIZE


def test_a_big_variable_is_read_but_not_copied_into_ever_more_places():
    big = ["x" * 100] * 5000  # 500 000 characters: a legitimate (if large) variable
    assert compile_expression("big[-1]").evaluate({"big": big}) == "x" * 100
    with pytest.raises(ExpressionError, match="larger than"):
        compile_script("both = [big, big, big]").run({"big": big})
