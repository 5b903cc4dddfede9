"""The fork behind bench/bench_estimate_bound.py: a hall copied at the moment of issue.

The oracle (the best any estimate made at issue can do) is only as good as the copied state: a
fork that missed a break, a busy window or a bound ticket would bound the wrong thing. Forked
without redrawing anything, the copy must replay the day exactly — every sampled ticket called at
the minute it really was — and the original run must be left as it was.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

from hallq.config import load_config
from server.simulate.arrivals import Assumptions, generate
from server.simulate.fork import fork, remaining_service
from server.simulate.model import HallSim

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
