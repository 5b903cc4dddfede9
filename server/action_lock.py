"""The engine's lock, aware of group commit (server/store.py `Store.stage`).

An action stages its change under the lock and swaps its copies in, so the next action can start;
the request is answered only once the change is durable. That wait belongs after the lock: the
outermost release hands the lock on first and then waits for what this hold staged, raising the
commit's error if it failed (after the memory was read back from the store). The outermost acquire first runs `on_acquire` (the engine reloads its
memory there when a failed group commit left it ahead of the disk)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .store import Staged


class ActionLock:
    def __init__(self, on_acquire: Callable[[], None]) -> None:
        self._lock = threading.RLock()
        self._on_acquire = on_acquire
        self._local = threading.local()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if depth == 0:
            self._local.staged = []
            try:
                self._on_acquire()
            except BaseException:
                self._local.depth = 0
                self._lock.release()
                raise
        return True

    def release(self) -> None:
        self._local.depth -= 1
        staged: list[Staged] = []
        if self._local.depth == 0:
            staged, self._local.staged = self._local.staged, []
        self._lock.release()
        for item in staged:
            try:
                item.wait()
            except BaseException:
                self.acquire()  # on_acquire reads back what the failed commit threw away…
                self.release()  # …before the failure is answered
                raise

    def staged(self, item: Staged) -> None:
        """Remember `item` for the wait at the outermost release (called with the lock held)."""
        self._local.staged.append(item)

    def __enter__(self) -> ActionLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
