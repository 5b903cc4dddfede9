"""ReconnectingPort: pyserial URLs, reconnect, and one log line per state change."""

from __future__ import annotations

import logging
import time

from drivers.sim import wait_for
from drivers.sim.pty import PtyEndpoint, TcpEndpoint
from drivers.transport import ReconnectingPort


def _read_until(port: ReconnectingPort, want: bytes, timeout: float = 2.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while want not in got and time.monotonic() < deadline:
        got += port.read()
    return got


def test_loop_url_echoes():
    port = ReconnectingPort("loop://")
    assert port.open() and port.write(b"\xff\x68abc")
    assert _read_until(port, b"abc") == b"\xff\x68abc"
    port.close()
    assert not port.write(b"x")


def test_socket_url_reconnects_and_logs_once_per_change(caplog):
    ep = TcpEndpoint()
    states: list[bool] = []
    port = ReconnectingPort(ep.path, retry_interval=0.05, on_state=states.append)
    caplog.set_level(logging.INFO, logger="drivers.transport")
    try:
        assert port.open()
        port.write(b"ping")
        assert wait_for(lambda: ep.read(0.05) == b"ping", 2.0)
        ep.unplug()

        def gone() -> bool:
            port.write(b"x")
            port.read()
            return states[-1:] == [False]

        assert wait_for(gone, 2.0)
        for _ in range(10):  # many failed retries while the far end is gone
            port.read()
        ep.replug()
        assert wait_for(lambda: port.wait_online(0.05), 3.0)
        assert states == [True, False, True]
        messages = [r.getMessage() for r in caplog.records]
        assert sum("offline" in m for m in messages) == 1
        assert sum("back online" in m for m in messages) == 1
        assert port.reconnects == 1
    finally:
        port.close()
        ep.close()


def test_pty_path_missing_then_appearing():
    ep = PtyEndpoint("late")
    ep.unplug()
    states: list[bool] = []
    port = ReconnectingPort(ep.path, retry_interval=0.05, on_state=states.append)
    try:
        assert not port.open()
        assert states == [False]
        ep.replug()
        assert port.wait_online(2.0)
        ep.write(b"hello")
        assert _read_until(port, b"hello") == b"hello"
        assert states == [False, True]
    finally:
        port.close()
        ep.close()


def test_pty_unplugged_under_a_flush_marks_the_port_offline():
    # A USB adapter pulled out (or a pty whose other end is gone) fails tcflush with termios.error,
    # which is not an OSError: it must still mark the port offline and reconnect, not escape to
    # the bus worker as an odd exception while the port stays "online".
    ep = PtyEndpoint("flush")
    states: list[bool] = []
    port = ReconnectingPort(ep.path, retry_interval=0.05, on_state=states.append)
    try:
        assert port.open() and states == [True]
        ep.unplug()
        port.reset_input()
        assert states == [True, False]
        ep.replug()
        assert port.wait_online(2.0)
        assert states == [True, False, True]
    finally:
        port.close()
        ep.close()
