"""The fork behind bench/bench_estimate_bound.py: a hall copied at the moment of issue.

The oracle (the best any estimate made at issue can do) is only as good as the copied state: a
fork that missed a break, a busy window or a bound ticket would bound the wrong thing. Forked
without redrawing anything, the copy must replay the day exactly — every sampled ticket called at
the minute it really was — and the original run must be left as it was. Forked knowing only what
the hall server knows (`learnt`, `breaks`), it must draw around the learnt means and know no break
before it starts.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

from hallq.config import load_config
from server.estimate import ServiceTimes, expected_rest, pause_key
from server.simulate.arrivals import Assumptions, Break, generate
from server.simulate.fork import FRESH_ID, fork, remaining_service
from server.simulate.model import BACK, BREAK, HallSim

ROOT = Path(__file__).resolve().parent.parent


class Forking(HallSim):
    """Forks at every 7th issue that waits, exactly and with fresh draws."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exact: dict[int, float] = {}
        self.fresh: dict[int, float] = {}

    def arrive(self, c, now):
        super().arrive(c, now)
        i = self.issued.get(c.id)
        if i is not None and i.arrival == now and i.called is None and c.id % 7 == 0:
            self.exact[c.id] = fork(self, now).wait_for(c.id, now)
            self.fresh[c.id] = fork(self, now, random.Random(c.id)).wait_for(c.id, now)


def test_fork_without_redraws_replays_the_day_exactly():
    config = load_config(ROOT / "config" / "township-centre.toml")  # protected windows, lunch, breaks
    scenario = generate(config, 3, 1, Assumptions(load=0.7))
    sim = Forking(config, scenario, "hallq")
    run = sim.simulate()
    real = {i.citizen: i.called - i.arrival for i in run.issued if i.called is not None}
    plain = HallSim(config, scenario, "hallq").simulate()  # the forks left the original run alone
    assert [(v.citizen, v.called) for v in run.visits] == [(v.citizen, v.called) for v in plain.visits]
    assert len(sim.exact) >= 15
    assert max(real[k] for k in sim.exact) >= 10  # some of them waited long: the state mattered
    for k, w in sim.exact.items():
        assert w == real[k], k
    # Fresh draws change waits, but every forked ticket is still called.
    assert any(sim.fresh[k] != real[k] for k in sim.fresh)
    assert all(w < float("inf") for w in sim.fresh.values())


def test_a_service_under_way_is_drawn_given_how_long_it_has_lasted():
    rng = random.Random(1)
    a = Assumptions()
    draws = [remaining_service(rng, 8.0, 12.0, a) for _ in range(4000)]
    assert min(draws) >= 12.0
    # Log-normal mean 8, CV 0.7, given > 12: E[X | X > 12] = 8 Φ((μ + σ² − ln 12)/σ) ÷ (1 − F(12)) = 17.61.
    assert 17.1 < statistics.fmean(draws) < 18.1
    fresh = [remaining_service(rng, 8.0, 0.0, a) for _ in range(4000)]
    assert 7.6 < statistics.fmean(fresh) < 8.4


class Probe(HallSim):
    """Forks once, knowing only what the hall server knows, at the first issue with a clerk away."""

    knowable = None

    def arrive(self, c, now):
        super().arrive(c, now)
        away = [d for d in self.desks.values() if d.on_break]
        if self.knowable is not None or not away or c.id not in self.issued:
            return
        real, self.times = self.times, self.times.snapshot()
        try:  # what hallq has learnt by now: `slow` takes 5× its configured minutes, a break 30 minutes
            self.slow = max(self.config.services, key=lambda s: sum(x.steps[0] == s for x in self.fresh if x.arrival > now))
            for _ in range(30):
                self.times.add(self.slow, 5 * self.config.services[self.slow].minutes)
                self.times.add(pause_key("break"), 30.0)
            later = (Break(away[0].number, now - 1, 10.0), Break(away[0].number, now + 5, 10.0))
            self.knowable = fork(self, now, random.Random(1), self.fresh, [x.arrival for x in self.fresh],
                                 breaks=later, learnt=True)
        finally:
            self.times = real
        self.away, self.since, self.now = away[0].number, away[0].break_since, now


def test_a_knowable_fork_draws_around_learnt_means_and_knows_only_breaks_under_way():
    config = load_config(ROOT / "config" / "township-centre.toml")
    a = Assumptions(load=0.7)
    sim = Probe(config, generate(config, 3, 1, a), "hallq")
    sim.fresh = sorted(generate(config, 99, 1, Assumptions(load=3.0)).citizens, key=lambda c: c.arrival)  # many
    sim.simulate()
    f, now = sim.knowable, sim.now
    assert f is not None
    # The clerk away is back when hallq's estimate expects (30 min learnt), not as scheduled (10).
    desk = f.desks[sim.away]
    back = [when for when, kind, _, d in f.events if kind == BACK and d is desk]
    learnt = ServiceTimes({})
    for _ in range(30):
        learnt.add(pause_key("break"), 30.0)
    assert back == [now + expected_rest(learnt, pause_key("break"), now - sim.since)]
    # Breaks not yet started: only the fresh draw's after now, none of the schedule's.
    assert [(when, d[0].number) for when, kind, _, d in f.events if kind == BREAK] == [(now + 5, desk.number)]
    assert not any(d.break_owed for d in f.desks.values())
    # Service times (here of the fresh arrivals) are drawn around the learnt mean, not the true one.
    drawn = [c.minutes[0] for c in f.citizens.values() if c.id >= FRESH_ID and c.steps[0] == sim.slow]
    assert len(drawn) >= 20
    assert statistics.fmean(drawn) > 3 * config.services[sim.slow].minutes
