"""A serial port that survives being unplugged.

Devices hang off USB-RS485 adapters that get unplugged, reset by static, or are missing at boot.
`ReconnectingPort` opens any pyserial URL (`/dev/ttyUSB0`, `COM3`, `socket://host:port`,
`loop://`), turns every I/O error into "offline", retries the open every `retry_interval`
seconds from whichever thread next reads or writes, and logs and reports only state changes so
a port that is gone for a day does not flood the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

try:  # tcflush on a serial device that vanished raises termios.error, which is not an OSError
    import termios

    _FLUSH_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # not POSIX
    _FLUSH_ERRORS = (serial.SerialException, OSError)

log = logging.getLogger(__name__)

StateCallback = Callable[[bool], None]


@dataclass(frozen=True)
class LineSettings:
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = serial.PARITY_NONE
    stopbits: float = 1


class ReconnectingPort:
    """Thread-safe byte pipe over a pyserial URL with automatic reopen.

    Reads return b"" on timeout and while the port is down (after waiting up to `read_timeout`,
    so a reader loop never spins). Writes return False while the port is down.
    """

    def __init__(
        self,
        url: str,
        settings: LineSettings | None = None,
        *,
        name: str | None = None,
        read_timeout: float = 0.05,
        write_timeout: float = 1.0,
        retry_interval: float = 3.0,
        on_state: StateCallback | None = None,
        opener: Callable[..., serial.SerialBase] = serial.serial_for_url,
    ) -> None:
        self.url = url
        self.settings = settings or LineSettings()
        self.name = name or url
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.retry_interval = retry_interval
        self.on_state = on_state
        self._opener = opener
        self._ser: serial.SerialBase | None = None
        self._lock = threading.RLock()
        self._online: bool | None = None  # None until the first open attempt
        self._last_attempt = float("-inf")
        self._closed = False
        self.reconnects = 0
        self.last_error = ""

    # -------------------------------------------------------------- state

    @property
    def online(self) -> bool:
        return bool(self._online)

    def wire_time(self, nbytes: int) -> float:
        """Seconds `nbytes` take on the line (start bit, data, parity, stop bits). A write returns
        before its bytes have left a USB adapter, so answer timeouts add this for the frame sent
        and for the answer awaited."""
        s = self.settings
        bits = 1 + s.bytesize + (s.parity != serial.PARITY_NONE) + s.stopbits
        return nbytes * bits / max(1, s.baudrate)

    def _set_state(self, online: bool, reason: str = "") -> None:
        if self._online == online:
            return
        was = self._online
        self._online = online
        if online:
            if was is None:
                log.info("port %s open (%s)", self.name, self.url)
            else:
                self.reconnects += 1
                log.warning("port %s back online (%s)", self.name, self.url)
        else:
            log.warning("port %s offline (%s): %s; retrying every %g s", self.name, self.url, reason,
                        self.retry_interval)
        if self.on_state is not None:
            try:
                self.on_state(online)
            except Exception:
                log.exception("port state callback failed")

    # -------------------------------------------------------------- open / close

    def open(self) -> bool:
        """Try to open now (once); True when the port is usable."""
        with self._lock:
            if self._closed:
                return False
            if self._ser is not None:
                return True
            self._last_attempt = time.monotonic()
            s = self.settings
            try:
                ser = self._opener(
                    self.url,
                    baudrate=s.baudrate,
                    bytesize=s.bytesize,
                    parity=s.parity,
                    stopbits=s.stopbits,
                    timeout=self.read_timeout,
                    write_timeout=self.write_timeout,
                )
            except (serial.SerialException, OSError, ValueError) as e:
                self.last_error = str(e)
                self._set_state(False, f"cannot open: {e}")
                return False
            self._ser = ser
            self._set_state(True)
            return True

    def _ensure_open(self) -> serial.SerialBase | None:
        ser = self._ser
        if ser is not None:
            return ser
        if time.monotonic() - self._last_attempt >= self.retry_interval and self.open():
            return self._ser
        return None

    def _fail(self, ser: serial.SerialBase, err: Exception) -> None:
        with self._lock:
            if self._ser is ser:
                self._ser = None
                self._last_attempt = time.monotonic()
                try:
                    ser.close()
                except Exception:  # noqa: BLE001 - closing a dead port may fail in any way
                    pass
                self.last_error = str(err)
                self._set_state(False, str(err) or type(err).__name__)

    def close(self) -> None:
        """Close for good; later reads and writes do nothing."""
        with self._lock:
            self._closed = True
            ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # noqa: BLE001
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    # -------------------------------------------------------------- I/O

    def read(self, size: int = 256) -> bytes:
        """Bytes available now, waiting up to `read_timeout` for the first one."""
        with self._lock:
            ser = None if self._closed else self._ensure_open()
        if ser is None:
            time.sleep(self.read_timeout)
            return b""
        try:
            data = ser.read(1)
            if data and ser.in_waiting:
                data += ser.read(min(ser.in_waiting, max(size - 1, 1)))
            return data
        except (serial.SerialException, OSError, TypeError, AttributeError) as e:
            # TypeError/AttributeError: pyserial internals after a concurrent close.
            self._fail(ser, e)
            return b""

    def write(self, data: bytes) -> bool:
        """Send all of `data`; False (and offline) when the port is gone."""
        with self._lock:
            ser = None if self._closed else self._ensure_open()
        if ser is None:
            return False
        try:
            ser.write(data)
            return True
        except (serial.SerialException, OSError, TypeError, AttributeError) as e:
            self._fail(ser, e)
            return False

    def reset_input(self) -> None:
        """Drop unread input (stale answers) before a request/answer exchange."""
        ser = self._ser
        if ser is None:
            return
        try:
            ser.reset_input_buffer()
        except _FLUSH_ERRORS as e:
            self._fail(ser, e)

    def wait_online(self, timeout: float) -> bool:
        """Block until the port is open (used by probes and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._ser is not None:
                    return True
                if not self._closed:
                    self._ensure_open()
                if self._ser is not None:
                    return True
            if time.monotonic() >= deadline or self._closed:
                return False
            time.sleep(min(0.02, self.retry_interval))
