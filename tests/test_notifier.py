"""SMS 即将到号, the call message, reminders and opt-out, end to end: a real hall server (front on
uvicorn), the notifier following it through the API and event stream, and the simulated CMPP / HTTP
gateway on real sockets."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drivers.sim.smsgw import SmsGatewaySim
from hallq.client import ApiClient
from hallq.model import Sms, Token
from notifier.daemon import Notifier
from notifier.outbox import Outbox
from server.app import create_app
from server.clock import ManualClock
from tests.hallfactory import small_hall
from tests.liveserver import serve_app

TZ = ZoneInfo("Asia/Shanghai")
PHONE = "13812345678"


def hall(gateway: str, sim: SmsGatewaySim, near: int = 2):
    base = small_hall(all_day=True)
    sms = Sms(enabled=True, near_ahead=near, gateway=gateway, cmpp_port=sim.cmpp_port, cmpp_sp_id="901234",
              cmpp_secret="s3cret", http_url=sim.url + "/send")
    return dataclasses.replace(base, sms=sms, tokens=base.tokens + (Token("sms", "notifier", "t-sms"),))


@pytest.fixture
def sim():
    with SmsGatewaySim(sp_id="901234", secret="s3cret") as s:
        yield s


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 12, 1, 10, 0, tzinfo=TZ))


@pytest.fixture
def rig(tmp_path, sim, clock, request):
    gateway = getattr(request, "param", "cmpp")
    config = hall(gateway, sim)
    app = create_app(config, tmp_path / "hall.db", clock=clock, supervise=False)
    with serve_app(app) as url:
        n = Notifier(config, url, "t-sms", str(tmp_path / "outbox.db"), poll_seconds=0.5, first_retry=0.2,
                     max_retry=0.5).start()
        try:
            yield url, n, ApiClient(url, "t-kiosk"), ApiClient(url, "t-caller"), tmp_path
        finally:
            n.stop()


def texts(sim):
    return [(m.phone, m.text) for m in sim.received()]


def take(kiosk, n=1, **kw):
    return [kiosk.post("/tickets", {"service": "S101", **kw}) for _ in range(n)]


def test_near_and_call_messages_once_each_and_not_for_walk_ins_without_consent(rig, sim):
    url, n, kiosk, caller, _ = rig
    caller.post("/windows/1/login", {"staff": "1001"})
    take(kiosk, 3)  # three ahead of ours
    ours = take(kiosk, phone=PHONE, sms=True)[0]
    take(kiosk, phone="13900001111")  # a phone without consent gets nothing
    assert ours["sms"] is True
    caller.post("/windows/1/call-next")  # two ahead now: 即将到号
    assert sim.wait_for(1)[0].text == f"您的 {ours['code']} 号前面还有 2 人，请回到大厅等候"
    caller.post("/windows/1/finish", {"outcome": "done"})
    caller.post("/windows/1/call-next")  # one ahead: no second 即将到号
    caller.post("/windows/1/finish", {"outcome": "done"})
    caller.post("/windows/1/call-next")
    caller.post("/windows/1/finish", {"outcome": "done"})
    called = caller.post("/windows/1/call-next")["ticket"]
    assert called["code"] == ours["code"]
    got = sim.wait_for(2)
    assert got[1].text == f"请 {ours['code']} 号到 1 号窗口办理"
    caller.post("/windows/1/recall")  # a recall sends nothing more
    assert n.wait_until(lambda: n.stats["reads"] >= 8)
    assert texts(sim) == [(PHONE, got[0].text), (PHONE, got[1].text)]
    assert n.wait_until(lambda: all(m["report"] == "DELIVRD" for m in n.outbox.all()))  # delivery reports


def test_an_outage_keeps_due_messages_raises_an_alert_and_drops_those_no_longer_due(rig, sim, tmp_path):
    url, n, kiosk, caller, _ = rig
    admin = ApiClient(url, "t-admin")
    caller.post("/windows/1/login", {"staff": "1001"})
    caller.post("/windows/2/login", {"staff": "1002"})
    take(kiosk, 2)
    first = take(kiosk, phone=PHONE, sms=True)[0]  # 2 ahead: not more than near_ahead at issue
    take(kiosk, 2)
    second = take(kiosk, phone="13900002222", sms=True)[0]  # 5 ahead
    sim.fault("down")
    caller.post("/windows/1/call-next")
    caller.post("/windows/2/call-next")  # second has 3 ahead
    caller.post("/windows/1/finish", {"outcome": "done"})
    caller.post("/windows/1/call-next")  # first is called now; second has 2 ahead: due while down
    due = {f"call:2026-12-01:{first['code']}": "due", f"near:2026-12-01:{second['code']}": "due"}
    assert n.wait_until(lambda: {m["key"]: m["state"] for m in n.outbox.all()} == due)
    assert n.wait_until(lambda: any(a["source"] == "sms:gateway" for a in admin.get("/alerts")["alerts"]))
    caller.post("/windows/2/finish", {"outcome": "done"})
    caller.post("/windows/2/call", {"code": second["code"]})  # second is called: its 即将到号 is no longer due
    caller.post("/windows/1/start")  # first stands at the window: its call message is no longer due
    sim.fault("ok")
    assert sim.wait_for(1, timeout=15)
    assert n.wait_until(lambda: not any(a["source"] == "sms:gateway" for a in admin.get("/alerts")["alerts"]))
    assert texts(sim) == [("13900002222", f"请 {second['code']} 号到 2 号窗口办理")]
    states = {m["key"].split(":")[0] + ":" + m["key"].split(":")[2]: m["state"] for m in n.outbox.all()}
    assert states == {f"call:{first['code']}": "dropped", f"near:{second['code']}": "dropped",
                      f"call:{second['code']}": "sent"}


def test_the_outbox_survives_a_restart_and_sends_nothing_twice(tmp_path, sim, clock):
    config = hall("cmpp", sim)
    app = create_app(config, tmp_path / "hall.db", clock=clock, supervise=False)
    with serve_app(app) as url:
        kiosk, caller = ApiClient(url, "t-kiosk"), ApiClient(url, "t-caller")
        caller.post("/windows/1/login", {"staff": "1001"})
        ours = take(kiosk, phone=PHONE, sms=True)[0]
        sim.fault("down")
        n = Notifier(config, url, "t-sms", str(tmp_path / "outbox.db"), poll_seconds=0.3, first_retry=0.2).start()
        caller.post("/windows/1/call-next")
        assert n.wait_until(lambda: [m["state"] for m in n.outbox.all()] == ["due"])
        n.stop()  # the notifier goes down with the message unsent
        sim.fault("ok")
        n = Notifier(config, url, "t-sms", str(tmp_path / "outbox.db"), poll_seconds=0.3).start()
        try:
            assert sim.wait_for(1)[0].text == f"请 {ours['code']} 号到 1 号窗口办理"
            assert n.wait_until(lambda: n.stats["reads"] >= 3)
        finally:
            n.stop()
        n = Notifier(config, url, "t-sms", str(tmp_path / "outbox.db"), poll_seconds=0.3).start()
        try:
            assert n.wait_until(lambda: n.stats["reads"] >= 3)
        finally:
            n.stop()
        assert len(sim.received()) == 1


def test_td_reply_and_the_ticket_page_link_opt_out(rig, sim):
    url, n, kiosk, caller, _ = rig
    caller.post("/windows/1/login", {"staff": "1001"})
    a = take(kiosk, phone=PHONE, sms=True)[0]
    b = take(kiosk, phone="13900003333", sms=True)[0]
    assert n.wait_until(lambda: sim._links)
    sim.mo(PHONE, "TD")
    assert n.wait_until(lambda: ApiClient(url).get(f"/tickets/{a['id']}")["sms"] is False)
    req = urllib.request.Request(f"{url}/api/v1/tickets/{b['id']}/sms-opt-out", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    assert json.load(urllib.request.urlopen(req, timeout=5))["switched_off"] == 1
    caller.post("/windows/1/call-next")
    caller.post("/windows/1/finish", {"outcome": "done"})
    caller.post("/windows/1/call-next")
    assert n.wait_until(lambda: n.stats["reads"] >= 6)
    assert sim.received() == []


@pytest.mark.parametrize("rig", ["http"], indirect=True)
def test_reminders_the_day_before_through_the_http_gateway(rig, sim, clock):
    url, n, kiosk, caller, _ = rig
    admin = ApiClient(url, "t-admin")
    slot = (clock.now() + timedelta(days=1)).replace(hour=9, minute=30)
    kept = admin.post("/appointments", {"service": "S101", "slot_start": slot.isoformat(), "phone": PHONE, "sms": True})
    other = admin.post("/appointments", {"service": "S101", "slot_start": slot.isoformat(), "phone": "13900004444",
                                        "sms": True})
    admin.post("/appointments", {"service": "S102", "slot_start": slot.isoformat(), "phone": "13900005555"})
    assert n.wait_until(lambda: n.stats["reads"] >= 3)
    assert sim.received() == []  # 10:00: before reminder_hour (16)
    clock.set(clock.now().replace(hour=16, minute=5))  # the notifier sees the hall's hour on its next read
    got = sim.wait_for(2, timeout=10)
    assert sorted(m.phone for m in got) == sorted([PHONE, "13900004444"])
    assert all(m.via == "http" for m in got)
    text = next(m.text for m in got if m.phone == PHONE)
    assert f"预约码{kept['code']}" in text and "12月2日 09:30" in text and "社会保障卡申领" in text
    assert other["code"] != kept["code"]
    assert n.wait_until(lambda: n.stats["reads"] >= 8)
    assert len(sim.received()) == 2  # once each


def test_outbox_keys_are_taken_once(tmp_path):
    box = Outbox(tmp_path / "o.db")
    assert box.add("near:2026-12-01:A001", "near", PHONE, "x")
    assert not box.add("near:2026-12-01:A001", "near", PHONE, "y")
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert not box.add("near:2026-12-01:A001", "near", PHONE, "z")
    assert [m["text"] for m in box.due()] == ["x"]


def test_the_sms_link_reopens_the_citizens_own_ticket_page(tmp_path, sim, clock):
    """{link} in a template is hall.public_url + the ticket's page: the citizen who closed the
    browser opens the page again from the SMS (issue 17 point 4)."""
    base = hall("cmpp", sim)
    public = "http://zwfw.example.gov.cn"
    config = dataclasses.replace(base, public_url=public, sms=dataclasses.replace(
        base.sms, near_text="您的 {code} 号前面还有 {ahead} 人，请回到大厅等候 {link}", call_text="请 {code} 号到 {window} 号窗口 {link}"))
    app = create_app(config, tmp_path / "hall.db", clock=clock, supervise=False)
    with serve_app(app) as url:
        n = Notifier(config, url, "t-sms", str(tmp_path / "outbox.db"), poll_seconds=0.5).start()
        try:
            kiosk, caller = ApiClient(url, "t-kiosk"), ApiClient(url, "t-caller")
            caller.post("/windows/1/login", {"staff": "1001"})
            take(kiosk, 3)
            ours = take(kiosk, phone=PHONE, sms=True)[0]
            caller.post("/windows/1/call-next")
            got = sim.wait_for(1)[0].text
            assert got == f"您的 {ours['code']} 号前面还有 2 人，请回到大厅等候 {public}/t/{ours['id']}"
            path = got.split(public, 1)[1]
            with urllib.request.urlopen(url + path, timeout=5) as page:
                assert page.status == 200 and ours["code"] in page.read().decode()
        finally:
            n.stop()
