"""Matching keys for ID numbers, so the full number is never stored (datasheet id-card-reader-sam §6).

A ticket or appointment made with an ID card keeps the masked number (4201**********1234) for
people to read, and, for matching the same citizen on the same day (their appointment, their own
list of today's tickets), an HMAC-SHA256 of the day and the number under a secret kept outside the
database. The day in the key means it matches nothing on any other day: it cannot follow a citizen
across visits, and a copy of the database alone cannot be searched for a number.

The secret comes from the environment (HALLQ_ID_KEY, hex) or, failing that, a file made once next
to the database (`hall.db.idkey`, mode 0600); keep that file out of the database's backups.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

ENV = "HALLQ_ID_KEY"


class IdKeys:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the ID key secret must be at least 16 bytes")
        self._secret = secret

    def of(self, day: str, id_number: str) -> str:
        """The key of `id_number` on `day` (YYYY-MM-DD): 32 hex digits."""
        msg = f"{day}|{id_number.strip().upper()}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:32]

    def digest(self, purpose: str, data: bytes) -> str:
        """A keyed digest of other bytes that may hold an ID number (a request body, for its
        idempotency fingerprint): a plain hash of them would let a copy of the database try every
        number the masked form leaves open (about a million) in seconds."""
        return hmac.new(self._secret, purpose.encode() + b"\n" + data, hashlib.sha256).hexdigest()

    @classmethod
    def ephemeral(cls) -> IdKeys:
        """A key for this process only (an engine built without a database path: tests, tools)."""
        return cls(secrets.token_bytes(32))

    @classmethod
    def for_database(cls, db_path: str | Path) -> IdKeys:
        env = os.environ.get(ENV)
        if env:
            try:
                return cls(bytes.fromhex(env))
            except ValueError as exc:
                raise SystemExit(f"{ENV} must be at least 32 hex digits") from exc
        path = Path(f"{db_path}.idkey")
        try:
            return cls(bytes.fromhex(path.read_text().strip()))
        except FileNotFoundError:
            pass
        secret = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret.hex() + "\n")
        return cls(secret)
