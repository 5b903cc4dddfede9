"""Appointments (预约) with capacity, change and cancel, SMS consent carried to the ticket, and
no-shows in the reports; the notifier's reads (/sms/watch, /sms/reminders) show only consenting
citizens and only to the notifier and admin tokens."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drivers.sim.idcard import id_number
from hallq.client import ApiClient, ApiError
from hallq.model import Appointments, Token
from server.app import create_app
from server.clock import ManualClock
from server.errors import Conflict, Invalid, NotFound
from tests.hallfactory import small_hall
from tests.liveserver import serve_app

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def rig(tmp_path):
    base = small_hall(all_day=True)
    config = dataclasses.replace(base, appointments=Appointments(days_ahead=3, slot_capacity=2, capacities={"S102": 1}),
                                 tokens=base.tokens + (Token("sms", "notifier", "t-sms"),))
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ))
    app = create_app(config, tmp_path / "hall.db", clock=clock, supervise=False)
    with serve_app(app) as url:
        yield app.config["ENGINE"], clock, url


def test_capacity_per_slot_and_matter_and_days_ahead(rig):
    engine, clock, _ = rig
    slot = datetime(2026, 12, 2, 9, 30, tzinfo=TZ)
    engine.book("S101", slot, "13800000001")
    engine.book("S101", slot, "13800000002")
    with pytest.raises(Conflict) as full:
        engine.book("S101", slot, "13800000003")
    assert full.value.code == "slot_full" and full.value.field == "slot_start"
    engine.book("S102", slot, "13800000004")  # another matter has its own room
    with pytest.raises(Conflict):
        engine.book("S102", slot, "13800000005")  # capacities.S102 = 1
    with pytest.raises(Invalid) as far:
        engine.book("S101", slot + timedelta(days=5), "13800000006", days_ahead=3)
    assert "3 days ahead" in far.value.message


def test_change_and_cancel_by_code_and_phone_digits_free_the_slot(rig):
    engine, clock, _ = rig
    slot = datetime(2026, 12, 2, 9, 30, tzinfo=TZ)
    a = engine.book("S101", slot, "13800000001", id_number=id_number("420106", date(1950, 3, 8), 242))
    engine.book("S101", slot, "13800000002")
    with pytest.raises(NotFound):
        engine.cancel_appointment(a["code"], "9999")  # wrong digits look like a wrong code
    moved = engine.move_appointment(a["code"], slot + timedelta(hours=1), "0001")
    assert moved["code"] == a["code"] and moved["slot_start"].startswith("2026-12-02T10:30")
    assert moved["id_key"] == a["id_key"]  # same day: the card still finds it
    engine.book("S101", slot, "13800000003")  # the room it left
    engine.cancel_appointment(a["code"], "0001")
    with pytest.raises(Conflict):
        engine.move_appointment(a["code"], slot + timedelta(hours=2), "0001")
    assert engine.store.rows("SELECT state FROM appointments WHERE code = ?", [a["code"]])[0]["state"] == "cancelled"


def test_consent_goes_from_the_appointment_to_the_ticket_and_reminders_list_only_consenting(rig):
    engine, clock, url = rig
    slot = datetime(2026, 12, 1, 9, 30, tzinfo=TZ)
    yes = engine.book("S101", slot, "13800000001", sms=True)
    engine.book("S101", slot, "13800000002")
    t = engine.issue("S101", appointment=yes["code"])
    assert t.sms and t.phone == "13800000001" and t.priority == "appointment"
    tomorrow = engine.book("S101", slot + timedelta(days=1), "13800000003", sms=True)
    engine.book("S101", slot + timedelta(days=1), "13800000004")
    notifier, kiosk = ApiClient(url, "t-sms"), ApiClient(url, "t-kiosk")
    got = notifier.get("/sms/reminders?day=2026-12-02")["appointments"]
    assert [(r["code"], r["phone"], r["service_name"]) for r in got] == [(tomorrow["code"], "13800000003", "社会保障卡申领")]
    watch = notifier.get("/sms/watch")["tickets"]
    assert [(w["code"], w["phone"], w["state"]) for w in watch] == [(t.code, "13800000001", "waiting")]
    for path in ("/sms/watch", "/sms/reminders?day=2026-12-02"):
        with pytest.raises(ApiError) as refused:
            kiosk.get(path)  # full phone numbers: the notifier's (and admin's) alone
        assert refused.value.status == 403
    with pytest.raises(ApiError) as no_phone:
        kiosk.post("/tickets", {"service": "S101", "sms": True})
    assert no_phone.value.status == 422 and no_phone.value.body["field"] == "sms"
    notifier.post("/sms/opt-out", {"phone": "13800000003"})  # the citizen replied TD
    assert notifier.get("/sms/reminders?day=2026-12-02")["appointments"] == []


def test_no_shows_are_counted_in_reports(rig):
    engine, clock, url = rig
    came = engine.book("S101", datetime(2026, 12, 1, 9, 30, tzinfo=TZ), "13800000001")
    engine.book("S101", datetime(2026, 12, 1, 10, 0, tzinfo=TZ), "13800000002")  # never comes
    gone = engine.book("S101", datetime(2026, 12, 1, 10, 0, tzinfo=TZ), "13800000003")
    engine.book("S101", datetime(2026, 12, 1, 15, 0, tzinfo=TZ), "13800000004")  # later today: not yet a no-show
    engine.issue("S101", appointment=came["code"])
    engine.cancel_appointment(gone["code"], "0003")
    clock.set(datetime(2026, 12, 1, 11, 0, tzinfo=TZ))
    body = ApiClient(url, "t-sup").get("/reports?period=day&date=2026-12-01")
    assert body["appointments"] == {"booked": 3, "checked_in": 1, "cancelled": 1, "no_show": 1}


def test_the_booking_forms_are_limited_per_address(rig):
    import http.cookiejar
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    engine, clock, url = rig
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{url}/book/manage", timeout=5).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "code": "12345678", "phone_last4": "0000"}).encode()
    statuses = []
    for _ in range(31):  # walking through codes: 30 tries a minute per address
        try:
            statuses.append(opener.open(f"{url}/book/manage", data=form, timeout=5).status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    assert statuses[:30] == [404] * 30 and statuses[30] == 429
