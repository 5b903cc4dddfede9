"""Records the provincial platform refused (a 4xx other than a duplicate): kept in the forwarder's
outbox with its reason and never resent by itself. `hallq province rejected` lists them and
`hallq province resend ID|--all` puts them back to pending once the cause is fixed (the
forwarder of `hallq serve` then sends them on its next round, and its 省平台退回记录 alert clears
once none is left, server/province_link.py) — no SQL on the outbox needed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class OutboxError(Exception):
    """A refusal for the command line: what is wrong, naming the file or the record."""


def listing(out: sqlite3.Connection) -> list[dict]:
    """The rejected records, oldest event first: id, day, kind, reason, attempts."""
    return [dict(r) for r in out.execute(
        "SELECT id, day, kind, reason, attempts FROM records WHERE state = 'rejected' ORDER BY event_id")]


def resend(out: sqlite3.Connection, ids: list[str] | None) -> list[str]:
    """Put rejected records (`ids`, or all with None) back to pending, due at once; their ids. An id
    that is not a rejected record is refused by name and nothing is changed."""
    out.execute("BEGIN IMMEDIATE")
    try:
        if ids is None:
            chosen = [r[0] for r in out.execute("SELECT id FROM records WHERE state = 'rejected' ORDER BY event_id")]
        else:
            chosen = list(dict.fromkeys(ids))
            for record in chosen:
                row = out.execute("SELECT state FROM records WHERE id = ?", (record,)).fetchone()
                if row is None:
                    raise OutboxError(f"{record}: no such record in the outbox")
                if row[0] != "rejected":
                    raise OutboxError(f"{record}: not rejected (it is {row[0]})")
        out.executemany("UPDATE records SET state = 'pending', next_at = 0, reason = NULL, error = NULL "
                        "WHERE id = ? AND state = 'rejected'", [(r,) for r in chosen])
        out.execute("COMMIT")
    except BaseException:
        out.execute("ROLLBACK")
        raise
    return chosen


def open_outbox(path: str | Path) -> sqlite3.Connection:
    """An existing outbox (never a new empty one: a wrong path is an error, not an empty list)."""
    path = Path(path)
    if not path.is_file():
        raise OutboxError(f"{path}: no such outbox (give --outbox, or --db for the one beside the hall's database)")
    try:
        out = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, timeout=10)
        out.row_factory = sqlite3.Row
        out.execute("SELECT 1 FROM records LIMIT 1")
    except sqlite3.Error as exc:
        raise OutboxError(f"{path}: not a province outbox ({exc})") from None
    return out
