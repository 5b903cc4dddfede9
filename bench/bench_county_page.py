"""The county's live centres page (/county/) and its JSON (/county/live.json) with 20 halls live:
p50/p99 latency and the county's CPU while 20 simulated shippers post real batches, beside, in the
same run, the same pages with no ingest and the bare SELECT the page reads.

    .venv/bin/python bench/bench_county_page.py [--requests 300] [--peak 30]

Three township days (400, 800 and 1,500 tickets asked; the hall's capacity issues fewer) are played
by the hall's own engine (hallq/demo_history.py: a crowd at the door, queues, 过号, ratings, alerts);
each of the 20 halls ships one of them, as the shipper sends it (server/shipper.county_form). The
morning up to 10:30 is shipped first, so every centre has a queue, open windows and alerts; then each
hall's shipper, a thread of a separate process, posts every 0.5 s the events its day has reached
(as server/shipper.py does when caught up): at the day's own pace ("realistic": ~0.1–0.3 events/s a
hall) and `--peak` times faster (a morning rush of a whole county at once). `hallq county serve`
runs as its own process on a fresh PostgreSQL database; its CPU is read from /proc.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import psycopg  # noqa: E402
from liveserver import free_port  # noqa: E402
from pgrig import fresh_database  # noqa: E402

from county import live, registry, users  # noqa: E402
from county.db import Database  # noqa: E402
from county.web import COOKIE  # noqa: E402
from hallq.config import load_config  # noqa: E402
from hallq.demo_history import seed_history  # noqa: E402
from server.shipper import IDLE_SECONDS, county_form  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
HALLS = 20
DAYS = (400, 800, 1500)  # tickets asked of the seeder: a small, a middle and a big township day
DAY = date(2026, 11, 24)
START = datetime(2026, 11, 24, 10, 30, tzinfo=TZ)  # shipped before measuring: every centre mid-morning


def hall_days(tmp: Path) -> list[list[dict]]:
    """The events of each seeded day, as the county receives them, in id order."""
    config = load_config(ROOT / "config" / "township.toml")
    out = []
    for i, per_day in enumerate(DAYS):
        db = tmp / f"day{i}.db"
        seed_history(config, db, date(2026, 11, 25), calendar_days=1, per_day=per_day, seed=i + 1)
        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        out.append([county_form(dict(r)) for r in conn.execute("SELECT * FROM events ORDER BY id")])
        conn.close()
    return out


def due(ev: dict) -> float:
    """Seconds after START at which the hall logged the event (the office work after hours is last)."""
    ts = datetime.fromisoformat(ev["ts"])
    return (ts - START).total_seconds() if ts.date() == DAY or ts < START else float("inf")


def post(conn: http.client.HTTPConnection, token: str, after: int, events: list[dict]) -> None:
    body = json.dumps({"after": after, "events": events}, ensure_ascii=False).encode()
    conn.request("POST", "/api/v1/ingest", body, {"Authorization": f"Bearer {token}",
                                                   "Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = resp.read()
    assert resp.status == 200, answer[:300]


def ship_morning(port: int, tokens: list[str], days: list[list[dict]]) -> int:
    n = 0
    for h, token in enumerate(tokens):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        events = [e for e in days[h % len(days)] if due(e) <= 0]
        for i in range(0, len(events), 500):
            post(conn, token, events[i - 1]["id"] if i else 0, events[i:i + 500])
        conn.close()
        n += len(events)
    return n


def shippers(port: int, tokens: list[str], days: list[list[dict]], speed: float, offset: float, stop, shipped) -> None:
    """A process of one shipper thread per hall, each posting its day's events as they come due
    (`offset`: hall seconds after 10:30 an earlier phase has played) until `stop` is set."""
    t0 = time.monotonic()

    def one(h: int) -> None:
        token, events = tokens[h], days[h % len(days)]
        sent = sum(1 for e in events if due(e) <= offset)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            now = offset + (time.monotonic() - t0) * speed
            batch = []
            while sent + len(batch) < len(events) and due(events[sent + len(batch)]) <= now and len(batch) < 500:
                batch.append(events[sent + len(batch)])
            if batch:
                post(conn, token, events[sent - 1]["id"] if sent else 0, batch)
                sent += len(batch)
                with shipped.get_lock():
                    shipped.value += len(batch)
            stop.wait(IDLE_SECONDS)
        conn.close()

    threads = [threading.Thread(target=one, args=(h,)) for h in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(base: str, sid: str, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        req = urllib.request.Request(base + path, headers={"Cookie": f"{COOKIE}={sid}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        times.append((time.perf_counter() - t0) * 1000)
        assert resp.status == 200 and len(body) > 1000, (resp.status, body[:200])
    return times


def bare_select(url: str, n: int) -> tuple[list[float], list[float], list[float], tuple[int, int]]:
    """The overview's one SELECT alone (of the digests it reads), live.overview (that SELECT plus the
    Python summary), and, as the reference, the same SELECT of the whole states the page read before
    hall_live.summary (no HTTP, no template); and the JSON sizes of both columns."""
    sql, folded, whole = [], [], []
    select = ("SELECT h.code, h.name, h.high_water, h.last_ingest_at, h.last_contact_at, h.last_event_ts, l.{}, "
              "now() FROM halls h LEFT JOIN hall_live l ON l.hall = h.code ORDER BY h.code")
    with psycopg.connect(url) as conn:
        for _ in range(n):
            t0 = time.perf_counter()
            rows = conn.execute(select.format("summary")).fetchall()
            sql.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            live.overview(conn)
            folded.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            conn.execute(select.format("state")).fetchall()
            whole.append((time.perf_counter() - t0) * 1000)
            conn.commit()
        sizes = conn.execute("SELECT sum(length(summary::text)), sum(length(state::text)) FROM hall_live").fetchone()
    assert len(rows) == HALLS
    return sql, folded, whole, (int(sizes[0]), int(sizes[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300, help="requests per page and phase")
    ap.add_argument("--peak", type=float, default=30.0, help="how many times faster than the day the peak phase ships")
    args = ap.parse_args()
    county = None
    with tempfile.TemporaryDirectory() as tmp, fresh_database() as url:
        t0 = time.perf_counter()
        days = hall_days(Path(tmp))
        print(f"{len(DAYS)} township days played by the engine: {[len(d) for d in days]} events "
              f"({time.perf_counter() - t0:.1f} s)")
        db = Database(url)
        db.migrate()
        tokens = [registry.add_hall(db, f"H{h:02d}", f"第{h + 1}乡镇便民服务中心", level="township") for h in range(HALLS)]
        users.add_user(db, "juzhang", "局长", "director", "bench-director-1")
        sid = users.open_session(db, users.authenticate(db, "juzhang", "bench-director-1"), "127.0.0.1")
        db.close()
        port = free_port()
        county = subprocess.Popen([sys.executable, "-m", "hallq.cli", "county", "serve", "--db", url,
                                   "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(400):
                try:
                    urllib.request.urlopen(base + "/api/v1/health", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.05)
            morning = ship_morning(port, tokens, days)
            print(f"{HALLS} halls shipped up to 10:30: {morning} events")
            results: dict[str, dict] = {}
            mp = multiprocessing.get_context("fork")
            played = 0.0  # hall seconds after 10:30 shipped so far

            def phase(name: str, speed: float | None) -> None:
                nonlocal played
                measure(base, sid, "/county/", 20)  # warm
                proc, stop, shipped = None, mp.Event(), mp.Value("q", 0)
                if speed is not None:
                    proc = mp.Process(target=shippers, args=(port, tokens, days, speed, played, stop, shipped))
                    proc.start()
                    time.sleep(1.0)  # the shippers' first round is in flight before the clock starts
                cpu0, wall0, ev0 = cpu_seconds(county.pid), time.perf_counter(), shipped.value
                page = measure(base, sid, "/county/", args.requests)
                data = measure(base, sid, "/county/live.json", args.requests)
                wall = time.perf_counter() - wall0
                cpu, ingested = cpu_seconds(county.pid) - cpu0, shipped.value - ev0
                if proc is not None:
                    stop.set()
                    proc.join(30)
                    played += (wall + 1.0) * speed
                results[name] = {"page": page, "json": data, "cpu": cpu / wall, "events_s": ingested / wall}

            phase("no ingest (reference)", None)
            phase("realistic ingest (each hall at its day's pace)", 1.0)
            phase(f"peak ingest (each hall {args.peak:g}x its day's pace)", args.peak)
            sql, folded, whole, sizes = bare_select(url, args.requests)
        finally:
            county.terminate()
            county.wait(10)
    print()
    print(f"{'phase':<48} {'page p50':>9} {'p99':>7} {'json p50':>9} {'p99':>7} {'county CPU':>11} {'ingest ev/s':>12}")
    for name, r in results.items():
        print(f"{name:<48} {percentile(r['page'], 50):>7.1f}ms {percentile(r['page'], 99):>5.1f}ms "
              f"{percentile(r['json'], 50):>7.1f}ms {percentile(r['json'], 99):>5.1f}ms {r['cpu']:>10.0%} "
              f"{r['events_s']:>12.1f}")
    print(f"{'bare SELECT of the digests (psycopg, no HTTP)':<48} {percentile(sql, 50):>7.1f}ms "
          f"{percentile(sql, 99):>5.1f}ms   overview() over them: p50 {percentile(folded, 50):.1f} ms, "
          f"p99 {percentile(folded, 99):.1f} ms")
    print(f"{'reference: bare SELECT of the whole states':<48} {percentile(whole, 50):>7.1f}ms "
          f"{percentile(whole, 99):>5.1f}ms   JSON: digests {sizes[0] / 1000:.0f} KB, states {sizes[1] / 1000:.0f} KB")
    print(json.dumps({name: {"page_p50_ms": round(percentile(r["page"], 50), 1),
                             "page_p99_ms": round(percentile(r["page"], 99), 1),
                             "json_p50_ms": round(percentile(r["json"], 50), 1),
                             "json_p99_ms": round(percentile(r["json"], 99), 1),
                             "county_cpu": round(r["cpu"], 3), "events_per_s": round(r["events_s"], 1)}
                      for name, r in results.items()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
