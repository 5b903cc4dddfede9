"""Every QB-68 key -> its API call, answers -> RESULT bytes, and what keypads and strips show."""

from __future__ import annotations

import pytest

from caller.keymap import Malformed, display_text, request_for, result_of
from caller.strips import IDLE, PAUSED_TEXT, call_text, content_for
from drivers import qb68
from drivers.lsa0 import Color
from drivers.qb68 import FunctionCode, Grade, Outcome, PauseReason, RatingReason, Result


@pytest.mark.parametrize(("event", "path", "body"), [
    (qb68.Login(3, 1, "1003"), "/windows/3/login", {"staff": "1003"}),
    (qb68.Logout(3, 1), "/windows/3/logout", {}),
    (qb68.CallNext(3, 1), "/windows/3/call-next", {}),
    (qb68.Recall(3, 1), "/windows/3/recall", {}),
    (qb68.NoShow(3, 1), "/windows/3/no-show", {}),
    (qb68.Finish(3, 1, Outcome.DONE), "/windows/3/finish", {"outcome": "done"}),
    (qb68.Finish(3, 1, Outcome.ACCEPTED_LATER), "/windows/3/finish", {"outcome": "accepted"}),
    (qb68.Finish(3, 1, Outcome.NOT_DONE), "/windows/3/finish", {"outcome": "cannot"}),
    (qb68.Finish(3, 1, Outcome.MATERIALS_INCOMPLETE), "/windows/3/finish", {"outcome": "informed"}),
    (qb68.InviteRating(3, 1), "/windows/3/invite-rating", {}),
    (qb68.Function(3, 1, FunctionCode.PARK), "/windows/3/park", {}),
    (qb68.Function(3, 1, FunctionCode.CALL_PARKED), "/windows/3/call-back", {}),
    (qb68.Function(3, 1, FunctionCode.CALL_PARKED, "A023"), "/windows/3/call-back", {"code": "A023"}),
    (qb68.Function(3, 1, FunctionCode.CALL_SPECIFIC, "a023"), "/windows/3/call", {"code": "A023"}),
    (qb68.Pause(3, 1, PauseReason.BREAK), "/windows/3/pause", {"reason": "break"}),
    (qb68.Pause(3, 1, PauseReason.MEETING), "/windows/3/pause", {"reason": "meeting"}),
    (qb68.Pause(3, 1, PauseReason.LUNCH), "/windows/3/pause", {"reason": "lunch"}),
    (qb68.Pause(3, 1, PauseReason.OTHER), "/windows/3/pause", {"reason": "other"}),
    (qb68.Resume(3, 1), "/windows/3/resume", {}),
    (qb68.Transfer(3, 1, "W12"), "/windows/3/transfer", {"to_window": 12}),
    (qb68.Transfer(3, 1, "S301"), "/windows/3/transfer", {"to_service": "S301"}),
])
def test_every_keypad_key_maps_to_one_window_action(event, path, body):
    request = request_for(event, 3, evaluator=False)
    assert (request.path, request.body) == (path, body)


def test_evaluator_keys_map_to_ratings():
    r = request_for(qb68.Rating(0x83, 1, Grade.DISSATISFIED, RatingReason.ATTITUDE), 3, evaluator=True)
    assert (r.path, r.body) == ("/ratings", {"grade": 2, "channel": "evaluator", "window": 3, "reason": "attitude"})
    timeout = request_for(qb68.Rating(0x83, 2, Grade.TIMEOUT), 3, evaluator=True)
    assert timeout.body == {"grade": 0, "channel": "evaluator", "window": 3}


@pytest.mark.parametrize(("event", "evaluator"), [
    (qb68.Rating(3, 1, Grade.VERY_SATISFIED), False),  # a clerk's keypad can never rate
    (qb68.CallNext(0x83, 1), True),  # an evaluator has no window keys
    (qb68.Transfer(3, 1, "WX"), False),
    (qb68.Transfer(3, 1, "S"), False),
    (qb68.Function(3, 1, FunctionCode.CALL_SPECIFIC, ""), False),
])
def test_impossible_requests_are_malformed(event, evaluator):
    with pytest.raises(Malformed):
        request_for(event, 3, evaluator=evaluator)


def test_answers_become_result_bytes():
    assert result_of({"result": "accepted"}) == Result.ACCEPTED
    assert result_of({"result": "nothing_to_do"}) == Result.NOTHING_TO_DO
    assert result_of({"rated": False}) == Result.ACCEPTED  # a timed-out prompt, stored as not rated
    for status in (403, 404, 409, 422, 500):
        assert result_of(status=status) == Result.REJECTED


def test_keypad_display():
    assert display_text("called", "A023", 4) == "A023"
    assert display_text("serving", "A023", 4) == "A023"
    assert display_text("paused", None, 4) == "PAUSE"
    assert display_text("idle", None, 12) == "W  12"
    assert display_text("unstaffed", None, 0) == "W   0"
    assert display_text("idle", None, None) == "W   -"
    assert display_text("called", "A023", 4, online=False) == "OFFLINE"
    assert all(len(display_text("idle", None, n)) <= 8 for n in (0, 9999, 10**9))


def test_strip_texts_fit_the_strip():
    assert call_text("A023", 3) == "A023 请到3号窗口"  # 16 GBK bytes: exactly one strip
    assert call_text("A023", 12) == "A023请到12号窗口"  # the space goes before the text would not fit
    assert content_for("called", "A023", 3).color == Color.GREEN
    assert content_for("paused", None, 3).text == PAUSED_TEXT
    assert content_for("idle", None, 3) == IDLE
    assert content_for("unstaffed", None, 3) == IDLE
    assert not content_for("called", "A023", 123).fits  # scrolls instead of being cut
