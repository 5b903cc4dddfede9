"""The county's PostgreSQL: connections for request threads, and the versioned schema.

psycopg 3, one small pool of our own (a connection per concurrent request, kept for the next one; a
connection that failed is dropped, so a restarted PostgreSQL is simply reconnected to).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from . import migrations

CONNECT_TIMEOUT = 5  # seconds: a county that cannot reach its database answers 503 soon


def _has_spoken(conn: psycopg.Connection) -> bool:
    """Whether an idle pooled connection has something to read: PostgreSQL said goodbye (a restart
    or pg_terminate_backend sends FATAL 57P01, then closes). Such a connection is not reused: every
    kept one used to fail its next request, eight 503s after PostgreSQL was back. No round trip."""
    try:
        return bool(select.select([conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


class Database:
    def __init__(self, url: str, keep: int = 8) -> None:
        self.url = url
        self.keep = keep
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection inside one transaction: committed when the block ends, rolled back on error."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None and not conn.closed and _has_spoken(conn):
            conn.close()
        if conn is None or conn.closed:
            conn = self._connect()
        try:
            with conn.transaction():
                yield conn
        except BaseException:
            if conn.closed or conn.broken:
                raise
            self._give_back(conn)
            raise
        self._give_back(conn)

    def _give_back(self, conn: psycopg.Connection) -> None:
        with self._lock:
            if len(self._idle) < self.keep and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    def migrate(self) -> int:
        with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as conn:
            return migrations.migrate(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
