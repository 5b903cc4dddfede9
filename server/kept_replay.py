"""The issue's wait estimate from a replay kept between issues (issue #11).

A full replay (server/estimate.py `_replay`) at 300 waiting costs ~1.4 ms of CPU, once per issue. A
new walk-in ticket x (normal rank, not bound to a window, arriving after everyone waiting) changes
no step of the replay before the step at which x itself is taken: at each earlier step the window's
pick beat x's key, or an older ticket of x's own line was still waiting (it beats x at every window).
So the engine keeps the replay of its queue as it goes (`_Run`, advanced only as far as an estimate
needs) with the record of its steps, places x by comparing keys at the recorded steps after x's line
ran out, and then either cuts the record at x's step (the steps after it change) or, past the
record's end, advances the live replay until a window takes x. Either way the kept replay becomes
the replay of the queue with x in it, and the next issue goes on from there.

The result is exactly the full replay's (tests/test_kept_replay.py compares them on random action
sequences in every hall). The engine drops the kept replay on anything else that changes its state
(any other commit, a configuration, the second turning: the replay runs from the start of the
second), and falls back to the full replay whenever a ticket is not such a walk-in, when protected
windows may wait to help (`backup_after_minutes` > 0: their retries are not recorded), when the
replay's scarcity changes as closed windows open (at lunch, `_Run.switch_at`), or when an
appointment's slot starts (its rank changes).
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter
from datetime import datetime, timedelta

from hallq.model import Rules, Window

from . import allocation
from .allocation import NORMAL_RANK, Candidate
from .estimate import Busy, ServiceTimes, _Run


def line_of(c: Candidate) -> object:
    return ("to", c.target_window) if c.target_window is not None else c.service


class KeptReplay:
    """The replay of one queue at one frame over one set of windows, kept while the engine issues."""

    def __init__(self, queue: list[Candidate], windows: dict[int, Window], open_windows: list[Window],
                 busy: list[Busy], times: ServiceTimes, frame: datetime, rules: Rules, reopen: datetime | None,
                 valid_until: datetime | None) -> None:
        self.run = _Run(queue, windows, open_windows, busy, times, frame, rules, reopen)
        self.windows, self.frame, self.rules, self.reopen = windows, frame, rules, reopen
        self.key = (frame, tuple(windows), reopen)
        self.valid_until = valid_until  # the first appointment slot to start (ranks change then)
        self.steps: list[tuple[float, int, Candidate | None, object]] = []
        self.waiting = Counter(line_of(c) for c in queue)  # per line: waiting (for "people ahead")
        self.left = Counter(self.waiting)  # per line: not yet taken by the replay
        self.done_at: dict[object, int] = {}  # per line: the step that took its last ticket
        self.injected: set[int] = set()  # id() of the placed tickets, which are not in the run's lines
        self.newest = max((c.arrived for c in queue), default=None)
        self.usable = all(c.rank <= NORMAL_RANK for c in queue) and not (
            rules.backup_after_minutes > 0 and self.run.protected) and self.run.switch_at is None
        fast = self.run.fast
        self.counts = fast.counts
        self.starve, self.penalty = rules.starvation_minutes, rules.secondary_penalty_minutes
        self._next_rank = len(fast.rank)

    def fits(self, x: Candidate, windows: dict[int, Window], reopen: datetime | None, frame: datetime,
             now: datetime) -> bool:
        """Whether `place` answers for x exactly: a plain walk-in, newest of all, same replay."""
        return (self.usable and x.rank == NORMAL_RANK and x.target_window is None and self.key[0] == frame
                and self.key[2] == reopen and tuple(windows) == self.key[1]
                and (self.newest is None or x.arrived > self.newest)
                and (self.valid_until is None or now < self.valid_until))

    def fits_aside(self, x: Candidate, reopen: datetime | None, frame: datetime, now: datetime) -> bool:
        """Whether x is a plain walk-in that no window of this replay serves (its own estimate runs
        over other windows, e.g. closed ones that take a matter no open window does). Such an x
        changes no step of this replay: no window here has its line, so `set_aside` keeps it."""
        return (self.usable and x.rank == NORMAL_RANK and x.target_window is None and self.key[0] == frame
                and self.key[2] == reopen and (self.newest is None or x.arrived > self.newest)
                and (self.valid_until is None or now < self.valid_until)
                and not any(x.service in w.services for w in self.windows.values()))

    def set_aside(self, x: Candidate) -> None:
        """x (see `fits_aside`) now waits in the queue this replay is of, and no window here takes it."""
        self.waiting[x.service] += 1
        self.newest = x.arrived

    def ahead(self, mine: list[Window]) -> int:
        """Waiting tickets sharing a window with a new walk-in: all of them come before it."""
        numbers = {w.number for w in mine}
        served = {s for w in mine for s in w.services}
        return sum(k for line, k in self.waiting.items()
                   if (line[1] in numbers if isinstance(line, tuple) else line in served))

    # -- the replay -----------------------------------------------------------------------------

    def _record(self, t: float, n: int, c: Candidate | None, note: object) -> None:
        self.steps.append((t, n, c, note))
        if c is not None:
            line = line_of(c)
            if id(c) not in self.injected:
                self.left[line] -= 1
            if self.left[line] == 0:
                self.done_at[line] = len(self.steps) - 1

    def _advance(self) -> tuple[float, int, Candidate | None, object] | None:
        if not self.run.heap:
            return None
        return self.run.pop()

    def place(self, x: Candidate) -> float | None:
        """Minutes from the frame until x is called; x then waits in the kept replay. None: not
        placed (nothing changed), the caller replays in full."""
        line = x.service
        run = self.run
        fast = run.fast  # x's arrival and place in arrival order, as _Picker keeps them (x is newest)
        fast.minute[id(x)] = (x.arrived - self.frame).total_seconds() / 60.0
        fast.rank[id(x)] = self._next_rank
        self._next_rank += 1
        while self.left[line] > 0:  # an older ticket of x's line is still waiting in the replay
            step = self._advance()
            if step is None:
                return None
            run.settle(*step)
            self._record(*step)
        i = self.done_at[line] + 1 if line in self.done_at else 0
        serve = {n for n, w in self.windows.items() if line in w.services}
        steps = self.steps
        while True:
            if i < len(steps):
                t, n, c, note = steps[i]
                if n in serve and self._wins(x, t, n, c, note):
                    self._cut(i)
                    heapq.heappop(run.heap)  # step i itself: window n, free at t, takes x
                    self._take(x, t, n, c, note)
                    return t
                i += 1
                continue
            step = self._advance()
            if step is None:
                return None
            t, n, c, note = step
            if n in serve and self._wins(x, t, n, c, note):
                self._take(x, t, n, c, note)
                return t
            run.settle(*step)
            self._record(*step)
            i += 1

    def _wins(self, x: Candidate, t: float, n: int, c: Candidate | None, note: object) -> bool:
        """Whether window n, at this step, takes x rather than c (its pick without x)."""
        w = self.windows[n]
        if n in self.run.protected:  # allocation.pick over the candidates (note) and x
            own = allocation.own_waiting(w, note)
            own_x = own or w.services[x.service] == "primary"
            if own_x != own:
                return True  # x is the window's own citizen and none other waits: x
            at = self.frame + timedelta(minutes=t)
            kx = allocation.sort_key(w, x, at, self.rules, self.counts, own_x)
            if kx is None:
                return False
            if c is None:
                return True
            kc = allocation.sort_key(w, c, at, self.rules, self.counts, own_x)
            return kc is None or kx < kc
        if c is None:
            return True  # nothing else the window may take
        if c.rank <= 0 or note:  # 绿色通道, or taken as aged: x is younger than it
            return False
        return self._key(x, w, t) < self._key(c, w, t)

    def _key(self, c: Candidate, w: Window, t: float) -> tuple:
        """allocation.sort_key's order (not aged) at window w, t minutes into the replay, as
        _Picker computes it (the cμ index (a + hs - t) ÷ minutes)."""
        fast = self.run.fast
        if c.target_window is not None:
            scarce, hs, m = 0, 0.0, 1.0
        else:
            scarce = self.counts.get(c.service, 0)
            hs = 0.0 if w.services[c.service] == "primary" else self.penalty
            m = c.minutes
        index = fast.minute[id(c)] + hs - t
        return (c.rank, scarce, index if c.rank <= 0 else index / m, fast.rank[id(c)])

    def _take(self, x: Candidate, t: float, n: int, c: Candidate | None, note: object) -> None:
        """Window n takes x at this step instead of c: x joins the kept replay as taken."""
        fast = self.run.fast
        self.injected.add(id(x))
        self.waiting[x.service] += 1
        self.newest = x.arrived
        if n in self.run.protected:
            note = [*note, x]
        else:
            note = t - fast.minute[id(x)] >= self.starve if c is None else False
        heapq.heappush(self.run.heap, (t + self.run.mean(x.service), n))
        self._record(t, n, x, note)

    def _cut(self, i: int) -> None:
        """Forget the steps from i on and set the live replay back to just before step i. Only
        what those steps touched goes back: the lines whose tickets they took (those tickets wait
        again) and the heaps of the windows that serve those lines; the rest of the replay's state
        is as it was before step i already."""
        run = self.run
        lines, fast = run.lines, run.fast
        dropped = self.steps[i:]
        del self.steps[i:]
        touched: set[object] = set()
        placed = []
        for _, _, c, _ in dropped:
            if c is None:
                continue
            line = line_of(c)
            touched.add(line)
            self.left[line] += 1  # waiting again (a placed one joins the run's lines below)
            if id(c) in self.injected:
                self.injected.discard(id(c))
                placed.append(c)
            else:
                lines.gone.discard(id(c))
        # Placed tickets no longer taken wait in the lines from now on, in arrival order: steps are
        # not (a scarcer one placed later can be taken earlier), and the oldest-first list the
        # aging check reads must stay sorted.
        placed.sort(key=lambda x: fast.rank[id(x)])
        for x in placed:
            self._add_to_lines(x)
        windows = set()
        for line in touched:
            self.done_at.pop(line, None)  # a ticket of it waits again
            for cursor in fast.cursors.get(line, ()):
                cursor[1] = 0
            if isinstance(line, tuple):
                windows.add(line[1])
            else:
                windows.update(n for n, w in self.windows.items() if line in w.services)
        for n in windows:  # rebuilt from the cursors when next needed
            for k in range(3):
                fast.heaps.pop((n, k), None)
        lines.pos.clear()
        fast._green[1] = fast._oldest[1] = 0
        last: dict[int, tuple] = {}
        for t, n, c, _ in self.steps:
            last[n] = (t, c)
        heap = []
        for n, f in run.free.items():
            got = last.get(n)
            if got is None:
                heap.append((f, n))
            elif got[1] is not None:
                heap.append((got[0] + run.mean(got[1].service), n))
            # else: the window took nobody and was dropped (no retries: see `usable`)
        heapq.heapify(heap)
        run.heap = heap

    def _add_to_lines(self, x: Candidate) -> None:
        """x (a placed walk-in a cut has dropped) waits in the run's lines again, in its place in
        each order: a ticket of its line placed after it may have been dropped by an earlier cut
        and be waiting there already, and the oldest-first list the aging check reads spans every
        line. (Only `_cut` calls this, and it resets every cursor afterwards.)"""
        run = self.run
        lines, fast = run.lines, run.fast
        orders = lines.orders.get(x.service)
        if orders is None:
            orders = lines.orders[x.service] = [[], [], []]
            fast.cursors[x.service] = [[lst, 0] for lst in orders]
        arrival = fast.rank  # (arrived, number) order, as _Lines and _Picker sort them
        bisect.insort(orders[1], x, key=lambda c: (c.rank, arrival[id(c)]))
        bisect.insort(orders[2], x, key=lambda c: arrival[id(c)])
        bisect.insort(fast._oldest[0], x, key=lambda c: arrival[id(c)])
        fast._ages_from = min(fast._ages_from, fast.minute[id(x)] + fast.starve)
