"""`hallq notify --config F [--server URL] [--token T] [--outbox FILE]`: the SMS notifier.

Sends 即将到号, call and reminder messages through the gateway in the config's [sms] table, talking
to the hall only through its HTTP API and event stream, so it runs on any machine that reaches both.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML) with an [sms] table")
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="hallq server URL")
    parser.add_argument("--token", help='API token (default: the config\'s first token with role "notifier")')
    parser.add_argument("--outbox", default="var/sms-outbox.db", help="the outbox database (kept across restarts)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every message sent or dropped")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hallq.config import load_or_exit
    from notifier.daemon import Notifier

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = load_or_exit(args.config)
    if not config.sms.enabled:
        print(f"hallq notify: {args.config} has no [sms] table with enabled = true", file=sys.stderr)
        return 2
    token = args.token or next((t.token for t in config.tokens if t.role == "notifier"), None)
    if not token:
        print('hallq notify: no --token given and the config has no token with role "notifier"', file=sys.stderr)
        return 2
    Path(args.outbox).parent.mkdir(parents=True, exist_ok=True)
    notifier = Notifier(config, args.server, token, args.outbox).start()
    print(f"hallq notify: {config.name}, server {args.server}, gateway {config.sms.gateway}. Ctrl-C stops.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    notifier.stop()
    print("hallq notify: stopped.")
    return 0
