"""Reports as JSON: figures per window, staff, service, department, day or month for a period."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, jsonify, request

from .. import hour_report, reports
from ..auth import require
from ..errors import Invalid
from . import schemas
from .inputs import calendar_date
from .spec import query, spec

bp = Blueprint("reports", __name__)
PERIOD_PARAMS = (query("period", enum=list(reports.PERIODS)), query("date"))  # what report_args reads


def report_args() -> tuple[reports.Period, str]:
    """?period=day|week|month|year&date=YYYY-MM-DD&by=window|staff|service|department|day|month."""
    engine = current_app.config["ENGINE"]
    engine.turn_day()  # yesterday's services cut off at midnight count as such, before any action today
    kind = request.args.get("period", "day")
    by = request.args.get("by", "window")
    if kind not in reports.PERIODS:
        raise Invalid(f"period must be one of {', '.join(reports.PERIODS)}", field="period")
    if by not in reports.DIMENSIONS:
        raise Invalid(f"by must be one of {', '.join(reports.DIMENSIONS)}", field="by")
    raw = request.args.get("date")
    try:
        anchor = date.fromisoformat(raw) if raw else engine.now().date()
    except ValueError as exc:
        raise Invalid("date must be YYYY-MM-DD", field="date") from exc
    calendar_date(anchor, "date")  # a period near year 9999 would end past date.max
    return reports.period_for(kind, anchor), by


@bp.get("/reports")
@spec("Figures per period and grouping, with 好评率 and 红黑榜", answer=schemas.Report, says="the report",
      errors=(401, 403, 422), params=(*PERIOD_PARAMS, query("by", enum=list(reports.DIMENSIONS))))
@require("admin", "supervisor")
def show():
    period, by = report_args()
    store, config = current_app.config["ENGINE"].store, current_app.config["HALL"]
    rows = reports.report(store, config, period, by)
    body = {"period": {"kind": period.kind, "start": period.start.isoformat(), "end": period.end.isoformat(),
                       "label": period.label},
            "by": by, "totals": reports.public(reports.totals(store, period, rows)),
            "rows": [reports.public(r) for r in rows]}
    body["appointments"] = reports.appointment_figures(store, period, current_app.config["ENGINE"].now(),
                                                       config.appointments.checkin_after_minutes)
    if (period.end - period.start).days <= hour_report.MAX_DAYS:
        body["hours"] = hour_report.hourly(store, config, period, current_app.config["ENGINE"].now())
    if by in ("window", "staff"):
        top, bottom = reports.honour_board(rows, reports.working_days(store, period))
        body["honour"] = {"red": [reports.public(r) for r in top], "black": [reports.public(r) for r in bottom]}
    return jsonify(body)
