"""One HTTP exchange with a peer (the county, the provincial platform) that ends by a deadline.

http.client's `timeout` bounds each socket operation, not the request: a peer (or a 政务外网
middlebox) that trickles one byte every few seconds never trips it and holds the link's thread for
ever — no retry, no offline state, no alert. Here a timer shuts the socket down once the whole
exchange (send, head, body) has taken `seconds`, and the exchange fails with TimeoutError whatever
http.client made of the cut (an answer read "until close" would otherwise look complete).

Redirects are not followed: an answer of the peer is its own, and the hall's token is not sent to
wherever a captive portal points.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse


def connection(base: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    """A connection to the peer at `base` (http or https), each socket operation within `timeout`."""
    cls = http.client.HTTPSConnection if base.scheme == "https" else http.client.HTTPConnection
    return cls(base.netloc, timeout=timeout)


def exchange(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None,
             headers: dict[str, str], seconds: float, keep_alive: bool = False) -> tuple[int, bytes]:
    """Send one request on `conn` and read the whole answer within `seconds`: (status, body).
    Raises OSError (TimeoutError past the deadline) or http.client.HTTPException; `conn` is closed
    then (a cut exchange leaves nothing reusable on it). Unless `keep_alive` (a caller that sends
    its next request on the same connection), the request says `Connection: close`, as urllib's
    did: a connection made for one exchange is not left idle at the peer, nor at a relay between."""
    if not keep_alive:
        headers = {**headers, "Connection": "close"}
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        if conn.sock is None:
            conn.connect()  # bounded by the connection's own timeout (one operation)
            if fired.is_set():  # the deadline passed while connecting: the socket was not there to cut
                raise TimeoutError
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        raw = resp.read()
        status = resp.status
    except (OSError, http.client.HTTPException):
        conn.close()
        if fired.is_set():
            raise TimeoutError(f"no whole answer within {seconds:g} s") from None
        raise
    finally:
        timer.cancel()
    if fired.is_set():
        conn.close()
        raise TimeoutError(f"no whole answer within {seconds:g} s")
    return status, raw
