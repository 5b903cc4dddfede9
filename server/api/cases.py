"""差评 cases and 承诺件 deadlines: supervisors walk cases to closed; the citizen rates the fix."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import actor, citizen_only, require
from ..cases import CASE_STATES, case_view
from ..errors import Invalid
from . import schemas
from .body import json_body
from .spec import query, spec

bp = Blueprint("cases", __name__)
CASE_ROLES = ("admin", "supervisor")


def book():
    return current_app.config["CASES"]


def hall():
    return current_app.config["HALL"]


@bp.get("/cases")
@spec("好差评 cases (bad ratings)", answer=schemas.Cases, says="cases", errors=(401, 403, 422),
      params=(query("state", enum=["unfinished", "all", *CASE_STATES]),))
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
@spec("One case with its steps", answer=schemas.Case, says="the case", errors=(401, 403, 404))
@require(*CASE_ROLES)
def show_case(case_id: int):
    return jsonify(case_view(hall(), book().get(case_id), book().steps(case_id)))


@bp.post("/cases/<int:case_id>/phone")
@spec("The citizen's full phone number for the call-back (回访); every look is logged", body=schemas.NoBody,
      answer=schemas.CasePhone, says="the case and its phone number", errors=(401, 403, 404))
@require(*CASE_ROLES)
def phone(case_id: int):
    """The full number for the call-back; the look is logged (case.phone_viewed)."""
    json_body()
    return jsonify({"case": case_id, "phone": book().reveal_phone(case_id, actor())})


@bp.post("/cases/<int:case_id>/<action>")
@spec("Move a case: call-back (with contact and the citizen's answer), call-attempt, rectify, explain, appeal, "
      "close (only once the answer is recorded), assign; each with a note (409 county_owned when the hall's "
      "[county] cases = \"county\": the county takes the steps)", body=schemas.CaseAction, answer=schemas.Case,
      says="the case", errors=(401, 403, 404, 409, 422))
@require(*CASE_ROLES)
def act(case_id: int, action: str):
    data = json_body()
    case = book().act(case_id, action, actor(), data["note"], owner=data.get("owner"),
                      contact=data.get("contact"), answer=data.get("answer"))
    return jsonify(case_view(hall(), case, book().steps(case_id)))


@bp.get("/tickets/<ticket_id>/case")
@spec("The citizen's view of the case their bad rating opened (public: the id is the key)",
      answer=schemas.FixStatus, says="the case", errors=(404,), public=True)
def ticket_case(ticket_id: str):
    """Public, like the ticket: whether the citizen's bad rating was handled and may be rated."""
    current_app.config["ENGINE"].ticket(ticket_id)
    return jsonify(book().fix_status(ticket_id))


@bp.post("/tickets/<ticket_id>/fix-rating")
@spec("The citizen rates how their case was handled (no token, no staff session)", body=schemas.FixRating,
      answer=schemas.FixStatus, says="the case, with the fix rated", status=201, errors=(403, 404, 409, 422),
      public=True)
def rate_fix(ticket_id: str):
    citizen_only("a rating of how a bad rating was handled")
    data = json_body()
    current_app.config["ENGINE"].ticket(ticket_id)
    book().rate_fix(ticket_id, data["grade"])
    return jsonify(book().fix_status(ticket_id)), 201


@bp.get("/commitments")
@spec("承诺件 and their working-day deadlines", answer=schemas.Commitments, says="commitments", errors=(401, 403))
@require(*CASE_ROLES)
def commitments():
    """Accepted 承诺件 not yet delivered, earliest deadline first."""
    return jsonify({"commitments": current_app.config["COMMITMENTS"].open_ones()})


@bp.post("/commitments/<int:record_id>/done")
@spec("The back office delivered a 承诺件", body=schemas.NoBody, answer=schemas.Commitment, says="the commitment",
      errors=(401, 403, 404, 409))
@require(*CASE_ROLES)
def commitment_done(record_id: int):
    json_body()
    return jsonify(current_app.config["COMMITMENTS"].done(record_id, actor()))
