"""差评 cases and 承诺件 deadlines: supervisors walk cases to closed; the citizen rates the fix."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import actor, citizen_only, require
from ..cases import CASE_STATES, case_view
from ..errors import Invalid
from . import schemas
from .body import json_body

bp = Blueprint("cases", __name__)
CASE_ROLES = ("admin", "supervisor")


def book():
    return current_app.config["CASES"]


def hall():
    return current_app.config["HALL"]


@bp.get("/cases")
@require(*CASE_ROLES)
def list_cases():
    """Unfinished cases by default; ?state=closed, ?state=all, or one state name."""
    state = request.args.get("state", "unfinished")
    store = book().store
    if state == "unfinished":
        rows = store.rows("SELECT * FROM cases WHERE state != 'closed' ORDER BY id DESC")
    elif state == "all":
        rows = store.rows("SELECT * FROM cases ORDER BY id DESC LIMIT 500")
    elif state in CASE_STATES:
        rows = store.rows("SELECT * FROM cases WHERE state = ? ORDER BY id DESC LIMIT 500", [state])
    else:
        raise Invalid(f"state must be unfinished, all or one of {', '.join(CASE_STATES)}", field="state")
    return jsonify({"cases": [case_view(hall(), r) for r in rows]})


@bp.get("/cases/<int:case_id>")
@require(*CASE_ROLES)
def show_case(case_id: int):
    return jsonify(case_view(hall(), book().get(case_id), book().steps(case_id)))


@bp.post("/cases/<int:case_id>/phone")
@require(*CASE_ROLES)
def phone(case_id: int):
    """The full number for the call-back; the look is logged (case.phone_viewed)."""
    json_body(schemas.NoBody)
    return jsonify({"case": case_id, "phone": book().reveal_phone(case_id, actor())})


@bp.post("/cases/<int:case_id>/<action>")
@require(*CASE_ROLES)
def act(case_id: int, action: str):
    data = json_body(schemas.CaseAction)
    case = book().act(case_id, action, actor(), data["note"], owner=data.get("owner"),
                      contact=data.get("contact"), answer=data.get("answer"))
    return jsonify(case_view(hall(), case, book().steps(case_id)))


@bp.get("/tickets/<ticket_id>/case")
def ticket_case(ticket_id: str):
    """Public, like the ticket: whether the citizen's bad rating was handled and may be rated."""
    current_app.config["ENGINE"].ticket(ticket_id)
    return jsonify(book().fix_status(ticket_id))


@bp.post("/tickets/<ticket_id>/fix-rating")
def rate_fix(ticket_id: str):
    citizen_only("a rating of how a bad rating was handled")
    data = json_body(schemas.FixRating)
    current_app.config["ENGINE"].ticket(ticket_id)
    book().rate_fix(ticket_id, data["grade"])
    return jsonify(book().fix_status(ticket_id)), 201


@bp.get("/commitments")
@require(*CASE_ROLES)
def commitments():
    """Accepted 承诺件 not yet delivered, earliest deadline first."""
    return jsonify({"commitments": current_app.config["COMMITMENTS"].open_ones()})


@bp.post("/commitments/<int:record_id>/done")
@require(*CASE_ROLES)
def commitment_done(record_id: int):
    json_body(schemas.NoBody)
    return jsonify(current_app.config["COMMITMENTS"].done(record_id, actor()))
