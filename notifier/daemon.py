"""The SMS notifier: follows the hall through its public API and event stream (as caller/ does) and
sends 即将到号, call and reminder messages through a gateway (drivers/cmpp_client.py or
drivers/sms_http.py). It runs beside the server, never inside it, so sending never delays a call.

- Every event (or every `poll_seconds`) it reads GET /api/v1/sms/watch — the live tickets whose
  citizen agreed to SMS — and queues in its outbox (notifier/outbox.py) what is now due: 即将到号
  when at most `sms.near_ahead` people remain ahead (only for tickets that had more ahead when
  issued), the call when the ticket is called. From `sms.reminder_hour` on it queues tomorrow's
  appointment reminders (GET /api/v1/sms/reminders).
- Before each send the message must still be due against the latest read: a 即将到号 whose ticket
  was called, finished or opted out, a call message whose citizen already stands at the window, a
  reminder for a cancelled appointment — dropped, never sent late.
- A gateway that is down (or answers late) keeps every message in the outbox, raises a red
  `device_offline` alert from `sms:gateway` through POST /api/v1/alerts, and is tried again with
  back-off; the alert clears when a message goes through.
- A citizen's reply TD (退订) reaches the hall as POST /api/v1/sms/opt-out.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from drivers.sms import Gateway, SendFailed
from hallq.client import ApiClient, ApiError, Unreachable
from hallq.model import HallConfig, Sms
from notifier.outbox import Outbox

log = logging.getLogger(__name__)

ALERT_SOURCE = "sms:gateway"
OPT_OUT_WORDS = {"TD", "T", "0000", "N", "退订", "取消"}
EVENT_TYPES = ("ticket.", "window.", "sms.", "appointment.")


def make_gateway(sms: Sms, on_report=None, on_message=None, on_state=None) -> Gateway:
    """The gateway [sms] names; a CMPP link starts connecting at once."""
    if sms.gateway == "http":
        from drivers.sms_http import HttpSms

        return HttpSms(sms.http_url, body=sms.http_body, ok_field=sms.http_ok_field, ok_value=sms.http_ok_value)
    from drivers.cmpp_client import CmppClient

    secret = os.environ.get("HALLQ_CMPP_SECRET") or sms.cmpp_secret
    return CmppClient(sms.cmpp_host, sms.cmpp_port, sms.cmpp_sp_id, secret, src_id=sms.cmpp_src_id,
                      service_id=sms.cmpp_service_id, on_report=on_report, on_message=on_message,
                      on_state=on_state).start()


class Notifier:
    def __init__(self, config: HallConfig, server: str, token: str, outbox: str, *,
                 gateway: Gateway | None = None, poll_seconds: float = 5.0, first_retry: float = 2.0,
                 max_retry: float = 60.0) -> None:
        self.config, self.sms = config, config.sms
        self.api = ApiClient(server, token, timeout=5.0)
        self.stream_api = ApiClient(server, token, timeout=20.0)
        self.outbox = Outbox(outbox)
        self.poll_seconds, self.first_retry, self.max_retry = poll_seconds, first_retry, max_retry
        self._retry = first_retry
        self._next_send = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._alert_want: tuple[bool, str] = (False, "")
        self._alert_sent: bool | None = None  # unknown until told once
        self.watch: dict[str, dict] = {}  # "day:code" -> the ticket as last read
        self.reminders: dict[str, dict] = {}  # appointment code -> the appointment as last read
        self.read_ok = False
        self._early: dict[str, str] = {}  # delivery reports that beat their submit's bookkeeping
        self._early_lock = threading.Lock()
        self.stats = {"reads": 0, "sent": 0, "dropped": 0, "failed": 0, "retries": 0, "opt_outs": 0}
        # Last: a CMPP link starts at once, and its thread calls back (_on_link, _on_report) into
        # everything above — made earlier, the first callback could find half a Notifier.
        self.gateway = gateway or make_gateway(self.sms, self._on_report, self._on_message, self._on_link)

    # ------------------------------------------------------------------ running

    def start(self) -> Notifier:
        wait_online = getattr(self.gateway, "wait_online", None)
        if wait_online is not None:  # a CMPP link just started: no false alarm before it is up
            wait_online(3.0)
        for target, name in ((self._follow, "notify-events"), (self._loop, "notify-send")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        # The sending loop is waited for; the event reader (a daemon thread) ends at the stream's
        # next heartbeat and touches nothing that closes here.
        self._threads[1].join(timeout=25)
        self.gateway.close()
        self.outbox.close()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                for ev in self.stream_api.events(retry_seconds=2.0, stop=self._stop):
                    kind = ev.get("type", "")
                    if kind == "_connected" or kind.startswith(EVENT_TYPES):
                        self._wake.set()
            except ApiError as exc:  # a token the server refuses: say so, try again later
                log.error("event stream refused: %s", exc)
                self._stop.wait(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.poll_seconds
            if self._next_send:  # the gateway failed: try again when the back-off is over
                wait = max(0.05, min(wait, self._next_send - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            try:
                self.round()
            except Exception:  # one bad round must not end the notifier
                log.exception("notifier round failed")
            self._stop.wait(0.2)  # a burst of events makes one read, not one each

    def round(self) -> None:
        """Read, queue what became due, send what is still due, tell the hall about the gateway."""
        self._replies()
        if self._read():
            self._plan()
            self._send()
        self._tell_alert()

    # ------------------------------------------------------------------ reading and planning

    def _read(self) -> bool:
        try:
            got = self.api.get("/sms/watch")
        except (Unreachable, ApiError) as exc:
            log.info("cannot read the hall: %s", exc)
            self.read_ok = False
            return False
        self.now = datetime.fromisoformat(got["now"])
        self.watch = {f"{t['day']}:{t['code']}": t for t in got["tickets"]}
        self.reminders = {}
        if self.now.hour >= self.sms.reminder_hour:
            tomorrow = (self.now.date() + timedelta(days=1)).isoformat()
            try:
                rows = self.api.get(f"/sms/reminders?day={tomorrow}")["appointments"]
            except (Unreachable, ApiError) as exc:
                log.info("cannot read tomorrow's appointments: %s", exc)
                self.read_ok = False
                return False
            self.reminders = {r["code"]: r for r in rows}
        self.read_ok = True
        self.stats["reads"] += 1
        return True

    def _plan(self) -> None:
        s = self.sms
        for key, t in self.watch.items():
            if (t["state"] == "waiting" and t["ahead"] is not None and t["ahead"] <= s.near_ahead
                    and (t.get("issued_ahead") or 0) > s.near_ahead):
                text = s.near_text.format(code=t["code"], ahead=t["ahead"], service=t["service"], link=self.link(t))
                self.outbox.add(f"near:{key}", "near", t["phone"], text)
            if t["state"] == "called" and t["window"] is not None:
                text = s.call_text.format(code=t["code"], window=t["window"], window_name=t["window_name"] or "",
                                          service=t["service"], link=self.link(t))
                self.outbox.add(f"call:{key}", "call", t["phone"], text)
        for code, a in self.reminders.items():
            slot = datetime.fromisoformat(a["slot_start"])
            text = s.reminder_text.format(date=f"{slot.month}月{slot.day}日", time=f"{slot:%H:%M}",
                                          service=a["service_name"], appointment=code, hall=self.config.name)
            self.outbox.add(f"reminder:{a['day']}:{code}", "reminder", a["phone"], text)

    def link(self, t: dict) -> str:
        """{link} in a template: the ticket's own page (the citizen reopens it from the SMS), or
        nothing when the hall has no public address a phone could open."""
        base = self.config.public_url.rstrip("/")
        return f"{base}/t/{t['id']}" if base else ""

    def still_due(self, m: dict) -> str | None:
        """None if the message should go now, else why not (the reason it is dropped)."""
        kind, _, rest = m["key"].partition(":")
        if kind == "reminder":
            day, _, code = rest.partition(":")
            if code not in self.reminders:
                return "appointment no longer booked for tomorrow, or opted out"
            return None
        t = self.watch.get(rest)
        if t is None:
            return "ticket no longer live, or opted out"
        if kind == "near" and t["state"] != "waiting":
            return f"ticket already {t['state']}"
        if kind == "call" and t["state"] != "called":
            return f"ticket already {t['state']}"
        return None

    # ------------------------------------------------------------------ sending

    def _send(self) -> None:
        if time.monotonic() < self._next_send:
            return
        for m in self.outbox.due():
            why = self.still_due(m)
            if why is not None:
                self.outbox.dropped(m["key"], why)
                self.stats["dropped"] += 1
                log.info("dropped %s: %s", m["key"], why)
                continue
            try:
                msg_id = self.gateway.send(m["phone"], m["text"], key=m["key"])
            except SendFailed as exc:
                if not exc.retry:
                    self.outbox.failed(m["key"], exc.reason)
                    self.stats["failed"] += 1
                    log.warning("SMS %s refused: %s", m["key"], exc.reason)
                    continue
                self.outbox.attempted(m["key"], exc.reason)
                self.stats["retries"] += 1
                self._gateway_down(exc.reason)
                return
            with self._early_lock:
                self.outbox.sent(m["key"], msg_id)
                for part in msg_id.split(","):
                    if part in self._early:
                        self.outbox.report(part, self._early.pop(part))
            self.stats["sent"] += 1
            self._gateway_up()

    def _gateway_down(self, reason: str) -> None:
        waiting = len(self.outbox.due())
        self._alert_want = (True, f"短信网关不可用（{reason[:80]}），{waiting} 条短信待发")
        self._next_send = time.monotonic() + self._retry
        self._retry = min(self.max_retry, self._retry * 2)

    def _gateway_up(self) -> None:
        self._retry = self.first_retry
        self._next_send = 0.0
        self._alert_want = (False, "")

    def _on_link(self, online: bool, reason: str) -> None:
        if online:
            self._gateway_up()
        else:
            self._alert_want = (True, f"短信网关离线（{reason[:80]}）")
        self._wake.set()

    def _tell_alert(self) -> None:
        active, message = self._alert_want
        if self._alert_sent == active:
            return
        body: dict[str, Any] = {"kind": "device_offline", "source": ALERT_SOURCE, "level": "red",
                                "message": message or "短信网关", "active": active}
        try:
            self.api.post("/alerts", body)
        except (Unreachable, ApiError) as exc:
            log.info("alert %s not sent: %s", ALERT_SOURCE, exc)
            return
        self._alert_sent = active

    # ------------------------------------------------------------------ from the gateway

    def _on_report(self, msg_id: str, stat: str, phone: str) -> None:
        with self._early_lock:
            if not self.outbox.report(msg_id, stat):  # came before the submit's answer was written
                self._early[msg_id] = stat

    def _on_message(self, phone: str, text: str) -> None:
        self.outbox.reply(phone, text.strip())
        self._wake.set()

    def _replies(self) -> None:
        for r in self.outbox.replies():
            if r["text"].upper() not in OPT_OUT_WORDS:
                self.outbox.reply_done(r["id"])
                continue
            try:
                self.api.post("/sms/opt-out", {"phone": r["phone"]})
            except Unreachable:
                return  # told on a later round
            except ApiError as exc:
                log.warning("opt-out of a reply refused: %s", exc)
            self.outbox.reply_done(r["id"])
            self.stats["opt_outs"] += 1

    # ------------------------------------------------------------------ for tests and the demo

    def wait_until(self, cond, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            self._wake.set()
            time.sleep(0.05)
        return False

