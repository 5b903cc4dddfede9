"""Monthly partitions of the county's events table, made when a month first appears.

A hall's clock decides the day of its events (server.stats.event_day), so a month can turn up that
nobody planned for (a hall whose clock is a year off): its partition is made then, outside the
ingest transaction (DDL takes a strong lock on the parent table; held only for the CREATE), and under
an advisory lock, so two ingests of the same new month make it once.
"""

from __future__ import annotations

import threading
from datetime import date

import psycopg

from .db import CONNECT_TIMEOUT

LOCK_KEY = 0x68616C6C7170  # "hallqp"


def month_of(day: date) -> date:
    return day.replace(day=1)


def _next(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def name(month: date) -> str:
    return f"events_{month:%Y%m}"


class Partitions:
    """Which months exist (cached; the database is asked again only for a month not seen yet)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._known: set[date] = set()
        self._lock = threading.Lock()

    def ensure(self, months: set[date]) -> None:
        missing = months - self._known
        if not missing:
            return
        with self._lock, psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            try:
                for month in sorted(missing):
                    conn.execute(f"CREATE TABLE IF NOT EXISTS {name(month)} PARTITION OF events "
                                 f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_next(month).isoformat()}')")
                    self._known.add(month)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])

    def existing(self) -> list[str]:
        with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT) as conn:
            rows = conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                "WHERE i.inhparent = 'events'::regclass AND c.relkind = 'r' ORDER BY 1").fetchall()
        return [r[0] for r in rows]
