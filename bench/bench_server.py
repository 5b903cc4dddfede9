"""Server benchmark: full ticket lifecycles over HTTP against a real `hallq serve` on 127.0.0.1.

    .venv/bin/python bench/bench_server.py [--tickets 800] [--kiosks 2] [--commits 300]

Starts `hallq serve` on a free loopback port with a copy of config/township.toml open
round the clock (sessions 00:00–23:59, every weekday), then runs concurrent clients: kiosks
issuing tickets (POST /tickets) while every window's clerk logs in and loops call-next → finish
→ evaluator rating (the caller daemon's token). Every request is timed. Beside it, on the same
disk and in the same run, the raw rate of durable SQLite commits (WAL, synchronous=FULL, one small
insert per transaction): each acknowledged ticket action is at least one such commit, so that is
the ceiling the server works under. Finally the server's resident memory (VmRSS) after the day.
Bounded: a fixed number of tickets, a deadline, loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hallq.config import load_config  # noqa: E402
from server.simulate.report import percentile, table  # noqa: E402

KIOSK, CALLER = "demo-qingshi-kiosk-1", "demo-qingshi-caller"


def round_the_clock(src: Path, dst: Path) -> None:
    text = src.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^sessions = .*$", 'sessions = [["00:00", "23:59"]]', text)
    text = re.sub(r"(?m)^weekdays = .*$", "weekdays = [1, 2, 3, 4, 5, 6, 7]", text)
    dst.write_text(text, encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`hallq serve` on a free loopback port with a fresh database; stopped on exit."""

    def __init__(self, config_path: Path, db: Path, repo: Path = ROOT) -> None:
        """`repo`: the checkout whose hallq to run (another one, to compare in the same run)."""
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hallq.cli", "serve", "--config", str(config_path), "--db", str(db),
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> Server:
        return self.wait_ready()

    def wait_ready(self) -> Server:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("hallq serve did not start") from None
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks (USER_HZ = 100)

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Client:
    """One keep-alive HTTP connection; records (operation, seconds) for every request."""

    def __init__(self, port: int, token: str, timings: list, timeout: float = 60) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.timings = timings

    def post(self, op: str, path: str, body: dict) -> tuple[int, dict]:
        t0 = time.perf_counter()
        self.conn.request("POST", "/api/v1" + path, json.dumps(body), self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        self.timings.append((op, time.perf_counter() - t0))
        return resp.status, json.loads(data or b"{}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sqlite_commit_rate(directory: Path, commits: int) -> float:
    """Durable commits per second: WAL, synchronous=FULL, one small insert per transaction."""
    path = directory / "commit-rate.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, ts TEXT, body TEXT)")
    t0 = time.perf_counter()
    for i in range(commits):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (ts, body) VALUES (?, ?)", (str(time.time()), f"ticket {i}"))
        conn.execute("COMMIT")
    rate = commits / (time.perf_counter() - t0)
    conn.close()
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=800, help="tickets in the busy day (default 800)")
    parser.add_argument("--kiosks", type=int, default=2, help="concurrent kiosk clients")
    parser.add_argument("--commits", type=int, default=300, help="commits for the raw SQLite rate")
    parser.add_argument("--deadline", type=float, default=300.0, help="give up after this many seconds")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hallq-bench-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    config_path = work / "township-allday.toml"
    round_the_clock(ROOT / "config" / "township.toml", config_path)
    config = load_config(config_path)
    services = sorted(config.services)
    staff = sorted(config.staff)
    server = Server(config_path, work / "hall.db")
    try:
        port = server.wait_ready().port
        rss_start = rss_kib(server.proc.pid)

        timings: list = []
        lock = threading.Lock()
        issued = [0]
        done = [0]
        stop = time.monotonic() + args.deadline
        errors: list[str] = []

        def kiosk(k: int) -> None:
            rng = random.Random(k)
            client = Client(port, KIOSK, timings)
            while time.monotonic() < stop:
                with lock:
                    if issued[0] >= args.tickets:
                        return
                    issued[0] += 1
                status, body = client.post("issue", "/tickets", {"service": rng.choice(services)})
                if status != 201:
                    errors.append(f"issue {status} {body}")

        def window(number: int, clerk: str) -> None:
            client = Client(port, CALLER, timings)
            client.post("login", f"/windows/{number}/login", {"staff": clerk})
            while time.monotonic() < stop:
                status, body = client.post("call-next", f"/windows/{number}/call-next", {})
                if status != 200:
                    errors.append(f"call-next {status} {body}")
                    return
                if not body.get("ticket"):
                    with lock:
                        if done[0] >= args.tickets:
                            return
                    time.sleep(0.005)  # nobody for this window yet: ask again, as a clerk would
                    continue
                status, body = client.post("finish", f"/windows/{number}/finish", {"outcome": "done"})
                if status != 200:
                    errors.append(f"finish {status} {body}")
                    continue
                status, body = client.post("rate", "/ratings", {"grade": 5, "channel": "evaluator", "window": number})
                if status != 201:
                    errors.append(f"rate {status} {body}")
                with lock:
                    done[0] += 1

        threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(args.kiosks)]
        threads += [threading.Thread(target=window, args=(n, staff[i % len(staff)]))
                    for i, n in enumerate(sorted(config.windows))]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        rss_end = rss_kib(server.proc.pid)
        commit_rate = sqlite_commit_rate(work, args.commits)

        ops = ["issue", "call-next", "finish", "rate", "login"]
        rows = []
        for op in ops:
            xs = [s * 1000 for o, s in timings if o == op]
            if xs:
                rows.append([op, len(xs), percentile(xs, 50), percentile(xs, 99), max(xs)])
        every = [s * 1000 for _, s in timings]
        rows.append(["all requests", len(every), percentile(every, 50), percentile(every, 99), max(every)])
        print(table(["request", "n", "p50 ms", "p99 ms", "max ms"], rows,
                    f"hallq serve on 127.0.0.1, {len(config.windows)} windows + {args.kiosks} kiosks "
                    f"concurrent, {done[0]} of {args.tickets} lifecycles (issue → call → finish → rate)"))
        print()
        print(table(["figure", "value"], [
            ["wall time (s)", elapsed],
            ["lifecycles per second", done[0] / elapsed],
            ["HTTP requests per second", len(every) / elapsed],
            ["raw durable SQLite commits per second (WAL, synchronous=FULL, same disk)", commit_rate],
            ["server RSS at start (MiB)", rss_start / 1024],
            [f"server RSS after {issued[0]} tickets (MiB)", rss_end / 1024],
            ["errors", len(errors)],
        ]))
        for e in errors[:5]:
            print("error:", e)
        print(f"\ndatabase and commit test in {work.parent} (removed afterwards)")
        return 0 if not errors and done[0] == args.tickets else 1
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
