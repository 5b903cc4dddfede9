"""Role escapes: what a window token or a clerk's page may not do without a supervisor, and who may
enter a grade (nobody on the staff side)."""

import pytest
from webhall import make_app, serve_one, sign_in

W3 = {"Authorization": "Bearer t-w3"}
CALLER = {"Authorization": "Bearer t-caller"}
SUP = {"Authorization": "Bearer t-sup"}


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path / "hall.db")


def staff_at(app) -> dict[int, str | None]:
    return {w.number: w.staff for w in app.config["ENGINE"].window_states()}


def post(client, path, token, body=None):
    return client.post(path, json=body or {}, headers={"X-CSRF-Token": token})


def test_window_token_does_not_take_staff_off_another_window(app):
    app.config["ENGINE"].login(1, "1003")
    client = app.test_client()
    r = client.post("/api/v1/windows/3/login", json={"staff": "1003"}, headers=W3)
    assert r.status_code == 409 and r.json["error"] == "staff_elsewhere" and r.json["field"] == "staff"
    assert "window 1" in r.json["message"] and "supervisor" in r.json["message"]
    assert staff_at(app)[1] == "1003" and staff_at(app)[3] is None  # nothing moved


def test_window_token_does_not_replace_whoever_holds_its_window(app):
    app.config["ENGINE"].login(3, "1004")
    r = app.test_client().post("/api/v1/windows/3/login", json={"staff": "1003"}, headers=W3)
    assert r.status_code == 409 and r.json["error"] == "window_taken" and r.json["field"] == "window"
    assert staff_at(app)[3] == "1004"


def test_clerk_page_does_not_move_the_clerk_or_replace_a_colleague(app):
    one, two = app.test_client(), app.test_client()
    t1, t2 = sign_in(one, "clerk1"), sign_in(two, "clerk2")
    assert post(one, "/api/v1/windows/1/login", t1, {"staff": "1001"}).status_code == 200
    r = post(one, "/api/v1/windows/2/login", t1, {"staff": "1001"})  # still signed in at window 1
    assert r.status_code == 409 and r.json["error"] == "staff_elsewhere"
    r = post(two, "/api/v1/windows/1/login", t2, {"staff": "1002"})
    assert r.status_code == 409 and r.json["error"] == "window_taken"
    assert staff_at(app)[1] == "1001" and staff_at(app)[2] is None


def test_supervisor_and_keypad_still_move_and_replace(app):
    engine = app.config["ENGINE"]
    engine.login(1, "1003")
    client = app.test_client()
    assert client.post("/api/v1/windows/3/login", json={"staff": "1003"}, headers=CALLER).json["result"] == "accepted"
    assert staff_at(app)[1] is None and staff_at(app)[3] == "1003"
    assert client.post("/api/v1/windows/3/login", json={"staff": "1004"}, headers=SUP).json["result"] == "accepted"
    assert staff_at(app)[3] == "1004"
    sup = app.test_client()
    token = sign_in(sup, "sup")
    assert post(sup, "/api/v1/windows/2/login", token, {"staff": "1004"}).status_code == 200
    assert staff_at(app)[3] is None and staff_at(app)[2] == "1004"


STAFF_TOKENS = ["t-admin", "t-sup", "t-w3", "t-display", "t-caller", "t-kiosk", "not-a-token"]


def rated(app) -> int:
    return app.config["ENGINE"].store.rows("SELECT COUNT(*) AS n FROM ratings")[0]["n"]


def test_no_token_enters_a_grade_through_the_ticket_page(app):
    t = serve_one(app.config["ENGINE"])
    for token in STAFF_TOKENS:
        for channel in ("qr", "web"):
            r = app.test_client().post("/api/v1/ratings", json={"grade": 5, "channel": channel, "ticket": t.id},
                                       headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 403 and r.json["field"] == "Authorization", (token, r.json)
    assert rated(app) == 0


def test_no_signed_in_staff_member_enters_a_grade(app):
    t = serve_one(app.config["ENGINE"])
    for user in ("admin", "sup", "clerk1"):
        client = app.test_client()
        token = sign_in(client, user)
        r = client.post("/api/v1/ratings", json={"grade": 5, "channel": "qr", "ticket": t.id},
                        headers={"X-CSRF-Token": token})
        assert r.status_code == 403 and r.json["field"] == "session", user
        r = client.post("/api/v1/ratings", json={"grade": 5, "channel": "kiosk", "ticket": t.id},
                        headers={"X-CSRF-Token": token})
        assert r.status_code == 403 and r.json["field"] == "channel", user
    assert rated(app) == 0
    citizen = app.test_client()
    assert citizen.post("/api/v1/ratings", json={"grade": 5, "channel": "qr", "ticket": t.id}).status_code == 201


def test_evaluator_only_from_the_caller_and_kiosk_only_from_a_kiosk(app):
    t = serve_one(app.config["ENGINE"])
    client = app.test_client()
    for token in ("t-admin", "t-sup", "t-w3", "t-kiosk"):
        r = client.post("/api/v1/ratings", json={"grade": 5, "channel": "evaluator", "window": 1},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.json["field"] == "channel"
    for token in ("t-admin", "t-sup", "t-w3", "t-caller"):
        r = client.post("/api/v1/ratings", json={"grade": 5, "channel": "kiosk", "ticket": t.id},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.json["field"] == "channel"
    assert rated(app) == 0
    r = client.post("/api/v1/ratings", json={"grade": 5, "channel": "kiosk", "ticket": t.id},
                    headers={"Authorization": "Bearer t-kiosk"})
    assert r.status_code == 201


def test_no_staff_member_rates_how_a_complaint_was_handled(app):
    engine, book = app.config["ENGINE"], app.config["CASES"]
    t = serve_one(engine)
    engine.rate(1, "evaluator", window=1)
    book.act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    book.act(1, "rectify", "sup", "已整改")
    client = app.test_client()
    r = client.post(f"/api/v1/tickets/{t.id}/fix-rating", json={"grade": 5}, headers=SUP)
    assert r.status_code == 403 and r.json["field"] == "Authorization"
    sup = app.test_client()
    token = sign_in(sup, "sup")
    r = sup.post(f"/api/v1/tickets/{t.id}/fix-rating", json={"grade": 5}, headers={"X-CSRF-Token": token})
    assert r.status_code == 403 and r.json["field"] == "session"
    assert book.get(1)["fix_grade"] is None
    assert client.post(f"/api/v1/tickets/{t.id}/fix-rating", json={"grade": 4}).status_code == 201


@pytest.fixture
def booked(app):
    """An appointment for today's 09:30 slot (the clock stands at 09:00): its code."""
    from webhall import MONDAY_9AM

    r = app.test_client().post("/api/v1/appointments", headers={"Authorization": "Bearer t-admin"}, json={
        "service": "S101", "slot_start": MONDAY_9AM.replace(minute=30).isoformat(), "phone": "13900001111"})
    assert r.status_code == 201
    return r.json["code"]


def test_appointment_codes_are_read_only_by_kiosk_and_admin(app, booked):
    client = app.test_client()
    for token in ("t-display", "t-caller", "t-w3", "t-sup"):
        for query in (f"code={booked}", "phone=13900001111"):
            r = client.get(f"/api/v1/appointments?{query}", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 403 and booked not in r.get_data(as_text=True), (token, query)
    clerk = app.test_client()
    sign_in(clerk, "clerk1")
    assert clerk.get(f"/api/v1/appointments?code={booked}").status_code == 403
    for token in ("t-kiosk", "t-admin"):
        r = client.get("/api/v1/appointments?phone=13900001111", headers={"Authorization": f"Bearer {token}"})
        assert [a["code"] for a in r.json["appointments"]] == [booked]


def test_appointment_lookups_are_limited_per_token_and_per_address(app, booked):
    from server.lookup_limit import LookupLimit

    now = [0.0]
    app.config["LOOKUP_LIMIT"] = LookupLimit(clock=lambda: now[0])
    kiosk = {"Authorization": "Bearer t-kiosk"}
    client = app.test_client()
    for i in range(30):
        assert client.get(f"/api/v1/appointments?code={i:08d}", headers=kiosk).status_code == 200
    r = client.get(f"/api/v1/appointments?code={booked}", headers=kiosk)
    assert r.status_code == 429 and r.json["error"] == "too_many_lookups" and r.json["field"] == "appointment"
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and "请" in r.json["message"]
    # Another token from the same address is limited too; from elsewhere it is not.
    admin = {"Authorization": "Bearer t-admin"}
    assert client.get("/api/v1/appointments?phone=13900001111", headers=admin).status_code == 429
    r = client.get("/api/v1/appointments?phone=13900001111", headers=admin, environ_base={"REMOTE_ADDR": "10.0.0.8"})
    assert r.status_code == 200
    # The window slides: once the oldest look-up is a minute old, the kiosk may look up again.
    now[0] = 60.5
    assert client.get(f"/api/v1/appointments?code={booked}", headers=kiosk).json["appointments"][0]["code"] == booked


def test_failed_check_ins_count_as_lookups(app, booked):
    kiosk = {"Authorization": "Bearer t-kiosk"}
    client = app.test_client()
    for i in range(30):
        r = client.post("/api/v1/tickets", headers=kiosk, json={"service": "S101", "appointment": f"{i:08d}"})
        assert r.status_code == 404 and r.json["field"] == "appointment"
    r = client.post("/api/v1/tickets", headers=kiosk, json={"service": "S101", "appointment": booked})
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert app.config["ENGINE"].store.rows("SELECT state FROM appointments")[0]["state"] == "booked"
    # Plain tickets are not look-ups.
    assert client.post("/api/v1/tickets", headers=kiosk, json={"service": "S101"}).status_code == 201


def test_a_refusal_that_says_later_is_not_replayed_to_the_retry(app, booked):
    """A 429 means "try again later": the retry with the same key must run, not get the 429 again."""
    from server.lookup_limit import LookupLimit

    now = [0.0]
    app.config["LOOKUP_LIMIT"] = LookupLimit(clock=lambda: now[0])
    kiosk = {"Authorization": "Bearer t-kiosk"}
    client = app.test_client()
    for i in range(30):
        client.post("/api/v1/tickets", headers=kiosk, json={"service": "S101", "appointment": f"{i:08d}"})
    tap = {**kiosk, "Idempotency-Key": "check-in-tap-0001"}
    assert client.post("/api/v1/tickets", headers=tap, json={"service": "S101", "appointment": booked}).status_code == 429
    now[0] = 61.0
    r = client.post("/api/v1/tickets", headers=tap, json={"service": "S101", "appointment": booked})
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
