"""好差评 to GB/T 39734: the 办件编号 a window attaches, the rating records, the indicators, 申诉复核."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from .. import rating_record
from ..appeals import APPEAL_STATES, REVIEW_ROLES, AppealBook, appeal_view
from ..auth import actor, clerk_window, require
from ..errors import Forbidden, Invalid
from . import schemas
from .body import json_body
from .reports import PERIOD_PARAMS, report_args
from .spec import query, spec

bp = Blueprint("appeals", __name__)
VERDICTS = ("uphold", "reject")


def book() -> AppealBook:
    return current_app.config["APPEALS"]


def engine():
    return current_app.config["ENGINE"]


@bp.post("/windows/<int:number>/case-number")
@spec("Attach the business system's 办件编号 to the service at the window (current, else last)",
      body=schemas.CaseNumber, answer=schemas.CaseNumberAttached, says="the record and its 办件编号",
      errors=(401, 403, 404, 409, 422))
@require("admin", "supervisor", "window")
def case_number(number: int):
    """The business system (or the clerk) attaches its 办件编号 to the service at the window."""
    data = json_body()
    e = engine()
    e._window(number)
    return jsonify(rating_record.attach_case_number(e, e.store, number, data["case_number"], actor(),
                                                    record=data.get("record")))


@bp.get("/rating-records")
@spec("Rating records with the GB/T 39734 fields, of services ended in the period", answer=schemas.RatingRecords,
      says="records", errors=(401, 403, 422), params=PERIOD_PARAMS)
@require("admin", "supervisor")
def rating_records():
    """?period=&date= (as /reports): every rating of services ended in the period, GB/T 39734 fields."""
    period, _ = report_args()
    return jsonify({"records": rating_record.records(engine().store, current_app.config["HALL"],
                                                     period.start.isoformat(), period.end.isoformat())})


@bp.get("/rating-indicators")
@spec("好评率, 主动评价率, 未评价率 per window, staff, matter, department or hall, with definitions",
      answer=schemas.RatingIndicators, says="indicators", errors=(401, 403, 422),
      params=(*PERIOD_PARAMS, query("group", enum=list(rating_record.GROUPS))))
@require("admin", "supervisor")
def rating_indicators():
    """?period=&date=&group=window|staff|service|department|hall: 好评率, 主动评价率, 未评价率."""
    period, _ = report_args()
    group = request.args.get("group", "hall")
    rows = rating_record.indicators(engine().store, period.start.isoformat(), period.end.isoformat(), group)
    return jsonify({"group": group, "definitions": rating_record.INDICATOR_LEGEND,
                    "rows": sorted(rows.values(), key=lambda r: r["key"])})


@bp.post("/ratings/<int:rating_id>/appeal")
@spec("申诉复核: a window appeals its own rating with its reason and evidence", body=schemas.AppealFiling,
      answer=schemas.Appeal, says="the appeal", status=201, errors=(401, 403, 404, 409, 422))
@require("admin", "supervisor", "window")
def file_appeal(rating_id: int):
    """A window appeals its own rating (a window token or clerk acts only for its window)."""
    data = json_body()
    token = g.token
    window = token.window if token.role == "window" else None
    if token.role == "window" and window is None:
        raise Forbidden("sign in to a window first; a window appeals only its own ratings", field="window")
    appeal = book().file(rating_id, actor(), window, data["reason"], data.get("evidence"), data.get("evidence_ref"))
    return jsonify(_view(appeal)), 201


@bp.get("/appeals")
@spec("Appeals (default: waiting for a reviewer)", answer=schemas.Appeals, says="appeals", errors=(401, 403, 422),
      params=(query("state", enum=[*APPEAL_STATES, "all"]),))
@require(*REVIEW_ROLES)
def list_appeals():
    """?state=filed|upheld|rejected|all (default filed: waiting for a reviewer)."""
    state = request.args.get("state", "filed")
    if state != "all" and state not in APPEAL_STATES:
        raise Invalid(f"state must be all or one of {', '.join(APPEAL_STATES)}", field="state")
    return jsonify({"appeals": [_view(a) for a in book().list(None if state == "all" else state)]})


@bp.get("/appeals/<int:appeal_id>")
@spec("One appeal", answer=schemas.Appeal, says="the appeal", errors=(401, 403, 404))
@require(*REVIEW_ROLES)
def show_appeal(appeal_id: int):
    return jsonify(_view(book().get(appeal_id)))


@bp.post("/appeals/<int:appeal_id>/<verdict>")
@spec("A reviewer not of the window (not the filer) upholds or rejects; upheld leaves every score",
      body=schemas.AppealDecision, answer=schemas.Appeal, says="the appeal", errors=(401, 403, 404, 409, 422),
      path={"verdict": {"type": "string", "enum": list(VERDICTS)}})
@require(*REVIEW_ROLES)
def decide(appeal_id: int, verdict: str):
    """verdict uphold (申诉成立: the rating leaves every score) or reject; by a reviewer not of the window."""
    if verdict not in VERDICTS:
        raise Invalid("the verdict is uphold or reject", field="verdict")
    data = json_body()
    user = getattr(g, "user", None)
    appeal = book().decide(appeal_id, verdict == "uphold", data["note"], actor(),
                           staff=user.staff if user else None, pinned_window=user.window if user else None,
                           signed_in_window=clerk_window(user) if user and user.staff else None)
    return jsonify(_view(appeal))


def _view(appeal: dict) -> dict:
    rating = engine().store.rows("SELECT * FROM ratings WHERE id = ?", [appeal["rating_id"]])
    return appeal_view(appeal, rating[0] if rating else None)
