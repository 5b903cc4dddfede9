"""What-if changes to a hall, for the simulator: what would the hall get if it did X?

A hall director asks these before training staff or changing the rota; the allocation benchmark
uses them to separate what the policy costs from what the hall's skill matrix costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from hallq.model import HallConfig


def cross_trained(config: HallConfig, keep_own: Iterable[str] = ()) -> HallConfig:
    """The same hall with every window also holding, as secondary, every matter it does not hold,
    except the `keep_own` matters, which stay with the windows that hold them (a registrar, police
    equipment).

    Each window keeps its own lines (primary stays primary, backup stays backup), so only the reach
    changes: every other matter can be taken by every window, as in the fully pooled bound. The lunch rule
    follows the skills (`server.hours.issuing`), so lunch windows then issue every matter.
    """
    keep = set(keep_own)
    unknown = keep - set(config.services)
    if unknown:
        raise ValueError(f"unknown matter(s) {', '.join(sorted(unknown))} in keep_own")
    codes = [code for code in config.services if code not in keep]
    windows = {}
    for number, window in config.windows.items():
        services = dict(window.services)
        for code in codes:
            services.setdefault(code, "secondary")
        windows[number] = replace(window, services=services)
    return replace(config, windows=windows)
