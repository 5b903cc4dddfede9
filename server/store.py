"""The SQLite store: current state tables plus an append-only event log, one transaction per change.

Every engine action ends in `Store.stage(changes)` (group commit): its row upserts and its event
rows are written by the committer thread in one `BEGIN IMMEDIATE … COMMIT` with the other actions
staged meanwhile, with WAL and `synchronous=FULL`, and the action is answered only after that
commit, so a ticket the API acknowledged survives SIGKILL or power loss, and a half-done change is
never visible. Other writers (sessions, cases, alerts) use `Store.commit`, which writes at once.

Writes go through one connection; reads through connections of their own (a small pool), which WAL
lets proceed while any writer — ours or another process's — holds the write lock, so views keep
answering. A write waits for the lock no longer than `write_timeout` (nor past the request's
deadline) and then answers `storage_busy`; a full disk, an I/O error, a read-only or damaged file
answer 503 with their own code (server/storage_faults.py), and `state` tells /health from memory.
The WAL is kept bounded (autocheckpoint, `journal_size_limit`, a TRUNCATE checkpoint at start and
after a fault), so once space is freed the hall carries on without a restart.

sqlite-utils builds the schema and serves queries; writes inside a transaction use plain SQL,
because sqlite-utils' own insert/upsert commit by themselves and would split our transaction.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from . import audit_chain, deadline, migrations, requestlog
from .errors import Expired
from .storage_faults import Fault, StorageError, StorageState, busy, classify

log = logging.getLogger(__name__)

DEFAULT_WRITE_TIMEOUT = 5.0  # seconds a write waits for the write lock before answering storage_busy
READ_TIMEOUT = 2.0  # readers wait only in rare cases (WAL recovery), never for a writer
WAL_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default: a checkpoint every ~4 MB of WAL
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024  # the WAL is cut back to this after a checkpoint resets it
BUSY_STEP_MS = 50  # SQLite's busy timeout is set in steps of this, rounded down (see Store._busy_timeout)


@dataclass
class Changes:
    """What one engine action writes: rows to upsert (table, row) and events to append.

    `action=False` marks a write that is not the request's own action (closing yesterday's tickets
    first, logging a refusal): it does not carry the request's idempotency marker."""

    rows: list[tuple[str, dict]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    action: bool = True

    def put(self, table: str, row: dict) -> None:
        self.rows.append((table, row))

    def event(self, **event: Any) -> None:
        self.events.append(event)


class Staged:
    """One change waiting for its group commit (see `Store.stage`)."""

    __slots__ = ("changes", "pending", "due", "epoch", "seq", "done", "events", "error")

    def __init__(self, changes: Changes, pending: requestlog.Pending | None, due: float | None, epoch: int) -> None:
        self.changes, self.pending, self.due, self.epoch = changes, pending, due, epoch
        self.seq = 0
        self.done = threading.Event()
        self.events: list[dict] = []
        self.error: BaseException | None = None

    def succeed(self, events: list[dict]) -> None:
        self.events = events
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()

    def wait(self) -> list[dict]:
        """The change's events once durable; raises what its commit raised."""
        self.done.wait()
        if self.error is not None:
            raise self.error.with_traceback(None)
        return self.events


LATER_LIMIT = 1000  # bookkeeping statements waiting for a commit; the oldest go first

EVENT_COLUMNS = ("ts", "type", "actor", "window", "ticket_id", "ticket_code", "service", "data")
INSERT_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"


class Store:
    def __init__(self, path: str | Path, write_timeout: float = DEFAULT_WRITE_TIMEOUT,
                 now: Callable[[], datetime] | None = None) -> None:
        self.path = str(path)
        self.write_timeout = float(write_timeout)
        self.memory = self.path == ":memory:"
        self.state = StorageState(self.path, now)
        if not self.memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=self.write_timeout)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        self._lock = threading.RLock()  # the write connection
        self._busy_ms: int | None = None  # the write connection's busy timeout as last set; None: unknown
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._later: list[tuple[str, list]] = []  # bookkeeping written with the next commit
        self._later_lock = threading.Lock()
        self._listeners: list[Callable[[list[dict]], None]] = []
        self._recovery: list[Callable[[Fault], None]] = []
        # Group commit (`stage`): the queue, its sequence numbers and the committer thread.
        self._group = threading.Condition(threading.Lock())
        self._queue: list[Staged] = []
        self._staged_seq = self._done_seq = 0
        self._committer: threading.Thread | None = None
        self._closing = False
        self.epoch = 0  # bumped by every failed group commit: the engine's memory must be reloaded
        self._epoch_fault: BaseException | None = None
        migrations.migrate(self.db)
        self.checkpoint()  # a WAL left large by the last run gives its space back
        self._last_id = self.last_event_id()

    # -- writing ---------------------------------------------------------------------------

    def commit(self, changes: Changes) -> list[dict]:
        """Write all rows and events atomically, now; returns the events with their ids.

        Raises `StorageError` (503) when the database cannot take it, with nothing written: after
        waiting for the write lock at most `write_timeout` (`Expired` if the request's deadline
        came first), or at once on a full disk, an I/O error, a read-only or damaged file. A request
        past its deadline is never applied (`Expired` right before BEGIN). The running request's
        idempotency marker, if any, is written in the same transaction. Listeners run with no
        deadline: what follows from an applied change must not expire halfway."""
        by_deadline = self._acquire()
        try:
            deadline.check("the change")
            pending = requestlog.unwritten() if changes.action else None
            try:
                written, = self._transaction([(changes, pending)])
            except BaseException as exc:
                raise self._failure(exc, by_deadline) from exc
            recovered = self._succeeded(written, [pending])
        finally:
            self._lock.release()
        self._after_commit(written, recovered)
        return written

    def _transaction(self, batch: list[tuple[Changes, requestlog.Pending | None]]) -> list[list[dict]]:
        """One BEGIN IMMEDIATE … COMMIT for the changes of `batch`, in order, each with its marker,
        and the waiting bookkeeping; the events each wrote. Holds the write lock (the caller's).
        On any error everything is rolled back and the bookkeeping kept for the next commit."""
        with self._later_lock:
            later, self._later = self._later, []
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            out = []
            chain: audit_chain.Linker | None = None  # the 好差评 record and events are SM3-chained
            for changes, pending in batch:
                for table, row in changes.rows:
                    cur = conn.execute(_upsert_sql(table, tuple(row)), [_sql_value(v) for v in row.values()])
                    if table in audit_chain.CHAINED:
                        chain = chain or audit_chain.Linker(conn)
                        chain.add_stored(table, cur.lastrowid)
                written = []
                for ev in changes.events:
                    row = {c: ev.get(c) for c in EVENT_COLUMNS}
                    row["data"] = json.dumps(ev.get("data") or {}, ensure_ascii=False, default=str)
                    cur = conn.execute(INSERT_EVENT, [_sql_value(v) for v in row.values()])
                    chain = chain or audit_chain.Linker(conn)
                    chain.add_stored("events", cur.lastrowid)
                    written.append({"id": cur.lastrowid, **row, "data": ev.get("data") or {}})
                if pending is not None:
                    marker = pending.row(written)
                    conn.execute(f"INSERT INTO requests ({', '.join(marker)}) VALUES ({', '.join('?' for _ in marker)})",
                                 list(marker.values()))
                out.append(written)
            for sql, params in later:
                try:
                    conn.execute(sql, params)
                except sqlite3.Error:  # never let bookkeeping sink the action itself…
                    if not conn.in_transaction:  # …unless SQLite rolled it all back (disk full)
                        raise
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            with self._later_lock:
                self._later[:0] = later
            raise
        return out

    def _failure(self, exc: BaseException, by_deadline: bool) -> BaseException:
        """What a failed transaction answers: its StorageError (recorded in `state`), `Expired`
        when the client's deadline ended the wait for the lock, or `exc` itself (a bug)."""
        err = classify(exc, self.path)
        if err is None:
            return exc
        if err.state == "busy" and by_deadline:  # the client's deadline ended the wait, not ours
            return Expired("the request was not applied: the database's write lock stayed taken until "
                           "its deadline passed", field=deadline.HEADER)
        self.state.failed(err)
        return err

    def _succeeded(self, written: list[dict], pendings: Iterable[requestlog.Pending | None]) -> Fault | None:
        for pending in pendings:
            if pending is not None:
                pending.applied = True
        if written:
            self._last_id = max(self._last_id, written[-1]["id"])
        recovered = self.state.succeeded()
        if recovered is not None:
            self.checkpoint(wait=False)
        return recovered

    def _after_commit(self, written: list[dict], recovered: Fault | None) -> None:
        token = deadline.set_deadline(None)
        try:
            for listener in list(self._listeners):
                try:
                    listener(written)
                except Exception:  # the change is committed and acknowledged: a listener cannot undo it
                    log.exception("a commit listener failed")
        finally:
            deadline.reset(token)
        if recovered is not None:
            self._recovered(recovered)

    # -- group commit ---------------------------------------------------------------------------

    def stage(self, changes: Changes, epoch: int | None = None) -> Staged:
        """Queue `changes` for the next group commit and return at once; `Staged.wait()` returns
        when they are durable (or raises what the commit raised).

        The engine stages under its lock and waits after releasing it: the disk sync and the SQL
        of one action overlap the next action's work, and all the actions staged while one commit
        runs share the next. Order is kept: changes are written in the order staged. A commit that
        fails fails every change staged up to then and bumps `epoch`, so the engine, whose memory
        ran ahead of the disk, reloads it (`Engine` checks at every lock). The deadline is checked
        here, before anything is applied; the idempotency marker goes with the change. `epoch`:
        the one the caller's memory was read in (a change computed before a failure is refused)."""
        if self.memory:
            raise RuntimeError("an in-memory store commits at once: use commit()")
        deadline.check("the change")
        pending = requestlog.unwritten() if changes.action else None
        if pending is not None:
            pending.staged = True
        item = Staged(changes, pending, deadline.current(), self.epoch if epoch is None else epoch)
        with self._group:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._staged_seq += 1
            item.seq = self._staged_seq
            self._queue.append(item)
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_groups, name="hallq-commit", daemon=True)
                self._committer.start()
            self._group.notify_all()
        return item

    def settle(self) -> None:
        """Wait until everything staged so far is durable or failed (reads that must see it)."""
        if self.memory:
            return
        with self._group:
            target = self._staged_seq
            while self._done_seq < target:
                self._group.wait()

    def _commit_groups(self) -> None:
        while True:
            with self._group:
                while not self._queue and not self._closing:
                    self._group.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            try:
                self._commit_group(batch)
            except BaseException as exc:  # never leave a waiter waiting
                log.exception("group commit failed")
                for item in batch:
                    if not item.done.is_set():
                        item.fail(exc)
            with self._group:
                self._done_seq = max(self._done_seq, batch[-1].seq)
                self._group.notify_all()

    def _commit_group(self, batch: list[Staged]) -> None:
        stale = [i for i in batch if i.epoch != self.epoch]
        for item in stale:  # computed on memory that a failed commit has since invalidated
            item.fail(self._epoch_fault)
        live = [i for i in batch if i.epoch == self.epoch]
        if not live:
            return
        dues = [i.due for i in live]
        token = deadline.set_deadline(None if None in dues else min(dues))  # the lock waits for the soonest
        try:
            by_deadline = self._acquire()
        except BaseException as exc:
            deadline.reset(token)
            self._fail_group(live, exc)  # busy (our own lock) or Expired, as commit() raises them
            return
        deadline.reset(token)
        try:
            try:
                written = self._transaction([(i.changes, i.pending) for i in live])
            except BaseException as exc:
                self._fail_group(live, self._failure(exc, by_deadline))
                return
            events = [ev for w in written for ev in w]
            recovered = self._succeeded(events, [i.pending for i in live])
        finally:
            self._lock.release()
        self._after_commit(events, recovered)
        for item, events in zip(live, written, strict=True):
            item.succeed(events)

    def _fail_group(self, live: list[Staged], err: BaseException) -> None:
        """Nothing of the group was written: each change fails (`Expired` for those whose own
        deadline has passed when the lock wait ran out), and the engine must reload."""
        self._epoch_fault = err
        self.epoch += 1
        now = time.monotonic()
        for item in live:
            if isinstance(err, Expired) and item.due is not None and item.due > now:
                item.fail(busy(self.path, self.write_timeout))
            else:
                item.fail(err)

    def _acquire(self) -> bool:
        """Take the write connection, waiting no longer than `write_timeout` or the request's
        deadline in all (SQLite's busy timeout gets what is left); True when the deadline is the
        tighter bound. Not getting our own lock in time (another write is waiting for SQLite's)
        answers like SQLite's BUSY."""
        start = time.monotonic()
        budget = self.write_timeout
        left = deadline.remaining()
        by_deadline = left is not None and left < budget
        if by_deadline:
            budget = left
        if budget > 0 and self._lock.acquire(timeout=budget):
            rest = budget - (time.monotonic() - start)
            if rest > 0:
                try:
                    self._busy_timeout(rest)
                    return by_deadline
                except BaseException:
                    self._lock.release()
                    raise
            self._lock.release()
        if by_deadline:
            raise Expired("the request was not applied: the hall was busy until its deadline passed",
                          field=deadline.HEADER)
        raise busy(self.path, time.monotonic() - start)

    def _busy_timeout(self, rest: float) -> None:
        """Let SQLite wait for the write lock `rest` seconds at most, rounded down to a BUSY_STEP_MS
        step (never longer than allowed), so that the PRAGMA — parsed anew each time, some 20 us —
        runs only when the value changes, not on every commit."""
        ms = max(1, int(rest * 1000))
        if ms >= 2 * BUSY_STEP_MS:
            ms -= ms % BUSY_STEP_MS
        if ms != self._busy_ms:
            self._busy_ms = None
            self.db.conn.execute(f"PRAGMA busy_timeout={ms}")
            self._busy_ms = ms

    def _rollback(self) -> None:
        conn = self.db.conn
        if conn.in_transaction:  # SQLite rolls back by itself on a full disk; ROLLBACK then would fail
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("ROLLBACK failed on %s", self.path)

    def _raise_fault(self, exc: BaseException) -> None:
        """Turn a storage fault into its StorageError (recording the state); others pass through."""
        err = self.fault(exc)
        if err is not None and err is not exc:
            raise err from exc

    def fault(self, exc: BaseException) -> StorageError | None:
        """The storage fault `exc` is (and the state records it), or None when it is not one."""
        err = classify(exc, self.path)
        if err is not None:
            self.state.failed(err)
        return err

    def probe(self) -> bool:
        """Try one small write (the supervision loop does, while storage is faulty, so a hall that
        writes nothing still notices the space was freed); True when it went through."""
        ch = Changes()
        ch.put("settings", {"key": "storage_probe", "value": self.state.now().isoformat()})
        try:
            self.commit(ch)
        except StorageError:
            return False
        return True

    def checkpoint(self, wait: bool = True) -> tuple[int, int, int] | None:
        """Move the WAL into the database and cut it to nothing (TRUNCATE); best effort: a reader or
        another process in the way only leaves it for the autocheckpoint. `wait=False` tries once."""
        if self.memory:
            return None
        with self._lock:
            conn = self.db.conn
            self._busy_ms = None
            try:
                if not wait:
                    conn.execute("PRAGMA busy_timeout=0")
                return tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
            except sqlite3.Error as exc:
                log.warning("checkpoint of %s failed: %s", self.path, exc)
                return None
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self.write_timeout * 1000)}")

    def on_recovered(self, callback: Callable[[Fault], None]) -> None:
        """Called with the fault, ended, on the first successful write after storage failed."""
        self._recovery.append(callback)

    def _recovered(self, fault: Fault) -> None:
        if fault.ended is None:
            log.error("database %s is damaged (%s since %s); writes work, the supervisor is told", self.path,
                      fault.code, fault.since.isoformat())
        else:
            log.warning("storage of %s works again after %s (%d failures since %s)", self.path, fault.code,
                        fault.failures, fault.since.isoformat())
        for callback in list(self._recovery):
            try:
                # outside the request's context: its deadline is not the deadline of this work
                contextvars.Context().run(callback, fault)
            except Exception:
                log.exception("a storage recovery callback failed")

    def later(self, sql: str, params: list) -> None:
        """Bookkeeping that may wait (an answer kept for replay, a purge): written with the next
        commit, or by `flush`; losing it costs nothing the action needs."""
        with self._later_lock:  # not the write lock: a finishing request never waits for a commit
            self._later.append((sql, params))
            del self._later[:-LATER_LIMIT]

    def flush(self) -> None:
        """Write the waiting bookkeeping now (at shutdown)."""
        self.settle()
        with self._lock:
            if self._later:
                try:
                    self.commit(Changes(action=False))
                except StorageError as exc:  # a full disk at shutdown: only replay answers are lost
                    log.warning("bookkeeping not written at shutdown: %s", exc)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement as its own transaction, for a conditional UPDATE that the upserts of
        `commit` cannot express (no events, no listeners); the number of rows it changed. Waits for
        the write lock like a commit does (`write_timeout`, or the request's deadline)."""
        self._acquire()
        try:
            changed = self.db.conn.execute(sql, list(params)).rowcount
        except sqlite3.Error as exc:
            self._raise_fault(exc)
            raise
        finally:
            self._lock.release()
        recovered = self.state.succeeded()
        if recovered is not None:
            self._recovered(recovered)
        return changed

    def next_number(self, prefix: str, day: str) -> int:
        """The number the next ticket of `prefix` would get today (read only; commit bumps it)."""
        rows = self.rows("SELECT last FROM counters WHERE prefix = ? AND day = ?", [prefix, day])
        return (rows[0]["last"] if rows else 0) + 1

    def subscribe(self, listener: Callable[[list[dict]], None]) -> None:
        """Called after every commit with the new events (the live event stream hangs off this)."""
        self._listeners.append(listener)

    # -- reading ---------------------------------------------------------------------------

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        if self.memory:  # one connection only: share the writer's
            with self._lock:
                return self._read(self.db.conn, sql, params)
        conn = self._reader()
        try:
            return self._read(conn, sql, params)
        finally:
            self._give_back(conn)

    def _read(self, conn: sqlite3.Connection, sql: str, params: Iterable[Any]) -> list[dict]:
        try:
            return [dict(r) for r in conn.execute(sql, list(params)).fetchall()]
        except sqlite3.Error as exc:
            err = classify(exc, self.path)
            if err is None:
                raise
            if err.state != "busy":  # a reader held up for a moment is not a storage fault
                self.state.failed(err)
            raise err from exc

    def _reader(self) -> sqlite3.Connection:
        with self._readers_lock:
            if self._readers:
                return self._readers.pop()
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=READ_TIMEOUT)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            self._raise_fault(exc)
            raise
        return conn

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._readers_lock:
            if not self._closed:
                self._readers.append(conn)
                return
        conn.close()

    def events_after(self, last_id: int, limit: int = 500, decode: bool = True) -> list[dict]:
        """Events after `last_id` in order; `decode=False` leaves `data` as its JSON text."""
        rows = self.rows("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", [last_id, limit])
        if decode:
            for r in rows:
                r["data"] = json.loads(r["data"] or "{}")
        return rows

    def last_event_id(self) -> int:
        return int(self.rows("SELECT COALESCE(MAX(id), 0) AS m FROM events")[0]["m"])

    @property
    def last_committed_id(self) -> int:
        """The last event id this process committed (or found at start), from memory: for /health."""
        return self._last_id

    def iter_table(self, table: str, where: str = "", params: Iterable[Any] = ()) -> Iterator[dict]:
        sql = f"SELECT * FROM [{table}]" + (f" WHERE {where}" if where else "")
        yield from self.rows(sql, params)

    def close(self) -> None:
        with self._group:
            self._closing = True
            self._group.notify_all()
            committer = self._committer
        if committer is not None:
            committer.join(30)  # what is staged is written first
        with self._group:
            self._closed = True
        with self._readers_lock:
            self._closed = True
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self.db.conn.close()


@functools.lru_cache(maxsize=256)
def _upsert_sql(table: str, cols: tuple[str, ...]) -> str:
    """The upsert of one row with these columns: built once per shape, not on every commit."""
    return (f"INSERT OR REPLACE INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})")


def _sql_value(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return int(value)
    return value
