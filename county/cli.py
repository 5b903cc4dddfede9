"""`hallq county`: the county server and its registry.

    hallq county serve --db postgresql:///county [--host H --port P] [--config county.toml]
    hallq county hall add --db URL CODE NAME [--token T]      prints the hall's shipping token
    hallq county token add --db URL NAME [--token T]          a reader token (every hall's figures)
    hallq county halls --db URL                               halls, high-water marks, last ingest, divergence
    hallq county rebase --db URL HALL [--to ID] [--by NAME]   resolve a hall restored from a backup (county/rebase.py)
    hallq county catalogue publish --db URL FILE [--by NAME]  a catalogue (TOML/JSON) as the next release
    hallq county catalogue drift --db URL                     which hall runs which release, its overrides
    hallq county user add --db URL USERNAME ROLE [--name N]   a county web user (password from stdin)
    hallq county demo [--db URL]                              county + 3 township halls + 1 village station
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    serve = sub.add_parser("serve", help="run the county server")
    serve.add_argument("--db", required=True, help="PostgreSQL URL, e.g. postgresql:///county")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--threads", type=int, default=8, help="worker threads for requests")
    serve.add_argument("--config", help="the county's settings (TOML: timezone; county/settings.py)")
    hall = sub.add_parser("hall", help="register a hall")
    hall_sub = hall.add_subparsers(dest="action", required=True)
    add = hall_sub.add_parser("add", help="register a hall and print its token")
    add.add_argument("--db", required=True)
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--token", help="use this token instead of a new random one")
    add.add_argument("--level", choices=("county", "township", "village"), default="township",
                     help="the hall's level: which catalogue fields it may override")
    token = sub.add_parser("token", help="reader tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    tadd = token_sub.add_parser("add", help="make a reader token and print it")
    tadd.add_argument("--db", required=True)
    tadd.add_argument("name")
    tadd.add_argument("--token")
    tadd.add_argument("--role", choices=("reader", "catalogue"), default="reader",
                      help="reader: every hall's figures; catalogue: publishes catalogue releases")
    cat = sub.add_parser("catalogue", help="the matter catalogue (通用目录) releases")
    cat_sub = cat.add_subparsers(dest="action", required=True)
    pub = cat_sub.add_parser("publish", help="publish a catalogue file as the next release")
    pub.add_argument("--db", required=True)
    pub.add_argument("file", help="the catalogue, TOML or .json")
    pub.add_argument("--by", default="cli", help="who publishes (kept with the release)")
    dr = cat_sub.add_parser("drift", help="which hall runs which release with which overrides")
    dr.add_argument("--db", required=True)
    halls = sub.add_parser("halls", help="list the halls and their replication state")
    halls.add_argument("--db", required=True)
    reb = sub.add_parser("rebase", help="a hall restored from a backup: archive the county's events after the "
                                        "last common one, so that the hall's new history ships")
    reb.add_argument("--db", required=True)
    reb.add_argument("hall")
    reb.add_argument("--to", type=int, help="the last common event id (default: the one the hall's shipper found)")
    reb.add_argument("--by", help="who rebases (kept in the rebases table; default: the login name)")
    user = sub.add_parser("user", help="county web users (director 局长, supervisor, auditor)")
    user_sub = user.add_subparsers(dest="action", required=True)
    uadd = user_sub.add_parser("add", help="add a web user; the password is read from stdin")
    uadd.add_argument("--db", required=True)
    uadd.add_argument("username")
    uadd.add_argument("role", choices=["director", "supervisor", "auditor"])
    uadd.add_argument("--name", default="", help="the name shown on the pages")
    from .demo import add_arguments as demo_arguments

    demo_arguments(sub.add_parser("demo", help="a county server with three township halls and a village station"))


def run(args: argparse.Namespace) -> int:
    from server.errors import HallqError

    from . import catalogue, registry
    from .db import Database

    if args.what == "serve":
        from .serve import serve

        return serve(args.db, args.host, args.port, args.threads, args.config)
    if args.what == "demo":
        from .demo import run as demo

        return demo(args)
    db = Database(args.db)
    try:
        db.migrate()
        if args.what == "hall":
            print(registry.add_hall(db, args.code, args.name, args.token, args.level))
        elif args.what == "user":
            from .users import add_user

            password = sys.stdin.readline().rstrip("\n")
            add_user(db, args.username, args.name, args.role, password)
            print(f"county user {args.username} ({args.role}) added")
        elif args.what == "rebase":
            import getpass

            from .rebase import rebase

            print(json.dumps(rebase(db, args.hall, args.by or getpass.getuser(), args.to), ensure_ascii=False))
        elif args.what == "token":
            print(registry.add_reader(db, args.name, args.token, args.role))
        elif args.what == "catalogue" and args.action == "publish":
            print(f"release {catalogue.publish(db, catalogue.read_file(args.file), args.by)}")
        elif args.what == "catalogue":
            print(json.dumps(catalogue.drift(db), ensure_ascii=False, indent=1))
        else:
            for h in registry.halls(db):
                print(json.dumps(h, ensure_ascii=False, default=str))
    except HallqError as exc:
        print(f"hallq county: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # an unreadable catalogue file, bad TOML or JSON
        print(f"hallq county: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    return 0
