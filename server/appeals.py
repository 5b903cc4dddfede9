"""申诉复核: a window appeals a rating it believes false or malicious; a reviewer decides.

filed → upheld (成立) | rejected (不成立). The window files with its reason and evidence (text and an
optional reference to a file kept elsewhere); a supervisor or admin who is not of that window (not the
filer, not the rated staff member, not pinned to or signed in at the window) decides with a note. An
upheld appeal takes the rating out of every score and 红黑榜 (they read the `scored_ratings` view,
server/migrations.py v12) and never out of `ratings`, the record. Each step is an event
(appeal.filed, appeal.decided: the audit log) and, when the rating has a 差评 case, a case step.
One appeal per rating: a decision is final.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from .deadline import holding
from .errors import Conflict, Forbidden, NotFound
from .privacy import mask_text
from .store import Changes, Store
from .tickets import GRADES

APPEAL_STATES = {"filed": "待复核", "upheld": "申诉成立", "rejected": "申诉不成立"}
REVIEW_ROLES = ("admin", "supervisor")


class AppealBook:
    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        self.store = store
        self.now = now
        self._lock = threading.RLock()

    def get(self, appeal_id: int) -> dict:
        rows = self.store.rows("SELECT * FROM appeals WHERE id = ?", [appeal_id])
        if not rows:
            raise NotFound(f"no appeal {appeal_id}", field="appeal")
        return rows[0]

    def list(self, state: str | None = None) -> list[dict]:
        if state is None:
            return self.store.rows("SELECT * FROM appeals ORDER BY id DESC LIMIT 500")
        return self.store.rows("SELECT * FROM appeals WHERE state = ? ORDER BY id DESC LIMIT 500", [state])

    def file(self, rating_id: int, by: str, window: int | None, reason: str, evidence: str | None,
             evidence_ref: str | None) -> dict:
        """The window `window` (the filer's own; None for a supervisor or admin) appeals rating `rating_id`."""
        with holding(self._lock, "the appeal"):
            rows = self.store.rows("SELECT * FROM ratings WHERE id = ?", [rating_id])
            if not rows:
                raise NotFound(f"no rating {rating_id}", field="rating")
            rating = rows[0]
            if window is not None and rating["window"] != window:
                raise Forbidden(f"window {window} may appeal only its own ratings (this one is window "
                                f"{rating['window']}'s)", field="rating")
            if rating["channel"] == "default":
                raise Conflict("a default rating is nobody's to appeal", field="rating", code="default_rating")
            if self.store.rows("SELECT 1 FROM appeals WHERE rating_id = ?", [rating_id]):
                raise Conflict("this rating has been appealed already (one appeal per rating)", field="rating",
                               code="already_appealed")
            now = self.now().isoformat()
            new_id = self.store.rows("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM appeals")[0]["n"]
            appeal = {"id": new_id, "rating_id": rating_id, "record_id": rating["record_id"],
                      "window": rating["window"], "staff": rating["staff"], "reason": mask_text(reason.strip()),
                      "evidence": mask_text(evidence), "evidence_ref": evidence_ref, "filed_by": by,
                      "filed_at": now, "state": "filed", "decided_by": None, "decided_at": None,
                      "decision_note": None}
            ch = Changes()
            ch.put("appeals", appeal)
            self._case_step(ch, rating, "appeal-filed", by, now, f"窗口申诉复核：{appeal['reason']}")
            ch.event(ts=now, type="appeal.filed", actor=by, window=rating["window"], ticket_code=rating["ticket_code"],
                     service=rating["service"], data={"appeal": new_id, "rating": rating_id,
                                                      "record": rating["record_id"], "grade": rating["grade"]})
            self.store.commit(ch)
            return appeal

    def decide(self, appeal_id: int, upheld: bool, note: str, by: str, *, staff: str | None = None,
               pinned_window: int | None = None, signed_in_window: int | None = None) -> dict:
        """A reviewer's decision. `staff`, `pinned_window`, `signed_in_window`: the reviewer's own
        staff number and windows, so nobody of the appealing window decides its appeal."""
        with holding(self._lock, "the appeal decision"):
            appeal = dict(self.get(appeal_id))
            if by == appeal["filed_by"]:
                raise Forbidden("the filer of an appeal may not decide it", field="appeal")
            if staff is not None and staff == appeal["staff"]:
                raise Forbidden("the rated staff member may not decide the appeal of their own rating", field="appeal")
            if appeal["window"] in (pinned_window, signed_in_window):
                raise Forbidden(f"a reviewer of window {appeal['window']}'s own staff may not decide its appeal",
                                field="appeal")
            if appeal["state"] != "filed":
                raise Conflict(f"the appeal is {APPEAL_STATES[appeal['state']]} already", field="appeal",
                               code="decided")
            now = self.now().isoformat()
            appeal.update(state="upheld" if upheld else "rejected", decided_by=by, decided_at=now,
                          decision_note=mask_text(note.strip()))
            rating = self.store.rows("SELECT * FROM ratings WHERE id = ?", [appeal["rating_id"]])[0]
            ch = Changes()
            ch.put("appeals", appeal)
            verdict = APPEAL_STATES[appeal["state"]]
            self._case_step(ch, rating, "appeal-decided", by, now, f"复核结论：{verdict}：{appeal['decision_note']}")
            ch.event(ts=now, type="appeal.decided", actor=by, window=rating["window"],
                     ticket_code=rating["ticket_code"], service=rating["service"],
                     data={"appeal": appeal_id, "rating": rating["id"], "record": rating["record_id"],
                           "upheld": upheld, "state": appeal["state"], "grade": rating["grade"],
                           "rating_day": self._service_day(rating)})
            self.store.commit(ch)
            return appeal

    def _service_day(self, rating: dict) -> str | None:
        """The day the rating counts for (its service's, server/stats.py event_day): where the county
        takes an upheld appeal's rating out of its figures."""
        rows = self.store.rows("SELECT day FROM records WHERE id = ?", [rating["record_id"]])
        return rows[0]["day"] if rows else None

    def _case_step(self, ch: Changes, rating: dict, action: str, by: str, at: str, note: str) -> None:
        """The 差评 case of the rating, if any, shows the appeal among its steps (its state unchanged)."""
        case = self.store.rows("SELECT id, state FROM cases WHERE record_id = ?", [rating["record_id"]])
        if case:
            ch.put("case_steps", {"case_id": case[0]["id"], "action": action, "from_state": case[0]["state"],
                                  "to_state": case[0]["state"], "by": by, "at": at, "note": note})


def appeal_view(appeal: dict, rating: dict | None = None) -> dict:
    out = {k: appeal[k] for k in ("id", "rating_id", "record_id", "window", "staff", "reason", "evidence",
                                  "evidence_ref", "filed_by", "filed_at", "state", "decided_by", "decided_at",
                                  "decision_note")}
    out["state_name"] = APPEAL_STATES[appeal["state"]]
    if rating is not None:
        out.update(ticket_code=rating["ticket_code"], service=rating["service"], grade=rating["grade"],
                   grade_name=GRADES[rating["grade"]], comment=mask_text(rating["comment"]),
                   rated_at=rating["rated_at"], channel=rating["channel"])
    return out
