"""Real PostgreSQL for tests: each test database is made fresh and dropped afterwards.

The server is the local one (`bin/hallq test` installs and starts Debian's PostgreSQL as root), or
the one `HALLQ_TEST_PG` names (an admin URL, e.g. postgresql://user:pw@host/postgres). As root an
unreachable local server is started here too; a test is skipped only when not root and no server
answers, with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ADMIN_URL = os.environ.get("HALLQ_TEST_PG", "postgresql:///postgres")


def _reachable(url: str) -> str | None:
    """None when a server answers at `url`, else why not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _start_local() -> None:
    """As root: start Debian's clusters and give root a role, as bin/hallq's set-up does."""
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "..", "bin", "hallq")
    if not shutil.which("pg_lsclusters"):
        return
    body = subprocess.run(["sed", "-n", "/^postgres_up() {/,/^}/p", script], capture_output=True, text=True).stdout
    subprocess.run(["bash", "-c", f"set -euo pipefail\n{body}\npostgres_up"], check=False, timeout=120)


def admin_url() -> str:
    """A reachable admin URL, or skip (not root) / fail (root) saying why."""
    why = _reachable(ADMIN_URL)
    if why is not None and os.geteuid() == 0 and "HALLQ_TEST_PG" not in os.environ:
        _start_local()
        why = _reachable(ADMIN_URL)
    if why is not None:
        if os.geteuid() != 0:
            pytest.skip(f"no PostgreSQL reachable at {ADMIN_URL} ({why}); run as root (bin/hallq test "
                        "installs and starts one) or set HALLQ_TEST_PG to an admin URL")
        pytest.fail(f"PostgreSQL at {ADMIN_URL} does not answer even after starting it: {why}")
    return ADMIN_URL


def _with_db(url: str, name: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database; yields its connection string and drops it (and its sessions) after."""
    import psycopg

    admin = admin_url()
    name = f"hallq_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    with fresh_database() as url:
        yield url
