"""The halls registry and the tokens that let a hall ship its log and a reader see figures.

A token is 256 random bits shown once when it is made; the county keeps only its SHA-256 (a slow
password hash buys nothing for a random secret of that size, and a lookup by hash is one index probe).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import psycopg

from server.errors import Conflict, Invalid, Unauthorized

from .db import Database

LEVELS = ("county", "township", "village")  # 县/区中心, 乡镇/街道中心, 村/社区服务站
HALL_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Caller:
    role: str  # "hall" | "reader" | "catalogue"
    name: str
    hall: str | None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def add_hall(db: Database, code: str, name: str, token: str | None = None, level: str = "township") -> str:
    """Register a hall (county | township | village centre) with its shipping token (made here
    unless given); returns the token."""
    if not HALL_CODE.match(code):
        raise Invalid(f"hall code {code!r}: 1-32 of A-Z a-z 0-9 _ -", field="code")
    if level not in LEVELS:
        raise Invalid(f"level {level!r}: one of {', '.join(LEVELS)}", field="level")
    token = token or new_token()
    try:
        with db.connection() as conn:
            conn.execute("INSERT INTO halls (code, name, level) VALUES (%s, %s, %s)", [code, name, level])
            conn.execute("INSERT INTO tokens (token_hash, name, role, hall) VALUES (%s, %s, 'hall', %s)",
                         [token_hash(token), f"hall:{code}", code])
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"hall {code} is registered already (or that token is in use)", field="code") from None
    return token


def add_reader(db: Database, name: str, token: str | None = None, role: str = "reader") -> str:
    """A token that reads every hall's figures (the county's staff tools), or (role "catalogue")
    publishes catalogue releases; returns it."""
    if role not in ("reader", "catalogue"):
        raise Invalid(f"role {role!r}: reader or catalogue", field="role")
    token = token or new_token()
    try:
        with db.connection() as conn:
            conn.execute("INSERT INTO tokens (token_hash, name, role) VALUES (%s, %s, %s)",
                         [token_hash(token), name, role])
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"a token named {name!r} exists already (or that token is in use)", field="name") from None
    return token


def caller(db: Database, authorization: str | None) -> Caller:
    """Who a Bearer token belongs to; 401 for none or an unknown one."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("Authorization: Bearer <token> is required", field="Authorization")
    token = authorization[len("Bearer "):].strip()
    with db.connection() as conn:
        row = conn.execute("SELECT role, name, hall FROM tokens WHERE token_hash = %s", [token_hash(token)]).fetchone()
    if row is None:
        raise Unauthorized("unknown token", field="Authorization")
    return Caller(*row)


def halls(db: Database) -> list[dict]:
    with db.connection() as conn:
        cur = conn.execute("SELECT code, name, level, high_water, registered_at, last_ingest_at, last_event_ts, "
                           "diverged FROM halls ORDER BY code")
        cols = [c.name for c in cur.description]
        rows = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    for row in rows:  # ISO 8601 on the county's clock, not HTTP dates
        for key in ("registered_at", "last_ingest_at"):
            row[key] = row[key].isoformat() if row[key] is not None else None
    return rows
