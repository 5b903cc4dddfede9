"""Second-generation ID card (二代证) SAM frames: commands, answers, status codes, the text block.

Byte for byte from ../shared/datasheets/id-card-reader-sam.md. Frames are
`AA AA AA 96 69`, LEN (2 bytes BE: the bytes that follow), payload, CHK (XOR of LEN and payload).
The parser treats the line as a byte stream: it finds the preamble, waits for LEN bytes, and drops
a frame whose CHK is wrong, resuming one byte after that preamble (datasheet §2). The photo is
only ever measured and skipped here: hall software has no use for it (§5, §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

PREAMBLE = bytes.fromhex("AA AA AA 96 69")
HEADER = len(PREAMBLE) + 2
MAX_LEN = 4096  # a read answer is 1,289 bytes; a LEN above this is noise, not a frame
TEXT_LEN = 256


class Cmd(IntEnum):
    """(CMD << 8) | PARA of every command the host sends (datasheet §3)."""

    SAM_STATUS = 0x11FF
    SAM_RESET = 0x10FF
    FIND = 0x2001
    SELECT = 0x2002
    READ = 0x3001


class Status(IntEnum):
    """SW3 (datasheet §4)."""

    SUCCESS = 0x90
    CARD_FOUND = 0x9F
    NO_CARD = 0x80
    SELECT_FAILED = 0x81
    READ_FAILED = 0x41
    COMMAND_CHECKSUM = 0x10
    COMMAND_LENGTH = 0x11
    UNKNOWN_COMMAND = 0x21
    SAM_FAILED = 0x60


def checksum(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


def frame(payload: bytes) -> bytes:
    """Preamble, LEN, payload, CHK."""
    body = (len(payload) + 1).to_bytes(2, "big") + payload
    return PREAMBLE + body + bytes([checksum(body)])


def command(cmd: Cmd | int, data: bytes = b"") -> bytes:
    """A host command: find card is `AA AA AA 96 69 00 03 20 01 22`."""
    return frame(int(cmd).to_bytes(2, "big") + data)


def answer(sw3: Status | int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    """A reader answer (the simulator's side): "no card" is `AA AA AA 96 69 00 04 00 00 80 84`."""
    return frame(bytes([sw1, sw2, int(sw3)]) + data)


@dataclass(frozen=True)
class Frame:
    """One frame's payload (CMD PARA DATA, or SW1 SW2 SW3 DATA); `ok` is False for a wrong CHK."""

    payload: bytes
    ok: bool = True

    @property
    def cmd(self) -> int:
        """CMD and PARA of a command frame as one number (compare with `Cmd`)."""
        return int.from_bytes(self.payload[:2].ljust(2, b"\0"), "big")

    @property
    def status(self) -> int:
        """SW3 of an answer frame (-1 when the frame is too short to hold one)."""
        return self.payload[2] if len(self.payload) >= 3 else -1

    @property
    def data(self) -> bytes:
        """DATA of an answer frame."""
        return self.payload[3:]


@dataclass
class ParserStats:
    frames: int = 0
    bad_checksum: int = 0
    bad_length: int = 0
    noise_bytes: int = 0


@dataclass
class FrameParser:
    """Stream parser for either direction. `feed` takes any chunk and returns the complete frames.

    Frames with a wrong CHK come back with `ok=False` only when `keep_bad` is set (the simulator
    answers them with status 0x10); the host drops them.
    """

    keep_bad: bool = False
    max_len: int = MAX_LEN
    stats: ParserStats = field(default_factory=ParserStats)
    _buf: bytearray = field(default_factory=bytearray)

    @property
    def pending(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        """Forget a half-received frame (an answer that timed out, a replugged line)."""
        self._buf.clear()

    def missing(self) -> int:
        """Bytes still to come for the frame whose header has arrived (0 when none is under way)."""
        buf = self._buf
        if len(buf) < HEADER or not buf.startswith(PREAMBLE):
            return 0
        length = int.from_bytes(buf[5:7], "big")
        return max(0, HEADER + length - len(buf)) if 1 <= length <= self.max_len else 0

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        out: list[Frame] = []
        while True:
            start = buf.find(PREAMBLE)
            if start < 0:
                # Keep a tail that may be the start of a preamble split across reads.
                keep = next((k for k in range(min(len(buf), len(PREAMBLE) - 1), 0, -1)
                             if buf.endswith(PREAMBLE[:k])), 0)
                self.stats.noise_bytes += len(buf) - keep
                del buf[:len(buf) - keep]
                return out
            if start:
                self.stats.noise_bytes += start
                del buf[:start]
            if len(buf) < HEADER:
                return out
            length = int.from_bytes(buf[5:7], "big")
            if length < 1 or length > self.max_len:
                self.stats.bad_length += 1
                del buf[:1]  # not a frame: scan on one byte after this preamble
                continue
            end = HEADER + length
            if len(buf) < end:
                return out
            body = bytes(buf[5:end - 1])
            payload = body[2:]
            if checksum(body) != buf[end - 1]:
                self.stats.bad_checksum += 1
                if self.keep_bad:
                    out.append(Frame(payload, ok=False))
                del buf[:1]
                continue
            self.stats.frames += 1
            out.append(Frame(payload))
            del buf[:end]


# ---------------------------------------------------------------- the card's text block (§5)

# (field, offset, characters)
TEXT_FIELDS = (
    ("name", 0, 15), ("sex", 30, 1), ("nation", 32, 2), ("birth_date", 36, 8), ("address", 52, 35),
    ("id_number", 122, 18), ("authority", 158, 15), ("valid_from", 188, 8), ("valid_until", 204, 8),
)


class MalformedCard(ValueError):
    """A read answer whose DATA does not hold a text block as the datasheet lays it out."""


@dataclass(frozen=True)
class CardText:
    """The card's fixed information as the SAM gives it (strings, padding removed). No photo."""

    name: str
    sex: str
    nation: str
    birth_date: str  # YYYYMMDD
    address: str
    id_number: str
    authority: str = ""
    valid_from: str = ""
    valid_until: str = ""  # YYYYMMDD or 长期

    def encode(self) -> bytes:
        """The 256-byte UCS-2 LE block (the simulator's side); too long a field is an error."""
        out = bytearray(" ".encode("utf-16-le") * (TEXT_LEN // 2))
        for name, offset, chars in TEXT_FIELDS:
            value = getattr(self, name)
            if len(value) > chars:
                raise ValueError(f"{name} {value!r} is longer than {chars} characters")
            raw = value.ljust(chars).encode("utf-16-le")
            if len(raw) != 2 * chars:
                raise ValueError(f"{name} {value!r} is not UCS-2")
            out[offset:offset + 2 * chars] = raw
        return bytes(out)

    @classmethod
    def decode(cls, block: bytes) -> CardText:
        if len(block) < TEXT_LEN:
            raise MalformedCard(f"text block of {len(block)} bytes, {TEXT_LEN} expected")
        values = {}
        for name, offset, chars in TEXT_FIELDS:
            try:
                values[name] = block[offset:offset + 2 * chars].decode("utf-16-le").rstrip(" \0")
            except UnicodeDecodeError as exc:
                raise MalformedCard(f"{name} is not UCS-2 LE: {exc}") from exc
        return cls(**values)


def read_data(text: bytes, photo: bytes) -> bytes:
    """DATA of a read answer: TLEN, PLEN, text, photo (the simulator's side)."""
    return len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo


def parse_read(data: bytes) -> tuple[CardText, int]:
    """The text of a read answer and the photo's length; the photo bytes are not kept."""
    if len(data) < 4:
        raise MalformedCard("read answer shorter than TLEN and PLEN")
    tlen, plen = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
    if len(data) != 4 + tlen + plen:
        raise MalformedCard(f"read answer holds {len(data) - 4} bytes, TLEN {tlen} + PLEN {plen} announced")
    return CardText.decode(data[4:4 + tlen]), plen
