"""Read-only views: the live queue, today's figures, health and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .. import stats
from ..auth import READ_ROLES, require
from ..health import health_view
from ..nearby import unlinked
from ..openapi import document
from ..views import ticket_view
from . import schemas
from .spec import spec

bp = Blueprint("status", __name__)


def engine():
    return current_app.config["ENGINE"]


@bp.get("/queue")
@spec("Live tickets, masked", answer=schemas.Queue, says="queue", errors=(401,))
@require(*READ_ROLES)
def queue():
    """Every live ticket (waiting, called, serving, parked), oldest first, masked, without ids."""
    e = engine()
    positions = e.positions()  # one snapshot for the whole queue, not one estimate under the lock per ticket
    tickets = [ticket_view(e, t, position=positions.get(t.id)) for t in e.live_tickets()]
    per_service: dict[str, int] = {}
    for t in tickets:
        if t["state"] == "waiting":
            per_service[t["service"]["code"]] = per_service.get(t["service"]["code"], 0) + 1
    return jsonify({"tickets": tickets, "waiting_by_service": per_service,
                    "waiting": sum(per_service.values())})


@bp.get("/stats/today")
@spec("Today's figures", answer=schemas.StatsToday, says="figures", errors=(401,))
@require(*READ_ROLES)
def today():
    return jsonify(stats.today(engine()))


@bp.get("/nearby")
@spec("附近大厅: every centre's wait per matter as the county last said, with its age (public, like the menu; "
      "a stale copy when the link is down)", answer=schemas.Nearby, says="the kept copy", public=True)
def nearby():
    """附近大厅 (public, like the menu): the county's wait figures as this hall last had them."""
    follower = current_app.config.get("NEARBY")
    return jsonify(follower.answer() if follower is not None else unlinked())


@bp.get("/health")
@spec("Liveness", answer=schemas.Health, says="ok", public=True)
def health():
    return jsonify(health_view(engine(), current_app.config))


@bp.get("/openapi.json")
@spec("This document", says="the OpenAPI document", public=True, listed=False)
def openapi():
    return jsonify(document(engine().config))
