"""The server under load and under SIGKILL: no ticket called twice, no acknowledged ticket lost."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

import pytest
from liveserver import REPO, all_day_config, free_port, serve_app, start_serve

from hallq.client import ApiClient, ApiError, Unreachable
from hallq.config import load_config
from server.app import create_app

DEMO = REPO / "config" / "demo-hall.toml"
TOWNSHIP = REPO / "config" / "township.toml"


def token(config, role):
    return next(t.token for t in config.tokens if t.role == role)


def test_concurrent_call_next_calls_each_ticket_once(tmp_path):
    config = load_config(all_day_config(DEMO, tmp_path / "hall.toml"))
    app = create_app(config, tmp_path / "c.db", supervise=False)
    with serve_app(app) as base:
        kiosk, caller = ApiClient(base, token(config, "kiosk")), ApiClient(base, token(config, "caller"))
        comprehensive = [w for w in config.windows.values() if w.kind == "comprehensive"]
        services = sorted({s for w in comprehensive for s, weight in w.services.items() if weight == "primary"})
        issued = [kiosk.post("/tickets", {"service": services[i % len(services)]})["code"] for i in range(160)]
        staff = iter(config.staff)
        windows = sorted(config.windows)
        for n in windows:
            caller.window(n, "login", staff=next(staff))
        called: list[tuple[int, str]] = []
        lock = threading.Lock()
        start = threading.Barrier(len(windows))
        errors: list[BaseException] = []

        def clerk(n: int) -> None:
            me = ApiClient(base, token(config, "caller"), timeout=30)
            start.wait()
            deadline = time.monotonic() + 60
            try:
                while time.monotonic() < deadline:
                    result = me.window(n, "call-next")
                    if result["result"] == "accepted":
                        with lock:
                            called.append((n, result["ticket"]["code"]))
                        me.window(n, "finish", outcome="done")
                        continue
                    with lock:
                        if len(called) >= len(issued):
                            return
                    time.sleep(0.05)  # only backup work left for this window: let the others finish
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=clerk, args=(n,)) for n in windows]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        codes = Counter(code for _, code in called)
        assert sorted(codes) == sorted(issued)
        assert max(codes.values()) == 1
        assert len({n for n, _ in called}) > 8  # the work really was spread over many windows
        stats = ApiClient(base, token(config, "display")).get("/stats/today")
        assert stats["finished"] == len(issued) and stats["waiting"] == 0


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_ticket(tmp_path):
    config_path = all_day_config(TOWNSHIP, tmp_path / "town.toml")
    config = load_config(config_path)
    db = tmp_path / "crash.db"
    port = free_port()
    proc = start_serve(config_path, db, port)
    base = f"http://127.0.0.1:{port}"
    services = ["S101", "S102", "S201", "S301"]
    services = [s for s in services if s in config.services] or list(config.services)[:4]
    acked: dict[str, str] = {}  # id -> code
    lock = threading.Lock()
    stop = threading.Event()

    def citizen(i: int) -> None:
        kiosk = ApiClient(base, token(config, "kiosk"), timeout=5)
        n = 0
        while not stop.is_set():
            try:
                t = kiosk.post("/tickets", {"service": services[(i + n) % len(services)]})
            except (Unreachable, ApiError):
                return
            with lock:
                acked[t["id"]] = t["code"]
            n += 1

    caller = ApiClient(base, token(config, "caller"))
    first = sorted(config.windows)[0]
    caller.window(first, "login", staff=next(iter(config.staff)))
    threads = [threading.Thread(target=citizen, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    while len(acked) < 60:
        time.sleep(0.01)
    called = caller.window(first, "call-next")
    assert called["result"] == "accepted"
    time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of the stream of requests
    proc.wait()
    stop.set()
    for t in threads:
        t.join()

    proc = start_serve(config_path, db, port)
    try:
        public = ApiClient(base)
        for ticket_id, code in acked.items():
            assert public.get(f"/tickets/{ticket_id}")["code"] == code
        windows = {w["number"]: w for w in caller.get("/windows")["windows"]}
        assert windows[first]["current"]["code"] == called["ticket"]["code"]
        con = sqlite3.connect(db)
        rows = con.execute("SELECT prefix, number, code FROM tickets").fetchall()
        con.close()
        assert len({code for _, _, code in rows}) == len(rows)  # no duplicate numbers
        last = {}
        for prefix, number, _ in rows:
            last[prefix] = max(last.get(prefix, 0), number)
        kiosk = ApiClient(base, token(config, "kiosk"))
        for service in services:
            t = kiosk.post("/tickets", {"service": service})
            prefix = config.services[service].prefix
            assert t["code"] == f"{prefix}{last[prefix] + 1:03d}"
            last[prefix] += 1
    finally:
        proc.kill()
        proc.wait()


def test_behind_a_proxy_sign_in_limits_count_each_client(tmp_path):
    # Behind nginx every request comes from the proxy's address; without --trusted-proxy one
    # person's wrong passwords would lock the sign-in page for the whole hall.
    import http.cookiejar
    import re
    import urllib.parse

    config_path = all_day_config(TOWNSHIP, tmp_path / "town.toml")
    port = free_port()
    proc = start_serve(config_path, tmp_path / "proxy.db", port, "--trusted-proxy", "127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

        def sign_in(client: str, name: str) -> int:
            headers = {"X-Forwarded-For": client, "X-Forwarded-Proto": "https"}
            page = opener.open(urllib.request.Request(f"{base}/login", headers=headers)).read().decode()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            body = urllib.parse.urlencode({"username": name, "password": "wrong-password", "csrf_token": token})
            try:
                opener.open(urllib.request.Request(f"{base}/login", data=body.encode(), headers=headers))
            except urllib.error.HTTPError as exc:
                return exc.code
            return 200

        assert [sign_in("10.0.0.5", f"name{i}") for i in range(20)] == [401] * 20
        assert sign_in("10.0.0.5", "name20") == 429  # that client is locked …
        assert sign_in("10.0.0.6", "name21") == 401  # … the rest of the hall is not
    finally:
        proc.terminate()
        proc.wait(10)


def test_secure_cookies_option(tmp_path):
    config = load_config(all_day_config(TOWNSHIP, tmp_path / "town.toml"))
    plain = create_app(config, tmp_path / "a.db", supervise=False).test_client().get("/login")
    assert "Secure" not in plain.headers["Set-Cookie"]
    secure = create_app(config, tmp_path / "b.db", supervise=False, secure_cookies=True).test_client().get("/login")
    assert "; Secure" in secure.headers["Set-Cookie"]


def test_a_stopped_server_writes_the_answers_it_keeps_for_retries(tmp_path):
    """SIGTERM ends `hallq serve` cleanly: a keyed write's exact answer, kept to be written with the
    next commit, reaches its row before the process goes (a retry after the restart gets it exactly)."""
    config_path = all_day_config(TOWNSHIP, tmp_path / "town.toml")
    config = load_config(config_path)
    port, db = free_port(), tmp_path / "hall.db"
    proc = start_serve(config_path, db, port)
    try:
        kiosk = ApiClient(f"http://127.0.0.1:{port}", token(config, "kiosk"))
        kiosk.call("POST", "/tickets", {"service": sorted(config.services)[0]}, idempotency_key="stop-flush-0001")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    conn = sqlite3.connect(db)
    status, body = conn.execute("SELECT status, body FROM requests WHERE key = 'stop-flush-0001'").fetchone()
    conn.close()
    assert status == 201 and '"code"' in body
    assert proc.returncode == 0  # a clean exit, not death by the signal uvicorn raises again


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_server_cleanly(tmp_path, sig):
    config_path = all_day_config(TOWNSHIP, tmp_path / "town.toml")
    port = free_port()
    proc = start_serve(config_path, tmp_path / "hall.db", port)
    proc.send_signal(sig)
    out = proc.stdout.read().decode()
    assert proc.wait(20) == 0 and "Traceback" not in out and "hallq: stopped" in out, out


def test_port_0_prints_the_port_it_serves_on(tmp_path):
    """`hallq serve --port 0` lets the system choose: the line it prints names that port, not 0."""
    config_path = all_day_config(TOWNSHIP, tmp_path / "town.toml")
    proc = subprocess.Popen([sys.executable, "-m", "hallq.cli", "serve", "--config", str(config_path), "--db",
                             str(tmp_path / "hall.db"), "--port", "0"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while "serving" not in line:
            line = proc.stdout.readline()
            assert line, "hallq serve ended before saying where it serves"
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        assert port != 0
        deadline = time.monotonic() + 20
        while True:
            try:
                assert urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "nothing answers on the printed port"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(20)
