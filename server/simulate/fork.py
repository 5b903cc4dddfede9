"""A simulated hall forked at one moment, its unknown future drawn afresh.

What the best estimate made at issue could be (bench/bench_estimate_bound.py): at the moment a
ticket is printed, copy the simulator's exact state — the queue, which windows are staffed, who is
being served and for how long so far, the breaks as scheduled, the policy hallq runs — and run
the rest of the day again with what nobody can know at issue drawn anew from the distributions the
scenario was drawn from: the service times of everyone not yet finished (a service under way: its
time given that it has lasted so far), who will not show up, and the citizens who have not come
yet. The median wait over many such forks is the error-optimal estimate given everything knowable.

That oracle knows more than a hall server can: the matters' true mean service times, the breaks
in advance. What the server knows at issue instead (`learnt`, `breaks`): the means it has learnt
by then (`HallSim.times`, the `ServiceTimes` its own estimate reads), a break only once it has
started (the clerk expected back as its estimate expects), and breaks to come only as the
scenario's break model, drawn afresh like the arrivals.

The fork runs the simulator's own event handling (`HallSim.handle`); nothing here simulates.
With `rng=None` nothing is redrawn and the fork replays the original day exactly
(tests/test_simulate_fork.py checks that it does, which is what shows the copied state complete).
"""

from __future__ import annotations

import bisect
import copy
import heapq
import math
import random
from dataclasses import replace
from statistics import NormalDist

from server.estimate import expected_rest, pause_key

from .arrivals import Assumptions, Break, Citizen, _service_minutes
from .model import ARRIVE, BACK, BREAK, FINISH, Desk, HallSim, Run

_NORMAL = NormalDist()
FRESH_ID = 10_000_000  # ids (and ticket numbers) of the fresh citizens start here: no clash


def remaining_service(rng: random.Random, mean: float, elapsed: float, a: Assumptions) -> float:
    """A service time drawn from the scenario's distribution given that it exceeds `elapsed`."""
    if a.service == "exponential":
        return elapsed + rng.expovariate(1.0 / mean)  # memoryless
    sigma = math.sqrt(math.log(1.0 + a.service_cv**2))
    mu = math.log(mean) - sigma**2 / 2
    p = _NORMAL.cdf((math.log(elapsed) - mu) / sigma) if elapsed > 0 else 0.0
    u = p + (1.0 - p) * rng.random()
    u = min(max(u, 1e-12), 1.0 - 1e-12)
    return max(elapsed, math.exp(mu + sigma * _NORMAL.inv_cdf(u)))


class Forked(HallSim):
    """A HallSim copied from another at `now`, run until one ticket is called (`wait_for`)."""

    target: int = -1
    called_at: float | None = None

    def call(self, desk, t, now):
        super().call(desk, t, now)
        if t.citizen == self.target and t.step == 0:
            self.called_at = now

    def wait_for(self, citizen: int, issued: float) -> float:
        """Minutes from `issued` until `citizen`'s first step is called in this fork (inf: never)."""
        self.target, self.called_at = citizen, None
        events = self.events
        while events and self.called_at is None:
            now, kind, _, data = heapq.heappop(events)
            self.handle(now, kind, data)
        return math.inf if self.called_at is None else self.called_at - issued


def fork(sim: HallSim, now: float, rng: random.Random | None = None,
         arrivals: list[Citizen] | None = None, arrival_times: list[float] | None = None,
         breaks: tuple[Break, ...] | None = None, learnt: bool = False) -> Forked:
    """`sim` as it stands at `now` (inside an event's handling), as an independent `Forked`.

    `rng`: redraw what is unknown at `now` (service times not yet over, no-shows not yet seen);
    `arrivals` (sorted by arrival, `arrival_times` their arrival minutes): replace the citizens who
    have not come yet by those of them arriving after `now`. With neither, the fork is exact.
    `learnt` (with `rng`): draw service times around the means learnt by `now` (`sim.times`), not the
    scenario's true ones. `breaks` (a fresh draw of the scenario's): replace the breaks not yet
    started by those of them starting after `now`; a clerk away now is back when hallq expects."""
    a = sim.scenario.assumptions
    f = Forked.__new__(Forked)
    f.__dict__.update(sim.__dict__)
    f.estimates = False
    f.policy = copy.copy(sim.policy)
    f.times = sim.times.snapshot()
    f.issued = {}
    f.run = Run(policy=sim.run.policy, scenario=sim.scenario, closing=list(sim.run.closing))
    desks = {id(d): copy.copy(d) for d in sim.desks.values()}
    f.desks = {n: desks[id(d)] for n, d in sim.desks.items()}
    f.waiting = list(sim.waiting)
    f.citizens = dict(sim.citizens)
    config = sim.config
    mean_of = sim.times.mean if learnt else (lambda s: config.services[s].minutes)

    def redraw(c: Citizen, first: int, seen: bool) -> Citizen:
        """`c` with the service times of steps from `first` on drawn anew (and no-show, unless seen)."""
        minutes = c.minutes[:first] + tuple(
            _service_minutes(rng, mean_of(s), a) for s in c.steps[first:])
        no_show = c.no_show if seen else rng.random() < a.no_show_share
        return replace(c, minutes=minutes, no_show=no_show)

    finish_at: dict[int, float] = {}
    if rng is not None:
        for t in f.waiting:
            f.citizens[t.citizen] = redraw(f.citizens[t.citizen], t.step, t.step > 0)
        for d in sim.desks.values():
            t = d.current
            if t is None:
                continue
            c = f.citizens[t.citizen]
            if c.no_show and t.step == 0:
                continue  # the window is calling someone who is not there: seen, and its end known
            f.citizens[t.citizen] = c = redraw(c, t.step + 1, True)
            finish_at[id(d)] = d.since + remaining_service(rng, mean_of(t.service), now - d.since, a)
    if breaks is not None:
        for key, d in desks.items():
            d.break_owed = 0.0  # not started: the clerk is still serving, nobody knows of it yet
            if d.on_break:
                finish_at[key] = now + expected_rest(sim.times, pause_key("break"), now - d.break_since)
    events = []
    for when, kind, seq, data in sim.events:
        if isinstance(data, Desk):
            if kind in (FINISH, BACK) and id(data) in finish_at:
                when = finish_at[id(data)]
            data = desks[id(data)]
        elif kind == BREAK:
            if breaks is not None:
                continue  # not started: replaced by the fresh draw
            data = (desks[id(data[0])], data[1])
        elif kind == ARRIVE and rng is not None:
            if data.came is None and arrivals is not None:
                continue  # has not come yet: replaced by a fresh citizen
            data = f.citizens[data.id] = redraw(data, 0, False)  # turned away earlier, coming back
        events.append((when, kind, seq, data))
    heapq.heapify(events)
    f.events = events
    if arrivals is not None:
        for c in arrivals[bisect.bisect_right(arrival_times, now):]:
            c = replace(c, id=FRESH_ID + c.id, number=FRESH_ID + c.number)
            if learnt:
                c = redraw(c, 0, True)
            f.citizens[c.id] = c
            f.push(c.arrival, ARRIVE, c)
    for b in breaks or ():
        if b.start > now:
            f.push(b.start, BREAK, (f.desks[b.window], b.minutes))
    return f
