"""Device ends of simulated lines: a pseudo-terminal pair or a TCP socket.

The driver under test opens a real port by path (`/tmp/…/bus-a`, a symlink to `/dev/pts/N`,
like `/dev/serial/by-id/…`) or by `socket://127.0.0.1:PORT`, exactly as it would open hardware.
`unplug()` closes the device end so the driver sees the port vanish (EIO, then "no such file");
`replug()` brings a fresh line back under the same path, as plugging the adapter in again does.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import tempfile
import threading
import time
import tty
from abc import ABC, abstractmethod


class Endpoint(ABC):
    """The device side of one line. `read` waits up to `timeout`; both sides are raw bytes."""

    path: str  # what the driver opens (a filesystem path or a pyserial URL)

    @abstractmethod
    def read(self, timeout: float = 0.05) -> bytes:
        ...

    @abstractmethod
    def write(self, data: bytes) -> None:
        ...

    @abstractmethod
    def unplug(self) -> None:
        ...

    @abstractmethod
    def replug(self) -> None:
        ...

    @abstractmethod
    def close(self) -> None:
        ...

    @property
    @abstractmethod
    def plugged(self) -> bool:
        ...


class PtyEndpoint(Endpoint):
    """A pty pair in raw mode; the driver opens `path`, a stable symlink to the slave."""

    def __init__(self, name: str = "line", directory: str | None = None) -> None:
        self._dir_owned = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="hallq-sim-")
        self.path = os.path.join(self.directory, name)
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self.replug()

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    @property
    def tty(self) -> str:
        """The /dev/pts/N behind `path` (changes on every replug)."""
        return os.readlink(self.path) if os.path.islink(self.path) else ""

    def replug(self) -> None:
        with self._lock:
            if self._master >= 0:
                return
            master, slave = os.openpty()
            # Raw on both ends: no echo, no CR/LF translation, no ^C or ^S interpretation.
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            # Keeping our own slave fd open means the master never reads EIO just because the
            # driver closed its side to reconnect.
            self._master, self._slave = master, slave
            tmp = self.path + ".new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.path)

    def unplug(self) -> None:
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            for fd in (self._master, self._slave):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = -1

    def read(self, timeout: float = 0.05) -> bytes:
        fd = self._master
        if fd < 0:
            threading.Event().wait(timeout)
            return b""
        try:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                return b""
            return os.read(fd, 4096)
        except (OSError, ValueError):
            return b""

    def write(self, data: bytes) -> None:
        fd = self._master
        if fd < 0:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], 0.05)
                continue
            except OSError:
                return
            view = view[n:]

    def close(self) -> None:
        self.unplug()
        if self._dir_owned:
            with contextlib.suppress(OSError):
                os.rmdir(self.directory)


class TcpEndpoint(Endpoint):
    """A loopback TCP server taking one client at a time; `path` is a `socket://` URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._client: socket.socket | None = None
        self.replug()

    @property
    def path(self) -> str:  # type: ignore[override]
        return f"socket://{self.host}:{self.port}"

    @property
    def plugged(self) -> bool:
        return self._server is not None

    def replug(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
            s.listen(1)
            s.setblocking(False)
            self.port = s.getsockname()[1]
            self._server = s

    def unplug(self) -> None:
        with self._lock:
            for s in (self._client, self._server):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
            self._client = self._server = None

    def read(self, timeout: float = 0.05) -> bytes:
        server, client = self._server, self._client
        if server is None:
            threading.Event().wait(timeout)
            return b""
        socks = [server] if client is None else [server, client]
        try:
            r, _, _ = select.select(socks, [], [], timeout)
        except (OSError, ValueError):
            return b""
        if server in r:
            try:
                conn, _ = server.accept()
            except OSError:
                return b""
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._client is not None:
                    with contextlib.suppress(OSError):
                        self._client.close()
                self._client = conn
            return b""
        if client is not None and client in r:
            try:
                data = client.recv(4096)
            except OSError:
                data = b""
            if not data:
                with self._lock:
                    if self._client is client:
                        client.close()
                        self._client = None
            return data
        return b""

    def write(self, data: bytes) -> None:
        client = self._client
        if client is None:
            return
        try:
            client.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.unplug()


class WirePtyEndpoint(PtyEndpoint):
    """A pty that takes the wire time of a real line: every byte, either way, holds one shared
    half-duplex medium for 10 bits at `baudrate` (8N1), in order.

    A pty moves bytes at once, so a host that writes faster than the line carries them (a write
    returns before a USB adapter has sent the bytes) looks fine on a plain pty and not on a bus:
    here the host's bytes reach the devices only once they would have crossed the line, and a
    device's answer starts after whatever the host queued ahead of it.
    """

    def __init__(self, name: str = "line", directory: str | None = None, baudrate: int = 9600) -> None:
        super().__init__(name, directory)
        self.byte_time = 10 / baudrate
        self._busy_until = 0.0
        self._due: list[tuple[float, int]] = []  # host bytes on their way: (arrival, byte)
        self._wire = threading.Lock()

    def read(self, timeout: float = 0.05) -> bytes:
        end = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            with self._wire:
                n = next((i for i, (t, _) in enumerate(self._due) if t > now), len(self._due))
                ready, self._due = bytes(b for _, b in self._due[:n]), self._due[n:]
                pending = bool(self._due)
            if ready:
                return ready
            if now >= end and not pending:
                return b""
            data = super().read(0.002 if pending else max(0.0, end - now))
            if data:
                with self._wire:
                    start = max(time.monotonic(), self._busy_until)
                    self._due += [(start + (i + 1) * self.byte_time, b) for i, b in enumerate(data)]
                    self._busy_until = start + len(data) * self.byte_time

    def write(self, data: bytes) -> None:
        with self._wire:
            start = max(time.monotonic(), self._busy_until)
            self._busy_until = done = start + len(data) * self.byte_time
        time.sleep(max(0.0, done - time.monotonic()))
        super().write(data)
