"""Kiosk pieces on their own: alert mapping, spoken codes, the command line."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from drivers.printer import Paper, PrinterStatus
from drivers.sim import wait_for
from hallq.client import Unreachable
from hallq.config import load_config
from kiosk.cli import pick_kiosk, pick_token
from kiosk.printing import PrinterAlerts, alert_kinds, problem_text, public_link
from kiosk.voice import spoken_code, synthesize

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("status", "kinds", "text"), [
    (PrinterStatus(True, Paper.OK), {}, "打印机故障"),
    (PrinterStatus(True, Paper.NEAR_END), {"printer_paper_low": "warning"}, "打印机故障"),
    (PrinterStatus(True, Paper.OUT, offline=True), {"printer_paper_out": "red"}, "打印机缺纸"),
    (PrinterStatus(True, Paper.OK, cover_open=True, offline=True), {"printer_error": "red"}, "打印机盖未关好"),
    (PrinterStatus(False), {"device_offline": "red"}, "打印机未连接"),
    (PrinterStatus(True, supported=False), {}, "打印机故障"),
])
def test_status_to_alerts_and_words(status, kinds, text):
    assert {k: v[0] for k, v in alert_kinds(status).items()} == kinds
    assert problem_text(status) == text


def test_an_alert_lost_to_a_server_blip_is_sent_later_without_a_new_status():
    """The printer reports a condition once; if that post fails the alert must still arrive."""
    class Flaky:
        def __init__(self):
            self.down, self.posted = True, []

        def post(self, path, body):
            if self.down:
                raise Unreachable("server restarting")
            self.posted.append(body)
            return {}

    api = Flaky()
    alerts = PrinterAlerts(api, "kiosk:K1", retry_seconds=0.05)
    try:
        alerts.update(PrinterStatus(True, Paper.OUT))  # the one report of paper out; the post fails
        assert wait_for(alerts.idle)
        assert alerts.reported == {}
        api.down = False  # the server is back; the printer, still out of paper, says nothing new
        assert wait_for(lambda: "printer_paper_out" in alerts.reported)
        assert [b["kind"] for b in api.posted] == ["printer_paper_out"]  # once, not on every retry
        time.sleep(0.2)
        assert len(api.posted) == 1
    finally:
        alerts.close()


def test_public_link_joins_base_and_page():
    assert public_link("http://10.0.0.5:8080", "/t/abc") == "http://10.0.0.5:8080/t/abc"
    assert public_link("https://zwfw.example.gov.cn/hall/", "/t/abc") == "https://zwfw.example.gov.cn/hall/t/abc"


def test_codes_are_read_digit_by_digit():
    assert spoken_code("A023") == "A 零 二 三"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_makes_a_wav():
    assert synthesize("请 A 零 二 三 号到 3 号窗口办理")[:4] == b"RIFF"


def test_kiosk_and_token_from_config(monkeypatch):
    monkeypatch.delenv("HALLQ_KIOSK_TOKEN", raising=False)
    config = load_config(REPO / "config" / "demo-hall.toml")
    assert pick_kiosk(config, None).id == "K1"
    assert pick_token(config, config.kiosks["K2"], None) == "demo-kiosk-2"
    # The token that names its kiosk wins, whatever the order in the file.
    from dataclasses import replace

    shuffled = replace(config, tokens=tuple(reversed(config.tokens)))
    assert pick_token(shuffled, shuffled.kiosks["K1"], None) == "demo-kiosk-1"
    assert pick_token(config, config.kiosks["K1"], "explicit") == "explicit"
    monkeypatch.setenv("HALLQ_KIOSK_TOKEN", "from-env")
    assert pick_token(config, config.kiosks["K1"], None) == "from-env"
    with pytest.raises(SystemExit):
        pick_kiosk(config, "K9")


def test_hallq_kiosk_is_registered(capsys):
    from hallq.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["kiosk", "--help"])
    assert exc.value.code == 0
    assert "--public-url" in capsys.readouterr().out


class _Garbled:
    """A server behind a proxy that answers 200 with an HTML page: json.loads raises ValueError."""

    def get(self, path):
        raise ValueError("Expecting value: line 1 column 1 (char 0)")

    def post(self, path, body):
        raise ValueError("Expecting value: line 1 column 1 (char 0)")


def test_a_garbled_answer_neither_kills_the_menu_refresh_nor_the_ui_loop():
    from kiosk.app import KEYPAD, MESSAGE, KioskApp
    from kiosk.printing import TicketOutput

    app = KioskApp(_Garbled(), TicketOutput(None), public_url="http://hall")
    app.online = True
    assert app.refresh_menu() is False and app.online is False  # no exception into the refresh thread
    assert app.handle(("keypad", "appointment")) and app.screen == KEYPAD
    for key in "12345678":
        app.handle(("key", key))
    assert app.handle(("enter",))  # the lookup's answer is garbage: a message, not an exception
    assert app.screen == MESSAGE and not app.busy


def test_a_crash_while_printing_keeps_the_issued_number_on_screen():
    from kiosk.app import TICKET, KioskApp
    from kiosk.printing import TicketOutput

    ticket = {"id": "t1", "code": "A007", "page": "/t/t1", "waiting_ahead": 2, "estimated_wait_minutes": 9,
              "issued_at": "2026-11-23T09:00:00+08:00", "matter": {"code": "S101", "name": "社会保障卡申领"}}

    class Api:
        def post(self, path, body, idempotency_key=None):
            return ticket

    class Broken(TicketOutput):
        def output(self, paper, status):
            raise RuntimeError("layout failed")

    app = KioskApp(Api(), Broken(None), public_url="http://hall")
    app.matter = {"code": "S101", "name": "社会保障卡申领", "materials": []}
    app.handle(("confirm",))
    assert app.wait_idle()
    assert app.screen == TICKET and app.issued.ticket["code"] == "A007"
    assert app.issued.printed is False and "拍照" in app.issued.note
