"""The event stream's fan-out: every commit read from the store once, sent to every open stream.

One thread (`Feed`) wakes on each commit, reads the new events from the store in id order — the
order they were committed in — and formats each once as server-sent-event bytes. The asyncio loop
keeps the latest of them in a `Hub`; each open stream is a coroutine that writes whatever it has not
sent yet in one go and then waits for the next change. A stream therefore costs a coroutine and a
socket, not a worker thread, and a thousand of them cost one query per commit, not a thousand.

A stream that falls behind what the hub keeps (a client reconnecting with an old Last-Event-ID, or a
slow one) reads the gap from the store itself, so nothing is missed and the hub's memory is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from bisect import bisect_right
from collections.abc import Callable

from .sse import format_event
from .store import Store

log = logging.getLogger(__name__)

KEEP_EVENTS = 4096  # what the hub holds for streams a little behind; older gaps are read from the store
WAKE_GAP_SECONDS = 0.05  # streams are woken at most this often: commits in between go out in one write
READ_GAP_SECONDS = 0.01  # the feed reads at most this often: at a busy moment, several commits per read


def encode(ev: dict) -> bytes:
    return format_event(ev).encode("utf-8")


class Hub:
    """The recent events as SSE bytes, on the event loop; streams read from it, the feed appends."""

    def __init__(self, last_id: int, keep: int = KEEP_EVENTS, gap: float = WAKE_GAP_SECONDS) -> None:
        self.last_id = last_id
        self.keep = keep
        self.gap = gap
        self._woke = float("-inf")  # loop time of the last wake
        self._wake_later: asyncio.TimerHandle | None = None
        self.ids: list[int] = []
        self.chunks: list[bytes] = []
        self.closed = False
        self.beats = 0  # heartbeats so far: a stream woken by one with nothing new sends a keep-alive
        self._changed: asyncio.Future | None = None
        self._joined: dict[int, tuple[bytes, int]] = {}  # since() answers until the next publish
        self._loop: asyncio.AbstractEventLoop | None = None

    def publish(self, batch: list[tuple[int, bytes]]) -> None:
        for event_id, chunk in batch:
            if event_id > self.last_id:
                self.ids.append(event_id)
                self.chunks.append(chunk)
                self.last_id = event_id
        if len(self.ids) > 2 * self.keep:
            del self.ids[: -self.keep]
            del self.chunks[: -self.keep]
        self._joined.clear()
        # A thousand streams woken per commit cost the loop a thousand writes each time: at a busy
        # moment the commits of the next few tens of milliseconds wait and go out together.
        loop = self._running_loop()
        if loop.time() - self._woke >= self.gap:
            self._wake()
        elif self._wake_later is None:
            self._wake_later = loop.call_at(self._woke + self.gap, self._wake)

    def since(self, last: int) -> tuple[bytes, int] | None:
        """Everything after event `last` as one write and the id it ends at; None when the hub no
        longer holds all of it (the stream reads the gap from the store). Most streams ask with the
        same `last`, so each answer is joined once."""
        if last >= self.last_id:
            return b"", last
        if not self.ids or last < self.ids[0] - 1:
            return None
        got = self._joined.get(last)
        if got is None:
            i = bisect_right(self.ids, last)
            got = self._joined[last] = (b"".join(self.chunks[i:]), self.last_id)
        return got

    def changed(self) -> asyncio.Future:
        """A future that completes at the next publish, heartbeat or close."""
        if self._changed is None or self._changed.done():
            self._changed = self._running_loop().create_future()
        return self._changed

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def beat(self) -> None:
        self.beats += 1
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._wake_later is not None:
            self._wake_later.cancel()
            self._wake_later = None
        if self._loop is not None:
            self._woke = self._loop.time()
        fut, self._changed = self._changed, None
        if fut is not None and not fut.done():
            fut.set_result(None)


class Feed:
    """The one reader: on every commit, the new events from the store, handed to `publish` in order."""

    def __init__(self, store: Store, publish: Callable[[list[tuple[int, bytes]]], None],
                 last_id: int, batch: int = 1000, gap: float = READ_GAP_SECONDS) -> None:
        self.store = store
        self.gap = gap
        self.publish = publish
        self.last_id = last_id
        self.batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-feed", daemon=True)
        store.subscribe(self._on_commit)

    def start(self) -> Feed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def _on_commit(self, events: list[dict]) -> None:
        if events:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            # The timeout is a safety net only (a commit whose listeners failed still gets read).
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                while not self._stop.is_set():
                    events = self.store.events_after(self.last_id, limit=self.batch, decode=False)
                    if not events:
                        break
                    self.last_id = events[-1]["id"]
                    self.publish([(ev["id"], encode(ev)) for ev in events])
                    if len(events) < self.batch:
                        # All there was. A commit since the read set the wake after it was cleared
                        # above, so the next wait returns at once: no second query to find nothing.
                        # A lone commit is read at once; at a busy moment, waking (a thread switch)
                        # and reading once per commit cost more than the read: the next read waits
                        # a moment and takes every commit made meanwhile (the hub batches streams'
                        # writes over a longer gap anyway).
                        self._stop.wait(self.gap)
                        break
            except Exception:  # a storage fault: the hall runs on; the next wake reads again
                log.exception("event feed: reading new events failed")
                self._stop.wait(1.0)
