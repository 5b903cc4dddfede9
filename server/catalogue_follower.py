"""The hall follows the county's catalogue releases (a thread of `hallq serve` when the config has
`[county]`): it asks the county for the newest release, applies it live as one configuration
version (actor "county", note "目录发布 N"), and reports which release it runs with which overrides.

Hall-initiated, like the shipper: the county never writes into a hall. With the link down the hall
runs the release it has; after a restart whose file undid catalogue fields it applies its kept
release again without the county. A release the hall's own checks refuse (server/config_versions.py)
is not applied; the hall keeps running the one before and says so in its log and its report.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request

from hallq.hall_document import document_of

from . import catalogue
from .errors import HallqError

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0  # a release is no emergency; 400 village stations polling stay a few requests a second
REQUEST_TIMEOUT = 15.0


class CatalogueFollower:
    def __init__(self, app, url: str, token: str, poll: float = POLL_SECONDS) -> None:
        self.app = app
        self.url = url.rstrip("/") + "/api/v1"
        self.token = token
        self.poll = poll
        self.state = "starting"  # following | offline | refused
        self.error: str | None = None
        self._reported: dict | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
            "Request-Timeout-Ms": str(int(REQUEST_TIMEOUT * 1000))})
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
            return json.load(resp)

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
        newest = self._call("GET", "/catalogue/latest")
        if newest["release"] > (running["release"] if running else 0):
            self._apply(newest, running)
            running = catalogue.applied(store)
        report = {"release": running["release"] if running else 0,
                  "overrides": catalogue.overrides(document_of(self.app.config["ENGINE"].config), running)}
        if report != self._reported:
            self._call("POST", "/catalogue/status", report)
            self._reported = report

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                if self.error is not None:
                    log.info("catalogue: following the county again")
                self.state, self.error = "following", None
            except (OSError, ValueError, KeyError) as exc:  # urllib's HTTPError is an OSError
                if str(exc) != self.error:
                    log.warning("catalogue: the county does not answer (%s); retrying by itself", exc)
                self.state, self.error = "offline", str(exc)
            except HallqError as exc:
                if exc.message != self.error:
                    log.warning("catalogue: release not applied: %s", exc.message)
                self.state, self.error = "refused", exc.message
            self._stop.wait(self.poll)

    def start(self) -> CatalogueFollower:
        self._thread = threading.Thread(target=self.run, name="county-catalogue", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT + 5)

    def status(self) -> dict:
        return {"state": self.state, "error": self.error}
