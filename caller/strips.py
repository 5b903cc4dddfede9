"""What each window's LED strip shows, decided from the window's state, and putting it there.

The strip (LS-A0, 128x16 dots: 16 ASCII or 8 Chinese characters) shows one of three things:
the called ticket in green ("A023 请到3号窗口", blinking three times when the call is new, then
static), "暂停服务" in red while the window is paused, or its stored idle text otherwise (and
whenever the server cannot be reached, so a strip never shows a call the server no longer has).
`StripBoard` remembers what each strip was last told and sends only changes, so the same state
arriving twice (from the action's answer and from the event stream) does not blink twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from drivers.lsa0 import Color, Mode
from drivers.lsa0_strip import StripClient

log = logging.getLogger(__name__)

STRIP_BYTES = 16  # GBK bytes the strip shows without scrolling
PAUSED_TEXT = "暂停服务"


def call_text(code: str, window: int) -> str:
    """ "A023 请到3号窗口"; the space goes when it would push the text past the strip's width."""
    spaced = f"{code} 请到{window}号窗口"
    if len(spaced.encode("gbk")) <= STRIP_BYTES:
        return spaced
    return f"{code}请到{window}号窗口"


@dataclass(frozen=True)
class StripContent:
    """One strip's intended content; `text` None means the stored idle text."""

    text: str | None
    color: Color = Color.RED

    @property
    def fits(self) -> bool:
        return self.text is None or len(self.text.encode("gbk")) <= STRIP_BYTES


IDLE = StripContent(None)


def content_for(state: str, code: str | None, window: int) -> StripContent:
    """The strip content for a window state as the server reports it (window_view "state")."""
    if state in ("called", "serving") and code:
        return StripContent(call_text(code, window), Color.GREEN)
    if state == "paused":
        return StripContent(PAUSED_TEXT, Color.RED)
    return IDLE


class StripBoard:
    """Every configured strip: window number -> (client, address), with what each was last sent."""

    def __init__(self, strips: dict[int, tuple[StripClient, int]]) -> None:
        self.strips = strips
        self.sent: dict[int, StripContent] = {}
        self._lock = threading.Lock()

    def set_idle_texts(self, idle_texts: dict[int, str]) -> None:
        """Store each strip's idle text (SET_IDLE) and show it: the state before any server answer."""
        for window, text in idle_texts.items():
            if window in self.strips:
                client, addr = self.strips[window]
                client.set_idle(addr, text, Color.RED)
        self.show_all(IDLE, force=True)

    def show(self, window: int, content: StripContent, blink: bool = False, force: bool = False) -> bool:
        """Put `content` on the window's strip unless it is there already (`force` sends anyway: a
        recall blinks the same call again); `blink` announces a new call. Whether a frame was queued."""
        target = self.strips.get(window)
        if target is None:
            return False
        with self._lock:
            if not force and self.sent.get(window) == content:
                return False
            self.sent[window] = content
        client, addr = target
        if content.text is None:
            client.show_idle(addr)
        else:
            mode = Mode.BLINK if blink and content.fits else (Mode.STATIC if content.fits else Mode.SCROLL)
            client.show(addr, content.text, content.color, mode)
        return True

    def show_all(self, content: StripContent, force: bool = False) -> None:
        for window in self.strips:
            self.show(window, content, force=force)

    def refresh(self, window: int) -> None:
        """Resend a strip's content without blinking: checks it still answers and repairs a strip
        that lost power without missing a frame. Offline strips are left to the client's retry."""
        target = self.strips.get(window)
        if target is None:
            return
        client, addr = target
        if client.online(addr) is False:
            return
        content = self.sent.get(window, IDLE)
        if content.text is None:
            client.ping(addr, timeout=0)
        else:
            client.show(addr, content.text, content.color, Mode.STATIC if content.fits else Mode.SCROLL)
