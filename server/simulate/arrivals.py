"""The citizens of a simulated day, drawn once per seed and replayed for every policy.

Comparing policies on different random citizens would drown the difference between them in noise,
so everything random — arrival times, matters, priority, appointment slots, service times of every
step, no-shows and the clerks' breaks — is drawn here, up front, into a `Scenario` (common random
numbers). The simulator only replays it.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from hallq.model import Bundle, HallConfig, Hours, Session
from server.hours import day_sessions

DAY = 24 * 60  # minutes
FIRST_DAY = date(2026, 3, 2)  # a Monday: simulated day 0 is the hall's first opening day from here

# Relative arrival intensity by hour of day. `county` is the morning peak the demo's simulated
# citizens follow (hallq.demo_people), written out here so the simulator's assumption is visible.
PROFILES: dict[str, dict[int, float]] = {
    "county": {8: 0.8, 9: 1.6, 10: 1.5, 11: 1.0, 12: 0.3, 13: 0.3, 14: 0.9, 15: 1.2, 16: 0.9, 17: 0.3},
    "flat": {h: 1.0 for h in range(24)},
}


@dataclass(frozen=True)
class Assumptions:
    """What the config does not say about a hall's citizens and clerks (defaults are the demo's)."""

    per_day: float | None = None  # expected tickets a day; None: as many as `load` asks for
    load: float = 0.55  # offered load: service minutes asked ÷ window minutes open (700/day in the demo hall)
    profile: Mapping[int, float] = field(default_factory=lambda: PROFILES["county"])
    green_share: float = 0.08  # 绿色通道 (elderly, disabled, pregnant …)
    appointment_share: float = 0.05  # 预约 tickets, checked in before their slot
    no_show_share: float = 0.04  # called but never came (过号)
    no_show_minutes: float = 2.0  # a window spends calling and recalling a no-show
    service: str = "lognormal"  # lognormal | exponential
    service_cv: float = 0.7  # coefficient of variation of the log-normal service time
    break_minutes: float = 10.0  # one break per clerk per session (0: none)
    # A citizen who comes while their matter is not issued (at lunch, when no lunch window serves
    # it: server.hours.issuing) is told when tickets for it start again (next_issuing). This share
    # goes home instead (another day: not simulated); the others come back within
    # `return_minutes` after that time (uniformly: nobody waits at the door to the second).
    # Assumptions, not sourced figures: the engine's refusal message names the time, so most return.
    balk_share: float = 0.2
    return_minutes: float = 20.0


@dataclass(frozen=True)
class Citizen:
    id: int
    day: int
    arrival: float  # minutes since day 0 00:00
    matter: str
    steps: tuple[str, ...]  # services in order (one for a plain matter)
    minutes: tuple[float, ...]  # service time of every step
    priority: str
    prefix: str
    number: int
    slot: float | None = None  # appointment slot start
    no_show: bool = False
    # Only used when the kiosk turns the citizen away (see Assumptions.balk_share):
    balks: bool = False  # goes home rather than coming back
    return_after: float = 0.0  # minutes after tickets are issued again that they come back
    came: float | None = None  # set by the simulator on a citizen who came back: the first visit


@dataclass(frozen=True)
class Break:
    window: int
    start: float
    minutes: float


@dataclass(frozen=True)
class Scenario:
    seed: int
    days: int
    citizens: tuple[Citizen, ...]
    breaks: tuple[Break, ...]
    assumptions: Assumptions


def hall_days(hours: Hours, n: int) -> list[date]:
    """The first `n` days from FIRST_DAY on that the hall opens by its own calendar
    (`server.hours.day_sessions`: its weekdays, 法定节假日 and 调休 with `official_holidays`, its
    special days): `--days 7` is seven days with citizens, never a weekend or holiday in which the
    kiosk turned every one of them away."""
    out, d = [], FIRST_DAY
    while len(out) < n:
        if day_sessions(hours, d):
            out.append(d)
        elif (d - FIRST_DAY).days > 366 * 10 + n * 7:  # a calendar without an opening day
            raise ValueError("the hall opens on no day")
        d += timedelta(days=1)
    return out


def issuing_intervals(hours: Hours, sessions: tuple[Session, ...] | None = None) -> list[tuple[float, float]]:
    """Minutes of the day when citizens come to the kiosk: inside sessions (the day's own, default
    the usual ones), through lunch when some windows serve then (the doors are open), until
    `stop_issuing_minutes` before the last closing. Whether their matter is issued at that moment is
    the engine's rule (`server.hours.issuing`), applied by the simulator on arrival."""
    sessions = hours.sessions if sessions is None else sessions
    if not sessions:
        return []
    spans = [(_m(s.start), _m(s.end)) for s in sessions]
    if hours.lunch_windows:
        spans = [(spans[0][0], spans[-1][1])]
    stop = spans[-1][1] - hours.stop_issuing_minutes
    return [(a, min(b, stop)) for a, b in spans if a < stop]


def _m(t) -> float:
    return t.hour * 60 + t.minute + t.second / 60


def load_profile(spec: str) -> dict[int, float]:
    """A day profile: a name (county, flat), `8=0.8,9=1.6,…`, or a .json/.toml file of hour -> weight."""
    if spec in PROFILES:
        return dict(PROFILES[spec])
    path = Path(spec)
    if path.suffix in (".json", ".toml") and path.exists():
        raw = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
        raw = raw.get("profile", raw)
        items = raw.items()
    elif "=" in spec:
        items = (part.split("=", 1) for part in spec.split(","))
    else:
        raise ValueError(f"unknown day profile {spec!r}: give {', '.join(PROFILES)}, 8=0.8,9=1.6,… or a file")
    profile = {}
    for hour, weight in items:
        h, w = int(hour), float(weight)
        if not 0 <= h <= 23 or w < 0:
            raise ValueError(f"day profile: hour {h} weight {w} out of range")
        profile[h] = w
    if not any(profile.values()):
        raise ValueError("day profile has no arrivals")
    return profile


def matter_mix(config: HallConfig) -> list[tuple[str, float]]:
    """Which matters citizens come for: shorter ones more often, as in the demo (1/sqrt(minutes))."""
    mix = []
    for item in list(config.services.values()) + list(config.bundles.values()):
        minutes = 20.0 if isinstance(item, Bundle) else item.minutes
        mix.append((item.code, 1.0 / math.sqrt(max(minutes, 0.5))))
    return mix


def minutes_per_ticket(config: HallConfig) -> float:
    """Expected service minutes one ticket asks for (all steps of a 一件事 bundle)."""
    mix = matter_mix(config)
    total = sum(w for _, w in mix)
    per_ticket = 0.0
    for code, weight in mix:
        item = config.matter(code)
        steps = item.steps if isinstance(item, Bundle) else (code,)
        per_ticket += weight / total * sum(config.services[s].minutes for s in steps)
    return per_ticket


def window_minutes(config: HallConfig) -> float:
    """Window-minutes of opening a day (sessions at every window, lunch at lunch windows)."""
    spans = [(_m(s.start), _m(s.end)) for s in config.hours.sessions]
    session_minutes = sum(b - a_ for a_, b in spans)
    lunch = (spans[-1][1] - spans[0][0] - session_minutes) * len(config.hours.lunch_windows)
    return session_minutes * len(config.windows) + lunch


def tickets_per_day(config: HallConfig, a: Assumptions) -> float:
    """`per_day` if given, else the volume that makes the offered load `load`."""
    if a.per_day is not None:
        return a.per_day
    return a.load * window_minutes(config) / minutes_per_ticket(config)


def offered_load(config: HallConfig, a: Assumptions) -> float:
    """Service minutes asked for per window-minute of opening: the hall's mean utilisation."""
    capacity = window_minutes(config)
    return tickets_per_day(config, a) * minutes_per_ticket(config) / capacity if capacity else math.inf


def _service_minutes(rng: random.Random, mean: float, a: Assumptions) -> float:
    if a.service == "exponential":
        return rng.expovariate(1.0 / mean)
    sigma2 = math.log(1.0 + a.service_cv**2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def _pieces(spans: list[tuple[float, float]], profile: Mapping[int, float]) -> list[tuple[float, float, float]]:
    """Piecewise-constant arrival rate: hour weight × minutes open in that hour (scaled to per_day)."""
    pieces = []
    for start, end in spans:
        t = start
        while t < end:
            cut = min(end, (math.floor(t / 60) + 1) * 60)
            pieces.append((t, cut, profile.get(int(t // 60), 0.0)))
            t = cut
    return pieces


def generate(config: HallConfig, seed: int, days: int = 1, a: Assumptions | None = None) -> Scenario:
    """Draw `days` days of citizens and breaks for `config` from `seed`."""
    a = a or Assumptions()
    rng = random.Random(seed)
    sessions = [day_sessions(config.hours, d) for d in hall_days(config.hours, days)]
    per_day = tickets_per_day(config, a)
    codes, weights = zip(*matter_mix(config), strict=True)
    ranks = sorted(config.priorities.values(), key=lambda p: p.rank)
    green = next((p.code for p in ranks if p.code == "green"), ranks[0].code)
    normal = next((p.code for p in ranks if p.code == "normal"), ranks[-1].code)
    appointment = "appointment" if "appointment" in config.priorities else None
    slot = config.appointments.slot_minutes
    citizens: list[Citizen] = []
    for day in range(days):
        base = day * DAY
        numbers: dict[str, int] = {}
        pieces = _pieces(issuing_intervals(config.hours, sessions[day]), a.profile)
        mass = sum((b - s) * w for s, b, w in pieces)
        for start, end, weight in pieces:
            rate = per_day * weight / mass if mass else 0.0  # per minute
            t = start
            while rate > 0:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                code = rng.choices(codes, weights)[0]
                item = config.matter(code)
                steps = item.steps if isinstance(item, Bundle) else (code,)
                roll = rng.random()
                priority, slot_start = normal, None
                if roll < a.green_share:
                    priority = green
                elif appointment and roll < a.green_share + a.appointment_share:
                    # Checked in up to one slot early: the slot is the next boundary after arrival.
                    priority, slot_start = appointment, base + (math.floor(t / slot) + 1) * slot
                minutes = tuple(_service_minutes(rng, config.services[s].minutes, a) for s in steps)
                no_show = rng.random() < a.no_show_share
                numbers[item.prefix] = numbers.get(item.prefix, 0) + 1
                citizens.append(Citizen(
                    id=len(citizens), day=day, arrival=base + t, matter=code, steps=steps, minutes=minutes,
                    priority=priority, prefix=item.prefix, number=numbers[item.prefix], slot=slot_start,
                    no_show=no_show,
                ))
    # Drawn from their own stream, after everything else, so that adding them left every other draw
    # (and so the citizens of a seed) as it was.
    rrng = random.Random(f"{seed}/return")
    citizens = [replace(c, balks=rrng.random() < a.balk_share, return_after=rrng.uniform(0.0, a.return_minutes))
                for c in citizens]
    breaks = []
    if a.break_minutes > 0:
        brng = random.Random(f"{seed}/breaks")
        for day in range(days):
            for number in sorted(config.windows):
                for s in sessions[day]:
                    s0, s1 = _m(s.start), _m(s.end)
                    if s1 - s0 >= 2 * a.break_minutes + 60:
                        at = brng.uniform(s0 + 30, s1 - 30 - a.break_minutes)
                        breaks.append(Break(number, day * DAY + at, a.break_minutes))
    citizens.sort(key=lambda c: c.arrival)
    return Scenario(seed=seed, days=days, citizens=tuple(citizens), breaks=tuple(breaks), assumptions=a)
