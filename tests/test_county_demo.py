"""`hallq county demo` as a real process: a county on a fresh PostgreSQL database, four linked demo
halls (three townships and the village station), each its own process. Every hall is online at the
county and its events arrive; `cut CODE` on stdin stops that hall's shipping while it keeps issuing;
`restore CODE` lets it catch up; the demo ends with status 0 and leaves no process behind."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from liveserver import REPO, wait_for

from county import live
from hallq.client import ApiClient, ApiError

pytestmark = pytest.mark.slow
CODES = {"QINGSHI", "TAOYUAN", "LIUXI", "SHIQIAO"}
KIOSK = "demo-qingshi-kiosk-1"


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out] + [g for c in out for g in children(int(c))]


def test_county_demo_runs_linked_halls_and_a_cut_hall_keeps_issuing_then_catches_up(tmp_path, pg_url):
    proc = subprocess.Popen([sys.executable, "-m", "hallq.cli", "county", "demo", "--db", pg_url, "--port", "0",
                             "--hall-port", "0", "--dir", str(tmp_path), "--speed", "30", "--duration", "60"],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(x) for x in proc.stdout], daemon=True).start()
    descendants: list[int] = []
    try:
        wait_for(lambda: any("county pages" in x for x in lines) or proc.poll() is not None, "the demo up", 60)
        assert proc.poll() is None, "".join(lines)
        halls = {m[1]: int(m[2]) for x in lines if (m := re.match(r"\s+hall (\w+)\s.*http://127\.0\.0\.1:(\d+)/", x))}
        assert set(halls) == CODES, lines
        descendants = children(proc.pid)

        def county() -> dict:
            with psycopg.connect(pg_url) as conn:
                return {h["code"]: h for h in live.overview(conn)}

        def last_event(code: str) -> int:
            return ApiClient(f"http://127.0.0.1:{halls[code]}", KIOSK).get("/health")["last_event_id"]

        seen = wait_for(lambda: (c := county()) and all(h["link"] == "online" and h["high_water"] for h in c.values())
                        and c, "every hall online and shipping", 30)
        assert set(seen) == CODES
        # The demo halls follow the county as `hallq serve` halls do: the station's kiosk has 附近大厅.
        station = ApiClient(f"http://127.0.0.1:{halls['SHIQIAO']}", "demo-shiqiao-kiosk-1")
        nearby = wait_for(lambda: (n := station.get("/nearby"))["as_of"] and not n["stale"] and n, "附近大厅", 30)
        assert {h["code"] for h in nearby["halls"]} == CODES
        assert [h["name"] for h in nearby["halls"] if h["own"]] == ["石桥村便民服务站"]

        qingshi = ApiClient(f"http://127.0.0.1:{halls['QINGSHI']}", KIOSK)

        def issue() -> bool:
            try:
                qingshi.post("/tickets", {"service": "S101"})
                return True
            except ApiError:  # before the (fast) opening
                return False

        proc.stdin.write("cut QINGSHI\n")
        proc.stdin.flush()
        wait_for(lambda: any("link QINGSHI: cut" in x for x in lines), "the cut said")
        time.sleep(0.5)  # a batch in flight when the link was cut may still land
        mark = county()["QINGSHI"]["high_water"]
        wait_for(issue, "a ticket at the cut hall")
        issue()
        cut_at = last_event("QINGSHI")
        assert cut_at > mark  # the hall keeps issuing offline
        time.sleep(1.5)  # a few shipper rounds: nothing passes
        assert county()["QINGSHI"]["high_water"] == mark
        proc.stdin.write("restore QINGSHI\n")
        proc.stdin.flush()
        wait_for(lambda: county()["QINGSHI"]["high_water"] >= cut_at, "the hall caught up", 30)
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0, "".join(lines)
        assert any("hallq county demo: stopped." in x for x in lines)
        alive = [p for p in descendants if subprocess.run(["kill", "-0", str(p)], capture_output=True).returncode == 0]
        assert descendants and not alive, alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for p in descendants:
            subprocess.run(["kill", "-9", str(p)], capture_output=True)
