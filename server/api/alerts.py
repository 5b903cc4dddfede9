"""电子监察 alerts: read them, report device conditions, acknowledge them."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import READ_ROLES, actor, require
from ..errors import NotFound
from ..supervision import alert_view, day_start
from . import schemas
from .body import json_body
from .spec import query, spec

bp = Blueprint("alerts", __name__)


def board():
    return current_app.config["ALERTS"]


@bp.get("/alerts")
@spec("Active 电子监察 alerts, worst first (?all=1 adds today's cleared ones)", answer=schemas.Alerts, says="alerts",
      errors=(401,), params=(query("all", enum=["1"]),))
@require(*READ_ROLES)
def list_alerts():
    """Active alerts, worst first; ?all=1 adds today's cleared ones."""
    if request.args.get("all") == "1":
        rows = board().recent(day_start(current_app.config["ENGINE"].now()))
    else:
        rows = board().active()
    return jsonify({"alerts": [alert_view(r) for r in rows]})


@bp.post("/alerts")
@spec("A device or kiosk raises (active: true) or clears (active: false) its own condition",
      body=schemas.AlertReport, answer=schemas.AlertReported, says="raised", status=201,
      also={200: "cleared or unchanged"}, errors=(400, 401, 403, 404, 422))
@require("caller", "kiosk", "notifier", "admin")
def report():
    """A device raises ({"active": true}) or clears ({"active": false}) its own condition, keyed by
    kind and source, e.g. {"kind": "device_offline", "source": "strip:3", "level": "red", ...}."""
    data = json_body()
    if data.get("window") is not None and data["window"] not in current_app.config["HALL"].windows:
        raise NotFound(f"no window {data['window']} in this hall", field="window")
    result = board().report(data["kind"], data["source"], data.get("level") or "red", data.get("message") or "",
                            data["active"], actor(), window=data.get("window"))
    if result["alert"] is not None:
        result["alert"] = alert_view(result["alert"])
    return jsonify(result), 201 if result["result"] == "accepted" and data["active"] else 200


@bp.post("/alerts/ack")
@spec("A supervisor acknowledges many alerts with one note (those cleared or acknowledged meanwhile come back in "
      "skipped, with the reason)", body=schemas.AlertsAck, answer=schemas.AlertsAcked,
      says="acked and skipped alerts", errors=(401, 403, 404, 422))
@require("supervisor", "admin")
def ack_many():
    """Many alerts, one note: {"alerts": [ids], "note": ...}; alerts that cleared or were acknowledged
    meanwhile are listed in "skipped" with the reason, the rest acknowledged together."""
    data = json_body()
    ids = data["alerts"]
    result = board().ack_many(ids, actor(), data["note"])
    return jsonify({"acked": [alert_view(r) for r in result["acked"]], "skipped": result["skipped"]})


@bp.post("/alerts/<int:alert_id>/ack")
@spec("A supervisor acknowledges an alert with a note", body=schemas.Note, answer=schemas.Alert, says="the alert",
      errors=(401, 403, 404, 422))
@require("supervisor", "admin")
def ack(alert_id: int):
    data = json_body()
    return jsonify(alert_view(board().ack(alert_id, actor(), data["note"])))
