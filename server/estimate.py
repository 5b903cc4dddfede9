"""Wait estimates printed on tickets and shown on the kiosk menu.

The estimate replays the pull allocation on expected service times: the tickets ahead of a new
one are handed, in call order, to whichever of their windows can take them first, and the new
ticket is called when the first of its own windows is free after that. Busy windows are free when
their current service is expected to end. The expected service time per matter is learnt from
recent finished services (`ServiceTimes`), starting from the configured minutes, so the estimate
follows the hall's real pace.

An earlier version spread the work ahead evenly over the windows (a fluid model). The hall
simulator (bench/bench_estimates.py) showed it overestimating by most of a service time whenever
several windows were busy — the next free window is the soonest of them, not their average — and
going far off when a line's primary window was on a break.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hallq.model import Hours, Rules, Window

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
        self.keep = keep
        self._recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=keep))
        self._means: dict[str, float] = {}  # mean() per matter until the next add(): a replay asks often

    def snapshot(self) -> ServiceTimes:
        """A copy to estimate from while the original goes on learning (outside the engine's lock)."""
        out = ServiceTimes(self.configured, self.keep)
        for service, recent in self._recent.items():
            out._recent[service].extend(recent)
        return out

    def add(self, service: str, minutes: float) -> None:
        if minutes > 0:
            self._recent[service].append(minutes)
            self._means.pop(service, None)

    def mean(self, service: str) -> float:
        got = self._means.get(service)
        if got is None:
            got = self._means[service] = self._mean(service)
        return got

    def _mean(self, service: str) -> float:
        recent = sorted(self._recent.get(service, ()))
        configured = self.configured.get(service, 10.0)
        if len(recent) < 3:
            # Blend towards the configured value until there is evidence.
            n = len(recent)
            return (configured * (3 - n) + sum(recent)) / 3
        cut = len(recent) // 10
        kept = recent[cut: len(recent) - cut] if cut else recent
        return sum(kept) / len(kept)


class WindowOptions:
    """Which of a set of windows take a matter, and whether as backup, as the replay asks for each
    ticket ahead: worked out once per (windows, matter) rather than on every estimate. Valid for one
    hall configuration (each window number always maps to the same `Window`): the engine keeps one."""

    def __init__(self) -> None:
        self._by: dict[tuple, list[tuple[int, bool]]] = {}

    def get(self, windows: dict[int, Window], service: str) -> list[tuple[int, bool]]:
        key = (tuple(windows), service)
        got = self._by.get(key)
        if got is None:
            if len(self._by) > 10_000:  # staffing patterns come and go: keep it bounded
                self._by.clear()
            got = self._by[key] = [(n, w.services[service] == "backup") for n, w in windows.items()
                                   if service in w.services]
        return got


@dataclass(frozen=True)
class Busy:
    """A window serving someone: which service, since when."""

    window: int
    service: str
    since: datetime


def ahead_of(new: Candidate, queue: Iterable[Candidate], windows: list[Window]) -> list[Candidate]:
    """Waiting tickets that share a window with `new` and would be called before it."""
    numbers = {w.number for w in windows}
    served = {s for w in windows for s in w.services}  # "some window serves it", asked once per matter
    key = (new.rank, new.arrived, new.number)
    out = []
    for c in queue:
        if c.id == new.id:
            continue
        shares = (c.target_window in numbers) if c.target_window is not None else c.service in served
        if shares and (c.rank, c.arrived, c.number) < key:
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
    rules: Rules | None = None,
    hours: Hours | None = None,
    options: WindowOptions | None = None,
) -> tuple[int, float]:
    """(people ahead, estimated minutes) for a ticket `new` that is, or would be, in `queue`.

    Replays the pull allocation with expected service times: each ticket ahead goes to the window
    that can take it first (a busy window when its current service is expected to end, a backup
    window only once the ticket has waited `backup_after_minutes`), and `new` is called when the
    first of its windows is free after that. `hours` (when given) lets a window closed for lunch
    or before opening count from the next session's start rather than from now.
    """
    return estimate_waits([new], queue, open_windows, all_windows, busy, times, now, rules, hours, options)[0]


def estimate_waits(
    news: list[Candidate],
    queue: Iterable[Candidate],
    open_windows: list[Window],
    all_windows: list[Window],
    busy: Iterable[Busy],
    times: ServiceTimes,
    now: datetime,
    rules: Rules | None = None,
    hours: Hours | None = None,
    options: WindowOptions | None = None,
) -> list[tuple[int, float]]:
    """`estimate_wait` for each of `news` against the same queue (the kiosk menu: one probe per
    matter), with the same figures. Probes whose windows are the same have the same tickets ahead
    and the same replay, so it is done once for them; only the last step (when the first of the
    probe's own windows is free) is per probe. `options` (the caller's, kept between calls) saves
    working out each matter's windows again."""
    rules = rules or Rules()
    options = options or WindowOptions()
    queue = list(queue)
    busy = list(busy)
    if len(news) > 1:
        # Sorted once for all probes; a stable sort keeps ties in queue order, so each probe's
        # tickets ahead come out in the very order its own sort would give them.
        queue.sort(key=lambda c: (c.rank, c.arrived, c.number))
    reopen = _next_opening(hours, now)
    replays: dict[tuple, tuple[int, dict[int, float]]] = {}
    means: dict[str, float] = {}
    out = []
    for new in news:
        windows = {w.number: w for w in open_windows}
        mine = [w for w in open_windows if new.service in w.services]
        if reopen is not None or not mine:
            # Its other windows are closed now: they count from when they (are assumed to) open.
            for w in all_windows:
                if new.service in w.services and w.number not in windows:
                    windows[w.number] = w
            mine = [w for w in windows.values() if new.service in w.services]
        if not mine:
            out.append((0, 0.0))
            continue
        key = (tuple(windows), frozenset(w.number for w in mine), new.rank, new.arrived, new.number, new.id)
        hit = replays.get(key)
        if hit is None:
            ahead = ahead_of(new, queue, mine)
            hit = replays[key] = (len(ahead), _replay(ahead, windows, open_windows, busy, times, now, rules,
                                                      reopen, means, options))
        out.append((hit[0], min(_start(w, new, hit[1], now, rules) for w in mine)))
    return out


def _replay(ahead: list[Candidate], windows: dict[int, Window], open_windows: list[Window], busy: list[Busy],
            times: ServiceTimes, now: datetime, rules: Rules, reopen: datetime | None,
            mean_for: dict[str, float], window_options: WindowOptions) -> dict[int, float]:
    """When each of `windows` is free (minutes from now) after serving `ahead` in call order."""
    closed_until = max(0.0, (reopen - now).total_seconds() / 60.0) if reopen is not None else 0.0
    opened = {w.number for w in open_windows}
    free = {n: (0.0 if n in opened else closed_until) for n in windows}
    for b in busy:
        if b.window in free:
            elapsed = (now - b.since).total_seconds() / 60.0
            mean = times.mean(b.service)
            # A service already past its mean is expected to end soon, not at once.
            free[b.window] = max(mean - elapsed, mean * 0.15)
    # The same replay as one `_start` per (ticket, window), with what depends only on the matter
    # worked out once per matter: its windows (number, backup?) and its expected service time.
    options_for: dict[str, list[tuple[int, bool]]] = {}  # this replay's, in front of window_options
    backup_after = rules.backup_after_minutes
    for c in sorted(ahead, key=lambda c: (c.rank, c.arrived, c.number)):
        if c.target_window is not None:
            if c.target_window not in windows:
                continue
            options = [(c.target_window, False)]  # a ticket bound to a window never waits as backup work
        else:
            options = options_for.get(c.service)
            if options is None:
                options = options_for[c.service] = window_options.get(windows, c.service)
            if not options:
                continue
        best, best_start, not_before = None, 0.0, None
        for n, backup in options:
            at = free[n]
            if backup:
                if not_before is None:  # the same value for every backup window of this ticket
                    not_before = backup_after - (now - c.arrived).total_seconds() / 60.0
                at = max(at, not_before)
            if best is None or at < best_start or (at == best_start and n < best):
                best, best_start = n, at
        mean = mean_for.get(c.service)
        if mean is None:
            mean = mean_for[c.service] = times.mean(c.service)
        free[best] = best_start + mean
    return free


def _start(window: Window, c: Candidate, free: dict[int, float], now: datetime, rules: Rules) -> float:
    """When `window` could call `c`, in minutes from now."""
    at = free[window.number]
    if window.services.get(c.service) == "backup" and c.target_window is None:
        waited = (now - c.arrived).total_seconds() / 60.0
        at = max(at, rules.backup_after_minutes - waited)
    return at


def _next_opening(hours: Hours | None, now: datetime) -> datetime | None:
    """The start of the next session today when `now` is before opening or between sessions."""
    if hours is None or not hours.sessions:
        return None
    t = now.time()
    if any(s.start <= t < s.end for s in hours.sessions):
        return None
    upcoming = [s.start for s in hours.sessions if s.start > t]
    return datetime.combine(now.date(), upcoming[0], now.tzinfo) if upcoming else None


def naive_estimate(ahead: int, mean_minutes: float, open_windows: int) -> float:
    """The textbook estimate (people ahead × mean service time ÷ open windows), for comparison."""
    return ahead * mean_minutes / max(open_windows, 1)
