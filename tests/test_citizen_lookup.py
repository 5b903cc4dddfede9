"""ID card look-ups and reopening a phone ticket, over a real HTTP server and SQLite file:
only the citizen's own tickets, the ID number never stored, limits on guessing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date

import pytest
from hallfactory import small_hall
from liveserver import daytime_clock, next_slot, serve_app

from drivers.sim.idcard import id_number
from hallq.client import ApiClient, ApiError
from server.app import create_app

KIOSK, ADMIN = "t-kiosk", "t-admin"
OLD = id_number("420106", date(1950, 3, 8), 242)
YOUNG = id_number("420106", date(1990, 1, 1), 371)


@pytest.fixture
def hall(tmp_path):
    db = tmp_path / "hall.db"
    app = create_app(small_hall(all_day=True), db, clock=daytime_clock(), supervise=False)
    with serve_app(app) as url:
        yield url, db, app


def refused(fn, *args) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn(*args)
    return err.value


def every_stored_text(db) -> str:
    con = sqlite3.connect(db)
    try:
        out = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in con.execute(f"SELECT * FROM [{table}]"):
                out.append(" ".join(str(v) for v in row))
        return "\n".join(out)
    finally:
        con.close()


def digests_without_a_secret(path: str, body: dict) -> set[str]:
    """What anyone holding a copy of the database could compute for a guessed ID number: plain hashes
    of the request body as ApiClient sends it (with its method and path) and of the number itself.
    A masked number leaves ~10^6 guesses: any of these stored gives the full number in seconds."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    out = set()
    for data in (b"POST " + path.encode() + b"\n" + raw, raw, body["id_number"].encode()):
        out |= {hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest()}
    return out


def test_an_id_card_finds_only_its_citizens_tickets_and_appointment_and_is_never_stored(hall):
    url, db, app = hall
    kiosk, admin = ApiClient(url, KIOSK), ApiClient(url, ADMIN)
    slot = next_slot(app.config["ENGINE"].now())
    appt = admin.post("/appointments", {"service": "S102", "slot_start": slot.isoformat(), "phone": "13900001111",
                                        "id_number": OLD})
    assert appt["id_number"] == "4201**********" + OLD[-4:]
    mine = kiosk.post("/tickets", {"service": "S101", "id_number": OLD, "name": "王秀英"})
    assert mine["priority"] == "green" and mine["name"] == "王*英"
    other = kiosk.post("/tickets", {"service": "S101", "id_number": YOUNG, "name": "李建国"})
    assert other["priority"] == "normal"
    kiosk.post("/tickets", {"service": "S101"})

    today = kiosk.post("/citizens/today", {"id_number": OLD})
    assert [t["code"] for t in today["tickets"]] == [mine["code"]]
    assert today["tickets"][0]["id"] == mine["id"]  # the kiosk may show its QR code again
    assert [a["code"] for a in today["appointments"]] == [appt["code"]]
    # The card's appointment is checked in with its code, like one typed in.
    checked = kiosk.post("/tickets", {"service": "S102", "appointment": appt["code"], "id_number": OLD})
    assert checked["priority"] == "appointment"
    assert kiosk.post("/citizens/today", {"id_number": OLD})["appointments"] == []
    assert [t["code"] for t in kiosk.post("/citizens/today", {"id_number": YOUNG})["tickets"]] == [other["code"]]

    text = every_stored_text(db)
    assert OLD not in text and YOUNG not in text and OLD[:14] not in text  # masked only (datasheet §6)
    # Nor a digest of it anyone can compute (the idempotency fingerprint of the request is keyed).
    sent = [("/api/v1/appointments", {"service": "S102", "slot_start": slot.isoformat(), "phone": "13900001111",
                                      "id_number": OLD}),
            ("/api/v1/tickets", {"service": "S101", "id_number": OLD, "name": "王秀英"}),
            ("/api/v1/tickets", {"service": "S102", "appointment": appt["code"], "id_number": OLD}),
            ("/api/v1/citizens/today", {"id_number": OLD})]
    guessable = set().union(*(digests_without_a_secret(path, body) for path, body in sent))
    assert not {d for d in guessable if d in text}
    assert refused(kiosk.post, "/citizens/today", {"id_number": OLD[:17] + "0"}).body["field"] == "id_number"
    assert refused(ApiClient(url, "t-caller").post, "/citizens/today", {"id_number": OLD}).status == 403


def test_a_phone_ticket_is_found_again_by_its_code_and_the_phones_last_4_digits(hall):
    url, _, _ = hall
    kiosk, citizen = ApiClient(url, KIOSK), ApiClient(url)
    t = kiosk.post("/tickets", {"service": "S101", "phone": "13812345678"})
    kiosk.post("/tickets", {"service": "S101", "phone": "13800005678"})  # same last 4, another code
    found = citizen.post("/tickets/find", {"code": t["code"].lower(), "phone_last4": "5678"})
    assert found["id"] == t["id"] and found["page"] == f"/t/{t['id']}" and found["phone"] == "138****5678"
    wrong_digits = refused(citizen.post, "/tickets/find", {"code": t["code"], "phone_last4": "1234"})
    wrong_code = refused(citizen.post, "/tickets/find", {"code": "A999", "phone_last4": "5678"})
    assert wrong_digits.status == wrong_code.status == 404 and wrong_digits.body == wrong_code.body
    no_phone = kiosk.post("/tickets", {"service": "S101"})
    assert refused(citizen.post, "/tickets/find", {"code": no_phone["code"], "phone_last4": "0000"}).status == 404
    assert refused(citizen.post, "/tickets/find", {"code": t["code"], "phone_last4": "56"}).body["field"] == "phone_last4"


def test_guessing_ticket_codes_is_limited_per_address(hall):
    url, _, _ = hall
    citizen = ApiClient(url)
    statuses = []
    for n in range(31):
        try:
            citizen.post("/tickets/find", {"code": f"A{n:03d}", "phone_last4": "0000"})
        except ApiError as exc:
            statuses.append(exc.status)
    assert statuses[:30] == [404] * 30 and statuses[30] == 429
