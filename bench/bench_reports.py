"""Report speed on a year of data: about 250,000 tickets written straight into a store.

    .venv/bin/python bench/bench_reports.py [--per-day 1000] [--db PATH] [--keep]

Generates the working days of 2026 (chinese_calendar) for the demo county hall: tickets, service
records (some transferred, some no-shows), ratings (mostly good, a few bad) and supervision alerts,
then times each report query the reports page runs, for the year, a month and a day, the pages
and exports through the app, and prints the figures. The target is under one second for a year's
report by any grouping. (Opening the app opens a 差评 case for every bad rating of the year, and
those whose fix deadline falls in 2027 get no deadline while chinese-calendar lacks 2027.)
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hallq.config import load_config  # noqa: E402
from server import reports  # noqa: E402
from server.store import Store  # noqa: E402
from server.workdays import is_working_day  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo-hall.toml"
GRADES = [5] * 800 + [4] * 150 + [3] * 45 + [2] * 4 + [1] * 1


def generate(store: Store, config, per_day: int, seed: int = 1) -> dict[str, int]:
    """Write a year of synthetic history; returns row counts."""
    rng = random.Random(seed)
    windows = list(config.windows.values())
    staff = list(config.staff)
    counts = {"tickets": 0, "records": 0, "ratings": 0, "alerts": 0}
    tickets, records, ratings, alerts = [], [], [], []
    record_id = 0
    day = date(2026, 1, 1)
    while day.year == 2026:
        if not is_working_day(day):
            day += timedelta(days=1)
            continue
        iso = day.isoformat()
        opening = datetime(day.year, day.month, day.day, 8, 30, tzinfo=TZ)
        on_duty = {w.number: staff[i % len(staff)] for i, w in enumerate(windows)}
        for n in range(per_day):
            window = rng.choice(windows)
            service = rng.choice([c for c, weight in window.services.items() if weight != "backup"] or list(window.services))
            arrived = opening + timedelta(minutes=rng.uniform(0, 480))
            tid = f"{iso}-{n}"
            code = f"A{n % 1000:03d}"
            tickets.append((tid, code, "A", n, iso, service, service, "normal", "finished", arrived.isoformat(),
                            arrived.isoformat(), arrived.isoformat()))
            called = arrived + timedelta(minutes=rng.expovariate(1 / 9))
            steps = 2 if rng.random() < 0.05 else 1
            for step in range(steps):
                record_id += 1
                no_show = step == 0 and rng.random() < 0.04
                started = None if no_show else called + timedelta(minutes=rng.uniform(0.3, 2))
                ended = (called + timedelta(minutes=3)) if no_show else started + timedelta(minutes=rng.gammavariate(2, 5))
                end = "no_show" if no_show else ("transferred" if step < steps - 1 else "finished")
                w = window if step == 0 else rng.choice(windows)
                dept = config.services[service].department
                records.append((record_id, tid, code, iso, w.number, on_duty[w.number], service, dept, "normal",
                                arrived.isoformat(), called.isoformat(), started.isoformat() if started else None,
                                ended.isoformat(), end))
                if end == "finished" and rng.random() < 0.7:
                    ratings.append((record_id, tid, code, service, dept, w.number, on_duty[w.number],
                                    ended.isoformat(), ended.isoformat(), "evaluator", rng.choice(GRADES)))
                if no_show:
                    break
                called = ended + timedelta(minutes=rng.uniform(1, 10))
        for _ in range(rng.randint(10, 40)):
            w = rng.choice(windows)
            at = opening + timedelta(minutes=rng.uniform(0, 480))
            alerts.append((f"idle:{w.number}:{len(alerts)}", "idle", str(w.number), rng.choice(["warning", "yellow", "red"]),
                           "", w.number, on_duty[w.number], None, w.department, at.isoformat(), at.isoformat(), 0))
        day += timedelta(days=1)
    conn = store.db.conn
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO tickets (id, code, prefix, number, day, matter, service, priority, state, issued_at, "
                     "arrived_at, queued_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", tickets)
    conn.executemany("INSERT INTO records (id, ticket_id, ticket_code, day, window, staff, service, department, priority, "
                     "arrived_at, called_at, started_at, ended_at, [end]) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", records)
    conn.executemany("INSERT INTO ratings (record_id, ticket_id, ticket_code, service, department, window, staff, "
                     "served_at, rated_at, channel, grade) VALUES (?,?,?,?,?,?,?,?,?,?,?)", ratings)
    conn.executemany("INSERT INTO alerts ([key], kind, source, level, message, window, staff, service, department, "
                     "raised_at, updated_at, active) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", alerts)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    counts.update(tickets=len(tickets), records=len(records), ratings=len(ratings), alerts=len(alerts))
    return counts


def timed(label: str, fn, repeat: int = 3):
    best, result = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    print(f"  {label:38} {best * 1000:8.1f} ms{'   OVER 1 s' if best > 1 else ''}")
    return result, best


def pages(store: Store, config, path: Path) -> float:
    """Time the reports page and the exports through the app, as a supervisor's browser gets them."""
    from server.app import create_app
    from server.users import add_user

    if not store.rows("SELECT 1 FROM users WHERE username = 'bench'"):
        add_user(store, config, "bench", "bench-password", "supervisor")
    logging.disable(logging.ERROR)  # December's bad ratings reach into 2027: cases say so, once each
    app = create_app(config, path, supervise=False)
    logging.disable(logging.NOTSET)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": token})
    worst = 0.0
    print("pages (best of 3, through Flask):")
    for url in ("/reports?period=year&date=2026-06-01&by=window", "/reports?period=year&date=2026-06-01&by=staff",
                "/reports/export.xlsx?period=year&date=2026-06-01&by=service",
                "/reports?period=month&date=2026-06-01&by=department", "/api/v1/reports?period=year&by=department"):
        def get(u=url):
            response = client.get(u)
            assert response.status_code == 200, response.status_code
        _, took = timed(url.replace("date=2026-06-01&", ""), get)
        if "year" in url:
            worst = max(worst, took)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=1000, help="tickets per working day (default 1000)")
    parser.add_argument("--db", help="database file (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the database file")
    args = parser.parse_args()
    config = load_config(CONFIG)
    tmp = tempfile.TemporaryDirectory()
    path = Path(args.db) if args.db else Path(tmp.name) / "year.db"
    store = Store(path)
    t0 = time.perf_counter()
    counts = generate(store, config, args.per_day)
    print(f"generated 2026 in {time.perf_counter() - t0:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    t0 = time.perf_counter()
    facts = reports.refresh_facts(store)
    print(f"first refresh of the report facts: {facts:,} records in {time.perf_counter() - t0:.1f} s (once per database)")
    _, took = timed("refresh when up to date", lambda: reports.refresh_facts(store))
    year = reports.period_for("year", date(2026, 6, 1))
    month = reports.period_for("month", date(2026, 6, 1))
    day = reports.period_for("day", date(2026, 6, 1))
    worst = 0.0
    print("report queries (best of 3):")
    for dim in ("window", "staff", "service", "department", "month"):
        _, took = timed(f"year by {dim}", lambda d=dim: reports.report(store, config, year, d))
        worst = max(worst, took)
    _, took = timed("year totals", lambda: reports.totals(store, year))
    worst = max(worst, took)
    timed("month by day", lambda: reports.report(store, config, month, "day"))
    timed("month by window", lambda: reports.report(store, config, month, "window"))
    timed("day by window", lambda: reports.report(store, config, day, "window"))
    rows = reports.report(store, config, year, "window")
    top, bottom = reports.honour_board(rows, reports.working_days(store, year))
    totals = reports.totals(store, year)
    print(f"year figures: {totals['issued']:,} tickets issued, {totals['served']:,} served, {totals['no_shows']:,} "
          f"no-shows, {totals['transfers']:,} transfers; wait mean {totals['mean_wait']} / p90 {totals['p90_wait']} "
          f"min; service mean {totals['mean_service']} min; 好评率 {totals['good_rate']:.2%}, mean score "
          f"{totals['mean_score']}, {totals['bad']} bad ratings, {totals['alerts']:,} alerts")
    print("红榜: " + ", ".join(f"{r['name']} {r['score']}" for r in top))
    print("黑榜: " + ", ".join(f"{r['name']} {r['score']}" for r in bottom))
    print(f"slowest year report query: {worst * 1000:.0f} ms ({'within' if worst < 1 else 'OVER'} the 1 s target)")
    page_worst = pages(store, config, path)
    print(f"slowest year page: {page_worst * 1000:.0f} ms")
    store.close()
    if args.keep and not args.db:
        kept = Path("var") / "bench-year.db"
        kept.parent.mkdir(exist_ok=True)
        path.replace(kept)
        print(f"kept {kept}")
    return 0 if worst < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
