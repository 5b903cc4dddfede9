"""Device simulators that speak the datasheet bytes over real ptys or loopback TCP.

Drivers under test open the simulator's port by path or URL exactly as they open hardware.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 2.0, interval: float = 0.01) -> bool:
    """Poll `predicate` until true or `timeout`; tests use it instead of fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
