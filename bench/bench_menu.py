"""The kiosk menu (GET /services: every matter with its estimated wait) in a busy demo hall.

    .venv/bin/python bench/bench_menu.py [--waiting 100,300,600] [--repeat 20]

Issues that many tickets at 09:00 on a Monday with 30 windows signed in, then times
`Engine.menu()` whole and the part of it spent holding the engine's lock (`estimate_snapshot`), which is
what a window's call-next waits for when it arrives during a menu request.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hallq.config import load_config  # noqa: E402
from server.clock import ManualClock  # noqa: E402
from server.engine import Engine  # noqa: E402
from server.simulate.report import table  # noqa: E402
from server.store import Store  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo-hall.toml"


def busy_engine(waiting: int, folder: str) -> Engine:
    config = load_config(CONFIG)
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(config.rules.timezone)))
    engine = Engine(config, Store(Path(folder) / f"menu-{waiting}.db"), clock)
    staff = list(config.staff)
    for number, code in zip(list(config.windows)[:30], staff, strict=False):
        engine.login(number, code)
    codes = list(config.services)
    for i in range(waiting):
        engine.issue(codes[i % len(codes)])
    return engine


def time_ms(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", default="100,300,600")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for waiting in (int(n) for n in args.waiting.split(",")):
            engine = busy_engine(waiting, folder)

            rows.append([waiting, len(engine.menu()), time_ms(engine.menu, args.repeat),
                         time_ms(engine.estimate_snapshot, args.repeat)])
            engine.store.close()
    print(table(["waiting", "menu items", "menu ms (median)", "under the lock ms"], rows,
                f"Engine.menu() on {CONFIG.name}, 30 windows signed in"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
