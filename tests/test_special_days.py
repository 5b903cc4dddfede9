"""Special days in the hall's hours: holidays closed, 调休 working days open, 延时服务 and 错时服务
with their own sessions, and China's official holidays from chinese-calendar when asked for."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hallfactory import small_hall
from test_config import BASE, GOOD_WINDOW, problems_of

from hallq.config import parse_config
from hallq.model import Session, SpecialDay
from server.clock import ManualClock
from server.engine import Engine
from server.errors import Conflict
from server.hours import day_sessions
from server.store import Store

TZ = ZoneInfo("Asia/Shanghai")
SPECIAL = """
[[hours.special_days]]
date = 2026-10-01
kind = "closed"
note = "国庆节"

[[hours.special_days]]
date = "2026-10-10"
kind = "open"
note = "国庆调休上班"

[[hours.special_days]]
date = "2026-11-24"
kind = "extended"
sessions = [["08:30", "12:00"], ["14:30", "19:00"]]
"""


def test_special_days_load_from_toml_and_are_checked():
    hall = parse_config(BASE.replace("[[priorities]]", SPECIAL + "\n[[priorities]]", 1) + GOOD_WINDOW)
    days = {d.date: d for d in hall.hours.special_days}
    assert days[date(2026, 10, 1)].kind == "closed" and days[date(2026, 10, 10)].sessions is None
    assert days[date(2026, 11, 24)].sessions[-1] == Session(time(14, 30), time(19, 0))
    bad = SPECIAL.replace('date = "2026-10-10"', 'date = "2026-10-01"').replace('kind = "extended"', 'kind = "later"')
    bad = bad.replace('note = "国庆节"', 'sessions = [["08:30", "12:00"]]')
    text = BASE.replace("[[priorities]]", bad + "\n[[priorities]]", 1) + GOOD_WINDOW
    first = text.splitlines().index("date = 2026-10-01") + 1
    assert problems_of(text) == [
        "hours.special_days[0].sessions: a closed day has no sessions",
        f"hours.special_days[1].date: duplicate special day 2026-10-01 (first at hours.special_days[0].date, line {first})",
        "hours.special_days[2].kind: 'later' is not one of closed, open, extended, staggered",
    ]


def engine_at(tmp_path, when: datetime, **hours) -> Engine:
    hall = small_hall()
    hall = dataclasses.replace(hall, hours=dataclasses.replace(hall.hours, **hours))
    return Engine(hall, Store(tmp_path / "days.db"), ManualClock(when))


@pytest.mark.parametrize(("when", "open_"), [
    (datetime(2026, 11, 23, 9, 0, tzinfo=TZ), False),   # a Monday made a closed day
    (datetime(2026, 11, 28, 9, 0, tzinfo=TZ), True),    # a Saturday made a 调休 working day
    (datetime(2026, 11, 24, 18, 0, tzinfo=TZ), True),   # 延时服务 until 19:00
    (datetime(2026, 11, 25, 18, 0, tzinfo=TZ), False),  # an ordinary Wednesday: closed at 17:30
])
def test_the_engine_issues_by_the_days_own_sessions(tmp_path, when, open_):
    special = (SpecialDay(date(2026, 11, 23), "closed", note="停电检修"), SpecialDay(date(2026, 11, 28), "open"),
               SpecialDay(date(2026, 11, 24), "extended", (Session(time(8, 30), time(12, 0)), Session(time(14, 30), time(19, 0)))))
    engine = engine_at(tmp_path, when, special_days=special)
    if open_:
        assert engine.issue("S101").code == "A001"
    else:
        with pytest.raises(Conflict) as refused:
            engine.issue("S101")
        assert refused.value.code == "hall_closed"


def test_official_holidays_and_make_up_days_from_chinese_calendar():
    hall = small_hall()
    hours = dataclasses.replace(hall.hours, official_holidays=True)
    assert day_sessions(hours, date(2026, 10, 1)) == ()  # 国庆节
    assert day_sessions(hours, date(2026, 10, 12)) == hall.hours.sessions  # an ordinary Monday
    assert day_sessions(hall.hours, date(2026, 10, 1)) == hall.hours.sessions  # not asked for: the usual week
    saturdays = [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)]
    import chinese_calendar

    make_up = [d for d in saturdays if chinese_calendar.is_workday(d)]
    assert make_up, "chinese-calendar lists no 2026 make-up working day among these weekends"
    assert all(day_sessions(hours, d) == hall.hours.sessions for d in make_up)


def test_appointments_follow_the_days_own_sessions(tmp_path):
    """The booking page offered 法定节假日 and 闭厅 days (it read only `weekdays`) and the hall's usual
    sessions on a day with its own; and any time was booked, by the page and the API alike (03:00,
    lunch, a holiday): a citizen sent to a closed hall."""
    from server import booking
    from server.errors import Invalid

    special = (SpecialDay(date(2026, 9, 29), "closed", note="停电检修"),
               SpecialDay(date(2026, 9, 30), "extended", (Session(time(8, 30), time(12, 0)), Session(time(14, 30), time(19, 0)))))
    engine = engine_at(tmp_path, datetime(2026, 9, 28, 9, 0, tzinfo=TZ), official_holidays=True, special_days=special)
    config, now = engine.config, engine.now()
    offered = booking.days(config, now)  # days_ahead 7: to 10-05; 10-01…10-05 are 国庆节, 10-03/04 a weekend
    assert offered == [date(2026, 9, 28), date(2026, 9, 30)]
    evening = [s["start"] for s in booking.slots(config, engine.store, "S101", date(2026, 9, 30), now)][-2:]
    assert [f"{s:%H:%M}" for s in evening] == ["18:00", "18:30"]  # 延时服务 until 19:00
    assert engine.book("S101", datetime(2026, 9, 30, 18, 30, tzinfo=TZ), "13800000001")["day"] == "2026-09-30"
    for slot in [datetime(2026, 10, 1, 9, 0), datetime(2026, 9, 29, 9, 0), datetime(2026, 9, 30, 3, 0),
                 datetime(2026, 9, 28, 12, 0), datetime(2026, 9, 28, 17, 30), datetime(2026, 10, 3, 9, 0)]:
        with pytest.raises(Invalid) as refused:
            engine.book("S101", slot.replace(tzinfo=TZ), "13800000002")
        assert refused.value.field == "slot_start" and "办公时间" in refused.value.message, slot
    a = engine.book("S101", datetime(2026, 9, 28, 9, 30, tzinfo=TZ), "13800000003")
    with pytest.raises(Invalid):
        engine.move_appointment(a["code"], datetime(2026, 10, 2, 9, 30, tzinfo=TZ), "0003")
