"""Reports over any period, grouped by window, staff, service, department, day or month.

Figures per group (all from the store's tables):
Only service records that have ended count (a call in progress shows on the board, not here).

- received (接待) every service in the group: each time a citizen was called to a window (a new ticket,
                a transfer in, a 一件事 step, a parked ticket called back). Each ends one way, so
                received = served + no_shows + transfers + parked + open, per window and per day;
- served / no_shows / transfers / parked   services that ended finished / no-show / transferred / 挂起;
- open          services not ended yet (called or being served), or cut off at midnight;
- tickets       tickets whose first call was in this group (a transferred ticket counts once, where it
                was first called; for day and month groups: tickets issued), calls = every ended call;
- desk_received / desk_served   (by department) services at the department's own windows, whatever
                the matter: a 综合窗口's work is credited to its department as well as, in the other
                columns, to the department that owns each matter;
- mean_wait, p90_wait   minutes from arrival to the ticket's first call, in the first call's group
                (counted in 0.1-minute steps);
- mean_service  minutes from the start of service (or the call) to its end, finished services;
- ratings, good_rate (好评率 = grades 3–5 / all), mean_score (10/8/6/3/0), bad (grades 1–2),
  grouped by the service rated and its time of service; ratings an upheld appeal (申诉复核) took out
  do not count (`scored_ratings`, server/appeals.py), here nor in the 红黑榜;
- alerts, red_alerts    supervision alerts raised in the period (for the window, staff, service …).

红黑榜 (honour and warning lists) rank windows or staff with at least `min_served` services (20, or 5
per working day in a shorter period: `honour_min_served`) by

    score = 40 × rating + 30 × volume + 30 × discipline           (0–100)

where rating = mean_score / 10 (the hall's mean when a group has no ratings, so being unrated neither
helps nor hurts), volume = served / the most served among the ranked, and discipline =
max(0, 1 − alert points / (2 × days the hall was open in the period)) with a red card 3 points, a
yellow 2, a warning 1.
The top `size` form the 红榜, the bottom `size` (not on the 红榜) the 黑榜.
"""

from __future__ import annotations

import calendar
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hallq.model import HallConfig

from .rating_record import INDICATOR_LEGEND
from .storage_faults import StorageError
from .store import Store
from .tickets import GRADE_SCORES

log = logging.getLogger(__name__)

DIMENSIONS = {"window": "窗口", "staff": "工作人员", "service": "事项", "department": "部门", "day": "日期",
              "month": "月份"}
PERIODS = {"day": "日", "week": "周", "month": "月", "year": "年"}
COLUMNS = [
    ("key", "编码"), ("name", "名称"), ("received", "接待"), ("served", "办结"), ("no_shows", "过号"),
    ("transfers", "转出"), ("parked", "挂起"), ("open", "在办"), ("tickets", "首叫人数"),
    ("desk_received", "本部门窗口接待"), ("desk_served", "本部门窗口办结"),
    ("mean_wait", "平均等候(分)"), ("p90_wait", "90%等候(分)"),
    ("mean_service", "平均办理(分)"), ("ratings", "评价数"), ("good_rate", "好评率"), ("mean_score", "平均分"),
    ("bad", "差评"), ("alerts", "监察告警"), ("red_alerts", "红牌"),
]
DESK_COLUMNS = ("desk_received", "desk_served")  # only in reports by department
# What each column means, on the page under the table (every column defined where it is shown).
LEGEND = {
    "received": "每叫到窗口一次算一次接待：新号、转入、一件事的下一步、挂起后回呼各算一次",
    "served": "接待中已办结的（即办、承诺件受理、一次性告知、办不成转反映窗口）",
    "no_shows": "接待中叫号后群众未到、按过号处理的",
    "transfers": "接待中转给其他窗口或其他事项的（在接收窗口另算一次接待）",
    "parked": "接待中挂起、群众补材料的（回呼时再算一次接待）",
    "open": "尚未结束的接待（已叫号或办理中；跨夜未结束的也算在此）。接待 = 办结 + 过号 + 转出 + 挂起 + 在办",
    "tickets": "在本组第一次被叫号的群众人数（按日、按月分组时为当日取号人数）",
    "desk_received": "本部门窗口（如综合受理部门的综合窗口）的接待，不论事项属于哪个部门",
    "desk_served": "本部门窗口办结的，不论事项属于哪个部门（按部门分组时显示）",
    "mean_wait": "从取号（预约签到）到第一次叫号的平均分钟数",
    "p90_wait": "九成群众的等候不超过的分钟数",
    "mean_service": "办结的接待从开始办理到办结的平均分钟数",
    "ratings": "本期办理的服务收到的评价数（现场与补充评价）",
    "good_rate": INDICATOR_LEGEND["good_rate"],  # one 好评率, the indicators' (server/rating_record.py)
    "mean_score": "非常满意10、满意8、基本满意6、不满意3、非常不满意0 的平均",
    "bad": "不满意与非常不满意的评价数",
    "alerts": "本期电子监察告警数（提醒、黄牌、红牌）",
    "red_alerts": "其中红牌数",
}


def columns_for(dim: str) -> list[tuple[str, str]]:
    """The columns a report by `dim` shows (the desk columns only by department)."""
    return [c for c in COLUMNS if dim == "department" or c[0] not in DESK_COLUMNS]
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
    if table == "record_facts" and dim != "all":
        return f"[{dim}]"  # every grouping is a column there, with its own covering index
    time_column = {"record_facts": "day", "records": "day", "ratings": "served_at", "alerts": "raised_at",
                   "tickets": "day"}[table]
    if dim == "day":
        return f"substr({time_column}, 1, 10)"
    if dim == "month":
        return f"substr({time_column}, 1, 7)"
    if dim == "all":
        return "'all'"
    return f"[{dim}]"


_SCORE_SQL = "CASE grade " + " ".join(f"WHEN {g} THEN {s}" for g, s in GRADE_SCORES.items()) + " END"


def figures(store: Store, period: Period, dim: str) -> dict[str, dict]:
    """Group key -> figures, for every group with any activity in the period.

    One pass over the period's record facts (see `refresh_facts`; the caller refreshes them) does the
    counts, the mean service time and a 0.1-minute histogram of first-call waits per group (for the
    mean and the p90); ratings and alerts are read once each. Each group keeps its histogram
    (`_hist`) and sums (`_good`, `_service_sum`) so that `merge` can add groups up without a rescan.
    """
    if dim not in DIMENSIONS and dim != "all":
        raise ValueError(f"dimension must be one of {', '.join(DIMENSIONS)}")
    lo, hi = period.start.isoformat(), period.end.isoformat()
    # An index helps a day or a month; over longer periods a plain scan is faster ("+col" skips the index).
    plain = "" if (period.end - period.start).days <= 62 else "+"
    out: dict[str, dict] = {}

    def row(key) -> dict:
        key = "" if key is None else str(key)
        return out.setdefault(key, {"key": key, "received": 0, "tickets": 0, "calls": 0, "served": 0, "no_shows": 0,
                                    "transfers": 0, "parked": 0, "open": 0, "mean_wait": None, "p90_wait": None, "mean_service": None,
                                    "ratings": 0, "good_rate": None, "mean_score": None, "bad": 0, "alerts": 0,
                                    "red_alerts": 0, "alert_points": 0})

    waits: dict[str, list[tuple[int, int]]] = {}
    service: dict[str, float] = {}
    for r in store.rows(
        f"SELECT {_group(dim, 'record_facts')} AS k, first_wait_tenths AS b, COUNT(*) AS calls, "
        "SUM([end] = 'finished') AS served, SUM([end] = 'no_show') AS no_shows, "
        "SUM([end] = 'transferred') AS transfers, SUM([end] = 'parked') AS parked, "
        "SUM([end] = 'day_closed') AS [open], SUM(service_minutes) AS service_sum "
        f"FROM record_facts WHERE {plain}day >= ? AND {plain}day < ? GROUP BY k, b", [lo, hi],
    ):
        x = row(r["k"])
        for name in ("calls", "served", "no_shows", "transfers", "parked", "open"):
            x[name] += r[name] or 0
        x["received"] += r["calls"] or 0
        service[x["key"]] = service.get(x["key"], 0.0) + (r["service_sum"] or 0.0)
        if r["b"] is not None:
            x["tickets"] += r["calls"]
            waits.setdefault(x["key"], []).append((r["b"], r["calls"]))
    # Services still in progress have no fact row yet (facts are of ended records): read them live.
    for r in store.rows(f"SELECT {_group(dim, 'records')} AS k, COUNT(*) AS n FROM records "
                        "WHERE day >= ? AND day < ? AND [end] IS NULL GROUP BY k", [lo, hi]):
        x = row(r["k"])
        x["open"] += r["n"]
        x["received"] += r["n"]
    for key, total in service.items():
        out[key]["_service_sum"] = total
        if out[key]["served"]:
            out[key]["mean_service"] = round(total / out[key]["served"], 1)
    for key, buckets in waits.items():
        out[key]["_hist"] = buckets
        _wait_figures(out[key], buckets)
    if dim in ("day", "month"):
        for r in store.rows(f"SELECT {_group(dim, 'tickets')} AS k, COUNT(*) AS n FROM tickets "
                            "WHERE day >= ? AND day < ? GROUP BY k", [lo, hi]):
            row(r["k"])["tickets"] = r["n"]
    for r in store.rows(
        f"SELECT {_group(dim, 'ratings')} AS k, COUNT(*) AS n, SUM(grade >= 3) AS good, AVG({_SCORE_SQL}) AS score "
        f"FROM scored_ratings WHERE {plain}served_at >= ? AND {plain}served_at < ? GROUP BY k", [lo, hi],
    ):
        row(r["k"]).update(ratings=r["n"], good_rate=round(r["good"] / r["n"], 4), mean_score=_round(r["score"], 2),
                           bad=r["n"] - r["good"], _good=r["good"], _score_sum=r["score"] * r["n"])
    for r in store.rows(
        f"SELECT {_group(dim, 'alerts')} AS k, COUNT(*) AS n, SUM(level = 'red') AS red, "
        "SUM(CASE level WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 ELSE 1 END) AS points "
        "FROM alerts WHERE raised_at >= ? AND raised_at < ? GROUP BY k", [lo, hi],
    ):
        if r["k"] is not None or dim == "all":
            row(r["k"]).update(alerts=r["n"], red_alerts=r["red"], alert_points=r["points"])
    return out


FACTS_SQL = """
INSERT OR IGNORE INTO record_facts
    (record_id, day, month, window, staff, service, department, [end], first_wait_tenths, service_minutes)
SELECT id, day, substr(day, 1, 7), window, staff, service, department, [end],
    CASE WHEN NOT EXISTS (SELECT 1 FROM records p WHERE p.ticket_id = r.ticket_id AND p.id < r.id)
        THEN CAST(ROUND((julianday(called_at) - julianday(arrived_at)) * 14400) AS INTEGER) END,
    CASE WHEN [end] = 'finished' THEN (julianday(ended_at) - julianday(COALESCE(started_at, called_at))) * 1440 END
FROM records r
WHERE day >= ? AND day <= ? AND [end] IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM record_facts f WHERE f.record_id = r.id)
"""


FACTS_DAYS_PER_WRITE = 7  # a first refresh over years of history holds the write lock a week at a time


def refresh_facts(store: Store) -> int:
    """Add a fact row for every service record that has ended since the last refresh; returns how many.

    Records never change once ended, and the engine closes each day, so only records from the
    earliest day that still had an open record need looking at (kept in settings as facts_since).
    The first refresh of an old database reads all of its history once, a week per transaction,
    so the engine's writes wait at most for one week's worth (`start_refresh` does it at startup).
    It waits for the write lock as long as the store's writes do; a storage fault is a StorageError.
    """
    if store.path == ":memory:":
        conn = store.db.conn
    else:
        conn = sqlite3.connect(store.path, timeout=store.write_timeout, isolation_level=None)
    try:
        return _refresh(conn)
    except sqlite3.Error as exc:
        err = store.fault(exc)
        if err is None:
            raise
        raise err from exc
    finally:
        if conn is not store.db.conn:
            conn.close()


def _refresh(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM settings WHERE key = 'facts_since'").fetchone()
    since = row[0] if row else ""
    days = [r[0] for r in conn.execute("SELECT DISTINCT day FROM records WHERE day >= ? ORDER BY day", [since])]
    added = 0
    for i in range(0, len(days), FACTS_DAYS_PER_WRITE):
        chunk = days[i:i + FACTS_DAYS_PER_WRITE]
        conn.execute("BEGIN IMMEDIATE")
        try:
            added += conn.execute(FACTS_SQL, [chunk[0], chunk[-1]]).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite has rolled back by itself on a full disk
                conn.execute("ROLLBACK")
            raise
    nxt = conn.execute("SELECT COALESCE((SELECT MIN(day) FROM records WHERE day >= ? AND [end] IS NULL), "
                       "(SELECT MAX(day) FROM records), ?)", [since, since]).fetchone()[0]
    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('facts_since', ?)", [nxt])
    return added


def start_refresh(store: Store) -> threading.Thread:
    """Bring the report facts up to date in the background (after an upgrade: the whole history)."""
    thread = threading.Thread(target=_refresh_quietly, args=(store,), name="report-facts", daemon=True)
    thread.start()
    return thread


def _refresh_quietly(store: Store) -> None:
    """The background refresh: a storage fault is logged, and the next report refreshes anyway."""
    try:
        refresh_facts(store)
    except StorageError as exc:
        log.warning("report facts not refreshed: %s", exc.message)
    except Exception:
        log.exception("report facts not refreshed")


def _wait_figures(x: dict, buckets: list[tuple[int, int]]) -> None:
    n = sum(count for _, count in buckets)
    if n:
        x["mean_wait"] = round(sum(b * count for b, count in buckets) / n / 10, 1)
        x["p90_wait"] = _p90_of_histogram(buckets, n)


def _p90_of_histogram(buckets: list[tuple[int, int]], n: int) -> float:
    """The 90th percentile (the value at rank int(0.9 n), 0-based) from 0.1-minute buckets."""
    rank = min(n - 1, int(0.9 * n))
    seen = 0
    for bucket, count in sorted(buckets):
        seen += count
        if seen > rank:
            return bucket / 10
    return sorted(buckets)[-1][0] / 10


def working_days(store: Store, period: Period) -> int:
    """Days in the period on which the hall issued tickets (for the 红黑榜 discipline score)."""
    return store.rows("SELECT COUNT(DISTINCT day) AS n FROM tickets WHERE day >= ? AND day < ?",
                      [period.start.isoformat(), period.end.isoformat()])[0]["n"]


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
    """One row per group, with its display name, in key order (numeric for windows).
    `store` may be a ReadOnly connection; then the caller has refreshed the facts."""
    if isinstance(store, Store):
        refresh_facts(store)
    found = figures(store, period, dim)
    if dim == "department":
        _desk_figures(store, config, period, found)
    label = names(config, dim)
    rows = []
    for key, x in found.items():
        rows.append({**x, "name": label.get(key, key or "（未登记）")})
    return sorted(rows, key=lambda r: (int(r["key"]) if dim == "window" and r["key"].isdigit() else 0, r["key"]))


def _desk_figures(store, config: HallConfig, period: Period, found: dict[str, dict]) -> None:
    """Add desk_received / desk_served to department rows: the services at each department's own
    windows, whatever department owns the matter (so the 综合受理 department shows its windows' work)."""
    lo, hi = period.start.isoformat(), period.end.isoformat()
    desk: dict[str, list[int]] = {}
    counts = store.rows("SELECT window, COUNT(*) AS n, SUM([end] = 'finished') AS served FROM record_facts "
                        "WHERE day >= ? AND day < ? GROUP BY window", [lo, hi])
    counts += store.rows("SELECT window, COUNT(*) AS n, 0 AS served FROM records "
                         "WHERE day >= ? AND day < ? AND [end] IS NULL GROUP BY window", [lo, hi])
    for r in counts:
        w = config.windows.get(r["window"])
        if w is None or not w.department:
            continue
        d = desk.setdefault(w.department, [0, 0])
        d[0] += r["n"] or 0
        d[1] += r["served"] or 0
    for x in found.values():
        x.setdefault("desk_received", 0)
        x.setdefault("desk_served", 0)
    for department, (received, served) in desk.items():
        x = found.get(department)
        if x is None:
            x = found[department] = {**_empty(), "key": department, "alert_points": 0}
        x["desk_received"], x["desk_served"] = received, served


def _empty() -> dict:
    empty = {name: 0 for name, _ in COLUMNS if name not in ("key", "name")}
    empty.update(calls=0, mean_wait=None, p90_wait=None, mean_service=None, good_rate=None, mean_score=None)
    return empty


def fill(period: Period, dim: str, rows: list[dict]) -> list[dict]:
    """Every day (or month) of the period in order, with empty rows where nothing happened, so a
    chart's time axis has no gaps."""
    found = {r["key"]: r for r in rows}
    keys, day = [], period.start
    while day < period.end:
        key = day.isoformat()[: 7 if dim == "month" else 10]
        if key not in keys:
            keys.append(key)
        day += timedelta(days=1)
    empty = _empty()
    return [found.get(k) or {**empty, "key": k, "name": k} for k in keys]


def public(row: dict) -> dict:
    """A row without the working sums (for JSON)."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


def merge(rows: list[dict]) -> dict:
    """The hall's figures from the groups of one report, without reading the records again."""
    total = {"key": "all", "received": 0, "tickets": 0, "calls": 0, "served": 0, "no_shows": 0, "transfers": 0,
             "parked": 0, "open": 0, "mean_wait": None,
             "p90_wait": None, "mean_service": None, "ratings": 0, "good_rate": None, "mean_score": None, "bad": 0}
    hist: dict[int, int] = {}
    service_sum = good = score_sum = 0.0
    for r in rows:
        for name in ("received", "calls", "served", "no_shows", "transfers", "parked", "open", "ratings", "bad"):
            total[name] += r[name]
        total["tickets"] += sum(count for _, count in r.get("_hist", ()))
        for b, count in r.get("_hist", ()):
            hist[b] = hist.get(b, 0) + count
        service_sum += r.get("_service_sum", 0.0)
        good += r.get("_good", 0)
        score_sum += r.get("_score_sum", 0.0)
    _wait_figures(total, sorted(hist.items()))
    if total["served"]:
        total["mean_service"] = round(service_sum / total["served"], 1)
    if total["ratings"]:
        total["good_rate"] = round(good / total["ratings"], 4)
        total["mean_score"] = round(score_sum / total["ratings"], 2)
    return total


def totals(store: Store, period: Period, rows: list[dict] | None = None) -> dict:
    """The hall's figures for the period; pass the rows of a report of it to save a scan."""
    lo, hi = period.start.isoformat(), period.end.isoformat()
    if rows is None:
        refresh_facts(store)
        rows = list(figures(store, period, "window").values())
    total = merge(rows)
    total["issued"] = store.rows("SELECT COUNT(*) AS n FROM tickets WHERE day >= ? AND day < ?", [lo, hi])[0]["n"]
    alerts = store.rows("SELECT COUNT(*) AS n, COALESCE(SUM(level = 'red'), 0) AS red FROM alerts "
                        "WHERE raised_at >= ? AND raised_at < ?", [lo, hi])[0]
    total.update(alerts=alerts["n"], red_alerts=alerts["red"])
    return total


def appointment_figures(store: Store, period: Period, now: datetime, checkin_after_minutes: int) -> dict:
    """Appointments for slots in the period: made (cancelled ones apart), checked in, cancelled, and
    no-shows (爽约): still booked when the slot's check-in window closed."""
    rows = store.rows("SELECT state, slot_start FROM appointments WHERE day >= ? AND day < ?",
                      [period.start.isoformat(), period.end.isoformat()])
    late = timedelta(minutes=checkin_after_minutes)
    no_show = sum(1 for r in rows if r["state"] == "booked" and datetime.fromisoformat(r["slot_start"]) + late < now)
    cancelled = sum(1 for r in rows if r["state"] == "cancelled")
    return {"booked": len(rows) - cancelled, "checked_in": sum(1 for r in rows if r["state"] == "checked_in"),
            "cancelled": cancelled, "no_show": no_show}


class ReadOnly:
    """Another read-only connection to the store's file, so report queries can run side by side."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row

    def rows(self, sql: str, params=()) -> list[dict]:
        return [dict(r) for r in self.conn.execute(sql, list(params)).fetchall()]

    def close(self) -> None:
        self.conn.close()


def side_by_side(store: Store, jobs: list[Callable]) -> list:
    """Run `job(store_like)` for each job at once on connections of their own (SQLite lets go of the
    GIL while it works, so a second core helps); one after another for an in-memory store."""
    if store.path == ":memory:" or len(jobs) < 2:
        return [job(store) for job in jobs]

    def run(job):
        reader = ReadOnly(store.path)
        try:
            return job(reader)
        finally:
            reader.close()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


HONOUR_MIN_SERVED = 20  # services a window or person needs in a period to be ranked ...
HONOUR_MIN_PER_DAY = 5  # ... or this many per working day, when that is fewer (a day's or a short week's list)


def honour_min_served(days: int) -> int:
    """The services needed to be ranked: 20, or 5 per working day in a shorter period (a county window
    serves 15–25 a day, so a daily list of windows with 20 would often be empty)."""
    return max(1, min(HONOUR_MIN_SERVED, HONOUR_MIN_PER_DAY * max(1, days)))


def honour_board(rows: list[dict], days: int, min_served: int | None = None,
                 size: int = 3) -> tuple[list[dict], list[dict]]:
    """(红榜, 黑榜) from report rows by window or staff, scored as the module docstring says; ranked are
    those with at least `min_served` services (default `honour_min_served(days)`)."""
    if min_served is None:
        min_served = honour_min_served(days)
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
        discipline = max(0.0, 1 - r["alert_points"] / (2 * max(1, days)))
        score = 40 * rating + 30 * volume + 30 * discipline
        scored.append({**r, "score": round(score, 1)})
    scored.sort(key=lambda r: (-r["score"], r["key"]))
    top = scored[:size]
    bottom = [r for r in reversed(scored) if r not in top][:size]
    return top, bottom
