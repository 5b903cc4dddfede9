"""Simulated ESC/POS ticket printer on a pty or a loopback TCP port.

It answers `DLE EOT n` at once (even mid-job, as real-time commands are), with the status
bytes of the datasheet for the paper/cover state a test sets, and keeps everything else it
receives so tests can decode the printed jobs or render them to PNG.
"""

from __future__ import annotations

import threading

from drivers import escpos_decode
from drivers.escpos_decode import PrintJob
from drivers.sim.line import SimLine
from drivers.sim.pty import Endpoint

BASE = 0x12  # bits 1 and 4 always set


class PrinterSim(SimLine):
    """One printer. `paper` is "ok" | "near_end" | "out"; `cover_open` and `silent` are faults."""

    def __init__(self, endpoint: Endpoint | None = None, name: str = "printer", paper_mm: int = 80) -> None:
        super().__init__(endpoint, name)
        self.paper_mm = paper_mm
        self.paper = "ok"
        self.cover_open = False
        self.silent = False  # no status answers: switched off, or a cable that only half works
        # Bytes of print data the roll still takes (None: endless): past them the paper ends
        # mid-job, the rest of the job is not printed and the status says "printing stopped by
        # paper end" (§3) until a test puts paper back (`paper = "ok"`, `paper_for = None`).
        self.paper_for: int | None = None
        self.status_queries = 0
        self._data = bytearray()
        self._tail = b""  # last bytes of the previous read, to spot DLE EOT split across reads
        self._lock = threading.Lock()
        self.start()

    def status_byte(self, n: int) -> int:
        out = self.paper == "out"
        if n == 1:
            return BASE | (0x08 if out or self.cover_open else 0)
        if n == 2:
            return BASE | (0x04 if self.cover_open else 0) | (0x20 if out else 0)
        if n == 4:
            return BASE | (0x0C if self.paper == "near_end" else 0) | (0x60 if out else 0)
        return BASE

    def _on_bytes(self, chunk: bytes) -> None:
        with self._lock:
            self._data += self._onto_paper(chunk)
        window = self._tail + chunk
        start = 0
        answers = bytearray()
        while (k := window.find(b"\x10\x04", start)) >= 0 and k + 2 < len(window):
            if k + 2 >= len(self._tail):  # not answered in the previous round
                self.status_queries += 1
                answers.append(self.status_byte(window[k + 2]))
            start = k + 3
        self._tail = window[-2:]
        if answers and not self.silent:
            self.endpoint.write(bytes(answers))

    def _onto_paper(self, chunk: bytes) -> bytes:
        """What of `chunk` reaches the paper (status queries count as none of it)."""
        if self.paper == "out":
            return chunk if self.paper_for is None else b""
        if self.paper_for is None:
            return chunk
        data = len(chunk) - 3 * chunk.count(b"\x10\x04")
        if data <= self.paper_for:
            self.paper_for -= data
            return chunk
        room, self.paper_for, self.paper = self.paper_for, 0, "out"
        return chunk[:room]

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    @property
    def jobs(self) -> list[PrintJob]:
        """Every printed job decoded (status queries are not jobs)."""
        return escpos_decode.decode(self.received)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def render_last(self, path: str) -> str:
        """PNG of the last job, for people to look at."""
        jobs = self.jobs
        if not jobs:
            raise LookupError("nothing printed yet")
        return escpos_decode.render_png(jobs[-1], path, 576 if self.paper_mm >= 80 else 384)

    def _forget_partial(self) -> None:
        self._tail = b""
