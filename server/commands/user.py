"""`hallq user`: web users (admin, supervisor, clerk) in a hall's database.

    hallq user add --config hall.toml --db hall.db --role clerk --staff 1001 zhangxm
    hallq user list --db hall.db
    hallq user passwd --db hall.db zhangxm
    hallq user disable --db hall.db zhangxm      (and enable)

The password is asked for twice on the terminal, or read from the environment variable named by
--password-env (for provisioning scripts); it is never an argument, so it stays out of shell history.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from hallq.config import load_or_exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user")
    add.add_argument("--config", required=True, help="hall configuration (to check staff and window numbers)")
    add.add_argument("--db", required=True, help="the hall's SQLite database")
    add.add_argument("--role", required=True, choices=("admin", "supervisor", "clerk"))
    add.add_argument("--staff", help="staff number (工号); required for clerks")
    add.add_argument("--window", type=int, help="pin a clerk to this window (otherwise any free window)")
    add.add_argument("--password-env", help="read the password from this environment variable")
    add.add_argument("username")
    lst = sub.add_parser("list", help="list users")
    lst.add_argument("--config", help="hall configuration (accepted like every hallq command; not needed here)")
    lst.add_argument("--db", required=True)
    for name in ("passwd", "disable", "enable"):
        p = sub.add_parser(name, help={"passwd": "set a new password", "disable": "stop a user signing in",
                                       "enable": "let a disabled user sign in again"}[name])
        p.add_argument("--config", help="hall configuration (accepted like every hallq command; not needed here)")
        p.add_argument("--db", required=True)
        if name == "passwd":
            p.add_argument("--password-env", help="read the password from this environment variable")
        p.add_argument("username")


def _password(env: str | None) -> str:
    if env:
        value = os.environ.get(env)
        if not value:
            raise SystemExit(f"hallq user: environment variable {env} is not set")
        return value
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("hallq user: the passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from ..errors import HallqError
    from ..store import Store
    from ..users import USER_ROLES, add_user, list_users, set_active, set_password

    store = Store(args.db)
    try:
        if args.action == "add":
            config = load_or_exit(args.config)
            user = add_user(store, config, args.username, _password(args.password_env), args.role,
                            staff=args.staff, window=args.window)
            print(f"hallq user: added {user.username} ({USER_ROLES[user.role]})")
        elif args.action == "list":
            for u in list_users(store):
                extra = f" staff {u.staff}" if u.staff else ""
                extra += f" window {u.window}" if u.window else ""
                print(f"{u.username:20} {u.role:10}{extra}{'' if u.active else ' (disabled)'}")
        elif args.action == "passwd":
            set_password(store, args.username, _password(args.password_env))
            print(f"hallq user: password of {args.username} changed")
        else:
            set_active(store, args.username, args.action == "enable")
            print(f"hallq user: {args.username} {args.action}d")
    except HallqError as exc:
        print(f"hallq user: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
