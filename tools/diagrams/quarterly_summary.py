"""定期汇总 (Art 9): each quarter drc sums up the projects from the online platform for the office's scheduling."""
from common import Diagram, Field, day, due_in, file, lanes, money, text


def build() -> Diagram:
    d = Diagram("quarterly_summary", "信息化建设项目定期汇总", lanes("drc", "office"),
                doc="第九条：旗发展和改革委员会通过投资项目在线审批监管平台定期汇总信息化建设项目，并提交领导小组办公室，"
                    "由领导小组办公室负责项目日常调度。")
    d.start("quarter_end", "每季度末", "drc", 0, timer=("timeCycle", "R/2026-03-31T09:00:00+08:00/P3M"),
            doc="第九条：每季度汇总一次（周期在图中设定，管理员可在 Modeler 中修改）。")
    d.rule_task("set_review_periods", "确定办理时限", "drc", 1, decision="review_periods", result="periods",
                inputs={"stage": "project"}, doc="办理时限决策表（review_periods）的 project 行。")
    d.user_task("summarize_projects", "汇总信息化建设项目", "drc", 2, groups="drc", due=due_in("periods.drc_days"),
                doc="第九条：按监管平台的数据汇总本季度信息化建设项目的数量、投资、进展和问题。",
                form=[day("summary_as_of", "数据截止日期"), Field("projects_in_construction", "在建项目数", "long", required=True,
                                                             min="0"),
                      money("investment_total", "批复投资合计（元）"), money("spent_total", "累计支出合计（元）"),
                      text("progress_summary", "进展和存在的问题"), file("summary_report", "汇总表")])
    d.user_task("schedule_projects", "日常调度", "office", 3, groups="office", due=due_in("periods.office_days"),
                doc="第九条：领导小组办公室根据汇总情况进行项目日常调度。",
                form=[text("scheduling_opinion", "调度意见")])
    d.end("summary_done", "汇总完成", "office", 4)
    d.chain("quarter_end", "set_review_periods", "summarize_projects", "schedule_projects", "summary_done")
    return d
