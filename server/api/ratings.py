"""好差评: ratings from evaluators (through the caller daemon), the ticket's QR page, or the kiosk."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..auth import citizen_only, current_token
from ..errors import Forbidden
from . import requests, schemas
from .body import json_body
from .spec import spec

bp = Blueprint("ratings", __name__)

# Who may post a rating through which channel: the evaluator's presses come through the caller
# daemon, the kiosk's through a kiosk token, and qr/web (the ticket's page) from the citizen with no
# token and no staff session. Nobody else: no clerk, supervisor or admin can enter a grade for a
# citizen (no steering, 一次服务一次评价).
# A 12345 转办 rating is the hotline's record of the citizen's grade, posted by the integration with
# the hotline under an admin bearer token (never from a web session: current_token reads only the header).
CHANNEL_ROLES = {"evaluator": ("caller",), "kiosk": ("kiosk",), "qr": None, "web": None, "hotline": ("admin",)}


@bp.post("/ratings")
@spec("Rate a service (好差评). evaluator: caller-daemon token, names the window; qr/web: the ticket's id, no token "
      "and no staff session (补充评价); kiosk: kiosk token. No staff token or session enters a grade (403). grade 0 "
      "= prompt timed out.", body=schemas.RatingRequest, answer=schemas.RatingResult, says="rating recorded",
      status=201, also={200: "timeout recorded as not rated"}, errors=(400, 403, 404, 409, 422), public=True)
def rate():
    data = json_body()
    channel = data["channel"]
    token = current_token()
    roles = CHANNEL_ROLES.get(channel, ())
    if channel in CHANNEL_ROLES and roles is None:
        citizen_only("a rating through the ticket's page")
    elif roles and (token is None or token.role not in roles):
        raise Forbidden(f"ratings through channel {channel!r} come only from a {' or '.join(roles)} token",
                      field="channel")
    who = token.name if token else "citizen"
    result = current_app.config["ENGINE"].rate(
        data["grade"], channel, window=data.get("window"), ticket=data.get("ticket"),
        reason=data.get("reason"), comment=data.get("comment"), actor=who, tags=data.get("tags"),
    )
    return jsonify(dict(result)), 201 if result.get("rated") else 200


@requests.rebuilds("ratings.rate")
def _rated(row: dict, events: list[dict]) -> dict:
    ev = next((e for e in events if e["type"] in ("rating.recorded", "rating.timed_out")), None)
    if ev is None:
        return {"result": "accepted"}
    rated = ev["type"] == "rating.recorded"
    body = {"result": "accepted", "record": ev["data"].get("record"), "rated": rated}
    if rated:
        body["grade"] = ev["data"].get("grade")
    return body
