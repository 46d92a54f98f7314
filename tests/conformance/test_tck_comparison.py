"""The TCK runner compares as the TCK's own runners do: a wrong comparison would hide failures."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from lxml import etree

from engine import clock
from run_dmn_tck import TC, read_value, same


def test_numbers_equal_to_34_digits_or_within_1e_8():
    assert same(Decimal("0.3333333333333333333333333333333333"), Decimal("0.3333333333333333333333333333333333"))
    assert same(1 / 3, Decimal("0.3333333333333333333333333333333333"))
    assert same(10, Decimal("10.0"))
    assert not same(0.3334, Decimal("0.3333"))
    assert not same("10", Decimal("10")) and not same(True, Decimal("1"))


def test_lists_and_contexts_structurally_and_null():
    assert same([1, {"a": "x", "b": None}], [Decimal(1), {"a": "x", "b": None}])
    assert not same([1, 2], [Decimal(1)]) and not same({"a": 1}, {"a": Decimal(1), "b": None})
    assert same(None, None) and not same(0, None) and not same(None, "")
    assert not same(False, None) and same(False, False)


def test_temporal_values():
    assert same(date(2021, 1, 1), date(2021, 1, 1)) and not same(datetime(2021, 1, 1), date(2021, 1, 1))
    # a date and time without an offset is local time in dalad
    assert same(datetime(2021, 1, 1, 10, tzinfo=clock.local_zone()), datetime(2021, 1, 1, 10))
    assert not same(datetime(2021, 1, 1, 10, tzinfo=timezone.utc), datetime(2021, 1, 1, 10))
    assert same(timedelta(days=1), timedelta(hours=24)) and not same(timedelta(days=1), "P1D")


def test_values_of_test_files():
    xml = (f'<inputNode xmlns="{TC[1:-1]}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
           '<component name="n"><value xsi:type="xsd:decimal">1.50</value></component>'
           '<component name="l"><list><item><value xsi:type="xsd:string">a</value></item>'
           '<item><value xsi:nil="true"/></item></list></component>'
           '<component name="d"><value xsi:type="xsd:date">2021-02-03</value></component></inputNode>')
    assert read_value(etree.fromstring(xml)) == {"n": Decimal("1.50"), "l": ["a", None], "d": date(2021, 2, 3)}
