"""When the hall hands out tickets, and for which matters: shared by the engine and the simulator.

Tickets are issued inside opening sessions on opening days, until `stop_issuing_minutes` before the
day's last closing. At lunch (between sessions) only matters that a lunch window (午间服务) serves
as primary or secondary are issued: a citizen given a ticket nobody will call until 14:30 is worse
off than one told to come back. Citizens already holding tickets are always served (延时服务). A "一件事" bundle is issued at
lunch only when lunch windows serve every one of its steps: otherwise its citizen would be stranded
after the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hallq.model import Bundle, HallConfig


def in_session(config: HallConfig, now: datetime) -> bool:
    t = now.time()
    return now.isoweekday() in config.hours.weekdays and any(s.start <= t < s.end for s in config.hours.sessions)


def at_lunch(config: HallConfig, now: datetime) -> bool:
    """Between two sessions of an opening day."""
    s = config.hours.sessions
    t = now.time()
    return (now.isoweekday() in config.hours.weekdays and len(s) > 1 and s[0].start <= t < s[-1].end
            and not in_session(config, now))


def lunch_services(config: HallConfig) -> set[str]:
    """Matters a lunch window serves as primary or secondary."""
    out: set[str] = set()
    for n in config.hours.lunch_windows:
        w = config.windows.get(n)
        if w is not None:
            out |= {code for code, weight in w.services.items() if weight in ("primary", "secondary")}
    return out


def steps_of(config: HallConfig, matter: str | Sequence[str]) -> tuple[str, ...]:
    """The services a ticket walks through: a service code, a bundle code, or the steps themselves."""
    if isinstance(matter, str):
        item = config.matter(matter)
        return tuple(item.steps) if isinstance(item, Bundle) else (matter,)
    return tuple(matter)


def issuing(config: HallConfig, matter: str | Sequence[str], now: datetime) -> bool:
    """Whether a ticket for `matter` (service or bundle code, or a bundle's steps) is handed out now."""
    hours = config.hours
    if now.isoweekday() not in hours.weekdays or not hours.sessions:
        return False
    last_end = datetime.combine(now.date(), hours.sessions[-1].end, now.tzinfo)
    if now >= last_end - timedelta(minutes=hours.stop_issuing_minutes):
        return False
    if in_session(config, now):
        return True
    return at_lunch(config, now) and set(steps_of(config, matter)) <= lunch_services(config)


def next_issuing(config: HallConfig, matter: str | Sequence[str], now: datetime) -> datetime | None:
    """The next moment today a ticket for `matter` is handed out, or None (not again today)."""
    if issuing(config, matter, now):
        return now
    for s in config.hours.sessions:
        start = datetime.combine(now.date(), s.start, now.tzinfo)
        if start > now and issuing(config, matter, start):
            return start
    return None
