"""The hall's HTTP front: an asyncio (ASGI) server that holds the event streams itself and runs the
Flask app in a small, bounded pool of worker threads.

Why not a plain WSGI server: every open event stream (boards, clerk pages, displays, caller
daemons) held one of waitress's threads, so about 65 screens stopped the whole hall. Here a stream
is a coroutine fed by one shared reader (server/streams.py); threads are only for requests.

What the front guarantees before a request reaches Flask:
- **Bodies are limited before they are read**: a declared Content-Length over the limit is refused
  at once (413, connection closed, nothing read); a chunked body is counted as it arrives and cut
  off at the limit. The limit is 64 KiB but for a display picture's upload (server/body_limits.py),
  whose body is read only after the app said, to the request without it, that this caller may
  upload (the gate: an admin with the page's CSRF token); any other answer is sent unread. Nothing is spooled to disk; a body is fully in memory before a worker sees it,
  and the answer is fully built before it is sent, so a slow client never holds a worker.
- **No unbounded queue**: at most `workers` requests run; at most `queue` more wait (writes ahead of
  reads); beyond that, or past a request's deadline while waiting, a fast 503 with Retry-After.
- **Deadlines**: the client's `Request-Timeout-Ms` becomes a point on the server's monotonic clock
  when the request head arrives, passed to the app as environ["hallq.deadline"]; a write still
  waiting here when it passes is answered `expired` and never run.
- `/api/v1/health` is answered from memory on the loop, never queued behind anything.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from flask import Flask

from . import body_limits, deadline
from .app import API, MAX_BODY_BYTES
from .errors import HallqError
from .health import health_view
from .protocol import SEND_SECONDS
from .storage_faults import StorageError
from .streams import Feed, Hub, encode

log = logging.getLogger(__name__)

EVENTS_PATH = API + "/events"
HEALTH_PATH = API + "/health"
READ_QUEUE_SECONDS = 10.0  # a read waits for a worker no longer than this
HEARTBEAT_SECONDS = 5.0  # also how often a stream checks that its session still holds
SEND_TIMEOUT_SECONDS = SEND_SECONDS  # a stream whose client reads nothing for this long is closed
BODY_SECONDS = 10.0  # a body (at most 64 KiB) must arrive within this: no trickled uploads
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STREAM_FROM = "x-hallq-stream-from"  # the Flask view's go-ahead for a stream, with its start id
STREAM_SESSION = "x-hallq-session"


class _Refused(Exception):
    def __init__(self, status: int, body: dict, retry_after: float | None = None, close: bool = False) -> None:
        super().__init__(body.get("message"))
        self.status, self.body, self.retry_after, self.close = status, body, retry_after, close


class Front:
    """The ASGI application for one hall: `Front(create_app(...))`, served by uvicorn."""

    def __init__(self, app: Flask, workers: int = 16, queue: int = 256, max_streams: int = 2000,
                 max_body: int = MAX_BODY_BYTES, on_shutdown: Callable[[], None] | None = None) -> None:
        """`on_shutdown`: run at the server's lifespan shutdown, after the streams and workers end."""
        self.app = app
        self.on_shutdown = on_shutdown
        self.engine = app.config["ENGINE"]
        self.workers, self.queue_limit, self.max_streams, self.max_body = workers, queue, max_streams, max_body
        self.body_seconds = BODY_SECONDS
        self.pool = Workers(workers, self._call_app)
        self.running = 0
        self._waiting: dict[bool, deque[asyncio.Future]] = {True: deque(), False: deque()}  # write? -> FIFO
        self.streams = 0
        self._writing: dict[asyncio.Task, list[float]] = {}
        self.hub: Hub | None = None
        self.feed: Feed | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sessions = app.config.get("SESSIONS")

    # -- lifecycle --------------------------------------------------------------------------

    def _start(self) -> None:
        """Inside the loop, at lifespan startup (or at the first request under an ASGI server that
        sends no lifespan events): the hub, its reader and the heartbeat."""
        self.loop = asyncio.get_running_loop()
        store = self.engine.store
        last = store.last_event_id()
        self.hub = Hub(last)
        hub, loop = self.hub, self.loop

        def publish(batch: list[tuple[int, bytes]]) -> None:
            try:
                loop.call_soon_threadsafe(hub.publish, batch)
            except RuntimeError:  # the loop has ended (shutting down)
                pass

        self.feed = Feed(store, publish, last).start()
        self._beating = asyncio.ensure_future(self._heartbeat())

    def end_streams(self) -> None:
        """End every open stream (from any thread): a server stopping waits for open requests."""
        if self.hub is not None and self.loop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self.hub.close)
            except RuntimeError:
                pass

    def close(self) -> None:
        """End the streams, the reader and the workers (at lifespan shutdown; idempotent)."""
        self.end_streams()
        if self.feed is not None:
            self.feed.stop()
        self.pool.stop()

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        if self.hub is None:
            self._start()
        received = time.monotonic()
        method, path = scope["method"], scope["path"]
        try:
            if path == HEALTH_PATH and method in ("GET", "HEAD"):
                return await self._json(send, 200, health_view(self.engine, self.app.config))
            write = method in WRITE_METHODS
            headers = _headers(scope)
            try:
                limit = deadline.parse(headers.get("request-timeout-ms"), received,
                                       default=deadline.DEFAULT_WRITE_SECONDS if write else READ_QUEUE_SECONDS)
            except HallqError as exc:
                raise _Refused(exc.status, exc.to_json()) from None
            larger = body_limits.gated(method, path)
            if larger is not None:
                return await self._gated(scope, headers, receive, send, limit, *larger)
            body = await self._body(headers, receive)
            environ = _environ(scope, headers, body, limit)
            streaming = method == "GET" and path == EVENTS_PATH
            if streaming:
                environ["hallq.stream"] = True
            status, out_headers, chunks = await self._run(environ, write, limit)
            if streaming and status == 200 and any(k.lower() == STREAM_FROM for k, _ in out_headers):
                found = {k.lower(): v for k, v in out_headers}
                return await self._stream(receive, send, int(found[STREAM_FROM]), found.get(STREAM_SESSION) or None)
            await _answer(send, status, out_headers, chunks)
        except _Refused as refusal:
            extra = {"retry-after": str(max(1, round(refusal.retry_after)))} if refusal.retry_after else {}
            if refusal.close:
                extra["connection"] = "close"
            await self._json(send, refusal.status, refusal.body, extra)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                if self.on_shutdown is not None:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _json(self, send: Callable, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        head += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": data})

    # -- bodies ------------------------------------------------------------------------------

    async def _gated(self, scope: dict, headers: dict[str, str], receive: Callable, send: Callable,
                     limit: float | None, most: int, seconds: float) -> None:
        """A display picture or a whole hall (server/body_limits.py): its declared size checked,
        then the gate asked with no body (the view answers 204 with GATE_OPEN for an admin); only
        then is the body (up to `most` bytes) read and the request run. A refusal by the gate is sent
        as it is, the body unread, the connection closed."""
        self._declared(headers, most)
        gate = _environ(scope, headers, b"", limit)
        gate[body_limits.GATE] = True
        status, out_headers, chunks = await self._run(gate, True, limit)
        if not (status == 204 and any(k.lower() == body_limits.GATE_OPEN for k, _ in out_headers)):
            return await _answer(send, status, [*out_headers, ("Connection", "close")], chunks)
        body = await self._body(headers, receive, most, seconds)
        status, out_headers, chunks = await self._run(_environ(scope, headers, body, limit), True, limit)
        await _answer(send, status, out_headers, chunks)

    def _declared(self, headers: dict[str, str], most: int) -> None:
        """Refuse a Content-Length that is not a number, or over `most` bytes, before reading."""
        declared = headers.get("content-length")
        if declared is not None:
            if not (declared.strip().isascii() and declared.strip().isdigit()):
                raise _Refused(400, {"error": "bad_request", "field": "Content-Length",
                                     "message": "Content-Length must be a number of bytes"}, close=True)
            if int(declared) > most:
                raise _too_big(most)

    async def _body(self, headers: dict[str, str], receive: Callable, most: int | None = None,
                    seconds: float | None = None) -> bytes:
        most = self.max_body if most is None else most
        seconds = self.body_seconds if seconds is None else seconds
        self._declared(headers, most)
        try:
            async with asyncio.timeout(seconds):
                return await self._read_body(receive, most)
        except TimeoutError:
            raise _Refused(408, {"error": "request_timeout", "field": "body",
                                 "message": f"the body did not arrive within {seconds:g} s"},
                           close=True) from None

    async def _read_body(self, receive: Callable, most: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, {"error": "bad_request", "message": "the client went away"}, close=True)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > most:
                raise _too_big(most)
            parts.append(chunk)
            if not message.get("more_body"):
                return b"".join(parts)

    # -- admission and the worker pool ------------------------------------------------------------

    async def _run(self, environ: dict, write: bool, limit: float | None) -> tuple[int, list, list[bytes]]:
        await self._admit(write, limit)
        try:
            return await self.pool.run(environ)
        finally:
            self._release()

    async def _admit(self, write: bool, limit: float | None) -> None:
        if self.running < self.workers and not self._waiting[True] and not self._waiting[False]:
            self.running += 1
            return
        if len(self._waiting[True]) + len(self._waiting[False]) >= self.queue_limit:
            raise _Refused(503, {"error": "busy", "message": "the hall server is at capacity; try again shortly"},
                           retry_after=1)
        fut = asyncio.get_running_loop().create_future()
        lane = self._waiting[write]
        lane.append(fut)
        timeout = None if limit is None else max(0.0, limit - time.monotonic())
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            if fut.done() and not fut.cancelled():  # granted at the last moment: give the slot back
                self._release()
            else:
                fut.cancel()
                try:
                    lane.remove(fut)
                except ValueError:
                    pass
            if write:
                raise _Refused(503, {"error": "expired", "field": deadline.HEADER,
                                     "message": "not applied: its deadline passed while the hall was busy"},
                               retry_after=1) from None
            raise _Refused(503, {"error": "busy", "message": "the hall server is busy; try again shortly"},
                           retry_after=1) from None
        # Granted: the releasing request handed its slot over (running was not decremented).

    def _release(self) -> None:
        for lane in (self._waiting[True], self._waiting[False]):
            while lane:
                fut = lane.popleft()
                if not fut.done():
                    fut.set_result(None)  # the slot passes to it directly
                    return
        self.running -= 1

    def _call_app(self, environ: dict) -> tuple[int, list, list[bytes]]:
        """Run the WSGI app in a worker thread and collect its whole answer."""
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            answer["status"], answer["headers"] = int(status.split(" ", 1)[0]), headers
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.app(environ, start_response)
        try:
            for data in result:
                if data:
                    chunks.append(data)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return answer["status"], answer["headers"], chunks

    # -- event streams ------------------------------------------------------------------------

    async def _stream(self, receive: Callable, send: Callable, last: int, session_id: str | None) -> None:
        """One open stream: write what the hub has that this client has not had, then sleep until
        the hub changes. A thousand of these wake once per commit; a client that goes away cancels
        its stream, and one that stops reading is cancelled by the heartbeat's watchdog."""
        if self.streams >= self.max_streams:
            raise _Refused(503, {"error": "busy", "message": "too many open event streams; poll instead"},
                           retry_after=10)
        hub = self.hub
        me = asyncio.current_task()
        gone = asyncio.ensure_future(_until_disconnect(receive))

        def went(_: asyncio.Future) -> None:
            me.cancel()

        gone.add_done_callback(went)
        writing = self._writing[me] = [0.0]  # when its write in progress began (0: none)
        self.streams += 1
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")]})
            chunk = b"retry: 2000\n\n"
            beats = hub.beats
            while not hub.closed:
                if hub.beats != beats:  # every heartbeat, busy or not: the session still holds?
                    beats = hub.beats
                    if session_id is not None and self.sessions is not None:
                        if not self.sessions.is_active(session_id):
                            break  # signed out or timed out: the stream ends with the session
                        self.sessions.touch(session_id)
                got = hub.since(last)
                if got is None:  # behind what the hub keeps: read the gap from the store, off the loop
                    got = await asyncio.get_running_loop().run_in_executor(None, self._backlog, last)
                more, last = got
                chunk += more
                if chunk:
                    writing[0] = time.monotonic()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    writing[0], chunk = 0.0, b""
                    continue
                # Shielded: every stream waits on the hub's one future, and a stream cancelled
                # because its client went away would cancel it for all the others.
                await asyncio.shield(hub.changed())
                if hub.beats != beats and hub.last_id <= last:  # a heartbeat and nothing new
                    chunk = b": keep-alive\n\n"
            await send({"type": "http.response.body", "body": b""})
        except (asyncio.CancelledError, OSError, StorageError):
            # The client went away or stopped reading, or its backlog could not be read: it
            # reconnects with Last-Event-ID (a 503 then, while the store is faulty).
            pass
        finally:
            self.streams -= 1
            self._writing.pop(me, None)
            gone.remove_done_callback(went)
            gone.cancel()

    def _backlog(self, last: int) -> tuple[bytes, int]:
        """Up to 500 events after `last` as one write, for a stream behind what the hub holds."""
        events = self.engine.store.events_after(last, 500, decode=False)
        return (b"".join(encode(ev) for ev in events), events[-1]["id"]) if events else (b"", last)

    async def _heartbeat(self) -> None:
        """Every few seconds: wake the streams (keep-alives, session checks) and cancel any whose
        client has not taken a write for SEND_TIMEOUT_SECONDS."""
        while not self.hub.closed:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self.hub.beat()
            stuck = time.monotonic() - SEND_TIMEOUT_SECONDS
            for task, writing in list(self._writing.items()):
                if writing[0] and writing[0] < stuck:
                    task.cancel()


class Workers:
    """The threads that run the Flask app for the loop. The front admits at most as many requests
    as there are threads, so a job never waits here. Each answer comes back with one
    call_soon_threadsafe: run_in_executor's chained futures cost the loop about a tenth of its
    time per request at 600 requests a second."""

    def __init__(self, count: int, fn: Callable[[dict], Any]) -> None:
        self.fn = fn
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._serve, name=f"hallq-worker-{i}", daemon=True)
                        for i in range(count)]
        for t in self.threads:
            t.start()

    def run(self, job: dict) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.jobs.put((loop, fut, job))
        return fut

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)

    def _serve(self) -> None:
        while (item := self.jobs.get()) is not None:
            loop, fut, job = item
            try:
                outcome, failed = self.fn(job), False
            except BaseException as exc:  # handed to the request's coroutine, as run_in_executor would
                outcome, failed = exc, True
            try:
                loop.call_soon_threadsafe(_settle, fut, outcome, failed)
            except RuntimeError:  # the loop has ended
                pass


def _settle(fut: asyncio.Future, outcome: Any, failed: bool) -> None:
    if fut.cancelled():
        return
    if failed:
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


async def _until_disconnect(receive: Callable) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _too_big(most: int) -> _Refused:
    size = f"{most // (1024 * 1024)} MiB" if most >= 1024 * 1024 else f"{most // 1024} KiB"
    return _Refused(413, {"error": "request_entity_too_large", "field": "body",
                          "message": f"the body is limited to {size}"}, close=True)


async def _answer(send: Callable, status: int, headers: list, chunks: list[bytes]) -> None:
    """Send an answer the app built in full."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
    await send({"type": "http.response.body", "body": b"".join(chunks)})


def _headers(scope: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope["headers"]:
        name, value = k.decode("latin-1").lower(), v.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def _environ(scope: dict, headers: dict[str, str], body: bytes, limit: float | None) -> dict:
    """The PEP 3333 environ for an ASGI request whose body has been read."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0], "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "hallq.deadline": limit,
    }
    for name, value in headers.items():
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name != "content-length":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ
