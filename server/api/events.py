"""The live event stream: every state change as server-sent events, resumable with Last-Event-ID.

This view checks who asks and from where the stream starts; the front (server/front.py) then holds
the open stream itself, fed by one shared reader (server/streams.py), so streams hold no worker
thread. `?once=1` (polling, and every server without the front) answers what is there and closes.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from ..auth import READ_ROLES, require
from ..sse import format_event
from .inputs import event_id
from .spec import ROW_ID, query, spec

bp = Blueprint("events", __name__)

# One message of the event stream, as schemathesis and browsers parse it; `data` is a JSON object.
EVENT = {"type": "object", "required": ["data"], "properties": {
    "id": {"type": "string", "pattern": "^[0-9]+$"}, "event": {"type": "string"},
    "data": {"type": "string"}, "retry": {"type": "integer"}}}


@bp.get("/events")
@spec("Server-sent events: every state change, with ids; resume with Last-Event-ID", says="event stream",
      content={"text/event-stream": {"schema": EVENT}}, errors=(400, 401),
      params=({"name": "Last-Event-ID", "in": "header", "schema": ROW_ID},
              {**query("last_event_id"), "schema": ROW_ID}, query("once", enum=["1"])))
@require(*READ_ROLES)
def stream():
    field = "Last-Event-ID" if request.headers.get("Last-Event-ID") else "last_event_id"
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    store = current_app.config["ENGINE"].store
    newest = store.last_event_id()
    if raw is None:
        last = newest  # a new client wants what happens from now on
    else:
        # Checked before the stream starts: no 200 cut short. An id past the newest event was
        # given out by another database (a restored backup, a fresh demo) to a board kept open:
        # streamed from there, it would get nothing until this hall's ids caught up; it gets what
        # happens from now on instead (pages read their state again when the stream opens).
        last = min(event_id(raw, field), newest)
    if request.environ.get("hallq.stream") and request.args.get("once") != "1":
        # The front takes over from here: it streams from `last` on.
        return Response(status=200, headers={"X-Hallq-Stream-From": str(last),
                                             "X-Hallq-Session": getattr(g, "session_id", None) or ""})
    events = store.events_after(last)
    body = "retry: 2000\n\n" + "".join(format_event(ev) for ev in events)
    return Response(body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
