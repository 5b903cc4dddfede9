"""Every ticket transition and every refusal of the queue engine."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from conftest import MONDAY_9AM, TZ
from hallfactory import small_hall

from server.engine import Engine
from server.errors import Conflict, Invalid, NotFound
from server.store import Store


def events(engine, type_=None):
    rows = engine.store.events_after(0, 10_000)
    return [e for e in rows if type_ is None or e["type"] == type_]


# -- issuing and numbers ------------------------------------------------------------------------


def test_numbers_per_prefix_are_sequential_and_padded(engine):
    codes = [engine.issue("S101").code, engine.issue("S102").code, engine.issue("S201").code, engine.issue("S101").code]
    assert codes == ["A001", "A002", "B001", "A003"]


def test_number_width_is_configurable(tmp_path, clock):
    e = Engine(small_hall(number_width=4), Store(tmp_path / "w.db"), clock)
    assert e.issue("S101").code == "A0001"


def test_numbers_restart_each_day_in_hall_time_zone(engine, clock):
    assert engine.issue("S101").code == "A001"
    # 23:30 UTC on Monday is already Tuesday 07:30 in Shanghai: a new day, but before opening.
    clock.set(datetime(2026, 11, 24, 8, 45, tzinfo=TZ))
    assert engine.issue("S101").code == "A001"
    assert engine.issue("S101").day == "2026-11-24"


def test_numbers_continue_after_restart(tmp_path, clock, hall):
    path = tmp_path / "r.db"
    e1 = Engine(hall, Store(path), clock)
    e1.issue("S101")
    e1.issue("S101")
    e2 = Engine(hall, Store(path), clock)
    assert e2.issue("S101").code == "A003"
    assert len(e2.live_tickets()) == 3


def test_prefix_running_out_is_said_clearly(tmp_path, clock):
    e = Engine(small_hall(number_width=2), Store(tmp_path / "x.db"), clock)
    for _ in range(99):
        e.issue("S101")
    with pytest.raises(Conflict) as err:
        e.issue("S102")  # shares prefix A
    assert err.value.code == "numbers_exhausted"
    assert "A99" in err.value.message and err.value.field == "service"
    assert e.issue("S201").code == "B01"  # other prefixes go on


def test_unknown_service_and_bad_fields_are_refused(engine):
    with pytest.raises(NotFound) as err:
        engine.issue("S404")
    assert err.value.field == "service"
    with pytest.raises(Invalid) as err:
        engine.issue("S101", priority="vip")
    assert err.value.field == "priority"
    with pytest.raises(Invalid) as err:
        engine.issue("S101", phone="12ab")
    assert err.value.field == "phone"
    with pytest.raises(Invalid) as err:
        engine.issue("S101", phone="１３８１２３４５６７８")  # full-width digits from an IME
    assert err.value.field == "phone"
    with pytest.raises(Invalid) as err:
        engine.issue("S101", priority="appointment")
    assert err.value.field == "priority"
    assert engine.live_tickets() == []
    assert events(engine) == []


def test_closed_hall_issues_no_tickets(engine, clock):
    clock.set(MONDAY_9AM.replace(hour=18))
    with pytest.raises(Conflict) as err:
        engine.issue("S101")
    assert err.value.code == "hall_closed"
    clock.set(MONDAY_9AM + timedelta(days=5))  # Saturday
    with pytest.raises(Conflict):
        engine.issue("S101")


def test_elderly_id_number_gives_green_and_is_stored_masked(engine):
    t = engine.issue("S101", id_number="11010519491231002X")
    assert t.priority == "green" and t.priority_reason == "elderly"
    assert t.id_number == "1101**********002X"
    row = engine.store.rows("SELECT id_number FROM tickets WHERE id = ?", [t.id])[0]
    assert row["id_number"] == "1101**********002X"
    young = engine.issue("S101", id_number="110105200001010016")
    assert young.priority == "normal"
    with pytest.raises(Invalid) as err:
        engine.issue("S101", id_number="110105200001010015")  # wrong check digit
    assert err.value.field == "id_number"


def test_estimate_grows_with_queue(staffed):
    first = staffed.issue("S301")
    second = staffed.issue("S301")
    third = staffed.issue("S301")
    assert (first.waiting_ahead, second.waiting_ahead, third.waiting_ahead) == (0, 1, 2)
    assert first.estimated_wait == second.estimated_wait == 0 < third.estimated_wait
    # Window 4 serves S301 (15 minutes a case) and takes the first at once; the complaint window
    # (backup, nobody of its own waiting) the second at once too (issue #12: no delay on help);
    # the third goes to the first of them free, at 15.
    assert third.estimated_wait == pytest.approx(15, abs=0.1)


# -- calling and the window's life ----------------------------------------------------------------


def test_call_next_needs_a_signed_in_free_unpaused_window(engine):
    engine.issue("S101")
    with pytest.raises(Conflict) as err:
        engine.call_next(1)
    assert err.value.code == "window_unstaffed"
    engine.login(1, "1001")
    engine.pause(1, "break")
    with pytest.raises(Conflict) as err:
        engine.call_next(1)
    assert err.value.code == "window_paused"
    engine.resume(1)
    assert engine.call_next(1)["result"] == "accepted"
    with pytest.raises(Conflict) as err:
        engine.call_next(1)
    assert err.value.code == "window_busy"
    with pytest.raises(NotFound):
        engine.call_next(99)


def test_nothing_to_do_when_nobody_waits(staffed):
    assert staffed.call_next(1) == {"result": "nothing_to_do", "ticket": None, "reason": "nobody waiting for this window"}


def test_full_lifecycle_records_every_step(staffed, clock):
    t = staffed.issue("S101", phone="13812345678")
    called = staffed.call_next(1)["ticket"]
    assert called.id == t.id and called.state == "called" and called.window == 1
    clock.advance(minutes=1)
    assert staffed.start(1)["ticket"].state == "serving"
    clock.advance(minutes=7)
    done = staffed.finish(1, "done")["ticket"]
    assert done.state == "finished" and done.outcome == "done"
    types = [e["type"] for e in events(staffed) if e["ticket_id"] == t.id]
    assert types == ["ticket.issued", "ticket.called", "ticket.started", "ticket.finished", "rating.invited"]
    rec = staffed.records_for(t.id)[0]
    assert rec.end == "finished" and rec.staff == "1001" and rec.rating_state == "prompted"
    assert (rec.ended_at - rec.started_at) == timedelta(minutes=7)


def test_recall_then_automatic_no_show_at_the_limit(staffed):
    staffed.issue("S101")
    staffed.call_next(1)
    assert staffed.recall(1)["ticket"].recalls == 1
    assert staffed.recall(1)["ticket"].recalls == 2
    result = staffed.recall(1)  # recall_limit = 2
    assert result["no_show"] is True and result["ticket"].state == "no_show"
    assert result["ticket"].end_reason == "recall_limit"
    assert staffed.windows[1].current is None


def test_no_show_only_for_called_ticket(staffed):
    staffed.issue("S101")
    with pytest.raises(Conflict):
        staffed.no_show(1)
    staffed.call_next(1)
    staffed.start(1)
    with pytest.raises(Conflict) as err:
        staffed.no_show(1)
    assert err.value.code == "not_called"
    with pytest.raises(Conflict):
        staffed.recall(1)


def test_park_and_call_back_the_oldest(staffed, clock):
    a = staffed.issue("S101")
    b = staffed.issue("S101")
    staffed.call_next(1)
    staffed.park(1)
    clock.advance(minutes=1)
    staffed.call_next(1)
    staffed.park(1)
    assert {t.state for t in staffed.live_tickets()} == {"parked"}
    assert staffed.call_next(1)["result"] == "nothing_to_do"  # parked tickets are not in the pool
    assert staffed.call_back(2)["result"] == "nothing_to_do"  # parked at window 1, not 2
    back = staffed.call_back(1)["ticket"]
    assert back.id == a.id and back.state == "called"
    staffed.finish(1)
    assert staffed.call_back(1, code=b.code)["ticket"].id == b.id


def test_call_a_specific_ticket(staffed):
    staffed.issue("S101")
    b = staffed.issue("S101")
    s3 = staffed.issue("S301")
    assert staffed.call(1, b.code.lower())["ticket"].id == b.id
    with pytest.raises(Conflict) as err:
        staffed.call(2, s3.code)
    assert err.value.code == "service_not_handled"
    with pytest.raises(NotFound) as err:
        staffed.call(2, "Q999")
    assert err.value.field == "code"


def test_transfer_to_window_keeps_arrival_and_binds(staffed, clock):
    old = staffed.issue("S201")  # window 3 primary, window 1 secondary
    clock.advance(minutes=10)
    staffed.issue("S201")
    staffed.call(1, old.code)
    clock.advance(minutes=2)
    moved = staffed.transfer(1, to_window=3)["ticket"]
    assert moved.state == "waiting" and moved.target_window == 3 and moved.arrived_at == old.arrived_at
    assert staffed.waiting_for(1)[0].id != old.id  # bound to window 3 now
    assert staffed.call_next(3)["ticket"].id == old.id  # earliest arrival first
    rec = staffed.records_for(old.id)
    assert [r.end for r in rec] == ["transferred", None]


def test_transfer_to_service_and_refusals(staffed):
    t = staffed.issue("S101")
    staffed.call_next(1)
    with pytest.raises(Invalid):
        staffed.transfer(1)
    with pytest.raises(Invalid):
        staffed.transfer(1, to_window=3, to_service="S301")
    with pytest.raises(Conflict) as err:
        staffed.transfer(1, to_window=4)  # 不动产 window does not handle 社保卡
    assert err.value.code == "service_not_handled"
    with pytest.raises(NotFound):
        staffed.transfer(1, to_service="S404")
    assert staffed.windows[1].current == t.id  # nothing changed
    moved = staffed.transfer(1, to_service="S301")["ticket"]
    assert moved.service == "S301" and moved.target_window is None
    assert staffed.call_next(4)["ticket"].id == t.id


def test_bundle_moves_to_next_step_keeping_its_place(staffed, clock):
    bundle = staffed.issue("B01")  # 开办企业一件事: S201 then S202
    clock.advance(minutes=5)
    later = staffed.issue("S202")
    assert staffed.call_next(3)["ticket"].id == bundle.id
    clock.advance(minutes=10)
    moved = staffed.finish(3, "accepted")["ticket"]
    assert moved.state == "waiting" and moved.service == "S202" and moved.step == 1
    assert staffed.call_next(2)["ticket"].id == bundle.id  # ahead of the later walk-in
    staffed.finish(2)
    assert staffed.ticket(bundle.id).state == "finished"
    assert staffed.call_next(2)["ticket"].id == later.id
    assert "ticket.next_step" in [e["type"] for e in events(staffed)]


def test_cannot_be_done_goes_to_the_complaint_window(staffed):
    t = staffed.issue("S101")
    staffed.call_next(1)
    handed = staffed.finish(1, "cannot")["ticket"]
    assert handed.state == "waiting" and handed.target_window == 5
    assert staffed.call_next(2)["result"] == "nothing_to_do"
    assert staffed.call_next(5)["ticket"].id == t.id
    assert staffed.finish(5, "cannot")["ticket"].state == "finished"  # no loop at the complaint window


def test_finish_outcomes_are_checked(staffed):
    staffed.issue("S101")
    staffed.call_next(1)
    with pytest.raises(Invalid) as err:
        staffed.finish(1, "great")
    assert err.value.field == "outcome"
    assert staffed.finish(1, "informed")["ticket"].outcome == "informed"


def test_pause_resume_login_logout_rules(engine):
    with pytest.raises(Invalid):
        engine.login(1, "9999")
    engine.login(1, "1001")
    assert engine.login(1, "1001")["result"] == "nothing_to_do"
    engine.login(2, "1001")  # moving signs out of window 1
    assert engine.windows[1].staff is None and engine.windows[2].staff == "1001"
    with pytest.raises(Invalid):
        engine.pause(2, "nap")
    engine.pause(2, "meeting")
    assert engine.pause(2, "break")["result"] == "nothing_to_do"
    assert engine.windows[2].pause_reason == "meeting"
    engine.resume(2)
    assert engine.resume(2)["result"] == "nothing_to_do"
    engine.issue("S101")
    engine.call_next(2)
    with pytest.raises(Conflict):
        engine.pause(2)
    with pytest.raises(Conflict):
        engine.logout(2)
    engine.finish(2)
    engine.logout(2)
    assert engine.windows[2].staff is None


# -- allocation -----------------------------------------------------------------------------------


def test_green_before_appointment_before_walk_in(staffed, clock):
    walk = staffed.issue("S101")
    slot = MONDAY_9AM + timedelta(minutes=30)
    appt = staffed.book("S101", slot, "13900001111")
    clock.advance(minutes=20)
    checked = staffed.issue("S101", appointment=appt["code"])
    green = staffed.issue("S101", priority="green")
    assert staffed.call_next(1)["ticket"].id == green.id
    staffed.finish(1)
    # Before the slot starts the appointment ranks as a walk-in: the earlier walk-in goes first.
    assert staffed.call_next(1)["ticket"].id == walk.id
    staffed.finish(1)
    clock.advance(minutes=15)
    later_walk = staffed.issue("S101")
    assert staffed.call_next(1)["ticket"].id == checked.id
    assert later_walk.state == "waiting"


def test_appointment_check_in_window_and_single_use(staffed, clock):
    slot = MONDAY_9AM + timedelta(hours=2, minutes=30)  # 11:30, the last slot of the morning session
    appt = staffed.book("S101", slot, "13900001111")
    with pytest.raises(Conflict) as err:
        staffed.issue("S101", appointment=appt["code"])  # 2.5 h early
    assert err.value.code == "outside_checkin"
    clock.set(slot - timedelta(minutes=30))
    with pytest.raises(Conflict):
        staffed.issue("S102", appointment=appt["code"])  # other service
    t = staffed.issue("S101", appointment=appt["code"])
    assert t.priority == "appointment" and t.phone == "13900001111"
    with pytest.raises(Conflict):
        staffed.issue("S101", appointment=appt["code"])
    assert staffed.find_appointments("13900001111") == []
    with pytest.raises(Invalid):
        staffed.book("S101", slot + timedelta(minutes=7), "13900001111")


def test_scarce_tickets_first_then_primary_with_head_start(staffed, clock):
    # Issue #12: a ticket few staffed windows can take goes first. S201 has three (1, 3, 5), S101
    # four (1, 2, 3, 5): window 1 takes S201 first though it holds it only as secondary.
    s101 = staffed.issue("S101")
    clock.advance(minutes=3)
    s201 = staffed.issue("S201")
    assert staffed.call_next(1)["ticket"].id == s201.id
    staffed.finish(1)
    assert staffed.call_next(1)["ticket"].id == s101.id
    staffed.finish(1)
    # Equally scarce (S102 and S202: three windows each): window 2's primary S202 has a 5-minute
    # head start over its secondary S102, which waited only 3 minutes longer.
    s102 = staffed.issue("S102")
    clock.advance(minutes=3)
    s202 = staffed.issue("S202")
    assert staffed.call_next(2)["ticket"].id == s202.id
    staffed.finish(2)
    assert staffed.call_next(2)["ticket"].id == s102.id


def test_equally_scarce_matters_by_wait_over_their_minutes(staffed, clock):
    # Issue #12: within a scarcity class the generalised cμ index (wait ÷ the matter's minutes)
    # orders: S201 (20 min) and S202 (10 min) both have three staffed windows and both are window
    # 3's own; S202 waited 6 min (0.6) against S201's 10 min (0.5), so the quick one goes first.
    s201 = staffed.issue("S201")
    clock.advance(minutes=4)
    s202 = staffed.issue("S202")
    clock.advance(minutes=6)
    assert staffed.call_next(3)["ticket"].id == s202.id
    staffed.finish(3)
    assert staffed.call_next(3)["ticket"].id == s201.id


def test_backup_windows_help_at_once_protected_windows_keep_to_their_own(staffed, clock, tmp_path):
    from dataclasses import replace

    t = staffed.issue("S101")  # window 3 is backup for S101: it helps at once (issue #12)
    assert staffed.call_next(3)["ticket"].id == t.id
    helped = staffed.issue("S102")  # the complaint window 5 holds it as backup
    clock.advance(minutes=5)
    own = staffed.issue("S999")  # its own line
    assert staffed.call_next(5)["ticket"].id == own.id  # despite the older ticket of another line
    staffed.finish(5)
    assert staffed.call_next(5)["ticket"].id == helped.id  # then helps, with nobody of its own waiting
    # With rules.backup_after_minutes the protected windows (and only they) wait before helping.
    hall = small_hall()
    hall = replace(hall, rules=replace(hall.rules, backup_after_minutes=10))
    e = Engine(hall, Store(tmp_path / "p.db"), clock)
    for n, staff in ((3, "1003"), (5, "1005")):
        e.login(n, staff)
    e.issue("S101")
    e.issue("S101")
    assert e.call_next(3)["result"] == "accepted"  # an ordinary backup window: at once
    assert e.call_next(5)["result"] == "nothing_to_do"
    clock.advance(minutes=11)
    assert e.call_next(5)["result"] == "accepted"


def test_aging_puts_long_waiters_first_after_green(staffed, clock):
    old = staffed.issue("S101")
    clock.advance(minutes=61)
    green = staffed.issue("S101", priority="green")
    slot = MONDAY_9AM + timedelta(hours=1)  # 10:00, started a minute ago
    booked = staffed.issue("S101", appointment=staffed.book("S101", slot, "13900002222")["code"])
    assert booked.priority == "appointment"
    assert staffed.call_next(1)["ticket"].id == green.id  # 绿色通道 first, even before the aged
    staffed.finish(1)
    assert staffed.call_next(1)["ticket"].id == old.id  # then the one who waited over an hour
    staffed.finish(1)
    assert staffed.call_next(1)["ticket"].id == booked.id


def test_own_lines_before_backup_work(staffed, clock):
    helped = staffed.issue("S101")  # window 3 holds S101 as backup
    clock.advance(minutes=30)
    own = staffed.issue("S202")  # window 3 primary
    assert staffed.call_next(3)["ticket"].id == own.id  # despite the older backup ticket
    staffed.finish(3)
    assert staffed.call_next(3)["ticket"].id == helped.id


def test_at_lunch_only_matters_a_lunch_window_serves_are_issued(tmp_path, clock):
    from dataclasses import replace

    hall = small_hall()
    hall = replace(hall, hours=replace(hall.hours, lunch_windows=(1,)))
    e = Engine(hall, Store(tmp_path / "l.db"), clock)
    clock.set(MONDAY_9AM.replace(hour=12, minute=30))
    assert e.issue("S101").code == "A001"  # window 1 serves it at lunch
    with pytest.raises(Conflict) as err:
        e.issue("S301")
    assert err.value.code == "hall_closed" and "14:30" in err.value.message
    menu = {m["item"].code: m for m in e.menu()}
    assert menu["S101"]["issuing"] and not menu["S301"]["issuing"]
    assert menu["S301"]["next_issuing"] == MONDAY_9AM.replace(hour=14, minute=30)


def test_bundle_at_lunch_only_when_every_step_is_served_then(tmp_path, clock):
    from dataclasses import replace

    hall = small_hall()
    e = Engine(replace(hall, hours=replace(hall.hours, lunch_windows=(3,))), Store(tmp_path / "b.db"), clock)
    clock.set(MONDAY_9AM.replace(hour=12, minute=30))
    assert e.issue("B01").service == "S201"  # window 3 serves both S201 and S202 at lunch
    e2 = Engine(replace(hall, hours=replace(hall.hours, lunch_windows=(1,))), Store(tmp_path / "c.db"), clock)
    with pytest.raises(Conflict):
        e2.issue("B01")  # window 1 serves S201 (secondary) but not S202: no stranded citizens


# -- ratings (好差评) -------------------------------------------------------------------------------


def serve_one(engine, window=1, service="S101"):
    t = engine.issue(service)
    engine.call_next(window)
    engine.finish(window)
    return t


def test_rating_once_per_service(staffed):
    t = serve_one(staffed)
    assert staffed.rate(5, "evaluator", window=1)["rated"] is True
    with pytest.raises(Conflict) as err:
        staffed.rate(4, "evaluator", window=1)
    assert err.value.code == "already_rated"
    with pytest.raises(Conflict) as err:
        staffed.rate(1, "qr", ticket=t.id)
    assert err.value.code == "already_rated"
    assert len(staffed.store.rows("SELECT * FROM ratings")) == 1
    assert events(staffed, "rating.refused")[0]["data"]["reason"] == "already_rated"


def test_rating_before_finish_is_refused_and_not_stored(staffed):
    staffed.issue("S101")
    staffed.call_next(1)
    with pytest.raises(Conflict) as err:
        staffed.rate(5, "evaluator", window=1)
    assert err.value.code == "not_due"
    with pytest.raises(Conflict):
        staffed.rate(5, "evaluator", window=2)  # nothing ever finished there
    assert staffed.store.rows("SELECT * FROM ratings") == []


def test_rating_after_the_prompt_expired_is_refused(staffed, clock):
    serve_one(staffed)
    clock.advance(seconds=45)
    with pytest.raises(Conflict) as err:
        staffed.rate(5, "evaluator", window=1)
    assert err.value.code == "prompt_expired"
    staffed.invite_rating(1)  # the clerk invites again
    assert staffed.rate(3, "evaluator", window=1)["grade"] == 3


def test_timeout_is_not_a_grade_and_qr_can_rate_later(staffed, clock):
    t = serve_one(staffed)
    result = staffed.rate(0, "evaluator", window=1)
    assert result["rated"] is False
    assert staffed.records_for(t.id)[0].rating_state == "timed_out"
    assert staffed.store.rows("SELECT * FROM ratings") == []
    with pytest.raises(Conflict):
        staffed.rate(5, "evaluator", window=1)  # the prompt is over
    clock.advance(minutes=60 * 24 * 3)
    assert staffed.rate(2, "qr", ticket=t.id, reason="efficiency")["rated"] is True
    row = staffed.store.rows("SELECT * FROM ratings")[0]
    assert (row["grade"], row["reason"], row["channel"]) == (2, "efficiency", "qr")


def test_supplementary_rating_closes_after_configured_days(staffed, clock):
    t = serve_one(staffed)
    staffed.rate(0, "evaluator", window=1)
    clock.advance(minutes=60 * 24 * 8)
    with pytest.raises(Conflict) as err:
        staffed.rate(5, "qr", ticket=t.id)
    assert err.value.code == "rating_closed"


def test_rating_field_checks(staffed):
    t = serve_one(staffed)
    for kwargs, field in [
        ({"grade": 6, "channel": "evaluator", "window": 1}, "grade"),
        ({"grade": True, "channel": "evaluator", "window": 1}, "grade"),
        ({"grade": 5, "channel": "keypad", "window": 1}, "channel"),
        ({"grade": 5, "channel": "evaluator"}, "window"),
        ({"grade": 5, "channel": "qr"}, "ticket"),
        ({"grade": 0, "channel": "qr", "ticket": t.id}, "grade"),
        ({"grade": 1, "channel": "evaluator", "window": 1, "reason": "weather"}, "reason"),
    ]:
        with pytest.raises(Invalid) as err:
            staffed.rate(**kwargs)
        assert err.value.field == field
    with pytest.raises(NotFound):
        staffed.rate(5, "qr", ticket="nope")


def test_no_show_and_parked_services_cannot_be_rated(staffed):
    t = staffed.issue("S101")
    staffed.call_next(1)
    staffed.no_show(1)
    with pytest.raises(Conflict):
        staffed.rate(5, "qr", ticket=t.id)
    with pytest.raises(Conflict):
        staffed.invite_rating(1)


def test_each_bundle_step_is_rated_separately(staffed):
    t = staffed.issue("B01")
    staffed.call_next(3)
    staffed.finish(3)
    staffed.rate(5, "evaluator", window=3)
    staffed.call_next(2)
    staffed.finish(2)
    staffed.rate(4, "evaluator", window=2)
    assert [r.grade for r in staffed.records_for(t.id)] == [5, 4]


# -- day change and durability ------------------------------------------------------------------


def test_day_change_closes_leftovers_and_signs_windows_out(staffed, clock):
    t = staffed.issue("S101")
    at_window = staffed.issue("S301")
    staffed.call_next(4)
    clock.set(datetime(2026, 11, 24, 8, 40, tzinfo=TZ))
    staffed.issue("S102")
    assert staffed.ticket(t.id).state == "no_show" and staffed.ticket(t.id).end_reason == "day_closed"
    assert staffed.ticket(at_window.id).state == "no_show"
    [record] = staffed.records_for(at_window.id)
    assert record.end == "day_closed" and record.ended_at is not None  # no service left open forever
    assert all(w.staff is None and w.current is None for w in staffed.window_states())


def test_after_midnight_reads_show_no_leftovers_before_any_write(staffed, clock):
    waiting = staffed.issue("S101")
    staffed.issue("S101")
    staffed.call_next(1)
    clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=TZ))  # kiosk menu and displays at opening, nobody acted yet
    assert all(m["waiting"] == 0 for m in staffed.menu())
    assert staffed.live_tickets() == [] and staffed.waiting_for(1) == []
    assert all(w.staff is None and w.current is None for w in staffed.window_states())
    assert staffed.ticket(waiting.id).state == "no_show"


def test_after_midnight_figures_and_reports_are_not_yesterdays_before_any_write(tmp_path, hall, clock):
    """/stats/today and /reports read the store: just after midnight, before anything closed the day,
    today's figures counted yesterday's staffed windows as open now and yesterday's report missed
    the call cut off at midnight (its wait too), until the first action of the day."""
    from server.app import create_app

    app = create_app(hall, tmp_path / "web.db", clock=clock, supervise=False)
    engine, web = app.config["ENGINE"], app.test_client()
    engine.login(1, "1001")
    engine.issue("S101")
    clock.advance(minutes=10)
    engine.call_next(1)  # at the window at midnight, after a 10-minute wait
    clock.set(datetime(2026, 11, 24, 0, 1, tzinfo=TZ))
    admin = {"Authorization": "Bearer t-admin"}
    report = web.get("/api/v1/reports?period=day&date=2026-11-23&by=day", headers=admin).get_json()["totals"]
    assert (report["received"], report["calls"], report["open"], report["mean_wait"]) == (1, 1, 1, 10.0)
    today = web.get("/api/v1/stats/today", headers=admin).get_json()
    assert (today["day"], today["windows_open"], today["issued"]) == ("2026-11-24", 0, 0)


def test_refused_action_changes_nothing(staffed):
    staffed.issue("S101")
    staffed.call_next(1)
    before = (staffed.store.last_event_id(), dict(staffed.tickets), dict(staffed.windows))
    with pytest.raises(Conflict):
        staffed.call_next(1)
    with pytest.raises(Invalid):
        staffed.finish(1, "nope")
    assert (staffed.store.last_event_id(), dict(staffed.tickets), dict(staffed.windows)) == before


def test_failed_write_leaves_memory_as_the_store_has_it(staffed, monkeypatch):
    t = staffed.issue("S101")

    def broken(batch):
        raise OSError("disk full")

    # The transaction fails after the engine has already swapped in its copies (group commit):
    # the action still raises, and the next look at the engine finds memory read back from the store.
    monkeypatch.setattr(staffed.store, "_transaction", broken)
    with pytest.raises(OSError):
        staffed.call_next(1)
    monkeypatch.undo()
    assert staffed.ticket(t.id).state == "waiting" and staffed.windows[1].current is None
    assert staffed.call_next(1)["ticket"].id == t.id


def test_restart_restores_every_live_state(tmp_path, clock, hall):
    path = tmp_path / "s.db"
    e = Engine(hall, Store(path), clock)
    for n, s in [(1, "1001"), (2, "1002"), (4, "1004")]:
        e.login(n, s)
    waiting = e.issue("S101")
    e.issue("S102")
    called = e.call_next(1)["ticket"]
    e.issue("S201")
    e.pause(2, "lunch")
    e.issue("S301")
    serving = e.call_next(4)["ticket"]
    e.start(4)
    e2 = Engine(hall, Store(path), clock)
    assert {t.id: t.state for t in e2.live_tickets()} == {t.id: t.state for t in e.live_tickets()}
    assert e2.windows[1].current == called.id and e2.windows[2].paused and e2.windows[4].current == serving.id
    assert e2.ticket(waiting.id).state == "called"  # A001 was the one window 1 took
    assert e2.finish(4)["ticket"].state == "finished"


def test_event_log_is_append_only(engine):
    import sqlite3

    engine.issue("S101")
    with pytest.raises(sqlite3.DatabaseError):
        engine.store.db.execute("UPDATE events SET type = 'x'")
    with pytest.raises(sqlite3.DatabaseError):
        engine.store.db.execute("DELETE FROM events")


def test_menu_estimates_do_not_hold_up_a_windows_call(staffed, monkeypatch):
    # The kiosk menu's estimates take tens of ms with hundreds waiting; they are worked out after the
    # engine's lock is released, so a call-next meanwhile goes through at once.
    import threading

    import server.engine as engine_module

    staffed.issue("S101")
    inside, release = threading.Event(), threading.Event()
    real = engine_module.estimate_waits  # the menu estimates every matter in one call

    def slow(*args, **kwargs):
        if threading.current_thread().name == "menu":
            inside.set()
            release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "estimate_waits", slow)
    result = {}
    menu = threading.Thread(target=lambda: result.update(menu=staffed.menu()), name="menu")
    menu.start()
    try:
        assert inside.wait(5)
        called = {}
        caller = threading.Thread(target=lambda: called.update(r=staffed.call_next(1)))
        caller.start()
        caller.join(5)
        assert not caller.is_alive(), "call_next waited for the menu's estimates"
        assert called["r"]["ticket"].code == "A001"
    finally:
        release.set()
        menu.join(10)
    entry = {m["item"].code: m for m in result["menu"]}["S101"]
    assert entry["waiting"] == 1  # the snapshot taken before the call


def test_kept_waiting_queue_is_every_waiting_ticket_in_order_after_every_kind_of_change(staffed, clock):
    """The engine keeps its waiting queue between actions (appending new tickets): after issues,
    calls, parks, call-backs, transfers, no-shows, an appointment and a restart of the day it is
    exactly what a scan of the live tickets gives, in the same order, with appointments ranked now."""
    def check():
        now = staffed.now()
        assert staffed._waiting(now) == [staffed._candidate(t, now) for t in staffed.tickets.values()
                                         if t.state == "waiting"]

    slot = MONDAY_9AM.replace(hour=9, minute=30)
    appt = staffed.book("S101", slot, "13900001111")
    steps = [
        lambda: staffed.issue("S101"), lambda: staffed.issue("S201"), lambda: staffed.issue("S101"),
        lambda: staffed.issue("S301"), lambda: staffed.call_next(1), lambda: staffed.park(1),
        lambda: staffed.issue("S101", appointment=appt["code"]), lambda: staffed.call_next(3),
        lambda: staffed.transfer(3, to_window=1), lambda: staffed.call_back(1), lambda: staffed.finish(1),
        lambda: staffed.call_next(2), lambda: staffed.transfer(2, to_service="S301"),
        lambda: clock.advance(minutes=40), lambda: staffed.issue("S102"), lambda: staffed.call_next(1),
        lambda: staffed.no_show(1), lambda: staffed.issue("S201"),
        lambda: clock.set(MONDAY_9AM + timedelta(days=1)), lambda: staffed.issue("S101"),
    ]
    for step in steps:
        step()
        check()


def test_a_clerk_on_a_break_counts_in_the_estimate_from_when_expected_back(engine, clock):
    """The only window for S301 is paused (休息) 3 minutes ago: the next citizen waits for the rest of
    the break (10 minutes until the hall's own breaks are learnt: its median time left, as a service's
    is, `expected_rest`), not "即将叫号" nor 暂无窗口办理; the length of each break taken is learnt on resume."""
    from server.estimate import expected_rest, pause_key

    engine.login(4, "1004")
    engine.pause(4, "break")
    clock.advance(minutes=3)
    t = engine.issue("S301")
    rest = expected_rest(engine.times, pause_key("break"), 3.0)
    assert 6.5 < rest <= 7.0  # a 10-minute break, 3 minutes in
    assert t.issue_estimate.on_duty and t.estimated_wait == pytest.approx(rest, abs=0.05)
    assert engine.position(t).point == pytest.approx(rest, abs=0.05)
    clock.advance(minutes=13)  # a 16-minute break
    engine.resume(4)
    engine.call_next(4)
    engine.finish(4)
    engine.pause(4, "break")
    t = engine.issue("S301")
    assert engine.times.mean(pause_key("break")) == pytest.approx((2 * 10 + 16) / 3)  # one break seen: blended towards 10
    assert t.estimated_wait == pytest.approx(expected_rest(engine.times, pause_key("break"), 0.0), abs=0.05)


def test_at_lunch_only_the_lunch_windows_count_for_a_new_tickets_estimate(tmp_path, clock):
    """Window 1 serves through lunch (午间服务), window 2 goes to lunch with the session's end though
    its clerk is still signed in: a citizen given an S101 ticket at 12:30 waits for window 1 to
    finish its current citizen (8-minute matter, 5 minutes in), not "即将叫号" at window 2."""
    from server.estimate import expected_rest
    hall = small_hall()
    hall = dataclasses.replace(hall, hours=dataclasses.replace(hall.hours, lunch_windows=(1,)))
    engine = Engine(hall, Store(tmp_path / "hall.db"), clock)
    engine.login(1, "1001")
    engine.login(2, "1002")
    clock.set(MONDAY_9AM.replace(hour=11, minute=58))
    before = engine.issue("S202")  # window 2's own matter, issued before the break: 延时服务 serves it
    clock.set(MONDAY_9AM.replace(hour=12, minute=25))
    engine.issue("S101")
    engine.call_next(1)
    clock.advance(minutes=5)
    t = engine.issue("S101")
    rest = expected_rest(engine.times, "S101", 5.0)  # the median time left of an 8-minute matter, 5 in
    assert 3.0 <= rest < 5.0 and t.estimated_wait == pytest.approx(rest, abs=0.05)
    est = engine.position(before)
    assert est.on_duty and est.point == 0.0 and est.opens_at is None  # not "窗口 14:30 开始办理"
    assert engine.positions()[before.id] == est and engine.positions()[t.id].point == pytest.approx(rest, abs=0.05)
