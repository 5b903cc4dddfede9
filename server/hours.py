"""When the hall hands out tickets, and for which matters: shared by the engine and the simulator.

Tickets are issued inside opening sessions on opening days, until `stop_issuing_minutes` before the
day's last closing. At lunch (between sessions) only matters that a lunch window (午间服务) serves
as primary or secondary are issued: a citizen given a ticket nobody will call until 14:30 is worse
off than one told to come back. Citizens already holding tickets are always served (延时服务). A "一件事" bundle is issued at
lunch only when lunch windows serve every one of its steps: otherwise its citizen would be stranded
after the first.

Which sessions a day has (`day_sessions`): a special day's own (闭厅 none, 调休上班 / 延时服务 /
错时服务 theirs or the usual ones); with `official_holidays`, none on 法定节假日 and the usual ones
on a 调休 working day at a weekend (chinese-calendar); else the usual ones on opening weekdays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

from hallq.model import Bundle, HallConfig, Hours, Session


def day_sessions(hours: Hours, day: date) -> tuple[Session, ...]:
    """The opening sessions of `day` (none: closed)."""
    if not hours.special_days and not hours.official_holidays:  # the engine's usual case: no lookup
        return hours.sessions if day.isoweekday() in hours.weekdays else ()
    return _day_sessions(hours, day)


@lru_cache(maxsize=512)
def _day_sessions(hours: Hours, day: date) -> tuple[Session, ...]:
    for special in hours.special_days:
        if special.date == day:
            return () if special.kind == "closed" else (special.sessions or hours.sessions)
    if hours.official_holidays:
        import chinese_calendar

        try:
            off, holiday = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:  # a year the package has no data for: the usual week
            off, holiday = day.isoweekday() >= 6, None
        if off and holiday is not None:
            return ()  # 法定节假日
        if not off and day.isoweekday() >= 6:
            return hours.sessions  # 调休: a weekend that is a working day
    return hours.sessions if day.isoweekday() in hours.weekdays else ()


def in_session(config: HallConfig, now: datetime) -> bool:
    t = now.time()
    return any(s.start <= t < s.end for s in day_sessions(config.hours, now.date()))


def at_lunch(config: HallConfig, now: datetime) -> bool:
    """Between two sessions of an opening day."""
    s = day_sessions(config.hours, now.date())
    t = now.time()
    return len(s) > 1 and s[0].start <= t < s[-1].end and not in_session(config, now)


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
    sessions = day_sessions(hours, now.date())
    if not sessions:
        return False
    last_end = datetime.combine(now.date(), sessions[-1].end, now.tzinfo)
    if now >= last_end - timedelta(minutes=hours.stop_issuing_minutes):
        return False
    if in_session(config, now):
        return True
    return at_lunch(config, now) and set(steps_of(config, matter)) <= lunch_services(config)


def next_issuing(config: HallConfig, matter: str | Sequence[str], now: datetime) -> datetime | None:
    """The next moment today a ticket for `matter` is handed out, or None (not again today)."""
    if issuing(config, matter, now):
        return now
    for s in day_sessions(config.hours, now.date()):
        start = datetime.combine(now.date(), s.start, now.tzinfo)
        if start > now and issuing(config, matter, start):
            return start
    return None
