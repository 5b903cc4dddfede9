"""LS-A0 strip client: the host end of one line of window LED strips.

Callers state what each strip should show; one worker thread puts it on the wire, waits 100 ms
for ACK/NAK, resends at most twice, and marks a silent strip offline (callback). The client
remembers every strip's idle text, brightness and current content, so when an offline strip
answers its periodic retry (at least every 30 s) it gets its idle text and current content back
without the caller doing anything. Commands for an offline strip only update that memory, so a
dead strip never slows the others down.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, replace

from drivers import lsa0
from drivers.gbk import GbkText
from drivers.lsa0 import Brightness, Clear, Color, Mode, SetIdle, Show, ShowIdle
from drivers.transport import LineSettings, ReconnectingPort

log = logging.getLogger(__name__)

StripStateCallback = Callable[[int, bool], None]
TextProblemCallback = Callable[[int, str, GbkText], None]


@dataclass
class StripState:
    """What the host believes a strip should be showing, and whether it answers."""

    online: bool | None = None
    idle: SetIdle | None = None
    content: Show | ShowIdle | Clear | None = None
    brightness: Brightness | None = None
    next_retry: float = 0.0
    lost: bool = False  # a command went nowhere (the line was down): resend its memory when it is back
    naks: int = 0
    sent: int = 0


_PING = object()
# What a send to a strip gives when the line itself is down (the port reports that once): the strip
# can be told neither online nor offline, so it is not marked (one pulled adapter is one fault, not
# one per strip); it is `lost`, and its memory goes out again when the line is back.
LINE_DOWN = "line down"


class StripClient:
    """Drives every LS-A0 strip on one line. Text methods return the GBK encoding report."""

    def __init__(
        self,
        port: ReconnectingPort | str,
        *,
        strips: Iterable[int] = (),
        baudrate: int = 9600,
        ack_timeout: float = 0.1,
        resends: int = 2,
        retry_interval: float = 30.0,
        port_retry_interval: float = 3.0,
        on_strip_state: StripStateCallback | None = None,
        on_text_problem: TextProblemCallback | None = None,
        on_port_state: Callable[[bool], None] | None = None,
        name: str = "ls-a0",
    ) -> None:
        if isinstance(port, str):
            port = ReconnectingPort(port, LineSettings(baudrate=baudrate), name=name, read_timeout=0.01,
                                    retry_interval=port_retry_interval, on_state=on_port_state)
        elif on_port_state is not None:
            port.on_state = on_port_state
        self.port = port
        self.name = name
        self.ack_timeout = ack_timeout
        self.resends = resends
        self.retry_interval = retry_interval
        self.on_strip_state = on_strip_state
        self.on_text_problem = on_text_problem
        self.strips: dict[int, StripState] = {a: StripState() for a in strips}
        self.parser = lsa0.AnswerParser()
        self._lock = threading.Lock()
        self._strips_lock = threading.Lock()
        self._queue: queue.Queue[tuple[int, object, Future[bool]] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> StripClient:
        """Open the port and start the worker (once; later calls do nothing)."""
        if self._thread is not None:
            return self
        self.port.open()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"{self.name}-worker")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(2.0)
        self.port.close()

    def __enter__(self) -> StripClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- what callers use

    def show(self, addr: int, text: str, color: Color = Color.RED, mode: Mode = Mode.STATIC) -> GbkText:
        """Show `text` now (e.g. "A023 请到3号窗口"); remembered as the strip's current content."""
        cmd = Show(addr, text, color, mode)
        enc = self._check_text(addr, text)
        with self._lock:
            self._state(addr).content = Show(addr, enc.text, color, mode)
        self._submit(addr, cmd)
        return enc

    def set_idle(self, addr: int, text: str, color: Color = Color.RED) -> GbkText:
        """Store the idle text (e.g. "3号窗口 社保医保") in the strip."""
        enc = self._check_text(addr, text)
        with self._lock:
            self._state(addr).idle = SetIdle(addr, enc.text, color)
        self._submit(addr, SetIdle(addr, text, color))
        return enc

    def show_idle(self, addr: int) -> Future[bool]:
        with self._lock:
            self._state(addr).content = ShowIdle(addr)
        return self._submit(addr, ShowIdle(addr))

    def clear(self, addr: int) -> Future[bool]:
        with self._lock:
            self._state(addr).content = Clear(addr)
        return self._submit(addr, Clear(addr))

    def brightness(self, addr: int, level: int) -> Future[bool]:
        if not 0 <= level <= 15:
            raise ValueError("brightness is 0..15")
        cmd = Brightness(addr, level)
        if addr != lsa0.BROADCAST:
            with self._lock:
                self._state(addr).brightness = cmd
        return self._submit(addr, cmd)

    def ping(self, addr: int, timeout: float = 2.0) -> bool:
        """Check a strip answers, with a harmless frame (its idle text again, or SHOW_IDLE)."""
        fut = self._submit(addr, _PING)
        try:
            return fut.result(timeout)
        except Exception:
            return False

    def online(self, addr: int) -> bool | None:
        st = self.strips.get(addr)
        return None if st is None else st.online

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every command submitted so far has been handled (tests, shutdown)."""
        fut = self._submit(-1, None)
        try:
            fut.result(timeout)
            return True
        except Exception:
            return False

    # -------------------------------------------------------------- internals

    def _state(self, addr: int) -> StripState:
        with self._strips_lock:  # callers on other threads may add a strip the worker is iterating
            st = self.strips.get(addr)
            if st is None:
                st = self.strips[addr] = StripState()
            return st

    def _check_text(self, addr: int, text: str) -> GbkText:
        enc = lsa0.encode_text(text)
        if not enc.clean:
            log.warning("%s: strip 0x%02X text %r: replaced %r%s", self.name, addr, text, "".join(enc.replaced),
                        ", cut to 64 bytes" if enc.truncated else "")
            if self.on_text_problem is not None:
                try:
                    self.on_text_problem(addr, text, enc)
                except Exception:
                    log.exception("text problem callback failed")
        return enc

    def _submit(self, addr: int, cmd: object) -> Future[bool]:
        fut: Future[bool] = Future()
        self._queue.put((addr, cmd, fut))
        return fut

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=self._next_retry_in())
            except queue.Empty:
                item = ()
            if item is None:
                break
            if item:
                addr, cmd, fut = item
                try:
                    fut.set_result(self._handle(addr, cmd))
                except Exception as e:  # keep the worker alive whatever a command does
                    log.exception("%s: command for strip 0x%02X failed", self.name, addr)
                    fut.set_exception(e)
            try:
                self._retry_offline()
            except Exception:  # one odd strip must not end the worker (and every strip with it)
                log.exception("%s: retrying offline strips failed", self.name)

    def _next_retry_in(self) -> float:
        now = time.monotonic()
        with self._strips_lock:
            states = list(self.strips.values())
        waits = [st.next_retry - now for st in states if st.online is False or st.lost]
        return max(0.005, min(waits)) if waits else 0.5

    def _handle(self, addr: int, cmd: object) -> bool:
        if cmd is None:
            return True
        if addr == lsa0.BROADCAST:
            frame, _ = lsa0.to_frame(cmd)  # type: ignore[arg-type]
            return self.port.write(frame.encode())  # broadcasts are never acknowledged
        st = self._state(addr)
        if cmd is _PING:
            return self._probe(addr, st)
        if st.online is False:
            return False  # remembered; goes out when the strip is back
        answer = self._transact(lsa0.to_frame(cmd)[0])  # type: ignore[arg-type]
        if answer is LINE_DOWN:
            self._lose(st)
            return False
        if answer is None:
            self._mark(addr, st, False)
            return False
        self._mark(addr, st, True)
        return answer

    def _transact(self, frame: lsa0.Frame) -> bool | None | str:
        """Send and wait for ACK (True) / NAK (False), resending on either failure; None when the
        strip stayed silent through every send, LINE_DOWN when the port took nothing."""
        raw = frame.encode()
        nak = False
        for _ in range(1 + self.resends):
            self.port.reset_input()
            self.parser.reset()
            if not self.port.write(raw):
                return LINE_DOWN
            answer = self._await_answer(frame)
            if answer:
                return True
            if answer is False:
                nak = True
                self._state(frame.addr).naks += 1
                log.warning("%s: strip 0x%02X NAKed %s", self.name, frame.addr, lsa0.Cmd(frame.cmd).name)
        return False if nak else None

    def _await_answer(self, frame: lsa0.Frame) -> bool | None:
        # 100 ms from the end of the frame on the wire (datasheet §4), plus the 5-byte answer's own
        # time: a 64-byte SHOW takes 76 ms to leave the adapter at 9600 bps.
        deadline = time.monotonic() + self.ack_timeout + self.port.wire_time(len(frame.encode()) + 5)
        while time.monotonic() < deadline:
            for ans in self.parser.feed(self.port.read(16)):
                if ans.addr == frame.addr and ans.cmd == frame.cmd:
                    return ans.ok
        return None

    def _probe(self, addr: int, st: StripState) -> bool:
        if st.online is False:
            probe: object = st.idle or ShowIdle(addr)  # back from offline: idle text first, then content
        else:
            # A working strip is asked to show what it should show: SET_IDLE would rewrite its
            # non-volatile memory at every ping, and a strip that lost power shows its idle text again.
            content = st.content
            if content is None:
                probe = ShowIdle(addr)
            elif isinstance(content, Show) and content.mode == Mode.BLINK:
                probe = replace(content, mode=Mode.STATIC)
            else:
                probe = content
        answer = self._transact(lsa0.to_frame(probe)[0])
        if answer is LINE_DOWN:
            self._lose(st)
            return False
        if answer is None:
            self._mark(addr, st, False)
            return False
        was_offline, st.lost = st.online is False or st.lost, False
        self._mark(addr, st, True)
        if was_offline:
            self._restore(addr, st, skip=probe)
        return answer

    def _restore(self, addr: int, st: StripState, skip: object = None) -> None:
        for cmd in (st.idle, st.brightness, st.content):
            if cmd is None or cmd is skip:
                continue
            answer = self._transact(lsa0.to_frame(cmd)[0])
            if answer is LINE_DOWN:
                self._lose(st)
                return
            if answer is None:
                self._mark(addr, st, False)
                return
        log.info("%s: strip 0x%02X restored", self.name, addr)

    def _lose(self, st: StripState) -> None:
        st.lost = True
        st.next_retry = time.monotonic() + self.retry_interval

    def _retry_offline(self) -> None:
        now = time.monotonic()
        with self._strips_lock:
            strips = list(self.strips.items())
        for addr, st in strips:
            if (st.online is False or st.lost) and st.next_retry <= now and not self._stop.is_set():
                st.next_retry = now + self.retry_interval
                self._probe(addr, st)

    def _mark(self, addr: int, st: StripState, online: bool) -> None:
        if not online:
            st.next_retry = time.monotonic() + self.retry_interval
        if st.online == online:
            return
        st.online = online
        if online:
            log.info("%s: strip 0x%02X online", self.name, addr)
        else:
            log.warning("%s: strip 0x%02X offline (no answer after %d sends)", self.name, addr, 1 + self.resends)
        if self.on_strip_state is not None:
            try:
                self.on_strip_state(addr, online)
            except Exception:
                log.exception("strip state callback failed")
