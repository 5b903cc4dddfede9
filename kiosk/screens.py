"""Drawing the kiosk's screens with pygame, in portrait (1080×1920) or landscape (1920×1080).

`Screens.draw` paints the app's current screen and returns its buttons, so what a finger can hit
is exactly what was drawn. Sizes scale with the short side of the display; elderly mode (适老化,
after the 工信部 2021 rules) draws every text LARGE (1.5) times its standard size, with fewer, larger
buttons; labels break between characters but never before closing punctuation (避头尾), wrap only
when one line cannot hold them, and are never cut off; bold uses the font's real bold face. Every character drawn is recorded in `texts`, which
the tests check against the font's glyphs — a missing glyph draws a box, not an error. Characters,
not whole strings: a kiosk runs for months, and the strings include every clock minute, ticket
code and the phone and ID numbers citizens type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pygame
import qrcode

from hallq.fonts import FontCache, bold_face
from hallq.waits import wait_text as worded_wait
from kiosk.app import (
    APPOINTMENTS,
    CONFIRM,
    ISSUING,
    KEYPAD,
    MATERIALS,
    MATTERS,
    NEARBY,
    OFFLINE_TEXT,
    START,
    TICKET,
    KioskApp,
    not_issuing_text,
)
from kiosk.idcard import CITIZEN

BG = (243, 246, 250)
INK = (28, 36, 48)
MUTED = (96, 108, 124)
BLUE = (11, 79, 156)
GREEN = (16, 112, 60)  # white on it, and it on BG: >= 4.5:1
RED = (190, 30, 45)
WHITE = (255, 255, 255)
LINE = (196, 206, 220)
DISABLED = (222, 226, 232)
DISABLED_INK = (84, 94, 108)  # on DISABLED: >= 4.5:1
LARGE = 1.5  # 大字模式: every text this many times its standard size

NO_LINE_START = set("）)]】」』》〉、。，,.：:；;！!？?…·%")
NO_LINE_END = set("（([【「『《〈")


def _carried(line: str, nxt: str) -> int:
    """How many characters at the end of `line` go down with `nxt` when the line breaks before it:
    the one before a closing mark, a number before its unit ("0 | 分钟"), an opening mark."""
    keep = 0
    if nxt in NO_LINE_START:
        keep = 1
    if line[-1:].isdigit() and not nxt.isascii():
        keep = max(keep, len(line) - len(line.rstrip("0123456789")))
    elif keep and line[-1:].isdigit():
        keep = len(line) - len(line.rstrip("0123456789"))
    if keep == 0 and line[-1:] in NO_LINE_END:
        keep = 1
    while keep < len(line) and line[len(line) - keep - 1] in NO_LINE_END:
        keep += 1
    return keep if keep < len(line) else 0

KEYPAD_TITLES = {
    "appointment": "请输入预约码（8位）或手机号码（11位）",
    "pin": "请输入工作人员密码",
    "id": "请输入身份证号码（18位）",
    "sms": "输入手机号，同意接收到号短信",
}


LABEL_SIZE, SUB_SIZE = 46, 30  # a button's label and its second line, standard mode
PAGE_SIZE = 36  # "第 1/2 页"
PAGER_ITEMS = [("上一页", None, "normal"), ("下一页", None, "normal")]  # for measuring only
QR_LEAST = 190  # px at 1080: the smallest on-screen QR code a phone still reads at arm's length


def masked_entry(purpose: str, entry: str) -> str:
    """What the keypad's entry box shows: a PIN as dots, an ID number hidden but for its last four
    (people stand behind the citizen), an appointment code or phone number as typed."""
    if purpose == "pin":
        return "●" * len(entry)
    if purpose == "id":
        return "*" * max(0, len(entry) - 4) + entry[-4:]
    return entry


@dataclass(frozen=True)
class Button:
    rect: pygame.Rect
    label: str
    action: tuple | None  # None: drawn but not pressable
    sub: str = ""
    style: str = "normal"  # normal | primary | green | quiet


def hit(buttons: list[Button], x: int, y: int) -> tuple | None:
    """The action of the button under (x, y), if any."""
    for b in buttons:
        if b.action is not None and b.rect.collidepoint(x, y):
            return b.action
    return None


def wait_text(item: dict) -> str:
    if item.get("issuing") is False:
        return not_issuing_text(item)
    text = f"等候 {item.get('waiting', 0)} 人"
    wait = worded_wait(item, short=True)
    return text + (f" · {wait}" if wait else "")


class Screens:
    def __init__(self, size: tuple[int, int], font_path: Path, kiosk_name: str = "",
                 staff_button: bool = False) -> None:
        self.size = size
        self.font_path = str(font_path)
        self.kiosk_name = kiosk_name
        self.staff_button = staff_button
        self.texts: set[str] = set()  # characters drawn (bounded by the font, not by uptime)
        self._fonts = FontCache(font_path, bold_face(font_path))
        self._wraps: dict[tuple, tuple[str, ...]] = {}
        self.u = min(size) / 1080
        self.k = 1.0  # text and control scale: LARGE while the elderly mode is on
        self.drawn: list[tuple[str, int, tuple, pygame.Rect]] = []  # this frame's texts: (text, px, colour, rect)

    @property
    def portrait(self) -> bool:
        return self.size[1] > self.size[0]

    # ------------------------------------------------------------------ text

    def font(self, size: float, bold: bool = False) -> pygame.font.Font:
        return self._fonts.get(self.px(size), bold)

    def px(self, size: float) -> int:
        """Pixels for a standard-mode size (at 1080 px short side), in the current mode."""
        return max(12, int(size * self.u * self.k))

    def s(self, length: float) -> int:
        """A layout length that grows with the text in the elderly mode."""
        return int(length * self.u * self.k)

    def wrap(self, text: str, size: float, width: int, bold: bool = False) -> list[str]:
        """Break Chinese text by character (ASCII words stay whole) to fit `width` pixels; a closing
        mark (）。，…) never starts a line and an opening one never ends one: the character before
        goes down with it. Remembered (a few thousand at most): the layouts measure every label of a
        list each frame, 30 a second."""
        key = (text, self.px(size), width, bold)
        known = self._wraps.get(key)
        if known is not None:
            return list(known)
        if len(self._wraps) > 4000:
            self._wraps.clear()
        lines = self._wrap(text, self.font(size, bold), width)
        self._wraps[key] = tuple(lines)
        return lines

    @staticmethod
    def _wrap(text: str, font: pygame.font.Font, width: int) -> list[str]:
        lines, line = [], ""
        for ch in text:
            if ch == "\n":
                lines.append(line)
                line = ""
                continue
            if line and font.size(line + ch)[0] > width:
                cut = line.rfind(" ") if ch.isascii() and ch != " " and line[-1:].isascii() else -1
                if cut > 0:
                    lines.append(line[:cut])
                    line = line[cut + 1:]
                else:
                    keep = _carried(line, ch)
                    lines.append(line[:len(line) - keep])
                    line = line[len(line) - keep:]
            line += ch
        lines.append(line)
        return lines

    def text(self, surf: pygame.Surface, s: str, size: float, color, pos, anchor: str = "center",
             bold: bool = False) -> pygame.Rect:
        self.texts.update(s)
        img = self.font(size, bold).render(s, True, color)  # the bold face, never synthetic bold
        rect = img.get_rect(**{anchor: pos})
        surf.blit(img, rect)
        if len(self.drawn) < 400:
            self.drawn.append((s, self.px(size), color, rect))
        return rect

    def paragraph(self, surf, s: str, size: float, color, rect: pygame.Rect, center: bool = True,
                  max_lines: int = 99) -> int:
        """Wrapped text from the top of `rect`; returns the y below the last line."""
        y = rect.top
        step = int(self.px(size) * 1.35)
        for line in self.wrap(s, size, rect.width)[:max_lines]:
            if center:
                self.text(surf, line, size, color, (rect.centerx, y), "midtop")
            else:
                self.text(surf, line, size, color, (rect.left, y), "topleft")
            y += step
        return y

    def fitted(self, surf, s: str, size: float, color, rect: pygame.Rect, floor: float = 0.6) -> int:
        """Wrapped text that keeps inside `rect`: smaller (down to `floor` of its size) when it would
        run past the bottom, then cut short with "…" — an unseen hall's 50-character matter name must
        not push what follows under the buttons, off the screen or over the QR code; returns the y
        below the last line. `floor` 1.0: cut short at the full size (in 大字模式 the 1.5× size is
        the rule, issue #13)."""
        scale = 1.0
        while True:
            lines = self.wrap(s, size * scale, rect.width)
            step = int(self.px(size * scale) * 1.35)
            if len(lines) * step <= rect.height or scale <= floor:
                break
            scale *= 0.9
        room = max(1, rect.height // step)
        if len(lines) > room:
            font = self.font(size * scale)
            last = lines[room - 1]
            while last and font.size(last + "…")[0] > rect.width:
                last = last[:-1]
            lines = [*lines[:room - 1], last + "…"]
        y = rect.top
        for line in lines:
            self.text(surf, line, size * scale, color, (rect.centerx, y), "midtop")
            y += step
        return y

    def lines_height(self, s: str, size: float, width: int) -> int:
        """The height `paragraph` takes for `s`."""
        return len(self.wrap(s, size, width)) * int(self.px(size) * 1.35)

    # ------------------------------------------------------------------ frame

    def draw(self, surf: pygame.Surface, app: KioskApp, now: datetime | None = None) -> list[Button]:
        """Paint the current screen; the buttons drawn, for hit-testing the next tap."""
        w, h = self.size
        u = self.u
        self.k = LARGE if app.large else 1.0
        self.drawn = []
        surf.fill(BG)
        head = pygame.Rect(0, 0, w, max(int(120 * u), int(self.px(50) * 1.5)))
        pygame.draw.rect(surf, BLUE, head)
        self.text(surf, app.hall_display_name, 50, WHITE, (int(40 * u), head.centery), "midleft", bold=True)
        now = now or app.hall_now()  # the hall's clock, as on its tickets; none before the server answers
        if now is not None:
            self.text(surf, now.strftime("%H:%M"), 50, WHITE, (w - int(40 * u), head.centery), "midright")
        foot_h = max(int(80 * u), int(self.px(30) * 1.7))
        foot = pygame.Rect(0, h - foot_h, w, foot_h)
        pygame.draw.rect(surf, WHITE, foot)
        pygame.draw.line(surf, LINE, foot.topleft, foot.topright, 2)
        hotline = app.menu.hall.get("hotline")
        left = f"监督电话：{hotline}" if hotline else ""
        self.text(surf, f"{left}    {self.kiosk_name}".strip(), 30, MUTED, foot.center)
        body = pygame.Rect(int(40 * u), head.bottom + int(30 * u), w - int(80 * u),
                           foot.top - head.bottom - int(60 * u))
        screen = app.screen
        if screen == START:
            buttons = self._start(surf, app, body)
        elif screen == MATTERS:
            buttons = self._matters(surf, app, body)
        elif screen == CONFIRM:
            buttons = self._confirm(surf, app, body)
        elif screen == MATERIALS:
            buttons = self._materials(surf, app, body)
        elif screen == KEYPAD:
            buttons = self._keypad(surf, app, body)
        elif screen == APPOINTMENTS:
            buttons = self._appointments(surf, app, body)
        elif screen == ISSUING:
            self.text(surf, "正在取号，请稍候…", 60, INK, body.center)
            buttons = []
        elif screen == TICKET:
            buttons = self._ticket(surf, app, body)
        elif screen == NEARBY:
            from kiosk.nearby_screen import nearby_screen

            buttons = nearby_screen(self, surf, app, body)
        elif screen == CITIZEN:
            from kiosk.idcard_screen import citizen_screen

            buttons = citizen_screen(self, surf, app, body)
        else:
            buttons = self._message(surf, app, body)
        for b in buttons:
            self.button(surf, b)
        return buttons

    def button(self, surf: pygame.Surface, b: Button) -> None:
        fill, ink, sub_ink = {
            "primary": (BLUE, WHITE, (220, 230, 245)),
            "green": (GREEN, WHITE, (220, 240, 228)),
            "quiet": (BG, INK, MUTED),
        }.get(b.style, (WHITE, INK, MUTED))
        if b.action is None and b.style != "quiet":
            fill, ink, sub_ink = DISABLED, DISABLED_INK, DISABLED_INK
        radius = int(18 * self.u)
        pygame.draw.rect(surf, fill, b.rect, border_radius=radius)
        if b.style in ("normal", "quiet"):
            pygame.draw.rect(surf, LINE if b.style == "normal" else BG, b.rect, 2, border_radius=radius)
        size, sub_size = LABEL_SIZE, SUB_SIZE
        bold = b.style != "quiet"
        room = b.rect.width - int(30 * self.u)
        sub_h = int(self.px(sub_size) * 1.3) if b.sub else 0
        # The layouts give a button the height its label needs (label_height); shrinking is the last
        # resort of a label that still cannot fit, so nothing is ever cut off.
        while True:
            lines = self.wrap(b.label, size, room, bold)
            line_h = int(self.px(size) * 1.2)
            if size <= 20 or line_h * len(lines) + sub_h <= b.rect.height - int(12 * self.u):
                break
            size *= 0.9
        block = line_h * len(lines) + sub_h
        y = b.rect.centery - block // 2
        for line in lines:
            self.text(surf, line, size, ink, (b.rect.centerx, y), "midtop", bold=bold)
            y += line_h
        if b.sub:
            self.text(surf, b.sub, sub_size, sub_ink, (b.rect.centerx, y + int(4 * self.u)), "midtop")

    # ------------------------------------------------------------------ layout helpers

    def label_height(self, label: str, width: int, sub: bool = True, bold: bool = True) -> int:
        """The height a button `width` wide needs to draw `label` (and a second line) at full size."""
        lines = self.wrap(label, LABEL_SIZE, width - int(30 * self.u), bold)
        return int(self.px(LABEL_SIZE) * 1.2) * len(lines) + (int(self.px(SUB_SIZE) * 1.3) if sub else 0) \
            + int(12 * self.u) + 1

    def fit(self, area: pygame.Rect, labels: list[str], columns: tuple[int, ...], height: int,
            sub: bool = True) -> tuple[int, int]:
        """(columns, button height) for a paged grid of `labels` in `area`: every label at its full
        size (in 大字模式 1.5× the standard one — issue #13), so a long name gets a taller button, or
        fewer columns when the taller ones leave fewer per page (or as many, with fewer lines each);
        `columns` in order of preference, `height` the least. The hall's usual names keep the first choice and `height`."""
        gap = int(24 * self.u)
        best: tuple[int, int, int] | None = None  # (per page, columns, height)
        for cols in columns:
            width = (area.width - gap * (cols - 1)) // cols
            h = max([height, *(self.label_height(label, width, sub) for label in labels)])
            rows = (area.height + gap) // (h + gap)
            if rows and (best is None or rows * cols > best[0] or (rows * cols == best[0] and h < best[2])):
                best = (rows * cols, cols, h)
        if best is None:  # not even one button of one column fits: the least shrinking
            return columns[-1], max(1, area.height)
        return best[1], best[2]

    def grid(self, area: pygame.Rect, n: int, cols: int, height: int, page: int) -> tuple[list[pygame.Rect], int, int]:
        """Rects for the items of one page, the page actually shown, and the page count."""
        gap = int(24 * self.u)
        rows = max(1, (area.height + gap) // (height + gap))
        per_page = rows * cols
        pages = max(1, math.ceil(n / per_page))
        page = min(max(0, page), pages - 1)
        width = (area.width - gap * (cols - 1)) // cols
        rects = []
        for i in range(min(per_page, n - page * per_page)):
            r, c = divmod(i, cols)
            rects.append(pygame.Rect(area.left + c * (width + gap), area.top + r * (height + gap), width, height))
        return rects, page, pages

    def _needs(self, items: list, pad: int) -> list[int]:
        return [self.font(LABEL_SIZE, style != "quiet").size(label)[0] + pad for label, _, style in items]

    def action_rows(self, items: list, width: int | None = None) -> list[tuple[list, int]]:
        """`items` split into rows of buttons `width` wide (the body's by default), top row first, each
        with the padding its labels get: one row when it holds every label on one line at full size
        (narrower padding before a second row), else as few rows as do — 大字模式 in portrait
        holds two of 预约签到 · 附近大厅 · 标准字体 · 工作人员 a row, never 预约/签到."""
        width = self.size[0] - int(80 * self.u) if width is None else width
        gap = int(24 * self.u)

        def fits(row: list, pad: int) -> bool:
            return sum(self._needs(row, pad)) <= width - gap * (len(row) - 1)

        for pad in (int(40 * self.u), int(32 * self.u)):
            if fits(items, pad):
                return [(items, pad)]
        pad = int(40 * self.u)
        for n in range(2, len(items) + 1):  # as few rows as hold them, as even as can be
            per = math.ceil(len(items) / n)
            rows = [items[i:i + per] for i in range(0, len(items), per)]
            if all(fits(row, pad) for row in rows):
                return [(row, pad) for row in rows]
        return [([item], pad) for item in items]

    def rows_height(self, items: list, width: int | None = None) -> int:
        """The height `bottom_row` takes for `items`."""
        n = len(self.action_rows(items, width)) if items else 0
        return n * self.s(120) + max(0, n - 1) * int(24 * self.u)

    def bottom_row(self, body: pygame.Rect, items: list[tuple[str, tuple | None, str]]) -> list[Button]:
        """Rows of buttons along the bottom of `body`: (label, action, style). Each gets at least the
        width its label needs on one line (a short label never wraps), the rest of its row is shared
        equally; a row that cannot hold them all becomes two (action_rows)."""
        h = self.s(120)
        gap = int(24 * self.u)
        rows = self.action_rows(items, body.width)
        out = []
        for r, (row, pad) in enumerate(rows):
            top = body.bottom - h - (len(rows) - 1 - r) * (h + gap)
            free = body.width - gap * (len(row) - 1)
            need = self._needs(row, pad)
            if sum(need) <= free:
                extra = (free - sum(need)) // len(row)
                widths = [w + extra for w in need]
            else:  # one label wider than the screen: share by need
                widths = [free * w // sum(need) for w in need]
            x = body.left
            for (label, action, style), width in zip(row, widths, strict=True):
                out.append(Button(pygame.Rect(x, top, width, h), label, action, style=style))
                x += width + gap
        return out

    def pager(self, surf, row: pygame.Rect, page: int, pages: int, lead: list | None = None) -> list[Button]:
        """上一页 / 下一页 buttons in `row` (after the `lead` items), and "第 n/m 页" written above
        them: a status, not a button, so it never has to squeeze between buttons."""
        items = list(lead or [])
        if pages > 1:
            turn = [("上一页", ("page", -1) if page > 0 else None, "normal"),
                    ("下一页", ("page", 1) if page < pages - 1 else None, "normal")]
            above = row.bottom
            if len(self.action_rows(items + turn, row.width)) == 1:
                items += turn
                turn = []
            elif items:  # 大字模式 in portrait: a row of their own above the lead, as pager_height reserves
                above = row.bottom - self.rows_height(items, row.width) - int(24 * self.u)
            self.text(surf, f"第 {page + 1}/{pages} 页", PAGE_SIZE, INK,
                      (row.centerx, above - self.rows_height(turn or items, row.width) - int(8 * self.u)), "midbottom")
            if turn:
                upper = pygame.Rect(row.left, row.top, row.width, above - row.top)
                return (self.bottom_row(row, items) if items else []) + self.bottom_row(upper, turn)
        return self.bottom_row(row, items) if items else []

    def pager_height(self, lead: list | None = None) -> int:
        """The height `pager` takes with `lead` before 上一页/下一页: their own row above the lead's
        when one row cannot hold them all at full size (大字模式, portrait)."""
        lead = list(lead or [])
        if len(self.action_rows([*lead, *PAGER_ITEMS])) == 1:
            buttons = self.s(120)
        else:
            buttons = self.rows_height(lead) + int(24 * self.u) + self.rows_height(PAGER_ITEMS)
        return buttons + int(self.px(PAGE_SIZE) * 1.3) + int(16 * self.u)

    def title(self, surf, s: str, body: pygame.Rect, color=INK, room: int | None = None) -> int:
        """The screen's title from the top of `body`; with `room`, it leaves that much of `body`
        below it (a 50-character name is cut short with "…", at its full size, rather than
        leaving no room for the list it heads)."""
        if room is None:
            return self.paragraph(surf, s, 54, color, body) + int(20 * self.u)
        rect = pygame.Rect(body.left, body.top, body.width, max(1, body.height - room - int(20 * self.u)))
        return self.fitted(surf, s, 54, color, rect, floor=1.0) + int(20 * self.u)

    # ------------------------------------------------------------------ screens

    def _start(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        large = app.large
        if not app.online:
            y = body.centery - int(240 * self.u)
            y = self.paragraph(surf, app.hall_display_name, 50, INK,
                               pygame.Rect(body.left, y, body.width, body.height)) + int(30 * self.u)
            for line in self.wrap(OFFLINE_TEXT, 80, body.width, True):
                y = self.text(surf, line, 80, RED, (body.centerx, y), "midtop", bold=True).bottom
            self.paragraph(surf, "本机与排队系统的连接中断，恢复后自动继续", 40, MUTED,
                           pygame.Rect(body.left, y + int(30 * self.u), body.width, body.height))
            return []
        y = self.title(surf, "请选择办理事项", body)
        if app.green:
            y = self.paragraph(surf, "绿色通道已开启：下一张号为优先号", 44, GREEN,
                               pygame.Rect(body.left, y, body.width, 60)) + int(10 * self.u)
        elif app.card is not None:
            y = self.paragraph(surf, f"已读取身份证：{app.card.masked_name}，请选择事项", 44, GREEN,
                               pygame.Rect(body.left, y, body.width, 60)) + int(10 * self.u)
        actions = [("预约签到", ("keypad", "appointment"), "normal"),
                   ("标准字体" if large else "大字模式", ("large",), "green" if not large else "normal")]
        if app.nearby_linked:
            actions.insert(1, ("附近大厅", ("nearby",), "normal"))
        if self.staff_button:
            actions.append(("工作人员", ("keypad", "pin"), "quiet"))
        row = self.bottom_row(body, actions)
        row_top = min(b.rect.top for b in row)
        cats = app.menu.categories
        choices = (2, 1) if self.portrait else (3, 2, 1)
        least = self.s(190) if self.portrait or not large else self.s(140)
        area = pygame.Rect(body.left, y, body.width, row_top - y - int(30 * self.u))
        cols, height = self.fit(area, cats, choices, least)
        rects, page, pages = self.grid(area, len(cats), cols, height, app.page)
        if pages > 1:
            # Portrait: 上一页/下一页 in a row of their own; landscape has no height for one, so
            # they join the action row.
            area.height -= self.pager_height(None if self.portrait else actions) \
                - (0 if self.portrait else self.rows_height(actions)) + int(24 * self.u)
            cols, height = self.fit(area, cats, choices, least)
            rects, page, pages = self.grid(area, len(cats), cols, height, app.page)
        out = []
        for rect, cat in zip(rects, cats[page * self._per_page(area, cols, height):], strict=False):
            items = app.menu.in_category(cat)
            waiting = sum(i.get("waiting", 0) for i in items)
            out.append(Button(rect, cat, ("category", cat), sub=f"{len(items)} 项 · 等候 {waiting} 人"))
        if pages > 1 and not self.portrait:
            return out + self.pager(surf, body, page, pages, lead=actions)
        if pages > 1:
            pager_row = pygame.Rect(body.left, body.top, body.width,
                                    area.bottom + self.pager_height() + int(24 * self.u) - body.top)
            out += self.pager(surf, pager_row, page, pages)
        return out + row

    def _per_page(self, area: pygame.Rect, cols: int, height: int) -> int:
        gap = int(24 * self.u)
        return max(1, (area.height + gap) // (height + gap)) * cols

    def _matters(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        items = app.menu.in_category(app.category)
        choices = (1,) if self.portrait else (2, 1)
        names = [m["name"] for m in items]
        lead = [("返回", ("back",), "normal")]
        # The title leaves room for one row of the widest buttons and the pager.
        one = max([self.s(170), *(self.label_height(n, body.width) for n in names)])
        y = self.title(surf, app.category, body, BLUE, room=one + self.pager_height(lead) + int(30 * self.u))
        probe = pygame.Rect(body.left, y, body.width, body.bottom - y - self.s(120) - int(30 * self.u))
        cols, height = self.fit(probe, names, choices, self.s(170))
        rects, page, pages = self.grid(probe, len(items), cols, height, app.page)
        if pages > 1:
            probe.height = body.bottom - y - self.pager_height(lead) - int(30 * self.u)
            cols, height = self.fit(probe, names, choices, self.s(170))
            rects, page, pages = self.grid(probe, len(items), cols, height, app.page)
        per = self._per_page(probe, cols, height)
        out = [Button(rect, m["name"], ("matter", m["code"]), sub=wait_text(m))
               for rect, m in zip(rects, items[page * per:], strict=False)]
        return out + self.pager(surf, body, page, pages, lead=lead)

    def _confirm(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        m = app.matter or {}
        # Landscape: what the matter is on the left, its materials (一次告知) on the right.
        left = body if self.portrait else pygame.Rect(body.left, body.top, body.width // 2, body.height)
        size = 40
        lines = [f"当前{wait_text(m)}"]
        if m.get("kind") == "bundle":
            lines.append(f"一件事：{len(m.get('steps', []))} 个环节依次办理，无需重复排队")
        elif m.get("case_kind") == "承诺":
            lines.append(f"承诺件：受理后 {m.get('promised_days')} 个工作日内办结")
        elif m.get("case_kind"):
            lines.append("即办件：材料齐全当场办结")
        if app.appointment:
            slot = app.appointment.get("slot_start", "")[11:16]
            lines.append(f"预约签到：{slot} 时段，优先办理")
        elif app.green:
            lines.append("绿色通道：优先办理")
        elif app.id_number:
            lines.append("已输入身份证号，符合条件的老年人优先办理")
        actions: list[tuple[str, tuple | None, str]] = [("返回", ("back",), "normal")]
        if not (app.appointment or app.green or app.id_number or app.card):
            actions.append(("老年人凭身份证优先", ("keypad", "id"), "normal"))
        if app.nearby_linked and not app.appointment:  # where else this matter is done, and the queue there
            actions.append(("附近大厅", ("nearby",), "normal"))
        action_h = self.rows_height(actions)  # two rows in 大字模式, portrait, beside 附近大厅
        confirm_h = self.s(150) if self.portrait else self.s(110)
        gap = int(24 * self.u)
        materials = m.get("materials") or []
        # 短信提醒 (optional, with consent): the appointment's phone and consent came with the booking.
        sms_h = 0 if app.appointment else self.s(100)
        box_bottom = body.bottom - action_h - confirm_h - 2 * gap - (sms_h + gap if sms_h else 0)
        # The matter's name gets the height its facts below it leave above the buttons (in portrait
        # also room for the "查看全部 N 项材料" button).
        below = box_bottom - (self.s(100) + int(20 * self.u) if materials else 0) if self.portrait \
            else body.bottom - action_h - gap
        facts = sum(self.lines_height(line, size, left.width) for line in lines) + int(20 * self.u)
        y = self.fitted(surf, m.get("name", ""), 54, BLUE,
                        pygame.Rect(left.left, left.top, left.width, below - facts - left.top)) + int(20 * self.u)
        text_rect = pygame.Rect(left.left, y, left.width, body.height)
        for line in lines:
            y = self.paragraph(surf, line, size, INK, text_rect.move(0, y - text_rect.top))
        y += int(20 * self.u)
        column = body
        if not self.portrait:
            column = pygame.Rect(left.right + int(30 * self.u), body.top, body.right - left.right - int(30 * self.u),
                                 body.height)
            y = body.top
        shown = self._materials_box(surf, materials, pygame.Rect(column.left, y, column.width, box_bottom - y), size) \
            if materials else []
        label = "确认签到取号" if app.appointment else "确认取号"
        style = "green" if (app.green or app.appointment) else "primary"
        confirm = Button(pygame.Rect(column.left, body.bottom - action_h - gap - confirm_h, column.width, confirm_h),
                         label, ("confirm",), style=style)
        extra = []
        if sms_h:
            phone = app.sms_phone
            label = f"短信提醒：{phone[:3]}****{phone[-4:]}" if phone else "到号短信提醒（可选）"
            extra.append(Button(pygame.Rect(column.left, confirm.rect.top - gap - sms_h, column.width, sms_h), label,
                                ("keypad", "sms")))
        return [confirm, *extra, *shown, *self.bottom_row(body, actions)]

    def _materials_box(self, surf, materials: list[str], area: pygame.Rect, size: float) -> list[Button]:
        """一次告知 on the confirm screen: every paper in a box when they fit; else as many as fit and
        a "查看全部 N 项材料" button to the paged list (大字模式 and landscape leave room for few or
        none), so the citizen sees every paper before taking a number, not only on the ticket."""
        msize = 36
        head = "请备齐以下材料（一次告知）："
        pad_x, pad_y = int(40 * self.u), int(30 * self.u)
        inner_w = area.width - pad_x
        step = int(self.px(msize) * 1.35)
        head_h = int(self.px(size) * 1.35) * len(self.wrap(head, size, inner_w))
        rows = [len(self.wrap(f"{i}. {m}", msize, inner_w)) for i, m in enumerate(materials, 1)]
        needed = head_h + sum(rows) * step + pad_y + int(20 * self.u)
        out: list[Button] = []
        box_h = needed
        if needed > area.height:
            btn_h = self.s(100)
            out.append(Button(pygame.Rect(area.left, area.bottom - btn_h, area.width, btn_h),
                              f"查看全部 {len(materials)} 项材料", ("materials",)))
            box_h = area.height - btn_h - int(20 * self.u)
            if box_h < head_h + pad_y + step:  # not even one paper: the button alone
                return out
        box = pygame.Rect(area.left, area.top, area.width, box_h)
        pygame.draw.rect(surf, WHITE, box, border_radius=int(14 * self.u))
        pygame.draw.rect(surf, LINE, box, 2, border_radius=int(14 * self.u))
        inner = box.inflate(-pad_x, -pad_y)
        iy = self.paragraph(surf, head, size, BLUE, inner, center=False)
        for i, (item, n) in enumerate(zip(materials, rows, strict=True), 1):
            if iy + n * step > inner.bottom:
                break
            iy = self.paragraph(surf, f"{i}. {item}", msize, INK,
                                pygame.Rect(inner.left, iy, inner.width, inner.bottom - iy), center=False)
        return out

    def _materials(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        """The matter's whole 一次告知 list, paged (from the confirm screen's "查看全部 N 项材料");
        landscape in two columns."""
        m = app.matter or {}
        msize = 40
        step = int(self.px(msize) * 1.35)
        gap = int(30 * self.u)
        cols = 1 if self.portrait else 2
        col_w = (body.width - gap * (cols - 1)) // cols
        lines = [self.wrap(f"{i}. {t}", msize, col_w) for i, t in enumerate(m.get("materials") or [], 1)]
        head = "请备齐以下材料（一次告知）："
        lead = [("返回", ("back",), "normal")]
        # The title (a 50-character name) leaves room for the heading, the longest paper and the pager.
        room = self.lines_height(head, 40, body.width) + int(10 * self.u) + max([0, *map(len, lines)]) * step \
            + self.pager_height(lead) + gap
        y = self.title(surf, m.get("name", ""), body, BLUE, room=room)
        y = self.paragraph(surf, head, 40, INK,
                           pygame.Rect(body.left, y, body.width, body.height), center=False) + int(10 * self.u)

        def split(height: int) -> list[list[int]]:
            """Papers per column, filled top to bottom; a page is `cols` columns."""
            columns: list[list[int]] = [[]]
            used = 0
            for i, rows in enumerate(lines):
                if columns[-1] and used + len(rows) * step > height:
                    columns.append([])
                    used = 0
                columns[-1].append(i)
                used += len(rows) * step
            return columns

        columns = split(body.bottom - self.s(120) - gap - y)
        if len(columns) > cols:
            columns = split(body.bottom - self.pager_height(lead) - gap - y)
        pages = math.ceil(len(columns) / cols)
        page = min(app.list_page, pages - 1)
        for c, column in enumerate(columns[page * cols:(page + 1) * cols]):
            x, cy = body.left + c * (col_w + gap), y
            for i in column:
                for line in lines[i]:
                    self.text(surf, line, msize, INK, (x, cy), "topleft")
                    cy += step
        return self.pager(surf, body, page, pages, lead=lead)

    def _keypad(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        pad = app.keypad
        assert pad is not None
        gap = int(24 * self.u)
        action_h = self.s(120)
        # Landscape: title and entry on the left, the keys on the right (4 rows need the height).
        left = body if self.portrait else pygame.Rect(body.left, body.top, body.width * 9 // 20, body.height)
        y = self.title(surf, KEYPAD_TITLES[pad.purpose], left)
        entry = pygame.Rect(left.left, y, left.width, self.s(130))
        pygame.draw.rect(surf, WHITE, entry, border_radius=int(14 * self.u))
        pygame.draw.rect(surf, BLUE, entry, 3, border_radius=int(14 * self.u))
        shown = masked_entry(pad.purpose, pad.entry)
        if shown:
            self.text(surf, shown, 56 if pad.purpose == "id" else 70, INK, entry.center, bold=True)
        if self.portrait:
            side = min(body.width, int(900 * self.u))
            area = pygame.Rect(body.centerx - side // 2, entry.bottom + gap * 2, side,
                               body.bottom - action_h - gap * 2 - entry.bottom - gap * 2)
        else:
            right = pygame.Rect(left.right + gap * 2, body.top, body.right - left.right - gap * 2, body.height)
            area = pygame.Rect(right.left, right.top, right.width, right.height - action_h - gap * 2)
        key_h = min(int(200 * self.u), (area.height - 3 * gap) // 4)
        rects, _, _ = self.grid(pygame.Rect(area.left, area.top, area.width, 4 * key_h + 3 * gap), 12, 3, key_h, 0)
        labels = [*"123456789", "X" if pad.purpose == "id" else "清空", "0", "删除"]
        out = []
        for rect, label in zip(rects, labels, strict=True):
            action = ("delete",) if label == "删除" else ("clear",) if label == "清空" else ("key", label)
            out.append(Button(rect, label, action))
        ready = bool(pad.entry) and (pad.purpose != "id" or len(pad.entry) == 18)
        return out + self.bottom_row(body, [("返回", ("back",), "normal"),
                                            ("确定", ("enter",) if ready else None, "primary")])

    def _appointments(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        """The citizen's appointments today to check in, paged (app.list_page) when they do not all fit."""
        y = self.title(surf, "请选择要签到的预约", body)
        found = app.appointments
        names = [a.get("service_name") or a["service"] for a in found]
        lead = [("返回首页", ("home",), "normal")]
        area = pygame.Rect(body.left, y, body.width, body.bottom - y - self.s(120) - int(40 * self.u))
        _, height = self.fit(area, names, (1,), self.s(170))
        rects, page, pages = self.grid(area, len(found), 1, height, app.list_page)
        if pages > 1:
            area.height = body.bottom - y - self.pager_height(lead) - int(40 * self.u)
            _, height = self.fit(area, names, (1,), self.s(170))
            rects, page, pages = self.grid(area, len(found), 1, height, app.list_page)
        first = page * self._per_page(area, 1, height)
        out = [Button(r, name, ("appointment", a["code"]), sub=f"预约时段 {a.get('slot_start', '')[11:16]}")
               for r, a, name in zip(rects, found[first:], names[first:], strict=False)]
        return out + self.pager(surf, body, page, pages, lead=lead)

    def _ticket(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        issued = app.issued
        assert issued is not None
        t = issued.ticket
        u = self.u
        gap = int(30 * u)
        done_h = self.s(120)
        if self.portrait:
            info = pygame.Rect(body.left, body.top, body.width, body.height - done_h - gap)
            side = None
            done = pygame.Rect(body.left, body.bottom - done_h, body.width, done_h)
        else:  # landscape: number on the left, the rest on the right, 完成 under it: every pixel of height
            info = pygame.Rect(body.left, body.top, body.width * 11 // 20, body.height)
            side = pygame.Rect(info.right + gap, body.top, body.right - info.right - gap, body.height - done_h - gap)
            done = pygame.Rect(side.left, body.bottom - done_h, side.width, done_h)
        y = self.text(surf, "您的号码", 48, INK, (info.centerx, info.top), "midtop").bottom
        code_size = 240 if self.portrait else 160
        while self.font(code_size, True).size(t["code"])[0] > info.width:  # "A0012" (number_width 4) in 大字
            code_size *= 0.95
        r = self.text(surf, t["code"], code_size, RED if t.get("priority") == "green" else BLUE,
                      (info.centerx, y), "midtop", bold=True)
        line = f"前面还有 {t.get('waiting_ahead', 0)} 人等候"
        wait = worded_wait(t["position"]) if t.get("position") else ""
        if wait:
            line += f"，{wait}"
        if issued.printed is None:
            status, status_size, status_colour = "正在打印号票…", 50, INK
        elif issued.printed:
            status, status_size, status_colour = "请取走下方号票，留意叫号", 54, GREEN
        else:
            status, status_size, status_colour = issued.note, 52, RED
        limit, caption = (int(300 * u), 34) if issued.printed is not False else (int(560 * u), 38)
        cap_h = int(self.px(caption) * 1.4)
        # The matter's name gets what the waiting line (and, in portrait, the status and a QR code
        # big enough to scan: the only copy when nothing printed) leave it.
        below = self.lines_height(line, 44, info.width) + int(20 * u)
        if side is None:
            below += self.lines_height(status, status_size, info.width)
            below += int(QR_LEAST * u) + cap_h + int(20 * u) if issued.printed is False else 0
        top = r.bottom + int(10 * u)
        # 大字模式: the name at 1.5×, cut short if need be (it was on the confirm screen; the number matters here).
        y = self.fitted(surf, t["matter"]["name"], 50, INK, pygame.Rect(info.left, top, info.width, info.bottom - below - top),
                        floor=1.0 if self.k > 1 else 0.6)
        y = self.paragraph(surf, line, 44, INK, pygame.Rect(info.left, y, info.width, 200)) + int(20 * u)
        if side is not None:
            y = side.top
        column = side or info
        y = self.paragraph(surf, status, status_size, status_colour, pygame.Rect(column.left, y, column.width, 300))
        if issued.printed is None:
            return []
        bottom = column.bottom
        size = min(column.width, bottom - y - cap_h - int(20 * u), limit)
        if size > 100 * u:
            top = y + int(10 * u)
            self.qr(surf, issued.link, pygame.Rect(column.centerx - size // 2, top, size, size))
            self.text(surf, "扫码查看排队进度", caption, INK, (column.centerx, top + size + int(6 * u)), "midtop")
        return self.bottom_row(pygame.Rect(done.left, body.top, done.width, done.bottom - body.top),
                               [("完成", ("done",), "primary")])

    def _message(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        color = RED if app.message == OFFLINE_TEXT else INK
        lines = self.wrap(app.message, 64, body.width)
        y = body.centery - len(lines) * int(self.px(64) * 1.35) // 2 - int(80 * self.u)
        self.paragraph(surf, app.message, 64, color, pygame.Rect(body.left, y, body.width, body.height))
        return self.bottom_row(body, [("返回首页", ("home",), "primary")])

    def qr(self, surf: pygame.Surface, payload: str, rect: pygame.Rect) -> None:
        """The QR code drawn square into `rect`, on white with a quiet zone, to scan or photograph."""
        code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
        code.add_data(payload)
        code.make(fit=True)
        matrix = code.get_matrix()
        n = len(matrix)
        cell = max(1, min(rect.width, rect.height) // n)
        side = cell * n
        left, top = rect.centerx - side // 2, rect.top
        pygame.draw.rect(surf, WHITE, (left, top, side, side))
        for r, row in enumerate(matrix):
            for c, dark in enumerate(row):
                if dark:
                    surf.fill((0, 0, 0), (left + c * cell, top + r * cell, cell, cell))
