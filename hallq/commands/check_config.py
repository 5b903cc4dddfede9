"""`hallq check-config FILE...`: validate hall configs before anything is started with them."""

from __future__ import annotations

import argparse
import sys

from hallq.config import ConfigError, load_config
from hallq.model import HallConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", metavar="FILE", nargs="+", help="hall configuration (TOML)")


def run(args: argparse.Namespace) -> int:
    """Check every file (not just up to the first bad one); exit 1 if any is bad."""
    status = 0
    for path in args.files:
        try:
            hall = load_config(path)
        except ConfigError as exc:
            status = 1
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            count = len(exc.problems)
            print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        else:
            print(f"{path}: ok ({summary(hall)})")
    return status


def summary(hall: HallConfig) -> str:
    devices = sum(1 for w in hall.windows.values() for d in (w.keypad, w.evaluator, w.strip) if d)
    counts = [
        (len(hall.windows), "window"),
        (len(hall.services), "service"),
        (len(hall.bundles), "bundle"),
        (len(hall.buses), "bus"),
        (devices, "device"),
        (len(hall.kiosks), "kiosk"),
        (len(hall.staff), "staff"),
        (len(hall.tokens), "token"),
    ]
    plural = {"bus": "buses", "staff": "staff"}
    return ", ".join(f"{n} {noun if n == 1 else plural.get(noun, noun + 's')}" for n, noun in counts)
