"""The hall's side of 差评 cases kept by the county (a thread of `hallq serve` with `[county]`, the
shipper's token): hall-initiated, like the referral follower — the county never calls a hall.

One round: tell the county who owns this hall's cases ([county] cases) and the number of the last
county step applied here, and take the steps after it; apply each through the hall's own case book
(the same rules), its number written in the step's commit, so a round cut short anywhere is simply
run again and no step is applied twice. A step the hall refuses (its case was stepped here before
the county took the cases over) is logged and passed over, so it cannot hold up the steps after it.
"""

from __future__ import annotations

import logging

from .cases import COUNTY_ACTOR, COUNTY_STEP_MARK
from .county_poller import CountyPoller
from .errors import HallqError
from .store import Changes

log = logging.getLogger(__name__)

POLL_SECONDS = 10.0


class CaseFollower(CountyPoller):
    name = "cases"
    poll_seconds = POLL_SECONDS

    def step(self) -> int:
        """One round; returns how many county steps were applied."""
        book = self.app.config["CASES"]
        owner = "county" if book.county_owned() else "hall"
        steps = self.call("GET", f"/cases/steps?after={book.county_mark()}&owner={owner}")["steps"]
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


