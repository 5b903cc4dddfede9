"""Property tests: random sequences of clerk and citizen actions never break the queue's promises."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from conftest import MONDAY_9AM
from hallfactory import small_hall
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server import allocation
from server.clock import ManualClock
from server.engine import Engine
from server.errors import HallqError
from server.store import Store
from server.tickets import FINAL_STATES

HALL = small_hall(all_day=True)
MATTERS = list(HALL.services) + list(HALL.bundles)
WINDOWS = list(HALL.windows)
# Weighted like a real day: many arrivals and calls, fewer parks, transfers and pauses.
ACTIONS = ["issue"] * 6 + ["call_next"] * 4 + ["finish"] * 3 + ["advance"] * 3 + [
    "recall", "no_show", "park", "call_back", "transfer_window", "transfer_service", "pause", "resume", "start"]

action = st.tuples(
    st.sampled_from(ACTIONS),
    st.sampled_from(WINDOWS),
    st.sampled_from(MATTERS),
    st.sampled_from(["normal", "normal", "normal", "green"]),
    st.sampled_from(["done", "accepted", "cannot", "informed"]),
    st.integers(min_value=0, max_value=20),
)


def apply(engine: Engine, clock: ManualClock, step: tuple, checks: list) -> None:
    name, window, matter, priority, outcome, minutes = step
    if name == "issue":
        engine.issue(matter, priority=priority)
    elif name == "advance":
        clock.advance(minutes=minutes)
    elif name == "call_next":
        now = engine.now()
        waiting = engine._waiting(now)
        result = engine.call_next(window)
        if result["result"] == "accepted":
            checks.append((window, result["ticket"].id, waiting, now))
    elif name == "transfer_window":
        engine.transfer(window, to_window=WINDOWS[(WINDOWS.index(window) + 1) % len(WINDOWS)])
    elif name == "transfer_service":
        engine.transfer(window, to_service=matter if matter in HALL.services else "S101")
    elif name == "finish":
        engine.finish(window, outcome)
    elif name == "pause":
        engine.pause(window, "break")
    else:
        getattr(engine, name)(window)


def check_call(window: int, ticket_id: str, waiting: list, now) -> None:
    """The called ticket was eligible; a protected window (办不成事, 帮办代办) served its own lines
    before helping others; and nobody of a higher class (绿色通道, then aged, then appointment)
    was passed over."""
    conf = HALL.windows[window]
    rules = HALL.rules
    own = allocation.own_waiting(conf, waiting)
    chosen = next(c for c in waiting if c.id == ticket_id)
    assert chosen.service in conf.services or chosen.target_window == window

    def helping(c) -> bool:
        return (allocation.protected(conf) and c.target_window is None
                and conf.services.get(c.service) != "primary")

    def aged(c) -> bool:
        return c.rank > 0 and (now - c.arrived).total_seconds() / 60 >= rules.starvation_minutes

    eligible = [c for c in waiting if allocation.sort_key(conf, c, now, rules, None, own) is not None]
    assert chosen in eligible
    if helping(chosen):
        assert all(helping(c) for c in eligible), "helped another line while its own waited"
    peers = [c for c in eligible if helping(c) == helping(chosen)]
    if any(c.rank == 0 for c in peers):
        assert chosen.rank == 0, "passed over 绿色通道"
    elif any(aged(c) for c in peers):
        assert aged(chosen), "passed over a ticket waiting past the aging limit"
    else:
        assert all(c.rank >= chosen.rank for c in peers), "passed over a higher priority class"


def drain(engine: Engine, clock: ManualClock) -> None:
    """Close the day: every window finishes what it has and serves everyone left."""
    for n in WINDOWS:
        if engine.windows[n].paused:
            engine.resume(n)
    clock.advance(minutes=120)  # past every backup threshold
    for _ in range(500):
        progressed = False
        for n in WINDOWS:
            if engine.windows[n].current:
                engine.finish(n, "done")
                progressed = True
            elif engine.call_back(n)["result"] == "accepted" or engine.call_next(n)["result"] == "accepted":
                progressed = True
        if not progressed:
            break


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=20, max_size=120))
def test_random_days_keep_every_promise(steps):
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(MONDAY_9AM)
        engine = Engine(HALL, Store(Path(tmp) / "p.db"), clock)
        for n, staff in zip(WINDOWS, ["1001", "1002", "1003", "1004", "1005"], strict=True):
            engine.login(n, staff)
        checks: list = []
        issued = 0
        for step in steps:
            before = engine.store.last_event_id()
            try:
                apply(engine, clock, step, checks)
                issued += step[0] == "issue"
            except HallqError:
                assert engine.store.last_event_id() - before <= 1  # at most a logged refusal
        for window, ticket_id, waiting, now in checks:
            check_call(window, ticket_id, waiting, now)

        drain(engine, clock)
        rows = engine.store.rows("SELECT id, code, state FROM tickets")
        # Never lose a ticket, never duplicate a number.
        assert len(rows) == issued
        assert len({r["code"] for r in rows}) == issued
        # Every ticket ends in exactly one final state, with exactly one final event.
        assert all(r["state"] in FINAL_STATES for r in rows)
        assert engine.live_tickets() == []
        finals = Counter(
            e["ticket_id"] for e in engine.store.events_after(0, 100_000)
            if e["type"] == "ticket.no_show"
            or (e["type"] == "ticket.finished" and e["data"]["state"] == "finished")
        )
        assert set(finals) == {r["id"] for r in rows}
        assert set(finals.values()) <= {1}
        engine.store.close()
