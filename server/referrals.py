"""Cross-level referral (帮办代办 / 就近办) as this hall keeps it: the matters it passed up ("out")
and the ones it took in from below with the appointment it booked ("in").

A referral names a matter of the county catalogue the hall runs (server/catalogue.py), so its
materials are the catalogue's list, each ticked by the referring clerk or not. The hall only ever
talks to the county through server/referral_follower.py; every step here is a row and an event
(referral.sent, referral.booked, referral.refused, referral.served, referral.no_show,
referral.not_done) in this hall's own log.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timedelta

from . import booking, catalogue
from .errors import Conflict, Invalid
from .privacy import mask_id_number
from .tickets import FINISHED, NO_SHOW, OUTCOMES

SERVED = ("done", "accepted")  # 即办 and 承诺件受理 count as served; 办不成 and 一次性告知 as not done
OUTCOME_STATES = ("served", "no_show", "not_done")  # what a referral booked may end as
STATE_NAMES = {"pending": "待上级受理", "booked": "已预约", "refused": "未能受理", "served": "已办理",
               "no_show": "未到场", "not_done": "未办成"}


def refer(engine, matter: str, phone: str, materials: list[str], sms: bool = False,
          id_number: str | None = None, actor: str | None = None) -> dict:
    """Record a referral up the tree; the follower sends it to the county."""
    running = catalogue.applied(engine.store)
    if not running or matter not in running["matters"]:
        raise Invalid(f"{matter} is not a matter of the county catalogue this hall runs", field="matter")
    if not re.fullmatch(r"1[0-9]{10}", phone):
        raise Invalid("phone must be an 11-digit mobile number", field="phone")
    listed = running["matters"][matter]["materials"]
    unknown = [m for m in materials if m not in listed]
    if unknown:
        raise Invalid(f"{unknown[0]} is not among the catalogue's materials of {matter}", field="materials")
    if id_number is not None and not re.fullmatch(r"[0-9]{17}[0-9Xx]", id_number):
        raise Invalid("id_number must be an 18-character resident ID number", field="id_number")
    row = {"direction": "out", "from_hall": "", "id": secrets.token_urlsafe(12), "to_hall": None, "matter": matter,
           "phone": phone, "id_number": id_number.upper() if id_number else None, "sms": 1 if sms else 0,
           "materials": [{"name": m, "checked": m in materials} for m in listed], "state": "pending",
           "appointment": None, "slot_start": None, "reason": None, "created_at": engine.now().isoformat(),
           "synced": None}
    return engine.record_referral(row, "referral.sent", actor, materials_missing=[m for m in listed if m not in materials],
                                  sms=bool(sms))


def rows(engine, where: str = "1", params: list | None = None) -> list[dict]:
    out = engine.store.rows(f"SELECT * FROM referrals WHERE {where} ORDER BY created_at DESC", params or [])
    return [{**r, "materials": json.loads(r["materials"])} for r in out]


def view(row: dict) -> dict:
    """A referral as the staff API and the clerk page show it: the phone and ID masked."""
    return {"id": row["id"], "direction": row["direction"], "from_hall": row["from_hall"] or None,
            "to_hall": row["to_hall"], "matter": row["matter"], "phone": row["phone"][:3] + "****" + row["phone"][-4:],
            "sms": bool(row["sms"]), "materials": row["materials"], "state": row["state"],
            "state_name": STATE_NAMES[row["state"]], "appointment": row["appointment"], "slot_start": row["slot_start"],
            "reason": row["reason"], "created_at": row["created_at"], "updated_at": row["updated_at"],
            "at_county": row["synced"] is not None}


def sent(engine, row: dict, county: dict) -> None:
    """The county has the referral: keep where it went; the ID number is kept masked only now."""
    masked = mask_id_number(row["id_number"]) if row["id_number"] else None
    engine.record_referral({**row, "to_hall": county.get("to_hall"), "id_number": masked, "synced": "pending"}, None)


def took_in(engine, row: dict, county: dict) -> dict:
    """A state the county has for one of ours (booked with its code, refused, an outcome): logged.
    An outcome found with the booking unseen (the link was down through both) logs the booking
    first, so this hall's log has every step."""
    if county["state"] in OUTCOME_STATES and row["state"] == "pending" and county.get("appointment"):
        row = took_in(engine, row, {**county, "state": "booked", "reason": None})
    changed = {**row, "state": county["state"], "to_hall": county.get("to_hall"), "reason": county.get("reason"),
               "appointment": county.get("appointment") or row["appointment"],
               "slot_start": county.get("slot_start") or row["slot_start"], "synced": county["state"]}
    return engine.record_referral(changed, f"referral.{county['state']}", "county",
                                  slot_start=changed["slot_start"], reason=changed["reason"])


def book(engine, county: dict) -> None:
    """Book the citizen referred to us into the first slot with room (the hall's own booking rules);
    no slot in the booking horizon: refused, with the reason."""
    row = {"direction": "in", "from_hall": county["from_hall"], "id": county["id"], "to_hall": county["to_hall"],
           "matter": county["matter"], "phone": county["phone"],
           "id_number": mask_id_number(county["id_number"]) if county.get("id_number") else None,
           "sms": 1 if county["sms"] else 0, "materials": county["materials"], "state": "pending", "appointment": None,
           "slot_start": None, "reason": None, "created_at": engine.now().isoformat(), "synced": None}
    config, now = engine.config, engine.now()
    if config.matter(county["matter"]) is None:
        engine.record_referral({**row, "state": "refused", "reason": "本中心未开通该事项"}, "referral.refused", "county",
                               reason="本中心未开通该事项")
        return
    for day in booking.days(config, now):
        for slot in booking.slots(config, engine.store, county["matter"], day, now):
            if slot["left"] <= 0:
                continue
            try:
                engine.book(county["matter"], slot["start"], county["phone"], actor="county",
                            id_number=county.get("id_number"), sms=bool(county["sms"]), referral=row)
                return
            except Conflict:  # taken in between: the next slot
                continue
    engine.record_referral({**row, "state": "refused", "reason": "预约时段已满"}, "referral.refused", "county",
                           reason="预约时段已满")


def outcome(engine, row: dict, now: datetime) -> tuple[str, str] | None:
    """What became of the appointment a referral taken in was booked as: (state, reason), or None
    while it is still open."""
    appts = engine.store.rows("SELECT * FROM appointments WHERE code = ?", [row["appointment"]])
    if not appts:
        return None
    appt = appts[0]
    if appt["state"] == "cancelled":
        return "not_done", "群众取消预约"
    if appt["state"] == "booked":
        slot = datetime.fromisoformat(appt["slot_start"])
        if now > slot + timedelta(minutes=engine.config.appointments.checkin_after_minutes):
            return "no_show", "未按预约时间签到"
        return None
    tickets = engine.store.rows("SELECT state, outcome FROM tickets WHERE id = ?", [appt["ticket_id"]])
    if not tickets or tickets[0]["state"] not in (FINISHED, NO_SHOW):
        return None
    state, result = tickets[0]["state"], tickets[0]["outcome"]
    if state == NO_SHOW:
        return "no_show", "叫号未到"
    return ("served" if result in SERVED else "not_done"), OUTCOMES.get(result, result or "")


def close_outcomes(engine) -> None:
    """Log the outcome of every referral taken in whose appointment has one now."""
    now = engine.now()
    for row in rows(engine, "direction = 'in' AND state = 'booked'"):
        found = outcome(engine, row, now)
        if found is not None:
            engine.record_referral({**row, "state": found[0], "reason": found[1]}, f"referral.{found[0]}", "county",
                                   reason=found[1])
