"""The REST API over a real HTTP server on 127.0.0.1: auth, validation, masking, SSE, OpenAPI."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from hallfactory import small_hall
from liveserver import daytime_clock, next_slot, serve_app

from hallq.client import ApiClient, ApiError
from server.app import create_app


@pytest.fixture
def base(tmp_path):
    app = create_app(small_hall(all_day=True), tmp_path / "api.db", supervise=False)
    with serve_app(app) as url:
        yield url


def client(base, token=None):
    return ApiClient(base, token)


KIOSK, CALLER, W3, ADMIN, DISPLAY = "t-kiosk", "t-caller", "t-w3", "t-admin", "t-display"


def refused(fn, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn(*args, **kwargs)
    return err.value


def test_issue_ticket_returns_the_promised_fields(base):
    t = client(base, KIOSK).post("/tickets", {"service": "S101", "phone": "13812345678"})
    assert t["code"] == "A001" and t["waiting_ahead"] == 0
    assert {"id", "code", "waiting_ahead", "estimated_wait_minutes", "issued_at"} <= set(t)
    assert t["phone"] == "138****5678"
    assert len(t["id"]) >= 16  # unguessable
    public = client(base).get(f"/tickets/{t['id']}")
    assert public["code"] == "A001" and public["state"] == "waiting" and public["materials"] == ["居民身份证"]
    assert public["position"]["ahead"] == 0


def test_tokens_missing_wrong_and_without_the_right(base):
    body = {"service": "S101"}
    assert refused(client(base).post, "/tickets", body).status == 401
    err = refused(client(base, "nope").post, "/tickets", body)
    assert err.status == 401 and err.body["field"] == "Authorization"
    assert refused(client(base, DISPLAY).post, "/tickets", body).status == 403
    err = refused(client(base, W3).window, 1, "login", staff="1001")
    assert err.status == 403 and err.body["field"] == "window"
    assert client(base, W3).window(3, "login", staff="1003")["result"] == "accepted"
    assert refused(client(base).get, "/queue").status == 401
    assert refused(client(base).get, "/events").status == 401


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({}, 422, "service"),
        ({"service": 101}, 422, "service"),
        ({"service": "S101", "colour": "red"}, 422, "colour"),
        ({"service": "S404"}, 404, "service"),
        ({"service": "S101", "priority": "vip"}, 422, "priority"),
        ({"service": "S101", "phone": "x"}, 422, "phone"),
        ({"service": "S101", "appointment": "00000000"}, 404, "appointment"),
    ],
)
def test_bad_ticket_requests_name_the_field_and_issue_nothing(base, body, status, field):
    err = refused(client(base, KIOSK).post, "/tickets", body)
    assert (err.status, err.body["field"]) == (status, field)
    assert err.body["message"]
    assert client(base, DISPLAY).get("/stats/today")["issued"] == 0


def test_malformed_json_is_a_400(base):
    req = urllib.request.Request(base + "/api/v1/tickets", data=b"{nope", method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {KIOSK}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 400
    assert json.loads(err.value.read())["field"] == "body"


def test_window_actions_and_refusals(base):
    kiosk, caller = client(base, KIOSK), client(base, CALLER)
    kiosk.post("/tickets", {"service": "S101"})
    err = refused(caller.window, 1, "call-next")
    assert (err.status, err.code, err.body["field"]) == (409, "window_unstaffed", "window")
    caller.window(1, "login", staff="1001")
    called = caller.window(1, "call-next")
    assert called["result"] == "accepted" and called["ticket"]["code"] == "A001"
    assert "id" not in called["ticket"]  # staff never see the citizen's secret id
    assert called["window"]["state"] == "called"
    assert caller.window(1, "recall")["ticket"]["code"] == "A001"
    assert refused(caller.window, 1, "finish", outcome="great").body["field"] == "outcome"
    assert refused(caller.window, 1, "transfer", to_window="3").body["field"] == "to_window"
    assert refused(caller.window, 1, "dance").status == 404
    assert caller.window(1, "finish", outcome="done")["result"] == "accepted"
    assert caller.window(1, "call-next") == {**caller.window(1, "call-next"), "result": "nothing_to_do", "ticket": None}
    windows = caller.get("/windows")["windows"]
    assert [w["state"] for w in windows[:2]] == ["idle", "unstaffed"]


def test_ratings_only_from_the_right_channel(base):
    kiosk, caller, w3 = client(base, KIOSK), client(base, CALLER), client(base, W3)
    t = kiosk.post("/tickets", {"service": "S201"})
    w3.window(3, "login", staff="1003")
    w3.window(3, "call-next")
    w3.window(3, "finish")
    # A clerk's window token can never enter a grade on the evaluator channel.
    assert refused(w3.post, "/ratings", {"grade": 5, "channel": "evaluator", "window": 3}).status == 403
    assert refused(client(base).post, "/ratings", {"grade": 5, "channel": "evaluator", "window": 3}).status == 403
    assert caller.post("/ratings", {"grade": 2, "channel": "evaluator", "window": 3, "reason": "efficiency"})["rated"]
    err = refused(client(base).post, "/ratings", {"grade": 5, "channel": "qr", "ticket": t["id"]})
    assert (err.status, err.code) == (409, "already_rated")
    assert client(base).get(f"/tickets/{t['id']}")["rating"] == {"can_rate": False, "reason": "rated", "grade": 2}


def test_supplementary_rating_through_the_ticket_page(base):
    kiosk, caller = client(base, KIOSK), client(base, CALLER)
    t = kiosk.post("/tickets", {"service": "S101"})
    caller.window(1, "login", staff="1001")
    caller.window(1, "call-next")
    caller.window(1, "finish")
    caller.post("/ratings", {"grade": 0, "channel": "evaluator", "window": 1})  # timed out
    page = client(base).get(f"/tickets/{t['id']}")
    assert page["rating"]["can_rate"] is True
    assert client(base).post("/ratings", {"grade": 4, "channel": "qr", "ticket": t["id"]})["grade"] == 4


def test_menu_queue_stats_and_masking(base):
    kiosk, display = client(base, KIOSK), client(base, DISPLAY)
    kiosk.post("/tickets", {"service": "S101", "phone": "13812345678", "name": "张三丰"})
    menu = client(base).get("/services")
    s101 = next(s for s in menu["services"] if s["code"] == "S101")
    assert s101["waiting"] == 1 and s101["name"] == "社会保障卡申领" and s101["materials"] == ["居民身份证"]
    assert any(s["kind"] == "bundle" and s["steps"] == ["S201", "S202"] for s in menu["services"])
    queue = display.get("/queue")
    assert queue["waiting"] == 1 and queue["waiting_by_service"] == {"S101": 1}
    row = queue["tickets"][0]
    assert row["phone"] == "138****5678" and row["name"] == "张*丰" and "id" not in row
    assert queue["oldest_waiting_by_service"] == {"S101": row["issued_at"]}
    # The supervisor board's read on every event: the counts without the list (~1 MB in a big hall).
    assert display.get("/queue?tickets=0") == {**queue, "tickets": []}
    assert display.get("/stats/today")["issued"] == 1


def test_appointments_book_and_find(tmp_path):
    app = create_app(small_hall(all_day=True), tmp_path / "api.db", clock=daytime_clock(), supervise=False)
    with serve_app(app) as base:
        _book_and_find(base, next_slot(app.config["ENGINE"].now()))


def _book_and_find(base, slot):
    admin, kiosk = client(base, ADMIN), client(base, KIOSK)
    appt = admin.post("/appointments", {"service": "S101", "slot_start": slot.isoformat(), "phone": "13900001111"})
    assert len(appt["code"]) == 8 and appt["phone"] == "139****1111"
    assert refused(kiosk.post, "/appointments", {"service": "S101", "slot_start": slot.isoformat(),
                                                 "phone": "1"}).status == 403
    assert refused(admin.post, "/appointments", {"service": "S101", "slot_start": "tomorrow",
                                                 "phone": "13900001111"}).body["field"] == "slot_start"
    found = kiosk.get("/appointments?phone=13900001111")["appointments"]
    assert [a["code"] for a in found] == [appt["code"]]


def read_events(base, token, last_id=None, once=True) -> list[dict]:
    url = base + "/api/v1/events?once=1" if once else base + "/api/v1/events"
    headers = {"Authorization": f"Bearer {token}"}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        text = resp.read().decode()
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in lines:
            ev = json.loads(lines["data"])
            assert int(lines["id"]) == ev["id"] and lines["event"] == ev["type"]
            events.append(ev)
    return events


def test_event_stream_is_resumable_and_leaks_no_ticket_ids(base):
    kiosk, caller = client(base, KIOSK), client(base, CALLER)
    t = kiosk.post("/tickets", {"service": "S101"})
    caller.window(1, "login", staff="1001")
    caller.window(1, "call-next")
    events = read_events(base, DISPLAY, last_id=0)
    assert [e["type"] for e in events] == ["ticket.issued", "window.login", "ticket.called"]
    assert t["id"] not in json.dumps(events)
    resumed = read_events(base, DISPLAY, last_id=events[1]["id"])
    assert [e["type"] for e in resumed] == ["ticket.called"]
    assert resumed[0]["data"]["window_name"] == "综合窗口1" and resumed[0]["ticket_code"] == "A001"


def test_event_stream_delivers_live_changes(base):
    got: list[dict] = []
    stop = threading.Event()

    def follow():
        for ev in client(base, DISPLAY).events(stop=stop):
            got.append(ev)
            if ev["type"] == "ticket.issued":
                stop.set()
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    import time

    deadline = time.monotonic() + 5
    while not any(e["type"] == "_connected" for e in got) and time.monotonic() < deadline:
        time.sleep(0.02)
    client(base, KIOSK).post("/tickets", {"service": "S102"})
    reader.join(timeout=10)
    assert [e["type"] for e in got] == ["_connected", "ticket.issued"]
    assert got[1]["ticket_code"] == "A001"


def test_openapi_document_covers_every_call(base):
    doc = client(base).get("/openapi.json")
    assert doc["openapi"].startswith("3.")
    for path in ["/services", "/tickets", "/tickets/{ticket_id}", "/ratings", "/windows", "/queue", "/stats/today",
                 "/events"] + [f"/windows/{{number}}/{a}" for a in
                               ["login", "logout", "call-next", "recall", "no-show", "park", "call-back", "call",
                                "transfer", "finish", "pause", "resume", "invite-rating"]]:
        assert path in doc["paths"], path
    assert doc["paths"]["/tickets"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == ["service"]


def test_unknown_api_path_is_json_404(base):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/api/v1/nothing-here")
    assert err.value.code == 404
    assert json.loads(err.value.read())["error"] == "not_found"


def test_every_api_route_declares_its_documentation_and_the_document_lists_it(tmp_path):
    """Every /api/v1 route the hall's app serves carries its @spec declaration (server/api/spec.py),
    and the served document lists it under the route's own variable names."""
    import re

    from server.api.spec import declared

    app = create_app(small_hall(all_day=True), tmp_path / "o.db", supervise=False)
    doc = app.test_client().get("/api/v1/openapi.json").json
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        spec = declared(app.view_functions[rule.endpoint])
        assert spec is not None, f"{rule.rule} ({rule.endpoint}) has no @spec declaration"
        if not spec.listed:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            wanted = [path.replace("{action}", a) for a in spec.variants[1]] if spec.variants else [path]
            for where in wanted:
                assert (where, method) in documented, f"{method} {where} is not in openapi.json"
                params = {p["name"] for p in doc["paths"][where][method.lower()].get("parameters", [])
                          if p["in"] == "path"}
                assert params == set(re.findall(r"\{([^}]+)\}", where)), where
                checked += 1
    assert checked >= 60


def test_a_route_without_a_declaration_cannot_be_documented():
    """The document is generated from the routes: one that declares nothing fails it, naming itself."""
    from flask import Blueprint

    from server.api.routes import blueprints
    from server.openapi import document

    undeclared = Blueprint("undeclared", __name__)
    undeclared.add_url_rule("/nothing-said", "quiet", lambda: "")
    assert "/health" in document(small_hall(all_day=True), (*blueprints(),))["paths"]
    with pytest.raises(LookupError, match="/api/v1/nothing-said"):
        document(small_hall(all_day=True), (*blueprints(), undeclared))


def _post_raw(base, path, data: bytes, token=KIOSK):
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    return err.value.code, json.loads(err.value.read())


def test_deeply_nested_or_oversized_bodies_are_refused_not_500(base):
    status, body = _post_raw(base, "/tickets", b"[" * 5000 + b"]" * 5000)  # under the size limit
    assert (status, body["field"]) == (400, "body")
    big = json.dumps({"service": "S101", "name": "x" * 100_000}).encode()
    status, body = _post_raw(base, "/tickets", big)
    assert (status, body["field"]) == (413, "body")
    assert client(base, DISPLAY).get("/stats/today")["issued"] == 0


@pytest.mark.parametrize("window", [10**30, -3, 999])
def test_alert_for_a_window_the_hall_lacks_is_refused_by_name(base, window):
    err = refused(client(base, CALLER).post, "/alerts",
                  {"kind": "device_offline", "source": "strip:9", "active": True, "window": window})
    assert (err.status, err.body["field"]) == (404, "window")
    assert client(base, ADMIN).get("/alerts")["alerts"] == []


def test_only_a_kiosk_gets_the_secret_id_of_a_ticket_it_issues(base):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    staff_issued = client(base, CALLER).post("/tickets", {"service": "S101"})
    assert staff_issued["code"] == "A001" and "id" not in staff_issued and "page" not in staff_issued
    assert "id" in client(base, KIOSK).post("/tickets", {"service": "S101"})
    # Appointment codes can be exchanged for tickets: they stay out of the staff event stream.
    slot = datetime.now(ZoneInfo("Asia/Shanghai")).replace(second=0, microsecond=0) + timedelta(hours=1)
    slot = slot.replace(minute=(slot.minute // 30) * 30)
    appt = client(base, ADMIN).post("/appointments", {"service": "S101", "slot_start": slot.isoformat(),
                                                       "phone": "13900001111"})
    events = read_events(base, DISPLAY, last_id=0)
    booked = next(e for e in events if e["type"] == "appointment.booked")
    assert appt["code"] not in json.dumps(events) and "code" not in booked["data"]


def test_issuing_with_a_request_id_is_idempotent(base):
    kiosk = client(base, KIOSK)
    body = {"service": "S101", "request_id": "K1-20261123-000042"}
    first = kiosk.post("/tickets", body)
    req = urllib.request.Request(base + "/api/v1/tickets", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {KIOSK}"})
    with urllib.request.urlopen(req) as resp:
        assert resp.headers["Idempotent-Replayed"] == "true"  # the first answer again, nothing new issued
        again = json.loads(resp.read())
    assert again["id"] == first["id"] and again["code"] == first["code"] == "A001"
    assert client(base, DISPLAY).get("/stats/today")["issued"] == 1
    assert refused(kiosk.post, "/tickets", {"service": "S101", "request_id": "x"}).body["field"] == "request_id"
