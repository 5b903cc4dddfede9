"""Fault injection for `hallq sim`, one command a line, from `--fault`, stdin or a control FIFO.

The simulators have their faults as attributes (a silent device, lost ACKs, corrupt frames, NAKs,
paper and cover state, an unplugged line); this names them for a person at a terminal or a script:

    paper-out K1 | paper-near-end K1 | paper-ok K1       the kiosk's printer paper
    paper-ends K1 [N]                                    the roll ends N bytes (default 300) into what
                                                         prints next: a ticket cut short mid-print
    cover-open K1 | cover-closed K1                      the printer cover
    silent TARGET | answer TARGET                        stops answering / answers again
    noisy TARGET [N]                                     the next N frames (default 5) arrive garbled:
                                                         a keypad/evaluator sends bad checksums, a strip
                                                         NAKs; a bus gets N bursts of noise bytes before
                                                         its next device frame
    drop-acks TARGET [N]                                 a keypad/evaluator loses the next N ACKs
    restart TARGET                                       power-cycles a keypad/evaluator (SEQ from 1)
    unplug TARGET | replug TARGET                        a bus or a printer's cable (bus:NAME, printer:K1)
    rate evaluator:N GRADE                               a citizen presses GRADE (0-5) on the evaluator
    list                                                 the targets

TARGET is keypad:N, evaluator:N or strip:N (N the window number), bus:NAME, or printer:KIOSK.
`apply` returns what was done, or raises FaultError with what is wrong (the CLI prints it and
carries on). It knows devices, not queues.
"""

from __future__ import annotations

import shlex
from typing import Any

from hallq.model import HallConfig

FAULT_HELP = __doc__.split("\n\n")[1]
NOISE = b"\x55\xaa\x00\x13"  # line noise: bytes no frame starts with


class FaultError(ValueError):
    """A command that names no fault or no device of this hall."""


class Faults:
    """Resolves targets against one SimHall (drivers/sim/cli.py) and the hall's configuration."""

    def __init__(self, hall: Any, config: HallConfig) -> None:
        self.hall = hall
        self.config = config

    def targets(self) -> list[str]:
        out = []
        for w in sorted(self.config.windows.values(), key=lambda w: w.number):
            for role in ("keypad", "evaluator", "strip"):
                if getattr(w, role) is not None:
                    out.append(f"{role}:{w.number}")
        out += [f"bus:{name}" for name in [*self.hall.qb68, *self.hall.strips]]
        out += [f"printer:{kiosk}" for kiosk in self.hall.printers]
        return out

    def apply(self, line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise FaultError(str(exc)) from None
        if not words:
            raise FaultError("empty command; try: list")
        cmd, args = words[0].lower(), words[1:]
        if cmd == "list":
            return " ".join(self.targets())
        if cmd in ("paper-out", "paper-near-end", "paper-ok", "cover-open", "cover-closed"):
            printer = self._printer(self._one(cmd, args))
            if cmd.startswith("paper-"):
                printer.paper = {"paper-out": "out", "paper-near-end": "near_end", "paper-ok": "ok"}[cmd]
                printer.paper_for = None  # a new roll (or none at all)
            else:
                printer.cover_open = cmd == "cover-open"
            return f"{cmd} {args[0]}"
        if cmd == "paper-ends":
            if not 1 <= len(args) <= 2 or (len(args) == 2 and not args[1].isdigit()):
                raise FaultError("paper-ends K1 [N]: the roll ends N bytes (default 300) into the next print")
            printer = self._printer(args[0])
            printer.paper_for = int(args[1]) if len(args) == 2 else 300
            return f"paper-ends {args[0]} after {printer.paper_for} bytes"
        if cmd == "rate":
            if len(args) != 2 or not args[1].isdigit() or not 0 <= int(args[1]) <= 5:
                raise FaultError("rate evaluator:N GRADE (0-5)")
            from drivers.qb68 import Grade

            device = self._device(args[0], roles=("evaluator",))
            result = device.rate(Grade(int(args[1])), wait=True, timeout=3.0)
            return f"rate {args[0]} {args[1]}: {result.name if result is not None else 'no ACK'}"
        if cmd not in ("silent", "answer", "noisy", "drop-acks", "restart", "unplug", "replug"):
            raise FaultError(f"unknown command {cmd!r}; one of: {FAULT_HELP.strip()}")
        if not args:
            raise FaultError(f"{cmd} needs a target: {', '.join(self.targets()[:6])} …")
        target, count = args[0], self._count(cmd, args[1:])
        kind = target.split(":", 1)[0]
        if cmd in ("unplug", "replug"):
            thing = self._bus(target) if kind == "bus" else self._printer(target)
            getattr(thing, cmd)()
            return f"{cmd} {target}"
        if kind == "bus":
            line = self._bus(target)
            if cmd in ("silent", "answer") and hasattr(line, "silent"):
                line.silent = cmd == "silent"
            elif cmd == "noisy" and hasattr(line, "noise_before_next"):
                line.noise_before_next = NOISE * count
            else:
                raise FaultError(f"{cmd} does not apply to {target}")
            return f"{cmd} {target}"
        if kind == "printer":
            printer = self._printer(target)
            if cmd not in ("silent", "answer"):
                raise FaultError(f"{cmd} does not apply to a printer (silent, answer, unplug, replug, paper-…, cover-…)")
            printer.silent = cmd == "silent"
            return f"{cmd} {target}"
        device = self._device(target)
        if cmd in ("silent", "answer"):
            device.silent = cmd == "silent"
        elif cmd == "noisy":
            if hasattr(device, "corrupt_next"):
                device.corrupt_next = count
            else:
                device.nak_next = count
        elif cmd == "drop-acks" and hasattr(device, "drop_acks"):
            device.drop_acks = count
        elif cmd == "restart" and hasattr(device, "restart"):
            device.restart()
        else:
            raise FaultError(f"{cmd} does not apply to {target}")
        return f"{cmd} {target}" + (f" {count}" if cmd in ("noisy", "drop-acks") else "")

    def _one(self, cmd: str, args: list[str]) -> str:
        if len(args) != 1:
            raise FaultError(f"{cmd} names one kiosk: {cmd} {next(iter(self.hall.printers), 'K1')}")
        return args[0]

    @staticmethod
    def _count(cmd: str, rest: list[str]) -> int:
        if not rest:
            return 5 if cmd == "noisy" else 1
        if len(rest) != 1 or not rest[0].isdigit() or not 1 <= int(rest[0]) <= 1000:
            raise FaultError(f"{cmd}: the count is a whole number 1..1000")
        return int(rest[0])

    def _printer(self, name: str):
        kiosk = name.split(":", 1)[1] if name.startswith("printer:") else name
        if kiosk not in self.hall.printers:
            raise FaultError(f"no simulated printer {name!r}; printers: {', '.join(self.hall.printers) or 'none'}")
        return self.hall.printers[kiosk]

    def _bus(self, target: str):
        name = target.split(":", 1)[1]
        line = self.hall.qb68.get(name) or self.hall.strips.get(name)
        if line is None:
            raise FaultError(f"no bus {name!r}; buses: {', '.join([*self.hall.qb68, *self.hall.strips])}")
        return line

    def _device(self, target: str, roles: tuple[str, ...] = ("keypad", "evaluator", "strip")):
        role, _, number = target.partition(":")
        if role not in roles or not number.isdigit():
            raise FaultError(f"{target!r} is not a target here; one of {', '.join(r + ':N' for r in roles)}, "
                             "bus:NAME, printer:KIOSK")
        window = self.config.windows.get(int(number))
        ref = getattr(window, role, None) if window is not None else None
        if ref is None:
            raise FaultError(f"window {number} has no {role}")
        if role == "strip":
            line = self.hall.strips.get(ref.bus)
            device = line.strips.get(ref.address) if line else None
        else:
            line = self.hall.qb68.get(ref.bus)
            device = line.devices.get(ref.address) if line else None
        if device is None:
            raise FaultError(f"{target} is not simulated (its bus {ref.bus!r} is not a simulated line)")
        return device
