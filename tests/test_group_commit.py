"""Group commit: actions stage their change under the engine lock and wait for the disk after it
(server/store.py `Store.stage`, server/action_lock.py). Each answer is durable when given; actions
that arrive while a commit runs share the next; a failed commit fails every change staged up to
then and the engine's memory is read back from the store."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from server.engine import Engine
from server.storage_faults import StorageError
from server.store import Store


def outside_writer(path) -> sqlite3.Connection:
    """Another process's view of the database: holds the write lock until it rolls back."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def db_tickets(path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT id, number FROM tickets").fetchall())
    finally:
        conn.close()


def issue_all(engine: Engine, n: int, durable_at_answer: list) -> tuple[list, list]:
    results, errors = [], []

    def one(i: int) -> None:
        try:
            t = engine.issue("S101")
        except Exception as exc:  # noqa: BLE001 - the test looks at which
            errors.append(exc)
            return
        durable_at_answer.append(t.id in db_tickets(engine.store.path))
        results.append(t)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, (results, errors)


def test_actions_waiting_for_the_disk_share_a_commit_and_the_engine_keeps_answering(staffed):
    commits = []
    staffed.store.subscribe(lambda events: commits.append(len(events)))
    blocker = outside_writer(staffed.store.path)
    durable: list[bool] = []
    threads, (results, errors) = issue_all(staffed, 10, durable)
    time.sleep(0.3)
    t0 = time.monotonic()
    live = staffed.live_tickets()  # the engine lock is free while the writes wait for the disk
    took = time.monotonic() - t0
    assert not results  # nothing answered while nothing is durable
    blocker.rollback()
    blocker.close()
    for t in threads:
        t.join(10)
    assert not errors and len(results) == 10 and all(durable)
    assert took < 0.2 and len(live) == 10
    assert len(commits) <= 3  # ten actions, not ten disk syncs
    assert sorted(t.number for t in results) == list(range(1, 11))


def test_a_failed_group_commit_fails_every_staged_change_and_memory_follows_the_store(tmp_path, hall, clock):
    store = Store(tmp_path / "hall.db", write_timeout=0.3)
    engine = Engine(hall, store, clock)
    engine.login(1, "1001")
    first = engine.issue("S101")
    blocker = outside_writer(store.path)
    durable: list[bool] = []
    threads, (results, errors) = issue_all(engine, 6, durable)
    for t in threads:
        t.join(10)
    blocker.rollback()
    blocker.close()
    assert not results and len(errors) == 6
    assert all(isinstance(e, StorageError) and e.code == "storage_busy" for e in errors)
    # Memory is what the store holds: only the first ticket, and numbering goes on from it.
    assert set(engine.tickets) == {first.id} == set(db_tickets(store.path))
    again = engine.issue("S101")
    assert again.number == 2 and db_tickets(store.path)[again.id] == 2
    assert engine.call_next(1)["ticket"].id == first.id
    store.close()


def test_a_change_staged_after_a_failure_on_stale_memory_is_refused_not_written(tmp_path, hall, clock):
    store = Store(tmp_path / "hall.db")
    engine = Engine(hall, store, clock)
    engine.login(1, "1001")
    # A group commit fails while an action computes on the memory it had (epoch before the bump):
    store.epoch += 1
    store._epoch_fault = StorageError("disk full", code="storage_full", state="full", database="hall.db",
                                      retry_after=5)
    stale = store.stage(_ticket_change(), engine._epoch)
    with pytest.raises(StorageError):
        stale.wait()
    assert "stale" not in db_tickets(store.path)
    t = engine.issue("S101")  # the engine notices the new epoch, reloads, and carries on
    assert t.id in db_tickets(store.path)
    store.close()


def _ticket_change():
    from server.store import Changes

    ch = Changes()
    ch.put("settings", {"key": "stale", "value": "x"})
    return ch
