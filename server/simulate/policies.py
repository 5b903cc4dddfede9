"""Who a free window calls next, under hallq's policy and under the baselines it must beat.

`hallq` is not a copy of the server's policy: it calls `server.allocation.pick` with the same
`Candidate` ranks (`effective_rank`) the engine builds, so what is measured is what runs.
The baselines:

- `separate`: separate department lines — a window serves only its own line's matters (those it
  holds as primary; a matter with no primary window goes to its secondary windows), first come,
  first served, no priority, no help across lines;
- `bind`: each ticket is bound at issue to the least-loaded eligible (primary or secondary) window,
  as some open-source systems do, and waits for that window whatever happens elsewhere;
- `pooled-fcfs`: one pooled queue over every skill a window has (any weight), priority first, then
  first come, first served;
- `scarcity-fcfs`: the same pool, priority first, then the ticket that the fewest staffed windows
  can take (scarce tickets first, while a window that can take them is free), then first come;
- `lqf`: longest queue first — priority first, then the matter with the most tickets waiting
  (among those the window may take), first come within it;
- `gcmu`: generalised cμ (Mandelbaum & Stolyar 2004) for a quadratic cost of waiting: the ticket
  with the largest wait × service rate (1 ÷ the matter's configured minutes), 绿色通道's wait
  counted tenfold;
- `pooled`: every window serves every matter, first come, first served — full flexibility, the
  lower bound the others are measured against (not a policy a real hall could run).

All but `pooled` respect the skill matrix; the best of them on the same arrivals is the reference
hallq's own policy is measured against (bench/bench_allocation.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hallq.model import HallConfig, Window
from server.allocation import NORMAL_RANK, Candidate, effective_rank, pick


@dataclass
class Waiting:
    """A ticket in the simulated waiting pool."""

    citizen: int  # Citizen.id
    service: str
    step: int
    arrived: float  # original arrival (kept across 一件事 steps, as the engine does)
    queued: float  # when this visit joined the queue
    rank: int
    slot: float | None
    candidate: Candidate
    bound: int | None = None  # `bind` only


class Policy(ABC):
    name = ""

    def __init__(self, config: HallConfig) -> None:
        self.config = config
        # Windows staffed now (not closed, not on a break), kept up to date by the simulator:
        # scarcity is counted over them, as the engine counts it over its open windows.
        self.staffed: list[Window] = list(config.windows.values())

    def can_serve(self, window: Window, service: str) -> bool:
        """Whether `window` could ever take `service` (to know whom to wake on an arrival)."""
        return service in window.services

    def bind(self, ticket: Waiting, load: dict[int, int], available: set[int]) -> None:
        """Called when a ticket joins the queue; only `bind` uses it."""
        del ticket, load, available  # pull policies bind nothing at issue

    @abstractmethod
    def choose(self, window: Window, waiting: list[Waiting], now: float, at: datetime) -> Waiting | None:
        """The ticket `window` calls next under this policy, or None."""


class Hallq(Policy):
    name = "hallq"

    def choose(self, window, waiting, now, at):
        by_id = {}
        cands = []
        for t in waiting:
            c = t.candidate
            if t.slot is not None:
                c = replace(c, rank=effective_rank(t.rank, _slot_dt(at, now, t.slot), at))
            by_id[c.id] = t
            cands.append(c)
        best = pick(window, cands, at, self.config.rules, self.staffed)
        return by_id[best.id] if best else None


def _slot_dt(at: datetime, now: float, slot: float) -> datetime:
    return at + timedelta(minutes=slot - now)


class _Keyed(Policy):
    """A policy that is an eligibility rule plus an order."""

    def eligible(self, window: Window, t: Waiting) -> bool:
        return self.can_serve(window, t.service)

    def key(self, t: Waiting, now: float) -> tuple:
        return (t.arrived, t.candidate.number, t.citizen)

    def choose(self, window, waiting, now, at):
        best, best_key = None, None
        for t in waiting:
            if self.eligible(window, t):
                k = self.key(t, now)
                if best_key is None or k < best_key:
                    best, best_key = t, k
        return best


class Separate(_Keyed):
    name = "separate"

    def __init__(self, config: HallConfig) -> None:
        super().__init__(config)
        self.line: dict[int, set[str]] = {n: set() for n in config.windows}
        for code in config.services:
            own = [w for w in config.windows.values() if w.services.get(code) == "primary"]
            own = own or [w for w in config.windows.values() if w.services.get(code) == "secondary"]
            for w in own:
                self.line[w.number].add(code)

    def can_serve(self, window, service):
        return service in self.line[window.number]


class Bind(_Keyed):
    name = "bind"

    def can_serve(self, window, service):
        return window.services.get(service) in ("primary", "secondary")

    def bind(self, ticket, load, available):
        windows = [w for w in self.config.windows.values() if self.can_serve(w, ticket.service)]
        open_ = [w for w in windows if w.number in available] or windows
        ticket.bound = min(open_, key=lambda w: (load.get(w.number, 0), w.number)).number

    def eligible(self, window, t):
        return t.bound == window.number

    def key(self, t, now):
        return (_rank_now(t, now), t.arrived, t.candidate.number, t.citizen)


class PooledFcfs(_Keyed):
    name = "pooled-fcfs"

    def key(self, t, now):
        return (_rank_now(t, now), t.arrived, t.candidate.number, t.citizen)


class Pooled(_Keyed):
    name = "pooled"

    def can_serve(self, window, service):
        return True


def _rank_now(t: Waiting, now: float) -> int:
    """effective_rank on the simulated clock: an appointment counts as one only from its slot."""
    return NORMAL_RANK if t.slot is not None and now < t.slot else t.rank


class ScarcityFcfs(_Keyed):
    name = "scarcity-fcfs"

    def choose(self, window, waiting, now, at):
        scarcity: dict[str, int] = {}
        for w in self.staffed:
            for s in w.services:
                scarcity[s] = scarcity.get(s, 0) + 1
        best, best_key = None, None
        for t in waiting:
            if self.eligible(window, t):
                k = (_rank_now(t, now), scarcity.get(t.service, 0), t.arrived, t.candidate.number, t.citizen)
                if best_key is None or k < best_key:
                    best, best_key = t, k
        return best


class LongestQueueFirst(_Keyed):
    name = "lqf"

    def choose(self, window, waiting, now, at):
        lengths = Counter(t.service for t in waiting)
        best, best_key = None, None
        for t in waiting:
            if self.eligible(window, t):
                k = (_rank_now(t, now), -lengths[t.service], t.arrived, t.candidate.number, t.citizen)
                if best_key is None or k < best_key:
                    best, best_key = t, k
        return best


class GeneralisedCMu(_Keyed):
    name = "gcmu"
    GREEN_WEIGHT = 10.0

    def choose(self, window, waiting, now, at):
        best, best_key = None, None
        for t in waiting:
            if self.eligible(window, t):
                weight = self.GREEN_WEIGHT if t.rank <= 0 else 1.0
                index = weight * (now - t.arrived + 1e-3) / self.config.services[t.service].minutes
                k = (-index, t.arrived, t.candidate.number, t.citizen)
                if best_key is None or k < best_key:
                    best, best_key = t, k
        return best


POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (Separate, Bind, PooledFcfs, ScarcityFcfs, LongestQueueFirst, GeneralisedCMu, Hallq, Pooled)
}
BASELINES = ("separate", "bind", "pooled-fcfs", "scarcity-fcfs", "lqf", "gcmu", "hallq")
# The skill-respecting baselines hallq is measured against ("best" = the lowest mean of these).
REFERENCES = ("bind", "pooled-fcfs", "scarcity-fcfs", "lqf", "gcmu")
