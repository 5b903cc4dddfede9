"""`hallq` command line: one subcommand per job, each living in the module that owns the job.

A subcommand module exposes `add_arguments(parser)` and `run(args) -> int`. Modules are imported
only when their subcommand runs, so `hallq check-config` does not pull in pygame or Flask.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check-config": ("hallq.commands.check_config", "validate a hall configuration file"),
    "serve": ("server.commands.serve", "run the queue server (production WSGI server)"),
    "demo": ("hallq.commands.demo", "run the demo hall with simulated citizens and clerks"),
    "user": ("server.commands.user", "add, list and manage web users (admin, supervisor, clerk)"),
    "sim": ("drivers.sim.cli", "start simulated devices on pseudo-terminals and print their ports"),
    "devices": ("drivers.devices_cli", "list configured devices and their live status"),
    "kiosk": ("kiosk.cli", "run the touch ticket kiosk (pygame) against the server's API"),
    "caller": ("caller.cli", "run the window devices: keypads, evaluators and LED strips, joined to the server"),
    "notify": ("notifier.cli", "send SMS 即将到号, call and appointment reminder messages through the [sms] gateway"),
    "display": ("caller.display", "the hall's big screen: latest calls, waiting counts, clock and notice; speaks calls"),
    "county": ("county.cli", "the county server (PostgreSQL): halls ship their event logs to it; its registry"),
    "ship": ("server.commands.ship", "ship this hall's event log to the county server (store-and-forward)"),
    "audit": ("server.commands.audit", "verify the SM3 chain over ratings, case steps and events; purge by retention"),
    "province": ("province.cli", "forward ratings and 差评 case steps to the provincial 好差评 platform; reconcile"),
    "simulate": ("server.simulate.cli", "simulate hall days: allocation policies, waits and ticket estimates"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hallq", description="Queue, call and rating system for service halls")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Arguments are added lazily in main(), once we know which subcommand runs.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.print_help() if not argv or argv[0] in ("-h", "--help") else parser.parse_args(argv)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"hallq {name}", description=COMMANDS[name][1])
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
