"""Kiosk ticket printer on python-escpos, with a status check that cannot hang the kiosk.

The transport is python-escpos's own Serial, Network, File or Usb printer, picked from the
configured URL. Before each ticket the status is read with `DLE EOT 1/2/4` directly on that
transport, each query under a hard deadline (500 ms, datasheet §3; the first unanswered one ends
the check): python-escpos's `query_status` can block for the whole device timeout, and a citizen
must not stare at a frozen screen. Paper end, cover
open or no answer means "do not print": the kiosk shows the ticket on screen instead.
A port that vanished is reopened on the next call; state changes are logged once and reported
through `on_status`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import serial
from escpos.escpos import Escpos
from escpos.printer import File, Network, Serial, Usb

from drivers.ticket_layout import PaperLayout, TicketPrint, layout_ticket, with_media_width
from hallq.model import Printer

try:  # POSIX; termios.error is not an OSError: tcflush on a pty whose other end went away raises it
    from termios import error as TermiosError
except ImportError:  # Windows
    TermiosError = OSError

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"


class Paper(Enum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PrinterStatus:
    """The printer's answer to DLE EOT 1, 2 and 4 (datasheet §3)."""

    answered: bool  # False: no answer within the deadline (off, unplugged) or port missing
    paper: Paper = Paper.UNKNOWN
    cover_open: bool = False
    offline: bool = False
    error: bool = False
    supported: bool = True  # False for write-only transports (a plain file): status unknowable
    detail: str = ""

    @property
    def can_print(self) -> bool:
        if not self.supported:
            return True
        return (self.answered and self.paper in (Paper.OK, Paper.NEAR_END)
                and not (self.cover_open or self.offline or self.error))

    @property
    def needs_attention(self) -> bool:
        """Staff should be alerted (near end included: print, but tell someone)."""
        return not self.can_print or self.paper == Paper.NEAR_END

    @property
    def problem(self) -> str:
        if not self.supported:
            return ""
        if not self.answered:
            return self.detail or "no answer"
        for cond, text in ((self.paper == Paper.OUT, "paper out"), (self.cover_open, "cover open"),
                           (self.error, "error"), (self.offline, "offline"), (self.paper == Paper.NEAR_END, "paper near end")):
            if cond:
                return text
        return ""


def _valid(b: int) -> bool:
    """Bits 1 and 4 are always 1, bits 0 and 7 always 0 in every status answer."""
    return b & 0x93 == 0x12


def parse_status(printer: int, cause: int, paper: int) -> PrinterStatus:
    """Status from the answers to DLE EOT 1 (printer), 2 (offline cause) and 4 (paper sensor)."""
    if paper & 0x60 == 0x60 or cause & 0x20:
        p = Paper.OUT
    elif paper & 0x0C == 0x0C:
        p = Paper.NEAR_END
    else:
        p = Paper.OK
    return PrinterStatus(True, p, cover_open=bool(cause & 0x04), offline=bool(printer & 0x08), error=bool(cause & 0x40))


@dataclass(frozen=True)
class PrintResult:
    printed: bool
    status: PrinterStatus
    bytes_sent: int = 0
    reason: str = ""
    done_in: float = 0.0  # seconds until the paper should be out of the printer (see `paper_seconds`)


PAPER_MM_PER_SECOND = 200.0  # datasheet §2: about 200 mm/s
LINE_MM = 4.0  # a line of font A: 24 dots + spacing at 8 dots/mm
QR_MM = 30.0  # a native QR code of a ticket page's link, with its margin


def paper_seconds(data: bytes, baudrate: int | None) -> float:
    """How long after the write a ticket's paper has gone through the head: its bytes on a serial
    line (10 bits a byte) and the paper at the datasheet's speed. Real-time status is answered at
    once even mid-job (§3), so "printing stopped by paper end" can only be asked after this."""
    wire = len(data) * 10 / baudrate if baudrate else 0.0
    qr = QR_MM if b"\x1d(k" in data or b"\x1dv0" in data else 0.0
    return wire + (data.count(b"\n") * LINE_MM + qr) / PAPER_MM_PER_SECOND


_SERIAL_PATH = re.compile(r"^(COM\d+|/dev/(tty|pts/|serial/|cu\.).*)$", re.IGNORECASE)


def printer_kind(url: str) -> str:
    """Which python-escpos class serves a configured printer URL: serial, network, usb or file."""
    if url.startswith(("tcp://", "socket://")):
        return "network"
    if url.startswith("usb://"):
        return "usb"
    if url.startswith("file://") or url.startswith("/dev/usb/lp") or url.startswith("/dev/lp"):
        return "file"
    if url.startswith("serial://") or _SERIAL_PATH.match(url):
        return "serial"
    real = os.path.realpath(url)
    if _SERIAL_PATH.match(real):
        return "serial"  # e.g. a /dev/serial/by-id link or a simulator's pty link
    with contextlib.suppress(OSError):
        if stat.S_ISCHR(os.stat(url).st_mode):
            return "serial"
    return "file"


def make_escpos(cfg: Printer, *, timeout: float = 2.0, kind: str | None = None) -> Escpos:
    """The python-escpos printer object for a configured printer (not opened yet)."""
    kind = kind or printer_kind(cfg.url)
    profile = cfg.profile or None
    if kind == "network":
        host, _, port = cfg.url.split("://", 1)[1].partition(":")
        return Network(host, port=int(port or 9100), timeout=timeout, profile=profile)
    if kind == "usb":
        vid, _, pid = cfg.url[len("usb://"):].partition(":")
        return Usb(int(vid, 16), int(pid, 16), timeout=int(timeout * 1000), profile=profile)
    if kind == "serial":
        path = cfg.url[len("serial://"):] if cfg.url.startswith("serial://") else cfg.url
        return Serial(path, baudrate=cfg.baudrate, timeout=timeout, dsrdtr=False, profile=profile)
    path = cfg.url[len("file://"):] if cfg.url.startswith("file://") else cfg.url
    return File(path, profile=profile)


def paper_layout(cfg: Printer, p: Escpos | None = None) -> PaperLayout:
    """Layout for this model: native QR only where the profile has it, cut only with a cutter."""
    prof = p.profile if p is not None else None
    native = cfg.native_qr and (prof is None or prof.supports("qrCode"))
    cutter = cfg.cutter and (prof is None or prof.supports("paperFullCut") or prof.supports("paperPartCut"))
    return PaperLayout(paper_mm=cfg.paper_mm, native_qr=native, cutter=cutter)


class TicketPrinter:
    """One kiosk printer: open, status with a hard deadline, print a TicketPrint."""

    def __init__(
        self,
        cfg: Printer,
        *,
        status_timeout: float = 0.5,
        on_status: Callable[[PrinterStatus], None] | None = None,
        name: str = "printer",
        kind: str | None = None,
        escpos_factory: Callable[[Printer], Escpos] | None = None,
    ) -> None:
        self.cfg = cfg
        # Decided once: while a USB-serial printer is unplugged its path is gone and would look
        # like a plain file.
        self.kind = kind or printer_kind(cfg.url)
        self.status_timeout = status_timeout
        self.on_status = on_status
        self.name = name
        self._factory = escpos_factory or (
            lambda c: make_escpos(c, timeout=max(status_timeout, 1.0), kind=self.kind))
        self._p: Escpos | None = None
        self._lock = threading.RLock()
        self.last_status: PrinterStatus | None = None
        self._watch_stop = threading.Event()
        self._watch: threading.Thread | None = None

    @property
    def layout(self) -> PaperLayout:
        return paper_layout(self.cfg, self._p or self._factory(self.cfg))

    # -------------------------------------------------------------- open / close

    def open(self, connect_timeout: float | None = None) -> bool:
        """Open the transport if it is not open; False (and a status report) when it cannot be.

        `connect_timeout` bounds a network printer's connect (the status check's deadline); the
        socket keeps the printer's own, longer, timeout for sending tickets."""
        with self._lock:
            if self._p is not None:
                return True
            try:
                p = with_media_width(self._factory(self.cfg), paper_layout(self.cfg))
                if connect_timeout is not None and self.kind == "network":
                    io_timeout, p.timeout = p.timeout, max(0.001, connect_timeout)
                    try:
                        p.open(raise_not_found=True)
                    finally:
                        p.timeout = io_timeout
                    p.device.settimeout(io_timeout)
                else:
                    p.open(raise_not_found=True)
                if self.kind == "serial":
                    p.device.write_timeout = 5.0
                self._p = p
                return True
            except Exception as e:  # DeviceNotFoundError, USBNotFoundError, OSError, RuntimeError (no pyusb)
                self._report(PrinterStatus(False, detail=f"cannot open {self.cfg.url}: {e}"))
                return False

    def close(self) -> None:
        self.stop_watch()
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        p, self._p = self._p, None
        if p is None:
            return
        with contextlib.suppress(Exception):
            if self.kind == "serial" and p.device is not None:
                p.device.close()  # skip flush(): a dead port can block in tcdrain
                p._device = False
            else:
                p.close()

    # -------------------------------------------------------------- status

    def status(self) -> PrinterStatus:
        """Paper/cover/offline status, `status_timeout` (500 ms) at most per query, whatever the transport does."""
        with self._lock:
            if not self.open(connect_timeout=self.status_timeout):
                return self.last_status or PrinterStatus(False, detail="not open")
            if self.kind in ("file",):
                st = PrinterStatus(True, supported=False, detail="write-only transport: status unknown")
                self._report(st)
                return st
            answers: list[int] = []
            try:
                self._discard_input()
                for n in (1, 2, 4):
                    # 500 ms for each query (datasheet §3): a silent printer costs one wait, since
                    # the first unanswered query ends the check; a slow one is not taken for off.
                    b = self._ask(n, time.monotonic() + self.status_timeout)
                    if b is None:
                        break
                    answers.append(b)
            except (serial.SerialException, OSError, TermiosError, ValueError, AttributeError, TypeError) as e:
                self._drop()
                st = PrinterStatus(False, detail=f"port lost: {e}")
                self._report(st)
                return st
            if len(answers) < 3:
                st = PrinterStatus(False, detail=f"no answer within {self.status_timeout * 1000:.0f} ms")
            else:
                st = parse_status(*answers)
            self._report(st)
            return st

    def _ask(self, n: int, deadline: float) -> int | None:
        """Send DLE EOT n and wait (until `deadline`) for one well-formed status byte."""
        p = self._p
        assert p is not None
        req = DLE_EOT + bytes((n,))
        if self.kind == "serial":
            dev = p.device
            dev.write(req)
            while (left := deadline - time.monotonic()) > 0:
                dev.timeout = left
                b = dev.read(1)
                if b and _valid(b[0]):
                    return b[0]
            return None
        if self.kind == "network":
            sock: socket.socket = p.device
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock.sendall(req)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    b = sock.recv(1)
                except TimeoutError:
                    return None
                if not b:
                    raise OSError("connection closed by printer")
                if _valid(b[0]):
                    return b[0]
            return None
        # usb: pyusb takes a timeout in milliseconds on both calls
        dev = p.device
        dev.write(p.out_ep, req, max(1, int((deadline - time.monotonic()) * 1000)))
        while (left := deadline - time.monotonic()) > 0:
            try:
                data = bytes(dev.read(p.in_ep, 16, max(1, int(left * 1000))))
            except Exception:  # usb.core.USBTimeoutError
                return None
            for b in data:
                if _valid(b):
                    return b
        return None

    def _discard_input(self) -> None:
        """Drop stale answers (a late byte from a previous query would be misread)."""
        p = self._p
        if self.kind == "serial":
            p.device.reset_input_buffer()
        elif self.kind == "network":
            sock: socket.socket = p.device
            while select.select([sock], [], [], 0)[0]:
                if not sock.recv(256):
                    raise OSError("connection closed by printer")

    def _report(self, st: PrinterStatus) -> None:
        prev = self.last_status
        self.last_status = st
        if prev is not None and prev == st:
            return
        if prev is None or prev.problem != st.problem or prev.answered != st.answered:
            if st.problem:
                log.warning("%s: %s", self.name, st.problem)
            elif prev is not None:
                log.info("%s: ready", self.name)
        if self.on_status is not None:
            try:
                self.on_status(st)
            except Exception:
                log.exception("printer status callback failed")

    # -------------------------------------------------------------- printing

    def print_ticket(self, ticket: TicketPrint, check_status: bool = True) -> PrintResult:
        """Check status, then send the whole ticket in one write; printed=False says why not."""
        with self._lock:
            st = self.status() if check_status else (self.last_status or PrinterStatus(True, supported=False))
            if not st.can_print:
                return PrintResult(False, st, reason=st.problem or "printer not ready")
            p = self._p
            if p is None and not self.open():
                return PrintResult(False, self.last_status or st, reason="printer not open")
            p = self._p
            assert p is not None
            data = self.render(ticket)
            try:
                p._raw(data)
                if self.kind == "file":
                    with contextlib.suppress(Exception):
                        p.flush()
            except Exception as e:  # serial, socket, usb or file errors
                self._drop()
                lost = PrinterStatus(False, detail=f"write failed: {e}")
                self._report(lost)
                return PrintResult(False, lost, reason=lost.detail)
            baud = self.cfg.baudrate if self.kind == "serial" else None
            return PrintResult(True, st, bytes_sent=len(data), done_in=paper_seconds(data, baud))

    def printed_whole(self, result: PrintResult, sleep: Callable[[float], None] = time.sleep) -> PrinterStatus:
        """The status once a ticket printed by `print_ticket` should be out of the printer: paper
        that ran out mid-ticket shows as paper end ("printing stopped by paper end", §3), a printer
        pulled meanwhile as no answer. The caller tells the citizen and the staff (§4: never hand
        out a number that could not be printed without saying so)."""
        if result.done_in > 0:
            sleep(result.done_in)
        return self.status()

    def render(self, ticket: TicketPrint) -> bytes:
        """The exact bytes for a ticket on this printer (layout chosen by profile and config)."""
        from escpos.printer import Dummy

        dummy = with_media_width(Dummy(profile=self.cfg.profile or None), paper_layout(self.cfg))
        layout_ticket(dummy, ticket, paper_layout(self.cfg, dummy))
        return dummy.output

    # -------------------------------------------------------------- background watch

    def watch(self, interval: float = 10.0) -> None:
        """Poll status every `interval` s in the background so `on_status` fires between tickets."""
        if self._watch is not None:
            return
        self._watch_stop.clear()

        def loop() -> None:
            while not self._watch_stop.wait(interval):
                self.status()

        self._watch = threading.Thread(target=loop, daemon=True, name=f"{self.name}-watch")
        self._watch.start()

    def stop_watch(self) -> None:
        self._watch_stop.set()
        if self._watch is not None:
            self._watch.join(2.0)
            self._watch = None
