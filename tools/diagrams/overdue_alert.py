"""逾期提醒: an overdue step of any process alerts the office (and drc where it supervises)."""
from common import Diagram, lanes, text


def build() -> Diagram:
    d = Diagram("overdue_alert", "逾期提醒", lanes("office", "drc"),
                doc="第九条、第二十六条：领导小组办公室负责项目日常调度和总体监督；旗发展和改革委员会对项目实施情况事中事后监管。"
                    "各流程中的任务逾期时，以消息 overdue_alert 启动本流程（业务键为项目编号），提醒有关部门督办。")
    d.start("overdue_reported", "任务逾期", "office", 0, message="overdue_alert",
            doc="消息变量：alert_step（逾期事项）、alert_drc（是否同时提醒发改委）、project_name、unit。")
    d.gateway("alert_recipients", "提醒对象", "office", 1, kind="inclusive")
    d.user_task("office_follow_up", "督办逾期：${alert_step}", "office", 2, groups="office",
                doc="第九条：领导小组办公室督促项目建设单位或有关部门办理逾期事项。",
                form=[text("office_follow_up_note", "督办情况")])
    d.user_task("drc_follow_up", "督办逾期：${alert_step}", "drc", 2, groups="drc",
                doc="第九条、第十八条：旗发展和改革委员会对项目实施情况事中事后监管。",
                form=[text("drc_follow_up_note", "督办情况")])
    d.gateway("alerts_handled", "", "office", 3, kind="inclusive")
    d.end("alert_closed", "督办完成", "office", 4)
    d.flow("overdue_reported", "alert_recipients")
    d.flow("alert_recipients", "office_follow_up", "办公室", cond="${true}")
    d.flow("alert_recipients", "drc_follow_up", "发改委", cond="${alert_drc}")
    d.flow("office_follow_up", "alerts_handled")
    d.flow("drc_follow_up", "alerts_handled", route="hv")
    d.flow("alerts_handled", "alert_closed")
    return d
