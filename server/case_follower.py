"""The hall's side of 差评 cases kept by the county (a thread of `hallq serve` with `[county]`, the
shipper's token): hall-initiated, like the referral follower — the county never calls a hall.

One round: tell the county who owns this hall's cases ([county] cases) and the number of the last
county step applied here, and take the steps after it; apply each through the hall's own case book
(the same rules), its number written in the step's commit, so a round cut short anywhere is simply
run again and no step is applied twice. A step the hall refuses (its case was stepped here before
the county took the cases over) is logged and passed over, so it cannot hold up the steps after it.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

from .cases import COUNTY_ACTOR, COUNTY_STEP_MARK
from .errors import HallqError
from .store import Changes

log = logging.getLogger(__name__)

POLL_SECONDS = 10.0
REQUEST_TIMEOUT = 15.0


class CaseFollower:
    def __init__(self, app, url: str, token: str, poll: float = POLL_SECONDS) -> None:
        self.app = app
        self.url = url.rstrip("/") + "/api/v1"
        self.token = token
        self.poll = poll
        self.state = "starting"  # following | offline
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> int:
        """One round; returns how many county steps were applied."""
        book = self.app.config["CASES"]
        owner = "county" if book.county_owned() else "hall"
        req = urllib.request.Request(f"{self.url}/cases/steps?after={book.county_mark()}&owner={owner}",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
            steps = json.load(resp)["steps"]
        applied = 0
        for s in steps if owner == "county" else []:
            try:
                book.act(s["case_id"], s["action"], COUNTY_ACTOR + s["by"], s["note"], contact=s["contact"],
                         answer=s["answer"], county_step=s["id"])
                applied += 1
            except HallqError as exc:
                log.warning("cases: the county's step %s on case %s not applied here: %s", s["id"], s["case_id"], exc)
                ch = Changes()
                ch.put("settings", {"key": COUNTY_STEP_MARK, "value": str(s["id"])})
                book.store.commit(ch)
        return applied

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                if self.error is not None:
                    log.info("cases: following the county again")
                self.state, self.error = "following", None
            except (OSError, ValueError, KeyError, HallqError) as exc:  # urllib's HTTPError is an OSError
                if str(exc) != self.error:
                    log.warning("cases: %s; retrying by itself", exc)
                self.state, self.error = "offline", str(exc)
            self._stop.wait(self.poll)

    def start(self) -> CaseFollower:
        self._thread = threading.Thread(target=self.run, name="county-cases", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT + 5)
