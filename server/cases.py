"""差评 cases: every bad rating (不满意, 非常不满意) becomes a case that a named person walks to closed.

open → called_back (回访核实) → rectified (整改) | explained (解释说明) | appealed (申诉复核) → closed.
Each step records who, when and a note. The call-back also records the citizen's answer: how they
were reached (电话, 短信, 当面, 网上) and whether they were satisfied with the explanation or the fix
offered; a case has no call-back, and so cannot close, until somebody has spoken with the citizen
(a call nobody answered is a `call-attempt`, kept in the steps, the case stays 待回访). The call-back and
the resolution are due as the hall's province profile says (hallq/rating_profiles.py: working days,
see workdays.py, or natural days); the supervision checker raises alerts for overdue steps. After a
fix or an explanation the citizen may rate it (追评) through the ticket page as many times as the
profile allows (once by default, never when it allows none).

Cases open from the store's commit feed (`rating.recorded` with bad=True), so the engine knows nothing
about them; `catch_up` opens any a stopped server missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta

from hallq.model import HallConfig
from hallq.rating_profiles import Profile, profile_of

from .deadline import holding
from .errors import Conflict, Invalid, NotFound
from .privacy import mask_phone, mask_text
from .store import Changes, Store
from .tickets import GRADES, RATING_REASONS
from .workdays import due_at, gap_note

log = logging.getLogger(__name__)

CASE_STATES = {
    "open": "待回访", "called_back": "已回访", "rectified": "已整改", "explained": "已解释说明",
    "appealed": "已申诉", "closed": "已办结",
}
RESOLUTIONS = ("rectified", "explained", "appealed")
CALLBACK_CONTACTS = {"phone": "电话", "sms": "短信", "in_person": "当面", "online": "网上"}
CALLBACK_ANSWERS = {"satisfied": "满意", "dissatisfied": "不满意"}
# action -> (states it may start from, state it leads to, Chinese name)
CASE_ACTIONS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "call-back": (("open",), "called_back", "回访核实"),
    "call-attempt": (("open",), None, "回访未联系上"),
    "rectify": (("called_back",), "rectified", "整改"),
    "explain": (("called_back",), "explained", "解释说明"),
    "appeal": (("called_back",), "appealed", "申诉复核"),
    "close": (RESOLUTIONS, "closed", "办结"),
    "assign": (("open", "called_back", "rectified", "explained", "appealed"), None, "指派负责人"),
}
NOTE_LIMIT = 1000
COUNTY_ACTOR = "county:"  # the actor of a step the county took (its supervisor's name follows)
COUNTY_STEP_MARK = "county_case_step"  # settings key: the last county step applied
COUNTY_ACTIONS = ("call-back", "call-attempt", "rectify", "explain", "appeal", "close")  # assign is the hall's


def check_step(action: str, state: str, answered: bool, note: str | None, contact: str | None,
               answer: str | None, legacy: bool = False) -> tuple[str | None, str]:
    """The rules of one step, for the hall and for the county alike: (the state it leads to, None for
    assign; the note as recorded). Raises for a step the state does not allow, a missing note, a
    call-back without how the citizen was reached and their answer, a close before the answer."""
    if action not in CASE_ACTIONS:
        raise NotFound(f"no case action {action!r}; one of: {', '.join(CASE_ACTIONS)}", field="action")
    note = (note or "").strip()
    if not note:
        raise Invalid("every step needs a note (what was said or done)", field="note")
    if len(note) > NOTE_LIMIT:
        raise Invalid(f"a note is limited to {NOTE_LIMIT} characters", field="note")
    note = mask_text(note)  # a call-back note may repeat the citizen's number; the ticket has it
    if action != "call-back" and (contact is not None or answer is not None):
        raise Invalid("contact and answer belong to the call-back (回访核实) only",
                      field="contact" if contact is not None else "answer")
    allowed, to_state, name = CASE_ACTIONS[action]
    if legacy:
        allowed = (state,)
    if action == "close" and state in allowed and not answered:
        raise Conflict("the citizen's answer at the call-back (回访) is not recorded: take the call-back "
                       "step with how they were reached and whether they were satisfied", field="action",
                       code="no_callback_answer")
    if state not in allowed:
        raise Conflict(f"a case that is {CASE_STATES[state]} cannot take the step {name}",
                       field="action", code="wrong_state")
    if action == "call-back":
        if contact not in CALLBACK_CONTACTS:
            raise Invalid(f"a call-back says how the citizen was reached: contact one of "
                          f"{', '.join(CALLBACK_CONTACTS)}", field="contact")
        if answer not in CALLBACK_ANSWERS:
            raise Invalid("a call-back records the citizen's answer: answer one of "
                          f"{', '.join(CALLBACK_ANSWERS)}", field="answer")
        note = f"{CALLBACK_CONTACTS[contact]}回访，群众表示{CALLBACK_ANSWERS[answer]}：{note}"
    if to_state is None and action != "assign":  # a step that leaves the state as it is
        to_state = state
    return to_state, note


class CaseBook:
    """Opens and moves cases; each change is one store commit with its `case.*` event."""

    def __init__(self, config: HallConfig, store: Store, now: Callable[[], datetime]) -> None:
        self.config = config
        self.store = store
        self.now = now
        self._lock = threading.RLock()

    # -- opening ---------------------------------------------------------------------------

    def on_commit(self, events: list[dict]) -> None:
        """Store listener: a bad rating was recorded, open its case. Never lets an error escape into
        the engine's action, which has committed already."""
        for ev in events:
            if ev["type"] == "rating.recorded" and ev["data"].get("bad"):
                try:
                    rows = self.store.rows("SELECT * FROM ratings WHERE record_id = ?", [ev["data"]["record"]])
                    if rows:
                        self.open_for_rating(rows[0])
                except Exception:
                    log.exception("could not open a case for rating of record %s", ev["data"].get("record"))

    def recompute_provisional(self) -> int:
        """Deadlines set provisionally for want of holiday data, computed again now that the
        calendar may cover them (after a chinese-calendar upgrade); returns how many changed."""
        changed = 0
        rules = self.config.rules
        with self._lock:
            for case in self.store.rows("SELECT * FROM cases WHERE due_error IS NOT NULL AND state != 'closed'"):
                rated = datetime.fromisoformat(case["rated_at"])
                callback_due, callback_note, fix_due, fix_note = _deadlines(rated, profile_of(rules))
                note = callback_note or fix_note
                if note == case["due_error"] and (callback_due, fix_due) == (case["callback_due"], case["fix_due"]):
                    continue
                case = {**case, "callback_due": callback_due, "fix_due": fix_due, "due_error": note}
                ch = Changes()
                ch.put("cases", case)
                ch.event(ts=self.now().isoformat(), type="case.deadlines", actor="system", window=case["window"],
                         ticket_code=case["ticket_code"], service=case["service"],
                         data={"case": case["id"], "callback_due": callback_due, "fix_due": fix_due,
                               "provisional": note is not None})
                self.store.commit(ch)
                changed += 1
        return changed

    def catch_up(self) -> int:
        """Open cases for bad ratings that have none (recorded while no listener ran)."""
        rows = self.store.rows(
            "SELECT r.* FROM ratings r LEFT JOIN cases c ON c.record_id = r.record_id "
            "WHERE r.grade <= 2 AND c.id IS NULL ORDER BY r.id"
        )
        for row in rows:
            self.open_for_rating(row)
        return len(rows)

    def open_for_rating(self, rating: dict) -> dict | None:
        """Open the case for one bad rating; None if it has one already."""
        with self._lock:
            if self.store.rows("SELECT 1 FROM cases WHERE record_id = ?", [rating["record_id"]]):
                return None
            now = self.now()
            rated = datetime.fromisoformat(rating["rated_at"])
            rules = self.config.rules
            callback_due, callback_error, fix_due, fix_error = _deadlines(rated, profile_of(rules))
            due_error = callback_error or fix_error
            if due_error:
                log.warning("case for %s has a provisional deadline: %s", rating["ticket_code"], due_error)
            new_id = self.store.rows("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM cases")[0]["n"]
            case = {
                "id": new_id, "rating_id": rating["id"], "record_id": rating["record_id"],
                "ticket_id": rating["ticket_id"], "ticket_code": rating["ticket_code"],
                "day": rating["served_at"][:10], "window": rating["window"], "staff": rating["staff"],
                "service": rating["service"], "department": rating["department"], "grade": rating["grade"],
                "reason": rating["reason"], "comment": mask_text(rating["comment"]), "phone": rating["phone"],
                "rated_at": rating["rated_at"], "state": "open", "resolution": None,
                "owner": self._default_owner(), "opened_at": now.isoformat(),
                "callback_due": callback_due, "fix_due": fix_due, "due_error": due_error,
                "called_back_at": None, "resolved_at": None, "closed_at": None,
                "fix_grade": None, "fix_rated_at": None,
            }
            ch = Changes()
            ch.put("cases", case)
            ch.put("case_steps", {"case_id": new_id, "action": "open", "from_state": None, "to_state": "open",
                                  "by": "system", "at": now.isoformat(),
                                  "note": f"{GRADES[rating['grade']]}评价自动立案"})
            ch.event(ts=now.isoformat(), type="case.opened", actor="system", window=rating["window"],
                     ticket_code=rating["ticket_code"], service=rating["service"],
                     data={"case": new_id, "grade": rating["grade"], "grade_name": GRADES[rating["grade"]],
                           "owner": case["owner"], "callback_due": callback_due, "fix_due": fix_due,
                           "due_error": due_error, "staff": rating["staff"]})
            self.store.commit(ch)
            return case

    def _default_owner(self) -> str | None:
        """The active supervisor with the fewest unfinished cases: somebody is named from the start."""
        rows = self.store.rows(
            "SELECT u.username, (SELECT COUNT(*) FROM cases c WHERE c.owner = u.username AND c.state != 'closed') AS n "
            "FROM users u WHERE u.role = 'supervisor' AND u.active = 1 ORDER BY n, u.username LIMIT 1"
        )
        return rows[0]["username"] if rows else None

    # -- moving ----------------------------------------------------------------------------

    def get(self, case_id: int) -> dict:
        rows = self.store.rows("SELECT * FROM cases WHERE id = ?", [case_id])
        if not rows:
            raise NotFound(f"no case {case_id}", field="case")
        return rows[0]

    def reveal_phone(self, case_id: int, by: str) -> str | None:
        """The citizen's full number for the call-back (回访核实), which a masked one cannot serve.
        Every look is written to the event log: who saw whose number, when."""
        case = self.get(case_id)
        if not case["phone"]:
            return None
        ch = Changes()
        ch.event(ts=self.now().isoformat(), type="case.phone_viewed", actor=by, window=case["window"],
                 ticket_code=case["ticket_code"], service=case["service"], data={"case": case_id})
        self.store.commit(ch)
        return case["phone"]

    def steps(self, case_id: int) -> list[dict]:
        return self.store.rows("SELECT * FROM case_steps WHERE case_id = ? ORDER BY id", [case_id])

    def act(self, case_id: int, action: str, by: str, note: str | None, owner: str | None = None,
            contact: str | None = None, answer: str | None = None, county_step: int | None = None) -> dict:
        """Take one step; refuses a step the case's state does not allow, and a step without a note.
        A call-back names how the citizen was reached (`contact`) and their `answer`. When the county
        keeps the hall's cases only its steps are taken (`by` "county:…", `county_step` its number,
        written with the step so a step applied twice is impossible: server/case_follower.py)."""
        if self.county_owned() and not by.startswith(COUNTY_ACTOR):
            raise Conflict("this hall's 差评 cases are kept by the county ([county] cases = \"county\"): "
                           "the steps are taken at the county's pages and come back here", field="action",
                           code="county_owned")
        if action not in CASE_ACTIONS:  # before the case: an unknown action is 404 whatever the case
            raise NotFound(f"no case action {action!r}; one of: {', '.join(CASE_ACTIONS)}", field="action")
        with holding(self._lock, "the case step"):
            case = dict(self.get(case_id))
            legacy = action == "call-back" and case["state"] not in ("open", "closed") and not case.get("callback_answer")
            to_state, note = check_step(action, case["state"], bool(case.get("callback_answer")), note, contact,
                                        answer, legacy)
            if legacy:  # called back before answers were recorded (schema < 7): record it now
                to_state = case["state"]
            now = self.now().isoformat()
            from_state = case["state"]
            if action == "assign":
                if not owner:
                    raise Invalid("name the new owner", field="owner")
                user = self.store.rows("SELECT role, active FROM users WHERE username = ?", [owner])
                if not user or not user[0]["active"] or user[0]["role"] not in ("supervisor", "admin"):
                    raise Invalid(f"{owner!r} is not an active supervisor or admin", field="owner")
                case["owner"] = owner
                to_state = from_state
            else:
                case["state"] = to_state
                if action == "call-back":
                    case["called_back_at"] = case["called_back_at"] if legacy else now
                    case["callback_contact"], case["callback_answer"] = contact, answer
                elif to_state in RESOLUTIONS:
                    case["resolution"], case["resolved_at"] = to_state, now
                elif to_state == "closed":
                    case["closed_at"] = now
            ch = Changes()
            ch.put("cases", case)
            ch.put("case_steps", {"case_id": case_id, "action": action, "from_state": from_state,
                                  "to_state": to_state, "by": by, "at": now, "note": note})
            if county_step is not None:  # the county's step applied: its number in the same commit
                ch.put("settings", {"key": COUNTY_STEP_MARK, "value": str(county_step)})
            ch.event(ts=now, type="case.updated", actor=by, window=case["window"], ticket_code=case["ticket_code"],
                     service=case["service"], data={"case": case_id, "action": action, "state": case["state"],
                                                    "state_name": CASE_STATES[case["state"]], "owner": case["owner"]})
            self.store.commit(ch)
            return case

    def county_owned(self) -> bool:
        """The county keeps this hall's 差评 cases ([county] cases = "county"); the hall reads them."""
        return self.config.county is not None and self.config.county.cases == "county"

    def county_mark(self) -> int:
        """The number of the last county step this hall applied."""
        rows = self.store.rows("SELECT value FROM settings WHERE key = ?", [COUNTY_STEP_MARK])
        return int(rows[0]["value"]) if rows else 0

    # -- the citizen's side ----------------------------------------------------------------

    def _fix_case(self, ticket_id: str) -> dict | None:
        rows = self.store.rows(
            "SELECT * FROM cases WHERE ticket_id = ? AND resolution IN ('rectified', 'explained') ORDER BY id DESC",
            [ticket_id],
        )
        return rows[0] if rows else None

    def fix_status(self, ticket_id: str) -> dict:
        """What the ticket page shows about the citizen's bad rating: no names, no notes."""
        rows = self.store.rows("SELECT * FROM cases WHERE ticket_id = ? ORDER BY id DESC", [ticket_id])
        if not rows:
            return {"case": False, "can_rate_fix": False}
        case = self._fix_case(ticket_id) or rows[0]
        return {
            "case": True, "state": case["state"], "state_name": CASE_STATES[case["state"]],
            "callback_due": case["callback_due"],  # the page tells the rater when the call-back comes
            "can_rate_fix": case["resolution"] in ("rectified", "explained") and self._follow_ups_left(case) > 0,
            "fix_grade": case["fix_grade"],
        }

    def _follow_ups_left(self, case: dict) -> int:
        """追评 the profile still allows on this case."""
        done = self.store.rows("SELECT COUNT(*) AS n FROM case_steps WHERE case_id = ? AND action = 'fix-rated'",
                               [case["id"]])[0]["n"]
        return profile_of(self.config.rules).follow_ups - max(done, case["fix_grade"] is not None)

    def rate_fix(self, ticket_id: str, grade: int) -> dict:
        """The citizen rates how the bad rating was handled (once)."""
        if not isinstance(grade, int) or isinstance(grade, bool) or grade not in GRADES:
            raise Invalid("grade must be an integer 1–5", field="grade")
        with holding(self._lock, "the rating of the fix"):
            case = self._fix_case(ticket_id)
            if case is None:
                raise Conflict("there is no handled complaint on this ticket to rate", field="ticket", code="not_due")
            if self._follow_ups_left(case) <= 0:
                if profile_of(self.config.rules).follow_ups == 0:
                    raise Conflict("this hall's 好差评 rules take no rating of the handling (追评)", field="ticket",
                                   code="not_due")
                raise Conflict("the handling has been rated already", field="ticket", code="already_rated")
            now = self.now().isoformat()
            case = {**case, "fix_grade": grade, "fix_rated_at": now}
            ch = Changes()
            ch.put("cases", case)
            ch.put("case_steps", {"case_id": case["id"], "action": "fix-rated", "from_state": case["state"],
                                  "to_state": case["state"], "by": "citizen", "at": now,
                                  "note": f"群众对整改评价：{GRADES[grade]}"})
            ch.event(ts=now, type="case.fix_rated", actor="citizen", window=case["window"],
                     ticket_code=case["ticket_code"], service=case["service"],
                     data={"case": case["id"], "grade": grade, "grade_name": GRADES[grade]})
            self.store.commit(ch)
            return case


def _deadlines(rated: datetime, profile: Profile) -> tuple[str, str | None, str, str | None]:
    """(call-back due, its note, fix due, its note) under the hall's province profile."""
    return (*_due(rated, profile.callback_days, profile.callback_working),
            *_due(rated, profile.fix_days, profile.fix_working))


def _due(start: datetime, days: int, working: bool = True) -> tuple[str, str | None]:
    """(deadline, note): the note says why the deadline is provisional (no holiday data yet). In
    natural days (浙江's "within 1 day"), the midnight after the N-th day, with no calendar to lack."""
    if not working:
        return datetime.combine(start.date() + timedelta(days=days + 1), time(0, 0), start.tzinfo).isoformat(), None
    due = due_at(start, days)
    return due.isoformat(), gap_note(start.date(), due.date())


def last_day(due: str | None) -> str | None:
    """A due time (the midnight after the last working day) as that last day, the way people say it."""
    return (datetime.fromisoformat(due) - timedelta(seconds=1)).date().isoformat() if due else None


def overdue_steps(case: dict, now: datetime) -> list[tuple[str, str]]:
    """The case's missed deadlines now: ("callback" | "fix", due ISO time)."""
    out = []
    if case["state"] == "open" and case["callback_due"] and now >= datetime.fromisoformat(case["callback_due"]):
        out.append(("callback", case["callback_due"]))
    if case["state"] in ("open", "called_back") and case["fix_due"] and now >= datetime.fromisoformat(case["fix_due"]):
        out.append(("fix", case["fix_due"]))
    return out


def case_view(config: HallConfig, case: dict, steps: list[dict] | None = None) -> dict:
    """A case for staff: the citizen's phone masked, numbers in the comment and notes masked (rows stored
    before masking was done at write time too), the ticket id (the citizen's secret) left out."""
    staff = config.staff.get(case["staff"] or "")
    service = config.services.get(case["service"])
    window = config.windows.get(case["window"])
    county = config.county is not None and config.county.cases == "county"
    out = {
        "id": case["id"], "ticket_code": case["ticket_code"], "day": case["day"],
        "window": case["window"], "window_name": window.name if window else None,
        "staff": case["staff"], "staff_name": staff.name if staff else None,
        "service": case["service"], "service_name": service.name if service else case["service"],
        "department": case["department"], "grade": case["grade"], "grade_name": GRADES[case["grade"]],
        "reason": case["reason"], "reason_name": RATING_REASONS.get(case["reason"] or ""),
        "comment": mask_text(case["comment"]), "phone": mask_phone(case["phone"]), "rated_at": case["rated_at"],
        "state": case["state"], "state_name": CASE_STATES[case["state"]], "resolution": case["resolution"],
        "owner": case["owner"], "opened_at": case["opened_at"], "callback_due": case["callback_due"],
        "fix_due": case["fix_due"], "due_error": case["due_error"], "called_back_at": case["called_back_at"],
        "callback_by": last_day(case["callback_due"]), "fix_by": last_day(case["fix_due"]),
        "callback_contact": case.get("callback_contact"),
        "callback_contact_name": CALLBACK_CONTACTS.get(case.get("callback_contact") or ""),
        "callback_answer": case.get("callback_answer"),
        "callback_answer_name": CALLBACK_ANSWERS.get(case.get("callback_answer") or ""),
        "resolved_at": case["resolved_at"], "closed_at": case["closed_at"],
        "fix_grade": case["fix_grade"], "fix_grade_name": GRADES.get(case["fix_grade"] or 0),
        "county_owned": county,  # the county takes the steps (its supervisors'); this hall reads them
        "actions": [] if county else [a for a, (allowed, _, _) in CASE_ACTIONS.items()
                    if case["state"] in allowed and not (a == "close" and not case.get("callback_answer"))]
                   + (["call-back"] if case["state"] not in ("open", "closed") and not case.get("callback_answer") else []),
    }
    if steps is not None:
        out["steps"] = [{k: s[k] for k in ("action", "from_state", "to_state", "by", "at")} | {"note": mask_text(s["note"])}
                        for s in steps]
    return out
