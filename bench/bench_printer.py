"""Bytes per ticket and wire time, native versus raster QR, 80 and 58 mm.

Run on demand: `.venv/bin/python bench/bench_printer.py`. Wire time assumes 8N1 (10 bits per
byte) and counts only the serial line, not print speed.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from drivers.ticket_layout import PaperLayout, TicketPrint, ticket_bytes  # noqa: E402

TICKETS = {
    "short": TicketPrint("某某市政务服务中心", "社会保障卡申领", "A023", 5, 15, datetime(2024, 5, 6, 9, 30),
                         "https://zwfw.example.gov.cn/q/A023"),
    "full": TicketPrint(
        "某某市政务服务中心", "不动产登记（转移登记，含税费缴纳）", "B117", 23, 48, datetime(2024, 5, 6, 9, 30),
        "https://zwfw.example.gov.cn/q/3201/20240506/B117?sig=9f2c1a7e",
        ("不动产权证书原件", "买卖双方身份证原件及复印件", "购房合同（网签备案版）", "完税凭证（可现场办理）"),
        "监督电话：12345 / 0000-12345678",
    ),
}


def wire_seconds(n_bytes: int, bps: int) -> float:
    return n_bytes * 10 / bps


def main() -> None:
    print(f"{'ticket':<7} {'paper':>5} {'QR':<7} {'bytes':>6} {'9600 bps':>9} {'115200 bps':>11}")
    for name, ticket in TICKETS.items():
        for mm in (80, 58):
            for native in (True, False):
                n = len(ticket_bytes(ticket, PaperLayout(paper_mm=mm, native_qr=native, cutter=mm == 80)))
                print(f"{name:<7} {mm:>3}mm {'native' if native else 'raster':<7} {n:>6} "
                      f"{wire_seconds(n, 9600):>8.2f}s {wire_seconds(n, 115200):>10.3f}s")


if __name__ == "__main__":
    main()
