"""Each hall's live state at the county, folded from its shipped events inside the ingest
transaction: who waits (per matter), which windows are open or paused, which 电子监察 alerts are
active, today's ratings (less those an upheld 申诉复核 took out), and the hall's own latest wait estimate per matter (the figure its kiosk
printed on the last ticket of that matter). Everything is on the hall's clock and the hall's local
day; the county adds only how long ago it last heard from the hall.

The page never reads the state itself: its waiting list grows with the queue (436 tickets, 430 KB of
JSON for 20 halls at a busy 10:30). At each batch the fold's result is also kept digested
(`digest`: the count waiting, the oldest arrival, the count per matter, and the rest of the state),
in `hall_live.summary`, which is all `overview` reads, so a page costs the same whatever the queues."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from server.rating_record import rates
from server.stats import event_day
from server.tickets import DEFAULT_CHANNEL, ON_SITE_CHANNELS

LEAVE = {"ticket.called", "ticket.recalled", "ticket.started", "ticket.finished", "ticket.no_show", "ticket.expired",
         "ticket.to_complaint"}
BACK = {"ticket.transferred", "ticket.parked", "ticket.next_step"}
ONLINE_SECONDS = 60  # a shipper heard from within this is "在线"; it asks the county's mark every 15 s when idle


def empty(day: str = "") -> dict:
    return {"day": day, "last_ts": None, "waiting": {}, "windows": {}, "alerts": {}, "services": {},
            "ratings": 0, "good": 0, "issued": 0, "served": 0, "on_site": 0, "by_citizen": 0}


def fold(state: dict, ev: dict) -> dict:
    """`state` after one event (dict form: type, ts, ticket, service, window, data)."""
    kind, data, ts = ev["type"], ev["data"], ev["ts"]
    day = event_day(ev)
    if day > state["day"]:  # a new hall day: yesterday's queue closed at midnight
        state = {**empty(day), "windows": state["windows"], "alerts": state["alerts"]}
    state["last_ts"] = ts
    if kind.startswith("window."):
        w = str(ev["window"])
        if kind == "window.login":
            state["windows"][w] = {"state": "open", "staff": data.get("staff_name") or data.get("staff") or ""}
        elif kind in ("window.logout", "window.reset"):
            state["windows"].pop(w, None)
        elif kind == "window.paused" and w in state["windows"]:
            state["windows"][w]["state"] = "paused"
        elif kind == "window.resumed" and w in state["windows"]:
            state["windows"][w]["state"] = "open"
        return state
    if kind in ("alert.raised", "alert.reopened"):
        state["alerts"][str(data.get("alert"))] = {"level": data.get("level_name") or data.get("level"),
                                                 "level_code": data.get("level"),
                                                 "message": data.get("message", ""), "since": ts, "acked": False}
        return state
    if kind == "alert.acked" and str(data.get("alert")) in state["alerts"]:
        state["alerts"][str(data.get("alert"))]["acked"] = True
        return state
    if kind == "alert.cleared":
        state["alerts"].pop(str(data.get("alert")), None)
        return state
    if kind == "appeal.decided":  # an upheld 申诉复核 takes today's rating out of today's 好评率
        if data.get("upheld") and data.get("rating_day") == state["day"] and state["ratings"]:
            state["ratings"] -= 1
            state["good"] -= (data.get("grade") or 0) >= 3
        return state
    if day < state["day"]:
        return state  # a late close of an earlier day's ticket, a rating of an earlier day's service
    ticket, service = ev.get("ticket"), ev.get("service")
    if kind == "ticket.issued" and ticket:
        state["waiting"][ticket] = [ts, service]
        state["issued"] += 1
        if service:
            state["services"][service] = {"name": data.get("service_name") or service,
                                          "estimate": data.get("estimated_wait_minutes"), "at": ts}
    elif kind in LEAVE and ticket:
        state["waiting"].pop(ticket, None)
        state["served"] += kind == "ticket.finished"
    elif kind in BACK and ticket:
        state["waiting"].setdefault(ticket, [ts, service])
    elif kind == "rating.recorded":  # 主动评价率, 未评价率: as server.rating_record.event_counts counts them
        state["ratings"] += 1
        state["good"] += (data.get("grade") or 0) >= 3
        state["on_site"] = state.get("on_site", 0) + (data.get("channel") in ON_SITE_CHANNELS)
        state["by_citizen"] = state.get("by_citizen", 0) + (data.get("channel") != DEFAULT_CHANNEL)
    return state


def digest(state: dict) -> dict:
    """What the page reads of a state: all of it but the waiting list, which it needs only counted —
    how many, the oldest arrival, how many per matter."""
    per_service: dict[str, int] = {}
    for _ts, service in state["waiting"].values():
        if service:
            per_service[service] = per_service.get(service, 0) + 1
    oldest = min((ts for ts, _ in state["waiting"].values()), key=datetime.fromisoformat, default=None)
    return {**{k: v for k, v in state.items() if k != "waiting"},
            "waiting": len(state["waiting"]), "oldest": oldest, "waiting_by_service": per_service}


def update(conn: psycopg.Connection, hall: str, events: list[dict]) -> None:
    """Fold a batch into the hall's live row (inside the ingest transaction, under the hall's lock)."""
    row = conn.execute("SELECT state FROM hall_live WHERE hall = %s", [hall]).fetchone()
    state = row[0] if row else empty()
    for ev in events:
        state = fold(state, ev)
    conn.execute("INSERT INTO hall_live (hall, state, summary, updated_at) VALUES (%s, %s, %s, now()) "
                 "ON CONFLICT (hall) DO UPDATE SET state = EXCLUDED.state, summary = EXCLUDED.summary, "
                 "updated_at = now()", [hall, Jsonb(state), Jsonb(digest(state))])


def _ago(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def overview(conn: psycopg.Connection) -> list[dict]:
    """Every hall: live figures, link state and lag, as the county knows them now."""
    rows = conn.execute(
        "SELECT h.code, h.name, h.high_water, h.last_ingest_at, h.last_contact_at, h.last_event_ts, l.summary, now(), "
        "h.diverged FROM halls h LEFT JOIN hall_live l ON l.hall = h.code ORDER BY h.code").fetchall()
    return [summary(*r) for r in rows]


def summary(code, name, high_water, last_ingest, last_contact, last_event_ts, state, now, diverged=None) -> dict:
    """One hall's row of the page from its digested state (`digest`; a whole state is digested here)."""
    state = state or empty()
    if isinstance(state["waiting"], dict):
        state = digest(state)
    heard = max([t for t in (last_ingest, last_contact) if t is not None], default=None)
    heard_ago = _ago(heard, now)
    # The hall's "now" on its own clock: its newest event plus the time since the county received it,
    # so a skewed hall clock cannot make a wait look longer or shorter.
    hall_now = None
    if state["last_ts"] and last_ingest is not None:
        hall_now = datetime.fromisoformat(state["last_ts"]) + (now - last_ingest)
    longest = None
    if hall_now is not None and state["oldest"]:
        longest = round(max(0.0, (hall_now - datetime.fromisoformat(state["oldest"])).total_seconds()) / 60, 1)
    services = []
    for code_, info in sorted(state["services"].items()):
        waiting = state["waiting_by_service"].get(code_, 0)
        services.append({"code": code_, "name": info["name"], "waiting": waiting,
                         "estimate_minutes": info["estimate"] if waiting else 0, "estimate_at": info["at"]})
    windows = state["windows"]
    return {
        "code": code, "name": name, "high_water": high_water, "day": state["day"] or None,
        "waiting": state["waiting"], "longest_wait_minutes": longest,
        "windows_open": sum(1 for w in windows.values() if w["state"] == "open"),
        "windows_paused": sum(1 for w in windows.values() if w["state"] == "paused"),
        "windows": dict(sorted(windows.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)),
        "alerts": len(state["alerts"]),
        "alert_list": [{**a, "age_minutes": None if hall_now is None else
                        round(max(0.0, (hall_now - datetime.fromisoformat(a["since"])).total_seconds()) / 60, 1)}
                       for a in state["alerts"].values()],
        "issued": state["issued"], "served": state["served"], "ratings": state["ratings"],
        **rates(state["served"], state.get("on_site", 0), state["served"] - state.get("by_citizen", 0),
                state["ratings"], state["good"]),
        "services": services,
        "link": "online" if heard_ago is not None and heard_ago <= ONLINE_SECONDS else ("never" if heard is None else "offline"),
        "heard_seconds_ago": None if heard_ago is None else round(heard_ago, 1),
        # the hall's log and the county's differ (a hall restored from a backup, county/ingest.py):
        # nothing of it is taken until `hallq county rebase`
        "diverged": diverged,
        "last_event_ts": last_event_ts,
        "last_ingest_at": last_ingest.astimezone(UTC).isoformat() if last_ingest else None,
    }





def public_wait(conn: psycopg.Connection) -> dict:
    """What a citizen may see of every centre (the /wait page, and each hall's 附近大厅 copy): its
    queue per matter now and how fresh that is — no staff, no alerts. `as_of`: the county's now."""
    halls = overview(conn)
    now = conn.execute("SELECT now()").fetchone()[0]
    return {"as_of": now.astimezone(UTC).isoformat(), "halls": [
        {"code": h["code"], "name": h["name"], "link": h["link"], "heard_seconds_ago": h["heard_seconds_ago"],
         "waiting": h["waiting"], "windows_open": h["windows_open"], "longest_wait_minutes": h["longest_wait_minutes"],
         "services": [{k: s[k] for k in ("code", "name", "waiting", "estimate_minutes")} for s in h["services"]]}
        for h in halls]}
