"""LS-A0 LED strip codec: host frames, strip answers, and streaming parsers for both.

Host frame (datasheet §2): `A0 90 ADDR CMD LEN_hi LEN_lo PAYLOAD… X`, X = XOR of every byte
before it. Answer (§4): `A0 90 ADDR CMD AA` (ACK) or `… 55` (NAK), no checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from drivers.gbk import GbkText, encode_gbk

HEAD = bytes((0xA0, 0x90))
MAX_PAYLOAD = 200
MAX_TEXT = 64
BROADCAST = 0xFF
ACK = 0xAA
NAK = 0x55


class Cmd(IntEnum):
    SHOW_IDLE = 0xA1
    SET_IDLE = 0xA2
    SHOW = 0xA5
    BRIGHTNESS = 0xA6
    CLEAR = 0xA7


class Color(IntEnum):
    RED = 0x00
    GREEN = 0x01
    YELLOW = 0x02


class Mode(IntEnum):
    STATIC = 0x00
    SCROLL = 0x01
    BLINK = 0x02  # blink three times, then static


def xor(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


@dataclass(frozen=True)
class Frame:
    addr: int
    cmd: int
    payload: bytes = b""

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD:
            raise ValueError(f"payload is {len(self.payload)} bytes, at most {MAX_PAYLOAD}")
        body = HEAD + bytes((self.addr, self.cmd)) + len(self.payload).to_bytes(2, "big") + self.payload
        return body + bytes((xor(body),))


@dataclass(frozen=True)
class Answer:
    addr: int
    cmd: int
    ok: bool  # ACK (True) or NAK (False)

    def encode(self) -> bytes:
        return HEAD + bytes((self.addr, self.cmd, ACK if self.ok else NAK))


# ---------------------------------------------------------------- typed commands


@dataclass(frozen=True)
class Show:
    addr: int
    text: str
    color: Color = Color.RED
    mode: Mode = Mode.STATIC


@dataclass(frozen=True)
class SetIdle:
    addr: int
    text: str
    color: Color = Color.RED


@dataclass(frozen=True)
class ShowIdle:
    addr: int


@dataclass(frozen=True)
class Brightness:
    addr: int
    level: int  # 0..15


@dataclass(frozen=True)
class Clear:
    addr: int


StripCommand = Show | SetIdle | ShowIdle | Brightness | Clear


def encode_text(text: str) -> GbkText:
    """GBK bytes the strip can display: '?' for what GBK lacks, cut to 64 bytes on a character."""
    return encode_gbk(text, MAX_TEXT)


def to_frame(command: StripCommand) -> tuple[Frame, GbkText | None]:
    """The wire frame for a command, plus the text encoding report for commands carrying text."""
    match command:
        case Show(addr, text, color, mode):
            enc = encode_text(text)
            return Frame(addr, Cmd.SHOW, bytes((Color(color), Mode(mode))) + enc.data), enc
        case SetIdle(addr, text, color):
            enc = encode_text(text)
            return Frame(addr, Cmd.SET_IDLE, bytes((Color(color),)) + enc.data), enc
        case ShowIdle(addr):
            return Frame(addr, Cmd.SHOW_IDLE), None
        case Brightness(addr, level):
            if not 0 <= level <= 15:
                raise ValueError("brightness is 0..15")
            return Frame(addr, Cmd.BRIGHTNESS, bytes((level,))), None
        case Clear(addr):
            return Frame(addr, Cmd.CLEAR), None
    raise TypeError(f"not a strip command: {command!r}")


def encode(command: StripCommand) -> bytes:
    return to_frame(command)[0].encode()


class Invalid(ValueError):
    """A frame that was well delimited but that a strip must NAK."""


def decode(frame: Frame) -> StripCommand:
    """Typed command from a checked frame; raises Invalid for what the strip must NAK."""
    p = frame.payload
    try:
        cmd = Cmd(frame.cmd)
    except ValueError:
        raise Invalid(f"unknown command 0x{frame.cmd:02X}") from None
    try:
        if cmd == Cmd.SHOW:
            if len(p) < 2 or len(p) - 2 > MAX_TEXT:
                raise Invalid("SHOW payload is COLOR, MODE and at most 64 text bytes")
            return Show(frame.addr, p[2:].decode("gbk"), Color(p[0]), Mode(p[1]))
        if cmd == Cmd.SET_IDLE:
            if len(p) < 1 or len(p) - 1 > MAX_TEXT:
                raise Invalid("SET_IDLE payload is COLOR and at most 64 text bytes")
            return SetIdle(frame.addr, p[1:].decode("gbk"), Color(p[0]))
        if cmd == Cmd.BRIGHTNESS:
            if len(p) != 1 or p[0] > 15:
                raise Invalid("BRIGHTNESS takes one level 0..15")
            return Brightness(frame.addr, p[0])
        if p:
            raise Invalid(f"{cmd.name} takes no payload")
        return ShowIdle(frame.addr) if cmd == Cmd.SHOW_IDLE else Clear(frame.addr)
    except Invalid:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise Invalid(f"{cmd.name}: {e}") from None


# ---------------------------------------------------------------- streaming parsers


class FrameParser:
    """Host frames from a byte stream, for the strip side (simulators).

    Returns (frame, xor_ok) pairs: a frame with a bad XOR is still delimited by its LEN so the
    strip can NAK it; a LEN over 200 means the header was noise and scanning moves one byte on.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_xor = 0

    def feed(self, chunk: bytes) -> list[tuple[Frame, bool]]:
        buf = self._buf
        buf += chunk
        out: list[tuple[Frame, bool]] = []
        i, n = 0, len(buf)
        while i < n:
            if buf[i] != 0xA0 or (n - i >= 2 and buf[i + 1] != 0x90):
                i += 1
                continue
            if n - i < 6:
                break
            length = (buf[i + 4] << 8) | buf[i + 5]
            if length > MAX_PAYLOAD:
                i += 1
                continue
            total = 7 + length
            if n - i < total:
                break
            raw = bytes(buf[i : i + total])
            ok = xor(raw[:-1]) == raw[-1]
            if not ok:
                self.bad_xor += 1
            out.append((Frame(raw[2], raw[3], raw[6:-1]), ok))
            i += total
        del buf[:i]
        return out


class AnswerParser:
    """Strip answers (`A0 90 ADDR CMD AA|55`) from a byte stream, for the host side."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[Answer]:
        buf = self._buf
        buf += chunk
        out: list[Answer] = []
        i, n = 0, len(buf)
        while i < n:
            if buf[i] != 0xA0 or (n - i >= 2 and buf[i + 1] != 0x90) or (n - i >= 5 and buf[i + 4] not in (ACK, NAK)):
                i += 1
                continue
            if n - i < 5:
                break
            out.append(Answer(buf[i + 2], buf[i + 3], buf[i + 4] == ACK))
            i += 5
        del buf[:i]
        return out

    def reset(self) -> None:
        self._buf.clear()
