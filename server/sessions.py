"""Web sign-ins kept on the server, so they can end before their cookie does.

Flask's session cookie is signed, not stored: a copied cookie would keep working for its whole
lifetime whatever happens on the server. So a sign-in gets a random session id, kept in the signed
cookie and in the `sessions` table, and every request checks it here. It ends when the user signs
out, when their password is changed or reset or the user is disabled (every session of theirs,
server/users.py; also from `hallq user` in another process), after the role's idle minutes
(`[sessions]` in the hall TOML), and 12 hours after sign-in whatever the activity.

The check costs no query: sessions are kept in memory, backed by the table. A session's row is read
again at most every REVALIDATE_SECONDS (so a revocation written by another process lands within
that), and its last-seen time is written at most every PERSIST_SECONDS (so a restart forgets at most
that much activity). `is_active` and `touch` only read and write memory: the event stream calls them
on every heartbeat (an open board counts as activity) and must not wait for the database.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hallq.model import SignInSessions

from .storage_faults import StorageError
from .store import Changes, Store
from .users import User

log = logging.getLogger(__name__)

REVALIDATE_SECONDS = 10.0
PERSIST_SECONDS = 60.0
LIFETIME_SECONDS = 12 * 3600.0


@dataclass
class _Entry:
    id: str
    user: User
    created: float  # epoch seconds
    last_seen: float
    persisted_seen: float  # the last_seen the table holds
    checked: float  # when the row was last read


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def _epoch(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else 0.0


class SessionBook:
    """The hall's web sign-ins; one per app, in app.config["SESSIONS"]. `clock` is wall time in
    epoch seconds (tests move it)."""

    def __init__(self, store: Store, limits: SignInSessions, lifetime_seconds: float = LIFETIME_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limits = limits
        self.lifetime = lifetime_seconds
        self.clock = clock
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- for sign-in, sign-out and auth -----------------------------------------------------

    def open(self, user: User, address: str = "") -> str:
        """A new session for a user who has just given the right password; its id for the cookie."""
        now = self.clock()
        sid = secrets.token_urlsafe(32)
        ch = Changes()
        ch.put("sessions", {"id": sid, "username": user.username, "role": user.role, "address": address,
                            "created_at": _iso(now), "last_seen_at": _iso(now), "revoked_at": None,
                            "revoked_reason": None})
        self.store.commit(ch)
        with self._lock:
            self._cache[sid] = _Entry(sid, user, now, now, now, now)
        return sid

    def user(self, sid: str | None) -> User | None:
        """The signed-in user of a live session (and the request counts as activity), else None."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            entry = self._cache.get(sid)
        reloaded = entry is None or now - entry.checked >= REVALIDATE_SECONDS
        if reloaded:
            entry = self._reload(sid, entry, now)
        if entry is None or not self._live(entry, now):
            return None
        entry.last_seen = now
        if reloaded:
            try:
                self._persist(entry)
            except StorageError as exc:  # bookkeeping: a read must not fail for it (the sweep retries)
                log.warning("session last-seen not written: %s", exc)
        return entry.user

    def revoke(self, sid: str | None, reason: str = "signed_out") -> None:
        if not sid:
            return
        with self._lock:
            self._cache.pop(sid, None)
        rows = self.store.rows("SELECT * FROM sessions WHERE id = ? AND revoked_at IS NULL", [sid])
        self._write_revoked(rows, reason)

    # -- for the event stream (memory only) -------------------------------------------------

    def is_active(self, sid: str | None) -> bool:
        """Whether this session may still be used (not ended, not idle, not past its lifetime)."""
        with self._lock:
            entry = self._cache.get(sid or "")
        return entry is not None and self._live(entry, self.clock())

    def touch(self, sid: str | None) -> None:
        """Count activity on a live session that makes no requests (an open event stream)."""
        with self._lock:
            entry = self._cache.get(sid or "")
        # Not for admins: their limit is short because their pages need no live view.
        if entry is not None and entry.user.role != "admin" and self._live(entry, self.clock()):
            entry.last_seen = self.clock()

    # -- keeping memory and table together --------------------------------------------------

    def sweep(self) -> None:
        """Read every cached session's row again, write last-seen times that are due, and drop the
        sessions that ended: what the background thread does every REVALIDATE_SECONDS."""
        now = self.clock()
        with self._lock:
            sids = list(self._cache)
        for sid in sids:
            with self._lock:
                entry = self._cache.get(sid)
            if entry is not None and (entry := self._reload(sid, entry, now)) is not None:
                self._persist(entry)

    def start(self) -> SessionBook:
        def run() -> None:
            while not self._stop.wait(REVALIDATE_SECONDS):
                try:
                    self.sweep()
                except Exception:  # the database is busy or gone: the next sweep tries again
                    pass

        self._thread = threading.Thread(target=run, name="hallq-sessions", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _idle_seconds(self, role: str) -> float:
        return self.limits.idle_minutes(role) * 60.0

    def _live(self, entry: _Entry, now: float) -> bool:
        return (now - entry.last_seen < self._idle_seconds(entry.user.role)
                and now - entry.created < self.lifetime)

    def _reload(self, sid: str, entry: _Entry | None, now: float) -> _Entry | None:
        """Read the session and its user from the table; end it there if it ran out; cache the rest."""
        rows = self.store.rows(
            "SELECT s.*, u.role AS user_role, u.staff, u.window, u.active FROM sessions s "
            "LEFT JOIN users u ON u.username = s.username WHERE s.id = ?", [sid])
        row = rows[0] if rows else None
        if row is None or row["revoked_at"] or not row["active"]:
            with self._lock:
                self._cache.pop(sid, None)
            if row is not None and not row["revoked_at"]:
                self._end_quietly(row, "user_disabled")
            return None
        user = User(row["username"], row["user_role"], row["staff"], row["window"], True)
        seen = max(_epoch(row["last_seen_at"]), entry.last_seen if entry else 0.0)
        fresh = _Entry(sid, user, _epoch(row["created_at"]), seen, _epoch(row["last_seen_at"]), now)
        if not self._live(fresh, now):
            with self._lock:
                self._cache.pop(sid, None)
            self._end_quietly(row, "idle" if now - fresh.created < self.lifetime else "expired")
            return None
        with self._lock:
            if entry is not None and sid not in self._cache:
                return None  # revoked while the row was read
            self._cache[sid] = fresh
        return fresh

    def _persist(self, entry: _Entry) -> None:
        """Write the last-seen time when it is PERSIST_SECONDS ahead of the table's."""
        if entry.last_seen - entry.persisted_seen >= PERSIST_SECONDS:
            # Only on a live row: a revocation written meanwhile (by `hallq user`) must stay.
            self.store.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ? AND revoked_at IS NULL",
                               [_iso(entry.last_seen), entry.id])
            entry.persisted_seen = entry.last_seen

    def _end_quietly(self, row: dict, reason: str) -> None:
        """Record a session that ran out; it has ended in memory already, so a storage fault only
        delays the record (the next look at the row ends it again) and never fails the request."""
        try:
            self._write_revoked([row], reason)
        except StorageError as exc:
            log.warning("ended session not recorded yet: %s", exc)

    def _write_revoked(self, rows: list[dict], reason: str) -> int:
        if rows:
            ch = Changes()
            for row in rows:
                ch.put("sessions", revoked_row(row, reason, self.clock()))
            self.store.commit(ch)
        return len(rows)


SESSION_COLUMNS = ("id", "username", "role", "address", "created_at", "last_seen_at", "revoked_at", "revoked_reason")


def _columns(row: dict) -> dict:
    return {k: row[k] for k in SESSION_COLUMNS}


def live_rows(store: Store, username: str) -> list[dict]:
    return store.rows("SELECT * FROM sessions WHERE username = ? AND revoked_at IS NULL", [username])


def revoked_row(row: dict, reason: str, now: float | None = None) -> dict:
    """A session row as ended now, for `reason` (signed_out, password_changed, user_disabled, idle,
    expired)."""
    return {**_columns(row), "revoked_at": _iso(time.time() if now is None else now), "revoked_reason": reason}
