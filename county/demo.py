"""`hallq county demo`: a county server, three township halls and a village station on one machine,
each hall its own process and SQLite with simulated citizens (`hallq demo --no-devices` with
`[county]`: linked as `hallq serve` links a hall — shipping its event log, following catalogue
releases, referrals, cases and the 附近大厅 wait figures), each over its own link — a relay in this
process that you can cut and restore by typing `cut CODE` / `restore CODE`, to watch a hall keep
serving offline and catch up by itself.

Needs a PostgreSQL this user may create a database on (as root: bin/hallq's set-up starts one).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .link import Link

REPO = Path(__file__).resolve().parents[1]
# (code at the county, config, level at the county)
HALLS = [("QINGSHI", "township.toml", "township"), ("TAOYUAN", "township-centre.toml", "township"),
         ("LIUXI", "small-township.toml", "township"), ("SHIQIAO", "village.toml", "village")]
# The demo halls ask the county this often (seconds): what happens shows within a few seconds.
LINK_POLLS = ["--catalogue-poll", "5", "--referral-poll", "2", "--case-poll", "5", "--nearby-poll", "5"]
DEMO_USER = ("juzhang", "director-demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default="postgresql:///hallq_county_demo",
                        help="county database (dropped and made fresh each run)")
    parser.add_argument("--port", type=int, default=8090, help="the county server's port (0: one the OS gives)")
    parser.add_argument("--hall-port", type=int, default=8101,
                        help="the first hall's port (the others follow; 0: each one the OS gives)")
    parser.add_argument("--dir", default=str(REPO / "var" / "county-demo"),
                        help="where the halls' configs and SQLite files go (made fresh each run)")
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: until Ctrl-C / quit)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hallq county demo: {' '.join(proc.args[:5])} ended")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"hallq county demo: {url} did not answer")


def run(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from . import registry, users
    from .db import Database

    params = conninfo_to_dict(args.db)
    name = params.get("dbname", "hallq_county_demo")
    with psycopg.connect(make_conninfo(**{**params, "dbname": "postgres"}), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(args.db)
    db.migrate()
    users.add_user(db, DEMO_USER[0], "县政务服务局局长", "director", DEMO_USER[1])
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    if args.port == 0:
        args.port = _free_port()
    py = [sys.executable, "-m", "hallq.cli"]
    procs: list[subprocess.Popen] = []
    links: dict[str, Link] = {}
    county = subprocess.Popen([*py, "county", "serve", "--db", args.db, "--port", str(args.port)], cwd=REPO)
    procs.append(county)
    try:
        _wait(f"http://127.0.0.1:{args.port}/api/v1/health", county)
        for i, (code, config_name, level) in enumerate(HALLS):
            text = (REPO / "config" / config_name).read_text(encoding="utf-8")
            link = links[code] = Link(("127.0.0.1", args.port))
            hall_name = text.split('name = "', 1)[1].split('"', 1)[0]
            token = registry.add_hall(db, code, hall_name, level=level)
            config = work / f"{code}.toml"
            config.write_text(text + f'\n[county]\nurl = "http://127.0.0.1:{link.port}"\ntoken = "{token}"\n',
                              encoding="utf-8")
            hall_db, port = work / f"{code}.db", args.hall_port + i if args.hall_port else _free_port()
            hall = subprocess.Popen([*py, "demo", "--config", str(config), "--db", str(hall_db), "--port", str(port),
                                     "--no-devices", "--no-display", "--history-days", "0", "--speed", str(args.speed),
                                     "--per-day", "300", *LINK_POLLS], cwd=REPO, stdout=subprocess.DEVNULL)
            procs.append(hall)
            _wait(f"http://127.0.0.1:{port}/api/v1/health", hall)
            print(f"  hall {code:8} {hall_name}: http://127.0.0.1:{port}/   (link via :{link.port})", flush=True)
        base = f"http://127.0.0.1:{args.port}"
        print(f"hallq county demo: county pages {base}/county/  (sign in {DEMO_USER[0]}/{DEMO_USER[1]}); "
              f"public wait page {base}/wait", flush=True)
        print("  type: cut CODE | restore CODE | links | quit", flush=True)
        _control(links, args.duration)
    finally:
        for link in links.values():
            link.close()
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        db.close()
    print("hallq county demo: stopped.")
    return 0


def _control(links: dict[str, Link], duration: float) -> None:
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(x) for x in sys.stdin], daemon=True).start()
    deadline = time.monotonic() + duration if duration else None
    try:
        while deadline is None or time.monotonic() < deadline:
            if not lines:
                time.sleep(0.2)
                continue
            words = lines.pop(0).split()
            if not words:
                continue
            if words[0] == "quit":
                return
            if words[0] == "links":
                print("  " + "  ".join(f"{c}:{'up' if lk.up else 'CUT'}" for c, lk in links.items()), flush=True)
            elif words[0] in ("cut", "restore") and len(words) == 2 and words[1] in links:
                link = links[words[1]]
                link.cut() if words[0] == "cut" else link.restore()
                print(f"  link {words[1]}: {'cut — the hall keeps serving' if words[0] == 'cut' else 'restored — it catches up'}",
                      flush=True)
            else:
                print(f"  ? cut CODE | restore CODE | links | quit   (codes: {' '.join(links)})", flush=True)
    except KeyboardInterrupt:
        pass
