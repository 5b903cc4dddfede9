"""A limit on appointment look-ups, so a token or a machine cannot walk through the 8-digit codes or
through phone numbers (measured: 351 look-ups a second without it).

A sliding window per key: at most `per_minute` look-ups by one token and by one client address in any
60 seconds. Every look-up counts, and so does every check-in at the kiosk whose appointment code was
refused. A kiosk checks in a citizen every half minute at most, so the limit never touches one.
Kept in memory, like server/signin_guard.py: a restart forgets it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable


class LookupLimit:
    PRUNE_ABOVE = 256  # keys kept before idle ones are swept

    def __init__(self, per_minute: int = 30, seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = per_minute
        self.seconds = seconds
        self.clock = clock
        self._times: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, keys: Iterable[tuple[str, str]]) -> float:
        """Seconds until every key may look up again; 0 when they may now."""
        now = self.clock()
        with self._lock:
            return max((self._wait(key, now) for key in keys), default=0.0)

    def count(self, keys: Iterable[tuple[str, str]]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._times.setdefault(key, deque()).append(now)
            if len(self._times) > self.PRUNE_ABOVE:
                for key in list(self._times):
                    self._wait(key, now)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        times = self._times.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.seconds:
            times.popleft()
        if not times:
            del self._times[key]
            return 0.0
        if len(times) < self.limit:
            return 0.0
        return times[-self.limit] + self.seconds - now
