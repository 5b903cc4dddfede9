"""ESC/POS byte stream back to what a printer would put on paper.

Used by the printer simulator so tests can check text (GB18030 inside `FS &`…`FS .`, a code
page outside it, as the datasheet says), sizes, alignment, bold, QR payloads stored with
`GS ( k`, raster images (`GS v 0`) and cuts, and so people can look at a ticket as a PNG.
It covers the commands a receipt layout uses and skips other known commands by length.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10


@dataclass(frozen=True)
class Style:
    align: str = "left"  # left | center | right
    bold: bool = False
    width: int = 1  # character width multiplier 1..8
    height: int = 1


@dataclass(frozen=True)
class TextLine:
    text: str
    style: Style


@dataclass(frozen=True)
class QrCode:
    payload: str
    module: int  # dots per module
    ec: str  # L | M | Q | H
    align: str = "left"


@dataclass(frozen=True)
class RasterImage:
    width: int  # dots
    height: int
    bits: bytes  # GS v 0 raster data, rows of ceil(width/8) bytes, MSB first, 1 = black
    align: str = "left"

    def to_image(self) -> Image.Image:
        """1-bit Pillow image (black = 0) of the raster data."""
        row = (self.width + 7) // 8
        img = Image.frombytes("1", (row * 8, self.height), bytes(b ^ 0xFF for b in self.bits))
        return img.crop((0, 0, self.width, self.height))


@dataclass(frozen=True)
class Cut:
    partial: bool


@dataclass(frozen=True)
class Feed:
    lines: int


Item = TextLine | QrCode | RasterImage | Cut | Feed


@dataclass
class PrintJob:
    """One ticket (or whatever was printed between two initialisations / cuts)."""

    items: list[Item] = field(default_factory=list)
    raw: bytes = b""
    status_requests: int = 0
    unknown: list[bytes] = field(default_factory=list)  # commands the decoder does not know

    @property
    def lines(self) -> list[str]:
        return [i.text for i in self.items if isinstance(i, TextLine)]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def qr_payloads(self) -> list[str]:
        return [i.payload for i in self.items if isinstance(i, QrCode)]

    @property
    def images(self) -> list[RasterImage]:
        return [i for i in self.items if isinstance(i, RasterImage)]

    @property
    def cut(self) -> bool:
        return any(isinstance(i, Cut) for i in self.items)

    @property
    def empty(self) -> bool:
        return not self.items


def _decode_chinese(data: bytes) -> str:
    """GB18030 as the printer's Chinese mode reads it: four-byte sequences print as '?'."""
    out = []
    i = 0
    while i < len(data):
        b = data[i]
        if b < 0x80:
            out.append(chr(b))
            i += 1
        elif i + 1 < len(data) and 0x30 <= data[i + 1] <= 0x39:
            out.append("?")  # four-byte GB18030
            i += 4
        else:
            try:
                out.append(data[i : i + 2].decode("gb18030"))
            except UnicodeDecodeError:
                out.append("?")
            i += 2
    return "".join(out)


class Decoder:
    """Stateful ESC/POS interpreter; feed it the whole stream with `decode`."""

    def __init__(self) -> None:
        self.jobs: list[PrintJob] = []
        self._reset_state()
        self._job = PrintJob()
        self._line = bytearray()  # raw bytes of the current line (mode switches kept as markers)
        self._segments: list[str] = []
        self._line_style: Style | None = None
        self._qr_data = b""
        self._qr_module = 3
        self._qr_ec = "L"

    def _reset_state(self) -> None:
        self.style = Style()
        self.chinese = False

    # -------------------------------------------------------------- text

    def _flush_segment(self) -> None:
        if not self._line:
            return
        data = bytes(self._line)
        self._line.clear()
        self._segments.append(_decode_chinese(data) if self.chinese else data.decode("cp437"))

    def _text_byte(self, b: int) -> None:
        if self._line_style is None:
            self._line_style = self.style
        self._line.append(b)

    def _end_line(self) -> None:
        self._flush_segment()
        style = self._line_style or self.style
        self._job.items.append(TextLine("".join(self._segments), style))
        self._segments = []
        self._line_style = None

    def _pending_text(self) -> bool:
        return bool(self._line or self._segments)

    def _set(self, **kw: object) -> None:
        from dataclasses import replace

        self.style = replace(self.style, **kw)

    def _finish_job(self) -> None:
        if self._pending_text():
            self._end_line()
        if self._job.items:
            self.jobs.append(self._job)
        self._job = PrintJob()

    # -------------------------------------------------------------- stream

    def decode(self, data: bytes) -> list[PrintJob]:
        """Interpret `data` and return all complete jobs (the last one even without a cut)."""
        i, n = 0, len(data)
        job_start = 0

        def need(k: int) -> bool:
            return i + k <= n

        while i < n:
            b = data[i]
            if b == 0x0A:
                self._end_line()
                i += 1
            elif b == 0x0D or b == 0x09:
                i += 1
            elif b == DLE and need(3) and data[i + 1] == 0x04:
                self._job.status_requests += 1
                i += 3
            elif b == ESC and need(2):
                c = data[i + 1]
                if c == 0x40:  # ESC @
                    self._finish_job_raw(data, job_start, i)
                    job_start = i
                    self._reset_state()
                    i += 2
                elif c in (0x21,) and need(3):  # ESC ! n
                    n_ = data[i + 2]
                    self._set(bold=bool(n_ & 0x08), width=2 if n_ & 0x20 else 1, height=2 if n_ & 0x10 else 1)
                    i += 3
                elif c == 0x45 and need(3):  # ESC E n
                    self._set(bold=bool(data[i + 2] & 1))
                    i += 3
                elif c == 0x61 and need(3):  # ESC a n
                    self._set(align={0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}.get(data[i + 2], "left"))
                    i += 3
                elif c == 0x64 and need(3):  # ESC d n: print and feed n lines
                    if self._pending_text():
                        self._end_line()
                    self._job.items.append(Feed(data[i + 2]))
                    i += 3
                elif c in (0x2D, 0x4D, 0x74, 0x33, 0x4A, 0x47, 0x7B, 0x56, 0x52, 0x20, 0x63, 0x72) and need(3):
                    i += 3  # underline, font, code page, spacing, feed dots, ... : no effect on content
                elif c == 0x32:  # ESC 2
                    i += 2
                else:
                    self._job.unknown.append(bytes(data[i : i + 2]))
                    i += 2
            elif b == GS and need(2):
                c = data[i + 1]
                if c == 0x21 and need(3):  # GS ! n
                    n_ = data[i + 2]
                    self._set(width=(n_ >> 4) + 1, height=(n_ & 0x0F) + 1)
                    i += 3
                elif c == 0x56 and need(3):  # GS V m [n]
                    m = data[i + 2]
                    i += 4 if m in (65, 66, 103, 104) else 3
                    if self._pending_text():
                        self._end_line()
                    self._job.items.append(Cut(partial=m in (1, 49, 66, 104)))
                    self._finish_job_raw(data, job_start, i)
                    job_start = i
                elif c == 0x76 and need(8) and data[i + 2] == 0x30:  # GS v 0 m xL xH yL yH d…
                    xb = data[i + 4] | data[i + 5] << 8
                    h = data[i + 6] | data[i + 7] << 8
                    size = xb * h
                    bits = bytes(data[i + 8 : i + 8 + size])
                    if self._pending_text():
                        self._end_line()
                    self._job.items.append(RasterImage(xb * 8, h, bits, self.style.align))
                    i += 8 + size
                elif c == 0x28 and need(5) and data[i + 2] in (0x6B, 0x4C):  # GS ( k / GS ( L
                    plen = data[i + 3] | data[i + 4] << 8
                    body = bytes(data[i + 5 : i + 5 + plen])
                    if data[i + 2] == 0x6B:
                        self._qr_function(body)
                    i += 5 + plen
                elif c in (0x42, 0x62, 0x48, 0x66, 0x68, 0x77, 0x4C, 0x57) and need(3):
                    i += 3 if c not in (0x4C, 0x57) else 4
                else:
                    self._job.unknown.append(bytes(data[i : i + 2]))
                    i += 2
            elif b == FS and need(2):
                c = data[i + 1]
                if c == 0x26:  # FS &
                    self._flush_segment()
                    self.chinese = True
                    i += 2
                elif c == 0x2E:  # FS .
                    self._flush_segment()
                    self.chinese = False
                    i += 2
                elif c in (0x21, 0x2D) and need(3):
                    i += 3
                else:
                    self._job.unknown.append(bytes(data[i : i + 2]))
                    i += 2
            elif b in (ESC, GS, FS, DLE):
                i += 1  # truncated command at the end of the stream
            else:
                self._text_byte(b)
                i += 1
        self._finish_job_raw(data, job_start, n)
        return self.jobs

    def _finish_job_raw(self, data: bytes, start: int, end: int) -> None:
        self._job.raw += data[start:end]
        self._finish_job()

    def _qr_function(self, body: bytes) -> None:
        if len(body) < 2 or body[0] != 0x31:  # cn 49 = QR
            return
        fn = body[1]
        if fn == 0x43 and len(body) >= 3:  # module size
            self._qr_module = body[2]
        elif fn == 0x45 and len(body) >= 3:  # error correction
            self._qr_ec = {48: "L", 49: "M", 50: "Q", 51: "H"}.get(body[2], "?")
        elif fn == 0x50:  # store data (after m = '0')
            self._qr_data = body[3:]
        elif fn == 0x51:  # print the stored symbol
            if self._pending_text():
                self._end_line()
            self._job.items.append(QrCode(self._qr_data.decode("utf-8", "replace"), self._qr_module, self._qr_ec,
                                          self.style.align))


def decode(data: bytes) -> list[PrintJob]:
    """All jobs in an ESC/POS stream; a job ends at a cut or at the next ESC @."""
    return Decoder().decode(data)


# ---------------------------------------------------------------- raster QR reading


def qr_modules(img: Image.Image) -> list[list[bool]]:
    """Module grid (True = dark) of a QR code printed as a raster image.

    Finds the dark bounding box, measures the module size from the top-left finder pattern
    (7 modules wide) and samples each module's centre, so a test can compare the printed
    symbol with the one its payload encodes.
    """
    bw = img.convert("1")
    w, h = bw.size
    px = bw.load()
    dark = [(x, y) for y in range(h) for x in range(w) if px[x, y] == 0]
    if not dark:
        return []
    x0 = min(x for x, _ in dark)
    y0 = min(y for _, y in dark)
    x1 = max(x for x, _ in dark)
    run = 0
    while x0 + run <= x1 and px[x0 + run, y0] == 0:
        run += 1
    module = run / 7
    count = round((x1 - x0 + 1) / module)
    return [[px[int(x0 + (c + 0.5) * module), int(y0 + (r + 0.5) * module)] == 0 for c in range(count)] for r in range(count)]


# ---------------------------------------------------------------- PNG rendering


def find_cjk_font() -> str | None:
    """A font file with Chinese glyphs (WenQuanYi or Noto CJK), or None."""
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=5).stdout
            files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
            preferred = [f for f in files if "wqy" in f.lower() or "noto" in f.lower()]
            if preferred or files:
                return (preferred or files)[0]
        except (OSError, subprocess.SubprocessError):
            pass
    for pattern in ("/usr/share/fonts/**/wqy-*.tt[cf]", "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
                    "/usr/share/fonts/**/NotoSerifCJK*.tt[cf]"):
        found = glob.glob(pattern, recursive=True)
        if found:
            return sorted(found)[0]
    return None


def render_png(job: PrintJob, path: str | os.PathLike[str], paper_dots: int = 576) -> str:
    """Draw a job the way the paper would look, for people to check a layout by eye.

    Without a CJK font the text still renders with Pillow's default font (Chinese as boxes);
    a warning says which package to install (fonts-wqy-microhei or fonts-noto-cjk).
    """
    import qrcode

    font_path = find_cjk_font()
    if font_path is None:
        log.warning("no CJK font found (install fonts-wqy-microhei or fonts-noto-cjk); Chinese will not render")

    def font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
        if font_path:
            return ImageFont.truetype(font_path, px)
        return ImageFont.load_default()

    margin = 8
    blocks: list[Image.Image] = []
    aligns: list[str] = []
    for item in job.items:
        if isinstance(item, TextLine):
            st = item.style
            width = max(1, _text_dots(item.text))
            base = Image.new("L", (width, 24), 255)
            d = ImageDraw.Draw(base)
            x = 0
            for ch in item.text:  # one fixed cell per character, as the printer's font A has
                for dx in (0, 1) if st.bold else (0,):
                    d.text((x + dx, 1), ch, font=font(22), fill=0)
                x += 12 if ord(ch) < 0x80 else 24
            line = base.crop((0, 0, width, 24)).resize((width * st.width, 24 * st.height))
            blocks.append(line)
            aligns.append(st.align)
        elif isinstance(item, QrCode):
            qr = qrcode.QRCode(box_size=item.module, border=1,
                               error_correction={"L": 1, "M": 0, "Q": 3, "H": 2}.get(item.ec, 0))
            qr.add_data(item.payload)
            qr.make(fit=True)
            blocks.append(qr.make_image().get_image().convert("L"))
            aligns.append(item.align)
        elif isinstance(item, RasterImage):
            blocks.append(item.to_image().convert("L"))
            aligns.append(item.align)
        elif isinstance(item, Feed):
            blocks.append(Image.new("L", (1, 24 * item.lines), 255))
            aligns.append("left")
        elif isinstance(item, Cut):
            cut = Image.new("L", (paper_dots, 12), 255)
            ImageDraw.Draw(cut).line([(0, 6), (paper_dots, 6)], fill=128, width=1)
            blocks.append(cut)
            aligns.append("left")
    height = sum(b.height for b in blocks) + 2 * margin
    page = Image.new("L", (paper_dots + 2 * margin, max(height, 1)), 255)
    y = margin
    for block, align in zip(blocks, aligns, strict=True):
        block = block.crop((0, 0, min(block.width, paper_dots), block.height))
        x = {"left": 0, "center": (paper_dots - block.width) // 2, "right": paper_dots - block.width}[align]
        page.paste(block, (margin + x, y))
        y += block.height
    page.save(path)
    return str(path)


def _text_dots(text: str) -> int:
    return sum(12 if ord(c) < 0x80 else 24 for c in text)
