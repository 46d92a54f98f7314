"""What each kind of history event is called on the pages that list an instance's history (the
project page's path, the administrator's instance page, the auditors' timeline, search and report).

One label per kind for every page. The Chinese is the source text; it is translated in the
context "history" (pgettext), since some of it is also the text of a button (发起流程, 发表意见, 撤回)
whose English is a command ("Start a process"), where a history entry says what happened
("Process started")."""
from __future__ import annotations

from flask_babel import pgettext

CONTEXT = "history"


def NP_(context: str, text: str) -> str:
    """Mark `text` for translation in `context`; it is translated where it is shown."""
    return text


EVENT_LABELS = {
    "instance_started": NP_("history", "发起流程"), "task_created": NP_("history", "生成待办"),
    "task_claimed": NP_("history", "签收任务"), "task_unclaimed": NP_("history", "取消签收"),
    "task_completed": NP_("history", "办结任务"), "task_cancelled": NP_("history", "任务取消"),
    "comment_added": NP_("history", "发表意见"), "timer_fired": NP_("history", "定时器触发"),
    "message_correlated": NP_("history", "收到消息"), "signal_received": NP_("history", "收到信号"),
    "status_changed": NP_("history", "状态变更"), "variables_changed": NP_("history", "修改流程数据"),
    "incident": NP_("history", "发生异常"), "instance_completed": NP_("history", "流程结束"),
    "migrated": NP_("history", "迁移流程版本"), "task_assigned": NP_("history", "指派任务"),
    "task_withdrawn": NP_("history", "撤回"), "document_added": NP_("history", "上传材料"),
    "document_removed": NP_("history", "移除材料"), "document_retagged": NP_("history", "更改材料类型"),
    "decision_evaluated": NP_("history", "决策表求值"), "task_delegated": NP_("history", "委托任务"),
    "task_resolved": NP_("history", "委托任务办回"), "task_reminded": NP_("history", "催办"),
    "task_candidates_changed": NP_("history", "更改办理部门"), "job_executed": NP_("history", "执行异步作业"),
    "external_task_completed": NP_("history", "外部任务完成"),
    "external_task_bpmn_error": NP_("history", "外部任务业务错误"),
    "job_due_date_set": NP_("history", "修改定时器到期时间"), "call_started": NP_("history", "调用子流程"),
}
# The kinds an official's project page lists: what people did and what the process did for them,
# not the engine's own steps (decisions, jobs, external workers), which the auditors' pages list.
PATH_EVENTS = frozenset({
    "instance_started", "task_created", "task_claimed", "task_unclaimed", "task_completed", "task_cancelled",
    "comment_added", "timer_fired", "message_correlated", "status_changed", "variables_changed", "incident",
    "instance_completed", "migrated", "task_assigned", "task_withdrawn", "document_added", "document_removed",
    "document_retagged", "job_due_date_set"})


def event_label(kind: str) -> str:
    """The label of an event kind in the page's language; the kind itself when it has none."""
    label = EVENT_LABELS.get(kind)
    return pgettext(CONTEXT, label) if label is not None else kind


def init_app(app) -> None:
    app.jinja_env.globals["event_label"] = event_label
