"""项目下达: starts one project instance for a plan entry or a part of a cross-department framework."""
from common import Diagram, lanes


def build() -> Diagram:
    d = Diagram("project_launch", "项目下达", lanes("office"),
                doc="第五条、第五条之二：年度建设计划确定后，每个纳入计划的项目（或跨部门共建框架中各参建部门的内容）"
                    "以消息 project_planned 启动一个项目全生命周期流程，业务键为项目编号。由年度计划和项目流程以多实例调用活动调用。")
    d.start("launch_requested", "收到下达任务", "office", 0, doc="调用方以 camunda:in 传入 project_id、project_name、unit、category、nature、estimated_budget、plan_year、framework_id、follows_plan、plan_clause。")
    d.end("project_started", "启动项目流程", "office", 1, message="project_planned", inputs={
        "businessKey": "${project_id}", "project_id": "${project_id}",
        "project_name": "${project_name}", "unit": "${unit}", "category": "${category}",
        "nature": "${nature}", "estimated_budget": "${estimated_budget}",
        "plan_year": "${plan_year}", "framework_id": "${framework_id}",
        "follows_plan": "${follows_plan}", "plan_clause": "${plan_clause}"},
        doc="第五条：纳入年度建设计划的项目进入审批。")
    d.flow("launch_requested", "project_started")
    return d
