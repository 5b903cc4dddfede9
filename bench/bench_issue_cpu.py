"""CPU per `Engine.issue` in process, and the share of it in the printed estimate (issue #11).

    .venv/bin/python bench/bench_issue_cpu.py [--tickets 600] [--repeat 3]

The demo hall open round the clock (as bench/bench_issue.py runs it), 30 windows signed in, then
`--tickets` issues over every matter in turn into the empty hall (the queue grows from 0): process
CPU per issue (the commit thread included) and the CPU inside the estimate, best of `--repeat`
fresh runs. No HTTP: what the engine itself costs, to set beside bench_issue.py's server figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_issue import ISSUE_WINDOWS, bench_config  # noqa: E402

from hallq.config import load_config  # noqa: E402
from server.app import create_app, stop_app  # noqa: E402
from server.engine import Engine  # noqa: E402


def run(tickets: int) -> tuple[float, float]:
    """(ms of CPU per issue, ms of it in the estimate) for one fresh hall."""
    spent = [0.0]
    real = Engine._issue_estimate

    def timed(self, c, now):
        t0 = time.process_time()
        try:
            return real(self, c, now)
        finally:
            spent[0] += time.process_time() - t0

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(bench_config(Path(tmp) / "hall.toml"))
        app = create_app(config, Path(tmp) / "hall.db", supervise=False)
        engine = app.config["ENGINE"]
        for number, staff in zip(sorted(config.windows)[:ISSUE_WINDOWS], sorted(config.staff), strict=False):
            engine.login(number, staff)
        matters = sorted(config.services)
        Engine._issue_estimate = timed
        try:
            t0 = time.process_time()
            for i in range(tickets):
                engine.issue(matters[i % len(matters)])
            total = time.process_time() - t0
        finally:
            Engine._issue_estimate = real
            stop_app(app)
    return 1000 * total / tickets, 1000 * spent[0] / tickets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best = min(run(args.tickets) for _ in range(args.repeat))
    print(f"Engine.issue, demo hall, {ISSUE_WINDOWS} windows signed in, {args.tickets} issues into an empty hall, "
          f"best of {args.repeat}:")
    print(f"  CPU per issue {best[0]:.3f} ms, of it in the estimate {best[1]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
