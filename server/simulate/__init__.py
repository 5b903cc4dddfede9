"""Hall simulator: whole days of citizens and clerks on a simulated clock, driving the server's own
allocation (`server.allocation.pick`) and wait estimate (`server.estimate.estimate_wait`), so the
figures describe the code that runs, side by side with the baselines it must beat.

`compare` is the one call the CLI and the benchmarks share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hallq.model import HallConfig

from .arrivals import Assumptions, Scenario, generate
from .model import Run, simulate
from .report import summarise

__all__ = ["Assumptions", "Run", "Scenario", "compare", "generate", "simulate", "summarise"]


def compare(
    config: HallConfig,
    seed: int,
    policies: Sequence[str],
    days: int = 1,
    assumptions: Assumptions | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict]:
    """Draw one scenario from `seed` and replay it under every policy (common random numbers)."""
    scenario = generate(config, seed, days, assumptions)
    out = {}
    for name in policies:
        report = (lambda done, total, name=name: progress(name, done, total)) if progress else None
        out[name] = summarise(config, simulate(config, scenario, name, report))
    return out
