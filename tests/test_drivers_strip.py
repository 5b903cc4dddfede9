"""The LS-A0 strip client against simulated strips over a real pty."""

from __future__ import annotations

import time

import pytest

from drivers.lsa0 import Color, Mode, SetIdle
from drivers.lsa0_strip import StripClient
from drivers.sim import wait_for
from drivers.sim.lsa0_strip import LsA0LineSim


@pytest.fixture
def line():
    sim = LsA0LineSim()
    yield sim
    sim.close()


def client(line, **kw) -> StripClient:
    kw.setdefault("retry_interval", 0.2)
    kw.setdefault("port_retry_interval", 0.05)
    return StripClient(line.path, **kw).start()


def test_show_set_idle_brightness_clear(line):
    s3 = line.add_strip(3)
    with client(line, strips=[3]) as c:
        assert c.set_idle(3, "3号窗口 社保医保", Color.GREEN).clean
        c.show(3, "A023 请到3号窗口", Color.RED, Mode.BLINK)
        c.brightness(3, 7)
        assert c.flush()
        assert (s3.text, s3.color, s3.mode, s3.showing) == ("A023 请到3号窗口", Color.RED, Mode.BLINK, "text")
        assert (s3.idle_text, s3.idle_color, s3.brightness) == ("3号窗口 社保医保", Color.GREEN, 7)
        assert c.show_idle(3).result(2) is True
        assert s3.showing == "idle" and s3.text == "3号窗口 社保医保"
        assert c.clear(3).result(2) is True
        assert s3.showing == "blank" and s3.text == ""
        assert c.online(3) is True


def test_text_outside_gbk_is_replaced_and_reported_and_long_text_cut(line):
    s3 = line.add_strip(3)
    problems = []
    with client(line, strips=[3], on_text_problem=lambda a, t, e: problems.append((a, e.replaced))) as c:
        enc = c.show(3, "A023 请到3号窗口😀")
        assert enc.replaced == ("😀",) and enc.text == "A023 请到3号窗口?"
        c.flush()
        assert s3.text == "A023 请到3号窗口?" and s3.naks == 0  # never invalid bytes on the wire
        long = c.show(3, "A" + "号" * 40)
        assert long.truncated and len(long.data) == 63
        c.flush()
        assert s3.text == "A" + "号" * 31
    assert problems == [(3, ("😀",)), (3, ())]


def test_nak_is_resent_at_most_twice(line):
    s3 = line.add_strip(3)
    with client(line, strips=[3]) as c:
        s3.nak_next = 1
        assert c.show(3, "A001") and c.flush()
        assert s3.text == "A001" and s3.naks == 1
        s3.nak_next = 5
        fut = c.clear(3)
        assert fut.result(2) is False
        assert s3.naks == 1 + 3  # first send + 2 resends
        assert c.online(3) is True  # a NAKing strip is alive


def test_silent_strip_goes_offline_and_is_restored_when_back(line):
    s3 = line.add_strip(3)
    s4 = line.add_strip(4)
    states = []
    with client(line, strips=[3, 4], on_strip_state=lambda a, o: states.append((a, o))) as c:
        c.set_idle(3, "3号窗口 社保医保")
        c.show(3, "A023 请到3号窗口")
        c.flush()
        s3.silent = True
        frames_before = len(s3.frames)
        t0 = time.monotonic()
        c.show(3, "A024 请到3号窗口", Color.GREEN)
        c.show(4, "B001 请到4号窗口")  # the other strip keeps working
        c.flush()
        assert (3, False) in states
        assert s4.text == "B001 请到4号窗口"
        assert time.monotonic() - t0 < 1.0  # 3 sends x 100 ms, then nothing more waits on it
        c.show(3, "A025 请到3号窗口", Color.GREEN)  # while offline: remembered only
        c.flush()
        assert len(s3.frames) == frames_before
        # the strip loses power and memory, then comes back
        s3.idle_text, s3.text = "", ""
        s3.silent = False
        assert wait_for(lambda: states[-1] == (3, True), 2.0)
        assert wait_for(lambda: s3.text == "A025 请到3号窗口")
        assert s3.idle_text == "3号窗口 社保医保" and s3.color == Color.GREEN
    assert [s for s in states if s[0] == 3] == [(3, True), (3, False), (3, True)]


def test_ping_and_port_reconnect(line):
    s3 = line.add_strip(3)
    port_states = []
    with client(line, strips=[3], on_port_state=port_states.append) as c:
        assert c.ping(3) is True
        assert c.ping(9) is False  # nobody at address 9
        c.show(3, "A001")
        c.flush()
        line.unplug()
        c.show(3, "A002")
        c.flush()
        assert wait_for(lambda: port_states[-1:] == [False])
        line.replug()
        assert wait_for(lambda: s3.text == "A002", 3.0)
    assert port_states == [True, False, True]


def test_ping_of_a_working_strip_does_not_rewrite_its_idle_memory(line):
    """The caller pings idle strips every 15 s: SET_IDLE writes the strip's non-volatile memory, so
    a ping re-asserts what the strip shows (SHOW_IDLE, or its content without a new blink)."""
    s3 = line.add_strip(3)
    with client(line, strips=[3]) as c:
        c.set_idle(3, "3号窗口 社保医保")
        c.show_idle(3)
        c.flush()
        s3.text, s3.showing = "", "blank"  # power cut: the idle text is kept, the display is not
        for _ in range(3):
            assert c.ping(3) is True
        assert sum(isinstance(f, SetIdle) for f in s3.frames) == 1
        assert (s3.showing, s3.text) == ("idle", "3号窗口 社保医保")
        c.show(3, "A023 请到3号窗口", Color.GREEN, Mode.BLINK)
        c.flush()
        assert c.ping(3) is True
        assert (s3.text, s3.color, s3.mode) == ("A023 请到3号窗口", Color.GREEN, Mode.STATIC)
        assert sum(isinstance(f, SetIdle) for f in s3.frames) == 1


def test_worker_survives_a_failing_offline_retry(line):
    """A strip whose retry raises (here: a probe that blows up) must not end the worker thread
    that serves every other strip on the line."""
    line.add_strip(1)
    strips = client(line, strips=[1, 9], ack_timeout=0.05, retry_interval=0.05)
    try:
        strips.set_idle(9, "9号窗口")  # strip 9 is absent: it goes offline and is retried
        assert wait_for(lambda: strips.online(9) is False, 5)

        def broken_probe(addr, st):
            raise RuntimeError("odd strip")

        strips._probe = broken_probe
        time.sleep(0.3)  # several retry rounds hit the broken probe
        assert strips._thread.is_alive()
        strips.show(1, "A001 请到1号窗口")
        assert wait_for(lambda: line.strips[1].text == "A001 请到1号窗口", 2)
    finally:
        strips.stop()
