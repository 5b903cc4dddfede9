"""Chinese working days: official holidays and make-up working days (调休) from `chinese_calendar`.

Deadlines for 好差评 call-backs and fixes and for 承诺件 count working days. The State Council
publishes each year's holidays only late in the year before, and the package follows some time
later, so a deadline can reach into a year it has no data for. Such days are counted provisionally
as Monday–Friday (holidays only ever push a deadline later, so the provisional one is not later than
the real one in practice: it errs towards calling the citizen back sooner). `gap_note` says when that
happened, so the deadline is shown as provisional, an alert asks for the package to be upgraded, and
the deadline is recomputed once it is.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar


def calendar_version() -> str:
    return getattr(chinese_calendar, "__version__", "?")


@lru_cache(maxsize=64)
def covered(year: int) -> bool:
    """Whether chinese_calendar has the official holidays of `year`."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
        chinese_calendar.is_workday(date(year, 12, 31))
        return True
    except NotImplementedError:
        return False


def is_working_day(day: date) -> bool:
    """A weekday that is not a holiday, or a weekend day made a working day (调休上班); in a year the
    calendar does not cover, provisionally any Monday–Friday."""
    if covered(day.year):
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5


def gap_note(first: date, last: date) -> str | None:
    """Why a deadline between `first` and `last` is provisional, or None when it is not."""
    missing = [y for y in range(min(first, last).year, max(first, last).year + 1) if not covered(y)]
    if not missing:
        return None
    years = "、".join(str(y) for y in missing)
    return (f"chinese-calendar {calendar_version()} 无 {years} 年节假日数据，期限暂按周一至周五计算；"
            "升级 chinese-calendar 后自动重算")


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


def working_days_left(today: date, deadline: date, limit: int | None = None) -> int:
    """Working days after `today` up to and including `deadline`; 0 on the deadline day itself
    (or on a day off just before it), negative once it has passed: minus the working days since
    it, at least 1. With `limit`, counting a future deadline stops past it (the answer is then limit + 1): a caller that
    only asks "is it near?" does not walk the calendar to a deadline months away."""
    if today == deadline:
        return 0
    if today < deadline:  # the working days of (today, deadline]
        count, day = 0, today
        while day != deadline:
            day += timedelta(days=1)
            if is_working_day(day):
                count += 1
                if limit is not None and count > limit:
                    return count
        return count
    count, day = 0, today  # overdue: the working days of (deadline, today], so not 1 more on a day off,
    while day != deadline:  # and at least 1: a deadline passed over a weekend is not due today
        if is_working_day(day):
            count += 1
        day -= timedelta(days=1)
    return -max(1, count)
