"""What the citizens' booking page (/book) offers: bookable matters, days and slots with the room
left in each. Reads only; booking, cancelling and moving are engine actions (server/engine.py),
which check the same capacity again under the engine lock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hallq.model import HallConfig

from .store import Store


def bookable(config: HallConfig) -> list:
    """Services and bundles with room in a slot (capacity above 0), in menu order."""
    items = list(config.services.values()) + list(config.bundles.values())
    return [i for i in items if config.appointments.capacity(i.code) > 0]


def days(config: HallConfig, now: datetime) -> list[date]:
    """Opening days from today up to `appointments.days_ahead` ahead."""
    first = now.date()
    span = [first + timedelta(days=n) for n in range(config.appointments.days_ahead + 1)]
    return [d for d in span if d.isoweekday() in config.hours.weekdays]


def slots(config: HallConfig, store: Store, matter: str, day: date, now: datetime) -> list[dict]:
    """Every slot of `day` inside the opening sessions that starts after now: start, room left."""
    step = timedelta(minutes=config.appointments.slot_minutes)
    capacity = config.appointments.capacity(matter)
    taken = {r["slot_start"]: r["n"] for r in store.rows(
        "SELECT slot_start, COUNT(*) AS n FROM appointments WHERE service = ? AND day = ? AND state IN "
        "('booked', 'checked_in') GROUP BY slot_start", [matter, day.isoformat()])}
    out = []
    for s in config.hours.sessions:
        start = datetime.combine(day, s.start, now.tzinfo)
        end = datetime.combine(day, s.end, now.tzinfo)
        minutes = start.hour * 60 + start.minute
        if minutes % config.appointments.slot_minutes:  # the first boundary inside the session
            start += timedelta(minutes=config.appointments.slot_minutes - minutes % config.appointments.slot_minutes)
        while start + step <= end:
            if start > now:
                out.append({"start": start, "left": max(0, capacity - taken.get(start.isoformat(), 0))})
            start += step
    return out
