"""Pinned wait estimates: making `estimate_wait` faster must not change a single figure.

The values are compared exactly: a faster version gives the very same floats or it is a different
estimate. Re-pinned for issue #12, when the estimate started replaying the allocation's own order
(`allocation.pick`: scarce tickets first, backup help at once) instead of plain call order; the
simulated day re-pinned when `ServiceTimes` stopped trimming (a trimmed mean is ~10% low, skewed times).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hallfactory import small_hall

from hallq.config import load_config
from server.allocation import Candidate
from server.estimate import Busy, ServiceTimes, WindowOptions, estimate_wait, estimate_waits
from server.simulate.arrivals import Assumptions, generate
from server.simulate.model import simulate

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
SERVICES = ["S101", "S102", "S201", "S202", "S301", "S999"]
ROOT = Path(__file__).resolve().parent.parent


def point(e) -> tuple[int, float]:
    """(people ahead, point estimate): what the pins compare (the range follows from it)."""
    return e.ahead, e.minutes


@pytest.fixture
def scene():
    """40 waiting over every matter (some 绿色通道, two bound to a window by a transfer), two busy
    windows (one long past its mean), learnt service times, and four of five windows open."""
    hall = small_hall()
    queue = [
        Candidate(id=f"t{i}", service=SERVICES[i % 6], rank=0 if i % 7 == 0 else 2,
                  arrived=NOW - timedelta(minutes=40 - i), number=i + 1,
                  target_window=5 if i == 9 else (3 if i == 20 else None))
        for i in range(40)
    ]
    times = ServiceTimes({code: s.minutes for code, s in hall.services.items()})
    for minutes in (5, 7, 9, 30, 4):
        times.add("S101", minutes)
    times.add("S201", 25)
    busy = [Busy(1, "S101", NOW - timedelta(minutes=3)), Busy(3, "S201", NOW - timedelta(minutes=40))]
    w = hall.windows
    return hall, queue, times, busy, [w[1], w[3], w[4], w[5]]


@pytest.mark.parametrize(("service", "expected"), [
    ("S101", (40, 130.0)),
    ("S102", (39, 130.0)),
    ("S201", (40, 130.0)),
    ("S202", (40, 140.66666666666666)),
    ("S301", (39, 90.0)),
    ("S999", (39, 70.0)),
])
def test_new_ticket_estimates_are_pinned(scene, service, expected):
    hall, queue, times, busy, open_windows = scene
    new = Candidate(id="new", service=service, rank=2, arrived=NOW, number=99)
    assert point(estimate_wait(new, queue + [new], open_windows, list(hall.windows.values()), busy, times, NOW,
                               rules=hall.rules, hours=hall.hours)) == expected


def test_waiting_ticket_and_lunch_estimates_are_pinned(scene):
    hall, queue, times, busy, open_windows = scene
    all_windows = list(hall.windows.values())
    assert point(estimate_wait(queue[17], queue, open_windows, all_windows, busy, times, NOW,
                               rules=hall.rules, hours=hall.hours)) == (20, 40.0)
    lunch = NOW.replace(hour=12, minute=30)  # windows closed until 14:30 count from then
    new = Candidate(id="new", service="S202", rank=2, arrived=lunch, number=99)
    assert point(estimate_wait(new, queue + [new], [hall.windows[1]], all_windows, [], times, lunch,
                               rules=hall.rules, hours=hall.hours)) == (40, 184.33333333333331)


def test_simulated_day_estimates_are_pinned():
    """Every estimate printed in a busy simulated township day (load 0.9), exactly."""
    config = load_config(ROOT / "config" / "township.toml")
    run = simulate(config, generate(config, 2, 1, Assumptions(load=0.9)), "hallq")
    estimates = [(i.ahead, i.estimate) for i in run.issued]
    assert len(estimates) == 334
    assert estimates[50] == (7, 7.216420350000001) and estimates[150] == (20, 0.9604874082916666)
    assert hashlib.sha256(repr(estimates).encode()).hexdigest() == \
        "a72431ef5220d5326bf1d85a0e74a467f58d4e374080f9bc3307a5b45822beb6"  # re-pinned: untrimmed learner


@pytest.mark.parametrize("at", [NOW, NOW.replace(hour=12, minute=30)])  # open, and closed for lunch
def test_estimates_for_many_probes_are_each_probes_own(scene, at):
    """The kiosk menu estimates every matter at once, sharing replays between matters with the same
    windows: each figure is still exactly the one estimate_wait gives that matter alone."""
    hall, queue, times, busy, open_windows = scene
    all_windows = list(hall.windows.values())
    probes = [Candidate(id="_probe", service=s, rank=2, arrived=at, number=10**9) for s in SERVICES + SERVICES[:2]]
    together = estimate_waits(probes, queue, open_windows, all_windows, busy, times, at,
                              rules=hall.rules, hours=hall.hours)
    alone = [estimate_wait(p, queue, open_windows, all_windows, busy, times, at, rules=hall.rules, hours=hall.hours)
             for p in probes]
    assert together == alone
    assert len({e.minutes for e in together}) > 2  # the matters do differ


def test_menu_in_a_busy_demo_hall_matches_one_estimate_per_matter(tmp_path):
    from datetime import datetime as dt

    from hallq.model import Bundle
    from server.allocation import NORMAL_RANK
    from server.clock import ManualClock
    from server.engine import Engine
    from server.store import Store

    config = load_config(ROOT / "config" / "demo-hall.toml")
    clock = ManualClock(dt(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(config.rules.timezone)))
    engine = Engine(config, Store(tmp_path / "menu.db"), clock)
    for number, staff in zip(list(config.windows)[:30], list(config.staff), strict=False):
        engine.login(number, staff)
    codes = list(config.services)
    for i in range(120):
        engine.issue(codes[i % len(codes)])
        if i % 10 == 0:
            clock.advance(minutes=1)
    for number in (1, 2, 5):
        engine.call_next(number)
    clock.advance(minutes=4)
    menu = engine.menu()
    now, waiting, open_windows, busy, times = engine.estimate_snapshot()
    for entry in menu:
        item = entry["item"]
        service = item.steps[0] if isinstance(item, Bundle) else item.code
        probe = Candidate(id="_probe", service=service, rank=NORMAL_RANK, arrived=now, number=10**9)
        minutes = estimate_wait(probe, waiting, open_windows, list(config.windows.values()), busy, times, now,
                                rules=config.rules, hours=config.hours).minutes
        assert entry["estimated_wait_minutes"] == round(minutes, 1), service


def test_kept_window_options_and_means_give_the_same_figures_and_follow_new_times(scene):
    """What is kept between estimates (each matter's windows, the mean per matter) changes no figure,
    also when the windows open change between calls, and a newly learnt service time counts at once."""
    hall, queue, times, busy, open_windows = scene
    kept = WindowOptions()
    all_windows = list(hall.windows.values())
    for windows in (open_windows, open_windows[:2], open_windows):
        for service in SERVICES:
            new = Candidate(id="new", service=service, rank=2, arrived=NOW, number=99)
            fresh = ServiceTimes(times.configured)
            for s, recent in times._recent.items():
                for m in recent:
                    fresh.add(s, m)
            assert (estimate_wait(new, queue + [new], windows, all_windows, busy, times, NOW, options=kept)
                    == estimate_wait(new, queue + [new], windows, all_windows, busy, fresh, NOW))
    before = times.mean("S102")
    times.add("S102", 60)
    assert times.mean("S102") != before
    assert times.mean("S102") == ServiceTimes.mean(times.snapshot(), "S102")
