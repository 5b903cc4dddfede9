"""A CMPP 2.0 SP client: one long-lived TCP connection to the ISMG (the SMS gateway), kept up by a
thread of its own.

- Connect: CMPP_CONNECT with the MD5 AuthenticatorSource; the gateway's CONNECT_RESP must have
  Status 0 and an AuthenticatorISMG made with the same shared secret, else the link is refused.
- Submit: a text is cut into UCS-2 segments (drivers/cmpp.py); each one waits for its SUBMIT_RESP
  (`answer_timeout`); Result 0 is taken, 8 (flow control) is worth a retry, any other is refused for
  good. Not connected, or no answer in time: SendFailed(retry=True) at once — the caller keeps the
  message, nothing waits here for a link to come back. A long message that fails after some
  segments were taken is resumed by a retry with the same `key`: the rest, same UDH reference.
- CMPP_DELIVER: status reports (Registered_Delivery 1) go to `on_report(msg_id, stat, phone)`,
  messages citizens send (e.g. "TD") to `on_message(phone, text)`; each is answered DELIVER_RESP.
- Active test: after `active_test_seconds` of silence an ACTIVE_TEST; no answer within
  `answer_timeout` drops the link. The gateway's own ACTIVE_TESTs are answered.
- Reconnect with back-off: 1 s, doubling to `max_backoff`, after every lost or refused link.
  `on_state(online, reason)` hears every change.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from drivers import cmpp
from drivers.sms import SendFailed

log = logging.getLogger(__name__)

PARTIAL_KEEP = 256  # long messages whose later segments wait for a retry


class CmppClient:
    def __init__(self, host: str, port: int, sp_id: str, secret: str, *, src_id: str = "", service_id: str = "",
                 on_report: Callable[[str, str, str], None] | None = None,
                 on_message: Callable[[str, str], None] | None = None,
                 on_state: Callable[[bool, str], None] | None = None,
                 answer_timeout: float = 5.0, active_test_seconds: float = 30.0,
                 first_backoff: float = 1.0, max_backoff: float = 60.0) -> None:
        self.host, self.port, self.sp_id, self.secret = host, port, sp_id, secret
        self.src_id, self.service_id = src_id, service_id
        self.on_report, self.on_message, self.on_state = on_report, on_message, on_state
        self.answer_timeout, self.active_test_seconds = answer_timeout, active_test_seconds
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self.online = False
        self.reason = "not connected yet"
        self._told = False  # the first state is told whatever it is (a gateway down from the start)
        self.stats = {"connects": 0, "refused": 0, "submits": 0, "reports": 0, "active_tests": 0, "drops": 0}
        self._sock: socket.socket | None = None
        self._write = threading.Lock()
        self._seq = itertools.count(1)
        self._ref = itertools.count(1)
        self._partial: OrderedDict[str, tuple[str, str, int, list[str]]] = OrderedDict()  # key -> taken so far
        self._pending: dict[int, list] = {}  # sequence -> [Event, answer body]
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heard = time.monotonic()

    def start(self) -> CmppClient:
        self._thread = threading.Thread(target=self._run, name="cmpp-link", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                self._send_pdu(cmpp.Pdu(cmpp.TERMINATE, next(self._seq)))
            except OSError:
                pass
            _close(sock)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_online(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.online:
            time.sleep(0.01)
        return self.online

    # ------------------------------------------------------------------ sending

    def send(self, phone: str, text: str, key: str | None = None) -> str:
        if not self.online:
            raise SendFailed(f"CMPP gateway {self.host}:{self.port} not connected ({self.reason})")
        # A retry of a long message goes on where the last try stopped, with the same UDH reference,
        # so the phone joins the segments into one message instead of showing the first ones twice.
        earlier = self._partial.pop(key, None) if key is not None else None
        if earlier is not None and earlier[:2] == (phone, text):
            ref, ids = earlier[2], earlier[3]
        else:
            ref, ids = next(self._ref), []
        parts = cmpp.segments(text, ref)
        try:
            for number, (udhi, content) in enumerate(parts, 1):
                if number <= len(ids):
                    continue  # taken by the gateway on an earlier try
                pdu = cmpp.Submit(phone, content, self.src_id, self.service_id, self.sp_id, cmpp.UCS2, udhi,
                                  len(parts), number).encode_body()
                body = self._ask(cmpp.SUBMIT, pdu)
                msg_id, result = cmpp.parse_submit_resp(body)
                if result != 0:
                    why = cmpp.SUBMIT_RESULT.get(result, f"result {result}")
                    raise SendFailed(f"CMPP gateway refused the message: {why} (Result {result})", retry=result == 8)
                ids.append(str(msg_id))
                self.stats["submits"] += 1
        except SendFailed as exc:
            if key is not None and ids and exc.retry:
                self._partial[key] = (phone, text, ref, ids)
                while len(self._partial) > PARTIAL_KEEP:
                    self._partial.popitem(last=False)
            raise
        return ",".join(ids)

    def _ask(self, command: int, body: bytes) -> bytes:
        seq = next(self._seq)
        slot: list = [threading.Event(), None]
        with self._pending_lock:
            self._pending[seq] = slot
        try:
            self._send_pdu(cmpp.Pdu(command, seq, body))
            if not slot[0].wait(self.answer_timeout) or slot[1] is None:
                raise SendFailed(f"CMPP gateway did not answer within {self.answer_timeout:g} s")
            return slot[1]
        except OSError as exc:
            self._drop(f"write failed: {exc}")
            raise SendFailed(f"CMPP link lost: {exc}") from None
        finally:
            with self._pending_lock:
                self._pending.pop(seq, None)

    def _send_pdu(self, pdu: cmpp.Pdu) -> None:
        sock = self._sock
        if sock is None:
            raise OSError("not connected")
        with self._write:
            sock.sendall(pdu.encode())

    # ------------------------------------------------------------------ the link

    def _run(self) -> None:
        backoff = self.first_backoff
        while not self._stop.is_set():
            try:
                self._connect()
                backoff = self.first_backoff
                self._serve()
            except (OSError, cmpp.ProtocolError, _Refused) as exc:
                self._drop(str(exc) or type(exc).__name__)
            if self._stop.wait(backoff):
                break
            backoff = min(self.max_backoff, backoff * 2)

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.answer_timeout)
        sock.settimeout(self.answer_timeout)
        try:
            seq = next(self._seq)
            pdu, auth = cmpp.connect(seq, self.sp_id, self.secret, datetime.now())
            sock.sendall(pdu.encode())
            reader = cmpp.Reader()
            answer = None
            while answer is None:
                data = sock.recv(4096)
                if not data:
                    raise OSError("gateway closed the link during CMPP_CONNECT")
                for got in reader.feed(data):
                    if got.command == cmpp.CONNECT_RESP and got.sequence == seq:
                        answer = got
            status, ismg, _version = cmpp.parse_connect_resp(answer.body)
            if status != 0:
                self.stats["refused"] += 1
                raise _Refused(f"CMPP_CONNECT refused: {cmpp.CONNECT_STATUS.get(status, status)} (Status {status})")
            if ismg != cmpp.authenticator_ismg(status, auth, self.secret):
                self.stats["refused"] += 1
                raise _Refused("CMPP_CONNECT_RESP: AuthenticatorISMG does not match the shared secret")
        except BaseException:
            _close(sock)
            raise
        self._reader = reader
        self._sock = sock
        self.stats["connects"] += 1
        self._last_heard = time.monotonic()
        self._set_state(True, "connected")

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        sock.settimeout(0.2)
        test_sent: float | None = None
        while not self._stop.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                data = None
            if data == b"":
                raise OSError("gateway closed the link")
            if data:
                self._last_heard = time.monotonic()
                test_sent = None
                for pdu in self._reader.feed(data):
                    self._handle(pdu)
                continue
            quiet = time.monotonic() - self._last_heard
            if test_sent is not None and time.monotonic() - test_sent > self.answer_timeout:
                raise OSError(f"no answer to CMPP_ACTIVE_TEST within {self.answer_timeout:g} s")
            if test_sent is None and quiet >= self.active_test_seconds:
                test_sent = time.monotonic()
                self.stats["active_tests"] += 1
                self._send_pdu(cmpp.Pdu(cmpp.ACTIVE_TEST, next(self._seq)))

    def _handle(self, pdu: cmpp.Pdu) -> None:
        if pdu.command & 0x80000000:
            with self._pending_lock:
                slot = self._pending.get(pdu.sequence)
            if slot is not None:
                slot[1] = pdu.body
                slot[0].set()
            return
        if pdu.command == cmpp.ACTIVE_TEST:
            self._send_pdu(cmpp.active_test_resp(pdu.sequence))
        elif pdu.command == cmpp.TERMINATE:
            self._send_pdu(cmpp.Pdu(cmpp.TERMINATE_RESP, pdu.sequence))
            raise OSError("gateway ended the link (CMPP_TERMINATE)")
        elif pdu.command == cmpp.DELIVER:
            d = cmpp.parse_deliver(pdu.body)
            self._send_pdu(cmpp.deliver_resp(pdu.sequence, d.msg_id))
            try:
                if d.report is not None:
                    self.stats["reports"] += 1
                    if self.on_report:
                        self.on_report(str(d.report.msg_id), d.report.stat, d.report.dest)
                elif self.on_message:
                    self.on_message(d.src, d.text())
            except Exception:  # a handler's bug must not take the link down
                log.exception("CMPP_DELIVER handler failed")

    def _drop(self, reason: str) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            _close(sock)
            self.stats["drops"] += 1
        with self._pending_lock:
            for slot in self._pending.values():
                slot[0].set()  # waiting submits fail now, not at their timeout
        self._set_state(False, reason)

    def _set_state(self, online: bool, reason: str) -> None:
        changed = online != self.online or not self._told
        self.online, self.reason, self._told = online, reason, True
        if changed:
            log.info("CMPP gateway %s:%d %s (%s)", self.host, self.port, "online" if online else "offline", reason)
            if self.on_state:
                self.on_state(online, reason)


class _Refused(Exception):
    pass


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
