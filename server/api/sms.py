"""What the SMS notifier (notifier/, `hallq notify`) reads and reports, and the citizen's opt-out.

The notifier holds a `notifier` token: it reads which citizens who agreed to SMS are due a message
(their phone numbers in full — it must send to them — and nothing of anyone else), and reports a
citizen's TD reply. Every read of full numbers needs that token (or admin)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import actor, require
from ..errors import Invalid
from ..views import iso
from . import schemas
from .body import json_body
from .inputs import calendar_date
from .spec import query, spec

bp = Blueprint("sms", __name__)


def engine():
    return current_app.config["ENGINE"]


@bp.get("/sms/watch")
@spec("Today's live tickets whose citizen agreed to SMS, with the full phone, state, people ahead and window "
      "(notifier and admin tokens)", answer=schemas.SmsWatch, says="tickets", errors=(401, 403))
@require("notifier", "admin")
def watch():
    """Today's live tickets whose citizen agreed to SMS: code, phone, state, people ahead, window."""
    return jsonify({"now": iso(engine().now()), "tickets": engine().sms_watch()})


@bp.get("/sms/reminders")
@spec("Booked appointments of a day whose citizen agreed to SMS (the reminder the day before; notifier and admin "
      "tokens)", answer=schemas.SmsReminders, says="appointments", errors=(401, 403, 422),
      params=(query("day", required=True),))
@require("notifier", "admin")
def reminders():
    """Booked appointments of ?day=YYYY-MM-DD whose citizen agreed to SMS (reminders the day before)."""
    from datetime import date

    raw = request.args.get("day") or ""
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid("day must be a date, e.g. 2026-12-02", field="day") from exc
    calendar_date(day, "day")
    config = engine().config
    rows = engine().sms_reminders(day.isoformat())
    for r in rows:
        matter = config.matter(r["service"])
        r["service_name"] = matter.name if matter else r["service"]
    return jsonify({"day": day.isoformat(), "appointments": rows})


@bp.post("/sms/opt-out")
@spec("The citizen replied TD: no more SMS to that phone (notifier and admin)", body=schemas.Phone,
      answer=schemas.SwitchedOff, says="how many tickets and appointments were switched off", errors=(401, 403, 422))
@require("notifier", "admin")
def opt_out_phone():
    """The citizen replied TD: no more SMS to that phone for its live tickets and booked appointments."""
    data = json_body()
    return jsonify({"result": "accepted", "switched_off": engine().sms_opt_out(phone=data["phone"], actor=actor())})


@bp.post("/tickets/<ticket_id>/sms-opt-out")
@spec("The link on the ticket page: no more SMS for this ticket (the id is the key; no token)",
      answer=schemas.SwitchedOff, says="switched off", errors=(404,), public=True)
def opt_out_ticket(ticket_id: str):
    """The link on the ticket page: no more SMS for this ticket (the id is the key; no token)."""
    return jsonify({"result": "accepted", "switched_off": engine().sms_opt_out(ticket_id=ticket_id, actor="citizen")})
