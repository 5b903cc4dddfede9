"""The live event stream: every state change as server-sent events, resumable with Last-Event-ID."""

from __future__ import annotations

import json
import threading

from flask import Blueprint, Response, current_app, request, stream_with_context

from ..auth import READ_ROLES, require
from .inputs import event_id

bp = Blueprint("events", __name__)
HEARTBEAT_SECONDS = 5.0  # also bounds how long a client takes to notice it was asked to stop


class Broker:
    """Wakes stream readers when the store commits; readers fetch new events from the store itself,
    so a slow reader never holds events in memory and a reconnecting one misses nothing."""

    def __init__(self, store) -> None:
        self.store = store
        self.cond = threading.Condition()
        self.last_id = store.last_event_id()
        self.closed = False
        store.subscribe(self._on_commit)

    def _on_commit(self, events: list[dict]) -> None:
        if events:
            with self.cond:
                self.last_id = max(self.last_id, events[-1]["id"])
                self.cond.notify_all()

    def wait_after(self, last_id: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.last_id > last_id or self.closed, timeout=timeout)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def format_event(ev: dict) -> str:
    """One SSE message. Citizens' secrets are left out: the stream is for staff and displays. No
    ticket ids (including the id a refused rating names, in old rows too) and no appointment codes
    (a code can be exchanged for a ticket at the kiosk)."""
    payload = {k: ev[k] for k in ("id", "ts", "type", "actor", "window", "ticket_code", "service")}
    hidden = {"ticket", "code"} if ev["type"].startswith("appointment.") else {"ticket"}
    payload["data"] = {k: v for k, v in (ev["data"] or {}).items() if k not in hidden}
    return f"id: {ev['id']}\nevent: {ev['type']}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


@bp.get("/events")
@require(*READ_ROLES)
def stream():
    field = "Last-Event-ID" if request.headers.get("Last-Event-ID") else "last_event_id"
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    broker: Broker = current_app.config["BROKER"]
    store = broker.store
    if raw is None:
        last = store.last_event_id()  # a new client wants what happens from now on
    else:
        last = event_id(raw, field)  # checked before the stream starts: no 200 cut short
    once = request.args.get("once") == "1"  # return what is there and close: for polling and tests

    def generate():
        nonlocal last
        yield "retry: 2000\n\n"
        while True:
            events = store.events_after(last)
            for ev in events:
                last = ev["id"]
                yield format_event(ev)
            if once and not events:
                return
            if not events:
                if broker.closed:
                    return
                if not broker.wait_after(last, HEARTBEAT_SECONDS):
                    yield ": keep-alive\n\n"

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
