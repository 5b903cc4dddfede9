"""Tickets and appointments: the kiosk's and the citizen's side of the API."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, current_app, g, jsonify, request, send_file

from hallq.config import media_folder

from ..auth import actor, current_token, require
from ..errors import HallqError, Invalid, NotFound, TooMany
from ..views import hall_view, iso, menu_view, ticket_view
from . import requests, schemas
from .body import json_body
from .inputs import calendar_date
from .spec import query, spec

bp = Blueprint("tickets", __name__)


def engine():
    return current_app.config["ENGINE"]


@bp.get("/services")
@spec("Menu: services and 一件事 bundles with waiting count and estimated wait", answer=schemas.Menu,
      says="the menu", public=True)
def services():
    """The kiosk menu: every matter with how many wait and the estimated wait for a new ticket."""
    return jsonify({"hall": hall_view(engine()), "services": menu_view(engine())})


@bp.get("/media/<name>")
@spec("A picture the hall display shows in turn (hall.media; public, like the display)", says="the picture",
      content={"image/png": {"schema": {"type": "string", "format": "binary"}},
               "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, errors=(404,), public=True)
def media(name: str):
    """A picture the hall display shows (public, like the display itself): only names the hall lists,
    from media/ beside its config file."""
    config = engine().config
    folder = media_folder(config.source)
    if name not in config.media or folder is None or not (folder / name).is_file():
        raise NotFound(f"no picture {name!r} on this hall's display", field="name")
    return send_file(folder / name, mimetype="image/png" if name.endswith(".png") else "image/jpeg", max_age=60)


def _hall_priorities(op: dict, config) -> None:
    """A ticket's priority is one of this hall's classes."""
    op["requestBody"]["content"]["application/json"]["schema"]["properties"]["priority"]["enum"] = list(config.priorities)


@bp.post("/tickets")
@spec("Issue a ticket", body=schemas.TicketRequest, answer=schemas.Ticket, says="the new ticket, with its secret id",
      status=201, errors=(400, 401, 403, 404, 409, 422, 429), hook=_hall_priorities)
@require("kiosk", "admin", "supervisor", "window", "caller")
def issue():
    data = json_body()
    fields = dict(
        priority=data.get("priority"), appointment=data.get("appointment"), phone=data.get("phone"),
        channel=data.get("channel") or "kiosk", id_number=data.get("id_number"), name=data.get("name"),
        priority_reason=data.get("priority_reason"), actor=actor(), sms=bool(data.get("sms")),
    )
    if data.get("appointment") is not None:
        _within_lookup_limit()
    try:
        # A retry with the same Idempotency-Key (or request_id) never gets here: server/api/requests.py
        # answers it with the first answer.
        t = engine().issue(data["service"], request_id=requests.current_key(), **fields)
    except HallqError as refusal:
        if refusal.field == "appointment":  # a wrong code is a guess: it counts like a look-up
            current_app.config["LOOKUP_LIMIT"].count(_lookup_keys())
        raise
    # Only a kiosk gets the secret id back (it prints it as the QR code). Staff issuing for a
    # citizen get the number but not the id, which would let them rate in the citizen's name.
    kiosk = g.token.role == "kiosk"
    # A new ticket's position is what was printed on it a moment ago: estimated once, not twice.
    body = ticket_view(engine(), t, secret=kiosk, position=getattr(t, "issue_estimate", None))
    return jsonify(body), 201, ({"Location": f"/api/v1/tickets/{t.id}"} if kiosk else {})


@requests.rebuilds("tickets.issue")
def _issued(row: dict, events: list[dict]) -> dict:
    token = current_token()
    return ticket_view(engine(), engine().ticket(row["ticket_id"]), secret=token is not None and token.role == "kiosk")


@bp.get("/tickets/<ticket_id>")
@spec("A ticket's public status (the QR code's target; the id is unguessable)", answer=schemas.Ticket,
      says="the ticket", errors=(404,), public=True)
def show(ticket_id: str):
    """Public: the id is unguessable and is what the ticket's QR code carries."""
    return jsonify(ticket_view(engine(), engine().ticket(ticket_id), public=True, secret=True))


@bp.post("/tickets/find")
@spec("Reopen a ticket page: today's ticket code and the last 4 digits of its phone give that one ticket with its "
      "id, or 404 (never a list); no token needed; 30 tries a minute per address and token (429, Retry-After)",
      body=schemas.FindTicket, answer=schemas.Ticket, says="the ticket, with its id and page",
      errors=(400, 401, 403, 404, 422, 429), public=True)
def find_ticket():
    """The citizen reopens their ticket page (the browser was closed): today's ticket code and the
    last 4 digits of the phone it was taken with give back that one ticket, or 404 — never a list,
    and a wrong code and wrong digits answer alike. Every try counts against the look-up limit."""
    _within_lookup_limit()
    current_app.config["LOOKUP_LIMIT"].count(_lookup_keys())
    data = json_body()
    if not re.fullmatch(r"[0-9]{4}", data["phone_last4"]):
        raise Invalid("phone_last4 must be the last 4 digits of the phone number", field="phone_last4")
    if not re.fullmatch(r"[A-Za-z]{1,3}[0-9]{1,6}", data["code"].strip()):
        raise Invalid("code must be a ticket number such as A023", field="code")
    t = engine().find_ticket(data["code"], data["phone_last4"])
    if t is None:
        raise NotFound("no ticket of today with that number and phone (未找到该号码，请核对号码和手机尾号)",
                       field="code")
    return jsonify(ticket_view(engine(), t, public=True, secret=True))


@bp.post("/citizens/today")
@spec("What an ID card opens at the kiosk: that citizen's tickets today and today's appointments made with the ID "
      "(masked); kiosk and admin tokens, counted like appointment look-ups", body=schemas.CitizenToday,
      answer=schemas.CitizenTodayAnswer, says="tickets and appointments", errors=(400, 401, 403, 422, 429))
@require("kiosk", "admin")
def citizen_today():
    """What a citizen's ID card opens at the kiosk: their own tickets today and today's booked
    appointments made with that ID. Kiosk and admin only, counted like appointment look-ups."""
    _within_lookup_limit()
    current_app.config["LOOKUP_LIMIT"].count(_lookup_keys())
    data = json_body()
    tickets, appointments = engine().citizen_today(data["id_number"])
    kiosk = g.token.role == "kiosk"
    return jsonify({"tickets": [ticket_view(engine(), t, secret=kiosk) for t in tickets],
                    "appointments": [_appointment(r) for r in appointments]})


@bp.post("/appointments")
@spec("Record an appointment (from the booking platform)", body=schemas.AppointmentRequest,
      answer=schemas.Appointment, says="the appointment with its code", status=201,
      errors=(400, 401, 403, 404, 409, 422))
@require("admin", "supervisor")
def book():
    data = json_body()
    try:
        slot = datetime.fromisoformat(data["slot_start"])
    except ValueError as exc:
        raise Invalid("slot_start must be an ISO 8601 date-time, e.g. 2026-11-23T09:00", field="slot_start") from exc
    calendar_date(slot, "slot_start")  # the hall's time zone must not shift it past datetime's range
    row = engine().book(data["service"], slot, data["phone"], actor=actor(), id_number=data.get("id_number"),
                        sms=bool(data.get("sms")))
    return jsonify(_appointment(row)), 201


@bp.get("/appointments")
@spec("Today's booked appointments by phone number or by code (kiosk check-in); kiosk and admin tokens only, 30 "
      "look-ups a minute per token and per address (429, Retry-After)", answer=schemas.Appointments,
      says="appointments", errors=(401, 403, 422, 429), params=(query("phone"), query("code")))
@require("kiosk", "admin")
def find():
    """Today's booked appointments by ?phone=, or by ?code= (the kiosk's check-in by code needs the
    appointment's service before it can issue). Only the kiosk and the admin read codes (a code is the
    citizen's check-in key), and every look-up counts against the limit."""
    _within_lookup_limit()
    current_app.config["LOOKUP_LIMIT"].count(_lookup_keys())
    phone, code = request.args.get("phone"), request.args.get("code")
    if code:
        rows = engine().store.rows("SELECT * FROM appointments WHERE code = ? AND day = ? AND state = 'booked'",
                                   [code, engine().today()])
        return jsonify({"appointments": [_appointment(r) for r in rows]})
    if not phone:
        raise Invalid("give ?phone= or ?code= to look up today's appointments", field="phone")
    return jsonify({"appointments": [_appointment(r) for r in engine().find_appointments(phone)]})


def _lookup_keys() -> tuple[tuple[str, str], ...]:
    token = getattr(g, "token", None)
    address = ("address", request.remote_addr or "")
    return (("token", token.name), address) if token is not None else (address,)


def _within_lookup_limit() -> None:
    wait = current_app.config["LOOKUP_LIMIT"].wait(_lookup_keys())
    if wait > 0:
        seconds = max(1, round(wait))
        raise TooMany(f"too many appointment look-ups from this token or address; try again in {seconds} s "
                      f"(预约查询过于频繁，请 {seconds} 秒后再试)", field="appointment",
                      code="too_many_lookups", retry_after=wait)


def _appointment(row: dict) -> dict:
    from ..privacy import mask_phone

    matter = engine().config.matter(row["service"])
    slot = datetime.fromisoformat(row["slot_start"])
    return {"code": row["code"], "service": row["service"], "service_name": matter.name if matter else None,
            "slot_start": iso(slot), "state": row["state"], "phone": mask_phone(row["phone"]),
            "id_number": row.get("id_number")}
