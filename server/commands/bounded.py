"""Command-line numbers with a range: one argparse type for every bounded option, so each says
what it wants in the same words ("must be 0.1–60 seconds") instead of a traceback or a silent
wrong value."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def bounded(low: float, high: float, unit: str, whole: bool = False) -> Callable[[str], float]:
    """An argparse `type=` taking a number (a whole one with `whole`) in low..high of `unit`."""
    kind = int if whole else float

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole number' if whole else 'number'} of {unit}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g}–{high:g} {unit}")
        return value

    return parse
