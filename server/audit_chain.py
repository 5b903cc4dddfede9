"""Tamper-evident record (issue #16 point 5): every 好差评 record chained with SM3 — ratings, 差评
case steps, 申诉复核 appeals, the 办件编号 attached to services — and the event log.

Every row written to a chained table gets a link in `audit_chain`, in the same transaction:
    link = SM3(previous link | seq | table | row id | SM3(canonical row))
The canonical row is its stored columns without NULLs, as sorted JSON (so a migration that adds a
column leaves old digests valid; a migration that rewrites values must re-link the rows it
changes). A row written again (an upsert) gets a new link; the newest one is what the row must
match. `verify` walks the chain and the tables: an edited, deleted or smuggled-in row, an edited
or removed link, or events cut from the end of the log are each named (file, table, row, what).

Retention (`hall.records_retention_months`, at least 6: 网络安全法 art. 21): `purge` removes the
chain's oldest links and the rows they cover, and keeps an anchor (through which seq, that link),
from which the rest still verifies; the purge is itself an event, so the anchor is chained too and
shipped to the county, which holds a copy outside the hall.

SM3 is OpenSSL's (hashlib "sm3", GB/T 32905-2016): the implementation every Debian ships and keeps
patched, in C; gmssl (pure Python, 10x–100x slower on the commit path) would add nothing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# table -> the column that dates a row (for retention)
CHAINED = {"events": "ts", "ratings": "rated_at", "case_steps": "at", "appeals": "filed_at",
           "case_numbers": "attached_at"}
GENESIS = "0" * 64
MIN_RETENTION_MONTHS = 6


def sm3(data: bytes) -> str:
    return hashlib.new("sm3", data).hexdigest()


def canonical(row: dict) -> bytes:
    return json.dumps({k: v for k, v in row.items() if v is not None}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), default=str).encode("utf-8")


def digest(row: dict) -> str:
    return sm3(canonical(row))


def next_link(prev: str, seq: int, table: str, row_id: int, row_digest: str) -> str:
    return sm3(f"{prev}|{seq}|{table}|{row_id}|{row_digest}".encode())


def create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("""CREATE TABLE audit_chain (
        seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, row_id INTEGER NOT NULL, digest TEXT NOT NULL,
        link TEXT NOT NULL)""")
    conn.execute("CREATE INDEX idx_audit_chain_row ON audit_chain (tbl, row_id)")
    conn.execute("""CREATE TABLE audit_anchors (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, cutoff TEXT NOT NULL, through_seq INTEGER NOT NULL,
        link TEXT NOT NULL, purged TEXT NOT NULL)""")
    _guard(conn)


def _guard(conn: sqlite3.Connection) -> None:
    for what in ("UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER audit_chain_no_{what.lower()} BEFORE {what} ON audit_chain "
                     "BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END")


class Linker:
    """Appends links inside one open transaction (Store._transaction); reads the head once."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        row = conn.execute("SELECT seq, link FROM audit_chain ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            anchor = conn.execute("SELECT through_seq, link FROM audit_anchors ORDER BY id DESC LIMIT 1").fetchone()
            row = anchor if anchor is not None else (0, GENESIS)
        self.seq, self.link = int(row[0]), row[1]

    def add(self, table: str, row_id: int, row: dict) -> None:
        self.seq += 1
        d = digest(row)
        self.link = next_link(self.link, self.seq, table, row_id, d)
        self.conn.execute("INSERT INTO audit_chain (seq, tbl, row_id, digest, link) VALUES (?, ?, ?, ?, ?)",
                          [self.seq, table, row_id, d, self.link])

    def add_stored(self, table: str, rowid: int) -> None:
        """Link a row as SQLite now holds it (an upsert may have filled columns the caller did not name)."""
        cur = self.conn.execute(f"SELECT * FROM [{table}] WHERE rowid = ?", [rowid])
        names = [c[0] for c in cur.description]
        values = cur.fetchone()
        self.add(table, rowid, dict(zip(names, values, strict=True)))


def _rows(conn: sqlite3.Connection, table: str):
    cur = conn.execute(f"SELECT rowid AS _rowid_, * FROM [{table}] ORDER BY rowid")
    names = [c[0] for c in cur.description]
    for values in cur:
        row = dict(zip(names, values, strict=True))
        yield row.pop("_rowid_"), row


def link_all(conn: sqlite3.Connection, tables: tuple[str, ...] | None = None) -> int:
    """Chain every existing row of `tables` (default: all chained ones), oldest first across them
    (migration 13's genesis; migration 17 for the tables chained since), so that retention can
    later cut the chain at a date; the links written."""
    items = []
    for table, column in CHAINED.items():
        if tables is not None and table not in tables:
            continue
        for rowid, row in _rows(conn, table):
            items.append((_when(row.get(column)), table, rowid, row))
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    linker = Linker(conn)
    for _, table, rowid, row in items:
        linker.add(table, rowid, row)
    return len(items)


def _when(text: str | None) -> datetime:
    try:
        value = datetime.fromisoformat(text) if text else datetime.min
    except ValueError:
        value = datetime.min
    return value if value.tzinfo is None else value.replace(tzinfo=None) - value.utcoffset()


@dataclass(frozen=True)
class Problem:
    file: str
    table: str
    row: int | None
    what: str

    def __str__(self) -> str:
        where = f"{self.table} row {self.row}" if self.row is not None else self.table
        return f"{self.file}: {where}: {self.what}"


def verify(path: str | Path, conn: sqlite3.Connection | None = None) -> list[Problem]:
    """Every break in the chain and every chained row that does not match it; [] when intact."""
    own = conn is None
    if conn is None:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        if conn.in_transaction:
            return _verify(str(path), conn)
        conn.execute("BEGIN")  # one snapshot: a hall writing meanwhile is not a break
        try:
            return _verify(str(path), conn)
        finally:
            conn.execute("ROLLBACK")
    finally:
        if own:
            conn.close()


def _verify(file: str, conn: sqlite3.Connection) -> list[Problem]:
    out: list[Problem] = []
    anchor = conn.execute("SELECT through_seq, link FROM audit_anchors ORDER BY id DESC LIMIT 1").fetchone()
    seq, prev = (int(anchor[0]), anchor[1]) if anchor else (0, GENESIS)
    latest: dict[tuple[str, int], tuple[int, str]] = {}
    for s, table, row_id, d, link in conn.execute("SELECT seq, tbl, row_id, digest, link FROM audit_chain ORDER BY seq"):
        if s != seq + 1:
            out.append(Problem(file, "audit_chain", seq + 1, f"links {seq + 1}..{s - 1} are missing (deleted)"))
        elif next_link(prev, s, table, row_id, d) != link:
            out.append(Problem(file, "audit_chain", s, "link does not follow from the one before (chain edited)"))
        seq, prev = s, link
        latest[(table, row_id)] = (s, d)
    for table in CHAINED:
        for rowid, row in _rows(conn, table):
            found = latest.pop((table, rowid), None)
            if found is None:
                out.append(Problem(file, table, rowid, "row is not in the chain (written behind hallq's back)"))
            elif digest(row) != found[1]:
                out.append(Problem(file, table, rowid, f"row differs from what chain link {found[0]} sealed (edited)"))
    for (table, rowid), (s, _) in sorted(latest.items(), key=lambda x: x[1][0]):
        out.append(Problem(file, table, rowid, f"row sealed by chain link {s} is gone (deleted)"))
    top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    last = conn.execute("SELECT MAX(row_id) FROM audit_chain WHERE tbl = 'events'").fetchone()[0]
    if top is not None and top[0] and (last or 0) < top[0]:
        out.append(Problem(file, "events", top[0], f"events {(last or 0) + 1}..{top[0]} were cut from the end of the log"))
    return out


def purge(conn: sqlite3.Connection, cutoff: datetime, now: datetime) -> dict:
    """Remove the chained rows older than `cutoff` (and the links covering them) from the chain's
    start up to the first link still to be kept; leave an anchor and an `audit.purged` event (both
    chained). One transaction; refuses on a chain that does not verify (evidence is not purged)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = _purge(conn, cutoff, now)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return out


def _purge(conn: sqlite3.Connection, cutoff: datetime, now: datetime) -> dict:
    problems = _verify("database", conn)
    if problems:
        raise ValueError(f"the chain does not verify ({problems[0]}); nothing purged")
    limit = _when(cutoff.isoformat())
    latest = dict(conn.execute("SELECT tbl || ':' || row_id, MAX(seq) FROM audit_chain GROUP BY tbl, row_id").fetchall())
    through, link = None, None
    doomed: dict[str, list[int]] = {t: [] for t in CHAINED}
    for s, table, row_id, lk in conn.execute("SELECT seq, tbl, row_id, link FROM audit_chain ORDER BY seq").fetchall():
        if latest[f"{table}:{row_id}"] != s:  # superseded by a later link of the same row
            through, link = s, lk
            continue
        when = conn.execute(f"SELECT [{CHAINED[table]}] FROM [{table}] WHERE rowid = ?", [row_id]).fetchone()
        if _when(when[0] if when else None) >= limit:
            break
        doomed[table].append(row_id)
        through, link = s, lk
    counts = {t: len(ids) for t, ids in doomed.items()}
    if through is None:
        return {"through_seq": None, "purged": counts}
    conn.execute("DROP TRIGGER audit_chain_no_delete")
    conn.execute("DROP TRIGGER events_no_delete")
    for table, ids in doomed.items():
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            conn.execute(f"DELETE FROM [{table}] WHERE rowid IN ({','.join('?' * len(chunk))})", chunk)
    conn.execute("DELETE FROM audit_chain WHERE seq <= ?", [through])
    conn.execute("INSERT INTO audit_anchors (at, cutoff, through_seq, link, purged) VALUES (?, ?, ?, ?, ?)",
                 [now.isoformat(), cutoff.isoformat(), through, link, json.dumps(counts)])
    conn.execute("CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
                 "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END")
    conn.execute("CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain "
                 "BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END")
    data = {"cutoff": cutoff.isoformat(), "through_seq": through, "link": link, "purged": counts}
    cur = conn.execute("INSERT INTO events (ts, type, actor, data) VALUES (?, 'audit.purged', 'system', ?)",
                       [now.isoformat(), json.dumps(data, ensure_ascii=False)])
    Linker(conn).add_stored("events", cur.lastrowid)
    return data
