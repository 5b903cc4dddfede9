"""What the hall display shows, kept up to date from the server's event stream.

Pure state plus one follower thread, no drawing: the latest calls (newest first, a recall moves a
call back to the top), how many wait for each service, and whether the server is reachable. On
every (re)connection it takes a snapshot (GET /queue, GET /services) and skips the events the
snapshot already covers, so a reconnection never re-announces an old call. The hall's name and
notice come from GET /services too, again on every config.changed event (changed in the browser).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hallq.client import ApiClient, ApiError, Unreachable
from hallq.waits import wait_text

log = logging.getLogger("hallq.display")

MAX_CALLS = 10


@dataclass(frozen=True)
class Call:
    code: str
    window: int
    window_name: str
    at: str = ""  # ISO time of the call (server clock)


@dataclass(frozen=True)
class Waiting:
    code: str
    name: str
    waiting: int
    wait: str  # the estimate as worded for citizens, short form (hallq/waits.py)


@dataclass
class BoardState:
    calls: list[Call] = field(default_factory=list)  # newest first
    waiting: list[Waiting] = field(default_factory=list)  # most waiting first, only services with someone
    connected: bool = False
    newest_at: float = 0.0  # monotonic time of the newest call, for highlighting it a while
    hall_name: str | None = None  # as the server has it now (None: not read yet)
    notice: str | None = None
    media: tuple[str, ...] = ()  # paths of the pictures shown in turn (GET /api/v1/media/…)
    media_seconds: int = 15

    def snapshot(self) -> BoardState:
        return BoardState(list(self.calls), list(self.waiting), self.connected, self.newest_at, self.hall_name,
                          self.notice, self.media, self.media_seconds)


class HallBoard:
    """The display's model; `follow()` runs the event stream on a thread."""

    def __init__(self, client: ApiClient, window_names: dict[int, str] | None = None,
                 announce: Callable[[str, int], None] | None = None, retry_seconds: float = 2.0,
                 refresh_seconds: float = 1.0) -> None:
        self.client = client
        self.window_names = window_names or {}
        self.announce = announce
        self.retry_seconds = retry_seconds
        self.refresh_seconds = refresh_seconds
        self.state = BoardState()
        self.skip_through = 0
        # The hall's clock is the server's: it may differ from this PC's (or run fast in the demo).
        self.clock_offset = timedelta(0)
        self.tz = None
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()

    def snapshot(self) -> BoardState:
        with self._lock:
            return self.state.snapshot()

    # -------------------------------------------------------------- state changes

    def load(self) -> bool:
        """Take the server's state: calls in progress and waiting counts. False when unreachable."""
        try:
            health = self.client.get("/health")
            last = int(health["last_event_id"])
            self._set_clock(datetime.fromisoformat(health["time"]))
            queue = self.client.get("/queue")["tickets"]
            waiting = self._waiting()
        except (Unreachable, ApiError, KeyError, TypeError, ValueError) as exc:
            log.info("snapshot failed: %s", exc)
            self.disconnected()
            return False
        live = [t for t in queue if t.get("state") in ("called", "serving") and t.get("window")]
        live.sort(key=lambda t: t.get("called_at") or "", reverse=True)
        calls = [Call(t["code"], t["window"]["number"], t["window"]["name"], t.get("called_at") or "")
                 for t in live[:MAX_CALLS]]
        with self._lock:
            self.skip_through = last  # not max(): after a restored backup the ids start lower
            # Calls already finished stay on the board below the live ones, as the hall saw them.
            seen = {c.code for c in calls}
            calls += [c for c in self.state.calls if c.code not in seen][: MAX_CALLS - len(calls)]
            self.state.calls = calls
            self.state.waiting = waiting
            self.state.connected = True
        return True

    def _set_clock(self, server_now: datetime) -> None:
        offset = server_now - datetime.now(server_now.tzinfo)
        # Ignore round-trip jitter; follow real differences (a wrong PC clock, the demo's fast hall).
        if abs(offset - self.clock_offset) > timedelta(seconds=2):
            self.clock_offset = offset
        self.tz = server_now.tzinfo

    def now(self) -> datetime:
        """The hall's time: this PC's clock corrected to the server's at the last (re)connection."""
        return datetime.now(self.tz) + self.clock_offset

    def _waiting(self) -> list[Waiting]:
        menu = self.client.get("/services")
        hall = menu.get("hall") or {}
        with self._lock:
            self.state.hall_name = hall.get("name", self.state.hall_name)
            self.state.notice = hall.get("notice", self.state.notice)
            self.state.media = tuple(hall.get("media") or ())
            self.state.media_seconds = int(hall.get("media_seconds") or 15)
        services = menu["services"]
        rows = [Waiting(s["code"], s["name"], int(s["waiting"]), wait_text(s, short=True))
                for s in services if s.get("kind", "service") == "service" and s.get("waiting")]
        rows.sort(key=lambda w: (-w.waiting, w.code))
        return rows

    def picture(self, path: str) -> bytes | None:
        """The bytes of one display picture (a path from `state.media`), or None when unavailable."""
        import urllib.request

        server = self.client.base.removesuffix("/api/v1")
        try:
            with urllib.request.urlopen(server + path, timeout=self.client.timeout) as answer:
                return answer.read()
        except (OSError, ValueError) as exc:
            log.info("picture %s not loaded: %s", path, exc)
            return None

    def refresh_waiting(self) -> None:
        try:
            waiting = self._waiting()
        except (Unreachable, ApiError, KeyError, TypeError) as exc:
            log.info("waiting counts not refreshed: %s", exc)
            return
        with self._lock:
            self.state.waiting = waiting

    def disconnected(self) -> None:
        with self._lock:
            self.state.connected = False

    def on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type", "")
        if kind == "_connected":
            self.load()
            return
        if kind == "_disconnected":
            self.disconnected()
            return
        if int(ev.get("id") or 0) <= self.skip_through:
            return
        if kind in ("ticket.called", "ticket.recalled") and ev.get("window") is not None:
            data = ev.get("data") or {}
            window = int(ev["window"])
            call = Call(data.get("code") or ev.get("ticket_code") or "", window,
                        data.get("window_name") or self.window_names.get(window, ""), ev.get("ts") or "")
            with self._lock:
                self.state.calls = [call] + [c for c in self.state.calls if c.code != call.code][: MAX_CALLS - 1]
                self.state.newest_at = time.monotonic()
            if self.announce is not None and call.code:
                try:
                    self.announce(call.code, window)
                except Exception:
                    log.exception("announcement failed")
        self._dirty.set()

    # -------------------------------------------------------------- threads

    def follow(self) -> HallBoard:
        threading.Thread(target=self._follow, name="board-events", daemon=True).start()
        threading.Thread(target=self._refresher, name="board-refresh", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                for ev in self.client.events(retry_seconds=self.retry_seconds, stop=self._stop):
                    self.on_event(ev)
            except ApiError as exc:
                log.error("event stream refused: %s", exc)
                self.disconnected()
                self._stop.wait(self.retry_seconds * 5)
            except Exception:
                log.exception("event stream failed; reconnecting")
                self._stop.wait(self.retry_seconds)

    def _refresher(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            self._dirty.clear()
            if self.snapshot().connected:
                self.refresh_waiting()
            self._stop.wait(self.refresh_seconds)


def clock_text(now: datetime) -> tuple[str, str]:
    """("2026年11月23日 星期一", "09:41:05") for the display's header."""
    weekday = "一二三四五六日"[now.weekday()]
    return f"{now.year}年{now.month}月{now.day}日 星期{weekday}", now.strftime("%H:%M:%S")
