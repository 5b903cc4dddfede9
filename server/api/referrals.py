"""Cross-level referral (帮办代办 / 就近办) at this hall: a window passes a matter up the tree, and
every referral made or taken in is listed with its state (server/referrals.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .. import referrals
from ..auth import actor, require
from ..errors import Invalid
from . import schemas
from .body import json_body

bp = Blueprint("referrals", __name__)


@bp.post("/referrals")
@require("window", "admin", "supervisor")
def refer():
    """Refer a citizen's matter up the tree; the county routes it and the receiving hall books."""
    data = json_body(schemas.ReferralRequest)
    row = referrals.refer(current_app.config["ENGINE"], data["matter"], data["phone"], data.get("materials") or [],
                          sms=bool(data.get("sms")), id_number=data.get("id_number"), actor=actor())
    return jsonify(referrals.view(row)), 201


@bp.get("/referrals")
@require("window", "admin", "supervisor")
def listing():
    """Referrals made here (out) and taken in (in), newest first; ?direction=out|in."""
    direction = request.args.get("direction")
    if direction not in (None, "out", "in"):
        raise Invalid("direction is out or in", field="direction")
    engine = current_app.config["ENGINE"]
    found = referrals.rows(engine, "direction = ?", [direction]) if direction else referrals.rows(engine)
    return jsonify({"referrals": [referrals.view(r) for r in found[:200]]})
