"""Input nothing behind the API can hold is refused at the door, naming the field.

Two kinds of value pass Flask's and json's parsing yet break deeper down: integers beyond SQLite's
64 bits (binding one raises OverflowError) and text with an unpaired surrogate ("\\ud800" in JSON:
it can be neither bound into SQLite nor encoded as UTF-8, not even in the error that names it).
Dates far from today overflow date arithmetic (a period's end, a time-zone shift)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request

from ..errors import HallqError, Invalid, NotFound

SQLITE_INT_MIN, SQLITE_INT_MAX = -(2**63), 2**63 - 1
FIRST_YEAR, LAST_YEAR = 2000, 2099  # dates a hall can have data for or book into


class BadRequest(HallqError):
    status = 400
    code = "bad_request"


def is_text(value: str) -> bool:
    """Whether `value` is Unicode text that can be stored and sent (no unpaired surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def in_int_range(value: int) -> bool:
    return SQLITE_INT_MIN <= value <= SQLITE_INT_MAX


def check_path(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Flask url_value_preprocessor: an <int:…> path value too large for SQLite names no row (404)."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and not in_int_range(value):
            raise NotFound(f"{name} is outside 0..{SQLITE_INT_MAX}: there is no such row", field=name)


def check_query() -> None:
    """before_request: query parameters must be text. (Werkzeug keeps undecodable bytes
    percent-encoded, so this guards front ends that decode otherwise.)"""
    for name, value in request.args.items(multi=True):
        if not is_text(name):
            raise BadRequest("a query parameter name is not valid Unicode text", field="query")
        if not is_text(value):
            raise BadRequest(f"{name} is not valid Unicode text (unpaired surrogate)", field=name)


def event_id(raw: str, field: str) -> int:
    """A Last-Event-ID (header or query): the decimal id of an event, 0 for "from the start"."""
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(f"{field} must be an event id: decimal digits, 0 or more", field=field)
    value = int(raw) if len(raw) <= 19 else SQLITE_INT_MAX + 1
    if value > SQLITE_INT_MAX:
        raise BadRequest(f"{field} is outside 0..{SQLITE_INT_MAX}", field=field)
    return value


def calendar_date(value: date, field: str) -> date:
    """`value` if in the years a hall works with; 422 naming `field` otherwise."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise Invalid(f"{field} must be in the years {FIRST_YEAR}..{LAST_YEAR}", field=field)
    return value
