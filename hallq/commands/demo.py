"""`hallq demo`: the demo hall on 127.0.0.1 with simulated citizens and clerks on a fast clock.

By default the window side runs as in a real hall: simulated keypads, evaluators and LED strips
on ptys (drivers.sim), the caller daemon joining them to the server, clerks pressing keys and
citizens pressing evaluator keys, and the hall display in a window when there is a screen.
`--no-devices` runs the HTTP-only demo (clerks and ratings straight on the API). A fresh database
starts with `--history-days` (default 30) of past working days played through the engine
(hallq/demo_history.py), so reports, trends, 红黑榜 and the case ledger have data from the start.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "demo-hall.toml"
DEMO_LEAD_MINUTES = 2  # the fast clock starts this long before opening: the door crowd comes in 12 s at ×10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="hall configuration (default: the demo hall)")
    parser.add_argument("--db", default=str(REPO / "var" / "demo.db"), help="SQLite file (fresh each run unless --keep-db)")
    parser.add_argument("--keep-db", action="store_true", help="continue the existing demo database")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--speed", type=float, default=10.0, help="hall seconds per real second (1 = real time)")
    parser.add_argument("--per-day", type=int, default=700, help="simulated citizens per day")
    parser.add_argument("--history-days", type=int, default=30,
                        help="calendar days of past hall days to seed a fresh database with (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=0, help="stop after this many real seconds (0: run until Ctrl-C)")
    parser.add_argument("--no-devices", action="store_true",
                        help="no simulated keypads, evaluators and strips: clerks act on the HTTP API")
    parser.add_argument("--no-display", action="store_true", help="do not open the hall display")
    parser.add_argument("--mute", action="store_true", help="the hall display does not speak the calls")
    from server import county_link  # with [county] the demo hall is linked as `hallq serve` links one

    county_link.add_arguments(parser)


# Demo web users (username, password, role, staff). Clerks 1038/1039 share windows 38 (帮办代办) and
# 39 (办不成事反映) with their simulated selves; 1041 has no simulated window and signs in where one is free.
DEMO_USERS = [
    ("admin", "admin-demo", "admin", None),
    ("supervisor", "supervisor-demo", "supervisor", None),
    ("c1038", "clerk-demo", "clerk", "1038"),
    ("c1039", "clerk-demo", "clerk", "1039"),
    ("c1041", "clerk-demo", "clerk", "1041"),
]


def seed_users(store, config) -> list[tuple[str, str, str]]:
    """Add the demo users this hall's staff list allows (skipping ones already there)."""
    from server.users import add_user, get_user

    added = []
    for username, password, role, staff in DEMO_USERS:
        if staff is not None and staff not in config.staff:
            continue
        if get_user(store, username) is None:
            add_user(store, config, username, password, role, staff=staff)
        added.append((username, password, role))
    return added


def token(config, role: str) -> str | None:
    return next((t.token for t in config.tokens if t.role == role), None)


def run(args: argparse.Namespace) -> int:

    from hallq.config import load_or_exit
    from hallq.demo_people import start_people
    from server import county_link
    from server.app import create_app, stop_app
    from server.clock import ScaledClock, SystemClock
    from server.serving import BackgroundServer

    config = load_or_exit(args.config)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    db = Path(args.db)
    tz = ZoneInfo(config.rules.timezone)
    history = None
    if not args.keep_db:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        if args.history_days > 0:
            from hallq.demo_history import cached_history

            db.parent.mkdir(parents=True, exist_ok=True)
            print(f"hallq demo: the hall's last {args.history_days} days (played through the engine once a day, "
                  "about a minute; then cached)…", flush=True)
            history = cached_history(args.config, config, db, datetime.now(tz).date(), args.history_days,
                                     args.per_day, args.seed)
    if args.speed == 1:
        clock = SystemClock(tz)
    else:
        opening = datetime.combine(demo_day(datetime.now(tz).date(), config.hours.weekdays),
                                   config.hours.sessions[0].start, tz)
        clock = ScaledClock(opening - timedelta(minutes=DEMO_LEAD_MINUTES), args.speed)
    app = create_app(config, db, clock=clock)
    users = seed_users(app.config["ENGINE"].store, config)
    unlink = county_link.start(app, config, str(db), args)  # nothing without [county]
    server = BackgroundServer(app, host=args.host, port=args.port)
    base = f"http://{args.host}:{server.port}"
    server.start()
    stop = threading.Event()
    caller, kiosk = token(config, "caller"), token(config, "kiosk")
    if not caller or not kiosk:
        print("hallq demo: the config needs a caller and a kiosk token for the simulated people")
        return 2
    devices = daemon = display = None
    if not args.no_devices:
        devices, daemon = start_devices(config, base, caller, args.speed)
    start_people(base, config, clock.now, args.speed, stop, clerk_token=caller, kiosk_token=kiosk,
                 rate_token=caller, per_day=args.per_day, seed=args.seed, devices=devices)
    sms_sim, notifier = start_sms(config, base, args.db)
    platform, province = start_province(app, config, args.db)
    if not args.no_display:
        display = start_display(args, base)
    print(f"hallq demo: {config.name} at {base}/  (hall clock ×{args.speed:g}, starts {clock.now():%H:%M})")
    print(f"  API:        {base}/api/v1/services   OpenAPI: {base}/api/v1/openapi.json")
    print(f"  live queue: curl -H 'Authorization: Bearer {token(config, 'display') or caller}' {base}/api/v1/queue")
    print(f"  web pages:  {base}/login   board {base}/board   clerk {base}/clerk   reports {base}/reports"
          f"   admin {base}/admin")
    print("  sign in as: " + ", ".join(f"{u}/{pw}" for u, pw, _ in users))
    if history and history["days"]:
        print(f"  history:    {history['days']} working days {history['first']} – {history['last']}, "
              f"{history['tickets']} tickets; {history['ratings']} on-site ratings, "
              f"{history['ratings_refused_next_called']} presses refused after the next call (先评价后办事)")
    if sms_sim is not None:
        print(f"  SMS:        simulated CMPP gateway 127.0.0.1:{sms_sim.cmpp_port}; messages it received: {sms_sim.url}/")
    if platform is not None:
        print(f"  province:   simulated 好差评 platform {platform_url(platform)}/counts?day={clock.now():%Y-%m-%d}; "
              f"the link's state in {base}/api/v1/health")
        past = f"; the history first, e.g. ?day={history['last']}, in about half a minute" if history and history["days"] else ""
        print(f"              (today's first ratings arrive a minute or so in, once the first services end{past})")
    if devices is not None:
        ports = "  ".join(f"{name} {path}" for name, kind, path in devices.rows if kind != "escpos")
        print(f"  devices:    simulated on ptys ({ports}); caller daemon running; clerks press keypad keys")
    if config.county is not None:
        print(f"  county:     linked to {config.county.url} (event log shipped{' by `hallq ship`' if args.no_ship else ''}; "
              "catalogue, referrals, cases and 附近大厅 followed)")
    print("  Ctrl-C stops.", flush=True)
    try:
        deadline = time.monotonic() + args.duration if args.duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop.set()
    unlink()
    if display is not None:
        display.terminate()
        display.wait(5)
    if daemon is not None:
        daemon.stop()
    if devices is not None:
        devices.close()
    if notifier is not None:
        notifier.stop()
        sms_sim.stop()
    if province is not None:
        province.stop()
        platform.stop()
    stop_app(app)
    server.stop()
    print("hallq demo: stopped.")
    return 0


def demo_day(today, weekdays: tuple[int, ...]):
    """The hall day the fast clock plays: today, or on a rest day the next working day (a demo or its
    test on a Saturday would otherwise watch a closed hall)."""
    from hallq.demo_history import working_days_before

    return next(d for n in range(1, 15) for d in working_days_before(today + timedelta(days=n), 1, weekdays))


def start_devices(config, base: str, caller_token: str, speed: float):
    """Simulated devices for every bus (ptys) and the caller daemon joined to them."""
    from caller.daemon import CallerDaemon
    from drivers.sim.cli import SimHall

    devices = SimHall(config)
    # The evaluator's prompt lasts rating_prompt_seconds of hall time, like the server's window for it.
    prompt = max(1.0, config.rules.rating_prompt_seconds / speed)
    for line in devices.qb68.values():
        for dev in line.devices.values():
            if hasattr(dev, "prompt_seconds"):
                dev.prompt_seconds = prompt
    daemon = CallerDaemon(config, base, caller_token, ports=devices.ports).start()
    daemon.wait_online(10)
    return devices, daemon


def start_sms(config, base: str, db: str):
    """A simulated SMS gateway (CMPP 2.0, with the page of what it received, served by the simulator
    itself) and the notifier sending to it, when the hall has [sms] enabled and a notifier token."""
    import dataclasses

    from drivers.sim.smsgw import SmsGatewaySim
    from notifier.daemon import Notifier

    notifier_token = token(config, "notifier")
    if not config.sms.enabled or not notifier_token:
        return None, None
    sms = config.sms
    sim = SmsGatewaySim(sp_id=sms.cmpp_sp_id, secret=sms.cmpp_secret or "demo").start()
    local = dataclasses.replace(config, sms=dataclasses.replace(sms, gateway="cmpp", cmpp_host="127.0.0.1",
                                                                cmpp_port=sim.cmpp_port,
                                                                cmpp_secret=sms.cmpp_secret or "demo"))
    outbox = Path(db).with_name("demo-sms-outbox.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(outbox) + suffix).unlink(missing_ok=True)
    return sim, Notifier(local, base, notifier_token, str(outbox)).start()


def start_province(app, config, db: str):
    """The provincial 好差评 platform simulator on 127.0.0.1 and the hall forwarding its ratings and
    差评 case steps to it (server/province_link.py): the hall's [province], or the national shape."""
    import dataclasses

    from hallq.model import ProvinceLink
    from province.simulator import Platform
    from server.province_link import ProvinceForwarding, outbox_path

    platform = Platform()
    url = platform.start()
    link = config.province or ProvinceLink(url, "demo-province")
    outbox = outbox_path(db)
    for suffix in ("", "-wal", "-shm"):
        Path(str(outbox) + suffix).unlink(missing_ok=True)
    province = ProvinceForwarding(app, db, dataclasses.replace(link, url=url, poll_seconds=1)).start()
    app.config["PROVINCE"] = province
    return platform, province


def platform_url(platform) -> str:
    return f"http://127.0.0.1:{platform.server.server_address[1]}"


def start_display(args: argparse.Namespace, base: str) -> subprocess.Popen | None:
    """The hall display in its own process (pygame wants the main thread), when there is a screen."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("SDL_VIDEODRIVER")):
        print("  display:    no screen here (set DISPLAY, or SDL_VIDEODRIVER=dummy): hall display not started")
        return None
    cmd = [sys.executable, "-m", "hallq.cli", "display", "--config", args.config, "--server", base, "--windowed"]
    if args.mute:
        cmd.append("--mute")
    print("  display:    hall display started in a window (Esc closes it)")
    return subprocess.Popen(cmd, cwd=REPO)
