"""The HTTP connection under the front: uvicorn's httptools protocol with the limits a hall on a
shared network needs and uvicorn leaves out.

- Writes of one loop turn leave as one send (`OneSend`).
- Over the connection cap (uvicorn's `limit_concurrency`) a new connection gets the hall's JSON 503
  with Retry-After at once and is closed; uvicorn's own answer is a bare text 503 without it, and
  it counted running requests (streams included) as well, which the front already bounds itself.
- A request's head must arrive within `HEAD_SECONDS` of the connection or of the request's first
  byte: a client that opens connections and trickles headers (slowloris) is answered 408 and cut
  off instead of holding a socket for ever. Idle keep-alive connections are uvicorn's (30 s).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_SECONDS = 10.0
RETRY_AFTER_SECONDS = 2
LINGER_SECONDS = 2.0


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
    """uvicorn's httptools protocol with one send per turn, a JSON connection cap and a head timeout."""

    head_seconds = HEAD_SECONDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections = self.limit_concurrency
        self.limit_concurrency = None  # checked here, per connection, with the hall's answer
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = self.max_connections is not None and len(self.connections) >= self.max_connections
        super().connection_made(OneSend(transport, self.loop))  # type: ignore[arg-type]
        if over:
            self._refuse(CAPACITY)
            return
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if not self._refused:  # after a refusal, what the client still sends is read and dropped
            super().data_received(data)

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
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

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
