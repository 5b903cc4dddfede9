"""Applying a batch of a hall's events: in order, each (hall, event id) once, high-water mark answered.

The hall sends `after` (the last id it believes the county holds) and its next events in id order.
Under the hall's row lock the county drops what it holds already (ids at or below its mark: a batch
re-sent because the answer was lost), appends the rest with COPY and moves the mark, in one
transaction: a county killed mid-batch applied all of it or none. `after` above the county's mark
means events are missing in between (a county restored from a backup): 409 `gap` with the county's
mark, and the hall resends from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from server.errors import Conflict, HallqError, Invalid
from server.stats import event_day

from . import live, rollup
from .db import Database
from .figures import COUNTED
from .partitions import Partitions, month_of

MAX_BATCH = 5000  # events per request; the shipper sends 500
TEXT_FIELDS = ("actor", "ticket", "ticket_code", "service")
COLUMNS = ("hall", "event_id", "day", "ts", "type", "actor", "window_number", "ticket", "ticket_code",
           "service", "data")


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
        row = (hall, eid, day, ts, kind, texts[0], window, texts[1], texts[2], texts[3], data_text)
        out.append(Event(eid, day, row, data))
        last = eid
    return after, out


def high_water(db: Database, hall: str) -> int:
    with db.connection() as conn:
        row = conn.execute("UPDATE halls SET last_contact_at = now() WHERE code = %s RETURNING high_water", [hall]).fetchone()
    if row is None:
        raise HallqError(f"hall {hall} is not registered", field="hall")
    return int(row[0])


def apply(db: Database, partitions: Partitions, hall: str, after: int, events: list[Event]) -> Applied:
    partitions.ensure({month_of(e.day) for e in events})
    with db.connection() as conn:
        mark = int(conn.execute("SELECT high_water FROM halls WHERE code = %s FOR UPDATE", [hall]).fetchone()[0])
        if after > mark:
            raise Gap(f"the county holds events up to {mark} only; send from there", mark)
        new = [e for e in events if e.id > mark]
        if new:
            with conn.cursor().copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for e in new:
                    copy.write_row(e.row)
            mark = new[-1].id
            # The figures of the days this batch touches, and the live state, in the same transaction:
            # a batch applied is a batch counted, once.
            rollup.refresh(conn, hall, {e.day for e in new if e.row[4] in COUNTED}
                           | rollup.appeal_days([{"type": e.row[4], "data": e.data} for e in new]))
            live.update(conn, hall, [e.as_dict() for e in new])
            conn.execute("UPDATE halls SET high_water = %s, last_ingest_at = now(), last_event_ts = %s "
                         "WHERE code = %s", [mark, new[-1].row[3], hall])
        else:
            conn.execute("UPDATE halls SET last_ingest_at = now() WHERE code = %s", [hall])
        conn.execute("INSERT INTO ingests (hall, after_id, high_water, applied, skipped) VALUES (%s, %s, %s, %s, %s)",
                     [hall, after, mark, len(new), len(events) - len(new)])
    return Applied(mark, len(new), len(events) - len(new))
