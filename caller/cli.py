"""`hallq caller --config F [--server URL] [--token T] [--port BUS=URL …] [--voice]`: the caller daemon.

Runs the QB-68 and LS-A0 buses named in the config (ports overridable here, e.g. to point at
`hallq sim`'s ptys) and talks to the server only through its HTTP API and event stream.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="hallq server URL")
    parser.add_argument("--token", help="API token (default: the config's first caller token)")
    parser.add_argument("--port", action="append", default=[], metavar="BUS=URL",
                        help="override a bus's port, e.g. callers=/dev/ttyUSB3 (repeatable)")
    parser.add_argument("--voice", action="store_true", help="also announce calls on this PC's speakers")
    parser.add_argument("--voice-dir", help="folder of recorded clips (default: config/voice)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every key press and resync")


def parse_ports(items: list[str], known: set[str]) -> dict[str, str]:
    """BUS=URL pairs; raises ValueError naming a bus the config does not have."""
    ports = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"--port {item!r}: expected BUS=URL")
        if name not in known:
            raise ValueError(f"--port {item!r}: no bus {name!r} in the config (buses: {', '.join(sorted(known))})")
        ports[name] = url
    return ports


def run(args: argparse.Namespace) -> int:
    from caller.daemon import CallerDaemon
    from hallq.config import load_or_exit

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = load_or_exit(args.config)
    token = args.token or next((t.token for t in config.tokens if t.role == "caller"), None)
    if not token:
        print("hallq caller: no --token given and the config has no token with role \"caller\"", file=sys.stderr)
        return 2
    try:
        ports = parse_ports(args.port, set(config.buses))
    except ValueError as exc:
        print(f"hallq caller: {exc}", file=sys.stderr)
        return 2
    announce = None
    if args.voice:
        from caller.voice import Voice

        voice = Voice(clip_dir=args.voice_dir).start()
        announce = voice.announce
    daemon = CallerDaemon(config, args.server, token, ports=ports, announce=announce).start()
    for name, bus in config.buses.items():
        print(f"  {name:10} {bus.kind:6} {ports.get(name, bus.port)}")
    print(f"hallq caller: {config.name}, server {args.server}. Ctrl-C stops.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    daemon.stop()
    print("hallq caller: stopped.")
    return 0
