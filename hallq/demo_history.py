"""The demo hall's past: the working days before today, run through the real engine on a manual clock.

`hallq demo` opens on a hall with a month behind it, so reports, trends, 红黑榜, the case ledger and
承诺件 deadlines have something to show. Nothing here writes a row itself: every ticket, call,
service, rating, alert, case step and delivery is an engine, CaseBook, Commitments or AlertBoard
action at its simulated time, exactly what the live hall writes (the same listeners open the cases
and deadlines). A small discrete-event loop plays each day: a crowd at the door, arrivals following
the demo's hourly profile, clerks who call, serve, finish and sometimes see nobody come (过号),
lunch pauses, and citizens who rate on the evaluator a few seconds after the service — sometimes
after the clerk has already called the next citizen, when the rating is refused (先评价后办事 is
forbidden); `seed_history` counts those (`ratings_refused_next_called`).

Seeding writes with `synchronous=OFF` (a crash would only mean seeding again); the result is cached
beside the demo database per config, day and parameters, so a second demo start the same day copies it.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import random
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hallq.demo_people import CLERK_PAUSE, DOOR_MINUTES, DOOR_SHARE, GRADE_WEIGHTS, HOURLY_PROFILE, RATE_DELAY
from hallq.model import HallConfig

CHECK_EVERY = 300.0  # seconds between supervision checks, as the live checker does at its own pace
GRADES_BAD_REASONS = ("attitude", "efficiency", "competence", "environment")


@dataclass
class DayFigures:
    tickets: int = 0
    served: int = 0
    evaluator_presses: int = 0
    ratings: int = 0
    refused: dict[str, int] = field(default_factory=dict)


@dataclass
class History:
    days: list[str] = field(default_factory=list)
    figures: DayFigures = field(default_factory=DayFigures)

    def summary(self) -> dict:
        f = self.figures
        return {"days": len(self.days), "first": self.days[0] if self.days else None,
                "last": self.days[-1] if self.days else None, "tickets": f.tickets, "served": f.served,
                "evaluator_presses": f.evaluator_presses, "ratings": f.ratings, "refused": dict(f.refused),
                "ratings_refused_next_called": f.refused.get("next_called", 0)}


def working_days_before(today: date, calendar_days: int, weekdays: tuple[int, ...]) -> list[date]:
    from server.workdays import covered, is_working_day

    days = [today - timedelta(days=n) for n in range(calendar_days, 0, -1)]
    return [d for d in days if (is_working_day(d) if covered(d.year) else d.isoweekday() in weekdays)]


def seed_history(config: HallConfig, db_path: str | Path, today: date, calendar_days: int = 30,
                 per_day: int = 700, seed: int = 1) -> History:
    """Play every working day of the `calendar_days` before `today` into a fresh database."""
    from server.app import create_app, stop_app
    from server.clock import ManualClock

    tz = ZoneInfo(config.rules.timezone)
    days = working_days_before(today, calendar_days, config.hours.weekdays)
    history = History(days=[d.isoformat() for d in days])
    if not days or not config.hours.sessions:
        return history
    first_open = datetime.combine(days[0], config.hours.sessions[0].start, tz) - timedelta(minutes=30)
    clock = ManualClock(first_open)
    app = create_app(config, db_path, clock=clock, supervise=False)
    store = app.config["ENGINE"].store
    store.db.execute("PRAGMA synchronous=OFF")
    try:
        from hallq.commands.demo import seed_users

        seed_users(store, config)
        rng = random.Random(seed)
        for day in days:
            _Day(app, clock, day, tz, per_day, rng, history.figures).run()
            _office_work(app, clock, day, tz, rng, last=day == days[-1])
    finally:
        stop_app(app)
        store.db.execute("PRAGMA synchronous=FULL")
        store.close()
    return history


def cached_history(config_path: str | Path, config: HallConfig, db_path: Path, today: date, calendar_days: int,
                   per_day: int, seed: int) -> dict:
    """Copy the seeded history for these parameters to `db_path`, seeding it first when not cached."""
    text = Path(config_path).read_bytes()
    key = hashlib.sha256(text + json.dumps([today.isoformat(), calendar_days, per_day, seed, _code_version()]).encode())
    cache = db_path.with_name(f"{db_path.stem}-history-{key.hexdigest()[:12]}.db")
    meta = cache.with_suffix(".json")
    if not (cache.exists() and meta.exists()):
        for old in db_path.parent.glob(f"{db_path.stem}-history-*"):
            old.unlink()
        tmp = cache.with_name(cache.name + ".tmp")
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
        summary = seed_history(config, tmp, today, calendar_days, per_day, seed).summary()
        tmp.replace(cache)
        meta.write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    shutil.copyfile(cache, db_path)
    return json.loads(meta.read_text(encoding="utf-8"))


def _code_version() -> str:
    """A new engine or seeder makes a new cache (the rows must be what this code writes)."""
    here = Path(__file__).resolve()
    parts = [here, here.parents[1] / "server" / "engine.py", here.parents[1] / "server" / "migrations.py"]
    return hashlib.sha256(b"".join(p.read_bytes() for p in parts if p.exists())).hexdigest()[:12]


class _Day:
    """One working day as a discrete-event simulation driving the engine on the manual clock."""

    def __init__(self, app, clock, day: date, tz: ZoneInfo, per_day: int, rng: random.Random,
                 figures: DayFigures) -> None:
        self.app, self.engine, self.clock, self.rng, self.figures = app, app.config["ENGINE"], clock, rng, figures
        self.config: HallConfig = self.engine.config
        self.day, self.tz = day, tz
        self.heap: list[tuple[datetime, int, str, tuple]] = []
        self.seq = itertools.count()
        sessions = self.config.hours.sessions
        self.opening = self._at(sessions[0].start)
        self.closing = self._at(sessions[-1].end)
        self.lunch = (self._at(sessions[0].end), self._at(sessions[1].start)) if len(sessions) > 1 else None
        self.per_day = per_day * rng.uniform(0.85, 1.15) * (1.15 if day.isoweekday() == 1 else 1.0)  # Mondays
        matters = [m for m in [*self.config.services.values(), *self.config.bundles.values()]
                   if getattr(m, "department", "") != "督查"]
        self.matters = [m.code for m in matters]
        self.weights = [1.0 / math.sqrt(getattr(m, "minutes", 20.0)) for m in matters]
        staff = list(self.config.staff)
        self.windows = {n: staff[i] for i, n in enumerate(sorted(self.config.windows)) if i < len(staff)}
        self.paused: set[int] = set()

    def _at(self, t) -> datetime:
        return datetime.combine(self.day, t, self.tz)

    def push(self, when: datetime, kind: str, *args) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), kind, args))

    def run(self) -> None:
        rng = self.rng
        for number in self.windows:
            late = rng.random() < 0.05
            self.push(self.opening + timedelta(minutes=rng.uniform(5, 25) if late else -rng.uniform(2, 10)),
                      "login", number)
        door = round(self.per_day * DOOR_SHARE)
        for _ in range(door):
            self.push(self.opening + timedelta(seconds=rng.uniform(0, DOOR_MINUTES * 60)), "arrive")
        per_hour = self.per_day * (1 - DOOR_SHARE) / sum(HOURLY_PROFILE.values())
        t = self.opening
        while t < self.closing:
            rate = per_hour * HOURLY_PROFILE.get(t.hour, 0.05) / 3600.0
            t += timedelta(seconds=rng.expovariate(rate) if rate > 0 else 900)
            if t < self.closing and self._open_for_issue(t):
                self.push(t, "arrive")
        t = self.opening
        while t < self.closing + timedelta(hours=2):
            self.push(t, "check")
            t += timedelta(seconds=CHECK_EVERY)
        while self.heap:
            when, _, kind, args = heapq.heappop(self.heap)
            self.clock.set(when)
            getattr(self, f"_{kind}")(*args)
        self.clock.set(self.closing + timedelta(hours=3))

    def _open_for_issue(self, t: datetime) -> bool:
        return self.lunch is None or not (self.lunch[0] <= t < self.lunch[1])

    def _try(self, action, *args, **kw):
        from server.errors import HallqError

        try:
            return action(*args, **kw)
        except HallqError:
            return None

    # -- events ------------------------------------------------------------------------------

    def _check(self) -> None:
        from server.supervision import check_once

        check_once(self.engine, self.app.config["ALERTS"])

    def _arrive(self) -> None:
        rng = self.rng
        kw = {}
        if rng.random() < 0.08:
            kw.update(priority="green", priority_reason=rng.choice(["elderly", "disabled", "pregnant"]))
        if rng.random() < 0.3:
            kw["phone"] = "13" + "".join(str(rng.randrange(10)) for _ in range(9))
        if self._try(self.engine.issue, rng.choices(self.matters, self.weights)[0], **kw) is not None:
            self.figures.tickets += 1

    def _login(self, window: int) -> None:
        self._try(self.engine.login, window, self.windows[window])
        self.push(self.clock.now(), "free", window)

    def _free(self, window: int) -> None:
        now = self.clock.now()
        if self.lunch and self.lunch[0] <= now < self.lunch[1] and window not in self.config.hours.lunch_windows:
            self._try(self.engine.pause, window, "lunch")
            self.push(self.lunch[1] + timedelta(minutes=self.rng.uniform(-3, 4)), "resume", window)
            return
        result = self._try(self.engine.call_next, window)
        ticket = result.get("ticket") if result is not None else None
        if ticket is None:
            if now >= self.closing:
                self._try(self.engine.logout, window)
                return
            self.push(now + timedelta(seconds=60), "free", window)
            return
        rng = self.rng
        walk = timedelta(seconds=rng.uniform(20, 90))
        if rng.random() < 0.04:
            self.push(now + walk + timedelta(seconds=60), "recall", window)
            return
        service = self.config.services[ticket.service]
        minutes = rng.lognormvariate(math.log(service.minutes) - 0.08, 0.4)
        self.push(now + walk, "start", window)
        self.push(now + walk + timedelta(minutes=minutes), "finish", window, service.case_kind)

    def _resume(self, window: int) -> None:
        self._try(self.engine.resume, window)
        self.push(self.clock.now(), "free", window)

    def _recall(self, window: int) -> None:
        self._try(self.engine.recall, window)
        self.push(self.clock.now() + timedelta(seconds=60), "no_show", window)

    def _no_show(self, window: int) -> None:
        self._try(self.engine.no_show, window)
        self.push(self.clock.now(), "free", window)

    def _start(self, window: int) -> None:
        self._try(self.engine.start, window)

    def _finish(self, window: int, case_kind: str) -> None:
        rng = self.rng
        roll = rng.random()
        outcome = "accepted" if case_kind == "承诺" else "done"
        if roll < 0.04:
            outcome = "informed"
        elif roll < 0.05:
            outcome = "cannot"
        if self._try(self.engine.finish, window, outcome) is not None:
            self.figures.served += 1
            now = self.clock.now()
            grade = rng.choices([g for g, _ in GRADE_WEIGHTS], [w for _, w in GRADE_WEIGHTS])[0]
            if grade:  # grade 0: the citizen walks away and the prompt times out
                self.push(now + timedelta(seconds=rng.uniform(*RATE_DELAY)), "rate", window, grade)
        self.push(self.clock.now() + timedelta(seconds=rng.uniform(*CLERK_PAUSE)), "free", window)

    def _rate(self, window: int, grade: int) -> None:
        from server.errors import Conflict

        self.figures.evaluator_presses += 1
        reason = self.rng.choice(GRADES_BAD_REASONS) if grade <= 2 else None
        try:
            self.engine.rate(grade, "evaluator", window=window, reason=reason, actor="caller")
            self.figures.ratings += 1
        except Conflict as refused:
            self.figures.refused[refused.code] = self.figures.refused.get(refused.code, 0) + 1


def _office_work(app, clock, day: date, tz: ZoneInfo, rng: random.Random, last: bool) -> None:
    """After hours: supervisors work the 差评 ledger and deliver 承诺件 as a real office would; the
    last day's cases are left 待回访 and the newest deliveries open, so the live views have work."""
    cases, commitments = app.config["CASES"], app.config["COMMITMENTS"]
    clock.set(clock.now() + timedelta(minutes=5))
    for case in app.config["ENGINE"].store.rows("SELECT * FROM cases WHERE state != 'closed' ORDER BY id"):
        opened = datetime.fromisoformat(case["opened_at"]).date()
        if last and opened == day:
            continue
        answer = "satisfied" if rng.random() < 0.7 else "dissatisfied"
        if case["state"] == "open":
            cases.act(case["id"], "call-back", "supervisor", "已电话回访，了解群众诉求并致歉",
                      contact=rng.choice(["phone", "phone", "sms", "in_person"]), answer=answer)
        elif case["state"] == "called_back":
            step = rng.choices(["rectify", "explain", "appeal"], [0.6, 0.3, 0.1])[0]
            cases.act(case["id"], step, "supervisor", {"rectify": "约谈窗口人员，列入整改台账",
                                                       "explain": "向群众解释政策规定", "appeal": "评价与事实不符，提出申诉"}[step])
        elif (day - opened).days >= 3 and not last:
            cases.act(case["id"], "close", "supervisor", "处置完毕，办结")
    from server.commitments import deadline_date
    from server.workdays import working_days_left

    for row in commitments.open_ones():
        deadline = deadline_date(row)
        left = working_days_left(day, deadline, limit=2) if deadline else 0
        # Most 承诺件 are delivered early (提速); two working days before the deadline nearly all
        # are, so the morning board shows a few near or due ones, not a card for each.
        if rng.random() < (0.97 if left <= 2 else 0.35):
            commitments.done(row["record_id"], "supervisor")
