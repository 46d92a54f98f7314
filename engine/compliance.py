"""Compliance checks an auditor runs over every project: rules as data, evidence from the history.

A rule is a plain dict (`DEFAULT_RULES` below): an id, the article it guards, titles, and one of
four kinds, each reading the events of an instance in order:

* `before_gate`  — a `guarded` event happened before any `gate` event (Art 8: funds or
  procurement before the design and budget approval).
* `requires`     — a `trigger` event without a `required` event `before` it, `after` it, or
  `any`where (Art 20: an adjustment beyond the self-adjustment limits without drc approval;
  Art 22: acceptance passed without archive acceptance).
* `deadline`     — an `end` event later than `within` (an ISO duration such as P6M) after the
  `start` event, or than the date that the expression `due` gives at the start event; or no end
  event while that time has passed (Art 21 six months, Art 17 24 months, Art 27 rectification
  deadlines).
* `materials`    — at a `trigger` event, each of `materials` was uploaded as a document (its
  material key is the name, or ends in ':' and the name) or is listed in the list variable
  `variable` (Art 21: the ten acceptance materials).
* `consistent`   — at a `trigger` event, the expression `check` holds over the values then
  (money, dates and verdicts against each other: Art 8, 13, 20, 21). These rules are also
  enforced when a task completes or a process starts (a trigger of type `instance_started` at
  its start event), on every channel (task and start pages, REST, CLI): a submission that breaks
  one is refused with `message_zh` (`message_en` in English) next to the form field `field`. The
  audit reads `today()` in a check as the day of the event.

An event matcher is `{"types": [...], "elements": [...], "when": "${...}"}`: event types (default
`task_completed`), element ids (default any) and an expression evaluated by engine/expressions.py
over the process variables as the history knows them right after that event (the inputs recorded
so far; names it uses that are unknown are null). An element of a called process may be named with
the call activity that ran it, `review_design/drc_reply`: stage_review.bpmn's reply to the design
stage, not to the feasibility study (the history names only `drc_reply`; the event's task path
leads to the call activity). `processes` limits a rule to process keys. `materials` is a list of
material keys or an object of key -> name (the name is what a breach lists).

The rules read the 办法's diagrams (bpmn/project.bpmn, stage_review.bpmn, adjustment_route.dmn):
Art 8 `release_construction_funds` / `procure_and_contract` before `drc_reply` approves in
`review_design` or `review_combined`; Art 20 `request_adjustment` outside the self-adjustment limits
without a later `approve_adjustment`; Art 21 `apply_final_acceptance` within six months of the
`completion_date` of the last `report_progress`, with its ten file fields; Art 22 `joint_acceptance`
passed after `archive_acceptance` passed; Art 17 `self_evaluation` within 24 months of the
`in_operation_on` that `file_acceptance_report` records; Art 27 supervision.bpmn's
`rectify_and_report` by the `rectification_deadline` that its start `order_issued` set (`SUPERVISION`). An administrator adapts or extends the rules
without a release, with a JSON file (default `instance/compliance.json`, or DALAD_COMPLIANCE_FILE):

    {"rules": [
      {"id": "art27_rectification_overdue",
       "start": {"types": ["instance_started"], "elements": ["order_issued"]},
       "end": {"elements": ["rectify_and_report"]}},
      {"id": "art17_self_evaluation_24_months", "enabled": false},
      {"id": "local_1", "article": "第九条", "title_zh": "...", "kind": "deadline", ...}
    ]}

An entry with the id of a built-in rule changes only the keys it gives; a new id adds a rule.
A file chosen over a table: it is reviewed and versioned like the diagrams, and a mistake in it is
reported with the file, the rule and the field, while the built-in rules keep working.
"""
from __future__ import annotations

import copy
import functools
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock, history
from .audit import inputs_of
from .errors import ExpressionError, InvalidInput, Misconfigured
from .expressions import Expression, compile_expression
from .models import Document, HistoryEvent, ProcessInstance
from .timevalues import Duration, parse_duration

KINDS = ("before_gate", "requires", "deadline", "materials", "consistent")
# The ten materials of Art 21, as the file fields of `apply_final_acceptance` in bpmn/project.bpmn.
ACCEPTANCE_MATERIALS = {"preliminary_acceptance_opinion": "初验意见", "leadership_minutes": "验收会议纪要",
                        "acceptance_report": "验收报告", "construction_summary": "建设总结",
                        "tender_contract_materials": "招投标及合同材料", "process_documents": "项目过程文档",
                        "financial_report": "财务报告", "security_assessment_report": "安全风险评估报告",
                        "crypto_assessment_report": "密码应用安全性评估报告", "audit_report_copy": "审计报告"}
# Art 20's self-adjustment (adjustment_route.dmn, rule 1): within the approved budget, the goal unchanged,
# at most 10 % of the approved budget (an approved adjustment's new budget, else the design approval's
# amount) and on one of the three grounds. The rule flags the complement, whatever the table says.
_SELF_ADJUSTABLE = ("within_budget == true && goal_unchanged == true && adjustment_amount != null "
                    "&& adjustment_amount <= 0.1 * (approved_budget != null ? approved_budget : approved_amount) "
                    "&& (adjustment_ground == 'gov_approved' || adjustment_ground == 'optimize_tech' "
                    "|| adjustment_ground == 'business_need')")
# Supervision (Art 27): supervision.bpmn's order (its start event), the unit's report, the deadline.
SUPERVISION = {"order": "order_issued", "report": "rectify_and_report", "deadline": "rectification_deadline"}

DEFAULT_RULES: list[dict] = [
    {"id": "art8_funds_before_design_approval", "article": "第八条",
     "title_zh": "初步设计和投资概算批复前下达建设资金或开展采购",
     "title_en": "Construction funds or procurement before the design and budget approval",
     "description_zh": "初步设计方案和投资概算未获批复前，不予下达项目建设投资资金，项目建设单位不得开工建设。",
     "description_en": "No construction funds and no construction before the preliminary design and budget "
                       "estimate are approved.",
     "kind": "before_gate",
     "gate": {"elements": ["review_design/drc_reply", "review_combined/drc_reply"],
              "when": "${drc_decision == 'approve'}"},
     "guarded": {"elements": ["release_construction_funds", "procure_and_contract"]}},
    {"id": "art20_adjustment_without_approval", "article": "第二十条",
     "title_zh": "超过10%或不属于三种情形的调整未经发改委批准",
     "title_en": "Adjustment over 10 % or outside the three grounds without drc approval",
     "description_zh": "调整数额不超过概算总投资10%并符合三种情形之一的，方可由建设单位自行调整并备案；否则须报发改委批准。",
     "description_en": "Only an adjustment within 10 % of the total and on one of the three grounds may be made by "
                       "the unit with a record filed; any other needs a new drc approval.",
     "kind": "requires", "order": "after",
     "trigger": {"elements": ["request_adjustment"], "when": "${!(" + _SELF_ADJUSTABLE + ")}"},
     "required": {"elements": ["approve_adjustment"]}},
    {"id": "art21_acceptance_application_late", "article": "第二十一条",
     "title_zh": "建成后半年内未提交竣工验收申请",
     "title_en": "No acceptance application within six months of completion",
     "description_zh": "项目建成后半年内，项目建设单位向领导小组办公室提交竣工验收申请。",
     "description_en": "Within six months of completion the unit applies to the office for final acceptance.",
     "kind": "deadline",
     "start": {"elements": ["report_progress"], "when": "${construction_completed == true}"},
     "end": {"elements": ["apply_final_acceptance"]},
     "due": "${add_months(date(completion_date), 6)}"},
    {"id": "art21_acceptance_materials", "article": "第二十一条",
     "title_zh": "竣工验收申请材料不全（十项材料）",
     "title_en": "Acceptance application without all ten materials",
     "description_zh": "竣工验收申请须附初验意见、会议纪要、验收报告、建设总结、招投标及合同材料、过程文档、财务报告、"
                       "安全风险评估报告、密码应用安全性评估报告、审计报告。",
     "description_en": "The acceptance application carries the ten materials Art 21 lists.",
     "kind": "materials", "trigger": {"elements": ["apply_final_acceptance"]},
     "materials": dict(ACCEPTANCE_MATERIALS)},
    {"id": "art22_acceptance_without_archive_acceptance", "article": "第二十二条",
     "title_zh": "未通过档案验收即通过项目验收",
     "title_en": "Acceptance passed without archive acceptance",
     "description_zh": "未进行档案验收或档案验收不合格的，不得通过项目验收。",
     "description_en": "Without a passed archive acceptance a project may not pass acceptance.",
     "kind": "requires", "order": "before",
     "trigger": {"elements": ["joint_acceptance"], "when": "${joint_acceptance_result == 'pass'}"},
     "required": {"elements": ["archive_acceptance"], "when": "${archive_result == 'pass'}"}},
    {"id": "art17_self_evaluation_24_months", "article": "第十七条",
     "title_zh": "投入运行24个月后仍未提交自评价报告",
     "title_en": "Self-evaluation missing 24 months after going live",
     "description_zh": "项目通过验收并投入运行后12-24个月内，项目建设单位开展自评价并报送自评价报告。",
     "description_en": "12 to 24 months after going live the unit reports its self-evaluation.",
     "kind": "deadline",
     "start": {"elements": ["file_acceptance_report"], "when": "${in_operation_on != null}"},
     "end": {"elements": ["self_evaluation"]}, "due": "${add_months(date(in_operation_on), 24)}"},
    {"id": "art27_rectification_overdue", "article": "第二十七条",
     "title_zh": "整改逾期",
     "title_en": "Rectification order past its deadline",
     "description_zh": "发现违反规定或批复要求的，应当要求项目建设单位限期整改。",
     "description_en": "A rectification order sets a deadline; the unit reports the rectification by then.",
     "kind": "deadline", "start": {"types": ["instance_started"], "elements": [SUPERVISION["order"]]},
     "end": {"elements": [SUPERVISION["report"]]}, "due": "${" + SUPERVISION["deadline"] + "}"},
]


def _consistent(rule_id, article, title_zh, title_en, elements, check, field_id, message_zh, when=None):
    """A built-in consistency rule on bpmn/project.bpmn (with the stage reviews it calls)."""
    trigger = {"elements": elements, **({"when": when} if when else {})}
    return {"id": rule_id, "article": article, "title_zh": title_zh, "title_en": title_en, "kind": "consistent",
            "trigger": trigger, "check": check, "field": field_id, "message_zh": message_zh, "processes": ["project"]}


# Money, dates and verdicts checked against each other (kind `consistent`): refused at the form on
# every channel, and reported on /audit/compliance for what was recorded before a rule existed.
_APPROVED = "(approved_budget != null ? approved_budget : approved_amount)"
DEFAULT_RULES += [
    _consistent("art8_release_within_approved_budget", "第八条、第十九条", "下达资金超过批复的投资概算",
                "Funds released beyond the approved budget", ["release_construction_funds"],
                "${" + _APPROVED + " != null && released_amount + (released_before != null ? released_before : 0) <= "
                + _APPROVED + "}",
                "released_amount", "下达资金（含此前已下达）不得超过批复的投资概算"),
    _consistent("art5_funds_need_a_plan_entry", "第五条", "未列入年度建设计划（也无经批准的计划调整）的项目下达建设资金",
                "Construction funds for a project neither in the year's plan nor added by an approved plan change",
                ["release_construction_funds"], "${plan_year != null || plan_change_no != null}", "released_amount",
                "该项目未列入年度建设计划，也没有经领导小组批准的计划调整，不得下达建设资金"),
    _consistent("art5_in_plan_names_the_plan", "第五条", "免项目建议书未写明所依据的规划",
                "No proposal without naming the approved plan that lists the project", ["confirm_project_basis"],
                "${in_plan != true || (plan_basis != null && plan_basis != '')}", "plan_basis",
                "确认已在经批准的规划中明确的，须写明规划名称及条目"),
    _consistent("art8_completion_after_reply", "第八条", "批复建设完成期限早于批复日期",
                "Approved completion date before the reply date", ["drc_reply"],
                "${drc_decision != 'approve' || date(approved_completion_date) >= date(reply_date)}",
                "approved_completion_date", "批复建设完成期限不得早于批复日期"),
    _consistent("art13_acceptance_needs_conforming_checks", "第十三条、第二十一条", "产品或密码安全审查不符合仍通过联合验收",
                "Joint acceptance passed with non-conforming products, cryptography or energy efficiency",
                ["joint_acceptance"], "${secure_products_check == 'ok' && crypto_security_check == 'ok' "
                "&& energy_efficiency_check != 'not_ok'}", "joint_acceptance_result",
                "软硬件产品安全可靠、密码应用和安全审查、能源利用效率有“不符合”的，验收不得通过",
                when="${joint_acceptance_result == 'pass'}"),
    _consistent("art21_failed_acceptance_needs_deadline", "第二十一条", "验收不通过未定整改期限",
                "Failed acceptance without a rectification deadline", ["joint_acceptance"],
                "${rectification_deadline != null}", "rectification_deadline", "验收不通过的，须确定整改期限",
                when="${joint_acceptance_result == 'fail'}"),
    _consistent("art21_completion_states_its_date", "第二十一条", "报告建设完成未填写建成日期",
                "Construction reported complete without its completion date", ["report_progress"],
                "${completion_date != null}", "completion_date",
                "建设内容已全部完成的，须填写建成日期（竣工验收申请须在建成后半年内提交）",
                when="${construction_completed == true}"),
    _consistent("art23_in_operation_after_completion", "第二十一条、第二十三条", "投入运行日期早于建成日期",
                "In operation before the construction was completed", ["file_acceptance_report"],
                "${completion_date == null || date(in_operation_on) >= date(completion_date)}", "in_operation_on",
                "投入运行日期不得早于建成日期"),
    _consistent("art20_approved_adjustment_states_budget", "第二十条", "同意调整未给出调整后的概算",
                "An approved adjustment without the adjusted budget", ["approve_adjustment"],
                "${adjusted_budget != null && adjusted_budget > 0}", "adjusted_budget",
                "同意调整的，须填写调整后批复概算", when="${adjustment_decision == 'approve'}"),
    _consistent("art21_withheld_funds_released_after_pass", "第二十一条", "验收通过后未拨付此前暂停拨付的资金",
                "Funds withheld after a failed acceptance not released after the pass", ["confirm_asset_registration"],
                "${withheld_amount == null || withheld_released == withheld_amount}", "withheld_released",
                "曾因未通过竣工验收暂停拨付的资金，验收通过后应如数拨付"),
    _consistent("art27_no_work_while_suspended", "第二十七条", "暂停建设期间办理项目事项",
                "Work on a project while its construction is suspended", [], "${suspended != true}", "suspended",
                "项目已被暂停建设（第二十七条），恢复建设前不能办理本项目的待办"),
    {"id": "art27_rectification_deadline_ahead", "article": "第二十七条", "kind": "consistent",
     "title_zh": "整改期限不晚于下达整改通知之日", "title_en": "Rectification deadline not after the day of the order",
     "description_zh": "发现违反规定或批复要求的，应当要求项目建设单位限期整改：整改期限须晚于下达通知之日，"
                       "已过的期限使整改环节直接逾期。",
     "description_en": "A rectification order gives the unit a deadline after the day it is issued; one already "
                       "passed would skip the rectification as overdue.",
     "trigger": {"types": ["instance_started"], "elements": [SUPERVISION["order"]]},
     "check": "${date(" + SUPERVISION["deadline"] + ") > today()}", "field": SUPERVISION["deadline"],
     "message_zh": "整改期限须晚于下达整改通知之日", "message_en": "The deadline must be after the day of the order",
     "processes": ["supervision"]},
]



class ComplianceConfigError(Misconfigured):
    """The rules file cannot be used: names the file, the rule and the field."""


# --- rules -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Matcher:
    """Which events count: their types, elements and a condition on the variables then."""

    types: tuple[str, ...]
    elements: tuple[str, ...]
    when: Optional[Expression]

    def matches(self, event: dict, variables: dict, call: Optional[str] = None) -> bool:
        """`call` is the call activity that ran the event's element (None at the top level)."""
        if event["type"] not in self.types:
            return False
        element = event.get("element_id")
        if self.elements and element not in self.elements and (call is None or f"{call}/{element}"
                                                                not in self.elements):
            return False
        if self.when is None:
            return True
        scope = {**{name: None for name in self.when.names}, **variables}
        try:
            return bool(self.when.evaluate(scope))
        except ExpressionError:
            return False  # the condition cannot hold on these values


    @property
    def own_elements(self) -> tuple[str, ...]:
        """The element ids themselves ('review_design/drc_reply' is 'drc_reply')."""
        return tuple(dict.fromkeys(e.rpartition("/")[2] for e in self.elements))

    @property
    def qualified(self) -> bool:
        return any("/" in e for e in self.elements)


@dataclass(frozen=True)
class Rule:
    id: str
    article: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    kind: str
    matchers: dict  # role (gate, guarded, trigger, required, start, end) -> Matcher
    order: str = "after"
    within: Optional[Duration] = None
    within_text: Optional[str] = None
    due: Optional[Expression] = None
    materials: tuple[str, ...] = ()
    material_names: dict = field(default_factory=dict)  # material key -> the name shown
    variable: Optional[str] = None
    processes: tuple[str, ...] = ()
    check: Optional[Expression] = None  # consistent: what must hold
    field: Optional[str] = None  # consistent: the form field a breach is shown next to
    message_zh: str = ""
    message_en: str = ""
    source: str = "built-in"

    def title(self, language: str) -> str:
        return self.title_en if language == "en" and self.title_en else self.title_zh

    def description(self, language: str) -> str:
        return self.description_en if language == "en" and self.description_en else self.description_zh


_ROLES = {"before_gate": ("gate", "guarded"), "requires": ("trigger", "required"), "deadline": ("start", "end"),
          "materials": ("trigger",), "consistent": ("trigger",)}


def rule_from_dict(spec: dict, where: str) -> Rule:
    """Build a rule from its data; a mistake names `where` (file and rule) and the field."""
    def fail(field_name, message):
        raise ComplianceConfigError(f"{where}: field '{field_name}': {message}")

    def text(name, required=True):
        value = spec.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            fail(name, "must be non-empty text")
        return value.strip()

    def names(name, value):
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            fail(name, "must be a list of non-empty texts")
        return tuple(v.strip() for v in value)

    def expression(name, source):
        try:
            return compile_expression(source)
        except ExpressionError as exc:
            fail(name, str(exc))

    kind = text("kind")
    if kind not in KINDS:
        fail("kind", f"'{kind}' is not one of {', '.join(KINDS)}")
    matchers = {}
    for role in _ROLES[kind]:
        raw = spec.get(role)
        if not isinstance(raw, dict):
            fail(role, 'must be an object such as {"elements": ["design_approval"], "when": "${decision == \'approve\'}"}')
        unknown = set(raw) - {"types", "elements", "when"}
        if unknown:
            fail(role, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(sorted(unknown))} "
                       "(use types, elements, when)")
        types = names(f"{role}.types", raw.get("types")) or ("task_completed",)
        elements = names(f"{role}.elements", raw.get("elements"))
        when = raw.get("when")
        if when is not None and not isinstance(when, str):
            fail(f"{role}.when", "must be an expression text")
        matchers[role] = Matcher(types, elements, expression(f"{role}.when", when) if when else None)
    rule = dict(id=text("id"), article=text("article"), title_zh=text("title_zh"),
                title_en=text("title_en", False), description_zh=text("description_zh", False),
                description_en=text("description_en", False), kind=kind, matchers=matchers,
                processes=names("processes", spec.get("processes")), source=where)
    if kind == "requires":
        order = spec.get("order", "after")
        if order not in ("before", "after", "any"):
            fail("order", f"'{order}' is not one of before, after, any")
        rule["order"] = order
    if kind == "deadline":
        within, due = spec.get("within"), spec.get("due")
        if (within is None) == (due is None):
            fail("within", "give exactly one of 'within' (an ISO duration such as P6M) and 'due' (an expression)")
        if within is not None:
            try:
                rule["within"], rule["within_text"] = parse_duration(str(within)), str(within)
            except ValueError as exc:
                fail("within", str(exc))
        else:
            if not isinstance(due, str):
                fail("due", "must be an expression text")
            rule["due"] = expression("due", due)
    if kind == "materials":
        raw = spec.get("materials")
        if isinstance(raw, dict):  # {"field_id": "名称", ...}
            if not all(isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() for k, v in raw.items()):
                fail("materials", "must map material keys to non-empty names")
            rule["materials"] = tuple(k.strip() for k in raw)
            rule["material_names"] = {k.strip(): v.strip() for k, v in raw.items()}
        else:
            rule["materials"] = names("materials", raw)
        if not rule["materials"]:
            fail("materials", "must list at least one material")
        variable = spec.get("variable")
        if variable is not None and (not isinstance(variable, str) or not variable.isidentifier()):
            fail("variable", "must be a variable name")
        rule["variable"] = variable
    if kind == "consistent":
        if not isinstance(spec.get("check"), str):
            fail("check", "must be an expression text such as ${released_amount <= approved_budget}")
        rule["check"] = expression("check", spec["check"])
        rule["field"] = text("field")
        rule["message_zh"] = text("message_zh")
        rule["message_en"] = text("message_en", False)
    return Rule(**rule)


def rules_file() -> Path:
    """Where an administrator's rules are read from."""
    return _rules_file(os.environ.get("DALAD_COMPLIANCE_FILE"), os.environ.get("DALAD_INSTANCE_DIR"))


@functools.lru_cache(maxsize=16)  # a path made once, not on each of a completion's two looks at the rules
def _rules_file(explicit: Optional[str], instance_dir: Optional[str]) -> Path:
    if explicit:
        return Path(explicit)
    return Path(instance_dir or "instance") / "compliance.json"


_loaded: dict = {}  # path -> (modification time, rules): the file is read again only when it changes


def load_rules(path: Optional[Path] = None) -> list[Rule]:
    """The built-in rules changed and extended by the rules file (when it exists)."""
    name = os.fspath(rules_file() if path is None else path)  # (every completion asks: one stat of the file)
    try:
        stamp = os.stat(name).st_mtime_ns
    except OSError:
        stamp = None
    cached = _loaded.get(name)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rules = _read_rules(Path(name))
    _loaded[name] = (stamp, rules)
    return rules


def _read_rules(path: Path) -> list[Rule]:
    specs = {spec["id"]: (copy.deepcopy(spec), f"built-in rule '{spec['id']}'") for spec in DEFAULT_RULES}
    if path.exists():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ComplianceConfigError(f"{path}: cannot be read: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ComplianceConfigError(f"{path}: line {exc.lineno} column {exc.colno}: not JSON: {exc.msg}") from exc
        entries = document.get("rules") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ComplianceConfigError(f'{path}: expected {{"rules": [...]}} at the top')
        for number, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
                raise ComplianceConfigError(f"{path}: rule #{number}: field 'id': must be non-empty text")
            rule_id = entry["id"].strip()
            base = specs.get(rule_id, ({}, ""))[0]
            specs[rule_id] = ({**base, **entry, "id": rule_id}, f"{path} rule '{rule_id}' (#{number})")
    rules = []
    for spec, where in specs.values():
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ComplianceConfigError(f"{where}: field 'enabled': must be true or false")
        if enabled:
            rules.append(rule_from_dict(spec, where))
    return rules


# --- checking ----------------------------------------------------------------------------------

@dataclass
class Breach:
    """A project that breaks a rule, with the events that show it."""

    instance_id: int
    business_key: Optional[str]
    process_key: str
    project_name: Optional[str]
    reason: str  # before_gate | missing_before | missing_after | missing | late | overdue | missing_materials
    detail: str  # in English, for exports and logs; the web pages word it from reason and params
    params: dict
    evidence: list[dict]  # the events, as the history signed them


@dataclass
class RuleResult:
    rule: Rule
    checked: int  # instances that had a triggering event
    breaches: list[Breach] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


@dataclass
class _Project:
    row: ProcessInstance
    events: list[dict]
    variables: list[dict]  # the variables right after each event
    _calls: Optional[list] = None

    def calls(self) -> list[Optional[str]]:
        """For each event, the call activity that ran its element (None at the top level)."""
        if self._calls is None:
            self._calls = _calls_of(self.events)
        return self._calls

    def matching(self, matcher: Matcher, session: Optional[Session] = None) -> list[tuple[int, dict]]:
        calls = self.calls() if matcher.qualified and session is not None else [None] * len(self.events)
        return [(i, e) for i, e in enumerate(self.events) if matcher.matches(e, self.variables[i], calls[i])]


def check(session: Session, rules: list[Rule], *, now: Optional[datetime] = None) -> list[RuleResult]:
    """Run each rule over the instances it concerns (those with an event at its first elements)."""
    now = now or clock.now()
    loaded: dict[int, _Project] = {}
    results = []
    for rule in rules:
        result = RuleResult(rule, 0)
        for instance_id in _candidates(session, rule):
            project = loaded.get(instance_id) or loaded.setdefault(instance_id, _load(session, instance_id))
            if rule.processes and project.row.process_key not in rule.processes:
                continue
            breaches = _KINDS[rule.kind](session, rule, project, now)
            if breaches is None:
                continue
            result.checked += 1
            result.breaches.extend(breaches)
        results.append(result)
    return results


def _candidates(session: Session, rule: Rule) -> list[int]:
    first = rule.matchers[_ROLES[rule.kind][0] if rule.kind != "before_gate" else "guarded"]
    query = select(HistoryEvent.instance_id).where(HistoryEvent.chain.like("instance:%"),
                                                   HistoryEvent.of_types(first.types))
    if first.elements:
        query = query.where(HistoryEvent.element_id.in_(first.own_elements))
    return sorted(set(session.scalars(query.distinct())))


def _load(session: Session, instance_id: int) -> _Project:
    events = history.events_of(session, instance_id)
    known: dict = {}
    variables = []
    for event in events:
        known = {**known, **inputs_of(event)}
        variables.append(known)
    return _Project(session.get(ProcessInstance, instance_id), events, variables)


def _calls_of(events: list[dict]) -> list[Optional[str]]:
    """The call activity of each event: the innermost sub-workflow on its recorded `path`, when a
    call activity runs it ("call:<element>")."""
    out: list[Optional[str]] = []
    for event in events:
        path = (event.get("data") or {}).get("path")
        markers = [step for step in path if isinstance(step, str)] if isinstance(path, list) else []
        out.append(markers[-1][len("call:"):] if markers and markers[-1].startswith("call:") else None)
    return out


def _breach(project: _Project, reason: str, detail: str, params: dict, evidence: list[dict]) -> Breach:
    row = project.row
    return Breach(row.id, row.business_key, row.process_key, (row.variables or {}).get("project_name"), reason,
                  detail, params, evidence)


def _at(event: dict) -> datetime:
    return clock.aware(datetime.fromisoformat(event["at"]))


def _check_before_gate(session, rule: Rule, project: _Project, now) -> Optional[list[Breach]]:
    guarded = project.matching(rule.matchers["guarded"], session)
    if not guarded:
        return None
    gates = project.matching(rule.matchers["gate"], session)
    first_gate = gates[0][0] if gates else None
    out = []
    for index, event in guarded:
        if first_gate is None or index < first_gate:
            evidence = [event] + ([gates[0][1]] if gates else [])
            when = f"; the approval came later at event {gates[0][1]['seq']}" if gates else "; no approval at all"
            out.append(_breach(project, "before_gate", f"'{event.get('element_id')}' at event {event['seq']} "
                               f"came before the approval{when}",
                               {"element": event.get("element_id"), "seq": event["seq"],
                                "gate_seq": gates[0][1]["seq"] if gates else None}, evidence))
    return out


def _check_requires(session, rule: Rule, project: _Project, now) -> Optional[list[Breach]]:
    triggers = project.matching(rule.matchers["trigger"], session)
    if not triggers:
        return None
    required = project.matching(rule.matchers["required"], session)
    out = []
    for index, event in triggers:
        if rule.order == "before":
            found = [r for r in required if r[0] < index]
        elif rule.order == "after":
            found = [r for r in required if r[0] > index]
        else:
            found = required
        if not found:
            reason = {"before": "missing_before", "after": "missing_after", "any": "missing"}[rule.order]
            elements = ", ".join(rule.matchers["required"].elements) or "the required step"
            out.append(_breach(project, reason, f"event {event['seq']} ('{event.get('element_id')}') has no "
                               f"{'' if rule.order == 'any' else rule.order + ' '}'{elements}' as required",
                               {"element": event.get("element_id"), "seq": event["seq"],
                                "required": list(rule.matchers["required"].elements)}, [event]))
    return out


def _check_deadline(session, rule: Rule, project: _Project, now) -> Optional[list[Breach]]:
    starts = project.matching(rule.matchers["start"], session)
    if not starts:
        return None
    ends = project.matching(rule.matchers["end"], session)
    out = []
    for position, (index, event) in enumerate(starts):
        due = _due(rule, event, project.variables[index])
        if due is None:
            continue
        following = starts[position + 1][0] if position + 1 < len(starts) else None
        end = next(((i, e) for i, e in ends if i > index and (following is None or i < following)), None)
        params = {"element": event.get("element_id"), "seq": event["seq"], "due": due.isoformat()}
        if end is not None:
            if _at(end[1]) > due:
                out.append(_breach(project, "late", f"'{end[1].get('element_id')}' at event {end[1]['seq']} came "
                                   f"after the deadline {due.isoformat()}", {**params, "end_seq": end[1]["seq"],
                                                                            "done": end[1]["at"]},
                                   [event, end[1]]))
        elif now > due:
            out.append(_breach(project, "overdue", f"nothing done since event {event['seq']}; the deadline "
                               f"{due.isoformat()} has passed", params, [event]))
    return out


def _due(rule: Rule, event: dict, variables: dict) -> Optional[datetime]:
    start = _at(event).astimezone(clock.local_zone())
    if rule.within is not None:
        return rule.within.add_to(start)
    scope = {**{name: None for name in rule.due.names}, **variables}
    try:
        value = rule.due.evaluate(scope)
    except ExpressionError:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return clock.aware(value)
    if isinstance(value, date):  # the whole of the last day counts
        return clock.aware(datetime.combine(value, time.max))
    return None


def _check_materials(session, rule: Rule, project: _Project, now) -> Optional[list[Breach]]:
    triggers = project.matching(rule.matchers["trigger"], session)
    if not triggers:
        return None
    documents = list(session.execute(select(Document.field, Document.uploaded_at, Document.filename, Document.sha256)
                                     .where(Document.instance_id == project.row.id)))
    out = []
    for index, event in triggers:
        at = _at(event)
        keys = {str(field_name) for field_name, uploaded, _, _ in documents if field_name and uploaded <= at}
        listed = project.variables[index].get(rule.variable) if rule.variable else None
        listed = {str(v) for v in listed} if isinstance(listed, list) else set()
        missing = [m for m in rule.materials
                   if not any(name in listed or any(k == name or k.endswith(":" + name) for k in keys)
                              for name in (m, rule.material_names.get(m, m)))]
        if missing:
            shown = [rule.material_names.get(m, m) for m in missing]
            out.append(_breach(project, "missing_materials", f"event {event['seq']} lacks {len(missing)} of "
                               f"{len(rule.materials)} materials: {', '.join(shown)}",
                               {"element": event.get("element_id"), "seq": event["seq"], "missing": shown,
                                "missing_keys": missing, "required": len(rule.materials)}, [event]))
    return out


def _holds(rule: Rule, variables: dict) -> bool:
    scope = {**{name: None for name in rule.check.names}, **variables}
    try:
        return bool(rule.check.evaluate(scope))
    except ExpressionError:
        return False  # a check that cannot be evaluated on these values does not hold


def _check_consistent(session, rule: Rule, project: _Project, now) -> Optional[list[Breach]]:
    triggers = project.matching(rule.matchers["trigger"], session)
    if not triggers:
        return None
    out = []
    for index, event in triggers:
        with clock.frozen_at(_at(event)):  # today() is the day of the event, not of the audit
            holds = _holds(rule, _values_at(project, index))
        if not holds:
            out.append(_breach(project, "inconsistent", f"event {event['seq']} ('{event.get('element_id')}'): "
                               f"{rule.message_zh}", {"element": event.get("element_id"), "seq": event["seq"],
                                                      "field": rule.field, "message": rule.message_zh}, [event]))
    return out


def _values_at(project: _Project, index: int) -> dict:
    """The variables a consistency rule reads at an event: at a message start, the message's (its
    `message_correlated` event follows the start's)."""
    event = project.events[index]
    following = index + 1
    if event["type"] == "instance_started" and (event.get("data") or {}).get("message") \
            and following < len(project.events) and project.events[following]["type"] == "message_correlated":
        return project.variables[following]
    return project.variables[index]


_KINDS = {"before_gate": _check_before_gate, "requires": _check_requires, "deadline": _check_deadline,
          "materials": _check_materials, "consistent": _check_consistent}


@dataclass(frozen=True)
class Inconsistency:
    rule_id: str
    field: str
    message: str  # message_zh
    message_en: str = ""

    def message_in(self, language: str) -> str:
        return self.message_en if language == "en" and self.message_en else self.message


class RuleViolation(InvalidInput):
    """A submission that breaks consistency rules of the rule table; names each field and rule."""

    def __init__(self, found: list[Inconsistency], element_id: str):
        self.found = found
        super().__init__(f"element '{element_id}': " + "; ".join(
            f"field '{i.field}': {i.message} (rule {i.rule_id})" for i in found))


def inconsistencies(process_key: str, element_id: str, variables: dict, *,
                    event_type: str = "task_completed") -> list[Inconsistency]:
    """The consistency rules that `variables` (the project's data with the submitted values)
    break when `element_id` completes (or, with `event_type="instance_started"`, starts)."""
    found = []
    for rule in load_rules():
        if rule.kind != "consistent" or (rule.processes and process_key not in rule.processes):
            continue
        if not rule.matchers["trigger"].matches({"type": event_type, "element_id": element_id}, variables):
            continue
        if not _holds(rule, variables):
            found.append(Inconsistency(rule.id, rule.field, rule.message_zh, rule.message_en))
    return found


def enforce(process_key: str, element_id: str, variables: dict, *, event_type: str = "task_completed") -> None:
    """Refuse (RuleViolation) a completion or start that breaks a consistency rule."""
    found = inconsistencies(process_key, element_id, variables, event_type=event_type)
    if found:
        raise RuleViolation(found, element_id)


def rule_as_dict(rule: Rule) -> dict:
    """A rule as its data (what the page shows under "how it is checked")."""
    out: dict[str, Any] = {"id": rule.id, "kind": rule.kind}
    for role, matcher in rule.matchers.items():
        entry: dict[str, Any] = {"types": list(matcher.types)}
        if matcher.elements:
            entry["elements"] = list(matcher.elements)
        if matcher.when is not None:
            entry["when"] = matcher.when.source
        out[role] = entry
    if rule.kind == "requires":
        out["order"] = rule.order
    if rule.within_text:
        out["within"] = rule.within_text
    if rule.due is not None:
        out["due"] = rule.due.source
    if rule.materials:
        out["materials"] = ({m: rule.material_names.get(m, m) for m in rule.materials} if rule.material_names
                            else list(rule.materials))
        if rule.variable:
            out["variable"] = rule.variable
    if rule.check is not None:
        out.update(check=rule.check.source, field=rule.field, message_zh=rule.message_zh)
    if rule.processes:
        out["processes"] = list(rule.processes)
    return out
