"""A kiosk under test: the real pygame loop headless, a real server on uvicorn, a printer sim on a pty.

Taps are synthetic FINGERDOWN/FINGERUP events posted to pygame at the centre of a drawn button,
so they go through the same filter and hit-testing as a finger. The kiosk runs on a manual clock
the rig moves between taps (each tap is a second later unless a test taps "at once"), so settle
and idle timeouts are exact and the tests never sleep for them.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame  # noqa: E402

from drivers.printer import TicketPrinter  # noqa: E402
from drivers.sim.printer import PrinterSim  # noqa: E402
from hallq.client import ApiClient  # noqa: E402
from hallq.fonts import find_cjk_font  # noqa: E402
from hallq.model import Printer  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402
from kiosk.printing import PrinterAlerts, TicketOutput  # noqa: E402
from kiosk.ui import PORTRAIT, KioskUI  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "kiosk"
PIN = "2468"


class ManualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Rig:
    def __init__(self, base_url: str, *, sim: PrinterSim | None = None, size=PORTRAIT, token: str = "t-kiosk",
                 with_printer: bool = True, native_qr: bool = True) -> None:
        self.base = base_url
        self.clock = ManualClock()
        self.sim = sim if sim is not None else (PrinterSim() if with_printer else None)
        self.api = ApiClient(base_url, token, timeout=3.0)
        self.alerts = PrinterAlerts(self.api, "kiosk:K1")
        self.printer = TicketPrinter(Printer(url=self.sim.path, native_qr=native_qr), on_status=self.alerts.update) if self.sim else None
        self.app = KioskApp(self.api, TicketOutput(self.printer), public_url=base_url, staff_pin=PIN,
                            clock=self.clock)
        self.font = find_cjk_font()
        self.ui = KioskUI(self.app, self.font, size=size, fullscreen=False, kiosk_name="大厅1号取号机").start()

    # ------------------------------------------------------------------ input

    def button(self, action: tuple):
        for b in self.ui.buttons:
            if b.action == action:
                return b
        raise LookupError(f"no button {action} on {self.app.screen}: {[b.action for b in self.ui.buttons]}")

    def finger(self, x: int, y: int, *, mouse_too: bool = False) -> None:
        w, h = self.ui.size
        common = {"touch_id": 1, "finger_id": 0, "x": x / w, "y": y / h, "dx": 0.0, "dy": 0.0, "pressure": 1.0}
        pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, common))
        if mouse_too:  # what SDL synthesises for the same press
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=True))
        pygame.event.post(pygame.event.Event(pygame.FINGERUP, common))
        if mouse_too:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=True))

    def tap(self, action: tuple, *, at_once: bool = False, mouse_too: bool = False, times: int = 1) -> None:
        """Tap the button for `action` (a second after the last tap unless `at_once`)."""
        x, y = self.button(action).rect.center
        if not at_once:
            self.clock.advance(1.0)
        for _ in range(times):
            self.finger(x, y, mouse_too=mouse_too)
            self.ui.step()
            if times > 1:
                self.clock.advance(0.2)  # an impatient citizen: five taps a second

    def tap_paged(self, action: tuple) -> None:
        """Tap a button that may be on a later page of a long list."""
        while action not in [b.action for b in self.ui.buttons]:
            self.tap(("page", 1))
        self.tap(action)

    def settle(self, timeout: float = 10.0) -> None:
        """Let the request in flight finish (the UI keeps drawing meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.app.busy and time.monotonic() < deadline:
            self.ui.step()
            time.sleep(0.005)
        self.ui.step()
        assert not self.app.busy, "ticket request still in flight"

    def paper_checked(self, timeout: float = 10.0) -> None:
        """Wait for the kiosk's check that the last printed ticket came out whole (a thread that
        reads the printer once the paper should be out): a test that then breaks the printer breaks
        it for the next ticket, not for that one's check, which would put it back on screen."""
        deadline = time.monotonic() + timeout
        for t in threading.enumerate():
            if t.name == "kiosk-paper-check":
                t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.name == "kiosk-paper-check" and t.is_alive() for t in threading.enumerate()), \
            "the paper check of the last ticket still running"

    def shot(self, name: str) -> Path:
        return self.ui.screenshot(ARTIFACTS / f"{name}.png")

    def close(self) -> None:
        self.ui.close()
        self.alerts.close()
        self.app.output.close()
        if self.sim is not None:
            self.sim.close()



def issued_count(server) -> int:
    """Live tickets on the server: what the kiosk really issued."""
    return len(server[1].config["ENGINE"].tickets)
