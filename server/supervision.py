"""电子监察: electronic supervision. Warn, then yellow card, then red card.

`evaluate` looks at one snapshot of the hall (windows, live tickets, open cases and committed cases)
at one moment and says which conditions hold now, each with a level from `rules.alerts`:

- wait_minutes              the longest wait per service (from the citizen's original arrival);
- service_minutes           a service running long at a window;
- called_minutes            a called citizen who has not come to the window;
- idle_with_waiting_minutes a staffed window calling nobody while people it could serve wait;
- paused_minutes            a paused window while people it could serve wait;
- unstaffed_minutes         a window with nobody signed in during opening hours;
- deadline_days             working days left on an accepted 承诺件 (fewer is worse; 0 = due today);
- 差评 cases whose call-back or fix is overdue (red), and provisional deadlines for want of holiday
  data (warning: upgrade chinese-calendar).

`AlertBoard.sync` turns those findings into rows and events, one alert per condition: a new
condition is raised (`alert.raised`), a worse level than the alert has reached raises again and
needs a new acknowledgement (a lesser one only updates the text), a condition that no longer holds
is cleared (`alert.cleared`). A finding that comes back while its condition is the one already
alerted (a paused window whose queue emptied and refilled, the same citizen still waiting) reopens
that alert with its acknowledgement (`alert.reopened`) instead of raising a new one. 空岗 is
counted from `rules.unstaffed_grace_minutes` after opening (clerks sign in then) and never from
before the server ran (no clerk could sign in then), with the same grace after the start; 承诺件 alerts begin `rules.alerts.deadline_days`
working days before the deadline (default the day before). Devices report their own conditions (`report`, keyed by
kind and source). A supervisor acknowledges an alert with a note (`alert.acked`), or many at once with one
note (`ack_many`); it stays on the board until the condition clears. A spell of failing storage (disk full, write lock held) is told
once writes work again (`storage_fault`); nothing clears that one but the acknowledgement. `Checker`
runs the loop in a background thread on the engine's clock, and while storage is faulty it first
tries a small write, so a freed disk is noticed even when the hall writes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hallq.config import DEFAULT_ALERTS
from hallq.model import AlertLevels, HallConfig

from . import allocation
from .allocation import Candidate
from .cases import last_day, overdue_steps
from .commitments import deadline_date
from .deadline import holding
from .errors import Conflict, Invalid, NotFound
from .hours import day_sessions
from .rating_record import DefaultRatings
from .storage_faults import STATE_NAMES, Fault, StorageError
from .store import Changes, Store
from .tickets import CALLED, SERVING, WAITING, Ticket, WindowState
from .workdays import working_days_left

log = logging.getLogger(__name__)

LEVELS = ("warning", "yellow", "red")
LEVEL_NAMES = {"warning": "提醒", "yellow": "黄牌", "red": "红牌"}
CHECKER_KINDS = {
    "wait": "等候超时", "service": "办理超时", "called": "叫号未到", "idle": "空闲不叫号",
    "paused": "暂停服务", "unstaffed": "窗口空岗", "deadline": "承诺件临期", "case_callback": "差评回访逾期",
    "case_fix": "差评整改逾期", "calendar": "节假日数据缺失",
}
AUDIT_SECONDS = 600.0  # how often the checker walks the whole SM3 chain (server/audit_chain.py)
DEVICE_KINDS = {
    "device_offline": "设备离线", "printer_paper_low": "打印纸将尽", "printer_paper_out": "打印机缺纸",
    "printer_error": "打印机故障",
}
STORAGE_KINDS = {"storage": "存储故障"}  # cleared by the acknowledgement: the condition is over when raised
AUDIT_KINDS = {"audit": "记录被篡改"}  # the SM3 chain does not verify: raised and cleared by check_audit
# records the provincial 好差评 platform refused (server/province_link.py): raised while any is kept
# rejected in the outbox, cleared when none is left (fixed and resent)
PROVINCE_KINDS = {"province_rejected": "省平台退回记录"}
# the hall's TOML file was edited while it was down and would strand live tickets: the last saved
# version runs (server/config_versions.py); raised at start-up, cleared once the file applies
CONFIG_KINDS = {"config_held": "配置文件未生效"}
# the county holds a different history of this hall's event log (a database restored from a backup,
# server/shipper.py): shipping paused; raised by server/county_link.py, cleared once the county rebased
COUNTY_KINDS = {"county_diverged": "与县级平台记录不一致"}
KIND_NAMES = {**CHECKER_KINDS, **DEVICE_KINDS, **STORAGE_KINDS, **AUDIT_KINDS, **PROVINCE_KINDS, **CONFIG_KINDS,
              **COUNTY_KINDS}


@dataclass(frozen=True)
class Finding:
    """One condition that holds now."""

    key: str
    kind: str
    level: str
    message: str
    window: int | None = None
    staff: str | None = None
    service: str | None = None
    department: str | None = None
    since: datetime | None = None  # when the condition began, if it can come and go while it lasts


@dataclass
class Snapshot:
    windows: list[WindowState]
    tickets: list[Ticket]
    cases: list[dict] = field(default_factory=list)
    commitments: list[dict] = field(default_factory=list)
    watching_since: datetime | None = None  # when the server began (nothing is known from before)


def thresholds(config: HallConfig, name: str) -> AlertLevels:
    """The configured levels, or hallq's defaults for a hall built without them (tests, old files)."""
    found = config.rules.alerts.get(name)
    return found if found is not None else AlertLevels(*DEFAULT_ALERTS[name])


def level_for(value: float, levels: AlertLevels, lower_is_worse: bool = False) -> str | None:
    """The worst level `value` reaches, or None below the warning threshold."""
    for name in reversed(LEVELS):
        limit = getattr(levels, name)
        if (value <= limit) if lower_is_worse else (value >= limit):
            return name
    return None


def _minutes(since: datetime | None, now: datetime) -> float:
    return (now - since).total_seconds() / 60 if since else 0.0


def opening_start(config: HallConfig, window: int, now: datetime) -> datetime | None:
    """When the present opening period began, or None outside opening hours (for this window)."""
    hours = config.hours
    sessions = day_sessions(hours, now.date())
    if not sessions:
        return None
    t = now.time()
    for s in sessions:
        if s.start <= t < s.end:
            return datetime.combine(now.date(), s.start, now.tzinfo)
    if window in hours.lunch_windows and sessions[0].start <= t < sessions[-1].end:
        return datetime.combine(now.date(), sessions[0].start, now.tzinfo)
    return None


def _candidate(config: HallConfig, t: Ticket, now: datetime) -> Candidate:
    rank = config.priorities[t.priority].rank if t.priority in config.priorities else allocation.NORMAL_RANK
    return Candidate(id=t.id, service=t.service, rank=allocation.effective_rank(rank, t.slot_start, now),
                     arrived=t.arrived_at, number=t.number, target_window=t.target_window,
                     minutes=config.services[t.service].minutes if t.service in config.services else 1.0)


def evaluate(config: HallConfig, snap: Snapshot, now: datetime) -> list[Finding]:
    """Every condition that holds at `now`; depends on nothing but its arguments."""
    findings: list[Finding] = []
    waiting = [t for t in snap.tickets if t.state == WAITING]
    findings += _waits(config, waiting, now)
    candidates = [_candidate(config, t, now) for t in waiting]
    by_id = {t.id: t for t in snap.tickets}
    for w in snap.windows:
        findings += _window(config, w, by_id, candidates, now, snap.watching_since)
    findings += _deadlines(config, snap.commitments, now)
    findings += _cases(snap.cases, now)
    return findings


def _waits(config: HallConfig, waiting: list[Ticket], now: datetime) -> list[Finding]:
    levels = thresholds(config, "wait_minutes")
    by_service: dict[str, list[float]] = {}
    for t in waiting:
        by_service.setdefault(t.service, []).append(_minutes(t.arrived_at, now))
    out = []
    for code, waits in sorted(by_service.items()):
        longest = max(waits)
        level = level_for(longest, levels)
        if level:
            service = config.services[code]
            over = sum(1 for m in waits if m >= levels.warning)
            first = min(t.arrived_at for t in waiting if t.service == code)
            out.append(Finding(f"wait:{code}", "wait", level,
                               f"{service.name}：最长等候 {longest:.0f} 分钟，{over} 人超过 {levels.warning:g} 分钟",
                               service=code, department=service.department, since=first))
    return out


def _window(config: HallConfig, w: WindowState, tickets: dict[str, Ticket], candidates: list[Candidate],
            now: datetime, watching_since: datetime | None = None) -> list[Finding]:
    conf = config.windows.get(w.number)
    if conf is None:
        return []
    base = {"window": w.number, "staff": w.staff, "department": conf.department or None}
    label = f"{w.number}号窗口"
    current = tickets.get(w.current) if w.current else None
    if current is not None and current.state in (CALLED, SERVING):
        # A QB-68 keypad has no "citizen arrived" key: at a keypad window a called ticket stays
        # "called" until FINISH, so the time since the call is service time there, not absence.
        waiting_for_citizen = current.state == CALLED and conf.keypad is None
        name, kind, text = (("called_minutes", "called", "已叫号未到") if waiting_for_citizen
                            else ("service_minutes", "service", "办理"))
        minutes = _minutes(current.called_at, now)
        level = level_for(minutes, thresholds(config, name))
        if level:
            return [Finding(f"{kind}:{w.number}", kind, level, f"{label} {current.code} {text} {minutes:.0f} 分钟",
                            service=current.service, since=current.called_at, **base)]
        return []
    if not w.staff:
        start = opening_start(config, w.number, now)
        if start is None:
            return []
        grace = timedelta(minutes=config.rules.unstaffed_grace_minutes)
        counted = [start + grace, w.since or start]  # clerks have the grace to sign in after opening
        if watching_since is not None:  # before that no clerk could sign in: not the window's 空岗
            counted.append(watching_since + grace)
        since = max(counted)
        if since >= now:
            return []
        minutes = _minutes(since, now)
        level = level_for(minutes, thresholds(config, "unstaffed_minutes"))
        return [Finding(f"unstaffed:{w.number}", "unstaffed", level, f"{label}营业时间无人在岗 {minutes:.0f} 分钟",
                        since=since, **base)] if level else []
    eligible = allocation.order(conf, candidates, now, config.rules)
    if not eligible:
        return []
    if w.paused:
        if w.pause_reason == "lunch" and opening_start(config, w.number, now) is None:
            return []  # the lunch break of a window that does not serve at lunch: no 空岗
        minutes = _minutes(w.paused_at, now)
        level = level_for(minutes, thresholds(config, "paused_minutes"))
        return [Finding(f"paused:{w.number}", "paused", level,
                        f"{label}暂停 {minutes:.0f} 分钟，{len(eligible)} 人可由本窗口办理", since=w.paused_at,
                        **base)] if level else []
    since = max([w.since or now] + [min(c.arrived for c in eligible)])
    minutes = _minutes(since, now)
    level = level_for(minutes, thresholds(config, "idle_with_waiting_minutes"))
    return [Finding(f"idle:{w.number}", "idle", level,
                    f"{label}空闲 {minutes:.0f} 分钟未叫号，{len(eligible)} 人等候", since=since, **base)] if level else []


def _deadlines(config: HallConfig, commitments: list[dict], now: datetime) -> list[Finding]:
    levels = thresholds(config, "deadline_days")
    out = []
    days_left: dict = {}  # per deadline: counting working days walks the calendar day by day
    for row in commitments:
        deadline = deadline_date(row)
        if deadline is None:
            continue
        if row.get("due_error"):
            out.append(_calendar_finding(row["due_error"]))
        if deadline not in days_left:
            days_left[deadline] = working_days_left(now.date(), deadline, limit=max(0, int(levels.warning)))
        left = days_left[deadline]
        level = level_for(left, levels, lower_is_worse=True)
        if level:
            service = config.services.get(row["service"])
            when = f"剩 {left} 个工作日" if left > 0 else ("今日到期" if left == 0 else f"已逾期 {-left} 个工作日")
            out.append(Finding(f"deadline:{row['record_id']}", "deadline", level,
                               f"承诺件 {row['ticket_code']}（{service.name if service else row['service']}）"
                               f"{when}，期限 {deadline.isoformat()}",
                               window=row["window"], staff=row["staff"], service=row["service"],
                               department=row["department"]))
    return out


def _cases(cases: list[dict], now: datetime) -> list[Finding]:
    out = []
    for case in cases:
        if case["due_error"]:
            out.append(_calendar_finding(case["due_error"]))
        for step, due in overdue_steps(case, now):
            kind = f"case_{step}"
            what = "回访" if step == "callback" else "整改"
            out.append(Finding(f"case:{case['id']}:{step}", kind, "red",
                               f"差评件 #{case['id']}（{case['ticket_code']}）{what}已逾期，期限 {last_day(due)}",
                               window=case["window"], staff=case["staff"], service=case["service"],
                               department=case["department"]))
    return out


def _calendar_finding(message: str) -> Finding:
    """One hall-wide warning however many deadlines are provisional: the fix is one upgrade."""
    return Finding("calendar", "calendar", "warning", f"节假日数据缺失：{message}")


def _dedupe(findings: list[Finding]) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for f in findings:
        out.setdefault(f.key, f)
    return out


class AlertBoard:
    """Alert rows and their events: raise, clear, acknowledge."""

    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        self.store = store
        self.now = now
        self.started_at = now()  # supervision knows nothing of the hall before this
        self._lock = threading.RLock()

    def active(self) -> list[dict]:
        return self.store.rows("SELECT * FROM alerts WHERE active = 1 ORDER BY "
                               "CASE level WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END, raised_at")

    def recent(self, since: str) -> list[dict]:
        return self.store.rows("SELECT * FROM alerts WHERE active = 1 OR raised_at >= ? ORDER BY id DESC", [since])

    def get(self, alert_id: int) -> dict:
        rows = self.store.rows("SELECT * FROM alerts WHERE id = ?", [alert_id])
        if not rows:
            raise NotFound(f"no alert {alert_id}", field="alert")
        return rows[0]

    def sync(self, findings: list[Finding]) -> dict[str, int]:
        """Make the checker's active alerts match `findings`; device alerts are left alone."""
        with self._lock:
            now = self.now().isoformat()
            wanted = _dedupe(findings)
            active = {a["key"]: a for a in self.active() if a["kind"] in CHECKER_KINDS}
            ch = Changes()
            counts = {"raised": 0, "cleared": 0}
            for key, f in wanted.items():
                row = active.get(key)
                if row is None:
                    row = self._same_condition(key, f)
                    if row is not None:
                        self._reopen(ch, row, now)
                if row is None or _worse(f.level, row["level"]):
                    counts["raised"] += 1
                self._put(ch, f, row, now)
            for key, row in active.items():
                if key not in wanted:
                    counts["cleared"] += 1
                    self._clear(ch, row, now, "system")
            if ch.rows:
                self.store.commit(ch)
            return counts

    def _same_condition(self, key: str, f: Finding) -> dict | None:
        """The cleared alert of this key whose condition `f` still is (it began before that alert
        was raised), or None: then `f` is a condition of its own."""
        if f.since is None:
            return None
        rows = self.store.rows("SELECT * FROM alerts WHERE [key] = ? AND active = 0 ORDER BY id DESC LIMIT 1", [key])
        if not rows or rows[0]["kind"] not in CHECKER_KINDS:
            return None
        return rows[0] if f.since <= datetime.fromisoformat(rows[0]["raised_at"]) else None

    def _reopen(self, ch: Changes, row: dict, now: str) -> None:
        row.update(active=1, cleared_at=None, updated_at=now)
        ch.put("alerts", row)
        ch.event(ts=now, type="alert.reopened", actor="system", window=row["window"], service=row["service"],
                 data={"alert": row["id"], "kind": row["kind"], "level": row["level"], "message": row["message"]})

    def _put(self, ch: Changes, f: Finding, row: dict | None, now: str, actor: str = "system") -> None:
        """Insert a new alert or update a live one; a level worse than the alert has reached is a new
        raise and needs a new ack, a lesser one (a device may report one) only changes the text."""
        if row is not None and not (_worse(f.level, row["level"]) or (actor != "system" and f.level != row["level"])):
            if row["message"] != f.message:
                ch.put("alerts", {**row, "message": f.message, "updated_at": now})
            return
        fields = {"key": f.key, "kind": f.kind, "source": f.key.split(":", 1)[-1], "level": f.level,
                  "message": f.message, "window": f.window, "staff": f.staff, "service": f.service,
                  "department": f.department, "updated_at": now, "active": 1,
                  "acked_by": None, "acked_at": None, "ack_note": None, "cleared_at": None}
        if row is None:
            row = {**fields, "id": self._next_id(ch), "raised_at": now}
        else:
            row = {**row, **fields}
        ch.put("alerts", row)
        ch.event(ts=now, type="alert.raised", actor=actor, window=f.window, service=f.service,
                 data={"alert": row["id"], "kind": f.kind, "kind_name": KIND_NAMES[f.kind], "level": f.level,
                       "level_name": LEVEL_NAMES[f.level], "message": f.message, "escalated": row["raised_at"] != now})

    def _clear(self, ch: Changes, row: dict, now: str, actor: str) -> None:
        ch.put("alerts", {**row, "active": 0, "cleared_at": now, "updated_at": now})
        ch.event(ts=now, type="alert.cleared", actor=actor, window=row["window"], service=row["service"],
                 data={"alert": row["id"], "kind": row["kind"], "level": row["level"], "message": row["message"]})

    def _next_id(self, ch: Changes) -> int:
        taken = [r["id"] for t, r in ch.rows if t == "alerts" and r.get("id")]
        stored = self.store.rows("SELECT COALESCE(MAX(id), 0) AS m FROM alerts")[0]["m"]
        return max([stored] + taken) + 1

    def report(self, kind: str, source: str, level: str, message: str, active: bool, by: str,
               window: int | None = None) -> dict:
        """A device's own condition (offline, paper low …): raised while active, cleared when not."""
        if kind not in DEVICE_KINDS:
            raise Invalid(f"kind must be one of {', '.join(DEVICE_KINDS)}", field="kind")
        if not source or len(source) > 64:
            raise Invalid("source names the device in 1–64 characters, e.g. strip:3", field="source")
        if level not in LEVELS:
            raise Invalid(f"level must be one of {', '.join(LEVELS)}", field="level")
        if len(message) > 200:
            raise Invalid("message is limited to 200 characters", field="message")
        key = f"{kind}:{source}"
        with holding(self._lock, "the alert"):
            now = self.now().isoformat()
            rows = self.store.rows("SELECT * FROM alerts WHERE [key] = ? AND active = 1", [key])
            row = rows[0] if rows else None
            ch = Changes()
            if active:
                f = Finding(key, kind, level, message or f"{DEVICE_KINDS[kind]}：{source}", window=window)
                self._put(ch, f, row, now, actor=by)
            elif row is not None:
                self._clear(ch, row, now, by)
            if ch.rows:
                self.store.commit(ch)
            rows = self.store.rows("SELECT * FROM alerts WHERE [key] = ? ORDER BY id DESC LIMIT 1", [key])
            return {"result": "accepted" if ch.rows else "nothing_to_do", "alert": rows[0] if rows else None}

    def audit(self, message: str) -> None:
        """Raise the broken-chain alert with `message`, or clear it when `message` is empty."""
        self._standing("audit", "audit", "red", message)

    def province_rejected(self, message: str) -> None:
        """Raise the yellow alert for records the provincial platform refused (`message` names how many
        and the latest reason; its text follows the count), or clear it when `message` is empty."""
        self._standing("province_rejected:province:platform", "province_rejected", "yellow", message)

    def config_held(self, message: str) -> None:
        """Raise the yellow alert for a configuration file edited while the hall was down that waits for
        the tickets it would strand (the director would otherwise believe it applied), or clear it."""
        self._standing("config_held:file", "config_held", "yellow", message)

    def county_diverged(self, message: str) -> None:
        """Raise the red alert for a hall whose event log the county holds differently (shipping has
        stopped: nothing of the hall's new history reaches the county), or clear it."""
        self._standing("county_diverged:county:link", "county_diverged", "red", message)

    def _standing(self, key: str, kind: str, level: str, message: str) -> None:
        """One alert that stands while a condition holds: raised (or its text brought up to date) with
        `message`, cleared by the system when `message` is empty."""
        with self._lock:
            now = self.now().isoformat()
            rows = self.store.rows("SELECT * FROM alerts WHERE [key] = ? AND active = 1", [key])
            ch = Changes()
            if message:
                self._put(ch, Finding(key, kind, level, message[:200]), rows[0] if rows else None, now)
            elif rows:
                self._clear(ch, rows[0], now, "system")
            if ch.rows:
                self.store.commit(ch)

    def storage_fault(self, fault: Fault) -> dict:
        """Raise the alert for a spell of failing storage that has just ended (it could not be written
        while it lasted): red for a full disk or an unusable file, yellow for a write lock held by
        another process. An unacknowledged one for the same fault is replaced by the new one."""
        level = "yellow" if fault.state == "busy" else "red"
        end = f"{fault.ended:%H:%M:%S} 恢复" if fault.ended else "尚未恢复，请从备份恢复数据库"
        message = (f"{STATE_NAMES[fault.state]}：数据库 {self.store.path} 自 {fault.since:%H:%M:%S} 起"
                   f"操作失败 {fault.failures} 次，{end}（{fault.code}）")
        key = f"storage:{fault.code}"
        with self._lock:
            now = self.now().isoformat()
            ch = Changes()
            for row in self.store.rows("SELECT * FROM alerts WHERE [key] = ? AND active = 1", [key]):
                self._clear(ch, row, now, "system")
            self._put(ch, Finding(key, "storage", level, message[:200]), None, now)
            self.store.commit(ch)
            return self.get(ch.rows[-1][1]["id"])

    def ack(self, alert_id: int, by: str, note: str | None) -> dict:
        """A supervisor has seen the alert and says what is being done."""
        note = _ack_note(note)
        with holding(self._lock, "the acknowledgement"):
            row = self.get(alert_id)
            if not row["active"]:
                raise Conflict("this alert has cleared already", field="alert", code="cleared")
            if row["acked_at"]:
                raise Conflict(f"acknowledged already by {row['acked_by']}", field="alert", code="already_acked")
            ch = Changes()
            row = self._acked(ch, row, by, note, self.now().isoformat())
            self.store.commit(ch)
            return row

    def ack_many(self, alert_ids: list[int], by: str, note: str | None) -> dict:
        """One note for many alerts (a morning's 空岗 cards, one cause): those still active and not
        acknowledged are acknowledged in one transaction; the others are named with the reason."""
        note = _ack_note(note)
        if not alert_ids or len(alert_ids) > MAX_ACK_BATCH:
            raise Invalid(f"alerts lists 1 to {MAX_ACK_BATCH} alert ids", field="alerts")
        ids = list(dict.fromkeys(alert_ids))
        with holding(self._lock, "the acknowledgement"):
            marks = ",".join("?" for _ in ids)
            rows = {r["id"]: r for r in self.store.rows(f"SELECT * FROM alerts WHERE id IN ({marks})", ids)}
            missing = [i for i in ids if i not in rows]
            if missing:
                raise NotFound(f"no alert {', '.join(map(str, missing))}", field="alerts")
            now = self.now().isoformat()
            ch = Changes()
            acked, skipped = [], []
            for i in ids:
                row = rows[i]
                if not row["active"]:
                    skipped.append({"alert": i, "reason": "cleared"})
                elif row["acked_at"]:
                    skipped.append({"alert": i, "reason": "already_acked", "acked_by": row["acked_by"]})
                else:
                    acked.append(self._acked(ch, row, by, note, now))
            if ch.rows:
                self.store.commit(ch)
            return {"acked": acked, "skipped": skipped}

    def _acked(self, ch: Changes, row: dict, by: str, note: str, now: str) -> dict:
        row = {**row, "acked_by": by, "acked_at": now, "ack_note": note}
        if row["kind"] in STORAGE_KINDS:  # nothing else would ever clear it
            row.update(active=0, cleared_at=now, updated_at=now)
        ch.put("alerts", row)
        ch.event(ts=now, type="alert.acked", actor=by, window=row["window"], service=row["service"],
                 data={"alert": row["id"], "kind": row["kind"], "level": row["level"], "note": note})
        return row


MAX_ACK_BATCH = 500


def _ack_note(note: str | None) -> str:
    note = (note or "").strip()
    if not note:
        raise Invalid("an acknowledgement needs a note (what is being done)", field="note")
    if len(note) > 500:
        raise Invalid("a note is limited to 500 characters", field="note")
    return note


def _worse(level: str, than: str) -> bool:
    return LEVELS.index(level) > LEVELS.index(than)


def alert_view(row: dict) -> dict:
    return {
        "id": row["id"], "kind": row["kind"], "kind_name": KIND_NAMES.get(row["kind"], row["kind"]),
        "source": row["source"], "level": row["level"], "level_name": LEVEL_NAMES.get(row["level"], row["level"]),
        "message": row["message"], "window": row["window"], "service": row["service"],
        "raised_at": row["raised_at"], "updated_at": row["updated_at"], "cleared_at": row["cleared_at"],
        "active": bool(row["active"]), "acked_by": row["acked_by"], "acked_at": row["acked_at"],
        "ack_note": row["ack_note"],
    }


def snapshot(engine, store: Store, watching_since: datetime | None = None) -> Snapshot:
    """What `evaluate` needs, read from the engine and the store."""
    return Snapshot(
        windows=engine.window_states(),
        tickets=list(engine.live_tickets()),
        cases=store.rows("SELECT * FROM cases WHERE state != 'closed'"),
        commitments=store.rows("SELECT * FROM commitments WHERE state = 'open'"),
        watching_since=watching_since,
    )


def check_once(engine, board: AlertBoard) -> dict[str, int]:
    now = engine.now()
    return board.sync(evaluate(engine.config, snapshot(engine, board.store, board.started_at), now))


def check_audit(engine, board: AlertBoard) -> list:
    """Verify the SM3 chain now and raise (or clear) the alert; the problems found."""
    from .audit_chain import verify

    problems = [] if board.store.memory else verify(board.store.path)
    more = f"（另有 {len(problems) - 1} 处）" if len(problems) > 1 else ""
    message = f"记录校验失败：{problems[0]}{more}"[:200] if problems else ""
    board.audit(message)
    return problems


class Checker:
    """Runs `check_once` every `interval` seconds in a daemon thread until stopped."""

    def __init__(self, engine, board: AlertBoard, interval: float = 10.0) -> None:
        self.engine = engine
        self.board = board
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervision", daemon=True)
        self.default_ratings = DefaultRatings(engine)

    def start(self) -> Checker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        store = self.engine.store
        audited = float("-inf")
        while not self._stop.is_set():
            try:
                if store.state.ok or store.probe():
                    check_once(self.engine, self.board)
                    self.default_ratings.run()  # a province profile's default 基本满意
                    if time.monotonic() - audited >= AUDIT_SECONDS:
                        audited = time.monotonic()
                        check_audit(self.engine, self.board)
            except StorageError as exc:  # said on /health already; no traceback every 10 s
                log.warning("supervision check skipped: %s", exc.message)
            except Exception:
                log.exception("supervision check failed")
            self._stop.wait(self.interval)


def day_start(now: datetime) -> str:
    return datetime.combine(now.date(), datetime.min.time(), now.tzinfo).isoformat()
