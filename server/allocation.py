"""Which waiting citizen a free window takes next (pull allocation).

Pure functions over plain values, so the server and the hall simulator run the very same policy.
A ticket is never bound to a window at issue; when a window asks, it gets the best ticket it may
take (any matter it holds, primary, secondary or backup, and tickets transferred to it):

1. 绿色通道 (rank 0) first;
2. then anyone who has waited `starvation_minutes` or more, longest first (aging: nobody starves);
3. then appointments inside their slot (rank 1) before walk-ins (rank 2);
4. then scarce tickets first: those that the fewest staffed windows can take (a ticket two windows
   serve goes before one twenty windows serve, while one of its two is free to take it);
5. then by the generalised cμ index: wait ÷ the matter's configured minutes (a quick matter that
   has waited as long goes first), where secondary and backup matters get a
   `secondary_penalty_minutes` head start for the window's primary ones. Within one matter this
   is plain first come, first served; 绿色通道, aged tickets and tickets bound to one window keep
   the plain wait order.

Protected windows — the 办不成事反映 window (kind "complaint") and the 帮办代办 desk ("help") — stay
free for their own citizens: they take their own lines (primary matters, tickets handed to them)
before anything else, and another line's ticket only once it has waited `backup_after_minutes`.
No other window waits to help: a backup matter is taken at once, like any other.

Why (bench/bench_allocation.py, issue #12): the earlier rule "own lines before backup work, backup
only after backup_after_minutes" left helper windows idle while thin lines waited, put 绿色通道
behind that delay, and took scarce tickets no earlier than common ones; it lost to a plain pooled
FCFS queue by up to 43% on halls it was not tuned for. Scarcity-first with the protection above
came within 0.1–0.2 min of the best baseline, mostly the generalised cμ rule; ordering by the cμ
index inside the scarcity classes meets "mean ≤ best" on 11 of 16 hall × seed-window cases against
5 of 16 with plain wait (docs/benchmarks.md). Ties go to the earlier arrival, then the lower
number: the order is total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hallq.model import Rules, Window

NORMAL_RANK = 2
PROTECTED_KINDS = frozenset({"complaint", "help"})  # 办不成事反映窗口, 帮办代办


@dataclass(frozen=True)
class Candidate:
    """What allocation needs to know of a waiting ticket."""

    id: str
    service: str
    rank: int  # effective priority class rank now (lower first)
    arrived: datetime  # original arrival: kept across transfers and bundle steps
    number: int = 0
    target_window: int | None = None  # bound by a transfer or a 办不成 hand-off
    minutes: float = 1.0  # the matter's configured minutes (Service.minutes): the cμ index's 1/μ


def eligible_weight(window: Window, c: Candidate) -> str | None:
    """The window's weight for this ticket, or None when it may not take it."""
    if c.target_window is not None:
        if c.target_window != window.number:
            return None
        return window.services.get(c.service, "primary")
    return window.services.get(c.service)


def protected(window: Window) -> bool:
    """Whether the window keeps itself for its own citizens (办不成事反映, 帮办代办)."""
    return window.kind in PROTECTED_KINDS


def scarcity(staffed: Iterable[Window] | None) -> dict[str, int] | None:
    """Per matter, how many of the staffed windows may take it; None when not known (all equal)."""
    if staffed is None:
        return None
    staffed = list(staffed)
    key = tuple(id(w) for w in staffed)  # config windows live as long as their hall: ids are stable
    got = _SCARCITY.get(key)
    if got is None:
        if len(_SCARCITY) > 4096:  # staffing patterns come and go: keep it bounded
            _SCARCITY.clear()
            _SCARCITY_KEEP.clear()
        got = _SCARCITY[key] = {}
        for w in staffed:
            for s in w.services:
                got[s] = got.get(s, 0) + 1
        _SCARCITY_KEEP[key] = staffed  # keeps the windows (and so their ids) alive with the entry
    return got


_SCARCITY: dict[tuple, dict[str, int]] = {}
_SCARCITY_KEEP: dict[tuple, list[Window]] = {}


def sort_key(window: Window, c: Candidate, now: datetime, rules: Rules,
             counts: dict[str, int] | None = None, own_waiting: bool = False) -> tuple | None:
    """Smaller is better; None when the window may not take the ticket now. `counts`: scarcity();
    `own_waiting`: for a protected window, whether any of its own citizens waits."""
    weight = eligible_weight(window, c)
    if weight is None:
        return None
    waited = (now - c.arrived).total_seconds() / 60.0
    helping = 0
    if protected(window) and weight != "primary" and c.target_window is None:
        if own_waiting or waited < rules.backup_after_minutes:
            return None
        helping = 1
    green = c.rank <= 0
    aged = not green and waited >= rules.starvation_minutes
    head_start = rules.secondary_penalty_minutes if weight != "primary" and c.target_window is None else 0.0
    tier = 0 if green else (1 if aged else 2)
    scarce = 0 if c.target_window is not None or counts is None else counts.get(c.service, 0)
    index = waited - head_start
    if tier == 2 and c.target_window is None:
        index /= c.minutes
    return (helping, tier, -waited if aged else c.rank, scarce, -index, c.arrived, c.number, c.id)


def own_waiting(window: Window, candidates: list[Candidate]) -> bool:
    """For a protected window: whether any of its own citizens waits (else False)."""
    return protected(window) and any(
        (c.target_window == window.number) if c.target_window is not None
        else window.services.get(c.service) == "primary" for c in candidates)


def pick(window: Window, candidates: Iterable[Candidate], now: datetime, rules: Rules,
         staffed: Iterable[Window] | None = None) -> Candidate | None:
    """The ticket `window` should call next, or None when nobody eligible waits. `staffed`: the
    windows staffed now (for scarcity); without it every matter counts as equally scarce."""
    candidates = list(candidates)
    counts = scarcity(staffed)
    own = own_waiting(window, candidates)
    best, best_key = None, None
    for c in candidates:
        key = sort_key(window, c, now, rules, counts, own)
        if key is not None and (best_key is None or key < best_key):
            best, best_key = c, key
    return best


def order(window: Window, candidates: Iterable[Candidate], now: datetime, rules: Rules,
          staffed: Iterable[Window] | None = None) -> list[Candidate]:
    """Every ticket `window` may take now, in the order it would call them (its waiting list)."""
    candidates = list(candidates)
    counts = scarcity(staffed)
    own = own_waiting(window, candidates)
    keyed = [(k, c) for c in candidates if (k := sort_key(window, c, now, rules, counts, own)) is not None]
    return [c for _, c in sorted(keyed, key=lambda kc: kc[0])]


def effective_rank(priority_rank: int, slot_start: datetime | None, now: datetime) -> int:
    """Appointments rank as appointments only from their slot's start; before it, as walk-ins."""
    if slot_start is not None and now < slot_start:
        return NORMAL_RANK
    return priority_rank
