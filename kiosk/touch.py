"""Turn pygame input into taps, one per finger press.

A touch screen delivers each press twice: SDL sends FINGERDOWN and then synthesises a
MOUSEBUTTONDOWN (pygame marks it `touch=True`). Some USB touch frames present themselves as a
mouse only, so plain mouse clicks still count — unless a finger event arrived just before, in
which case the click is the same press seen again. Very fast repeats (contact bounce on cheap
frames, an impatient double tap) are dropped here; the screens add their own guards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pygame

MOUSE_AFTER_FINGER_SECONDS = 0.5
BOUNCE_SECONDS = 0.12


@dataclass(frozen=True)
class Tap:
    x: int
    y: int
    at: float


class TapFilter:
    """Feed every event to `tap_of`; it returns a Tap for a press that counts, else None."""

    def __init__(self, size: tuple[int, int], clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.clock = clock
        self._last_finger = -1e9
        self._last_tap: Tap | None = None

    def tap_of(self, event: pygame.event.Event) -> Tap | None:
        now = self.clock()
        if event.type == pygame.FINGERDOWN:
            self._last_finger = now
            w, h = self.size
            # Finger coordinates are normalised 0..1 over the window.
            tap = Tap(min(w - 1, int(event.x * w)), min(h - 1, int(event.y * h)), now)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            if getattr(event, "touch", False) or now - self._last_finger < MOUSE_AFTER_FINGER_SECONDS:
                return None
            tap = Tap(event.pos[0], event.pos[1], now)
        else:
            return None
        if self._last_tap is not None and now - self._last_tap.at < BOUNCE_SECONDS:
            return None
        self._last_tap = tap
        return tap
