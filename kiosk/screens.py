"""Drawing the kiosk's screens with pygame, in portrait (1080×1920) or landscape (1920×1080).

`Screens.draw` paints the app's current screen and returns its buttons, so what a finger can hit
is exactly what was drawn. Sizes scale with the short side of the display; elderly mode (适老化)
uses bigger text and fewer, larger buttons. Every character drawn is recorded in `texts`, which
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

from hallq.fonts import FontCache
from kiosk.app import (
    APPOINTMENTS,
    CONFIRM,
    ISSUING,
    KEYPAD,
    MATTERS,
    OFFLINE_TEXT,
    START,
    TICKET,
    KioskApp,
    not_issuing_text,
)

BG = (243, 246, 250)
INK = (28, 36, 48)
MUTED = (96, 108, 124)
BLUE = (11, 79, 156)
GREEN = (22, 132, 74)
RED = (190, 30, 45)
WHITE = (255, 255, 255)
LINE = (196, 206, 220)
DISABLED = (214, 219, 226)

KEYPAD_TITLES = {
    "appointment": "请输入预约码（8位）或手机号码（11位）",
    "pin": "请输入工作人员密码",
    "id": "请输入身份证号码（18位）",
}


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
    minutes = item.get("estimated_wait_minutes")
    text = f"等候 {item.get('waiting', 0)} 人"
    return text + (f" · 约 {int(round(minutes))} 分钟" if minutes is not None else "")


class Screens:
    def __init__(self, size: tuple[int, int], font_path: Path, kiosk_name: str = "",
                 staff_button: bool = False) -> None:
        self.size = size
        self.font_path = str(font_path)
        self.kiosk_name = kiosk_name
        self.staff_button = staff_button
        self.texts: set[str] = set()  # characters drawn (bounded by the font, not by uptime)
        self._fonts = FontCache(font_path)
        self.u = min(size) / 1080

    @property
    def portrait(self) -> bool:
        return self.size[1] > self.size[0]

    # ------------------------------------------------------------------ text

    def font(self, size: float) -> pygame.font.Font:
        return self._fonts.get(max(12, int(size * self.u)))

    def wrap(self, text: str, size: float, width: int) -> list[str]:
        """Break Chinese text by character (ASCII words stay whole) to fit `width` pixels."""
        font = self.font(size)
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
                    lines.append(line)
                    line = ""
            line += ch
        lines.append(line)
        return lines

    def text(self, surf: pygame.Surface, s: str, size: float, color, pos, anchor: str = "center",
             bold: bool = False) -> pygame.Rect:
        self.texts.update(s)
        font = self.font(size)
        font.set_bold(bold)
        img = font.render(s, True, color)
        font.set_bold(False)
        rect = img.get_rect(**{anchor: pos})
        surf.blit(img, rect)
        return rect

    def paragraph(self, surf, s: str, size: float, color, rect: pygame.Rect, center: bool = True,
                  max_lines: int = 99) -> int:
        """Wrapped text from the top of `rect`; returns the y below the last line."""
        y = rect.top
        step = int(size * self.u * 1.35)
        for line in self.wrap(s, size, rect.width)[:max_lines]:
            if center:
                self.text(surf, line, size, color, (rect.centerx, y), "midtop")
            else:
                self.text(surf, line, size, color, (rect.left, y), "topleft")
            y += step
        return y

    # ------------------------------------------------------------------ frame

    def draw(self, surf: pygame.Surface, app: KioskApp, now: datetime | None = None) -> list[Button]:
        """Paint the current screen; the buttons drawn, for hit-testing the next tap."""
        w, h = self.size
        u = self.u
        surf.fill(BG)
        head = pygame.Rect(0, 0, w, int(120 * u))
        pygame.draw.rect(surf, BLUE, head)
        self.text(surf, app.hall_display_name, 50, WHITE, (int(40 * u), head.centery), "midleft", bold=True)
        now = now or app.hall_now()  # the hall's clock, as on its tickets; none before the server answers
        if now is not None:
            self.text(surf, now.strftime("%H:%M"), 50, WHITE, (w - int(40 * u), head.centery), "midright")
        foot = pygame.Rect(0, h - int(80 * u), w, int(80 * u))
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
        elif screen == KEYPAD:
            buttons = self._keypad(surf, app, body)
        elif screen == APPOINTMENTS:
            buttons = self._appointments(surf, app, body)
        elif screen == ISSUING:
            self.text(surf, "正在取号，请稍候…", 72 if app.large else 60, INK, body.center)
            buttons = []
        elif screen == TICKET:
            buttons = self._ticket(surf, app, body)
        else:
            buttons = self._message(surf, app, body)
        for b in buttons:
            self.button(surf, b, app.large)
        return buttons

    def button(self, surf: pygame.Surface, b: Button, large: bool) -> None:
        fill, ink, sub_ink = {
            "primary": (BLUE, WHITE, (220, 230, 245)),
            "green": (GREEN, WHITE, (220, 240, 228)),
            "quiet": (BG, INK, MUTED),
        }.get(b.style, (WHITE, INK, MUTED))
        if b.action is None and b.style != "quiet":
            fill, ink, sub_ink = DISABLED, MUTED, MUTED
        radius = int(18 * self.u)
        pygame.draw.rect(surf, fill, b.rect, border_radius=radius)
        if b.style in ("normal", "quiet"):
            pygame.draw.rect(surf, LINE if b.style == "normal" else BG, b.rect, 2, border_radius=radius)
        size = 60 if large else 46
        sub_size = 40 if large else 30
        lines = self.wrap(b.label, size, b.rect.width - int(30 * self.u))
        if len(lines) > 2:
            size = size * 0.8
            lines = self.wrap(b.label, size, b.rect.width - int(30 * self.u))[:2]
        line_h = int(size * self.u * 1.2)
        block = line_h * len(lines) + (int(sub_size * self.u * 1.3) if b.sub else 0)
        y = b.rect.centery - block // 2
        for line in lines:
            self.text(surf, line, size, ink, (b.rect.centerx, y), "midtop", bold=b.style != "quiet")
            y += line_h
        if b.sub:
            self.text(surf, b.sub, sub_size, sub_ink, (b.rect.centerx, y + int(4 * self.u)), "midtop")

    # ------------------------------------------------------------------ layout helpers

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

    def bottom_row(self, body: pygame.Rect, items: list[tuple[str, tuple | None, str]], large: bool) -> list[Button]:
        """A row of buttons along the bottom of the body: (label, action, style)."""
        h = int((150 if large else 120) * self.u)
        gap = int(24 * self.u)
        n = len(items)
        width = (body.width - gap * (n - 1)) // n
        return [Button(pygame.Rect(body.left + i * (width + gap), body.bottom - h, width, h), label, action,
                       style=style) for i, (label, action, style) in enumerate(items)]

    def pager(self, page: int, pages: int) -> list[tuple[str, tuple | None, str]]:
        if pages <= 1:
            return []
        return [("上一页", ("page", -1) if page > 0 else None, "normal"),
                (f"第 {page + 1}/{pages} 页", None, "quiet"),
                ("下一页", ("page", 1) if page < pages - 1 else None, "normal")]

    def title(self, surf, s: str, body: pygame.Rect, large: bool, color=INK) -> int:
        return self.paragraph(surf, s, 66 if large else 54, color, body) + int(20 * self.u)

    # ------------------------------------------------------------------ screens

    def _start(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        large = app.large
        if not app.online:
            y = body.centery - int(200 * self.u)
            y = self.paragraph(surf, app.hall_display_name, 60 if large else 50, INK,
                               pygame.Rect(body.left, y, body.width, body.height)) + int(30 * self.u)
            self.text(surf, OFFLINE_TEXT, 80, RED, (body.centerx, y), "midtop", bold=True)
            y += int(130 * self.u)
            self.paragraph(surf, "本机与排队系统的连接中断，恢复后自动继续", 44 if large else 40, MUTED,
                           pygame.Rect(body.left, y, body.width, body.height))
            return []
        y = self.title(surf, "请选择办理事项", body, large)
        if app.green:
            y = self.paragraph(surf, "绿色通道已开启：下一张号为优先号", 44, GREEN,
                               pygame.Rect(body.left, y, body.width, 60)) + int(10 * self.u)
        actions = [("预约签到", ("keypad", "appointment"), "normal"),
                   ("标准字体" if large else "大字模式", ("large",), "green" if not large else "normal")]
        if self.staff_button:
            actions.append(("工作人员", ("keypad", "pin"), "quiet"))
        row = self.bottom_row(body, actions, large)
        cats = app.menu.categories
        cols = 2 if self.portrait else (2 if large else 3)
        height = int((240 if large else 190) * self.u)
        pager_h = int((150 if large else 120) * self.u) + int(24 * self.u)
        area = pygame.Rect(body.left, y, body.width, row[0].rect.top - y - int(30 * self.u))
        rects, page, pages = self.grid(area, len(cats), cols, height, app.page)
        if pages > 1:
            area.height -= pager_h
            rects, page, pages = self.grid(area, len(cats), cols, height, app.page)
        out = []
        for rect, cat in zip(rects, cats[page * self._per_page(area, cols, height):], strict=False):
            items = app.menu.in_category(cat)
            waiting = sum(i.get("waiting", 0) for i in items)
            out.append(Button(rect, cat, ("category", cat), sub=f"{len(items)} 项 · 等候 {waiting} 人"))
        if pages > 1:
            out += self.bottom_row(pygame.Rect(body.left, body.top, body.width, area.bottom + pager_h - body.top),
                                   self.pager(page, pages), large)
        return out + row

    def _per_page(self, area: pygame.Rect, cols: int, height: int) -> int:
        gap = int(24 * self.u)
        return max(1, (area.height + gap) // (height + gap)) * cols

    def _matters(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        large = app.large
        y = self.title(surf, app.category, body, large, BLUE)
        items = app.menu.in_category(app.category)
        cols = 1 if self.portrait else 2
        height = int((220 if large else 170) * self.u)
        probe = pygame.Rect(body.left, y, body.width, body.bottom - y - int((150 if large else 120) * self.u)
                            - int(30 * self.u))
        rects, page, pages = self.grid(probe, len(items), cols, height, app.page)
        per = self._per_page(probe, cols, height)
        out = [Button(rect, m["name"], ("matter", m["code"]), sub=wait_text(m))
               for rect, m in zip(rects, items[page * per:], strict=False)]
        nav = [("返回", ("back",), "normal")] + self.pager(page, pages)
        return out + self.bottom_row(body, nav, large)

    def _confirm(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        large = app.large
        m = app.matter or {}
        y = self.title(surf, m.get("name", ""), body, large, BLUE)
        size = 50 if large else 40
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
        text_rect = pygame.Rect(body.left, y, body.width, body.height)
        for line in lines:
            y = self.paragraph(surf, line, size, INK, text_rect.move(0, y - text_rect.top))
        y += int(20 * self.u)
        action_h = int((150 if large else 120) * self.u)
        confirm_h = int((200 if large else 170) * self.u)
        gap = int(24 * self.u)
        materials = m.get("materials") or []
        box_bottom = body.bottom - action_h - confirm_h - 2 * gap
        if materials and box_bottom - y > 120 * self.u:
            msize = 44 if large else 36
            inner_w = body.width - int(40 * self.u)
            needed = int(size * self.u * 1.35) + int(30 * self.u) + sum(
                len(self.wrap(f"{i}. {m}", msize, inner_w)) for i, m in enumerate(materials, 1)
            ) * int(msize * self.u * 1.35) + int(20 * self.u)
            box = pygame.Rect(body.left, y, body.width, min(box_bottom - y, needed))
            pygame.draw.rect(surf, WHITE, box, border_radius=int(14 * self.u))
            pygame.draw.rect(surf, LINE, box, 2, border_radius=int(14 * self.u))
            inner = box.inflate(-int(40 * self.u), -int(30 * self.u))
            iy = self.paragraph(surf, "请备齐以下材料（一次告知）：", size, BLUE, inner, center=False)
            for i, item in enumerate(materials, 1):
                if iy + msize * self.u * 1.35 > inner.bottom:
                    self.text(surf, "……完整清单见号票", msize, MUTED, (inner.left, iy), "topleft")
                    break
                iy = self.paragraph(surf, f"{i}. {item}", msize, INK,
                                    pygame.Rect(inner.left, iy, inner.width, inner.bottom - iy), center=False)
        label = "确认签到取号" if app.appointment else "确认取号"
        style = "green" if (app.green or app.appointment) else "primary"
        confirm = Button(pygame.Rect(body.left, body.bottom - action_h - gap - confirm_h, body.width, confirm_h),
                         label, ("confirm",), style=style)
        actions: list[tuple[str, tuple | None, str]] = [("返回", ("back",), "normal")]
        if not (app.appointment or app.green or app.id_number):
            actions.append(("老年人凭身份证优先", ("keypad", "id"), "normal"))
        return [confirm, *self.bottom_row(body, actions, large)]

    def _keypad(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        large = app.large
        pad = app.keypad
        assert pad is not None
        y = self.title(surf, KEYPAD_TITLES[pad.purpose], body, large)
        shown = "●" * len(pad.entry) if pad.purpose == "pin" else pad.entry
        entry = pygame.Rect(body.left, y, body.width, int(130 * self.u))
        pygame.draw.rect(surf, WHITE, entry, border_radius=int(14 * self.u))
        pygame.draw.rect(surf, BLUE, entry, 3, border_radius=int(14 * self.u))
        if shown:
            self.text(surf, shown, 70, INK, entry.center, bold=True)
        action_h = int((150 if large else 120) * self.u)
        gap = int(24 * self.u)
        side = min(body.width, int(900 * self.u))
        area = pygame.Rect(body.centerx - side // 2, entry.bottom + gap * 2, side,
                           body.bottom - action_h - gap * 2 - entry.bottom - gap * 2)
        key_h = min(int(200 * self.u), (area.height - 3 * gap) // 4)
        rects, _, _ = self.grid(pygame.Rect(area.left, area.top, area.width, 4 * key_h + 3 * gap), 12, 3, key_h, 0)
        labels = [*"123456789", "X" if pad.purpose == "id" else "清空", "0", "删除"]
        out = []
        for rect, label in zip(rects, labels, strict=True):
            action = ("delete",) if label == "删除" else ("clear",) if label == "清空" else ("key", label)
            out.append(Button(rect, label, action))
        ready = bool(pad.entry) and (pad.purpose != "id" or len(pad.entry) == 18)
        return out + self.bottom_row(body, [("返回", ("back",), "normal"),
                                            ("确定", ("enter",) if ready else None, "primary")], large)

    def _appointments(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        y = self.title(surf, "请选择要签到的预约", body, app.large)
        area = pygame.Rect(body.left, y, body.width, body.bottom - y - int(160 * self.u))
        rects, _, _ = self.grid(area, len(app.appointments), 1, int(170 * self.u), 0)
        out = [Button(r, a.get("service_name") or a["service"], ("appointment", a["code"]),
                      sub=f"预约时段 {a.get('slot_start', '')[11:16]}")
               for r, a in zip(rects, app.appointments, strict=False)]
        return out + self.bottom_row(body, [("返回首页", ("home",), "normal")], app.large)

    def _ticket(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        issued = app.issued
        assert issued is not None
        t = issued.ticket
        u = self.u
        done_h = int((150 if app.large else 120) * u)
        content = pygame.Rect(body.left, body.top, body.width, body.height - done_h - int(30 * u))
        if self.portrait:
            info, side_area = content, None
        else:  # landscape: the QR code beside the number, where there is height for it
            info = pygame.Rect(content.left, content.top, content.width * 3 // 5, content.height)
            side_area = pygame.Rect(info.right, content.top, content.width - info.width, content.height)
        y = info.top
        self.text(surf, "您的号码", 48, MUTED, (info.centerx, y), "midtop")
        y += int(70 * u)
        r = self.text(surf, t["code"], 240, RED if t.get("priority") == "green" else BLUE, (info.centerx, y),
                      "midtop", bold=True)
        y = r.bottom + int(10 * u)
        y = self.paragraph(surf, t["matter"]["name"], 50, INK, pygame.Rect(info.left, y, info.width, 200))
        minutes = t.get("estimated_wait_minutes")
        line = f"前面还有 {t.get('waiting_ahead', 0)} 人等候"
        if minutes is not None:
            line += f"，预计等待约 {int(round(minutes))} 分钟"
        y = self.paragraph(surf, line, 44, INK, pygame.Rect(info.left, y, info.width, 200)) + int(20 * u)
        if issued.printed is None:
            self.text(surf, "正在打印号票…", 50, MUTED, (info.centerx, y), "midtop")
            return []
        if issued.printed:
            y = self.paragraph(surf, "请取走下方号票，留意叫号", 54, GREEN, pygame.Rect(info.left, y, info.width, 200))
            limit, caption, color = int(300 * u), 34, MUTED
        else:
            y = self.paragraph(surf, issued.note, 52, RED, pygame.Rect(info.left, y, info.width, 300))
            limit, caption, color = int(560 * u), 38, INK
        area = side_area or pygame.Rect(content.left, y + int(10 * u), content.width, content.bottom - y)
        side = min(area.width, area.height - int(70 * u), limit)
        if side > 100 * u:
            top = area.top if side_area is None else area.centery - (side + int(60 * u)) // 2
            self.qr(surf, issued.link, pygame.Rect(area.centerx - side // 2, top, side, side))
            self.text(surf, "扫码查看排队进度", caption, color, (area.centerx, top + side + int(10 * u)), "midtop")
        return self.bottom_row(body, [("完成", ("done",), "primary")], app.large)

    def _message(self, surf, app: KioskApp, body: pygame.Rect) -> list[Button]:
        color = RED if app.message == OFFLINE_TEXT else INK
        lines = self.wrap(app.message, 64, body.width)
        y = body.centery - len(lines) * int(64 * self.u * 1.35) // 2 - int(80 * self.u)
        self.paragraph(surf, app.message, 64, color, pygame.Rect(body.left, y, body.width, body.height))
        return self.bottom_row(body, [("返回首页", ("home",), "primary")], app.large)

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
