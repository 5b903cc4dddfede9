"""How low 绿色通道 waits can go without taking a clerk off a citizen (issue #12's "< 1 minute").

    .venv/bin/python bench/bench_green_floor.py [--seeds 1-6] [--config F ...] [--load 0.55]

A free window takes a 绿色通道 ticket first under every policy here, so what a green citizen still
waits is the time until the first window that may serve the matter finishes its current citizen
(or comes back): no ordering rule shortens that, only interrupting a service or keeping windows
idle for green citizens who may never come. For every green visit this bench records that floor —
at the moment the ticket joins the queue, the time until the earliest eligible window staffed then
is free (0 if one is idle; the real wait if none is staffed) — under hallq and under every
skill-respecting baseline on the same arrivals, and prints the mean floor beside the mean wait. A
mean floor ≥ 1 minute means "绿色通道 mean < 1 minute" is out of reach of any allocation order on
that hall. Same simulation as bench/bench_allocation.py (common random numbers, config rules).

`--help-desk`: also the floor if the 帮办代办 desk (window kind "help") could take a green
citizen of any matter (its staff acting for the elderly, disabled and pregnant, as many halls do),
on the same runs: a measurement for that decision only, the allocation is unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_allocation import CONFIGS, ROOT, assumptions_for, mean, seeds  # noqa: E402

from hallq.config import load_config  # noqa: E402
from server.simulate.arrivals import generate  # noqa: E402
from server.simulate.model import HallSim  # noqa: E402
from server.simulate.policies import REFERENCES  # noqa: E402
from server.simulate.report import table  # noqa: E402


class FloorSim(HallSim):
    """HallSim that notes, for each green ticket joining, how soon an eligible window could be free."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.floors: dict[tuple[int, int], float] = {}  # (citizen, step) -> minutes
        self.help_floors: dict[tuple[int, int], float] = {}  # the same, the help desk eligible too

    def join(self, t, now: float) -> None:
        if self.citizens[t.citizen].priority == "green":
            self._note(t, now, self.floors, help_desk=False)
            self._note(t, now, self.help_floors, help_desk=True)
        super().join(t, now)

    def _note(self, t, now: float, floors: dict, help_desk: bool) -> None:
        """The minutes until a window that may take green ticket `t` is free, into `floors`."""
        soonest = None
        for d in self.desks.values():
            eligible = self._could_take(d, t) or (help_desk and t.bound is None and d.conf.kind == "help")
            if not d.staffed_now or not eligible:
                continue
            if d.current is None:
                soonest = 0.0
                break
            cur = d.current
            c = self.citizens[cur.citizen]
            minutes = (self.scenario.assumptions.no_show_minutes if c.no_show and cur.step == 0
                       else c.minutes[cur.step])
            free = d.since + minutes - now
            soonest = free if soonest is None else min(soonest, free)
        if soonest is not None:
            floors[(t.citizen, t.step)] = max(0.0, soonest)


def green(path: str, seed_list: list[int], load: float, policies: tuple[str, ...],
          help_desk: bool = False) -> dict[str, tuple[float, float]]:
    """Per policy: (mean green wait, mean floor) over every green visit of every seed; with
    `help_desk`, the floor if the 帮办代办 desk took green citizens of every matter too."""
    config = load_config(ROOT / path)
    a = assumptions_for(path, load)
    waits: dict[str, list[float]] = {p: [] for p in policies}
    floors: dict[str, list[float]] = {p: [] for p in policies}
    for seed in seed_list:
        scenario = generate(config, seed, 1, a)
        for policy in policies:
            sim = FloorSim(config, scenario, policy, estimates=False)
            run = sim.simulate()
            for v in run.visits:
                if v.priority == "green":
                    waits[policy].append(v.wait)
                    kept = sim.help_floors if help_desk else sim.floors
                    floors[policy].append(kept.get((v.citizen, v.step), v.wait))
    return {p: (mean(waits[p]), mean(floors[p])) for p in policies}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="hall config (repeatable); default every hall in config/")
    parser.add_argument("--seeds", default="1-6")
    parser.add_argument("--load", type=float, default=0.55)
    parser.add_argument("--help-desk", action="store_true",
                        help="the floor if the 帮办代办 desk took green citizens of every matter too")
    args = parser.parse_args()
    policies = (*(p for p in REFERENCES if p != "bind"), "hallq")
    rows = []
    for path in args.config or list(CONFIGS):
        got = green(path, seeds(args.seeds), args.load, policies, args.help_desk)
        lowest = min(f for _, f in got.values())
        rows.append([Path(path).stem, *(f"{w:.2f} ({f:.2f})" for w, f in got.values()), f"{lowest:.2f}",
                     "out of reach" if lowest >= 1.0 else "reachable"])
    desk = ", the 帮办代办 desk eligible for every green citizen" if args.help_desk else ""
    print(f"绿色通道 mean wait (mean floor: time until an eligible window is free{desk}), seeds {args.seeds}, minutes")
    print(table(["hall", *policies, "lowest floor", "< 1 min"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
