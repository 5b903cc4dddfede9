"""Replication to the county with real processes: two `hallq serve` halls (one shipping from a thread
of its own, one through `hallq ship`, 5 events a batch so a backlog takes many requests) and `hallq
county serve` on real PostgreSQL. The links are cut (the county stopped), the county, a hall and a
shipper are SIGKILLed while events are on their way, and everything is restarted in different
orders; the halls serve citizens throughout. After healing, for every hall and every local day, the
county's figures equal the hall's own exactly, and every event of each hall is at the county
exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from liveserver import REPO, all_day_config, free_port, start_serve, wait_for

from county import registry
from county.db import Database
from hallq.client import ApiClient, ApiError
from hallq.config import load_config
from server import stats
from server.app import create_app, stop_app
from server.clock import ManualClock

pytestmark = pytest.mark.slow
TZ = ZoneInfo("Asia/Shanghai")
GRADES = [5, 4, 5, 1, 5, 3, 2, 5]  # 1 and 2 are 差评: each opens a case


def seed(config_path: Path, db: Path, days: list[date], per_day: int) -> None:
    """Past days of a hall, written by the hall's own code on a clock set to those days (the second
    hall's clock is more than a year behind: the county must file it under the days the hall said)."""
    clock = ManualClock(datetime.combine(days[0], datetime.min.time(), TZ))
    app = create_app(load_config(config_path), db, clock=clock, supervise=False)
    e = app.config["ENGINE"]
    config = app.config["HALL"]
    staff = list(config.staff)[:2]
    services = [next(iter(config.windows[w].services)) for w in (1, 2)]
    n = 0
    for day in days:
        clock.set(datetime.combine(day, datetime.min.time(), TZ).replace(hour=9))
        for w, s in zip((1, 2), staff, strict=True):
            e.login(w, s)
        for i in range(per_day):
            e.issue(services[i % 2])
            clock.advance(minutes=1)
        for i in range(per_day - 3):  # three are left waiting: closed at the next day's first action
            w = 1 + i % 2
            if e.call_next(w)["result"] != "accepted":
                continue
            clock.advance(minutes=2)
            if i % 9 == 4:
                e.no_show(w)
                continue
            e.finish(w)
            n += 1
            e.rate(GRADES[n % len(GRADES)], "evaluator", window=w)
    stop_app(app)
    e.store.close()


def traffic(base: str, config, tickets: int) -> None:
    """Citizens and clerks on the live hall's API: issue, call, finish, rate."""
    tokens = {t.role: t.token for t in config.tokens}
    kiosk, caller = ApiClient(base, tokens["kiosk"]), ApiClient(base, tokens["caller"])
    services = [next(iter(config.windows[w].services)) for w in (1, 2)]
    for w, s in zip((1, 2), list(config.staff)[:2], strict=True):
        caller.window(w, "login", staff=s)
    for i in range(tickets):
        assert kiosk.post("/tickets", {"service": services[i % 2]})["code"]  # served with the county down too
    for i in range(tickets):
        w = 1 + i % 2
        try:
            if caller.window(w, "call-next")["result"] != "accepted":
                continue
            caller.window(w, "finish", outcome="done")
            caller.post("/ratings", {"grade": GRADES[i % len(GRADES)], "channel": "evaluator", "window": w})
        except ApiError as exc:
            assert exc.status in (404, 409), exc.body


def start_county(url: str, port: int, *args: str, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hallq.cli", "county", "serve", "--db", url, "--port", str(port),
                             *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=None if env is None else {**os.environ, **env})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    raise AssertionError("hallq county serve did not start")


def start_ship(config: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hallq.cli", "ship", "--config", str(config), "--db", str(db),
                             "--batch", "5"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    proc.stdout.close()


def hall_events(db: Path, upto: int | None = None) -> list[dict]:
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM events WHERE id <= ? ORDER BY id", [upto or 2**62])]
    finally:
        conn.close()
    for r in rows:
        r["data"] = json.loads(r["data"] or "{}")
    return rows


def marks(url: str) -> dict[str, int]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return dict(conn.execute("SELECT code, high_water FROM halls").fetchall())


def wait_mark(url: str, hall: str, test, timeout: float = 40) -> int:
    """Poll the county's mark for `hall` (one connection, every 2 ms) until `test` holds."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        while time.monotonic() < deadline:
            mark = conn.execute("SELECT high_water FROM halls WHERE code = %s", [hall]).fetchone()[0]
            if test(mark):
                return mark
            time.sleep(0.002)
    raise AssertionError(f"{hall}: the county's mark stayed at {mark}")


def test_county_figures_equal_each_halls_own_after_cuts_kills_and_restarts(tmp_path, pg_url):
    county_port = free_port()
    county_url = f"http://127.0.0.1:{county_port}"
    db = Database(pg_url)
    db.migrate()
    halls = {}
    today = datetime.now(TZ).date()
    for code, source, days in (("QS", "township.toml", [today - timedelta(days=2), today - timedelta(days=1)]),
                               ("BS", "township.toml", [date(2025, 6, 30), date(2025, 7, 1)])):
        token = registry.add_hall(db, code, f"{code} 便民服务中心")
        plain = all_day_config(REPO / "config" / source, tmp_path / f"{code}.toml")
        linked = tmp_path / f"{code}-county.toml"
        linked.write_text(plain.read_text(encoding="utf-8") + f'\n[county]\nurl = "{county_url}"\ntoken = "{token}"\n',
                          encoding="utf-8")
        hall_db = tmp_path / f"{code}.db"
        seed(plain, hall_db, days, per_day=24)
        halls[code] = {"plain": plain, "linked": linked, "db": hall_db, "config": load_config(plain), "port": free_port()}
    db.close()
    qs, bs = halls["QS"], halls["BS"]
    procs: list[subprocess.Popen] = []
    try:
        # Halls first, county down: both serve citizens with no county at all.
        qs["proc"] = start_serve(qs["linked"], qs["db"], qs["port"])  # ships from a thread of hallq serve
        bs["proc"] = start_serve(bs["plain"], bs["db"], bs["port"])   # ships through hallq ship
        procs += [qs["proc"], bs["proc"]]
        for h in (qs, bs):
            traffic(f"http://127.0.0.1:{h['port']}", h["config"], 6)
        county = start_county(pg_url, county_port)
        procs.append(county)
        ship = start_ship(bs["linked"], bs["db"])
        procs.append(ship)
        bs_max = max(e["id"] for e in hall_events(bs["db"]))
        # The county killed while BS's backlog is on its way (5 events a batch).
        mid = wait_mark(pg_url, "BS", lambda m: 0 < m < bs_max)
        kill(county)
        assert mid < bs_max
        for h in (qs, bs):
            traffic(f"http://127.0.0.1:{h['port']}", h["config"], 6)
        kill(qs["proc"])  # a hall killed while its link is down
        county = start_county(pg_url, county_port)
        procs.append(county)
        before = marks(pg_url)["BS"]
        bs_max = max(e["id"] for e in hall_events(bs["db"]))
        wait_mark(pg_url, "BS", lambda m: before < m < bs_max)
        kill(ship)  # the shipper killed while it catches up
        qs["proc"] = start_serve(qs["linked"], qs["db"], qs["port"])
        procs.append(qs["proc"])
        ship = start_ship(bs["linked"], bs["db"])
        procs.append(ship)
        for h in (qs, bs):
            traffic(f"http://127.0.0.1:{h['port']}", h["config"], 4)
        kill(county)  # county and hall killed together; the hall comes back first
        kill(bs["proc"])
        bs["proc"] = start_serve(bs["plain"], bs["db"], bs["port"])
        procs.append(bs["proc"])
        traffic(f"http://127.0.0.1:{bs['port']}", bs["config"], 4)
        county = start_county(pg_url, county_port)
        procs.append(county)
        # Healing: each hall's every event reaches the county by itself.
        for code, h in halls.items():
            last = max(e["id"] for e in hall_events(h["db"]))
            h["mark"] = wait_mark(pg_url, code, lambda m, last=last: m >= last)
        live_today = {code: ApiClient(f"http://127.0.0.1:{h['port']}", next(
            t.token for t in h["config"].tokens if t.role == "display")).get("/stats/today") for code, h in halls.items()}
    finally:
        for p in procs:
            stop(p)
    reader = registry.add_reader(Database(pg_url), "test")
    county = start_county(pg_url, county_port)
    try:
        for code, h in halls.items():
            own = hall_events(h["db"], upto=h["mark"])
            with psycopg.connect(pg_url) as conn:
                ids = [r[0] for r in conn.execute("SELECT event_id FROM events WHERE hall = %s ORDER BY event_id", [code])]
                applied = conn.execute("SELECT sum(applied) FROM ingests WHERE hall = %s", [code]).fetchone()[0]
            assert ids == [e["id"] for e in own]  # 0 lost, 0 twice
            assert applied == len(own)
            county_days = ApiClient(county_url, reader).get(f"/halls/{code}/figures")["days"]
            hall_days = stats.replay_days(own)
            assert county_days == hall_days  # every day, every figure, exactly
            assert len(hall_days) >= 3 and all(d["issued"] for d in hall_days.values())
            assert sum(d["cases_opened"] for d in hall_days.values()) > 0
            # And the hall's own table figures (its /stats/today) for today.
            mine, theirs = live_today[code], county_days[live_today[code]["day"]]
            for key in ("issued", "finished", "no_shows", "services_done", "ratings", "bad_ratings"):
                assert theirs[key] == mine[key], (code, key)
        assert set(county_days) >= {"2025-06-30", "2025-07-01"}  # BS: the days its clock said
    finally:
        stop(county)


def test_a_hall_restored_from_its_backup_is_seen_diverged_and_a_rebase_ships_its_new_history(tmp_path, pg_url):
    """The hall backs up with sqlite3's backup API, writes and ships more, loses its disk and is
    restored; its new events reuse the ids the county holds. The county refuses to mix them (409
    diverged, the hall marked), the hall serves on with a red alert and nothing of its new events
    lost; `hallq county rebase` archives the lost events (kept, no longer counted) and the shipper
    ships the new history by itself."""
    from county.app import create_app as county_app
    from county.app import stop_app as stop_county
    from county.live import overview
    from county.serve import BackgroundCounty
    from county.supervision import county_alerts
    from server.api.schemas import CountyLinkState
    from server.county_link import LinkWatch
    from server.shipper import Shipper

    capp = county_app(pg_url)
    server = BackgroundCounty(capp).start()
    cdb = capp.config["DB"]
    hall_db, backup = tmp_path / "qs.db", tmp_path / "qs-backup.db"
    app = None
    try:
        token = registry.add_hall(cdb, "QS", "青石镇便民服务中心")
        plain = all_day_config(REPO / "config" / "township.toml", tmp_path / "qs.toml")

        def ship_all() -> None:
            shipper = Shipper(hall_db, server.url, token, batch=40)
            while shipper.step():
                pass
            shipper.stop()

        seed(plain, hall_db, [date(2026, 11, 20)], per_day=8)
        ship_all()
        with sqlite3.connect(hall_db) as src, sqlite3.connect(backup) as dst:  # the operator's .backup
            src.backup(dst)
        kept = max(e["id"] for e in hall_events(hall_db))
        seed(plain, hall_db, [date(2026, 11, 21)], per_day=8)  # written after the backup, shipped, then lost
        ship_all()
        lost = [e["id"] for e in hall_events(hall_db) if e["id"] > kept]
        assert marks(pg_url)["QS"] == lost[-1]
        for suffix in ("", "-wal", "-shm"):  # the disk dies; the backup is restored
            Path(f"{hall_db}{suffix}").unlink(missing_ok=True)
        with sqlite3.connect(backup) as src, sqlite3.connect(hall_db) as dst:
            src.backup(dst)

        app = create_app(load_config(plain), hall_db, supervise=False)
        e = app.config["ENGINE"]
        services = [next(iter(app.config["HALL"].windows[w].services)) for w in (1, 2)]
        e.login(1, list(app.config["HALL"].staff)[0])
        while e.store.last_committed_id <= lost[-1] + 5:  # a new history past the county's mark
            e.issue(services[0])
            if e.call_next(1)["result"] == "accepted":
                e.finish(1)
        watch = LinkWatch(app, 300)
        shipper = Shipper(hall_db, server.url, token, idle=0.05, diverged_retry=0.2, on_round=watch.observe).start()
        try:
            wait_for(lambda: shipper.state == "diverged" and shipper.diverged.get("common") is not None, "diverged")
            assert shipper.diverged["common"] == kept  # found by SM3 link: the backup's last event
            status = CountyLinkState.model_validate(watch.status())
            assert status.state == "diverged" and status.diverged_after == lost[-1] and status.common == kept
            [alert] = [a for a in app.config["ALERTS"].active() if a["kind"] == "county_diverged"]
            assert alert["level"] == "red" and "备份恢复" in alert["message"] and "暂停上报" in alert["message"]
            assert marks(pg_url)["QS"] == lost[-1]  # nothing mixed in
            with cdb.connection() as conn:
                [centre] = overview(conn)
            assert centre["diverged"]["after"] == lost[-1] and centre["diverged"]["common"] == kept
            assert [a["kind"] for a in county_alerts([centre])] == ["diverged"]
            assert e.issue(services[1])  # the hall serves on; its new events wait at the hall

            done = subprocess.run([sys.executable, "-m", "hallq.cli", "county", "rebase", "--db", pg_url, "QS",
                                   "--by", "县局管理员"], cwd=REPO, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["archived"] == len(lost)
            last = e.store.last_committed_id
            wait_mark(pg_url, "QS", lambda m: m >= last)
            wait_for(lambda: shipper.state == "caught_up", "caught up")
            wait_for(lambda: not [a for a in app.config["ALERTS"].active() if a["kind"] == "county_diverged"],
                     "the alert cleared")
        finally:
            shipper.stop()
        own = hall_events(hall_db)
        with psycopg.connect(pg_url) as conn:
            ids = [r[0] for r in conn.execute("SELECT event_id FROM events WHERE hall = 'QS' ORDER BY event_id")]
            archived = [r[0] for r in conn.execute("SELECT event_id FROM archived_events ORDER BY event_id")]
            [(by, common)] = conn.execute("SELECT by, common FROM rebases").fetchall()
            diverged = conn.execute("SELECT diverged FROM halls WHERE code = 'QS'").fetchone()[0]
        top = max(ids)
        assert ids == [x["id"] for x in own if x["id"] <= top] and top >= last  # every new event, once
        assert archived == lost and (by, common) == ("县局管理员", kept) and diverged is None
        reader = registry.add_reader(cdb, "test")
        days = ApiClient(server.url, reader).get("/halls/QS/figures")["days"]
        assert days == stats.replay_days([x for x in own if x["id"] <= top])  # the lost day no longer counted
        assert "2026-11-21" not in days
        with cdb.connection() as conn:
            [centre] = overview(conn)
        assert centre["diverged"] is None and centre["issued"] == days[centre["day"]]["issued"]  # live state replayed
    finally:
        if app is not None:
            stop_app(app)
            app.config["ENGINE"].store.close()
        server.stop()
        stop_county(capp)
