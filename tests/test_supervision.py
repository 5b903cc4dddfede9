"""电子监察: findings on a manual clock, alert raise / escalate / clear / acknowledge, device alerts."""

from datetime import datetime, timedelta

import pytest
from webhall import MONDAY_9AM, TZ, make_app, serve_one

from server.clock import ManualClock
from server.errors import Conflict, Invalid
from server.supervision import (
    CHECKER_KINDS,
    Finding,
    check_once,
    evaluate,
    level_for,
    opening_start,
    snapshot,
)


@pytest.fixture
def clock():
    return ManualClock(MONDAY_9AM)


@pytest.fixture
def app(tmp_path, clock):
    return make_app(tmp_path / "hall.db", clock=clock)


def findings(app) -> dict[str, Finding]:
    engine = app.config["ENGINE"]
    snap = snapshot(engine, engine.store, app.config["ALERTS"].started_at)
    return {f.key: f for f in evaluate(engine.config, snap, engine.now())}


def check(app):
    return check_once(app.config["ENGINE"], app.config["ALERTS"])


def active(app) -> dict[str, dict]:
    return {a["key"]: a for a in app.config["ALERTS"].active()}


def staff_all(engine):
    for n, s in zip(range(1, 6), ["1001", "1002", "1003", "1004", "1005"], strict=True):
        engine.login(n, s)


def test_levels():
    from hallq.model import AlertLevels

    levels = AlertLevels(15, 30, 45)
    assert [level_for(m, levels) for m in (14.9, 15, 29, 30, 45, 90)] == [None, "warning", "warning", "yellow", "red", "red"]
    days = AlertLevels(3, 1, 0)
    assert [level_for(d, days, lower_is_worse=True) for d in (4, 3, 2, 1, 0, -2)] == [
        None, "warning", "warning", "yellow", "red", "red"]


def test_wait_alert_rises_through_the_levels_and_clears_when_called(app, clock):
    engine = app.config["ENGINE"]
    staff_all(engine)
    engine.pause(4, "meeting")
    t = engine.issue("S301")  # only window 4 (paused) serves S301
    clock.advance(minutes=14)
    assert "wait:S301" not in findings(app)
    clock.advance(minutes=2)
    assert findings(app)["wait:S301"].level == "warning"
    check(app)
    assert active(app)["wait:S301"]["level"] == "warning"
    clock.advance(minutes=15)
    check(app)
    assert active(app)["wait:S301"]["level"] == "yellow"
    engine.resume(4)
    engine.call(4, t.code)
    check(app)
    assert "wait:S301" not in active(app)
    types = [e["type"] for e in engine.store.events_after(0) if e["type"].startswith("alert.")]
    assert types.count("alert.raised") >= 2 and "alert.cleared" in types


def test_unstaffed_window_in_opening_hours_only(app, clock):
    clock.advance(minutes=30)  # 09:30, opened 08:30, server up since 09:00 (+10 min grace), nobody signed in
    found = findings(app)
    assert found["unstaffed:1"].level == "red" and found["unstaffed:1"].kind == "unstaffed"
    assert found["unstaffed:1"].message == "1号窗口营业时间无人在岗 20 分钟"
    clock.set(datetime(2026, 11, 23, 12, 30, tzinfo=TZ))  # lunch break; no lunch windows in this hall
    assert not [k for k in findings(app) if k.startswith("unstaffed")]
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=TZ))  # Saturday: closed
    assert not [k for k in findings(app) if k.startswith("unstaffed")]


def test_idle_window_while_people_wait(app, clock):
    engine = app.config["ENGINE"]
    staff_all(engine)
    engine.issue("S101")
    clock.advance(minutes=6)
    found = findings(app)
    assert found["idle:1"].level == "yellow"  # [3, 5, 10]
    assert found["idle:2"].level == "yellow"
    assert "idle:4" not in found  # window 4 cannot serve S101


def test_paused_window_while_people_wait(app, clock):
    engine = app.config["ENGINE"]
    staff_all(engine)
    engine.pause(4, "break")
    engine.issue("S301")
    clock.advance(minutes=31)
    assert findings(app)["paused:4"].level == "yellow"  # [15, 30, 60]


def test_service_and_called_too_long(app, clock):
    engine = app.config["ENGINE"]
    staff_all(engine)
    a, b = engine.issue("S101"), engine.issue("S202")
    engine.call(1, a.code)
    engine.start(1)
    engine.call(3, b.code)
    clock.advance(minutes=21)
    found = findings(app)
    assert found["service:1"].level == "warning" and found["service:1"].staff == "1001"
    assert found["called:3"].level == "red"  # [3, 5, 10]


def test_committed_case_deadline(app, clock):
    engine = app.config["ENGINE"]
    engine.login(4, "1004")
    t = engine.issue("S301")  # 承诺件, 5 working days
    engine.call(4, t.code)
    engine.finish(4, "accepted")
    [row] = app.config["COMMITMENTS"].open_ones()
    assert row["deadline"] == "2026-11-30"  # Mon 23 + 5 working days
    assert "deadline:" + str(row["record_id"]) not in findings(app)
    clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=TZ))  # Thursday: 2 working days left, not near yet
    assert f"deadline:{row['record_id']}" not in findings(app)
    clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=TZ))  # Friday: 1 working day left -> warning
    assert findings(app)[f"deadline:{row['record_id']}"].level == "warning"
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=TZ))  # due today -> red
    assert findings(app)[f"deadline:{row['record_id']}"].level == "red"
    app.config["COMMITMENTS"].done(row["record_id"], "sup")
    assert f"deadline:{row['record_id']}" not in findings(app)
    with pytest.raises(Conflict):
        app.config["COMMITMENTS"].done(row["record_id"], "sup")


def test_overdue_case_callback_raises_a_red_alert(app, clock):
    engine = app.config["ENGINE"]
    serve_one(engine)
    engine.rate(2, "evaluator", window=1)
    assert not [k for k in findings(app) if k.startswith("case:")]
    clock.set(datetime(2026, 11, 25, 0, 1, tzinfo=TZ))  # the call-back was due by the end of Tuesday
    found = findings(app)
    assert found["case:1:callback"].level == "red" and found["case:1:callback"].kind == "case_callback"
    app.config["CASES"].act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    assert "case:1:callback" not in findings(app)


def test_acknowledge_needs_a_note_and_escalation_needs_a_new_one(app, clock):
    engine = app.config["ENGINE"]
    board = app.config["ALERTS"]
    staff_all(engine)
    engine.pause(4, "meeting")
    engine.issue("S301")
    clock.advance(minutes=16)
    check(app)
    alert = active(app)["wait:S301"]
    with pytest.raises(Invalid):
        board.ack(alert["id"], "sup", "")
    acked = board.ack(alert["id"], "sup", "已安排4号窗口恢复")
    assert acked["acked_by"] == "sup" and acked["ack_note"] == "已安排4号窗口恢复"
    with pytest.raises(Conflict):
        board.ack(alert["id"], "sup", "再次确认")
    clock.advance(minutes=15)
    check(app)
    again = active(app)["wait:S301"]
    assert again["id"] == alert["id"] and again["level"] == "yellow" and again["acked_at"] is None
    engine.resume(4)
    engine.call_next(4)
    check(app)
    with pytest.raises(Conflict):
        board.ack(alert["id"], "sup", "已解除的告警")


def test_sync_is_quiet_when_nothing_changes(app, clock):
    check(app)
    before = app.config["ENGINE"].store.last_event_id()
    check(app)
    assert app.config["ENGINE"].store.last_event_id() == before


def test_device_alerts_through_the_api(app):
    client = app.test_client()
    caller = {"Authorization": "Bearer t-caller"}
    body = {"kind": "device_offline", "source": "strip:3", "level": "red", "message": "3号窗口条屏离线",
            "active": True, "window": 3}
    r = client.post("/api/v1/alerts", json=body, headers=caller)
    assert r.status_code == 201 and r.json["alert"]["level"] == "red" and r.json["alert"]["active"]
    assert client.post("/api/v1/alerts", json=body, headers=caller).json["result"] == "nothing_to_do"
    r = client.post("/api/v1/alerts", json={**body, "kind": "printer_paper_low", "source": "K1", "level": "yellow"},
                    headers={"Authorization": "Bearer t-kiosk"})
    assert r.status_code == 201
    listed = client.get("/api/v1/alerts", headers={"Authorization": "Bearer t-display"}).json["alerts"]
    assert {a["kind"] for a in listed} == {"device_offline", "printer_paper_low"}
    check(app)  # the checker leaves device alerts alone
    assert "device_offline:strip:3" in active(app)
    r = client.post("/api/v1/alerts", json={**body, "active": False}, headers=caller)
    assert r.status_code == 200 and r.json["alert"]["active"] is False
    assert "device_offline:strip:3" not in active(app)
    assert client.post("/api/v1/alerts", json={**body, "kind": "coffee"}, headers=caller).status_code == 422
    assert client.post("/api/v1/alerts", json=body).status_code == 401
    assert client.post("/api/v1/alerts", json=body, headers={"Authorization": "Bearer t-w3"}).status_code == 403


def test_ack_through_the_api_needs_a_supervisor(app):
    client = app.test_client()
    client.post("/api/v1/alerts", json={"kind": "device_offline", "source": "kp:1", "active": True},
                headers={"Authorization": "Bearer t-caller"})
    alert_id = app.config["ALERTS"].active()[0]["id"]
    r = client.post(f"/api/v1/alerts/{alert_id}/ack", json={"note": "已报修"}, headers={"Authorization": "Bearer t-caller"})
    assert r.status_code == 403
    r = client.post(f"/api/v1/alerts/{alert_id}/ack", json={"note": "已报修"}, headers={"Authorization": "Bearer t-sup"})
    assert r.status_code == 200 and r.json["acked_by"] == "sup" and r.json["ack_note"] == "已报修"


def test_every_checker_kind_has_a_chinese_name():
    assert all(name and not name.isascii() for name in CHECKER_KINDS.values())


def test_checker_thread_runs_on_the_engine_clock(tmp_path):
    from hallfactory import small_hall

    from server.app import create_app, stop_app

    clock = ManualClock(MONDAY_9AM)
    app = create_app(small_hall(), tmp_path / "hall.db", clock=clock, supervision_seconds=0.05)
    clock.advance(minutes=15)  # past the grace after the start
    try:
        deadline = datetime.now() + timedelta(seconds=5)
        while not app.config["ALERTS"].active() and datetime.now() < deadline:
            import time

            time.sleep(0.05)
        assert "unstaffed:1" in {a["key"] for a in app.config["ALERTS"].active()}
    finally:
        stop_app(app)


def test_at_a_keypad_window_called_time_is_service_time(tmp_path, clock):
    from dataclasses import replace

    from hallfactory import small_hall

    from hallq.model import DeviceRef
    from server.app import create_app

    hall = small_hall()
    windows = {**hall.windows, 3: replace(hall.windows[3], keypad=DeviceRef("callers", 3))}
    app = create_app(replace(hall, windows=windows), tmp_path / "k.db", clock=clock, supervise=False)
    engine = app.config["ENGINE"]
    engine.login(3, "1003")
    engine.call(3, engine.issue("S202").code)  # the keypad has no "arrived" key: stays called
    clock.advance(minutes=21)
    found = findings(app)
    assert "called:3" not in found
    assert found["service:3"].level == "warning"  # service_minutes [20, 30, 45]


def raised(app, key: str) -> list[dict]:
    return [e for e in app.config["ENGINE"].store.events_after(0)
            if e["type"] == "alert.raised" and app.config["ALERTS"].get(e["data"]["alert"])["key"] == key]


def test_unstaffed_counts_from_the_server_start_plus_grace_not_from_opening(tmp_path):
    """A server started at 16:06 knows nothing of 14:30–16:06 (no clerk could sign in): no
    "无人在岗 96 分钟"; windows get rules.unstaffed_grace_minutes (10) to sign in, then it counts."""
    clock = ManualClock(datetime(2026, 11, 23, 16, 6, tzinfo=TZ))
    app = make_app(tmp_path / "late.db", clock=clock)
    assert not [k for k in findings(app) if k.startswith("unstaffed")]
    app.config["ENGINE"].login(2, "1002")
    clock.advance(minutes=11)
    found = findings(app)
    assert found["unstaffed:1"].message == "1号窗口营业时间无人在岗 1 分钟" and found["unstaffed:1"].level == "warning"
    assert "unstaffed:2" not in found
    clock.advance(minutes=15)
    assert findings(app)["unstaffed:1"].level == "red"


def test_unstaffed_counts_from_the_grace_after_each_opening(tmp_path):
    """A hall server running before opening: at opening + 1 minute no window is 空岗 yet (clerks
    sign in in the first minutes, no flood of 提醒 every morning); after rules.unstaffed_grace_minutes
    (10) a window nobody signed in to counts, one that was signed in meanwhile does not."""
    clock = ManualClock(datetime(2026, 11, 23, 7, 50, tzinfo=TZ))
    app = make_app(tmp_path / "early.db", clock=clock)
    opening = opening_start(app.config["ENGINE"].config, 1, datetime(2026, 11, 23, 10, 0, tzinfo=TZ))
    clock.set(opening + timedelta(minutes=1))
    assert not [k for k in findings(app) if k.startswith("unstaffed")]
    app.config["ENGINE"].login(2, "1002")
    clock.set(opening + timedelta(minutes=11))
    found = findings(app)
    assert found["unstaffed:1"].message == "1号窗口营业时间无人在岗 1 分钟"
    assert "unstaffed:2" not in found


def test_a_paused_window_whose_queue_empties_and_refills_keeps_one_alert(app, clock):
    """One pause, one alert: while window 3 stays paused, the S202 queue empties (window 2 takes the
    citizen) and refills; the alert reopens with its acknowledgement instead of a new red card."""
    engine = app.config["ENGINE"]
    staff_all(engine)
    engine.pause(3, "meeting")
    first = engine.issue("S202")  # windows 2 and 3 serve S202
    clock.advance(minutes=16)
    check(app)
    alert = active(app)["paused:3"]
    app.config["ALERTS"].ack(alert["id"], "sup", "已提醒3号窗口")
    engine.call(2, first.code)
    check(app)
    assert "paused:3" not in active(app)
    engine.issue("S202")
    clock.advance(minutes=1)
    check(app)
    again = active(app)["paused:3"]
    assert again["id"] == alert["id"] and again["acked_by"] == "sup"
    assert len(raised(app, "paused:3")) == 1
    assert engine.store.rows("SELECT COUNT(*) AS n FROM alerts WHERE [key] = 'paused:3'")[0]["n"] == 1
    engine.resume(3)
    check(app)
    engine.pause(3, "other")  # a new pause is a new condition
    engine.issue("S202")
    clock.advance(minutes=16)
    check(app)
    assert active(app)["paused:3"]["id"] != alert["id"]


def test_a_level_that_drops_and_returns_is_not_raised_again(app, clock):
    """The longest S301 wait goes yellow, its citizen is called and the next longest is only a
    warning, then it is yellow again: one raise per level reached, and the acknowledgement holds."""
    engine = app.config["ENGINE"]
    staff_all(engine)
    engine.pause(4, "meeting")
    first = engine.issue("S301")
    clock.advance(minutes=10)
    engine.issue("S301")
    clock.advance(minutes=21)  # 31 and 21 minutes
    check(app)
    alert = active(app)["wait:S301"]
    assert alert["level"] == "yellow"
    app.config["ALERTS"].ack(alert["id"], "sup", "已安排")
    engine.resume(4)
    engine.call(4, first.code)
    check(app)  # longest now 21 minutes: a warning, not a new raise
    clock.advance(minutes=9)
    check(app)  # 30 minutes: yellow, the level it had reached already
    row = active(app)["wait:S301"]
    assert row["id"] == alert["id"] and row["acked_by"] == "sup" and "30 分钟" in row["message"]
    assert [e["data"]["level"] for e in raised(app, "wait:S301")] == ["yellow"]


def test_a_supervisor_acknowledges_many_alerts_with_one_note(app, clock):
    client = app.test_client()
    sup = {"Authorization": "Bearer t-sup", "Idempotency-Key": "ack-many-0001"}
    clock.advance(minutes=30)
    check(app)  # five windows unstaffed
    ids = sorted(a["id"] for a in app.config["ALERTS"].active())
    assert len(ids) == 5
    app.config["ALERTS"].ack(ids[0], "sup", "单独确认")
    r = client.post("/api/v1/alerts/ack", json={"alerts": ids, "note": "早班人员已通知到岗"}, headers=sup)
    assert r.status_code == 200, r.json
    assert [a["id"] for a in r.json["acked"]] == ids[1:]
    assert {a["ack_note"] for a in r.json["acked"]} == {"早班人员已通知到岗"}
    assert r.json["skipped"] == [{"alert": ids[0], "reason": "already_acked", "acked_by": "sup"}]
    again = client.post("/api/v1/alerts/ack", json={"alerts": ids, "note": "早班人员已通知到岗"}, headers=sup)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == r.json
    acks = [e for e in app.config["ENGINE"].store.events_after(0) if e["type"] == "alert.acked"]
    assert len(acks) == 5
    bad = {"Authorization": "Bearer t-sup"}
    assert client.post("/api/v1/alerts/ack", json={"alerts": [], "note": "x"}, headers=bad).json["field"] == "alerts"
    assert client.post("/api/v1/alerts/ack", json={"alerts": ids, "note": " "}, headers=bad).json["field"] == "note"
    r = client.post("/api/v1/alerts/ack", json={"alerts": [ids[0], 9999], "note": "x"}, headers=bad)
    assert r.status_code == 404 and r.json["field"] == "alerts"
    r = client.post("/api/v1/alerts/ack", json={"alerts": ["1"], "note": "x"}, headers=bad)
    assert r.status_code == 422 and r.json["field"] == "alerts"
    assert client.post("/api/v1/alerts/ack", json={"alerts": ids, "note": "x"},
                       headers={"Authorization": "Bearer t-caller"}).status_code == 403


def test_a_lunch_pause_outside_the_windows_hours_is_no_alert(app, clock):
    """Morning citizens still wait at 12:30 (延时服务 at other windows); window 4 paused for lunch in
    the hall's lunch break is where it should be, not a red card."""
    engine = app.config["ENGINE"]
    staff_all(engine)
    engine.issue("S301")
    clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=TZ))
    engine.pause(4, "lunch")
    clock.advance(minutes=70)
    assert "paused:4" not in findings(app)
    engine.resume(4)
    engine.pause(4, "meeting")  # not lunch: people wait for this window
    clock.advance(minutes=20)
    assert findings(app)["paused:4"].level == "warning"
