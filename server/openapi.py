"""The OpenAPI 3 description of /api/v1, built from the same tables the routes use.

Answers every route can give come from app-wide rules and are added to every operation by
`_refusals`, so no route can answer a status its description lacks: 400 (a query parameter or body
that is not Unicode text, a body that is not JSON), 401/403 (any call with a token), 404 (a path
integer beyond SQLite's 64 bits), 413/422 (any body), 503 (deadline passed, overloaded, storage
failing; with Retry-After)."""

from __future__ import annotations

from hallq.model import HallConfig

from .api.inputs import SQLITE_INT_MAX
from .api.windows import ACTIONS
from .tickets import OUTCOMES, PAUSE_REASONS, RATING_CHANNELS, RATING_REASONS

ERROR = {"$ref": "#/components/responses/Error"}
UNAVAILABLE = {"$ref": "#/components/responses/Unavailable"}
ROW_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": SQLITE_INT_MAX}
BEARER = [{"bearer": []}]


def _body(props: dict, required: list[str]) -> dict:
    schema = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


def _ok(description: str, ref: str | None = None) -> dict:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"} if ref else {"type": "object"}}}
    return {"description": description, "content": content}


def _path(name: str, kind: str = "integer") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": dict(ROW_ID) if kind == "integer" else {"type": kind}}


def _query(name: str, kind: str, enum: list[str] | None = None) -> dict:
    schema: dict = {"type": kind}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "schema": schema}


def _errors(*codes: int) -> dict:
    return {str(c): ERROR for c in codes}


WRITE_HEADERS = [
    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
     "description": "names the action: a retry with it gets the first answer (Idempotent-Replayed: true) and "
                    "applies nothing; scoped to the caller; the same key on another request is 409"},
    {"name": "Request-Timeout-Ms", "in": "header", "schema": {"type": "integer", "minimum": 1, "maximum": 60000},
     "description": "how long the client waits; past it the write is not applied and answers 503 expired "
                    "(default 10 s)"},
]


def _writes_take_keys_and_deadlines(paths: dict) -> None:
    for item in paths.values():
        op = item.get("post")
        if op is not None:
            op["parameters"] = op.get("parameters", []) + WRITE_HEADERS
            op["responses"] = {**op["responses"], **_errors(400, 409, 422, 503)}


def _refusals(op: dict) -> None:
    """Add the answers app-wide rules give (see the module's docstring) to one operation."""
    codes = [400]
    if "security" in op:
        codes += [401, 403]
    if any(p["in"] == "path" and p["schema"]["type"] == "integer" for p in op.get("parameters", [])):
        codes.append(404)
    if "requestBody" in op:
        codes += [413, 422]
    for code in codes:
        op["responses"].setdefault(str(code), ERROR)
    op["responses"].setdefault("503", UNAVAILABLE)


# One message of the event stream, as schemathesis and browsers parse it; `data` is a JSON object.
EVENT = {"type": "object", "required": ["data"], "properties": {
    "id": {"type": "string", "pattern": "^[0-9]+$"}, "event": {"type": "string"},
    "data": {"type": "string"}, "retry": {"type": "integer"}}}


ACTION_PROPS = {
    "staff": {"type": "string", "pattern": "^[0-9]{1,8}$", "description": "staff number (工号)"},
    "code": {"type": "string", "example": "A023", "description": "ticket code"},
    "to_window": {"type": "integer"},
    "to_service": {"type": "string", "example": "S301"},
    "confirm_unstaffed": {"type": "boolean", "default": False,
                          "description": "transfer to a window with nobody signed in anyway (else 409 target_unstaffed)"},
    "outcome": {"type": "string", "enum": list(OUTCOMES), "description": ", ".join(f"{k}={v}" for k, v in OUTCOMES.items())},
    "reason": {"type": "string", "enum": list(PAUSE_REASONS)},
}

ACTION_HELP = {
    "login": "clerk signs in (staff number)", "logout": "clerk signs out",
    "call-next": "take the best eligible waiting ticket (pull allocation)",
    "recall": "announce the called ticket again; past the recall limit it becomes a no-show",
    "start": "the citizen arrived: service begins", "no-show": "过号: the called citizen did not come",
    "park": "挂起: citizen fetches papers, comes back without a new ticket",
    "call-back": "call back a parked ticket (the oldest, or `code`)", "call": "call a specific ticket by code",
    "transfer": "hand on to a window or a service, keeping the original arrival time",
    "finish": "end the service with an outcome; prompts the evaluator", "pause": "pause with a reason",
    "resume": "resume after a pause", "invite-rating": "prompt the evaluator again for the last service",
}


def document(config: HallConfig) -> dict:
    paths: dict[str, dict] = {
        "/services": {"get": {"summary": "Menu: services and 一件事 bundles with waiting count and estimated wait",
                              "responses": {"200": _ok("the menu")}}},
        "/tickets": {"post": {
            "summary": "Issue a ticket", "security": BEARER,
            "requestBody": _body({
                "service": {"type": "string", "example": "S301", "description": "service or bundle code"},
                "priority": {"type": "string", "enum": list(config.priorities)},
                "priority_reason": {"type": "string", "example": "elderly"},
                "appointment": {"type": "string", "description": "appointment code to check in"},
                "phone": {"type": "string"}, "channel": {"type": "string", "default": "kiosk"},
                "id_number": {"type": "string", "description": "resident ID: sets 绿色通道 for the elderly; stored masked"},
                "name": {"type": "string"},
                "sms": {"type": "boolean", "default": False,
                        "description": "the citizen agreed to SMS at `phone` (即将到号 and the call); needs phone"},
                "request_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$",
                               "description": "the Idempotency-Key of older kiosks, in the body"},
            }, ["service"]),
            "responses": {"201": _ok("the new ticket, with its secret id", "Ticket"), **_errors(400, 401, 403, 404, 409, 422, 429)},
        }},
        "/tickets/{id}": {"get": {
            "summary": "A ticket's public status (the QR code's target; the id is unguessable)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok("the ticket", "Ticket"), **_errors(404)},
        }},
        "/tickets/find": {"post": {
            "summary": "Reopen a ticket page: today's ticket code and the last 4 digits of its phone give that one "
                       "ticket with its id, or 404 (never a list); no token needed; 30 tries a minute per address "
                       "and token (429, Retry-After)",
            "requestBody": _body({"code": {"type": "string", "example": "A023"},
                                  "phone_last4": {"type": "string", "pattern": "^[0-9]{4}$"}}, ["code", "phone_last4"]),
            "responses": {"200": _ok("the ticket, with its id and page", "Ticket"), **_errors(400, 401, 403, 404, 422, 429)},
        }},
        "/citizens/today": {"post": {
            "summary": "What an ID card opens at the kiosk: that citizen's tickets today and today's appointments "
                       "made with the ID (masked); kiosk and admin tokens, counted like appointment look-ups",
            "security": BEARER,
            "requestBody": _body({"id_number": {"type": "string", "description": "resident ID from the card; "
                                                "matched by a keyed hash, never stored"}}, ["id_number"]),
            "responses": {"200": _ok("tickets and appointments"), **_errors(400, 401, 403, 422, 429)},
        }},
        "/appointments": {
            "post": {"summary": "Record an appointment (from the booking platform)", "security": BEARER,
                     "requestBody": _body({"service": {"type": "string"}, "slot_start": {"type": "string", "format": "date-time"},
                                           "phone": {"type": "string"},
                                           "id_number": {"type": "string", "description": "resident ID: the card checks "
                                                         "it in at the kiosk; stored masked"},
                                           "sms": {"type": "boolean", "description": "the citizen agreed to SMS "
                                                   "(the reminder the day before, then 即将到号 and the call)"}},
                                          ["service", "slot_start", "phone"]),
                     "responses": {"201": _ok("the appointment with its code"), **_errors(400, 401, 403, 404, 409, 422)}},
            "get": {"summary": "Today's booked appointments by phone number or by code (kiosk check-in); kiosk and "
                               "admin tokens only, 30 look-ups a minute per token and per address (429, Retry-After)",
                    "security": BEARER,
                    "parameters": [_query("phone", "string"), _query("code", "string")],
                    "responses": {"200": _ok("appointments"), **_errors(401, 403, 422, 429)}},
        },
        "/sms/watch": {"get": {"summary": "Today's live tickets whose citizen agreed to SMS, with the full phone, "
                                          "state, people ahead and window (notifier and admin tokens)",
                               "security": BEARER, "responses": {"200": _ok("tickets"), **_errors(401, 403)}}},
        "/sms/reminders": {"get": {"summary": "Booked appointments of a day whose citizen agreed to SMS (the reminder "
                                              "the day before; notifier and admin tokens)", "security": BEARER,
                                   "parameters": [{**_query("day", "string"), "required": True}],
                                   "responses": {"200": _ok("appointments"), **_errors(401, 403, 422)}}},
        "/sms/opt-out": {"post": {"summary": "The citizen replied TD: no more SMS to that phone (notifier and admin)",
                                  "security": BEARER, "requestBody": _body({"phone": {"type": "string"}}, ["phone"]),
                                  "responses": {"200": _ok("how many tickets and appointments were switched off"),
                                                **_errors(401, 403, 422)}}},
        "/tickets/{id}/sms-opt-out": {"post": {
            "summary": "The link on the ticket page: no more SMS for this ticket (the id is the key; no token)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok("switched off"), **_errors(404)}}},
        "/windows": {"get": {"summary": "Every window's state", "security": BEARER,
                             "responses": {"200": _ok("windows"), **_errors(401)}}},
        "/windows/{n}": {"get": {"summary": "One window with its waiting list in call order", "security": BEARER,
                                 "parameters": [_path("n")],
                                 "responses": {"200": _ok("the window"), **_errors(401, 404)}}},
        "/ratings": {"post": {
            "summary": "Rate a service (好差评). evaluator: caller-daemon token, names the window; qr/web: "
                       "the ticket's id, no token and no staff session (补充评价); kiosk: kiosk token. No staff "
                       "token or session enters a grade (403). grade 0 = prompt timed out.",
            "requestBody": _body({
                "grade": {"type": "integer", "minimum": 0, "maximum": 5},
                "channel": {"type": "string", "enum": list(RATING_CHANNELS)},
                "window": {"type": "integer"}, "ticket": {"type": "string"},
                "reason": {"type": "string", "enum": list(RATING_REASONS)}, "comment": {"type": "string", "maxLength": 500},
            }, ["grade", "channel"]),
            "responses": {"201": _ok("rating recorded"), "200": _ok("timeout recorded as not rated"),
                          **_errors(400, 403, 404, 409, 422)},
        }},
        "/queue": {"get": {"summary": "Live tickets, masked", "security": BEARER, "responses": {"200": _ok("queue"), **_errors(401)}}},
        "/stats/today": {"get": {"summary": "Today's figures", "security": BEARER, "responses": {"200": _ok("figures"), **_errors(401)}}},
        "/events": {"get": {
            "summary": "Server-sent events: every state change, with ids; resume with Last-Event-ID",
            "security": BEARER,
            "parameters": [{"name": "Last-Event-ID", "in": "header", "schema": ROW_ID},
                           {"name": "last_event_id", "in": "query", "schema": ROW_ID},
                           {"name": "once", "in": "query", "schema": {"type": "string", "enum": ["1"]}}],
            "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {"schema": EVENT}}},
                          **_errors(400, 401)},
        }},
        "/health": {"get": {"summary": "Liveness", "responses": {"200": _ok("ok")}}},
        "/alerts": {
            "get": {"summary": "Active 电子监察 alerts, worst first (?all=1 adds today's cleared ones)", "security": BEARER,
                    "parameters": [_query("all", "string", ["1"])], "responses": {"200": _ok("alerts"), **_errors(401)}},
            "post": {"summary": "A device or kiosk raises (active: true) or clears (active: false) its own condition",
                     "security": BEARER,
                     "requestBody": _body({
                         "kind": {"type": "string", "example": "device_offline"},
                         "source": {"type": "string", "example": "strip:3"},
                         "level": {"type": "string", "enum": ["warning", "yellow", "red"], "default": "red"},
                         "message": {"type": "string"}, "active": {"type": "boolean"}, "window": {"type": "integer"},
                     }, ["kind", "source", "active"]),
                     "responses": {"201": _ok("raised"), "200": _ok("cleared or unchanged"),
                                   **_errors(400, 401, 403, 404, 422)}},
        },
        "/alerts/{id}/ack": {"post": {
            "summary": "A supervisor acknowledges an alert with a note", "security": BEARER,
            "parameters": [_path("id")], "requestBody": _body({"note": {"type": "string"}}, ["note"]),
            "responses": {"200": _ok("the alert"), **_errors(401, 403, 404, 422)}}},
        "/cases": {"get": {
            "summary": "好差评 cases (bad ratings)", "security": BEARER,
            "parameters": [_query("state", "string", ["unfinished", "all", "open", "called_back", "rectified",
                                                      "explained", "appealed", "closed"])],
            "responses": {"200": _ok("cases"), **_errors(401, 403, 422)}}},
        "/cases/{id}": {"get": {"summary": "One case with its steps", "security": BEARER, "parameters": [_path("id")],
                                "responses": {"200": _ok("the case"), **_errors(401, 403, 404)}}},
        "/cases/{id}/phone": {"post": {
            "summary": "The citizen's full phone number for the call-back (回访); every look is logged",
            "security": BEARER, "parameters": [_path("id")],
            "responses": {"200": _ok("{case, phone}"), **_errors(401, 403, 404)}}},
        "/cases/{id}/{action}": {"post": {
            "summary": "Move a case: call-back, rectify, explain, appeal, close, assign (each with a note)",
            "security": BEARER, "parameters": [_path("id"), {"name": "action", "in": "path", "required": True,
                                                             "schema": {"type": "string"}}],
            "requestBody": _body({"note": {"type": "string"}, "owner": {"type": "string"}}, ["note"]),
            "responses": {"200": _ok("the case"), **_errors(401, 403, 404, 409, 422)}}},
        "/tickets/{id}/case": {"get": {
            "summary": "The citizen's view of the case their bad rating opened (public: the id is the key)",
            "parameters": [_path("id", "string")], "responses": {"200": _ok("the case"), **_errors(404)}}},
        "/tickets/{id}/fix-rating": {"post": {
            "summary": "The citizen rates how their case was handled (no token, no staff session)",
            "parameters": [_path("id", "string")],
            "requestBody": _body({"grade": {"type": "integer", "minimum": 1, "maximum": 5}}, ["grade"]),
            "responses": {"201": _ok("the case, with the fix rated"), **_errors(403, 404, 409, 422)}}},
        "/commitments": {"get": {"summary": "承诺件 and their working-day deadlines", "security": BEARER,
                                 "responses": {"200": _ok("commitments"), **_errors(401, 403)}}},
        "/commitments/{record}/done": {"post": {
            "summary": "The back office delivered a 承诺件", "security": BEARER, "parameters": [_path("record")],
            "responses": {"200": _ok("the commitment"), **_errors(401, 403, 404, 409)}}},
        "/reports": {"get": {
            "summary": "Figures per period and grouping, with 好评率 and 红黑榜", "security": BEARER,
            "parameters": [_query("period", "string", ["day", "week", "month", "year"]),
                           _query("date", "string"),
                           _query("by", "string", ["window", "staff", "service", "department", "day", "month"])],
            "responses": {"200": _ok("the report"), **_errors(401, 403, 422)}}},
    }
    for action, (allowed, required) in ACTIONS.items():
        op = {
            "summary": ACTION_HELP[action], "security": BEARER,
            "parameters": [_path("n")],
            "responses": {"200": _ok("result: accepted or nothing_to_do"), **_errors(400, 401, 403, 404, 409, 422)},
        }
        if allowed:
            op["requestBody"] = _body({k: ACTION_PROPS[k] for k in allowed}, list(required))
        paths[f"/windows/{{n}}/{action}"] = {"post": op}
    _writes_take_keys_and_deadlines(paths)
    for item in paths.values():
        for op in item.values():
            _refusals(op)
    return {
        "openapi": "3.0.3",
        "info": {"title": f"hallq API — {config.name}", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {"description": "refused; `field` names the culprit", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
                "Unavailable": {"description": "not applied: deadline passed, overloaded or storage failing; retry later",
                                "headers": {"Retry-After": {"required": True, "description": "seconds",
                                                            "schema": {"type": "integer", "minimum": 1}}},
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}},
                "Ticket": {"type": "object", "properties": {
                    "id": {"type": "string"}, "code": {"type": "string"}, "state": {"type": "string"},
                    "waiting_ahead": {"type": "integer"}, "estimated_wait_minutes": {"type": "number"},
                    "issued_at": {"type": "string", "format": "date-time"}}},
            },
        },
    }
