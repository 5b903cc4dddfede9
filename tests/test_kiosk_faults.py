"""When things go wrong at the kiosk: printer faults, a server that is gone, impatient fingers."""

from __future__ import annotations

import json
import urllib.request

import pytest
from hallfactory import small_hall
from kioskrig import Rig, issued_count
from liveserver import free_port, serve_app

from drivers.sim import wait_for
from kiosk.app import CONFIRM, ISSUING, MESSAGE, OFFLINE_TEXT, START, TICKET


def active_alerts(server) -> dict[str, dict]:
    req = urllib.request.Request(f"{server[0]}/api/v1/alerts", headers={"Authorization": "Bearer t-sup"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return {a["kind"]: a for a in json.loads(resp.read())["alerts"] if a.get("source") == "kiosk:K1"}


def to_confirm(rig: Rig) -> None:
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S101"))
    assert rig.app.screen == CONFIRM


def issue(rig: Rig) -> dict:
    to_confirm(rig)
    rig.tap(("confirm",))
    rig.settle()
    assert rig.app.screen == TICKET
    return rig.app.issued.ticket


@pytest.mark.parametrize(("fault", "note", "kind"), [
    ("paper_out", "打印机缺纸，请拍照或扫码保存您的号码", "printer_paper_out"),
    ("cover_open", "打印机盖未关好，请拍照或扫码保存您的号码", "printer_error"),
    ("unplugged", "打印机未连接，请拍照或扫码保存您的号码", "device_offline"),
])
def test_printer_that_cannot_print_gives_the_number_on_screen_and_alerts(rig, server, fault, note, kind):
    assert issue(rig)  # a first ticket prints: the printer port is open and answering
    rig.tap(("done",))
    assert wait_for(lambda: rig.sim.jobs, timeout=3)
    jobs = len(rig.sim.jobs)
    rig.paper_checked()  # the first ticket is whole: the fault is for the next one
    if fault == "paper_out":
        rig.sim.paper = "out"
    elif fault == "cover_open":
        rig.sim.cover_open = True
    else:
        rig.sim.unplug()
    before = issued_count(server)
    ticket = issue(rig)
    assert issued_count(server) == before + 1
    issued = rig.app.issued
    assert issued.printed is False and issued.note == note
    assert issued.link == f"{server[0]}/t/{ticket['id']}"  # the on-screen QR opens the ticket
    rig.shot(f"20-ticket-{fault}")
    assert wait_for(lambda: rig.alerts.idle(), timeout=5)
    alerts = active_alerts(server)
    assert kind in alerts and alerts[kind]["level"] == "red"
    if fault == "unplugged":
        rig.sim.replug()
    else:
        assert len(rig.sim.jobs) == jobs  # nothing went to paper
        rig.sim.paper, rig.sim.cover_open = "ok", False
    # Fixed: the next ticket prints and the alert clears.
    rig.tap(("done",))
    assert wait_for(lambda: rig.printer.status().can_print, timeout=3)
    issue(rig)
    assert rig.app.issued.printed is True
    assert wait_for(lambda: rig.alerts.idle() and kind not in active_alerts(server), timeout=5)


def test_paper_that_runs_out_mid_ticket_puts_the_number_back_on_screen_and_alerts(rig, server):
    rig.sim.paper_for = 300  # the roll ends a few lines into the ticket (datasheet §3: stopped by paper end)
    ticket = issue(rig)
    assert rig.app.issued.printed is True  # the bytes went out; the paper has not yet
    rig.tap(("done",))  # the citizen takes what came out and turns away
    assert wait_for(lambda: rig.app.issued is not None and rig.app.issued.printed is False, timeout=5)
    assert rig.app.screen == TICKET  # the number is back, with its QR code
    assert rig.app.issued.ticket["id"] == ticket["id"]
    assert rig.app.issued.note == "号票未打印完整（打印机缺纸），请拍照或扫码保存您的号码"
    assert rig.app.issued.link == f"{server[0]}/t/{ticket['id']}"
    rig.ui.step()
    rig.shot("21-ticket-paper-ran-out")
    assert wait_for(lambda: rig.alerts.idle(), timeout=5)
    assert active_alerts(server)["printer_paper_out"]["level"] == "red"


def test_paper_near_end_prints_and_alerts_once(rig, server):
    rig.sim.paper = "near_end"
    for _ in range(3):
        issue(rig)
        assert rig.app.issued.printed is True
        rig.tap(("done",))
    assert wait_for(lambda: len(rig.sim.jobs) == 3, timeout=3)
    assert wait_for(lambda: rig.alerts.idle(), timeout=5)
    assert rig.alerts.posts == 1
    alerts = active_alerts(server)
    assert alerts["printer_paper_low"]["level"] == "warning"
    rig.sim.paper = "ok"
    rig.printer.status()
    assert wait_for(lambda: rig.alerts.idle() and "printer_paper_low" not in active_alerts(server), timeout=5)


def test_kiosk_without_printer_shows_the_ticket(server):
    rig = Rig(server[0], with_printer=False)
    try:
        issue(rig)
        assert rig.app.issued.printed is False
        assert rig.app.issued.note == "本机不打印号票，请拍照或扫码保存您的号码"
    finally:
        rig.close()


def test_server_down_never_shows_or_prints_a_number(tmp_path):
    from server.app import create_app, stop_app

    app = create_app(small_hall(all_day=True), tmp_path / "hall.db", supervise=False)
    with serve_app(app) as url:
        rig = Rig(url)
        to_confirm(rig)
    stop_app(app)
    try:
        rig.tap(("confirm",))
        rig.settle()
        assert rig.app.message == OFFLINE_TEXT and rig.app.issued is None
        rig.shot("21-server-down")
        assert rig.sim.jobs == []
        assert not rig.app.online
        rig.tap(("home",))
        rig.shot("22-start-offline")
        assert rig.app.screen == START and rig.ui.buttons == []  # nothing to take a number with
    finally:
        rig.close()


def test_server_unreachable_from_the_start(tmp_path):
    rig = Rig(f"http://127.0.0.1:{free_port()}")
    try:
        assert not rig.app.online and rig.ui.buttons == []
    finally:
        rig.close()


def test_wrong_token_is_the_staff_problem_not_a_number(server):
    rig = Rig(server[0], token="not-a-token")
    try:
        before = issued_count(server)
        to_confirm(rig)
        rig.tap(("confirm",))
        rig.settle()
        assert rig.app.issued is None and rig.app.message == OFFLINE_TEXT
        assert issued_count(server) == before
    finally:
        rig.close()


def test_double_and_repeated_taps_issue_one_ticket(rig, server):
    before = issued_count(server)
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S101"), times=2)  # double tap: the second lands on the new confirm screen
    assert rig.app.screen == CONFIRM
    x, y = rig.button(("confirm",)).rect.center
    rig.clock.advance(1.0)
    for _ in range(6):  # impatient: tapping confirm again and again while the ticket comes
        rig.finger(x, y)
        rig.ui.step()
        rig.clock.advance(0.15)
    assert rig.app.screen in (ISSUING, TICKET)
    rig.settle()
    for _ in range(4):  # and still tapping where the button was
        rig.finger(x, y)
        rig.ui.step()
    assert issued_count(server) == before + 1
    assert rig.app.requests == 1
    assert wait_for(lambda: len(rig.sim.jobs) == 1, timeout=3)


def test_tap_on_the_confirm_button_right_after_it_appeared_is_ignored(rig, server):
    before = issued_count(server)
    rig.tap(("category", "社保医保"))
    rig.tap(("matter", "S101"))
    rig.tap(("confirm",), at_once=True)  # same instant as the screen change: part of the last press
    assert rig.app.screen == CONFIRM and issued_count(server) == before


def test_finger_and_its_synthetic_mouse_click_count_once(rig):
    rig.tap(("keypad", "appointment"))
    rig.tap(("key", "1"), mouse_too=True)
    assert rig.app.keypad.entry == "1"
    # A driver that forgets touch=True: a plain click right after the finger is still the same press.
    import pygame

    x, y = rig.button(("key", "3")).rect.center
    rig.clock.advance(1.0)
    rig.finger(x, y)
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=False))
    rig.ui.step()
    assert rig.app.keypad.entry == "13"
    # A real mouse, long after any finger, still works (kiosks with mouse-only touch frames).
    rig.clock.advance(2.0)
    x, y = rig.button(("key", "8")).rect.center
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=False))
    rig.ui.step()
    assert rig.app.keypad.entry == "138"


def test_matter_not_issued_now_says_when_and_issues_nothing(rig, server):
    before = issued_count(server)
    rig.tap(("category", "社保医保"))
    matter = rig.app.menu.matter("S101")
    # As the server's menu says at lunch for a matter no lunch window serves.
    matter["issuing"], matter["next_issuing"] = False, "2026-11-23T14:30:00+08:00"
    rig.tap(("matter", "S101"))
    assert rig.app.screen == MESSAGE
    assert rig.app.message == "社会保障卡申领：14:30 起取号，请稍后再来"
    rig.shot("not-issuing")
    assert issued_count(server) == before


def test_a_lost_answer_is_retried_and_shows_the_ticket_the_server_issued(tmp_path):
    import time

    from server.app import create_app

    app = create_app(small_hall(all_day=True), tmp_path / "lost.db", supervise=False)
    inner, late, sent = app.wsgi_app, [], []

    def first_answer_too_late(environ, start_response):
        if environ["PATH_INFO"] == "/api/v1/tickets" and environ["REQUEST_METHOD"] == "POST":
            sent.append((environ.get("HTTP_IDEMPOTENCY_KEY"), environ.get("HTTP_REQUEST_TIMEOUT_MS")))
        body = inner(environ, start_response)
        if environ["PATH_INFO"] == "/api/v1/tickets" and environ["REQUEST_METHOD"] == "POST" and not late:
            late.append(True)  # the ticket is issued, but the kiosk gives up before it hears so
            body = [b"".join(body)]
            time.sleep(3.5)
        return body

    app.wsgi_app = first_answer_too_late
    with serve_app(app) as url:
        rig = Rig(url)  # its API client times out after 3 s
        try:
            ticket = issue(rig)
            assert late and ticket["code"] == "A001"
            assert len(app.config["ENGINE"].tickets) == 1  # the retry found it; no second number
            # The retry named the same action, and both tries gave the server less than the kiosk waits.
            assert len(sent) == 2 and sent[0][0] and sent[0][0] == sent[1][0]
            assert sent[0][1] == sent[1][1] == "2500"
        finally:
            rig.close()
