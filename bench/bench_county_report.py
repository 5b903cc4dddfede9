"""County report over 20 halls × one year (~5 M tickets) from the per-day figures table
(county/rollup.py), each dimension timed. No raw-event reference in the same run yet (replaying
~35 M events would take minutes: docs/county.md).

    PYTHONPATH=. python bench/bench_county_report.py
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pgrig import fresh_database  # noqa: E402

from county import reports  # noqa: E402
from county.db import Database  # noqa: E402
from county.rollup import FIGURES  # noqa: E402


def main() -> None:
    rng = random.Random(1)
    with fresh_database() as url:
        db = Database(url)
        db.migrate()
        first = date(2025, 1, 1)
        days = [first + timedelta(days=i) for i in range(365)]
        with db.connection() as conn:
            for h in range(20):
                conn.execute("INSERT INTO halls (code, name) VALUES (%s, %s)", [f"H{h:02d}", f"第{h + 1}中心"])
            cols = ", ".join(("hall", "day", "dim", "key", "name", *FIGURES))
            with conn.cursor().copy(f"COPY day_figures ({cols}) FROM STDIN") as copy:
                for h in range(20):
                    for d in days:
                        keys = [("hall", "")] + [("service", f"S{s}") for s in range(40)] + \
                               [("department", f"D{s}") for s in range(12)] + [("staff", f"{h}{s:03d}") for s in range(40)]
                        for dim, key in keys:
                            n = 700 if dim == "hall" else rng.randint(5, 40)
                            copy.write_row((f"H{h:02d}", d, dim, key, key, n, n - 20, 20, n - 20, 0, n, n * 12.5,
                                            n // 2, n // 2 - 2, 1, 1, 1, n // 3, n // 2))
            conn.execute("ANALYZE day_figures")
        tickets = 20 * 365 * 700
        for by in ("hall", "service", "department", "staff", "month"):
            t0 = time.perf_counter()
            with db.connection() as conn:
                out = reports.rows(conn, by, days[0], days[-1])
            print(f"county report by {by:10}: 20 halls x 365 days ({tickets / 1e6:.1f} M tickets), "
                  f"{len(out)} rows in {time.perf_counter() - t0:.3f} s (goal < 2 s)")
        db.close()


if __name__ == "__main__":
    main()
