"""The engine's records: tickets, service records (one per call) and window states.

They are plain mutable dataclasses; the engine copies one, changes the copy, writes it, and only
then swaps it in, so a refused or failed action leaves memory exactly as the store has it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hallq.model import Bundle, HallConfig

WAITING, CALLED, SERVING, PARKED, FINISHED, NO_SHOW = "waiting", "called", "serving", "parked", "finished", "no_show"
LIVE_STATES = (WAITING, CALLED, SERVING, PARKED)
FINAL_STATES = (FINISHED, NO_SHOW)

OUTCOMES = {"done": "即办", "accepted": "承诺件受理", "cannot": "办不成", "informed": "一次性告知"}
PAUSE_REASONS = {"break": "休息", "meeting": "会议", "lunch": "午休", "other": "其他"}
GRADES = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
GRADE_SCORES = {5: 10, 4: 8, 3: 6, 2: 3, 1: 0}
RATING_REASONS = {"attitude": "服务态度", "efficiency": "办事效率", "competence": "业务水平", "environment": "环境设施"}
RATING_CHANNELS = ("evaluator", "qr", "web", "kiosk", "hotline")
# The record's channel names (GB/T 39734); "default" is the province profile's default rating
# (hallq/rating_profiles.py), which nobody posts. On site: the devices in the hall.
CHANNEL_NAMES = {"evaluator": "评价器", "qr": "二维码", "web": "网站/移动端", "kiosk": "自助终端",
                 "hotline": "12345 转办", "default": "默认评价"}
ON_SITE_CHANNELS = ("evaluator", "kiosk")
DEFAULT_CHANNEL = "default"  # counted in 好评率, not as the citizen's rating (未评价率)


@dataclass
class Ticket:
    id: str
    code: str
    prefix: str
    number: int
    day: str
    matter: str  # what was asked for: a service or a bundle code
    service: str  # the service it queues for now
    priority: str
    issued_at: datetime
    arrived_at: datetime  # original arrival, kept across transfers and bundle steps
    queued_at: datetime  # when it entered its current queue
    channel: str = "kiosk"
    state: str = WAITING
    step: int = 0
    priority_reason: str | None = None
    appointment: str | None = None
    slot_start: datetime | None = None
    phone: str | None = None
    id_number: str | None = None  # stored masked: only the age was needed
    id_key: str | None = None  # the ID number's matching key for its day (server/idkeys.py)
    name: str | None = None
    target_window: int | None = None
    window: int | None = None
    called_at: datetime | None = None
    recalls: int = 0
    parked_window: int | None = None
    outcome: str | None = None
    finished_at: datetime | None = None
    end_reason: str | None = None
    waiting_ahead: int = 0
    estimated_wait: float | None = 0.0  # None: nobody on duty for the matter at issue
    record_id: int | None = None  # the open service record while called/serving
    request_id: str | None = None  # the issuing kiosk's idempotency key
    sms: bool = False  # the citizen agreed to SMS at `phone` (即将到号, the call); off after opting out
    issued_with: str | None = None  # JSON {"name", "materials"}: the matter as printed (views.issued_with)


@dataclass
class Record:
    """One call of a ticket to a window: what the clerk did and how it ended; ratings hang off it."""

    id: int
    ticket_id: str
    ticket_code: str
    day: str
    window: int
    staff: str | None
    service: str
    department: str
    priority: str
    arrived_at: datetime
    called_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    end: str | None = None  # finished | no_show | parked | transferred
    outcome: str | None = None
    recalls: int = 0
    rating_state: str = "none"  # none | prompted | rated | timed_out
    prompted_at: datetime | None = None
    grade: int | None = None


@dataclass
class WindowState:
    number: int
    staff: str | None = None
    login_at: datetime | None = None
    paused: bool = False
    pause_reason: str | None = None
    paused_at: datetime | None = None
    current: str | None = None  # ticket id called or being served
    last_record: int | None = None  # the latest record at this window (for ratings)
    since: datetime | None = None  # when the window entered its present state


def to_row(obj) -> dict:
    """The record as a table row. Every field is a plain value (no containers), so a shallow read
    is the same as `dataclasses.asdict` without its deep copies."""
    row = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        row[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return row


def from_row(cls, row: dict):
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in row:
            continue
        value = row[f.name]
        if value is not None and "datetime" in str(f.type):
            value = datetime.fromisoformat(value)
        elif value is not None and f.type == "bool":
            value = bool(value)
        values[f.name] = value
    return cls(**values)


def copy(obj):
    return dataclasses.replace(obj)


def issued_with(t: Ticket) -> dict:
    """What the ticket was issued with (its matter's name and materials, a 一件事's steps), so a live
    config change leaves tickets already out as printed; {} for tickets issued before migration 15."""
    return json.loads(t.issued_with) if t.issued_with else {}


def bundle_steps(t: Ticket, bundle: Bundle) -> tuple[str, ...]:
    """The 一件事 steps this ticket goes through, which `t.step` indexes: those it was issued with
    (its paper counts them). Steps the hall adds, removes or reorders later are for the next
    tickets: indexing the new list would send a citizen half-way through to a step done already or
    skip one. The bundle's own steps for tickets issued before they were kept."""
    kept = issued_with(t).get("steps")
    return tuple(kept) if kept else bundle.steps


def service_label(config: HallConfig, code: str, t: Ticket | None = None) -> tuple[str, str | None]:
    """A service's name and department, also once the hall has removed it (allowed when nobody
    waits for it): a served ticket's page, 补充评价 and the evaluator's rating outlive the matter.
    Then the name the ticket was issued with (a plain service's ticket), else the code."""
    service = config.services.get(code)
    if service is not None:
        return service.name, service.department
    kept = issued_with(t) if t is not None and t.matter == code else {}
    return kept.get("name", code), None
