"""Which waiting citizen a free window takes next (pull allocation).

Pure functions over plain values, so the server and the hall simulator run the very same policy.
A ticket is never bound to a window at issue; when a window asks, it gets the best eligible ticket:

1. anyone who has waited `starvation_minutes` or more goes first (aging: nobody starves);
2. then by priority class rank (绿色通道 0, appointments inside their slot 1, walk-ins 2);
3. then by wait, where a window's weight for the service gives a head start: its primary matters
   as they are, secondary ones `secondary_penalty_minutes` later; backup matters are taken only
   once they have waited `backup_after_minutes` (跨窗通办: help when a line is long, not before).

Ties go to the earlier arrival, then the lower ticket number, so the order is total and repeatable.
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


def sort_key(window: Window, c: Candidate, now: datetime, rules: Rules) -> tuple | None:
    """Smaller is better; None when the window may not take the ticket now."""
    weight = eligible_weight(window, c)
    if weight is None:
        return None
    waited = (now - c.arrived).total_seconds() / 60.0
    if weight == "backup" and c.target_window is None and waited < rules.backup_after_minutes:
        return None
    aged = waited >= rules.starvation_minutes
    head_start = rules.secondary_penalty_minutes if weight == "secondary" else 0.0
    if weight == "backup":
        head_start = rules.backup_after_minutes
    return (0 if aged else 1, -waited if aged else c.rank, -(waited - head_start), c.arrived, c.number, c.id)


def pick(window: Window, candidates: Iterable[Candidate], now: datetime, rules: Rules) -> Candidate | None:
    """The ticket `window` should call next, or None when nobody eligible waits."""
    best, best_key = None, None
    for c in candidates:
        key = sort_key(window, c, now, rules)
        if key is not None and (best_key is None or key < best_key):
            best, best_key = c, key
    return best


def effective_rank(priority_rank: int, slot_start: datetime | None, now: datetime) -> int:
    """Appointments rank as appointments only from their slot's start; before it, as walk-ins."""
    if slot_start is not None and now < slot_start:
        return NORMAL_RANK
    return priority_rank
