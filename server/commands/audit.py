"""`hallq audit verify|purge`: check the SM3 chain over ratings, 差评 case steps and the event log
(server/audit_chain.py), and apply the retention rule (`records_retention_months`)."""

from __future__ import annotations

import argparse
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    v = sub.add_parser("verify", help="name every edited, deleted or unchained record (exit 1 if any)")
    v.add_argument("--db", required=True, help="the hall's SQLite database (opened read only)")
    p = sub.add_parser("purge", help="remove chained records older than the retention period, keep an anchor")
    p.add_argument("--db", required=True, help="the hall's SQLite database")
    p.add_argument("--config", required=True, help="hall configuration (records_retention_months)")
    p.add_argument("--now", help="ISO time to count the retention period back from (default: now)")


def run(args: argparse.Namespace) -> int:
    from ..audit_chain import purge, verify

    if not Path(args.db).is_file():
        print(f"hallq audit: {args.db}: no such database")
        return 2
    if args.action == "verify":
        problems = verify(args.db)
        for p in problems:
            print(p)
        conn = sqlite3.connect(Path(args.db).resolve().as_uri() + "?mode=ro", uri=True)
        links = conn.execute("SELECT COUNT(*) FROM audit_chain").fetchone()[0]
        conn.close()
        print(f"{args.db}: {links} links checked, {len(problems)} problem(s)" + ("" if problems else ": intact"))
        return 1 if problems else 0
    from hallq.config import load_or_exit

    config = load_or_exit(args.config)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now().astimezone()
    cutoff = now - timedelta(days=round(config.records_retention_months * 30.44))
    conn = sqlite3.connect(args.db, isolation_level=None, timeout=10)
    try:
        done = purge(conn, cutoff, now)
    except ValueError as exc:
        print(f"hallq audit purge: {exc}")
        return 1
    finally:
        conn.close()
    print(f"purged before {cutoff.isoformat()}: {done['purged']}, anchor at link {done['through_seq']}")
    return 0
