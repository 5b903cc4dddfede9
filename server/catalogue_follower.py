"""The hall follows the county's catalogue releases (a thread of `hallq serve` when the config has
`[county]`): it asks the county for the newest release, applies it live as one configuration
version (actor "county", note "目录发布 N"), and reports which release it runs with which overrides.

Hall-initiated, like the shipper: the county never writes into a hall. With the link down the hall
runs the release it has; after a restart whose file undid catalogue fields it applies its kept
release again without the county. A release the hall's own checks refuse (server/config_versions.py)
is not applied; the hall keeps running the one before and says so in its log and its report.
"""

from __future__ import annotations

import logging

from hallq.hall_document import document_of

from . import catalogue
from .county_poller import CountyPoller

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0  # a release is no emergency; 400 village stations polling stay a few requests a second


class CatalogueFollower(CountyPoller):
    name = "catalogue"
    poll_seconds = POLL_SECONDS
    refusal = "refused"
    _reported: dict | None = None  # the last status told to the county

    def _apply(self, release: dict, before: dict | None) -> None:
        """Apply `release` (or re-apply the kept one) if the running hall differs from it."""
        book, engine = self.app.config["CONFIG_VERSIONS"], self.app.config["ENGINE"]
        latest = book.latest()
        document = document_of(engine.config)
        merged = catalogue.merge(document, release, before)
        kept = catalogue.record(merged, release)
        if merged == document and before is not None and before["release"] == release["release"]:
            return
        row = book.change(engine, merged, "county", f"目录发布 {release['release']}",
                          based_on=latest["version"] if latest else None,
                          then=self.app.config["ON_RECONFIGURE"], settings={catalogue.APPLIED_KEY: kept})
        if not row.get("unchanged"):
            log.info("catalogue release %s applied as configuration version %s", release["release"], row["version"])

    def step(self) -> None:
        """One round: keep the hall on its release, fetch a newer one, report. Raises OSError (link
        down), HallqError (the release does not fit this hall; a local change came in between)."""
        store = self.app.config["CONFIG_VERSIONS"].store
        running = catalogue.applied(store)
        if running:  # offline-first: the kept release holds whatever the file said at start-up
            self._apply({**running, "matters": list(running["matters"].values())}, running)
        newest = self.call("GET", "/catalogue/latest")
        if newest["release"] > (running["release"] if running else 0):
            self._apply(newest, running)
            running = catalogue.applied(store)
        report = {"release": running["release"] if running else 0,
                  "overrides": catalogue.overrides(document_of(self.app.config["ENGINE"].config), running)}
        if report != self._reported:
            self.call("POST", "/catalogue/status", report)
            self._reported = report


