"""Wait estimates printed on tickets and shown on the kiosk menu.

The estimate splits the work queued ahead of a new ticket over the windows that could serve it:
a ticket ahead whose service `k` of its own open windows handle contributes 1/k of its expected
service time to each of them. Busy windows add what is left of their current service. The
expected service time per matter is learnt from recent finished services (`ServiceTimes`), starting
from the configured minutes, so the estimate follows the hall's real pace.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hallq.model import Window

from .allocation import Candidate

# How much of a window's time a matter can count on, by the window's weight for it: backup windows
# only help once a line is long, secondary ones after their primary work.
CAPACITY = {"primary": 1.0, "secondary": 0.6, "backup": 0.2}


def capacity(window: Window, service: str) -> float:
    return CAPACITY.get(window.services.get(service, ""), 0.0)


class ServiceTimes:
    """Recent service durations per matter, as a trimmed mean of the last `keep` services."""

    def __init__(self, configured: Mapping[str, float], keep: int = 30) -> None:
        self.configured = dict(configured)
        self._recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=keep))

    def add(self, service: str, minutes: float) -> None:
        if minutes > 0:
            self._recent[service].append(minutes)

    def mean(self, service: str) -> float:
        recent = sorted(self._recent.get(service, ()))
        configured = self.configured.get(service, 10.0)
        if len(recent) < 3:
            # Blend towards the configured value until there is evidence.
            n = len(recent)
            return (configured * (3 - n) + sum(recent)) / 3
        cut = len(recent) // 10
        kept = recent[cut: len(recent) - cut] if cut else recent
        return sum(kept) / len(kept)


@dataclass(frozen=True)
class Busy:
    """A window serving someone: which service, since when."""

    window: int
    service: str
    since: datetime


def ahead_of(new: Candidate, queue: Iterable[Candidate], windows: list[Window]) -> list[Candidate]:
    """Waiting tickets that share a window with `new` and would be called before it."""
    numbers = {w.number for w in windows}
    out = []
    for c in queue:
        if c.id == new.id:
            continue
        shares = (c.target_window in numbers) if c.target_window is not None else any(
            c.service in w.services for w in windows
        )
        if shares and (c.rank, c.arrived, c.number) < (new.rank, new.arrived, new.number):
            out.append(c)
    return out


def estimate_wait(
    new: Candidate,
    queue: Iterable[Candidate],
    open_windows: list[Window],
    all_windows: list[Window],
    busy: Iterable[Busy],
    times: ServiceTimes,
    now: datetime,
) -> tuple[int, float]:
    """(people ahead, estimated minutes) for a ticket `new` that is, or would be, in `queue`."""
    mine = [w for w in open_windows if new.service in w.services]
    if not mine:
        # Nobody open for it yet (before opening, all on break): assume its windows will open.
        mine = [w for w in all_windows if new.service in w.services]
    if not mine:
        return 0, 0.0
    ahead = ahead_of(new, queue, mine)
    cap = {w.number: capacity(w, new.service) for w in mine}
    total = sum(cap.values())
    work = 0.0
    for c in ahead:
        if c.target_window is not None:
            work += times.mean(c.service) * (cap.get(c.target_window, 0.0) / total)
            continue
        own = [w for w in open_windows if c.service in w.services] or mine
        own_cap = sum(capacity(w, c.service) for w in own)
        # The part of c's work that lands on the windows that could serve `new`.
        shared = sum(capacity(w, c.service) for w in own if w.number in cap)
        work += times.mean(c.service) * (shared / own_cap if own_cap else 1.0)
    residual = 0.0
    for b in busy:
        if b.window in cap:
            elapsed = (now - b.since).total_seconds() / 60.0
            mean = times.mean(b.service)
            # A service already past its mean is expected to end soon, not at once.
            residual += max(mean - elapsed, mean * 0.15) * cap[b.window]
    return len(ahead), (work + residual) / total


def naive_estimate(ahead: int, mean_minutes: float, open_windows: int) -> float:
    """The textbook estimate (people ahead × mean service time ÷ open windows), for comparison."""
    return ahead * mean_minutes / max(open_windows, 1)
