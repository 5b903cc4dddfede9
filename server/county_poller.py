"""A thread of `hallq serve` that keeps the hall in step with the county by asking it: the county
never calls a hall. Each follower (catalogue releases, referrals, 差评 case steps) says what one
round does (`step`); this runs the rounds every `poll` seconds, survives the link being down (the
next round simply tries again, also after a round failed in any other way), and keeps the link's state for logs and status."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.request
from abc import ABC, abstractmethod

from .errors import HallqError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0


class CountyPoller(ABC):
    name = "county"  # in log lines and the thread's name
    poll_seconds = 30.0
    refusal = "offline"  # the state when a round raises HallqError (the county's data does not fit)

    def __init__(self, app, url: str, token: str, poll: float | None = None) -> None:
        self.app = app
        self.url = url.rstrip("/") + "/api/v1"
        self.token = token
        self.poll = self.poll_seconds if poll is None else poll
        self.state = "starting"  # following | offline | refused
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One JSON request to the county with the hall's token; raises OSError when the link is down."""
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
            "Request-Timeout-Ms": str(int(REQUEST_TIMEOUT * 1000))})
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
            return json.load(resp)

    @abstractmethod
    def step(self) -> object:
        """One round; safe to run again after it was cut short anywhere."""

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                if self.error is not None:
                    log.info("%s: following the county again", self.name)
                self.state, self.error = "following", None
            # urllib's HTTPError is an OSError; a link cut in the middle of an answer is an
            # http.client.IncompleteRead, which is not
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                self._failed("offline", str(exc) or type(exc).__name__, "the county does not answer")
            except HallqError as exc:
                self._failed(self.refusal, exc.message, "not applied")
            except Exception as exc:  # anything else (a busy database, a bug): the next round still comes
                self._failed("offline", f"{type(exc).__name__}: {exc}", "the round failed", trace=True)
            self._stop.wait(self.poll)

    def _failed(self, state: str, error: str, what: str, trace: bool = False) -> None:
        if error != self.error:  # once per new trouble, not every round
            log.warning("%s: %s (%s); retrying by itself", self.name, what, error, exc_info=trace)
        self.state, self.error = state, error

    def start(self) -> CountyPoller:
        self._thread = threading.Thread(target=self.run, name=f"county-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT + 5)

    def status(self) -> dict:
        return {"state": self.state, "error": self.error}
