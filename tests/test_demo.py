"""`hallq demo`: a month of history played through the engine, and a live hall that builds a queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path

from liveserver import free_port

from hallq.config import load_config
from hallq.demo_history import seed_history, working_days_before
from server import reports
from server.store import Store

REPO = Path(__file__).resolve().parents[1]
TOWNSHIP = REPO / "config" / "township.toml"


def test_history_gives_reports_trends_honour_board_cases_and_deadlines(tmp_path):
    config = load_config(TOWNSHIP)
    today = date(2026, 11, 27)  # a Friday: the 10 days before (Tue 17 – Thu 26) hold 8 working days
    db = tmp_path / "history.db"
    history = seed_history(config, db, today, calendar_days=10, per_day=150, seed=3)
    assert history.days == [d.isoformat() for d in working_days_before(today, 10, config.hours.weekdays)]
    assert len(history.days) == 8
    store = Store(db)
    try:
        by_day = reports.report(store, config, reports.period_for("month", today - timedelta(days=1)), "day")
        assert len([r for r in by_day if r["served"] > 0]) >= 5  # a trend across the days of the month
        by_window = reports.report(store, config, reports.period_for("month", today - timedelta(days=1)), "window")
        red, black = reports.honour_board(by_window, reports.working_days(store, reports.period_for("month", today)))
        assert red and black  # 红黑榜: windows with 20+ services
        assert sum(r["ratings"] for r in by_window) > 0 and sum(r["alerts"] for r in by_window) >= 0
        # Only the engine wrote: every ticket has its issue event, none is left open, the numbers add up.
        tickets = store.rows("SELECT COUNT(*) AS n FROM tickets")[0]["n"]
        issued = store.rows("SELECT COUNT(*) AS n FROM events WHERE type = 'ticket.issued'")[0]["n"]
        assert tickets == issued == history.figures.tickets
        assert store.rows("SELECT COUNT(*) AS n FROM tickets WHERE state IN ('waiting', 'called', 'serving')")[0]["n"] == 0
        ratings = store.rows("SELECT COUNT(*) AS n FROM ratings")[0]["n"]
        assert ratings == history.figures.ratings > 0
        refused = store.rows("SELECT data FROM events WHERE type = 'rating.refused'")
        assert sum(json.loads(r["data"])["reason"] == "next_called" for r in refused) == history.summary()[
            "ratings_refused_next_called"]
        # The ledger was worked: older cases closed with the citizen's answer, the last day's still open.
        cases = store.rows("SELECT * FROM cases")
        assert cases and all(c["callback_answer"] for c in cases if c["state"] != "open")
        assert {c["state"] for c in cases} & {"closed", "rectified", "explained", "appealed"}
        delivered = store.rows("SELECT COUNT(*) AS n FROM commitments WHERE state != 'open'")[0]["n"]
        assert delivered > 0
        assert store.rows("SELECT COUNT(*) AS n FROM alerts")[0]["n"] > 0
    finally:
        store.close()


def test_the_demo_builds_a_queue_with_estimates_in_its_first_minute(tmp_path):
    """At the default speed the door crowd comes in with the opening: within a minute of the start
    people wait and the kiosk menu shows non-zero estimates."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    proc = subprocess.Popen([sys.executable, "-m", "hallq.cli", "demo", "--no-devices", "--no-display",
                             "--history-days", "0", "--port", str(port), "--db", str(tmp_path / "demo.db")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.monotonic()
    headers = {"Authorization": "Bearer demo-display"}
    try:
        seen = []
        while time.monotonic() - started < 60:
            assert proc.poll() is None, proc.stdout.read()
            try:
                queue = _get(port, "/api/v1/queue", headers)
                menu = _get(port, "/api/v1/services", headers)
            except OSError:
                time.sleep(0.5)
                continue
            waiting = sum(queue["waiting_by_service"].values())
            estimates = [s.get("estimated_wait_minutes") or 0 for s in menu["services"]]
            seen.append((round(time.monotonic() - started), waiting, max(estimates)))
            health = _get(port, "/api/v1/health", headers)
            opened = datetime.fromisoformat(health["time"]).time() >= datetime.strptime("08:30", "%H:%M").time()
            if opened and waiting >= 5 and max(estimates) > 0:
                break
            time.sleep(1)
        else:
            raise AssertionError(f"no queue within the demo's first minute: {seen}")
        # Some came with their ID card (身份证取号): the number is stored masked, never whole.
        import sqlite3

        conn = sqlite3.connect(f"file:{tmp_path / 'demo.db'}?mode=ro", uri=True)
        rows = conn.execute("SELECT id_number, name FROM tickets WHERE id_number IS NOT NULL").fetchall()
        conn.close()
        assert rows and all(number.count("*") == 10 and name for number, name in rows), rows
        # SMS traffic: the simulated gateway's page, whose address the demo prints, lists what it received.
        sms_url = next(line.split("messages it received:")[1].strip().rstrip("/") for line in proc.stdout
                       if "messages it received:" in line)
        received = []
        while not received and time.monotonic() - started < 90:
            received = [m for m in _get_url(f"{sms_url}/messages.json") if m["via"] == "cmpp" and "号" in m["text"]]
            time.sleep(0.5)
        assert received, "the simulated SMS gateway received nothing"
        with urllib.request.urlopen(f"{sms_url}/", timeout=5) as r:
            page = r.read().decode()
        assert received[0]["text"] in page and received[0]["phone"] in page
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get_url(url: str) -> list | dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def _get(port: int, path: str, headers: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)
