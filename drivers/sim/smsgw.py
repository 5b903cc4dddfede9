"""A simulated SMS gateway on real loopback sockets: a CMPP 2.0 ISMG and an HTTP SMS platform
sharing one list of the messages they received, and a page listing them (for the demo).

- CMPP: checks CMPP_CONNECT's AuthenticatorSource against the shared secret (Status 3 if wrong),
  answers SUBMIT with a Msg_Id, reassembles long messages by their UDH, sends a status report
  (CMPP_DELIVER, Registered_Delivery 1, DELIVRD) when one was asked for, answers ACTIVE_TEST, and
  can send a citizen's reply (`mo("13812345678", "TD")`).
- HTTP: POST /send with {"mobile", "content"} answers {"code": "0", "msgid": ...}.
- GET / is the page of received messages, GET /messages.json the same as JSON.
- Faults (`fault(...)`): "down" (CMPP links cut and new ones closed at once; HTTP /send 503),
  "slow" (every answer `slow_seconds` late), "reject" (SUBMIT Result 9, HTTP {"code": "1021"}),
  "silent" (CMPP reads but never answers), "ok"; `refuse_next(after=n)` answers one SUBMIT, the
  one after n more are taken, with Result 8 (flow control: a long message cut between segments).
"""

from __future__ import annotations

import html
import itertools
import json
import socket
import socketserver
import struct
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from drivers import cmpp

FAULTS = ("ok", "down", "slow", "reject", "silent")


@dataclass
class Received:
    at: str
    phone: str
    text: str
    via: str  # "cmpp" | "http"
    msg_id: str
    segments: int = 1


class SmsGatewaySim:
    def __init__(self, sp_id: str = "901234", secret: str = "demo-secret", host: str = "127.0.0.1",
                 cmpp_port: int = 0, http_port: int = 0) -> None:
        self.sp_id, self.secret = sp_id, secret
        self.messages: list[Received] = []
        self.state = "ok"
        self.slow_seconds = 3.0
        self.submits = 0
        self.connects = 0
        self.active_tests = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1_000_001)
        self._parts: dict[tuple[str, int], dict[int, bytes]] = {}
        self._refuse_in: int | None = None  # SUBMITs still to take before one is refused (refuse_next)
        self._links: list[_Link] = []
        sim = self

        class CmppHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                _Link(sim, self.request).run()

        class HttpHandler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/messages.json":
                    self._answer(200, json.dumps([asdict(m) for m in sim.received()], ensure_ascii=False),
                                 "application/json")
                elif self.path in ("/", "/index.html"):
                    self._answer(200, sim.page(), "text/html")
                else:
                    self._answer(404, "{}", "application/json")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 65536))
                if self.path != "/send":
                    return self._answer(404, "{}", "application/json")
                if sim.state == "slow":
                    time.sleep(sim.slow_seconds)
                if sim.state == "down":
                    return self._answer(503, '{"code": "503", "msg": "platform down"}', "application/json")
                try:
                    data = json.loads(raw)
                    phone, text = str(data["mobile"]), str(data["content"])
                except (ValueError, KeyError, TypeError):
                    return self._answer(400, '{"code": "400", "msg": "bad body"}', "application/json")
                if sim.state == "reject":
                    return self._answer(200, '{"code": "1021", "msg": "内容审核未通过"}', "application/json")
                msg_id = str(next(sim._ids))
                sim._record(phone, text, "http", msg_id, 1)
                self._answer(200, json.dumps({"code": "0", "msgid": msg_id}), "application/json")

            def _answer(self, status: int, body: str, kind: str) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._cmpp = socketserver.ThreadingTCPServer((host, cmpp_port), CmppHandler)
        self._cmpp.daemon_threads = True
        self._http = ThreadingHTTPServer((host, http_port), HttpHandler)
        self._http.daemon_threads = True
        self.cmpp_port = self._cmpp.server_address[1]
        self.http_port = self._http.server_address[1]
        self.host = host
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
                         for s in (self._cmpp, self._http)]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def start(self) -> SmsGatewaySim:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        for server in (self._cmpp, self._http):
            server.shutdown()
            server.server_close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def __enter__(self) -> SmsGatewaySim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ for tests and the demo

    def fault(self, state: str) -> None:
        if state not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}")
        self.state = state
        if state == "down":
            with self._lock:
                links = list(self._links)
            for link in links:
                link.close()

    def refuse_next(self, after: int = 0) -> None:
        """Take `after` more SUBMITs, then answer one with Result 8 (flow control), then go on."""
        with self._lock:
            self._refuse_in = after

    def waiting_segments(self) -> int:
        """Segments of long messages whose other segments never came (a phone shows them alone)."""
        with self._lock:
            return sum(len(p) for p in self._parts.values())

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` messages have arrived (or the timeout); returns them all."""
        end = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count and time.monotonic() < end:
                self._changed.wait(max(0.0, end - time.monotonic()))
            return list(self.messages)

    def mo(self, phone: str, text: str) -> int:
        """A citizen's message to the SP's number, sent on every open CMPP link; links reached."""
        with self._lock:
            links = list(self._links)
        content = text.encode("utf-16-be")
        d = cmpp.Deliver(next(self._ids), "10690000", phone, cmpp.UCS2, content, 0)
        for link in links:
            link.push(cmpp.Pdu(cmpp.DELIVER, link.next_seq(), d.encode_body()))
        return len(links)

    def page(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(m.at)}</td><td>{html.escape(m.phone)}</td><td>{html.escape(m.text)}</td>"
            f"<td>{m.via}</td><td>{m.segments}</td></tr>" for m in reversed(self.received()))
        return ("<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><meta http-equiv='refresh' "
                "content='3'><title>短信网关（模拟）</title><style>body{font-family:sans-serif}td,th{padding:4px 8px;"
                "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
                f"<h1>短信网关（模拟）收到的短信</h1><p>状态：{html.escape(self.state)} · 共 {len(self.messages)} 条"
                f" · CMPP 127.0.0.1:{self.cmpp_port}</p><table><tr><th>时间</th><th>手机号</th><th>内容</th>"
                f"<th>通道</th><th>分段</th></tr>{rows}</table></body></html>")

    def _record(self, phone: str, text: str, via: str, msg_id: str, segments: int) -> None:
        with self._changed:
            self.messages.append(Received(datetime.now().strftime("%H:%M:%S"), phone, text, via, msg_id, segments))
            self._changed.notify_all()

    def _submit(self, s: cmpp.Submit, msg_id: int) -> None:
        """One SUBMIT taken: a whole message is recorded, a segment waits for the others."""
        head, body = cmpp.split_udh(s.content, s.udhi)
        if head is None:
            self._record(s.dest, cmpp.decode_text(body, s.msg_fmt), "cmpp", str(msg_id), 1)
            return
        ref, total, number = head
        with self._lock:
            parts = self._parts.setdefault((s.dest, ref), {})
            parts[number] = body
            done = len(parts) == total
            if done:
                del self._parts[(s.dest, ref)]
        if done:
            text = b"".join(parts[n] for n in sorted(parts))
            self._record(s.dest, cmpp.decode_text(text, s.msg_fmt), "cmpp", str(msg_id), total)


class _Link:
    """One SP connection to the simulated ISMG."""

    def __init__(self, sim: SmsGatewaySim, sock: socket.socket) -> None:
        self.sim, self.sock = sim, sock
        self._seq = itertools.count(1)
        self._write = threading.Lock()
        self.authenticated = False

    def next_seq(self) -> int:
        return next(self._seq)

    def push(self, pdu: cmpp.Pdu) -> None:
        try:
            with self._write:
                self.sock.sendall(pdu.encode())
        except OSError:
            self.close()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def run(self) -> None:
        sim = self.sim
        if sim.state == "down":
            return self.close()
        with sim._lock:
            sim._links.append(self)
        reader = cmpp.Reader()
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return
                for pdu in reader.feed(data):
                    if sim.state == "silent":
                        continue
                    if sim.state == "slow":
                        time.sleep(sim.slow_seconds)
                    if not self._handle(pdu):
                        return
        except (OSError, cmpp.ProtocolError):
            return
        finally:
            with sim._lock:
                if self in sim._links:
                    sim._links.remove(self)
            self.close()

    def _handle(self, pdu: cmpp.Pdu) -> bool:
        sim = self.sim
        if pdu.command == cmpp.CONNECT:
            c = cmpp.parse_connect(pdu.body)
            status = 0 if c.sp_id == sim.sp_id and c.valid(sim.secret) else 3
            self.push(cmpp.connect_resp(pdu.sequence, status, c.authenticator, sim.secret))
            self.authenticated = status == 0
            sim.connects += status == 0
            return self.authenticated
        if not self.authenticated:
            return False
        if pdu.command == cmpp.ACTIVE_TEST:
            sim.active_tests += 1
            self.push(cmpp.active_test_resp(pdu.sequence))
        elif pdu.command == cmpp.TERMINATE:
            self.push(cmpp.Pdu(cmpp.TERMINATE_RESP, pdu.sequence))
            return False
        elif pdu.command == cmpp.SUBMIT:
            s = cmpp.parse_submit(pdu.body)
            sim.submits += 1
            msg_id = next(sim._ids)
            if sim.state == "reject":
                self.push(cmpp.submit_resp(pdu.sequence, 0, 9))
                return True
            with sim._lock:
                refuse = sim._refuse_in == 0
                if sim._refuse_in is not None:
                    sim._refuse_in = None if refuse else sim._refuse_in - 1
            if refuse:
                self.push(cmpp.submit_resp(pdu.sequence, 0, 8))
                return True
            self.push(cmpp.submit_resp(pdu.sequence, msg_id, 0))
            sim._submit(s, msg_id)
            if s.registered_delivery:
                stamp = datetime.now().strftime("%y%m%d%H%M")
                report = cmpp.Report(msg_id, "DELIVRD", stamp, stamp, s.dest).encode()
                d = cmpp.Deliver(next(sim._ids), s.src_id, s.dest, 0, report, 1)
                self.push(cmpp.Pdu(cmpp.DELIVER, self.next_seq(), d.encode_body()))
        elif pdu.command in (cmpp.DELIVER_RESP, cmpp.ACTIVE_TEST_RESP, cmpp.TERMINATE_RESP):
            pass
        else:
            self.push(cmpp.Pdu(pdu.command | 0x80000000, pdu.sequence, struct.pack(">B", 2)))
        return True
