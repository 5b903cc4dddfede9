"""The OpenAPI 3 description of /api/v1, built from the same tables the routes use.

Every request body and the main answers are the pydantic models of server/api/schemas.py, turned
into OpenAPI 3.0 schemas here (`nullable` instead of null types, one `example`), so a body's fields,
types and bounds are written once for the check and for the document.

Answers every route can give come from app-wide rules and are added to every operation by
`_refusals`, so no route can answer a status its description lacks: 400 (a query parameter or body
that is not Unicode text, a body that is not JSON), 401/403 (any call with a token), 404 (a path
integer beyond SQLite's 64 bits), 413/422 (any body), 503 (deadline passed, overloaded, storage
failing; with Retry-After)."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from hallq.model import HallConfig

from .api import schemas
from .api.inputs import SQLITE_INT_MAX
from .api.windows import ACTIONS

ERROR = {"$ref": "#/components/responses/Error"}
BAD_REQUEST = {"$ref": "#/components/responses/BadRequest"}
UNAVAILABLE = {"$ref": "#/components/responses/Unavailable"}
ROW_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": SQLITE_INT_MAX}
BEARER = [{"bearer": []}]


class _OpenAPI30(GenerateJsonSchema):
    """JSON Schema as OpenAPI 3.0 reads it: an optional field is `nullable`, not a union with null."""

    def nullable_schema(self, schema):
        inner = self.generate_inner(schema["schema"])
        return {"allOf": [inner], "nullable": True} if "$ref" in inner else {**inner, "nullable": True}


_KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "enum", "default", "description",
             "minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength", "minItems", "maxItems", "pattern",
             "format", "nullable", "allOf", "anyOf", "oneOf", "$ref", "$defs"}


def _openapi30(node):
    """What 3.0 spells differently from JSON Schema 2020-12, everywhere in a generated schema; hallq's
    own keywords (unit, means …) become extensions (x-unit)."""
    if isinstance(node, list):
        return [_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("title", "examples", "const"):
            continue
        if k in ("properties", "$defs") and isinstance(v, dict):
            out[k] = {name: _openapi30(sub) for name, sub in v.items()}
        else:
            out[k if k in _KEYWORDS else f"x-{k}"] = _openapi30(v)
    if "examples" in node:
        out["example"] = node["examples"][0]
    if "const" in node:
        out["enum"] = [node["const"]]
    if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(node["exclusiveMinimum"], bool):
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    return out


def _components(models: list[type[BaseModel]]) -> dict:
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}",
                                schema_generator=_OpenAPI30)
    return {name: _openapi30(schema) for name, schema in top.get("$defs", {}).items()}


def _body(model: type[BaseModel]) -> dict:
    """A request body, its schema inline (as clients and tests read it)."""
    required = any(f.is_required() for f in model.model_fields.values())
    return {"required": required, "content": {"application/json": {"schema": _components([model])[model.__name__]}}}


def _ticket_body(config: HallConfig) -> dict:
    """A ticket's priority is one of this hall's classes."""
    body = _body(schemas.TicketRequest)
    body["content"]["application/json"]["schema"]["properties"]["priority"]["enum"] = list(config.priorities)
    return body


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
    return {str(c): BAD_REQUEST if c == 400 else ERROR for c in codes}


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
        op["responses"].setdefault(str(code), BAD_REQUEST if code == 400 else ERROR)
    op["responses"].setdefault("503", UNAVAILABLE)


# One message of the event stream, as schemathesis and browsers parse it; `data` is a JSON object.
EVENT = {"type": "object", "required": ["data"], "properties": {
    "id": {"type": "string", "pattern": "^[0-9]+$"}, "event": {"type": "string"},
    "data": {"type": "string"}, "retry": {"type": "integer"}}}


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


def _config_paths() -> dict:
    """The live configuration (server/api/config.py): admin only."""
    version = _ok("the new version (201), or the latest one when nothing changed (200)", "ConfigVersion")
    writes = {"201": version, "200": version, **_errors(401, 403, 404, 409, 422)}
    return {
        "/config": {
            "get": {"summary": "The running hall, in the TOML file's shape (no tokens), and its version",
                    "security": BEARER, "responses": {"200": _ok("the hall", "CurrentConfig"), **_errors(401, 403)}},
            "post": {"summary": "Change the whole hall live: checked like the file (422 lists every problem), applied "
                                "between two engine actions, recorded as the next version with who, when and the diff; "
                                "409 when a matter or window in use would go, or `based_on` is not the latest; 403 "
                                "county_catalogue when it changes what the county's catalogue release fixes",
                     "security": BEARER, "requestBody": _body(schemas.ConfigChange), "responses": dict(writes)}},
        "/config/schema": {"get": {"summary": "The JSON schema of a hall: labels, units, ranges (the admin forms)",
                                   "security": BEARER, "responses": {"200": _ok("JSON schema"), **_errors(401, 403)}}},
        "/config/versions": {"get": {"summary": "Every version, newest first, with who, when, note and diff",
                                     "security": BEARER, "responses": {"200": _ok("versions", "ConfigVersions"), **_errors(401, 403)}}},
        "/config/versions/{number}": {"get": {
            "summary": "One version with its whole hall", "security": BEARER, "parameters": [_path("number")],
            "responses": {"200": _ok("the version", "ConfigVersionDetail"), **_errors(401, 403, 404)}}},
        "/config/versions/{number}/restore": {"post": {
            "summary": "Make an older version the running one (recorded as a new version)", "security": BEARER,
            "parameters": [_path("number")], "requestBody": _body(schemas.Restore), "responses": dict(writes)}},
        "/config/export": {"get": {
            "summary": "The running hall as a TOML file (tokens are not included)", "security": BEARER,
            "responses": {"200": {"description": "TOML", "content": {"application/toml": {"schema": {"type": "string"}}}},
                          **_errors(401, 403)}}},
        "/config/import": {"post": {
            "summary": "A whole hall as TOML text: checked with the line of every problem, applied like a change",
            "security": BEARER, "requestBody": _body(schemas.ConfigImport), "responses": dict(writes)}},
    }


def _rating_paths() -> dict:
    """好差评 to GB/T 39734 (server/api/appeals.py): 办件编号, records, indicators, 申诉复核."""
    period = [_query("period", "string", ["day", "week", "month", "year"]), _query("date", "string")]
    verdict = {"name": "verdict", "in": "path", "required": True, "schema": {"type": "string",
                                                                           "enum": ["uphold", "reject"]}}
    return {
        "/windows/{n}/case-number": {"post": {
            "summary": "Attach the business system's 办件编号 to the service at the window (current, else last)",
            "security": BEARER, "parameters": [_path("n")], "requestBody": _body(schemas.CaseNumber),
            "responses": {"200": _ok("the record and its 办件编号", "CaseNumberAttached"), **_errors(401, 403, 404, 409, 422)}}},
        "/rating-records": {"get": {
            "summary": "Rating records with the GB/T 39734 fields, of services ended in the period",
            "security": BEARER, "parameters": period, "responses": {"200": _ok("records", "RatingRecords"), **_errors(401, 403, 422)}}},
        "/rating-indicators": {"get": {
            "summary": "好评率, 主动评价率, 未评价率 per window, staff, matter, department or hall, with definitions",
            "security": BEARER,
            "parameters": [*period, _query("group", "string", ["window", "staff", "service", "department", "hall"])],
            "responses": {"200": _ok("indicators", "RatingIndicators"), **_errors(401, 403, 422)}}},
        "/ratings/{id}/appeal": {"post": {
            "summary": "申诉复核: a window appeals its own rating with its reason and evidence",
            "security": BEARER, "parameters": [_path("id")], "requestBody": _body(schemas.AppealFiling),
            "responses": {"201": _ok("the appeal", "Appeal"), **_errors(401, 403, 404, 409, 422)}}},
        "/appeals": {"get": {
            "summary": "Appeals (default: waiting for a reviewer)", "security": BEARER,
            "parameters": [_query("state", "string", ["filed", "upheld", "rejected", "all"])],
            "responses": {"200": _ok("appeals", "Appeals"), **_errors(401, 403, 422)}}},
        "/appeals/{id}": {"get": {"summary": "One appeal", "security": BEARER, "parameters": [_path("id")],
                                  "responses": {"200": _ok("the appeal", "Appeal"), **_errors(401, 403, 404)}}},
        "/appeals/{id}/{verdict}": {"post": {
            "summary": "A reviewer not of the window (not the filer) upholds or rejects; upheld leaves every score",
            "security": BEARER, "parameters": [_path("id"), verdict], "requestBody": _body(schemas.AppealDecision),
            "responses": {"200": _ok("the appeal", "Appeal"), **_errors(401, 403, 404, 409, 422)}}},
    }


def _user_paths() -> dict:
    """Web users (server/api/users.py): admin only."""
    name = _path("username", "string")
    user = {"200": _ok("the user", "User"), **_errors(401, 403, 404, 422)}
    return {
        "/users": {
            "get": {"summary": "Web users, with minutes still locked after failed sign-ins", "security": BEARER,
                    "responses": {"200": _ok("users", "Users"), **_errors(401, 403)}},
            "post": {"summary": "Add a web user (a clerk needs a staff number of the hall)", "security": BEARER,
                     "requestBody": _body(schemas.UserAdd),
                     "responses": {"201": _ok("the user", "User"), **_errors(401, 403, 409, 422)}}},
        "/users/{username}/password": {"post": {
            "summary": "Reset a password; every session of the user ends", "security": BEARER, "parameters": [name],
            "requestBody": _body(schemas.Password), "responses": dict(user)}},
        "/users/{username}/active": {"post": {
            "summary": "Disable (ends every session) or enable a user", "security": BEARER, "parameters": [name],
            "requestBody": _body(schemas.Active), "responses": dict(user)}},
        "/users/{username}/unlock": {"post": {
            "summary": "Let a name locked by failed sign-ins try again now", "security": BEARER, "parameters": [name],
            "responses": dict(user)}},
    }


def _schemas(config: HallConfig) -> dict:
    """The answers' models."""
    return _components(list(schemas.ANSWERS))


def document(config: HallConfig) -> dict:
    paths: dict[str, dict] = {
        "/services": {"get": {"summary": "Menu: services and 一件事 bundles with waiting count and estimated wait",
                              "responses": {"200": _ok("the menu", "Menu")}}},
        "/nearby": {"get": {"summary": "附近大厅: every centre's wait per matter as the county last said, with its age "
                                       "(public, like the menu; a stale copy when the link is down)",
                            "responses": {"200": _ok("the kept copy", "Nearby")}}},
        "/tickets": {"post": {
            "summary": "Issue a ticket", "security": BEARER,
            "requestBody": _ticket_body(config),
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
            "requestBody": _body(schemas.FindTicket),
            "responses": {"200": _ok("the ticket, with its id and page", "Ticket"), **_errors(400, 401, 403, 404, 422, 429)},
        }},
        "/citizens/today": {"post": {
            "summary": "What an ID card opens at the kiosk: that citizen's tickets today and today's appointments "
                       "made with the ID (masked); kiosk and admin tokens, counted like appointment look-ups",
            "security": BEARER,
            "requestBody": _body(schemas.CitizenToday),
            "responses": {"200": _ok("tickets and appointments", "CitizenTodayAnswer"), **_errors(400, 401, 403, 422, 429)},
        }},
        "/appointments": {
            "post": {"summary": "Record an appointment (from the booking platform)", "security": BEARER,
                     "requestBody": _body(schemas.AppointmentRequest),
                     "responses": {"201": _ok("the appointment with its code", "Appointment"), **_errors(400, 401, 403, 404, 409, 422)}},
            "get": {"summary": "Today's booked appointments by phone number or by code (kiosk check-in); kiosk and "
                               "admin tokens only, 30 look-ups a minute per token and per address (429, Retry-After)",
                    "security": BEARER,
                    "parameters": [_query("phone", "string"), _query("code", "string")],
                    "responses": {"200": _ok("appointments", "Appointments"), **_errors(401, 403, 422, 429)}},
        },
        "/referrals": {
            "post": {"summary": "Refer a citizen's matter up the tree (帮办代办 / 就近办): the county routes it to the "
                                "hall above that serves it, which books an appointment; window, supervisor, admin",
                     "security": BEARER, "requestBody": _body(schemas.ReferralRequest),
                     "responses": {"201": _ok("the referral, pending at the county", "Referral"), **_errors(400, 401, 403, 409, 422)}},
            "get": {"summary": "Referrals made here (out) and taken in (in), newest first, with state, appointment "
                               "code and outcome", "security": BEARER,
                    "parameters": [_query("direction", "string")],
                    "responses": {"200": _ok("referrals", "Referrals"), **_errors(401, 403, 422)}},
        },
        "/sms/watch": {"get": {"summary": "Today's live tickets whose citizen agreed to SMS, with the full phone, "
                                          "state, people ahead and window (notifier and admin tokens)",
                               "security": BEARER, "responses": {"200": _ok("tickets", "SmsWatch"), **_errors(401, 403)}}},
        "/sms/reminders": {"get": {"summary": "Booked appointments of a day whose citizen agreed to SMS (the reminder "
                                              "the day before; notifier and admin tokens)", "security": BEARER,
                                   "parameters": [{**_query("day", "string"), "required": True}],
                                   "responses": {"200": _ok("appointments", "SmsReminders"), **_errors(401, 403, 422)}}},
        "/sms/opt-out": {"post": {"summary": "The citizen replied TD: no more SMS to that phone (notifier and admin)",
                                  "security": BEARER, "requestBody": _body(schemas.Phone),
                                  "responses": {"200": _ok("how many tickets and appointments were switched off", "SwitchedOff"),
                                                **_errors(401, 403, 422)}}},
        "/tickets/{id}/sms-opt-out": {"post": {
            "summary": "The link on the ticket page: no more SMS for this ticket (the id is the key; no token)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok("switched off", "SwitchedOff"), **_errors(404)}}},
        "/windows": {"get": {"summary": "Every window's state", "security": BEARER,
                             "responses": {"200": _ok("windows", "Windows"), **_errors(401)}}},
        "/windows/{n}": {"get": {"summary": "One window with its waiting list in call order", "security": BEARER,
                                 "parameters": [_path("n")],
                                 "responses": {"200": _ok("the window", "WindowView"), **_errors(401, 404)}}},
        "/ratings": {"post": {
            "summary": "Rate a service (好差评). evaluator: caller-daemon token, names the window; qr/web: "
                       "the ticket's id, no token and no staff session (补充评价); kiosk: kiosk token. No staff "
                       "token or session enters a grade (403). grade 0 = prompt timed out.",
            "requestBody": _body(schemas.RatingRequest),
            "responses": {"201": _ok("rating recorded", "RatingResult"), "200": _ok("timeout recorded as not rated", "RatingResult"),
                          **_errors(400, 403, 404, 409, 422)},
        }},
        "/queue": {"get": {"summary": "Live tickets, masked", "security": BEARER, "responses": {"200": _ok("queue", "Queue"), **_errors(401)}}},
        "/stats/today": {"get": {"summary": "Today's figures", "security": BEARER, "responses": {"200": _ok("figures", "StatsToday"), **_errors(401)}}},
        "/events": {"get": {
            "summary": "Server-sent events: every state change, with ids; resume with Last-Event-ID",
            "security": BEARER,
            "parameters": [{"name": "Last-Event-ID", "in": "header", "schema": ROW_ID},
                           {"name": "last_event_id", "in": "query", "schema": ROW_ID},
                           {"name": "once", "in": "query", "schema": {"type": "string", "enum": ["1"]}}],
            "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {"schema": EVENT}}},
                          **_errors(400, 401)},
        }},
        "/health": {"get": {"summary": "Liveness", "responses": {"200": _ok("ok", "Health")}}},
        "/media/{name}": {"get": {
            "summary": "A picture the hall display shows in turn (hall.media; public, like the display)",
            "parameters": [_path("name", "string")],
            "responses": {"200": {"description": "the picture", "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}, **_errors(404)}}},
        "/alerts": {
            "get": {"summary": "Active 电子监察 alerts, worst first (?all=1 adds today's cleared ones)", "security": BEARER,
                    "parameters": [_query("all", "string", ["1"])], "responses": {"200": _ok("alerts", "Alerts"), **_errors(401)}},
            "post": {"summary": "A device or kiosk raises (active: true) or clears (active: false) its own condition",
                     "security": BEARER,
                     "requestBody": _body(schemas.AlertReport),
                     "responses": {"201": _ok("raised", "AlertReported"), "200": _ok("cleared or unchanged", "AlertReported"),
                                   **_errors(400, 401, 403, 404, 422)}},
        },
        "/alerts/ack": {"post": {
            "summary": "A supervisor acknowledges many alerts with one note (those cleared or acknowledged "
                       "meanwhile come back in skipped, with the reason)", "security": BEARER,
            "requestBody": _body(schemas.AlertsAck),
            "responses": {"200": _ok("acked and skipped alerts", "AlertsAcked"), **_errors(401, 403, 404, 422)}}},
        "/alerts/{id}/ack": {"post": {
            "summary": "A supervisor acknowledges an alert with a note", "security": BEARER,
            "parameters": [_path("id")], "requestBody": _body(schemas.Note),
            "responses": {"200": _ok("the alert", "Alert"), **_errors(401, 403, 404, 422)}}},
        "/cases": {"get": {
            "summary": "好差评 cases (bad ratings)", "security": BEARER,
            "parameters": [_query("state", "string", ["unfinished", "all", "open", "called_back", "rectified",
                                                      "explained", "appealed", "closed"])],
            "responses": {"200": _ok("cases", "Cases"), **_errors(401, 403, 422)}}},
        "/cases/{id}": {"get": {"summary": "One case with its steps", "security": BEARER, "parameters": [_path("id")],
                                "responses": {"200": _ok("the case", "Case"), **_errors(401, 403, 404)}}},
        "/cases/{id}/phone": {"post": {
            "summary": "The citizen's full phone number for the call-back (回访); every look is logged",
            "security": BEARER, "parameters": [_path("id")],
            "responses": {"200": _ok("the case and its phone number", "CasePhone"), **_errors(401, 403, 404)}}},
        "/cases/{id}/{action}": {"post": {
            "summary": "Move a case: call-back (with contact and the citizen's answer), call-attempt, rectify, "
                       "explain, appeal, close (only once the answer is recorded), assign; each with a note (409 "
                       "county_owned when the hall's [county] cases = \"county\": the county takes the steps)",
            "security": BEARER, "parameters": [_path("id"), {"name": "action", "in": "path", "required": True,
                                                             "schema": {"type": "string"}}],
            "requestBody": _body(schemas.CaseAction),
            "responses": {"200": _ok("the case", "Case"), **_errors(401, 403, 404, 409, 422)}}},
        "/tickets/{id}/case": {"get": {
            "summary": "The citizen's view of the case their bad rating opened (public: the id is the key)",
            "parameters": [_path("id", "string")], "responses": {"200": _ok("the case", "FixStatus"), **_errors(404)}}},
        "/tickets/{id}/fix-rating": {"post": {
            "summary": "The citizen rates how their case was handled (no token, no staff session)",
            "parameters": [_path("id", "string")],
            "requestBody": _body(schemas.FixRating),
            "responses": {"201": _ok("the case, with the fix rated", "FixStatus"), **_errors(403, 404, 409, 422)}}},
        "/commitments": {"get": {"summary": "承诺件 and their working-day deadlines", "security": BEARER,
                                 "responses": {"200": _ok("commitments", "Commitments"), **_errors(401, 403)}}},
        "/commitments/{record}/done": {"post": {
            "summary": "The back office delivered a 承诺件", "security": BEARER, "parameters": [_path("record")],
            "responses": {"200": _ok("the commitment", "Commitment"), **_errors(401, 403, 404, 409)}}},
        "/reports": {"get": {
            "summary": "Figures per period and grouping, with 好评率 and 红黑榜", "security": BEARER,
            "parameters": [_query("period", "string", ["day", "week", "month", "year"]),
                           _query("date", "string"),
                           _query("by", "string", ["window", "staff", "service", "department", "day", "month"])],
            "responses": {"200": _ok("the report", "Report"), **_errors(401, 403, 422)}}},
    }
    paths.update(_config_paths())
    paths.update(_rating_paths())
    for action, model in ACTIONS.items():
        op = {
            "summary": ACTION_HELP[action], "security": BEARER,
            "parameters": [_path("n")],
            "responses": {"200": _ok("accepted or nothing_to_do, the ticket and the window", "WindowAction"), **_errors(400, 401, 403, 404, 409, 422)},
        }
        if model.model_fields:
            op["requestBody"] = _body(model)
        paths[f"/windows/{{n}}/{action}"] = {"post": op}
    paths.update(_user_paths())
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
                "BadRequest": {"description": "refused; `field` names the culprit. A request the HTTP parser cannot read "
                                              "(a garbled header) never reaches hallq: the server's plain-text 400",
                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                                           "text/plain": {"schema": {"type": "string"}}}},
                "Error": {"description": "refused; `field` names the culprit", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
                "Unavailable": {"description": "not applied: deadline passed, overloaded or storage failing; retry later",
                                "headers": {"Retry-After": {"required": True, "description": "seconds",
                                                            "schema": {"type": "integer", "minimum": 1}}},
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": _schemas(config),
        },
    }
