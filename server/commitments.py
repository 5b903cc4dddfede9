"""承诺件: services finished with outcome "accepted" must be delivered within the service's promised
working days. The deadline is written when the window accepts the case; the back office marks the case
delivered (出件), and until then the supervision checker warns as the deadline nears.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime

from hallq.model import HallConfig

from .deadline import holding
from .errors import Conflict, NotFound
from .store import Changes, Store
from .workdays import add_working_days, gap_note

log = logging.getLogger(__name__)


class Commitments:
    def __init__(self, config: HallConfig, store: Store, now: Callable[[], datetime]) -> None:
        self.config = config
        self.store = store
        self.now = now
        self._lock = threading.Lock()

    def recompute_provisional(self) -> int:
        """承诺件 deadlines set provisionally (no holiday data then), computed again now."""
        changed = 0
        with self._lock:
            for row in self.store.rows("SELECT * FROM commitments WHERE due_error IS NOT NULL AND state = 'open'"):
                accepted = datetime.fromisoformat(row["accepted_at"])
                last = add_working_days(accepted.date(), row["promised_days"])
                deadline, note = last.isoformat(), gap_note(accepted.date(), last)
                if (deadline, note) == (row["deadline"], row["due_error"]):
                    continue
                ch = Changes()
                ch.put("commitments", {**row, "deadline": deadline, "due_error": note})
                ch.event(ts=self.now().isoformat(), type="commitment.deadline", actor="system", window=row["window"],
                         ticket_code=row["ticket_code"], service=row["service"],
                         data={"record": row["record_id"], "deadline": deadline, "provisional": note is not None})
                self.store.commit(ch)
                changed += 1
        return changed

    def on_commit(self, events: list[dict]) -> None:
        """Store listener: an accepted 承诺件 gets its deadline."""
        for ev in events:
            if ev["type"] == "ticket.finished" and ev["data"].get("outcome") == "accepted":
                try:
                    self.open(int(ev["data"]["record"]))
                except Exception:
                    log.exception("could not record the deadline of record %s", ev["data"].get("record"))

    def catch_up(self, since: datetime | None = None) -> int:
        """Write the deadlines of accepted 承诺件 (ended at or after `since`) that have none, because
        writing them failed (disk full); returns how many were opened."""
        promised = [code for code, s in self.config.services.items() if s.promised_days > 0]
        if not promised:
            return 0
        rows = self.store.rows(
            "SELECT r.id FROM records r LEFT JOIN commitments c ON c.record_id = r.id "
            f"WHERE r.ended_at >= ? AND r.[end] = 'finished' AND r.outcome = 'accepted' "
            f"AND r.service IN ({', '.join('?' * len(promised))}) AND c.record_id IS NULL ORDER BY r.id",
            [since.isoformat() if since else "", *promised])
        return sum(1 for r in rows if self.open(r["id"]) is not None)

    def open(self, record_id: int) -> dict | None:
        """Write the deadline for a finished, accepted record; None if its service promises no days."""
        with self._lock:
            if self.store.rows("SELECT 1 FROM commitments WHERE record_id = ?", [record_id]):
                return None
            rows = self.store.rows("SELECT * FROM records WHERE id = ?", [record_id])
            if not rows:
                raise NotFound(f"no service record {record_id}", field="record")
            rec = rows[0]
            service = self.config.services.get(rec["service"])
            if service is None or service.promised_days <= 0:
                return None
            accepted = datetime.fromisoformat(rec["ended_at"])
            last = add_working_days(accepted.date(), service.promised_days)
            deadline, due_error = last.isoformat(), gap_note(accepted.date(), last)
            row = {
                "record_id": record_id, "ticket_code": rec["ticket_code"], "day": rec["day"],
                "window": rec["window"], "staff": rec["staff"], "service": rec["service"],
                "department": rec["department"], "accepted_at": rec["ended_at"],
                "promised_days": service.promised_days, "deadline": deadline, "due_error": due_error,
                "state": "open", "done_at": None, "done_by": None,
            }
            ch = Changes()
            ch.put("commitments", row)
            ch.event(ts=self.now().isoformat(), type="commitment.opened", actor="system", window=rec["window"],
                     ticket_code=rec["ticket_code"], service=rec["service"],
                     data={"record": record_id, "deadline": deadline, "promised_days": service.promised_days,
                           "due_error": due_error})
            self.store.commit(ch)
            return row

    def done(self, record_id: int, by: str) -> dict:
        """The case was delivered (出件): its deadline no longer matters."""
        with holding(self._lock, "the delivery"):
            rows = self.store.rows("SELECT * FROM commitments WHERE record_id = ?", [record_id])
            if not rows:
                raise NotFound(f"no committed case for record {record_id}", field="record")
            row = rows[0]
            if row["state"] == "done":
                raise Conflict(f"{row['ticket_code']} was delivered already", field="record", code="already_done")
            now = self.now().isoformat()
            row = {**row, "state": "done", "done_at": now, "done_by": by}
            ch = Changes()
            ch.put("commitments", row)
            ch.event(ts=now, type="commitment.done", actor=by, window=row["window"], ticket_code=row["ticket_code"],
                     service=row["service"], data={"record": record_id})
            self.store.commit(ch)
            return row

    def open_ones(self) -> list[dict]:
        return self.store.rows("SELECT * FROM commitments WHERE state = 'open' ORDER BY deadline, record_id")


def deadline_date(row: dict) -> date | None:
    return date.fromisoformat(row["deadline"]) if row["deadline"] else None
