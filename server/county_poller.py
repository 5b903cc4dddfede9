"""A thread of `hallq serve` that keeps the hall in step with the county by asking it: the county
never calls a hall. Each follower (catalogue releases, referrals, 差评 case steps) says what one
round does (`step`); this runs the rounds every `poll` seconds, survives the link being down (the
next round simply tries again, also after a round failed in any other way), and keeps the link's state for logs and status."""

from __future__ import annotations

import http.client
import io
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
from abc import ABC, abstractmethod

from hallq.peer_http import connection, exchange

from .errors import HallqError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0  # seconds for one whole request
BACKOFF_POLLS, MAX_BACKOFF = 8, 60.0


class CountyPoller(ABC):
    name = "county"  # in log lines and the thread's name
    poll_seconds = 30.0
    refusal = "offline"  # the state when a round raises HallqError (the county's data does not fit)

    def __init__(self, app, url: str, token: str, poll: float | None = None) -> None:
        self.app = app
        self.url = url.rstrip("/") + "/api/v1"
        self._base = urllib.parse.urlsplit(self.url)
        self.token = token
        self.poll = self.poll_seconds if poll is None else poll
        self.state = "starting"  # following | offline | refused
        self.error: str | None = None
        self.down_since: float | None = None  # monotonic time of the first failed round of this spell
        self._stop = threading.Event()
        self._nudge = threading.Event()  # set: the next round at once (stopping, or the link seen back)
        self._thread: threading.Thread | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One JSON request to the county with the hall's token, all of it within REQUEST_TIMEOUT;
        raises OSError when the link is down or slow, urllib.error.HTTPError (an OSError) for an
        answer that is not 2xx — a redirect too: it is not followed, the token stays with the county."""
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        conn = connection(self._base, REQUEST_TIMEOUT)
        try:
            status, raw = exchange(conn, method, self._base.path + path, data, {
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                "Request-Timeout-Ms": str(int(REQUEST_TIMEOUT * 1000))}, REQUEST_TIMEOUT)
        finally:
            conn.close()
        if not 200 <= status < 300:
            raise urllib.error.HTTPError(self.url + path, status, f"county answered {status}", None, io.BytesIO(raw))
        return json.loads(raw)

    @abstractmethod
    def step(self) -> object:
        """One round; safe to run again after it was cut short anywhere."""

    @staticmethod
    def refused(exc: urllib.error.HTTPError) -> str | None:
        """The county's message when it refused the one item a call was about for good (400/422
        naming a field: it will not take it as it is, however often it is sent), else None."""
        if exc.code not in (400, 422):
            return None
        try:
            answer = json.loads(exc.read() or b"{}")
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        return str(answer.get("message") or answer.get("error") or f"HTTP {exc.code}")[:150]

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.step()
                if self.error is not None:
                    log.info("%s: following the county again", self.name)
                self.state, self.error, self.down_since = "following", None, None
                failures = -1
            # urllib's HTTPError is an OSError; a link cut in the middle of an answer is an
            # http.client.IncompleteRead, which is not
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                self._failed("offline", str(exc) or type(exc).__name__, "the county does not answer")
            except HallqError as exc:
                self._failed(self.refusal, exc.message, "not applied")
            except Exception as exc:  # anything else (a busy database, a bug): the next round still comes
                self._failed("offline", f"{type(exc).__name__}: {exc}", "the round failed", trace=True)
            failures += 1
            self._nudge.wait(self._wait(failures))
            self._nudge.clear()

    def nudge(self) -> None:
        """Run the next round now: the shipper has just reached the county again, so a follower
        backing off from the same outage need not wait out its back-off."""
        self._nudge.set()

    def _wait(self, failures: int) -> float:
        """The pause before the next round: the poll, or after `failures` failed rounds in a row a
        back-off doubling up to BACKOFF_POLLS polls (at most MAX_BACKOFF s, never under the poll),
        jittered, so 400 stations do not all ask a county that is down every few seconds in step."""
        if failures <= 0:
            return self.poll
        cap = max(self.poll, min(MAX_BACKOFF, self.poll * BACKOFF_POLLS))
        return max(self.poll, min(cap, self.poll * 2 ** failures) * random.uniform(0.5, 1.0))

    def _failed(self, state: str, error: str, what: str, trace: bool = False) -> None:
        if error != self.error:  # once per new trouble, not every round
            log.warning("%s: %s (%s); retrying by itself", self.name, what, error, exc_info=trace)
        self.state, self.error = state, error
        if self.down_since is None:
            self.down_since = time.monotonic()

    def start(self) -> CountyPoller:
        self._thread = threading.Thread(target=self.run, name=f"county-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT + 5)

    def status(self) -> dict:
        return {"state": self.state, "error": self.error}
