"""The queue engine: tickets, windows, allocation and ratings, with no web and no serial in sight.

Each public action takes the engine lock (a write waits for it no longer than its request's
deadline, server/deadline.py, and then answers `Expired` having changed nothing), checks everything
first, builds the new state on copies, stages it with its event rows for the store's next group
commit and swaps the copies in; it returns once that commit is durable, waiting after the lock is
released (server/action_lock.py), so the next action runs during this one's disk sync. A failed
commit fails the action and the memory is read back from the store. A refused action raises a
`HallqError` naming the field and changes nothing.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hallq.model import Bundle, HallConfig, Service, Window

from . import allocation, booking, deadline, hours
from .action_lock import ActionLock
from .allocation import Candidate
from .clock import Clock, SystemClock
from .errors import Conflict, Invalid, NotFound
from .estimate import (
    Busy,
    Estimate,
    ServiceTimes,
    WindowOptions,
    _next_opening,
    configured_minutes,
    estimate_from,
    estimate_wait,
    estimate_waits,
    first_call,
    from_frame,
    off_duty,
    pause_key,
    serving_now,
    windows_for,
)
from .idkeys import IdKeys
from .kept_replay import KeptReplay
from .privacy import mask_text
from .store import Changes, Store
from .tickets import (
    CALLED,
    FINISHED,
    GRADES,
    LIVE_STATES,
    NO_SHOW,
    OUTCOMES,
    PARKED,
    PAUSE_REASONS,
    RATING_CHANNELS,
    RATING_REASONS,
    SERVING,
    WAITING,
    Record,
    Ticket,
    WindowState,
    bundle_steps,
    copy,
    from_row,
    service_label,
    to_row,
)

INVITE_WITHIN_MINUTES = 15  # INVITE_RATING after this long no longer belongs to that service
PROMPT_GRACE_SECONDS = 10  # the evaluator's own 30 s plus bus latency


class Result(dict):
    """An action's answer: {"result": "accepted" | "nothing_to_do", "ticket": ..., ...}."""


class Engine:
    def __init__(self, config: HallConfig, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self.store = store
        self.tz = ZoneInfo(config.rules.timezone)
        self.clock = clock or SystemClock(self.tz)
        # Group commit when the store is a file: an action waits for the disk after the lock
        # (server/action_lock.py); an in-memory store (the simulator) commits at once.
        self._grouped = not store.memory
        self._lock = ActionLock(self._sync) if self._grouped else threading.RLock()
        self._epoch = store.epoch
        self.tickets: dict[str, Ticket] = {}  # live tickets only
        self.windows: dict[int, WindowState] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.times = ServiceTimes(configured_minutes(config.services))
        self._next_record = 1
        # Per-request work kept between requests (issue #11), each valid only while its input is:
        self._candidates: dict[str, tuple[Ticket, Candidate]] = {}  # per waiting ticket object
        # The waiting tickets by id in `tickets` order, each walk-in with its Candidate (None: an
        # appointment, whose rank depends on the time). A new waiting ticket goes to the end, one that
        # changes stays in its place, one that leaves is taken out; only a live ticket coming back to
        # the queue (a transfer) has its old place in `tickets`, and the queue is rebuilt for it.
        self._queue: dict[str, tuple[Ticket, Candidate | None]] | None = None
        self._fresh_day: str | None = None  # a day no live ticket is older than
        self._options = WindowOptions()  # each matter's windows, for the estimates (config is fixed)
        # The replay of the queue kept between issues (server/kept_replay.py): any commit but an
        # issue that placed its ticket in it drops it.
        self._kept: KeptReplay | None = None
        self._keeping = False
        self.id_keys = IdKeys.ephemeral()  # the app sets the database's own (server/idkeys.py)
        self._load()

    # -- loading and time ------------------------------------------------------------------

    def _load(self) -> None:
        self._load_state()
        recent = self.store.rows(
            "SELECT service, COALESCE(started_at, called_at) AS s, ended_at AS e FROM records "
            "WHERE [end] = 'finished' ORDER BY id DESC LIMIT 300"
        )
        for r in reversed(recent):
            minutes = (datetime.fromisoformat(r["e"]) - datetime.fromisoformat(r["s"])).total_seconds() / 60
            self.times.add(r["service"], minutes)

    def _load_state(self) -> None:
        """Live tickets, windows, counters and the next record id, as the store has them."""
        self.tickets, self.windows, self.counters = {}, {}, {}
        self._candidates, self._queue, self._fresh_day = {}, None, None
        self._kept = None
        for row in self.store.iter_table("tickets", "state IN (?, ?, ?, ?)", LIVE_STATES):
            t = from_row(Ticket, row)
            self.tickets[t.id] = t
        for row in self.store.iter_table("windows"):
            w = from_row(WindowState, row)
            w.paused = bool(w.paused)
            self.windows[w.number] = w
        for number in self.config.windows:
            self.windows.setdefault(number, WindowState(number=number))
        for row in self.store.iter_table("counters"):
            self.counters[(row["prefix"], row["day"])] = row["last"]
        rows = self.store.rows("SELECT COALESCE(MAX(id), 0) AS m FROM records")
        self._next_record = rows[0]["m"] + 1

    def _sync(self) -> None:
        """At every outermost lock: a failed group commit threw away changes this memory already
        holds (and those staged after them), so it is read again from the store."""
        if self.store.epoch != self._epoch:
            self.store.settle()  # the failed group and those staged behind it have all been answered
            self._epoch = self.store.epoch
            self._load_state()

    def _rows(self, sql: str, params: list) -> list[dict]:
        """A read of what actions wrote (appointments, records, ended tickets): after the changes
        staged so far are durable, so it sees them."""
        if self._grouped:
            self.store.settle()
        return self.store.rows(sql, params)

    def now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    def today(self, now: datetime | None = None) -> str:
        return (now or self.now()).date().isoformat()

    def _begin(self) -> datetime:
        """Start of every action: the time, after closing yesterday's leftovers if the day turned."""
        now = self.now()
        day = self.today(now)
        if day != self._fresh_day:  # scan the live tickets once a day, not on every action
            stale = [t for t in self.tickets.values() if t.day < day]
            if stale:
                self._close_day(stale, now)
            self._fresh_day = day
        return now

    def turn_day(self) -> None:
        """Close yesterday's leftovers now if the day has turned, for reads that go to the store
        rather than through an engine view (today's figures, reports): just after midnight they
        would count yesterday's waiting tickets and staffed windows as still there."""
        with self._lock:
            self._begin()

    def _close_day(self, stale: list[Ticket], now: datetime) -> None:
        """Tickets left from an earlier day end as no-shows; windows start the day signed out."""
        ch = Changes(action=False)  # not the action of the request that happened to notice
        new_tickets, new_windows = [], []
        for t in stale:
            if t.record_id is not None:  # still at a window at midnight: close that service too
                self._end_record(ch, t, now, "day_closed")
            t = copy(t)
            t.state, t.end_reason, t.finished_at = NO_SHOW, "day_closed", now
            t.record_id = None
            new_tickets.append(t)
            ch.put("tickets", to_row(t))
            ch.event(ts=now.isoformat(), type="ticket.expired", actor="system", ticket_id=t.id,
                     ticket_code=t.code, service=t.service, data={"day": t.day})
        for w in self.windows.values():
            if w.staff or w.current or w.paused:
                w = WindowState(number=w.number, last_record=w.last_record, since=now)
                new_windows.append(w)
                ch.put("windows", to_row(w))
                ch.event(ts=now.isoformat(), type="window.reset", actor="system", window=w.number, data={})
        self._commit(ch, new_tickets, new_windows)

    def _commit(self, ch: Changes, tickets: Iterable[Ticket] = (), windows: Iterable[WindowState] = ()) -> None:
        if not self._keeping:
            self._kept = None  # the state the kept replay was made from changes
        if self._grouped:  # durable before the request is answered: ActionLock waits at release
            self._lock.staged(self.store.stage(ch, self._epoch))
        else:
            self.store.commit(ch)
        for t in tickets:
            self._candidates.pop(t.id, None)
            old = self.tickets.get(t.id)
            queue = self._queue
            if queue is not None:
                if t.state == WAITING:
                    if old is None or old.state == WAITING:
                        queue[t.id] = (t, self._walk_in(t))  # new: at the end; changed: in its place
                    else:
                        self._queue = None
                elif old is not None and old.state == WAITING:
                    del queue[t.id]
            if t.state in LIVE_STATES:
                self.tickets[t.id] = t
                if self._fresh_day is not None and t.day < self._fresh_day:
                    self._fresh_day = None
            else:
                self.tickets.pop(t.id, None)
        for w in windows:
            self.windows[w.number] = w

    # -- a new configuration, live --------------------------------------------------------

    def reconfigure(self, config: HallConfig, ch: Changes | Callable[[], Changes],
                    then: Callable[[], None] | None = None) -> list[dict]:
        """Run on `config` from the next action on: between two actions (under the engine's lock),
        written with `ch` (the version row and its event) in one transaction, or not at all.
        Tickets keep their code, matter and arrival; what they reference must still exist, so a
        change that removes a matter someone waits for, or a window someone works at, is refused
        (409) until they are done. `ch` may be a function that makes the changes under the lock (the
        next version number). `then` runs under the same lock after the swap."""
        with deadline.holding(self._lock, "the configuration"):
            self._still_serves(config)
            events = self.store.commit(ch() if callable(ch) else ch)
            self.config = config
            self.times.configured = configured_minutes(config.services)
            self.times._means.clear()
            self._options = WindowOptions()
            self._candidates.clear()
            self._queue = None
            self._kept = None
            for number in list(self.windows):
                if number not in config.windows:
                    del self.windows[number]  # unstaffed (checked above): nothing to keep
            for number in config.windows:
                self.windows.setdefault(number, WindowState(number=number))
            if then is not None:
                then()
            return events

    def still_serves(self, config: HallConfig) -> None:
        """Conflict (409 naming the key) if `config` would strand a live ticket or window."""
        with self._lock:
            self._still_serves(config)

    def _still_serves(self, config: HallConfig) -> None:
        if config.rules.timezone != self.config.rules.timezone:
            raise Conflict("the time zone changes only with a restart (every day and counter depends on it)",
                           field="rules.timezone", code="needs_restart")
        for t in self.tickets.values():
            item = self.config.matter(t.matter)
            ahead = bundle_steps(t, item)[t.step:] if isinstance(item, Bundle) else (t.service,)
            gone = [s for s in (t.service, *ahead) if s not in config.services]
            if config.matter(t.matter) is None or gone:
                raise Conflict(f"{t.code} still holds a ticket for {t.matter}: remove the matter once nobody waits "
                               "for it (now ends no ticket)", field=f"services[{(gone or [t.service])[0]}]",
                               code="in_use")
            for number in (t.parked_window, t.target_window):
                if number is not None and number not in config.windows:
                    raise Conflict(f"{t.code} waits for window {number}: keep the window until it is served",
                                   field=f"windows[{number}]", code="in_use")
            if t.priority not in config.priorities:
                raise Conflict(f"{t.code} still has priority {t.priority}", field=f"priorities[{t.priority}]",
                               code="in_use")
        for w in self.windows.values():
            if w.number not in config.windows and (w.staff or w.current or w.paused):
                raise Conflict(f"window {w.number} is still signed in or serving: sign it out first",
                               field=f"windows[{w.number}]", code="in_use")
            if w.staff and w.staff not in config.staff:
                raise Conflict(f"staff {w.staff} is still signed in at window {w.number}",
                               field=f"staff[{w.staff}]", code="in_use")

    # -- lookups ---------------------------------------------------------------------------

    def _window(self, number: int) -> tuple[Window, WindowState]:
        conf = self.config.windows.get(number)
        if conf is None:
            raise NotFound(f"no window {number} in this hall", field="window")
        return conf, self.windows[number]

    def _service(self, code: str) -> Service:
        return self.config.services[code]

    def _candidate(self, t: Ticket, now: datetime) -> Candidate:
        rank = self.config.priorities[t.priority].rank
        return Candidate(
            id=t.id, service=t.service, rank=allocation.effective_rank(rank, t.slot_start, now),
            arrived=t.arrived_at, number=t.number, target_window=t.target_window,
            minutes=self.config.services[t.service].minutes,
        )

    def _waiting(self, now: datetime) -> list[Candidate]:
        """Every waiting ticket as a Candidate. A ticket object is never changed once live (actions
        swap in changed copies), so its Candidate is reused until then — except an appointment's,
        whose rank changes at its slot's start."""
        queue = self._queue
        if queue is None:
            queue = self._queue = {t.id: (t, self._walk_in(t)) for t in self.tickets.values() if t.state == WAITING}
        return [c if c is not None else self._candidate(t, now) for t, c in queue.values()]

    def _walk_in(self, t: Ticket) -> Candidate | None:
        """A walk-in's Candidate, the same at any time (kept per ticket object); None for an appointment."""
        if t.slot_start is not None:
            return None
        hit = self._candidates.get(t.id)
        if hit is None or hit[0] is not t:
            hit = self._candidates[t.id] = (t, self._candidate(t, t.arrived_at))
        return hit[1]

    def open_windows(self) -> list[Window]:
        """Windows staffed and not paused: the capacity the queue has now."""
        return [self.config.windows[n] for n, w in sorted(self.windows.items()) if w.staff and not w.paused]

    def staffed_windows(self) -> list[Window]:
        """Windows with a clerk signed in, paused or not: what the estimates replay over (a paused
        window counts from when its clerk is expected back, see `_busy`); `estimate.serving_now`
        then keeps the lunch windows for a ticket issued at lunch."""
        return [self.config.windows[n] for n, w in sorted(self.windows.items()) if w.staff]

    def _serving(self, now: datetime, arrived: datetime | None = None) -> list[Window]:
        return serving_now(self.staffed_windows(), self.config.hours, now, arrived)

    def _busy(self) -> list[Busy]:
        out = []
        for w in self.windows.values():
            t = self.tickets.get(w.current) if w.current else None
            if t is not None and t.called_at is not None:
                out.append(Busy(window=w.number, service=t.service, since=t.called_at))
            elif w.staff and w.paused:
                since = w.paused_at or w.since
                if since is not None:
                    out.append(Busy(window=w.number, service=pause_key(w.pause_reason), since=since, pause=True))
        return out

    def _estimate(self, c: Candidate, now: datetime) -> Estimate:
        return estimate_wait(
            c, self._waiting(now), self._serving(now, c.arrived), list(self.config.windows.values()),
            self._busy(), self.times, now, rules=self.config.rules, hours=self.config.hours, options=self._options,
        )

    def _actor(self, actor: str | None) -> str:
        return actor or "system"

    def _event(self, ch: Changes, now: datetime, type_: str, actor: str | None, t: Ticket | None = None,
               window: int | None = None, served: str | None = None, **data) -> None:
        """One event of the log. `served`: the matter the event is about when the ticket has moved on
        since (a 一件事 step finished: the ticket already waits for the next step's matter)."""
        service = served or (t.service if t is not None else None)
        if t is not None:
            data.setdefault("code", t.code)
            name, department = service_label(self.config, service, t)  # also a matter removed since it was served
            data.setdefault("service_name", name)
            data.setdefault("department", department)  # county reports by 部门
            data.setdefault("priority", t.priority)
            data.setdefault("state", t.state)
        if window is not None and window in self.config.windows:
            data.setdefault("window_name", self.config.windows[window].name)
        if data.get("staff"):
            data.setdefault("staff_name", self._staff_name(data["staff"]))  # the county names staff across halls
        ch.event(ts=now.isoformat(), type=type_, actor=self._actor(actor), window=window,
                 ticket_id=t.id if t else None, ticket_code=t.code if t else None, service=service, data=data)

    # -- issuing -----------------------------------------------------------------------------

    def issue(
        self,
        matter: str,
        priority: str | None = None,
        appointment: str | None = None,
        phone: str | None = None,
        channel: str = "kiosk",
        id_number: str | None = None,
        name: str | None = None,
        priority_reason: str | None = None,
        actor: str | None = None,
        request_id: str | None = None,
        sms: bool = False,
    ) -> Ticket:
        """Issue a ticket for a service or a 一件事 bundle and put it in the waiting pool. `sms`: the
        citizen agreed to SMS (即将到号, the call) at `phone`; an appointment made with that consent
        brings it along."""
        with deadline.holding(self._lock, "the ticket"):
            now = self._begin()
            day = self.today(now)
            item = self.config.matter(matter) if isinstance(matter, str) else None
            if item is None:
                raise NotFound(f"no service or bundle {matter!r}", field="service")
            service = item.steps[0] if isinstance(item, Bundle) else item.code
            if phone is not None:
                phone = _clean_phone(phone)
            slot_start = None
            appt_row = None
            if appointment is not None:
                appt_row, slot_start = self._check_in(appointment, item, now)
                priority = "appointment"
                sms = sms or (bool(appt_row.get("sms")) and phone in (None, appt_row["phone"]))
                phone = phone or appt_row["phone"]
            elif priority == "appointment":
                raise Invalid("appointment priority comes only with an appointment code", field="priority")
            id_key = None
            if id_number is not None:
                age = _age_from_id(id_number, now.date())
                if priority is None and age >= self.config.rules.elderly_age:
                    priority, priority_reason = "green", "elderly"
                id_key = self.id_keys.of(day, id_number)  # the number itself is never kept
                id_number = _mask_id(id_number)
            priority = priority or "normal"
            if priority not in self.config.priorities:
                raise Invalid(f"unknown priority class {priority!r}", field="priority")
            if channel not in ("kiosk", "web", "mobile", "window", "phone", "demo"):
                raise Invalid(f"unknown channel {channel!r}", field="channel")
            if name is not None and not (1 <= len(name) <= 40):
                raise Invalid("name must be 1–40 characters", field="name")
            if sms and phone is None:
                raise Invalid("SMS needs the phone number to send to", field="sms")
            self._check_open(item.code, now)
            prefix = item.prefix
            number = self.counters.get((prefix, day), 0) + 1
            limit = 10 ** self.config.rules.number_width - 1
            if number > limit:
                raise Conflict(
                    f"ticket numbers for prefix {prefix} are used up for today "
                    f"({prefix}{limit:0{self.config.rules.number_width}d} was the last)",
                    field="service", code="numbers_exhausted",
                )
            t = Ticket(
                id=secrets.token_urlsafe(12), code=f"{prefix}{number:0{self.config.rules.number_width}d}",
                prefix=prefix, number=number, day=day, matter=item.code, service=service,
                priority=priority, priority_reason=priority_reason, issued_at=now, arrived_at=now,
                queued_at=now, channel=channel, appointment=appointment, slot_start=slot_start,
                phone=phone, id_number=id_number, id_key=id_key, name=name, request_id=request_id, sms=bool(sms),
                issued_with=json.dumps({"name": item.name, "materials": list(self.config.materials(item.code)),
                                        **({"steps": list(item.steps)} if isinstance(item, Bundle) else {})},
                                       ensure_ascii=False),
            )
            c = self._candidate(t, now)
            est, kept = self._issue_estimate(c, now)
            ahead = est.ahead
            t.waiting_ahead, t.estimated_wait = ahead, est.point
            t.issue_estimate = est  # not a column: only for the issuing answer (the printed ticket)
            ch = Changes()
            ch.put("counters", {"prefix": prefix, "day": day, "last": number})
            ch.put("tickets", to_row(t))
            if appt_row is not None:
                ch.put("appointments", {**appt_row, "state": "checked_in", "ticket_id": t.id})
            self._event(ch, now, "ticket.issued", actor, t, matter=item.code, waiting_ahead=ahead,
                        estimated_wait_minutes=t.estimated_wait, channel=channel)
            self._keeping = kept
            try:
                self._commit(ch, [t])
            except BaseException:
                self._kept = None  # it holds the ticket that was not issued
                raise
            finally:
                self._keeping = False
            self.counters[(prefix, day)] = number
            return t

    def _issue_estimate(self, c: Candidate, now: datetime) -> tuple[Estimate, bool]:
        """The estimate printed on a new ticket, and whether the kept replay now holds it. The
        replay runs from the start of the second (`frame`), so that a burst of issues within it
        places each ticket in one kept replay (server/kept_replay.py) instead of replaying the
        whole queue each time; the result is exactly `estimate_wait(..., frame=frame)`'s."""
        frame = now.replace(microsecond=0)
        open_windows, all_windows = self._serving(now), list(self.config.windows.values())
        rules, hall_hours = self.config.rules, self.config.hours
        reopen = _next_opening(hall_hours, now)
        got = windows_for(c, open_windows, all_windows, reopen)
        if got is not None:
            windows, mine, on_duty = got
            kept = self._kept
            aside = kept is not None and tuple(windows) != kept.key[1] and kept.fits_aside(c, reopen, frame, now)
            if not on_duty:  # nobody serves its matter now: who waits, no minutes (estimate.off_duty)
                if aside:
                    est = Estimate(kept.ahead(mine), 0.0, 0.0, 0.0, None, False)
                    kept.set_aside(c)
                    return est, True
                return off_duty(c, self._waiting(now), mine), False
            if aside:
                # Only windows outside the kept replay take c: replay for it in full, keep the rest.
                est = estimate_wait(c, self._waiting(now) + [c], open_windows, all_windows, self._busy(), self.times,
                                    now, rules=rules, hours=hall_hours, options=self._options, frame=frame)
                kept.set_aside(c)
                return est, True
            if kept is None or not kept.fits(c, windows, reopen, frame, now):
                kept = KeptReplay(self._waiting(now), windows, open_windows, self._busy(), self.times, frame,
                                  rules, reopen, self._next_slot(now))
                self._kept = kept if kept.fits(c, windows, reopen, frame, now) else None
            if self._kept is not None:
                ahead = kept.ahead(mine)
                start = kept.place(c)
                if start is not None:
                    opened = {w.number for w in open_windows}
                    start = first_call(from_frame(start, frame, now), ahead, mine, self._busy(), self.times, now,
                                       opened, reopen)
                    return estimate_from(c, start, mine, on_duty, ahead, reopen, opened, self.times, now), True
                self._kept = None
        return estimate_wait(c, self._waiting(now) + [c], open_windows, all_windows, self._busy(), self.times, now,
                             rules=rules, hours=hall_hours, options=self._options, frame=frame), False

    def _next_slot(self, now: datetime) -> datetime | None:
        """The first appointment slot of a waiting ticket still to start: its rank changes then."""
        return min((t.slot_start for t in self.tickets.values()
                    if t.state == WAITING and t.slot_start is not None and t.slot_start > now), default=None)

    def _check_open(self, matter: str, now: datetime) -> None:
        if not hours.issuing(self.config, matter, now):
            today = hours.day_sessions(self.config.hours, now.date())
            sessions = "、".join(f"{s.start:%H:%M}–{s.end:%H:%M}" for s in today) or "closed today"
            back = hours.next_issuing(self.config, matter, now)
            when = f"; tickets for it again from {back:%H:%M}" if back else ""
            raise Conflict(f"the hall is not issuing tickets for {matter} now (hours {sessions}{when})",
                           field="service", code="hall_closed")

    def _check_in(self, code: str, item: Service | Bundle, now: datetime) -> tuple[dict, datetime]:
        rows = self._rows("SELECT * FROM appointments WHERE code = ?", [code])
        if not rows:
            raise NotFound(f"no appointment {code!r}", field="appointment")
        row = rows[0]
        if row["state"] != "booked":
            raise Conflict(f"appointment {code} is already {row['state']}", field="appointment")
        if row["service"] != item.code:
            raise Conflict(f"appointment {code} is for {row['service']}, not {item.code}", field="appointment")
        slot = datetime.fromisoformat(row["slot_start"]).astimezone(self.tz)
        a = self.config.appointments
        if not (slot - timedelta(minutes=a.checkin_before_minutes) <= now <= slot + timedelta(minutes=a.checkin_after_minutes)):
            raise Conflict(
                f"appointment {code} can be checked in from {a.checkin_before_minutes} min before to "
                f"{a.checkin_after_minutes} min after {slot:%H:%M}", field="appointment", code="outside_checkin",
            )
        return row, slot

    def _slot(self, slot_start: datetime) -> datetime:
        """A slot's start in the hall's time zone (a naive one is taken as the hall's), on a slot
        boundary, or Invalid naming `slot_start`."""
        if slot_start.tzinfo is None:
            slot_start = slot_start.replace(tzinfo=self.tz)
        slot_start = slot_start.astimezone(self.tz)
        step = self.config.appointments.slot_minutes
        if (slot_start.hour * 60 + slot_start.minute) % step or slot_start.second:
            raise Invalid(f"slot_start must fall on a {step}-minute slot boundary", field="slot_start")
        return slot_start

    def book(self, service: str, slot_start: datetime, phone: str, actor: str | None = None,
             id_number: str | None = None, sms: bool = False, days_ahead: int | None = None,
             referral: dict | None = None) -> dict:
        """Record an appointment made elsewhere (the booking platform); returns it with its code.
        One made with an ID number keeps it masked and as its key for the slot's day, so the card
        checks it in at the kiosk. `referral`: the referral row (server/referrals.py) this booking
        answers, written with it in one commit, so a restart never books it twice."""
        with deadline.holding(self._lock, "the appointment"):
            now = self._begin()
            if self.config.matter(service) is None:
                raise NotFound(f"no service or bundle {service!r}", field="service")
            slot_start = self._slot(slot_start)
            if slot_start < now - timedelta(minutes=self.config.appointments.checkin_after_minutes):
                raise Invalid("slot_start is in the past", field="slot_start")
            self._check_slot(service, slot_start, now, days_ahead)
            row = {
                "code": f"{secrets.randbelow(10**8):08d}", "phone": _clean_phone(phone), "service": service,
                "day": slot_start.date().isoformat(), "slot_start": slot_start.isoformat(), "state": "booked",
                "ticket_id": None, "created_at": now.isoformat(), "id_number": None, "id_key": None,
                "sms": 1 if sms else 0,
            }
            if id_number is not None:
                _age_from_id(id_number, now.date())  # a well-formed number, or a 422 naming it
                row["id_number"] = _mask_id(id_number)
                row["id_key"] = self.id_keys.of(row["day"], id_number)
            ch = Changes()
            ch.put("appointments", row)
            self._event(ch, now, "appointment.booked", actor, None, code=row["code"], service=service,
                        slot_start=row["slot_start"])
            if referral is not None:
                ch.put("referrals", {**referral, "state": "booked", "appointment": row["code"],
                                     "slot_start": row["slot_start"], "updated_at": now.isoformat()})
                self._event(ch, now, "referral.booked", actor, None, referral=referral["id"],
                            from_hall=referral["from_hall"], matter=service, slot_start=row["slot_start"])
            self._commit(ch)
            return row

    def record_referral(self, row: dict, event: str | None, actor: str | None = None, **data) -> dict:
        """Write a referral's row (server/referrals.py) with the event of its step; `event` None:
        bookkeeping only (what the county confirmed), no event and no request marker."""
        with deadline.holding(self._lock, "the referral"):
            now = self._begin()
            row = {**row, "updated_at": now.isoformat()}
            ch = Changes(action=event is not None)
            ch.put("referrals", row)
            if event is not None:
                self._event(ch, now, event, actor, None, referral=row["id"], from_hall=row["from_hall"],
                            to_hall=row["to_hall"], matter=row["matter"], **data)
            self._commit(ch)
            return row

    def _check_slot(self, service: str, slot_start: datetime, now: datetime, days_ahead: int | None,
                    moving: str | None = None) -> None:
        """A slot still has room for `service` (the appointment `moving` there does not count itself);
        `days_ahead`: the booking page's limit (the booking platform's API has none)."""
        if days_ahead is not None and slot_start.date() > now.date() + timedelta(days=days_ahead):
            raise Invalid(f"appointments can be booked at most {days_ahead} days ahead", field="slot_start")
        if slot_start not in booking.starts(self.config, slot_start.date(), self.tz):
            raise Invalid(f"{slot_start:%Y-%m-%d %H:%M} is not an appointment slot: the hall is closed then or the "
                          "slot runs past a session's end (该时段不在大厅办公时间内，请选择其他时段)", field="slot_start")
        capacity = self.config.appointments.capacity(service)
        taken = self._rows(
            "SELECT COUNT(*) AS n FROM appointments WHERE service = ? AND slot_start = ? AND state IN "
            "('booked', 'checked_in') AND code != ?", [service, slot_start.isoformat(), moving or ""])[0]["n"]
        if taken >= capacity:
            raise Conflict(f"the {slot_start:%H:%M} slot for {service} on {slot_start:%Y-%m-%d} is full "
                           f"({capacity} per slot)", field="slot_start", code="slot_full")

    def appointment_for(self, code: str, phone_last4: str | None) -> dict:
        rows = self._rows("SELECT * FROM appointments WHERE code = ?", [code])
        if not rows or (phone_last4 is not None and not hmac.compare_digest(rows[0]["phone"][-4:], phone_last4)):
            raise NotFound("no appointment with that code and phone (未找到该预约，请核对预约码和手机尾号)",
                           field="appointment")
        if rows[0]["state"] != "booked":
            raise Conflict(f"appointment {code} is already {rows[0]['state']}", field="appointment")
        return rows[0]

    def cancel_appointment(self, code: str, phone_last4: str | None = None, actor: str | None = None) -> dict:
        """The citizen cancels (by code and the phone's last 4 digits): the slot is free again."""
        with deadline.holding(self._lock, "the appointment"):
            now = self._begin()
            row = {**self.appointment_for(code, phone_last4), "state": "cancelled"}
            ch = Changes()
            ch.put("appointments", row)
            self._event(ch, now, "appointment.cancelled", actor, None, code=code, service=row["service"],
                        slot_start=row["slot_start"])
            self._commit(ch)
            return row

    def move_appointment(self, code: str, slot_start: datetime, phone_last4: str | None = None,
                         actor: str | None = None, days_ahead: int | None = None) -> dict:
        """The citizen changes the slot, keeping the code (and the ID key only for the same day)."""
        with deadline.holding(self._lock, "the appointment"):
            now = self._begin()
            row = dict(self.appointment_for(code, phone_last4))
            slot_start = self._slot(slot_start)
            if slot_start < now:
                raise Invalid("slot_start is in the past", field="slot_start")
            self._check_slot(row["service"], slot_start, now, days_ahead, moving=code)
            if slot_start.date().isoformat() != row["day"]:
                row["id_key"] = None  # the key is per day; the card no longer finds a moved appointment
            row.update(day=slot_start.date().isoformat(), slot_start=slot_start.isoformat())
            ch = Changes()
            ch.put("appointments", row)
            self._event(ch, now, "appointment.moved", actor, None, code=code, service=row["service"],
                        slot_start=row["slot_start"])
            self._commit(ch)
            return row

    # -- SMS (the notifier reads these through the API; sending is never done here) ------------

    def sms_watch(self) -> list[dict]:
        """Every live ticket of today whose citizen agreed to SMS: code, phone, state, people ahead,
        window. What the notifier needs to decide what is due, and nothing of anyone else."""
        positions = self.positions()
        with self._lock:
            self._begin()
            live = [t for t in self.tickets.values() if t.sms and t.phone]
        out = []
        for t in sorted(live, key=lambda t: t.issued_at):
            pos = positions.get(t.id)
            out.append({"id": t.id, "day": t.day, "code": t.code, "phone": t.phone, "state": t.state,
                        "service": self.config.services[t.service].name,
                        "ahead": pos.ahead if pos is not None and t.state == WAITING else None,
                        "issued_ahead": t.waiting_ahead,
                        "window": t.window if t.state in ("called", "serving") else None,
                        "window_name": self.config.windows[t.window].name if t.window in self.config.windows else None})
        return out

    def sms_reminders(self, day: str) -> list[dict]:
        """Booked appointments of `day` whose citizen agreed to SMS (the reminder the day before)."""
        return self._rows("SELECT code, phone, service, day, slot_start FROM appointments "
                          "WHERE day = ? AND state = 'booked' AND sms = 1 ORDER BY slot_start", [day])

    def sms_opt_out(self, ticket_id: str | None = None, phone: str | None = None, actor: str | None = None) -> int:
        """No more SMS: for one ticket (the link on its page), or for a phone (the citizen replied TD):
        its live tickets and booked appointments. Returns how many were switched off."""
        with deadline.holding(self._lock, "the ticket"):
            now = self._begin()
            if ticket_id is not None:
                t = self._ticket_any(ticket_id)
                if t is None:
                    raise NotFound("no such ticket", field="id")
                tickets = [t] if t.sms else []
                appointments: list[dict] = []
            else:
                phone = _clean_phone(phone or "")
                tickets = [t for t in self.tickets.values() if t.sms and t.phone == phone]
                appointments = self._rows("SELECT * FROM appointments WHERE phone = ? AND state = 'booked' AND sms = 1",
                                          [phone])
            changed = []
            ch = Changes()
            for t in tickets:
                t = copy(t)
                t.sms = False
                ch.put("tickets", to_row(t))
                changed.append(t)
            for row in appointments:
                ch.put("appointments", {**row, "sms": 0})
            if not changed and not appointments:
                return 0
            self._event(ch, now, "sms.opted_out", actor, changed[0] if len(changed) == 1 else None,
                        how="ticket_page" if ticket_id is not None else "reply", tickets=len(changed),
                        appointments=len(appointments))
            self._commit(ch, [t for t in changed if t.id in self.tickets])
            return len(changed) + len(appointments)

    def citizen_today(self, id_number: str) -> tuple[list[Ticket], list[dict]]:
        """One citizen's tickets today and booked appointments today, found by their ID number's key
        (the card on the kiosk's reader): only theirs, never anyone else's."""
        _age_from_id(id_number, self.now().date())
        day = self.today()
        key = self.id_keys.of(day, id_number)
        ids = self._rows("SELECT id FROM tickets WHERE id_key = ? AND day = ? ORDER BY issued_at", [key, day])
        appointments = self._rows(
            "SELECT * FROM appointments WHERE id_key = ? AND day = ? AND state = 'booked' ORDER BY slot_start",
            [key, day])
        return [self.ticket(r["id"]) for r in ids], appointments

    def find_ticket(self, code: str, phone_last4: str) -> Ticket | None:
        """Today's ticket `code` if it was taken with a phone ending in `phone_last4`, else None
        (the citizen reopening their ticket page; a wrong code and wrong digits look the same)."""
        rows = self._rows("SELECT id, phone FROM tickets WHERE day = ? AND code = ?",
                               [self.today(), code.strip().upper()])
        for r in rows:
            if r["phone"] and hmac.compare_digest(r["phone"][-4:], phone_last4):
                return self.ticket(r["id"])
        return None

    def find_appointments(self, phone: str, day: str | None = None) -> list[dict]:
        day = day or self.today()
        return self._rows(
            "SELECT * FROM appointments WHERE phone = ? AND day = ? AND state = 'booked' ORDER BY slot_start",
            [_clean_phone(phone), day],
        )

    # -- window actions --------------------------------------------------------------------

    def _free_window(self, number: int) -> tuple[Window, WindowState]:
        conf, w = self._window(number)
        if not w.staff:
            raise Conflict(f"window {number} has nobody signed in", field="window", code="window_unstaffed")
        if w.paused:
            raise Conflict(f"window {number} is paused", field="window", code="window_paused")
        if w.current:
            cur = self.tickets[w.current]
            raise Conflict(f"window {number} is still on {cur.code}: finish, park or transfer it first",
                           field="window", code="window_busy")
        return conf, w

    def _current(self, number: int) -> tuple[Window, WindowState, Ticket]:
        conf, w = self._window(number)
        if not w.current:
            raise Conflict(f"window {number} has no current ticket", field="window", code="no_current_ticket")
        return conf, w, self.tickets[w.current]

    def _call(self, conf: Window, w: WindowState, t: Ticket, now: datetime, actor: str | None,
              how: str) -> Result:
        """Bind ticket `t` to window `w` as called, opening a service record."""
        t, w = copy(t), copy(w)
        record = Record(
            id=self._next_record, ticket_id=t.id, ticket_code=t.code, day=t.day, window=conf.number,
            staff=w.staff, service=t.service, department=self._service(t.service).department,
            priority=t.priority, arrived_at=t.arrived_at, called_at=now,
        )
        t.state, t.window, t.called_at, t.recalls = CALLED, conf.number, now, 0
        t.target_window, t.parked_window, t.record_id = None, None, record.id
        w.current, w.since = t.id, now
        ch = Changes()
        ch.put("tickets", to_row(t))
        ch.put("records", to_row(record))
        ch.put("windows", to_row(w))
        self._event(ch, now, "ticket.called", actor, t, window=conf.number, how=how, staff=w.staff,
                    waited_minutes=round((now - t.arrived_at).total_seconds() / 60, 1))
        self._commit(ch, [t], [w])
        self._next_record += 1
        return Result(result="accepted", ticket=t)

    def call_next(self, window: int, actor: str | None = None) -> Result:
        """The window takes the best eligible waiting ticket (pull allocation)."""
        with deadline.holding(self._lock, "call-next"):
            now = self._begin()
            conf, w = self._free_window(window)
            best = allocation.pick(conf, self._waiting(now), now, self.config.rules, self.open_windows())
            if best is None:
                return Result(result="nothing_to_do", ticket=None, reason="nobody waiting for this window")
            return self._call(conf, w, self.tickets[best.id], now, actor, "next")

    def call(self, window: int, code: str, actor: str | None = None) -> Result:
        """Call a specific ticket by its code (a citizen at the wrong window, a number asked for)."""
        with deadline.holding(self._lock, "call"):
            now = self._begin()
            conf, w = self._free_window(window)
            code = (code or "").strip().upper()
            t = next((t for t in self.tickets.values() if t.code == code and t.day == self.today(now)), None)
            if t is None:
                raise NotFound(f"no live ticket {code!r} today", field="code")
            if t.state == PARKED and t.parked_window == window:
                return self._call(conf, w, t, now, actor, "call_back")
            if t.state != WAITING:
                raise Conflict(f"ticket {code} is {t.state}, not waiting", field="code", code="not_waiting")
            if allocation.eligible_weight(conf, self._candidate(t, now)) is None:
                raise Conflict(f"window {window} does not handle {t.code} ({self._service(t.service).name})",
                               field="code", code="service_not_handled")
            return self._call(conf, w, t, now, actor, "direct")

    def recall(self, window: int, actor: str | None = None) -> Result:
        """Announce the called ticket again; past the recall limit it becomes a no-show (过号)."""
        with deadline.holding(self._lock, "recall"):
            now = self._begin()
            conf, w, t = self._current(window)
            if t.state != CALLED:
                raise Conflict(f"{t.code} is already being served", field="window", code="not_called")
            if t.recalls >= self.config.rules.recall_limit:
                return self._no_show(conf, w, t, now, actor, "recall_limit")
            t = copy(t)
            t.recalls += 1
            ch = Changes()
            ch.put("tickets", to_row(t))
            self._event(ch, now, "ticket.recalled", actor, t, window=window, recalls=t.recalls)
            self._commit(ch, [t])
            return Result(result="accepted", ticket=t)

    def start(self, window: int, actor: str | None = None) -> Result:
        """The called citizen arrived at the window: service begins."""
        with deadline.holding(self._lock, "start"):
            now = self._begin()
            conf, w, t = self._current(window)
            if t.state != CALLED:
                return Result(result="nothing_to_do", ticket=t, reason="already serving")
            ch = Changes()
            t = self._start(ch, t, now, actor, window)
            self._commit(ch, [t])
            return Result(result="accepted", ticket=t)

    def _start(self, ch: Changes, t: Ticket, now: datetime, actor: str | None, window: int) -> Ticket:
        t = copy(t)
        t.state = SERVING
        record = self._record(t.record_id)
        record.started_at = now
        ch.put("tickets", to_row(t))
        ch.put("records", to_row(record))
        self._event(ch, now, "ticket.started", actor, t, window=window)
        return t

    def _record(self, record_id: int | None) -> Record:
        rows = self._rows("SELECT * FROM records WHERE id = ?", [record_id])
        if not rows:
            raise NotFound(f"no service record {record_id}", field="record")
        return from_row(Record, rows[0])

    def _end_record(self, ch: Changes, t: Ticket, now: datetime, end: str, outcome: str | None = None) -> Record:
        record = self._record(t.record_id)
        record.ended_at, record.end, record.outcome, record.recalls = now, end, outcome, t.recalls
        if end == "finished":
            record.rating_state, record.prompted_at = "prompted", now
        ch.put("records", to_row(record))
        return record

    def _release(self, ch: Changes, w: WindowState, now: datetime, record: Record | None = None) -> WindowState:
        w = copy(w)
        w.current, w.since = None, now
        if record is not None:
            w.last_record = record.id
        ch.put("windows", to_row(w))
        return w

    def no_show(self, window: int, actor: str | None = None) -> Result:
        with deadline.holding(self._lock, "no-show"):
            now = self._begin()
            conf, w, t = self._current(window)
            if t.state != CALLED:
                raise Conflict(f"{t.code} is being served; finish or park it", field="window", code="not_called")
            return self._no_show(conf, w, t, now, actor, "no_show")

    def _no_show(self, conf: Window, w: WindowState, t: Ticket, now: datetime, actor: str | None, why: str) -> Result:
        ch = Changes()
        self._end_record(ch, t, now, "no_show")
        t = copy(t)
        t.state, t.finished_at, t.end_reason, t.record_id = NO_SHOW, now, why, None
        ch.put("tickets", to_row(t))
        w = self._release(ch, w, now)
        self._event(ch, now, "ticket.no_show", actor, t, window=conf.number, reason=why, recalls=t.recalls)
        self._commit(ch, [t], [w])
        return Result(result="accepted", ticket=t, no_show=True)

    def park(self, window: int, actor: str | None = None) -> Result:
        """挂起: the citizen fetches missing papers and comes back to this window without a new ticket."""
        with deadline.holding(self._lock, "park"):
            now = self._begin()
            conf, w, t = self._current(window)
            ch = Changes()
            self._end_record(ch, t, now, "parked")
            t = copy(t)
            t.state, t.parked_window, t.queued_at, t.record_id = PARKED, window, now, None
            ch.put("tickets", to_row(t))
            w = self._release(ch, w, now)
            self._event(ch, now, "ticket.parked", actor, t, window=window)
            self._commit(ch, [t], [w])
            return Result(result="accepted", ticket=t)

    def call_back(self, window: int, code: str | None = None, actor: str | None = None) -> Result:
        """Call back a ticket parked at this window: the named one, else the one parked longest."""
        with deadline.holding(self._lock, "call-back"):
            now = self._begin()
            conf, w = self._free_window(window)
            parked = sorted(
                (t for t in self.tickets.values() if t.state == PARKED and t.parked_window == window),
                key=lambda t: (t.queued_at, t.number),
            )
            if code:
                parked = [t for t in parked if t.code == code.strip().upper()]
                if not parked:
                    raise NotFound(f"no ticket {code!r} parked at window {window}", field="code")
            if not parked:
                return Result(result="nothing_to_do", ticket=None, reason="nobody parked at this window")
            return self._call(conf, w, parked[0], now, actor, "call_back")

    def transfer(self, window: int, to_window: int | None = None, to_service: str | None = None,
                 actor: str | None = None, confirm_unstaffed: bool = False) -> Result:
        """Hand the current citizen on, keeping the original arrival time (no queuing from the back).

        A window with nobody signed in is refused (`target_unstaffed`) unless `confirm_unstaffed`: the
        citizen would sit waiting for nobody. Transferring to the service instead puts them in the
        pooled queue; the confirmation is for a clerk who knows a colleague is about to sign in there.
        """
        with deadline.holding(self._lock, "transfer"):
            now = self._begin()
            conf, w, t = self._current(window)
            if (to_window is None) == (to_service is None):
                raise Invalid("give exactly one of to_window or to_service", field="to_window")
            if to_window is not None:
                target = self.config.windows.get(to_window)
                if target is None:
                    raise NotFound(f"no window {to_window}", field="to_window")
                if to_window == window:
                    raise Invalid("cannot transfer to the same window", field="to_window")
                if t.service not in target.services and target.kind != "complaint":
                    raise Conflict(f"window {to_window} does not handle {self._service(t.service).name}",
                                   field="to_window", code="service_not_handled")
                if not self.windows[to_window].staff and not confirm_unstaffed:
                    raise Conflict(f"window {to_window} has nobody signed in: the citizen would wait for nobody; "
                                   f"transfer to the service instead, or send confirm_unstaffed: true",
                                   field="to_window", code="target_unstaffed")
            else:
                if to_service not in self.config.services:
                    raise NotFound(f"no service {to_service!r}", field="to_service")
                if to_service == t.service:
                    raise Invalid("the ticket already queues for that service", field="to_service")
                if not self.config.windows_for(to_service):
                    raise Conflict(f"no window handles {to_service}", field="to_service")
            ch = Changes()
            self._end_record(ch, t, now, "transferred")
            t = copy(t)
            from_service = t.service
            t.state, t.queued_at, t.record_id, t.window = WAITING, now, None, None
            t.target_window = to_window
            if to_service is not None:
                t.service = to_service
            ch.put("tickets", to_row(t))
            w = self._release(ch, w, now)
            self._event(ch, now, "ticket.transferred", actor, t, window=window, to_window=to_window,
                        to_service=to_service, from_service=from_service)
            self._commit(ch, [t], [w])
            return Result(result="accepted", ticket=t)

    def finish(self, window: int, outcome: str = "done", actor: str | None = None) -> Result:
        """End the service with an outcome and prompt the window's evaluator (一次服务一次评价).

        A 一件事 ticket moves on to its next step keeping its place; 办不成 goes to the complaint window.
        """
        with deadline.holding(self._lock, "finish"):
            now = self._begin()
            conf, w, t = self._current(window)
            if outcome not in OUTCOMES:
                raise Invalid(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
            ch = Changes()
            if t.state == CALLED:
                t = self._start(ch, t, now, actor, window)
            record = self._end_record(ch, t, now, "finished", outcome)
            t = copy(t)
            t.outcome, t.record_id = outcome, None
            item = self.config.matter(t.matter)
            complaint = self.config.complaint_window()
            if outcome == "cannot" and complaint is not None and complaint.number != window:
                t.state, t.queued_at, t.target_window, t.window = WAITING, now, complaint.number, None
                next_event = ("ticket.to_complaint", {"to_window": complaint.number})
            elif isinstance(item, Bundle) and outcome in ("done", "accepted") and t.step + 1 < len(steps := bundle_steps(t, item)):
                t.step += 1
                t.service, t.state, t.queued_at, t.window, t.target_window = steps[t.step], WAITING, now, None, None
                # The next step gets its own estimate now (the one printed was for the first step);
                # this window is about to be free, so it does not count as busy.
                c = self._candidate(t, now)
                est = estimate_wait(c, self._waiting(now) + [c], self._serving(now, c.arrived),
                                    list(self.config.windows.values()),
                                    [b for b in self._busy() if b.window != window], self.times, now,
                                    rules=self.config.rules, hours=self.config.hours, options=self._options)
                t.waiting_ahead, t.estimated_wait = est.ahead, est.point
                next_event = ("ticket.next_step", {"step": t.step + 1, "steps": len(steps),
                                                   "waiting_ahead": est.ahead,
                                                   "estimated_wait_minutes": t.estimated_wait})
            else:
                t.state, t.finished_at = FINISHED, now
                next_event = None
            ch.put("tickets", to_row(t))
            w = self._release(ch, w, now, record)
            self._event(ch, now, "ticket.finished", actor, t, window=window, served=record.service, outcome=outcome,
                        outcome_name=OUTCOMES[outcome], record=record.id, staff=record.staff)
            if next_event:
                self._event(ch, now, next_event[0], actor, t, window=window, **next_event[1])
            self._event(ch, now, "rating.invited", actor, t, window=window, served=record.service, record=record.id,
                        staff=record.staff, staff_name=self._staff_name(record.staff), auto=True)
            self._commit(ch, [t], [w])
            started = record.started_at or record.called_at
            self.times.add(record.service, (now - started).total_seconds() / 60)
            return Result(result="accepted", ticket=t, record=record.id)

    def pause(self, window: int, reason: str = "other", actor: str | None = None) -> Result:
        with deadline.holding(self._lock, "pause"):
            now = self._begin()
            conf, w = self._window(window)
            if reason not in PAUSE_REASONS:
                raise Invalid(f"reason must be one of {', '.join(PAUSE_REASONS)}", field="reason")
            if w.paused:
                return Result(result="nothing_to_do", window=w.number, reason="already paused")
            if w.current:
                raise Conflict(f"finish or park {self.tickets[w.current].code} before pausing",
                               field="window", code="window_busy")
            if not w.staff:
                raise Conflict(f"window {window} has nobody signed in", field="window", code="window_unstaffed")
            w = copy(w)
            w.paused, w.pause_reason, w.paused_at, w.since = True, reason, now, now
            ch = Changes()
            ch.put("windows", to_row(w))
            self._event(ch, now, "window.paused", actor, window=window, reason=reason, reason_name=PAUSE_REASONS[reason])
            self._commit(ch, windows=[w])
            return Result(result="accepted", window=w.number)

    def resume(self, window: int, actor: str | None = None) -> Result:
        with deadline.holding(self._lock, "resume"):
            now = self._begin()
            conf, w = self._window(window)
            if not w.paused:
                return Result(result="nothing_to_do", window=w.number, reason="not paused")
            w = copy(w)
            paused_for = (now - w.paused_at).total_seconds() / 60 if w.paused_at else 0
            reason = w.pause_reason
            w.paused, w.pause_reason, w.paused_at, w.since = False, None, None, now
            ch = Changes()
            ch.put("windows", to_row(w))
            self._event(ch, now, "window.resumed", actor, window=window, paused_minutes=round(paused_for, 1))
            self._commit(ch, windows=[w])
            self.times.add(pause_key(reason), paused_for)  # how long this hall's pauses last, for the estimates
            return Result(result="accepted", window=w.number)

    def login(self, window: int, staff: str, actor: str | None = None, move: bool = True,
              replace: bool = True) -> Result:
        """A clerk signs in at a window. With `move`, signing in here signs them out of the window they
        hold elsewhere; with `replace`, it signs out whoever holds this window. The API passes False
        for both to a clerk acting alone (a window token, a clerk's page), so nobody is taken off a
        window without a supervisor or the keypad at the window itself."""
        with deadline.holding(self._lock, "login"):
            now = self._begin()
            conf, w = self._window(window)
            staff = str(staff or "").strip()
            if staff not in self.config.staff:
                raise Invalid(f"unknown staff number {staff!r}", field="staff")
            if not self.config.staff[staff].active:
                raise Conflict(f"staff {staff} ({self._staff_name(staff)}) is deactivated (已停用): an admin can "
                               "reactivate them in the hall's configuration", field="staff", code="staff_inactive")
            if w.staff == staff:
                return Result(result="nothing_to_do", window=window, reason="already signed in")
            elsewhere = next((o.number for o in self.windows.values() if o.staff == staff and o.number != window), None)
            if elsewhere is not None and not move:
                raise Conflict(f"staff {staff} ({self._staff_name(staff)}) is already signed in at window {elsewhere}; "
                               f"sign out at that window first, or ask the duty supervisor",
                               field="staff", code="staff_elsewhere")
            if w.staff and not replace:
                raise Conflict(f"staff {w.staff} ({self._staff_name(w.staff)}) is signed in at window {window}; "
                               f"they sign out first, or ask the duty supervisor", field="window", code="window_taken")
            ch = Changes()
            changed = []
            for other in self.windows.values():
                if other.staff == staff and other.number != window:
                    if other.current:
                        raise Conflict(f"staff {staff} is still serving at window {other.number}",
                                       field="staff", code="window_busy")
                    o = copy(other)
                    o.staff, o.login_at, o.since = None, None, now
                    ch.put("windows", to_row(o))
                    self._event(ch, now, "window.logout", actor, window=o.number, staff=staff, reason="moved")
                    changed.append(o)
            w = copy(w)
            if w.staff:
                self._event(ch, now, "window.logout", actor, window=window, staff=w.staff, reason="replaced")
            w.staff, w.login_at, w.since = staff, now, now
            ch.put("windows", to_row(w))
            self._event(ch, now, "window.login", actor, window=window, staff=staff,
                        staff_name=self._staff_name(staff))
            self._commit(ch, windows=changed + [w])
            return Result(result="accepted", window=window)

    def logout(self, window: int, actor: str | None = None) -> Result:
        with deadline.holding(self._lock, "logout"):
            now = self._begin()
            conf, w = self._window(window)
            if not w.staff:
                return Result(result="nothing_to_do", window=window, reason="nobody signed in")
            if w.current:
                raise Conflict(f"finish, park or transfer {self.tickets[w.current].code} before signing out",
                               field="window", code="window_busy")
            staff = w.staff
            w = copy(w)
            w.staff, w.login_at, w.paused, w.pause_reason, w.paused_at, w.since = None, None, False, None, None, now
            ch = Changes()
            ch.put("windows", to_row(w))
            self._event(ch, now, "window.logout", actor, window=window, staff=staff)
            self._commit(ch, windows=[w])
            return Result(result="accepted", window=window)

    def _staff_name(self, number: str | None) -> str:
        s = self.config.staff.get(number or "")
        return s.name if s else ""

    # -- ratings ---------------------------------------------------------------------------

    def invite_rating(self, window: int, actor: str | None = None) -> Result:
        """Prompt the evaluator again for the service just finished at this window, if not rated."""
        with deadline.holding(self._lock, "the rating invitation"):
            now = self._begin()
            conf, w = self._window(window)
            if w.last_record is None:
                raise Conflict("no finished service at this window to rate", field="window", code="nothing_to_rate")
            record = self._record(w.last_record)
            if record.rating_state == "rated":
                raise Conflict(f"{record.ticket_code} has already been rated", field="window", code="already_rated")
            self._refuse_after_next_call(window, record)
            if now - record.ended_at > timedelta(minutes=INVITE_WITHIN_MINUTES):
                raise Conflict("the last service ended too long ago to invite a rating", field="window",
                               code="nothing_to_rate")
            record.rating_state, record.prompted_at = "prompted", now
            ch = Changes()
            ch.put("records", to_row(record))
            t = self._ticket_any(record.ticket_id)
            self._event(ch, now, "rating.invited", actor, t, window=window, record=record.id, staff=record.staff,
                        staff_name=self._staff_name(record.staff), auto=False)
            self._commit(ch)
            return Result(result="accepted", record=record.id)

    def rate(
        self,
        grade: int,
        channel: str,
        window: int | None = None,
        ticket: str | None = None,
        reason: str | None = None,
        comment: str | None = None,
        actor: str | None = None,
        tags: list[str] | None = None,
    ) -> Result:
        """Take a rating. On site (channel evaluator) only for the service just finished and prompted
        at that window; later (qr/web/kiosk, 补充评价) for the ticket's last unrated service within the
        configured days. One service, one rating. Grade 0 means the prompt timed out: not rated."""
        with deadline.holding(self._lock, "the rating"):
            now = self._begin()
            if channel not in RATING_CHANNELS:
                raise Invalid(f"channel must be one of {', '.join(RATING_CHANNELS)}", field="channel")
            if not isinstance(grade, int) or isinstance(grade, bool) or not 0 <= grade <= 5:
                raise Invalid("grade must be an integer 1–5 (0: prompt timed out)", field="grade")
            if reason is not None:
                if reason not in RATING_REASONS:
                    raise Invalid(f"reason must be one of {', '.join(RATING_REASONS)}", field="reason")
                if grade not in (1, 2):
                    reason = None  # reasons belong to bad ratings only; a stray reason key is dropped
            for tag in tags or ():
                if tag not in RATING_REASONS:
                    raise Invalid(f"tags are of {', '.join(RATING_REASONS)}", field="tags")
            # The 差评 option tags (GB/T 39734), several allowed; `reason` is the first of them.
            tags = list(dict.fromkeys(([reason] if reason else []) + list(tags or ()))) if grade in (1, 2) else []
            reason = tags[0] if tags else None
            if comment is not None and len(comment) > 500:
                raise Invalid("comment is limited to 500 characters", field="comment")
            try:
                record = self._due_record(channel, window, ticket, now, grade)
            except Conflict as refusal:
                ch = Changes(action=False)  # the refusal is logged, but the request applied nothing
                self._event(ch, now, "rating.refused", actor, window=window, channel=channel, grade=grade,
                            reason=refusal.code, ticket=ticket)
                self._commit(ch)
                raise
            t = self._ticket_any(record.ticket_id)
            ch = Changes()
            if grade == 0:
                record.rating_state = "timed_out"
                ch.put("records", to_row(record))
                self._event(ch, now, "rating.timed_out", actor, t, window=record.window, record=record.id)
                self._commit(ch)
                return Result(result="accepted", record=record.id, rated=False)
            record.rating_state, record.grade = "rated", grade
            ch.put("records", to_row(record))
            rating = {
                "record_id": record.id, "ticket_id": record.ticket_id, "ticket_code": record.ticket_code,
                "service": record.service, "department": record.department, "window": record.window,
                "staff": record.staff, "phone": t.phone if t else None,
                "served_at": record.ended_at.isoformat(), "rated_at": now.isoformat(), "channel": channel,
                "grade": grade, "reason": reason, "comment": mask_text(comment),  # numbers typed in: masked
                "tags": json.dumps(tags) if tags else None,
            }
            ch.put("ratings", rating)
            self._event(ch, now, "rating.recorded", actor, t, window=record.window, record=record.id,
                        grade=grade, grade_name=GRADES[grade], bad=grade <= 2, channel=channel,
                        reason=reason, staff=record.staff, served_day=record.day)
            self._commit(ch)
            return Result(result="accepted", record=record.id, rated=True, grade=grade)

    def rate_by_default(self, grade: int, after_days: int, since: str = "", limit: int = 500) -> int:
        """A province's default rating (广东: a service not rated within 7 natural days counts as
        基本满意): finished services ended more than `after_days` ago (and at or after `since`, so a
        caller that runs it often reads only the newest) with no rating get `grade`, channel "default";
        returns how many. Not the citizen's rating: 未评价率 still counts them."""
        with deadline.holding(self._lock, "the default ratings"):
            now = self._begin()
            cutoff = (now - timedelta(days=after_days)).isoformat()
            rows = self._rows(
                "SELECT * FROM records WHERE ended_at >= ? AND ended_at < ? AND [end] = 'finished' AND "
                "(rating_state IS NULL OR rating_state != 'rated') ORDER BY id LIMIT ?", [since, cutoff, limit])
            if not rows:
                return 0
            ch = Changes()
            for row in rows:
                record = from_row(Record, row)
                record.rating_state, record.grade = "rated", grade
                ch.put("records", to_row(record))
                t = self._ticket_any(record.ticket_id)
                ch.put("ratings", {
                    "record_id": record.id, "ticket_id": record.ticket_id, "ticket_code": record.ticket_code,
                    "service": record.service, "department": record.department, "window": record.window,
                    "staff": record.staff, "phone": t.phone if t else None, "served_at": record.ended_at.isoformat(),
                    "rated_at": now.isoformat(), "channel": "default", "grade": grade, "reason": None,
                    "comment": None, "tags": None,
                })
                self._event(ch, now, "rating.recorded", "system", t, window=record.window, record=record.id,
                            grade=grade, grade_name=GRADES[grade], bad=grade <= 2, channel="default",
                            reason=None, staff=record.staff, served_day=record.day)
            self._commit(ch)
            return len(rows)

    def _refuse_after_next_call(self, window: int, record: Record) -> None:
        """先评价后办事 is forbidden (国办发〔2019〕51号): once the window has called its next citizen,
        a press on its evaluator may be that citizen's, so it cannot rate the service before. The
        citizen who was served keeps the 补充评价 through the ticket's QR code."""
        later = self.store.rows("SELECT ticket_code FROM records WHERE window = ? AND id > ? ORDER BY id LIMIT 1",
                                [window, record.id])
        if later:
            raise Conflict(f"window {window} has called its next citizen ({later[0]['ticket_code']}): the evaluator "
                           f"can no longer rate {record.ticket_code}; that citizen may still rate through the "
                           "ticket's QR code (补充评价)", field="window", code="next_called")

    def _due_record(self, channel: str, window: int | None, ticket: str | None, now: datetime, grade: int) -> Record:
        if channel == "evaluator":
            if window is None:
                raise Invalid("an evaluator rating names its window", field="window")
            conf, w = self._window(window)
            if w.last_record is None:
                raise Conflict("no service at this window is waiting for a rating", field="window", code="not_due")
            record = self._record(w.last_record)
            if record.rating_state == "rated":
                raise Conflict(f"{record.ticket_code} has already been rated", field="window", code="already_rated")
            if record.rating_state != "prompted":
                raise Conflict("the evaluator was not prompted for a rating", field="window", code="not_due")
            self._refuse_after_next_call(window, record)
            limit = self.config.rules.rating_prompt_seconds + PROMPT_GRACE_SECONDS
            if (now - record.prompted_at).total_seconds() > limit:
                raise Conflict("the rating prompt has expired", field="window", code="prompt_expired")
            return record
        if grade == 0:
            raise Invalid("only an evaluator reports a timed-out prompt", field="grade")
        if not ticket:
            raise Invalid("a rating outside the window names its ticket", field="ticket")
        rows = self._rows(
            "SELECT * FROM records WHERE ticket_id = ? AND [end] = 'finished' ORDER BY id DESC", [ticket]
        )
        if not rows:
            if self._ticket_any(ticket) is None:
                raise NotFound(f"no ticket {ticket!r}", field="ticket")
            raise Conflict("this ticket has no finished service to rate", field="ticket", code="not_due")
        unrated = [from_row(Record, r) for r in rows if r["rating_state"] != "rated"]
        if not unrated:
            raise Conflict("every service on this ticket has been rated", field="ticket", code="already_rated")
        record = unrated[0]
        if now - record.ended_at > timedelta(days=self.config.rules.supplementary_rating_days):
            raise Conflict("the period for a supplementary rating has ended", field="ticket", code="rating_closed")
        return record

    # -- views -----------------------------------------------------------------------------

    def _ticket_any(self, ticket_id: str) -> Ticket | None:
        t = self.tickets.get(ticket_id)
        if t is not None:
            return t
        rows = self._rows("SELECT * FROM tickets WHERE id = ?", [ticket_id])
        return from_row(Ticket, rows[0]) if rows else None

    def ticket(self, ticket_id: str) -> Ticket:
        with self._lock:
            self._begin()  # views too close yesterday's leftovers: no stale 'waiting' after midnight
            t = self._ticket_any(ticket_id)
            if t is None:
                raise NotFound("no such ticket", field="id")
            return t

    def position(self, t: Ticket) -> Estimate | None:
        """The estimate now, for a waiting ticket."""
        with self._lock:
            if t.state != WAITING:
                return None
            now = self._begin()
            return self._estimate(self._candidate(t, now), now)

    def positions(self) -> dict[str, Estimate]:
        """The estimate for every waiting ticket, from one snapshot: the live
        queue view takes the lock once, not once per waiting ticket, and estimates after releasing it."""
        now, waiting, staffed, busy, times = self.estimate_snapshot()
        out: dict[str, Estimate] = {}
        by_windows: dict[tuple[int, ...], tuple[list[Window], list[Candidate]]] = {}
        for c in waiting:  # at lunch, tickets from before the break keep every staffed window
            windows = serving_now(staffed, self.config.hours, now, c.arrived)
            by_windows.setdefault(tuple(w.number for w in windows), (windows, []))[1].append(c)
        for windows, group in by_windows.values():
            estimates = estimate_waits(group, waiting, windows, list(self.config.windows.values()), busy, times,
                                       now, rules=self.config.rules, hours=self.config.hours, options=self._options)
            out.update((c.id, e) for c, e in zip(group, estimates, strict=True))
        return out

    def records_for(self, ticket_id: str) -> list[Record]:
        return [from_row(Record, r) for r in self._rows("SELECT * FROM records WHERE ticket_id = ? ORDER BY id", [ticket_id])]

    def estimate_snapshot(self) -> tuple[datetime, list[Candidate], list[Window], list[Busy], ServiceTimes]:
        """What estimates need, taken consistently under the lock: the estimates themselves (tens of
        ms with hundreds waiting) run after it is released, so they never hold up a window's call."""
        with self._lock:
            now = self._begin()
            return now, self._waiting(now), self.staffed_windows(), self._busy(), self.times.snapshot()

    def menu(self) -> list[dict]:
        """Every service and bundle with the number waiting and the estimated wait for a new ticket."""
        now, waiting, staffed, busy, times = self.estimate_snapshot()
        open_windows = serving_now(staffed, self.config.hours, now)  # for a ticket issued now
        counts: dict[str, int] = {}
        for c in waiting:
            counts[c.service] = counts.get(c.service, 0) + 1
        items = list(self.config.services.values()) + list(self.config.bundles.values())
        services = list(dict.fromkeys(item.steps[0] if isinstance(item, Bundle) else item.code for item in items))
        # At lunch a matter not issued now has no new ticket to estimate: its row (the hall display's)
        # gives the wait of its line, whose tickets from before the break the windows still serve (a
        # probe from then), not "14:30 开始" over a line the citizens' own tickets say moves now.
        lunch = hours.at_lunch(self.config, now)
        since = max((datetime.combine(now.date(), s.end, now.tzinfo)
                     for s in hours.day_sessions(self.config.hours, now.date()) if s.end <= now.time()),
                    default=now) - timedelta(microseconds=1)
        probes = [Candidate(id="_probe", service=s, rank=allocation.NORMAL_RANK, number=10**9,
                            arrived=since if lunch and not hours.issuing(self.config, s, now) else now,
                            minutes=self.config.services[s].minutes) for s in services]
        every = list(self.config.windows.values())
        for_service = {}
        for arrived in dict.fromkeys(p.arrived for p in probes):  # one group at most each side of the break
            group = [p for p in probes if p.arrived == arrived]
            windows = open_windows if arrived == now else serving_now(staffed, self.config.hours, now, arrived)
            # All probes at once: those with the same windows share the replay of the queue.
            estimates = estimate_waits(group, waiting, windows, every, busy, times, now, rules=self.config.rules,
                                       hours=self.config.hours, options=self._options)
            for_service.update((p.service, e) for p, e in zip(group, estimates, strict=True))
        out = []
        for item in items:
            service = item.steps[0] if isinstance(item, Bundle) else item.code
            out.append({"item": item, "service": service, "waiting": counts.get(service, 0),
                        "estimated_wait_minutes": for_service[service].point,
                        "estimate": for_service[service],
                        "issuing": hours.issuing(self.config, item.code, now),
                        "next_issuing": hours.next_issuing(self.config, item.code, now)})
        return out

    def waiting_for(self, window: int) -> list[Ticket]:
        """Waiting tickets this window may take, in the order it would call them."""
        with self._lock:
            conf, _ = self._window(window)
            now = self._begin()
            return [self.tickets[c.id] for c in allocation.order(conf, self._waiting(now), now, self.config.rules,
                                                                 self.open_windows())]

    def live_tickets(self) -> list[Ticket]:
        with self._lock:
            self._begin()
            return sorted(self.tickets.values(), key=lambda t: (t.arrived_at, t.code))

    def window_state(self, number: int) -> WindowState:
        """A window's state as the last action left it, read without waiting for the engine lock
        (states are swapped in whole, never changed in place, so one read is consistent): for the
        answer to an action that has just run, so the clerk's call waits for the lock once, not twice."""
        self._window(number)
        return copy(self.windows[number])

    def window_states(self) -> list[WindowState]:
        with self._lock:
            self._begin()
            return [copy(self.windows[n]) for n in sorted(self.windows)]


def _clean_phone(phone: str) -> str:
    digits = re.sub(r"[\s-]", "", str(phone))
    if not re.fullmatch(r"\+?[0-9]{7,15}", digits):  # ASCII only: \d also matches full-width ０-９
        raise Invalid("phone must be 7–15 digits", field="phone")
    return digits


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _age_from_id(id_number: str, today: date) -> int:
    """Age from an 18-digit resident ID (GB 11643), after checking its check digit."""
    s = str(id_number).strip().upper()
    if not re.fullmatch(r"[0-9]{17}[0-9X]", s):
        raise Invalid("id_number must be an 18-character resident ID number", field="id_number")
    if _ID_CHECK[sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS, strict=True)) % 11] != s[17]:
        raise Invalid("id_number check digit does not match", field="id_number")
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError as exc:
        raise Invalid("id_number holds no valid birth date", field="id_number") from exc
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _mask_id(id_number: str) -> str:
    from .privacy import mask_id_number

    return mask_id_number(str(id_number).strip().upper())
