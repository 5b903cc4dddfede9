"""The notifier's outbox: every message it decided to send, in a SQLite file of its own, so a
restart (or a gateway down for hours) loses none that is still due and sends none twice.

A message's key names what it is for (`near:2026-12-01:A023`, `call:…`, `reminder:…`), and a key
is taken once: at most one 即将到号 and one call message per ticket, one reminder per appointment,
whatever happens. States: due -> sent | dropped (no longer due: the ticket was called or finished,
the citizen opted out) | failed (the gateway refused it for good). Delivery reports are kept with
the sent message. A citizen's TD reply waits here too until the hall has taken it.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, phone TEXT NOT NULL, text TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'due', attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    sent_at TEXT, msg_id TEXT, report TEXT, reason TEXT);
CREATE INDEX IF NOT EXISTS idx_messages_state ON messages (state);
CREATE TABLE IF NOT EXISTS replies (id INTEGER PRIMARY KEY, phone TEXT NOT NULL, text TEXT NOT NULL,
    at TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
"""


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def add(self, key: str, kind: str, phone: str, text: str) -> bool:
        """Queue a message once; False when that key was queued before (in this run or an earlier one)."""
        cur = self._run("INSERT OR IGNORE INTO messages (key, kind, phone, text, created_at) VALUES (?, ?, ?, ?, ?)",
                        (key, kind, phone, text, _now()))
        return cur.rowcount == 1

    def due(self) -> list[dict]:
        return [dict(r) for r in self._run("SELECT * FROM messages WHERE state = 'due' ORDER BY created_at, key")]

    def all(self) -> list[dict]:
        return [dict(r) for r in self._run("SELECT * FROM messages ORDER BY created_at, key")]

    def sent(self, key: str, msg_id: str) -> None:
        self._run("UPDATE messages SET state = 'sent', sent_at = ?, msg_id = ?, attempts = attempts + 1 WHERE key = ?",
                  (_now(), msg_id, key))

    def dropped(self, key: str, reason: str) -> None:
        self._run("UPDATE messages SET state = 'dropped', reason = ? WHERE key = ?", (reason, key))

    def failed(self, key: str, reason: str) -> None:
        self._run("UPDATE messages SET state = 'failed', reason = ?, attempts = attempts + 1 WHERE key = ?",
                  (reason, key))

    def attempted(self, key: str, reason: str) -> None:
        self._run("UPDATE messages SET attempts = attempts + 1, reason = ? WHERE key = ?", (reason, key))

    def report(self, msg_id: str, stat: str) -> bool:
        """A delivery report: matched to the message whose id (or one of a long message's ids) it names;
        False when no sent message has that id (yet)."""
        return self._run("UPDATE messages SET report = ? WHERE msg_id = ? OR ',' || msg_id || ',' LIKE ?",
                  (stat, msg_id, f"%,{msg_id},%")).rowcount > 0

    def reply(self, phone: str, text: str) -> None:
        self._run("INSERT INTO replies (phone, text, at) VALUES (?, ?, ?)", (phone, text, _now()))

    def replies(self) -> list[dict]:
        return [dict(r) for r in self._run("SELECT * FROM replies WHERE done = 0 ORDER BY id")]

    def reply_done(self, reply_id: int) -> None:
        self._run("UPDATE replies SET done = 1 WHERE id = ?", (reply_id,))


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")
