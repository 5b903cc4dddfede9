"""Which waiting citizen a free window takes next (pull allocation).

Pure functions over plain values, so the server and the hall simulator run the very same policy.
A ticket is never bound to a window at issue; when a window asks, it gets the best eligible ticket:

1. its own lines first (matters it holds as primary or secondary, and tickets transferred to it);
   a matter it holds as backup only when none of its own waits (跨窗通办), and only once that
   ticket has waited `backup_after_minutes` — or at once when its line is long (more than
   `help_queue_length` waiting);
2. within that, 绿色通道 (rank 0) first;
3. then anyone who has waited `starvation_minutes` or more, longest first (aging: nobody starves);
4. then appointments inside their slot (rank 1) before walk-ins (rank 2);
5. then by wait, where secondary matters get a `secondary_penalty_minutes` head start for the
   window's primary ones.

Rules 1–2 come from the hall simulator (bench/bench_allocation.py): with backup work ranked by wait
alone, the 办不成事 window (backup for every matter) spent afternoons on other lines' old tickets
while its own citizens waited two hours; with aging above every class, the lunch backlog went
ahead of 绿色通道. Ties go to the earlier arrival, then the lower number: the order is total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hallq.model import Rules, Window

NORMAL_RANK = 2


@dataclass(frozen=True)
class Candidate:
    """What allocation needs to know of a waiting ticket."""

    id: str
    service: str
    rank: int  # effective priority class rank now (lower first)
    arrived: datetime  # original arrival: kept across transfers and bundle steps
    number: int = 0
    target_window: int | None = None  # bound by a transfer or a 办不成 hand-off


def eligible_weight(window: Window, c: Candidate) -> str | None:
    """The window's weight for this ticket, or None when it may not take it."""
    if c.target_window is not None:
        if c.target_window != window.number:
            return None
        return window.services.get(c.service, "primary")
    return window.services.get(c.service)


def long_lines(candidates: Iterable[Candidate], rules: Rules) -> frozenset[str]:
    """Matters with more than `help_queue_length` tickets waiting: every backup window helps at once."""
    counts: dict[str, int] = {}
    for c in candidates:
        if c.target_window is None:
            counts[c.service] = counts.get(c.service, 0) + 1
    return frozenset(s for s, n in counts.items() if n > rules.help_queue_length)


def sort_key(window: Window, c: Candidate, now: datetime, rules: Rules,
             long: frozenset[str] = frozenset()) -> tuple | None:
    """Smaller is better; None when the window may not take the ticket now. `long`: long_lines()."""
    weight = eligible_weight(window, c)
    if weight is None:
        return None
    waited = (now - c.arrived).total_seconds() / 60.0
    helping = weight == "backup" and c.target_window is None
    if helping and waited < rules.backup_after_minutes and c.service not in long:
        return None
    green = c.rank <= 0
    aged = not green and waited >= rules.starvation_minutes
    head_start = rules.secondary_penalty_minutes if weight == "secondary" else 0.0
    tier = 0 if green else (1 if aged else 2)
    return (1 if helping else 0, tier, -waited if aged else c.rank, -(waited - head_start), c.arrived,
            c.number, c.id)


def pick(window: Window, candidates: Iterable[Candidate], now: datetime, rules: Rules) -> Candidate | None:
    """The ticket `window` should call next, or None when nobody eligible waits."""
    candidates = list(candidates)
    long = long_lines(candidates, rules)
    best, best_key = None, None
    for c in candidates:
        key = sort_key(window, c, now, rules, long)
        if key is not None and (best_key is None or key < best_key):
            best, best_key = c, key
    return best


def order(window: Window, candidates: Iterable[Candidate], now: datetime, rules: Rules) -> list[Candidate]:
    """Every ticket `window` may take now, in the order it would call them (its waiting list)."""
    candidates = list(candidates)
    long = long_lines(candidates, rules)
    keyed = [(k, c) for c in candidates if (k := sort_key(window, c, now, rules, long)) is not None]
    return [c for _, c in sorted(keyed, key=lambda kc: kc[0])]


def effective_rank(priority_rank: int, slot_start: datetime | None, now: datetime) -> int:
    """Appointments rank as appointments only from their slot's start; before it, as walk-ins."""
    if slot_start is not None and now < slot_start:
        return NORMAL_RANK
    return priority_rank
