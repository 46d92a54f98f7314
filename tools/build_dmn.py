"""Write bpmn/*.dmn: the decision tables of the 办法 as Camunda Modeler writes DMN 1.3 (with DMNDI).

Administrators change these tables in the Modeler afterwards; the files are then the source.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Table:
    id: str
    name: str
    hit_policy: str
    inputs: list  # (label, expression, typeRef)
    outputs: list  # (label, name, typeRef)
    rules: list  # (input entries, output entries, annotation)
    doc: str

    def xml(self) -> str:
        i = self.id
        lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                 '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" '
                 'xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" '
                 'xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/" '
                 'xmlns:camunda="http://camunda.org/schema/1.0/dmn" '
                 'xmlns:modeler="http://camunda.org/schema/modeler/1.0" '
                 f'id="Definitions_{i}" name={quoteattr(self.name)} namespace="http://camunda.org/schema/1.0/dmn" '
                 'exporter="Camunda Modeler" exporterVersion="5.20.0" '
                 'modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0">',
                 f'  <decision id="{i}" name={quoteattr(self.name)}>',
                 f"    <description>{escape(self.doc)}</description>"]
        policy = f' hitPolicy="{self.hit_policy}"' if self.hit_policy != "UNIQUE" else ""
        lines.append(f'    <decisionTable id="DecisionTable_{i}"{policy}>')
        for n, (label, expression, type_ref) in enumerate(self.inputs, 1):
            lines += [f'      <input id="Input_{n}" label={quoteattr(label)} camunda:inputVariable="cellInput">',
                      f'        <inputExpression id="InputExpression_{n}" typeRef="{type_ref}">',
                      f"          <text>{escape(expression)}</text>",
                      "        </inputExpression>",
                      "      </input>"]
        for n, (label, name, type_ref) in enumerate(self.outputs, 1):
            lines.append(f'      <output id="Output_{n}" label={quoteattr(label)} name="{name}" typeRef="{type_ref}" />')
        for r, (entries, outputs, note) in enumerate(self.rules, 1):
            lines.append(f'      <rule id="Rule_{i}_{r}">')
            if note:
                lines.append(f"        <description>{escape(note)}</description>")
            for c, entry in enumerate(entries, 1):
                lines.append(f'        <inputEntry id="UnaryTests_{i}_{r}_{c}">')
                lines.append(f"          <text>{escape(entry)}</text>")
                lines.append("        </inputEntry>")
            for c, entry in enumerate(outputs, 1):
                lines.append(f'        <outputEntry id="LiteralExpression_{i}_{r}_{c}">')
                lines.append(f"          <text>{escape(entry)}</text>")
                lines.append("        </outputEntry>")
            lines.append("      </rule>")
        lines += ["    </decisionTable>", "  </decision>",
                  '  <dmndi:DMNDI>', '    <dmndi:DMNDiagram id="DMNDiagram_1">',
                  f'      <dmndi:DMNShape id="DMNShape_{i}" dmnElementRef="{i}">',
                  '        <dc:Bounds height="80" width="180" x="160" y="100" />',
                  "      </dmndi:DMNShape>", "    </dmndi:DMNDiagram>", "  </dmndi:DMNDI>",
                  "</definitions>"]
        return "\n".join(lines) + "\n"


def q(text: str) -> str:
    return f'"{text}"'


APPROVAL_PATH = Table(
    "approval_path", "项目审批路径", "FIRST",
    inputs=[("已列入规划（in_plan）", "in_plan", "boolean"), ("紧急建设（emergency）", "emergency", "boolean"),
            ("建设内容单一、投资较小、技术简单（simple）", "simple", "boolean")],
    outputs=[("审批路径", "path", "string")],
    rules=[(["-", "-", "true"], [q("simplified")], "《政府投资条例》第十三条：简化评审，可研和初设合并一次报审（同时列入规划或紧急的也走简化程序）"),
           (["true", "-", "-"], [q("no_proposal")], "第五条之二：经批准的规划中已明确的项目，不再审批项目建议书"),
           (["-", "true", "-"], [q("no_proposal")], "第五条之二：应对自然灾害、事故灾难、公共卫生、社会安全事件的紧急项目，不再审批项目建议书"),
           (["-", "-", "-"], [q("full")], "其他项目：项目建议书 → 可行性研究报告 → 初步设计方案和投资概算")],
    doc="第五条之二。命中策略 FIRST（按顺序取第一条）：一个项目可以同时列入规划且属于简易项目，"
        "此时取最简的路径，所以规则按从简到繁排列；改动规则时请保持这个顺序。")

ADJUSTMENT_ROUTE = Table(
    "adjustment_route", "建设内容调整方式", "FIRST",
    inputs=[("投资规模未超出概算批复", "within_budget", "boolean"), ("建设目标不变", "goal_unchanged", "boolean"),
            ("已自行调整和本次调整金额之和占原批复概算总投资比例", "(adjusted_so_far + adjustment_amount) / original_budget",
             "double"),
            ("调整情形", "adjustment_ground", "string")],
    outputs=[("调整方式", "route", "string")],
    rules=[(["true", "true", "<= 0.1", '"gov_approved","optimize_tech","business_need"'], [q("self_adjust")],
            "第二十条：未超概算、目标不变、调整金额（与此前自行调整的累计）不超过原批复概算总投资10%，且属于三种情形之一："
            "由项目建设单位调整，同时向审批部门、领导小组办公室备案"),
           (["-", "-", "-", "-"], [q("new_approval")], "其他调整：报原审批部门（旗发展和改革委员会）审批")],
    doc="第二十条。命中策略 FIRST：先检查可自行调整的全部条件，其余一律报批。10% 的界限在第一条规则的第三列，"
        "按累计计算：此前自行调整的金额（adjusted_so_far）加本次，对初步设计批复的原概算（original_budget）；"
        "未获批准的调整不改变任何数额。")

REVIEW_PERIODS = Table(
    "review_periods", "办理时限（工作日）", "UNIQUE",
    inputs=[("阶段", "stage", "string")],
    outputs=[("第三方评估", "consultant_days", "integer"), ("项目建设单位", "unit_days", "integer"),
             ("领导小组办公室", "office_days", "integer"), ("旗委网信办", "cac_days", "integer"),
             ("旗委保密机要局", "secrecy_days", "integer"), ("旗发展和改革委员会", "drc_days", "integer"),
             ("旗财政局", "finance_days", "integer"), ("旗审计局", "audit_days", "integer"),
             ("旗档案馆", "archives_days", "integer"), ("领导小组", "leading_group_days", "integer"),
             ("旗人民政府", "government_days", "integer"), ("进展报告间隔（月）", "progress_months", "integer")],
    rules=[([q("proposal")], ["30", "20", "15", "10", "10", "20", "15", "30", "20", "20", "20", "1"], "项目建议书审查"),
           ([q("feasibility")], ["30", "20", "15", "10", "10", "20", "15", "30", "20", "20", "20", "1"], "可行性研究报告审查"),
           ([q("design")], ["30", "20", "15", "10", "10", "20", "15", "30", "20", "20", "20", "1"], "初步设计方案和投资概算审查"),
           ([q("combined")], ["30", "20", "15", "10", "10", "20", "15", "30", "20", "20", "20", "1"], "简化程序：可研和初设合并审查"),
           ([q("project")], ["30", "20", "15", "10", "10", "20", "15", "30", "20", "20", "20", "1"],
            "项目建设、验收和后评价中的各项办理（进展报告每月一次，第九条）"),
           ([q("annual_plan")], ["30", "20", "20", "10", "10", "20", "15", "30", "20", "30", "20", "1"], "年度建设计划（第五条）"),
           ([q("supervision")], ["30", "20", "10", "10", "10", "10", "10", "10", "10", "20", "20", "1"], "监督整改（第二十五至二十七条）"),
           ([q("om_funding")], ["30", "20", "15", "10", "10", "20", "15", "30", "20", "20", "30", "1"], "运维经费（第二十四条）"),
           ([q("planning")], ["30", "30", "30", "10", "10", "20", "15", "30", "20", "30", "30", "1"], "数字达拉特规划（第四条）")],
    doc="办法对审查和批复未规定时限，由管理员在此按工作日设定（节假日按国家法定节假日安排）；默认值参照本地可比规定，"
        "例如旗发改委批复 20 个工作日。第三方咨询机构的评估时间另列，不计入审查部门的时限。命中策略 UNIQUE：每个阶段一行。")

OM_ELIGIBILITY = Table(
    "om_eligibility", "运维经费和系统建设资格", "FIRST",
    inputs=[("符合密码应用和网络安全要求", "crypto_security_compliant", "boolean"),
            ("存在重大安全隐患", "major_hidden_danger", "boolean"),
            ("按要求共享数据资源", "shares_data", "boolean"),
            ("重复采集数据", "duplicate_collection", "boolean"),
            ("主张依法律法规或旗委、旗政府要求不能共享", "legal_ground_claimed", "boolean")],
    outputs=[("结论", "eligibility", "string"), ("依据", "eligibility_reason", "string")],
    rules=[(["false", "-", "-", "-", "-"], [q("refused"), q("第二十四条第（二）项：不符合密码应用和网络安全要求")],
            "第二十四条（二）：不单独安排运维经费，不得新建、改建、扩建；没有例外"),
           (["-", "true", "-", "-", "-"], [q("refused"), q("第二十四条第（二）项：存在重大安全隐患")],
            "第二十四条（二）：存在重大安全隐患，没有例外"),
           (["-", "-", "-", "true", "-"], [q("refused"), q("第二十四条第（一）项：重复采集数据")],
            "第二十四条（一）：重复采集数据"),
           (["-", "-", "false", "-", "true"], [q("legal_ground"), q("第二十四条：主张依法不能共享，办公室审核、旗政府批准")],
            "第二十四条：部门认为依法律法规和旗委、旗政府要求不能信息共享但确有必要建设或保留的，由领导小组办公室审核，报旗人民政府批准"),
           (["-", "-", "false", "-", "-"], [q("refused"), q("第二十四条第（一）项：未按要求共享数据资源")],
            "第二十四条（一）：联网通办是原则，孤网是例外"),
           (["-", "-", "-", "-", "-"], [q("eligible"), q("第二十四条：能够按要求信息共享，办公室会同有关部门审核")],
            "第二十四条：符合要求，进入审核")],
    doc="第二十四条。命中策略 FIRST（按顺序取第一条）：安全和密码问题（第（二）项）没有例外，排在最前；"
        "重复采集数据不适用依法不能共享的例外；未共享时才看是否主张法定事由；其余符合要求。改动规则时请保持这个顺序。")

TABLES = [APPROVAL_PATH, ADJUSTMENT_ROUTE, REVIEW_PERIODS, OM_ELIGIBILITY]


if __name__ == "__main__":
    tables = list(TABLES)
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from dmn_extra import EXTRA  # noqa: E402
        tables += EXTRA
    except ImportError:
        pass
    for table in tables:
        target = REPO / "bpmn" / f"{table.id}.dmn"
        target.write_text(table.xml(), encoding="utf-8")
        print(f"wrote {target.relative_to(REPO)}")
