"""Discrete-event simulation of hall days: windows open, take breaks, call, serve and close.

The clock is minutes (float) since 00:00 of day 0; the allocation and estimate code is handed the
matching `datetime`, so it runs exactly as in the server. What the hall does:

- windows are staffed from each session's start (no 空岗); windows in `hours.lunch_windows` serve
  straight through lunch (午间服务), the others stop at each session's end;
- at every session's end a window first serves everyone who held a ticket for it before the end
  (延时服务: nobody holding a ticket is sent home), then leaves;
- each clerk takes the scenario's breaks, after finishing the citizen at the window;
- a ticket printed an estimate (`server.estimate.estimate_wait`, from the same `ServiceTimes`
  learning the engine does) and the naive one beside it;
- a no-show costs the window `no_show_minutes` of calling and the ticket ends;
- a 一件事 ticket joins the queue again for its next step, keeping its original arrival;
- the kiosk issues a ticket only when the engine would (`server.hours.issuing`: at lunch only for
  matters a lunch window serves); a citizen it turns away comes back when tickets for the matter
  are issued again (`next_issuing`) or goes home, as drawn in the scenario (`Assumptions.balk_share`)
  — the same for every policy, so they all see the same tickets.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hallq.model import HallConfig, Window
from server.allocation import Candidate, effective_rank, protected
from server.estimate import (
    Busy,
    ServiceTimes,
    configured_minutes,
    estimate_wait,
    naive_estimate,
    pause_key,
    serving_now,
)
from server.hours import day_sessions, issuing, next_issuing

from .arrivals import DAY, Citizen, Scenario, _m, hall_days
from .policies import POLICIES, Hallq, Policy, Waiting

WEIGHT_ORDER = {"primary": 0, "secondary": 1, "backup": 2}
# Event kinds, in the order they are handled when they fall on the same minute.
FINISH, BACK, OPEN, CLOSE, BREAK, ARRIVE, WAKE = range(7)


@dataclass(frozen=True)
class Visit:
    """One stay in the queue and the call that ended it: the unit of every wait figure."""

    citizen: int
    day: int
    service: str
    step: int
    priority: str
    queued: float
    called: float
    ended: float
    window: int
    no_show: bool

    @property
    def wait(self) -> float:
        return self.called - self.queued


@dataclass(frozen=True)
class Issued:
    """The estimate printed on a ticket, beside the naive one; `called` is when it was called."""

    citizen: int
    arrival: float
    service: str
    ahead: int
    estimate: float
    naive: float
    called: float | None = None
    low: float = 0.0  # the range printed beside the estimate
    high: float = 0.0


@dataclass
class Desk:
    conf: Window
    open: bool = False
    closing_at: float | None = None  # session ended: serve tickets issued before this, then leave
    on_break: bool = False
    break_since: float = 0.0
    break_owed: float = 0.0
    current: Waiting | None = None
    since: float = 0.0
    idle_since: float = 0.0
    staffed_from: float | None = None
    staffed: float = 0.0
    busy: float = 0.0

    @property
    def number(self) -> int:
        return self.conf.number

    @property
    def staffed_now(self) -> bool:
        return (self.open or self.closing_at is not None) and not self.on_break


@dataclass
class Run:
    """Everything one policy did with one scenario."""

    policy: str
    scenario: Scenario
    visits: list[Visit] = field(default_factory=list)
    issued: list[Issued] = field(default_factory=list)
    busy: dict[int, float] = field(default_factory=dict)
    staffed: dict[int, float] = field(default_factory=dict)
    closing: list[float] = field(default_factory=list)  # last session end of each day
    unserved: int = 0
    returned: dict[int, Citizen] = field(default_factory=dict)  # turned away, came back (`came` set)
    balked: list[Citizen] = field(default_factory=list)  # turned away, went home


class HallSim:
    def __init__(self, config: HallConfig, scenario: Scenario, policy: str | Policy,
                 progress: Callable[[int, int], None] | None = None, estimates: bool = True) -> None:
        self.config = config
        self.scenario = scenario
        self.policy = POLICIES[policy](config) if isinstance(policy, str) else policy
        self.progress = progress
        self.estimates = estimates
        self.citizens = {c.id: c for c in scenario.citizens}
        self.desks = {n: Desk(w) for n, w in sorted(config.windows.items())}
        self.all_windows = list(config.windows.values())
        self.times = ServiceTimes(configured_minutes(config.services))
        self.waiting: list[Waiting] = []
        self.events: list[tuple] = []
        self._seq = 0
        self.tz = ZoneInfo(config.rules.timezone)
        # Simulated day d is the hall's d-th opening day (arrivals.hall_days), with that day's hours.
        self.dates = hall_days(config.hours, scenario.days + 1)
        self.issued: dict[int, Issued] = {}
        self.run = Run(policy=self.policy.name, scenario=scenario)
        self.ranks = {code: p.rank for code, p in config.priorities.items()}
        self.backup_after = config.rules.backup_after_minutes
        self._protected_helps = {s: any(protected(w) and w.services.get(s, "primary") != "primary"
                                        for w in self.all_windows) for s in config.services}

    # -- plumbing ---------------------------------------------------------------------------

    def at(self, minutes: float) -> datetime:
        day = min(max(int(minutes // DAY), 0), len(self.dates) - 1)
        start = datetime(self.dates[day].year, self.dates[day].month, self.dates[day].day, tzinfo=self.tz)
        return start + timedelta(minutes=minutes - day * DAY)

    def push(self, when: float, kind: int, data=None) -> None:
        self._seq += 1
        heapq.heappush(self.events, (when, kind, self._seq, data))

    # -- the day ---------------------------------------------------------------------------

    def simulate(self) -> Run:
        hours = self.config.hours
        for day in range(self.scenario.days):
            spans = [(_m(s.start), _m(s.end)) for s in day_sessions(hours, self.dates[day])]
            base = day * DAY
            self.run.closing.append(base + spans[-1][1])
            for desk in self.desks.values():
                own = [(spans[0][0], spans[-1][1])] if desk.number in hours.lunch_windows else spans
                for start, end in own:
                    self.push(base + start, OPEN, desk)
                    self.push(base + end, CLOSE, desk)
        for b in self.scenario.breaks:
            self.push(b.start, BREAK, (self.desks[b.window], b.minutes))
        for c in self.scenario.citizens:
            self.push(c.arrival, ARRIVE, c)
        total, done = len(self.scenario.citizens), 0
        while self.events:
            now, kind, _, data = heapq.heappop(self.events)
            self.handle(now, kind, data)
            if kind == ARRIVE:
                done += data.came is None  # a citizen coming back was counted the first time
                if self.progress and done % 200 == 0:
                    self.progress(done, total)
        if self.progress:
            self.progress(total, total)
        self.run.unserved = len(self.waiting)
        for desk in self.desks.values():
            self.run.busy[desk.number] = desk.busy
            self.run.staffed[desk.number] = desk.staffed
        self.run.issued = [self.issued[k] for k in sorted(self.issued)]
        return self.run

    def handle(self, now: float, kind: int, data) -> None:
        """One event (a fork of the hall, bench/bench_estimate_bound.py, runs the same steps)."""
        if kind == ARRIVE:
            self.arrive(data, now)
        elif kind == FINISH:
            self.finish(data, now)
        elif kind == OPEN:
            data.open, data.closing_at = True, None
            self._staff(data, now)
            self.serve_next(data, now)
        elif kind == CLOSE:
            data.open, data.closing_at = False, now
            self.serve_next(data, now)
        elif kind == BREAK:
            desk, minutes = data
            desk.break_owed += minutes
            self.serve_next(desk, now)
        elif kind == BACK:
            data.on_break = False
            self.times.add(pause_key("break"), now - data.break_since)  # as the engine learns on resume
            self._staff(data, now)
            self.serve_next(data, now)
        elif kind == WAKE:
            self.wake(data, now)

    def _staff(self, desk: Desk, now: float) -> None:
        if desk.staffed_from is None and desk.staffed_now:
            desk.staffed_from = now
            desk.idle_since = now

    def _unstaff(self, desk: Desk, now: float) -> None:
        if desk.staffed_from is not None:
            desk.staffed += now - desk.staffed_from
            desk.staffed_from = None

    # -- citizens ----------------------------------------------------------------------------

    def _waiting_for(self, c: Citizen, step: int, now: float) -> Waiting:
        rank = self.ranks[c.priority]
        cand = Candidate(id=str(c.id), service=c.steps[step], rank=rank, arrived=self.at(c.arrival),
                         number=c.number, minutes=self.config.services[c.steps[step]].minutes)
        return Waiting(citizen=c.id, service=c.steps[step], step=step, arrived=c.arrival, queued=now,
                       rank=rank, slot=c.slot, candidate=cand)

    def arrive(self, c: Citizen, now: float) -> None:
        at = self.at(now)
        if not issuing(self.config, c.steps, at):
            self.turn_away(c, now, next_issuing(self.config, c.steps, at))
            return
        t = self._waiting_for(c, 0, now)
        if self.estimates:
            self.issued[c.id] = self.estimate(t, now)
        self.join(t, now)

    def turn_away(self, c: Citizen, now: float, back: datetime | None) -> None:
        """The kiosk refuses the ticket (`hall_closed`): the citizen comes back when tickets for the
        matter are issued again, or goes home."""
        if back is None or c.balks:
            self.run.returned.pop(c.id, None)
            self.run.balked.append(c)
            return
        again = now + (back - self.at(now)).total_seconds() / 60.0 + c.return_after
        slot = c.slot
        if slot is not None:  # checks in for the next slot after coming back, as on arrival
            step = self.config.appointments.slot_minutes
            slot = (again // step + 1) * step
        c = replace(c, arrival=again, slot=slot, came=c.came if c.came is not None else c.arrival)
        self.citizens[c.id] = c
        self.run.returned[c.id] = c
        self.push(again, ARRIVE, c)

    def estimate(self, t: Waiting, now: float) -> Issued:
        at = self.at(now)
        queue = [self._candidate_now(w, now, at) for w in self.waiting]
        new = self._candidate_now(t, now, at)
        # As the engine: a clerk on a break is a paused window, counted from when expected back.
        away = [d for d in self.desks.values() if d.on_break and d.open]
        gone = {d.number for d in away}
        open_windows = serving_now([d.conf for d in self.desks.values() if d.staffed_now or d.number in gone],
                                   self.config.hours, at)
        busy = [Busy(d.number, d.current.service, self.at(d.since)) for d in self.desks.values() if d.current]
        busy += [Busy(d.number, pause_key("break"), self.at(d.break_since), pause=True) for d in away]
        est = estimate_wait(new, queue + [new], open_windows, self.all_windows, busy, self.times, at,
                            rules=self.config.rules, hours=self.config.hours)
        # The naive estimate counts the ticket's own line: same matter, called before it.
        line = sum(1 for c in queue if c.service == t.service and (c.rank, c.arrived, c.number) < (
            new.rank, new.arrived, new.number))
        serving = [w for w in open_windows if t.service in w.services] or [
            w for w in self.all_windows if t.service in w.services]
        naive = naive_estimate(line, self.times.mean(t.service), len(serving))
        return Issued(citizen=t.citizen, arrival=now, service=t.service, ahead=est.ahead, estimate=est.minutes,
                      naive=naive, low=est.low, high=est.high)

    def _candidate_now(self, t: Waiting, now: float, at: datetime) -> Candidate:
        if t.slot is None:
            return t.candidate
        slot = self.at(t.slot)
        rank = effective_rank(t.rank, slot, at)
        return t.candidate if rank == t.candidate.rank else Candidate(
            id=t.candidate.id, service=t.service, rank=rank, arrived=t.candidate.arrived, number=t.candidate.number,
            minutes=t.candidate.minutes)

    def join(self, t: Waiting, now: float) -> None:
        """A ticket joins the pool: bind it (if the policy binds), wake idle windows that could call it."""
        if self.policy.bind is not Policy.bind:
            load = Counter(w.bound for w in self.waiting)
            for d in self.desks.values():
                if d.current:
                    load[d.number] += 1
            self.policy.bind(t, load, {d.number for d in self.desks.values() if d.staffed_now and d.open})
        self.waiting.append(t)
        self.wake(t.service, now)
        closing = self.run.closing[self.citizens[t.citizen].day]
        if now >= closing and any(w is t for w in self.waiting):
            self.recall_clerk(t, closing, now)
        if isinstance(self.policy, Hallq) and self._protected_helps.get(t.service):
            due = t.arrived + self.backup_after
            if due > now:
                self.push(due + 1e-6, WAKE, t.service)  # protected windows may take it from then on

    def wake(self, service: str, now: float) -> None:
        idle = [d for d in self.desks.values()
                if d.current is None and d.staffed_now and self.policy.can_serve(d.conf, service)]
        idle.sort(key=lambda d: (WEIGHT_ORDER.get(d.conf.services.get(service, ""), 3), d.idle_since, d.number))
        for d in idle:
            if not self.waiting:
                return
            self.serve_next(d, now)

    def recall_clerk(self, t: Waiting, closing: float, now: float) -> None:
        """After closing, a 一件事 step can join the queue when every window for it has gone home:
        the hall calls one of them back (nobody holding a ticket is sent home)."""
        for d in self.desks.values():
            if d.staffed_now and self._could_take(d, t):
                return
        options = [d for d in self.desks.values() if self._could_take(d, t) and not d.on_break]
        if options:
            d = min(options, key=lambda d: (WEIGHT_ORDER.get(d.conf.services.get(t.service, ""), 3), d.number))
            d.closing_at = closing
            self._staff(d, now)
            self.serve_next(d, now)

    def _could_take(self, d: Desk, t: Waiting) -> bool:
        if t.bound is not None:
            return t.bound == d.number
        return self.policy.can_serve(d.conf, t.service)

    # -- windows -----------------------------------------------------------------------------

    def serve_next(self, desk: Desk, now: float) -> None:
        if desk.current is not None or desk.on_break:
            return
        if desk.break_owed and not desk.open:
            desk.break_owed = 0.0  # the session is over: leaving (or lunch) is the break
        if desk.break_owed:
            self._unstaff(desk, now)
            desk.on_break, desk.break_since = True, now
            self.push(now + desk.break_owed, BACK, desk)
            desk.break_owed = 0.0
            return
        if not desk.open and desk.closing_at is None:
            return
        pool = self.waiting
        if not desk.open:
            cut = desk.closing_at
            pool = [t for t in pool if self.citizens[t.citizen].arrival <= cut]
        if pool:
            self.policy.staffed = [d.conf for d in self.desks.values() if d.staffed_now]
        t = self.policy.choose(desk.conf, pool, now, self.at(now)) if pool else None
        if t is None:
            if not desk.open:  # 延时服务 done for this window
                desk.closing_at = None
                self._unstaff(desk, now)
            return
        self.call(desk, t, now)

    def call(self, desk: Desk, t: Waiting, now: float) -> None:
        self.waiting.remove(t)
        c = self.citizens[t.citizen]
        no_show = c.no_show and t.step == 0
        minutes = self.scenario.assumptions.no_show_minutes if no_show else c.minutes[t.step]
        desk.current, desk.since = t, now
        if t.step == 0 and self.estimates:
            issued = self.issued[c.id]
            self.issued[c.id] = replace(issued, called=now)
        self.push(now + minutes, FINISH, desk)

    def finish(self, desk: Desk, now: float) -> None:
        t, desk.current = desk.current, None
        desk.busy += now - desk.since
        desk.idle_since = now
        c = self.citizens[t.citizen]
        no_show = c.no_show and t.step == 0
        self.run.visits.append(Visit(
            citizen=c.id, day=c.day, service=t.service, step=t.step, priority=c.priority, queued=t.queued,
            called=desk.since, ended=now, window=desk.number, no_show=no_show,
        ))
        if not no_show:
            self.times.add(t.service, now - desk.since)
            if t.step + 1 < len(c.steps):
                self.join(self._waiting_for(c, t.step + 1, now), now)
        self.serve_next(desk, now)


def simulate(config: HallConfig, scenario: Scenario, policy: str | Policy,
             progress: Callable[[int, int], None] | None = None, estimates: bool = True) -> Run:
    """Replay `scenario` in `config` under `policy` (a name from POLICIES or an instance);
    `estimates=False` skips the ticket estimates (long validation runs need only the waits)."""
    return HallSim(config, scenario, policy, progress, estimates).simulate()
