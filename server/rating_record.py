"""The 好差评 record to GB/T 39734 and its published indicators.

A rating record ties together the matter (事项 code and name), the 办件编号 the business system gives
the matter when it accepts it (attached through the API, see `attach_case_number`), the unit
(department), window, staff member, channel, grade, the 差评 option tags, text and time, and whether
an upheld appeal (申诉复核, server/appeals.py) took it out of the scores — never out of the record.

Indicators (per window, staff member, matter, department or the hall, over services ended in the
period; `INDICATOR_LEGEND` is what the reports page shows):

- 好评率 = (非常满意 + 满意 + 基本满意) ÷ ratings that count (`scored_ratings`: not taken out by an
  upheld appeal; a province's default 基本满意 counts here);
- 主动评价率 = services rated on site (评价器, 自助终端) ÷ services;
- 未评价率 = services the citizen did not rate (no rating, or only the profile's default one) ÷ services.

The hall counts them from its tables (`indicators`), the county from the shipped events
(`event_counts`, county/rollup.py and county/live.py); both turn counts into rates with `rates`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from hallq.model import HallConfig
from hallq.rating_profiles import DEFAULT_GRADE, profile_of

from .errors import Conflict, Invalid, NotFound
from .store import Changes, Store
from .tickets import CHANNEL_NAMES, DEFAULT_CHANNEL, GRADES, ON_SITE_CHANNELS, RATING_REASONS

INDICATORS = [("services", "服务数"), ("good_rate", "好评率"), ("active_rate", "主动评价率"),
              ("unrated_rate", "未评价率")]
INDICATOR_LEGEND = {
    "services": "本期办结的服务次数（每次办结算一次服务）",
    "good_rate": "（非常满意 + 满意 + 基本满意）÷ 计分的评价数；申诉复核成立的评价不计分，默认评价计入",
    "active_rate": "现场评价（评价器、自助终端）的服务数 ÷ 服务数",
    "unrated_rate": "群众未评价的服务数（无评价或仅有默认评价）÷ 服务数",
}
GROUPS = {"window": "窗口", "staff": "工作人员", "service": "事项", "department": "部门", "hall": "大厅"}


def attach_case_number(engine, store: Store, window: int, number: str, by: str, record: int | None = None) -> dict:
    """Tie the business system's 办件编号 to a service at `window`: the named record, else the one being
    served there, else the last one it ended. Once attached it stays (a different number is a 409)."""
    if record is None:
        state = engine.window_state(window)
        record = engine.ticket(state.current).record_id if state.current else state.last_record
        if record is None:
            raise Conflict(f"window {window} has served nobody to attach a case number to", field="window",
                           code="no_service")
    rows = store.rows("SELECT id, window, ticket_code, service FROM records WHERE id = ?", [record])
    if not rows:
        raise NotFound(f"no service record {record}", field="record")
    row = rows[0]
    if row["window"] != window:
        raise Invalid(f"service record {record} was not served at window {window}", field="record")
    have = store.rows("SELECT case_number FROM case_numbers WHERE record_id = ?", [record])
    if have:
        if have[0]["case_number"] == number:
            return {"record": record, "case_number": number, "ticket_code": row["ticket_code"]}
        raise Conflict(f"service record {record} has case number {have[0]['case_number']} already",
                       field="case_number", code="already_attached")
    now = engine.now().isoformat()
    ch = Changes()
    ch.put("case_numbers", {"record_id": record, "case_number": number, "attached_by": by, "attached_at": now})
    ch.event(ts=now, type="rating.case_number", actor=by, window=window, ticket_code=row["ticket_code"],
             service=row["service"], data={"record": record, "case_number": number})
    store.commit(ch)
    return {"record": record, "case_number": number, "ticket_code": row["ticket_code"]}


RECORD_SQL = """
SELECT r.*, n.case_number,
    (SELECT a.state FROM appeals a WHERE a.record_id = r.record_id ORDER BY a.id DESC LIMIT 1) AS appeal_state
FROM ratings r LEFT JOIN case_numbers n ON n.record_id = r.record_id
"""


def record_view(config: HallConfig, row: dict) -> dict:
    """One rating as GB/T 39734 lists its fields (the citizen's phone and ticket id left out)."""
    service = config.services.get(row["service"])
    staff = config.staff.get(row["staff"] or "")
    window = config.windows.get(row["window"])
    tags = json.loads(row["tags"]) if row.get("tags") else ([row["reason"]] if row["reason"] else [])
    return {
        "id": row["id"], "record": row["record_id"], "ticket_code": row["ticket_code"],
        "service_code": row["service"], "service_name": service.name if service else row["service"],
        "case_number": row.get("case_number"), "department": row["department"],
        "window": row["window"], "window_name": window.name if window else None,
        "staff": row["staff"], "staff_name": staff.name if staff else None,
        "channel": row["channel"], "channel_name": CHANNEL_NAMES.get(row["channel"], row["channel"]),
        "grade": row["grade"], "grade_name": GRADES[row["grade"]],
        "tags": tags, "tag_names": [RATING_REASONS[t] for t in tags if t in RATING_REASONS],
        "comment": row["comment"], "served_at": row["served_at"], "rated_at": row["rated_at"],
        "appeal": row.get("appeal_state"), "scored": row.get("appeal_state") != "upheld",
    }


def records(store: Store, config: HallConfig, start: datetime | str, end: datetime | str,
            limit: int = 1000) -> list[dict]:
    """The rating records of services ended in [start, end), oldest first."""
    lo, hi = str(start if isinstance(start, str) else start.isoformat()), str(end if isinstance(end, str) else end.isoformat())
    rows = store.rows(RECORD_SQL + " WHERE r.served_at >= ? AND r.served_at < ? ORDER BY r.served_at, r.id LIMIT ?",
                      [lo, hi, limit])
    return [record_view(config, r) for r in rows]


class DefaultRatings:
    """The province profile's default rating (广东 7 days → 基本满意), applied by the supervision thread.
    Remembers how far it got, so each run reads only services that came of age since the last."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.since = ""

    def run(self) -> int:
        profile = profile_of(self.engine.config.rules)
        if not profile.default_after_days:
            return 0
        total = 0
        while True:
            cutoff = (self.engine.now() - timedelta(days=profile.default_after_days)).isoformat()
            n = self.engine.rate_by_default(DEFAULT_GRADE, profile.default_after_days, self.since)
            total += n
            if n < 500:
                self.since = cutoff
                return total


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def rates(services: int, on_site: int, unrated: int, scored: int, good: int) -> dict[str, float | None]:
    """好评率, 主动评价率, 未评价率 from their counts (None where the whole is 0)."""
    return {"good_rate": _rate(good, scored), "active_rate": _rate(on_site, services),
            "unrated_rate": _rate(unrated, services)}


def event_counts(events: list[dict]) -> dict[str, int]:
    """The event-log form of the counts `indicators` reads from the tables: services (`ticket.finished`:
    one per record ended finished), those rated on site, those the citizen did not rate. Every
    `rating.recorded` rates a finished record (a 办结 service), at most once; an upheld appeal takes a
    rating out of 好评率 only, so `events` here still hold the ratings appeals took out."""
    services = on_site = by_citizen = 0
    for ev in events:
        if ev["type"] == "ticket.finished":
            services += 1
        elif ev["type"] == "rating.recorded":
            channel = ev["data"].get("channel")
            on_site += channel in ON_SITE_CHANNELS
            by_citizen += channel != DEFAULT_CHANNEL
    return {"services": services, "rated_on_site": on_site, "unrated": services - by_citizen}


def indicators(store: Store, lo: str, hi: str, group: str) -> dict[str, dict]:
    """Group key -> services, 好评率, 主动评价率, 未评价率 over services ended in [lo, hi) (dates)."""
    if group not in GROUPS:
        raise Invalid(f"group must be one of {', '.join(GROUPS)}", field="group")
    key = "'all'" if group == "hall" else f"rec.[{group}]"
    on_site = ", ".join(f"'{c}'" for c in ON_SITE_CHANNELS)
    out: dict[str, dict] = {}
    for r in store.rows(
        f"SELECT {key} AS k, COUNT(*) AS services, "
        f"SUM(ra.channel IN ({on_site})) AS on_site, "
        f"SUM(ra.id IS NULL OR ra.channel = '{DEFAULT_CHANNEL}') AS unrated, "
        "SUM(sr.id IS NOT NULL) AS scored, SUM(sr.grade >= 3) AS good "
        "FROM records rec LEFT JOIN ratings ra ON ra.record_id = rec.id "
        "LEFT JOIN scored_ratings sr ON sr.record_id = rec.id "
        "WHERE rec.[end] = 'finished' AND rec.day >= ? AND rec.day < ? GROUP BY k", [lo, hi],
    ):
        k = "" if r["k"] is None else str(r["k"])
        out[k] = {"key": k, "services": r["services"], "ratings": r["scored"] or 0,
                  **rates(r["services"], r["on_site"] or 0, r["unrated"] or 0, r["scored"] or 0, r["good"] or 0)}
    return out
