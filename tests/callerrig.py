"""A window side under test: a real server (uvicorn, restartable on the same port and database),
the caller daemon, and simulated keypads, evaluators and strips on ptys.

Used by tests/test_caller_*.py and bench/bench_caller.py.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from hallfactory import small_hall  # noqa: E402
from liveserver import free_port  # noqa: E402

from caller.daemon import CallerDaemon, Timing  # noqa: E402
from drivers.sim.lsa0_strip import LsA0LineSim  # noqa: E402
from drivers.sim.qb68_devices import Qb68LineSim  # noqa: E402
from hallq.client import ApiClient  # noqa: E402
from hallq.model import Bus, DeviceRef, HallConfig  # noqa: E402
from server.app import create_app, stop_app  # noqa: E402
from server.serving import BackgroundServer  # noqa: E402

FAST = Timing(action_timeout=1.0, poll_interval=0.2, poll_timeout=0.05, strip_ack_timeout=0.05, strip_retry=0.4,
              port_retry=0.3, event_retry=0.2, refresh_min=0.05, refresh_every=1.0, strip_check=0.3)


def device_hall(qb68_port: str, strip_port: str) -> HallConfig:
    """The small test hall (open all day) with a keypad, an evaluator (0x80 + n) and a strip per window."""
    hall = small_hall(all_day=True)
    windows = {
        n: replace(w, keypad=DeviceRef("callers", n), evaluator=DeviceRef("callers", 0x80 + n),
                   strip=DeviceRef("strips", n), idle_text=f"{n}号窗口 {w.name}")
        for n, w in hall.windows.items()
    }
    buses = {"callers": Bus("callers", "qb68", qb68_port), "strips": Bus("strips", "ls-a0", strip_port)}
    return replace(hall, windows=windows, buses=buses)


class CallerRig:
    def __init__(self, db: Path, timing: Timing = FAST, prompt_seconds: float = 30.0, announce=None) -> None:
        self.qb = Qb68LineSim()
        self.ls = LsA0LineSim()
        self.config = device_hall(self.qb.path, self.ls.path)
        self.keypads = {n: self.qb.add_keypad(n) for n in self.config.windows}
        self.evaluators = {n: self.qb.add_evaluator(0x80 + n, prompt_seconds=prompt_seconds) for n in self.config.windows}
        self.strips = {n: self.ls.add_strip(n) for n in self.config.windows}
        self.db = db
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app = None
        self._server = None
        self._loop: threading.Thread | None = None
        self.start_server()
        self.admin = ApiClient(self.base, "t-admin", timeout=3)
        self.kiosk = ApiClient(self.base, "t-kiosk", timeout=3)
        self.timing = timing
        self.announce = announce
        self.daemon = self.start_daemon()

    def start_daemon(self) -> CallerDaemon:
        return CallerDaemon(self.config, self.base, "t-caller", timing=self.timing, announce=self.announce).start()

    def start_server(self) -> None:
        self.app = create_app(self.config, self.db, supervise=False)
        self._server = BackgroundServer(self.app, port=self.port, threads=16).start()

    def stop_server(self) -> None:
        """Stop serving and free the port, so the same port and database can be served again."""
        stop_app(self.app)
        self._server.stop()
        self.app.config["ENGINE"].store.close()
        self._server = None

    def issue(self, service: str = "S201") -> str:
        return self.kiosk.post("/tickets", {"service": service})["code"]

    def ratings(self) -> list[dict]:
        return self.app.config["ENGINE"].store.rows("SELECT * FROM ratings")

    def events(self, kind: str) -> list[dict]:
        return self.app.config["ENGINE"].store.rows("SELECT * FROM events WHERE type = ?", [kind])

    def window(self, number: int) -> dict:
        return self.admin.get(f"/windows/{number}")

    def close(self) -> None:
        self.daemon.stop()
        if self._server is not None:
            self.stop_server()
        self.qb.close()
        self.ls.close()
