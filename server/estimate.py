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

import heapq
import math
from bisect import bisect_right
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

from hallq.model import Hours, Rules, Window

from . import allocation
from .allocation import Candidate
from .hours import day_sessions

# How much of a window's time a matter can count on, by the window's weight for it: backup windows
# only help once a line is long, secondary ones after their primary work.
CAPACITY = {"primary": 1.0, "secondary": 0.6, "backup": 0.2}


def capacity(window: Window, service: str) -> float:
    return CAPACITY.get(window.services.get(service, ""), 0.0)


class ServiceTimes:
    """Recent service durations per matter: the mean of the last `keep` services.

    A plain mean, not a trimmed one: service times are skewed to the right (log-normal, CV ~0.7), so
    cutting both tails cut more minutes from the long side and came out ~10% low (issue #12). Only a
    duration far past the rest — a clerk who forgot to press 办结 — is capped, at `CAP` × the median,
    which a log-normal of CV 0.7 passes about once in 200 services."""

    CAP = 5.0

    def __init__(self, configured: Mapping[str, float], keep: int = 30) -> None:
        self.configured = dict(configured)
        self.keep = keep
        self._recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=keep))
        self._means: dict[str, float] = {}  # mean() per matter until the next add(): a replay asks often
        self._sorted: dict[str, list[float]] = {}  # recent durations in order, for `expected_rest`
        self._cvs: dict[str, float | None] = {}

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
            self._sorted.pop(service, None)
            self._cvs.pop(service, None)

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
        cap = self.CAP * recent[len(recent) // 2]
        return sum(min(m, cap) for m in recent) / len(recent)

    def durations(self, service: str) -> list[float]:
        """The recent durations of `service`, shortest first (do not modify)."""
        got = self._sorted.get(service)
        if got is None:
            got = self._sorted[service] = sorted(self._recent.get(service, ()))
        return got

    def cv(self, service: str) -> float | None:
        """The spread (CV) of the recent durations as the log-normal `expected_rest` falls back to
        fitted to them (from the spread of their logarithms: over 30 durations of CV 0.7 it reads
        0.69 on average), or None with fewer than `REST_SAMPLE` of them."""
        if service not in self._cvs:
            recent = self.durations(service)
            cv = None
            if len(recent) >= REST_SAMPLE:
                logs = [math.log(m) for m in recent]
                mu = sum(logs) / len(logs)
                var = sum((x - mu) ** 2 for x in logs) / (len(logs) - 1)
                cv = math.sqrt(math.expm1(var))
            self._cvs[service] = cv
        return self._cvs[service]


REST_SAMPLE = 5  # recent durations past `elapsed` needed to read the time left from them alone
SERVICE_CV = 0.7  # spread assumed until it is learnt: service times in halls (issue #12)
PAUSE_CV = 0.25  # a pause's configured length is a schedule (a 10-minute break, 午休 until 14:30)
CV_BOUNDS = (0.25, 1.5)
_NORMAL = NormalDist()


def expected_rest(times: ServiceTimes, service: str, elapsed: float) -> float:
    """Minutes until a service (or, with `pause_key`, a pause) that has lasted `elapsed` ends: the
    MEDIAN of the time left given `elapsed`, which is what an estimate judged by its absolute
    error needs (issue #12). Read from the recent durations that exceed `elapsed` when at least
    `REST_SAMPLE` do (no shape assumed: a pause's lengths may be anything), else from a log-normal
    with the learnt mean and spread (CV, `SERVICE_CV` / `PAUSE_CV` until learnt). With CV 0.7 a
    service just begun has 0.82 of its mean left and one at twice its mean ~0.5 of it, neither
    "mean − elapsed" nor memoryless. Never more than the mean: a service that long past it is a
    forgotten 办结 (`ServiceTimes.CAP`), not a slow one. One function for the replay and the
    simulator's knowable fork (server/simulate/fork.py)."""
    recent = times.durations(service)
    i = bisect_right(recent, elapsed)
    above = len(recent) - i
    mean = times.mean(service)
    if mean <= 0:
        return 0.0
    if above >= REST_SAMPLE:
        mid = i + above // 2
        median = recent[mid] if above % 2 else (recent[mid - 1] + recent[mid]) / 2
        return min(median - elapsed, mean)
    mu, sigma, tail = _lognormal(times, service, mean, elapsed)
    if tail <= 1e-300:
        return mean
    # the conditional median is the quantile with half of P(X > elapsed) above it
    return min(math.exp(mu - sigma * _NORMAL.inv_cdf(tail / 2)) - elapsed, mean)


def _lognormal(times: ServiceTimes, service: str, mean: float, elapsed: float) -> tuple[float, float, float]:
    """(mu, sigma, P(X > elapsed)) of the log-normal `expected_rest` falls back to: the learnt mean
    (> 0) and spread, `SERVICE_CV` / `PAUSE_CV` until the spread is learnt."""
    cv = times.cv(service)
    if cv is None:
        cv = PAUSE_CV if service.startswith(PAUSE_PREFIX) else SERVICE_CV
    cv = min(max(cv, CV_BOUNDS[0]), CV_BOUNDS[1])
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    tail = _NORMAL.cdf(-(math.log(elapsed) - mu) / sigma) if elapsed > 0 else 1.0  # Φ(-z)
    return mu, sigma, tail


def _left(times: ServiceTimes, service: str, elapsed: float, t: float) -> float:
    """P(a service, or pause, that has lasted `elapsed` lasts `t` more): the model `expected_rest`
    takes the median of."""
    recent = times.durations(service)
    i = bisect_right(recent, elapsed)
    above = len(recent) - i
    if above >= REST_SAMPLE:
        return (len(recent) - bisect_right(recent, elapsed + t)) / above
    mean = times.mean(service)
    if mean <= 0:
        return 0.0  # `expected_rest` says it is over
    mu, sigma, tail = _lognormal(times, service, mean, elapsed)
    if tail <= 1e-300 or t >= mean:  # `expected_rest` never says more than the mean
        return 0.0 if t >= mean else 1.0
    return _NORMAL.cdf(-(math.log(elapsed + t) - mu) / sigma) / tail


def first_call(start: float, ahead: int, mine: list[Window], busy: Iterable[Busy], times: ServiceTimes,
               now: datetime, opened: set[int], reopen: datetime | None) -> float:
    """`start` for a ticket nobody is ahead of, called when the first of its busy windows is free:
    the median of the SOONEST of their ends, not the soonest of their medians (with four windows
    busy the first is free at ~the 16% point of one). Without it the replay's estimate sat above
    the median wait for those tickets (the range's low end missed 15–28% of them). Any other
    ticket (someone ahead, or a window taking another ticket first): `start` unchanged."""
    if ahead or start <= 0 or len(mine) < 2:
        return start
    closed_until = max(0.0, (reopen - now).total_seconds() / 60.0) if reopen is not None else 0.0
    by_window = {b.window: b for b in busy}
    ends = []  # (elapsed, service, floor) per window; floor alone for a window that is only closed
    soonest = math.inf
    for w in mine:
        floor = 0.0 if w.number in opened else closed_until
        b = by_window.get(w.number)
        if b is None:
            ends.append((None, "", floor))
            soonest = min(soonest, floor)
            continue
        elapsed = (now - b.since).total_seconds() / 60.0
        floor = max(floor, closed_until if b.pause else 0.0)
        ends.append((elapsed, b.service, floor))
        soonest = min(soonest, max(floor, expected_rest(times, b.service, elapsed)))
    if abs(soonest - start) > 0.02:  # not the first of its windows' ends: the replay took someone else first
        return start

    def none_free(t: float) -> float:
        p = 1.0
        for elapsed, service, floor in ends:
            if t < floor:
                continue
            if elapsed is None:
                return 0.0
            p *= _left(times, service, elapsed, t)
        return p

    lo, hi = 0.0, start
    for _ in range(24):
        mid = (lo + hi) / 2
        if none_free(mid) > 0.5:
            lo = mid
        else:
            hi = mid
    return hi


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
    """A window serving someone: which service, since when. Or, with `pause`, a window whose clerk
    has stepped away (暂停: a break, a meeting): `service` is then `pause_key(reason)`, whose
    learnt mean is how long such pauses last, and the window counts from when it is expected back."""

    window: int
    service: str
    since: datetime
    pause: bool = False


PAUSE_MINUTES = {"break": 10.0, "meeting": 30.0, "lunch": 60.0, "other": 10.0}  # until the hall's own are learnt


PAUSE_PREFIX = "pause:"


def pause_key(reason: str | None) -> str:
    """The `ServiceTimes` key under which pauses for `reason` (server/tickets.py PAUSE_REASONS) are learnt."""
    return PAUSE_PREFIX + (reason or "other")


def configured_minutes(services: Mapping) -> dict[str, float]:
    """What `ServiceTimes` starts from: each matter's configured minutes, and each kind of pause's."""
    out = {pause_key(reason): minutes for reason, minutes in PAUSE_MINUTES.items()}
    out.update({code: s.minutes for code, s in services.items()})
    return out


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


@dataclass(frozen=True)
class Estimate:
    """What a citizen is told about a ticket's wait.

    `minutes` is the point estimate (the replay); `low`–`high` the range printed ("约 5–15 分钟"),
    which holds ~80% of realised waits (`RANGE`, calibrated on simulated halls: see `wait_range`).
    `opens_at`: the windows for the matter are closed now (before opening, at lunch) and the first
    opens then — the minutes count from now, that time included. `on_duty` is False when no window
    for the matter is staffed and none opens later today: nobody can say how long, only that
    nobody is serving it (never "约 0 分钟" with people ahead)."""

    ahead: int
    minutes: float
    low: float
    high: float
    opens_at: datetime | None = None
    on_duty: bool = True

    @property
    def point(self) -> float | None:
        """The point estimate as the API, the event log and the ticket row keep it: None when
        nobody is on duty for the matter (there is no wait to estimate, only people waiting)."""
        return round(self.minutes, 1) if self.on_duty else None


def off_duty(new: Candidate, queue: Iterable[Candidate], mine: list[Window]) -> Estimate:
    """The estimate for a matter nobody is on duty for now: who waits for its windows, no minutes.
    No replay: the ticket reads "暂无窗口办理", and a replay would only time windows that are closed."""
    return Estimate(len(ahead_of(new, queue, mine)), 0.0, 0.0, 0.0, None, False)


# The 80% range around the replay's point estimate m (minutes), with tau the minutes between calls
# at the matter's windows (mean service ÷ windows): the spread of a sum of service times grows with
# the square root of how many are ahead, and what the replay cannot know (绿色通道, appointments and
# scarcer matters arriving later and going first, breaks, no-shows) grows with m, mostly upwards.
# Fitted once over every hall in config/ on seeds 1–6 by bench/fit_range.py (a central range: a
# tenth of waits below, a tenth above) and checked on held-out seeds 7–20 (bench/bench_estimates.py:
# 78–84% inside in every hall); never per hall. m == 0 (a window takes
# the ticket at once: two thirds of tickets in the simulated halls, 99.8% of them called at once)
# gets no range.
RANGE = {"low_share": 0.330, "low_root": 0.066, "high_share": 1.278, "high_root": 1.481, "high_floor": 1.261}


def wait_range(minutes: float, tau: float) -> tuple[float, float]:
    """The (low, high) 80% range for a point estimate `minutes` at a matter with `tau` between calls."""
    if minutes <= 0:
        return 0.0, 0.0
    root = (minutes * max(tau, 0.0)) ** 0.5
    low = max(0.0, RANGE["low_share"] * minutes - RANGE["low_root"] * root)
    high = RANGE["high_share"] * minutes + RANGE["high_root"] * root + RANGE["high_floor"]
    return low, max(high, minutes)


def printed_range(start: float, tau: float, floor: float = 0.0) -> tuple[float, float]:
    """The range printed for a call `start` minutes from now when nobody is called for `floor`
    minutes (the windows open then). Those minutes are known, not uncertain, so only the wait after
    opening is spread (spread over the whole, the first citizen at lunch read "约 150–290 分钟",
    before opening "约 361–713 分钟"). bench/fit_range.py fits `RANGE` through this function."""
    low, high = wait_range(max(0.0, start - floor), tau)
    return low + floor, high + floor


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
    frame: datetime | None = None,
) -> Estimate:
    """The estimate for a ticket `new` that is, or would be, in `queue`.

    Replays the pull allocation with expected service times: each ticket ahead goes to the window
    that can take it first (a busy window when its current service is expected to end), and `new`
    is called when the first of its windows is free after that. `hours` (when given) lets a window
    closed for lunch or before opening count from the next session's start rather than from now.
    """
    return estimate_waits([new], queue, open_windows, all_windows, busy, times, now, rules, hours, options,
                          frame)[0]


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
    frame: datetime | None = None,
) -> list[Estimate]:
    """`estimate_wait` for each of `news` against the same queue (the kiosk menu: one probe per
    matter; the live queue view: every waiting ticket). Probes whose windows are the same share one
    replay: a probe not in the queue joins it as a ghost that takes no time when called, so it
    changes nobody else's turn. `frame` (at most `now`): replay from then, minutes still counted
    from `now` — the issue's estimate replays from the start of the second, so that issues within
    one second can share a kept replay (server/kept_replay.py)."""
    rules = rules or Rules()
    del options  # kept for callers; the replay works out each window's lines itself
    queue = list(queue)
    busy = list(busy)
    reopen = _next_opening(hours, now)
    groups: dict[tuple, tuple[dict[int, Window], list[int]]] = {}
    out: list[Estimate | None] = [None] * len(news)
    context: list[tuple[list[Window], bool]] = [([], True)] * len(news)  # (windows for it, someone on duty)
    for i, new in enumerate(news):
        got = windows_for(new, open_windows, all_windows, reopen)
        if got is None:
            out[i] = Estimate(0, 0.0, 0.0, 0.0, None, False)
            continue
        windows, mine, on_duty = got
        if not on_duty:
            out[i] = off_duty(new, queue, mine)
            continue
        context[i] = (mine, on_duty)
        groups.setdefault(tuple(windows), (windows, []))[1].append(i)
    sorted_queue = sorted(queue, key=lambda c: (c.rank, c.arrived, c.number))
    opened = {w.number for w in open_windows}
    for windows, members in groups.values():
        starts = _replay([news[i] for i in members], queue, windows, open_windows, busy, times, frame or now,
                         rules, reopen)
        for i, start in zip(members, starts, strict=True):
            new = news[i]
            mine, on_duty = context[i]
            ahead = len(ahead_of(new, sorted_queue, mine))
            start = first_call(from_frame(start, frame, now), ahead, mine, busy, times, now, opened, reopen)
            out[i] = estimate_from(new, start, mine, on_duty, ahead, reopen, opened, times, now)
    return [o if o is not None else Estimate(0, 0.0, 0.0, 0.0, None, False) for o in out]


def windows_for(new: Candidate, open_windows: list[Window], all_windows: list[Window],
                reopen: datetime | None) -> tuple[dict[int, Window], list[Window], bool] | None:
    """The windows a replay for `new` runs over, those of them that take its matter, and whether
    anyone is on duty for it; None when no window takes it at all."""
    windows = {w.number: w for w in open_windows}
    mine = [w for w in open_windows if new.service in w.services]
    on_duty = bool(mine) or reopen is not None
    if reopen is not None or not mine:
        # Its other windows are closed now: they count from when they (are assumed to) open.
        for w in all_windows:
            if new.service in w.services and w.number not in windows:
                windows[w.number] = w
        mine = [w for w in windows.values() if new.service in w.services]
        if reopen is not None:
            # So do the windows that share a matter with them: at 14:30 they take their share of
            # the tickets ahead (without them, everything ahead fell to the new ticket's windows).
            served = {s for w in mine for s in w.services}
            for w in all_windows:
                if w.number not in windows and not served.isdisjoint(w.services):
                    windows[w.number] = w
    if not mine:
        return None
    return windows, mine, on_duty


def from_frame(start: float, frame: datetime | None, now: datetime) -> float:
    """A replay's minutes from `frame` as minutes from `now` (never below 0)."""
    if frame is None:
        return start
    return max(0.0, start - (now - frame).total_seconds() / 60.0)


def estimate_from(new: Candidate, start: float, mine: list[Window], on_duty: bool, ahead: int,
                  reopen: datetime | None, opened: set[int], times: ServiceTimes, now: datetime) -> Estimate:
    """The Estimate for `new` called `start` minutes from now: the range and the opening floor."""
    opens_at = reopen if reopen is not None and not any(w.number in opened for w in mine) else None
    floor = max(0.0, (opens_at - now).total_seconds() / 60.0) if opens_at is not None else 0.0
    low, high = printed_range(start, times.mean(new.service) / len(mine), floor)
    return Estimate(ahead, start, low, high, opens_at, on_duty)


class _Lines:
    """The waiting tickets of a replay by line (matter, or the window a ticket is bound to), each in
    the orders allocation can prefer within a line: 绿色通道 by arrival, the others by rank then
    arrival, and the others by arrival alone (the longest waiting, for aging). The best ticket of a
    window is among the heads of its lines, so a replay step looks at a few tickets, not the queue."""

    def __init__(self, tickets: list[Candidate]) -> None:
        by: dict[object, list[Candidate]] = defaultdict(list)
        for c in tickets:
            by[("to", c.target_window) if c.target_window is not None else c.service].append(c)
        self.orders: dict[object, list[list[Candidate]]] = {}
        self.pos: dict[tuple[object, int], int] = {}
        for line, cs in by.items():
            green = sorted((c for c in cs if c.rank <= 0), key=lambda c: (c.arrived, c.number))
            rest = [c for c in cs if c.rank > 0]
            self.orders[line] = [green, sorted(rest, key=lambda c: (c.rank, c.arrived, c.number)),
                                 sorted(rest, key=lambda c: (c.arrived, c.number))]
        self.gone: set[int] = set()

    def heads(self, line: object) -> list[Candidate]:
        out = []
        for k, lst in enumerate(self.orders.get(line, ())):
            i = self.pos.get((line, k), 0)
            while i < len(lst) and id(lst[i]) in self.gone:
                i += 1
            self.pos[(line, k)] = i
            if i < len(lst):
                out.append(lst[i])
        return out

    def take(self, c: Candidate) -> None:
        self.gone.add(id(c))


class _Picker:
    """`allocation.pick` over the heads of a window's lines, for a window that is not protected,
    without looking at every line on every step.

    For such a window a ticket's sort key depends on the time through its tier (绿色通道, aged past
    `starvation_minutes`, the rest) and, in the rest, through the cμ index (wait ÷ minutes); within
    a line the window's scarcity, head start and minutes are the same for every ticket, so among
    lines of equal minutes the order is fixed. So each window keeps, per order (and for the rest per
    matter minutes), a heap of its lines keyed by their current head; a line whose head was taken
    (by any window) is refreshed when it reaches the top, and its key only grows; the rest's heaps'
    tops are compared by their index at the replay time. The answer is the one `allocation.pick`
    gives over the same heads (tests/test_estimate.py checks it on random halls)."""

    def __init__(self, lines: _Lines, windows: dict[int, Window], staffed: list[Window], now: datetime,
                 rules: Rules) -> None:
        self.gone = lines.gone
        self.windows = windows
        self.starve = rules.starvation_minutes
        self.penalty = rules.secondary_penalty_minutes
        self.counts = allocation.scarcity(staffed) or {}
        tickets = [c for orders in lines.orders.values() for c in orders[0] + orders[1]]
        # Per ticket: arrival in minutes from now, and its place in (arrived, number, id) order,
        # which ends every sort key (so keys never tie and compare in a few steps).
        self.minute = {id(c): (c.arrived - now).total_seconds() / 60.0 for c in tickets}
        self.rank = {id(c): i for i, c in enumerate(sorted(tickets, key=lambda c: (c.arrived, c.number, c.id)))}
        # Per line and order: [tickets, position of the first not taken].
        self.cursors = {line: [[lst, 0] for lst in orders] for line, orders in lines.orders.items()}
        # (window, order) -> {minutes: [(key, id(head), cursor, scarce, hs)]}; minutes 1.0 except in order 1
        self.heaps: dict[tuple[int, int], dict[float, list]] = {}
        greens = sorted((c for orders in lines.orders.values() for c in orders[0]), key=lambda c: self.minute[id(c)])
        rest = sorted((c for orders in lines.orders.values() for c in orders[2]), key=lambda c: self.rank[id(c)])
        self._green, self._oldest = [greens, 0], [rest, 0]  # whether orders 0 and 2 can matter now
        # The earliest replay time at which any ticket can be aged (the oldest only gets younger).
        self._ages_from = (self.minute[id(rest[0])] + self.starve) if rest else float("inf")

    def _key(self, c: Candidate, k: int, scarce: int, hs: float) -> tuple:
        # allocation.sort_key's order at one time: -(waited - head start) is a + hs - t.
        a = self.minute[id(c)]
        if k == 2:  # aged: the longest waiting first
            return (a, scarce, a + hs, self.rank[id(c)])
        return (c.rank, scarce, a + hs, self.rank[id(c)])

    def _first(self, cursor: list) -> Candidate | None:
        lst, i = cursor
        gone = self.gone
        n = len(lst)
        while i < n and id(lst[i]) in gone:
            i += 1
        cursor[1] = i
        return lst[i] if i < n else None

    def _heap(self, n: int, k: int) -> dict[float, list]:
        heaps = self.heaps.get((n, k))
        if heaps is None:
            heaps = {}
            w = self.windows[n]
            lines = [(line, self.counts.get(line, 0), 0.0 if weight == "primary" else self.penalty)
                     for line, weight in w.services.items()]
            lines.append((("to", n), 0, 0.0))  # bound to this window: no head start, not scarce
            for line, scarce, hs in lines:
                orders = self.cursors.get(line)
                if orders is not None:
                    c = self._first(orders[k])
                    if c is not None:
                        m = c.minutes if k == 1 and c.target_window is None else 1.0
                        heaps.setdefault(m, []).append((self._key(c, k, scarce, hs), id(c), orders[k], scarce, hs))
            for heap in heaps.values():
                heapq.heapify(heap)
            self.heaps[(n, k)] = heaps
        return heaps

    def _top_of(self, heap: list, k: int) -> tuple | None:
        gone = self.gone
        while heap:
            top = heap[0]
            _, cid, cursor, scarce, hs = top
            lst, i = cursor
            end = len(lst)
            while i < end and id(lst[i]) in gone:
                i += 1
            cursor[1] = i
            if i == end:
                heapq.heappop(heap)
                continue
            c = lst[i]
            if id(c) == cid:
                return top
            heapq.heapreplace(heap, (self._key(c, k, scarce, hs), id(c), cursor, scarce, hs))
        return None

    def _top(self, n: int, k: int, t: float = 0.0) -> Candidate | None:
        heaps = self.heaps.get((n, k)) or self._heap(n, k)
        best, best_key = None, None
        for m, heap in heaps.items():
            top = self._top_of(heap, k)
            if top is None:
                continue
            key, _, cursor, _, _ = top
            if k == 1:  # allocation.sort_key's cμ index at t: -(waited - hs) / m is (a + hs - t) / m
                key = (key[0], key[1], (key[2] - t) / m, key[3])
            if best_key is None or key < best_key:
                best, best_key = cursor[0][cursor[1]], key
        return best

    def pick(self, n: int, t: float) -> Candidate | None:
        """The ticket window `n` takes at `t` minutes from now, or None. `aged` says afterwards
        whether it was taken as aged (then no younger ticket could have been taken instead)."""
        self.aged = False
        if self._green[0] and self._first(self._green) is not None:
            c = self._top(n, 0)
            if c is not None:
                return c
        if t < self._ages_from:  # nobody can have waited long enough to be aged yet
            return self._top(n, 1, t)
        oldest = self._first(self._oldest)
        if oldest is not None and t - self.minute[id(oldest)] >= self.starve:
            c = self._top(n, 2)
            if c is not None and t - self.minute[id(c)] >= self.starve:
                self.aged = True
                return c
        return self._top(n, 1, t)


class _Run:
    """One replay in progress: the windows' next free times and the lines still waiting. `pop`
    takes the next step (the window free soonest and the ticket it would take), `settle` applies
    it. `_replay` runs it to the end; server/kept_replay.py keeps one between issues."""

    def __init__(self, tickets: list[Candidate], windows: dict[int, Window], open_windows: list[Window],
                 busy: list[Busy], times: ServiceTimes, now: datetime, rules: Rules, reopen: datetime | None,
                 fast_pick: bool = True) -> None:
        closed_until = max(0.0, (reopen - now).total_seconds() / 60.0) if reopen is not None else 0.0
        opened = {w.number for w in open_windows}
        free = {n: (0.0 if n in opened else closed_until) for n in windows}
        for b in busy:
            if b.window in free:
                elapsed = (now - b.since).total_seconds() / 60.0
                rest = expected_rest(times, b.service, elapsed)
                # A paused clerk is back at the earliest when the hall reopens, too.
                free[b.window] = max(free[b.window], rest, closed_until if b.pause else 0.0)
        self.free = free
        self.windows, self.times, self.now, self.rules = windows, times, now, rules
        self.lines = _Lines(tickets)
        # Scarcity as the allocation counts it: over the windows open now until the closed ones
        # open (at lunch a matter only the lunch windows take is scarce; the windows that reopen
        # at 14:30 do not make it common before then), over all of them from then on.
        open_now = [w for n, w in windows.items() if n in opened]
        self.switch_at = closed_until if 0 < len(open_now) < len(windows) and closed_until > 0 else None
        self.staffed = open_now if self.switch_at is not None else list(windows.values())
        self.line_keys = {n: [*w.services, ("to", n)] for n, w in windows.items()}
        self.fast_pick = fast_pick
        self.fast = _Picker(self.lines, windows, self.staffed, now, rules) if fast_pick else None
        self.means: dict[str, float] = {}
        self.heap = [(t, n) for n, t in free.items()]
        heapq.heapify(self.heap)
        self.protected = {n for n, w in windows.items() if allocation.protected(w)}

    def mean(self, service: str) -> float:
        mean = self.means.get(service)
        if mean is None:
            mean = self.means[service] = self.times.mean(service)
        return mean

    def pop(self) -> tuple[float, int, Candidate | None, object]:
        """The next step: (time, window, the ticket it takes or None, a note: for a fast pick whether
        it was taken as aged, else the candidates it was picked from)."""
        t, n = heapq.heappop(self.heap)
        if self.switch_at is not None and t >= self.switch_at:
            self.switch_at = None  # the closed windows are open now: every window counts
            self.staffed = list(self.windows.values())
            if self.fast_pick:
                self.fast = _Picker(self.lines, self.windows, self.staffed, self.now, self.rules)
        fast = self.fast
        if fast is not None and n not in self.protected:
            c = fast.pick(n, t)
            return t, n, c, fast.aged
        at = self.now + timedelta(minutes=t)
        lines = self.lines
        cands = [c for line in self.line_keys[n] for c in lines.heads(line)]
        c = allocation.pick(self.windows[n], cands, at, self.rules, self.staffed) if cands else None
        return t, n, c, cands

    def settle(self, t: float, n: int, c: Candidate | None, note: object, ghost: bool = False) -> None:
        if c is None:
            if note and self.rules.backup_after_minutes > 0 and allocation.protected(self.windows[n]):
                heapq.heappush(self.heap, (t + 1.0, n))  # may help once someone has waited long enough
            return
        self.lines.take(c)
        heapq.heappush(self.heap, (t if ghost else t + self.mean(c.service), n))


def _replay(targets: list[Candidate], queue: list[Candidate], windows: dict[int, Window],
            open_windows: list[Window], busy: list[Busy], times: ServiceTimes, now: datetime, rules: Rules,
            reopen: datetime | None, fast_pick: bool = True) -> list[float]:
    """Minutes from now until each of `targets` is called, replaying the allocation the engine runs
    (`allocation.pick`'s order, over the windows that will be staffed) on expected service times:
    the window free soonest takes its best ticket, and so on until every target is called."""
    by_id = {c.id: c for c in queue}
    want: dict[int, list[int]] = defaultdict(list)  # id() of the ticket in the replay -> targets
    extra = []
    for k, c in enumerate(targets):
        real = by_id.get(c.id)  # the same ticket as a waiting one (maybe another Candidate object)
        if real is None:
            extra.append(c)
            real = c
        want[id(real)].append(k)
    ghosts = {id(c) for c in extra}
    run = _Run(queue + extra, windows, open_windows, busy, times, now, rules, reopen, fast_pick)
    starts: list[float | None] = [None] * len(targets)
    left = len(want)
    heap = run.heap
    while heap and left:
        t, n, c, note = run.pop()
        run.settle(t, n, c, note, c is not None and id(c) in ghosts)
        if c is not None:
            ks = want.get(id(c))
            if ks:
                for k in ks:
                    starts[k] = t
                left -= 1
    return [s if s is not None else max(run.free.values(), default=0.0) for s in starts]


def _next_opening(hours: Hours | None, now: datetime) -> datetime | None:
    """The start of the next session today when `now` is before opening or between sessions: the
    day's own sessions (a 延时服务 or 错时服务 day has its own), as `serving_now` reads them."""
    sessions = day_sessions(hours, now.date()) if hours is not None else ()
    if not sessions:
        return None
    t = now.time()
    if any(s.start <= t < s.end for s in sessions):
        return None
    upcoming = [s.start for s in sessions if s.start > t]
    return datetime.combine(now.date(), upcoming[0], now.tzinfo) if upcoming else None


def serving_now(staffed: list[Window], hours: Hours | None, now: datetime,
                arrived: datetime | None = None) -> list[Window]:
    """The staffed windows that take a ticket that arrived at `arrived` (default: now). At lunch
    (between two of the day's sessions) a ticket issued since the morning session ended is taken by
    the lunch windows (午间服务) only: the others finish the citizens who had their tickets before
    the break (延时服务) and go to lunch, so for its replay they open with the next session, like a
    window nobody is signed in at. A ticket from before the break keeps every staffed window.
    Before the day's opening a clerk already signed in serves nobody yet: that window, too, opens
    with the first session (a free one read "即将叫号" at 8:15)."""
    if hours is None:
        return staffed
    sessions, t = day_sessions(hours, now.date()), now.time()  # the day's own (a 延时服务 day has its own)
    if sessions and t < sessions[0].start:
        return []
    ended = [s.end for s in sessions if s.end <= t]
    if not ended or any(s.start <= t < s.end for s in sessions) or not any(s.start > t for s in sessions):
        return staffed  # in a session, before opening or after closing: not a lunch break
    if arrived is not None and arrived < datetime.combine(now.date(), max(ended), now.tzinfo):
        return staffed
    lunch = set(hours.lunch_windows)
    return [w for w in staffed if w.number in lunch]


def naive_estimate(ahead: int, mean_minutes: float, open_windows: int) -> float:
    """The textbook estimate (people ahead × mean service time ÷ open windows), for comparison."""
    return ahead * mean_minutes / max(open_windows, 1)
