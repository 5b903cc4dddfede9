"""QB-68 bus master: the host end of one RS-485 line of keypads and evaluators.

It reads events, hands each to a handler that decides the RESULT, ACKs it, and makes sure a
resent event is applied once (datasheet §3: same (ADDR, SEQ) within 10 s gets the original
result again). It sends display/beep/rating-prompt/cancel commands, polls every known device
and reports online/offline (3 missed polls) through callbacks. It knows nothing of tickets.

Threads: a reader (parses frames), a dispatcher (calls the handler, so a slow handler never
stops the reader) and a poller. All host frames go through `_send`, which keeps the line
half-duplex (one conversation at a time: no host frame while a poll awaits its STATUS) and
spaces frames to one address at least 20 ms apart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from drivers import qb68
from drivers.qb68 import (
    Ack,
    Beep,
    CancelPrompt,
    Display,
    Event,
    Poll,
    Result,
    Status,
    rating_prompt,
)
from drivers.transport import LineSettings, ReconnectingPort

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Result]
DeviceStateCallback = Callable[[int, bool], None]
StatusCallback = Callable[[int, Status], None]


@dataclass
class DeviceHealth:
    online: bool | None = None  # None until the first poll settles it
    missed: int = 0
    last_seen: float = 0.0
    last_status: Status | None = None
    next_poll: float = 0.0  # an offline device is polled again only from then


@dataclass
class _Applied:
    seq: int
    cmd: int
    result: Result
    at: float


class BusMaster:
    """Host of one QB-68 line.

    `handler(event) -> Result` is called once per new event from the dispatcher thread; what it
    returns is sent back in the ACK. If it raises, the event is ACKed REJECTED and not remembered,
    so the device's own resend gets a second chance.
    """

    def __init__(
        self,
        port: ReconnectingPort | str,
        handler: EventHandler,
        *,
        devices: Iterable[int] = (),
        baudrate: int = 9600,
        poll_interval: float = 1.0,
        poll_timeout: float = 0.1,
        miss_limit: int = 3,
        offline_retry: float = 10.0,
        dedup_seconds: float = 10.0,
        spacing: float = 0.02,
        retry_interval: float = 3.0,
        on_device_state: DeviceStateCallback | None = None,
        on_status: StatusCallback | None = None,
        on_port_state: Callable[[bool], None] | None = None,
        name: str = "qb68",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(port, str):
            port = ReconnectingPort(port, LineSettings(baudrate=baudrate), name=name,
                                    retry_interval=retry_interval, on_state=on_port_state)
        elif on_port_state is not None:
            port.on_state = on_port_state
        self.port = port
        self.handler = handler
        self.name = name
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.miss_limit = miss_limit
        self.offline_retry = offline_retry
        self.dedup_seconds = dedup_seconds
        self.spacing = spacing
        self.on_device_state = on_device_state
        self.on_status = on_status
        self.clock = clock
        self.parser = qb68.FrameParser()
        self.health: dict[int, DeviceHealth] = {a: DeviceHealth() for a in devices}
        self.handled = 0  # handler calls
        self.duplicates = 0  # resends answered from memory
        self.malformed = 0
        self._applied: dict[int, _Applied] = {}
        self._last_tx: dict[int, float] = {}
        self._line_free_at = 0.0  # when the last host frame has left the adapter (monotonic)
        self._turn = threading.Lock()  # who may talk on the line
        # Events received and not yet ACKed: polls wait for them, because a device resends after
        # 300 ms without an ACK and the lock is not fair (the poller could take it again and again).
        self._unacked = 0
        self._unacked_cv = threading.Condition()
        self._health_lock = threading.Lock()
        self._status_cv = threading.Condition()
        self._statuses: dict[int, Status] = {}
        self._events: queue.Queue[Event | qb68.Frame | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -------------------------------------------------------------- lifecycle

    def start(self) -> BusMaster:
        """Open the port and start the threads (once; later calls do nothing)."""
        if self._threads:
            return self
        self.port.open()
        for target, tag in ((self._read_loop, "reader"), (self._dispatch_loop, "dispatch"), (self._poll_loop, "poller")):
            t = threading.Thread(target=target, daemon=True, name=f"{self.name}-{tag}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._events.put(None)
        for t in self._threads:
            t.join(2.0)
        self.port.close()

    def __enter__(self) -> BusMaster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- commands

    def display(self, addr: int, text: str) -> bool:
        """Show text on a keypad's 8-character display; non-ASCII becomes '?', longer text is cut."""
        clean = "".join(c if c.isascii() and c.isprintable() else "?" for c in text)[: qb68.DISPLAY_CHARS]
        if clean != text:
            log.warning("%s: keypad 0x%02X cannot show %r, showing %r", self.name, addr, text, clean)
        return self._send(Display(addr, clean))

    def beep(self, addr: int, count: int = 1) -> bool:
        return self._send(Beep(addr, max(0, min(255, count))))

    def prompt_rating(self, addr: int, ticket: str, staff_name: str) -> bool:
        """Light an evaluator's rating keys for `ticket` served by `staff_name` (GBK, '?' if not)."""
        cmd, replaced = rating_prompt(addr, ticket, staff_name)
        if replaced:
            log.warning("%s: staff name %r has characters outside GBK: %s", self.name, staff_name, "".join(replaced))
        return self._send(cmd)

    def cancel_prompt(self, addr: int) -> bool:
        return self._send(CancelPrompt(addr))

    def poll(self, addr: int) -> Status | None:
        """Poll one device now and wait for its STATUS (up to poll_timeout); updates health."""
        with self._turn:
            with self._status_cv:
                self._statuses.pop(addr, None)
            if not self._send(Poll(addr), hold=True):
                # The line itself is down (the port reports that, once): nothing can be told of the
                # devices on it, so no miss is counted and none is marked offline. One pulled
                # adapter is one fault, not one per keypad and evaluator.
                return None
            # 100 ms from the end of the POLL on the wire (datasheet §4), plus the STATUS frame's own time.
            deadline = time.monotonic() + self.poll_timeout + self.port.wire_time(len(Poll(addr).encode()) + 10)
            with self._status_cv:
                while addr not in self._statuses:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._status_cv.wait(left)
                status = self._statuses.pop(addr, None)
        self._poll_result(addr, status)
        return status

    def online(self, addr: int) -> bool | None:
        h = self.health.get(addr)
        return None if h is None else h.online

    def add_device(self, addr: int) -> None:
        self.health.setdefault(addr, DeviceHealth())

    # -------------------------------------------------------------- internals

    def _send(self, cmd: qb68.Command, hold: bool = False) -> bool:
        """Write one host frame; `hold` means the caller already owns the line.

        A write returns before a USB adapter has sent the bytes, so a burst of displays (a resync,
        every keypad's waiting count) would pile seconds of frames up in its buffer at 9600 bit/s:
        an ACK or POLL written behind them goes out after the device's 300 ms resend or the
        STATUS deadline. So the next frame is written only once the last one has left the wire,
        and frames that answer no event (displays, prompts) let pending ACKs go first.
        """
        raw = cmd.encode()
        if not hold:
            if not isinstance(cmd, Ack):
                self._let_acks_pass()
            self._turn.acquire()
        try:
            wait = self._line_free_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last = self._last_tx.get(cmd.addr)
            if last is not None:
                wait = last + self.spacing - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            ok = self.port.write(raw)
            self._last_tx[cmd.addr] = now = time.monotonic()
            self._line_free_at = now + self.port.wire_time(len(raw))
            return ok
        finally:
            if not hold:
                self._turn.release()

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            data = self.port.read(256)
            # A pause mid-frame means the frame was cut short; give up on it (datasheet §2).
            frames = self.parser.feed(data) if data else (self.parser.flush() if self.parser.pending else [])
            for frame in frames:
                self._on_frame(frame)

    def _on_frame(self, frame: qb68.Frame) -> None:
        try:
            msg = qb68.decode(frame)
        except qb68.MalformedError as e:
            self.malformed += 1
            log.warning("%s: malformed frame from 0x%02X: %s", self.name, frame.addr, e)
            if frame.data and frame.data[0] != 0 and frame.addr != qb68.BROADCAST and frame.cmd != qb68.Cmd.STATUS:
                self._enqueue(frame)  # ACK it as UNKNOWN, in order with the other events (never a STATUS)
            return
        if isinstance(msg, qb68.Command):
            return  # our own frames echoed by the adapter
        self._seen(msg.addr)
        if isinstance(msg, Status):
            with self._status_cv:
                self._statuses[msg.addr] = msg
                self._status_cv.notify_all()
            return
        self._enqueue(msg)

    def _enqueue(self, item: Event | qb68.Frame) -> None:
        with self._unacked_cv:
            self._unacked += 1
        self._events.put(item)

    def _acked(self) -> None:
        with self._unacked_cv:
            self._unacked -= 1
            self._unacked_cv.notify_all()

    def _let_acks_pass(self, limit: float = 1.0) -> None:
        """Wait (at most `limit` s, in case a handler hangs) until every received event is ACKed."""
        with self._unacked_cv:
            self._unacked_cv.wait_for(lambda: self._unacked == 0 or self._stop.is_set(), timeout=limit)

    def _dispatch_loop(self) -> None:
        while True:
            item = self._events.get()
            if item is None or self._stop.is_set():
                return
            try:
                if isinstance(item, qb68.Frame):
                    self._send(Ack(item.addr, item.data[0], item.cmd, Result.UNKNOWN))
                else:
                    self._apply(item)
            finally:
                self._acked()

    def _apply(self, event: Event) -> None:
        now = self.clock()
        prev = self._applied.get(event.addr)
        # Datasheet §3: (ADDR, SEQ) alone identifies an event. A keypad that restarted and counts from
        # SEQ 1 again within 10 s sends a different CMD under a used SEQ: still a duplicate, ACKed
        # with the first result (and the resent frame's CMD, which is what the device waits for).
        if prev is not None and prev.seq == event.seq and now - prev.at <= self.dedup_seconds:
            self.duplicates += 1
            log.debug("%s: duplicate %s, re-ACK %s", self.name, event, prev.result.name)
            self._send(Ack(event.addr, event.seq, event.cmd, prev.result))
            return
        self.handled += 1
        try:
            result = Result(self.handler(event))
        except Exception:
            log.exception("%s: handler failed for %s", self.name, event)
            self._send(Ack(event.addr, event.seq, event.cmd, Result.REJECTED))
            return
        self._applied[event.addr] = _Applied(event.seq, event.cmd, result, now)
        self._send(Ack(event.addr, event.seq, event.cmd, result))

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for addr in list(self.health):
                if self._stop.is_set():
                    return
                h = self.health[addr]
                now = time.monotonic()
                if h.online is False:
                    # A dead device costs a whole poll timeout of line time: try it only now and then.
                    if now < h.next_poll:
                        continue
                    h.next_poll = now + self.offline_retry
                self._let_acks_pass()
                self.poll(addr)
            rest = self.poll_interval - (time.monotonic() - started)
            if rest > 0:
                self._stop.wait(rest)

    def _seen(self, addr: int) -> None:
        h = self.health.get(addr)
        if h is None:
            return
        h.last_seen = time.monotonic()
        h.missed = 0
        self._set_online(addr, h, True)

    def _poll_result(self, addr: int, status: Status | None) -> None:
        h = self.health.setdefault(addr, DeviceHealth())
        if status is None:
            h.missed += 1
            if h.missed >= self.miss_limit:
                self._set_online(addr, h, False)
            return
        h.missed = 0
        h.last_status = status
        self._set_online(addr, h, True)
        if status.flags and self.on_status is not None:
            try:
                self.on_status(addr, status)
            except Exception:
                log.exception("status callback failed")

    def _set_online(self, addr: int, h: DeviceHealth, online: bool) -> None:
        with self._health_lock:
            if h.online == online:
                return
            h.online = online
        if online:
            log.info("%s: device 0x%02X online", self.name, addr)
        else:
            log.warning("%s: device 0x%02X offline (%d polls missed)", self.name, addr, h.missed)
        if self.on_device_state is not None:
            try:
                self.on_device_state(addr, online)
            except Exception:
                log.exception("device state callback failed")
