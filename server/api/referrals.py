"""Cross-level referral (帮办代办 / 就近办) at this hall: a window passes a matter up the tree, and
every referral made or taken in is listed with its state (server/referrals.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .. import referrals
from ..auth import actor, require
from ..errors import Invalid
from . import schemas
from .body import json_body
from .spec import query, spec

bp = Blueprint("referrals", __name__)


@bp.post("/referrals")
@spec("Refer a citizen's matter up the tree (帮办代办 / 就近办): the county routes it to the hall above that serves "
      "it, which books an appointment; window, supervisor, admin", body=schemas.ReferralRequest,
      answer=schemas.Referral, says="the referral, pending at the county", status=201,
      errors=(400, 401, 403, 409, 422))
@require("window", "admin", "supervisor")
def refer():
    """Refer a citizen's matter up the tree; the county routes it and the receiving hall books."""
    data = json_body()
    row = referrals.refer(current_app.config["ENGINE"], data["matter"], data["phone"], data.get("materials") or [],
                          sms=bool(data.get("sms")), id_number=data.get("id_number"), actor=actor())
    return jsonify(referrals.view(row)), 201


@bp.get("/referrals")
@spec("Referrals made here (out) and taken in (in), newest first, with state, appointment code and outcome",
      answer=schemas.Referrals, says="referrals", errors=(401, 403, 422), params=(query("direction"),))
@require("window", "admin", "supervisor")
def listing():
    """Referrals made here (out) and taken in (in), newest first; ?direction=out|in."""
    direction = request.args.get("direction")
    if direction not in (None, "out", "in"):
        raise Invalid("direction is out or in", field="direction")
    engine = current_app.config["ENGINE"]
    found = referrals.rows(engine, "direction = ?", [direction]) if direction else referrals.rows(engine)
    return jsonify({"referrals": [referrals.view(r) for r in found[:200]]})
