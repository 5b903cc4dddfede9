"""Simulated citizens and clerks for `hallq demo`, acting only through the public HTTP API.

They run on the demo's hall clock (`speed` hall seconds per real second) so a day passes in minutes
and every live view moves. Behaviour follows a plausible county hall day: a crowd at the door at
opening (DOOR_SHARE of the day's citizens came early), a morning peak, some 绿色通道 and
appointments, a few no-shows, parked tickets, transfers, breaks, lunch, ratings.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable
from datetime import date, datetime

from drivers.sim.idcard import make_card
from hallq.client import ApiClient, ApiError, Unreachable
from hallq.model import HallConfig

log = logging.getLogger("hallq.demo")

# A share of the demo's citizens take their ticket with an ID card (made-up cards, valid check
# digits): their tickets carry the masked name and number, and those 60 or older get 老年人优先.
ID_CARD_SHARE = 0.2
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN_NAMES = ("秀英", "建国", "晓明", "桂兰", "志强", "丽华", "海燕", "振华", "玉梅", "文博", "子涵", "浩然")

# Relative arrival intensity by hour of the day: the morning peak real halls see.
HOURLY_PROFILE = {8: 0.8, 9: 1.6, 10: 1.5, 11: 1.0, 12: 0.3, 13: 0.3, 14: 0.9, 15: 1.2, 16: 0.9, 17: 0.3}
GRADE_WEIGHTS = [(5, 0.80), (4, 0.13), (3, 0.04), (2, 0.01), (1, 0.005), (0, 0.015)]
DOOR_SHARE = 0.1  # of the day's citizens wait at the door before opening and take tickets in its first minutes
DOOR_MINUTES = 4.0
# After FINISH the citizen rates on the evaluator within RATE_DELAY seconds while the clerk files the
# papers and presses CALL_NEXT within CLERK_PAUSE: a press after that call is refused (先评价后办事).
RATE_DELAY = (3.0, 25.0)
CLERK_PAUSE = (2.0, 30.0)
REASONS = {"attitude": 1, "efficiency": 2, "competence": 3, "environment": 4}  # -> evaluator REASON byte
FINISH_KEYS = {"done": 0, "accepted": 1, "cannot": 2, "informed": 3}  # -> keypad FINISH OUTCOME byte
PAUSE_KEYS = {"break": 0, "meeting": 1, "lunch": 2, "other": 3}  # -> keypad PAUSE REASON byte


class HallTime:
    """Converts between hall time (the server's scaled clock) and real sleeping."""

    def __init__(self, now: Callable[[], datetime], speed: float, stop: threading.Event) -> None:
        self.now = now
        self.speed = speed
        self.stop = stop

    def sleep(self, hall_seconds: float) -> bool:
        """Sleep `hall_seconds` of hall time; False when the demo is stopping."""
        return not self.stop.wait(max(hall_seconds, 0) / self.speed)


class Citizens(threading.Thread):
    """Arrivals as a Poisson process whose rate follows HOURLY_PROFILE, about `per_day` a day."""

    def __init__(self, client: ApiClient, config: HallConfig, clock: HallTime, per_day: int = 700,
                 seed: int | None = None) -> None:
        super().__init__(name="demo-citizens", daemon=True)
        self.client, self.config, self.clock = client, config, clock
        self.rng = random.Random(seed)
        self.per_day = per_day
        self.per_hour = per_day * (1 - DOOR_SHARE) / sum(HOURLY_PROFILE.values())
        matters = list(config.services.values()) + list(config.bundles.values())
        # Shorter matters are asked for more often (social security cards beat property transfers).
        self.matters = [(m.code, 1.0 / math.sqrt(getattr(m, "minutes", 20.0))) for m in matters
                        if getattr(m, "department", "") != "督查"]
        self.issued = 0

    def door_crowd(self) -> None:
        """Before opening on a working day: wait for the doors, then the early crowd takes tickets."""
        now = self.clock.now()
        hours = self.config.hours
        if not hours.sessions or now.isoweekday() not in hours.weekdays or now.time() >= hours.sessions[0].start:
            return
        opening = datetime.combine(now.date(), hours.sessions[0].start, now.tzinfo)
        offsets = sorted(self.rng.uniform(0, DOOR_MINUTES * 60) for _ in range(round(self.per_day * DOOR_SHARE)))
        for offset in offsets:
            if not self.clock.sleep((opening - self.clock.now()).total_seconds() + offset):
                return
            self.arrive()

    def run(self) -> None:
        self.door_crowd()
        while not self.clock.stop.is_set():
            now = self.clock.now()
            rate = self.per_hour * HOURLY_PROFILE.get(now.hour, 0.05)  # per hall hour
            gap = self.rng.expovariate(rate / 3600.0) if rate > 0 else 600
            if not self.clock.sleep(min(gap, 900)):
                return
            if gap > 900:
                continue
            self.arrive()

    def arrive(self) -> None:
        codes, weights = zip(*self.matters, strict=True)
        body = {"service": self.rng.choices(codes, weights)[0], "channel": "kiosk"}
        roll = self.rng.random()
        if roll < 0.08:
            body["priority"], body["priority_reason"] = "green", self.rng.choice(["elderly", "disabled", "pregnant"])
        if self.rng.random() < ID_CARD_SHARE:  # 身份证取号: the kiosk's reader gives name and ID number
            born = date(self.rng.randrange(1940, 2006), self.rng.randrange(1, 13), self.rng.randrange(1, 29))
            card = make_card(self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_NAMES), born, self.rng.randrange(1, 999),
                             sex=self.rng.choice("12"))
            body["id_number"], body["name"] = card.id_number, card.name  # the elderly get 老年人优先 from it
        if self.rng.random() < 0.3:
            body["phone"] = "13" + "".join(str(self.rng.randrange(10)) for _ in range(9))
            body["sms"] = self.rng.random() < 0.7  # most who give a number agree to SMS 即将到号
        try:
            self.client.post("/tickets", body)
            self.issued += 1
        except ApiError as exc:
            if exc.code != "hall_closed":
                log.info("ticket refused: %s", exc)
        except Unreachable:
            pass


class Clerk(threading.Thread):
    """One window's clerk: signs in, calls, serves, finishes; the citizen rates on the evaluator."""

    def __init__(self, client: ApiClient, config: HallConfig, window: int, staff: str, clock: HallTime,
                 seed: int | None = None, rate_client: ApiClient | None = None) -> None:
        super().__init__(name=f"demo-clerk-{window}", daemon=True)
        self.client, self.config, self.window, self.staff, self.clock = client, config, window, staff, clock
        self.rate_client = rate_client  # posts evaluator ratings when no caller daemon does
        self.rng = random.Random(seed)

    def act(self, action: str, **body) -> dict | None:
        try:
            return self.client.window(self.window, action, **body)
        except ApiError as exc:
            log.debug("window %s %s refused: %s", self.window, action, exc)
        except Unreachable:
            self.clock.sleep(30)
        return None

    def in_hours(self, now: datetime) -> bool:
        t = now.time()
        return any(s.start <= t < s.end for s in self.config.hours.sessions)

    def lunch(self, now: datetime) -> bool:
        s = self.config.hours.sessions
        return len(s) > 1 and s[0].end <= now.time() < s[1].start and self.window not in self.config.hours.lunch_windows

    def run(self) -> None:
        self.clock.sleep(self.rng.uniform(0, 150))  # staff sign in over the minutes around opening
        self.act("login", staff=self.staff)
        while not self.clock.stop.is_set():
            now = self.clock.now()
            if self.lunch(now):
                self.act("pause", reason="lunch")
                while self.lunch(self.clock.now()) and self.clock.sleep(120):
                    pass
                self.act("resume")
                continue
            result = self.act("call-next")
            ticket = (result or {}).get("ticket")
            if not ticket:
                if not self.in_hours(now) and now.time() > self.config.hours.sessions[-1].end:
                    self.act("logout")  # 延时服务 done: nobody is left for this window
                    return
                self.clock.sleep(30)
                continue
            self.serve(ticket)
            if self.rng.random() < 0.03:
                self.act("pause", reason="break")
                self.clock.sleep(self.rng.uniform(300, 600))
                self.act("resume")

    def serve(self, ticket: dict) -> None:
        rng = self.rng
        self.clock.sleep(rng.uniform(20, 90))  # the citizen walks to the window
        if rng.random() < 0.04:
            self.act("recall")
            self.clock.sleep(60)
            if rng.random() < 0.6:
                self.act("no-show")
                return
        self.act("start")
        service = self.config.services[ticket["service"]["code"]]
        minutes = rng.lognormvariate(math.log(service.minutes) - 0.08, 0.4)
        if rng.random() < 0.03:
            self.clock.sleep(minutes * 20)
            self.act("park")
            return
        if rng.random() < 0.02:
            others = [w for w in self.config.windows_for(service.code) if w.number != self.window]
            if others:
                self.clock.sleep(minutes * 30)
                if self.act("transfer", to_window=rng.choice(others).number):
                    return
                # refused (nobody signed in there): the clerk serves the citizen to the end instead
        self.clock.sleep(minutes * 60)
        roll = rng.random()
        outcome = "done"
        if service.case_kind == "承诺":
            outcome = "accepted"
        if roll < 0.04:
            outcome = "informed"
        elif roll < 0.05:
            outcome = "cannot"
        if self.act("finish", outcome=outcome):
            grades, weights = zip(*GRADE_WEIGHTS, strict=True)
            grade = rng.choices(grades, weights)[0]
            reason = rng.choice(list(REASONS)) if grade in (1, 2) else None
            delay = rng.uniform(*RATE_DELAY)
            threading.Thread(target=lambda: self.clock.sleep(delay) and self.citizen_rates(grade, reason),
                             name=f"demo-citizen-rates-{self.window}", daemon=True).start()
            self.clock.sleep(rng.uniform(*CLERK_PAUSE))

    def citizen_rates(self, grade: int, reason: str | None) -> None:
        """The citizen presses a key on the window's evaluator (posted here when no daemon does)."""
        if self.rate_client is None:
            return
        body = {"grade": grade, "channel": "evaluator", "window": self.window}
        if reason:
            body["reason"] = reason
        try:
            self.rate_client.post("/ratings", body)
        except (ApiError, Unreachable):
            pass


class KeypadClerk(Clerk):
    """A clerk who works the window's simulated QB-68 keypad, through the caller daemon.

    Reads the window on the API as a clerk reads the screen (which ticket was called), but every
    action is a key press; the citizen rates on the simulated evaluator when it lights up.
    """

    def __init__(self, client: ApiClient, config: HallConfig, window: int, staff: str, clock: HallTime,
                 keypad, evaluator=None, seed: int | None = None) -> None:
        super().__init__(client, config, window, staff, clock, seed=seed)
        self.name = f"demo-keypad-clerk-{window}"
        self.keypad, self.evaluator = keypad, evaluator

    def act(self, action: str, **body) -> dict | None:
        from drivers import qb68

        kp = self.keypad
        presses = {
            "login": lambda: kp.login(body["staff"]),
            "logout": kp.logout,
            "call-next": kp.call_next,
            "recall": kp.recall,
            "no-show": kp.no_show,
            "park": lambda: kp.function(qb68.FunctionCode.PARK),
            "transfer": lambda: kp.transfer(f"W{body['to_window']}"),
            "finish": lambda: kp.finish(FINISH_KEYS[body.get("outcome") or "done"]),
            "pause": lambda: kp.pause(PAUSE_KEYS[body.get("reason") or "other"]),
            "resume": kp.resume,
        }
        if action not in presses:
            return None  # no key for it (service starts implicitly at FINISH)
        result = presses[action]()
        if result != qb68.Result.ACCEPTED:
            log.debug("window %s %s key: %s", self.window, action, result)
            return None
        if action != "call-next":
            return {"result": "accepted"}
        try:
            current = self.client.get(f"/windows/{self.window}").get("current") or {}
        except (ApiError, Unreachable):
            return None
        return {"result": "accepted", "ticket": {"code": current.get("code"), "service": {"code": current.get("service")}}}

    def citizen_rates(self, grade: int, reason: str | None) -> None:
        from drivers import qb68

        ev = self.evaluator
        if ev is None or grade == 0:
            return  # grade 0: the citizen walks away and the prompt times out by itself
        # pressed even when the keys went dark (the window called the next citizen): the server refuses it
        ev.rate(qb68.Grade(grade), qb68.RatingReason(REASONS[reason]) if reason else None)


def start_people(base_url: str, config: HallConfig, now: Callable[[], datetime], speed: float,
                 stop: threading.Event, clerk_token: str, kiosk_token: str, rate_token: str | None,
                 per_day: int = 700, seed: int = 1, devices=None) -> list[threading.Thread]:
    """Start citizens and one clerk per window that has staff to put there.

    With `devices` (drivers.sim.cli.SimHall, served by a caller daemon) clerks press the simulated
    keypads and citizens the simulated evaluators; without, both act on the HTTP API directly.
    """
    clock = HallTime(now, speed, stop)
    threads: list[threading.Thread] = [Citizens(ApiClient(base_url, kiosk_token), config, clock, per_day, seed)]
    staff = list(config.staff)
    rate_client = ApiClient(base_url, rate_token) if rate_token else None
    for i, number in enumerate(sorted(config.windows)):
        if i >= len(staff):
            break
        w = config.windows[number]
        keypad = _sim_device(devices, w.keypad) if devices is not None else None
        if keypad is not None:
            threads.append(KeypadClerk(ApiClient(base_url, clerk_token), config, number, staff[i], clock, keypad,
                                       _sim_device(devices, w.evaluator), seed=seed * 1000 + number))
        else:
            threads.append(Clerk(ApiClient(base_url, clerk_token), config, number, staff[i], clock,
                                 seed=seed * 1000 + number, rate_client=rate_client))
    for t in threads:
        t.start()
    return threads


def _sim_device(devices, ref):
    if ref is None or ref.bus not in devices.qb68:
        return None
    return devices.qb68[ref.bus].devices.get(ref.address)
