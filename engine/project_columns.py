"""What the project list and the dashboard read of an instance without its variables or tasks:
its stage, plan year and amounts, kept on its row by the step that changes them.

A project's stage is its `stage` variable, else the stage its open tasks name, else the one its
process's name names (read with the list: a newer version may rename the process), else, when no
task is open, the stage its last completed task named. `stage` holds the first two, `stage_done`
the last; amounts are kept in 分 (fen) where they are a whole number of them, and an instance with
another amount is marked `odd_amounts` (the dashboard reads the variables of those few).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import stepsql
from .models import ProcessInstance

# Stages of the 办法 in their order (lifecycle.md, P2), and how task names and element ids show them.
STAGES = ("proposal", "feasibility", "design", "construction", "acceptance", "post_evaluation")
_STAGE_WORDS = (  # checked in this order: "后评价" before anything else that says 评价
    ("post_evaluation", ("后评价", "自评价", "评价结果", "post_eval", "self_eval", "post-eval", "evaluation_result")),
    ("acceptance", ("验收", "审计报告", "档案", "资产", "拨付", "accept", "audit_report", "archive", "asset",
                    "withhold")),
    ("construction", ("建设实施", "施工", "进度", "进展", "采购", "招标", "合同", "实施机构", "监理", "年度绩效",
                      "严重", "调整", "恢复建设", "construct", "progress", "procure", "tender", "contract",
                      "implementing", "supervisor", "annual_report", "serious", "adjust", "resum")),
    ("design", ("初步设计", "design")),
    ("feasibility", ("可行性", "可研", "feasib")),
    ("proposal", ("建议书", "立项", "框架", "参建", "proposal", "project_basis", "framework", "participation")),
)
_STAGE_PATTERNS = tuple((stage, re.compile("|".join(map(re.escape, words)))) for stage, words in _STAGE_WORDS)
SPENT_REPORTED = "spent_total"  # the amount spent so far, as the unit's latest progress report gives it
STAGE_LENGTH = 200  # a `stage` variable longer than this is kept cut to it
# Amounts under 10^13 fen (1000 亿元) are kept in fen: SQLite's SUM of up to 900,000 of them stays
# within a BIGINT (it raises on overflow); a larger amount is odd.
_FEN_LIMIT = 10**13
COLUMNS = ("stage", "stage_done", "plan_year", "approved_fen", "spent_fen", "odd_amounts")


def stage_of_text(*texts: Optional[str]) -> Optional[str]:
    """The stage a task or process name speaks of, else None."""
    lowered = [text.lower() for text in texts if text]
    for stage, pattern in _STAGE_PATTERNS:
        for text in lowered:
            if pattern.search(text):
                return stage
    return None


def task_text(name: Optional[str], element_id: str) -> str:
    """What a task's stage is read from: its name (else its element id) and its element id."""
    return f"{name or element_id} {element_id}"


def text(value) -> Optional[str]:
    if value is None or value == "":
        return None
    return str(value)


def amount(value) -> Optional[Decimal]:
    """A money variable as Decimal (None when absent or not a number)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def approved_of(variables: dict) -> Optional[Decimal]:
    return amount(variables.get("approved_budget"))


def spent_of(variables: dict) -> Optional[Decimal]:
    return amount(variables.get("spend", variables.get(SPENT_REPORTED)))


def plan_year(variables: dict) -> Optional[int]:
    """The plan year the variables name (`plan_year`, else `year`), None when neither is one."""
    for key in ("plan_year", "year"):
        value = variables.get(key)
        try:
            year = int(str(value).strip())
        except (TypeError, ValueError):
            continue
        if 1900 < year < 3000:
            return year
    return None


def _fen(number: Optional[Decimal]) -> tuple[Optional[int], bool]:
    """(the amount in fen, whether it is odd: not a whole number of fen, or too large)."""
    if number is None:
        return None, False
    fen = number * 100
    if fen != fen.to_integral_value() or abs(fen) >= _FEN_LIMIT:
        return None, True
    return int(fen), False


_TASK_TEXT = stepsql.Statement("SELECT name, element_id FROM user_task WHERE id = :id")
_LAST_COMPLETED_TEXT = stepsql.Statement(
    "SELECT name, element_id FROM user_task WHERE instance_id = :instance_id AND state = 'completed' "
    "ORDER BY completed_at DESC, id DESC LIMIT 1")


def columns(session: Session, instance_id: int, variables: dict, ready: Iterable[int],
            opened_texts: Optional[dict[int, str]] = None) -> dict:
    """The row's project columns as its variables and its open tasks (`ready`: their row ids;
    `opened_texts`: the task texts of those opened by this step, known without reading) give them."""
    ready = list(ready)
    stage = text(variables.get("stage"))
    if stage is not None:
        stage = stage[:STAGE_LENGTH]
    elif ready:
        known = opened_texts or {}
        missing = [task_id for task_id in ready if task_id not in known]
        texts = [known[task_id] for task_id in ready if task_id in known]
        if missing:  # (plain SQL, one small read per task: this runs at every step)
            connection = session.connection()
            texts += [task_text(*row) for task_id in missing for row in _TASK_TEXT.run(connection, {"id": task_id})]
        stage = stage_of_text(*texts)
    done = None
    if stage is None and not ready:
        last = _LAST_COMPLETED_TEXT.run(session.connection(), {"instance_id": instance_id}).first()
        done = stage_of_text(task_text(*last)) if last else None
    approved, odd_approved = _fen(approved_of(variables))
    spent, odd_spent = _fen(spent_of(variables))
    odd = odd_approved or odd_spent
    return {"stage": stage, "stage_done": done, "plan_year": plan_year(variables),
            "approved_fen": None if odd else approved, "spent_fen": None if odd else spent, "odd_amounts": odd or None}


def refresh(session: Session, row: ProcessInstance) -> None:
    """Set the project columns of a root instance whose tasks changed outside a step (terminated,
    migrated): from its variables with those of its running calls (as a step reads them, the stage
    a running stage review is given among them)."""
    ready = [task_id for task_id, _element in (row.open_tasks or {}).values()]
    variables = dict(row.variables or {})
    for called in session.scalars(select(ProcessInstance.variables).where(
            ProcessInstance.root_instance_id == row.id, ProcessInstance.status.not_in(("completed", "terminated")))
            .order_by(ProcessInstance.id)):
        variables.update(called or {})
    for name, value in columns(session, row.id, variables, ready).items():
        if getattr(row, name) != value:
            setattr(row, name, value)
