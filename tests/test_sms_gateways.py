"""The CMPP 2.0 client and the HTTP SMS adapter against the simulated gateway on real sockets."""

from __future__ import annotations

import threading
import time

import pytest

from drivers import cmpp
from drivers.cmpp_client import CmppClient
from drivers.sim.smsgw import SmsGatewaySim
from drivers.sms import SendFailed
from drivers.sms_http import HttpSms

NEAR = "您的 A023 号前面还有 3 人，请回到大厅等候"


@pytest.fixture
def sim():
    with SmsGatewaySim(sp_id="901234", secret="s3cret") as s:
        s.slow_seconds = 2.0
        yield s


def client(sim, **kw) -> CmppClient:
    kw.setdefault("secret", "s3cret")
    return CmppClient("127.0.0.1", sim.cmpp_port, "901234", src_id="106900001", service_id="HALLQ",
                      answer_timeout=kw.pop("answer_timeout", 0.5), first_backoff=0.05, max_backoff=0.2, **kw).start()


def wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_connect_pdu_bytes_follow_cmpp_2_0():
    pdu, auth = cmpp.connect(7, "901234", "s3cret", __import__("datetime").datetime(2026, 12, 1, 9, 5, 3))
    raw = pdu.encode()
    assert raw[:12] == bytes.fromhex("00000027 00000001 00000007")  # 39 bytes, CMPP_CONNECT, seq 7
    assert raw[12:18] == b"901234" and raw[18:34] == auth and raw[34] == 0x20
    assert int.from_bytes(raw[35:39], "big") == 1201090503  # Timestamp MMDDHHMMSS
    import hashlib
    assert auth == hashlib.md5(b"901234" + b"\0" * 9 + b"s3cret" + b"1201090503").digest()


def test_long_text_is_cut_into_ucs2_segments_with_a_6_byte_udh():
    text = "请" * 150
    parts = cmpp.segments(text, ref=0x42)
    assert [u for u, _ in parts] == [1, 1, 1]
    assert [c[:6] for _, c in parts] == [bytes([5, 0, 3, 0x42, 3, n]) for n in (1, 2, 3)]
    assert all(len(c) <= 140 for _, c in parts)
    assert b"".join(c[6:] for _, c in parts).decode("utf-16-be") == text
    assert cmpp.segments(NEAR, 1) == [(0, NEAR.encode("utf-16-be"))]


def test_submit_reaches_the_gateway_with_a_delivery_report_and_long_messages_reassembled(sim):
    reports = []
    c = client(sim, on_report=lambda *r: reports.append(r))
    try:
        assert c.wait_online(5)
        msg_id = c.send("13812345678", NEAR)
        long_text = "您预约的事项办理须知：" + "请携带身份证原件及复印件，" * 8
        c.send("13812345678", long_text)
        got = sim.wait_for(2)
        assert [(m.phone, m.text, m.segments) for m in got] == [
            ("13812345678", NEAR, 1), ("13812345678", long_text, 2)]
        assert wait(lambda: len(reports) == 3)  # one report per submitted segment
        assert reports[0] == (msg_id, "DELIVRD", "13812345678")
    finally:
        c.close()


def test_a_wrong_secret_is_refused_and_never_online(sim):
    states = []
    c = client(sim, secret="wrong", on_state=lambda online, why: states.append((online, why)))
    try:
        assert wait(lambda: c.stats["refused"] >= 2)  # and tried again with back-off
        assert not c.online and states and "authentication" in states[0][1]
        with pytest.raises(SendFailed) as e:
            c.send("13812345678", NEAR)
        assert e.value.retry
    finally:
        c.close()


def test_rejection_outage_and_reconnect(sim):
    c = client(sim)
    try:
        assert c.wait_online(5)
        sim.fault("reject")
        with pytest.raises(SendFailed) as e:
            c.send("13812345678", NEAR)
        assert not e.value.retry and "Result 9" in e.value.reason
        sim.fault("down")
        assert wait(lambda: not c.online)
        with pytest.raises(SendFailed) as e:
            c.send("13812345678", NEAR)
        assert e.value.retry
        sim.fault("ok")
        assert c.wait_online(5) and c.stats["connects"] >= 2
        c.send("13812345678", NEAR)
        assert sim.wait_for(1)[0].text == NEAR
    finally:
        c.close()


def test_slow_answers_fail_in_time_and_a_silent_gateway_fails_the_active_test(sim):
    c = client(sim, active_test_seconds=0.3)
    try:
        assert c.wait_online(5)
        assert wait(lambda: sim.active_tests >= 1)  # idle link tested, and kept
        assert c.online
        sim.fault("slow")  # 2 s late, the client waits 0.5 s
        started = time.monotonic()
        with pytest.raises(SendFailed):
            c.send("13812345678", NEAR)
        assert time.monotonic() - started < 1.5
        sim.fault("silent")
        assert wait(lambda: not c.online)  # the active test went unanswered
        sim.fault("ok")
        assert c.wait_online(5)
    finally:
        c.close()


def test_a_citizens_reply_reaches_on_message(sim):
    got = []
    done = threading.Event()
    c = client(sim, on_message=lambda phone, text: (got.append((phone, text)), done.set()))
    try:
        assert c.wait_online(5) and wait(lambda: sim._links)
        assert sim.mo("13812345678", "TD") == 1
        assert done.wait(5) and got == [("13812345678", "TD")]
    finally:
        c.close()


def test_http_adapter_sends_is_refused_and_sees_an_outage(sim):
    http = HttpSms(sim.url + "/send", timeout=0.5)
    assert http.send("13812345678", NEAR)
    assert sim.wait_for(1)[0].via == "http"
    sim.fault("reject")
    with pytest.raises(SendFailed) as e:
        http.send("13812345678", NEAR)
    assert not e.value.retry and "1021" in e.value.reason
    sim.fault("down")
    with pytest.raises(SendFailed) as e:
        http.send("13812345678", NEAR)
    assert e.value.retry and not http.online
    sim.fault("slow")
    with pytest.raises(SendFailed) as e:
        http.send("13812345678", NEAR)
    assert e.value.retry
    sim.fault("ok")
    http.send("13812345678", NEAR)
    assert http.online
    import urllib.request
    page = urllib.request.urlopen(sim.url + "/", timeout=5).read().decode()
    assert NEAR in page and "短信网关" in page


def test_reconnects_back_off_doubling_up_to_the_maximum():
    """A gateway that takes the TCP link and drops it at once (an ISMG restarting) is tried again
    after 0.05, 0.1, 0.2, 0.4, 0.4 … s, never in a tight loop (lower bounds only: a loaded machine
    may add to a gap, never take from it)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    attempts: list[float] = []

    def drop_every_link():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            attempts.append(time.monotonic())
            conn.close()

    threading.Thread(target=drop_every_link, daemon=True).start()
    c = CmppClient("127.0.0.1", listener.getsockname()[1], "901234", "s3cret", answer_timeout=0.5,
                   first_backoff=0.05, max_backoff=0.4).start()
    try:
        assert wait(lambda: len(attempts) >= 6)
        seen = list(attempts)
        gaps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
        assert gaps[1] >= 0.09 and gaps[2] >= 0.19 and gaps[3] >= 0.39 and gaps[4] >= 0.39, gaps
        assert not c.online and c.stats["connects"] == 0
    finally:
        c.close()
        listener.close()


def test_a_long_message_cut_between_segments_is_resumed_not_sent_again(sim):
    """The gateway takes segment 1 of a long message and throttles segment 2 (Result 8): the retry
    with the same key sends segment 2 alone, with the same UDH reference, so the phone gets one
    whole message — not segment 1 twice, one copy of it never completed."""
    c = client(sim)
    try:
        assert c.wait_online(5)
        long_text = "您预约的事项办理须知：" + "请携带身份证原件及复印件，" * 8  # two segments
        sim.refuse_next(after=1)
        with pytest.raises(SendFailed) as e:
            c.send("13812345678", long_text, key="near:t1")
        assert e.value.retry and "Result 8" in e.value.reason
        before = sim.submits
        c.send("13812345678", long_text, key="near:t1")
        assert sim.submits - before == 1  # only the segment the gateway had not taken
        got = sim.wait_for(1)
        assert [(m.text, m.segments) for m in got] == [(long_text, 2)]
        assert sim.waiting_segments() == 0
    finally:
        c.close()
