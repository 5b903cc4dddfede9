"""Just enough of the NATS client protocol to publish to JetStream and wait for its acks (for
bench_county.py's transport comparison; hallq itself does not use NATS). Plain sockets: no client
library for a measurement."""

from __future__ import annotations

import json
import socket


class JetStream:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
                          b"PING\r\nSUB _INBOX.b.* 1\r\n")
        while self._line() != b"PONG":
            pass

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("nats-server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _payload(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self) -> dict:
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                return json.loads(self._payload(int(line.split()[-1])))
            elif line.startswith(b"HMSG "):
                self._payload(int(line.split()[-1]))
                raise ConnectionError("no responders: is JetStream enabled?")
            elif line.startswith(b"-ERR"):
                raise ConnectionError(line.decode())

    def create_stream(self, name: str, subjects: str) -> dict:
        body = json.dumps({"name": name, "subjects": [subjects], "storage": "file",
                           "duplicate_window": 120_000_000_000}).encode()
        self.sock.sendall(b"PUB $JS.API.STREAM.CREATE.%s _INBOX.b.c %d\r\n%s\r\n" % (name.encode(), len(body), body))
        return self._reply()

    def publish_batch(self, subject: str, messages: list[tuple[str, bytes]]) -> list[dict]:
        """Publish (msg id, payload) pairs pipelined, then wait for every ack (dedup by Nats-Msg-Id)."""
        out = []
        for i, (msg_id, payload) in enumerate(messages):
            head = b"NATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n" % msg_id.encode()
            out.append(b"HPUB %s _INBOX.b.%d %d %d\r\n%s%s\r\n" % (subject.encode(), i, len(head),
                                                                  len(head) + len(payload), head, payload))
        self.sock.sendall(b"".join(out))
        return [self._reply() for _ in messages]

    def close(self) -> None:
        self.sock.close()
