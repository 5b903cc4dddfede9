"""Simulated ID card reader (SAM module) on a pty or loopback TCP port, with cards and faults.

It answers every command of the datasheet with its exact bytes: SAM status/reset, find, select
and read (text block and a dummy 1,024-byte photo). Tests place and remove cards and inject the
faults the datasheet names: select failed (0x81), read failed because the card moved (0x41),
a damaged command (0x10, as line noise on the way in would cause), a length error (0x11), an
unknown command (0x21), SAM self-test failure (0x60), and on the line: silence, answers too late,
answers with a wrong CHK, noise before answers, answers split into pieces, unplugging.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date

from drivers import idcard
from drivers.idcard import CardText, Cmd, FrameParser, Status
from drivers.sim.line import SimLine
from drivers.sim.pty import Endpoint

PHOTO_LEN = 1024
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number(region: str, born: date, sequence: int) -> str:
    """A well-formed 18-character ID number (GB 11643 check digit) for made-up citizens."""
    first = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first + _ID_CHECK[sum(int(d) * w for d, w in zip(first, _ID_WEIGHTS, strict=True)) % 11]


def make_card(name: str, born: date, sequence: int = 123, region: str = "420106", sex: str = "1",
              address: str = "湖北省武汉市武昌区中北路1号") -> CardText:
    """A made-up citizen's card (no real person's data is ever used)."""
    return CardText(name=name, sex=sex, nation="01", birth_date=f"{born:%Y%m%d}", address=address,
                    id_number=id_number(region, born, sequence), authority="武汉市公安局武昌分局",
                    valid_from="20200101", valid_until="长期")


# Made-up citizens for `hallq sim` and the demo: one elderly, two younger.
DEMO_CARDS = (
    make_card("王秀英", date(1950, 3, 8), 242, sex="2"),
    make_card("李建国", date(1985, 10, 1), 371),
    make_card("张晓明", date(2001, 6, 15), 518),
)


class IdCardReaderSim(SimLine):
    """One reader. `place(card)` / `remove()`; fault switches are plain attributes and counters."""

    def __init__(self, endpoint: Endpoint | None = None, name: str = "idcard") -> None:
        super().__init__(endpoint, name)
        self.card: CardText | None = None
        self.serial = b""
        self.sam_failed = False  # 0x60 to everything but a SAM reset (which heals it when `reset_heals`)
        self.reset_heals = True
        self.silent = False  # no answers at all
        self.delay = 0.0  # seconds before each answer (past the host's timeout = no answer)
        self.noise = b""  # bytes sent before each answer
        self.split = 0  # send each answer in pieces of this many bytes, 5 ms apart
        self.corrupt_answers = 0  # the next N answers go out with a wrong CHK
        self.damage_commands = 0  # the next N commands arrive damaged: answered 0x10
        self.fail_select = 0  # the next N selects answer 0x81
        self.fail_read = 0  # the next N reads answer 0x41 (card moved)
        self.received: list[int] = []  # CMD PARA of every good command, in order
        self.received_at: list[float] = []  # and when (time.monotonic)
        self.reads = 0
        self._parser = FrameParser(keep_bad=True, max_len=64)
        self._lock = threading.Lock()
        self.start()

    # -------------------------------------------------------------- cards

    def place(self, card: CardText) -> None:
        with self._lock:
            self.card = card
            self.serial = os.urandom(8)

    def remove(self) -> None:
        with self._lock:
            self.card = None

    # -------------------------------------------------------------- answering

    def _forget_partial(self) -> None:
        self._parser.reset()

    def _on_bytes(self, data: bytes) -> None:
        for frame in self._parser.feed(data):
            self._answer(self._respond(frame))

    def _respond(self, frame: idcard.Frame) -> bytes:
        if not frame.ok or self.damage_commands > 0:
            self.damage_commands = max(0, self.damage_commands - 1)
            return idcard.answer(Status.COMMAND_CHECKSUM)
        cmd = frame.cmd
        if cmd not in set(Cmd):
            return idcard.answer(Status.UNKNOWN_COMMAND)
        if len(frame.payload) != 2:  # no command of the datasheet carries DATA
            return idcard.answer(Status.COMMAND_LENGTH)
        self.received.append(cmd)
        self.received_at.append(time.monotonic())
        if cmd == Cmd.SAM_RESET:
            if self.reset_heals:
                self.sam_failed = False
            return idcard.answer(Status.SAM_FAILED if self.sam_failed else Status.SUCCESS)
        if self.sam_failed:
            return idcard.answer(Status.SAM_FAILED)
        if cmd == Cmd.SAM_STATUS:
            return idcard.answer(Status.SUCCESS)
        with self._lock:
            card, serial = self.card, self.serial
        if cmd == Cmd.FIND:
            return idcard.answer(Status.CARD_FOUND, b"\0\0\0\0") if card else idcard.answer(Status.NO_CARD)
        if cmd == Cmd.SELECT:
            if card is None:
                return idcard.answer(Status.NO_CARD)
            if self.fail_select > 0:
                self.fail_select -= 1
                return idcard.answer(Status.SELECT_FAILED)
            return idcard.answer(Status.SUCCESS, serial)
        # READ
        if card is None:
            return idcard.answer(Status.NO_CARD)
        if self.fail_read > 0:
            self.fail_read -= 1
            return idcard.answer(Status.READ_FAILED)
        self.reads += 1
        return idcard.answer(Status.SUCCESS, idcard.read_data(card.encode(), bytes(range(256)) * (PHOTO_LEN // 256)))

    def _answer(self, raw: bytes) -> None:
        if self.silent:
            return
        if self.corrupt_answers > 0:
            self.corrupt_answers -= 1
            raw = raw[:-1] + bytes([raw[-1] ^ 0xFF])
        if self.delay:
            time.sleep(self.delay)
        raw = self.noise + raw
        if self.split:
            for i in range(0, len(raw), self.split):
                self.endpoint.write(raw[i:i + self.split])
                time.sleep(0.005)
        else:
            self.endpoint.write(raw)
