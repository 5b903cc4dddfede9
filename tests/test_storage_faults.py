"""Storage faults through the real server: a full disk (a small tmpfs), another process holding the
write lock, a read-only or damaged database. Each must answer 503 with a code naming the fault,
show on /health at once, apply nothing, and let the hall carry on without a restart."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hallfactory import small_hall
from liveserver import serve_app

from server.app import create_app
from server.commitments import Commitments
from server.engine import Engine
from server.storage_faults import classify
from server.store import JOURNAL_SIZE_LIMIT, Changes, Store

KIOSK, CALLER, SUP, DISPLAY = "t-kiosk", "t-caller", "t-sup", "t-display"


def call(base: str, method: str, path: str, body: dict | None = None, token: str = KIOSK,
         timeout: float = 10) -> tuple[int, dict, dict, float]:
    """(status, headers, JSON body, seconds taken), whatever the status."""
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, json.loads(resp.read()), time.monotonic() - start
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read()), time.monotonic() - start


def db_state(db: Path) -> dict:
    """What the database holds, read through a connection of the test's own."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        live = dict(conn.execute("SELECT id, state FROM tickets WHERE state IN "
                                 "('waiting', 'called', 'serving', 'parked')").fetchall())
        windows = {n: (s, c) for n, s, c in conn.execute("SELECT number, staff, [current] FROM windows")
                   if s or c}
        counters = {(p, d): n for p, d, n in conn.execute("SELECT prefix, day, last FROM counters")}
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return {"live": live, "windows": windows, "counters": counters, "events": events}
    finally:
        conn.close()


def memory_state(engine: Engine) -> dict:
    return {"live": {t.id: t.state for t in engine.tickets.values()},
            "windows": {n: (w.staff, w.current) for n, w in engine.windows.items() if w.staff or w.current},
            "counters": dict(engine.counters)}


def agree(db: Path, engine: Engine) -> dict:
    """The engine's memory and the database say the same; returns the database's state."""
    found = db_state(db)
    assert {k: found[k] for k in ("live", "windows", "counters")} == memory_state(engine)
    return found


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs of the test's own (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(disk: Path) -> Path:
    """Take every free block of `disk`; returns the file that holds them."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_full_disk_answers_503_applies_nothing_and_the_hall_goes_on_once_space_is_freed(small_disk):
    db = small_disk / "hall.db"
    app = create_app(small_hall(all_day=True), db, supervise=False, write_timeout=1)
    engine = app.config["ENGINE"]
    with serve_app(app) as base:
        assert call(base, "POST", "/windows/1/login", {"staff": "1001"}, CALLER)[0] == 200
        assert call(base, "POST", "/tickets", {"service": "S101"})[2]["code"] == "A001"
        before = agree(db, engine)
        filler = fill(small_disk)

        status, headers, body, _ = call(base, "POST", "/tickets", {"service": "S101"})
        assert status == 503, body
        assert body["error"] == "storage_full" and db.name in body["message"] and body["database"] == db.name and str(db.parent) not in body["message"]
        assert int(headers["Retry-After"]) >= 1
        status, _, health, took = call(base, "GET", "/health")
        assert status == 200 and took < 1.0
        assert health["ok"] is False
        assert health["storage"]["state"] == "full" and health["storage"]["database"] == db.name
        status, _, body, _ = call(base, "POST", "/windows/1/call-next", token=CALLER)
        assert status == 503 and body["error"] == "storage_full"

        # Nothing half applied: no number taken, no ticket called, no event; memory as the database.
        assert agree(db, engine) == before
        status, _, queue, _ = call(base, "GET", "/queue", token=DISPLAY)  # reads go on
        assert status == 200 and [t["code"] for t in queue["tickets"]] == ["A001"]
        assert queue["tickets"][0]["state"] == "waiting"

        filler.unlink()  # an administrator frees space; nobody restarts anything
        status, _, body, _ = call(base, "POST", "/tickets", {"service": "S101"})
        assert status == 201 and body["code"] == "A002"  # numbering continues, no gap, no duplicate
        status, _, body, _ = call(base, "POST", "/windows/1/call-next", token=CALLER)
        assert status == 200 and body["ticket"]["code"] == "A001"
        health = call(base, "GET", "/health")[2]
        assert health["ok"] is True and health["storage"]["state"] == "ok"
        alerts = call(base, "GET", "/alerts", token=SUP)[2]["alerts"]
        storage = [a for a in alerts if a["kind"] == "storage"]
        assert len(storage) == 1 and storage[0]["level"] == "red" and storage[0]["active"]
        assert "磁盘已满" in storage[0]["message"] and db.name in storage[0]["message"]
        after = agree(db, engine)
        assert after["events"] > before["events"]


def test_a_freed_disk_is_noticed_without_any_request(small_disk):
    """The supervision loop's probe: a hall that writes nothing still sees the disk work again."""
    db = small_disk / "hall.db"
    app = create_app(small_hall(all_day=True), db, supervise=False, write_timeout=1)
    store = app.config["ENGINE"].store
    with serve_app(app) as base:
        filler = fill(small_disk)
        assert call(base, "POST", "/tickets", {"service": "S101"})[2]["error"] == "storage_full"
        assert store.probe() is False
        assert call(base, "GET", "/health")[2]["storage"]["state"] == "full"
        filler.unlink()
        assert store.probe() is True
        assert call(base, "GET", "/health")[2]["ok"] is True
        alerts = call(base, "GET", "/alerts", token=SUP)[2]["alerts"]
        assert [a["level"] for a in alerts if a["kind"] == "storage"] == ["red"]
        # acknowledging it is what takes it off the board: its condition is over already
        alert = next(a for a in alerts if a["kind"] == "storage")
        status, _, acked, _ = call(base, "POST", f"/alerts/{alert['id']}/ack", {"note": "已清理磁盘"}, SUP)
        assert status == 200 and acked["active"] is False
        assert not [a for a in call(base, "GET", "/alerts", token=SUP)[2]["alerts"] if a["kind"] == "storage"]


def _big(key: str) -> Changes:
    ch = Changes()
    ch.put("settings", {"key": key, "value": "x" * 500_000})
    return ch


def test_wal_is_cut_back_after_a_checkpoint_and_at_start(tmp_path):
    """A long read lets the WAL grow past the limit; once it is reset it is cut back to
    journal_size_limit, a TRUNCATE checkpoint empties it, and so does starting on a large one."""
    db = tmp_path / "hall.db"
    wal = Path(f"{db}-wal")
    store = Store(db)
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchone()  # holds its snapshot: no checkpoint can reset
    for i in range(20):
        store.commit(_big(f"k{i}"))
    assert wal.stat().st_size > 2 * JOURNAL_SIZE_LIMIT
    reader.execute("COMMIT")
    for i in range(3):
        store.commit(_big(f"after{i}"))
    assert wal.stat().st_size <= JOURNAL_SIZE_LIMIT
    assert store.checkpoint() == (0, 0, 0)
    assert wal.stat().st_size == 0

    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchone()
    for i in range(20):
        store.commit(_big(f"again{i}"))
    reader.execute("COMMIT")
    store.close()  # the reader's connection stays open, so closing does not checkpoint: a crash's leftovers
    assert wal.stat().st_size > 2 * JOURNAL_SIZE_LIMIT
    store = Store(db)
    assert wal.stat().st_size == 0
    assert len(store.rows("SELECT key FROM settings WHERE key LIKE 'again%'")) == 20
    store.close()
    reader.close()


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def test_outside_write_lock_reads_answer_writes_503_after_the_write_timeout(tmp_path):
    db = tmp_path / "hall.db"
    app = create_app(small_hall(all_day=True), db, supervise=False, write_timeout=1.0)
    with serve_app(app) as base:
        assert call(base, "POST", "/windows/1/login", {"staff": "1001"}, CALLER)[0] == 200
        assert call(base, "POST", "/tickets", {"service": "S101"})[0] == 201
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            answer: dict = {}
            writer = threading.Thread(target=lambda: answer.update(r=call(base, "POST", "/tickets",
                                                                            {"service": "S102"})))
            writer.start()
            reads = 0
            while writer.is_alive():  # while the write waits for the lock, reads do not
                status, _, _, took = call(base, "GET", "/health", timeout=3)
                assert status == 200 and took < 1.0
                status, _, _, took = call(base, "GET", "/cases", token=SUP, timeout=3)
                assert status == 200 and took < 1.0
                reads += 1
            writer.join()
            assert reads >= 2
            status, headers, body, took = answer["r"]
            assert status == 503 and body["error"] == "storage_busy" and db.name in body["message"]
            assert 0.9 <= took < 4.0 and int(headers["Retry-After"]) >= 1
            status, _, health, took = call(base, "GET", "/health")
            assert took < 1.0 and health["ok"] is False and health["storage"]["state"] == "busy"
            status, _, queue, took = call(base, "GET", "/queue", token=DISPLAY)
            assert status == 200 and took < 1.0 and queue["waiting"] == 1
        finally:
            holder.stdin.write("\n")
            holder.stdin.close()
            holder.wait(10)
        status, _, body, _ = call(base, "POST", "/tickets", {"service": "S102"})
        assert status == 201 and body["code"] == "A002"
        assert call(base, "GET", "/health")[2]["storage"]["state"] == "ok"
        alerts = call(base, "GET", "/alerts", token=SUP)[2]["alerts"]
        assert [a["level"] for a in alerts if a["kind"] == "storage"] == ["yellow"]


def test_read_only_database_is_503_storage_read_only_not_500(tmp_path):
    db = tmp_path / "hall.db"
    app = create_app(small_hall(all_day=True), db, supervise=False, write_timeout=1)
    engine = app.config["ENGINE"]
    with serve_app(app) as base:
        before = agree(db, engine)
        engine.store.db.execute("PRAGMA query_only=ON")  # SQLite itself now refuses every write
        status, _, body, _ = call(base, "POST", "/tickets", {"service": "S101"})
        assert status == 503 and body["error"] == "storage_read_only"
        health = call(base, "GET", "/health")[2]
        assert health["ok"] is False and health["storage"]["state"] == "error"
        assert health["storage"]["code"] == "storage_read_only"
        assert agree(db, engine) == before
        engine.store.db.execute("PRAGMA query_only=OFF")
        assert call(base, "POST", "/tickets", {"service": "S101"})[0] == 201
        assert call(base, "GET", "/health")[2]["ok"] is True


def test_damaged_database_is_503_storage_corrupt_and_stays_reported(tmp_path):
    db = tmp_path / "hall.db"
    app = create_app(small_hall(all_day=True), db, supervise=False, write_timeout=1)
    with serve_app(app) as base:
        assert call(base, "GET", "/cases", token=SUP)[0] == 200
        assert call(base, "POST", "/tickets", {"service": "S101"})[0] == 201  # readers must read afresh
        with open(db, "r+b") as f:  # every page but the first: the cases table lives on one of them
            size = f.seek(0, os.SEEK_END)
            for page in range(1, size // 4096):
                f.seek(page * 4096)
                f.write(b"\xa5" * 4096)
        status, _, body, _ = call(base, "GET", "/cases", token=SUP)
        assert status == 503 and body["error"] == "storage_corrupt", body
        health = call(base, "GET", "/health")[2]
        assert health["ok"] is False and health["storage"]["code"] == "storage_corrupt"


def test_faults_are_told_by_sqlite_error_code(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is no database at all" * 200)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        sqlite3.connect(garbage).execute("SELECT * FROM sqlite_master").fetchall()
    assert classify(raised.value, str(garbage)).code == "storage_corrupt"

    good = tmp_path / "good.db"
    sqlite3.connect(good).execute("CREATE TABLE t (x UNIQUE)").connection.commit()
    with pytest.raises(sqlite3.OperationalError) as raised:
        sqlite3.connect(f"file:{good}?mode=ro", uri=True).execute("INSERT INTO t VALUES (1)")
    assert classify(raised.value, str(good)).code == "storage_read_only"

    conn = sqlite3.connect(good, isolation_level=None)
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as raised:
        conn.execute("INSERT INTO t VALUES (1)")
    assert classify(raised.value, str(good)) is None  # our own bug: stays a 500


def test_a_failing_listener_neither_undoes_the_commit_nor_the_engines_memory(tmp_path):
    engine = Engine(small_hall(all_day=True), Store(tmp_path / "hall.db"))

    def broken(events: list[dict]) -> None:
        raise RuntimeError("listener bug")

    engine.store.subscribe(broken)
    t = engine.issue("S101")
    assert t.id in engine.tickets and engine.counters[("A", t.day)] == 1
    assert engine.store.rows("SELECT code FROM tickets") == [{"code": "A001"}]


def test_commitments_catch_up_opens_deadlines_a_failed_write_missed(tmp_path):
    hall = small_hall(all_day=True)
    engine = Engine(hall, Store(tmp_path / "hall.db"))
    engine.login(3, "1003")
    engine.issue("S201")
    engine.call_next(3)
    engine.finish(3, "accepted")  # no Commitments listening: as if its write had failed
    commitments = Commitments(hall, engine.store, engine.now)
    assert commitments.open_ones() == []
    assert commitments.catch_up() == 1
    assert [r["ticket_code"] for r in commitments.open_ones()] == ["B001"]
    assert commitments.catch_up() == 0


def test_a_write_waits_for_an_outside_lock_no_longer_than_its_deadline(tmp_path):
    from server import deadline
    from server.errors import Expired

    store = Store(tmp_path / "hall.db", write_timeout=5)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "hall.db")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        token = deadline.set_deadline(time.monotonic() + 0.3)
        start = time.monotonic()
        try:
            with pytest.raises(Expired):
                store.commit(_big("late"))
        finally:
            deadline.reset(token)
        assert time.monotonic() - start < 2.0  # not the 5 s write timeout
        assert store.state.ok  # a client's short budget is no storage fault
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    store.commit(_big("now"))
    assert store.rows("SELECT key FROM settings WHERE key IN ('late', 'now')") == [{"key": "now"}]
    store.close()
