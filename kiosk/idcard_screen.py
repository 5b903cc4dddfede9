"""The card's own page at the kiosk: 您好 with the masked name, today's tickets, appointments to check in."""

from __future__ import annotations

import pygame

from kiosk.screens import BLUE, GREEN, INK, MUTED, Button, Screens


def citizen_screen(s: Screens, surf: pygame.Surface, app, body: pygame.Rect) -> list[Button]:
    holder = app.card
    y = s.title(surf, f"{holder.masked_name if holder else ''}，您好", body, BLUE)
    out: list[Button] = []
    row_h = s.s(140)  # sizes scale with 大字模式 in Screens
    gap = s.s(20)
    bottom = body.bottom - s.s(120) - s.s(30)
    appointments = holder.appointments if holder else []
    if appointments:
        y = s.paragraph(surf, "您今天的预约（点按签到取号）：", 44, INK, pygame.Rect(body.left, y, body.width, 60))
        for a in appointments:
            if y + row_h > bottom:
                break
            out.append(Button(pygame.Rect(body.left, y, body.width, row_h), f"预约签到：{a.get('service_name') or a['service']}",
                              ("appointment", a["code"]), sub=f"预约时段 {a.get('slot_start', '')[11:16]}", style="green"))
            y += row_h + gap
    tickets = holder.tickets if holder else []
    y = s.paragraph(surf, "您今天的号：" if tickets else "您今天还没有取号", 44, INK,
                    pygame.Rect(body.left, y, body.width, 60)) + int(10 * s.u)
    for t in tickets:
        if y + int(60 * s.u) > bottom:
            s.text(surf, "……", 40, MUTED, (body.left, y), "topleft")
            break
        line = f"{t['code']}  {t['matter']['name']}  {t.get('state_name', '')}"
        if t.get("position"):
            line += f"，前面 {t['position']['ahead']} 人"
        elif t.get("window"):
            line += f"，请到{t['window']['name']}"
        y = s.paragraph(surf, line, 40, GREEN if t.get("window") else INK,
                        pygame.Rect(body.left, y, body.width, 200), center=False)
    return out + s.bottom_row(body, [("返回首页", ("home",), "normal"), ("取号", ("card_menu",), "primary")])
