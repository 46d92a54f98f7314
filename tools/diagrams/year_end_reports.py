"""年度绩效评价报告提醒 (Art 17): on 1 December every project under construction is asked for its report."""
from common import Diagram, lanes


def build() -> Diagram:
    d = Diagram("year_end_reports", "年度绩效评价报告", lanes("office"),
                doc="第十七条：建设期内的项目建设单位每年年底前向项目审批部门提交项目绩效评价报告。每年 12 月 1 日发出信号 "
                    "year_end_report_due；每个项目流程（事件子流程 on_year_end）在建设期的，无论处于哪一步，都生成报告任务。")
    d.start("december_first", "每年12月1日", "office", 0, timer=("timeCycle", "R/2026-12-01T00:00:00+08:00/P1Y"),
            doc="第十七条：每年年底前（周期在图中设定，管理员可在 Modeler 中修改）。")
    d.throw("reports_requested", "通知在建项目", "office", 1, signal="year_end_report_due",
            doc="第十七条：信号 year_end_report_due 送达所有项目流程。")
    d.end("year_end_done", "已通知", "office", 2)
    d.chain("december_first", "reports_requested", "year_end_done")
    return d
