"""County ingest: events/s through the whole path (hall log → shipper → HTTP → county → PostgreSQL)
beside the raw PostgreSQL insert rate of the same rows in the same run, and the catch-up time of a
40-window hall after a full day offline.

    .venv/bin/python bench/bench_county.py [--tickets 1200] [--pg postgresql:///postgres]

A day of the demo county hall (40 windows) is written by the hall's own engine on a clock that runs
through the day (tickets issued, called, served, rated, a few no-shows). The county runs as
`hallq county serve` (its own process) on a fresh database; the shipper (server/shipper.py) ships
the whole day as a hall coming back online would. The raw rate is COPY of the same rows, in the same
batches, into a plain table of the same columns, in the same database: what PostgreSQL itself does
with no HTTP, no JSON, no checks and no partitioning.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import psycopg  # noqa: E402
from liveserver import all_day_config, free_port  # noqa: E402

from county import registry  # noqa: E402
from county.db import Database  # noqa: E402
from county.ingest import parse  # noqa: E402
from hallq.config import load_config  # noqa: E402
from server.clock import ManualClock  # noqa: E402
from server.engine import Engine  # noqa: E402
from server.shipper import BATCH, Shipper, county_form  # noqa: E402
from server.store import Store  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")


def hall_day(db: Path, tickets: int) -> int:
    """A working day of the 40-window demo hall written by its engine; returns the events logged."""
    config = load_config(all_day_config(ROOT / "config" / "demo-hall.toml", db.with_suffix(".toml")))
    clock = ManualClock(datetime(2026, 11, 24, 8, 30, tzinfo=TZ))
    e = Engine(config, Store(db), clock)
    windows = sorted(config.windows)
    staff = list(config.staff)
    for w, s in zip(windows, staff, strict=False):
        e.login(w, s)
    matters = [s for w in windows for s in config.windows[w].services][: 60]
    step = 8 * 3600 / tickets  # seconds between arrivals over 8 hours
    for i in range(tickets):
        e.issue(matters[i % len(matters)])
        clock.advance(seconds=step)
        w = windows[i % len(windows)]
        if e.call_next(w)["result"] == "accepted":
            clock.advance(seconds=30)
            if i % 17 == 5:
                e.no_show(w)
            else:
                e.finish(w)
                e.rate([5, 5, 4, 5, 3, 5, 1][i % 7], "evaluator", window=w)
    n = e.store.last_event_id()
    e.store.close()
    return n


def raw_copy_rate(url: str, rows: list[tuple]) -> float:
    """Rows/s for COPY into a plain table, in transactions of BATCH rows."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE raw_events (hall text, event_id bigint, day date, ts text, type text, actor text, "
                     "window_number integer, ticket text, ticket_code text, service text, data jsonb)")
        conn.commit()
        t0 = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor().copy("COPY raw_events FROM STDIN") as copy:
                for r in rows[i:i + BATCH]:
                    copy.write_row(r)
        return len(rows) / (time.perf_counter() - t0)


def nats_rate(forms: list[dict]) -> float | None:
    """Events/s published to a NATS JetStream file stream, in batches of BATCH, each message acked
    (Nats-Msg-Id for dedup, as the county dedups by (hall, event id)); None without nats-server."""
    import shutil

    from natsjs import JetStream

    exe = shutil.which("nats-server")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as store:
        port = free_port()
        proc = subprocess.Popen([exe, "-js", "-sd", store, "-a", "127.0.0.1", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    js = JetStream(port)
                    break
                except OSError:
                    time.sleep(0.05)
            assert "error" not in js.create_stream("EVENTS", "events.>")
            payloads = [(f"DEMO-{f['id']}", json.dumps(f, ensure_ascii=False).encode()) for f in forms]
            t0 = time.perf_counter()
            for i in range(0, len(payloads), BATCH):
                acks = js.publish_batch("events.DEMO", payloads[i:i + BATCH])
                assert all("seq" in a for a in acks), acks[:1]
            rate = len(payloads) / (time.perf_counter() - t0)
            js.close()
            return rate
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1200, help="tickets in the day (demo hall: ~780 a working day)")
    ap.add_argument("--pg", default=os.environ.get("HALLQ_TEST_PG", "postgresql:///postgres"))
    args = ap.parse_args()
    name = f"hallq_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(args.pg, dbname=name)
    county = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "hall.db"
            t0 = time.perf_counter()
            events = hall_day(db, args.tickets)
            print(f"hall day: {args.tickets} tickets, {events} events, written in {time.perf_counter() - t0:.1f} s")
            cdb = Database(url)
            cdb.migrate()
            token = registry.add_hall(cdb, "DEMO", "演示县政务服务中心")
            cdb.close()
            port = free_port()
            county = subprocess.Popen([sys.executable, "-m", "hallq.cli", "county", "serve", "--db", url,
                                       "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL)
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.05)
            shipper = Shipper(db, f"http://127.0.0.1:{port}", token)
            t0 = time.perf_counter()
            while shipper.step() or shipper.state != "caught_up":
                pass
            catch_up = time.perf_counter() - t0
            shipper.stop()
            assert shipper.high_water == events, (shipper.high_water, events)
            # The same rows COPYed raw, same batches, same database.
            conn = sqlite3.connect(db)
            conn.row_factory = sqlite3.Row
            forms = [county_form(dict(r)) for r in conn.execute("SELECT * FROM events ORDER BY id")]
            conn.close()
            rows = []
            for i in range(0, len(forms), BATCH):
                rows += [e.row for e in parse("RAW", {"after": forms[i]["id"] - 1, "events": forms[i:i + BATCH]})[1]]
            raw = raw_copy_rate(url, rows)
            nats = nats_rate(forms)
        print()
        print(f"{'path':<58} {'events/s':>10}")
        print(f"{'raw PostgreSQL COPY, 500 a transaction':<58} {raw:>10,.0f}")
        print(f"{'county ingest: hall log -> shipper -> HTTP -> county -> PG':<58} {events / catch_up:>10,.0f}")
        if nats is not None:
            print(f"{'NATS JetStream publish+ack (file store), 500 a batch':<58} {nats:>10,.0f}")
        print(f"\nindex (ingest / raw): {events / catch_up / raw:.2f}")
        print(f"catch-up after a full day offline ({events} events, 40 windows): {catch_up:.2f} s")
        print(json.dumps({"events": events, "raw_per_s": round(raw), "ingest_per_s": round(events / catch_up),
                          "catch_up_s": round(catch_up, 2),
                          "nats_publish_per_s": round(nats) if nats else None}))
    finally:
        if county is not None:
            county.terminate()
            county.wait(10)
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
