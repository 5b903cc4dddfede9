"""`hallq province forward|reconcile|rejected|resend|sim`: the provincial 好差评 platform link
(docs/province.md)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    f = sub.add_parser("forward", help="forward ratings and 差评 case steps through the outbox until stopped")
    r = sub.add_parser("reconcile", help="counts per day and hall, hallq vs platform, differences listed")
    for p in (f, r):
        p.add_argument("--config", required=p is f, help="hall configuration (hall code, matter names)")
        p.add_argument("--db", required=p is f, help="the hall's SQLite database (read only)")
        p.add_argument("--outbox", required=p is f, help="the forwarder's own SQLite outbox")
        p.add_argument("--url", required=True, help="the platform's base URL")
    r.add_argument("--county", metavar="POSTGRES_URL",
                   help="every hall of the county, from the county server's database (instead of --config/--db)")
    f.add_argument("--mapping", help="field mapping (TOML, docs/province.md); default: the national shape")
    f.add_argument("--once", action="store_true", help="one round, then exit")
    r.add_argument("--day", required=True, help="YYYY-MM-DD")
    j = sub.add_parser("rejected", help="list the records the platform refused: id, day, kind, reason, attempts")
    e = sub.add_parser("resend", help="put refused records back to pending (sent on the forwarder's next round)")
    e.add_argument("ids", nargs="*", metavar="ID", help="record ids, as `hallq province rejected` lists them")
    e.add_argument("--all", action="store_true", help="every rejected record")
    for p in (j, e):
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--outbox", help="the forwarder's outbox (`hallq province forward --outbox`)")
        where.add_argument("--db", help="the hall's database: its outbox beside it (`hallq serve` with [province])")
        p.add_argument("--json", action="store_true", help="as JSON")
    s = sub.add_parser("sim", help="run the platform simulator (faults via POST /faults)")
    s.add_argument("--port", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from .reconcile import PlatformAnswer
    from .simulator import Platform

    if args.action == "sim":
        platform = Platform()
        print(f"hallq province sim: {platform.start(args.port)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            platform.stop()
        return 0
    if args.action in ("rejected", "resend"):
        return _rejected(args)
    if args.action == "reconcile" and args.county:
        from .reconcile import reconcile_county

        try:
            result = reconcile_county(args.county, args.day, args.url)
        except PlatformAnswer as exc:
            print(f"hallq province reconcile: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0 if result["matches"] else 1
    if args.action == "reconcile" and not (args.config and args.db):
        print("hallq province reconcile: give --config and --db (one hall), or --county (every hall)")
        return 2
    from hallq.config import load_or_exit

    config = load_or_exit(args.config)
    if args.action == "reconcile":
        from .reconcile import reconcile

        try:
            result = reconcile(args.db, config.code, args.day, args.url, args.outbox,
                               config.province.token if config.province else "")
        except PlatformAnswer as exc:
            print(f"hallq province reconcile: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0 if result["matches"] else 1
    from .forwarder import Forwarder
    from .mapping import load

    forwarder = Forwarder(args.db, args.outbox, args.url, config.code, load(args.mapping),
                          names={c: s.name for c, s in config.services.items()})
    if args.once:
        print(json.dumps(forwarder.step()))
        forwarder.close()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: forwarder.halt())
    try:
        forwarder.run()
    except KeyboardInterrupt:
        pass
    finally:
        forwarder.close()
    return 0


def _rejected(args: argparse.Namespace) -> int:
    """`rejected` and `resend`: 0 done, 1 refused (no such file or record), 2 a usage error."""
    from server.province_link import outbox_path

    from .rejected import OutboxError, listing, open_outbox, resend

    command = f"hallq province {args.action}"
    if args.action == "resend" and bool(args.ids) == bool(args.all):
        print(f"{command}: give record ids or --all (not both)", file=sys.stderr)
        return 2
    try:
        out = open_outbox(args.outbox or outbox_path(args.db))
    except OutboxError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    try:
        if args.action == "rejected":
            rows = listing(out)
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=1))
            else:
                for r in rows:
                    print(f"{r['id']}  {r['day']}  {r['kind']:<11}  {r['attempts']} attempt(s)  {r['reason'] or ''}")
                print(f"{len(rows)} rejected record(s)")
            return 0
        try:
            done = resend(out, None if args.all else args.ids)
        except OutboxError as exc:
            print(f"{command}: {exc}; nothing changed", file=sys.stderr)
            return 1
        print(json.dumps(done) if args.json else
              f"{len(done)} record(s) back to pending: the forwarder sends them on its next round")
        return 0
    finally:
        out.close()
