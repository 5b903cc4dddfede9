"""差评 cases: opened by a bad rating, walked to closed step by step, refusals, deadlines, fix rating."""

from datetime import datetime

import pytest
from webhall import TZ, make_app, serve_one

from server.cases import case_view
from server.errors import Conflict, Invalid, NotFound
from server.workdays import due_at


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path / "hall.db")


def bad_rating(app, grade=2, window=1, staff="1001"):
    engine = app.config["ENGINE"]
    t = serve_one(engine, window=window, staff=staff)
    engine.rate(grade, "evaluator", window=window, reason="attitude")
    return t


def open_cases(app):
    return app.config["ENGINE"].store.rows("SELECT * FROM cases ORDER BY id")


def test_bad_rating_opens_a_case_with_owner_and_deadlines(app):
    t = bad_rating(app, grade=1)
    [case] = open_cases(app)
    assert case["state"] == "open" and case["grade"] == 1 and case["ticket_code"] == t.code
    assert case["window"] == 1 and case["staff"] == "1001" and case["reason"] == "attitude"
    assert case["owner"] == "sup"  # the only supervisor user
    rated = datetime.fromisoformat(case["rated_at"])
    assert case["callback_due"] == due_at(rated, 1).isoformat() == "2026-11-25T00:00:00+08:00"
    assert case["fix_due"] == due_at(rated, 15).isoformat()
    events = [e["type"] for e in app.config["ENGINE"].store.events_after(0)]
    assert "case.opened" in events


def test_good_and_middle_ratings_open_no_case(app):
    engine = app.config["ENGINE"]
    for grade in (5, 4, 3):
        serve_one(engine)
        engine.rate(grade, "evaluator", window=1)
    assert open_cases(app) == []


def test_walk_to_closed_records_who_when_and_note(app):
    bad_rating(app)
    book = app.config["CASES"]
    book.act(1, "call-back", "sup", "电话回访，群众反映等候时态度生硬", contact="phone", answer="satisfied")
    book.act(1, "rectify", "sup", "约谈窗口人员，列入整改台账")
    case = book.act(1, "close", "sup", "整改完成")
    assert case["state"] == "closed" and case["resolution"] == "rectified" and case["closed_at"]
    steps = book.steps(1)
    assert [s["action"] for s in steps] == ["open", "call-back", "rectify", "close"]
    assert all(s["by"] and s["at"] and s["note"] for s in steps)
    assert steps[1]["from_state"] == "open" and steps[1]["to_state"] == "called_back"


@pytest.mark.parametrize("resolution", ["explain", "appeal"])
def test_other_resolutions(app, resolution):
    bad_rating(app)
    book = app.config["CASES"]
    book.act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    case = book.act(1, resolution, "sup", "说明")
    assert case["state"] == {"explain": "explained", "appeal": "appealed"}[resolution]
    assert book.act(1, "close", "sup", "办结")["state"] == "closed"


def test_refusals(app):
    bad_rating(app)
    book = app.config["CASES"]
    with pytest.raises(Conflict):
        book.act(1, "close", "sup", "想直接办结")  # not called back yet
    with pytest.raises(Conflict):
        book.act(1, "rectify", "sup", "未回访先整改")
    with pytest.raises(Invalid):
        book.act(1, "call-back", "sup", "   ")  # a note is required
    with pytest.raises(NotFound):
        book.act(1, "delete", "sup", "x")
    with pytest.raises(NotFound):
        book.act(99, "call-back", "sup", "x")
    with pytest.raises(Invalid):
        book.act(1, "assign", "sup", "换人", owner="clerk1")  # clerks do not own cases
    assert book.act(1, "assign", "sup", "转管理员", owner="admin")["owner"] == "admin"
    book.act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    book.act(1, "explain", "sup", "已解释")
    book.act(1, "close", "sup", "办结")
    with pytest.raises(Conflict):
        book.act(1, "call-back", "sup", "再回访")  # closed is final
    assert book.get(1)["state"] == "closed"


def test_citizen_rates_the_fix_once(app):
    t = bad_rating(app)
    book = app.config["CASES"]
    assert book.fix_status(t.id)["can_rate_fix"] is False
    with pytest.raises(Conflict):
        book.rate_fix(t.id, 5)  # nothing handled yet
    book.act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    book.act(1, "rectify", "sup", "已整改")
    assert book.fix_status(t.id)["can_rate_fix"] is True
    with pytest.raises(Invalid):
        book.rate_fix(t.id, 7)
    book.rate_fix(t.id, 4)
    assert book.get(1)["fix_grade"] == 4
    assert book.fix_status(t.id) == {"case": True, "state": "rectified", "state_name": "已整改",
                                     "can_rate_fix": False, "fix_grade": 4, "callback_due": book.get(1)["callback_due"]}
    with pytest.raises(Conflict):
        book.rate_fix(t.id, 5)


def test_appealed_case_is_not_offered_for_fix_rating(app):
    t = bad_rating(app)
    book = app.config["CASES"]
    book.act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    book.act(1, "appeal", "sup", "恶意差评，申诉")
    assert book.fix_status(t.id)["can_rate_fix"] is False


def test_deadlines_skip_national_day(tmp_path):
    from server.clock import ManualClock

    clock = ManualClock(datetime(2026, 9, 30, 10, 0, tzinfo=TZ))
    app = make_app(tmp_path / "hall.db", clock=clock)
    bad_rating(app)
    [case] = open_cases(app)
    assert case["callback_due"] == "2026-10-09T00:00:00+08:00"  # due by the end of Thursday 8 October
    assert case["fix_due"] == "2026-10-28T00:00:00+08:00"  # 15 working days, make-up Saturday 10 Oct counted


def test_case_view_masks_phone_and_hides_ticket_id(app):
    engine = app.config["ENGINE"]
    engine.login(1, "1001")
    t = engine.issue("S101", phone="13812345678")
    engine.call(1, t.code)
    engine.finish(1)
    engine.rate(2, "evaluator", window=1)
    view = case_view(app.config["HALL"], open_cases(app)[0])
    assert view["phone"] == "138****5678"
    assert t.id not in str(view)
    assert view["staff_name"] == "张晓梅" and view["grade_name"] == "不满意"


def test_catch_up_opens_cases_for_ratings_recorded_without_a_listener(tmp_path):
    from hallfactory import small_hall
    from webhall import MONDAY_9AM

    from server.clock import ManualClock
    from server.engine import Engine
    from server.store import Store

    path = tmp_path / "hall.db"
    engine = Engine(small_hall(), Store(path), ManualClock(MONDAY_9AM))
    serve_one(engine)
    engine.rate(1, "evaluator", window=1)
    engine.store.close()
    app = make_app(path)
    assert len(open_cases(app)) == 1


def test_deadline_beyond_the_calendar_is_provisional_and_recomputed_after_an_upgrade(tmp_path, monkeypatch):
    import chinese_calendar

    from server import workdays
    from server.clock import ManualClock
    from server.supervision import check_once

    clock = ManualClock(datetime(2026, 12, 28, 10, 0, tzinfo=TZ))  # 15 working days reach into 2027
    app = make_app(tmp_path / "hall.db", clock=clock)
    bad_rating(app)
    [case] = open_cases(app)
    assert case["callback_due"] == "2026-12-30T00:00:00+08:00"  # inside the calendar's data
    if workdays.covered(2027):
        pytest.skip("this chinese-calendar already has 2027: nothing is provisional")
    # Rated Mon 28 Dec; counting Mon–Fri (1 Jan included), the 15th working day is Mon 18 Jan 2027.
    assert case["fix_due"] == "2027-01-19T00:00:00+08:00"
    assert "2027" in case["due_error"] and "chinese-calendar" in case["due_error"]
    check_once(app.config["ENGINE"], app.config["ALERTS"])
    alert = next(a for a in app.config["ALERTS"].active() if a["kind"] == "calendar")
    assert alert["level"] == "warning" and "升级" in alert["message"]

    # The package is upgraded: 2027 has data, with New Year's Day a holiday.
    real = chinese_calendar.is_workday
    monkeypatch.setattr(workdays, "covered", lambda year: True)
    monkeypatch.setattr(chinese_calendar, "is_workday",
                        lambda d: d.weekday() < 5 and d.isoformat() != "2027-01-01" if d.year == 2027 else real(d))
    assert app.config["CASES"].recompute_provisional() == 1
    [case] = open_cases(app)
    assert case["fix_due"] == "2027-01-20T00:00:00+08:00" and case["due_error"] is None  # a day later
    assert app.config["CASES"].recompute_provisional() == 0


def test_commitment_deadline_beyond_the_calendar_is_provisional_then_recomputed(tmp_path, monkeypatch):
    import chinese_calendar

    from server import workdays
    from server.clock import ManualClock

    if workdays.covered(2027):
        pytest.skip("this chinese-calendar already has 2027: nothing is provisional")
    clock = ManualClock(datetime(2026, 12, 30, 10, 0, tzinfo=TZ))
    app = make_app(tmp_path / "hall.db", clock=clock)
    engine = app.config["ENGINE"]
    engine.login(4, "1004")
    t = engine.issue("S301")  # 不动产登记: 承诺件, 5 working days
    engine.call(4, t.code)
    engine.finish(4, "accepted")
    [row] = engine.store.rows("SELECT * FROM commitments")
    # Thu 31 Dec, then Fri 1 Jan (provisionally a working day), Mon 4 – Wed 6 Jan.
    assert row["deadline"] == "2027-01-06" and "2027" in row["due_error"]
    real = chinese_calendar.is_workday
    monkeypatch.setattr(workdays, "covered", lambda year: True)
    monkeypatch.setattr(chinese_calendar, "is_workday",
                        lambda d: d.weekday() < 5 and d.isoformat() != "2027-01-01" if d.year == 2027 else real(d))
    assert app.config["COMMITMENTS"].recompute_provisional() == 1
    [row] = engine.store.rows("SELECT * FROM commitments")
    assert row["deadline"] == "2027-01-07" and row["due_error"] is None


def test_case_owner_sees_the_full_phone_for_the_call_back_and_each_look_is_logged(app):
    from webhall import page_csrf, sign_in

    engine = app.config["ENGINE"]
    engine.login(1, "1001")
    t = engine.issue("S101", phone="13812345678")
    engine.call(1, t.code)
    engine.finish(1)
    engine.rate(1, "evaluator", window=1)
    [case] = open_cases(app)
    sup = app.test_client()
    token = sign_in(sup, "sup")
    page = sup.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page  # masked until asked for
    shown = sup.post(f"/cases/{case['id']}", data={"action": "reveal-phone", "csrf_token": token})
    assert "13812345678" in shown.get_data(as_text=True)
    api = sup.post(f"/api/v1/cases/{case['id']}/phone", headers={"X-CSRF-Token": page_csrf(sup, "/board")})
    assert api.get_json()["phone"] == "13812345678"
    looks = [e for e in engine.store.events_after(0, 1000) if e["type"] == "case.phone_viewed"]
    assert [e["actor"] for e in looks] == ["web:sup", "web:sup"]
    clerk = app.test_client()
    sign_in(clerk, "clerk1")
    assert clerk.post(f"/api/v1/cases/{case['id']}/phone",
                      headers={"X-CSRF-Token": page_csrf(clerk, "/clerk")}).status_code == 403


def test_a_case_cannot_close_without_the_citizens_answer_at_the_call_back(app):
    """回访核实 is a conversation with the citizen: the call-back step records how they were reached
    and whether they were satisfied, a call nobody answered keeps the case 待回访, and nothing closes
    a case whose answer is missing (also one called back before answers were recorded)."""
    bad_rating(app)
    book = app.config["CASES"]
    client = app.test_client()
    sup = {"Authorization": "Bearer t-sup"}
    r = client.post("/api/v1/cases/1/call-back", json={"note": "已回访"}, headers=sup)
    assert r.status_code == 422 and r.json["field"] == "contact"
    r = client.post("/api/v1/cases/1/call-back", json={"note": "已回访", "contact": "phone"}, headers=sup)
    assert r.status_code == 422 and r.json["field"] == "answer"
    r = client.post("/api/v1/cases/1/call-attempt", json={"note": "两次拨打无人接听"}, headers=sup)
    assert r.status_code == 200 and r.json["state"] == "open" and "close" not in r.json["actions"]
    with pytest.raises(Conflict):
        book.act(1, "close", "sup", "直接办结")
    r = client.post("/api/v1/cases/1/call-back", headers=sup,
                    json={"note": "群众反映等候时态度生硬，已致歉", "contact": "phone", "answer": "dissatisfied"})
    assert r.status_code == 200 and r.json["state"] == "called_back"
    assert (r.json["callback_contact_name"], r.json["callback_answer_name"]) == ("电话", "不满意")
    assert r.json["steps"][-1]["note"] == "电话回访，群众表示不满意：群众反映等候时态度生硬，已致歉"
    book.act(1, "rectify", "sup", "约谈窗口人员")
    assert book.act(1, "close", "sup", "办结")["state"] == "closed"
    assert [s["action"] for s in book.steps(1)] == ["open", "call-attempt", "call-back", "rectify", "close"]
    # A case called back by an older version, with no answer: it cannot close until one is recorded.
    bad_rating(app)
    book.act(2, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    book.act(2, "explain", "sup", "已解释")
    store = app.config["ENGINE"].store
    store.db.execute("UPDATE cases SET callback_contact = NULL, callback_answer = NULL WHERE id = 2")
    with pytest.raises(Conflict) as refused:
        book.act(2, "close", "sup", "办结")
    assert refused.value.code == "no_callback_answer"
    assert "call-back" in case_view(app.config["HALL"], book.get(2))["actions"]
    case = book.act(2, "call-back", "sup", "补记回访结果", contact="sms", answer="satisfied")
    assert case["state"] == "explained" and case["callback_answer"] == "satisfied"
    assert book.act(2, "close", "sup", "办结")["state"] == "closed"
