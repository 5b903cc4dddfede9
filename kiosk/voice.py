"""Spoken prompts for the kiosk (适老化): espeak-ng's Mandarin voice played through pygame.mixer.

Optional by design: without espeak-ng, without a sound device, or under SDL's dummy audio driver
(tests, headless runs) the kiosk is silent and says nothing about it beyond one debug line.
Speech runs on a worker thread so synthesis never holds up the screen.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import shutil
import subprocess
import threading

log = logging.getLogger(__name__)

VOICE = "cmn-latn-pinyin"
DIGITS = "零一二三四五六七八九"


def spoken_code(code: str) -> str:
    """A ticket code read one character at a time, digits in Chinese: "A023" -> "A 零 二 三"."""
    return " ".join(DIGITS[int(c)] if c.isdigit() else c for c in code)


def synthesize(text: str, voice: str = VOICE, speed: int = 150) -> bytes:
    """WAV bytes for `text` from espeak-ng (raises OSError/CalledProcessError when it cannot)."""
    return subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True, capture_output=True, timeout=10,
    ).stdout


class Voice:
    """say() queues a sentence; only the newest waiting one is spoken (a new screen wins)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and self._available()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True, name="kiosk-voice")
            self._thread.start()

    @staticmethod
    def _available() -> bool:
        if os.environ.get("SDL_AUDIODRIVER") == "dummy" or shutil.which("espeak-ng") is None:
            log.debug("voice prompts off (no espeak-ng or no audio device)")
            return False
        import pygame

        try:
            if not pygame.mixer.get_init():
                pygame.mixer.init()
            return True
        except pygame.error as exc:
            log.debug("voice prompts off: %s", exc)
            return False

    def say(self, text: str) -> None:
        if not self.enabled:
            return
        while not self._queue.empty():  # drop stale prompts
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(text)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(2.0)

    def _run(self) -> None:
        import pygame

        while (text := self._queue.get()) is not None:
            try:
                pygame.mixer.Sound(file=io.BytesIO(synthesize(text))).play()
            except (OSError, subprocess.SubprocessError, pygame.error) as exc:
                log.debug("could not speak %r: %s", text, exc)
