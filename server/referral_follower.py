"""The hall's side of cross-level referral with the county (a thread of `hallq serve` with
`[county]`, the shipper's token): hall-initiated, like the catalogue follower — the county never
calls a hall.

One round: send the referrals this hall made that the county has not confirmed; take in what
became of ours (booked with the appointment code, refused, an outcome); book the citizens referred
to us; log the outcome of those appointments; report every step the county has not confirmed.
Every county call is idempotent (county/referrals.py), so a round cut short is simply run again.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request

from . import referrals
from .errors import HallqError

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # a citizen waits at the window for the code: seconds, not the catalogue's 30
REQUEST_TIMEOUT = 15.0


class ReferralFollower:
    def __init__(self, app, url: str, token: str, poll: float = POLL_SECONDS) -> None:
        self.app = app
        self.url = url.rstrip("/") + "/api/v1"
        self.token = token
        self.poll = poll
        self.state = "starting"  # following | offline
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
            return json.load(resp)

    def step(self) -> None:
        engine = self.app.config["ENGINE"]
        for row in referrals.rows(engine, "direction = 'out' AND synced IS NULL"):
            body = {"id": row["id"], "matter": row["matter"], "phone": row["phone"], "sms": bool(row["sms"]),
                    "materials": row["materials"], "id_number": row["id_number"]}
            referrals.sent(engine, row, self._call("POST", "/referrals", body))
        ours = {r["id"]: r for r in referrals.rows(engine, "direction = 'out'")}
        for county in self._call("GET", "/referrals/outgoing")["referrals"]:
            row = ours.get(county["id"])
            if row is None:
                continue
            if county["state"] != row["state"]:
                referrals.took_in(engine, row, county)
            self._call("POST", f"/referrals/{urllib.parse.quote(county['id'])}/seen", {"state": county["state"]})
        taken = {(r["from_hall"], r["id"]) for r in referrals.rows(engine, "direction = 'in'")}
        for county in self._call("GET", "/referrals/incoming")["referrals"]:
            if (county["from_hall"], county["id"]) not in taken:
                referrals.book(engine, county)
        referrals.close_outcomes(engine)
        for row in referrals.rows(engine, "direction = 'in' AND synced IS NOT state"):
            body = {"step": row["state"], "reason": row["reason"]}
            if row["state"] == "booked":
                body.update(appointment=row["appointment"], slot_start=row["slot_start"])
            path = f"/referrals/{urllib.parse.quote(row['from_hall'])}/{urllib.parse.quote(row['id'])}/step"
            try:
                self._call("POST", path, body)
            except urllib.error.HTTPError as exc:
                if exc.code != 409:  # 409: the county is past this step already (told in a cut-short round)
                    raise
            engine.record_referral({**row, "synced": row["state"]}, None)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                if self.error is not None:
                    log.info("referrals: following the county again")
                self.state, self.error = "following", None
            except (OSError, ValueError, KeyError, HallqError) as exc:  # urllib's HTTPError is an OSError
                if str(exc) != self.error:
                    log.warning("referrals: %s; retrying by itself", exc)
                self.state, self.error = "offline", str(exc)
            self._stop.wait(self.poll)

    def start(self) -> ReferralFollower:
        self._thread = threading.Thread(target=self.run, name="county-referrals", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT + 5)
