"""How far "mean ≤ best" (issue #12) is from the noise: hallq against the best baseline, seed by seed.

    .venv/bin/python bench/bench_policy_noise.py [--seeds 1-6,7-20] [--config F ...] [--load 0.55]

For each hall and seed window it takes "best" as issue #12 does (the skill-respecting baseline with
the lowest mean wait over the window's seeds, on the same arrivals), then prints hallq's mean minus
best's and the per-seed paired difference with its standard error: a difference inside one or two
standard errors is what another window of seeds may turn either way. It also counts, per baseline,
the halls where that baseline is itself the best, i.e. where it would meet "mean ≤ best" as a
candidate: a target no baseline meets on every hall asks one policy to beat the per-hall minimum
of several. Same simulation as bench/bench_allocation.py (common random numbers, config rules).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_allocation import CONFIGS, ROOT, assumptions_for, measure, seeds  # noqa: E402

from hallq.config import load_config  # noqa: E402
from server.simulate.policies import REFERENCES  # noqa: E402
from server.simulate.report import table  # noqa: E402


def paired(path: str, seed_list: list[int], load: float) -> dict:
    """Per seed: every policy's (sum of waits, visits); then best, hallq − best and its SE."""
    config = load_config(ROOT / path)
    a = assumptions_for(path, load)
    per = []
    for seed in seed_list:
        res = measure(config, [seed], 1, a, policies=("separate", *REFERENCES, "hallq"))
        per.append({p: (sum(r["waits"]), len(r["waits"])) for p, r in res.items()})
    total = {p: sum(s[p][0] for s in per) / max(1, sum(s[p][1] for s in per)) for p in per[0]}
    best = min(REFERENCES, key=lambda p: total[p])
    diffs = [s["hallq"][0] / max(1, s["hallq"][1]) - s[best][0] / max(1, s[best][1]) for s in per]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
    return {"best": best, "best_mean": total[best], "gap": total["hallq"] - total[best],
            "paired": statistics.mean(diffs), "se": se, "total": total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="hall config (repeatable); default every hall in config/")
    parser.add_argument("--seeds", default="1-6,7-20", help="seed windows, comma-separated (each like 1-6)")
    parser.add_argument("--load", type=float, default=0.55)
    args = parser.parse_args()
    halls = args.config or list(CONFIGS)
    windows = args.seeds.split(",")
    rows, bests = [], {w: Counter() for w in windows}
    for path in halls:
        for window in windows:
            got = paired(path, seeds(window), args.load)
            bests[window][got["best"]] += 1
            within = abs(got["paired"]) / got["se"] if got["se"] > 0 else float("inf")
            rows.append([Path(path).stem, window, got["best"], f"{got['best_mean']:.3f}", f"{got['gap']:+.3f}",
                         f"{got['paired']:+.3f} ± {got['se']:.3f}", f"{within:.1f}",
                         "met" if got["gap"] <= 1e-9 else "NOT MET"])
    print(table(["hall", "seeds", "best baseline", "best mean", "hallq − best", "per seed ± SE", "|diff| / SE",
                 "mean ≤ best"], rows))
    print()
    for window in windows:
        counts = ", ".join(f"{p} {bests[window][p]}" for p in REFERENCES)
        print(f"seeds {window}: halls where each baseline is itself the best (of {len(halls)}): {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
