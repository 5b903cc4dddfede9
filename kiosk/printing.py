"""From an issued ticket to paper: the TicketPrint, the status gate and the printer alerts.

The datasheet's rule (§4): ask the printer before printing. When it cannot print (paper out,
cover open, no answer) the number the server issued is still the citizen's — the kiosk shows it
on screen with its QR code, says why in plain words, and tells the staff through an alert. Paper
near end prints and raises one warning. Alerts are cleared when the printer recovers.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from drivers.printer import Paper, PrinterStatus, PrintResult, TicketPrinter
from drivers.ticket_layout import TicketPrint
from hallq.client import ApiClient
from hallq.waits import wait_text

log = logging.getLogger(__name__)


def public_link(public_url: str, page: str) -> str:
    """The address a citizen's phone opens: the public base URL plus the ticket's page (/t/<id>)."""
    return urljoin(public_url.rstrip("/") + "/", page.lstrip("/"))


def ticket_marks(ticket: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What sets this ticket apart, as (marks printed large, lines under them): 优先 for a priority
    class ahead of appointments (绿色通道), 预约, 一件事 with its steps."""
    marks, notes = [], []
    priority = ticket.get("priority") or "normal"
    if priority == "appointment":
        marks.append("预约")
        notes.append("预约号：在预约时段内优先叫号")
    elif priority != "normal":
        marks.append("优先")
        notes.append("绿色通道：优先叫号办理")
    step = ticket.get("step")
    if step:
        marks.append("一件事")
        notes.append(f"一件事：{step['of']} 个环节依次办理，无需重新取号")
    return tuple(marks), tuple(notes)


def ticket_print(ticket: dict, hall: dict, materials: list[str], public_url: str) -> TicketPrint:
    """What goes on paper, all of it from the server's answer (never a locally made number)."""
    marks, notes = ticket_marks(ticket)
    return TicketPrint(
        hall_name=hall.get("name", ""),
        matter_name=ticket["matter"]["name"],
        number=ticket["code"],
        waiting_ahead=int(ticket.get("waiting_ahead") or 0),
        wait_text=wait_text(ticket["position"]) if ticket.get("position") else "",
        issued_at=datetime.fromisoformat(ticket["issued_at"]),
        qr_payload=public_link(public_url, ticket["page"]),
        materials=tuple(materials),
        footer=f"监督电话：{hall['hotline']}" if hall.get("hotline") else "",
        marks=marks,
        notes=notes,
        wait_place=hall.get("waiting_area", ""),
        no_show_rule=hall.get("no_show_rule", ""),
    )


def problem_text(status: PrinterStatus | None) -> str:
    """Why the printer cannot print, in words a citizen understands."""
    if status is None:
        return "本机不打印号票"
    if status.paper == Paper.OUT:
        return "打印机缺纸"
    if status.cover_open:
        return "打印机盖未关好"
    if not status.answered:
        return "打印机未连接"
    return "打印机故障"


def alert_kinds(status: PrinterStatus) -> dict[str, tuple[str, str]]:
    """The alerts a status calls for: kind -> (level, message), as POST /api/v1/alerts takes them."""
    if not status.supported:
        return {}
    if not status.answered:
        return {"device_offline": ("red", "取号机打印机无应答（离线或断开）")}
    out: dict[str, tuple[str, str]] = {}
    if status.paper == Paper.OUT:
        out["printer_paper_out"] = ("red", "取号机打印机缺纸")
    elif status.paper == Paper.NEAR_END:
        out["printer_paper_low"] = ("warning", "取号机打印纸将尽，请及时更换")
    if status.cover_open or status.error:
        out["printer_error"] = ("red", "取号机打印机盖打开" if status.cover_open else "取号机打印机故障")
    elif status.offline and status.paper != Paper.OUT:
        out["device_offline"] = ("red", "取号机打印机离线")
    return out


class PrinterAlerts:
    """Reports each condition once when it starts and clears it when it ends.

    Posting happens on its own thread so a slow server never delays a ticket; a report that
    fails is retried on the next status and every `retry_seconds` until it is confirmed (the
    printer reports only changes, so a paper-out that met a server blip would otherwise never
    reach the staff), because only confirmed reports count as sent.
    """

    def __init__(self, api: ApiClient, source: str, retry_seconds: float = 30.0,
                 kinds: Callable[[Any], dict[str, tuple[str, str]]] | None = None) -> None:
        self.api = api
        self.kinds = kinds or alert_kinds  # another device's states (the ID card reader's) reuse this
        self.source = source
        self.retry_seconds = retry_seconds
        self.reported: dict[str, tuple[str, str]] = {}
        self._wanted: dict[str, tuple[str, str]] = {}
        self.posts = 0
        self._queue: queue.Queue = queue.Queue()  # statuses, None to stop
        self._thread = threading.Thread(target=self._run, daemon=True, name="kiosk-alerts")
        self._thread.start()

    def update(self, status: Any) -> None:
        self._queue.put(status)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5.0)

    def idle(self) -> bool:
        """Nothing left to post (tests wait on this)."""
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            try:
                status = self._queue.get(timeout=self.retry_seconds)
            except queue.Empty:
                if self._wanted != self.reported:
                    self._sync(self._wanted)
                continue
            try:
                if status is None:
                    return
                self._wanted = self.kinds(status)
                self._sync(self._wanted)
            finally:
                self._queue.task_done()

    def _sync(self, wanted: dict[str, tuple[str, str]]) -> None:
        changes = [(k, True, v) for k, v in wanted.items() if self.reported.get(k) != v]
        changes += [(k, False, v) for k, v in self.reported.items() if k not in wanted]
        for kind, active, (level, message) in changes:
            body = {"kind": kind, "source": self.source, "level": level, "message": message, "active": active}
            try:
                self.api.post("/alerts", body)
                self.posts += 1
            except Exception as exc:  # Unreachable, ApiError, a garbled answer: retried, never fatal
                log.warning("alert %s for %s not reported: %s", kind, self.source, exc)
                continue
            if active:
                self.reported[kind] = (level, message)
            else:
                self.reported.pop(kind, None)


@dataclass(frozen=True)
class Printed:
    printed: bool
    note: str  # "" when printed; else what the screen tells the citizen
    bytes_sent: int = 0
    job: PrintResult | None = None  # the printer's answer, for `TicketOutput.whole`


class TicketOutput:
    """The kiosk's printer (or none): status before issuing, then print or explain."""

    def __init__(self, printer: TicketPrinter | None) -> None:
        self.printer = printer

    def check(self) -> PrinterStatus | None:
        """Status within the printer's deadline (500 ms); None when the kiosk has no printer."""
        if self.printer is None:
            return None
        try:
            return self.printer.status()
        except Exception as exc:  # a driver fault must not cost the citizen the number
            log.exception("printer status failed")
            return PrinterStatus(False, detail=f"status failed: {exc}")

    def output(self, ticket: TicketPrint, status: PrinterStatus | None) -> Printed:
        """Print when the status allows; otherwise say why and how to keep the number."""
        if self.printer is not None and status is not None and status.can_print:
            result = self.printer.print_ticket(ticket, check_status=False)
            if result.printed:
                return Printed(True, "", result.bytes_sent, result)
            status = result.status
        return Printed(False, f"{problem_text(status)}，请拍照或扫码保存您的号码")

    def whole(self, printed: Printed) -> Printed | None:
        """Once the paper should be out: None if the ticket printed whole, else what to tell the
        citizen (paper that ran out mid-ticket, a printer pulled or opened meanwhile). Waits for the
        paper, so the kiosk calls it off its UI thread."""
        if self.printer is None or printed.job is None:
            return None
        try:
            status = self.printer.printed_whole(printed.job)
        except Exception as exc:
            log.exception("printer status after printing failed")
            status = PrinterStatus(False, detail=f"status failed: {exc}")
        if status.can_print:
            return None
        return Printed(False, f"号票未打印完整（{problem_text(status)}），请拍照或扫码保存您的号码",
                       printed.bytes_sent)

    def close(self) -> None:
        if self.printer is not None:
            self.printer.close()
