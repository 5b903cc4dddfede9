"""The hall's outbound links (provincial platform forwarder, county shipper, county followers)
against a misbehaving peer on 127.0.0.1, as a flaky 政务外网 treats them: an answer trickled one
byte at a time, redirects, a portal's page in place of the platform's answer, tokens refused, an
answer of the wrong shape, a peer down for a while and back."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from liveserver import wait_for
from webhall import make_app, serve_one

from province import forwarder as fw
from province import reconcile
from province.forwarder import Forwarder
from province.mapping import load
from server import county_poller, referrals, shipper
from server.case_follower import CaseFollower
from server.county_link import ALERT_SOURCE as LINK_ALERT
from server.county_link import LinkWatch
from server.county_poller import CountyPoller
from server.referral_follower import ReferralFollower
from server.shipper import Shipper


class Peer:
    """A raw HTTP peer: each request is recorded and answered by `self.answer(request)`, which
    returns the bytes to send, or "trickle" (a status line, then one byte every 0.1 s, never done)."""

    def __init__(self, answer) -> None:
        self.answer, self.requests = answer, []
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while not self.stopping.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
                length = int(headers.get("content-length", 0))
                while len(buf) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                request = {"line": lines[0], "headers": headers, "body": body}
                self.requests.append(request)
                out = self.answer(request)
                try:
                    if out == "trickle":
                        conn.sendall(b"HTTP/1.1 200 OK\r\n")
                        while not self.stopping.wait(0.1):
                            conn.sendall(b"X")
                        return
                    conn.sendall(out)
                except OSError:
                    return

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def http(status: int, body: bytes | dict = b"", headers: str = "") -> bytes:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    ctype = "application/json" if isinstance(body, dict) else "text/html"
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(raw)}\r\n{headers}"
            "Connection: close\r\n\r\n").encode() + raw


STUCK: list[threading.Thread] = []  # calls still held by a peer: joined once the peer is closed


def bounded(fn, seconds: float):
    """fn()'s result or the exception it raised; fails if it has not returned within `seconds`."""
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        STUCK.append(t)
    assert not t.is_alive(), f"still waiting on the peer after {seconds} s"
    return out.get("error", out.get("value"))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    """A hall's database with 2 ratings and 2 差评 case steps in its log."""
    path = tmp_path_factory.mktemp("peer") / "hall.db"
    app = make_app(path)
    engine = app.config["ENGINE"]
    serve_one(engine)
    engine.rate(2, "evaluator", window=1, reason="attitude")
    serve_one(engine)
    engine.rate(5, "evaluator", window=1)
    app.config["CASES"].act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    yield path, engine.config.code, app
    engine.store.close()


class Ping(CountyPoller):
    name = "ping"

    def step(self) -> None:
        self.call("GET", "/ping")


def test_a_peer_trickling_its_answer_is_a_failed_attempt_on_every_link(hall, tmp_path, monkeypatch):
    """http.client's timeout is per read: a peer sending a byte every 0.1 s never trips it. Each
    link has a deadline for the whole request and carries on."""
    monkeypatch.setattr(fw, "TIMEOUT", 0.5)
    monkeypatch.setattr(shipper, "REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr(county_poller, "REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr(reconcile, "TIMEOUT", 0.5)
    db, code, _ = hall
    peer = Peer(lambda r: "trickle")
    f = Forwarder(db, tmp_path / "outbox.db", peer.url, code, load(None), clock=Clock())
    try:
        f.collect()
        assert bounded(f.send_due, 5) == {"sent": 0, "rejected": 0, "retry": 1}
        assert "within 0.5 s" in f.error
        assert isinstance(bounded(Shipper(db, peer.url, "tok").step, 5), TimeoutError)
        assert isinstance(bounded(lambda: Ping(None, peer.url, "tok").call("GET", "/ping"), 5), TimeoutError)
        err = bounded(lambda: reconcile.platform_side(peer.url, "2026-12-01"), 5)
        assert isinstance(err, reconcile.PlatformAnswer) and "within 0.5 s" in str(err), err
    finally:
        peer.close()
        while STUCK:
            STUCK.pop().join(10)
        f.close()


def test_the_forwarder_retries_what_is_about_the_link_and_only_rejects_what_names_the_record(hall, tmp_path):
    """A redirect (a portal), a refused token, a proxy's page under 200, a garbled answer are not the
    platform refusing a record: retried, not rejected for good nor counted as sent; 202 is taken. One
    failed attempt is not an outage; three in a row are."""
    db, code, _ = hall
    answers = [http(302, headers="Location: http://127.0.0.1:9/login\r\n"), http(401, {"error": "token"}),
               http(200, b"<html>\xe8\xaf\xb7\xe7\x99\xbb\xe5\xbd\x95</html>"),
               b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]  # a garbled chunk size
    taken: set[str] = set()

    def answer(r):
        if answers:
            return answers.pop(0)
        rid = json.loads(r["body"])["evaluateId"]
        if rid == first:
            return http(400, {"error": "invalid", "message": "缺少字段 raterId"})
        taken.add(rid)
        return http(202, {})

    peer = Peer(answer)
    clock = Clock()
    f = Forwarder(db, tmp_path / "outbox.db", peer.url, code, load(None), clock=clock)
    try:
        f.collect()
        first = f.out.execute("SELECT id FROM records ORDER BY event_id LIMIT 1").fetchone()[0]
        for n in range(4):
            assert f.send_due() == {"sent": 0, "rejected": 0, "retry": 1}, n
            assert f.state == ("offline" if n >= 2 else "starting"), (n, f.state)
            assert ("not JSON" in f.error) == (n == 2), f.error
            clock.t += 10_000
        got = f.step()
        assert (got["sent"], got["rejected"], got["retry"]) == (3, 1, 0)  # the refused one does not hold the rest
        assert f.state == "forwarding" and len(taken) == 3
        [rejected] = f.rejected()
        assert rejected["id"] == first and rejected["reason"] == "缺少字段 raterId"
    finally:
        peer.close()
        f.close()


def test_the_shipper_outlives_an_answer_of_the_wrong_shape_and_ships_once_the_county_is_back(hall, monkeypatch):
    monkeypatch.setattr(shipper, "FIRST_BACKOFF", 0.05)
    db, _, _ = hall
    got: dict[int, dict] = {}
    bad = [2]

    def county(r):
        if r["line"].startswith("GET"):
            if bad[0]:
                bad[0] -= 1
                return http(200, {"high_water": None})
            return http(200, {"high_water": max(got, default=0)})
        events = json.loads(r["body"])["events"]
        got.update({e["id"]: e for e in events})
        return http(200, {"high_water": max(got), "applied": len(events)})

    peer = Peer(county)
    s = Shipper(db, peer.url, "tok", idle=0.05).start()
    try:
        wait_for(lambda: s.state == "caught_up" and got, "the events shipped after two answers of the wrong shape", 5)
        assert sorted(got) == list(range(1, max(got) + 1))  # each once, in order
        assert bad == [0] and s.error is None
    finally:
        s.stop()
        peer.close()


def test_a_follower_follows_no_redirect_and_backs_off_while_the_county_is_down():
    """A redirect (a captive portal of the network) is not followed, so the hall's token is not sent
    to wherever it points; a county answering 503 is asked less and less often, and the follower
    follows again once it answers."""
    elsewhere = Peer(lambda r: http(200, {"steps": []}))
    portal = Peer(lambda r: http(302, headers=f"Location: {elsewhere.url}/steal\r\n"))
    down = [True]
    county = Peer(lambda r: http(503, {"error": "unavailable"}) if down[0] else http(200, {}))
    follower = Ping(None, county.url, "tok", poll=0.02)
    try:
        err = bounded(lambda: CaseFollower(None, portal.url, "tok").call("GET", "/cases/steps?after=0"), 5)
        assert isinstance(err, OSError) and "302" in str(err), err
        # A connection made for one call says so: neither the county nor a relay keeps it idle (a
        # relay waiting for the county to close it held every follower's call 15 s, the deadline).
        assert portal.requests[-1]["headers"].get("connection") == "close"
        err = bounded(Shipper("unused.db", portal.url, "tok").step, 5)  # the shipper's state: offline, not refused
        assert type(err) is OSError and "302" in str(err), err
        err = bounded(lambda: reconcile.platform_side(portal.url, "2026-12-01", "tok"), 5)  # a reconciliation too
        assert isinstance(err, reconcile.PlatformAnswer) and "302" in str(err), err
        assert elsewhere.requests == []
        follower.start()
        time.sleep(1.5)
        assert follower.state == "offline" and "503" in follower.error
        assert len(county.requests) <= 20, len(county.requests)  # every 0.02 s would be ~75
        down[0] = False
        wait_for(lambda: follower.state == "following", "following once the county answers", 5)
    finally:
        follower.stop()
        for p in (elsewhere, portal, county):
            p.close()


def test_a_referral_the_county_refuses_for_good_does_not_hold_up_the_others_and_the_clerk_sees_why(hall):
    _, _, app = hall
    engine = app.config["ENGINE"]
    for rid in ("refused-1", "taken-2"):
        engine.record_referral({"direction": "out", "from_hall": "", "id": rid, "to_hall": None, "matter": "S101",
                                "phone": "13800000000", "id_number": "110101199001011234", "sms": 0, "materials": [],
                                "state": "pending", "appointment": None, "slot_start": None, "reason": None,
                                "created_at": engine.now().isoformat(), "synced": None}, "referral.sent", "clerk")

    def county(r):
        if r["line"].startswith("GET"):
            return http(200, {"referrals": []})
        if json.loads(r["body"])["id"] == "refused-1":
            return http(422, {"error": "invalid", "message": "materials[0].name: too long", "field": "materials"})
        return http(201, {"id": "taken-2", "to_hall": "T1", "state": "pending"})

    peer = Peer(county)
    try:
        bounded(ReferralFollower(app, peer.url, "tok").step, 5)
        got = {r["id"]: r for r in referrals.rows(engine, "direction = 'out'")}
        assert got["taken-2"]["synced"] == "pending" and got["taken-2"]["to_hall"] == "T1"
        refused = got["refused-1"]
        assert refused["state"] == "refused" and refused["reason"] == "县级平台拒收：materials[0].name: too long"
        assert refused["id_number"] != "110101199001011234"  # kept masked only, as a sent one
        assert [r["line"] for r in peer.requests].count("GET /api/v1/referrals/incoming HTTP/1.1") == 1
    finally:
        peer.close()


def test_a_follower_down_while_shipping_goes_on_is_one_alert_cleared_once_it_follows_again(hall):
    db, _, app = hall
    board = app.config["ALERTS"]
    got: set[int] = set()
    down = [True]

    def county(r):
        if "/ping" in r["line"]:
            return http(503, {"error": "unavailable"}) if down[0] else http(200, {})
        if r["line"].startswith("GET"):
            return http(200, {"high_water": max(got, default=0)})
        events = json.loads(r["body"])["events"]
        got.update(e["id"] for e in events)
        return http(200, {"high_water": max(got), "applied": len(events)})

    def alerts():
        return [a for a in board.active() if a["source"] == LINK_ALERT]

    peer = Peer(county)
    follower = Ping(app, peer.url, "tok", poll=0.05).start()
    watch = LinkWatch(app, 0.3, followers=[follower])
    s = Shipper(db, peer.url, "tok", idle=0.05, on_round=watch.observe).start()
    try:
        [alert] = wait_for(alerts, "the alert of a follower down while the log ships", 5)
        assert "ping同步中断" in alert["message"] and "503" in alert["message"], alert["message"]
        assert s.state == "caught_up"
        down[0] = False
        wait_for(lambda: not alerts(), "the alert cleared", 5)
    finally:
        s.stop()
        follower.stop()
        peer.close()
