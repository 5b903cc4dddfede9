"""No ghost actions: a write is applied once, and never after its deadline (real HTTP, real SQLite)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from hallfactory import small_hall
from liveserver import serve_app

from hallq.client import ApiClient
from hallq.model import Token
from server import deadline
from server.app import create_app
from server.errors import Expired
from server.serving import BackgroundServer
from server.store import Changes, Store

KIOSK, KIOSK2, CALLER = "t-kiosk", "t-kiosk2", "t-caller"


def two_kiosk_hall():
    hall = small_hall(all_day=True)
    return replace(hall, tokens=hall.tokens + (Token("kiosk2", "kiosk", KIOSK2),))


def post(base: str, path: str, body: dict | None = None, token: str = KIOSK, key: str | None = None,
         timeout_ms: int | None = None, raw: bytes | None = None) -> tuple[int, dict, dict]:
    """(status, headers, JSON) of one POST; error answers too."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    if timeout_ms is not None:
        headers["Request-Timeout-Ms"] = str(timeout_ms)
    data = raw if raw is not None else json.dumps(body or {}).encode()
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read() or b"{}")


def count(app, sql: str, params=()) -> int:
    return app.config["ENGINE"].store.rows(sql, params)[0]["n"]


def tickets(app) -> int:
    return count(app, "SELECT COUNT(*) AS n FROM tickets")


def events(app, kind: str) -> int:
    return count(app, "SELECT COUNT(*) AS n FROM events WHERE type = ?", [kind])


@pytest.fixture
def served(tmp_path):
    app = create_app(two_kiosk_hall(), tmp_path / "idem.db", supervise=False)
    with serve_app(app) as url:
        yield url, app


def test_a_write_whose_deadline_passes_behind_the_engine_lock_is_never_applied(served):
    base, app = served
    engine = app.config["ENGINE"]
    assert post(base, "/windows/1/login", {"staff": "1001"}, CALLER)[0] == 200
    assert post(base, "/tickets", {"service": "S101"})[0] == 201
    with engine._lock:  # another action holds the hall longer than these clients wait
        started = time.monotonic()
        status, headers, body = post(base, "/tickets", {"service": "S101"}, key="kiosk-tap-0001", timeout_ms=300)
        assert status == 503 and body["error"] == "expired" and body["field"] == "Request-Timeout-Ms"
        assert headers["Retry-After"] == "1" and time.monotonic() - started < 3
        status, _, body = post(base, "/windows/1/call-next", token=CALLER, timeout_ms=300)
        assert status == 503 and body["error"] == "expired"
    # The lock is free now: nothing of either request was applied, then or later.
    assert post(base, "/windows/2/login", {"staff": "1002"}, CALLER)[0] == 200  # passes through the lock
    assert tickets(app) == 1 and events(app, "ticket.called") == 0
    # An expired try is not remembered: its retry runs.
    status, headers, body = post(base, "/tickets", {"service": "S101"}, key="kiosk-tap-0001", timeout_ms=2000)
    assert status == 201 and body["code"] == "A002" and "Idempotent-Replayed" not in headers
    assert tickets(app) == 2


def test_a_retry_gets_the_first_answer_and_is_applied_once(served):
    base, app = served
    first = post(base, "/tickets", {"service": "S101"}, key="tap-000000001")
    again = post(base, "/tickets", {"service": "S101"}, key="tap-000000001")
    assert first[0] == again[0] == 201 and again[2] == first[2] and again[1]["Idempotent-Replayed"] == "true"
    assert post(base, "/windows/1/login", {"staff": "1001"}, CALLER)[0] == 200
    call = post(base, "/windows/1/call-next", token=CALLER, key="keypad-1-0000001")
    recall = post(base, "/windows/1/call-next", token=CALLER, key="keypad-1-0000001")
    assert call[0] == 200 and call[2]["ticket"]["code"] == "A001" and recall[2] == call[2]
    assert tickets(app) == 1 and events(app, "ticket.called") == 1


def test_a_retry_while_the_first_try_runs_waits_for_its_answer(served):
    base, app = served
    engine, log = app.config["ENGINE"], app.config["REQUEST_LOG"]
    answers: list[tuple] = []

    def tap() -> None:
        answers.append(post(base, "/tickets", {"service": "S101"}, key="tap-slow-00001", timeout_ms=8000))

    with engine._lock:
        first = threading.Thread(target=tap)
        first.start()
        until = time.monotonic() + 5
        while not log._flights and time.monotonic() < until:  # the first try is in, behind the lock
            time.sleep(0.01)
        assert log._flights
        second = threading.Thread(target=tap)
        second.start()
        time.sleep(0.2)
    first.join(10)
    second.join(10)
    assert len(answers) == 2 and answers[0][2] == answers[1][2] and answers[0][2]["code"] == "A001"
    assert tickets(app) == 1


def test_keys_are_scoped_to_their_token_and_bound_to_their_request(served):
    base, app = served
    a = post(base, "/tickets", {"service": "S101", "request_id": "K1-20261123-000042"}, KIOSK)
    b = post(base, "/tickets", {"service": "S101", "request_id": "K1-20261123-000042"}, KIOSK2)
    assert a[0] == b[0] == 201 and a[2]["code"] == "A001" and b[2]["code"] == "A002" and a[2]["id"] != b[2]["id"]
    again = post(base, "/tickets", {"service": "S101", "request_id": "K1-20261123-000042"}, KIOSK)
    assert again[2]["id"] == a[2]["id"]
    other = post(base, "/tickets", {"service": "S102", "request_id": "K1-20261123-000042"}, KIOSK)
    assert other[0] == 409 and other[2]["error"] == "idempotency_key_reused" and other[2]["field"] == "request_id"
    post(base, "/tickets", {"service": "S101"}, KIOSK, key="header-key-0001")
    status, _, body = post(base, "/tickets", {"service": "S102"}, KIOSK, key="header-key-0001")
    assert status == 409 and body["error"] == "idempotency_key_reused" and body["field"] == "Idempotency-Key"
    assert tickets(app) == 3


def test_bad_headers_are_refused_by_name_and_apply_nothing(served):
    base, app = served
    status, _, body = post(base, "/tickets", {"service": "S101"}, key="short")
    assert status == 400 and body["field"] == "Idempotency-Key"
    status, _, body = post(base, "/tickets", {"service": "S101"}, key="no spaces allowed")
    assert status == 400 and body["field"] == "Idempotency-Key"
    status, _, body = post(base, "/tickets", {"service": "S101"}, timeout_ms=0)
    assert status == 422 and body["field"] == "Request-Timeout-Ms"
    assert tickets(app) == 0


def test_a_refusal_is_replayed_but_only_from_memory(served):
    base, app = served
    status, _, body = post(base, "/windows/1/call-next", token=CALLER, key="keypad-1-0000002")
    assert status == 409 and body["error"] == "window_unstaffed"
    assert post(base, "/windows/1/login", {"staff": "1001"}, CALLER)[0] == 200
    status, headers, again = post(base, "/windows/1/call-next", token=CALLER, key="keypad-1-0000002")
    assert status == 409 and again == body and headers["Idempotent-Replayed"] == "true"
    assert count(app, "SELECT COUNT(*) AS n FROM requests WHERE key = 'keypad-1-0000002'") == 0


def test_a_retry_after_a_restart_is_answered_from_the_row_and_applies_nothing(tmp_path):
    hall, db = two_kiosk_hall(), tmp_path / "restart.db"
    app = create_app(hall, db, supervise=False)
    server = BackgroundServer(app).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        post(base, "/windows/1/login", {"staff": "1001"}, CALLER)
        ticket = post(base, "/tickets", {"service": "S101"}, key="lost-answer-0001")[2]
        kept = post(base, "/tickets", {"service": "S102"}, key="lost-answer-0003")  # writes 0001's answer
        call = post(base, "/windows/1/call-next", token=CALLER, key="lost-answer-0002")[2]  # and 0003's
    finally:
        server.stop()  # the process "dies": no stop_app, so call-next's answer never reaches its row
    store = Store(db)  # and say the write of the first answer was lost too
    store.db.execute("UPDATE requests SET body = NULL, status = NULL WHERE key = 'lost-answer-0001'")
    store.close()
    app2 = create_app(hall, db, supervise=False)
    with serve_app(app2) as base2:
        status, headers, again = post(base2, "/tickets", {"service": "S101"}, key="lost-answer-0001")
        assert status == 200 and again["replayed"] is True and headers["Idempotent-Replayed"] == "true"
        assert again["id"] == ticket["id"] and again["code"] == "A001" and again["state"] == "called"
        status, _, recall = post(base2, "/windows/1/call-next", token=CALLER, key="lost-answer-0002")
        assert status == 200 and recall["replayed"] and recall["ticket"]["code"] == call["ticket"]["code"] == "A001"
        assert recall["window"]["current"]["code"] == "A001"
        status, _, exact = post(base2, "/tickets", {"service": "S102"}, key="lost-answer-0003")
        assert status == 201 and exact == {**kept[2], "replayed": True}
        # Another token with the same key is another request; a changed body is refused.
        assert post(base2, "/tickets", {"service": "S101"}, KIOSK2, key="lost-answer-0001")[2]["code"] == "A003"
        assert post(base2, "/tickets", {"service": "S102"}, key="lost-answer-0001")[0] == 409
        assert tickets(app2) == 3 and events(app2, "ticket.called") == 1


def test_the_store_never_begins_a_change_past_the_deadline_but_finishes_what_follows(tmp_path):
    store = Store(tmp_path / "s.db")
    followed = []

    def listener(written: list[dict]) -> None:  # like the case book opening a case for a bad rating
        if written and written[0]["type"] == "x.first":
            time.sleep(0.1)  # the request's deadline passes meanwhile: its action is applied already
            ch = Changes()
            ch.event(ts="2026-11-23T09:00:00+08:00", type="x.follow")
            followed.append(store.commit(ch))

    store.subscribe(listener)
    ch = Changes()
    ch.event(ts="2026-11-23T09:00:00+08:00", type="x.first")
    token = deadline.set_deadline(time.monotonic() - 0.001)
    try:
        with pytest.raises(Expired):
            store.commit(ch)
        assert store.last_event_id() == 0
        deadline.reset(token)
        token = deadline.set_deadline(time.monotonic() + 0.05)
        store.commit(ch)
    finally:
        deadline.reset(token)
    assert [e["type"] for e in store.events_after(0)] == ["x.first", "x.follow"] and followed


def test_the_client_names_every_write_and_gives_up_after_the_server(tmp_path):
    app = create_app(two_kiosk_hall(), tmp_path / "client.db", supervise=False)
    inner, seen = app.wsgi_app, []

    def record(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            seen.append((environ.get("HTTP_IDEMPOTENCY_KEY"), environ.get("HTTP_REQUEST_TIMEOUT_MS")))
        return inner(environ, start_response)

    app.wsgi_app = record
    with serve_app(app) as base:
        api = ApiClient(base, KIOSK, timeout=2.0)
        api.post("/tickets", {"service": "S101"})
        api.post("/tickets", {"service": "S101"})
        api.post("/tickets", {"service": "S101"}, idempotency_key="retry-of-one-action")
        api.post("/tickets", {"service": "S101"}, idempotency_key="retry-of-one-action")
        ApiClient(base, CALLER, timeout=1.0).window(1, "login", staff="1001")
    keys = [k for k, _ in seen]
    assert all(keys) and keys[0] != keys[1] and keys[2] == keys[3] == "retry-of-one-action"
    assert [ms for _, ms in seen] == ["1600", "1600", "1600", "1600", "800"]
    assert tickets(app) == 3


def test_alerts_and_cases_wait_no_longer_than_the_deadline_either(served):
    base, app = served
    with app.config["ALERTS"]._lock:
        status, _, body = post(base, "/alerts", {"kind": "device_offline", "source": "strip:3", "active": True},
                               CALLER, timeout_ms=300)
    assert status == 503 and body["error"] == "expired"
    assert count(app, "SELECT COUNT(*) AS n FROM alerts") == 0


def test_request_rows_older_than_two_days_are_purged(tmp_path):
    db = tmp_path / "purge.db"
    store = Store(db)
    for key, at in (("old-key-0001", "2020-01-01T00:00:00+00:00"), ("new-key-0001", "2999-01-01T00:00:00+00:00")):
        store.db.execute("INSERT INTO requests (scope, key, fingerprint, created_at) VALUES ('kiosk', ?, 'x', ?)",
                         [key, at])
    store.close()
    app = create_app(two_kiosk_hall(), db, supervise=False)
    with serve_app(app) as base:
        assert post(base, "/tickets", {"service": "S101"}, key="purging-key-01")[0] == 201
        keys = {r["key"] for r in app.config["ENGINE"].store.rows("SELECT key FROM requests")}
    assert keys == {"new-key-0001", "purging-key-01"}
