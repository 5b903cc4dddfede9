"""`hallq devices --config FILE [--probe]`: every configured device, and whether it answers.

Without --probe it only lists (window, role, bus, kind, port, address). With --probe it opens
each bus and asks each device something harmless: POLL for keypads and evaluators, the window's
idle text again (SET_IDLE, or SHOW_IDLE when there is none) for strips, DLE EOT status for
printers. Run it while the caller daemon is stopped: a serial port has one owner.
Exit status 1 when a probed device did not answer.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

from drivers.lsa0_strip import StripClient
from drivers.printer import TicketPrinter
from drivers.qb68 import Result
from drivers.qb68_bus import BusMaster
from drivers.transport import LineSettings, ReconnectingPort
from hallq.model import HallConfig


@dataclass
class Row:
    window: str
    role: str
    bus: str
    kind: str
    port: str
    address: str
    status: str = "-"
    idle_text: str = ""
    addr: int = -1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--probe", action="store_true", help="open each bus and ask each device for its status")
    parser.add_argument("--timeout", type=float, default=0.1, help="answer timeout per try in seconds (default 0.1)")


def device_rows(cfg: HallConfig) -> list[Row]:
    """One row per configured device, windows in number order, then kiosk printers and ID card readers."""
    rows: list[Row] = []
    for number in sorted(cfg.windows):
        w = cfg.windows[number]
        for role in ("keypad", "evaluator", "strip"):
            ref = getattr(w, role)
            if ref is None:
                continue
            bus = cfg.buses.get(ref.bus)
            rows.append(Row(str(number), role, ref.bus, bus.kind if bus else "?", bus.port if bus else "?",
                            f"0x{ref.address:02X}", idle_text=w.idle_text, addr=ref.address))
    for kiosk in cfg.kiosks.values():
        if kiosk.printer is not None:
            rows.append(Row(kiosk.id, "printer", "-", "escpos", kiosk.printer.url, "-"))
        if kiosk.id_reader is not None:
            rows.append(Row(kiosk.id, "id_reader", "-", "idcard-sam", kiosk.id_reader.url, "-"))
    return rows


def probe(cfg: HallConfig, rows: list[Row], timeout: float = 0.1) -> None:
    """Fill in each row's status by talking to the device."""
    for bus in cfg.buses.values():
        mine = [r for r in rows if r.bus == bus.name and r.role != "printer"]
        if not mine:
            continue
        port = ReconnectingPort(bus.port, LineSettings(baudrate=bus.baudrate), name=bus.name, retry_interval=3600)
        if not port.open():
            for r in mine:
                r.status = f"bus unavailable: {port.last_error}"
            port.close()
            continue
        if bus.kind == "qb68":
            # No queue behind a probe: any key pressed meanwhile is answered "not allowed now".
            master = BusMaster(port, lambda _e: Result.REJECTED, poll_interval=3600, poll_timeout=timeout,
                               name=bus.name)
            master.start()
            try:
                for r in mine:
                    status = next((s for s in (master.poll(r.addr) for _ in range(3)) if s is not None), None)
                    if status is None:
                        r.status = "offline (no STATUS to 3 polls)"
                    else:
                        flags = [f.name.lower() for f in type(status.flags) if f and f in status.flags and f.name]
                        r.status = "online" + (f" ({', '.join(flags)})" if flags else "")
            finally:
                master.stop()
        else:
            client = StripClient(port, ack_timeout=timeout, name=bus.name).start()
            try:
                for r in mine:
                    if r.idle_text:
                        client.set_idle(r.addr, r.idle_text)
                        client.flush()
                        ok = bool(client.online(r.addr))
                    else:
                        ok = client.ping(r.addr)
                    r.status = "online" if ok else "offline (no answer)"
            finally:
                client.stop()
    for kiosk in cfg.kiosks.values():
        if kiosk.printer is None:
            continue
        row = next(r for r in rows if r.window == kiosk.id and r.role == "printer")
        pr = TicketPrinter(kiosk.printer, name=f"printer {kiosk.id}")
        try:
            st = pr.status()
        finally:
            pr.close()
        if not st.supported:
            row.status = "status unknown (write-only)"
        elif not st.answered:
            row.status = f"offline ({st.detail})"
        else:
            row.status = "online" + (f" ({st.problem})" if st.problem else "")
    for kiosk in cfg.kiosks.values():
        if kiosk.id_reader is None:
            continue
        from drivers.idcard import Status
        from drivers.idcard_reader import IdCardReader

        row = next(r for r in rows if r.window == kiosk.id and r.role == "id_reader")
        port = ReconnectingPort(kiosk.id_reader.url, LineSettings(baudrate=kiosk.id_reader.baudrate))
        reader = IdCardReader(port, answer_timeout=max(timeout, 0.1), name=f"ID card reader {kiosk.id}")
        try:
            sam = reader.status() if port.open() else None
        finally:
            port.close()
        row.status = ("online" if sam == Status.SUCCESS else "offline (no answer)" if sam is None
                      else f"offline (SAM status 0x{int(sam):02X})")


def format_table(rows: list[Row], with_status: bool) -> str:
    head = ["window", "role", "bus", "kind", "port", "address"] + (["status"] if with_status else [])
    data = [[r.window, r.role, r.bus, r.kind, r.port, r.address] + ([r.status] if with_status else []) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *data, strict=False)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip() for row in [head, *data]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hallq.config import load_or_exit

    cfg = load_or_exit(args.config)
    rows = device_rows(cfg)
    if args.probe:
        logging.getLogger("drivers").setLevel(logging.ERROR)  # the table says it; no log noise
        probe(cfg, rows, args.timeout)
    print(format_table(rows, args.probe))
    if args.probe and any(not r.status.startswith(("online", "status unknown")) for r in rows):
        return 1
    return 0
