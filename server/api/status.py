"""Read-only views: the live queue, today's figures, health and the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, jsonify, request

from .. import stats
from ..auth import READ_ROLES, require
from ..health import health_view
from ..nearby import unlinked
from ..openapi import document
from ..views import iso, ticket_view
from . import schemas
from .spec import query, spec

bp = Blueprint("status", __name__)


def engine():
    return current_app.config["ENGINE"]


@bp.get("/queue")
@spec("Live tickets, masked; `tickets=0`: the counts and each service's oldest waiting ticket only", answer=schemas.Queue,
      says="queue", errors=(401,), params=(query("tickets", enum=["0"]),))
@require(*READ_ROLES)
def queue():
    """Every live ticket (waiting, called, serving, parked), oldest first, masked, without ids.

    The supervisor board reads this on every event for its waiting table; with 1,500 waiting in a
    200-window hall the whole list is ~1 MB and 150 ms of estimates, ten boards at once seconds
    behind the calls, so `tickets=0` answers what the table needs without the list."""
    e = engine()
    live = e.live_tickets()
    per_service: dict[str, int] = {}
    oldest: dict[str, datetime] = {}
    for t in live:
        if t.state == "waiting":
            per_service[t.service] = per_service.get(t.service, 0) + 1
            if t.service not in oldest or t.issued_at < oldest[t.service]:
                oldest[t.service] = t.issued_at
    if request.args.get("tickets") == "0":
        tickets = []
    else:
        positions = e.positions()  # one snapshot for the whole queue, not one estimate under the lock per ticket
        tickets = [ticket_view(e, t, position=positions.get(t.id)) for t in live]
    return jsonify({"tickets": tickets, "waiting_by_service": per_service,
                    "oldest_waiting_by_service": {code: iso(at) for code, at in oldest.items()},
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
