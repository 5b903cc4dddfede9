"""The card's own page at the kiosk: 您好 with the masked name, today's tickets, appointments to check in.

Paged (app.list_page) like the kiosk's other lists: a citizen with several appointments and tickets
of 50-character matters in 大字模式 sees every one at its full size, none under the buttons."""

from __future__ import annotations

import pygame

from kiosk.screens import BLUE, GREEN, INK, Button, Screens


def citizen_screen(s: Screens, surf: pygame.Surface, app, body: pygame.Rect) -> list[Button]:
    holder = app.card
    y = s.title(surf, f"{holder.masked_name if holder else ''}，您好", body, BLUE)
    gap = s.s(20)
    appointments = holder.appointments if holder else []
    tickets = holder.tickets if holder else []
    heads = {"appointment": "您今天的预约（点按签到取号）：", "ticket": "您今天的号：" if tickets else "您今天还没有取号"}
    head_h = {k: s.lines_height(v, 44, body.width) + int(10 * s.u) for k, v in heads.items()}
    blocks: list[tuple[str, object, int]] = []  # (section, what, height)
    for a in appointments:
        label = f"预约签到：{a.get('service_name') or a['service']}"
        blocks.append(("appointment", (label, a), max(s.s(140), s.label_height(label, body.width)) + gap))
    for t in tickets:
        line = f"{t['code']}  {t['matter']['name']}  {t.get('state_name', '')}"
        if t.get("position"):
            line += f"，前面 {t['position']['ahead']} 人"
        elif t.get("window"):
            line += f"，请到{t['window']['name']}"
        blocks.append(("ticket", (line, t), s.lines_height(line, 40, body.width)))
    if not tickets:
        blocks.append(("ticket", None, 0))  # "您今天还没有取号" alone
    lead = [("返回首页", ("home",), "normal"), ("取号", ("card_menu",), "primary")]

    def split(bottom: int) -> list[list[tuple]]:
        """Blocks per page, each section's heading before its first block on a page."""
        pages: list[list[tuple]] = [[]]
        cy, section = y, None
        for block in blocks:
            need = block[2] + (head_h[block[0]] if block[0] != section else 0)
            if pages[-1] and cy + need > bottom:
                pages.append([])
                cy, section = y, None
                need = block[2] + head_h[block[0]]
            pages[-1].append(block)
            cy += need
            section = block[0]
        return pages

    pages = split(body.bottom - s.s(120) - s.s(30))
    if len(pages) > 1:
        pages = split(body.bottom - s.pager_height(lead) - s.s(30))
    page = min(app.list_page, len(pages) - 1)
    out: list[Button] = []
    section = None
    for kind, what, h in pages[page]:
        if kind != section:
            y = s.paragraph(surf, heads[kind], 44, INK, pygame.Rect(body.left, y, body.width, 60)) + int(10 * s.u)
            section = kind
        if what is None:
            continue
        if kind == "appointment":
            label, a = what
            out.append(Button(pygame.Rect(body.left, y, body.width, h - gap), label, ("appointment", a["code"]),
                              sub=f"预约时段 {a.get('slot_start', '')[11:16]}", style="green"))
            y += h
        else:
            line, t = what
            y = s.paragraph(surf, line, 40, GREEN if t.get("window") else INK,
                            pygame.Rect(body.left, y, body.width, h), center=False)
    return out + s.pager(surf, body, page, len(pages), lead=lead)
