"""The SQLite store: current state tables plus an append-only event log, one transaction per change.

Every engine action ends in `Store.commit(changes)`: its row upserts and its event rows are written
in one `BEGIN IMMEDIATE … COMMIT`, with WAL and `synchronous=FULL`, so a ticket the API acknowledged
survives SIGKILL or power loss, and a half-done change is never visible.

sqlite-utils builds the schema and serves queries; writes inside a transaction use plain SQL,
because sqlite-utils' own insert/upsert commit by themselves and would split our transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from . import migrations


@dataclass
class Changes:
    """What one engine action writes: rows to upsert (table, row) and events to append."""

    rows: list[tuple[str, dict]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def put(self, table: str, row: dict) -> None:
        self.rows.append((table, row))

    def event(self, **event: Any) -> None:
        self.events.append(event)


EVENT_COLUMNS = ("ts", "type", "actor", "window", "ticket_id", "ticket_code", "service", "data")


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._listeners: list[Callable[[list[dict]], None]] = []
        migrations.migrate(self.db)

    # -- writing ---------------------------------------------------------------------------

    def commit(self, changes: Changes) -> list[dict]:
        """Write all rows and events atomically; returns the events with their ids."""
        with self._lock:
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table, row in changes.rows:
                    cols = list(row)
                    conn.execute(
                        f"INSERT OR REPLACE INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
                        f"VALUES ({', '.join('?' for _ in cols)})",
                        [_sql_value(row[c]) for c in cols],
                    )
                written = []
                for ev in changes.events:
                    row = {c: ev.get(c) for c in EVENT_COLUMNS}
                    row["data"] = json.dumps(ev.get("data") or {}, ensure_ascii=False, default=str)
                    cur = conn.execute(
                        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})",
                        [_sql_value(row[c]) for c in EVENT_COLUMNS],
                    )
                    written.append({"id": cur.lastrowid, **row, "data": ev.get("data") or {}})
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        for listener in list(self._listeners):
            listener(written)
        return written

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement as its own transaction, for a conditional UPDATE that the upserts of
        `commit` cannot express (no events, no listeners); the number of rows it changed."""
        with self._lock:
            return self.db.conn.execute(sql, list(params)).rowcount

    def next_number(self, prefix: str, day: str) -> int:
        """The number the next ticket of `prefix` would get today (read only; commit bumps it)."""
        row = self.db.execute("SELECT last FROM counters WHERE prefix = ? AND day = ?", [prefix, day]).fetchone()
        return (row[0] if row else 0) + 1

    def subscribe(self, listener: Callable[[list[dict]], None]) -> None:
        """Called after every commit with the new events (the live event stream hangs off this)."""
        self._listeners.append(listener)

    # -- reading ---------------------------------------------------------------------------

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.db.execute(sql, list(params)).fetchall()]

    def events_after(self, last_id: int, limit: int = 500) -> list[dict]:
        rows = self.rows("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", [last_id, limit])
        for r in rows:
            r["data"] = json.loads(r["data"] or "{}")
        return rows

    def last_event_id(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        return int(row[0])

    def iter_table(self, table: str, where: str = "", params: Iterable[Any] = ()) -> Iterator[dict]:
        sql = f"SELECT * FROM [{table}]" + (f" WHERE {where}" if where else "")
        yield from self.rows(sql, params)

    def close(self) -> None:
        self.db.conn.close()


def _sql_value(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return int(value)
    return value
