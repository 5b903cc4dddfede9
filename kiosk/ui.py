"""The pygame loop: display, taps to actions, one frame at a time.

`KioskUI.step()` handles pending events and draws one frame, so tests drive the real loop
headless (SDL_VIDEODRIVER=dummy) with synthetic finger events, and `run()` is just steps at 30 fps.
The menu's waiting counts are refreshed on a background thread; a server that stops answering
turns the start screen into "暂停取号，请到服务台" until it answers again. A second thread follows
the event stream and reads the menu again at once when the hall's configuration changes
(config.changed: a matter's materials, a new matter), so the next ticket prints what was saved.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pygame

from kiosk.app import KioskApp
from kiosk.screens import Button, Screens, hit
from kiosk.touch import Tap, TapFilter

log = logging.getLogger(__name__)
PORTRAIT = (1080, 1920)
LANDSCAPE = (1920, 1080)


class KioskUI:
    def __init__(self, app: KioskApp, font_path: Path, *, size: tuple[int, int] = PORTRAIT,
                 fullscreen: bool = True, kiosk_name: str = "", refresh_seconds: float = 10.0) -> None:
        pygame.display.init()
        pygame.font.init()
        flags = pygame.FULLSCREEN if fullscreen else 0
        self.surface = pygame.display.set_mode(size, flags)
        self.size = self.surface.get_size()
        pygame.display.set_caption(kiosk_name or "取号机")
        pygame.mouse.set_visible(not fullscreen)
        self.app = app
        self.screens = Screens(self.size, font_path, kiosk_name, staff_button=bool(app.staff_pin))
        self.taps = TapFilter(self.size, app.clock)  # one clock for taps and screen changes
        self.buttons: list[Button] = []
        self.running = True
        self.refresh_seconds = refresh_seconds
        self._stop = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_loop, daemon=True, name="kiosk-menu")
        self._follower = threading.Thread(target=self._follow_loop, daemon=True, name="kiosk-events")

    def start(self) -> KioskUI:
        self._since = self._last_event()  # before the menu is read: no change can fall in between
        self.app.refresh_menu()
        self._refresher.start()
        self._follower.start()
        self.draw()
        return self

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.app.refresh_menu()

    def _follow_loop(self) -> None:
        """config.changed on the event stream: the menu is read again now, not at the next refresh."""
        while not self._stop.is_set():
            try:
                for event in self.app.api.events(self._since, retry_seconds=5.0, stop=self._stop):
                    self._since = event.get("id", self._since)
                    if event.get("type") == "config.changed":
                        self.app.refresh_menu()
            except Exception as exc:  # e.g. a token refused the stream: the periodic refresh remains
                log.warning("event stream not followed: %s", exc)
                self._stop.wait(60.0)

    def _last_event(self) -> int | None:
        try:
            return int(self.app.api.get("/health")["last_event_id"])
        except Exception:  # offline at start: follow from whenever the stream connects
            return None

    def draw(self) -> None:
        self.buttons = self.screens.draw(self.surface, self.app)
        pygame.display.flip()

    def press(self, tap: Tap) -> bool:
        """A tap on the buttons of the frame the citizen saw."""
        action = hit(self.buttons, tap.x, tap.y)
        return action is not None and self.app.handle(action, at=tap.at)

    def step(self) -> None:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                                             and event.mod & pygame.KMOD_CTRL):
                self.running = False
            tap = self.taps.tap_of(event)
            if tap is not None:
                self.press(tap)
                self.draw()  # the next tap must hit what is on screen now
        self.app.tick()
        self.draw()

    def run(self, fps: int = 30) -> None:
        clock = pygame.time.Clock()
        while self.running:
            self.step()
            clock.tick(fps)

    def screenshot(self, path: str | Path) -> Path:
        self.draw()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.surface, str(path))
        return Path(path)

    def close(self) -> None:
        self._stop.set()
        pygame.display.quit()
