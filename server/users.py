"""People who sign in to the web pages: admin, supervisor (值班长/电子监察) and clerk (窗口人员).

Devices keep using the config's bearer tokens; people get a username and a password, stored as a
werkzeug hash in the `users` table (created by `hallq user add`, or seeded by `hallq demo`).

A clerk user is tied to a staff number (工号) from the hall config. Which window a clerk acts on is
not stored here but read from the engine: the window where their staff number is signed in. A
clerk user may also be pinned to one window (`window`), and then may sign in only there.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from werkzeug.security import check_password_hash, generate_password_hash

from hallq.model import HallConfig

from .errors import Conflict, Invalid, NotFound
from .store import Changes, Store

USER_ROLES = {"admin": "管理员", "supervisor": "值班长", "clerk": "窗口人员"}
MIN_PASSWORD = 8
_USERNAME = re.compile(r"[A-Za-z0-9_.-]{2,32}")


@dataclass(frozen=True)
class User:
    username: str
    role: str
    staff: str | None = None
    window: int | None = None
    active: bool = True

    @property
    def role_name(self) -> str:
        return USER_ROLES[self.role]


def _user(row: dict) -> User:
    return User(row["username"], row["role"], row["staff"], row["window"], bool(row["active"]))


def add_user(store: Store, config: HallConfig, username: str, password: str, role: str,
             staff: str | None = None, window: int | None = None, now: datetime | None = None,
             min_password: int = MIN_PASSWORD) -> User:
    """Create a user; clerks need a staff number of this hall, others must not have one."""
    if not _USERNAME.fullmatch(username or ""):
        raise Invalid("username: 2–32 letters, digits, '_', '.' or '-'", field="username")
    if role not in USER_ROLES:
        raise Invalid(f"role must be one of {', '.join(USER_ROLES)}", field="role")
    if len(password or "") < min_password:
        raise Invalid(f"password must be at least {min_password} characters", field="password")
    if role == "clerk":
        if not staff or staff not in config.staff:
            raise Invalid(f"a clerk needs a staff number of this hall (got {staff!r})", field="staff")
        if window is not None and window not in config.windows:
            raise Invalid(f"no window {window} in this hall", field="window")
    elif staff is not None or window is not None:
        raise Invalid("only clerk users have a staff number and a window", field="staff")
    if get_user(store, username) is not None:
        raise Conflict(f"user {username!r} exists already", field="username")
    if staff and store.rows("SELECT 1 FROM users WHERE staff = ? AND active = 1", [staff]):
        raise Conflict(f"staff number {staff} already has a user", field="staff")
    row = {
        "username": username, "password_hash": generate_password_hash(password), "role": role,
        "staff": staff, "window": window, "active": 1,
        "created_at": (now or datetime.now().astimezone()).isoformat(),
    }
    ch = Changes()
    ch.put("users", row)
    ch.event(ts=row["created_at"], type="user.added", actor="admin", data={"username": username, "role": role,
                                                                          "staff": staff, "window": window})
    store.commit(ch)
    return _user(row)


def set_password(store: Store, username: str, password: str, min_password: int = MIN_PASSWORD) -> None:
    """A new password (changed, or reset by an admin); every session of the user ends with the old one."""
    row = _row(store, username)
    if row is None:
        raise NotFound(f"no user {username!r}", field="username")
    if len(password or "") < min_password:
        raise Invalid(f"password must be at least {min_password} characters", field="password")
    ch = Changes()
    ch.put("users", {**row, "password_hash": generate_password_hash(password)})
    _end_sessions(store, ch, username, "password_changed")
    store.commit(ch)


def set_active(store: Store, username: str, active: bool) -> None:
    """Enable or disable a user; disabling ends every session of theirs."""
    row = _row(store, username)
    if row is None:
        raise NotFound(f"no user {username!r}", field="username")
    ch = Changes()
    ch.put("users", {**row, "active": int(active)})
    if not active:
        _end_sessions(store, ch, username, "user_disabled")
    store.commit(ch)


def _end_sessions(store: Store, ch: Changes, username: str, reason: str) -> None:
    """End the user's sessions in the same transaction as the change; a running server sees it within
    sessions.REVALIDATE_SECONDS even when this runs in another process (`hallq user`)."""
    from .sessions import live_rows, revoked_row

    for session in live_rows(store, username):
        ch.put("sessions", revoked_row(session, reason))


def _row(store: Store, username: str) -> dict | None:
    rows = store.rows("SELECT * FROM users WHERE username = ?", [username])
    return rows[0] if rows else None


def get_user(store: Store, username: str) -> User | None:
    row = _row(store, username)
    return _user(row) if row else None


def list_users(store: Store) -> list[User]:
    return [_user(r) for r in store.rows("SELECT * FROM users ORDER BY role, username")]


# A hash to check against when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The active user with this name and password, or None."""
    row = _row(store, username or "")
    if row is None or not row["active"]:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(row["password_hash"], password or ""):
        return None
    return _user(row)
