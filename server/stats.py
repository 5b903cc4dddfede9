"""Today's figures, computed from the store's tables (which the event log can rebuild)."""

from __future__ import annotations

from statistics import mean

from .engine import Engine
from .tickets import GRADE_SCORES


def _minutes(a: str | None, b: str | None) -> float | None:
    from datetime import datetime

    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 60


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(0.9 * len(values)))]


def today(engine: Engine) -> dict:
    engine.turn_day()  # not yesterday's windows and waiting as today's, in the first seconds after midnight
    day = engine.today()
    store = engine.store
    tickets = store.rows("SELECT state, end_reason FROM tickets WHERE day = ?", [day])
    records = store.rows("SELECT * FROM records WHERE day = ? ORDER BY id", [day])
    ratings = store.rows("SELECT grade FROM scored_ratings WHERE substr(rated_at, 1, 10) = ?", [day])
    first_calls: dict[str, dict] = {}
    for r in records:
        first_calls.setdefault(r["ticket_id"], r)
    waits = [w for r in first_calls.values() if (w := _minutes(r["arrived_at"], r["called_at"])) is not None]
    services = [m for r in records if r["end"] == "finished"
                and (m := _minutes(r["started_at"] or r["called_at"], r["ended_at"])) is not None]
    grades = [r["grade"] for r in ratings]
    good = sum(1 for g in grades if g >= 3)
    by_state: dict[str, int] = {}
    for t in tickets:
        by_state[t["state"]] = by_state.get(t["state"], 0) + 1
    return {
        "day": day,
        "issued": len(tickets),
        "waiting": by_state.get("waiting", 0),
        "in_service": by_state.get("called", 0) + by_state.get("serving", 0),
        "parked": by_state.get("parked", 0),
        "finished": by_state.get("finished", 0),
        "no_shows": by_state.get("no_show", 0),
        "services_done": sum(1 for r in records if r["end"] == "finished"),
        "transfers": sum(1 for r in records if r["end"] == "transferred"),
        "mean_wait_minutes": round(mean(waits), 1) if waits else None,
        "p90_wait_minutes": round(_p90(waits), 1) if waits else None,
        "mean_service_minutes": round(mean(services), 1) if services else None,
        "ratings": len(grades),
        "good_rate": round(good / len(grades), 4) if grades else None,
        "mean_score": round(mean(GRADE_SCORES[g] for g in grades), 2) if grades else None,
        "bad_ratings": len(grades) - good,
        "windows_open": len(engine.open_windows()),
    }


def event_day(ev: dict) -> str:
    """The hall's local day an event counts for, as the hall itself decided it: the date of its
    timestamp, written on the hall's clock in the hall's time zone; a ticket closed at midnight
    (`ticket.expired`) counts for the day it was issued, and a rating for the day of the service it
rates (a QR rating the day after, a 基本满意 default a week later), which the events name. Never the time the
    event reached anyone else (the county stamps receipt time apart), so a late or skewed arrival
    cannot move a figure to another day."""
    data = ev["data"]
    if ev["type"] == "ticket.expired" and isinstance(data, dict) and data.get("day"):
        return data["day"]
    if ev["type"] == "rating.recorded" and isinstance(data, dict) and data.get("served_day"):
        return data["served_day"]  # a rating counts for the day of the service rated (QR later, default after 7 days)
    return ev["ts"][:10]


class _Figures:
    """One day's counts as the event log tells them; additive parts (counts, wait totals), so days,
    halls and periods add up."""

    def __init__(self) -> None:
        self.issued: set[str] = set()
        self.first_wait: dict[str, float] = {}
        self.out = {"issued": 0, "finished": 0, "no_shows": 0, "services_done": 0, "transfers": 0,
                    "ratings": 0, "bad_ratings": 0, "cases_opened": 0, "cases_closed": 0}

    def add(self, ev: dict) -> None:
        kind, data, ticket, out = ev["type"], ev["data"], ev["ticket_id"], self.out
        if kind == "ticket.issued":
            self.issued.add(ticket)
        elif kind == "ticket.called" and ticket not in self.first_wait:
            self.first_wait[ticket] = data["waited_minutes"]
        elif kind == "ticket.finished":
            out["services_done"] += 1
            out["finished"] += data["state"] == "finished"
        elif kind in ("ticket.no_show", "ticket.expired"):
            out["no_shows"] += 1
        elif kind == "ticket.transferred":
            out["transfers"] += 1
        elif kind == "rating.recorded":
            out["ratings"] += 1
            out["bad_ratings"] += bool(data["bad"])
        elif kind == "case.opened":
            out["cases_opened"] += 1
        elif kind == "case.updated" and data.get("action") == "close":
            out["cases_closed"] += 1

    def result(self) -> dict:
        out = dict(self.out, issued=len(self.issued))
        waits = list(self.first_wait.values())
        out["waits"] = len(waits)
        out["wait_minutes_total"] = round(sum(waits), 1)
        out["mean_wait_minutes"] = round(mean(waits), 1) if waits else None
        return out


def replay(events: list[dict]) -> dict:
    """Counts rebuilt from the event log alone: the log is the evidence, the tables a cache.

    Used to check that the two agree (tests) and by anyone auditing a day from the events.
    """
    figures = _Figures()
    for ev in events:
        figures.add(ev)
    return figures.result()


def upheld_records(events: list[dict]) -> set[str]:
    """Records whose ratings an upheld 申诉复核 took out of every score (`appeal.decided`, upheld):
    the event log's form of the hall's `scored_ratings` view (server/appeals.py)."""
    return {str(ev["data"].get("record")) for ev in events
            if ev["type"] == "appeal.decided" and isinstance(ev["data"], dict) and ev["data"].get("upheld")}


def scored(events: list[dict], upheld: set[str]) -> list[dict]:
    """`events` less the ratings of the `upheld` records (they stay in the log, the record)."""
    return [ev for ev in events if not (ev["type"] == "rating.recorded" and str(ev["data"].get("record")) in upheld)]


def replay_days(events: list[dict]) -> dict[str, dict]:
    """`replay` for each local day of the hall (`event_day`): the figures the hall derives from its
    own log, and the county from the copy it was shipped (county/figures.py), by this one rule.
    Ratings an upheld appeal took out are not counted, on whatever later day it was decided."""
    days: dict[str, _Figures] = {}
    for ev in scored(events, upheld_records(events)):
        day = event_day(ev)
        figures = days.get(day)
        if figures is None:
            figures = days[day] = _Figures()
        figures.add(ev)
    return {day: days[day].result() for day in sorted(days)}
