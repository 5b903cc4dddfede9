"""电子监察 alerts: read them, report device conditions, acknowledge them."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import READ_ROLES, actor, require
from ..errors import NotFound
from ..supervision import alert_view, day_start
from . import schemas
from .body import json_body

bp = Blueprint("alerts", __name__)


def board():
    return current_app.config["ALERTS"]


@bp.get("/alerts")
@require(*READ_ROLES)
def list_alerts():
    """Active alerts, worst first; ?all=1 adds today's cleared ones."""
    if request.args.get("all") == "1":
        rows = board().recent(day_start(current_app.config["ENGINE"].now()))
    else:
        rows = board().active()
    return jsonify({"alerts": [alert_view(r) for r in rows]})


@bp.post("/alerts")
@require("caller", "kiosk", "notifier", "admin")
def report():
    """A device raises ({"active": true}) or clears ({"active": false}) its own condition, keyed by
    kind and source, e.g. {"kind": "device_offline", "source": "strip:3", "level": "red", ...}."""
    data = json_body(schemas.AlertReport)
    if data.get("window") is not None and data["window"] not in current_app.config["HALL"].windows:
        raise NotFound(f"no window {data['window']} in this hall", field="window")
    result = board().report(data["kind"], data["source"], data.get("level") or "red", data.get("message") or "",
                            data["active"], actor(), window=data.get("window"))
    if result["alert"] is not None:
        result["alert"] = alert_view(result["alert"])
    return jsonify(result), 201 if result["result"] == "accepted" and data["active"] else 200


@bp.post("/alerts/ack")
@require("supervisor", "admin")
def ack_many():
    """Many alerts, one note: {"alerts": [ids], "note": ...}; alerts that cleared or were acknowledged
    meanwhile are listed in "skipped" with the reason, the rest acknowledged together."""
    data = json_body(schemas.AlertsAck)
    ids = data["alerts"]
    result = board().ack_many(ids, actor(), data["note"])
    return jsonify({"acked": [alert_view(r) for r in result["acked"]], "skipped": result["skipped"]})


@bp.post("/alerts/<int:alert_id>/ack")
@require("supervisor", "admin")
def ack(alert_id: int):
    data = json_body(schemas.Note)
    return jsonify(alert_view(board().ack(alert_id, actor(), data["note"])))
