"""The HTTP connection under the front: uvicorn's httptools protocol with the limits a hall on a
shared network needs and uvicorn leaves out.

- Writes of one loop turn leave as one send (`OneSend`).
- Over the connection cap (uvicorn's `limit_concurrency`) a new connection gets the hall's JSON 503
  with Retry-After at once and is closed; uvicorn's own answer is a bare text 503 without it, and
  it counted running requests (streams included) as well, which the front already bounds itself.
- A request's head must arrive within `HEAD_SECONDS` of the connection or of the request's first
  byte: a client that opens connections and trickles headers (slowloris) is answered 408 and cut
  off instead of holding a socket for ever. Idle keep-alive connections are uvicorn's (30 s).
- A request's head is at most `HEAD_BYTES`: over it, 431 and the connection cut off. httptools
  limits neither the request line nor a header, and gathers a header's value in memory until it
  ends: four anonymous connections trickling one endless header put 200 MB into the hall's memory
  in 8 s (and slowed /health to 1.4 s) before the head timeout.
- What httptools cannot parse gets the hall's JSON 400, not uvicorn's bare text.
- A client that takes nothing of what is sent to it for `SEND_SECONDS` (its answers, or its event
  stream, pile up unread: the transport has paused writing) is cut off: uvicorn keeps no send
  timeout, and such a connection held its slot and memory for ever.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_SECONDS = 10.0
HEAD_BYTES = 64 * 1024  # request line and headers; a browser's, cookies and all, is a few KiB
RETRY_AFTER_SECONDS = 2
LINGER_SECONDS = 2.0
SEND_SECONDS = 30.0  # a client that reads nothing of what is sent to it for this long is cut off


def answer(status: int, reason: str, body: dict, extra: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for refusals made before the app runs."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json",
            f"content-length: {len(data)}", "connection: close"]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data


CAPACITY = answer(503, "Service Unavailable",
                  {"error": "busy", "message": "the hall server has too many open connections; try again shortly"},
                  {"retry-after": str(RETRY_AFTER_SECONDS)})
HEAD_TIMEOUT = answer(408, "Request Timeout",
                      {"error": "request_timeout", "message": f"the request's head did not arrive within "
                       f"{HEAD_SECONDS:g} s"})
HEAD_TOO_LARGE = answer(431, "Request Header Fields Too Large",
                        {"error": "request_header_too_large", "field": "head",
                         "message": f"the request line and headers are limited to {HEAD_BYTES // 1024} KiB"})
UNPARSABLE = answer(400, "Bad Request", {"error": "bad_request", "field": "head",
                                         "message": "the request is not valid HTTP/1.1"})


class OneSend:
    """A transport whose writes of one event-loop turn leave as one send.

    uvicorn writes an answer's head and its body separately, and uvloop sends each at once: two
    system calls (and two packets) per answer, about a tenth of the server's CPU under issue load.
    Held until the end of the turn, they go out together; close() sends what is held first."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop, self._held = transport, loop, []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class HallProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with one send per turn, a JSON connection cap, a head timeout
    and a head size limit."""

    head_seconds = HEAD_SECONDS
    head_bytes = HEAD_BYTES
    send_seconds = SEND_SECONDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections = self.limit_concurrency
        self.limit_concurrency = None  # checked here, per connection, with the hall's answer
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._in_head = True  # bytes received belong to a request head not yet complete
        self._head_size = 0
        self._ended_here = False  # a request ended in the data being parsed
        self._send_timer: asyncio.TimerHandle | None = None  # armed while writing is paused

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = self.max_connections is not None and len(self.connections) >= self.max_connections
        super().connection_made(OneSend(transport, self.loop))  # type: ignore[arg-type]
        if over:
            self._refuse(CAPACITY)
            return
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._refused:  # after a refusal, what the client still sends is read and dropped
            return
        self._ended_here = False
        super().data_received(data)
        # Counted after parsing: a head completed in `data` is not counted. Data that also ended
        # the request before (pipelining) is not counted either: how much of it is the new head is
        # unknown, and it is at most one read.
        if self._in_head and not self._ended_here and not self._refused and not self.transport.is_closing():
            self._head_size += len(data)
            if self._head_size > self.head_bytes:
                self._refuse(HEAD_TOO_LARGE)

    def send_400_response(self, msg: str) -> None:
        self._refuse(UNPARSABLE)

    def _refuse(self, raw_answer: bytes) -> None:
        """Answer and close for writing; close the rest a moment later. Closing at once while the
        client's request is still unread would make the kernel reset the connection, and the client
        would lose the answer with it."""
        self._refused = True
        self._disarm_head_timer()
        self.transport.write(raw_answer)
        self.transport.flush()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._disarm_send_timer()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.send_seconds, self._send_stuck)

    def resume_writing(self) -> None:
        self._disarm_send_timer()
        super().resume_writing()

    def _disarm_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_stuck(self) -> None:
        """The client has read nothing for `send_seconds`: nothing more will reach it; let go at
        once, with a reset (a plain close would leave the kernel sending the pile for minutes)."""
        self._send_timer = None
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_size = True, 0
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._ended_here = True
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_late)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._refuse(HEAD_TIMEOUT)
