"""The per-day figures table, kept inside the ingest transaction: for every (hall, local day) a batch
touches, that day is replayed again from its events by the hall's own rule (server.stats.replay) —
for the whole day and for each matter, department and staff member — and its rows replaced. Reports
then read a few rows per hall-day instead of every event (a 20-hall year in well under 2 s), and a
county figure still equals the hall's own replay exactly: it is the same function over the same
events, recomputed whole, never patched by increments that a resent batch could apply twice.

好评率 counts grades 3–5 of `rating.recorded`, as the hall's reports do (server/reports.py): a
profile's default 基本满意 rating (grade 3) counts as a rating of the service's day (event_day). A
rating an upheld 申诉复核 took out (`appeal.decided`, upheld, naming the rating's `rating_day`) is
left out of every figure of that day, as the hall's `scored_ratings` leaves it out; the ingest
refreshes the rating's day when such a decision arrives (`appeal_days`).

主动评价率 and 未评价率 (`rated_on_site`, `unrated` ÷ `services_done`) are counted by the hall's own
rule (server.rating_record.event_counts) over the day's events with the appealed ratings still in:
an upheld appeal takes a rating out of 好评率, not out of who rated where.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import psycopg

from server.rating_record import event_counts
from server.stats import replay, scored

from .figures import COUNTED

DIMS = ("hall", "service", "department", "staff")
FIGURES = ("issued", "finished", "no_shows", "services_done", "transfers", "waits", "wait_minutes_total",
           "ratings", "good_ratings", "bad_ratings", "cases_opened", "cases_closed", "rated_on_site", "unrated")


def _keys(ev: dict) -> list[tuple[str, str, str]]:
    """(dim, key, name) rows an event counts in."""
    data = ev["data"]
    out = [("hall", "", "")]
    if ev["service"]:
        out.append(("service", ev["service"], data.get("service_name") or ev["service"]))
    if data.get("department"):
        out.append(("department", data["department"], data["department"]))
    if data.get("staff"):
        out.append(("staff", str(data["staff"]), data.get("staff_name") or str(data["staff"])))
    return out


def day_rows(events: list[dict], upheld: set[str] | frozenset[str] = frozenset()) -> list[tuple]:
    """(dim, key, name, *FIGURES) for one hall-day's counted events (in id order); the ratings of the
    `upheld` records count in 主动评价率 / 未评价率 but in no score."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    names: dict[tuple[str, str], str] = {}
    for ev in events:
        for dim, key, name in _keys(ev):
            groups[(dim, key)].append(ev)
            names.setdefault((dim, key), name)
    rows = []
    for (dim, key), group in groups.items():
        kept = scored(group, upheld)
        fig = replay(kept)
        fig["good_ratings"] = sum(1 for e in kept if e["type"] == "rating.recorded" and e["data"].get("grade", 0) >= 3)
        fig.update(event_counts(group))
        rows.append((dim, key, names[(dim, key)], *(fig[f] for f in FIGURES)))
    return rows


def appeal_days(events: list[dict]) -> set[date]:
    """The days whose ratings upheld appeals among `events` (dict form: type, data) take out."""
    out = set()
    for ev in events:
        data = ev["data"]
        if ev["type"] == "appeal.decided" and data.get("upheld") and data.get("rating_day"):
            try:
                out.add(date.fromisoformat(data["rating_day"]))
            except (TypeError, ValueError):
                continue
    return out


def refresh(conn: psycopg.Connection, hall: str, days: set[date]) -> None:
    """Replace the figures rows of `hall` for `days` (inside the caller's transaction)."""
    for day in sorted(days):
        upheld = {str(r) for (r,) in conn.execute(
            "SELECT data->>'record' FROM events WHERE hall = %s AND type = 'appeal.decided' "
            "AND data->>'upheld' = 'true' AND data->>'rating_day' = %s", [hall, day.isoformat()])}
        cur = conn.execute("SELECT type, ticket, service, data FROM events WHERE hall = %s AND day = %s "
                           "AND type = ANY(%s) ORDER BY event_id", [hall, day, list(COUNTED)])
        events = [{"type": t, "ticket_id": tk, "service": s, "data": d} for t, tk, s, d in cur]
        conn.execute("DELETE FROM day_figures WHERE hall = %s AND day = %s", [hall, day])
        rows = day_rows(events, upheld)
        if rows:
            cols = ", ".join(("hall", "day", "dim", "key", "name", *FIGURES))
            with conn.cursor().copy(f"COPY day_figures ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((hall, day, *row))
