"""Pinned wait estimates: making `estimate_wait` faster must not change a single figure.

The values are compared exactly: a faster version gives the very same floats or it is a different
estimate. Re-pinned for issue #12, when the estimate started replaying the allocation's own order
(`allocation.pick`: scarce tickets first, backup help at once) instead of plain call order; the
simulated day re-pinned when `ServiceTimes` stopped trimming (a trimmed mean is ~10% low, skewed times).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hallfactory import small_hall

from hallq.config import load_config
from server.allocation import Candidate
from server.estimate import (
    Busy,
    ServiceTimes,
    WindowOptions,
    estimate_wait,
    estimate_waits,
    expected_rest,
    pause_key,
    wait_range,
)
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
    ("S101", (40, 131.33333333333334)),  # re-pinned: a service under way ends at the median of its time left
    ("S102", (39, 131.33333333333334)),
    ("S201", (40, 131.33333333333334)),
    ("S202", (40, 136.29079858403207)),
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
    assert estimates[50] == (8, 11.151551041982273) and estimates[150] == (20, 4.834701226995391)
    assert hashlib.sha256(repr(estimates).encode()).hexdigest() == \
        "44d202a143b89709138c9f184bd871cace3dd961c6bbbb6b3069f87668cfab56"  # re-pinned: median time left, first of several busy windows


def test_at_lunch_the_replay_counts_scarcity_and_reopening_windows_as_the_allocation_will():
    """At lunch the lunch window picks with scarcity over the windows open now (the engine's
    `open_windows()`), not over the windows that open at 14:30; and at 14:30 every window that
    shares a matter with the new ticket's opens with them and takes its share of the queue ahead.
    Before: A, which only the lunch window takes, read as scarcer than B, which windows 2 and 3
    also take from 14:30, and went first (the lunch window calls B first); and with window 3 left out
    of the replay, the C tickets ahead all fell to window 2 (D at 14:30 + 4 services)."""
    from dataclasses import replace

    from hallq.model import Hours, Rules, Session, Window
    from server import allocation

    hours = Hours((Session(time(8, 30), time(12, 0)), Session(time(14, 30), time(17, 30))), lunch_windows=(1,))
    w = {1: Window(1, "午间窗口", "comprehensive", {"A": "primary", "B": "primary"}),
         2: Window(2, "综合窗口", "comprehensive", {"B": "primary", "D": "primary", "C": "primary"}),
         3: Window(3, "综合窗口", "comprehensive", {"B": "primary", "C": "primary"}),
         4: Window(4, "专窗", "domain", {"C": "primary"})}
    rules, times = Rules(), ServiceTimes({"A": 30.0, "B": 5.0, "C": 10.0, "D": 10.0})
    at = NOW.replace(hour=12, minute=10)

    def ticket(i, service, minute, minutes=10.0):
        return Candidate(id=f"{service}{i}", service=service, rank=2, arrived=at.replace(minute=minute),
                         number=i, minutes=minutes)

    a = ticket(1, "A", 5, 30.0)
    new = ticket(2, "B", 10, 5.0)
    busy = [Busy(1, "C", at - timedelta(minutes=5))]  # the lunch window is free at 12:15
    got = estimate_wait(new, [a, new], [w[1]], list(w.values()), busy, times, at, rules=rules, hours=hours)
    # What the lunch window really calls at 12:15, only itself open: B (the shorter matter, cμ).
    assert allocation.pick(w[1], [a, new], at + timedelta(minutes=5), rules, [w[1]]) is new
    assert got.minutes == expected_rest(times, "C", 5.0)  # was 35.0: A, taken by 1 window of the 3 counted, read as scarcer

    lunch = NOW.replace(hour=14, minute=0)
    cs = [ticket(10 + i, "C", 20 + i) for i in range(4)]  # C tickets ahead (一件事 steps), 13:50–13:53
    cs = [replace(c, arrived=c.arrived.replace(hour=13, minute=30 + c.arrived.minute)) for c in cs]
    d = Candidate(id="d", service="D", rank=2, arrived=lunch, number=20, minutes=10.0)
    got = estimate_wait(d, cs + [d], [w[1]], list(w.values()), [], times, lunch, rules=rules, hours=hours)
    # At 14:30 windows 2, 3 and 4 open: 3 and 4 take C, so 2 takes D at once (scarcer: 1 window).
    assert allocation.pick(w[2], cs + [d], lunch.replace(hour=14, minute=30), rules, list(w.values())) is d
    assert got.minutes == 30.0 and got.opens_at == lunch.replace(hour=14, minute=30)


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
        probe = Candidate(id="_probe", service=service, rank=NORMAL_RANK, arrived=now, number=10**9,
                          minutes=config.services[service].minutes)
        alone = estimate_wait(probe, waiting, open_windows, list(config.windows.values()), busy, times, now,
                              rules=config.rules, hours=config.hours)
        assert entry["estimated_wait_minutes"] == alone.point, service
        # Nobody on duty (S002, S999, S801: only windows 31-40 serve them): no minutes, not "0".
        assert (entry["estimated_wait_minutes"] is None) == (not alone.on_duty) == (service in ("S002", "S999", "S801"))


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


def _engine(tmp_path, at: datetime):
    from server.clock import ManualClock
    from server.engine import Engine
    from server.store import Store

    clock = ManualClock(at)
    return Engine(small_hall(), Store(tmp_path / "hall.db"), clock), clock


def test_nobody_on_duty_is_said_not_zero_minutes_and_closed_windows_say_when_they_open(tmp_path):
    """Issue #12: "前面还有 5 人，预计等候约 0 分钟" before anyone had signed in. With people ahead and
    nobody at the matter's windows the estimate says nobody is on duty; at lunch, when they open."""
    from server.views import menu_view, ticket_view

    engine, clock = _engine(tmp_path, datetime(2026, 3, 2, 11, 50, tzinfo=TZ))  # a Monday, nobody signed in
    for _ in range(5):
        engine.issue("S301")
    t = engine.issue("S301")
    pos = ticket_view(engine, t, position=t.issue_estimate)["position"]
    assert pos["ahead"] == 5 and pos["on_duty"] is False
    assert pos["wait_text"] == "暂无窗口办理，请咨询导办人员" and "0 分钟" not in pos["wait_text"]
    clock.advance(minutes=20)  # 12:10: lunch, the 不动产 window opens at 14:30
    pos = ticket_view(engine, engine.ticket(t.id))["position"]
    assert pos["on_duty"] and pos["opens_at"] == "2026-03-02T14:30:00+08:00"
    assert pos["estimate_low"] >= 140 and pos["wait_text"].startswith("窗口 14:30 开始办理，预计等候约 ")
    # The 140 minutes until 14:30 are known: only the wait after opening is spread (five ahead read
    # "约 140–351 分钟"; the first in line "约 140–290 分钟"). S301: windows 4 and 5 (backup), 15 min.
    after = [140 + m for m in wait_range(pos["estimated_wait_minutes"] - 140, 15 / 2)]
    assert [pos["estimate_low"], pos["estimate_high"]] == pytest.approx(after, abs=0.2)
    menu = {row["code"]: row for row in menu_view(engine)}
    assert menu["S301"]["wait_short"].startswith("14:30 开始 · 约 ")
    assert menu["S102"]["wait_short"] == "14:30 开始 · 约 140 分钟"  # nobody ahead: called at opening


def test_a_bundles_next_step_gets_its_own_estimate(tmp_path):
    """一件事: the estimate printed was for the first step; reaching the second, the ticket gets one
    for that step's line (3 ahead at the 税务 window), and the next-step event says it."""
    engine, clock = _engine(tmp_path, datetime(2026, 3, 2, 9, 0, tzinfo=TZ))
    engine.login(1, "1001")  # takes S201 (secondary), not S202
    engine.login(2, "1002")  # S202 primary
    for _ in range(3):
        engine.issue("S202")
    clock.advance(minutes=1)
    bundle = engine.issue("B01")
    assert (bundle.waiting_ahead, bundle.estimated_wait) == (0, 0.0)  # window 1 takes its first step at once
    engine.call_next(2)  # one 税务 ticket at window 2, two still waiting
    engine.call_next(1)
    clock.advance(minutes=12)
    t = engine.finish(1)["ticket"]
    assert t.service == "S202" and t.state == "waiting"
    assert t.waiting_ahead == 2 and t.estimated_wait > 5
    event = engine._rows("SELECT data FROM events WHERE type = 'ticket.next_step'", [])[-1]["data"]
    assert '"waiting_ahead": 2' in event and '"estimated_wait_minutes"' in event
    # The step that ended is what its finish and rating invitation name (the county counts and rates
    # matters from these events); the ticket itself already waits for the next step.
    for kind in ("ticket.finished", "rating.invited"):
        ev = engine._rows("SELECT service, data FROM events WHERE type = ? AND ticket_id = ?", [kind, t.id])[-1]
        assert ev["service"] == "S201" and json.loads(ev["data"])["service_name"] == engine.config.services["S201"].name
    nxt = engine._rows("SELECT service FROM events WHERE type = 'ticket.next_step' AND ticket_id = ?", [t.id])[-1]
    assert nxt["service"] == "S202"


def test_service_times_are_learnt_without_bias_on_skewed_durations():
    """A trimmed mean of log-normal (CV 0.7) durations is ~10% low; the learnt mean is within 3%."""
    import math
    import random

    rng = random.Random(5)
    sigma2 = math.log(1 + 0.7 ** 2)
    errors = []
    for _ in range(400):
        times = ServiceTimes({"S": 10.0})
        for _ in range(30):
            times.add("S", rng.lognormvariate(math.log(10.0) - sigma2 / 2, math.sqrt(sigma2)))
        errors.append(times.mean("S") / 10.0 - 1)
    assert abs(sum(errors) / len(errors)) < 0.03



def test_a_service_under_way_is_expected_to_end_at_the_median_of_its_time_left():
    """The estimate is judged by its absolute error, whose optimum is the median: half of the
    services that have lasted `elapsed` should end within `expected_rest` of it. Log-normal CV 0.7
    durations of mean 10, nothing learnt (the log-normal fallback) and 30 learnt (read from the
    durations that exceed `elapsed`). Before: max(mean − elapsed, 15% of it) — 10 at the start
    (63% end sooner), 1.5 at twice the mean (19%). A pause's learnt lengths are read as they are:
    breaks of exactly 10 minutes leave 10 − elapsed."""
    import math
    import random

    rng = random.Random(7)
    sigma2 = math.log(1 + 0.7 ** 2)
    draws = [rng.lognormvariate(math.log(10.0) - sigma2 / 2, math.sqrt(sigma2)) for _ in range(40_000)]
    learnt = ServiceTimes({"S": 10.0})
    for x in draws[:30]:
        learnt.add("S", x)
    for times, elapsed, within in ((ServiceTimes({"S": 10.0}), (0.0, 5.0, 10.0, 20.0, 30.0), 0.04),
                                   (learnt, (0.0, 5.0, 10.0), 0.12)):
        for e in elapsed:
            rest = expected_rest(times, "S", e)
            past = [x for x in draws if x > e]
            assert abs(sum(x - e <= rest for x in past) / len(past) - 0.5) < within, (e, rest)
    assert expected_rest(ServiceTimes({"S": 10.0}), "S", 20.0) > 4.0  # was 1.5: "ends at once"
    assert expected_rest(ServiceTimes({"S": 10.0}), "S", 10_000.0) == 10.0  # a forgotten 办结: no more than the mean
    breaks = ServiceTimes({pause_key("break"): 10.0})
    for _ in range(10):
        breaks.add(pause_key("break"), 10.0)
    assert [expected_rest(breaks, pause_key("break"), e) for e in (0.0, 4.0, 9.0)] == [10.0, 6.0, 1.0]

@pytest.mark.parametrize("hall_file", sorted(p.name for p in (Path(__file__).parent.parent / "config").glob("*.toml")))
def test_the_fast_replay_picks_exactly_as_allocation_pick_does(hall_file):
    """The estimate's replay keeps each window's lines in heaps instead of asking allocation.pick
    over every line's heads on every step (issue #11: the estimate is most of an issue's CPU). On
    random queues in every hall — 绿色通道, appointments, tickets bound to a window, tickets old
    enough to age, busy and closed windows, protected windows — both give the same call times."""
    import random

    from server.estimate import _replay

    cfg = load_config(Path(__file__).parent.parent / "config" / hall_file)
    windows_all = sorted(cfg.windows.values(), key=lambda w: w.number)
    rules = cfg.rules
    now = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    times = ServiceTimes({code: s.minutes for code, s in cfg.services.items()})
    rnd = random.Random(hall_file)
    for trial in range(30):
        open_windows = [w for w in windows_all if rnd.random() < 0.8] or windows_all[:1]
        windows = {w.number: w for w in open_windows}
        if trial % 3 == 0:  # some closed windows counted from a reopening
            for w in windows_all:
                windows.setdefault(w.number, w)
        services = sorted({s for w in windows.values() for s in w.services})
        queue = []
        for i in range(rnd.randint(1, 150)):
            rank = rnd.choice([0, 1, 2, 2, 2, 2])
            target = rnd.choice(list(windows)) if rnd.random() < 0.05 else None
            service = rnd.choice(services)
            queue.append(Candidate(id=f"t{i}", service=service, rank=rank,
                                   arrived=now - timedelta(minutes=rnd.uniform(0, 130)), number=i,
                                   target_window=target, minutes=cfg.services[service].minutes))
        probes = [Candidate(id="_probe", service=s, rank=2, arrived=now, number=10**9, minutes=cfg.services[s].minutes)
                  for s in rnd.sample(services, min(3, len(services)))]
        targets = rnd.sample(queue, min(5, len(queue))) + probes
        busy = [Busy(window=n, service=rnd.choice(list(w.services)), since=now - timedelta(minutes=rnd.uniform(0, 30)))
                for n, w in windows.items() if rnd.random() < 0.5]
        reopen = now + timedelta(minutes=30) if trial % 3 == 0 else None
        args = (targets, queue, windows, open_windows, busy, times, now, rules, reopen)
        assert _replay(*args, fast_pick=True) == _replay(*args, fast_pick=False), (hall_file, trial)


def test_a_special_days_own_hours_say_when_the_windows_open():
    """A 错时服务 Saturday open 09:00–12:30 and 13:00–16:00: at 8:45 the clerk already signed in opens
    with the day at 9:00 (it read "即将叫号"), at 12:15 a free window takes the ticket,
    and at 12:45 the windows open at 13:00, not at the usual week's 14:30 (the next opening was read
    from the usual sessions: a 延时服务 day open from 04:00 printed "窗口 8:30 开始办理，预计等候约 223
    分钟" on a ticket, nobody signed in at its windows)."""
    from dataclasses import replace

    from hallq.model import Session, SpecialDay
    from hallq.waits import wait_text
    from server.estimate import serving_now
    from server.views import position_view

    hall = small_hall()
    day = SpecialDay(date=datetime(2026, 3, 7).date(), kind="staggered",
                     sessions=(Session(time(9, 0), time(12, 30)), Session(time(13, 0), time(16, 0))))
    hours = replace(hall.hours, special_days=(day,))
    times = ServiceTimes({code: s.minutes for code, s in hall.services.items()})
    staffed, every = [hall.windows[4]], list(hall.windows.values())
    new = Candidate(id="n", service="S301", rank=2, arrived=datetime(2026, 3, 7, 12, 15, tzinfo=TZ), number=1)
    texts = []
    for hh, mm in ((8, 45), (12, 15), (12, 45)):  # 8:45: its clerk signed in, the day opens at 9:00
        now = datetime(2026, 3, 7, hh, mm, tzinfo=TZ)
        e = estimate_wait(replace(new, arrived=now), [], serving_now(staffed, hours, now), every, [], times, now,
                          hours=hours)
        texts.append(wait_text(position_view(e)))
    assert texts == ["窗口 9:00 开始办理，预计等候约 15 分钟", "即将叫号，请留意叫号屏", "窗口 13:00 开始办理，预计等候约 15 分钟"]


def test_at_lunch_a_line_still_served_reads_its_own_wait_on_the_display(tmp_path):
    """At lunch the 不动产 window finishes the citizens who had their tickets before the break (延时服务)
    and their tickets say so; the line's row (the hall display's, /services) read "14:30 开始 · 约 …",
    as if the line stood still until the afternoon."""
    from server.views import menu_view, ticket_view

    engine, clock = _engine(tmp_path, datetime(2026, 3, 2, 11, 50, tzinfo=TZ))
    engine.login(4, "1004")
    tickets = [engine.issue("S301") for _ in range(3)]
    clock.advance(minutes=20)  # 12:10: lunch; S301 is not issued now
    last = ticket_view(engine, engine.ticket(tickets[-1].id))["position"]
    row = {r["code"]: r for r in menu_view(engine)}["S301"]
    assert last["opens_at"] is None and not row["issuing"]
    assert row["opens_at"] is None and row["wait_short"].startswith("约 ")
    assert last["estimated_wait_minutes"] < row["estimated_wait_minutes"] < 60


def test_the_first_of_several_busy_windows_is_expected_at_the_median_of_their_soonest_end():
    """Nobody ahead, four windows busy: the ticket is called when the FIRST of them is free, whose
    median is well before the soonest of their medians. Half of the simulated soonest ends (the
    same log-normal model) fall within the estimate; before, the soonest median (~8%)."""
    import math
    import random

    from hallq.model import Window

    w = {n: Window(n, "综合窗口", "comprehensive", {"A": "primary"}) for n in range(1, 5)}
    times = ServiceTimes({"A": 10.0})
    busy = [Busy(n, "A", NOW - timedelta(minutes=e)) for n, e in zip(w, (1.0, 2.0, 3.0, 4.0), strict=True)]
    new = Candidate(id="new", service="A", rank=2, arrived=NOW, number=1)
    got = estimate_wait(new, [new], list(w.values()), list(w.values()), busy, times, NOW).minutes
    rng = random.Random(3)
    sigma2 = math.log(1 + 0.7 ** 2)

    def end(elapsed):
        while True:
            x = rng.lognormvariate(math.log(10.0) - sigma2 / 2, math.sqrt(sigma2))
            if x > elapsed:
                return x - elapsed

    soonest = [min(end(e) for e in (1.0, 2.0, 3.0, 4.0)) for _ in range(4000)]
    assert abs(sum(s <= got for s in soonest) / len(soonest) - 0.5) < 0.04
    assert got < 0.8 * min(expected_rest(times, "A", e) for e in (1.0, 2.0, 3.0, 4.0))
