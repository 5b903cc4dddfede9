"""A cuttable link hall → county: a TCP relay on 127.0.0.1 that can be cut (open connections dropped,
new ones refused) and restored. `hallq county demo` gives every hall one to cut by hand; the link
tests (tests/test_county_linkcut.py) cut it at an exact request with `cut_at`, so "the link went
down after the hall fetched the release, before it acknowledged it" is a point, not a sleep.

A hall's county calls are urllib requests, one TCP connection each (Connection: close), so the
first line a connection sends names the request.
"""

from __future__ import annotations

import re
import socket
import threading

WHEN = ("before", "answered", "midway")


class _Trap:
    def __init__(self, request: str, when: str) -> None:
        if when not in WHEN:
            raise ValueError(f"when: one of {WHEN}")
        self.pattern, self.when = re.compile(request), when
        self.fired = threading.Event()


class Link:
    """A TCP relay to `target` that can be cut and restored, by hand or at a chosen request."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.up = target, True
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.passed: list[str] = []  # "METHOD PATH" of every request relayed to the county, in order
        self._open: list[socket.socket] = []
        self._trap: _Trap | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self.up = False
            dropped, self._open = self._open, []
        for s in dropped:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.sock.close()

    def cut_at(self, request: str, when: str = "before") -> threading.Event:
        """Cut the link by itself at the first request whose "METHOD PATH" fully matches the regex
        `request`: "before" the county sees it; once the county has "answered" it, the answer never
        reaching the hall; or "midway" through the answer (its head and half its body reach the
        hall). The event is set once the link is cut."""
        trap = _Trap(request, when)
        with self._lock:
            self._trap = trap
        return trap.fired

    def requests(self, request: str) -> int:
        """How many relayed requests fully matched the regex `request` so far."""
        pattern = re.compile(request)
        return sum(1 for line in list(self.passed) if pattern.fullmatch(line))

    # -- relaying ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        head = b""
        try:
            while b"\r\n" not in head and len(head) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    raise OSError("closed before the request line")
                head += chunk
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        line = " ".join(head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2])
        with self._lock:
            trap = self._trap if self._trap is not None and self._trap.pattern.fullmatch(line) else None
            if trap is not None:
                self._trap = None
            if not self.up or (trap is not None and trap.when == "before"):
                up = False
            else:
                up = True
                self._open += [client, upstream]
                self.passed.append(line)
        if not up:
            upstream.close()
            client.close()
            if trap is not None:
                self.cut()
                trap.fired.set()
            return
        try:
            upstream.sendall(head)
        except OSError:
            self._close(client, upstream)
            return
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        if trap is None:
            self._pipe(upstream, client)
            return
        answer = b""
        try:  # the county answers in full; the hall hears nothing of it, or half
            upstream.settimeout(30)
            while chunk := upstream.recv(65536):
                answer += chunk
            if trap.when == "midway":
                head_end = answer.find(b"\r\n\r\n") + 4
                client.sendall(answer[:head_end + (len(answer) - head_end) // 2])
        except OSError:
            pass
        self._close(client, upstream)
        self.cut()
        trap.fired.set()

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:  # shut down first: a close alone sends nothing while a pipe still reads the socket
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    @classmethod
    def _pipe(cls, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            cls._close(a, b)
