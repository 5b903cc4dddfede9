"""What the citizens' booking page (/book) offers: bookable matters, days and slots with the room
left in each. Reads only; booking, cancelling and moving are engine actions (server/engine.py),
which check the same capacity again under the engine lock."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from hallq.model import HallConfig

from .hours import day_sessions
from .store import Store


def bookable(config: HallConfig) -> list:
    """Services and bundles with room in a slot (capacity above 0), in menu order."""
    items = list(config.services.values()) + list(config.bundles.values())
    return [i for i in items if config.appointments.capacity(i.code) > 0]


def days(config: HallConfig, now: datetime) -> list[date]:
    """Opening days from today up to `appointments.days_ahead` ahead: the hall's calendar
    (`day_sessions`: 法定节假日 and 闭厅 are not offered, a 调休 working weekend is)."""
    first = now.date()
    span = [first + timedelta(days=n) for n in range(config.appointments.days_ahead + 1)]
    return [d for d in span if day_sessions(config.hours, d)]


def starts(config: HallConfig, day: date, tz: tzinfo | None) -> list[datetime]:
    """Every slot start of `day`: on a slot boundary inside one of that day's opening sessions,
    the slot ending by the session's end. The only times an appointment can be made for."""
    step = timedelta(minutes=config.appointments.slot_minutes)
    out = []
    for s in day_sessions(config.hours, day):
        start = datetime.combine(day, s.start, tz)
        end = datetime.combine(day, s.end, tz)
        minutes = start.hour * 60 + start.minute
        if minutes % config.appointments.slot_minutes:  # the first boundary inside the session
            start += timedelta(minutes=config.appointments.slot_minutes - minutes % config.appointments.slot_minutes)
        while start + step <= end:
            out.append(start)
            start += step
    return out


def slots(config: HallConfig, store: Store, matter: str, day: date, now: datetime) -> list[dict]:
    """Every slot of `day` inside its opening sessions that starts after now: start, room left."""
    capacity = config.appointments.capacity(matter)
    taken = {r["slot_start"]: r["n"] for r in store.rows(
        "SELECT slot_start, COUNT(*) AS n FROM appointments WHERE service = ? AND day = ? AND state IN "
        "('booked', 'checked_in') GROUP BY slot_start", [matter, day.isoformat()])}
    return [{"start": start, "left": max(0, capacity - taken.get(start.isoformat(), 0))}
            for start in starts(config, day, now.tzinfo) if start > now]
