"""Issue and call-next throughput against a real `hallq serve` on 127.0.0.1 (issue #11).

    .venv/bin/python bench/bench_issue.py [--levels 1,10,50] [--tickets 600] [--mixed 10,50] [--commits 500]

Needs wrk (Debian: `apt-get install -y wrk`). The kiosks are wrk with a Lua script (bench/wrk_issue.lua):
a C event loop that costs a few percent of one core at these rates, so on a 2-core machine the
server, not the client, is what is measured. The window clerks of the mixed run are Python threads
with keep-alive http.client; the run prints the client process's own CPU time beside the wall time,
so it is visible that it is not the bottleneck either.

The hall is a copy of config/demo-hall.toml (40 windows, 44 matters) open round the clock with
`rules.number_width = 5` (99,999 numbers per prefix a day), so no prefix can run out in a run.
The bench does not care which server runs inside `hallq serve`: it only speaks HTTP.

1. Issue: for each level (concurrent keep-alive connections) a fresh server and database, 30
   windows signed in (so every estimate has open windows and a queue to work through), then wrk
   issues `--tickets` tickets over every matter in turn into the empty hall: the queue grows from 0
   to that many, as in a morning rush. Tickets/s, p50/p99 latency, and non-201 answers.
2. Mixed: a fresh server, 10 windows signed in; wrk issues `--tickets` tickets for the matters those
   windows serve with K connections while the 10 clerks loop call-next → finish until every ticket
   is finished. p50/p99 of call-next, finish and issue.
3. Beside them, the raw durable SQLite commit rate (WAL, synchronous=FULL, one small insert per
   transaction) on the same disk in the same run (bench_server.sqlite_commit_rate): each issued
   ticket is one such commit, so that is the ceiling.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_server import Client, Server, sqlite_commit_rate  # noqa: E402

from hallq.config import load_config  # noqa: E402
from hallq.model import HallConfig  # noqa: E402
from server.simulate.report import percentile, table  # noqa: E402

KIOSK, CALLER = "demo-kiosk-1", "demo-caller"
LUA = ROOT / "bench" / "wrk_issue.lua"
ISSUE_WINDOWS, MIXED_WINDOWS = 30, 10


def bench_config(dst: Path) -> Path:
    """The demo hall open round the clock, with numbers that cannot run out in a run."""
    text = (ROOT / "config" / "demo-hall.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^sessions = .*$", 'sessions = [["00:00", "23:59"]]', text)
    text = re.sub(r"(?m)^weekdays = .*$", "weekdays = [1, 2, 3, 4, 5, 6, 7]", text)
    text = re.sub(r"(?m)^number_width = .*$", "number_width = 5", text)
    dst.write_text(text, encoding="utf-8")
    return dst


def sign_in(port: int, config: HallConfig, windows: list[int]) -> None:
    client = Client(port, CALLER, [])
    for number, staff in zip(windows, sorted(config.staff), strict=False):
        status, body = client.post("login", f"/windows/{number}/login", {"staff": staff})
        if status != 200:
            raise RuntimeError(f"login at window {number}: {status} {body}")


def wrk(port: int, connections: int, tickets: int, services: list[str], seconds: float = 120.0) -> dict:
    """Issue `tickets` tickets with `connections` keep-alive connections; wrk's own figures."""
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s", "-s", str(LUA),
         f"http://127.0.0.1:{port}", "--", str(tickets // threads), KIOSK, ",".join(services)],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("HALLQ "))
    return json.loads(line[len("HALLQ "):])


def issue_level(config_path: Path, config: HallConfig, work: Path, connections: int, tickets: int) -> list:
    with Server(config_path, work / f"issue-{connections}.db") as server:
        sign_in(server.port, config, sorted(config.windows)[:ISSUE_WINDOWS])
        cpu0 = server.cpu_seconds()
        r = wrk(server.port, connections, tickets, sorted(config.services))
        cpu = server.cpu_seconds() - cpu0
    rate = r["requests"] / r["seconds"]
    return [connections, r["requests"], rate, r["p50_us"] / 1000, r["p99_us"] / 1000, r["max_us"] / 1000,
            cpu * 1000 / max(r["requests"], 1), r["bad"]]


def mixed(config_path: Path, config: HallConfig, work: Path, connections: int, tickets: int) -> tuple[list, dict]:
    windows = sorted(config.windows)[:MIXED_WINDOWS]
    services = sorted({s for n in windows for s, weight in config.windows[n].services.items() if weight != "backup"})
    timings: list = []
    errors: list[str] = []
    with Server(config_path, work / f"mixed-{connections}.db") as server:
        sign_in(server.port, config, windows)
        finished = [0]
        lock = threading.Lock()
        issuing_done = threading.Event()
        stop = time.monotonic() + 300

        def clerk(number: int) -> None:
            client = Client(server.port, CALLER, timings)
            while time.monotonic() < stop:
                status, body = client.post("call-next", f"/windows/{number}/call-next", {})
                if status != 200:
                    errors.append(f"call-next {status} {body}")
                    return
                if not body.get("ticket"):
                    if issuing_done.is_set():
                        return
                    time.sleep(0.002)  # nobody for this window yet: ask again, as a clerk would
                    continue
                status, body = client.post("finish", f"/windows/{number}/finish", {"outcome": "done"})
                if status != 200:
                    errors.append(f"finish {status} {body}")
                with lock:
                    finished[0] += 1

        clerks = [threading.Thread(target=clerk, args=(n,)) for n in windows]
        cpu0, own0, t0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
        for t in clerks:
            t.start()
        r = wrk(server.port, connections, tickets, services)
        issuing_done.set()
        for t in clerks:
            t.join()
        elapsed = time.perf_counter() - t0
        cpu, own = server.cpu_seconds() - cpu0, time.process_time() - own0
    rows = []
    for op in ("call-next", "finish"):
        xs = [s * 1000 for o, s in timings if o == op]
        rows.append([f"{op} ({MIXED_WINDOWS} clerks)", len(xs), percentile(xs, 50), percentile(xs, 99), max(xs)])
    rows.append([f"issue ({connections} kiosk connections)", r["requests"], r["p50_us"] / 1000, r["p99_us"] / 1000,
                 r["max_us"] / 1000])
    figures = {"wall s": elapsed, "issued": r["requests"], "finished": finished[0], "issued/s": r["requests"] / r["seconds"],
               "finished/s": finished[0] / elapsed, "server CPU s": cpu, "client CPU s (Python clerks)": own,
               "errors": len(errors) + r["bad"]}
    for e in errors[:3]:
        print("error:", e)
    return rows, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,10,50", help="concurrent issuing connections (default 1,10,50)")
    parser.add_argument("--tickets", type=int, default=600, help="tickets issued per run (default 600)")
    parser.add_argument("--mixed", default="10,50", help="kiosk connections beside the 10 clerks ('' to skip)")
    parser.add_argument("--commits", type=int, default=500, help="commits for the raw SQLite rate")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_issue needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hallq-bench-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    try:
        config_path = bench_config(work / "demo-allday.toml")
        config = load_config(config_path)
        commit_rate = sqlite_commit_rate(work, args.commits)
        rows = [issue_level(config_path, config, work, int(c), args.tickets) for c in args.levels.split(",")]
        (work / "again").mkdir()
        commit_rate = (commit_rate + sqlite_commit_rate(work / "again", args.commits)) / 2  # before and after
        for row in rows:
            row.insert(3, 100 * row[2] / commit_rate)
        print(table(["connections", "issued", "tickets/s", "% of raw", "p50 ms", "p99 ms", "max ms", "server CPU ms/ticket",
                     "non-201"], rows,
                    f"POST /tickets into an empty {config.name} ({ISSUE_WINDOWS} windows signed in), "
                    f"{args.tickets} tickets per run, wrk keep-alive"))
        print()
        print(table(["figure", "value"], [
            ["raw durable SQLite commits/s (WAL, synchronous=FULL, same disk, mean of before and after)",
             commit_rate]]))
        status = 0 if all(r[-1] == 0 for r in rows) else 1
        for k in (int(c) for c in args.mixed.split(",") if c):
            print()
            mrows, figures = mixed(config_path, config, work, k, args.tickets)
            print(table(["request", "n", "p50 ms", "p99 ms", "max ms"], mrows,
                        f"{MIXED_WINDOWS} clerks loop call-next → finish while {k} kiosk connections issue "
                        f"{args.tickets} tickets"))
            print("  " + ", ".join(f"{name} {value:.1f}" if isinstance(value, float) else f"{name} {value}"
                                   for name, value in figures.items()))
            status |= 1 if figures["errors"] or figures["finished"] < figures["issued"] else 0
        return status
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
