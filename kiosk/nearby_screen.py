"""附近大厅 at the kiosk: every centre of the county with its queue now — for the matter on the
confirm screen when there is one (the same code at every level, 三级四同), else per centre — so a
citizen can choose where to go; "数据更新于 HH:MM" says how fresh the hall's copy is, and a stale
copy (the link to the county down) says so in red rather than passing for today's figures."""

from __future__ import annotations

from datetime import datetime

import pygame

from kiosk.screens import BLUE, GREEN, INK, LINE, MUTED, RED, WHITE, Button, Screens


def _hhmm(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M") if iso else "—"


def centre_line(hall: dict, matter: dict | None) -> tuple[str, tuple]:
    """What one centre's card says under its name, and in which colour."""
    if hall["link"] == "never":
        return "暂无数据", MUTED
    if matter is not None:
        row = next((s for s in hall["services"] if s["code"] == matter["code"]), None)
        if row is None or not row["waiting"]:
            text, color = "该事项现在无人排队", GREEN
        else:
            text = f"该事项在等 {row['waiting']} 人"
            if row.get("estimate_minutes") is not None:
                text += f" · 约 {round(row['estimate_minutes'])} 分钟"
            color = INK
    else:
        text = f"在等 {hall['waiting']} 人 · 开放窗口 {hall['windows_open']} 个"
        color = INK
    if hall["link"] == "offline":
        return f"{text}（该中心网络中断，数据为 {_hhmm(hall.get('as_of'))}）", MUTED
    return text, color


def nearby_screen(s: Screens, surf: pygame.Surface, app, body: pygame.Rect) -> list[Button]:
    data = app.nearby or {"halls": [], "stale": True}
    matter = app.matter
    fresh = f"数据更新于 {_hhmm(data.get('as_of'))}"
    if data.get("stale"):
        note, color = f"与县网络连接中断，{fresh}，仅供参考", RED
    else:
        note, color = fresh, MUTED
    halls = sorted(data["halls"], key=lambda h: (not h.get("own"), h["code"]))  # this centre first
    gap, pad = s.s(16), s.s(20)
    inner_w = body.width - 2 * pad
    cards = []
    for hall in halls:
        name = hall["name"] + ("（本中心）" if hall.get("own") else "")
        line, ink = centre_line(hall, matter)
        name_rows, line_rows = s.wrap(name, 44, inner_w, True), s.wrap(line, 36, inner_w)
        h = pad * 2 + len(name_rows) * int(s.px(44) * 1.3) + len(line_rows) * int(s.px(36) * 1.35)
        cards.append((hall, name_rows, line, ink, h))
    lead = [("返回", ("back",), "normal"), ("返回首页", ("home",), "primary")]
    # A 50-character matter in the title leaves room for the note, the tallest card and the pager.
    room = s.lines_height(note, 36, body.width) + s.s(10) + max([0, *(c[4] for c in cards)]) \
        + s.pager_height(lead) + s.s(30)
    y = s.title(surf, f"附近大厅 · {matter['name']}" if matter else "附近大厅 · 现在去哪里办", body, BLUE, room=room)
    y = s.paragraph(surf, note, 36, color, pygame.Rect(body.left, y, body.width, 200)) + s.s(10)

    def split(bottom: int) -> list[list[tuple]]:
        """Cards per page, filled top to bottom (a card taller than the room gets a page alone)."""
        pages: list[list[tuple]] = [[]]
        cy = y
        for card in cards:
            if pages[-1] and cy + card[4] > bottom:
                pages.append([])
                cy = y
            pages[-1].append(card)
            cy += card[4] + gap
        return pages

    pages = split(body.bottom - s.s(120) - s.s(30))
    if len(pages) > 1:  # 大字模式 and landscape leave room for few centres: page through them all
        pages = split(body.bottom - s.pager_height(lead) - s.s(30))
    page = min(app.list_page, len(pages) - 1)
    for hall, name_rows, line, ink, h in pages[page]:
        card = pygame.Rect(body.left, y, body.width, h)
        pygame.draw.rect(surf, WHITE, card, border_radius=s.s(14))
        pygame.draw.rect(surf, BLUE if hall.get("own") else LINE, card, 2, border_radius=s.s(14))
        ty = card.top + pad
        for row in name_rows:
            ty = s.text(surf, row, 44, INK, (card.left + pad, ty), "topleft", bold=True).top + int(s.px(44) * 1.3)
        s.paragraph(surf, line, 36, ink, pygame.Rect(card.left + pad, ty, inner_w, 200), center=False)
        y = card.bottom + gap
    if not halls:
        s.paragraph(surf, "暂无附近大厅的数据", 44, MUTED, pygame.Rect(body.left, y, body.width, 200))
    return s.pager(surf, body, page, len(pages), lead=lead)
