"""Every write gets a deadline and, when it names itself with a key, at most one application.

- `Request-Timeout-Ms` (server/deadline.py): how long the client waits. The front end puts the
  deadline it computed on arrival in environ["hallq.deadline"]; without it (tests, waitress) it is
  computed here, from the header, when Flask sees the request. A write without the header gets
  deadline.DEFAULT_WRITE_SECONDS. The engine and the store never apply a write past it.
- `Idempotency-Key` (IETF httpapi idempotency-key draft; POST /tickets also takes the body field
  `request_id`, for old kiosks): server/requestlog.py keeps the first answer per (caller, key);
  a retry gets it back (`Idempotent-Replayed: true`), the same key on another request is a 409.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request

from .. import body_limits, deadline, requestlog
from ..auth import current_token, session_user
from ..errors import Invalid
from ..requestlog import Answer, RequestLog
from .body import BadRequest

KEY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_KEYS = {"tickets.issue": "request_id"}  # endpoint -> body field accepted as the key

Rebuilder = Callable[[dict, list[dict]], dict]
REBUILDERS: dict[str, Rebuilder] = {}


def rebuilds(endpoint: str) -> Callable[[Rebuilder], Rebuilder]:
    """Register how to answer a retry of `endpoint` after a restart, from its `requests` row and the
    events its action wrote (the exact answer was lost with the process)."""

    def register(fn: Rebuilder) -> Rebuilder:
        REBUILDERS[endpoint] = fn
        return fn

    return register


@dataclass
class _Run:
    scope: str
    key: str
    fingerprint: str
    pending: requestlog.Pending
    token: object
    finished: bool = False


def install(app: Flask, log: RequestLog) -> None:
    app.config["REQUEST_LOG"] = log
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)


def current_key() -> str | None:
    """The running request's idempotency key, if it has one."""
    run = g.get("idempotent")
    return run.key if run is not None else None


def _before() -> Response | None:
    if request.method not in WRITES:
        return None
    given = request.environ.get("hallq.deadline")
    due = given if given is not None else deadline.parse(request.headers.get(deadline.HEADER), time.monotonic())
    g.deadline_token = deadline.set_deadline(due)
    if request.routing_exception is not None:  # no such route or method: its 404/405 comes first
        return None
    if request.environ.get(body_limits.GATE):  # only asked whether the body may be read: no action yet
        return None
    key, field = _key()
    if key is None:
        return None
    scope = _scope()
    if scope is None:  # a token the hall does not know: the view answers 401
        return None
    path = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
    log: RequestLog = current_app.config["REQUEST_LOG"]
    fp = requestlog.fingerprint(log.keys, request.method, path, request.get_data(cache=True))
    found = log.claim(scope, key, fp, field)
    if isinstance(found, Answer):
        return _replay(found)
    if isinstance(found, dict):
        try:
            status, body = _rebuild(found)
        finally:
            log.release(scope, key)
        answer = Answer(fp, status, json.dumps(body, ensure_ascii=False).encode())
        log.remember(scope, key, answer)
        return _replay(answer)
    pending = requestlog.Pending(scope, key, fp, request.endpoint)
    g.idempotent = _Run(scope, key, fp, pending, requestlog.begin(pending))
    return None


def _after(response: Response) -> Response:
    run: _Run | None = g.pop("idempotent", None)
    if run is not None:
        g.idempotent_done = run
        if not response.is_streamed:
            current_app.config["REQUEST_LOG"].finish(run.scope, run.key, run.fingerprint, response.status_code,
                                                     response.get_data(), run.pending.applied)
            run.finished = True
    return response


def _teardown(exc: BaseException | None) -> None:
    run: _Run | None = g.pop("idempotent", None) or g.pop("idempotent_done", None)
    if run is not None:
        if not run.finished:
            current_app.config["REQUEST_LOG"].release(run.scope, run.key)
        requestlog.end(run.token)
    token = g.pop("deadline_token", None)
    if token is not None:
        deadline.reset(token)


def _key() -> tuple[str | None, str]:
    """The key and where it came from. A body `request_id` (old kiosks) is the caller's own choice
    for this action, so it wins over a header key a client library may have added by itself."""
    name = BODY_KEYS.get(request.endpoint or "")
    if name is not None:
        try:
            data = request.get_json(silent=True) if request.is_json else None
        except RecursionError:  # json_body refuses it by name
            data = None
        key = data.get(name) if isinstance(data, dict) else None
        if key is not None:
            if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
                raise Invalid(f"{name} must be 8–64 letters, digits, '-' or '_'", field=name)
            return key, name
    key = request.headers.get(KEY_HEADER)
    if key is None:
        return None, KEY_HEADER
    if not KEY_PATTERN.fullmatch(key.strip()):
        raise BadRequest(f"{KEY_HEADER} must be 8–64 letters, digits, '-' or '_'", field=KEY_HEADER)
    return key.strip(), KEY_HEADER


def _scope() -> str | None:
    """Whose keys these are: the token's name, the signed-in user, or citizens (random keys)."""
    token = current_token()
    if token is not None:
        return token.name
    if request.headers.get("Authorization"):
        return None
    user = session_user()
    return f"web:{user.username}" if user is not None else "anonymous"


def _replay(answer: Answer) -> Response:
    resp = current_app.response_class(answer.body, status=answer.status, mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def _rebuild(row: dict) -> tuple[int, dict]:
    """The answer to a retry whose first answer was lost with the process: the stored one if it was
    written, else one rebuilt (200) from what the action wrote; both say "replayed"."""
    if row["body"] and row["status"]:
        try:
            body = json.loads(row["body"])
        except ValueError:
            body = None
        if isinstance(body, dict):
            return row["status"], {**body, "replayed": True}
    events = []
    if row["first_event"] is not None:
        store = current_app.config["ENGINE"].store
        events = store.events_after(row["first_event"] - 1, limit=row["last_event"] - row["first_event"] + 1)
    rebuild = REBUILDERS.get(row["endpoint"] or "")
    body = rebuild(row, events) if rebuild else {"result": "accepted", "events": [e["type"] for e in events]}
    return 200, {**body, "replayed": True}
