"""Event-stream benchmark: 0, 100 and 1,000 open `/api/v1/events` subscribers on one `hallq serve`,
while a kiosk issues tickets and windows call them.

    .venv/bin/python bench/bench_streams.py [--subscribers 0,100,1000] [--actions 200] [--rate 10]
    .venv/bin/python bench/bench_streams.py --repo /path/to/other/checkout   # the same against another hallq

For each count: a separate subscriber process (asyncio, one socket per stream) opens the streams and
notes when every event id arrives; then a kiosk issues `--actions` tickets at `--rate` per second and
one window per ticket line calls them (call-next) — every request timed. Fan-out latency is the time
from the event's own timestamp (taken by the engine before its commit, so it includes the commit) to
its arrival at each subscriber: every subscriber × every event. Loopback only; the subscribers share
the machine's two cores with the server, as displays on a hall PC would not.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_server import Server, round_the_clock  # noqa: E402

from server.simulate.report import percentile, table  # noqa: E402

KIOSK, CALLER, DISPLAY = "demo-qingshi-kiosk-1", "demo-qingshi-caller", "demo-qingshi-display"


# -- the subscriber process ----------------------------------------------------------------------

async def _subscribe(port: int, count: int, arrivals: dict[int, list[float]], ready: asyncio.Event,
                     connected: list[int]) -> None:
    async def one() -> None:
        for attempt in range(50):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DISPLAY}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 200"):
                break
            writer.close()
            await asyncio.sleep(0.2 + attempt * 0.1)  # refused (503 while many connect): as a client would
        else:
            return
        connected[0] += 1
        if connected[0] == count:
            ready.set()
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"id: "):
                arrivals.setdefault(int(line[4:]), []).append(time.time())

    await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)


def subscriber_main(port: int, count: int) -> None:
    """Open `count` streams, print READY, collect arrivals until stdin closes, print them as JSON."""
    arrivals: dict[int, list[float]] = {}

    async def run() -> None:
        ready, connected = asyncio.Event(), [0]
        task = asyncio.ensure_future(_subscribe(port, count, arrivals, ready, connected))
        try:
            await asyncio.wait_for(ready.wait(), 60)
        except TimeoutError:  # a server that cannot hold them all: measure with those that got through
            print(f"subscribers: {connected[0]} of {count} streams connected within 60 s", file=sys.stderr)
        print(f"READY {connected[0]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        task.cancel()

    asyncio.run(run())
    print(json.dumps(arrivals), flush=True)


# -- the load --------------------------------------------------------------------------------

def post(conn: http.client.HTTPConnection, token: str, path: str, body: dict) -> tuple[int, dict, float]:
    """One request; a timeout or a dropped connection is status 0 (and the connection is renewed)."""
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/api/v1" + path, json.dumps(body),
                     {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
        return resp.status, data, time.perf_counter() - t0
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return 0, {"error": type(exc).__name__}, time.perf_counter() - t0


def run_load(port: int, windows: dict[int, str], services: list[str], actions: int, rate: float) -> dict:
    timings: dict[str, list[float]] = {"issue": [], "call-next": []}
    errors: list[str] = []
    lock = threading.Lock()
    caller = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for number, staff in windows.items():
        post(caller, CALLER, f"/windows/{number}/login", {"staff": staff})
    issued = threading.Event()

    def kiosk() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        start = time.perf_counter()
        for i in range(actions):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            status, body, took = post(conn, KIOSK, "/tickets", {"service": services[i % len(services)]})
            with lock:
                timings["issue"].append(took)
                if status != 201:
                    errors.append(f"issue {status} {body}")
        issued.set()

    def window(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            status, body, took = post(conn, CALLER, f"/windows/{number}/call-next", {})
            if status == 200 and body.get("ticket"):
                with lock:
                    timings["call-next"].append(took)
                post(conn, CALLER, f"/windows/{number}/finish", {"outcome": "done"})
                continue
            if status != 200:
                with lock:
                    errors.append(f"call-next {status} {body}")
            if issued.is_set():
                return
            time.sleep(1.0 / rate)

    threads = [threading.Thread(target=kiosk)] + [threading.Thread(target=window, args=(n,)) for n in windows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"timings": timings, "errors": errors}


def event_times(port: int, after: int) -> dict[int, float]:
    """Each event's own timestamp (the engine's, before its commit), from the polling form of the stream."""
    out: dict[int, float] = {}
    last = after
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/api/v1/events?once=1&last_event_id={last}", headers={"Authorization": f"Bearer {DISPLAY}"})
        text = conn.getresponse().read().decode()
        got = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
        if not got:
            return out
        for ev in got:
            out[ev["id"]] = datetime.fromisoformat(ev["ts"]).timestamp()
        last = got[-1]["id"]


def measure(port: int, count: int, windows: dict[int, str], services: list[str], actions: int, rate: float) -> list:
    sub = None
    if count:
        sub = subprocess.Popen([sys.executable, __file__, "--subscriber", str(port), str(count)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        connected = int(sub.stdout.readline().split()[1])
        if connected < count:
            print(f"only {connected} of {count} streams were accepted", file=sys.stderr)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/api/v1/health")
    before = json.loads(conn.getresponse().read())["last_event_id"]
    load = run_load(port, windows, services, actions, rate)
    fanout: list[float] = []
    if sub is not None:
        time.sleep(1.0)  # the last events reach everyone
        out, _ = sub.communicate("", timeout=120)
        arrivals = {int(k): v for k, v in json.loads(out.splitlines()[-1]).items()}
        stamps = event_times(port, before)
        for event_id, ts in stamps.items():
            got = arrivals.get(event_id, [])
            fanout += [(t - ts) * 1000 for t in got]
            fanout += [float("inf")] * (count - len(got))  # never arrived
    rows = []
    for op in ("issue", "call-next"):
        xs = [s * 1000 for s in load["timings"][op]]
        rows.append([count, op, len(xs), percentile(xs, 50), percentile(xs, 99), max(xs)])
    if fanout:
        finite = [x for x in fanout if x != float("inf")]
        rows.append([count, "event fan-out", len(fanout), percentile(fanout, 50), percentile(fanout, 99),
                     max(finite) if finite else float("inf")])
    if load["errors"]:
        rows.append([count, f"errors: {len(load['errors'])}", 0, 0, 0, 0])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="0,100,1000")
    parser.add_argument("--actions", type=int, default=200, help="tickets issued (and called) per count")
    parser.add_argument("--rate", type=float, default=10.0, help="tickets per second from the kiosk")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose `hallq serve` to measure")
    parser.add_argument("--subscriber", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber_main(*args.subscriber)
        return 0

    from hallq.config import load_config

    with tempfile.TemporaryDirectory(prefix="hallq-streams-") as tmp:
        work = Path(tmp)
        config_path = work / "township-allday.toml"
        round_the_clock(ROOT / "config" / "township.toml", config_path)
        config = load_config(config_path)
        staff = sorted(config.staff)
        windows = {n: staff[i] for i, n in enumerate(sorted(config.windows)) if i < len(staff)}
        services = sorted(config.services)
        with Server(config_path, work / "hall.db", repo=args.repo) as server:
            rows = []
            for count in (int(c) for c in args.subscribers.split(",")):
                rows += measure(server.port, count, windows, services, args.actions, args.rate)
            print(table(["subscribers", "what", "n", "p50 ms", "p99 ms", "max ms"], rows,
                        f"hallq serve ({args.repo}) on 127.0.0.1: {args.actions} tickets at {args.rate:g}/s issued "
                        f"and called by {len(windows)} windows, with N open event streams"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
