"""The county's pages: sign-in for county users, every centre live, one centre's board, reports
across centres with 红黑榜 and the monthly public notice (CSV/XLSX), and the public wait page.

Everything is served by the county server itself (templates and one CSS file, no internet). Pages
read the per-day figures and live tables the ingest transaction keeps (county/rollup.py, live.py).
"""

from __future__ import annotations

import csv
import hmac
import io
import secrets
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from urllib.parse import urlparse

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for

from . import cases, live, reports, settings, supervision, users

bp = Blueprint("county_web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/county-static")
COOKIE = "hallq_county_sid"
PRE_COOKIE = "hallq_county_pre"  # the sign-in form's CSRF token (double-submit), before any session
LIVE_ROLES = ("director", "supervisor")
REPORT_ROLES = ("director", "supervisor", "auditor")


def _db():
    return current_app.config["DB"]


def _today() -> date:
    """The county's today, in its own zone (county.toml timezone), not the machine's."""
    return settings.today(current_app.config["SETTINGS"], current_app.config["CLOCK"])


def _csrf() -> str:
    return users.csrf_for(request.cookies.get(COOKIE, ""), current_app.config["CSRF_SECRET"])


def _check_csrf(expected: str) -> None:
    presented = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        abort(Response(render_template("county_message.html", message="页面已过期或缺少安全令牌，请刷新页面后重试。"),
                       status=400))


def signed_in(*roles: str) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = users.session_user(_db(), request.cookies.get(COOKIE))
            if user is None:
                return redirect(url_for("county_web.login", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                return render_template("county_message.html", message=f"{user.role_name}无权打开此页面。",
                                       user=user, csrf=_csrf()), 403
            g.user = user
            return view(*args, **kwargs)
        return wrapper
    return decorate


def _page(template: str, **context) -> str:
    return render_template(template, user=g.user, csrf=_csrf(), **context)


def _safe_next(target: str | None) -> str | None:
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return None
    return target


@bp.route("/county/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        _check_csrf(request.cookies.get(PRE_COOKIE, ""))
        user = users.authenticate(_db(), request.form.get("username", "").strip(), request.form.get("password", ""))
        if user is not None:
            sid = users.open_session(_db(), user, request.remote_addr or "")
            users.end_session(_db(), request.cookies.get(COOKIE))
            home = "county_web.centres" if user.role in LIVE_ROLES else "county_web.report"
            resp = redirect(_safe_next(request.form.get("next")) or url_for(home))
            resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict")
            resp.delete_cookie(PRE_COOKIE)
            return resp
        error, status = "用户名或密码不正确", 401
        current_app.logger.warning("county sign-in failed for %r", request.form.get("username", ""))
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    resp = Response(render_template("county_login.html", error=error, csrf=pre, user=None,
                                    next=_safe_next(request.args.get("next") or request.form.get("next")) or ""),
                    status=status)
    resp.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="Strict")
    return resp


@bp.post("/county/logout")
def logout():
    _check_csrf(_csrf() if request.cookies.get(COOKIE) else "")
    users.end_session(_db(), request.cookies.get(COOKIE))
    resp = redirect(url_for("county_web.login"))
    resp.delete_cookie(COOKIE)
    return resp


def _overview() -> list[dict]:
    with _db().connection() as conn:
        return live.overview(conn)


@bp.get("/county/")
@signed_in(*LIVE_ROLES)
def centres():
    halls = _overview()
    today = _today().isoformat()
    totals = {k: sum(h[k] for h in halls) for k in ("waiting", "windows_open", "alerts")}
    # 今日: a centre that has shipped nothing since midnight still holds yesterday's counts.
    totals.update({k: sum(h[k] for h in halls if h["day"] == today) for k in ("issued", "served")})
    return _page("county_centres.html", halls=halls, totals=totals, definitions=reports.DEFINITIONS)


def day_label(day: date, today: date) -> str:
    """今日 for the county's today, else the day the figures are of (e.g. 11月30日)."""
    return "今日" if day == today else f"{day.month}月{day.day}日"


@bp.get("/county/live.json")
@signed_in(*LIVE_ROLES)
def centres_json():
    return {"halls": _overview()}


@bp.get("/county/halls/<code>")
@signed_in(*LIVE_ROLES)
def centre(code: str):
    hall = next((h for h in _overview() if h["code"] == code), None)
    if hall is None:
        return _page("county_message.html", message=f"没有编号为 {code} 的中心。"), 404
    today = date.fromisoformat(hall["day"]) if hall["day"] else _today()
    with _db().connection() as conn:
        staff = [r for r in reports.rows(conn, "staff", today, today) if r["hall_name"] == hall["name"]]
        by_service = conn.execute("SELECT key, max(name), sum(issued), sum(services_done), sum(waits), "
                                  "sum(wait_minutes_total) FROM day_figures WHERE hall = %s AND day = %s AND "
                                  "dim = 'service' GROUP BY key ORDER BY key", [code, today]).fetchall()
    return _page("county_centre.html", hall=hall, by_service=by_service, staff=staff, today=today,
                 day_label=day_label(today, _today()), definitions=reports.DEFINITIONS)


def _period() -> tuple[date, date, str]:
    """from/to (YYYY-MM-DD) or month (YYYY-MM); default: this month so far."""
    try:
        if request.args.get("month"):
            first = date.fromisoformat(request.args["month"] + "-01")
            if not 2000 <= first.year <= 2099:  # before the month's end is reckoned: 9999-12 overflowed (500)
                raise ValueError("year")
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        else:
            today = _today()
            first = date.fromisoformat(request.args.get("from") or today.replace(day=1).isoformat())
            last = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        abort(Response(render_template("county_message.html", message="日期格式应为 YYYY-MM-DD（月份 YYYY-MM）。",
                                       user=g.user, csrf=_csrf()), status=422))
    if last < first or not 2000 <= first.year <= 2099 or not 2000 <= last.year <= 2099:
        abort(Response(render_template("county_message.html", message="统计期间无效。", user=g.user, csrf=_csrf()),
                       status=422))
    return first, last, f"{first.isoformat()} 至 {last.isoformat()}"


def _data() -> dict:
    by = request.args.get("by", "hall")
    if by not in reports.BY:
        by = "hall"
    first, last, label = _period()
    with _db().connection() as conn:
        table = reports.rows(conn, by, first, last)
        centres_table = table if by == "hall" else reports.rows(conn, "hall", first, last)
        staff_table = table if by == "staff" else reports.rows(conn, "staff", first, last)
    red, black = reports.red_black(centres_table)
    staff_red, staff_black = reports.red_black(staff_table)
    return {"by": by, "first": first, "last": last, "label": label, "rows": table, "red": red, "black": black,
            "staff_red": staff_red, "staff_black": staff_black}


@bp.get("/county/reports")
@signed_in(*REPORT_ROLES)
def report():
    return _page("county_reports.html", data=_data(), by_names=reports.BY, columns=reports.COLUMNS,
                 cell=reports.cell, rates=reports.RATES, definitions=reports.DEFINITIONS,
                 query=request.query_string.decode())


def _filename(data: dict, ext: str) -> str:
    return f"county-{data['by']}-{data['first']:%Y%m%d}-{data['last']:%Y%m%d}.{ext}"


@bp.get("/county/reports/export.csv")
@signed_in(*REPORT_ROLES)
def export_csv():
    data = _data()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([label + ("(%)" if key in reports.RATES else "") for key, label in reports.COLUMNS])
    for r in data["rows"]:
        writer.writerow([reports.cell(key, r.get(key)) for key, _ in reports.COLUMNS])
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv; charset=utf-8",  # BOM: Excel reads Chinese
                    headers={"Content-Disposition": f"attachment; filename={_filename(data, 'csv')}"})


@bp.get("/county/reports/export.xlsx")
@signed_in(*REPORT_ROLES)
def export_xlsx():
    from openpyxl import Workbook
    from openpyxl.styles import Font

    data = _data()
    wb = Workbook()
    ws = wb.active
    ws.title = "公示"
    ws.append([f"政务服务评价情况公示 {data['label']} 按{reports.BY[data['by']]}"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([label + ("(%)" if key in reports.RATES else "") for key, label in reports.COLUMNS])
    for r in data["rows"]:
        ws.append([reports.cell(key, r.get(key)) for key, _ in reports.COLUMNS])
    for title, rows in (("红榜", data["red"]), ("黑榜", data["black"])):
        ws.append([])
        ws.append([title])
        for r in rows:
            ws.append([reports.cell(key, r.get(key)) for key, _ in reports.COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={_filename(data, 'xlsx')}"})


@bp.get("/county/supervision")
@signed_in(*LIVE_ROLES)
def supervision_page():
    """电子监察 across centres: the county's own alerts, then every centre's active ones."""
    halls = _overview()
    return _page("county_supervision.html", county_alerts=supervision.county_alerts(halls),
                 alerts=supervision.centre_alerts(halls), offline_minutes=supervision.OFFLINE_MINUTES,
                 red_minutes=supervision.RED_UNACKED_MINUTES)


@bp.get("/county/cases")
@signed_in(*LIVE_ROLES)
def case_list():
    """Every centre's 差评 cases: those the county keeps, to step; those the halls keep, to watch."""
    rows = cases.listing(_db())
    if request.args.get("state") != "all":
        rows = [r for r in rows if r["state"] != "closed"]
    return _page("county_cases.html", cases=rows, show_all=request.args.get("state") == "all")


@bp.route("/county/cases/<hall>/<int:case_id>", methods=["GET", "POST"])
@signed_in(*LIVE_ROLES)
def case_page(hall: str, case_id: int):
    """One case: its steps at the county, and (for a county supervisor) the form for the next."""
    from server.errors import HallqError
    from server.web.access import chinese

    error = None
    if request.method == "POST":
        _check_csrf(_csrf())
        if g.user.role != "supervisor":
            return _page("county_message.html", message="只有县级督办人员可以处置差评件。"), 403
        action = request.form.get("action", "")
        callback = action == "call-back"
        try:
            cases.act(_db(), hall, case_id, action, g.user.username, request.form.get("note"),
                      contact=(request.form.get("contact") or None) if callback else None,
                      answer=(request.form.get("answer") or None) if callback else None)
            return redirect(url_for("county_web.case_page", hall=hall, case_id=case_id))
        except HallqError as exc:
            error = {"hall_owned": "该差评件由中心自行办理，县级只作督办查看。"}.get(exc.code, chinese(exc))
    found = cases.listing(_db(), hall, case_id)
    if not found:
        return _page("county_message.html", message=f"中心 {hall} 没有第 {case_id} 号差评件。"), 404
    return _page("county_case.html", case=found[0], steps=cases.steps(_db(), hall, case_id, current_app.config["SETTINGS"].tz), error=error,
                 actions={a: cases.CASE_ACTIONS[a][2] for a in found[0]["actions"]}, contacts=cases.CONTACTS,
                 answers=cases.ANSWERS, may_act=g.user.role == "supervisor"), (422 if error else 200)


@bp.get("/wait")
def public_wait():
    """No sign-in: each centre's queue per matter now, as fresh as its last shipment (said on the page)."""
    halls = _overview()
    return render_template("county_wait.html", halls=halls, user=None)
