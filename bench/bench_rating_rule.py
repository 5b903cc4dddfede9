"""What the 先评价后办事 rule costs in on-site ratings, in the demo hall's simulated days.

    .venv/bin/python bench/bench_rating_rule.py [--days 9] [--per-day 700]

Plays the demo hall's working days through the engine (hallq/demo_history.py: citizens press the
evaluator RATE_DELAY seconds after FINISH, the clerk presses CALL_NEXT CLERK_PAUSE seconds after it)
and counts the presses the engine refuses as `next_called`, beside the reference measured in the
same runs: the presses that would have counted without the rule (recorded + refused). Each row
changes one timing assumption, since the cost is nothing but the race between those two delays.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hallq.demo_history as history  # noqa: E402
from hallq.config import load_config  # noqa: E402
from server.simulate.report import table  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo-hall.toml"
VARIANTS = [  # (label, citizen rates within s, clerk calls next within s)
    ("demo default", history.RATE_DELAY, history.CLERK_PAUSE),
    ("citizens quick (3-10 s)", (3.0, 10.0), history.CLERK_PAUSE),
    ("clerks slower (10-40 s)", history.RATE_DELAY, (10.0, 40.0)),
    ("clerks hurry (0-5 s)", history.RATE_DELAY, (0.0, 5.0)),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=9, help="calendar days before 2026-12-01 to play")
    ap.add_argument("--per-day", type=int, default=700)
    args = ap.parse_args()
    config = load_config(CONFIG)
    rows = []
    for label, rate, clerk in VARIANTS:
        history.RATE_DELAY, history.CLERK_PAUSE = rate, clerk
        with tempfile.TemporaryDirectory() as tmp:
            f = history.seed_history(config, Path(tmp) / "h.db", date(2026, 12, 1), args.days, args.per_day).figures
        refused = f.refused.get("next_called", 0)
        reference = f.ratings + refused
        rows.append([label, f"{rate[0]:g}-{rate[1]:g}", f"{clerk[0]:g}-{clerk[1]:g}", reference, f.ratings, refused,
                     f"{100 * refused / max(1, reference):.1f}%"])
    print(table(["timing", "rates after (s)", "calls next after (s)", "presses (reference)", "recorded",
                 "refused next_called", "cost"], rows))


if __name__ == "__main__":
    main()
