"""Chinese working days: official holidays and make-up working days (调休) from `chinese_calendar`.

Deadlines for 好差评 call-backs and fixes and for 承诺件 count working days, and the State Council
publishes each year's holidays only in the autumn before. `chinese_calendar` ships that data; for a
year it does not cover we raise `CalendarGap` instead of guessing from weekdays, so an operator
upgrades the package rather than a citizen getting a wrong deadline.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import chinese_calendar

from .errors import HallqError


class CalendarGap(HallqError):
    """The holiday calendar has no data for the date asked about."""

    status = 503
    code = "calendar_gap"


def calendar_version() -> str:
    return getattr(chinese_calendar, "__version__", "?")


def is_working_day(day: date) -> bool:
    """A weekday that is not a holiday, or a weekend day made a working day (调休上班)."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError as exc:
        raise CalendarGap(
            f"chinese-calendar {calendar_version()} has no holiday data for {day.year}; "
            "upgrade the chinese-calendar package", field="date",
        ) from exc


def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start` (start itself never counts)."""
    if days < 0:
        raise ValueError("days must be zero or more")
    day = start
    while days:
        day += timedelta(days=1)
        if is_working_day(day):
            days -= 1
    return day


def due_at(start: datetime, days: int) -> datetime:
    """A deadline "within N working days" of `start`: the end of the N-th working day after it."""
    last = add_working_days(start.date(), days)
    return datetime.combine(last + timedelta(days=1), time(0, 0), start.tzinfo)


def working_days_left(today: date, deadline: date) -> int:
    """Working days after `today` up to and including `deadline`; 0 on the deadline day itself
    (or on a day off just before it), negative (working days overdue) once it has passed."""
    if today == deadline:
        return 0
    step = 1 if deadline > today else -1
    count = 0
    day = today
    while day != deadline:
        day += timedelta(days=step)
        if is_working_day(day):
            count += 1
    return count * step
