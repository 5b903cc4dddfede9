"""Simulated LS-A0 LED strips sharing one RS-485 line.

Each strip decodes host frames addressed to it, keeps what it shows (text, colour, mode), its
idle text and brightness, and answers ACK or NAK exactly as the datasheet says. Faults: a strip
can go silent and come back, NAK the next frames, or the whole line can be unplugged.
"""

from __future__ import annotations

import logging

from drivers import lsa0
from drivers.lsa0 import Answer, Brightness, Clear, Color, Mode, SetIdle, Show, ShowIdle
from drivers.sim.line import SimLine
from drivers.sim.pty import Endpoint

log = logging.getLogger(__name__)


class SimStrip:
    """One strip's memory and display."""

    def __init__(self, addr: int) -> None:
        self.addr = addr
        self.text = ""  # what is on the LEDs now
        self.color: Color = Color.RED
        self.mode: Mode = Mode.STATIC
        self.showing = "blank"  # "text" | "idle" | "blank"
        self.idle_text = ""
        self.idle_color: Color = Color.RED
        self.brightness = 15
        self.frames: list[lsa0.StripCommand] = []  # every accepted command, in order
        self.naks = 0
        # faults
        self.silent = False  # powered off / cable cut: no answer at all
        self.nak_next = 0  # answer NAK to the next N frames (as if they arrived garbled)

    def apply(self, cmd: lsa0.StripCommand) -> None:
        self.frames.append(cmd)
        match cmd:
            case Show(_, text, color, mode):
                self.text, self.color, self.mode, self.showing = text, Color(color), Mode(mode), "text"
            case SetIdle(_, text, color):
                self.idle_text, self.idle_color = text, Color(color)
            case ShowIdle():
                self.text, self.color, self.showing = self.idle_text, self.idle_color, "idle"
                self.mode = Mode.SCROLL if len(self.idle_text.encode("gbk")) > 16 else Mode.STATIC
            case Brightness(_, level):
                self.brightness = level
            case Clear():
                self.text, self.showing = "", "blank"


class LsA0LineSim(SimLine):
    """One line with many strips answering by address."""

    def __init__(self, endpoint: Endpoint | None = None, name: str = "ls-a0") -> None:
        super().__init__(endpoint, name)
        self.strips: dict[int, SimStrip] = {}
        self.parser = lsa0.FrameParser()
        self.start()

    def add_strip(self, addr: int) -> SimStrip:
        if not 0x01 <= addr <= 0xFE:
            raise ValueError(f"strip address must be 0x01-0xFE, not 0x{addr:02X}")
        strip = self.strips[addr] = SimStrip(addr)
        return strip

    def _forget_partial(self) -> None:
        self.parser = lsa0.FrameParser()

    def _on_bytes(self, data: bytes) -> None:
        for frame, xor_ok in self.parser.feed(data):
            self._on_frame(frame, xor_ok)

    def _on_frame(self, frame: lsa0.Frame, xor_ok: bool) -> None:
        targets = list(self.strips.values()) if frame.addr == lsa0.BROADCAST else [self.strips.get(frame.addr)]
        for strip in targets:
            if strip is None or strip.silent:
                continue
            ok = xor_ok and strip.nak_next == 0
            cmd = None
            if ok:
                try:
                    cmd = lsa0.decode(frame)
                except lsa0.Invalid as e:
                    log.debug("strip 0x%02X NAKs %s: %s", strip.addr, frame, e)
                    ok = False
            if strip.nak_next > 0:
                strip.nak_next -= 1
            if ok and cmd is not None:
                strip.apply(cmd)
            else:
                strip.naks += 1
            if frame.addr != lsa0.BROADCAST:
                self.endpoint.write(Answer(strip.addr, frame.cmd, ok).encode())
