"""DMN decisions as Camunda Modeler writes them for Camunda 7: parsing with located problems, every
hit policy, typeRef conversion, required decisions (DRD), result mapping and business rule tasks."""
from __future__ import annotations

from datetime import date
from xml.sax.saxutils import escape

import pytest

from engine.dmn import (DecisionError, DecisionRef, business_rule_reference, evaluate_decision,
                        map_decision_result, parse_dmn)
from engine.errors import DefinitionInvalid, NotFound
from engine.xmlsafe import parse_xml
from conftest import DIAGRAMS

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMN12 = "http://www.omg.org/spec/DMN/20180521/MODEL/"
DMN11 = "http://www.omg.org/spec/DMN/20151101/dmn.xsd"


def definitions(*decisions: str, ns: str = DMN13, extra: str = "") -> str:
    """A file as Camunda Modeler 5 saves it (DMN 1.3, camunda namespace, a DMNDI section)."""
    shapes = "".join(
        f'      <dmndi:DMNShape id="DMNShape_{i}" dmnElementRef="d{i}">\n'
        f'        <dc:Bounds height="80" width="180" x="{160 + 200 * i}" y="100" />\n'
        f'      </dmndi:DMNShape>\n' for i in range(len(decisions)))
    dmndi = "" if ns == DMN11 else (
        '  <dmndi:DMNDI>\n    <dmndi:DMNDiagram id="DMNDiagram_0k2n7q1">\n'
        f'{shapes}    </dmndi:DMNDiagram>\n  </dmndi:DMNDI>\n')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="{ns}" xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" '
        'xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/" xmlns:camunda="http://camunda.org/schema/1.0/dmn" '
        'xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_1x9k2lq" name="DRD" '
        'namespace="http://camunda.org/schema/1.0/dmn" exporter="Camunda Modeler" exporterVersion="5.17.0" '
        f'modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0"{extra}>\n'
        + "".join(decisions) + dmndi + "</definitions>\n")


def table(decision_id: str, inputs, outputs, rules, *, hit_policy: str | None = None,
          aggregation: str | None = None, required=(), name: str = "Decision") -> str:
    """A decision table.  inputs: (label, expression, typeRef[, attributes]); outputs: (name, typeRef[,
    outputValues]); rules: (input entries, output entries[, rule id])."""
    policy = f' hitPolicy="{hit_policy}"' if hit_policy else ""
    policy += f' aggregation="{aggregation}"' if aggregation else ""
    lines = [f'  <decision id="{decision_id}" name="{name}">\n']
    for n, req in enumerate(required):
        lines.append(f'    <informationRequirement id="InformationRequirement_{decision_id}_{n}">\n'
                     f'      <requiredDecision href="#{req}" />\n    </informationRequirement>\n')
    lines.append(f'    <decisionTable id="DecisionTable_{decision_id}"{policy}>\n')
    for i, spec in enumerate(inputs, start=1):
        label, expression, type_ref = spec[:3]
        attrs = spec[3] if len(spec) > 3 else ""
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        lines.append(f'      <input id="Input_{i}" label="{label}"{attrs}>\n'
                     f'        <inputExpression id="InputExpression_{i}"{type_attr}>\n'
                     f'          <text>{escape(expression)}</text>\n'
                     f'        </inputExpression>\n      </input>\n')
    for i, spec in enumerate(outputs, start=1):
        out_name, type_ref = spec[:2]
        name_attr = f' label="{out_name}" name="{out_name}"' if out_name else ""
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        if len(spec) > 2:
            lines.append(f'      <output id="Output_{i}"{name_attr}{type_attr}>\n'
                         f'        <outputValues id="UnaryTests_values_{i}">\n'
                         f'          <text>{escape(spec[2])}</text>\n'
                         f'        </outputValues>\n      </output>\n')
        else:
            lines.append(f'      <output id="Output_{i}"{name_attr}{type_attr} />\n')
    for r, spec in enumerate(rules, start=1):
        entries, results = spec[:2]
        rule_id = spec[2] if len(spec) > 2 else f"DecisionRule_{r}"
        lines.append(f'      <rule id="{rule_id}">\n')
        for k, text in enumerate(entries):
            lines.append(f'        <inputEntry id="UnaryTests_{rule_id}_{k}">\n'
                         f'          <text>{escape(text)}</text>\n        </inputEntry>\n')
        for k, text in enumerate(results):
            lines.append(f'        <outputEntry id="LiteralExpression_{rule_id}_{k}">\n'
                         f'          <text>{escape(text)}</text>\n        </outputEntry>\n')
        lines.append("      </rule>\n")
    lines.append("    </decisionTable>\n  </decision>\n")
    return "".join(lines)


def parse(xml: str, filename: str = "test.dmn"):
    return parse_dmn(parse_xml(xml.encode(), filename), filename)


def load(xml: str):
    decisions, problems = parse(xml)
    assert problems == []
    return {d.id: d for d in decisions}


def run(xml: str, decision_id: str, **variables):
    return evaluate_decision(load(xml), decision_id, variables)


def problems_of(xml: str) -> list[str]:
    decisions, problems = parse(xml)
    assert problems
    return [p.message for p in problems]


def line_of(xml: str, text: str, occurrence: int = 1) -> int:
    index = -1
    for _ in range(occurrence):
        index = xml.index(text, index + 1)
    return xml.count("\n", 0, index) + 1


# ----------------------------------------------------------------- a DRD as the Modeler saves it


@pytest.fixture(scope="module")
def decisions():
    data = (DIAGRAMS / "approval.dmn").read_bytes()
    parsed, problems = parse_dmn(parse_xml(data, "approval.dmn"), "approval.dmn")
    assert problems == []
    return {d.id: d for d in parsed}


class TestApprovalFile:
    def test_reads_every_decision(self, decisions):
        assert set(decisions) == {"risk_level", "approval_path", "fee"}
        risk = decisions["risk_level"]
        assert risk.kind == "table" and risk.hit_policy == "UNIQUE" and risk.aggregation is None
        assert [i.label for i in risk.inputs] == ["Customer category", "Amount"]
        assert [o.name for o in risk.outputs] == ["risk"]
        assert [r.id for r in risk.rules] == ["DecisionRule_gold", "DecisionRule_silver_bronze",
                                             "DecisionRule_large", "DecisionRule_other"]
        assert decisions["approval_path"].required == ("risk_level",)
        assert decisions["approval_path"].inputs[0].input_variable == "r"
        assert decisions["fee"].kind == "literal" and decisions["fee"].variable == "fee"
        assert decisions["fee"].required == ("approval_path",)

    @pytest.mark.parametrize("variables,risk,path,reviewers,fee", [
        ({"category": "gold", "amount": 500, "filed": "2026-05-01"}, "low", "clerk", 1, 50.0),
        ({"category": "gold", "amount": 500, "filed": "2027-05-01"}, "low", "section head", 1, 50.0),
        ({"category": "silver", "amount": 8000, "filed": "2027-05-01"}, "medium", "section head", 2, 100.0),
        ({"category": "bronze", "amount": 8000, "filed": None}, "medium", "section head", 2, 100.0),
        ({"category": "platinum", "amount": 20000, "filed": date(2026, 1, 1)}, "high", "director", 3, 300.0),
        ({"category": "new", "amount": 5, "filed": None}, "medium", "section head", 1, 50.0),
    ])
    def test_required_decisions_feed_the_next(self, decisions, variables, risk, path, reviewers, fee):
        result = evaluate_decision(decisions, "fee", variables)
        assert result.outputs == [{"fee": fee}]
        assert result.required["risk_level"].outputs == [{"risk": risk}]
        assert result.required["approval_path"].outputs == [{"path": path, "reviewers": reviewers}]
        assert map_decision_result(result) == fee
        assert variables.get("risk") is None  # the caller's variables are not changed

    def test_a_required_decision_can_be_evaluated_alone(self, decisions):
        result = evaluate_decision(decisions, "risk_level", {"category": "gold", "amount": 100})
        assert result.outputs == [{"risk": "low"}]
        assert result.matched_rules == ["DecisionRule_gold"]
        assert result.required == {}

    def test_unknown_decision(self, decisions):
        with pytest.raises(NotFound, match="no decision 'nope'"):
            evaluate_decision(decisions, "nope", {})

    def test_missing_required_decision_at_run_time(self, decisions):
        partial = {"approval_path": decisions["approval_path"]}
        with pytest.raises(DecisionError, match="requires decision 'risk_level', which is not deployed"):
            evaluate_decision(partial, "approval_path", {})


# ----------------------------------------------------------------- the SpiffWorkflow pitfalls


class TestCellsSpiffWorkflowGetsWrong:
    XML = definitions(table(
        "routing", [("Category", "category", "string")], [("desk", "string")],
        [(['not("x")'], ['"not x"']), (['"a","b"'], ['"a or b"'])], hit_policy="RULE ORDER"))

    def test_not_x(self):
        assert run(self.XML, "routing", category="x").outputs == []
        assert run(self.XML, "routing", category="y").outputs == [{"desk": "not x"}]

    def test_a_comma_b(self):
        for category in ("a", "b"):
            assert run(self.XML, "routing", category=category).outputs == [{"desk": "not x"},
                                                                          {"desk": "a or b"}]
        assert run(self.XML, "routing", category="a,b").outputs == [{"desk": "not x"}]


# ----------------------------------------------------------------- hit policies

AMOUNT = [("Amount", "amount", "integer")]


class TestHitPolicies:
    def test_unique_one_match(self):
        xml = definitions(table("d", AMOUNT, [("level", "string")],
                                [(["< 1000"], ['"low"']), ([">= 1000"], ['"high"'])]))
        result = run(xml, "d", amount=1500)
        assert result.outputs == [{"level": "high"}] and result.matched_rules == ["DecisionRule_2"]
        assert run(xml, "d", amount=None).outputs == []  # no rule: an empty result

    def test_unique_second_match_is_an_error(self):
        xml = definitions(table("approval_path", AMOUNT, [("level", "string")],
                                [(["< 1000"], ['"low"'], "Rule_low"), ([">= 500"], ['"mid"'], "Rule_mid"),
                                 (["> 700"], ['"high"'], "Rule_high")], hit_policy="UNIQUE"))
        with pytest.raises(DecisionError) as caught:
            run(xml, "approval_path", amount=800)
        message = str(caught.value)
        assert message == ("decision 'approval_path' has hit policy UNIQUE but 3 rules match: rule 1 (rule id "
                           "Rule_low), rule 2 (rule id Rule_mid), rule 3 (rule id Rule_high); only one rule "
                           "may match")
        assert caught.value.decision_id == "approval_path"
        assert caught.value.rule_ids == ("Rule_low", "Rule_mid", "Rule_high")

    def test_first(self):
        xml = definitions(table("d", AMOUNT, [("level", "string")],
                                [([">= 5000"], ['"director"']), ([">= 1000"], ['"head"']), (["-"], ['"clerk"'])],
                                hit_policy="FIRST"))
        assert run(xml, "d", amount=7000).outputs == [{"level": "director"}]
        assert run(xml, "d", amount=2000).outputs == [{"level": "head"}]
        result = run(xml, "d", amount=10)
        assert result.outputs == [{"level": "clerk"}] and result.matched_rules == ["DecisionRule_3"]

    def test_any_with_equal_outputs(self):
        xml = definitions(table("d", AMOUNT, [("ok", "boolean")],
                                [(["< 0"], ["false"]), (["> 100"], ["false"]), (["[0..100]"], ["true"])],
                                hit_policy="ANY"))
        assert run(xml, "d", amount=-5).outputs == [{"ok": False}]
        result = run(xml, "d", amount=50)
        assert result.outputs == [{"ok": True}] and result.matched_rules == ["DecisionRule_3"]

    def test_any_with_different_outputs_is_an_error(self):
        xml = definitions(table("d", AMOUNT, [("ok", "boolean")],
                                [(["< 10"], ["false"]), (["< 100"], ["true"]), (["< 200"], ["true"])],
                                hit_policy="ANY"))
        assert run(xml, "d", amount=150).outputs == [{"ok": True}]
        assert run(xml, "d", amount=50).matched_rules == ["DecisionRule_2"]
        with pytest.raises(DecisionError, match=r"decision 'd' has hit policy ANY but the matching rules give "
                                                r"different outputs: rule 1 \(rule id DecisionRule_1\), rule 2"):
            run(xml, "d", amount=5)

    PRIORITY_RULES = [(["-"], ['"low"', '"a"']), ([">= 100"], ['"high"', '"b"']),
                      ([">= 50"], ['"medium"', '"c"']), ([">= 100"], ['"medium"', '"d"'])]

    def test_priority_by_output_values(self):
        xml = definitions(table("d", AMOUNT, [("priority", "string", '"high","medium","low"'),
                                              ("note", "string")], self.PRIORITY_RULES, hit_policy="PRIORITY"))
        result = run(xml, "d", amount=500)
        assert result.outputs == [{"priority": "high", "note": "b"}]
        assert result.matched_rules == ["DecisionRule_2"]
        assert run(xml, "d", amount=60).outputs == [{"priority": "medium", "note": "c"}]
        assert run(xml, "d", amount=1).outputs == [{"priority": "low", "note": "a"}]

    def test_output_order_by_output_values(self):
        xml = definitions(table("d", AMOUNT, [("priority", "string", '"high","medium","low"'),
                                              ("note", "string")], self.PRIORITY_RULES, hit_policy="OUTPUT ORDER"))
        result = run(xml, "d", amount=500)
        assert result.outputs == [{"priority": "high", "note": "b"}, {"priority": "medium", "note": "c"},
                                  {"priority": "medium", "note": "d"}, {"priority": "low", "note": "a"}]
        assert result.matched_rules == ["DecisionRule_2", "DecisionRule_3", "DecisionRule_4", "DecisionRule_1"]

    def test_priority_with_numbers(self):
        xml = definitions(table("d", AMOUNT, [("days", "integer", "1, 5, 30")],
                                [(["-"], ["30"]), ([">= 10"], ["5"]), ([">= 100"], ["1"])], hit_policy="PRIORITY"))
        assert run(xml, "d", amount=500).outputs == [{"days": 1}]
        assert run(xml, "d", amount=50).outputs == [{"days": 5}]

    def test_rule_order(self):
        xml = definitions(table("d", AMOUNT, [("check", "string")],
                                [([">= 100"], ['"identity"']), (["-"], ['"form"']), ([">= 1000"], ['"audit"'])],
                                hit_policy="RULE ORDER"))
        result = run(xml, "d", amount=5000)
        assert result.outputs == [{"check": "identity"}, {"check": "form"}, {"check": "audit"}]
        assert result.matched_rules == ["DecisionRule_1", "DecisionRule_2", "DecisionRule_3"]
        assert run(xml, "d", amount=1).outputs == [{"check": "form"}]

    def test_collect(self):
        xml = definitions(table("d", AMOUNT, [("check", "string")],
                                [([">= 100"], ['"identity"']), ([">= 1000"], ['"audit"']), (["< 0"], ['"odd"'])],
                                hit_policy="COLLECT"))
        assert run(xml, "d", amount=5000).outputs == [{"check": "identity"}, {"check": "audit"}]
        assert run(xml, "d", amount=50).outputs == []

    COLLECT_RULES = [([">= 100"], ["10"]), ([">= 1000"], ["25"]), (["-"], ["5"]), (["< 0"], ["1"])]

    @pytest.mark.parametrize("aggregation,amount,expected", [
        ("SUM", 5000, 40), ("SUM", 500, 15), ("SUM", 5, 5),
        ("MIN", 5000, 5), ("MAX", 5000, 25), ("MAX", 5, 5),
        ("COUNT", 5000, 3), ("COUNT", 500, 2),
    ])
    def test_collect_aggregations(self, aggregation, amount, expected):
        xml = definitions(table("d", AMOUNT, [("score", "integer")], self.COLLECT_RULES,
                                hit_policy="COLLECT", aggregation=aggregation))
        result = run(xml, "d", amount=amount)
        assert result.outputs == [{"score": expected}]
        assert len(result.matched_rules) == {5000: 3, 500: 2, 5: 1}[amount]
        assert map_decision_result(result, "singleEntry") == expected

    def test_collect_aggregations_when_nothing_matches(self):
        rules = [([">= 100"], ["10"])]
        count = definitions(table("d", AMOUNT, [("score", "integer")], rules, hit_policy="COLLECT", aggregation="COUNT"))
        assert run(count, "d", amount=1).outputs == [{"score": 0}]
        total = definitions(table("d", AMOUNT, [("score", "integer")], rules, hit_policy="COLLECT", aggregation="SUM"))
        assert run(total, "d", amount=1).outputs == []
        assert map_decision_result(run(total, "d", amount=1)) is None

    def test_collect_sum_of_doubles(self):
        xml = definitions(table("d", AMOUNT, [("fee", "double")], [(["-"], ["1.5"]), (["-"], ["2"])],
                                hit_policy="COLLECT", aggregation="SUM"))
        assert run(xml, "d", amount=1).outputs == [{"fee": 3.5}]

    def test_collect_sum_of_text_is_an_error(self):
        xml = definitions(table("d", AMOUNT, [("score", None)], [(["-"], ["1"]), (["-"], ['"many"'])],
                                hit_policy="COLLECT", aggregation="SUM"))
        with pytest.raises(DecisionError, match=r"decision 'd' COLLECT SUM: rule 2 \(rule id DecisionRule_2\) "
                                                r"gives string \"many\", which is not a number"):
            run(xml, "d", amount=1)

    def test_empty_output_cells_add_nothing(self):
        xml = definitions(table("d", AMOUNT, [("a", "string"), ("b", "string")],
                                [(["-"], ['"x"', ""]), (["-"], ["", '"y"'])], hit_policy="COLLECT"))
        assert run(xml, "d", amount=1).outputs == [{"a": "x"}, {"b": "y"}]

    def test_a_table_without_inputs_always_matches(self):
        xml = definitions(table("d", [], [("answer", "integer")], [([], ["42"])]))
        assert run(xml, "d").outputs == [{"answer": 42}]


# ----------------------------------------------------------------- inputs, outputs, types


class TestTypesAndCells:
    def test_input_type_conversion(self):
        xml = definitions(table("d", [("Amount", "amount", "integer"), ("Urgent", "urgent", "boolean"),
                                      ("Filed", "filed", "date"), ("Code", "code", "string"),
                                      ("Rate", "rate", "double"), ("Big", "big", "long")],
                                [("ok", "boolean")],
                                [(["> 1000", "true", '< date("2027-01-01")', '"7"', "> 0.5", "> 3000000000"],
                                  ["true"])]))
        variables = dict(amount="1500", urgent="TRUE", filed="2026-12-31T10:00:00", code=7, rate="0.75",
                         big=4_000_000_000)
        assert run(xml, "d", **variables).outputs == [{"ok": True}]
        for key, bad, message in [
            ("amount", "lots", "input column 1 ('Amount'): string \"lots\" is not a valid 'integer'"),
            ("amount", 2.5, "number 2.5 is not a valid 'integer'"),
            ("amount", 2**40, "is out of the range of 'integer'"),
            ("urgent", "yes", "input column 2 ('Urgent'): string \"yes\" is not a valid 'boolean'"),
            ("filed", "31.12.2026", "input column 3 ('Filed'): string \"31.12.2026\" is not a valid 'date'"),
            ("code", [1], "input column 4 ('Code'): list [1] is not a valid 'string'"),
        ]:
            with pytest.raises(DecisionError) as caught:
                run(xml, "d", **{**variables, key: bad})
            assert message in str(caught.value)
            assert str(caught.value).startswith("decision 'd' input column")

    def test_output_type_conversion(self):
        xml = definitions(table("d", AMOUNT, [("days", "integer"), ("label", "string"), ("fee", "double")],
                                [(["-"], ["amount / 100", "amount", "amount"])]))
        assert run(xml, "d", amount=500).outputs == [{"days": 5, "label": "500", "fee": 500.0}]
        with pytest.raises(DecisionError) as caught:
            run(xml, "d", amount=550)
        assert str(caught.value) == ("decision 'd' rule 1 (rule id DecisionRule_1) output column 1 ('days'): "
                                     "number 5.5 is not a valid 'integer' (typeRef of the output)")

    def test_input_variable_and_question_mark(self):
        xml = definitions(table(
            "d", [("Amount", "amount", "integer", ' camunda:inputVariable="a"'), ("Name", "name", "string")],
            [("r", "string")],
            [(["a > 10 and a < 20", "string length(?) > 3"], ['"both"']),
             (["? > 10", "cellInput = \"bo\""], ['"short"'])], hit_policy="FIRST"))
        assert run(xml, "d", amount=15, name="alice").outputs == [{"r": "both"}]
        assert run(xml, "d", amount=25, name="bo").outputs == [{"r": "short"}]
        assert run(xml, "d", amount=25, name="alice").outputs == []

    def test_input_expressions_and_outputs_use_variables(self):
        xml = definitions(table(
            "d", [("Total", "order.price * order.quantity", "double"), ("Items", "count(order.items)", "integer")],
            [("discount", "double"), ("message", "string")],
            [([">= 1000", "-"], ["order.price * 0.1", '"big order of " + string(Items)']),
             (["-", "> 2"], ["5", '"many items"'])], hit_policy="FIRST"))
        order = {"price": 250, "quantity": 5, "items": [1, 2, 3]}
        assert run(xml, "d", order=order, Items=3).outputs == [{"discount": 25.0, "message": "big order of 3"}]
        assert run(xml, "d", order={**order, "quantity": 1}).outputs == [{"discount": 5.0, "message": "many items"}]

    def test_juel_and_python_cells(self):
        xml = definitions(
            '  <decision id="d" name="D">\n    <decisionTable id="DecisionTable_1">\n'
            '      <input id="Input_1" label="Amount">\n'
            '        <inputExpression id="InputExpression_1" typeRef="integer" expressionLanguage="juel">\n'
            '          <text>${amount}</text>\n        </inputExpression>\n      </input>\n'
            '      <output id="Output_1" label="r" name="r" typeRef="string" />\n'
            '      <rule id="Rule_1">\n'
            '        <inputEntry id="UnaryTests_1" expressionLanguage="juel"><text>${cellInput &gt; 10}</text></inputEntry>\n'
            '        <outputEntry id="LiteralExpression_1" expressionLanguage="juel"><text>big_${unit}</text></outputEntry>\n'
            '      </rule>\n'
            '      <rule id="Rule_2">\n'
            '        <inputEntry id="UnaryTests_2" expressionLanguage="python"><text>cellInput &lt;= 10</text></inputEntry>\n'
            '        <outputEntry id="LiteralExpression_2" expressionLanguage="python"><text>unit.upper()</text></outputEntry>\n'
            '      </rule>\n    </decisionTable>\n  </decision>\n')
        assert run(xml, "d", amount=50, unit="land").outputs == [{"r": "big_land"}]
        assert run(xml, "d", amount=5, unit="land").outputs == [{"r": "LAND"}]

    def test_what_feel_does_not_define_is_null(self):
        # FEEL (DMN 1.4+): comparing a number with a string, dividing by zero, adding a string and a
        # number give null, so the rule does not match or the cell is null
        xml = definitions(table("approval_path", [("Name", "name", None), ("Amount", "amount", None)],
                                [("r", "string")],
                                [(["-", "< limit"], ['"b"'], "Rule_x"), (["-", "> 100"], ['"a"'], "Rule_a")],
                                hit_policy="FIRST"))
        assert run(xml, "approval_path", amount=500, limit="many").outputs == [{"r": "a"}]

        xml = definitions(table("d", [("Amount", "amount / divisor", None)], [("r", None)], [(["null"], ["1"])]))
        assert run(xml, "d", amount=1, divisor=0).outputs == [{"r": 1}]

        xml = definitions(table("d", AMOUNT, [("r", None)], [(["-"], ['"x" + amount'])]))
        assert run(xml, "d", amount=5).outputs == [{"r": None}]

    def test_run_time_errors_name_decision_rule_and_column(self):
        xml = definitions(table("d", AMOUNT, [("r", "integer")], [(["-"], ["amount / 2"], "Rule_x")]))
        with pytest.raises(DecisionError) as caught:
            run(xml, "d", amount=5)
        assert str(caught.value) == ("decision 'd' rule 1 (rule id Rule_x) output column 1 ('r'): number 2.5 is "
                                     "not a valid 'integer' (typeRef of the output)")
        assert caught.value.rule_ids == ("Rule_x",)

    def test_literal_expression_decision(self):
        xml = definitions(
            '  <decision id="days_left" name="Days left">\n'
            '    <variable id="InformationItem_1" name="daysLeft" typeRef="integer" />\n'
            '    <literalExpression id="LiteralExpression_1">\n'
            '      <text>(date(due) - date("2027-01-01")).days</text>\n'
            '    </literalExpression>\n  </decision>\n')
        result = run(xml, "days_left", due="2027-01-31")
        assert result.outputs == [{"daysLeft": 30}]
        assert map_decision_result(result, "singleResult") == {"daysLeft": 30}
        assert run(xml, "days_left", due=5).outputs == [{"daysLeft": None}]  # date(5) is null

    @pytest.mark.parametrize("ns", [DMN11, DMN12, DMN13])
    def test_dmn_versions(self, ns):
        xml = definitions(table("d", AMOUNT, [("r", "string")], [(["> 1"], ['"yes"'])]), ns=ns)
        assert run(xml, "d", amount=2).outputs == [{"r": "yes"}]

    def test_an_unused_empty_input_column_is_fine(self):
        xml = definitions(table("d", [("Input 1", "", "string"), ("Amount", "amount", "integer")],
                                [("r", "string")], [(["", "> 1"], ['"yes"'])]))
        assert run(xml, "d", amount=2).outputs == [{"r": "yes"}]

    def test_single_output_without_name_is_keyed_by_its_id(self):
        xml = definitions(table("d", AMOUNT, [(None, "string")], [(["-"], ['"yes"'])]))
        result = run(xml, "d", amount=2)
        assert result.outputs == [{"Output_1": "yes"}]
        assert map_decision_result(result) == "yes"


# ----------------------------------------------------------------- deploy-time problems


class TestProblems:
    def test_broken_cells_are_located(self):
        xml = definitions(table(
            "approval_path", [("category", "category", "string"), ("amount", "amount", "integer")],
            [("path", "string"), ("days", "integer")],
            [(['"gold"', "< 1000"], ['"clerk"', "1"], "Rule_a"),
             (['"silver"', ">= 1000"], ['"head"', "2"], "Rule_b"),
             (['"gold"', "[1..10"], ['"director"', "3"], "Rule_x"),
             (["'bronze'", "-"], ['"clerk" +', '"high"'], "Rule_y")]))
        decisions, problems = parse(xml, "approval.dmn")
        assert decisions == []
        assert [str(p.message) for p in problems] == [
            "decision 'approval_path' rule 3 (rule id Rule_x) input column 2 ('amount'): incomplete: the text "
            "ends where ']', '[' or ')' to close the range was expected in expression '[1..10'",
            "decision 'approval_path' rule 4 (rule id Rule_y) input column 1 ('category'): FEEL strings are "
            "written in double quotes (\"...\"), not single quotes at column 1 in expression \"'bronze'\"",
            "decision 'approval_path' rule 4 (rule id Rule_y) output column 1 ('path'): incomplete: the text "
            "ends where a value was expected in expression '\"clerk\" +'",
            "decision 'approval_path' rule 4 (rule id Rule_y) output column 2 ('days'): string \"high\" is not "
            "a valid 'integer' (typeRef of the output)",
        ]
        first = problems[0]
        assert first.file == "approval.dmn"
        assert first.line == line_of(xml, "<text>[1..10</text>")
        assert first.element_id == "approval_path" and first.element_type == "decision"
        assert problems[1].line == line_of(xml, "<text>'bronze'</text>")
        assert problems[2].line == line_of(xml, '<text>"clerk" +</text>')
        assert problems[3].line == line_of(xml, '<text>"high"</text>')
        assert {p.element_id for p in problems} == {"approval_path"}
        assert str(first).startswith(f"approval.dmn:{first.line} element 'approval_path' (decision): decision "
                                     "'approval_path' rule 3")

    def test_broken_input_expression_and_literal(self):
        messages = problems_of(definitions(
            table("d", [("Amount", "amount +* 2", "integer")], [("r", "string")], [(["-"], ['"x"'])]),
            '  <decision id="lit" name="Lit">\n    <variable id="v" name="x" typeRef="integer" />\n'
            '    <literalExpression id="LiteralExpression_9"><text>if a then 1</text></literalExpression>\n'
            '  </decision>\n'))
        assert messages == [
            "decision 'd' input column 1 ('Amount') input expression: unexpected '*' (expected a value) at "
            "column 9 in expression 'amount +* 2'",
            "decision 'lit' literal expression: incomplete: the text ends where 'else' was expected in "
            "expression 'if a then 1'",
        ]

    @pytest.mark.parametrize("xml,fragment", [
        (definitions(table("d", AMOUNT, [("r", "string")], [], hit_policy="SOMETIMES")),
         "decision 'd': unknown hit policy 'SOMETIMES'"),
        (definitions(table("d", AMOUNT, [("r", "integer")], [], hit_policy="FIRST", aggregation="SUM")),
         "decision 'd': aggregation SUM needs hit policy COLLECT, not FIRST"),
        (definitions(table("d", AMOUNT, [("r", "integer")], [], hit_policy="COLLECT", aggregation="AVG")),
         "unknown aggregation 'AVG'"),
        (definitions(table("d", AMOUNT, [("a", "integer"), ("b", "integer")], [], hit_policy="COLLECT",
                           aggregation="SUM")),
         "COLLECT with SUM needs exactly one output column, the table has 2"),
        (definitions(table("d", AMOUNT, [("r", "string")], [], hit_policy="PRIORITY")),
         "hit policy PRIORITY ranks rules by the output values"),
        (definitions(table("d", AMOUNT, [("r", "string", "< 5")], [], hit_policy="PRIORITY")),
         "output column 1 ('r') output values: list the values as constants"),
        (definitions(table("d", AMOUNT, [(None, "string"), ("b", "string")], [])),
         "output column 1 ('Output_1'): a decision table with several outputs needs a name on each output"),
        (definitions(table("d", AMOUNT, [("a", "string"), ("a", "string")], [])),
         "output column 2 ('a'): output name 'a' is used twice"),
        (definitions(table("d", AMOUNT, [], [])), "the decision table has no output column"),
        (definitions(table("d", AMOUNT, [("r", "string")], [(["1", "2"], ['"x"'])])),
         "decision 'd' rule 1 (rule id DecisionRule_1): it has 2 input entries for 1 input columns"),
        (definitions(table("d", AMOUNT, [("r", "string")], [(["1"], [])])),
         "it has 0 output entries for 1 output columns"),
        (definitions(table("d", [("Amount", "amount", "Interger")], [("r", "string")], [])),
         "input column 1 ('Amount'): unknown typeRef 'Interger'"),
        (definitions(table("d", [("", "", "string")], [("r", "string")], [(['"x"'], ['"y"'])])),
         "input column 1 ('Input_1') has no input expression, but rule 1 (rule id DecisionRule_1) tests it"),
        (definitions(table("d", AMOUNT, [("r", "string")], [], required=["ghost"])),
         "decision 'd' requires decision 'ghost', which is not in this file"),
        (definitions(table("a", AMOUNT, [("r", "string")], [], required=["b"]),
                     table("b", AMOUNT, [("s", "string")], [], required=["a"])),
         "required decisions form a cycle: a -> b -> a"),
        (definitions(table("d", AMOUNT, [("r", "string")], []), table("d", AMOUNT, [("r", "string")], [])),
         "decision id 'd' is used twice"),
        (definitions('  <decision id="lit" name="Lit">\n    <literalExpression id="L"><text>1</text>'
                     '</literalExpression>\n  </decision>\n'),
         "decision 'lit': a literal expression decision needs a <variable name=\"...\">"),
        (definitions('  <decision id="ctx" name="Ctx">\n    <context id="C"><contextEntry><variable name="a" />'
                     '<literalExpression><text>1 +</text></literalExpression></contextEntry></context>\n'
                     '  </decision>\n'),
         "decision 'ctx' context entry 'a': incomplete: the text ends where a value was expected"),
        (definitions('  <decision id="nothing" name="Nothing" />\n'),
         "decision 'nothing' has neither a decision table nor a literal expression"),
        (definitions(table("d", AMOUNT, [("r", "string")], [(["> 1"], ['"x"'])]).replace(
            '<inputEntry id="UnaryTests_DecisionRule_1_0">',
            '<inputEntry id="UnaryTests_DecisionRule_1_0" expressionLanguage="javascript">')),
         "rule 1 (rule id DecisionRule_1) input column 1 ('Amount'): expression language 'javascript' is not "
         "supported"),
        (definitions(table("d", AMOUNT, [("r", "string")], []).replace(
            "<decisionTable", '<informationRequirement id="I"><requiredDecision href="other.dmn#x" />'
            "</informationRequirement>\n    <decisionTable")),
         "required decision href 'other.dmn#x' must point into the same file"),
    ])
    def test_table_problems(self, xml, fragment):
        messages = problems_of(xml)
        assert any(fragment in m for m in messages), messages

    def test_not_a_dmn_file(self):
        decisions, problems = parse('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>')
        assert decisions == [] and "not a DMN 1.1 to 1.5 file" in problems[0].message

    def test_a_doctype_is_refused_by_the_parser(self):
        with pytest.raises(DefinitionInvalid):
            parse_xml(b'<!DOCTYPE x [<!ENTITY e "x">]>' + definitions().encode().split(b"?>", 1)[1],
                      "evil.dmn")

    def test_sound_decisions_of_a_file_with_problems_are_still_reported_apart(self):
        decisions, problems = parse(definitions(
            table("good", AMOUNT, [("r", "string")], [(["> 1"], ['"x"'])]),
            table("bad", AMOUNT, [("r", "string")], [(["> "], ['"x"'])])))
        assert [d.id for d in decisions] == ["good"]
        assert [p.element_id for p in problems] == ["bad"]


# ----------------------------------------------------------------- required decisions (DRD)


class TestRequiredDecisions:
    def drd(self, policy: str, aggregation: str | None = None) -> str:
        return definitions(
            table("checks", AMOUNT, [("check", "string")],
                  [([">= 100"], ['"identity"']), ([">= 1000"], ['"audit"'])], hit_policy=policy,
                  aggregation=None),
            table("count_checks", AMOUNT, [("score", "integer")], [([">= 100"], ["1"]), ([">= 1000"], ["2"])],
                  hit_policy="COLLECT", aggregation="SUM"),
            '  <decision id="summary" name="Summary">\n'
            '    <informationRequirement id="IR_1"><requiredDecision href="#checks" /></informationRequirement>\n'
            '    <informationRequirement id="IR_2"><requiredDecision href="#count_checks" /></informationRequirement>\n'
            '    <informationRequirement id="IR_3"><requiredInput href="#amount_input" /></informationRequirement>\n'
            '    <variable id="InformationItem_2" name="summary" />\n'
            '    <literalExpression id="LiteralExpression_2"><text>{check: check, score: score}</text>'
            '</literalExpression>\n  </decision>\n'
            '  <inputData id="amount_input" name="Amount" />\n')

    def test_several_rows_reach_the_next_decision_as_lists(self):
        result = evaluate_decision(load(self.drd("COLLECT")), "summary", {"amount": 5000})
        assert result.outputs == [{"summary": {"check": ["identity", "audit"], "score": 3}}]
        assert result.required["checks"].matched_rules == ["DecisionRule_1", "DecisionRule_2"]

    def test_collect_and_rule_order_give_lists_even_for_one_row(self):
        for policy in ("COLLECT", "RULE ORDER"):
            result = evaluate_decision(load(self.drd(policy)), "summary", {"amount": 500})
            assert result.outputs == [{"summary": {"check": ["identity"], "score": 1}}]

    def test_one_row_of_first_gives_the_value(self):
        result = evaluate_decision(load(self.drd("FIRST")), "summary", {"amount": 5000})
        assert result.outputs == [{"summary": {"check": "identity", "score": 3}}]

    def test_no_row_adds_nothing(self):
        result = evaluate_decision(load(self.drd("FIRST")), "summary", {"amount": 5, "check": "given"})
        assert result.outputs == [{"summary": {"check": "given", "score": None}}]

    def test_a_shared_requirement_is_evaluated_once(self):
        xml = definitions(
            table("base", AMOUNT, [("x", "integer")], [(["-"], ["amount + 1"])]),
            table("left", [("X", "x", "integer")], [("l", "integer")], [(["-"], ["x * 2"])], required=["base"]),
            table("right", [("X", "x", "integer")], [("r", "integer")], [(["-"], ["x * 3"])], required=["base"]),
            table("top", [("L", "l", "integer")], [("t", "integer")], [(["-"], ["l + r"])],
                  required=["left", "right"]))
        result = evaluate_decision(load(xml), "top", {"amount": 1})
        assert result.outputs == [{"t": 10}]
        assert list(result.required) == ["base", "left", "right"]


# ----------------------------------------------------------------- camunda:mapDecisionResult


class TestMapDecisionResult:
    def result(self, rows):
        xml = definitions(table("d", AMOUNT, [("a", "integer"), ("b", "string")],
                                [(["-"], cells) for cells in rows], hit_policy="RULE ORDER"))
        return run(xml, "d", amount=1)

    def test_single_entry(self):
        assert map_decision_result(self.result([["1", ""]]), "singleEntry") == 1
        assert map_decision_result(self.result([["1", ""]])) == 1  # the default
        assert map_decision_result(self.result([])) is None
        assert map_decision_result(self.result([["", ""]])) is None
        with pytest.raises(DecisionError, match=r"mapDecisionResult 'singleEntry' takes one output, but the result "
                                                r"has 2 \(a, b\); use 'singleResult'"):
            map_decision_result(self.result([["1", '"x"']]))
        with pytest.raises(DecisionError, match=r"mapDecisionResult 'singleEntry' takes at most one result, but 2 "
                                                r"rules matched \(rule ids DecisionRule_1, DecisionRule_2\)"):
            map_decision_result(self.result([["1", ""], ["2", ""]]))

    def test_single_result(self):
        assert map_decision_result(self.result([["1", '"x"']]), "singleResult") == {"a": 1, "b": "x"}
        assert map_decision_result(self.result([]), "singleResult") is None
        with pytest.raises(DecisionError, match="'singleResult' takes at most one result, but 2 rules matched"):
            map_decision_result(self.result([["1", '"x"'], ["2", '"y"']]), "singleResult")

    def test_collect_entries(self):
        assert map_decision_result(self.result([["1", ""], ["2", ""]]), "collectEntries") == [1, 2]
        assert map_decision_result(self.result([]), "collectEntries") == []
        with pytest.raises(DecisionError, match=r"'collectEntries' takes one output, but the result has 2 "
                                                r"\(a, b\); use 'resultList'"):
            map_decision_result(self.result([["1", ""], ["", '"y"']]), "collectEntries")

    def test_result_list(self):
        assert map_decision_result(self.result([["1", '"x"'], ["2", ""]]), "resultList") == [
            {"a": 1, "b": "x"}, {"a": 2}]
        assert map_decision_result(self.result([]), "resultList") == []

    def test_unknown_mode(self):
        with pytest.raises(DecisionError, match="unknown mapDecisionResult 'everything'"):
            map_decision_result(self.result([]), "everything")


# ----------------------------------------------------------------- the business rule task


def task(attributes: str):
    xml = ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_1">\n'
           '  <process id="p" isExecutable="true">\n'
           f'    <businessRuleTask id="Task_decide" name="Decide" {attributes} />\n'
           '  </process>\n</definitions>\n')
    tree = parse_xml(xml.encode(), "p.bpmn")
    return tree.find(".//{http://www.omg.org/spec/BPMN/20100524/MODEL}businessRuleTask")


class TestBusinessRuleTask:
    def test_defaults(self):
        ref, problems = business_rule_reference(task('camunda:decisionRef="approval_path"'), "p.bpmn")
        assert problems == []
        assert ref == DecisionRef(decision_key="approval_path", binding="latest", version=None, version_tag=None,
                                  tenant_id=None, result_variable=None, map_decision_result="singleEntry")

    def test_all_attributes(self):
        ref, problems = business_rule_reference(task(
            'camunda:decisionRef="approval_path" camunda:decisionRefBinding="version" '
            'camunda:decisionRefVersion="3" camunda:resultVariable="path" camunda:mapDecisionResult="resultList" '
            'camunda:decisionRefTenantId="bureau_7"'), "p.bpmn")
        assert problems == []
        assert (ref.decision_key, ref.binding, ref.version, ref.result_variable, ref.map_decision_result,
                ref.tenant_id) == ("approval_path", "version", "3", "path", "resultList", "bureau_7")
        ref, problems = business_rule_reference(task(
            'camunda:decisionRef="${kind}_rules" camunda:decisionRefBinding="versionTag" '
            'camunda:decisionRefVersionTag="2027"'), "p.bpmn")
        assert problems == [] and ref.version_tag == "2027" and ref.decision_key == "${kind}_rules"

    def test_not_a_dmn_task(self):
        assert business_rule_reference(task('camunda:class="org.example.Rules"'), "p.bpmn") == (None, [])

    @pytest.mark.parametrize("attributes,fragment", [
        ('camunda:decisionRef=""', "camunda:decisionRef is empty"),
        ('camunda:decisionRef="d" camunda:decisionRefBinding="newest"',
         "camunda:decisionRefBinding 'newest' is not one of latest, deployment, version, versionTag"),
        ('camunda:decisionRef="d" camunda:decisionRefBinding="version"',
         "camunda:decisionRefBinding 'version' needs camunda:decisionRefVersion"),
        ('camunda:decisionRef="d" camunda:decisionRefBinding="version" camunda:decisionRefVersion="v2"',
         "camunda:decisionRefVersion 'v2' must be a version number"),
        ('camunda:decisionRef="d" camunda:decisionRefBinding="versionTag"',
         "camunda:decisionRefBinding 'versionTag' needs camunda:decisionRefVersionTag"),
        ('camunda:decisionRef="d" camunda:mapDecisionResult="singleValue"',
         "camunda:mapDecisionResult 'singleValue' is not one of singleEntry, singleResult, collectEntries, "
         "resultList"),
        ('camunda:decisionRef="${a +}"', "camunda:decisionRef:"),
    ])
    def test_problems(self, attributes, fragment):
        ref, problems = business_rule_reference(task(attributes), "p.bpmn")
        assert len(problems) == 1 and fragment in problems[0].message, problems
        assert problems[0].element_id == "Task_decide" and problems[0].element_type == "businessRuleTask"
        assert problems[0].line == 3

    def test_end_to_end_with_the_approval_file(self):
        data = (DIAGRAMS / "approval.dmn").read_bytes()
        decisions, _ = parse_dmn(parse_xml(data, "approval.dmn"), "approval.dmn")
        ref, _ = business_rule_reference(task(
            'camunda:decisionRef="approval_path" camunda:resultVariable="route" '
            'camunda:mapDecisionResult="singleResult"'), "p.bpmn")
        result = evaluate_decision({d.id: d for d in decisions}, ref.decision_key,
                                   {"category": "gold", "amount": 900, "filed": "2026-01-05"})
        assert {ref.result_variable: map_decision_result(result, ref.map_decision_result)} == {
            "route": {"path": "clerk", "reviewers": 1}}


# ----------------------------------------------------------------- DMN 1.4/1.5: the standard's semantics

DMN15 = "https://www.omg.org/spec/DMN/20230324/MODEL/"

LOAN_15 = """\
  <itemDefinition name="tApplicant">
    <itemComponent name="Monthly Income"><typeRef>number</typeRef></itemComponent>
    <itemComponent name="Category"><typeRef>string</typeRef>
      <allowedValues><text>"A", "B"</text></allowedValues></itemComponent>
  </itemDefinition>
  <itemDefinition name="tRates" isCollection="true"><typeRef>number</typeRef></itemDefinition>
  <inputData id="i_applicant" name="Applicant"><variable name="Applicant" typeRef="tApplicant" /></inputData>
  <businessKnowledgeModel id="b_payment" name="Monthly Payment">
    <variable name="Monthly Payment" />
    <encapsulatedLogic>
      <formalParameter name="principal" typeRef="number" /><formalParameter name="months" typeRef="number" />
      <literalExpression><text>principal / months</text></literalExpression>
    </encapsulatedLogic>
  </businessKnowledgeModel>
  <decision id="d_rates" name="Rates">
    <variable name="Rates" typeRef="tRates" />
    <relation>
      <column name="rate" /><column name="label" />
      <row><literalExpression><text>0.05</text></literalExpression><literalExpression><text>"low"</text></literalExpression></row>
      <row><literalExpression><text>0.08</text></literalExpression><literalExpression><text>"high"</text></literalExpression></row>
    </relation>
  </decision>
  <decision id="d_summary" name="Loan Summary">
    <variable name="Loan Summary" />
    <informationRequirement><requiredInput href="#i_applicant" /></informationRequirement>
    <informationRequirement><requiredDecision href="#d_rate_list" /></informationRequirement>
    <knowledgeRequirement><requiredKnowledge href="#b_payment" /></knowledgeRequirement>
    <context>
      <contextEntry><variable name="Yearly Income" />
        <literalExpression><text>Applicant.Monthly Income * 12</text></literalExpression></contextEntry>
      <contextEntry><variable name="Payment" />
        <invocation><literalExpression><text>Monthly Payment</text></literalExpression>
          <binding><parameter name="principal" /><literalExpression><text>Yearly Income</text></literalExpression></binding>
          <binding><parameter name="months" /><literalExpression><text>12</text></literalExpression></binding>
        </invocation></contextEntry>
      <contextEntry><variable name="Best Rate" />
        <literalExpression><text>min(Rate List)</text></literalExpression></contextEntry>
    </context>
  </decision>
  <decision id="d_rate_list" name="Rate List">
    <variable name="Rate List" />
    <literalExpression><text>for r in [0.08, 0.05] return r</text></literalExpression>
  </decision>
  <decision id="d_undefined" name="Undefined">
    <variable name="Undefined" typeRef="number" />
    <literalExpression><text>(10 + 20) / 0</text></literalExpression>
  </decision>
  <decisionService id="s_summary" name="Summary Service">
    <variable name="Summary Service" />
    <outputDecision href="#d_summary" />
    <inputData href="#i_applicant" />
  </decisionService>
"""


class TestDmn15:
    """Files in the DMN 1.4/1.5 namespaces follow the standard: boxed expressions, knowledge models,
    decision services, item definitions as types, results by decision name, null for what FEEL
    does not define."""

    @pytest.fixture
    def loan(self):
        return load(f'<definitions xmlns="{DMN15}" id="loan" name="Loan" namespace="http://dalad/loan">\n'
                    f"{LOAN_15}</definitions>\n")

    def test_boxed_context_invocation_and_required_decision_by_name(self, loan):
        result = evaluate_decision(loan, "d_summary", {"Applicant": {"Monthly Income": 1000, "Category": "A"}})
        assert result.value == {"Yearly Income": 12000, "Payment": 1000, "Best Rate": 0.05}
        assert result.outputs == [{"Loan Summary": result.value}]

    def test_a_value_that_does_not_conform_to_its_type_is_null(self, loan):
        # "C" is not an allowed Category: the input is null, so is what depends on it
        result = evaluate_decision(loan, "d_summary", {"Applicant": {"Monthly Income": 1000, "Category": "C"}})
        assert result.value == {"Yearly Income": None, "Payment": None, "Best Rate": 0.05}
        # a relation of contexts is not a list of numbers (tRates)
        assert evaluate_decision(loan, "d_rates", {}).value is None

    def test_a_constant_that_feel_leaves_undefined_is_null_at_run_time(self, loan):
        assert "d_undefined" in loan
        assert evaluate_decision(loan, "d_undefined", {}).value is None

    def test_a_decision_service_runs_its_output_decisions(self, loan):
        result = evaluate_decision(loan, "s_summary", {"Applicant": {"Monthly Income": 10, "Category": "B"}})
        assert result.value == {"Yearly Income": 120, "Payment": 10, "Best Rate": 0.05}

    def test_syntax_errors_are_still_refused_with_file_line_and_element(self):
        xml = (f'<definitions xmlns="{DMN15}" id="x" name="X" namespace="http://dalad/x">\n'
               '  <decision id="d" name="D">\n    <variable name="D" />\n'
               '    <literalExpression><text>1 +</text></literalExpression>\n  </decision>\n</definitions>\n')
        decisions, problems = parse(xml, "x.dmn")
        assert decisions == [] and len(problems) == 1
        assert str(problems[0]).startswith("x.dmn:4 element 'd' (decision): decision 'd': incomplete")


def test_an_input_without_expression_reads_the_variable_its_label_names():
    """Camunda 7 reads an input column whose input expression is empty by its label."""
    xml = definitions(table("d", [("season", "", "string"), ("Guest Count", "", "integer")], [("dish", "string")],
                            [(['"Winter"', "> 4"], ['"Stew"']), (['"Winter"', "<= 4"], ['"Roast"'])]))
    assert run(xml, "d", season="Winter", **{"Guest Count": 6}).outputs == [{"dish": "Stew"}]
    assert run(xml, "d", season="Winter", **{"Guest Count": 2}).outputs == [{"dish": "Roast"}]
