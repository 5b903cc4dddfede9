"""Kiosk latency: from the tap on a matter to the last ticket byte sent, at 115200 and 9600 bps.

Run on demand: `.venv/bin/python bench/bench_kiosk.py [-n 30]`. The real kiosk loop runs headless
(SDL dummy driver) against the server (the front on uvicorn) on 127.0.0.1 and the printer simulator on a pty.
Each sample taps a matter, then 确认取号 as soon as the settle guard allows (the kiosk runs on a
manual clock, so the guard costs no real time): what is measured is the kiosk's own time — two
screens drawn, printer status (DLE EOT 1/2/4), POST /api/v1/tickets, layout and the write.

A pty has no baud rate, so the wire time is not measured but computed and added: the ticket bytes
plus the 9 status-request bytes out and 3 answer bytes in, at 10 bits per byte (8N1). A real
printer also needs time to print (~200 mm/s), which is not counted here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from hallfactory import small_hall  # noqa: E402
from kioskrig import Rig  # noqa: E402
from liveserver import serve_app  # noqa: E402

STATUS_BYTES = 9 + 3  # DLE EOT n three times, one answer byte each


def sample(rig: Rig) -> tuple[float, int]:
    """Seconds from the matter tap to the returned write, and ticket bytes sent."""
    rig.tap(("category", "社保医保"))
    done: list[float] = []
    output = rig.app.output.output

    def timed(*args, **kwargs):
        result = output(*args, **kwargs)
        done.append(time.perf_counter())
        return result

    rig.app.output.output = timed
    try:
        x, y = rig.button(("matter", "S101")).rect.center
        rig.clock.advance(1.0)
        start = time.perf_counter()
        rig.finger(x, y)
        rig.ui.step()  # the tap lands: confirm screen drawn
        rig.clock.advance(1.0)  # past the settle guard without waiting for it
        cx, cy = rig.button(("confirm",)).rect.center
        rig.finger(cx, cy)
        rig.ui.step()
        rig.settle()
    finally:
        rig.app.output.output = output
    issued = rig.app.issued
    assert issued is not None and issued.printed, "ticket not printed"
    rig.tap(("done",))
    return done[0] - start, issued.bytes_sent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="tickets per QR kind")
    args = parser.parse_args()
    from server.app import create_app, stop_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(small_hall(all_day=True), Path(tmp) / "hall.db", supervise=False)
        rows = []
        with serve_app(app) as url:
            for native in (True, False):
                rig = Rig(url, native_qr=native)
                try:
                    sample(rig)  # warm-up: opens the port, first font renders
                    runs = [sample(rig) for _ in range(args.n)]
                finally:
                    rig.close()
                host = [r[0] for r in runs]
                n_bytes = int(statistics.median(r[1] for r in runs))
                rows.append(("native" if native else "raster", host, n_bytes))
        stop_app(app)

    print(f"kiosk: tap on a matter -> last ticket byte sent; {args.n} tickets each; "
          "host time measured, wire time computed (8N1)")
    print(f"{'QR':<7} {'bytes':>6} {'host p50':>9} {'host p95':>9} {'bps':>7} {'wire':>8} {'total p50':>10} "
          f"{'total p95':>10}")
    for kind, host, n_bytes in rows:
        p50, p95 = percentile(host, 0.5), percentile(host, 0.95)
        for bps in (115200, 9600):
            wire = (n_bytes + STATUS_BYTES) * 10 / bps
            print(f"{kind:<7} {n_bytes:>6} {p50 * 1000:>7.1f}ms {p95 * 1000:>7.1f}ms {bps:>7} "
                  f"{wire * 1000:>6.0f}ms {(p50 + wire) * 1000:>8.0f}ms {(p95 + wire) * 1000:>8.0f}ms")


if __name__ == "__main__":
    main()
