"""Working-day deadlines over the 2026 holidays and make-up working days (chinese_calendar data)."""

from datetime import date, datetime

from webhall import TZ

from server.workdays import add_working_days, covered, due_at, gap_note, is_working_day, working_days_left


def test_national_day_holiday_is_skipped():
    # 国庆 2026: 1–7 October off; Saturday 10 October is a make-up working day.
    assert not is_working_day(date(2026, 10, 1))
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_make_up_saturday_counts_as_a_working_day():
    assert date(2026, 10, 10).isoweekday() == 6
    assert is_working_day(date(2026, 10, 10))
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert add_working_days(date(2026, 9, 30), 4) == date(2026, 10, 12)  # Sunday 11th is off


def test_spring_festival_2026():
    # Friday 13 Feb, then the make-up Saturday 14 Feb, then 春节 15–23 Feb off.
    assert add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_plain_weekend_is_skipped():
    assert add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday -> Monday


def test_due_is_the_end_of_the_last_working_day():
    rated = datetime(2026, 9, 30, 16, 5, tzinfo=TZ)
    assert due_at(rated, 1) == datetime(2026, 10, 9, 0, 0, tzinfo=TZ)


def test_fifteen_working_days_across_national_day():
    # 30 Sep + 15 working days: 8,9,10(Sat),12,13,14,15,16,19,20,21,22,23,26,27 October.
    assert add_working_days(date(2026, 9, 30), 15) == date(2026, 10, 27)


def test_working_days_left_and_overdue():
    assert working_days_left(date(2026, 9, 30), date(2026, 10, 9)) == 2
    assert working_days_left(date(2026, 10, 9), date(2026, 10, 9)) == 0
    # Past the deadline of Thursday 8 Oct: 9 (Fri), 10 (make-up Sat), 12 (Mon) are overdue days.
    assert working_days_left(date(2026, 10, 12), date(2026, 10, 8)) == -3
    # A day off after the deadline adds no overdue day: Sunday 11 Oct is still 2 (9 and 10) overdue,
    # (it said 3, counting the deadline day itself); a Friday deadline is 1 overdue on Saturday and Monday.
    assert [working_days_left(date(2026, 10, d), date(2026, 10, 8)) for d in (9, 10, 11)] == [-1, -2, -2]
    assert [working_days_left(date(2026, 11, d), date(2026, 11, 27)) for d in (28, 30)] == [-1, -1]


def test_a_year_without_data_counts_weekdays_and_says_so():
    # 2099-01-05 is a Monday; no calendar will have 2099 for a long while.
    assert not covered(2099)
    assert is_working_day(date(2099, 1, 5)) and not is_working_day(date(2099, 1, 3))
    assert add_working_days(date(2099, 1, 5), 5) == date(2099, 1, 12)
    note = gap_note(date(2099, 1, 5), date(2099, 1, 12))
    assert "2099" in note and "chinese-calendar" in note and "升级" in note
    assert gap_note(date(2026, 9, 30), date(2026, 10, 9)) is None
