"""Report figures that must add up, from a real engine's day: every service ends one way, so
接待 = 办结 + 过号 + 转出 + 挂起 + 在办 per window and per day; comprehensive windows' work shows for
their own department; the hour-of-day view (arrivals, waits, service level, open windows)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hallfactory import small_hall
from webhall import MONDAY_9AM

from server import hour_report, reports
from server.app import create_app
from server.clock import ManualClock

DEPARTMENTS = {1: "综合受理", 2: "综合受理", 3: "市场监管", 4: "不动产", 5: "督查"}


def hall(tmp_path, **rules):
    config = small_hall(**rules)
    config = replace(config, windows={n: replace(w, department=DEPARTMENTS[n]) for n, w in config.windows.items()})
    clock = ManualClock(MONDAY_9AM)
    app = create_app(config, tmp_path / "hall.db", clock=clock, supervise=False)
    return app.config["ENGINE"], config, clock


def day():
    return reports.period_for("day", date(2026, 11, 23))


def adds_up(r: dict) -> bool:
    return r["received"] == r["served"] + r["no_shows"] + r["transfers"] + r["parked"] + r["open"]


def test_counts_add_up_per_window_and_day_and_desks_count_for_their_department(tmp_path):
    engine, config, clock = hall(tmp_path, recall_limit=0)
    for n, staff in ((1, "1001"), (2, "1002"), (3, "1003")):
        engine.login(n, staff)
    a, b, c, d, e = (engine.issue(s) for s in ("S101", "S101", "S102", "S101", "S101"))
    bundle = engine.issue("B01")  # 开办企业一件事: S201 then S202, both at window 3
    clock.advance(minutes=3)
    engine.call(1, a.code)
    engine.finish(1)  # 办结
    engine.call(1, b.code)
    engine.recall(1)  # past the recall limit (0): 过号
    engine.call(1, c.code)
    engine.transfer(1, to_window=2)  # 转出 at 1, one more 接待 at 2
    engine.call(2, c.code)
    engine.finish(2)
    engine.call(2, d.code)
    engine.park(2)  # 挂起, then called back: a second 接待 at 2
    engine.call_back(2)
    engine.finish(2)
    engine.call(3, bundle.code)
    engine.finish(3)  # step 1 done: the ticket moves on to S202 keeping its place
    engine.call(3, bundle.code)
    engine.finish(3)
    engine.call(1, e.code)  # still at the window: 在办
    store = engine.store
    by_window = {r["key"]: r for r in reports.report(store, config, day(), "window")}
    for key, r in by_window.items():
        assert adds_up(r), (key, r)
    w1, w2, w3 = by_window["1"], by_window["2"], by_window["3"]
    assert (w1["received"], w1["served"], w1["no_shows"], w1["transfers"], w1["open"]) == (4, 1, 1, 1, 1)
    assert (w2["received"], w2["served"], w2["parked"]) == (3, 2, 1)
    assert (w3["received"], w3["served"]) == (2, 2)  # two steps of one 一件事, two services
    (today,) = reports.report(store, config, day(), "day")
    assert adds_up(today) and today["received"] == 9
    assert adds_up(reports.totals(store, day(), list(reports.figures(store, day(), "window").values())))

    by_dept = {r["key"]: r for r in reports.report(store, config, day(), "department")}
    assert (by_dept["综合受理"]["desk_received"], by_dept["综合受理"]["desk_served"]) == (7, 3)
    assert by_dept["人社"]["received"] == 5 and by_dept["人社"]["desk_received"] == 0  # S101 is 人社's matter
    assert by_dept["市场监管"]["desk_received"] == 2


def test_hour_of_day_arrivals_waits_service_level_and_open_windows(tmp_path):
    engine, config, clock = hall(tmp_path)
    engine.login(1, "1001")  # 09:00
    a, b = engine.issue("S101"), engine.issue("S101")
    clock.advance(minutes=5)
    engine.call(1, a.code)  # waited 5
    clock.advance(minutes=15)
    engine.finish(1)
    clock.advance(minutes=5)
    engine.call(1, b.code)  # 09:25, waited 25: past the 15-minute target
    clock.advance(minutes=15)
    engine.finish(1)
    clock.advance(minutes=20)
    engine.pause(1, "break")  # 10:00 - 10:30
    clock.advance(minutes=30)
    engine.resume(1)
    clock.advance(minutes=10)
    late = engine.issue("S101")  # 10:40
    clock.advance(minutes=5)
    engine.call(1, late.code)
    engine.finish(1)
    clock.advance(minutes=15)
    engine.logout(1)  # 11:00
    engine.issue("S102")  # 11:00, never called: not served in time once 15 minutes pass
    clock.advance(minutes=20)
    hours = {h["hour"]: h for h in hour_report.hourly(engine.store, config, day(), engine.now())}
    assert list(hours) == list(range(8, 18))  # opening hours 08:30-17:30
    nine, ten, eleven = hours[9], hours[10], hours[11]
    assert (nine["arrivals"], nine["mean_wait"], nine["service_level"], nine["open_windows"]) == (2, 15.0, 0.5, 1.0)
    assert (ten["arrivals"], ten["mean_wait"], ten["service_level"], ten["open_windows"]) == (1, 5.0, 1.0, 0.5)
    assert (eleven["arrivals"], eleven["service_level"], eleven["open_windows"]) == (1, 0.0, 0.0)
    assert hours[8]["open_windows"] == 0 and hours[8]["service_level"] is None
    config60 = replace(config, rules=replace(config.rules, service_level_minutes=30))
    assert hour_report.hourly(engine.store, config60, day(), engine.now())[1]["service_level"] == 1.0
