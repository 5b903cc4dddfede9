"""Simulated QB-68 caller keypads and evaluators sharing one RS-485 line.

One `Qb68LineSim` is one bus: a pty (or TCP) line on which any number of keypads and evaluators
answer by address, speaking the datasheet bytes. Tests script key presses and read what the
devices show; faults (lost ACKs, silence, corrupt bytes, unplugging) are switched on per device
or per line.

    line = Qb68LineSim()
    kp = line.add_keypad(3)
    ev = line.add_evaluator(0x83)
    ... BusMaster(line.path, ...) ...
    assert kp.call_next() == Result.ACCEPTED
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from drivers import qb68
from drivers.qb68 import (
    Ack,
    Beep,
    CallNext,
    CancelPrompt,
    Display,
    Event,
    Finish,
    Function,
    FunctionCode,
    Grade,
    InviteRating,
    Login,
    Logout,
    NoShow,
    Outcome,
    Pause,
    PauseReason,
    Poll,
    Rating,
    RatingPrompt,
    RatingReason,
    Recall,
    Result,
    Resume,
    Status,
    StatusFlags,
    Transfer,
)
from drivers.sim import wait_for
from drivers.sim.line import SimLine
from drivers.sim.pty import Endpoint

__all__ = ["Qb68LineSim", "SimKeypad", "SimEvaluator", "Press", "wait_for"]

log = logging.getLogger(__name__)


@dataclass
class Press:
    """One key press in flight: the event, its resends, and the ACK result once it comes."""

    event: Event
    sends: int = 0
    result: Result | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float = 2.0) -> Result | None:
        self.done.wait(timeout)
        return self.result


class SimDevice:
    """What keypads and evaluators share: SEQ counting, resend until ACK, POLL answers, faults."""

    def __init__(self, line: Qb68LineSim, addr: int, ack_timeout: float = 0.3, max_resends: int = 3) -> None:
        self.line = line
        self.addr = addr
        self.ack_timeout = ack_timeout
        self.max_resends = max_resends
        self.seq = 0  # last used SEQ; 0 before the first event
        self.flags = StatusFlags.RESTARTED  # a fresh device reports a restart at its first poll
        self.last_result: Result | None = None
        self.acks: list[Ack] = []
        self.polls = 0
        self.received: list[qb68.Command] = []
        # faults
        self.silent = False  # ignore every frame (powered off, cable cut)
        self.drop_acks = 0  # ignore the next N ACKs as if they were lost on the line
        self.corrupt_next = 0  # flip the checksum of the next N frames this device sends
        self._lock = threading.Lock()
        self._pending: Press | None = None

    # -------------------------------------------------------------- sending events

    def _next_seq(self) -> int:
        self.seq = self.seq % 255 + 1  # 1..255, wrapping to 1
        return self.seq

    def _send_event(self, event: Event) -> None:
        raw = bytearray(event.encode())
        with self._lock:
            if self.corrupt_next > 0:
                self.corrupt_next -= 1
                raw[-2] ^= 0xFF
        self.line.transmit(bytes(raw))

    def press(self, event_type: type[Event], *args: object, wait: bool = True, timeout: float = 3.0) -> Result | Press | None:
        """Send an event with the next SEQ and resend it (same SEQ) until ACKed, at most 3 times.

        With wait=True returns the ACK result (None when every send went unanswered); with
        wait=False returns the in-flight Press.
        """
        press = Press(event_type(self.addr, self._next_seq(), *args))
        with self._lock:
            self._pending = press
        threading.Thread(target=self._run_press, args=(press,), daemon=True, name=f"sim-press-{self.addr}").start()
        return press.wait(timeout) if wait else press

    def _run_press(self, press: Press) -> None:
        for _ in range(1 + self.max_resends):
            press.sends += 1
            self._send_event(press.event)
            if press.done.wait(self.ack_timeout):
                return
        with self._lock:
            if self._pending is press:
                self._pending = None
        press.done.set()

    # -------------------------------------------------------------- receiving commands

    def handle(self, cmd: qb68.Command) -> None:
        if self.silent:
            return
        self.received.append(cmd)
        if isinstance(cmd, Poll):
            self.polls += 1
            status = Status(self.addr, self.seq, self.flags)
            self.flags &= ~StatusFlags.RESTARTED
            self.line.transmit(status.encode())
        elif isinstance(cmd, Ack):
            with self._lock:
                if self.drop_acks > 0:
                    self.drop_acks -= 1
                    return
                press = self._pending
                if press is None or press.event.seq != cmd.seq or press.event.cmd != cmd.acked_cmd:
                    return
                self._pending = None
            self.acks.append(cmd)
            self.last_result = Result(cmd.result)
            self.on_ack(cmd)
            press.result = Result(cmd.result)
            press.done.set()
        else:
            self.on_command(cmd)

    def on_ack(self, ack: Ack) -> None:
        pass

    def on_command(self, cmd: qb68.Command) -> None:
        pass

    def restart(self) -> None:
        """Power-cycle: SEQ starts over and the next STATUS reports the restart."""
        self.seq = 0
        self.flags |= StatusFlags.RESTARTED


class SimKeypad(SimDevice):
    """A window caller keypad (address 0x01–0x7E) with an 8-character display and a beeper."""

    def __init__(self, line: Qb68LineSim, addr: int, **kw: float) -> None:
        if not qb68.is_keypad(addr):
            raise ValueError(f"keypad address must be 0x01-0x7E, not 0x{addr:02X}")
        super().__init__(line, addr, **kw)
        self.display = ""
        self.beeps = 0

    def on_ack(self, ack: Ack) -> None:
        self.beeps += 1 if ack.result == Result.ACCEPTED else 3

    def on_command(self, cmd: qb68.Command) -> None:
        if isinstance(cmd, Display):
            self.display = cmd.text
        elif isinstance(cmd, Beep):
            self.beeps += cmd.count

    # one method per key, each returning the ACK result
    def login(self, staff: str, **kw: object) -> Result | None:
        return self.press(Login, staff, **kw)  # type: ignore[return-value]

    def logout(self, **kw: object) -> Result | None:
        return self.press(Logout, **kw)  # type: ignore[return-value]

    def call_next(self, **kw: object) -> Result | None:
        return self.press(CallNext, **kw)  # type: ignore[return-value]

    def recall(self, **kw: object) -> Result | None:
        return self.press(Recall, **kw)  # type: ignore[return-value]

    def no_show(self, **kw: object) -> Result | None:
        return self.press(NoShow, **kw)  # type: ignore[return-value]

    def finish(self, outcome: Outcome = Outcome.DONE, **kw: object) -> Result | None:
        return self.press(Finish, outcome, **kw)  # type: ignore[return-value]

    def invite_rating(self, **kw: object) -> Result | None:
        return self.press(InviteRating, **kw)  # type: ignore[return-value]

    def function(self, function: FunctionCode, text: str = "", **kw: object) -> Result | None:
        return self.press(Function, function, text, **kw)  # type: ignore[return-value]

    def pause(self, reason: PauseReason = PauseReason.BREAK, **kw: object) -> Result | None:
        return self.press(Pause, reason, **kw)  # type: ignore[return-value]

    def resume(self, **kw: object) -> Result | None:
        return self.press(Resume, **kw)  # type: ignore[return-value]

    def transfer(self, target: str, **kw: object) -> Result | None:
        return self.press(Transfer, target, **kw)  # type: ignore[return-value]


class SimEvaluator(SimDevice):
    """A satisfaction evaluator (address 0x81–0xFE): shows prompts, sends ratings."""

    def __init__(self, line: Qb68LineSim, addr: int, prompt_seconds: float = 30.0, **kw: float) -> None:
        if not qb68.is_evaluator(addr):
            raise ValueError(f"evaluator address must be 0x81-0xFE, not 0x{addr:02X}")
        super().__init__(line, addr, **kw)
        self.prompt_seconds = prompt_seconds
        self.prompt: RatingPrompt | None = None  # the active prompt, None when keys are dark
        self.prompts: list[RatingPrompt] = []
        self.cancels = 0
        self._timer: threading.Timer | None = None

    def on_command(self, cmd: qb68.Command) -> None:
        if isinstance(cmd, RatingPrompt):
            self._stop_timer()
            self.prompt = cmd
            self.prompts.append(cmd)
            self._timer = threading.Timer(self.prompt_seconds, self._timeout)
            self._timer.daemon = True
            self._timer.start()
        elif isinstance(cmd, CancelPrompt):
            self._stop_timer()
            self.prompt = None
            self.cancels += 1

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timeout(self) -> None:
        if self.prompt is not None:
            self.prompt = None
            self.press(Rating, Grade.TIMEOUT, None, wait=False)

    def rate(self, grade: Grade, reason: RatingReason | None = None, **kw: object) -> Result | None:
        """Press a rating key (prompted or not; deciding whether it counts is the host's job)."""
        self._stop_timer()
        self.prompt = None
        return self.press(Rating, grade, reason, **kw)  # type: ignore[return-value]


class Qb68LineSim(SimLine):
    """One RS-485 line with many QB-68 devices answering by address."""

    def __init__(self, endpoint: Endpoint | None = None, name: str = "qb68") -> None:
        super().__init__(endpoint, name)
        self.devices: dict[int, SimDevice] = {}
        self.parser = qb68.FrameParser()
        self.host_frames: list[qb68.Frame] = []  # every good frame the host sent, in order
        self.silent = False  # the whole line stops answering (adapter dead)
        self.noise_before_next = b""  # bytes to put on the line before the next device frame
        self._tx = threading.Lock()
        self.start()

    def add_keypad(self, addr: int, **kw: float) -> SimKeypad:
        dev = SimKeypad(self, addr, **kw)
        self.devices[addr] = dev
        return dev

    def add_evaluator(self, addr: int, **kw: float) -> SimEvaluator:
        dev = SimEvaluator(self, addr, **kw)
        self.devices[addr] = dev
        return dev

    def transmit(self, raw: bytes) -> None:
        if self.silent:
            return
        with self._tx:
            noise, self.noise_before_next = self.noise_before_next, b""
            self.endpoint.write(noise + raw)

    def _forget_partial(self) -> None:
        self.parser.reset()

    def _on_bytes(self, data: bytes) -> None:
        if self.silent:
            return
        for frame in self.parser.feed(data):
            self.host_frames.append(frame)
            try:
                msg = qb68.decode(frame)
            except qb68.MalformedError as e:
                log.debug("sim line ignores malformed frame %s: %s", frame, e)
                continue
            if not isinstance(msg, qb68.Command):
                continue
            targets = list(self.devices.values()) if frame.addr == qb68.BROADCAST else [self.devices.get(frame.addr)]
            for dev in targets:
                if dev is None:
                    continue
                if frame.addr == qb68.BROADCAST and isinstance(msg, (Poll, Ack)):
                    continue  # broadcasts are never answered
                dev.handle(msg if frame.addr != qb68.BROADCAST else type(msg)(dev.addr, *_fields(msg)))


def _fields(msg: qb68.Command) -> tuple:
    return tuple(getattr(msg, f) for f in msg.__dataclass_fields__ if f != "addr")

