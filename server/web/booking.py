"""The citizens' booking page (预约): /book to book, /book/manage to cancel or change by code.

Public, phone-sized, server-rendered forms. Every POST carries the CSRF token of the visitor's
session cookie and counts against the look-up limit per address (server/lookup_limit.py, 30 a
minute), so nobody walks through appointment codes or floods the slots. Cancelling and changing
need the code and the phone's last 4 digits, and a wrong pair answers like a missing code.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from flask import Blueprint, current_app, render_template, request

from .. import booking
from ..csrf import check_csrf
from ..errors import HallqError, Invalid, TooMany
from ..privacy import mask_phone
from .access import chinese as _generic

bp = Blueprint("booking", __name__)


def _engine():
    return current_app.config["ENGINE"]


def _limit() -> None:
    """Every booking form sent counts; over the limit a 429 page says when to try again."""
    limit = current_app.config["LOOKUP_LIMIT"]
    keys = (("address", request.remote_addr or ""),)
    wait = limit.wait(keys)
    if wait > 0:
        seconds = max(1, round(wait))
        raise TooMany(f"too many booking requests from this address; try again in {seconds} s "
                      f"(操作过于频繁，请 {seconds} 秒后再试)", field="appointment", code="too_many_lookups",
                      retry_after=wait)
    limit.count(keys)


def _choice(engine) -> tuple[object, date | None]:
    config = engine.config
    matter = request.values.get("service") or ""
    item = next((i for i in booking.bookable(config) if i.code == matter), None)
    day = None
    raw = request.values.get("day") or ""
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            day = None
    if day is not None and day not in booking.days(config, engine.now()):
        day = None
    return item, day


def _page(template: str, status: int = 200, **values):
    engine = _engine()
    now = engine.now()
    item, day = values.pop("item", None), values.pop("day", None)
    slots = booking.slots(engine.config, engine.store, item.code, day, now) if item is not None and day else []
    return render_template(template, items=booking.bookable(engine.config), days=booking.days(engine.config, now),
                           item=item, day=day, slots=slots, weekdays="一二三四五六日", **values), status


@bp.get("/book")
def book_form():
    item, day = _choice(_engine())
    return _page("book.html", item=item, day=day)


@bp.post("/book")
def book():
    check_csrf()
    _limit()
    engine = _engine()
    item, day = _choice(engine)
    form = request.form
    try:
        if item is None or day is None:
            raise Invalid("choose a matter and a day", field="service")
        slot = _slot(form.get("slot"))
        phone = re.sub(r"[\s-]", "", form.get("phone", ""))
        if not re.fullmatch(r"1[0-9]{10}", phone):
            raise Invalid("phone must be an 11-digit mobile number (请填写11位手机号码)", field="phone")
        id_number = form.get("id_number", "").strip().upper() or None
        row = engine.book(item.code, slot, phone, actor="booking-page", id_number=id_number,
                          sms=form.get("sms") == "1", days_ahead=engine.config.appointments.days_ahead)
    except HallqError as refusal:
        return _page("book.html", status=refusal.status, item=item, day=day, error=chinese(refusal),
                     detail=refusal.message, form=form)
    return render_template("book_done.html", appointment=_view(row), action="booked")


@bp.route("/book/manage", methods=["GET", "POST"])
def manage():
    """Find an appointment by code and phone's last 4 digits; then cancel it, or move it to a slot."""
    if request.method == "GET":
        return _page("book_manage.html")
    check_csrf()
    _limit()
    engine = _engine()
    form = request.form
    code, last4 = form.get("code", "").strip(), form.get("phone_last4", "").strip()
    action = form.get("action", "find")
    try:
        if not re.fullmatch(r"[0-9]{8}", code):
            raise Invalid("the appointment code has 8 digits (预约码为8位数字)", field="appointment")
        if not re.fullmatch(r"[0-9]{4}", last4):
            raise Invalid("the last 4 digits of the phone (手机号后4位)", field="phone_last4")
        if action == "cancel":
            row = engine.cancel_appointment(code, last4, actor="booking-page")
            return render_template("book_done.html", appointment=_view(row), action="cancelled")
        if action == "move":
            row = engine.move_appointment(code, _slot(form.get("slot")), last4, actor="booking-page",
                                          days_ahead=engine.config.appointments.days_ahead)
            return render_template("book_done.html", appointment=_view(row), action="moved")
        row = engine.appointment_for(code, last4)
    except HallqError as refusal:
        return _page("book_manage.html", status=refusal.status, error=chinese(refusal), detail=refusal.message,
                     code=code, last4=last4)
    item = engine.config.matter(row["service"])
    _, day = _choice(engine)
    day = day or date.fromisoformat(row["day"])
    return _page("book_manage.html", item=item, day=day, appointment=_view(row), code=code, last4=last4)


def chinese(refusal: HallqError) -> str:
    """The refusal in Chinese: its own Chinese words when it has them, else the page's wording."""
    found = re.search(r"[（(]([^）)]*[\u4e00-\u9fff][^）)]*)[）)]", refusal.message)
    if found:
        return found.group(1)
    if refusal.code == "conflict" and refusal.field == "appointment":
        return "该预约已取消或已签到，不能再修改。"
    return _generic(refusal)


def _slot(raw: str | None) -> datetime:
    try:
        slot = datetime.fromisoformat(raw or "")
    except ValueError:
        raise Invalid("choose a time slot (请选择时段)", field="slot_start") from None
    if slot.tzinfo is None:
        slot = slot.replace(tzinfo=_engine().tz)
    return slot


def _view(row: dict) -> dict:
    config = _engine().config
    matter = config.matter(row["service"])
    slot = datetime.fromisoformat(row["slot_start"])
    a = config.appointments
    return {"code": row["code"], "service": matter.name if matter else row["service"], "slot": slot,
            "phone": mask_phone(row["phone"]), "sms": bool(row.get("sms")), "state": row["state"],
            "checkin_before": a.checkin_before_minutes, "checkin_after": a.checkin_after_minutes}
