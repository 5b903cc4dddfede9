"""County figures per hall and local day, replayed from the shipped events by the hall's own rule
(server.stats.replay): one definition of tickets, served, no-shows, waits, ratings and 差评 cases,
so a county figure equals the figure the hall derives from its own log, exactly. A rating an upheld
申诉复核 took out (`appeal.decided`, upheld, naming its `rating_day`: decided on any later day) is not
counted, as the hall's `scored_ratings` does not count it (server/stats.py scored)."""

from __future__ import annotations

from datetime import date

from server.stats import replay, scored

from .db import Database

# Only the events the figures count: the rest of the log (window logins, alerts, …) is not read.
COUNTED = ("ticket.issued", "ticket.called", "ticket.finished", "ticket.no_show", "ticket.expired",
           "ticket.transferred", "rating.recorded", "case.opened", "case.updated")


def by_day(db: Database, hall: str, first: date, last: date) -> dict[str, dict]:
    """{day: figures} for the days of `first`..`last` on which the hall logged anything counted."""
    days: dict[str, list[dict]] = {}
    with db.connection() as conn:
        upheld = {str(r) for (r,) in conn.execute(
            "SELECT data->>'record' FROM events WHERE hall = %s AND type = 'appeal.decided' "
            "AND data->>'upheld' = 'true' AND data->>'rating_day' BETWEEN %s AND %s",
            [hall, first.isoformat(), last.isoformat()])}
        cur = conn.execute(
            "SELECT day, type, ticket, data FROM events WHERE hall = %s AND day BETWEEN %s AND %s "
            "AND type = ANY(%s) ORDER BY day, event_id", [hall, first, last, list(COUNTED)])
        for day, kind, ticket, data in cur:
            days.setdefault(day.isoformat(), []).append({"type": kind, "ticket_id": ticket, "data": data})
    return {day: replay(scored(events, upheld)) for day, events in days.items()}
