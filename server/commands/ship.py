"""`hallq ship`: ship a hall's event log to the county on its own (`hallq serve` does it in a
thread when the config has `[county]`). Reads the hall's database read-only; runs until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal

from hallq.config import load_or_exit

from .bounded import bounded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML) with a [county] table")
    parser.add_argument("--db", required=True, help="the hall's SQLite database (read only)")
    parser.add_argument("--batch", type=bounded(1, 5000, "events", whole=True), default=None, help="events per request (1..5000, default 500)")


def run(args: argparse.Namespace) -> int:
    from ..shipper import BATCH, Shipper

    config = load_or_exit(args.config)
    if config.county is None:
        print(f"hallq ship: {args.config} has no [county] table (url and token)")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    shipper = Shipper(args.db, config.county.url, config.county.token, batch=args.batch or BATCH)
    signal.signal(signal.SIGTERM, lambda *_: shipper.halt())
    print(f"hallq ship: {config.name} → {config.county.url}", flush=True)
    try:
        shipper.run()
    except KeyboardInterrupt:
        pass
    finally:
        shipper.stop()
    return 0
