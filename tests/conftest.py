from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hallfactory import small_hall  # noqa: E402
from pgrig import pg_url  # noqa: E402,F401  (a fresh PostgreSQL database per test)

from server.clock import ManualClock  # noqa: E402
from server.engine import Engine  # noqa: E402
from server.store import Store  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_9AM)


@pytest.fixture
def hall():
    return small_hall()


@pytest.fixture
def engine(tmp_path, hall, clock) -> Engine:
    """An engine over a real SQLite file, on a clock the test moves."""
    return Engine(hall, Store(tmp_path / "hall.db"), clock)


@pytest.fixture
def staffed(engine) -> Engine:
    """Windows 1–5 signed in."""
    for n, staff in zip(range(1, 6), ["1001", "1002", "1003", "1004", "1005"], strict=True):
        engine.login(n, staff)
    return engine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server (the front on uvicorn, 127.0.0.1) for the small hall open all day: (base URL, app)."""
    from liveserver import daytime_clock, serve_app

    from server.app import create_app

    app = create_app(small_hall(all_day=True), tmp_path_factory.mktemp("hall") / "hall.db", clock=daytime_clock(),
                     supervise=False)
    with serve_app(app) as url:
        yield url, app


@pytest.fixture
def rig(server):
    """A kiosk (pygame, headless) with a simulated printer on a pty, against `server`."""
    from kioskrig import Rig

    r = Rig(server[0])
    yield r
    r.close()
