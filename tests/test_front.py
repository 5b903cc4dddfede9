"""The HTTP front (server/front.py): streams hold no worker, bounded queues, bodies limited before reading."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from contextlib import contextmanager
from datetime import UTC

import pytest
from hallfactory import small_hall
from liveserver import wait_for

from server.app import create_app, stop_app
from server.protocol import HallProtocol
from server.serving import BackgroundServer
from server.streams import Hub

DISPLAY, KIOSK, CALLER = "t-display", "t-kiosk", "t-caller"


@contextmanager
def front(tmp_path, **options):
    app = create_app(small_hall(all_day=True), tmp_path / "hall.db", supervise=False)
    server = BackgroundServer(app, **options).start()
    try:
        yield server, app
    finally:
        server.stop()
        stop_app(app)
        app.config["ENGINE"].store.close()


def request(port: int, method: str, path: str, token: str | None = None, body: dict | None = None,
            headers: dict | None = None, timeout: float = 10.0) -> tuple[int, dict, dict]:
    """One request on its own connection: (status, headers, JSON body)."""
    data = json.dumps(body).encode() if body is not None else b""
    head = {"Host": "127.0.0.1", "Connection": "close", "Content-Length": str(len(data))}
    if body is not None:
        head["Content-Type"] = "application/json"
    if token:
        head["Authorization"] = f"Bearer {token}"
    head.update(headers or {})
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode()
                  + b"\r\n" + data)
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    top, _, payload = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, hdrs, json.loads(payload or b"{}")


class Stream:
    """A raw SSE subscriber: a socket that has sent its request and reads events as they come."""

    def __init__(self, port: int, token: str | None = DISPLAY, last_id: int | None = None,
                 cookie: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
        extra += f"Authorization: Bearer {token}\r\n" if token else ""
        extra += f"Cookie: session={cookie}\r\n" if cookie else ""
        self.sock.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
        self.buf = b""

    def status(self) -> int:
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return int(head.split()[1])

    def ids(self, until: int, timeout: float = 10.0) -> list[int]:
        """Event ids received until one >= `until` arrives."""
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout  # keep-alives every few seconds would keep recv() from timing out
        seen: list[int] = []
        while not seen or seen[-1] < until:
            assert time.monotonic() < end, f"event {until} did not arrive within {timeout} s"
            for line in self.buf.split(b"\n"):
                if line.startswith(b"id: "):
                    seen.append(int(line[4:]))
            if seen and seen[-1] >= until:
                break
            seen = []
            self.buf += self.sock.recv(65536)
        return seen

    def close(self) -> None:
        self.sock.close()


def test_a_client_that_goes_away_leaves_every_other_stream_open(tmp_path):
    """Every stream sleeps on the hub's one shared future; the stream cancelled because its client
    went away must not cancel that future, and with it every other stream (each closed board tab
    made every keypad in the hall show OFFLINE and every page read again)."""
    with front(tmp_path) as (server, app):
        port = server.port
        stays, leaves = Stream(port), Stream(port)
        try:
            assert stays.status() == 200 and leaves.status() == 200
            request(port, "POST", "/api/v1/tickets", KIOSK, {"service": "S101"})
            first = app.config["ENGINE"].store.last_event_id()
            assert stays.ids(until=first)[-1] == first and leaves.ids(until=first)[-1] == first  # both asleep
            leaves.close()
            wait_for(lambda: server.front.streams == 1, "the closed stream ended")
            request(port, "POST", "/api/v1/tickets", KIOSK, {"service": "S102"})
            got = b""
            while b"id: %d" % (first + 1) not in got:
                chunk = stays.sock.recv(65536)
                assert chunk, "the stream was closed when another client went away"
                got += chunk
        finally:
            stays.close()


def test_open_streams_hold_no_worker(tmp_path):
    """With 4 workers and 200 open streams, the hall still issues, calls and answers health — and
    every stream gets the events. (waitress gave each stream a thread: 4 streams stopped the hall.)"""
    with front(tmp_path, threads=4) as (server, app):
        port = server.port
        streams = [Stream(port) for _ in range(200)]
        try:
            assert all(s.status() == 200 for s in streams)
            t0 = time.monotonic()
            assert request(port, "GET", "/api/v1/health")[0] == 200
            assert request(port, "POST", "/api/v1/windows/1/login", CALLER, {"staff": "1001"})[0] == 200
            status, _, ticket = request(port, "POST", "/api/v1/tickets", KIOSK, {"service": "S101"})
            assert status == 201
            status, _, called = request(port, "POST", "/api/v1/windows/1/call-next", CALLER)
            assert status == 200 and called["ticket"]["code"] == ticket["code"]
            assert time.monotonic() - t0 < 5
            last = app.config["ENGINE"].store.last_event_id()
            for s in streams:
                assert s.ids(until=last)[-1] == last
        finally:
            for s in streams:
                s.close()


def test_stream_capacity_answers_503_and_polling_still_works(tmp_path):
    with front(tmp_path, max_streams=3) as (server, app):
        streams = [Stream(server.port) for _ in range(3)]
        try:
            assert [s.status() for s in streams] == [200, 200, 200]
            t0 = time.monotonic()
            status, headers, body = request(server.port, "GET", "/api/v1/events", DISPLAY)
            assert status == 503 and body["error"] == "busy" and int(headers["retry-after"]) >= 1
            assert time.monotonic() - t0 < 2
            request(server.port, "POST", "/api/v1/tickets", KIOSK, {"service": "S101"})
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                s.sendall(b"GET /api/v1/events?once=1&last_event_id=0 HTTP/1.1\r\nHost: x\r\n"
                          b"Authorization: Bearer t-display\r\nConnection: close\r\n\r\n")
                raw = b""
                while chunk := s.recv(65536):
                    raw += chunk
            assert raw.startswith(b"HTTP/1.1 200") and b"event: ticket.issued" in raw
        finally:
            for s in streams:
                s.close()


def test_a_large_body_is_refused_before_it_is_read(tmp_path):
    with front(tmp_path) as (server, app):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            t0 = time.monotonic()
            # Declares 50 MB and sends none of it: the answer comes at once, nothing is waited for.
            s.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 52428800\r\n\r\n")
            answer = _read_all(s)
            assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - t0 < 1
            assert b'"field": "body"' in answer
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            # Chunked, no length declared: cut off once past 64 KiB.
            s.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 16384
            answer = b""
            for _ in range(5):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            answer = s.recv(65536)
            assert answer.startswith(b"HTTP/1.1 413")
        assert app.config["ENGINE"].store.rows("SELECT COUNT(*) AS n FROM tickets")[0]["n"] == 0


def test_waiting_is_bounded_and_a_write_past_its_deadline_never_runs(tmp_path):
    """One worker, one queue place. While the engine is held: the worker's request waits, a write
    with a 300 ms budget waits in the queue and answers `expired`, a third request is refused at
    once; the expired write is never applied afterwards."""
    with front(tmp_path, threads=1) as (server, app):
        server.front.queue_limit = 1
        port, engine = server.port, app.config["ENGINE"]
        request(port, "POST", "/api/v1/windows/1/login", CALLER, {"staff": "1001"})
        answers: dict[str, tuple] = {}
        engine._lock.acquire()
        try:
            first = threading.Thread(target=lambda: answers.update(
                first=request(port, "POST", "/api/v1/windows/1/call-next", CALLER)))
            first.start()
            _wait(lambda: server.front.running == 1 and not server.front._waiting[True])
            second = threading.Thread(target=lambda: answers.update(second=request(
                port, "POST", "/api/v1/tickets", KIOSK, {"service": "S101"}, {"Request-Timeout-Ms": "300"})))
            second.start()
            _wait(lambda: len(server.front._waiting[True]) == 1)
            t0 = time.monotonic()
            status, headers, body = request(port, "GET", "/api/v1/queue", DISPLAY)
            assert status == 503 and body["error"] == "busy" and "retry-after" in headers
            assert time.monotonic() - t0 < 1
            second.join(5)
            status, headers, body = answers["second"]
            assert status == 503 and body["error"] == "expired" and body["field"] == "Request-Timeout-Ms"
        finally:
            engine._lock.release()
        first.join(10)
        assert answers["first"][0] == 200
        assert engine.store.rows("SELECT COUNT(*) AS n FROM tickets")[0]["n"] == 0
        assert request(port, "GET", "/api/v1/queue", DISPLAY)[0] == 200


def test_a_stream_resumes_from_the_store_and_goes_on_live(tmp_path):
    with front(tmp_path) as (server, app):
        port = server.port
        for _ in range(30):
            request(port, "POST", "/api/v1/tickets", KIOSK, {"service": "S101"})
        last = app.config["ENGINE"].store.last_event_id()
        s = Stream(port, last_id=0)  # older than anything the hub holds: read from the store
        # Past the newest event (a board kept open across a restored backup): from now on, not
        # silent until this database's ids catch up.
        ahead = Stream(port, last_id=10**12)
        try:
            assert s.status() == 200 and ahead.status() == 200
            assert s.ids(until=last) == list(range(1, last + 1))
            request(port, "POST", "/api/v1/tickets", KIOSK, {"service": "S102"})
            assert s.ids(until=last + 1)[-1] == last + 1
            assert ahead.ids(until=last + 1) == [last + 1]
        finally:
            s.close()
            ahead.close()


def test_hub_hands_out_what_a_stream_has_not_sent():
    async def run() -> None:
        hub = Hub(last_id=10, keep=3, gap=0.2)
        assert hub.since(10) == (b"", 10)
        assert hub.since(5) is None  # before the hub's time: the stream reads the store
        first = hub.changed()
        hub.publish([(11, b"a"), (12, b"b")])
        assert first.done()  # the first commit in a while wakes the streams at once
        second = hub.changed()
        hub.publish([(12, b"b"), (13, b"c")])  # an id already held is not held twice
        assert not second.done()  # the next within the gap waits for it, and goes out with any others
        await asyncio.wait_for(second, 1)
        assert hub.since(10) == (b"abc", 13) and hub.since(12) == (b"c", 13)
        hub.publish([(i, b"x") for i in range(14, 20)])
        assert len(hub.ids) <= 6 and hub.since(10) is None and hub.since(18) == (b"x", 19)

    asyncio.run(run())


def _wait(condition, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail("condition not reached")
        time.sleep(0.01)


def _read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a refusal closes it)."""
    raw = b""
    while chunk := s.recv(65536):
        raw += chunk
    return raw


def test_a_stream_ends_with_its_session_and_keeps_it_alive_meanwhile(tmp_path, monkeypatch):
    """A supervisor's board left open keeps its session (the stream's heartbeats touch it); signing
    out, here from another tab, ends the open stream too."""
    from webhall import make_app, sign_in

    import server.front

    monkeypatch.setattr(server.front, "HEARTBEAT_SECONDS", 0.2)
    app = make_app(tmp_path / "hall.db", all_day=True)
    browser = app.test_client()
    csrf = sign_in(browser, "sup")
    cookie = browser.get_cookie("session").value
    sessions = app.config["SESSIONS"]
    [sid] = [row["id"] for row in app.config["ENGINE"].store.rows("SELECT id FROM sessions")]
    server_ = BackgroundServer(app).start()
    try:
        stream = Stream(server_.port, token=None, cookie=cookie)
        assert stream.status() == 200
        seen = sessions._cache[sid].last_seen
        time.sleep(0.6)
        assert stream.sock.recv(65536).count(b"keep-alive") >= 1
        assert sessions._cache[sid].last_seen > seen
        # A busy hall: events all the time, so no heartbeat finds the stream idle; it still ends.
        busy = threading.Event()

        def issue() -> None:
            while not busy.is_set():
                request(server_.port, "POST", "/api/v1/tickets", KIOSK, {"service": "S101"})
                time.sleep(0.02)

        issuer = threading.Thread(target=issue)
        issuer.start()
        time.sleep(0.3)
        assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 302
        stream.sock.settimeout(5)
        tail = b""
        try:
            while not tail.endswith(b"0\r\n\r\n"):  # the response's last chunk (a timeout fails the test)
                tail += stream.sock.recv(65536)
        finally:
            busy.set()
            issuer.join()
        stream.close()
    finally:
        server_.stop()
        stop_app(app)


def test_events_go_out_as_stored_exactly_as_if_parsed_and_written_again(staffed):
    """The feed sends an event's stored JSON as it is when it holds nothing to hide; the message is
    the same as the one built from the parsed event, and secrets are still left out."""
    from datetime import timedelta

    from server.errors import HallqError
    from server.sse import format_event

    engine = staffed
    t = engine.issue("S101", phone="13812345678", name="张三")
    engine.call_next(1)
    engine.finish(1, "done")
    engine.rate(5, "evaluator", window=1, comment="很好 \u00e9\u4e2d")
    try:
        engine.rate(4, "qr", ticket=t.id)  # refused: the event names the ticket id, which must not go out
    except HallqError:
        pass
    engine.book("S101", engine.now() + timedelta(days=1), "13900001111")
    raw = engine.store.events_after(0, decode=False)
    parsed = engine.store.events_after(0)
    assert {ev["type"] for ev in raw} >= {"rating.refused", "appointment.booked", "ticket.issued"}
    for r, p in zip(raw, parsed, strict=True):
        assert format_event(r) == format_event(p)
        assert t.id not in format_event(r)
    booked = next(ev for ev in raw if ev["type"] == "appointment.booked")
    assert '"code"' not in format_event(booked)


def test_a_bad_deadline_header_is_a_4xx_naming_it(tmp_path):
    with front(tmp_path) as (server, app):
        for value in ("\xb9", "-5", "1e3", "9999999999"):  # '¹'.isdigit() is True in Python
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                s.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t-kiosk\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 19\r\nConnection: close\r\n"
                          b"Request-Timeout-Ms: " + value.encode("latin-1") + b"\r\n\r\n" + b'{"service": "S101"}')
                answer = _read_all(s)
            assert answer.startswith(b"HTTP/1.1 422") and b"Request-Timeout-Ms" in answer, (value, answer[:200])
        assert app.config["ENGINE"].store.rows("SELECT COUNT(*) AS n FROM tickets")[0]["n"] == 0


def test_event_feed_reads_a_burst_of_commits_in_few_reads_and_a_lone_one_at_once(tmp_path):
    """The feed thread reads a lone commit as soon as it is made, and during a burst takes every
    commit made meanwhile in one read after a short gap, instead of waking and reading once per
    commit: all events arrive, in order, each once, in far fewer batches than commits."""
    from server.store import Changes, Store
    from server.streams import Feed

    store = Store(tmp_path / "feed.db")
    batches: list[list[int]] = []
    got = threading.Condition()

    def publish(batch):
        with got:
            batches.append([event_id for event_id, _ in batch])
            got.notify_all()

    def commit(i):
        ch = Changes()
        ch.event(ts="2026-11-23T09:00:00+08:00", type="ticket.issued", actor="kiosk", data={"n": i})
        return store.commit(ch)[0]["id"]

    def seen():
        return [event_id for batch in batches for event_id in batch]

    feed = Feed(store, publish, store.last_event_id(), gap=0.05).start()
    try:
        first = commit(0)
        with got:
            assert got.wait_for(lambda: first in seen(), timeout=5)
        ids = [commit(i) for i in range(1, 51)]
        with got:
            assert got.wait_for(lambda: ids[-1] in seen(), timeout=10)
        assert seen() == [first, *ids]
        assert len(batches) <= 26  # one per commit before: every commit woke the feed for its own read
    finally:
        feed.stop()
        store.close()


class _Recording(asyncio.Transport):
    """A transport that keeps what it was asked to send, one entry per send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_an_answers_head_and_body_leave_in_one_send_and_close_sends_what_is_held_first():
    from server.protocol import OneSend

    async def scenario() -> tuple[list, list, bool]:
        raw = _Recording()
        t = OneSend(raw, asyncio.get_running_loop())
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"{}")
        assert raw.sent == []  # held until the loop turns
        await asyncio.sleep(0)
        first = list(raw.sent)
        t.write(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
        t.close()
        return first, raw.sent[1:], raw.closed

    first, then, closed = asyncio.run(scenario())
    assert first == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert then == [b"HTTP/1.1 503 Service Unavailable\r\n\r\n"] and closed


def test_json_answers_are_the_same_through_the_fast_encoder_and_its_fallback(tmp_path):
    """orjson where it can; Flask's own encoder where orjson would refuse or differ."""
    from datetime import datetime

    app = create_app(small_hall(), tmp_path / "j.db", supervise=False)
    try:
        with app.test_request_context():
            plain = {"a": 1, "b": [1.5, None, True], "c": "云溪 A023", 3: "int key"}
            answer = app.json.response(plain).get_data()
            assert json.loads(answer) == {"a": 1, "b": [1.5, None, True], "c": "云溪 A023", "3": "int key"}
            assert "云溪".encode() in answer  # UTF-8, not \u escapes
            assert json.loads(app.json.response({"big": 2**70}).get_data()) == {"big": 2**70}
            when = {"when": datetime(2026, 12, 1, 9, 30, tzinfo=UTC)}
            assert app.json.dumps(when) == '{"when": "Tue, 01 Dec 2026 09:30:00 GMT"}'  # Flask's date format kept
    finally:
        stop_app(app)


def test_over_the_connection_cap_a_new_connection_gets_json_503_with_retry_after(tmp_path):
    with front(tmp_path, max_connections=3) as (server, app):
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
        try:
            time.sleep(0.2)  # the loop has accepted them
            status, hdrs, body = request(server.port, "GET", "/api/v1/services", KIOSK)
            assert status == 503 and body["error"] == "busy" and int(hdrs["retry-after"]) >= 1
        finally:
            for s in held:
                s.close()
        deadline_ = time.monotonic() + 5
        while (status := request(server.port, "GET", "/api/v1/services", KIOSK)[0]) == 503 and time.monotonic() < deadline_:
            time.sleep(0.05)
        assert status == 200  # room again once they close


def test_a_trickled_head_or_body_is_cut_off_and_the_hall_keeps_answering(tmp_path, monkeypatch):
    from server.protocol import HallProtocol

    monkeypatch.setattr(HallProtocol, "head_seconds", 0.5)
    with front(tmp_path) as (server, app):
        server.front.body_seconds = 0.5
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as silent, \
                socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow_head, \
                socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow_body:
            slow_head.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            slow_body.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KIOSK.encode()
                              + b"\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"serv")
            t0 = time.monotonic()
            for s in (silent, slow_head):
                answer = _read_all(s)  # ends: the server closed it
                assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
            answer = _read_all(slow_body)
            assert answer.startswith(b"HTTP/1.1 408") and b'"field": "body"' in answer
            assert time.monotonic() - t0 < 4
        assert request(server.port, "GET", "/api/v1/health")[0] == 200
        assert app.config["ENGINE"].store.rows("SELECT COUNT(*) AS n FROM tickets")[0]["n"] == 0


def test_a_head_over_64_kib_is_refused_431_before_it_is_read_and_bad_http_is_json(tmp_path):
    """httptools limits no header: one endless header trickled on a few anonymous connections put
    200 MB into the hall's memory before the head timeout. The head is cut off at 64 KiB, a head
    just under it still works, requests pipelined behind a body are not miscounted, and what is
    not HTTP gets the hall's JSON 400."""
    with front(tmp_path) as (server, app):
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Endless: ")
            sent = 0
            while sent < 4 * 1024 * 1024 and not select.select([s], [], [], 0.01 if sent > 65536 else 0)[0]:
                s.sendall(b"a" * 16384)
                sent += 16384
            answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 431") and b'"field": "head"' in answer
        assert sent < 1024 * 1024  # refused at about 64 KiB, not at the head timeout
        status, _, body = request(port, "GET", "/api/v1/queue", DISPLAY, headers={"X-Big": "v" * 60000})
        assert status == 200 and "tickets" in body
        post = json.dumps({"service": "S101", "pad": "x" * 50000}).encode()
        one = (b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KIOSK.encode()
               + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(post) + post)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(one + b"GET /api/v1/queue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + DISPLAY.encode()
                      + b"\r\nX-Pad: " + b"v" * 30000 + b"\r\nConnection: close\r\n\r\n")
            answer = _read_all(s)
        assert answer.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 431" not in answer
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /\x01 HTTP/1.1\r\n\r\n")
            answer = _read_all(s)
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 400") and json.loads(rest.partition(b"\r\n\r\n")[2])["field"] == "head"
        assert request(port, "GET", "/api/v1/health")[0] == 200


def test_a_client_that_reads_nothing_of_its_answers_is_cut_off(tmp_path, monkeypatch):
    """Requests pipelined by a client that never reads: its answers pile up until the transport
    pauses writing, and uvicorn would hold that connection (a slot, megabytes) for ever. After
    `send_seconds` with nothing taken the hall lets it go."""
    monkeypatch.setattr(HallProtocol, "send_seconds", 1.0)
    with front(tmp_path) as (server, _):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", server.port))
        try:
            s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 40)

            connections = server.server.server_state.connections  # the hall's side of them
            wait_for(lambda: len(connections) == 1, "the pipelined requests being answered")
            wait_for(lambda: not connections, "the connection cut off", timeout=15)
        finally:
            s.close()
        assert request(server.port, "GET", "/api/v1/health")[0] == 200
