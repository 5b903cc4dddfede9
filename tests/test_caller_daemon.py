"""Caller daemon internals that need no devices or server: its threads survive surprises."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from callerrig import FAST  # noqa: E402
from hallfactory import small_hall  # noqa: E402

from caller.daemon import CallerDaemon  # noqa: E402


class FlakyApi:
    """GET /windows answers once with something that is not JSON (a proxy's page), then properly."""

    def __init__(self) -> None:
        self.windows_calls = 0
        self.lock = threading.Lock()

    def get(self, path: str):
        if path == "/health":
            return {"last_event_id": 0}
        if path == "/alerts":
            return {"alerts": []}
        with self.lock:
            self.windows_calls += 1
            n = self.windows_calls
        if n == 2:  # the first refresh after the resync
            raise json.JSONDecodeError("Expecting value", "<html>", 0)
        return {"windows": []}

    def post(self, path: str, body=None):
        return {}


def test_housekeeping_survives_an_unexpected_answer():
    hall = replace(small_hall(all_day=True), buses={})
    daemon = CallerDaemon(hall, "http://127.0.0.1:9", "t", timing=replace(FAST, refresh_every=0.05))
    daemon.api = FlakyApi()
    daemon._spawn(daemon._housekeeping, "test-sync")
    try:
        deadline = time.monotonic() + 5
        while daemon.api.windows_calls < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert daemon.api.windows_calls >= 4, "housekeeping thread died on a bad answer"
        assert daemon._threads[0].is_alive()
    finally:
        daemon.stop()
