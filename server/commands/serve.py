"""`hallq serve`: the queue server: the Flask app behind the asyncio front (server/front.py) on uvicorn."""

from __future__ import annotations

import argparse
import logging

from hallq.config import load_or_exit

from .. import county_link
from .bounded import bounded

# How long a thread may keep the GIL while another waits for it (Python's default: 5 ms). A write
# holds the engine lock through its fsync, with the GIL released; when the fsync ends it must get the
# GIL back from whichever thread took it, and every other write waits behind it meanwhile. 0.3 ms
# measured best (bench/bench_issue.py, 10 and 50 connections, alternating runs: +2% over 5 ms).
SWITCH_INTERVAL_SECONDS = 0.0003


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--db", required=True, help="SQLite database file (created if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=bounded(0, 65535, "port", whole=True), default=8080)
    parser.add_argument("--threads", type=bounded(1, 256, "threads", whole=True), default=16,
                        help="worker threads for requests (event streams need none)")
    parser.add_argument("--queue", type=bounded(0, 100_000, "requests", whole=True), default=256,
                        help="requests that may wait for a worker; beyond that a fast 503 with Retry-After")
    parser.add_argument("--max-streams", type=bounded(0, 100_000, "streams", whole=True), default=2000,
                        help="open event streams; beyond that 503 with Retry-After, and pages poll instead")
    parser.add_argument("--trusted-proxy", metavar="ADDRESS",
                        help="address of a reverse proxy (nginx) in front: client address and scheme come from "
                             "its X-Forwarded-For / X-Forwarded-Proto (sign-in limits count real clients)")
    parser.add_argument("--secure-cookies", action="store_true",
                        help="send the sign-in cookie only over HTTPS (when a TLS proxy is in front)")
    parser.add_argument("--write-timeout", type=bounded(0.1, 60, "seconds"), default=5.0, metavar="SECONDS",
                        help="how long a write waits for the database's write lock (held by another process, "
                             "e.g. a backup) before it answers 503 storage_busy (default 5)")
    county_link.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import gc
    import sys

    import uvicorn

    from ..app import create_app, stop_app
    from ..front import Front
    from ..serving import bind, raise_file_limit, run_until_stopped, uvicorn_config

    config = load_or_exit(args.config)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    files = raise_file_limit()
    wanted = args.max_streams + args.threads + args.queue + 256
    if files < wanted:
        logging.getLogger("hallq.serve").warning(
            "the open-file limit is %d: fewer than --max-streams %d plus requests need (%d); raise it "
            "(ulimit -n, LimitNOFILE=) or lower --max-streams", files, args.max_streams, wanted)
    app = create_app(config, args.db, secure_cookies=args.secure_cookies, write_timeout=args.write_timeout)
    # The event log up to the county and its followers down, each a thread (server/county_link.py).
    unlink = county_link.start(app, config, args.db, args)
    province = None
    if config.province is not None:  # the 好差评 record to the provincial platform (server/province_link.py)
        from ..province_link import ProvinceForwarding

        province = ProvinceForwarding(app, args.db, config.province).start()
        app.config["PROVINCE"] = province
    # At shutdown (SIGTERM, Ctrl-C): the supervision and session threads end, and the answers kept
    # for retries are written. Here, not after serve(): uvicorn re-raises the signal once it is done.
    front = Front(app, workers=args.threads, queue=args.queue, max_streams=args.max_streams,
                  on_shutdown=lambda: (unlink(), province and province.stop(), stop_app(app)))
    # What start-up built (config, app, caches) lives as long as the process: keep it out of every
    # later collection, which a thousand streams' small objects make frequent.
    gc.freeze()
    # The front's own limits (streams, queue) answer 503 with Retry-After well before this one, which
    # only keeps the process inside its file limit.
    server = uvicorn.Server(uvicorn_config(front, args.trusted_proxy, max(files - 64, 256)))
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    print(f"hallq: serving {config.name} on http://{args.host}:{port}/ (database {args.db})", flush=True)
    run_until_stopped(server.serve(sockets=[sock]))
    print("hallq: stopped", flush=True)
    return 0
