"""Ticket estimate benchmark: the wait printed on each ticket against the wait it turned out to be.

    .venv/bin/python bench/bench_estimates.py [--seeds 1-5] [--days 1] [--config F ...]

Simulated days under hallq's own allocation; every ticket gets `server.estimate.estimate_wait`
at issue, exactly as the engine prints it, and the naive estimate (people ahead × mean service ÷
open windows) beside it. Reports MAE, 80th-percentile absolute error and mean bias (estimate minus
realised; positive = pessimistic), over the whole day and by when the ticket was issued.
Target (issue #7): MAE ≤ 3 minutes in the demo hall.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hallq.config import load_config  # noqa: E402
from hallq.model import HallConfig  # noqa: E402
from server.simulate.arrivals import DAY, Assumptions, _m, generate  # noqa: E402
from server.simulate.model import Issued, simulate  # noqa: E402
from server.simulate.report import percentile, table  # noqa: E402

CONFIGS = ("config/demo-hall.toml", "config/township.toml")
TARGET_MAE = 3.0


def period(config: HallConfig, minute: float) -> str:
    spans = [(_m(s.start), _m(s.end)) for s in config.hours.sessions]
    t = minute % DAY
    for i, (a, b) in enumerate(spans):
        if a <= t < b:
            return f"session {i + 1} ({config.hours.sessions[i].start:%H:%M}–{config.hours.sessions[i].end:%H:%M})"
    return "lunch (between sessions)"


def errors(tickets: list[Issued]) -> list:
    est = [abs(i.estimate - (i.called - i.arrival)) for i in tickets]
    naive = [abs(i.naive - (i.called - i.arrival)) for i in tickets]
    bias = sum(i.estimate - (i.called - i.arrival) for i in tickets) / len(tickets)
    real = sum(i.called - i.arrival for i in tickets) / len(tickets)
    return [len(tickets), real, sum(est) / len(est), percentile(est, 80), bias,
            sum(naive) / len(naive), percentile(naive, 80)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="hall config (repeatable); default demo and township")
    parser.add_argument("--seeds", default="1-5")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--load", type=float, default=0.55)
    args = parser.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seed_list = list(range(int(lo), int(hi or lo) + 1))
    status = 0
    for path in args.config or CONFIGS:
        config = load_config(path)
        tickets: list[Issued] = []
        rows = []
        for seed in seed_list:
            run = simulate(config, generate(config, seed, args.days, Assumptions(load=args.load)), "hallq")
            called = [i for i in run.issued if i.called is not None]
            tickets += called
            rows.append([f"seed {seed}", *errors(called)])
        groups: dict[str, list[Issued]] = {}
        for i in tickets:
            groups.setdefault(period(config, i.arrival), []).append(i)
        rows += [[f"issued in {name}", *errors(g)] for name, g in sorted(groups.items())]
        overall = errors(tickets)
        rows.append(["all", *overall])
        print(table(["tickets", "n", "real wait", "MAE", "p80 |err|", "bias", "naive MAE", "naive p80"], rows,
                    f"{path}: {config.name}, hallq policy, seeds {args.seeds}, {args.days} day(s) each (minutes)"))
        if path.endswith("demo-hall.toml"):
            met = overall[2] <= TARGET_MAE
            status |= 0 if met else 1
            print(f"target MAE ≤ {TARGET_MAE:.0f} min in the demo hall: {overall[2]:.1f} — {'met' if met else 'NOT MET'}")
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
