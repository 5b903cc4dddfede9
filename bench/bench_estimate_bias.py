"""Would a term for later arrivals that go first make the printed estimate better? (issue #12)

    .venv/bin/python bench/bench_estimate_bias.py [--seeds 7-20] [--config F ...]

The halls, load and held-out seeds of bench_estimates.py, hallq's allocation. At each ticket's
issue the simulated hall's own last hour is read the way the engine could read it: the arrivals
that would go before a new walk-in at its staffed windows although they come later (绿色通道 and
appointments, and matters fewer staffed windows take under the scarcity-first order), each as its
learnt mean service × the share of its staffed windows that are the ticket's, per minute, ÷ the
ticket's windows: the load `rho` such tickets put on them. The term adds `c × rho` of the replay's
horizon (the minutes after any opening time), for c = 0.5 and 1, and `rho ÷ (1 − rho)` (the
jumpers' own jumpers). Beside it, what the best single scale factor per hall would do (fitted on
the same tickets: an upper bound for any hall-wide learnt factor). Printed per hall over tickets
shown a range: MAE and mean signed error (+ = estimated too long), and the MAE of those that waited
≥ 10 min. Nothing here changes the estimate the engine prints; it is measured on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hallq.config import load_config  # noqa: E402
from server import allocation, estimate  # noqa: E402
from server.allocation import NORMAL_RANK  # noqa: E402
from server.simulate.arrivals import Assumptions, generate  # noqa: E402
from server.simulate.model import HallSim  # noqa: E402
from server.simulate.report import table  # noqa: E402


class Measured(HallSim):
    """hallq's run that notes, per ticket, the jumper load rho and the minutes before any opening."""

    def __init__(self, config, scenario) -> None:
        super().__init__(config, scenario, "hallq")
        self.log: list[tuple[float, str, int]] = []  # (arrival, first matter, rank) of everyone issued
        self.noted: dict[int, tuple[float, float]] = {}

    def arrive(self, c, now):
        self.log.append((now, c.steps[0], self.ranks[c.priority]))
        super().arrive(c, now)

    def estimate(self, t, now):
        issued = super().estimate(t, now)
        reopen = estimate._next_opening(self.config.hours, self.at(now))
        floor = max(0.0, (reopen - self.at(now)).total_seconds() / 60.0) if reopen is not None else 0.0
        staffed = [d.conf for d in self.desks.values() if d.staffed_now]
        mine = {w.number for w in staffed if t.service in w.services}
        rho = 0.0
        if mine and t.rank == NORMAL_RANK:
            counts = allocation.scarcity(staffed) or {}
            serve: dict[str, list[int]] = {}
            for w in staffed:
                for s in w.services:
                    serve.setdefault(s, []).append(w.number)
            work = 0.0
            for a, s, r in reversed(self.log):
                if a < now - 60:
                    break
                ws = serve.get(s)
                if a >= now or not ws:
                    continue
                share = sum(n in mine for n in ws) / len(ws)
                if share and (r < NORMAL_RANK or counts.get(s, 0) < counts.get(t.service, 0)):
                    work += self.times.mean(s) * share
            rho = work / 60.0 / len(mine)
        self.noted[t.citizen] = (rho, min(floor, issued.estimate))
        return issued


def hall(path: str, seeds: list[int], load: float) -> list[tuple[float, float, float, float]]:
    """(estimate, waited, rho, floor) of every ticket shown a range, over the seeds."""
    config = load_config(path)
    out = []
    for seed in seeds:
        sim = Measured(config, generate(config, seed, 1, Assumptions(load=load)))
        for i in sim.simulate().issued:
            if i.called is not None and i.estimate > 0:
                rho, floor = sim.noted[i.citizen]
                out.append((i.estimate, i.called - i.arrival, rho, floor))
    return out


def figures(tickets, point) -> list[str]:
    errs = [(point(e, r, f) - w, w) for e, w, r, f in tickets]
    long = [abs(d) for d, w in errs if w >= 10]
    return [f"{sum(abs(d) for d, _ in errs) / len(errs):.2f}", f"{sum(d for d, _ in errs) / len(errs):+.2f}",
            f"{sum(long) / len(long):.1f}" if long else "nan"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="hall config (repeatable); default every config/*.toml")
    parser.add_argument("--seeds", default="7-20")
    parser.add_argument("--load", type=float, default=0.55)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    paths = args.config or sorted(str(p) for p in (ROOT / "config").glob("*.toml"))
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(hall, paths, [seeds] * len(paths), [args.load] * len(paths)))
    variants = {
        "replay (printed)": lambda e, r, f: e,
        "+ 0.5 rho": lambda e, r, f: e + 0.5 * min(r, 0.8) * (e - f),
        "+ rho": lambda e, r, f: e + min(r, 0.8) * (e - f),
        "+ rho/(1-rho)": lambda e, r, f: e + min(r, 0.8) / (1 - min(r, 0.8)) * (e - f),
    }
    rows = []
    for path, tickets in zip(paths, results, strict=True):
        row = [Path(path).stem, len(tickets), f"{sum(r for _, _, r, _ in tickets) / len(tickets):.2f}"]
        for point in variants.values():
            row += figures(tickets, point)
        best = min((sum(abs(f + k / 20 * (e - f) - w) for e, w, _, f in tickets), k / 20) for k in range(14, 41))
        row += [f"{best[1]:.2f}", f"{best[0] / len(tickets):.2f}"]
        rows.append(row)
    head = ["hall", "n", "mean rho"]
    for name in variants:
        head += [f"{name} MAE", "bias", "≥10 MAE"]
    head += ["best k", "its MAE"]
    print(table(head, rows, f"Printed estimate with a term for later arrivals that go first, seeds {args.seeds}, "
                            f"load {args.load}, tickets shown a range (minutes)"))
    print(f"{time.monotonic() - started:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
