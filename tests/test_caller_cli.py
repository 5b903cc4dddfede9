"""`hallq caller` as a process: township config, simulated devices on ptys, a real server."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from liveserver import all_day_config, free_port

from caller.cli import parse_ports
from drivers.qb68 import Result
from drivers.sim import wait_for
from drivers.sim.cli import SimHall
from hallq.client import ApiClient
from hallq.config import load_config
from server.app import create_app, stop_app
from server.serving import BackgroundServer

REPO = Path(__file__).resolve().parents[1]


def test_parse_ports():
    assert parse_ports(["callers=/dev/ttyUSB3", "strips=socket://127.0.0.1:7001"], {"callers", "strips"}) == {
        "callers": "/dev/ttyUSB3", "strips": "socket://127.0.0.1:7001"}
    with pytest.raises(ValueError, match="no bus 'printer'"):
        parse_ports(["printer=/dev/x"], {"callers"})
    with pytest.raises(ValueError, match="BUS=URL"):
        parse_ports(["callers"], {"callers"})


def test_caller_process_serves_keypads_and_strips(tmp_path):
    config_path = all_day_config(REPO / "config" / "township.toml", tmp_path / "town.toml")
    config = load_config(config_path)
    devices = SimHall(config)
    app = create_app(config, tmp_path / "town.db", supervise=False)
    port = free_port()
    server = BackgroundServer(app, port=port, threads=8).start()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hallq.cli", "caller", "--config", str(config_path), "--server", base,
         *(arg for name, path in devices.ports.items() if not name.startswith("printer:")
           for arg in ("--port", f"{name}={path}"))],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        keypad = devices.qb68["callers"].devices[1]
        strip = devices.strips["strips"].strips[1]
        assert wait_for(lambda: strip.idle_text == "1号窗口 综合受理", 10), strip.idle_text
        assert wait_for(lambda: keypad.display.startswith("W"), 10), keypad.display
        assert keypad.login("2001") == Result.ACCEPTED
        code = ApiClient(base, "demo-qingshi-kiosk-1").post("/tickets", {"service": "S001"})["code"]
        assert keypad.call_next() == Result.ACCEPTED
        assert wait_for(lambda: strip.text == f"{code} 请到1号窗口", 5), strip.text
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "hallq caller: stopped." in out
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_app(app)
        server.stop()
        devices.close()
