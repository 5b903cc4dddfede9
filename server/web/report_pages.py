"""The reports page (tables, SVG charts, 红黑榜) and its CSV / XLSX exports."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, render_template, request

from .. import charts, hour_report, rating_record, reports
from ..api.reports import report_args
from .access import login_required

bp = Blueprint("report_pages", __name__)


def _data(trend_by: str | None = None) -> dict:
    """The report rows (and, with `trend_by`, the same period by day or month, read side by side)."""
    period, by = report_args()
    store, config = current_app.config["ENGINE"].store, current_app.config["HALL"]
    reports.refresh_facts(store)
    jobs = [lambda s: reports.report(s, config, period, by)]
    if trend_by:
        jobs.append(lambda s: reports.report(s, config, period, trend_by))
    rows, *trend = reports.side_by_side(store, jobs)
    appointments = reports.appointment_figures(store, period, current_app.config["ENGINE"].now(),
                                               config.appointments.checkin_after_minutes)
    return {"period": period, "by": by, "rows": rows, "totals": reports.totals(store, period, rows),
            "appointments": appointments, "trend": reports.fill(period, trend_by, trend[0]) if trend else []}


@bp.get("/reports")
@login_required("supervisor", "admin")
def show():
    period, _ = report_args()
    trend_by = None if period.kind == "day" else ("month" if period.kind == "year" else "day")
    data = _data(trend_by)
    period, by, rows, trend = data["period"], data["by"], data["rows"], data.pop("trend")
    store, config = current_app.config["ENGINE"].store, current_app.config["HALL"]
    labels = [r["key"][5:] if trend_by == "day" else r["key"] for r in trend]
    wait_limit = config.rules.alerts["wait_minutes"].warning if "wait_minutes" in config.rules.alerts else 15
    svg = []
    if trend:
        svg.append(charts.bar_chart("每日接待人次" if trend_by == "day" else "每月接待人次", labels,
                                    [r["tickets"] for r in trend]))
        svg.append(charts.bar_chart("平均等候（分钟）", labels, [r["mean_wait"] for r in trend], color="#d98c1f",
                                    limit=wait_limit))
    ranked = [r for r in rows if r["ratings"]]
    if by in ("window", "staff", "service", "department") and ranked:
        svg.append(charts.hbar_chart(f"好评率（按{reports.DIMENSIONS[by]}）", [r["name"] for r in ranked],
                                     [r["good_rate"] for r in ranked], unit="%",
                                     low=min(0.9, min(r["good_rate"] for r in ranked))))
    served = [r for r in rows if r["served"]]
    if by in ("window", "staff", "service", "department") and served:
        svg.append(charts.hbar_chart(f"办结量（按{reports.DIMENSIONS[by]}）", [r["name"] for r in served],
                                     [r["served"] for r in served], color="#2f6fb0"))
    days = reports.working_days(store, period)
    honour = reports.honour_board(rows, days) if by in ("window", "staff") else None
    hours, hour_svg = _hours(store, config, period)
    columns = reports.columns_for(by)
    group = by if by in rating_record.GROUPS else "hall"
    rated = rating_record.indicators(store, period.start.isoformat(), period.end.isoformat(), group)
    names = {r["key"]: r["name"] for r in rows}
    indicator_rows = [{**r, "name": names.get(r["key"], "全厅" if group == "hall" else r["key"])}
                      for r in sorted(rated.values(), key=lambda r: r["key"])]
    return render_template("reports.html", **data, charts=svg, honour=honour, columns=columns,
                           indicator_rows=indicator_rows, indicator_group=rating_record.GROUPS[group],
                           indicators=rating_record.INDICATORS, indicator_legend=rating_record.INDICATOR_LEGEND,
                           honour_min=reports.honour_min_served(days), hours=hours, hour_charts=hour_svg,
                           legend=[(label, reports.LEGEND[key]) for key, label in columns if key in reports.LEGEND],
                           target=config.rules.service_level_minutes,
                           periods=reports.PERIODS, dimensions=reports.DIMENSIONS,
                           anchor=request.args.get("date") or current_app.config["ENGINE"].now().date().isoformat())


def _hours(store, config, period) -> tuple[list[dict], list[str]]:
    """The hour-of-day rows and their charts (periods of a month or less; a year is too long a read)."""
    if (period.end - period.start).days > hour_report.MAX_DAYS:
        return [], []
    engine = current_app.config["ENGINE"]
    hours = hour_report.hourly(store, config, period, engine.now())
    if not any(h["arrivals"] or h["open_windows"] for h in hours):
        return hours, []
    labels = [h["label"] for h in hours]
    per_day = "" if period.kind == "day" else "（日均）"
    target = config.rules.service_level_minutes
    return hours, [
        charts.bar_chart(f"各时段到达人数{per_day}", labels, [h["arrivals"] for h in hours]),
        charts.bar_chart("各时段平均等候（分钟，按到达时段）", labels, [h["mean_wait"] for h in hours], color="#d98c1f",
                         limit=target),
        charts.bar_chart(f"各时段开放窗口数{per_day}", labels, [h["open_windows"] for h in hours], color="#2f8f5b"),
        charts.bar_chart(f"各时段服务水平（{target}分钟内叫号的比例）", labels, [h["service_level"] for h in hours],
                         unit="%", color="#6b4fa3", top=1.0),
    ]


def _cell(key: str, value):
    if key == "good_rate" and value is not None:
        return round(value * 100, 2)
    return "" if value is None else value


def _filename(data: dict, ext: str) -> str:
    p = data["period"]
    return f"hallq-{p.kind}-{p.start.isoformat()}-by-{data['by']}.{ext}"


@bp.get("/reports/export.csv")
@login_required("supervisor", "admin")
def export_csv():
    data = _data()
    buf = io.StringIO()
    writer = csv.writer(buf)
    columns = reports.columns_for(data["by"])
    writer.writerow([label + ("(%)" if key == "good_rate" else "") for key, label in columns])
    for r in data["rows"]:
        writer.writerow([_cell(key, r.get(key)) for key, _ in columns])
    # UTF-8 with BOM: Excel on office PCs opens it as Chinese text instead of mojibake.
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={_filename(data, 'csv')}"})


@bp.get("/reports/export.xlsx")
@login_required("supervisor", "admin")
def export_xlsx():
    from openpyxl import Workbook
    from openpyxl.styles import Font

    data = _data()
    wb = Workbook()
    ws = wb.active
    ws.title = "报表"
    hall = current_app.config["HALL"]
    ws.append([f"{hall.name} {data['period'].label} 按{reports.DIMENSIONS[data['by']]}统计"])
    ws["A1"].font = Font(bold=True, size=13)
    columns = reports.columns_for(data["by"])
    ws.append([label + ("(%)" if key == "good_rate" else "") for key, label in columns])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for r in data["rows"]:
        ws.append([_cell(key, r.get(key)) for key, _ in columns])
    for i, (key, _) in enumerate(columns):
        ws.column_dimensions[chr(ord("A") + i)].width = 26 if key == "name" else 12
    ws.freeze_panes = "A3"
    out = io.BytesIO()
    wb.save(out)
    return Response(out.getvalue(), headers={"Content-Disposition": f"attachment; filename={_filename(data, 'xlsx')}"},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
