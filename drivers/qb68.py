"""QB-68 bus codec: frames, typed events and commands, and a streaming frame parser.

Frame (datasheet §2): `FF 68 L L 68 ADDR CMD DATA… CS 16`, L = 2 + len(DATA) in 2..64,
CS = (ADDR + CMD + sum(DATA)) mod 256. Everything here is pure bytes-in, objects-out so that the
bus master, the simulators and the property tests share one definition of the wire format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import ClassVar

PREAMBLE = 0xFF
START = 0x68
END = 0x16
MIN_L = 2
MAX_L = 64
MAX_DATA = MAX_L - 2
BROADCAST = 0xFF
DISPLAY_CHARS = 8


class Cmd(IntEnum):
    # events (device -> host)
    LOGIN = 0x0A
    INVITE_RATING = 0x0B
    CALL_NEXT = 0x0C
    RECALL = 0x0D
    NO_SHOW = 0x0E
    FUNCTION = 0x0F
    FINISH = 0x10
    RATING = 0x11
    PAUSE = 0x12
    TRANSFER = 0x13
    RESUME = 0x14
    LOGOUT = 0x15
    STATUS = 0x31
    # commands (host -> device)
    ACK = 0x06
    DISPLAY = 0x02
    BEEP = 0x03
    RATING_PROMPT = 0x21
    CANCEL_PROMPT = 0x22
    POLL = 0x30


class Result(IntEnum):
    """RESULT byte of an ACK; keypads beep once for ACCEPTED, three times otherwise."""

    ACCEPTED = 0x00
    REJECTED = 0x01
    NOTHING_TO_DO = 0x02
    UNKNOWN = 0x03


class Outcome(IntEnum):
    DONE = 0x00  # 即办
    ACCEPTED_LATER = 0x01  # 承诺件受理
    NOT_DONE = 0x02  # 办不成
    MATERIALS_INCOMPLETE = 0x03  # 一次性告知


class FunctionCode(IntEnum):
    PARK = 0x00  # 挂起
    CALL_PARKED = 0x03
    CALL_SPECIFIC = 0x05


class PauseReason(IntEnum):
    BREAK = 0x00
    MEETING = 0x01
    LUNCH = 0x02
    OTHER = 0x03


class Grade(IntEnum):
    TIMEOUT = 0x00  # stored as "not rated"
    VERY_DISSATISFIED = 0x01
    DISSATISFIED = 0x02
    BASIC = 0x03
    SATISFIED = 0x04
    VERY_SATISFIED = 0x05


class RatingReason(IntEnum):
    ATTITUDE = 0x01  # 服务态度
    EFFICIENCY = 0x02  # 办事效率
    COMPETENCE = 0x03  # 业务水平
    ENVIRONMENT = 0x04  # 环境设施


class StatusFlags(IntFlag):
    NONE = 0
    KEY_STUCK = 0x01
    DISPLAY_FAILED = 0x02
    RESTARTED = 0x04


def is_keypad(addr: int) -> bool:
    return 0x01 <= addr <= 0x7E


def is_evaluator(addr: int) -> bool:
    return 0x81 <= addr <= 0xFE


class MalformedError(ValueError):
    """A well-framed message whose DATA does not fit its CMD (answered with Result.UNKNOWN)."""


@dataclass(frozen=True)
class Frame:
    addr: int
    cmd: int
    data: bytes = b""

    def encode(self) -> bytes:
        return encode_frame(self.addr, self.cmd, self.data)


def checksum(addr: int, cmd: int, data: bytes) -> int:
    return (addr + cmd + sum(data)) & 0xFF


def encode_frame(addr: int, cmd: int, data: bytes = b"") -> bytes:
    """Wrap ADDR, CMD and DATA into a wire frame."""
    if not 0 <= addr <= 0xFF or not 0 <= cmd <= 0xFF:
        raise ValueError("address and command are single bytes")
    if len(data) > MAX_DATA:
        raise ValueError(f"DATA is {len(data)} bytes, at most {MAX_DATA} fit a frame")
    n = 2 + len(data)
    return bytes((PREAMBLE, START, n, n, START, addr, cmd)) + data + bytes((checksum(addr, cmd, data), END))


# ---------------------------------------------------------------- messages


def _ascii(data: bytes, what: str) -> str:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as e:
        raise MalformedError(f"{what} is not ASCII") from e
    if not text.isprintable():
        raise MalformedError(f"{what} has control characters")
    return text


def _check_ascii(text: str, what: str) -> bytes:
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"{what} must be printable ASCII: {text!r}")
    return text.encode("ascii")


@dataclass(frozen=True)
class Event:
    """Base of device events: every one carries the device address and its SEQ (1..255)."""

    addr: int
    seq: int

    cmd: ClassVar[Cmd]  # set per subclass below

    def payload(self) -> bytes:
        return b""

    def to_frame(self) -> Frame:
        if not 0 <= self.seq <= 0xFF:
            raise ValueError("SEQ is one byte")
        return Frame(self.addr, self.cmd, bytes((self.seq,)) + self.payload())

    def encode(self) -> bytes:
        return self.to_frame().encode()


@dataclass(frozen=True)
class Login(Event):
    staff: str = ""

    def payload(self) -> bytes:
        if not (1 <= len(self.staff) <= 8 and self.staff.isascii() and self.staff.isdigit()):
            raise ValueError(f"staff number must be 1-8 ASCII digits: {self.staff!r}")
        return self.staff.encode()


@dataclass(frozen=True)
class Logout(Event):
    pass


@dataclass(frozen=True)
class CallNext(Event):
    pass


@dataclass(frozen=True)
class Recall(Event):
    pass


@dataclass(frozen=True)
class NoShow(Event):
    pass


@dataclass(frozen=True)
class Finish(Event):
    outcome: Outcome = Outcome.DONE

    def payload(self) -> bytes:
        return bytes((Outcome(self.outcome),))


@dataclass(frozen=True)
class InviteRating(Event):
    pass


@dataclass(frozen=True)
class Function(Event):
    function: FunctionCode = FunctionCode.PARK
    text: str = ""  # ticket code for CALL_SPECIFIC

    def payload(self) -> bytes:
        return bytes((FunctionCode(self.function),)) + (_check_ascii(self.text, "text") if self.text else b"")


@dataclass(frozen=True)
class Pause(Event):
    reason: PauseReason = PauseReason.BREAK

    def payload(self) -> bytes:
        return bytes((PauseReason(self.reason),))


@dataclass(frozen=True)
class Resume(Event):
    pass


@dataclass(frozen=True)
class Transfer(Event):
    target: str = ""  # "W12" (window 12) or "S301" (service S301)

    def payload(self) -> bytes:
        if len(self.target) < 2 or self.target[0] not in "WS":
            raise ValueError(f"transfer target must be W<window> or S<service>: {self.target!r}")
        return _check_ascii(self.target, "target")

    @property
    def window(self) -> int | None:
        return int(self.target[1:]) if self.target[0] == "W" and self.target[1:].isdigit() else None

    @property
    def service(self) -> str | None:
        return self.target[1:] if self.target[0] == "S" else None


@dataclass(frozen=True)
class Rating(Event):
    grade: Grade = Grade.TIMEOUT
    reason: RatingReason | None = None

    def payload(self) -> bytes:
        if self.reason is not None and self.grade not in (Grade.VERY_DISSATISFIED, Grade.DISSATISFIED):
            raise ValueError("a rating reason goes only with grade 1 or 2")
        return bytes((Grade(self.grade),)) + (b"" if self.reason is None else bytes((RatingReason(self.reason),)))


@dataclass(frozen=True)
class Status(Event):
    """Answer to POLL; carries the device's last used SEQ. Not acknowledged."""

    flags: StatusFlags = StatusFlags.NONE

    def payload(self) -> bytes:
        return bytes((int(self.flags) & 0xFF,))


for _cls, _cmd in (
    (Login, Cmd.LOGIN), (Logout, Cmd.LOGOUT), (CallNext, Cmd.CALL_NEXT), (Recall, Cmd.RECALL),
    (NoShow, Cmd.NO_SHOW), (Finish, Cmd.FINISH), (InviteRating, Cmd.INVITE_RATING),
    (Function, Cmd.FUNCTION), (Pause, Cmd.PAUSE), (Resume, Cmd.RESUME), (Transfer, Cmd.TRANSFER),
    (Rating, Cmd.RATING), (Status, Cmd.STATUS),
):
    _cls.cmd = _cmd

KEYPAD_EVENTS = (Login, Logout, CallNext, Recall, NoShow, Finish, InviteRating, Function, Pause, Resume, Transfer)
EVALUATOR_EVENTS = (Rating,)


@dataclass(frozen=True)
class Command(ABC):
    """Base of host commands."""

    addr: int

    @abstractmethod
    def to_frame(self) -> Frame:
        """The frame for this command: its CMD byte and DATA."""

    def encode(self) -> bytes:
        return self.to_frame().encode()


@dataclass(frozen=True)
class Ack(Command):
    seq: int
    acked_cmd: int
    result: Result

    def to_frame(self) -> Frame:
        return Frame(self.addr, Cmd.ACK, bytes((self.seq, self.acked_cmd, Result(self.result))))


@dataclass(frozen=True)
class Display(Command):
    text: str  # up to 8 ASCII characters

    def to_frame(self) -> Frame:
        data = _check_ascii(self.text, "display text") if self.text else b""
        if len(data) > DISPLAY_CHARS:
            raise ValueError(f"keypad display holds {DISPLAY_CHARS} characters: {self.text!r}")
        return Frame(self.addr, Cmd.DISPLAY, data)


@dataclass(frozen=True)
class Beep(Command):
    count: int

    def to_frame(self) -> Frame:
        return Frame(self.addr, Cmd.BEEP, bytes((self.count,)))


@dataclass(frozen=True)
class RatingPrompt(Command):
    """0x21: ticket code ASCII, 0x00, staff name GBK. Build with `rating_prompt()` to get GBK
    replacement and truncation handled; here the name must already be GBK-encodable."""

    ticket: str
    staff_name: str

    def to_frame(self) -> Frame:
        code = _check_ascii(self.ticket, "ticket code")
        data = code + b"\x00" + self.staff_name.encode("gbk")
        if len(data) > MAX_DATA:
            raise ValueError("ticket code and staff name exceed one frame")
        return Frame(self.addr, Cmd.RATING_PROMPT, data)


@dataclass(frozen=True)
class CancelPrompt(Command):
    def to_frame(self) -> Frame:
        return Frame(self.addr, Cmd.CANCEL_PROMPT)


@dataclass(frozen=True)
class Poll(Command):
    def to_frame(self) -> Frame:
        return Frame(self.addr, Cmd.POLL)


Message = Event | Command


def _need(data: bytes, n: int, what: str) -> None:
    if len(data) != n:
        raise MalformedError(f"{what} takes {n} data bytes, got {len(data)}")


def decode(frame: Frame) -> Message:
    """Turn a checked frame into its typed message.

    Raises MalformedError when DATA does not match CMD, and KeyError-free ValueError (also a
    MalformedError) for an unknown CMD, so callers can answer with Result.UNKNOWN.
    """
    a, d = frame.addr, frame.data
    try:
        cmd = Cmd(frame.cmd)
    except ValueError:
        raise MalformedError(f"unknown command 0x{frame.cmd:02X}") from None
    if cmd in (Cmd.ACK, Cmd.DISPLAY, Cmd.BEEP, Cmd.RATING_PROMPT, Cmd.CANCEL_PROMPT, Cmd.POLL):
        return _decode_command(cmd, a, d)
    if not d:
        raise MalformedError("event without SEQ")
    seq, rest = d[0], d[1:]
    if seq == 0 and cmd != Cmd.STATUS:
        raise MalformedError("SEQ 0 is never used by events")
    try:
        if cmd in (Cmd.LOGOUT, Cmd.CALL_NEXT, Cmd.RECALL, Cmd.NO_SHOW, Cmd.INVITE_RATING, Cmd.RESUME):
            _need(rest, 0, cmd.name)
            cls = {Cmd.LOGOUT: Logout, Cmd.CALL_NEXT: CallNext, Cmd.RECALL: Recall, Cmd.NO_SHOW: NoShow,
                   Cmd.INVITE_RATING: InviteRating, Cmd.RESUME: Resume}[cmd]
            return cls(a, seq)
        if cmd == Cmd.LOGIN:
            staff = _ascii(rest, "staff number")
            if not (1 <= len(staff) <= 8 and staff.isdigit()):
                raise MalformedError("staff number must be 1-8 digits")
            return Login(a, seq, staff)
        if cmd == Cmd.FINISH:
            _need(rest, 1, "FINISH")
            return Finish(a, seq, Outcome(rest[0]))
        if cmd == Cmd.FUNCTION:
            if not rest:
                raise MalformedError("FUNCTION without F")
            return Function(a, seq, FunctionCode(rest[0]), _ascii(rest[1:], "function text"))
        if cmd == Cmd.PAUSE:
            _need(rest, 1, "PAUSE")
            return Pause(a, seq, PauseReason(rest[0]))
        if cmd == Cmd.TRANSFER:
            target = _ascii(rest, "transfer target")
            if len(target) < 2 or target[0] not in "WS":
                raise MalformedError("transfer target must be W<window> or S<service>")
            return Transfer(a, seq, target)
        if cmd == Cmd.RATING:
            if len(rest) not in (1, 2):
                raise MalformedError("RATING takes GRADE and an optional REASON")
            grade = Grade(rest[0])
            reason = RatingReason(rest[1]) if len(rest) == 2 else None
            if reason is not None and grade not in (Grade.VERY_DISSATISFIED, Grade.DISSATISFIED):
                raise MalformedError("a rating reason goes only with grade 1 or 2")
            return Rating(a, seq, grade, reason)
        _need(rest, 1, "STATUS")
        return Status(a, seq, StatusFlags(rest[0] & 0x07))
    except MalformedError:
        raise
    except ValueError as e:  # an enum byte out of range
        raise MalformedError(f"{cmd.name}: {e}") from None


def _decode_command(cmd: Cmd, a: int, d: bytes) -> Command:
    try:
        if cmd == Cmd.ACK:
            _need(d, 3, "ACK")
            return Ack(a, d[0], d[1], Result(d[2]))
        if cmd == Cmd.DISPLAY:
            text = _ascii(d, "display text")
            if len(text) > DISPLAY_CHARS:
                raise MalformedError("display text over 8 characters")
            return Display(a, text)
        if cmd == Cmd.BEEP:
            _need(d, 1, "BEEP")
            return Beep(a, d[0])
        if cmd == Cmd.RATING_PROMPT:
            code, sep, name = d.partition(b"\x00")
            if not sep:
                raise MalformedError("rating prompt without 0x00 separator")
            return RatingPrompt(a, _ascii(code, "ticket code"), name.decode("gbk"))
        _need(d, 0, cmd.name)
        return CancelPrompt(a) if cmd == Cmd.CANCEL_PROMPT else Poll(a)
    except MalformedError:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedError(f"{cmd.name}: {e}") from None


# ---------------------------------------------------------------- streaming parser


@dataclass
class ParserStats:
    frames: int = 0
    bad_checksum: int = 0
    bad_end: int = 0
    noise_bytes: int = 0  # bytes skipped while looking for a frame start
    truncated: int = 0  # candidates abandoned by flush() because the line went quiet

    @property
    def dropped(self) -> int:
        return self.bad_checksum + self.bad_end


class FrameParser:
    """Byte-stream to frames: survives split frames, several frames per read, noise and bad frames.

    A candidate start is `FF 68 L L 68` with both L equal and in 2..64. A complete candidate
    whose CS or end byte is wrong is counted and dropped, and scanning resumes one byte after
    its start, so a real frame hidden inside a broken one is still found.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = ParserStats()

    def feed(self, chunk: bytes) -> list[Frame]:
        buf = self._buf
        buf += chunk
        out: list[Frame] = []
        i = 0
        n = len(buf)
        while i < n:
            if buf[i] != PREAMBLE:
                i += 1
                self.stats.noise_bytes += 1
                continue
            avail = n - i
            # Check as much of the header as has arrived; a mismatch means this FF is noise.
            if avail >= 2 and buf[i + 1] != START:
                i += 1
                self.stats.noise_bytes += 1
                continue
            if avail >= 3 and not MIN_L <= buf[i + 2] <= MAX_L:
                i += 1
                self.stats.noise_bytes += 1
                continue
            if avail >= 4 and buf[i + 3] != buf[i + 2]:
                i += 1
                self.stats.noise_bytes += 1
                continue
            if avail >= 5 and buf[i + 4] != START:
                i += 1
                self.stats.noise_bytes += 1
                continue
            if avail < 5:
                break
            length = buf[i + 2]
            total = length + 7
            if avail < total:
                break
            addr, cmd = buf[i + 5], buf[i + 6]
            data = bytes(buf[i + 7 : i + 5 + length])
            cs, end = buf[i + 5 + length], buf[i + 6 + length]
            if cs != checksum(addr, cmd, data):
                self.stats.bad_checksum += 1
                i += 1
                continue
            if end != END:
                self.stats.bad_end += 1
                i += 1
                continue
            out.append(Frame(addr, cmd, data))
            self.stats.frames += 1
            i += total
        del buf[:i]
        return out

    def flush(self) -> list[Frame]:
        """The line went quiet: a candidate still waiting for bytes was noise (a truncated frame).

        Drops its first byte and rescans, so a good frame that arrived inside the unfinished
        candidate is not held back until unrelated bytes happen to complete it.
        """
        out: list[Frame] = []
        while self._buf:
            before = len(self._buf)
            self.stats.truncated += 1
            self.stats.noise_bytes += 1
            del self._buf[0]
            out += self.feed(b"")
            if len(self._buf) >= before:
                break
        return out

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()


def rating_prompt(addr: int, ticket: str, staff_name: str) -> tuple[RatingPrompt, tuple[str, ...]]:
    """A prompt whose staff name is made GBK-safe and cut to fit; returns it and the replaced chars."""
    from drivers.gbk import encode_gbk

    code = _check_ascii(ticket, "ticket code")
    enc = encode_gbk(staff_name, MAX_DATA - len(code) - 1)
    return RatingPrompt(addr, ticket, enc.text), enc.replaced
