"""Figures from the tables and figures replayed from the append-only event log agree."""

from __future__ import annotations

from server import stats


def test_todays_figures_can_be_recomputed_from_the_event_log(staffed, clock):
    e = staffed
    for service in ["S101", "S101", "S102", "S201", "S301", "B01"]:
        e.issue(service)
        clock.advance(minutes=1)
    # Tickets called by code: the figures, not the allocation order, are what this test is about.
    e.call(1, "A001")
    clock.advance(minutes=4)
    e.finish(1)
    e.rate(5, "evaluator", window=1)
    e.call(1, "A002")
    e.no_show(1)
    e.call(2, "A003")
    e.transfer(2, to_window=1)
    e.call(3, "B001")  # the plain S201 ticket, not the 一件事's first step (which would go on)
    clock.advance(minutes=12)
    e.finish(3, "accepted")
    e.rate(1, "evaluator", window=3, reason="attitude")
    e.call(4, "C001")
    e.finish(4)
    table = stats.today(e)
    log = stats.replay([ev for ev in e.store.events_after(0, 10_000) if ev["ts"][:10] == table["day"]])
    for key in ("issued", "finished", "no_shows", "services_done", "transfers", "ratings", "bad_ratings",
                "mean_wait_minutes"):
        assert log[key] == table[key], key
    assert (table["issued"], table["finished"], table["no_shows"], table["transfers"]) == (6, 3, 1, 1)
    assert (table["ratings"], table["bad_ratings"], table["good_rate"]) == (2, 1, 0.5)
