"""One event of the log as a server-sent-events message: what staff screens and displays may see.

Shared by the stream's view (server/api/events.py, polling with ?once=1) and its fan-out
(server/streams.py), so both send the same bytes; no Flask here.
"""

from __future__ import annotations

import json

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
