"""Idempotency keys: a write retried after a lost answer gets the first answer and is applied once.

A caller names each logical action with a key (`Idempotency-Key`); keys are scoped to the caller's
identity (a token's name, "web:<user>", "anonymous"), so one kiosk can never reach another's answer.
The request that runs puts a `Pending` marker in a context variable; `Store.commit` writes it as a
`requests` row in the same transaction as the action's own rows, so an applied action always has
its marker and a marker always its action, even across SIGKILL. The exact answer is kept in memory
(bounded per scope) and written to the row lazily; after a restart, a retry gets an answer rebuilt
from the row. A retry that arrives while the first try is still running waits for it.

This module knows no Flask: server/api/requests.py joins it to HTTP.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from . import deadline
from .errors import Conflict, Expired
from .idkeys import IdKeys

if TYPE_CHECKING:
    from .store import Store

KEEP_DAYS = 2  # a retry comes within seconds; rows older than this are purged
PER_SCOPE = 256  # answers kept in memory per caller
PURGE_EVERY = 3600.0  # seconds


@dataclass
class Pending:
    """The running request's marker; `Store.commit` fills in what it wrote with it."""

    scope: str
    key: str
    fingerprint: str
    endpoint: str | None
    created_at: str = field(default_factory=lambda: _utc_now().isoformat(timespec="seconds"))
    staged: bool = False  # a change carrying it is waiting for its group commit
    applied: bool = False  # that change is durable

    def row(self, events: list[dict]) -> dict:
        ticket = next((e["ticket_id"] for e in events if e.get("ticket_id")), None)
        return {"scope": self.scope, "key": self.key, "fingerprint": self.fingerprint, "endpoint": self.endpoint,
                "created_at": self.created_at, "ticket_id": ticket,
                "first_event": events[0]["id"] if events else None, "last_event": events[-1]["id"] if events else None}


_pending: contextvars.ContextVar[Pending | None] = contextvars.ContextVar("hallq_pending_request", default=None)


def begin(pending: Pending) -> contextvars.Token:
    return _pending.set(pending)


def end(token: contextvars.Token) -> None:
    _pending.reset(token)


def unwritten() -> Pending | None:
    """The current request's marker if no commit has carried it yet (the store asks at each commit)."""
    p = _pending.get()
    return p if p is not None and not p.applied and not p.staged else None


def fingerprint(keys: IdKeys, method: str, path: str, body: bytes) -> str:
    """What tells a retry from another request under the same key. Keyed (the ID-number secret,
    server/idkeys.py): bodies carry ID numbers, and a plain hash stored in `requests` would give
    the full number back to a copy of the database (datasheet id-card-reader-sam §6)."""
    return keys.digest("request", method.encode() + b" " + path.encode() + b"\n" + body)


@dataclass
class Answer:
    fingerprint: str
    status: int
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Flight:
    fingerprint: str
    done: threading.Event = field(default_factory=threading.Event)


class Reused(Conflict):
    code = "idempotency_key_reused"


class RequestLog:
    """Per app: answers in memory, requests in flight, and the `requests` rows of one store."""

    def __init__(self, store: Store, keys: IdKeys | None = None, per_scope: int = PER_SCOPE,
                 keep_days: float = KEEP_DAYS) -> None:
        self.store = store
        self.keys = keys or IdKeys.ephemeral()  # the app passes the database's own
        self.per_scope = per_scope
        self.keep = timedelta(days=keep_days)
        self._lock = threading.Lock()
        self._answers: dict[str, OrderedDict[str, Answer]] = {}
        self._flights: dict[tuple[str, str], _Flight] = {}
        self._purged_at: float | None = None

    def claim(self, scope: str, key: str, fp: str, field_name: str) -> Answer | dict | None:
        """Before running a request: its first answer (Answer), the row of the earlier try that was
        applied before a restart (dict; rebuild the answer, then `remember` it), or None: run it now
        and `finish` it. Waits, within the current deadline, for a first try still in flight."""
        self._purge_now_and_then()
        while True:
            with self._lock:
                answer = self._cached(scope, key)
                flight = self._flights.get((scope, key))
                if answer is None and flight is None:
                    self._flights[(scope, key)] = _Flight(fp)
                    break
                seen = answer.fingerprint if answer is not None else flight.fingerprint
                if seen != fp:
                    raise _reused(key, field_name)
                if answer is not None:
                    return answer
            left = deadline.remaining()
            if not flight.done.wait(timeout=None if left is None else max(0.0, left)):
                raise Expired("the request was not applied: its first try was still in progress when its "
                              "deadline passed", field=deadline.HEADER)
        try:
            rows = self.store.rows("SELECT * FROM requests WHERE scope = ? AND key = ?", [scope, key])
        except BaseException:
            self.release(scope, key)
            raise
        if not rows:
            return None
        if rows[0]["fingerprint"] not in ("", fp):  # "": written before fingerprints were keyed (migration 18)
            self.release(scope, key)
            raise _reused(key, field_name)
        return rows[0]

    def finish(self, scope: str, key: str, fp: str, status: int, body: bytes, applied: bool) -> None:
        """After running: keep the answer (never a 5xx/503 or 429: the retry runs, or finds the row) and
        release waiting retries. An applied answer goes to its row with the next commit."""
        if status < 500 and status != 429:  # 429 says "later": the retry must run, not replay it
            self.remember(scope, key, Answer(fp, status, body))
            if applied:
                self.store.later("UPDATE requests SET status = ?, body = ? WHERE scope = ? AND key = ?",
                                 [status, body.decode("utf-8", "replace"), scope, key])
        self.release(scope, key)

    def remember(self, scope: str, key: str, answer: Answer) -> None:
        with self._lock:
            answers = self._answers.setdefault(scope, OrderedDict())
            answers[key] = answer
            answers.move_to_end(key)
            while len(answers) > self.per_scope:
                answers.popitem(last=False)

    def release(self, scope: str, key: str) -> None:
        with self._lock:
            flight = self._flights.pop((scope, key), None)
        if flight is not None:
            flight.done.set()

    def _cached(self, scope: str, key: str) -> Answer | None:
        answers = self._answers.get(scope)
        answer = answers.get(key) if answers else None
        if answer is not None and time.monotonic() - answer.at > self.keep.total_seconds():
            del answers[key]
            return None
        return answer

    def _purge_now_and_then(self) -> None:
        now = time.monotonic()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        cutoff = (_utc_now() - self.keep).isoformat(timespec="seconds")
        self.store.later("DELETE FROM requests WHERE created_at < ?", [cutoff])


def _reused(key: str, field_name: str) -> Reused:
    return Reused(f"{field_name} {key!r} was already used for a different request", field=field_name)


def _utc_now() -> datetime:
    return datetime.now(UTC)
