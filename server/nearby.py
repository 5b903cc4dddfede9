"""附近大厅: the county's wait figures for every centre, kept by the hall so its kiosks (which talk
only to their own hall) can show a citizen where else the matter is done and how long the queue is.

A round on the county poller (server/county_poller.py) takes GET /wait from the county and keeps
the copy in memory and in `settings` (a restarted hall with the link down still has it). The API
(GET /api/v1/nearby) answers the kept copy with its age, marked stale when the last round failed
or the copy is older than a few rounds — never an error: an old figure said to be old is still
what a citizen needs to decide where to go.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

from .county_poller import CountyPoller
from .store import Changes

POLL_SECONDS = 30.0
KEPT_KEY = "county_nearby"  # settings key: the last copy, with when it came on the hall's clock
STALE_ROUNDS = 3  # a copy older than this many rounds (plus the request timeout) is stale


class NearbyFollower(CountyPoller):
    name = "nearby"
    poll_seconds = POLL_SECONDS

    def __init__(self, app, url: str, token: str, poll: float | None = None) -> None:
        super().__init__(app, url, token, poll)
        self._lock = threading.Lock()
        self._copy: dict | None = kept(app.config["ENGINE"].store)
        self._fetched = None if self._copy is None else float("-inf")  # monotonic; a kept copy is old
        app.config["NEARBY"] = self

    def step(self) -> None:
        data = self.call("GET", "/wait")
        now = self.app.config["ENGINE"].now()
        copy = {"fetched_at": now.isoformat(), "caller": data.get("caller"), "halls": [
            {"code": str(h["code"]), "name": str(h["name"]), "link": h["link"],
             "as_of": None if h["heard_seconds_ago"] is None else
             (now - timedelta(seconds=float(h["heard_seconds_ago"]))).isoformat(),
             "waiting": int(h["waiting"]), "windows_open": int(h["windows_open"]),
             "longest_wait_minutes": h["longest_wait_minutes"],
             "services": [{"code": str(s["code"]), "name": str(s["name"]), "waiting": int(s["waiting"]),
                           "estimate_minutes": s["estimate_minutes"]} for s in h["services"]]}
            for h in data["halls"]]}
        with self._lock:
            self._copy, self._fetched = copy, time.monotonic()
        ch = Changes()
        ch.put("settings", {"key": KEPT_KEY, "value": json.dumps(copy, ensure_ascii=False)})
        self.app.config["ENGINE"].store.commit(ch)

    def answer(self) -> dict:
        """The kept copy as GET /api/v1/nearby answers it."""
        with self._lock:
            copy, fetched = self._copy, self._fetched
        old = fetched is None or time.monotonic() - fetched > STALE_ROUNDS * self.poll + 15
        stale = self.state != "following" or old
        if copy is None:
            return {"linked": True, "as_of": None, "age_seconds": None, "stale": True, "halls": []}
        at = datetime.fromisoformat(copy["fetched_at"])
        age = max(0.0, (self.app.config["ENGINE"].now() - at).total_seconds())
        halls = [{**h, "own": h["code"] == copy["caller"]} for h in copy["halls"]]
        return {"linked": True, "as_of": copy["fetched_at"], "age_seconds": round(age, 1), "stale": stale,
                "halls": halls}


def kept(store) -> dict | None:
    rows = store.rows("SELECT value FROM settings WHERE key = ?", [KEPT_KEY])
    return json.loads(rows[0]["value"]) if rows else None


def unlinked() -> dict:
    """A hall without [county]: nothing to show, said plainly."""
    return {"linked": False, "as_of": None, "age_seconds": None, "stale": True, "halls": []}
