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

A hall restored from a backup numbers its new events from the backup's last id, ids the county
already holds for the events lost with the disk. So every event goes with its SM3 link
(server/audit_chain.py) and every batch with the link of its `after` event, and while the hall's log
ends below the county's mark the shipper says where it ends (an empty batch): the county answers 409
`diverged` when the histories differ. The shipper then stops shipping, finds the last event both
share (`find_common`, a few bisecting requests to /ingest/compare) for the county's `hallq county
rebase`, and asks again slowly (`diverged_retry`) until the county has rebased; the hall serves on,
with a red alert on its board (server/county_link.py).

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
DIVERGED_RETRY = 60.0  # a diverged hall asks the county this often whether it has rebased
PROBES = 64  # event ids per bisecting request while looking for the last common event


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


class Diverged(Exception):
    """The county holds a different history of this hall's log (a hall restored from a backup)."""

    def __init__(self, message: str, answer: dict) -> None:
        super().__init__(message)
        self.answer = answer


# what a round can meet from the link, the county's answers or the hall's own database
EXPECTED = (OSError, http.client.HTTPException, Refused, sqlite3.Error, ValueError, KeyError, TypeError)


class Shipper:
    def __init__(self, db_path: str | Path, url: str, token: str, batch: int = BATCH,
                 idle: float = IDLE_SECONDS, max_backoff: float = MAX_BACKOFF,
                 on_round: Callable[[Shipper], None] | None = None, diverged_retry: float = DIVERGED_RETRY) -> None:
        self.on_round = on_round  # told after every round, shipped or failed (server/county_link.py)
        self.db_path = str(db_path)
        self.base = urllib.parse.urlsplit(url)
        self.token = token
        self.batch, self.idle, self.max_backoff = batch, idle, max_backoff
        self.high_water: int | None = None  # the county's mark, as last answered (None: ask again)
        self.acked: int | None = None  # the last mark the county answered, kept through an outage
        self.state = "starting"  # shipping | caught_up | offline | refused | diverged
        self.error: str | None = None
        self.diverged: dict | None = None  # the county's record of the divergence, while it stands
        self.diverged_retry = diverged_retry
        self._checked: tuple[int, str | None] | None = None  # the log's end the county last agreed with
        self._chained: bool | None = None  # the hall's database has audit_chain (migration 13 on)
        self.shipped = 0  # events the county applied from this process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._db: sqlite3.Connection | None = None
        self._heard = time.monotonic()  # last answer from the county
        self.down_since: float | None = None  # monotonic time of the first failed round of this spell
        self.last_contact: str | None = None  # wall time of the county's last answer (ISO)

    # -- the hall's log, read-only -----------------------------------------------------------

    def _read(self) -> sqlite3.Connection:
        if self._db is None:
            uri = Path(self.db_path).resolve().as_uri() + "?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
        if self._chained is None:
            self._chained = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_chain'").fetchone() is not None
        return self._db

    def _link_sql(self, alias: str) -> str:
        if not self._chained:
            return "NULL"
        return (f"(SELECT link FROM audit_chain WHERE tbl = 'events' AND row_id = {alias}.id "
                "ORDER BY seq DESC LIMIT 1)")

    def _events_after(self, last: int) -> list[dict]:
        db = self._read()
        rows = db.execute(f"SELECT e.*, {self._link_sql('e')} AS _link FROM events e WHERE e.id > ? ORDER BY e.id "
                          "LIMIT ?", [last, self.batch]).fetchall()
        return [dict(r) for r in rows]

    def link_of(self, event_id: int) -> str | None:
        """The SM3 link the hall's chain holds for its event `event_id` (None: 0, or purged)."""
        if event_id <= 0:
            return None
        row = self._read().execute(f"SELECT {self._link_sql('e')} FROM events e WHERE e.id = ?", [event_id]).fetchone()
        return row[0] if row else None

    def _last(self) -> int:
        return int(self._read().execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def _probe(self, event_id: int) -> dict | None:
        """The first of the hall's events at or after `event_id`, as /ingest/compare takes it."""
        row = self._read().execute(f"SELECT e.id, e.ts, e.type, {self._link_sql('e')} AS link FROM events e "
                                   "WHERE e.id >= ? ORDER BY e.id LIMIT 1", [event_id]).fetchone()
        return None if row is None else {"id": row[0], "ts": row[1], "type": row[2], "link": row[3]}

    # -- the county --------------------------------------------------------------------------

    def _request(self, method: str, body: dict | None = None, path: str = "/api/v1/ingest") -> tuple[int, dict]:
        if self._conn is None:
            self._conn = connection(self.base, REQUEST_TIMEOUT)
        headers = {"Authorization": f"Bearer {self.token}", "Request-Timeout-Ms": str(int(REQUEST_TIMEOUT * 1000))}
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:  # the whole request within REQUEST_TIMEOUT, however slowly the county trickles its answer
            status, raw = exchange(self._conn, method, self.base.path.rstrip("/") + path, payload,
                                   headers, REQUEST_TIMEOUT, keep_alive=True)
        except (OSError, http.client.HTTPException):
            self._conn = None
            raise
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        return status, answer if isinstance(answer, dict) else {}

    def _refusal(self, status: int, answer: dict) -> Exception:
        message = f"county answered {status}: {answer.get('error')} {answer.get('message', '')}".strip()
        if status >= 500 or status in (408, 429) or 300 <= status < 400:
            # the county cannot take it now, or something between answered (a redirect: not followed):
            # a link fault, not the county refusing the hall
            return OSError(message)
        return Refused(message)

    def step(self) -> int:
        """One round: learn the mark if unknown, send the next batch; the events the county applied.
        Raises OSError (link down), Refused (the county said no), Diverged (the histories differ)."""
        if self.high_water is None:
            self._ask_mark()
        rows = self._events_after(self.high_water)
        if not rows:
            last = self._last()
            if last < self.high_water and self._checked != (last, link := self.link_of(last)):
                # the hall's log ends below the county's mark (restored from a backup?): say where
                status, answer = self._request("POST", {"after": last, "after_link": link, "events": []})
                self._diverged(status, answer)
                if status != 200:
                    raise self._refusal(status, answer)
                self._checked = (last, link)
                self._heard = time.monotonic()
            if time.monotonic() - self._heard >= HEARTBEAT_SECONDS:  # nothing to send: say the link is up
                mark = self.high_water
                self._ask_mark()
                if self.high_water != mark:
                    return 0
            self.state = "caught_up"
            return 0
        forms = []
        for r in rows:
            form = county_form(r)
            form["link"] = r["_link"]
            forms.append(form)
        status, answer = self._request("POST", {"after": self.high_water, "after_link": self.link_of(self.high_water),
                                                "events": forms})
        if status == 409 and answer.get("error") == "gap":
            log.warning("county holds events up to %s only; resending from there", answer["high_water"])
            self.high_water = int(answer["high_water"])
            return 0
        self._diverged(status, answer)
        if status != 200:
            raise self._refusal(status, answer)
        self.high_water = int(answer["high_water"])
        self._heard = time.monotonic()
        self.shipped += answer["applied"]
        self.state = "shipping"
        return int(answer["applied"])

    def _ask_mark(self) -> None:
        status, answer = self._request("GET")
        if status != 200:
            raise self._refusal(status, answer)
        self._heard = time.monotonic()
        if answer.get("diverged"):
            raise Diverged(f"the county holds a different history of this hall: {answer['diverged'].get('reason')}",
                           answer["diverged"])
        self.high_water = int(answer["high_water"])

    @staticmethod
    def _diverged(status: int, answer: dict) -> None:
        if status == 409 and answer.get("error") == "diverged":
            raise Diverged(answer.get("message", "diverged"), answer)

    def find_common(self, county_mark: int) -> int:
        """Bisect (PROBES ids a request) for the last event of the hall's log the county holds the
        same, and tell the county (it records it for `hallq county rebase`); returns it."""
        lo, hi = 0, min(self._last(), county_mark) + 1  # lo: shared (0: none yet); hi: differs, or beyond
        while hi - lo > 1:
            span = hi - lo - 1
            exhaustive = span <= PROBES
            starts = range(lo + 1, hi) if exhaustive else sorted({lo + 1 + span * k // PROBES for k in range(PROBES)})
            probes: list[dict] = []
            for x in starts:
                p = self._probe(x)
                if p is not None and p["id"] < hi and (not probes or p["id"] > probes[-1]["id"]):
                    probes.append(p)
            if not probes:
                break
            same = set(self._compare({"events": probes})["same"])
            first_off = next((p["id"] for p in probes if p["id"] not in same), hi)
            lo = max((p["id"] for p in probes if p["id"] in same and p["id"] < first_off), default=lo)
            hi = first_off
            if exhaustive:
                break
        report = [p for p in (self._probe(lo) if lo else None, self._probe(lo + 1)) if p is not None]
        self._compare({"events": report, "common": lo})
        log.warning("the last event this hall shares with the county is %s; told the county", lo)
        return lo

    def _compare(self, body: dict) -> dict:
        status, answer = self._request("POST", body, "/api/v1/ingest/compare")
        if status != 200:
            raise self._refusal(status, answer)
        return answer

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Ship until stopped: after a fault, wait (doubling, jittered) and go on by itself."""
        backoff = FIRST_BACKOFF
        while not self._stop.is_set():
            try:
                moved = self.step()
            except Diverged as exc:
                self._on_diverged(exc)
                continue
            # TypeError: an answer of the wrong shape ({"high_water": null}); anything else is a bug,
            # logged with its trace: either way the thread must not die of it (shipping would end for good)
            except Exception as exc:
                state = "refused" if isinstance(exc, Refused) else "offline"
                if not isinstance(exc, EXPECTED):
                    log.exception("shipping to the county: unexpected %s; retrying by itself", type(exc).__name__)
                elif (state, str(exc)) != (self.state, self.error):
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
            self.diverged = None
            self.down_since = None
            self.acked = self.high_water
            self.last_contact = datetime.now().astimezone().isoformat(timespec="seconds")
            self._tell()
            backoff = FIRST_BACKOFF
            if not moved and self.state == "caught_up":
                self._stop.wait(self.idle)

    def _on_diverged(self, exc: Diverged) -> None:
        """Shipping stops (nothing is sent that the county would file under another history); the
        last common event is found for the county's rebase; the county is asked again slowly."""
        if self.state != "diverged":
            log.error("shipping to the county stopped: %s; the hall serves on. The county's admin runs "
                      "`hallq county rebase` once the restore is confirmed; shipping then resumes by itself", exc)
        self.state, self.error = "diverged", str(exc)
        self.diverged = dict(exc.answer)
        self.down_since = None  # the link is up: this is not an outage
        self.last_contact = datetime.now().astimezone().isoformat(timespec="seconds")
        try:  # a 409's answer, or the county's record of the divergence (from its mark's answer)
            if exc.answer.get("common") is None:
                self.diverged["common"] = self.find_common(int(exc.answer["high_water"]))
        except EXPECTED as why:
            log.warning("looking for the last event shared with the county: %s; trying again later", why)
        self._tell()
        self.high_water = None
        self._checked = None
        self._stop.wait(self.diverged_retry)

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
        return {"state": self.state, "county_high_water": self.high_water, "error": self.error,
                "diverged": self.diverged}
