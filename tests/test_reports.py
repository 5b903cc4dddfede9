"""Report figures on a small data set whose answers are worked out by hand, and the exports."""

import csv
import io
from datetime import date

import pytest
from webhall import make_app, sign_in

from server import reports
from server.store import Changes

DAY = "2026-11-23"


def at(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00+08:00"


def record(id_, ticket, window, staff, service, dept, arrived, called, started, ended, end, grade=None):
    return {"id": id_, "ticket_id": ticket, "ticket_code": ticket.upper(), "day": DAY, "window": window,
            "staff": staff, "service": service, "department": dept, "priority": "normal",
            "arrived_at": at(arrived), "called_at": at(called), "started_at": at(started) if started else None,
            "ended_at": at(ended), "end": end, "outcome": "done" if end == "finished" else None, "recalls": 0,
            "rating_state": "rated" if grade else "none", "prompted_at": None, "grade": grade}


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "hall.db")
    ch = Changes()
    rows = [
        record(1, "t1", 1, "1001", "S101", "人社", "09:00", "09:10", "09:11", "09:21", "finished", 5),
        record(2, "t2", 1, "1001", "S101", "人社", "09:00", "09:20", None, "09:22", "no_show"),
        record(3, "t3", 2, "1002", "S102", "医保", "09:05", "09:35", "09:35", "09:40", "transferred"),
        record(4, "t3", 3, "1003", "S201", "市场监管", "09:05", "09:50", "09:50", "10:10", "finished", 2),
        record(5, "t4", 2, "1002", "S102", "医保", "09:10", "09:50", None, "09:56", "finished", 4),
    ]
    for r in rows:
        ch.put("records", r)
        if r["grade"]:
            ch.put("ratings", {"record_id": r["id"], "ticket_id": r["ticket_id"], "ticket_code": r["ticket_code"],
                               "service": r["service"], "department": r["department"], "window": r["window"],
                               "staff": r["staff"], "served_at": r["ended_at"], "rated_at": r["ended_at"],
                               "channel": "evaluator", "grade": r["grade"]})
    for i in range(1, 6):
        ch.put("tickets", {"id": f"t{i}", "code": f"A00{i}", "prefix": "A", "number": i, "day": DAY,
                           "matter": "S101", "service": "S101", "priority": "normal", "state": "finished",
                           "issued_at": at("09:00"), "arrived_at": at("09:00"), "queued_at": at("09:00")})
    for i, (window, staff, level) in enumerate([(1, "1001", "red"), (2, "1002", "warning")], start=1):
        ch.put("alerts", {"id": i, "key": f"idle:{window}", "kind": "idle", "source": str(window), "level": level,
                          "message": "", "window": window, "staff": staff, "service": None, "department": None,
                          "raised_at": at("10:00"), "updated_at": at("10:00"), "active": 0})
    app.config["ENGINE"].store.commit(ch)
    return app


def period():
    return reports.period_for("day", date(2026, 11, 23))


def by(app, dim):
    return {r["key"]: r for r in reports.report(app.config["ENGINE"].store, app.config["HALL"], period(), dim)}


def test_by_window(app):
    rows = by(app, "window")
    w1, w2, w3 = rows["1"], rows["2"], rows["3"]
    assert (w1["tickets"], w1["served"], w1["no_shows"], w1["transfers"]) == (2, 1, 1, 0)
    assert (w1["mean_wait"], w1["p90_wait"], w1["mean_service"]) == (15.0, 20.0, 10.0)
    assert (w1["ratings"], w1["good_rate"], w1["mean_score"], w1["bad"]) == (1, 1.0, 10.0, 0)
    assert (w1["alerts"], w1["red_alerts"]) == (1, 1)
    assert (w2["tickets"], w2["served"], w2["transfers"], w2["mean_wait"], w2["p90_wait"]) == (2, 1, 1, 35.0, 40.0)
    assert w2["mean_service"] == 6.0  # a service never started counts from its call
    assert w3["mean_wait"] is None  # a transferred ticket's wait belongs to its first window
    assert (w3["tickets"], w3["calls"], w3["served"]) == (0, 1, 1)  # and so does the ticket
    assert (w3["good_rate"], w3["mean_score"], w3["bad"]) == (0.0, 3.0, 1)
    assert w1["name"] == "1号 综合窗口1"


def test_totals(app):
    t = reports.totals(app.config["ENGINE"].store, period())
    assert (t["issued"], t["tickets"], t["served"], t["no_shows"], t["transfers"]) == (5, 4, 3, 1, 1)
    assert (t["mean_wait"], t["p90_wait"], t["mean_service"]) == (25.0, 40.0, 12.0)
    assert (t["ratings"], t["good_rate"], t["mean_score"], t["bad"]) == (3, 0.6667, 7.0, 1)
    assert (t["alerts"], t["red_alerts"]) == (2, 1)


def test_by_department_staff_service_and_day(app):
    dept = by(app, "department")
    assert dept["医保"]["served"] == 1 and dept["医保"]["transfers"] == 1 and dept["人社"]["no_shows"] == 1
    staff = by(app, "staff")
    assert staff["1003"]["name"] == "王芳（1003）" and staff["1003"]["bad"] == 1
    assert by(app, "service")["S102"]["mean_wait"] == 35.0
    day = by(app, "day")[DAY]
    assert day["tickets"] == 5 and day["served"] == 3  # issued tickets for a day
    assert reports.report(app.config["ENGINE"].store, app.config["HALL"],
                          reports.period_for("day", date(2026, 11, 24)), "window") == []


def test_honour_board(app):
    rows = reports.report(app.config["ENGINE"].store, app.config["HALL"], period(), "window")
    top, bottom = reports.honour_board(rows, days=1, min_served=1, size=1)
    # w1: 40×1.0 + 30×1 + 30×max(0, 1 − 3/2) = 70; w2: 32 + 30 + 15 = 77; w3: 12 + 30 + 30 = 72
    assert [(r["key"], r["score"]) for r in top] == [("2", 77.0)]
    assert [(r["key"], r["score"]) for r in bottom] == [("1", 70.0)]
    assert reports.honour_board(rows, days=1) == ([], [])  # nobody has the 20 services needed to be ranked


def test_periods():
    assert reports.period_for("week", date(2026, 11, 26)).start == date(2026, 11, 23)
    month = reports.period_for("month", date(2026, 2, 10))
    assert (month.start, month.end) == (date(2026, 2, 1), date(2026, 3, 1))
    assert reports.period_for("year", date(2026, 5, 5)).end == date(2027, 1, 1)


def test_exports_and_pages(app):
    client = app.test_client()
    sign_in(client, "sup")
    r = client.get(f"/reports/export.csv?period=day&date={DAY}&by=window")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert lines[0][:9] == ["编码", "名称", "接待", "办结", "过号", "转出", "挂起", "在办", "首叫人数"]
    assert lines[1][:9] == ["1", "1号 综合窗口1", "2", "1", "1", "0", "0", "0", "2"]
    r = client.get(f"/reports/export.xlsx?period=day&date={DAY}&by=window")
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws["A2"].value == "编码" and ws["B3"].value == "1号 综合窗口1" and ws["N3"].value == 100
    page = client.get(f"/reports?period=week&date={DAY}&by=window").get_data(as_text=True)
    assert "<svg" in page and "好评率" in page and "红榜" in page
    r = client.get(f"/api/v1/reports?period=day&date={DAY}&by=staff")
    assert r.status_code == 200 and r.json["totals"]["served"] == 3 and "honour" in r.json
    assert client.get("/api/v1/reports?by=colour").status_code == 422


def test_clerks_see_no_reports(app):
    client = app.test_client()
    sign_in(client, "clerk1")
    assert client.get("/reports").status_code == 403
    assert client.get("/api/v1/reports").status_code == 403


def test_facts_follow_services_as_they_end(tmp_path):
    from webhall import MONDAY_9AM

    from server.clock import ManualClock

    clock = ManualClock(MONDAY_9AM)
    app = make_app(tmp_path / "live.db", clock=clock)
    engine, store, config = app.config["ENGINE"], app.config["ENGINE"].store, app.config["HALL"]
    engine.login(1, "1001")
    engine.login(2, "1002")
    a, b = engine.issue("S101"), engine.issue("S101")
    clock.advance(minutes=4)
    engine.call(1, a.code)
    clock.advance(minutes=2)
    engine.call(2, b.code)
    clock.advance(minutes=10)
    engine.finish(2)  # the later call ends first
    rows = {r["key"]: r for r in reports.report(store, config, period(), "window")}
    assert (rows["1"]["received"], rows["1"]["open"], rows["1"]["served"]) == (1, 1, 0)  # still at window 1
    assert rows["1"]["mean_wait"] is None  # figures of ended services only
    assert rows["2"]["served"] == 1 and rows["2"]["mean_wait"] == 6.0
    engine.finish(1)
    rows = {r["key"]: r for r in reports.report(store, config, period(), "window")}
    assert rows["1"]["served"] == 1 and rows["1"]["mean_wait"] == 4.0 and rows["1"]["mean_service"] == 12.0
    assert reports.refresh_facts(store) == 0  # nothing new
