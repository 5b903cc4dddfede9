"""Reports over any period, grouped by window, staff, service, department, day or month.

Figures per group (all from the store's tables):
- tickets       distinct tickets called at least once (for day and month groups: tickets issued);
- served / no_shows / transfers   service records that ended finished / no-show / transferred;
- mean_wait, p90_wait   minutes from arrival to the ticket's first call, counted for the first call;
- mean_service  minutes from the start of service (or the call) to its end, finished services;
- ratings, good_rate (好评率 = grades 3–5 / all), mean_score (10/8/6/3/0), bad (grades 1–2),
  grouped by the service rated and its time of service;
- alerts, red_alerts    supervision alerts raised in the period (for the window, staff, service …).

红黑榜 (honour and warning lists) rank windows or staff with at least `min_served` services by

    score = 40 × rating + 30 × volume + 30 × discipline           (0–100)

where rating = mean_score / 10 (the hall's mean when a group has no ratings, so being unrated neither
helps nor hurts), volume = served / the most served among the ranked, and discipline =
max(0, 1 − alert points / (2 × days worked)) with a red card 3 points, a yellow 2, a warning 1.
The top `size` form the 红榜, the bottom `size` (not on the 红榜) the 黑榜.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from hallq.model import HallConfig

from .store import Store
from .tickets import GRADE_SCORES

DIMENSIONS = {"window": "窗口", "staff": "工作人员", "service": "事项", "department": "部门", "day": "日期",
              "month": "月份"}
PERIODS = {"day": "日", "week": "周", "month": "月", "year": "年"}
COLUMNS = [
    ("key", "编码"), ("name", "名称"), ("tickets", "接待人次"), ("served", "办结"), ("no_shows", "过号"),
    ("transfers", "转办"), ("mean_wait", "平均等候(分)"), ("p90_wait", "90%等候(分)"),
    ("mean_service", "平均办理(分)"), ("ratings", "评价数"), ("good_rate", "好评率"), ("mean_score", "平均分"),
    ("bad", "差评"), ("alerts", "监察告警"), ("red_alerts", "红牌"),
]
ALERT_POINTS = {"red": 3, "yellow": 2, "warning": 1}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive
    kind: str
    label: str


def period_for(kind: str, anchor: date) -> Period:
    """The day, ISO week (Mon–Sun), calendar month or year containing `anchor`."""
    if kind == "day":
        return Period(anchor, anchor + timedelta(days=1), kind, anchor.isoformat())
    if kind == "week":
        start = anchor - timedelta(days=anchor.weekday())
        year, week, _ = start.isocalendar()
        return Period(start, start + timedelta(days=7), kind, f"{year}年第{week}周（{start:%m-%d}起）")
    if kind == "month":
        start = anchor.replace(day=1)
        days = calendar.monthrange(anchor.year, anchor.month)[1]
        return Period(start, start + timedelta(days=days), kind, f"{anchor.year}年{anchor.month}月")
    if kind == "year":
        return Period(date(anchor.year, 1, 1), date(anchor.year + 1, 1, 1), kind, f"{anchor.year}年")
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def _group(dim: str, table: str) -> str:
    """SQL for the group key of `dim` in `table`."""
    time_column = {"records": "day", "ratings": "served_at", "alerts": "raised_at", "tickets": "day"}[table]
    if dim == "day":
        return f"substr({time_column}, 1, 10)"
    if dim == "month":
        return f"substr({time_column}, 1, 7)"
    if dim == "all":
        return "'all'"
    return f"[{dim}]"


_SCORE_SQL = "CASE grade " + " ".join(f"WHEN {g} THEN {s}" for g, s in GRADE_SCORES.items()) + " END"


def _p90(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.9 * len(values)))]


def figures(store: Store, period: Period, dim: str) -> dict[str, dict]:
    """Group key -> figures, for every group with any activity in the period."""
    if dim not in DIMENSIONS and dim != "all":
        raise ValueError(f"dimension must be one of {', '.join(DIMENSIONS)}")
    lo, hi = period.start.isoformat(), period.end.isoformat()
    out: dict[str, dict] = {}

    def row(key) -> dict:
        key = "" if key is None else str(key)
        return out.setdefault(key, {"key": key, "tickets": 0, "served": 0, "no_shows": 0, "transfers": 0,
                                    "mean_wait": None, "p90_wait": None, "mean_service": None, "ratings": 0,
                                    "good_rate": None, "mean_score": None, "bad": 0, "alerts": 0,
                                    "red_alerts": 0, "alert_points": 0, "days": 0})

    g = _group(dim, "records")
    for r in store.rows(
        f"SELECT {g} AS k, COUNT(DISTINCT ticket_id) AS tickets, SUM([end] = 'finished') AS served, "
        "SUM([end] = 'no_show') AS no_shows, SUM([end] = 'transferred') AS transfers, COUNT(DISTINCT day) AS days, "
        "AVG(CASE WHEN [end] = 'finished' THEN "
        "(julianday(ended_at) - julianday(COALESCE(started_at, called_at))) * 1440 END) AS mean_service "
        f"FROM records WHERE day >= ? AND day < ? GROUP BY k", [lo, hi],
    ):
        x = row(r["k"])
        x.update(tickets=r["tickets"], served=r["served"] or 0, no_shows=r["no_shows"] or 0,
                 transfers=r["transfers"] or 0, days=r["days"], mean_service=_round(r["mean_service"]))
    waits: dict[str, list[float]] = {}
    for k, w in store.db.execute(
        f"SELECT {g} AS k, (julianday(called_at) - julianday(arrived_at)) * 1440 AS w FROM records r "
        "WHERE day >= ? AND day < ? AND NOT EXISTS "
        "(SELECT 1 FROM records p WHERE p.ticket_id = r.ticket_id AND p.id < r.id)", [lo, hi],
    ).fetchall():
        waits.setdefault("" if k is None else str(k), []).append(w)
    for k, values in waits.items():
        row(k).update(mean_wait=_round(sum(values) / len(values)), p90_wait=_round(_p90(values)))
    if dim in ("day", "month"):
        for r in store.rows(f"SELECT {_group(dim, 'tickets')} AS k, COUNT(*) AS n FROM tickets "
                            "WHERE day >= ? AND day < ? GROUP BY k", [lo, hi]):
            row(r["k"])["tickets"] = r["n"]
    for r in store.rows(
        f"SELECT {_group(dim, 'ratings')} AS k, COUNT(*) AS n, SUM(grade >= 3) AS good, AVG({_SCORE_SQL}) AS score "
        "FROM ratings WHERE served_at >= ? AND served_at < ? GROUP BY k", [lo, hi],
    ):
        row(r["k"]).update(ratings=r["n"], good_rate=round(r["good"] / r["n"], 4), mean_score=_round(r["score"], 2),
                           bad=r["n"] - r["good"])
    for r in store.rows(
        f"SELECT {_group(dim, 'alerts')} AS k, COUNT(*) AS n, SUM(level = 'red') AS red, "
        "SUM(CASE level WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 ELSE 1 END) AS points "
        "FROM alerts WHERE raised_at >= ? AND raised_at < ? GROUP BY k", [lo, hi],
    ):
        if r["k"] is not None or dim == "all":
            row(r["k"]).update(alerts=r["n"], red_alerts=r["red"], alert_points=r["points"])
    return out


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def names(config: HallConfig, dim: str) -> dict[str, str]:
    """Display names for group keys."""
    if dim == "window":
        return {str(n): f"{n}号 {w.name}" for n, w in config.windows.items()}
    if dim == "staff":
        return {n: f"{s.name}（{n}）" for n, s in config.staff.items()}
    if dim == "service":
        return {c: s.name for c, s in config.services.items()}
    return {}


def report(store: Store, config: HallConfig, period: Period, dim: str) -> list[dict]:
    """One row per group, with its display name, in key order (numeric for windows)."""
    found = figures(store, period, dim)
    label = names(config, dim)
    rows = []
    for key, x in found.items():
        rows.append({**x, "name": label.get(key, key or "（未登记）")})
    return sorted(rows, key=lambda r: (int(r["key"]) if dim == "window" and r["key"].isdigit() else 0, r["key"]))


def totals(store: Store, period: Period) -> dict:
    found = figures(store, period, "all")
    total = found.get("all") or next(iter(found.values()), None)
    issued = store.rows("SELECT COUNT(*) AS n FROM tickets WHERE day >= ? AND day < ?",
                        [period.start.isoformat(), period.end.isoformat()])[0]["n"]
    if total is None:
        return {"issued": issued, "tickets": 0, "served": 0, "no_shows": 0, "transfers": 0, "mean_wait": None,
                "p90_wait": None, "mean_service": None, "ratings": 0, "good_rate": None, "mean_score": None,
                "bad": 0, "alerts": 0, "red_alerts": 0}
    return {**total, "issued": issued}


def honour_board(rows: list[dict], min_served: int = 20, size: int = 3) -> tuple[list[dict], list[dict]]:
    """(红榜, 黑榜) from report rows by window or staff, scored as the module docstring says."""
    ranked = [r for r in rows if r["served"] >= min_served and r["key"]]
    if not ranked:
        return [], []
    rated = [r for r in ranked if r["mean_score"] is not None]
    hall_score = (sum(r["mean_score"] * r["ratings"] for r in rated) / sum(r["ratings"] for r in rated)
                  if rated else 10.0)
    most = max(r["served"] for r in ranked)
    scored = []
    for r in ranked:
        rating = (r["mean_score"] if r["mean_score"] is not None else hall_score) / 10
        volume = r["served"] / most
        discipline = max(0.0, 1 - r["alert_points"] / (2 * max(1, r["days"])))
        score = 40 * rating + 30 * volume + 30 * discipline
        scored.append({**r, "score": round(score, 1)})
    scored.sort(key=lambda r: (-r["score"], r["key"]))
    top = scored[:size]
    bottom = [r for r in reversed(scored) if r not in top][:size]
    return top, bottom
