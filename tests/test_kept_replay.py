"""The issue's estimate from the kept replay (server/kept_replay.py) is exactly the full replay's.

Random action sequences in every hall in config/: windows signed in and out, paused, calls,
finishes, transfers, 绿色通道 tickets and bursts of walk-ins within one second (the kept path) and
across seconds. After every issue the printed estimate is compared, exactly, with `estimate_wait`
replaying the whole queue from the same frame.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hallq.config import load_config
from server.clock import ManualClock
from server.engine import Engine
from server.errors import HallqError
from server.estimate import estimate_wait
from server.kept_replay import KeptReplay
from server.store import Store

ROOT = Path(__file__).resolve().parent.parent
HALLS = sorted(p.name for p in (ROOT / "config").glob("*.toml"))


def full_estimate(e: Engine, t):
    """What the whole-queue replay gives the ticket just issued (the queue now holds it)."""
    now = t.issued_at
    c = next(c for c in e._waiting(now) if c.id == t.id)
    return estimate_wait(c, e._waiting(now), e._serving(now), list(e.config.windows.values()), e._busy(),
                         e.times, now, rules=e.config.rules, hours=e.config.hours, frame=now.replace(microsecond=0))


@pytest.mark.parametrize("hall_file", HALLS)
def test_the_kept_replay_estimates_exactly_as_the_full_replay(hall_file):
    cfg = load_config(ROOT / "config" / hall_file)
    tz = ZoneInfo(cfg.rules.timezone)
    clock = ManualClock(datetime(2026, 11, 24, 9, 30, 0, 123, tzinfo=tz))
    e = Engine(cfg, Store(":memory:"), clock)
    rnd = random.Random(hall_file)
    numbers = sorted(cfg.windows)
    staff = sorted(cfg.staff)
    for n, s in zip(numbers, staff, strict=False):
        if rnd.random() < 0.7:
            e.login(n, s)
    matters = sorted(cfg.services)
    kept = issued = 0
    for _ in range(500):
        r = rnd.random()
        n = rnd.choice(numbers)
        try:
            if r < 0.65:
                green = rnd.random() < 0.05
                t = e.issue(rnd.choice(matters), priority="green" if green else None)
                issued += 1
                kept += e._kept is not None
                assert t.issue_estimate == full_estimate(e, t), (hall_file, issued)
            elif r < 0.75:
                e.call_next(n)
            elif r < 0.85:
                e.finish(n)
            elif r < 0.88:
                e.pause(n) if not e.windows[n].paused else e.resume(n)
            elif r < 0.90:
                e.logout(n) if e.windows[n].staff else e.login(n, rnd.choice(staff))
            elif r < 0.92:
                e.transfer(n, to_service=rnd.choice(matters))
        except HallqError:
            pass
        # Mostly within one second (a burst: the kept path), now and then into the next seconds.
        clock.advance(seconds=rnd.choice([0.0005] * 8 + [0.3, 1.0, 7.0, 90.0]))
    assert issued > 200
    assert kept > issued // 3, (kept, issued)  # the kept path did most of the work


@pytest.mark.parametrize(("hall_file", "starve", "seed"), [("township.toml", 2.0, 2), ("township.toml", 2.0, 3),
                                                          ("district-centre.toml", 5.0, 4)])
def test_the_kept_replay_stays_exact_when_tickets_age_within_its_horizon(hall_file, starve, seed):
    # Long queues at few windows: the replay runs hours ahead, so tickets age in it (taken oldest
    # first) and cuts drop placed tickets that must wait again in arrival order — also a ticket
    # placed before one an earlier cut had already put back (found with these seeds).
    base = load_config(ROOT / "config" / hall_file)
    cfg = dataclasses.replace(base, rules=dataclasses.replace(base.rules, starvation_minutes=starve))
    clock = ManualClock(datetime(2026, 11, 24, 9, 30, 0, 123, tzinfo=ZoneInfo(cfg.rules.timezone)))
    e = Engine(cfg, Store(":memory:"), clock)
    rnd = random.Random(seed)
    numbers, staff, matters = sorted(cfg.windows), sorted(cfg.staff), sorted(cfg.services)
    for n, s in zip(numbers, staff, strict=False):
        if rnd.random() < 0.7:
            e.login(n, s)
    issued = 0
    for _ in range(400):
        try:
            if rnd.random() < 0.9:
                t = e.issue(rnd.choice(matters))
                issued += 1
                assert t.issue_estimate == full_estimate(e, t), (hall_file, issued)
            else:
                e.call_next(rnd.choice(numbers))
        except HallqError:
            pass
        clock.advance(seconds=rnd.choice([0.0005] * 12 + [1.0]))
    assert issued > 300


def test_a_matter_only_closed_windows_take_keeps_the_kept_replay():
    # A matter no signed-in window serves is estimated over the closed windows that take it too:
    # another set of windows, so another replay. The kept replay of the open windows is kept
    # beside it (no window of it takes that matter), not rebuilt on the next walk-in; a kept
    # replay over other windows is not (they take the walk-in).
    cfg = load_config(ROOT / "config" / "demo-hall.toml")
    tz = ZoneInfo(cfg.rules.timezone)
    clock = ManualClock(datetime(2026, 11, 24, 9, 30, 0, 123, tzinfo=tz))
    e = Engine(cfg, Store(":memory:"), clock)
    numbers = sorted(cfg.windows)
    for n, s in zip(numbers[:30], sorted(cfg.staff), strict=False):
        e.login(n, s)
    served = {s for n in numbers[:30] for s in cfg.windows[n].services}
    rare = sorted(set(cfg.services) - served)
    common = sorted(served & set(cfg.services))
    assert rare and common
    built = []
    real_init = KeptReplay.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        real_init(self, *args, **kwargs)

    KeptReplay.__init__ = counting_init
    try:
        for i in range(120):
            matter = rare[i % len(rare)] if i % 5 == 0 else common[i % len(common)]
            t = e.issue(matter)
            assert t.issue_estimate == full_estimate(e, t), (i, matter)
            # Nobody is on duty for a rare matter: people ahead, but no minutes (not "约 0 分钟").
            assert (t.estimated_wait is None) == (matter in rare), (i, matter)
            clock.advance(seconds=0.001)
    finally:
        KeptReplay.__init__ = real_init
    # One, the open windows': nobody is on duty for the rare matters, so they need no replay at all.
    assert len(built) == 1 and e._kept is not None
