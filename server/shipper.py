"""Store-and-forward of the hall's event log to the county server (`[county]` url and token).

The hall stays the sole authority of its queue: this reads the hall's own database read-only and
sends the events up in id order, in batches, over the county's HTTP API (county/api.py). The county
applies each (hall, event id) once and answers its high-water mark; the shipper carries on from that
mark, never from what it believes it sent. With the link down it keeps nothing of its own (the
hall's append-only log is the queue), backs off (1 s doubling to 60 s, with jitter, so 400 village
stations coming back together do not arrive in step) and catches up by itself once the county
answers.

What leaves the hall: every event as the hall logged it (its own timestamp with its UTC offset, from
which the county takes the hall's local day), minus the citizens' secrets the staff stream leaves
out too (server/sse.py): ticket ids become a one-way pseudonym (a SHA-256 of a 96-bit random id
cannot be reversed), appointment codes are dropped.

Why HTTP and not a message system: see docs/county.md ("Transport").
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import random
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hallq.peer_http import connection, exchange

from .sse import _hidden

log = logging.getLogger(__name__)

BATCH = 500  # events per request: ~150 KB, one county transaction
IDLE_SECONDS = 0.5  # how often a caught-up shipper looks for new events
HEARTBEAT_SECONDS = 15.0  # a caught-up shipper asks the county's mark this often: the county sees the link up
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
REQUEST_TIMEOUT = 15.0  # seconds for one whole request to the county


def pseudonym(ticket_id: str | None) -> str | None:
    """The same ticket's events stay tied together at the county, without its secret id."""
    if ticket_id is None:
        return None
    return hashlib.sha256(b"hallq-county-ticket:" + ticket_id.encode()).hexdigest()[:24]


def _no_nul(value):
    """`value` with every NUL in its text (keys too) made U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    return value


def county_form(row: dict) -> dict:
    """One event row of the hall's log as the county receives it.

    PostgreSQL holds no NUL in text or jsonb and the county refuses one (400), but the hall takes
    NUL in free text (a rating's comment from the public QR page, a note): shipped as it is, that
    one event would be refused for ever and stop the hall's whole log from shipping. It goes as
    U+FFFD, the hall's own record unchanged."""
    raw = row["data"] or "{}"
    data = json.loads(raw)
    if "\\u0000" in raw:  # json.dumps writes NUL so; the walk only for the rare event that has one
        data = _no_nul(data)
    hidden = _hidden(row["type"])
    out = {"id": row["id"], "ts": row["ts"], "type": row["type"], "actor": row["actor"], "window": row["window"],
           "ticket": pseudonym(row["ticket_id"]), "ticket_code": row["ticket_code"], "service": row["service"],
           "data": {k: v for k, v in data.items() if k not in hidden}}
    for key in ("actor", "ticket_code", "service"):
        if out[key] is not None and "\x00" in out[key]:
            out[key] = _no_nul(out[key])
    return out


class Refused(Exception):
    """The county answered and said no (bad token, a batch it would not take): not a link fault."""


class Shipper:
    def __init__(self, db_path: str | Path, url: str, token: str, batch: int = BATCH,
                 idle: float = IDLE_SECONDS, max_backoff: float = MAX_BACKOFF,
                 on_round: Callable[[Shipper], None] | None = None) -> None:
        self.on_round = on_round  # told after every round, shipped or failed (server/county_link.py)
        self.db_path = str(db_path)
        self.base = urllib.parse.urlsplit(url)
        self.token = token
        self.batch, self.idle, self.max_backoff = batch, idle, max_backoff
        self.high_water: int | None = None  # the county's mark, as last answered (None: ask again)
        self.acked: int | None = None  # the last mark the county answered, kept through an outage
        self.state = "starting"  # shipping | caught_up | offline | refused
        self.error: str | None = None
        self.shipped = 0  # events the county applied from this process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._db: sqlite3.Connection | None = None
        self._heard = time.monotonic()  # last answer from the county
        self.down_since: float | None = None  # monotonic time of the first failed round of this spell
        self.last_contact: str | None = None  # wall time of the county's last answer (ISO)

    # -- the hall's log, read-only -----------------------------------------------------------

    def _events_after(self, last: int) -> list[dict]:
        if self._db is None:
            uri = Path(self.db_path).resolve().as_uri() + "?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
        rows = self._db.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", [last, self.batch]).fetchall()
        return [dict(r) for r in rows]

    # -- the county --------------------------------------------------------------------------

    def _request(self, method: str, body: dict | None = None) -> tuple[int, dict]:
        if self._conn is None:
            self._conn = connection(self.base, REQUEST_TIMEOUT)
        headers = {"Authorization": f"Bearer {self.token}", "Request-Timeout-Ms": str(int(REQUEST_TIMEOUT * 1000))}
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:  # the whole request within REQUEST_TIMEOUT, however slowly the county trickles its answer
            status, raw = exchange(self._conn, method, self.base.path.rstrip("/") + "/api/v1/ingest", payload,
                                   headers, REQUEST_TIMEOUT, keep_alive=True)
        except (OSError, http.client.HTTPException):
            self._conn = None
            raise
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        return status, answer if isinstance(answer, dict) else {}

    def step(self) -> int:
        """One round: learn the mark if unknown, send the next batch; the events the county applied.
        Raises OSError (link down), Refused (the county said no)."""
        if self.high_water is None:
            status, answer = self._request("GET")
            if status != 200:
                raise self._refusal(status, answer)
            self.high_water = int(answer["high_water"])
            self._heard = time.monotonic()
        rows = self._events_after(self.high_water)
        if not rows:
            if time.monotonic() - self._heard >= HEARTBEAT_SECONDS:  # nothing to send: say the link is up
                status, answer = self._request("GET")
                if status != 200:
                    raise self._refusal(status, answer)
                self._heard = time.monotonic()
                if int(answer["high_water"]) != self.high_water:
                    self.high_water = int(answer["high_water"])
                    return 0
            self.state = "caught_up"
            return 0
        status, answer = self._request("POST", {"after": self.high_water, "events": [county_form(r) for r in rows]})
        if status == 409 and answer.get("error") == "gap":
            log.warning("county holds events up to %s only; resending from there", answer["high_water"])
            self.high_water = int(answer["high_water"])
            return 0
        if status != 200:
            raise self._refusal(status, answer)
        self.high_water = int(answer["high_water"])
        self._heard = time.monotonic()
        self.shipped += answer["applied"]
        self.state = "shipping"
        return int(answer["applied"])

    def _refusal(self, status: int, answer: dict) -> Exception:
        message = f"county answered {status}: {answer.get('error')} {answer.get('message', '')}".strip()
        if status >= 500 or status in (408, 429) or 300 <= status < 400:
            # the county cannot take it now, or something between answered (a redirect: not followed):
            # a link fault, not the county refusing the hall
            return OSError(message)
        return Refused(message)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Ship until stopped: after a fault, wait (doubling, jittered) and go on by itself."""
        backoff = FIRST_BACKOFF
        while not self._stop.is_set():
            try:
                moved = self.step()
            # TypeError: an answer of the wrong shape ({"high_water": null}) — the thread must not die of it
            except (OSError, http.client.HTTPException, Refused, sqlite3.Error, ValueError, KeyError, TypeError) as exc:
                state = "refused" if isinstance(exc, Refused) else "offline"
                if (state, str(exc)) != (self.state, self.error):
                    log.warning("shipping to the county: %s (%s); retrying by itself", state, exc)
                self.state, self.error = state, str(exc)
                if self.down_since is None:
                    self.down_since = time.monotonic()
                self._tell()
                self.high_water = None  # ask for the mark again: the county may have moved it
                self._stop.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(self.max_backoff, backoff * 2)
                continue
            if self.error is not None:
                log.info("shipping to the county: link restored, county holds up to event %s", self.high_water)
                self.error = None
            self.down_since = None
            self.acked = self.high_water
            self.last_contact = datetime.now().astimezone().isoformat(timespec="seconds")
            self._tell()
            backoff = FIRST_BACKOFF
            if not moved and self.state == "caught_up":
                self._stop.wait(self.idle)

    def _tell(self) -> None:
        if self.on_round is not None:
            try:
                self.on_round(self)
            except Exception:  # noqa: BLE001  telling must never stop the shipping
                log.exception("county link: telling the hall the link's state failed")

    def start(self) -> Shipper:
        self._thread = threading.Thread(target=self.run, name="county-shipper", daemon=True)
        self._thread.start()
        return self

    def halt(self) -> None:
        """Ask the loop to end (from a signal handler too)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT + 5)
        if self._conn is not None:
            self._conn.close()
        if self._db is not None:
            self._db.close()

    def status(self) -> dict:
        return {"state": self.state, "county_high_water": self.high_water, "error": self.error}
