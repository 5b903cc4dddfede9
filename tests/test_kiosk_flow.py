"""The kiosk end to end: finger taps on the headless pygame screen, a real server, a printer on a pty."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

from kioskrig import Rig, issued_count

from drivers.sim import wait_for
from kiosk.app import CONFIRM, MATTERS, START, TICKET


def get_json(url: str, token: str | None = None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def take_ticket(rig: Rig, category: str = "社保医保", matter: str = "S101") -> dict:
    rig.tap(("category", category))
    rig.tap(("matter", matter))
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.screen == TICKET
    return rig.app.issued.ticket


def test_whole_flow_prints_the_number_the_server_issued(rig, server):
    before = issued_count(server)
    rig.shot("01-start")
    assert rig.app.screen == START
    rig.tap(("category", "社保医保"))
    assert rig.app.screen == MATTERS
    rig.shot("02-matters")
    rig.tap(("matter", "S101"))
    assert rig.app.screen == CONFIRM
    rig.shot("03-confirm")
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.screen == TICKET and rig.app.issued.printed is True
    rig.shot("04-ticket-printed")
    ticket = rig.app.issued.ticket
    assert issued_count(server) == before + 1

    assert wait_for(lambda: rig.sim.jobs and rig.sim.jobs[-1].cut, timeout=3)
    job = rig.sim.jobs[-1]
    rig.sim.render_last(str(rig.shot("04-ticket-printed").with_name("05-paper.png")))
    assert ticket["code"] in job.lines
    assert "社会保障卡申领" in job.lines
    assert "测试县政务服务中心" in job.lines
    assert "1. 居民身份证" in job.lines  # 一次告知: the matter's materials
    assert "监督电话：12345" in job.lines
    assert job.qr_payloads == [f"{server[0]}/t/{ticket['id']}"]

    # The QR opens this ticket's own status page.
    path = urlsplit(job.qr_payloads[0]).path
    with urllib.request.urlopen(server[0] + path, timeout=5) as resp:
        assert resp.status == 200
        assert ticket["code"] in resp.read().decode()
    status, body = get_json(f"{server[0]}/api/v1/tickets/{path.rsplit('/', 1)[1]}")
    assert status == 200 and body["code"] == ticket["code"]

    rig.tap(("done",))
    assert rig.app.screen == START


def test_public_url_goes_into_the_qr_code(rig, server):
    rig.app.public_url = "https://zwfw.example.gov.cn/hall/"
    ticket = take_ticket(rig)
    assert wait_for(lambda: rig.sim.jobs and rig.sim.jobs[-1].cut, timeout=3)
    assert rig.sim.jobs[-1].qr_payloads == [f"https://zwfw.example.gov.cn/hall/t/{ticket['id']}"]


def test_bundle_ticket_names_the_bundle(rig):
    ticket = take_ticket(rig, "一件事", "B01")
    assert wait_for(lambda: rig.sim.jobs and rig.sim.jobs[-1].cut, timeout=3)
    assert "开办企业一件事" in rig.sim.jobs[-1].lines and ticket["code"].startswith("Y")


def test_idle_timeout_returns_to_start_and_forgets_large_mode(rig):
    rig.tap(("large",))
    assert rig.app.large
    rig.tap(("category", "不动产"))
    rig.shot("06-matters-large")
    rig.clock.advance(rig.app.idle_seconds + 1)
    rig.ui.step()
    assert rig.app.screen == START and not rig.app.large


def test_printed_ticket_screen_returns_by_itself(rig):
    take_ticket(rig)
    rig.clock.advance(rig.app.ticket_seconds + 1)
    rig.ui.step()
    assert rig.app.screen == START


def test_green_channel_needs_the_staff_pin(rig, server):
    rig.tap(("keypad", "pin"))
    for digit in "1111":
        rig.tap(("key", digit))
    rig.tap(("enter",))
    assert not rig.app.green and rig.app.message == "工作人员密码不正确"
    rig.tap(("home",))
    rig.tap(("keypad", "pin"))
    for digit in "2468":
        rig.tap(("key", digit))
    rig.shot("07-keypad-pin")
    rig.tap(("enter",))
    assert rig.app.green
    rig.shot("08-start-green")
    ticket = take_ticket(rig)
    assert ticket["priority"] == "green"
    assert not rig.app.green  # one unlock, one ticket
    rig.tap(("done",))
    assert take_ticket(rig)["priority"] == "normal"


def _id_number(birth: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    body = f"110101{birth}123"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def test_elderly_by_id_number_is_green_by_the_server_rule(rig):
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S102"))
    rig.tap(("keypad", "id"))
    for key in _id_number("19500101"):
        rig.tap(("key", key))
    rig.shot("09-keypad-id")
    rig.tap(("enter",))
    assert rig.app.screen == CONFIRM
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.issued.ticket["priority"] == "green"


def test_young_id_number_stays_normal_and_bad_one_is_explained(rig):
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S102"))
    rig.tap(("keypad", "id"))
    for key in _id_number("19900101"):
        rig.tap(("key", key))
    rig.tap(("enter",))
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.issued.ticket["priority"] == "normal"
    rig.tap(("done",))
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S102"))
    rig.tap(("keypad", "id"))
    bad = _id_number("19500101")[:-1] + ("1" if _id_number("19500101")[-1] != "1" else "2")
    for key in bad:
        rig.tap(("key", key))
    rig.tap(("enter",))
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.issued is None and "身份证号码有误" in rig.app.message


def _book(server, phone: str, service: str = "S301") -> str:
    from datetime import datetime, timedelta

    engine = server[1].config["ENGINE"]
    now = engine.now()
    slot = now.replace(second=0, microsecond=0) + timedelta(minutes=30 - now.minute % 30)
    row = engine.book(service, slot if slot.date() == now.date() else now.replace(minute=0, second=0), phone)
    assert isinstance(row["code"], str) and datetime.fromisoformat(row["slot_start"])
    return row["code"]


def test_appointment_check_in_by_phone(rig, server):
    _book(server, "13800138000")
    rig.tap(("keypad", "appointment"))
    for key in "13800138000":
        rig.tap(("key", key))
    rig.shot("10-keypad-appointment")
    rig.tap(("enter",))
    assert rig.app.screen == CONFIRM and rig.app.appointment is not None
    rig.shot("11-confirm-appointment")
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.issued.ticket["priority"] == "appointment"
    assert rig.app.issued.ticket["matter"]["code"] == "S301"


def test_appointment_check_in_by_code_and_unknown_code(rig, server):
    code = _book(server, "13900139000", "S201")
    rig.tap(("keypad", "appointment"))
    for key in code:
        rig.tap(("key", key))
    rig.tap(("enter",))
    assert rig.app.screen == CONFIRM and rig.app.matter["code"] == "S201"
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.issued.ticket["priority"] == "appointment"
    rig.tap(("done",))
    rig.tap(("keypad", "appointment"))
    for key in code:  # already checked in
        rig.tap(("key", key))
    rig.tap(("enter",))
    assert "没有找到" in rig.app.message


def test_several_appointments_offer_a_choice(rig, server):
    _book(server, "13700137000", "S101")
    _book(server, "13700137000", "S202")
    rig.tap(("keypad", "appointment"))
    for key in "13700137000":
        rig.tap(("key", key))
    rig.tap(("enter",))
    assert rig.app.screen == "appointments" and len(rig.app.appointments) == 2
    rig.shot("12-appointments")
    rig.tap(("appointment", rig.app.appointments[1]["code"]))
    assert rig.app.matter["code"] == "S202"


def test_phone_for_sms_given_with_consent_on_the_confirm_screen(rig):
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S101"))
    rig.tap(("keypad", "sms"))
    for key in "1381234567":
        rig.tap(("key", key))
    rig.tap(("enter",))  # ten digits are no phone number: nothing happens
    assert rig.app.screen != CONFIRM
    rig.tap(("key", "8"))
    rig.tap(("enter",))
    assert rig.app.screen == CONFIRM and rig.app.sms_phone == "13812345678"
    rig.shot("13-confirm-sms")
    rig.tap(("confirm",))
    rig.settle()
    t = rig.app.issued.ticket
    assert t["sms"] is True and t["phone"] == "138****5678"
    rig.app.home()
    assert rig.app.sms_phone is None  # the next citizen starts without it
