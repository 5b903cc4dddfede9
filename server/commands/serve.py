"""`hallq serve`: the queue server on waitress, a production WSGI server."""

from __future__ import annotations

import argparse
import logging

from hallq.config import load_or_exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--db", required=True, help="SQLite database file (created if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=64,
                        help="worker threads; every open event stream (display, caller, board) holds one")
    parser.add_argument("--trusted-proxy", metavar="ADDRESS",
                        help="address of a reverse proxy (nginx) in front: client address and scheme come from "
                             "its X-Forwarded-For / X-Forwarded-Proto (sign-in limits count real clients)")
    parser.add_argument("--secure-cookies", action="store_true",
                        help="send the sign-in cookie only over HTTPS (when a TLS proxy is in front)")
    parser.add_argument("--write-timeout", type=_seconds, default=5.0, metavar="SECONDS",
                        help="how long a write waits for the database's write lock (held by another process, "
                             "e.g. a backup) before it answers 503 storage_busy (default 5)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 60:
        raise argparse.ArgumentTypeError("must be 0.1–60 seconds")
    return value


def run(args: argparse.Namespace) -> int:
    import waitress

    from ..app import create_app

    config = load_or_exit(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(config, args.db, secure_cookies=args.secure_cookies, write_timeout=args.write_timeout)
    proxy = {}
    if args.trusted_proxy:
        # Without this every request would come from the proxy's address: one person's wrong
        # passwords would lock the sign-in page for the whole hall.
        proxy = {"trusted_proxy": args.trusted_proxy, "trusted_proxy_count": 1,
                 "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
                 "clear_untrusted_proxy_headers": True}
    print(f"hallq: serving {config.name} on http://{args.host}:{args.port}/ (database {args.db})", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="hallq",
                   channel_timeout=120, connection_limit=1000, **proxy)
    return 0
