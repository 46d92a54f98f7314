"""Lanes, form fields and expressions shared by the diagrams of the 办法."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bpmn_layout import Diagram, Field, Lane  # noqa: E402,F401

BUREAU_NAMES = {
    "leading_group": "数字城市建设领导小组",
    "office": "领导小组办公室（旗大数据中心）",
    "cac": "旗委网信办",
    "drc": "旗发展和改革委员会",
    "finance": "旗财政局",
    "audit": "旗审计局",
    "secrecy": "旗委保密机要局",
    "industry": "旗工信和科技局",
    "police": "旗公安局",
    "government": "旗人民政府",
    "unit": "项目建设单位",
    "consultant": "第三方咨询机构",
    "supervisor": "工程监理单位",
    "archives": "旗档案馆",
}


def lanes(*ids: str) -> list[Lane]:
    return [Lane(i, BUREAU_NAMES[i]) for i in ids]


UNIT = "unit:${unit}"

# 投资项目统一代码: year-150621-ministry-type-serial, 24 characters (Dalad Banner is 150621).
CODE_PATTERN = r"^\d{4}-150621-\d{2}-\d{2}-\d{6}$"
CODE_OK = ("len(project_code) == 24 and project_code.strip('0123456789-') == '' "
           "and project_code[4] == '-' and project_code[5:11] == '150621' and project_code[11] == '-' "
           "and project_code[14] == '-' and project_code[17] == '-'")


def due_in(days_expr: str) -> str:
    """A due date so many working days from the day the task opens."""
    return "${add_working_days(today(), " + days_expr + ")}"


def overdue_after(days_expr: str) -> tuple[str, str]:
    """A timer at the start of the working day after the due date."""
    return ("timeDate", "${str(add_working_days(today(), " + days_expr + " + 1))}")


def alert_inputs(step: str, drc: bool = False) -> dict:
    return {"alert_step": step, "alert_drc": "${true}" if drc else "${false}",
            "project_name": "${project_name}", "unit": "${unit}"}


DECISION = Field("decision_placeholder", "")


def yes_no(id: str, label: str, **kw) -> Field:
    return Field(id, label, "boolean", **kw)


def enum(id: str, label: str, values, required=True, **kw) -> Field:
    return Field(id, label, "enum", required=required, values=values, **kw)


def text(id: str, label: str, required=True, **kw) -> Field:
    return Field(id, label, "textarea", required=required, **kw)


def line(id: str, label: str, required=True, **kw) -> Field:
    return Field(id, label, "string", required=required, **kw)


def units(id: str, label: str, multiple=False, **kw) -> Field:
    """Project units chosen from the list the administrators keep (several, as "edu,health")."""
    kw.setdefault("required", True)
    return Field(id, label, "string", properties={"dalad:choices": "units",
                                                  **({"dalad:multiple": "true"} if multiple else {})}, **kw)


def project_key(id: str, label: str = "项目编号", existing=False, **kw) -> Field:
    """The project code, the instance's business key: on a start form the one 项目编号 field
    (`existing`: chosen from the list of projects)."""
    kw.setdefault("required", True)
    return Field(id, label, "string", properties={"dalad:businessKey": "true",
                                                  **({"dalad:choices": "projects"} if existing else {})}, **kw)


def money(id: str, label: str, required=True, **kw) -> Field:
    kw.setdefault("min", "0")
    return Field(id, label, "money", required=required, **kw)


def day(id: str, label: str, required=True, **kw) -> Field:
    return Field(id, label, "date", required=required, **kw)


def file(id: str, label: str, required=True, **kw) -> Field:
    return Field(id, label, "file", required=required, **kw)


def project_code_field(readonly=False) -> Field:
    return Field("project_code", "投资项目统一代码", "string", required=True, readonly=readonly,
                 minlength=24, maxlength=24,
                 help="内蒙古自治区投资项目在线审批监管平台赋予的代码，24位：年份-150621-行业-类型-流水号（例 2026-150621-65-01-000123）",
                 properties={"pattern": CODE_PATTERN})
