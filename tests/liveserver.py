"""Real HTTP servers for tests: the front on uvicorn on 127.0.0.1 in a thread (as `hallq serve` runs
it), or `hallq serve` as a process."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from server.clock import ScaledClock

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def serve_app(app, port: int = 0):
    """Serve a Flask app behind the front on 127.0.0.1; yields the base URL."""
    from server.app import stop_app
    from server.serving import BackgroundServer

    server = BackgroundServer(app, port=port).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()  # ends the event streams
        stop_app(app)  # and the supervision thread


def all_day_config(source: Path, target: Path) -> Path:
    """A copy of a shipped hall config that is open round the clock, for tests on the wall clock."""
    text = source.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^sessions = .*$", 'sessions = [["00:00", "23:59"]]', text, count=1)
    text = re.sub(r"(?m)^weekdays = .*$", "weekdays = [1, 2, 3, 4, 5, 6, 7]", text, count=1)
    text = re.sub(r"(?m)^lunch_windows = .*$", "lunch_windows = []", text, count=1)
    target.write_text(text, encoding="utf-8")
    return target


def linked_config(source: Path, target: Path, county_url: str, token: str) -> Path:
    """A shipped hall config open round the clock with a [county] table: a hall linked to the
    county at `county_url` with its hall token."""
    plain = all_day_config(source, target.with_name(target.stem + "-plain.toml"))
    target.write_text(plain.read_text(encoding="utf-8") + f'\n[county]\nurl = "{county_url}"\ntoken = "{token}"\n',
                      encoding="utf-8")
    return target


def daytime_clock(tz: str = "Asia/Shanghai", hour: int = 10) -> ScaledClock:
    """Wall-clock speed from 10:00 today in the hall's time zone: a hall open all day that still
    has today's slots ahead whatever hour CI runs (at 23:30 the next slot is tomorrow's)."""
    today = datetime.now(ZoneInfo(tz)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return ScaledClock(today, 1.0)


def next_slot(now: datetime, slot_minutes: int = 30, ahead_minutes: int = 40) -> datetime:
    """The start of the slot `ahead_minutes` from `now` (a slot to book that has not begun)."""
    slot = (now + timedelta(minutes=ahead_minutes)).replace(second=0, microsecond=0)
    return slot.replace(minute=(slot.minute // slot_minutes) * slot_minutes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(config: Path, db: Path, port: int, *extra: str) -> subprocess.Popen:
    """Start `hallq serve` (with `extra` options) as a real process and wait until it answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hallq.cli", "serve", "--config", str(config), "--db", str(db), "--port", str(port),
         *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hallq serve exited: {proc.stdout.read().decode()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("hallq serve did not start")


def wait_for(test, what: str, timeout: float = 30):
    """`test()`'s first true value, polled until `timeout`; else fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s: {what}")
