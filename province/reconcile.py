"""Daily reconciliation: counts per day, hall and kind in hallq vs on the platform, with the
records that differ (in hallq only: not yet accepted or rejected — with the outbox's reason;
on the platform only: not from this hall's log). `reconcile_county` does it for every hall of a
county from the county server's copy of their logs (`hallq province reconcile --county`)."""

from __future__ import annotations

import http.client
import json
import sqlite3
import urllib.parse
from pathlib import Path

from hallq.peer_http import connection, exchange

from .forwarder import KINDS, record_of


def hallq_side(hall_db: str | Path, hall: str, day: str) -> dict[str, str]:
    """id -> kind of every record hallq owes the platform for `day` (from the hall's own log)."""
    conn = sqlite3.connect(Path(hall_db).resolve().as_uri() + "?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        out = {}
        kinds = ", ".join(f"'{k}'" for k in KINDS)
        for ev in conn.execute(f"SELECT * FROM events WHERE ts >= ? AND ts < ? AND type IN ({kinds}) ORDER BY id",
                               [day, day + "\uffff"]):
            rec = record_of(hall, dict(ev), conn, {})
            if rec is not None:
                out[rec["id"]] = rec["kind"]
        return out
    finally:
        conn.close()


TIMEOUT = 30.0  # seconds for the whole request (a platform trickling its answer fails, not hangs)


class PlatformAnswer(Exception):
    """The platform's counts could not be had (down, slow, an error, not its answer's shape)."""


def platform_side(url: str, day: str, token: str = "") -> dict:
    """The platform's counts and ids for `day` (GET /counts, with the hall's token, https as the
    forwarder speaks it); raises PlatformAnswer naming what went wrong."""
    base = urllib.parse.urlsplit(url)
    conn = connection(base, TIMEOUT)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        status, raw = exchange(conn, "GET", base.path.rstrip("/") + "/counts?" + urllib.parse.urlencode({"day": day}),
                               None, headers, TIMEOUT)
    except (OSError, http.client.HTTPException) as exc:
        raise PlatformAnswer(f"the platform at {url} did not answer: {exc or type(exc).__name__}") from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw) if status == 200 else None
    except ValueError:
        answer = None
    if not (isinstance(answer, dict) and isinstance(answer.get("counts", {}), dict)
            and isinstance(answer.get("ids", {}), dict)):
        raise PlatformAnswer(f"the platform at {url} answered {status} without its counts")
    return answer


def reconcile(hall_db: str | Path, hall: str, day: str, url: str,
              outbox: str | Path | None = None, token: str = "") -> dict:
    return compare(hall, day, hallq_side(hall_db, hall, day), platform_side(url, day, token), outbox)


def county_side(db_url: str, day: str) -> dict[str, dict[str, str]]:
    """hall -> {id: kind} of every record each hall of the county owes the platform for `day`, from
    the events the halls shipped (their own ids and timestamps: the forwarder's record ids and days)."""
    import psycopg

    out: dict[str, dict[str, str]] = {}
    with psycopg.connect(db_url) as conn:
        for (code,) in conn.execute("SELECT code FROM halls ORDER BY code"):
            out[code] = {}
        for hall, event_id, kind in conn.execute(
                "SELECT hall, event_id, type FROM events WHERE left(ts, 10) = %s AND day <= %s AND type = ANY(%s) "
                "ORDER BY hall, event_id", [day, day, list(KINDS)]):
            out.setdefault(hall, {})[f"{hall}-{event_id}"] = KINDS[kind]
    return out


def reconcile_county(db_url: str, day: str, url: str) -> dict:
    """`reconcile` for every hall of the county (halls with nothing that day included: the platform
    may hold records of theirs all the same)."""
    theirs = platform_side(url, day)
    halls = [compare(hall, day, ours, theirs) for hall, ours in county_side(db_url, day).items()]
    return {"day": day, "halls": halls, "matches": all(h["matches"] for h in halls)}


def compare(hall: str, day: str, ours: dict[str, str], theirs: dict, outbox: str | Path | None = None) -> dict:
    counted: dict[str, int] = {}
    for kind in ours.values():
        counted[kind] = counted.get(kind, 0) + 1
    platform_counts = theirs.get("counts", {}).get(hall, {})
    platform_ids = set(theirs.get("ids", {}).get(hall, []))
    reasons = {}
    if outbox is not None and Path(outbox).exists():
        conn = sqlite3.connect(str(outbox))
        reasons = {r[0]: (r[1], r[2] or r[3]) for r in conn.execute("SELECT id, state, reason, error FROM records WHERE day = ?", [day])}
        conn.close()
    kinds = sorted(set(counted) | set(platform_counts))
    rows = [{"day": day, "hall": hall, "kind": k, "hallq": counted.get(k, 0), "platform": platform_counts.get(k, 0)}
            for k in kinds]
    missing = [{"id": i, "kind": ours[i], "outbox": reasons.get(i, ("not collected", None))[0],
                "reason": reasons.get(i, (None, None))[1]} for i in ours if i not in platform_ids]
    extra = sorted(platform_ids - set(ours))
    return {"hall": hall, "rows": rows, "missing_on_platform": missing, "only_on_platform": extra,
            "matches": not missing and not extra and all(r["hallq"] == r["platform"] for r in rows)}
