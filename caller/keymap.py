"""Keypad and evaluator events -> HTTP API calls, and API answers -> the ACK's RESULT byte.

Pure mapping, no I/O: the daemon asks `request_for` what to send and `result_of` what to answer,
so every key of the QB-68 datasheet (§3) has one tested line here. A request the host cannot
build (a transfer target that names nothing, a rating from a keypad) is `Malformed` and is
answered 0x03 without asking the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers import qb68
from drivers.qb68 import FunctionCode, Grade, Outcome, PauseReason, RatingReason, Result

OUTCOMES = {Outcome.DONE: "done", Outcome.ACCEPTED_LATER: "accepted", Outcome.NOT_DONE: "cannot",
            Outcome.MATERIALS_INCOMPLETE: "informed"}
PAUSE_REASONS = {PauseReason.BREAK: "break", PauseReason.MEETING: "meeting", PauseReason.LUNCH: "lunch",
                 PauseReason.OTHER: "other"}
RATING_REASONS = {RatingReason.ATTITUDE: "attitude", RatingReason.EFFICIENCY: "efficiency",
                  RatingReason.COMPETENCE: "competence", RatingReason.ENVIRONMENT: "environment"}


class Malformed(ValueError):
    """The event cannot become an API call; the device gets RESULT 0x03."""


@dataclass(frozen=True)
class ApiRequest:
    """One POST to the server: `path` under /api/v1 and its JSON body."""

    path: str
    body: dict[str, Any] = field(default_factory=dict)
    action: str = ""  # window action name, "" for ratings


def _window_action(window: int, action: str, **body: Any) -> ApiRequest:
    return ApiRequest(f"/windows/{window}/{action}", {k: v for k, v in body.items() if v is not None}, action)


def keypad_request(event: qb68.Event, window: int) -> ApiRequest:
    """The window action a keypad key asks for."""
    match event:
        case qb68.Login(staff=staff):
            return _window_action(window, "login", staff=staff)
        case qb68.Logout():
            return _window_action(window, "logout")
        case qb68.CallNext():
            return _window_action(window, "call-next")
        case qb68.Recall():
            return _window_action(window, "recall")
        case qb68.NoShow():
            return _window_action(window, "no-show")
        case qb68.Finish(outcome=outcome):
            return _window_action(window, "finish", outcome=OUTCOMES[Outcome(outcome)])
        case qb68.InviteRating():
            return _window_action(window, "invite-rating")
        case qb68.Function(function=function, text=text):
            if function == FunctionCode.PARK:
                return _window_action(window, "park")
            if function == FunctionCode.CALL_PARKED:
                return _window_action(window, "call-back", code=text.strip() or None)
            code = text.strip().upper()
            if not code:
                raise Malformed("calling a specific ticket needs its code")
            return _window_action(window, "call", code=code)
        case qb68.Pause(reason=reason):
            return _window_action(window, "pause", reason=PAUSE_REASONS[PauseReason(reason)])
        case qb68.Resume():
            return _window_action(window, "resume")
        case qb68.Transfer(target=target):
            rest = target[1:].strip()
            if target[0] == "W":
                if not rest.isdigit():
                    raise Malformed(f"transfer target {target!r}: W must be followed by a window number")
                return _window_action(window, "transfer", to_window=int(rest))
            if not rest:
                raise Malformed(f"transfer target {target!r}: S must be followed by a service code")
            return _window_action(window, "transfer", to_service="S" + rest.upper())
    raise Malformed(f"{type(event).__name__} is not a keypad key")


def rating_request(event: qb68.Rating, window: int) -> ApiRequest:
    """An evaluator key press as a rating for its window; grade 0 is the prompt timing out."""
    body: dict[str, Any] = {"grade": int(Grade(event.grade)), "channel": "evaluator", "window": window}
    if event.reason is not None:
        body["reason"] = RATING_REASONS[RatingReason(event.reason)]
    return ApiRequest("/ratings", body)


def request_for(event: qb68.Event, window: int, evaluator: bool) -> ApiRequest:
    """The call for an event from a configured device; `evaluator` says which role the address has.

    Keypads cannot rate and evaluators cannot press window keys (datasheet §5: no clerk chooses a
    grade), so a mismatch is Malformed.
    """
    if evaluator:
        if not isinstance(event, qb68.Rating):
            raise Malformed(f"an evaluator sent {type(event).__name__}")
        return rating_request(event, window)
    if isinstance(event, qb68.Rating):
        raise Malformed("a keypad cannot submit a rating")
    return keypad_request(event, window)


def result_of(answer: dict | None = None, status: int | None = None) -> Result:
    """RESULT byte for a server answer: a 2xx body, or the HTTP status of a refusal.

    accepted -> 0x00, nothing_to_do -> 0x02, any refusal (4xx: not allowed now, unknown staff,
    no such ticket; 5xx) -> 0x01.
    """
    if status is not None and status >= 400:
        return Result.REJECTED
    if answer is not None and answer.get("result") == "nothing_to_do":
        return Result.NOTHING_TO_DO
    return Result.ACCEPTED


def display_text(state: str, code: str | None, waiting: int | None, online: bool = True) -> str:
    """The keypad's 8-character display: the ticket being served, `PAUSE` while paused, else the
    number waiting for this window (`W  12`); `OFFLINE` when the server cannot be reached."""
    if not online:
        return "OFFLINE"
    if state in ("called", "serving") and code:
        return code[: qb68.DISPLAY_CHARS]
    if state == "paused":
        return "PAUSE"
    if waiting is None:
        return "W   -"
    return f"W{min(waiting, 99999):>4}"[: qb68.DISPLAY_CHARS]
