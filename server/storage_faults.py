"""Storage faults: SQLite failures as refusals that name the fault, and the storage state kept in memory.

A full disk, another process holding the write lock, an I/O error, a read-only or corrupt file are
conditions of the machine, not bugs: the caller gets HTTP 503 with a code saying which
(`storage_full`, `storage_busy`, …) and Retry-After, nothing is applied, and `/health` reports the
state at once from memory (it cannot ask the database that is failing). The kind comes from SQLite's
own error code (`sqlite_errorcode`), never from the message text. Errors that are our own bugs
(constraint violations, bad SQL) are not storage faults and stay 500.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from .errors import Unavailable

log = logging.getLogger(__name__)

# primary SQLite code -> (state, error code, what it means, Retry-After seconds)
_KINDS: dict[int, tuple[str, str, str, float]] = {
    sqlite3.SQLITE_FULL: ("full", "storage_full", "the disk holding the database is full", 30),
    sqlite3.SQLITE_BUSY: ("busy", "storage_busy", "another process holds the database's write lock", 2),
    sqlite3.SQLITE_LOCKED: ("busy", "storage_busy", "the database is locked", 2),
    sqlite3.SQLITE_PROTOCOL: ("busy", "storage_busy", "the database's lock protocol kept failing", 2),
    sqlite3.SQLITE_IOERR: ("error", "storage_io_error", "reading or writing the database failed (I/O error)", 30),
    sqlite3.SQLITE_READONLY: ("error", "storage_read_only", "the database cannot be written (read-only)", 60),
    sqlite3.SQLITE_CORRUPT: ("error", "storage_corrupt", "the database file is damaged", 60),
    sqlite3.SQLITE_NOTADB: ("error", "storage_corrupt", "the database file is not an SQLite database", 60),
    sqlite3.SQLITE_CANTOPEN: ("error", "storage_unavailable", "the database file cannot be opened", 30),
    sqlite3.SQLITE_PERM: ("error", "storage_unavailable", "access to the database file is denied", 60),
    sqlite3.SQLITE_NOMEM: ("error", "storage_error", "SQLite ran out of memory", 10),
}
STATE_NAMES = {"ok": "正常", "full": "磁盘已满", "busy": "数据库被占用", "error": "存储故障"}
STICKY = {"storage_corrupt"}  # a damaged file stays damaged when some other write goes through


class StorageError(Unavailable):
    """The database could not do it; nothing was applied (HTTP 503 with Retry-After)."""

    code = "storage_error"

    def __init__(self, message: str, code: str, state: str, database: str, retry_after: float) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
        self.state = state
        self.database = database  # the file's name only: answers reach citizens' pages too

    def to_json(self) -> dict:
        return {**super().to_json(), "database": self.database}


def classify(exc: BaseException, database: str) -> StorageError | None:
    """The storage fault `exc` is, or None when it is not one (a bug, which should stay a 500)."""
    if isinstance(exc, StorageError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.DatabaseError) or code is None:
        return None
    kind = _KINDS.get(code & 0xFF)
    if kind is None:
        return None
    state, error, meaning, retry = kind
    name = getattr(exc, "sqlite_errorname", "") or str(code)
    log.warning("storage fault on %s: %s (%s)", database, meaning, name)  # the full path: for the admin
    database = Path(database).name
    return StorageError(f"{meaning}: database {database} ({name}); nothing was applied", error, state,
                        database, retry)


def busy(database: str, waited: float) -> StorageError:
    """The write lock stayed taken (by another process, or by a write waiting for it) too long."""
    database = Path(database).name
    return StorageError(f"another process holds the write lock of database {database}; waited {waited:.1f} s, "
                        "nothing was applied", "storage_busy", "busy", database, 2)


@dataclass(frozen=True)
class Fault:
    """One spell of failing storage: from its first failure to the first success after it."""

    state: str  # full | busy | error
    code: str
    message: str
    since: datetime
    last: datetime
    failures: int = 1
    ended: datetime | None = None  # None: it is not over (a damaged file), only told
    reported: bool = False


class StorageState:
    """What /health says about the database, kept in memory; thread-safe."""

    def __init__(self, database: str, now: Callable[[], datetime] | None = None) -> None:
        self.database = Path(database).name  # /health is public: the file's name, not where it lives
        self.now = now or (lambda: datetime.now().astimezone())
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._since = self.now()

    def use_clock(self, now: Callable[[], datetime]) -> None:
        """Stamp on the hall's clock from now on (its zone, not the machine's), the start included."""
        with self._lock:
            self.now = now
            if self._fault is None:
                self._since = now()

    @property
    def ok(self) -> bool:
        return self._fault is None

    @property
    def fault(self) -> Fault | None:
        return self._fault

    def failed(self, err: StorageError) -> None:
        with self._lock:
            now = self.now()
            f = self._fault
            if f is not None and f.code == err.code:
                self._fault = replace(f, message=err.message, last=now, failures=f.failures + 1)
            else:
                self._fault = Fault(err.state, err.code, err.message, now, now)
                self._since = now

    def succeeded(self) -> Fault | None:
        """A write went through: the fault (if there was one) is over; returns it, ended, to be told.
        A damaged file is not over (only a restore ends it): it is returned once, not ended, so it
        can be told now that a write works."""
        if self._fault is None:  # the common case, without taking the lock
            return None
        with self._lock:
            f = self._fault
            if f is None:
                return None
            if f.code in STICKY:
                if f.reported:
                    return None
                self._fault = replace(f, reported=True)
                return self._fault
            self._fault = None
            self._since = self.now()
            return replace(f, ended=self._since)

    def view(self) -> dict:
        with self._lock:
            f = self._fault
            out = {"state": f.state if f else "ok", "since": self._since.isoformat(),
                   "database": self.database}
            if f is not None:
                out.update(code=f.code, message=f.message, failures=f.failures, last_failure=f.last.isoformat())
            return out
