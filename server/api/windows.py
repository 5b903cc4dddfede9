"""Window actions: what a caller keypad, the clerk's web page or the caller daemon asks for."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, g, jsonify, request

from ..auth import READ_ROLES, WINDOW_ROLES, actor, require
from ..engine import INVITE_WITHIN_MINUTES
from ..errors import Forbidden, NotFound
from ..views import ticket_view, window_view
from . import requests, schemas
from .body import json_body
from .spec import Variant, spec

bp = Blueprint("windows", __name__)

# action -> its body (server/api/schemas.py)
ACTIONS: dict[str, type[schemas.Body]] = {
    "login": schemas.Login,
    "logout": schemas.NoBody,
    "call-next": schemas.NoBody,
    "recall": schemas.NoBody,
    "start": schemas.NoBody,
    "no-show": schemas.NoBody,
    "park": schemas.NoBody,
    "call-back": schemas.CallBack,
    "call": schemas.Call,
    "transfer": schemas.Transfer,
    "finish": schemas.Finish,
    "pause": schemas.Pause,
    "resume": schemas.NoBody,
    "invite-rating": schemas.NoBody,
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


def engine():
    return current_app.config["ENGINE"]


@bp.get("/windows")
@spec("Every window's state", answer=schemas.Windows, says="windows", errors=(401,))
@require(*READ_ROLES)
def list_windows():
    e = engine()
    return jsonify({"windows": [window_view(e, w, waiting=len(e.waiting_for(w.number))) for w in e.window_states()]})


@bp.get("/windows/<int:number>")
@spec("One window with its waiting list in call order", answer=schemas.WindowView, says="the window",
      errors=(401, 404))
@require(*READ_ROLES)
def show(number: int):
    e = engine()
    e._window(number)
    w = next(w for w in e.window_states() if w.number == number)
    waiting = e.waiting_for(number)
    body = window_view(e, w, waiting=len(waiting))
    body["queue"] = [{"code": t.code, "service": t.service, "service_name": e.config.services[t.service].name,
                      "priority": t.priority, "issued_at": t.issued_at.isoformat()} for t in waiting]
    body["parked"] = [{"code": t.code, "service": t.service} for t in e.live_tickets()
                      if t.state == "parked" and t.parked_window == number]
    body["last_service"] = _last_service(e, w)
    return jsonify(body)


def _last_service(e, w) -> dict | None:
    """The service last ended at the window, and whether INVITE-RATING still applies to it (so the
    clerk's page enables that button only when the server would accept it)."""
    if w.last_record is None:
        return None
    record = e._record(w.last_record)
    ended = record.ended_at
    invitable = (not w.current and bool(w.staff) and record.rating_state != "rated" and ended is not None
                 and e.now() - ended <= timedelta(minutes=INVITE_WITHIN_MINUTES))
    return {"code": record.ticket_code, "rating_state": record.rating_state,
            "ended_at": ended.isoformat() if ended else None, "invitable": invitable}


@bp.post("/windows/<int:number>/<action>")
@spec("A window action", answer=schemas.WindowAction, says="accepted or nothing_to_do, the ticket and the window",
      errors=(400, 401, 403, 404, 409, 422),
      variants=("action", {a: Variant(ACTION_HELP[a], model) for a, model in ACTIONS.items()}))
@require(*WINDOW_ROLES)
def act(number: int, action: str):
    if action not in ACTIONS:
        raise NotFound(f"no window action {action!r}; one of: {', '.join(ACTIONS)}", field="action")
    data = json_body(ACTIONS[action])
    user = getattr(g, "user", None)
    if user is not None and user.role == "clerk" and action == "login" and data["staff"] != user.staff:
        raise Forbidden("a clerk signs in only with their own staff number", field="staff")
    e, who = engine(), actor()
    # A window token or a clerk's page acts alone: it may not take anyone off a window. Supervisors,
    # admins and the caller daemon (a LOGIN key pressed at the window itself) may.
    alone = g.token.role == "window"
    handlers = {
        "login": lambda: e.login(number, data["staff"], actor=who, move=not alone, replace=not alone),
        "logout": lambda: e.logout(number, actor=who),
        "call-next": lambda: e.call_next(number, actor=who),
        "recall": lambda: e.recall(number, actor=who),
        "start": lambda: e.start(number, actor=who),
        "no-show": lambda: e.no_show(number, actor=who),
        "park": lambda: e.park(number, actor=who),
        "call-back": lambda: e.call_back(number, data.get("code"), actor=who),
        "call": lambda: e.call(number, data["code"], actor=who),
        "transfer": lambda: e.transfer(number, data.get("to_window"), data.get("to_service"), actor=who,
                                       confirm_unstaffed=bool(data.get("confirm_unstaffed"))),
        "finish": lambda: e.finish(number, data.get("outcome") or "done", actor=who),
        "pause": lambda: e.pause(number, data.get("reason") or "other", actor=who),
        "resume": lambda: e.resume(number, actor=who),
        "invite-rating": lambda: e.invite_rating(number, actor=who),
    }
    result = dict(handlers[action]())
    ticket = result.pop("ticket", None)
    if ticket is not None:
        result["ticket"] = ticket_view(e, ticket)
    elif "ticket" not in result and action in ("call-next", "call-back"):
        result["ticket"] = None
    result["window"] = window_view(e, e.window_state(number))
    return jsonify(result)


@requests.rebuilds("windows.act")
def _acted(row: dict, events: list[dict]) -> dict:
    """A window action retried after a restart: the ticket it acted on, as it is now, and the window."""
    e, number = engine(), request.view_args["number"]
    body: dict = {"result": "accepted"}
    if row["ticket_id"]:
        body["ticket"] = ticket_view(e, e.ticket(row["ticket_id"]))
    body["window"] = window_view(e, next(w for w in e.window_states() if w.number == number))
    return body
