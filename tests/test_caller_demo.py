"""`hallq demo` with simulated devices: clerks work keypads, the caller daemon carries it to the server."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from liveserver import free_port

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_the_window_side_on_simulated_devices(tmp_path):
    db = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    out = subprocess.run(
        [sys.executable, "-m", "hallq.cli", "demo", "--port", str(free_port()), "--db", str(db),
         "--duration", "15", "--speed", "60", "--history-days", "4", "--per-day", "300"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=90,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "caller daemon running" in out.stdout
    assert "hall display not started" in out.stdout
    with sqlite3.connect(db) as conn:
        logins = conn.execute("SELECT actor, COUNT(*) FROM events WHERE type = 'window.login' AND ts >= date('now', '-1 day') "
                              "AND actor = 'caller' GROUP BY actor").fetchall()
        calls = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'ticket.called' AND actor = 'caller'").fetchone()[0]
    assert logins == [("caller", 40)]  # every clerk signed in on the keypad, through the daemon
    assert calls > 0
    # The days before today were played through the engine first (when there were working days).
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hallq.config import load_config
    from hallq.demo_history import working_days_before

    config = load_config(REPO / "config" / "demo-hall.toml")
    if working_days_before(datetime.now(ZoneInfo(config.rules.timezone)).date(), 4, config.hours.weekdays):
        assert "history:" in out.stdout
