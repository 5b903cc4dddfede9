"""The county's web users (局长 / supervisor / auditor) and their server-side sessions, in PostgreSQL.

Passwords are werkzeug hashes (as the hall's users, server/users.py). A session is a random id in an
HttpOnly cookie; the county keeps only its SHA-256, so signing out (or a leaked database) leaves no
usable cookie. The CSRF token is an HMAC of the session id: one per session, never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import psycopg
from werkzeug.security import check_password_hash, generate_password_hash

from server.errors import Conflict, Invalid

from .db import Database

ROLES = {"director": "局长", "supervisor": "督查", "auditor": "审计"}
MIN_PASSWORD = 8
IDLE_HOURS = 8  # a session unused this long has ended
_DUMMY = generate_password_hash(secrets.token_hex(8))


@dataclass(frozen=True)
class CountyUser:
    username: str
    name: str
    role: str

    @property
    def role_name(self) -> str:
        return ROLES[self.role]


def add_user(db: Database, username: str, name: str, role: str, password: str) -> None:
    if role not in ROLES:
        raise Invalid(f"role is one of {', '.join(ROLES)}", field="role")
    if not 1 <= len(username) <= 40 or not username.isprintable() or " " in username:
        raise Invalid("username: 1-40 printable characters without spaces", field="username")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password: at least {MIN_PASSWORD} characters", field="password")
    try:
        with db.connection() as conn:
            conn.execute("INSERT INTO county_users (username, name, role, password_hash) VALUES (%s, %s, %s, %s)",
                         [username, name or username, role, generate_password_hash(password)])
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"user {username} exists already", field="username") from None


def authenticate(db: Database, username: str, password: str) -> CountyUser | None:
    with db.connection() as conn:
        row = conn.execute("SELECT username, name, role, password_hash FROM county_users "
                           "WHERE username = %s AND active", [username]).fetchone()
    if row is None:
        check_password_hash(_DUMMY, password)  # a wrong name takes as long as a wrong password
        return None
    return CountyUser(*row[:3]) if check_password_hash(row[3], password) else None


def _hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


def open_session(db: Database, user: CountyUser, address: str) -> str:
    sid = secrets.token_urlsafe(32)
    with db.connection() as conn:
        conn.execute("INSERT INTO county_sessions (sid_hash, username, address) VALUES (%s, %s, %s)",
                     [_hash(sid), user.username, address[:64]])
    return sid


def session_user(db: Database, sid: str | None) -> CountyUser | None:
    """The user of a live session (and its last use moved), or None."""
    if not sid:
        return None
    with db.connection() as conn:
        row = conn.execute(
            "UPDATE county_sessions s SET seen_at = now() FROM county_users u WHERE s.sid_hash = %s "
            "AND s.ended_at IS NULL AND s.seen_at > now() - make_interval(hours => %s) AND u.username = s.username "
            "AND u.active RETURNING u.username, u.name, u.role", [_hash(sid), IDLE_HOURS]).fetchone()
    return CountyUser(*row) if row else None


def end_session(db: Database, sid: str | None) -> None:
    if sid:
        with db.connection() as conn:
            conn.execute("UPDATE county_sessions SET ended_at = now() WHERE sid_hash = %s AND ended_at IS NULL",
                         [_hash(sid)])


def csrf_for(sid: str, secret: bytes) -> str:
    return hmac.new(secret, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()
