"""The live event stream: every state change as server-sent events, resumable with Last-Event-ID.

This view checks who asks and from where the stream starts; the front (server/front.py) then holds
the open stream itself, fed by one shared reader (server/streams.py), so streams hold no worker
thread. `?once=1` (polling, and every server without the front) answers what is there and closes.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, request

from ..auth import READ_ROLES, require
from .inputs import event_id

bp = Blueprint("events", __name__)


HEAD_FIELDS = ("id", "ts", "type", "actor", "window", "ticket_code", "service")


def _hidden(event_type: str) -> set[str]:
    return {"ticket", "code"} if event_type.startswith("appointment.") else {"ticket"}


def format_event(ev: dict) -> str:
    """One SSE message. Citizens' secrets are left out: the stream is for staff and displays. No
    ticket ids (including the id a refused rating names, in old rows too) and no appointment codes
    (a code can be exchanged for a ticket at the kiosk). `data` may be the stored JSON text: when
    it holds nothing to leave out, it goes out as stored, without being parsed and written again."""
    data = ev["data"]
    hidden = _hidden(ev["type"])
    if isinstance(data, str):
        if not any(f'"{key}"' in data for key in hidden):
            head = json.dumps({k: ev[k] for k in HEAD_FIELDS}, ensure_ascii=False)
            return f"id: {ev['id']}\nevent: {ev['type']}\ndata: {head[:-1]}, \"data\": {data or '{}'}}}\n\n"
        data = json.loads(data)
    payload = {k: ev[k] for k in HEAD_FIELDS}
    payload["data"] = {k: v for k, v in (data or {}).items() if k not in hidden}
    return f"id: {ev['id']}\nevent: {ev['type']}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


@bp.get("/events")
@require(*READ_ROLES)
def stream():
    field = "Last-Event-ID" if request.headers.get("Last-Event-ID") else "last_event_id"
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    store = current_app.config["ENGINE"].store
    if raw is None:
        last = store.last_event_id()  # a new client wants what happens from now on
    else:
        last = event_id(raw, field)  # checked before the stream starts: no 200 cut short
    if request.environ.get("hallq.stream") and request.args.get("once") != "1":
        # The front takes over from here: it streams from `last` on.
        return Response(status=200, headers={"X-Hallq-Stream-From": str(last),
                                             "X-Hallq-Session": getattr(g, "session_id", None) or ""})
    events = store.events_after(last)
    body = "retry: 2000\n\n" + "".join(format_event(ev) for ev in events)
    return Response(body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
