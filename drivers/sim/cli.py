"""`hallq sim --config FILE`: simulated devices for every bus and kiosk printer of a hall.

Starts one simulated line per configured bus (all of its keypads, evaluators or strips answering
on it) and one simulated printer per kiosk, prints where each one is, and runs until Ctrl-C.
`--write-config OUT` writes a copy of the config with the ports replaced, so the real daemon and
kiosk can be pointed at the simulators without editing anything by hand. Faults (drivers/sim/faults.py)
are injected with `--fault "paper-out K1"` at the start, then by typing the same commands on stdin or
writing them to the FIFO made by `--control PATH` (`echo "silent keypad:3" > PATH`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading

from drivers.sim.faults import FaultError, Faults
from drivers.sim.idcard import DEMO_CARDS, IdCardReaderSim
from drivers.sim.lsa0_strip import LsA0LineSim
from drivers.sim.printer import PrinterSim
from drivers.sim.pty import Endpoint, PtyEndpoint, TcpEndpoint
from drivers.sim.qb68_devices import Qb68LineSim
from hallq.model import HallConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--write-config", metavar="OUT", help="write a copy of the config with ports replaced")
    parser.add_argument("--tcp", action="store_true", help="serve lines on loopback TCP (socket://) instead of ptys")
    parser.add_argument("--dir", help="directory for the pty links (default: a new temporary directory)")
    parser.add_argument("--png-dir", help="render every printed ticket to a PNG in this directory")
    parser.add_argument("--json", action="store_true", help="print the port list as JSON")
    parser.add_argument("--fault", action="append", default=[], metavar="COMMAND",
                        help='inject a fault at the start, e.g. "paper-out K1", "silent keypad:3", "noisy strip:2 3", '
                             '"unplug bus:callers" (repeatable; the same commands work on stdin and --control)')
    parser.add_argument("--control", metavar="FIFO",
                        help="make a named pipe that takes fault commands, one a line (echo 'cover-open K1' > FIFO)")


class SimHall:
    """All simulated devices of one hall; `ports` maps bus name / 'printer:<kiosk>' to a path."""

    def __init__(self, cfg: HallConfig, tcp: bool = False, directory: str | None = None) -> None:
        self.qb68: dict[str, Qb68LineSim] = {}
        self.strips: dict[str, LsA0LineSim] = {}
        self.printers: dict[str, PrinterSim] = {}
        self.readers: dict[str, IdCardReaderSim] = {}
        self.rows: list[tuple[str, str, str]] = []
        if directory:
            os.makedirs(directory, exist_ok=True)

        def endpoint(name: str) -> Endpoint:
            return TcpEndpoint() if tcp else PtyEndpoint(name, directory)

        for bus in cfg.buses.values():
            if bus.kind == "qb68":
                line = self.qb68[bus.name] = Qb68LineSim(endpoint(bus.name), bus.name)
            else:
                line = self.strips[bus.name] = LsA0LineSim(endpoint(bus.name), bus.name)
            self.rows.append((bus.name, bus.kind, line.path))
        for w in cfg.windows.values():
            for ref, role in ((w.keypad, "keypad"), (w.evaluator, "evaluator"), (w.strip, "strip")):
                if ref is None:
                    continue
                if role == "keypad" and ref.bus in self.qb68:
                    self.qb68[ref.bus].add_keypad(ref.address)
                elif role == "evaluator" and ref.bus in self.qb68:
                    self.qb68[ref.bus].add_evaluator(ref.address)
                elif role == "strip" and ref.bus in self.strips:
                    self.strips[ref.bus].add_strip(ref.address)
        for kiosk in cfg.kiosks.values():
            if kiosk.printer is None:
                continue
            sim = self.printers[kiosk.id] = PrinterSim(endpoint(f"printer-{kiosk.id}"), f"printer-{kiosk.id}",
                                                       kiosk.printer.paper_mm)
            self.rows.append((f"printer:{kiosk.id}", "escpos", sim.path))
        for kiosk in cfg.kiosks.values():
            if kiosk.id_reader is None:
                continue
            reader = self.readers[kiosk.id] = IdCardReaderSim(endpoint(f"idreader-{kiosk.id}"), f"idreader-{kiosk.id}")
            self.rows.append((f"idreader:{kiosk.id}", "idcard-sam", reader.path))

    @property
    def ports(self) -> dict[str, str]:
        return {name: path for name, _, path in self.rows}

    def close(self) -> None:
        for sim in [*self.qb68.values(), *self.strips.values(), *self.printers.values(), *self.readers.values()]:
            sim.close()


def rewrite_ports(text: str, ports: dict[str, str]) -> str:
    """The config text with each bus's `port` and each kiosk printer's `url` pointing at `ports`."""
    blocks = re.split(r"(?m)^(?=\[)", text)
    out = []
    for block in blocks:
        if block.startswith("[[buses]]"):
            m = re.search(r'(?m)^\s*name\s*=\s*"([^"]*)"', block)
            if m and m.group(1) in ports:
                new = json.dumps(ports[m.group(1)])
                block = re.sub(r'(?m)^(\s*port\s*=\s*)"[^"]*"', lambda mm, new=new: mm.group(1) + new, block, count=1)
        elif block.startswith("[[kiosks]]"):
            m = re.search(r'(?m)^\s*id\s*=\s*"([^"]*)"', block)
            key = f"printer:{m.group(1)}" if m else ""
            if key in ports:
                new = json.dumps(ports[key])
                block = re.sub(r'(printer\s*=\s*\{[^}]*?url\s*=\s*)"[^"]*"', lambda mm, new=new: mm.group(1) + new,
                               block, count=1)
            key = f"idreader:{m.group(1)}" if m else ""
            if key in ports:
                new = json.dumps(ports[key])
                block = re.sub(r'(id_reader\s*=\s*\{[^}]*?url\s*=\s*)"[^"]*"', lambda mm, new=new: mm.group(1) + new,
                               block, count=1)
        out.append(block)
    return "".join(out)


def run(args: argparse.Namespace) -> int:
    from hallq.config import load_or_exit

    cfg = load_or_exit(args.config)
    hall = SimHall(cfg, tcp=args.tcp, directory=args.dir)
    faults = Faults(hall, cfg)
    try:
        for command in args.fault:
            try:
                print(f"# fault: {faults.apply(command)}", flush=True)
            except FaultError as exc:
                print(f"hallq sim: --fault {command!r}: {exc}", file=sys.stderr)
                return 2
        if args.json:
            print(json.dumps([{"name": n, "kind": k, "port": p} for n, k, p in hall.rows], ensure_ascii=False))
        else:
            for name, kind, path in hall.rows:
                print(f"{name}\t{kind}\t{path}")
        if args.write_config:
            with open(args.config, encoding="utf-8") as f:
                text = f.read()
            with open(args.write_config, "w", encoding="utf-8") as f:
                f.write(rewrite_ports(text, hall.ports))
            print(f"# config with simulated ports: {args.write_config}")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        _listen(faults, sys.stdin, stop)
        if args.control:
            _control_fifo(faults, args.control, stop)
        if hall.readers:
            print("# ID card readers: type 'card K1 1' to place demo card 1 on kiosk K1's reader, "
                  "'remove K1' to take it away, 'fault K1 silent|sam|ok'", flush=True)
        print("# running; Ctrl-C to stop; fault commands on stdin" + (f" or {args.control}" if args.control else "")
              + " (try: list)", flush=True)
        rendered: dict[str, int] = {}
        while not stop.wait(0.5):
            if args.png_dir:
                _render_new(hall, args.png_dir, rendered)
        return 0
    finally:
        hall.close()
        if args.control and os.path.exists(args.control):
            os.unlink(args.control)


def _run_command(faults: Faults, line: str) -> None:
    line = line.strip()
    if not line or line.startswith("#"):
        return
    words = line.split()
    if words[0] in ("card", "remove") or (words[0] == "fault" and len(words) > 1 and words[1] in faults.hall.readers):
        card_command(faults.hall, line)  # the ID card readers' own commands
        return
    try:
        print(f"# fault: {faults.apply(line)}", flush=True)
    except FaultError as exc:
        print(f"# error: {exc}", flush=True)
    except Exception as exc:  # a fault command must never stop the simulators
        print(f"# error: {line!r} failed: {exc}", flush=True)


def _listen(faults: Faults, stream, stop: threading.Event) -> None:
    """Fault commands from a stream, in a daemon thread, until it ends (stdin at EOF: no more)."""

    def run() -> None:
        for line in stream:
            if stop.is_set():
                return
            _run_command(faults, line)

    if stream is not None:
        threading.Thread(target=run, daemon=True, name="sim-faults").start()


def _control_fifo(faults: Faults, path: str, stop: threading.Event) -> None:
    """A named pipe any process can write commands to; reopened after each writer closes it."""
    if os.path.exists(path):
        os.unlink(path)
    os.mkfifo(path, 0o600)

    def run() -> None:
        while not stop.is_set():
            with open(path, encoding="utf-8") as fifo:  # blocks until a writer opens it
                for line in fifo:
                    _run_command(faults, line)

    threading.Thread(target=run, daemon=True, name="sim-control").start()


def card_commands(hall: SimHall, stop: threading.Event, lines=None) -> None:
    """Card commands from `lines` (default stdin), one a line, until they end or `stop` is set."""
    for line in lines if lines is not None else sys.stdin:
        if stop.is_set():
            return
        card_command(hall, line)


def card_command(hall: SimHall, line: str) -> None:
    """Place and remove the demo cards (made-up citizens) and switch reader faults:
    `card KIOSK N`, `remove KIOSK`, `fault KIOSK silent|sam|ok`."""
    words = line.split()
    reader = hall.readers.get(words[1]) if len(words) > 1 else None
    if reader is None:
        if words:
            print(f"# no reader {words[1] if len(words) > 1 else ''!r}; have {', '.join(hall.readers)}", flush=True)
        return
    if words[0] == "card" and len(words) > 2 and words[2].isdigit() and 1 <= int(words[2]) <= len(DEMO_CARDS):
        card = DEMO_CARDS[int(words[2]) - 1]
        reader.place(card)
        print(f"# card placed on {words[1]}: {card.name[0]}* born {card.birth_date[:4]}", flush=True)
    elif words[0] == "remove":
        reader.remove()
    elif words[0] == "fault" and len(words) > 2:
        reader.silent = words[2] == "silent"
        reader.sam_failed = words[2] == "sam"
    else:
        print("# card KIOSK N | remove KIOSK | fault KIOSK silent|sam|ok", flush=True)


def _render_new(hall: SimHall, directory: str, rendered: dict[str, int]) -> None:
    from drivers.escpos_decode import render_png

    os.makedirs(directory, exist_ok=True)
    for kiosk, sim in hall.printers.items():
        jobs = [j for j in sim.jobs if j.cut or j.qr_payloads or j.images]
        for i in range(rendered.get(kiosk, 0), len(jobs)):
            path = os.path.join(directory, f"{kiosk}-{i + 1:04d}.png")
            render_png(jobs[i], path, 576 if sim.paper_mm >= 80 else 384)
            print(f"# printed on {kiosk}: {path}", flush=True)
        rendered[kiosk] = len(jobs)
