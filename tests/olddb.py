"""A hall database as an older hallq left it, to test what a migration does to rows stored before."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from server import migrations


def database_before(path: Path, version: int) -> sqlite_utils.Database:
    """A database at the schema just before migration `version` (every earlier step applied)."""
    db = sqlite_utils.Database(path)
    for number, step in migrations.MIGRATIONS:
        if number < version:
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
    return db
