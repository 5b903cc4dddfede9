"""`hallq county rebase HALL`: the county's admin resolves a hall whose log diverged (county/ingest.py).

A hall restored from a backup lost its events after the backup and numbers its new ones from there;
the county holds the lost ones under the same ids. The hall's shipper finds the last event both
share (by SM3 link, county/ingest.py compare) and the county records it; the rebase then, in one
transaction under the hall's row lock: moves the county's events of that hall after it into
`archived_events` (kept, never deleted: they are real events the hall itself no longer has, and no
figure counts them), sets the mark there, replays the figures of the days those events touched and
the hall's live state from the events kept, clears the divergence and records who did it
(`rebases`). The hall's shipper, retrying by itself, then ships its new history from the mark.
"""

from __future__ import annotations

from psycopg.types.json import Jsonb

from server.errors import Conflict, Invalid, NotFound

from . import live, rollup
from .db import Database
from .figures import COUNTED

ARCHIVED = ("hall", "event_id", "day", "ts", "received_at", "type", "actor", "window_number", "ticket", "ticket_code",
            "service", "data", "link")


def rebase(db: Database, hall: str, by: str, to: int | None = None) -> dict:
    """Rebase `hall` onto its last common event (`to`, default the one its shipper reported)."""
    if not by or len(by) > 200:
        raise Invalid("who rebases, 1-200 characters", field="by")
    with db.connection() as conn:
        row = conn.execute("SELECT high_water, diverged FROM halls WHERE code = %s FOR UPDATE", [hall]).fetchone()
        if row is None:
            raise NotFound(f"hall {hall} is not registered", field="hall")
        mark, diverged = int(row[0]), row[1]
        if to is None:
            if diverged is None:
                raise Conflict(f"hall {hall}'s log agrees with the county's: nothing to rebase "
                               "(--to ID rebases onto an event of your choice)", field="hall", code="not_diverged")
            if diverged.get("common") is None:
                raise Conflict(f"hall {hall} has not reported its last common event yet: is its shipper running "
                               "(it does so by itself within a minute)? Or give --to ID", field="to", code="no_common")
            to = int(diverged["common"])
        if not 0 <= to <= mark:
            raise Invalid(f"--to must lie in 0..{mark} (the county's mark for {hall})", field="to")
        rid = conn.execute("INSERT INTO rebases (hall, common, old_high_water, archived, diverged, by) "
                           "VALUES (%s, %s, %s, 0, %s, %s) RETURNING id",
                           [hall, to, mark, Jsonb(diverged) if diverged is not None else None, by]).fetchone()[0]
        cols = ", ".join(ARCHIVED)
        moved = conn.execute(
            f"WITH gone AS (DELETE FROM events WHERE hall = %s AND event_id > %s RETURNING {cols}) "
            f"INSERT INTO archived_events (rebase, {cols}) SELECT %s, {cols} FROM gone RETURNING day, type, data",
            [hall, to, rid]).fetchall()
        days = {d for d, kind, _ in moved if kind in COUNTED} | rollup.appeal_days(
            [{"type": kind, "data": data} for _, kind, data in moved])
        rollup.refresh(conn, hall, days)
        _replay_live(conn, hall)
        last = conn.execute("SELECT ts FROM events WHERE hall = %s AND event_id = %s", [hall, to]).fetchone()
        conn.execute("UPDATE halls SET high_water = %s, diverged = NULL, last_event_ts = %s WHERE code = %s",
                     [to, last[0] if last else None, hall])
        conn.execute("UPDATE rebases SET archived = %s WHERE id = %s", [len(moved), rid])
        conn.execute("INSERT INTO ingests (hall, after_id, high_water, applied, skipped) VALUES (%s, %s, %s, 0, 0)",
                     [hall, mark, to])
    return {"rebase": rid, "hall": hall, "common": to, "old_high_water": mark, "archived": len(moved),
            "days_recomputed": sorted(d.isoformat() for d in days), "by": by}


def _replay_live(conn, hall: str) -> None:
    """The hall's live state folded again from the events the county keeps (a server-side cursor)."""
    state = live.empty()
    with conn.cursor(name="rebase_live") as cur:
        cur.itersize = 2000
        cur.execute("SELECT type, ts, window_number, ticket, service, data FROM events WHERE hall = %s "
                    "ORDER BY event_id", [hall])
        for kind, ts, window, ticket, service, data in cur:
            state = live.fold(state, {"type": kind, "ts": ts, "window": window, "ticket": ticket, "service": service,
                                      "data": data})
    conn.execute("INSERT INTO hall_live (hall, state, summary, updated_at) VALUES (%s, %s, %s, now()) "
                 "ON CONFLICT (hall) DO UPDATE SET state = EXCLUDED.state, summary = EXCLUDED.summary, "
                 "updated_at = now()", [hall, Jsonb(state), Jsonb(live.digest(state))])
