"""The caller daemon end to end: real server over HTTP, simulated devices on real ptys."""

from __future__ import annotations

import json

import pytest
from callerrig import CallerRig

from drivers.lsa0 import Color, Mode
from drivers.qb68 import FunctionCode, Grade, Outcome, PauseReason, Rating, RatingReason, Result
from drivers.sim import wait_for
from hallq.client import ApiClient


@pytest.fixture
def rig(tmp_path):
    r = CallerRig(tmp_path / "hall.db")
    assert r.daemon.wait_online(5)
    yield r
    r.close()


def signed_in(rig: CallerRig, window: int = 3, staff: str = "1003") -> None:
    assert rig.keypads[window].login(staff) == Result.ACCEPTED


def test_call_next_shows_on_strip_and_server_records_it(rig):
    kp, strip = rig.keypads[3], rig.strips[3]
    assert wait_for(lambda: strip.showing == "idle" and strip.idle_text == "3号窗口 企业开办窗口", 3)
    signed_in(rig)
    code = rig.issue("S201")
    assert wait_for(lambda: kp.display == "W   1", 3), kp.display
    assert kp.call_next() == Result.ACCEPTED
    assert wait_for(lambda: strip.text == f"{code} 请到3号窗口", 3), strip.text
    assert strip.color == Color.GREEN
    assert any(getattr(f, "mode", None) == Mode.BLINK for f in strip.frames)  # the call blinked
    assert rig.window(3)["current"]["code"] == code
    assert [e["ticket_code"] for e in rig.events("ticket.called")] == [code]
    assert wait_for(lambda: kp.display == code, 3), kp.display
    # Nobody else waiting: nothing to do (0x02) once this citizen is done.
    assert kp.finish(Outcome.DONE) == Result.ACCEPTED
    assert wait_for(lambda: strip.showing == "idle", 3)
    assert kp.call_next() == Result.NOTHING_TO_DO


def test_finish_prompts_evaluator_and_rating_is_stored_once(rig):
    kp, ev = rig.keypads[3], rig.evaluators[3]
    signed_in(rig)
    code = rig.issue("S201")
    assert kp.call_next() == Result.ACCEPTED
    assert kp.finish(Outcome.DONE) == Result.ACCEPTED
    assert wait_for(lambda: ev.prompt is not None, 3)
    assert ev.prompt.ticket == code and ev.prompt.staff_name == "王芳"
    assert ev.rate(Grade.DISSATISFIED, RatingReason.EFFICIENCY) == Result.ACCEPTED
    assert ev.rate(Grade.VERY_SATISFIED) == Result.REJECTED  # one service, one rating
    ratings = rig.ratings()
    assert len(ratings) == 1
    assert (ratings[0]["grade"], ratings[0]["reason"], ratings[0]["window"]) == (2, "efficiency", 3)
    assert ratings[0]["channel"] == "evaluator" and ratings[0]["ticket_code"] == code


def test_invite_rating_key_prompts_again(rig):
    kp, ev = rig.keypads[3], rig.evaluators[3]
    signed_in(rig)
    code = rig.issue("S201")
    kp.call_next()
    kp.finish()
    assert wait_for(lambda: len(ev.prompts) == 1, 3)
    assert kp.invite_rating() == Result.ACCEPTED
    assert wait_for(lambda: len(ev.prompts) == 2, 3)
    assert ev.prompts[-1].ticket == code


def test_rating_before_finish_is_refused_and_not_stored(rig):
    kp, ev = rig.keypads[3], rig.evaluators[3]
    signed_in(rig)
    assert ev.rate(Grade.VERY_SATISFIED) == Result.REJECTED  # nothing served yet
    rig.issue("S201")
    kp.call_next()
    assert ev.rate(Grade.VERY_SATISFIED) == Result.REJECTED  # serving, not finished
    assert rig.ratings() == []
    assert len(rig.events("rating.refused")) == 2  # logged as stray presses, never as ratings


def test_evaluator_press_after_the_next_citizen_was_called_is_refused(rig):
    """先评价后办事 is forbidden: once the window calls its next citizen, a press on the evaluator
    (within the first citizen's prompt time) is refused and logged, the prompt is cancelled, and the
    citizen served keeps the 补充评价 through the ticket's QR code."""
    kp, ev = rig.keypads[3], rig.evaluators[3]
    signed_in(rig)
    first = rig.kiosk.post("/tickets", {"service": "S201"})
    rig.issue("S201")
    assert kp.call_next() == Result.ACCEPTED
    assert kp.finish(Outcome.DONE) == Result.ACCEPTED
    assert wait_for(lambda: ev.prompt is not None, 3)
    cancels = ev.cancels  # the daemon cancels on every call (the first call's one may be counted)
    assert kp.call_next() == Result.ACCEPTED  # the next citizen, not yet served
    assert wait_for(lambda: ev.prompt is None and ev.cancels == cancels + 1, 3)  # the evaluator's keys go dark
    assert ev.rate(Grade.VERY_SATISFIED) == Result.REJECTED
    assert rig.ratings() == []
    assert [json.loads(e["data"])["reason"] for e in rig.events("rating.refused")] == ["next_called"]
    assert kp.invite_rating() == Result.REJECTED  # nor can the clerk prompt again for the first one
    rated = ApiClient(rig.base, timeout=3).post("/ratings", {"grade": 4, "channel": "qr", "ticket": first["id"]})
    assert rated["rated"] is True and rig.ratings()[0]["ticket_code"] == first["code"]


def test_a_next_call_the_daemon_learns_from_a_resync_cancels_the_prompt_too(rig):
    """The daemon may learn of the next call from a snapshot instead of its event (a reconnect or a
    bus back resyncs, and events the snapshot covers are skipped): the evaluator's prompt for the
    last citizen must be cancelled then as well, or the next citizen could rate the last service."""
    kp, ev = rig.keypads[3], rig.evaluators[3]
    signed_in(rig)
    rig.issue("S201")
    rig.issue("S201")
    assert kp.call_next() == Result.ACCEPTED
    assert kp.finish(Outcome.DONE) == Result.ACCEPTED
    assert wait_for(lambda: ev.prompt is not None, 3)
    cancels = ev.cancels
    rig.daemon.skip_through = 10**9  # the next ticket.called goes unseen, as if a snapshot covered it
    assert kp.call_next() == Result.ACCEPTED
    assert rig.daemon.resync()
    assert wait_for(lambda: ev.prompt is None and ev.cancels == cancels + 1, 3)


def test_keypad_cannot_rate(rig):
    kp = rig.keypads[3]
    signed_in(rig)
    rig.issue("S201")
    kp.call_next()
    kp.finish()
    assert kp.press(Rating, Grade.VERY_SATISFIED, None) == Result.UNKNOWN
    assert rig.ratings() == []


def test_timed_out_prompt_is_stored_as_not_rated(tmp_path):
    rig = CallerRig(tmp_path / "hall.db", prompt_seconds=0.3)
    try:
        assert rig.daemon.wait_online(5)
        kp, ev = rig.keypads[3], rig.evaluators[3]
        signed_in(rig)
        rig.issue("S201")
        kp.call_next()
        kp.finish()
        assert wait_for(lambda: rig.events("rating.timed_out"), 5)
        assert wait_for(lambda: ev.acks and ev.acks[-1].result == Result.ACCEPTED, 3)
        assert rig.ratings() == []
        assert ev.rate(Grade.SATISFIED) == Result.REJECTED  # the prompt is over
    finally:
        rig.close()


def test_resent_event_is_applied_once(rig):
    kp = rig.keypads[3]
    signed_in(rig)
    rig.issue("S201")
    rig.issue("S201")
    kp.drop_acks = 1  # the first ACK is lost on the line: the keypad resends the same SEQ
    press = kp.call_next(wait=False)
    assert press.wait(3) == Result.ACCEPTED
    assert press.sends == 2
    assert len(rig.events("ticket.called")) == 1
    assert rig.daemon.masters["callers"].duplicates == 1
    assert len(rig.admin.get("/windows/3")["queue"]) == 1  # the second ticket still waits


def test_calls_from_the_web_page_show_and_prompt_too(rig):
    strip, ev = rig.strips[2], rig.evaluators[2]
    rig.admin.window(2, "login", staff="1002")
    code = rig.issue("S101")
    rig.admin.window(2, "call-next")
    assert wait_for(lambda: strip.text == f"{code} 请到2号窗口", 3), strip.text
    assert wait_for(lambda: rig.keypads[2].display == code, 3)
    rig.admin.window(2, "finish", outcome="done")
    assert wait_for(lambda: ev.prompt is not None and ev.prompt.ticket == code, 3)
    assert wait_for(lambda: strip.showing == "idle", 3)


def test_recall_blinks_again(rig):
    kp, strip = rig.keypads[3], rig.strips[3]
    signed_in(rig)
    rig.issue("S201")
    kp.call_next()
    assert wait_for(lambda: strip.showing == "text", 3)
    blinks = sum(1 for f in strip.frames if getattr(f, "mode", None) == Mode.BLINK)
    assert kp.recall() == Result.ACCEPTED
    assert wait_for(lambda: sum(1 for f in strip.frames if getattr(f, "mode", None) == Mode.BLINK) == blinks + 1, 3)


def test_pause_and_resume(rig):
    kp, strip = rig.keypads[3], rig.strips[3]
    signed_in(rig)
    assert kp.pause(PauseReason.LUNCH) == Result.ACCEPTED
    assert wait_for(lambda: strip.text == "暂停服务" and strip.color == Color.RED, 3)
    assert wait_for(lambda: kp.display == "PAUSE", 3)
    assert rig.window(3)["pause_reason"] == "lunch"
    assert kp.pause() == Result.NOTHING_TO_DO
    assert kp.call_next() == Result.REJECTED  # paused windows do not call
    assert kp.resume() == Result.ACCEPTED
    assert wait_for(lambda: strip.showing == "idle" and kp.display.startswith("W"), 3)


def test_park_call_back_call_specific_and_transfer(rig):
    kp = rig.keypads[3]
    signed_in(rig)
    first, second = rig.issue("S201"), rig.issue("S201")
    kp.call_next()
    assert kp.function(FunctionCode.PARK) == Result.ACCEPTED
    assert kp.function(FunctionCode.CALL_SPECIFIC, second) == Result.ACCEPTED
    assert rig.window(3)["current"]["code"] == second
    assert kp.transfer("W1") == Result.REJECTED  # nobody is signed in there: the citizen would wait for nobody
    rig.admin.window(1, "login", staff="1001")
    assert kp.transfer("W1") == Result.ACCEPTED  # window 1 handles S201 as secondary
    assert kp.function(FunctionCode.CALL_PARKED) == Result.ACCEPTED
    assert wait_for(lambda: rig.keypads[3].display == first, 3)
    assert kp.transfer("S999") == Result.ACCEPTED
    assert kp.transfer("WX") == Result.UNKNOWN
    assert kp.function(FunctionCode.CALL_SPECIFIC, "A999") == Result.REJECTED  # no such ticket


def test_strip_silent_raises_alert_and_is_restored(rig):
    kp, strip = rig.keypads[3], rig.strips[3]
    signed_in(rig)
    strip.silent = True

    def active():
        return {a["source"] for a in rig.admin.get("/alerts")["alerts"] if a["kind"] == "device_offline"}

    assert wait_for(lambda: "strip:3" in active(), 5)
    code = rig.issue("S201")
    assert kp.call_next() == Result.ACCEPTED  # the hall keeps working without the strip
    strip.silent = False
    assert wait_for(lambda: strip.text == f"{code} 请到3号窗口", 5), strip.text
    assert wait_for(lambda: "strip:3" not in active(), 5)


def test_keypad_unplugged_raises_alert(rig):
    rig.keypads[4].silent = True
    assert wait_for(lambda: any(a["source"] == "keypad:4" for a in rig.admin.get("/alerts")["alerts"]), 5)
    rig.keypads[4].silent = False
    assert wait_for(lambda: not any(a["source"] == "keypad:4" for a in rig.admin.get("/alerts")["alerts"]), 5)


def test_a_pulled_bus_adapter_is_one_alert_and_the_windows_are_shown_again_when_back(rig):
    """One condition, one alert: with the keypad/evaluator line and the strip line unplugged the
    hall gets "RS-485总线离线" for each line, not a red card for each of their 15 devices (the
    supervisor had 1 + 80 on the demo hall's callers line); what changed meanwhile reaches the
    strips and keypad displays once the lines are back."""
    kp, strip = rig.keypads[3], rig.strips[3]
    signed_in(rig)
    code = rig.issue("S201")
    assert kp.call_next() == Result.ACCEPTED
    assert wait_for(lambda: strip.text == f"{code} 请到3号窗口" and kp.display == code, 3)

    def raised() -> set[str]:  # every device alert ever raised, also those already cleared
        return {r["source"] for r in rig.app.config["ENGINE"].store.rows(
            "SELECT source FROM alerts WHERE kind = 'device_offline'")}

    rig.qb.unplug()
    rig.ls.unplug()
    assert wait_for(lambda: raised() == {"bus:callers", "bus:strips"}, 5), raised()
    rig.admin.window(3, "finish")  # from the clerk's page while the lines are down
    # Three missed polls (0.6 s) or one unanswered strip command made a device offline before.
    assert not wait_for(lambda: raised() != {"bus:callers", "bus:strips"}, 2), raised()
    rig.qb.replug()
    rig.ls.replug()
    assert wait_for(lambda: not any(a["kind"] == "device_offline" for a in rig.admin.get("/alerts")["alerts"]), 10)
    assert wait_for(lambda: strip.showing == "idle" and kp.display != code, 5), (strip.showing, kp.display)
    assert raised() == {"bus:callers", "bus:strips"}


def test_server_down_refuses_keys_then_resyncs(rig):
    kp, strip = rig.keypads[3], rig.strips[3]
    signed_in(rig)
    code = rig.issue("S201")
    kp.call_next()
    assert wait_for(lambda: strip.text == f"{code} 请到3号窗口", 3)
    rig.stop_server()
    assert kp.finish() == Result.REJECTED  # refused, not queued
    assert wait_for(lambda: kp.display == "OFFLINE", 3), kp.display
    assert wait_for(lambda: strip.showing == "idle", 3)
    assert rig.keypads[1].call_next() == Result.REJECTED
    rig.start_server()
    assert wait_for(lambda: rig.daemon.online, 5)
    assert wait_for(lambda: strip.text == f"{code} 请到3号窗口" and strip.showing == "text", 5), strip.text
    assert wait_for(lambda: kp.display == code, 3), kp.display
    assert rig.window(3)["current"]["code"] == code  # the refused FINISH was never applied
    assert wait_for(lambda: rig.keypads[1].display.startswith("W"), 3)
    assert kp.finish() == Result.ACCEPTED


def test_daemon_restart_restores_strips_and_displays(rig):
    rig.daemon.stop()
    rig.admin.window(3, "login", staff="1003")
    code = rig.issue("S201")
    rig.admin.window(3, "call-next")
    rig.admin.window(4, "login", staff="1004")
    rig.admin.window(4, "pause", reason="meeting")
    rig.daemon = rig.start_daemon()
    assert wait_for(lambda: rig.strips[3].text == f"{code} 请到3号窗口", 5)
    assert rig.strips[3].mode == Mode.STATIC  # restored, not announced again
    assert wait_for(lambda: rig.strips[4].text == "暂停服务", 3)
    assert wait_for(lambda: rig.keypads[3].display == code and rig.keypads[4].display == "PAUSE", 3)


def test_calls_and_recalls_are_announced(tmp_path):
    heard: list[tuple[str, int]] = []
    rig = CallerRig(tmp_path / "hall.db", announce=lambda code, window: heard.append((code, window)))
    try:
        assert rig.daemon.wait_online(5)
        kp = rig.keypads[3]
        signed_in(rig)
        code = rig.issue("S201")
        kp.call_next()
        kp.recall()
        assert wait_for(lambda: heard == [(code, 3), (code, 3)], 3), heard
    finally:
        rig.close()


def test_every_key_event_names_itself_and_gives_up_before_the_daemon(rig):
    # One key per keypad event, and a budget under the daemon's 1 s timeout: a press the keypad was
    # told was refused is never applied later, and no press is applied twice.
    inner, seen = rig.app.wsgi_app, []

    def record(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].startswith("/api/v1/windows/"):
            seen.append((environ.get("HTTP_IDEMPOTENCY_KEY"), environ.get("HTTP_REQUEST_TIMEOUT_MS")))
        return inner(environ, start_response)

    rig.app.wsgi_app = record
    signed_in(rig)
    rig.issue("S201")
    assert rig.keypads[3].call_next() == Result.ACCEPTED
    keys = [k for k, _ in seen]
    assert len(seen) == 2 and all(keys) and keys[0] != keys[1] and {ms for _, ms in seen} == {"800"}
    rows = rig.app.config["ENGINE"].store.rows("SELECT scope, key FROM requests WHERE scope = 'caller'")
    assert sorted(r["key"] for r in rows) == sorted(keys)
