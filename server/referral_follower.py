"""The hall's side of cross-level referral with the county (a thread of `hallq serve` with
`[county]`, the shipper's token): hall-initiated, like the catalogue follower — the county never
calls a hall.

One round: send the referrals this hall made that the county has not confirmed; take in what
became of ours (booked with the appointment code, refused, an outcome); book the citizens referred
to us; log the outcome of those appointments; report every step the county has not confirmed.
Every county call is idempotent (county/referrals.py), so a round cut short is simply run again.
A referral or step the county refuses for good (400/422 naming a field) does not hold up the ones
after it: a referral of ours becomes 未能受理 with the county's reason, a step is logged.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse

from . import referrals
from .county_poller import CountyPoller
from .privacy import mask_id_number

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # a citizen waits at the window for the code: seconds, not the catalogue's 30


class ReferralFollower(CountyPoller):
    name = "referrals"
    poll_seconds = POLL_SECONDS

    def step(self) -> None:
        engine = self.app.config["ENGINE"]
        for row in referrals.rows(engine, "direction = 'out' AND synced IS NULL"):
            body = {"id": row["id"], "matter": row["matter"], "phone": row["phone"], "sms": bool(row["sms"]),
                    "materials": row["materials"], "id_number": row["id_number"]}
            try:
                referrals.sent(engine, row, self.call("POST", "/referrals", body))
            except urllib.error.HTTPError as exc:
                if (message := self.refused(exc)) is None:
                    raise
                # refused for good: 未能受理 with the county's reason, for the clerk, not resent — and
                # not in the way of the referrals after it
                log.warning("referrals: the county refused referral %s: %s", row["id"], message)
                masked = mask_id_number(row["id_number"]) if row["id_number"] else None
                referrals.took_in(engine, {**row, "id_number": masked}, {"state": "refused", "reason": f"县级平台拒收：{message}"})
        ours = {r["id"]: r for r in referrals.rows(engine, "direction = 'out'")}
        for county in self.call("GET", "/referrals/outgoing")["referrals"]:
            row = ours.get(county["id"])
            if row is None:
                continue
            if county["state"] != row["state"]:
                referrals.took_in(engine, row, county)
            self.call("POST", f"/referrals/{urllib.parse.quote(county['id'])}/seen", {"state": county["state"]})
        taken = {(r["from_hall"], r["id"]) for r in referrals.rows(engine, "direction = 'in'")}
        for county in self.call("GET", "/referrals/incoming")["referrals"]:
            if (county["from_hall"], county["id"]) not in taken:
                referrals.book(engine, county)
        referrals.close_outcomes(engine)
        for row in referrals.rows(engine, "direction = 'in' AND synced IS NOT state"):
            path = f"/referrals/{urllib.parse.quote(row['from_hall'])}/{urllib.parse.quote(row['id'])}/step"
            for step in _untold(row):
                body = {"step": step, "reason": row["reason"] if step == row["state"] else None}
                if step == "booked":
                    body.update(appointment=row["appointment"], slot_start=row["slot_start"])
                try:
                    self.call("POST", path, body)
                except urllib.error.HTTPError as exc:
                    # 409: the county is past this step already (told in a cut-short round)
                    if exc.code != 409 and (message := self.refused(exc)) is None:
                        raise
                    if exc.code != 409:  # refused for good: logged, not in the way of the steps after it
                        log.warning("referrals: the county refused step %s of %s/%s: %s", step, row["from_hall"],
                                    row["id"], message)
            engine.record_referral({**row, "synced": row["state"]}, None)


def _untold(row: dict) -> list[str]:
    """The steps of a referral taken in that the county has not confirmed, in order: an outcome
    reached with the link down comes after a `booked` the county may never have heard (the county
    moves a referral only pending → booked → outcome, and the referring hall needs the code)."""
    if row["synced"] is None and row["appointment"] and row["state"] != "booked":
        return ["booked", row["state"]]
    return [row["state"]]
