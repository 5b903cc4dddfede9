"""JSON shapes of tickets, windows and the menu, with citizen data masked.

Every response, page and display builds on these, so masking is done once, here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hallq.model import Bundle
from hallq.waits import estimate_fields

from .engine import Engine
from .estimate import Estimate
from .privacy import mask_name, mask_phone
from .tickets import (
    OUTCOMES,
    PAUSE_REASONS,
    WAITING,
    Ticket,
    WindowState,
    bundle_steps,
    issued_with,
    service_label,
)

STATE_NAMES = {
    "waiting": "等候中", "called": "请到窗口", "serving": "办理中", "parked": "挂起",
    "finished": "已办结", "no_show": "已过号",
}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_view(engine: Engine, t: Ticket, public: bool = False, secret: bool = False,
                position: Estimate | None = None) -> dict:
    """A ticket as clients see it; `public` adds what the citizen's own page needs (position, rating).

    `position`: the estimate already known for a waiting ticket — the issuing call passes what it
    printed on the ticket a moment ago, instead of estimating the whole queue a second time.

    The id is the citizen's secret (it opens the ticket page and 补充评价), so it is included only
    with `secret`: for the kiosk that issued the ticket and for the page the id opened. Staff views
    never carry it, so no clerk can rate on a citizen's behalf.
    """
    config = engine.config
    service_name, department = service_label(config, t.service, t)
    matter = config.matter(t.matter)  # None: removed since (the ticket has ended; its page stays)
    kept = issued_with(t)
    out = {
        "code": t.code,
        "state": t.state,
        "state_name": STATE_NAMES[t.state],
        "service": {"code": t.service, "name": service_name, "department": department},
        "matter": {"code": t.matter, "name": kept.get("name") or (matter.name if matter else t.matter)},
        "priority": t.priority,
        "issued_at": iso(t.issued_at),
        "waiting_ahead": t.waiting_ahead,
        "estimated_wait_minutes": t.estimated_wait,
        "window": None,
        "called_at": iso(t.called_at),
        "finished_at": iso(t.finished_at),
        "outcome": t.outcome,
        "outcome_name": OUTCOMES.get(t.outcome or ""),
        "phone": mask_phone(t.phone),
        "name": mask_name(t.name),
        "sms": bool(t.sms),
    }
    if secret or public:
        # a bundle's: every step's, 一次告知; as issued, whatever the hall changed since (the kiosk prints these)
        out["materials"] = kept.get("materials", list(config.materials(t.matter)))
    if secret:
        out["id"] = t.id
        out["page"] = f"/t/{t.id}"
    if isinstance(matter, Bundle):
        steps = bundle_steps(t, matter)
        out["step"] = {"index": t.step + 1, "of": len(steps), "steps": [
            {"code": s, "name": service_label(config, s)[0]} for s in steps]}
    if t.window is not None and t.state in ("called", "serving"):
        w = config.windows[t.window]
        out["window"] = {"number": w.number, "name": w.name}
    if t.state == WAITING:
        pos = position if position is not None else engine.position(t)
        if pos is not None:
            out["position"] = position_view(pos)
    if public:
        out["rating"] = rating_view(engine, t)
    return out


def position_view(e: Estimate) -> dict:
    """A waiting ticket's place and estimate: the range and its Chinese wording (hallq/waits.py)."""
    return {"ahead": e.ahead, "estimated_wait_minutes": e.point,
            **estimate_fields(e.low, e.high, e.opens_at, e.on_duty)}


def rating_view(engine: Engine, t: Ticket) -> dict:
    """Whether the citizen may still rate (补充评价) and until when."""
    records = [r for r in engine.records_for(t.id) if r.end == "finished"]
    unrated = [r for r in records if r.rating_state != "rated"]
    if not records:
        return {"can_rate": False, "reason": "not_served"}
    if not unrated:
        return {"can_rate": False, "reason": "rated", "grade": records[-1].grade}
    deadline = unrated[-1].ended_at + timedelta(days=engine.config.rules.supplementary_rating_days)
    if engine.now() > deadline:
        return {"can_rate": False, "reason": "closed"}
    return {"can_rate": True, "until": iso(deadline), "service": service_label(engine.config, unrated[-1].service, t)[0]}


def window_view(engine: Engine, w: WindowState, waiting: int | None = None) -> dict:
    conf = engine.config.windows[w.number]
    current = engine.tickets.get(w.current) if w.current else None
    if not w.staff:
        state = "unstaffed"
    elif w.paused:
        state = "paused"
    elif current is not None:
        state = current.state
    else:
        state = "idle"
    staff = engine.config.staff.get(w.staff or "")
    out = {
        "number": w.number,
        "name": conf.name,
        "kind": conf.kind,
        "department": conf.department,
        "idle_text": conf.idle_text or f"{w.number}号窗口 {conf.name}",
        "state": state,
        "staff": {"number": staff.number, "name": staff.name} if staff else None,
        "paused": w.paused,
        "pause_reason": w.pause_reason,
        "pause_reason_name": PAUSE_REASONS.get(w.pause_reason or ""),
        "since": iso(w.since),
        "current": None,
        "services": {code: weight for code, weight in conf.services.items()},
        "evaluator": conf.evaluator is not None,
    }
    if current is not None:
        out["current"] = {
            "code": current.code, "state": current.state, "service": current.service,
            "service_name": engine.config.services[current.service].name,
            "called_at": iso(current.called_at), "recalls": current.recalls,
        }
    if waiting is not None:
        out["waiting"] = waiting
    return out


def hall_view(engine: Engine) -> dict:
    """The hall as kiosks show it: name, hotline, what every ticket says, and the hall's clock
    (`now`, `clock_rate`: the server's time, so a kiosk whose PC clock is wrong, or the demo's fast
    day, still shows the time printed on its tickets)."""
    config = engine.config
    return {"code": config.code, "name": config.name, "hotline": config.hotline,
            "public_url": config.public_url, "waiting_area": config.waiting_area,
            "no_show_rule": config.no_show_text(), "now": iso(engine.now()),
            "clock_rate": float(getattr(engine.clock, "factor", 1.0)), "notice": config.notice,
            "media": [f"/api/v1/media/{name}" for name in config.media], "media_seconds": config.media_seconds}


def menu_view(engine: Engine) -> list[dict]:
    out = []
    for entry in engine.menu():
        item = entry["item"]
        row = {
            "code": item.code,
            "name": item.name,
            "category": item.category,
            "prefix": item.prefix,
            "kind": "bundle" if isinstance(item, Bundle) else "service",
            "waiting": entry["waiting"],
            "estimated_wait_minutes": entry["estimated_wait_minutes"],
            **estimate_fields(entry["estimate"].low, entry["estimate"].high, entry["estimate"].opens_at,
                              entry["estimate"].on_duty),
            # False at lunch for matters no lunch window serves, and outside hours: grey it out.
            "issuing": entry["issuing"],
            "next_issuing": iso(entry["next_issuing"]),
        }
        if isinstance(item, Bundle):
            row["steps"] = list(item.steps)
        else:
            row.update(department=item.department, case_kind=item.case_kind, promised_days=item.promised_days)
        row["materials"] = list(engine.config.materials(item.code))
        out.append(row)
    return out
