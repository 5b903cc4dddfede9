"""County reports across centres, read from the per-day figures table (county/rollup.py): by centre,
matter, department, staff or month, over any period; 红黑榜 of centres and staff; the rows of the
monthly public notice (按月公示). Additive parts only (counts, wait totals), so any grouping adds up;
好评率, 主动评价率 and 未评价率 are the hall's own (server.rating_record: definitions and `rates`)."""

from __future__ import annotations

from datetime import date

import psycopg

from server.rating_record import INDICATOR_LEGEND, rates

BY = {"hall": "中心", "service": "事项", "department": "部门", "staff": "工作人员", "month": "月份"}
COLUMNS = [("name", "名称"), ("hall_name", "所属中心"), ("issued", "取号数"), ("services_done", "办件数"),
           ("no_shows", "过号数"), ("mean_wait", "平均等候(分)"), ("ratings", "评价数"), ("good_rate", "好评率"),
           ("active_rate", "主动评价率"), ("unrated_rate", "未评价率"), ("bad_ratings", "差评数"), ("cases_opened", "差评立案"), ("cases_closed", "差评办结")]
RATES = ("good_rate", "active_rate", "unrated_rate")  # shown in per cent
# The rates' definitions, shown under every table that has them: the hall's own, declared once.
DEFINITIONS = [(label, INDICATOR_LEGEND[key]) for key, label in COLUMNS if key in RATES]
MIN_RATINGS = 5  # a 红黑榜 entry needs this many ratings in the period


def rows(conn: psycopg.Connection, by: str, first: date, last: date) -> list[dict]:
    """One row per centre / matter / department / staff member / month of `first`..`last`."""
    dim = "hall" if by in ("hall", "month") else by
    if by == "hall":
        group, label = "f.hall", "max(h.name)"
    elif by == "month":
        group, label = "to_char(f.day, 'YYYY-MM')", "to_char(f.day, 'YYYY-MM')"
    elif by == "staff":  # staff numbers are each hall's own: a person is (hall, number)
        group, label = "f.hall, f.key", "max(f.name)"
    else:  # matters and departments carry the same code and name at every level (三级四同)
        group, label = "f.key", "max(f.name)"
    hall_name = "max(h.name)" if by in ("hall", "staff") else "''"
    cur = conn.execute(
        f"SELECT {label} AS name, {hall_name} AS hall_name, sum(issued), sum(services_done), sum(no_shows), "
        "sum(waits), sum(wait_minutes_total), sum(ratings), sum(good_ratings), sum(bad_ratings), "
        "sum(cases_opened), sum(cases_closed), sum(rated_on_site), sum(unrated) "
        f"FROM day_figures f JOIN halls h ON h.code = f.hall WHERE f.dim = %s AND f.day BETWEEN %s AND %s "
        f"GROUP BY {group} ORDER BY 1", [dim, first, last])
    out = []
    for (name, hall_name, issued, done, no_shows, waits, wait_total, ratings, good, bad, opened, closed,
         on_site, unrated) in cur:
        out.append({"name": name or "（未登记）", "hall_name": hall_name, "issued": int(issued),
                    "services_done": int(done), "no_shows": int(no_shows),
                    "mean_wait": round(wait_total / waits, 1) if waits else None, "ratings": int(ratings),
                    **rates(int(done), int(on_site), int(unrated), int(ratings), int(good)), "bad_ratings": int(bad),
                    "cases_opened": int(opened), "cases_closed": int(closed)})
    return out


def red_black(table: list[dict], n: int = 3) -> tuple[list[dict], list[dict]]:
    """红榜 (highest 好评率, then fewest 差评) and 黑榜 (lowest), among rows with enough ratings."""
    rated = [r for r in table if r["ratings"] >= MIN_RATINGS]
    ranked = sorted(rated, key=lambda r: (-r["good_rate"], r["bad_ratings"], r["name"]))
    red = ranked[:n]
    black = [r for r in reversed(ranked) if r not in red][:n]
    return red, black


def cell(key: str, value: object) -> object:
    if key in RATES:
        return "" if value is None else round(value * 100, 1)
    return "" if value is None else value
