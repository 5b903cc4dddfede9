"""Daily reconciliation: counts per day, hall and kind in hallq vs on the platform, with the
records that differ (in hallq only: not yet accepted or rejected — with the outbox's reason;
on the platform only: not from this hall's log)."""

from __future__ import annotations

import http.client
import json
import sqlite3
import urllib.parse
from pathlib import Path

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


def platform_side(url: str, day: str) -> dict:
    base = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(base.netloc, timeout=30)
    try:
        conn.request("GET", base.path.rstrip("/") + "/counts?" + urllib.parse.urlencode({"day": day}))
        resp = conn.getresponse()
        return json.loads(resp.read())
    finally:
        conn.close()


def reconcile(hall_db: str | Path, hall: str, day: str, url: str,
              outbox: str | Path | None = None) -> dict:
    ours = hallq_side(hall_db, hall, day)
    theirs = platform_side(url, day)
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
    return {"rows": rows, "missing_on_platform": missing, "only_on_platform": extra,
            "matches": not missing and not extra and all(r["hallq"] == r["platform"] for r in rows)}
