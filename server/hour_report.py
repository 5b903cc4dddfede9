"""The hour-of-day view of a period: when citizens come, how long they wait, how many windows are open.

Per clock hour (the hall's time zone), over the days of the period on which the hall issued tickets:

- arrivals         tickets issued in that hour, per day (a day's report: the count itself);
- mean_wait        minutes from arrival to the first call, for citizens who arrived in that hour;
- service_level    share of the citizens who arrived in that hour and were called within
                   `rules.service_level_minutes` (default 15). A citizen never called, or still waiting
                   past the target, counts as not served in time; one still waiting within it is not
                   counted yet (`measured` says how many counted);
- open_windows     windows open (signed in and not paused) on average over the hour (over the part of
                   it that has passed, for the current hour), per day, from the event log's
                   window.login / logout / paused / resumed / reset.

Read from tickets, records and events directly, so it is kept to periods of a month or less.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hallq.model import HallConfig

from .reports import Period

MAX_DAYS = 31
OPEN_EVENTS = ("window.login", "window.logout", "window.paused", "window.resumed", "window.reset")


def hourly(store, config: HallConfig, period: Period, now: datetime) -> list[dict]:
    """One row per hour from the hall's opening hour to its closing hour (and any hour with data)."""
    if (period.end - period.start).days > MAX_DAYS:
        raise ValueError(f"the hour-of-day view covers at most {MAX_DAYS} days")
    tz = ZoneInfo(config.rules.timezone)
    lo, hi = period.start.isoformat(), period.end.isoformat()
    target = timedelta(minutes=config.rules.service_level_minutes)
    hours: dict[int, dict] = {}

    def row(h: int) -> dict:
        return hours.setdefault(h, {"hour": h, "label": f"{h:02}时", "arrivals": 0, "mean_wait": None,
                                    "service_level": None, "in_target": 0, "measured": 0, "open_windows": 0.0,
                                    "_wait_sum": 0.0, "_waited": 0, "_open_minutes": 0.0,
                                    "_span": 0.0})

    sessions = config.hours.sessions
    for h in range(sessions[0].start.hour, sessions[-1].end.hour + (1 if sessions[-1].end.minute else 0)):
        row(h)
    days = {r["day"] for r in store.rows("SELECT DISTINCT day FROM tickets WHERE day >= ? AND day < ?", [lo, hi])}
    firsts = store.rows(
        "SELECT t.arrived_at AS arrived, t.state AS state, MIN(r.called_at) AS called FROM tickets t "
        "LEFT JOIN records r ON r.ticket_id = t.id WHERE t.day >= ? AND t.day < ? GROUP BY t.id", [lo, hi])
    for f in firsts:
        arrived = datetime.fromisoformat(f["arrived"]).astimezone(tz)
        x = row(arrived.hour)
        x["arrivals"] += 1
        if f["called"]:
            waited = datetime.fromisoformat(f["called"]) - arrived
            x["_wait_sum"] += waited.total_seconds() / 60
            x["_waited"] += 1
            x["measured"] += 1
            x["in_target"] += waited <= target
        elif f["state"] != "waiting" or now - arrived > target:
            x["measured"] += 1  # never called (left, expired) or still waiting past the target
    by_day = _events_by_day(store, lo, hi, tz)
    for day_events in by_day.values():
        _open_minutes(day_events, now, tz, row)
    days |= set(by_day)
    n = max(1, len(days))
    local_now = now.astimezone(tz)
    for d in days:  # the minutes of each hour that have passed, over the days counted
        for h, x in hours.items():
            start = datetime.combine(date.fromisoformat(d), time(h), tz)
            x["_span"] += min(60.0, max(0.0, (local_now - start).total_seconds() / 60))
    out = []
    for h in sorted(hours):
        x = hours[h]
        if x["_waited"]:
            x["mean_wait"] = round(x["_wait_sum"] / x["_waited"], 1)
        if x["measured"]:
            x["service_level"] = round(x["in_target"] / x["measured"], 4)
        x["open_windows"] = round(x["_open_minutes"] / x["_span"], 1) if x["_span"] else 0.0
        x["arrivals"] = round(x["arrivals"] / n, 1) if n > 1 else x["arrivals"]
        out.append({k: v for k, v in x.items() if not k.startswith("_")})
    return out


def _events_by_day(store, lo: str, hi: str, tz: ZoneInfo) -> dict[str, list[tuple[datetime, str, int]]]:
    marks = ",".join("?" * len(OPEN_EVENTS))
    rows = store.rows(f"SELECT ts, type, window FROM events WHERE ts >= ? AND ts < ? AND type IN ({marks}) "
                      "ORDER BY id", [lo, hi, *OPEN_EVENTS])
    out: dict[str, list] = {}
    for r in rows:
        ts = datetime.fromisoformat(r["ts"]).astimezone(tz)
        out.setdefault(ts.date().isoformat(), []).append((ts, r["type"], r["window"]))
    return out


def _open_minutes(events: list[tuple[datetime, str, int]], now: datetime, tz: ZoneInfo, row) -> None:
    """Add each window's open minutes of one day to its hours. Every day starts with windows signed out."""
    staffed: dict[int, bool] = {}
    paused: dict[int, bool] = {}
    opened: dict[int, datetime] = {}  # window -> since when it has been open
    day_end = datetime.combine(events[0][0].date() + timedelta(days=1), datetime.min.time(), tz)

    def close(window: int, at: datetime) -> None:
        start = opened.pop(window, None)
        while start is not None and start < at:
            hour_end = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            end = min(at, hour_end)
            row(start.hour)["_open_minutes"] += (end - start).total_seconds() / 60
            start = end

    for ts, kind, window in events:
        if window is None:
            if kind == "window.reset":  # the whole hall starts a new day signed out
                for w in list(opened):
                    close(w, ts)
                staffed.clear()
                paused.clear()
            continue
        was_open = staffed.get(window, False) and not paused.get(window, False)
        if kind == "window.login":
            staffed[window], paused[window] = True, False
        elif kind in ("window.logout", "window.reset"):
            staffed[window], paused[window] = False, False
        elif kind == "window.paused":
            paused[window] = True
        elif kind == "window.resumed":
            paused[window] = False
        is_open = staffed.get(window, False) and not paused.get(window, False)
        if was_open and not is_open:
            close(window, ts)
        elif is_open and not was_open:
            opened[window] = ts
    end = min(day_end, now.astimezone(tz))
    for w in list(opened):
        close(w, end)
