"""好差评 to GB/T 39734 (issue #16 points 1–3): the record, indicators, province profiles, 申诉复核."""

from datetime import datetime

import pytest
from hallfactory import small_hall
from webhall import MONDAY_9AM, USERS, serve_one, sign_in

from server.app import create_app
from server.clock import ManualClock
from server.rating_record import DefaultRatings, indicators
from server.reports import figures, period_for
from server.users import add_user
from server.workdays import due_at

ADMIN, SUP, W3 = ({"Authorization": f"Bearer {t}"} for t in ("t-admin", "t-sup", "t-w3"))


def hall_app(tmp_path, **rules):
    clock = ManualClock(MONDAY_9AM)
    config = small_hall(**rules)
    app = create_app(config, tmp_path / "hall.db", clock=clock, supervise=False)
    for name, (password, role, staff) in USERS.items():
        add_user(app.config["ENGINE"].store, config, name, password, role, staff=staff)
    app.config["TESTING"] = True
    return app, clock


def rated(app, grade, window=3, channel="evaluator", **extra):
    """Serve one citizen at `window` and rate the service; returns the ticket."""
    engine = app.config["ENGINE"]
    t = serve_one(engine, window=window, service="S201", staff="1003" if window == 3 else "1001")
    if channel == "evaluator":
        engine.invite_rating(window)
        engine.rate(grade, "evaluator", window=window, **extra)
    elif channel:
        engine.rate(grade, channel, ticket=t.id, **extra)
    return t


def test_the_record_ties_case_number_matter_unit_window_staff_channel_tags_text_and_time(tmp_path):
    app, _ = hall_app(tmp_path)
    client, engine = app.test_client(), app.config["ENGINE"]
    engine.login(3, "1003")
    t = engine.issue("S201")
    engine.call(3, t.code)
    # The business system attaches its 办件编号 while the matter is accepted at window 3.
    r = client.post("/api/v1/windows/3/case-number", json={"case_number": "BJ-2026-000123"}, headers=W3)
    assert r.status_code == 200, r.json
    assert client.post("/api/v1/windows/3/case-number", json={"case_number": "BJ-2026-000999"},
                       headers=W3).status_code == 409  # once attached it stays
    assert client.post("/api/v1/windows/1/case-number", json={"case_number": "X1"}, headers=W3).status_code == 403
    engine.finish(3, "done")
    engine.invite_rating(3)
    engine.rate(2, "evaluator", window=3, reason="attitude", tags=["efficiency"], comment="等了很久")
    rows = client.get("/api/v1/rating-records?period=day&date=2026-11-23", headers=SUP).json["records"]
    [rec] = rows
    assert (rec["service_code"], rec["service_name"], rec["case_number"], rec["department"]) == \
        ("S201", "企业设立登记", "BJ-2026-000123", "市场监管")
    assert (rec["window"], rec["window_name"], rec["staff"], rec["staff_name"]) == (3, "企业开办窗口", "1003", "王芳")
    assert (rec["channel_name"], rec["grade_name"], rec["tag_names"], rec["comment"]) == \
        ("评价器", "不满意", ["服务态度", "办事效率"], "等了很久")
    assert rec["rated_at"].startswith("2026-11-23") and rec["scored"] is True
    # A 12345 转办 rating comes from the hotline's integration (an admin bearer token), nobody else.
    t2 = serve_one(engine, window=3, service="S201", staff="1003")
    body = {"grade": 4, "channel": "hotline", "ticket": t2.id}
    assert client.post("/api/v1/ratings", json=body, headers=SUP).status_code == 403
    assert client.post("/api/v1/ratings", json=body, headers=ADMIN).status_code == 201
    channels = {r["channel_name"] for r in client.get("/api/v1/rating-records?date=2026-11-23", headers=SUP).json["records"]}
    assert channels == {"评价器", "12345 转办"}


def test_indicators_per_window_and_hall_with_their_definitions(tmp_path):
    app, clock = hall_app(tmp_path, rating_profile="guangdong")
    rated(app, 5)  # on site, good
    rated(app, 1, channel="qr")  # later, bad
    rated(app, 0, channel=None)  # not rated
    rated(app, 4, window=1)  # another window, on site
    clock.advance(minutes=60 * 24 * 8)
    assert DefaultRatings(app.config["ENGINE"]).run() == 1  # 广东: unrated 7 days -> 基本满意
    store = app.config["ENGINE"].store
    w = indicators(store, "2026-11-23", "2026-11-24", "window")
    assert w["3"] == {"key": "3", "services": 3, "ratings": 3, "good_rate": round(2 / 3, 4),
                      "active_rate": round(1 / 3, 4), "unrated_rate": round(1 / 3, 4)}
    hall = indicators(store, "2026-11-23", "2026-11-24", "hall")["all"]
    assert (hall["services"], hall["active_rate"], hall["good_rate"]) == (4, 0.5, 0.75)
    assert set(indicators(store, "2026-11-23", "2026-11-24", "staff")) == {"1001", "1003"}
    assert set(indicators(store, "2026-11-23", "2026-11-24", "department")) == {"市场监管"}
    r = app.test_client().get("/api/v1/rating-indicators?date=2026-11-23&group=service", headers=SUP)
    assert r.json["rows"][0]["key"] == "S201" and "主动评价率" not in r.json["definitions"]["active_rate"]
    assert "现场评价" in r.json["definitions"]["active_rate"]
    page = app.test_client()
    sign_in(page, "sup")
    text = page.get("/reports?period=day&date=2026-11-23").get_data(as_text=True)
    assert "主动评价率" in text and "未评价率" in text and "现场评价（评价器、自助终端）的服务数 ÷ 服务数" in text


RATED = datetime(2026, 11, 23, 9, 0)  # Monday


@pytest.mark.parametrize("profile, callback_due, fix_due", [
    ("sichuan", "2026-11-25", due_at(MONDAY_9AM, 15).date().isoformat()),
    ("zhejiang", "2026-11-25", "2026-12-09"),  # natural days: 1 and 15 days after the 23rd
    ("dezhou", "2026-11-25", "2026-12-01"),  # 5 working days: Tue..Mon
    ("guangdong", "2026-11-25", due_at(MONDAY_9AM, 15).date().isoformat()),
    ("own", "2026-11-27", "2026-11-28"),  # the hall's own keys: 3 and 4 working days
])
def test_each_profile_sets_the_case_deadlines(tmp_path, profile, callback_due, fix_due):
    app, _ = hall_app(tmp_path, rating_profile=profile, callback_working_days=3, fix_working_days=4)
    rated(app, 2)
    [case] = app.config["ENGINE"].store.rows("SELECT * FROM cases")
    assert (case["callback_due"][:10], case["fix_due"][:10]) == (callback_due, fix_due)


def test_zhejiang_takes_one_follow_up_rating_and_a_hall_may_take_none(tmp_path):
    for profile, follow_ups, allowed in (("zhejiang", 1, 1), ("own", 0, 0), ("own", 2, 2)):
        app, _ = hall_app(tmp_path / f"{profile}{follow_ups}", rating_profile=profile, follow_up_ratings=follow_ups)
        client = app.test_client()
        t = rated(app, 1)
        book = app.config["CASES"]
        book.act(1, "call-back", "sup", "已回访", contact="phone", answer="dissatisfied")
        book.act(1, "rectify", "sup", "已整改")
        codes = [client.post(f"/api/v1/tickets/{t.id}/fix-rating", json={"grade": 4}).status_code for _ in range(3)]
        assert codes == [201] * allowed + [409] * (3 - allowed), (profile, follow_ups, codes)


def test_guangdong_rates_unrated_services_basic_satisfied_after_7_natural_days_only(tmp_path):
    app, clock = hall_app(tmp_path, rating_profile="guangdong")
    engine = app.config["ENGINE"]
    t = rated(app, 0, channel=None)
    rated(app, 5)
    runner = DefaultRatings(engine)
    clock.advance(minutes=60 * 24 * 7 - 30)
    assert runner.run() == 0
    clock.advance(minutes=60)
    assert runner.run() == 1 and runner.run() == 0
    [row] = engine.store.rows("SELECT * FROM ratings WHERE channel = 'default'")
    assert (row["ticket_id"], row["grade"]) == (t.id, 3)
    other, _ = hall_app(tmp_path / "sichuan", rating_profile="sichuan")
    rated(other, 0, channel=None)
    other.config["ENGINE"].clock.advance(minutes=60 * 24 * 30)
    assert DefaultRatings(other.config["ENGINE"]).run() == 0  # no default rating elsewhere


def test_an_upheld_appeal_leaves_every_score_and_the_honour_board_but_not_the_record(tmp_path):
    app, _ = hall_app(tmp_path)
    client, store = app.test_client(), app.config["ENGINE"].store
    rated(app, 5)
    rated(app, 1, reason="attitude")
    bad = store.rows("SELECT id FROM ratings WHERE grade = 1")[0]["id"]
    window1 = rated(app, 1, window=1)
    other = store.rows("SELECT id FROM ratings WHERE ticket_id = ?", [window1.id])[0]["id"]
    day = period_for("day", RATED.date())
    assert figures(store, day, "window")["3"]["good_rate"] == 0.5
    # Window 3 appeals its own rating only.
    filing = {"reason": "群众误按", "evidence": "监控录像显示群众表示满意", "evidence_ref": "video/2026-11-23/w3.mp4"}
    assert client.post(f"/api/v1/ratings/{other}/appeal", json=filing, headers=W3).status_code == 403
    r = client.post(f"/api/v1/ratings/{bad}/appeal", json=filing, headers=W3)
    assert r.status_code == 201 and r.json["state"] == "filed", r.json
    appeal = r.json["id"]
    assert client.post(f"/api/v1/ratings/{bad}/appeal", json=filing, headers=W3).status_code == 409
    # Nobody of window 3 decides: not its window token, not the rated staff member as a supervisor.
    assert client.post(f"/api/v1/appeals/{appeal}/uphold", json={"note": "x"}, headers=W3).status_code == 403
    clerk = app.test_client()  # a clerk (a window's own staff) is no reviewer
    csrf = sign_in(clerk, "clerk1")
    r = clerk.post(f"/api/v1/appeals/{appeal}/uphold", json={"note": "x"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403, r.json
    # A supervisor may file for a window, and then may not decide that appeal.
    on_behalf = client.post(f"/api/v1/ratings/{other}/appeal", json=filing, headers=SUP).json["id"]
    r = client.post(f"/api/v1/appeals/{on_behalf}/reject", json={"note": "x"}, headers=SUP)
    assert r.status_code == 403 and "filer" in r.json["message"]
    assert client.post(f"/api/v1/appeals/{on_behalf}/reject", json={"note": "不属误评"}, headers=ADMIN).status_code == 200
    r = client.post(f"/api/v1/appeals/{appeal}/uphold", json={"note": "录像核实，属误评"}, headers=SUP)
    assert r.status_code == 200 and r.json["state"] == "upheld"
    assert client.post(f"/api/v1/appeals/{appeal}/reject", json={"note": "再议"}, headers=SUP).status_code == 409
    # Out of every score: the report, the 红黑榜's rating, the indicators; in the record still.
    assert figures(store, day, "window")["3"]["good_rate"] == 1.0
    assert figures(store, day, "window")["1"]["good_rate"] == 0.0  # a rejected appeal changes nothing
    assert indicators(store, "2026-11-23", "2026-11-24", "window")["3"]["good_rate"] == 1.0
    board = client.get("/api/v1/reports?period=day&date=2026-11-23&by=window", headers=SUP).json
    assert next(r for r in board["rows"] if r["key"] == "3")["bad"] == 0
    assert store.rows("SELECT COUNT(*) AS n FROM ratings WHERE id = ?", [bad])[0]["n"] == 1
    recs = client.get("/api/v1/rating-records?date=2026-11-23", headers=SUP).json["records"]
    assert next(x for x in recs if x["id"] == bad)["appeal"] == "upheld"
    # Every step audited: events and the case's steps.
    events = [(e["type"], e["actor"]) for e in store.events_after(0) if e["type"].startswith("appeal.")]
    assert events == [("appeal.filed", "w3"), ("appeal.filed", "sup"), ("appeal.decided", "admin"),
                      ("appeal.decided", "sup")]
    steps = [s["action"] for s in app.config["CASES"].steps(1)]
    assert steps[-2:] == ["appeal-filed", "appeal-decided"]
    assert [a["id"] for a in client.get("/api/v1/appeals?state=upheld", headers=SUP).json["appeals"]] == [appeal]



def test_the_reviewer_page_lists_the_appeal_with_its_evidence_and_decides_it(tmp_path):
    app, _ = hall_app(tmp_path)
    store = app.config["ENGINE"].store
    rated(app, 2)
    rating = store.rows("SELECT id FROM ratings")[0]["id"]
    api = app.test_client()
    api.post(f"/api/v1/ratings/{rating}/appeal", json={"reason": "恶意差评", "evidence_ref": "files/a.jpg"}, headers=W3)
    page = app.test_client()
    csrf = sign_in(page, "sup")
    text = page.get("/appeals").get_data(as_text=True)
    assert "恶意差评" in text and "files/a.jpg" in text and "申诉成立" in text
    r = page.post("/appeals", data={"csrf_token": csrf, "appeal": "1", "verdict": "uphold", "note": "核实属实"})
    assert r.status_code == 302
    assert store.rows("SELECT state, decided_by FROM appeals")[0] == {"state": "upheld", "decided_by": "web:sup"}
