"""`hallq kiosk`: the touch ticket kiosk, a client of the server's public HTTP API.

The kiosk reads the hall config only for its own entry ([[kiosks]]: name and printer) and its
token; hall name, matters, waits and materials come from the server, so it runs on another machine.

Staff PIN for 绿色通道: the config has no field for it, so it comes from HALLQ_KIOSK_PIN (digits).
Without it the kiosk has no staff button and issues green tickets only when the server's rule
says so (an ID number of someone at or above rules.elderly_age).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from dataclasses import replace
from urllib.parse import urlsplit

from hallq.config import load_or_exit
from hallq.model import HallConfig, Kiosk

log = logging.getLogger("hallq.kiosk")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--kiosk", help="kiosk id from [[kiosks]] (default: the first)")
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="server base URL")
    parser.add_argument("--public-url", help="base URL citizens' phones reach for the ticket page "
                                             "(QR code); default: the config's hall.public_url")
    parser.add_argument("--testing", action="store_true",
                        help="a test machine: accept a loopback or missing public URL (the QR then opens --server)")
    parser.add_argument("--token", help="kiosk API token (default: HALLQ_KIOSK_TOKEN, else the config's "
                                        "kiosk token in the same position as this kiosk)")
    orient = parser.add_mutually_exclusive_group()
    orient.add_argument("--portrait", dest="portrait", action="store_true", default=True,
                        help="1080×1920 (default)")
    orient.add_argument("--landscape", dest="portrait", action="store_false", help="1920×1080")
    parser.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    parser.add_argument("--printer", help="printer URL overriding the config's (a pty, /dev/usb/lp0, tcp://…)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="return to the start screen after")
    parser.add_argument("--no-voice", action="store_true", help="no spoken prompts")


def pick_kiosk(config: HallConfig, kiosk_id: str | None) -> Kiosk:
    if kiosk_id:
        if kiosk_id not in config.kiosks:
            raise SystemExit(f"no kiosk {kiosk_id!r} in {config.source} (have: {', '.join(config.kiosks) or 'none'})")
        return config.kiosks[kiosk_id]
    if not config.kiosks:
        return Kiosk("K1", "取号机")
    return next(iter(config.kiosks.values()))


def is_loopback(url: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost, 0.0.0.0)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def pick_public_url(config: HallConfig, explicit: str | None, server: str, testing: bool) -> str:
    """The base of every ticket's QR code: --public-url, else hall.public_url; a loopback address
    (or none, which would fall back to --server) is refused unless `testing`: a printed QR code that
    opens http://127.0.0.1/… works on no citizen's phone."""
    url = explicit or config.public_url or server
    if not testing and is_loopback(url):
        where = "--public-url" if explicit else "hall.public_url"
        said = f"is {url}" if explicit or config.public_url else f"is not set, so it would be --server {url}"
        raise SystemExit(
            f"hallq kiosk: {config.source}: {where} {said}, a loopback address: the QR code on every ticket "
            f"would open {url.rstrip('/')}/t/… which no citizen's phone can reach. Set hall.public_url in "
            f"{config.source} to the address phones reach (e.g. \"https://zwfw.example.gov.cn\"), or pass "
            "--public-url; on a test machine pass --testing.")
    return url


def pick_token(config: HallConfig, kiosk: Kiosk, explicit: str | None) -> str | None:
    """--token, HALLQ_KIOSK_TOKEN, the kiosk token that names this kiosk (`kiosk = "K1"`), else the
    n-th kiosk-role token for the n-th kiosk."""
    if explicit or os.environ.get("HALLQ_KIOSK_TOKEN"):
        return explicit or os.environ["HALLQ_KIOSK_TOKEN"]
    named = [t.token for t in config.tokens if t.role == "kiosk" and t.kiosk == kiosk.id]
    if named:
        return named[0]
    tokens = [t.token for t in config.tokens if t.role == "kiosk" and t.kiosk is None]
    if not tokens:
        return None
    ids = list(config.kiosks)
    index = ids.index(kiosk.id) if kiosk.id in ids else 0
    return tokens[min(index, len(tokens) - 1)]


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_or_exit(args.config)
    public_url = pick_public_url(config, args.public_url, args.server, args.testing)
    from drivers.printer import TicketPrinter
    from hallq.client import ApiClient
    from hallq.fonts import FontMissing, find_cjk_font
    from hallq.model import Printer
    from kiosk.app import KioskApp
    from kiosk.printing import PrinterAlerts, TicketOutput
    from kiosk.ui import LANDSCAPE, PORTRAIT, KioskUI
    from kiosk.voice import Voice

    try:
        font = find_cjk_font()
    except FontMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    kiosk = pick_kiosk(config, args.kiosk)
    api = ApiClient(args.server, pick_token(config, kiosk, args.token), timeout=5.0)
    printer_cfg = kiosk.printer
    if args.printer:
        printer_cfg = replace(printer_cfg, url=args.printer) if printer_cfg else Printer(url=args.printer)
    alerts = PrinterAlerts(api, f"kiosk:{kiosk.id}")
    printer = None
    if printer_cfg is not None:
        printer = TicketPrinter(printer_cfg, on_status=alerts.update, name=f"kiosk {kiosk.id} printer")
        printer.watch(10.0)  # alerts clear when paper is refilled, even with nobody printing
    pin = os.environ.get("HALLQ_KIOSK_PIN") or None
    if pin and not pin.isdigit():
        print("HALLQ_KIOSK_PIN must be digits (typed on the on-screen keypad)", file=sys.stderr)
        return 2
    voice = Voice(enabled=not args.no_voice)
    appts = config.appointments
    app = KioskApp(api, TicketOutput(printer), public_url=public_url, staff_pin=pin,
                   hall_name=config.name,
                   voice=voice, idle_seconds=args.idle_seconds,
                   checkin_window=(appts.checkin_before_minutes, appts.checkin_after_minutes))
    reader = None
    if kiosk.id_reader is not None:  # 身份证取号
        from kiosk.idcard import ReaderLink

        reader = ReaderLink(kiosk.id_reader, app.cards, api, kiosk.id).start()
    ui = KioskUI(app, font, size=PORTRAIT if args.portrait else LANDSCAPE, fullscreen=not args.windowed,
                 kiosk_name=kiosk.name).start()
    log.info("kiosk %s on %s, printer %s", kiosk.id, args.server, printer_cfg.url if printer_cfg else "none")
    try:
        ui.run()
    except KeyboardInterrupt:
        pass
    finally:
        ui.close()
        if reader is not None:
            reader.close()
        voice.close()
        app.output.close()
        alerts.close()
    return 0
