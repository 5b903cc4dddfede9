"""Cross-level referral (帮办代办 / 就近办): a matter a village station or township window cannot
finish goes up the tree with an appointment for the citizen.

Halls only ever call the county, so a referral is a county record both halls poll for:

    referring hall  POST /referrals            → routed to the hall above that serves the matter
    receiving hall  GET  /referrals/incoming   → books an appointment in its own booking
                    POST /referrals/<from>/<id>/step  booked (code, slot) | refused | served | no_show | not_done
    referring hall  GET  /referrals/outgoing   → what changed since it last looked
                    POST /referrals/<id>/seen  (the appointment code is erased once the station has it)

Every step is idempotent: the referral is keyed by (referring hall, its own id) and a step said
again is answered as before. Routing reads the halls' levels and the catalogue each hall reports
running (county/catalogue.py): the nearest level above the referrer whose hall offers the matter.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.referrals import OUTCOME_STATES as OUTCOMES

from .db import Database
from .registry import LEVELS

STEPS = {"booked": ("pending",), "refused": ("pending",), **{o: ("booked",) for o in OUTCOMES}}
ID = r"^[A-Za-z0-9_-]{8,40}$"


class Material(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(..., min_length=1, max_length=100)
    checked: bool


class NewReferral(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(..., pattern=ID)
    matter: str = Field(..., min_length=1, max_length=32)
    phone: str = Field(..., pattern=r"^1[0-9]{10}$")
    id_number: str | None = Field(None, pattern=r"^[0-9]{17}[0-9Xx]$")
    sms: bool = False
    materials: list[Material] = []
    to: str | None = Field(None, min_length=1, max_length=32)  # a hall the referrer names itself


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    step: str = Field(..., pattern="^(" + "|".join(STEPS) + ")$")
    appointment: str | None = Field(None, pattern=r"^[0-9]{8}$")
    slot_start: str | None = Field(None, max_length=40)
    reason: str | None = Field(None, max_length=200)


def _parse(model: type[BaseModel], data: object) -> BaseModel:
    if not isinstance(data, dict):
        raise Invalid("a JSON object is needed", field="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        raise Invalid(f"{where}: {first['msg']}", field=where or "body") from None


COLUMNS = ("from_hall", "id", "to_hall", "matter", "phone", "sms", "materials", "state", "appointment",
           "slot_start", "reason", "created_at", "updated_at")


def _row(values: tuple) -> dict:
    row = dict(zip(COLUMNS, values, strict=True))
    for key in ("created_at", "updated_at"):
        row[key] = row[key].isoformat()
    return row


def _offers(conn, hall: str, matter: str) -> bool:
    """The hall runs a catalogue release with the matter and has not said it does not offer it, or
    offers it as a local matter."""
    row = conn.execute("SELECT c.release, c.overrides, r.matters FROM hall_catalogue c LEFT JOIN catalogue_releases r "
                       "ON r.number = c.release WHERE c.hall = %s", [hall]).fetchone()
    if row is None:
        return False
    _, overrides, matters = row
    in_release = any(m["code"] == matter for m in matters or [])
    return (in_release and matter not in overrides.get("not_offered", [])) or matter in overrides.get("local_matters", [])


def route(conn, from_hall: str, matter: str) -> str | None:
    """The hall a referral of `matter` goes to: the nearest level above the referrer, then by code."""
    level = conn.execute("SELECT level FROM halls WHERE code = %s", [from_hall]).fetchone()[0]
    # LEVELS runs county, township, village: above a village come township, then county.
    for lv in reversed(LEVELS[:LEVELS.index(level)]):
        for (code,) in conn.execute("SELECT code FROM halls WHERE level = %s ORDER BY code", [lv]).fetchall():
            if _offers(conn, code, matter):
                return code
    return None


def create(db: Database, from_hall: str, data: object) -> tuple[dict, bool]:
    """Record a referral (or answer the one recorded under that id); (row, created)."""
    new = _parse(NewReferral, data)
    with db.connection() as conn:
        old = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM referrals WHERE from_hall = %s AND id = %s",
                           [from_hall, new.id]).fetchone()
        if old is not None:
            return _row(old), False
        if new.to is not None:
            if conn.execute("SELECT 1 FROM halls WHERE code = %s", [new.to]).fetchone() is None:
                raise NotFound(f"no hall {new.to}", field="to")
            if new.to == from_hall:
                raise Invalid("a hall does not refer to itself", field="to")
            to, state, reason = new.to, "pending", None
        else:
            to = route(conn, from_hall, new.matter)
            state, reason = ("pending", None) if to else ("refused", "上级中心均未开通该事项")
        row = conn.execute(
            "INSERT INTO referrals (from_hall, id, to_hall, matter, phone, id_number, sms, materials, state, reason) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {', '.join(COLUMNS)}",
            [from_hall, new.id, to, new.matter, new.phone, new.id_number.upper() if new.id_number else None, new.sms,
             json.dumps([m.model_dump() for m in new.materials], ensure_ascii=False), state, reason]).fetchone()
    return _row(row), True


def incoming(db: Database, hall: str) -> list[dict]:
    """Referrals waiting for the calling hall to book (with the ID number, which only it gets)."""
    with db.connection() as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)}, id_number FROM referrals WHERE to_hall = %s AND "
                            "state = 'pending' ORDER BY created_at", [hall]).fetchall()
    return [{**_row(r[:-1]), "id_number": r[-1]} for r in rows]


def step(db: Database, hall: str, from_hall: str, rid: str, data: object) -> dict:
    """The receiving hall reports a step; the same step again answers the row as it is."""
    s = _parse(Step, data)
    if s.step == "booked" and (s.appointment is None or s.slot_start is None):
        raise Invalid("a booked step names the appointment code and slot_start", field="appointment")
    with db.connection() as conn:
        row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM referrals WHERE from_hall = %s AND id = %s FOR UPDATE",
                           [from_hall, rid]).fetchone()
        if row is None:
            raise NotFound(f"no referral {from_hall}/{rid}", field="id")
        current = _row(row)
        if current["to_hall"] != hall:
            raise Forbidden("the referral goes to another hall", field="id")
        if current["state"] == s.step:
            return current
        if current["state"] not in STEPS[s.step]:
            raise Conflict(f"referral {rid} is {current['state']}: it cannot become {s.step}", field="step")
        row = conn.execute(
            "UPDATE referrals SET state = %s, appointment = COALESCE(%s, appointment), "
            "slot_start = COALESCE(%s, slot_start), reason = %s, updated_at = now(), "
            "id_number = CASE WHEN %s IN ('booked', 'refused') THEN NULL ELSE id_number END "
            f"WHERE from_hall = %s AND id = %s RETURNING {', '.join(COLUMNS)}",
            [s.step, s.appointment, s.slot_start, s.reason, s.step, from_hall, rid]).fetchone()
    return _row(row)


def outgoing(db: Database, hall: str) -> list[dict]:
    """The calling hall's referrals whose state it has not taken in yet."""
    with db.connection() as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM referrals WHERE from_hall = %s AND "
                            "state IS DISTINCT FROM from_seen ORDER BY updated_at", [hall]).fetchall()
    return [_row(r) for r in rows]


def seen(db: Database, hall: str, rid: str, data: object) -> dict:
    """The referring hall has taken in `state`; the appointment code leaves the county then."""
    state = data.get("state") if isinstance(data, dict) else None
    if not isinstance(state, str) or not re.fullmatch("|".join(("pending", *STEPS)), state):
        raise Invalid("state: the referral state the hall took in", field="state")
    with db.connection() as conn:
        row = conn.execute(
            "UPDATE referrals SET from_seen = state, appointment = CASE WHEN state = 'pending' THEN appointment "
            "ELSE NULL END WHERE from_hall = %s AND id = %s AND state = %s RETURNING id", [hall, rid, state]).fetchone()
        if row is None and conn.execute("SELECT 1 FROM referrals WHERE from_hall = %s AND id = %s",
                                        [hall, rid]).fetchone() is None:
            raise NotFound(f"no referral {rid}", field="id")
    return {"id": rid, "seen": state}


def listing(db: Database) -> list[dict]:
    """Every referral, newest first, without the citizens' phone numbers (the county's view)."""
    with db.connection() as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM referrals ORDER BY created_at DESC LIMIT 1000").fetchall()
    return [{k: v for k, v in _row(r).items() if k not in ("phone", "appointment")} for r in rows]
