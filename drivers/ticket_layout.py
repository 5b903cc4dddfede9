"""The queue ticket: one plain data object and ONE layout function.

Kiosk printing, reprints, the bench and the tests all go through `layout_ticket`, so what the
citizen holds is what the tests decode. Chinese text is sent as explicit GBK/GB18030 bytes inside
`FS &` … `FS .` with `_raw`, never through python-escpos's code-page guessing (which prints
full-width punctuation such as "，：（）" as '?').
"""

from __future__ import annotations

import copy
import textwrap
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime

import qrcode
from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from escpos.printer import Dummy

FS_CHINESE_ON = b"\x1c\x26"  # FS &
FS_CHINESE_OFF = b"\x1c\x2e"  # FS .
TICKET_BUDGET = 2048  # datasheet §4: keep a ticket under about 2 KB (native QR, text in Chinese mode)


@dataclass(frozen=True)
class TicketPrint:
    """Everything printed on a ticket, already decided by the queue side."""

    hall_name: str  # "某某市政务服务中心"
    matter_name: str  # "社会保障卡申领"
    number: str  # ticket code, "A023"
    waiting_ahead: int  # people before this ticket
    wait_text: str  # the estimated wait as worded for citizens (hallq/waits.py); '' when unknown
    issued_at: datetime
    qr_payload: str = ""  # e.g. the progress page URL; empty prints no QR
    materials: tuple[str, ...] = ()  # 所需材料, one entry per line
    footer: str = ""  # e.g. "监督电话：12345"
    marks: tuple[str, ...] = ()  # printed large under the number: "优先", "预约", "一件事"
    notes: tuple[str, ...] = ()  # lines under the marks, e.g. "一件事：3 个环节依次办理，无需重新取号"
    wait_place: str = ""  # where to wait, e.g. "请在候号区就座，留意叫号屏和语音叫号"
    no_show_rule: str = ""  # what 过号 means, e.g. "叫号 3 次未到按过号处理，过号后请重新取号"
    materials_left: int = 0  # 所需材料 not printed to keep within TICKET_BUDGET (they are on the QR page)


@dataclass(frozen=True)
class PaperLayout:
    """What the layout needs to know about the printer model."""

    paper_mm: int = 80
    native_qr: bool = True
    cutter: bool = True

    @property
    def columns(self) -> int:
        """Font A columns: 48 on 80 mm (24 CJK), 32 on 58 mm (16 CJK)."""
        return 48 if self.paper_mm >= 80 else 32

    @property
    def dots(self) -> int:
        return 576 if self.paper_mm >= 80 else 384

    @property
    def qr_module(self) -> int:
        return 6 if self.paper_mm >= 80 else 5


def text_width(text: str) -> int:
    """Columns a string takes in font A: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" or ord(c) > 0x7F else 1 for c in text)


def wrap(text: str, columns: int, indent: str = "") -> list[str]:
    """Break text into lines of at most `columns` font-A columns, preferring spaces for ASCII."""
    if text.isascii():
        return textwrap.wrap(text, columns, subsequent_indent=indent) or [""]
    lines: list[str] = []
    line = ""
    for ch in text:
        if text_width(line + ch) > columns:
            lines.append(line)
            line = indent
        line += ch
    lines.append(line)
    return lines


def encode_line(text: str) -> bytes:
    """Bytes for one line of text: ASCII as is, anything else inside FS & … FS . as GBK.

    Characters outside GBK would print as '?' anyway (four-byte GB18030); they are sent as '?'
    so the result is the same on every printer and in the simulator.
    """
    if text.isascii():
        return text.encode("ascii")
    body = bytearray()
    for ch in text:
        try:
            body += ch.encode("gbk")
        except UnicodeEncodeError:
            body += b"?"
    return FS_CHINESE_ON + bytes(body) + FS_CHINESE_OFF


def _line(p: Escpos, text: str) -> None:
    p._raw(encode_line(text) + b"\n")


def _size(p: Escpos, width: int, height: int) -> None:
    p.set(custom_size=True, width=width, height=height)  # GS ! n


def within_budget(t: TicketPrint, layout: PaperLayout) -> TicketPrint:
    """The ticket with as many 所需材料 as keep it within TICKET_BUDGET, the others counted in
    `materials_left`: an unseen hall's twelve 50-character papers made a 2.2 KB ticket, thirty a
    5 KB one (seconds on a 9600 bps line, half a metre of paper). Measured as if the QR were native,
    so a raster-QR printer keeps the same papers."""
    native = replace(layout, native_qr=True)
    keep = len(t.materials)
    while keep and len(ticket_bytes(t, native, budget=False)) > TICKET_BUDGET:
        keep -= 1
        t = replace(t, materials=t.materials[:keep], materials_left=t.materials_left + 1)
    return t


def layout_ticket(p: Escpos, t: TicketPrint, layout: PaperLayout, budget: bool = True) -> None:
    """Emit a whole ticket to `p` (any python-escpos printer, or Dummy to get bytes); `budget`: cut
    the 所需材料 list to keep within TICKET_BUDGET."""
    if budget:
        t = within_budget(t, layout)
    cols = layout.columns
    p.hw("INIT")  # ESC @: a known state, whatever the last job left behind
    p.set(align="center", bold=True)
    _size(p, 2, 2)
    for line in wrap(t.hall_name, cols // 2):
        _line(p, line)
    _size(p, 1, 1)
    p.set(bold=False)
    for line in wrap(t.matter_name, cols):
        _line(p, line)
    _line(p, "-" * cols)
    big = 4 if layout.paper_mm >= 80 else 3
    _size(p, big, big)
    p.set(bold=True)
    _line(p, t.number)
    if t.marks:  # bold, double size, in 【】: a guide sees 优先 / 预约 / 一件事 from a step away
        _size(p, 2, 2)
        line = ""
        for mark in (f"【{m}】" for m in t.marks):  # whole marks per line, never a lone 】
            if line and text_width(line + mark) > cols // 2:
                _line(p, line)
                line = ""
            line += mark
        _line(p, line)
    _size(p, 1, 1)
    p.set(bold=False)
    for note in t.notes:
        for line in wrap(note, cols):
            _line(p, line)
    _line(p, f"前面还有 {t.waiting_ahead} 人等候")
    for line in wrap(t.wait_text, cols) if t.wait_text else ():
        _line(p, line)
    if t.wait_place:
        p.set(bold=True)
        for line in wrap(t.wait_place, cols):
            _line(p, line)
        p.set(bold=False)
    if t.qr_payload:
        _qr(p, t.qr_payload, layout)
        _line(p, "扫码查看排队进度")
    p.set(align="left")
    _line(p, "取号时间：" + t.issued_at.strftime("%Y-%m-%d %H:%M"))
    if t.materials or t.materials_left:
        _line(p, "请备齐以下材料：")
        for i, item in enumerate(t.materials, 1):
            for line in wrap(f"{i}. {item}", cols, indent="   "):
                _line(p, line)
        if t.materials_left:
            where = "请扫码查看" if t.qr_payload else "请到服务台咨询"
            for line in wrap(f"另有 {t.materials_left} 项材料，{where}", cols, indent=""):
                _line(p, line)
    if t.no_show_rule:
        p.set(bold=True)
        for line in wrap("过号规则：" + t.no_show_rule, cols, indent=""):
            _line(p, line)
        p.set(bold=False)
    _line(p, "-" * cols)
    if t.footer:
        p.set(align="center")
        for line in wrap(t.footer, cols):
            _line(p, line)
    p.set(align="left")
    if layout.cutter:
        p.cut()  # feeds past the cutter, then GS V
    else:
        p.print_and_feed(4)  # tear-off margin


def qr_image(payload: str, module: int):
    """The QR code as a 1-bit Pillow image (raster fallback), one quiet-zone module around it."""
    qr = qrcode.QRCode(version=None, box_size=module, border=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(payload)
    qr.make(fit=True)
    return qr.make_image().get_image().convert("1")


def _qr(p: Escpos, payload: str, layout: PaperLayout) -> None:
    if layout.native_qr:
        p.qr(payload, ec=QR_ECLEVEL_M, size=layout.qr_module, native=True)  # GS ( k, centred by ESC a
    else:
        p.image(qr_image(payload, layout.qr_module), impl="bitImageRaster")  # GS v 0


def with_media_width(p: Escpos, layout: PaperLayout) -> Escpos:
    """Tell the printer object its paper width (per instance), so python-escpos's image code knows it."""
    data = copy.deepcopy(p.profile.profile_data)
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = layout.dots
    data["media"]["width"]["mm"] = layout.paper_mm
    p.profile.profile_data = data
    return p


def ticket_bytes(t: TicketPrint, layout: PaperLayout, profile: str | None = None, budget: bool = True) -> bytes:
    """The exact bytes `layout_ticket` produces (what the printer driver sends in one write)."""
    p = with_media_width(Dummy(profile=profile), layout)
    layout_ticket(p, t, layout, budget)
    return p.output
