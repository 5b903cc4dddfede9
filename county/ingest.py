"""Applying a batch of a hall's events: in order, each (hall, event id) once, high-water mark answered.

The hall sends `after` (the last id it believes the county holds) and its next events in id order.
Under the hall's row lock the county drops what it holds already (ids at or below its mark: a batch
re-sent because the answer was lost), appends the rest with COPY and moves the mark, in one
transaction: a county killed mid-batch applied all of it or none. `after` above the county's mark
means events are missing in between (a county restored from a backup): 409 `gap` with the county's
mark, and the hall resends from there.

A hall restored from a backup (docs/county.md, "A hall restored from a backup") numbers its new events
from the backup's last id on, ids the county already holds for other events. Each event comes with
its SM3 link (server/audit_chain.py), which the county keeps, and the batch with the link of its
`after` event: a different link for that id, a re-sent event that is not the one the county holds,
or an empty batch saying the hall's log ends below the county's mark at an event the county cannot
match, is 409 `diverged`. The hall is marked diverged (halls.diverged) and every batch is refused
until the county's admin runs `hallq county rebase` (county/rebase.py). Events shipped before the
links (NULL) are compared by timestamp and type only where that is all there is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from psycopg.types.json import Jsonb

from server.errors import Conflict, HallqError, Invalid
from server.stats import event_day

from . import live, rollup
from .db import Database
from .figures import COUNTED
from .partitions import Partitions, month_of

MAX_BATCH = 5000  # events per request; the shipper sends 500
TEXT_FIELDS = ("actor", "ticket", "ticket_code", "service")
COLUMNS = ("hall", "event_id", "day", "ts", "type", "actor", "window_number", "ticket", "ticket_code",
           "service", "data", "link")
LINK = re.compile(r"^[0-9a-f]{64}$")  # an SM3 link as server/audit_chain.py writes it
MAX_PROBES = 1000


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _grade(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5


def _case(v: object) -> bool:  # the county's SQL reads it as (data->>'case')::int
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v < 2**31


def _text_or_none(v: object) -> bool:
    return v is None or isinstance(v, str)


# The data fields the county's figures, live state and case pages read (rollup.py, live.py, cases.py,
# server/stats.py), typed as the hall writes them: (check, what, required). An event that breaks one
# is refused here, naming it, instead of a 500 in the middle of the figures or the case list (a
# case.opened whose "case" was not a number made /county/cases answer 500 for every user).
NAMES = {k: (_text_or_none, "text", False) for k in ("department", "service_name", "staff_name")}
READ_FIELDS: dict[str, dict] = {
    "ticket.called": {"waited_minutes": (_number, "a number of minutes", True)},
    "ticket.finished": {"state": (lambda v: isinstance(v, str), "the end state", True)},
    "rating.recorded": {"bad": (lambda v: isinstance(v, bool), "true or false", True),
                        "grade": (_grade, "a grade 1..5", False), "channel": (_text_or_none, "text", False)},
    "appeal.decided": {"upheld": (lambda v: isinstance(v, bool), "true or false", False),
                       "grade": (_grade, "a grade 1..5", False)},
    "case.opened": {"case": (_case, "the hall's case number", True)},
    "case.updated": {"case": (_case, "the hall's case number", True), "action": (_text_or_none, "text", False)},
}


def _check_read_fields(kind: str, data: dict, where: str) -> None:
    for key, (ok, what, required) in {**NAMES, **READ_FIELDS.get(kind, {})}.items():
        if key in data and data[key] is None and not required:
            continue
        if (key in data or required) and not ok(data.get(key)):
            raise Invalid(f"{kind}: {key} must be {what}", field=f"{where}.data.{key}")


class Gap(Conflict):
    code = "gap"

    def __init__(self, message: str, high_water: int) -> None:
        super().__init__(message, field="after")
        self.high_water = high_water

    def to_json(self) -> dict:
        return {**super().to_json(), "high_water": self.high_water}


class Diverged(Conflict):
    """The hall's log and the county's differ (a hall restored from a backup): nothing is applied."""

    code = "diverged"

    def __init__(self, message: str, after: int, high_water: int) -> None:
        super().__init__(message, field="after")
        self.after, self.high_water = after, high_water

    def to_json(self) -> dict:
        return {**super().to_json(), "after": self.after, "high_water": self.high_water}


def _link(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not LINK.match(value):
        raise Invalid("the event's SM3 link: 64 lowercase hex digits, or null", field=where)
    return value


@dataclass(frozen=True)
class Event:
    id: int
    day: date
    row: tuple
    data: dict

    def as_dict(self) -> dict:
        """The event as county/live.py folds it."""
        r = self.row
        return {"type": r[4], "ts": r[3], "window": r[6], "ticket": r[7], "service": r[9], "data": self.data}


@dataclass(frozen=True)
class Applied:
    high_water: int
    applied: int
    skipped: int


def _text(value: object, where: str, limit: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise Invalid(f"a string of at most {limit} characters without NUL", field=where)
    return value


@dataclass(frozen=True)
class Batch:
    after: int
    after_link: str | None  # the hall's link of its event `after` (None: an old shipper, or after = 0)
    events: list[Event]


def parse_batch(hall: str, body: object) -> Batch:
    """`parse`, with the link of the batch's `after` event."""
    after, events = parse(hall, body)
    return Batch(after, _link(body.get("after_link"), "after_link"), events)


def parse(hall: str, body: object) -> tuple[int, list[Event]]:
    """The batch's `after` and its events, checked; every refusal names the field (422)."""
    if not isinstance(body, dict):
        raise Invalid("a JSON object with after and events", field="body")
    after, events = body.get("after"), body.get("events")
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise Invalid("the last event id the hall believes the county holds, 0 or more", field="after")
    if not isinstance(events, list) or len(events) > MAX_BATCH:
        raise Invalid(f"a list of at most {MAX_BATCH} events", field="events")
    out, last = [], after
    for i, ev in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(ev, dict):
            raise Invalid("an event object", field=where)
        eid = ev.get("id")
        if not isinstance(eid, int) or isinstance(eid, bool) or not last < eid < 2**63:
            raise Invalid(f"event ids rise strictly after {last}", field=f"{where}.id")
        ts = ev.get("ts")
        try:
            stamp = datetime.fromisoformat(ts) if isinstance(ts, str) and len(ts) <= 40 else None
        except ValueError:
            stamp = None
        if stamp is None or stamp.tzinfo is None:
            raise Invalid("the hall's ISO timestamp with its UTC offset", field=f"{where}.ts")
        kind = _text(ev.get("type"), f"{where}.type", 64)
        if not kind:
            raise Invalid("the event type", field=f"{where}.type")
        data = ev.get("data")
        if not isinstance(data, dict):
            raise Invalid("an object", field=f"{where}.data")
        _check_read_fields(kind, data, where)
        data_text = json.dumps(data, ensure_ascii=False)
        if "\\u0000" in data_text or len(data_text) > 16_000:
            raise Invalid("at most 16,000 characters of JSON without NUL", field=f"{where}.data")
        window = ev.get("window")
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or not 0 <= window < 2**31):
            raise Invalid("a window number", field=f"{where}.window")
        try:
            day = date.fromisoformat(event_day({"type": kind, "ts": ts, "data": data}))
        except (TypeError, ValueError):
            raise Invalid("the day of a closed ticket as YYYY-MM-DD", field=f"{where}.data.day") from None
        if not 2000 <= day.year <= 2099:
            raise Invalid("the hall's day must lie in 2000..2099", field=f"{where}.ts")
        texts = [_text(ev.get(k), f"{where}.{k}") for k in TEXT_FIELDS]
        link = _link(ev.get("link"), f"{where}.link")
        row = (hall, eid, day, ts, kind, texts[0], window, texts[1], texts[2], texts[3], data_text, link)
        out.append(Event(eid, day, row, data))
        last = eid
    return after, out


def high_water(db: Database, hall: str) -> int:
    return mark(db, hall)[0]


def mark(db: Database, hall: str) -> tuple[int, dict | None]:
    """The hall's high-water mark, and its divergence as recorded (None: its log and the county's agree)."""
    with db.connection() as conn:
        row = conn.execute("UPDATE halls SET last_contact_at = now() WHERE code = %s RETURNING high_water, diverged",
                           [hall]).fetchone()
    if row is None:
        raise HallqError(f"hall {hall} is not registered", field="hall")
    return int(row[0]), row[1]


def _held(conn, hall: str, ids: list[int]) -> dict[int, tuple]:
    """The county's (ts, type, data, link) of `hall`'s events `ids`."""
    if not ids:
        return {}
    rows = conn.execute("SELECT event_id, ts, type, data, link FROM events WHERE hall = %s AND event_id = ANY(%s)",
                        [hall, ids]).fetchall()
    return {int(r[0]): r[1:] for r in rows}


def _same(held: tuple, ts: str, kind: str, link: str | None, data: dict | None = None) -> bool:
    """Whether the county's event is the hall's: by SM3 link where both have one, else by content."""
    if held[3] is not None and link is not None:
        return held[3] == link
    return held[0] == ts and held[1] == kind and (data is None or held[2] == data)


def divergence(conn, hall: str, mark: int, batch: Batch) -> str | None:
    """Why `batch` cannot be the continuation of the county's copy of the hall's log, or None."""
    after, events = batch.after, batch.events
    resent = [e for e in events if e.id <= mark]
    held = _held(conn, hall, [after] * (after > 0) + [e.id for e in resent])
    at = held.get(after)
    if at is not None and at[3] is not None and batch.after_link is not None and at[3] != batch.after_link:
        return f"event {after} is not the one the county holds (its SM3 link differs)"
    if not events and after < mark and not (at is not None and at[3] is not None and at[3] == batch.after_link):
        return (f"the hall's log ends at event {after}, below the county's {mark}, "
                f"{'and that event differs' if at is not None and batch.after_link else 'and it cannot be matched'}")
    for e in resent:
        h = held.get(e.id)
        if h is not None and not _same(h, e.row[3], e.row[4], e.row[11], e.data):
            return f"re-sent event {e.id} is not the one the county holds"
    return None


def apply(db: Database, partitions: Partitions, hall: str, after: int, events: list[Event],
          after_link: str | None = None) -> Applied:
    partitions.ensure({month_of(e.day) for e in events})
    batch = Batch(after, after_link, events)
    refused: Diverged | None = None
    with db.connection() as conn:
        mark, diverged = conn.execute("SELECT high_water, diverged FROM halls WHERE code = %s FOR UPDATE",
                                      [hall]).fetchone()
        mark = int(mark)
        if diverged is not None:
            raise Diverged(f"the hall's log and the county's differ since event {diverged['after']} "
                           f"({diverged['reason']}); shipping waits for the county's `hallq county rebase {hall}`",
                           int(diverged["after"]), mark)
        if after > mark:
            raise Gap(f"the county holds events up to {mark} only; send from there", mark)
        why = divergence(conn, hall, mark, batch)
        if why is not None:  # recorded (committed), then refused: the county's pages show it
            record = {"at": datetime.now().astimezone().isoformat(timespec="seconds"), "after": after,
                      "high_water": mark, "reason": why, "common": None}
            conn.execute("UPDATE halls SET diverged = %s WHERE code = %s", [Jsonb(record), hall])
            refused = Diverged(f"{why}: was the hall's database restored from a backup? Shipping waits for "
                               f"the county's `hallq county rebase {hall}`", after, mark)
            new: list[Event] = []
        else:
            new = [e for e in events if e.id > mark]
            mark = _append(conn, hall, mark, new)
            conn.execute("INSERT INTO ingests (hall, after_id, high_water, applied, skipped) "
                         "VALUES (%s, %s, %s, %s, %s)", [hall, after, mark, len(new), len(events) - len(new)])
    if refused is not None:
        raise refused
    return Applied(mark, len(new), len(events) - len(new))


def _append(conn, hall: str, mark: int, new: list[Event]) -> int:
    """Append `new` (ids above the mark) with their figures and live state; the new mark."""
    if not new:
        conn.execute("UPDATE halls SET last_ingest_at = now() WHERE code = %s", [hall])
        return mark
    with conn.cursor().copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for e in new:
            copy.write_row(e.row)
    # The figures of the days this batch touches, and the live state, in the same transaction:
    # a batch applied is a batch counted, once.
    rollup.refresh(conn, hall, {e.day for e in new if e.row[4] in COUNTED}
                   | rollup.appeal_days([{"type": e.row[4], "data": e.data} for e in new]))
    live.update(conn, hall, [e.as_dict() for e in new])
    conn.execute("UPDATE halls SET high_water = %s, last_ingest_at = now(), last_event_ts = %s "
                 "WHERE code = %s", [new[-1].id, new[-1].row[3], hall])
    return new[-1].id


def compare(db: Database, hall: str, body: object) -> dict:
    """A diverged hall looks for the last event it shares with the county: `events` (at most
    MAX_PROBES of {id, ts, type, link}) answers the ids the county holds the same. With `common`
    (the id it found: the same, every probe above it not), that is recorded for `hallq county
    rebase`. Reads only, but for that record."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list) or len(body["events"]) > MAX_PROBES:
        raise Invalid(f"a JSON object with events: at most {MAX_PROBES} {{id, ts, type, link}}", field="events")
    probes = []
    for i, p in enumerate(body["events"]):
        where = f"events[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("id"), int) or isinstance(p["id"], bool) \
                or not 0 < p["id"] < 2**63:
            raise Invalid("an event id", field=f"{where}.id")
        ts, kind = _text(p.get("ts"), f"{where}.ts", 40), _text(p.get("type"), f"{where}.type", 64)
        probes.append((p["id"], ts, kind, _link(p.get("link"), f"{where}.link")))
    common = body.get("common")
    if common is not None and (not isinstance(common, int) or isinstance(common, bool) or common < 0):
        raise Invalid("the last event id the hall shares with the county", field="common")
    with db.connection() as conn:
        mark, diverged = conn.execute("SELECT high_water, diverged FROM halls WHERE code = %s FOR UPDATE",
                                      [hall]).fetchone()
        held = _held(conn, hall, [p[0] for p in probes])
        same = sorted(i for i, ts, kind, link in probes if i in held and _same(held[i], ts, kind, link))
        if common is not None:
            if diverged is None:
                raise Conflict("the county holds no divergence for this hall", field="common", code="not_diverged")
            if common > mark or (common and common not in same) or any(i > common for i in same):
                raise Invalid("common must be a probe the county holds the same, with none above it the same",
                              field="common")
            conn.execute("UPDATE halls SET diverged = diverged || %s WHERE code = %s",
                         [Jsonb({"common": common}), hall])
    return {"hall": hall, "high_water": int(mark), "same": same, "diverged": diverged is not None}
