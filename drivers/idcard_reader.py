"""The host end of an ID card reader (SAM module): poll for cards, read them, watch the reader.

Strictly request/answer (datasheet §1): one command, then its answer within 100 ms (1.5 s for a
read), else it counts as no answer. A poller thread asks "find card" every `poll_interval`
(never faster than 300 ms); a card found is selected and read, handed to `on_card` once, and not
again until "find card" has answered "no card" (the card was taken away, §3). A read that fails
(card moved, select failed, garbled answer) is tried again from "find card".

Offline: `miss_limit` unanswered commands in a row, the SAM's self-test failure (0x60), or the port
itself gone. Offline readers are asked for their SAM status every `offline_retry` seconds (with a
SAM reset after a self-test failure) and reported online when they answer 0x90. State changes
reach `on_state(online, reason)`; nothing here knows what a ticket is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers import idcard
from drivers.idcard import CardText, Cmd, Frame, FrameParser, MalformedCard, Status
from drivers.transport import LineSettings, ReconnectingPort

log = logging.getLogger(__name__)

MIN_POLL_INTERVAL = 0.3


@dataclass(frozen=True)
class Card:
    """One card as read: the text block and the card serial; the photo was only measured."""

    text: CardText
    serial: bytes
    photo_bytes: int


@dataclass
class ReaderStats:
    commands: int = 0
    no_answer: int = 0
    reads: int = 0
    read_failures: int = 0
    command_errors: int = 0  # 0x10 / 0x11 / 0x21: our command arrived damaged or unknown


class IdCardReader:
    def __init__(
        self,
        port: ReconnectingPort | str,
        *,
        baudrate: int = 115200,
        on_card: Callable[[Card], None] | None = None,
        on_removed: Callable[[], None] | None = None,
        on_state: Callable[[bool, str], None] | None = None,
        poll_interval: float = MIN_POLL_INTERVAL,
        answer_timeout: float = 0.25,  # the datasheet promises 100 ms; USB adapters add latency
        read_timeout: float = 1.5,
        miss_limit: int = 3,
        offline_retry: float = 3.0,
        retry_interval: float = 3.0,
        name: str = "idcard",
    ) -> None:
        if isinstance(port, str):
            port = ReconnectingPort(port, LineSettings(baudrate=baudrate), name=name, retry_interval=retry_interval)
        self.port = port
        self.port.on_state = self._port_state
        self.on_card = on_card
        self.on_removed = on_removed
        self.on_state = on_state
        self.poll_interval = max(MIN_POLL_INTERVAL, poll_interval)
        self.answer_timeout = answer_timeout
        self.read_timeout = read_timeout
        self.miss_limit = miss_limit
        self.offline_retry = offline_retry
        self.name = name
        self.parser = FrameParser()
        self.stats = ReaderStats()
        self.online: bool | None = None  # None until the first status answer settles it
        self.reason = ""
        self.card_present = False  # a card was read and has not been taken away yet
        self._missed = 0
        self._sam_failed = False
        self._late_answer_possible = False
        self._lock = threading.Lock()  # one conversation at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> IdCardReader:
        if self._thread is None:
            self.port.open()
            self._thread = threading.Thread(target=self._run, daemon=True, name=f"{self.name}-poller")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(3.0)
        self.port.close()

    def __enter__(self) -> IdCardReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- one exchange

    def request(self, cmd: Cmd, timeout: float | None = None) -> Frame | None:
        """Send one command and wait for its answer; None when none came in time (or the port is down)."""
        timeout = self.answer_timeout if timeout is None else timeout
        with self._lock:
            self.stats.commands += 1
            if self._late_answer_possible:
                self._drain()
            self.port.reset_input()  # a late answer to an earlier command is not this one's
            self.parser.reset()
            if not self.port.write(idcard.command(cmd)):
                self.stats.no_answer += 1
                return None
            # The answer time (§1) is until the reader answers; its bytes then still take their time
            # on the line: a read answer is 1,295 bytes, 1.35 s at 9600 bps. So the deadline counts
            # from the end of our command on the wire, and is moved on while an answer is arriving.
            byte_time = self.port.wire_time(1)
            deadline = time.monotonic() + timeout + byte_time * len(idcard.command(cmd))
            while time.monotonic() < deadline and not self._stop.is_set():
                data = self.port.read(512)
                if not data:
                    continue
                frames = self.parser.feed(data)
                if frames:
                    return frames[0]
                if missing := self.parser.missing():
                    deadline = max(deadline, time.monotonic() + 1.5 * byte_time * missing + self.answer_timeout)
            self.stats.no_answer += 1
            self._late_answer_possible = True
            return None

    def _drain(self) -> None:
        """After a command went unanswered, wait for the line to be quiet for one answer time, so
        the late answer is not taken for the next command's (answers do not say what they answer)."""
        quiet_until = time.monotonic() + self.answer_timeout
        give_up = time.monotonic() + 4 * self.read_timeout
        while time.monotonic() < quiet_until and time.monotonic() < give_up and not self._stop.is_set():
            if self.port.read(512):
                quiet_until = time.monotonic() + self.answer_timeout
        self._late_answer_possible = False

    def status(self) -> Status | int | None:
        """SAM status now (probes, `hallq devices --probe`)."""
        ans = self.request(Cmd.SAM_STATUS)
        return None if ans is None else _status(ans.status)

    # -------------------------------------------------------------- the poller

    def _run(self) -> None:
        next_check = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            if not self.online:
                if started >= next_check:
                    next_check = started + self.offline_retry
                    self._check_sam()
                if not self.online:
                    self._stop.wait(min(self.poll_interval, max(0.02, next_check - time.monotonic())))
                    continue
            self._poll_once()
            self._stop.wait(max(0.0, self.poll_interval - (time.monotonic() - started)))

    def _check_sam(self) -> None:
        if self._sam_failed:
            self._answered(self.request(Cmd.SAM_RESET))
        ans = self.request(Cmd.SAM_STATUS)
        if self._answered(ans) and ans.status == Status.SUCCESS:
            self._sam_failed = False
            self._set_state(True, "")

    def _answered(self, ans: Frame | None) -> bool:
        """Book-keeping common to every answer: misses, SAM failure, damaged commands."""
        if ans is None:
            self._missed += 1
            if self._missed >= self.miss_limit:
                self._set_state(False, "no answer")
            return False
        self._missed = 0
        if ans.status == Status.SAM_FAILED:
            self._sam_failed = True
            self._set_state(False, "SAM self-test failed")
            return False
        if ans.status in (Status.COMMAND_CHECKSUM, Status.COMMAND_LENGTH, Status.UNKNOWN_COMMAND):
            self.stats.command_errors += 1
            log.warning("%s: reader refused our command: %s", self.name, _status_name(ans.status))
            return False
        return True

    def _poll_once(self) -> None:
        ans = self.request(Cmd.FIND)
        if not self._answered(ans):
            return
        if ans.status == Status.NO_CARD:
            if self.card_present:
                self.card_present = False
                self._callback(self.on_removed)
            return
        if ans.status != Status.CARD_FOUND or self.card_present:
            return
        card = self._read_card()
        if card is not None:
            self.card_present = True
            self.stats.reads += 1
            self._callback(self.on_card, card)

    def _read_card(self) -> Card | None:
        sel = self.request(Cmd.SELECT)
        if not self._answered(sel) or sel.status != Status.SUCCESS or len(sel.data) != 8:
            self.stats.read_failures += 1
            return None
        got = self.request(Cmd.READ, self.read_timeout)
        if not self._answered(got) or got.status != Status.SUCCESS:
            self.stats.read_failures += 1  # 0x41: the card moved; next poll starts from find
            return None
        try:
            text, photo_len = idcard.parse_read(got.data)
        except MalformedCard as exc:
            self.stats.read_failures += 1
            log.warning("%s: unreadable card data: %s", self.name, exc)
            return None
        return Card(text, sel.data, photo_len)

    # -------------------------------------------------------------- state

    def _port_state(self, online: bool) -> None:
        if not online:
            self._set_state(False, "port gone")

    def _set_state(self, online: bool, reason: str) -> None:
        if self.online == online and (online or self.reason == reason):
            return
        self.online, self.reason = online, reason
        if online:
            log.info("%s: reader online", self.name)
        else:
            self.card_present = False
            log.warning("%s: reader offline: %s", self.name, reason)
        self._callback(self.on_state, online, reason)

    def _callback(self, fn: Callable | None, *args: object) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("%s: callback failed", self.name)


def _status(value: int) -> Status | int:
    try:
        return Status(value)
    except ValueError:
        return value


def _status_name(value: int) -> str:
    s = _status(value)
    return s.name if isinstance(s, Status) else f"0x{value:02X}"
