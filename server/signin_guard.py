"""Limits on failed sign-ins (登录失败处理, required of government systems by 等保 2.0).

After `per_user` failed passwords for one user name within `minutes`, that name is refused for the
rest of the window; the same per client address with a larger `per_address` limit, so one machine
cannot walk through the staff list either. Kept in memory: a restart forgets it, which only gives an
attacker a fresh window after an administrator restarts the server.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class SignInGuard:
    PRUNE_ABOVE = 256  # keys kept before expired ones are swept

    def __init__(self, per_user: int = 5, per_address: int = 20, minutes: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.seconds = minutes * 60
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def wait_minutes(self, username: str, address: str) -> int:
        """Whole minutes until this name (or address) may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            waits = [self._wait(("user", username), self.per_user, now),
                     self._wait(("address", address), self.per_address, now)]
        return math.ceil(max(waits) / 60)

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (("user", username), ("address", address)):
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > self.PRUNE_ABOVE:  # names tried once and never again
                for key in list(self._failures):
                    self._wait(key, 1, now)

    def succeeded(self, username: str) -> None:
        """A right password clears the name's failures (not the address's: others may share it)."""
        with self._lock:
            self._failures.pop(("user", username), None)

    def unlock(self, username: str) -> None:
        """An administrator lets a locked name try again at once (its failures are forgotten)."""
        self.succeeded(username)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float:
        times = self._failures.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.seconds:
            times.popleft()
        if not times:
            del self._failures[key]  # memory stays bounded by recent failures
            return 0.0
        if len(times) < limit:
            return 0.0
        return times[-limit] + self.seconds - now
