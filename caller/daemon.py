"""The caller daemon: a hall's keypads, evaluators and LED strips, joined to the server's HTTP API.

It talks to the server only through `hallq.client` (the public API and its event stream), so it
can run on the PC that has the RS-485 adapters while the server runs elsewhere.

- Key presses: each keypad/evaluator event becomes one API call (caller/keymap.py); the ACK
  carries the outcome. The bus master answers a resent event from memory, so it applies once.
  A press while the server is unreachable is refused (0x01), never queued to be applied later.
- Strips and keypad displays follow the server's state: the answer of the daemon's own action
  (fast path, for the call latency) and the event stream (so calls made on the web caller page
  show too). Both describe the same state, and StripBoard sends only changes.
- On every (re)connection the daemon takes a snapshot (GET /windows) and sets every strip and
  display from it; events up to the snapshot are skipped, so a reconnection never replays an old
  call. While the server is unreachable, keypads show OFFLINE and strips their idle text.
- The evaluator is prompted from `rating.invited`, whoever finished the service.
- Devices going offline or coming back raise and clear `device_offline` alerts through the API;
  alerts that could not be sent are sent on the next resync.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caller import keymap, strips
from caller.strips import StripBoard
from drivers import qb68
from drivers.lsa0_strip import StripClient
from drivers.qb68 import Result, Status, StatusFlags
from drivers.qb68_bus import BusMaster
from hallq.client import ApiClient, ApiError, Unreachable, new_key
from hallq.model import HallConfig

log = logging.getLogger("hallq.caller")

ROLE_NAMES = {"keypad": "呼叫器", "evaluator": "评价器", "strip": "LED条屏", "bus": "RS-485总线"}
CALL_ACTIONS = ("call-next", "call", "call-back")
Announcer = Callable[[str, int], None]


@dataclass
class WindowView:
    """What the daemon knows of one window; `gen` counts local updates so that a snapshot taken
    before an update never overwrites it."""

    state: str = "unstaffed"
    code: str | None = None
    waiting: int | None = None
    gen: int = 0


@dataclass
class Timing:
    """Intervals, in seconds; tests shorten them."""

    action_timeout: float = 1.0  # a device resends for 1.2 s; a later ACK is lost anyway
    poll_interval: float = 1.0
    poll_timeout: float = 0.1
    strip_ack_timeout: float = 0.1
    strip_retry: float = 30.0  # datasheet: retry an offline strip at least every 30 s
    port_retry: float = 3.0
    event_retry: float = 2.0  # reconnect to the event stream / retry a resync
    refresh_min: float = 0.5  # at most one GET /windows per this, for waiting counts
    refresh_every: float = 10.0  # and at least one per this
    strip_check: float = 15.0  # resend every strip's content (liveness, power-cycled strips)


def _next_citizen(view: WindowView, state: str, code: str | None) -> bool:
    """Whether the server shows the window with another citizen called or served than the view
    had: the last one's rating is over (as on ticket.called), so the evaluator's prompt is cancelled."""
    return state in ("called", "serving") and code is not None and code != view.code


class CallerDaemon:
    def __init__(self, config: HallConfig, server: str, token: str, *, ports: dict[str, str] | None = None,
                 timing: Timing | None = None, announce: Announcer | None = None) -> None:
        self.config = config
        self.timing = timing or Timing()
        self.api = ApiClient(server, token, timeout=self.timing.action_timeout)
        self.stream_api = ApiClient(server, token, timeout=5.0)
        self.announce = announce
        ports = ports or {}
        self.keypads: dict[tuple[str, int], int] = {}
        self.evaluators: dict[tuple[str, int], int] = {}
        self.keypad_of: dict[int, tuple[str, int]] = {}
        self.evaluator_of: dict[int, tuple[str, int]] = {}
        strip_refs: dict[int, tuple[str, int]] = {}
        for w in config.windows.values():
            if w.keypad:
                self.keypads[(w.keypad.bus, w.keypad.address)] = w.number
                self.keypad_of[w.number] = (w.keypad.bus, w.keypad.address)
            if w.evaluator:
                self.evaluators[(w.evaluator.bus, w.evaluator.address)] = w.number
                self.evaluator_of[w.number] = (w.evaluator.bus, w.evaluator.address)
            if w.strip:
                strip_refs[w.number] = (w.strip.bus, w.strip.address)
        t = self.timing
        self.masters: dict[str, BusMaster] = {}
        self.strip_clients: dict[str, StripClient] = {}
        for bus in config.buses.values():
            port = ports.get(bus.name, bus.port)
            if bus.kind == "qb68":
                addrs = sorted(a for (b, a) in (*self.keypads, *self.evaluators) if b == bus.name)
                if addrs:
                    self.masters[bus.name] = BusMaster(
                        port, functools.partial(self._on_key, bus.name), devices=addrs, baudrate=bus.baudrate,
                        poll_interval=t.poll_interval, poll_timeout=t.poll_timeout, retry_interval=t.port_retry,
                        on_device_state=functools.partial(self._on_qb68_state, bus.name),
                        on_status=functools.partial(self._on_status, bus.name),
                        on_port_state=functools.partial(self._on_port_state, bus.name), name=bus.name)
            else:
                addrs = sorted(a for (b, a) in strip_refs.values() if b == bus.name)
                if addrs:
                    self.strip_clients[bus.name] = StripClient(
                        port, strips=addrs, baudrate=bus.baudrate, ack_timeout=t.strip_ack_timeout,
                        retry_interval=t.strip_retry, port_retry_interval=t.port_retry,
                        on_strip_state=functools.partial(self._on_strip_state, bus.name),
                        on_port_state=functools.partial(self._on_port_state, bus.name), name=bus.name)
        self.strip_window = {ref: n for n, ref in strip_refs.items()}
        self.board = StripBoard({n: (self.strip_clients[b], a) for n, (b, a) in strip_refs.items()
                                 if b in self.strip_clients})
        self.views: dict[int, WindowView] = {n: WindowView() for n in config.windows}
        self.online = False  # the server answered the last resync and nothing failed since
        self.skip_through = 0  # events up to this id are covered by the last snapshot
        self.stats = {"keys": 0, "refused_offline": 0, "resyncs": 0, "alerts_sent": 0}
        self._lock = threading.RLock()
        self._resync_lock = threading.Lock()  # the stream's reconnection and housekeeping both resync
        self._shown: dict[tuple[str, int], str] = {}
        self._outbox: dict[str, queue.Queue] = {name: queue.Queue() for name in self.masters}
        self._alert_want: dict[str, tuple[bool, str, int | None]] = {}
        self._alert_sent: dict[str, bool] = {}
        self._need_resync = True
        self._dirty = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # bench hook: (event, result, handler started, server answered), perf_counter times
        self.on_key_done: Callable[[qb68.Event, Result, float, float], None] | None = None
        self._answered_at = 0.0

    # -------------------------------------------------------------- lifecycle

    def start(self) -> CallerDaemon:
        for client in self.strip_clients.values():
            client.start()
        self.board.set_idle_texts({n: w.idle_text or f"{n}号窗口 {w.name}" for n, w in self.config.windows.items()})
        for name in self._outbox:
            self._spawn(functools.partial(self._send_loop, name), f"caller-out-{name}")
        for window in self.keypad_of:
            self._display(window, force=True)
        for master in self.masters.values():
            master.start()
        self._spawn(self._follow_events, "caller-events")
        self._spawn(self._housekeeping, "caller-sync")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for box in self._outbox.values():
            box.put(None)
        for master in self.masters.values():
            master.stop()
        for client in self.strip_clients.values():
            client.stop()
        for t in self._threads:
            t.join(1.0)

    def __enter__(self) -> CallerDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    # -------------------------------------------------------------- key presses

    def _on_key(self, bus: str, event: qb68.Event) -> Result:
        """BusMaster handler: one new (not resent) event -> one API call -> the ACK's RESULT."""
        started = time.perf_counter()
        result = self._apply_key(bus, event)
        if self.on_key_done is not None:
            self.on_key_done(event, result, started, self._answered_at)
        return result

    def _apply_key(self, bus: str, event: qb68.Event) -> Result:
        self.stats["keys"] += 1
        key = (bus, event.addr)
        evaluator = key in self.evaluators
        window = self.evaluators.get(key) or self.keypads.get(key)
        if window is None:
            log.warning("%s: event from unconfigured address 0x%02X: %s", bus, event.addr, event)
            return Result.UNKNOWN
        try:
            request = keymap.request_for(event, window, evaluator)
        except keymap.Malformed as exc:
            log.warning("%s: window %s: %s", bus, window, exc)
            return Result.UNKNOWN
        try:
            # One key per key event: the bus answers resent frames itself, so nothing retries it.
            answer = self.api.post(request.path, request.body, idempotency_key=new_key())
            self._answered_at = time.perf_counter()
        except ApiError as exc:
            what = "stray rating key" if evaluator else request.action
            log.info("window %s %s refused: %s", window, what, exc)
            return keymap.result_of(status=exc.status)
        except Unreachable as exc:
            log.warning("window %s %s refused: server unreachable (%s)", window, request.action or "rating", exc)
            self.stats["refused_offline"] += 1
            self._went_offline()
            return Result.REJECTED
        result = keymap.result_of(answer)
        if isinstance(answer, dict) and isinstance(answer.get("window"), dict):
            view = answer["window"]
            code = (view.get("current") or {}).get("code")
            fresh = request.action in CALL_ACTIONS and result == Result.ACCEPTED
            self._set_window(window, view["state"], code, blink=fresh)
        return result

    # -------------------------------------------------------------- window state -> devices

    def _set_window(self, window: int, state: str, code: str | None, blink: bool = False,
                    waiting: int | None = None) -> None:
        with self._lock:
            view = self.views.setdefault(window, WindowView())
            moved = _next_citizen(view, state, code)
            view.state, view.code = state, code
            if waiting is not None:
                view.waiting = waiting
            view.gen += 1
            online = self.online
        if moved:  # learnt from the key's answer or the event, whichever comes first
            self._cancel_prompt(window)
        if online:
            self.board.show(window, strips.content_for(state, code, window), blink=blink)
            self._display(window)

    def _display(self, window: int, force: bool = False) -> None:
        ref = self.keypad_of.get(window)
        if ref is None:
            return
        with self._lock:
            v = self.views.get(window, WindowView())
            text = keymap.display_text(v.state, v.code, v.waiting, self.online)
            if not force and self._shown.get(ref) == text:
                return
            self._shown[ref] = text
        self._outbox[ref[0]].put(("display", ref[1], text))

    def _prompt(self, window: int, code: str, staff_name: str) -> None:
        ref = self.evaluator_of.get(window)
        if ref is not None and ref[0] in self._outbox:
            self._outbox[ref[0]].put(("prompt", ref[1], code, staff_name))

    def _cancel_prompt(self, window: int) -> None:
        ref = self.evaluator_of.get(window)
        if ref is not None and ref[0] in self._outbox:
            self._outbox[ref[0]].put(("cancel", ref[1]))

    def _send_loop(self, bus: str) -> None:
        """Keypad displays and evaluator prompts go out here, off the key-handling thread."""
        box, master = self._outbox[bus], self.masters[bus]
        while True:
            item = box.get()
            if item is None or self._stop.is_set():
                return
            try:
                if item[0] == "display":
                    master.display(item[1], item[2])
                elif item[0] == "cancel":
                    master.cancel_prompt(item[1])
                else:
                    master.prompt_rating(item[1], item[2], item[3])
            except Exception:
                log.exception("%s: sending %s failed", bus, item[0])

    def _went_offline(self) -> None:
        with self._lock:
            self._need_resync = True
            if not self.online:
                return
            self.online = False
        log.warning("server unreachable: keypads show OFFLINE, strips their idle text")
        self.board.show_all(strips.IDLE)
        for window in self.keypad_of:
            self._display(window)
        self._wake.set()

    # -------------------------------------------------------------- the server's state

    def resync(self) -> bool:
        """Take the server's state and put it on every strip and display; False if unreachable."""
        with self._resync_lock:
            return self._resync()

    def _resync(self) -> bool:
        try:
            last = int(self.api.get("/health")["last_event_id"])
            windows = self.api.get("/windows")["windows"]
        except (Unreachable, ApiError, KeyError, TypeError, ValueError) as exc:
            log.info("resync failed: %s", exc)
            self._went_offline()
            return False
        moved = []
        with self._lock:
            self.skip_through = last  # not max(): after a restored backup the ids start lower
            for wv in windows:
                view = self.views.setdefault(wv["number"], WindowView())
                code = (wv.get("current") or {}).get("code")
                if _next_citizen(view, wv["state"], code):
                    moved.append(wv["number"])
                view.state, view.code = wv["state"], code
                view.waiting = wv.get("waiting")
                view.gen += 1
            self.online = True
            self._need_resync = False
            self.stats["resyncs"] += 1
        for window in moved:  # their ticket.called is covered by the snapshot, so it is skipped
            self._cancel_prompt(window)
        for window, view in list(self.views.items()):
            self.board.show(window, strips.content_for(view.state, view.code, window), force=True)
            self._display(window, force=True)
        self._load_alerts()
        log.info("resynced %d windows from the server (events through %d)", len(windows), last)
        return True

    def _refresh(self) -> None:
        """Waiting counts (and any state the events did not bring) from GET /windows."""
        with self._lock:
            gens = {n: v.gen for n, v in self.views.items()}
            self._dirty = False
        try:
            windows = self.api.get("/windows")["windows"]
        except Unreachable:
            self._went_offline()
            return
        except ApiError as exc:
            log.warning("GET /windows refused: %s", exc)
            return
        for wv in windows:
            number = wv["number"]
            with self._lock:
                view = self.views.setdefault(number, WindowView())
                view.waiting = wv.get("waiting")
                current = view.gen == gens.get(number)
                moved = False
                if current:
                    code = (wv.get("current") or {}).get("code")
                    moved = _next_citizen(view, wv["state"], code)
                    view.state, view.code = wv["state"], code
                online = self.online
            if moved:
                self._cancel_prompt(number)
            if current and online:
                self.board.show(number, strips.content_for(view.state, view.code, number))
            self._display(number)

    def on_event(self, ev: dict[str, Any]) -> None:
        """One event from the stream (public for tests and the demo)."""
        kind = ev.get("type", "")
        if kind == "_connected":
            self.resync()
            return
        if kind == "_disconnected":
            self._went_offline()
            return
        if int(ev.get("id") or 0) <= self.skip_through:
            return
        window = ev.get("window")
        data = ev.get("data") or {}
        code = data.get("code") or ev.get("ticket_code")
        if window is not None and window in self.views:
            if kind == "ticket.called":
                self._set_window(window, "called", code, blink=True)  # cancels the last one's prompt
                self._say(code, window)
            elif kind == "ticket.recalled":
                self._set_window(window, "called", code)
                if self.online:
                    self.board.show(window, strips.content_for("called", code, window), blink=True, force=True)
                self._say(code, window)
            elif kind == "ticket.started":
                self._set_window(window, "serving", code)
            elif kind in ("ticket.finished", "ticket.no_show", "ticket.parked", "ticket.transferred"):
                self._set_window(window, "idle", None)
            elif kind == "window.paused":
                self._set_window(window, "paused", None)
            elif kind == "window.resumed":
                self._set_window(window, "idle", None)
            elif kind == "window.login" and self.views[window].state == "unstaffed":
                self._set_window(window, "idle", None)
            elif kind in ("window.logout", "window.reset"):
                self._set_window(window, "unstaffed", None)
            elif kind == "rating.invited" and code:
                self._prompt(window, code, data.get("staff_name") or "")
        with self._lock:
            self._dirty = True
        self._wake.set()

    def _say(self, code: str | None, window: int) -> None:
        if self.announce is not None and code:
            try:
                self.announce(code, window)
            except Exception:
                log.exception("announcement failed")

    def _follow_events(self) -> None:
        while not self._stop.is_set():
            try:
                for ev in self.stream_api.events(retry_seconds=self.timing.event_retry, stop=self._stop):
                    if self._stop.is_set():
                        return
                    self.on_event(ev)
            except ApiError as exc:  # a token the server does not accept: say so, keep trying
                log.error("event stream refused: %s", exc)
                self._stop.wait(self.timing.event_retry * 5)
            except Exception:
                log.exception("event stream handler failed; reconnecting")
                self._stop.wait(self.timing.event_retry)

    def _housekeeping(self) -> None:
        """Resync after failures, refresh waiting counts, send alerts, check strips."""
        t = self.timing
        last_refresh = last_check = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(min(t.event_retry, t.refresh_min))
            self._wake.clear()
            if self._stop.is_set():
                return
            now = time.monotonic()
            try:
                if self._need_resync:
                    if not self.resync():
                        self._stop.wait(t.event_retry)
                        continue
                    last_refresh = now
                elif (self._dirty and now - last_refresh >= t.refresh_min) or now - last_refresh >= t.refresh_every:
                    last_refresh = now
                    self._refresh()
                if self.online:
                    self._send_alerts()
                if now - last_check >= t.strip_check:
                    last_check = now
                    for window in self.board.strips:
                        self.board.refresh(window)
            except Exception:  # an answer of an unexpected shape: this thread must outlive it
                log.exception("caller housekeeping failed; trying again")
                self._stop.wait(t.event_retry)

    # -------------------------------------------------------------- device health -> alerts

    def _device(self, role: str, window: int | None, online: bool, source: str) -> None:
        where = f"{window}号窗口" if window is not None else ""
        message = f"{where}{ROLE_NAMES[role]}离线（{source}）"
        with self._lock:
            self._alert_want[source] = (not online, message, window)
        self._wake.set()

    def _on_qb68_state(self, bus: str, addr: int, online: bool) -> None:
        if (bus, addr) in self.keypads:
            window = self.keypads[(bus, addr)]
            self._device("keypad", window, online, f"keypad:{window}")
            if online:
                self._display(window, force=True)
        elif (bus, addr) in self.evaluators:
            window = self.evaluators[(bus, addr)]
            self._device("evaluator", window, online, f"evaluator:{window}")

    def _on_status(self, bus: str, addr: int, status: Status) -> None:
        """A keypad that restarted lost its display text: send it again."""
        if status.flags & StatusFlags.RESTARTED and (bus, addr) in self.keypads:
            self._display(self.keypads[(bus, addr)], force=True)

    def _on_strip_state(self, bus: str, addr: int, online: bool) -> None:
        window = self.strip_window.get((bus, addr))
        self._device("strip", window, online, f"strip:{window if window is not None else addr}")

    def _on_port_state(self, bus: str, online: bool) -> None:
        """A bus adapter lost or back. While it is gone its devices are neither online nor offline
        (the drivers mark none), so the hall gets this one alert; back, every strip and keypad
        display is sent again, since what was sent meanwhile never arrived."""
        with self._lock:
            was_down = self._alert_want.get(f"bus:{bus}", (False,))[0]
            if online and was_down:
                self._need_resync = True
        self._device("bus", None, online, f"bus:{bus}")

    def _load_alerts(self) -> None:
        """After a (re)connection: what the server already holds, so only differences are sent."""
        try:
            alerts = self.api.get("/alerts")["alerts"]
        except (Unreachable, ApiError, KeyError, TypeError) as exc:
            log.info("could not read alerts: %s", exc)
            return
        active = {a["source"] for a in alerts if a.get("kind") == "device_offline"}
        with self._lock:
            # Alerts raised by an earlier run count too: they clear when their device answers.
            self._alert_sent = {source: source in active for source in set(self._alert_want) | active}

    def _send_alerts(self) -> None:
        with self._lock:
            todo = [(s, want) for s, want in self._alert_want.items() if self._alert_sent.get(s, False) != want[0]]
        for source, (active, message, window) in todo:
            body = {"kind": "device_offline", "source": source, "level": "red", "message": message,
                    "active": active}
            if window is not None:
                body["window"] = window
            try:
                self.api.post("/alerts", body)
            except Unreachable:
                self._went_offline()
                return
            except ApiError as exc:
                log.error("alert %s refused: %s", source, exc)
            with self._lock:
                self._alert_sent[source] = active
            self.stats["alerts_sent"] += 1
            log.info("alert %s %s", source, "raised" if active else "cleared")

    # -------------------------------------------------------------- for tests and the demo

    def wait_online(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.online:
                return True
            time.sleep(0.01)
        return False
