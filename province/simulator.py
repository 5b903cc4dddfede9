"""A simulator of a provincial 好差评 platform, for the tests and the demo: it stores records once
per id, answers counts and ids per day and hall for reconciliation, and plays the faults a real one
has — an outage (503, or the port closed), slow answers, rejections of records missing a field.

    POST /records            a record (JSON); 201 stored, 409 duplicate, 400 rejected, 503 outage
    GET  /counts?day=D       {"counts": {hall: {kind: n}}, "ids": {hall: [id, …]}}
    POST /faults             {"outage": bool, "slow_seconds": s, "require": [field, …]}
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Platform:
    def __init__(self, id_field: str = "evaluateId", hall_field: str = "deptCode", kind_field: str = "type",
                 time_field: str = "evaluateTime") -> None:
        self.id_field, self.hall_field, self.kind_field, self.time_field = id_field, hall_field, kind_field, time_field
        self.records: dict[str, dict] = {}
        self.outage, self.slow_seconds, self.require = False, 0.0, []
        self.posts = 0
        self.duplicates = 0  # posts of an id already stored: a forwarder resending what was taken
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def receive(self, body: dict) -> tuple[int, dict]:
        with self.lock:
            self.posts += 1
            if self.outage:
                return 503, {"error": "unavailable", "message": "省平台维护中"}
            missing = [f for f in self.require if body.get(f) in (None, "")]
            if missing:
                return 400, {"error": "invalid", "message": f"缺少字段 {', '.join(missing)}"}
            rid = body.get(self.id_field)
            if not rid:
                return 400, {"error": "invalid", "message": f"缺少字段 {self.id_field}"}
            if rid in self.records:
                self.duplicates += 1
                return 409, {"error": "duplicate", "message": "记录已存在"}
            self.records[rid] = body
            return 201, {"id": rid}

    def counts(self, day: str) -> dict:
        counts: dict[str, dict[str, int]] = {}
        ids: dict[str, list[str]] = {}
        with self.lock:
            for rid, r in self.records.items():
                if str(r.get(self.time_field, ""))[:10] != day:
                    continue
                hall = r.get(self.hall_field, "")
                counts.setdefault(hall, {}).setdefault(r.get(self.kind_field, ""), 0)
                counts[hall][r.get(self.kind_field, "")] += 1
                ids.setdefault(hall, []).append(rid)
        return {"counts": counts, "ids": ids}

    def start(self, port: int = 0) -> str:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._answer(400, {"error": "invalid", "message": "不是 JSON"})
                path = urllib.parse.urlsplit(self.path).path
                if path.endswith("/faults"):
                    with platform.lock:
                        platform.outage = bool(body.get("outage", platform.outage))
                        platform.slow_seconds = float(body.get("slow_seconds", platform.slow_seconds))
                        platform.require = list(body.get("require", platform.require))
                    return self._answer(200, {"ok": True})
                if platform.slow_seconds:
                    time.sleep(platform.slow_seconds)
                self._answer(*platform.receive(body))

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                self._answer(200, platform.counts(query.get("day", [""])[0]))

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="province-sim", daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
