"""Forward the whole 好差评 record to the provincial platform: every rating (with its 差评 option
tags and 办件编号; a profile's default 基本满意 rating marked as such), every 办件编号 attached later,
every 差评 case step and outcome, and every 申诉复核 filing and decision (an upheld appeal is a
correction: the rating no longer counts, and the platform must take it out of its scores too).

A hall-side process like server/shipper.py: it reads the hall's event log read-only (never a lock
the hall waits on), turns each event of KINDS into a record, and keeps it in an outbox of its own (SQLite) until the platform has it. A
record's id is `<hall code>-<event id>`: the same on every retry, so the platform stores it once.
Outages, timeouts (of the whole request: a platform trickling its answer too), 5xx, answers about
the link rather than the record (LINK_STATUSES, redirects) and a 2xx page that is not JSON (a
network portal's) are retried with back-off (doubling from 2 s to 10 min, jittered); OFFLINE_AFTER
of them in a row is an outage. Any other 4xx is a rejection, kept in the outbox with the platform's
reason (`hallq province rejected`) and never resent by itself; the records after it go on.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import sqlite3
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

from hallq.peer_http import connection, exchange

from .mapping import Mapping
from .rejected import listing

log = logging.getLogger(__name__)

KINDS = {"rating.recorded": "rating", "rating.case_number": "case_number", "case.opened": "case_step",
         "case.updated": "case_step", "case.fix_rated": "case_step", "appeal.filed": "appeal",
         "appeal.decided": "appeal"}
FIRST_BACKOFF, MAX_BACKOFF = 2.0, 600.0
TIMEOUT = 10.0  # seconds for one whole request: a slow platform is a failed attempt, not a stuck forwarder
BATCH = 200
OFFLINE_AFTER = 3  # failed attempts in a row before the link is offline (and the supervisor alerted)
# Answers about the link, not the record: a redirect (a portal; not followed), a wrong token or
# path, a proxy asking for its login, a timeout, too many requests. Retried with back-off like an
# outage; only another 4xx is the platform refusing this record.
LINK_STATUSES = {401, 403, 404, 405, 407, 408, 421, 425, 429}

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, event_id INTEGER NOT NULL, kind TEXT NOT NULL, hall TEXT NOT NULL, day TEXT NOT NULL,
    body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0, error TEXT, sent_at TEXT, reason TEXT);
CREATE INDEX IF NOT EXISTS idx_records_due ON records (state, next_at);
CREATE INDEX IF NOT EXISTS idx_records_day ON records (day, hall);
CREATE TABLE IF NOT EXISTS cursor (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""


def record_of(hall: str, event: dict, hall_db: sqlite3.Connection, names: dict[str, str]) -> dict | None:
    """hallq's side of one forwarded record (province/mapping.py SOURCE_FIELDS), or None."""
    kind = KINDS.get(event["type"])
    if kind is None:
        return None
    data = json.loads(event["data"] or "{}")
    rec = {"id": f"{hall}-{event['id']}", "kind": kind, "hall": hall, "at": event["ts"], "day": event["ts"][:10],
           "window": event["window"], "ticket": event["ticket_code"], "matter_code": event["service"],
           "matter_name": names.get(event["service"] or "")}
    if kind == "rating":
        row = _one(hall_db, "SELECT * FROM ratings WHERE record_id = ? AND rated_at = ? ORDER BY id DESC LIMIT 1",
                   data.get("record"), event["ts"]) or \
            _one(hall_db, "SELECT * FROM ratings WHERE record_id = ? ORDER BY id DESC LIMIT 1", data.get("record"))
        if row is None:
            return None
        number = _one(hall_db, "SELECT case_number FROM case_numbers WHERE record_id = ?", row["record_id"])
        default = row["channel"] == "default"
        rec.update(record=row["record_id"], rating=row["id"], unit=row["department"], staff=row["staff"],
                   rater=row["phone"], grade=row["grade"], tags=_tags(row), text=row["comment"],
                   channel=row["channel"], case_number=number["case_number"] if number else None,
                   rating_type="default" if default else "active", scored=True)
        return rec
    if kind == "case_number":
        rec.update(record=data.get("record"), case_number=data.get("case_number"))
        return rec
    if kind == "appeal":
        appeal = _one(hall_db, "SELECT * FROM appeals WHERE id = ?", data.get("appeal"))
        if appeal is None:
            return None
        rating = _one(hall_db, "SELECT * FROM ratings WHERE id = ?", appeal["rating_id"])
        decided = event["type"] == "appeal.decided"
        state = data.get("state", appeal["state"]) if decided else "filed"
        rec.update(record=appeal["record_id"], rating=appeal["rating_id"], staff=appeal["staff"],
                   unit=rating["department"] if rating else None, grade=data.get("grade"),
                   action="decided" if decided else "filed", appeal=appeal["id"], appeal_state=state,
                   reason=appeal["reason"], evidence=appeal["evidence"],
                   decision=appeal["decision_note"] if decided else None,
                   scored=state != "upheld", corrects=_rating_record_id(hall, hall_db, rating))
        return rec
    case = _one(hall_db, "SELECT * FROM cases WHERE id = ?", data.get("case"))
    if case is None:
        return None
    step = _one(hall_db, "SELECT * FROM case_steps WHERE case_id = ? AND at = ? ORDER BY id DESC LIMIT 1",
                case["id"], event["ts"])
    rec.update(record=case.get("record_id"), case=case["id"], unit=case["department"], staff=case["staff"],
               grade=data.get("grade", case["grade"]), action=step["action"] if step else data.get("action", "open"),
               state=case["state"], note=step["note"] if step else None, outcome=case["resolution"],
               tags=case["reason"])
    return rec


def _tags(row: dict) -> str | None:
    """The 差评 option tags, comma-separated (GB/T 39734 codes as hallq names them, e.g. attitude)."""
    tags = json.loads(row["tags"]) if row.get("tags") else ([row["reason"]] if row.get("reason") else [])
    return ",".join(tags) or None


def _rating_record_id(hall: str, hall_db: sqlite3.Connection, rating: dict | None) -> str | None:
    """The forwarded id of the rating an appeal is about (its rating.recorded event, found by time)."""
    if rating is None:
        return None
    row = hall_db.execute("SELECT id FROM events WHERE ts = ? AND type = 'rating.recorded' AND "
                          "json_extract(data, '$.record') = ? ORDER BY id LIMIT 1",
                          [rating["rated_at"], rating["record_id"]]).fetchone()
    return f"{hall}-{row[0]}" if row else None


def _one(conn: sqlite3.Connection, sql: str, *params) -> dict | None:
    row = conn.execute(sql, params).fetchone()
    return dict(row) if row is not None else None


class Forwarder:
    def __init__(self, hall_db: str | Path, outbox: str | Path, url: str, hall: str, mapping: Mapping,
                 names: dict[str, str] | None = None, token: str = "", clock=time.time,
                 max_backoff: float = MAX_BACKOFF) -> None:
        self.hall_db_path, self.hall, self.mapping = str(hall_db), hall, mapping
        self.names = names or {}
        self.base = urllib.parse.urlsplit(url)
        self.token, self.clock = token, clock
        self.out = sqlite3.connect(str(outbox), check_same_thread=False, isolation_level=None)
        self.out.row_factory = sqlite3.Row
        self.out.execute("PRAGMA journal_mode=WAL")
        self.out.executescript(SCHEMA)
        self._hall: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self.state, self.error = "starting", None  # starting | forwarding | offline
        self.max_backoff = max_backoff
        self.first_backoff = min(FIRST_BACKOFF, max_backoff)
        self._hold_until, self._backoff = 0.0, self.first_backoff  # the platform as a whole is away
        self.last_success: str | None = None  # when the platform last took a record (ISO time)
        self.failures = 0  # failed attempts in a row (link down, 5xx, a proxy's page): OFFLINE_AFTER is an outage
        self.behind = False  # the last collect read a full page: the hall's log has more (a backlog)

    # -- hall's log -> outbox -------------------------------------------------------------------

    def collect(self) -> int:
        """Put the records of new hall events in the outbox; how many."""
        if self._hall is None:
            self._hall = sqlite3.connect(Path(self.hall_db_path).resolve().as_uri() + "?mode=ro", uri=True,
                                         check_same_thread=False)
            self._hall.row_factory = sqlite3.Row
        last = self.out.execute("SELECT v FROM cursor WHERE k = 'event'").fetchone()
        last = last[0] if last else 0
        events = self._hall.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", [last, BATCH * 5]).fetchall()
        self.behind = len(events) == BATCH * 5
        added = 0
        self.out.execute("BEGIN IMMEDIATE")
        try:
            for ev in events:
                rec = record_of(self.hall, dict(ev), self._hall, self.names)
                if rec is not None:
                    body = json.dumps(self.mapping.apply(rec), ensure_ascii=False)
                    self.out.execute("INSERT OR IGNORE INTO records (id, event_id, kind, hall, day, body) VALUES (?, ?, ?, ?, ?, ?)",
                                     [rec["id"], ev["id"], rec["kind"], self.hall, rec["day"], body])
                    added += 1
                last = ev["id"]
            self.out.execute("INSERT OR REPLACE INTO cursor (k, v) VALUES ('event', ?)", [last])
            self.out.execute("COMMIT")
        except BaseException:
            self.out.execute("ROLLBACK")
            raise
        return added

    # -- outbox -> platform ---------------------------------------------------------------------

    def send_due(self) -> dict[str, int]:
        counts = {"sent": 0, "rejected": 0, "retry": 0}
        if self.clock() < self._hold_until:
            return counts
        due = self.out.execute("SELECT * FROM records WHERE state = 'pending' AND next_at <= ? ORDER BY event_id LIMIT ?",
                               [self.clock(), BATCH]).fetchall()
        for row in due:
            try:
                status, answer = self._post(row["id"], row["body"])
            except (OSError, http.client.HTTPException) as exc:
                self._retry(row, f"link: {exc or type(exc).__name__}")
                counts["retry"] += 1
                break  # the platform is away: the rest waits too
            if answer is None:  # a 2xx page that is not JSON: a portal or proxy of the network, not the platform
                self._retry(row, f"answer {status} is not the platform's (not JSON)")
                counts["retry"] += 1
                break
            if 200 <= status < 300 or (status == 409 and answer.get("error") == "duplicate"):
                self.last_success = datetime.now().astimezone().isoformat(timespec="seconds")
                self.out.execute("UPDATE records SET state = 'sent', sent_at = ?, error = NULL, attempts = attempts + 1 "
                                 "WHERE id = ?", [self.last_success, row["id"]])
                counts["sent"] += 1
                self._backoff, self.failures = self.first_backoff, 0
            elif not 400 <= status < 500 or status in LINK_STATUSES:
                self._retry(row, f"platform answered {status}")
                counts["retry"] += 1
                break
            else:
                self.failures = 0  # the platform is there and answered about this record
                reason = answer.get("message") or answer.get("error") or f"HTTP {status}"
                self.out.execute("UPDATE records SET state = 'rejected', reason = ?, attempts = attempts + 1 WHERE id = ?",
                                 [str(reason)[:500], row["id"]])
                counts["rejected"] += 1
        return counts

    def _retry(self, row: sqlite3.Row, error: str) -> None:
        wait = min(self.max_backoff, self.first_backoff * 2 ** row["attempts"]) * random.uniform(0.5, 1.0)
        self.out.execute("UPDATE records SET attempts = attempts + 1, next_at = ?, error = ? WHERE id = ?",
                         [self.clock() + wait, error, row["id"]])
        self._hold_until = self.clock() + self._backoff * random.uniform(0.5, 1.0)
        self._backoff = min(self.max_backoff, self._backoff * 2)
        self.failures += 1
        self.error = error
        if self.failures >= OFFLINE_AFTER:  # one lost answer on a flaky network is no outage (nor an alert)
            self.state = "offline"

    def _post(self, record_id: str, body: str) -> tuple[int, dict | None]:
        conn = connection(self.base, TIMEOUT)
        try:  # the whole request within TIMEOUT, however slowly the platform trickles its answer
            status, raw = exchange(conn, "POST", self.base.path.rstrip("/") + "/records", body.encode("utf-8"),
                                   {"Content-Type": "application/json", "Idempotency-Key": record_id,
                                    "Authorization": f"Bearer {self.token}"}, TIMEOUT)
        finally:
            conn.close()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:  # a 2xx the platform did not write; any other status says enough by itself
            return status, None if 200 <= status < 300 else {}
        return status, answer if isinstance(answer, dict) else {}

    def step(self) -> dict[str, int]:
        added = self.collect()
        counts = self.send_due()
        if not counts["retry"] and (counts["sent"] or not self.outbox()["failing"]):
            self.state, self.error = "forwarding", None  # records went through, or none is waiting on a fault
        return {"collected": added, **counts}

    def outbox(self) -> dict[str, int]:
        """Records waiting (`pending`; `failing`: of them, those a fault sent back) and rejected."""
        out = {"pending": 0, "failing": 0, "rejected": 0}
        for state, failed, n in self.out.execute(  # through idx_records_due: sent records are not read
                "SELECT state, error IS NOT NULL, COUNT(*) FROM records WHERE state IN ('pending', 'rejected') "
                "GROUP BY 1, 2"):
            out[state] += n
            out["failing"] += n if state == "pending" and failed else 0
        return out

    def caught_up(self, step: dict[str, int]) -> bool:
        """Whether the round `step` left nothing to do at once: no page of the hall's log unread and no
        full batch sent (a backlog — a month of history, a day the platform was away — goes on without
        waiting; only a caught-up forwarder waits for new records)."""
        return not self.behind and step["sent"] < BATCH

    def run(self, idle: float = 1.0) -> None:
        while not self._stop.is_set():
            done = True
            try:
                done = self.caught_up(self.step())
            except sqlite3.Error as exc:  # the hall's file busy or away: try again shortly
                log.warning("province forwarder: %s", exc)
            if done:
                self._stop.wait(idle)

    def halt(self) -> None:
        self._stop.set()

    def rejected(self) -> list[dict]:
        return listing(self.out)

    def close(self) -> None:
        if self._hall is not None:
            self._hall.close()
        self.out.close()
