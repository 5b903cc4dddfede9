"""Users, sessions, roles (401/403), CSRF, the clerk's own-window rule, and the public ticket page."""

import pytest
from webhall import make_app, page_csrf, sign_in

from server.errors import Conflict, Invalid
from server.signin_guard import SignInGuard
from server.users import add_user, authenticate


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path / "hall.db")


def post(client, path, token, body=None):
    return client.post(path, json=body or {}, headers={"X-CSRF-Token": token} if token else {})


def test_passwords_are_hashed_and_checked(app):
    store = app.config["ENGINE"].store
    row = store.rows("SELECT password_hash FROM users WHERE username = 'sup'")[0]
    assert "supervisor-pass" not in row["password_hash"] and row["password_hash"].startswith(("scrypt:", "pbkdf2:"))
    assert authenticate(store, "sup", "supervisor-pass").role == "supervisor"
    assert authenticate(store, "sup", "wrong") is None
    assert authenticate(store, "nobody", "supervisor-pass") is None


def test_user_rules(app):
    store, config = app.config["ENGINE"].store, app.config["HALL"]
    with pytest.raises(Invalid):
        add_user(store, config, "c9", "long-enough", "clerk")  # a clerk needs a staff number
    with pytest.raises(Invalid):
        add_user(store, config, "c9", "long-enough", "clerk", staff="9999")
    with pytest.raises(Invalid):
        add_user(store, config, "s9", "short", "supervisor")
    with pytest.raises(Invalid):
        add_user(store, config, "s9", "long-enough", "supervisor", staff="1003")
    with pytest.raises(Conflict):
        add_user(store, config, "sup", "long-enough", "supervisor")
    with pytest.raises(Conflict):
        add_user(store, config, "c9", "long-enough", "clerk", staff="1001")  # clerk1 has it


def test_sign_in_form(app):
    client = app.test_client()
    assert client.get("/board").status_code == 302  # to the sign-in page
    token = page_csrf(client)
    r = client.post("/login", data={"username": "sup", "password": "nope", "csrf_token": token})
    assert r.status_code == 401 and "用户名或密码不正确" in r.get_data(as_text=True)
    r = client.post("/login", data={"username": "sup", "password": "supervisor-pass", "csrf_token": token,
                                    "next": "//evil.example/x"})
    assert r.status_code == 302 and r.location == "/board"  # no bouncing off-site
    assert client.get("/board").status_code == 200


def test_failed_sign_ins_lock_the_name_then_the_address():
    now = [0.0]
    guard = SignInGuard(per_user=3, per_address=5, minutes=15, clock=lambda: now[0])
    for _ in range(2):
        guard.failed("sup", "10.0.0.9")
    assert guard.wait_minutes("sup", "10.0.0.9") == 0
    guard.failed("sup", "10.0.0.9")
    assert guard.wait_minutes("sup", "10.0.0.9") == 15
    assert guard.wait_minutes("sup", "10.0.0.7") == 15  # the name, from anywhere
    assert guard.wait_minutes("clerk1", "10.0.0.7") == 0
    now[0] = 14 * 60 + 1
    assert guard.wait_minutes("sup", "10.0.0.7") == 1
    now[0] = 15 * 60 + 1
    assert guard.wait_minutes("sup", "10.0.0.7") == 0  # failures older than the window are forgotten
    for name in ("a", "b", "c", "d", "e"):
        guard.failed(name, "10.0.0.9")
    assert guard.wait_minutes("clerk1", "10.0.0.9") == 15  # one machine walking through names
    assert guard.wait_minutes("clerk1", "10.0.0.8") == 0
    guard.failed("clerk1", "10.0.0.8")
    guard.succeeded("clerk1")
    assert guard._failures.get(("user", "clerk1")) is None
    now[0] += 16 * 60
    for i in range(SignInGuard.PRUNE_ABOVE + 10):  # a sweep of made-up names, each tried once
        guard.failed(f"name{i}", f"10.1.{i // 200}.{i % 200}")
    now[0] += 16 * 60
    guard.failed("late", "10.0.0.1")
    assert len(guard._failures) == 2  # the expired ones are gone, not kept for ever


def test_sign_in_form_locks_after_repeated_failures(app):
    now = [0.0]
    app.config["SIGNIN_GUARD"] = SignInGuard(clock=lambda: now[0])
    client = app.test_client()
    token = page_csrf(client)

    def attempt(password):
        return client.post("/login", data={"username": "sup", "password": password, "csrf_token": token})

    for _ in range(5):
        assert attempt("nope").status_code == 401
    r = attempt("supervisor-pass")  # even the right password is refused while locked
    assert r.status_code == 429 and "登录失败次数过多，请 15 分钟后再试" in r.get_data(as_text=True)
    assert client.get("/board").status_code == 302
    now[0] = 15 * 60 + 1
    assert attempt("supervisor-pass").status_code == 302
    assert client.get("/board").status_code == 200


def test_sign_in_without_csrf_is_refused(app):
    client = app.test_client()
    client.get("/login")
    r = client.post("/login", data={"username": "sup", "password": "supervisor-pass"})
    assert r.status_code == 400 and "安全令牌" in r.get_data(as_text=True)
    assert client.get("/board").status_code == 302  # still signed out


def test_api_roles_401_and_403(app):
    client = app.test_client()
    assert client.get("/api/v1/cases").status_code == 401
    assert client.get("/api/v1/cases", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/cases", headers={"Authorization": "Bearer t-display"}).status_code == 403
    assert client.get("/api/v1/cases", headers={"Authorization": "Bearer t-sup"}).status_code == 200
    sign_in(client, "clerk1")
    assert client.get("/api/v1/cases").status_code == 403
    assert client.get("/board").status_code == 403
    assert client.get("/admin").status_code == 403
    assert client.get("/api/v1/windows").status_code == 200  # clerks read the hall like a window token


def test_pages_by_role(app):
    sup, admin = app.test_client(), app.test_client()
    sign_in(sup, "sup")
    sign_in(admin, "admin")
    for path in ("/board", "/cases", "/reports", "/clerk"):
        assert sup.get(path).status_code == 200, path
    assert sup.get("/admin").status_code == 403
    page = admin.get("/admin").get_data(as_text=True)
    assert "只读" in page and "t-admin" not in page  # token names are shown, never their secrets


def test_session_post_needs_csrf(app):
    client = app.test_client()
    token = sign_in(client, "clerk1")
    r = post(client, "/api/v1/windows/1/login", None, {"staff": "1001"})
    assert r.status_code == 400 and r.json["error"] == "csrf"
    assert post(client, "/api/v1/windows/1/login", "forged", {"staff": "1001"}).status_code == 400
    r = post(client, "/api/v1/windows/1/login", token, {"staff": "1001"})
    assert r.status_code == 200 and r.json["result"] == "accepted"
    assert r.json["window"]["staff"]["number"] == "1001"


def test_clerk_acts_only_on_their_own_window(app):
    engine = app.config["ENGINE"]
    one, two = app.test_client(), app.test_client()
    t1, t2 = sign_in(one, "clerk1"), sign_in(two, "clerk2")
    assert post(one, "/api/v1/windows/1/call-next", t1).status_code == 403  # not signed in anywhere yet
    assert post(one, "/api/v1/windows/1/login", t1, {"staff": "1002"}).status_code == 403  # not their number
    assert post(one, "/api/v1/windows/1/login", t1, {"staff": "1001"}).status_code == 200
    assert post(two, "/api/v1/windows/1/login", t2, {"staff": "1002"}).status_code == 409  # window 1 is taken
    assert post(two, "/api/v1/windows/2/login", t2, {"staff": "1002"}).status_code == 200
    ticket = engine.issue("S101")
    r = post(one, "/api/v1/windows/2/call-next", t1)
    assert r.status_code == 403 and "window 1" in r.json["message"]
    r = post(one, "/api/v1/windows/1/call-next", t1)
    assert r.status_code == 200 and r.json["ticket"]["code"] == ticket.code
    assert "id" not in r.json["ticket"]  # the citizen's secret never reaches staff
    assert post(two, "/api/v1/windows/1/finish", t2).status_code == 403
    assert post(one, "/api/v1/windows/1/finish", t1, {"outcome": "done"}).status_code == 200
    assert engine.ticket(ticket.id).state == "finished"


def test_pinned_clerk_signs_in_only_at_their_window(app):
    store, config = app.config["ENGINE"].store, app.config["HALL"]
    add_user(store, config, "clerk3", "clerk3-pass", "clerk", staff="1003", window=3)
    client = app.test_client()
    token = page_csrf(client)
    client.post("/login", data={"username": "clerk3", "password": "clerk3-pass", "csrf_token": token})
    token = page_csrf(client, "/clerk")
    assert post(client, "/api/v1/windows/4/login", token, {"staff": "1003"}).status_code == 403
    assert post(client, "/api/v1/windows/3/login", token, {"staff": "1003"}).status_code == 200


def test_bearer_token_wins_and_needs_no_csrf(app):
    client = app.test_client()
    sign_in(client, "clerk1")
    r = client.post("/api/v1/windows/3/login", json={"staff": "1003"}, headers={"Authorization": "Bearer t-w3"})
    assert r.status_code == 200


def test_event_stream_accepts_a_session(app):
    client = app.test_client()
    assert client.get("/api/v1/events?once=1&last_event_id=0").status_code == 401
    sign_in(client, "sup")
    r = client.get("/api/v1/events?once=1&last_event_id=0")
    assert r.status_code == 200 and "event: user.added" in r.get_data(as_text=True)


def test_case_form_post_needs_csrf(app):
    from webhall import serve_one

    engine = app.config["ENGINE"]
    serve_one(engine)
    engine.rate(1, "evaluator", window=1)
    client = app.test_client()
    token = sign_in(client, "sup")
    r = client.post("/cases/1", data={"action": "call-back", "note": "已电话回访"})
    assert r.status_code == 400
    assert app.config["CASES"].get(1)["state"] == "open"
    r = client.post("/cases/1", data={"action": "call-back", "note": "已电话回访", "contact": "phone",
                                      "answer": "satisfied", "csrf_token": token})
    assert r.status_code == 302 and app.config["CASES"].get(1)["state"] == "called_back"
    r = client.post("/cases/1", data={"action": "close", "note": "办结", "csrf_token": token})
    assert r.status_code == 422 and "案件当前状态不能进行这一步" in r.get_data(as_text=True)


def test_sign_out_needs_csrf(app):
    client = app.test_client()
    token = sign_in(client, "sup")
    assert client.post("/logout").status_code == 400
    assert client.get("/board").status_code == 200
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/board").status_code == 302


def test_citizen_page_is_public_and_shows_only_its_ticket(app):
    engine = app.config["ENGINE"]
    engine.login(1, "1001")
    mine, other = engine.issue("S101"), engine.issue("S101")
    client = app.test_client()
    page = client.get(f"/t/{mine.id}").get_data(as_text=True)
    assert mine.code in page and "居民身份证" in page  # the materials list
    assert other.id not in page
    assert client.get("/t/not-a-ticket").status_code == 404
    assert client.get(f"/api/v1/tickets/{mine.id}/case").json == {"case": False, "can_rate_fix": False}


def test_user_command(tmp_path, monkeypatch, capsys):
    from hallq.cli import main

    config = "config/township.toml"
    db = str(tmp_path / "hall.db")
    monkeypatch.setenv("HQ_PW", "secret-pass-1")
    assert main(["user", "add", "--config", config, "--db", db, "--role", "supervisor", "--password-env", "HQ_PW",
                 "zhang"]) == 0
    assert main(["user", "add", "--config", config, "--db", db, "--role", "clerk", "--password-env", "HQ_PW",
                 "nostaff"]) == 2
    assert main(["user", "disable", "--db", db, "zhang"]) == 0
    assert main(["user", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "zhang" in out and "supervisor" in out and "(disabled)" in out


def test_event_stream_never_carries_a_ticket_id(app):
    """A refused rating names the ticket it tried (rating.refused); staff read the stream, and with the
    id they could rate on the citizen's behalf, so it is left out there too."""
    from webhall import serve_one

    t = serve_one(app.config["ENGINE"])
    citizen = app.test_client()
    assert citizen.post("/api/v1/ratings", json={"grade": 5, "channel": "qr", "ticket": t.id}).status_code == 201
    assert citizen.post("/api/v1/ratings", json={"grade": 1, "channel": "qr", "ticket": t.id}).status_code == 409
    clerk = app.test_client()
    sign_in(clerk, "clerk1")
    stream = clerk.get("/api/v1/events?once=1&last_event_id=0").get_data(as_text=True)
    assert "event: rating.refused" in stream and t.code in stream
    assert t.id not in stream
